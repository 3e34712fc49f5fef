// FLV file reader (FLV spec v10.1 annex E): header, tag headers, bodies, keyframe index.
#include "rtmp/rtmp_flv_reader.h"
#include "rtmp/rtmp_amf.h"

#include <cmath>

static uint32_t rtmp_flv_u24(const u_char *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

rtmp_int_t rtmp_flv_open(const rtmp_media_file_t *f, uint64_t *first, const char **err)
{
    u_char h[RTMP_FLV_FILE_HEADER];
    if (!rtmp_media_file_read(f, h, sizeof(h), 0) || memcmp(h, "FLV", 3) != 0) {
        *err = "not an FLV file";
        return RTMP_ERROR;
    }
    uint32_t data_offset = (uint32_t)h[5] << 24 | rtmp_flv_u24(h + 6);
    if (data_offset < RTMP_FLV_FILE_HEADER || data_offset > 1024) {
        *err = "FLV header: bad data offset";
        return RTMP_ERROR;
    }
    *first = (uint64_t)data_offset + 4; // PreviousTagSize0
    return RTMP_OK;
}

rtmp_int_t rtmp_flv_read_tag(const rtmp_media_file_t *f, uint64_t offset, uint32_t max_size,
                             rtmp_flv_tag_t *t, const char **err)
{
    for (;;) {
        u_char h[RTMP_FLV_TAG_HEADER + 2];
        if (offset >= f->size || f->size - offset < RTMP_FLV_TAG_HEADER) {
            return RTMP_DONE;
        }
        uint64_t avail = f->size - offset - RTMP_FLV_TAG_HEADER;
        size_t want = RTMP_FLV_TAG_HEADER + (avail < 2 ? (size_t)avail : 2);
        ssize_t n = f->read(f, h, want, offset);
        if (n < 0) {
            *err = "read error";
            return RTMP_ERROR;
        }
        if ((size_t)n < want) {
            return RTMP_DONE;
        }
        uint8_t type = h[0] & 0x1f;
        bool filtered = h[0] & 0x20; // encrypted (FLV 10.1 E.4.1): nothing we can send
        uint32_t size = rtmp_flv_u24(h + 1);
        uint32_t ts = rtmp_flv_u24(h + 4) | (uint32_t)h[7] << 24;
        if (size > avail) {
            return RTMP_DONE; // cut short: the file ends with the last whole tag
        }
        t->offset = offset;
        t->body = offset + RTMP_FLV_TAG_HEADER;
        t->next = t->body + size + 4;
        t->size = size;
        t->timestamp = ts;
        t->type = type;
        t->first = size ? h[RTMP_FLV_TAG_HEADER] : 0;
        uint8_t second = size > 1 ? h[RTMP_FLV_TAG_HEADER + 1] : 0xff;
        if ((type != RTMP_FLV_AUDIO && type != RTMP_FLV_VIDEO && type != RTMP_FLV_SCRIPT) ||
            filtered || size == 0) {
            offset = t->next;
            continue;
        }
        if (size > max_size) {
            *err = "FLV tag larger than allowed";
            return RTMP_ERROR;
        }
        t->key = false;
        t->header = type == RTMP_FLV_SCRIPT;
        if (type == RTMP_FLV_VIDEO) {
            uint8_t b = t->first;
            if (b & 0x80) { // Enhanced RTMP: frame type 3 bits, packet type 4 bits
                uint8_t packet = b & 0x0f;
                // only CodedFrames(X) are pictures: not SequenceEnd, metadata or the rest
                t->key = ((b >> 4) & 7) == 1 && (packet == 1 || packet == 3);
                t->header = packet == 0; // SequenceStart
            } else {
                // AVC (7) and HEVC (12, the common extension): packet type 0 is the header,
                // 1 a picture, 2 the end of the sequence (which ffmpeg marks as a key frame)
                uint8_t codec = b & 0x0f;
                bool avc = codec == 7 || codec == 12;
                t->key = (b >> 4) == 1 && (!avc || second == 1);
                t->header = avc && second == 0;
            }
            if (t->header) {
                t->key = false;
            }
        } else if (type == RTMP_FLV_AUDIO) {
            t->header = (t->first >> 4) == 10 && second == 0; // AAC sequence header
        }
        return RTMP_OK;
    }
}

rtmp_int_t rtmp_flv_read_body(const rtmp_media_file_t *f, const rtmp_flv_tag_t *t, u_char *buf)
{
    return rtmp_media_file_read(f, buf, t->size, t->body) ? RTMP_OK : RTMP_ERROR;
}

static const rtmp_amf_value_t *rtmp_flv_prop(const rtmp_amf_value_t *obj, std::string_view key)
{
    if (obj->type != rtmp_amf_type::object && obj->type != rtmp_amf_type::ecma_array) {
        return nullptr;
    }
    for (uint32_t i = 0; i < obj->nprops; i++) {
        if (obj->props[i].key.sv() == key) {
            return &obj->props[i].value;
        }
    }
    return nullptr;
}

static bool rtmp_flv_number(const rtmp_amf_value_t *v, double *out)
{
    if (v == nullptr || v->type != rtmp_amf_type::number || !std::isfinite(v->number)) {
        return false;
    }
    *out = v->number;
    return true;
}

rtmp_int_t rtmp_flv_parse_meta(rtmp_pool_t *pool, std::span<const u_char> body,
                               rtmp_flv_file_meta_t *meta)
{
    *meta = {};
    // an index is two arrays of up to RTMP_FLV_MAX_KEYS numbers, plus the other fields
    rtmp_amf_limits_t limits = RTMP_AMF_LIMITS_DEFAULT;
    limits.max_values = 2 * RTMP_FLV_MAX_KEYS + 4096;
    rtmp_amf_value_t *values = nullptr;
    uint32_t n = 0;
    const char *err = nullptr;
    if (rtmp_amf_decode_message(pool, RTMP_FLV_SCRIPT, body, &limits, &values, &n, &err) !=
            RTMP_OK ||
        n < 2 || values[0].type != rtmp_amf_type::string || values[0].str.sv() != "onMetaData") {
        return RTMP_ERROR;
    }
    const rtmp_amf_value_t *obj = &values[1];
    double d;
    if (rtmp_flv_number(rtmp_flv_prop(obj, "duration"), &d) && d > 0 && d < 1e9) {
        meta->duration = d;
    }
    const rtmp_amf_value_t *keys = rtmp_flv_prop(obj, "keyframes");
    if (keys == nullptr) {
        return RTMP_OK;
    }
    const rtmp_amf_value_t *times = rtmp_flv_prop(keys, "times");
    const rtmp_amf_value_t *pos = rtmp_flv_prop(keys, "filepositions");
    if (times == nullptr || pos == nullptr || times->type != rtmp_amf_type::strict_array ||
        pos->type != rtmp_amf_type::strict_array || times->nitems != pos->nitems ||
        times->nitems == 0 || times->nitems > RTMP_FLV_MAX_KEYS) {
        return RTMP_OK;
    }
    uint32_t k = times->nitems;
    auto *t = rtmp_palloc<double>(pool, k);
    auto *o = rtmp_palloc<uint64_t>(pool, k);
    for (uint32_t i = 0; i < k; i++) {
        double tv, ov;
        if (!rtmp_flv_number(&times->items[i], &tv) || !rtmp_flv_number(&pos->items[i], &ov) ||
            tv < 0 || ov < 0 || ov > 9e15 || (i > 0 && tv < t[i - 1])) {
            return RTMP_OK; // an index we cannot trust is no index
        }
        t[i] = tv;
        o[i] = (uint64_t)ov;
    }
    meta->nkeys = k;
    meta->key_times = t;
    meta->key_offsets = o;
    return RTMP_OK;
}

int64_t rtmp_flv_meta_find(const rtmp_flv_file_meta_t *meta, uint64_t ms)
{
    double s = (double)ms / 1000.0 + 0.0005; // times are written rounded to the millisecond
    uint32_t lo = 0, hi = meta->nkeys;       // first entry after s
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (meta->key_times[mid] <= s) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == 0 ? -1 : (int64_t)lo - 1;
}

// A read-ahead window over another byte source: a scan reads a few bytes per tag, and
// one read per 64 KB instead of one per tag keeps it to a few system calls per second
// of media.
struct rtmp_flv_window_t {
    rtmp_media_file_t file; // reads through the window
    const rtmp_media_file_t *under;
    uint64_t off;
    size_t len;
    u_char buf[65536];
};

static ssize_t rtmp_flv_window_read(const rtmp_media_file_t *f, u_char *buf, size_t n,
                                    uint64_t offset)
{
    auto *w = reinterpret_cast<rtmp_flv_window_t *>(f->data);
    if (n > sizeof(w->buf)) {
        return w->under->read(w->under, buf, n, offset);
    }
    if (offset < w->off || offset + n > w->off + w->len) {
        ssize_t r = w->under->read(w->under, w->buf, sizeof(w->buf), offset);
        if (r < 0) {
            return r;
        }
        w->off = offset;
        w->len = (size_t)r;
    }
    size_t have = offset + n <= w->off + w->len ? n : (size_t)(w->off + w->len - offset);
    memcpy(buf, w->buf + (offset - w->off), have);
    return (ssize_t)have;
}

rtmp_int_t rtmp_flv_scan_key(const rtmp_media_file_t *under, uint64_t first, uint64_t ms,
                             uint32_t max_tags, uint64_t *offset, const char **err)
{
    auto *w = static_cast<rtmp_flv_window_t *>(rtmp_alloc(sizeof(rtmp_flv_window_t)));
    w->file.read = rtmp_flv_window_read;
    w->file.data = w;
    w->file.size = under->size;
    w->under = under;
    w->off = 0;
    w->len = 0;
    const rtmp_media_file_t *f = &w->file;
    uint64_t off = first;
    uint64_t best_key = first, best_any = first;
    bool video = false;
    rtmp_flv_tag_t t;
    for (uint32_t i = 0; i < max_tags; i++) {
        rtmp_int_t rc = rtmp_flv_read_tag(f, off, UINT32_MAX, &t, err);
        if (rc == RTMP_DONE) {
            break;
        }
        if (rc != RTMP_OK) {
            rtmp_free(w);
            return rc;
        }
        if (t.timestamp > ms && !t.header) {
            break;
        }
        if (t.type == RTMP_FLV_VIDEO && !t.header) {
            video = true;
            if (t.key) {
                best_key = t.offset;
            }
        } else if (t.type == RTMP_FLV_AUDIO && !t.header && !video) {
            best_any = t.offset;
        }
        off = t.next;
    }
    rtmp_free(w);
    *offset = video ? best_key : best_any;
    return RTMP_OK;
}
