// RTMP message types and the message header shared by the chunk, command and live code.
#pragma once

#include "core/rtmp_core.h"

// RTMP 1.0 spec, 5.4 (protocol control), 6.2 (user control), 7.1 (command messages).
enum rtmp_msg_type : uint8_t {
    RTMP_MSG_CHUNK_SIZE = 1,
    RTMP_MSG_ABORT = 2,
    RTMP_MSG_ACK = 3,
    RTMP_MSG_USER = 4,
    RTMP_MSG_ACK_SIZE = 5,
    RTMP_MSG_BANDWIDTH = 6,
    RTMP_MSG_AUDIO = 8,
    RTMP_MSG_VIDEO = 9,
    RTMP_MSG_AMF3_META = 15,
    RTMP_MSG_AMF3_SHARED = 16,
    RTMP_MSG_AMF3_CMD = 17,
    RTMP_MSG_AMF_META = 18,
    RTMP_MSG_AMF_SHARED = 19,
    RTMP_MSG_AMF_CMD = 20,
    RTMP_MSG_AGGREGATE = 22,
};

enum rtmp_user_event : uint16_t {
    RTMP_USER_STREAM_BEGIN = 0,
    RTMP_USER_STREAM_EOF = 1,
    RTMP_USER_STREAM_DRY = 2,
    RTMP_USER_SET_BUFLEN = 3,
    RTMP_USER_RECORDED = 4,
    RTMP_USER_PING_REQUEST = 6,
    RTMP_USER_PING_RESPONSE = 7,
};

struct rtmp_header_t {
    uint32_t csid;      // chunk stream id, 2..65599
    uint32_t timestamp; // absolute, milliseconds (wraps at 2^32)
    uint32_t mlen;      // payload length
    uint8_t type;       // rtmp_msg_type
    uint32_t msid;      // message stream id
};

// A reassembled message; payload is valid until the next call into its producer.
struct rtmp_message_t {
    rtmp_header_t h;
    std::span<const u_char> payload;
};
