// Check suite for the chunk reader and writer: byte vectors, limits, round trips, captures.
#include <check.h>
#include <cstdio>
#include <cstdlib>

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_chunk.h"
#include "rtmp/rtmp_control.h"
#include "rtmp/rtmp_frame.h"

static rtmp_pool_t *pool;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

// Messages collected from a reader, payloads copied since they live only until the next call.
constexpr size_t GOT_MAX = 64;
struct got_t {
    size_t n;
    rtmp_header_t h[GOT_MAX];
    u_char *data[GOT_MAX];
};

// Summary of a long message sequence: count, and a hash over every header and payload.
struct digest_t {
    uint64_t count;
    uint64_t hash;
    uint32_t types[32]; // messages per type
    bool connect;
    bool publish;
    bool play;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_bytes(uint64_t h, std::span<const u_char> p)
{
    size_t i = 0;
    for (; i + 8 <= p.size(); i += 8) {
        uint64_t v;
        memcpy(&v, p.data() + i, 8);
        h = mix(h, v);
    }
    for (; i < p.size(); i++) {
        h = mix(h, p[i]);
    }
    return h;
}

static bool has_command(const rtmp_message_t *m, const char *name)
{
    size_t len = strlen(name);
    // AMF0 string marker, 2-byte length, the command name (spec 7.1.1 / AMF0 2.4)
    return m->h.type == RTMP_MSG_AMF_CMD && m->payload.size() >= 3 + len && m->payload[0] == 2 &&
           m->payload[1] == 0 && m->payload[2] == len &&
           memcmp(m->payload.data() + 3, name, len) == 0;
}

static void digest_add(digest_t *d, const rtmp_message_t *m)
{
    d->count++;
    d->hash = mix(d->hash, m->h.csid);
    d->hash = mix(d->hash, m->h.timestamp);
    d->hash = mix(d->hash, m->h.mlen);
    d->hash = mix(d->hash, m->h.type);
    d->hash = mix(d->hash, m->h.msid);
    d->hash = hash_bytes(d->hash, m->payload);
    d->types[m->h.type & 31]++;
    d->connect |= has_command(m, "connect");
    d->publish |= has_command(m, "publish");
    d->play |= has_command(m, "play");
}

static bool digest_eq(const digest_t *a, const digest_t *b)
{
    return a->count == b->count && a->hash == b->hash;
}

// Feeds p[0..n) and collects every message; returns the last rc (RTMP_AGAIN when all is read).
static rtmp_int_t feed(rtmp_chunk_reader_t *r, const u_char *p, size_t n, got_t *got,
                       digest_t *d = nullptr)
{
    for (;;) {
        rtmp_message_t m;
        size_t used;
        rtmp_int_t rc = rtmp_chunk_read(r, {p, n}, &used, &m);
        ck_assert_uint_le(used, n);
        p += used;
        n -= used;
        if (rc != RTMP_OK) {
            if (rc == RTMP_AGAIN) {
                ck_assert_uint_eq(n, 0);
            }
            return rc;
        }
        ck_assert_uint_eq(m.payload.size(), m.h.mlen);
        if (d) {
            digest_add(d, &m);
        }
        if (got && got->n < GOT_MAX) {
            got->h[got->n] = m.h;
            got->data[got->n] = static_cast<u_char *>(rtmp_pnalloc(pool, m.h.mlen + 1));
            if (m.h.mlen) {
                memcpy(got->data[got->n], m.payload.data(), m.h.mlen);
            }
            got->n++;
        }
    }
}

static rtmp_int_t feed_bytewise(rtmp_chunk_reader_t *r, const u_char *p, size_t n, got_t *got,
                                digest_t *d = nullptr)
{
    for (size_t i = 0; i < n; i++) {
        rtmp_int_t rc = feed(r, p + i, 1, got, d);
        if (rc != RTMP_AGAIN) {
            return rc;
        }
    }
    return RTMP_AGAIN;
}

static void check_header(const got_t *g, size_t i, uint32_t csid, uint32_t ts, uint32_t mlen,
                         uint8_t type, uint32_t msid)
{
    ck_assert_uint_gt(g->n, i);
    ck_assert_uint_eq(g->h[i].csid, csid);
    ck_assert_uint_eq(g->h[i].timestamp, ts);
    ck_assert_uint_eq(g->h[i].mlen, mlen);
    ck_assert_uint_eq(g->h[i].type, type);
    ck_assert_uint_eq(g->h[i].msid, msid);
}

// Runs a vector all at once and one byte at a time; both must agree.
static void read_both(const u_char *p, size_t n, got_t *g, const rtmp_chunk_reader_conf_t *conf)
{
    rtmp_chunk_reader_t *r1 = rtmp_chunk_reader_create(pool, conf);
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, conf);
    got_t g2{};
    ck_assert_int_eq(feed(r1, p, n, g), RTMP_AGAIN);
    ck_assert_int_eq(feed_bytewise(r2, p, n, &g2), RTMP_AGAIN);
    ck_assert_uint_eq(r1->bytes_read, n);
    ck_assert_uint_eq(r2->bytes_read, n);
    ck_assert_uint_eq(g->n, g2.n);
    for (size_t i = 0; i < g->n; i++) {
        ck_assert_mem_eq(&g->h[i], &g2.h[i], sizeof(rtmp_header_t));
        ck_assert_int_eq(memcmp(g->data[i], g2.data[i], g->h[i].mlen), 0);
    }
}

// ---- reader: hand-built vectors -----------------------------------------------------------

START_TEST(test_fmt0)
{
    static const u_char v[] = {0x03, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x03, 0x14,
                               0x01, 0x00, 0x00, 0x00, 'a',  'b',  'c'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 1);
    check_header(&g, 0, 3, 10, 3, 20, 1);
    ck_assert_mem_eq(g.data[0], "abc", 3);
}
END_TEST

START_TEST(test_fmt123)
{
    static const u_char v[] = {// fmt 0: csid 4, ts 1000, len 3, audio, msid 1
                               0x04, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x03, 0x08, 0x01, 0x00, 0x00,
                               0x00, 'A', 'A', 'A',
                               // fmt 1: delta 20, len 2, video
                               0x44, 0x00, 0x00, 0x14, 0x00, 0x00, 0x02, 0x09, 'B', 'B',
                               // fmt 2: delta 30
                               0x84, 0x00, 0x00, 0x1e, 'C', 'C',
                               // fmt 3: new message repeating delta 30
                               0xc4, 'D', 'D'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 4);
    check_header(&g, 0, 4, 1000, 3, 8, 1);
    check_header(&g, 1, 4, 1020, 2, 9, 1);
    check_header(&g, 2, 4, 1050, 2, 9, 1);
    check_header(&g, 3, 4, 1080, 2, 9, 1);
    ck_assert_mem_eq(g.data[3], "DD", 2);
}
END_TEST

START_TEST(test_fmt3_after_fmt0)
{
    // ffmpeg/librtmp/SRS: the fmt 0 timestamp is the delta the fmt 3 repeats.
    static const u_char v[] = {0x05, 0x00, 0x00, 0x28, 0x00, 0x00, 0x01, 0x08,
                               0x01, 0x00, 0x00, 0x00, 'x',  0xc5, 'y'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 2);
    check_header(&g, 0, 5, 40, 1, 8, 1);
    check_header(&g, 1, 5, 80, 1, 8, 1);
}
END_TEST

START_TEST(test_fmt1_fresh)
{
    // SRS accepts a chunk stream opened with fmt 1: message stream 0, timestamp from 0.
    static const u_char v[] = {0x46, 0x00, 0x00, 0x05, 0x00, 0x00, 0x01, 0x12, 'z'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 1);
    check_header(&g, 0, 6, 5, 1, 18, 0);
}
END_TEST

START_TEST(test_basic_headers)
{
    struct {
        uint32_t csid;
        u_char b[3];
        size_t len;
    } cases[] = {
        {2, {0x02}, 1},
        {63, {0x3f}, 1},
        {64, {0x00, 0x00}, 2},
        {319, {0x00, 0xff}, 2},
        {320, {0x01, 0x00, 0x01}, 3},
        {65599, {0x01, 0xff, 0xff}, 3},
        {1000, {0x01, 0xa8, 0x03}, 3},
    };
    for (auto &c : cases) {
        u_char v[32];
        size_t n = 0;
        memcpy(v, c.b, c.len);
        n = c.len;
        static const u_char mh[] = {0, 0, 7, 0, 0, 2, 8, 0, 0, 0, 0, 'h', 'i'};
        memcpy(v + n, mh, sizeof(mh));
        n += sizeof(mh);
        got_t g{};
        read_both(v, n, &g, nullptr);
        ck_assert_uint_eq(g.n, 1);
        check_header(&g, 0, c.csid, 7, 2, 8, 0);

        // and the writer emits the same basic header
        rtmp_chunk_writer_t w;
        rtmp_chunk_writer_init(&w, pool, 128);
        rtmp_buf_t *b = rtmp_buf_create(pool, 64);
        rtmp_message_t m{{c.csid, 7, 2, 8, 0}, {mh + 11, 2}};
        ck_assert_int_eq(rtmp_chunk_write(&w, &m, b), RTMP_OK);
        ck_assert_uint_eq(rtmp_buf_size(b), n);
        ck_assert_mem_eq(b->pos, v, n);
    }
}
END_TEST

// Builds a message of `len` bytes of pattern on csid 3 as chunks of 128, with the given
// extended timestamp handling on continuations.
static size_t build_chunked(u_char *v, uint32_t ts, size_t len, bool ext_on_cont)
{
    size_t n = 0;
    bool ext = ts >= 0xffffff;
    v[n++] = 0x03;
    uint32_t f = ext ? 0xffffff : ts;
    v[n++] = (u_char)(f >> 16);
    v[n++] = (u_char)(f >> 8);
    v[n++] = (u_char)f;
    v[n++] = (u_char)(len >> 16);
    v[n++] = (u_char)(len >> 8);
    v[n++] = (u_char)len;
    v[n++] = 9;
    v[n++] = 1;
    v[n++] = 0;
    v[n++] = 0;
    v[n++] = 0;
    if (ext) {
        v[n++] = (u_char)(ts >> 24);
        v[n++] = (u_char)(ts >> 16);
        v[n++] = (u_char)(ts >> 8);
        v[n++] = (u_char)ts;
    }
    for (size_t i = 0; i < len; i++) {
        if (i && i % 128 == 0) {
            v[n++] = 0xc3;
            if (ext && ext_on_cont) {
                v[n++] = (u_char)(ts >> 24);
                v[n++] = (u_char)(ts >> 16);
                v[n++] = (u_char)(ts >> 8);
                v[n++] = (u_char)ts;
            }
        }
        v[n++] = (u_char)(i * 7 + 1);
    }
    return n;
}

static void check_pattern(const u_char *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        ck_assert_uint_eq(d[i], (u_char)(i * 7 + 1));
    }
}

START_TEST(test_multi_chunk)
{
    u_char v[1024];
    size_t n = build_chunked(v, 500, 300, true);
    n += build_chunked(v + n, 600, 128, true); // exactly one chunk, then fmt 0 again
    got_t g{};
    read_both(v, n, &g, nullptr);
    ck_assert_uint_eq(g.n, 2);
    check_header(&g, 0, 3, 500, 300, 9, 1);
    check_pattern(g.data[0], 300);
    check_header(&g, 1, 3, 600, 128, 9, 1);
}
END_TEST

START_TEST(test_ext_timestamp)
{
    u_char v[2048];
    size_t n = build_chunked(v, 0x01020304, 300, true);
    got_t g{};
    read_both(v, n, &g, nullptr);
    ck_assert_uint_eq(g.n, 1);
    check_header(&g, 0, 3, 0x01020304, 300, 9, 1);
    check_pattern(g.data[0], 300);

    // exactly 0xffffff is also sent extended
    n = build_chunked(v, 0xffffff, 200, true);
    got_t g2{};
    read_both(v, n, &g2, nullptr);
    check_header(&g2, 0, 3, 0xffffff, 200, 9, 1);
    check_pattern(g2.data[0], 200);
}
END_TEST

START_TEST(test_ext_timestamp_omitted)
{
    // Continuations without the extended timestamp: the peeked bytes are payload.
    u_char v[2048];
    for (size_t len : {300u, 130u, 129u, 131u, 132u, 256u, 1000u}) {
        size_t n = build_chunked(v, 0x01020304, len, false);
        // a following message so a short last chunk's peek reaches into the next header
        static const u_char next[] = {0x04, 0, 0, 1, 0, 0, 1, 8, 1, 0, 0, 0, 'q'};
        memcpy(v + n, next, sizeof(next));
        n += sizeof(next);
        got_t g{};
        read_both(v, n, &g, nullptr);
        ck_assert_uint_eq(g.n, 2);
        check_header(&g, 0, 3, 0x01020304, (uint32_t)len, 9, 1);
        check_pattern(g.data[0], len);
        check_header(&g, 1, 4, 1, 1, 8, 1);
        ck_assert_uint_eq(g.data[1][0], 'q');
    }
}
END_TEST

START_TEST(test_ext_fmt3_new_message)
{
    static const u_char v[] = {// fmt 0 ts 0x01000000 (extended)
                               0x03, 0xff, 0xff, 0xff, 0, 0, 1, 8, 1, 0, 0, 0, 0x01, 0x00, 0x00,
                               0x00, 'a',
                               // fmt 2 delta 0x01000000 (extended)
                               0x83, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 'b',
                               // fmt 3 new message: the extended field is repeated
                               0xc3, 0x01, 0x00, 0x00, 0x00, 'c',
                               // fmt 2 back to a small delta: no extended field any more
                               0x83, 0x00, 0x00, 0x05, 'd', 0xc3, 'e'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 5);
    check_header(&g, 0, 3, 0x01000000, 1, 8, 1);
    check_header(&g, 1, 3, 0x02000000, 1, 8, 1);
    check_header(&g, 2, 3, 0x03000000, 1, 8, 1);
    check_header(&g, 3, 3, 0x03000005, 1, 8, 1);
    check_header(&g, 4, 3, 0x0300000a, 1, 8, 1);
    ck_assert_uint_eq(g.data[4][0], 'e');
}
END_TEST

START_TEST(test_timestamp_wrap)
{
    static const u_char v[] = {0x03, 0xff, 0xff, 0xff, 0,    0,   1,    8, 1, 0,    0,
                               0,    0xff, 0xff, 0xff, 0xf0, 'a', 0x83, 0, 0, 0x20, 'b'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 2);
    check_header(&g, 0, 3, 0xfffffff0u, 1, 8, 1);
    check_header(&g, 1, 3, 0x10, 1, 8, 1);
}
END_TEST

START_TEST(test_set_chunk_size)
{
    u_char v[2048];
    size_t n = 0;
    // first chunk (128 bytes) of a 300-byte message on csid 3
    size_t m = build_chunked(v, 1, 300, true);
    memcpy(v + n, v, 140); // header (12) + 128 payload
    n = 140;
    // Set Chunk Size 200 on csid 2 between two chunks of csid 3's message
    static const u_char scs[] = {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 200};
    memcpy(v + n, scs, sizeof(scs));
    n += sizeof(scs);
    // the rest of the message as one 172-byte continuation chunk
    v[n++] = 0xc3;
    u_char tmp[2048];
    m = build_chunked(tmp, 1, 300, true);
    (void)m;
    // payload bytes 128..299 follow the 12-byte header, 128 bytes, 1-byte continuation header
    memcpy(v + n, tmp + 12 + 128 + 1, 128);
    n += 128;
    memcpy(v + n, tmp + 12 + 128 + 1 + 128 + 1, 44);
    n += 44;
    got_t g{};
    read_both(v, n, &g, nullptr);
    ck_assert_uint_eq(g.n, 2);
    check_header(&g, 0, 2, 0, 4, RTMP_MSG_CHUNK_SIZE, 0);
    check_header(&g, 1, 3, 1, 300, 9, 1);
    check_pattern(g.data[1], 300);

    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, nullptr);
    ck_assert_int_eq(feed(r, v, n, nullptr), RTMP_AGAIN);
    ck_assert_uint_eq(r->chunk_size, 200);
}
END_TEST

START_TEST(test_abort)
{
    u_char v[2048];
    size_t n = build_chunked(v, 1, 300, true);
    n = 140; // only the first chunk
    static const u_char ab[] = {0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 3};
    memcpy(v + n, ab, sizeof(ab));
    n += sizeof(ab);
    // csid 3 starts over with a fmt 0 header, which would be an error without the abort
    static const u_char again[] = {0x03, 0, 0, 9, 0, 0, 2, 8, 1, 0, 0, 0, 'o', 'k'};
    memcpy(v + n, again, sizeof(again));
    n += sizeof(again);
    got_t g{};
    read_both(v, n, &g, nullptr);
    ck_assert_uint_eq(g.n, 2);
    check_header(&g, 0, 2, 0, 4, RTMP_MSG_ABORT, 0);
    check_header(&g, 1, 3, 9, 2, 8, 1);
    ck_assert_mem_eq(g.data[1], "ok", 2);
}
END_TEST

// Partial input at every cut of a message: inside a header, between chunks, and after an
// abort, which ends the message it drops.
START_TEST(test_partial)
{
    u_char v[2048];
    size_t n = build_chunked(v, 1, 300, true);
    for (size_t cut = 0; cut <= n; cut++) {
        rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, nullptr);
        got_t g{};
        ck_assert_int_eq(feed(r, v, cut, &g), RTMP_AGAIN);
        ck_assert_uint_eq(g.n, cut == n ? 1 : 0);
        ck_assert(rtmp_chunk_reader_partial(r) == (cut > 0 && cut < n));
    }
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, nullptr);
    got_t g{};
    ck_assert_int_eq(feed(r, v, 140, &g), RTMP_AGAIN); // the first chunk of csid 3
    ck_assert(rtmp_chunk_reader_partial(r));
    static const u_char ab[] = {0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 3};
    ck_assert_int_eq(feed(r, ab, sizeof(ab), &g), RTMP_AGAIN);
    ck_assert_uint_eq(g.n, 1);
    ck_assert(!rtmp_chunk_reader_partial(r));
}
END_TEST

// ---- reader: violations -------------------------------------------------------------------

static const char *read_error(const u_char *v, size_t n, const rtmp_chunk_reader_conf_t *conf)
{
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, conf);
    rtmp_int_t rc = feed(r, v, n, nullptr);
    ck_assert_int_eq(rc, RTMP_ERROR);
    ck_assert_ptr_nonnull(r->reason);
    // the reader stays failed
    size_t used;
    rtmp_message_t m;
    ck_assert_int_eq(rtmp_chunk_read(r, {v, n}, &used, &m), RTMP_ERROR);

    // and byte by byte fails the same way
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, conf);
    ck_assert_int_eq(feed_bytewise(r2, v, n, nullptr), RTMP_ERROR);
    ck_assert_str_eq(r->reason, r2->reason);
    return r->reason;
}

START_TEST(test_bad_chunk_size)
{
    rtmp_chunk_reader_conf_t conf{};
    conf.max_chunk_size = 4096;
    u_char v[] = {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_str_eq(read_error(v, sizeof(v), &conf), "invalid chunk size");
    v[12] = 0x80;
    v[15] = 1;
    ck_assert_str_eq(read_error(v, sizeof(v), &conf), "invalid chunk size");
    v[12] = 0;
    v[14] = 0x10;
    v[15] = 1; // 4097
    ck_assert_str_eq(read_error(v, sizeof(v), &conf), "chunk size above the configured maximum");
    u_char s[] = {0x02, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_str_eq(read_error(s, sizeof(s), &conf), "short set chunk size message");
}
END_TEST

START_TEST(test_too_many_streams)
{
    rtmp_chunk_reader_conf_t conf{};
    conf.max_streams = 4;
    u_char v[256];
    size_t n = 0;
    for (u_char cs = 3; cs < 8; cs++) {
        const u_char msg[] = {cs, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 'x'};
        memcpy(v + n, msg, sizeof(msg));
        n += sizeof(msg);
    }
    ck_assert_str_eq(read_error(v, n, &conf), "too many chunk streams");
}
END_TEST

START_TEST(test_many_streams_attack)
{
    // 65000 chunk streams each opening a large message: memory stays within the limits.
    rtmp_chunk_reader_conf_t conf{};
    conf.max_streams = 64;
    conf.max_message = 0xffffff;
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, &conf);
    u_char v[256];
    rtmp_int_t rc = RTMP_AGAIN;
    for (uint32_t csid = 320; csid < 65320 && rc == RTMP_AGAIN; csid++) {
        // a 3-byte basic header, fmt 0 declaring 16 MiB - 1, then one full 128-byte chunk
        size_t n = 0;
        v[n++] = 0x01;
        v[n++] = (u_char)((csid - 64) & 0xff);
        v[n++] = (u_char)((csid - 64) >> 8);
        const u_char mh[] = {0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0};
        memcpy(v + n, mh, sizeof(mh));
        n += sizeof(mh);
        memset(v + n, 'p', 128);
        n += 128;
        rc = feed(r, v, n, nullptr);
    }
    ck_assert_int_eq(rc, RTMP_ERROR);
    ck_assert_uint_eq(r->nstreams, 64);
    ck_assert_uint_le(r->buffered, 64 * 4096);
}
END_TEST

START_TEST(test_message_too_long)
{
    rtmp_chunk_reader_conf_t conf{};
    conf.max_message = 1000;
    const u_char v[] = {0x03, 0, 0, 0, 0, 0x03, 0xe9, 8, 0, 0, 0, 0};
    ck_assert_str_eq(read_error(v, sizeof(v), &conf), "message longer than the configured maximum");
}
END_TEST

START_TEST(test_lazy_allocation)
{
    // A declared 16 MiB message never completed costs what arrived, not 16 MiB.
    rtmp_chunk_reader_conf_t conf{};
    conf.max_message = 0xffffff;
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, &conf);
    u_char v[2048];
    size_t n = 0;
    const u_char mh[] = {0x03, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0};
    memcpy(v, mh, sizeof(mh));
    n = sizeof(mh);
    for (size_t i = 0; i < 1000; i++) {
        if (i && i % 128 == 0) {
            v[n++] = 0xc3;
        }
        v[n++] = (u_char)i;
    }
    ck_assert_int_eq(feed(r, v, n, nullptr), RTMP_AGAIN);
    ck_assert_uint_le(r->buffered, 4096);

    // and max_buffered caps the sum over streams
    conf.max_buffered = 5000;
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, &conf);
    u_char big[8192];
    n = 0;
    for (u_char cs = 3; cs < 5; cs++) {
        const u_char h2[] = {cs, 0, 0, 0, 0x01, 0x00, 0x00, 9, 1, 0, 0, 0};
        memcpy(big + n, h2, sizeof(h2));
        n += sizeof(h2);
        memset(big + n, 'z', 128);
        n += 128;
        for (int k = 0; k < 20; k++) {
            big[n++] = (u_char)(0xc0 | cs);
            memset(big + n, 'z', 128);
            n += 128;
        }
    }
    ck_assert_int_eq(feed(r2, big, n, nullptr), RTMP_ERROR);
    ck_assert_str_eq(r2->reason, "partial messages above the configured memory");
    ck_assert_uint_le(r2->buffered, 5000);
}
END_TEST

START_TEST(test_protocol_violations)
{
    // fmt 2 and fmt 3 on a fresh chunk stream
    const u_char a[] = {0x83, 0, 0, 1, 'x'};
    ck_assert_str_eq(read_error(a, sizeof(a), nullptr),
                     "chunk stream starts without a message header");
    const u_char b[] = {0xc3, 'x'};
    ck_assert_str_eq(read_error(b, sizeof(b), nullptr),
                     "chunk stream starts without a message header");
    // a fmt 0 header in the middle of a message
    u_char v[512];
    size_t n = build_chunked(v, 1, 300, true);
    n = 140;
    const u_char c[] = {0x03, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 'x'};
    memcpy(v + n, c, sizeof(c));
    n += sizeof(c);
    ck_assert_str_eq(read_error(v, n, nullptr), "new message header inside an unfinished message");
    // short abort
    const u_char d[] = {0x02, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 3};
    ck_assert_str_eq(read_error(d, sizeof(d), nullptr), "short abort message");
}
END_TEST

START_TEST(test_empty_message)
{
    const u_char v[] = {0x03, 0, 0, 5, 0, 0, 0, 18, 1, 0, 0, 0, 0xc3,
                        0x04, 0, 0, 1, 0, 0, 1, 8,  1, 0, 0, 0, 'a'};
    got_t g{};
    read_both(v, sizeof(v), &g, nullptr);
    ck_assert_uint_eq(g.n, 3);
    check_header(&g, 0, 3, 5, 0, 18, 1);
    check_header(&g, 1, 3, 10, 0, 18, 1);
    check_header(&g, 2, 4, 1, 1, 8, 1);
}
END_TEST

// ---- writer -------------------------------------------------------------------------------

static void write_expect(rtmp_chunk_writer_t *w, rtmp_header_t h, const u_char *payload,
                         const u_char *expect, size_t n)
{
    rtmp_message_t m{h, {payload, h.mlen}};
    rtmp_buf_t *b = rtmp_buf_create(pool, 4096);
    ck_assert_uint_eq(rtmp_chunk_write_size(w, &h), n);
    ck_assert_int_eq(rtmp_chunk_write(w, &m, b), RTMP_OK);
    ck_assert_uint_eq(rtmp_buf_size(b), n);
    ck_assert_mem_eq(b->pos, expect, n);
}

START_TEST(test_writer_compression)
{
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    const u_char p[] = "abcdefgh";

    const u_char e0[] = {0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'};
    write_expect(&w, {3, 0, 5, 20, 0}, p, e0, sizeof(e0));
    // same length and type, after fmt 0: fmt 2 with the delta
    const u_char e1[] = {0x83, 0, 0, 10, 'a', 'b', 'c', 'd', 'e'};
    write_expect(&w, {3, 10, 5, 20, 0}, p, e1, sizeof(e1));
    // same delta again: fmt 3
    const u_char e2[] = {0xc3, 'a', 'b', 'c', 'd', 'e'};
    write_expect(&w, {3, 20, 5, 20, 0}, p, e2, sizeof(e2));
    // length changes: fmt 1
    const u_char e3[] = {0x43, 0, 0, 10, 0, 0, 6, 20, 'a', 'b', 'c', 'd', 'e', 'f'};
    write_expect(&w, {3, 30, 6, 20, 0}, p, e3, sizeof(e3));
    // type changes: fmt 1
    const u_char e4[] = {0x43, 0, 0, 0, 0, 0, 6, 18, 'a', 'b', 'c', 'd', 'e', 'f'};
    write_expect(&w, {3, 30, 6, 18, 0}, p, e4, sizeof(e4));
    // delta changes: fmt 2
    const u_char e5[] = {0x83, 0, 0, 7, 'a', 'b', 'c', 'd', 'e', 'f'};
    write_expect(&w, {3, 37, 6, 18, 0}, p, e5, sizeof(e5));
    // message stream changes: fmt 0
    const u_char e6[] = {0x03, 0, 0, 44, 0, 0, 6, 18, 1, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f'};
    write_expect(&w, {3, 44, 6, 18, 1}, p, e6, sizeof(e6));
    // timestamp goes backwards: fmt 0
    const u_char e7[] = {0x03, 0, 0, 40, 0, 0, 6, 18, 1, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f'};
    write_expect(&w, {3, 40, 6, 18, 1}, p, e7, sizeof(e7));
    // another csid starts with fmt 0
    const u_char e8[] = {0x04, 0, 0, 50, 0, 0, 1, 8, 1, 0, 0, 0, 'a'};
    write_expect(&w, {4, 50, 1, 8, 1}, p, e8, sizeof(e8));
}
END_TEST

START_TEST(test_writer_chunks_ext)
{
    u_char payload[300];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (u_char)(i * 7 + 1);
    }
    u_char expect[1024];
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    size_t n = build_chunked(expect, 500, 300, true);
    write_expect(&w, {3, 500, 300, 9, 1}, payload, expect, n);

    rtmp_chunk_writer_init(&w, pool, 128);
    n = build_chunked(expect, 0x01020304, 300, true);
    write_expect(&w, {3, 0x01020304, 300, 9, 1}, payload, expect, n);

    // the shared fmt 0 encoding is the same bytes
    rtmp_message_t m{{3, 0x01020304, 300, 9, 1}, {payload, 300}};
    ck_assert_uint_eq(rtmp_chunk_fmt0_size(&m.h, 128), n);
    rtmp_buf_t *b = rtmp_buf_create(pool, n);
    const char *reason = nullptr;
    ck_assert_int_eq(rtmp_chunk_write_fmt0(&m, 128, b, &reason), RTMP_OK);
    ck_assert_mem_eq(b->pos, expect, n);
    ck_assert_int_eq(rtmp_chunk_write_fmt0(&m, 128, b, &reason), RTMP_ERROR);
    ck_assert_str_eq(reason, "output buffer too small");

    // after rtmp_chunk_writer_sent() the next message compresses against it
    rtmp_chunk_writer_init(&w, pool, 128);
    rtmp_chunk_writer_sent(&w, &m.h);
    rtmp_header_t h2{3, 0x01020304 + 40, 300, 9, 1};
    ck_assert_uint_eq(rtmp_chunk_write_size(&w, &h2), 4 + 300 + 2);

    // exact chunk multiples have no empty trailing chunk
    rtmp_header_t h3{3, 0, 256, 9, 1};
    ck_assert_uint_eq(rtmp_chunk_fmt0_size(&h3, 128), 12 + 256 + 1);
    rtmp_header_t h4{3, 0, 0, 9, 1};
    ck_assert_uint_eq(rtmp_chunk_fmt0_size(&h4, 128), 12);
}
END_TEST

START_TEST(test_writer_errors)
{
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    rtmp_buf_t *b = rtmp_buf_create(pool, 16);
    const u_char p[32] = {};
    rtmp_message_t m{{1, 0, 1, 8, 0}, {p, 1}};
    ck_assert_int_eq(rtmp_chunk_write(&w, &m, b), RTMP_ERROR);
    m.h.csid = 65600;
    ck_assert_int_eq(rtmp_chunk_write(&w, &m, b), RTMP_ERROR);
    m.h.csid = 3;
    m.h.mlen = 2;
    ck_assert_int_eq(rtmp_chunk_write(&w, &m, b), RTMP_ERROR);
    m.h.mlen = 20;
    m.payload = {p, 20};
    ck_assert_int_eq(rtmp_chunk_write(&w, &m, b), RTMP_ERROR);
    ck_assert_str_eq(w.reason, "output buffer too small");
    ck_assert_uint_eq(rtmp_buf_size(b), 0);
}
END_TEST

// ---- round trips --------------------------------------------------------------------------

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(test_round_trip)
{
    static const uint32_t csids[] = {2, 3, 4, 5, 6, 63, 64, 100, 319, 320, 4000, 65599};
    rtmp_chunk_reader_conf_t conf{};
    conf.max_message = 0xffffff;
    conf.max_chunk_size = 1 << 20;
    uint32_t seed = 12345;
    uint32_t ts[rtmp_nelems(csids)] = {};
    u_char *payload = static_cast<u_char *>(rtmp_palloc(pool, 71000));
    for (size_t i = 0; i < 71000; i++) {
        payload[i] = (u_char)lcg(&seed);
    }

    for (int pass = 0; pass < 2; pass++) {
        rtmp_chunk_writer_t w;
        rtmp_chunk_writer_init(&w, pool, 128);
        rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, &conf);
        rtmp_buf_t *out = rtmp_buf_create(pool, 1 << 20);
        digest_t sent{}, recv{};
        rtmp_header_t last{};
        for (int i = 0; i < 3000; i++) {
            rtmp_message_t m{};
            uint32_t k = lcg(&seed);
            if (k % 50 == 0) {
                // change the chunk size the way a server does: announce, then use
                uint32_t size = 1 + lcg(&seed) % 9000;
                rtmp_control_buf_t cb;
                m = rtmp_control_chunk_size(&cb, size);
                ck_assert_int_eq(rtmp_chunk_write(&w, &m, out), RTMP_OK);
                w.chunk_size = size;
                digest_add(&sent, &m);
                continue;
            }
            size_t c = lcg(&seed) % rtmp_nelems(csids);
            if (c == 0) {
                c = 1; // csid 2 is for control
            }
            uint32_t step = lcg(&seed) % 8;
            uint32_t d = step < 4 ? 40 : step == 4 ? 0 : step == 5 ? 0x01000000 : lcg(&seed) % 100;
            if (step == 7 && (lcg(&seed) & 1)) {
                ts[c] -= 500; // backwards
            }
            ts[c] += d;
            m.h.csid = csids[c];
            m.h.timestamp = ts[c];
            uint32_t lk = lcg(&seed) % 4;
            m.h.mlen = lk == 0 ? lcg(&seed) % 5 : lk == 1 ? 128 : lcg(&seed) % 70000;
            if (lk == 3 && (lcg(&seed) & 1) && last.csid == m.h.csid) {
                m.h.mlen = last.mlen; // encourage fmt 2/3
            }
            m.h.type = (lcg(&seed) % 3) ? 9 : 8;
            m.h.msid = lcg(&seed) % 10 == 0 ? 2 : 1;
            m.payload = {payload + lcg(&seed) % 1000, m.h.mlen};
            size_t before = rtmp_buf_size(out);
            size_t expect = rtmp_chunk_write_size(&w, &m.h);
            ck_assert_int_eq(rtmp_chunk_write(&w, &m, out), RTMP_OK);
            ck_assert_uint_eq(rtmp_buf_size(out) - before, expect);
            digest_add(&sent, &m);
            last = m.h;

            if (rtmp_buf_free(out) < 200000) {
                // drain: pass 0 all at once, pass 1 in odd pieces
                const u_char *q = out->pos;
                size_t left = rtmp_buf_size(out);
                while (left) {
                    size_t piece = pass == 0 ? left : std::min<size_t>(left, 1 + lcg(&seed) % 700);
                    ck_assert_int_eq(feed(r, q, piece, nullptr, &recv), RTMP_AGAIN);
                    q += piece;
                    left -= piece;
                }
                rtmp_buf_reset(out);
            }
        }
        ck_assert_int_eq(feed(r, out->pos, rtmp_buf_size(out), nullptr, &recv), RTMP_AGAIN);
        ck_assert_uint_eq(recv.count, sent.count);
        ck_assert(digest_eq(&recv, &sent));
    }
}
END_TEST

// ---- captures -----------------------------------------------------------------------------

// The handshake before the chunk stream: C0+C1+C2 or S0+S1+S2 (spec 5.2).
constexpr size_t HANDSHAKE = 1 + 1536 + 1536;

static u_char *load(const char *name, size_t *n)
{
    char path[256];
    const char *dirs[] = {"tests/data/chunk", "../tests/data/chunk", "../../tests/data/chunk"};
    for (const char *dir : dirs) {
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "rb");
        if (f == nullptr) {
            continue;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        auto *d = static_cast<u_char *>(rtmp_palloc(pool, (size_t)len));
        ck_assert_uint_eq(fread(d, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        *n = (size_t)len;
        return d;
    }
    ck_abort_msg("capture %s not found", name);
    return nullptr;
}

// Like feed() into a digest, without Check assertions: each one costs Check a write, and this
// runs once per split point. Returns RTMP_AGAIN when all of p was consumed cleanly.
static rtmp_int_t feed_quiet(rtmp_chunk_reader_t *r, const u_char *p, size_t n, digest_t *d)
{
    for (;;) {
        rtmp_message_t m;
        size_t used;
        rtmp_int_t rc = rtmp_chunk_read(r, {p, n}, &used, &m);
        p += used;
        n -= used;
        if (rc != RTMP_OK) {
            return rc == RTMP_AGAIN && n != 0 ? RTMP_ERROR : rc;
        }
        if (m.payload.size() != m.h.mlen) {
            return RTMP_ERROR;
        }
        digest_add(d, &m);
    }
}

// Every split point: [0,k) then [k,n) gives the same messages as all at once.
static void capture_splits(const u_char *p, size_t n, const digest_t *whole)
{
    rtmp_chunk_reader_conf_t conf{};
    for (size_t k = 0; k <= n; k++) {
        rtmp_pool_t *tp = rtmp_pool_create(4096, &rtmp_log_stderr_log);
        rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(tp, &conf);
        digest_t d{};
        rtmp_int_t rc1 = feed_quiet(r, p, k, &d);
        rtmp_int_t rc2 = feed_quiet(r, p + k, n - k, &d);
        rtmp_pool_destroy(tp);
        if (rc1 != RTMP_AGAIN || rc2 != RTMP_AGAIN || !digest_eq(&d, whole)) {
            ck_abort_msg("split at %zu gives a different message sequence", k);
        }
    }
}

static void capture_whole(const u_char *p, size_t n, digest_t *d)
{
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, nullptr);
    ck_assert_int_eq(feed(r, p, n, nullptr, d), RTMP_AGAIN);
    ck_assert_uint_eq(r->bytes_read, n);

    digest_t b{};
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, nullptr);
    ck_assert_int_eq(feed_bytewise(r2, p, n, nullptr, &b), RTMP_AGAIN);
    ck_assert(digest_eq(&b, d));
}

// Re-chunks every message of the capture with our writer and reads it back.
static void capture_rechunk(const u_char *p, size_t n, const digest_t *whole, uint32_t chunk_size)
{
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, nullptr);
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, nullptr);
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    rtmp_buf_t *out = rtmp_buf_create(pool, 2 * n + 4096);
    bool resized = false;
    for (;;) {
        rtmp_message_t m;
        size_t used;
        rtmp_int_t rc = rtmp_chunk_read(r, {p, n}, &used, &m);
        p += used;
        n -= used;
        if (rc != RTMP_OK) {
            ck_assert_int_eq(rc, RTMP_AGAIN);
            break;
        }
        if (m.h.type == RTMP_MSG_CHUNK_SIZE) {
            // replace the peer's chunk size with ours, once
            if (!resized) {
                rtmp_control_buf_t cb;
                rtmp_message_t cs = rtmp_control_chunk_size(&cb, chunk_size);
                ck_assert_int_eq(rtmp_chunk_write(&w, &cs, out), RTMP_OK);
                w.chunk_size = chunk_size;
                resized = true;
            }
            continue;
        }
        ck_assert_int_eq(rtmp_chunk_write(&w, &m, out), RTMP_OK);
    }
    digest_t d{};
    ck_assert_int_eq(feed(r2, out->pos, rtmp_buf_size(out), nullptr, &d), RTMP_AGAIN);
    ck_assert_uint_eq(d.count + 1 - resized, whole->count);
    ck_assert_uint_eq(d.types[RTMP_MSG_AUDIO], whole->types[RTMP_MSG_AUDIO]);
    ck_assert_uint_eq(d.types[RTMP_MSG_VIDEO], whole->types[RTMP_MSG_VIDEO]);
}

START_TEST(test_capture_publish)
{
    size_t n;
    u_char *p = load("publish_c2s.bin", &n);
    ck_assert_uint_gt(n, HANDSHAKE);
    p += HANDSHAKE;
    n -= HANDSHAKE;
    digest_t whole{};
    capture_whole(p, n, &whole);
    ck_assert(whole.connect);
    ck_assert(whole.publish);
    ck_assert_uint_ge(whole.types[RTMP_MSG_CHUNK_SIZE], 1);
    ck_assert_uint_ge(whole.types[RTMP_MSG_AMF_META], 1);
    ck_assert_uint_gt(whole.types[RTMP_MSG_AUDIO], 50);
    ck_assert_uint_gt(whole.types[RTMP_MSG_VIDEO], 50);
    capture_splits(p, n, &whole);
    capture_rechunk(p, n, &whole, 128);
    capture_rechunk(p, n, &whole, 60000);
}
END_TEST

START_TEST(test_capture_play)
{
    size_t n;
    u_char *p = load("play_s2c.bin", &n);
    ck_assert_uint_gt(n, HANDSHAKE);
    p += HANDSHAKE;
    n -= HANDSHAKE;
    digest_t whole{};
    capture_whole(p, n, &whole);
    ck_assert_uint_ge(whole.types[RTMP_MSG_USER], 1);
    ck_assert_uint_ge(whole.types[RTMP_MSG_AMF_CMD], 2);
    ck_assert_uint_gt(whole.types[RTMP_MSG_AUDIO], 20);
    ck_assert_uint_gt(whole.types[RTMP_MSG_VIDEO], 20);
    capture_splits(p, n, &whole);
    capture_rechunk(p, n, &whole, 4096);
}
END_TEST

// A restamped frame is byte for byte the frame chunked at the new time: across chunk
// boundaries, basic header sizes and the extended timestamp, both ways.
START_TEST(test_frame_restamp)
{
    static const uint32_t csids[] = {6, 100, 400};
    static const uint32_t sizes[] = {0, 1, 127, 128, 129, 300};
    static const uint32_t times[][2] = {{0, 5000}, {0, 0x1000000}, {0x1000000, 7}, {9, 9}};
    u_char payload[300];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (u_char)(i * 7 + 1);
    }
    for (uint32_t csid : csids) {
        for (uint32_t size : sizes) {
            for (const auto &t : times) {
                rtmp_message_t m = {};
                m.h = {csid, t[0], size, RTMP_MSG_VIDEO, 1};
                m.payload = std::span<const u_char>(payload, size);
                rtmp_frame_t *f = rtmp_frame_create(&m, 128, 5);
                m.h.timestamp = t[1];
                rtmp_frame_t *want = rtmp_frame_create(&m, 128, 5);
                rtmp_frame_t *got = rtmp_frame_restamp(f, t[1], 128);
                ck_assert_ptr_nonnull(got);
                ck_assert_uint_eq(got->len, want->len);
                ck_assert_uint_eq(got->header_len, want->header_len);
                ck_assert_uint_eq(got->timestamp, t[1]);
                ck_assert_uint_eq(got->flags, 5);
                ck_assert_int_eq(memcmp(got->data, want->data, want->len), 0);
                rtmp_frame_unref(f);
                rtmp_frame_unref(want);
                rtmp_frame_unref(got);
            }
        }
    }
    ck_assert_uint_eq(rtmp_frame_count(), 0);
}
END_TEST

Suite *rtmp_chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc = tcase_create("reader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fmt0);
    tcase_add_test(tc, test_fmt123);
    tcase_add_test(tc, test_fmt3_after_fmt0);
    tcase_add_test(tc, test_fmt1_fresh);
    tcase_add_test(tc, test_basic_headers);
    tcase_add_test(tc, test_multi_chunk);
    tcase_add_test(tc, test_ext_timestamp);
    tcase_add_test(tc, test_ext_timestamp_omitted);
    tcase_add_test(tc, test_ext_fmt3_new_message);
    tcase_add_test(tc, test_timestamp_wrap);
    tcase_add_test(tc, test_set_chunk_size);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_partial);
    tcase_add_test(tc, test_empty_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bad_chunk_size);
    tcase_add_test(tc, test_too_many_streams);
    tcase_add_test(tc, test_many_streams_attack);
    tcase_add_test(tc, test_message_too_long);
    tcase_add_test(tc, test_lazy_allocation);
    tcase_add_test(tc, test_protocol_violations);
    suite_add_tcase(s, tc);

    tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_writer_compression);
    tcase_add_test(tc, test_writer_chunks_ext);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_frame_restamp);
    suite_add_tcase(s, tc);

    tc = tcase_create("captures");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_capture_publish);
    tcase_add_test(tc, test_capture_play);
    suite_add_tcase(s, tc);
    return s;
}
