// rtmp_bench: shared types of the load client (FLV source, sessions, stats, report).
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_log.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_chunk.h"
#include "rtmp/rtmp_handshake.h"

#include <cstdio>
#include <netinet/in.h>
#include <sys/socket.h>

// ---- time: one clock for the whole process, so publisher and player stamps compare -------

uint64_t rtmp_bench_now_us();

// ---- FLV source ---------------------------------------------------------------------------

typedef struct rtmp_bench_tag_s rtmp_bench_tag_t;
typedef struct rtmp_bench_flv_s rtmp_bench_flv_t;

struct rtmp_bench_tag_s {
    uint32_t ts; // milliseconds from the file's first tag
    uint32_t size;
    const u_char *data;
    uint8_t type;        // 8 audio, 9 video, 18 script
    unsigned header : 1; // codec sequence header (AVC/HEVC/AAC config): sent on the first loop only
    unsigned key : 1;    // video key frame
};

struct rtmp_bench_flv_s {
    u_char *file; // the whole file, tags point into it
    size_t file_size;
    rtmp_bench_tag_t *tags;
    uint32_t ntags;
    uint32_t loop_ms;     // one pass of the file, including the last frame's duration
    uint64_t media_bytes; // audio+video payload per pass, for the source bit rate
};

// Loads and indexes an FLV file; RTMP_ERROR with a message on stderr.
[[nodiscard]] rtmp_int_t rtmp_bench_flv_load(rtmp_bench_flv_t *flv, const char *path);

// True for a video payload that is a codec configuration, and for a key frame (legacy
// FLV VIDEODATA and Enhanced RTMP ExVideoTagHeader alike).
bool rtmp_bench_video_is_header(std::span<const u_char> p);
bool rtmp_bench_video_is_key(std::span<const u_char> p);
bool rtmp_bench_audio_is_header(std::span<const u_char> p);

// ---- stats ----------------------------------------------------------------------------------

// Log-linear histogram of microseconds: 64 sub-buckets per power of two (under 1.6% error),
// so millions of latency samples cost a fixed 16 KB and percentiles stay exact enough.
constexpr uint32_t RTMP_BENCH_HIST_SUB = 128;
constexpr uint32_t RTMP_BENCH_HIST_BUCKETS = 32 * RTMP_BENCH_HIST_SUB;

typedef struct rtmp_bench_hist_s rtmp_bench_hist_t;
struct rtmp_bench_hist_s {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint32_t bins[RTMP_BENCH_HIST_BUCKETS];
};

void rtmp_bench_hist_add(rtmp_bench_hist_t *h, uint64_t us);
uint64_t rtmp_bench_hist_pct(const rtmp_bench_hist_t *h, double pct); // microseconds

// Errors counted by reason; reasons are copied once, the table is bounded.
void rtmp_bench_error(const char *what, const char *reason);
void rtmp_bench_errors_print(FILE *f, bool json);
uint64_t rtmp_bench_errors_total();

// ---- publisher send log: timestamp -> send time, for latency and completeness ---------------

// Recent sends per stream: ~55 s of 30 fps video + 43 Hz audio, far beyond any latency worth
// measuring, at 96 KB a stream.
constexpr uint32_t RTMP_BENCH_RING = 4096;

typedef struct rtmp_bench_sent_s rtmp_bench_sent_t;
struct rtmp_bench_sent_s {
    uint32_t ts;
    uint8_t type;
    uint64_t seq; // 1-based count of media messages sent on this stream
    uint64_t send_us;
};

typedef struct rtmp_bench_stream_s rtmp_bench_stream_t;
struct rtmp_bench_stream_s {
    char name[32];
    struct rtmp_bench_session_s *publisher;
    rtmp_bench_sent_t *ring;
    uint64_t seq; // last media seq sent
    uint64_t bytes;
    uint32_t next_tag; // index into the FLV tags
    uint32_t loop;     // passes over the file so far
    uint64_t start_us; // when timestamp 0 was due
    bool publishing;
    bool stopped; // duration over: no more tags
};

// The record of (ts, type) in the stream's recent sends, or nullptr.
const rtmp_bench_sent_t *rtmp_bench_sent_find(const rtmp_bench_stream_t *st, uint32_t ts,
                                              uint8_t type);

// ---- sessions -------------------------------------------------------------------------------

enum class rtmp_bench_role : uint8_t {
    publisher,
    player,
    idle,
};

enum class rtmp_bench_state : uint8_t {
    free,       // slot unused
    connecting, // non-blocking connect in progress
    handshake,
    connect, // connect sent, waiting for _result
    create,  // createStream sent
    start,   // publish/play sent, waiting for onStatus
    active,  // publishing, playing, or (idle) connected
    done,    // finished well (setup mode: got its first key frame)
    failed,
};

typedef struct rtmp_bench_session_s rtmp_bench_session_t;
struct rtmp_bench_session_s {
    int fd;
    uint32_t index;
    uint32_t gen; // bumped when the slot is reused, to skip stale epoll events
    rtmp_bench_role role;
    rtmp_bench_state state;
    bool want_out; // EPOLLOUT registered
    bool stream_eof;
    rtmp_bench_stream_t *stream;

    rtmp_pool_t *pool;
    rtmp_handshake_t *hs; // heap, only during the handshake
    rtmp_chunk_reader_t *reader;
    rtmp_chunk_writer_t writer;
    rtmp_buf_t out; // heap memory, grown for publishers
    uint64_t hs_bytes;
    uint64_t bytes_out; // every byte written to the socket (a publisher's: what it ingested)
    uint32_t ack_window;
    uint64_t acked;
    uint32_t msid;
    double tid;

    uint64_t t_start; // connect() called
    uint64_t t_ready; // connect _result
    uint64_t t_play;  // play command sent
    uint64_t t_first_media;
    uint64_t t_first_key;
    uint64_t deadline; // the current stage must finish by then (0: none)

    // player accounting, from the first key frame on
    uint64_t bytes_in;   // every byte read from the socket
    uint64_t media_msgs; // audio/video (not sequence headers) received since the first key frame
    uint64_t key_seq;    // publisher seq of that key frame (0: not matched)
    uint64_t last_seq;   // publisher seq of the last matched message
    uint64_t latency_misses;
    uint64_t meta_msgs;
    uint64_t t_closed; // when it closed or failed (0: still open)

    // slow reader (--slow-fraction): reads at most `tokens` bytes, refilled at the slow rate
    bool slow;
    bool throttled; // EPOLLIN off until the bucket refills
    double tokens;
    uint64_t refill_us; // last refill (0: not metered yet)
};

// Frames a player lacks before the last one it received: dropped by the server, not
// merely still on their way.
uint64_t rtmp_bench_missing(const rtmp_bench_session_t *s);

// ---- report -----------------------------------------------------------------------------------

// Per-player outcome of one group of players (healthy, or slow readers).
typedef struct rtmp_bench_group_s rtmp_bench_group_t;
struct rtmp_bench_group_s {
    uint32_t players;
    uint32_t ok;       // connected at the end
    uint32_t failed;   // closed (by the server, or an error)
    uint32_t complete; // connected and >= 98%
    uint32_t skipped;  // connected, but frames missing before the last one received
    uint32_t intact;   // connected, nothing missing before the last one received
    double complete_min;
    double complete_avg;
    uint64_t missing;    // frames missing before each player's last received one, summed
    uint64_t bytes;      // received in the measured window
    double closed_p50_s; // failed ones: play -> close, median seconds
};

typedef struct rtmp_bench_report_s rtmp_bench_report_t;
struct rtmp_bench_report_s {
    const char *mode;
    const char *host;
    int port;
    const char *app;
    const char *flv;
    uint32_t streams;
    uint32_t players;
    uint32_t burst;
    double duration; // configured
    double elapsed;  // measured window, seconds
    double ramp;     // seconds to get every session in place
    uint64_t ok;
    uint64_t failed;
    uint64_t bytes;     // player bytes in the window
    uint64_t published; // publishers' bytes over the whole run, as the server's CPU is counted
    double mbps;
    double source_mbps;   // one stream's media rate
    double setup_rate;    // setup mode: sessions/s
    uint32_t complete_ok; // players >= 98%
    double complete_min;
    double complete_avg;
    uint64_t lat_misses;
    uint64_t latency_from; // latency counts messages published from here on (steady state)
    double cpu_user, cpu_sys;
    bool pass;
    rtmp_bench_hist_t *latency;     // publish -> play, per message
    rtmp_bench_hist_t *startup;     // play sent -> first key frame
    rtmp_bench_hist_t *first_media; // play sent -> first media message
    rtmp_bench_session_t *sessions; // per-player completeness in JSON (fanout)
    uint32_t nsessions;
    // slow readers: `healthy` and `slow` split the players; latency is the healthy ones'
    double slow_fraction;
    double slow_rate;
    uint32_t slow_rcvbuf;
    // fanout with --probe-cpu: that CPU's ticks over the measured window alone, busy as
    // wall time less idle
    int probe_cpu; // -1: not probed
    uint64_t probe_busy, probe_user;
    rtmp_bench_group_t healthy;
    rtmp_bench_group_t slow;
    rtmp_bench_hist_t *slow_latency;
};

void rtmp_bench_report_print(const rtmp_bench_report_t *r);
[[nodiscard]] rtmp_int_t rtmp_bench_report_json(const rtmp_bench_report_t *r, const char *path);
double rtmp_bench_completeness(const rtmp_bench_session_t *s);

// ---- the process-wide run context -----------------------------------------------------------

typedef struct rtmp_bench_ctx_s rtmp_bench_ctx_t;
struct rtmp_bench_ctx_s {
    int ep; // epoll
    struct sockaddr_storage addr;
    socklen_t addrlen;
    const char *host;
    int port;
    const char *app;
    char tc_url[300];
    uint32_t chunk_size;
    bool verbose;
    bool setup;           // players close once complete: after their first media message,
    bool setup_until_key; // or after their first key frame
    bool stopping;        // run over: closes are not errors
    rtmp_log_t *log;
    rtmp_bench_flv_t flv;
    rtmp_bench_hist_t latency;
    rtmp_bench_hist_t startup;
    rtmp_bench_hist_t first_media;
    uint64_t lat_misses;
    uint64_t latency_from; // latency counts messages published from here on (steady state)
    uint32_t inflight;     // sessions connecting or handshaking, paced against the backlog
    u_char *rbuf;          // one receive buffer for every session: the reader keeps partial state
    size_t rbuf_size;
    double slow_bps;      // a slow reader's byte budget per second
    uint32_t slow_rcvbuf; // SO_RCVBUF of slow readers (0: the kernel's)
    bool slow_drain;      // run over: slow readers read freely so the tail can be counted
    rtmp_bench_hist_t slow_latency;
};

extern rtmp_bench_ctx_t rtmp_bench_ctx;

// Starts a non-blocking connect; RTMP_ERROR (counted) when the socket cannot be made.
[[nodiscard]] rtmp_int_t rtmp_bench_session_open(rtmp_bench_session_t *s, rtmp_bench_role role,
                                                 rtmp_bench_stream_t *st);
void rtmp_bench_session_event(rtmp_bench_session_t *s, uint32_t events);
// Closes; a non-null reason marks the session failed and counts the error.
void rtmp_bench_session_close(rtmp_bench_session_t *s, const char *reason);
// Sends every tag that is due; returns microseconds until the next one (or a default).
uint64_t rtmp_bench_publish_tick(rtmp_bench_stream_t *st, uint64_t now);
const char *rtmp_bench_state_name(rtmp_bench_state state);
// Refills a slow reader's budget and resumes its reading; during the drain, unmeters it.
void rtmp_bench_slow_tick(rtmp_bench_session_t *s, uint64_t now);
