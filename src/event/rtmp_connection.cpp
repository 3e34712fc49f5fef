// Connection slots from a per-worker free list, and plain-socket I/O.
#include "event/rtmp_connection.h"
#include "event/rtmp_balance.h"
#include "event/rtmp_ssl.h"
#include "os/rtmp_cycle.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

static_assert(offsetof(rtmp_connection_t, listening) == RTMP_CACHE_LINE,
              "what I/O touches fills the connection's first line, and no more");

static rtmp_connection_t *rtmp_conn_slots;
static rtmp_event_t *rtmp_conn_read_events;
static rtmp_event_t *rtmp_conn_write_events;
static rtmp_connection_t *rtmp_conn_free; // linked through ->data
static size_t rtmp_conn_nslots;
static size_t rtmp_conn_nfree;
static size_t rtmp_conn_fresh; // slots from here on were never used: their pages never touched
static rtmp_queue_t rtmp_conn_active_q;
static size_t rtmp_conn_nactive;
static uint64_t rtmp_conn_number;
static uint64_t rtmp_conn_closed_received; // by connections closed already
static uint64_t rtmp_conn_closed_sent;

// The slot arrays are zeroed allocations the kernel backs with pages on first write, so a
// worker sized for worker_connections costs memory only for the connections it has held.
rtmp_int_t rtmp_connections_init(size_t n, rtmp_log_t *)
{
    rtmp_conn_slots = static_cast<rtmp_connection_t *>(
        rtmp_calloc_aligned(n * sizeof(rtmp_connection_t), alignof(rtmp_connection_t)));
    rtmp_conn_read_events = static_cast<rtmp_event_t *>(
        rtmp_calloc_aligned(n * sizeof(rtmp_event_t), RTMP_CACHE_LINE));
    rtmp_conn_write_events = static_cast<rtmp_event_t *>(
        rtmp_calloc_aligned(n * sizeof(rtmp_event_t), RTMP_CACHE_LINE));
    rtmp_conn_nslots = n;
    rtmp_conn_free = nullptr;
    rtmp_conn_fresh = 0;
    rtmp_conn_nfree = n;
    rtmp_queue_init(&rtmp_conn_active_q);
    rtmp_conn_nactive = 0;
    return RTMP_OK;
}

// By address alone, so that a caller may ask before the event's memory is fetched.
rtmp_connection_t *rtmp_connection_of(const rtmp_event_t *ev)
{
    auto at = reinterpret_cast<uintptr_t>(ev);
    for (const rtmp_event_t *events : {rtmp_conn_read_events, rtmp_conn_write_events}) {
        auto base = reinterpret_cast<uintptr_t>(events);
        if (at >= base && at < base + rtmp_conn_nslots * sizeof(rtmp_event_t)) {
            return &rtmp_conn_slots[(at - base) / sizeof(rtmp_event_t)];
        }
    }
    return nullptr;
}

void rtmp_connections_done()
{
    rtmp_free_aligned(rtmp_conn_slots);
    rtmp_free_aligned(rtmp_conn_read_events);
    rtmp_free_aligned(rtmp_conn_write_events);
    rtmp_conn_slots = nullptr;
    rtmp_conn_nslots = rtmp_conn_nfree = rtmp_conn_fresh = 0;
}

rtmp_connection_t *rtmp_connection_get(int fd)
{
    rtmp_connection_t *c = rtmp_conn_free;
    if (c != nullptr) {
        rtmp_conn_free = static_cast<rtmp_connection_t *>(c->data);
    } else if (rtmp_conn_fresh < rtmp_conn_nslots) {
        size_t i = rtmp_conn_fresh++;
        c = &rtmp_conn_slots[i];
        c->read = &rtmp_conn_read_events[i];
        c->write = &rtmp_conn_write_events[i];
    } else {
        return nullptr;
    }
    rtmp_conn_nfree--;

    rtmp_event_t *rev = c->read;
    rtmp_event_t *wev = c->write;
    unsigned instance = rev->instance;
    memset(c, 0, sizeof(*c));
    memset(rev, 0, sizeof(*rev));
    memset(wev, 0, sizeof(*wev));
    c->read = rev;
    c->write = wev;
    c->fd = fd;
    c->number = ++rtmp_conn_number;
    c->recv = rtmp_unix_recv;
    c->send_iov = rtmp_unix_send_iov;
    rev->instance = !instance;
    wev->instance = !instance;
    rev->data = c;
    wev->data = c;
    wev->write = 1;
    rtmp_queue_init(&c->queue);
    return c;
}

void rtmp_connection_close(rtmp_connection_t *c)
{
    if (c->fd == -1) {
        return;
    }
    rtmp_event_del_timer(c->read);
    rtmp_event_del_timer(c->write);
    rtmp_event_delete_posted(c->read);
    rtmp_event_delete_posted(c->write);
    if (rtmp_queue_linked(&c->queue)) {
        rtmp_queue_remove(&c->queue);
        rtmp_conn_nactive--;
        rtmp_balance_set_load(rtmp_conn_nactive);
    }
    rtmp_conn_closed_received += c->received;
    rtmp_conn_closed_sent += c->sent;
    if (c->tls) {
        rtmp_ssl_close(c);
    }
    // closing the descriptor removes it from epoll: it was never duplicated
    close(c->fd);
    c->fd = -1;
    c->read->active = c->write->active = 0;
    c->destroyed = 1;
    if (c->pool) {
        rtmp_pool_destroy(c->pool);
        c->pool = nullptr;
    }
    c->data = rtmp_conn_free;
    rtmp_conn_free = c;
    rtmp_conn_nfree++;
}

rtmp_int_t rtmp_connection_replace_fd(rtmp_connection_t *c, int fd)
{
    for (rtmp_event_t *ev : {c->read, c->write}) {
        rtmp_event_del_timer(ev);
        rtmp_event_delete_posted(ev);
        ev->instance ^= 1; // the old socket's events still in this batch are stale
        ev->active = ev->ready = ev->eof = ev->error = 0;
    }
    close(c->fd); // which takes it out of epoll
    c->fd = fd;
    return rtmp_event_add_connection(c);
}

static void rtmp_connection_linger_read(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    if (ev->timedout || c->close) {
        rtmp_connection_close(c);
        return;
    }
    // bounded, as a peer on this machine can send as fast as we read: the rest next turn
    static u_char sink[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) {
            continue;
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            return; // edge-triggered: the next input or the end wakes us
        }
        rtmp_connection_close(c); // the peer's end, or an error: nothing left unread
        return;
    }
    rtmp_event_post(ev);
}

void rtmp_connection_linger(rtmp_connection_t *c)
{
    if (c->fd == -1) {
        return;
    }
    if (c->close || c->read->error || c->write->error) {
        rtmp_connection_close(c);
        return;
    }
    if (c->tls) {
        rtmp_ssl_close(c); // close_notify goes out before our FIN; what follows is dropped raw
    }
    (void)shutdown(c->fd, SHUT_WR);
    // what the owner kept goes now, as at a close, and its pool's cleanups run: nothing
    // waits on the peer's FIN but this slot and the socket
    if (c->pool) {
        rtmp_pool_destroy(c->pool);
        c->pool = nullptr;
    }
    c->data = nullptr;
    c->log.handler = nullptr; // its context was in the pool
    c->log.data = nullptr;
    rtmp_event_del_timer(c->write);
    rtmp_event_delete_posted(c->write);
    c->write->handler = [](rtmp_event_t *) {};
    c->read->handler = rtmp_connection_linger_read;
    rtmp_event_del_timer(c->read);
    rtmp_event_add_timer(c->read, RTMP_CONNECTION_LINGER);
    if (c->write->active) {
        (void)rtmp_event_hold_read(c, false); // input held back for pacing is reported again
    }
    rtmp_event_post(c->read); // what is already there reports no new edge
}

bool rtmp_connection_flushed(const rtmp_connection_t *c)
{
    return !c->tls || rtmp_ssl_flushed(c);
}

void rtmp_connection_shutdown_write(rtmp_connection_t *c)
{
    if (c->tls) {
        rtmp_ssl_shutdown(c);
    }
    (void)shutdown(c->fd, SHUT_WR);
}

void rtmp_connection_activate(rtmp_connection_t *c)
{
    rtmp_queue_insert_tail(&rtmp_conn_active_q, &c->queue);
    rtmp_conn_nactive++;
    rtmp_balance_set_load(rtmp_conn_nactive);
}

size_t rtmp_connection_active_count()
{
    return rtmp_conn_nactive;
}

bool rtmp_connection_nearly_full()
{
    return rtmp_conn_nfree < rtmp_conn_nslots / 8;
}
rtmp_queue_t *rtmp_connection_active()
{
    return &rtmp_conn_active_q;
}

void rtmp_connection_totals(uint64_t *received, uint64_t *sent)
{
    *received = rtmp_conn_closed_received;
    *sent = rtmp_conn_closed_sent;
    for (rtmp_queue_t *q = rtmp_conn_active_q.next; q != &rtmp_conn_active_q; q = q->next) {
        rtmp_connection_t *c = rtmp_queue_data(q, rtmp_connection_t, queue);
        *received += c->received;
        *sent += c->sent;
    }
}

ssize_t rtmp_unix_recv(rtmp_connection_t *c, u_char *buf, size_t size)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            c->received += (uint64_t)n;
            // A short read emptied the socket: edge-triggered epoll reports the next
            // arrival, so asking again would only return EAGAIN. Unless the peer has
            // closed (EPOLLRDHUP), when the next read must see the end.
            if ((size_t)n < size && !c->read->eof) {
                c->read->ready = 0;
            }
            return n;
        }
        if (n == 0) {
            c->read->eof = 1;
            c->read->ready = 0;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        c->read->ready = 0;
        if (errno == EAGAIN) {
            return RTMP_AGAIN;
        }
        c->read->error = 1;
        rtmp_log_error(RTMP_LOG_INFO, &c->log, errno, "recv() failed");
        return RTMP_ERROR;
    }
}

void rtmp_connection_live(rtmp_connection_t *c)
{
    if (c->nodelay) {
        int off = 0;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off));
        int lowat = RTMP_NOTSENT_LOWAT_LIVE;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
        c->nodelay = 0;
    }
}

ssize_t rtmp_unix_send_iov(rtmp_connection_t *c, const struct iovec *iov, int iovcnt)
{
    struct msghdr msg = {};
    msg.msg_iov = const_cast<struct iovec *>(iov);
    msg.msg_iovlen = (size_t)iovcnt;
    for (;;) {
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            c->sent += (uint64_t)n;
            // A short write filled the socket: asking again would only get EAGAIN (a slow
            // reader would cost that failing call at every EPOLLOUT), so wait for EPOLLOUT.
            // A full one proves the socket writable, even before its first EPOLLOUT came.
            size_t asked = 0;
            for (int i = 0; i < iovcnt; i++) {
                asked += iov[i].iov_len;
            }
            c->write->ready = (size_t)n >= asked;
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        c->write->ready = 0;
        if (errno == EAGAIN) {
            return RTMP_AGAIN;
        }
        c->write->error = 1;
        rtmp_log_error(RTMP_LOG_INFO, &c->log, errno, "sendmsg() failed");
        return RTMP_ERROR;
    }
}
