// Live HLS media playlists: a sliding window of segments rendered as m3u8 (RFC 8216).
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_pool.h"

// I/O-free: the model numbers segments, slides its window, reports the segments that
// left it (their files are the caller's to delete, after they left the playlist:
// RFC 8216 6.2.2 asks to keep them available for their duration plus the playlist's
// a while longer) and renders the text; writing the file and serving it is the caller's.

constexpr size_t RTMP_M3U8_URI = 128; // bytes of a segment URI, NUL included

struct rtmp_m3u8_segment_t {
    uint64_t sequence;
    double duration; // seconds
    bool discontinuity;
    char uri[RTMP_M3U8_URI];
};

typedef void (*rtmp_m3u8_removed_pt)(void *data, const rtmp_m3u8_segment_t *seg);

typedef struct rtmp_m3u8_s rtmp_m3u8_t;
struct rtmp_m3u8_s {
    rtmp_m3u8_segment_t *segs; // ring of max_segments
    uint32_t max_segments;
    uint32_t head;
    uint32_t count;
    double window; // seconds the playlist covers; 0: max_segments alone decides
    double total;  // seconds the playlist holds now
    uint64_t next_sequence;
    uint64_t discontinuity_sequence;
    uint32_t target;    // EXT-X-TARGETDURATION: never decreases while the playlist lives
    bool discontinuity; // the next segment follows a break
    bool ended;
};

// The ring comes from pool. first_sequence lets a restarted server go on from where
// the files on disk end.
void rtmp_m3u8_init(rtmp_m3u8_t *pl, rtmp_pool_t *pool, uint32_t max_segments, double window,
                    uint64_t first_sequence);

// Empties pl as rtmp_m3u8_init left it (numbered from 0), keeping its ring and window.
void rtmp_m3u8_reset(rtmp_m3u8_t *pl);

// The sequence number the next segment gets (to name its file before it is added).
inline uint64_t rtmp_m3u8_next_sequence(const rtmp_m3u8_t *pl)
{
    return pl->next_sequence;
}

// The next segment comes after a publisher restart or a timestamp break:
// EXT-X-DISCONTINUITY goes before it.
inline void rtmp_m3u8_discontinuity(rtmp_m3u8_t *pl)
{
    pl->discontinuity = true;
}

// The publisher is gone for good: EXT-X-ENDLIST is rendered (a new segment clears it).
inline void rtmp_m3u8_end(rtmp_m3u8_t *pl)
{
    pl->ended = true;
}

// Appends a finished segment, numbered rtmp_m3u8_next_sequence(), then drops from the
// front while more than max_segments are held, or while what would remain still
// covers window and three target durations (RFC 8216 6.2.2). `removed` (may be null)
// sees each dropped segment. RTMP_ERROR, nothing changed, when the URI does not fit
// RTMP_M3U8_URI or the duration is negative or not finite.
[[nodiscard]] rtmp_int_t rtmp_m3u8_add(rtmp_m3u8_t *pl, double duration, std::string_view uri,
                                       rtmp_m3u8_removed_pt removed, void *data);

// Reads back a playlist rtmp_m3u8_render wrote (by this process before a restart, or by
// another worker), so a publisher that comes back continues it: pl must be freshly
// initialised; its sequence numbers, target duration, discontinuity sequence and
// segments are taken from the text, each segment added as by rtmp_m3u8_add (so the
// window slides and `removed` sees what falls out). Only segments named as the caller
// names them are accepted: uri_prefix, the segment's own sequence number, ".ts" — a
// playlist that lists anything else is not ours, and its files are not ours to delete.
// RTMP_DECLINED (pl as initialised) for text that is not such a playlist.
[[nodiscard]] rtmp_int_t rtmp_m3u8_parse(rtmp_m3u8_t *pl, std::string_view text,
                                         std::string_view uri_prefix, rtmp_m3u8_removed_pt removed,
                                         void *data);

// The i-th segment of the window, 0 the oldest.
const rtmp_m3u8_segment_t *rtmp_m3u8_segment(const rtmp_m3u8_t *pl, uint32_t i);

// Bytes the rendering can take at most.
size_t rtmp_m3u8_render_size(const rtmp_m3u8_t *pl);

// Appends the playlist at b->last; RTMP_ERROR, b untouched, when it does not fit.
[[nodiscard]] rtmp_int_t rtmp_m3u8_render(const rtmp_m3u8_t *pl, rtmp_buf_t *b);

// The segment cut rule, asked for each media message at timestamp ts (ms) of a segment
// that began at start: with video, only at a video key frame once the segment holds
// fraglen ms (so each segment starts decodable); audio-only, at any message once it
// does. max_fraglen (0: never) cuts anywhere, for a stream whose key frames stopped.
bool rtmp_m3u8_should_cut(uint64_t start, uint64_t ts, bool has_video, bool video_key,
                          uint64_t fraglen, uint64_t max_fraglen);
