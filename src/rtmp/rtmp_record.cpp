// Record: each application's recorders write the streams published in this worker to files.
#include "rtmp/rtmp_record.h"
#include "core/rtmp_time.h"
#include "event/rtmp_event.h"
#include "os/rtmp_path_check.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_relay.h"

#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// The recorders of one published stream, in its st->ctx slot.
struct rtmp_record_stream_t {
    rtmp_record_stream_t *next; // every recording stream of this worker
    rtmp_session_t *s;
    rtmp_stream_t *st;
    rtmp_record_info_t info;
    u_char *vheader; // the latest sequence headers, written at the start of every file
    size_t vheader_len;
    u_char *aheader;
    size_t aheader_len;
    size_t n;
    rtmp_recorder_t recs[];
};

static rtmp_record_stream_t *rtmp_record_streams;

static rtmp_publish_pt rtmp_record_next_publish;
static rtmp_close_stream_pt rtmp_record_next_close_stream;
static rtmp_media_pt rtmp_record_next_media;

static void rtmp_record_done_end(const rtmp_record_done_t *) {}
rtmp_record_done_pt rtmp_record_done_handler = rtmp_record_done_end;

static rtmp_record_app_conf_t *rtmp_record_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_record_app_conf_t *>(app->app_conf[rtmp_record_module.index]);
}

// ---- names ------------------------------------------------------------------------------------

// A name made safe for one path component: '/' and control characters become '_', and so does
// a leading '.', so "..", "." and hidden files cannot be made from it; '%' is doubled for
// strftime.
static bool rtmp_record_put_name(std::string_view v, char *out, size_t len, size_t *n)
{
    for (size_t i = 0; i < v.size(); i++) {
        char ch = v[i];
        if (ch == '/' || ch == '\\' || rtmp_is_control((u_char)ch) || (i == 0 && ch == '.')) {
            ch = '_';
        }
        size_t need = ch == '%' ? 2 : 1;
        if (*n + need >= len) {
            return false;
        }
        out[(*n)++] = ch;
        if (ch == '%') {
            out[(*n)++] = '%';
        }
    }
    return true;
}

bool rtmp_record_expand(std::string_view tmpl, std::string_view app, std::string_view name,
                        time_t t, char *out, size_t len)
{
    char fmt[PATH_MAX];
    size_t n = 0;
    while (!tmpl.empty()) {
        if (tmpl.starts_with("$app") || tmpl.starts_with("${app}")) {
            size_t skip = tmpl[1] == '{' ? 6 : 4;
            if (!rtmp_record_put_name(app, fmt, sizeof(fmt), &n)) {
                return false;
            }
            tmpl = tmpl.substr(skip);
            continue;
        }
        if (tmpl.starts_with("$name") || tmpl.starts_with("${name}")) {
            size_t skip = tmpl[1] == '{' ? 7 : 5;
            if (!rtmp_record_put_name(name, fmt, sizeof(fmt), &n)) {
                return false;
            }
            tmpl = tmpl.substr(skip);
            continue;
        }
        if (n + 1 >= sizeof(fmt)) {
            return false;
        }
        fmt[n++] = tmpl[0];
        tmpl = tmpl.substr(1);
    }
    fmt[n] = '\0';
    struct tm tm;
    if (localtime_r(&t, &tm) == nullptr || len == 0) {
        return false;
    }
    size_t r = strftime(out, len, fmt, &tm);
    return r > 0; // 0: empty, or did not fit
}

bool rtmp_record_wanted(const rtmp_record_conf_t *rc, std::string_view type, std::string_view args,
                        bool *append)
{
    *append = rc->append;
    if (!(rc->what & RTMP_RECORD_MANUAL)) {
        return true;
    }
    // FMS records a stream published with type "record" (a new file) or "append"
    if (type == "append") {
        *append = true;
        return true;
    }
    if (type == "record") {
        return true;
    }
    bool found;
    std::string_view v = rtmp_query_arg(args, "record", &found);
    if (!found) {
        return false;
    }
    if (v == "on" || v == "1" || v == "yes" || v == "true" || v == "all") {
        return true;
    }
    while (!v.empty()) {
        size_t comma = v.find(',');
        if (v.substr(0, comma) == rc->name.sv()) {
            return true;
        }
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
    return false;
}

// ---- files ------------------------------------------------------------------------------------

static void rtmp_record_flush_handler(rtmp_event_t *ev);

static rtmp_int_t rtmp_record_write_all(rtmp_recorder_t *r, const u_char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(r->fd, p, len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r->err = n == 0 ? ENOSPC : errno;
            return RTMP_ERROR;
        }
        p += n;
        len -= (size_t)n;
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_record_flush(rtmp_recorder_t *r)
{
    if (r->err) {
        return RTMP_ERROR;
    }
    if (r->len == 0) {
        return RTMP_OK;
    }
    rtmp_int_t rc = rtmp_record_write_all(r, r->buf, r->len);
    r->len = 0;
    return rc;
}

rtmp_int_t rtmp_record_put(rtmp_recorder_t *r, const u_char *p, size_t len)
{
    if (r->err || r->fd == -1) {
        return RTMP_ERROR;
    }
    if (r->len + len > r->conf->buffer && rtmp_record_flush(r) != RTMP_OK) {
        return RTMP_ERROR;
    }
    r->offset += len;
    if (len > r->conf->buffer) {
        return rtmp_record_write_all(r, p, len); // larger than the buffer: at once
    }
    memcpy(r->buf + r->len, p, len);
    r->len += len;
    return RTMP_OK;
}

rtmp_int_t rtmp_record_rewrite(rtmp_recorder_t *r, uint64_t offset, const u_char *p, size_t len)
{
    if (r->fd == -1 || rtmp_record_flush(r) != RTMP_OK) {
        return RTMP_ERROR;
    }
    while (len > 0) {
        ssize_t n = pwrite(r->fd, p, len, (off_t)offset);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r->err = n == 0 ? ENOSPC : errno;
            return RTMP_ERROR;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_record_read(rtmp_recorder_t *r, uint64_t offset, u_char *p, size_t len)
{
    if (r->fd == -1) {
        return RTMP_ERROR;
    }
    while (len > 0) {
        ssize_t n = pread(r->fd, p, len, (off_t)offset);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return RTMP_ERROR;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return RTMP_OK;
}

// Creates the directories above `path` that are missing.
static rtmp_int_t rtmp_record_mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        int rc = mkdir(path, 0755);
        int err = errno;
        *p = '/';
        if (rc == -1 && err != EEXIST) {
            errno = err;
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

// The last tag's timestamp of an FLV file that ends with a complete tag; false otherwise.
static bool rtmp_record_flv_end(int fd, uint64_t size, uint32_t *ts)
{
    u_char h[13], t[11];
    if (size < 13 + 15 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h, "FLV", 3) != 0 || pread(fd, t, 4, (off_t)size - 4) != 4) {
        return false;
    }
    uint64_t prev = (uint64_t)t[0] << 24 | (uint64_t)t[1] << 16 | (uint64_t)t[2] << 8 | t[3];
    if (prev < 11 || prev + 4 > size - 13 ||
        pread(fd, t, sizeof(t), (off_t)(size - 4 - prev)) != (ssize_t)sizeof(t)) {
        return false;
    }
    uint64_t data = (uint64_t)t[1] << 16 | (uint64_t)t[2] << 8 | t[3];
    if ((t[0] & 0x1f) != 8 && (t[0] & 0x1f) != 9 && (t[0] & 0x1f) != 18) {
        return false;
    }
    if (data + 11 != prev) {
        return false;
    }
    *ts = (uint32_t)t[7] << 24 | (uint32_t)t[4] << 16 | (uint32_t)t[5] << 8 | t[6];
    return true;
}

// Opens r->path as configured: continued, kept beside (unique) or replaced.
static int rtmp_record_open_file(rtmp_recorder_t *r, uint64_t *size, uint32_t *last)
{
    *size = 0;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (r->append && !r->conf->writer->append) {
        // the publish type "append" with a format that cannot be continued (MP4): a new file,
        // beside an existing one rather than over it
        struct stat sb;
        if (stat(r->path, &sb) == -1 || sb.st_size == 0) {
            return open(r->path, flags | O_TRUNC, 0644);
        }
        rtmp_log_error(RTMP_LOG_WARN, r->log, 0,
                       "record \"%s\": format %s cannot be appended to; recording beside \"%s\"",
                       r->conf->name.data, r->conf->writer->name, r->path);
    } else if (r->append) {
        int fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd == -1) {
            return -1;
        }
        struct stat sb;
        if (fstat(fd, &sb) == -1) {
            close(fd);
            return -1;
        }
        if (sb.st_size == 0) {
            return fd;
        }
        if (rtmp_record_flv_end(fd, (uint64_t)sb.st_size, last) &&
            lseek(fd, 0, SEEK_END) != (off_t)-1) {
            *size = (uint64_t)sb.st_size;
            return fd;
        }
        close(fd);
        // never written over: a file we cannot continue is kept, and this one goes beside it
        rtmp_log_error(RTMP_LOG_WARN, r->log, 0,
                       "record \"%s\": \"%s\" is not an FLV file ending in a whole tag, not "
                       "appended to; recording beside it",
                       r->conf->name.data, r->path);
    } else if (!r->conf->unique && !r->beside) {
        return open(r->path, flags | O_TRUNC, 0644);
    }
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s", r->path);
    char *slash = strrchr(base, '/');
    char *dot = strrchr(base, '.');
    if (dot == nullptr || (slash && dot < slash) || dot == base || (slash && dot == slash + 1)) {
        dot = base + strlen(base);
    }
    std::string_view stem(base, (size_t)(dot - base));
    std::string_view ext(dot);
    for (uint32_t i = 0; i < 10000; i++) {
        if (i == 0) {
            snprintf(r->path, sizeof(r->path), "%s", base);
        } else if (snprintf(r->path, sizeof(r->path), "%.*s-%u%.*s", (int)stem.size(), stem.data(),
                            i, (int)ext.size(), ext.data()) >= (int)sizeof(r->path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(r->path, flags | O_EXCL, 0644);
        if (fd != -1 || errno != EEXIST) {
            return fd;
        }
    }
    errno = EEXIST;
    return -1;
}

static void rtmp_record_done(rtmp_record_stream_t *rs, rtmp_recorder_t *r, uint64_t size,
                             const char *reason, bool no_file = false)
{
    rtmp_record_done_t rd = {};
    rd.no_file = no_file;
    rd.s = rs->s;
    rd.st = rs->st;
    rd.app = rs->s->app->name.sv();
    rd.name = rs->st->name;
    rd.recorder = r->conf->name.sv();
    rd.path = r->path;
    rd.duration = r->frames ? (double)(r->last - r->ts_offset + r->delta) / 1000.0 : 0.0;
    rd.size = size;
    rd.reason = reason;
    rtmp_record_done_handler(&rd);
}

// Ends the file: the writer's last bytes and rewrites, then the descriptor; the done chain.
static void rtmp_record_close(rtmp_record_stream_t *rs, rtmp_recorder_t *r, const char *reason)
{
    if (r->fd == -1) {
        return;
    }
    rtmp_int_t rc = r->conf->writer->close(r);
    if (rc == RTMP_OK) {
        rc = rtmp_record_flush(r);
    }
    char why[160];
    if (rc != RTMP_OK) {
        snprintf(why, sizeof(why), "error: %s", strerror(r->err ? r->err : EIO));
        reason = why;
        r->failed = true;
        rtmp_log_error(RTMP_LOG_ERR, r->log, r->err,
                       "record \"%s\" of \"%s/%s\": writing \"%s\" failed on close; recorder "
                       "stopped",
                       r->conf->name.data, rs->s->app->name.data, rs->st->name, r->path);
    }
    if (close(r->fd) == -1 && rc == RTMP_OK) {
        rtmp_log_error(RTMP_LOG_ERR, r->log, errno, "record \"%s\": close(\"%s\") failed",
                       r->conf->name.data, r->path);
    }
    r->fd = -1;
    rtmp_free(r->buf);
    r->buf = nullptr;
    r->len = 0;
    rtmp_event_del_timer(&r->flush);
    if (r->removed) {
        // no file: nothing to report to on_record_done or exec_record_done either
        r->removed = false;
        rtmp_log_error(RTMP_LOG_WARN, r->log, 0,
                       "record \"%s\" of \"%s/%s\": nothing an %s file can hold came; \"%s\" "
                       "removed",
                       r->conf->name.data, rs->s->app->name.data, rs->st->name,
                       r->conf->writer->name, r->path);
        return;
    }
    rtmp_log_error(RTMP_LOG_INFO, r->log, 0,
                   "record \"%s\" of \"%s/%s\": closed \"%s\" (%s): %.3fs, %llu frames, %llu "
                   "bytes",
                   r->conf->name.data, rs->s->app->name.data, rs->st->name, r->path, reason,
                   r->frames ? (double)(r->last - r->ts_offset + r->delta) / 1000.0 : 0.0,
                   (unsigned long long)r->frames, (unsigned long long)r->offset);
    rtmp_record_done(rs, r, r->offset, reason);
}

// Writing failed (or the file could not be opened): this recorder stops for the rest of the
// publish; the stream and its players go on.
static void rtmp_record_fail(rtmp_record_stream_t *rs, rtmp_recorder_t *r, const char *what,
                             int err)
{
    char reason[160];
    snprintf(reason, sizeof(reason), "error: %s", strerror(err ? err : EIO));
    rtmp_log_error(RTMP_LOG_ERR, r->log, err,
                   "record \"%s\" of \"%s/%s\": %s \"%s\" failed; recorder stopped, the stream "
                   "goes on",
                   r->conf->name.data, rs->s->app->name.data, rs->st->name, what, r->path);
    r->failed = true;
    uint64_t size = 0;
    bool opened = r->fd != -1;
    if (opened) {
        off_t end = lseek(r->fd, 0, SEEK_END);
        size = end == (off_t)-1 ? 0 : (uint64_t)end;
        (void)close(r->fd); // what reached the disk ends at a whole tag or is cut in one
        r->fd = -1;
        if (r->writer_ctx) {
            (void)r->conf->writer->close(r); // frees only: there is no file to patch
        }
    }
    rtmp_free(r->buf);
    r->buf = nullptr;
    r->len = 0;
    rtmp_event_del_timer(&r->flush);
    rtmp_record_done(rs, r, size, reason, !opened);
}

static rtmp_int_t rtmp_record_frame_out(rtmp_recorder_t *r, uint8_t type, uint32_t ts, bool key,
                                        bool header, std::span<const u_char> payload)
{
    // timestamps from 0 in every file; a frame from before the first one (audio that came
    // after the key frame the file starts with) is put at 0
    uint32_t d = ts - r->base;
    uint32_t fts = r->ts_offset + (d > 0x7fffffff ? 0 : d);
    rtmp_record_frame_t f = {type, fts, key, header, payload};
    rtmp_int_t rc = r->conf->writer->frame(r, &f);
    if (rc != RTMP_OK) {
        return rc; // RTMP_DECLINED: this file cannot take the frame, the next one will
    }
    int k = type == RTMP_MSG_VIDEO ? 1 : 0;
    if (!header) {
        if (r->have_prev[k] && fts > r->prev[k] && (k == 1 || !r->video_written)) {
            r->delta = fts - r->prev[k];
        }
        r->prev[k] = fts;
        r->have_prev[k] = true;
        r->frames++;
    }
    if (fts > r->last) {
        r->last = fts;
    }
    if (type == RTMP_MSG_VIDEO) {
        r->video_written = true;
    } else {
        r->audio_written = true;
    }
    return RTMP_OK;
}

// Begins a file with the frame at stream time `ts`: path, descriptor, the writer's start, the
// sequence headers.
static rtmp_int_t rtmp_record_open(rtmp_record_stream_t *rs, rtmp_recorder_t *r, uint32_t ts)
{
    const rtmp_record_conf_t *rc = r->conf;
    r->opened = rtmp_current_msec;
    if (!rtmp_record_expand(rc->path.sv(), rs->s->app->name.sv(), rs->st->name,
                            rtmp_cached_time_sec, r->path, sizeof(r->path))) {
        snprintf(r->path, sizeof(r->path), "%s", rc->path.data);
        rtmp_record_fail(rs, r, "expanding the path", ENAMETOOLONG);
        return RTMP_ERROR;
    }
    uint64_t size = 0;
    uint32_t last = 0;
    int fd = -1;
    if (rtmp_record_mkdirs(r->path) == RTMP_OK) {
        fd = rtmp_record_open_file(r, &size, &last);
    }
    if (fd == -1) {
        r->offset = 0;
        rtmp_record_fail(rs, r, "opening", errno);
        return RTMP_ERROR;
    }
    r->fd = fd;
    r->err = 0;
    r->appending = size > 0;
    r->start = r->offset = size;
    r->pending = 0;
    r->ts_offset = r->appending ? last + 1 : 0;
    r->base = ts;
    r->last = r->ts_offset;
    r->delta = 0;
    r->have_prev[0] = r->have_prev[1] = false;
    r->frames = 0;
    r->audio_written = r->video_written = false;
    r->need_key = true;
    r->buf = static_cast<u_char *>(rtmp_alloc(rc->buffer));
    r->len = 0;
    if (rc->writer->open(r) != RTMP_OK) {
        rtmp_record_fail(rs, r, "writing", r->err);
        return RTMP_ERROR;
    }
    bool video = rc->what & (RTMP_RECORD_VIDEO | RTMP_RECORD_KEYFRAMES);
    if ((video && rs->vheader &&
         rtmp_record_frame_out(r, RTMP_MSG_VIDEO, ts, false, true,
                               {rs->vheader, rs->vheader_len}) != RTMP_OK) ||
        ((rc->what & RTMP_RECORD_AUDIO) && rs->aheader &&
         rtmp_record_frame_out(r, RTMP_MSG_AUDIO, ts, false, true,
                               {rs->aheader, rs->aheader_len}) != RTMP_OK)) {
        rtmp_record_fail(rs, r, "writing", r->err);
        return RTMP_ERROR;
    }
    rtmp_event_add_timer(&r->flush, rc->flush);
    rtmp_log_error(RTMP_LOG_INFO, r->log, 0, "record \"%s\" of \"%s/%s\": %s \"%s\"", rc->name.data,
                   rs->s->app->name.data, rs->st->name,
                   r->appending ? "appending to" : "recording to", r->path);
    return RTMP_OK;
}

static void rtmp_record_flush_handler(rtmp_event_t *ev)
{
    auto *r = static_cast<rtmp_recorder_t *>(ev->data);
    ev->timedout = 0;
    if (r->fd == -1) {
        return;
    }
    if (rtmp_record_flush(r) != RTMP_OK ||
        (r->conf->writer->sync && r->conf->writer->sync(r) != RTMP_OK)) {
        // the recorder sits in its stream's array: find the stream for the log and the chain
        for (rtmp_record_stream_t *rs = rtmp_record_streams; rs; rs = rs->next) {
            if (r >= rs->recs && r < rs->recs + rs->n) {
                rtmp_record_fail(rs, r, "writing", r->err);
                return;
            }
        }
        return;
    }
    rtmp_event_add_timer(ev, r->conf->flush);
}

// ---- frames -----------------------------------------------------------------------------------

// One audio or video message through one recorder.
static void rtmp_record_message(rtmp_record_stream_t *rs, rtmp_recorder_t *r,
                                const rtmp_message_t *m, const rtmp_codec_info_t *info)
{
    const rtmp_record_conf_t *rc = r->conf;
    bool video = m->h.type == RTMP_MSG_VIDEO;
    bool header = info->is_sequence_header;
    bool key = video && info->is_key_frame;
    if (video ? !(rc->what & RTMP_RECORD_VIDEO) &&
                    !((rc->what & RTMP_RECORD_KEYFRAMES) && (key || header))
              : !(rc->what & RTMP_RECORD_AUDIO)) {
        return;
    }
    uint32_t ts = m->h.timestamp;
    // a file starts at a key frame, so that it plays from its first byte; so does a cut
    bool wants_video = rc->what & (RTMP_RECORD_VIDEO | RTMP_RECORD_KEYFRAMES);
    bool cut = !header && (key || !(wants_video && rs->info.has_video));

    if (r->fd == -1) {
        // a file starts with any frame but a video one that is not a key frame (audio before
        // the first key frame is kept); sequence headers are kept by the stream and written
        // when a file opens
        if (header || (video && !key)) {
            return;
        }
        if (r->stopped && (rc->interval == 0 || ts - r->base < rc->interval)) {
            return;
        }
        r->stopped = false;
        if (rtmp_record_open(rs, r, ts) != RTMP_OK) {
            return;
        }
    } else if (cut && rc->interval) {
        uint32_t elapsed = ts - r->base;
        if (elapsed >= rc->interval && elapsed < 0x80000000u) {
            rtmp_record_close(rs, r, "interval");
            if (r->failed || rtmp_record_open(rs, r, ts) != RTMP_OK) {
                return;
            }
        }
    }
    if (video && !header) {
        if (!key && r->need_key) {
            return; // nothing before the file's first key frame could be decoded
        }
        r->need_key = false;
    }
    if (!header && r->frames > 0) {
        // the limits hold for every frame, not only at key frames: the frame beyond one is
        // not written
        uint32_t elapsed = ts - r->base;
        const char *limit = nullptr;
        if (rc->max_size && r->offset + r->pending + m->payload.size() + 15 > rc->max_size) {
            limit = "max_size";
        } else if (rc->max_frames && r->frames >= rc->max_frames) {
            limit = "max_frames";
        } else if (rc->max_duration && elapsed >= rc->max_duration && elapsed < 0x80000000u) {
            limit = "max_duration";
        }
        if (limit) {
            rtmp_record_close(rs, r, limit);
            r->stopped = true;
            return;
        }
    }
    rtmp_int_t frc = rtmp_record_frame_out(r, m->h.type, ts, key, header, m->payload);
    if (frc == RTMP_DECLINED && header) {
        // the codec config changed and the container cannot say so mid-file (MP4): the file
        // ends and the next begins with the new sequence headers, already kept by the stream
        // never over the file just closed, which a path without strftime codes would name
        rtmp_record_close(rs, r, "codec change");
        if (!r->failed) {
            r->beside = true;
            (void)rtmp_record_open(rs, r, ts);
            r->beside = false;
        }
    } else if (frc != RTMP_OK) {
        rtmp_record_fail(rs, r, "writing", r->err);
    }
}

static void rtmp_record_keep(u_char **slot, size_t *len, std::span<const u_char> p)
{
    rtmp_free(*slot);
    *slot = static_cast<u_char *>(rtmp_alloc(p.size() ? p.size() : 1));
    if (!p.empty()) {
        memcpy(*slot, p.data(), p.size());
    }
    *len = p.size();
}

// The publisher's metadata: what goes into each file's onMetaData.
static void rtmp_record_metadata(rtmp_record_stream_t *rs, const rtmp_message_t *m)
{
    rtmp_pool_t *pool = rtmp_pool_create(4096, &rs->s->c->log);
    rtmp_amf_limits_t limits = RTMP_AMF_LIMITS_DEFAULT;
    rtmp_codec_meta_t meta;
    const char *err = nullptr;
    if (rtmp_codec_parse_metadata(pool, m->h.type, m->payload, &limits, &meta, &err) == RTMP_OK &&
        meta.kind != rtmp_codec_data::pass_through) {
        rtmp_record_info_t *in = &rs->info;
        in->width = meta.has & RTMP_CODEC_META_WIDTH ? meta.width : in->width;
        in->height = meta.has & RTMP_CODEC_META_HEIGHT ? meta.height : in->height;
        in->framerate = meta.has & RTMP_CODEC_META_FRAMERATE ? meta.framerate : in->framerate;
        in->videodatarate = meta.videodatarate;
        in->audiodatarate = meta.audiodatarate;
        if (meta.has & RTMP_CODEC_META_VIDEOCODECID) {
            in->has_video = true;
        }
        if (meta.has & RTMP_CODEC_META_AUDIOCODECID) {
            in->has_audio = true;
        }
        double v;
        if (rtmp_amf_get_number(meta.object, "audiosamplerate", &v)) {
            in->audiosamplerate = v;
        }
        bool b;
        if (rtmp_amf_get_bool(meta.object, "stereo", &b)) {
            in->stereo = b;
        }
    }
    rtmp_pool_destroy(pool);
}

static rtmp_int_t rtmp_record_media(rtmp_session_t *s, rtmp_stream_t *st, const rtmp_message_t *m)
{
    auto *rs = static_cast<rtmp_record_stream_t *>(st->ctx[rtmp_record_module.index]);
    if (rs == nullptr) {
        return rtmp_record_next_media(s, st, m);
    }
    rtmp_codec_info_t info = rtmp_codec_classify(m);
    if (info.is_metadata) {
        rtmp_record_metadata(rs, m);
    } else if (info.kind == rtmp_codec_kind::video || info.kind == rtmp_codec_kind::audio) {
        bool video = info.kind == rtmp_codec_kind::video;
        if (info.is_sequence_header) {
            if (video) {
                rtmp_record_keep(&rs->vheader, &rs->vheader_len, m->payload);
                rtmp_codec_video_t v;
                if (rtmp_codec_parse_video(m->payload, &v) == RTMP_OK) {
                    rs->info.videocodecid = v.enhanced ? (double)v.fourcc : (double)v.codec_id;
                }
                rs->info.has_video = true;
            } else {
                rtmp_record_keep(&rs->aheader, &rs->aheader_len, m->payload);
                rtmp_codec_audio_t a;
                if (rtmp_codec_parse_audio(m->payload, &a) == RTMP_OK) {
                    rs->info.audiocodecid = a.enhanced ? (double)a.fourcc : (double)a.sound_format;
                }
                rs->info.has_audio = true;
            }
        } else if (video && rs->info.videocodecid == 0 && !m->payload.empty()) {
            rs->info.videocodecid = m->payload[0] & 0x0f;
            rs->info.has_video = true;
        } else if (!video && rs->info.audiocodecid == 0 && !m->payload.empty()) {
            rs->info.audiocodecid = m->payload[0] >> 4;
            rs->info.has_audio = true;
        }
        if (!info.is_command && !info.is_config && !m->payload.empty()) {
            for (size_t i = 0; i < rs->n; i++) {
                rtmp_recorder_t *r = &rs->recs[i];
                if (r->armed && !r->failed) {
                    rtmp_record_message(rs, r, m, &info);
                }
            }
        }
    }
    return rtmp_record_next_media(s, st, m); // whatever became of the recording
}

// ---- streams ----------------------------------------------------------------------------------

static void rtmp_record_start(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_record_app_conf_t *racf = rtmp_record_app_conf(s->app);
    if (racf->n <= 0) {
        return;
    }
    size_t n = (size_t)racf->n;
    auto *rs = static_cast<rtmp_record_stream_t *>(
        rtmp_calloc(sizeof(rtmp_record_stream_t) + n * sizeof(rtmp_recorder_t)));
    rs->s = s;
    rs->st = st;
    rs->n = n;
    for (size_t i = 0; i < n; i++) {
        rtmp_recorder_t *r = &rs->recs[i];
        r->conf = &racf->recs[i];
        r->info = &rs->info;
        r->log = &s->c->log;
        r->fd = -1;
        r->flush.data = r;
        r->flush.handler = rtmp_record_flush_handler;
        r->flush.log = &s->c->log;
        r->armed = rtmp_record_wanted(r->conf, st->type, st->args, &r->append);
        if (r->armed && (r->conf->what & RTMP_RECORD_MANUAL)) {
            rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                           "record \"%s\" of \"%s/%s\": started by the publisher%s",
                           r->conf->name.data, s->app->name.data, st->name,
                           r->append ? " (append)" : "");
        }
    }
    rs->next = rtmp_record_streams;
    rtmp_record_streams = rs;
    st->ctx[rtmp_record_module.index] = rs;
}

static void rtmp_record_stop(rtmp_stream_t *st)
{
    auto *rs = static_cast<rtmp_record_stream_t *>(st->ctx[rtmp_record_module.index]);
    if (rs == nullptr) {
        return;
    }
    st->ctx[rtmp_record_module.index] = nullptr;
    for (size_t i = 0; i < rs->n; i++) {
        rtmp_record_close(rs, &rs->recs[i], "unpublish");
        rtmp_event_del_timer(&rs->recs[i].flush);
    }
    rtmp_record_stream_t **pp = &rtmp_record_streams;
    while (*pp != rs) {
        pp = &(*pp)->next;
    }
    *pp = rs->next;
    rtmp_free(rs->vheader);
    rtmp_free(rs->aheader);
    rtmp_free(rs);
}

rtmp_int_t rtmp_record_control(rtmp_conf_app_t *app, std::string_view name,
                               std::string_view recorder, bool start)
{
    for (rtmp_record_stream_t *rs = rtmp_record_streams; rs; rs = rs->next) {
        if (rs->s->app != app || name != rs->st->name) {
            continue;
        }
        for (size_t i = 0; i < rs->n; i++) {
            rtmp_recorder_t *r = &rs->recs[i];
            if (r->conf->name.sv() != recorder) {
                continue;
            }
            if (start) {
                r->armed = true;
                r->failed = false;
                r->stopped = false;
            } else {
                rtmp_record_close(rs, r, "stopped");
                r->armed = false;
            }
            return RTMP_OK;
        }
    }
    return RTMP_DECLINED;
}

// Runs before push and live in the publish chain: recorders start once live accepted.
static rtmp_int_t rtmp_record_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_record_next_publish(s, st);
    // only the publishing worker records, for a client's publish or an origin pull; a pull
    // from another worker does not publish through here
    if (rc == RTMP_OK && rtmp_relay_local_source(s) && st->state == rtmp_stream_state::publishing &&
        st->live && st->ctx[rtmp_record_module.index] == nullptr) {
        // a publisher taken over closes later: its files end now, before ours may open the
        // same paths
        for (rtmp_record_stream_t *rs = rtmp_record_streams; rs; rs = rs->next) {
            if (rs->s->app == s->app && strcmp(rs->st->name, st->name) == 0) {
                rtmp_record_stop(rs->st);
                break;
            }
        }
        rtmp_record_start(s, st);
    }
    return rc;
}

static void rtmp_record_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_record_stop(st);
    rtmp_record_next_close_stream(s, st);
}

// ---- configuration ----------------------------------------------------------------------------

static void *rtmp_record_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_record_app_conf_t>(cf->pool);
    c->n = RTMP_CONF_UNSET;
    return c;
}

static const char *rtmp_record_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_record_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_record_app_conf_t *>(child);
    if (c->n == RTMP_CONF_UNSET) {
        c->recs = p->recs;
        c->n = p->n == RTMP_CONF_UNSET ? 0 : p->n;
    }
    return nullptr;
}

// The container writers, by their `format` name; the first is the default.
static const rtmp_record_writer_t *const rtmp_record_writers[] = {
    &rtmp_record_flv_writer,
    &rtmp_record_mp4_writer,
};

// An integer, or a string with a unit through `parse`; -1 when it is neither.
static int64_t rtmp_record_scalar(config_setting_t *s, int64_t (*parse)(std::string_view),
                                  int64_t int_unit)
{
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
        int64_t v = config_setting_get_int64(s);
        return v < 0 ? -1 : v * int_unit;
    }
    if (type == CONFIG_TYPE_STRING && parse) {
        return parse(rtmp_conf_string(s));
    }
    return -1;
}

static int64_t rtmp_record_parse_count(std::string_view s)
{
    return rtmp_atoi(s);
}

// One `what` word into the mask; false when unknown.
static bool rtmp_record_what_word(std::string_view w, unsigned *what)
{
    if (w == "all") {
        *what |= RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO;
    } else if (w == "audio") {
        *what |= RTMP_RECORD_AUDIO;
    } else if (w == "video") {
        *what |= RTMP_RECORD_VIDEO;
    } else if (w == "keyframes") {
        *what |= RTMP_RECORD_KEYFRAMES;
    } else if (w == "manual") {
        *what |= RTMP_RECORD_MANUAL;
    } else {
        return false;
    }
    return true;
}

static const char *rtmp_record_set_what(config_setting_t *s, unsigned *what)
{
    static const char *expected =
        "\"all\", \"audio\", \"video\", \"keyframes\" or \"manual\", or several of them "
        "separated by spaces";
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return expected;
    }
    std::string_view v = rtmp_conf_string(s);
    *what = 0;
    while (!v.empty()) {
        size_t sp = v.find_first_of(" ,");
        std::string_view w = v.substr(0, sp);
        v = sp == std::string_view::npos ? std::string_view() : v.substr(sp + 1);
        if (!w.empty() && !rtmp_record_what_word(w, what)) {
            return expected;
        }
    }
    if ((*what & ~RTMP_RECORD_MANUAL) == 0) {
        *what |= RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO; // "manual" alone records everything
    }
    if (*what & RTMP_RECORD_VIDEO) {
        *what &= ~RTMP_RECORD_KEYFRAMES; // every video frame includes the key frames
    }
    return nullptr;
}

// One recorder group; nullptr when good, else the message is in cf->error.
static const char *rtmp_record_set_one(rtmp_conf_t *cf, config_setting_t *g, rtmp_record_conf_t *rc,
                                       int i)
{
    *rc = {};
    rc->what = RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO;
    rc->buffer = 1024 * 1024;
    rc->flush = 1000;
    rc->index = 1024;
    rc->fragment = 2000;
    rc->writer = rtmp_record_writers[0];
    rc->file = config_setting_source_file(g);
    rc->line = config_setting_source_line(g);
    char def[32];
    snprintf(def, sizeof(def), "rec%d", i + 1);
    rc->name = rtmp_pstr(cf->pool, def);

    int n = config_setting_length(g);
    for (int k = 0; k < n; k++) {
        config_setting_t *e = config_setting_get_elem(g, (unsigned)k);
        std::string_view key = config_setting_name(e);
        const char *bad = nullptr;
        int64_t v = 0;
        if (key == "name") {
            std::string_view s = rtmp_conf_string(e);
            bool ok = config_setting_type(e) == CONFIG_TYPE_STRING && !s.empty() && s.size() <= 64;
            for (char ch : s) {
                ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-');
            }
            if (!ok) {
                bad = "a name of letters, digits, '_' and '-' (at most 64)";
            } else {
                rc->name = rtmp_pstr(cf->pool, s);
            }
        } else if (key == "what") {
            bad = rtmp_record_set_what(e, &rc->what);
        } else if (key == "path") {
            std::string_view s = rtmp_conf_string(e);
            char probe[PATH_MAX];
            if (config_setting_type(e) != CONFIG_TYPE_STRING || s.empty() ||
                s.size() >= PATH_MAX / 2) {
                bad = "a file path template";
            } else if (s.back() == '/') {
                bad = "a file path template, not a directory";
            } else if (!rtmp_record_expand(s, "app", "name", 0, probe, sizeof(probe))) {
                bad = "a file path template that expands to a path (strftime codes, $app, "
                      "$name)";
            } else {
                rc->path = rtmp_pstr(cf->pool, s);
            }
        } else if (key == "format") {
            rc->writer = nullptr;
            for (const rtmp_record_writer_t *w : rtmp_record_writers) {
                if (rtmp_conf_string(e) == w->name) {
                    rc->writer = w;
                }
            }
            if (rc->writer == nullptr) {
                bad = "\"flv\" or \"mp4\"";
            }
        } else if (key == "unique" || key == "append" || key == "faststart") {
            int flag = rtmp_conf_flag(e);
            if (flag < 0) {
                bad = RTMP_CONF_FLAG_EXPECTED;
            } else if (key == "unique") {
                rc->unique = flag == 1;
            } else if (key == "faststart") {
                rc->faststart = flag == 1;
            } else {
                rc->append = flag == 1;
            }
        } else if (key == "max_size" || key == "buffer") {
            v = rtmp_record_scalar(e, rtmp_parse_size, 1);
            if (key == "max_size") {
                if (v < 0) {
                    bad = "a size (bytes, or \"100m\", \"2g\"); 0 for no limit";
                } else if (v > 0 && v < 65536) {
                    bad = "a size of at least 64k (or 0 for no limit)";
                }
                rc->max_size = (uint64_t)v;
            } else {
                if (v < 4096 || v > 64 * 1024 * 1024) {
                    bad = "a size between 4k and 64m";
                }
                rc->buffer = (size_t)v;
            }
        } else if (key == "max_frames" || key == "keyframe_index") {
            v = rtmp_record_scalar(e, rtmp_record_parse_count, 1);
            if (key == "max_frames") {
                if (v < 0) {
                    bad = "a number of frames; 0 for no limit";
                }
                rc->max_frames = (uint64_t)v;
            } else {
                if (v < 2 || v > 100000) {
                    bad = "a number of index entries between 2 and 100000";
                }
                rc->index = (uint32_t)v;
            }
        } else if (key == "max_duration" || key == "interval" || key == "flush" ||
                   key == "fragment") {
            v = rtmp_record_scalar(e, rtmp_parse_time, 1000);
            if (key == "fragment") {
                if (v < 100 || v > 60000) {
                    bad = "a time between 100ms and 60s";
                }
                rc->fragment = (rtmp_msec_t)v;
            } else if (key == "flush") {
                if (v < 10 || v > 60000) {
                    bad = "a time between 10ms and 60s";
                }
                rc->flush = (rtmp_msec_t)v;
            } else if (v < 0 || v > 0x7fffffff) {
                bad = "a time (seconds, or \"500ms\", \"10m\", \"1h\"); 0 for no limit";
            } else if (key == "interval") {
                rc->interval = (rtmp_msec_t)v;
            } else {
                rc->max_duration = (rtmp_msec_t)v;
            }
        } else {
            rtmp_conf_error(cf, e,
                            "unknown recorder setting \"%.*s\" (name, what, path, format, "
                            "unique, append, max_size, max_frames, max_duration, interval, "
                            "buffer, flush, keyframe_index, fragment, faststart)",
                            (int)key.size(), key.data());
            return "";
        }
        if (bad) {
            rtmp_conf_error(cf, e, "recorder \"%.*s\": \"%.*s\" must be %s", (int)rc->name.len,
                            (const char *)rc->name.data, (int)key.size(), key.data(), bad);
            return "";
        }
    }
    if (rc->path.data == nullptr) {
        rtmp_conf_error(cf, g, "recorder \"%.*s\" needs a \"path\"", (int)rc->name.len,
                        (const char *)rc->name.data);
        return "";
    }
    if (rc->unique && rc->append) {
        rtmp_conf_error(cf, g, "recorder \"%.*s\": \"unique\" and \"append\" exclude each other",
                        (int)rc->name.len, (const char *)rc->name.data);
        return "";
    }
    if (rc->append && !rc->writer->append) {
        rtmp_conf_error(cf, g,
                        "recorder \"%.*s\": format %s cannot be appended to (its index is "
                        "written once); use \"unique\" or a path with strftime codes",
                        (int)rc->name.len, (const char *)rc->name.data, rc->writer->name);
        return "";
    }
    if (rc->faststart && rc->writer != &rtmp_record_mp4_writer) {
        rtmp_conf_error(cf, g, "recorder \"%.*s\": \"faststart\" is for format \"mp4\"",
                        (int)rc->name.len, (const char *)rc->name.data);
        return "";
    }
    std::string_view ext = rc->path.sv();
    size_t dot = ext.rfind('.');
    ext = dot == std::string_view::npos || ext.find('/', dot) != std::string_view::npos
              ? std::string_view()
              : ext.substr(dot + 1);
    if (!ext.empty() && ext != rc->writer->name &&
        !(rc->writer == &rtmp_record_mp4_writer && (ext == "m4v" || ext == "m4a"))) {
        // allowed (the format is what was asked for), but players go by the extension
        rtmp_conf_warn(cf, rc->file, rc->line,
                       "recorder \"%.*s\" writes format %s to a \".%.*s\" path", (int)rc->name.len,
                       (const char *)rc->name.data, rc->writer->name, (int)ext.size(), ext.data());
    }
    return nullptr;
}

// record = ( { name = ...; path = ...; ... }, ... ), or one group; ( ) records nothing.
static const char *rtmp_record_set(rtmp_conf_t *cf, const rtmp_directive_t *, config_setting_t *s,
                                   void *conf)
{
    auto *racf = static_cast<rtmp_record_app_conf_t *>(conf);
    int type = config_setting_type(s);
    bool list = type == CONFIG_TYPE_LIST;
    if (type != CONFIG_TYPE_GROUP && !list) {
        return "a list of recorder groups: ( { name = \"...\"; path = \"...\"; ... } )";
    }
    int n = list ? config_setting_length(s) : 1;
    racf->n = n;
    racf->recs = n ? rtmp_palloc<rtmp_record_conf_t>(cf->pool, (size_t)n) : nullptr;
    for (int i = 0; i < n; i++) {
        config_setting_t *g = list ? config_setting_get_elem(s, (unsigned)i) : s;
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            rtmp_conf_error(cf, g, "\"record\" must be a list of groups { ... }");
            return "";
        }
        if (rtmp_record_set_one(cf, g, &racf->recs[i], i) != nullptr) {
            return "";
        }
        for (int j = 0; j < i; j++) {
            if (racf->recs[j].name.sv() == racf->recs[i].name.sv()) {
                rtmp_conf_error(cf, g, "recorder name \"%.*s\" used twice",
                                (int)racf->recs[i].name.len, (const char *)racf->recs[i].name.data);
                return "";
            }
        }
    }
    return nullptr;
}

static const rtmp_directive_t rtmp_record_directives[] = {
    {"record", RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP, rtmp_conf_level::app,
     rtmp_conf_type::custom, 0, 0, 0, rtmp_record_set},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

static void rtmp_record_postconfiguration()
{
    rtmp_record_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_record_publish;
    rtmp_record_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_record_close_stream;
    rtmp_record_next_media = rtmp_media_handler;
    rtmp_media_handler = rtmp_record_media;
}

static rtmp_int_t rtmp_record_init_worker(rtmp_cycle_t *cycle)
{
    for (size_t i = 0; i < cycle->nservers; i++) {
        rtmp_conf_srv_t *srv = cycle->servers[i];
        for (size_t a = 0; a < srv->napps; a++) {
            auto *rcf = static_cast<rtmp_record_app_conf_t *>(
                srv->apps[a]->app_conf[rtmp_record_module.index]);
            for (rtmp_int_t r = 0; r < rcf->n; r++) {
                const rtmp_record_conf_t *rc = &rcf->recs[r];
                rtmp_path_check_template(rc->file, rc->line, "record path", rc->path.sv());
            }
        }
    }
    return RTMP_OK;
}

rtmp_module_t rtmp_record_module = {
    .name = "record",
    .index = 0,
    .directives = rtmp_record_directives,
    .create_app_conf = rtmp_record_create_app_conf,
    .merge_app_conf = rtmp_record_merge_app_conf,
    .postconfiguration = rtmp_record_postconfiguration,
    .init_worker = rtmp_record_init_worker,
};
