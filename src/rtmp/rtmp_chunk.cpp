// RTMP chunk stream reader and writer: reassembles and splits messages, no I/O.
#include "rtmp/rtmp_chunk.h"

#include <algorithm>

// Smallest payload allocation; partial payloads grow by doubling from here up to the
// declared message length, so memory follows the bytes that actually arrived.
static constexpr size_t RTMP_CHUNK_MIN_ALLOC = 4096;

// Message header length by fmt (spec 5.3.1.2).
static constexpr uint8_t rtmp_chunk_mh_len[4] = {11, 7, 3, 0};

static inline uint32_t rtmp_chunk_be24(const u_char *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t rtmp_chunk_be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// The message stream id is the one little-endian field (spec 5.3.1.2.1).
static inline uint32_t rtmp_chunk_le32(const u_char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline u_char *rtmp_chunk_put_be24(u_char *p, uint32_t v)
{
    *p++ = (u_char)(v >> 16);
    *p++ = (u_char)(v >> 8);
    *p++ = (u_char)v;
    return p;
}

static inline u_char *rtmp_chunk_put_be32(u_char *p, uint32_t v)
{
    *p++ = (u_char)(v >> 24);
    return rtmp_chunk_put_be24(p, v);
}

static inline u_char *rtmp_chunk_put_le32(u_char *p, uint32_t v)
{
    *p++ = (u_char)v;
    *p++ = (u_char)(v >> 8);
    *p++ = (u_char)(v >> 16);
    *p++ = (u_char)(v >> 24);
    return p;
}

// ---- reader -------------------------------------------------------------------------------

static void rtmp_chunk_reader_cleanup(void *data)
{
    auto *r = static_cast<rtmp_chunk_reader_t *>(data);
    for (rtmp_chunk_stream_t *head : r->hash) {
        for (rtmp_chunk_stream_t *st = head; st; st = st->next) {
            rtmp_free(st->buf);
            st->buf = nullptr;
            st->cap = 0;
        }
    }
    r->buffered = 0;
}

rtmp_chunk_reader_t *rtmp_chunk_reader_create(rtmp_pool_t *pool,
                                              const rtmp_chunk_reader_conf_t *conf)
{
    // In the pool, so the cleanup below can never outlive it.
    auto *r = rtmp_palloc<rtmp_chunk_reader_t>(pool);
    r->pool = pool;
    if (conf) {
        r->conf = *conf;
    }
    if (r->conf.max_chunk_size == 0) {
        r->conf.max_chunk_size = 65536;
    }
    r->conf.max_chunk_size = std::min(r->conf.max_chunk_size, RTMP_CHUNK_MAX_SIZE);
    if (r->conf.max_message == 0) {
        r->conf.max_message = 1024 * 1024;
    }
    r->conf.max_message = std::min(r->conf.max_message, RTMP_CHUNK_MESSAGE_MAX);
    if (r->conf.max_streams == 0) {
        r->conf.max_streams = 64;
    }
    // Enough for a large key frame plus the small messages interleaved with it, far below
    // max_streams partial messages of max_message each.
    if (r->conf.max_buffered == 0) {
        r->conf.max_buffered = 4 * (size_t)r->conf.max_message;
    }
    r->chunk_size = RTMP_CHUNK_DEFAULT_SIZE;
    r->state = rtmp_chunk_state::header;

    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(pool, 0);
    cln->handler = rtmp_chunk_reader_cleanup;
    cln->data = r;
    return r;
}

static rtmp_chunk_stream_t *rtmp_chunk_stream_find(rtmp_chunk_reader_t *r, uint32_t csid)
{
    for (rtmp_chunk_stream_t *st = r->hash[csid % RTMP_CHUNK_HASH]; st; st = st->next) {
        if (st->h.csid == csid) {
            return st;
        }
    }
    return nullptr;
}

// Streams are created on first use and counted, so a peer walking through all 65598 chunk
// stream ids costs at most max_streams small structs.
static rtmp_chunk_stream_t *rtmp_chunk_stream_get(rtmp_chunk_reader_t *r, uint32_t csid)
{
    rtmp_chunk_stream_t *st = rtmp_chunk_stream_find(r, csid);
    if (st) {
        return st;
    }
    if (r->nstreams >= r->conf.max_streams) {
        r->reason = "too many chunk streams";
        return nullptr;
    }
    st = rtmp_palloc<rtmp_chunk_stream_t>(r->pool);
    st->h.csid = csid;
    st->next = r->hash[csid % RTMP_CHUNK_HASH];
    r->hash[csid % RTMP_CHUNK_HASH] = st;
    r->nstreams++;
    return st;
}

// Copies up to n bytes to dst, pushed-back bytes first; returns how many.
static size_t rtmp_chunk_take(rtmp_chunk_reader_t *r, const u_char **p, const u_char *end,
                              u_char *dst, size_t n)
{
    size_t got = 0;
    if (r->back_len) {
        got = std::min(n, r->back_len);
        memcpy(dst, r->back + r->back_pos, got);
        r->back_pos += got;
        r->back_len -= got;
        if (r->back_len == 0) {
            r->back_pos = 0;
        }
    }
    size_t k = std::min(n - got, (size_t)(end - *p));
    if (k) {
        memcpy(dst + got, *p, k);
        *p += k;
        got += k;
    }
    return got;
}

// Makes sure hdr holds n bytes.
static bool rtmp_chunk_fill(rtmp_chunk_reader_t *r, const u_char **p, const u_char *end, size_t n)
{
    if (r->hlen < n) {
        r->hlen += rtmp_chunk_take(r, p, end, r->hdr + r->hlen, n - r->hlen);
    }
    return r->hlen >= n;
}

static void rtmp_chunk_stream_active(rtmp_chunk_reader_t *r, rtmp_chunk_stream_t *st, bool on)
{
    if (st->active != on) {
        st->active = on;
        r->partial = on ? r->partial + 1 : r->partial - 1;
    }
}

// Applies the protocol control messages the chunk layer itself obeys, then hands it out.
static rtmp_int_t rtmp_chunk_complete(rtmp_chunk_reader_t *r, rtmp_chunk_stream_t *st,
                                      rtmp_message_t *msg)
{
    rtmp_chunk_stream_active(r, st, false);
    st->received = 0;
    msg->h = st->h;
    r->state = rtmp_chunk_state::header;
    r->cur = nullptr;
    r->hlen = 0;

    if (msg->h.type == RTMP_MSG_CHUNK_SIZE) {
        if (msg->payload.size() < 4) {
            r->reason = "short set chunk size message";
            return RTMP_ERROR;
        }
        // Spec 5.4.1: the top bit must be zero; 0 would make no progress.
        uint32_t size = rtmp_chunk_be32(msg->payload.data());
        if (size == 0 || (size & 0x80000000u)) {
            r->reason = "invalid chunk size";
            return RTMP_ERROR;
        }
        if (size > r->conf.max_chunk_size) {
            r->reason = "chunk size above the configured maximum";
            return RTMP_ERROR;
        }
        r->chunk_size = size;

    } else if (msg->h.type == RTMP_MSG_ABORT) {
        if (msg->payload.size() < 4) {
            r->reason = "short abort message";
            return RTMP_ERROR;
        }
        // Spec 5.4.2: drop the partially received message; an unknown csid is no error.
        rtmp_chunk_stream_t *a = rtmp_chunk_stream_find(r, rtmp_chunk_be32(msg->payload.data()));
        if (a) {
            rtmp_chunk_stream_active(r, a, false);
            a->received = 0;
        }
    }
    return RTMP_OK;
}

// Returns the bytes of a peeked "extended timestamp" to the input, in front of what is left.
static void rtmp_chunk_push_back(rtmp_chunk_reader_t *r, const u_char *d, size_t n)
{
    // A peek takes 4 bytes and pushes back at most those, so back_len stays <= 4 + 3.
    memmove(r->back + n, r->back + r->back_pos, r->back_len);
    memcpy(r->back, d, n);
    r->back_pos = 0;
    r->back_len += n;
}

static rtmp_int_t rtmp_chunk_read_header(rtmp_chunk_reader_t *r, const u_char **p,
                                         const u_char *end, rtmp_message_t *msg)
{
    if (!rtmp_chunk_fill(r, p, end, 1)) {
        return RTMP_AGAIN;
    }
    uint32_t fmt = r->hdr[0] >> 6;
    uint32_t bh = (r->hdr[0] & 0x3f) == 0 ? 2 : (r->hdr[0] & 0x3f) == 1 ? 3 : 1;
    if (!rtmp_chunk_fill(r, p, end, bh)) {
        return RTMP_AGAIN;
    }

    rtmp_chunk_stream_t *st = r->cur;
    if (st == nullptr) {
        // Spec 5.3.1.1: 2-byte form is id - 64, 3-byte form is (third * 256 + second) + 64.
        uint32_t csid = bh == 1   ? (uint32_t)(r->hdr[0] & 0x3f)
                        : bh == 2 ? (uint32_t)r->hdr[1] + 64
                                  : (uint32_t)r->hdr[2] * 256 + r->hdr[1] + 64;
        st = rtmp_chunk_stream_get(r, csid);
        if (st == nullptr) {
            return RTMP_ERROR;
        }
        if (st->active && fmt != 3) {
            r->reason = "new message header inside an unfinished message";
            return RTMP_ERROR;
        }
        // SRS accepts a fresh chunk stream opened by fmt 1 (some encoders do it); fmt 2 and
        // 3 have nothing to be relative to.
        if (!st->seen && fmt >= 2) {
            r->reason = "chunk stream starts without a message header";
            return RTMP_ERROR;
        }
        r->cur = st;
    }

    size_t len = bh + rtmp_chunk_mh_len[fmt];
    if (!rtmp_chunk_fill(r, p, end, len)) {
        return RTMP_AGAIN;
    }
    const u_char *mh = r->hdr + bh;
    bool ext = fmt < 3 ? rtmp_chunk_be24(mh) == RTMP_CHUNK_EXT_TIMESTAMP : (bool)st->extended;
    if (ext) {
        len += 4;
        if (!rtmp_chunk_fill(r, p, end, len)) {
            return RTMP_AGAIN;
        }
    }
    uint32_t ev = ext ? rtmp_chunk_be32(r->hdr + len - 4) : 0;

    if (st->active) {
        // A continuation. librtmp, ffmpeg and OBS repeat the extended timestamp here
        // (spec 5.3.1.3); some encoders omit it. Like nginx-rtmp and SRS, 4 bytes that
        // differ from the header's value are taken as payload.
        if (ext && ev != st->ext) {
            rtmp_chunk_push_back(r, r->hdr + len - 4, 4);
        }

    } else {
        uint32_t field = fmt < 3 ? rtmp_chunk_be24(mh) : 0;
        if (fmt < 3) {
            st->extended = ext;
            if (ext) {
                field = ev;
                st->ext = ev;
            }
        }
        switch (fmt) {
        case 0:
            st->h.timestamp = field;
            // ffmpeg, librtmp and SRS take a fmt 0 timestamp as the delta a following fmt 3
            // header repeats (nginx-rtmp takes 0); our writer never relies on either.
            st->delta = field;
            st->h.mlen = rtmp_chunk_be24(mh + 3);
            st->h.type = mh[6];
            st->h.msid = rtmp_chunk_le32(mh + 7);
            break;
        case 1:
            st->delta = field;
            st->h.timestamp += field;
            st->h.mlen = rtmp_chunk_be24(mh + 3);
            st->h.type = mh[6];
            break;
        case 2:
            st->delta = field;
            st->h.timestamp += field;
            break;
        default:
            // Spec 5.3.1.2.4: a new message repeats the previous delta; when extended, the
            // repeated field is sent again and is what we trust.
            if (ext) {
                st->delta = ev;
                st->ext = ev;
            }
            st->h.timestamp += st->delta;
            break;
        }
        if (st->h.mlen > r->conf.max_message) {
            r->reason = "message longer than the configured maximum";
            return RTMP_ERROR;
        }
        st->seen = 1;
        rtmp_chunk_stream_active(r, st, true);
        st->received = 0;
    }

    r->hlen = 0;
    if (st->h.mlen == 0) {
        msg->payload = {};
        return rtmp_chunk_complete(r, st, msg);
    }
    r->chunk_left = std::min(r->chunk_size, st->h.mlen - st->received);
    r->state = rtmp_chunk_state::payload;
    return RTMP_DECLINED;
}

static bool rtmp_chunk_grow(rtmp_chunk_reader_t *r, rtmp_chunk_stream_t *st, size_t need)
{
    if (need <= st->cap) {
        return true;
    }
    size_t cap = std::max({st->cap * 2, RTMP_CHUNK_MIN_ALLOC, need});
    cap = std::min(cap, (size_t)st->h.mlen);
    size_t max = r->conf.max_buffered;
    if (r->buffered - st->cap + cap > max) {
        cap = need;
        if (r->buffered - st->cap + cap > max) {
            r->reason = "partial messages above the configured memory";
            return false;
        }
    }
    st->buf = static_cast<u_char *>(rtmp_realloc(st->buf, cap));
    r->buffered += cap - st->cap;
    st->cap = cap;
    return true;
}

static rtmp_int_t rtmp_chunk_read_payload(rtmp_chunk_reader_t *r, const u_char **p,
                                          const u_char *end, rtmp_message_t *msg)
{
    rtmp_chunk_stream_t *st = r->cur;
    size_t in = (size_t)(end - *p);

    // A message in one chunk, all in the input (commands, audio): no copy.
    if (st->received == 0 && r->back_len == 0 && r->chunk_left == st->h.mlen && in >= st->h.mlen) {
        msg->payload = {*p, st->h.mlen};
        *p += st->h.mlen;
        return rtmp_chunk_complete(r, st, msg);
    }

    size_t n = std::min((size_t)r->chunk_left, r->back_len + in);
    if (n == 0) {
        return RTMP_AGAIN;
    }
    if (!rtmp_chunk_grow(r, st, (size_t)st->received + n)) {
        return RTMP_ERROR;
    }
    n = rtmp_chunk_take(r, p, end, st->buf + st->received, n);
    st->received += (uint32_t)n;
    r->chunk_left -= (uint32_t)n;
    if (r->chunk_left) {
        return RTMP_AGAIN;
    }

    r->state = rtmp_chunk_state::header;
    r->cur = nullptr;
    r->hlen = 0;
    if (st->received < st->h.mlen) {
        return RTMP_DECLINED;
    }
    msg->payload = {st->buf, st->h.mlen};
    return rtmp_chunk_complete(r, st, msg);
}

rtmp_int_t rtmp_chunk_read(rtmp_chunk_reader_t *r, std::span<const u_char> in, size_t *consumed,
                           rtmp_message_t *msg)
{
    const u_char *start = in.empty() ? nullptr : in.data();
    const u_char *p = start;
    const u_char *end = in.empty() ? nullptr : in.data() + in.size();
    rtmp_int_t rc = RTMP_AGAIN;

    *consumed = 0;
    if (r->reason) {
        return RTMP_ERROR;
    }

    for (;;) {
        if (r->state == rtmp_chunk_state::header) {
            rc = rtmp_chunk_read_header(r, &p, end, msg);
        } else {
            rc = rtmp_chunk_read_payload(r, &p, end, msg);
        }
        if (rc != RTMP_DECLINED) {
            break;
        }
    }

    *consumed = (size_t)(p - start);
    r->bytes_read += *consumed;
    return rc;
}

// ---- writer -------------------------------------------------------------------------------

static inline size_t rtmp_chunk_basic_len(uint32_t csid)
{
    return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

static u_char *rtmp_chunk_put_basic(u_char *p, uint32_t fmt, uint32_t csid)
{
    if (csid < 64) {
        *p++ = (u_char)(fmt << 6 | csid);
    } else if (csid < 320) {
        *p++ = (u_char)(fmt << 6);
        *p++ = (u_char)(csid - 64);
    } else {
        *p++ = (u_char)(fmt << 6 | 1);
        *p++ = (u_char)((csid - 64) & 0xff);
        *p++ = (u_char)((csid - 64) >> 8);
    }
    return p;
}

// `field` is what goes in the timestamp field: absolute for fmt 0, the delta otherwise.
static size_t rtmp_chunk_encoded_size(uint32_t csid, uint32_t fmt, uint32_t field, uint32_t mlen,
                                      uint32_t chunk_size)
{
    size_t bh = rtmp_chunk_basic_len(csid);
    size_t ext = field >= RTMP_CHUNK_EXT_TIMESTAMP ? 4 : 0;
    size_t chunks = mlen ? ((size_t)mlen + chunk_size - 1) / chunk_size : 1;
    return bh + rtmp_chunk_mh_len[fmt] + ext + mlen + (chunks - 1) * (bh + ext);
}

static void rtmp_chunk_encode(u_char *p, uint32_t fmt, uint32_t field, const rtmp_message_t *m,
                              uint32_t chunk_size)
{
    const rtmp_header_t *h = &m->h;
    bool ext = field >= RTMP_CHUNK_EXT_TIMESTAMP;

    p = rtmp_chunk_put_basic(p, fmt, h->csid);
    if (fmt < 3) {
        p = rtmp_chunk_put_be24(p, ext ? RTMP_CHUNK_EXT_TIMESTAMP : field);
    }
    if (fmt < 2) {
        p = rtmp_chunk_put_be24(p, h->mlen);
        *p++ = h->type;
    }
    if (fmt == 0) {
        p = rtmp_chunk_put_le32(p, h->msid);
    }
    if (ext) {
        p = rtmp_chunk_put_be32(p, field);
    }

    const u_char *d = m->payload.data();
    size_t left = m->payload.size();
    for (;;) {
        size_t n = std::min(left, (size_t)chunk_size);
        if (n) {
            memcpy(p, d, n);
        }
        p += n;
        d += n;
        left -= n;
        if (left == 0) {
            break;
        }
        // Continuations are fmt 3 and repeat the extended timestamp, as librtmp and ffmpeg
        // expect (spec 5.3.1.3).
        p = rtmp_chunk_put_basic(p, 3, h->csid);
        if (ext) {
            p = rtmp_chunk_put_be32(p, field);
        }
    }
}

static const char *rtmp_chunk_check(const rtmp_message_t *m, uint32_t chunk_size)
{
    if (m->h.csid < 2 || m->h.csid > RTMP_CHUNK_CSID_MAX) {
        return "chunk stream id out of range";
    }
    if (m->h.mlen > RTMP_CHUNK_MESSAGE_MAX) {
        return "message too long for a chunk header";
    }
    if (m->payload.size() != m->h.mlen) {
        return "payload size differs from the header's length";
    }
    if (chunk_size == 0 || chunk_size > RTMP_CHUNK_MAX_SIZE) {
        return "invalid output chunk size";
    }
    return nullptr;
}

void rtmp_chunk_writer_init(rtmp_chunk_writer_t *w, rtmp_pool_t *pool, uint32_t chunk_size)
{
    memset(w, 0, sizeof(*w));
    w->pool = pool;
    w->chunk_size = chunk_size ? chunk_size : RTMP_CHUNK_DEFAULT_SIZE;
}

static rtmp_chunk_out_t *rtmp_chunk_out_find(rtmp_chunk_writer_t *w, uint32_t csid)
{
    for (rtmp_chunk_out_t *o = w->hash[csid % RTMP_CHUNK_HASH]; o; o = o->next) {
        if (o->csid == csid) {
            return o;
        }
    }
    return nullptr;
}

// Picks the smallest header a reader can expand back to `h` (spec 5.3.1.2).
static uint32_t rtmp_chunk_choose(const rtmp_chunk_out_t *o, const rtmp_header_t *h,
                                  uint32_t *field)
{
    if (o == nullptr || h->msid != o->msid || h->timestamp < o->timestamp) {
        *field = h->timestamp;
        return 0;
    }
    uint32_t delta = h->timestamp - o->timestamp;
    *field = delta;
    if (h->mlen != o->mlen || h->type != o->type) {
        return 1;
    }
    // After fmt 0 readers disagree on the delta a fmt 3 repeats; say it explicitly.
    if (o->fmt0 || delta != o->delta) {
        return 2;
    }
    return 3;
}

size_t rtmp_chunk_write_size(rtmp_chunk_writer_t *w, const rtmp_header_t *h)
{
    uint32_t field;
    uint32_t fmt = rtmp_chunk_choose(rtmp_chunk_out_find(w, h->csid), h, &field);
    return rtmp_chunk_encoded_size(h->csid, fmt, field, h->mlen, w->chunk_size);
}

static void rtmp_chunk_out_update(rtmp_chunk_writer_t *w, const rtmp_header_t *h, uint32_t fmt,
                                  uint32_t field)
{
    rtmp_chunk_out_t *o = rtmp_chunk_out_find(w, h->csid);
    if (o == nullptr) {
        o = rtmp_palloc<rtmp_chunk_out_t>(w->pool);
        o->csid = h->csid;
        o->next = w->hash[h->csid % RTMP_CHUNK_HASH];
        w->hash[h->csid % RTMP_CHUNK_HASH] = o;
    }
    o->timestamp = h->timestamp;
    o->delta = fmt ? field : 0;
    o->fmt0 = fmt == 0;
    o->mlen = h->mlen;
    o->msid = h->msid;
    o->type = h->type;
}

rtmp_int_t rtmp_chunk_write(rtmp_chunk_writer_t *w, const rtmp_message_t *m, rtmp_buf_t *out)
{
    w->reason = rtmp_chunk_check(m, w->chunk_size);
    if (w->reason) {
        return RTMP_ERROR;
    }
    uint32_t field;
    uint32_t fmt = rtmp_chunk_choose(rtmp_chunk_out_find(w, m->h.csid), &m->h, &field);
    size_t size = rtmp_chunk_encoded_size(m->h.csid, fmt, field, m->h.mlen, w->chunk_size);
    if (rtmp_buf_free(out) < size) {
        w->reason = "output buffer too small";
        return RTMP_ERROR;
    }
    rtmp_chunk_encode(out->last, fmt, field, m, w->chunk_size);
    out->last += size;
    rtmp_chunk_out_update(w, &m->h, fmt, field);
    return RTMP_OK;
}

size_t rtmp_chunk_fmt0_size(const rtmp_header_t *h, uint32_t chunk_size)
{
    return rtmp_chunk_encoded_size(h->csid, 0, h->timestamp, h->mlen, chunk_size);
}

rtmp_int_t rtmp_chunk_write_fmt0(const rtmp_message_t *m, uint32_t chunk_size, rtmp_buf_t *out,
                                 const char **reason)
{
    *reason = rtmp_chunk_check(m, chunk_size);
    if (*reason) {
        return RTMP_ERROR;
    }
    size_t size = rtmp_chunk_fmt0_size(&m->h, chunk_size);
    if (rtmp_buf_free(out) < size) {
        *reason = "output buffer too small";
        return RTMP_ERROR;
    }
    rtmp_chunk_encode(out->last, 0, m->h.timestamp, m, chunk_size);
    out->last += size;
    return RTMP_OK;
}

void rtmp_chunk_writer_sent(rtmp_chunk_writer_t *w, const rtmp_header_t *h)
{
    rtmp_chunk_out_update(w, h, 0, h->timestamp);
}
