// FLV file writing without I/O: header, tags, and the fixed-size onMetaData with a keyframe index.
#include "rtmp/rtmp_flv.h"

void rtmp_flv_header(u_char out[RTMP_FLV_HEADER], bool audio, bool video)
{
    static constexpr u_char h[RTMP_FLV_HEADER] = {'F', 'L', 'V', 1, 0, 0, 0, 0, 9, 0, 0, 0, 0};
    memcpy(out, h, sizeof(h));
    out[4] = (u_char)((audio ? 0x04 : 0) | (video ? 0x01 : 0));
}

void rtmp_flv_tag_header(u_char out[RTMP_FLV_TAG_HEADER], uint8_t type, uint32_t size, uint32_t ts)
{
    out[0] = type;
    out[1] = (u_char)(size >> 16);
    out[2] = (u_char)(size >> 8);
    out[3] = (u_char)size;
    out[4] = (u_char)(ts >> 16);
    out[5] = (u_char)(ts >> 8);
    out[6] = (u_char)ts;
    out[7] = (u_char)(ts >> 24); // TimestampExtended: the upper 8 bits, after the lower 24
    out[8] = out[9] = out[10] = 0;
}

void rtmp_flv_tag_trailer(u_char out[RTMP_FLV_TAG_TRAILER], uint32_t size)
{
    uint32_t n = size + (uint32_t)RTMP_FLV_TAG_HEADER;
    out[0] = (u_char)(n >> 24);
    out[1] = (u_char)(n >> 16);
    out[2] = (u_char)(n >> 8);
    out[3] = (u_char)n;
}

// ---- keyframe index ---------------------------------------------------------------------------

void rtmp_flv_index_init(rtmp_flv_index_t *ix, uint32_t *times, uint64_t *positions,
                         uint32_t capacity)
{
    *ix = {};
    ix->capacity = capacity < 2 ? 2 : capacity;
    ix->stride = 1;
    ix->times = times;
    ix->positions = positions;
}

void rtmp_flv_index_add(rtmp_flv_index_t *ix, uint32_t ms, uint64_t pos)
{
    if (ix->seen++ % ix->stride != 0) {
        return;
    }
    if (ix->n == ix->capacity) {
        // entries 0, 2, 4... are the key frames 0, 2*stride, 4*stride...: the new stride's
        uint32_t k = 0;
        for (uint32_t i = 0; i < ix->n; i += 2) {
            ix->times[k] = ix->times[i];
            ix->positions[k] = ix->positions[i];
            k++;
        }
        ix->n = k;
        ix->stride *= 2;
        if ((ix->seen - 1) % ix->stride != 0) {
            return;
        }
    }
    ix->times[ix->n] = ms;
    ix->positions[ix->n] = pos;
    ix->n++;
}

// ---- onMetaData -------------------------------------------------------------------------------

namespace
{

// AMF0 (amf0-file-format-specification 2.2 number, 2.3 boolean, 2.5 object, 2.10 ECMA array,
// 2.12 strict array) written in place; the caller has checked the room.
struct rtmp_flv_out_t {
    u_char *p;
};

void put_u8(rtmp_flv_out_t *o, u_char v)
{
    *o->p++ = v;
}

void put_u16(rtmp_flv_out_t *o, uint16_t v)
{
    put_u8(o, (u_char)(v >> 8));
    put_u8(o, (u_char)v);
}

void put_u32(rtmp_flv_out_t *o, uint32_t v)
{
    put_u16(o, (uint16_t)(v >> 16));
    put_u16(o, (uint16_t)v);
}

void put_key(rtmp_flv_out_t *o, std::string_view k)
{
    put_u16(o, (uint16_t)k.size());
    memcpy(o->p, k.data(), k.size());
    o->p += k.size();
}

void put_number(rtmp_flv_out_t *o, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    put_u8(o, 0x00);
    put_u32(o, (uint32_t)(bits >> 32));
    put_u32(o, (uint32_t)bits);
}

void put_prop(rtmp_flv_out_t *o, std::string_view k, double v)
{
    put_key(o, k);
    put_number(o, v);
}

void put_bool_prop(rtmp_flv_out_t *o, std::string_view k, bool v)
{
    put_key(o, k);
    put_u8(o, 0x01);
    put_u8(o, v ? 1 : 0);
}

void put_end(rtmp_flv_out_t *o)
{
    put_u8(o, 0);
    put_u8(o, 0);
    put_u8(o, 0x09);
}

constexpr size_t number_prop(std::string_view k)
{
    return 2 + k.size() + 9;
}

constexpr size_t ENTRY = 9; // one AMF0 number

// Everything but the index and padding; the properties in the order they are written.
size_t rtmp_flv_meta_fixed(unsigned flags)
{
    size_t n = 1 + 2 + 10 + 1 + 4; // "onMetaData", ECMA array marker and count
    n += number_prop("duration") + number_prop("filesize");
    if (flags & RTMP_FLV_META_VIDEO) {
        n += number_prop("width") + number_prop("height") + number_prop("framerate") +
             number_prop("videocodecid") + number_prop("videodatarate");
    }
    if (flags & RTMP_FLV_META_AUDIO) {
        n += number_prop("audiocodecid") + number_prop("audiodatarate") +
             number_prop("audiosamplerate") + 2 + 6 + 2; // stereo
    }
    n += number_prop("lasttimestamp") + number_prop("lastkeyframetimestamp");
    n += 2 + 9 + 1;      // "keyframes" object
    n += 2 + 5 + 1 + 4;  // "times" strict array
    n += 2 + 13 + 1 + 4; // "filepositions" strict array
    n += 3;              // object end
    n += 2 + 7 + 1 + 4;  // "padding" strict array
    n += 3;              // ECMA array end
    return n;
}

} // namespace

size_t rtmp_flv_meta_size(unsigned flags, uint32_t capacity)
{
    return RTMP_FLV_TAG_HEADER + rtmp_flv_meta_fixed(flags) + (size_t)capacity * 2 * ENTRY +
           RTMP_FLV_TAG_TRAILER;
}

rtmp_int_t rtmp_flv_meta_write(u_char *out, size_t len, unsigned flags, uint32_t capacity,
                               const rtmp_flv_meta_t *m, const rtmp_flv_index_t *ix)
{
    size_t total = rtmp_flv_meta_size(flags, capacity);
    uint32_t n = ix ? ix->n : 0;
    size_t data = total - RTMP_FLV_TAG_HEADER - RTMP_FLV_TAG_TRAILER;
    if (len < total || n > capacity || data > RTMP_FLV_MAX_DATA) {
        return RTMP_ERROR;
    }
    rtmp_flv_tag_header(out, RTMP_FLV_SCRIPT, (uint32_t)data, 0);
    rtmp_flv_out_t o = {out + RTMP_FLV_TAG_HEADER};
    put_u8(&o, 0x02);
    put_key(&o, "onMetaData");
    put_u8(&o, 0x08);
    uint32_t count = 2 + 2 + 2 + 1; // duration, filesize, last*, keyframes, padding
    count += (flags & RTMP_FLV_META_VIDEO) ? 5 : 0;
    count += (flags & RTMP_FLV_META_AUDIO) ? 4 : 0;
    put_u32(&o, count);
    put_prop(&o, "duration", m->duration);
    put_prop(&o, "filesize", m->filesize);
    if (flags & RTMP_FLV_META_VIDEO) {
        put_prop(&o, "width", m->width);
        put_prop(&o, "height", m->height);
        put_prop(&o, "framerate", m->framerate);
        put_prop(&o, "videocodecid", m->videocodecid);
        put_prop(&o, "videodatarate", m->videodatarate);
    }
    if (flags & RTMP_FLV_META_AUDIO) {
        put_prop(&o, "audiocodecid", m->audiocodecid);
        put_prop(&o, "audiodatarate", m->audiodatarate);
        put_prop(&o, "audiosamplerate", m->audiosamplerate);
        put_bool_prop(&o, "stereo", m->stereo);
    }
    put_prop(&o, "lasttimestamp", m->lasttimestamp);
    put_prop(&o, "lastkeyframetimestamp", m->lastkeyframetimestamp);

    // ffmpeg's flvdec reads "times" and "filepositions" only as the first two members of
    // "keyframes", as flvtool2, yamdi and ffmpeg's own muxer write them
    put_key(&o, "keyframes");
    put_u8(&o, 0x03);
    put_key(&o, "times");
    put_u8(&o, 0x0a);
    put_u32(&o, n);
    for (uint32_t i = 0; i < n; i++) {
        put_number(&o, (double)ix->times[i] / 1000.0);
    }
    put_key(&o, "filepositions");
    put_u8(&o, 0x0a);
    put_u32(&o, n);
    for (uint32_t i = 0; i < n; i++) {
        put_number(&o, (double)ix->positions[i]);
    }
    put_end(&o);

    // the room the index does not use yet, as nulls (one byte each) readers skip
    uint32_t pad = (capacity - n) * 2 * (uint32_t)ENTRY;
    put_key(&o, "padding");
    put_u8(&o, 0x0a);
    put_u32(&o, pad);
    memset(o.p, 0x05, pad);
    o.p += pad;
    put_end(&o);
    rtmp_flv_tag_trailer(o.p, (uint32_t)data);
    o.p += RTMP_FLV_TAG_TRAILER;
    return (size_t)(o.p - out) == total ? RTMP_OK : RTMP_ERROR;
}
