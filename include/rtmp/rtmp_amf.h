// AMF0/AMF3 codec: bytes to a pool-allocated value tree and back, with caller-set limits.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_pool.h"

// AMF0 spec (amf0-file-format-specification.pdf) 2.1, type markers.
enum rtmp_amf0_marker : uint8_t {
    RTMP_AMF0_NUMBER = 0x00,
    RTMP_AMF0_BOOLEAN = 0x01,
    RTMP_AMF0_STRING = 0x02,
    RTMP_AMF0_OBJECT = 0x03,
    RTMP_AMF0_MOVIECLIP = 0x04, // reserved, never valid
    RTMP_AMF0_NULL = 0x05,
    RTMP_AMF0_UNDEFINED = 0x06,
    RTMP_AMF0_REFERENCE = 0x07,
    RTMP_AMF0_ECMA_ARRAY = 0x08,
    RTMP_AMF0_OBJECT_END = 0x09,
    RTMP_AMF0_STRICT_ARRAY = 0x0a,
    RTMP_AMF0_DATE = 0x0b,
    RTMP_AMF0_LONG_STRING = 0x0c,
    RTMP_AMF0_UNSUPPORTED = 0x0d,
    RTMP_AMF0_RECORDSET = 0x0e, // reserved, never valid
    RTMP_AMF0_XML_DOC = 0x0f,
    RTMP_AMF0_TYPED_OBJECT = 0x10,
    RTMP_AMF0_AVMPLUS = 0x11, // switch to AMF3 for one value
};

// AMF3 spec (amf-file-format-spec.pdf) 3.1, type markers.
enum rtmp_amf3_marker : uint8_t {
    RTMP_AMF3_UNDEFINED = 0x00,
    RTMP_AMF3_NULL = 0x01,
    RTMP_AMF3_FALSE = 0x02,
    RTMP_AMF3_TRUE = 0x03,
    RTMP_AMF3_INTEGER = 0x04,
    RTMP_AMF3_DOUBLE = 0x05,
    RTMP_AMF3_STRING = 0x06,
    RTMP_AMF3_XML_DOC = 0x07,
    RTMP_AMF3_DATE = 0x08,
    RTMP_AMF3_ARRAY = 0x09,
    RTMP_AMF3_OBJECT = 0x0a,
    RTMP_AMF3_XML = 0x0b,
    RTMP_AMF3_BYTE_ARRAY = 0x0c,
};

// One decoded type for both encodings; the encoder picks the wire marker.
enum class rtmp_amf_type : uint8_t {
    undefined = 0, // also what a zeroed value is
    null,
    boolean,
    number,       // AMF0 number, AMF3 double
    integer,      // AMF3 U29 integer (written as a number in AMF0)
    string,       // AMF0 string or long string, AMF3 string
    object,       // anonymous object; AMF3: traits with no class name
    typed_object, // class_name set
    ecma_array,   // AMF0 associative array; AMF3 array with an associative part
    strict_array, // AMF0 strict array; AMF3 array with a dense part only
    date,         // number holds milliseconds since the epoch
    xml_doc,      // AMF0 0x0f, AMF3 0x07
    xml,          // AMF3 0x0b only
    byte_array,   // AMF3 only
    reference,    // not resolved: index into the sender's object table, see below
};

typedef struct rtmp_amf_value_s rtmp_amf_value_t;
typedef struct rtmp_amf_prop_s rtmp_amf_prop_t;

// References are kept as they came (index and marker) rather than resolved into
// shared nodes: resolving would let a hostile sender build cycles and make
// re-encoding or walking the tree unbounded. Commands from real clients never
// carry them; re-encoding a decoded tree writes them back with the same meaning.
struct rtmp_amf_value_s {
    rtmp_amf_type type;
    uint8_t amf3;          // write with AMF3 after an AMF0 0x11 marker (set by the decoder)
    uint8_t marker;        // reference: AMF3 marker it was read with (0x07..0x0c); 0 for AMF0
    uint8_t dynamic;       // AMF3 object: traits are dynamic
    int16_t tz;            // AMF0 date: time zone, minutes (spec says send 0)
    uint32_t nsealed;      // AMF3 object: the first nsealed props are sealed members
    rtmp_str_t class_name; // typed object
    union {
        double number;   // number, date
        int32_t integer; // integer (29-bit range)
        bool boolean;
        uint32_t index; // reference
        rtmp_str_t str; // string, xml_doc, xml, byte_array
        struct {
            rtmp_amf_prop_t *props; // object, typed_object, ecma_array (assoc part)
            uint32_t nprops;
            uint32_t nitems;
            rtmp_amf_value_t *items; // strict_array, AMF3 array dense part
        };
    };
};

struct rtmp_amf_prop_s {
    rtmp_str_t key;
    rtmp_amf_value_t value;
};

// Bounds on what one decode call may build; untrusted input never exceeds them.
struct rtmp_amf_limits_t {
    uint32_t max_depth;  // nesting of objects/arrays
    uint32_t max_values; // values decoded per call (every node counts, at any depth)
    uint32_t max_string; // bytes in one string, xml or byte array
};

constexpr rtmp_amf_limits_t RTMP_AMF_LIMITS_DEFAULT = {
    .max_depth = 16,
    .max_values = 4096,
    .max_string = 65536,
};

// Decoding state over one input; values are copied into the pool, so the input
// may go away after the call. AMF3 reference tables live here; they are reset
// at every AMF0 0x11 switch (each switched value is its own AMF3 context).
typedef struct rtmp_amf_decoder_s rtmp_amf_decoder_t;
struct rtmp_amf_decoder_s {
    const u_char *pos;
    const u_char *end;
    rtmp_pool_t *pool;
    rtmp_amf_limits_t limits;
    const char *err; // why the last call failed; static text
    uint32_t depth;
    uint32_t nvalues;
    uint32_t amf0_objects; // AMF0 complex values seen, for reference checks

    // AMF3 tables; strings and traits are resolved at decode, objects only counted
    rtmp_str_t *strings;
    uint32_t nstrings, strings_cap;
    rtmp_amf_value_t *traits; // class_name, dynamic, nsealed, props (keys only)
    uint32_t ntraits, traits_cap;
    uint32_t amf3_objects;
};

void rtmp_amf_decoder_init(rtmp_amf_decoder_t *d, rtmp_pool_t *pool, std::span<const u_char> in,
                           const rtmp_amf_limits_t *limits);
inline bool rtmp_amf_decoder_done(const rtmp_amf_decoder_t *d)
{
    return d->pos == d->end;
}

// One value each; RTMP_ERROR with d->err set on truncation, an unknown marker
// or an exceeded limit. The decoder is then unusable.
[[nodiscard]] rtmp_int_t rtmp_amf0_decode(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v);
[[nodiscard]] rtmp_int_t rtmp_amf3_decode(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v);

// Decodes every value of a command or data message payload: type 20/18 are
// AMF0; type 17/15 carry one leading 0x00 format byte, then AMF0 values that may
// switch to AMF3 with 0x11 (RTMP 1.0 spec 7.1.1, 7.1.2).
[[nodiscard]] rtmp_int_t rtmp_amf_decode_message(rtmp_pool_t *pool, uint8_t type,
                                                 std::span<const u_char> payload,
                                                 const rtmp_amf_limits_t *limits,
                                                 rtmp_amf_value_t **values, uint32_t *n,
                                                 const char **err);

// Encoders append at b->last; RTMP_ERROR when b has no room (b->last is then
// left somewhere inside the partial value; reset it to retry with a bigger
// buffer) or when a value cannot be written (bad type, depth over 64).
[[nodiscard]] rtmp_int_t rtmp_amf0_encode(rtmp_buf_t *b, const rtmp_amf_value_t *v);
[[nodiscard]] rtmp_int_t rtmp_amf3_encode(rtmp_buf_t *b, const rtmp_amf_value_t *v);

// Direct AMF0 writers for replies built without a tree.
[[nodiscard]] rtmp_int_t rtmp_amf0_write_number(rtmp_buf_t *b, double n);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_bool(rtmp_buf_t *b, bool f);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_string(rtmp_buf_t *b, std::string_view s);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_null(rtmp_buf_t *b);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_object_start(rtmp_buf_t *b);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_key(rtmp_buf_t *b, std::string_view key);
[[nodiscard]] rtmp_int_t rtmp_amf0_write_object_end(rtmp_buf_t *b);

// Lookups; nullptr when v is not an object/array or has no such property.
const rtmp_amf_value_t *rtmp_amf_get(const rtmp_amf_value_t *v, std::string_view key);
const rtmp_amf_value_t *rtmp_amf_item(const rtmp_amf_value_t *v, uint32_t i);

// Typed reads: false when absent or of another type (integer reads as number).
bool rtmp_amf_get_number(const rtmp_amf_value_t *v, std::string_view key, double *out);
bool rtmp_amf_get_string(const rtmp_amf_value_t *v, std::string_view key, rtmp_str_t *out);
bool rtmp_amf_get_bool(const rtmp_amf_value_t *v, std::string_view key, bool *out);
bool rtmp_amf_as_number(const rtmp_amf_value_t *v, double *out);

// Value builders; strings are not copied. Objects point at caller-owned props,
// so replies can be built on the stack with no allocation.
inline rtmp_amf_value_t rtmp_amf_null()
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::null;
    return v;
}
inline rtmp_amf_value_t rtmp_amf_number(double n)
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::number;
    v.number = n;
    return v;
}
inline rtmp_amf_value_t rtmp_amf_bool(bool f)
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::boolean;
    v.boolean = f;
    return v;
}
inline rtmp_amf_value_t rtmp_amf_string(std::string_view s)
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::string;
    v.str = rtmp_str_t{s.size(), (u_char *)s.data()};
    return v;
}
inline rtmp_amf_value_t rtmp_amf_object(rtmp_amf_prop_t *props, uint32_t n)
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::object;
    v.props = props;
    v.nprops = n;
    return v;
}
inline rtmp_amf_value_t rtmp_amf_array(rtmp_amf_value_t *items, uint32_t n)
{
    rtmp_amf_value_t v{};
    v.type = rtmp_amf_type::strict_array;
    v.items = items;
    v.nitems = n;
    return v;
}
inline rtmp_amf_prop_t rtmp_amf_prop(std::string_view key, rtmp_amf_value_t v)
{
    return rtmp_amf_prop_t{rtmp_str_t{key.size(), (u_char *)key.data()}, v};
}

const char *rtmp_amf_type_name(rtmp_amf_type t);
