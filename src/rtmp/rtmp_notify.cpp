// The notify module: HTTP callbacks through libcurl's multi interface, driven by the worker's epoll
// loop.
#include "rtmp/rtmp_notify.h"
#include "core/rtmp_text.h"
#include "core/rtmp_time.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_record.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_stat.h"

#include <cstdio>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

static rtmp_publish_pt rtmp_notify_next_publish;
static rtmp_play_pt rtmp_notify_next_play;
static rtmp_close_stream_pt rtmp_notify_next_close_stream;
static rtmp_connect_pt rtmp_notify_next_connect;
static rtmp_record_done_pt rtmp_notify_next_record_done;

static const char *const rtmp_notify_names[RTMP_NOTIFY_CALLS] = {
    "connect", "publish", "play", "publish_done", "play_done", "done", "update", "record_done",
};

// ---- encoding -------------------------------------------------------------------------------

struct rtmp_notify_out_t {
    char *p;
    char *end;
    bool overflow;
};

static void rtmp_notify_put(rtmp_notify_out_t *o, std::string_view v)
{
    if ((size_t)(o->end - o->p) < v.size()) {
        o->overflow = true;
        return;
    }
    memcpy(o->p, v.data(), v.size());
    o->p += v.size();
}

// Form encoding: unreserved characters as they are, the rest %XX (spaces too, which every
// form parser reads back).
static void rtmp_notify_put_form(rtmp_notify_out_t *o, std::string_view v)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (u_char ch : v) {
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            rtmp_notify_put(o, std::string_view(reinterpret_cast<const char *>(&ch), 1));
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rtmp_notify_put(o, std::string_view(e, 3));
        }
    }
}

static void rtmp_notify_put_json(rtmp_notify_out_t *o, std::string_view v)
{
    rtmp_notify_put(o, "\"");
    rtmp_json_escape(v, [o](std::string_view piece) { rtmp_notify_put(o, piece); });
    rtmp_notify_put(o, "\"");
}

static void rtmp_notify_field(rtmp_notify_out_t *o, bool json, bool *first, std::string_view k,
                              std::string_view v, bool raw = false)
{
    rtmp_notify_put(o, *first ? "" : json ? "," : "&");
    *first = false;
    if (json) {
        rtmp_notify_put_json(o, k);
        rtmp_notify_put(o, ":");
        if (raw) {
            rtmp_notify_put(o, v);
        } else {
            rtmp_notify_put_json(o, v);
        }
    } else {
        rtmp_notify_put_form(o, k);
        rtmp_notify_put(o, "=");
        rtmp_notify_put_form(o, v);
    }
}

// A query-string component, %XX and '+' decoded into buf (which is at least as long).
static std::string_view rtmp_notify_unescape(std::string_view v, char *buf)
{
    size_t n = 0;
    for (size_t i = 0; i < v.size(); i++) {
        auto hexval = [](char ch) {
            return ch >= '0' && ch <= '9'   ? ch - '0'
                   : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                   : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                            : -1;
        };
        if (v[i] == '%' && i + 2 < v.size() && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
            buf[n++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
            i += 2;
        } else {
            buf[n++] = v[i] == '+' ? ' ' : v[i];
        }
    }
    return std::string_view(buf, n);
}

size_t rtmp_notify_encode(const rtmp_notify_args_t *a, bool json, char *buf, size_t size)
{
    rtmp_notify_out_t o = {buf, buf + size, false};
    bool first = true;
    char num[24];
    rtmp_notify_put(&o, json ? "{" : "");
    rtmp_notify_field(&o, json, &first, "call", a->call);
    rtmp_notify_field(&o, json, &first, "app", a->app);
    if (!a->name.empty()) {
        rtmp_notify_field(&o, json, &first, "name", a->name);
    }
    rtmp_notify_field(&o, json, &first, "addr", a->addr);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)a->clientid);
    rtmp_notify_field(&o, json, &first, "clientid", num);
    rtmp_notify_field(&o, json, &first, "tcurl", a->tcurl);
    rtmp_notify_field(&o, json, &first, "pageurl", a->pageurl);
    rtmp_notify_field(&o, json, &first, "swfurl", a->swfurl);
    rtmp_notify_field(&o, json, &first, "flashver", a->flashver);
    if (!a->type.empty()) {
        rtmp_notify_field(&o, json, &first, "type", a->type);
    }
    if (a->time >= 0) {
        snprintf(num, sizeof(num), "%lld", (long long)a->time);
        rtmp_notify_field(&o, json, &first, "time", num, true);
    }
    if (!a->recorder.empty()) {
        rtmp_notify_field(&o, json, &first, "recorder", a->recorder);
        rtmp_notify_field(&o, json, &first, "path", a->path);
        snprintf(num, sizeof(num), "%.3f", a->duration);
        rtmp_notify_field(&o, json, &first, "duration", num, true);
        snprintf(num, sizeof(num), "%lld", (long long)a->size);
        rtmp_notify_field(&o, json, &first, "size", num, true);
        rtmp_notify_field(&o, json, &first, "reason", a->reason);
    }
    if (json) {
        // the query string as an object of its own, so its names cannot shadow ours
        rtmp_notify_put(&o, ",\"args\":{");
        first = true;
    }
    std::string_view rest = a->args;
    char kb[RTMP_MAX_ARGS], vb[RTMP_MAX_ARGS];
    while (!rest.empty() && rest.size() <= RTMP_MAX_ARGS) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        size_t eq = pair.find('=');
        std::string_view k = pair.substr(0, eq);
        std::string_view v =
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        rtmp_notify_field(&o, json, &first, rtmp_notify_unescape(k, kb),
                          rtmp_notify_unescape(v, vb));
    }
    rtmp_notify_put(&o, json ? "}}" : "");
    return o.overflow ? 0 : (size_t)(o.p - buf);
}

std::string_view rtmp_notify_location_name(std::string_view location)
{
    size_t q = location.find_first_of("?#");
    if (q != std::string_view::npos) {
        location = location.substr(0, q);
    }
    size_t slash = location.rfind('/');
    if (slash != std::string_view::npos) {
        location = location.substr(slash + 1);
    }
    return location;
}

// ---- requests -------------------------------------------------------------------------------

typedef struct rtmp_notify_req_s rtmp_notify_req_t;

// What a session keeps per NetStream: the callback in flight and the update timer.
struct rtmp_notify_stream_t {
    rtmp_notify_req_t *req;
    rtmp_session_t *s;
    uint32_t msid;
    rtmp_event_t update;
    rtmp_msec_t started;
    unsigned publishing : 1; // let through to live: *_done are owed
    unsigned playing : 1;
    // on_publish said yes to a publish that waits further down the chain (a takeover
    // across workers): it comes through here again, and is not asked twice
    unsigned approved : 1;
};

// Per session, in its pool; the pool's cleanup detaches what is still in flight.
struct rtmp_notify_session_t {
    rtmp_session_t *s;
    rtmp_notify_req_t *connect_req;
    rtmp_notify_stream_t streams[RTMP_SESSION_STREAMS];
};

struct rtmp_notify_req_s {
    CURL *easy;
    rtmp_notify_req_t *next_free;
    rtmp_notify_call call;
    rtmp_session_t *s;         // nullptr for fire-and-forget calls
    rtmp_notify_stream_t *st;  // nullptr for connect
    rtmp_notify_req_t **owner; // where the session points at us; cleared when we end
    struct curl_slist *headers;
    size_t replied;                    // response bytes seen, for the bound
    char label[RTMP_MAX_NAME * 2 + 2]; // "app/name" or "app": a report outlives its session
    char body[RTMP_NOTIFY_MAX_BODY];
};

static CURLM *rtmp_notify_multi;
static rtmp_notify_req_t *rtmp_notify_reqs;
static rtmp_notify_req_t *rtmp_notify_free_reqs;
static size_t rtmp_notify_nreqs;
static rtmp_event_t rtmp_notify_timer;
static rtmp_log_t *rtmp_notify_log;

static void rtmp_notify_release(rtmp_notify_req_t *r)
{
    if (r->owner) {
        *r->owner = nullptr;
        r->owner = nullptr;
    }
    if (r->easy) {
        curl_multi_remove_handle(rtmp_notify_multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = nullptr;
    }
    curl_slist_free_all(r->headers);
    r->headers = nullptr;
    r->s = nullptr;
    r->st = nullptr;
    r->next_free = rtmp_notify_free_reqs;
    rtmp_notify_free_reqs = r;
}

static size_t rtmp_notify_discard(char *, size_t size, size_t n, void *data)
{
    auto *r = static_cast<rtmp_notify_req_t *>(data);
    r->replied += size * n;
    // nobody reads the body: a service that sends too much is cut off (and so refuses)
    return r->replied > RTMP_NOTIFY_MAX_REPLY ? 0 : size * n;
}

static bool rtmp_notify_peer(const rtmp_session_t *s, char *addr, size_t len)
{
    const struct sockaddr_storage *sa = &s->c->sockaddr;
    if (sa->ss_family != AF_INET && sa->ss_family != AF_INET6) {
        return false; // pulls between our own workers arrive on unix sockets
    }
    // addr_text carries the port ("1.2.3.4:5", "[::1]:5"); nginx-rtmp sends the address alone
    std::string_view t = s->c->addr_text;
    size_t colon = t.rfind(':');
    t = t.substr(0, colon);
    if (t.size() >= 2 && t.front() == '[') {
        t = t.substr(1, t.size() - 2);
    }
    snprintf(addr, len, "%.*s", (int)t.size(), t.data());
    return true;
}

// Starts one POST; nullptr (logged) when there is no room or curl says no.
static rtmp_notify_req_t *rtmp_notify_start(rtmp_session_t *s, rtmp_notify_call call,
                                            rtmp_stream_t *st, rtmp_notify_stream_t *nst,
                                            const rtmp_record_done_t *rd = nullptr)
{
    rtmp_notify_app_conf_t *ncf = rtmp_notify_app_conf(s->app);
    const rtmp_str_t *url = &ncf->url[(size_t)call];
    rtmp_notify_req_t *r = rtmp_notify_free_reqs;
    if (rtmp_notify_multi == nullptr || r == nullptr) {
        rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0,
                       "on_%s not sent: notify_max_requests (%zu) in flight",
                       rtmp_notify_names[(size_t)call], rtmp_notify_nreqs);
        return nullptr;
    }
    char addr[INET6_ADDRSTRLEN + 1] = "";
    (void)rtmp_notify_peer(s, addr, sizeof(addr));
    rtmp_notify_args_t a = {};
    a.call = rtmp_notify_names[(size_t)call];
    a.app = s->app_name.sv();
    a.addr = addr;
    a.clientid = s->c->number;
    a.tcurl = s->tc_url.sv();
    a.pageurl = s->page_url.sv();
    a.swfurl = s->swf_url.sv();
    a.flashver = s->flashver.sv();
    a.time = -1;
    if (st) {
        a.name = st->name;
        a.args = st->args;
        // on_done after a publish too: its stream still publishes while the done calls go
        if (call == rtmp_notify_call::publish || call == rtmp_notify_call::publish_done ||
            st->state == rtmp_stream_state::publishing || (nst && nst->publishing)) {
            a.type = st->type[0] ? std::string_view(st->type) : "live";
        }
    }
    if (call == rtmp_notify_call::update && nst) {
        a.time = (int64_t)((rtmp_current_msec - nst->started) / 1000);
    }
    a.duration = -1;
    if (rd) {
        a.recorder = rd->recorder;
        a.path = rd->path;
        a.reason = rd->reason;
        a.duration = rd->duration;
        a.size = (int64_t)rd->size;
    }
    size_t len = rtmp_notify_encode(&a, ncf->json, r->body, sizeof(r->body));
    if (len == 0) {
        rtmp_log_error(RTMP_LOG_WARN, &s->c->log, 0, "on_%s not sent: arguments too long",
                       rtmp_notify_names[(size_t)call]);
        return nullptr;
    }
    r->easy = curl_easy_init();
    if (r->easy == nullptr) {
        return nullptr;
    }
    rtmp_notify_free_reqs = r->next_free;
    r->next_free = nullptr;
    r->call = call;
    r->replied = 0;
    snprintf(r->label, sizeof(r->label), "%s%s%s", s->app_name.data, st ? "/" : "",
             st ? st->name : "");
    // curl adds "Expect: 100-continue" to larger bodies and waits a second for an answer
    // that small services never send
    r->headers = curl_slist_append(nullptr, "Expect:");
    if (ncf->json) {
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url->data);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body); // not copied: lives in r until r ends
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ncf->timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ncf->timeout);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); // a 3xx is an answer: a new name
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, rtmp_notify_discard);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "rtmp_server");
    if (curl_multi_add_handle(rtmp_notify_multi, e) != CURLM_OK) {
        rtmp_notify_release(r);
        return nullptr;
    }
    rtmp_log_debug(&s->c->log, "on_%s: POST %s", rtmp_notify_names[(size_t)call], url->data);
    return r;
}

// ---- libcurl in the event loop -------------------------------------------------------------

static void rtmp_notify_finish(rtmp_notify_req_t *r, CURLcode rc);

static void rtmp_notify_check_done()
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(rtmp_notify_multi, &left)) != nullptr) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        rtmp_notify_req_t *r = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
        rtmp_notify_finish(r, msg->data.result);
    }
}

static void rtmp_notify_socket_event(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    int fd = (int)reinterpret_cast<intptr_t>(c->data);
    int running;
    curl_multi_socket_action(rtmp_notify_multi, fd, ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN,
                             &running);
    rtmp_notify_check_done();
}

static void rtmp_notify_timer_event(rtmp_event_t *)
{
    int running;
    curl_multi_socket_action(rtmp_notify_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    rtmp_notify_check_done();
}

// curl's sockets join epoll as connection slots. The slot holds a duplicate of curl's
// descriptor: curl closes its own, rtmp_connection_close() closes ours, and epoll forgets the
// socket only when both are gone, so neither side closes a descriptor the other still uses.
static int rtmp_notify_socket_cb(CURL *, curl_socket_t fd, int what, void *, void *socketp)
{
    auto *c = static_cast<rtmp_connection_t *>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            curl_multi_assign(rtmp_notify_multi, fd, nullptr);
            rtmp_connection_close(c);
        }
        return 0;
    }
    if (c == nullptr) {
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dup == -1) {
            rtmp_log_error(RTMP_LOG_ALERT, rtmp_notify_log, errno, "notify: dup() failed");
            return 0; // the request times out and refuses
        }
        c = rtmp_connection_get(dup);
        if (c == nullptr) {
            close(dup);
            rtmp_log_error(RTMP_LOG_WARN, rtmp_notify_log, 0,
                           "notify: no free connection slot for a callback");
            return 0;
        }
        c->log = *rtmp_notify_log;
        c->data = reinterpret_cast<void *>((intptr_t)fd);
        c->read->handler = rtmp_notify_socket_event;
        c->write->handler = rtmp_notify_socket_event;
        c->read->log = c->write->log = &c->log;
        if (rtmp_event_add_connection(c) != RTMP_OK) {
            rtmp_connection_close(c);
            return 0;
        }
        curl_multi_assign(rtmp_notify_multi, fd, c);
    }
    // edge-triggered: an edge that came while curl wanted the other direction is not
    // repeated, so let curl look once now; it stops at EAGAIN
    if (what & CURL_POLL_IN) {
        rtmp_event_post(c->read);
    }
    if (what & CURL_POLL_OUT) {
        rtmp_event_post(c->write);
    }
    return 0;
}

static int rtmp_notify_timer_cb(CURLM *, long timeout_ms, void *)
{
    if (timeout_ms < 0) {
        rtmp_event_del_timer(&rtmp_notify_timer);
    } else if (timeout_ms == 0) {
        rtmp_event_del_timer(&rtmp_notify_timer);
        rtmp_event_post(&rtmp_notify_timer); // not from inside curl: after this batch
    } else {
        rtmp_event_add_timer(&rtmp_notify_timer, (rtmp_msec_t)timeout_ms);
    }
    return 0;
}

static rtmp_int_t rtmp_notify_init_worker(rtmp_cycle_t *cycle)
{
    auto *nmcf = static_cast<rtmp_notify_main_conf_t *>(cycle->main_conf[rtmp_notify_module.index]);
    rtmp_notify_log = cycle->log;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rtmp_log_error(RTMP_LOG_EMERG, cycle->log, 0, "curl_global_init() failed");
        return RTMP_ERROR;
    }
    rtmp_notify_multi = curl_multi_init();
    if (rtmp_notify_multi == nullptr) {
        rtmp_log_error(RTMP_LOG_EMERG, cycle->log, 0, "curl_multi_init() failed");
        return RTMP_ERROR;
    }
    curl_multi_setopt(rtmp_notify_multi, CURLMOPT_SOCKETFUNCTION, rtmp_notify_socket_cb);
    curl_multi_setopt(rtmp_notify_multi, CURLMOPT_TIMERFUNCTION, rtmp_notify_timer_cb);
    // a handful of connections to the same service are reused, not one per callback
    curl_multi_setopt(rtmp_notify_multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    curl_multi_setopt(rtmp_notify_multi, CURLMOPT_MAXCONNECTS, 16L);
    rtmp_notify_timer.handler = rtmp_notify_timer_event;
    rtmp_notify_timer.log = cycle->log;

    rtmp_notify_nreqs = (size_t)nmcf->max_requests;
    rtmp_notify_reqs = static_cast<rtmp_notify_req_t *>(
        rtmp_calloc(rtmp_notify_nreqs * sizeof(rtmp_notify_req_t)));
    rtmp_notify_free_reqs = nullptr;
    for (size_t i = rtmp_notify_nreqs; i-- > 0;) {
        rtmp_notify_reqs[i].next_free = rtmp_notify_free_reqs;
        rtmp_notify_free_reqs = &rtmp_notify_reqs[i];
    }
    return RTMP_OK;
}

static void rtmp_notify_exit_worker(rtmp_cycle_t *)
{
    if (rtmp_notify_multi == nullptr) {
        return;
    }
    for (size_t i = 0; i < rtmp_notify_nreqs; i++) {
        if (rtmp_notify_reqs[i].easy) {
            rtmp_notify_release(&rtmp_notify_reqs[i]);
        }
    }
    curl_multi_cleanup(rtmp_notify_multi);
    rtmp_notify_multi = nullptr;
    rtmp_event_del_timer(&rtmp_notify_timer);
    rtmp_event_delete_posted(&rtmp_notify_timer);
    rtmp_free(rtmp_notify_reqs);
    rtmp_notify_reqs = nullptr;
    curl_global_cleanup();
}

// ---- session state --------------------------------------------------------------------------

static void rtmp_notify_session_cleanup(void *data)
{
    auto *ns = static_cast<rtmp_notify_session_t *>(data);
    // the session is gone: what it waited for is cancelled, never answered into freed memory
    if (ns->connect_req) {
        rtmp_notify_release(ns->connect_req);
    }
    for (auto &nst : ns->streams) {
        if (nst.req) {
            rtmp_notify_release(nst.req);
        }
        rtmp_event_del_timer(&nst.update);
        rtmp_event_delete_posted(&nst.update);
    }
}

static void rtmp_notify_update(rtmp_event_t *ev);

static rtmp_notify_session_t *rtmp_notify_session(rtmp_session_t *s)
{
    if (s->notify) {
        return static_cast<rtmp_notify_session_t *>(s->notify);
    }
    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(s->c->pool, sizeof(rtmp_notify_session_t));
    auto *ns = static_cast<rtmp_notify_session_t *>(cln->data);
    memset(ns, 0, sizeof(*ns));
    ns->s = s;
    for (uint32_t i = 0; i < RTMP_SESSION_STREAMS; i++) {
        ns->streams[i].s = s;
        ns->streams[i].msid = i + 1;
        ns->streams[i].update.data = &ns->streams[i];
        ns->streams[i].update.handler = rtmp_notify_update;
        ns->streams[i].update.log = &s->c->log;
    }
    cln->handler = rtmp_notify_session_cleanup;
    s->notify = ns;
    return ns;
}

// Whether this session's callbacks are sent at all: not for pulls between our workers nor
// for pushes; for a pull from an origin, whose addr is the origin's, they are notices.
static bool rtmp_notify_applies(rtmp_session_t *s)
{
    char addr[INET6_ADDRSTRLEN + 1];
    return rtmp_relay_local_source(s) && rtmp_notify_peer(s, addr, sizeof(addr));
}

static bool rtmp_notify_wanted(rtmp_session_t *s, rtmp_notify_call call)
{
    return rtmp_notify_app_conf(s->app)->url[(size_t)call].len > 0 && rtmp_notify_applies(s);
}

// Starts the update timer once a stream is let through.
static void rtmp_notify_started(rtmp_session_t *s, rtmp_stream_t *st, bool publish)
{
    rtmp_notify_stream_t *nst = &rtmp_notify_session(s)->streams[st->msid - 1];
    bool ok = publish ? st->state == rtmp_stream_state::publishing
                      : st->state == rtmp_stream_state::playing;
    if (!ok) {
        return;
    }
    if (publish) { // bit-fields: no assignment through ?: (clang refuses it)
        nst->publishing = 1;
    } else {
        nst->playing = 1;
    }
    nst->started = rtmp_current_msec;
    // a pull gets no on_update: its answer ends a stream, and a pull would only come back
    if (rtmp_notify_wanted(s, rtmp_notify_call::update) && !rtmp_relay_origin_pull(s)) {
        rtmp_event_add_timer(&nst->update, rtmp_notify_app_conf(s->app)->update_interval);
    }
}

// ---- answers --------------------------------------------------------------------------------

// Refuses a waiting publish or play: the status says why, then the session closes.
static void rtmp_notify_refuse(rtmp_session_t *s, rtmp_stream_t *st, rtmp_notify_call call,
                               const char *why)
{
    char desc[160];
    snprintf(desc, sizeof(desc), "Access denied: %s", why);
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "%s \"%s%s%s\" refused by on_%s: %s",
                   rtmp_notify_names[(size_t)call], s->app->name.data, st ? "/" : "",
                   st ? st->name : "", rtmp_notify_names[(size_t)call], why);
    s->close_after_flush = true;
    rtmp_int_t rc;
    if (call == rtmp_notify_call::connect) {
        rc = rtmp_session_connect_refuse(s, desc);
    } else {
        rc = rtmp_session_status(s, st->msid,
                                 call == rtmp_notify_call::publish
                                     ? rtmp_cmd_status_id::publish_bad_name
                                     : rtmp_cmd_status_id::play_stream_not_found,
                                 st->name, desc);
    }
    if (rc == RTMP_OK && s->state != rtmp_session_state::closing) {
        rtmp_event_post(s->c->write); // the reply goes out, then the session closes
    }
}

static void rtmp_notify_finish(rtmp_notify_req_t *r, CURLcode rc)
{
    long status = 0;
    char *redirect = nullptr;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &redirect);
    curl_off_t took = 0;
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &took);
    rtmp_stat_notify_latency((double)took / 1e6);
    rtmp_session_t *s = r->s;
    rtmp_notify_stream_t *nst = r->st;
    rtmp_notify_call call = r->call;
    const char *name = rtmp_notify_names[(size_t)call];

    char why[128];
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, sizeof(why), "callback timed out");
    } else if (rc != CURLE_OK) {
        snprintf(why, sizeof(why), "callback failed: %s", curl_easy_strerror(rc));
    } else if (status < 200 || status >= 400 || (status >= 300 && redirect == nullptr)) {
        snprintf(why, sizeof(why), "callback answered %ld", status);
    } else {
        why[0] = '\0';
    }
    char location[RTMP_MAX_NAME + 1] = "";
    if (!why[0] && status >= 300) {
        std::string_view n = rtmp_notify_location_name(redirect);
        if (n.empty() || n.size() > RTMP_MAX_NAME) {
            snprintf(why, sizeof(why), "callback redirected to an unusable name");
        } else {
            memcpy(location, n.data(), n.size());
            location[n.size()] = '\0';
        }
    }
    if (s == nullptr) {
        if (why[0]) {
            rtmp_log_error(RTMP_LOG_WARN, rtmp_notify_log, 0, "on_%s \"%s\": %s", name, r->label,
                           why);
        }
        rtmp_notify_release(r);
        return;
    }
    rtmp_notify_release(r); // detaches from the session before we act on it
    if (s->state == rtmp_session_state::closing) {
        return;
    }
    rtmp_stream_t *st = nst ? s->streams[nst->msid - 1] : nullptr;

    switch (call) {
    case rtmp_notify_call::connect:
        if (why[0]) {
            rtmp_notify_refuse(s, nullptr, call, why);
            return;
        }
        if (rtmp_notify_next_connect(s) == RTMP_OK) {
            rtmp_event_post(s->c->write);
        }
        return;
    case rtmp_notify_call::publish:
    case rtmp_notify_call::play: {
        bool publish = call == rtmp_notify_call::publish;
        if (st == nullptr || st->state != rtmp_stream_state::created) {
            return; // closed meanwhile
        }
        if (why[0]) {
            rtmp_notify_refuse(s, st, call, why);
            return;
        }
        if (location[0]) {
            // as nginx-rtmp: a publisher is renamed, a player plays the other stream
            rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "on_%s: \"%s/%s\" becomes \"%s\"", name,
                           s->app->name.data, st->name, location);
            snprintf(st->name, sizeof(st->name), "%s", location);
        }
        rtmp_int_t next = publish ? rtmp_notify_next_publish(s, st) : rtmp_notify_next_play(s, st);
        if (next == RTMP_ERROR) {
            return;
        }
        nst->approved = publish && next == RTMP_AGAIN;
        rtmp_notify_started(s, st, publish);
        rtmp_event_post(s->c->write);
        return;
    }
    case rtmp_notify_call::update:
        if (why[0]) {
            char reason[160];
            snprintf(reason, sizeof(reason), "on_update: %s", why);
            rtmp_session_close(s, reason);
        }
        return;
    default:
        return;
    }
}

static void rtmp_notify_update(rtmp_event_t *ev)
{
    auto *nst = static_cast<rtmp_notify_stream_t *>(ev->data);
    rtmp_session_t *s = nst->s;
    ev->timedout = 0;
    rtmp_stream_t *st = s->streams[nst->msid - 1];
    if (s->state == rtmp_session_state::closing || st == nullptr ||
        (st->state != rtmp_stream_state::publishing && st->state != rtmp_stream_state::playing)) {
        return;
    }
    rtmp_event_add_timer(ev, rtmp_notify_app_conf(s->app)->update_interval);
    if (nst->req) {
        return; // the last one is still out: one at a time per stream
    }
    rtmp_notify_req_t *r = rtmp_notify_start(s, rtmp_notify_call::update, st, nst);
    if (r) {
        r->s = s;
        r->st = nst;
        r->owner = &nst->req;
        nst->req = r;
    }
}

// ---- handlers -------------------------------------------------------------------------------

// Starts a callback the session waits for; false when it could not be sent (which refuses).
static bool rtmp_notify_wait(rtmp_session_t *s, rtmp_notify_call call, rtmp_stream_t *st)
{
    rtmp_notify_session_t *ns = rtmp_notify_session(s);
    rtmp_notify_stream_t *nst = st ? &ns->streams[st->msid - 1] : nullptr;
    rtmp_notify_req_t *r = rtmp_notify_start(s, call, st, nst);
    if (r == nullptr) {
        return false;
    }
    r->s = s;
    r->st = nst;
    r->owner = nst ? &nst->req : &ns->connect_req;
    *r->owner = r;
    return true;
}

static rtmp_int_t rtmp_notify_connect(rtmp_session_t *s)
{
    if (!rtmp_notify_wanted(s, rtmp_notify_call::connect)) {
        return rtmp_notify_next_connect(s);
    }
    rtmp_notify_session_t *ns = rtmp_notify_session(s);
    if (ns->connect_req) {
        rtmp_session_close(s, "connect sent twice");
        return RTMP_ERROR;
    }
    if (!rtmp_notify_wait(s, rtmp_notify_call::connect, nullptr)) {
        rtmp_notify_refuse(s, nullptr, rtmp_notify_call::connect, "callback not sent");
        return RTMP_OK;
    }
    return RTMP_AGAIN;
}

static void rtmp_notify_done(rtmp_session_t *s, rtmp_stream_t *st, rtmp_notify_call call);

static rtmp_int_t rtmp_notify_stream(rtmp_session_t *s, rtmp_stream_t *st, bool publish)
{
    rtmp_notify_call call = publish ? rtmp_notify_call::publish : rtmp_notify_call::play;
    rtmp_notify_stream_t *nst =
        s->notify ? &static_cast<rtmp_notify_session_t *>(s->notify)->streams[st->msid - 1]
                  : nullptr;
    if (nst && nst->req) {
        rtmp_session_close(s, "publish or play while the last one is still being checked");
        return RTMP_ERROR;
    }
    if (publish && rtmp_relay_origin_pull(s)) {
        // the server started this pull itself: on_publish is not asked, only told once live
        // took the stream, and on_publish_done and on_done follow when the pull ends
        rtmp_int_t rc = rtmp_notify_next_publish(s, st);
        if (rc == RTMP_OK && st->state == rtmp_stream_state::publishing) {
            rtmp_notify_done(s, st, rtmp_notify_call::publish);
            rtmp_notify_started(s, st, true);
        }
        return rc;
    }
    if (!rtmp_notify_wanted(s, call) || (nst && nst->approved)) {
        rtmp_int_t rc = publish ? rtmp_notify_next_publish(s, st) : rtmp_notify_next_play(s, st);
        if (nst && rc != RTMP_AGAIN) {
            nst->approved = 0;
        }
        if (rc == RTMP_OK && rtmp_notify_applies(s)) {
            rtmp_notify_started(s, st, publish);
        }
        return rc;
    }
    if (!rtmp_notify_wait(s, call, st)) {
        rtmp_notify_refuse(s, st, call, "callback not sent");
        return RTMP_OK;
    }
    return RTMP_AGAIN;
}

static rtmp_int_t rtmp_notify_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    return rtmp_notify_stream(s, st, true);
}

static rtmp_int_t rtmp_notify_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    return rtmp_notify_stream(s, st, false);
}

// Sends a *_done call that nobody waits for.
static void rtmp_notify_done(rtmp_session_t *s, rtmp_stream_t *st, rtmp_notify_call call)
{
    if (rtmp_notify_app_conf(s->app)->url[(size_t)call].len > 0) {
        (void)rtmp_notify_start(s, call, st, nullptr); // r->s stays nullptr: detached
    }
}

// A recorder closed a file: on_record_done, which nobody waits for.
static void rtmp_notify_record_done(const rtmp_record_done_t *rd)
{
    if (rtmp_notify_wanted(rd->s, rtmp_notify_call::record_done)) {
        (void)rtmp_notify_start(rd->s, rtmp_notify_call::record_done, rd->st, nullptr, rd);
    }
    rtmp_notify_next_record_done(rd);
}

static void rtmp_notify_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    if (s->notify) {
        rtmp_notify_stream_t *nst =
            &static_cast<rtmp_notify_session_t *>(s->notify)->streams[st->msid - 1];
        if (nst->req) {
            rtmp_notify_release(nst->req); // closed while its callback was out
        }
        nst->approved = 0;
        rtmp_event_del_timer(&nst->update);
        if (nst->publishing || nst->playing) {
            bool publishing = nst->publishing;
            nst->publishing = nst->playing = 0;
            rtmp_notify_done(
                s, st, publishing ? rtmp_notify_call::publish_done : rtmp_notify_call::play_done);
            rtmp_notify_done(s, st, rtmp_notify_call::done);
        }
    }
    rtmp_notify_next_close_stream(s, st);
}

// ---- configuration --------------------------------------------------------------------------

static void *rtmp_notify_create_main_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_notify_main_conf_t>(cf->pool);
    c->max_requests = RTMP_CONF_UNSET;
    return c;
}

static const char *rtmp_notify_init_main_conf(rtmp_conf_t *, void *conf)
{
    auto *c = static_cast<rtmp_notify_main_conf_t *>(conf);
    if (c->max_requests == RTMP_CONF_UNSET) {
        c->max_requests = 256;
    }
    return nullptr;
}

static void *rtmp_notify_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_notify_app_conf_t>(cf->pool);
    c->timeout = RTMP_CONF_UNSET_MSEC;
    c->update_interval = RTMP_CONF_UNSET_MSEC;
    c->json = RTMP_CONF_UNSET;
    return c;
}

static const char *rtmp_notify_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_notify_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_notify_app_conf_t *>(child);
    for (size_t i = 0; i < RTMP_NOTIFY_CALLS; i++) {
        if (c->url[i].data == nullptr) {
            c->url[i] = p->url[i];
        }
    }
    rtmp_conf_merge_msec(c->timeout, p->timeout, 3000);
    rtmp_conf_merge_msec(c->update_interval, p->update_interval, 30000);
    rtmp_conf_merge_value(c->json, p->json, 0);
    return nullptr;
}

// on_* = "http://..."; checked here so that a typo fails at startup, not at the first client.
static const char *rtmp_notify_set_url(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                       config_setting_t *s, void *conf)
{
    auto *c = static_cast<rtmp_notify_app_conf_t *>(conf);
    std::string_view v = rtmp_conf_string(s);
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return "a URL string";
    }
    if (!(v.starts_with("http://") || v.starts_with("https://")) ||
        v.size() > RTMP_NOTIFY_MAX_URL) {
        rtmp_conf_error(cf, s, "\"%s\" must be an http:// or https:// URL of at most %zu bytes",
                        d->name, RTMP_NOTIFY_MAX_URL);
        return "";
    }
    c->url[d->offset] = rtmp_pstr(cf->pool, v);
    return nullptr;
}

#define NOTIFY_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)
#define NOTIFY_URL(name, call)                                                                     \
    {                                                                                              \
        name, NOTIFY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom,                         \
            (size_t)rtmp_notify_call::call, 0, 0, rtmp_notify_set_url                              \
    }

static const rtmp_directive_t rtmp_notify_directives[] = {
    NOTIFY_URL("on_connect", connect),
    NOTIFY_URL("on_publish", publish),
    NOTIFY_URL("on_play", play),
    NOTIFY_URL("on_publish_done", publish_done),
    NOTIFY_URL("on_play_done", play_done),
    NOTIFY_URL("on_done", done),
    NOTIFY_URL("on_update", update),
    NOTIFY_URL("on_record_done", record_done),
    {"notify_timeout", NOTIFY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_notify_app_conf_t, timeout), 100, 60000, nullptr},
    {"notify_update_interval", NOTIFY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_notify_app_conf_t, update_interval), 1000, 86400000, nullptr},
    {"notify_json", NOTIFY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::flag,
     offsetof(rtmp_notify_app_conf_t, json), 0, 0, nullptr},
    {"notify_max_requests", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     offsetof(rtmp_notify_main_conf_t, max_requests), 1, 65536, nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

static void rtmp_notify_postconfiguration()
{
    rtmp_notify_next_connect = rtmp_connect_handler;
    rtmp_connect_handler = rtmp_notify_connect;
    rtmp_notify_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_notify_publish;
    rtmp_notify_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_notify_play;
    rtmp_notify_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_notify_close_stream;
    rtmp_notify_next_record_done = rtmp_record_done_handler;
    rtmp_record_done_handler = rtmp_notify_record_done;
}

rtmp_module_t rtmp_notify_module = {
    .name = "notify",
    .index = 0,
    .directives = rtmp_notify_directives,
    .create_main_conf = rtmp_notify_create_main_conf,
    .init_main_conf = rtmp_notify_init_main_conf,
    .create_app_conf = rtmp_notify_create_app_conf,
    .merge_app_conf = rtmp_notify_merge_app_conf,
    .postconfiguration = rtmp_notify_postconfiguration,
    .init_worker = rtmp_notify_init_worker,
    .exit_worker = rtmp_notify_exit_worker,
};
