// libFuzzer harness: arbitrary bytes as an MP4 file, plain or fragmented.
#include <cstdlib>

#include "rtmp/rtmp_mp4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data, size);
    rtmp_mp4_t m;
    const char *err = nullptr;
    if (rtmp_mp4_open(&m, &f, &err) != RTMP_OK) {
        if (err == nullptr) {
            abort(); // a refusal always says why
        }
        return 0;
    }
    for (rtmp_mp4_track_t *t : {&m.video, &m.audio}) {
        // an edit list moves a track by at most its bound, and never before 0
        if (t->edit_ms < -(int64_t)RTMP_MP4_MAX_EDIT_MS ||
            t->edit_ms > (int64_t)RTMP_MP4_MAX_EDIT_MS || t->shift < t->edit_ms) {
            abort();
        }
    }
    u_char out[8 + 65536];
    for (int pass = 0; pass < 2; pass++) {
        rtmp_mp4_sample_t s;
        for (int i = 0; i < 100000 && rtmp_mp4_next(&m, &s) == RTMP_OK; i++) {
            if (rtmp_mp4_flv_prefix(&s, out) > 8) {
                abort();
            }
            if (m.fragmented && (s.offset > size || s.size > size - s.offset)) {
                abort(); // a fragment's samples are checked against the file at open
            }
        }
        uint32_t key;
        rtmp_mp4_seek(&m, size % 3000, &key);
    }
    for (rtmp_mp4_track_t *t : {&m.video, &m.audio}) {
        if (rtmp_mp4_flv_header(t, out, sizeof(out)) > sizeof(out)) {
            abort();
        }
    }
    rtmp_mp4_close(&m);
    return 0;
}
