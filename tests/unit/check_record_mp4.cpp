// Unit tests for the MP4 record writer: its file, sequence header changes, codecs it leaves out.
#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_flv_reader.h"
#include "rtmp/rtmp_mp4.h"
#include "rtmp/rtmp_record.h"
#include "test_util.h"

static rtmp_pool_t *pool;
static rtmp_record_conf_t rc;
static rtmp_record_info_t info;
static rtmp_recorder_t r;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
    rc = {};
    rc.name = rtmp_pstr(pool, "t");
    rc.buffer = 64 * 1024;
    rc.fragment = 2000;
    rc.writer = &rtmp_record_mp4_writer;
    info = {};
    r = {};
    r.conf = &rc;
    r.info = &info;
    r.log = &rtmp_log_stderr_log;
    snprintf(r.path, sizeof(r.path), "/tmp/check_record_mp4_XXXXXX");
    r.fd = mkstemp(r.path);
    ck_assert_int_ne(r.fd, -1);
    r.buf = static_cast<u_char *>(rtmp_alloc(rc.buffer));
}

static void teardown(void)
{
    if (r.fd != -1) {
        close(r.fd);
    }
    unlink(r.path);
    rtmp_free(r.buf);
    rtmp_pool_destroy(pool);
}

// What the recorder core does after the writer's close: the rest of the buffer to the file.
static void finish(void)
{
    ck_assert_int_eq(rc.writer->close(&r), RTMP_OK);
    ck_assert_int_eq(rtmp_record_rewrite(&r, 0, nullptr, 0), RTMP_OK);
    close(r.fd);
    r.fd = -1;
}

// The top-level box types of the file at r.path, as one string ("ftypmoovmoof...").
static void box_types(char *out, size_t cap)
{
    std::span<const u_char> d = rtmp_test_file(pool, r.path);
    size_t n = 0;
    while (d.size() >= 8 && n + 5 <= cap) {
        uint32_t size = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        ck_assert_uint_ge(size, 8);
        ck_assert_uint_le(size, d.size());
        memcpy(out + n, d.data() + 4, 4);
        n += 4;
        d = d.subspan(size);
    }
    ck_assert_uint_eq(d.size(), 0);
    out[n] = '\0';
}

// The frames of an FLV file through the writer, as the core hands them; returns how many.
static uint32_t feed(const char *path, uint32_t max_tags)
{
    std::span<const u_char> data = rtmp_test_file(pool, path);
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data.data(), data.size());
    uint64_t off;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(&f, &off, &err), RTMP_OK);
    rtmp_flv_tag_t t;
    uint32_t n = 0;
    for (uint32_t i = 0; i < max_tags && rtmp_flv_read_tag(&f, off, 1 << 20, &t, &err) == RTMP_OK;
         i++) {
        off = t.next;
        if (t.type == RTMP_FLV_SCRIPT) {
            continue;
        }
        rtmp_record_frame_t fr = {t.type, t.timestamp, t.key, t.header,
                                  data.subspan(t.body, t.size)};
        ck_assert_int_eq(rc.writer->frame(&r, &fr), RTMP_OK);
        n++;
    }
    return n;
}

START_TEST(test_record_mp4_fragmented)
{
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    ck_assert_uint_gt(feed("tests/data/vod/tiny.flv", 1000), 10);
    ck_assert_uint_gt(r.pending, 0); // the last fragment is still held
    finish();
    char types[256];
    box_types(types, sizeof(types));
    ck_assert_msg(strncmp(types, "ftypmoovmoofmdat", 16) == 0, "%s", types);
}
END_TEST

START_TEST(test_record_mp4_faststart)
{
    rc.faststart = true;
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    feed("tests/data/vod/tiny.flv", 1000);
    uint64_t fragmented = r.offset;
    finish();
    char types[256];
    box_types(types, sizeof(types));
    ck_assert_str_eq(types, "ftypmoovmdat");
    struct stat sb;
    ck_assert_int_eq(stat(r.path, &sb), 0);
    ck_assert_uint_eq((uint64_t)sb.st_size, r.offset); // what the done chain reports
    ck_assert_uint_ne(r.offset, fragmented);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", r.path);
    ck_assert_int_eq(access(tmp, F_OK), -1);
}
END_TEST

// A repeated sequence header is nothing new; a changed one ends the file (RTMP_DECLINED).
START_TEST(test_record_mp4_config_change)
{
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    feed("tests/data/vod/tiny.flv", 3); // the sequence headers
    std::span<const u_char> data = rtmp_test_file(pool, "tests/data/vod/tiny.flv");
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, data.data(), data.size());
    uint64_t off;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(&f, &off, &err), RTMP_OK);
    rtmp_flv_tag_t t;
    int seen = 0;
    while (seen < 2 && rtmp_flv_read_tag(&f, off, 1 << 20, &t, &err) == RTMP_OK) {
        off = t.next;
        if (!t.header || t.type == RTMP_FLV_SCRIPT) {
            continue;
        }
        seen++;
        auto *copy = rtmp_palloc<u_char>(pool, t.size);
        memcpy(copy, data.data() + t.body, t.size);
        rtmp_record_frame_t fr = {t.type, 5000, false, true, {copy, t.size}};
        ck_assert_int_eq(rc.writer->frame(&r, &fr), RTMP_OK);
        // avcC: the profile compatibility byte; AAC: the channel configuration
        size_t at = t.type == RTMP_FLV_VIDEO ? 5 + 2 : 2 + 1;
        copy[at] ^= t.type == RTMP_FLV_VIDEO ? 0x01 : 0x10;
        ck_assert_int_eq(rc.writer->frame(&r, &fr), RTMP_DECLINED);
    }
    ck_assert_int_eq(seen, 2);
    finish();
}
END_TEST

// MP3 and VP6 cannot go into the file: left out; a file with nothing is removed on close.
START_TEST(test_record_mp4_unsupported)
{
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    static const u_char mp3[] = {0x2f, 0xff, 0xfb, 0x90, 0x00};
    static const u_char vp6[] = {0x14, 0x00, 0x00, 0x00, 0x00};
    for (uint32_t ts = 0; ts < 5000; ts += 20) {
        rtmp_record_frame_t a = {RTMP_MSG_AUDIO, ts, false, false, {mp3, sizeof(mp3)}};
        rtmp_record_frame_t v = {RTMP_MSG_VIDEO, ts, true, false, {vp6, sizeof(vp6)}};
        ck_assert_int_eq(rc.writer->frame(&r, &a), RTMP_OK);
        ck_assert_int_eq(rc.writer->frame(&r, &v), RTMP_OK);
    }
    ck_assert_uint_eq(r.offset, 0);
    ck_assert_int_eq(rc.writer->close(&r), RTMP_OK);
    ck_assert_int_eq(access(r.path, F_OK), -1);
}
END_TEST

// H.265 in Enhanced RTMP packets (sequence start, coded frames, coded frames X): an hvc1
// track that ffprobe reads with every frame, fragmented and made faststart.
START_TEST(test_record_mp4_hevc)
{
    rc.faststart = _i == 1;
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    std::span<const u_char> seq = rtmp_test_file(pool, "tests/data/codec/hevc_seq.bin");
    std::span<const u_char> key = rtmp_test_file(pool, "tests/data/codec/hevc_key.bin");
    std::span<const u_char> inter = rtmp_test_file(pool, "tests/data/codec/hevc_inter_x.bin");
    rtmp_record_frame_t h = {RTMP_MSG_VIDEO, 0, false, true, seq};
    ck_assert_int_eq(rc.writer->frame(&r, &h), RTMP_OK);
    for (uint32_t i = 0; i < 100; i++) {
        bool k = i % 50 == 0;
        rtmp_record_frame_t f = {RTMP_MSG_VIDEO, 40 * i, k, false, k ? key : inter};
        ck_assert_int_eq(rc.writer->frame(&r, &f), RTMP_OK);
    }
    finish();
    char types[256];
    box_types(types, sizeof(types));
    ck_assert_msg(strncmp(types, _i == 1 ? "ftypmoovmdat" : "ftypmoovmoof", 12) == 0, "%s", types);
    char cmd[PATH_MAX + 160];
    snprintf(
        cmd, sizeof(cmd),
        "ffprobe -v error -count_packets -show_entries stream=codec_name,width,nb_read_packets "
        "-of csv=p=0 %s 2>&1",
        r.path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    int status = pclose(p);
    ck_assert_msg(status == 0 && strcmp(line, "hevc,320,100\n") == 0, "ffprobe: %s", line);
}
END_TEST

// A recording plays back as it was published: VOD reads from the fragmented file (trun
// version 1, per-sample flags and composition offsets, audio starting later than video)
// every frame of the FLV it was recorded from, with its bytes, time, composition time
// and key flag, each track in order.
START_TEST(test_record_mp4_plays)
{
    ck_assert_int_eq(rc.writer->open(&r), RTMP_OK);
    feed("tests/data/vod/tiny.flv", 1000);
    finish();
    char types[256];
    box_types(types, sizeof(types));
    ck_assert_msg(strncmp(types, "ftypmoovmoofmdatmoofmdatmoofmdat", 32) == 0, "%s", types);

    std::span<const u_char> flv = rtmp_test_file(pool, "tests/data/vod/tiny.flv");
    rtmp_media_file_t ff;
    rtmp_media_file_memory(&ff, flv.data(), flv.size());
    static rtmp_flv_tag_t tags[128];
    uint32_t ntags = 0;
    uint64_t off;
    const char *err = nullptr;
    ck_assert_int_eq(rtmp_flv_open(&ff, &off, &err), RTMP_OK);
    rtmp_flv_tag_t t;
    while (rtmp_flv_read_tag(&ff, off, 1 << 20, &t, &err) == RTMP_OK) {
        off = t.next;
        if (t.type != RTMP_FLV_SCRIPT && !t.header &&
            (t.type == RTMP_FLV_AUDIO || flv[t.body + 1] == 1)) { // frames, not the end
            ck_assert_uint_lt(ntags, 128);
            tags[ntags++] = t;
        }
    }

    std::span<const u_char> d = rtmp_test_file(pool, r.path);
    rtmp_media_file_t f;
    rtmp_media_file_memory(&f, d.data(), d.size());
    rtmp_mp4_t m;
    ck_assert_msg(rtmp_mp4_open(&m, &f, &err) == RTMP_OK, "%s", err);
    uint32_t vi = 0, ai = 0, n = 0, keys = 0;
    rtmp_mp4_sample_t s;
    while (rtmp_mp4_next(&m, &s) == RTMP_OK) {
        bool video = s.track == &m.video;
        uint32_t &i = video ? vi : ai;
        while (i < ntags && tags[i].type != (video ? RTMP_FLV_VIDEO : RTMP_FLV_AUDIO)) {
            i++;
        }
        ck_assert_uint_lt(i, ntags);
        const rtmp_flv_tag_t &tag = tags[i++];
        u_char pre[8];
        size_t plen = rtmp_mp4_flv_prefix(&s, pre);
        ck_assert_uint_eq(plen + s.size, tag.size);
        ck_assert(memcmp(pre, flv.data() + tag.body, plen) == 0); // key flag, composition time
        ck_assert_uint_le(s.offset + s.size, d.size());
        ck_assert(memcmp(d.data() + s.offset, flv.data() + tag.body + plen, s.size) == 0);
        ck_assert_msg(s.dts == tag.timestamp, "%s frame at %u read at %u",
                      video ? "video" : "audio", tag.timestamp, s.dts);
        keys += video && s.key;
        n++;
    }
    ck_assert_uint_eq(n, ntags);
    ck_assert_uint_eq(n, 15 + 34); // ffprobe's count
    ck_assert_uint_eq(keys, 3);
    rtmp_mp4_close(&m);
}
END_TEST

Suite *rtmp_record_mp4_suite(void)
{
    Suite *s = suite_create("record_mp4");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_record_mp4_fragmented);
    tcase_add_test(tc, test_record_mp4_faststart);
    tcase_add_test(tc, test_record_mp4_config_change);
    tcase_add_test(tc, test_record_mp4_unsupported);
    tcase_add_loop_test(tc, test_record_mp4_hevc, 0, 2);
    tcase_add_test(tc, test_record_mp4_plays);
    suite_add_tcase(s, tc);
    return s;
}
