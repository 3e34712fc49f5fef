// Unit tests for the file readers VOD plays from: FLV tags and index, MP4 sample tables, names.
#include <algorithm>
#include <check.h>
#include <cstdio>

#include "core/rtmp_log.h"
#include "test_util.h"
#include "rtmp/rtmp_flv_reader.h"
#include "rtmp/rtmp_mp4.h"
#include "rtmp/rtmp_vod.h"

// tests/data/vod: 1.5 s of 64x64 H.264 at 10 fps with B-frames and a key frame every 5
// pictures, and mono AAC at 22050 Hz, encoded once by ffmpeg into tiny.mp4 (moov at the
// end), then copied (-c copy) into tiny.flv (with -flvflags add_keyframe_index),
// tiny_faststart.mp4 (moov first), tiny_frag.mp4 (fragmented, -movflags
// frag_keyframe+empty_moov: tfhd base offsets), tiny_frag_moof.mp4 (the same with
// +default_base_moof: trun offsets from the moof), tiny_frag_keyframe.mp4 (-movflags
// frag_keyframe alone: the first fragment's samples are in the moov) and tiny_noedit.mp4
// (plain, -use_editlist 0: like the fragmented files it has no edit list, so ffmpeg starts
// the audio 200 ms late by stretching its first frame); tiny_hevc.mp4 is 1 s of H.265
// alone. ffprobe counts 15 video packets (3 key frames) and 34 audio packets.
static constexpr uint32_t TINY_VIDEO = 15;
static constexpr uint32_t TINY_AUDIO = 34;
static constexpr uint32_t TINY_KEYS = 3;

static rtmp_pool_t *pool;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
}

static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

static rtmp_media_file_t file_of(std::span<const u_char> data)
{
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data.data(), data.size());
    return f;
}

// One FLV tag as read, body included.
struct tag_t {
    rtmp_flv_tag_t t;
    std::span<const u_char> body;
};

static uint32_t read_tags(const rtmp_media_file_t *f, tag_t *out, uint32_t cap, rtmp_int_t *end)
{
    uint64_t off;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(f, &off, &err), RTMP_OK);
    uint32_t n = 0;
    for (;;) {
        rtmp_flv_tag_t t;
        *end = rtmp_flv_read_tag(f, off, 1 << 20, &t, &err);
        if (*end != RTMP_OK) {
            return n;
        }
        ck_assert_uint_lt(n, cap);
        auto *b = rtmp_palloc<u_char>(pool, t.size);
        ck_assert_int_eq(rtmp_flv_read_body(f, &t, b), RTMP_OK);
        out[n++] = {t, {b, t.size}};
        off = t.next;
    }
}

START_TEST(test_flv_tags)
{
    std::span<const u_char> data = rtmp_test_file(pool, "tests/data/vod/tiny.flv");
    rtmp_media_file_t f = file_of(data);
    tag_t tags[128];
    rtmp_int_t end;
    uint32_t n = read_tags(&f, tags, 128, &end);
    ck_assert_int_eq(end, RTMP_DONE);
    ck_assert_uint_eq(tags[n - 1].t.next, data.size()); // to the last byte

    // metadata and both sequence headers first, then frames
    ck_assert(tags[0].t.type == RTMP_FLV_SCRIPT && tags[0].t.header);
    uint32_t video = 0, audio = 0, keys = 0, headers = 0;
    for (uint32_t i = 0; i < n; i++) {
        const rtmp_flv_tag_t &t = tags[i].t;
        if (t.header) {
            headers++;
            ck_assert_uint_le(i, 2);
        } else if (t.type == RTMP_FLV_VIDEO && tags[i].body[1] == 1) {
            video++;
            keys += t.key;
            ck_assert_uint_eq(t.key, (tags[i].body[0] >> 4) == 1);
        } else if (t.type == RTMP_FLV_AUDIO) {
            audio++;
            ck_assert_uint_eq(tags[i].body[0] >> 4, 10);
        }
    }
    ck_assert_uint_eq(headers, 3);
    ck_assert_uint_eq(video, TINY_VIDEO);
    ck_assert_uint_eq(audio, TINY_AUDIO);
    ck_assert_uint_eq(keys, TINY_KEYS);

    // the keyframe index points at the key frames' tags
    rtmp_flv_file_meta_t meta;
    ck_assert_int_eq(rtmp_flv_parse_meta(pool, tags[0].body, &meta), RTMP_OK);
    ck_assert(meta.duration > 1.4 && meta.duration < 1.8);
    ck_assert_uint_eq(meta.nkeys, TINY_KEYS);
    for (uint32_t k = 0; k < meta.nkeys; k++) {
        const char *err = nullptr;
        rtmp_flv_tag_t t;
        ck_assert_int_eq(rtmp_flv_read_tag(&f, meta.key_offsets[k], 1 << 20, &t, &err), RTMP_OK);
        ck_assert(t.key);
    }
    ck_assert_int_eq(rtmp_flv_meta_find(&meta, 0), 0);
    ck_assert_int_eq(rtmp_flv_meta_find(&meta, 600), 1);
    ck_assert_int_eq(rtmp_flv_meta_find(&meta, 100000), 2);

    // a scan finds the same key frames the index names
    uint64_t first, at;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(&f, &first, &err), RTMP_OK);
    ck_assert_int_eq(rtmp_flv_scan_key(&f, first, 600, 1000, &at, &err), RTMP_OK);
    ck_assert_uint_eq(at, meta.key_offsets[1]);
    ck_assert_int_eq(rtmp_flv_scan_key(&f, first, 100000, 1000, &at, &err), RTMP_OK);
    ck_assert_uint_eq(at, meta.key_offsets[2]);
    // a bounded scan stops early and says where it got
    ck_assert_int_eq(rtmp_flv_scan_key(&f, first, 100000, 4, &at, &err), RTMP_OK);
    ck_assert_uint_eq(at, meta.key_offsets[0]);
}
END_TEST

// A file cut anywhere plays up to its last whole tag: never an error, never past the cut.
START_TEST(test_flv_truncated)
{
    std::span<const u_char> data = rtmp_test_file(pool, "tests/data/vod/tiny.flv");
    rtmp_media_file_t whole = file_of(data);
    static tag_t all[128], part[128];
    rtmp_int_t end;
    uint32_t n = read_tags(&whole, all, 128, &end);
    for (size_t cut = 13; cut < data.size(); cut++) {
        rtmp_media_file_t f = file_of(data.first(cut));
        uint32_t m = read_tags(&f, part, 128, &end);
        ck_assert_int_eq(end, RTMP_DONE);
        ck_assert_uint_le(m, n);
        uint32_t whole_tags = 0;
        while (whole_tags < n && all[whole_tags].t.body + all[whole_tags].t.size <= cut) {
            whole_tags++;
        }
        ck_assert_uint_eq(m, whole_tags);
    }
    const char *err = nullptr;
    uint64_t first;
    rtmp_media_file_t shorter = file_of(data.first(5));
    ck_assert_int_eq(rtmp_flv_open(&shorter, &first, &err), RTMP_ERROR);
    rtmp_media_file_t mp4 = file_of(rtmp_test_file(pool, "tests/data/vod/tiny.mp4"));
    ck_assert_int_eq(rtmp_flv_open(&mp4, &first, &err), RTMP_ERROR);
}
END_TEST

START_TEST(test_flv_bounds)
{
    // a 1 MB tag in a file that holds it: refused over max_size, read under it
    size_t size = 13 + 11 + (1 << 20) + 4;
    auto *d = rtmp_palloc<u_char>(pool, size);
    memset(d, 0, size);
    memcpy(d, "FLV\x01\x05\x00\x00\x00\x09", 9);
    u_char *t = d + 13;
    t[0] = RTMP_FLV_VIDEO;
    t[1] = 0x10; // 1 MB
    t[11] = 0x17;
    t[12] = 0x01;
    rtmp_media_file_t f = file_of({d, size});
    rtmp_flv_tag_t tag;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_read_tag(&f, 13, 1000, &tag, &err), RTMP_ERROR);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(rtmp_flv_read_tag(&f, 13, 1 << 20, &tag, &err), RTMP_OK);
    ck_assert(tag.key && !tag.header);
    // unknown tag types and encrypted tags are passed over
    t[0] = 0x20 | RTMP_FLV_VIDEO;
    ck_assert_int_eq(rtmp_flv_read_tag(&f, 13, 1 << 20, &tag, &err), RTMP_DONE);
    t[0] = 7;
    ck_assert_int_eq(rtmp_flv_read_tag(&f, 13, 1 << 20, &tag, &err), RTMP_DONE);

    // an index that is not ascending is no index
    rtmp_flv_file_meta_t meta;
    std::span<const u_char> bad = rtmp_test_hex(
        pool, "02000a6f6e4d65746144617461 03"
              "0009 6b65796672616d6573 03"                                         // keyframes {
              "0005 74696d6573 0a00000002 00 4000000000000000 00 0000000000000000" // times
              "000d 66696c65706f736974696f6e73 0a00000002 00 4030000000000000 00 4040000000000000"
              "000009 000009");
    ck_assert_int_eq(rtmp_flv_parse_meta(pool, bad, &meta), RTMP_OK);
    ck_assert_uint_eq(meta.nkeys, 0);
}
END_TEST

// Every sample of the MP4 is the FLV's frame: same bytes, same times, same key frames.
// exact: the file keeps the FLV's times (ffmpeg's fragmented files have no edit list and
// begin both tracks at 0, later fragments at the FLV's times: up to 250 ms early).
static void check_mp4_against_flv(const char *path, bool exact)
{
    std::span<const u_char> fdata = rtmp_test_file(pool, "tests/data/vod/tiny.flv");
    rtmp_media_file_t ff = file_of(fdata);
    static tag_t tags[128];
    rtmp_int_t end;
    uint32_t n = read_tags(&ff, tags, 128, &end);

    std::span<const u_char> data = rtmp_test_file(pool, path);
    rtmp_media_file_t f = file_of(data);
    rtmp_mp4_t m;
    const char *err = nullptr;
    ck_assert_msg(rtmp_mp4_open(&m, &f, &err) == RTMP_OK, "%s: %s", path, err);
    ck_assert(m.video.codec == rtmp_mp4_codec::avc);
    ck_assert(m.audio.codec == rtmp_mp4_codec::aac);
    ck_assert_uint_eq(m.video.width, 64);
    ck_assert_uint_eq(m.audio.sample_rate, 22050);
    ck_assert_uint_eq(m.video.nsamples, TINY_VIDEO);
    ck_assert_uint_eq(m.audio.nsamples, TINY_AUDIO);
    ck_assert(m.duration_ms > 1400 && m.duration_ms < 1800);
    ck_assert_ptr_nonnull(m.video.ctts); // B-frames

    // the sequence headers are the FLV's
    u_char hdr[256];
    size_t len = rtmp_mp4_flv_header(&m.video, hdr, sizeof(hdr));
    ck_assert(len == tags[1].body.size() && memcmp(hdr, tags[1].body.data(), len) == 0);
    len = rtmp_mp4_flv_header(&m.audio, hdr, sizeof(hdr));
    ck_assert(len == tags[2].body.size() && memcmp(hdr, tags[2].body.data(), len) == 0);
    ck_assert_uint_eq(rtmp_mp4_flv_header(&m.video, hdr, 8), 0);

    // frames in the FLV's order per track (the two interleave a little differently)
    uint32_t vi = 3, ai = 3, count = 0;
    rtmp_mp4_sample_t s;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        bool video = s.track == &m.video;
        uint32_t &i = video ? vi : ai;
        while (i < n && (tags[i].t.type != (video ? RTMP_FLV_VIDEO : RTMP_FLV_AUDIO) ||
                         tags[i].t.header || (video && tags[i].body[1] != 1))) {
            i++;
        }
        ck_assert_uint_lt(i, n);
        const tag_t &t = tags[i++];
        u_char pre[8];
        size_t plen = rtmp_mp4_flv_prefix(&s, pre);
        ck_assert_uint_eq(plen + s.size, t.body.size());
        ck_assert(memcmp(pre, t.body.data(), plen) == 0); // frame type, composition time
        ck_assert(memcmp(data.data() + s.offset, t.body.data() + plen, s.size) == 0);
        ck_assert_uint_eq(s.key, video ? t.t.key : true);
        // the edit lists (video from 200 ms, audio from 46.4 ms of its media, the priming
        // frame) put each track back where the FLV had it: audio 46 ms ahead of video
        int64_t diff = (int64_t)t.t.timestamp - s.dts;
        ck_assert_msg(exact ? diff >= -1 && diff <= 1 : diff >= 0 && diff <= 250,
                      "%s %s at %u ms, not %u", path, video ? "video" : "audio", s.dts,
                      t.t.timestamp);
        count++;
    }
    ck_assert_uint_eq(count, TINY_VIDEO + TINY_AUDIO);
    ck_assert_int_eq(rtmp_mp4_next(&m, &s), RTMP_DONE);

    // a seek lands on the sync sample at or before the time, audio from there
    uint32_t key;
    rtmp_mp4_seek(&m, 1200, &key);
    ck_assert_uint_eq(key, 1000);
    bool seen_video = false;
    for (int i = 0; i < 6 && rtmp_mp4_next(&m, &s) == RTMP_OK; i++) {
        if (s.track == &m.video && !seen_video) {
            ck_assert(s.key);
            ck_assert_uint_eq(s.dts, 1000);
            seen_video = true;
        } else if (s.track == &m.audio) {
            ck_assert_uint_ge(s.dts, 1000);
        }
    }
    ck_assert(seen_video);
    rtmp_mp4_seek(&m, 499, &key);
    ck_assert_uint_eq(key, 0);
    rtmp_mp4_seek(&m, 100000, &key);
    ck_assert_uint_eq(key, 1000);
    rtmp_mp4_close(&m);
}

START_TEST(test_mp4_moov_last)
{
    check_mp4_against_flv("tests/data/vod/tiny.mp4", true);
}
END_TEST

START_TEST(test_mp4_moov_first)
{
    check_mp4_against_flv("tests/data/vod/tiny_faststart.mp4", true);
}
END_TEST

// A sample as read, with its bytes.
struct mp4_sample_t {
    bool video;
    uint32_t size, dts;
    int32_t cts;
    bool key;
    std::span<const u_char> bytes;
};

static uint32_t read_samples(std::span<const u_char> data, mp4_sample_t *out, uint32_t cap,
                             rtmp_int_t *rc)
{
    rtmp_media_file_t f = file_of(data);
    rtmp_mp4_t m;
    const char *err = nullptr;
    *rc = rtmp_mp4_open(&m, &f, &err);
    if (*rc != RTMP_OK) {
        ck_assert_ptr_nonnull(err);
        return 0;
    }
    uint32_t n = 0;
    rtmp_mp4_sample_t s;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        ck_assert_uint_lt(n, cap);
        ck_assert_uint_le(s.offset + s.size, data.size());
        out[n++] = {s.track == &m.video,
                    s.size,
                    s.dts,
                    s.cts,
                    s.key,
                    data.subspan((size_t)s.offset, s.size)};
    }
    rtmp_mp4_close(&m);
    return n;
}

// A fragmented file gives the plain file's samples: sizes, bytes, times, key frames (the
// plain one without an edit list, as ffmpeg wrote the fragmented ones).
static void check_frag_against_plain(const char *path)
{
    static mp4_sample_t plain[128], frag[128];
    rtmp_int_t rc;
    uint32_t n =
        read_samples(rtmp_test_file(pool, "tests/data/vod/tiny_noedit.mp4"), plain, 128, &rc);
    ck_assert_int_eq(rc, RTMP_OK);
    uint32_t k = read_samples(rtmp_test_file(pool, path), frag, 128, &rc);
    ck_assert_int_eq(rc, RTMP_OK);
    ck_assert_uint_eq(n, TINY_VIDEO + TINY_AUDIO);
    ck_assert_uint_eq(k, n);
    uint32_t keys = 0;
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(plain[i].video == frag[i].video && plain[i].size == frag[i].size &&
                          plain[i].dts == frag[i].dts && plain[i].cts == frag[i].cts &&
                          plain[i].key == frag[i].key,
                      "%s: sample %u differs", path, i);
        ck_assert(memcmp(plain[i].bytes.data(), frag[i].bytes.data(), plain[i].size) == 0);
        keys += plain[i].video && plain[i].key;
    }
    ck_assert_uint_eq(keys, TINY_KEYS);
}

START_TEST(test_mp4_fragmented)
{
    check_mp4_against_flv("tests/data/vod/tiny_frag.mp4", false);
    check_mp4_against_flv("tests/data/vod/tiny_frag_moof.mp4", false);
    check_mp4_against_flv("tests/data/vod/tiny_frag_keyframe.mp4", false);
    check_frag_against_plain("tests/data/vod/tiny_frag.mp4");
    check_frag_against_plain("tests/data/vod/tiny_frag_moof.mp4");
    check_frag_against_plain("tests/data/vod/tiny_frag_keyframe.mp4");
}
END_TEST

// A fragmented file cut anywhere (a recording a crash ended) plays its whole fragments:
// exactly the samples before the first fragment that is not all there.
START_TEST(test_mp4_fragmented_cut)
{
    for (const char *path : {"tests/data/vod/tiny_frag.mp4", "tests/data/vod/tiny_frag_moof.mp4"}) {
        std::span<const u_char> data = rtmp_test_file(pool, path);
        static mp4_sample_t all[128], part[128];
        rtmp_int_t rc;
        uint32_t n = read_samples(data, all, 128, &rc);
        ck_assert_uint_eq(n, TINY_VIDEO + TINY_AUDIO);
        // where each fragment (moof and its mdat) ends, from the top-level boxes
        uint64_t moov_end = 0, frag_end[16];
        uint32_t nfrag = 0;
        for (size_t off = 0; off + 8 <= data.size();) {
            uint32_t size = (uint32_t)data[off] << 24 | data[off + 1] << 16 | data[off + 2] << 8 |
                            data[off + 3];
            if (memcmp(data.data() + off + 4, "moov", 4) == 0) {
                moov_end = off + size;
            } else if (memcmp(data.data() + off + 4, "mdat", 4) == 0) {
                ck_assert_uint_lt(nfrag, 16);
                frag_end[nfrag++] = off + size;
            }
            off += size;
        }
        ck_assert_uint_eq(nfrag, 3);
        uint32_t played_all = 0;
        for (size_t cut = 0; cut <= data.size(); cut++) {
            uint32_t k = read_samples(data.first(cut), part, 128, &rc);
            if (cut < moov_end) {
                ck_assert_int_eq(rc, RTMP_ERROR);
                continue;
            }
            ck_assert_int_eq(rc, RTMP_OK);
            uint64_t whole = moov_end;
            for (uint32_t i = 0; i < nfrag && frag_end[i] <= cut; i++) {
                whole = frag_end[i];
            }
            uint32_t want = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (all[i].bytes.data() + all[i].size <= data.data() + whole) {
                    want++;
                }
            }
            ck_assert_msg(k == want, "%s cut at %zu: %u samples, want %u", path, cut, k, want);
            for (uint32_t i = 0; i < k; i++) {
                ck_assert(part[i].size == all[i].size && part[i].dts == all[i].dts &&
                          part[i].key == all[i].key);
            }
            played_all += k == n;
        }
        ck_assert_uint_gt(played_all, 0);
    }
}
END_TEST

START_TEST(test_mp4_declined)
{
    rtmp_mp4_t m;
    const char *err = nullptr;
    rtmp_media_file_t f = file_of(rtmp_test_file(pool, "tests/data/vod/tiny.flv"));
    ck_assert_int_eq(rtmp_mp4_open(&m, &f, &err), RTMP_ERROR);
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_mp4_hevc)
{
    rtmp_mp4_t m;
    const char *err = nullptr;
    rtmp_media_file_t f = file_of(rtmp_test_file(pool, "tests/data/vod/tiny_hevc.mp4"));
    ck_assert_msg(rtmp_mp4_open(&m, &f, &err) == RTMP_OK, "%s", err);
    ck_assert(m.video.codec == rtmp_mp4_codec::hevc);
    ck_assert(m.audio.codec == rtmp_mp4_codec::none);
    u_char hdr[4096];
    size_t len = rtmp_mp4_flv_header(&m.video, hdr, sizeof(hdr));
    ck_assert_uint_gt(len, 5 + 22);
    ck_assert(hdr[0] == 0x90 && memcmp(hdr + 1, "hvc1", 4) == 0); // Enhanced RTMP SequenceStart
    rtmp_mp4_sample_t s;
    ck_assert_int_eq(rtmp_mp4_next(&m, &s), RTMP_OK);
    ck_assert(s.key);
    u_char pre[8];
    ck_assert_uint_eq(rtmp_mp4_flv_prefix(&s, pre), 8);
    ck_assert(pre[0] == 0x91 && memcmp(pre + 1, "hvc1", 4) == 0); // key frame, CodedFrames
    uint32_t n = 1;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        n++;
    }
    ck_assert_uint_eq(n, 10);
    rtmp_mp4_close(&m);
}
END_TEST

// Every prefix of the moov, and every byte of it changed, parses or fails: never more.
START_TEST(test_mp4_moov_cut_and_flipped)
{
    std::span<const u_char> data = rtmp_test_file(pool, "tests/data/vod/tiny_faststart.mp4");
    // the moov follows the 32-byte ftyp in a faststart file
    ck_assert(memcmp(data.data() + 36, "moov", 4) == 0);
    uint32_t size = (uint32_t)data[32] << 24 | data[33] << 16 | data[34] << 8 | data[35];
    std::span<const u_char> moov = data.subspan(40, size - 8);
    auto *copy = rtmp_palloc<u_char>(pool, moov.size());
    for (size_t cut = 0; cut <= moov.size(); cut += 7) {
        rtmp_mp4_t m = {};
        const char *err = nullptr;
        memcpy(copy, moov.data(), cut);
        if (rtmp_mp4_parse_moov(&m, {copy, cut}, &err) == RTMP_OK) {
            rtmp_mp4_sample_t s;
            for (int i = 0; i < 200 && rtmp_mp4_next(&m, &s) == RTMP_OK; i++) {
            }
        }
    }
    for (size_t i = 0; i < moov.size(); i++) {
        memcpy(copy, moov.data(), moov.size());
        copy[i] ^= 0xff;
        rtmp_mp4_t m = {};
        const char *err = nullptr;
        if (rtmp_mp4_parse_moov(&m, {copy, moov.size()}, &err) == RTMP_OK) {
            rtmp_mp4_sample_t s;
            uint32_t key;
            for (int k = 0; k < 200 && rtmp_mp4_next(&m, &s) == RTMP_OK; k++) {
                ck_assert_uint_le(s.size, 0xffffffffu);
            }
            rtmp_mp4_seek(&m, 700, &key);
        }
    }
}
END_TEST

static uint32_t be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(u_char *p, uint32_t v)
{
    p[0] = (u_char)(v >> 24);
    p[1] = (u_char)(v >> 16);
    p[2] = (u_char)(v >> 8);
    p[3] = (u_char)v;
}

// tiny_noedit.mp4's moov body with an edts holding `elst` (version, flags, count,
// entries) put into its audio track (the second trak), parsed; the first sample times of
// each track, in ms as played.
static void edited(const u_char *elst, size_t elst_len, uint32_t *video, uint32_t *audio)
{
    std::span<const u_char> data = rtmp_test_file(pool, "tests/data/vod/tiny_noedit.mp4");
    std::span<const u_char> moov;
    for (size_t at = 0; at + 8 <= data.size();) {
        uint32_t n = be32(data.data() + at);
        ck_assert_uint_ge(n, 8);
        if (memcmp(data.data() + at + 4, "moov", 4) == 0) {
            moov = data.subspan(at + 8, n - 8);
        }
        at += n;
    }
    ck_assert_uint_gt(moov.size(), 0);
    size_t add = 8 + 8 + elst_len;
    auto *out = rtmp_palloc<u_char>(pool, moov.size() + add);
    size_t len = 0;
    int trak = 0;
    for (size_t at = 0; at + 8 <= moov.size();) {
        uint32_t n = be32(moov.data() + at);
        bool here = memcmp(moov.data() + at + 4, "trak", 4) == 0 && ++trak == 2;
        if (!here) {
            memcpy(out + len, moov.data() + at, n);
            len += n;
        } else { // trak header, edts { elst }, the trak's own boxes
            put32(out + len, (uint32_t)(n + add));
            memcpy(out + len + 4, "trak", 4);
            put32(out + len + 8, (uint32_t)add);
            memcpy(out + len + 12, "edts", 4);
            put32(out + len + 16, (uint32_t)(8 + elst_len));
            memcpy(out + len + 20, "elst", 4);
            if (elst_len) {
                memcpy(out + len + 24, elst, elst_len);
            }
            memcpy(out + len + 24 + elst_len, moov.data() + at + 8, n - 8);
            len += n + add;
        }
        at += n;
    }
    ck_assert_uint_eq(trak, 2);
    rtmp_mp4_t m = {};
    const char *err = nullptr;
    ck_assert_msg(rtmp_mp4_parse_moov(&m, {out, len}, &err) == RTMP_OK, "%s", err);
    *video = *audio = UINT32_MAX;
    rtmp_mp4_sample_t s;
    uint32_t last = 0;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        ck_assert_uint_ge(s.dts, last); // in decoding order across both tracks
        last = s.dts;
        uint32_t *first = s.track == &m.video ? video : audio;
        *first = std::min(*first, s.dts);
    }
    ck_assert_uint_ge(m.duration_ms, last);
    rtmp_mp4_close(&m);
}

// Edit lists as ffmpeg and the recorder's faststart copy write them, and ones that are
// not: an empty edit delays the track; a media_time brings it forward, the other track
// then moved later with it; malformed or out-of-range lists are ignored or held.
// An elst body under construction: version, flags, count, then entries.
struct elst_t {
    u_char b[128];
    size_t n;
};

static void elst_start(elst_t *e, uint8_t version, uint32_t count)
{
    *e = {};
    e->b[0] = version;
    put32(e->b + 4, count);
    e->n = 8;
}

// One entry; media_time -1 is an empty edit.
static void elst_entry(elst_t *e, uint64_t duration, int64_t media_time)
{
    if (e->b[0] == 1) {
        put32(e->b + e->n, (uint32_t)(duration >> 32));
        put32(e->b + e->n + 4, (uint32_t)duration);
        put32(e->b + e->n + 8, (uint32_t)((uint64_t)media_time >> 32));
        put32(e->b + e->n + 12, (uint32_t)media_time);
        e->n += 16;
    } else {
        put32(e->b + e->n, (uint32_t)duration);
        put32(e->b + e->n + 4, (uint32_t)media_time);
        e->n += 8;
    }
    put32(e->b + e->n, 0x00010000); // rate 1.0
    e->n += 4;
}

// Edit lists as ffmpeg and the recorder's faststart copy write them, and ones that are
// not: an empty edit delays the track; a media_time brings it forward, the other track
// then moved later with it; malformed or out-of-range lists are ignored or held.
START_TEST(test_mp4_edit_lists)
{
    uint32_t v, a;
    elst_t e;
    // tiny_noedit.mp4 begins both at 0; an elst box too short for its header is no edit
    edited(nullptr, 0, &v, &a);
    ck_assert(v == 0 && a == 0);
    // v0: 154 ms empty (movie timescale 1000), then the media from 0
    elst_start(&e, 0, 2);
    elst_entry(&e, 154, -1);
    elst_entry(&e, 1500, 0);
    edited(e.b, e.n, &v, &a);
    ck_assert_msg(v == 0 && a == 154, "video at %u, audio at %u", v, a);
    // a count past the box, and a media_time below -1: no edit
    put32(e.b + 4, 3);
    edited(e.b, e.n, &v, &a);
    ck_assert(v == 0 && a == 0);
    elst_start(&e, 0, 1);
    elst_entry(&e, 1500, -2);
    edited(e.b, e.n, &v, &a);
    ck_assert(v == 0 && a == 0);
    // v1: two empty edits (300 + 200 ms), then from 1 s of the media (22050 Hz): the audio
    // would begin at -500 ms, so the video is moved to 500 ms instead
    elst_start(&e, 1, 3);
    elst_entry(&e, 300, -1);
    elst_entry(&e, 200, -1);
    elst_entry(&e, 1000, 22050);
    edited(e.b, e.n, &v, &a);
    ck_assert_msg(v == 500 && a == 0, "video at %u, audio at %u", v, a);
    // an empty edit past 2^32 ms is held there, and so are the times
    elst_start(&e, 1, 1);
    elst_entry(&e, UINT64_MAX, -1);
    edited(e.b, e.n, &v, &a);
    ck_assert(v == 0 && a == UINT32_MAX);
}
END_TEST

START_TEST(test_vod_names)
{
    char c[2][RTMP_VOD_MAX_PATH + 1];
    ck_assert_int_eq(rtmp_vod_candidates("clip", c), 2);
    ck_assert_str_eq(c[0], "clip.flv");
    ck_assert_str_eq(c[1], "clip.mp4");
    ck_assert_int_eq(rtmp_vod_candidates("mp4:clip.mp4", c), 1);
    ck_assert_str_eq(c[0], "clip.mp4");
    ck_assert_int_eq(rtmp_vod_candidates("mp4:clip", c), 1);
    ck_assert_str_eq(c[0], "clip.mp4");
    ck_assert_int_eq(rtmp_vod_candidates("flv:a/clip", c), 1);
    ck_assert_str_eq(c[0], "a/clip.flv");
    ck_assert_int_eq(rtmp_vod_candidates("dir/Clip.FLV", c), 1);
    ck_assert_str_eq(c[0], "dir/Clip.FLV");
    ck_assert_int_eq(rtmp_vod_candidates("my.video", c), 2);
    ck_assert_str_eq(c[0], "my.video.flv");
    ck_assert_int_eq(rtmp_vod_candidates("..clip", c), 2); // a name, not a component
    for (const char *bad :
         {"", "mp4:", "..", "../clip", "a/../clip", "a/..", "./clip", "a/./b", "/etc/passwd",
          "mp4:/etc/passwd", "a//b", "a/", "a\\b", "..\\clip", "a\nb", "mp4:../x.mp4"}) {
        ck_assert_msg(rtmp_vod_candidates(bad, c) == -1, "%s accepted", bad);
    }
}
END_TEST

Suite *rtmp_vod_suite(void)
{
    Suite *s = suite_create("vod");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flv_tags);
    tcase_add_test(tc, test_flv_truncated);
    tcase_add_test(tc, test_flv_bounds);
    tcase_add_test(tc, test_mp4_moov_last);
    tcase_add_test(tc, test_mp4_moov_first);
    tcase_add_test(tc, test_mp4_fragmented);
    tcase_add_test(tc, test_mp4_fragmented_cut);
    tcase_add_test(tc, test_mp4_declined);
    tcase_add_test(tc, test_mp4_hevc);
    tcase_add_test(tc, test_mp4_moov_cut_and_flipped);
    tcase_add_test(tc, test_mp4_edit_lists);
    tcase_add_test(tc, test_vod_names);
    suite_add_tcase(s, tc);
    return s;
}
