// Relay pulls, between workers over a unix socket and from remote origins over TCP: connect,
// createStream and play, then republish what arrives into the local live stream (an origin's
// through the publish chain, as a client's publish); and the client commands of pushes.
#include "rtmp/rtmp_relay.h"
#include "event/rtmp_connection.h"
#include "event/rtmp_ssl.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_pull.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_server_module.h"

#include <cstdio>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum class rtmp_relay_stage : uint8_t { handshake, connect, create_stream, play, publish };

// Transaction ids of our calls: replies are told apart by them, since servers differ in
// which of releaseStream and FCPublish they answer (nginx-rtmp: neither; FMS: both).
static constexpr double RTMP_RELAY_TID_CONNECT = 1;
static constexpr double RTMP_RELAY_TID_RELEASE = 2;
static constexpr double RTMP_RELAY_TID_FCPUBLISH = 3;
static constexpr double RTMP_RELAY_TID_CREATE = 4;

struct rtmp_relay_s {
    rtmp_relay_stage stage;
    rtmp_conf_app_t *app;
    char name[RTMP_MAX_NAME + 1];
    // a push or a pull from an origin: what to ask the other server for; these live in the
    // push target or the pull, which outlive us
    rtmp_push_target_t *push;
    rtmp_pull_t *pull;
    const char *remote_app;
    const char *tc_url;
    const char *publish_name; // the remote stream name, with its "?args"
    const char *args;         // a pull's local query string, for the modules of its publish
    rtmp_event_t setup;       // a push or a pull from an origin: the answer to publish or play
    rtmp_msec_t setup_timeout;
    bool eof; // a pull's origin said StreamEOF: `setup` ends the pull unless it ended already
};

// How long a pull waits after StreamEOF for the onStatus that may follow it.
static constexpr rtmp_msec_t RTMP_RELAY_EOF_WAIT = 100;

// Workers listen on an abstract unix socket per server: nothing to clean up on disk,
// and the master's pid keeps two servers on one machine apart.
static socklen_t rtmp_relay_address(struct sockaddr_un *sa, int slot, size_t server)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "rtmp_server/%d/%d/%zu",
                     (int)getppid(), slot, server);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static rtmp_int_t rtmp_relay_listen(rtmp_cycle_t *cycle)
{
    for (size_t i = 0; i < cycle->nservers; i++) {
        struct sockaddr_un sa;
        socklen_t len = rtmp_relay_address(&sa, rtmp_worker_slot, i);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1 || bind(fd, reinterpret_cast<struct sockaddr *>(&sa), len) == -1 ||
            listen(fd, 511) == -1) {
            rtmp_log_error(RTMP_LOG_EMERG, cycle->log, errno,
                           "cannot listen for other workers on @%s", sa.sun_path + 1);
            if (fd != -1) {
                close(fd);
            }
            return RTMP_ERROR;
        }
        auto *ls = rtmp_palloc<rtmp_listening_t>(cycle->pool);
        ls->fd = fd;
        ls->server = cycle->servers[i];
        ls->handler = rtmp_session_init;
        snprintf(ls->addr_text, sizeof(ls->addr_text), "@%.70s", sa.sun_path + 1);
        rtmp_connection_t *c = rtmp_connection_get(fd);
        if (c == nullptr) {
            close(fd);
            return RTMP_ERROR;
        }
        c->listening = ls;
        c->log = *cycle->log;
        c->read->handler = rtmp_event_accept;
        c->read->accept = 1;
        c->read->log = &c->log;
        ls->connection = c;
        if (rtmp_event_add_listening(c) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

rtmp_module_t rtmp_relay_module = {
    .name = "relay",
    .index = 0,
    .directives = nullptr,
    .init_worker = rtmp_relay_listen,
};

rtmp_int_t rtmp_relay_pull(rtmp_conf_app_t *app, std::string_view name, int slot, rtmp_log_t *log)
{
    struct sockaddr_un sa;
    socklen_t len = rtmp_relay_address(&sa, slot, app->server->index);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, log, errno, "socket() for a pull failed");
        return RTMP_ERROR;
    }
    // a unix connect completes at once or fails at once (EAGAIN: the backlog is full)
    if (connect(fd, reinterpret_cast<struct sockaddr *>(&sa), len) == -1) {
        rtmp_log_error(RTMP_LOG_WARN, log, errno, "cannot pull \"%s/%.*s\" from worker %d",
                       app->name.data, (int)name.size(), name.data(), slot);
        close(fd);
        return RTMP_ERROR;
    }
    rtmp_connection_t *c = rtmp_connection_get(fd);
    if (c == nullptr) {
        close(fd);
        return RTMP_ERROR;
    }
    c->log = *log;
    c->log.handler = nullptr;
    snprintf(c->addr_text, sizeof(c->addr_text), "worker %d", slot);
    c->pool = rtmp_pool_create(1024, &c->log);
    rtmp_connection_activate(c);

    auto *r = rtmp_palloc<rtmp_relay_t>(c->pool);
    r->app = app;
    memcpy(r->name, name.data(), name.size() < RTMP_MAX_NAME ? name.size() : RTMP_MAX_NAME);

    rtmp_session_t *s = rtmp_session_init_client(c, app->server);
    if (s == nullptr) {
        return RTMP_ERROR;
    }
    s->relay = r;
    s->app = app;
    s->app_name = app->name;
    rtmp_log_error(RTMP_LOG_INFO, &c->log, 0, "pulling \"%s/%s\" from worker %d", app->name.data,
                   r->name, slot);
    return RTMP_OK;
}

// A TCP client connection on its way: who hears how it went.
struct rtmp_relay_connect_t {
    rtmp_conf_app_t *app;
    const rtmp_push_url_t *url;
    rtmp_relay_up_pt up;
    rtmp_relay_down_pt down;
    void *data;
    rtmp_msec_t timeout;
    int addr; // which of the URL's addresses is being tried
};

static rtmp_int_t rtmp_relay_fail(rtmp_session_t *s, const char *why);

static void rtmp_relay_setup_expired(rtmp_event_t *ev)
{
    auto *s = static_cast<rtmp_session_t *>(ev->data);
    ev->timedout = 0;
    if (s->state == rtmp_session_state::closing) {
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "%s did not answer %s within %llums",
             s->relay->push ? "the target" : "the origin", s->relay->push ? "publish" : "play",
             (unsigned long long)s->relay->setup_timeout);
    (void)rtmp_relay_fail(s, s->relay->eof ? "origin says StreamEOF (its stream ended)" : why);
}

void rtmp_relay_stream_eof(rtmp_session_t *s)
{
    rtmp_relay_t *r = s->relay;
    if (r->pull && r->stage == rtmp_relay_stage::publish && !r->eof) {
        r->eof = true;
        rtmp_event_add_timer(&r->setup, RTMP_RELAY_EOF_WAIT);
    }
}

// The connection's pool is going: its timer goes with it.
static void rtmp_relay_setup_stop(void *data)
{
    rtmp_event_del_timer(static_cast<rtmp_event_t *>(data));
}

// The connection is up (and its TLS handshake done): the RTMP session begins. An origin or
// a target that then says nothing has the same time again to answer: without it, players
// waiting for a pull would wait out handshake_timeout or timeout instead of the next origin.
static void rtmp_relay_session(rtmp_connection_t *c, rtmp_relay_connect_t *rc)
{
    rtmp_event_del_timer(c->write);
    // the session registers the connection afresh, with its own handlers
    (void)rtmp_event_del(c);
    rtmp_session_t *s = rtmp_session_init_client(c, rc->app->server);
    if (s == nullptr) {
        return; // closed: the owner's pool cleanup hears of it
    }
    rtmp_msec_t timeout = rc->timeout;
    rc->up(s, rc->data);
    rtmp_relay_t *r = s->relay;
    if (r == nullptr || s->state == rtmp_session_state::closing) {
        return;
    }
    r->setup.data = s;
    r->setup.handler = rtmp_relay_setup_expired;
    r->setup.log = &c->log;
    r->setup_timeout = timeout;
    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(c->pool, 0);
    cln->handler = rtmp_relay_setup_stop;
    cln->data = &r->setup;
    rtmp_event_add_timer(&r->setup, timeout);
}

// Steps of an rtmps:// relay's TLS handshake, under the connect timeout still.
static void rtmp_relay_tls_step(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *rc = static_cast<rtmp_relay_connect_t *>(c->data);
    if (c->close || ev->timedout) {
        rc->down(rc->data, c->close ? "the worker is shutting down" : "TLS handshake timed out");
        rtmp_connection_close(c);
        return;
    }
    char why[192];
    rtmp_int_t r = rtmp_ssl_handshake(c, why, sizeof(why));
    if (r == RTMP_AGAIN) {
        return;
    }
    if (r != RTMP_OK) {
        rc->down(rc->data, why);
        rtmp_connection_close(c);
        return;
    }
    rtmp_relay_session(c, rc);
}

static void rtmp_relay_tls_start(rtmp_connection_t *c, rtmp_relay_connect_t *rc)
{
    rtmp_server_conf_t *scf = rtmp_server_conf(rc->app->server);
    char why[512];
    if (scf->relay_ssl_ctx == nullptr) {
        const char *trusted =
            reinterpret_cast<const char *>(scf->relay_ssl_trusted_certificate.data);
        scf->relay_ssl_ctx = rtmp_ssl_client_ctx(trusted, scf->relay_ssl_verify, why, sizeof(why));
        if (scf->relay_ssl_ctx == nullptr) {
            rc->down(rc->data, why);
            rtmp_connection_close(c);
            return;
        }
        rtmp_ssl_ctx_owned_by(rtmp_cycle->pool, scf->relay_ssl_ctx);
    }
    if (rtmp_ssl_connect(c, scf->relay_ssl_ctx, rc->url->hostname, rc->url->literal) != RTMP_OK) {
        rc->down(rc->data, "TLS could not start");
        rtmp_connection_close(c);
        return;
    }
    c->read->handler = rtmp_relay_tls_step;
    c->write->handler = rtmp_relay_tls_step;
    rtmp_relay_tls_step(c->write);
}

// A socket connecting to the URL's address `i`, *now when that completed at once; -1 (why
// set) when the connect could not even start.
static int rtmp_relay_socket(const rtmp_push_url_t *u, int i, bool *now, char *why, size_t len)
{
    const rtmp_push_addr_t *a = &u->addrs[i];
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(why, len, "socket() failed: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // a push is a player of its stream: what a slow target has not taken waits in our
    // queue, where the lag rules see it, not by the megabyte in the kernel
    int lowat = RTMP_NOTSENT_LOWAT_LIVE;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    int rc = connect(fd, reinterpret_cast<const struct sockaddr *>(&a->sa), a->len);
    if (rc == -1 && errno != EINPROGRESS) {
        snprintf(why, len, "connect() failed: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *now = rc == 0;
    return fd;
}

// A host name with more addresses: the connection goes on to the next one that takes a
// connect, in the same slot. False when none is left.
static bool rtmp_relay_next_addr(rtmp_connection_t *c, rtmp_relay_connect_t *rc, char *why,
                                 size_t len)
{
    const rtmp_push_url_t *u = rc->url;
    while (rc->addr + 1 < u->naddrs) {
        char failed[80], next[80];
        rtmp_sockaddr_text(&u->addrs[rc->addr].sa, failed, sizeof(failed));
        rtmp_sockaddr_text(&u->addrs[++rc->addr].sa, next, sizeof(next));
        rtmp_log_error(RTMP_LOG_WARN, &c->log, 0, "%s (%s); trying %s", why, failed, next);
        bool now;
        int fd = rtmp_relay_socket(u, rc->addr, &now, why, len);
        if (fd == -1) {
            continue;
        }
        if (rtmp_connection_replace_fd(c, fd) != RTMP_OK) {
            snprintf(why, len, "cannot watch the socket");
            return false;
        }
        memcpy(&c->sockaddr, &u->addrs[rc->addr].sa, u->addrs[rc->addr].len);
        c->socklen = u->addrs[rc->addr].len;
        rtmp_event_add_timer(c->write, rc->timeout);
        if (now) {
            rtmp_event_post(c->write);
        }
        return true;
    }
    return false;
}

// A connect that was refused or timed out: the host's next address, or the owner hears why.
static void rtmp_relay_connect_failed(rtmp_connection_t *c, rtmp_relay_connect_t *rc, char *why,
                                      size_t len)
{
    if (!rtmp_relay_next_addr(c, rc, why, len)) {
        rc->down(rc->data, why);
        rtmp_connection_close(c);
    }
}

// The TCP connect completed or failed (errors arrive as readiness too), or timed out.
static void rtmp_relay_connected(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *rc = static_cast<rtmp_relay_connect_t *>(c->data);
    char why[96];
    if (c->close) {
        rc->down(rc->data, "the worker is shutting down");
        rtmp_connection_close(c);
        return;
    }
    if (ev->timedout) {
        snprintf(why, sizeof(why), "connect timed out after %llums",
                 (unsigned long long)rc->timeout);
        rtmp_relay_connect_failed(c, rc, why, sizeof(why));
        return;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }
    if (err) {
        snprintf(why, sizeof(why), "connect() failed: %s", strerror(err));
        rtmp_relay_connect_failed(c, rc, why, sizeof(why));
        return;
    }
    if (rc->url->tls) {
        rtmp_relay_tls_start(c, rc);
        return;
    }
    rtmp_relay_session(c, rc);
}

// Every line of a push's or a pull's own session names the server, as the URL's log form.
static size_t rtmp_relay_log_context(rtmp_log_t *log, char *buf, size_t len)
{
    auto *u = static_cast<const rtmp_push_url_t *>(log->data);
    int n = snprintf(buf, len, ", server: %s", u->shown);
    return n < 0 ? 0 : ((size_t)n >= len ? len - 1 : (size_t)n);
}

rtmp_connection_t *rtmp_relay_connect(rtmp_conf_app_t *app, const rtmp_push_url_t *u,
                                      rtmp_msec_t timeout, rtmp_relay_up_pt up,
                                      rtmp_relay_down_pt down, void *data, char *why, size_t len)
{
    if (u->unresolved) {
        snprintf(why, len,
                 "host \"%s\" did not resolve when the configuration was read (%s); "
                 "a reload tries again",
                 u->hostname, u->unresolved);
        return nullptr;
    }
    int fd = -1, addr = 0;
    bool now = false;
    for (; addr < u->naddrs; addr++) {
        fd = rtmp_relay_socket(u, addr, &now, why, len);
        if (fd != -1) {
            break;
        }
    }
    if (fd == -1) {
        return nullptr;
    }
    rtmp_connection_t *c = rtmp_connection_get(fd);
    if (c == nullptr) {
        snprintf(why, len, "no free connection (worker_connections)");
        close(fd);
        return nullptr;
    }
    c->log = *rtmp_cycle->log;
    c->log.handler = rtmp_relay_log_context;
    c->log.data = const_cast<rtmp_push_url_t *>(u);
    memcpy(&c->sockaddr, &u->addrs[addr].sa, u->addrs[addr].len);
    c->socklen = u->addrs[addr].len;
    snprintf(c->addr_text, sizeof(c->addr_text), "%.*s", (int)sizeof(c->addr_text) - 1, u->host);
    c->pool = rtmp_pool_create(1024, &c->log);
    rtmp_connection_activate(c);

    auto *cn = rtmp_palloc<rtmp_relay_connect_t>(c->pool);
    cn->app = app;
    cn->url = u;
    cn->up = up;
    cn->down = down;
    cn->data = data;
    cn->timeout = timeout;
    cn->addr = addr;
    c->data = cn;
    c->read->handler = rtmp_relay_connected;
    c->write->handler = rtmp_relay_connected;
    c->read->log = &c->log;
    c->write->log = &c->log;
    if (rtmp_event_add_connection(c) != RTMP_OK) {
        snprintf(why, len, "cannot watch the socket");
        rtmp_connection_close(c);
        return nullptr;
    }
    rtmp_event_add_timer(c->write, timeout);
    if (now) {
        rtmp_event_post(c->write);
    }
    return c;
}

bool rtmp_relay_origin_pull(const rtmp_session_t *s)
{
    return s->relay && s->relay->pull;
}

bool rtmp_relay_pulled_from(const rtmp_session_t *s, const rtmp_push_url_t *u,
                            const rtmp_push_names_t *names)
{
    return rtmp_relay_origin_pull(s) && rtmp_pull_is_origin(s->relay->pull, u, names);
}

bool rtmp_relay_local_source(const rtmp_session_t *s)
{
    return s->relay == nullptr || s->relay->pull;
}

void rtmp_relay_pull_init(rtmp_session_t *s, rtmp_conf_app_t *app, std::string_view name,
                          const char *args, const char *remote_app, const char *tc_url,
                          const char *play_name, rtmp_pull_t *p)
{
    auto *r = rtmp_palloc<rtmp_relay_t>(s->c->pool);
    r->app = app;
    r->pull = p;
    r->remote_app = remote_app;
    r->tc_url = tc_url;
    r->publish_name = play_name;
    r->args = args;
    memcpy(r->name, name.data(), name.size() < RTMP_MAX_NAME ? name.size() : RTMP_MAX_NAME);
    s->relay = r;
    s->app = app;
    s->app_name = app->name;
}

void rtmp_relay_push_init(rtmp_session_t *s, rtmp_conf_app_t *app, const char *remote_app,
                          const char *tc_url, const char *name, rtmp_push_target_t *t)
{
    auto *r = rtmp_palloc<rtmp_relay_t>(s->c->pool);
    r->app = app;
    r->push = t;
    r->remote_app = remote_app;
    r->tc_url = tc_url;
    r->publish_name = name;
    snprintf(r->name, sizeof(r->name), "%s", name);
    s->relay = r;
    s->app = app;
    s->app_name = app->name;
}

// Sends an AMF0 command on the NetConnection (msid 0) or a NetStream.
static rtmp_int_t rtmp_relay_send(rtmp_session_t *s, uint32_t msid, rtmp_buf_t *b)
{
    rtmp_message_t m;
    m.h.csid = msid ? 8 : 3;
    m.h.timestamp = 0;
    m.h.mlen = (uint32_t)rtmp_buf_size(b);
    m.h.type = RTMP_MSG_AMF_CMD;
    m.h.msid = msid;
    m.payload = rtmp_buf_span(b);
    return rtmp_session_send_message(s, &m);
}

struct rtmp_relay_buf_t {
    rtmp_buf_t b;
    u_char data[1024];
};

static rtmp_buf_t *rtmp_relay_buf(rtmp_relay_buf_t *rb)
{
    rb->b = {};
    rb->b.start = rb->b.pos = rb->b.last = rb->data;
    rb->b.end = rb->data + sizeof(rb->data);
    return &rb->b;
}

rtmp_int_t rtmp_relay_handshake_done(rtmp_session_t *s)
{
    rtmp_relay_t *r = s->relay;
    rtmp_relay_buf_t rb;
    rtmp_buf_t *b = rtmp_relay_buf(&rb);
    char tc_url[RTMP_MAX_NAME + 32];
    snprintf(tc_url, sizeof(tc_url), "rtmp://localhost/%s", r->app->name.data);
    bool remote = r->push || r->pull;
    std::string_view app = remote ? std::string_view(r->remote_app) : r->app->name.sv();
    if (rtmp_amf0_write_string(b, "connect") != RTMP_OK ||
        rtmp_amf0_write_number(b, RTMP_RELAY_TID_CONNECT) || rtmp_amf0_write_object_start(b) ||
        rtmp_amf0_write_key(b, "app") || rtmp_amf0_write_string(b, app) ||
        rtmp_amf0_write_key(b, "type") || rtmp_amf0_write_string(b, "nonprivate") ||
        rtmp_amf0_write_key(b, "flashVer") ||
        rtmp_amf0_write_string(b, r->push ? "FMLE/3.0 (compatible; rtmp_server push)"
                                          : "rtmp_server relay") ||
        rtmp_amf0_write_key(b, "tcUrl") || rtmp_amf0_write_string(b, remote ? r->tc_url : tc_url) ||
        rtmp_amf0_write_object_end(b)) {
        return RTMP_ERROR;
    }
    r->stage = rtmp_relay_stage::connect;
    s->state = rtmp_session_state::connected;
    return rtmp_relay_send(s, 0, b);
}

void rtmp_relay_closing(rtmp_session_t *s, const char *why)
{
    if (s->relay->push) {
        rtmp_push_closing(s->relay->push, why);
    }
    if (s->relay->pull) {
        rtmp_pull_closing(s->relay->pull, why);
    }
}

static rtmp_int_t rtmp_relay_fail(rtmp_session_t *s, const char *why)
{
    if (s->relay->push) {
        rtmp_push_failed(s->relay->push, why);
    }
    if (s->relay->pull) {
        rtmp_pull_failed(s->relay->pull, why);
    }
    rtmp_session_close(s, why);
    return RTMP_ERROR;
}

// A push after connect: releaseStream and FCPublish as FMLE and OBS send them (some CDNs
// want them before they allow the publish), then createStream.
static rtmp_int_t rtmp_relay_push_stream(rtmp_session_t *s, rtmp_relay_buf_t *rb)
{
    rtmp_relay_t *r = s->relay;
    const struct {
        const char *name;
        double tid;
    } calls[] = {{"releaseStream", RTMP_RELAY_TID_RELEASE},
                 {"FCPublish", RTMP_RELAY_TID_FCPUBLISH}};
    for (const auto &call : calls) {
        rtmp_buf_t *b = rtmp_relay_buf(rb);
        if (rtmp_amf0_write_string(b, call.name) || rtmp_amf0_write_number(b, call.tid) ||
            rtmp_amf0_write_null(b) || rtmp_amf0_write_string(b, r->publish_name) ||
            rtmp_relay_send(s, 0, b) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_relay_push_end(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_relay_buf_t rb;
    rtmp_buf_t *b = rtmp_relay_buf(&rb);
    if (rtmp_amf0_write_string(b, "FCUnpublish") || rtmp_amf0_write_number(b, 0) ||
        rtmp_amf0_write_null(b) || rtmp_amf0_write_string(b, s->relay->publish_name) ||
        rtmp_relay_send(s, 0, b) != RTMP_OK) {
        return RTMP_ERROR;
    }
    b = rtmp_relay_buf(&rb);
    if (rtmp_amf0_write_string(b, "deleteStream") || rtmp_amf0_write_number(b, 0) ||
        rtmp_amf0_write_null(b) || rtmp_amf0_write_number(b, st->msid) ||
        rtmp_relay_send(s, 0, b) != RTMP_OK) {
        return RTMP_ERROR;
    }
    // both went behind the queued media: close once all of it is out
    s->close_after_flush = true;
    rtmp_event_post(s->c->write);
    return RTMP_OK;
}

// The push's NetStream exists: publish on it.
static rtmp_int_t rtmp_relay_push_publish(rtmp_session_t *s, rtmp_stream_t *st,
                                          rtmp_relay_buf_t *rb)
{
    rtmp_buf_t *b = rtmp_relay_buf(rb);
    if (rtmp_amf0_write_string(b, "publish") || rtmp_amf0_write_number(b, 0) ||
        rtmp_amf0_write_null(b) || rtmp_amf0_write_string(b, s->relay->publish_name) ||
        rtmp_amf0_write_string(b, "live")) {
        return RTMP_ERROR;
    }
    s->relay->stage = rtmp_relay_stage::publish;
    return rtmp_relay_send(s, st->msid, b);
}

// The origin plays: the pull publishes the stream here through the publish chain, as an
// encoder's publish would (access, keys and on_publish let it through: the server started
// it; live attaches it without replies and announces it to the other workers; recorders,
// HLS, pushes and exec_publish start). The session's end runs the close_stream chain.
static rtmp_int_t rtmp_relay_pull_publish(rtmp_session_t *s)
{
    rtmp_stream_t *st = nullptr;
    for (rtmp_stream_t *x : s->streams) {
        if (x) {
            st = x; // the one createStream made
            break;
        }
    }
    if (st == nullptr) {
        return rtmp_relay_fail(s, "Play.Start without a stream");
    }
    // a pulled stream is a published stream: players of an edge must not add streams past
    // max_streams (the session's end gives the place back, as an encoder's does)
    if (!rtmp_session_stream_count(st)) {
        char why[64];
        snprintf(why, sizeof(why), "max_streams (%lld) reached here",
                 (long long)rtmp_core_conf(rtmp_cycle)->max_streams);
        return rtmp_relay_fail(s, why);
    }
    rtmp_int_t rc = rtmp_session_publish_chain(s, st);
    if (rc == RTMP_ERROR || s->state == rtmp_session_state::closing) {
        return RTMP_ERROR;
    }
    if (rc == RTMP_AGAIN) {
        // no step waits for anyone on a pull today; one that did would leave it unplayed
        return rtmp_relay_fail(s, "the publish chain did not answer at once");
    }
    if (st->state != rtmp_stream_state::publishing) {
        // a publisher here or in another worker took the name first (RTMP_DECLINED)
        return rtmp_relay_fail(s, "the stream got a publisher meanwhile");
    }
    rtmp_pull_playing(s->relay->pull);
    return RTMP_OK;
}

rtmp_int_t rtmp_relay_command(rtmp_session_t *s, const rtmp_message_t *, const rtmp_cmd_t *cmd)
{
    rtmp_relay_t *r = s->relay;
    rtmp_relay_buf_t rb;
    rtmp_buf_t *b = rtmp_relay_buf(&rb);
    double create_tid = r->push ? RTMP_RELAY_TID_CREATE : 2;

    if (cmd->kind == rtmp_cmd_kind::error) {
        if (r->push &&
            (cmd->tid == RTMP_RELAY_TID_RELEASE || cmd->tid == RTMP_RELAY_TID_FCPUBLISH)) {
            return RTMP_OK; // optional calls a server may not know
        }
        return rtmp_relay_fail(s, r->push ? "the target refused the push"
                                          : "the origin refused the pull");
    }
    if (cmd->kind == rtmp_cmd_kind::result && r->stage == rtmp_relay_stage::connect &&
        cmd->tid == RTMP_RELAY_TID_CONNECT) {
        if (r->push && rtmp_relay_push_stream(s, &rb) != RTMP_OK) {
            return RTMP_ERROR;
        }
        b = rtmp_relay_buf(&rb);
        if (rtmp_amf0_write_string(b, "createStream") || rtmp_amf0_write_number(b, create_tid) ||
            rtmp_amf0_write_null(b)) {
            return RTMP_ERROR;
        }
        r->stage = rtmp_relay_stage::create_stream;
        return rtmp_relay_send(s, 0, b);
    }
    if (cmd->kind == rtmp_cmd_kind::result && r->stage == rtmp_relay_stage::create_stream &&
        cmd->tid == create_tid) {
        double id = 0;
        if (cmd->nargs < 1 || !rtmp_amf_as_number(&cmd->args[0], &id) || id < 1 ||
            id > RTMP_SESSION_STREAMS) {
            return rtmp_relay_fail(s, r->push ? "the target gave no usable stream id"
                                              : "the origin gave no usable stream id");
        }
        uint32_t msid = (uint32_t)id;
        rtmp_stream_t *st = rtmp_palloc<rtmp_stream_t>(s->c->pool);
        st->msid = msid;
        st->receive_audio = st->receive_video = true;
        memcpy(st->name, r->name, sizeof(r->name));
        s->streams[msid - 1] = st;
        if (r->push) {
            return rtmp_relay_push_publish(s, st, &rb);
        }
        if (r->pull) {
            // published once the origin plays: an origin that refuses leaves no trace here
            snprintf(st->type, sizeof(st->type), "live");
            snprintf(st->args, sizeof(st->args), "%s", r->args ? r->args : "");
        } else if (rtmp_live_relay_attach(s, st, false) != RTMP_OK) {
            return rtmp_relay_fail(s, "the stream got a publisher meanwhile");
        }
        if (rtmp_amf0_write_string(b, "play") || rtmp_amf0_write_number(b, 0) ||
            rtmp_amf0_write_null(b) ||
            rtmp_amf0_write_string(b, r->pull ? r->publish_name : r->name) ||
            rtmp_amf0_write_number(b, -1000)) {
            return RTMP_ERROR;
        }
        r->stage = rtmp_relay_stage::play;
        return rtmp_relay_send(s, msid, b);
    }
    if (cmd->kind == rtmp_cmd_kind::on_status && cmd->nargs >= 1) {
        rtmp_str_t code = {};
        rtmp_str_t level = {};
        if (rtmp_amf_get_string(&cmd->args[0], "code", &code)) {
            std::string_view v = code.sv();
            (void)rtmp_amf_get_string(&cmd->args[0], "level", &level);
            char why[96];
            // an internal pull's other end is the worker that publishes the stream
            snprintf(why, sizeof(why), "%s says %.*s",
                     r->push   ? "target"
                     : r->pull ? "origin"
                               : s->c->addr_text,
                     (int)v.size(), v.data());
            if (r->push) {
                if (r->stage == rtmp_relay_stage::publish && v == "NetStream.Publish.Start") {
                    r->stage = rtmp_relay_stage::play; // media flows from now on
                    rtmp_event_del_timer(&r->setup);
                    for (rtmp_stream_t *st : s->streams) {
                        if (st) {
                            return rtmp_push_publishing(r->push, s, st);
                        }
                    }
                }
                if (level.sv() == "error" || v == "NetStream.Publish.BadName" ||
                    v == "NetStream.Unpublish.Success") {
                    return rtmp_relay_fail(s, why);
                }
                return RTMP_OK;
            }
            if (v == "NetStream.Play.UnpublishNotify" || v == "NetStream.Play.StreamNotFound" ||
                v == "NetStream.Play.Stop" || v == "NetStream.Play.Failed" ||
                level.sv() == "error") {
                return rtmp_relay_fail(s, why);
            }
            if (r->pull && r->stage == rtmp_relay_stage::play && v == "NetStream.Play.Start") {
                r->stage = rtmp_relay_stage::publish; // playing: told once
                rtmp_event_del_timer(&r->setup);
                return rtmp_relay_pull_publish(s);
            }
        }
    }
    return RTMP_OK; // onBWDone, Play.Reset/Start, |RtmpSampleAccess and the like
}
