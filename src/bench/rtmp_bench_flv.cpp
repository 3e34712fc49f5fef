// rtmp_bench: loads an FLV file into memory and indexes its tags for paced publishing.
#include "rtmp_bench.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t rtmp_bench_be24(const u_char *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

bool rtmp_bench_video_is_header(std::span<const u_char> p)
{
    if (p.empty()) {
        return false;
    }
    if (p[0] & 0x80) {
        // Enhanced RTMP: low nibble is the packet type, 0 = SequenceStart
        return (p[0] & 0x0f) == 0;
    }
    uint8_t codec = p[0] & 0x0f;
    // AVC (7), HEVC (12, the de-facto id), AV1 in some muxers: packet type 0 = config
    if ((codec == 7 || codec == 12 || codec == 13) && p.size() >= 2) {
        return p[1] == 0;
    }
    return false;
}

bool rtmp_bench_video_is_key(std::span<const u_char> p)
{
    if (p.empty()) {
        return false;
    }
    return ((p[0] >> 4) & 0x07) == 1 && !rtmp_bench_video_is_header(p);
}

bool rtmp_bench_audio_is_header(std::span<const u_char> p)
{
    // AAC (sound format 10): AACPacketType 0 is the AudioSpecificConfig
    return p.size() >= 2 && (p[0] >> 4) == 10 && p[1] == 0;
}

rtmp_int_t rtmp_bench_flv_load(rtmp_bench_flv_t *flv, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "rtmp_bench: cannot open %s: %s\n", path, strerror(errno));
        return RTMP_ERROR;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 13) {
        fprintf(stderr, "rtmp_bench: %s: not an FLV file (too short)\n", path);
        close(fd);
        return RTMP_ERROR;
    }
    size_t size = (size_t)sb.st_size;
    flv->file = static_cast<u_char *>(rtmp_alloc(size));
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, flv->file + got, size - got);
        if (n <= 0) {
            fprintf(stderr, "rtmp_bench: reading %s: %s\n", path, n < 0 ? strerror(errno) : "EOF");
            close(fd);
            return RTMP_ERROR;
        }
        got += (size_t)n;
    }
    close(fd);
    flv->file_size = size;

    const u_char *p = flv->file;
    if (p[0] != 'F' || p[1] != 'L' || p[2] != 'V') {
        fprintf(stderr, "rtmp_bench: %s: no FLV signature\n", path);
        return RTMP_ERROR;
    }
    size_t pos = (size_t)p[5] << 24 | (size_t)p[6] << 16 | (size_t)p[7] << 8 | p[8];
    pos += 4; // PreviousTagSize0

    // Two passes: count, then fill, so the index is one allocation.
    uint32_t cap = 0;
    for (size_t q = pos; q + 11 <= size;) {
        uint32_t len = rtmp_bench_be24(p + q + 1);
        if (q + 11 + len > size) {
            break;
        }
        cap++;
        q += 11 + len + 4;
    }
    flv->tags = static_cast<rtmp_bench_tag_t *>(rtmp_calloc(sizeof(rtmp_bench_tag_t) * (cap + 1)));

    bool have_first = false;
    uint32_t first = 0, last = 0, last_video = 0, video_delta = 0;
    while (pos + 11 <= size) {
        uint8_t type = p[pos] & 0x1f;
        bool filtered = p[pos] & 0x20;
        uint32_t len = rtmp_bench_be24(p + pos + 1);
        uint32_t ts = rtmp_bench_be24(p + pos + 4) | (uint32_t)p[pos + 7] << 24;
        if (pos + 11 + len > size) {
            break; // a truncated last tag, as left by a killed recorder
        }
        const u_char *data = p + pos + 11;
        pos += 11 + len + 4;
        if (filtered || len == 0 || (type != 8 && type != 9 && type != 18)) {
            continue;
        }
        if (!have_first) {
            first = ts;
            have_first = true;
        }
        rtmp_bench_tag_t *t = &flv->tags[flv->ntags++];
        t->ts = ts - first;
        t->size = len;
        t->data = data;
        t->type = type;
        std::span<const u_char> pl{data, len};
        if (type == 9) {
            t->header = rtmp_bench_video_is_header(pl);
            t->key = rtmp_bench_video_is_key(pl);
            if (!t->header) {
                if (t->ts > last_video && last_video != 0) {
                    video_delta = t->ts - last_video;
                }
                last_video = t->ts;
            }
        } else if (type == 8) {
            t->header = rtmp_bench_audio_is_header(pl);
        }
        if (!t->header && type != 18) {
            flv->media_bytes += len;
        }
        if (t->ts > last) {
            last = t->ts;
        }
    }
    if (flv->ntags == 0) {
        fprintf(stderr, "rtmp_bench: %s: no audio or video tags\n", path);
        return RTMP_ERROR;
    }
    // The next pass starts one frame after the last one, so the stream keeps its rate.
    flv->loop_ms = last + (video_delta ? video_delta : 33);
    return RTMP_OK;
}
