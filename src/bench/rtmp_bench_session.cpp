// rtmp_bench: one client connection (publisher, player or idle) driven by epoll readiness.
#include "rtmp_bench.h"

#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_cmd.h"
#include "rtmp/rtmp_control.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

rtmp_bench_ctx_t rtmp_bench_ctx;

// Chunk streams as ffmpeg lays them out; any distinct ids would do.
static constexpr uint32_t RTMP_BENCH_CSID_CMD = 3;
static constexpr uint32_t RTMP_BENCH_CSID_AUDIO = 4;
static constexpr uint32_t RTMP_BENCH_CSID_DATA = 5;
static constexpr uint32_t RTMP_BENCH_CSID_VIDEO = 6;
static constexpr uint32_t RTMP_BENCH_CSID_STREAM = 8;

static constexpr size_t RTMP_BENCH_OUT_PLAYER = 2048;
static constexpr size_t RTMP_BENCH_OUT_PUBLISHER = 256 * 1024;
// A publisher whose unsent bytes pass this is not being read by the server.
static constexpr size_t RTMP_BENCH_OUT_MAX = 32 * 1024 * 1024;
// Per wakeup, so one busy connection cannot starve the others (epoll is level-triggered).
static constexpr size_t RTMP_BENCH_READ_CAP = 1024 * 1024;

static constexpr uint64_t RTMP_BENCH_SETUP_TIMEOUT = 10 * 1000000ULL;
static constexpr uint64_t RTMP_BENCH_KEY_TIMEOUT = 15 * 1000000ULL;

// Transaction ids of our own calls.
static constexpr double RTMP_BENCH_TID_CONNECT = 1;
static constexpr double RTMP_BENCH_TID_CREATE = 4;

const char *rtmp_bench_state_name(rtmp_bench_state state)
{
    switch (state) {
    case rtmp_bench_state::free:
        return "free";
    case rtmp_bench_state::connecting:
        return "tcp connect";
    case rtmp_bench_state::handshake:
        return "handshake";
    case rtmp_bench_state::connect:
        return "connect";
    case rtmp_bench_state::create:
        return "createStream";
    case rtmp_bench_state::start:
        return "publish/play";
    case rtmp_bench_state::active:
        return "active";
    case rtmp_bench_state::done:
        return "done";
    case rtmp_bench_state::failed:
        return "failed";
    }
    return "?";
}

static const char *rtmp_bench_role_name(rtmp_bench_role role)
{
    switch (role) {
    case rtmp_bench_role::publisher:
        return "publisher";
    case rtmp_bench_role::player:
        return "player";
    case rtmp_bench_role::idle:
        return "idle";
    }
    return "?";
}

// Error reasons name slow readers apart: their disconnections are an expected outcome.
static const char *rtmp_bench_who(const rtmp_bench_session_t *s)
{
    return s->slow && s->role == rtmp_bench_role::player ? "slow player"
                                                         : rtmp_bench_role_name(s->role);
}

static bool rtmp_bench_in_setup(rtmp_bench_state state)
{
    return state == rtmp_bench_state::connecting || state == rtmp_bench_state::handshake;
}

// Leaves connecting/handshake (for the connect pacing) exactly once.
static void rtmp_bench_set_state(rtmp_bench_session_t *s, rtmp_bench_state state)
{
    if (rtmp_bench_in_setup(s->state) && !rtmp_bench_in_setup(state)) {
        rtmp_bench_ctx.inflight--;
    }
    s->state = state;
}

void rtmp_bench_session_close(rtmp_bench_session_t *s, const char *reason)
{
    if (s->state == rtmp_bench_state::free || s->state == rtmp_bench_state::done ||
        s->state == rtmp_bench_state::failed) {
        return;
    }
    if (reason) {
        char why[112];
        snprintf(why, sizeof(why), "%s (in %s)", reason, rtmp_bench_state_name(s->state));
        rtmp_bench_error(rtmp_bench_who(s), why);
        if (rtmp_bench_ctx.verbose) {
            fprintf(stderr, "rtmp_bench: %s %u: %s\n", rtmp_bench_who(s), s->index, why);
        }
    }
    s->t_closed = rtmp_bench_now_us();
    if (s->role == rtmp_bench_role::publisher && s->stream) {
        s->stream->publishing = false;
    }
    if (s->fd >= 0) {
        // close() drops the fd from the epoll set; no stale event survives it because the
        // slot's generation changes before it is reused
        close(s->fd);
        s->fd = -1;
    }
    if (s->hs) {
        rtmp_free(s->hs);
        s->hs = nullptr;
    }
    if (s->pool) {
        rtmp_pool_destroy(s->pool); // also the chunk reader's payload buffers
        s->pool = nullptr;
        s->reader = nullptr;
    }
    rtmp_free(s->out.start);
    s->out = rtmp_buf_t{};
    rtmp_bench_set_state(s, reason ? rtmp_bench_state::failed : rtmp_bench_state::done);
}

// ---- output -------------------------------------------------------------------------------

static bool rtmp_bench_out_room(rtmp_bench_session_t *s, size_t need)
{
    rtmp_buf_t *b = &s->out;
    if (rtmp_buf_free(b) >= need) {
        return true;
    }
    rtmp_buf_compact(b);
    if (rtmp_buf_free(b) >= need) {
        return true;
    }
    size_t used = rtmp_buf_size(b);
    size_t cap = (size_t)(b->end - b->start);
    while (cap - used < need) {
        cap *= 2;
    }
    if (cap > RTMP_BENCH_OUT_MAX) {
        return false;
    }
    u_char *p = static_cast<u_char *>(rtmp_realloc(b->start, cap));
    b->start = p;
    b->pos = p;
    b->last = p + used;
    b->end = p + cap;
    return true;
}

// Interest in input (off while a slow reader's budget is spent) and output.
static void rtmp_bench_interest(rtmp_bench_session_t *s, bool out, bool throttled)
{
    if (s->want_out == out && s->throttled == throttled) {
        return;
    }
    struct epoll_event ev {
    };
    ev.events = (throttled ? 0u : (uint32_t)EPOLLIN) | (out ? (uint32_t)EPOLLOUT : 0u);
    ev.data.u64 = (uint64_t)s->gen << 32 | s->index;
    if (epoll_ctl(rtmp_bench_ctx.ep, EPOLL_CTL_MOD, s->fd, &ev) == 0) {
        s->want_out = out;
        s->throttled = throttled;
    }
}

static void rtmp_bench_want_out(rtmp_bench_session_t *s, bool on)
{
    rtmp_bench_interest(s, on, s->throttled);
}

// Writes what is queued; RTMP_ERROR after closing the session.
static rtmp_int_t rtmp_bench_flush(rtmp_bench_session_t *s)
{
    if (s->state == rtmp_bench_state::connecting) {
        return RTMP_OK; // sent once the connect completes
    }
    rtmp_buf_t *b = &s->out;
    while (b->pos < b->last) {
        ssize_t n = send(s->fd, b->pos, rtmp_buf_size(b), MSG_NOSIGNAL);
        if (n > 0) {
            b->pos += n;
            s->bytes_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            rtmp_bench_want_out(s, true);
            return RTMP_AGAIN;
        }
        rtmp_bench_session_close(s, n < 0 ? strerror(errno) : "send returned 0");
        return RTMP_ERROR;
    }
    rtmp_buf_reset(b);
    rtmp_bench_want_out(s, false);
    return RTMP_OK;
}

[[nodiscard]] static rtmp_int_t rtmp_bench_send(rtmp_bench_session_t *s, const rtmp_message_t *m)
{
    size_t need = rtmp_chunk_write_size(&s->writer, &m->h);
    if (!rtmp_bench_out_room(s, need)) {
        rtmp_bench_session_close(s, "server does not read (output over 32 MB)");
        return RTMP_ERROR;
    }
    if (rtmp_chunk_write(&s->writer, m, &s->out) != RTMP_OK) {
        rtmp_bench_session_close(s, s->writer.reason);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

[[nodiscard]] static rtmp_int_t rtmp_bench_send_payload(rtmp_bench_session_t *s, uint32_t csid,
                                                        uint8_t type, uint32_t msid, uint32_t ts,
                                                        const rtmp_buf_t *b)
{
    rtmp_message_t m{};
    m.h.csid = csid;
    m.h.type = type;
    m.h.msid = msid;
    m.h.timestamp = ts;
    m.h.mlen = (uint32_t)rtmp_buf_size(b);
    m.payload = rtmp_buf_span(b);
    return rtmp_bench_send(s, &m);
}

#define RTMP_BENCH_W(call)                                                                         \
    do {                                                                                           \
        if ((call) != RTMP_OK) {                                                                   \
            rtmp_bench_session_close(s, "command does not fit its buffer");                        \
            return RTMP_ERROR;                                                                     \
        }                                                                                          \
    } while (0)

static void rtmp_bench_buf_on(rtmp_buf_t *b, u_char *mem, size_t size)
{
    *b = rtmp_buf_t{};
    b->start = b->pos = b->last = mem;
    b->end = mem + size;
}

// connect(app, tcUrl, ...) as ffmpeg and FMLE send it.
[[nodiscard]] static rtmp_int_t rtmp_bench_send_connect(rtmp_bench_session_t *s)
{
    u_char mem[1024];
    rtmp_buf_t b;
    rtmp_bench_buf_on(&b, mem, sizeof(mem));
    bool pub = s->role == rtmp_bench_role::publisher;
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, "connect"));
    RTMP_BENCH_W(rtmp_amf0_write_number(&b, RTMP_BENCH_TID_CONNECT));
    RTMP_BENCH_W(rtmp_amf0_write_object_start(&b));
    RTMP_BENCH_W(rtmp_amf0_write_key(&b, "app"));
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, rtmp_bench_ctx.app));
    if (pub) {
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "type"));
        RTMP_BENCH_W(rtmp_amf0_write_string(&b, "nonprivate"));
    }
    RTMP_BENCH_W(rtmp_amf0_write_key(&b, "flashVer"));
    RTMP_BENCH_W(
        rtmp_amf0_write_string(&b, pub ? "FMLE/3.0 (compatible; rtmp_bench)" : "LNX 9,0,124,2"));
    RTMP_BENCH_W(rtmp_amf0_write_key(&b, "tcUrl"));
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, rtmp_bench_ctx.tc_url));
    if (!pub) {
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "fpad"));
        RTMP_BENCH_W(rtmp_amf0_write_bool(&b, false));
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "capabilities"));
        RTMP_BENCH_W(rtmp_amf0_write_number(&b, 15));
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "audioCodecs"));
        RTMP_BENCH_W(rtmp_amf0_write_number(&b, 4071));
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "videoCodecs"));
        RTMP_BENCH_W(rtmp_amf0_write_number(&b, 252));
        RTMP_BENCH_W(rtmp_amf0_write_key(&b, "videoFunction"));
        RTMP_BENCH_W(rtmp_amf0_write_number(&b, 1));
    }
    RTMP_BENCH_W(rtmp_amf0_write_object_end(&b));
    return rtmp_bench_send_payload(s, RTMP_BENCH_CSID_CMD, RTMP_MSG_AMF_CMD, 0, 0, &b);
}

// name, tid, null[, string arg] — releaseStream, FCPublish, createStream.
[[nodiscard]] static rtmp_int_t rtmp_bench_send_call(rtmp_bench_session_t *s, const char *name,
                                                     double tid, const char *arg)
{
    u_char mem[512];
    rtmp_buf_t b;
    rtmp_bench_buf_on(&b, mem, sizeof(mem));
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, name));
    RTMP_BENCH_W(rtmp_amf0_write_number(&b, tid));
    RTMP_BENCH_W(rtmp_amf0_write_null(&b));
    if (arg) {
        RTMP_BENCH_W(rtmp_amf0_write_string(&b, arg));
    }
    return rtmp_bench_send_payload(s, RTMP_BENCH_CSID_CMD, RTMP_MSG_AMF_CMD, 0, 0, &b);
}

[[nodiscard]] static rtmp_int_t rtmp_bench_send_control(rtmp_bench_session_t *s, rtmp_message_t m)
{
    return rtmp_bench_send(s, &m);
}

// publish(name, "live") or play(name, -2000) on the created stream.
[[nodiscard]] static rtmp_int_t rtmp_bench_send_start(rtmp_bench_session_t *s)
{
    u_char mem[512];
    rtmp_buf_t b;
    rtmp_bench_buf_on(&b, mem, sizeof(mem));
    bool pub = s->role == rtmp_bench_role::publisher;
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, pub ? "publish" : "play"));
    RTMP_BENCH_W(rtmp_amf0_write_number(&b, 5));
    RTMP_BENCH_W(rtmp_amf0_write_null(&b));
    RTMP_BENCH_W(rtmp_amf0_write_string(&b, s->stream->name));
    if (pub) {
        RTMP_BENCH_W(rtmp_amf0_write_string(&b, "live"));
    } else {
        // ffmpeg's default "live or recorded" start, in its units
        RTMP_BENCH_W(rtmp_amf0_write_number(&b, -2000));
    }
    if (rtmp_bench_send_payload(s, RTMP_BENCH_CSID_STREAM, RTMP_MSG_AMF_CMD, s->msid, 0, &b) !=
        RTMP_OK) {
        return RTMP_ERROR;
    }
    if (!pub) {
        // players tell the server their buffer right after play, as Flash and ffmpeg do
        rtmp_control_buf_t cb;
        if (rtmp_bench_send_control(s, rtmp_control_set_buflen(&cb, s->msid, 3000)) != RTMP_OK) {
            return RTMP_ERROR;
        }
        s->t_play = rtmp_bench_now_us();
        s->deadline = s->t_play + RTMP_BENCH_KEY_TIMEOUT;
    }
    rtmp_bench_set_state(s, rtmp_bench_state::start);
    return RTMP_OK;
}

// ---- publishing ---------------------------------------------------------------------------

// "@setDataFrame" before the file's onMetaData, as ffmpeg sends it, so servers store it.
[[nodiscard]] static rtmp_int_t rtmp_bench_send_meta(rtmp_bench_session_t *s,
                                                     const rtmp_bench_tag_t *t, uint32_t ts)
{
    size_t size = 16 + t->size;
    u_char *mem = static_cast<u_char *>(rtmp_alloc(size));
    rtmp_buf_t b;
    rtmp_bench_buf_on(&b, mem, size);
    rtmp_int_t rc = rtmp_amf0_write_string(&b, "@setDataFrame");
    if (rc == RTMP_OK) {
        memcpy(b.last, t->data, t->size);
        b.last += t->size;
        rc = rtmp_bench_send_payload(s, RTMP_BENCH_CSID_DATA, RTMP_MSG_AMF_META, s->msid, ts, &b);
    }
    rtmp_free(mem);
    return rc;
}

uint64_t rtmp_bench_publish_tick(rtmp_bench_stream_t *st, uint64_t now)
{
    rtmp_bench_session_t *s = st->publisher;
    const rtmp_bench_flv_t *flv = &rtmp_bench_ctx.flv;
    if (!st->publishing || st->stopped || s == nullptr || s->state != rtmp_bench_state::active) {
        return 100000;
    }
    bool sent = false;
    uint64_t wait = 100000;
    while (true) {
        const rtmp_bench_tag_t *t = &flv->tags[st->next_tag];
        uint64_t ts = (uint64_t)t->ts + (uint64_t)st->loop * flv->loop_ms;
        bool skip = st->loop > 0 && (t->header || t->type == RTMP_MSG_AMF_META);
        uint64_t due = st->start_us + ts * 1000;
        if (!skip && due > now) {
            wait = due - now;
            break;
        }
        if (!skip) {
            // timestamps keep rising across passes; 32 bits wrap after 49 days
            uint32_t ts32 = (uint32_t)ts;
            rtmp_int_t rc;
            if (t->type == RTMP_MSG_AMF_META) {
                rc = rtmp_bench_send_meta(s, t, ts32);
            } else {
                if (!t->header) {
                    // logged before it is queued: the player's clock reading of the same
                    // message is compared with this one
                    st->seq++;
                    rtmp_bench_sent_t *r = &st->ring[st->seq % RTMP_BENCH_RING];
                    r->ts = ts32;
                    r->type = t->type;
                    r->seq = st->seq;
                    r->send_us = now;
                    st->bytes += t->size;
                }
                rtmp_message_t m{};
                m.h.csid =
                    t->type == RTMP_MSG_AUDIO ? RTMP_BENCH_CSID_AUDIO : RTMP_BENCH_CSID_VIDEO;
                m.h.type = t->type;
                m.h.msid = s->msid;
                m.h.timestamp = ts32;
                m.h.mlen = t->size;
                m.payload = {t->data, t->size};
                rc = rtmp_bench_send(s, &m);
            }
            if (rc != RTMP_OK) {
                return 100000;
            }
            sent = true;
        }
        if (++st->next_tag == flv->ntags) {
            st->next_tag = 0;
            st->loop++;
        }
    }
    if (sent) {
        (void)rtmp_bench_flush(s);
    }
    return wait;
}

// ---- input --------------------------------------------------------------------------------

[[nodiscard]] static rtmp_int_t rtmp_bench_fail(rtmp_bench_session_t *s, const char *reason)
{
    rtmp_bench_session_close(s, reason);
    return RTMP_ERROR;
}

static void rtmp_bench_media(rtmp_bench_session_t *s, uint8_t type, uint32_t ts,
                             std::span<const u_char> p)
{
    if (s->role != rtmp_bench_role::player || s->state != rtmp_bench_state::active) {
        return;
    }
    uint64_t now = rtmp_bench_now_us();
    if (s->t_first_media == 0) {
        s->t_first_media = now;
        rtmp_bench_hist_add(&rtmp_bench_ctx.first_media, now - s->t_play);
        if (rtmp_bench_ctx.setup && !rtmp_bench_ctx.setup_until_key) {
            rtmp_bench_session_close(s, nullptr);
            return;
        }
    }
    bool header =
        type == RTMP_MSG_VIDEO ? rtmp_bench_video_is_header(p) : rtmp_bench_audio_is_header(p);
    if (header || p.empty()) {
        return;
    }
    if (s->t_first_key == 0) {
        if (type != RTMP_MSG_VIDEO || !rtmp_bench_video_is_key(p)) {
            return; // completeness counts from the first key frame, where playback can start
        }
        s->t_first_key = now;
        s->deadline = 0;
        rtmp_bench_hist_add(&rtmp_bench_ctx.startup, now - s->t_play);
        if (rtmp_bench_ctx.setup) {
            rtmp_bench_session_close(s, nullptr);
            return;
        }
    }
    s->media_msgs++;
    const rtmp_bench_sent_t *r = rtmp_bench_sent_find(s->stream, ts, type);
    if (r == nullptr) {
        s->latency_misses++;
        rtmp_bench_ctx.lat_misses++;
        if (rtmp_bench_ctx.verbose && rtmp_bench_ctx.lat_misses <= 10) {
            // a server that rebases or rewrites timestamps shows up here
            fprintf(stderr, "rtmp_bench: player %u: %s ts %u not in the send log\n", s->index,
                    type == RTMP_MSG_AUDIO ? "audio" : "video", ts);
        }
        return;
    }
    if (s->key_seq == 0) {
        s->key_seq = r->seq;
    }
    s->last_seq = r->seq;
    if (r->send_us < rtmp_bench_ctx.latency_from) {
        return; // published during the ramp: a joining player's GOP burst is its startup
    }
    if (!s->slow) {
        rtmp_bench_hist_add(&rtmp_bench_ctx.latency, now - r->send_us);
    } else if (!rtmp_bench_ctx.slow_drain) {
        // what arrives once the drain lifted the throttle says nothing about the slow rate
        rtmp_bench_hist_add(&rtmp_bench_ctx.slow_latency, now - r->send_us);
    }
}

// What the server said in a NetStream/NetConnection status or error object.
static void rtmp_bench_status(const rtmp_cmd_t *cmd, rtmp_str_t *code, rtmp_str_t *level)
{
    *code = rtmp_null_string;
    *level = rtmp_null_string;
    if (cmd->nargs > 0) {
        (void)rtmp_amf_get_string(&cmd->args[0], "code", code);
        (void)rtmp_amf_get_string(&cmd->args[0], "level", level);
    }
}

[[nodiscard]] static rtmp_int_t rtmp_bench_command(rtmp_bench_session_t *s, const rtmp_message_t *m)
{
    rtmp_pool_t *pool = rtmp_pool_create(4096, rtmp_bench_ctx.log);
    rtmp_cmd_t cmd;
    const char *err = nullptr;
    if (rtmp_cmd_parse(pool, m->h.type, m->payload, &RTMP_AMF_LIMITS_DEFAULT, &cmd, &err) !=
        RTMP_OK) {
        rtmp_pool_destroy(pool);
        return rtmp_bench_fail(s, "bad command from the server");
    }
    rtmp_str_t code, level;
    rtmp_bench_status(&cmd, &code, &level);
    char why[100];
    rtmp_int_t rc = RTMP_OK;
    bool pub = s->role == rtmp_bench_role::publisher;

    switch (cmd.kind) {
    case rtmp_cmd_kind::result:
        if (cmd.tid == RTMP_BENCH_TID_CONNECT && s->state == rtmp_bench_state::connect) {
            s->t_ready = rtmp_bench_now_us();
            if (s->role == rtmp_bench_role::idle) {
                rtmp_bench_set_state(s, rtmp_bench_state::active);
                s->deadline = 0;
                break;
            }
            if (pub) {
                rc = rtmp_bench_send_call(s, "releaseStream", 2, s->stream->name);
                if (rc == RTMP_OK) {
                    rc = rtmp_bench_send_call(s, "FCPublish", 3, s->stream->name);
                }
            }
            if (rc == RTMP_OK) {
                rc = rtmp_bench_send_call(s, "createStream", RTMP_BENCH_TID_CREATE, nullptr);
            }
            if (rc == RTMP_OK) {
                rtmp_bench_set_state(s, rtmp_bench_state::create);
            }
        } else if (cmd.tid == RTMP_BENCH_TID_CREATE && s->state == rtmp_bench_state::create) {
            double id = 0;
            if (cmd.nargs == 0 || !rtmp_amf_as_number(&cmd.args[0], &id) || id < 0 ||
                id > 0xffffff) {
                rc = rtmp_bench_fail(s, "createStream _result without a stream id");
                break;
            }
            s->msid = (uint32_t)id;
            rc = rtmp_bench_send_start(s);
        }
        break;

    case rtmp_cmd_kind::error:
        snprintf(why, sizeof(why), "_error %.*s", (int)code.len,
                 code.data ? (char *)code.data : "");
        rc = rtmp_bench_fail(s, why);
        break;

    case rtmp_cmd_kind::on_status: {
        std::string_view c = code.sv();
        if (c == "NetStream.Publish.Start" && pub && s->state == rtmp_bench_state::start) {
            rtmp_bench_set_state(s, rtmp_bench_state::active);
            s->deadline = 0;
            s->stream->publishing = true;
            s->stream->start_us = rtmp_bench_now_us();
        } else if (c == "NetStream.Play.Start" && !pub && s->state == rtmp_bench_state::start) {
            rtmp_bench_set_state(s, rtmp_bench_state::active);
        } else if (level.sv() == "error" || c == "NetStream.Play.StreamNotFound" ||
                   c == "NetStream.Publish.BadName" || c == "NetStream.Play.Failed") {
            snprintf(why, sizeof(why), "onStatus %.*s", (int)c.size(), c.data() ? c.data() : "");
            rc = rtmp_bench_fail(s, why);
        }
        // Play.Reset, Play.PublishNotify/UnpublishNotify, Unpublish.Success: informational
        break;
    }

    default:
        // onBWDone, onFCPublish, close and the like need no answer from a client
        break;
    }
    if (pool) {
        rtmp_pool_destroy(pool);
    }
    return rc;
}

[[nodiscard]] static rtmp_int_t rtmp_bench_message(rtmp_bench_session_t *s, const rtmp_message_t *m)
{
    switch (m->h.type) {
    case RTMP_MSG_CHUNK_SIZE: // the reader applied it already
    case RTMP_MSG_ABORT:
    case RTMP_MSG_ACK:
    case RTMP_MSG_BANDWIDTH:
        return RTMP_OK;

    case RTMP_MSG_ACK_SIZE:
    case RTMP_MSG_USER: {
        rtmp_control_t c;
        const char *reason = nullptr;
        rtmp_int_t rc = rtmp_control_parse(m, &c, &reason);
        if (rc == RTMP_DECLINED) {
            return RTMP_OK;
        }
        if (rc != RTMP_OK) {
            return rtmp_bench_fail(s, reason);
        }
        if (m->h.type == RTMP_MSG_ACK_SIZE) {
            s->ack_window = c.value;
            return RTMP_OK;
        }
        if (c.event == RTMP_USER_PING_REQUEST) {
            rtmp_control_buf_t cb;
            if (rtmp_bench_send_control(
                    s, rtmp_control_user(&cb, RTMP_USER_PING_RESPONSE, c.value)) != RTMP_OK) {
                return RTMP_ERROR;
            }
            return rtmp_bench_flush(s) == RTMP_ERROR ? RTMP_ERROR : RTMP_OK;
        }
        if (c.event == RTMP_USER_STREAM_EOF) {
            s->stream_eof = true;
        }
        return RTMP_OK;
    }

    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
        rtmp_bench_media(s, m->h.type, m->h.timestamp, m->payload);
        return RTMP_OK;

    case RTMP_MSG_AGGREGATE: {
        rtmp_aggregate_t a;
        rtmp_aggregate_init(&a, m);
        rtmp_message_t sub;
        const char *reason = nullptr;
        rtmp_int_t rc;
        while ((rc = rtmp_aggregate_next(&a, &sub, &reason)) == RTMP_OK) {
            if ((sub.h.type == RTMP_MSG_AUDIO || sub.h.type == RTMP_MSG_VIDEO) &&
                s->state == rtmp_bench_state::active) {
                rtmp_bench_media(s, sub.h.type, sub.h.timestamp, sub.payload);
            }
        }
        return rc == RTMP_ERROR ? rtmp_bench_fail(s, reason) : RTMP_OK;
    }

    case RTMP_MSG_AMF_META:
    case RTMP_MSG_AMF3_META:
        s->meta_msgs++; // onMetaData, |RtmpSampleAccess: nothing to answer
        return RTMP_OK;

    case RTMP_MSG_AMF_CMD:
    case RTMP_MSG_AMF3_CMD:
        return rtmp_bench_command(s, m);

    default:
        return RTMP_OK;
    }
}

[[nodiscard]] static rtmp_int_t rtmp_bench_chunks(rtmp_bench_session_t *s,
                                                  std::span<const u_char> in)
{
    // Called even with no input left: the reader may hold back a complete message.
    while (s->reader) {
        size_t consumed = 0;
        rtmp_message_t m;
        rtmp_int_t rc = rtmp_chunk_read(s->reader, in, &consumed, &m);
        in = in.subspan(consumed);
        if (rc == RTMP_AGAIN) {
            break;
        }
        if (rc != RTMP_OK) {
            return rtmp_bench_fail(s, s->reader->reason);
        }
        if (rtmp_bench_message(s, &m) != RTMP_OK || s->reader == nullptr) {
            return RTMP_ERROR; // failed, or (setup mode) closed after its first key frame
        }
    }
    // RTMP 1.0 spec 5.4.3: a client acknowledges every window's worth of received bytes
    uint64_t total = s->reader->bytes_read + s->hs_bytes;
    if (s->ack_window && total - s->acked >= s->ack_window) {
        s->acked = total;
        rtmp_control_buf_t cb;
        if (rtmp_bench_send_control(s, rtmp_control_ack(&cb, (uint32_t)total)) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

// Moves what the handshake wants sent into the session's output.
[[nodiscard]] static rtmp_int_t rtmp_bench_hs_out(rtmp_bench_session_t *s)
{
    size_t n = rtmp_buf_size(&s->hs->out);
    if (n == 0) {
        return RTMP_OK;
    }
    if (!rtmp_bench_out_room(s, n)) {
        return rtmp_bench_fail(s, "handshake output does not fit");
    }
    memcpy(s->out.last, s->hs->out.pos, n);
    s->out.last += n;
    s->hs->out.pos = s->hs->out.last;
    return RTMP_OK;
}

[[nodiscard]] static rtmp_int_t rtmp_bench_input(rtmp_bench_session_t *s,
                                                 std::span<const u_char> in)
{
    if (s->state == rtmp_bench_state::handshake) {
        size_t consumed = 0;
        rtmp_int_t rc = rtmp_handshake_feed(s->hs, in, &consumed);
        s->hs_bytes += consumed;
        in = in.subspan(consumed);
        if (rc == RTMP_ERROR) {
            return rtmp_bench_fail(s, s->hs->reason);
        }
        if (rtmp_bench_hs_out(s) != RTMP_OK) {
            return RTMP_ERROR;
        }
        if (rc != RTMP_DONE) {
            return rtmp_bench_flush(s) == RTMP_ERROR ? RTMP_ERROR : RTMP_OK;
        }
        rtmp_free(s->hs);
        s->hs = nullptr;
        rtmp_bench_set_state(s, rtmp_bench_state::connect);
        if (s->role == rtmp_bench_role::publisher) {
            rtmp_control_buf_t cb;
            if (rtmp_bench_send_control(
                    s, rtmp_control_chunk_size(&cb, rtmp_bench_ctx.chunk_size)) != RTMP_OK) {
                return RTMP_ERROR;
            }
            s->writer.chunk_size = rtmp_bench_ctx.chunk_size;
        }
        if (rtmp_bench_send_connect(s) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    rtmp_int_t rc = rtmp_bench_chunks(s, in);
    if (rc != RTMP_OK) {
        return rc;
    }
    return rtmp_bench_flush(s) == RTMP_ERROR ? RTMP_ERROR : RTMP_OK;
}

// A slow reader once it plays, until the drain: its socket buffers and the server's queue
// for it fill while it reads at the slow rate.
static bool rtmp_bench_metered(const rtmp_bench_session_t *s)
{
    return s->slow && s->state == rtmp_bench_state::active && !rtmp_bench_ctx.slow_drain;
}

// A slow reader's budget for one wakeup, most of one tick at the slow rate; the bucket
// never holds more, so a paused reader cannot catch up in one burst.
static double rtmp_bench_slow_burst()
{
    double b = rtmp_bench_ctx.slow_bps * 0.1;
    return b < 1024 ? 1024 : b;
}

void rtmp_bench_slow_tick(rtmp_bench_session_t *s, uint64_t now)
{
    if (s->fd < 0 || s->state == rtmp_bench_state::connecting) {
        return;
    }
    if (!rtmp_bench_metered(s)) {
        if (s->throttled) {
            rtmp_bench_interest(s, s->want_out, false);
        }
        return;
    }
    if (s->refill_us == 0) {
        s->refill_us = now;
    }
    s->tokens += (double)(now - s->refill_us) * rtmp_bench_ctx.slow_bps / 1e6;
    s->refill_us = now;
    double burst = rtmp_bench_slow_burst();
    if (s->tokens > burst) {
        s->tokens = burst;
    }
    // resume with a fifth of the burst in hand, not byte by byte
    if (s->throttled && s->tokens >= burst / 5) {
        rtmp_bench_interest(s, s->want_out, false);
    }
}

static void rtmp_bench_read(rtmp_bench_session_t *s, bool hangup)
{
    size_t total = 0;
    // an error or hangup is read at once, whatever the budget, or it would fire forever
    bool metered = rtmp_bench_metered(s) && !hangup;
    size_t cap = RTMP_BENCH_READ_CAP;
    if (metered) {
        cap = s->tokens >= 1 ? (size_t)s->tokens : 0;
        if (cap == 0) {
            rtmp_bench_interest(s, s->want_out, true);
            return;
        }
    }
    while (total < cap && s->fd >= 0) {
        size_t want =
            cap - total < rtmp_bench_ctx.rbuf_size ? cap - total : rtmp_bench_ctx.rbuf_size;
        ssize_t n = recv(s->fd, rtmp_bench_ctx.rbuf, want, 0);
        if (n > 0) {
            total += (size_t)n;
            s->bytes_in += (uint64_t)n;
            if (metered) {
                s->tokens -= (double)n;
                if (s->tokens < 1) {
                    rtmp_bench_interest(s, s->want_out, true); // spent: wait for the refill
                }
            }
            if (rtmp_bench_input(s, {rtmp_bench_ctx.rbuf, (size_t)n}) != RTMP_OK) {
                return;
            }
            if ((size_t)n < want) {
                return; // most likely drained; level-triggered epoll says if not
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (rtmp_bench_ctx.stopping) {
            rtmp_bench_session_close(s, nullptr);
        } else {
            rtmp_bench_session_close(s, n == 0 ? "closed by the server" : strerror(errno));
        }
        return;
    }
}

static void rtmp_bench_connected(rtmp_bench_session_t *s)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err) {
        char why[80];
        snprintf(why, sizeof(why), "connect: %s", strerror(err));
        rtmp_bench_session_close(s, why);
        return;
    }
    s->state = rtmp_bench_state::handshake; // still in flight for the pacing
    (void)rtmp_bench_flush(s);              // C0+C1
}

void rtmp_bench_session_event(rtmp_bench_session_t *s, uint32_t events)
{
    if (s->state == rtmp_bench_state::connecting) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            rtmp_bench_connected(s);
        }
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        rtmp_bench_read(s, (events & (EPOLLERR | EPOLLHUP)) != 0);
    }
    if (s->fd >= 0 && (events & EPOLLOUT)) {
        (void)rtmp_bench_flush(s);
    }
}

rtmp_int_t rtmp_bench_session_open(rtmp_bench_session_t *s, rtmp_bench_role role,
                                   rtmp_bench_stream_t *st)
{
    uint32_t index = s->index;
    uint32_t gen = s->gen + 1;
    bool slow = s->slow; // chosen once for the slot
    *s = rtmp_bench_session_t{};
    s->index = index;
    s->gen = gen;
    s->slow = slow && role == rtmp_bench_role::player;
    s->fd = -1;
    s->role = role;
    s->stream = st;
    s->t_start = rtmp_bench_now_us();
    s->deadline = s->t_start + RTMP_BENCH_SETUP_TIMEOUT;
    s->state = rtmp_bench_state::connecting;
    rtmp_bench_ctx.inflight++;

    int fd = socket(rtmp_bench_ctx.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        char why[80];
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        rtmp_bench_session_close(s, why);
        return RTMP_ERROR;
    }
    s->fd = fd;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s->slow && rtmp_bench_ctx.slow_rcvbuf) {
        // before connect, so the window scale fits it: a slow network path holds little,
        // and the backlog builds up in the server's queue, where it is measured
        int size = (int)rtmp_bench_ctx.slow_rcvbuf;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }

    s->pool = rtmp_pool_create(4096, rtmp_bench_ctx.log);
    rtmp_chunk_reader_conf_t rc{};
    rc.max_message = 8 * 1024 * 1024; // key frames of high bit-rate sources
    s->reader = rtmp_chunk_reader_create(s->pool, &rc);
    rtmp_chunk_writer_init(&s->writer, s->pool, RTMP_CHUNK_DEFAULT_SIZE);
    size_t cap =
        role == rtmp_bench_role::publisher ? RTMP_BENCH_OUT_PUBLISHER : RTMP_BENCH_OUT_PLAYER;
    u_char *mem = static_cast<u_char *>(rtmp_alloc(cap));
    rtmp_bench_buf_on(&s->out, mem, cap);

    s->hs = static_cast<rtmp_handshake_t *>(rtmp_alloc(sizeof(rtmp_handshake_t)));
    if (rtmp_handshake_init_client(s->hs, rtmp_bench_ctx.log) != RTMP_OK) {
        rtmp_bench_session_close(s, "handshake init failed");
        return RTMP_ERROR;
    }
    if (rtmp_bench_hs_out(s) != RTMP_OK) {
        return RTMP_ERROR;
    }

    if (connect(fd, (struct sockaddr *)&rtmp_bench_ctx.addr, rtmp_bench_ctx.addrlen) != 0 &&
        errno != EINPROGRESS) {
        char why[80];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        rtmp_bench_session_close(s, why);
        return RTMP_ERROR;
    }
    // On loopback the TCP handshake completes within connect(), so C0+C1 go at once: a
    // wakeup and two system calls fewer per session. A connect still under way says
    // EAGAIN, and EPOLLOUT takes over.
    ssize_t n = send(fd, s->out.pos, rtmp_buf_size(&s->out), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        char why[80];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        rtmp_bench_session_close(s, why);
        return RTMP_ERROR;
    }
    if (n > 0) {
        s->out.pos += n;
        s->bytes_out += (uint64_t)n;
        s->state = rtmp_bench_state::handshake; // still in flight for the pacing
    }
    s->want_out = s->out.pos < s->out.last;
    if (!s->want_out) {
        rtmp_buf_reset(&s->out);
    }
    struct epoll_event ev {
    };
    ev.events = EPOLLIN | (s->want_out ? (uint32_t)EPOLLOUT : 0u);
    ev.data.u64 = (uint64_t)s->gen << 32 | s->index;
    if (epoll_ctl(rtmp_bench_ctx.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        char why[80];
        snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(errno));
        rtmp_bench_session_close(s, why);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}
