// libFuzzer harness: arbitrary bytes in arbitrary splits to the chunk reader, every message
// re-chunked by the writer and read back, control and aggregate parsing on what comes out.
#include <cstdlib>

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_chunk.h"
#include "rtmp/rtmp_control.h"

// Writes m with w and reads it back with r; any difference is a bug in one of them.
static void fuzz_chunk_round_trip(rtmp_chunk_writer_t *w, rtmp_chunk_reader_t *r, rtmp_buf_t *out,
                                  const rtmp_message_t *m)
{
    if (m->h.csid < 2 || m->h.csid > RTMP_CHUNK_CSID_MAX) {
        __builtin_trap();
    }
    // chunk-layer control would change the second reader's state; the round trip covers media
    if (m->h.type == RTMP_MSG_CHUNK_SIZE || m->h.type == RTMP_MSG_ABORT) {
        return;
    }
    rtmp_buf_reset(out);
    size_t size = rtmp_chunk_write_size(w, &m->h);
    if (size > rtmp_buf_free(out)) {
        return;
    }
    if (rtmp_chunk_write(w, m, out) != RTMP_OK || rtmp_buf_size(out) != size) {
        __builtin_trap();
    }
    rtmp_message_t back;
    size_t used;
    if (rtmp_chunk_read(r, rtmp_buf_span(out), &used, &back) != RTMP_OK || used != size) {
        __builtin_trap();
    }
    if (back.h.csid != m->h.csid || back.h.timestamp != m->h.timestamp ||
        back.h.mlen != m->h.mlen || back.h.type != m->h.type || back.h.msid != m->h.msid ||
        (m->h.mlen && memcmp(back.payload.data(), m->payload.data(), m->h.mlen) != 0)) {
        __builtin_trap();
    }
}

static void fuzz_chunk_inspect(const rtmp_message_t *m)
{
    const char *reason = nullptr;
    if (m->h.type <= RTMP_MSG_BANDWIDTH) {
        rtmp_control_t c;
        rtmp_int_t rc = rtmp_control_parse(m, &c, &reason);
        if (rc == RTMP_ERROR && reason == nullptr) {
            __builtin_trap();
        }
    } else if (m->h.type == RTMP_MSG_AGGREGATE) {
        rtmp_aggregate_t a;
        rtmp_message_t sub;
        rtmp_aggregate_init(&a, m);
        size_t total = 0;
        rtmp_int_t rc;
        while ((rc = rtmp_aggregate_next(&a, &sub, &reason)) == RTMP_OK) {
            total += 15 + sub.payload.size();
            if (sub.payload.data() < m->payload.data() ||
                sub.payload.data() + sub.payload.size() > m->payload.data() + m->payload.size()) {
                __builtin_trap();
            }
        }
        if (total > m->payload.size() || (rc == RTMP_ERROR && reason == nullptr)) {
            __builtin_trap();
        }
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    // First byte: the split pattern's seed; second: the writer's chunk size.
    uint32_t seed = data[0];
    uint32_t out_chunk = 1 + (uint32_t)data[1] * 17;
    data += 2;
    size -= 2;

    rtmp_log_t log = rtmp_log_stderr_log;
    log.level = 0;
    rtmp_pool_t *pool = rtmp_pool_create(4096, &log);
    rtmp_chunk_reader_conf_t conf{};
    conf.max_chunk_size = 8192;
    conf.max_message = 65536;
    conf.max_streams = 8;
    conf.max_buffered = 200000;
    rtmp_chunk_reader_t *r = rtmp_chunk_reader_create(pool, &conf);
    rtmp_chunk_reader_conf_t conf2{};
    conf2.max_message = RTMP_CHUNK_MESSAGE_MAX;
    conf2.max_chunk_size = RTMP_CHUNK_MAX_SIZE;
    rtmp_chunk_reader_t *r2 = rtmp_chunk_reader_create(pool, &conf2);
    rtmp_chunk_writer_t w;
    rtmp_chunk_writer_init(&w, pool, 128);
    rtmp_buf_t *out = rtmp_buf_create(pool, 200000);

    // The second reader learns the writer's chunk size through a real Set Chunk Size.
    rtmp_control_buf_t cb;
    rtmp_message_t cs = rtmp_control_chunk_size(&cb, out_chunk);
    rtmp_message_t got;
    size_t used;
    if (rtmp_chunk_write(&w, &cs, out) != RTMP_OK ||
        rtmp_chunk_read(r2, rtmp_buf_span(out), &used, &got) != RTMP_OK) {
        __builtin_trap();
    }
    w.chunk_size = out_chunk;

    size_t pos = 0;
    uint64_t fed = 0;
    while (pos < size) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = std::min<size_t>(size - pos, 1 + (seed >> 16) % 64);
        std::span<const u_char> in{data + pos, piece};
        rtmp_int_t rc;
        for (;;) {
            rc = rtmp_chunk_read(r, in, &used, &got);
            fed += used;
            if (used > in.size()) {
                __builtin_trap();
            }
            in = in.subspan(used);
            if (rc != RTMP_OK) {
                break;
            }
            if (got.payload.size() != got.h.mlen || got.h.mlen > conf.max_message) {
                __builtin_trap();
            }
            fuzz_chunk_inspect(&got);
            fuzz_chunk_round_trip(&w, r2, out, &got);
        }
        if (rc == RTMP_ERROR) {
            if (r->reason == nullptr) {
                __builtin_trap();
            }
            break;
        }
        if (!in.empty() || r->nstreams > conf.max_streams || r->buffered > conf.max_buffered) {
            __builtin_trap();
        }
        pos += piece;
    }
    if (fed != r->bytes_read) {
        __builtin_trap();
    }

    // and the raw input as one aggregate body
    rtmp_message_t agg{};
    agg.h = {3, 1000, (uint32_t)size, RTMP_MSG_AGGREGATE, 1};
    agg.payload = {data, size};
    fuzz_chunk_inspect(&agg);

    rtmp_pool_destroy(pool);
    return 0;
}
