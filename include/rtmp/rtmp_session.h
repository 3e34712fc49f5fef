// An RTMP session: one client connection driven through handshake, connect and its streams.
#pragma once

#include "core/rtmp_buf.h"
#include "core/rtmp_core.h"
#include "event/rtmp_connection.h"
#include "rtmp/rtmp_chunk.h"
#include "rtmp/rtmp_cmd.h"
#include "rtmp/rtmp_frame.h"
#include "rtmp/rtmp_handshake.h"
#include "rtmp/rtmp_server_module.h"

constexpr size_t RTMP_MAX_NAME = 256;        // app and stream names
constexpr size_t RTMP_MAX_ARGS = 1024;       // query strings after a stream name
constexpr uint32_t RTMP_SESSION_STREAMS = 8; // NetStreams per connection

enum class rtmp_session_state : uint8_t {
    handshake, // exchanging C0-C2 / S0-S2
    connect,   // handshake done, waiting for "connect"
    connected, // NetConnection up: streams may be created, published, played
    closing,   // finalizing at the next safe point
};

enum class rtmp_stream_state : uint8_t {
    free,
    created,    // createStream answered
    publishing, // publish answered with NetStream.Publish.Start
    playing,    // play answered with NetStream.Play.Start
};

typedef struct rtmp_live_ctx_s rtmp_live_ctx_t;
typedef struct rtmp_relay_s rtmp_relay_t;

typedef struct rtmp_stream_s rtmp_stream_t;
struct rtmp_stream_s {
    uint32_t msid; // message stream id, 1..RTMP_SESSION_STREAMS
    rtmp_stream_state state;
    bool paused;
    bool receive_audio;
    bool receive_video;
    uint64_t media_messages;     // audio/video/data messages received while publishing
    bool limit_counted;          // counted in max_streams from publish until it ends
    rtmp_live_ctx_t *live;       // the live module's state while publishing or playing
    void *ctx[RTMP_MAX_MODULES]; // other modules' state, by module index; each clears its own
    char name[RTMP_MAX_NAME + 1];
    char args[RTMP_MAX_ARGS + 1];
    char type[8]; // publish: "live", "record" or "append", as the client asked
    double start; // play: where to start in a recording (ms); -2 or -1 for live
};

// A queued shared frame and the player's message stream id it goes out on.
struct rtmp_session_out_t {
    rtmp_frame_t *frame;
    uint32_t msid;
    rtmp_msec_t queued; // when it was queued here: cached frames are older than that
};

// Input held in the socket for an interval, then read at once (rtmp_session_pace_reads).
typedef struct rtmp_session_pace_s rtmp_session_pace_t;
struct rtmp_session_pace_s {
    rtmp_event_t ev;      // the interval's end: what arrived meanwhile is read then
    rtmp_event_t arm;     // posted behind a read's sends: the next interval starts then
    rtmp_msec_t interval; // 0: input is read as it arrives
    bool due;             // ev fired: the next read ends the interval
    bool at_once;         // the next read goes ahead without an interval
    bool held;            // epoll leaves new input unreported meanwhile: no wakeups for it
    bool waited;          // the read in progress ends an interval
};

typedef struct rtmp_session_s rtmp_session_t;
struct alignas(RTMP_CACHE_LINE) rtmp_session_s {
    // What sending touches, in the first 64 bytes: a fan-out runs it for every player of
    // a stream at each frame, and a line fewer per player is a cache miss fewer.
    rtmp_connection_t *c;
    rtmp_buf_t *out; // chunked control and command output not yet sent
    // Shared media frames waiting to be sent, oldest first, in a ring that grows on demand.
    rtmp_session_out_t *queue;
    uint32_t qhead;
    uint32_t qcount;
    uint32_t qcap;
    rtmp_session_state state;
    bool close_after_flush; // the last reply is queued: close once it is sent
    size_t qbytes;          // bytes of the queued frames not yet sent
    size_t head_sent;       // bytes of the head frame already sent
    rtmp_handshake_t *hs;   // heap, only while handshaking

    rtmp_conf_srv_t *srv;
    rtmp_server_conf_t *scf;
    rtmp_conf_app_t *app; // after connect
    rtmp_relay_t *relay;  // set when we are the client, pulling from another worker

    rtmp_chunk_reader_t *reader;
    rtmp_chunk_writer_t writer;

    rtmp_session_pace_t *pace; // in the pool, from the first rtmp_session_pace_reads()

    uint32_t peer_ack_window; // we acknowledge every this many bytes (peer's Window Ack Size)
    uint64_t acked;           // bytes_read at our last Acknowledgement
    rtmp_msec_t last_input;   // for the idle timeout and pings
    rtmp_msec_t ping_sent;    // 0: no ping outstanding

    // hostile-peer bounds (rtmp_limits.h, message_timeout, max_commands_per_second)
    uint32_t limit_ticket; // counted in max_connections(_per_ip); 0: not counted
    rtmp_msec_t msg_start; // a message completed, or input began after none was partial
    uint64_t cmd_tokens;   // command budget in thousandths of a command
    rtmp_msec_t cmd_refill;

    double object_encoding;
    rtmp_str_t app_name; // from connect, in the pool
    rtmp_str_t tc_url;
    rtmp_str_t flashver;
    rtmp_str_t page_url;
    rtmp_str_t swf_url;
    double connect_tid; // answered when the connect chain accepts
    void *notify;       // the notify module's state (rtmp_notify.cpp), in the pool

    // allocated on first use and reused, so idle sessions stay small
    rtmp_stream_t *streams[RTMP_SESSION_STREAMS];
};

// Stream events pass through the modules in a chain fixed at startup, as in nginx-rtmp:
// each module's postconfiguration saves the current handler as its "next" and puts its
// own in front, so the last module in rtmp_modules runs first (access, then notify, ...,
// then live, which answers the client). A handler either refuses (answering the client
// itself), calls its next, or returns RTMP_AGAIN and calls its next later.
typedef rtmp_int_t (*rtmp_publish_pt)(rtmp_session_t *s, rtmp_stream_t *st);
typedef rtmp_int_t (*rtmp_play_pt)(rtmp_session_t *s, rtmp_stream_t *st);
typedef void (*rtmp_close_stream_pt)(rtmp_session_t *s, rtmp_stream_t *st);
// Each audio, video or data message of a stream that is publishing; recorders and
// segmenters look at it on its way to the live module, which fans it out.
typedef rtmp_int_t (*rtmp_media_pt)(rtmp_session_t *s, rtmp_stream_t *st, const rtmp_message_t *m);

extern rtmp_publish_pt rtmp_publish_handler;
extern rtmp_play_pt rtmp_play_handler;
extern rtmp_close_stream_pt rtmp_close_stream_handler; // publishing or playing ends
extern rtmp_media_pt rtmp_media_handler;

// pause/pauseRaw and seek of a stream that is playing (ms: the position the client gives).
// The end of each chain answers for live streams (Pause.Notify/Unpause.Notify; a seek is
// ignored); a module that plays files takes its own streams and passes the others on.
typedef rtmp_int_t (*rtmp_pause_pt)(rtmp_session_t *s, rtmp_stream_t *st, bool pause, double ms);
typedef rtmp_int_t (*rtmp_seek_pt)(rtmp_session_t *s, rtmp_stream_t *st, double ms);
extern rtmp_pause_pt rtmp_pause_handler;
extern rtmp_seek_pt rtmp_seek_handler;

// connect, once its application is found, runs the same kind of chain; its last step sends
// the _result. A module that asks someone first returns RTMP_AGAIN, then calls its next or
// rtmp_session_connect_refuse() (which sends the _error and closes the session).
typedef rtmp_int_t (*rtmp_connect_pt)(rtmp_session_t *s);
extern rtmp_connect_pt rtmp_connect_handler;
[[nodiscard]] rtmp_int_t rtmp_session_connect_refuse(rtmp_session_t *s, const char *description);

// Takes a freshly accepted connection through the RTMP session's life.
void rtmp_session_init(rtmp_connection_t *c);

// A session we open as the client (relays); it starts by sending C0 and C1.
[[nodiscard]] rtmp_session_t *rtmp_session_init_client(rtmp_connection_t *c, rtmp_conf_srv_t *srv);

// Queues a message for sending, chunked with this session's output state.
[[nodiscard]] rtmp_int_t rtmp_session_send_message(rtmp_session_t *s, const rtmp_message_t *m);

// Queues a protocol control message built by rtmp_control_*().
[[nodiscard]] rtmp_int_t rtmp_session_send_control(rtmp_session_t *s, rtmp_message_t m);

// Queues an onStatus for stream `msid` with the usual level and code, and the usual
// description unless one is given.
[[nodiscard]] rtmp_int_t rtmp_session_status(rtmp_session_t *s, uint32_t msid,
                                             rtmp_cmd_status_id id, const char *details,
                                             const char *description = nullptr);

// Queues |RtmpSampleAccess for stream `msid`, which Flash-era players want after Play.Start.
[[nodiscard]] rtmp_int_t rtmp_session_sample_access(rtmp_session_t *s, uint32_t msid);

// Queues a shared frame for this session's stream `msid` (a reference is taken); with
// flush, schedules sending it after the current batch of events.
void rtmp_session_enqueue(rtmp_session_t *s, rtmp_frame_t *f, uint32_t msid, bool flush);

// Drops the queued frames of stream `msid` that carry any of `flags`, except one already
// being sent; returns how many.
uint32_t rtmp_session_queue_drop(rtmp_session_t *s, uint32_t msid, uint8_t flags);

// How long the oldest queued frame has waited, in milliseconds.
rtmp_msec_t rtmp_session_queue_lag(const rtmp_session_t *s);

// Holds this session's input in its socket from its arrival until `interval` later, then
// reads all of it at once: a publisher then costs one read, and one TCP acknowledgement,
// per interval instead of per message. A message left half read is read on at once.
// 0 reads input as it arrives again.
void rtmp_session_pace_reads(rtmp_session_t *s, rtmp_msec_t interval);

// Whether the input being read waited its interval in the socket.
inline bool rtmp_session_read_waited(const rtmp_session_t *s)
{
    return s->pace && s->pace->waited;
}

// Logs why and closes the session at the next safe point.
void rtmp_session_close(rtmp_session_t *s, const char *reason);

// Counts a stream in max_streams (once); false when the limit is reached.
[[nodiscard]] bool rtmp_session_stream_count(rtmp_stream_t *st);

// Stops counting a stream in max_streams, if it was counted.
void rtmp_session_stream_uncount(rtmp_stream_t *st);

// Runs st's publish, counted in max_streams, through the publish chain; one refused on
// the way stops counting.
rtmp_int_t rtmp_session_publish_chain(rtmp_session_t *s, rtmp_stream_t *st);

// Runs st's publish through the publish chain again, after it waited (RTMP_AGAIN) for
// something outside the chain.
rtmp_int_t rtmp_session_publish_resume(rtmp_session_t *s, rtmp_stream_t *st);

// Handles one complete command message (type 20 or 17).
[[nodiscard]] rtmp_int_t rtmp_session_command(rtmp_session_t *s, const rtmp_message_t *m);
