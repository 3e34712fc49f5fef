// FLV file writing without I/O: the file header, tags, and an onMetaData of fixed size with a
// keyframe index, so a recorder can reserve it at the start and rewrite it in place on close.
#pragma once

#include "core/rtmp_core.h"

// FLV spec v10.1 E.2: "FLV", version 1, flags, header size 9; then PreviousTagSize0.
constexpr size_t RTMP_FLV_HEADER = 13;
constexpr size_t RTMP_FLV_TAG_HEADER = 11; // E.4.1 FLVTAG before its data
constexpr size_t RTMP_FLV_TAG_TRAILER = 4; // PreviousTagSize after it
constexpr uint32_t RTMP_FLV_MAX_DATA = 0xffffff;

enum rtmp_flv_tag_type : uint8_t {
    RTMP_FLV_AUDIO = 8,
    RTMP_FLV_VIDEO = 9,
    RTMP_FLV_SCRIPT = 18,
};

// The 13 bytes every FLV file starts with; the flags say which kinds of tags follow.
void rtmp_flv_header(u_char out[RTMP_FLV_HEADER], bool audio, bool video);

// A tag header for `size` bytes of data at `ts` milliseconds (the extended byte holds the top
// 8 bits), stream id 0.
void rtmp_flv_tag_header(u_char out[RTMP_FLV_TAG_HEADER], uint8_t type, uint32_t size, uint32_t ts);

// PreviousTagSize after a tag of `size` data bytes.
void rtmp_flv_tag_trailer(u_char out[RTMP_FLV_TAG_TRAILER], uint32_t size);

// Key frames for the onMetaData index, in the caller's arrays of `capacity` entries. Once full,
// every second entry is dropped and from then on only every second key frame is kept (and so
// on, doubling), so the index always spans the whole file with at most `capacity` entries:
// a seek lands on an indexed key frame, which grows coarser on long files, never missing.
struct rtmp_flv_index_t {
    uint32_t capacity;   // at least 2
    uint32_t n;          // entries in use
    uint32_t stride;     // one key frame in this many is kept
    uint64_t seen;       // key frames offered since the file began
    uint32_t *times;     // milliseconds from the start of the file
    uint64_t *positions; // file offset of the key frame's tag header
};

void rtmp_flv_index_init(rtmp_flv_index_t *ix, uint32_t *times, uint64_t *positions,
                         uint32_t capacity);
void rtmp_flv_index_add(rtmp_flv_index_t *ix, uint32_t ms, uint64_t pos);

// Which properties the onMetaData has: fixed when the file is opened, so that the tag keeps its
// size from the first write to the last.
enum rtmp_flv_meta_flags : unsigned {
    RTMP_FLV_META_AUDIO = 0x01, // audiocodecid, audiodatarate, audiosamplerate, stereo
    RTMP_FLV_META_VIDEO = 0x02, // width, height, framerate, videocodecid, videodatarate
};

// The values written into onMetaData; 0 where unknown.
struct rtmp_flv_meta_t {
    double duration; // seconds
    double filesize; // bytes
    double width;
    double height;
    double framerate;
    double videocodecid; // FLV CodecID, or an Enhanced RTMP FourCC as a number
    double videodatarate;
    double audiocodecid; // FLV SoundFormat, or a FourCC
    double audiodatarate;
    double audiosamplerate;
    bool stereo;
    double lasttimestamp;         // seconds
    double lastkeyframetimestamp; // seconds
};

// Bytes of the whole onMetaData tag (header, data, PreviousTagSize) holding up to `capacity`
// index entries: the same whatever the values and the number of entries in use.
size_t rtmp_flv_meta_size(unsigned flags, uint32_t capacity);

// Writes the onMetaData tag (timestamp 0) into out, exactly rtmp_flv_meta_size() bytes: the
// properties of `flags`, then keyframes {times, filepositions} with the index's entries
// (seconds, file offsets), then a strict array of nulls that fills what the index does not use
// yet, so the tag is valid AMF0 at every size. RTMP_ERROR when len is too small or the index
// is larger than `capacity`.
[[nodiscard]] rtmp_int_t rtmp_flv_meta_write(u_char *out, size_t len, unsigned flags,
                                             uint32_t capacity, const rtmp_flv_meta_t *m,
                                             const rtmp_flv_index_t *ix);
