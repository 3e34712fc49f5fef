// rtmp_server: command line, configuration check, then the master process.
#include "core/rtmp_module.h"
#include "core/rtmp_time.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_key.h"

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <getopt.h>
#include <netinet/in.h>
#include <unistd.h>

#ifdef RTMP_JEMALLOC
#include <jemalloc/jemalloc.h>

// A GOP cache frees a whole group of frames at each key frame and allocates as many again
// over the next GOP. jemalloc merges the freed frames into large free extents, and by
// default splits no extent 64 times larger than a request: new frames took fresh pages
// while the freed ones waited to be purged, and each purged page faulted back in later
// (1,100-1,700 page faults a second, and madvise, at 100 streams x 2.5 Mbit/s). Any free
// extent may serve now, so the memory is reused where it is, and nothing is purged on a
// timer: a worker keeps its high-water mark while its streams run and hands the unused
// pages back when a stream ends (rtmp_alloc_release). Resident size did not grow.
const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,lg_extent_max_active_fit:30";
#endif

#ifndef RTMP_CONF_PATH
#define RTMP_CONF_PATH "conf/rtmp.conf"
#endif

static void rtmp_usage(FILE *out)
{
    fprintf(out, "Usage: rtmp_server [-c file] [-t] [-v] [-h]\n"
                 "       rtmp_server --sign app/name [--expires time] [--bind address] [--play]\n"
                 "                   [-c file | --secret secret]\n"
                 "  -c file   configuration file (default: " RTMP_CONF_PATH ")\n"
                 "  -t        test the configuration and exit\n"
                 "  -v        print the version and build details and exit\n"
                 "  -h        print this help and exit\n"
                 "  --sign    print a stream key for app/name and exit: valid for --expires\n"
                 "            (default 1h), for publishing (or --play), from any address (or\n"
                 "            --bind's); signed with the application's publish_key_secret\n"
                 "            (play_key_secret) in the configuration, or with --secret\n"
                 "Signals to the master: HUP reload, TERM/INT fast stop, QUIT graceful stop,\n"
                 "USR1 reopen logs.\n");
}

static void rtmp_version()
{
    printf("%s/%s\n", RTMP_NAME, RTMP_VERSION);
#ifdef RTMP_JEMALLOC
    const char *version = nullptr;
    size_t len = sizeof(version);
    ssize_t decay = 0;
    size_t dlen = sizeof(decay);
    if (mallctl("version", &version, &len, nullptr, 0) == 0 &&
        mallctl("opt.dirty_decay_ms", &decay, &dlen, nullptr, 0) == 0) {
        printf("allocator: jemalloc %s (dirty_decay_ms %zd)\n", version, decay);
    }
#else
    printf("allocator: libc malloc\n");
#endif
}

// --sign: mints a key offline, from the configuration's secret or --secret.
static int rtmp_sign(const char *conf_file, std::string_view what, const char *expires,
                     const char *secret, const char *bind, bool play)
{
    size_t slash = what.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == what.size()) {
        fprintf(stderr, "rtmp_server: --sign wants app/name, e.g. live/cam1\n");
        return EXIT_FAILURE;
    }
    std::string_view app = what.substr(0, slash);
    std::string_view name = what.substr(slash + 1);
    int64_t msec = rtmp_parse_time(expires);
    if (msec < 1000) {
        fprintf(stderr,
                "rtmp_server: --expires wants a time of 1s or more, like 1h, 30m, 7d "
                "or 3600 (seconds), not \"%s\"\n",
                expires);
        return EXIT_FAILURE;
    }
    char conf_secret[1024];
    int port = 0;
    // the server would refuse such a secret in its configuration: no key is made with it
    if (secret && strlen(secret) < RTMP_KEY_MIN_SECRET) {
        fprintf(stderr, "rtmp_server: --secret wants %zu characters or more, as %s does\n",
                RTMP_KEY_MIN_SECRET, play ? "play_key_secret" : "publish_key_secret");
        return EXIT_FAILURE;
    }
    if (secret == nullptr) {
        char error[600];
        if (rtmp_key_conf_secret(conf_file, app, play, conf_secret, sizeof(conf_secret), &port,
                                 error, sizeof(error)) != RTMP_OK) {
            fprintf(stderr, "rtmp_server: %s (or give --secret)\n", error);
            return EXIT_FAILURE;
        }
        secret = conf_secret;
    }
    // bound keys name the address as the server will see it: canonical, IPv4 when mapped
    char addr_buf[INET6_ADDRSTRLEN];
    std::string_view addr;
    if (bind) {
        struct sockaddr_storage ss = {};
        auto *sin = reinterpret_cast<struct sockaddr_in *>(&ss);
        auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&ss);
        if (inet_pton(AF_INET, bind, &sin->sin_addr) == 1) {
            ss.ss_family = AF_INET;
        } else if (inet_pton(AF_INET6, bind, &sin6->sin6_addr) == 1) {
            ss.ss_family = AF_INET6;
        } else {
            fprintf(stderr, "rtmp_server: --bind wants an IPv4 or IPv6 address, not \"%s\"\n",
                    bind);
            return EXIT_FAILURE;
        }
        addr = rtmp_key_peer_addr(reinterpret_cast<struct sockaddr *>(&ss), addr_buf,
                                  sizeof(addr_buf));
    }
    time_t expiry = time(nullptr) + (time_t)(msec / 1000);
    char key[RTMP_KEY_SIZE];
    if (rtmp_key_mint(secret, app, name, (int64_t)expiry, addr, key, sizeof(key)) == 0) {
        fprintf(stderr, "rtmp_server: app/name too long\n");
        return EXIT_FAILURE;
    }
    // the key alone on stdout, for KEY=$(rtmp_server --sign ...); the rest is for people
    printf("%s\n", key);
    char until[32];
    struct tm tm;
    strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", gmtime_r(&expiry, &tm));
    char port_text[16] = "";
    if (port && port != 1935) {
        snprintf(port_text, sizeof(port_text), ":%d", port);
    }
    fprintf(stderr, "%s key for %.*s/%.*s until %s UTC%s%.*s:\n  rtmp://HOST%s/%.*s/%.*s?key=%s\n",
            play ? "play" : "publish", (int)app.size(), app.data(), (int)name.size(), name.data(),
            until, addr.empty() ? "" : ", only from ", (int)addr.size(), addr.data(), port_text,
            (int)app.size(), app.data(), (int)name.size(), name.data(), key);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *conf_file = RTMP_CONF_PATH;
    bool test = false;
    const char *sign = nullptr;
    const char *expires = "1h";
    const char *secret = nullptr;
    const char *bind = nullptr;
    bool play = false;
    int opt;

    static const struct option longopts[] = {
        {"sign", required_argument, nullptr, 'S'},   {"expires", required_argument, nullptr, 'E'},
        {"secret", required_argument, nullptr, 'K'}, {"bind", required_argument, nullptr, 'B'},
        {"play", no_argument, nullptr, 'P'},         {nullptr, 0, nullptr, 0},
    };
    while ((opt = getopt_long(argc, argv, "c:tvh", longopts, nullptr)) != -1) {
        switch (opt) {
        case 'S':
            sign = optarg;
            break;
        case 'E':
            expires = optarg;
            break;
        case 'K':
            secret = optarg;
            break;
        case 'B':
            bind = optarg;
            break;
        case 'P':
            play = true;
            break;
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

    if (sign) {
        return rtmp_sign(conf_file, sign, expires, secret, bind, play);
    }
    if (secret || bind || play) {
        fprintf(stderr, "rtmp_server: --secret, --bind and --play go with --sign\n");
        return EXIT_FAILURE;
    }

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
