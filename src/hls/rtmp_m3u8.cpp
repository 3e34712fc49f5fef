// Live HLS playlist model: sequence numbers, sliding window, target duration, rendering.
#include "hls/rtmp_m3u8.h"

#include <charconv>
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

void rtmp_m3u8_reset(rtmp_m3u8_t *pl)
{
    rtmp_m3u8_segment_t *segs = pl->segs;
    uint32_t max_segments = pl->max_segments;
    double window = pl->window;
    memset(pl, 0, sizeof(*pl));
    pl->segs = segs;
    pl->max_segments = max_segments;
    pl->window = window;
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

    // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer must not exceed it.
    // Nearest, not up: 29.97 fps cuts 2 s segments at 2.002 s, and a target of 3 would
    // start players (three targets from the end) 3 s further behind live. Rounded from
    // what is rendered (milliseconds), half up.
    uint32_t t = (uint32_t)std::floor(std::round(duration * 1000) / 1000 + 0.5);
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

// ---- reading a playlist back ----------------------------------------------------------------

static bool rtmp_m3u8_uint(std::string_view s, uint64_t *v)
{
    uint64_t n = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        return false;
    }
    *v = n;
    return true;
}

// prefix, the decimal sequence number, ".ts": how the segmenter names its files
static bool rtmp_m3u8_uri_ok(std::string_view uri, std::string_view prefix, uint64_t sequence)
{
    uint64_t n;
    return uri.size() < RTMP_M3U8_URI && uri.starts_with(prefix) && uri.ends_with(".ts") &&
           rtmp_m3u8_uint(uri.substr(prefix.size(), uri.size() - prefix.size() - 3), &n) &&
           n == sequence;
}

// One pass over the text: checks it, and with apply also fills pl.
static rtmp_int_t rtmp_m3u8_scan(rtmp_m3u8_t *pl, std::string_view text, std::string_view prefix,
                                 bool apply, rtmp_m3u8_removed_pt removed, void *data)
{
    uint64_t sequence = 0;
    uint64_t target = 0;
    uint64_t dseq = 0;
    uint64_t n = 0; // segments so far
    bool header = false;
    bool discontinuity = false;
    double duration = -1; // the EXTINF waiting for its URI

    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            continue;
        }
        if (!header) { // RFC 8216 4.3.1.1: the first line
            if (line != "#EXTM3U") {
                return RTMP_DECLINED;
            }
            header = true;
            continue;
        }
        if (line.starts_with("#EXT-X-MEDIA-SEQUENCE:")) {
            if (n > 0 || !rtmp_m3u8_uint(line.substr(22), &sequence)) {
                return RTMP_DECLINED;
            }
        } else if (line.starts_with("#EXT-X-TARGETDURATION:")) {
            if (!rtmp_m3u8_uint(line.substr(22), &target) || target > 86400) {
                return RTMP_DECLINED;
            }
        } else if (line.starts_with("#EXT-X-DISCONTINUITY-SEQUENCE:")) {
            if (n > 0 || !rtmp_m3u8_uint(line.substr(30), &dseq)) {
                return RTMP_DECLINED;
            }
        } else if (line == "#EXT-X-DISCONTINUITY") {
            discontinuity = true;
        } else if (line.starts_with("#EXTINF:")) {
            std::string_view v = line.substr(8);
            v = v.substr(0, v.find(','));
            auto r = std::from_chars(v.data(), v.data() + v.size(), duration);
            if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() ||
                !std::isfinite(duration) || duration < 0 || duration > 86400) {
                return RTMP_DECLINED;
            }
        } else if (line.starts_with("#")) {
            continue; // EXT-X-VERSION, EXT-X-ENDLIST, comments: nothing to keep
        } else {
            if (duration < 0 || !rtmp_m3u8_uri_ok(line, prefix, sequence + n)) {
                return RTMP_DECLINED;
            }
            if (apply) {
                if (n == 0) {
                    pl->next_sequence = sequence;
                    pl->discontinuity_sequence = dseq;
                }
                pl->discontinuity = discontinuity;
                if (rtmp_m3u8_add(pl, duration, line, removed, data) != RTMP_OK) {
                    return RTMP_ERROR; // checked above: cannot happen
                }
            }
            n++;
            duration = -1;
            discontinuity = false;
        }
    }
    if (!header || duration >= 0) {
        return RTMP_DECLINED;
    }
    if (apply) {
        if (n == 0) {
            pl->next_sequence = sequence;
            pl->discontinuity_sequence = dseq;
        }
        // RFC 8216 6.2.1: the target duration must not change while the playlist lives
        if (target > pl->target) {
            pl->target = (uint32_t)target;
        }
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_m3u8_parse(rtmp_m3u8_t *pl, std::string_view text, std::string_view uri_prefix,
                           rtmp_m3u8_removed_pt removed, void *data)
{
    // checked whole first, so a playlist that is not ours leaves pl untouched
    rtmp_int_t rc = rtmp_m3u8_scan(pl, text, uri_prefix, false, nullptr, nullptr);
    if (rc != RTMP_OK) {
        return rc;
    }
    return rtmp_m3u8_scan(pl, text, uri_prefix, true, removed, data);
}
