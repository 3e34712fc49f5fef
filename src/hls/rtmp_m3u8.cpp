// Live HLS playlist model: sequence numbers, sliding window, target duration, rendering.
#include "hls/rtmp_m3u8.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

void rtmp_m3u8_init(rtmp_m3u8_t *pl, rtmp_pool_t *pool, uint32_t max_segments, double window,
                    uint64_t first_sequence)
{
    memset(pl, 0, sizeof(*pl));
    pl->max_segments = max_segments > 0 ? max_segments : 1;
    pl->segs = rtmp_palloc<rtmp_m3u8_segment_t>(pool, pl->max_segments);
    pl->window = window;
    pl->next_sequence = first_sequence;
}

const rtmp_m3u8_segment_t *rtmp_m3u8_segment(const rtmp_m3u8_t *pl, uint32_t i)
{
    if (i >= pl->count) {
        return nullptr;
    }
    return &pl->segs[(pl->head + i) % pl->max_segments];
}

static void rtmp_m3u8_remove(rtmp_m3u8_t *pl, rtmp_m3u8_removed_pt removed, void *data)
{
    rtmp_m3u8_segment_t *s = &pl->segs[pl->head];
    pl->head = (pl->head + 1) % pl->max_segments;
    pl->count--;
    pl->total -= s->duration;
    // RFC 8216 6.2.2: removing an EXT-X-DISCONTINUITY tag advances the sequence
    if (s->discontinuity) {
        pl->discontinuity_sequence++;
    }
    if (removed != nullptr) {
        removed(data, s);
    }
}

rtmp_int_t rtmp_m3u8_add(rtmp_m3u8_t *pl, double duration, std::string_view uri,
                         rtmp_m3u8_removed_pt removed, void *data)
{
    if (uri.size() >= RTMP_M3U8_URI || !std::isfinite(duration) || duration < 0) {
        return RTMP_ERROR;
    }
    // the ring is full: the oldest goes first so the new one has a slot
    if (pl->count == pl->max_segments) {
        rtmp_m3u8_remove(pl, removed, data);
    }

    rtmp_m3u8_segment_t *s = &pl->segs[(pl->head + pl->count) % pl->max_segments];
    s->sequence = pl->next_sequence++;
    s->duration = duration;
    s->discontinuity = pl->discontinuity;
    memcpy(s->uri, uri.data(), uri.size());
    s->uri[uri.size()] = '\0';
    pl->count++;
    pl->total += duration;
    pl->discontinuity = false;
    pl->ended = false;

    // RFC 8216 4.3.3.1: EXTINF rounded must not exceed it; rounded up from what is
    // rendered (milliseconds) so float noise never adds a second
    uint32_t t = (uint32_t)std::ceil(std::round(duration * 1000) / 1000);
    if (t > pl->target) {
        pl->target = t;
    }

    while (pl->window > 0 && pl->count > 1) {
        double rest = pl->total - pl->segs[pl->head].duration;
        if (rest < pl->window || rest < 3.0 * pl->target) {
            break;
        }
        rtmp_m3u8_remove(pl, removed, data);
    }
    return RTMP_OK;
}

size_t rtmp_m3u8_render_size(const rtmp_m3u8_t *pl)
{
    // header lines with 20-digit numbers, then per segment a discontinuity line, an
    // EXTINF with up to 20 integer digits, and the URI
    return 160 + (size_t)pl->count * (32 + 40 + RTMP_M3U8_URI) + 16;
}

// snprintf at b->last; false when it did not fit.
[[gnu::format(printf, 3, 4)]] static bool rtmp_m3u8_printf(rtmp_buf_t *b, u_char *end,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = (size_t)(end - b->last);
    int n = vsnprintf(reinterpret_cast<char *>(b->last), room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        return false;
    }
    b->last += n;
    return true;
}

rtmp_int_t rtmp_m3u8_render(const rtmp_m3u8_t *pl, rtmp_buf_t *b)
{
    u_char *start = b->last;
    u_char *end = b->end;
    bool ok = rtmp_m3u8_printf(
        b, end,
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-MEDIA-SEQUENCE:%llu\n"
        "#EXT-X-TARGETDURATION:%u\n",
        (unsigned long long)(pl->count > 0 ? pl->segs[pl->head].sequence : pl->next_sequence),
        pl->target > 0 ? pl->target : 1);
    // RFC 8216 4.3.3.3: absent means 0
    if (ok && pl->discontinuity_sequence > 0) {
        ok = rtmp_m3u8_printf(b, end, "#EXT-X-DISCONTINUITY-SEQUENCE:%llu\n",
                              (unsigned long long)pl->discontinuity_sequence);
    }
    for (uint32_t i = 0; ok && i < pl->count; i++) {
        const rtmp_m3u8_segment_t *s = rtmp_m3u8_segment(pl, i);
        if (s->discontinuity) {
            ok = rtmp_m3u8_printf(b, end, "#EXT-X-DISCONTINUITY\n");
        }
        // version 3 allows decimal durations (RFC 8216 7)
        ok = ok && rtmp_m3u8_printf(b, end, "#EXTINF:%.3f,\n%s\n", s->duration, s->uri);
    }
    if (ok && pl->ended) {
        ok = rtmp_m3u8_printf(b, end, "#EXT-X-ENDLIST\n");
    }
    if (!ok) {
        b->last = start;
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

bool rtmp_m3u8_should_cut(uint64_t start, uint64_t ts, bool has_video, bool video_key,
                          uint64_t fraglen, uint64_t max_fraglen)
{
    uint64_t elapsed = ts > start ? ts - start : 0;
    if (max_fraglen > 0 && elapsed >= max_fraglen) {
        return true;
    }
    if (elapsed < fraglen) {
        return false;
    }
    return !has_video || video_key;
}
