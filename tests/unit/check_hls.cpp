// Unit tests for the HLS module's I/O-free parts: which names become files, write-time quantiles.
#include <check.h>

#include "hls/rtmp_hls.h"

START_TEST(test_hls_name_ok)
{
    ck_assert(rtmp_hls_name_ok("test"));
    ck_assert(rtmp_hls_name_ok("cam-1_HD.v2~x"));
    char longest[202];
    memset(longest, 'a', sizeof(longest));
    ck_assert(rtmp_hls_name_ok(std::string_view(longest, 200)));
    ck_assert(!rtmp_hls_name_ok(std::string_view(longest, 201)));
    ck_assert(!rtmp_hls_name_ok(""));
    ck_assert(!rtmp_hls_name_ok("."));
    ck_assert(!rtmp_hls_name_ok(".."));
    ck_assert(!rtmp_hls_name_ok(".hidden"));
    ck_assert(!rtmp_hls_name_ok("a/b"));
    ck_assert(!rtmp_hls_name_ok("../etc"));
    ck_assert(!rtmp_hls_name_ok("a b"));
    ck_assert(!rtmp_hls_name_ok("a?b"));
    ck_assert(!rtmp_hls_name_ok("a#b"));
    ck_assert(!rtmp_hls_name_ok("a%2fb"));
    ck_assert(!rtmp_hls_name_ok("a\\b"));
    ck_assert(!rtmp_hls_name_ok(std::string_view("a\0b", 3)));
    ck_assert(!rtmp_hls_name_ok("caf\xc3\xa9"));
}
END_TEST

START_TEST(test_hls_hist)
{
    rtmp_hls_hist_t h{};
    ck_assert_uint_eq(rtmp_hls_hist_quantile(&h, 0.99), 0);
    // 990 quick writes and 10 slow ones: p99 is among the quick, the maximum is exact
    for (int i = 0; i < 990; i++) {
        rtmp_hls_hist_add(&h, 40);
    }
    for (int i = 0; i < 10; i++) {
        rtmp_hls_hist_add(&h, 5000 + (uint64_t)i);
    }
    ck_assert_uint_eq(h.n, 1000);
    ck_assert_uint_eq(h.max, 5009);
    ck_assert_uint_eq(h.total, 990 * 40 + 10 * 5000 + 45);
    uint64_t p99 = rtmp_hls_hist_quantile(&h, 0.99);
    ck_assert_uint_ge(p99, 40);
    ck_assert_uint_le(p99, 48); // within a bucket: 19 %
    uint64_t p999 = rtmp_hls_hist_quantile(&h, 0.999);
    ck_assert_uint_ge(p999, 5000);
    ck_assert_uint_le(p999, 5009); // never above the maximum
    ck_assert_uint_eq(rtmp_hls_hist_quantile(&h, 1.0), 5009);

    // zero and huge durations land in the end buckets
    rtmp_hls_hist_t z{};
    rtmp_hls_hist_add(&z, 0);
    ck_assert_uint_eq(rtmp_hls_hist_quantile(&z, 0.5), 0);
    rtmp_hls_hist_add(&z, 1ull << 40);
    ck_assert_uint_eq(rtmp_hls_hist_quantile(&z, 1.0), 1ull << 40);
}
END_TEST

Suite *rtmp_hls_suite(void)
{
    Suite *s = suite_create("hls");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hls_name_ok);
    tcase_add_test(tc, test_hls_hist);
    suite_add_tcase(s, tc);
    return s;
}
