// Push: republishes each stream published in this worker to the application's push targets.
#include "rtmp/rtmp_push.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_relay.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>
#include <netdb.h>
#include <unistd.h>

struct rtmp_push_app_conf_t {
    rtmp_push_url_list_t targets;
    rtmp_msec_t connect_timeout;
    rtmp_msec_t reconnect_max;
};

// The first retry waits this long; each failure doubles it up to push_reconnect_max.
static constexpr rtmp_msec_t RTMP_PUSH_BACKOFF_MIN = 1000;
// When the stream ends, a target gets this long to take what is queued for it.
static constexpr rtmp_msec_t RTMP_PUSH_LINGER = 3000;

typedef struct rtmp_push_set_s rtmp_push_set_t;

struct rtmp_push_target_s {
    rtmp_push_set_t *set;
    const rtmp_push_url_t *url; // nullptr: its names did not fit, never connected
    rtmp_push_names_t names;
    rtmp_connection_t *c; // from connect() until the connection is closed
    rtmp_session_t *s;    // once TCP is up
    rtmp_stream_t *st;    // its stream, once publishing
    rtmp_event_t retry;   // the back-off timer
    rtmp_msec_t backoff;  // the next wait; 0: RTMP_PUSH_BACKOFF_MIN
    rtmp_msec_t since;    // when publishing started
    uint64_t bytes;       // over every connection
    uint32_t reconnects;
    bool publishing;
    char why[160];        // the failure being handled, for the line that schedules the retry
    char last_error[160]; // the failure that caused the current wait, for stat
};

// The pushes of one published stream; lives until its last connection is gone.
struct rtmp_push_set_s {
    rtmp_push_set_t *next;
    rtmp_conf_app_t *app;
    rtmp_push_app_conf_t *pcf;
    char name[RTMP_MAX_NAME + 1];
    bool stopping;
    bool in_stop; // rtmp_push_stop frees the set itself
    size_t nconn; // targets holding a connection
    size_t n;
    rtmp_push_target_t targets[];
};

static rtmp_push_set_t *rtmp_push_sets;
static uint32_t rtmp_push_rand_state = 2463534242u;

static rtmp_publish_pt rtmp_push_next_publish;
static rtmp_close_stream_pt rtmp_push_next_close_stream;

void rtmp_push_stat(const rtmp_conf_app_t *app, std::string_view name,
                    void (*cb)(const rtmp_push_stat_t *t, void *data), void *data)
{
    for (rtmp_push_set_t *set = rtmp_push_sets; set; set = set->next) {
        if (set->app != app || name != set->name || set->stopping) {
            continue;
        }
        for (size_t i = 0; i < set->n; i++) {
            const rtmp_push_target_t *t = &set->targets[i];
            rtmp_push_stat_t ps = {};
            ps.target = t->names.tc_url;
            ps.state = t->url == nullptr ? "failed"
                       : t->publishing   ? "publishing"
                       : t->c            ? "connecting"
                                         : "waiting";
            ps.since = t->publishing ? t->since : 0;
            ps.bytes = t->bytes + (t->c ? t->c->sent : 0);
            ps.reconnects = t->reconnects;
            ps.error = t->last_error;
            cb(&ps, data);
        }
    }
}

static rtmp_push_app_conf_t *rtmp_push_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_push_app_conf_t *>(app->app_conf[rtmp_push_module.index]);
}

// xorshift32: jitter only needs to keep targets of many workers from retrying in step
static uint32_t rtmp_push_rand()
{
    uint32_t x = rtmp_push_rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rtmp_push_rand_state = x;
}

// ---- URLs and names -----------------------------------------------------------------------

// A host name's addresses, looked up when the configuration is read (in the master, by -t
// and at each reload, as nginx-rtmp does): a worker never waits for DNS, and an address
// that changes takes a reload. IPv4 first, as "localhost" is; then IPv6.
static const char *rtmp_push_resolve(const char *name, rtmp_push_url_t *u)
{
    static char why[400];
    struct addrinfo hints = {};
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = nullptr;
    int rc = getaddrinfo(name, nullptr, &hints, &res);
    if (rc == EAI_AGAIN) {
        // a DNS outage (at boot, say) must not keep the server from starting: the name may
        // well exist, unlike one DNS says does not
        u->unresolved = gai_strerror(rc);
        return nullptr;
    }
    if (rc != 0 || res == nullptr) {
        snprintf(why, sizeof(why), "a URL whose host resolves (\"%s\": %s)", name,
                 rc ? gai_strerror(rc) : "no address");
        return why;
    }
    for (int family : {AF_INET, AF_INET6}) {
        for (const struct addrinfo *a = res; a && u->naddrs < RTMP_PUSH_URL_ADDRS; a = a->ai_next) {
            if (a->ai_family == family && a->ai_addrlen <= sizeof(struct sockaddr_storage)) {
                memcpy(&u->addrs[u->naddrs].sa, a->ai_addr, a->ai_addrlen);
                u->addrs[u->naddrs++].len = a->ai_addrlen;
            }
        }
    }
    freeaddrinfo(res);
    if (u->naddrs == 0) {
        snprintf(why, sizeof(why), "a URL whose host resolves (\"%s\": no IPv4 or IPv6 address)",
                 name);
        return why;
    }
    return nullptr;
}

const char *rtmp_push_parse_url(std::string_view url, rtmp_push_url_t *u)
{
    *u = {};
    u->tls = url.starts_with("rtmps://");
    if (!u->tls && !url.starts_with("rtmp://")) {
        return "an rtmp:// or rtmps:// URL";
    }
    if (url.size() > RTMP_PUSH_MAX_URL) {
        return "a URL of at most 1024 bytes";
    }
    std::string_view rest = url.substr(u->tls ? 8 : 7);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return "rtmp://HOST[:PORT]/APP[/NAME]: the application is missing";
    }
    std::string_view hostport = rest.substr(0, slash);
    std::string_view path = rest.substr(slash + 1);
    std::string_view host, port;
    bool bracket = hostport.starts_with('[');
    if (bracket) {
        size_t close = hostport.find(']');
        if (close == std::string_view::npos) {
            return "a URL with a closing ']' after an IPv6 address";
        }
        host = hostport.substr(1, close - 1);
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) {
            return "a URL with ':PORT' after ']'";
        }
        port = after.empty() ? after : after.substr(1);
    } else {
        size_t colon = hostport.find(':');
        host = hostport.substr(0, colon);
        port = colon == std::string_view::npos ? std::string_view() : hostport.substr(colon + 1);
    }
    int64_t p = port.empty() ? (u->tls ? 443 : 1935) : rtmp_atoi(port);
    if (p < 1 || p > 65535) {
        return "a URL with a port between 1 and 65535";
    }
    char h[256];
    if (host.empty()) {
        return "a URL with a host";
    }
    if (host.size() > 253 || hostport.size() >= sizeof(u->host)) {
        return "a URL with a host of at most 253 characters";
    }
    memcpy(h, host.data(), host.size());
    h[host.size()] = '\0';
    memcpy(u->hostname, h, host.size() + 1);
    if (!bracket && host == "localhost") {
        snprintf(h, sizeof(h), "127.0.0.1"); // not ::1, whatever the hosts file says first
    }
    auto *sin = reinterpret_cast<struct sockaddr_in *>(&u->addrs[0].sa);
    auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&u->addrs[0].sa);
    if (!bracket && inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        u->addrs[0].len = sizeof(*sin);
        u->naddrs = 1;
        u->literal = host != "localhost";
    } else if (bracket && inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        u->addrs[0].len = sizeof(*sin6);
        u->naddrs = 1;
        u->literal = true;
    } else if (bracket) {
        return "a URL with an IPv6 address in the brackets";
    } else if (const char *bad = rtmp_push_resolve(h, u)) {
        return bad;
    }
    for (int i = 0; i < u->naddrs; i++) {
        struct sockaddr_storage *sa = &u->addrs[i].sa;
        if (sa->ss_family == AF_INET) {
            reinterpret_cast<struct sockaddr_in *>(sa)->sin_port = htons((uint16_t)p);
        } else {
            reinterpret_cast<struct sockaddr_in6 *>(sa)->sin6_port = htons((uint16_t)p);
        }
    }
    memcpy(u->host, hostport.data(), hostport.size());
    u->host[hostport.size()] = '\0';

    size_t q = path.find('?');
    if (q != std::string_view::npos) {
        u->query = {path.size() - q - 1, (u_char *)path.data() + q + 1};
        path = path.substr(0, q);
    }
    size_t s = path.find('/');
    std::string_view app = path.substr(0, s);
    std::string_view name = s == std::string_view::npos ? std::string_view() : path.substr(s + 1);
    if (app.empty()) {
        return "rtmp://HOST[:PORT]/APP[/NAME]: the application is missing";
    }
    u->app = {app.size(), (u_char *)app.data()};
    u->name = {name.size(), (u_char *)name.data()};
    u->url = {url.size(), (u_char *)url.data()};
    size_t upto = (size_t)(app.data() + app.size() - url.data());
    snprintf(u->shown, sizeof(u->shown), "%.*s%s%s", (int)upto, url.data(),
             name.empty() ? "" : "/***", u->query.len ? "?***" : "");
    return nullptr;
}

bool rtmp_push_expand(std::string_view tmpl, std::string_view app, std::string_view name,
                      std::string_view args, char *out, size_t len)
{
    size_t n = 0;
    while (!tmpl.empty()) {
        std::string_view piece;
        if (tmpl.starts_with("${")) {
            size_t end = tmpl.find('}');
            if (end == std::string_view::npos) {
                return false;
            }
            std::string_view var = tmpl.substr(2, end - 2);
            tmpl = tmpl.substr(end + 1);
            if (var == "name") {
                piece = name;
            } else if (var == "app") {
                piece = app;
            } else if (var.starts_with("args.") && var.size() > 5) {
                piece = rtmp_query_arg(args, var.substr(5));
            } else {
                return false;
            }
        } else {
            size_t next = tmpl.find("${", 1);
            piece = tmpl.substr(0, next);
            tmpl = next == std::string_view::npos ? std::string_view() : tmpl.substr(next);
        }
        if (n + piece.size() >= len) {
            return false;
        }
        if (!piece.empty()) { // an empty argument may have no data pointer at all
            memcpy(out + n, piece.data(), piece.size());
        }
        n += piece.size();
    }
    if (len == 0) {
        return false;
    }
    out[n] = '\0';
    return true;
}

bool rtmp_push_url_names(const rtmp_push_url_t *u, std::string_view app, std::string_view name,
                         std::string_view args, rtmp_push_names_t *out)
{
    if (!rtmp_push_expand(u->app.sv(), app, name, args, out->app, sizeof(out->app)) ||
        !rtmp_push_expand(u->name.len ? u->name.sv() : "${name}", app, name, args, out->name,
                          sizeof(out->name))) {
        return false;
    }
    if (u->query.len) {
        size_t n = strlen(out->name);
        if (n + 1 >= sizeof(out->name)) {
            return false;
        }
        out->name[n] = '?';
        if (!rtmp_push_expand(u->query.sv(), app, name, args, out->name + n + 1,
                              sizeof(out->name) - n - 1)) {
            return false;
        }
    }
    int r = snprintf(out->tc_url, sizeof(out->tc_url), "%s://%s/%s", u->tls ? "rtmps" : "rtmp",
                     u->host, out->app);
    return r > 0 && (size_t)r < sizeof(out->tc_url);
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_push_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_push_app_conf_t>(cf->pool);
    c->targets.n = RTMP_CONF_UNSET;
    c->connect_timeout = c->reconnect_max = RTMP_CONF_UNSET_MSEC;
    return c;
}

static const char *rtmp_push_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_push_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_push_app_conf_t *>(child);
    if (c->targets.n == RTMP_CONF_UNSET) {
        c->targets.urls = p->targets.urls;
        c->targets.n = p->targets.n == RTMP_CONF_UNSET ? 0 : p->targets.n;
    }
    rtmp_conf_merge_msec(c->connect_timeout, p->connect_timeout, 5000);
    rtmp_conf_merge_msec(c->reconnect_max, p->reconnect_max, 30000);
    return nullptr;
}

const char *rtmp_push_conf_urls(rtmp_conf_t *cf, const rtmp_directive_t *d, config_setting_t *s,
                                void *conf)
{
    auto *list = reinterpret_cast<rtmp_push_url_list_t *>(static_cast<char *>(conf) + d->offset);
    static const char *expected = "an rtmp:// URL or a list of them";
    int type = config_setting_type(s);
    bool many = type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
    if (type != CONFIG_TYPE_STRING && !many) {
        return expected;
    }
    int n = many ? config_setting_length(s) : 1;
    list->urls = n ? rtmp_palloc<rtmp_push_url_t>(cf->pool, (size_t)n) : nullptr;
    list->n = n;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = many ? config_setting_get_elem(s, (unsigned)i) : s;
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s", d->name, expected);
            return "";
        }
        rtmp_str_t v = rtmp_pstr(cf->pool, rtmp_conf_string(e));
        const char *bad = rtmp_push_parse_url(v.sv(), &list->urls[i]);
        rtmp_push_names_t probe;
        if (bad == nullptr && !rtmp_push_url_names(&list->urls[i], "app", "name", "", &probe)) {
            bad = "a URL whose ${...} are ${name}, ${app} or ${args.KEY}";
        }
        if (bad) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s: \"%.*s\"", d->name, bad, (int)v.len,
                            (const char *)v.data);
            return "";
        }
        if (list->urls[i].unresolved) {
            rtmp_conf_warn(cf, config_setting_source_file(e), config_setting_source_line(e),
                           "\"%s\" %s: host \"%s\" did not resolve (%s); it is not connected "
                           "to until a reload resolves it",
                           d->name, list->urls[i].shown, list->urls[i].hostname,
                           list->urls[i].unresolved);
        }
    }
    return nullptr;
}

#define PUSH_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_push_directives[] = {
    {"push", PUSH_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom,
     offsetof(rtmp_push_app_conf_t, targets), 0, 0, rtmp_push_conf_urls},
    {"push_connect_timeout", PUSH_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_push_app_conf_t, connect_timeout), 100, 600000, nullptr},
    {"push_reconnect_max", PUSH_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_push_app_conf_t, reconnect_max), 1000, 3600000, nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- connections --------------------------------------------------------------------------

static void rtmp_push_connect(rtmp_push_target_t *t);

static void rtmp_push_retry_handler(rtmp_event_t *ev)
{
    auto *t = static_cast<rtmp_push_target_t *>(ev->data);
    ev->timedout = 0;
    t->reconnects++;
    rtmp_push_connect(t);
}

// Logs the failure and waits the back-off, doubled for next time, plus up to a quarter.
static void rtmp_push_retry(rtmp_push_target_t *t)
{
    rtmp_push_set_t *set = t->set;
    rtmp_msec_t base = t->backoff ? t->backoff : RTMP_PUSH_BACKOFF_MIN;
    rtmp_msec_t delay = base + rtmp_push_rand() % (base / 4 + 1);
    t->backoff = base * 2 < set->pcf->reconnect_max ? base * 2 : set->pcf->reconnect_max;
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                   "push \"%s/%s\" to %s failed: %s; retry in %llums (%u reconnect%s, %llu "
                   "bytes sent)",
                   set->app->name.data, set->name, t->url->shown,
                   t->why[0] ? t->why : "connection closed", (unsigned long long)delay,
                   t->reconnects, t->reconnects == 1 ? "" : "s", (unsigned long long)t->bytes);
    snprintf(t->last_error, sizeof(t->last_error), "%s", t->why[0] ? t->why : "connection closed");
    t->why[0] = '\0';
    rtmp_event_add_timer(&t->retry, delay);
}

static void rtmp_push_free_set(rtmp_push_set_t *set)
{
    for (size_t i = 0; i < set->n; i++) {
        rtmp_event_del_timer(&set->targets[i].retry);
    }
    rtmp_free(set);
}

// The connection's pool is going: the session, if any, has detached from the stream.
static void rtmp_push_gone(void *data)
{
    rtmp_push_target_t *t = *static_cast<rtmp_push_target_t **>(data);
    rtmp_push_set_t *set = t->set;
    t->bytes += t->c->sent;
    bool was_publishing = t->publishing;
    t->c = nullptr;
    t->s = nullptr;
    t->st = nullptr;
    t->publishing = false;
    set->nconn--;
    if (set->stopping) {
        rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                       "push \"%s/%s\" to %s stopped: %llu bytes sent, %u reconnect%s",
                       set->app->name.data, set->name, t->url->shown, (unsigned long long)t->bytes,
                       t->reconnects, t->reconnects == 1 ? "" : "s");
        if (!set->in_stop && set->nconn == 0) {
            rtmp_push_free_set(set);
        }
        return;
    }
    if (was_publishing && t->why[0] == '\0') {
        snprintf(t->why, sizeof(t->why), "connection lost after %.1fs",
                 (double)(rtmp_current_msec - t->since) / 1000.0);
    }
    rtmp_push_retry(t);
}

// TCP is up: the session becomes a push.
static void rtmp_push_up(rtmp_session_t *s, void *data)
{
    auto *t = static_cast<rtmp_push_target_t *>(data);
    rtmp_push_set_t *set = t->set;
    t->s = s;
    rtmp_relay_push_init(s, set->app, t->names.app, t->names.tc_url, t->names.name, t);
    // kept out of the log as in url->shown: a name the URL gives is often the target's
    // stream key, and a query holds secrets; the published name is ours to show
    bool own = t->url->name.len > 0;
    int shown = own ? 0 : (int)strcspn(t->names.name, "?");
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                   "push \"%s/%s\" to %s: connected, asking to publish as \"%.*s%s\" in \"%s\"",
                   set->app->name.data, set->name, t->url->shown, shown, t->names.name,
                   own                    ? "***"
                   : t->names.name[shown] ? "?***"
                                          : "",
                   t->names.app);
}

static void rtmp_push_down(void *data, const char *why)
{
    rtmp_push_failed(static_cast<rtmp_push_target_t *>(data), why);
}

static void rtmp_push_connect(rtmp_push_target_t *t)
{
    rtmp_push_set_t *set = t->set;
    rtmp_connection_t *c =
        rtmp_relay_connect(set->app, t->url, set->pcf->connect_timeout, rtmp_push_up,
                           rtmp_push_down, t, t->why, sizeof(t->why));
    if (c == nullptr) {
        rtmp_push_retry(t);
        return;
    }
    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(c->pool, sizeof(rtmp_push_target_t *));
    *static_cast<rtmp_push_target_t **>(cln->data) = t;
    cln->handler = rtmp_push_gone;
    t->c = c;
    set->nconn++;
}

rtmp_int_t rtmp_push_publishing(rtmp_push_target_t *t, rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_push_set_t *set = t->set;
    rtmp_int_t rc = rtmp_live_push_attach(s, st, set->name);
    if (rc == RTMP_DECLINED) {
        rtmp_session_close(s, "the pushed stream ended meanwhile");
        return RTMP_ERROR;
    }
    if (rc != RTMP_OK) {
        return rc;
    }
    t->publishing = true;
    t->last_error[0] = '\0';
    t->st = st;
    t->backoff = 0; // it worked: the next failure starts the back-off afresh
    t->since = rtmp_current_msec;
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                   "push \"%s/%s\" to %s: publish started (%u reconnect%s, %llu bytes sent "
                   "before)",
                   set->app->name.data, set->name, t->url->shown, t->reconnects,
                   t->reconnects == 1 ? "" : "s", (unsigned long long)t->bytes);
    return RTMP_OK;
}

void rtmp_push_failed(rtmp_push_target_t *t, const char *why)
{
    snprintf(t->why, sizeof(t->why), "%s", why);
}

void rtmp_push_closing(rtmp_push_target_t *t, const char *why)
{
    if (!t->publishing && t->why[0] == '\0') {
        rtmp_push_failed(t, why);
    }
}

// ---- streams ------------------------------------------------------------------------------

static rtmp_push_set_t *rtmp_push_find(rtmp_conf_app_t *app, std::string_view name)
{
    for (rtmp_push_set_t *set = rtmp_push_sets; set; set = set->next) {
        if (set->app == app && name == set->name) {
            return set;
        }
    }
    return nullptr;
}

static void rtmp_push_start(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_push_app_conf_t *pcf = rtmp_push_app_conf(s->app);
    if (pcf->targets.n <= 0 || rtmp_push_find(s->app, st->name)) {
        return; // nothing to push, or a publisher took over a stream already pushed
    }
    size_t n = (size_t)pcf->targets.n;
    auto *set = static_cast<rtmp_push_set_t *>(
        rtmp_calloc(sizeof(rtmp_push_set_t) + n * sizeof(rtmp_push_target_t)));
    set->app = s->app;
    set->pcf = pcf;
    set->n = n;
    snprintf(set->name, sizeof(set->name), "%s", st->name);
    set->next = rtmp_push_sets;
    rtmp_push_sets = set;
    for (size_t i = 0; i < n; i++) {
        rtmp_push_target_t *t = &set->targets[i];
        t->set = set;
        t->retry.data = t;
        t->retry.handler = rtmp_push_retry_handler;
        t->retry.log = rtmp_cycle->log;
        if (!rtmp_push_url_names(&pcf->targets.urls[i], s->app->name.sv(), st->name, st->args,
                                 &t->names)) {
            rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0,
                           "push \"%s/%s\" to %s: the names do not fit, not pushed",
                           s->app->name.data, st->name, pcf->targets.urls[i].shown);
            continue;
        }
        if (rtmp_relay_pulled_from(s, &pcf->targets.urls[i], &t->names)) {
            // the origin has the stream already: pushing it back there would loop it
            rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0,
                           "push \"%s/%s\" to %s: the stream is pulled from there, not pushed",
                           s->app->name.data, st->name, pcf->targets.urls[i].shown);
            continue;
        }
        t->url = &pcf->targets.urls[i];
        rtmp_push_connect(t);
    }
}

static void rtmp_push_linger_handler(rtmp_event_t *ev)
{
    auto *t = static_cast<rtmp_push_target_t *>(ev->data);
    ev->timedout = 0;
    if (t->s) {
        rtmp_session_close(t->s, "the target did not take the end of the stream in time");
    }
}

// The end of a publishing push: what is queued still goes out, then the end of the
// stream, so the target's players get every frame; a target too slow for that is cut.
static void rtmp_push_end(rtmp_push_target_t *t)
{
    if (!t->publishing || t->s->state == rtmp_session_state::closing) {
        rtmp_session_close(t->s, "the pushed stream ended");
        return;
    }
    // a paused stream gets no more frames (rtmp_live_send): a new publisher's are not ours
    t->st->paused = true;
    if (rtmp_relay_push_end(t->s, t->st) != RTMP_OK) {
        rtmp_session_close(t->s, "the pushed stream ended");
        return;
    }
    t->retry.handler = rtmp_push_linger_handler;
    rtmp_event_add_timer(&t->retry, RTMP_PUSH_LINGER);
}

static void rtmp_push_stop(rtmp_push_set_t *set)
{
    rtmp_push_set_t **pp = &rtmp_push_sets;
    while (*pp != set) {
        pp = &(*pp)->next;
    }
    *pp = set->next;
    set->stopping = true;
    set->in_stop = true;
    for (size_t i = 0; i < set->n; i++) {
        rtmp_push_target_t *t = &set->targets[i];
        rtmp_event_del_timer(&t->retry);
        if (t->s) {
            rtmp_push_end(t); // rtmp_push_gone follows
        } else if (t->c) {
            rtmp_connection_close(t->c); // still connecting: rtmp_push_gone runs now
        } else if (t->url) {
            rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                           "push \"%s/%s\" to %s stopped while waiting to reconnect: %llu "
                           "bytes sent, %u reconnect%s",
                           set->app->name.data, set->name, t->url->shown,
                           (unsigned long long)t->bytes, t->reconnects,
                           t->reconnects == 1 ? "" : "s");
        }
    }
    set->in_stop = false;
    if (set->nconn == 0) {
        rtmp_push_free_set(set);
    }
}

// Runs just before live in the publish chain: starts the pushes once live accepted.
static rtmp_int_t rtmp_push_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_push_next_publish(s, st);
    // only the publishing worker pushes, for a client's publish or an origin pull; a pull
    // from another worker does not publish through here
    if (rc == RTMP_OK && rtmp_relay_local_source(s) && st->state == rtmp_stream_state::publishing &&
        st->live) {
        rtmp_push_start(s, st);
    }
    return rc;
}

static void rtmp_push_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    // a publisher taken over is "created" by now: its pushes go on for the new one
    if (rtmp_relay_local_source(s) && st->state == rtmp_stream_state::publishing && st->live) {
        rtmp_push_set_t *set = rtmp_push_find(s->app, st->name);
        if (set) {
            rtmp_push_stop(set);
        }
    }
    rtmp_push_next_close_stream(s, st);
}

static void rtmp_push_postconfiguration()
{
    rtmp_push_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_push_publish;
    rtmp_push_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_push_close_stream;
}

static rtmp_int_t rtmp_push_init_worker(rtmp_cycle_t *)
{
    rtmp_push_rand_state ^= (uint32_t)getpid() * 2654435761u ^ (uint32_t)rtmp_current_msec;
    if (rtmp_push_rand_state == 0) {
        rtmp_push_rand_state = 1;
    }
    return RTMP_OK;
}

rtmp_module_t rtmp_push_module = {
    .name = "push",
    .index = 0,
    .directives = rtmp_push_directives,
    .create_app_conf = rtmp_push_create_app_conf,
    .merge_app_conf = rtmp_push_merge_app_conf,
    .postconfiguration = rtmp_push_postconfiguration,
    .init_worker = rtmp_push_init_worker,
};
