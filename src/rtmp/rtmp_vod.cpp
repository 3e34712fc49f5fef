// VOD: FLV and MP4 files played over RTMP from the play directories, with seek and pause.
//
// A play of a name that resolves to a file under one of the application's `play`
// directories is taken here; any other name goes on down the chain (live), so one
// application may serve both. The file is read in small pieces from the worker loop: a
// timer sends each message when its timestamp is due, RTMP_VOD_LEAD ahead of real time,
// and never lets more than RTMP_VOD_QUEUE bytes wait for the socket.
#include "rtmp/rtmp_vod.h"
#include "core/rtmp_time.h"
#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_control.h"
#include "rtmp/rtmp_flv_reader.h"
#include "rtmp/rtmp_mp4.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// How far ahead of real time messages go out (nginx-rtmp's play buffer does the same).
static constexpr rtmp_msec_t RTMP_VOD_LEAD = 500;
// Bytes that may wait in the player's queue; past it the timer waits for the socket.
static constexpr size_t RTMP_VOD_QUEUE = 2 * 1024 * 1024;
// Messages sent per timer run, so one player cannot hold the worker.
static constexpr uint32_t RTMP_VOD_BATCH = 64;
// The largest tag or sample sent (an FLV tag cannot be larger anyway).
static constexpr uint32_t RTMP_VOD_MAX_MESSAGE = 16 * 1024 * 1024;
// Tags an FLV without a keyframe index is scanned through to seek.
static constexpr uint32_t RTMP_VOD_SCAN_TAGS = 1 << 20;
// Leading FLV tags looked through for metadata and sequence headers.
static constexpr uint32_t RTMP_VOD_HEADER_TAGS = 64;

struct rtmp_vod_app_conf_t {
    rtmp_str_t *dirs;
    bool *unusable;   // per directory, in this worker: its failure was logged
    rtmp_int_t ndirs; // RTMP_CONF_UNSET: inherited
};

enum rtmp_vod_header { RTMP_VOD_META, RTMP_VOD_VIDEO, RTMP_VOD_AUDIO, RTMP_VOD_HEADERS };

typedef struct rtmp_vod_ctx_s rtmp_vod_ctx_t;
struct rtmp_vod_ctx_s {
    rtmp_session_t *s;
    rtmp_stream_t *st;
    int fd;
    rtmp_media_file_t file;
    char path[RTMP_VOD_MAX_PATH + 1]; // as found under its directory, for the log
    bool mp4;
    rtmp_mp4_t m;
    uint64_t flv_first; // the first tag
    uint64_t flv_pos;   // the next tag
    rtmp_flv_file_meta_t meta;
    rtmp_pool_t *pool; // the keyframe index
    uint32_t duration_ms;
    rtmp_frame_t *headers[RTMP_VOD_HEADERS];

    rtmp_frame_t *next; // read, waiting until it is due
    u_char *buf;
    size_t cap;

    rtmp_msec_t epoch; // when the message of timestamp base is due
    uint32_t base;
    rtmp_msec_t paused_at;
    bool paused;
    bool done;
    rtmp_event_t ev;
    rtmp_msec_t started;
    uint64_t messages;
};

static rtmp_play_pt rtmp_vod_next_play;
static rtmp_close_stream_pt rtmp_vod_next_close_stream;
static rtmp_pause_pt rtmp_vod_next_pause;
static rtmp_seek_pt rtmp_vod_next_seek;

static rtmp_vod_app_conf_t *rtmp_vod_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_vod_app_conf_t *>(app->app_conf[rtmp_vod_module.index]);
}

static rtmp_vod_ctx_t *rtmp_vod_ctx(rtmp_stream_t *st)
{
    return static_cast<rtmp_vod_ctx_t *>(st->ctx[rtmp_vod_module.index]);
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_vod_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_vod_app_conf_t>(cf->pool);
    c->ndirs = RTMP_CONF_UNSET;
    return c;
}

static const char *rtmp_vod_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_vod_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_vod_app_conf_t *>(child);
    if (c->ndirs == RTMP_CONF_UNSET) {
        c->dirs = p->dirs;
        c->unusable = p->unusable;
        c->ndirs = p->ndirs == RTMP_CONF_UNSET ? 0 : p->ndirs;
    }
    return nullptr;
}

// play = "DIR" or ( "DIR", ... ): searched in order.
static const char *rtmp_vod_set_dirs(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                     config_setting_t *s, void *conf)
{
    auto *vcf = static_cast<rtmp_vod_app_conf_t *>(conf);
    static const char *expected = "a directory or a list of them";
    int type = config_setting_type(s);
    bool list = type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
    if (type != CONFIG_TYPE_STRING && !list) {
        return expected;
    }
    int n = list ? config_setting_length(s) : 1;
    vcf->dirs = n ? rtmp_palloc<rtmp_str_t>(cf->pool, (size_t)n) : nullptr;
    vcf->unusable = n ? rtmp_palloc<bool>(cf->pool, (size_t)n) : nullptr;
    vcf->ndirs = n;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = list ? config_setting_get_elem(s, (unsigned)i) : s;
        std::string_view v = rtmp_conf_string(e);
        if (config_setting_type(e) != CONFIG_TYPE_STRING || v.empty() || v.size() > 4096) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s", d->name, expected);
            return "";
        }
        vcf->dirs[i] = rtmp_pstr(cf->pool, v);
        // allowed (a disk may be mounted later), but every play from it would fail until then
        const char *path = reinterpret_cast<const char *>(vcf->dirs[i].data);
        struct stat st;
        const char *why = stat(path, &st) == -1             ? strerror(errno)
                          : !S_ISDIR(st.st_mode)            ? "not a directory"
                          : access(path, R_OK | X_OK) == -1 ? strerror(errno)
                                                            : nullptr;
        if (why) {
            rtmp_conf_warn(cf, config_setting_source_file(e), config_setting_source_line(e),
                           "play directory \"%s\": %s", path, why);
        }
    }
    return nullptr;
}

#define VOD_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_vod_directives[] = {
    {"play", VOD_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0, rtmp_vod_set_dirs},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- names --------------------------------------------------------------------------------

static bool rtmp_vod_ends_with(std::string_view s, std::string_view suffix)
{
    if (s.size() < suffix.size()) {
        return false;
    }
    for (size_t i = 0; i < suffix.size(); i++) {
        char c = s[s.size() - suffix.size() + i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != suffix[i]) {
            return false;
        }
    }
    return true;
}

int rtmp_vod_candidates(std::string_view name, char out[2][RTMP_VOD_MAX_PATH + 1])
{
    std::string_view prefix;
    if (name.starts_with("mp4:") || name.starts_with("flv:")) {
        prefix = name.substr(0, 3);
        name.remove_prefix(4);
    }
    if (name.empty() || name.size() > RTMP_MAX_NAME || name.front() == '/') {
        return -1;
    }
    for (char c : name) {
        if (rtmp_is_control((u_char)c) || c == '\\') {
            return -1;
        }
    }
    // every component: not empty, not "." nor ".."
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('/', start);
        std::string_view part =
            name.substr(start, end == std::string_view::npos ? end : end - start);
        if (part.empty() || part == "." || part == "..") {
            return -1;
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    static constexpr std::string_view known[] = {".flv", ".mp4", ".m4v", ".m4a",
                                                 ".mov", ".f4v", ".3gp"};
    bool has_ext = false;
    for (std::string_view e : known) {
        has_ext = has_ext || rtmp_vod_ends_with(name, e);
    }
    int n = 0;
    auto add = [&](std::string_view ext) {
        snprintf(out[n++], RTMP_VOD_MAX_PATH + 1, "%.*s%.*s", (int)name.size(), name.data(),
                 (int)ext.size(), ext.data());
    };
    if (has_ext) {
        add("");
    } else if (prefix == "mp4") {
        add(".mp4");
    } else if (prefix == "flv") {
        add(".flv");
    } else {
        add(".flv");
        add(".mp4");
    }
    return n;
}

// Opens `path` beneath `dir`: the kernel refuses any resolution that leaves it, through
// ".." or a symbolic link (RESOLVE_BENEATH); a link that stays inside is followed. Where
// openat2 is missing (Linux before 5.6), only names without '/' are opened, and never
// through a link (O_NOFOLLOW).
static int rtmp_vod_open_beneath(int dir, const char *path)
{
    struct open_how how = {};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS) {
        return fd;
    }
    if (strchr(path, '/')) {
        errno = ENOENT;
        return -1;
    }
    return openat(dir, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
}

// Finds the file for a name: each directory in order, each candidate in order.
static int rtmp_vod_find(rtmp_session_t *s, rtmp_vod_app_conf_t *vcf, int n,
                         char cand[2][RTMP_VOD_MAX_PATH + 1], char *found)
{
    for (rtmp_int_t d = 0; d < vcf->ndirs; d++) {
        int dir = open((const char *)vcf->dirs[d].data, O_PATH | O_DIRECTORY | O_CLOEXEC);
        // logged when it fails and when it is back, not at every play: an unmounted disk
        // would cost a line per viewer
        if (dir < 0) {
            if (!vcf->unusable[d]) {
                rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0,
                               "play directory \"%s\": %s (logged again once it is back)",
                               vcf->dirs[d].data, strerror(errno));
                vcf->unusable[d] = true;
            }
            continue;
        }
        if (vcf->unusable[d]) {
            rtmp_log_error(RTMP_LOG_NOTICE, &s->c->log, 0, "play directory \"%s\" is back",
                           vcf->dirs[d].data);
            vcf->unusable[d] = false;
        }
        for (int i = 0; i < n; i++) {
            int fd = rtmp_vod_open_beneath(dir, cand[i]);
            if (fd < 0) {
                // RESOLVE_BENEATH answers a way out with EXDEV
                if (errno == EXDEV) {
                    rtmp_log_error(RTMP_LOG_NOTICE, &s->c->log, 0,
                                   "play: \"%s\" in \"%s\" refused: a link leads out of the "
                                   "directory",
                                   cand[i], vcf->dirs[d].data);
                } else if (errno != ENOENT && errno != ENOTDIR) {
                    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, errno, "play: \"%s\" in \"%s\"",
                                   cand[i], vcf->dirs[d].data);
                }
                continue;
            }
            close(dir);
            memcpy(found, cand[i], strlen(cand[i]) + 1);
            return fd;
        }
        close(dir);
    }
    return -1;
}

// ---- messages -----------------------------------------------------------------------------

static rtmp_int_t rtmp_vod_status(rtmp_vod_ctx_t *ctx, const char *level, const char *code,
                                  const char *description)
{
    u_char data[RTMP_MAX_NAME + 256];
    rtmp_buf_t b = {};
    b.start = b.pos = b.last = data;
    b.end = data + sizeof(data);
    rtmp_cmd_status_t st = {level, code, description, ctx->st->name, {}};
    if (rtmp_cmd_on_status(&b, &st) != RTMP_OK) {
        return RTMP_ERROR;
    }
    rtmp_message_t m;
    m.h.csid = 5;
    m.h.timestamp = 0;
    m.h.mlen = (uint32_t)rtmp_buf_size(&b);
    m.h.type = RTMP_MSG_AMF_CMD;
    m.h.msid = ctx->st->msid;
    m.payload = rtmp_buf_span(&b);
    return rtmp_session_send_message(ctx->s, &m);
}

static rtmp_int_t rtmp_vod_user(rtmp_vod_ctx_t *ctx, rtmp_user_event event)
{
    rtmp_control_buf_t cb;
    return rtmp_session_send_control(ctx->s, rtmp_control_user(&cb, event, ctx->st->msid));
}

// A message of the file as a frame for this player.
static rtmp_frame_t *rtmp_vod_frame(rtmp_vod_ctx_t *ctx, uint8_t type, uint32_t ts,
                                    std::span<const u_char> payload, uint8_t flags)
{
    rtmp_message_t m;
    m.h.csid = type == RTMP_MSG_VIDEO   ? RTMP_CSID_VIDEO
               : type == RTMP_MSG_AUDIO ? RTMP_CSID_AUDIO
                                        : RTMP_CSID_DATA;
    m.h.timestamp = ts;
    m.h.mlen = (uint32_t)payload.size();
    m.h.type = type;
    m.h.msid = RTMP_FRAME_MSID;
    m.payload = payload;
    return rtmp_frame_create(&m, ctx->s->writer.chunk_size, flags);
}

static u_char *rtmp_vod_buf(rtmp_vod_ctx_t *ctx, size_t size)
{
    if (size > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : 64 * 1024;
        while (cap < size) {
            cap *= 2;
        }
        ctx->buf = static_cast<u_char *>(rtmp_realloc(ctx->buf, cap));
        ctx->cap = cap;
    }
    return ctx->buf;
}

// onMetaData for an MP4: what players show and size their picture by.
static rtmp_frame_t *rtmp_vod_mp4_meta(rtmp_vod_ctx_t *ctx)
{
    rtmp_amf_prop_t props[10];
    uint32_t n = 0;
    props[n++] = rtmp_amf_prop("duration", rtmp_amf_number(ctx->m.duration_ms / 1000.0));
    const rtmp_mp4_track_t *v = &ctx->m.video, *a = &ctx->m.audio;
    if (v->codec != rtmp_mp4_codec::none) {
        props[n++] = rtmp_amf_prop("width", rtmp_amf_number(v->width));
        props[n++] = rtmp_amf_prop("height", rtmp_amf_number(v->height));
        props[n++] = rtmp_amf_prop("videocodecid", v->codec == rtmp_mp4_codec::avc
                                                       ? rtmp_amf_number(7)
                                                       : rtmp_amf_string("hvc1"));
    }
    if (a->codec != rtmp_mp4_codec::none) {
        props[n++] = rtmp_amf_prop("audiocodecid", rtmp_amf_number(10));
        props[n++] = rtmp_amf_prop("audiosamplerate", rtmp_amf_number(a->sample_rate));
        props[n++] = rtmp_amf_prop("stereo", rtmp_amf_bool(a->channels >= 2));
    }
    u_char data[1024];
    rtmp_buf_t b = {};
    b.start = b.pos = b.last = data;
    b.end = data + sizeof(data);
    rtmp_amf_value_t obj = rtmp_amf_object(props, n);
    if (rtmp_amf0_write_string(&b, "onMetaData") != RTMP_OK ||
        rtmp_amf0_encode(&b, &obj) != RTMP_OK) {
        return nullptr;
    }
    return rtmp_vod_frame(ctx, RTMP_MSG_AMF_META, 0, rtmp_buf_span(&b), RTMP_FRAME_HEADER);
}

// ---- opening ------------------------------------------------------------------------------

static rtmp_int_t rtmp_vod_open_mp4(rtmp_vod_ctx_t *ctx, const char **err)
{
    if (rtmp_mp4_open(&ctx->m, &ctx->file, err) != RTMP_OK) {
        return RTMP_ERROR;
    }
    ctx->mp4 = true;
    ctx->duration_ms = ctx->m.duration_ms;
    ctx->headers[RTMP_VOD_META] = rtmp_vod_mp4_meta(ctx);
    rtmp_mp4_track_t *tracks[2] = {&ctx->m.video, &ctx->m.audio};
    for (int i = 0; i < 2; i++) {
        rtmp_mp4_track_t *t = tracks[i];
        if (t->codec == rtmp_mp4_codec::none) {
            continue;
        }
        u_char *p = rtmp_vod_buf(ctx, t->config.size() + 8);
        size_t len = rtmp_mp4_flv_header(t, p, ctx->cap);
        if (len) {
            ctx->headers[i ? RTMP_VOD_AUDIO : RTMP_VOD_VIDEO] =
                rtmp_vod_frame(ctx, i ? RTMP_MSG_AUDIO : RTMP_MSG_VIDEO, 0, {p, len},
                               RTMP_FRAME_HEADER | (i ? RTMP_FRAME_AUDIO : RTMP_FRAME_VIDEO));
        }
    }
    return RTMP_OK;
}

// Reads the leading tags up to the first frame: metadata (with the keyframe index) and
// the sequence headers, kept to be sent again after a seek.
static rtmp_int_t rtmp_vod_open_flv(rtmp_vod_ctx_t *ctx, const char **err)
{
    if (rtmp_flv_open(&ctx->file, &ctx->flv_first, err) != RTMP_OK) {
        return RTMP_ERROR;
    }
    uint64_t off = ctx->flv_first;
    rtmp_flv_tag_t t;
    for (uint32_t i = 0; i < RTMP_VOD_HEADER_TAGS; i++) {
        rtmp_int_t rc = rtmp_flv_read_tag(&ctx->file, off, RTMP_VOD_MAX_MESSAGE, &t, err);
        if (rc == RTMP_DONE) {
            break;
        }
        if (rc != RTMP_OK) {
            return RTMP_ERROR;
        }
        if (!t.header) {
            break;
        }
        u_char *p = rtmp_vod_buf(ctx, t.size);
        if (rtmp_flv_read_body(&ctx->file, &t, p) != RTMP_OK) {
            *err = "read error";
            return RTMP_ERROR;
        }
        int slot = t.type == RTMP_FLV_SCRIPT  ? RTMP_VOD_META
                   : t.type == RTMP_FLV_VIDEO ? RTMP_VOD_VIDEO
                                              : RTMP_VOD_AUDIO;
        if (slot == RTMP_VOD_META) {
            if (ctx->pool == nullptr) {
                ctx->pool = rtmp_pool_create(4096, &ctx->s->c->log);
            }
            rtmp_flv_file_meta_t meta;
            if (rtmp_flv_parse_meta(ctx->pool, {p, t.size}, &meta) != RTMP_OK) {
                break; // another data tag (onCuePoint...): played from here as it comes
            }
            ctx->meta = meta;
            ctx->duration_ms = (uint32_t)(meta.duration * 1000);
        }
        if (ctx->headers[slot]) {
            rtmp_frame_unref(ctx->headers[slot]);
        }
        uint8_t flags = RTMP_FRAME_HEADER | (slot == RTMP_VOD_VIDEO   ? RTMP_FRAME_VIDEO
                                             : slot == RTMP_VOD_AUDIO ? RTMP_FRAME_AUDIO
                                                                      : 0);
        ctx->headers[slot] = rtmp_vod_frame(ctx, t.type, t.timestamp, {p, t.size}, flags);
        off = t.next;
    }
    ctx->flv_pos = off;
    return RTMP_OK;
}

// ---- pacing -------------------------------------------------------------------------------

static void rtmp_vod_enqueue(rtmp_vod_ctx_t *ctx, rtmp_frame_t *f)
{
    rtmp_stream_t *st = ctx->st;
    if (f == nullptr || ((f->flags & RTMP_FRAME_VIDEO) && !st->receive_video) ||
        ((f->flags & RTMP_FRAME_AUDIO) && !st->receive_audio)) {
        return;
    }
    rtmp_session_enqueue(ctx->s, f, st->msid, true);
}

// Reads the next message into ctx->next; RTMP_DONE at the end of the file.
static rtmp_int_t rtmp_vod_read(rtmp_vod_ctx_t *ctx, const char **err)
{
    if (ctx->mp4) {
        rtmp_mp4_sample_t smp;
        if (rtmp_mp4_next(&ctx->m, &smp) != RTMP_OK) {
            return RTMP_DONE;
        }
        if (smp.size > RTMP_VOD_MAX_MESSAGE) {
            *err = "MP4 sample larger than allowed";
            return RTMP_ERROR;
        }
        u_char *p = rtmp_vod_buf(ctx, (size_t)smp.size + 8);
        size_t pre = rtmp_mp4_flv_prefix(&smp, p);
        if (!rtmp_media_file_read(&ctx->file, p + pre, smp.size, smp.offset)) {
            return RTMP_DONE; // cut short: played up to here
        }
        bool video = smp.track == &ctx->m.video;
        uint8_t flags = video ? RTMP_FRAME_VIDEO : RTMP_FRAME_AUDIO;
        flags |= smp.key && video ? RTMP_FRAME_KEY : 0;
        ctx->next = rtmp_vod_frame(ctx, video ? RTMP_MSG_VIDEO : RTMP_MSG_AUDIO, smp.dts,
                                   {p, pre + smp.size}, flags);
        return ctx->next ? RTMP_OK : RTMP_ERROR;
    }
    rtmp_flv_tag_t t;
    rtmp_int_t rc = rtmp_flv_read_tag(&ctx->file, ctx->flv_pos, RTMP_VOD_MAX_MESSAGE, &t, err);
    if (rc != RTMP_OK) {
        return rc;
    }
    u_char *p = rtmp_vod_buf(ctx, t.size);
    if (rtmp_flv_read_body(&ctx->file, &t, p) != RTMP_OK) {
        return RTMP_DONE;
    }
    ctx->flv_pos = t.next;
    uint8_t flags = t.type == RTMP_FLV_VIDEO   ? RTMP_FRAME_VIDEO
                    : t.type == RTMP_FLV_AUDIO ? RTMP_FRAME_AUDIO
                                               : 0;
    flags |= (t.key ? RTMP_FRAME_KEY : 0) | (t.header ? RTMP_FRAME_HEADER : 0);
    ctx->next = rtmp_vod_frame(ctx, t.type, t.timestamp, {p, t.size}, flags);
    return ctx->next ? RTMP_OK : RTMP_ERROR;
}

// The end of the file: what Flash, ffmpeg and librtmp each take as "finished".
static void rtmp_vod_complete(rtmp_vod_ctx_t *ctx)
{
    ctx->done = true;
    u_char data[256];
    rtmp_buf_t b = {};
    b.start = b.pos = b.last = data;
    b.end = data + sizeof(data);
    rtmp_amf_prop_t props[4] = {
        rtmp_amf_prop("level", rtmp_amf_string("status")),
        rtmp_amf_prop("code", rtmp_amf_string("NetStream.Play.Complete")),
        rtmp_amf_prop("duration", rtmp_amf_number(ctx->duration_ms / 1000.0)),
        rtmp_amf_prop("bytes", rtmp_amf_number((double)ctx->file.size)),
    };
    rtmp_amf_value_t obj = rtmp_amf_object(props, 4);
    if (rtmp_amf0_write_string(&b, "onPlayStatus") == RTMP_OK &&
        rtmp_amf0_encode(&b, &obj) == RTMP_OK) {
        rtmp_message_t m;
        m.h.csid = 5;
        m.h.timestamp = 0;
        m.h.mlen = (uint32_t)rtmp_buf_size(&b);
        m.h.type = RTMP_MSG_AMF_META;
        m.h.msid = ctx->st->msid;
        m.payload = rtmp_buf_span(&b);
        (void)rtmp_session_send_message(ctx->s, &m);
    }
    // ffmpeg ends on Play.Stop, librtmp on Play.Complete or Stream EOF
    (void)rtmp_vod_user(ctx, RTMP_USER_STREAM_EOF);
    (void)rtmp_vod_status(ctx, "status", "NetStream.Play.Stop", "Stopped playing");
    rtmp_event_post(ctx->s->c->write);
    rtmp_log_error(RTMP_LOG_INFO, &ctx->s->c->log, 0,
                   "play \"%s/%s\": end of file \"%s\" after %llu messages", ctx->s->app->name.data,
                   ctx->st->name, ctx->path, (unsigned long long)ctx->messages);
}

static void rtmp_vod_pump(rtmp_event_t *ev)
{
    auto *ctx = static_cast<rtmp_vod_ctx_t *>(ev->data);
    rtmp_session_t *s = ctx->s;
    ev->timedout = 0;
    if (s->state == rtmp_session_state::closing || ctx->paused || ctx->done) {
        return;
    }
    rtmp_msec_t now = rtmp_current_msec;
    rtmp_msec_t wait = 20; // while the socket drains
    for (uint32_t i = 0; i < RTMP_VOD_BATCH; i++) {
        if (ctx->next == nullptr) {
            const char *err = nullptr;
            rtmp_int_t rc = rtmp_vod_read(ctx, &err);
            if (rc == RTMP_ERROR) {
                rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0, "play \"%s\": %s: file ends here",
                               ctx->path, err ? err : "cannot make a message");
            }
            if (rc != RTMP_OK) {
                rtmp_vod_complete(ctx);
                return;
            }
        }
        uint32_t ts = ctx->next->timestamp;
        rtmp_msec_t due = ctx->epoch + (ts > ctx->base ? ts - ctx->base : 0);
        if (due > now + RTMP_VOD_LEAD) {
            wait = due - now - RTMP_VOD_LEAD;
            break;
        }
        if (s->qbytes > RTMP_VOD_QUEUE) {
            break;
        }
        rtmp_vod_enqueue(ctx, ctx->next);
        rtmp_frame_unref(ctx->next);
        ctx->next = nullptr;
        ctx->messages++;
        wait = 0;
    }
    rtmp_event_add_timer(ev, wait > 100 ? 100 : wait);
}

// Starts sending from the current position, its timestamp `base` due now.
static void rtmp_vod_restart(rtmp_vod_ctx_t *ctx, uint32_t base)
{
    if (ctx->next) {
        rtmp_frame_unref(ctx->next);
        ctx->next = nullptr;
    }
    ctx->base = base;
    ctx->epoch = rtmp_current_msec;
    ctx->done = false;
    rtmp_event_del_timer(&ctx->ev);
    if (ctx->paused) {
        ctx->paused_at = ctx->epoch; // a seek while paused: the clock starts at unpause
    } else {
        rtmp_event_add_timer(&ctx->ev, 0);
    }
}

// Moves the reading position to the key frame at or before `target` ms; returns its time.
static uint32_t rtmp_vod_position(rtmp_vod_ctx_t *ctx, uint64_t target)
{
    uint32_t key = 0;
    if (ctx->mp4) {
        rtmp_mp4_seek(&ctx->m, target, &key);
        return key;
    }
    const char *err = nullptr;
    uint64_t pos = 0;
    bool indexed = false;
    int64_t i = rtmp_flv_meta_find(&ctx->meta, target);
    rtmp_flv_tag_t t;
    // an entry is trusted only when it points at a key frame's tag at or before the
    // time: ffmpeg writes the index's times without the file's start offset
    for (; i >= 0 && !indexed; i--) {
        pos = ctx->meta.key_offsets[i];
        indexed = rtmp_flv_read_tag(&ctx->file, pos, RTMP_VOD_MAX_MESSAGE, &t, &err) == RTMP_OK &&
                  t.offset == pos && t.key && t.timestamp <= target;
    }
    if (!indexed && rtmp_flv_scan_key(&ctx->file, ctx->flv_first, target, RTMP_VOD_SCAN_TAGS, &pos,
                                      &err) != RTMP_OK) {
        pos = ctx->flv_first;
    }
    ctx->flv_pos = pos;
    if (rtmp_flv_read_tag(&ctx->file, pos, RTMP_VOD_MAX_MESSAGE, &t, &err) == RTMP_OK) {
        key = t.timestamp;
    }
    rtmp_log_debug(&ctx->s->c->log, "seek %llu: %s", (unsigned long long)target,
                   indexed ? "index" : "scan");
    return key;
}

// ---- the chain ----------------------------------------------------------------------------

static void rtmp_vod_free(rtmp_vod_ctx_t *ctx)
{
    rtmp_event_del_timer(&ctx->ev);
    for (rtmp_frame_t *&f : ctx->headers) {
        if (f) {
            rtmp_frame_unref(f);
            f = nullptr;
        }
    }
    if (ctx->next) {
        rtmp_frame_unref(ctx->next);
    }
    if (ctx->mp4) {
        rtmp_mp4_close(&ctx->m);
    }
    if (ctx->pool) {
        rtmp_pool_destroy(ctx->pool);
    }
    if (ctx->fd >= 0) {
        close(ctx->fd);
    }
    ctx->st->ctx[rtmp_vod_module.index] = nullptr;
    rtmp_free(ctx->buf);
    rtmp_free(ctx);
}

static rtmp_int_t rtmp_vod_not_found(rtmp_session_t *s, rtmp_stream_t *st, const char *why)
{
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s/%s\" refused: %s", s->app->name.data,
                   st->name, why);
    return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_stream_not_found, st->name);
}

static rtmp_int_t rtmp_vod_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_vod_app_conf_t *vcf = rtmp_vod_app_conf(s->app);
    if (vcf->ndirs == 0) {
        return rtmp_vod_next_play(s, st);
    }
    if (rtmp_vod_ctx(st)) {
        rtmp_vod_free(rtmp_vod_ctx(st)); // play again on the same stream: start over
    }
    char cand[2][RTMP_VOD_MAX_PATH + 1];
    int n = rtmp_vod_candidates(st->name, cand);
    if (n < 0) {
        return rtmp_vod_not_found(s, st, "the name could leave the play directories");
    }
    char found[RTMP_VOD_MAX_PATH + 1];
    int fd = rtmp_vod_find(s, vcf, n, cand, found);
    if (fd < 0) {
        return rtmp_vod_next_play(s, st); // not a file: perhaps a live stream
    }
    auto *ctx = static_cast<rtmp_vod_ctx_t *>(rtmp_calloc(sizeof(rtmp_vod_ctx_t)));
    ctx->s = s;
    ctx->st = st;
    ctx->fd = fd;
    ctx->started = rtmp_current_msec;
    memcpy(ctx->path, found, sizeof(found));
    ctx->ev.data = ctx;
    ctx->ev.handler = rtmp_vod_pump;
    ctx->ev.log = &s->c->log;
    st->ctx[rtmp_vod_module.index] = ctx;

    // the content decides, not the name: a .flv may hold MP4 and the other way round
    const char *err = "not a regular file";
    u_char head[8] = {};
    rtmp_int_t rc = rtmp_media_file_fd(&ctx->file, fd);
    if (rc == RTMP_OK) {
        bool read = rtmp_media_file_read(&ctx->file, head, sizeof(head), 0);
        if (read && memcmp(head, "FLV", 3) == 0) {
            rc = rtmp_vod_open_flv(ctx, &err);
        } else if (read && rtmp_mp4_sniff(head)) {
            rc = rtmp_vod_open_mp4(ctx, &err);
        } else {
            err = "neither an FLV nor an MP4 file";
            rc = RTMP_ERROR;
        }
    }
    if (rc != RTMP_OK) {
        rtmp_vod_free(ctx);
        char why[RTMP_VOD_MAX_PATH + 128];
        snprintf(why, sizeof(why), "\"%s\": %s", found, err);
        return rtmp_vod_not_found(s, st, why);
    }
    st->state = rtmp_stream_state::playing;
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s/%s\": file \"%s\" (%s, %.1fs)",
                   s->app->name.data, st->name, found, ctx->mp4 ? "mp4" : "flv",
                   ctx->duration_ms / 1000.0);
    if (rtmp_vod_user(ctx, RTMP_USER_STREAM_BEGIN) != RTMP_OK ||
        rtmp_vod_status(ctx, "status", "NetStream.Play.Reset", "Playing and resetting") !=
            RTMP_OK ||
        rtmp_vod_status(ctx, "status", "NetStream.Play.Start", "Started playing") != RTMP_OK ||
        rtmp_session_sample_access(s, st->msid) != RTMP_OK) {
        return RTMP_ERROR;
    }
    for (rtmp_frame_t *f : ctx->headers) {
        rtmp_vod_enqueue(ctx, f);
    }
    // play's start argument: a position in the file (-2 and -1 mean "live", so the start)
    uint32_t base = 0;
    if (st->start > 0 && st->start < 1e12) {
        base = rtmp_vod_position(ctx, (uint64_t)st->start);
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s\": starts at %.0fms, from %ums",
                       ctx->path, st->start, base);
    }
    rtmp_vod_restart(ctx, base);
    return RTMP_OK;
}

static rtmp_int_t rtmp_vod_seek(rtmp_session_t *s, rtmp_stream_t *st, double ms)
{
    rtmp_vod_ctx_t *ctx = rtmp_vod_ctx(st);
    if (ctx == nullptr) {
        return rtmp_vod_next_seek(s, st, ms);
    }
    uint64_t target = ms > 0 && ms < 1e12 ? (uint64_t)ms : 0;
    uint32_t key = rtmp_vod_position(ctx, target);
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s\": seek to %llums lands at %ums",
                   ctx->path, (unsigned long long)target, key);
    if (rtmp_vod_user(ctx, RTMP_USER_STREAM_BEGIN) != RTMP_OK ||
        rtmp_vod_status(ctx, "status", "NetStream.Seek.Notify", "Seeking") != RTMP_OK ||
        rtmp_vod_status(ctx, "status", "NetStream.Play.Start", "Started playing") != RTMP_OK) {
        return RTMP_ERROR;
    }
    // a decoder that lost its place takes the headers again
    rtmp_vod_enqueue(ctx, ctx->headers[RTMP_VOD_VIDEO]);
    rtmp_vod_enqueue(ctx, ctx->headers[RTMP_VOD_AUDIO]);
    rtmp_vod_restart(ctx, key);
    return RTMP_OK;
}

static rtmp_int_t rtmp_vod_pause(rtmp_session_t *s, rtmp_stream_t *st, bool pause, double ms)
{
    rtmp_vod_ctx_t *ctx = rtmp_vod_ctx(st);
    if (ctx == nullptr) {
        return rtmp_vod_next_pause(s, st, pause, ms);
    }
    if (pause && !ctx->paused) {
        ctx->paused = true;
        ctx->paused_at = rtmp_current_msec;
        rtmp_event_del_timer(&ctx->ev);
    } else if (!pause && ctx->paused) {
        // the clock restarts where it stopped: nothing is due at once but the lead
        ctx->epoch += rtmp_current_msec - ctx->paused_at;
        ctx->paused = false;
        rtmp_event_add_timer(&ctx->ev, 0);
    }
    return pause ? rtmp_vod_status(ctx, "status", "NetStream.Pause.Notify", "Paused")
                 : rtmp_vod_status(ctx, "status", "NetStream.Unpause.Notify", "Unpaused");
}

static void rtmp_vod_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_vod_ctx_t *ctx = rtmp_vod_ctx(st);
    if (ctx) {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                       "play ended \"%s/%s\": file \"%s\", %.1fs, %llu messages", s->app->name.data,
                       st->name, ctx->path, (double)(rtmp_current_msec - ctx->started) / 1000.0,
                       (unsigned long long)ctx->messages);
        rtmp_vod_free(ctx);
    }
    rtmp_vod_next_close_stream(s, st);
}

static void rtmp_vod_postconfiguration()
{
    rtmp_vod_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_vod_play;
    rtmp_vod_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_vod_close_stream;
    rtmp_vod_next_pause = rtmp_pause_handler;
    rtmp_pause_handler = rtmp_vod_pause;
    rtmp_vod_next_seek = rtmp_seek_handler;
    rtmp_seek_handler = rtmp_vod_seek;
}

rtmp_module_t rtmp_vod_module = {
    .name = "vod",
    .index = 0,
    .directives = rtmp_vod_directives,
    .create_app_conf = rtmp_vod_create_app_conf,
    .merge_app_conf = rtmp_vod_merge_app_conf,
    .postconfiguration = rtmp_vod_postconfiguration,
};
