// Exec templates: blank splitting, $variables in argv elements, and hostile values.
#include "rtmp/rtmp_exec_argv.h"

#include <check.h>
#include <string>

static const rtmp_exec_var_t vars[] = {
    {"app", "live"},
    {"name", "cam1"},
    {"addr", "127.0.0.1"},
    {"args", "key=s3cret&w=640"},
};

static std::string expand(std::string_view tmpl, size_t len = 256)
{
    char out[4096];
    ssize_t n = rtmp_exec_expand(tmpl, vars, rtmp_nelems(vars), out, len);
    return n < 0 ? std::string("<error>") : std::string(out, (size_t)n);
}

// The expansion is compared while it lives (a temporary's c_str() would not outlive the macro).
static void expect(std::string_view tmpl, const char *want, size_t len = 256)
{
    std::string got = expand(tmpl, len);
    ck_assert_msg(got == want, "\"%.*s\" expands to \"%s\", not \"%s\"", (int)tmpl.size(),
                  tmpl.data(), got.c_str(), want);
}

START_TEST(test_split_blanks)
{
    std::string_view w[8];
    ck_assert_int_eq(rtmp_exec_split("  ffmpeg\t-i  rtmp://x/$name \n-f flv ", w, 8), 5);
    ck_assert(w[0] == "ffmpeg");
    ck_assert(w[1] == "-i");
    ck_assert(w[2] == "rtmp://x/$name");
    ck_assert(w[3] == "-f");
    ck_assert(w[4] == "flv");
    ck_assert_int_eq(rtmp_exec_split("", w, 8), 0);
    ck_assert_int_eq(rtmp_exec_split(" \t ", w, 8), 0);
    // quotes are bytes like any other: no shell rules
    ck_assert_int_eq(rtmp_exec_split("echo 'a b'", w, 8), 3);
    ck_assert(w[1] == "'a");
    ck_assert(w[2] == "b'");
}
END_TEST

START_TEST(test_split_too_many)
{
    std::string_view w[3];
    ck_assert_int_eq(rtmp_exec_split("a b c", w, 3), 3);
    ck_assert_int_eq(rtmp_exec_split("a b c d", w, 3), -1);
}
END_TEST

START_TEST(test_expand_forms)
{
    expect("rtmp://127.0.0.1:1935/$app/$name", "rtmp://127.0.0.1:1935/live/cam1");
    expect("${name}_360p", "cam1_360p");
    expect("$name.flv", "cam1.flv");
    expect("k=${args.key}", "k=s3cret");
    expect("[${args.missing}]", "[]");
    expect("$args", "key=s3cret&w=640");
    expect("cost $$5 at $addr", "cost $5 at 127.0.0.1");
    expect("plain", "plain");
    expect("", "");
}
END_TEST

START_TEST(test_expand_refused)
{
    expect("$name_360p", "<error>"); // no variable "name_360p"
    expect("${nope}", "<error>");
    expect("a $ b", "<error>");
    expect("a$", "<error>");
    expect("${name", "<error>");
    expect("${}", "<error>");
    expect("${args.}", "<error>");
}
END_TEST

START_TEST(test_expand_bounds)
{
    // "live/cam1" is 9 bytes: it needs 10 with the NUL
    expect("$app/$name", "live/cam1", 10);
    expect("$app/$name", "<error>", 9);
    expect("", "", 1);
    char out[1];
    ck_assert_int_eq(rtmp_exec_expand("", vars, rtmp_nelems(vars), out, 0), -1);
}
END_TEST

// A stream name full of shell syntax stays one argv element, byte for byte.
START_TEST(test_expand_hostile_value)
{
    const char *evil = "x;touch${IFS}/tmp/owned $(id) `id` $name \"'\n|&>";
    rtmp_exec_var_t v[] = {{"name", evil}};
    char out[256];
    ssize_t n = rtmp_exec_expand("$name", v, 1, out, sizeof(out));
    ck_assert_int_eq(n, (ssize_t)strlen(evil));
    ck_assert_str_eq(out, evil);
    n = rtmp_exec_expand("pre-${name}-post", v, 1, out, sizeof(out));
    std::string want = std::string("pre-") + evil + "-post";
    ck_assert_str_eq(out, want.c_str());
}
END_TEST

START_TEST(test_check)
{
    const std::string_view names[] = {"app", "name", "args"};
    ck_assert_ptr_null(rtmp_exec_check("rtmp://h/$app/${name}?k=${args.key}$$", names, 3));
    ck_assert_ptr_nonnull(rtmp_exec_check("$addr", names, 3));
    ck_assert_ptr_nonnull(rtmp_exec_check("$name_360p", names, 3));
    ck_assert_ptr_nonnull(rtmp_exec_check("cost $", names, 3));
    ck_assert_ptr_nonnull(rtmp_exec_check("${name", names, 3));
    const std::string_view more[] = {"app", "name", "args", "path"};
    ck_assert_ptr_null(rtmp_exec_check("$path", more, 4));
}
END_TEST

Suite *rtmp_exec_argv_suite(void)
{
    Suite *s = suite_create("exec_argv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_split_blanks);
    tcase_add_test(tc, test_split_too_many);
    tcase_add_test(tc, test_expand_forms);
    tcase_add_test(tc, test_expand_refused);
    tcase_add_test(tc, test_expand_bounds);
    tcase_add_test(tc, test_expand_hostile_value);
    tcase_add_test(tc, test_check);
    suite_add_tcase(s, tc);
    return s;
}
