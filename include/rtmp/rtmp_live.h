// The live module: one publisher per stream name fanned out to its players.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

struct rtmp_live_app_conf_t {
    rtmp_int_t live;
    rtmp_int_t gop_cache;
    rtmp_int_t gop_cache_max_bytes;
    rtmp_int_t gop_cache_max_frames;
    rtmp_int_t wait_key;
    rtmp_int_t wait_video;
    rtmp_int_t idle_streams;
    rtmp_int_t publisher_takeover;
    rtmp_msec_t drop_idle_publisher;
    rtmp_int_t player_queue;
    rtmp_msec_t player_max_lag;
    rtmp_msec_t flush_interval;
};

extern rtmp_module_t rtmp_live_module;

inline rtmp_live_app_conf_t *rtmp_live_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_live_app_conf_t *>(app->app_conf[rtmp_live_module.index]);
}

// Starts publishing st->name: answers the client (Publish.Start or Publish.BadName); a
// pull from an origin is attached as rtmp_live_relay_attach() does, without replies.
[[nodiscard]] rtmp_int_t rtmp_live_publish(rtmp_session_t *s, rtmp_stream_t *st);

// Starts playing st->name: answers the client and queues what a new player needs.
[[nodiscard]] rtmp_int_t rtmp_live_play(rtmp_session_t *s, rtmp_stream_t *st);

// A media or data message from a publisher.
[[nodiscard]] rtmp_int_t rtmp_live_media(rtmp_session_t *s, rtmp_stream_t *st,
                                         const rtmp_message_t *m);

// Ends publishing or playing on st (deleteStream, closeStream, the session's end).
void rtmp_live_close_stream(rtmp_session_t *s, rtmp_stream_t *st);

// Attaches a relay session's stream as the local publisher of st->name, without replies;
// RTMP_DECLINED when the stream has a publisher already. A pull from a remote origin is
// announced to the other workers, which then pull from this one; a pull from another
// worker is not, and ends when its last player here leaves.
[[nodiscard]] rtmp_int_t rtmp_live_relay_attach(rtmp_session_t *s, rtmp_stream_t *st, bool origin);

// Adds a push session's stream as a player of the local stream `name` (of s->app), which
// must be publishing (else RTMP_DECLINED): Set Chunk Size, then what a joining player gets;
// when it lags it loses frames up to the next key frame instead of its connection.
[[nodiscard]] rtmp_int_t rtmp_live_push_attach(rtmp_session_t *s, rtmp_stream_t *st,
                                               std::string_view name);

// The master says worker `slot` started (up) or stopped publishing "server/app/name", or
// answers a claim with the slot that has it.
void rtmp_live_registry_update(bool up, const char *key, int slot);
// The master says worker `slot` died publishing (or pulling) "server/app/name": as its
// stream_down, and players left here without it get a pull of their own
// (rtmp_pull_adopt), if the application pulls from origins.
void rtmp_live_registry_lost(const char *key, int slot);

// The master asks this worker to let go of "server/app/name" for a publisher taking it
// over in worker `slot`: its publisher here is disconnected.
void rtmp_live_let_go(const char *key, int slot);

// The worker slot that publishes app/name or has claimed it, per the registry; -1: none.
int rtmp_live_owner(rtmp_conf_app_t *app, std::string_view name);
// Asks the master for app/name before this worker pulls it from an origin, so that only
// one worker does: the answer comes as a registry update (rtmp_pull_registered). False
// when the master could not be asked.
bool rtmp_live_claim(rtmp_conf_app_t *app, std::string_view name);
// Gives up this worker's claim on app/name, unless the stream is published here.
void rtmp_live_unclaim(rtmp_conf_app_t *app, std::string_view name);

// Streams alive in this worker, for tests.
size_t rtmp_live_stream_count();

// Calls fn for each viewer of app/name here: its players, not pushes or other workers' pulls.
void rtmp_live_each_viewer(rtmp_conf_app_t *app, std::string_view name,
                           void (*fn)(rtmp_session_t *s, rtmp_stream_t *st, void *data),
                           void *data);

// Whether app/name has a publisher in this worker or, per the registry, in another one.
bool rtmp_live_has_publisher(rtmp_conf_app_t *app, std::string_view name);
// One stream of this worker as statistics see it (rtmp_stat.cpp).
struct rtmp_live_stat_t {
    rtmp_conf_app_t *app;
    const char *name;
    rtmp_session_t *publisher; // nullptr while nobody publishes
    rtmp_stream_t *publisher_stream;
    bool relay; // the publisher is a pull from another worker
    rtmp_msec_t published;
    uint64_t messages; // since the publish began
    uint64_t bytes;
};

struct rtmp_live_stat_player_t {
    rtmp_session_t *s;
    rtmp_msec_t started;
    uint64_t dropped; // frames skipped because it was slow
    bool push;        // a push to another server
};

// Calls stream() for every stream of this worker, then player() for each of its players.
void rtmp_live_stat(void (*stream)(const rtmp_live_stat_t *ls, void *data),
                    void (*player)(const rtmp_live_stat_player_t *p, void *data), void *data);
