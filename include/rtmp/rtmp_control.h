// RTMP protocol control (spec 5.4) and user control (spec 6.2) messages; aggregate splitting.
#pragma once

#include "core/rtmp_core.h"
#include "rtmp/rtmp_message.h"

constexpr uint32_t RTMP_CONTROL_CSID = 2; // spec 5.4: csid 2, message stream 0
constexpr size_t RTMP_CONTROL_MAX = 10;   // the largest payload: Set Buffer Length

// Set Peer Bandwidth limit types (spec 5.4.5).
enum rtmp_bandwidth_limit : uint8_t {
    RTMP_LIMIT_HARD = 0,
    RTMP_LIMIT_SOFT = 1,
    RTMP_LIMIT_DYNAMIC = 2,
};

// Payload storage for a built control message; it must outlive the message.
struct rtmp_control_buf_t {
    u_char data[RTMP_CONTROL_MAX];
};

// Builders: fill `b` and return a message on csid 2, message stream 0, timestamp 0 whose
// payload points into `b`; chunk it with rtmp_chunk_write().
rtmp_message_t rtmp_control_chunk_size(rtmp_control_buf_t *b, uint32_t size);
rtmp_message_t rtmp_control_abort(rtmp_control_buf_t *b, uint32_t csid);
rtmp_message_t rtmp_control_ack(rtmp_control_buf_t *b, uint32_t sequence);
rtmp_message_t rtmp_control_ack_size(rtmp_control_buf_t *b, uint32_t window);
rtmp_message_t rtmp_control_bandwidth(rtmp_control_buf_t *b, uint32_t window,
                                      rtmp_bandwidth_limit limit);
// Stream Begin/EOF/Dry/Is Recorded take a stream id, Ping Request/Response a timestamp.
rtmp_message_t rtmp_control_user(rtmp_control_buf_t *b, rtmp_user_event event, uint32_t value);
rtmp_message_t rtmp_control_set_buflen(rtmp_control_buf_t *b, uint32_t msid, uint32_t msec);

// A parsed protocol control (types 1-3, 5, 6) or user control (type 4) message.
struct rtmp_control_t {
    uint8_t type;    // rtmp_msg_type
    uint16_t event;  // rtmp_user_event, type 4 only
    uint32_t value;  // chunk size, aborted csid, sequence number, window, stream id or timestamp
    uint32_t buflen; // Set Buffer Length: milliseconds
    uint8_t limit;   // Set Peer Bandwidth: rtmp_bandwidth_limit
};

// RTMP_OK; RTMP_DECLINED for a user control event we do not know (ignore it);
// RTMP_ERROR with *reason for a short or invalid message or a type that is not control.
[[nodiscard]] rtmp_int_t rtmp_control_parse(const rtmp_message_t *m, rtmp_control_t *c,
                                            const char **reason);

// Walks the sub-messages of an aggregate message (type 22, spec 7.1.6).
struct rtmp_aggregate_t {
    rtmp_header_t h;              // the aggregate's own header
    std::span<const u_char> rest; // sub-messages not yet returned
    uint32_t first;               // the first sub-message's timestamp
    bool started;
};

void rtmp_aggregate_init(rtmp_aggregate_t *a, const rtmp_message_t *m);

// RTMP_OK: *sub is the next sub-message (payload points into the aggregate), on the
// aggregate's csid and message stream, its timestamp re-based so the first one carries the
// aggregate's timestamp and the others keep their distance from it, as nginx-rtmp and SRS do.
// RTMP_DONE: no more. RTMP_ERROR with *reason: malformed.
[[nodiscard]] rtmp_int_t rtmp_aggregate_next(rtmp_aggregate_t *a, rtmp_message_t *sub,
                                             const char **reason);
