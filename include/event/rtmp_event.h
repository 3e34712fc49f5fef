// Events, timers and the worker's edge-triggered epoll loop.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_queue.h"

#include <csignal>

typedef void (*rtmp_event_handler_pt)(rtmp_event_t *ev);

struct rtmp_event_s {
    void *data; // usually the connection
    rtmp_event_handler_pt handler;
    rtmp_log_t *log;

    unsigned write : 1;
    unsigned active : 1; // registered with epoll
    unsigned ready : 1;  // readable/writable until an operation says EAGAIN
    unsigned eof : 1;    // the peer closed its side
    unsigned error : 1;
    unsigned timedout : 1; // the handler runs because the timer fired
    unsigned timer_set : 1;
    unsigned posted : 1;
    unsigned instance : 1; // flips on slot reuse, so stale epoll events are recognised
    unsigned accept : 1;   // a listening socket's read event

    rtmp_msec_t timer_key; // deadline
    size_t timer_index;    // position in the timer heap
    rtmp_queue_t queue;    // in the posted queue
};

// ---- timers: a binary min-heap of deadlines ---------------------------------------------

void rtmp_event_add_timer(rtmp_event_t *ev, rtmp_msec_t timer);
void rtmp_event_del_timer(rtmp_event_t *ev);
// Milliseconds until the next deadline, or -1 with no timers.
rtmp_int_t rtmp_event_find_timer();
// Runs the handlers of every expired timer with ev->timedout set.
void rtmp_event_expire_timers();
size_t rtmp_event_timer_count();

// ---- posted events: run after the current batch, at a safe point -------------------------

void rtmp_event_post(rtmp_event_t *ev);
void rtmp_event_delete_posted(rtmp_event_t *ev);
void rtmp_event_process_posted();

// ---- the epoll loop -----------------------------------------------------------------------

[[nodiscard]] rtmp_int_t rtmp_event_init(size_t max_events, rtmp_log_t *log);
void rtmp_event_done();

// Registers a connection for read and write readiness, edge-triggered, once for its life.
[[nodiscard]] rtmp_int_t rtmp_event_add_connection(rtmp_connection_t *c);
// Registers a listening socket's connection, level-triggered, woken exclusively.
[[nodiscard]] rtmp_int_t rtmp_event_add_listening(rtmp_connection_t *c);
// Stops (hold) or resumes reporting a connection's input; the peer closing is still
// reported, and the input waits in the socket.
rtmp_int_t rtmp_event_hold_read(rtmp_connection_t *c, bool hold);
rtmp_int_t rtmp_event_del(rtmp_connection_t *c);

// Waits for events (signals are let through only while waiting), runs their handlers,
// then expired timers, then posted events.
void rtmp_event_process(const sigset_t *wait_mask);
