// Codec awareness: FLV/Enhanced RTMP tag headers, configuration records, onMetaData.
#include "rtmp/rtmp_codec.h"

// ---- byte and bit readers --------------------------------------------------------------

// A bounds-checked forward reader over a span; reading past the end sets
// `bad` and yields zeros, so a parser checks once at the end of a step.
struct rtmp_codec_rd_t {
    const u_char *p;
    size_t n;
    size_t pos;
    bool bad;
};

static rtmp_codec_rd_t rtmp_codec_rd(std::span<const u_char> s)
{
    return rtmp_codec_rd_t{s.data(), s.size(), 0, false};
}

static bool rtmp_codec_need(rtmp_codec_rd_t *r, size_t n)
{
    if (r->bad || r->n - r->pos < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint32_t rtmp_codec_be(rtmp_codec_rd_t *r, size_t n)
{
    uint32_t v = 0;
    if (!rtmp_codec_need(r, n)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        v = v << 8 | r->p[r->pos++];
    }
    return v;
}

static void rtmp_codec_skip(rtmp_codec_rd_t *r, size_t n)
{
    if (rtmp_codec_need(r, n)) {
        r->pos += n;
    }
}

// An RBSP bit reader for SPS and OBU fields. With `ep` set it drops H.264/H.265
// emulation prevention bytes (00 00 03 -> 00 00, ISO 14496-10 7.4.1) as it goes.
struct rtmp_codec_bits_t {
    const u_char *p;
    size_t n;
    size_t pos;     // next byte
    uint32_t zeros; // consecutive zero bytes just consumed
    uint32_t cur;
    uint32_t left; // bits left in cur
    bool ep;
    bool bad;
};

static rtmp_codec_bits_t rtmp_codec_bits(std::span<const u_char> s, bool ep)
{
    return rtmp_codec_bits_t{s.data(), s.size(), 0, 0, 0, 0, ep, false};
}

static uint32_t rtmp_codec_bit(rtmp_codec_bits_t *b)
{
    if (b->left == 0) {
        if (b->ep && b->zeros >= 2 && b->pos < b->n && b->p[b->pos] == 3) {
            b->pos++;
            b->zeros = 0;
        }
        if (b->pos >= b->n) {
            b->bad = true;
            return 0;
        }
        b->cur = b->p[b->pos++];
        b->zeros = b->cur == 0 ? b->zeros + 1 : 0;
        b->left = 8;
    }
    b->left--;
    return (b->cur >> b->left) & 1;
}

static uint32_t rtmp_codec_u(rtmp_codec_bits_t *b, uint32_t n) // n <= 32
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < n && !b->bad; i++) {
        v = v << 1 | rtmp_codec_bit(b);
    }
    return b->bad ? 0 : v;
}

// Exp-Golomb ue(v), ISO 14496-10 9.1; more than 31 leading zeros is not a
// value any field we read can take, so it marks the reader bad.
static uint32_t rtmp_codec_ue(rtmp_codec_bits_t *b)
{
    uint32_t zeros = 0;
    while (!b->bad && rtmp_codec_bit(b) == 0) {
        if (++zeros > 31) {
            b->bad = true;
            return 0;
        }
    }
    if (b->bad) {
        return 0;
    }
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + rtmp_codec_u(b, zeros));
}

// se(v) is ue(v) with the sign folded in: the same bits to skip.
static void rtmp_codec_se_skip(rtmp_codec_bits_t *b)
{
    (void)rtmp_codec_ue(b);
}

// ---- codec tables --------------------------------------------------------------------

// FLV spec v10.1 E.4.3.1 CodecID; 12 is HEVC as the patched ffmpeg builds of
// Chinese CDNs sent it before Enhanced RTMP, in the AVC packet layout.
static constexpr rtmp_codec_id rtmp_codec_video_ids[16] = {
    rtmp_codec_id::unknown, rtmp_codec_id::jpeg,    rtmp_codec_id::h263,    rtmp_codec_id::screen,
    rtmp_codec_id::vp6,     rtmp_codec_id::vp6a,    rtmp_codec_id::screen2, rtmp_codec_id::avc,
    rtmp_codec_id::unknown, rtmp_codec_id::unknown, rtmp_codec_id::unknown, rtmp_codec_id::unknown,
    rtmp_codec_id::hevc,    rtmp_codec_id::unknown, rtmp_codec_id::unknown, rtmp_codec_id::unknown,
};

// FLV spec v10.1 E.4.2.1 SoundFormat; 9 is the Enhanced RTMP ExHeader.
static constexpr rtmp_codec_id rtmp_codec_audio_ids[16] = {
    rtmp_codec_id::pcm,
    rtmp_codec_id::adpcm,
    rtmp_codec_id::mp3,
    rtmp_codec_id::pcm_le,
    rtmp_codec_id::nellymoser_16k,
    rtmp_codec_id::nellymoser_8k,
    rtmp_codec_id::nellymoser,
    rtmp_codec_id::g711a,
    rtmp_codec_id::g711u,
    rtmp_codec_id::unknown,
    rtmp_codec_id::aac,
    rtmp_codec_id::speex,
    rtmp_codec_id::unknown,
    rtmp_codec_id::unknown,
    rtmp_codec_id::mp3_8k,
    rtmp_codec_id::device,
};

struct rtmp_codec_fourcc_t {
    uint32_t fourcc;
    rtmp_codec_id id;
};

// Enhanced RTMP v2 VideoFourCc and AudioFourCc.
static constexpr rtmp_codec_fourcc_t rtmp_codec_fourccs[] = {
    {rtmp_codec_fourcc("avc1"), rtmp_codec_id::avc},
    {rtmp_codec_fourcc("hvc1"), rtmp_codec_id::hevc},
    {rtmp_codec_fourcc("av01"), rtmp_codec_id::av1},
    {rtmp_codec_fourcc("vp09"), rtmp_codec_id::vp9},
    {rtmp_codec_fourcc("vp08"), rtmp_codec_id::vp8},
    {rtmp_codec_fourcc("mp4a"), rtmp_codec_id::aac},
    {rtmp_codec_fourcc("Opus"), rtmp_codec_id::opus},
    {rtmp_codec_fourcc("fLaC"), rtmp_codec_id::flac},
    {rtmp_codec_fourcc("ac-3"), rtmp_codec_id::ac3},
    {rtmp_codec_fourcc("ec-3"), rtmp_codec_id::eac3},
    {rtmp_codec_fourcc(".mp3"), rtmp_codec_id::mp3},
};

static rtmp_codec_id rtmp_codec_by_fourcc(uint32_t fourcc, bool video)
{
    for (const rtmp_codec_fourcc_t &f : rtmp_codec_fourccs) {
        if (f.fourcc == fourcc) {
            // an audio FourCC in a video tag (or the reverse) is not a codec we can name
            bool is_video = f.id <= rtmp_codec_id::vp8;
            return is_video == video ? f.id : rtmp_codec_id::unknown;
        }
    }
    return rtmp_codec_id::unknown;
}

static constexpr const char *rtmp_codec_names[] = {
    "unknown",       "jpeg",         "h263",       "screen", "vp6",   "vp6a",  "screen2", "avc",
    "hevc",          "av1",          "vp9",        "vp8",    "pcm",   "adpcm", "mp3",     "pcm_le",
    "nellymoser16k", "nellymoser8k", "nellymoser", "g711a",  "g711u", "aac",   "speex",   "mp3_8k",
    "device",        "opus",         "flac",       "ac3",    "eac3",
};
static_assert(rtmp_nelems(rtmp_codec_names) == (size_t)rtmp_codec_id::eac3 + 1);

const char *rtmp_codec_name(rtmp_codec_id id)
{
    size_t i = (size_t)id;
    return i < rtmp_nelems(rtmp_codec_names) ? rtmp_codec_names[i] : "unknown";
}

// ---- Enhanced RTMP header pieces shared by audio and video ----------------------------

// Enhanced RTMP v2 ModEx: while the packet type is ModEx, a UI8+1 size (UI16+1
// when that gives 256), that many bytes, then ModExType << 4 | next packet type.
// The only ModEx defined (TimestampOffsetNano) does not change what the
// message is, so the data is skipped.
static void rtmp_codec_modex(rtmp_codec_rd_t *r, uint8_t *packet_type, uint8_t modex)
{
    while (*packet_type == modex && !r->bad) {
        size_t size = rtmp_codec_be(r, 1) + 1;
        if (size == 256) {
            size = rtmp_codec_be(r, 2) + 1;
        }
        rtmp_codec_skip(r, size);
        *packet_type = rtmp_codec_be(r, 1) & 0x0f;
    }
}

struct rtmp_codec_track_t {
    uint8_t type;
    uint8_t packet_type;
    uint8_t track_id;
    uint32_t fourcc;
    uint32_t size; // sized: bytes of the first track after its size field
    bool sized;
};

// Enhanced RTMP v2 multitrack: the byte after the Multitrack packet type holds
// AvMultitrackType << 4 | the packet type of every track; one FourCC follows
// unless each track has its own. Then for the first track: [FourCC,] trackId
// and, unless there is one track, a UI24 size. Only the first track is read.
static bool rtmp_codec_multitrack(rtmp_codec_rd_t *r, rtmp_codec_track_t *t, uint8_t multitrack,
                                  uint8_t modex)
{
    uint32_t b = rtmp_codec_be(r, 1);
    t->type = (uint8_t)(b >> 4);
    t->packet_type = (uint8_t)(b & 0x0f);
    if (t->packet_type == multitrack || t->packet_type == modex ||
        t->type > RTMP_CODEC_MANY_TRACKS_MANY_CODECS) {
        return false;
    }
    t->fourcc = rtmp_codec_be(r, 4); // shared, or the first track's own: same place either way
    t->track_id = (uint8_t)rtmp_codec_be(r, 1);
    t->size = 0;
    t->sized = t->type != RTMP_CODEC_ONE_TRACK;
    if (t->sized) {
        t->size = rtmp_codec_be(r, 3);
        if (!r->bad && t->size > r->n - r->pos) {
            return false;
        }
    }
    return !r->bad;
}

// Bytes of codec data from pos: the rest of the first track, or of the message.
static uint32_t rtmp_codec_data_len(const rtmp_codec_rd_t *r, size_t start,
                                    const rtmp_codec_track_t *t)
{
    if (t->sized) {
        return (uint32_t)(t->size - (r->pos - start));
    }
    return (uint32_t)(r->n - r->pos);
}

// ---- video -----------------------------------------------------------------------------

static rtmp_int_t rtmp_codec_video_legacy(rtmp_codec_rd_t *r, rtmp_codec_video_t *v)
{
    switch (v->codec) {
    case rtmp_codec_id::avc:
    case rtmp_codec_id::hevc: {
        // FLV spec v10.1 E.4.3.1 VideoTagHeader: AVCPacketType, SI24 CompositionTime
        v->packet_type = (uint8_t)rtmp_codec_be(r, 1);
        uint32_t cts = rtmp_codec_be(r, 3);
        if (r->bad) {
            return RTMP_ERROR;
        }
        v->cts = (int32_t)(cts << 8) >> 8;
        v->is_sequence_header = v->packet_type == RTMP_CODEC_AVC_SEQUENCE_HEADER;
        v->is_end_of_sequence = v->packet_type == RTMP_CODEC_AVC_END_OF_SEQUENCE;
        break;
    }
    default:
        break;
    }

    if (v->frame_type == RTMP_CODEC_FRAME_COMMAND) {
        // E.4.3.1 VideoTagBody: a command frame carries one UI8 instead of video
        v->command = (uint8_t)rtmp_codec_be(r, 1);
        v->is_command = true;
        v->is_sequence_header = v->is_end_of_sequence = false;
        if (r->bad) {
            return RTMP_ERROR;
        }
        v->header_len = (uint32_t)r->pos;
        v->data_len = 0;
        return RTMP_OK;
    }

    // E.4.3.2/3: VP6 leads with a size adjustment byte, VP6 alpha also with
    // a UI24 OffsetToAlpha; the VP6 bitstream starts after them.
    if (v->codec == rtmp_codec_id::vp6) {
        rtmp_codec_skip(r, 1);
    } else if (v->codec == rtmp_codec_id::vp6a) {
        rtmp_codec_skip(r, 4);
    }
    if (r->bad) {
        return RTMP_ERROR;
    }

    v->header_len = (uint32_t)r->pos;
    v->data_len = (uint32_t)(r->n - r->pos);
    bool coded = v->codec == rtmp_codec_id::avc || v->codec == rtmp_codec_id::hevc
                     ? v->packet_type == RTMP_CODEC_AVC_NALU
                     : true;
    v->is_key_frame = coded && (v->frame_type == RTMP_CODEC_FRAME_KEY ||
                                v->frame_type == RTMP_CODEC_FRAME_GENERATED_KEY);
    return RTMP_OK;
}

static rtmp_int_t rtmp_codec_video_enhanced(rtmp_codec_rd_t *r, rtmp_codec_video_t *v,
                                            uint8_t first)
{
    uint8_t pt = first & 0x0f;
    rtmp_codec_track_t t{};

    rtmp_codec_modex(r, &pt, RTMP_CODEC_VIDEO_MODEX);
    if (r->bad) {
        return RTMP_ERROR;
    }
    v->packet_type = pt;

    // Enhanced RTMP v2 ExVideoTagHeader: a command frame has a VideoCommand
    // and no FourCC or body, except that Metadata ignores the frame type.
    if (pt != RTMP_CODEC_VIDEO_METADATA && v->frame_type == RTMP_CODEC_FRAME_COMMAND) {
        v->command = (uint8_t)rtmp_codec_be(r, 1);
        v->is_command = true;
        if (r->bad) {
            return RTMP_ERROR;
        }
        v->header_len = (uint32_t)r->pos;
        return RTMP_OK;
    }

    size_t start;
    if (pt == RTMP_CODEC_VIDEO_MULTITRACK) {
        v->multitrack = true;
        if (!rtmp_codec_multitrack(r, &t, RTMP_CODEC_VIDEO_MULTITRACK, RTMP_CODEC_VIDEO_MODEX)) {
            return RTMP_ERROR;
        }
        // the size counts from after itself; so does data_len
        start = r->pos;
        v->multitrack_type = t.type;
        v->track_id = t.track_id;
        v->fourcc = t.fourcc;
        v->packet_type = pt = t.packet_type;
    } else {
        v->fourcc = rtmp_codec_be(r, 4);
        if (r->bad) {
            return RTMP_ERROR;
        }
        start = r->pos;
    }

    v->codec = rtmp_codec_by_fourcc(v->fourcc, true);

    switch (pt) {
    case RTMP_CODEC_VIDEO_SEQUENCE_START:
    case RTMP_CODEC_VIDEO_MPEG2TS_SEQUENCE_START:
        v->is_sequence_header = true;
        break;
    case RTMP_CODEC_VIDEO_CODED_FRAMES:
        // ExVideoTagBody: only AVC and HEVC coded frames carry a composition time
        if (v->fourcc == rtmp_codec_fourcc("avc1") || v->fourcc == rtmp_codec_fourcc("hvc1")) {
            uint32_t cts = rtmp_codec_be(r, 3);
            if (r->bad || (t.sized && t.size < 3)) {
                return RTMP_ERROR;
            }
            v->cts = (int32_t)(cts << 8) >> 8;
        }
        [[fallthrough]];
    case RTMP_CODEC_VIDEO_CODED_FRAMES_X:
        v->is_key_frame = v->frame_type == RTMP_CODEC_FRAME_KEY ||
                          v->frame_type == RTMP_CODEC_FRAME_GENERATED_KEY;
        break;
    case RTMP_CODEC_VIDEO_SEQUENCE_END:
        v->is_end_of_sequence = true;
        break;
    case RTMP_CODEC_VIDEO_METADATA:
        v->is_metadata = true;
        break;
    default:
        // reserved packet types: forwarded as they are, nothing known about them
        break;
    }

    v->header_len = (uint32_t)r->pos;
    v->data_len = rtmp_codec_data_len(r, start, &t);
    return RTMP_OK;
}

rtmp_int_t rtmp_codec_parse_video(std::span<const u_char> payload, rtmp_codec_video_t *v)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(payload);

    *v = rtmp_codec_video_t{};
    if (payload.empty()) {
        return RTMP_ERROR;
    }
    uint8_t b = (uint8_t)rtmp_codec_be(&r, 1);

    // Enhanced RTMP v2: IsExHeader is the top bit of what was the frame type,
    // whose legacy values (1..5) never set it; FrameType shrinks to UB[3].
    if (b & 0x80) {
        v->enhanced = true;
        v->frame_type = (b >> 4) & 0x07;
        return rtmp_codec_video_enhanced(&r, v, b);
    }

    v->frame_type = b >> 4;
    v->codec_id = b & 0x0f;
    v->codec = rtmp_codec_video_ids[v->codec_id];
    v->header_len = 1;
    v->data_len = (uint32_t)(payload.size() - 1);
    return rtmp_codec_video_legacy(&r, v);
}

// ---- audio -----------------------------------------------------------------------------

static rtmp_int_t rtmp_codec_audio_enhanced(rtmp_codec_rd_t *r, rtmp_codec_audio_t *a,
                                            uint8_t first)
{
    uint8_t pt = first & 0x0f;
    rtmp_codec_track_t t{};
    size_t start;

    // Enhanced RTMP v2 ExAudioTagHeader: the rate/size/type bits are the
    // AudioPacketType; ModEx and Multitrack wrap it as for video.
    rtmp_codec_modex(r, &pt, RTMP_CODEC_AUDIO_MODEX);
    if (r->bad) {
        return RTMP_ERROR;
    }
    if (pt == RTMP_CODEC_AUDIO_MULTITRACK) {
        a->multitrack = true;
        if (!rtmp_codec_multitrack(r, &t, RTMP_CODEC_AUDIO_MULTITRACK, RTMP_CODEC_AUDIO_MODEX)) {
            return RTMP_ERROR;
        }
        a->multitrack_type = t.type;
        a->track_id = t.track_id;
        a->fourcc = t.fourcc;
        pt = t.packet_type;
    } else {
        a->fourcc = rtmp_codec_be(r, 4);
        if (r->bad) {
            return RTMP_ERROR;
        }
    }
    start = r->pos;

    a->packet_type = pt;
    a->codec = rtmp_codec_by_fourcc(a->fourcc, false);
    a->is_sequence_header = pt == RTMP_CODEC_AUDIO_SEQUENCE_START;
    a->is_end_of_sequence = pt == RTMP_CODEC_AUDIO_SEQUENCE_END;
    a->is_multichannel_config = pt == RTMP_CODEC_AUDIO_MULTICHANNEL_CONFIG;
    a->header_len = (uint32_t)r->pos;
    a->data_len = rtmp_codec_data_len(r, start, &t);
    return RTMP_OK;
}

rtmp_int_t rtmp_codec_parse_audio(std::span<const u_char> payload, rtmp_codec_audio_t *a)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(payload);

    *a = rtmp_codec_audio_t{};
    if (payload.empty()) {
        return RTMP_ERROR;
    }
    uint8_t b = (uint8_t)rtmp_codec_be(&r, 1);

    // FLV spec v10.1 E.4.2.1 AudioTagHeader
    a->sound_format = b >> 4;
    if (a->sound_format == 9) {
        a->enhanced = true;
        return rtmp_codec_audio_enhanced(&r, a, b);
    }
    a->sound_rate = (b >> 2) & 0x03;
    a->sound_size = (b >> 1) & 0x01;
    a->sound_type = b & 0x01;
    a->codec = rtmp_codec_audio_ids[a->sound_format];

    if (a->codec == rtmp_codec_id::aac) {
        a->packet_type = (uint8_t)rtmp_codec_be(&r, 1);
        if (r.bad) {
            return RTMP_ERROR;
        }
        a->is_sequence_header = a->packet_type == 0;
    }
    a->header_len = (uint32_t)r.pos;
    a->data_len = (uint32_t)(r.n - r.pos);
    return RTMP_OK;
}

// ---- AVC -------------------------------------------------------------------------------

static void rtmp_codec_avc_scaling_list(rtmp_codec_bits_t *b, uint32_t size)
{
    // ISO 14496-10 7.3.2.1.1.1: only the bits matter here, not the values
    int64_t last = 8, next = 8;
    for (uint32_t j = 0; j < size && !b->bad; j++) {
        if (next != 0) {
            uint64_t u = rtmp_codec_ue(b);
            int64_t delta = (u & 1) ? (int64_t)((u + 1) / 2) : -(int64_t)(u / 2);
            next = ((last + delta) % 256 + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

// ISO 14496-10 7.3.2.1.1 seq_parameter_set_data, up to the frame cropping.
static bool rtmp_codec_avc_sps(std::span<const u_char> nal, rtmp_codec_avc_config_t *c)
{
    rtmp_codec_bits_t b = rtmp_codec_bits(nal, true);
    (void)rtmp_codec_u(&b, 8); // NAL header
    uint32_t profile = rtmp_codec_u(&b, 8);
    (void)rtmp_codec_u(&b, 16); // constraint flags, level_idc
    (void)rtmp_codec_ue(&b);    // seq_parameter_set_id

    uint32_t chroma = 1, separate = 0, depth = 0;
    switch (profile) {
    case 100:
    case 110:
    case 122:
    case 244:
    case 44:
    case 83:
    case 86:
    case 118:
    case 128:
    case 138:
    case 139:
    case 134:
    case 135:
        chroma = rtmp_codec_ue(&b);
        if (chroma > 3) {
            return false;
        }
        if (chroma == 3) {
            separate = rtmp_codec_u(&b, 1);
        }
        depth = rtmp_codec_ue(&b);
        (void)rtmp_codec_ue(&b);   // bit_depth_chroma_minus8
        (void)rtmp_codec_u(&b, 1); // qpprime_y_zero_transform_bypass_flag
        if (rtmp_codec_u(&b, 1)) { // seq_scaling_matrix_present_flag
            for (uint32_t i = 0; i < (chroma != 3 ? 8u : 12u) && !b.bad; i++) {
                if (rtmp_codec_u(&b, 1)) {
                    rtmp_codec_avc_scaling_list(&b, i < 6 ? 16 : 64);
                }
            }
        }
        break;
    default:
        break;
    }

    (void)rtmp_codec_ue(&b); // log2_max_frame_num_minus4
    uint32_t poc = rtmp_codec_ue(&b);
    if (poc == 0) {
        (void)rtmp_codec_ue(&b);
    } else if (poc == 1) {
        (void)rtmp_codec_u(&b, 1);
        rtmp_codec_se_skip(&b);
        rtmp_codec_se_skip(&b);
        uint32_t cycle = rtmp_codec_ue(&b);
        if (cycle > 255) {
            return false;
        }
        for (uint32_t i = 0; i < cycle && !b.bad; i++) {
            rtmp_codec_se_skip(&b);
        }
    } else if (poc != 2) {
        return false;
    }
    (void)rtmp_codec_ue(&b);   // max_num_ref_frames
    (void)rtmp_codec_u(&b, 1); // gaps_in_frame_num_value_allowed_flag
    uint64_t w_mbs = (uint64_t)rtmp_codec_ue(&b) + 1;
    uint64_t h_units = (uint64_t)rtmp_codec_ue(&b) + 1;
    uint32_t frame_mbs_only = rtmp_codec_u(&b, 1);
    if (!frame_mbs_only) {
        (void)rtmp_codec_u(&b, 1); // mb_adaptive_frame_field_flag
    }
    (void)rtmp_codec_u(&b, 1); // direct_8x8_inference_flag
    uint64_t cl = 0, cr = 0, ct = 0, cb = 0;
    if (rtmp_codec_u(&b, 1)) {
        cl = rtmp_codec_ue(&b);
        cr = rtmp_codec_ue(&b);
        ct = rtmp_codec_ue(&b);
        cb = rtmp_codec_ue(&b);
    }
    if (b.bad) {
        return false;
    }

    // 7.4.2.1.1: crop units depend on the chroma format and field coding
    uint64_t array_type = separate ? 0 : chroma;
    uint64_t sub_w = array_type == 1 || array_type == 2 ? 2 : 1;
    uint64_t sub_h = array_type == 1 ? 2 : 1;
    uint64_t unit_x = array_type == 0 ? 1 : sub_w;
    uint64_t unit_y = (array_type == 0 ? 1 : sub_h) * (2 - frame_mbs_only);
    uint64_t w = w_mbs * 16, h = (2 - frame_mbs_only) * h_units * 16;
    if ((cl + cr) * unit_x >= w || (ct + cb) * unit_y >= h || w > 65536 || h > 65536) {
        return false;
    }
    c->chroma_format = (uint8_t)chroma;
    c->bit_depth = (uint8_t)(depth + 8);
    c->width = (uint32_t)(w - (cl + cr) * unit_x);
    c->height = (uint32_t)(h - (ct + cb) * unit_y);
    return true;
}

rtmp_int_t rtmp_codec_parse_avcc(std::span<const u_char> rec, rtmp_codec_avc_config_t *c)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(rec);
    std::span<const u_char> sps;

    *c = rtmp_codec_avc_config_t{};
    if (rtmp_codec_be(&r, 1) != 1) { // configurationVersion
        return RTMP_ERROR;
    }
    c->profile = (uint8_t)rtmp_codec_be(&r, 1);
    c->compat = (uint8_t)rtmp_codec_be(&r, 1);
    c->level = (uint8_t)rtmp_codec_be(&r, 1);
    c->nal_length_size = (uint8_t)((rtmp_codec_be(&r, 1) & 0x03) + 1);
    c->nsps = (uint8_t)(rtmp_codec_be(&r, 1) & 0x1f);
    for (uint32_t i = 0; i < c->nsps && !r.bad; i++) {
        size_t len = rtmp_codec_be(&r, 2);
        if (rtmp_codec_need(&r, len) && i == 0) {
            sps = std::span<const u_char>(r.p + r.pos, len);
        }
        rtmp_codec_skip(&r, len);
    }
    c->npps = (uint8_t)rtmp_codec_be(&r, 1);
    for (uint32_t i = 0; i < c->npps && !r.bad; i++) {
        rtmp_codec_skip(&r, rtmp_codec_be(&r, 2));
    }
    // the High profile extension after the PPSs is optional in practice
    // (older encoders omit it), so it is not required here
    if (r.bad) {
        return RTMP_ERROR;
    }
    c->chroma_format = 1;
    c->bit_depth = 8;
    if (!sps.empty() && !rtmp_codec_avc_sps(sps, c)) {
        c->width = c->height = 0;
    }
    return RTMP_OK;
}

// ---- HEVC ------------------------------------------------------------------------------

// ISO 23008-2 7.3.2.2.1 seq_parameter_set_rbsp, up to the conformance window.
static bool rtmp_codec_hevc_sps(std::span<const u_char> nal, rtmp_codec_hevc_config_t *c)
{
    rtmp_codec_bits_t b = rtmp_codec_bits(nal, true);
    (void)rtmp_codec_u(&b, 16);                // NAL header
    (void)rtmp_codec_u(&b, 4);                 // sps_video_parameter_set_id
    uint32_t sub_layers = rtmp_codec_u(&b, 3); // sps_max_sub_layers_minus1
    (void)rtmp_codec_u(&b, 1);

    // 7.3.3 profile_tier_level(1, sub_layers): 88 bits of general profile, 8 of level
    (void)rtmp_codec_u(&b, 32);
    (void)rtmp_codec_u(&b, 32);
    (void)rtmp_codec_u(&b, 32);
    uint32_t sub_profile = 0, sub_level = 0;
    for (uint32_t i = 0; i < sub_layers; i++) {
        sub_profile |= rtmp_codec_u(&b, 1) << i;
        sub_level |= rtmp_codec_u(&b, 1) << i;
    }
    if (sub_layers > 0) {
        for (uint32_t i = sub_layers; i < 8; i++) {
            (void)rtmp_codec_u(&b, 2); // reserved_zero_2bits
        }
    }
    for (uint32_t i = 0; i < sub_layers; i++) {
        if (sub_profile & (1u << i)) {
            (void)rtmp_codec_u(&b, 32);
            (void)rtmp_codec_u(&b, 32);
            (void)rtmp_codec_u(&b, 24);
        }
        if (sub_level & (1u << i)) {
            (void)rtmp_codec_u(&b, 8);
        }
    }

    (void)rtmp_codec_ue(&b); // sps_seq_parameter_set_id
    uint32_t chroma = rtmp_codec_ue(&b);
    if (chroma > 3) {
        return false;
    }
    uint32_t separate = chroma == 3 ? rtmp_codec_u(&b, 1) : 0;
    uint64_t w = rtmp_codec_ue(&b), h = rtmp_codec_ue(&b);
    uint64_t cl = 0, cr = 0, ct = 0, cb = 0;
    if (rtmp_codec_u(&b, 1)) { // conformance_window_flag
        cl = rtmp_codec_ue(&b);
        cr = rtmp_codec_ue(&b);
        ct = rtmp_codec_ue(&b);
        cb = rtmp_codec_ue(&b);
    }
    if (b.bad) {
        return false;
    }
    // Table 6-1: SubWidthC/SubHeightC; ChromaArrayType 0 counts in luma samples
    uint64_t array_type = separate ? 0 : chroma;
    uint64_t sub_w = array_type == 1 || array_type == 2 ? 2 : 1;
    uint64_t sub_h = array_type == 1 ? 2 : 1;
    if ((cl + cr) * sub_w >= w || (ct + cb) * sub_h >= h || w > 65536 || h > 65536) {
        return false;
    }
    c->width = (uint32_t)(w - (cl + cr) * sub_w);
    c->height = (uint32_t)(h - (ct + cb) * sub_h);
    return true;
}

rtmp_int_t rtmp_codec_parse_hvcc(std::span<const u_char> rec, rtmp_codec_hevc_config_t *c)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(rec);
    std::span<const u_char> sps;

    *c = rtmp_codec_hevc_config_t{};
    if (rtmp_codec_be(&r, 1) != 1) { // configurationVersion
        return RTMP_ERROR;
    }
    uint32_t b = rtmp_codec_be(&r, 1);
    c->profile_space = (uint8_t)(b >> 6);
    c->tier = (uint8_t)((b >> 5) & 1);
    c->profile = (uint8_t)(b & 0x1f);
    c->compat = rtmp_codec_be(&r, 4);
    rtmp_codec_skip(&r, 6); // general_constraint_indicator_flags
    c->level = (uint8_t)rtmp_codec_be(&r, 1);
    rtmp_codec_skip(&r, 3); // min_spatial_segmentation_idc, parallelismType
    c->chroma_format = (uint8_t)(rtmp_codec_be(&r, 1) & 0x03);
    c->bit_depth = (uint8_t)((rtmp_codec_be(&r, 1) & 0x07) + 8);
    rtmp_codec_skip(&r, 3); // bitDepthChromaMinus8, avgFrameRate
    c->nal_length_size = (uint8_t)((rtmp_codec_be(&r, 1) & 0x03) + 1);
    c->narrays = (uint8_t)rtmp_codec_be(&r, 1);
    for (uint32_t i = 0; i < c->narrays && !r.bad; i++) {
        uint32_t type = rtmp_codec_be(&r, 1) & 0x3f;
        uint32_t nalus = rtmp_codec_be(&r, 2);
        for (uint32_t j = 0; j < nalus && !r.bad; j++) {
            size_t len = rtmp_codec_be(&r, 2);
            if (rtmp_codec_need(&r, len) && type == 33 && sps.empty()) { // SPS_NUT
                sps = std::span<const u_char>(r.p + r.pos, len);
            }
            rtmp_codec_skip(&r, len);
        }
    }
    if (r.bad) {
        return RTMP_ERROR;
    }
    if (!sps.empty()) {
        (void)rtmp_codec_hevc_sps(sps, c);
    }
    return RTMP_OK;
}

// ---- AV1 -------------------------------------------------------------------------------

// AV1 spec 4.10.3 uvlc(); only skipped, so the value is not built.
static void rtmp_codec_uvlc_skip(rtmp_codec_bits_t *b)
{
    uint32_t zeros = 0;
    while (!b->bad && rtmp_codec_bit(b) == 0) {
        zeros++;
    }
    if (zeros < 32) {
        (void)rtmp_codec_u(b, zeros);
    }
}

// AV1 spec 5.5.1 sequence_header_obu, up to max_frame_height_minus_1.
static bool rtmp_codec_av1_seq(std::span<const u_char> obu, rtmp_codec_av1_config_t *c)
{
    rtmp_codec_bits_t b = rtmp_codec_bits(obu, false);
    (void)rtmp_codec_u(&b, 3); // seq_profile
    (void)rtmp_codec_u(&b, 1); // still_picture
    if (rtmp_codec_u(&b, 1)) { // reduced_still_picture_header
        (void)rtmp_codec_u(&b, 5);
    } else {
        uint32_t decoder_model = 0, delay_len = 0;
        if (rtmp_codec_u(&b, 1)) { // timing_info_present_flag
            (void)rtmp_codec_u(&b, 32);
            (void)rtmp_codec_u(&b, 32);
            if (rtmp_codec_u(&b, 1)) { // equal_picture_interval
                rtmp_codec_uvlc_skip(&b);
            }
            decoder_model = rtmp_codec_u(&b, 1);
            if (decoder_model) { // decoder_model_info
                delay_len = rtmp_codec_u(&b, 5) + 1;
                (void)rtmp_codec_u(&b, 32);
                (void)rtmp_codec_u(&b, 10);
            }
        }
        uint32_t initial_delay = rtmp_codec_u(&b, 1);
        uint32_t ops = rtmp_codec_u(&b, 5) + 1;
        for (uint32_t i = 0; i < ops && !b.bad; i++) {
            (void)rtmp_codec_u(&b, 12); // operating_point_idc
            if (rtmp_codec_u(&b, 5) > 7) {
                (void)rtmp_codec_u(&b, 1); // seq_tier
            }
            if (decoder_model && rtmp_codec_u(&b, 1)) { // operating_parameters_info
                (void)rtmp_codec_u(&b, delay_len);
                (void)rtmp_codec_u(&b, delay_len);
                (void)rtmp_codec_u(&b, 1);
            }
            if (initial_delay && rtmp_codec_u(&b, 1)) {
                (void)rtmp_codec_u(&b, 4);
            }
        }
    }
    uint32_t wbits = rtmp_codec_u(&b, 4) + 1, hbits = rtmp_codec_u(&b, 4) + 1;
    uint64_t w = (uint64_t)rtmp_codec_u(&b, wbits) + 1;
    uint64_t h = (uint64_t)rtmp_codec_u(&b, hbits) + 1;
    if (b.bad || w > 65536 || h > 65536) {
        return false;
    }
    c->width = (uint32_t)w;
    c->height = (uint32_t)h;
    return true;
}

rtmp_int_t rtmp_codec_parse_av1c(std::span<const u_char> rec, rtmp_codec_av1_config_t *c)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(rec);

    *c = rtmp_codec_av1_config_t{};
    if (rtmp_codec_be(&r, 1) != 0x81) { // marker 1, version 1
        return RTMP_ERROR;
    }
    uint32_t b = rtmp_codec_be(&r, 1);
    c->seq_profile = (uint8_t)(b >> 5);
    c->seq_level_idx = (uint8_t)(b & 0x1f);
    b = rtmp_codec_be(&r, 1);
    c->seq_tier = (uint8_t)(b >> 7);
    c->bit_depth = (b & 0x40) ? ((b & 0x20) ? 12 : 10) : 8;
    c->monochrome = (uint8_t)((b >> 4) & 1);
    c->subsampling_x = (uint8_t)((b >> 3) & 1);
    c->subsampling_y = (uint8_t)((b >> 2) & 1);
    rtmp_codec_skip(&r, 1); // initial_presentation_delay
    if (r.bad) {
        return RTMP_ERROR;
    }

    // configOBUs: AV1 spec 5.3 obu_header, leb128 size when has_size_field
    while (r.pos < r.n) {
        uint32_t h = rtmp_codec_be(&r, 1);
        if (h & 0x04) {
            rtmp_codec_skip(&r, 1); // obu_extension_header
        }
        uint64_t size = r.n - r.pos;
        if (h & 0x02) {
            size = 0;
            for (uint32_t i = 0;; i++) {
                uint32_t x = rtmp_codec_be(&r, 1);
                if (r.bad || i == 8) {
                    return RTMP_OK; // configOBUs are optional; a broken one is ignored
                }
                size |= (uint64_t)(x & 0x7f) << (7 * i);
                if (!(x & 0x80)) {
                    break;
                }
            }
        }
        if (r.bad || size > r.n - r.pos) {
            break;
        }
        if (((h >> 3) & 0x0f) == 1) { // OBU_SEQUENCE_HEADER
            (void)rtmp_codec_av1_seq(std::span<const u_char>(r.p + r.pos, size), c);
            break;
        }
        r.pos += size;
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_codec_parse_vpcc(std::span<const u_char> rec, rtmp_codec_vp9_config_t *c)
{
    rtmp_codec_rd_t r = rtmp_codec_rd(rec);

    *c = rtmp_codec_vp9_config_t{};
    if (rtmp_codec_be(&r, 1) != 1) { // FullBox version 1
        return RTMP_ERROR;
    }
    rtmp_codec_skip(&r, 3); // flags
    c->profile = (uint8_t)rtmp_codec_be(&r, 1);
    c->level = (uint8_t)rtmp_codec_be(&r, 1);
    uint32_t b = rtmp_codec_be(&r, 1);
    c->bit_depth = (uint8_t)(b >> 4);
    c->chroma_subsampling = (uint8_t)((b >> 1) & 0x07);
    c->full_range = (uint8_t)(b & 1);
    rtmp_codec_skip(&r, 3);                    // colour primaries, transfer, matrix
    rtmp_codec_skip(&r, rtmp_codec_be(&r, 2)); // codecInitializationData
    return r.bad ? RTMP_ERROR : RTMP_OK;
}

// ---- AAC -------------------------------------------------------------------------------

// ISO 14496-3 1.6.3.4 samplingFrequencyIndex; 13 and 14 are reserved.
static constexpr uint32_t rtmp_codec_aac_rates[13] = {
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
};

rtmp_int_t rtmp_codec_parse_aac_config(std::span<const u_char> asc, rtmp_codec_aac_config_t *c)
{
    rtmp_codec_bits_t b = rtmp_codec_bits(asc, false);

    *c = rtmp_codec_aac_config_t{};
    uint32_t type = rtmp_codec_u(&b, 5);
    if (type == 31) { // escape: 32 + audioObjectTypeExt
        type = 32 + rtmp_codec_u(&b, 6);
    }
    c->object_type = (uint8_t)type;
    c->sampling_index = (uint8_t)rtmp_codec_u(&b, 4);
    if (c->sampling_index == 15) {
        c->sample_rate = rtmp_codec_u(&b, 24);
    } else if (c->sampling_index < rtmp_nelems(rtmp_codec_aac_rates)) {
        c->sample_rate = rtmp_codec_aac_rates[c->sampling_index];
    }
    c->channel_config = (uint8_t)rtmp_codec_u(&b, 4);
    return b.bad || type == 0 || c->sample_rate == 0 ? RTMP_ERROR : RTMP_OK;
}

// ---- metadata --------------------------------------------------------------------------

// An AMF0 string at *pos (short form only: handler names are short); false otherwise.
static bool rtmp_codec_amf_string(std::span<const u_char> p, size_t *pos, std::string_view *s)
{
    if (p.size() - *pos < 3 || p[*pos] != RTMP_AMF0_STRING) {
        return false;
    }
    size_t len = (size_t)p[*pos + 1] << 8 | p[*pos + 2];
    if (p.size() - *pos - 3 < len) {
        return false;
    }
    *s = std::string_view(reinterpret_cast<const char *>(p.data() + *pos + 3), len);
    *pos += 3 + len;
    return true;
}

rtmp_codec_data rtmp_codec_data_kind(uint8_t type, std::span<const u_char> payload)
{
    size_t pos = 0;
    std::string_view s;

    // RTMP 1.0 spec 7.1.2: an AMF3 data message leads with a format byte
    if (type == RTMP_MSG_AMF3_META && !payload.empty() && payload[0] == 0) {
        pos = 1;
    } else if (type != RTMP_MSG_AMF_META && type != RTMP_MSG_AMF3_META) {
        return rtmp_codec_data::pass_through;
    }
    if (!rtmp_codec_amf_string(payload, &pos, &s)) {
        return rtmp_codec_data::pass_through;
    }
    if (s == "onMetaData") {
        return rtmp_codec_data::on_meta_data;
    }
    // FMS data keyframes: @setDataFrame names the handler the server keeps
    // and replays; only onMetaData matters to players joining late.
    if (s == "@setDataFrame" && rtmp_codec_amf_string(payload, &pos, &s) && s == "onMetaData") {
        return rtmp_codec_data::set_data_frame;
    }
    return rtmp_codec_data::pass_through;
}

// A codec id from onMetaData: the FLV number, or Enhanced RTMP's FourCC as a
// number or (from some encoders) as a four-character string.
static bool rtmp_codec_meta_codecid(const rtmp_amf_value_t *obj, std::string_view key, double *out)
{
    rtmp_str_t s;
    if (rtmp_amf_get_number(obj, key, out)) {
        return true;
    }
    if (rtmp_amf_get_string(obj, key, &s) && s.len == 4) {
        *out = (double)((uint32_t)s.data[0] << 24 | (uint32_t)s.data[1] << 16 |
                        (uint32_t)s.data[2] << 8 | s.data[3]);
        return true;
    }
    return false;
}

rtmp_int_t rtmp_codec_parse_metadata(rtmp_pool_t *pool, uint8_t type,
                                     std::span<const u_char> payload,
                                     const rtmp_amf_limits_t *limits, rtmp_codec_meta_t *m,
                                     const char **err)
{
    rtmp_amf_value_t *v;
    uint32_t n;

    *m = rtmp_codec_meta_t{};
    *err = nullptr;
    rtmp_codec_data kind = rtmp_codec_data_kind(type, payload);
    if (kind == rtmp_codec_data::pass_through) {
        return RTMP_OK;
    }
    if (rtmp_amf_decode_message(pool, type, payload, limits, &v, &n, err) != RTMP_OK) {
        return RTMP_ERROR;
    }
    uint32_t i = kind == rtmp_codec_data::set_data_frame ? 2 : 1;
    if (i >= n || (v[i].type != rtmp_amf_type::object && v[i].type != rtmp_amf_type::ecma_array)) {
        return RTMP_OK; // no properties to give players: leave the message alone
    }
    m->kind = kind;
    m->object = &v[i];

    struct {
        std::string_view key;
        uint32_t bit;
        double *out;
    } fields[] = {
        {"width", RTMP_CODEC_META_WIDTH, &m->width},
        {"height", RTMP_CODEC_META_HEIGHT, &m->height},
        {"framerate", RTMP_CODEC_META_FRAMERATE, &m->framerate},
        {"videodatarate", RTMP_CODEC_META_VIDEODATARATE, &m->videodatarate},
        {"audiodatarate", RTMP_CODEC_META_AUDIODATARATE, &m->audiodatarate},
    };
    for (const auto &f : fields) {
        if (rtmp_amf_get_number(m->object, f.key, f.out)) {
            m->has |= f.bit;
        }
    }
    if (rtmp_codec_meta_codecid(m->object, "videocodecid", &m->videocodecid)) {
        m->has |= RTMP_CODEC_META_VIDEOCODECID;
    }
    if (rtmp_codec_meta_codecid(m->object, "audiocodecid", &m->audiocodecid)) {
        m->has |= RTMP_CODEC_META_AUDIOCODECID;
    }
    return RTMP_OK;
}

static const rtmp_amf_prop_t *rtmp_codec_find_prop(const rtmp_amf_prop_t *props, uint32_t n,
                                                   const rtmp_str_t *key)
{
    for (uint32_t i = 0; i < n; i++) {
        if (props[i].key.sv() == key->sv()) {
            return &props[i];
        }
    }
    return nullptr;
}

// An AMF3 reference points into the table of the one AMF3 value it came in;
// written property by property each value gets a table of its own, so such
// a reference would point at something else or nothing.
static bool rtmp_codec_amf3_refs(const rtmp_amf_value_t *v, uint32_t depth)
{
    if (depth > 64) {
        return true;
    }
    switch (v->type) {
    case rtmp_amf_type::reference:
        return v->marker != 0;
    case rtmp_amf_type::object:
    case rtmp_amf_type::typed_object:
    case rtmp_amf_type::ecma_array:
    case rtmp_amf_type::strict_array:
        for (uint32_t i = 0; i < v->nprops; i++) {
            if (rtmp_codec_amf3_refs(&v->props[i].value, depth + 1)) {
                return true;
            }
        }
        for (uint32_t i = 0; i < v->nitems; i++) {
            if (rtmp_codec_amf3_refs(&v->items[i], depth + 1)) {
                return true;
            }
        }
        return false;
    default:
        return false;
    }
}

rtmp_int_t rtmp_codec_write_metadata(rtmp_buf_t *b, const rtmp_codec_meta_t *m,
                                     const rtmp_amf_prop_t *extra, uint32_t nextra)
{
    const rtmp_amf_value_t *o = m->object;

    if (m->kind == rtmp_codec_data::pass_through || o == nullptr) {
        return RTMP_ERROR;
    }
    if (o->amf3 && rtmp_codec_amf3_refs(o, 0)) {
        return RTMP_DECLINED;
    }
    if (rtmp_amf0_write_string(b, "onMetaData") != RTMP_OK) {
        return RTMP_ERROR;
    }

    // the container type is kept: ffmpeg sends an ECMA array, others objects
    if (o->type == rtmp_amf_type::ecma_array) {
        uint32_t count = o->nprops;
        for (uint32_t i = 0; i < nextra; i++) {
            if (rtmp_codec_find_prop(o->props, o->nprops, &extra[i].key) == nullptr) {
                count++;
            }
        }
        // AMF0 2.10: the count is only a hint to readers, but keep it true
        if (rtmp_buf_free(b) < 5) {
            return RTMP_ERROR;
        }
        *b->last++ = RTMP_AMF0_ECMA_ARRAY;
        *b->last++ = (u_char)(count >> 24);
        *b->last++ = (u_char)(count >> 16);
        *b->last++ = (u_char)(count >> 8);
        *b->last++ = (u_char)count;
    } else if (rtmp_amf0_write_object_start(b) != RTMP_OK) {
        return RTMP_ERROR;
    }

    for (uint32_t i = 0; i < o->nprops; i++) {
        const rtmp_amf_prop_t *p = &o->props[i];
        const rtmp_amf_prop_t *x = rtmp_codec_find_prop(extra, nextra, &p->key);
        if (rtmp_amf0_write_key(b, p->key.sv()) != RTMP_OK ||
            rtmp_amf0_encode(b, x ? &x->value : &p->value) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    for (uint32_t i = 0; i < nextra; i++) {
        if (rtmp_codec_find_prop(o->props, o->nprops, &extra[i].key) == nullptr &&
            (rtmp_amf0_write_key(b, extra[i].key.sv()) != RTMP_OK ||
             rtmp_amf0_encode(b, &extra[i].value) != RTMP_OK)) {
            return RTMP_ERROR;
        }
    }
    return rtmp_amf0_write_object_end(b);
}

// ---- classification --------------------------------------------------------------------

rtmp_codec_info_t rtmp_codec_classify(const rtmp_message_t *m)
{
    rtmp_codec_info_t ci{};

    switch (m->h.type) {
    case RTMP_MSG_VIDEO: {
        rtmp_codec_video_t v;
        ci.kind = rtmp_codec_kind::video;
        ci.malformed = rtmp_codec_parse_video(m->payload, &v) != RTMP_OK;
        ci.codec = v.codec;
        ci.frame_type = v.frame_type;
        if (ci.malformed) {
            break;
        }
        ci.is_sequence_header = v.is_sequence_header;
        ci.is_key_frame = v.is_key_frame;
        ci.is_end_of_sequence = v.is_end_of_sequence;
        ci.is_command = v.is_command;
        ci.is_config = v.is_metadata;
        // the frame type is in the first byte whatever the codec, so frames of
        // codecs we do not know are dropped by the same rule
        ci.droppable =
            !v.is_sequence_header && !v.is_end_of_sequence && !v.is_command && !v.is_metadata &&
            (v.frame_type == RTMP_CODEC_FRAME_INTER || v.frame_type == RTMP_CODEC_FRAME_DISPOSABLE);
        break;
    }
    case RTMP_MSG_AUDIO: {
        rtmp_codec_audio_t a;
        ci.kind = rtmp_codec_kind::audio;
        ci.malformed = rtmp_codec_parse_audio(m->payload, &a) != RTMP_OK;
        ci.codec = a.codec;
        if (ci.malformed) {
            break;
        }
        ci.is_sequence_header = a.is_sequence_header;
        ci.is_end_of_sequence = a.is_end_of_sequence;
        ci.is_config = a.is_multichannel_config;
        break;
    }
    case RTMP_MSG_AMF_META:
    case RTMP_MSG_AMF3_META:
        ci.kind = rtmp_codec_kind::data;
        ci.is_metadata =
            rtmp_codec_data_kind(m->h.type, m->payload) != rtmp_codec_data::pass_through;
        break;
    default:
        break;
    }
    return ci;
}
