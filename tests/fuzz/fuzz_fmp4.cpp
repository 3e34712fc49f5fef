// libFuzzer harness: arbitrary audio/video messages into the fragmented MP4 muxer.
#include <cstdlib>

#include "hls/rtmp_fmp4.h"

static size_t fuzz_fmp4_bytes;

static rtmp_int_t fuzz_fmp4_output(void *, const u_char *p, size_t len)
{
    if (len == 0 || p == nullptr) {
        abort(); // the muxer never hands over nothing
    }
    fuzz_fmp4_bytes += len;
    return RTMP_OK;
}

// Input: records of [type byte, timestamp byte, length byte, payload]; the type's low bit
// picks audio or video, so sequence headers and frames of both meet in any order.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rtmp_fmp4_t mx;
    rtmp_fmp4_init(&mx, fuzz_fmp4_output, nullptr, size % 3 ? 1000 : 0);
    mx.keep_index = size % 2;
    uint32_t ts = 0;
    size_t pos = 0;
    while (size - pos >= 3) {
        uint8_t type = data[pos] & 1 ? RTMP_MSG_VIDEO : RTMP_MSG_AUDIO;
        ts += data[pos + 1] * 7;
        size_t len = data[pos + 2];
        pos += 3;
        if (len > size - pos) {
            len = size - pos;
        }
        rtmp_message_t m{};
        m.h.type = type;
        m.h.timestamp = (data[pos - 3] & 2) ? ts - 50 : ts; // now and then going back
        m.h.mlen = (uint32_t)len;
        m.payload = {data + pos, len};
        (void)rtmp_fmp4_message(&mx, &m);
        pos += len;
    }
    if (rtmp_fmp4_flush(&mx) != RTMP_OK) {
        abort();
    }
    uint64_t media = 0;
    for (uint32_t f = 0; f < mx.nfrags; f++) {
        // every fragment's media lies inside what was written
        media = mx.frags[f].offset + mx.frags[f].video_len + mx.frags[f].audio_len;
        if (media > mx.written) {
            abort();
        }
    }
    rtmp_int_t rc = rtmp_fmp4_finalize(&mx, fuzz_fmp4_output, nullptr);
    if (rc != RTMP_OK && rc != RTMP_DECLINED) {
        abort();
    }
    rtmp_fmp4_free(&mx);
    return 0;
}
