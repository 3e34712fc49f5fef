// Unit tests for the MPEG-TS muxer: packets byte for byte, then FLV to segments read by ffmpeg.
#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "core/rtmp_log.h"
#include "test_util.h"
#include "hls/rtmp_m3u8.h"
#include "hls/rtmp_mpegts.h"
#include "rtmp/rtmp_codec.h"

static rtmp_pool_t *pool;

// What the muxer handed over: every packet, and how many output calls it took.
struct sink_t {
    u_char *p;
    size_t len;
    size_t cap;
    uint32_t calls;
};

static sink_t sink;
static rtmp_mpegts_t *mx;

static rtmp_int_t sink_output(void *data, const u_char *p, size_t len)
{
    sink_t *s = static_cast<sink_t *>(data);
    ck_assert_uint_eq(len % RTMP_MPEGTS_PACKET, 0);
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(s->len + len, s->cap);
    memcpy(s->p + s->len, p, len);
    s->len += len;
    s->calls++;
    return RTMP_OK;
}

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    sink = sink_t{};
    sink.cap = 1 << 20;
    sink.p = static_cast<u_char *>(rtmp_pnalloc(pool, sink.cap));
    mx = rtmp_palloc<rtmp_mpegts_t>(pool);
    rtmp_mpegts_init(mx, sink_output, &sink, 0);
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

static std::span<const u_char> hex(const char *h)
{
    return rtmp_test_hex(pool, h);
}

static const u_char *packet(size_t i)
{
    ck_assert_uint_lt(i * RTMP_MPEGTS_PACKET, sink.len);
    return sink.p + i * RTMP_MPEGTS_PACKET;
}

static size_t npackets(void)
{
    return sink.len / RTMP_MPEGTS_PACKET;
}

static uint16_t pid_of(const u_char *p)
{
    return (uint16_t)((p[1] & 0x1f) << 8 | p[2]);
}

static void assert_bytes(const u_char *got, std::span<const u_char> want)
{
    for (size_t i = 0; i < want.size(); i++) {
        ck_assert_msg(got[i] == want[i], "byte %zu: got %02x, want %02x", i, got[i], want[i]);
    }
}

// The payload of one PID from every packet, with the continuity counter and sync
// byte checked on the way; *pes counts payload_unit_start packets.
static std::span<const u_char> pid_payload(uint16_t pid, uint32_t *pes)
{
    u_char *out = static_cast<u_char *>(rtmp_pnalloc(pool, sink.len));
    size_t len = 0;
    int cc = -1;
    *pes = 0;
    for (size_t i = 0; i < npackets(); i++) {
        const u_char *p = packet(i);
        ck_assert_uint_eq(p[0], 0x47);
        if (pid_of(p) != pid) {
            continue;
        }
        ck_assert(p[3] & 0x10);
        if (cc >= 0) {
            ck_assert_int_eq(p[3] & 0x0f, (cc + 1) & 0x0f);
        }
        cc = p[3] & 0x0f;
        if (p[1] & 0x40) {
            (*pes)++;
        }
        size_t off = 4;
        if (p[3] & 0x20) {
            off += 1 + p[4];
        }
        ck_assert_uint_le(off, RTMP_MPEGTS_PACKET);
        memcpy(out + len, p + off, RTMP_MPEGTS_PACKET - off);
        len += RTMP_MPEGTS_PACKET - off;
    }
    return {out, len};
}

// avc420_seq.bin's avcC (High, 320x240): one SPS, one PPS, 4-byte lengths.
static std::span<const u_char> avcc(void)
{
    std::span<const u_char> in = rtmp_test_file(pool, "tests/data/codec/avc420_seq.bin");
    return in.subspan(5);
}

#define SPS "67 64 00 0d ac d9 41 41 fb 01 10 00 00 03 00 10 00 00 03 03 20 f1 42 99 60"
#define PPS "68 eb e3 cb 22 c0"

START_TEST(test_mpegts_crc32)
{
    // CRC-32/MPEG-2 check value
    ck_assert_uint_eq(rtmp_mpegts_crc32(hex("313233343536373839")), 0x0376e6e7);
}
END_TEST

START_TEST(test_mpegts_tables)
{
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1208")), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    ck_assert_uint_eq(npackets(), 2);
    ck_assert_uint_eq(sink.calls, 1);

    // the PAT and PMT ffmpeg writes for H.264 + AAC, CRCs included
    assert_bytes(packet(0), hex("47 40 00 10 00 00 b0 0d 00 01 c1 00 00 00 01 f0 00 2a b1 04 b2"));
    assert_bytes(packet(1), hex("47 50 00 10 00 02 b0 17 00 01 c1 00 00 e1 00 f0 00 1b e1 00 f0"
                                "00 0f e1 01 f0 00 2f 44 b9 9b"));
    for (size_t i = 21; i < RTMP_MPEGTS_PACKET; i++) {
        ck_assert_uint_eq(packet(0)[i], 0xff);
    }
    // the CRC over a section and its CRC leaves 0
    ck_assert_uint_eq(rtmp_mpegts_crc32({packet(1) + 5, 3 + 0x17}), 0);

    // the next segment: same tables, counters advanced
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    ck_assert_uint_eq(npackets(), 4);
    ck_assert_uint_eq(packet(2)[3], 0x11);
    ck_assert_uint_eq(packet(3)[3], 0x11);
    ck_assert_int_eq(memcmp(packet(0) + 4, packet(2) + 4, 184), 0);
}
END_TEST

START_TEST(test_mpegts_tables_audio_only)
{
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1208")), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    // PCR_PID is the audio PID
    assert_bytes(packet(1),
                 hex("47 50 00 10 00 02 b0 12 00 01 c1 00 00 e1 01 f0 00 0f e1 01 f0 00"));
    ck_assert_uint_eq(rtmp_mpegts_crc32({packet(1) + 5, 3 + 0x12}), 0);

    // video configured mid-segment: a new PMT version announces it before the frame
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000002 65 88")), RTMP_OK);
    ck_assert_uint_eq(pid_of(packet(2)), 0);
    ck_assert_uint_eq(pid_of(packet(3)), RTMP_MPEGTS_PID_PMT);
    ck_assert_uint_eq(packet(3)[10], 0xc3); // version 1, current
    ck_assert_uint_eq(packet(3)[13], 0xe1); // PCR on video now
    ck_assert_uint_eq(packet(3)[14], 0x00);
    ck_assert_uint_eq(pid_of(packet(4)), RTMP_MPEGTS_PID_VIDEO);
}
END_TEST

START_TEST(test_mpegts_video_key)
{
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    // two IDR slices, no delimiter, no parameter sets; dts 1000 ms, cts 80 ms
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 1000, 80, true,
                                             hex("00000005 65 88 84 00 21 00000004 65 00 11 22")),
                     RTMP_OK);
    ck_assert_uint_eq(npackets(), 3);
    const u_char *p = packet(2);

    // PES payload: delimiter, SPS, PPS (4-byte start codes), slices (3-byte)
    std::span<const u_char> au = hex("00 00 00 01 09 f0 00 00 00 01" SPS "00 00 00 01" PPS
                                     "00 00 01 65 88 84 00 21 00 00 01 65 00 11 22");
    ck_assert_uint_eq(au.size(), 60);
    // payload_unit_start, PID 0x100, adaptation field and payload, CC 0
    assert_bytes(p, hex("47 41 00 30"));
    // adaptation field: 104 bytes, random access + PCR (90000 = 1000 ms), stuffing
    size_t af = 188 - 4 - 19 - 60;
    ck_assert_uint_eq(p[4], af - 1);
    assert_bytes(p + 5, hex("50 00 00 af c8 7e 00"));
    for (size_t i = 12; i < 4 + af; i++) {
        ck_assert_uint_eq(p[i], 0xff);
    }
    // PES: video stream, length 0, data_alignment, PTS 160200 and DTS 153000
    // (the ms times 90, plus the 63000-tick lead over PCR)
    assert_bytes(p + 4 + af, hex("00 00 01 e0 00 00 84 c0 0a 31 00 09 e3 91 11 00 09 ab 51"));
    assert_bytes(p + 4 + af + 19, au);
}
END_TEST

START_TEST(test_mpegts_video_inter)
{
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000002 65 88")), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, false,
                                             hex("00000004 41 9a 00 11 00000003 "
                                                 "01 9e 22")),
                     RTMP_OK);
    // frames before start_segment start one: PAT, PMT, key, inter
    ck_assert_uint_eq(npackets(), 4);
    const u_char *p = packet(3);
    assert_bytes(p, hex("47 41 00 31")); // CC 1
    std::span<const u_char> au = hex("00 00 00 01 09 f0 00 00 01 41 9a 00 11 00 00 01 01 9e 22");
    size_t af = 188 - 4 - 14 - au.size();
    ck_assert_uint_eq(p[4], af - 1);
    assert_bytes(p + 5, hex("10 00 00 00 00 7e 00")); // PCR 0, no random access
    // PTS only when DTS equals it: '0010' prefix
    assert_bytes(p + 4 + af, hex("00 00 01 e0 00 00 84 80 05 21 00 03 ec 31"));
    assert_bytes(p + 4 + af + 14, au);
}
END_TEST

START_TEST(test_mpegts_video_own_headers)
{
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    // delimiter, SPS, PPS and slice in the frame: nothing added, nothing moved
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true,
                                             hex("00000002 09 10 00000003 67 01 02 00000002 68 03"
                                                 "00000002 65 88")),
                     RTMP_OK);
    uint32_t pes;
    std::span<const u_char> v = pid_payload(RTMP_MPEGTS_PID_VIDEO, &pes);
    ck_assert_uint_eq(pes, 1);
    assert_bytes(v.data() + 14, hex("00 00 00 01 09 10 00 00 00 01 67 01 02 00 00 00 01 68 03"
                                    "00 00 01 65 88"));

    // the frame's own delimiter stays first, the parameter sets go after it;
    // empty NAL units are dropped
    sink.len = 0;
    ck_assert_int_eq(rtmp_mpegts_write_video(
                         mx, 40, 0, true, hex("00000000 00000002 09 10 00000000 00000002 65 88")),
                     RTMP_OK);
    v = pid_payload(RTMP_MPEGTS_PID_VIDEO, &pes);
    assert_bytes(v.data() + 14,
                 hex("00 00 00 01 09 10 00 00 00 01" SPS "00 00 00 01" PPS "00 00 01 65 88"));
}
END_TEST

START_TEST(test_mpegts_video_split)
{
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    sink.len = 0;

    // 1000-byte slice: 6 + 3 + 1000 bytes after a 14-byte PES header; 162 fit the
    // first packet (PCR), 4 full packets, 111 in the last with 73 bytes of stuffing
    u_char *f = static_cast<u_char *>(rtmp_pnalloc(pool, 1004));
    f[0] = 0;
    f[1] = 0;
    f[2] = 0x03;
    f[3] = 0xe8;
    f[4] = 0x41;
    for (size_t i = 5; i < 1004; i++) {
        f[i] = (u_char)i;
    }
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, false, {f, 1004}), RTMP_OK);
    ck_assert_uint_eq(npackets(), 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(packet(i)[1] & 0x40, i == 0 ? 0x40 : 0);
        ck_assert_uint_eq(packet(i)[3] & 0x0f, i);
        ck_assert_uint_eq(packet(i)[3] & 0x30, i == 0 || i == 5 ? 0x30 : 0x10);
    }
    ck_assert_uint_eq(packet(5)[4], 72);
    ck_assert_uint_eq(packet(5)[5], 0x00);
    uint32_t pes;
    std::span<const u_char> v = pid_payload(RTMP_MPEGTS_PID_VIDEO, &pes);
    ck_assert_uint_eq(v.size(), 14 + 1009);
    assert_bytes(v.data() + 14, hex("00 00 00 01 09 f0 00 00 01"));
    ck_assert_int_eq(memcmp(v.data() + 23, f + 4, 1000), 0);

    // 183 bytes left for the last packet: its adaptation field is the length byte alone
    sink.len = 0;
    f[2] = 0x01;
    f[3] = 0x50; // 336: 162 + 183 = 9 + 336
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 40, 0, false, {f, 340}), RTMP_OK);
    ck_assert_uint_eq(npackets(), 2);
    assert_bytes(packet(1), hex("47 01 00 37 00"));
    ck_assert_int_eq(memcmp(packet(1) + 5, f + 4 + 336 - 183, 183), 0);
}
END_TEST

START_TEST(test_mpegts_video_bad)
{
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000002 65 88")), RTMP_DECLINED);
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, hex("01 64 00")),
                     RTMP_ERROR);
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::avc, avcc()), RTMP_OK);
    // a length past the end, a cut length field, nothing at all
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000003 65 88")), RTMP_ERROR);
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000001 65 0000")), RTMP_ERROR);
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, true, hex("00000000")), RTMP_DECLINED);
    ck_assert_uint_eq(sink.len, 0);
}
END_TEST

START_TEST(test_mpegts_hevc)
{
    std::span<const u_char> seq = rtmp_test_file(pool, "tests/data/codec/hevc_seq.bin");
    rtmp_codec_video_t v;
    ck_assert_int_eq(rtmp_codec_parse_video(seq, &v), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_set_video_config(mx, rtmp_mpegts_video::hevc,
                                                  seq.subspan(v.header_len, v.data_len)),
                     RTMP_OK);
    ck_assert_uint_eq(mx->nparams, 3); // VPS, SPS, PPS; not x265's SEI
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    ck_assert_uint_eq(packet(1)[17], 0x24);

    // an IDR_W_RADL slice (type 19): delimiter (type 35), VPS, SPS, PPS before it
    sink.len = 0;
    ck_assert_int_eq(rtmp_mpegts_write_video(mx, 0, 0, false, hex("00000003 26 01 af")), RTMP_OK);
    uint32_t pes;
    std::span<const u_char> out = pid_payload(RTMP_MPEGTS_PID_VIDEO, &pes);
    assert_bytes(out.data() + 14, hex("00 00 00 01 46 01 50 00 00 00 01 40 01"));
    ck_assert_uint_eq(packet(0)[5] & 0x40, 0x40); // random access from the NAL type
}
END_TEST

START_TEST(test_mpegts_adts)
{
    // AAC LC, 44.1 kHz (index 4), mono; one 10-byte frame: ADTS length 17
    rtmp_mpegts_init(mx, sink_output, &sink, 0);
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1208")), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 1000, hex("21 10 04 60 8c 1c 00 01 02 03")),
                     RTMP_OK);
    ck_assert_uint_eq(npackets(), 3);
    const u_char *p = packet(2);
    assert_bytes(p, hex("47 41 01 30"));
    size_t af = 188 - 4 - 14 - 17;
    ck_assert_uint_eq(p[4], af - 1);
    // audio-only: PCR and random access on the audio PID
    assert_bytes(p + 5, hex("50 00 00 af c8 7e 00"));
    // stream 0xc0, PES_packet_length 8 + 17, PTS only (90000 + 63000)
    assert_bytes(p + 4 + af, hex("00 00 01 c0 00 19 84 80 05 21 00 09 ab 51"
                                 "ff f1 50 40 02 3f fc 21 10 04 60 8c 1c 00 01 02 03"));

    // AAC LC 48 kHz stereo
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1190")), RTMP_OK);
    ck_assert_uint_eq(mx->adts_profile, 1);
    ck_assert_uint_eq(mx->sampling_index, 3);
    ck_assert_uint_eq(mx->channel_config, 2);
    // HE-AAC signalled explicitly: object 5, 24 kHz core (6), stereo, 48 kHz extension,
    // core LC: ADTS says LC at the core rate
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("2b 11 88 00")), RTMP_OK);
    ck_assert_uint_eq(mx->adts_profile, 1);
    ck_assert_uint_eq(mx->sampling_index, 6);
    ck_assert_uint_eq(mx->channel_config, 2);
    // channel configuration 0 (a PCE) and explicit rates cannot be ADTS
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1200")), RTMP_DECLINED);
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("17 80 bb 80 10")), RTMP_DECLINED);
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 0, hex("21")), RTMP_DECLINED);
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("")), RTMP_ERROR);
}
END_TEST

START_TEST(test_mpegts_audio_pack)
{
    rtmp_mpegts_init(mx, sink_output, &sink, 100);
    ck_assert_int_eq(rtmp_mpegts_set_audio_config(mx, hex("1208")), RTMP_OK);
    ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
    std::span<const u_char> frame = hex("21 10 04 60 8c 1c 00 01 02 03");
    // 23 ms frames: the one at 115 ms makes the pack span 100 ms, 6 frames
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_int_eq(rtmp_mpegts_write_audio(mx, i * 23, frame), RTMP_OK);
    }
    ck_assert_uint_eq(npackets(), 2);
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 115, frame), RTMP_OK);
    ck_assert_uint_eq(npackets(), 3);
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 138, frame), RTMP_OK);
    ck_assert_uint_eq(npackets(), 3);
    ck_assert_int_eq(rtmp_mpegts_flush(mx), RTMP_OK);
    ck_assert_uint_eq(npackets(), 4);

    uint32_t pes;
    std::span<const u_char> a = pid_payload(RTMP_MPEGTS_PID_AUDIO, &pes);
    ck_assert_uint_eq(pes, 2);
    // the first pack: PES length 8 + 6 * 17, PTS of its first frame, 6 ADTS frames
    assert_bytes(a.data(), hex("00 00 01 c0 00 6e 84 80 05 21 00 03 ec 31"));
    for (size_t i = 0; i < 6; i++) {
        assert_bytes(a.data() + 14 + i * 17, hex("ff f1 50 40 02 3f fc 21"));
    }
    // the second: one frame at 138 ms
    assert_bytes(a.data() + 14 + 6 * 17,
                 hex("00 00 01 c0 00 19 84 80 05 21 00 05 4d 39 ff f1 50 40 02 3f fc"));

    // a frame ADTS cannot frame (over 8191 bytes with its header)
    static u_char big[8185];
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 200, {big, sizeof(big)}), RTMP_ERROR);
    ck_assert_int_eq(rtmp_mpegts_write_audio(mx, 200, {big, sizeof(big) - 1}), RTMP_OK);
}
END_TEST

// Messages as the live module hands them over, through the codec parser.
START_TEST(test_mpegts_messages)
{
    std::span<const u_char> seq = rtmp_test_file(pool, "tests/data/codec/avc420_seq.bin");
    rtmp_message_t m{};
    m.h.type = RTMP_MSG_VIDEO;
    m.payload = hex("27 01 000000 00000002 41 9a");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 0, &m), RTMP_DECLINED); // before the config
    m.payload = seq;
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 0, &m), RTMP_OK);
    ck_assert(mx->video == rtmp_mpegts_video::avc);
    m.payload = hex("17 01 000050 00000002 65 88"); // cts 80
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 1000, &m), RTMP_OK);
    m.payload = hex("17 02 000000");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 1000, &m), RTMP_DECLINED);
    m.payload = hex("27 01 000000 00000009 41 9a");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 0, &m), RTMP_ERROR);
    m.payload = rtmp_test_file(pool, "tests/data/codec/vp9_inter.bin");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 0, &m), RTMP_DECLINED);

    m.h.type = RTMP_MSG_AUDIO;
    m.payload = rtmp_test_file(pool, "tests/data/codec/aac_seq.bin");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 0, &m), RTMP_OK);
    ck_assert(mx->audio);
    m.payload = rtmp_test_file(pool, "tests/data/codec/aac_raw.bin");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 1000, &m), RTMP_OK);
    m.payload = rtmp_test_file(pool, "tests/data/codec/mp3_frame.bin");
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 1000, &m), RTMP_DECLINED);

    m.h.type = RTMP_MSG_AMF_META;
    ck_assert_int_eq(rtmp_mpegts_write_message(mx, 1000, &m), RTMP_DECLINED);

    uint32_t pes;
    std::span<const u_char> v = pid_payload(RTMP_MPEGTS_PID_VIDEO, &pes);
    ck_assert_uint_eq(pes, 1);
    assert_bytes(v.data(), hex("00 00 01 e0 00 00 84 c0 0a 31 00 09 e3 91 11 00 09 ab 51"));
    std::span<const u_char> a = pid_payload(RTMP_MPEGTS_PID_AUDIO, &pes);
    ck_assert_uint_eq(pes, 1);
}
END_TEST

// ---- end to end: an ffmpeg FLV cut into segments, read back by ffprobe and ffmpeg -------------

struct segment_file_t {
    FILE *f;
};

static rtmp_int_t file_output(void *data, const u_char *p, size_t len)
{
    segment_file_t *s = static_cast<segment_file_t *>(data);
    return fwrite(p, 1, len, s->f) == len ? RTMP_OK : RTMP_ERROR;
}

// Runs a shell command; its stdout (and stderr when asked) into buf.
static void run(const char *cmd, char *buf, size_t size)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != nullptr, "popen %s", cmd);
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    ck_assert_uint_lt(n, size - 1);
    ck_assert_int_eq(pclose(p), 0);
}

// The size and MD5 columns of a framemd5 listing, one line per frame: timestamps are
// in each container's own time base, so they are compared apart.
static size_t framemd5_hashes(char *text, char **lines, size_t max)
{
    size_t n = 0;
    for (char *save = nullptr, *l = strtok_r(text, "\n", &save); l != nullptr;
         l = strtok_r(nullptr, "\n", &save)) {
        if (l[0] == '#') {
            continue;
        }
        char *c = l;
        for (int comma = 0; comma < 4 && c != nullptr; comma++) {
            c = strchr(c + 1, ',');
        }
        ck_assert(c != nullptr && n < max);
        char *side = strchr(c + 1, ','); // size, hash: side data after them is the container's
        side = side != nullptr ? strchr(side + 1, ',') : nullptr;
        if (side != nullptr) {
            *side = '\0';
        }
        lines[n++] = c + 1;
    }
    return n;
}

static void new_segment(const char *dir, uint64_t seq, segment_file_t *sf)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/seg-%llu.ts", dir, (unsigned long long)seq);
    sf->f = fopen(path, "wb");
    ck_assert(sf->f != nullptr);
}

START_TEST(test_mpegts_flv_to_hls)
{
    std::span<const u_char> flv = rtmp_test_file(pool, "tests/data/hls/av.flv");
    char dir[] = "/tmp/rtmp_hls_XXXXXX";
    ck_assert(mkdtemp(dir) != nullptr);

    segment_file_t sf{};
    rtmp_mpegts_init(mx, file_output, &sf, 300);
    rtmp_m3u8_t pl;
    rtmp_m3u8_init(&pl, pool, 16, 0, 0);

    // FLV v10.1 E.2/E.3: 9-byte header and PreviousTagSize0, then tag header (11),
    // body, PreviousTagSize
    size_t pos = 9 + 4;
    bool open = false;
    uint64_t seg_start = 0;
    uint64_t last = 0;
    uint32_t frames = 0;
    while (flv.size() - pos >= 11) {
        const u_char *t = flv.data() + pos;
        size_t len = (size_t)t[1] << 16 | (size_t)t[2] << 8 | t[3];
        uint64_t ts = (uint64_t)t[7] << 24 | (uint64_t)t[4] << 16 | (uint64_t)t[5] << 8 | t[6];
        ck_assert_uint_le(pos + 11 + len + 4, flv.size());
        rtmp_message_t m{};
        m.h.type = t[0];
        m.h.timestamp = (uint32_t)ts;
        m.h.mlen = (uint32_t)len;
        m.payload = flv.subspan(pos + 11, len);
        pos += 11 + len + 4;
        if (m.h.type != RTMP_MSG_AUDIO && m.h.type != RTMP_MSG_VIDEO) {
            continue;
        }

        rtmp_codec_info_t ci = rtmp_codec_classify(&m);
        if (!ci.is_sequence_header) {
            bool key = ci.kind == rtmp_codec_kind::video && ci.is_key_frame;
            if (!open) {
                new_segment(dir, rtmp_m3u8_next_sequence(&pl), &sf);
                ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
                open = true;
                seg_start = ts;
            } else if (rtmp_m3u8_should_cut(seg_start, ts, mx->video != rtmp_mpegts_video::none,
                                            key, 1000, 0)) {
                char uri[64];
                snprintf(uri, sizeof(uri), "seg-%llu.ts",
                         (unsigned long long)rtmp_m3u8_next_sequence(&pl));
                ck_assert_int_eq(rtmp_mpegts_flush(mx), RTMP_OK);
                fclose(sf.f);
                ck_assert_int_eq(
                    rtmp_m3u8_add(&pl, (double)(ts - seg_start) / 1000, uri, nullptr, nullptr),
                    RTMP_OK);
                new_segment(dir, rtmp_m3u8_next_sequence(&pl), &sf);
                ck_assert_int_eq(rtmp_mpegts_start_segment(mx), RTMP_OK);
                seg_start = ts;
            }
            last = ts;
            frames += ci.kind == rtmp_codec_kind::video && !ci.is_end_of_sequence;
        }
        rtmp_int_t rc = rtmp_mpegts_write_message(mx, ts, &m);
        ck_assert_msg(rc == RTMP_OK || (rc == RTMP_DECLINED && ci.is_end_of_sequence),
                      "message at %llu: %d", (unsigned long long)ts, (int)rc);
    }
    ck_assert(open);
    ck_assert_int_eq(rtmp_mpegts_flush(mx), RTMP_OK);
    fclose(sf.f);
    char uri[64];
    snprintf(uri, sizeof(uri), "seg-%llu.ts", (unsigned long long)rtmp_m3u8_next_sequence(&pl));
    ck_assert_int_eq(
        rtmp_m3u8_add(&pl, (double)(last + 40 - seg_start) / 1000, uri, nullptr, nullptr), RTMP_OK);
    rtmp_m3u8_end(&pl);
    ck_assert_uint_eq(pl.count, 3); // 3 s with a key frame every second
    ck_assert_uint_eq(frames, 75);

    rtmp_buf_t *b = rtmp_buf_create(pool, rtmp_m3u8_render_size(&pl));
    ck_assert_int_eq(rtmp_m3u8_render(&pl, b), RTMP_OK);
    char path[512];
    snprintf(path, sizeof(path), "%s/index.m3u8", dir);
    FILE *f = fopen(path, "wb");
    ck_assert(f != nullptr);
    ck_assert_uint_eq(fwrite(b->pos, 1, rtmp_buf_size(b), f), rtmp_buf_size(b));
    fclose(f);

    // every segment reads without a word on stderr: one H.264 and one AAC stream, 1 s
    static char out[1 << 16];
    char cmd[1024];
    for (uint32_t i = 0; i < pl.count; i++) {
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -show_entries stream=codec_name:format=duration -of flat "
                 "%s/%s 2>&1",
                 dir, rtmp_m3u8_segment(&pl, i)->uri);
        run(cmd, out, sizeof(out));
        ck_assert_msg(strncmp(out, "programs.", 9) == 0, "%s: %s", cmd, out); // no error first
        ck_assert_msg(strstr(out, "\nstreams.stream.0.codec_name=\"h264\"\n") != nullptr &&
                          strstr(out, "\nstreams.stream.1.codec_name=\"aac\"\n") != nullptr &&
                          strstr(out, "\nstreams.stream.2.") == nullptr,
                      "%s: %s", cmd, out);
        const char *dur = strstr(out, "\nformat.duration=\"");
        ck_assert_msg(dur != nullptr, "%s: %s", cmd, out);
        double d = atof(dur + 18);
        ck_assert_msg(d > 0.95 && d < 1.1, "%s: duration %f", cmd, d);
    }

    // the whole playlist: all 75 frames and 3 s
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_packets -show_entries stream=codec_name,nb_read_packets:"
             "format=duration -of flat %s 2>&1",
             path);
    run(cmd, out, sizeof(out));
    ck_assert_msg(strncmp(out, "programs.", 9) == 0, "%s", out);
    ck_assert_msg(strstr(out, "\nstreams.stream.0.codec_name=\"h264\"\n"
                              "streams.stream.0.nb_read_packets=\"75\"\n") != nullptr,
                  "%s", out);
    ck_assert_msg(strstr(out, "\nstreams.stream.1.codec_name=\"aac\"\n") != nullptr, "%s", out);
    const char *dur = strstr(out, "\nformat.duration=\"");
    ck_assert_msg(dur != nullptr, "%s", out);
    double d = atof(dur + 18);
    ck_assert_msg(d > 2.9 && d < 3.2, "duration %f", d);

    // video packets as the source's in Annex B. Both sides drop NAL types 9 and 6:
    // the delimiters are ours (the source has none), and h264_mp4toannexb puts the
    // parameter sets after x264's SEI in the first frame where we put them first,
    // after the delimiter (the usual order), with start codes a byte shorter.
    // Parameter sets before each IDR are on both sides.
    static char src[1 << 16];
    static char dst[1 << 16];
    static char *a[256];
    static char *c[256];
    run("ffmpeg -v error -i tests/data/hls/av.flv -map 0:v -c copy "
        "-bsf:v 'h264_mp4toannexb,filter_units=remove_types=6|9' -f framemd5 - 2>&1",
        src, sizeof(src));
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -v error -i %s -map 0:v -c copy -bsf:v 'filter_units=remove_types=6|9' "
             "-f framemd5 - 2>&1",
             path);
    run(cmd, dst, sizeof(dst));
    size_t na = framemd5_hashes(src, a, 256);
    size_t nc = framemd5_hashes(dst, c, 256);
    ck_assert_uint_eq(na, 75);
    ck_assert_uint_eq(nc, na);
    for (size_t i = 0; i < na; i++) {
        ck_assert_msg(strcmp(a[i], c[i]) == 0, "packet %zu: %s vs %s", i, a[i], c[i]);
    }

    // and the pictures they decode to, SEI and all
    run("ffmpeg -v error -i tests/data/hls/av.flv -map 0:v -f framemd5 - 2>&1", src, sizeof(src));
    snprintf(cmd, sizeof(cmd), "ffmpeg -v error -i %s -map 0:v -f framemd5 - 2>&1", path);
    run(cmd, dst, sizeof(dst));
    na = framemd5_hashes(src, a, 256);
    nc = framemd5_hashes(dst, c, 256);
    ck_assert_uint_eq(na, 75);
    ck_assert_uint_eq(nc, na);
    for (size_t i = 0; i < na; i++) {
        ck_assert_msg(strcmp(a[i], c[i]) == 0, "picture %zu: %s vs %s", i, a[i], c[i]);
    }

    for (uint32_t i = 0; i < pl.count; i++) {
        snprintf(cmd, sizeof(cmd), "%s/%s", dir, rtmp_m3u8_segment(&pl, i)->uri);
        unlink(cmd);
    }
    unlink(path);
    rmdir(dir);
}
END_TEST

Suite *rtmp_mpegts_suite(void)
{
    Suite *s = suite_create("mpegts");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mpegts_crc32);
    tcase_add_test(tc, test_mpegts_tables);
    tcase_add_test(tc, test_mpegts_tables_audio_only);
    tcase_add_test(tc, test_mpegts_video_key);
    tcase_add_test(tc, test_mpegts_video_inter);
    tcase_add_test(tc, test_mpegts_video_own_headers);
    tcase_add_test(tc, test_mpegts_video_split);
    tcase_add_test(tc, test_mpegts_video_bad);
    tcase_add_test(tc, test_mpegts_hevc);
    tcase_add_test(tc, test_mpegts_adts);
    tcase_add_test(tc, test_mpegts_audio_pack);
    tcase_add_test(tc, test_mpegts_messages);
    tcase_add_test(tc, test_mpegts_flv_to_hls);
    suite_add_tcase(s, tc);
    return s;
}
