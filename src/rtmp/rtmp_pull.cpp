// Pull: streams nobody publishes here fetched from remote origins through the relay client.
#include "rtmp/rtmp_pull.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "os/rtmp_cycle.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_relay.h"

#include <cstdio>
#include <netinet/in.h>
#include <unistd.h>

struct rtmp_pull_app_conf_t {
    rtmp_push_url_list_t origins;
    rtmp_str_t *statics; // pull_static entries, "NAME" or "NAME?ARGS"
    rtmp_int_t nstatics; // RTMP_CONF_UNSET: none
    rtmp_msec_t connect_timeout;
    rtmp_msec_t reconnect_max;
    rtmp_msec_t idle_timeout;
};

// A player of a pulled stream, or one waiting for the pull to play (idle_streams off: its
// play is answered once the origin plays, or with StreamNotFound once every origin failed).
struct rtmp_pull_player_t {
    rtmp_queue_t link; // in p->players or p->parked
    rtmp_pull_t *p;    // nullptr once the pull is gone
    rtmp_session_t *s;
    rtmp_stream_t *st;
    bool parked;
};

// One stream pulled in this worker; lives until stopped and its connection is gone.
struct rtmp_pull_s {
    rtmp_pull_t *next;
    rtmp_conf_app_t *app;
    rtmp_pull_app_conf_t *pcf;
    char name[RTMP_MAX_NAME + 1];
    char args[RTMP_MAX_ARGS + 1]; // of the first player or the pull_static entry
    bool is_static;
    bool stopping;
    bool playing;  // the origin answered Play.Start on the current connection
    bool claiming; // waiting for the master's answer to rtmp_live_claim
    rtmp_pull_failover_t fo;
    const rtmp_push_url_t *url; // the origin of the current or last connection
    rtmp_push_names_t names;    // what that origin is asked for
    rtmp_connection_t *c;       // from connect() until the connection is gone
    rtmp_session_t *s;          // once TCP is up
    rtmp_event_t retry;         // the next connect (back-off, or at once for the next origin)
    rtmp_event_t idle;          // pull_idle_timeout without players
    rtmp_msec_t since;          // when the current play started
    uint64_t bytes;             // received over every connection
    uint32_t reconnects;
    rtmp_queue_t players;
    rtmp_queue_t parked;
    size_t nplayers;
    char why[160]; // the last failure, for the line that schedules the retry
};

// Static pulls start this long after the worker.
static constexpr rtmp_msec_t RTMP_PULL_STATIC_DELAY = 500;
// A claim the master has not answered in this long (it is busy) is not waited for.
static constexpr rtmp_msec_t RTMP_PULL_CLAIM_WAIT = 1000;

static rtmp_pull_t *rtmp_pull_list;
static rtmp_event_t rtmp_pull_quit_ev; // static pulls end with a graceful shutdown
static uint32_t rtmp_pull_rand_state = 2891336453u;

static rtmp_play_pt rtmp_pull_next_play;
static rtmp_close_stream_pt rtmp_pull_next_close_stream;

static rtmp_pull_app_conf_t *rtmp_pull_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_pull_app_conf_t *>(app->app_conf[rtmp_pull_module.index]);
}

bool rtmp_pull_has_origins(rtmp_conf_app_t *app)
{
    return rtmp_pull_app_conf(app)->origins.n > 0;
}

// xorshift32: jitter only keeps the pulls of many edges from retrying in step
static uint32_t rtmp_pull_rand()
{
    uint32_t x = rtmp_pull_rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rtmp_pull_rand_state = x;
}

// ---- fail-over and names, I/O-free ---------------------------------------------------------

rtmp_msec_t rtmp_pull_failover_next(rtmp_pull_failover_t *f, size_t norigins, bool played,
                                    rtmp_msec_t max, uint32_t rnd)
{
    f->exhausted = false;
    if (!played && ++f->failed < norigins) {
        f->origin = (f->origin + 1) % norigins; // the next origin of this round, at once
        return 0;
    }
    // a round failed, or a stream that played dropped: wait, then start again from the
    // first origin, the preferred one
    f->exhausted = !played;
    f->failed = 0;
    f->origin = 0;
    rtmp_msec_t base = f->backoff ? f->backoff : RTMP_PULL_BACKOFF_MIN;
    if (base > max) {
        base = max;
    }
    f->backoff = base * 2 < max ? base * 2 : max;
    return base + rnd % (base / 4 + 1);
}

const char *rtmp_pull_parse_static(std::string_view entry, std::string_view *name,
                                   std::string_view *args)
{
    size_t q = entry.find('?');
    *name = entry.substr(0, q);
    *args = q == std::string_view::npos ? std::string_view() : entry.substr(q + 1);
    if (name->empty() || name->size() > RTMP_MAX_NAME) {
        return "a stream name of 1 to 256 bytes, with an optional ?query";
    }
    if (args->size() > RTMP_MAX_ARGS) {
        return "a query of at most 1024 bytes";
    }
    if (rtmp_has_control(entry)) {
        return "a stream name without control characters";
    }
    return nullptr;
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_pull_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_pull_app_conf_t>(cf->pool);
    c->origins.n = RTMP_CONF_UNSET;
    c->nstatics = RTMP_CONF_UNSET;
    c->connect_timeout = c->reconnect_max = c->idle_timeout = RTMP_CONF_UNSET_MSEC;
    return c;
}

static const char *rtmp_pull_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_pull_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_pull_app_conf_t *>(child);
    if (c->origins.n == RTMP_CONF_UNSET) {
        c->origins.urls = p->origins.urls;
        c->origins.n = p->origins.n == RTMP_CONF_UNSET ? 0 : p->origins.n;
    }
    // pull_static is only allowed in applications: a list there is the app's own
    if (c->nstatics == RTMP_CONF_UNSET) {
        c->nstatics = 0;
    }
    if (c->nstatics > 0 && c->origins.n == 0) {
        return "\"pull_static\" needs origins in \"pull\"";
    }
    rtmp_conf_merge_msec(c->connect_timeout, p->connect_timeout, 5000);
    rtmp_conf_merge_msec(c->reconnect_max, p->reconnect_max, 30000);
    rtmp_conf_merge_msec(c->idle_timeout, p->idle_timeout, 10000);
    return nullptr;
}

// pull_static = "NAME" or ( "NAME", "NAME?ARGS", ... )
static const char *rtmp_pull_set_static(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                        config_setting_t *s, void *conf)
{
    auto *pcf = static_cast<rtmp_pull_app_conf_t *>(conf);
    static const char *expected = "a stream name or a list of them";
    int type = config_setting_type(s);
    bool many = type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
    if (type != CONFIG_TYPE_STRING && !many) {
        return expected;
    }
    int n = many ? config_setting_length(s) : 1;
    pcf->statics = n ? rtmp_palloc<rtmp_str_t>(cf->pool, (size_t)n) : nullptr;
    pcf->nstatics = n;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = many ? config_setting_get_elem(s, (unsigned)i) : s;
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s", d->name, expected);
            return "";
        }
        std::string_view v = rtmp_conf_string(e);
        std::string_view name, args;
        const char *bad = rtmp_pull_parse_static(v, &name, &args);
        for (int j = 0; bad == nullptr && j < i; j++) {
            std::string_view other, other_args;
            (void)rtmp_pull_parse_static(pcf->statics[j].sv(), &other, &other_args);
            if (other == name) {
                bad = "a list without the same name twice";
            }
        }
        if (bad) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s: \"%.*s\"", d->name, bad, (int)v.size(),
                            v.data());
            return "";
        }
        pcf->statics[i] = rtmp_pstr(cf->pool, v);
    }
    return nullptr;
}

#define PULL_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_pull_directives[] = {
    {"pull", PULL_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom,
     offsetof(rtmp_pull_app_conf_t, origins), 0, 0, rtmp_push_conf_urls},
    {"pull_static", RTMP_CONF_APP, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_pull_set_static},
    {"pull_connect_timeout", PULL_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_pull_app_conf_t, connect_timeout), 100, 600000, nullptr},
    {"pull_reconnect_max", PULL_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_pull_app_conf_t, reconnect_max), 1000, 3600000, nullptr},
    {"pull_idle_timeout", PULL_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_pull_app_conf_t, idle_timeout), 0, 86400000, nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- players ------------------------------------------------------------------------------

static void rtmp_pull_stop(rtmp_pull_t *p, const char *why);

// No player left: an on-demand pull goes after pull_idle_timeout.
static void rtmp_pull_check_idle(rtmp_pull_t *p)
{
    if (p->is_static || p->nplayers > 0 || !rtmp_queue_empty(&p->parked)) {
        rtmp_event_del_timer(&p->idle);
        return;
    }
    if (!p->idle.timer_set) {
        rtmp_event_add_timer(&p->idle, p->pcf->idle_timeout);
    }
}

static void rtmp_pull_count(rtmp_pull_player_t *pp)
{
    rtmp_pull_t *p = pp->p;
    pp->parked = false;
    rtmp_queue_insert_tail(&p->players, &pp->link);
    p->nplayers++;
    rtmp_event_del_timer(&p->idle);
}

// Answers the plays parked while the pull was on its way: live joins them to the stream
// if the pull (or anyone) publishes it by now, else says StreamNotFound.
static void rtmp_pull_resume(rtmp_pull_t *p)
{
    while (!rtmp_queue_empty(&p->parked)) {
        rtmp_pull_player_t *pp = rtmp_queue_data(p->parked.next, rtmp_pull_player_t, link);
        rtmp_queue_remove(&pp->link);
        rtmp_session_t *s = pp->s;
        rtmp_stream_t *st = pp->st;
        if (s->state == rtmp_session_state::closing) {
            pp->p = nullptr; // the session's end frees it
            continue;
        }
        rtmp_int_t rc = rtmp_pull_next_play(s, st);
        if (rc == RTMP_OK && st->state == rtmp_stream_state::playing) {
            rtmp_pull_count(pp);
        } else {
            st->ctx[rtmp_pull_module.index] = nullptr;
            rtmp_free(pp);
        }
        if (rc != RTMP_ERROR) {
            rtmp_event_post(s->c->write);
        }
    }
}

// ---- connections --------------------------------------------------------------------------

static void rtmp_pull_connect(rtmp_pull_t *p);
static void rtmp_pull_up(rtmp_session_t *s, void *data);
static void rtmp_pull_down(void *data, const char *why);

static void rtmp_pull_log_origin(rtmp_pull_t *p, rtmp_uint_t level, const char *what,
                                 const rtmp_push_url_t *u)
{
    rtmp_log_error(level, rtmp_cycle->log, 0, "pull \"%s/%s\" from %s: %s", p->app->name.data,
                   p->name, u->shown, what);
}

// The connection to p->url ended (or never came up): on to the next origin or the back-off.
static void rtmp_pull_schedule(rtmp_pull_t *p, bool played)
{
    const rtmp_push_url_t *failed = p->url;
    rtmp_msec_t delay = rtmp_pull_failover_next(&p->fo, (size_t)p->pcf->origins.n, played,
                                                p->pcf->reconnect_max, rtmp_pull_rand());
    const rtmp_push_url_t *next = &p->pcf->origins.urls[p->fo.origin];
    char wait[32] = "now";
    if (delay) {
        snprintf(wait, sizeof(wait), "in %llums", (unsigned long long)delay);
    }
    char line[1024];
    snprintf(line, sizeof(line), "%s; %s %s %s (%u reconnect%s, %llu bytes received)",
             p->why[0] ? p->why : "connection closed", delay ? "retry" : "trying", next->shown,
             wait, p->reconnects, p->reconnects == 1 ? "" : "s", (unsigned long long)p->bytes);
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0, "pull \"%s/%s\" from %s failed: %s",
                   p->app->name.data, p->name, failed->shown, line);
    p->why[0] = '\0';
    rtmp_event_add_timer(&p->retry, delay);
    if (p->fo.exhausted) {
        if (!p->is_static) {
            rtmp_live_unclaim(p->app, p->name); // free for others while we wait
        }
        rtmp_pull_resume(p); // every origin failed once: waiting players are told so
        rtmp_pull_check_idle(p);
    }
}

static void rtmp_pull_free(rtmp_pull_t *p)
{
    rtmp_event_del_timer(&p->retry);
    rtmp_event_del_timer(&p->idle);
    if (!p->is_static) {
        rtmp_live_unclaim(p->app, p->name);
    }
    rtmp_free(p);
}

// The connection's pool is going: the session, if any, has left the live stream.
static void rtmp_pull_gone(void *data)
{
    rtmp_pull_t *p = *static_cast<rtmp_pull_t **>(data);
    p->bytes += p->c->received;
    bool played = p->playing;
    p->c = nullptr;
    p->s = nullptr;
    p->playing = false;
    if (p->stopping) {
        rtmp_pull_free(p);
        return;
    }
    if (rtmp_sig_quit || rtmp_sig_terminate) {
        rtmp_pull_stop(p, "the worker is shutting down"); // nothing to retry, or warn about
        return;
    }
    if (played && p->why[0] == '\0') {
        snprintf(p->why, sizeof(p->why), "connection lost after %.1fs",
                 (double)(rtmp_current_msec - p->since) / 1000.0);
    }
    rtmp_pull_schedule(p, played);
}

static void rtmp_pull_connect(rtmp_pull_t *p)
{
    const rtmp_push_url_t *u = &p->pcf->origins.urls[p->fo.origin];
    p->url = u;
    if (!rtmp_push_url_names(u, p->app->name.sv(), p->name, p->args, &p->names)) {
        snprintf(p->why, sizeof(p->why), "the names do not fit");
        rtmp_pull_schedule(p, false);
        return;
    }
    rtmp_connection_t *c = rtmp_relay_connect(p->app, u, p->pcf->connect_timeout, rtmp_pull_up,
                                              rtmp_pull_down, p, p->why, sizeof(p->why));
    if (c == nullptr) {
        rtmp_pull_schedule(p, false);
        return;
    }
    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(c->pool, sizeof(rtmp_pull_t *));
    *static_cast<rtmp_pull_t **>(cln->data) = p;
    cln->handler = rtmp_pull_gone;
    p->c = c;
}

static void rtmp_pull_retry_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_pull_t *>(ev->data);
    ev->timedout = 0;
    if (rtmp_sig_quit || rtmp_sig_terminate) {
        rtmp_pull_stop(p, "the worker is shutting down");
        return;
    }
    if (!p->is_static && p->nplayers == 0 && rtmp_queue_empty(&p->parked)) {
        rtmp_pull_stop(p, "no players left");
        return;
    }
    int owner = rtmp_live_owner(p->app, p->name);
    if (rtmp_live_has_publisher(p->app, p->name)) {
        if (!p->is_static) {
            char why[64] = "the stream is published here meanwhile";
            if (owner >= 0 && owner != rtmp_worker_slot) {
                snprintf(why, sizeof(why), "worker %d has the stream", owner);
            }
            rtmp_pull_stop(p, why); // its players play from there
            return;
        }
        // a static pull waits for the name to be free again
        rtmp_event_add_timer(&p->retry, RTMP_PULL_BACKOFF_MIN);
        return;
    }
    // workers with players arriving at once would each pull: the master picks one
    if (!p->is_static && owner != rtmp_worker_slot && !p->claiming &&
        rtmp_live_claim(p->app, p->name)) {
        p->claiming = true;
        rtmp_event_add_timer(&p->retry, RTMP_PULL_CLAIM_WAIT);
        return;
    }
    p->claiming = false;
    if (p->url) {
        p->reconnects++;
    }
    rtmp_pull_connect(p);
}

static void rtmp_pull_idle_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_pull_t *>(ev->data);
    ev->timedout = 0;
    char why[64];
    snprintf(why, sizeof(why), "no players for %.1fs", (double)p->pcf->idle_timeout / 1000.0);
    rtmp_pull_stop(p, why);
}

// TCP is up: the session becomes a pull.
static void rtmp_pull_up(rtmp_session_t *s, void *data)
{
    auto *p = static_cast<rtmp_pull_t *>(data);
    p->s = s;
    rtmp_relay_pull_init(s, p->app, p->name, p->args, p->names.app, p->names.tc_url, p->names.name,
                         p);
    // the name's query often holds a token: kept out of the log
    int shown = (int)strcspn(p->names.name, "?");
    char what[RTMP_MAX_NAME * 2 + 64];
    snprintf(what, sizeof(what), "connected, asking to play \"%.*s%s\" in \"%s\"", shown,
             p->names.name, p->names.name[shown] ? "?..." : "", p->names.app);
    rtmp_pull_log_origin(p, RTMP_LOG_INFO, what, p->url);
}

void rtmp_pull_playing(rtmp_pull_t *p)
{
    p->playing = true;
    p->since = rtmp_current_msec;
    rtmp_pull_failover_reset(&p->fo);
    char what[128];
    snprintf(what, sizeof(what), "playing (%u reconnect%s, %llu bytes received before)",
             p->reconnects, p->reconnects == 1 ? "" : "s", (unsigned long long)p->bytes);
    rtmp_pull_log_origin(p, RTMP_LOG_INFO, what, p->url);
    rtmp_pull_resume(p);
    rtmp_pull_check_idle(p);
}

void rtmp_pull_failed(rtmp_pull_t *p, const char *why)
{
    snprintf(p->why, sizeof(p->why), "%s", why);
}

void rtmp_pull_closing(rtmp_pull_t *p, const char *why)
{
    if (!p->playing && p->why[0] == '\0') {
        rtmp_pull_failed(p, why);
    }
}

static void rtmp_pull_down(void *data, const char *why)
{
    rtmp_pull_failed(static_cast<rtmp_pull_t *>(data), why);
}

static bool rtmp_pull_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        auto *x = reinterpret_cast<const struct sockaddr_in *>(a);
        auto *y = reinterpret_cast<const struct sockaddr_in *>(b);
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        auto *x = reinterpret_cast<const struct sockaddr_in6 *>(a);
        auto *y = reinterpret_cast<const struct sockaddr_in6 *>(b);
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

bool rtmp_pull_is_origin(const rtmp_pull_t *p, const rtmp_push_url_t *u,
                         const rtmp_push_names_t *names)
{
    if (p->url == nullptr || strcmp(p->names.app, names->app) != 0) {
        return false;
    }
    bool same = false;
    for (int i = 0; i < p->url->naddrs && !same; i++) {
        for (int j = 0; j < u->naddrs && !same; j++) {
            same = rtmp_pull_same_addr(&p->url->addrs[i].sa, &u->addrs[j].sa);
        }
    }
    if (!same) {
        return false;
    }
    std::string_view a(p->names.name), b(names->name);
    return a.substr(0, a.find('?')) == b.substr(0, b.find('?'));
}

// ---- pulls --------------------------------------------------------------------------------

static rtmp_pull_t *rtmp_pull_find(rtmp_conf_app_t *app, std::string_view name)
{
    for (rtmp_pull_t *p = rtmp_pull_list; p; p = p->next) {
        if (p->app == app && name == p->name) {
            return p;
        }
    }
    return nullptr;
}

void rtmp_pull_registered(rtmp_conf_app_t *app, std::string_view name)
{
    rtmp_pull_t *p = rtmp_pull_find(app, name);
    int owner = rtmp_live_owner(app, name);
    if (p && p->c == nullptr && (p->claiming || (owner >= 0 && owner != rtmp_worker_slot))) {
        // the answer to its claim, or another worker's: on with the pull, or off to there
        rtmp_event_add_timer(&p->retry, 0);
    } else if (p == nullptr && owner == rtmp_worker_slot) {
        rtmp_live_unclaim(app, name); // granted after its pull ended
    }
}

// A pull of app/name; its first connect runs from the loop, after the caller is done.
static rtmp_pull_t *rtmp_pull_create(rtmp_conf_app_t *app, std::string_view name,
                                     std::string_view args, bool is_static)
{
    auto *p = static_cast<rtmp_pull_t *>(rtmp_calloc(sizeof(rtmp_pull_t)));
    p->app = app;
    p->pcf = rtmp_pull_app_conf(app);
    p->is_static = is_static;
    snprintf(p->name, sizeof(p->name), "%.*s", (int)name.size(), name.data());
    snprintf(p->args, sizeof(p->args), "%.*s", (int)args.size(), args.data());
    rtmp_queue_init(&p->players);
    rtmp_queue_init(&p->parked);
    p->retry.data = p;
    p->retry.handler = rtmp_pull_retry_handler;
    p->retry.log = rtmp_cycle->log;
    p->idle.data = p;
    p->idle.handler = rtmp_pull_idle_handler;
    p->idle.log = rtmp_cycle->log;
    p->next = rtmp_pull_list;
    rtmp_pull_list = p;
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0, "pull \"%s/%s\" started (%s, %lld origin%s)",
                   app->name.data, p->name, is_static ? "static" : "a player asked",
                   (long long)p->pcf->origins.n, p->pcf->origins.n == 1 ? "" : "s");
    // a new worker learns from the master who publishes what just after it starts: a static
    // pull waits for that, so it does not pull what an old worker still pulls
    rtmp_event_add_timer(&p->retry, is_static ? RTMP_PULL_STATIC_DELAY : 0);
    return p;
}

struct rtmp_pull_adoption_t {
    rtmp_conf_app_t *app;
    std::string_view name;
    rtmp_pull_t *p;
};

static void rtmp_pull_adopt_viewer(rtmp_session_t *s, rtmp_stream_t *st, void *data)
{
    auto *a = static_cast<rtmp_pull_adoption_t *>(data);
    auto *&slot = reinterpret_cast<rtmp_pull_player_t *&>(st->ctx[rtmp_pull_module.index]);
    if (slot && slot->p) {
        return; // counted by a pull already
    }
    if (a->p == nullptr) {
        a->p = rtmp_pull_create(a->app, a->name, st->args, false);
    }
    if (slot == nullptr) {
        slot = static_cast<rtmp_pull_player_t *>(rtmp_calloc(sizeof(rtmp_pull_player_t)));
        slot->s = s;
        slot->st = st;
        rtmp_queue_init(&slot->link);
    }
    slot->p = a->p;
    rtmp_pull_count(slot);
}

void rtmp_pull_adopt(rtmp_conf_app_t *app, std::string_view name)
{
    if (rtmp_pull_app_conf(app)->origins.n <= 0 || rtmp_pull_find(app, name) ||
        rtmp_live_has_publisher(app, name)) {
        return;
    }
    rtmp_pull_adoption_t a = {app, name, nullptr};
    rtmp_live_each_viewer(app, name, rtmp_pull_adopt_viewer, &a);
}

static void rtmp_pull_stop(rtmp_pull_t *p, const char *why)
{
    rtmp_pull_t **pp = &rtmp_pull_list;
    while (*pp != p) {
        pp = &(*pp)->next;
    }
    *pp = p->next;
    p->stopping = true;
    rtmp_event_del_timer(&p->retry);
    rtmp_event_del_timer(&p->idle);
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                   "pull \"%s/%s\" released: %s (%llu bytes received, %u reconnect%s)",
                   p->app->name.data, p->name, why,
                   (unsigned long long)(p->bytes + (p->c ? p->c->received : 0)), p->reconnects,
                   p->reconnects == 1 ? "" : "s");
    rtmp_pull_resume(p);
    while (!rtmp_queue_empty(&p->players)) {
        rtmp_pull_player_t *player = rtmp_queue_data(p->players.next, rtmp_pull_player_t, link);
        rtmp_queue_remove(&player->link);
        player->p = nullptr; // still playing: the stream goes on if someone publishes it
    }
    p->nplayers = 0;
    if (p->s) {
        rtmp_session_close(p->s, why); // rtmp_pull_gone frees p
    } else if (p->c) {
        rtmp_connection_close(p->c); // still connecting: rtmp_pull_gone runs now
    } else {
        rtmp_pull_free(p);
    }
}

// Runs just before live in the play chain: the first player of a name nobody publishes,
// here or in another worker, starts its pull.
static rtmp_int_t rtmp_pull_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_pull_app_conf_t *pcf = rtmp_pull_app_conf(s->app);
    rtmp_live_app_conf_t *lacf = rtmp_live_app_conf(s->app);
    if (pcf->origins.n <= 0 || !lacf->live) {
        return rtmp_pull_next_play(s, st);
    }
    auto *&slot = reinterpret_cast<rtmp_pull_player_t *&>(st->ctx[rtmp_pull_module.index]);
    if (slot) {
        // play again on the same stream: live closed the last one already
        rtmp_queue_remove(&slot->link);
        if (slot->p && !slot->parked) {
            slot->p->nplayers--;
        }
        rtmp_free(slot);
        slot = nullptr;
    }
    rtmp_pull_t *p = rtmp_pull_find(s->app, st->name);
    if (p == nullptr) {
        if (rtmp_live_has_publisher(s->app, st->name)) {
            return rtmp_pull_next_play(s, st);
        }
        p = rtmp_pull_create(s->app, st->name, st->args, false);
    }
    auto *pp = static_cast<rtmp_pull_player_t *>(rtmp_calloc(sizeof(rtmp_pull_player_t)));
    pp->p = p;
    pp->s = s;
    pp->st = st;
    rtmp_queue_init(&pp->link);
    slot = pp;
    bool trying = p->c || !p->fo.exhausted; // not waiting out a round that failed
    if (!p->playing && trying && !lacf->idle_streams &&
        !rtmp_live_has_publisher(s->app, st->name)) {
        // without idle streams a player is not kept waiting for a publisher: it waits for
        // the pull's current round of origins only
        pp->parked = true;
        rtmp_queue_insert_tail(&p->parked, &pp->link);
        rtmp_event_del_timer(&p->idle);
        return RTMP_AGAIN;
    }
    rtmp_int_t rc = rtmp_pull_next_play(s, st);
    if (rc == RTMP_OK && st->state == rtmp_stream_state::playing && slot == pp) {
        rtmp_pull_count(pp);
    } else if (slot == pp) {
        slot = nullptr;
        rtmp_free(pp);
        rtmp_pull_check_idle(p);
    }
    return rc;
}

static void rtmp_pull_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    auto *&slot = reinterpret_cast<rtmp_pull_player_t *&>(st->ctx[rtmp_pull_module.index]);
    if (slot) {
        rtmp_pull_player_t *pp = slot;
        slot = nullptr;
        rtmp_queue_remove(&pp->link);
        rtmp_pull_t *p = pp->p;
        if (p && !pp->parked) {
            p->nplayers--;
        }
        rtmp_free(pp);
        if (p) {
            rtmp_pull_check_idle(p);
        }
    }
    rtmp_pull_next_close_stream(s, st);
}

static void rtmp_pull_postconfiguration()
{
    rtmp_pull_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_pull_play;
    rtmp_pull_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_pull_close_stream;
}

// A graceful shutdown waits for the worker's connections to end: a static pull's never would.
static void rtmp_pull_quit_check(rtmp_event_t *ev)
{
    ev->timedout = 0;
    if (!rtmp_sig_quit) {
        rtmp_event_add_timer(ev, RTMP_PULL_BACKOFF_MIN);
        return;
    }
    rtmp_pull_t *next;
    for (rtmp_pull_t *p = rtmp_pull_list; p; p = next) {
        next = p->next;
        if (p->is_static) {
            rtmp_pull_stop(p, "the worker is shutting down");
        }
    }
}

// Static pulls run in one worker of each generation (its first slot), so an origin sees
// one connection per stream; the other workers pull from that one.
static rtmp_int_t rtmp_pull_init_worker(rtmp_cycle_t *cycle)
{
    rtmp_pull_rand_state ^= (uint32_t)getpid() * 2654435761u ^ (uint32_t)rtmp_current_msec;
    if (rtmp_pull_rand_state == 0) {
        rtmp_pull_rand_state = 1;
    }
    rtmp_int_t workers = rtmp_core_worker_count(rtmp_core_conf(cycle));
    if (rtmp_worker_slot < 0 || rtmp_worker_slot % workers != 0) {
        return RTMP_OK;
    }
    for (size_t i = 0; i < cycle->nservers; i++) {
        rtmp_conf_srv_t *srv = cycle->servers[i];
        for (size_t a = 0; a < srv->napps; a++) {
            rtmp_pull_app_conf_t *pcf = rtmp_pull_app_conf(srv->apps[a]);
            for (rtmp_int_t k = 0; k < pcf->nstatics; k++) {
                std::string_view name, args;
                if (rtmp_pull_parse_static(pcf->statics[k].sv(), &name, &args) == nullptr) {
                    (void)rtmp_pull_create(srv->apps[a], name, args, true);
                }
                if (!rtmp_pull_quit_ev.timer_set) {
                    rtmp_pull_quit_ev.handler = rtmp_pull_quit_check;
                    rtmp_pull_quit_ev.log = cycle->log;
                    rtmp_event_add_timer(&rtmp_pull_quit_ev, RTMP_PULL_BACKOFF_MIN);
                }
            }
        }
    }
    return RTMP_OK;
}

// The worker exits: its connections are gone, what waits for a retry goes too.
static void rtmp_pull_exit_worker(rtmp_cycle_t *)
{
    rtmp_event_del_timer(&rtmp_pull_quit_ev);
    while (rtmp_pull_list) {
        rtmp_pull_stop(rtmp_pull_list, "the worker exits");
    }
}

rtmp_module_t rtmp_pull_module = {
    .name = "pull",
    .index = 0,
    .directives = rtmp_pull_directives,
    .create_app_conf = rtmp_pull_create_app_conf,
    .merge_app_conf = rtmp_pull_merge_app_conf,
    .postconfiguration = rtmp_pull_postconfiguration,
    .init_worker = rtmp_pull_init_worker,
    .exit_worker = rtmp_pull_exit_worker,
};
