// Number, size and time parsing used by the configuration.
#include "core/rtmp_core.h"

#include <check.h>

START_TEST(test_query_arg)
{
    bool found;
    ck_assert(rtmp_query_arg("a=1&b=2", "b") == "2");
    ck_assert(rtmp_query_arg("a=1&b", "b", &found) == "" && found);
    ck_assert(rtmp_query_arg("ab=1", "a", &found) == "" && !found);
    ck_assert(rtmp_query_arg("", "a") == "");
    ck_assert(rtmp_query_arg("a=x=y", "a") == "x=y");
    ck_assert(rtmp_query_arg("a=1&a=2", "a") == "1");
}
END_TEST

START_TEST(test_atoi)
{
    ck_assert_int_eq(rtmp_atoi("0"), 0);
    ck_assert_int_eq(rtmp_atoi("1935"), 1935);
    ck_assert_int_eq(rtmp_atoi("9223372036854775807"), INT64_MAX);
    ck_assert_int_eq(rtmp_atoi("9223372036854775808"), RTMP_ERROR);
    ck_assert_int_eq(rtmp_atoi(""), RTMP_ERROR);
    ck_assert_int_eq(rtmp_atoi("-1"), RTMP_ERROR);
    ck_assert_int_eq(rtmp_atoi("12a"), RTMP_ERROR);
}
END_TEST

START_TEST(test_sizes)
{
    ck_assert_int_eq(rtmp_parse_size("4096"), 4096);
    ck_assert_int_eq(rtmp_parse_size("4k"), 4096);
    ck_assert_int_eq(rtmp_parse_size("16M"), 16 << 20);
    ck_assert_int_eq(rtmp_parse_size("1g"), 1 << 30);
    ck_assert_int_eq(rtmp_parse_size("k"), -1);
    ck_assert_int_eq(rtmp_parse_size("4kb"), -1);
    ck_assert_int_eq(rtmp_parse_size("99999999999999999g"), -1);
}
END_TEST

START_TEST(test_times)
{
    ck_assert_int_eq(rtmp_parse_time("30"), 30000);
    ck_assert_int_eq(rtmp_parse_time("500ms"), 500);
    ck_assert_int_eq(rtmp_parse_time("10s"), 10000);
    ck_assert_int_eq(rtmp_parse_time("2m"), 120000);
    ck_assert_int_eq(rtmp_parse_time("1h"), 3600000);
    ck_assert_int_eq(rtmp_parse_time("1d"), 86400000);
    ck_assert_int_eq(rtmp_parse_time("ms"), -1);
    ck_assert_int_eq(rtmp_parse_time("10x"), -1);
    ck_assert_int_eq(rtmp_parse_time(""), -1);
}
END_TEST

Suite *rtmp_string_suite(void)
{
    Suite *s = suite_create("string");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_atoi);
    tcase_add_test(tc, test_query_arg);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_times);
    suite_add_tcase(s, tc);
    return s;
}
