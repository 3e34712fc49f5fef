// Posted events: work deferred to the end of a loop iteration, such as closing a session.
#include "event/rtmp_connection.h"
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

// A fan-out posts a write event per player, and each one's event, connection and session
// are cold by the time it runs; each is found through the one before, so they are fetched
// as a pipeline: the event three ahead with its connection, and the session of the one
// two ahead, whose connection was fetched the time before.
static void rtmp_event_prefetch_posted()
{
    auto after = [](rtmp_queue_t *q) { return q == &rtmp_posted ? q : q->next; };
    rtmp_queue_t *q2 = after(rtmp_posted.next);
    rtmp_queue_t *q3 = after(q2);
    if (q3 != &rtmp_posted) {
        auto *ev = rtmp_queue_data(q3, rtmp_event_t, queue);
        __builtin_prefetch(ev);
        __builtin_prefetch(rtmp_connection_of(ev));
    }
    if (q2 != &rtmp_posted) {
        if (rtmp_connection_t *c = rtmp_connection_of(rtmp_queue_data(q2, rtmp_event_t, queue))) {
            __builtin_prefetch(c->data);
        }
    }
}

void rtmp_event_process_posted()
{
    while (!rtmp_queue_empty(&rtmp_posted)) {
        rtmp_event_t *ev = rtmp_queue_data(rtmp_posted.next, rtmp_event_t, queue);
        rtmp_event_delete_posted(ev);
        rtmp_event_prefetch_posted();
        ev->handler(ev);
    }
}
