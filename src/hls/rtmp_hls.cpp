// HLS: streams published in this worker cut at key frames into MPEG-TS segments and m3u8 files.
#include "hls/rtmp_hls.h"

#include "core/rtmp_time.h"
#include "event/rtmp_event.h"
#include "hls/rtmp_m3u8.h"
#include "hls/rtmp_mpegts.h"
#include "os/rtmp_cycle.h"
#include "os/rtmp_path_check.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_session.h"
#include "rtmp/rtmp_timeline.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// Segment bytes are buffered and written in pieces of this size as media arrives: one
// write() of 64 KB into the page cache takes tens of microseconds, so the event loop is
// never held for long, and a 2.5 Mbit/s stream costs about five writes a second. There
// is no fsync: a crash loses at most what the kernel had not written back, as with
// nginx-rtmp, and the playlist never names a segment before it is complete.
static constexpr size_t RTMP_HLS_WRITE = 64 * 1024;
// A playlist read back at publish larger than this is not one of ours.
static constexpr size_t RTMP_HLS_MAX_PLAYLIST = 1024 * 1024;
// Segments kept in the playlist ring beyond hls_playlist_length / hls_fragment: three
// target durations stay (RFC 8216 6.2.2), and each publisher restart adds a short one.
static constexpr uint32_t RTMP_HLS_EXTRA_SEGMENTS = 48;
static constexpr uint32_t RTMP_HLS_MAX_SEGMENTS = 8192;

struct rtmp_hls_app_conf_t {
    rtmp_int_t hls;
    rtmp_str_t path;
    rtmp_msec_t fragment;
    rtmp_msec_t max_fragment;
    bool max_fragment_derived; // ten hls_fragment, not written
    rtmp_msec_t playlist_length;
    rtmp_int_t nested;
    rtmp_int_t cleanup;
    rtmp_int_t endlist;
};

// A segment that left the playlist, deleted once players are done with it.
struct rtmp_hls_pending_t {
    rtmp_msec_t due;
    char uri[RTMP_M3U8_URI];
};

typedef struct rtmp_hls_stream_s rtmp_hls_stream_t;

// One playlist being written. It outlives its publisher by a grace time (hls_cleanup),
// so a publisher that comes back to this worker continues it in place; one that comes
// back to another worker continues it from the file.
struct rtmp_hls_stream_s {
    rtmp_hls_stream_t *next; // rtmp_hls_streams
    rtmp_hls_app_conf_t *hcf;
    rtmp_pool_t *pool;
    rtmp_stream_t *st;                // publishing into it; nullptr once that ended
    char what[2 * RTMP_MAX_NAME + 2]; // "app/name", for the log
    char dir[PATH_MAX];
    char playlist[PATH_MAX];
    char prefix[RTMP_MAX_NAME + 2]; // of segment URIs: "name-", or "" when nested

    rtmp_m3u8_t pl;
    rtmp_buf_t *render; // the playlist text, sized for a full ring
    rtmp_mpegts_t mx;
    rtmp_timeline_t timeline; // monotonic across publisher restarts in this worker
    uint64_t ts_high;         // the timeline's 32-bit output unwrapped
    uint32_t ts_last;
    bool ts_started;

    int fd; // the open segment; -1 between segments
    char seg_uri[RTMP_M3U8_URI];
    uint64_t seg_start; // ms, the first frame's
    uint64_t last_ts;
    u_char *wbuf; // RTMP_HLS_WRITE bytes not yet written
    size_t wlen;

    bool failed; // a write error (full disk, permissions) stopped HLS for this stream
    bool video_skipped;
    bool audio_skipped;
    bool written; // the playlist file is ours: pl_dev/pl_ino say which file
    dev_t pl_dev;
    ino_t pl_ino;

    rtmp_event_t timer;          // the next pending deletion, or the end-of-stream cleanup
    rtmp_msec_t end_due;         // when the stream ended + grace; 0 while publishing
    rtmp_hls_pending_t *pending; // ring
    uint32_t pcap;
    uint32_t phead;
    uint32_t npending;

    // what the disk cost, for the log
    rtmp_hls_hist_t writes;    // each write() of segment bytes
    rtmp_hls_hist_t files;     // each segment's open() and close()
    rtmp_hls_hist_t playlists; // each playlist write + rename
    uint64_t segments;
    uint64_t bytes;
    uint32_t seg_writes;
    uint64_t seg_write_max;
    uint64_t seg_write_total;
};

static rtmp_hls_stream_t *rtmp_hls_streams;

static rtmp_publish_pt rtmp_hls_next_publish;
static rtmp_close_stream_pt rtmp_hls_next_close_stream;
static rtmp_media_pt rtmp_hls_next_media;

static rtmp_hls_app_conf_t *rtmp_hls_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_hls_app_conf_t *>(app->app_conf[rtmp_hls_module.index]);
}

static rtmp_log_t *rtmp_hls_log()
{
    return rtmp_cycle ? rtmp_cycle->log : &rtmp_log_stderr_log;
}

static uint64_t rtmp_hls_usec()
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

// ---- I/O-free helpers -----------------------------------------------------------------------

bool rtmp_hls_name_ok(std::string_view name)
{
    if (name.empty() || name.size() > 200 || name[0] == '.') {
        return false;
    }
    for (char ch : name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// Bucket 0 is under 1 us; bucket i >= 1 holds [2^((i-1)/4), 2^(i/4)) us; the last is open.
static size_t rtmp_hls_hist_index(uint64_t usec)
{
    if (usec == 0) {
        return 0;
    }
    size_t i = 1 + (size_t)std::floor(4.0 * std::log2((double)usec));
    return i < RTMP_HLS_HIST ? i : RTMP_HLS_HIST - 1;
}

void rtmp_hls_hist_add(rtmp_hls_hist_t *h, uint64_t usec)
{
    h->n++;
    h->total += usec;
    if (usec > h->max) {
        h->max = usec;
    }
    h->bucket[rtmp_hls_hist_index(usec)]++;
}

uint64_t rtmp_hls_hist_quantile(const rtmp_hls_hist_t *h, double q)
{
    if (h->n == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)std::ceil(q * (double)h->n);
    rank = rank < 1 ? 1 : rank;
    uint64_t seen = 0;
    for (size_t i = 0; i < RTMP_HLS_HIST; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            if (i == RTMP_HLS_HIST - 1) {
                return h->max;
            }
            uint64_t upper = (uint64_t)std::ceil(std::exp2((double)i / 4.0));
            return upper < h->max ? upper : h->max;
        }
    }
    return h->max;
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_hls_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_hls_app_conf_t>(cf->pool);
    c->hls = c->nested = c->cleanup = c->endlist = RTMP_CONF_UNSET;
    c->fragment = c->max_fragment = c->playlist_length = RTMP_CONF_UNSET_MSEC;
    return c;
}

static const char *rtmp_hls_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_hls_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_hls_app_conf_t *>(child);
    rtmp_conf_merge_value(c->hls, p->hls, 0);
    rtmp_conf_merge_str(c->path, p->path, "hls");
    rtmp_conf_merge_msec(c->fragment, p->fragment, 2000);
    rtmp_conf_merge_msec(c->playlist_length, p->playlist_length, 30000);
    // as nginx-rtmp: a stream whose key frames stopped is still cut, at ten fragments of
    // the block's own hls_fragment unless hls_max_fragment was written here or above
    if (c->max_fragment == RTMP_CONF_UNSET_MSEC &&
        (p->max_fragment == RTMP_CONF_UNSET_MSEC || p->max_fragment_derived)) {
        c->max_fragment = c->fragment * 10;
        c->max_fragment_derived = true;
    } else {
        rtmp_conf_merge_msec(c->max_fragment, p->max_fragment, 0);
    }
    rtmp_conf_merge_value(c->nested, p->nested, 0);
    rtmp_conf_merge_value(c->cleanup, p->cleanup, 1);
    rtmp_conf_merge_value(c->endlist, p->endlist, 0);
    if (c->max_fragment != 0 && c->max_fragment < c->fragment) {
        return "hls_max_fragment must be 0 (never) or at least hls_fragment";
    }
    if (c->path.len == 0 || c->path.len > 1024) {
        return "hls_path must be a directory name of 1 to 1024 bytes";
    }
    return nullptr;
}

#define HLS_OFF(field) offsetof(rtmp_hls_app_conf_t, field)
#define HLS_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_hls_directives[] = {
    {"hls", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, HLS_OFF(hls), 0, 0, nullptr},
    {"hls_path", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::string, HLS_OFF(path), 0, 0,
     nullptr},
    {"hls_fragment", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec, HLS_OFF(fragment), 100,
     60000, nullptr},
    {"hls_max_fragment", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     HLS_OFF(max_fragment), 0, 600000, nullptr},
    {"hls_playlist_length", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     HLS_OFF(playlist_length), 1000, 86400000, nullptr},
    {"hls_nested", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, HLS_OFF(nested), 0, 0,
     nullptr},
    {"hls_cleanup", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, HLS_OFF(cleanup), 0, 0,
     nullptr},
    {"hls_endlist", HLS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, HLS_OFF(endlist), 0, 0,
     nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- files ----------------------------------------------------------------------------------

// DIR/URI into out; false when it does not fit.
static bool rtmp_hls_path(rtmp_hls_stream_t *hs, const char *uri, char *out, size_t len)
{
    size_t d = strlen(hs->dir);
    size_t u = strlen(uri);
    if (d + 1 + u >= len) {
        return false;
    }
    memcpy(out, hs->dir, d);
    out[d] = '/';
    memcpy(out + d + 1, uri, u + 1);
    return true;
}

// Stops HLS for the stream: the stream and its players go on.
static void rtmp_hls_fail(rtmp_hls_stream_t *hs, const char *op, const char *path, int err)
{
    rtmp_log_error(RTMP_LOG_ERR, rtmp_hls_log(), err,
                   "hls \"%s\": %s \"%s\" failed; HLS stopped for this stream (the stream and "
                   "its players go on)",
                   hs->what, op, path);
    hs->failed = true;
    if (hs->fd != -1) {
        close(hs->fd);
        hs->fd = -1;
        // not in the playlist: nobody will ask for it
        char seg[PATH_MAX];
        if (rtmp_hls_path(hs, hs->seg_uri, seg, sizeof(seg))) {
            (void)unlink(seg);
        }
    }
    hs->wlen = 0;
}

// Writes the buffered segment bytes, timed.
static rtmp_int_t rtmp_hls_write_buffered(rtmp_hls_stream_t *hs)
{
    const u_char *p = hs->wbuf;
    size_t left = hs->wlen;
    uint64_t t0 = rtmp_hls_usec();
    while (left > 0) {
        ssize_t n = write(hs->fd, p, left);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            char path[PATH_MAX];
            int err = n == 0 ? ENOSPC : errno;
            (void)rtmp_hls_path(hs, hs->seg_uri, path, sizeof(path));
            rtmp_hls_fail(hs, "write()", path, err);
            return RTMP_ERROR;
        }
        p += n;
        left -= (size_t)n;
    }
    uint64_t us = rtmp_hls_usec() - t0;
    rtmp_hls_hist_add(&hs->writes, us);
    hs->seg_writes++;
    hs->seg_write_total += us;
    hs->seg_write_max = us > hs->seg_write_max ? us : hs->seg_write_max;
    hs->bytes += hs->wlen;
    hs->wlen = 0;
    return RTMP_OK;
}

// The muxer's output: whole TS packets, collected into RTMP_HLS_WRITE-byte writes.
static rtmp_int_t rtmp_hls_output(void *data, const u_char *p, size_t len)
{
    auto *hs = static_cast<rtmp_hls_stream_t *>(data);
    if (hs->fd == -1) {
        return RTMP_ERROR; // between segments nothing is written
    }
    while (len > 0) {
        size_t room = RTMP_HLS_WRITE - hs->wlen;
        size_t k = len < room ? len : room;
        memcpy(hs->wbuf + hs->wlen, p, k);
        hs->wlen += k;
        p += k;
        len -= k;
        if (hs->wlen == RTMP_HLS_WRITE && rtmp_hls_write_buffered(hs) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

// Renders the playlist into PLAYLIST.tmp and renames it over the playlist, so a reader
// sees the old file or the new one, never half of one.
static rtmp_int_t rtmp_hls_write_playlist(rtmp_hls_stream_t *hs)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", hs->playlist);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        rtmp_hls_fail(hs, "naming the temporary playlist", hs->playlist, ENAMETOOLONG);
        return RTMP_ERROR;
    }
    hs->render->pos = hs->render->last = hs->render->start;
    if (rtmp_m3u8_render(&hs->pl, hs->render) != RTMP_OK) {
        rtmp_hls_fail(hs, "rendering", hs->playlist, ENOBUFS); // sized for a full ring
        return RTMP_ERROR;
    }
    uint64_t t0 = rtmp_hls_usec();
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rtmp_hls_fail(hs, "open()", tmp, errno);
        return RTMP_ERROR;
    }
    const u_char *p = hs->render->pos;
    size_t left = rtmp_buf_size(hs->render);
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w == -1 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            int err = w == 0 ? ENOSPC : errno;
            close(fd);
            (void)unlink(tmp);
            rtmp_hls_fail(hs, "write()", tmp, err);
            return RTMP_ERROR;
        }
        p += w;
        left -= (size_t)w;
    }
    struct stat sb;
    bool have_stat = fstat(fd, &sb) == 0;
    if (close(fd) == -1) {
        int err = errno;
        (void)unlink(tmp);
        rtmp_hls_fail(hs, "close()", tmp, err);
        return RTMP_ERROR;
    }
    if (rename(tmp, hs->playlist) == -1) {
        int err = errno;
        (void)unlink(tmp);
        rtmp_hls_fail(hs, "rename() to", hs->playlist, err);
        return RTMP_ERROR;
    }
    rtmp_hls_hist_add(&hs->playlists, rtmp_hls_usec() - t0);
    // each rename puts a new inode there: the end-of-stream cleanup knows whether the
    // playlist is still the one this worker wrote or another worker's continuation
    hs->written = have_stat;
    hs->pl_dev = sb.st_dev;
    hs->pl_ino = sb.st_ino;
    return RTMP_OK;
}

// ---- deleting what left the playlist ---------------------------------------------------------

static void rtmp_hls_unlink(rtmp_hls_stream_t *hs, const char *uri)
{
    char path[PATH_MAX];
    if (rtmp_hls_path(hs, uri, path, sizeof(path)) && unlink(path) == -1 && errno != ENOENT) {
        rtmp_log_error(RTMP_LOG_WARN, rtmp_hls_log(), errno, "hls \"%s\": unlink(\"%s\") failed",
                       hs->what, path);
    }
}

static void rtmp_hls_pending_pop(rtmp_hls_stream_t *hs)
{
    rtmp_hls_unlink(hs, hs->pending[hs->phead].uri);
    hs->phead = (hs->phead + 1) % hs->pcap;
    hs->npending--;
}

// RFC 8216 6.2.2: a segment removed from the playlist stays available for its duration
// plus the playlist's, for players that loaded the playlist just before.
static void rtmp_hls_removed(void *data, const rtmp_m3u8_segment_t *seg)
{
    auto *hs = static_cast<rtmp_hls_stream_t *>(data);
    if (!hs->hcf->cleanup) {
        return;
    }
    if (hs->npending == hs->pcap) {
        rtmp_hls_pending_pop(hs); // bounded: the oldest goes a little early
    }
    double keep = seg->duration + (hs->pl.total > 0 ? hs->pl.total : 0);
    rtmp_hls_pending_t *p = &hs->pending[(hs->phead + hs->npending) % hs->pcap];
    p->due = rtmp_current_msec + (rtmp_msec_t)(keep * 1000) + 1000;
    memcpy(p->uri, seg->uri, sizeof(p->uri));
    hs->npending++;
}

static void rtmp_hls_free(rtmp_hls_stream_t *hs);

// Whose the playlist on disk is: the one this worker wrote last, or another worker's that
// took the stream over (a publisher came back there) and renamed another inode in.
enum class rtmp_hls_disk { none, ours, theirs };

static rtmp_hls_disk rtmp_hls_playlist_on_disk(const rtmp_hls_stream_t *hs)
{
    struct stat sb;
    if (stat(hs->playlist, &sb) == -1) {
        return rtmp_hls_disk::none;
    }
    return hs->written && sb.st_dev == hs->pl_dev && sb.st_ino == hs->pl_ino
               ? rtmp_hls_disk::ours
               : rtmp_hls_disk::theirs;
}

// Deletes the pending segments that are due, and after the stream ended and its grace
// passed, the stream's files; then waits for the next of these.
static void rtmp_hls_sweep(rtmp_hls_stream_t *hs)
{
    bool end = hs->end_due != 0 && hs->end_due <= rtmp_current_msec;
    while (hs->npending > 0 && (end || hs->pending[hs->phead].due <= rtmp_current_msec)) {
        rtmp_hls_pending_pop(hs);
    }
    if (end) {
        // the segments of a playlist another worker took over are its own
        if (rtmp_hls_playlist_on_disk(hs) == rtmp_hls_disk::ours) {
            for (uint32_t i = 0; i < hs->pl.count; i++) {
                rtmp_hls_unlink(hs, rtmp_m3u8_segment(&hs->pl, i)->uri);
            }
            if (unlink(hs->playlist) == -1 && errno != ENOENT) {
                rtmp_log_error(RTMP_LOG_WARN, rtmp_hls_log(), errno,
                               "hls \"%s\": unlink(\"%s\") failed", hs->what, hs->playlist);
            }
            if (hs->hcf->nested) {
                (void)rmdir(hs->dir); // only when empty
            }
            rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                           "hls \"%s\": stream ended a while ago, its playlist and segments "
                           "removed",
                           hs->what);
        }
        rtmp_hls_free(hs);
        return;
    }
    rtmp_msec_t next = hs->end_due;
    if (hs->npending > 0 && (next == 0 || hs->pending[hs->phead].due < next)) {
        next = hs->pending[hs->phead].due;
    }
    if (next != 0) {
        rtmp_event_add_timer(&hs->timer, next > rtmp_current_msec ? next - rtmp_current_msec : 1);
    } else {
        rtmp_event_del_timer(&hs->timer);
    }
}

static void rtmp_hls_timer_handler(rtmp_event_t *ev)
{
    ev->timedout = 0;
    rtmp_hls_sweep(static_cast<rtmp_hls_stream_t *>(ev->data));
}

// ---- segments ---------------------------------------------------------------------------------

static rtmp_int_t rtmp_hls_open_segment(rtmp_hls_stream_t *hs, uint64_t ts)
{
    int n = snprintf(hs->seg_uri, sizeof(hs->seg_uri), "%s%llu.ts", hs->prefix,
                     (unsigned long long)rtmp_m3u8_next_sequence(&hs->pl));
    char path[PATH_MAX];
    if (n < 0 || (size_t)n >= sizeof(hs->seg_uri) ||
        !rtmp_hls_path(hs, hs->seg_uri, path, sizeof(path))) {
        rtmp_hls_fail(hs, "naming a segment in", hs->dir, ENAMETOOLONG);
        return RTMP_ERROR;
    }
    uint64_t t0 = rtmp_hls_usec();
    hs->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (hs->fd == -1) {
        rtmp_hls_fail(hs, "open()", path, errno);
        return RTMP_ERROR;
    }
    rtmp_hls_hist_add(&hs->files, rtmp_hls_usec() - t0);
    hs->seg_start = ts;
    hs->last_ts = ts;
    hs->wlen = 0;
    hs->seg_writes = 0;
    hs->seg_write_max = hs->seg_write_total = 0;
    // PAT and PMT first, so every segment can be read on its own
    return rtmp_mpegts_start_segment(&hs->mx) == RTMP_OK && !hs->failed ? RTMP_OK : RTMP_ERROR;
}

// Finishes the open segment at `end` (ms) and puts it in the playlist.
static rtmp_int_t rtmp_hls_close_segment(rtmp_hls_stream_t *hs, uint64_t end)
{
    if (hs->fd == -1) {
        return RTMP_OK;
    }
    if (rtmp_mpegts_flush(&hs->mx) != RTMP_OK || hs->failed) {
        return RTMP_ERROR;
    }
    if (hs->wlen > 0 && rtmp_hls_write_buffered(hs) != RTMP_OK) {
        return RTMP_ERROR;
    }
    uint64_t t0 = rtmp_hls_usec();
    int fd = hs->fd;
    hs->fd = -1;
    if (close(fd) == -1) {
        char path[PATH_MAX];
        (void)rtmp_hls_path(hs, hs->seg_uri, path, sizeof(path));
        rtmp_hls_fail(hs, "close()", path, errno);
        return RTMP_ERROR;
    }
    uint64_t close_us = rtmp_hls_usec() - t0;
    rtmp_hls_hist_add(&hs->files, close_us);

    double duration = end > hs->seg_start ? (double)(end - hs->seg_start) / 1000.0 : 0.0;
    if (rtmp_m3u8_add(&hs->pl, duration, hs->seg_uri, rtmp_hls_removed, hs) != RTMP_OK) {
        rtmp_hls_fail(hs, "adding to", hs->playlist, EINVAL); // URIs are sized: cannot happen
        return RTMP_ERROR;
    }
    hs->segments++;
    uint64_t p0 = hs->playlists.total;
    if (rtmp_hls_write_playlist(hs) != RTMP_OK) {
        return RTMP_ERROR;
    }
    rtmp_log_debug(rtmp_hls_log(),
                   "hls \"%s\": segment %s, %.3fs, %u writes (max %lluus, total %lluus), close "
                   "%lluus, playlist %lluus",
                   hs->what, hs->seg_uri, duration, hs->seg_writes,
                   (unsigned long long)hs->seg_write_max, (unsigned long long)hs->seg_write_total,
                   (unsigned long long)close_us, (unsigned long long)(hs->playlists.total - p0));
    (void)p0;
    (void)close_us;
    if (hs->npending > 0 && !hs->timer.timer_set) {
        rtmp_hls_sweep(hs);
    }
    return RTMP_OK;
}

// Opens or cuts the segment for a frame at ts; false when the frame is not written
// (waiting for the first key frame, or HLS failed).
static bool rtmp_hls_prepare(rtmp_hls_stream_t *hs, uint64_t ts, bool video, bool key)
{
    bool has_video = hs->mx.video != rtmp_mpegts_video::none;
    if (hs->fd == -1) {
        // a segment starts where a player can start decoding
        if (has_video && !(video && key)) {
            return false;
        }
        return rtmp_hls_open_segment(hs, ts) == RTMP_OK;
    }
    if (rtmp_m3u8_should_cut(hs->seg_start, ts, has_video, video && key, hs->hcf->fragment,
                             hs->hcf->max_fragment)) {
        if (rtmp_hls_close_segment(hs, ts) != RTMP_OK || rtmp_hls_open_segment(hs, ts) != RTMP_OK) {
            return false;
        }
    }
    if (ts > hs->last_ts) {
        hs->last_ts = ts;
    }
    return true;
}

// The stream's timeline in 64-bit milliseconds.
static uint64_t rtmp_hls_timestamp(rtmp_hls_stream_t *hs, uint32_t in)
{
    uint32_t out = rtmp_timeline_map(&hs->timeline, in);
    if (hs->ts_started && out < hs->ts_last && hs->ts_last - out > 0x80000000u) {
        hs->ts_high += 0x100000000ull;
    }
    hs->ts_started = true;
    hs->ts_last = out;
    return hs->ts_high + out;
}

static void rtmp_hls_skip(rtmp_hls_stream_t *hs, bool *once, const char *what, const char *codec)
{
    if (!*once) {
        *once = true;
        rtmp_log_error(RTMP_LOG_NOTICE, rtmp_hls_log(), 0,
                       "hls \"%s\": %s %s is not carried in HLS (MPEG-TS with H.264 or HEVC "
                       "video and AAC audio), skipped",
                       hs->what, what, codec);
    }
}

static void rtmp_hls_video(rtmp_hls_stream_t *hs, const rtmp_message_t *m)
{
    rtmp_codec_video_t v;
    if (rtmp_codec_parse_video(m->payload, &v) != RTMP_OK || v.is_command || v.is_metadata ||
        v.is_end_of_sequence) {
        return;
    }
    rtmp_mpegts_video codec = v.codec == rtmp_codec_id::avc    ? rtmp_mpegts_video::avc
                              : v.codec == rtmp_codec_id::hevc ? rtmp_mpegts_video::hevc
                                                               : rtmp_mpegts_video::none;
    if (codec == rtmp_mpegts_video::none || v.multitrack) {
        rtmp_hls_skip(hs, &hs->video_skipped, v.multitrack ? "multitrack video" : "video codec",
                      v.multitrack ? "" : rtmp_codec_name(v.codec));
        return;
    }
    std::span<const u_char> data = m->payload.subspan(v.header_len, v.data_len);
    if (v.is_sequence_header) {
        if (v.enhanced && v.packet_type != RTMP_CODEC_VIDEO_SEQUENCE_START) {
            return; // MPEG2TSSequenceStart: descriptors, not a decoder configuration
        }
        if (rtmp_mpegts_set_video_config(&hs->mx, codec, data) != RTMP_OK) {
            rtmp_log_error(RTMP_LOG_NOTICE, rtmp_hls_log(), 0,
                           "hls \"%s\": %s sequence header not understood, video skipped until "
                           "the next one",
                           hs->what, rtmp_codec_name(v.codec));
        }
        return;
    }
    if (codec != hs->mx.video) {
        return; // no configuration for it (yet)
    }
    uint64_t ts = rtmp_hls_timestamp(hs, m->h.timestamp);
    if (!rtmp_hls_prepare(hs, ts, true, v.is_key_frame)) {
        return;
    }
    if (rtmp_mpegts_write_video(&hs->mx, ts, v.cts, v.is_key_frame, data) == RTMP_ERROR &&
        !hs->failed) {
        rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                       "hls \"%s\": malformed video frame at %llums skipped", hs->what,
                       (unsigned long long)ts);
    }
}

static void rtmp_hls_audio(rtmp_hls_stream_t *hs, const rtmp_message_t *m)
{
    rtmp_codec_audio_t a;
    if (rtmp_codec_parse_audio(m->payload, &a) != RTMP_OK || a.is_end_of_sequence ||
        a.is_multichannel_config) {
        return;
    }
    if (a.codec != rtmp_codec_id::aac || a.multitrack) {
        rtmp_hls_skip(hs, &hs->audio_skipped, a.multitrack ? "multitrack audio" : "audio codec",
                      a.multitrack ? "" : rtmp_codec_name(a.codec));
        return;
    }
    std::span<const u_char> data = m->payload.subspan(a.header_len, a.data_len);
    if (a.is_sequence_header) {
        if (rtmp_mpegts_set_audio_config(&hs->mx, data) != RTMP_OK) {
            rtmp_log_error(RTMP_LOG_NOTICE, rtmp_hls_log(), 0,
                           "hls \"%s\": AAC configuration ADTS cannot carry, audio skipped",
                           hs->what);
        }
        return;
    }
    if (!hs->mx.audio) {
        return;
    }
    uint64_t ts = rtmp_hls_timestamp(hs, m->h.timestamp);
    if (!rtmp_hls_prepare(hs, ts, false, false)) {
        return;
    }
    if (rtmp_mpegts_write_audio(&hs->mx, ts, data) == RTMP_ERROR && !hs->failed) {
        rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                       "hls \"%s\": oversized AAC frame at %llums skipped", hs->what,
                       (unsigned long long)ts);
    }
}

// ---- streams ----------------------------------------------------------------------------------

static void rtmp_hls_free(rtmp_hls_stream_t *hs)
{
    rtmp_hls_stream_t **pp = &rtmp_hls_streams;
    while (*pp != hs) {
        pp = &(*pp)->next;
    }
    *pp = hs->next;
    rtmp_event_del_timer(&hs->timer);
    if (hs->fd != -1) {
        close(hs->fd);
    }
    rtmp_pool_destroy(hs->pool);
    rtmp_free(hs);
}

static rtmp_hls_stream_t *rtmp_hls_find(const char *playlist)
{
    for (rtmp_hls_stream_t *hs = rtmp_hls_streams; hs; hs = hs->next) {
        if (strcmp(hs->playlist, playlist) == 0) {
            return hs;
        }
    }
    return nullptr;
}

// mkdir -p, for hls_path/APP[/NAME].
static rtmp_int_t rtmp_hls_mkdir(char *path, const char **failed)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int err = errno;
        struct stat sb;
        if (rc == -1 && !(err == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            *failed = "mkdir()";
            errno = err == EEXIST ? ENOTDIR : err;
            *p = c;
            return RTMP_ERROR;
        }
        *p = c;
        if (c == '\0') {
            return RTMP_OK;
        }
    }
}

// Segments an earlier writer of the playlist had taken out of it but not yet deleted when
// it went away (its worker killed, or exiting before their time), numbered below the first
// one listed: deleted as those leaving the playlist are, or nobody ever would.
static void rtmp_hls_sweep_strays(rtmp_hls_stream_t *hs)
{
    const rtmp_m3u8_segment_t *first = rtmp_m3u8_segment(&hs->pl, 0);
    uint64_t below = first ? first->sequence : rtmp_m3u8_next_sequence(&hs->pl);
    DIR *d = hs->hcf->cleanup ? opendir(hs->dir) : nullptr;
    if (d == nullptr) {
        return;
    }
    size_t strays = 0;
    std::string_view prefix(hs->prefix);
    while (const struct dirent *e = readdir(d)) {
        std::string_view n(e->d_name);
        if (!n.starts_with(prefix) || !n.ends_with(".ts") || n.size() <= prefix.size() + 3) {
            continue;
        }
        std::string_view digits = n.substr(prefix.size(), n.size() - prefix.size() - 3);
        uint64_t seq = 0;
        auto r = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
        // named as this server names them: no sign, no leading zero
        if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() ||
            (digits.size() > 1 && digits[0] == '0') || seq >= below || n.size() >= RTMP_M3U8_URI) {
            continue;
        }
        rtmp_m3u8_segment_t seg = {};
        seg.sequence = seq;
        memcpy(seg.uri, n.data(), n.size());
        rtmp_hls_removed(hs, &seg);
        strays++;
    }
    closedir(d);
    if (strays) {
        rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                       "hls \"%s\": %zu segments an earlier writer left behind go with those "
                       "leaving the playlist",
                       hs->what, strays);
    }
}

// Continues the playlist a previous publisher left on disk, if there is one of ours.
static void rtmp_hls_read_playlist(rtmp_hls_stream_t *hs)
{
    int fd = open(hs->playlist, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT) {
            rtmp_log_error(RTMP_LOG_WARN, rtmp_hls_log(), errno,
                           "hls \"%s\": open(\"%s\") failed, starting a new playlist", hs->what,
                           hs->playlist);
        }
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
        (size_t)sb.st_size > RTMP_HLS_MAX_PLAYLIST) {
        close(fd);
        rtmp_log_error(RTMP_LOG_WARN, rtmp_hls_log(), 0,
                       "hls \"%s\": \"%s\" is not a playlist of ours, replaced by a new one",
                       hs->what, hs->playlist);
        return;
    }
    size_t size = (size_t)sb.st_size;
    auto *text = static_cast<char *>(rtmp_alloc(size + 1));
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, text + got, size - got);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    rtmp_int_t rc =
        rtmp_m3u8_parse(&hs->pl, std::string_view(text, got), hs->prefix, rtmp_hls_removed, hs);
    rtmp_free(text);
    if (rc != RTMP_OK) {
        rtmp_log_error(RTMP_LOG_WARN, rtmp_hls_log(), 0,
                       "hls \"%s\": \"%s\" is not a playlist of ours, replaced by a new one",
                       hs->what, hs->playlist);
        return;
    }
    rtmp_m3u8_discontinuity(&hs->pl);
    rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                   "hls \"%s\": continuing \"%s\" at segment %llu after a discontinuity", hs->what,
                   hs->playlist, (unsigned long long)rtmp_m3u8_next_sequence(&hs->pl));
    rtmp_hls_sweep_strays(hs);
}

static rtmp_hls_stream_t *rtmp_hls_create(rtmp_hls_app_conf_t *hcf, const char *what,
                                          const char *dir, const char *playlist, const char *prefix)
{
    auto *hs = static_cast<rtmp_hls_stream_t *>(rtmp_calloc(sizeof(rtmp_hls_stream_t)));
    hs->hcf = hcf;
    hs->fd = -1;
    snprintf(hs->what, sizeof(hs->what), "%s", what);
    snprintf(hs->dir, sizeof(hs->dir), "%s", dir);
    snprintf(hs->playlist, sizeof(hs->playlist), "%s", playlist);
    snprintf(hs->prefix, sizeof(hs->prefix), "%s", prefix);
    hs->pool = rtmp_pool_create(RTMP_POOL_DEFAULT_SIZE, rtmp_hls_log());
    uint64_t n = hcf->playlist_length / hcf->fragment + RTMP_HLS_EXTRA_SEGMENTS;
    uint32_t max = n < RTMP_HLS_MAX_SEGMENTS ? (uint32_t)n : RTMP_HLS_MAX_SEGMENTS;
    rtmp_m3u8_init(&hs->pl, hs->pool, max, (double)hcf->playlist_length / 1000.0, 0);
    rtmp_m3u8_t full = hs->pl;
    full.count = full.max_segments;
    hs->render = rtmp_buf_create(hs->pool, rtmp_m3u8_render_size(&full));
    hs->pcap = max;
    hs->pending = rtmp_palloc<rtmp_hls_pending_t>(hs->pool, max);
    hs->wbuf = static_cast<u_char *>(rtmp_palloc(hs->pool, RTMP_HLS_WRITE));
    hs->timer.data = hs;
    hs->timer.handler = rtmp_hls_timer_handler;
    hs->timer.log = rtmp_hls_log();
    hs->next = rtmp_hls_streams;
    rtmp_hls_streams = hs;
    return hs;
}

// Ends the publisher's part: the open segment goes into the playlist, and when the
// stream ends (not when another publisher takes it over) with hls_endlist the playlist
// says no more will come.
static void rtmp_hls_detach(rtmp_hls_stream_t *hs, bool ending)
{
    if (!hs->failed && hs->fd != -1) {
        (void)rtmp_hls_close_segment(hs, hs->last_ts);
    }
    if (ending && !hs->failed && hs->hcf->endlist && hs->pl.count > 0) {
        rtmp_m3u8_end(&hs->pl);
        (void)rtmp_hls_write_playlist(hs);
    }
    if (hs->st) {
        hs->st->ctx[rtmp_hls_module.index] = nullptr;
        hs->st = nullptr;
    }
    rtmp_log_error(RTMP_LOG_INFO, rtmp_hls_log(), 0,
                   "hls \"%s\" stopped%s: %llu segments, %llu bytes; write() %llu calls, max "
                   "%lluus, p99 %lluus, p50 %lluus; segment open/close max %lluus, p99 %lluus, "
                   "p50 %lluus; playlist write+rename %llu, max %lluus, p99 %lluus, p50 %lluus",
                   hs->what, hs->failed ? " after a write error" : "",
                   (unsigned long long)hs->segments, (unsigned long long)hs->bytes,
                   (unsigned long long)hs->writes.n, (unsigned long long)hs->writes.max,
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->writes, 0.99),
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->writes, 0.5),
                   (unsigned long long)hs->files.max,
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->files, 0.99),
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->files, 0.5),
                   (unsigned long long)hs->playlists.n, (unsigned long long)hs->playlists.max,
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->playlists, 0.99),
                   (unsigned long long)rtmp_hls_hist_quantile(&hs->playlists, 0.5));
}

// Attaches a publisher: a new one continues after a discontinuity.
static void rtmp_hls_attach(rtmp_hls_stream_t *hs, rtmp_stream_t *st)
{
    hs->st = st;
    st->ctx[rtmp_hls_module.index] = hs;
    if (hs->pl.count > 0 || hs->segments > 0) {
        rtmp_m3u8_discontinuity(&hs->pl);
    }
    // its own codec configuration comes in its sequence headers
    rtmp_mpegts_init(&hs->mx, rtmp_hls_output, hs, 300);
    rtmp_timeline_restart(&hs->timeline);
    hs->end_due = 0;
    hs->failed = false;
    hs->video_skipped = hs->audio_skipped = false;
    hs->writes = hs->files = hs->playlists = {};
    hs->segments = hs->bytes = 0;
    rtmp_hls_sweep(hs);
}

static void rtmp_hls_start(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_hls_app_conf_t *hcf = rtmp_hls_app_conf(s->app);
    char what[2 * RTMP_MAX_NAME + 2];
    snprintf(what, sizeof(what), "%s/%s", s->app->name.data, st->name);
    if (!rtmp_hls_name_ok(s->app->name.sv()) || !rtmp_hls_name_ok(st->name)) {
        rtmp_log_error(RTMP_LOG_NOTICE, &s->c->log, 0,
                       "hls \"%s\": not written: HLS file names take letters, digits and "
                       "\"-._~\" only, not starting with \".\"",
                       what);
        return;
    }
    char dir[PATH_MAX], playlist[PATH_MAX], prefix[RTMP_MAX_NAME + 2];
    int a, b;
    if (hcf->nested) {
        a = snprintf(dir, sizeof(dir), "%s/%s/%s", hcf->path.data, s->app->name.data, st->name);
        b = snprintf(playlist, sizeof(playlist), "%s/index.m3u8", dir);
        prefix[0] = '\0';
    } else {
        a = snprintf(dir, sizeof(dir), "%s/%s", hcf->path.data, s->app->name.data);
        b = snprintf(playlist, sizeof(playlist), "%s/%s.m3u8", dir, st->name);
        snprintf(prefix, sizeof(prefix), "%s-", st->name);
    }
    if (a < 0 || (size_t)a >= sizeof(dir) || b < 0 || (size_t)b >= sizeof(playlist)) {
        rtmp_log_error(RTMP_LOG_ERR, &s->c->log, 0, "hls \"%s\": not written: path too long", what);
        return;
    }

    rtmp_hls_stream_t *hs = rtmp_hls_find(playlist);
    if (hs != nullptr) {
        // the same worker had it: a takeover, or a publisher back within the grace time
        if (hs->st != nullptr) {
            rtmp_hls_detach(hs, false);
        }
        if (rtmp_hls_playlist_on_disk(hs) != rtmp_hls_disk::theirs) {
            rtmp_hls_attach(hs, st);
            rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                           "hls \"%s\": continuing \"%s\" at segment %llu after a discontinuity",
                           what, playlist, (unsigned long long)rtmp_m3u8_next_sequence(&hs->pl));
            return;
        }
        // another worker went on with it meanwhile: its playlist, not what we remember,
        // says where the stream is; what left ours is still ours to delete
        rtmp_m3u8_reset(&hs->pl);
    } else {
        const char *op = nullptr;
        if (rtmp_hls_mkdir(dir, &op) != RTMP_OK) {
            rtmp_log_error(RTMP_LOG_ERR, &s->c->log, errno,
                           "hls \"%s\": %s \"%s\" failed; HLS is off for this stream (the "
                           "stream and its players go on)",
                           what, op, dir);
            return;
        }
        hs = rtmp_hls_create(hcf, what, dir, playlist, prefix);
    }
    rtmp_hls_read_playlist(hs);
    rtmp_hls_attach(hs, st);
    if (hs->pl.count > 0) {
        // claimed at once: another worker that still holds this stream's past sees the
        // playlist is no longer its own and leaves the segments alone
        (void)rtmp_hls_write_playlist(hs);
    } else {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "hls \"%s\": writing \"%s\"", what, playlist);
    }
}

// Just before live in the publish chain: starts once live accepted.
static rtmp_int_t rtmp_hls_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_hls_next_publish(s, st);
    // only the worker that owns the stream writes the files, for a client's publish or an
    // origin pull; a pull from the owning worker does not publish through here
    if (rc == RTMP_OK && rtmp_relay_local_source(s) && st->state == rtmp_stream_state::publishing &&
        st->live && rtmp_hls_app_conf(s->app)->hls) {
        rtmp_hls_start(s, st);
    }
    return rc;
}

static void rtmp_hls_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    auto *hs = static_cast<rtmp_hls_stream_t *>(st->ctx[rtmp_hls_module.index]);
    if (hs != nullptr) {
        // before live lets the stream go, so a publisher starting in another worker
        // finds the finished playlist
        rtmp_hls_detach(hs, true);
        if (!hs->hcf->cleanup) {
            rtmp_hls_free(hs);
        } else {
            // players still playing the last window get its length and two targets more
            double grace = hs->pl.total + 2.0 * hs->pl.target;
            double min = (double)hs->hcf->playlist_length / 1000.0;
            hs->end_due = rtmp_current_msec + (rtmp_msec_t)((grace > min ? grace : min) * 1000);
            rtmp_hls_sweep(hs);
        }
    }
    rtmp_hls_next_close_stream(s, st);
}

static rtmp_int_t rtmp_hls_media(rtmp_session_t *s, rtmp_stream_t *st, const rtmp_message_t *m)
{
    // players first: the disk can wait a moment
    rtmp_int_t rc = rtmp_hls_next_media(s, st, m);
    auto *hs = static_cast<rtmp_hls_stream_t *>(st->ctx[rtmp_hls_module.index]);
    if (hs == nullptr || hs->failed || st->state != rtmp_stream_state::publishing) {
        return rc;
    }
    if (m->h.type == RTMP_MSG_VIDEO) {
        rtmp_hls_video(hs, m);
    } else if (m->h.type == RTMP_MSG_AUDIO) {
        rtmp_hls_audio(hs, m);
    }
    return rc;
}

static void rtmp_hls_postconfiguration()
{
    rtmp_hls_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_hls_publish;
    rtmp_hls_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_hls_close_stream;
    rtmp_hls_next_media = rtmp_media_handler;
    rtmp_media_handler = rtmp_hls_media;
}

// The worker stops: open segments are finished into their playlists, which stay (a
// publisher that comes back continues them); what already left a playlist goes.
static void rtmp_hls_exit_worker(rtmp_cycle_t *)
{
    while (rtmp_hls_streams) {
        rtmp_hls_stream_t *hs = rtmp_hls_streams;
        if (hs->st) {
            rtmp_hls_detach(hs, true);
        }
        while (hs->npending > 0) {
            rtmp_hls_pending_pop(hs);
        }
        rtmp_hls_free(hs);
    }
}

static rtmp_int_t rtmp_hls_init_worker(rtmp_cycle_t *cycle)
{
    for (size_t i = 0; i < cycle->nservers; i++) {
        rtmp_conf_srv_t *srv = cycle->servers[i];
        for (size_t a = 0; a < srv->napps; a++) {
            rtmp_conf_app_t *app = srv->apps[a];
            rtmp_hls_app_conf_t *hcf = rtmp_hls_app_conf(app);
            if (hcf->hls) {
                rtmp_path_check_dir(app->file, app->line, "hls_path", hcf->path.sv());
            }
        }
    }
    return RTMP_OK;
}

rtmp_module_t rtmp_hls_module = {
    .name = "hls",
    .index = 0,
    .directives = rtmp_hls_directives,
    .create_app_conf = rtmp_hls_create_app_conf,
    .merge_app_conf = rtmp_hls_merge_app_conf,
    .postconfiguration = rtmp_hls_postconfiguration,
    .init_worker = rtmp_hls_init_worker,
    .exit_worker = rtmp_hls_exit_worker,
};
