// Accepting: until EAGAIN, pausing briefly rather than spinning when out of descriptors or slots,
// and stepping aside for a while when other workers hold fewer connections.
#include "core/rtmp_time.h"
#include "event/rtmp_balance.h"
#include "event/rtmp_connection.h"
#include "event/rtmp_ssl.h"
#include "os/rtmp_cycle.h"
#include "os/rtmp_process.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>
#include <unistd.h>

static constexpr rtmp_msec_t RTMP_ACCEPT_PAUSE = 100;
// How often a worker that stepped aside looks whether it may take connections again. Another
// worker accepts meanwhile, so this only bounds how long the spread may stay uneven.
static constexpr rtmp_msec_t RTMP_ACCEPT_ASIDE = 50;
// Enough for an idle session; a busy one grows its pool as it goes.
static constexpr size_t RTMP_CONNECTION_POOL_SIZE = 1024;

static size_t rtmp_accept_log_context(rtmp_log_t *log, char *buf, size_t len)
{
    auto *c = static_cast<rtmp_connection_t *>(log->data);
    int n = snprintf(buf, len, ", client: %s, connection: %llu", c->addr_text,
                     (unsigned long long)c->number);
    return n < 0 ? 0 : ((size_t)n >= len ? len - 1 : (size_t)n);
}

void rtmp_sockaddr_text(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        auto *sin = reinterpret_cast<const struct sockaddr_in *>(sa);
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        port = ntohs(sin->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->ss_family == AF_INET6) {
        auto *sin6 = reinterpret_cast<const struct sockaddr_in6 *>(sa);
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        port = ntohs(sin6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        snprintf(buf, len, "unix");
    }
}

static rtmp_event_t rtmp_accept_aside_ev; // fires while the worker stands aside
static bool rtmp_accept_aside;

// A socket every worker accepts on, not a worker's own (the internal one for other workers).
static bool rtmp_accept_shared(const rtmp_listening_t *ls)
{
    return rtmp_cycle && ls >= rtmp_cycle->listening &&
           ls < rtmp_cycle->listening + rtmp_cycle->nlistening;
}

// Shared sockets not paused on their own (rtmp_accept_pause) follow the worker's standing aside.
static void rtmp_accept_listen_all(bool on)
{
    for (size_t i = 0; i < rtmp_cycle->nlistening; i++) {
        rtmp_listening_t *ls = &rtmp_cycle->listening[i];
        rtmp_connection_t *lc = ls->connection;
        if (lc == nullptr || ls->paused || (bool)lc->read->active == on) {
            continue;
        }
        (void)(on ? rtmp_event_add_listening(lc) : rtmp_event_del(lc));
    }
}

static void rtmp_accept_aside_expired(rtmp_event_t *ev)
{
    ev->timedout = 0;
    if (rtmp_balance_should_step_aside()) {
        rtmp_event_add_timer(ev, RTMP_ACCEPT_ASIDE);
        return;
    }
    rtmp_log_debug(ev->log, "taking new connections again (%zu held)",
                   rtmp_connection_active_count());
    rtmp_accept_aside = false;
    rtmp_balance_set_state(rtmp_balance_state::accepting);
    rtmp_accept_listen_all(true);
}

// Called once the connections waiting are taken: a worker that now holds clearly more than
// another leaves the next ones to it, as the kernel would keep waking this one first.
static void rtmp_accept_balance()
{
    if (rtmp_accept_aside || !rtmp_balance_should_step_aside()) {
        return;
    }
    rtmp_log_debug(rtmp_accept_aside_ev.log,
                   "leaving new connections to workers with fewer (%zu held)",
                   rtmp_connection_active_count());
    rtmp_accept_aside = true;
    rtmp_balance_set_state(rtmp_balance_state::aside);
    rtmp_accept_listen_all(false);
    rtmp_event_add_timer(&rtmp_accept_aside_ev, RTMP_ACCEPT_ASIDE);
}

static void rtmp_accept_pause(rtmp_connection_t *lc)
{
    if (lc->read->active) {
        (void)rtmp_event_del(lc);
    }
    lc->listening->paused = 1;
    rtmp_event_add_timer(lc->read, RTMP_ACCEPT_PAUSE);
}

void rtmp_event_accept(rtmp_event_t *ev)
{
    auto *lc = static_cast<rtmp_connection_t *>(ev->data);
    rtmp_listening_t *ls = lc->listening;

    if (ev->timedout) {
        ev->timedout = 0;
        if (rtmp_connection_nearly_full()) {
            rtmp_event_add_timer(ev, RTMP_ACCEPT_PAUSE);
            return;
        }
        ls->paused = 0;
        if (rtmp_accept_aside && rtmp_accept_shared(ls)) {
            return; // the end of standing aside listens again
        }
        if (rtmp_event_add_listening(lc) != RTMP_OK) {
            return;
        }
    }

    for (;;) {
        struct sockaddr_storage sa;
        socklen_t socklen = sizeof(sa);
        int fd = accept4(lc->fd, reinterpret_cast<struct sockaddr *>(&sa), &socklen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            int err = errno;
            if (err == EAGAIN) {
                if (rtmp_accept_shared(ls)) {
                    rtmp_accept_balance();
                }
                return;
            }
            if (err == EINTR || err == ECONNABORTED) {
                continue;
            }
            if (err == EMFILE || err == ENFILE) {
                rtmp_log_error(RTMP_LOG_CRIT, &lc->log, err,
                               "accept4() on %s failed; pausing accept for %llums", ls->addr_text,
                               (unsigned long long)RTMP_ACCEPT_PAUSE);
                rtmp_accept_pause(lc);
                return;
            }
            rtmp_log_error(RTMP_LOG_ALERT, &lc->log, err, "accept4() on %s failed", ls->addr_text);
            return;
        }

        rtmp_connection_t *c = rtmp_connection_get(fd);
        if (c == nullptr) {
            rtmp_log_error(RTMP_LOG_ALERT, &lc->log, 0,
                           "worker_connections are not enough; refusing a connection on %s",
                           ls->addr_text);
            close(fd);
            rtmp_accept_pause(lc);
            return;
        }
        c->listening = ls;
        c->nodelay = ls->nodelay; // inherited from the listener (rtmp_listening_open)
        c->sockaddr = sa;
        c->socklen = socklen;
        rtmp_sockaddr_text(&sa, c->addr_text, sizeof(c->addr_text));
        c->log = lc->log;
        c->log.handler = rtmp_accept_log_context;
        c->log.data = c;
        c->pool = rtmp_pool_create(RTMP_CONNECTION_POOL_SIZE, &c->log);
        rtmp_connection_activate(c);
        c->write->ready = 1; // a new socket has room: the first reply need not await EPOLLOUT
        if (ls->ssl_ctx && rtmp_ssl_accept(c, ls->ssl_ctx) != RTMP_OK) {
            rtmp_connection_close(c);
            continue;
        }

        rtmp_log_debug(&c->log, "accepted on %s", ls->addr_text);
        ls->handler(c);

        // Like nginx's accept_disabled: a worker close to its limit stops taking new
        // clients, so the exclusive wake-ups go to workers with room. Other workers' pulls
        // still come in: each is a stream its players wait for.
        if (rtmp_connection_nearly_full() && rtmp_accept_shared(ls)) {
            rtmp_log_error(RTMP_LOG_INFO, &lc->log, 0,
                           "close to worker_connections: pausing accept on %s", ls->addr_text);
            rtmp_accept_pause(lc);
            return;
        }
    }
}

rtmp_int_t rtmp_event_listen(rtmp_cycle_t *cycle)
{
    rtmp_accept_aside_ev.handler = rtmp_accept_aside_expired;
    rtmp_accept_aside_ev.log = cycle->log;
    rtmp_accept_aside = false;
    rtmp_balance_set_state(rtmp_balance_state::accepting);
    for (size_t i = 0; i < cycle->nlistening; i++) {
        rtmp_listening_t *ls = &cycle->listening[i];
        rtmp_connection_t *c = rtmp_connection_get(ls->fd);
        if (c == nullptr) {
            rtmp_log_error(RTMP_LOG_EMERG, cycle->log, 0, "no connection slot for listener %s",
                           ls->addr_text);
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

void rtmp_event_stop_listening(rtmp_cycle_t *cycle)
{
    rtmp_balance_set_state(rtmp_balance_state::gone);
    rtmp_event_del_timer(&rtmp_accept_aside_ev);
    rtmp_accept_aside = false;
    for (size_t i = 0; i < cycle->nlistening; i++) {
        rtmp_listening_t *ls = &cycle->listening[i];
        rtmp_connection_t *c = ls->connection;
        if (c == nullptr) {
            continue;
        }
        // the socket stays open in the master and newer workers, so epoll would
        // keep reporting it to us unless it is removed explicitly
        if (c->read->active) {
            (void)rtmp_event_del(c);
        }
        rtmp_connection_close(c);
        ls->connection = nullptr;
        ls->fd = -1;
    }
}
