// Pull: the order origins are tried in, the back-off between rounds, pull_static entries,
// and an origin URL's names for a pulled stream.
#include "rtmp/rtmp_pull.h"
#include "rtmp/rtmp_push.h"

#include <check.h>

START_TEST(test_failover_round)
{
    rtmp_pull_failover_t f = {};
    // three origins: the second and third at once, then a back-off from the first
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 0);
    ck_assert_uint_eq(f.origin, 1);
    ck_assert(!f.exhausted);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 0);
    ck_assert_uint_eq(f.origin, 2);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 1000);
    ck_assert_uint_eq(f.origin, 0);
    ck_assert(f.exhausted);
    // the next round waits twice as long
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 0);
    ck_assert(!f.exhausted);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 0);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 3, false, 30000, 0), 2000);
    ck_assert_uint_eq(f.origin, 0);
}
END_TEST

START_TEST(test_failover_one_origin_backoff)
{
    rtmp_pull_failover_t f = {};
    rtmp_msec_t waits[] = {1000, 2000, 4000, 5000, 5000};
    for (rtmp_msec_t w : waits) {
        ck_assert_uint_eq(rtmp_pull_failover_next(&f, 1, false, 5000, 0), w);
        ck_assert_uint_eq(f.origin, 0);
        ck_assert(f.exhausted);
    }
    // jitter: up to a quarter more
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 1, false, 5000, 1250), 5000 + 1250);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 1, false, 5000, 1251), 5000);
}
END_TEST

START_TEST(test_failover_drop_after_playing)
{
    rtmp_pull_failover_t f = {};
    // the first origin failed, the second played, then dropped: back to the first, after
    // the minimum wait, and the round is not counted as failed
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 2, false, 30000, 0), 0);
    ck_assert_uint_eq(f.origin, 1);
    rtmp_pull_failover_reset(&f);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 2, true, 30000, 0), 1000);
    ck_assert_uint_eq(f.origin, 0);
    ck_assert(!f.exhausted);
    ck_assert_uint_eq(rtmp_pull_failover_next(&f, 2, false, 30000, 0), 0);
    ck_assert_uint_eq(f.origin, 1);
}
END_TEST

START_TEST(test_parse_static)
{
    std::string_view name, args;
    ck_assert_ptr_null(rtmp_pull_parse_static("cam1", &name, &args));
    ck_assert(name == "cam1");
    ck_assert(args.empty());
    ck_assert_ptr_null(rtmp_pull_parse_static("cam2?token=abc&x=1", &name, &args));
    ck_assert(name == "cam2");
    ck_assert(args == "token=abc&x=1");
    ck_assert_ptr_nonnull(rtmp_pull_parse_static("", &name, &args));
    ck_assert_ptr_nonnull(rtmp_pull_parse_static("?a=1", &name, &args));
    ck_assert_ptr_nonnull(rtmp_pull_parse_static("a\nb", &name, &args));
    char big[RTMP_MAX_NAME + 2];
    memset(big, 'n', sizeof(big));
    ck_assert_ptr_nonnull(rtmp_pull_parse_static(std::string_view(big, sizeof(big)), &name, &args));
    ck_assert_ptr_null(rtmp_pull_parse_static(std::string_view(big, RTMP_MAX_NAME), &name, &args));
}
END_TEST

START_TEST(test_origin_names)
{
    rtmp_push_url_t u;
    rtmp_push_names_t n;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmp://[::1]:1937/origin", &u));
    ck_assert(rtmp_push_url_names(&u, "live", "s", "", &n));
    ck_assert_str_eq(n.app, "origin");
    ck_assert_str_eq(n.name, "s");
    ck_assert_str_eq(n.tc_url, "rtmp://[::1]:1937/origin");
    ck_assert_ptr_null(
        rtmp_push_parse_url("rtmp://127.0.0.1/${app}/in/${name}?t=${args.token}", &u));
    ck_assert(rtmp_push_url_names(&u, "edge", "cam", "token=T", &n));
    ck_assert_str_eq(n.app, "edge");
    ck_assert_str_eq(n.name, "in/cam?t=T");
    ck_assert_str_eq(n.tc_url, "rtmp://127.0.0.1/edge");
}
END_TEST

Suite *rtmp_pull_suite(void)
{
    Suite *s = suite_create("pull");
    TCase *tc = tcase_create("failover");
    tcase_add_test(tc, test_failover_round);
    tcase_add_test(tc, test_failover_one_origin_backoff);
    tcase_add_test(tc, test_failover_drop_after_playing);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_test(tc, test_parse_static);
    tcase_add_test(tc, test_origin_names);
    suite_add_tcase(s, tc);
    return s;
}
