// MP4 (ISO BMFF) demuxer for playing files: the moov's sample tables walked sample by sample.
#pragma once

#include "rtmp/rtmp_media_file.h"

// The moov is read whole (it holds the tables); a larger one is refused.
constexpr uint64_t RTMP_MP4_MAX_MOOV = 64 * 1024 * 1024;
// Times taken from an edit list are held to this (about 49 days).
constexpr uint64_t RTMP_MP4_MAX_EDIT_MS = UINT32_MAX;
// Samples per track: seeking walks the tables from the start, so this bounds its cost
// (a day of 60 fps video is 5.2 million).
constexpr uint32_t RTMP_MP4_MAX_SAMPLES = 1 << 23;
// Top-level boxes looked at while searching for the moov.
constexpr uint32_t RTMP_MP4_MAX_BOXES = 4096;
// Fragments (moof boxes) of a fragmented file read at open; each costs one read. The
// sample tables built from them are held to RTMP_MP4_MAX_MOOV bytes like a moov's.
constexpr uint32_t RTMP_MP4_MAX_FRAGMENTS = 1 << 18;

enum class rtmp_mp4_codec : uint8_t { none, avc, hevc, aac };

// One track's tables (pointing into the moov buffer, or for a fragmented file into the
// tables built from its fragments) and its read cursor.
typedef struct rtmp_mp4_track_s rtmp_mp4_track_t;
struct rtmp_mp4_track_s {
    rtmp_mp4_codec codec;
    uint32_t timescale;
    uint64_t duration;              // in timescale units, from mdhd
    std::span<const u_char> config; // avcC / hvcC record, or the AAC AudioSpecificConfig
    uint16_t width, height;
    uint32_t sample_rate;
    uint16_t channels;

    uint32_t nsamples; // from stsz/stz2
    const u_char *stts, *ctts, *stsc, *stsz, *stco, *stss;
    uint32_t stts_n, ctts_n, stsc_n, stco_n, stss_n;
    uint32_t sample_size; // stsz: all samples this size when not 0
    uint8_t stz2_bits;    // stz2 field size (4, 8, 16); 0 for stsz
    bool co64;
    bool ctts_signed; // ctts version 1
    uint32_t id;      // tkhd track_ID
    uint64_t dts0;    // decoding time of the first sample (a fragmented file's first tfdt)
    // The edit list (8.6.6) as a time shift in ms: its leading empty edits less the first
    // edit's media_time; shift is what is added to every time read, edit_ms lifted with
    // the other track's so that neither begins before 0.
    int64_t edit_ms;
    int64_t shift;
    // trex defaults for the samples of fragments
    uint32_t trex_duration, trex_size, trex_flags;

    // cursor: the next sample to read
    uint32_t sample;
    uint64_t dts;
    uint32_t stts_i, stts_left;
    uint32_t ctts_i, ctts_left;
    uint32_t stsc_i;
    uint32_t chunk;     // 0-based
    uint32_t in_chunk;  // samples of this chunk already passed
    uint32_t per_chunk; // samples in this chunk
    uint64_t offset;    // of the next sample
    uint32_t stss_i;
    bool ended;
};

// One sample, as the reader found it.
typedef struct rtmp_mp4_sample_s rtmp_mp4_sample_t;
struct rtmp_mp4_sample_s {
    rtmp_mp4_track_t *track;
    uint64_t offset;
    uint32_t size;
    uint32_t dts; // milliseconds, the track's edit list applied
    int32_t cts;  // composition offset, milliseconds
    bool key;
};

typedef struct rtmp_mp4_s rtmp_mp4_t;
struct rtmp_mp4_s {
    u_char *moov; // heap; rtmp_mp4_close frees it
    size_t moov_len;
    u_char *tables;  // heap: a fragmented file's sample tables; rtmp_mp4_close frees it
    bool fragmented; // the moov has an mvex: the samples are in moof boxes
    uint32_t duration_ms;
    rtmp_mp4_track_t video; // the first H.264/H.265 track; codec none when there is none
    rtmp_mp4_track_t audio; // the first AAC track
};

// Whether a file's first 8 bytes begin an MP4 (ISO BMFF) file: a box whose type files
// start with.
[[nodiscard]] bool rtmp_mp4_sniff(const u_char head[8]);

// Finds and reads the moov (it may follow the mdat), parses the first video and audio
// tracks and positions both at their first sample. A track's edit list moves its times:
// a leading empty edit delays it, the first edit's media_time brings it forward (its
// samples from before that time are still sent, at times just before it: decoders need
// them, an AAC encoder's priming frame or the frames B-frames refer to); the later edits
// are not followed. A fragmented file's moof boxes are all
// read here and turned into the same sample tables; a fragment that is cut short (the
// last one of a recording that crashed) or malformed is left out. RTMP_ERROR with *err
// on a file that is not MP4, one without a playable track, or any table that does not
// fit its box.
[[nodiscard]] rtmp_int_t rtmp_mp4_open(rtmp_mp4_t *mp4, const rtmp_media_file_t *f,
                                       const char **err);

// Parses a moov box's body from memory (what rtmp_mp4_open does after reading it; tests
// and fuzzers call it directly). The buffer must outlive mp4 and is not freed by close.
// A fragmented moov's tracks get only its own tables' samples (rtmp_mp4_open adds the
// fragments').
[[nodiscard]] rtmp_int_t rtmp_mp4_parse_moov(rtmp_mp4_t *mp4, std::span<const u_char> moov,
                                             const char **err);

void rtmp_mp4_close(rtmp_mp4_t *mp4);

// The next sample in decoding order across both tracks; RTMP_DONE after the last one.
[[nodiscard]] rtmp_int_t rtmp_mp4_next(rtmp_mp4_t *mp4, rtmp_mp4_sample_t *s);

// Positions the video track at the sync sample at or before ms (stss) and the audio track
// at its first sample from that time; *key_ms is where playing resumes.
void rtmp_mp4_seek(rtmp_mp4_t *mp4, uint64_t ms, uint32_t *key_ms);

// The FLV/RTMP body prefix for a sample (video: frame type, codec, packet type, composition
// time; audio: the AAC header), written to out (8 bytes suffice); returns its length.
size_t rtmp_mp4_flv_prefix(const rtmp_mp4_sample_t *s, u_char *out);

// The FLV/RTMP sequence header of a track (prefix and config record) into out, which
// has room for `cap` bytes; returns its length, 0 when it does not fit.
size_t rtmp_mp4_flv_header(const rtmp_mp4_track_t *t, u_char *out, size_t cap);
