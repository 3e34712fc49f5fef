// RTMP NetConnection/NetStream commands: payload parsing, typed fields, reply payloads.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_amf.h"

enum class rtmp_cmd_kind : uint8_t {
    unknown = 0,
    connect,
    call,
    close,
    create_stream,
    release_stream,
    fc_publish,
    fc_unpublish,
    fc_subscribe,
    publish,
    play,
    play2,
    delete_stream,
    close_stream,
    pause,
    seek,
    receive_audio,
    receive_video,
    get_stream_length,
    check_bw,
    result, // _result and _error, replies to our own calls (relays)
    error,
    on_status,
};

// A command message (RTMP 1.0 spec 7.1.1): name, transaction id, command
// object, then the optional arguments. All of it lives in the pool given.
typedef struct rtmp_cmd_s rtmp_cmd_t;
struct rtmp_cmd_s {
    rtmp_cmd_kind kind;
    rtmp_str_t name;
    double tid;                     // 0 when absent
    const rtmp_amf_value_t *object; // the command object; null/undefined when none
    const rtmp_amf_value_t *args;   // values after the command object
    uint32_t nargs;
};

// Parses a type 20 (AMF0) or type 17 (AMF3) payload; RTMP_ERROR with *err.
[[nodiscard]] rtmp_int_t rtmp_cmd_parse(rtmp_pool_t *pool, uint8_t type,
                                        std::span<const u_char> payload,
                                        const rtmp_amf_limits_t *limits, rtmp_cmd_t *cmd,
                                        const char **err);

rtmp_cmd_kind rtmp_cmd_kind_of(std::string_view name);

// Splits "name?a=b" at the first '?': name keeps what is before, args what is after.
void rtmp_cmd_split_args(rtmp_str_t *name, rtmp_str_t *args);

// Fields of the connect command object; absent ones stay empty / zero, except
// object_encoding (0 = AMF0 when absent).
typedef struct rtmp_cmd_connect_s rtmp_cmd_connect_t;
struct rtmp_cmd_connect_s {
    double tid;
    rtmp_str_t app; // without a "?query", which goes to app_args
    rtmp_str_t app_args;
    rtmp_str_t flashver;
    rtmp_str_t swf_url;
    rtmp_str_t tc_url;
    rtmp_str_t page_url;
    rtmp_str_t type; // "nonprivate" from Flash/ffmpeg
    double object_encoding;
    double capabilities;
    double audio_codecs;
    double video_codecs;
    double video_function;
    bool fpad;
    const rtmp_amf_value_t *fourcc_list; // Enhanced RTMP: array of FourCC strings
    const rtmp_amf_value_t *args;        // optional extra argument (user data)
};

// Commands naming a stream: releaseStream, FCPublish, FCUnpublish,
// FCSubscribe, getStreamLength, publish, play, play2.
typedef struct rtmp_cmd_stream_s rtmp_cmd_stream_t;
struct rtmp_cmd_stream_s {
    double tid;
    rtmp_str_t name; // without a "?query", which goes to args
    rtmp_str_t args;
    rtmp_str_t type; // publish: "live" (default), "record", "append"; play2: transition
    double start;    // play: -2 live or recorded, -1 live only, >= 0 seek (ms)
    double duration; // play: -1 until the end
    bool reset;      // play: flush the playlist (default true)
};

typedef struct rtmp_cmd_control_s rtmp_cmd_control_t;
struct rtmp_cmd_control_s {
    double tid;
    double stream_id; // deleteStream
    bool flag;        // pause: true pauses; receiveAudio/receiveVideo: true sends
    double ms;        // pause/seek: position
};

[[nodiscard]] rtmp_int_t rtmp_cmd_get_connect(const rtmp_cmd_t *cmd, rtmp_cmd_connect_t *v,
                                              const char **err);
[[nodiscard]] rtmp_int_t rtmp_cmd_get_stream(const rtmp_cmd_t *cmd, rtmp_cmd_stream_t *v,
                                             const char **err);
[[nodiscard]] rtmp_int_t rtmp_cmd_get_control(const rtmp_cmd_t *cmd, rtmp_cmd_control_t *v,
                                              const char **err);

// ---- replies: complete AMF0 payloads appended at b->last; RTMP_ERROR when b is
// too small (512 bytes fit every reply with names under 128 bytes).

// "_result", tid, {fmsVer, capabilities}, {level, code, description, objectEncoding}
[[nodiscard]] rtmp_int_t rtmp_cmd_connect_result(rtmp_buf_t *b, double tid, double object_encoding);

// "_error", tid, null, {level "error", code NetConnection.Connect.Rejected,
// description}. OBS and librtmp look inside the description for Adobe/Limelight
// auth challenges ("authmod=adobe", "code=403 need auth"), so callers must not
// put those words in unless they mean them.
[[nodiscard]] rtmp_int_t rtmp_cmd_connect_error(rtmp_buf_t *b, double tid,
                                                std::string_view description);

// "_result", tid, null[, value] (value may be nullptr).
[[nodiscard]] rtmp_int_t rtmp_cmd_result(rtmp_buf_t *b, double tid, const rtmp_amf_value_t *v);

// "_result", tid, null, stream id.
[[nodiscard]] rtmp_int_t rtmp_cmd_create_stream_result(rtmp_buf_t *b, double tid,
                                                       uint32_t stream_id);

// "_result", tid, null, length (seconds; 0 for live).
[[nodiscard]] rtmp_int_t rtmp_cmd_stream_length_result(rtmp_buf_t *b, double tid, double length);

// "_error", tid, null, {level "error", code NetConnection.Call.Failed,
// description "Method not found (<method>)."}
[[nodiscard]] rtmp_int_t rtmp_cmd_call_error(rtmp_buf_t *b, double tid, std::string_view method);

enum class rtmp_cmd_status_id : uint8_t {
    publish_start = 0,
    publish_bad_name,
    unpublish_success,
    play_reset,
    play_start,
    play_stop,
    play_stream_not_found,
    play_unpublish_notify,
    play_publish_notify,
    pause_notify,
    unpause_notify,
};

typedef struct rtmp_cmd_status_s rtmp_cmd_status_t;
struct rtmp_cmd_status_s {
    std::string_view level; // "status", "error" or "warning"
    std::string_view code;
    std::string_view description;
    std::string_view details;  // the stream name; omitted when empty
    std::string_view clientid; // omitted when empty
};

// The usual level/code/description for a status; set details/clientid after.
rtmp_cmd_status_t rtmp_cmd_status(rtmp_cmd_status_id id);

// "onStatus", 0, null, {level, code, description[, details][, clientid]}
[[nodiscard]] rtmp_int_t rtmp_cmd_on_status(rtmp_buf_t *b, const rtmp_cmd_status_t *st);

// "onFCPublish"/"onFCUnpublish", 0, null, {code, description: name}
[[nodiscard]] rtmp_int_t rtmp_cmd_on_fc_publish(rtmp_buf_t *b, std::string_view name);
[[nodiscard]] rtmp_int_t rtmp_cmd_on_fc_unpublish(rtmp_buf_t *b, std::string_view name);

// Data message (type 18): "|RtmpSampleAccess", audio, video.
[[nodiscard]] rtmp_int_t rtmp_cmd_sample_access(rtmp_buf_t *b, bool audio, bool video);

// "onBWDone", 0, null
[[nodiscard]] rtmp_int_t rtmp_cmd_on_bw_done(rtmp_buf_t *b);
