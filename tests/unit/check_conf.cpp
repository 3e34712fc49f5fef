// Configuration: valid files, every error class with its file and line, bounds,
// inheritance from outer blocks, and @include.
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_server_module.h"

#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

static char dir[64];
static char error[600];

static void setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_conf_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown()
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[2][128];
    static int which;
    char *p = path[which++ % 2];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static rtmp_cycle_t *read_conf(const char *text)
{
    error[0] = '\0';
    return rtmp_cycle_read(write_file("rtmp.conf", text), error, sizeof(error));
}

// Asserts the file is refused with a message that contains `file:line` and `what`.
static void assert_refused(const char *text, int line, const char *what)
{
    rtmp_cycle_t *cycle = read_conf(text);
    ck_assert_msg(cycle == nullptr, "accepted: %s", text);
    char where[160];
    snprintf(where, sizeof(where), "%s/rtmp.conf:%d: ", dir, line);
    ck_assert_msg(strstr(error, where) != nullptr, "expected \"%s\" in \"%s\"", where, error);
    ck_assert_msg(strstr(error, what) != nullptr, "expected \"%s\" in \"%s\"", what, error);
}

START_TEST(test_valid_file_and_defaults)
{
    rtmp_cycle_t *cycle = read_conf("worker_processes = 3;\n"
                                    "rtmp = { server = ( { listen = 1935;\n"
                                    "  application = ( { name = \"live\"; } ); } ); };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    ck_assert_int_eq(ccf->worker_processes, 3);
    ck_assert_int_eq(ccf->worker_connections, 1024);
    ck_assert_uint_eq(ccf->shutdown_timeout, 0);
    ck_assert(ccf->error_log.sv() == "stderr");
    ck_assert_uint_eq(cycle->nservers, 1);
    ck_assert_uint_eq(cycle->servers[0]->napps, 1);
    ck_assert(cycle->servers[0]->apps[0]->name.sv() == "live");
    ck_assert_uint_eq(cycle->nlistening, 1);
    ck_assert_str_eq(cycle->listening[0].addr_text, "0.0.0.0:1935");
    rtmp_server_conf_t *scf = rtmp_server_conf(cycle->servers[0]);
    ck_assert_int_eq(scf->chunk_size, 4096);
    ck_assert_uint_eq(scf->handshake_timeout, 10000);
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

START_TEST(test_value_forms)
{
    rtmp_cycle_t *cycle = read_conf("worker_processes = \"auto\";\n"
                                    "shutdown_timeout = \"1500ms\";\n"
                                    "log_level = \"debug\";\n"
                                    "rtmp = { server = ( {\n"
                                    "  listen = ( \"127.0.0.1:1935\", \"[::1]:1936\", 1937 );\n"
                                    "  chunk_size = \"8k\"; timeout = 5; ping = \"0s\";\n"
                                    "} ); };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    ck_assert_int_eq(ccf->worker_processes, 0);
    ck_assert_int_ge(rtmp_core_worker_count(ccf), 1);
    ck_assert_uint_eq(ccf->shutdown_timeout, 1500);
    ck_assert_int_eq(ccf->log_level, RTMP_LOG_DEBUG);
    ck_assert_uint_eq(cycle->nlistening, 3);
    ck_assert_str_eq(cycle->listening[1].addr_text, "[::1]:1936");
    rtmp_server_conf_t *scf = rtmp_server_conf(cycle->servers[0]);
    ck_assert_int_eq(scf->chunk_size, 8192);
    ck_assert_uint_eq(scf->timeout, 5000);
    ck_assert_uint_eq(scf->ping, 0);
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

START_TEST(test_inheritance)
{
    // set in rtmp = { }, inherited by the first server, overridden by the second
    rtmp_cycle_t *cycle = read_conf("rtmp = {\n"
                                    "  chunk_size = 60000; timeout = \"90s\";\n"
                                    "  server = ( { listen = 1935; },\n"
                                    "             { listen = 1936; chunk_size = 128; } );\n"
                                    "};\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_server_conf_t *a = rtmp_server_conf(cycle->servers[0]);
    rtmp_server_conf_t *b = rtmp_server_conf(cycle->servers[1]);
    ck_assert_int_eq(a->chunk_size, 60000);
    ck_assert_int_eq(b->chunk_size, 128);
    ck_assert_uint_eq(a->timeout, 90000);
    ck_assert_uint_eq(b->timeout, 90000);
    ck_assert_int_eq(a->max_message, 1024 * 1024); // nobody set it: the default
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

START_TEST(test_include)
{
    write_file("servers.conf", "server = ( { listen = 1940; chunk_size = 1000; } );\n");
    rtmp_cycle_t *cycle = read_conf("rtmp = {\n  @include \"servers.conf\"\n};\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_int_eq(rtmp_server_conf(cycle->servers[0])->chunk_size, 1000);
    rtmp_pool_destroy(cycle->pool);

    // an error inside the included file names that file and its line
    write_file("servers.conf", "server = ( { listen = 1940;\n chunk_sise = 1000; } );\n");
    ck_assert_ptr_null(read_conf("rtmp = {\n  @include \"servers.conf\"\n};\n"));
    char where[160];
    snprintf(where, sizeof(where), "servers.conf:2: unknown directive \"chunk_sise\"");
    ck_assert_msg(strstr(error, where) != nullptr, "got \"%s\"", error);

    // a missing one is named
    ck_assert_ptr_null(read_conf("rtmp = {\n  @include \"nothere.conf\"\n};\n"));
    snprintf(where, sizeof(where), "rtmp.conf:2: cannot open include file \"nothere.conf\"");
    ck_assert_msg(strstr(error, where) != nullptr, "got \"%s\"", error);
}
END_TEST

START_TEST(test_syntax_error)
{
    assert_refused("worker_processes = 2;\nrtmp == { };\n", 2, "syntax error");
}
END_TEST

START_TEST(test_unknown_directive)
{
    assert_refused("rtmp = { server = ( {\n listen = 1935;\n chunk_sise = 4096;\n} ); };\n", 3,
                   "unknown directive \"chunk_sise\" in server");
}
END_TEST

START_TEST(test_directive_in_wrong_block)
{
    assert_refused("listen = 1935;\n", 1, "directive \"listen\" is not allowed in the top level");
    assert_refused("rtmp = { server = ( { listen = 1935;\n worker_processes = 2; } ); };\n", 2,
                   "\"worker_processes\" is not allowed in server");
}
END_TEST

START_TEST(test_wrong_type)
{
    assert_refused("rtmp = { server = ( { listen = 1935;\n\n chunk_size = \"abc\"; } ); };\n", 3,
                   "\"chunk_size\" must be a size");
    assert_refused("pid = 5;\nrtmp = { server = ( { listen = 1935; } ); };\n", 1,
                   "\"pid\" must be a string");
    assert_refused("worker_processes = \"many\";\n", 1, "\"worker_processes\" must be");
    assert_refused("log_level = \"loud\";\n", 1, "\"log_level\" must be one of");
    assert_refused("rtmp = { server = ( {\n listen = \"localhost:x\"; } ); };\n", 2,
                   "\"listen\" must be");
    assert_refused("rtmp = 5;\n", 1, "\"rtmp\" must be a { ... } block");
}
END_TEST

START_TEST(test_bounds)
{
    assert_refused("rtmp = {\n chunk_size = 10;\n server = ( { listen = 1935; } ); };\n", 2,
                   "\"chunk_size\" must be between 128 and 65536, not 10");
    assert_refused("worker_connections = 1;\n", 1, "\"worker_connections\" must be between");
    assert_refused("rtmp = { server = ( { listen = 1935;\n timeout = \"10ms\"; } ); };\n", 2,
                   "\"timeout\" must be between 1000ms and");
    assert_refused("rtmp = { server = ( {\n listen = 70000; } ); };\n", 2, "\"listen\" must be");
}
END_TEST

START_TEST(test_structure_errors)
{
    assert_refused("rtmp = { server = ( { listen = 1935;\n application = ( { live = 1; } ); } ); "
                   "};\n",
                   2, "an application needs name");
    assert_refused("rtmp = { server = ( { listen = 1935;\n application = ( { name = \"a\"; },\n"
                   " { name = \"a\"; } ); } ); };\n",
                   3, "duplicate application \"a\"");
    assert_refused("rtmp = { server = (\n { listen = 1935; },\n { listen = \"0.0.0.0:1935\"; } "
                   "); };\n",
                   3, "duplicate listen 0.0.0.0:1935");
    ck_assert_ptr_null(read_conf("worker_processes = 1;\n"));
    ck_assert_msg(strstr(error, "no server listens") != nullptr, "%s", error);
}
END_TEST

// Checks across directives run when blocks are merged: they name the application
// block, and an application's own hls_fragment sets its default hls_max_fragment.
START_TEST(test_merge_checks)
{
    rtmp_cycle_t *cycle = read_conf("rtmp = { server = ( { listen = 1935;\n"
                                    " application = ( { name = \"a\"; hls_fragment = \"30s\"; } ); "
                                    "} ); };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_pool_destroy(cycle->pool);

    assert_refused("rtmp = { server = ( { listen = 1935; hls_max_fragment = \"20s\";\n"
                   " application = ( { name = \"b\"; },\n"
                   "  { name = \"a\"; hls_fragment = \"30s\"; } ); } ); };\n",
                   3, "application \"a\": hls_max_fragment must be 0 (never) or at least");
    assert_refused("rtmp = { server = ( { listen = 1935;\n"
                   " application = (\n { name = \"p\";\n pull_static = \"s\"; } ); } ); };\n",
                   3, "application \"p\": \"pull_static\" needs origins");
}
END_TEST

START_TEST(test_missing_file)
{
    ck_assert_int_eq(rtmp_cycle_test("/nonexistent/rtmp.conf", error, sizeof(error)), RTMP_ERROR);
    ck_assert_msg(strstr(error, "/nonexistent/rtmp.conf") != nullptr, "%s", error);
}
END_TEST

START_TEST(test_shipped_conf)
{
    // the sample configuration in the checkout must always be valid
    ck_assert_msg(rtmp_cycle_test("conf/rtmp.conf", error, sizeof(error)) == RTMP_OK, "%s", error);
}
END_TEST

Suite *rtmp_conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid_file_and_defaults);
    tcase_add_test(tc, test_value_forms);
    tcase_add_test(tc, test_inheritance);
    tcase_add_test(tc, test_include);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_unknown_directive);
    tcase_add_test(tc, test_directive_in_wrong_block);
    tcase_add_test(tc, test_wrong_type);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_merge_checks);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_shipped_conf);
    suite_add_tcase(s, tc);
    return s;
}
