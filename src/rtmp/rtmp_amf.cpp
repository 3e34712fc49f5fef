// AMF0/AMF3 decoder and encoder over byte spans and buffers; no I/O.
#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_message.h"

// Encoding nests by recursion; trees we build or decoded under the caller's
// limits stay far below this, it only stops a hand-made cycle.
static constexpr uint32_t RTMP_AMF_ENCODE_MAX_DEPTH = 64;

// AMF3 U29 carries at most 29 bits (AMF3 spec 1.3.1).
static constexpr uint32_t RTMP_AMF3_U29_MAX = 0x1fffffff;
static constexpr int32_t RTMP_AMF3_INT_MIN = -(1 << 28);
static constexpr int32_t RTMP_AMF3_INT_MAX = (1 << 28) - 1;

static rtmp_int_t rtmp_amf0_value(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v);
static rtmp_int_t rtmp_amf3_value(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v);

void rtmp_amf_decoder_init(rtmp_amf_decoder_t *d, rtmp_pool_t *pool, std::span<const u_char> in,
                           const rtmp_amf_limits_t *limits)
{
    *d = rtmp_amf_decoder_t{};
    d->pos = in.data();
    d->end = in.data() + in.size();
    d->pool = pool;
    d->limits = limits ? *limits : RTMP_AMF_LIMITS_DEFAULT;
}

// ---- reading primitives ---------------------------------------------------------------

static rtmp_int_t rtmp_amf_fail(rtmp_amf_decoder_t *d, const char *why)
{
    if (d->err == nullptr) {
        d->err = why;
    }
    return RTMP_ERROR;
}

static size_t rtmp_amf_left(const rtmp_amf_decoder_t *d)
{
    return (size_t)(d->end - d->pos);
}

static bool rtmp_amf_need(rtmp_amf_decoder_t *d, size_t n)
{
    if (rtmp_amf_left(d) < n) {
        rtmp_amf_fail(d, "truncated AMF value");
        return false;
    }
    return true;
}

static uint16_t rtmp_amf_u16(rtmp_amf_decoder_t *d)
{
    uint16_t n = (uint16_t)((d->pos[0] << 8) | d->pos[1]);
    d->pos += 2;
    return n;
}

static uint32_t rtmp_amf_u32(rtmp_amf_decoder_t *d)
{
    uint32_t n = ((uint32_t)d->pos[0] << 24) | ((uint32_t)d->pos[1] << 16) |
                 ((uint32_t)d->pos[2] << 8) | d->pos[3];
    d->pos += 4;
    return n;
}

static double rtmp_amf_double(rtmp_amf_decoder_t *d)
{
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) {
        n = (n << 8) | d->pos[i];
    }
    d->pos += 8;
    double x;
    memcpy(&x, &n, sizeof(x));
    return x;
}

// Counts one more node against the caller's budget.
static bool rtmp_amf_count(rtmp_amf_decoder_t *d)
{
    if (++d->nvalues > d->limits.max_values) {
        rtmp_amf_fail(d, "too many AMF values");
        return false;
    }
    return true;
}

static bool rtmp_amf_enter(rtmp_amf_decoder_t *d)
{
    if (++d->depth > d->limits.max_depth) {
        rtmp_amf_fail(d, "AMF nesting too deep");
        return false;
    }
    return true;
}

// A declared element count is believed only as far as the bytes left (each
// element takes at least one) and the value budget allow.
static bool rtmp_amf_check_count(rtmp_amf_decoder_t *d, uint32_t n)
{
    if (n > rtmp_amf_left(d)) {
        rtmp_amf_fail(d, "truncated AMF array");
        return false;
    }
    if (n > d->limits.max_values - d->nvalues) {
        rtmp_amf_fail(d, "too many AMF values");
        return false;
    }
    return true;
}

static bool rtmp_amf_bytes(rtmp_amf_decoder_t *d, size_t len, rtmp_str_t *s)
{
    if (len > d->limits.max_string) {
        rtmp_amf_fail(d, "AMF string too long");
        return false;
    }
    if (!rtmp_amf_need(d, len)) {
        return false;
    }
    s->len = len;
    s->data = nullptr;
    if (len) {
        s->data = static_cast<u_char *>(rtmp_pnalloc(d->pool, len));
        memcpy(s->data, d->pos, len);
        d->pos += len;
    }
    return true;
}

// Pool arrays grow by doubling: the total allocated is at most twice the final
// size, and the final size follows the bytes consumed.
template <typename T> static T *rtmp_amf_grow(rtmp_pool_t *pool, T *a, uint32_t n, uint32_t *cap)
{
    if (n < *cap) {
        return a;
    }
    uint32_t ncap = *cap ? *cap * 2 : 8;
    T *na = rtmp_palloc<T>(pool, ncap);
    if (n) {
        memcpy(static_cast<void *>(na), a, sizeof(T) * n);
    }
    *cap = ncap;
    return na;
}

// ---- AMF0 ------------------------------------------------------------------------------

static bool rtmp_amf0_str(rtmp_amf_decoder_t *d, rtmp_str_t *s)
{
    if (!rtmp_amf_need(d, 2)) {
        return false;
    }
    return rtmp_amf_bytes(d, rtmp_amf_u16(d), s);
}

// Properties up to the 00 00 09 end marker (AMF0 spec 2.5, 2.10).
static rtmp_int_t rtmp_amf0_props(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v)
{
    uint32_t cap = 0;
    if (!rtmp_amf_enter(d)) {
        return RTMP_ERROR;
    }
    for (;;) {
        if (!rtmp_amf_need(d, 3)) {
            return RTMP_ERROR;
        }
        if (d->pos[0] == 0 && d->pos[1] == 0 && d->pos[2] == RTMP_AMF0_OBJECT_END) {
            d->pos += 3;
            break;
        }
        v->props = rtmp_amf_grow(d->pool, v->props, v->nprops, &cap);
        rtmp_amf_prop_t *p = &v->props[v->nprops];
        if (!rtmp_amf0_str(d, &p->key) || rtmp_amf0_value(d, &p->value) != RTMP_OK) {
            return RTMP_ERROR;
        }
        v->nprops++;
    }
    d->depth--;
    return RTMP_OK;
}

static rtmp_int_t rtmp_amf0_value(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v)
{
    *v = rtmp_amf_value_t{};
    if (!rtmp_amf_count(d) || !rtmp_amf_need(d, 1)) {
        return RTMP_ERROR;
    }
    u_char marker = *d->pos++;

    switch (marker) {
    case RTMP_AMF0_NUMBER:
        if (!rtmp_amf_need(d, 8)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::number;
        v->number = rtmp_amf_double(d);
        return RTMP_OK;

    case RTMP_AMF0_BOOLEAN:
        if (!rtmp_amf_need(d, 1)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::boolean;
        v->boolean = *d->pos++ != 0;
        return RTMP_OK;

    case RTMP_AMF0_STRING:
        v->type = rtmp_amf_type::string;
        return rtmp_amf0_str(d, &v->str) ? RTMP_OK : RTMP_ERROR;

    case RTMP_AMF0_LONG_STRING:
    case RTMP_AMF0_XML_DOC:
        if (!rtmp_amf_need(d, 4)) {
            return RTMP_ERROR;
        }
        v->type = marker == RTMP_AMF0_XML_DOC ? rtmp_amf_type::xml_doc : rtmp_amf_type::string;
        return rtmp_amf_bytes(d, rtmp_amf_u32(d), &v->str) ? RTMP_OK : RTMP_ERROR;

    case RTMP_AMF0_NULL:
        v->type = rtmp_amf_type::null;
        return RTMP_OK;

    case RTMP_AMF0_UNDEFINED:
        v->type = rtmp_amf_type::undefined;
        return RTMP_OK;

    case RTMP_AMF0_REFERENCE:
        if (!rtmp_amf_need(d, 2)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::reference;
        v->index = rtmp_amf_u16(d);
        if (v->index >= d->amf0_objects) {
            return rtmp_amf_fail(d, "AMF0 reference to an unknown object");
        }
        return RTMP_OK;

    case RTMP_AMF0_OBJECT:
        v->type = rtmp_amf_type::object;
        d->amf0_objects++;
        return rtmp_amf0_props(d, v);

    case RTMP_AMF0_TYPED_OBJECT:
        v->type = rtmp_amf_type::typed_object;
        d->amf0_objects++;
        if (!rtmp_amf0_str(d, &v->class_name)) {
            return RTMP_ERROR;
        }
        return rtmp_amf0_props(d, v);

    case RTMP_AMF0_ECMA_ARRAY:
        // The count is only a hint (AMF0 spec 2.10); the end marker decides.
        if (!rtmp_amf_need(d, 4)) {
            return RTMP_ERROR;
        }
        d->pos += 4;
        v->type = rtmp_amf_type::ecma_array;
        d->amf0_objects++;
        return rtmp_amf0_props(d, v);

    case RTMP_AMF0_STRICT_ARRAY: {
        if (!rtmp_amf_need(d, 4)) {
            return RTMP_ERROR;
        }
        uint32_t n = rtmp_amf_u32(d);
        v->type = rtmp_amf_type::strict_array;
        d->amf0_objects++;
        if (!rtmp_amf_check_count(d, n) || !rtmp_amf_enter(d)) {
            return RTMP_ERROR;
        }
        v->items = n ? rtmp_palloc<rtmp_amf_value_t>(d->pool, n) : nullptr;
        for (uint32_t i = 0; i < n; i++) {
            if (rtmp_amf0_value(d, &v->items[i]) != RTMP_OK) {
                return RTMP_ERROR;
            }
            v->nitems++;
        }
        d->depth--;
        return RTMP_OK;
    }

    case RTMP_AMF0_DATE:
        if (!rtmp_amf_need(d, 10)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::date;
        v->number = rtmp_amf_double(d);
        v->tz = (int16_t)rtmp_amf_u16(d);
        return RTMP_OK;

    case RTMP_AMF0_AVMPLUS: {
        // A fresh AMF3 context per switch; nothing is shared across switches.
        d->nstrings = d->ntraits = d->amf3_objects = 0;
        d->nvalues--; // the switched value counts itself
        rtmp_int_t rc = rtmp_amf3_value(d, v);
        v->amf3 = 1;
        return rc;
    }

    case RTMP_AMF0_OBJECT_END:
        return rtmp_amf_fail(d, "unexpected AMF0 object end");

    default:
        return rtmp_amf_fail(d, "unknown AMF0 type marker");
    }
}

rtmp_int_t rtmp_amf0_decode(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v)
{
    if (d->err) {
        return RTMP_ERROR;
    }
    d->depth = 0;
    return rtmp_amf0_value(d, v);
}

// ---- AMF3 ------------------------------------------------------------------------------

static bool rtmp_amf3_u29(rtmp_amf_decoder_t *d, uint32_t *out)
{
    uint32_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (!rtmp_amf_need(d, 1)) {
            return false;
        }
        u_char c = *d->pos++;
        if (i == 3) {
            *out = (n << 8) | c; // the fourth byte carries 8 bits (AMF3 spec 1.3.1)
            return true;
        }
        n = (n << 7) | (c & 0x7f);
        if (!(c & 0x80)) {
            break;
        }
    }
    *out = n;
    return true;
}

// U29S: reference into the string table or an inline string; the empty string
// is never a table entry (AMF3 spec 1.3.2).
static bool rtmp_amf3_str(rtmp_amf_decoder_t *d, rtmp_str_t *s)
{
    uint32_t h;
    if (!rtmp_amf3_u29(d, &h)) {
        return false;
    }
    if (!(h & 1)) {
        if ((h >> 1) >= d->nstrings) {
            rtmp_amf_fail(d, "AMF3 reference to an unknown string");
            return false;
        }
        *s = d->strings[h >> 1];
        return true;
    }
    if (!rtmp_amf_bytes(d, h >> 1, s)) {
        return false;
    }
    if (s->len) {
        d->strings = rtmp_amf_grow(d->pool, d->strings, d->nstrings, &d->strings_cap);
        d->strings[d->nstrings++] = *s;
    }
    return true;
}

// Reads the U29 of a complex value; true with *ref set when it is a reference.
static bool rtmp_amf3_header(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v, u_char marker, uint32_t *h,
                             bool *ref)
{
    if (!rtmp_amf3_u29(d, h)) {
        return false;
    }
    *ref = !(*h & 1);
    if (*ref) {
        if ((*h >> 1) >= d->amf3_objects) {
            rtmp_amf_fail(d, "AMF3 reference to an unknown object");
            return false;
        }
        v->type = rtmp_amf_type::reference;
        v->marker = marker;
        v->index = *h >> 1;
        return true;
    }
    d->amf3_objects++; // counted before its members, which may refer to it
    return true;
}

static rtmp_int_t rtmp_amf3_array(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v, uint32_t dense)
{
    uint32_t cap = 0;
    if (!rtmp_amf_enter(d)) {
        return RTMP_ERROR;
    }
    for (;;) {
        rtmp_str_t key;
        if (!rtmp_amf3_str(d, &key)) {
            return RTMP_ERROR;
        }
        if (key.len == 0) {
            break;
        }
        v->props = rtmp_amf_grow(d->pool, v->props, v->nprops, &cap);
        v->props[v->nprops].key = key;
        if (rtmp_amf3_value(d, &v->props[v->nprops].value) != RTMP_OK) {
            return RTMP_ERROR;
        }
        v->nprops++;
    }
    if (!rtmp_amf_check_count(d, dense)) {
        return RTMP_ERROR;
    }
    v->items = dense ? rtmp_palloc<rtmp_amf_value_t>(d->pool, dense) : nullptr;
    for (uint32_t i = 0; i < dense; i++) {
        if (rtmp_amf3_value(d, &v->items[i]) != RTMP_OK) {
            return RTMP_ERROR;
        }
        v->nitems++;
    }
    v->type = v->nprops ? rtmp_amf_type::ecma_array : rtmp_amf_type::strict_array;
    d->depth--;
    return RTMP_OK;
}

// AMF3 spec 3.12: U29O-traits (inline or by reference), sealed values, then
// dynamic name/value pairs up to the empty string.
static rtmp_int_t rtmp_amf3_object(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v, uint32_t h)
{
    // A copy: nested objects may grow (move) the traits table under us.
    rtmp_amf_value_t tv;
    const rtmp_amf_value_t *t = &tv;

    if (!(h & 2)) {
        if ((h >> 2) >= d->ntraits) {
            return rtmp_amf_fail(d, "AMF3 reference to unknown traits");
        }
        tv = d->traits[h >> 2];
    } else if (h & 4) {
        // The body format belongs to the class; without it we cannot skip it.
        return rtmp_amf_fail(d, "AMF3 externalizable object not supported");
    } else {
        rtmp_amf_value_t nt{};
        nt.dynamic = (h >> 3) & 1;
        nt.nsealed = h >> 4;
        if (!rtmp_amf3_str(d, &nt.class_name) || !rtmp_amf_check_count(d, nt.nsealed)) {
            return RTMP_ERROR;
        }
        nt.props = nt.nsealed ? rtmp_palloc<rtmp_amf_prop_t>(d->pool, nt.nsealed) : nullptr;
        for (uint32_t i = 0; i < nt.nsealed; i++) {
            if (!rtmp_amf3_str(d, &nt.props[i].key)) {
                return RTMP_ERROR;
            }
        }
        nt.nprops = nt.nsealed;
        d->traits = rtmp_amf_grow(d->pool, d->traits, d->ntraits, &d->traits_cap);
        d->traits[d->ntraits++] = nt;
        tv = nt;
    }

    v->type = t->class_name.len ? rtmp_amf_type::typed_object : rtmp_amf_type::object;
    v->class_name = t->class_name;
    v->dynamic = t->dynamic;
    v->nsealed = t->nsealed;
    if (!rtmp_amf_enter(d) || !rtmp_amf_check_count(d, t->nsealed)) {
        return RTMP_ERROR;
    }
    uint32_t cap = t->nsealed;
    v->props = cap ? rtmp_palloc<rtmp_amf_prop_t>(d->pool, cap) : nullptr;
    for (uint32_t i = 0; i < t->nsealed; i++) {
        v->props[i].key = t->props[i].key;
        if (rtmp_amf3_value(d, &v->props[i].value) != RTMP_OK) {
            return RTMP_ERROR;
        }
        v->nprops++;
    }
    while (t->dynamic) {
        rtmp_str_t key;
        if (!rtmp_amf3_str(d, &key)) {
            return RTMP_ERROR;
        }
        if (key.len == 0) {
            break;
        }
        v->props = rtmp_amf_grow(d->pool, v->props, v->nprops, &cap);
        v->props[v->nprops].key = key;
        if (rtmp_amf3_value(d, &v->props[v->nprops].value) != RTMP_OK) {
            return RTMP_ERROR;
        }
        v->nprops++;
    }
    d->depth--;
    return RTMP_OK;
}

static rtmp_int_t rtmp_amf3_value(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v)
{
    uint32_t h;
    bool ref;

    *v = rtmp_amf_value_t{};
    if (!rtmp_amf_count(d) || !rtmp_amf_need(d, 1)) {
        return RTMP_ERROR;
    }
    u_char marker = *d->pos++;

    switch (marker) {
    case RTMP_AMF3_UNDEFINED:
        v->type = rtmp_amf_type::undefined;
        return RTMP_OK;

    case RTMP_AMF3_NULL:
        v->type = rtmp_amf_type::null;
        return RTMP_OK;

    case RTMP_AMF3_FALSE:
    case RTMP_AMF3_TRUE:
        v->type = rtmp_amf_type::boolean;
        v->boolean = marker == RTMP_AMF3_TRUE;
        return RTMP_OK;

    case RTMP_AMF3_INTEGER:
        if (!rtmp_amf3_u29(d, &h)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::integer;
        // sign-extend the 29-bit two's complement value
        v->integer = (h & 0x10000000) ? (int32_t)h - 0x20000000 : (int32_t)h;
        return RTMP_OK;

    case RTMP_AMF3_DOUBLE:
        if (!rtmp_amf_need(d, 8)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::number;
        v->number = rtmp_amf_double(d);
        return RTMP_OK;

    case RTMP_AMF3_STRING:
        v->type = rtmp_amf_type::string;
        return rtmp_amf3_str(d, &v->str) ? RTMP_OK : RTMP_ERROR;

    case RTMP_AMF3_XML_DOC:
    case RTMP_AMF3_XML:
    case RTMP_AMF3_BYTE_ARRAY:
        if (!rtmp_amf3_header(d, v, marker, &h, &ref)) {
            return RTMP_ERROR;
        }
        if (ref) {
            return RTMP_OK;
        }
        v->type = marker == RTMP_AMF3_XML_DOC ? rtmp_amf_type::xml_doc
                  : marker == RTMP_AMF3_XML   ? rtmp_amf_type::xml
                                              : rtmp_amf_type::byte_array;
        return rtmp_amf_bytes(d, h >> 1, &v->str) ? RTMP_OK : RTMP_ERROR;

    case RTMP_AMF3_DATE:
        if (!rtmp_amf3_header(d, v, marker, &h, &ref)) {
            return RTMP_ERROR;
        }
        if (ref) {
            return RTMP_OK;
        }
        if (!rtmp_amf_need(d, 8)) {
            return RTMP_ERROR;
        }
        v->type = rtmp_amf_type::date;
        v->number = rtmp_amf_double(d);
        return RTMP_OK;

    case RTMP_AMF3_ARRAY:
        if (!rtmp_amf3_header(d, v, marker, &h, &ref)) {
            return RTMP_ERROR;
        }
        return ref ? RTMP_OK : rtmp_amf3_array(d, v, h >> 1);

    case RTMP_AMF3_OBJECT:
        if (!rtmp_amf3_header(d, v, marker, &h, &ref)) {
            return RTMP_ERROR;
        }
        return ref ? RTMP_OK : rtmp_amf3_object(d, v, h);

    default:
        return rtmp_amf_fail(d, "unknown AMF3 type marker");
    }
}

rtmp_int_t rtmp_amf3_decode(rtmp_amf_decoder_t *d, rtmp_amf_value_t *v)
{
    if (d->err) {
        return RTMP_ERROR;
    }
    d->depth = 0;
    return rtmp_amf3_value(d, v);
}

rtmp_int_t rtmp_amf_decode_message(rtmp_pool_t *pool, uint8_t type, std::span<const u_char> payload,
                                   const rtmp_amf_limits_t *limits, rtmp_amf_value_t **values,
                                   uint32_t *n, const char **err)
{
    rtmp_amf_decoder_t d;
    uint32_t cap = 0;

    *values = nullptr;
    *n = 0;
    *err = nullptr;

    // The AMF3 message types lead with one format byte; Flash always sends 0.
    // Tolerate its absence, as a command can never start with 0x00 anyway.
    if ((type == RTMP_MSG_AMF3_CMD || type == RTMP_MSG_AMF3_META || type == RTMP_MSG_AMF3_SHARED) &&
        !payload.empty() && payload[0] == 0) {
        payload = payload.subspan(1);
    }

    rtmp_amf_decoder_init(&d, pool, payload, limits);
    while (!rtmp_amf_decoder_done(&d)) {
        *values = rtmp_amf_grow(pool, *values, *n, &cap);
        if (rtmp_amf0_decode(&d, &(*values)[*n]) != RTMP_OK) {
            *err = d.err;
            return RTMP_ERROR;
        }
        (*n)++;
    }
    return RTMP_OK;
}

// ---- encoding --------------------------------------------------------------------------

static bool rtmp_amf_put(rtmp_buf_t *b, const void *p, size_t n)
{
    if (rtmp_buf_free(b) < n) {
        return false;
    }
    if (n) {
        memcpy(b->last, p, n);
        b->last += n;
    }
    return true;
}

static bool rtmp_amf_put_u8(rtmp_buf_t *b, u_char c)
{
    return rtmp_amf_put(b, &c, 1);
}

static bool rtmp_amf_put_u16(rtmp_buf_t *b, uint32_t n)
{
    u_char p[2] = {(u_char)(n >> 8), (u_char)n};
    return rtmp_amf_put(b, p, 2);
}

static bool rtmp_amf_put_u32(rtmp_buf_t *b, uint32_t n)
{
    u_char p[4] = {(u_char)(n >> 24), (u_char)(n >> 16), (u_char)(n >> 8), (u_char)n};
    return rtmp_amf_put(b, p, 4);
}

static bool rtmp_amf_put_double(rtmp_buf_t *b, double x)
{
    uint64_t n;
    u_char p[8];
    memcpy(&n, &x, sizeof(n));
    for (int i = 7; i >= 0; i--) {
        p[i] = (u_char)n;
        n >>= 8;
    }
    return rtmp_amf_put(b, p, 8);
}

static bool rtmp_amf0_put_str(rtmp_buf_t *b, const rtmp_str_t *s)
{
    return s->len <= 0xffff && rtmp_amf_put_u16(b, (uint32_t)s->len) &&
           rtmp_amf_put(b, s->data, s->len);
}

static bool rtmp_amf0_enc(rtmp_buf_t *b, const rtmp_amf_value_t *v, uint32_t depth);

static bool rtmp_amf0_enc_props(rtmp_buf_t *b, const rtmp_amf_value_t *v, uint32_t depth)
{
    for (uint32_t i = 0; i < v->nprops; i++) {
        if (!rtmp_amf0_put_str(b, &v->props[i].key) ||
            !rtmp_amf0_enc(b, &v->props[i].value, depth + 1)) {
            return false;
        }
    }
    return rtmp_amf_put_u16(b, 0) && rtmp_amf_put_u8(b, RTMP_AMF0_OBJECT_END);
}

static bool rtmp_amf3_enc(rtmp_buf_t *b, const rtmp_amf_value_t *v, uint32_t depth);

static bool rtmp_amf0_enc(rtmp_buf_t *b, const rtmp_amf_value_t *v, uint32_t depth)
{
    if (depth > RTMP_AMF_ENCODE_MAX_DEPTH) {
        return false;
    }
    // Types AMF0 cannot say go out as AMF3 behind the switch marker.
    bool amf3 = v->amf3 || v->type == rtmp_amf_type::xml || v->type == rtmp_amf_type::byte_array ||
                (v->type == rtmp_amf_type::ecma_array && v->nitems) ||
                (v->type == rtmp_amf_type::reference && v->marker != 0);
    if (amf3) {
        return rtmp_amf_put_u8(b, RTMP_AMF0_AVMPLUS) && rtmp_amf3_enc(b, v, depth);
    }

    switch (v->type) {
    case rtmp_amf_type::undefined:
        return rtmp_amf_put_u8(b, RTMP_AMF0_UNDEFINED);
    case rtmp_amf_type::null:
        return rtmp_amf_put_u8(b, RTMP_AMF0_NULL);
    case rtmp_amf_type::boolean:
        return rtmp_amf_put_u8(b, RTMP_AMF0_BOOLEAN) && rtmp_amf_put_u8(b, v->boolean ? 1 : 0);
    case rtmp_amf_type::number:
        return rtmp_amf_put_u8(b, RTMP_AMF0_NUMBER) && rtmp_amf_put_double(b, v->number);
    case rtmp_amf_type::integer:
        return rtmp_amf_put_u8(b, RTMP_AMF0_NUMBER) && rtmp_amf_put_double(b, v->integer);
    case rtmp_amf_type::string:
        if (v->str.len <= 0xffff) {
            return rtmp_amf_put_u8(b, RTMP_AMF0_STRING) && rtmp_amf0_put_str(b, &v->str);
        }
        if (v->str.len > 0xffffffff) {
            return false;
        }
        return rtmp_amf_put_u8(b, RTMP_AMF0_LONG_STRING) &&
               rtmp_amf_put_u32(b, (uint32_t)v->str.len) &&
               rtmp_amf_put(b, v->str.data, v->str.len);
    case rtmp_amf_type::xml_doc:
        if (v->str.len > 0xffffffff) {
            return false;
        }
        return rtmp_amf_put_u8(b, RTMP_AMF0_XML_DOC) && rtmp_amf_put_u32(b, (uint32_t)v->str.len) &&
               rtmp_amf_put(b, v->str.data, v->str.len);
    case rtmp_amf_type::object:
        return rtmp_amf_put_u8(b, RTMP_AMF0_OBJECT) && rtmp_amf0_enc_props(b, v, depth);
    case rtmp_amf_type::typed_object:
        return rtmp_amf_put_u8(b, RTMP_AMF0_TYPED_OBJECT) && rtmp_amf0_put_str(b, &v->class_name) &&
               rtmp_amf0_enc_props(b, v, depth);
    case rtmp_amf_type::ecma_array:
        return rtmp_amf_put_u8(b, RTMP_AMF0_ECMA_ARRAY) && rtmp_amf_put_u32(b, v->nprops) &&
               rtmp_amf0_enc_props(b, v, depth);
    case rtmp_amf_type::strict_array:
        if (!rtmp_amf_put_u8(b, RTMP_AMF0_STRICT_ARRAY) || !rtmp_amf_put_u32(b, v->nitems)) {
            return false;
        }
        for (uint32_t i = 0; i < v->nitems; i++) {
            if (!rtmp_amf0_enc(b, &v->items[i], depth + 1)) {
                return false;
            }
        }
        return true;
    case rtmp_amf_type::date:
        return rtmp_amf_put_u8(b, RTMP_AMF0_DATE) && rtmp_amf_put_double(b, v->number) &&
               rtmp_amf_put_u16(b, (uint16_t)v->tz);
    case rtmp_amf_type::reference:
        return v->index <= 0xffff && rtmp_amf_put_u8(b, RTMP_AMF0_REFERENCE) &&
               rtmp_amf_put_u16(b, v->index);
    default:
        return false;
    }
}

static bool rtmp_amf3_put_u29(rtmp_buf_t *b, uint32_t n)
{
    u_char p[4];
    size_t len;

    if (n > RTMP_AMF3_U29_MAX) {
        return false;
    }
    if (n < 0x80) {
        p[0] = (u_char)n;
        len = 1;
    } else if (n < 0x4000) {
        p[0] = (u_char)((n >> 7) | 0x80);
        p[1] = (u_char)(n & 0x7f);
        len = 2;
    } else if (n < 0x200000) {
        p[0] = (u_char)((n >> 14) | 0x80);
        p[1] = (u_char)(((n >> 7) & 0x7f) | 0x80);
        p[2] = (u_char)(n & 0x7f);
        len = 3;
    } else {
        p[0] = (u_char)((n >> 22) | 0x80);
        p[1] = (u_char)(((n >> 15) & 0x7f) | 0x80);
        p[2] = (u_char)(((n >> 8) & 0x7f) | 0x80);
        p[3] = (u_char)n;
        len = 4;
    }
    return rtmp_amf_put(b, p, len);
}

// Strings always go inline: a valid choice that keeps the encoder stateless.
static bool rtmp_amf3_put_str(rtmp_buf_t *b, const rtmp_str_t *s)
{
    return s->len <= (RTMP_AMF3_U29_MAX >> 1) &&
           rtmp_amf3_put_u29(b, (uint32_t)(s->len << 1) | 1) && rtmp_amf_put(b, s->data, s->len);
}

static bool rtmp_amf3_enc(rtmp_buf_t *b, const rtmp_amf_value_t *v, uint32_t depth)
{
    if (depth > RTMP_AMF_ENCODE_MAX_DEPTH) {
        return false;
    }

    switch (v->type) {
    case rtmp_amf_type::undefined:
        return rtmp_amf_put_u8(b, RTMP_AMF3_UNDEFINED);
    case rtmp_amf_type::null:
        return rtmp_amf_put_u8(b, RTMP_AMF3_NULL);
    case rtmp_amf_type::boolean:
        return rtmp_amf_put_u8(b, v->boolean ? RTMP_AMF3_TRUE : RTMP_AMF3_FALSE);
    case rtmp_amf_type::number:
        return rtmp_amf_put_u8(b, RTMP_AMF3_DOUBLE) && rtmp_amf_put_double(b, v->number);
    case rtmp_amf_type::integer:
        if (v->integer < RTMP_AMF3_INT_MIN || v->integer > RTMP_AMF3_INT_MAX) {
            return rtmp_amf_put_u8(b, RTMP_AMF3_DOUBLE) && rtmp_amf_put_double(b, v->integer);
        }
        return rtmp_amf_put_u8(b, RTMP_AMF3_INTEGER) &&
               rtmp_amf3_put_u29(b, (uint32_t)v->integer & RTMP_AMF3_U29_MAX);
    case rtmp_amf_type::string:
        return rtmp_amf_put_u8(b, RTMP_AMF3_STRING) && rtmp_amf3_put_str(b, &v->str);
    case rtmp_amf_type::xml_doc:
        return rtmp_amf_put_u8(b, RTMP_AMF3_XML_DOC) && rtmp_amf3_put_str(b, &v->str);
    case rtmp_amf_type::xml:
        return rtmp_amf_put_u8(b, RTMP_AMF3_XML) && rtmp_amf3_put_str(b, &v->str);
    case rtmp_amf_type::byte_array:
        return rtmp_amf_put_u8(b, RTMP_AMF3_BYTE_ARRAY) && rtmp_amf3_put_str(b, &v->str);
    case rtmp_amf_type::date:
        return rtmp_amf_put_u8(b, RTMP_AMF3_DATE) && rtmp_amf3_put_u29(b, 1) &&
               rtmp_amf_put_double(b, v->number);
    case rtmp_amf_type::reference:
        return v->marker >= RTMP_AMF3_XML_DOC && v->marker <= RTMP_AMF3_BYTE_ARRAY &&
               v->index <= (RTMP_AMF3_U29_MAX >> 1) && rtmp_amf_put_u8(b, v->marker) &&
               rtmp_amf3_put_u29(b, v->index << 1);

    case rtmp_amf_type::ecma_array:
    case rtmp_amf_type::strict_array: {
        uint32_t nprops = v->type == rtmp_amf_type::ecma_array ? v->nprops : 0;
        if (v->nitems > (RTMP_AMF3_U29_MAX >> 1) || !rtmp_amf_put_u8(b, RTMP_AMF3_ARRAY) ||
            !rtmp_amf3_put_u29(b, (v->nitems << 1) | 1)) {
            return false;
        }
        for (uint32_t i = 0; i < nprops; i++) {
            // an empty key would read back as the end of the associative part
            if (v->props[i].key.len == 0 || !rtmp_amf3_put_str(b, &v->props[i].key) ||
                !rtmp_amf3_enc(b, &v->props[i].value, depth + 1)) {
                return false;
            }
        }
        if (!rtmp_amf3_put_u29(b, 1)) {
            return false;
        }
        for (uint32_t i = 0; i < v->nitems; i++) {
            if (!rtmp_amf3_enc(b, &v->items[i], depth + 1)) {
                return false;
            }
        }
        return true;
    }

    case rtmp_amf_type::object:
    case rtmp_amf_type::typed_object: {
        uint32_t nsealed = v->nsealed;
        if (nsealed > v->nprops || nsealed > (RTMP_AMF3_U29_MAX >> 4)) {
            return false;
        }
        bool dynamic = v->dynamic || v->nprops > nsealed;
        rtmp_str_t cls = v->type == rtmp_amf_type::typed_object ? v->class_name : rtmp_str_t{};
        if (!rtmp_amf_put_u8(b, RTMP_AMF3_OBJECT) ||
            !rtmp_amf3_put_u29(b, (nsealed << 4) | (dynamic ? 0x08 : 0) | 0x03) ||
            !rtmp_amf3_put_str(b, &cls)) {
            return false;
        }
        for (uint32_t i = 0; i < nsealed; i++) {
            if (!rtmp_amf3_put_str(b, &v->props[i].key)) {
                return false;
            }
        }
        for (uint32_t i = 0; i < v->nprops; i++) {
            if (i >= nsealed &&
                (v->props[i].key.len == 0 || !rtmp_amf3_put_str(b, &v->props[i].key))) {
                return false;
            }
            if (!rtmp_amf3_enc(b, &v->props[i].value, depth + 1)) {
                return false;
            }
        }
        return !dynamic || rtmp_amf3_put_u29(b, 1);
    }
    }
    return false;
}

rtmp_int_t rtmp_amf0_encode(rtmp_buf_t *b, const rtmp_amf_value_t *v)
{
    return rtmp_amf0_enc(b, v, 0) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf3_encode(rtmp_buf_t *b, const rtmp_amf_value_t *v)
{
    return rtmp_amf3_enc(b, v, 0) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_number(rtmp_buf_t *b, double n)
{
    return rtmp_amf_put_u8(b, RTMP_AMF0_NUMBER) && rtmp_amf_put_double(b, n) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_bool(rtmp_buf_t *b, bool f)
{
    return rtmp_amf_put_u8(b, RTMP_AMF0_BOOLEAN) && rtmp_amf_put_u8(b, f ? 1 : 0) ? RTMP_OK
                                                                                  : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_string(rtmp_buf_t *b, std::string_view s)
{
    rtmp_amf_value_t v = rtmp_amf_string(s);
    return rtmp_amf0_encode(b, &v);
}

rtmp_int_t rtmp_amf0_write_null(rtmp_buf_t *b)
{
    return rtmp_amf_put_u8(b, RTMP_AMF0_NULL) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_object_start(rtmp_buf_t *b)
{
    return rtmp_amf_put_u8(b, RTMP_AMF0_OBJECT) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_key(rtmp_buf_t *b, std::string_view key)
{
    rtmp_str_t s{key.size(), (u_char *)key.data()};
    return rtmp_amf0_put_str(b, &s) ? RTMP_OK : RTMP_ERROR;
}

rtmp_int_t rtmp_amf0_write_object_end(rtmp_buf_t *b)
{
    return rtmp_amf_put_u16(b, 0) && rtmp_amf_put_u8(b, RTMP_AMF0_OBJECT_END) ? RTMP_OK
                                                                              : RTMP_ERROR;
}

// ---- lookups ---------------------------------------------------------------------------

const rtmp_amf_value_t *rtmp_amf_get(const rtmp_amf_value_t *v, std::string_view key)
{
    if (v == nullptr) {
        return nullptr;
    }
    switch (v->type) {
    case rtmp_amf_type::object:
    case rtmp_amf_type::typed_object:
    case rtmp_amf_type::ecma_array:
        break;
    default:
        return nullptr;
    }
    for (uint32_t i = 0; i < v->nprops; i++) {
        if (v->props[i].key.sv() == key) {
            return &v->props[i].value;
        }
    }
    return nullptr;
}

const rtmp_amf_value_t *rtmp_amf_item(const rtmp_amf_value_t *v, uint32_t i)
{
    if (v == nullptr ||
        (v->type != rtmp_amf_type::strict_array && v->type != rtmp_amf_type::ecma_array) ||
        i >= v->nitems) {
        return nullptr;
    }
    return &v->items[i];
}

bool rtmp_amf_as_number(const rtmp_amf_value_t *v, double *out)
{
    if (v == nullptr) {
        return false;
    }
    if (v->type == rtmp_amf_type::number) {
        *out = v->number;
        return true;
    }
    if (v->type == rtmp_amf_type::integer) {
        *out = v->integer;
        return true;
    }
    return false;
}

bool rtmp_amf_get_number(const rtmp_amf_value_t *v, std::string_view key, double *out)
{
    return rtmp_amf_as_number(rtmp_amf_get(v, key), out);
}

bool rtmp_amf_get_string(const rtmp_amf_value_t *v, std::string_view key, rtmp_str_t *out)
{
    const rtmp_amf_value_t *p = rtmp_amf_get(v, key);
    if (p == nullptr || p->type != rtmp_amf_type::string) {
        return false;
    }
    *out = p->str;
    return true;
}

bool rtmp_amf_get_bool(const rtmp_amf_value_t *v, std::string_view key, bool *out)
{
    const rtmp_amf_value_t *p = rtmp_amf_get(v, key);
    if (p == nullptr || p->type != rtmp_amf_type::boolean) {
        return false;
    }
    *out = p->boolean;
    return true;
}

const char *rtmp_amf_type_name(rtmp_amf_type t)
{
    static constexpr const char *names[] = {
        "undefined", "null",         "boolean",      "number",     "integer",
        "string",    "object",       "typed object", "ECMA array", "strict array",
        "date",      "XML document", "XML",          "byte array", "reference",
    };
    size_t i = (size_t)t;
    return i < rtmp_nelems(names) ? names[i] : "unknown";
}
