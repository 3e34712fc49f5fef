// rtmp_bench: single-threaded epoll RTMP load client — fan-out, idle and setup-rate runs.
#include "rtmp_bench.h"

#include <algorithm>
#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <getopt.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

// Connects plus handshakes in flight at once: keeps well inside a listen backlog (nginx
// uses 511) so a burst of 10,000 sessions is paced by the server's accept rate, not by
// SYN drops and retransmit timeouts.
static constexpr uint32_t RTMP_BENCH_INFLIGHT = 256;
static constexpr uint64_t RTMP_BENCH_SEC = 1000000;
static constexpr double RTMP_BENCH_SETTLE_S = 2; // one GOP of the bench media
static constexpr double RTMP_BENCH_PASS = 0.98;

enum class rtmp_bench_mode : uint8_t {
    fanout,
    idle,
    setup,
};

typedef struct rtmp_bench_opts_s rtmp_bench_opts_t;
struct rtmp_bench_opts_s {
    const char *host;
    int port;
    const char *app;
    uint32_t streams;
    uint32_t players;
    double duration;
    const char *flv;
    rtmp_bench_mode mode;
    uint32_t burst;
    bool until_key; // setup: a session ends at its first key frame, not its first media
    uint32_t chunk_size;
    const char *json;
    bool verbose;
    double slow_fraction; // of the players, reading at slow_rate x the source rate
    double slow_rate;
    uint32_t slow_rcvbuf;
    int probe_cpu; // -1: none
};

static rtmp_bench_session_t *rtmp_bench_sessions;
static uint32_t rtmp_bench_nsessions;
static rtmp_bench_stream_t *rtmp_bench_streams;
static uint32_t rtmp_bench_nstreams;
static volatile sig_atomic_t rtmp_bench_interrupted;
static uint32_t *rtmp_bench_slow_list; // session indexes of the slow readers
static uint32_t rtmp_bench_nslow;
// A slow reader's budget is refilled this often (the loop wakes at least this often then).
static constexpr uint64_t RTMP_BENCH_SLOW_TICK = 10000;

static void rtmp_bench_usage(FILE *f)
{
    fprintf(f,
            "usage: rtmp_bench [options]\n"
            "  --host ADDR        server address, a literal loopback IP (default 127.0.0.1)\n"
            "  --port N           server port (default 1935)\n"
            "  --app NAME         application (default live)\n"
            "  --streams K        streams s0..sK-1, one publisher each (default 1)\n"
            "  --players N        players, spread over the streams (default 10)\n"
            "  --duration SEC     measured time (default 10)\n"
            "  --flv FILE         source published in real time, looped (fanout, setup)\n"
            "  --mode MODE        fanout | idle | setup (default fanout)\n"
            "  --burst N          setup: sessions started together per burst (default 10)\n"
            "  --until WHAT       setup: a session is complete at its first \"media\" message\n"
            "                     (audio or video, default) or its first \"key\" frame\n"
            "  --chunk-size N     publisher's output chunk size (default 4096)\n"
            "  --slow-fraction F  fanout: this fraction of the players (0..1, spread evenly) read\n"
            "                     slowly (default 0)\n"
            "  --slow-rate R      slow players read at most R x the source bit rate (default 0.5)\n"
            "  --slow-rcvbuf N    SO_RCVBUF of slow players, 0 for the kernel's (default 65536)\n"
            "  --probe-cpu N      fanout: also report CPU N's user and busy time over the\n"
            "                     measured time alone (the server's CPU, when pinned there)\n"
            "  --json FILE        also write the results as JSON\n"
            "  --verbose          progress and every error on stderr\n"
            "  -h, --help         this text\n"
            "\n"
            "fanout: publish FILE and play it with N players for SEC seconds; every player must\n"
            "        receive >= 98%% of the media sent after its first key frame. Latency counts\n"
            "        the messages published from 2 s (at most SEC/4) into the measured time.\n"
            "idle:   N sessions handshake, connect and stay quiet for SEC seconds.\n"
            "setup:  bursts of full play sessions (connect .. first media or key frame) for SEC\n"
            "        seconds.\n"
            "Slow players are reported apart: connected with frames missing (skipped by the\n"
            "server), connected with none missing, or disconnected; completeness, latency and\n"
            "the pass/fail verdict are the healthy players'. After SEC seconds slow players read\n"
            "freely for the drain, so frames the server still held count as delivered.\n"
            "Exit status: 0 when the run passes, 1 when it fails, 2 on bad usage.\n");
}

static bool rtmp_bench_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    int64_t v = rtmp_atoi(s);
    if (v < lo || v > hi) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

// Literal addresses only, and only loopback ones: the tool loads a local server.
static bool rtmp_bench_resolve(const char *host, int port)
{
    rtmp_bench_ctx_t *c = &rtmp_bench_ctx;
    if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    auto *in4 = reinterpret_cast<struct sockaddr_in *>(&c->addr);
    auto *in6 = reinterpret_cast<struct sockaddr_in6 *>(&c->addr);
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        if ((ntohl(in4->sin_addr.s_addr) >> 24) != 127) {
            return false;
        }
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        c->addrlen = sizeof(*in4);
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) {
            return false;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        c->addrlen = sizeof(*in6);
        return true;
    }
    return false;
}

static int rtmp_bench_parse(int argc, char **argv, rtmp_bench_opts_t *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, nullptr, 'H'},
        {"port", required_argument, nullptr, 'p'},
        {"app", required_argument, nullptr, 'a'},
        {"streams", required_argument, nullptr, 's'},
        {"players", required_argument, nullptr, 'n'},
        {"duration", required_argument, nullptr, 'd'},
        {"flv", required_argument, nullptr, 'f'},
        {"mode", required_argument, nullptr, 'm'},
        {"burst", required_argument, nullptr, 'b'},
        {"until", required_argument, nullptr, 'u'},
        {"chunk-size", required_argument, nullptr, 'c'},
        {"json", required_argument, nullptr, 'j'},
        {"slow-fraction", required_argument, nullptr, 'F'},
        {"slow-rate", required_argument, nullptr, 'R'},
        {"slow-rcvbuf", required_argument, nullptr, 'B'},
        {"probe-cpu", required_argument, nullptr, 'P'},
        {"verbose", no_argument, nullptr, 'v'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    *o = rtmp_bench_opts_t{};
    o->host = "127.0.0.1";
    o->port = 1935;
    o->app = "live";
    o->streams = 1;
    o->players = 10;
    o->duration = 10;
    o->mode = rtmp_bench_mode::fanout;
    o->burst = 10;
    o->chunk_size = 4096;
    o->slow_rate = 0.5;
    o->slow_rcvbuf = 65536;
    o->probe_cpu = -1;
    int ch;
    uint32_t port = 0;
    while ((ch = getopt_long(argc, argv, "hv", longopts, nullptr)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            ok = rtmp_bench_uint(optarg, 1, 65535, &port);
            o->port = (int)port;
            break;
        case 'a':
            o->app = optarg;
            ok = *optarg && strlen(optarg) < 128;
            break;
        case 's':
            ok = rtmp_bench_uint(optarg, 1, 10000, &o->streams);
            break;
        case 'n':
            ok = rtmp_bench_uint(optarg, 0, 100000, &o->players);
            break;
        case 'd': {
            char *end = nullptr;
            o->duration = strtod(optarg, &end);
            ok = end && *end == '\0' && o->duration > 0 && o->duration <= 86400;
            break;
        }
        case 'f':
            o->flv = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "fanout") == 0) {
                o->mode = rtmp_bench_mode::fanout;
            } else if (strcmp(optarg, "idle") == 0) {
                o->mode = rtmp_bench_mode::idle;
            } else if (strcmp(optarg, "setup") == 0) {
                o->mode = rtmp_bench_mode::setup;
            } else {
                ok = false;
            }
            break;
        case 'b':
            ok = rtmp_bench_uint(optarg, 1, 10000, &o->burst);
            break;
        case 'u':
            ok = strcmp(optarg, "media") == 0 || strcmp(optarg, "key") == 0;
            o->until_key = strcmp(optarg, "key") == 0;
            break;
        case 'c':
            ok = rtmp_bench_uint(optarg, 128, 16 * 1024 * 1024, &o->chunk_size);
            break;
        case 'j':
            o->json = optarg;
            break;
        case 'F':
        case 'R': {
            char *end = nullptr;
            double v = strtod(optarg, &end);
            ok = end && end != optarg && *end == '\0' && v >= 0 && v <= 1 && (ch == 'F' || v > 0);
            *(ch == 'F' ? &o->slow_fraction : &o->slow_rate) = v;
            break;
        }
        case 'B':
            ok = rtmp_bench_uint(optarg, 0, 64 * 1024 * 1024, &o->slow_rcvbuf);
            break;
        case 'P': {
            uint32_t cpu = 0;
            ok = rtmp_bench_uint(optarg, 0, 4095, &cpu);
            o->probe_cpu = (int)cpu;
            break;
        }
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            rtmp_bench_usage(stdout);
            exit(0);
        default:
            rtmp_bench_usage(stderr);
            return RTMP_ERROR;
        }
        if (!ok) {
            const char *name = "?";
            for (const struct option *lo = longopts; lo->name; lo++) {
                if (lo->val == ch) {
                    name = lo->name;
                }
            }
            fprintf(stderr, "rtmp_bench: bad value for --%s: %s\n", name, optarg);
            return RTMP_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rtmp_bench: unexpected argument: %s\n", argv[optind]);
        return RTMP_ERROR;
    }
    if (o->mode != rtmp_bench_mode::idle && o->flv == nullptr) {
        fprintf(stderr, "rtmp_bench: --flv FILE is needed for fanout and setup\n");
        return RTMP_ERROR;
    }
    if (o->slow_fraction > 0 && o->mode != rtmp_bench_mode::fanout) {
        fprintf(stderr, "rtmp_bench: --slow-fraction is for fanout runs\n");
        return RTMP_ERROR;
    }
    if (!rtmp_bench_resolve(o->host, o->port)) {
        fprintf(stderr,
                "rtmp_bench: --host must be a literal loopback address "
                "(127.0.0.0/8, ::1): %s\n",
                o->host);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

// Room for every socket plus slack; root may raise the hard limit too.
static rtmp_int_t rtmp_bench_nofile(uint64_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return RTMP_ERROR;
    }
    if (rl.rlim_cur >= need) {
        return RTMP_OK;
    }
    struct rlimit want = rl;
    want.rlim_cur = need;
    if (want.rlim_max < need) {
        want.rlim_max = need;
    }
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
        return RTMP_OK;
    }
    want = rl;
    want.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &want);
    fprintf(stderr, "rtmp_bench: RLIMIT_NOFILE is %llu, %llu needed\n",
            (unsigned long long)want.rlim_cur, (unsigned long long)need);
    return want.rlim_cur >= need ? RTMP_OK : RTMP_ERROR;
}

static void rtmp_bench_on_signal(int)
{
    rtmp_bench_interrupted = 1;
}

// ---- the loop -------------------------------------------------------------------------------

// Pending opens: sessions [next, end) wait for a slot under the in-flight cap.
typedef struct rtmp_bench_opener_s rtmp_bench_opener_t;
struct rtmp_bench_opener_s {
    uint32_t next;
    uint32_t end;
    rtmp_bench_role role;
};

static rtmp_bench_stream_t *rtmp_bench_stream_of(uint32_t player)
{
    return &rtmp_bench_streams[player % rtmp_bench_nstreams];
}

static void rtmp_bench_open_some(rtmp_bench_opener_t *op, uint32_t first_player)
{
    while (op->next < op->end && rtmp_bench_ctx.inflight < RTMP_BENCH_INFLIGHT) {
        uint32_t i = op->next++;
        rtmp_bench_stream_t *st =
            op->role == rtmp_bench_role::idle ? nullptr : rtmp_bench_stream_of(i - first_player);
        (void)rtmp_bench_session_open(&rtmp_bench_sessions[i], op->role, st);
    }
}

// Expired stage deadlines; cheap enough to scan every session ten times a second.
static void rtmp_bench_timeouts(uint64_t now)
{
    for (uint32_t i = 0; i < rtmp_bench_nsessions; i++) {
        rtmp_bench_session_t *s = &rtmp_bench_sessions[i];
        if (s->deadline && now > s->deadline && s->state != rtmp_bench_state::free &&
            s->state != rtmp_bench_state::done && s->state != rtmp_bench_state::failed) {
            char why[64];
            snprintf(why, sizeof(why), "timed out%s",
                     s->state == rtmp_bench_state::active ? " waiting for a key frame" : "");
            rtmp_bench_session_close(s, why);
        }
    }
}

// One pass: due media out, pending connects started, events handled, deadlines checked.
static void rtmp_bench_poll(rtmp_bench_opener_t *op, uint32_t first_player)
{
    static uint64_t last_scan;
    static struct epoll_event events[1024];
    uint64_t now = rtmp_bench_now_us();
    uint64_t wait = 100000;
    for (uint32_t i = 0; i < rtmp_bench_nstreams; i++) {
        uint64_t w = rtmp_bench_publish_tick(&rtmp_bench_streams[i], now);
        wait = w < wait ? w : wait;
    }
    if (op) {
        rtmp_bench_open_some(op, first_player);
    }
    if (rtmp_bench_nslow) {
        static uint64_t last_tick;
        if (now - last_tick >= RTMP_BENCH_SLOW_TICK) {
            last_tick = now;
            for (uint32_t i = 0; i < rtmp_bench_nslow; i++) {
                rtmp_bench_slow_tick(&rtmp_bench_sessions[rtmp_bench_slow_list[i]], now);
            }
        }
        uint64_t next = last_tick + RTMP_BENCH_SLOW_TICK;
        uint64_t w = next > now ? next - now : 0;
        wait = w < wait ? w : wait;
    }
    // epoll waits in milliseconds: round up so a tag is never sent early
    int timeout = (int)((wait + 999) / 1000);
    int n = epoll_wait(rtmp_bench_ctx.ep, events, (int)rtmp_nelems(events), timeout);
    for (int i = 0; i < n; i++) {
        uint32_t idx = (uint32_t)events[i].data.u64;
        uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
        if (idx >= rtmp_bench_nsessions) {
            continue;
        }
        rtmp_bench_session_t *s = &rtmp_bench_sessions[idx];
        if (s->gen != gen || s->fd < 0) {
            continue; // closed earlier in this batch, maybe reused
        }
        rtmp_bench_session_event(s, events[i].events);
    }
    now = rtmp_bench_now_us();
    if (now - last_scan > 100000) {
        last_scan = now;
        rtmp_bench_timeouts(now);
    }
}

static bool rtmp_bench_settled(rtmp_bench_state st)
{
    return st == rtmp_bench_state::active || st == rtmp_bench_state::done ||
           st == rtmp_bench_state::failed;
}

// Counts sessions [from, to) that are settled; *ok gets the active/done ones.
static uint32_t rtmp_bench_count(uint32_t from, uint32_t to, uint32_t *ok)
{
    uint32_t settled = 0;
    *ok = 0;
    for (uint32_t i = from; i < to; i++) {
        rtmp_bench_state st = rtmp_bench_sessions[i].state;
        if (rtmp_bench_settled(st)) {
            settled++;
        }
        if (st == rtmp_bench_state::active || st == rtmp_bench_state::done) {
            (*ok)++;
        }
    }
    return settled;
}

// Publishers first: players of a stream not yet published would only wait.
static rtmp_int_t rtmp_bench_start_publishers()
{
    for (uint32_t i = 0; i < rtmp_bench_nstreams; i++) {
        rtmp_bench_stream_t *st = &rtmp_bench_streams[i];
        st->publisher = &rtmp_bench_sessions[i];
        if (rtmp_bench_session_open(st->publisher, rtmp_bench_role::publisher, st) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    uint64_t deadline = rtmp_bench_now_us() + 15 * RTMP_BENCH_SEC;
    while (!rtmp_bench_interrupted && rtmp_bench_now_us() < deadline) {
        rtmp_bench_poll(nullptr, 0);
        uint32_t ok = 0;
        uint32_t settled = rtmp_bench_count(0, rtmp_bench_nstreams, &ok);
        if (settled == rtmp_bench_nstreams) {
            if (ok == rtmp_bench_nstreams) {
                return RTMP_OK;
            }
            break;
        }
    }
    fprintf(stderr, "rtmp_bench: not every publisher could start\n");
    return RTMP_ERROR;
}

static void rtmp_bench_progress(const char *what, uint64_t t0)
{
    uint32_t ok = 0;
    uint32_t settled = rtmp_bench_count(0, rtmp_bench_nsessions, &ok);
    fprintf(stderr, "rtmp_bench: %s %.1f s: %u sessions settled, %u ok, %u in flight\n", what,
            (double)(rtmp_bench_now_us() - t0) / 1e6, settled, ok, rtmp_bench_ctx.inflight);
}

// Runs the loop until `until`, with a progress line a second when verbose.
static void rtmp_bench_run_for(uint64_t until, const char *what, uint64_t t0)
{
    uint64_t next_progress = rtmp_bench_now_us() + RTMP_BENCH_SEC;
    while (!rtmp_bench_interrupted) {
        uint64_t now = rtmp_bench_now_us();
        if (now >= until) {
            break;
        }
        if (rtmp_bench_ctx.verbose && now >= next_progress) {
            next_progress += RTMP_BENCH_SEC;
            rtmp_bench_progress(what, t0);
        }
        rtmp_bench_poll(nullptr, 0);
    }
}

// Opens sessions [from, to) paced, until every one settled or the ramp time ran out.
static void rtmp_bench_ramp(uint32_t from, uint32_t to, rtmp_bench_role role)
{
    rtmp_bench_opener_t op{from, to, role};
    uint64_t t0 = rtmp_bench_now_us();
    uint64_t deadline = t0 + (30 + (to - from) / 200) * RTMP_BENCH_SEC;
    uint64_t next_progress = t0 + RTMP_BENCH_SEC;
    while (!rtmp_bench_interrupted && rtmp_bench_now_us() < deadline) {
        rtmp_bench_poll(&op, from);
        uint32_t ok = 0;
        if (op.next == to && rtmp_bench_count(from, to, &ok) == to - from) {
            break;
        }
        if (rtmp_bench_ctx.verbose && rtmp_bench_now_us() >= next_progress) {
            next_progress += RTMP_BENCH_SEC;
            rtmp_bench_progress("ramp-up", t0);
        }
    }
    for (uint32_t i = from; i < to; i++) {
        rtmp_bench_session_t *s = &rtmp_bench_sessions[i];
        if (s->state == rtmp_bench_state::free) {
            s->role = role;
            s->state = rtmp_bench_state::failed;
            rtmp_bench_error("ramp-up", "not started before the ramp-up time ran out");
        }
    }
}

static void rtmp_bench_close_all()
{
    rtmp_bench_ctx.stopping = true;
    for (uint32_t i = 0; i < rtmp_bench_nsessions; i++) {
        rtmp_bench_session_close(&rtmp_bench_sessions[i], nullptr);
    }
}

static double rtmp_bench_source_mbps()
{
    const rtmp_bench_flv_t *flv = &rtmp_bench_ctx.flv;
    return flv->loop_ms ? (double)flv->media_bytes * 8 / ((double)flv->loop_ms / 1000) / 1e6 : 0;
}

static uint64_t rtmp_bench_player_bytes(uint32_t from)
{
    uint64_t b = 0;
    for (uint32_t i = from; i < rtmp_bench_nsessions; i++) {
        b += rtmp_bench_sessions[i].bytes_in;
    }
    return b;
}

// CPU `cpu`'s ticks from /proc/stat: idle = idle+iowait+steal, user = user+nice. As in
// bench.sh, the busy time is the wall time less idle, which a tickless kernel measures at
// each idle entry and exit; busy ticks would alias with a periodic load.
static bool rtmp_bench_cpu_ticks(int cpu, uint64_t *idle, uint64_t *user)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == nullptr) {
        return false;
    }
    char want[16];
    snprintf(want, sizeof(want), "cpu%d", cpu);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char name[16];
        unsigned long long us, ni, sy, id, io, irq, sirq, st;
        found = sscanf(line, "%15s %llu %llu %llu %llu %llu %llu %llu %llu", name, &us, &ni, &sy,
                       &id, &io, &irq, &sirq, &st) == 9 &&
                strcmp(name, want) == 0;
        if (found) {
            *idle = id + io + st;
            *user = us + ni;
        }
    }
    fclose(f);
    return found;
}

static void rtmp_bench_fanout(const rtmp_bench_opts_t *o, rtmp_bench_report_t *r)
{
    uint32_t first = rtmp_bench_nstreams;
    uint64_t t0 = rtmp_bench_now_us();
    rtmp_bench_ramp(first, rtmp_bench_nsessions, rtmp_bench_role::player);
    uint64_t t1 = rtmp_bench_now_us();
    r->ramp = (double)(t1 - t0) / 1e6;
    // Latency is the steady state's: messages published once every player has played and
    // the GOP bursts they joined with (one GOP, 2 s in the bench media) have drained.
    uint64_t settle = (uint64_t)(std::min(o->duration / 4, RTMP_BENCH_SETTLE_S) * 1e6);
    rtmp_bench_ctx.latency_from = t1 + settle;
    uint64_t b0 = rtmp_bench_player_bytes(first);
    uint64_t idle0 = 0, user0 = 0, idle1 = 0, user1 = 0;
    uint64_t probe_t0 = rtmp_bench_now_us();
    bool probed = o->probe_cpu >= 0 && rtmp_bench_cpu_ticks(o->probe_cpu, &idle0, &user0);
    rtmp_bench_run_for(t1 + (uint64_t)(o->duration * 1e6), "fanout", t1);
    uint64_t t2 = rtmp_bench_now_us();
    if (probed && rtmp_bench_cpu_ticks(o->probe_cpu, &idle1, &user1)) {
        double wall = (double)(rtmp_bench_now_us() - probe_t0) / 1e6 * (double)sysconf(_SC_CLK_TCK);
        double idle = (double)(idle1 - idle0);
        r->probe_cpu = o->probe_cpu;
        r->probe_busy = wall > idle ? (uint64_t)(wall - idle + 0.5) : 0;
        r->probe_user = user1 - user0;
    }
    r->bytes = rtmp_bench_player_bytes(first) - b0;
    r->elapsed = (double)(t2 - t1) / 1e6;
    r->mbps = r->elapsed > 0 ? (double)r->bytes * 8 / r->elapsed / 1e6 : 0;

    // Stop the source and let what is in flight arrive, so the tail is not counted lost;
    // slow readers too, now at full speed: what the server still holds for them is not lost.
    for (uint32_t i = 0; i < rtmp_bench_nstreams; i++) {
        rtmp_bench_streams[i].stopped = true;
    }
    rtmp_bench_ctx.slow_drain = true;
    for (uint32_t i = 0; i < rtmp_bench_nslow; i++) {
        rtmp_bench_slow_tick(&rtmp_bench_sessions[rtmp_bench_slow_list[i]], t2);
    }
    uint64_t drain_end = t2 + 5 * RTMP_BENCH_SEC;
    while (!rtmp_bench_interrupted && rtmp_bench_now_us() < drain_end) {
        bool waiting = false;
        for (uint32_t i = first; i < rtmp_bench_nsessions && !waiting; i++) {
            const rtmp_bench_session_t *s = &rtmp_bench_sessions[i];
            waiting =
                s->state == rtmp_bench_state::active && s->key_seq && s->last_seq < s->stream->seq;
        }
        if (!waiting) {
            break;
        }
        rtmp_bench_poll(nullptr, 0);
    }

    for (uint32_t i = 0; i < first; i++) {
        r->published += rtmp_bench_sessions[i].bytes_out;
    }

    rtmp_bench_group_t *h = &r->healthy, *sl = &r->slow;
    h->complete_min = sl->complete_min = 1;
    double *closed = static_cast<double *>(rtmp_alloc(sizeof(double) * (rtmp_bench_nslow + 1)));
    uint32_t nclosed = 0;
    for (uint32_t i = first; i < rtmp_bench_nsessions; i++) {
        const rtmp_bench_session_t *s = &rtmp_bench_sessions[i];
        rtmp_bench_group_t *g = s->slow ? sl : h;
        double c = rtmp_bench_completeness(s);
        bool alive = s->state == rtmp_bench_state::active;
        uint64_t missing = rtmp_bench_missing(s);
        g->players++;
        if (alive) {
            r->ok++;
            g->ok++;
            *(missing ? &g->skipped : &g->intact) += 1;
        } else {
            r->failed++;
            g->failed++;
            if (s->slow && s->t_closed && s->t_play && nclosed < rtmp_bench_nslow) {
                closed[nclosed++] = (double)(s->t_closed - s->t_play) / 1e6;
            }
        }
        if (c >= RTMP_BENCH_PASS && alive) {
            g->complete++;
        }
        g->complete_avg += c;
        g->complete_min = c < g->complete_min ? c : g->complete_min;
        g->missing += missing;
        g->bytes += s->bytes_in;
    }
    for (rtmp_bench_group_t *g : {h, sl}) {
        g->complete_min = g->players ? g->complete_min : 0;
        g->complete_avg = g->players ? g->complete_avg / g->players : 0;
    }
    if (nclosed) {
        qsort(closed, nclosed, sizeof(double), [](const void *a, const void *b) {
            double x = *static_cast<const double *>(a), y = *static_cast<const double *>(b);
            return (x > y) - (x < y);
        });
        sl->closed_p50_s = closed[nclosed / 2];
    }
    rtmp_free(closed);
    // the verdict and the headline completeness are the healthy players': slow readers
    // are expected to be skipped or dropped, how is what the report shows
    r->complete_ok = h->complete;
    r->complete_min = h->complete_min;
    r->complete_avg = h->complete_avg;
    r->pass = h->failed == 0 && h->complete == h->players && h->players > 0 &&
              rtmp_bench_ctx.latency.count > 0;
}

static void rtmp_bench_idle(const rtmp_bench_opts_t *o, rtmp_bench_report_t *r)
{
    uint64_t t0 = rtmp_bench_now_us();
    rtmp_bench_ramp(0, rtmp_bench_nsessions, rtmp_bench_role::idle);
    uint64_t t1 = rtmp_bench_now_us();
    r->ramp = (double)(t1 - t0) / 1e6;
    uint32_t ok = 0;
    (void)rtmp_bench_count(0, rtmp_bench_nsessions, &ok);
    if (o->verbose) {
        fprintf(stderr, "rtmp_bench: %u of %u sessions connected in %.2f s, holding %.0f s\n", ok,
                rtmp_bench_nsessions, r->ramp, o->duration);
    }
    rtmp_bench_run_for(t1 + (uint64_t)(o->duration * 1e6), "idle", t1);
    r->elapsed = (double)(rtmp_bench_now_us() - t1) / 1e6;
    for (uint32_t i = 0; i < rtmp_bench_nsessions; i++) {
        if (rtmp_bench_sessions[i].state == rtmp_bench_state::active) {
            r->ok++;
        } else {
            r->failed++;
        }
    }
    r->pass = r->failed == 0 && r->ok > 0;
}

static void rtmp_bench_setup(const rtmp_bench_opts_t *o, rtmp_bench_report_t *r)
{
    uint32_t first = rtmp_bench_nstreams;
    uint64_t t0 = rtmp_bench_now_us();
    uint64_t end = t0 + (uint64_t)(o->duration * 1e6);
    uint64_t next_progress = t0 + RTMP_BENCH_SEC;
    uint32_t bursts = 0;
    while (!rtmp_bench_interrupted && rtmp_bench_now_us() < end) {
        for (uint32_t i = first; i < rtmp_bench_nsessions; i++) {
            rtmp_bench_sessions[i].state = rtmp_bench_state::free;
        }
        rtmp_bench_opener_t op{first, rtmp_bench_nsessions, rtmp_bench_role::player};
        // a burst runs to its end (bounded by the session deadlines) even past the duration
        while (!rtmp_bench_interrupted) {
            rtmp_bench_poll(&op, first);
            bool busy = op.next < op.end;
            for (uint32_t i = first; i < rtmp_bench_nsessions && !busy; i++) {
                rtmp_bench_state st = rtmp_bench_sessions[i].state;
                busy = st != rtmp_bench_state::done && st != rtmp_bench_state::failed;
            }
            if (!busy) {
                break;
            }
            if (o->verbose && rtmp_bench_now_us() >= next_progress) {
                next_progress += RTMP_BENCH_SEC;
                fprintf(stderr, "rtmp_bench: setup %.1f s: %llu sessions done, %u bursts\n",
                        (double)(rtmp_bench_now_us() - t0) / 1e6, (unsigned long long)r->ok,
                        bursts);
            }
        }
        bursts++;
        for (uint32_t i = first; i < rtmp_bench_nsessions; i++) {
            if (rtmp_bench_sessions[i].state == rtmp_bench_state::done) {
                r->ok++;
            } else {
                r->failed++;
            }
        }
    }
    r->elapsed = (double)(rtmp_bench_now_us() - t0) / 1e6;
    r->setup_rate = r->elapsed > 0 ? (double)r->ok / r->elapsed : 0;
    r->players = (uint32_t)(r->ok + r->failed);
    r->pass = r->failed == 0 && r->ok > 0;
}

int main(int argc, char **argv)
{
    rtmp_bench_opts_t o;
    if (rtmp_bench_parse(argc, argv, &o) != RTMP_OK) {
        return 2;
    }
    rtmp_bench_ctx_t *c = &rtmp_bench_ctx;
    rtmp_log_stderr_log.level = o.verbose ? RTMP_LOG_WARN : RTMP_LOG_ERR;
    c->log = &rtmp_log_stderr_log;
    c->host = o.host;
    c->port = o.port;
    c->app = o.app;
    c->chunk_size = o.chunk_size;
    c->verbose = o.verbose;
    c->setup = o.mode == rtmp_bench_mode::setup;
    c->setup_until_key = o.until_key;
    snprintf(c->tc_url, sizeof(c->tc_url), "rtmp://%s%s%s:%d/%s",
             c->addr.ss_family == AF_INET6 ? "[" : "", o.host,
             c->addr.ss_family == AF_INET6 ? "]" : "", o.port, o.app);
    // A setup session ends at its first media message, within 4 KB of the play replies:
    // reading more would copy the GOP sent behind it for nothing, and the window that
    // frees would draw the rest of the GOP across
    c->rbuf_size = c->setup && !c->setup_until_key ? 4096 : 256 * 1024;
    c->slow_rcvbuf = o.slow_rcvbuf;
    c->rbuf = static_cast<u_char *>(rtmp_alloc(c->rbuf_size));

    if (o.mode != rtmp_bench_mode::idle && rtmp_bench_flv_load(&c->flv, o.flv) != RTMP_OK) {
        return 2;
    }
    if (c->flv.loop_ms) {
        c->slow_bps = o.slow_rate * (double)c->flv.media_bytes * 1000 / c->flv.loop_ms;
    }

    switch (o.mode) {
    case rtmp_bench_mode::fanout:
        rtmp_bench_nstreams = o.streams;
        rtmp_bench_nsessions = o.streams + o.players;
        break;
    case rtmp_bench_mode::idle:
        rtmp_bench_nstreams = 0;
        rtmp_bench_nsessions = o.players;
        break;
    case rtmp_bench_mode::setup:
        rtmp_bench_nstreams = o.streams;
        rtmp_bench_nsessions = o.streams + o.burst;
        break;
    }
    if (rtmp_bench_nofile((uint64_t)rtmp_bench_nsessions + 64) != RTMP_OK) {
        return 2;
    }
    struct sigaction sa {
    };
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, nullptr);
    sa.sa_handler = rtmp_bench_on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    c->ep = epoll_create1(EPOLL_CLOEXEC);
    if (c->ep < 0) {
        fprintf(stderr, "rtmp_bench: epoll_create1: %s\n", strerror(errno));
        return 2;
    }
    rtmp_bench_sessions = static_cast<rtmp_bench_session_t *>(
        rtmp_calloc(sizeof(rtmp_bench_session_t) * (rtmp_bench_nsessions + 1)));
    for (uint32_t i = 0; i < rtmp_bench_nsessions; i++) {
        rtmp_bench_sessions[i].index = i;
        rtmp_bench_sessions[i].fd = -1;
    }
    rtmp_bench_slow_list =
        static_cast<uint32_t *>(rtmp_alloc(sizeof(uint32_t) * (rtmp_bench_nsessions + 1)));
    if (o.mode == rtmp_bench_mode::fanout && o.slow_fraction > 0) {
        // player j is slow when the running count floor(j * F) steps: evenly spread, and
        // over the streams too, players going round them
        for (uint32_t j = 0; j < o.players; j++) {
            if ((uint64_t)((j + 1) * o.slow_fraction) != (uint64_t)(j * o.slow_fraction)) {
                uint32_t i = rtmp_bench_nstreams + j;
                rtmp_bench_sessions[i].slow = true;
                rtmp_bench_slow_list[rtmp_bench_nslow++] = i;
            }
        }
    }
    rtmp_bench_streams = static_cast<rtmp_bench_stream_t *>(
        rtmp_calloc(sizeof(rtmp_bench_stream_t) * (rtmp_bench_nstreams + 1)));
    for (uint32_t i = 0; i < rtmp_bench_nstreams; i++) {
        snprintf(rtmp_bench_streams[i].name, sizeof(rtmp_bench_streams[i].name), "s%u", i);
        rtmp_bench_streams[i].ring = static_cast<rtmp_bench_sent_t *>(
            rtmp_alloc(sizeof(rtmp_bench_sent_t) * RTMP_BENCH_RING));
    }

    static const char *const mode_names[] = {"fanout", "idle", "setup"};
    rtmp_bench_report_t r{};
    r.mode = mode_names[(int)o.mode];
    r.host = o.host;
    r.port = o.port;
    r.app = o.app;
    r.flv = o.flv ? o.flv : "";
    r.streams = rtmp_bench_nstreams;
    r.players = o.mode == rtmp_bench_mode::setup ? 0 : o.players;
    r.burst = o.burst;
    r.duration = o.duration;
    r.source_mbps = rtmp_bench_source_mbps();
    r.latency = &c->latency;
    r.startup = &c->startup;
    r.first_media = &c->first_media;
    r.slow_fraction = o.slow_fraction;
    r.slow_rate = o.slow_rate;
    r.slow_rcvbuf = o.slow_rcvbuf;
    r.probe_cpu = -1;
    r.slow_latency = &c->slow_latency;

    bool started = rtmp_bench_nstreams == 0 || rtmp_bench_start_publishers() == RTMP_OK;
    if (started) {
        switch (o.mode) {
        case rtmp_bench_mode::fanout:
            rtmp_bench_fanout(&o, &r);
            break;
        case rtmp_bench_mode::idle:
            rtmp_bench_idle(&o, &r);
            break;
        case rtmp_bench_mode::setup:
            rtmp_bench_setup(&o, &r);
            break;
        }
    }
    if (rtmp_bench_interrupted) {
        rtmp_bench_error("run", "interrupted");
        r.pass = false;
    }
    r.lat_misses = c->lat_misses;
    if (o.mode == rtmp_bench_mode::fanout) {
        // setup mode reuses its slots burst after burst, so only fan-out has per-player rows
        r.sessions = rtmp_bench_sessions;
        r.nsessions = rtmp_bench_nsessions;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        r.cpu_user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        r.cpu_sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    // the JSON names player states as they were at the end, so close afterwards
    rtmp_bench_report_print(&r);
    rtmp_int_t jrc = o.json ? rtmp_bench_report_json(&r, o.json) : RTMP_OK;
    rtmp_bench_close_all();
    return jrc == RTMP_OK && r.pass ? 0 : 1;
}
