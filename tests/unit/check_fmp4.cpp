// Unit tests for the fragmented MP4 muxer: box layout, then FLV files remuxed and read by ffmpeg.
#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "core/rtmp_log.h"
#include "test_util.h"
#include "hls/rtmp_fmp4.h"
#include "rtmp/rtmp_flv_reader.h"
#include "rtmp/rtmp_mp4.h"

static rtmp_pool_t *pool;
static rtmp_fmp4_t *mx;

// What the muxer handed over, and where each fragment (moof) starts.
struct sink_t {
    u_char *p;
    size_t len;
    size_t cap;
    size_t frag[64];
    uint32_t nfrag;
};

static sink_t sink;

static rtmp_int_t sink_output(void *data, const u_char *p, size_t len)
{
    sink_t *s = static_cast<sink_t *>(data);
    if (len >= 8 && memcmp(p + 4, "moof", 4) == 0) {
        ck_assert_uint_lt(s->nfrag, 64);
        s->frag[s->nfrag++] = s->len;
    }
    ck_assert_uint_le(s->len + len, s->cap);
    memcpy(s->p + s->len, p, len);
    s->len += len;
    return RTMP_OK;
}

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    mx = static_cast<rtmp_fmp4_t *>(rtmp_alloc(sizeof(rtmp_fmp4_t)));
    sink = {};
    sink.cap = 1 << 20;
    sink.p = rtmp_palloc<u_char>(pool, sink.cap);
}

static void teardown(void)
{
    rtmp_fmp4_free(mx);
    rtmp_free(mx);
    rtmp_pool_destroy(pool);
}

static uint32_t be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// The body of the first box of `type` in [p, p + len), following a path of nested boxes.
static std::span<const u_char> find_box(std::span<const u_char> in, const char *path)
{
    while (*path) {
        bool found = false;
        while (in.size() >= 8) {
            uint32_t size = be32(in.data());
            ck_assert_uint_ge(size, 8);
            ck_assert_uint_le(size, in.size());
            if (memcmp(in.data() + 4, path, 4) == 0) {
                in = in.subspan(8, size - 8);
                found = true;
                break;
            }
            in = in.subspan(size);
        }
        if (!found) {
            return {};
        }
        path += 4;
        if (*path == '/') {
            path++;
        }
    }
    return in;
}

// Feeds every audio and video tag of an FLV file to the muxer; returns the video
// sequence header's record.
static std::span<const u_char> feed_flv(const char *path, uint32_t max_tags)
{
    std::span<const u_char> data = rtmp_test_file(pool, path);
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data.data(), data.size());
    uint64_t off;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(&f, &off, &err), RTMP_OK);
    std::span<const u_char> record;
    rtmp_flv_tag_t t;
    for (uint32_t i = 0; i < max_tags && rtmp_flv_read_tag(&f, off, 1 << 20, &t, &err) == RTMP_OK;
         i++) {
        off = t.next;
        if (t.type == RTMP_FLV_SCRIPT) {
            continue;
        }
        rtmp_message_t m{};
        m.h.type = t.type;
        m.h.timestamp = t.timestamp;
        m.h.mlen = t.size;
        m.payload = data.subspan(t.body, t.size);
        if (t.type == RTMP_FLV_VIDEO && t.header) {
            record = m.payload.subspan(5);
        }
        rtmp_int_t rc = rtmp_fmp4_message(mx, &m);
        // only ffmpeg's AVC end of sequence is not a frame
        ck_assert_msg(rc == RTMP_OK ||
                          (rc == RTMP_DECLINED && t.type == RTMP_FLV_VIDEO && m.payload[1] == 2),
                      "tag at %llu: %d", (unsigned long long)t.offset, (int)rc);
    }
    return record;
}

START_TEST(test_fmp4_init_segment)
{
    rtmp_fmp4_init(mx, sink_output, &sink, 0);
    std::span<const u_char> record = feed_flv("tests/data/vod/tiny.flv", 3); // headers only
    ck_assert_uint_eq(sink.len, 0);
    ck_assert_int_eq(rtmp_fmp4_write_init(mx), RTMP_OK);
    std::span<const u_char> out{sink.p, sink.len};
    ck_assert(memcmp(sink.p + 4, "ftyp", 4) == 0);
    std::span<const u_char> avcc = find_box(out, "moov/trak/mdia/minf/stbl/stsd");
    ck_assert_uint_gt(avcc.size(), 8);
    avcc = find_box(avcc.subspan(8), "avc1");
    ck_assert_uint_gt(avcc.size(), 78);
    ck_assert_uint_eq(be32(avcc.data() + 24) >> 16, 64); // width from the SPS
    avcc = find_box(avcc.subspan(78), "avcC");
    ck_assert(avcc.size() == record.size() && memcmp(avcc.data(), record.data(), avcc.size()) == 0);
    std::span<const u_char> mvex = find_box(out, "moov/mvex");
    ck_assert_uint_eq(mvex.size(), 2 * 32); // a trex per track
    ck_assert(memcmp(mvex.data() + 4, "trex", 4) == 0);
    ck_assert_uint_eq(be32(mvex.data() + 12), RTMP_FMP4_VIDEO_ID);
    ck_assert_uint_eq(be32(mvex.data() + 32 + 12), RTMP_FMP4_AUDIO_ID);
    // a config after the init segment needs a new file
    ck_assert_int_eq(rtmp_fmp4_set_video_config(mx, rtmp_fmp4_video::avc, record), RTMP_DECLINED);
    // malformed configs
    rtmp_fmp4_t other;
    rtmp_fmp4_init(&other, sink_output, &sink, 0);
    ck_assert_int_eq(rtmp_fmp4_set_video_config(&other, rtmp_fmp4_video::avc, record.first(3)),
                     RTMP_ERROR);
    ck_assert_int_eq(rtmp_fmp4_set_audio_config(&other, {}), RTMP_ERROR);
    u_char frame[4] = {0, 0, 0, 0};
    ck_assert_int_eq(rtmp_fmp4_video_frame(&other, 0, 0, true, {frame, 4}), RTMP_DECLINED);
    rtmp_fmp4_free(&other);
}
END_TEST

// Runs a shell command; its output into buf; its exit status.
static int run(const char *cmd, char *buf, size_t size)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != nullptr, "popen %s", cmd);
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    ck_assert_uint_lt(n, size - 1);
    return pclose(p);
}

// A framemd5 listing as "type size hash" lines, per media type, in order.
struct packets_t {
    char lines[2][512][64];
    uint32_t n[2]; // video, audio
};

static void framemd5(const char *path, packets_t *p)
{
    static char out[1 << 18];
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i %s -c copy -f framemd5 - 2>&1", path);
    ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "%s: %s", cmd, out);
    int kind[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    *p = {};
    for (char *save = nullptr, *l = strtok_r(out, "\n", &save); l != nullptr;
         l = strtok_r(nullptr, "\n", &save)) {
        int idx;
        char type[16];
        if (sscanf(l, "#media_type %d: %15s", &idx, type) == 2 && idx >= 0 && idx < 8) {
            kind[idx] = strcmp(type, "video") == 0 ? 0 : strcmp(type, "audio") == 0 ? 1 : -1;
            continue;
        }
        if (l[0] == '#') {
            continue;
        }
        char *col[6];
        int c = 0;
        for (char *s2 = nullptr, *t = strtok_r(l, ",", &s2); t && c < 6;
             t = strtok_r(nullptr, ",", &s2)) {
            col[c++] = t;
        }
        ck_assert_int_ge(c, 6);
        idx = atoi(col[0]);
        ck_assert(idx >= 0 && idx < 8 && kind[idx] >= 0);
        uint32_t &n = p->n[kind[idx]];
        ck_assert_uint_lt(n, 512);
        // pts, size, hash (FLV and our MP4 both count in ms: the times compare as they are)
        snprintf(p->lines[kind[idx]][n++], 64, "%s %s %s", col[2], col[4], col[5]);
    }
}

// The muxer's output as a file, which ffprobe must read and whose packets must be the FLV's.
static void check_against(const char *flv, const u_char *p, size_t len, bool whole)
{
    char path[] = "/tmp/rtmp_fmp4_XXXXXX.mp4";
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
    close(fd);
    static char out[1 << 16];
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 %s 2>&1", path);
    ck_assert_msg(run(cmd, out, sizeof(out)) == 0 && strstr(out, "h264") != nullptr, "%s: %s", cmd,
                  out);
    static packets_t src, got;
    framemd5(flv, &src);
    framemd5(path, &got);
    unlink(path);
    for (int k = 0; k < 2; k++) {
        ck_assert_uint_gt(got.n[k], 0);
        if (whole) {
            ck_assert_uint_eq(got.n[k], src.n[k]);
        }
        ck_assert_uint_le(got.n[k], src.n[k]);
        for (uint32_t i = 0; i < got.n[k]; i++) {
            ck_assert_msg(strcmp(got.lines[k][i], src.lines[k][i]) == 0, "%s packet %u: %s, not %s",
                          k ? "audio" : "video", i, got.lines[k][i], src.lines[k][i]);
        }
    }
}

static void remux(const char *flv, uint32_t keys)
{
    rtmp_fmp4_init(mx, sink_output, &sink, 0);
    feed_flv(flv, 100000);
    ck_assert_int_eq(rtmp_fmp4_flush(mx), RTMP_OK);
    ck_assert_uint_eq(sink.nfrag, keys); // one fragment per key-frame interval
    for (uint32_t i = 0; i < sink.nfrag; i++) {
        // every fragment's video starts with a sync sample
        size_t end = i + 1 < sink.nfrag ? sink.frag[i + 1] : sink.len;
        std::span<const u_char> frag{sink.p + sink.frag[i], end - sink.frag[i]};
        std::span<const u_char> trun = find_box(frag, "moof/traf");
        ck_assert(be32(find_box(trun, "tfhd").data() + 4) == RTMP_FMP4_VIDEO_ID);
        trun = find_box(trun, "trun");
        ck_assert_uint_eq(trun[0], 1);                         // signed composition offsets
        ck_assert_uint_eq(be32(trun.data() + 20), 0x02000000); // first sample: sync
    }
    check_against(flv, sink.p, sink.len, true);
    // a writer killed after the second fragment: what it wrote plays up to there
    check_against(flv, sink.p, sink.frag[2], false);
}

START_TEST(test_fmp4_remux_bframes)
{
    remux("tests/data/vod/tiny.flv", 3); // B-frames: composition offsets
}
END_TEST

START_TEST(test_fmp4_remux_av)
{
    remux("tests/data/hls/av.flv", 3);
}
END_TEST

// Every sample our demuxer reads from a file: track, time, composition offset, size.
static uint32_t demux(const u_char *p, size_t len, uint64_t *out, uint32_t cap)
{
    rtmp_mp4_t m;
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, p, len);
    const char *err = nullptr;
    ck_assert_msg(rtmp_mp4_open(&m, &f, &err) == RTMP_OK, "%s", err);
    uint32_t n = 0;
    rtmp_mp4_sample_t s;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        ck_assert_uint_lt(n, cap);
        out[n++] = (uint64_t)(s.track == &m.video) << 63 | (uint64_t)s.dts << 32 |
                   (uint64_t)(s.cts & 0xffff) << 16 | (s.size & 0xffff);
    }
    rtmp_mp4_close(&m);
    return n;
}

// The faststart copy's edit list of the audio track (the second trak): audio_start ms
// empty, then the whole media from its first sample; the video track, first, has none.
static void check_edits(std::span<const u_char> file, uint32_t audio_start)
{
    std::span<const u_char> moov = find_box(file, "moov"), trak[2];
    for (int i = 0; i < 2; i++) {
        trak[i] = find_box(moov, "trak");
        ck_assert_uint_gt(trak[i].size(), 0);
        size_t at = (size_t)(trak[i].data() - moov.data()) - 8;
        moov = moov.subspan(at + be32(moov.data() + at));
    }
    ck_assert_uint_eq(find_box(trak[0], "edts").size(), 0);
    std::span<const u_char> elst = find_box(trak[1], "edts/elst");
    std::span<const u_char> mdhd = find_box(trak[1], "mdia/mdhd");
    static const u_char head[] = {0, 0, 0, 0, 0, 0, 0, 2};
    ck_assert_uint_eq(elst.size(), 8 + 2 * 12);
    ck_assert(memcmp(elst.data(), head, 8) == 0); // version 0, two edits
    ck_assert_uint_eq(be32(elst.data() + 8), audio_start);
    ck_assert_uint_eq(be32(elst.data() + 12), 0xffffffff); // empty
    ck_assert_uint_eq(be32(elst.data() + 16), 0x00010000);
    ck_assert_uint_eq(be32(elst.data() + 20), be32(mdhd.data() + 16)); // the media's duration
    ck_assert_uint_eq(be32(elst.data() + 24), 0); // from its first sample's decode time
    ck_assert_uint_eq(be32(elst.data() + 28), 0x00010000);
    // the track lasts its empty edit and its media
    std::span<const u_char> tkhd = find_box(trak[1], "tkhd");
    ck_assert_uint_eq(be32(tkhd.data() + 20), audio_start + be32(mdhd.data() + 16));
}

// The fragmented output made into a plain MP4, moov first, from the index and the
// fragments' media ranges: ffmpeg reads the same packets at the same times, and so does
// our own demuxer, which reads the same samples at the same times from both files.
static void faststart(const char *flv, uint32_t video, uint32_t audio, uint32_t audio_start)
{
    rtmp_fmp4_init(mx, sink_output, &sink, 0);
    mx->keep_index = true;
    feed_flv(flv, 100000);
    ck_assert_int_eq(rtmp_fmp4_flush(mx), RTMP_OK);
    ck_assert_uint_eq(mx->written, sink.len);
    ck_assert_uint_eq(mx->nfrags, sink.nfrag);

    static sink_t plain;
    plain = {};
    plain.cap = 1 << 20;
    plain.p = rtmp_palloc<u_char>(pool, plain.cap);
    ck_assert_int_eq(rtmp_fmp4_finalize(mx, sink_output, &plain), RTMP_OK);
    ck_assert_uint_eq(plain.nfrag, 0);
    for (uint32_t f = 0; f < mx->nfrags; f++) {
        const rtmp_fmp4_fragment_t &fr = mx->frags[f];
        size_t len = (size_t)fr.video_len + fr.audio_len;
        ck_assert_uint_le(fr.offset + len, sink.len);
        ck_assert(memcmp(sink.p + fr.offset - 4, "mdat", 4) == 0);
        ck_assert_int_eq(sink_output(&plain, sink.p + fr.offset, len), RTMP_OK);
    }
    ck_assert(memcmp(plain.p + 4, "ftyp", 4) == 0);
    ck_assert(memcmp(plain.p + be32(plain.p) + 4, "moov", 4) == 0);
    check_against(flv, plain.p, plain.len, true);
    check_edits({plain.p, plain.len}, audio_start);
    static uint64_t a[512], b[512];
    uint32_t na = demux(sink.p, sink.len, a, 512), nb = demux(plain.p, plain.len, b, 512);
    ck_assert_uint_eq(na, video + audio);
    ck_assert_uint_eq(nb, na);
    for (uint32_t i = 0; i < na; i++) {
        ck_assert_msg(a[i] == b[i], "sample %u: %llx in the faststart copy, %llx fragmented", i,
                      (unsigned long long)b[i], (unsigned long long)a[i]);
    }
    for (uint32_t i = 0; i < na; i++) { // the first audio sample, where the FLV has it
        if (!(a[i] >> 63)) {
            ck_assert_uint_eq((a[i] >> 32) & 0x7fffffff, audio_start);
            break;
        }
    }

    rtmp_mp4_t m;
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, plain.p, plain.len);
    const char *err = nullptr;
    ck_assert_msg(rtmp_mp4_open(&m, &f, &err) == RTMP_OK, "%s", err);
    ck_assert_uint_eq(m.video.nsamples, video);
    ck_assert_uint_eq(m.audio.nsamples, audio);
    rtmp_mp4_close(&m);
    // without the index there is nothing to finalise from
    rtmp_fmp4_t other;
    rtmp_fmp4_init(&other, sink_output, &plain, 0);
    ck_assert_int_eq(rtmp_fmp4_finalize(&other, sink_output, &plain), RTMP_DECLINED);
}

START_TEST(test_fmp4_faststart)
{
    faststart("tests/data/vod/tiny.flv", 15, 34, 154);
}
END_TEST

START_TEST(test_fmp4_faststart_av)
{
    faststart("tests/data/hls/av.flv", 75, 131, 57);
}
END_TEST

START_TEST(test_fmp4_time_bound)
{
    // audio alone: only the time bound cuts
    rtmp_fmp4_init(mx, sink_output, &sink, 500);
    u_char asc[2] = {0x12, 0x10}; // AAC LC, 44.1 kHz, stereo
    ck_assert_int_eq(rtmp_fmp4_set_audio_config(mx, {asc, 2}), RTMP_OK);
    u_char frame[100] = {};
    for (uint32_t i = 0; i < 100; i++) { // 2.3 s of 23 ms frames
        ck_assert_int_eq(rtmp_fmp4_audio_frame(mx, 1000 + i * 23, {frame, sizeof(frame)}), RTMP_OK);
    }
    ck_assert_int_eq(rtmp_fmp4_video_frame(mx, 0, 0, true, {frame, 4}), RTMP_DECLINED);
    ck_assert_int_eq(rtmp_fmp4_flush(mx), RTMP_OK);
    ck_assert_uint_eq(sink.nfrag, 5);
    // the second fragment starts at the first frame at or past 500 ms
    std::span<const u_char> tfdt =
        find_box({sink.p + sink.frag[1], sink.len - sink.frag[1]}, "moof/traf/tfdt");
    ck_assert_uint_eq(be32(tfdt.data() + 8), 22 * 23);
    ck_assert_int_eq(rtmp_fmp4_flush(mx), RTMP_OK); // nothing more to write
    ck_assert_uint_eq(sink.nfrag, 5);
}
END_TEST

Suite *rtmp_fmp4_suite(void)
{
    Suite *s = suite_create("fmp4");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fmp4_init_segment);
    tcase_add_test(tc, test_fmp4_remux_bframes);
    tcase_add_test(tc, test_fmp4_remux_av);
    tcase_add_test(tc, test_fmp4_faststart);
    tcase_add_test(tc, test_fmp4_faststart_av);
    tcase_add_test(tc, test_fmp4_time_bound);
    suite_add_tcase(s, tc);
    return s;
}
