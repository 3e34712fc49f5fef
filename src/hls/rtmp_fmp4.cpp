// Fragmented MP4 muxer (ISO/IEC 14496-12 and -15): init segment, then moof/mdat fragments.
#include "hls/rtmp_fmp4.h"
#include "rtmp/rtmp_codec.h"

#include <algorithm>

// Box bytes under construction; grows on the heap (the init segment and a moof are a few
// kilobytes, the mdat payload is written straight from the tracks' buffers).
struct rtmp_fmp4_out_t {
    u_char *p;
    size_t len;
    size_t cap;
};

static void rtmp_fmp4_need(rtmp_fmp4_out_t *o, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + n) {
            cap *= 2;
        }
        o->p = static_cast<u_char *>(rtmp_realloc(o->p, cap));
        o->cap = cap;
    }
}

static void rtmp_fmp4_bytes(rtmp_fmp4_out_t *o, const void *p, size_t n)
{
    rtmp_fmp4_need(o, n);
    if (n) {
        memcpy(o->p + o->len, p, n);
    }
    o->len += n;
}

static void rtmp_fmp4_zero(rtmp_fmp4_out_t *o, size_t n)
{
    rtmp_fmp4_need(o, n);
    memset(o->p + o->len, 0, n);
    o->len += n;
}

static void rtmp_fmp4_u8(rtmp_fmp4_out_t *o, uint8_t v)
{
    rtmp_fmp4_bytes(o, &v, 1);
}

static void rtmp_fmp4_u16(rtmp_fmp4_out_t *o, uint16_t v)
{
    u_char b[2] = {(u_char)(v >> 8), (u_char)v};
    rtmp_fmp4_bytes(o, b, 2);
}

static void rtmp_fmp4_u32(rtmp_fmp4_out_t *o, uint32_t v)
{
    u_char b[4] = {(u_char)(v >> 24), (u_char)(v >> 16), (u_char)(v >> 8), (u_char)v};
    rtmp_fmp4_bytes(o, b, 4);
}

static void rtmp_fmp4_u64(rtmp_fmp4_out_t *o, uint64_t v)
{
    rtmp_fmp4_u32(o, (uint32_t)(v >> 32));
    rtmp_fmp4_u32(o, (uint32_t)v);
}

static void rtmp_fmp4_put32(rtmp_fmp4_out_t *o, size_t at, uint32_t v)
{
    o->p[at] = (u_char)(v >> 24);
    o->p[at + 1] = (u_char)(v >> 16);
    o->p[at + 2] = (u_char)(v >> 8);
    o->p[at + 3] = (u_char)v;
}

// Opens a box: its size is patched by rtmp_fmp4_end.
static size_t rtmp_fmp4_box(rtmp_fmp4_out_t *o, const char type[5])
{
    size_t at = o->len;
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_bytes(o, type, 4);
    return at;
}

static size_t rtmp_fmp4_full(rtmp_fmp4_out_t *o, const char type[5], uint8_t version,
                             uint32_t flags)
{
    size_t at = rtmp_fmp4_box(o, type);
    rtmp_fmp4_u32(o, (uint32_t)version << 24 | flags);
    return at;
}

static void rtmp_fmp4_end(rtmp_fmp4_out_t *o, size_t at)
{
    rtmp_fmp4_put32(o, at, (uint32_t)(o->len - at));
}

// The unity matrix of tkhd and mvhd (8.2.2.3).
static void rtmp_fmp4_matrix(rtmp_fmp4_out_t *o)
{
    static constexpr uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
    for (uint32_t v : m) {
        rtmp_fmp4_u32(o, v);
    }
}

// ---- configuration ------------------------------------------------------------------------

void rtmp_fmp4_init(rtmp_fmp4_t *mx, rtmp_fmp4_output_pt output, void *data,
                    uint64_t max_fragment_ms)
{
    *mx = {};
    mx->output = output;
    mx->data = data;
    mx->max_fragment_ms = max_fragment_ms;
    mx->sequence = 1;
    mx->vt.default_duration = 40;
    mx->at.default_duration = 23;
}

void rtmp_fmp4_free(rtmp_fmp4_t *mx)
{
    for (rtmp_fmp4_track_t *t : {&mx->vt, &mx->at}) {
        rtmp_free(t->samples);
        rtmp_free(t->data);
        rtmp_free(t->index);
        *t = {};
    }
    rtmp_free(mx->frags);
    mx->frags = nullptr;
    mx->nfrags = mx->frags_cap = 0;
}

rtmp_int_t rtmp_fmp4_set_video_config(rtmp_fmp4_t *mx, rtmp_fmp4_video codec,
                                      std::span<const u_char> record)
{
    if (mx->init_written) {
        return RTMP_DECLINED;
    }
    if (record.size() > sizeof(mx->record)) {
        return RTMP_ERROR;
    }
    uint32_t w = 0, h = 0;
    if (codec == rtmp_fmp4_video::avc) {
        rtmp_codec_avc_config_t c;
        if (rtmp_codec_parse_avcc(record, &c) != RTMP_OK) {
            return RTMP_ERROR;
        }
        w = c.width;
        h = c.height;
    } else if (codec == rtmp_fmp4_video::hevc) {
        rtmp_codec_hevc_config_t c;
        if (rtmp_codec_parse_hvcc(record, &c) != RTMP_OK) {
            return RTMP_ERROR;
        }
        w = c.width;
        h = c.height;
    } else {
        return RTMP_ERROR;
    }
    mx->video = codec;
    mx->width = (uint16_t)(w > 0xffff ? 0 : w);
    mx->height = (uint16_t)(h > 0xffff ? 0 : h);
    memcpy(mx->record, record.data(), record.size());
    mx->record_len = record.size();
    return RTMP_OK;
}

rtmp_int_t rtmp_fmp4_set_audio_config(rtmp_fmp4_t *mx, std::span<const u_char> asc)
{
    if (mx->init_written) {
        return RTMP_DECLINED;
    }
    rtmp_codec_aac_config_t c;
    if (asc.size() > sizeof(mx->asc) || rtmp_codec_parse_aac_config(asc, &c) != RTMP_OK ||
        c.sample_rate == 0) {
        return RTMP_ERROR;
    }
    mx->audio = true;
    mx->sample_rate = c.sample_rate;
    mx->channels = c.channel_config ? c.channel_config : 2;
    memcpy(mx->asc, asc.data(), asc.size());
    mx->asc_len = asc.size();
    mx->at.default_duration = (uint32_t)(1024 * 1000 / c.sample_rate);
    return RTMP_OK;
}

// The sample tables: empty for a fragmented file, else from the index with one chunk per
// fragment holding samples of the track; *stco_at is where the chunk offsets go (filled
// in once the moov's size is known).
static void rtmp_fmp4_tables(rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o, bool video, bool full,
                             size_t *stco_at)
{
    rtmp_fmp4_track_t *t = video ? &mx->vt : &mx->at;
    uint32_t n = full ? t->nindex : 0;
    const rtmp_fmp4_sample_t *x = t->index;

    size_t b = rtmp_fmp4_full(o, "stts", 0, 0);
    size_t count_at = o->len;
    rtmp_fmp4_u32(o, 0);
    uint32_t runs = 0;
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && x[j].duration == x[i].duration) {
            j++;
        }
        rtmp_fmp4_u32(o, j - i);
        rtmp_fmp4_u32(o, x[i].duration);
        runs++;
        i = j;
    }
    rtmp_fmp4_put32(o, count_at, runs);
    rtmp_fmp4_end(o, b);

    bool cts = false, negative = false, all_key = true;
    for (uint32_t i = 0; i < n; i++) {
        cts = cts || x[i].cts != 0;
        negative = negative || x[i].cts < 0;
        all_key = all_key && x[i].key;
    }
    if (cts) {
        b = rtmp_fmp4_full(o, "ctts", negative ? 1 : 0, 0);
        count_at = o->len;
        rtmp_fmp4_u32(o, 0);
        runs = 0;
        for (uint32_t i = 0; i < n;) {
            uint32_t j = i;
            while (j < n && x[j].cts == x[i].cts) {
                j++;
            }
            rtmp_fmp4_u32(o, j - i);
            rtmp_fmp4_u32(o, (uint32_t)x[i].cts);
            runs++;
            i = j;
        }
        rtmp_fmp4_put32(o, count_at, runs);
        rtmp_fmp4_end(o, b);
    }
    if (video && n && !all_key) {
        b = rtmp_fmp4_full(o, "stss", 0, 0);
        count_at = o->len;
        rtmp_fmp4_u32(o, 0);
        uint32_t keys = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (x[i].key) {
                rtmp_fmp4_u32(o, i + 1);
                keys++;
            }
        }
        rtmp_fmp4_put32(o, count_at, keys);
        rtmp_fmp4_end(o, b);
    }

    // chunks: each fragment with samples of this track
    b = rtmp_fmp4_full(o, "stsc", 0, 0);
    count_at = o->len;
    rtmp_fmp4_u32(o, 0);
    uint32_t chunks = 0, entries = 0, prev = 0;
    for (uint32_t f = 0; full && f < mx->nfrags; f++) {
        uint32_t k = video ? mx->frags[f].video_n : mx->frags[f].audio_n;
        if (k == 0) {
            continue;
        }
        chunks++;
        if (k != prev) {
            rtmp_fmp4_u32(o, chunks);
            rtmp_fmp4_u32(o, k);
            rtmp_fmp4_u32(o, 1);
            entries++;
            prev = k;
        }
    }
    rtmp_fmp4_put32(o, count_at, entries);
    rtmp_fmp4_end(o, b);

    b = rtmp_fmp4_full(o, "stsz", 0, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, n);
    for (uint32_t i = 0; i < n; i++) {
        rtmp_fmp4_u32(o, x[i].size);
    }
    rtmp_fmp4_end(o, b);

    b = rtmp_fmp4_full(o, "co64", 0, 0);
    rtmp_fmp4_u32(o, chunks);
    if (stco_at) {
        *stco_at = o->len;
    }
    rtmp_fmp4_zero(o, 8 * (size_t)chunks);
    rtmp_fmp4_end(o, b);
}

// ---- init segment -------------------------------------------------------------------------

static void rtmp_fmp4_video_entry(rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o)
{
    bool hevc = mx->video == rtmp_fmp4_video::hevc;
    size_t e = rtmp_fmp4_box(o, hevc ? "hvc1" : "avc1");
    rtmp_fmp4_zero(o, 6);
    rtmp_fmp4_u16(o, 1); // data_reference_index
    rtmp_fmp4_zero(o, 16);
    rtmp_fmp4_u16(o, mx->width);
    rtmp_fmp4_u16(o, mx->height);
    rtmp_fmp4_u32(o, 0x00480000); // 72 dpi
    rtmp_fmp4_u32(o, 0x00480000);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u16(o, 1);   // frame_count
    rtmp_fmp4_zero(o, 32); // compressorname
    rtmp_fmp4_u16(o, 0x0018);
    rtmp_fmp4_u16(o, 0xffff);
    size_t c = rtmp_fmp4_box(o, hevc ? "hvcC" : "avcC");
    rtmp_fmp4_bytes(o, mx->record, mx->record_len);
    rtmp_fmp4_end(o, c);
    rtmp_fmp4_end(o, e);
}

// An MPEG-4 descriptor header with a one-byte length (all of ours are short).
static void rtmp_fmp4_desc(rtmp_fmp4_out_t *o, uint8_t tag, size_t len)
{
    rtmp_fmp4_u8(o, tag);
    rtmp_fmp4_u8(o, (uint8_t)len);
}

static void rtmp_fmp4_audio_entry(rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o)
{
    size_t e = rtmp_fmp4_box(o, "mp4a");
    rtmp_fmp4_zero(o, 6);
    rtmp_fmp4_u16(o, 1);
    rtmp_fmp4_zero(o, 8);
    rtmp_fmp4_u16(o, mx->channels);
    rtmp_fmp4_u16(o, 16);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, mx->sample_rate > 0xffff ? 0 : mx->sample_rate << 16);
    // ISO/IEC 14496-1 7.2.6: ES_Descriptor { DecoderConfigDescriptor { DecoderSpecificInfo },
    // SLConfigDescriptor }
    size_t dsi = 2 + mx->asc_len;
    size_t dcd = 2 + 13 + dsi;
    size_t es = 3 + dcd + 3;
    size_t b = rtmp_fmp4_full(o, "esds", 0, 0);
    rtmp_fmp4_desc(o, 3, es);
    rtmp_fmp4_u16(o, 0); // ES_ID
    rtmp_fmp4_u8(o, 0);
    rtmp_fmp4_desc(o, 4, dcd - 2);
    rtmp_fmp4_u8(o, 0x40);          // MPEG-4 audio
    rtmp_fmp4_u8(o, 0x05 << 2 | 1); // AudioStream
    rtmp_fmp4_zero(o, 3 + 4 + 4);   // buffer size, bitrates: unknown
    rtmp_fmp4_desc(o, 5, mx->asc_len);
    rtmp_fmp4_bytes(o, mx->asc, mx->asc_len);
    rtmp_fmp4_desc(o, 6, 1);
    rtmp_fmp4_u8(o, 2);
    rtmp_fmp4_end(o, b);
    rtmp_fmp4_end(o, e);
}

static void rtmp_fmp4_tables(rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o, bool video, bool full,
                             size_t *stco_at);

// A track that starts `empty` ms into the movie: an empty edit, then its media from its
// first decode time (8.6.6). The media time is 0, not the first composition offset: the
// fragmented file, which has no edit list, presents its samples at decode time plus
// offset, and the copy must present them at the same times.
static void rtmp_fmp4_edts(rtmp_fmp4_out_t *o, uint64_t empty, uint64_t duration)
{
    bool wide = empty > 0xffffffff || duration > 0xffffffff;
    size_t edts = rtmp_fmp4_box(o, "edts");
    size_t b = rtmp_fmp4_full(o, "elst", wide ? 1 : 0, 0);
    rtmp_fmp4_u32(o, 2);
    for (int i = 0; i < 2; i++) {
        uint64_t d = i == 0 ? empty : duration;
        if (wide) {
            rtmp_fmp4_u64(o, d);
            rtmp_fmp4_u64(o, i == 0 ? UINT64_MAX : 0); // media_time -1: empty
        } else {
            rtmp_fmp4_u32(o, (uint32_t)d);
            rtmp_fmp4_u32(o, i == 0 ? UINT32_MAX : 0);
        }
        rtmp_fmp4_u32(o, 0x00010000); // media_rate 1.0
    }
    rtmp_fmp4_end(o, b);
    rtmp_fmp4_end(o, edts);
}

// A track; with full, its sample tables from the index (a faststart copy), else empty
// tables for a fragmented file. duration and empty (the time before its first sample,
// an edit list when not 0) in ms.
static void rtmp_fmp4_trak(rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o, bool video, bool full,
                           uint64_t duration, uint64_t empty, size_t *stco_at)
{
    size_t trak = rtmp_fmp4_box(o, "trak");
    size_t b = rtmp_fmp4_full(o, "tkhd", 0, 3); // enabled, in movie
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, video ? RTMP_FMP4_VIDEO_ID : RTMP_FMP4_AUDIO_ID);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, (uint32_t)(empty + duration)); // 0 when fragmented: in the fragments
    rtmp_fmp4_zero(o, 8);
    rtmp_fmp4_u16(o, 0);
    rtmp_fmp4_u16(o, 0);
    rtmp_fmp4_u16(o, video ? 0 : 0x0100);
    rtmp_fmp4_u16(o, 0);
    rtmp_fmp4_matrix(o);
    rtmp_fmp4_u32(o, video ? (uint32_t)mx->width << 16 : 0);
    rtmp_fmp4_u32(o, video ? (uint32_t)mx->height << 16 : 0);
    rtmp_fmp4_end(o, b);
    if (empty) {
        rtmp_fmp4_edts(o, empty, duration);
    }

    size_t mdia = rtmp_fmp4_box(o, "mdia");
    b = rtmp_fmp4_full(o, "mdhd", 0, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, 1000);
    rtmp_fmp4_u32(o, (uint32_t)duration);
    rtmp_fmp4_u16(o, 0x55c4); // "und"
    rtmp_fmp4_u16(o, 0);
    rtmp_fmp4_end(o, b);
    b = rtmp_fmp4_full(o, "hdlr", 0, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_bytes(o, video ? "vide" : "soun", 4);
    rtmp_fmp4_zero(o, 12);
    const char *name = video ? "VideoHandler" : "SoundHandler";
    rtmp_fmp4_bytes(o, name, strlen(name) + 1);
    rtmp_fmp4_end(o, b);

    size_t minf = rtmp_fmp4_box(o, "minf");
    if (video) {
        b = rtmp_fmp4_full(o, "vmhd", 0, 1);
        rtmp_fmp4_zero(o, 8);
    } else {
        b = rtmp_fmp4_full(o, "smhd", 0, 0);
        rtmp_fmp4_zero(o, 4);
    }
    rtmp_fmp4_end(o, b);
    size_t dinf = rtmp_fmp4_box(o, "dinf");
    size_t dref = rtmp_fmp4_full(o, "dref", 0, 0);
    rtmp_fmp4_u32(o, 1);
    rtmp_fmp4_end(o, rtmp_fmp4_full(o, "url ", 0, 1)); // the media is in this file
    rtmp_fmp4_end(o, dref);
    rtmp_fmp4_end(o, dinf);

    size_t stbl = rtmp_fmp4_box(o, "stbl");
    b = rtmp_fmp4_full(o, "stsd", 0, 0);
    rtmp_fmp4_u32(o, 1);
    if (video) {
        rtmp_fmp4_video_entry(mx, o);
    } else {
        rtmp_fmp4_audio_entry(mx, o);
    }
    rtmp_fmp4_end(o, b);
    rtmp_fmp4_tables(mx, o, video, full, stco_at);
    rtmp_fmp4_end(o, stbl);
    rtmp_fmp4_end(o, minf);
    rtmp_fmp4_end(o, mdia);
    rtmp_fmp4_end(o, trak);
}

// ftyp, then the moov opened with its mvhd (ms timescale); returns the moov to end. A
// fragmented file says iso6 (its moov holds no samples), a plain one isom.
static size_t rtmp_fmp4_head(const rtmp_fmp4_t *mx, rtmp_fmp4_out_t *o, bool fragmented,
                             uint64_t duration)
{
    size_t b = rtmp_fmp4_box(o, "ftyp");
    rtmp_fmp4_bytes(o, fragmented ? "iso6" : "isom", 4);
    rtmp_fmp4_u32(o, fragmented ? 0 : 0x200);
    rtmp_fmp4_bytes(o, fragmented ? "iso6isommp41" : "isomiso2mp41", 12);
    rtmp_fmp4_bytes(o, mx->video == rtmp_fmp4_video::hevc ? "hvc1" : "avc1", 4);
    rtmp_fmp4_end(o, b);

    size_t moov = rtmp_fmp4_box(o, "moov");
    b = rtmp_fmp4_full(o, "mvhd", 0, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, 0);
    rtmp_fmp4_u32(o, 1000);
    rtmp_fmp4_u32(o, (uint32_t)duration);
    rtmp_fmp4_u32(o, 0x00010000); // rate 1.0
    rtmp_fmp4_u16(o, 0x0100);     // volume 1.0
    rtmp_fmp4_zero(o, 10);
    rtmp_fmp4_matrix(o);
    rtmp_fmp4_zero(o, 24);
    rtmp_fmp4_u32(o, RTMP_FMP4_AUDIO_ID + 1);
    rtmp_fmp4_end(o, b);
    return moov;
}

rtmp_int_t rtmp_fmp4_write_init(rtmp_fmp4_t *mx)
{
    rtmp_fmp4_out_t o = {};
    size_t moov = rtmp_fmp4_head(mx, &o, true, 0);
    size_t b;
    bool video = mx->video != rtmp_fmp4_video::none;
    if (video) {
        rtmp_fmp4_trak(mx, &o, true, false, 0, 0, nullptr);
    }
    if (mx->audio) {
        rtmp_fmp4_trak(mx, &o, false, false, 0, 0, nullptr);
    }
    size_t mvex = rtmp_fmp4_box(&o, "mvex");
    for (int i = 0; i < 2; i++) {
        if (i == 0 ? !video : !mx->audio) {
            continue;
        }
        b = rtmp_fmp4_full(&o, "trex", 0, 0);
        rtmp_fmp4_u32(&o, i == 0 ? RTMP_FMP4_VIDEO_ID : RTMP_FMP4_AUDIO_ID);
        rtmp_fmp4_u32(&o, 1); // sample description
        rtmp_fmp4_zero(&o, 12);
        rtmp_fmp4_end(&o, b);
    }
    rtmp_fmp4_end(&o, mvex);
    rtmp_fmp4_end(&o, moov);

    rtmp_int_t rc = mx->output(mx->data, o.p, o.len);
    rtmp_free(o.p);
    if (rc == RTMP_OK) {
        mx->init_written = true;
        mx->written += o.len;
    }
    return rc;
}

// ---- fragments ----------------------------------------------------------------------------

// The last sample of a track repeats the duration before it, or the track's default.
static void rtmp_fmp4_close_durations(rtmp_fmp4_track_t *t)
{
    if (t->n == 0) {
        return;
    }
    t->samples[t->n - 1].duration = t->n > 1 ? t->samples[t->n - 2].duration : t->default_duration;
}

static void rtmp_fmp4_traf(rtmp_fmp4_out_t *o, rtmp_fmp4_track_t *t, uint32_t id,
                           size_t *data_offset_at)
{
    size_t traf = rtmp_fmp4_box(o, "traf");
    size_t b = rtmp_fmp4_full(o, "tfhd", 0, 0x020000); // default-base-is-moof
    rtmp_fmp4_u32(o, id);
    rtmp_fmp4_end(o, b);
    b = rtmp_fmp4_full(o, "tfdt", 1, 0);
    rtmp_fmp4_u64(o, t->base);
    rtmp_fmp4_end(o, b);
    // data offset, and per sample: duration, size, flags, composition offset (signed: v1)
    b = rtmp_fmp4_full(o, "trun", 1, 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800);
    rtmp_fmp4_u32(o, t->n);
    *data_offset_at = o->len;
    rtmp_fmp4_u32(o, 0);
    for (uint32_t i = 0; i < t->n; i++) {
        const rtmp_fmp4_sample_t &s = t->samples[i];
        rtmp_fmp4_u32(o, s.duration);
        rtmp_fmp4_u32(o, s.size);
        // 8.8.3.1: sync samples depend on nothing; the others depend and are not sync
        rtmp_fmp4_u32(o, s.key ? 0x02000000 : 0x01010000);
        rtmp_fmp4_u32(o, (uint32_t)s.cts);
    }
    rtmp_fmp4_end(o, b);
    rtmp_fmp4_end(o, traf);
}

// Appends the fragment's samples to the index, the last one of each track before them
// getting its true duration now that the next is known.
static void rtmp_fmp4_remember(rtmp_fmp4_t *mx, uint64_t mdat_payload)
{
    rtmp_fmp4_track_t *v = &mx->vt, *a = &mx->at;
    if (mx->index_full || v->nindex + v->n > RTMP_FMP4_MAX_INDEX ||
        a->nindex + a->n > RTMP_FMP4_MAX_INDEX) {
        mx->index_full = true;
        return;
    }
    for (rtmp_fmp4_track_t *t : {v, a}) {
        if (t->n == 0) {
            continue;
        }
        if (t->nindex == 0) {
            t->index_first = t->base;
        } else {
            uint64_t d = t->base - t->index_last;
            t->index[t->nindex - 1].duration = (uint32_t)(d > 0xffffffff ? 0 : d);
        }
        if (t->nindex + t->n > t->index_cap) {
            uint32_t cap = t->index_cap ? t->index_cap : 1024;
            while (cap < t->nindex + t->n) {
                cap *= 2;
            }
            t->index = static_cast<rtmp_fmp4_sample_t *>(
                rtmp_realloc(t->index, cap * sizeof(rtmp_fmp4_sample_t)));
            t->index_cap = cap;
        }
        memcpy(t->index + t->nindex, t->samples, t->n * sizeof(rtmp_fmp4_sample_t));
        t->nindex += t->n;
        t->index_last = t->last;
    }
    if (mx->nfrags == mx->frags_cap) {
        mx->frags_cap = mx->frags_cap ? mx->frags_cap * 2 : 64;
        mx->frags = static_cast<rtmp_fmp4_fragment_t *>(
            rtmp_realloc(mx->frags, mx->frags_cap * sizeof(rtmp_fmp4_fragment_t)));
    }
    mx->frags[mx->nfrags++] = {mdat_payload, (uint32_t)v->len, (uint32_t)a->len, v->n, a->n};
}

rtmp_int_t rtmp_fmp4_flush(rtmp_fmp4_t *mx)
{
    rtmp_fmp4_track_t *v = &mx->vt, *a = &mx->at;
    if (v->n == 0 && a->n == 0) {
        return RTMP_OK;
    }
    if (!mx->init_written && rtmp_fmp4_write_init(mx) != RTMP_OK) {
        return RTMP_ERROR;
    }
    rtmp_fmp4_close_durations(v);
    rtmp_fmp4_close_durations(a);
    rtmp_fmp4_out_t o = {};
    size_t moof = rtmp_fmp4_box(&o, "moof");
    size_t b = rtmp_fmp4_full(&o, "mfhd", 0, 0);
    rtmp_fmp4_u32(&o, mx->sequence++);
    rtmp_fmp4_end(&o, b);
    size_t voff = 0, aoff = 0;
    if (v->n) {
        rtmp_fmp4_traf(&o, v, RTMP_FMP4_VIDEO_ID, &voff);
    }
    if (a->n) {
        rtmp_fmp4_traf(&o, a, RTMP_FMP4_AUDIO_ID, &aoff);
    }
    rtmp_fmp4_end(&o, moof);
    size_t moof_len = o.len;
    // offsets from the moof's first byte (default-base-is-moof): past the mdat header
    if (v->n) {
        rtmp_fmp4_put32(&o, voff, (uint32_t)(moof_len + 8));
    }
    if (a->n) {
        rtmp_fmp4_put32(&o, aoff, (uint32_t)(moof_len + 8 + v->len));
    }
    rtmp_fmp4_u32(&o, (uint32_t)(8 + v->len + a->len));
    rtmp_fmp4_bytes(&o, "mdat", 4);

    rtmp_int_t rc = mx->output(mx->data, o.p, o.len);
    if (rc == RTMP_OK && v->len) {
        rc = mx->output(mx->data, v->data, v->len);
    }
    if (rc == RTMP_OK && a->len) {
        rc = mx->output(mx->data, a->data, a->len);
    }
    if (rc == RTMP_OK) {
        mx->fragments++;
        if (mx->keep_index) {
            rtmp_fmp4_remember(mx, mx->written + o.len);
        }
        mx->written += o.len + v->len + a->len;
    }
    rtmp_free(o.p);
    v->n = a->n = 0;
    v->len = a->len = 0;
    return rc;
}

// Adds a sample to a track, cutting the fragment first when this sample must start one.
static rtmp_int_t rtmp_fmp4_add(rtmp_fmp4_t *mx, rtmp_fmp4_track_t *t, uint32_t dts_in, int32_t cts,
                                bool key, bool cut_here, std::span<const u_char> data)
{
    if (data.size() > RTMP_FMP4_MAX_BYTES) {
        return RTMP_ERROR;
    }
    if (!mx->have_start) {
        mx->have_start = true;
        mx->start = dts_in;
    }
    // RTMP times wrap at 2^32 ms; before the start they are clamped to it
    int32_t rel = (int32_t)(dts_in - mx->start);
    uint64_t dts = rel < 0 ? 0 : (uint64_t)rel;
    bool empty = mx->vt.n == 0 && mx->at.n == 0;
    if (!empty && (cut_here || t->n == RTMP_FMP4_MAX_SAMPLES ||
                   mx->vt.len + mx->at.len + data.size() > RTMP_FMP4_MAX_BYTES ||
                   (mx->max_fragment_ms && dts >= mx->fragment_start + mx->max_fragment_ms))) {
        if (rtmp_fmp4_flush(mx) != RTMP_OK) {
            return RTMP_ERROR;
        }
        empty = true;
    }
    if (empty) {
        mx->fragment_start = dts;
    }
    if (t->samples == nullptr) {
        t->samples = static_cast<rtmp_fmp4_sample_t *>(
            rtmp_alloc(RTMP_FMP4_MAX_SAMPLES * sizeof(rtmp_fmp4_sample_t)));
    }
    if (t->n == 0) {
        t->base = dts;
    } else {
        if (dts < t->last) {
            dts = t->last; // decode times never go back within a track
        }
        uint64_t d = dts - t->last;
        t->samples[t->n - 1].duration = (uint32_t)(d > 0xffffffff ? 0 : d);
        if (d) {
            t->default_duration = (uint32_t)(d > 10000 ? t->default_duration : d);
        }
    }
    t->last = dts;
    if (t->len + data.size() > t->cap) {
        size_t cap = t->cap ? t->cap : 64 * 1024;
        while (cap < t->len + data.size()) {
            cap *= 2;
        }
        t->data = static_cast<u_char *>(rtmp_realloc(t->data, cap));
        t->cap = cap;
    }
    if (!data.empty()) {
        memcpy(t->data + t->len, data.data(), data.size());
    }
    t->len += data.size();
    t->samples[t->n++] = {(uint32_t)data.size(), 0, cts, key};
    return RTMP_OK;
}

rtmp_int_t rtmp_fmp4_video_frame(rtmp_fmp4_t *mx, uint32_t dts, int32_t cts, bool key,
                                 std::span<const u_char> data)
{
    if (mx->video == rtmp_fmp4_video::none) {
        return RTMP_DECLINED;
    }
    // a key frame starts a fragment: each one then begins where a player can start
    return rtmp_fmp4_add(mx, &mx->vt, dts, cts, key, key && mx->vt.n > 0, data);
}

rtmp_int_t rtmp_fmp4_audio_frame(rtmp_fmp4_t *mx, uint32_t dts, std::span<const u_char> data)
{
    if (!mx->audio) {
        return RTMP_DECLINED;
    }
    return rtmp_fmp4_add(mx, &mx->at, dts, 0, true, false, data);
}

rtmp_int_t rtmp_fmp4_message(rtmp_fmp4_t *mx, const rtmp_message_t *m)
{
    if (m->h.type == RTMP_MSG_VIDEO) {
        rtmp_codec_video_t v;
        if (rtmp_codec_parse_video(m->payload, &v) != RTMP_OK || v.multitrack ||
            (v.codec != rtmp_codec_id::avc && v.codec != rtmp_codec_id::hevc)) {
            return RTMP_DECLINED;
        }
        std::span<const u_char> d = m->payload.subspan(v.header_len, v.data_len);
        if (v.is_sequence_header) {
            return rtmp_fmp4_set_video_config(
                mx, v.codec == rtmp_codec_id::avc ? rtmp_fmp4_video::avc : rtmp_fmp4_video::hevc,
                d);
        }
        if (v.is_end_of_sequence || v.is_command || v.is_metadata || d.empty()) {
            return RTMP_DECLINED;
        }
        return rtmp_fmp4_video_frame(mx, m->h.timestamp, v.cts, v.is_key_frame, d);
    }
    if (m->h.type == RTMP_MSG_AUDIO) {
        rtmp_codec_audio_t a;
        if (rtmp_codec_parse_audio(m->payload, &a) != RTMP_OK || a.multitrack ||
            a.codec != rtmp_codec_id::aac) {
            return RTMP_DECLINED;
        }
        std::span<const u_char> d = m->payload.subspan(a.header_len, a.data_len);
        if (a.is_sequence_header) {
            return rtmp_fmp4_set_audio_config(mx, d);
        }
        if (a.is_end_of_sequence || d.empty()) {
            return RTMP_DECLINED;
        }
        return rtmp_fmp4_audio_frame(mx, m->h.timestamp, d);
    }
    return RTMP_DECLINED;
}

// ---- faststart ------------------------------------------------------------------------

static uint64_t rtmp_fmp4_duration(const rtmp_fmp4_track_t *t)
{
    uint64_t d = 0;
    for (uint32_t i = 0; i < t->nindex; i++) {
        d += t->index[i].duration;
    }
    return d;
}

rtmp_int_t rtmp_fmp4_finalize(rtmp_fmp4_t *mx, rtmp_fmp4_output_pt output, void *data)
{
    if (!mx->keep_index || mx->index_full || mx->nfrags == 0) {
        return RTMP_DECLINED;
    }
    bool video = mx->video != rtmp_fmp4_video::none && mx->vt.nindex;
    bool audio = mx->audio && mx->at.nindex;
    uint64_t vd = rtmp_fmp4_duration(&mx->vt), ad = rtmp_fmp4_duration(&mx->at);
    // each track starts where its first fragment put it, counted from the earlier one
    uint64_t first = video && audio ? std::min(mx->vt.index_first, mx->at.index_first)
                     : video        ? mx->vt.index_first
                                    : mx->at.index_first;
    uint64_t ve = video ? mx->vt.index_first - first : 0;
    uint64_t ae = audio ? mx->at.index_first - first : 0;
    uint64_t payload = 0;
    for (uint32_t f = 0; f < mx->nfrags; f++) {
        payload += (uint64_t)mx->frags[f].video_len + mx->frags[f].audio_len;
    }

    rtmp_fmp4_out_t o = {};
    size_t moov = rtmp_fmp4_head(mx, &o, false, std::max(ve + vd, ae + ad));
    size_t vstco = 0, astco = 0;
    if (video) {
        rtmp_fmp4_trak(mx, &o, true, true, vd, ve, &vstco);
    }
    if (audio) {
        rtmp_fmp4_trak(mx, &o, false, true, ad, ae, &astco);
    }
    rtmp_fmp4_end(&o, moov);

    // one mdat holding each fragment's media as it was: video chunk, then audio chunk
    bool large = payload + 8 > 0xffffffffULL;
    uint64_t pos = o.len + (large ? 16 : 8);
    for (uint32_t f = 0; f < mx->nfrags; f++) {
        const rtmp_fmp4_fragment_t &fr = mx->frags[f];
        if (video && fr.video_n) {
            uint64_t v = pos;
            rtmp_fmp4_put32(&o, vstco, (uint32_t)(v >> 32));
            rtmp_fmp4_put32(&o, vstco + 4, (uint32_t)v);
            vstco += 8;
        }
        if (audio && fr.audio_n) {
            uint64_t a = pos + fr.video_len;
            rtmp_fmp4_put32(&o, astco, (uint32_t)(a >> 32));
            rtmp_fmp4_put32(&o, astco + 4, (uint32_t)a);
            astco += 8;
        }
        pos += (uint64_t)fr.video_len + fr.audio_len;
    }
    if (large) {
        rtmp_fmp4_u32(&o, 1);
        rtmp_fmp4_bytes(&o, "mdat", 4);
        rtmp_fmp4_u64(&o, payload + 16);
    } else {
        rtmp_fmp4_u32(&o, (uint32_t)(payload + 8));
        rtmp_fmp4_bytes(&o, "mdat", 4);
    }
    rtmp_int_t rc = output(data, o.p, o.len);
    rtmp_free(o.p);
    return rc;
}
