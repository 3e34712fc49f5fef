// rtmp_bench: latency histograms, the error table, the send log, and the text/JSON report.
#include "rtmp_bench.h"

#include <ctime>
#include <unistd.h>

uint64_t rtmp_bench_now_us()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

// ---- histogram ----------------------------------------------------------------------------

static uint32_t rtmp_bench_hist_index(uint64_t v)
{
    if (v < RTMP_BENCH_HIST_SUB) {
        return (uint32_t)v;
    }
    uint32_t msb = 63 - (uint32_t)__builtin_clzll(v);
    uint32_t shift = msb - 6; // v >> shift lands in [64, 128)
    uint32_t idx = shift * (RTMP_BENCH_HIST_SUB / 2) + (uint32_t)(v >> shift);
    return idx < RTMP_BENCH_HIST_BUCKETS ? idx : RTMP_BENCH_HIST_BUCKETS - 1;
}

static uint64_t rtmp_bench_hist_value(uint32_t idx)
{
    if (idx < RTMP_BENCH_HIST_SUB) {
        return idx;
    }
    uint32_t shift = idx / (RTMP_BENCH_HIST_SUB / 2) - 1;
    uint64_t sub = idx - shift * (RTMP_BENCH_HIST_SUB / 2);
    // middle of the bucket
    return (sub << shift) + ((uint64_t)1 << shift) / 2;
}

void rtmp_bench_hist_add(rtmp_bench_hist_t *h, uint64_t us)
{
    h->bins[rtmp_bench_hist_index(us)]++;
    h->count++;
    h->sum += us;
    if (us > h->max) {
        h->max = us;
    }
}

uint64_t rtmp_bench_hist_pct(const rtmp_bench_hist_t *h, double pct)
{
    if (h->count == 0) {
        return 0;
    }
    uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
    if (want == 0) {
        want = 1;
    }
    uint64_t seen = 0;
    for (uint32_t i = 0; i < RTMP_BENCH_HIST_BUCKETS; i++) {
        seen += h->bins[i];
        if (seen >= want) {
            uint64_t v = rtmp_bench_hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

// ---- errors -------------------------------------------------------------------------------

constexpr uint32_t RTMP_BENCH_MAX_REASONS = 48;

struct rtmp_bench_reason_t {
    char text[120];
    uint64_t count;
};

static rtmp_bench_reason_t rtmp_bench_reasons[RTMP_BENCH_MAX_REASONS];
static uint32_t rtmp_bench_nreasons;
static uint64_t rtmp_bench_nerrors;

void rtmp_bench_error(const char *what, const char *reason)
{
    char text[120];
    snprintf(text, sizeof(text), "%s: %s", what, reason ? reason : "unknown");
    rtmp_bench_nerrors++;
    for (uint32_t i = 0; i < rtmp_bench_nreasons; i++) {
        if (strcmp(rtmp_bench_reasons[i].text, text) == 0) {
            rtmp_bench_reasons[i].count++;
            return;
        }
    }
    // a full table folds the rest into its last row rather than growing
    uint32_t i = rtmp_bench_nreasons < RTMP_BENCH_MAX_REASONS ? rtmp_bench_nreasons++
                                                              : RTMP_BENCH_MAX_REASONS - 1;
    if (i == RTMP_BENCH_MAX_REASONS - 1) {
        snprintf(rtmp_bench_reasons[i].text, sizeof(rtmp_bench_reasons[i].text), "other errors");
    } else {
        memcpy(rtmp_bench_reasons[i].text, text, sizeof(text));
    }
    rtmp_bench_reasons[i].count++;
}

uint64_t rtmp_bench_errors_total()
{
    return rtmp_bench_nerrors;
}

static void rtmp_bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

void rtmp_bench_errors_print(FILE *f, bool json)
{
    for (uint32_t i = 0; i < rtmp_bench_nreasons; i++) {
        if (json) {
            fprintf(f, "%s\n    {\"reason\": ", i ? "," : "");
            rtmp_bench_json_string(f, rtmp_bench_reasons[i].text);
            fprintf(f, ", \"count\": %llu}", (unsigned long long)rtmp_bench_reasons[i].count);
        } else {
            fprintf(f, "  %8llu  %s\n", (unsigned long long)rtmp_bench_reasons[i].count,
                    rtmp_bench_reasons[i].text);
        }
    }
}

// ---- send log -------------------------------------------------------------------------------

const rtmp_bench_sent_t *rtmp_bench_sent_find(const rtmp_bench_stream_t *st, uint32_t ts,
                                              uint8_t type)
{
    // The ring holds records seq-1 .. seq-n in send order, timestamps non-decreasing, so a
    // binary search over the logical order finds the first record at ts.
    uint64_t n = st->seq < RTMP_BENCH_RING ? st->seq : RTMP_BENCH_RING;
    if (n == 0) {
        return nullptr;
    }
    uint64_t base = st->seq - n + 1; // seq of the oldest record kept
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        const rtmp_bench_sent_t *r = &st->ring[(base + mid) % RTMP_BENCH_RING];
        if (r->ts < ts) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // audio and video may share a timestamp: look at the few records there
    for (uint64_t i = lo; i < n; i++) {
        const rtmp_bench_sent_t *r = &st->ring[(base + i) % RTMP_BENCH_RING];
        if (r->ts != ts) {
            break;
        }
        if (r->type == type) {
            return r;
        }
    }
    return nullptr;
}

// ---- report -----------------------------------------------------------------------------------

double rtmp_bench_completeness(const rtmp_bench_session_t *s)
{
    if (s->key_seq == 0 || s->stream == nullptr || s->stream->seq < s->key_seq) {
        return 0.0;
    }
    uint64_t expected = s->stream->seq - s->key_seq + 1;
    double c = (double)s->media_msgs / (double)expected;
    return c > 1.0 ? 1.0 : c;
}

uint64_t rtmp_bench_missing(const rtmp_bench_session_t *s)
{
    if (s->key_seq == 0 || s->last_seq < s->key_seq) {
        return 0;
    }
    uint64_t span = s->last_seq - s->key_seq + 1;
    return span > s->media_msgs ? span - s->media_msgs : 0;
}

static double rtmp_bench_ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void rtmp_bench_hist_line(const char *name, const rtmp_bench_hist_t *h)
{
    if (h == nullptr || h->count == 0) {
        printf("  %-28s no samples\n", name);
        return;
    }
    printf("  %-28s p50 %8.2f  p99 %8.2f  max %8.2f ms  (%llu samples)\n", name,
           rtmp_bench_ms(rtmp_bench_hist_pct(h, 50)), rtmp_bench_ms(rtmp_bench_hist_pct(h, 99)),
           rtmp_bench_ms(h->max), (unsigned long long)h->count);
}

void rtmp_bench_report_print(const rtmp_bench_report_t *r)
{
    printf("\nrtmp_bench %s  rtmp://%s:%d/%s  streams %u  players %u", r->mode, r->host, r->port,
           r->app, r->streams, r->players);
    if (strcmp(r->mode, "setup") == 0) {
        printf("  burst %u", r->burst);
    }
    printf("\n");
    printf("  %-28s %.2f s (ramp-up %.2f s)\n", "measured window", r->elapsed, r->ramp);
    printf("  %-28s %llu ok, %llu failed\n", "sessions", (unsigned long long)r->ok,
           (unsigned long long)r->failed);
    if (strcmp(r->mode, "setup") == 0) {
        printf("  %-28s %.1f\n", "sessions/s", r->setup_rate);
    }
    if (strcmp(r->mode, "idle") != 0) {
        printf("  %-28s %.2f Mbit/s per stream\n", "source rate", r->source_mbps);
    }
    if (strcmp(r->mode, "fanout") == 0) {
        printf("  %-28s %.1f Mbit/s (%.1f MB)\n", "delivered", r->mbps, (double)r->bytes / 1e6);
        printf("  %-28s %.1f MB (whole run)\n", "published", (double)r->published / 1e6);
        printf("  %-28s %u of %u %splayers >= 98%%  (min %.2f%%, avg %.2f%%)\n", "completeness",
               r->complete_ok, r->slow.players ? r->healthy.players : r->players,
               r->slow.players ? "healthy " : "", r->complete_min * 100, r->complete_avg * 100);
        rtmp_bench_hist_line(
            r->slow.players ? "latency, healthy players" : "publish-to-play latency", r->latency);
        if (r->slow.players) {
            const rtmp_bench_group_t *g = &r->slow;
            printf("  %-28s %u (%.0f%% at %.2fx the source rate, SO_RCVBUF %u)\n", "slow players",
                   g->players, r->slow_fraction * 100, r->slow_rate, r->slow_rcvbuf);
            printf("  %-28s %u connected with frames skipped, %u connected with none skipped, "
                   "%u disconnected",
                   "", g->skipped, g->intact, g->failed);
            if (g->failed) {
                printf(" (median %.1f s after play)", g->closed_p50_s);
            }
            printf("\n  %-28s min %.2f%%, avg %.2f%%; %llu frames missing before the last "
                   "received\n",
                   "slow completeness", g->complete_min * 100, g->complete_avg * 100,
                   (unsigned long long)g->missing);
            rtmp_bench_hist_line("latency, slow players", r->slow_latency);
        }
        if (r->lat_misses) {
            printf("  %-28s %llu messages not found in the send log\n", "",
                   (unsigned long long)r->lat_misses);
        }
    }
    if (strcmp(r->mode, "idle") != 0) {
        rtmp_bench_hist_line("play to first media", r->first_media);
        rtmp_bench_hist_line("play to first key frame", r->startup);
    }
    double wall = r->elapsed + r->ramp;
    printf("  %-28s user %.2f s, sys %.2f s (%.0f%% of one core over %.1f s)\n", "tool CPU",
           r->cpu_user, r->cpu_sys, wall > 0 ? (r->cpu_user + r->cpu_sys) * 100 / wall : 0.0, wall);
    if (r->probe_cpu >= 0) {
        double tck = (double)sysconf(_SC_CLK_TCK);
        char label[32];
        snprintf(label, sizeof(label), "CPU %d", r->probe_cpu);
        printf("  %-28s busy %.2f s, user %.2f s (%.1f%%) over the measured time\n", label,
               (double)r->probe_busy / tck,
               (double)r->probe_user / tck,
               r->probe_busy ? 100.0 * (double)r->probe_user / (double)r->probe_busy : 0.0);
    }
    if (rtmp_bench_errors_total()) {
        printf("  errors (%llu):\n", (unsigned long long)rtmp_bench_errors_total());
        rtmp_bench_errors_print(stdout, false);
    } else {
        printf("  %-28s none\n", "errors");
    }
    printf("  result: %s\n", r->pass ? "PASS" : "FAIL");
    fflush(stdout);
}

static void rtmp_bench_hist_json(FILE *f, const char *name, const rtmp_bench_hist_t *h, bool comma);

static void rtmp_bench_group_json(FILE *f, const char *name, const rtmp_bench_group_t *g)
{
    fprintf(f,
            "  \"%s\": {\"players\": %u, \"connected\": %u, \"disconnected\": %u, "
            "\"complete\": %u, \"skipped\": %u, \"intact\": %u, \"complete_min\": %.5f, "
            "\"complete_avg\": %.5f, \"missing\": %llu, \"bytes\": %llu, "
            "\"disconnected_after_p50_s\": %.3f},\n",
            name, g->players, g->ok, g->failed, g->complete, g->skipped, g->intact, g->complete_min,
            g->complete_avg, (unsigned long long)g->missing, (unsigned long long)g->bytes,
            g->closed_p50_s);
}

static void rtmp_bench_hist_json(FILE *f, const char *name, const rtmp_bench_hist_t *h, bool comma)
{
    if (h == nullptr || h->count == 0) {
        fprintf(f, "  \"%s\": null%s\n", name, comma ? "," : "");
        return;
    }
    fprintf(f,
            "  \"%s\": {\"samples\": %llu, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
            "\"avg_ms\": %.3f}%s\n",
            name, (unsigned long long)h->count, rtmp_bench_ms(rtmp_bench_hist_pct(h, 50)),
            rtmp_bench_ms(rtmp_bench_hist_pct(h, 99)), rtmp_bench_ms(h->max),
            rtmp_bench_ms(h->sum / h->count), comma ? "," : "");
}

rtmp_int_t rtmp_bench_report_json(const rtmp_bench_report_t *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == nullptr) {
        fprintf(stderr, "rtmp_bench: cannot write %s: %s\n", path, strerror(errno));
        return RTMP_ERROR;
    }
    fprintf(f, "{\n  \"mode\": ");
    rtmp_bench_json_string(f, r->mode);
    fprintf(f, ",\n  \"url\": \"rtmp://%s:%d/", r->host, r->port);
    fprintf(f, "%s\",\n  \"flv\": ", r->app);
    rtmp_bench_json_string(f, r->flv);
    fprintf(f,
            ",\n  \"streams\": %u,\n  \"players\": %u,\n  \"burst\": %u,\n"
            "  \"duration_s\": %.3f,\n  \"elapsed_s\": %.3f,\n  \"ramp_s\": %.3f,\n"
            "  \"sessions_ok\": %llu,\n  \"sessions_failed\": %llu,\n"
            "  \"bytes\": %llu,\n  \"published_bytes\": %llu,\n  \"delivered_mbps\": %.3f,\n"
            "  \"source_mbps\": %.3f,\n"
            "  \"setup_rate\": %.3f,\n"
            "  \"completeness\": {\"players_ok\": %u, \"min\": %.5f, \"avg\": %.5f, "
            "\"threshold\": 0.98},\n  \"latency_misses\": %llu,\n",
            r->streams, r->players, r->burst, r->duration, r->elapsed, r->ramp,
            (unsigned long long)r->ok, (unsigned long long)r->failed, (unsigned long long)r->bytes,
            (unsigned long long)r->published, r->mbps, r->source_mbps, r->setup_rate,
            r->complete_ok, r->complete_min, r->complete_avg, (unsigned long long)r->lat_misses);
    rtmp_bench_hist_json(f, "latency", r->latency, true);
    rtmp_bench_hist_json(f, "startup", r->startup, true);
    rtmp_bench_hist_json(f, "first_media", r->first_media, true);
    if (strcmp(r->mode, "fanout") == 0) {
        fprintf(f, "  \"slow_fraction\": %.4f,\n  \"slow_rate\": %.4f,\n  \"slow_rcvbuf\": %u,\n",
                r->slow_fraction, r->slow_rate, r->slow_rcvbuf);
        rtmp_bench_group_json(f, "healthy", &r->healthy);
        rtmp_bench_group_json(f, "slow", &r->slow);
        rtmp_bench_hist_json(f, "slow_latency", r->slow.players ? r->slow_latency : nullptr, true);
    }
    fprintf(f, "  \"cpu\": {\"user_s\": %.3f, \"sys_s\": %.3f},\n", r->cpu_user, r->cpu_sys);
    if (r->probe_cpu >= 0) {
        fprintf(f,
                "  \"probe_cpu\": {\"cpu\": %d, \"busy_ticks\": %llu, \"user_ticks\": %llu, "
                "\"clk_tck\": %ld, \"seconds\": %.3f},\n",
                r->probe_cpu, (unsigned long long)r->probe_busy, (unsigned long long)r->probe_user,
                sysconf(_SC_CLK_TCK), r->elapsed);
    }
    fprintf(f, "  \"errors\": [");
    rtmp_bench_errors_print(f, true);
    fprintf(f, "\n  ],\n  \"per_player\": [");
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->nsessions; i++) {
        const rtmp_bench_session_t *s = &r->sessions[i];
        if (s->role != rtmp_bench_role::player) {
            continue;
        }
        fprintf(f,
                "%s\n    {\"id\": %u, \"stream\": \"%s\", \"complete\": %.5f, \"received\": %llu, "
                "\"expected\": %llu, \"missing\": %llu, \"bytes\": %llu, \"slow\": %s, "
                "\"ok\": %s}",
                n++ ? "," : "", s->index, s->stream ? s->stream->name : "",
                rtmp_bench_completeness(s), (unsigned long long)s->media_msgs,
                (unsigned long long)(s->key_seq && s->stream ? s->stream->seq - s->key_seq + 1 : 0),
                (unsigned long long)rtmp_bench_missing(s), (unsigned long long)s->bytes_in,
                s->slow ? "true" : "false",
                s->state == rtmp_bench_state::active || s->state == rtmp_bench_state::done
                    ? "true"
                    : "false");
    }
    fprintf(f, "\n  ],\n  \"pass\": %s\n}\n", r->pass ? "true" : "false");
    if (fclose(f) != 0) {
        fprintf(stderr, "rtmp_bench: writing %s: %s\n", path, strerror(errno));
        return RTMP_ERROR;
    }
    return RTMP_OK;
}
