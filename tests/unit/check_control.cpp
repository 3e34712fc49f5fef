// Check suite for protocol control and user control messages and aggregate splitting.
#include <check.h>

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_chunk.h"
#include "rtmp/rtmp_control.h"

static void check_msg(const rtmp_message_t *m, uint8_t type, const u_char *payload, size_t n)
{
    ck_assert_uint_eq(m->h.csid, 2);
    ck_assert_uint_eq(m->h.msid, 0);
    ck_assert_uint_eq(m->h.timestamp, 0);
    ck_assert_uint_eq(m->h.type, type);
    ck_assert_uint_eq(m->h.mlen, n);
    ck_assert_uint_eq(m->payload.size(), n);
    ck_assert_mem_eq(m->payload.data(), payload, n);
}

START_TEST(test_build)
{
    rtmp_control_buf_t b;
    rtmp_message_t m = rtmp_control_chunk_size(&b, 4096);
    check_msg(&m, RTMP_MSG_CHUNK_SIZE, (const u_char *)"\x00\x00\x10\x00", 4);
    m = rtmp_control_abort(&b, 5);
    check_msg(&m, RTMP_MSG_ABORT, (const u_char *)"\x00\x00\x00\x05", 4);
    m = rtmp_control_ack(&b, 0x01020304);
    check_msg(&m, RTMP_MSG_ACK, (const u_char *)"\x01\x02\x03\x04", 4);
    m = rtmp_control_ack_size(&b, 5000000);
    check_msg(&m, RTMP_MSG_ACK_SIZE, (const u_char *)"\x00\x4c\x4b\x40", 4);
    m = rtmp_control_bandwidth(&b, 5000000, RTMP_LIMIT_DYNAMIC);
    check_msg(&m, RTMP_MSG_BANDWIDTH, (const u_char *)"\x00\x4c\x4b\x40\x02", 5);
    m = rtmp_control_user(&b, RTMP_USER_STREAM_BEGIN, 1);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x00\x00\x00\x00\x01", 6);
    m = rtmp_control_user(&b, RTMP_USER_STREAM_EOF, 1);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x01\x00\x00\x00\x01", 6);
    m = rtmp_control_user(&b, RTMP_USER_STREAM_DRY, 7);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x02\x00\x00\x00\x07", 6);
    m = rtmp_control_user(&b, RTMP_USER_RECORDED, 1);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x04\x00\x00\x00\x01", 6);
    m = rtmp_control_user(&b, RTMP_USER_PING_REQUEST, 0x11223344);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x06\x11\x22\x33\x44", 6);
    m = rtmp_control_user(&b, RTMP_USER_PING_RESPONSE, 0x11223344);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x07\x11\x22\x33\x44", 6);
    m = rtmp_control_set_buflen(&b, 1, 3000);
    check_msg(&m, RTMP_MSG_USER, (const u_char *)"\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8", 10);
}
END_TEST

START_TEST(test_full_message)
{
    // Window Acknowledgement Size as nginx-rtmp sends it right after the handshake
    // (tests/data/chunk/play_s2c.bin, first chunk): 02 000000 000004 05 00000000 004c4b40.
    rtmp_pool_t *pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    rtmp_buf_t *out = rtmp_buf_create(pool, 64);
    rtmp_control_buf_t b;
    rtmp_message_t m = rtmp_control_ack_size(&b, 5000000);
    ck_assert_int_eq(rtmp_chunk_write(&w, &m, out), RTMP_OK);
    static const u_char e[] = {0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0x00, 0x4c, 0x4b, 0x40};
    ck_assert_uint_eq(rtmp_buf_size(out), sizeof(e));
    ck_assert_mem_eq(out->pos, e, sizeof(e));
    rtmp_pool_destroy(pool);
}
END_TEST

static rtmp_int_t parse(uint8_t type, const char *p, size_t n, rtmp_control_t *c,
                        const char **reason)
{
    rtmp_message_t m{};
    m.h.type = type;
    m.h.mlen = (uint32_t)n;
    m.payload = {(const u_char *)p, n};
    return rtmp_control_parse(&m, c, reason);
}

START_TEST(test_parse)
{
    rtmp_control_t c;
    const char *reason = nullptr;
    ck_assert_int_eq(parse(RTMP_MSG_CHUNK_SIZE, "\x00\x00\x10\x00", 4, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 4096);
    ck_assert_int_eq(parse(RTMP_MSG_ABORT, "\x00\x00\x00\x04", 4, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 4);
    ck_assert_int_eq(parse(RTMP_MSG_ACK, "\x00\x01\x00\x00", 4, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 65536);
    ck_assert_int_eq(parse(RTMP_MSG_ACK_SIZE, "\x00\x26\x25\xa0", 4, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 2500000);
    ck_assert_int_eq(parse(RTMP_MSG_BANDWIDTH, "\x00\x26\x25\xa0\x01", 5, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 2500000);
    ck_assert_uint_eq(c.limit, RTMP_LIMIT_SOFT);
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00\x00\x00\x00\x00\x01", 6, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.event, RTMP_USER_STREAM_BEGIN);
    ck_assert_uint_eq(c.value, 1);
    ck_assert_int_eq(
        parse(RTMP_MSG_USER, "\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8", 10, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.event, RTMP_USER_SET_BUFLEN);
    ck_assert_uint_eq(c.value, 1);
    ck_assert_uint_eq(c.buflen, 3000);
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00\x07\x00\x00\x12\x34", 6, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.event, RTMP_USER_PING_RESPONSE);
    ck_assert_uint_eq(c.value, 0x1234);
    // unknown events are for the caller to ignore
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00\x1f\x00\x00\x00\x01", 6, &c, &reason),
                     RTMP_DECLINED);

    // a built message parses back
    rtmp_control_buf_t b;
    rtmp_message_t m = rtmp_control_bandwidth(&b, 123456, RTMP_LIMIT_HARD);
    ck_assert_int_eq(rtmp_control_parse(&m, &c, &reason), RTMP_OK);
    ck_assert_uint_eq(c.value, 123456);
    ck_assert_uint_eq(c.limit, RTMP_LIMIT_HARD);
}
END_TEST

START_TEST(test_parse_errors)
{
    rtmp_control_t c;
    const char *reason = nullptr;
    ck_assert_int_eq(parse(RTMP_MSG_CHUNK_SIZE, "\x00\x00\x10", 3, &c, &reason), RTMP_ERROR);
    ck_assert_str_eq(reason, "short protocol control message");
    ck_assert_int_eq(parse(RTMP_MSG_CHUNK_SIZE, "\x00\x00\x00\x00", 4, &c, &reason), RTMP_ERROR);
    ck_assert_str_eq(reason, "invalid chunk size");
    ck_assert_int_eq(parse(RTMP_MSG_CHUNK_SIZE, "\x80\x00\x00\x01", 4, &c, &reason), RTMP_ERROR);
    ck_assert_int_eq(parse(RTMP_MSG_ACK, "", 0, &c, &reason), RTMP_ERROR);
    ck_assert_int_eq(parse(RTMP_MSG_BANDWIDTH, "\x00\x00\x00\x01", 4, &c, &reason), RTMP_ERROR);
    ck_assert_int_eq(parse(RTMP_MSG_BANDWIDTH, "\x00\x00\x00\x01\x03", 5, &c, &reason), RTMP_ERROR);
    ck_assert_str_eq(reason, "invalid peer bandwidth limit type");
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00", 1, &c, &reason), RTMP_ERROR);
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00\x00\x00\x00\x01", 5, &c, &reason), RTMP_ERROR);
    ck_assert_int_eq(parse(RTMP_MSG_USER, "\x00\x03\x00\x00\x00\x01\x00\x00", 8, &c, &reason),
                     RTMP_ERROR);
    ck_assert_str_eq(reason, "short set buffer length event");
    ck_assert_int_eq(parse(RTMP_MSG_VIDEO, "\x00\x00\x00\x01", 4, &c, &reason), RTMP_ERROR);
    ck_assert_str_eq(reason, "not a control message");
}
END_TEST

// Appends one FLV-tag-like sub-message.
static size_t put_sub(u_char *p, uint8_t type, uint32_t ts, const char *data, size_t n,
                      uint32_t back_adjust = 0)
{
    size_t i = 0;
    p[i++] = type;
    p[i++] = (u_char)(n >> 16);
    p[i++] = (u_char)(n >> 8);
    p[i++] = (u_char)n;
    p[i++] = (u_char)(ts >> 16);
    p[i++] = (u_char)(ts >> 8);
    p[i++] = (u_char)ts;
    p[i++] = (u_char)(ts >> 24);
    p[i++] = 0;
    p[i++] = 0;
    p[i++] = 0;
    memcpy(p + i, data, n);
    i += n;
    uint32_t back = (uint32_t)(11 + n) + back_adjust;
    p[i++] = (u_char)(back >> 24);
    p[i++] = (u_char)(back >> 16);
    p[i++] = (u_char)(back >> 8);
    p[i++] = (u_char)back;
    return i;
}

static rtmp_message_t aggregate(const u_char *p, size_t n, uint32_t ts)
{
    rtmp_message_t m{};
    m.h = {6, ts, (uint32_t)n, RTMP_MSG_AGGREGATE, 1};
    m.payload = {p, n};
    return m;
}

START_TEST(test_aggregate)
{
    u_char v[256];
    size_t n = 0;
    n += put_sub(v + n, RTMP_MSG_VIDEO, 1000, "vid", 3);
    n += put_sub(v + n, RTMP_MSG_AUDIO, 1040, "au", 2);
    n += put_sub(v + n, RTMP_MSG_AMF_META, 1080, "", 0);
    rtmp_message_t m = aggregate(v, n, 5000);
    rtmp_aggregate_t a;
    rtmp_aggregate_init(&a, &m);
    rtmp_message_t sub;
    const char *reason = nullptr;
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_OK);
    ck_assert_uint_eq(sub.h.type, RTMP_MSG_VIDEO);
    ck_assert_uint_eq(sub.h.timestamp, 5000);
    ck_assert_uint_eq(sub.h.csid, 6);
    ck_assert_uint_eq(sub.h.msid, 1);
    ck_assert_uint_eq(sub.h.mlen, 3);
    ck_assert_mem_eq(sub.payload.data(), "vid", 3);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_OK);
    ck_assert_uint_eq(sub.h.type, RTMP_MSG_AUDIO);
    ck_assert_uint_eq(sub.h.timestamp, 5040);
    ck_assert_mem_eq(sub.payload.data(), "au", 2);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_OK);
    ck_assert_uint_eq(sub.h.timestamp, 5080);
    ck_assert_uint_eq(sub.h.mlen, 0);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_DONE);

    // the timestamp extension byte and a 32-bit wrap between sub-messages
    n = 0;
    n += put_sub(v + n, RTMP_MSG_VIDEO, 0xfffffff0u, "a", 1);
    n += put_sub(v + n, RTMP_MSG_VIDEO, 0x10, "b", 1);
    m = aggregate(v, n, 100);
    rtmp_aggregate_init(&a, &m);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_OK);
    ck_assert_uint_eq(sub.h.timestamp, 100);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_OK);
    ck_assert_uint_eq(sub.h.timestamp, 100 + 0x20);

    // empty aggregate
    m = aggregate(v, 0, 0);
    rtmp_aggregate_init(&a, &m);
    ck_assert_int_eq(rtmp_aggregate_next(&a, &sub, &reason), RTMP_DONE);
}
END_TEST

static const char *aggregate_error(const u_char *v, size_t n)
{
    rtmp_message_t m = aggregate(v, n, 0);
    rtmp_aggregate_t a;
    rtmp_aggregate_init(&a, &m);
    rtmp_message_t sub;
    const char *reason = nullptr;
    rtmp_int_t rc;
    while ((rc = rtmp_aggregate_next(&a, &sub, &reason)) == RTMP_OK) {
    }
    ck_assert_int_eq(rc, RTMP_ERROR);
    ck_assert_ptr_nonnull(reason);
    return reason;
}

START_TEST(test_aggregate_errors)
{
    u_char v[256];
    size_t n = put_sub(v, RTMP_MSG_VIDEO, 0, "abcd", 4);
    ck_assert_str_eq(aggregate_error(v, 5), "truncated aggregate sub-message header");
    ck_assert_str_eq(aggregate_error(v, 11 + 4), "truncated aggregate sub-message");
    ck_assert_str_eq(aggregate_error(v, n - 1), "truncated aggregate sub-message");
    // trailing junk after a good sub-message
    v[n] = 9;
    ck_assert_str_eq(aggregate_error(v, n + 1), "truncated aggregate sub-message header");
    n = put_sub(v, RTMP_MSG_VIDEO, 0, "abcd", 4, 1);
    ck_assert_str_eq(aggregate_error(v, n), "bad aggregate back pointer");
    n = put_sub(v, RTMP_MSG_AGGREGATE, 0, "abcd", 4);
    ck_assert_str_eq(aggregate_error(v, n), "unexpected message type in aggregate");
    n = put_sub(v, RTMP_MSG_CHUNK_SIZE, 0, "abcd", 4);
    ck_assert_str_eq(aggregate_error(v, n), "unexpected message type in aggregate");
    // a size that runs past the end
    n = put_sub(v, RTMP_MSG_VIDEO, 0, "abcd", 4);
    v[1] = 0xff;
    ck_assert_str_eq(aggregate_error(v, n), "truncated aggregate sub-message");
}
END_TEST

Suite *rtmp_control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("control");
    tcase_add_test(tc, test_build);
    tcase_add_test(tc, test_full_message);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_parse_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("aggregate");
    tcase_add_test(tc, test_aggregate);
    tcase_add_test(tc, test_aggregate_errors);
    suite_add_tcase(s, tc);
    return s;
}
