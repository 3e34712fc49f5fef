// libFuzzer harness: a whole session (handshake, chunks, commands, live) through the real
// event loop, fed the input over a socketpair in arbitrary pieces.
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "core/rtmp_module.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "event/rtmp_event.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_session.h"

// Parsed once; short timeouts would only fire on real time, which a run never reaches.
static const char fuzz_conf[] = "worker_processes = 1;\n"
                                "log_level = \"emerg\";\n"
                                "rtmp = { server = ( { listen = [ \"127.0.0.1:19399\" ];\n"
                                "  application = ( { name = \"live\"; live = true; } );\n"
                                "} ); };\n";

static rtmp_listening_t fuzz_listening;
static rtmp_event_t fuzz_tick; // an expired timer: every loop turn polls without waiting
static sigset_t fuzz_mask;

static void fuzz_init()
{
    rtmp_log_stderr_log.level = RTMP_LOG_EMERG; // sessions log every close at info
    rtmp_time_update();
    rtmp_modules_init();
    char path[] = "/tmp/fuzz_session_XXXXXX";
    int fd = mkstemp(path);
    if (fd == -1 || write(fd, fuzz_conf, sizeof(fuzz_conf) - 1) != (ssize_t)sizeof(fuzz_conf) - 1) {
        abort();
    }
    close(fd);
    char error[600];
    rtmp_cycle_t *cycle = rtmp_cycle_read(path, error, sizeof(error));
    unlink(path);
    if (cycle == nullptr) {
        fprintf(stderr, "fuzz_session: %s\n", error);
        abort();
    }
    cycle->log = &rtmp_log_stderr_log;
    rtmp_cycle = cycle;
    if (rtmp_event_init(64, cycle->log) != RTMP_OK ||
        rtmp_connections_init(8, cycle->log) != RTMP_OK) {
        abort();
    }
    fuzz_listening.server = cycle->servers[0];
    fuzz_listening.fd = -1;
    fuzz_tick.handler = [](rtmp_event_t *) {};
    fuzz_tick.log = cycle->log;
    sigemptyset(&fuzz_mask);
}

static void fuzz_turn(int peer)
{
    rtmp_event_add_timer(&fuzz_tick, 0);
    rtmp_event_process(&fuzz_mask);
    u_char sink[65536];
    while (read(peer, sink, sizeof(sink)) > 0) {
        // what the server says is not checked here; reading keeps its socket writable
    }
}

// The first input byte seeds the piece sizes; the rest is what a client sends.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_init();
        ready = true;
    }
    if (size < 1) {
        return 0;
    }
    uint32_t x = data[0] | 1u;
    data++;
    size--;

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == -1) {
        abort();
    }
    rtmp_connection_t *c = rtmp_connection_get(fds[0]);
    if (c == nullptr) {
        abort();
    }
    c->listening = &fuzz_listening;
    c->log = rtmp_log_stderr_log;
    c->pool = rtmp_pool_create(1024, &c->log);
    rtmp_connection_activate(c);
    rtmp_session_init(c);

    // bounded: every turn writes at least one byte or the session is gone
    size_t pos = 0;
    for (int turns = 0; pos < size && !c->destroyed && turns < 4096; turns++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t len = (x & 1) ? (x >> 1) % 16 + 1 : (x >> 1) % 8192 + 1;
        if (len > size - pos) {
            len = size - pos;
        }
        ssize_t n = write(fds[1], data + pos, len);
        if (n > 0) {
            pos += (size_t)n;
        }
        fuzz_turn(fds[1]);
    }
    // what the read cap left for later, and posted closes
    for (int i = 0; i < 8 && !c->destroyed; i++) {
        fuzz_turn(fds[1]);
    }
    if (!c->destroyed) {
        c->close = 1; // as a worker shutting down: finalizes the session at once
        c->read->handler(c->read);
    }
    rtmp_event_process_posted();
    close(fds[1]);
    return 0;
}
