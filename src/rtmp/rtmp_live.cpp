// The live module: streams by name, the GOP cache, timestamps and fan-out of shared frames.
#include "rtmp/rtmp_live.h"
#include "core/rtmp_time.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_control.h"
#include "rtmp/rtmp_pull.h"
#include "rtmp/rtmp_registry.h"
#include "rtmp/rtmp_stat.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_takeover.h"
#include "rtmp/rtmp_timeline.h"
#include "os/rtmp_process.h"

#include <cstdio>
#include <optional>

static constexpr size_t RTMP_LIVE_HASH = 1024;

typedef struct rtmp_live_stream_s rtmp_live_stream_t;

// One publishing or playing NetStream.
struct rtmp_live_ctx_s {
    rtmp_session_t *s;
    rtmp_stream_t *st;
    rtmp_live_stream_t *ls;
    rtmp_queue_t link; // in ls->players
    rtmp_msec_t started;
    bool publishing;
    bool relay;         // the publisher is a pull from another worker
    bool push;          // a push to another server (rtmp_push.cpp): a player we are client of
    bool forward;       // a push, or another worker pulling: it feeds players of its own, so
                        // its frames go at once (flush_interval would add up at each hop)
    bool video_started; // a key frame went out (wait_key)
    bool skipping;      // too slow: inter frames are dropped until the next key frame
    uint64_t dropped;
};

struct rtmp_live_stream_s {
    rtmp_live_stream_t *next; // hash chain
    rtmp_conf_app_t *app;
    rtmp_live_app_conf_t *lacf;
    uint32_t chunk_size; // of the server: every player of the stream uses it
    char name[RTMP_MAX_NAME + 1];

    rtmp_live_ctx_t *publisher;
    rtmp_msec_t pull_started; // a pull from the owning worker is on its way
    rtmp_queue_t players;
    size_t nplayers;
    size_t nforward; // players that are forwards (rtmp_live_ctx_t::forward)

    // what a new player is sent first
    rtmp_frame_t *meta;
    rtmp_frame_t *video_header;
    rtmp_frame_t *audio_header;
    // the headers again at the time a joining player starts at (rtmp_live_header_at)
    rtmp_frame_t *video_header_at;
    rtmp_frame_t *audio_header_at;
    rtmp_frame_t **gop; // since the last key frame
    uint32_t ngop;
    uint32_t gop_cap;
    size_t gop_bytes;
    bool gop_full;  // over its bounds: no cache until the next key frame
    bool gop_keyed; // holds a key frame, not only what came before the first
    bool started;   // a frame players can start on went out: the publisher may be held

    rtmp_timeline_t timeline; // monotonic across publisher reconnects

    rtmp_msec_t last_media;
    rtmp_event_t idle_ev;   // drop_idle_publisher
    rtmp_event_t refeed_ev; // rtmp_live_refeed
    rtmp_event_t flush_ev;  // flush_interval: sends what queued up to every player
    uint64_t messages;
    uint64_t bytes;
};

static rtmp_live_stream_t *rtmp_live_streams[RTMP_LIVE_HASH];
static size_t rtmp_live_nstreams;

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_live_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_live_app_conf_t>(cf->pool);
    c->live = c->gop_cache = c->gop_cache_max_bytes = c->gop_cache_max_frames = RTMP_CONF_UNSET;
    c->wait_key = c->wait_video = c->idle_streams = c->publisher_takeover = RTMP_CONF_UNSET;
    c->player_queue = RTMP_CONF_UNSET;
    c->drop_idle_publisher = c->player_max_lag = c->flush_interval = RTMP_CONF_UNSET_MSEC;
    return c;
}

static const char *rtmp_live_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_live_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_live_app_conf_t *>(child);
    rtmp_conf_merge_value(c->live, p->live, 0);
    rtmp_conf_merge_value(c->gop_cache, p->gop_cache, 1);
    rtmp_conf_merge_value(c->gop_cache_max_bytes, p->gop_cache_max_bytes, 16 * 1024 * 1024);
    rtmp_conf_merge_value(c->gop_cache_max_frames, p->gop_cache_max_frames, 4096);
    rtmp_conf_merge_value(c->wait_key, p->wait_key, 1);
    rtmp_conf_merge_value(c->wait_video, p->wait_video, 0);
    rtmp_conf_merge_value(c->idle_streams, p->idle_streams, 1);
    rtmp_conf_merge_value(c->publisher_takeover, p->publisher_takeover, 0);
    rtmp_conf_merge_msec(c->drop_idle_publisher, p->drop_idle_publisher, 0);
    rtmp_conf_merge_value(c->player_queue, p->player_queue, 8 * 1024 * 1024);
    rtmp_conf_merge_msec(c->player_max_lag, p->player_max_lag, 10000);
    rtmp_conf_merge_msec(c->flush_interval, p->flush_interval, 30);
    return nullptr;
}

#define LIVE_OFF(field) offsetof(rtmp_live_app_conf_t, field)
#define LIVE_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_live_directives[] = {
    {"live", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, LIVE_OFF(live), 0, 0,
     nullptr},
    {"gop_cache", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, LIVE_OFF(gop_cache), 0,
     0, nullptr},
    {"gop_cache_max_bytes", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::size,
     LIVE_OFF(gop_cache_max_bytes), 64 * 1024, 1024 * 1024 * 1024, nullptr},
    {"gop_cache_max_frames", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::number,
     LIVE_OFF(gop_cache_max_frames), 16, 1 << 20, nullptr},
    {"wait_key", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, LIVE_OFF(wait_key), 0, 0,
     nullptr},
    {"wait_video", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag, LIVE_OFF(wait_video), 0,
     0, nullptr},
    {"idle_streams", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag,
     LIVE_OFF(idle_streams), 0, 0, nullptr},
    {"publisher_takeover", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag,
     LIVE_OFF(publisher_takeover), 0, 0, nullptr},
    {"drop_idle_publisher", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     LIVE_OFF(drop_idle_publisher), 0, 86400000, nullptr},
    {"player_queue", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::size,
     LIVE_OFF(player_queue), 64 * 1024, 1024 * 1024 * 1024, nullptr},
    {"player_max_lag", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     LIVE_OFF(player_max_lag), 100, 3600000, nullptr},
    {"flush_interval", LIVE_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     LIVE_OFF(flush_interval), 0, 1000, nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// The end of every chain: the live module answers the client.
static void rtmp_live_postconfiguration()
{
    rtmp_publish_handler = rtmp_live_publish;
    rtmp_play_handler = rtmp_live_play;
    rtmp_close_stream_handler = rtmp_live_close_stream;
    rtmp_media_handler = rtmp_live_media;
}

rtmp_module_t rtmp_live_module = {
    .name = "live",
    .index = 0,
    .directives = rtmp_live_directives,
    .create_app_conf = rtmp_live_create_app_conf,
    .merge_app_conf = rtmp_live_merge_app_conf,
    .postconfiguration = rtmp_live_postconfiguration,
};

// ---- the stream table ----------------------------------------------------------------------

static size_t rtmp_live_hash(const rtmp_conf_app_t *app, std::string_view name)
{
    size_t h = reinterpret_cast<uintptr_t>(app) >> 4;
    for (char ch : name) {
        h = h * 31 + (u_char)ch;
    }
    return h % RTMP_LIVE_HASH;
}

static rtmp_live_stream_t *rtmp_live_find(rtmp_conf_app_t *app, std::string_view name, bool create,
                                          uint32_t chunk_size)
{
    size_t h = rtmp_live_hash(app, name);
    for (rtmp_live_stream_t *ls = rtmp_live_streams[h]; ls; ls = ls->next) {
        if (ls->app == app && name == ls->name) {
            return ls;
        }
    }
    if (!create) {
        return nullptr;
    }
    auto *ls = static_cast<rtmp_live_stream_t *>(rtmp_calloc(sizeof(rtmp_live_stream_t)));
    ls->app = app;
    ls->lacf = rtmp_live_app_conf(app);
    ls->chunk_size = chunk_size;
    memcpy(ls->name, name.data(), name.size());
    rtmp_queue_init(&ls->players);
    ls->next = rtmp_live_streams[h];
    rtmp_live_streams[h] = ls;
    rtmp_live_nstreams++;
    return ls;
}

static void rtmp_live_gop_clear(rtmp_live_stream_t *ls);

static void rtmp_live_reset_cache(rtmp_live_stream_t *ls)
{
    rtmp_live_gop_clear(ls);
    for (rtmp_frame_t **f : {&ls->meta, &ls->video_header, &ls->audio_header, &ls->video_header_at,
                             &ls->audio_header_at}) {
        if (*f) {
            rtmp_frame_unref(*f);
            *f = nullptr;
        }
    }
}

// Frees a stream nobody publishes or plays any more.
static void rtmp_live_release(rtmp_live_stream_t *ls)
{
    if (ls->publisher || ls->nplayers) {
        return;
    }
    rtmp_live_stream_t **pp = &rtmp_live_streams[rtmp_live_hash(ls->app, ls->name)];
    while (*pp != ls) {
        pp = &(*pp)->next;
    }
    *pp = ls->next;
    rtmp_event_del_timer(&ls->idle_ev);
    rtmp_event_del_timer(&ls->flush_ev);
    rtmp_event_del_timer(&ls->refeed_ev);
    rtmp_live_reset_cache(ls);
    rtmp_free(ls->gop);
    rtmp_free(ls);
    rtmp_live_nstreams--;
}

size_t rtmp_live_stream_count()
{
    return rtmp_live_nstreams;
}

void rtmp_live_stat(void (*stream)(const rtmp_live_stat_t *ls, void *data),
                    void (*player)(const rtmp_live_stat_player_t *p, void *data), void *data)
{
    for (rtmp_live_stream_t *ls : rtmp_live_streams) {
        for (; ls; ls = ls->next) {
            rtmp_live_ctx_t *pub = ls->publisher;
            rtmp_live_stat_t st = {ls->app,
                                   ls->name,
                                   pub ? pub->s : nullptr,
                                   pub ? pub->st : nullptr,
                                   pub && pub->relay,
                                   pub ? pub->started : 0,
                                   ls->messages,
                                   ls->bytes};
            stream(&st, data);
            for (rtmp_queue_t *q = ls->players.next; q != &ls->players; q = q->next) {
                rtmp_live_ctx_t *p = rtmp_queue_data(q, rtmp_live_ctx_t, link);
                rtmp_live_stat_player_t ps = {p->s, p->started, p->dropped, p->push};
                player(&ps, data);
            }
        }
    }
}

// "server/app/name": how the master's registry names a stream across workers.
static std::string_view rtmp_live_key(rtmp_conf_app_t *app, std::string_view name, char *buf,
                                      size_t len)
{
    int n = snprintf(buf, len, "%zu/%s/%.*s", app->server->index, app->name.data, (int)name.size(),
                     name.data());
    return std::string_view(buf, n > 0 && (size_t)n < len ? (size_t)n : 0);
}

// A pull is retried only after this long without an answer.
static constexpr rtmp_msec_t RTMP_LIVE_PULL_RETRY = 3000;

// Pulls the stream from the worker that publishes it, for the players waiting here.
static void rtmp_live_pull(rtmp_live_stream_t *ls, int owner, rtmp_log_t *log)
{
    if (ls->publisher || owner < 0 || owner == rtmp_worker_slot ||
        (ls->pull_started && rtmp_current_msec - ls->pull_started < RTMP_LIVE_PULL_RETRY)) {
        return;
    }
    ls->pull_started = rtmp_current_msec;
    if (rtmp_relay_pull(ls->app, ls->name, owner, log) != RTMP_OK) {
        ls->pull_started = 0;
    }
}

// ---- players -------------------------------------------------------------------------------

// Posts a flush to every player with frames waiting: the end of a flush_interval.
static void rtmp_live_flush(rtmp_event_t *ev)
{
    auto *ls = static_cast<rtmp_live_stream_t *>(ev->data);
    for (rtmp_queue_t *q = ls->players.next; q != &ls->players; q = q->next) {
        rtmp_session_t *s = rtmp_queue_data(q, rtmp_live_ctx_t, link)->s;
        if (s->qcount && s->c->write->ready) { // a full socket waits for EPOLLOUT instead
            rtmp_event_post(s->c->write);
        }
    }
}

// Queues a frame to one player, applying wait_key/wait_video and the slow-player rules;
// sent after this batch of events or at the stream's next flush_interval tick. A joining
// player's frames go at once, and so do frames that already waited their interval in
// the publisher's socket (rtmp_live_pace).
static void rtmp_live_send(rtmp_live_ctx_t *p, rtmp_frame_t *f, bool join, bool waited)
{
    rtmp_session_t *s = p->s;
    rtmp_live_app_conf_t *lacf = p->ls->lacf;
    if (s->state == rtmp_session_state::closing || p->st->paused) {
        return;
    }
    bool video = f->flags & RTMP_FRAME_VIDEO;
    bool audio = f->flags & RTMP_FRAME_AUDIO;
    bool header = f->flags & RTMP_FRAME_HEADER;
    bool key = f->flags & RTMP_FRAME_KEY;

    if ((video && !p->st->receive_video) || (audio && !p->st->receive_audio)) {
        return;
    }
    if (video && !header && !p->video_started) {
        if (!key && lacf->wait_key) {
            return;
        }
        p->video_started = true;
    }
    if (audio && !header && lacf->wait_video && !p->video_started) {
        return;
    }

    size_t limit = (size_t)lacf->player_queue;
    rtmp_msec_t lag = rtmp_session_queue_lag(s);
    bool over = s->qbytes + f->len > limit || lag > lacf->player_max_lag;
    if (over && !p->push) {
        char why[128];
        snprintf(why, sizeof(why), "player too slow: %zu bytes queued, %llums behind", s->qbytes,
                 (unsigned long long)lag);
        rtmp_session_close(s, why);
        return;
    }
    // Over half the queue or half the lag: lose inter frames until the next key frame,
    // which costs picture for a moment rather than the connection (at low bitrates the
    // lag bound is reached long before the byte bound).
    // A push over its bounds loses everything but codec headers instead: a slow target
    // must not cost the stream it is fed, and reconnecting would not make it faster.
    if (key && !over) {
        p->skipping = false;
    } else if ((over && !header) ||
               ((f->flags & RTMP_FRAME_DROPPABLE) &&
                (p->skipping || s->qbytes > limit / 2 || lag > lacf->player_max_lag / 2))) {
        if (!p->skipping) {
            rtmp_log_error(p->push ? RTMP_LOG_WARN : RTMP_LOG_INFO, &s->c->log, 0,
                           "%s \"%s/%s\" falls behind (%zu bytes queued, %llums): skipping to "
                           "the next key frame",
                           p->push ? "push" : "play", p->ls->app->name.data, p->ls->name, s->qbytes,
                           (unsigned long long)lag);
            // the backlog's inter frames too: left queued, they drain at the player's slow
            // rate while the oldest frame ages past player_max_lag, and the player that
            // was to catch up on key frames and audio is disconnected instead
            uint32_t n = rtmp_session_queue_drop(s, p->st->msid, RTMP_FRAME_DROPPABLE);
            p->dropped += n;
            rtmp_stat_count(rtmp_stat_id::dropped_frames, n);
        }
        p->skipping = true;
        p->dropped++;
        rtmp_stat_count(rtmp_stat_id::dropped_frames);
        return;
    }
    // A live frame to a player whose join burst is out: back to Nagle, so that while an
    // acknowledgement is outstanding (a round trip, over a network) the kernel merges its
    // small frames. On loopback a prompt client leaves little to merge: at flush_interval
    // 0 and 2,000 players, both CPUs' time was the same with TCP_NODELAY.
    if (!join && s->c->nodelay && s->qcount == 0) {
        rtmp_connection_live(s->c);
    }
    rtmp_live_stream_t *ls = p->ls;
    bool now = join || waited || lacf->flush_interval == 0 || p->forward;
    rtmp_session_enqueue(s, f, p->st->msid, now);
    if (!now && !ls->flush_ev.timer_set) {
        ls->flush_ev.data = ls;
        ls->flush_ev.handler = rtmp_live_flush;
        ls->flush_ev.log = rtmp_cycle->log;
        rtmp_event_add_timer(&ls->flush_ev, lacf->flush_interval);
    }
}

// Queues a published frame to every player. Each player's context, stream, session,
// connection and write event are a cache line each, cold again by the next frame (its
// sends ran through the kernel in between), and each is found through the one before; so
// at each player the lines the players after it need are fetched as a pipeline, a step of
// that chain per player ahead.
static void rtmp_live_fan_out(rtmp_live_stream_t *ls, rtmp_frame_t *f, bool waited)
{
    rtmp_queue_t *head = &ls->players;
    auto after = [head](rtmp_queue_t *q) { return q == head ? head : q->next; };
    auto ctx = [](rtmp_queue_t *q) { return rtmp_queue_data(q, rtmp_live_ctx_t, link); };
    rtmp_queue_t *q = head->next;
    rtmp_queue_t *q1 = after(q);
    rtmp_queue_t *q2 = after(q1);
    rtmp_queue_t *q3 = after(q2);
    for (; q != head; q = q1, q1 = q2, q2 = q3, q3 = after(q3)) {
        if (q3 != head) {
            __builtin_prefetch(q3->next);
            __builtin_prefetch(ctx(q3)->s);
            __builtin_prefetch(ctx(q3)->st);
        }
        if (q2 != head) {
            rtmp_session_t *s = ctx(q2)->s;
            __builtin_prefetch(s->c);
            if (s->queue) {
                __builtin_prefetch(&s->queue[s->qhead]);
            }
        }
        if (q1 != head) {
            __builtin_prefetch(ctx(q1)->s->c->write);
        }
        rtmp_live_send(ctx(q), f, false, waited);
    }
}

// What a player joining a running stream gets first: metadata, sequence headers, the GOP.
// A sequence header as a player starting at `ts` gets it: at that time, not at the time it
// came (the stream's start, long before a late player's first frame), as nginx-rtmp sends
// them; players that record what they get (VLC) would otherwise see time jump after it.
// One copy per time, so the players joining during one GOP share it.
static rtmp_frame_t *rtmp_live_header_at(rtmp_live_stream_t *ls, rtmp_frame_t *header,
                                         rtmp_frame_t **copy, uint32_t ts)
{
    if (header == nullptr || header->timestamp == ts) {
        return header;
    }
    if (*copy == nullptr || (*copy)->timestamp != ts) {
        rtmp_frame_t *f = rtmp_frame_restamp(header, ts, ls->chunk_size);
        if (f == nullptr) {
            return header;
        }
        if (*copy) {
            rtmp_frame_unref(*copy);
        }
        *copy = f;
    }
    return *copy;
}

static void rtmp_live_join(rtmp_live_ctx_t *p)
{
    rtmp_live_stream_t *ls = p->ls;
    bool gop = ls->lacf->gop_cache && !ls->gop_full && ls->ngop > 0;
    uint32_t start = gop ? ls->gop[0]->timestamp : rtmp_timeline_now(&ls->timeline);
    for (rtmp_frame_t *f :
         {ls->meta, rtmp_live_header_at(ls, ls->video_header, &ls->video_header_at, start),
          rtmp_live_header_at(ls, ls->audio_header, &ls->audio_header_at, start)}) {
        if (f) {
            rtmp_live_send(p, f, true, false); // a new player starts at once
        }
    }
    for (uint32_t i = 0; gop && i < ls->ngop; i++) {
        rtmp_live_send(p, ls->gop[i], true, false);
    }
}

// ---- publishing ----------------------------------------------------------------------------

// Longest flush_interval the publisher's input is held in its socket for. Up to one video
// frame (30 fps) it pays: 500 publishers of 600 kbit/s, one player each, cost about a fifth
// less server CPU held 30ms than 20ms, with 15-20% fewer segments on the wire (one read,
// ACK and send per frame, not per message or two). Longer was measured to cost more: held 100ms,
// a coalesced fan-out of one 2.5 Mbit/s stream to 3,000 players took 39% more CPU per GB
// (its reads come near the 32 KB after which the next one goes at once). A longer
// interval's frames wait in the players' queues instead.
static constexpr rtmp_msec_t RTMP_LIVE_PACE_MAX = 30;

// Under a flush_interval, the publisher's input waits the interval in its socket instead
// of its frames in every player's queue: players get the same frames at the same time,
// and the publisher costs one read and one TCP acknowledgement per interval, not per
// message. Not while the stream is forwarded, whose next hop waits an interval of its own,
// nor before a frame to start on went out: players waiting for it (those of another
// worker's pull, whose first read is the origin's GOP) would wait an interval more.
static void rtmp_live_pace(rtmp_live_stream_t *ls)
{
    rtmp_msec_t interval = ls->lacf->flush_interval;
    bool hold = ls->started && interval <= RTMP_LIVE_PACE_MAX && ls->nforward == 0;
    if (ls->publisher) {
        rtmp_session_pace_reads(ls->publisher->s, hold ? interval : 0);
    }
}

static void rtmp_live_idle_check(rtmp_event_t *ev)
{
    auto *ls = static_cast<rtmp_live_stream_t *>(ev->data);
    rtmp_msec_t limit = ls->lacf->drop_idle_publisher;
    if (ls->publisher == nullptr || limit == 0) {
        return;
    }
    rtmp_msec_t idle = rtmp_current_msec - ls->last_media;
    if (idle >= limit) {
        rtmp_session_close(ls->publisher->s, "drop_idle_publisher: no media");
        return;
    }
    rtmp_event_add_timer(ev, limit - idle);
}

static rtmp_live_ctx_t *rtmp_live_ctx(rtmp_session_t *s, rtmp_stream_t *st, rtmp_live_stream_t *ls)
{
    auto *ctx = static_cast<rtmp_live_ctx_t *>(rtmp_calloc(sizeof(rtmp_live_ctx_t)));
    ctx->s = s;
    ctx->st = st;
    ctx->ls = ls;
    ctx->started = rtmp_current_msec;
    st->live = ctx;
    return ctx;
}

// Tells every player (not pushes: we are their client, a server's notices are not ours to
// send) that the stream began or ended, with a status when one is given.
static void rtmp_live_tell_players(rtmp_live_stream_t *ls, rtmp_user_event event,
                                   std::optional<rtmp_cmd_status_id> status)
{
    for (rtmp_queue_t *q = ls->players.next; q != &ls->players; q = q->next) {
        rtmp_live_ctx_t *p = rtmp_queue_data(q, rtmp_live_ctx_t, link);
        if (p->push) {
            continue;
        }
        rtmp_control_buf_t cb;
        (void)rtmp_session_send_control(p->s, rtmp_control_user(&cb, event, p->st->msid));
        if (status) {
            (void)rtmp_session_status(p->s, p->st->msid, *status, ls->name);
        }
        rtmp_event_post(p->s->c->write);
    }
}

// Players for the log: pushes are relays, which the stat page counts apart too.
static size_t rtmp_live_viewers(rtmp_live_stream_t *ls)
{
    size_t n = 0;
    for (rtmp_queue_t *q = ls->players.next; q != &ls->players; q = q->next) {
        n += !rtmp_queue_data(q, rtmp_live_ctx_t, link)->push;
    }
    return n;
}

// A copy from another worker ended while players wait here. What comes next is decided a
// moment later, once the master's news of the stream has come: published again somewhere
// (a takeover there announces the end and the new start at once, before the copy ends),
// it is pulled again; gone, its players get a pull from an origin if the application
// has some, as when the worker that pulled it for them let it go or died.
static constexpr rtmp_msec_t RTMP_LIVE_REFEED_DELAY = 250;

static void rtmp_live_refeed(rtmp_event_t *ev)
{
    auto *ls = static_cast<rtmp_live_stream_t *>(ev->data);
    ev->timedout = 0;
    if (ls->publisher || ls->nplayers == 0) {
        return;
    }
    int owner = rtmp_live_owner(ls->app, ls->name);
    if (owner >= 0 && owner != rtmp_worker_slot) {
        rtmp_live_pull(ls, owner, ev->log);
    } else {
        rtmp_pull_adopt(ls->app, ls->name);
    }
}

// Detaches the publisher; players stay, told the stream stopped. A handover (another
// publisher here takes the stream at once) tells them nothing: the stream goes on with
// the new publisher's frames from its first key frame, for ffmpeg and librtmp players,
// which end at the notice, too.
static void rtmp_live_unpublish(rtmp_live_stream_t *ls, bool handover = false)
{
    rtmp_live_ctx_t *pub = ls->publisher;
    // a pull from another worker is this worker's copy of a stream published there
    rtmp_log_error(RTMP_LOG_INFO, &pub->s->c->log, 0,
                   "%s ended \"%s/%s\": %.1fs, %llu messages, %llu bytes, %zu players",
                   pub->relay ? "copy from another worker" : "publish", pub->s->app->name.data,
                   ls->name, (double)(rtmp_current_msec - pub->started) / 1000.0,
                   (unsigned long long)ls->messages, (unsigned long long)ls->bytes,
                   rtmp_live_viewers(ls));
    ls->publisher = nullptr;
    pub->st->live = nullptr;
    rtmp_session_pace_reads(pub->s, 0);
    if (!pub->relay && !handover) {
        char key[RTMP_MAX_NAME * 2 + 32];
        std::string_view k = rtmp_live_key(ls->app, ls->name, key, sizeof(key));
        (void)rtmp_registry_del(k, rtmp_worker_slot);
        rtmp_worker_announce(false, k);
    }
    rtmp_event_del_timer(&ls->idle_ev);
    rtmp_live_reset_cache(ls);
    rtmp_timeline_restart(&ls->timeline);
    rtmp_alloc_release(); // its GOP cache, kept for reuse while it ran

    for (rtmp_queue_t *q = ls->players.next; q != &ls->players; q = q->next) {
        rtmp_queue_data(q, rtmp_live_ctx_t, link)->video_started = false;
    }
    bool relay = pub->relay;
    rtmp_free(pub);
    if (handover) {
        return;
    }
    rtmp_live_tell_players(ls, RTMP_USER_STREAM_EOF, rtmp_cmd_status_id::play_unpublish_notify);
    if (relay && ls->nplayers > 0) {
        ls->refeed_ev.data = ls;
        ls->refeed_ev.handler = rtmp_live_refeed;
        ls->refeed_ev.log = rtmp_cycle->log;
        rtmp_event_add_timer(&ls->refeed_ev, RTMP_LIVE_REFEED_DELAY);
    }
}

// Copies a query string for the log with the values of secrets replaced: stream keys
// and tokens in a log file are as good as the keys themselves.
static void rtmp_live_redact_args(const char *in, char *out, size_t len)
{
    static constexpr std::string_view secrets[] = {"key",      "token", "secret", "auth",
                                                   "password", "pass",  "sign",   "signature"};
    size_t n = 0;
    std::string_view rest(in);
    while (!rest.empty() && n + 1 < len) {
        size_t amp = rest.find('&');
        std::string_view param = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        size_t eq = param.find('=');
        std::string_view name = param.substr(0, eq);
        bool secret = false;
        for (std::string_view w : secrets) {
            secret = secret || name == w;
        }
        int r = snprintf(out + n, len - n, "%s%.*s%s", n ? "&" : "", (int)name.size(), name.data(),
                         eq == std::string_view::npos ? ""
                         : secret                     ? "=***"
                                                      : "");
        n = r > 0 && (size_t)r < len - n ? n + (size_t)r : len - 1;
        if (!secret && eq != std::string_view::npos && n + 1 < len) {
            std::string_view value = param.substr(eq);
            r = snprintf(out + n, len - n, "%.*s", (int)value.size(), value.data());
            n = r > 0 && (size_t)r < len - n ? n + (size_t)r : len - 1;
        }
    }
    out[n] = '\0';
}

rtmp_int_t rtmp_live_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    if (rtmp_relay_origin_pull(s)) {
        // a pull from an origin, through the chain: attached without replies, since we are
        // the origin's client; RTMP_DECLINED when the name is taken here or elsewhere
        return rtmp_live_relay_attach(s, st, true);
    }
    rtmp_live_app_conf_t *lacf = rtmp_live_app_conf(s->app);
    if (!lacf->live) {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "publish \"%s/%s\" refused: live is off",
                       s->app->name.data, st->name);
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name,
                                   "Live streaming is off in this application");
    }
    rtmp_takeover_state waited = rtmp_takeover_take(st);
    if (waited == rtmp_takeover_state::waiting) {
        rtmp_session_close(s, "publish sent again while the last one waits");
        return RTMP_ERROR;
    }
    char key[RTMP_MAX_NAME * 2 + 32];
    std::string_view k = rtmp_live_key(s->app, st->name, key, sizeof(key));
    int owner = rtmp_registry_owner(k);
    if (owner >= 0 && owner != rtmp_worker_slot) {
        if (lacf->publisher_takeover && waited == rtmp_takeover_state::none &&
            rtmp_takeover_ask(s, st, k, owner) == RTMP_AGAIN) {
            return RTMP_AGAIN;
        }
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                       "publish \"%s/%s\" refused: already publishing in worker %d%s",
                       s->app->name.data, st->name, owner,
                       waited == rtmp_takeover_state::woken ? ", which did not let go of it" : "");
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name);
    }
    rtmp_live_stream_t *ls = rtmp_live_find(s->app, st->name, true, (uint32_t)s->scf->chunk_size);
    bool handover = false; // players go on from the publisher before, told nothing
    if (ls->publisher && ls->publisher->relay) {
        // the pull raced with a publish here: this publisher wins, the pull goes
        rtmp_session_t *relay = ls->publisher->s;
        rtmp_live_unpublish(ls, true);
        rtmp_session_close(relay, "a local publisher took the stream");
        handover = true;
    }
    if (ls->publisher) {
        if (!lacf->publisher_takeover) {
            rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                           "publish \"%s/%s\" refused: already publishing", s->app->name.data,
                           st->name);
            return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name);
        }
        rtmp_session_t *old = ls->publisher->s;
        rtmp_stream_t *old_st = ls->publisher->st;
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                       "publish \"%s/%s\" takes over from connection %llu", s->app->name.data,
                       st->name, (unsigned long long)old->c->number);
        rtmp_live_unpublish(ls, true);
        old_st->state = rtmp_stream_state::created;
        rtmp_session_close(old, "publisher taken over by a new connection");
        handover = true;
    }

    rtmp_live_ctx_t *ctx = rtmp_live_ctx(s, st, ls);
    ctx->publishing = true;
    ls->publisher = ctx;
    ls->started = false;
    rtmp_live_pace(ls);
    ls->last_media = rtmp_current_msec;
    ls->messages = ls->bytes = 0;
    ls->gop_full = false;
    rtmp_timeline_restart(&ls->timeline);
    st->state = rtmp_stream_state::publishing;
    (void)rtmp_registry_set(k, rtmp_worker_slot);
    rtmp_worker_announce(true, k);
    char args[RTMP_MAX_ARGS + 1];
    rtmp_live_redact_args(st->args, args, sizeof(args));
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "publish \"%s/%s\"%s%s, %zu players waiting",
                   s->app->name.data, st->name, args[0] ? " args " : "", args,
                   rtmp_live_viewers(ls));

    if (lacf->drop_idle_publisher) {
        ls->idle_ev.data = ls;
        ls->idle_ev.handler = rtmp_live_idle_check;
        ls->idle_ev.log = &s->c->log;
        rtmp_event_add_timer(&ls->idle_ev, lacf->drop_idle_publisher);
    }

    if (!handover) {
        rtmp_live_tell_players(ls, RTMP_USER_STREAM_BEGIN, rtmp_cmd_status_id::play_publish_notify);
    }

    rtmp_control_buf_t cb;
    if (rtmp_session_send_control(s, rtmp_control_user(&cb, RTMP_USER_STREAM_BEGIN, st->msid)) !=
        RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_start, st->name);
}

static void rtmp_live_gop_clear(rtmp_live_stream_t *ls)
{
    for (uint32_t i = 0; i < ls->ngop; i++) {
        rtmp_frame_unref(ls->gop[i]);
    }
    ls->ngop = 0;
    ls->gop_bytes = 0;
    ls->gop_keyed = false;
}

// Before any key frame (audio alone, or video yet to start) a late joiner starts on any
// audio frame: what it is sent at once is this much of it, near live, not everything
// since the publish began.
static constexpr int32_t RTMP_LIVE_UNKEYED_MS = 1000;

static void rtmp_live_gop_trim_unkeyed(rtmp_live_stream_t *ls, uint32_t now)
{
    uint32_t old = 0;
    while (old < ls->ngop && (int32_t)(now - ls->gop[old]->timestamp) > RTMP_LIVE_UNKEYED_MS) {
        ls->gop_bytes -= ls->gop[old]->len;
        rtmp_frame_unref(ls->gop[old++]);
    }
    if (old) {
        ls->ngop -= old;
        memmove(ls->gop, ls->gop + old, ls->ngop * sizeof(rtmp_frame_t *));
    }
}

// The cache holds everything since the last key frame, and before the first one the last
// second (audio a late joiner can already play).
static void rtmp_live_gop_add(rtmp_live_stream_t *ls, rtmp_frame_t *f)
{
    rtmp_live_app_conf_t *lacf = ls->lacf;
    if (f->flags & RTMP_FRAME_KEY) {
        // keep audio and data of the key frame's moment: encoders send the audio of
        // time t just before the video of time t
        uint32_t keep = 0;
        size_t bytes = 0;
        for (uint32_t i = 0; i < ls->ngop; i++) {
            rtmp_frame_t *g = ls->gop[i];
            if (!(g->flags & RTMP_FRAME_VIDEO) && (int32_t)(g->timestamp - f->timestamp) >= 0) {
                ls->gop[keep++] = g;
                bytes += g->len;
            } else {
                rtmp_frame_unref(g);
            }
        }
        ls->ngop = keep;
        ls->gop_bytes = bytes;
        ls->gop_full = false;
        ls->gop_keyed = true;
    } else if (ls->gop_full) {
        return; // over its bounds: nothing until the next key frame
    } else if (!ls->gop_keyed) {
        rtmp_live_gop_trim_unkeyed(ls, f->timestamp);
    }
    if (ls->ngop + 1 > (uint32_t)lacf->gop_cache_max_frames ||
        ls->gop_bytes + f->len > (size_t)lacf->gop_cache_max_bytes) {
        rtmp_live_gop_clear(ls);
        ls->gop_full = true;
        return;
    }
    if (ls->ngop == ls->gop_cap) {
        ls->gop_cap = ls->gop_cap ? ls->gop_cap * 2 : 256;
        ls->gop = static_cast<rtmp_frame_t **>(
            rtmp_realloc(ls->gop, ls->gop_cap * sizeof(rtmp_frame_t *)));
    }
    ls->gop[ls->ngop++] = rtmp_frame_ref(f);
    ls->gop_bytes += f->len;
}

// Rewrites "@setDataFrame onMetaData {...}" into the "onMetaData {...}" players expect.
static rtmp_frame_t *rtmp_live_metadata(rtmp_live_stream_t *ls, const rtmp_message_t *m,
                                        rtmp_log_t *log)
{
    rtmp_pool_t *pool = rtmp_pool_create(4096, log);
    rtmp_amf_limits_t limits = RTMP_AMF_LIMITS_DEFAULT;
    rtmp_codec_meta_t meta;
    const char *err = nullptr;
    rtmp_frame_t *f = nullptr;

    if (rtmp_codec_parse_metadata(pool, m->h.type, m->payload, &limits, &meta, &err) != RTMP_OK ||
        meta.kind == rtmp_codec_data::pass_through) {
        rtmp_log_error(RTMP_LOG_INFO, log, 0, "metadata of \"%s\" not understood: %s", ls->name,
                       err ? err : "not an object");
    } else {
        size_t size = m->payload.size() + 64;
        auto *data = static_cast<u_char *>(rtmp_palloc(pool, size));
        rtmp_buf_t b = {};
        b.start = b.pos = b.last = data;
        b.end = data + size;
        rtmp_int_t rc = rtmp_codec_write_metadata(&b, &meta, nullptr, 0);
        if (rc == RTMP_OK) {
            rtmp_message_t out = *m;
            out.h.type = RTMP_MSG_AMF_META;
            out.h.mlen = (uint32_t)rtmp_buf_size(&b);
            out.payload = rtmp_buf_span(&b);
            f = rtmp_frame_create(&out, ls->chunk_size, RTMP_FRAME_HEADER);
        } else if (rc == RTMP_DECLINED) {
            // AMF3 with references cannot be rewritten piecewise: pass it on as sent
            f = rtmp_frame_create(m, ls->chunk_size, RTMP_FRAME_HEADER);
        }
    }
    rtmp_pool_destroy(pool);
    return f;
}

rtmp_int_t rtmp_live_media(rtmp_session_t *s, rtmp_stream_t *st, const rtmp_message_t *m)
{
    rtmp_live_ctx_t *ctx = st->live;
    if (ctx == nullptr) {
        return RTMP_OK;
    }
    rtmp_live_stream_t *ls = ctx->ls;
    rtmp_codec_info_t info = rtmp_codec_classify(m);

    rtmp_message_t out = *m;
    out.h.msid = RTMP_FRAME_MSID;
    // onMetaData at 0, as nginx-rtmp sends it: ffmpeg's FLV reader takes one at a later
    // time (an encoder's update mid-stream) for the packets of a data stream of its own.
    // Sequence headers and other data never start or move the timeline: a server may hand
    // a late player (or a pull) the headers at their first time, 0, before a GOP far
    // later, and that gap must not read as a discontinuity here.
    out.h.timestamp =
        info.is_metadata ? 0
        : info.kind == rtmp_codec_kind::data || info.is_sequence_header || info.is_config
            ? rtmp_timeline_place(&ls->timeline, m->h.timestamp)
            : rtmp_timeline_map(&ls->timeline, m->h.timestamp);
    uint8_t flags = 0;
    switch (info.kind) {
    case rtmp_codec_kind::video:
        out.h.csid = RTMP_CSID_VIDEO;
        flags = RTMP_FRAME_VIDEO;
        break;
    case rtmp_codec_kind::audio:
        out.h.csid = RTMP_CSID_AUDIO;
        flags = RTMP_FRAME_AUDIO;
        break;
    default:
        out.h.csid = RTMP_CSID_DATA;
        break;
    }
    if (info.is_key_frame) {
        flags |= RTMP_FRAME_KEY;
    }
    if (info.is_sequence_header || info.is_metadata || info.is_config) {
        flags |= RTMP_FRAME_HEADER;
    }
    if (info.droppable) {
        flags |= RTMP_FRAME_DROPPABLE;
    }

    rtmp_frame_t *f;
    if (info.is_metadata) {
        f = rtmp_live_metadata(ls, &out, &s->c->log);
        if (f == nullptr) {
            return RTMP_OK; // players do without it
        }
    } else {
        f = rtmp_frame_create(&out, ls->chunk_size, flags);
        if (f == nullptr) {
            rtmp_session_close(s, "message too large to chunk");
            return RTMP_ERROR;
        }
    }
    ls->messages++;
    ls->bytes += m->payload.size();
    ls->last_media = rtmp_current_msec;

    // remembered for players who join later
    if (info.is_metadata) {
        if (ls->meta) {
            rtmp_frame_unref(ls->meta);
        }
        ls->meta = rtmp_frame_ref(f);
    } else if (info.is_sequence_header) {
        bool video = info.kind == rtmp_codec_kind::video;
        rtmp_frame_t **slot = video ? &ls->video_header : &ls->audio_header;
        rtmp_frame_t **copy = video ? &ls->video_header_at : &ls->audio_header_at;
        for (rtmp_frame_t **old : {slot, copy}) {
            if (*old) {
                rtmp_frame_unref(*old);
                *old = nullptr;
            }
        }
        *slot = rtmp_frame_ref(f);
    } else if (ls->lacf->gop_cache && info.kind != rtmp_codec_kind::other) {
        rtmp_live_gop_add(ls, f);
    }

    rtmp_live_fan_out(ls, f, rtmp_session_read_waited(s));
    rtmp_frame_unref(f);
    if (!ls->started && ((flags & RTMP_FRAME_KEY) ||
                         (info.kind == rtmp_codec_kind::audio && ls->video_header == nullptr &&
                          !(flags & RTMP_FRAME_HEADER)))) {
        ls->started = true; // players can start: the publisher may be held from now on
        rtmp_live_pace(ls);
    }
    return RTMP_OK;
}

// ---- playing -------------------------------------------------------------------------------

static void rtmp_live_player_add(rtmp_live_stream_t *ls, rtmp_live_ctx_t *p)
{
    rtmp_queue_insert_tail(&ls->players, &p->link);
    ls->nplayers++;
    if (p->forward && ls->nforward++ == 0) {
        rtmp_live_pace(ls);
    }
}

rtmp_int_t rtmp_live_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_live_app_conf_t *lacf = rtmp_live_app_conf(s->app);
    rtmp_live_stream_t *ls = lacf->live ? rtmp_live_find(s->app, st->name, false, 0) : nullptr;
    char key[RTMP_MAX_NAME * 2 + 32];
    int owner = rtmp_registry_owner(rtmp_live_key(s->app, st->name, key, sizeof(key)));
    bool remote = owner >= 0 && owner != rtmp_worker_slot;
    bool published = (ls && ls->publisher) || remote;

    if (!lacf->live || (!published && !lacf->idle_streams)) {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s/%s\": no such stream",
                       s->app->name.data, st->name);
        return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_stream_not_found,
                                   st->name);
    }
    if (ls == nullptr) {
        ls = rtmp_live_find(s->app, st->name, true, (uint32_t)s->scf->chunk_size);
    }
    rtmp_live_ctx_t *p = rtmp_live_ctx(s, st, ls);
    p->forward = s->c->sockaddr.ss_family == AF_UNIX; // another worker's pull
    rtmp_live_player_add(ls, p);
    st->state = rtmp_stream_state::playing;
    char args[RTMP_MAX_ARGS + 1];
    rtmp_live_redact_args(st->args, args, sizeof(args));
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s/%s\"%s%s%s", s->app->name.data,
                   st->name, args[0] ? " args " : "", args,
                   published ? "" : " (waiting for a publisher)");

    rtmp_control_buf_t cb;
    if (rtmp_session_send_control(s, rtmp_control_user(&cb, RTMP_USER_STREAM_BEGIN, st->msid)) !=
            RTMP_OK ||
        rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_reset, st->name) != RTMP_OK ||
        rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_start, st->name) != RTMP_OK) {
        return RTMP_ERROR;
    }
    if (rtmp_session_sample_access(s, st->msid) != RTMP_OK) {
        return RTMP_ERROR;
    }
    if (ls->publisher) {
        rtmp_live_join(p);
    } else if (remote) {
        rtmp_live_pull(ls, owner, &s->c->log);
    }
    return RTMP_OK;
}

void rtmp_live_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_takeover_cancel(st);
    rtmp_live_ctx_t *ctx = st->live;
    if (ctx == nullptr) {
        return;
    }
    rtmp_live_stream_t *ls = ctx->ls;
    if (ctx->publishing) {
        rtmp_live_unpublish(ls);
    } else {
        rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0,
                       "%s ended \"%s/%s\": %.1fs, %llu bytes sent, %llu frames skipped",
                       ctx->push ? "push" : "play", s->app->name.data, ls->name,
                       (double)(rtmp_current_msec - ctx->started) / 1000.0,
                       (unsigned long long)s->c->sent, (unsigned long long)ctx->dropped);
        rtmp_queue_remove(&ctx->link);
        ls->nplayers--;
        if (ctx->forward && --ls->nforward == 0) {
            rtmp_live_pace(ls);
        }
        st->live = nullptr;
        rtmp_free(ctx);
        if (ls->nplayers == 0 && ls->publisher && ls->publisher->relay) {
            // nobody here watches any more: one copy per worker means none for none
            rtmp_session_close(ls->publisher->s, "pull no longer needed");
        }
    }
    rtmp_live_release(ls);
}

rtmp_int_t rtmp_live_relay_attach(rtmp_session_t *s, rtmp_stream_t *st, bool origin)
{
    char key[RTMP_MAX_NAME * 2 + 32];
    std::string_view k = rtmp_live_key(s->app, st->name, key, sizeof(key));
    int owner = rtmp_registry_owner(k);
    if (origin && owner >= 0 && owner != rtmp_worker_slot) {
        return RTMP_DECLINED; // another worker got it meanwhile: pull from there instead
    }
    rtmp_live_stream_t *ls = rtmp_live_find(s->app, st->name, true, (uint32_t)s->scf->chunk_size);
    if (ls->publisher) {
        return RTMP_DECLINED;
    }
    rtmp_live_ctx_t *ctx = rtmp_live_ctx(s, st, ls);
    ctx->publishing = true;
    // a pull from an origin publishes here like an encoder would, for the other workers too
    ctx->relay = !origin;
    if (origin) {
        (void)rtmp_registry_set(k, rtmp_worker_slot);
        rtmp_worker_announce(true, k);
    }
    ls->publisher = ctx;
    ls->started = false;
    rtmp_live_pace(ls);
    ls->pull_started = 0;
    ls->last_media = rtmp_current_msec;
    ls->messages = ls->bytes = 0;
    ls->gop_full = false;
    rtmp_timeline_restart(&ls->timeline);
    st->state = rtmp_stream_state::publishing;
    // players that heard UnpublishNotify hear that it is back, as from a publisher here
    rtmp_live_tell_players(ls, RTMP_USER_STREAM_BEGIN,
                           ls->timeline.started
                               ? std::optional(rtmp_cmd_status_id::play_publish_notify)
                               : std::nullopt);
    return RTMP_OK;
}

rtmp_int_t rtmp_live_push_attach(rtmp_session_t *s, rtmp_stream_t *st, std::string_view name)
{
    rtmp_live_stream_t *ls = rtmp_live_find(s->app, name, false, 0);
    if (ls == nullptr || ls->publisher == nullptr) {
        return RTMP_DECLINED;
    }
    // the shared frames are chunked for the stream: the target must read them so
    rtmp_control_buf_t cb;
    if (rtmp_session_send_control(s, rtmp_control_chunk_size(&cb, ls->chunk_size)) != RTMP_OK) {
        return RTMP_ERROR;
    }
    s->writer.chunk_size = ls->chunk_size;
    rtmp_live_ctx_t *p = rtmp_live_ctx(s, st, ls);
    p->push = p->forward = true;
    rtmp_live_player_add(ls, p);
    st->state = rtmp_stream_state::playing;
    rtmp_live_join(p);
    rtmp_event_post(s->c->write);
    return RTMP_OK;
}

// The application and name a registry key ("server/app/name") names; nullptr when it names
// none of this configuration's.
static rtmp_conf_app_t *rtmp_live_key_app(std::string_view k, std::string_view *name)
{
    size_t a = k.find('/');
    size_t b = a == std::string_view::npos ? a : k.find('/', a + 1);
    if (b == std::string_view::npos || rtmp_cycle == nullptr) {
        return nullptr;
    }
    int64_t index = rtmp_atoi(k.substr(0, a));
    if (index < 0 || (size_t)index >= rtmp_cycle->nservers) {
        return nullptr;
    }
    rtmp_conf_srv_t *srv = rtmp_cycle->servers[index];
    std::string_view app_name = k.substr(a + 1, b - a - 1);
    *name = k.substr(b + 1);
    for (size_t i = 0; i < srv->napps; i++) {
        if (srv->apps[i]->name.sv() == app_name) {
            return srv->apps[i];
        }
    }
    return nullptr;
}

void rtmp_live_registry_update(bool up, const char *key, int slot)
{
    std::string_view k(key), name;
    if (!up) {
        if (rtmp_registry_del(k, slot)) {
            rtmp_takeover_wake(k);
        }
        return;
    }
    bool set = rtmp_registry_set(k, slot) == RTMP_OK;
    rtmp_conf_app_t *app = rtmp_live_key_app(k, &name);
    if (app == nullptr) {
        return;
    }
    // players waiting here for this stream now pull it
    rtmp_live_stream_t *ls = set ? rtmp_live_find(app, name, false, 0) : nullptr;
    if (ls && ls->nplayers > 0) {
        rtmp_live_pull(ls, slot, rtmp_cycle->log);
    }
    rtmp_pull_registered(app, name);
}

void rtmp_live_registry_lost(const char *key, int slot)
{
    std::string_view k(key), name;
    if (!rtmp_registry_del(k, slot)) {
        return;
    }
    rtmp_takeover_wake(k);
    rtmp_conf_app_t *app = rtmp_live_key_app(k, &name);
    rtmp_live_stream_t *ls = app ? rtmp_live_find(app, name, false, 0) : nullptr;
    if (ls == nullptr || ls->nplayers == 0) {
        return;
    }
    // a copy from the dead worker ends any moment, and is replaced then (rtmp_live_refeed)
    if (ls->publisher == nullptr) {
        rtmp_pull_adopt(app, name);
    }
}

void rtmp_live_let_go(const char *key, int slot)
{
    std::string_view name;
    rtmp_conf_app_t *app = rtmp_live_key_app(key, &name);
    rtmp_live_stream_t *ls = app ? rtmp_live_find(app, name, false, 0) : nullptr;
    if (ls == nullptr || ls->publisher == nullptr || ls->publisher->relay) {
        return; // gone meanwhile: its stream_down tells the one waiting
    }
    rtmp_session_t *old = ls->publisher->s;
    rtmp_log_error(RTMP_LOG_INFO, &old->c->log, 0,
                   "publish \"%s/%s\" taken over by a publisher in worker %d", app->name.data,
                   ls->name, slot);
    rtmp_session_close(old, "publisher taken over by a new connection");
}

int rtmp_live_owner(rtmp_conf_app_t *app, std::string_view name)
{
    char key[RTMP_MAX_NAME * 2 + 32];
    std::string_view k = rtmp_live_key(app, name, key, sizeof(key));
    return k.empty() ? -1 : rtmp_registry_owner(k);
}

bool rtmp_live_claim(rtmp_conf_app_t *app, std::string_view name)
{
    char key[RTMP_MAX_NAME * 2 + 32];
    std::string_view k = rtmp_live_key(app, name, key, sizeof(key));
    return !k.empty() && rtmp_worker_claim(k);
}

void rtmp_live_unclaim(rtmp_conf_app_t *app, std::string_view name)
{
    rtmp_live_stream_t *ls = rtmp_live_find(app, name, false, 0);
    char key[RTMP_MAX_NAME * 2 + 32];
    std::string_view k = rtmp_live_key(app, name, key, sizeof(key));
    if ((ls == nullptr || ls->publisher == nullptr) && !k.empty() &&
        rtmp_registry_del(k, rtmp_worker_slot)) {
        rtmp_worker_announce(false, k);
    }
}

void rtmp_live_each_viewer(rtmp_conf_app_t *app, std::string_view name,
                           void (*fn)(rtmp_session_t *s, rtmp_stream_t *st, void *data), void *data)
{
    rtmp_live_stream_t *ls = rtmp_live_find(app, name, false, 0);
    if (ls == nullptr) {
        return;
    }
    for (rtmp_queue_t *q = ls->players.next; q != &ls->players;) {
        rtmp_live_ctx_t *p = rtmp_queue_data(q, rtmp_live_ctx_t, link);
        q = q->next;
        if (!p->forward) {
            fn(p->s, p->st, data);
        }
    }
}

bool rtmp_live_has_publisher(rtmp_conf_app_t *app, std::string_view name)
{
    rtmp_live_stream_t *ls = rtmp_live_find(app, name, false, 0);
    int owner = rtmp_live_owner(app, name);
    return (ls && ls->publisher) || (owner >= 0 && owner != rtmp_worker_slot);
}
