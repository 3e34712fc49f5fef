// Shared, reference-counted chunked messages: chunked once, sent to every player.
#include "rtmp/rtmp_frame.h"
#include "rtmp/rtmp_chunk.h"

static size_t rtmp_frames_alive;

rtmp_frame_t *rtmp_frame_alloc(size_t size)
{
    auto *f = static_cast<rtmp_frame_t *>(rtmp_calloc(sizeof(rtmp_frame_t) + size));
    f->refs = 1;
    rtmp_frames_alive++;
    return f;
}

rtmp_frame_t *rtmp_frame_create(const rtmp_message_t *m, uint32_t chunk_size, uint8_t flags)
{
    size_t size = rtmp_chunk_fmt0_size(&m->h, chunk_size);
    auto *f = static_cast<rtmp_frame_t *>(rtmp_alloc(sizeof(rtmp_frame_t) + size));
    rtmp_buf_t b = {};
    b.start = b.pos = b.last = f->data;
    b.end = f->data + size;
    const char *reason = nullptr;
    if (rtmp_chunk_write_fmt0(m, chunk_size, &b, &reason) != RTMP_OK) {
        rtmp_free(f);
        return nullptr;
    }
    f->refs = 1;
    f->timestamp = m->h.timestamp;
    f->len = (uint32_t)rtmp_buf_size(&b);
    f->mlen = m->h.mlen;
    // basic header (1-3 bytes) + 11-byte fmt 0 header (+4 extended timestamp)
    size_t basic = m->h.csid < 64 ? 1 : (m->h.csid < 320 ? 2 : 3);
    f->header_len = (uint16_t)(basic + 11 + (m->h.timestamp >= 0xffffff ? 4 : 0));
    f->type = m->h.type;
    f->flags = flags;
    rtmp_frames_alive++;
    return f;
}

void rtmp_frame_unref(rtmp_frame_t *f)
{
    if (--f->refs == 0) {
        rtmp_frames_alive--;
        rtmp_free(f);
    }
}

size_t rtmp_frame_msid_offset(const rtmp_frame_t *f)
{
    size_t basic = f->header_len - 11 - (f->timestamp >= 0xffffff ? 4 : 0);
    return basic + 7; // timestamp 3, length 3, type 1
}

size_t rtmp_frame_count()
{
    return rtmp_frames_alive;
}
