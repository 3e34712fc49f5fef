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

rtmp_frame_t *rtmp_frame_restamp(const rtmp_frame_t *f, uint32_t timestamp, uint32_t chunk_size)
{
    size_t ext = f->timestamp >= 0xffffff ? 4 : 0;
    size_t basic = f->header_len - 11 - ext;
    const u_char *d = f->data;
    uint32_t csid = basic == 1   ? (d[0] & 0x3fu)
                    : basic == 2 ? d[1] + 64u
                                 : d[1] + d[2] * 256u + 64u;
    const u_char *mh = d + basic + 7; // past timestamp, length and type: the msid
    uint32_t msid = mh[0] | (uint32_t)mh[1] << 8 | (uint32_t)mh[2] << 16 | (uint32_t)mh[3] << 24;

    // the payload, from between the chunk headers (continuations repeat the extended
    // timestamp, as rtmp_chunk_write_fmt0 writes them)
    auto *payload = static_cast<u_char *>(rtmp_alloc(f->mlen ? f->mlen : 1));
    const u_char *p = d + f->header_len;
    const u_char *end = d + f->len;
    size_t got = 0;
    while (got < f->mlen) {
        size_t n = std::min<size_t>(f->mlen - got, chunk_size);
        if (p + n > end) {
            rtmp_free(payload);
            return nullptr; // not chunked for chunk_size
        }
        memcpy(payload + got, p, n);
        got += n;
        p += n + (got < f->mlen ? basic + ext : 0);
    }
    rtmp_message_t m = {};
    m.h.csid = csid;
    m.h.timestamp = timestamp;
    m.h.mlen = f->mlen;
    m.h.type = f->type;
    m.h.msid = msid;
    m.payload = std::span<const u_char>(payload, f->mlen);
    rtmp_frame_t *out = rtmp_frame_create(&m, chunk_size, f->flags);
    rtmp_free(payload);
    return out;
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
