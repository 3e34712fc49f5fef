// rtmp_server: command line, configuration check, then the master process.
#include "core/rtmp_module.h"
#include "core/rtmp_time.h"
#include "os/rtmp_process.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#ifdef RTMP_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#ifndef RTMP_CONF_PATH
#define RTMP_CONF_PATH "conf/rtmp.conf"
#endif

static void rtmp_usage(FILE *out)
{
    fprintf(out, "Usage: rtmp_server [-c file] [-t] [-v] [-h]\n"
                 "  -c file   configuration file (default: " RTMP_CONF_PATH ")\n"
                 "  -t        test the configuration and exit\n"
                 "  -v        print the version and build details and exit\n"
                 "  -h        print this help and exit\n"
                 "Signals to the master: HUP reload, TERM/INT fast stop, QUIT graceful stop,\n"
                 "USR1 reopen logs.\n");
}

static void rtmp_version()
{
    printf("%s/%s\n", RTMP_NAME, RTMP_VERSION);
#ifdef RTMP_JEMALLOC
    const char *version = nullptr;
    size_t len = sizeof(version);
    if (mallctl("version", &version, &len, nullptr, 0) == 0) {
        printf("allocator: jemalloc %s\n", version);
    }
#else
    printf("allocator: libc malloc\n");
#endif
}

int main(int argc, char **argv)
{
    const char *conf_file = RTMP_CONF_PATH;
    bool test = false;
    int opt;

    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c':
            conf_file = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            rtmp_version();
            return EXIT_SUCCESS;
        case 'h':
            rtmp_usage(stdout);
            return EXIT_SUCCESS;
        default:
            rtmp_usage(stderr);
            return EXIT_FAILURE;
        }
    }
    if (optind != argc) {
        rtmp_usage(stderr);
        return EXIT_FAILURE;
    }

    rtmp_time_update();
    rtmp_log_pid = (int)getpid();
    rtmp_modules_init();

    if (test) {
        char error[600];
        if (rtmp_cycle_test(conf_file, error, sizeof(error)) != RTMP_OK) {
            fprintf(stderr, "rtmp_server: %s\nrtmp_server: configuration file %s test failed\n",
                    error, conf_file);
            return EXIT_FAILURE;
        }
        printf("rtmp_server: configuration file %s test is successful\n", conf_file);
        return EXIT_SUCCESS;
    }

    if (rtmp_signals_init(&rtmp_log_stderr_log) != RTMP_OK) {
        return EXIT_FAILURE;
    }
    rtmp_cycle_t *cycle = rtmp_cycle_init(conf_file, nullptr, &rtmp_log_stderr_log);
    if (cycle == nullptr) {
        return EXIT_FAILURE;
    }
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    const char *pid = reinterpret_cast<const char *>(ccf->pid.data);
    if (rtmp_pid_file_write(pid, &rtmp_log_stderr_log) != RTMP_OK) {
        return EXIT_FAILURE;
    }
    if (cycle->log_file.path) {
        // the log goes to a file from here on: say where, once, to whoever started us
        fprintf(stderr, "%s/%s: pid %d, %zu listener%s (%s%s), log in %s\n", RTMP_NAME,
                RTMP_VERSION, (int)getpid(), cycle->nlistening, cycle->nlistening == 1 ? "" : "s",
                cycle->listening[0].addr_text, cycle->nlistening > 1 ? ", ..." : "",
                cycle->log_file.path);
    }
    rtmp_master_process_cycle(cycle);
}
