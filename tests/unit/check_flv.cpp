// Unit tests for the FLV writer: header and tag bytes, the keyframe index, onMetaData as AMF0.
#include <check.h>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_flv.h"
#include "test_util.h"

static rtmp_pool_t *pool;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

START_TEST(test_header_and_tags)
{
    u_char h[RTMP_FLV_HEADER];
    rtmp_flv_header(h, true, true);
    std::span<const u_char> want = rtmp_test_hex(pool, "464c5601 05 00000009 00000000");
    ck_assert_mem_eq(h, want.data(), want.size());
    rtmp_flv_header(h, false, true);
    ck_assert_uint_eq(h[4], 0x01);
    rtmp_flv_header(h, true, false);
    ck_assert_uint_eq(h[4], 0x04);

    u_char t[RTMP_FLV_TAG_HEADER];
    rtmp_flv_tag_header(t, RTMP_FLV_VIDEO, 0x012345, 0x89abcdef);
    want = rtmp_test_hex(pool, "09 012345 abcdef 89 000000");
    ck_assert_mem_eq(t, want.data(), want.size());

    u_char tr[RTMP_FLV_TAG_TRAILER];
    rtmp_flv_tag_trailer(tr, 0x012345);
    want = rtmp_test_hex(pool, "00012350");
    ck_assert_mem_eq(tr, want.data(), want.size());
}
END_TEST

START_TEST(test_index_thins_out)
{
    uint32_t times[4];
    uint64_t pos[4];
    rtmp_flv_index_t ix;
    rtmp_flv_index_init(&ix, times, pos, 4);
    for (uint32_t k = 0; k < 4; k++) {
        rtmp_flv_index_add(&ix, k * 1000, 100 + k);
    }
    ck_assert_uint_eq(ix.n, 4);
    ck_assert_uint_eq(ix.stride, 1);
    // the fifth key frame: keep 0 and 2, then 4
    rtmp_flv_index_add(&ix, 4000, 104);
    ck_assert_uint_eq(ix.stride, 2);
    ck_assert_uint_eq(ix.n, 3);
    ck_assert_uint_eq(times[0], 0);
    ck_assert_uint_eq(times[1], 2000);
    ck_assert_uint_eq(times[2], 4000);
    ck_assert_uint_eq(pos[2], 104);
    rtmp_flv_index_add(&ix, 5000, 105); // odd: skipped
    ck_assert_uint_eq(ix.n, 3);
    rtmp_flv_index_add(&ix, 6000, 106);
    ck_assert_uint_eq(ix.n, 4);
    rtmp_flv_index_add(&ix, 7000, 107); // skipped
    // the ninth (8): full again, keep 0, 4, then 8 with stride 4
    rtmp_flv_index_add(&ix, 8000, 108);
    ck_assert_uint_eq(ix.stride, 4);
    ck_assert_uint_eq(ix.n, 3);
    ck_assert_uint_eq(times[1], 4000);
    ck_assert_uint_eq(times[2], 8000);
    // every entry is a multiple of the stride, in order, whatever the count
    for (uint32_t k = 9; k < 1000; k++) {
        rtmp_flv_index_add(&ix, k * 1000, 100 + k);
        ck_assert_uint_le(ix.n, 4);
        for (uint32_t i = 0; i < ix.n; i++) {
            ck_assert_uint_eq(times[i] % (ix.stride * 1000), 0);
            ck_assert(i == 0 || times[i] > times[i - 1]);
        }
    }
    ck_assert_uint_eq(times[0], 0);
}
END_TEST

// Decodes a whole onMetaData tag; the object, or nullptr.
static const rtmp_amf_value_t *decode_meta(const u_char *p, size_t len)
{
    ck_assert_uint_eq(p[0], RTMP_FLV_SCRIPT);
    size_t data = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    ck_assert_uint_eq(RTMP_FLV_TAG_HEADER + data + RTMP_FLV_TAG_TRAILER, len);
    const u_char *tr = p + len - 4;
    ck_assert_uint_eq((size_t)tr[0] << 24 | (size_t)tr[1] << 16 | (size_t)tr[2] << 8 | tr[3],
                      RTMP_FLV_TAG_HEADER + data);
    rtmp_amf_limits_t limits = {.max_depth = 8, .max_values = 1u << 20, .max_string = 1024};
    rtmp_amf_decoder_t d;
    rtmp_amf_decoder_init(&d, pool, std::span<const u_char>(p + RTMP_FLV_TAG_HEADER, data),
                          &limits);
    rtmp_amf_value_t name, obj;
    ck_assert_int_eq(rtmp_amf0_decode(&d, &name), RTMP_OK);
    ck_assert(name.type == rtmp_amf_type::string && name.str.sv() == "onMetaData");
    ck_assert_int_eq(rtmp_amf0_decode(&d, &obj), RTMP_OK);
    ck_assert(rtmp_amf_decoder_done(&d)); // the padding fills the tag exactly
    ck_assert(obj.type == rtmp_amf_type::ecma_array);
    auto *v = rtmp_palloc<rtmp_amf_value_t>(pool);
    *v = obj;
    return v;
}

START_TEST(test_meta_fixed_size)
{
    const uint32_t cap = 8;
    unsigned flags = RTMP_FLV_META_AUDIO | RTMP_FLV_META_VIDEO;
    size_t size = rtmp_flv_meta_size(flags, cap);
    auto *buf = static_cast<u_char *>(rtmp_pnalloc(pool, size));
    uint32_t times[cap];
    uint64_t pos[cap];
    rtmp_flv_index_t ix;
    rtmp_flv_index_init(&ix, times, pos, cap);
    rtmp_flv_meta_t m = {};

    // empty: valid, with empty arrays
    ck_assert_int_eq(rtmp_flv_meta_write(buf, size, flags, cap, &m, &ix), RTMP_OK);
    const rtmp_amf_value_t *o = decode_meta(buf, size);
    const rtmp_amf_value_t *kf = rtmp_amf_get(o, "keyframes");
    ck_assert_ptr_nonnull(kf);
    ck_assert_uint_eq(rtmp_amf_get(kf, "times")->nitems, 0);
    ck_assert_uint_eq(rtmp_amf_get(o, "padding")->nitems, cap * 18);

    // some entries: same size, values where they belong
    m.duration = 12.5;
    m.filesize = 123456;
    m.width = 320;
    m.height = 240;
    m.stereo = true;
    rtmp_flv_index_add(&ix, 0, 1000);
    rtmp_flv_index_add(&ix, 2040, 52000);
    rtmp_flv_index_add(&ix, 4080, 99000);
    ck_assert_int_eq(rtmp_flv_meta_write(buf, size, flags, cap, &m, &ix), RTMP_OK);
    o = decode_meta(buf, size);
    double d;
    ck_assert(rtmp_amf_get_number(o, "duration", &d) && d == 12.5);
    ck_assert(rtmp_amf_get_number(o, "filesize", &d) && d == 123456);
    ck_assert(rtmp_amf_get_number(o, "width", &d) && d == 320);
    bool b;
    ck_assert(rtmp_amf_get_bool(o, "stereo", &b) && b);
    kf = rtmp_amf_get(o, "keyframes");
    ck_assert(kf->props[0].key.sv() == "times"); // first, as ffmpeg wants
    const rtmp_amf_value_t *t = rtmp_amf_get(kf, "times");
    const rtmp_amf_value_t *p = rtmp_amf_get(kf, "filepositions");
    ck_assert_uint_eq(t->nitems, 3);
    ck_assert_uint_eq(p->nitems, 3);
    ck_assert(t->items[1].number == 2.04);
    ck_assert(p->items[2].number == 99000);
    ck_assert_uint_eq(rtmp_amf_get(o, "padding")->nitems, (cap - 3) * 18);

    // full
    for (uint32_t k = 3; k < cap; k++) {
        rtmp_flv_index_add(&ix, k * 2000, 100000 + k);
    }
    ck_assert_int_eq(rtmp_flv_meta_write(buf, size, flags, cap, &m, &ix), RTMP_OK);
    o = decode_meta(buf, size);
    ck_assert_uint_eq(rtmp_amf_get(rtmp_amf_get(o, "keyframes"), "times")->nitems, cap);
    ck_assert_uint_eq(rtmp_amf_get(o, "padding")->nitems, 0);

    // too small a buffer, or an index larger than the room
    ck_assert_int_eq(rtmp_flv_meta_write(buf, size - 1, flags, cap, &m, &ix), RTMP_ERROR);
    ck_assert_int_eq(rtmp_flv_meta_write(buf, size, flags, cap - 1, &m, &ix), RTMP_ERROR);
}
END_TEST

START_TEST(test_meta_flags)
{
    // audio-only and video-only layouts differ, each constant in size
    size_t a = rtmp_flv_meta_size(RTMP_FLV_META_AUDIO, 4);
    size_t v = rtmp_flv_meta_size(RTMP_FLV_META_VIDEO, 4);
    ck_assert_uint_ne(a, v);
    auto *buf = static_cast<u_char *>(rtmp_pnalloc(pool, a > v ? a : v));
    rtmp_flv_meta_t m = {};
    ck_assert_int_eq(rtmp_flv_meta_write(buf, a, RTMP_FLV_META_AUDIO, 4, &m, nullptr), RTMP_OK);
    const rtmp_amf_value_t *o = decode_meta(buf, a);
    ck_assert_ptr_null(rtmp_amf_get(o, "width"));
    ck_assert_ptr_nonnull(rtmp_amf_get(o, "audiocodecid"));
    ck_assert_int_eq(rtmp_flv_meta_write(buf, v, RTMP_FLV_META_VIDEO, 4, &m, nullptr), RTMP_OK);
    o = decode_meta(buf, v);
    ck_assert_ptr_nonnull(rtmp_amf_get(o, "width"));
    ck_assert_ptr_null(rtmp_amf_get(o, "audiocodecid"));
}
END_TEST

Suite *rtmp_flv_suite(void)
{
    Suite *s = suite_create("flv");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_header_and_tags);
    tcase_add_test(tc, test_index_thins_out);
    tcase_add_test(tc, test_meta_fixed_size);
    tcase_add_test(tc, test_meta_flags);
    suite_add_tcase(s, tc);
    return s;
}
