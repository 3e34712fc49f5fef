// The MP4 container writer of the record module: fragmented MP4 as it goes, faststart on close.
#include "core/rtmp_core.h"
#include "hls/rtmp_fmp4.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_record.h"

#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct rtmp_record_mp4_t {
    rtmp_fmp4_t mx;
    rtmp_recorder_t *r;
    bool told_video, told_audio; // a track MP4 cannot hold was logged
};

// The muxer's bytes go through the recorder's buffer: a fragment is on disk by the next flush.
static rtmp_int_t rtmp_record_mp4_output(void *data, const u_char *p, size_t len)
{
    return rtmp_record_put(static_cast<rtmp_recorder_t *>(data), p, len);
}

// What the fragment being gathered will add to the file, at most: its media, a moof with one
// trun entry per sample and the boxes around them, the init segment when not yet written.
static void rtmp_record_mp4_pending(rtmp_record_mp4_t *x)
{
    const rtmp_fmp4_t *mx = &x->mx;
    uint64_t n = (uint64_t)mx->vt.n + mx->at.n;
    uint64_t p = mx->vt.len + mx->at.len + 16 * (n + 1) + 256;
    if (!mx->init_written) {
        p += 2048 + mx->record_len + mx->asc_len;
    }
    x->r->pending = p;
}

static void rtmp_record_mp4_unsupported(rtmp_recorder_t *r, bool video, rtmp_codec_id codec)
{
    rtmp_record_mp4_t *x = static_cast<rtmp_record_mp4_t *>(r->writer_ctx);
    bool *told = video ? &x->told_video : &x->told_audio;
    if (*told) {
        return;
    }
    *told = true;
    rtmp_log_error(RTMP_LOG_WARN, r->log, 0,
                   "record \"%s\": %s codec %s cannot go into MP4 (H.264, H.265 and AAC can); "
                   "\"%s\" is recorded without %s",
                   r->conf->name.data, video ? "video" : "audio", rtmp_codec_name(codec), r->path,
                   video ? "video" : "audio");
}

static rtmp_int_t rtmp_record_mp4_open(rtmp_recorder_t *r)
{
    auto *x = static_cast<rtmp_record_mp4_t *>(rtmp_calloc(sizeof(rtmp_record_mp4_t)));
    r->writer_ctx = x;
    x->r = r;
    rtmp_fmp4_init(&x->mx, rtmp_record_mp4_output, r, r->conf->fragment);
    x->mx.keep_index = r->conf->faststart;
    rtmp_record_mp4_pending(x);
    return RTMP_OK;
}

// A sequence header: configures its track, or tells the recorder that this file cannot take
// it (RTMP_DECLINED: a different config for a track already set up, or a track the init
// segment on disk does not have) and a new file must begin.
static rtmp_int_t rtmp_record_mp4_header(rtmp_recorder_t *r, rtmp_record_mp4_t *x, bool video,
                                         rtmp_codec_id codec, std::span<const u_char> d)
{
    rtmp_fmp4_t *mx = &x->mx;
    bool set = video ? mx->video != rtmp_fmp4_video::none : mx->audio;
    if (video ? codec != rtmp_codec_id::avc && codec != rtmp_codec_id::hevc
              : codec != rtmp_codec_id::aac) {
        if (set) {
            return RTMP_DECLINED; // the codec changed to one we cannot keep: a new file says so
        }
        rtmp_record_mp4_unsupported(r, video, codec);
        return RTMP_OK;
    }
    if (set) {
        bool same =
            video ? (mx->video == (codec == rtmp_codec_id::avc ? rtmp_fmp4_video::avc
                                                               : rtmp_fmp4_video::hevc) &&
                     d.size() == mx->record_len && memcmp(d.data(), mx->record, d.size()) == 0)
                  : d.size() == mx->asc_len && memcmp(d.data(), mx->asc, d.size()) == 0;
        return same ? RTMP_OK : RTMP_DECLINED; // encoders repeat an unchanged one
    }
    if (mx->init_written) {
        return RTMP_DECLINED; // a track the file's moov does not have
    }
    rtmp_int_t rc =
        video
            ? rtmp_fmp4_set_video_config(
                  mx, codec == rtmp_codec_id::avc ? rtmp_fmp4_video::avc : rtmp_fmp4_video::hevc, d)
            : rtmp_fmp4_set_audio_config(mx, d);
    if (rc != RTMP_OK) {
        rtmp_log_error(RTMP_LOG_WARN, r->log, 0,
                       "record \"%s\": malformed or oversized %s sequence header; \"%s\" is "
                       "recorded without %s",
                       r->conf->name.data, video ? "video" : "audio", r->path,
                       video ? "video" : "audio");
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_record_mp4_frame(rtmp_recorder_t *r, const rtmp_record_frame_t *f)
{
    auto *x = static_cast<rtmp_record_mp4_t *>(r->writer_ctx);
    rtmp_fmp4_t *mx = &x->mx;
    bool video = f->type == RTMP_MSG_VIDEO;
    rtmp_int_t rc = RTMP_OK;
    if (video) {
        rtmp_codec_video_t v;
        if (rtmp_codec_parse_video(f->payload, &v) != RTMP_OK || v.multitrack) {
            return RTMP_OK;
        }
        std::span<const u_char> d = f->payload.subspan(v.header_len, v.data_len);
        if (v.is_sequence_header) {
            rc = rtmp_record_mp4_header(r, x, true, v.codec, d);
        } else if (v.is_end_of_sequence || v.is_command || v.is_metadata || d.empty()) {
            return RTMP_OK;
        } else if (mx->video == rtmp_fmp4_video::none) {
            if (v.codec != rtmp_codec_id::avc && v.codec != rtmp_codec_id::hevc) {
                rtmp_record_mp4_unsupported(r, true, v.codec);
            }
            return RTMP_OK; // no config yet: nothing a reader could decode
        } else {
            rc = rtmp_fmp4_video_frame(mx, f->ts, v.cts, v.is_key_frame, d);
        }
    } else {
        rtmp_codec_audio_t a;
        if (rtmp_codec_parse_audio(f->payload, &a) != RTMP_OK || a.multitrack) {
            return RTMP_OK;
        }
        std::span<const u_char> d = f->payload.subspan(a.header_len, a.data_len);
        if (a.is_sequence_header) {
            rc = rtmp_record_mp4_header(r, x, false, a.codec, d);
        } else if (a.is_end_of_sequence || d.empty()) {
            return RTMP_OK;
        } else if (!mx->audio) {
            if (a.codec != rtmp_codec_id::aac) {
                rtmp_record_mp4_unsupported(r, false, a.codec);
            }
            return RTMP_OK;
        } else {
            rc = rtmp_fmp4_audio_frame(mx, f->ts, d);
        }
    }
    if (rc == RTMP_ERROR && r->err == 0) {
        // the muxer refused the frame itself (over RTMP_FMP4_MAX_BYTES): skipped, not fatal
        rc = RTMP_OK;
    }
    rtmp_record_mp4_pending(x);
    return rc;
}

// ---- faststart --------------------------------------------------------------------------------

// The finalised copy: its file and where it has come to.
struct rtmp_record_mp4_copy_t {
    int fd;
    int err;
};

static rtmp_int_t rtmp_record_mp4_copy_out(void *data, const u_char *p, size_t len)
{
    auto *c = static_cast<rtmp_record_mp4_copy_t *>(data);
    while (len > 0) {
        ssize_t n = write(c->fd, p, len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            c->err = n == 0 ? ENOSPC : errno;
            return RTMP_ERROR;
        }
        p += n;
        len -= (size_t)n;
    }
    return RTMP_OK;
}

// Copies `len` bytes of `from` at `off` to the end of `to`: in the kernel where it can
// (copy_file_range: no trip through user space, a reflink on filesystems that share blocks).
static int rtmp_record_mp4_copy_range(int from, uint64_t off, int to, uint64_t len)
{
    static u_char buf[256 * 1024];
    bool kernel = true;
    while (len > 0) {
        size_t want = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n;
        if (kernel) {
            loff_t o = (loff_t)off;
            n = copy_file_range(from, &o, to, nullptr, want, 0);
            if (n == -1 &&
                (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
                kernel = false;
                continue;
            }
        } else {
            n = pread(from, buf, want < sizeof(buf) ? want : sizeof(buf), (off_t)off);
            if (n > 0) {
                rtmp_record_mp4_copy_t c = {to, 0};
                if (rtmp_record_mp4_copy_out(&c, buf, (size_t)n) != RTMP_OK) {
                    return c.err;
                }
            }
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? EIO : errno; // 0: the fragmented file is shorter than its index
        }
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

// Writes r->path again as a plain MP4 with the moov first, from the fragmented file now on
// disk, into PATH.tmp, and renames it over PATH: at every moment PATH is a whole file, the
// fragmented one until the rename. The media is copied file to file, never held.
static void rtmp_record_mp4_finalize(rtmp_recorder_t *r, rtmp_record_mp4_t *x)
{
    rtmp_fmp4_t *mx = &x->mx;
    const char *why = nullptr;
    int err = 0;
    char tmp[PATH_MAX];
    if (mx->index_full) {
        why = "too many samples for one moov";
    } else if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->path) >= (int)sizeof(tmp)) {
        why = "path too long";
        err = ENAMETOOLONG;
    }
    if (why) {
        rtmp_log_error(RTMP_LOG_WARN, r->log, err,
                       "record \"%s\": \"%s\" kept fragmented, not made faststart: %s",
                       r->conf->name.data, r->path, why);
        return;
    }
    // the copy holds the loop: the log says for how long, for whoever sizes the files
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int src = open(r->path, O_RDONLY | O_CLOEXEC);
    rtmp_record_mp4_copy_t c = {-1, 0};
    if (src == -1) {
        c.err = errno;
    } else {
        c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c.fd == -1) {
            c.err = errno;
        }
    }
    uint64_t size = 0;
    if (c.fd != -1) {
        rtmp_int_t rc = rtmp_fmp4_finalize(mx, rtmp_record_mp4_copy_out, &c);
        if (rc == RTMP_OK) {
            off_t head = lseek(c.fd, 0, SEEK_CUR);
            size = head == (off_t)-1 ? 0 : (uint64_t)head;
            for (uint32_t i = 0; i < mx->nfrags && c.err == 0; i++) {
                const rtmp_fmp4_fragment_t &f = mx->frags[i];
                uint64_t len = (uint64_t)f.video_len + f.audio_len;
                c.err = rtmp_record_mp4_copy_range(src, f.offset, c.fd, len);
                size += len;
            }
        } else if (c.err == 0) {
            c.err = EINVAL; // nothing was recorded
        }
        if (close(c.fd) == -1 && c.err == 0) {
            c.err = errno;
        }
        if (c.err == 0 && rename(tmp, r->path) == -1) {
            c.err = errno;
        }
        if (c.err) {
            (void)unlink(tmp);
        }
    }
    if (src != -1) {
        (void)close(src);
    }
    if (c.err) {
        rtmp_log_error(RTMP_LOG_WARN, r->log, c.err,
                       "record \"%s\": \"%s\" kept fragmented, making it faststart failed",
                       r->conf->name.data, r->path);
        return;
    }
    r->offset = size; // what the done chain reports is the file now at the path
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    rtmp_log_error(RTMP_LOG_INFO, r->log, 0,
                   "record \"%s\": \"%s\" made faststart (%llu bytes in %.1fms)",
                   r->conf->name.data, r->path, (unsigned long long)size, ms);
}

static rtmp_int_t rtmp_record_mp4_close(rtmp_recorder_t *r)
{
    auto *x = static_cast<rtmp_record_mp4_t *>(r->writer_ctx);
    if (x == nullptr) {
        return RTMP_OK;
    }
    rtmp_int_t rc = RTMP_OK;
    if (r->fd != -1) {
        rc = rtmp_fmp4_flush(&x->mx);
        // the whole fragmented file on disk (a rewrite of nothing flushes the buffer): the
        // faststart copy reads it back
        if (rc == RTMP_OK) {
            rc = rtmp_record_rewrite(r, 0, nullptr, 0);
        }
        if (rc == RTMP_OK && r->conf->faststart && x->mx.fragments > 0) {
            rtmp_record_mp4_finalize(r, x);
        }
        // no track MP4 can hold came (logged): no empty file is left behind
        r->removed = rc == RTMP_OK && r->offset == 0 && unlink(r->path) == 0;
    }
    r->pending = 0;
    rtmp_fmp4_free(&x->mx);
    rtmp_free(x);
    r->writer_ctx = nullptr;
    return rc;
}

const rtmp_record_writer_t rtmp_record_mp4_writer = {
    .name = "mp4",
    .open = rtmp_record_mp4_open,
    .frame = rtmp_record_mp4_frame,
    .close = rtmp_record_mp4_close,
    .sync = nullptr,
    .append = false,
};
