// Unit tests for the AMF0/AMF3 codec: known byte vectors, round trips, truncation, limits.
#include <check.h>

#include "core/rtmp_log.h"
#include "test_util.h"
#include "rtmp/rtmp_amf.h"

static rtmp_pool_t *pool;

static void setup(void)
{
    pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
}
static void teardown(void)
{
    rtmp_pool_destroy(pool);
}

// Hex digits to bytes in the pool; spaces are ignored.
static std::span<const u_char> hex(const char *h)
{
    return rtmp_test_hex(pool, h);
}

static bool same(rtmp_buf_t *b, std::span<const u_char> want)
{
    return rtmp_buf_size(b) == want.size() && memcmp(b->pos, want.data(), want.size()) == 0;
}

static rtmp_amf_value_t dec0(std::span<const u_char> in, rtmp_int_t want_rc = RTMP_OK)
{
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t v;
    rtmp_amf_decoder_init(&d, pool, in, nullptr);
    rtmp_int_t rc = rtmp_amf0_decode(&d, &v);
    ck_assert_int_eq(rc, want_rc);
    if (rc == RTMP_OK) {
        ck_assert(rtmp_amf_decoder_done(&d));
    } else {
        ck_assert_ptr_nonnull(d.err);
    }
    return v;
}

static rtmp_amf_value_t dec3(std::span<const u_char> in, rtmp_int_t want_rc = RTMP_OK)
{
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t v;
    rtmp_amf_decoder_init(&d, pool, in, nullptr);
    rtmp_int_t rc = rtmp_amf3_decode(&d, &v);
    ck_assert_int_eq(rc, want_rc);
    if (rc == RTMP_OK) {
        ck_assert(rtmp_amf_decoder_done(&d));
    } else {
        ck_assert_ptr_nonnull(d.err);
    }
    return v;
}

// Decodes, checks the type, re-encodes and expects the same bytes back.
static rtmp_amf_value_t round0(const char *h, rtmp_amf_type t)
{
    std::span<const u_char> in = hex(h);
    rtmp_amf_value_t v = dec0(in);
    ck_assert_int_eq((int)v.type, (int)t);
    rtmp_buf_t *b = rtmp_buf_create(pool, 1024);
    ck_assert_int_eq(rtmp_amf0_encode(b, &v), RTMP_OK);
    ck_assert_msg(same(b, in), "AMF0 re-encoding differs for %s", h);
    return v;
}

static rtmp_amf_value_t round3(const char *h, rtmp_amf_type t)
{
    std::span<const u_char> in = hex(h);
    rtmp_amf_value_t v = dec3(in);
    ck_assert_int_eq((int)v.type, (int)t);
    rtmp_buf_t *b = rtmp_buf_create(pool, 1024);
    ck_assert_int_eq(rtmp_amf3_encode(b, &v), RTMP_OK);
    ck_assert_msg(same(b, in), "AMF3 re-encoding differs for %s", h);
    return v;
}

START_TEST(test_amf0_scalars)
{
    rtmp_amf_value_t v = round0("00 3ff0000000000000", rtmp_amf_type::number);
    ck_assert(v.number == 1.0);
    v = round0("00 c000000000000000", rtmp_amf_type::number);
    ck_assert(v.number == -2.0);
    v = round0("01 01", rtmp_amf_type::boolean);
    ck_assert(v.boolean);
    v = round0("01 00", rtmp_amf_type::boolean);
    ck_assert(!v.boolean);
    v = round0("02 0002 6162", rtmp_amf_type::string);
    ck_assert(v.str.sv() == "ab");
    v = round0("02 0000", rtmp_amf_type::string);
    ck_assert_uint_eq(v.str.len, 0);
    round0("05", rtmp_amf_type::null);
    round0("06", rtmp_amf_type::undefined);
    v = round0("0b 4276f5e66e800000 0000", rtmp_amf_type::date);
    ck_assert(v.number == 1577836800000.0);
    v = round0("0f 00000003 3c612f", rtmp_amf_type::xml_doc);
    ck_assert(v.str.sv() == "<a/");

    // a long string shorter than 64k reads fine and is written back short
    v = dec0(hex("0c 00000003 616263"));
    ck_assert_int_eq((int)v.type, (int)rtmp_amf_type::string);
    ck_assert(v.str.sv() == "abc");
}
END_TEST

START_TEST(test_amf0_long_string)
{
    size_t n = 70000;
    u_char *p = static_cast<u_char *>(rtmp_pnalloc(pool, n + 5));
    p[0] = 0x0c;
    p[1] = 0;
    p[2] = (u_char)(n >> 16);
    p[3] = (u_char)(n >> 8);
    p[4] = (u_char)n;
    memset(p + 5, 'x', n);
    rtmp_amf_limits_t lim = RTMP_AMF_LIMITS_DEFAULT;
    lim.max_string = 100000;
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t v;
    rtmp_amf_decoder_init(&d, pool, {p, n + 5}, &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    ck_assert_uint_eq(v.str.len, n);
    rtmp_buf_t *b = rtmp_buf_create(pool, n + 5);
    ck_assert_int_eq(rtmp_amf0_encode(b, &v), RTMP_OK);
    ck_assert(same(b, {p, n + 5}));

    // the default limit (64k) refuses it
    rtmp_amf_decoder_init(&d, pool, {p, n + 5}, nullptr);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    ck_assert_str_eq(d.err, "AMF string too long");
}
END_TEST

START_TEST(test_amf0_containers)
{
    rtmp_amf_value_t v =
        round0("03 0001 61 003ff0000000000000 0001 62 0200017a 000009", rtmp_amf_type::object);
    ck_assert_uint_eq(v.nprops, 2);
    double n = 0;
    rtmp_str_t s;
    ck_assert(rtmp_amf_get_number(&v, "a", &n) && n == 1.0);
    ck_assert(rtmp_amf_get_string(&v, "b", &s) && s.sv() == "z");
    ck_assert_ptr_null(rtmp_amf_get(&v, "c"));
    ck_assert(!rtmp_amf_get_string(&v, "a", &s));

    v = round0("08 00000001 0001 61 05 000009", rtmp_amf_type::ecma_array);
    ck_assert_uint_eq(v.nprops, 1);
    ck_assert_int_eq((int)rtmp_amf_get(&v, "a")->type, (int)rtmp_amf_type::null);

    v = round0("0a 00000003 05 06 0101", rtmp_amf_type::strict_array);
    ck_assert_uint_eq(v.nitems, 3);
    ck_assert(rtmp_amf_item(&v, 2)->boolean);
    ck_assert_ptr_null(rtmp_amf_item(&v, 3));

    v = round0("10 0003 466f6f 0001 61 05 000009", rtmp_amf_type::typed_object);
    ck_assert(v.class_name.sv() == "Foo");

    // an object holding a reference to itself (index 0) is kept as a reference
    v = round0("03 0001 61 07 0000 000009", rtmp_amf_type::object);
    ck_assert_int_eq((int)v.props[0].value.type, (int)rtmp_amf_type::reference);
    ck_assert_uint_eq(v.props[0].value.index, 0);

    // the ECMA count is a hint only
    v = dec0(hex("08 00000009 0001 61 05 000009"));
    ck_assert_uint_eq(v.nprops, 1);

    // nested empty containers
    round0("03 0001 6f 03 000009 0001 61 0a 00000000 000009", rtmp_amf_type::object);
}
END_TEST

START_TEST(test_amf0_switch_to_amf3)
{
    // 0x11 then AMF3 integer 5, and an object whose member switches
    rtmp_amf_value_t v = round0("11 04 05", rtmp_amf_type::integer);
    ck_assert_int_eq(v.integer, 5);
    ck_assert(v.amf3);
    v = round0("03 0001 61 11 06 0561 62 000009", rtmp_amf_type::object);
    rtmp_str_t s;
    ck_assert(rtmp_amf_get_string(&v, "a", &s) && s.sv() == "ab");

    // AMF3 string references do not leak from one switch into the next
    rtmp_amf_decoder_t d;
    rtmp_amf_decoder_init(&d, pool, hex("11 06 05 6162 11 06 00"), nullptr);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
}
END_TEST

START_TEST(test_amf3_scalars)
{
    round3("00", rtmp_amf_type::undefined);
    round3("01", rtmp_amf_type::null);
    rtmp_amf_value_t v = round3("02", rtmp_amf_type::boolean);
    ck_assert(!v.boolean);
    v = round3("03", rtmp_amf_type::boolean);
    ck_assert(v.boolean);

    struct {
        const char *h;
        int32_t n;
    } ints[] = {
        {"04 00", 0},
        {"04 7f", 127},
        {"04 8100", 128},
        {"04 ff7f", 16383},
        {"04 818000", 16384},
        {"04 ffff7f", 2097151},
        {"04 80c08000", 2097152},
        {"04 bfffffff", 268435455},
        {"04 c0808000", -268435456},
        {"04 ffffffff", -1},
    };
    for (auto &t : ints) {
        v = round3(t.h, rtmp_amf_type::integer);
        ck_assert_int_eq(v.integer, t.n);
    }
    v = round3("05 3ff0000000000000", rtmp_amf_type::number);
    ck_assert(v.number == 1.0);
    v = round3("06 05 6162", rtmp_amf_type::string);
    ck_assert(v.str.sv() == "ab");
    round3("06 01", rtmp_amf_type::string);
    v = round3("07 03 78", rtmp_amf_type::xml_doc);
    ck_assert(v.str.sv() == "x");
    v = round3("08 01 4276f5e66e800000", rtmp_amf_type::date);
    ck_assert(v.number == 1577836800000.0);
    v = round3("0b 03 78", rtmp_amf_type::xml);
    v = round3("0c 05 0102", rtmp_amf_type::byte_array);
    ck_assert_uint_eq(v.str.len, 2);
    ck_assert_uint_eq(v.str.data[1], 2);

    // integers out of the 29-bit range go out as doubles
    rtmp_amf_value_t big{};
    big.type = rtmp_amf_type::integer;
    big.integer = 1 << 29;
    rtmp_buf_t *b = rtmp_buf_create(pool, 64);
    ck_assert_int_eq(rtmp_amf3_encode(b, &big), RTMP_OK);
    ck_assert(same(b, hex("05 41c0000000000000")));
}
END_TEST

START_TEST(test_amf3_containers)
{
    // dense array [1, 2]
    rtmp_amf_value_t v = round3("09 05 01 0401 0402", rtmp_amf_type::strict_array);
    ck_assert_uint_eq(v.nitems, 2);
    ck_assert_int_eq(v.items[1].integer, 2);

    // associative {a: 1} plus dense [null]
    v = round3("09 03 03 61 0401 01 01", rtmp_amf_type::ecma_array);
    ck_assert_uint_eq(v.nprops, 1);
    ck_assert_uint_eq(v.nitems, 1);
    double n;
    ck_assert(rtmp_amf_get_number(&v, "a", &n) && n == 1);

    // anonymous dynamic object {a: 1}
    v = round3("0a 0b 01 03 61 0401 01", rtmp_amf_type::object);
    ck_assert(v.dynamic);
    ck_assert(rtmp_amf_get_number(&v, "a", &n) && n == 1);

    // sealed typed object Foo {a: 1}
    v = round3("0a 13 07 466f6f 03 61 0401", rtmp_amf_type::typed_object);
    ck_assert(v.class_name.sv() == "Foo");
    ck_assert_uint_eq(v.nsealed, 1);

    // traits reference: the second Foo reuses the first one's traits; written
    // back with inline traits
    v = dec3(hex("09 05 01 0a 13 07 466f6f 03 61 0401 0a 01 0402"));
    ck_assert_uint_eq(v.nitems, 2);
    ck_assert(v.items[1].class_name.sv() == "Foo");
    ck_assert(rtmp_amf_get_number(&v.items[1], "a", &n) && n == 2);

    // string reference: the second "ab" refers to the first
    v = dec3(hex("09 05 01 06 05 6162 06 00"));
    ck_assert(v.items[1].str.sv() == "ab");
    rtmp_buf_t *b = rtmp_buf_create(pool, 64);
    ck_assert_int_eq(rtmp_amf3_encode(b, &v), RTMP_OK);
    ck_assert(same(b, hex("09 05 01 06 05 6162 06 05 6162")));

    // object reference: index 1 is the object (the array is 0)
    v = round3("09 05 01 0a 0b 01 01 0a 02", rtmp_amf_type::strict_array);
    ck_assert_int_eq((int)v.items[1].type, (int)rtmp_amf_type::reference);
    ck_assert_uint_eq(v.items[1].index, 1);
    ck_assert_uint_eq(v.items[1].marker, RTMP_AMF3_OBJECT);
}
END_TEST

START_TEST(test_amf_bad_input)
{
    dec0(hex(""), RTMP_ERROR);
    dec0(hex("04"), RTMP_ERROR);          // movieclip
    dec0(hex("0d"), RTMP_ERROR);          // unsupported
    dec0(hex("0e"), RTMP_ERROR);          // recordset
    dec0(hex("12"), RTMP_ERROR);          // past the last marker
    dec0(hex("09"), RTMP_ERROR);          // object end out of place
    dec0(hex("07 0000"), RTMP_ERROR);     // reference with nothing to refer to
    dec0(hex("0a ffffffff"), RTMP_ERROR); // huge declared count, no bytes
    dec0(hex("03 0001 61"), RTMP_ERROR);  // property without value
    dec3(hex("0d"), RTMP_ERROR);          // AMF3 vector: not supported
    dec3(hex("06 00"), RTMP_ERROR);       // string reference, empty table
    dec3(hex("0a 00"), RTMP_ERROR);       // object reference, empty table
    dec3(hex("0a 01"), RTMP_ERROR);       // traits reference, empty table
    dec3(hex("0a 07 01"), RTMP_ERROR);    // externalizable
    dec3(hex("09 ffffff7f 01"), RTMP_ERROR);
    dec3(hex("0a ffffff7f 01"), RTMP_ERROR); // huge sealed count
    dec3(hex("04 ff"), RTMP_ERROR);
}
END_TEST

// Every strict prefix of a one-value sample is a clean error.
static void truncate_all(const char *h, bool amf3)
{
    std::span<const u_char> in = hex(h);
    if (amf3) {
        dec3(in);
    } else {
        dec0(in);
    }
    for (size_t i = 0; i < in.size(); i++) {
        // a copy of just the prefix, so ASan catches a read past it
        u_char *p = static_cast<u_char *>(rtmp_alloc(i ? i : 1));
        memcpy(p, in.data(), i);
        rtmp_amf_decoder_t d;
        rtmp_amf_value_t v;
        rtmp_amf_decoder_init(&d, pool, {p, i}, nullptr);
        rtmp_int_t rc = amf3 ? rtmp_amf3_decode(&d, &v) : rtmp_amf0_decode(&d, &v);
        ck_assert_msg(rc == RTMP_ERROR, "prefix %zu of %s decoded", i, h);
        ck_assert_ptr_nonnull(d.err);
        rtmp_free(p);
    }
}

START_TEST(test_amf_truncation)
{
    truncate_all("03 0001 61 003ff0000000000000 0001 62 0a 00000002 0101 0b 4276f5e66e800000 0000"
                 " 0001 63 08 00000001 0001 64 0c 00000002 7879 000009 0001 65 10 0001 46 000009"
                 " 0001 66 11 0a 0b 01 03 61 09 03 03 62 06 00 01 0401 01 000009",
                 false);
    truncate_all(
        "0a 0b 01 03 61 09 05 01 0a 13 07 466f6f 03 61 0401 0a 05 0402 03 62 08 01"
        " 4276f5e66e800000 03 63 0c 05 0102 03 64 07 03 78 03 65 0b 03 78 03 66 04 ffffffff"
        " 03 67 05 3ff0000000000000 01",
        true);
}
END_TEST

START_TEST(test_amf_limits)
{
    rtmp_amf_limits_t lim = {.max_depth = 3, .max_values = 10, .max_string = 4};
    rtmp_amf_decoder_t d;
    rtmp_amf_value_t v;

    // depth 3 is fine, 4 is not
    rtmp_amf_decoder_init(&d, pool, hex("03 0001 61 03 0001 61 03 000009 000009 000009"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    rtmp_amf_decoder_init(
        &d, pool, hex("03 0001 61 03 0001 61 03 0001 61 03 000009 000009 000009 000009"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    ck_assert_str_eq(d.err, "AMF nesting too deep");

    rtmp_amf_decoder_init(&d, pool, hex("09 03 01 09 03 01 09 03 01 09 03 01 01"), &lim);
    ck_assert_int_eq(rtmp_amf3_decode(&d, &v), RTMP_ERROR);
    ck_assert_str_eq(d.err, "AMF nesting too deep");

    // 10 values: the array and 9 items; 10 items is one too many
    rtmp_amf_decoder_init(&d, pool, hex("0a 00000009 050505050505050505"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    rtmp_amf_decoder_init(&d, pool, hex("0a 0000000a 05050505050505050505"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    ck_assert_str_eq(d.err, "too many AMF values");
    rtmp_amf_decoder_init(&d, pool,
                          hex("03 0001610500016205000163050001640500016505 "
                              "0001660500016705000168050001690500016a05 000009"),
                          &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    ck_assert_str_eq(d.err, "too many AMF values");

    // strings, keys included
    rtmp_amf_decoder_init(&d, pool, hex("02 0004 61626364"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    rtmp_amf_decoder_init(&d, pool, hex("02 0005 6162636465"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    rtmp_amf_decoder_init(&d, pool, hex("03 0005 6162636465 05 000009"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    rtmp_amf_decoder_init(&d, pool, hex("0c 00000005 6162636465"), &lim);
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
    rtmp_amf_decoder_init(&d, pool, hex("0c 0b 6162636465"), &lim);
    ck_assert_int_eq(rtmp_amf3_decode(&d, &v), RTMP_ERROR);

    // the budget is per decoder, across values
    rtmp_amf_decoder_init(&d, pool, hex("0505050505050505050505"), &lim);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_OK);
    }
    ck_assert_int_eq(rtmp_amf0_decode(&d, &v), RTMP_ERROR);
}
END_TEST

START_TEST(test_amf_encode_full)
{
    rtmp_amf_prop_t props[] = {rtmp_amf_prop("name", rtmp_amf_string("value"))};
    rtmp_amf_value_t o = rtmp_amf_object(props, 1);
    std::span<const u_char> want = hex("03 0004 6e616d65 0200 05 76616c7565 000009");
    for (size_t size = 0; size < want.size(); size++) {
        rtmp_buf_t *b = rtmp_buf_create(pool, size ? size : 1);
        b->end = b->start + size;
        ck_assert_int_eq(rtmp_amf0_encode(b, &o), RTMP_ERROR);
        ck_assert(b->last <= b->end);
    }
    rtmp_buf_t *b = rtmp_buf_create(pool, want.size());
    ck_assert_int_eq(rtmp_amf0_encode(b, &o), RTMP_OK);
    ck_assert(same(b, want));

    // AMF3 of the same, via the switch
    o.amf3 = 1;
    b = rtmp_buf_create(pool, 64);
    ck_assert_int_eq(rtmp_amf0_encode(b, &o), RTMP_OK);
    ck_assert(same(b, hex("11 0a 0b 01 09 6e616d65 06 0b 76616c7565 01")));
}
END_TEST

START_TEST(test_amf_decode_message)
{
    rtmp_amf_value_t *v;
    uint32_t n;
    const char *err;

    // type 17 leads with a 0 format byte
    ck_assert_int_eq(rtmp_amf_decode_message(pool, 17, hex("00 02 0001 61 00 0000000000000000 05"),
                                             nullptr, &v, &n, &err),
                     RTMP_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert(v[0].str.sv() == "a");
    ck_assert_int_eq(rtmp_amf_decode_message(pool, 20, hex("00 02 0001 61"), nullptr, &v, &n, &err),
                     RTMP_ERROR);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(rtmp_amf_decode_message(pool, 20, hex(""), nullptr, &v, &n, &err), RTMP_OK);
    ck_assert_uint_eq(n, 0);
}
END_TEST

Suite *rtmp_amf_suite(void)
{
    Suite *s = suite_create("amf");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_amf0_scalars);
    tcase_add_test(tc, test_amf0_long_string);
    tcase_add_test(tc, test_amf0_containers);
    tcase_add_test(tc, test_amf0_switch_to_amf3);
    tcase_add_test(tc, test_amf3_scalars);
    tcase_add_test(tc, test_amf3_containers);
    tcase_add_test(tc, test_amf_bad_input);
    tcase_add_test(tc, test_amf_truncation);
    tcase_add_test(tc, test_amf_limits);
    tcase_add_test(tc, test_amf_encode_full);
    tcase_add_test(tc, test_amf_decode_message);
    suite_add_tcase(s, tc);
    return s;
}
