// libFuzzer harness: arbitrary bytes in arbitrary splits into the server and client handshakes.
#include "core/rtmp_log.h"
#include "rtmp/rtmp_handshake.h"

static rtmp_log_t fuzz_log = {RTMP_LOG_STDERR, nullptr, nullptr, nullptr};

// Invariants the session relies on; a violation is a bug, so crash loudly.
static void fuzz_check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

// The first input byte seeds the split sizes; the rest is the peer's byte stream.
static void fuzz_run(rtmp_handshake_t *hs, const uint8_t *data, size_t size, uint8_t seed)
{
    size_t pos = 0, total = 0;
    uint32_t x = seed | 1u;
    rtmp_int_t rc = RTMP_AGAIN;
    while (pos < size) {
        // xorshift for split lengths 1..4096, skewed towards small ones
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t len = (x & 1) ? (x >> 1) % 8 + 1 : (x >> 1) % 4096 + 1;
        if (len > size - pos) {
            len = size - pos;
        }
        size_t n = 12345;
        rc = rtmp_handshake_feed(hs, std::span<const u_char>{data + pos, len}, &n);
        fuzz_check(n <= len);
        fuzz_check(hs->out.start == hs->out_data && hs->out.pos <= hs->out.last &&
                   hs->out.last <= hs->out.end);
        total += n;
        if (rc == RTMP_AGAIN) {
            fuzz_check(n == len);
        } else if (rc == RTMP_DONE) {
            fuzz_check(total == 1 + 2 * RTMP_HANDSHAKE_SIZE);
            fuzz_check(hs->reply != rtmp_handshake_reply::unknown);
            fuzz_check(hs->type != rtmp_handshake_type::unknown);
            break;
        } else {
            fuzz_check(rc == RTMP_ERROR && hs->reason != nullptr && hs->reason[0] != '\0');
            break;
        }
        // the caller sends some of the output between reads
        hs->out.pos += (hs->out.last - hs->out.pos) / 2;
        pos += len;
    }
    if (rc == RTMP_AGAIN) {
        fuzz_check(total == size);
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t seed = data[0];
    data++;
    size--;

    static rtmp_handshake_t hs; // 4.6 KB: keep it off the fuzzer's stack
    if (rtmp_handshake_init_server(&hs, &fuzz_log) == RTMP_OK) {
        fuzz_run(&hs, data, size, seed);
    }
    if (rtmp_handshake_init_client(&hs, &fuzz_log) == RTMP_OK) {
        fuzz_run(&hs, data, size, seed);
    }
    // a client replaying the input's own first 1536 bytes as its C1
    if (size >= RTMP_HANDSHAKE_SIZE &&
        rtmp_handshake_init_client_c1(&hs, std::span<const u_char>{data, RTMP_HANDSHAKE_SIZE},
                                      &fuzz_log) == RTMP_OK) {
        fuzz_run(&hs, data + RTMP_HANDSHAKE_SIZE, size - RTMP_HANDSHAKE_SIZE, seed);
    }
    return 0;
}
