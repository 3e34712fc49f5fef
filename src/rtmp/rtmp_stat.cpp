// Statistics: counters where things happen, and once a second (and at every publish, play
// and close) a snapshot of this worker's streams and players in its shared-memory slot.
#include "rtmp/rtmp_stat.h"
#include "core/rtmp_shm.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_codec.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_registry.h"

#include <cstdio>
#include <sys/socket.h>
#include <unistd.h>

static constexpr rtmp_msec_t RTMP_STAT_INTERVAL = 1000;
static constexpr rtmp_msec_t RTMP_STAT_SOON = 100; // at most this often for changes
// Rates are measured over the last this many snapshots (about as many seconds).
static constexpr size_t RTMP_STAT_WINDOW = 6;

struct rtmp_stat_shm_t {
    int64_t started;
    rtmp_stat_slot_t slots[RTMP_STAT_SLOTS];
};

static rtmp_stat_shm_t *rtmp_stat_shm;

// This worker's counts, copied into its slot at each snapshot.
static uint64_t rtmp_stat_counters[RTMP_STAT_COUNTERS];
static uint64_t rtmp_stat_notify_buckets[RTMP_STAT_NOTIFY_BUCKETS];
static double rtmp_stat_notify_sum;
static uint64_t rtmp_stat_notify_n;

// What a publishing stream's media told us: codecs, and frames for the frame rate.
struct rtmp_stat_media_t {
    rtmp_stat_stream_t codec; // only the codec fields are used
    uint64_t video_frames;
    uint32_t video_time; // the last frame's timestamp
};

// Samples for the rates of one stream, matched from one snapshot to the next.
struct rtmp_stat_hist_t {
    rtmp_conf_app_t *app;
    char name[128];
    size_t n;
    struct {
        rtmp_msec_t t;
        uint64_t in, out, frames;
        uint32_t video_time;
    } s[RTMP_STAT_WINDOW];
};

static rtmp_stat_hist_t rtmp_stat_hist[2][RTMP_STAT_STREAMS];
static size_t rtmp_stat_nhist[2];
static unsigned rtmp_stat_cur;

static rtmp_publish_pt rtmp_stat_next_publish;
static rtmp_play_pt rtmp_stat_next_play;
static rtmp_close_stream_pt rtmp_stat_next_close_stream;
static rtmp_media_pt rtmp_stat_next_media;
static rtmp_event_t rtmp_stat_timer;
static rtmp_event_t rtmp_stat_soon; // a snapshot soon after a publish, play or close
static rtmp_msec_t rtmp_stat_refreshed;

static void rtmp_stat_soon_handler(rtmp_event_t *)
{
    rtmp_stat_refresh();
}

// After this batch of events, or, when the last snapshot is younger than
// RTMP_STAT_SOON, once it is that old: a snapshot walks every connection and player, so
// a burst of sessions coming and going must not take one per event batch.
static void rtmp_stat_changed()
{
    if (rtmp_stat_shm == nullptr || rtmp_worker_slot < 0 || rtmp_stat_soon.timer_set ||
        rtmp_stat_soon.posted) {
        return;
    }
    rtmp_msec_t age = rtmp_current_msec - rtmp_stat_refreshed;
    if (age >= RTMP_STAT_SOON) {
        rtmp_event_post(&rtmp_stat_soon);
    } else {
        rtmp_event_add_timer(&rtmp_stat_soon, RTMP_STAT_SOON - age);
    }
}

// ---- shared memory ---------------------------------------------------------------------------

rtmp_int_t rtmp_stat_init(rtmp_log_t *log)
{
    if (rtmp_stat_shm) {
        return RTMP_OK;
    }
    void *p = rtmp_shm_alloc(sizeof(rtmp_stat_shm_t), log);
    if (p == nullptr) {
        return RTMP_ERROR;
    }
    rtmp_stat_shm = static_cast<rtmp_stat_shm_t *>(p);
    rtmp_stat_shm->started = (int64_t)time(nullptr);
    return RTMP_OK;
}

void rtmp_stat_reset_slot(int slot)
{
    if (rtmp_stat_shm && slot >= 0 && (size_t)slot < RTMP_STAT_SLOTS) {
        rtmp_stat_slot_t *sl = &rtmp_stat_shm->slots[slot];
        // a worker that died while writing left the sequence odd: make it even again
        uint32_t odd = sl->seq.load(std::memory_order_acquire) | 1;
        sl->seq.store(odd, std::memory_order_release);
        sl->pid = 0;
        sl->seq.store(odd + 1, std::memory_order_release);
    }
}

int64_t rtmp_stat_started()
{
    return rtmp_stat_shm ? rtmp_stat_shm->started : 0;
}

bool rtmp_stat_read_slot(size_t i, rtmp_stat_slot_t *out)
{
    if (rtmp_stat_shm == nullptr || i >= RTMP_STAT_SLOTS) {
        return false;
    }
    rtmp_stat_slot_t *sl = &rtmp_stat_shm->slots[i];
    for (int tries = 0; tries < 100; tries++) {
        uint32_t before = sl->seq.load(std::memory_order_acquire);
        if (before & 1) {
            usleep(50); // the owner is writing it: microseconds
            continue;
        }
        if (sl->pid == 0) {
            return false;
        }
        // the header first: streams and players only as far as they are used
        size_t head = offsetof(rtmp_stat_slot_t, streams);
        memcpy(static_cast<void *>(out), static_cast<const void *>(sl), head);
        uint32_t ns = out->nstreams < RTMP_STAT_STREAMS ? out->nstreams : RTMP_STAT_STREAMS;
        uint32_t np = out->nplayers < RTMP_STAT_PLAYERS ? out->nplayers : RTMP_STAT_PLAYERS;
        uint32_t nq = out->npushes < RTMP_STAT_PUSHES ? out->npushes : RTMP_STAT_PUSHES;
        memcpy(out->streams, sl->streams, ns * sizeof(rtmp_stat_stream_t));
        memcpy(out->players, sl->players, np * sizeof(rtmp_stat_player_t));
        memcpy(out->pushes, sl->pushes, nq * sizeof(rtmp_stat_push_t));
        std::atomic_thread_fence(std::memory_order_acquire);
        if (sl->seq.load(std::memory_order_relaxed) == before) {
            out->nstreams = ns;
            out->nplayers = np;
            out->npushes = nq;
            return out->pid != 0;
        }
    }
    return false;
}

// ---- counting ---------------------------------------------------------------------------------

void rtmp_stat_count(rtmp_stat_id id, uint64_t n)
{
    rtmp_stat_counters[(size_t)id] += n;
}

void rtmp_stat_notify_latency(double seconds)
{
    size_t b = 0;
    while (b < rtmp_nelems(rtmp_stat_notify_bounds) &&
           seconds * 1000.0 > rtmp_stat_notify_bounds[b]) {
        b++;
    }
    rtmp_stat_notify_buckets[b]++;
    rtmp_stat_notify_sum += seconds;
    rtmp_stat_notify_n++;
}

void rtmp_stat_http_status(int status)
{
    rtmp_stat_id id = status < 300   ? rtmp_stat_id::http_2xx
                      : status < 400 ? rtmp_stat_id::http_3xx
                      : status < 500 ? rtmp_stat_id::http_4xx
                                     : rtmp_stat_id::http_5xx;
    rtmp_stat_count(id);
}

// ---- codecs from the media chain ----------------------------------------------------------------

static const char *rtmp_stat_avc_profile(uint8_t p)
{
    switch (p) {
    case 66:
        return "Baseline";
    case 77:
        return "Main";
    case 88:
        return "Extended";
    case 100:
        return "High";
    case 110:
        return "High 10";
    case 122:
        return "High 4:2:2";
    case 244:
        return "High 4:4:4";
    default:
        return "";
    }
}

static void rtmp_stat_video_header(rtmp_stat_stream_t *cs, std::span<const u_char> payload)
{
    rtmp_codec_video_t v;
    if (rtmp_codec_parse_video(payload, &v) != RTMP_OK) {
        return;
    }
    snprintf(cs->vcodec, sizeof(cs->vcodec), "%s", rtmp_codec_name(v.codec));
    std::span<const u_char> rec = payload.subspan(v.header_len, v.data_len);
    if (v.codec == rtmp_codec_id::avc) {
        rtmp_codec_avc_config_t c;
        if (rtmp_codec_parse_avcc(rec, &c) == RTMP_OK) {
            snprintf(cs->vprofile, sizeof(cs->vprofile), "%s", rtmp_stat_avc_profile(c.profile));
            snprintf(cs->vlevel, sizeof(cs->vlevel), "%u.%u", c.level / 10u, c.level % 10u);
            cs->width = c.width;
            cs->height = c.height;
        }
    } else if (v.codec == rtmp_codec_id::hevc) {
        rtmp_codec_hevc_config_t c;
        if (rtmp_codec_parse_hvcc(rec, &c) == RTMP_OK) {
            snprintf(cs->vprofile, sizeof(cs->vprofile), "%s",
                     c.profile == 1   ? "Main"
                     : c.profile == 2 ? "Main 10"
                                      : "");
            snprintf(cs->vlevel, sizeof(cs->vlevel), "%u.%u", c.level / 30u, c.level % 30u / 3u);
            cs->width = c.width;
            cs->height = c.height;
        }
    } else if (v.codec == rtmp_codec_id::av1) {
        rtmp_codec_av1_config_t c;
        if (rtmp_codec_parse_av1c(rec, &c) == RTMP_OK) {
            cs->width = c.width;
            cs->height = c.height;
        }
    }
}

static void rtmp_stat_audio(rtmp_stat_stream_t *cs, std::span<const u_char> payload)
{
    rtmp_codec_audio_t a;
    if (rtmp_codec_parse_audio(payload, &a) != RTMP_OK) {
        return;
    }
    snprintf(cs->acodec, sizeof(cs->acodec), "%s", rtmp_codec_name(a.codec));
    if (!a.enhanced) {
        static constexpr uint32_t rates[] = {5512, 11025, 22050, 44100};
        cs->sample_rate = rates[a.sound_rate & 3];
        cs->channels = a.sound_type ? 2 : 1;
    }
    rtmp_codec_aac_config_t c;
    if (a.codec == rtmp_codec_id::aac && a.is_sequence_header &&
        rtmp_codec_parse_aac_config(payload.subspan(a.header_len, a.data_len), &c) == RTMP_OK) {
        cs->sample_rate = c.sample_rate;
        cs->channels = c.channel_config;
    }
}

static rtmp_int_t rtmp_stat_media(rtmp_session_t *s, rtmp_stream_t *st, const rtmp_message_t *m)
{
    auto *ms = static_cast<rtmp_stat_media_t *>(st->ctx[rtmp_stat_module.index]);
    if (ms == nullptr) {
        ms = static_cast<rtmp_stat_media_t *>(rtmp_calloc(sizeof(rtmp_stat_media_t)));
        st->ctx[rtmp_stat_module.index] = ms;
    }
    rtmp_codec_info_t info = rtmp_codec_classify(m);
    if (info.kind == rtmp_codec_kind::video) {
        if (info.is_sequence_header) {
            rtmp_stat_video_header(&ms->codec, m->payload);
        } else if (!info.is_command && !info.is_config && !info.is_end_of_sequence) {
            ms->video_frames++;
            ms->video_time = m->h.timestamp;
        }
    } else if (info.kind == rtmp_codec_kind::audio &&
               (info.is_sequence_header || ms->codec.acodec[0] == '\0')) {
        rtmp_stat_audio(&ms->codec, m->payload);
    }
    return rtmp_stat_next_media(s, st, m);
}

// ---- snapshots ----------------------------------------------------------------------------------

struct rtmp_stat_build_t {
    rtmp_stat_slot_t *sl;
    int current; // index of the stream whose players follow; -1 when it did not fit
    // per stream, what the slot does not keep, for the rates
    rtmp_conf_app_t *apps[RTMP_STAT_STREAMS];
    uint64_t frames[RTMP_STAT_STREAMS];
    uint32_t video_time[RTMP_STAT_STREAMS];
};

static void rtmp_stat_put_push(const rtmp_push_stat_t *t, void *data)
{
    auto *b = static_cast<rtmp_stat_build_t *>(data);
    rtmp_stat_slot_t *sl = b->sl;
    if (sl->npushes == RTMP_STAT_PUSHES) {
        sl->truncated = true;
        return;
    }
    rtmp_stat_push_t *ps = &sl->pushes[sl->npushes++];
    memset(ps, 0, sizeof(*ps));
    ps->stream = (uint16_t)b->current;
    snprintf(ps->target, sizeof(ps->target), "%s", t->target);
    snprintf(ps->state, sizeof(ps->state), "%s", t->state);
    snprintf(ps->error, sizeof(ps->error), "%s", t->error);
    ps->duration_ms = t->since ? rtmp_current_msec - t->since : 0;
    ps->bytes = t->bytes;
    ps->reconnects = t->reconnects;
}

static void rtmp_stat_put_stream(const rtmp_live_stat_t *ls, void *data)
{
    auto *b = static_cast<rtmp_stat_build_t *>(data);
    rtmp_stat_slot_t *sl = b->sl;
    if (sl->nstreams == RTMP_STAT_STREAMS) {
        sl->truncated = true;
        b->current = -1;
        return;
    }
    b->current = (int)sl->nstreams;
    rtmp_stat_stream_t *ss = &sl->streams[sl->nstreams++];
    memset(ss, 0, sizeof(*ss));
    snprintf(ss->app, sizeof(ss->app), "%s", ls->app->name.data);
    snprintf(ss->name, sizeof(ss->name), "%s", ls->name);
    b->apps[b->current] = ls->app;
    b->frames[b->current] = 0;
    b->video_time[b->current] = 0;
    if (ls->publisher) {
        ss->publishing = true;
        ss->relay = ls->relay;
        ss->relay_from = -1;
        snprintf(ss->addr, sizeof(ss->addr), "%s", ls->publisher->c->addr_text);
        ss->publish_ms = rtmp_current_msec - ls->published;
        ss->bytes_in = ls->bytes;
        auto *ms =
            static_cast<rtmp_stat_media_t *>(ls->publisher_stream->ctx[rtmp_stat_module.index]);
        if (ms) {
            b->frames[b->current] = ms->video_frames;
            b->video_time[b->current] = ms->video_time;
            memcpy(ss->vcodec, ms->codec.vcodec, sizeof(ss->vcodec));
            memcpy(ss->vprofile, ms->codec.vprofile, sizeof(ss->vprofile));
            memcpy(ss->vlevel, ms->codec.vlevel, sizeof(ss->vlevel));
            memcpy(ss->acodec, ms->codec.acodec, sizeof(ss->acodec));
            ss->width = ms->codec.width;
            ss->height = ms->codec.height;
            ss->sample_rate = ms->codec.sample_rate;
            ss->channels = ms->codec.channels;
        }
        if (!ls->relay) {
            rtmp_push_stat(ls->app, ls->name, rtmp_stat_put_push, b);
        } else {
            char key[RTMP_MAX_NAME * 2 + 32];
            int n = snprintf(key, sizeof(key), "%zu/%s/%s", ls->app->server->index,
                             ls->app->name.data, ls->name);
            if (n > 0 && (size_t)n < sizeof(key)) {
                ss->relay_from = (int16_t)rtmp_registry_owner(std::string_view(key, (size_t)n));
            }
        }
    }
}

static void rtmp_stat_put_player(const rtmp_live_stat_player_t *p, void *data)
{
    auto *b = static_cast<rtmp_stat_build_t *>(data);
    rtmp_stat_slot_t *sl = b->sl;
    if (b->current < 0) {
        return;
    }
    if (p->s->c->sockaddr.ss_family == AF_UNIX) {
        return; // another worker pulling: it shows the stream as its relay
    }
    rtmp_stat_stream_t *ss = &sl->streams[b->current];
    (p->push ? ss->pushes : ss->players)++;
    ss->bytes_out += p->s->c->sent;
    if (sl->nplayers == RTMP_STAT_PLAYERS) {
        sl->truncated = true;
        return;
    }
    rtmp_stat_player_t *ps = &sl->players[sl->nplayers++];
    memset(ps, 0, sizeof(*ps));
    ps->stream = (uint16_t)b->current;
    ps->push = p->push;
    snprintf(ps->addr, sizeof(ps->addr), "%s", p->s->c->addr_text);
    ps->duration_ms = rtmp_current_msec - p->started;
    ps->bytes_out = p->s->c->sent;
    ps->dropped = p->dropped;
}

// Rates over the window: each stream's samples follow it from snapshot to snapshot.
static void rtmp_stat_rates(rtmp_stat_slot_t *sl, const rtmp_stat_build_t *b)
{
    unsigned prev = rtmp_stat_cur, next = rtmp_stat_cur ^ 1;
    rtmp_stat_nhist[next] = 0;
    for (uint32_t i = 0; i < sl->nstreams; i++) {
        rtmp_stat_stream_t *ss = &sl->streams[i];
        rtmp_stat_hist_t *h = &rtmp_stat_hist[next][rtmp_stat_nhist[next]++];
        h->n = 0;
        for (size_t k = 0; k < rtmp_stat_nhist[prev]; k++) {
            rtmp_stat_hist_t *o = &rtmp_stat_hist[prev][k];
            if (o->app == b->apps[i] && strcmp(o->name, ss->name) == 0) {
                *h = *o;
                break;
            }
        }
        h->app = b->apps[i];
        snprintf(h->name, sizeof(h->name), "%s", ss->name);
        uint64_t frames = b->frames[i];
        if (h->n && h->s[h->n - 1].in > ss->bytes_in) {
            h->n = 0; // a new publish: counting starts over
        }
        if (h->n == RTMP_STAT_WINDOW) {
            memmove(&h->s[0], &h->s[1], (RTMP_STAT_WINDOW - 1) * sizeof(h->s[0]));
            h->n--;
        }
        h->s[h->n++] = {rtmp_current_msec, ss->bytes_in, ss->bytes_out, frames, b->video_time[i]};
        if (h->n >= 2) {
            auto &a = h->s[0];
            auto &z = h->s[h->n - 1];
            double dt = (double)(z.t - a.t) / 1000.0;
            if (dt > 0) {
                ss->bitrate_in = z.in > a.in ? (uint64_t)((double)(z.in - a.in) * 8 / dt) : 0;
                ss->bitrate_out = z.out > a.out ? (uint64_t)((double)(z.out - a.out) * 8 / dt) : 0;
            }
            // over media time, not arrival: a pull's first GOP arrives at once, and would
            // read as several times the real rate; from the first sample with a frame, as
            // a stream's timestamps need not start at 0
            size_t k = 0;
            while (k < h->n - 1 && h->s[k].frames == 0) {
                k++;
            }
            uint32_t media_ms = z.video_time - h->s[k].video_time;
            if (z.frames > h->s[k].frames && media_ms > 0 && media_ms < 3600 * 1000) {
                ss->frame_rate = (double)(z.frames - h->s[k].frames) * 1000.0 / media_ms;
            }
        }
    }
    rtmp_stat_cur = next;
}

void rtmp_stat_refresh()
{
    if (rtmp_stat_shm == nullptr || rtmp_worker_slot < 0 ||
        (size_t)rtmp_worker_slot >= RTMP_STAT_SLOTS) {
        return;
    }
    rtmp_stat_refreshed = rtmp_current_msec;
    rtmp_stat_slot_t *sl = &rtmp_stat_shm->slots[rtmp_worker_slot];
    sl->seq.fetch_add(1, std::memory_order_acq_rel); // odd: being written
    std::atomic_thread_fence(std::memory_order_release);
    sl->pid = rtmp_log_pid;
    sl->updated = (int64_t)rtmp_cached_time_sec;
    sl->exiting = rtmp_sig_quit || rtmp_sig_terminate;
    sl->truncated = false;
    sl->nstreams = sl->nplayers = sl->npushes = 0;
    sl->conns_rtmp = sl->conns_http = 0;
    rtmp_queue_t *q = rtmp_connection_active();
    for (rtmp_queue_t *l = q->next; l != q; l = l->next) {
        rtmp_connection_t *c = rtmp_queue_data(l, rtmp_connection_t, queue);
        if (c->listening) {
            (c->listening->server ? sl->conns_rtmp : sl->conns_http)++;
        }
    }
    rtmp_connection_totals(&sl->bytes_in, &sl->bytes_out);
    memcpy(sl->counters, rtmp_stat_counters, sizeof(sl->counters));
    memcpy(sl->notify_buckets, rtmp_stat_notify_buckets, sizeof(sl->notify_buckets));
    sl->notify_sum = rtmp_stat_notify_sum;
    sl->notify_count = rtmp_stat_notify_n;

    static rtmp_stat_build_t b;
    b.sl = sl;
    b.current = -1;
    rtmp_live_stat(rtmp_stat_put_stream, rtmp_stat_put_player, &b);
    rtmp_stat_rates(sl, &b);

    std::atomic_thread_fence(std::memory_order_release);
    sl->seq.fetch_add(1, std::memory_order_release); // even: consistent
}

static void rtmp_stat_tick(rtmp_event_t *ev)
{
    rtmp_stat_refresh();
    rtmp_event_add_timer(ev, RTMP_STAT_INTERVAL);
}

// ---- the chain -------------------------------------------------------------------------------

static rtmp_int_t rtmp_stat_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_stat_changed();
    return rtmp_stat_next_publish(s, st);
}

static rtmp_int_t rtmp_stat_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_stat_changed();
    return rtmp_stat_next_play(s, st);
}

static void rtmp_stat_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_stat_next_close_stream(s, st);
    rtmp_free(st->ctx[rtmp_stat_module.index]);
    st->ctx[rtmp_stat_module.index] = nullptr;
    rtmp_stat_changed();
}

static void rtmp_stat_postconfiguration()
{
    rtmp_stat_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_stat_publish;
    rtmp_stat_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_stat_play;
    rtmp_stat_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_stat_close_stream;
    rtmp_stat_next_media = rtmp_media_handler;
    rtmp_media_handler = rtmp_stat_media;
}

static rtmp_int_t rtmp_stat_init_worker(rtmp_cycle_t *cycle)
{
    if (rtmp_stat_shm == nullptr) {
        return RTMP_OK;
    }
    rtmp_stat_slot_t *sl = &rtmp_stat_shm->slots[rtmp_worker_slot];
    sl->seq.fetch_add(1, std::memory_order_acq_rel);
    sl->started = (int64_t)time(nullptr);
    sl->seq.fetch_add(1, std::memory_order_release);
    rtmp_stat_timer.handler = rtmp_stat_tick;
    rtmp_stat_timer.log = cycle->log;
    rtmp_stat_soon.handler = rtmp_stat_soon_handler;
    rtmp_stat_soon.log = cycle->log;
    rtmp_stat_refresh();
    rtmp_event_add_timer(&rtmp_stat_timer, RTMP_STAT_INTERVAL);
    return RTMP_OK;
}

rtmp_module_t rtmp_stat_module = {
    .name = "stat",
    .index = 0,
    .postconfiguration = rtmp_stat_postconfiguration,
    .init_worker = rtmp_stat_init_worker,
};
