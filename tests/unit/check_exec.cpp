// Exec directives: the command forms accepted, and every refusal with its file and line.
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"

#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

static char dir[64];
static char path[128];
static char error[600];

static void setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_exec_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/rtmp.conf", dir);
}

static void teardown()
{
    unlink(path);
    rmdir(dir);
}

// An application block holding `app` on line 3.
static rtmp_cycle_t *read_app(const char *app)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "rtmp = { server = ( { listen = 1935;\n"
            "  application = ( { name = \"live\";\n"
            "    %s\n"
            "  } ); } ); };\n",
            app);
    fclose(f);
    error[0] = '\0';
    return rtmp_cycle_read(path, error, sizeof(error));
}

static void assert_accepted(const char *app)
{
    rtmp_cycle_t *cycle = read_app(app);
    ck_assert_msg(cycle != nullptr, "refused %s: %s", app, error);
    rtmp_pool_destroy(cycle->pool);
}

static void assert_refused(const char *app, const char *what)
{
    rtmp_cycle_t *cycle = read_app(app);
    ck_assert_msg(cycle == nullptr, "accepted: %s", app);
    char where[160];
    snprintf(where, sizeof(where), "%s:3: ", path);
    ck_assert_msg(strstr(error, where) != nullptr, "expected \"%s\" in \"%s\"", where, error);
    ck_assert_msg(strstr(error, what) != nullptr, "expected \"%s\" in \"%s\"", what, error);
}

START_TEST(test_forms)
{
    assert_accepted("exec_push = \"ffmpeg -i rtmp://127.0.0.1/live/$name -f flv "
                    "rtmp://127.0.0.1/v/${name}_360p?k=${args.key}\";");
    assert_accepted("exec_publish = [ \"/bin/echo\", \"a b $app\", \"$$HOME\" ];");
    assert_accepted("exec_play = ( \"echo $addr $flashver $tcurl $args\", [ \"true\" ] );");
    assert_accepted("exec_play_done = ();"); // none, whatever an outer block says
    assert_accepted("exec_kill_signal = \"SIGINT\"; exec_kill_timeout = \"500ms\";");
    assert_accepted("exec_kill_signal = 9; exec_pull_idle = \"1m\"; exec_timeout = 30;");
}
END_TEST

START_TEST(test_refused)
{
    assert_refused("exec_push = \"ffmpeg $name_360p\";", "\"$name_360p\" must be");
    assert_refused("exec_push = \"echo ${nope}\";", "known ones");
    assert_refused("exec_push = \"echo 5$\";", "$$ for a $");
    assert_refused("exec_push = \"$name -x\";", "a program name without variables");
    assert_refused("exec_push = \" \";", "a command needs a program");
    assert_refused("exec_push = [ \"\" ];", "a command needs a program");
    assert_refused("exec_push = 5;", "\"exec_push\" must be a command");
    assert_refused("exec_push = ( \"a\", ( \"b\" ) );", "\"exec_push\" must be a command");
    assert_refused("exec_kill_signal = \"FOO\";", "\"exec_kill_signal\" must be a signal");
    assert_refused("exec_kill_signal = 0;", "\"exec_kill_signal\" must be a signal");
    char many[512] = "exec_publish = \"echo";
    for (int i = 0; i < 64; i++) {
        strcat(many, " a");
    }
    strcat(many, "\";");
    assert_refused(many, "at most 64 arguments");
}
END_TEST

Suite *rtmp_exec_suite(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_forms);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}
