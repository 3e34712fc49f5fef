// The epoll backend: connections registered once, edge-triggered; stale events skipped.
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "event/rtmp_event.h"
#include "event/rtmp_ssl.h"

#include <sys/epoll.h>
#include <unistd.h>

static int rtmp_epoll_fd = -1;
static struct epoll_event *rtmp_epoll_events;
static int rtmp_epoll_nevents;
static rtmp_log_t *rtmp_epoll_log;

rtmp_int_t rtmp_event_init(size_t max_events, rtmp_log_t *log)
{
    rtmp_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (rtmp_epoll_fd == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "epoll_create1() failed");
        return RTMP_ERROR;
    }
    rtmp_epoll_nevents = (int)max_events;
    rtmp_epoll_events =
        static_cast<struct epoll_event *>(rtmp_alloc(sizeof(struct epoll_event) * max_events));
    rtmp_epoll_log = log;
    return RTMP_OK;
}

void rtmp_event_done()
{
    if (rtmp_epoll_fd != -1) {
        close(rtmp_epoll_fd);
        rtmp_epoll_fd = -1;
    }
    rtmp_free(rtmp_epoll_events);
    rtmp_epoll_events = nullptr;
}

// The low bit of the pointer carries the slot's instance bit at registration time.
static void *rtmp_epoll_tag(rtmp_connection_t *c)
{
    return reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(c) | c->read->instance);
}

static rtmp_int_t rtmp_epoll_ctl(int op, rtmp_connection_t *c, uint32_t events)
{
    struct epoll_event ee;
    ee.events = events;
    ee.data.ptr = rtmp_epoll_tag(c);
    if (epoll_ctl(rtmp_epoll_fd, op, c->fd, &ee) == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, rtmp_epoll_log, errno, "epoll_ctl(%d, %d) failed", op,
                       c->fd);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

// A connection's events but input, which rtmp_event_hold_read() can leave out.
static constexpr uint32_t RTMP_EPOLL_CONN = EPOLLOUT | EPOLLRDHUP | EPOLLET;

rtmp_int_t rtmp_event_add_connection(rtmp_connection_t *c)
{
    if (rtmp_epoll_ctl(EPOLL_CTL_ADD, c, RTMP_EPOLL_CONN | EPOLLIN) != RTMP_OK) {
        return RTMP_ERROR;
    }
    c->read->active = 1;
    c->write->active = 1;
    return RTMP_OK;
}

rtmp_int_t rtmp_event_add_listening(rtmp_connection_t *c)
{
    // Level-triggered: a backlog left behind (out of slots) wakes us again;
    // exclusive: one worker is woken per connection, not all of them.
    if (rtmp_epoll_ctl(EPOLL_CTL_ADD, c, EPOLLIN | EPOLLEXCLUSIVE) != RTMP_OK) {
        return RTMP_ERROR;
    }
    c->read->active = 1;
    return RTMP_OK;
}

rtmp_int_t rtmp_event_hold_read(rtmp_connection_t *c, bool hold)
{
    return rtmp_epoll_ctl(EPOLL_CTL_MOD, c, hold ? RTMP_EPOLL_CONN : RTMP_EPOLL_CONN | EPOLLIN);
}

rtmp_int_t rtmp_event_del(rtmp_connection_t *c)
{
    c->read->active = 0;
    c->write->active = 0;
    return rtmp_epoll_ctl(EPOLL_CTL_DEL, c, 0);
}

void rtmp_event_process(const sigset_t *wait_mask)
{
    // the clock as of now, not of the last wake-up: the events handled since took time,
    // and a timer due 30ms after that wake-up is due sooner than 30ms from now
    rtmp_time_update();
    rtmp_int_t timer = rtmp_event_find_timer();
    int n =
        epoll_pwait(rtmp_epoll_fd, rtmp_epoll_events, rtmp_epoll_nevents, (int)timer, wait_mask);
    int err = n == -1 ? errno : 0;
    rtmp_time_update();

    if (n == -1) {
        if (err != EINTR) {
            rtmp_log_error(RTMP_LOG_ALERT, rtmp_epoll_log, err, "epoll_pwait() failed");
        }
        n = 0;
    }

    for (int i = 0; i < n; i++) {
        uintptr_t tag = reinterpret_cast<uintptr_t>(rtmp_epoll_events[i].data.ptr);
        auto *c = reinterpret_cast<rtmp_connection_t *>(tag & ~(uintptr_t)1);
        unsigned instance = tag & 1;

        // A handler earlier in this batch may have closed the connection, and the
        // slot may even have been reused: both are recognised and skipped.
        if (c->fd == -1 || c->read->instance != instance) {
            continue;
        }
        uint32_t revents = rtmp_epoll_events[i].events;
        if (revents & (EPOLLERR | EPOLLHUP)) {
            // surface errors as readiness so the handlers see them on their next call
            revents |= EPOLLIN | EPOLLOUT;
        }
        if (c->tls) {
            revents = rtmp_ssl_events(c, revents);
        }
        rtmp_event_t *rev = c->read;
        if ((revents & (EPOLLIN | EPOLLRDHUP)) && rev->active) {
            rev->ready = 1;
            if (revents & EPOLLRDHUP) {
                rev->eof = 1;
            }
            rev->handler(rev);
        }
        rtmp_event_t *wev = c->write;
        if ((revents & EPOLLOUT) && wev->active && c->fd != -1 && c->read->instance == instance) {
            wev->ready = 1;
            wev->handler(wev);
        }
    }

    rtmp_event_expire_timers();
    rtmp_event_process_posted();
}
