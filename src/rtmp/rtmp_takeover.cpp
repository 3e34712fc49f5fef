// Publishes waiting for another worker to let go of their stream (publisher_takeover).
#include "rtmp/rtmp_takeover.h"
#include "event/rtmp_channel.h"
#include "os/rtmp_process.h"

#include <cstring>

// The owner closes its publisher as soon as it hears of us; this is for a worker that is
// stuck or exiting, after which the publish is refused as busy.
static constexpr rtmp_msec_t RTMP_TAKEOVER_WAIT = 3000;

struct rtmp_takeover_t {
    rtmp_takeover_t *next;
    rtmp_session_t *s;
    rtmp_stream_t *st;
    rtmp_event_t ev; // the name is free, or waiting is over
    bool woken;
    char key[RTMP_CHANNEL_NAME];
};

static rtmp_takeover_t *rtmp_takeovers;

static rtmp_takeover_t **rtmp_takeover_find(rtmp_stream_t *st)
{
    rtmp_takeover_t **pp = &rtmp_takeovers;
    while (*pp && (*pp)->st != st) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void rtmp_takeover_free(rtmp_takeover_t **pp)
{
    rtmp_takeover_t *t = *pp;
    *pp = t->next;
    rtmp_event_del_timer(&t->ev);
    rtmp_event_delete_posted(&t->ev);
    rtmp_free(t);
}

static void rtmp_takeover_resume(rtmp_event_t *ev)
{
    auto *t = static_cast<rtmp_takeover_t *>(ev->data);
    rtmp_event_del_timer(ev);
    ev->timedout = 0;
    rtmp_session_t *s = t->s;
    rtmp_stream_t *st = t->st;
    if (s->state == rtmp_session_state::closing) {
        return; // its close cancels the wait
    }
    t->woken = true;
    (void)rtmp_session_publish_resume(s, st);
    rtmp_takeover_cancel(st); // refused before it got as far as asking for the wait
}

rtmp_int_t rtmp_takeover_ask(rtmp_session_t *s, rtmp_stream_t *st, std::string_view key, int owner)
{
    if (key.size() >= RTMP_CHANNEL_NAME || !rtmp_worker_ask_takeover(key)) {
        return RTMP_DECLINED;
    }
    auto *t = static_cast<rtmp_takeover_t *>(rtmp_calloc(sizeof(rtmp_takeover_t)));
    t->s = s;
    t->st = st;
    memcpy(t->key, key.data(), key.size());
    t->ev.data = t;
    t->ev.handler = rtmp_takeover_resume;
    t->ev.log = &s->c->log;
    rtmp_event_add_timer(&t->ev, RTMP_TAKEOVER_WAIT);
    t->next = rtmp_takeovers;
    rtmp_takeovers = t;
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                   "publish \"%s/%s\" waits for worker %d to let go of it (publisher_takeover)",
                   s->app->name.data, st->name, owner);
    return RTMP_AGAIN;
}

rtmp_takeover_state rtmp_takeover_take(rtmp_stream_t *st)
{
    rtmp_takeover_t **pp = rtmp_takeover_find(st);
    if (*pp == nullptr) {
        return rtmp_takeover_state::none;
    }
    if (!(*pp)->woken) {
        return rtmp_takeover_state::waiting;
    }
    rtmp_takeover_free(pp);
    return rtmp_takeover_state::woken;
}

void rtmp_takeover_cancel(rtmp_stream_t *st)
{
    rtmp_takeover_t **pp = rtmp_takeover_find(st);
    if (*pp) {
        rtmp_takeover_free(pp);
    }
}

void rtmp_takeover_wake(std::string_view key)
{
    for (rtmp_takeover_t *t = rtmp_takeovers; t; t = t->next) {
        if (!t->woken && key == t->key) {
            rtmp_event_del_timer(&t->ev);
            rtmp_event_post(&t->ev);
        }
    }
}
