// RTMP protocol control and user control messages, built and parsed; aggregate splitting.
#include "rtmp/rtmp_control.h"

static inline uint32_t rtmp_control_be24(const u_char *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t rtmp_control_be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline u_char *rtmp_control_put_be32(u_char *p, uint32_t v)
{
    *p++ = (u_char)(v >> 24);
    *p++ = (u_char)(v >> 16);
    *p++ = (u_char)(v >> 8);
    *p++ = (u_char)v;
    return p;
}

static rtmp_message_t rtmp_control_message(rtmp_control_buf_t *b, rtmp_msg_type type, size_t len)
{
    rtmp_message_t m{};
    m.h.csid = RTMP_CONTROL_CSID;
    m.h.type = type;
    m.h.mlen = (uint32_t)len;
    m.payload = {b->data, len};
    return m;
}

static rtmp_message_t rtmp_control_u32(rtmp_control_buf_t *b, rtmp_msg_type type, uint32_t v)
{
    rtmp_control_put_be32(b->data, v);
    return rtmp_control_message(b, type, 4);
}

rtmp_message_t rtmp_control_chunk_size(rtmp_control_buf_t *b, uint32_t size)
{
    // Spec 5.4.1: the top bit is always zero.
    return rtmp_control_u32(b, RTMP_MSG_CHUNK_SIZE, size & 0x7fffffffu);
}

rtmp_message_t rtmp_control_abort(rtmp_control_buf_t *b, uint32_t csid)
{
    return rtmp_control_u32(b, RTMP_MSG_ABORT, csid);
}

rtmp_message_t rtmp_control_ack(rtmp_control_buf_t *b, uint32_t sequence)
{
    return rtmp_control_u32(b, RTMP_MSG_ACK, sequence);
}

rtmp_message_t rtmp_control_ack_size(rtmp_control_buf_t *b, uint32_t window)
{
    return rtmp_control_u32(b, RTMP_MSG_ACK_SIZE, window);
}

rtmp_message_t rtmp_control_bandwidth(rtmp_control_buf_t *b, uint32_t window,
                                      rtmp_bandwidth_limit limit)
{
    rtmp_control_put_be32(b->data, window);
    b->data[4] = limit;
    return rtmp_control_message(b, RTMP_MSG_BANDWIDTH, 5);
}

rtmp_message_t rtmp_control_user(rtmp_control_buf_t *b, rtmp_user_event event, uint32_t value)
{
    b->data[0] = (u_char)(event >> 8);
    b->data[1] = (u_char)event;
    rtmp_control_put_be32(b->data + 2, value);
    return rtmp_control_message(b, RTMP_MSG_USER, 6);
}

rtmp_message_t rtmp_control_set_buflen(rtmp_control_buf_t *b, uint32_t msid, uint32_t msec)
{
    b->data[0] = 0;
    b->data[1] = RTMP_USER_SET_BUFLEN;
    rtmp_control_put_be32(b->data + 2, msid);
    rtmp_control_put_be32(b->data + 6, msec);
    return rtmp_control_message(b, RTMP_MSG_USER, 10);
}

// Longer payloads than needed are accepted: the fields are at fixed offsets and some peers pad.
static rtmp_int_t rtmp_control_parse_user(std::span<const u_char> p, rtmp_control_t *c,
                                          const char **reason)
{
    if (p.size() < 2) {
        *reason = "short user control message";
        return RTMP_ERROR;
    }
    c->event = (uint16_t)(p[0] << 8 | p[1]);
    switch (c->event) {
    case RTMP_USER_STREAM_BEGIN:
    case RTMP_USER_STREAM_EOF:
    case RTMP_USER_STREAM_DRY:
    case RTMP_USER_RECORDED:
    case RTMP_USER_PING_REQUEST:
    case RTMP_USER_PING_RESPONSE:
        if (p.size() < 6) {
            *reason = "short user control event";
            return RTMP_ERROR;
        }
        c->value = rtmp_control_be32(p.data() + 2);
        return RTMP_OK;
    case RTMP_USER_SET_BUFLEN:
        if (p.size() < 10) {
            *reason = "short set buffer length event";
            return RTMP_ERROR;
        }
        c->value = rtmp_control_be32(p.data() + 2);
        c->buflen = rtmp_control_be32(p.data() + 6);
        return RTMP_OK;
    default:
        // Flash Player's SWF verification (26, 27) and buffer events (31, 32) among others.
        return RTMP_DECLINED;
    }
}

rtmp_int_t rtmp_control_parse(const rtmp_message_t *m, rtmp_control_t *c, const char **reason)
{
    std::span<const u_char> p = m->payload;

    *c = rtmp_control_t{};
    c->type = m->h.type;

    switch (m->h.type) {
    case RTMP_MSG_USER:
        return rtmp_control_parse_user(p, c, reason);
    case RTMP_MSG_CHUNK_SIZE:
    case RTMP_MSG_ABORT:
    case RTMP_MSG_ACK:
    case RTMP_MSG_ACK_SIZE:
        if (p.size() < 4) {
            *reason = "short protocol control message";
            return RTMP_ERROR;
        }
        c->value = rtmp_control_be32(p.data());
        if (m->h.type == RTMP_MSG_CHUNK_SIZE && (c->value == 0 || (c->value & 0x80000000u))) {
            *reason = "invalid chunk size";
            return RTMP_ERROR;
        }
        return RTMP_OK;
    case RTMP_MSG_BANDWIDTH:
        if (p.size() < 5) {
            *reason = "short set peer bandwidth message";
            return RTMP_ERROR;
        }
        c->value = rtmp_control_be32(p.data());
        c->limit = p[4];
        if (c->limit > RTMP_LIMIT_DYNAMIC) {
            *reason = "invalid peer bandwidth limit type";
            return RTMP_ERROR;
        }
        return RTMP_OK;
    default:
        *reason = "not a control message";
        return RTMP_ERROR;
    }
}

// ---- aggregate ----------------------------------------------------------------------------

// Sub-message header: type, 3-byte size, 3-byte timestamp + 1 byte of its top bits,
// 3-byte stream id (the FLV tag header); a 4-byte back pointer follows each payload.
static constexpr size_t RTMP_AGGREGATE_HEADER = 11;
static constexpr size_t RTMP_AGGREGATE_TRAILER = 4;

void rtmp_aggregate_init(rtmp_aggregate_t *a, const rtmp_message_t *m)
{
    a->h = m->h;
    a->rest = m->payload;
    a->first = 0;
    a->started = false;
}

rtmp_int_t rtmp_aggregate_next(rtmp_aggregate_t *a, rtmp_message_t *sub, const char **reason)
{
    std::span<const u_char> p = a->rest;
    if (p.empty()) {
        return RTMP_DONE;
    }
    if (p.size() < RTMP_AGGREGATE_HEADER) {
        *reason = "truncated aggregate sub-message header";
        return RTMP_ERROR;
    }
    uint8_t type = p[0];
    uint32_t size = rtmp_control_be24(p.data() + 1);
    uint32_t ts = rtmp_control_be24(p.data() + 4) | (uint32_t)p[7] << 24;

    // Only media and data belong in an aggregate; a nested aggregate or chunk-layer control
    // message would bypass the reader's bookkeeping.
    switch (type) {
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
    case RTMP_MSG_AMF3_META:
    case RTMP_MSG_AMF_META:
        break;
    default:
        *reason = "unexpected message type in aggregate";
        return RTMP_ERROR;
    }
    if (p.size() - RTMP_AGGREGATE_HEADER < (size_t)size + RTMP_AGGREGATE_TRAILER) {
        *reason = "truncated aggregate sub-message";
        return RTMP_ERROR;
    }
    const u_char *back = p.data() + RTMP_AGGREGATE_HEADER + size;
    if (rtmp_control_be32(back) != RTMP_AGGREGATE_HEADER + size) {
        *reason = "bad aggregate back pointer";
        return RTMP_ERROR;
    }

    if (!a->started) {
        a->first = ts;
        a->started = true;
    }
    sub->h.csid = a->h.csid;
    sub->h.msid = a->h.msid;
    sub->h.type = type;
    sub->h.mlen = size;
    // Unsigned arithmetic keeps the distance right across a 32-bit wrap.
    sub->h.timestamp = a->h.timestamp + (ts - a->first);
    sub->payload = p.subspan(RTMP_AGGREGATE_HEADER, size);
    a->rest = p.subspan(RTMP_AGGREGATE_HEADER + size + RTMP_AGGREGATE_TRAILER);
    return RTMP_OK;
}
