// Posted events: work deferred to the end of a loop iteration, such as closing a session.
#include "event/rtmp_event.h"

static rtmp_queue_t rtmp_posted = {&rtmp_posted, &rtmp_posted};

void rtmp_event_post(rtmp_event_t *ev)
{
    if (!ev->posted) {
        ev->posted = 1;
        rtmp_queue_insert_tail(&rtmp_posted, &ev->queue);
    }
}

void rtmp_event_delete_posted(rtmp_event_t *ev)
{
    if (ev->posted) {
        ev->posted = 0;
        rtmp_queue_remove(&ev->queue);
    }
}

void rtmp_event_process_posted()
{
    while (!rtmp_queue_empty(&rtmp_posted)) {
        rtmp_event_t *ev = rtmp_queue_data(rtmp_posted.next, rtmp_event_t, queue);
        rtmp_event_delete_posted(ev);
        if (!rtmp_queue_empty(&rtmp_posted)) {
            // A fan-out posts thousands of write events whose events and connections are
            // cold by the time each runs: fetch the next one's while this one sends.
            rtmp_event_t *next = rtmp_queue_data(rtmp_posted.next, rtmp_event_t, queue);
            __builtin_prefetch(next->data);
            __builtin_prefetch(next->queue.next);
        }
        ev->handler(ev);
    }
}
