// Timers: a binary min-heap of events keyed by deadline; each event knows its slot.
#include "core/rtmp_time.h"
#include "event/rtmp_event.h"

static rtmp_event_t **rtmp_timer_heap;
static size_t rtmp_timer_n;
static size_t rtmp_timer_cap;

static void rtmp_timer_place(rtmp_event_t *ev, size_t i)
{
    rtmp_timer_heap[i] = ev;
    ev->timer_index = i;
}

static void rtmp_timer_up(size_t i)
{
    rtmp_event_t *ev = rtmp_timer_heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (rtmp_timer_heap[parent]->timer_key <= ev->timer_key) {
            break;
        }
        rtmp_timer_place(rtmp_timer_heap[parent], i);
        i = parent;
    }
    rtmp_timer_place(ev, i);
}

static void rtmp_timer_down(size_t i)
{
    rtmp_event_t *ev = rtmp_timer_heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= rtmp_timer_n) {
            break;
        }
        if (child + 1 < rtmp_timer_n &&
            rtmp_timer_heap[child + 1]->timer_key < rtmp_timer_heap[child]->timer_key) {
            child++;
        }
        if (ev->timer_key <= rtmp_timer_heap[child]->timer_key) {
            break;
        }
        rtmp_timer_place(rtmp_timer_heap[child], i);
        i = child;
    }
    rtmp_timer_place(ev, i);
}

void rtmp_event_del_timer(rtmp_event_t *ev)
{
    if (!ev->timer_set) {
        return;
    }
    size_t i = ev->timer_index;
    rtmp_event_t *last = rtmp_timer_heap[--rtmp_timer_n];
    if (i != rtmp_timer_n) {
        rtmp_timer_place(last, i);
        rtmp_timer_down(i);
        rtmp_timer_up(last->timer_index);
    }
    ev->timer_set = 0;
}

void rtmp_event_add_timer(rtmp_event_t *ev, rtmp_msec_t timer)
{
    rtmp_event_del_timer(ev);
    if (rtmp_timer_n == rtmp_timer_cap) {
        rtmp_timer_cap = rtmp_timer_cap ? rtmp_timer_cap * 2 : 256;
        rtmp_timer_heap = static_cast<rtmp_event_t **>(
            rtmp_realloc(rtmp_timer_heap, rtmp_timer_cap * sizeof(rtmp_event_t *)));
    }
    ev->timer_key = rtmp_current_msec + timer;
    ev->timer_set = 1;
    rtmp_timer_place(ev, rtmp_timer_n++);
    rtmp_timer_up(ev->timer_index);
}

rtmp_int_t rtmp_event_find_timer()
{
    if (rtmp_timer_n == 0) {
        return -1;
    }
    rtmp_msec_t key = rtmp_timer_heap[0]->timer_key;
    return key > rtmp_current_msec ? (rtmp_int_t)(key - rtmp_current_msec) : 0;
}

void rtmp_event_expire_timers()
{
    while (rtmp_timer_n > 0 && rtmp_timer_heap[0]->timer_key <= rtmp_current_msec) {
        rtmp_event_t *ev = rtmp_timer_heap[0];
        rtmp_event_del_timer(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

size_t rtmp_event_timer_count()
{
    return rtmp_timer_n;
}
