// FLV file reader: the header, tags one at a time and the onMetaData keyframe index (the
// writer is rtmp_flv.h).
#pragma once

#include "core/rtmp_pool.h"
#include "rtmp/rtmp_flv.h"
#include "rtmp/rtmp_media_file.h"

constexpr size_t RTMP_FLV_FILE_HEADER = 9; // "FLV", version, flags, data offset

// One tag's header as read, without its body.
typedef struct rtmp_flv_tag_s rtmp_flv_tag_t;
struct rtmp_flv_tag_s {
    uint64_t offset; // of the tag header
    uint64_t body;   // of the body
    uint64_t next;   // of the next tag (past PreviousTagSize)
    uint32_t size;   // of the body
    uint32_t timestamp;
    uint8_t type;  // rtmp_flv_tag_type; other types are skipped by the reader
    uint8_t first; // the body's first byte (codec and frame type); 0 when empty
    bool key;      // a video key frame (or, Enhanced RTMP, a key frame FourCC packet)
    bool header;   // a video or AAC sequence header, or a data tag
};

// Checks the file header; *first is where the first tag starts.
[[nodiscard]] rtmp_int_t rtmp_flv_open(const rtmp_media_file_t *f, uint64_t *first,
                                       const char **err);

// Reads the header of the tag at `offset` (and its body's first two bytes). Tags of other
// types, and encrypted ones, are skipped. RTMP_DONE at the end of the file, a truncated
// last tag included (a file cut by a crash plays up to its last whole tag); RTMP_ERROR
// with *err for a tag over max_size or an unreadable file.
[[nodiscard]] rtmp_int_t rtmp_flv_read_tag(const rtmp_media_file_t *f, uint64_t offset,
                                           uint32_t max_size, rtmp_flv_tag_t *t, const char **err);

// Reads a tag's body (t->size bytes) into buf.
[[nodiscard]] rtmp_int_t rtmp_flv_read_body(const rtmp_media_file_t *f, const rtmp_flv_tag_t *t,
                                            u_char *buf);

// What onMetaData says that playing needs: the duration and the keyframe index
// (ffmpeg -flvflags add_keyframe_index, yamdi, flvtool2, nginx-rtmp's recorder).
typedef struct rtmp_flv_file_meta_s rtmp_flv_file_meta_t;
struct rtmp_flv_file_meta_s {
    double duration; // seconds; 0 when absent
    uint32_t nkeys;
    double *key_times;     // seconds, ascending (checked)
    uint64_t *key_offsets; // file positions of the key frames' tags
};

// Bound on keyframe index entries taken from a file (a day at one key frame a second).
constexpr uint32_t RTMP_FLV_MAX_KEYS = 86400;

// Parses an onMetaData body (AMF0) into meta, arrays in the pool. A missing or malformed
// index leaves nkeys 0: seeking then scans.
[[nodiscard]] rtmp_int_t rtmp_flv_parse_meta(rtmp_pool_t *pool, std::span<const u_char> body,
                                             rtmp_flv_file_meta_t *meta);

// The index entry at or before ms; -1 when there is none.
int64_t rtmp_flv_meta_find(const rtmp_flv_file_meta_t *meta, uint64_t ms);

// Walks tags from `first` to find the last video key frame at or before ms (for audio-only
// files the last tag at or before ms); reads at most max_tags tag headers. *offset is the
// tag to play from (`first` when nothing earlier qualifies).
[[nodiscard]] rtmp_int_t rtmp_flv_scan_key(const rtmp_media_file_t *f, uint64_t first, uint64_t ms,
                                           uint32_t max_tags, uint64_t *offset, const char **err);
