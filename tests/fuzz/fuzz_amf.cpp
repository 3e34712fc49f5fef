// libFuzzer harness: arbitrary bytes as AMF0, AMF3 and a command; what decodes re-encodes stably.
#include <cstdlib>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_cmd.h"

// Encodes v, decodes the result and encodes again: the two encodings must match.
static void rtmp_fuzz_stable(rtmp_pool_t *pool, const rtmp_amf_value_t *v, bool amf3)
{
    rtmp_buf_t *b1 = rtmp_buf_create(pool, 1 << 20);
    rtmp_buf_t *b2 = rtmp_buf_create(pool, 1 << 20);
    if ((amf3 ? rtmp_amf3_encode(b1, v) : rtmp_amf0_encode(b1, v)) != RTMP_OK) {
        return; // e.g. an empty AMF0 key has no AMF3 form
    }
    rtmp_amf_limits_t lim = {.max_depth = 64, .max_values = 1 << 20, .max_string = 1 << 20};
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t w;
    rtmp_amf_decoder_init(&d, pool, rtmp_buf_span(b1), &lim);
    if ((amf3 ? rtmp_amf3_decode(&d, &w) : rtmp_amf0_decode(&d, &w)) != RTMP_OK ||
        !rtmp_amf_decoder_done(&d)) {
        abort();
    }
    if ((amf3 ? rtmp_amf3_encode(b2, &w) : rtmp_amf0_encode(b2, &w)) != RTMP_OK ||
        rtmp_buf_size(b1) != rtmp_buf_size(b2) ||
        memcmp(b1->pos, b2->pos, rtmp_buf_size(b1)) != 0) {
        abort();
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rtmp_pool_t *pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    std::span<const u_char> in{data, size};
    rtmp_amf_limits_t lim = {.max_depth = 16, .max_values = 1024, .max_string = 4096};
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t v;

    rtmp_amf_decoder_init(&d, pool, in, &lim);
    // only the first value is re-encoded: later ones may refer back to earlier ones
    for (bool first = true; !rtmp_amf_decoder_done(&d) && rtmp_amf0_decode(&d, &v) == RTMP_OK;
         first = false) {
        if (first) {
            rtmp_fuzz_stable(pool, &v, false);
        }
    }

    rtmp_amf_decoder_init(&d, pool, in, &lim);
    // only the first value is re-encoded: later ones may refer back to earlier ones
    for (bool first = true; !rtmp_amf_decoder_done(&d) && rtmp_amf3_decode(&d, &v) == RTMP_OK;
         first = false) {
        if (first) {
            rtmp_fuzz_stable(pool, &v, true);
        }
    }

    rtmp_cmd_t cmd;
    const char *err;
    if (rtmp_cmd_parse(pool, size && data[0] == 0 ? 17 : 20, in, &lim, &cmd, &err) == RTMP_OK) {
        rtmp_cmd_connect_t c;
        rtmp_cmd_stream_t s;
        rtmp_cmd_control_t ctl;
        (void)rtmp_cmd_get_connect(&cmd, &c, &err);
        (void)rtmp_cmd_get_stream(&cmd, &s, &err);
        (void)rtmp_cmd_get_control(&cmd, &ctl, &err);
        rtmp_buf_t *b = rtmp_buf_create(pool, 512);
        (void)rtmp_cmd_call_error(b, cmd.tid, cmd.name.sv());
    }

    rtmp_pool_destroy(pool);
    return 0;
}
