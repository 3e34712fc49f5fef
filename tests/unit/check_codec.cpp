// Unit tests for codec awareness: real ffmpeg tags, hand-built Enhanced RTMP headers, truncation.
#include <check.h>
#include <cstdio>

#include "core/rtmp_log.h"
#include "test_util.h"
#include "rtmp/rtmp_codec.h"

static rtmp_pool_t *pool;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

// Hex digits to bytes in the pool; anything else is ignored.
static std::span<const u_char> hex(const char *h)
{
    return rtmp_test_hex(pool, h);
}

// Tag payloads made by tests/data/codec/make_vectors.py (see the README there).
static std::span<const u_char> load(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "tests/data/codec/%s.bin", name);
    return rtmp_test_file(pool, path);
}

// Joins byte spans (for payloads with a FourCC or a long run in the middle).
static std::span<const u_char> cat(std::span<const u_char> a, std::span<const u_char> b)
{
    u_char *p = static_cast<u_char *>(rtmp_pnalloc(pool, a.size() + b.size() + 1));
    memcpy(p, a.data(), a.size());
    memcpy(p + a.size(), b.data(), b.size());
    return {p, a.size() + b.size()};
}

static std::span<const u_char> str(const char *s)
{
    return {reinterpret_cast<const u_char *>(s), strlen(s)};
}

static rtmp_codec_video_t video(std::span<const u_char> in, rtmp_int_t want = RTMP_OK)
{
    rtmp_codec_video_t v;
    ck_assert_int_eq(rtmp_codec_parse_video(in, &v), want);
    if (want == RTMP_OK) {
        ck_assert_uint_le(v.header_len, in.size());
        ck_assert_uint_le((size_t)v.header_len + v.data_len, in.size());
    }
    return v;
}

static rtmp_codec_audio_t audio(std::span<const u_char> in, rtmp_int_t want = RTMP_OK)
{
    rtmp_codec_audio_t a;
    ck_assert_int_eq(rtmp_codec_parse_audio(in, &a), want);
    if (want == RTMP_OK) {
        ck_assert_uint_le(a.header_len, in.size());
        ck_assert_uint_le((size_t)a.header_len + a.data_len, in.size());
    }
    return a;
}

static std::span<const u_char> body(std::span<const u_char> in, uint32_t off)
{
    return in.subspan(off);
}

START_TEST(test_codec_video_avc)
{
    std::span<const u_char> in = load("avc_seq");
    rtmp_codec_video_t v = video(in);
    ck_assert(v.codec == rtmp_codec_id::avc);
    ck_assert(!v.enhanced);
    ck_assert_uint_eq(v.codec_id, 7);
    ck_assert_uint_eq(v.frame_type, RTMP_CODEC_FRAME_KEY);
    ck_assert(v.is_sequence_header);
    ck_assert(!v.is_key_frame); // a sequence header with the key frame type is not a frame
    ck_assert_uint_eq(v.header_len, 5);
    ck_assert_uint_eq(v.data_len, in.size() - 5);

    in = load("avc_key");
    v = video(in);
    ck_assert(v.is_key_frame && !v.is_sequence_header && !v.is_end_of_sequence);
    ck_assert_uint_eq(v.packet_type, RTMP_CODEC_AVC_NALU);
    ck_assert_int_eq(v.cts, 80); // x264 B-frames: two frames of reordering at 25 fps
    ck_assert_uint_eq(v.header_len, 5);

    v = video(load("avc_inter"));
    ck_assert_uint_eq(v.frame_type, RTMP_CODEC_FRAME_INTER);
    ck_assert(!v.is_key_frame);
    ck_assert_int_eq(v.cts, 200);

    v = video(load("avc_eos"));
    ck_assert(v.is_end_of_sequence && !v.is_key_frame && !v.is_sequence_header);
    ck_assert_uint_eq(v.data_len, 0);

    // SI24 composition time is signed (FLV spec v10.1 E.4.3.1)
    v = video(hex("27 01 ff ff fe 00"));
    ck_assert_int_eq(v.cts, -2);

    // codec id 12: HEVC in the AVC layout, as Chinese CDNs send it
    v = video(load("hevc_legacy_seq"));
    ck_assert(v.codec == rtmp_codec_id::hevc && v.is_sequence_header && !v.enhanced);
    ck_assert_uint_eq(v.header_len, 5);

    // the AVC header cut short is an error; the codec is still reported
    v = video(hex("17 01 00 00"), RTMP_ERROR);
    ck_assert(v.codec == rtmp_codec_id::avc);
    video(hex(""), RTMP_ERROR);
}
END_TEST

START_TEST(test_codec_video_legacy)
{
    rtmp_codec_video_t v = video(load("h263_key"));
    ck_assert(v.codec == rtmp_codec_id::h263);
    ck_assert(v.is_key_frame && !v.is_sequence_header);
    ck_assert_uint_eq(v.header_len, 1);

    v = video(hex("32 00 00 84"));
    ck_assert_uint_eq(v.frame_type, RTMP_CODEC_FRAME_DISPOSABLE);
    ck_assert(!v.is_key_frame);

    // VP6: one adjustment byte; VP6 alpha: that and a UI24 OffsetToAlpha (E.4.3.2/3)
    v = video(hex("14 00 aa bb"));
    ck_assert(v.codec == rtmp_codec_id::vp6 && v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 2);
    v = video(hex("25 00 00 00 02 aa bb cc"));
    ck_assert(v.codec == rtmp_codec_id::vp6a && !v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 5);
    video(hex("25 00 00 00"), RTMP_ERROR);
    video(hex("14"), RTMP_ERROR);

    // generated key frames (4) are key frames for a joining player
    v = video(hex("42 00"));
    ck_assert(v.is_key_frame);

    // command frames carry one UI8, after the AVC header for AVC
    v = video(hex("52 01"));
    ck_assert(v.is_command && !v.is_key_frame);
    ck_assert_uint_eq(v.command, 1);
    v = video(hex("57 01 00 00 00 00"));
    ck_assert(v.is_command && !v.is_key_frame && v.codec == rtmp_codec_id::avc);
    ck_assert_uint_eq(v.command, 0);
    ck_assert_uint_eq(v.header_len, 6);
    video(hex("57 01 00 00 00"), RTMP_ERROR);

    // unknown and header-less codecs are forwarded as they are
    v = video(hex("1e 12 34"));
    ck_assert(v.codec == rtmp_codec_id::unknown);
    ck_assert_uint_eq(v.codec_id, 14);
    ck_assert_uint_eq(v.header_len, 1);
    v = video(hex("10"));
    ck_assert(v.codec == rtmp_codec_id::unknown && v.is_key_frame);
    v = video(hex("13 00"));
    ck_assert(v.codec == rtmp_codec_id::screen);
}
END_TEST

START_TEST(test_codec_video_enhanced)
{
    std::span<const u_char> in = load("hevc_seq");
    rtmp_codec_video_t v = video(in);
    ck_assert(v.enhanced && v.codec == rtmp_codec_id::hevc);
    ck_assert_uint_eq(v.fourcc, rtmp_codec_fourcc("hvc1"));
    ck_assert(v.is_sequence_header && !v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 5);
    ck_assert_uint_eq(v.codec_id, 0);

    v = video(load("hevc_key"));
    ck_assert(v.is_key_frame);
    ck_assert_uint_eq(v.packet_type, RTMP_CODEC_VIDEO_CODED_FRAMES);
    ck_assert_uint_eq(v.header_len, 8); // hvc1 CodedFrames carry SI24 composition time

    v = video(load("hevc_inter_x"));
    ck_assert(!v.is_key_frame && v.frame_type == RTMP_CODEC_FRAME_INTER);
    ck_assert_uint_eq(v.packet_type, RTMP_CODEC_VIDEO_CODED_FRAMES_X);
    ck_assert_uint_eq(v.header_len, 5);
    ck_assert_int_eq(v.cts, 0);

    v = video(load("av1_seq"));
    ck_assert(v.codec == rtmp_codec_id::av1 && v.is_sequence_header);
    v = video(load("av1_key"));
    ck_assert(v.codec == rtmp_codec_id::av1 && v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 5); // no composition time for av01
    v = video(load("vp9_seq"));
    ck_assert(v.codec == rtmp_codec_id::vp9 && v.is_sequence_header);
    v = video(load("vp9_inter"));
    ck_assert(v.codec == rtmp_codec_id::vp9 && !v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 5);

    // avc1 in enhanced form, negative composition time
    v = video(cat(cat(hex("91"), str("avc1")), hex("ff ff ff 00 00 00 01")));
    ck_assert(v.codec == rtmp_codec_id::avc && v.is_key_frame);
    ck_assert_int_eq(v.cts, -1);
    ck_assert_uint_eq(v.header_len, 8);
    video(cat(hex("91"), str("avc1")), RTMP_ERROR);
    video(cat(hex("91"), str("hvc")), RTMP_ERROR);

    // SequenceEnd, MPEG2TSSequenceStart, Metadata (whose frame type 5 is no command)
    v = video(cat(hex("92"), str("av01")));
    ck_assert(v.is_end_of_sequence && !v.is_key_frame);
    v = video(cat(hex("95"), str("av01")));
    ck_assert(v.is_sequence_header);
    v = video(cat(cat(hex("d4"), str("hvc1")), hex("02 00 09 63 6f 6c 6f 72 49 6e 66 6f")));
    ck_assert(v.is_metadata && !v.is_command && !v.is_key_frame);
    ck_assert_uint_eq(v.header_len, 5);

    // a command frame has just the VideoCommand: no FourCC
    v = video(hex("d1 01"));
    ck_assert(v.is_command && !v.is_key_frame);
    ck_assert_uint_eq(v.command, 1);
    ck_assert_uint_eq(v.fourcc, 0);
    ck_assert_uint_eq(v.header_len, 2);
    video(hex("d1"), RTMP_ERROR);

    // unknown FourCC: the frame type still says what it is
    v = video(cat(cat(hex("a1"), str("vvc1")), hex("00 11 22")));
    ck_assert(v.codec == rtmp_codec_id::unknown && v.enhanced);
    ck_assert_uint_eq(v.fourcc, rtmp_codec_fourcc("vvc1"));
    ck_assert_uint_eq(v.header_len, 5);
    ck_assert_uint_eq(v.frame_type, RTMP_CODEC_FRAME_INTER);
    // an audio FourCC is no video codec
    v = video(cat(hex("90"), str("mp4a")));
    ck_assert(v.codec == rtmp_codec_id::unknown);
    // reserved packet types are forwarded with nothing claimed
    v = video(cat(hex("9c"), str("av01")));
    ck_assert(!v.is_key_frame && !v.is_sequence_header);
}
END_TEST

START_TEST(test_codec_video_modex_multitrack)
{
    // ModEx TimestampOffsetNano (3 bytes), then CodedFrames of hvc1
    rtmp_codec_video_t v =
        video(cat(cat(hex("97 02 00 01 02 01"), str("hvc1")), hex("00 00 10 aa bb")));
    ck_assert(v.is_key_frame && v.codec == rtmp_codec_id::hevc);
    ck_assert_int_eq(v.cts, 16);
    ck_assert_uint_eq(v.header_len, 13);
    ck_assert_uint_eq(v.data_len, 2);

    // a 256-byte ModEx uses the UI16 escape; ModEx may chain
    u_char big[260] = {0xff, 0x00, 0xff};
    std::span<const u_char> in = cat(hex("a7"), std::span<const u_char>(big, 3 + 256));
    in = cat(in, hex("07 00 00 03"));
    in = cat(cat(in, str("av01")), hex("99"));
    v = video(in);
    ck_assert_uint_eq(v.packet_type, RTMP_CODEC_VIDEO_CODED_FRAMES_X);
    ck_assert(v.codec == rtmp_codec_id::av1 && !v.is_key_frame);
    ck_assert_uint_eq(v.data_len, 1);
    video(hex("97 02 00 01"), RTMP_ERROR);
    video(hex("97"), RTMP_ERROR);

    // OneTrack: packet type and FourCC for all, then the track id; no size
    v = video(cat(cat(hex("96 01"), str("hvc1")), hex("05 00 00 00 aa")));
    ck_assert(v.multitrack && v.is_key_frame && v.codec == rtmp_codec_id::hevc);
    ck_assert_uint_eq(v.multitrack_type, RTMP_CODEC_ONE_TRACK);
    ck_assert_uint_eq(v.track_id, 5);
    ck_assert_uint_eq(v.header_len, 10);
    ck_assert_uint_eq(v.data_len, 1);

    // ManyTracks: a UI24 size per track; data_len is the first track's
    v = video(cat(cat(hex("a6 13"), str("av01")), hex("00 00 00 02 aa bb 01 00 00 01 cc")));
    ck_assert(v.multitrack && !v.is_key_frame && v.codec == rtmp_codec_id::av1);
    ck_assert_uint_eq(v.header_len, 10);
    ck_assert_uint_eq(v.data_len, 2);
    video(cat(cat(hex("a6 13"), str("av01")), hex("00 00 00 09 aa")), RTMP_ERROR);

    // ManyTracksManyCodecs: the first track's own FourCC; avc1 frames keep their cts
    v = video(cat(cat(hex("96 21"), str("avc1")), hex("02 00 00 05 00 00 28 aa bb")));
    ck_assert(v.codec == rtmp_codec_id::avc && v.is_key_frame);
    ck_assert_uint_eq(v.multitrack_type, RTMP_CODEC_MANY_TRACKS_MANY_CODECS);
    ck_assert_uint_eq(v.track_id, 2);
    ck_assert_int_eq(v.cts, 40);
    ck_assert_uint_eq(v.header_len, 13);
    ck_assert_uint_eq(v.data_len, 2);
    video(cat(cat(hex("96 21"), str("avc1")), hex("02 00 00 02 00 00")), RTMP_ERROR);

    v = video(cat(cat(hex("96 20"), str("hvc1")), hex("00 00 00 00")));
    ck_assert(v.is_sequence_header && v.multitrack);
    ck_assert_uint_eq(v.data_len, 0);

    video(hex("96 06"), RTMP_ERROR);                                 // nested multitrack
    video(cat(hex("96 31"), str("hvc1")), RTMP_ERROR);               // reserved type
    video(cat(cat(hex("96 01"), str("hvc1")), hex("")), RTMP_ERROR); // no track id
}
END_TEST

START_TEST(test_codec_audio)
{
    std::span<const u_char> in = load("aac_seq");
    rtmp_codec_audio_t a = audio(in);
    ck_assert(a.codec == rtmp_codec_id::aac && a.is_sequence_header && !a.enhanced);
    ck_assert_uint_eq(a.header_len, 2);
    ck_assert_uint_eq(a.sound_rate, 3);
    ck_assert_uint_eq(a.sound_size, 1);
    ck_assert_uint_eq(a.sound_type, 1);
    rtmp_codec_aac_config_t c;
    ck_assert_int_eq(rtmp_codec_parse_aac_config(body(in, a.header_len), &c), RTMP_OK);
    ck_assert_uint_eq(c.object_type, 2);
    ck_assert_uint_eq(c.sampling_index, 4);
    ck_assert_uint_eq(c.sample_rate, 44100);
    ck_assert_uint_eq(c.channel_config, 1);

    a = audio(load("aac_raw"));
    ck_assert(!a.is_sequence_header);
    ck_assert_uint_eq(a.packet_type, 1);
    audio(hex("af"), RTMP_ERROR);
    audio(hex(""), RTMP_ERROR);

    a = audio(load("mp3_frame"));
    ck_assert(a.codec == rtmp_codec_id::mp3 && !a.is_sequence_header);
    ck_assert_uint_eq(a.header_len, 1);
    ck_assert_uint_eq(a.sound_type, 0);

    struct {
        const char *h;
        rtmp_codec_id id;
    } legacy[] = {
        {"1e", rtmp_codec_id::adpcm},    {"72 d5", rtmp_codec_id::g711a},
        {"82 ff", rtmp_codec_id::g711u}, {"b6 00", rtmp_codec_id::speex},
        {"3e", rtmp_codec_id::pcm_le},   {"6e", rtmp_codec_id::nellymoser},
        {"e2", rtmp_codec_id::mp3_8k},   {"c2 00", rtmp_codec_id::unknown},
        {"d2", rtmp_codec_id::unknown},
    };
    for (const auto &l : legacy) {
        a = audio(hex(l.h));
        ck_assert_msg(a.codec == l.id, "%s", l.h);
        ck_assert_uint_eq(a.header_len, 1);
    }
}
END_TEST

START_TEST(test_codec_audio_enhanced)
{
    rtmp_codec_audio_t a = audio(load("opus_seq"));
    ck_assert(a.enhanced && a.codec == rtmp_codec_id::opus && a.is_sequence_header);
    ck_assert_uint_eq(a.sound_format, 9);
    ck_assert_uint_eq(a.header_len, 5);
    a = audio(load("opus_frame"));
    ck_assert(!a.is_sequence_header);
    ck_assert_uint_eq(a.packet_type, RTMP_CODEC_AUDIO_CODED_FRAMES);
    a = audio(load("flac_seq"));
    ck_assert(a.codec == rtmp_codec_id::flac && a.is_sequence_header);

    std::span<const u_char> in = load("mp4a_seq");
    a = audio(in);
    ck_assert(a.codec == rtmp_codec_id::aac && a.is_sequence_header);
    rtmp_codec_aac_config_t c;
    ck_assert_int_eq(rtmp_codec_parse_aac_config(body(in, a.header_len), &c), RTMP_OK);
    ck_assert_uint_eq(c.sample_rate, 44100);

    ck_assert(audio(cat(hex("91"), str("ac-3"))).codec == rtmp_codec_id::ac3);
    ck_assert(audio(cat(hex("91"), str("ec-3"))).codec == rtmp_codec_id::eac3);
    ck_assert(audio(cat(hex("91"), str(".mp3"))).codec == rtmp_codec_id::mp3);
    ck_assert(audio(cat(hex("91"), str("avc1"))).codec == rtmp_codec_id::unknown);
    a = audio(cat(hex("91"), str("zzzz")));
    ck_assert(a.codec == rtmp_codec_id::unknown);
    ck_assert_uint_eq(a.fourcc, rtmp_codec_fourcc("zzzz"));

    a = audio(cat(cat(hex("94"), str("Opus")), hex("01 02 00 00 00 03")));
    ck_assert(a.is_multichannel_config && !a.is_sequence_header);
    a = audio(cat(hex("92"), str("Opus")));
    ck_assert(a.is_end_of_sequence);

    // ModEx then Multitrack: ManyTracksManyCodecs, the first track's AAC config
    in = cat(cat(hex("97 02 00 00 07 75 20"), str("mp4a")), hex("00 00 00 02 12 08"));
    a = audio(in);
    ck_assert(a.multitrack && a.is_sequence_header && a.codec == rtmp_codec_id::aac);
    ck_assert_uint_eq(a.multitrack_type, RTMP_CODEC_MANY_TRACKS_MANY_CODECS);
    ck_assert_uint_eq(a.header_len, 15);
    ck_assert_uint_eq(a.data_len, 2);
    ck_assert_int_eq(rtmp_codec_parse_aac_config(body(in, a.header_len), &c), RTMP_OK);

    a = audio(cat(cat(hex("95 01"), str("Opus")), hex("03 fc")));
    ck_assert(a.multitrack && a.codec == rtmp_codec_id::opus);
    ck_assert_uint_eq(a.track_id, 3);
    ck_assert_uint_eq(a.data_len, 1);

    audio(hex("95 05"), RTMP_ERROR);
    audio(cat(hex("90"), str("Opu")), RTMP_ERROR);
    audio(hex("97 00"), RTMP_ERROR);
}
END_TEST

START_TEST(test_codec_configs)
{
    rtmp_codec_video_t v;
    rtmp_codec_avc_config_t avc;

    struct {
        const char *file;
        uint8_t profile, level, chroma;
        uint32_t w, h;
    } avcs[] = {
        {"avc_seq", 244, 13, 3, 320, 240}, // testsrc is RGB: x264 picks High 4:4:4
        {"avc420_seq", 100, 13, 1, 320, 240},
        {"avc1080_seq", 100, 40, 1, 1920, 1080}, // 1088 coded lines, cropped
    };
    for (const auto &t : avcs) {
        std::span<const u_char> in = load(t.file);
        ck_assert_int_eq(rtmp_codec_parse_video(in, &v), RTMP_OK);
        ck_assert_int_eq(rtmp_codec_parse_avcc(body(in, v.header_len), &avc), RTMP_OK);
        ck_assert_uint_eq(avc.profile, t.profile);
        ck_assert_uint_eq(avc.level, t.level);
        ck_assert_uint_eq(avc.nal_length_size, 4);
        ck_assert_uint_eq(avc.nsps, 1);
        ck_assert_uint_eq(avc.npps, 1);
        ck_assert_uint_eq(avc.chroma_format, t.chroma);
        ck_assert_uint_eq(avc.bit_depth, 8);
        ck_assert_uint_eq(avc.width, t.w);
        ck_assert_uint_eq(avc.height, t.h);
    }
    // a broken SPS leaves the size unknown but the record readable
    ck_assert_int_eq(rtmp_codec_parse_avcc(hex("01 42 c0 1e ff e1 00 02 67 42 00"), &avc), RTMP_OK);
    ck_assert_uint_eq(avc.profile, 66);
    ck_assert_uint_eq(avc.width, 0);
    ck_assert_int_eq(rtmp_codec_parse_avcc(hex("01 42 c0 1e ff e1 00 05 67 42"), &avc), RTMP_ERROR);
    ck_assert_int_eq(rtmp_codec_parse_avcc(hex("00 42 c0 1e ff e0 00"), &avc), RTMP_ERROR);

    std::span<const u_char> in = load("hevc_seq");
    rtmp_codec_hevc_config_t hevc;
    ck_assert_int_eq(rtmp_codec_parse_hvcc(body(in, 5), &hevc), RTMP_OK);
    ck_assert_uint_eq(hevc.profile, 1); // Main
    ck_assert_uint_eq(hevc.tier, 0);
    ck_assert_uint_eq(hevc.level, 60); // 2.0
    ck_assert_uint_eq(hevc.nal_length_size, 4);
    ck_assert_uint_eq(hevc.chroma_format, 1);
    ck_assert_uint_eq(hevc.bit_depth, 8);
    ck_assert_uint_eq(hevc.narrays, 4); // VPS, SPS, PPS, prefix SEI
    ck_assert_uint_eq(hevc.width, 320);
    ck_assert_uint_eq(hevc.height, 240);
    in = load("hevc_legacy_seq");
    ck_assert_int_eq(rtmp_codec_parse_hvcc(body(in, 5), &hevc), RTMP_OK);
    ck_assert_uint_eq(hevc.width, 320);

    in = load("av1_seq");
    rtmp_codec_av1_config_t av1;
    ck_assert_int_eq(rtmp_codec_parse_av1c(body(in, 5), &av1), RTMP_OK);
    ck_assert_uint_eq(av1.seq_profile, 0);
    ck_assert_uint_eq(av1.seq_level_idx, 0);
    ck_assert_uint_eq(av1.bit_depth, 8);
    ck_assert_uint_eq(av1.subsampling_x, 1);
    ck_assert_uint_eq(av1.subsampling_y, 1);
    ck_assert_uint_eq(av1.width, 320);
    ck_assert_uint_eq(av1.height, 240);
    // no configOBUs: still a record, size unknown
    ck_assert_int_eq(rtmp_codec_parse_av1c(hex("81 08 0c 00"), &av1), RTMP_OK);
    ck_assert_uint_eq(av1.seq_level_idx, 8);
    ck_assert_uint_eq(av1.width, 0);
    ck_assert_int_eq(rtmp_codec_parse_av1c(hex("01 08 0c 00"), &av1), RTMP_ERROR);
    ck_assert_int_eq(rtmp_codec_parse_av1c(hex("81 08 0c"), &av1), RTMP_ERROR);

    in = load("vp9_seq");
    rtmp_codec_vp9_config_t vp9;
    ck_assert_int_eq(rtmp_codec_parse_vpcc(body(in, 5), &vp9), RTMP_OK);
    ck_assert_uint_eq(vp9.profile, 0);
    ck_assert_uint_eq(vp9.level, 20);
    ck_assert_uint_eq(vp9.bit_depth, 8);
    ck_assert_uint_eq(vp9.chroma_subsampling, 1);

    // AudioSpecificConfig: HE-AAC 48 kHz stereo; escaped object type and explicit rate
    rtmp_codec_aac_config_t c;
    ck_assert_int_eq(rtmp_codec_parse_aac_config(hex("29 90"), &c), RTMP_OK);
    ck_assert_uint_eq(c.object_type, 5);
    ck_assert_uint_eq(c.sample_rate, 48000); // index 3
    ck_assert_uint_eq(c.channel_config, 2);
    // 11111 000010 1111 <24 bits: 44100> 0010: object 34, explicit rate, stereo
    ck_assert_int_eq(rtmp_codec_parse_aac_config(hex("f8 5e 01 58 88 40"), &c), RTMP_OK);
    ck_assert_uint_eq(c.object_type, 34);
    ck_assert_uint_eq(c.sampling_index, 15);
    ck_assert_uint_eq(c.sample_rate, 44100);
    ck_assert_uint_eq(c.channel_config, 2);
    ck_assert_int_eq(rtmp_codec_parse_aac_config(hex("12"), &c), RTMP_ERROR);
    ck_assert_int_eq(rtmp_codec_parse_aac_config(hex("16 88"), &c), RTMP_ERROR); // index 13
}
END_TEST

// Every prefix of every vector: an error, or a result that stays inside the prefix.
START_TEST(test_codec_truncation)
{
    static const char *video_files[] = {
        "avc_seq",     "avc_key",  "avc_inter", "avc_eos",      "avc420_seq",
        "avc1080_seq", "hevc_seq", "hevc_key",  "hevc_inter_x", "hevc_legacy_seq",
        "av1_seq",     "av1_key",  "vp9_seq",   "vp9_inter",    "h263_key",
    };
    static const char *audio_files[] = {"aac_seq",    "aac_raw",  "mp3_frame", "opus_seq",
                                        "opus_frame", "flac_seq", "mp4a_seq"};

    for (const char *f : video_files) {
        std::span<const u_char> in = load(f);
        rtmp_codec_video_t full = video(in);
        for (size_t n = 0; n <= in.size(); n++) {
            rtmp_codec_video_t v;
            std::span<const u_char> part = in.first(n);
            // a copy at the end of its own allocation, so ASan sees any overread
            u_char *p = static_cast<u_char *>(rtmp_alloc(n ? n : 1));
            memcpy(p, part.data(), n);
            part = {p, n};
            rtmp_int_t rc = rtmp_codec_parse_video(part, &v);
            if (n < full.header_len) {
                ck_assert_msg(rc == RTMP_ERROR, "%s cut at %zu", f, n);
            } else {
                ck_assert_msg(rc == RTMP_OK, "%s cut at %zu", f, n);
                ck_assert_uint_eq(v.header_len, full.header_len);
                if (v.is_sequence_header) {
                    rtmp_codec_avc_config_t a;
                    rtmp_codec_hevc_config_t h;
                    rtmp_codec_av1_config_t o;
                    rtmp_codec_vp9_config_t x;
                    std::span<const u_char> rec = body(part, v.header_len);
                    rtmp_int_t rc2 =
                        v.codec == rtmp_codec_id::avc    ? rtmp_codec_parse_avcc(rec, &a)
                        : v.codec == rtmp_codec_id::hevc ? rtmp_codec_parse_hvcc(rec, &h)
                        : v.codec == rtmp_codec_id::av1  ? rtmp_codec_parse_av1c(rec, &o)
                                                         : rtmp_codec_parse_vpcc(rec, &x);
                    if (n < in.size() && v.codec != rtmp_codec_id::av1) {
                        // the records' NAL arrays run to their end (the AVC
                        // High profile tail of 4 bytes is optional)
                        ck_assert_msg(rc2 == RTMP_ERROR ||
                                          (v.codec == rtmp_codec_id::avc && n + 4 >= in.size()),
                                      "%s cut at %zu", f, n);
                    }
                    if (n == in.size()) {
                        ck_assert_int_eq(rc2, RTMP_OK);
                    }
                }
            }
            rtmp_free(p);
        }
    }
    for (const char *f : audio_files) {
        std::span<const u_char> in = load(f);
        rtmp_codec_audio_t full = audio(in);
        for (size_t n = 0; n <= in.size(); n++) {
            rtmp_codec_audio_t a;
            u_char *p = static_cast<u_char *>(rtmp_alloc(n ? n : 1));
            memcpy(p, in.data(), n);
            rtmp_int_t rc = rtmp_codec_parse_audio({p, n}, &a);
            ck_assert_msg(rc == (n < full.header_len ? RTMP_ERROR : RTMP_OK), "%s cut at %zu", f,
                          n);
            if (rc == RTMP_OK && a.codec == rtmp_codec_id::aac && a.is_sequence_header) {
                rtmp_codec_aac_config_t c;
                rtmp_int_t rc2 =
                    rtmp_codec_parse_aac_config({p + a.header_len, n - a.header_len}, &c);
                ck_assert_int_eq(rc2, n - a.header_len >= 2 ? RTMP_OK : RTMP_ERROR);
            }
            rtmp_free(p);
        }
    }
}
END_TEST

static bool same_hex(rtmp_buf_t *b, const char *h)
{
    std::span<const u_char> want = hex(h);
    return rtmp_buf_size(b) == want.size() && memcmp(b->pos, want.data(), want.size()) == 0;
}

static std::span<const u_char> span_of(rtmp_buf_t *b)
{
    return rtmp_buf_span(b);
}

START_TEST(test_codec_metadata)
{
    rtmp_codec_meta_t m;
    const char *err;

    // what ffmpeg publishes (@setDataFrame), and an FLV file's script tag
    std::span<const u_char> in = load("ffmpeg_set_data_frame");
    ck_assert(rtmp_codec_data_kind(18, in) == rtmp_codec_data::set_data_frame);
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, in, nullptr, &m, &err), RTMP_OK);
    ck_assert(m.kind == rtmp_codec_data::set_data_frame);
    ck_assert(m.object->type == rtmp_amf_type::ecma_array);
    ck_assert_uint_eq(m.has, RTMP_CODEC_META_WIDTH | RTMP_CODEC_META_HEIGHT |
                                 RTMP_CODEC_META_FRAMERATE | RTMP_CODEC_META_VIDEOCODECID |
                                 RTMP_CODEC_META_AUDIOCODECID | RTMP_CODEC_META_VIDEODATARATE |
                                 RTMP_CODEC_META_AUDIODATARATE);
    ck_assert(m.width == 160 && m.height == 120 && m.framerate == 10);
    ck_assert(m.videocodecid == 7 && m.audiocodecid == 10);

    // re-encoded with nothing added: exactly the message minus "@setDataFrame"
    rtmp_buf_t *b = rtmp_buf_create(pool, 1024);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, nullptr, 0), RTMP_OK);
    ck_assert_uint_eq(rtmp_buf_size(b), in.size() - 16);
    ck_assert(memcmp(b->pos, in.data() + 16, in.size() - 16) == 0);

    // too small a buffer at every size fails cleanly
    for (size_t n = 0; n < in.size() - 16; n++) {
        rtmp_buf_t *s = rtmp_buf_create(pool, n ? n : 1);
        s->end = s->start + n;
        ck_assert_int_eq(rtmp_codec_write_metadata(s, &m, nullptr, 0), RTMP_ERROR);
    }

    // a property replaced in place and one added; the ECMA count follows
    rtmp_amf_prop_t extra[] = {
        rtmp_amf_prop("encoder", rtmp_amf_string("rtmp_server")),
        rtmp_amf_prop("server", rtmp_amf_string("rtmp_server " RTMP_VERSION)),
    };
    rtmp_buf_reset(b);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, extra, 2), RTMP_OK);
    rtmp_codec_meta_t m2;
    ck_assert(rtmp_codec_data_kind(18, span_of(b)) == rtmp_codec_data::on_meta_data);
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, span_of(b), nullptr, &m2, &err), RTMP_OK);
    ck_assert(m2.kind == rtmp_codec_data::on_meta_data);
    ck_assert_uint_eq(m2.object->nprops, m.object->nprops + 1);
    ck_assert_uint_eq(b->pos[13], RTMP_AMF0_ECMA_ARRAY);
    ck_assert_uint_eq(b->pos[16], 0);
    ck_assert_uint_eq(b->pos[17], m.object->nprops + 1); // the count follows the additions
    rtmp_str_t s;
    ck_assert(rtmp_amf_get_string(m2.object, "encoder", &s) && s.sv() == "rtmp_server");
    ck_assert(rtmp_amf_get_string(m2.object, "server", &s) &&
              s.sv() == "rtmp_server " RTMP_VERSION);
    ck_assert(m2.object->props[m2.object->nprops - 1].key.sv() == "server");
    ck_assert(m2.width == 160);

    in = load("flv_onmetadata");
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, in, nullptr, &m, &err), RTMP_OK);
    ck_assert(m.kind == rtmp_codec_data::on_meta_data);
    ck_assert(m.width == 320 && m.height == 240 && m.framerate == 25);
    rtmp_buf_reset(b);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, nullptr, 0), RTMP_OK);
    ck_assert_uint_eq(rtmp_buf_size(b), in.size());
    ck_assert(memcmp(b->pos, in.data(), in.size()) == 0);

    // type 15 has a leading 0 format byte; an anonymous object stays an object;
    // Enhanced RTMP videocodecid as a FourCC string
    in = hex("00 02 00 0d 40 73 65 74 44 61 74 61 46 72 61 6d 65"
             "   02 00 0a 6f 6e 4d 65 74 61 44 61 74 61"
             "   03 00 05 77 69 64 74 68 00 40 9e 00 00 00 00 00 00"
             "      00 0c 76 69 64 65 6f 63 6f 64 65 63 69 64 02 00 04 68 76 63 31"
             "   00 00 09");
    ck_assert(rtmp_codec_data_kind(15, in) == rtmp_codec_data::set_data_frame);
    ck_assert(rtmp_codec_data_kind(18, in) == rtmp_codec_data::pass_through);
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 15, in, nullptr, &m, &err), RTMP_OK);
    ck_assert(m.kind == rtmp_codec_data::set_data_frame);
    ck_assert_uint_eq(m.has, RTMP_CODEC_META_WIDTH | RTMP_CODEC_META_VIDEOCODECID);
    ck_assert(m.width == 1920);
    ck_assert(m.videocodecid == (double)rtmp_codec_fourcc("hvc1"));
    rtmp_buf_reset(b);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, extra + 1, 1), RTMP_OK);
    ck_assert_uint_eq(b->pos[13], RTMP_AMF0_OBJECT);

    // AMF3 metadata re-encodes as AMF0, unless it holds AMF3 references,
    // which only mean something inside the one AMF3 value they came in
    in = hex("00 02 00 0a 6f 6e 4d 65 74 61 44 61 74 61 11 0a 0b 01"
             "   03 61 04 05   03 62 0a 00   01");
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 15, in, nullptr, &m, &err), RTMP_OK);
    ck_assert(m.kind == rtmp_codec_data::on_meta_data);
    ck_assert_uint_eq(m.object->nprops, 2);
    rtmp_buf_reset(b);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, nullptr, 0), RTMP_DECLINED);
    in = hex("00 02 00 0a 6f 6e 4d 65 74 61 44 61 74 61 11 0a 0b 01 03 61 04 05 01");
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 15, in, nullptr, &m, &err), RTMP_OK);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, nullptr, 0), RTMP_OK);
    ck_assert(same_hex(b, "02 00 0a 6f 6e 4d 65 74 61 44 61 74 61 03 00 01 61"
                          "   00 40 14 00 00 00 00 00 00 00 00 09"));

    // a truncated metadata message is an error, with a reason
    in = load("ffmpeg_set_data_frame");
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, in.first(100), nullptr, &m, &err),
                     RTMP_ERROR);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(rtmp_codec_write_metadata(b, &m, nullptr, 0), RTMP_ERROR);
}
END_TEST

START_TEST(test_codec_data_pass_through)
{
    rtmp_codec_meta_t m;
    const char *err;
    const char *others[] = {
        // onTextData {text: "hi"}
        "02 00 0a 6f 6e 54 65 78 74 44 61 74 61 03 00 04 74 65 78 74 02 00 02 68 69 00 00 09",
        // onCuePoint
        "02 00 0a 6f 6e 43 75 65 50 6f 69 6e 74 03 00 00 09",
        // |RtmpSampleAccess false false
        "02 00 11 7c 52 74 6d 70 53 61 6d 70 6c 65 41 63 63 65 73 73 01 00 01 00",
        // @setDataFrame onCuePoint {}
        "02 00 0d 40 73 65 74 44 61 74 61 46 72 61 6d 65 02 00 0a 6f 6e 43 75 65 50 6f 69 6e 74"
        " 03 00 00 09",
        // @setDataFrame alone, a number, nothing
        "02 00 0d 40 73 65 74 44 61 74 61 46 72 61 6d 65",
        "00 40 00 00 00 00 00 00 00",
        "",
        // a string cut short
        "02 00 0a 6f 6e 4d 65 74",
    };
    for (const char *h : others) {
        std::span<const u_char> in = hex(h);
        ck_assert(rtmp_codec_data_kind(18, in) == rtmp_codec_data::pass_through);
        ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, in, nullptr, &m, &err), RTMP_OK);
        ck_assert(m.kind == rtmp_codec_data::pass_through);
        ck_assert_ptr_null(m.object);
    }
    // onMetaData with no object, or a string instead: nothing to rewrite
    std::span<const u_char> in = hex("02 00 0a 6f 6e 4d 65 74 61 44 61 74 61 02 00 01 78");
    ck_assert(rtmp_codec_data_kind(18, in) == rtmp_codec_data::on_meta_data);
    ck_assert_int_eq(rtmp_codec_parse_metadata(pool, 18, in, nullptr, &m, &err), RTMP_OK);
    ck_assert(m.kind == rtmp_codec_data::pass_through);
    // a command is not a data message
    ck_assert(rtmp_codec_data_kind(20, load("ffmpeg_set_data_frame")) ==
              rtmp_codec_data::pass_through);
}
END_TEST

static rtmp_codec_info_t classify(uint8_t type, std::span<const u_char> payload)
{
    rtmp_message_t m{};
    m.h.type = type;
    m.h.mlen = (uint32_t)payload.size();
    m.payload = payload;
    return rtmp_codec_classify(&m);
}

START_TEST(test_codec_classify)
{
    rtmp_codec_info_t ci = classify(9, load("avc_seq"));
    ck_assert(ci.kind == rtmp_codec_kind::video && ci.codec == rtmp_codec_id::avc);
    ck_assert(ci.is_sequence_header && !ci.is_key_frame && !ci.droppable);

    ci = classify(9, load("avc_key"));
    ck_assert(ci.is_key_frame && !ci.droppable && !ci.malformed);
    ck_assert_uint_eq(ci.frame_type, RTMP_CODEC_FRAME_KEY);
    ci = classify(9, load("avc_inter"));
    ck_assert(!ci.is_key_frame && ci.droppable);
    ci = classify(9, load("avc_eos"));
    ck_assert(ci.is_end_of_sequence && !ci.droppable);
    ci = classify(9, hex("32 00"));
    ck_assert(ci.droppable && ci.codec == rtmp_codec_id::h263);
    ci = classify(9, hex("2e 00")); // unknown codec, inter frame
    ck_assert(ci.droppable && ci.codec == rtmp_codec_id::unknown && !ci.malformed);
    ci = classify(9, hex("52 00"));
    ck_assert(ci.is_command && !ci.droppable);
    ci = classify(9, load("hevc_seq"));
    ck_assert(ci.is_sequence_header && ci.codec == rtmp_codec_id::hevc);
    ci = classify(9, load("hevc_inter_x"));
    ck_assert(ci.droppable);
    ci = classify(9, load("av1_key"));
    ck_assert(ci.is_key_frame && !ci.droppable);
    ci = classify(9, cat(hex("d4"), str("hvc1")));
    ck_assert(ci.is_config && !ci.droppable && !ci.is_command);
    ci = classify(9, hex("27 01"));
    ck_assert(ci.malformed && !ci.droppable && ci.kind == rtmp_codec_kind::video);
    ci = classify(9, hex(""));
    ck_assert(ci.malformed);

    ci = classify(8, load("aac_seq"));
    ck_assert(ci.kind == rtmp_codec_kind::audio && ci.is_sequence_header && !ci.droppable);
    ci = classify(8, load("aac_raw"));
    ck_assert(!ci.is_sequence_header && !ci.droppable && !ci.is_key_frame);
    ci = classify(8, load("opus_seq"));
    ck_assert(ci.is_sequence_header && ci.codec == rtmp_codec_id::opus);
    ci = classify(8, cat(hex("94"), str("Opus")));
    ck_assert(ci.is_config && !ci.is_sequence_header);

    ci = classify(18, load("ffmpeg_set_data_frame"));
    ck_assert(ci.kind == rtmp_codec_kind::data && ci.is_metadata && !ci.droppable);
    ci = classify(18, hex("02 00 0a 6f 6e 43 75 65 50 6f 69 6e 74 03 00 00 09"));
    ck_assert(ci.kind == rtmp_codec_kind::data && !ci.is_metadata && !ci.droppable);
    ci = classify(15, cat(hex("00"), load("flv_onmetadata")));
    ck_assert(ci.is_metadata);
    ci = classify(22, hex("09 00 00 05"));
    ck_assert(ci.kind == rtmp_codec_kind::other && !ci.droppable);
    ci = classify(20, load("ffmpeg_set_data_frame"));
    ck_assert(ci.kind == rtmp_codec_kind::other && !ci.is_metadata);

    ck_assert_str_eq(rtmp_codec_name(rtmp_codec_id::hevc), "hevc");
    ck_assert_str_eq(rtmp_codec_name(rtmp_codec_id::eac3), "eac3");
    ck_assert_str_eq(rtmp_codec_name((rtmp_codec_id)200), "unknown");
}
END_TEST

Suite *rtmp_codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_codec_video_avc);
    tcase_add_test(tc, test_codec_video_legacy);
    tcase_add_test(tc, test_codec_video_enhanced);
    tcase_add_test(tc, test_codec_video_modex_multitrack);
    tcase_add_test(tc, test_codec_audio);
    tcase_add_test(tc, test_codec_audio_enhanced);
    tcase_add_test(tc, test_codec_configs);
    tcase_add_test(tc, test_codec_truncation);
    tcase_add_test(tc, test_codec_metadata);
    tcase_add_test(tc, test_codec_data_pass_through);
    tcase_add_test(tc, test_codec_classify);
    suite_add_tcase(s, tc);
    return s;
}
