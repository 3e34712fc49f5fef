// Fragmented MP4 muxer: RTMP H.264/H.265 + AAC into an init segment and moof/mdat fragments.
#pragma once

#include "core/rtmp_core.h"
#include "rtmp/rtmp_message.h"

// I/O-free: the muxer hands finished bytes to the caller's output handler, which writes
// them to a file (a recorder), a segment (DASH/CMAF HLS) or a buffer. What has been
// handed over is complete and readable on its own: the init segment (ftyp, moov with an
// mvex), then whole fragments, so a writer killed at any moment loses at most the
// fragment being gathered (ISO/IEC 14496-12 8.8).
//
// Both tracks use a 1000 Hz timescale, so sample times are the RTMP milliseconds; the
// first timestamp seen is time 0. A fragment is one key-frame interval: a video key
// frame starts a new one, and so does a sample past max_fragment_ms (audio-only
// streams, long GOPs), RTMP_FMP4_MAX_SAMPLES samples of a track or RTMP_FMP4_MAX_BYTES of
// media. Each sample's duration is the distance to the next one of its track; the
// last of a fragment repeats the one before (the next fragment's tfdt is exact anyway).

constexpr uint32_t RTMP_FMP4_VIDEO_ID = 1;
constexpr uint32_t RTMP_FMP4_AUDIO_ID = 2;
constexpr uint32_t RTMP_FMP4_MAX_SAMPLES = 8192;         // per track and fragment
constexpr size_t RTMP_FMP4_MAX_BYTES = 64 * 1024 * 1024; // media per fragment
constexpr size_t RTMP_FMP4_MAX_RECORD = 8192;            // avcC/hvcC bytes kept
constexpr size_t RTMP_FMP4_MAX_ASC = 64;                 // AudioSpecificConfig bytes kept

// Receives len bytes; RTMP_OK or RTMP_ERROR (which the muxer call then returns).
typedef rtmp_int_t (*rtmp_fmp4_output_pt)(void *data, const u_char *p, size_t len);

enum class rtmp_fmp4_video : uint8_t { none = 0, avc, hevc };

struct rtmp_fmp4_sample_t {
    uint32_t size;
    uint32_t duration;
    int32_t cts;
    bool key;
};

// Samples remembered for a faststart copy (rtmp_fmp4_finalize), per track.
constexpr uint32_t RTMP_FMP4_MAX_INDEX = 1 << 22;

// One track's samples of the fragment being gathered.
struct rtmp_fmp4_track_t {
    rtmp_fmp4_sample_t *samples; // heap, RTMP_FMP4_MAX_SAMPLES
    uint32_t n;
    u_char *data; // heap, grows
    size_t len;
    size_t cap;
    uint64_t base; // decode time of samples[0]
    uint64_t last; // decode time of samples[n - 1]
    uint32_t default_duration;
    // with keep_index: every sample written so far
    rtmp_fmp4_sample_t *index;
    uint32_t nindex;
    uint32_t index_cap;
    uint64_t index_last;  // decode time of the last sample indexed
    uint64_t index_first; // decode time of the first sample indexed (its first tfdt)
};

// Where one fragment's media lies in the fragmented output.
struct rtmp_fmp4_fragment_t {
    uint64_t offset; // of its mdat payload: video samples, then audio samples
    uint32_t video_len, audio_len;
    uint32_t video_n, audio_n;
};

typedef struct rtmp_fmp4_s rtmp_fmp4_t;
struct rtmp_fmp4_s {
    rtmp_fmp4_output_pt output;
    void *data;
    uint64_t max_fragment_ms;

    rtmp_fmp4_video video;
    uint16_t width, height;
    size_t record_len;
    u_char record[RTMP_FMP4_MAX_RECORD];
    bool audio;
    uint32_t sample_rate;
    uint8_t channels;
    size_t asc_len;
    u_char asc[RTMP_FMP4_MAX_ASC];

    bool init_written;
    bool have_start;
    uint32_t start; // RTMP time of time 0
    uint32_t sequence;
    uint64_t fragment_start;
    rtmp_fmp4_track_t vt, at;
    uint64_t fragments; // written so far
    uint64_t written;   // bytes handed to the output

    bool keep_index; // remember samples for rtmp_fmp4_finalize
    bool index_full; // over RTMP_FMP4_MAX_INDEX: no faststart copy
    rtmp_fmp4_fragment_t *frags;
    uint32_t nfrags;
    uint32_t frags_cap;
};

// max_fragment_ms: the longest a fragment may span (0: only key frames cut).
void rtmp_fmp4_init(rtmp_fmp4_t *mx, rtmp_fmp4_output_pt output, void *data,
                    uint64_t max_fragment_ms);
// Frees the fragment buffers (what was gathered and not flushed is lost).
void rtmp_fmp4_free(rtmp_fmp4_t *mx);

// Sequence headers: the record at header_len of a video sequence header (avcC or hvcC),
// the AudioSpecificConfig of an AAC one. RTMP_ERROR when malformed or too large; a
// config after the init segment was written is RTMP_DECLINED (a new file is needed).
[[nodiscard]] rtmp_int_t rtmp_fmp4_set_video_config(rtmp_fmp4_t *mx, rtmp_fmp4_video codec,
                                                    std::span<const u_char> record);
[[nodiscard]] rtmp_int_t rtmp_fmp4_set_audio_config(rtmp_fmp4_t *mx, std::span<const u_char> asc);

// Writes ftyp and moov for the tracks configured so far. Called by the first fragment
// when the caller did not.
[[nodiscard]] rtmp_int_t rtmp_fmp4_write_init(rtmp_fmp4_t *mx);

// One video frame (length-prefixed NAL units) or AAC frame; times in RTMP ms.
// RTMP_DECLINED for a track that has no config yet.
[[nodiscard]] rtmp_int_t rtmp_fmp4_video_frame(rtmp_fmp4_t *mx, uint32_t dts, int32_t cts, bool key,
                                               std::span<const u_char> data);
[[nodiscard]] rtmp_int_t rtmp_fmp4_audio_frame(rtmp_fmp4_t *mx, uint32_t dts,
                                               std::span<const u_char> data);

// An RTMP audio or video message: sequence headers configure, frames are added,
// everything else (other codecs, commands, end of sequence) is RTMP_DECLINED.
[[nodiscard]] rtmp_int_t rtmp_fmp4_message(rtmp_fmp4_t *mx, const rtmp_message_t *m);

// Writes the fragment being gathered (nothing when it is empty).
[[nodiscard]] rtmp_int_t rtmp_fmp4_flush(rtmp_fmp4_t *mx);

// Finalising to a plain MP4 with the moov first ("faststart"), without holding the media:
// with keep_index set before the first frame, the muxer remembers every sample (16
// bytes each). After the last flush, rtmp_fmp4_finalize hands `output` the new file's
// head: ftyp, a moov with full sample tables, and the header of one mdat. The file is
// complete once the caller appends, in order, each fragment's media, which lies in the
// fragmented output at frags[i].offset for video_len + audio_len bytes. A track that
// starts after the other (its first tfdt) gets an edit list whose empty edit keeps that
// start, so the tracks stay as far apart as in the fragmented file; composition offsets
// are kept as they were (media_time 0), as the fragmented file has no edit list either.
// RTMP_DECLINED when the index was not kept or overflowed.
[[nodiscard]] rtmp_int_t rtmp_fmp4_finalize(rtmp_fmp4_t *mx, rtmp_fmp4_output_pt output,
                                            void *data);
