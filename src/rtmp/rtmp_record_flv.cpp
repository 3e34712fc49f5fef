// The FLV container writer of the record module: tags as they come, onMetaData rewritten on close.
#include "core/rtmp_core.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_flv.h"
#include "rtmp/rtmp_record.h"

struct rtmp_record_flv_t {
    unsigned flags;   // rtmp_flv_meta_flags: the onMetaData layout of this file
    uint64_t meta_at; // where the onMetaData tag is; 0: none of ours (appending)
    rtmp_flv_index_t ix;
    uint32_t last_key;
    uint64_t video_bytes;
    uint64_t audio_bytes;
    u_char *meta; // rtmp_flv_meta_size() bytes, built at open and again at close
    size_t meta_len;
    // appending: where the earlier onMetaData keeps these numbers (0: it does not), and the
    // header's flags
    uint64_t at_duration, at_filesize, at_lasttimestamp;
    u_char old_flags;
    uint64_t synced; // key frames seen when the index on disk was last written
};

// Appending: finds the number properties of the file's first onMetaData that close updates.
// The index stays the first recording's: readers index the rest as they read it.
static void rtmp_record_flv_find_meta(rtmp_recorder_t *r, rtmp_record_flv_t *x)
{
    u_char h[RTMP_FLV_HEADER + RTMP_FLV_TAG_HEADER];
    if (rtmp_record_read(r, 0, h, sizeof(h)) != RTMP_OK) {
        return;
    }
    x->old_flags = h[4];
    uint32_t size = (uint32_t)h[14] << 16 | (uint32_t)h[15] << 8 | h[16];
    if (h[13] != RTMP_FLV_SCRIPT || size > 4 * 1024 * 1024 ||
        RTMP_FLV_HEADER + RTMP_FLV_TAG_HEADER + (uint64_t)size > r->start) {
        return;
    }
    auto *body = static_cast<u_char *>(rtmp_alloc(size ? size : 1));
    uint64_t at = RTMP_FLV_HEADER + RTMP_FLV_TAG_HEADER;
    if (rtmp_record_read(r, at, body, size) == RTMP_OK) {
        std::string_view b(reinterpret_cast<const char *>(body), size);
        struct {
            std::string_view key;
            uint64_t *where;
        } props[] = {{"duration", &x->at_duration},
                     {"filesize", &x->at_filesize},
                     {"lasttimestamp", &x->at_lasttimestamp}};
        for (auto &p : props) {
            // the key as AMF0 writes it in an object (u16 length, name), then a number marker
            char pat[32];
            size_t n = p.key.size();
            pat[0] = 0;
            pat[1] = (char)n;
            memcpy(pat + 2, p.key.data(), n);
            pat[2 + n] = 0x00;
            size_t i = b.find(std::string_view(pat, n + 3));
            if (i != std::string_view::npos && i + n + 3 + 8 <= b.size()) {
                *p.where = at + i + n + 3;
            }
        }
    }
    rtmp_free(body);
}

static void rtmp_record_flv_number(u_char out[8], double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 8; i++) {
        out[i] = (u_char)(bits >> (56 - 8 * i));
    }
}

static void rtmp_record_flv_fill(rtmp_recorder_t *r, rtmp_record_flv_t *x, rtmp_flv_meta_t *m,
                                 bool final)
{
    const rtmp_record_info_t *in = r->info;
    *m = {};
    m->width = in->width;
    m->height = in->height;
    m->framerate = in->framerate;
    m->videocodecid = in->videocodecid;
    m->audiocodecid = in->audiocodecid;
    m->videodatarate = in->videodatarate;
    m->audiodatarate = in->audiodatarate;
    m->audiosamplerate = in->audiosamplerate;
    m->stereo = in->stereo;
    if (!final) {
        return; // a file cut short has duration 0: readers then look at its last tag
    }
    uint32_t end = r->last + r->delta;
    m->duration = (double)end / 1000.0;
    m->filesize = (double)r->offset;
    m->lasttimestamp = (double)r->last / 1000.0;
    m->lastkeyframetimestamp = (double)x->last_key / 1000.0;
    if (end > 0) {
        // what was written, in kbit/s, rather than what the encoder announced
        m->videodatarate = (double)x->video_bytes * 8.0 / (double)end;
        m->audiodatarate = (double)x->audio_bytes * 8.0 / (double)end;
    }
}

static rtmp_int_t rtmp_record_flv_open(rtmp_recorder_t *r)
{
    auto *x = static_cast<rtmp_record_flv_t *>(rtmp_calloc(sizeof(rtmp_record_flv_t)));
    r->writer_ctx = x;
    if (r->appending) {
        rtmp_record_flv_find_meta(r, x); // header and metadata are the earlier recording's
        return RTMP_OK;
    }
    const rtmp_record_conf_t *rc = r->conf;
    // by what the recorder keeps, not what the stream has shown so far: video may begin
    // after the first audio frames, and the layout cannot change once written; the header's
    // flags are made true on close
    bool audio = rc->what & RTMP_RECORD_AUDIO;
    bool video = rc->what & (RTMP_RECORD_VIDEO | RTMP_RECORD_KEYFRAMES);
    x->flags =
        (audio ? (unsigned)RTMP_FLV_META_AUDIO : 0u) | (video ? (unsigned)RTMP_FLV_META_VIDEO : 0u);
    uint32_t cap = video ? rc->index : 2;
    auto *times = static_cast<uint32_t *>(rtmp_alloc(cap * sizeof(uint32_t)));
    auto *pos = static_cast<uint64_t *>(rtmp_alloc(cap * sizeof(uint64_t)));
    rtmp_flv_index_init(&x->ix, times, pos, cap);
    x->meta_len = rtmp_flv_meta_size(x->flags, cap);
    x->meta = static_cast<u_char *>(rtmp_alloc(x->meta_len));

    u_char h[RTMP_FLV_HEADER];
    rtmp_flv_header(h, audio, video);
    if (rtmp_record_put(r, h, sizeof(h)) != RTMP_OK) {
        return RTMP_ERROR;
    }
    x->meta_at = r->offset;
    rtmp_flv_meta_t m;
    rtmp_record_flv_fill(r, x, &m, false);
    if (rtmp_flv_meta_write(x->meta, x->meta_len, x->flags, cap, &m, &x->ix) != RTMP_OK) {
        return RTMP_ERROR;
    }
    return rtmp_record_put(r, x->meta, x->meta_len);
}

static rtmp_int_t rtmp_record_flv_frame(rtmp_recorder_t *r, const rtmp_record_frame_t *f)
{
    auto *x = static_cast<rtmp_record_flv_t *>(r->writer_ctx);
    if (f->payload.size() > RTMP_FLV_MAX_DATA) {
        return RTMP_OK; // cannot be a tag; RTMP messages that large are refused anyway
    }
    uint32_t size = (uint32_t)f->payload.size();
    uint64_t at = r->offset;
    u_char h[RTMP_FLV_TAG_HEADER], t[RTMP_FLV_TAG_TRAILER];
    rtmp_flv_tag_header(h, f->type == RTMP_MSG_AUDIO ? RTMP_FLV_AUDIO : RTMP_FLV_VIDEO, size,
                        f->ts);
    rtmp_flv_tag_trailer(t, size);
    if (rtmp_record_put(r, h, sizeof(h)) != RTMP_OK ||
        rtmp_record_put(r, f->payload.data(), size) != RTMP_OK ||
        rtmp_record_put(r, t, sizeof(t)) != RTMP_OK) {
        return RTMP_ERROR;
    }
    if (f->type == RTMP_MSG_VIDEO) {
        x->video_bytes += size;
        if (f->key && !f->header) {
            x->last_key = f->ts;
            if (x->meta_at) {
                rtmp_flv_index_add(&x->ix, f->ts, at);
            }
        }
    } else {
        x->audio_bytes += size;
    }
    return RTMP_OK;
}

// While recording, the index on disk follows the key frames already written (duration and
// filesize stay 0, so that a reader of a file cut short looks at its end for them): a file
// that survives a crash seeks too.
static rtmp_int_t rtmp_record_flv_sync(rtmp_recorder_t *r)
{
    auto *x = static_cast<rtmp_record_flv_t *>(r->writer_ctx);
    if (x == nullptr || x->meta_at == 0 || x->ix.seen == x->synced || x->ix.n < 2) {
        return RTMP_OK;
    }
    x->synced = x->ix.seen;
    rtmp_flv_meta_t m;
    rtmp_record_flv_fill(r, x, &m, false);
    if (rtmp_flv_meta_write(x->meta, x->meta_len, x->flags, x->ix.capacity, &m, &x->ix) !=
        RTMP_OK) {
        return RTMP_OK;
    }
    return rtmp_record_rewrite(r, x->meta_at, x->meta, x->meta_len);
}

static rtmp_int_t rtmp_record_flv_close(rtmp_recorder_t *r)
{
    auto *x = static_cast<rtmp_record_flv_t *>(r->writer_ctx);
    if (x == nullptr) {
        return RTMP_OK;
    }
    rtmp_int_t rc = RTMP_OK;
    if (r->appending && r->fd != -1) {
        u_char v[8];
        uint32_t end = r->last + r->delta;
        struct {
            uint64_t at;
            double value;
        } props[] = {{x->at_duration, (double)end / 1000.0},
                     {x->at_filesize, (double)r->offset},
                     {x->at_lasttimestamp, (double)r->last / 1000.0}};
        for (auto &p : props) {
            if (p.at && rc == RTMP_OK) {
                rtmp_record_flv_number(v, p.value);
                rc = rtmp_record_rewrite(r, p.at, v, sizeof(v));
            }
        }
        u_char flags =
            (u_char)(x->old_flags | (r->audio_written ? 0x04 : 0) | (r->video_written ? 0x01 : 0));
        if (rc == RTMP_OK && flags != x->old_flags) {
            rc = rtmp_record_rewrite(r, 4, &flags, 1);
        }
    }
    if (x->meta_at && r->fd != -1) {
        rtmp_flv_meta_t m;
        rtmp_record_flv_fill(r, x, &m, true);
        rc = rtmp_flv_meta_write(x->meta, x->meta_len, x->flags, x->ix.capacity, &m, &x->ix);
        if (rc == RTMP_OK) {
            rc = rtmp_record_rewrite(r, x->meta_at, x->meta, x->meta_len);
        }
        // the header's flags say what the file holds, not what was expected
        u_char flags = (u_char)((r->audio_written ? 0x04 : 0) | (r->video_written ? 0x01 : 0));
        if (rc == RTMP_OK) {
            rc = rtmp_record_rewrite(r, 4, &flags, 1);
        }
    }
    rtmp_free(x->ix.times);
    rtmp_free(x->ix.positions);
    rtmp_free(x->meta);
    rtmp_free(x);
    r->writer_ctx = nullptr;
    return rc;
}

const rtmp_record_writer_t rtmp_record_flv_writer = {
    .name = "flv",
    .open = rtmp_record_flv_open,
    .frame = rtmp_record_flv_frame,
    .close = rtmp_record_flv_close,
    .sync = rtmp_record_flv_sync,
    .append = true,
};
