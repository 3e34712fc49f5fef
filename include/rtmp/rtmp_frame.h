// Frames: a media message chunked once, shared by reference among every player of a stream.
#pragma once

#include "core/rtmp_core.h"
#include "rtmp/rtmp_message.h"

// Chunk streams the shared encodings use; the session's own replies use 2, 3 and 5,
// so a shared fmt 0 header never meets a compressed one on the same chunk stream.
constexpr uint32_t RTMP_CSID_DATA = 4;
constexpr uint32_t RTMP_CSID_AUDIO = 6;
constexpr uint32_t RTMP_CSID_VIDEO = 7;
// The message stream id written into shared encodings; players that created another
// stream id get a patched copy of the first chunk header (see rtmp_frame_msid_offset).
constexpr uint32_t RTMP_FRAME_MSID = 1;

enum rtmp_frame_flags : uint8_t {
    RTMP_FRAME_KEY = 0x01,       // a video key frame: a player may start here
    RTMP_FRAME_HEADER = 0x02,    // a codec sequence header or metadata
    RTMP_FRAME_DROPPABLE = 0x04, // a slow player may lose it
    RTMP_FRAME_VIDEO = 0x08,
    RTMP_FRAME_AUDIO = 0x10,
};

typedef struct rtmp_frame_s rtmp_frame_t;
struct rtmp_frame_s {
    uint32_t refs;
    uint32_t timestamp;  // as sent
    uint32_t len;        // bytes in data: every chunk, headers included
    uint32_t mlen;       // the message's payload length
    uint16_t header_len; // the first chunk's header length
    uint8_t type;        // rtmp_msg_type
    uint8_t flags;       // rtmp_frame_flags
    u_char data[];
};

// Chunks `m` (its header's timestamp, csid and msid as given) for `chunk_size`;
// the frame starts with one reference.
[[nodiscard]] rtmp_frame_t *rtmp_frame_create(const rtmp_message_t *m, uint32_t chunk_size,
                                              uint8_t flags);

// A frame for `size` bytes the caller writes into data (and sets len); one reference.
[[nodiscard]] rtmp_frame_t *rtmp_frame_alloc(size_t size);

inline rtmp_frame_t *rtmp_frame_ref(rtmp_frame_t *f)
{
    f->refs++;
    return f;
}

void rtmp_frame_unref(rtmp_frame_t *f);

// The same message sent at `timestamp`: f chunked again for chunk_size, the size f was
// chunked for; one reference, or nullptr when f's payload cannot be read back.
[[nodiscard]] rtmp_frame_t *rtmp_frame_restamp(const rtmp_frame_t *f, uint32_t timestamp,
                                               uint32_t chunk_size);

// Where the first chunk header keeps the message stream id (4 bytes, little endian).
size_t rtmp_frame_msid_offset(const rtmp_frame_t *f);

// Frames alive in this process, for tests and leak checks.
size_t rtmp_frame_count();
