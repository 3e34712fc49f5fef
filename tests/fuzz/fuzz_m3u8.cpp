// libFuzzer harness: arbitrary text read back as a playlist; what is taken renders and re-reads
// stably.
#include <cstdlib>

#include "core/rtmp_log.h"
#include "hls/rtmp_m3u8.h"

static rtmp_buf_t *rtmp_fuzz_render(rtmp_pool_t *pool, const rtmp_m3u8_t *pl)
{
    rtmp_buf_t *b = rtmp_buf_create(pool, rtmp_m3u8_render_size(pl));
    if (rtmp_m3u8_render(pl, b) != RTMP_OK) {
        abort(); // render_size is an upper bound
    }
    return b;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rtmp_pool_t *pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    std::string_view text(reinterpret_cast<const char *>(data), size);
    // no time window: only the ring bounds what is kept, so a second reading keeps it all
    rtmp_m3u8_t a;
    rtmp_m3u8_init(&a, pool, 64, 0, 0);
    rtmp_int_t rc = rtmp_m3u8_parse(&a, text, "s-", nullptr, nullptr);
    if (rc == RTMP_OK) {
        rtmp_buf_t *r1 = rtmp_fuzz_render(pool, &a);
        rtmp_m3u8_t b;
        rtmp_m3u8_init(&b, pool, 64, 0, 0);
        std::string_view t1(reinterpret_cast<const char *>(r1->pos), rtmp_buf_size(r1));
        if (rtmp_m3u8_parse(&b, t1, "s-", nullptr, nullptr) != RTMP_OK) {
            abort(); // what we render we read
        }
        rtmp_buf_t *r2 = rtmp_fuzz_render(pool, &b);
        if (rtmp_buf_size(r1) != rtmp_buf_size(r2) ||
            memcmp(r1->pos, r2->pos, rtmp_buf_size(r1)) != 0 ||
            rtmp_m3u8_next_sequence(&a) != rtmp_m3u8_next_sequence(&b)) {
            abort();
        }
    } else if (rc != RTMP_DECLINED || a.count != 0 || a.target != 0) {
        abort(); // declined leaves the model as initialised
    }
    rtmp_pool_destroy(pool);
    return 0;
}
