// MPEG-TS muxer: PAT/PMT, PES packetization, Annex B video and ADTS audio (ISO 13818-1).
#include "hls/rtmp_mpegts.h"

#include "rtmp/rtmp_codec.h"

// H.264 7.4.1.2.3 and H.265 7.4.2.4.4: an access unit delimiter is the first NAL unit
// of its access unit; primary_pic_type 7 / pic_type 2 say "any slice type", which is
// true without parsing slice headers (nginx-rtmp writes the same AVC delimiter).
static constexpr u_char rtmp_mpegts_aud_avc[] = {0x00, 0x00, 0x00, 0x01, 0x09, 0xf0};
static constexpr u_char rtmp_mpegts_aud_hevc[] = {0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50};
static constexpr u_char rtmp_mpegts_start_code[] = {0x00, 0x00, 0x00, 0x01};

// Where the bytes of one PES payload come from: a few whole pieces (delimiter,
// parameter sets, or the audio pack), then the frame's length-prefixed NAL units
// rewritten on the fly, so no access unit is ever copied whole.
struct rtmp_mpegts_src_t {
    std::span<const u_char> pre[2 + 2 * RTMP_MPEGTS_NPARAMS];
    uint32_t npre;
    uint32_t ipre;
    std::span<const u_char> au;
    size_t pos;
    uint8_t nls; // NAL length size
    bool hevc;
    bool emitted; // a NAL unit went out already: later ones take 3-byte start codes
    std::span<const u_char> body;
    std::span<const u_char> cur;
};

uint32_t rtmp_mpegts_crc32(std::span<const u_char> p)
{
    uint32_t crc = 0xffffffff;
    for (u_char c : p) {
        crc ^= (uint32_t)c << 24;
        for (int i = 0; i < 8; i++) {
            crc = crc & 0x80000000 ? crc << 1 ^ 0x04c11db7 : crc << 1;
        }
    }
    return crc;
}

void rtmp_mpegts_init(rtmp_mpegts_t *mx, rtmp_mpegts_output_pt output, void *data,
                      uint64_t audio_delay)
{
    memset(mx, 0, sizeof(*mx));
    mx->output = output;
    mx->data = data;
    mx->audio_delay = audio_delay;
}

// ---- packets ----------------------------------------------------------------------------

static rtmp_int_t rtmp_mpegts_stage_flush(rtmp_mpegts_t *mx)
{
    if (mx->staged == 0) {
        return RTMP_OK;
    }
    size_t n = mx->staged;
    mx->staged = 0;
    return mx->output(mx->data, mx->stage, n * RTMP_MPEGTS_PACKET);
}

// The next packet slot; nullptr when handing the full stage over failed.
static u_char *rtmp_mpegts_packet(rtmp_mpegts_t *mx)
{
    if (mx->staged == RTMP_MPEGTS_STAGE && rtmp_mpegts_stage_flush(mx) != RTMP_OK) {
        return nullptr;
    }
    return mx->stage + mx->staged++ * RTMP_MPEGTS_PACKET;
}

// 2.4.3.2 transport packet header, payload present; the counter counts payloads per PID.
static u_char *rtmp_mpegts_header(u_char *p, uint16_t pid, bool start, uint8_t *cc)
{
    *p++ = 0x47;
    *p++ = (u_char)((start ? 0x40 : 0x00) | (pid >> 8 & 0x1f));
    *p++ = (u_char)pid;
    *p++ = (u_char)(0x10 | (*cc & 0x0f));
    *cc = (uint8_t)((*cc + 1) & 0x0f);
    return p;
}

// 2.4.3.7: '0010' PTS only, '0011' PTS then '0001' DTS, 33 bits split by marker bits.
static u_char *rtmp_mpegts_timestamp(u_char *p, uint8_t prefix, uint64_t ts)
{
    *p++ = (u_char)(prefix << 4 | (ts >> 29 & 0x0e) | 1);
    *p++ = (u_char)(ts >> 22);
    *p++ = (u_char)((ts >> 14 & 0xfe) | 1);
    *p++ = (u_char)(ts >> 7);
    *p++ = (u_char)((ts << 1 & 0xfe) | 1);
    return p;
}

static uint64_t rtmp_mpegts_90khz(uint64_t ms, int64_t offset)
{
    return ((uint64_t)((int64_t)(ms * 90) + offset * 90) + RTMP_MPEGTS_DELAY) & 0x1ffffffffULL;
}

// ---- PSI ----------------------------------------------------------------------------------

// One section in one packet: pointer_field 0, the section, its CRC, 0xff fill (2.4.4).
static rtmp_int_t rtmp_mpegts_section(rtmp_mpegts_t *mx, uint16_t pid, uint8_t *cc,
                                      const u_char *sec, size_t len)
{
    u_char *p = rtmp_mpegts_packet(mx);
    if (p == nullptr) {
        return RTMP_ERROR;
    }
    u_char *end = p + RTMP_MPEGTS_PACKET;
    p = rtmp_mpegts_header(p, pid, true, cc);
    *p++ = 0x00;
    memcpy(p, sec, len);
    uint32_t crc = rtmp_mpegts_crc32({sec, len});
    p += len;
    *p++ = (u_char)(crc >> 24);
    *p++ = (u_char)(crc >> 16);
    *p++ = (u_char)(crc >> 8);
    *p++ = (u_char)crc;
    memset(p, 0xff, (size_t)(end - p));
    return RTMP_OK;
}

static rtmp_int_t rtmp_mpegts_tables(rtmp_mpegts_t *mx)
{
    bool video = mx->video != rtmp_mpegts_video::none;
    bool audio = mx->audio;
    if (mx->started && (video != mx->pmt_video || audio != mx->pmt_audio)) {
        mx->pmt_version = (uint8_t)((mx->pmt_version + 1) & 0x1f);
    }
    mx->started = true;
    mx->pmt_video = video;
    mx->pmt_audio = audio;

    // 2.4.4.3 program association: transport_stream_id 1, program 1 on the PMT PID
    static constexpr u_char pat[] = {0x00,
                                     0xb0,
                                     0x0d,
                                     0x00,
                                     0x01,
                                     0xc1,
                                     0x00,
                                     0x00,
                                     0x00,
                                     0x01,
                                     0xe0 | RTMP_MPEGTS_PID_PMT >> 8,
                                     RTMP_MPEGTS_PID_PMT & 0xff};
    if (rtmp_mpegts_section(mx, 0, &mx->cc_pat, pat, sizeof(pat)) != RTMP_OK) {
        return RTMP_ERROR;
    }

    // 2.4.4.8 program map; 2.4.4.9 Table 2-34 stream types
    u_char pmt[32];
    u_char *p = pmt + 3;
    uint16_t pcr_pid = video ? RTMP_MPEGTS_PID_VIDEO : RTMP_MPEGTS_PID_AUDIO;
    *p++ = 0x00;
    *p++ = 0x01; // program_number
    *p++ = (u_char)(0xc1 | mx->pmt_version << 1);
    *p++ = 0x00;
    *p++ = 0x00;
    *p++ = (u_char)(0xe0 | pcr_pid >> 8);
    *p++ = (u_char)pcr_pid;
    *p++ = 0xf0;
    *p++ = 0x00; // program_info_length
    if (video) {
        *p++ = mx->video == rtmp_mpegts_video::hevc ? 0x24 : 0x1b;
        *p++ = 0xe0 | RTMP_MPEGTS_PID_VIDEO >> 8;
        *p++ = RTMP_MPEGTS_PID_VIDEO & 0xff;
        *p++ = 0xf0;
        *p++ = 0x00;
    }
    if (audio) {
        *p++ = 0x0f;
        *p++ = 0xe0 | RTMP_MPEGTS_PID_AUDIO >> 8;
        *p++ = RTMP_MPEGTS_PID_AUDIO & 0xff;
        *p++ = 0xf0;
        *p++ = 0x00;
    }
    size_t section_length = (size_t)(p - pmt) - 3 + 4; // after the length field, CRC included
    pmt[0] = 0x02;
    pmt[1] = (u_char)(0xb0 | section_length >> 8);
    pmt[2] = (u_char)section_length;
    return rtmp_mpegts_section(mx, RTMP_MPEGTS_PID_PMT, &mx->cc_pmt, pmt, (size_t)(p - pmt));
}

rtmp_int_t rtmp_mpegts_start_segment(rtmp_mpegts_t *mx)
{
    if (rtmp_mpegts_tables(mx) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_mpegts_stage_flush(mx);
}

// ---- PES ----------------------------------------------------------------------------------

static bool rtmp_mpegts_nal_is_header(bool hevc, u_char b)
{
    if (hevc) {
        uint8_t t = b >> 1 & 0x3f;
        return t >= 32 && t <= 35; // VPS, SPS, PPS, AUD
    }
    uint8_t t = b & 0x1f;
    return t == 7 || t == 8 || t == 9; // SPS, PPS, AUD
}

// H.264 B.1.2 / H.265 B.2.2: zero_byte (a 4-byte start code) before parameter sets
// and the first NAL unit of an access unit; 3 bytes elsewhere, as ffmpeg's
// h264_mp4toannexb writes them.
static size_t rtmp_mpegts_sc_len(rtmp_mpegts_src_t *s, u_char first_byte)
{
    return !s->emitted || rtmp_mpegts_nal_is_header(s->hevc, first_byte) ? 4 : 3;
}

static uint32_t rtmp_mpegts_nal_len(std::span<const u_char> au, size_t pos, uint8_t nls)
{
    uint32_t len = 0;
    for (uint8_t i = 0; i < nls; i++) {
        len = len << 8 | au[pos + i];
    }
    return len;
}

static std::span<const u_char> rtmp_mpegts_next_piece(rtmp_mpegts_src_t *s)
{
    if (s->ipre < s->npre) {
        return s->pre[s->ipre++];
    }
    if (!s->body.empty()) {
        std::span<const u_char> b = s->body;
        s->body = {};
        return b;
    }
    while (s->pos + s->nls <= s->au.size()) {
        uint32_t len = rtmp_mpegts_nal_len(s->au, s->pos, s->nls);
        s->pos += s->nls;
        if (len == 0) {
            continue;
        }
        s->body = s->au.subspan(s->pos, len); // checked by the scan
        s->pos += len;
        size_t sc = rtmp_mpegts_sc_len(s, s->body[0]);
        s->emitted = true;
        return {rtmp_mpegts_start_code + 4 - sc, sc};
    }
    return {};
}

static void rtmp_mpegts_copy(rtmp_mpegts_src_t *s, u_char *dst, size_t n)
{
    while (n > 0) {
        if (s->cur.empty()) {
            s->cur = rtmp_mpegts_next_piece(s);
        }
        size_t k = n < s->cur.size() ? n : s->cur.size();
        memcpy(dst, s->cur.data(), k);
        s->cur = s->cur.subspan(k);
        dst += k;
        n -= k;
    }
}

// 2.4.3.4 adaptation field: PCR and random_access_indicator in the first packet,
// stuffing in whichever packet has room to spare (the last).
static rtmp_int_t rtmp_mpegts_pes(rtmp_mpegts_t *mx, uint16_t pid, uint8_t *cc, const u_char *hdr,
                                  size_t hdr_len, rtmp_mpegts_src_t *s, size_t len, bool pcr,
                                  uint64_t pcr_base, bool rai)
{
    bool first = true;
    while (first || len > 0) {
        u_char *p = rtmp_mpegts_packet(mx);
        if (p == nullptr) {
            return RTMP_ERROR;
        }
        bool with_pcr = first && pcr;
        bool with_rai = first && rai;
        size_t af = with_pcr || with_rai ? 2 + (with_pcr ? 6 : 0) : 0;
        size_t h = first ? hdr_len : 0;
        size_t need = h + len;
        if (need < RTMP_MPEGTS_PACKET - 4 - af) {
            af = RTMP_MPEGTS_PACKET - 4 - need; // stuffing; 1 is a lone length byte
        }
        size_t chunk = RTMP_MPEGTS_PACKET - 4 - af - h;
        if (chunk > len) {
            chunk = len;
        }

        p = rtmp_mpegts_header(p, pid, first, cc);
        if (af > 0) {
            p[-1] |= 0x20;
            u_char *afe = p + af;
            *p++ = (u_char)(af - 1);
            if (af > 1) {
                *p++ = (u_char)((with_rai ? 0x40 : 0) | (with_pcr ? 0x10 : 0));
                if (with_pcr) { // 33-bit base, 6 reserved bits, 9-bit extension 0
                    *p++ = (u_char)(pcr_base >> 25);
                    *p++ = (u_char)(pcr_base >> 17);
                    *p++ = (u_char)(pcr_base >> 9);
                    *p++ = (u_char)(pcr_base >> 1);
                    *p++ = (u_char)((pcr_base & 1) << 7 | 0x7e);
                    *p++ = 0x00;
                }
                memset(p, 0xff, (size_t)(afe - p));
                p = afe;
            }
        }
        if (h > 0) {
            memcpy(p, hdr, h);
            p += h;
        }
        rtmp_mpegts_copy(s, p, chunk);
        p += chunk;
        len -= chunk;
        first = false;
    }
    return RTMP_OK;
}

// ---- video ----------------------------------------------------------------------------------

// Keeps the parameter sets of an avcC or hvcC for key frames that come without them.
static rtmp_int_t rtmp_mpegts_add_param(rtmp_mpegts_t *mx, std::span<const u_char> nal)
{
    if (nal.empty()) {
        return RTMP_OK;
    }
    if (mx->nparams == RTMP_MPEGTS_NPARAMS || RTMP_MPEGTS_PARAMS - mx->params_len < nal.size()) {
        return RTMP_ERROR;
    }
    mx->param_off[mx->nparams] = mx->params_len;
    mx->param_len[mx->nparams] = (uint16_t)nal.size();
    memcpy(mx->params + mx->params_len, nal.data(), nal.size());
    mx->params_len = (uint16_t)(mx->params_len + nal.size());
    mx->nparams++;
    return RTMP_OK;
}

// Reads a 16-bit length and that many bytes at *pos.
static bool rtmp_mpegts_read16(std::span<const u_char> r, size_t *pos, std::span<const u_char> *out)
{
    if (r.size() - *pos < 2) {
        return false;
    }
    size_t len = (size_t)r[*pos] << 8 | r[*pos + 1];
    if (r.size() - *pos - 2 < len) {
        return false;
    }
    *out = r.subspan(*pos + 2, len);
    *pos += 2 + len;
    return true;
}

rtmp_int_t rtmp_mpegts_set_video_config(rtmp_mpegts_t *mx, rtmp_mpegts_video codec,
                                        std::span<const u_char> record)
{
    std::span<const u_char> nal;
    size_t pos;

    mx->video = rtmp_mpegts_video::none;
    mx->nparams = 0;
    mx->params_len = 0;

    if (codec == rtmp_mpegts_video::avc) {
        rtmp_codec_avc_config_t c;
        if (rtmp_codec_parse_avcc(record, &c) != RTMP_OK || c.nal_length_size == 3) {
            return RTMP_ERROR;
        }
        // ISO 14496-15 5.3.3.1.2: SPS count and SPSs, then PPS count and PPSs
        pos = 6;
        for (uint8_t i = 0; i < c.nsps; i++) {
            if (!rtmp_mpegts_read16(record, &pos, &nal) ||
                rtmp_mpegts_add_param(mx, nal) != RTMP_OK) {
                return RTMP_ERROR;
            }
        }
        if (pos >= record.size()) {
            return RTMP_ERROR;
        }
        uint8_t npps = record[pos++];
        for (uint8_t i = 0; i < npps; i++) {
            if (!rtmp_mpegts_read16(record, &pos, &nal) ||
                rtmp_mpegts_add_param(mx, nal) != RTMP_OK) {
                return RTMP_ERROR;
            }
        }
        mx->nal_length_size = c.nal_length_size;

    } else if (codec == rtmp_mpegts_video::hevc) {
        rtmp_codec_hevc_config_t c;
        if (rtmp_codec_parse_hvcc(record, &c) != RTMP_OK || c.nal_length_size == 3) {
            return RTMP_ERROR;
        }
        // ISO 14496-15 8.3.3.1.2: 22 bytes, numOfArrays, then arrays of NAL units;
        // only VPS, SPS and PPS are kept (x265 also stores its settings in a SEI)
        pos = 23;
        for (uint8_t a = 0; a < c.narrays; a++) {
            if (record.size() - pos < 3) {
                return RTMP_ERROR;
            }
            uint8_t type = record[pos] & 0x3f;
            size_t n = (size_t)record[pos + 1] << 8 | record[pos + 2];
            pos += 3;
            for (size_t i = 0; i < n; i++) {
                if (!rtmp_mpegts_read16(record, &pos, &nal)) {
                    return RTMP_ERROR;
                }
                if (type >= 32 && type <= 34 && rtmp_mpegts_add_param(mx, nal) != RTMP_OK) {
                    return RTMP_ERROR;
                }
            }
        }
        mx->nal_length_size = c.nal_length_size;

    } else {
        return RTMP_DECLINED;
    }

    mx->video = codec;
    return RTMP_OK;
}

rtmp_int_t rtmp_mpegts_write_video(rtmp_mpegts_t *mx, uint64_t dts, int32_t cts, bool key,
                                   std::span<const u_char> nalus)
{
    if (mx->video == rtmp_mpegts_video::none) {
        return RTMP_DECLINED;
    }

    rtmp_mpegts_src_t s{};
    s.au = nalus;
    s.nls = mx->nal_length_size;
    s.hevc = mx->video == rtmp_mpegts_video::hevc;

    // scan: check every length, see what the frame already has, count its Annex B bytes
    bool has_aud = false;
    bool has_sps = false;
    bool irap = false;
    bool first = true;
    u_char first_byte = 0;
    size_t first_pos = 0; // of the first non-empty NAL unit's body
    size_t au_len = 0;
    size_t pos = 0;
    while (pos < nalus.size()) {
        if (nalus.size() - pos < s.nls) {
            return RTMP_ERROR;
        }
        uint32_t len = rtmp_mpegts_nal_len(nalus, pos, s.nls);
        pos += s.nls;
        if (nalus.size() - pos < len) {
            return RTMP_ERROR;
        }
        if (len == 0) {
            continue;
        }
        u_char b = nalus[pos];
        uint8_t t = s.hevc ? b >> 1 & 0x3f : b & 0x1f;
        if (s.hevc) {
            has_aud |= first && t == 35;
            has_sps |= t == 33;
            irap |= t >= 16 && t <= 23;
        } else {
            has_aud |= first && t == 9;
            has_sps |= t == 7;
            irap |= t == 5;
        }
        au_len += 3 + len + (rtmp_mpegts_nal_is_header(s.hevc, b) ? 1 : 0);
        if (first) {
            first_byte = b;
            first_pos = pos;
            au_len += rtmp_mpegts_nal_is_header(s.hevc, b) ? 0 : 1; // its zero_byte
        }
        first = false;
        pos += len;
    }
    if (first) {
        return RTMP_DECLINED; // no NAL unit at all: nothing to show
    }

    // the delimiter (the frame's own, moved out of the walk, or ours) goes first and
    // the parameter sets right after it
    size_t pre_len;
    if (has_aud) {
        uint32_t len = rtmp_mpegts_nal_len(nalus, first_pos - s.nls, s.nls);
        s.pre[s.npre++] = rtmp_mpegts_start_code;
        s.pre[s.npre++] = nalus.subspan(first_pos, len);
        s.pos = first_pos + len;
        pre_len = 4 + len;
        au_len -= 4 + len;
    } else {
        s.pre[s.npre++] = s.hevc ? std::span<const u_char>(rtmp_mpegts_aud_hevc)
                                 : std::span<const u_char>(rtmp_mpegts_aud_avc);
        pre_len = s.pre[0].size();
        if (!rtmp_mpegts_nal_is_header(s.hevc, first_byte)) {
            au_len--; // the frame's first NAL unit is no longer the access unit's first
        }
    }
    s.emitted = true;
    if ((key || irap) && !has_sps) {
        for (uint8_t i = 0; i < mx->nparams; i++) {
            s.pre[s.npre++] = rtmp_mpegts_start_code;
            s.pre[s.npre++] = {mx->params + mx->param_off[i], mx->param_len[i]};
            pre_len += 4 + mx->param_len[i];
        }
    }

    if (!mx->started || !mx->pmt_video) {
        if (rtmp_mpegts_tables(mx) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }

    // 2.4.3.6 PES header: stream_id 0xe0, length 0 (unbounded video), data_alignment,
    // DTS only when it differs from PTS (as ffmpeg writes)
    uint64_t dts90 = rtmp_mpegts_90khz(dts, 0);
    uint64_t pts90 = rtmp_mpegts_90khz(dts, cts);
    u_char hdr[19] = {0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x84};
    u_char *p = hdr + 9;
    if (pts90 != dts90) {
        hdr[7] = 0xc0;
        hdr[8] = 10;
        p = rtmp_mpegts_timestamp(p, 0x3, pts90);
        p = rtmp_mpegts_timestamp(p, 0x1, dts90);
    } else {
        hdr[7] = 0x80;
        hdr[8] = 5;
        p = rtmp_mpegts_timestamp(p, 0x2, pts90);
    }

    uint64_t pcr = (dts90 - RTMP_MPEGTS_DELAY) & 0x1ffffffffULL;
    if (rtmp_mpegts_pes(mx, RTMP_MPEGTS_PID_VIDEO, &mx->cc_video, hdr, (size_t)(p - hdr), &s,
                        pre_len + au_len, true, pcr, key || irap) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_mpegts_stage_flush(mx);
}

// ---- audio ----------------------------------------------------------------------------------

rtmp_int_t rtmp_mpegts_set_audio_config(rtmp_mpegts_t *mx, std::span<const u_char> asc)
{
    rtmp_codec_aac_config_t c;

    mx->audio = false;
    if (rtmp_codec_parse_aac_config(asc, &c) != RTMP_OK) {
        return RTMP_ERROR;
    }
    // ADTS has 2 profile bits (object types 1-4) and no explicit rate. With SBR or
    // PS signalled explicitly (14496-3 1.6.2.1, types 5 and 29) the ASC's first
    // sampling index is the core's, and the core is AAC LC: ADTS carries that and
    // the decoder finds the extension in the stream, as with implicit signalling.
    uint8_t object = c.object_type == 5 || c.object_type == 29 ? 2 : c.object_type;
    if (object < 1 || object > 4 || c.sampling_index > 12 || c.channel_config == 0 ||
        c.channel_config > 7) {
        return RTMP_DECLINED;
    }
    mx->adts_profile = (uint8_t)(object - 1);
    mx->sampling_index = c.sampling_index;
    mx->channel_config = c.channel_config;
    mx->audio = true;
    return RTMP_OK;
}

// Writes the audio pack as one PES.
rtmp_int_t rtmp_mpegts_flush(rtmp_mpegts_t *mx)
{
    if (mx->audio_len > 0) {
        size_t len = mx->audio_len;
        mx->audio_len = 0;

        rtmp_mpegts_src_t s{};
        s.pre[0] = {mx->audio_buf, len};
        s.npre = 1;

        // stream_id 0xc0; the length is known and fits: 8 header bytes + the pack
        uint64_t pts90 = rtmp_mpegts_90khz(mx->audio_pts, 0);
        u_char hdr[14] = {0x00, 0x00, 0x01, 0xc0, 0, 0, 0x84, 0x80, 5};
        hdr[4] = (u_char)((len + 8) >> 8);
        hdr[5] = (u_char)(len + 8);
        rtmp_mpegts_timestamp(hdr + 9, 0x2, pts90);

        bool pcr = !mx->pmt_video;
        if (rtmp_mpegts_pes(mx, RTMP_MPEGTS_PID_AUDIO, &mx->cc_audio, hdr, sizeof(hdr), &s, len,
                            pcr, (pts90 - RTMP_MPEGTS_DELAY) & 0x1ffffffffULL, pcr) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return rtmp_mpegts_stage_flush(mx);
}

rtmp_int_t rtmp_mpegts_write_audio(rtmp_mpegts_t *mx, uint64_t pts, std::span<const u_char> aac)
{
    if (!mx->audio) {
        return RTMP_DECLINED;
    }
    size_t frame_len = 7 + aac.size();
    if (frame_len > 0x1fff) {
        return RTMP_ERROR;
    }
    if (!mx->started || !mx->pmt_audio) {
        if (rtmp_mpegts_tables(mx) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    if (mx->audio_len > 0 &&
        (RTMP_MPEGTS_AUDIO_BUF - mx->audio_len < frame_len || pts < mx->audio_pts)) {
        if (rtmp_mpegts_flush(mx) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    if (mx->audio_len == 0) {
        mx->audio_pts = pts;
    }

    // ISO 13818-7 6.2.1 adts_fixed_header + adts_variable_header: MPEG-4, no CRC,
    // buffer fullness 0x7ff (variable rate), one raw data block
    u_char *p = mx->audio_buf + mx->audio_len;
    p[0] = 0xff;
    p[1] = 0xf1;
    p[2] = (u_char)(mx->adts_profile << 6 | mx->sampling_index << 2 | mx->channel_config >> 2);
    p[3] = (u_char)((mx->channel_config & 3) << 6 | frame_len >> 11);
    p[4] = (u_char)(frame_len >> 3);
    p[5] = (u_char)((frame_len & 7) << 5 | 0x1f);
    p[6] = 0xfc;
    memcpy(p + 7, aac.data(), aac.size());
    mx->audio_len += frame_len;

    if (mx->audio_len >= RTMP_MPEGTS_AUDIO_PACK || pts - mx->audio_pts >= mx->audio_delay) {
        return rtmp_mpegts_flush(mx);
    }
    return rtmp_mpegts_stage_flush(mx);
}

// ---- messages ---------------------------------------------------------------------------------

rtmp_int_t rtmp_mpegts_write_message(rtmp_mpegts_t *mx, uint64_t timestamp, const rtmp_message_t *m)
{
    if (m->h.type == RTMP_MSG_VIDEO) {
        rtmp_codec_video_t v;
        if (rtmp_codec_parse_video(m->payload, &v) != RTMP_OK) {
            return RTMP_ERROR;
        }
        rtmp_mpegts_video codec = v.codec == rtmp_codec_id::avc    ? rtmp_mpegts_video::avc
                                  : v.codec == rtmp_codec_id::hevc ? rtmp_mpegts_video::hevc
                                                                   : rtmp_mpegts_video::none;
        if (codec == rtmp_mpegts_video::none || v.multitrack || v.is_command || v.is_metadata ||
            v.is_end_of_sequence) {
            return RTMP_DECLINED;
        }
        std::span<const u_char> data = m->payload.subspan(v.header_len, v.data_len);
        if (v.is_sequence_header) {
            if (v.enhanced && v.packet_type != RTMP_CODEC_VIDEO_SEQUENCE_START) {
                return RTMP_DECLINED; // MPEG2TSSequenceStart carries descriptors, not a record
            }
            return rtmp_mpegts_set_video_config(mx, codec, data);
        }
        if (codec != mx->video) {
            return RTMP_DECLINED;
        }
        return rtmp_mpegts_write_video(mx, timestamp, v.cts, v.is_key_frame, data);
    }

    if (m->h.type == RTMP_MSG_AUDIO) {
        rtmp_codec_audio_t a;
        if (rtmp_codec_parse_audio(m->payload, &a) != RTMP_OK) {
            return RTMP_ERROR;
        }
        if (a.codec != rtmp_codec_id::aac || a.multitrack || a.is_end_of_sequence ||
            a.is_multichannel_config) {
            return RTMP_DECLINED;
        }
        std::span<const u_char> data = m->payload.subspan(a.header_len, a.data_len);
        if (a.is_sequence_header) {
            return rtmp_mpegts_set_audio_config(mx, data);
        }
        return rtmp_mpegts_write_audio(mx, timestamp, data);
    }

    return RTMP_DECLINED;
}
