// Unit tests for the HLS playlist model: window sliding, target duration, discontinuities, text.
#include <check.h>
#include <cstdio>

#include "core/rtmp_log.h"
#include "hls/rtmp_m3u8.h"

static rtmp_pool_t *pool;
static rtmp_m3u8_t pl;

// Sequence numbers of the segments that left the window, in order.
static uint64_t gone[64];
static uint32_t ngone;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    ngone = 0;
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

static void on_removed(void *data, const rtmp_m3u8_segment_t *seg)
{
    ck_assert_ptr_eq(data, &pl);
    ck_assert_uint_lt(ngone, 64);
    char uri[64];
    snprintf(uri, sizeof(uri), "s-%llu.ts", (unsigned long long)seg->sequence);
    ck_assert_str_eq(seg->uri, uri);
    gone[ngone++] = seg->sequence;
}

static void add(double duration)
{
    char uri[64];
    snprintf(uri, sizeof(uri), "s-%llu.ts", (unsigned long long)rtmp_m3u8_next_sequence(&pl));
    ck_assert_int_eq(rtmp_m3u8_add(&pl, duration, uri, on_removed, &pl), RTMP_OK);
}

static void assert_render(const char *want)
{
    rtmp_buf_t *b = rtmp_buf_create(pool, rtmp_m3u8_render_size(&pl));
    ck_assert_int_eq(rtmp_m3u8_render(&pl, b), RTMP_OK);
    ck_assert_uint_le(rtmp_buf_size(b), rtmp_m3u8_render_size(&pl));
    *b->last = '\0'; // render_size leaves room
    ck_assert_str_eq(reinterpret_cast<const char *>(b->pos), want);
}

START_TEST(test_m3u8_render)
{
    rtmp_m3u8_init(&pl, pool, 5, 0, 0);
    add(4.0);
    add(4.5);
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n"
                  "#EXT-X-TARGETDURATION:5\n"
                  "#EXTINF:4.000,\n"
                  "s-0.ts\n"
                  "#EXTINF:4.500,\n"
                  "s-1.ts\n");

    rtmp_m3u8_end(&pl);
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n"
                  "#EXT-X-TARGETDURATION:5\n"
                  "#EXTINF:4.000,\n"
                  "s-0.ts\n"
                  "#EXTINF:4.500,\n"
                  "s-1.ts\n"
                  "#EXT-X-ENDLIST\n");

    // too small a buffer: nothing written
    rtmp_buf_t *b = rtmp_buf_create(pool, 40);
    ck_assert_int_eq(rtmp_m3u8_render(&pl, b), RTMP_ERROR);
    ck_assert_ptr_eq(b->last, b->start);

    // bad input changes nothing
    char uri[RTMP_M3U8_URI + 1];
    memset(uri, 'a', sizeof(uri));
    ck_assert_int_eq(rtmp_m3u8_add(&pl, 1, {uri, RTMP_M3U8_URI}, nullptr, nullptr), RTMP_ERROR);
    ck_assert_int_eq(rtmp_m3u8_add(&pl, -1, "x.ts", nullptr, nullptr), RTMP_ERROR);
    ck_assert_int_eq(rtmp_m3u8_add(&pl, 0.0 / 0.0, "x.ts", nullptr, nullptr), RTMP_ERROR);
    ck_assert_uint_eq(pl.count, 2);
    ck_assert_uint_eq(rtmp_m3u8_next_sequence(&pl), 2);
    ck_assert(pl.ended);
    // a new segment: live again
    ck_assert_int_eq(rtmp_m3u8_add(&pl, 1, {uri, RTMP_M3U8_URI - 1}, nullptr, nullptr), RTMP_OK);
    ck_assert(!pl.ended);
}
END_TEST

START_TEST(test_m3u8_window_segments)
{
    rtmp_m3u8_init(&pl, pool, 3, 0, 100);
    add(2.0);
    add(6.2);
    add(2.0);
    ck_assert_uint_eq(ngone, 0);
    add(2.0);
    add(2.0);
    ck_assert_uint_eq(ngone, 2);
    ck_assert_uint_eq(gone[0], 100);
    ck_assert_uint_eq(gone[1], 101);
    // the 6.2 s segment is gone; the target duration stays 6
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:102\n"
                  "#EXT-X-TARGETDURATION:6\n"
                  "#EXTINF:2.000,\n"
                  "s-102.ts\n"
                  "#EXTINF:2.000,\n"
                  "s-103.ts\n"
                  "#EXTINF:2.000,\n"
                  "s-104.ts\n");
    ck_assert_uint_eq(rtmp_m3u8_segment(&pl, 2)->sequence, 104);
    ck_assert_ptr_null(rtmp_m3u8_segment(&pl, 3));
}
END_TEST

START_TEST(test_m3u8_window_time)
{
    rtmp_m3u8_init(&pl, pool, 16, 12, 0);
    for (int i = 0; i < 3; i++) {
        add(4.0);
    }
    ck_assert_uint_eq(pl.count, 3);
    // 16 s held, 12 s without the oldest: still the window and 3 target durations
    add(4.0);
    ck_assert_uint_eq(pl.count, 3);
    ck_assert_uint_eq(ngone, 1);
    ck_assert_double_eq_tol(pl.total, 12.0, 1e-9);
    // a long segment raises the target to 8: 24 s must stay, nothing leaves
    add(8.0);
    ck_assert_uint_eq(ngone, 1);
    ck_assert_uint_eq(pl.count, 4);
    add(4.0);
    add(12.0); // target 12: 36 s must stay
    ck_assert_uint_eq(ngone, 1);
    // 48 s: three leave at once, then two
    add(12.0);
    ck_assert_uint_eq(ngone, 4);
    add(12.0);
    ck_assert_uint_eq(ngone, 6);
    ck_assert_uint_eq(rtmp_m3u8_segment(&pl, 0)->sequence, 6);
    ck_assert_double_eq_tol(pl.total, 36.0, 1e-9);

    // RFC 8216 6.2.2: a 6 s window still keeps 3 target durations
    rtmp_m3u8_init(&pl, pool, 16, 6, 0);
    ngone = 0;
    for (int i = 0; i < 6; i++) {
        add(4.0);
    }
    ck_assert_uint_eq(pl.count, 3);
    ck_assert_uint_eq(ngone, 3);
}
END_TEST

START_TEST(test_m3u8_target_duration)
{
    rtmp_m3u8_init(&pl, pool, 8, 0, 0);
    add(4.0004); // renders as 4.000
    ck_assert_uint_eq(pl.target, 4);
    // rounded to the nearest: 29.97 fps cuts "2 s" at 2.002 s
    add(4.002);
    ck_assert_uint_eq(pl.target, 4);
    add(4.4996); // renders as 4.500: half up
    ck_assert_uint_eq(pl.target, 5);
    add(1.0);
    ck_assert_uint_eq(pl.target, 5);
    add(0);
    ck_assert_uint_eq(pl.target, 5);

    // empty: the next sequence number, a target of at least 1
    rtmp_m3u8_init(&pl, pool, 8, 0, 7);
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:7\n"
                  "#EXT-X-TARGETDURATION:1\n");
}
END_TEST

START_TEST(test_m3u8_discontinuity)
{
    rtmp_m3u8_init(&pl, pool, 3, 0, 0);
    add(3.0);
    rtmp_m3u8_discontinuity(&pl); // the publisher came back
    add(2.5);
    add(3.0);
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n"
                  "#EXT-X-TARGETDURATION:3\n"
                  "#EXTINF:3.000,\n"
                  "s-0.ts\n"
                  "#EXT-X-DISCONTINUITY\n"
                  "#EXTINF:2.500,\n"
                  "s-1.ts\n"
                  "#EXTINF:3.000,\n"
                  "s-2.ts\n");
    add(3.0);
    add(3.0);
    // the tag left with its segment: the discontinuity sequence says so
    assert_render("#EXTM3U\n"
                  "#EXT-X-VERSION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:2\n"
                  "#EXT-X-TARGETDURATION:3\n"
                  "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
                  "#EXTINF:3.000,\n"
                  "s-2.ts\n"
                  "#EXTINF:3.000,\n"
                  "s-3.ts\n"
                  "#EXTINF:3.000,\n"
                  "s-4.ts\n");
}
END_TEST

START_TEST(test_m3u8_cut)
{
    // with video: only at a key frame, once the fragment is long enough
    ck_assert(!rtmp_m3u8_should_cut(1000, 2000, true, true, 2000, 0));
    ck_assert(!rtmp_m3u8_should_cut(1000, 3000, true, false, 2000, 0));
    ck_assert(rtmp_m3u8_should_cut(1000, 3000, true, true, 2000, 0));
    ck_assert(rtmp_m3u8_should_cut(1000, 9000, true, true, 2000, 0));
    // key frames stopped: cut anyway at the maximum
    ck_assert(!rtmp_m3u8_should_cut(1000, 10999, true, false, 2000, 10000));
    ck_assert(rtmp_m3u8_should_cut(1000, 11000, true, false, 2000, 10000));
    // audio-only: by time
    ck_assert(!rtmp_m3u8_should_cut(1000, 2999, false, false, 2000, 0));
    ck_assert(rtmp_m3u8_should_cut(1000, 3000, false, false, 2000, 0));
    // time going backwards is no time passing
    ck_assert(!rtmp_m3u8_should_cut(5000, 1000, true, true, 2000, 10000));
}
END_TEST

// The playlist rendered now, NUL-terminated in the pool.
static const char *rendered(const rtmp_m3u8_t *p)
{
    rtmp_buf_t *b = rtmp_buf_create(pool, rtmp_m3u8_render_size(p) + 1);
    ck_assert_int_eq(rtmp_m3u8_render(p, b), RTMP_OK);
    *b->last = '\0';
    return reinterpret_cast<const char *>(b->pos);
}

START_TEST(test_m3u8_parse_round_trip)
{
    // a playlist with a discontinuity that slid out, one in the window, and its end
    rtmp_m3u8_init(&pl, pool, 4, 0, 7);
    rtmp_m3u8_discontinuity(&pl);
    add(2.0);
    add(2.5);
    add(6.1);
    add(2.0);
    rtmp_m3u8_discontinuity(&pl);
    add(1.234);
    rtmp_m3u8_end(&pl);
    ck_assert_uint_eq(pl.discontinuity_sequence, 1);
    const char *text = rendered(&pl);

    rtmp_m3u8_t back;
    rtmp_m3u8_init(&back, pool, 4, 0, 0);
    ngone = 0;
    ck_assert_int_eq(rtmp_m3u8_parse(&back, text, "s-", on_removed, &pl), RTMP_OK);
    ck_assert_uint_eq(ngone, 0);
    ck_assert_uint_eq(back.count, 4);
    ck_assert_uint_eq(back.target, 6);
    ck_assert_uint_eq(back.discontinuity_sequence, 1);
    ck_assert_uint_eq(rtmp_m3u8_next_sequence(&back), 12);
    ck_assert(!back.discontinuity);
    // the end is not kept: the publisher came back
    rtmp_m3u8_end(&back);
    ck_assert_str_eq(rendered(&back), text);

    // and it goes on: a discontinuity before the next segment, numbered after the last
    rtmp_m3u8_discontinuity(&back);
    char uri[64];
    snprintf(uri, sizeof(uri), "s-%llu.ts", (unsigned long long)rtmp_m3u8_next_sequence(&back));
    ck_assert_int_eq(rtmp_m3u8_add(&back, 2.0, uri, on_removed, &pl), RTMP_OK);
    ck_assert_uint_eq(ngone, 1);
    ck_assert_uint_eq(gone[0], 8);
    ck_assert_str_eq(rtmp_m3u8_segment(&back, 3)->uri, "s-12.ts");
    ck_assert(rtmp_m3u8_segment(&back, 3)->discontinuity);
    // s-8 had no discontinuity: the sequence stays
    ck_assert_uint_eq(back.discontinuity_sequence, 1);
}
END_TEST

START_TEST(test_m3u8_parse_window)
{
    // a longer playlist read into a smaller window: what falls out is reported, in order
    const char *text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:3\n"
                       "#EXT-X-TARGETDURATION:2\n"
                       "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\ns-3.ts\n"
                       "#EXTINF:2.000,\ns-4.ts\n#EXTINF:2.000,\ns-5.ts\n"
                       "#EXTINF:2.000,\ns-6.ts\n#EXTINF:2.000,\ns-7.ts\n";
    rtmp_m3u8_init(&pl, pool, 3, 0, 0);
    ck_assert_int_eq(rtmp_m3u8_parse(&pl, text, "s-", on_removed, &pl), RTMP_OK);
    ck_assert_uint_eq(ngone, 2);
    ck_assert_uint_eq(gone[0], 3);
    ck_assert_uint_eq(gone[1], 4);
    ck_assert_uint_eq(pl.discontinuity_sequence, 1); // s-3's discontinuity left with it
    ck_assert_uint_eq(rtmp_m3u8_next_sequence(&pl), 8);

    // an empty playlist keeps its numbering
    rtmp_m3u8_init(&pl, pool, 3, 0, 0);
    ck_assert_int_eq(rtmp_m3u8_parse(&pl,
                                     "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:42\n"
                                     "#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n",
                                     "s-", on_removed, &pl),
                     RTMP_OK);
    ck_assert_uint_eq(pl.count, 0);
    ck_assert_uint_eq(rtmp_m3u8_next_sequence(&pl), 42);
    ck_assert_uint_eq(pl.target, 4);

    // CRLF line ends and titles after the duration are read too
    rtmp_m3u8_init(&pl, pool, 3, 0, 0);
    ck_assert_int_eq(rtmp_m3u8_parse(&pl,
                                     "#EXTM3U\r\n#EXT-X-MEDIA-SEQUENCE:1\r\n"
                                     "#EXTINF:1.5,title\r\ns-1.ts\r\n",
                                     "s-", on_removed, &pl),
                     RTMP_OK);
    ck_assert_uint_eq(pl.count, 1);
    ck_assert_double_eq_tol(rtmp_m3u8_segment(&pl, 0)->duration, 1.5, 1e-9);
}
END_TEST

START_TEST(test_m3u8_parse_declined)
{
    static const char *const bad[] = {
        "",
        "#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\ns-1.ts\n",          // no #EXTM3U
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nx-1.ts\n", // another prefix
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\ns-2.ts\n", // not its number
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\ns-1.mp4\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\n../s-1.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\ns-+1.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\ns-1.ts\n", // no EXTINF
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:-2,\ns-1.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:nan,\ns-1.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2x,\ns-1.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:99999999999999999999999\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\n",         // EXTINF without its URI
        "#EXTM3U\n#EXTINF:2,\ns-0.ts\n#EXT-X-MEDIA-SEQUENCE:1\n", // sequence too late
    };
    for (const char *text : bad) {
        rtmp_m3u8_init(&pl, pool, 3, 0, 5);
        ck_assert_msg(rtmp_m3u8_parse(&pl, text, "s-", on_removed, &pl) == RTMP_DECLINED, "%s",
                      text);
        ck_assert_uint_eq(pl.count, 0);
        ck_assert_uint_eq(rtmp_m3u8_next_sequence(&pl), 5);
        ck_assert_uint_eq(pl.target, 0);
        ck_assert_uint_eq(ngone, 0);
    }
    // nested layout: no prefix at all
    rtmp_m3u8_init(&pl, pool, 3, 0, 0);
    ck_assert_int_eq(rtmp_m3u8_parse(&pl, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:9\n#EXTINF:2,\n9.ts\n",
                                     "", nullptr, nullptr),
                     RTMP_OK);
    ck_assert_str_eq(rtmp_m3u8_segment(&pl, 0)->uri, "9.ts");
}
END_TEST

Suite *rtmp_m3u8_suite(void)
{
    Suite *s = suite_create("m3u8");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_m3u8_render);
    tcase_add_test(tc, test_m3u8_window_segments);
    tcase_add_test(tc, test_m3u8_window_time);
    tcase_add_test(tc, test_m3u8_target_duration);
    tcase_add_test(tc, test_m3u8_discontinuity);
    tcase_add_test(tc, test_m3u8_cut);
    tcase_add_test(tc, test_m3u8_parse_round_trip);
    tcase_add_test(tc, test_m3u8_parse_window);
    tcase_add_test(tc, test_m3u8_parse_declined);
    suite_add_tcase(s, tc);
    return s;
}
