// Statistics of the whole server: each worker's counters and a snapshot of its streams in
// its own slot of memory the master shares with every worker, for /stat and /metrics.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_limits.h"

#include <atomic>

// Bounds of one worker's snapshot; beyond them it is marked truncated.
constexpr size_t RTMP_STAT_STREAMS = 64;
constexpr size_t RTMP_STAT_PLAYERS = 256;
constexpr size_t RTMP_STAT_PUSHES = 64;
constexpr size_t RTMP_STAT_SLOTS = RTMP_LIMITS_SLOTS;
// Notify callback latency histogram: upper bounds in milliseconds, then +Inf.
constexpr uint32_t rtmp_stat_notify_bounds[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
constexpr size_t RTMP_STAT_NOTIFY_BUCKETS = rtmp_nelems(rtmp_stat_notify_bounds) + 1;

enum class rtmp_stat_id : uint8_t {
    accepted_rtmp,
    accepted_http,
    handshake_failures,
    dropped_frames,
    http_2xx,
    http_3xx,
    http_4xx,
    http_5xx,
    count_
};
constexpr size_t RTMP_STAT_COUNTERS = (size_t)rtmp_stat_id::count_;

struct rtmp_stat_stream_t {
    char app[64];
    char name[128];
    char addr[80]; // the publisher's, "" without one
    bool publishing;
    bool relay; // pulled from another worker (relay_from)
    int16_t relay_from;
    char vcodec[12];
    char vprofile[20];
    char vlevel[8];
    char acodec[16];
    uint32_t width;
    uint32_t height;
    uint32_t sample_rate;
    uint32_t channels;
    double frame_rate; // video frames per second over the window
    uint64_t publish_ms;
    uint64_t bytes_in;    // media payload since the publish began
    uint64_t bytes_out;   // sent to this worker's players of the stream (their connections)
    uint64_t bitrate_in;  // bit/s over the window
    uint64_t bitrate_out; // bit/s over the window
    uint32_t players;     // in this worker (viewers: not pushes, not pulls of other workers)
    uint32_t pushes;
};

struct rtmp_stat_player_t {
    uint16_t stream; // index in streams
    bool push;       // a push to another server, not a viewer
    char addr[80];
    uint64_t duration_ms;
    uint64_t bytes_out;
    uint64_t dropped;
};

// A push target of a stream published in the worker (rtmp_push_stat_t, copied).
struct rtmp_stat_push_t {
    uint16_t stream; // index in streams
    char target[128];
    char state[12];
    char error[96];
    uint64_t duration_ms; // publishing for; 0 when not publishing
    uint64_t bytes;
    uint32_t reconnects;
};

// One worker's slot. Only that worker writes it, under a sequence lock (odd while it
// writes); readers copy it and retry when the sequence moved.
struct rtmp_stat_slot_t {
    std::atomic<uint32_t> seq;
    int32_t pid;     // 0: free
    int64_t started; // wall clock seconds
    int64_t updated;
    bool exiting;
    bool truncated;
    uint32_t conns_rtmp; // client connections now
    uint32_t conns_http;
    uint64_t bytes_in; // every connection's, closed ones included
    uint64_t bytes_out;
    uint64_t counters[RTMP_STAT_COUNTERS];
    uint64_t notify_buckets[RTMP_STAT_NOTIFY_BUCKETS];
    double notify_sum; // seconds
    uint64_t notify_count;
    uint32_t nstreams;
    uint32_t nplayers;
    uint32_t npushes;
    rtmp_stat_stream_t streams[RTMP_STAT_STREAMS];
    rtmp_stat_player_t players[RTMP_STAT_PLAYERS];
    rtmp_stat_push_t pushes[RTMP_STAT_PUSHES];
};

extern rtmp_module_t rtmp_stat_module;

// Maps the slots; the master, once, before its first fork (like rtmp_limits_init).
[[nodiscard]] rtmp_int_t rtmp_stat_init(rtmp_log_t *log);
// The master forgets a reaped worker's slot.
void rtmp_stat_reset_slot(int slot);
// When the master started (wall clock seconds); 0 without rtmp_stat_init.
int64_t rtmp_stat_started();

// Counting where things happen; cheap, and harmless outside a worker.
void rtmp_stat_count(rtmp_stat_id id, uint64_t n = 1);
void rtmp_stat_notify_latency(double seconds);
void rtmp_stat_http_status(int status);

// Rewrites this worker's slot now (the answering worker does before it reads them all).
void rtmp_stat_refresh();

// Copies slot i into *out under its sequence lock; false when the slot is free or kept
// changing. out must be a whole rtmp_stat_slot_t.
[[nodiscard]] bool rtmp_stat_read_slot(size_t i, rtmp_stat_slot_t *out);
