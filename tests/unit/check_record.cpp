// Unit tests for the record module's pure parts: path templates, safe names, manual starts.
#include <check.h>
#include <climits>
#include <cstdlib>
#include <ctime>

#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_record.h"

#include <cstdio>
#include <unistd.h>

static char dir[64];
static char error[600];
static char conf_path[128];

static void setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_record_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/rtmp.conf", dir);
}

static void teardown()
{
    unlink(conf_path);
    rmdir(dir);
}

// A config with `app` inside one application block, starting on line 3.
static rtmp_cycle_t *read_app(const char *app)
{
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "rtmp = { server = ( { listen = 1935;\n application = ( { name = \"live\";\n"
            "%s\n } ); } ); };\n",
            app);
    fclose(f);
    error[0] = '\0';
    return rtmp_cycle_read(conf_path, error, sizeof(error));
}

static void assert_refused(const char *app, int line, const char *what)
{
    rtmp_cycle_t *cycle = read_app(app);
    ck_assert_msg(cycle == nullptr, "accepted: %s", app);
    char where[200];
    snprintf(where, sizeof(where), "%s:%d: ", conf_path, line);
    ck_assert_msg(strstr(error, where) != nullptr, "expected \"%s\" in \"%s\"", where, error);
    ck_assert_msg(strstr(error, what) != nullptr, "expected \"%s\" in \"%s\"", what, error);
}

static rtmp_record_app_conf_t *app_conf(rtmp_cycle_t *cycle)
{
    return static_cast<rtmp_record_app_conf_t *>(
        cycle->servers[0]->apps[0]->app_conf[rtmp_record_module.index]);
}

START_TEST(test_conf)
{
    rtmp_cycle_t *cycle = read_app(
        "record = ( { name = \"all\"; path = \"rec/$name.flv\"; interval = \"10m\"; },\n"
        " { what = \"keyframes manual\"; path = \"/r/k-$name-%H.flv\"; max_size = \"1g\";\n"
        "   max_frames = 100; max_duration = 60; buffer = \"64k\"; flush = \"250ms\";\n"
        "   keyframe_index = 10; unique = true; format = \"flv\"; } );");
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_record_app_conf_t *c = app_conf(cycle);
    ck_assert_int_eq(c->n, 2);
    ck_assert(c->recs[0].name.sv() == "all");
    ck_assert_uint_eq(c->recs[0].what, RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO);
    ck_assert_uint_eq(c->recs[0].interval, 600000);
    ck_assert_uint_eq(c->recs[0].buffer, 1024 * 1024);
    ck_assert_uint_eq(c->recs[0].flush, 1000);
    ck_assert_uint_eq(c->recs[0].index, 1024);
    ck_assert(c->recs[1].name.sv() == "rec2");
    ck_assert_uint_eq(c->recs[1].what, RTMP_RECORD_KEYFRAMES | RTMP_RECORD_MANUAL);
    ck_assert_uint_eq(c->recs[1].max_size, 1024ull * 1024 * 1024);
    ck_assert_uint_eq(c->recs[1].max_frames, 100);
    ck_assert_uint_eq(c->recs[1].max_duration, 60000);
    ck_assert_uint_eq(c->recs[1].buffer, 65536);
    ck_assert_uint_eq(c->recs[1].flush, 250);
    ck_assert_uint_eq(c->recs[1].index, 10);
    ck_assert(c->recs[1].unique);
    ck_assert_ptr_eq(c->recs[1].writer, &rtmp_record_flv_writer);
    rtmp_pool_destroy(cycle->pool);

    // "manual" alone records everything; an empty list records nothing
    cycle = read_app("record = { what = \"manual\"; path = \"x.flv\"; };");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_uint_eq(app_conf(cycle)->recs[0].what,
                      RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO | RTMP_RECORD_MANUAL);
    rtmp_pool_destroy(cycle->pool);
    // flags take "on" and "off" as every flag directive does
    cycle = read_app("record = { path = \"x.flv\"; unique = \"on\"; append = \"off\"; };");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert(app_conf(cycle)->recs[0].unique);
    ck_assert(!app_conf(cycle)->recs[0].append);
    rtmp_pool_destroy(cycle->pool);
    cycle = read_app("record = ( );");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_int_eq(app_conf(cycle)->n, 0);
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

START_TEST(test_conf_errors)
{
    assert_refused("record = ( { path = \"a.flv\";\n colour = 1; } );", 4,
                   "unknown recorder setting \"colour\"");
    assert_refused("record = ( { name = \"a\";\n what = \"everything\"; path = \"a.flv\"; } );", 4,
                   "recorder \"a\": \"what\" must be");
    assert_refused("record = (\n { name = \"a\"; } );", 4, "recorder \"a\" needs a \"path\"");
    assert_refused("record = ( { path = \"a.flv\"; },\n { path = \"b.flv\"; name = \"rec1\"; } );",
                   4, "recorder name \"rec1\" used twice");
    assert_refused("record = ( { path = \"a.flv\";\n buffer = \"1k\"; } );", 4,
                   "\"buffer\" must be a size between 4k and 64m");
    assert_refused("record = ( { path = \"rec/\";\n } );", 3, "not a directory");
    assert_refused("record = ( { path = \"a.flv\";\n format = \"mkv\"; } );", 4,
                   "\"format\" must be \"flv\" or \"mp4\"");
    assert_refused("record = (\n { path = \"a.mp4\"; format = \"mp4\"; append = true; } );", 4,
                   "format mp4 cannot be appended to");
    assert_refused("record = (\n { path = \"a.flv\"; faststart = true; } );", 4,
                   "\"faststart\" is for format \"mp4\"");
    assert_refused("record = ( { path = \"a.mp4\"; format = \"mp4\";\n fragment = \"50ms\"; } );",
                   4, "\"fragment\" must be a time between 100ms and 60s");
    assert_refused("record = ( { path = \"a.flv\"; unique = true;\n append = true; } );", 3,
                   "exclude each other");
    assert_refused("record = ( { path = \"a.flv\";\n name = \"a/b\"; } );", 4,
                   "\"name\" must be a name of letters");
    assert_refused("record = ( { path = \"a.flv\";\n unique = \"yes\"; } );", 4,
                   "\"unique\" must be true or false (or \"on\" or \"off\")");
    assert_refused("record = \"on\";", 3, "\"record\" must be a list of recorder groups");
}
END_TEST

START_TEST(test_expand)
{
    char out[PATH_MAX];
    setenv("TZ", "UTC", 1);
    tzset();
    time_t t = 1700000000; // 2023-11-14 22:13:20 UTC
    ck_assert(rtmp_record_expand("rec/$app/$name-%Y%m%d-%H%M%S.flv", "live", "cam1", t, out,
                                 sizeof(out)));
    ck_assert_str_eq(out, "rec/live/cam1-20231114-221320.flv");
    ck_assert(rtmp_record_expand("/r/${app}_${name}.flv", "a", "b", t, out, sizeof(out)));
    ck_assert_str_eq(out, "/r/a_b.flv");
    // a '%' in a name is kept as it is, not read as a strftime code
    ck_assert(rtmp_record_expand("$name.flv", "a", "100%Y", t, out, sizeof(out)));
    ck_assert_str_eq(out, "100%Y.flv");
    // too small, or empty
    ck_assert(!rtmp_record_expand("$name.flv", "a", "abcdef", t, out, 6));
    ck_assert(!rtmp_record_expand("", "a", "b", t, out, sizeof(out)));
}
END_TEST

START_TEST(test_names_cannot_escape)
{
    char out[PATH_MAX];
    time_t t = 0;
    ck_assert(rtmp_record_expand("rec/$name/x.flv", "a", "..", t, out, sizeof(out)));
    ck_assert_str_eq(out, "rec/_./x.flv");
    ck_assert(rtmp_record_expand("rec/$name.flv", "a", "../../etc/passwd", t, out, sizeof(out)));
    ck_assert_str_eq(out, "rec/_._.._etc_passwd.flv");
    ck_assert(rtmp_record_expand("rec/$app/$name", ".", "a\\b\nc", t, out, sizeof(out)));
    ck_assert_str_eq(out, "rec/_/a_b_c");
    ck_assert(rtmp_record_expand("rec/$name", "a", ".hidden", t, out, sizeof(out)));
    ck_assert_str_eq(out, "rec/_hidden");
}
END_TEST

START_TEST(test_wanted)
{
    rtmp_record_conf_t rc = {};
    rc.name = rtmp_string("kf");
    rc.what = RTMP_RECORD_AUDIO | RTMP_RECORD_VIDEO;
    bool append;
    // not manual: always, appending as configured
    ck_assert(rtmp_record_wanted(&rc, "live", "", &append));
    ck_assert(!append);
    rc.append = true;
    ck_assert(rtmp_record_wanted(&rc, "live", "", &append));
    ck_assert(append);
    rc.append = false;

    rc.what |= RTMP_RECORD_MANUAL;
    ck_assert(!rtmp_record_wanted(&rc, "live", "", &append));
    ck_assert(!rtmp_record_wanted(&rc, "live", "token=x&record=off", &append));
    ck_assert(!rtmp_record_wanted(&rc, "live", "record=other", &append));
    ck_assert(!rtmp_record_wanted(&rc, "live", "xrecord=on", &append));
    ck_assert(rtmp_record_wanted(&rc, "live", "token=x&record=on", &append));
    ck_assert(!append);
    ck_assert(rtmp_record_wanted(&rc, "live", "record=all,kf", &append));
    ck_assert(rtmp_record_wanted(&rc, "live", "record=a,kf,b", &append));
    ck_assert(!rtmp_record_wanted(&rc, "live", "record=kff", &append));
    // the publish type, as FMS
    ck_assert(rtmp_record_wanted(&rc, "record", "", &append));
    ck_assert(!append);
    ck_assert(rtmp_record_wanted(&rc, "append", "", &append));
    ck_assert(append);
}
END_TEST

Suite *rtmp_record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_names_cannot_escape);
    tcase_add_test(tc, test_wanted);
    suite_add_tcase(s, tc);
    tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_conf);
    tcase_add_test(tc, test_conf_errors);
    suite_add_tcase(s, tc);
    return s;
}
