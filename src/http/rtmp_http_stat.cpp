// /stat (JSON) and /metrics (Prometheus text): every worker's slot read and merged, so any
// worker answers for the whole server.
#include "core/rtmp_text.h"
#include "core/rtmp_time.h"
#include "http/rtmp_http.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_stat.h"

#include <unistd.h>

// The slots in use, copied out of shared memory; free with rtmp_free(slots).
static size_t rtmp_http_stat_read(rtmp_stat_slot_t **slots)
{
    rtmp_stat_refresh(); // ours is current; the others are at most a second old
    size_t cap = 8, n = 0;
    auto *a = static_cast<rtmp_stat_slot_t *>(rtmp_alloc(cap * sizeof(rtmp_stat_slot_t)));
    for (size_t i = 0; i < RTMP_STAT_SLOTS; i++) {
        if (n == cap) {
            cap *= 2;
            a = static_cast<rtmp_stat_slot_t *>(rtmp_realloc(a, cap * sizeof(rtmp_stat_slot_t)));
        }
        if (rtmp_stat_read_slot(i, &a[n])) {
            a[n].seq.store((uint32_t)i, std::memory_order_relaxed); // the copy keeps its slot here
            n++;
        }
    }
    *slots = a;
    return n;
}

static int rtmp_http_stat_slot(const rtmp_stat_slot_t *sl)
{
    return (int)sl->seq.load(std::memory_order_relaxed);
}

// The first (slot, stream) with this app (and name, when given) comes before (si, ti).
static bool rtmp_http_stat_seen(const rtmp_stat_slot_t *slots, size_t si, size_t ti,
                                const rtmp_stat_stream_t *ss, bool by_name)
{
    for (size_t i = 0; i <= si; i++) {
        size_t end = i == si ? ti : slots[i].nstreams;
        for (size_t k = 0; k < end; k++) {
            const rtmp_stat_stream_t *o = &slots[i].streams[k];
            if (strcmp(o->app, ss->app) == 0 && (!by_name || strcmp(o->name, ss->name) == 0)) {
                return true;
            }
        }
    }
    return false;
}

static void rtmp_http_stat_str(rtmp_http_body_t *b, const char *key, const char *v, bool comma)
{
    rtmp_http_body_printf(b, "%s\"%s\":\"", comma ? "," : "", key);
    rtmp_http_body_json(b, v);
    rtmp_http_body_append(b, "\"");
}

static void rtmp_http_stat_publisher(rtmp_http_body_t *b, const rtmp_stat_stream_t *ss, int slot)
{
    rtmp_http_body_append(b, "{");
    rtmp_http_stat_str(b, "address", ss->addr, false);
    rtmp_http_body_printf(b, ",\"worker\":%d,\"duration\":%.1f,\"video\":", slot,
                          (double)ss->publish_ms / 1000.0);
    if (ss->vcodec[0]) {
        rtmp_http_body_append(b, "{");
        rtmp_http_stat_str(b, "codec", ss->vcodec, false);
        rtmp_http_stat_str(b, "profile", ss->vprofile, true);
        rtmp_http_stat_str(b, "level", ss->vlevel, true);
        rtmp_http_body_printf(b, ",\"width\":%u,\"height\":%u,\"frame_rate\":%.2f}", ss->width,
                              ss->height, ss->frame_rate);
    } else {
        rtmp_http_body_append(b, "null");
    }
    rtmp_http_body_append(b, ",\"audio\":");
    if (ss->acodec[0]) {
        rtmp_http_body_append(b, "{");
        rtmp_http_stat_str(b, "codec", ss->acodec, false);
        rtmp_http_body_printf(b, ",\"sample_rate\":%u,\"channels\":%u}", ss->sample_rate,
                              ss->channels);
    } else {
        rtmp_http_body_append(b, "null");
    }
    rtmp_http_body_append(b, "}");
}

// One stream, merged over every worker that has it.
static void rtmp_http_stat_stream(rtmp_http_body_t *b, const rtmp_stat_slot_t *slots, size_t n,
                                  const rtmp_stat_stream_t *first)
{
    const rtmp_stat_stream_t *origin = nullptr;
    int origin_slot = -1;
    uint64_t bytes_out = 0, bitrate_out = 0;
    uint32_t players = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < slots[i].nstreams; k++) {
            const rtmp_stat_stream_t *ss = &slots[i].streams[k];
            if (strcmp(ss->app, first->app) != 0 || strcmp(ss->name, first->name) != 0) {
                continue;
            }
            if (ss->publishing && !ss->relay && origin == nullptr) {
                origin = ss;
                origin_slot = rtmp_http_stat_slot(&slots[i]);
            }
            bytes_out += ss->bytes_out;
            bitrate_out += ss->bitrate_out;
            players += ss->players;
        }
    }
    rtmp_http_body_append(b, "{");
    rtmp_http_stat_str(b, "name", first->name, false);
    rtmp_http_body_append(b, ",\"publisher\":");
    if (origin) {
        rtmp_http_stat_publisher(b, origin, origin_slot);
    } else {
        rtmp_http_body_append(b, "null");
    }
    rtmp_http_body_printf(b,
                          ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"bitrate_in\":%llu,"
                          "\"bitrate_out\":%llu,\"nplayers\":%u,\"players\":[",
                          (unsigned long long)(origin ? origin->bytes_in : 0),
                          (unsigned long long)bytes_out,
                          (unsigned long long)(origin ? origin->bitrate_in : 0),
                          (unsigned long long)bitrate_out, players);
    bool comma = false;
    for (size_t i = 0; i < n; i++) {
        for (size_t p = 0; p < slots[i].nplayers; p++) {
            const rtmp_stat_player_t *ps = &slots[i].players[p];
            const rtmp_stat_stream_t *ss = &slots[i].streams[ps->stream];
            if (ps->push || strcmp(ss->app, first->app) != 0 || strcmp(ss->name, first->name)) {
                continue;
            }
            rtmp_http_body_append(b, comma ? ",{" : "{");
            rtmp_http_stat_str(b, "address", ps->addr, false);
            rtmp_http_body_printf(b,
                                  ",\"worker\":%d,\"duration\":%.1f,\"bytes\":%llu,"
                                  "\"dropped\":%llu}",
                                  rtmp_http_stat_slot(&slots[i]), (double)ps->duration_ms / 1000.0,
                                  (unsigned long long)ps->bytes_out,
                                  (unsigned long long)ps->dropped);
            comma = true;
        }
    }
    rtmp_http_body_append(b, "],\"relays\":[");
    comma = false;
    for (size_t i = 0; i < n; i++) {
        int slot = rtmp_http_stat_slot(&slots[i]);
        for (size_t k = 0; k < slots[i].nstreams; k++) {
            const rtmp_stat_stream_t *ss = &slots[i].streams[k];
            if (ss->publishing && ss->relay && strcmp(ss->app, first->app) == 0 &&
                strcmp(ss->name, first->name) == 0) {
                rtmp_http_body_printf(b,
                                      "%s{\"type\":\"pull\",\"from_worker\":%d,\"to_worker\":%d,"
                                      "\"duration\":%.1f,\"bytes\":%llu}",
                                      comma ? "," : "", ss->relay_from, slot,
                                      (double)ss->publish_ms / 1000.0,
                                      (unsigned long long)ss->bytes_in);
                comma = true;
            }
        }
        for (size_t p = 0; p < slots[i].npushes; p++) {
            const rtmp_stat_push_t *ps = &slots[i].pushes[p];
            const rtmp_stat_stream_t *ss = &slots[i].streams[ps->stream];
            if (strcmp(ss->app, first->app) != 0 || strcmp(ss->name, first->name)) {
                continue;
            }
            rtmp_http_body_append(b, comma ? ",{\"type\":\"push\"" : "{\"type\":\"push\"");
            rtmp_http_stat_str(b, "target", ps->target, true);
            rtmp_http_stat_str(b, "state", ps->state, true);
            rtmp_http_body_printf(b,
                                  ",\"worker\":%d,\"duration\":%.1f,\"bytes\":%llu,"
                                  "\"reconnects\":%u",
                                  slot, (double)ps->duration_ms / 1000.0,
                                  (unsigned long long)ps->bytes, ps->reconnects);
            rtmp_http_stat_str(b, "error", ps->error, true);
            rtmp_http_body_append(b, "}");
            comma = true;
        }
    }
    rtmp_http_body_append(b, "]}");
}

void rtmp_http_stat_json(rtmp_http_body_t *b)
{
    rtmp_stat_slot_t *slots;
    size_t n = rtmp_http_stat_read(&slots);
    int64_t now = (int64_t)rtmp_cached_time_sec;
    int64_t started = rtmp_stat_started();
    size_t serving = 0;
    for (size_t i = 0; i < n; i++) {
        serving += !slots[i].exiting;
    }
    rtmp_http_body_printf(b,
                          "{\"server\":{\"name\":\"" RTMP_NAME "\",\"version\":\"" RTMP_VERSION
                          "\",\"pid\":%d,\"uptime\":%lld,\"workers\":%zu,\"answered_by\":%d},"
                          "\"workers\":[",
                          (int)getppid(), (long long)(started ? now - started : 0), serving,
                          rtmp_worker_slot);
    for (size_t i = 0; i < n; i++) {
        const rtmp_stat_slot_t *sl = &slots[i];
        uint32_t players = 0, streams = 0;
        for (size_t k = 0; k < sl->nstreams; k++) {
            players += sl->streams[k].players;
            streams += sl->streams[k].publishing && !sl->streams[k].relay;
        }
        rtmp_http_body_printf(
            b,
            "%s{\"slot\":%d,\"pid\":%d,\"uptime\":%lld,\"exiting\":%s,\"connections\":"
            "{\"rtmp\":%u,\"http\":%u},\"streams\":%u,\"players\":%u,\"bytes_in\":%llu,"
            "\"bytes_out\":%llu,\"truncated\":%s}",
            i ? "," : "", rtmp_http_stat_slot(sl), sl->pid, (long long)(now - sl->started),
            sl->exiting ? "true" : "false", sl->conns_rtmp, sl->conns_http, streams, players,
            (unsigned long long)sl->bytes_in, (unsigned long long)sl->bytes_out,
            sl->truncated ? "true" : "false");
    }
    rtmp_http_body_append(b, "],\"applications\":[");
    bool app_comma = false;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < slots[i].nstreams; k++) {
            const rtmp_stat_stream_t *app = &slots[i].streams[k];
            if (rtmp_http_stat_seen(slots, i, k, app, false)) {
                continue;
            }
            rtmp_http_body_append(b, app_comma ? ",{" : "{");
            rtmp_http_stat_str(b, "name", app->app, false);
            rtmp_http_body_append(b, ",\"streams\":[");
            bool comma = false;
            for (size_t j = i; j < n; j++) {
                for (size_t t = j == i ? k : 0; t < slots[j].nstreams; t++) {
                    const rtmp_stat_stream_t *ss = &slots[j].streams[t];
                    if (strcmp(ss->app, app->app) != 0 ||
                        rtmp_http_stat_seen(slots, j, t, ss, true)) {
                        continue;
                    }
                    if (comma) {
                        rtmp_http_body_append(b, ",");
                    }
                    rtmp_http_stat_stream(b, slots, n, ss);
                    comma = true;
                }
            }
            rtmp_http_body_append(b, "]}");
            app_comma = true;
        }
    }
    rtmp_http_body_append(b, "]}\n");
    rtmp_free(slots);
}

// ---- Prometheus text exposition format 0.0.4 ---------------------------------------------

static void rtmp_http_stat_family(rtmp_http_body_t *b, const char *name, const char *type,
                                  const char *help)
{
    rtmp_http_body_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

// A label value: backslash, double quote and newline escaped, and UTF-8 (the text format
// requires it) with U+FFFD for any byte that is not.
static void rtmp_http_stat_label(rtmp_http_body_t *b, const char *v)
{
    for (std::string_view rest(v); !rest.empty();) {
        char ch = rest[0];
        size_t n = rtmp_utf8_len(rest);
        if (ch == '\\' || ch == '"') {
            char esc[2] = {'\\', ch};
            rtmp_http_body_append(b, std::string_view(esc, 2));
        } else if (ch == '\n') {
            rtmp_http_body_append(b, "\\n");
        } else if (n == 0) {
            n = 1;
            rtmp_http_body_append(b, RTMP_UTF8_REPLACEMENT);
        } else {
            rtmp_http_body_append(b, rest.substr(0, n));
        }
        rest.remove_prefix(n ? n : 1);
    }
}

static void rtmp_http_stat_per_worker(rtmp_http_body_t *b, const rtmp_stat_slot_t *slots, size_t n,
                                      const char *name, const char *type, const char *help,
                                      uint64_t (*value)(const rtmp_stat_slot_t *))
{
    rtmp_http_stat_family(b, name, type, help);
    for (size_t i = 0; i < n; i++) {
        rtmp_http_body_printf(b, "%s{worker=\"%d\"} %llu\n", name, rtmp_http_stat_slot(&slots[i]),
                              (unsigned long long)value(&slots[i]));
    }
}

void rtmp_http_stat_metrics(rtmp_http_body_t *b)
{
    rtmp_stat_slot_t *slots;
    size_t n = rtmp_http_stat_read(&slots);
    int64_t started = rtmp_stat_started();

    rtmp_http_stat_family(b, "rtmp_server_info", "gauge", "Version of the server.");
    rtmp_http_body_append(b, "rtmp_server_info{version=\"" RTMP_VERSION "\"} 1\n");
    rtmp_http_stat_family(b, "rtmp_server_uptime_seconds", "gauge",
                          "Seconds since the master process started.");
    rtmp_http_body_printf(b, "rtmp_server_uptime_seconds %lld\n",
                          (long long)(started ? (int64_t)rtmp_cached_time_sec - started : 0));
    rtmp_http_stat_family(b, "rtmp_workers", "gauge", "Worker processes serving clients.");
    size_t serving = 0;
    for (size_t i = 0; i < n; i++) {
        serving += !slots[i].exiting;
    }
    rtmp_http_body_printf(b, "rtmp_workers %zu\n", serving);

    rtmp_http_stat_family(b, "rtmp_connections", "gauge", "Client connections now.");
    for (size_t i = 0; i < n; i++) {
        int w = rtmp_http_stat_slot(&slots[i]);
        rtmp_http_body_printf(b,
                              "rtmp_connections{worker=\"%d\",protocol=\"rtmp\"} %u\n"
                              "rtmp_connections{worker=\"%d\",protocol=\"http\"} %u\n",
                              w, slots[i].conns_rtmp, w, slots[i].conns_http);
    }
    rtmp_http_stat_family(b, "rtmp_connections_accepted_total", "counter",
                          "Client connections accepted.");
    for (size_t i = 0; i < n; i++) {
        int w = rtmp_http_stat_slot(&slots[i]);
        rtmp_http_body_printf(
            b,
            "rtmp_connections_accepted_total{worker=\"%d\",protocol=\"rtmp\"} %llu\n"
            "rtmp_connections_accepted_total{worker=\"%d\",protocol=\"http\"} %llu\n",
            w, (unsigned long long)slots[i].counters[(size_t)rtmp_stat_id::accepted_rtmp], w,
            (unsigned long long)slots[i].counters[(size_t)rtmp_stat_id::accepted_http]);
    }
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_streams", "gauge",
                              "Streams published to this worker (pulls excluded).",
                              [](const rtmp_stat_slot_t *sl) {
                                  uint64_t v = 0;
                                  for (size_t k = 0; k < sl->nstreams; k++) {
                                      v += sl->streams[k].publishing && !sl->streams[k].relay;
                                  }
                                  return v;
                              });
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_players", "gauge",
                              "Players of this worker (pushes to other servers excluded).",
                              [](const rtmp_stat_slot_t *sl) {
                                  uint64_t v = 0;
                                  for (size_t k = 0; k < sl->nstreams; k++) {
                                      v += sl->streams[k].players;
                                  }
                                  return v;
                              });
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_bytes_received_total", "counter",
                              "Bytes received on every connection (RTMP, HTTP, between workers).",
                              [](const rtmp_stat_slot_t *sl) { return sl->bytes_in; });
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_bytes_sent_total", "counter",
                              "Bytes sent on every connection (RTMP, HTTP, between workers).",
                              [](const rtmp_stat_slot_t *sl) { return sl->bytes_out; });
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_dropped_frames_total", "counter",
                              "Frames slow players and pushes skipped to catch up.",
                              [](const rtmp_stat_slot_t *sl) {
                                  return sl->counters[(size_t)rtmp_stat_id::dropped_frames];
                              });
    rtmp_http_stat_per_worker(b, slots, n, "rtmp_handshake_failures_total", "counter",
                              "RTMP connections that ended before the handshake completed.",
                              [](const rtmp_stat_slot_t *sl) {
                                  return sl->counters[(size_t)rtmp_stat_id::handshake_failures];
                              });
    rtmp_http_stat_family(b, "rtmp_http_responses_total", "counter",
                          "HTTP responses by status class.");
    static constexpr const char *classes[] = {"2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < 4; c++) {
            rtmp_http_body_printf(
                b, "rtmp_http_responses_total{worker=\"%d\",code=\"%s\"} %llu\n",
                rtmp_http_stat_slot(&slots[i]), classes[c],
                (unsigned long long)slots[i].counters[(size_t)rtmp_stat_id::http_2xx + c]);
        }
    }

    // callbacks: one histogram over every worker
    rtmp_http_stat_family(b, "rtmp_notify_duration_seconds", "histogram",
                          "Time HTTP notify callbacks took to answer (or fail).");
    uint64_t buckets[RTMP_STAT_NOTIFY_BUCKETS] = {}, count = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < RTMP_STAT_NOTIFY_BUCKETS; k++) {
            buckets[k] += slots[i].notify_buckets[k];
        }
        count += slots[i].notify_count;
        sum += slots[i].notify_sum;
    }
    uint64_t cumulative = 0;
    for (size_t k = 0; k < RTMP_STAT_NOTIFY_BUCKETS; k++) {
        cumulative += buckets[k];
        if (k < rtmp_nelems(rtmp_stat_notify_bounds)) {
            rtmp_http_body_printf(b, "rtmp_notify_duration_seconds_bucket{le=\"%g\"} %llu\n",
                                  rtmp_stat_notify_bounds[k] / 1000.0,
                                  (unsigned long long)cumulative);
        } else {
            rtmp_http_body_printf(b, "rtmp_notify_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                                  (unsigned long long)cumulative);
        }
    }
    rtmp_http_body_printf(b, "rtmp_notify_duration_seconds_sum %.6f\n", sum);
    rtmp_http_body_printf(b, "rtmp_notify_duration_seconds_count %llu\n",
                          (unsigned long long)count);

    // streams, merged over workers
    static constexpr const char *families[][3] = {
        {"rtmp_stream_in_bytes_per_second", "gauge",
         "Rate a stream is published with (over the last seconds)."},
        {"rtmp_stream_out_bytes_per_second", "gauge",
         "Rate sent to a stream's players (over the last seconds)."},
        {"rtmp_stream_players", "gauge", "Players of a stream over every worker."},
    };
    for (size_t f = 0; f < rtmp_nelems(families); f++) {
        rtmp_http_stat_family(b, families[f][0], families[f][1], families[f][2]);
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < slots[i].nstreams; k++) {
                const rtmp_stat_stream_t *ss = &slots[i].streams[k];
                if (rtmp_http_stat_seen(slots, i, k, ss, true)) {
                    continue;
                }
                uint64_t v = 0;
                for (size_t j = 0; j < n; j++) {
                    for (size_t t = 0; t < slots[j].nstreams; t++) {
                        const rtmp_stat_stream_t *o = &slots[j].streams[t];
                        if (strcmp(o->app, ss->app) || strcmp(o->name, ss->name)) {
                            continue;
                        }
                        v += f == 0   ? (o->publishing && !o->relay ? o->bitrate_in / 8 : 0)
                             : f == 1 ? o->bitrate_out / 8
                                      : o->players;
                    }
                }
                rtmp_http_body_printf(b, "%s{app=\"", families[f][0]);
                rtmp_http_stat_label(b, ss->app);
                rtmp_http_body_append(b, "\",name=\"");
                rtmp_http_stat_label(b, ss->name);
                rtmp_http_body_printf(b, "\"} %llu\n", (unsigned long long)v);
            }
        }
    }
    rtmp_free(slots);
}
