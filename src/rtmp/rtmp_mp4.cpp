// MP4 demuxer (ISO/IEC 14496-12 and -15): moov sample tables to samples in decoding order.
#include "rtmp/rtmp_mp4.h"

#include <algorithm>

static uint32_t rtmp_mp4_be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rtmp_mp4_be64(const u_char *p)
{
    return (uint64_t)rtmp_mp4_be32(p) << 32 | rtmp_mp4_be32(p + 4);
}

static constexpr uint32_t rtmp_mp4_tag(const char (&s)[5])
{
    return (uint32_t)(u_char)s[0] << 24 | (uint32_t)(u_char)s[1] << 16 |
           (uint32_t)(u_char)s[2] << 8 | (u_char)s[3];
}

struct rtmp_mp4_box_t {
    uint32_t type;
    std::span<const u_char> body;
};

// Takes the next box off *in; false at the end or when its size does not fit.
static bool rtmp_mp4_box(std::span<const u_char> *in, rtmp_mp4_box_t *b, const char **err)
{
    if (in->size() < 8) {
        if (!in->empty()) {
            *err = "MP4: truncated box header";
        }
        return false;
    }
    uint64_t size = rtmp_mp4_be32(in->data());
    b->type = rtmp_mp4_be32(in->data() + 4);
    size_t hdr = 8;
    if (size == 1) {
        if (in->size() < 16) {
            *err = "MP4: truncated box header";
            return false;
        }
        size = rtmp_mp4_be64(in->data() + 8);
        hdr = 16;
    } else if (size == 0) {
        size = in->size(); // to the end of the enclosing box
    }
    if (size < hdr || size > in->size()) {
        *err = "MP4: box size out of bounds";
        return false;
    }
    b->body = in->subspan(hdr, (size_t)size - hdr);
    *in = in->subspan((size_t)size);
    return true;
}

// The first child box of `type` in `in`; an empty span when there is none.
static bool rtmp_mp4_find(std::span<const u_char> in, uint32_t type, std::span<const u_char> *out,
                          const char **err)
{
    rtmp_mp4_box_t b;
    while (rtmp_mp4_box(&in, &b, err)) {
        if (b.type == type) {
            *out = b.body;
            return true;
        }
    }
    return false;
}

// A full box's table: version/flags, a 32-bit count, then count entries of `entry` bytes.
static bool rtmp_mp4_table(std::span<const u_char> body, size_t entry, size_t skip,
                           const u_char **table, uint32_t *n)
{
    if (body.size() < 8 + skip) {
        return false;
    }
    uint32_t count = rtmp_mp4_be32(body.data() + 4 + skip);
    if ((uint64_t)count * entry > body.size() - 8 - skip) {
        return false;
    }
    *table = body.data() + 8 + skip;
    *n = count;
    return true;
}

// ES_Descriptor length: up to four 7-bit groups (ISO/IEC 14496-1 8.3.3).
static bool rtmp_mp4_desc(std::span<const u_char> *in, uint8_t *tag, std::span<const u_char> *body)
{
    if (in->size() < 2) {
        return false;
    }
    *tag = (*in)[0];
    size_t i = 1;
    uint32_t len = 0;
    for (int k = 0; k < 4; k++) {
        if (i >= in->size()) {
            return false;
        }
        u_char c = (*in)[i++];
        len = len << 7 | (c & 0x7f);
        if (!(c & 0x80)) {
            break;
        }
    }
    if (len > in->size() - i) {
        return false;
    }
    *body = in->subspan(i, len);
    *in = in->subspan(i + len);
    return true;
}

// The AudioSpecificConfig out of an esds box body.
static bool rtmp_mp4_esds(std::span<const u_char> esds, std::span<const u_char> *asc)
{
    if (esds.size() < 4) {
        return false;
    }
    std::span<const u_char> in = esds.subspan(4), es, dc;
    uint8_t tag;
    if (!rtmp_mp4_desc(&in, &tag, &es) || tag != 3 || es.size() < 3) {
        return false;
    }
    uint8_t flags = es[2];
    size_t skip = 3;
    if (flags & 0x80) {
        skip += 2;
    }
    if (flags & 0x40) {
        if (es.size() <= skip) {
            return false;
        }
        skip += 1 + es[skip];
    }
    if (flags & 0x20) {
        skip += 2;
    }
    if (skip > es.size()) {
        return false;
    }
    es = es.subspan(skip);
    if (!rtmp_mp4_desc(&es, &tag, &dc) || tag != 4 || dc.size() < 13 || dc[0] != 0x40) {
        return false; // 0x40: MPEG-4 audio; MP3 and others are not AAC
    }
    dc = dc.subspan(13);
    std::span<const u_char> dsi;
    if (!rtmp_mp4_desc(&dc, &tag, &dsi) || tag != 5 || dsi.size() < 2 || dsi.size() > 64) {
        return false;
    }
    *asc = dsi;
    return true;
}

// The sample description: codec and its configuration record.
static bool rtmp_mp4_stsd(std::span<const u_char> body, bool video, rtmp_mp4_track_t *t,
                          const char **err)
{
    if (body.size() < 8 || rtmp_mp4_be32(body.data() + 4) == 0) {
        return false;
    }
    std::span<const u_char> in = body.subspan(8);
    rtmp_mp4_box_t e;
    if (!rtmp_mp4_box(&in, &e, err)) {
        return false;
    }
    if (video) {
        uint32_t want;
        if (e.type == rtmp_mp4_tag("avc1") || e.type == rtmp_mp4_tag("avc3")) {
            t->codec = rtmp_mp4_codec::avc;
            want = rtmp_mp4_tag("avcC");
        } else if (e.type == rtmp_mp4_tag("hvc1") || e.type == rtmp_mp4_tag("hev1")) {
            t->codec = rtmp_mp4_codec::hevc;
            want = rtmp_mp4_tag("hvcC");
        } else {
            return false;
        }
        if (e.body.size() < 78) {
            return false;
        }
        t->width = (uint16_t)(e.body[24] << 8 | e.body[25]);
        t->height = (uint16_t)(e.body[26] << 8 | e.body[27]);
        std::span<const u_char> rec;
        if (!rtmp_mp4_find(e.body.subspan(78), want, &rec, err) || rec.size() < 7 ||
            rec.size() > 65536) {
            t->codec = rtmp_mp4_codec::none;
            return false;
        }
        t->config = rec;
        return true;
    }
    if (e.type != rtmp_mp4_tag("mp4a") || e.body.size() < 28) {
        return false;
    }
    uint16_t version = (uint16_t)(e.body[8] << 8 | e.body[9]);
    size_t skip = version == 1 ? 44 : version == 2 ? 64 : 28; // QuickTime sound entries
    if (e.body.size() < skip) {
        return false;
    }
    t->channels = (uint16_t)(e.body[16] << 8 | e.body[17]);
    t->sample_rate = rtmp_mp4_be32(e.body.data() + 24) >> 16;
    std::span<const u_char> children = e.body.subspan(skip), esds, wave;
    if (!rtmp_mp4_find(children, rtmp_mp4_tag("esds"), &esds, err)) {
        // QuickTime keeps it inside a 'wave' box
        if (!rtmp_mp4_find(children, rtmp_mp4_tag("wave"), &wave, err) ||
            !rtmp_mp4_find(wave, rtmp_mp4_tag("esds"), &esds, err)) {
            return false;
        }
    }
    if (!rtmp_mp4_esds(esds, &t->config)) {
        return false;
    }
    t->codec = rtmp_mp4_codec::aac;
    return true;
}

// Reads the sample tables; false when one is missing or does not fit its box.
static bool rtmp_mp4_stbl(std::span<const u_char> stbl, rtmp_mp4_track_t *t, const char **err)
{
    std::span<const u_char> in = stbl;
    rtmp_mp4_box_t b;
    bool have_stts = false, have_stsc = false, have_stsz = false, have_stco = false;
    while (rtmp_mp4_box(&in, &b, err)) {
        const u_char *p;
        uint32_t n;
        switch (b.type) {
        case rtmp_mp4_tag("stts"):
            have_stts = rtmp_mp4_table(b.body, 8, 0, &t->stts, &t->stts_n);
            break;
        case rtmp_mp4_tag("ctts"):
            if (!rtmp_mp4_table(b.body, 8, 0, &t->ctts, &t->ctts_n)) {
                return false;
            }
            t->ctts_signed = b.body[0] == 1;
            break;
        case rtmp_mp4_tag("stsc"):
            have_stsc = rtmp_mp4_table(b.body, 12, 0, &t->stsc, &t->stsc_n);
            break;
        case rtmp_mp4_tag("stsz"):
            if (b.body.size() < 12) {
                return false;
            }
            t->sample_size = rtmp_mp4_be32(b.body.data() + 4);
            t->nsamples = rtmp_mp4_be32(b.body.data() + 8);
            if (t->sample_size == 0) {
                if ((uint64_t)t->nsamples * 4 > b.body.size() - 12) {
                    return false;
                }
                t->stsz = b.body.data() + 12;
            }
            have_stsz = true;
            break;
        case rtmp_mp4_tag("stz2"):
            if (b.body.size() < 12) {
                return false;
            }
            t->stz2_bits = b.body[7];
            t->nsamples = rtmp_mp4_be32(b.body.data() + 8);
            if ((t->stz2_bits != 4 && t->stz2_bits != 8 && t->stz2_bits != 16) ||
                ((uint64_t)t->nsamples * t->stz2_bits + 7) / 8 > b.body.size() - 12) {
                return false;
            }
            t->stsz = b.body.data() + 12;
            have_stsz = true;
            break;
        case rtmp_mp4_tag("stco"):
            have_stco = rtmp_mp4_table(b.body, 4, 0, &t->stco, &t->stco_n);
            t->co64 = false;
            break;
        case rtmp_mp4_tag("co64"):
            have_stco = rtmp_mp4_table(b.body, 8, 0, &t->stco, &t->stco_n);
            t->co64 = true;
            break;
        case rtmp_mp4_tag("stss"):
            if (!rtmp_mp4_table(b.body, 4, 0, &p, &n)) {
                return false;
            }
            t->stss = p;
            t->stss_n = n;
            break;
        default:
            break;
        }
    }
    if (t->nsamples > RTMP_MP4_MAX_SAMPLES) {
        *err = "MP4: too many samples in a track";
        return false;
    }
    if (!have_stts || !have_stsc || !have_stsz || !have_stco) {
        if (*err == nullptr) {
            *err = "MP4: a sample table is missing or malformed";
        }
        return false;
    }
    return true;
}

static uint32_t rtmp_mp4_size_of(const rtmp_mp4_track_t *t, uint32_t i)
{
    if (t->stz2_bits == 0) {
        return t->sample_size ? t->sample_size : rtmp_mp4_be32(t->stsz + 4 * (size_t)i);
    }
    if (t->stz2_bits == 16) {
        return (uint32_t)t->stsz[2 * (size_t)i] << 8 | t->stsz[2 * (size_t)i + 1];
    }
    if (t->stz2_bits == 8) {
        return t->stsz[i];
    }
    u_char b = t->stsz[i / 2];
    return i % 2 ? b & 0x0f : b >> 4;
}

static uint64_t rtmp_mp4_chunk_offset(const rtmp_mp4_track_t *t, uint32_t c)
{
    return t->co64 ? rtmp_mp4_be64(t->stco + 8 * (size_t)c)
                   : rtmp_mp4_be32(t->stco + 4 * (size_t)c);
}

// Samples per chunk for the cursor's chunk, following stsc (first_chunk is 1-based).
static void rtmp_mp4_enter_chunk(rtmp_mp4_track_t *t)
{
    while (t->stsc_i + 1 < t->stsc_n &&
           rtmp_mp4_be32(t->stsc + 12 * (size_t)(t->stsc_i + 1)) <= (uint64_t)t->chunk + 1) {
        t->stsc_i++;
    }
    t->per_chunk = rtmp_mp4_be32(t->stsc + 12 * (size_t)t->stsc_i + 4);
    t->in_chunk = 0;
    t->offset = rtmp_mp4_chunk_offset(t, t->chunk);
}

static void rtmp_mp4_rewind(rtmp_mp4_track_t *t)
{
    t->sample = 0;
    t->dts = t->dts0;
    t->stts_i = t->ctts_i = t->stsc_i = t->stss_i = 0;
    t->stts_left = t->stts_n ? rtmp_mp4_be32(t->stts) : 0;
    t->ctts_left = t->ctts_n ? rtmp_mp4_be32(t->ctts) : 0;
    t->chunk = 0;
    t->ended = t->nsamples == 0 || t->stco_n == 0 || t->stsc_n == 0 || t->stts_n == 0;
    if (!t->ended) {
        rtmp_mp4_enter_chunk(t);
    }
}

// Moves the cursor to the chunk holding the next sample; false past the last chunk.
static bool rtmp_mp4_settle(rtmp_mp4_track_t *t)
{
    if (t->ended || t->sample >= t->nsamples) {
        t->ended = true;
        return false;
    }
    while (t->in_chunk >= t->per_chunk) { // chunks without samples are passed over
        if (t->chunk + 1 >= t->stco_n) {
            t->ended = true;
            return false;
        }
        t->chunk++;
        rtmp_mp4_enter_chunk(t);
    }
    return true;
}

// Past the cursor's sample: every table moves on by one.
static void rtmp_mp4_step(rtmp_mp4_track_t *t)
{
    t->offset += rtmp_mp4_size_of(t, t->sample);
    t->in_chunk++;
    t->sample++;
    while (t->stts_left == 0 && t->stts_i + 1 < t->stts_n) {
        t->stts_left = rtmp_mp4_be32(t->stts + 8 * (size_t)++t->stts_i);
    }
    t->dts += rtmp_mp4_be32(t->stts + 8 * (size_t)t->stts_i + 4);
    if (t->stts_left) {
        t->stts_left--;
    }
    while (t->stts_left == 0 && t->stts_i + 1 < t->stts_n) {
        t->stts_left = rtmp_mp4_be32(t->stts + 8 * (size_t)++t->stts_i);
    }
    if (t->ctts_n) {
        if (t->ctts_left) {
            t->ctts_left--;
        }
        while (t->ctts_left == 0 && t->ctts_i + 1 < t->ctts_n) {
            t->ctts_left = rtmp_mp4_be32(t->ctts + 8 * (size_t)++t->ctts_i);
        }
    }
}

static uint64_t rtmp_mp4_ms(const rtmp_mp4_track_t *t, uint64_t v)
{
    return v / t->timescale * 1000 + v % t->timescale * 1000 / t->timescale;
}

// A time of the track's media as played: in ms, its edit list applied.
static uint64_t rtmp_mp4_play_ms(const rtmp_mp4_track_t *t, uint64_t v)
{
    int64_t ms = (int64_t)std::min<uint64_t>(rtmp_mp4_ms(t, v), RTMP_MP4_MAX_EDIT_MS) + t->shift;
    return ms < 0 ? 0 : std::min<uint64_t>((uint64_t)ms, UINT32_MAX);
}

static bool rtmp_mp4_track_ok(rtmp_mp4_track_t *t)
{
    return t->codec != rtmp_mp4_codec::none && t->timescale != 0;
}

// v in units of ts as ms, held to RTMP_MP4_MAX_EDIT_MS.
static int64_t rtmp_mp4_edit_ms(uint64_t v, uint32_t ts)
{
    uint64_t ms = v / ts >= RTMP_MP4_MAX_EDIT_MS / 1000 ? RTMP_MP4_MAX_EDIT_MS
                                                        : v / ts * 1000 + v % ts * 1000 / ts;
    return (int64_t)std::min(ms, RTMP_MP4_MAX_EDIT_MS);
}

// An elst body (movie timescale mts) as the track's time shift. A table that does not fit
// its box, or an edit that is neither empty nor a media time, leaves the times as they are.
static void rtmp_mp4_elst(std::span<const u_char> body, uint32_t mts, rtmp_mp4_track_t *t)
{
    bool wide = !body.empty() && body[0] == 1;
    size_t entry = wide ? 20 : 12;
    const u_char *p;
    uint32_t n;
    if (mts == 0 || !rtmp_mp4_table(body, entry, 0, &p, &n)) {
        return;
    }
    uint64_t empty = 0;
    for (uint32_t i = 0; i < n; i++, p += entry) {
        uint64_t d = wide ? rtmp_mp4_be64(p) : rtmp_mp4_be32(p);
        int64_t mt = wide ? (int64_t)rtmp_mp4_be64(p + 8) : (int64_t)(int32_t)rtmp_mp4_be32(p + 4);
        if (mt == -1) {
            empty = std::min<uint64_t>(empty + std::min<uint64_t>(d, UINT32_MAX), UINT64_MAX / 2);
            continue;
        }
        if (mt < 0) {
            return;
        }
        t->edit_ms = rtmp_mp4_edit_ms(empty, mts) - rtmp_mp4_edit_ms((uint64_t)mt, t->timescale);
        return;
    }
    t->edit_ms = rtmp_mp4_edit_ms(empty, mts); // only empty edits: a track of nothing
}

// Each track's shift (its edit list, both lifted when one would begin before 0), then the
// duration of the whole as played.
static void rtmp_mp4_set_times(rtmp_mp4_t *mp4)
{
    int64_t low = 0;
    for (rtmp_mp4_track_t *t : {&mp4->video, &mp4->audio}) {
        if (t->codec != rtmp_mp4_codec::none) {
            int64_t start =
                (int64_t)std::min<uint64_t>(rtmp_mp4_ms(t, t->dts0), RTMP_MP4_MAX_EDIT_MS);
            low = std::min(low, start + t->edit_ms);
        }
    }
    uint64_t d = 0;
    for (rtmp_mp4_track_t *t : {&mp4->video, &mp4->audio}) {
        t->shift = t->edit_ms - low;
        if (t->codec != rtmp_mp4_codec::none) {
            d = std::max(d, rtmp_mp4_play_ms(t, t->duration));
        }
    }
    mp4->duration_ms = (uint32_t)d;
}

rtmp_int_t rtmp_mp4_parse_moov(rtmp_mp4_t *mp4, std::span<const u_char> moov, const char **err)
{
    std::span<const u_char> in = moov, mvex, mvhd;
    *err = nullptr;
    mp4->fragmented = rtmp_mp4_find(moov, rtmp_mp4_tag("mvex"), &mvex, err);
    *err = nullptr;
    uint32_t mts = 0; // the movie timescale, which edit durations are in
    if (rtmp_mp4_find(moov, rtmp_mp4_tag("mvhd"), &mvhd, err) && mvhd.size() >= 24) {
        mts = rtmp_mp4_be32(mvhd.data() + (mvhd[0] == 1 ? 20 : 12));
    }
    *err = nullptr;
    rtmp_mp4_box_t trak;
    uint32_t ntrak = 0;
    while (rtmp_mp4_box(&in, &trak, err) && ntrak < 64) {
        if (trak.type != rtmp_mp4_tag("trak")) {
            continue;
        }
        ntrak++;
        std::span<const u_char> mdia, mdhd, hdlr, minf, stbl, stsd;
        if (!rtmp_mp4_find(trak.body, rtmp_mp4_tag("mdia"), &mdia, err) ||
            !rtmp_mp4_find(mdia, rtmp_mp4_tag("mdhd"), &mdhd, err) ||
            !rtmp_mp4_find(mdia, rtmp_mp4_tag("hdlr"), &hdlr, err) || hdlr.size() < 12 ||
            !rtmp_mp4_find(mdia, rtmp_mp4_tag("minf"), &minf, err) ||
            !rtmp_mp4_find(minf, rtmp_mp4_tag("stbl"), &stbl, err) ||
            !rtmp_mp4_find(stbl, rtmp_mp4_tag("stsd"), &stsd, err)) {
            continue;
        }
        uint32_t handler = rtmp_mp4_be32(hdlr.data() + 8);
        bool video = handler == rtmp_mp4_tag("vide");
        if (!video && handler != rtmp_mp4_tag("soun")) {
            continue;
        }
        rtmp_mp4_track_t *slot = video ? &mp4->video : &mp4->audio;
        if (slot->codec != rtmp_mp4_codec::none) {
            continue; // the first playable track of each kind
        }
        rtmp_mp4_track_t t = {};
        if (mdhd.size() < 4) {
            continue;
        }
        std::span<const u_char> tkhd;
        if (rtmp_mp4_find(trak.body, rtmp_mp4_tag("tkhd"), &tkhd, err) && tkhd.size() >= 24) {
            t.id = rtmp_mp4_be32(tkhd.data() + (tkhd[0] == 1 ? 20 : 12));
        }
        *err = nullptr;
        if (mdhd[0] == 1 && mdhd.size() >= 32) {
            t.timescale = rtmp_mp4_be32(mdhd.data() + 20);
            t.duration = rtmp_mp4_be64(mdhd.data() + 24);
        } else if (mdhd[0] == 0 && mdhd.size() >= 20) {
            t.timescale = rtmp_mp4_be32(mdhd.data() + 12);
            t.duration = rtmp_mp4_be32(mdhd.data() + 16);
        }
        if (!rtmp_mp4_stsd(stsd, video, &t, err) || !rtmp_mp4_track_ok(&t)) {
            continue;
        }
        std::span<const u_char> edts, elst;
        if (rtmp_mp4_find(trak.body, rtmp_mp4_tag("edts"), &edts, err) &&
            rtmp_mp4_find(edts, rtmp_mp4_tag("elst"), &elst, err)) {
            rtmp_mp4_elst(elst, mts, &t);
        }
        *err = nullptr;
        if (!rtmp_mp4_stbl(stbl, &t, err)) {
            if (*err == nullptr) {
                *err = "MP4: a sample table does not fit its box";
            }
            return RTMP_ERROR;
        }
        rtmp_mp4_rewind(&t);
        *slot = t;
    }
    if (*err) {
        return RTMP_ERROR;
    }
    if (mp4->fragmented) {
        // trex: the defaults of each track's fragment samples
        rtmp_mp4_box_t trex;
        while (rtmp_mp4_box(&mvex, &trex, err)) {
            if (trex.type != rtmp_mp4_tag("trex") || trex.body.size() < 24) {
                continue;
            }
            uint32_t id = rtmp_mp4_be32(trex.body.data() + 4);
            for (rtmp_mp4_track_t *t : {&mp4->video, &mp4->audio}) {
                if (t->codec != rtmp_mp4_codec::none && t->id == id) {
                    t->trex_duration = rtmp_mp4_be32(trex.body.data() + 12);
                    t->trex_size = rtmp_mp4_be32(trex.body.data() + 16);
                    t->trex_flags = rtmp_mp4_be32(trex.body.data() + 20);
                }
            }
        }
        if (*err) {
            return RTMP_ERROR;
        }
    }
    if (mp4->video.codec == rtmp_mp4_codec::none && mp4->audio.codec == rtmp_mp4_codec::none) {
        *err = "MP4: no H.264, H.265 or AAC track";
        return RTMP_ERROR;
    }
    rtmp_mp4_set_times(mp4);
    return RTMP_OK;
}

// A fragmented file's samples go into tables laid out as the moov's own (stts, ctts,
// stsc, stsz, co64, stss), so reading and seeking work on them unchanged.
struct rtmp_mp4_buf_t {
    u_char *p;
    size_t len, cap;
};

// One track's tables while its fragments are read.
struct rtmp_mp4_frag_t {
    rtmp_mp4_track_t *t; // nullptr: no such track
    rtmp_mp4_buf_t stts, ctts, stsc, stsz, stco, stss;
    uint32_t nsamples, nchunks;
    uint32_t pending; // samples of the fragment being checked
    uint64_t dts;     // decoding time at the end of the samples so far
    bool any_cts, signed_cts, all_sync;
};

struct rtmp_mp4_frags_t {
    rtmp_mp4_frag_t tr[2];
    size_t bytes; // of all tables, held to RTMP_MP4_MAX_MOOV
};

static void rtmp_mp4_wr32(u_char *p, uint32_t v)
{
    p[0] = (u_char)(v >> 24);
    p[1] = (u_char)(v >> 16);
    p[2] = (u_char)(v >> 8);
    p[3] = (u_char)v;
}

[[nodiscard]] static bool rtmp_mp4_put(rtmp_mp4_frags_t *fs, rtmp_mp4_buf_t *b, uint32_t v)
{
    if (fs->bytes + 4 > RTMP_MP4_MAX_MOOV) {
        return false;
    }
    if (b->len + 4 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->p = static_cast<u_char *>(rtmp_realloc(b->p, b->cap));
    }
    rtmp_mp4_wr32(b->p + b->len, v);
    b->len += 4;
    fs->bytes += 4;
    return true;
}

// One more sample of value v in a run-length table (stts, ctts): the last run grows when
// it has the same value.
[[nodiscard]] static bool rtmp_mp4_run(rtmp_mp4_frags_t *fs, rtmp_mp4_buf_t *b, uint32_t v)
{
    if (b->len >= 8 && rtmp_mp4_be32(b->p + b->len - 4) == v) {
        uint32_t count = rtmp_mp4_be32(b->p + b->len - 8);
        if (count < UINT32_MAX) {
            rtmp_mp4_wr32(b->p + b->len - 8, count + 1);
            return true;
        }
    }
    return rtmp_mp4_put(fs, b, 1) && rtmp_mp4_put(fs, b, v);
}

// A track fragment's base media decode time: the track's start for its first one. For a
// later one it is what the times follow (a writer may only guess the duration of the last
// sample it wrote): the last sample is made to end there, lengthened over a gap in the
// stream or shortened as far as to nothing when it ends past it.
[[nodiscard]] static bool rtmp_mp4_frag_time(rtmp_mp4_frags_t *fs, rtmp_mp4_frag_t *fr,
                                             uint64_t tfdt)
{
    if (fr->nsamples == 0) {
        fr->t->dts0 = fr->dts = tfdt;
        return true;
    }
    if (tfdt == fr->dts) {
        return true;
    }
    u_char *last = fr->stts.p + fr->stts.len - 8;
    uint32_t count = rtmp_mp4_be32(last), delta = rtmp_mp4_be32(last + 4);
    uint64_t start = fr->dts - delta; // of the last sample
    if (tfdt < start) {
        tfdt = start; // no sample goes back in time
    }
    if (tfdt - start > UINT32_MAX) {
        return true; // not a gap but a broken time: played on from the samples' own
    }
    uint32_t d = (uint32_t)(tfdt - start);
    fr->dts = tfdt;
    if (count == 1) {
        rtmp_mp4_wr32(last + 4, d);
        return true;
    }
    rtmp_mp4_wr32(last, count - 1);
    return rtmp_mp4_put(fs, &fr->stts, 1) && rtmp_mp4_put(fs, &fr->stts, d);
}

// One more sample at the end of the track's tables.
[[nodiscard]] static bool rtmp_mp4_add(rtmp_mp4_frags_t *fs, rtmp_mp4_frag_t *fr, uint32_t size,
                                       uint32_t duration, uint32_t cts, bool key)
{
    fr->nsamples++;
    fr->dts += duration;
    fr->any_cts |= cts != 0;
    fr->all_sync &= key;
    return rtmp_mp4_put(fs, &fr->stsz, size) && rtmp_mp4_run(fs, &fr->stts, duration) &&
           rtmp_mp4_run(fs, &fr->ctts, cts) && (!key || rtmp_mp4_put(fs, &fr->stss, fr->nsamples));
}

// A chunk of n samples from pos: its co64 entry, and an stsc entry when n changes.
[[nodiscard]] static bool rtmp_mp4_chunk(rtmp_mp4_frags_t *fs, rtmp_mp4_frag_t *fr, uint64_t pos,
                                         uint32_t n)
{
    uint32_t last = fr->stsc.len ? rtmp_mp4_be32(fr->stsc.p + fr->stsc.len - 8) : 0;
    fr->nchunks++;
    return rtmp_mp4_put(fs, &fr->stco, (uint32_t)(pos >> 32)) &&
           rtmp_mp4_put(fs, &fr->stco, (uint32_t)pos) &&
           (last == n || (rtmp_mp4_put(fs, &fr->stsc, fr->nchunks) &&
                          rtmp_mp4_put(fs, &fr->stsc, n) && rtmp_mp4_put(fs, &fr->stsc, 1)));
}

// A fragmented file's moov may hold the first samples itself (ffmpeg's frag_keyframe
// without empty_moov): walked with the track's cursor, they begin the tables the fragments
// continue. False when one lies outside the file or the tables grow past their limit.
static bool rtmp_mp4_moov_samples(rtmp_mp4_frags_t *fs, rtmp_mp4_frag_t *fr, uint64_t file_size)
{
    rtmp_mp4_track_t *t = fr->t;
    uint64_t start = 0, end = 0; // the chunk being gathered: contiguous samples
    uint32_t n = 0;
    fr->signed_cts = t->ctts_signed;
    while (rtmp_mp4_settle(t)) {
        uint64_t off = t->offset, dts = t->dts;
        uint32_t size = rtmp_mp4_size_of(t, t->sample);
        uint32_t cts =
            t->ctts_n && t->ctts_left ? rtmp_mp4_be32(t->ctts + 8 * (size_t)t->ctts_i + 4) : 0;
        bool key = true;
        if (t->stss_n) {
            while (t->stss_i < t->stss_n &&
                   rtmp_mp4_be32(t->stss + 4 * (size_t)t->stss_i) < (uint64_t)t->sample + 1) {
                t->stss_i++;
            }
            key = t->stss_i < t->stss_n &&
                  rtmp_mp4_be32(t->stss + 4 * (size_t)t->stss_i) == t->sample + 1;
        }
        if (off > file_size || size > file_size - off) {
            return false;
        }
        rtmp_mp4_step(t);
        if (n && off != end) {
            if (!rtmp_mp4_chunk(fs, fr, start, n)) {
                return false;
            }
            n = 0;
        }
        if (n == 0) {
            start = off;
        }
        n++;
        end = off + size;
        if (!rtmp_mp4_add(fs, fr, size, (uint32_t)(t->dts - dts), cts, key)) {
            return false;
        }
    }
    return n == 0 || rtmp_mp4_chunk(fs, fr, start, n);
}

// One moof's track fragments (ISO/IEC 14496-12 8.8). With commit false it only checks that
// every box fits and every sample lies inside the file, so that a fragment goes in whole
// or not at all; with commit true (after a check passed) it adds the samples and fails
// only when the tables grow past their limits.
static bool rtmp_mp4_moof(rtmp_mp4_frags_t *fs, std::span<const u_char> moof, uint64_t moof_off,
                          uint64_t file_size, bool commit)
{
    const char *err = nullptr;
    std::span<const u_char> in = moof;
    rtmp_mp4_box_t traf;
    uint64_t data_end = moof_off; // a traf without a base offset follows the previous one's data
    for (rtmp_mp4_frag_t &fr : fs->tr) {
        fr.pending = 0;
    }
    while (rtmp_mp4_box(&in, &traf, &err)) {
        if (traf.type != rtmp_mp4_tag("traf")) {
            continue;
        }
        std::span<const u_char> tfhd, tfdt;
        if (!rtmp_mp4_find(traf.body, rtmp_mp4_tag("tfhd"), &tfhd, &err) || tfhd.size() < 8) {
            return false;
        }
        uint32_t tf = rtmp_mp4_be32(tfhd.data()) & 0xffffff;
        uint32_t id = rtmp_mp4_be32(tfhd.data() + 4);
        rtmp_mp4_frag_t *fr = nullptr;
        for (rtmp_mp4_frag_t &c : fs->tr) {
            if (c.t != nullptr && c.t->id == id) {
                fr = &c;
            }
        }
        if (fr == nullptr) {
            continue; // a track not played
        }
        rtmp_mp4_track_t *t = fr->t;
        size_t need = 8 + (tf & 0x1 ? 8 : 0) + (tf & 0x2 ? 4 : 0) + (tf & 0x8 ? 4 : 0) +
                      (tf & 0x10 ? 4 : 0) + (tf & 0x20 ? 4 : 0);
        if (tfhd.size() < need) {
            return false;
        }
        const u_char *p = tfhd.data() + 8;
        uint64_t base = tf & 0x20000 ? moof_off : data_end; // default-base-is-moof
        if (tf & 0x1) {
            base = rtmp_mp4_be64(p);
            p += 8;
        }
        if (tf & 0x2) {
            p += 4; // sample_description_index: the one description is used
        }
        uint32_t dur = t->trex_duration, size = t->trex_size, flags = t->trex_flags;
        if (tf & 0x8) {
            dur = rtmp_mp4_be32(p);
            p += 4;
        }
        if (tf & 0x10) {
            size = rtmp_mp4_be32(p);
            p += 4;
        }
        if (tf & 0x20) {
            flags = rtmp_mp4_be32(p);
        }
        if (rtmp_mp4_find(traf.body, rtmp_mp4_tag("tfdt"), &tfdt, &err)) {
            if (tfdt.size() < 8 || (tfdt[0] == 1 && tfdt.size() < 12)) {
                return false;
            }
            uint64_t bmdt =
                tfdt[0] == 1 ? rtmp_mp4_be64(tfdt.data() + 4) : rtmp_mp4_be32(tfdt.data() + 4);
            if (commit && !rtmp_mp4_frag_time(fs, fr, bmdt)) {
                return false;
            }
        }
        if (err) {
            return false;
        }
        uint64_t pos = base;
        std::span<const u_char> tin = traf.body;
        rtmp_mp4_box_t trun;
        while (rtmp_mp4_box(&tin, &trun, &err)) {
            if (trun.type != rtmp_mp4_tag("trun")) {
                continue;
            }
            std::span<const u_char> b = trun.body;
            if (b.size() < 8) {
                return false;
            }
            uint32_t rf = rtmp_mp4_be32(b.data()) & 0xffffff;
            uint32_t n = rtmp_mp4_be32(b.data() + 4);
            size_t off = 8;
            if (rf & 0x1) { // data_offset, from the base
                if (b.size() < off + 4) {
                    return false;
                }
                int64_t d = (int32_t)rtmp_mp4_be32(b.data() + off);
                if (d < 0 && (uint64_t)-d > base) {
                    return false;
                }
                pos = base + (uint64_t)d;
                off += 4;
            }
            bool have_first = rf & 0x4;
            uint32_t first_flags = 0;
            if (have_first) {
                if (b.size() < off + 4) {
                    return false;
                }
                first_flags = rtmp_mp4_be32(b.data() + off);
                off += 4;
            }
            size_t entry = 4 * ((rf & 0x100 ? 1 : 0) + (rf & 0x200 ? 1 : 0) + (rf & 0x400 ? 1 : 0) +
                                (rf & 0x800 ? 1 : 0));
            if ((uint64_t)n * entry > b.size() - off ||
                (!commit && (uint64_t)fr->nsamples + fr->pending + n > RTMP_MP4_MAX_SAMPLES)) {
                return false;
            }
            fr->pending += n;
            if (commit && n && !rtmp_mp4_chunk(fs, fr, pos, n)) { // each run is one chunk
                return false;
            }
            const u_char *e = b.data() + off;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t sd = dur, ss = size, sf = flags, sc = 0;
                if (rf & 0x100) {
                    sd = rtmp_mp4_be32(e);
                    e += 4;
                }
                if (rf & 0x200) {
                    ss = rtmp_mp4_be32(e);
                    e += 4;
                }
                if (rf & 0x400) {
                    sf = rtmp_mp4_be32(e);
                    e += 4;
                }
                if (rf & 0x800) {
                    sc = rtmp_mp4_be32(e);
                    e += 4;
                }
                if (i == 0 && have_first) {
                    sf = first_flags;
                }
                if (pos > file_size || ss > file_size - pos) {
                    return false; // the fragment's data is cut short
                }
                pos += ss;
                if (!commit) {
                    continue;
                }
                fr->signed_cts |= b[0] == 1;
                if (!rtmp_mp4_add(fs, fr, ss, sd, sc, !(sf & 0x10000))) { // non-sync flag
                    return false;
                }
            }
            if (pos > data_end) {
                data_end = pos;
            }
        }
        if (err) {
            return false;
        }
    }
    return err == nullptr;
}

// The tables built from the fragments, in one block, become the tracks'.
static void rtmp_mp4_frags_done(rtmp_mp4_t *mp4, rtmp_mp4_frags_t *fs)
{
    mp4->tables = static_cast<u_char *>(rtmp_alloc(fs->bytes ? fs->bytes : 1));
    u_char *p = mp4->tables;
    for (rtmp_mp4_frag_t &fr : fs->tr) {
        rtmp_mp4_track_t *t = fr.t;
        if (t == nullptr) {
            continue;
        }
        auto take = [&p](rtmp_mp4_buf_t *b) {
            const u_char *at = p;
            if (b->len) {
                memcpy(p, b->p, b->len);
                p += b->len;
            }
            return at;
        };
        t->stts = take(&fr.stts);
        t->stts_n = (uint32_t)(fr.stts.len / 8);
        t->ctts = take(&fr.ctts);
        t->ctts_n = (uint32_t)(fr.ctts.len / 8);
        if (!fr.any_cts) {
            t->ctts = nullptr;
            t->ctts_n = 0;
        }
        t->ctts_signed = fr.signed_cts;
        t->stsc = take(&fr.stsc);
        t->stsc_n = (uint32_t)(fr.stsc.len / 12);
        t->stsz = take(&fr.stsz);
        t->sample_size = 0;
        t->stz2_bits = 0;
        t->nsamples = fr.nsamples;
        t->stco = take(&fr.stco);
        t->stco_n = (uint32_t)(fr.stco.len / 8);
        t->co64 = true;
        t->stss = take(&fr.stss);
        t->stss_n = (uint32_t)(fr.stss.len / 4);
        if (fr.all_sync) {
            t->stss = nullptr; // no stss: every sample is a sync sample
            t->stss_n = 0;
        }
        if (fr.dts > t->duration) {
            t->duration = fr.dts;
        }
        rtmp_mp4_rewind(t);
    }
    rtmp_mp4_set_times(mp4);
}

static void rtmp_mp4_frags_free(rtmp_mp4_frags_t *fs)
{
    for (rtmp_mp4_frag_t &fr : fs->tr) {
        for (rtmp_mp4_buf_t *b : {&fr.stts, &fr.ctts, &fr.stsc, &fr.stsz, &fr.stco, &fr.stss}) {
            rtmp_free(b->p);
            *b = {};
        }
    }
}

// Reads the moof at off and adds its samples when the whole fragment is in the file.
static rtmp_int_t rtmp_mp4_read_moof(rtmp_mp4_frags_t *fs, const rtmp_media_file_t *f, uint64_t off,
                                     uint64_t hdr, uint64_t size, u_char **buf, size_t *cap,
                                     const char **err)
{
    if (size - hdr > RTMP_MP4_MAX_MOOV) {
        *err = "MP4: moof box too large";
        return RTMP_ERROR;
    }
    size_t len = (size_t)(size - hdr);
    if (len > *cap) {
        *buf = static_cast<u_char *>(rtmp_realloc(*buf, len));
        *cap = len;
    }
    if (!rtmp_media_file_read(f, *buf, len, off + hdr)) {
        *err = "MP4: cannot read a moof box";
        return RTMP_ERROR;
    }
    std::span<const u_char> moof = {*buf, len};
    if (!rtmp_mp4_moof(fs, moof, off, f->size, false)) {
        return RTMP_DECLINED; // cut short or malformed: this fragment is not played
    }
    if (!rtmp_mp4_moof(fs, moof, off, f->size, true)) {
        *err = "MP4: the fragments' sample tables are too large";
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

bool rtmp_mp4_sniff(const u_char head[8])
{
    uint32_t type = rtmp_mp4_be32(head + 4);
    for (uint32_t tag : {rtmp_mp4_tag("ftyp"), rtmp_mp4_tag("moov"), rtmp_mp4_tag("mdat"),
                         rtmp_mp4_tag("free"), rtmp_mp4_tag("wide"), rtmp_mp4_tag("skip")}) {
        if (type == tag) {
            return true;
        }
    }
    return false;
}

// The top-level boxes, once: the moov, then for a fragmented file every moof.
static rtmp_int_t rtmp_mp4_scan(rtmp_mp4_t *mp4, const rtmp_media_file_t *f, rtmp_mp4_frags_t *fs,
                                u_char **buf, size_t *cap, const char **err)
{
    uint64_t off = 0;
    uint32_t limit = RTMP_MP4_MAX_BOXES, nmoof = 0;
    for (uint32_t i = 0; i < limit; i++) {
        u_char h[16];
        if (f->size - off < 8 || !rtmp_media_file_read(f, h, 8, off)) {
            break;
        }
        uint64_t size = rtmp_mp4_be32(h);
        uint32_t type = rtmp_mp4_be32(h + 4);
        size_t hdr = 8;
        if (size == 1) {
            if (!rtmp_media_file_read(f, h + 8, 8, off + 8)) {
                break;
            }
            size = rtmp_mp4_be64(h + 8);
            hdr = 16;
        } else if (size == 0) {
            size = f->size - off;
        }
        if (i == 0 && !rtmp_mp4_sniff(h)) {
            *err = "not an MP4 file";
            return RTMP_ERROR;
        }
        if (size < hdr || size > f->size - off) {
            break; // a box cut short: what came before it plays
        }
        if (type == rtmp_mp4_tag("moof")) {
            if (mp4->moov == nullptr) {
                *err = "MP4: a moof box before the moov";
                return RTMP_ERROR;
            }
            if (++nmoof > RTMP_MP4_MAX_FRAGMENTS) {
                *err = "MP4: too many fragments";
                return RTMP_ERROR;
            }
            if (rtmp_mp4_read_moof(fs, f, off, hdr, size, buf, cap, err) == RTMP_ERROR) {
                return RTMP_ERROR;
            }
        }
        if (type == rtmp_mp4_tag("moov") && mp4->moov == nullptr) {
            if (size - hdr > RTMP_MP4_MAX_MOOV) {
                *err = "MP4: moov box too large";
                return RTMP_ERROR;
            }
            mp4->moov_len = (size_t)(size - hdr);
            mp4->moov = static_cast<u_char *>(rtmp_alloc(mp4->moov_len ? mp4->moov_len : 1));
            if (!rtmp_media_file_read(f, mp4->moov, mp4->moov_len, off + hdr)) {
                *err = "MP4: cannot read the moov box";
                return RTMP_ERROR;
            }
            if (rtmp_mp4_parse_moov(mp4, {mp4->moov, mp4->moov_len}, err) != RTMP_OK) {
                return RTMP_ERROR;
            }
            if (!mp4->fragmented) {
                return RTMP_OK;
            }
            fs->tr[0].t = mp4->video.codec != rtmp_mp4_codec::none ? &mp4->video : nullptr;
            fs->tr[1].t = mp4->audio.codec != rtmp_mp4_codec::none ? &mp4->audio : nullptr;
            for (rtmp_mp4_frag_t &fr : fs->tr) {
                fr.all_sync = true;
                if (fr.t != nullptr && !rtmp_mp4_moov_samples(fs, &fr, f->size)) {
                    *err = "MP4: the moov's samples do not fit the file or their limits";
                    return RTMP_ERROR;
                }
            }
            limit = RTMP_MP4_MAX_BOXES + 2 * RTMP_MP4_MAX_FRAGMENTS;
        }
        off += size;
    }
    if (mp4->moov == nullptr) {
        *err = "MP4: no moov box";
        return RTMP_ERROR;
    }
    rtmp_mp4_frags_done(mp4, fs);
    return RTMP_OK;
}

rtmp_int_t rtmp_mp4_open(rtmp_mp4_t *mp4, const rtmp_media_file_t *f, const char **err)
{
    *mp4 = {};
    *err = nullptr;
    rtmp_mp4_frags_t fs = {};
    u_char *buf = nullptr;
    size_t cap = 0;
    rtmp_int_t rc = rtmp_mp4_scan(mp4, f, &fs, &buf, &cap, err);
    rtmp_mp4_frags_free(&fs);
    rtmp_free(buf);
    if (rc != RTMP_OK) {
        rtmp_mp4_close(mp4);
    }
    return rc;
}

void rtmp_mp4_close(rtmp_mp4_t *mp4)
{
    rtmp_free(mp4->moov);
    rtmp_free(mp4->tables);
    *mp4 = {};
}

static void rtmp_mp4_fill(rtmp_mp4_track_t *t, rtmp_mp4_sample_t *s)
{
    s->track = t;
    s->offset = t->offset;
    s->size = rtmp_mp4_size_of(t, t->sample);
    s->dts = (uint32_t)rtmp_mp4_play_ms(t, t->dts);
    s->cts = 0;
    if (t->ctts_n && t->ctts_left) {
        uint32_t raw = rtmp_mp4_be32(t->ctts + 8 * (size_t)t->ctts_i + 4);
        int64_t v = t->ctts_signed ? (int64_t)(int32_t)raw : (int64_t)raw;
        int64_t ms = v * 1000 / (int64_t)t->timescale;
        s->cts = ms > 0x7fffff ? 0x7fffff : ms < -0x800000 ? -0x800000 : (int32_t)ms;
    }
    if (t->stss_n == 0) {
        s->key = true;
    } else {
        while (t->stss_i < t->stss_n &&
               rtmp_mp4_be32(t->stss + 4 * (size_t)t->stss_i) < (uint64_t)t->sample + 1) {
            t->stss_i++;
        }
        s->key = t->stss_i < t->stss_n &&
                 rtmp_mp4_be32(t->stss + 4 * (size_t)t->stss_i) == t->sample + 1;
    }
}

rtmp_int_t rtmp_mp4_next(rtmp_mp4_t *mp4, rtmp_mp4_sample_t *s)
{
    rtmp_mp4_track_t *v = &mp4->video, *a = &mp4->audio;
    bool hv = v->codec != rtmp_mp4_codec::none && rtmp_mp4_settle(v);
    bool ha = a->codec != rtmp_mp4_codec::none && rtmp_mp4_settle(a);
    rtmp_mp4_track_t *t;
    if (hv && ha) {
        t = rtmp_mp4_play_ms(a, a->dts) < rtmp_mp4_play_ms(v, v->dts) ? a : v;
    } else if (hv || ha) {
        t = hv ? v : a;
    } else {
        return RTMP_DONE;
    }
    rtmp_mp4_fill(t, s);
    rtmp_mp4_step(t);
    return RTMP_OK;
}

// Moves a rewound track's cursor forward to sample `n`.
static void rtmp_mp4_skip_to(rtmp_mp4_track_t *t, uint32_t n)
{
    while (t->sample < n && rtmp_mp4_settle(t)) {
        rtmp_mp4_step(t);
    }
}

void rtmp_mp4_seek(rtmp_mp4_t *mp4, uint64_t ms, uint32_t *key_ms)
{
    uint64_t key = ms;
    rtmp_mp4_track_t *v = &mp4->video;
    if (v->codec != rtmp_mp4_codec::none) {
        // the last sample starting at or before ms, from the time-to-sample table (ms as
        // played: the edit list's shift taken off)
        int64_t media_ms = (int64_t)std::min<uint64_t>(ms, RTMP_MP4_MAX_EDIT_MS) - v->shift;
        uint64_t m = media_ms < 0 ? 0 : (uint64_t)media_ms;
        uint64_t limit = m / 1000 * v->timescale + m % 1000 * v->timescale / 1000;
        uint64_t dts = v->dts0, target = 0, n = 0;
        for (uint32_t i = 0; i < v->stts_n && n < v->nsamples; i++) {
            uint64_t count = rtmp_mp4_be32(v->stts + 8 * (size_t)i);
            uint64_t delta = rtmp_mp4_be32(v->stts + 8 * (size_t)i + 4);
            if (count > v->nsamples - n) {
                count = v->nsamples - n;
            }
            if (count == 0) {
                continue;
            }
            uint64_t k = count;
            if (delta) {
                // samples of this run that start at or before ms
                k = limit < dts ? 0 : (limit - dts) / delta + 1;
                k = k > count ? count : k;
            }
            if (k == 0) {
                break;
            }
            target = n + k - 1;
            if (k < count) {
                break;
            }
            dts += count * delta;
            n += count;
        }
        // the sync sample at or before it (stss numbers samples from 1)
        uint32_t sync = (uint32_t)target;
        if (v->stss_n) {
            uint32_t lo = 0, hi = v->stss_n;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (rtmp_mp4_be32(v->stss + 4 * (size_t)mid) <= target + 1) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            sync = lo == 0 ? 0 : rtmp_mp4_be32(v->stss + 4 * (size_t)(lo - 1)) - 1;
        }
        rtmp_mp4_rewind(v);
        rtmp_mp4_skip_to(v, sync);
        key = rtmp_mp4_play_ms(v, v->dts);
    }
    rtmp_mp4_track_t *a = &mp4->audio;
    if (a->codec != rtmp_mp4_codec::none) {
        rtmp_mp4_rewind(a);
        while (rtmp_mp4_settle(a) && rtmp_mp4_play_ms(a, a->dts) < key) {
            rtmp_mp4_step(a);
        }
    }
    *key_ms = key > UINT32_MAX ? UINT32_MAX : (uint32_t)key;
}

size_t rtmp_mp4_flv_prefix(const rtmp_mp4_sample_t *s, u_char *out)
{
    const rtmp_mp4_track_t *t = s->track;
    if (t->codec == rtmp_mp4_codec::aac) {
        out[0] = 0xaf; // AAC, 44 kHz, 16-bit, stereo: what FLV always says for AAC
        out[1] = 1;
        return 2;
    }
    uint32_t cts = (uint32_t)s->cts & 0xffffff;
    if (t->codec == rtmp_mp4_codec::avc) {
        out[0] = (s->key ? 0x10 : 0x20) | 7;
        out[1] = 1;
        out[2] = (u_char)(cts >> 16);
        out[3] = (u_char)(cts >> 8);
        out[4] = (u_char)cts;
        return 5;
    }
    // H.265 as Enhanced RTMP: IsExHeader, frame type, CodedFrames, FourCC, composition time
    out[0] = 0x80 | (s->key ? 0x10 : 0x20) | 1;
    memcpy(out + 1, "hvc1", 4);
    out[5] = (u_char)(cts >> 16);
    out[6] = (u_char)(cts >> 8);
    out[7] = (u_char)cts;
    return 8;
}

size_t rtmp_mp4_flv_header(const rtmp_mp4_track_t *t, u_char *out, size_t cap)
{
    size_t pre;
    u_char p[8];
    switch (t->codec) {
    case rtmp_mp4_codec::aac:
        p[0] = 0xaf;
        p[1] = 0;
        pre = 2;
        break;
    case rtmp_mp4_codec::avc:
        p[0] = 0x17;
        p[1] = p[2] = p[3] = p[4] = 0;
        pre = 5;
        break;
    case rtmp_mp4_codec::hevc:
        p[0] = 0x80 | 0x10 | 0; // SequenceStart
        memcpy(p + 1, "hvc1", 4);
        pre = 5;
        break;
    default:
        return 0;
    }
    if (pre + t->config.size() > cap) {
        return 0;
    }
    memcpy(out, p, pre);
    memcpy(out + pre, t->config.data(), t->config.size());
    return pre + t->config.size();
}
