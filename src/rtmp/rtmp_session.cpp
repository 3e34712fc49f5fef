// The session: socket I/O, handshake, chunk stream, protocol control, timeouts and closing.
#include "rtmp/rtmp_session.h"
#include "core/rtmp_time.h"
#include "event/rtmp_ssl.h"
#include "rtmp/rtmp_control.h"
#include "rtmp/rtmp_limits.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_stat.h"

#include <sys/uio.h>

static_assert(offsetof(rtmp_session_t, srv) == RTMP_CACHE_LINE,
              "what sending touches fills the session's first line, and no more");

// One receive buffer per worker: the handshake and the chunk reader copy what they keep,
// so an idle connection costs no input memory at all.
static u_char rtmp_session_recv_buf[65536];

// A wakeup reads at most this much before letting other connections run.
static constexpr size_t RTMP_SESSION_READ_CAP = 4 * sizeof(rtmp_session_recv_buf);
// Paced input held for one interval stays well inside a socket's first receive window
// (64 KB): a read of more than this makes the next one go at once, so a sender is never
// held back by the pacing, and a high bitrate is read as it arrives.
static constexpr size_t RTMP_SESSION_PACE_BYTES = 32768;
// Replies and control messages waiting for a slow reader; media has its own queues.
static constexpr size_t RTMP_SESSION_OUT_SIZE = 2048;

static void rtmp_session_read_handler(rtmp_event_t *ev);
static void rtmp_session_write_handler(rtmp_event_t *ev);
static void rtmp_session_finalize(rtmp_session_t *s);

static const char *rtmp_session_state_name(rtmp_session_state st)
{
    switch (st) {
    case rtmp_session_state::handshake:
        return "handshake";
    case rtmp_session_state::connect:
        return "connect";
    case rtmp_session_state::connected:
        return "connected";
    default:
        return "closing";
    }
}

static rtmp_session_t *rtmp_session_create(rtmp_connection_t *c, rtmp_conf_srv_t *srv)
{
    // Each connection's pool is a page of its own, so each session would sit at the same
    // offset in its page, and a fan-out's thousands of sessions would share the few cache
    // sets that offset maps to, evicting each other: eight offsets spread them.
    (void)rtmp_pnalloc(c->pool, c->number % 8 * RTMP_CACHE_LINE);
    auto *s = rtmp_palloc<rtmp_session_t>(c->pool);
    s->c = c;
    s->srv = srv;
    s->scf = rtmp_server_conf(srv);
    s->state = rtmp_session_state::handshake;
    s->last_input = rtmp_current_msec;
    c->data = s;
    c->read->handler = rtmp_session_read_handler;
    c->write->handler = rtmp_session_write_handler;
    c->read->log = &c->log;
    c->write->log = &c->log;

    return s;
}

// Counts the connection in the server-wide limits, or refuses it before the handshake.
static rtmp_int_t rtmp_session_admit(rtmp_session_t *s)
{
    if (rtmp_cycle == nullptr) {
        return RTMP_OK;
    }
    rtmp_core_conf_t *ccf = rtmp_core_conf(rtmp_cycle);
    const char *limit = rtmp_limits_conn_acquire(&s->c->sockaddr, ccf->max_connections,
                                                 ccf->max_connections_per_ip, &s->limit_ticket);
    if (limit) {
        // a client that keeps reconnecting must not fill the disk with these
        static rtmp_log_limit_t lines;
        uint64_t left_out;
        if (rtmp_log_allow(&lines, 10, &left_out)) {
            char more[64] = "";
            if (left_out > 0) {
                snprintf(more, sizeof(more), " (%llu more refused since the last line)",
                         (unsigned long long)left_out);
            }
            rtmp_log_error(
                RTMP_LOG_NOTICE, &s->c->log, 0, "connection refused: %s (%lld) reached%s", limit,
                (long long)(strcmp(limit, "max_connections") == 0 ? ccf->max_connections
                                                                  : ccf->max_connections_per_ip),
                more);
        }
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

void rtmp_session_init(rtmp_connection_t *c)
{
    rtmp_stat_count(rtmp_stat_id::accepted_rtmp);
    rtmp_session_t *s = rtmp_session_create(c, c->listening->server);
    if (rtmp_session_admit(s) != RTMP_OK) {
        rtmp_connection_close(c);
        return;
    }
    if (rtmp_event_add_connection(c) != RTMP_OK) {
        rtmp_limits_conn_release(&s->limit_ticket);
        rtmp_connection_close(c);
        return;
    }
    rtmp_event_add_timer(c->read, s->scf->handshake_timeout);
}

rtmp_session_t *rtmp_session_init_client(rtmp_connection_t *c, rtmp_conf_srv_t *srv)
{
    rtmp_session_t *s = rtmp_session_create(c, srv);
    s->hs = static_cast<rtmp_handshake_t *>(rtmp_alloc(sizeof(rtmp_handshake_t)));
    if (rtmp_handshake_init_client(s->hs, &c->log) != RTMP_OK ||
        rtmp_event_add_connection(c) != RTMP_OK) {
        rtmp_free(s->hs);
        rtmp_connection_close(c);
        return nullptr;
    }
    rtmp_event_add_timer(c->read, s->scf->handshake_timeout);
    rtmp_event_post(c->write); // C0 and C1 go out from the write handler
    return s;
}

void rtmp_session_close(rtmp_session_t *s, const char *reason)
{
    if (s->state == rtmp_session_state::closing) {
        return;
    }
    // the place is free once the close is logged, for whoever reads the log to decide
    rtmp_limits_conn_release(&s->limit_ticket);
    if (s->state == rtmp_session_state::handshake) {
        rtmp_stat_count(rtmp_stat_id::handshake_failures); // bad bytes, EOF or timeout
    }
    if (s->relay) {
        rtmp_relay_closing(s, reason);
    }
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                   "session closed: %s (state %s, in %llu B, "
                   "out %llu B)",
                   reason, rtmp_session_state_name(s->state), (unsigned long long)s->c->received,
                   (unsigned long long)s->c->sent);
    s->state = rtmp_session_state::closing;
    // handlers up the stack may still touch the session: finish it after them
    s->c->read->handler = [](rtmp_event_t *ev) {
        auto *c = static_cast<rtmp_connection_t *>(ev->data);
        rtmp_session_finalize(static_cast<rtmp_session_t *>(c->data));
    };
    rtmp_event_post(s->c->read);
}

static void rtmp_session_finalize(rtmp_session_t *s)
{
    for (rtmp_stream_t *st : s->streams) {
        if (st && st->state != rtmp_stream_state::free) {
            rtmp_close_stream_handler(s, st);
        }
        if (st) {
            rtmp_session_stream_uncount(st);
        }
    }
    rtmp_limits_conn_release(&s->limit_ticket);
    if (s->pace) {
        if (s->pace->ev.timer_set) {
            rtmp_event_del_timer(&s->pace->ev);
        }
        rtmp_event_delete_posted(&s->pace->arm);
    }
    for (uint32_t i = 0; i < s->qcount; i++) {
        rtmp_frame_unref(s->queue[(s->qhead + i) % s->qcap].frame);
    }
    rtmp_free(s->queue);
    s->queue = nullptr;
    s->qcount = 0;
    if (s->hs) {
        rtmp_free(s->hs);
        s->hs = nullptr;
    }
    rtmp_free(s->out);
    s->out = nullptr;
    rtmp_connection_linger(s->c);
}

// ---- output ---------------------------------------------------------------------------

// Sends from the buffer until it is empty; RTMP_AGAIN when the socket is full.
static rtmp_int_t rtmp_session_send_buf(rtmp_session_t *s, rtmp_buf_t *b)
{
    rtmp_connection_t *c = s->c;
    while (b && rtmp_buf_size(b) > 0) {
        struct iovec iov = {b->pos, rtmp_buf_size(b)};
        ssize_t n = c->send_iov(c, &iov, 1);
        if (n == RTMP_AGAIN) {
            return RTMP_AGAIN;
        }
        if (n < 0) {
            rtmp_session_close(s, "send failed");
            return RTMP_ERROR;
        }
        b->pos += n;
        if (!c->write->ready) {
            return RTMP_AGAIN; // a short write (rtmp_unix_send_iov)
        }
    }
    // the handshake appends C2 after C0C1 in its own buffer; ours is given back once
    // drained, so a player's media sends never look at it
    if (b && b == s->out) {
        rtmp_free(s->out);
        s->out = nullptr;
    }
    return RTMP_OK;
}

// A player's queue ring starts at this many frames (a 100 ms flush of one stream's audio
// and video fits) and grows by doubling.
static constexpr uint32_t RTMP_SESSION_QUEUE_MIN = 16;

// Frames per writev: enough to batch a flush, few enough for the stack.
static constexpr int RTMP_SESSION_IOV = 64;

// Sends queued frames with writev; with head_only, just the rest of a partly sent head
// frame, so other chunk streams' messages never land inside one of its chunks. Otherwise
// the replies in the output buffer, older than any queued frame, lead the first writev:
// a play's status and the GOP it joins with leave in one system call.
static rtmp_int_t rtmp_session_send_queue(rtmp_session_t *s, bool head_only)
{
    rtmp_connection_t *c = s->c;
    struct iovec iov[1 + RTMP_SESSION_IOV * 2];
    u_char patched[RTMP_SESSION_IOV][20]; // first chunk headers with the player's msid

    while (s->qcount > 0) {
        int niov = 0;
        size_t replies = head_only || s->out == nullptr ? 0 : rtmp_buf_size(s->out);
        if (replies > 0) {
            iov[niov++] = {s->out->pos, replies};
        }
        uint32_t nframes = head_only ? 1 : s->qcount;
        if (nframes > RTMP_SESSION_IOV) {
            nframes = RTMP_SESSION_IOV;
        }
        for (uint32_t i = 0; i < nframes; i++) {
            auto &e = s->queue[(s->qhead + i) % s->qcap];
            rtmp_frame_t *f = e.frame;
            size_t skip = i == 0 ? s->head_sent : 0;
            if (e.msid != RTMP_FRAME_MSID && skip < f->header_len) {
                // the shared encoding names stream 1: patch a copy of its first header
                memcpy(patched[i], f->data, f->header_len);
                uint32_t msid = e.msid;
                memcpy(patched[i] + rtmp_frame_msid_offset(f), &msid, 4); // little endian
                iov[niov++] = {patched[i] + skip, f->header_len - skip};
                skip = f->header_len;
            }
            iov[niov++] = {f->data + skip, f->len - skip};
        }
        ssize_t n = c->send_iov(c, iov, niov);
        if (n == RTMP_AGAIN) {
            return RTMP_AGAIN;
        }
        if (n < 0) {
            rtmp_session_close(s, "send failed");
            return RTMP_ERROR;
        }
        size_t sent = (size_t)n;
        if (replies > 0) {
            size_t k = sent < replies ? sent : replies;
            s->out->pos += k;
            sent -= k;
            if (k == replies) {
                rtmp_free(s->out);
                s->out = nullptr;
            }
        }
        s->qbytes -= sent;
        while (sent > 0) {
            auto &e = s->queue[s->qhead];
            size_t left = e.frame->len - s->head_sent;
            if (sent < left) {
                s->head_sent += sent;
                break;
            }
            sent -= left;
            s->head_sent = 0;
            rtmp_frame_unref(e.frame);
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qcount--;
            if (head_only) {
                return RTMP_OK;
            }
        }
        if (!c->write->ready) {
            return RTMP_AGAIN; // a short write (rtmp_unix_send_iov)
        }
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_session_flush(rtmp_session_t *s)
{
    if (!s->c->write->ready) {
        // the socket said it is full: EPOLLOUT calls again, and a flush posted before the
        // short write would only meet EAGAIN, or the reset of a client already gone
        return RTMP_AGAIN;
    }
    if (s->state == rtmp_session_state::handshake) {
        return rtmp_session_send_buf(s, s->hs ? &s->hs->out : nullptr);
    }
    rtmp_int_t rc = RTMP_OK;
    if (s->head_sent > 0) {
        rc = rtmp_session_send_queue(s, true);
    }
    if (rc == RTMP_OK && s->qcount == 0) {
        rc = rtmp_session_send_buf(s, s->out);
    }
    if (rc == RTMP_OK) {
        rc = rtmp_session_send_queue(s, false);
    }
    if (rc == RTMP_OK && s->qcount == 0 && s->qcap > RTMP_SESSION_QUEUE_MIN) {
        // grown by a burst (the GOP a player joins with): give it back once drained, or
        // every player keeps a ring sized for its first second
        rtmp_free(s->queue);
        s->queue = nullptr;
        s->qcap = 0;
        s->qhead = 0;
    }
    if (rc == RTMP_OK && s->close_after_flush) {
        if (!rtmp_connection_flushed(s->c)) {
            return RTMP_AGAIN; // TLS holds the reply's last record: EPOLLOUT writes it
        }
        rtmp_session_close(s, "reply sent, closing as told");
        return RTMP_DONE;
    }
    return rc;
}

void rtmp_session_enqueue(rtmp_session_t *s, rtmp_frame_t *f, uint32_t msid, bool flush)
{
    if (s->qcount == s->qcap) {
        // grow the ring, unrolling it so qhead becomes 0
        uint32_t cap = s->qcap ? s->qcap * 2 : RTMP_SESSION_QUEUE_MIN;
        auto *q = static_cast<rtmp_session_out_t *>(rtmp_alloc(cap * sizeof(rtmp_session_out_t)));
        for (uint32_t i = 0; i < s->qcount; i++) {
            q[i] = s->queue[(s->qhead + i) % s->qcap];
        }
        rtmp_free(s->queue);
        s->queue = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    s->queue[(s->qhead + s->qcount) % s->qcap] = {rtmp_frame_ref(f), msid, rtmp_current_msec};
    s->qcount++;
    s->qbytes += f->len;
    // once after the current batch of events, however many frames arrive in it; a socket
    // that said EAGAIN is left alone until EPOLLOUT says it drained, or a slow reader
    // would cost a failing writev per frame
    if (flush && s->c->write->ready) {
        rtmp_event_post(s->c->write);
    }
}

uint32_t rtmp_session_queue_drop(rtmp_session_t *s, uint32_t msid, uint8_t flags)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->qcount; i++) {
        rtmp_session_out_t e = s->queue[(s->qhead + i) % s->qcap];
        bool begun = i == 0 && s->head_sent > 0;
        if (!begun && e.msid == msid && (e.frame->flags & flags)) {
            s->qbytes -= e.frame->len;
            rtmp_frame_unref(e.frame);
            continue;
        }
        s->queue[(s->qhead + keep++) % s->qcap] = e; // compacted in place: keep <= i
    }
    uint32_t dropped = s->qcount - keep;
    s->qcount = keep;
    return dropped;
}

rtmp_msec_t rtmp_session_queue_lag(const rtmp_session_t *s)
{
    if (s->qcount == 0) {
        return 0;
    }
    return rtmp_current_msec - s->queue[s->qhead].queued;
}

rtmp_int_t rtmp_session_send_message(rtmp_session_t *s, const rtmp_message_t *m)
{
    size_t need = rtmp_chunk_write_size(&s->writer, &m->h);
    if (s->qcount > 0) {
        // media is queued: this message goes behind it, so a status such as
        // UnpublishNotify never overtakes the frames it follows
        rtmp_frame_t *f = rtmp_frame_alloc(need);
        rtmp_buf_t b = {};
        b.start = b.pos = b.last = f->data;
        b.end = f->data + need;
        if (rtmp_chunk_write(&s->writer, m, &b) != RTMP_OK) {
            rtmp_frame_unref(f);
            rtmp_session_close(s, "cannot chunk a reply");
            return RTMP_ERROR;
        }
        f->len = (uint32_t)rtmp_buf_size(&b);
        rtmp_session_enqueue(s, f, RTMP_FRAME_MSID, true); // chunked for this session alone
        rtmp_frame_unref(f);
        return RTMP_OK;
    }
    if (s->out && need > rtmp_buf_free(s->out)) {
        // a burst of replies: send what is there before giving up on the peer
        if (rtmp_session_send_buf(s, s->out) == RTMP_ERROR) {
            return RTMP_ERROR;
        }
        if (s->out) {
            rtmp_buf_compact(s->out);
        }
    }
    if (s->out == nullptr) {
        s->out = static_cast<rtmp_buf_t *>(rtmp_calloc(sizeof(rtmp_buf_t) + RTMP_SESSION_OUT_SIZE));
        s->out->start = s->out->pos = s->out->last = reinterpret_cast<u_char *>(s->out + 1);
        s->out->end = s->out->start + RTMP_SESSION_OUT_SIZE;
        s->out->temporary = 1;
    }
    if (need > rtmp_buf_free(s->out) || rtmp_chunk_write(&s->writer, m, s->out) != RTMP_OK) {
        rtmp_session_close(s, "peer does not read our replies (output buffer full)");
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

static void rtmp_session_write_handler(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *s = static_cast<rtmp_session_t *>(c->data);
    if (s->state != rtmp_session_state::closing) {
        (void)rtmp_session_flush(s);
    }
}

// ---- protocol control ---------------------------------------------------------------------

rtmp_int_t rtmp_session_send_control(rtmp_session_t *s, rtmp_message_t m)
{
    return rtmp_session_send_message(s, &m);
}

static rtmp_int_t rtmp_session_control(rtmp_session_t *s, const rtmp_message_t *m)
{
    rtmp_control_t ctl;
    const char *reason = nullptr;
    rtmp_int_t rc = rtmp_control_parse(m, &ctl, &reason);
    if (rc == RTMP_DECLINED) {
        return RTMP_OK; // a user control event we do not know: ignored, as the spec allows
    }
    if (rc != RTMP_OK) {
        rtmp_session_close(s, reason);
        return RTMP_ERROR;
    }
    rtmp_control_buf_t cb;
    switch (ctl.type) {
    case RTMP_MSG_ACK_SIZE:
        s->peer_ack_window = ctl.value;
        break;
    case RTMP_MSG_USER:
        if (ctl.event == RTMP_USER_PING_REQUEST) {
            return rtmp_session_send_control(
                s, rtmp_control_user(&cb, RTMP_USER_PING_RESPONSE, ctl.value));
        }
        if (ctl.event == RTMP_USER_PING_RESPONSE) {
            s->ping_sent = 0;
        }
        if (ctl.event == RTMP_USER_STREAM_EOF && s->relay) {
            rtmp_relay_stream_eof(s);
        }
        break;
    default:
        // Set Chunk Size and Abort took effect in the reader; acknowledgements of our
        // output and Set Peer Bandwidth need no answer from a server
        break;
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_session_media(rtmp_session_t *s, const rtmp_message_t *m)
{
    uint32_t msid = m->h.msid;
    if (msid == 0 || msid > RTMP_SESSION_STREAMS) {
        return RTMP_OK; // not on any stream of ours: nothing to do with it
    }
    rtmp_stream_t *st = s->streams[msid - 1];
    if (st == nullptr || st->state != rtmp_stream_state::publishing) {
        return RTMP_OK; // media for a stream that is not publishing: dropped, as FMS does
    }
    st->media_messages++;
    return rtmp_media_handler(s, st, m);
}

static rtmp_int_t rtmp_session_message(rtmp_session_t *s, const rtmp_message_t *m)
{
    switch (m->h.type) {
    case RTMP_MSG_CHUNK_SIZE:
    case RTMP_MSG_ABORT:
    case RTMP_MSG_ACK:
    case RTMP_MSG_USER:
    case RTMP_MSG_ACK_SIZE:
    case RTMP_MSG_BANDWIDTH:
        return rtmp_session_control(s, m);

    case RTMP_MSG_AMF_CMD:
    case RTMP_MSG_AMF3_CMD:
        return rtmp_session_command(s, m);

    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
    case RTMP_MSG_AMF_META:
    case RTMP_MSG_AMF3_META:
        if (s->state != rtmp_session_state::connected) {
            rtmp_session_close(s, "media before connect");
            return RTMP_ERROR;
        }
        return rtmp_session_media(s, m);

    case RTMP_MSG_AGGREGATE: {
        rtmp_aggregate_t agg;
        rtmp_message_t sub;
        const char *reason = nullptr;
        rtmp_aggregate_init(&agg, m);
        rtmp_int_t rc;
        while ((rc = rtmp_aggregate_next(&agg, &sub, &reason)) == RTMP_OK) {
            if (rtmp_session_media(s, &sub) != RTMP_OK) {
                return RTMP_ERROR;
            }
        }
        if (rc == RTMP_ERROR) {
            rtmp_session_close(s, reason);
            return RTMP_ERROR;
        }
        return RTMP_OK;
    }

    default:
        // shared objects (16, 19) and unknown types: no server behaviour defined
        rtmp_log_debug(&s->c->log, "ignoring message type %u", m->h.type);
        return RTMP_OK;
    }
}

// ---- input --------------------------------------------------------------------------------

static rtmp_int_t rtmp_session_start_chunks(rtmp_session_t *s)
{
    rtmp_server_conf_t *scf = s->scf;
    rtmp_chunk_reader_conf_t rc = {};
    // any chunk size the spec allows: chunks are bounded by max_message, which is what
    // costs memory
    rc.max_chunk_size = RTMP_CHUNK_MAX_SIZE;
    rc.max_message = (uint32_t)scf->max_message;
    rc.max_streams = (uint32_t)scf->max_chunk_streams;
    s->reader = rtmp_chunk_reader_create(s->c->pool, &rc);
    rtmp_chunk_writer_init(&s->writer, s->c->pool, RTMP_CHUNK_DEFAULT_SIZE);

    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "handshake done (%s, %s %s%s%s)",
                   rtmp_handshake_type_name(s->hs->type), s->relay ? "S2" : "C2",
                   rtmp_handshake_reply_name(s->hs->reply), s->c->tls ? ", over " : "",
                   s->c->tls ? rtmp_ssl_protocol(s->c) : "");
    rtmp_free(s->hs);
    s->hs = nullptr;
    s->state = rtmp_session_state::connect;
    s->last_input = rtmp_current_msec;
    s->msg_start = rtmp_current_msec;
    // from now on the read timer watches for silence, slow messages and sends pings
    rtmp_msec_t next = s->scf->ping ? s->scf->ping : s->scf->timeout;
    if (s->scf->message_timeout && s->scf->message_timeout < next) {
        next = s->scf->message_timeout;
    }
    rtmp_event_add_timer(s->c->read, next);
    return s->relay ? rtmp_relay_handshake_done(s) : RTMP_OK;
}

static rtmp_int_t rtmp_session_handshake(rtmp_session_t *s, std::span<const u_char> *in)
{
    if (s->hs == nullptr) {
        s->hs = static_cast<rtmp_handshake_t *>(rtmp_alloc(sizeof(rtmp_handshake_t)));
        if (rtmp_handshake_init_server(s->hs, &s->c->log) != RTMP_OK) {
            rtmp_session_close(s, "handshake setup failed");
            return RTMP_ERROR;
        }
    }
    size_t consumed = 0;
    rtmp_int_t rc = rtmp_handshake_feed(s->hs, *in, &consumed);
    *in = in->subspan(consumed);
    if (rc == RTMP_ERROR) {
        rtmp_session_close(s, s->hs->reason);
        return RTMP_ERROR;
    }
    rtmp_int_t frc = rtmp_session_flush(s);
    if (frc == RTMP_ERROR) {
        return RTMP_ERROR;
    }
    if (rc == RTMP_DONE) {
        if (frc == RTMP_AGAIN) {
            // S2 not fully sent while the client already talks: rare; keep it simple
            rtmp_session_close(s, "client too slow to take the handshake reply");
            return RTMP_ERROR;
        }
        return rtmp_session_start_chunks(s);
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_session_chunks(rtmp_session_t *s, std::span<const u_char> in)
{
    // Called again even with no input left: the reader may hold a complete message
    // back after peeking for an omitted extended timestamp.
    while (s->state != rtmp_session_state::closing) {
        size_t consumed = 0;
        rtmp_message_t m;
        rtmp_int_t rc = rtmp_chunk_read(s->reader, in, &consumed, &m);
        in = in.subspan(consumed);
        if (rc == RTMP_AGAIN) {
            break;
        }
        if (rc != RTMP_OK) {
            rtmp_session_close(s, s->reader->reason);
            return RTMP_ERROR;
        }
        s->msg_start = rtmp_current_msec;
        if (rtmp_session_message(s, &m) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    // RTMP 1.0 spec 5.4.3: acknowledge once a window's worth of bytes has arrived
    uint64_t read = s->reader->bytes_read;
    if (s->peer_ack_window && read - s->acked >= s->peer_ack_window) {
        s->acked = read;
        rtmp_control_buf_t cb;
        return rtmp_session_send_control(s, rtmp_control_ack(&cb, (uint32_t)read));
    }
    return RTMP_OK;
}

// Slowloris after the handshake: input that keeps arriving but never completes a message.
// The message clock restarts with each complete message and with input that begins after
// nothing was pending.
static void rtmp_session_message_clock(rtmp_session_t *s)
{
    if (s->reader && !rtmp_chunk_reader_partial(s->reader)) {
        s->msg_start = rtmp_current_msec;
    }
}

// Fires on silence: ping a quiet peer, drop one that stays silent or never answers.
static void rtmp_session_timer(rtmp_session_t *s)
{
    rtmp_server_conf_t *scf = s->scf;
    if (s->state == rtmp_session_state::handshake) {
        rtmp_session_close(s, "handshake timed out");
        return;
    }
    rtmp_msec_t quiet = rtmp_current_msec - s->last_input;
    if (quiet >= scf->timeout) {
        rtmp_session_close(s, "timed out: no input");
        return;
    }
    if (s->ping_sent && rtmp_current_msec - s->ping_sent >= scf->ping_timeout) {
        rtmp_session_close(s, "ping timed out");
        return;
    }
    rtmp_msec_t next = scf->timeout - quiet;
    if (scf->message_timeout) {
        rtmp_msec_t left = scf->message_timeout;
        if (rtmp_chunk_reader_partial(s->reader)) {
            rtmp_msec_t took = rtmp_current_msec - s->msg_start;
            if (took >= scf->message_timeout) {
                rtmp_session_close(s, "message not completed within message_timeout");
                return;
            }
            left = scf->message_timeout - took;
        }
        next = left < next ? left : next;
    }
    if (scf->ping && s->state == rtmp_session_state::connected) {
        if (!s->ping_sent && quiet >= scf->ping) {
            rtmp_control_buf_t cb;
            s->ping_sent = rtmp_current_msec;
            if (rtmp_session_send_control(s, rtmp_control_user(&cb, RTMP_USER_PING_REQUEST,
                                                               (uint32_t)rtmp_current_msec)) !=
                    RTMP_OK ||
                rtmp_session_flush(s) == RTMP_ERROR) {
                return;
            }
        }
        rtmp_msec_t until =
            s->ping_sent ? s->ping_sent + scf->ping_timeout - rtmp_current_msec : scf->ping - quiet;
        next = until < next ? until : next;
    }
    rtmp_event_add_timer(s->c->read, next ? next : 1);
}

static void rtmp_session_pace_end(rtmp_event_t *ev)
{
    auto *s = static_cast<rtmp_session_t *>(ev->data);
    ev->timedout = 0;
    s->pace->due = true;
    // held input is not reported: whatever the interval brought is there to be read
    s->c->read->ready = 1;
    rtmp_event_post(s->c->read);
}

// Input that keeps coming is read again an interval after this read's frames were handed
// to the players' sockets, not after the read: a fan-out to thousands of players takes
// milliseconds, and under load the batches grow by that time instead of the sends
// filling the interval. Posted behind the sends the read posted, with the clock read anew.
static void rtmp_session_pace_arm(rtmp_event_t *ev)
{
    auto *s = static_cast<rtmp_session_t *>(ev->data);
    rtmp_session_pace_t *p = s->pace;
    if (p->interval == 0 || !p->held || p->ev.timer_set ||
        s->state == rtmp_session_state::closing) {
        return;
    }
    rtmp_time_update();
    rtmp_event_add_timer(&p->ev, p->interval);
}

void rtmp_session_pace_reads(rtmp_session_t *s, rtmp_msec_t interval)
{
    rtmp_session_pace_t *p = s->pace;
    if (p == nullptr) {
        if (interval == 0) {
            return;
        }
        p = s->pace = rtmp_palloc<rtmp_session_pace_t>(s->c->pool);
        p->ev.data = s;
        p->ev.handler = rtmp_session_pace_end;
        p->ev.log = &s->c->log;
        p->arm.data = s;
        p->arm.handler = rtmp_session_pace_arm;
        p->arm.log = &s->c->log;
    }
    p->interval = interval;
    if (interval == 0 && (p->ev.timer_set || p->arm.posted)) {
        rtmp_event_del_timer(&p->ev); // what waits is read now
        rtmp_event_delete_posted(&p->arm);
        if (s->state != rtmp_session_state::closing) {
            s->c->read->ready = 1;
            rtmp_event_post(s->c->read);
        }
    }
}

static void rtmp_session_pace_hold(rtmp_session_t *s, bool hold)
{
    rtmp_session_pace_t *p = s->pace;
    if (p->held != hold && rtmp_event_hold_read(s->c, hold) == RTMP_OK) {
        p->held = hold;
    }
}

// Paced input waits until the interval its arrival opened ends. A message left half read
// goes on at once: a key frame larger than the socket's buffer would otherwise take an
// interval per buffer.
static bool rtmp_session_read_due(rtmp_session_t *s)
{
    rtmp_session_pace_t *p = s->pace;
    p->waited = p->due && p->interval;
    if (p->interval == 0 || p->due || p->at_once || rtmp_chunk_reader_partial(s->reader)) {
        p->due = p->at_once = false;
        if (p->ev.timer_set) {
            rtmp_event_del_timer(&p->ev);
        }
        return true;
    }
    if (!p->ev.timer_set) {
        rtmp_event_add_timer(&p->ev, p->interval);
        rtmp_session_pace_hold(s, true);
    }
    return false;
}

// After a paced read. Input that flows stays out of epoll and is read again an interval
// after this read's sends, on the timer alone (rtmp_session_pace_arm): no system call but
// the read itself per interval. An empty socket, a large read or a message left half read
// hand the socket back to epoll, whose next report opens an interval again (or, for the
// latter two, is read at once).
static void rtmp_session_pace_next(rtmp_session_t *s, size_t total)
{
    rtmp_session_pace_t *p = s->pace;
    p->waited = false;
    if (s->state == rtmp_session_state::closing) {
        return;
    }
    p->at_once = total > RTMP_SESSION_PACE_BYTES;
    bool flowing = p->interval && total && !p->at_once && !rtmp_chunk_reader_partial(s->reader);
    rtmp_session_pace_hold(s, flowing);
    if (flowing && !p->ev.timer_set) {
        rtmp_event_post(&p->arm);
    }
}

static void rtmp_session_read_handler(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *s = static_cast<rtmp_session_t *>(c->data);

    if (c->close) {
        rtmp_session_close(s, "server shutting down");
        rtmp_session_finalize(s);
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        rtmp_session_timer(s);
        return;
    }
    if (s->pace && !rtmp_session_read_due(s)) {
        return;
    }

    size_t total = 0;
    // until the socket is drained: a short read says so (rtmp_unix_recv), or EAGAIN
    while (s->state != rtmp_session_state::closing && c->read->ready) {
        if (total >= RTMP_SESSION_READ_CAP) {
            rtmp_event_post(ev); // more may be waiting: continue after the others had a turn
            break;
        }
        ssize_t n = c->recv(c, rtmp_session_recv_buf, sizeof(rtmp_session_recv_buf));
        if (n == RTMP_AGAIN) {
            break;
        }
        if (n == 0) {
            rtmp_session_close(s, s->relay ? "the server closed the connection"
                                           : "client closed the connection");
            break;
        }
        if (n < 0) {
            rtmp_session_close(s, "recv failed");
            break;
        }
        total += (size_t)n;
        if (s->state != rtmp_session_state::handshake) {
            rtmp_session_message_clock(s);
        }
        s->last_input = rtmp_current_msec;
        s->ping_sent = 0; // any input proves the peer alive

        std::span<const u_char> in(rtmp_session_recv_buf, (size_t)n);
        if (s->state == rtmp_session_state::handshake) {
            if (rtmp_session_handshake(s, &in) != RTMP_OK ||
                s->state == rtmp_session_state::handshake) {
                continue;
            }
        }
        if (rtmp_session_chunks(s, in) != RTMP_OK) {
            break;
        }
    }
    if (s->pace) {
        rtmp_session_pace_next(s, total);
    }
    if (s->state != rtmp_session_state::closing && s->state != rtmp_session_state::handshake) {
        (void)rtmp_session_flush(s);
    }
}
