// Stream timelines: kept as sent, unwrapped at 2^32, stitched across jumps and reconnects.
#include "rtmp/rtmp_timeline.h"

#include <check.h>

START_TEST(test_first_publisher_kept)
{
    rtmp_timeline_t t = {};
    ck_assert_uint_eq(rtmp_timeline_map(&t, 1000), 1000);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 1040), 1040);
    // audio and video interleave slightly out of order: kept, not rebased
    ck_assert_uint_eq(rtmp_timeline_map(&t, 1021), 1021);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 1080), 1080);
}
END_TEST

START_TEST(test_32bit_wrap_is_a_small_step)
{
    rtmp_timeline_t t = {};
    ck_assert_uint_eq(rtmp_timeline_map(&t, 0xffffffd0u), 0xffffffd0u);
    // 0x30 after the wrap is 0x60 ms later: the output wraps the same way, no rebase
    ck_assert_uint_eq(rtmp_timeline_map(&t, 0x30), 0x30);
    ck_assert_int_eq(t.in_ext, 0x100000030LL);
}
END_TEST

START_TEST(test_jump_continues_after_last)
{
    rtmp_timeline_t t = {};
    (void)rtmp_timeline_map(&t, 5000);
    (void)rtmp_timeline_map(&t, 5040);
    // the encoder's clock leaps 1 h ahead, then back to 0
    ck_assert_uint_eq(rtmp_timeline_map(&t, 3605040), 5041);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 3605080), 5081);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 0), 5082);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 40), 5122);
}
END_TEST

START_TEST(test_now_does_not_move_it)
{
    rtmp_timeline_t t = {};
    ck_assert_uint_eq(rtmp_timeline_now(&t), 0);
    ck_assert(!t.started);
    // a late player's GOP: headers keep their time, whether 0 or the GOP's, and the key
    // frame keeps its own
    ck_assert_uint_eq(rtmp_timeline_place(&t, 0), 0);
    ck_assert_uint_eq(rtmp_timeline_place(&t, 30000), 30000);
    ck_assert(!t.started);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 30000), 30000);
    ck_assert_uint_eq(rtmp_timeline_now(&t), 30000);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 30040), 30040);
    // a new publisher's headers go where its first frame will
    rtmp_timeline_restart(&t);
    ck_assert_uint_eq(rtmp_timeline_now(&t), 30041);
    ck_assert_uint_eq(rtmp_timeline_place(&t, 0), 30041);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 0), 30041);
    ck_assert_uint_eq(rtmp_timeline_now(&t), 30041);
}
END_TEST

// A publisher stepping back past the timeline's start (its clock near 0) gets a break, not
// a time below 0, which as 32 bits is 49 days ahead.
START_TEST(test_step_back_before_start)
{
    rtmp_timeline_t t = {};
    ck_assert_uint_eq(rtmp_timeline_map(&t, 2000), 2000);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 1000), 1000); // back, still after the start
    ck_assert_uint_eq(rtmp_timeline_map(&t, 2040), 2040);
    ck_assert_uint_eq(rtmp_timeline_map(&t, (uint32_t)-3000), 2041); // 5 s back: below 0
    ck_assert_uint_eq(rtmp_timeline_map(&t, (uint32_t)-2960), 2081);
    for (uint32_t in = 0; in < 200000; in += 7919) {
        uint32_t out = rtmp_timeline_map(&t, in - 5000);
        ck_assert_uint_lt(out, 1u << 31);
    }
}
END_TEST

START_TEST(test_reconnect_stays_monotonic)
{
    rtmp_timeline_t t = {};
    uint32_t last = 0;
    for (uint32_t ts = 0; ts <= 8000; ts += 40) {
        last = rtmp_timeline_map(&t, ts);
    }
    rtmp_timeline_restart(&t); // a new publisher, starting again at 0
    uint32_t first = rtmp_timeline_map(&t, 0);
    ck_assert_uint_gt(first, last);
    ck_assert_uint_eq(rtmp_timeline_map(&t, 40), first + 40);
}
END_TEST

Suite *rtmp_timeline_suite(void)
{
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("timeline");
    tcase_add_test(tc, test_first_publisher_kept);
    tcase_add_test(tc, test_32bit_wrap_is_a_small_step);
    tcase_add_test(tc, test_jump_continues_after_last);
    tcase_add_test(tc, test_reconnect_stays_monotonic);
    tcase_add_test(tc, test_now_does_not_move_it);
    tcase_add_test(tc, test_step_back_before_start);
    suite_add_tcase(s, tc);
    return s;
}
