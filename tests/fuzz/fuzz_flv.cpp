// libFuzzer harness: arbitrary bytes as an FLV file, read tag by tag, indexed and scanned.
#include <cstdlib>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_flv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data, size);
    uint64_t off;
    const char *err = nullptr;
    if (rtmp_flv_open(&f, &off, &err) != RTMP_OK) {
        return 0;
    }
    uint64_t first = off;
    static u_char body[1 << 16];
    rtmp_pool_t *pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    rtmp_flv_file_meta_t meta = {};
    for (int i = 0; i < 100000; i++) {
        rtmp_flv_tag_t t;
        if (rtmp_flv_read_tag(&f, off, sizeof(body), &t, &err) != RTMP_OK) {
            break;
        }
        // a tag handed out lies inside the file and moves forward
        if (t.next <= off || t.body + t.size > size || t.size > sizeof(body)) {
            abort();
        }
        if (rtmp_flv_read_body(&f, &t, body) != RTMP_OK) {
            abort();
        }
        if (t.type == RTMP_FLV_SCRIPT && meta.nkeys == 0) {
            (void)rtmp_flv_parse_meta(pool, {body, t.size}, &meta);
        }
        off = t.next;
    }
    for (uint32_t k = 0; k < meta.nkeys; k++) {
        if (k > 0 && meta.key_times[k] < meta.key_times[k - 1]) {
            abort();
        }
    }
    int64_t i = rtmp_flv_meta_find(&meta, size);
    if (i >= (int64_t)meta.nkeys) {
        abort();
    }
    uint64_t at;
    if (rtmp_flv_scan_key(&f, first, size % 5000, 10000, &at, &err) == RTMP_OK && at > size &&
        at != first) {
        abort();
    }
    rtmp_pool_destroy(pool);
    return 0;
}
