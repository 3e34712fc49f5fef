// NetConnection and NetStream command handlers: connect, streams, publish, play and the rest.
#include "rtmp/rtmp_cmd.h"
#include "core/rtmp_text.h"
#include "core/rtmp_time.h"
#include "rtmp/rtmp_control.h"
#include "rtmp/rtmp_limits.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_session.h"

#include <cstdio>

rtmp_publish_pt rtmp_publish_handler;
rtmp_play_pt rtmp_play_handler;
rtmp_close_stream_pt rtmp_close_stream_handler;
rtmp_media_pt rtmp_media_handler;

// Command output is written here, then chunked into the session's output.
static constexpr size_t RTMP_CMD_REPLY_SIZE = 1024;

typedef rtmp_int_t (*rtmp_cmd_handler_pt)(rtmp_session_t *s, const rtmp_message_t *m,
                                          const rtmp_cmd_t *cmd);

// A reply payload under construction on the stack.
struct rtmp_reply_t {
    rtmp_buf_t b;
    u_char data[RTMP_CMD_REPLY_SIZE];
};

static rtmp_buf_t *rtmp_reply_init(rtmp_reply_t *r)
{
    r->b = {};
    r->b.start = r->b.pos = r->b.last = r->data;
    r->b.end = r->data + sizeof(r->data);
    return &r->b;
}

// Sends a payload as a message of `type` on the command chunk stream of `msid`.
static rtmp_int_t rtmp_cmd_send(rtmp_session_t *s, uint32_t msid, uint8_t type, rtmp_reply_t *r)
{
    rtmp_message_t m;
    // nginx-rtmp and FMS answer on csid 3; stream-level status on the stream's own
    m.h.csid = msid ? 5 : 3;
    m.h.timestamp = 0;
    m.h.mlen = (uint32_t)rtmp_buf_size(&r->b);
    m.h.type = type;
    m.h.msid = msid;
    m.payload = rtmp_buf_span(&r->b);
    return rtmp_session_send_message(s, &m);
}

rtmp_int_t rtmp_session_status(rtmp_session_t *s, uint32_t msid, rtmp_cmd_status_id id,
                               const char *details, const char *description)
{
    rtmp_reply_t r;
    rtmp_cmd_status_t st = rtmp_cmd_status(id);
    st.details = details;
    if (description) {
        st.description = description;
    }
    if (rtmp_cmd_on_status(rtmp_reply_init(&r), &st) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_cmd_send(s, msid, RTMP_MSG_AMF_CMD, &r);
}

// Copies a name into a fixed field; false when it does not fit.
static bool rtmp_cmd_copy(char *dst, size_t size, rtmp_str_t src)
{
    if (src.len >= size) {
        return false;
    }
    if (src.len) {
        memcpy(dst, src.data, src.len);
    }
    dst[src.len] = '\0';
    return true;
}

static rtmp_stream_t *rtmp_cmd_stream(rtmp_session_t *s, uint32_t msid)
{
    if (msid == 0 || msid > RTMP_SESSION_STREAMS) {
        return nullptr;
    }
    rtmp_stream_t *st = s->streams[msid - 1];
    return st == nullptr || st->state == rtmp_stream_state::free ? nullptr : st;
}

// ---- NetConnection ----------------------------------------------------------------------

static rtmp_conf_app_t *rtmp_cmd_find_app(rtmp_session_t *s, std::string_view name)
{
    // "live/" from some encoders means "live"
    while (!name.empty() && name.back() == '/') {
        name.remove_suffix(1);
    }
    for (size_t i = 0; i < s->srv->napps; i++) {
        if (s->srv->apps[i]->name.sv() == name) {
            return s->srv->apps[i];
        }
    }
    return nullptr;
}

static rtmp_int_t rtmp_cmd_connect(rtmp_session_t *s, const rtmp_message_t *, const rtmp_cmd_t *cmd)
{
    rtmp_cmd_connect_t v;
    const char *err = nullptr;
    if (s->state != rtmp_session_state::connect) {
        rtmp_session_close(s, "connect sent twice");
        return RTMP_ERROR;
    }
    if (rtmp_cmd_get_connect(cmd, &v, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        return RTMP_ERROR;
    }
    if (v.app.len > RTMP_MAX_NAME || v.tc_url.len > 2 * RTMP_MAX_NAME ||
        v.flashver.len > RTMP_MAX_NAME) {
        rtmp_session_close(s, "connect: app, tcUrl or flashVer too long");
        return RTMP_ERROR;
    }
    if (rtmp_has_control(v.app.sv()) || rtmp_has_control(v.tc_url.sv())) {
        rtmp_session_close(s, "connect: control characters in app or tcUrl");
        return RTMP_ERROR;
    }
    if (!rtmp_utf8_valid(v.app.sv()) || !rtmp_utf8_valid(v.tc_url.sv())) {
        rtmp_session_close(s, "connect: app or tcUrl is not UTF-8");
        return RTMP_ERROR;
    }
    // connect is accepted once per session, so these copies are bounded
    s->app_name = rtmp_pstr(s->c->pool, v.app.sv());
    s->tc_url = rtmp_pstr(s->c->pool, v.tc_url.sv());
    s->flashver = rtmp_pstr(s->c->pool, v.flashver.sv());
    // pageUrl and swfUrl are only passed on (notify): cut, not refused, when long
    if (v.page_url.len) {
        s->page_url = rtmp_pstr(s->c->pool, v.page_url.sv().substr(0, 2 * RTMP_MAX_NAME));
    }
    if (v.swf_url.len) {
        s->swf_url = rtmp_pstr(s->c->pool, v.swf_url.sv().substr(0, 2 * RTMP_MAX_NAME));
    }
    s->object_encoding = v.object_encoding;

    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "connect app=\"%s\" tcUrl=\"%s\" flashVer=\"%s\"",
                   s->app_name.data, s->tc_url.data, s->flashver.data);

    rtmp_reply_t r;
    s->app = rtmp_cmd_find_app(s, s->app_name.sv());
    if (s->app == nullptr) {
        char why[RTMP_MAX_NAME + 32];
        snprintf(why, sizeof(why), "No such application: %s", s->app_name.data);
        if (rtmp_cmd_connect_error(rtmp_reply_init(&r), v.tid, why) != RTMP_OK ||
            rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r) != RTMP_OK) {
            return RTMP_ERROR;
        }
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "connect rejected: no application \"%s\"",
                       s->app_name.data);
        s->close_after_flush = true;
        return RTMP_OK;
    }

    s->connect_tid = v.tid;
    return rtmp_connect_handler(s);
}

// The end of the connect chain: the application may be used.
static rtmp_int_t rtmp_cmd_connect_accept(rtmp_session_t *s)
{
    // as FMS and nginx-rtmp: window, peer bandwidth and chunk size before the result
    rtmp_control_buf_t cb;
    uint32_t window = (uint32_t)s->scf->ack_window;
    uint32_t chunk = (uint32_t)s->scf->chunk_size;
    if (rtmp_session_send_control(s, rtmp_control_ack_size(&cb, window)) != RTMP_OK ||
        rtmp_session_send_control(s, rtmp_control_bandwidth(&cb, window, RTMP_LIMIT_DYNAMIC)) !=
            RTMP_OK ||
        rtmp_session_send_control(s, rtmp_control_chunk_size(&cb, chunk)) != RTMP_OK) {
        return RTMP_ERROR;
    }
    s->writer.chunk_size = chunk;

    rtmp_reply_t r;
    if (rtmp_cmd_connect_result(rtmp_reply_init(&r), s->connect_tid, s->object_encoding) !=
            RTMP_OK ||
        rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r) != RTMP_OK) {
        return RTMP_ERROR;
    }
    s->state = rtmp_session_state::connected;
    return RTMP_OK;
}

rtmp_connect_pt rtmp_connect_handler = rtmp_cmd_connect_accept;

rtmp_int_t rtmp_session_connect_refuse(rtmp_session_t *s, const char *description)
{
    rtmp_reply_t r;
    if (rtmp_cmd_connect_error(rtmp_reply_init(&r), s->connect_tid, description) != RTMP_OK ||
        rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r) != RTMP_OK) {
        return RTMP_ERROR;
    }
    s->close_after_flush = true;
    return RTMP_OK;
}

static rtmp_int_t rtmp_cmd_create_stream(rtmp_session_t *s, const rtmp_message_t *,
                                         const rtmp_cmd_t *cmd)
{
    rtmp_stream_t *st = nullptr;
    for (uint32_t i = 0; i < RTMP_SESSION_STREAMS; i++) {
        if (s->streams[i] == nullptr) {
            s->streams[i] = rtmp_palloc<rtmp_stream_t>(s->c->pool);
        }
        if (s->streams[i]->state == rtmp_stream_state::free) {
            st = s->streams[i];
            *st = {};
            st->msid = i + 1;
            st->state = rtmp_stream_state::created;
            st->receive_audio = st->receive_video = true;
            break;
        }
    }
    rtmp_reply_t r;
    if (st == nullptr) {
        if (rtmp_cmd_call_error(rtmp_reply_init(&r), cmd->tid, "createStream: too many streams") !=
            RTMP_OK) {
            return RTMP_ERROR;
        }
        return rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r);
    }
    if (rtmp_cmd_create_stream_result(rtmp_reply_init(&r), cmd->tid, st->msid) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r);
}

// releaseStream, FCPublish, FCUnpublish: ffmpeg and OBS send them before publishing
// and some wait for a _result; FCPublish/FCUnpublish also get onFCPublish/onFCUnpublish.
static rtmp_int_t rtmp_cmd_fc(rtmp_session_t *s, const rtmp_message_t *, const rtmp_cmd_t *cmd)
{
    rtmp_cmd_stream_t v;
    const char *err = nullptr;
    if (rtmp_cmd_get_stream(cmd, &v, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        return RTMP_ERROR;
    }
    rtmp_reply_t r;
    if (cmd->kind == rtmp_cmd_kind::fc_publish || cmd->kind == rtmp_cmd_kind::fc_unpublish) {
        rtmp_buf_t *b = rtmp_reply_init(&r);
        rtmp_int_t rc = cmd->kind == rtmp_cmd_kind::fc_publish
                            ? rtmp_cmd_on_fc_publish(b, v.name.sv())
                            : rtmp_cmd_on_fc_unpublish(b, v.name.sv());
        if (rc != RTMP_OK || rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    if (cmd->tid == 0) {
        return RTMP_OK;
    }
    if (rtmp_cmd_result(rtmp_reply_init(&r), cmd->tid, nullptr) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r);
}

static rtmp_int_t rtmp_cmd_call(rtmp_session_t *s, const rtmp_message_t *, const rtmp_cmd_t *cmd)
{
    if (cmd->tid == 0) {
        return RTMP_OK; // a notification: nothing to answer
    }
    rtmp_reply_t r;
    if (cmd->kind == rtmp_cmd_kind::get_stream_length) {
        if (rtmp_cmd_stream_length_result(rtmp_reply_init(&r), cmd->tid, 0) != RTMP_OK) {
            return RTMP_ERROR;
        }
    } else if (cmd->kind == rtmp_cmd_kind::check_bw) {
        if (rtmp_cmd_result(rtmp_reply_init(&r), cmd->tid, nullptr) != RTMP_OK) {
            return RTMP_ERROR;
        }
    } else if (rtmp_cmd_call_error(rtmp_reply_init(&r), cmd->tid, cmd->name.sv()) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_cmd_send(s, 0, RTMP_MSG_AMF_CMD, &r);
}

// ---- NetStream ------------------------------------------------------------------------------

// Why the stream's name cannot be taken, or nullptr when it was copied. A NUL would cut a
// name short where modules look at it, and a newline or an escape has no business in a
// name that reaches file names, commands and callbacks.
static const char *rtmp_cmd_stream_names(rtmp_stream_t *st, const rtmp_cmd_stream_t *v)
{
    if (rtmp_has_control(v->name.sv()) || rtmp_has_control(v->args.sv())) {
        return "control characters in the stream name";
    }
    // it reaches file names, JSON (/stat, callbacks) and /metrics, which are UTF-8
    if (!rtmp_utf8_valid(v->name.sv()) || !rtmp_utf8_valid(v->args.sv())) {
        return "the stream name is not UTF-8";
    }
    if (!rtmp_cmd_copy(st->name, sizeof(st->name), v->name) ||
        !rtmp_cmd_copy(st->args, sizeof(st->args), v->args)) {
        return "stream name too long";
    }
    return nullptr;
}

// A publish or play the session cannot act on (no stream name, a malformed command):
// the client hears why in an onStatus it shows its user, then the session ends.
static rtmp_int_t rtmp_cmd_refuse_stream(rtmp_session_t *s, uint32_t msid, rtmp_cmd_status_id id,
                                         const char *why)
{
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "refused: %s", why);
    if (rtmp_cmd_stream(s, msid) == nullptr ||
        rtmp_session_status(s, msid, id, "", why) != RTMP_OK) {
        rtmp_session_close(s, why);
        return RTMP_ERROR;
    }
    s->close_after_flush = true;
    return RTMP_OK;
}

static rtmp_int_t rtmp_cmd_publish(rtmp_session_t *s, const rtmp_message_t *m,
                                   const rtmp_cmd_t *cmd)
{
    rtmp_cmd_stream_t v;
    const char *err = nullptr;
    if (rtmp_cmd_get_stream(cmd, &v, &err) != RTMP_OK) {
        return rtmp_cmd_refuse_stream(s, m->h.msid, rtmp_cmd_status_id::publish_bad_name, err);
    }
    rtmp_stream_t *st = rtmp_cmd_stream(s, m->h.msid);
    if (st == nullptr || st->state != rtmp_stream_state::created) {
        rtmp_session_close(s, "publish on a stream that was not created or is busy");
        return RTMP_ERROR;
    }
    if (const char *bad = rtmp_cmd_stream_names(st, &v)) {
        return rtmp_cmd_refuse_stream(s, st->msid, rtmp_cmd_status_id::publish_bad_name, bad);
    }
    snprintf(st->type, sizeof(st->type), "%.*s", (int)v.type.len, v.type.data);
    if (!rtmp_session_stream_count(st)) {
        // a second encoder on a busy name adds no stream: it hears the real reason
        if (rtmp_live_has_publisher(s->app, st->name) &&
            !rtmp_live_app_conf(s->app)->publisher_takeover) {
            rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                           "publish \"%s/%s\" refused: already publishing", s->app->name.data,
                           st->name);
            return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name);
        }
        rtmp_log_error(RTMP_LOG_NOTICE, &s->c->log, 0,
                       "publish \"%s/%s\" refused: max_streams (%lld) reached", s->app->name.data,
                       st->name, (long long)rtmp_core_conf(rtmp_cycle)->max_streams);
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name,
                                   "Server limit reached: max_streams");
    }
    return rtmp_session_publish_chain(s, st);
}

rtmp_int_t rtmp_session_publish_chain(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_publish_handler(s, st);
    if (rc != RTMP_AGAIN && st->state != rtmp_stream_state::publishing) {
        rtmp_session_stream_uncount(st); // refused further down the chain
    }
    return rc;
}

rtmp_int_t rtmp_session_publish_resume(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_session_publish_chain(s, st);
    rtmp_event_post(s->c->write);
    return rc;
}

bool rtmp_session_stream_count(rtmp_stream_t *st)
{
    if (!st->limit_counted) {
        rtmp_int_t max = rtmp_cycle ? rtmp_core_conf(rtmp_cycle)->max_streams : 0;
        if (!rtmp_limits_stream_acquire(max)) {
            return false;
        }
        st->limit_counted = true;
    }
    return true;
}

void rtmp_session_stream_uncount(rtmp_stream_t *st)
{
    if (st->limit_counted) {
        st->limit_counted = false;
        rtmp_limits_stream_release();
    }
}

static rtmp_int_t rtmp_cmd_play(rtmp_session_t *s, const rtmp_message_t *m, const rtmp_cmd_t *cmd)
{
    rtmp_cmd_stream_t v;
    const char *err = nullptr;
    if (rtmp_cmd_get_stream(cmd, &v, &err) != RTMP_OK) {
        return rtmp_cmd_refuse_stream(s, m->h.msid, rtmp_cmd_status_id::play_stream_not_found, err);
    }
    rtmp_stream_t *st = rtmp_cmd_stream(s, m->h.msid);
    if (st == nullptr || st->state == rtmp_stream_state::publishing) {
        rtmp_session_close(s, "play on a stream that was not created or is publishing");
        return RTMP_ERROR;
    }
    if (const char *bad = rtmp_cmd_stream_names(st, &v)) {
        return rtmp_cmd_refuse_stream(s, st->msid, rtmp_cmd_status_id::play_stream_not_found, bad);
    }
    st->start = v.start;
    return rtmp_play_handler(s, st);
}

rtmp_int_t rtmp_session_sample_access(rtmp_session_t *s, uint32_t msid)
{
    rtmp_reply_t r;
    if (rtmp_cmd_sample_access(rtmp_reply_init(&r), true, true) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_cmd_send(s, msid, RTMP_MSG_AMF_META, &r);
}

// Ends what a stream was doing; the stream id stays allocated (closeStream) or not (deleteStream).
static rtmp_int_t rtmp_cmd_stop_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_stream_state was = st->state;
    rtmp_close_stream_handler(s, st);
    rtmp_session_stream_uncount(st);
    st->state = rtmp_stream_state::created;
    st->paused = false;
    if (was == rtmp_stream_state::publishing) {
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::unpublish_success, st->name);
    }
    if (was == rtmp_stream_state::playing) {
        // as nginx-rtmp: librtmp players (GStreamer's rtmpsrc) wait for an answer to stop
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_stop, st->name);
    }
    return RTMP_OK;
}

// The stream a deleteStream means: its argument; without a number there (some clients
// name the stream), the one its message is on, else the session's first publishing or
// playing stream.
static rtmp_stream_t *rtmp_cmd_delete_target(rtmp_session_t *s, uint32_t msid, double arg)
{
    if (arg != 0) { // out of range (or negative, NaN): a stream already gone
        return arg >= 1 && arg <= RTMP_SESSION_STREAMS ? rtmp_cmd_stream(s, (uint32_t)arg)
                                                       : nullptr;
    }
    if (msid) {
        return rtmp_cmd_stream(s, msid);
    }
    for (uint32_t id = 1; id <= RTMP_SESSION_STREAMS; id++) {
        rtmp_stream_t *st = rtmp_cmd_stream(s, id);
        if (st && (st->state == rtmp_stream_state::publishing ||
                   st->state == rtmp_stream_state::playing)) {
            return st;
        }
    }
    return nullptr;
}

static rtmp_int_t rtmp_cmd_close_stream(rtmp_session_t *s, const rtmp_message_t *m,
                                        const rtmp_cmd_t *cmd)
{
    rtmp_cmd_control_t v;
    const char *err = nullptr;
    if (rtmp_cmd_get_control(cmd, &v, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        return RTMP_ERROR;
    }
    // deleteStream names its stream in an argument, closeStream by the message stream
    rtmp_stream_t *st = cmd->kind == rtmp_cmd_kind::delete_stream
                            ? rtmp_cmd_delete_target(s, m->h.msid, v.stream_id)
                            : rtmp_cmd_stream(s, m->h.msid);
    if (st == nullptr) {
        return RTMP_OK; // already gone: clients send both
    }
    rtmp_int_t rc = rtmp_cmd_stop_stream(s, st);
    if (cmd->kind == rtmp_cmd_kind::delete_stream) {
        st->state = rtmp_stream_state::free;
    }
    return rc;
}

// pause and seek: their arguments, and the playing stream they are for (nullptr: none, so
// nothing to do); RTMP_ERROR when the arguments are bad and the session is closing.
static rtmp_int_t rtmp_cmd_playing_control(rtmp_session_t *s, const rtmp_message_t *m,
                                           const rtmp_cmd_t *cmd, rtmp_cmd_control_t *v,
                                           rtmp_stream_t **st)
{
    const char *err = nullptr;
    if (rtmp_cmd_get_control(cmd, v, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        return RTMP_ERROR;
    }
    *st = rtmp_cmd_stream(s, m->h.msid);
    if (*st && (*st)->state != rtmp_stream_state::playing) {
        *st = nullptr;
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_cmd_pause(rtmp_session_t *s, const rtmp_message_t *m, const rtmp_cmd_t *cmd)
{
    rtmp_cmd_control_t v;
    rtmp_stream_t *st;
    if (rtmp_cmd_playing_control(s, m, cmd, &v, &st) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return st ? rtmp_pause_handler(s, st, v.flag, v.ms) : RTMP_OK;
}

// The end of the pause chain: a live player just stops receiving until it unpauses.
static rtmp_int_t rtmp_cmd_pause_live(rtmp_session_t *s, rtmp_stream_t *st, bool pause, double)
{
    st->paused = pause;
    return rtmp_session_status(
        s, st->msid, pause ? rtmp_cmd_status_id::pause_notify : rtmp_cmd_status_id::unpause_notify,
        st->name);
}

rtmp_pause_pt rtmp_pause_handler = rtmp_cmd_pause_live;

static rtmp_int_t rtmp_cmd_seek(rtmp_session_t *s, const rtmp_message_t *m, const rtmp_cmd_t *cmd)
{
    rtmp_cmd_control_t v;
    rtmp_stream_t *st;
    if (rtmp_cmd_playing_control(s, m, cmd, &v, &st) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return st ? rtmp_seek_handler(s, st, v.ms) : RTMP_OK;
}

// The end of the seek chain: a live stream has nowhere to seek to.
static rtmp_int_t rtmp_cmd_seek_live(rtmp_session_t *, rtmp_stream_t *, double)
{
    return RTMP_OK;
}

rtmp_seek_pt rtmp_seek_handler = rtmp_cmd_seek_live;

static rtmp_int_t rtmp_cmd_receive(rtmp_session_t *s, const rtmp_message_t *m,
                                   const rtmp_cmd_t *cmd)
{
    rtmp_cmd_control_t v;
    const char *err = nullptr;
    if (rtmp_cmd_get_control(cmd, &v, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        return RTMP_ERROR;
    }
    rtmp_stream_t *st = rtmp_cmd_stream(s, m->h.msid);
    if (st) {
        (cmd->kind == rtmp_cmd_kind::receive_audio ? st->receive_audio : st->receive_video) =
            v.flag;
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_cmd_ignore(rtmp_session_t *, const rtmp_message_t *, const rtmp_cmd_t *)
{
    return RTMP_OK;
}

// Indexed by rtmp_cmd_kind; what is only allowed after connect is checked by the caller.
static constexpr struct {
    rtmp_cmd_kind kind;
    rtmp_cmd_handler_pt handler;
} rtmp_cmd_handlers[] = {
    {rtmp_cmd_kind::connect, rtmp_cmd_connect},
    {rtmp_cmd_kind::create_stream, rtmp_cmd_create_stream},
    {rtmp_cmd_kind::release_stream, rtmp_cmd_fc},
    {rtmp_cmd_kind::fc_publish, rtmp_cmd_fc},
    {rtmp_cmd_kind::fc_unpublish, rtmp_cmd_fc},
    {rtmp_cmd_kind::fc_subscribe, rtmp_cmd_fc},
    {rtmp_cmd_kind::publish, rtmp_cmd_publish},
    {rtmp_cmd_kind::play, rtmp_cmd_play},
    {rtmp_cmd_kind::play2, rtmp_cmd_play},
    {rtmp_cmd_kind::delete_stream, rtmp_cmd_close_stream},
    {rtmp_cmd_kind::close_stream, rtmp_cmd_close_stream},
    {rtmp_cmd_kind::pause, rtmp_cmd_pause},
    {rtmp_cmd_kind::seek, rtmp_cmd_seek},
    {rtmp_cmd_kind::receive_audio, rtmp_cmd_receive},
    {rtmp_cmd_kind::receive_video, rtmp_cmd_receive},
    {rtmp_cmd_kind::get_stream_length, rtmp_cmd_call},
    {rtmp_cmd_kind::check_bw, rtmp_cmd_call},
    // replies to our own calls (onBWDone, pings) and status echoes need nothing
    {rtmp_cmd_kind::result, rtmp_cmd_ignore},
    {rtmp_cmd_kind::error, rtmp_cmd_ignore},
    {rtmp_cmd_kind::on_status, rtmp_cmd_ignore},
};

// A token bucket per session: max_commands_per_second sustained, command_burst at once.
// Each command costs a parse and usually a reply, so a storm is dropped, not served.
static bool rtmp_session_command_allowed(rtmp_session_t *s)
{
    rtmp_server_conf_t *scf = s->scf;
    if (scf->max_commands_per_second == 0 || s->relay) {
        return true;
    }
    uint64_t cap = (uint64_t)scf->command_burst * 1000;
    if (s->cmd_refill == 0) {
        s->cmd_tokens = cap;
    } else {
        s->cmd_tokens +=
            (rtmp_current_msec - s->cmd_refill) * (uint64_t)scf->max_commands_per_second;
    }
    s->cmd_refill = rtmp_current_msec;
    if (s->cmd_tokens > cap) {
        s->cmd_tokens = cap;
    }
    if (s->cmd_tokens < 1000) {
        return false;
    }
    s->cmd_tokens -= 1000;
    return true;
}

rtmp_int_t rtmp_session_command(rtmp_session_t *s, const rtmp_message_t *m)
{
    if (!rtmp_session_command_allowed(s)) {
        rtmp_session_close(s, "command storm: above max_commands_per_second");
        return RTMP_ERROR;
    }
    // A short-lived pool per command: a storm of commands costs no lasting memory.
    rtmp_pool_t *pool = rtmp_pool_create(4096, &s->c->log);
    rtmp_amf_limits_t limits = RTMP_AMF_LIMITS_DEFAULT;
    rtmp_cmd_t cmd;
    const char *err = nullptr;
    rtmp_int_t rc;

    if (rtmp_cmd_parse(pool, m->h.type, m->payload, &limits, &cmd, &err) != RTMP_OK) {
        rtmp_session_close(s, err);
        rc = RTMP_ERROR;
    } else if (s->relay) {
        rc = rtmp_relay_command(s, m, &cmd);
    } else if (s->state == rtmp_session_state::connect && cmd.kind != rtmp_cmd_kind::connect) {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "\"%.*s\" before connect", (int)cmd.name.len,
                       cmd.name.data);
        rtmp_session_close(s, "command before connect");
        rc = RTMP_ERROR;
    } else {
        rtmp_cmd_handler_pt handler = rtmp_cmd_call;
        for (const auto &h : rtmp_cmd_handlers) {
            if (h.kind == cmd.kind) {
                handler = h.handler;
            }
        }
        rtmp_log_debug(&s->c->log, "command \"%.*s\" tid %g msid %u", (int)cmd.name.len,
                       cmd.name.data, cmd.tid, m->h.msid);
        rc = handler(s, m, &cmd);
        if (rc == RTMP_AGAIN) {
            rc = RTMP_OK; // a module answers later (see rtmp_publish_pt): read on meanwhile
        }
    }
    rtmp_pool_destroy(pool);
    return rc;
}
