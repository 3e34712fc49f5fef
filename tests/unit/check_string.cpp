// Number, size and time parsing used by the configuration.
#include "core/rtmp_core.h"
#include "core/rtmp_text.h"

#include <check.h>
#include <string>

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

START_TEST(test_utf8)
{
    // well-formed: ASCII, 2, 3 and 4 bytes, the ends of each range
    for (std::string_view ok :
         {"", "abc", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xef\xbf\xbd",
          "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"}) {
        ck_assert_msg(rtmp_utf8_valid(ok), "refused %zu bytes", ok.size());
    }
    // stray continuation, overlong forms, surrogates, above U+10FFFF, cut short, 0xff
    for (std::string_view bad :
         {"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf0\x8f\xbf\xbf",
          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "ab\xc3", "\xff",
          "a\xfe"
          "b"}) {
        ck_assert_msg(!rtmp_utf8_valid(bad), "took %zu bytes", bad.size());
    }
    ck_assert_uint_eq(rtmp_utf8_len("\xe2\x82\xac!"), 3);
    ck_assert_uint_eq(rtmp_utf8_len("\xe2\x82"), 0);
}
END_TEST

START_TEST(test_json_escape)
{
    std::string out;
    rtmp_json_escape(std::string_view("a\"b\\c\n\x1b\x7f\xc3\xa9\xff\xc0\xafz"),
                     [&out](std::string_view piece) { out.append(piece); });
    ck_assert_str_eq(out.c_str(), "a\\\"b\\\\c\\u000a\\u001b\\u007f\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd"
                                  "\xef\xbf\xbdz");
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
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_json_escape);
    suite_add_tcase(s, tc);
    return s;
}
