// The HTTP module: the http block, and connections served in the worker loop — request
// heads, static files below hls_root sent with sendfile in bounded pieces, keep-alive.
#include "http/rtmp_http.h"
#include "core/rtmp_text.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "event/rtmp_ssl.h"
#include "http/rtmp_http_parse.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_stat.h"

#include <cstdarg>
#include <cstdio>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

// A wakeup sends at most this much before letting other connections run.
static constexpr size_t RTMP_HTTP_SEND_CAP = 1024 * 1024;
static constexpr size_t RTMP_HTTP_SENDFILE_PIECE = 256 * 1024;
// After the last response of a connection, what the client still sends is read and
// dropped for this long, so our close does not reset the response it has not read yet.
static constexpr rtmp_msec_t RTMP_HTTP_LINGER = 2000;
static constexpr size_t RTMP_HTTP_LINGER_MAX = 256 * 1024;
static constexpr size_t RTMP_HTTP_MAX_DEPTH = 16; // path segments below the root
static constexpr size_t RTMP_HTTP_HEAD_SIZE = 1536;

enum class rtmp_http_state : uint8_t {
    reading,   // waiting for (the rest of) a request head; idle between requests too
    writing,   // sending a response; further pipelined requests wait in the buffer
    lingering, // last response sent: draining until the client closes
};

struct rtmp_http_conn_t {
    rtmp_connection_t *c;
    rtmp_http_main_conf_t *hcf;
    rtmp_http_state state;
    bool keep_alive; // of the response being sent
    bool body_owned; // body is on the heap (else static text)
    uint32_t requests;
    size_t lingered;

    u_char *buf; // the request head(s) read so far; max_header_size bytes
    size_t len;
    rtmp_http_request_t req;
    bool have_req; // req is the request being answered (else a parse error is)

    char head[RTMP_HTTP_HEAD_SIZE];
    char text[64]; // an error response's body
    size_t head_len;
    size_t head_sent;
    const u_char *body;
    size_t body_len;
    size_t body_sent;
    int fd; // file being sent, or -1
    off_t file_off;
    uint64_t file_left;

    int status;
    uint64_t length; // Content-Length of the response
    rtmp_msec_t started;
};

// ---- configuration ------------------------------------------------------------------------

static const char *rtmp_http_set_listen(rtmp_conf_t *cf, const rtmp_directive_t *,
                                        config_setting_t *s, void *conf)
{
    auto *hcf = static_cast<rtmp_http_main_conf_t *>(conf);
    return rtmp_listen_set(cf, s, hcf->listen, &hcf->nlisten, rtmp_http_init, "http");
}

// hls_root: a non-empty path; hls_location: "/.../" without empty, "." or ".." segments.
static const char *rtmp_http_set_path(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                      config_setting_t *s, void *conf)
{
    std::string_view v = rtmp_conf_string(s);
    bool location = strcmp(d->name, "hls_location") == 0;
    if (location) {
        char decoded[RTMP_HTTP_MAX_PATH + 1];
        size_t len;
        const char *why;
        if (v.size() < 2 || v.back() != '/' ||
            rtmp_http_decode_path(v, decoded, sizeof(decoded), &len, &why) != 0 ||
            std::string_view(decoded, len) != v) {
            return "a path like \"/hls/\" (starting and ending with '/', nothing to decode)";
        }
    } else if (v.empty() || v.find('\0') != std::string_view::npos) {
        return "a non-empty path";
    }
    auto *field = reinterpret_cast<rtmp_str_t *>(static_cast<u_char *>(conf) + d->offset);
    *field = rtmp_pstr(cf->pool, v);
    return nullptr;
}

static void *rtmp_http_create_main_conf(rtmp_conf_t *cf)
{
    auto *hcf = rtmp_palloc<rtmp_http_main_conf_t>(cf->pool);
    hcf->stat = hcf->metrics = hcf->access_log = RTMP_CONF_UNSET;
    hcf->keepalive_timeout = hcf->client_header_timeout = RTMP_CONF_UNSET_MSEC;
    hcf->send_timeout = hcf->segment_max_age = RTMP_CONF_UNSET_MSEC;
    hcf->max_header_size = hcf->keepalive_requests = RTMP_CONF_UNSET;
    return hcf;
}

static const char *rtmp_http_init_main_conf(rtmp_conf_t *cf, void *conf)
{
    auto *hcf = static_cast<rtmp_http_main_conf_t *>(conf);
    rtmp_conf_merge_str(hcf->hls_root, hcf->hls_root, "hls");
    rtmp_conf_merge_str(hcf->hls_location, hcf->hls_location, "/hls/");
    rtmp_conf_merge_value(hcf->stat, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_value(hcf->metrics, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_value(hcf->access_log, RTMP_CONF_UNSET, 1);
    rtmp_conf_merge_msec(hcf->keepalive_timeout, RTMP_CONF_UNSET_MSEC, 75000);
    rtmp_conf_merge_msec(hcf->client_header_timeout, RTMP_CONF_UNSET_MSEC, 10000);
    rtmp_conf_merge_msec(hcf->send_timeout, RTMP_CONF_UNSET_MSEC, 30000);
    rtmp_conf_merge_msec(hcf->segment_max_age, RTMP_CONF_UNSET_MSEC, 60000);
    rtmp_conf_merge_value(hcf->max_header_size, RTMP_CONF_UNSET, 8192);
    rtmp_conf_merge_value(hcf->keepalive_requests, RTMP_CONF_UNSET, 1000);
    return rtmp_listen_ssl(cf, hcf->listen, hcf->nlisten, hcf->ssl_certificate,
                           hcf->ssl_certificate_key, true);
}

#define HTTP_OFF(field) offsetof(rtmp_http_main_conf_t, field)

static const rtmp_directive_t rtmp_http_directives[] = {
    {"listen", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_http_set_listen},
    {"hls_root", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::custom, HTTP_OFF(hls_root),
     0, 0, rtmp_http_set_path},
    {"hls_location", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::custom,
     HTTP_OFF(hls_location), 0, 0, rtmp_http_set_path},
    {"stat", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::flag, HTTP_OFF(stat), 0, 0,
     nullptr},
    {"metrics", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::flag, HTTP_OFF(metrics), 0,
     0, nullptr},
    {"cors", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::string, HTTP_OFF(cors), 0, 0,
     nullptr},
    {"keepalive_timeout", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::msec,
     HTTP_OFF(keepalive_timeout), 0, 3600000, nullptr},
    {"client_header_timeout", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::msec,
     HTTP_OFF(client_header_timeout), 100, 3600000, nullptr},
    {"send_timeout", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::msec,
     HTTP_OFF(send_timeout), 100, 3600000, nullptr},
    {"max_header_size", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::size,
     HTTP_OFF(max_header_size), 1024, 1024 * 1024, nullptr},
    {"keepalive_requests", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::number,
     HTTP_OFF(keepalive_requests), 1, 1 << 30, nullptr},
    {"segment_max_age", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::msec,
     HTTP_OFF(segment_max_age), 0, 86400000LL * 365, nullptr},
    {"access_log", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::flag,
     HTTP_OFF(access_log), 0, 0, nullptr},
    {"ssl_certificate", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::string,
     HTTP_OFF(ssl_certificate), 0, 0, nullptr},
    {"ssl_certificate_key", RTMP_CONF_HTTP, rtmp_conf_level::main, rtmp_conf_type::string,
     HTTP_OFF(ssl_certificate_key), 0, 0, nullptr},
    {nullptr, 0, rtmp_conf_level::main, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

static rtmp_event_t rtmp_http_tick_ev;
static void rtmp_http_tick(rtmp_event_t *ev);

static rtmp_int_t rtmp_http_init_worker(rtmp_cycle_t *cycle)
{
    if (rtmp_http_main_conf(cycle)->nlisten == 0) {
        return RTMP_OK;
    }
    rtmp_http_tick_ev.handler = rtmp_http_tick;
    rtmp_http_tick_ev.log = cycle->log;
    rtmp_event_add_timer(&rtmp_http_tick_ev, 1000);
    return RTMP_OK;
}

rtmp_module_t rtmp_http_module = {
    .name = "http",
    .index = 0,
    .directives = rtmp_http_directives,
    .create_main_conf = rtmp_http_create_main_conf,
    .init_main_conf = rtmp_http_init_main_conf,
    .init_worker = rtmp_http_init_worker,
};

const rtmp_listening_t *rtmp_http_listening(rtmp_cycle_t *cycle, size_t *n)
{
    rtmp_http_main_conf_t *hcf = rtmp_http_main_conf(cycle);
    *n = hcf->nlisten;
    return hcf->listen;
}

// ---- response bodies ------------------------------------------------------------------------

static void rtmp_http_body_reserve(rtmp_http_body_t *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) {
        cap *= 2;
    }
    b->data = static_cast<u_char *>(rtmp_realloc(b->data, cap));
    b->cap = cap;
}

void rtmp_http_body_append(rtmp_http_body_t *b, std::string_view s)
{
    rtmp_http_body_reserve(b, s.size());
    memcpy(b->data + b->len, s.data(), s.size());
    b->len += s.size();
}

void rtmp_http_body_printf(rtmp_http_body_t *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        va_list args;
        va_start(args, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(reinterpret_cast<char *>(b->data) + b->len, room, fmt, args);
        va_end(args);
        if (n < 0) {
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        rtmp_http_body_reserve(b, (size_t)n + 1);
    }
}

void rtmp_http_body_json(rtmp_http_body_t *b, std::string_view s)
{
    rtmp_json_escape(s, [b](std::string_view piece) { rtmp_http_body_append(b, piece); });
}

// ---- content types and statuses ---------------------------------------------------------------

static bool rtmp_http_ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char *rtmp_http_content_type(std::string_view name)
{
    static constexpr struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".m3u8", "application/vnd.apple.mpegurl"},
        {".ts", "video/mp2t"},
        {".m4s", "video/iso.segment"},
        {".mp4", "video/mp4"},
        {".m4a", "audio/mp4"},
        {".aac", "audio/aac"},
        {".mpd", "application/dash+xml"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript"},
        {".vtt", "text/vtt"},
    };
    for (const auto &t : types) {
        if (rtmp_http_ends_with(name, t.ext)) {
            return t.type;
        }
    }
    return "application/octet-stream";
}

static const char *rtmp_http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

// ---- connections --------------------------------------------------------------------------------

static void rtmp_http_read_handler(rtmp_event_t *ev);
static void rtmp_http_write_handler(rtmp_event_t *ev);
static void rtmp_http_send(rtmp_http_conn_t *h);

static void rtmp_http_release(rtmp_http_conn_t *h)
{
    if (h->fd != -1) {
        close(h->fd);
        h->fd = -1;
    }
    if (h->body_owned) {
        rtmp_free(const_cast<u_char *>(h->body));
    }
    h->body = nullptr;
    h->body_owned = false;
    h->body_len = h->body_sent = 0;
    h->head_len = h->head_sent = 0;
    h->file_left = 0;
}

static void rtmp_http_close(rtmp_http_conn_t *h, const char *why)
{
    if (why) {
        rtmp_log_error(RTMP_LOG_INFO, &h->c->log, 0, "http: connection closed: %s (%u requests)",
                       why, (unsigned)h->requests);
    }
    rtmp_http_release(h);
    rtmp_connection_close(h->c);
}

void rtmp_http_init(rtmp_connection_t *c)
{
    rtmp_http_main_conf_t *hcf = rtmp_http_main_conf(rtmp_cycle);
    rtmp_stat_count(rtmp_stat_id::accepted_http);
    auto *h = rtmp_palloc<rtmp_http_conn_t>(c->pool);
    h->c = c;
    h->hcf = hcf;
    h->fd = -1;
    h->buf = static_cast<u_char *>(rtmp_pnalloc(c->pool, (size_t)hcf->max_header_size));
    h->started = rtmp_current_msec;
    c->data = h;
    c->read->handler = rtmp_http_read_handler;
    c->write->handler = rtmp_http_write_handler;
    c->read->log = &c->log;
    c->write->log = &c->log;
    if (rtmp_event_add_connection(c) != RTMP_OK) {
        rtmp_connection_close(c);
        return;
    }
    rtmp_event_add_timer(c->read, hcf->client_header_timeout);
}

static size_t rtmp_http_head_printf(rtmp_http_conn_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t rtmp_http_head_printf(rtmp_http_conn_t *h, const char *fmt, ...)
{
    size_t room = sizeof(h->head) - h->head_len;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(h->head + h->head_len, room, fmt, args);
    va_end(args);
    if (n > 0) {
        h->head_len += (size_t)n < room ? (size_t)n : room - 1;
    }
    return h->head_len;
}

static void rtmp_http_http_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

// The status line and the headers every response has; the caller adds its own, then
// rtmp_http_head_end().
static void rtmp_http_head_start(rtmp_http_conn_t *h, int status, const char *type, uint64_t length)
{
    char date[64];
    rtmp_http_http_date(rtmp_cached_time_sec, date, sizeof(date));
    h->status = status;
    h->length = length;
    h->head_len = 0;
    rtmp_http_head_printf(
        h, "HTTP/1.1 %d %s\r\nServer: " RTMP_NAME "/" RTMP_VERSION "\r\nDate: %s\r\n", status,
        rtmp_http_status_text(status), date);
    if (type) {
        rtmp_http_head_printf(h, "Content-Type: %s\r\n", type);
    }
    if (status != 204 && status != 304) {
        rtmp_http_head_printf(h, "Content-Length: %llu\r\n", (unsigned long long)length);
    }
    if (h->hcf->cors.len) {
        rtmp_http_head_printf(h,
                              "Access-Control-Allow-Origin: %.*s\r\n"
                              "Access-Control-Expose-Headers: Content-Length, Content-Range\r\n",
                              (int)h->hcf->cors.len, h->hcf->cors.data);
    }
}

static void rtmp_http_head_end(rtmp_http_conn_t *h)
{
    rtmp_http_head_printf(h, "Connection: %s\r\n\r\n", h->keep_alive ? "keep-alive" : "close");
}

static bool rtmp_http_is_head(const rtmp_http_conn_t *h)
{
    return h->have_req && h->req.method == rtmp_http_method::head;
}

// A response whose body is in memory: static text, or a heap buffer it takes over.
static void rtmp_http_respond(rtmp_http_conn_t *h, int status, const char *type, const u_char *body,
                              size_t len, bool owned, const char *extra)
{
    rtmp_http_head_start(h, status, type, len);
    if (extra) {
        rtmp_http_head_printf(h, "%s", extra);
    }
    rtmp_http_head_end(h);
    h->body = body;
    h->body_len = rtmp_http_is_head(h) || status == 204 ? 0 : len;
    h->body_owned = owned;
    if (owned && h->body_len == 0) {
        rtmp_free(const_cast<u_char *>(body));
        h->body = nullptr;
        h->body_owned = false;
    }
    h->state = rtmp_http_state::writing;
    rtmp_http_send(h);
}

static void rtmp_http_error(rtmp_http_conn_t *h, int status, const char *extra = nullptr)
{
    // a client that sent something we cannot frame is not trusted with the next request
    if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
        status == 505 || status == 500) {
        h->keep_alive = false;
    }
    int n = snprintf(h->text, sizeof(h->text), "%d %s\n", status, rtmp_http_status_text(status));
    rtmp_http_respond(h, status, "text/plain; charset=utf-8", reinterpret_cast<u_char *>(h->text),
                      (size_t)n, false, extra);
}

// Opens rel (a checked path: no empty, "." or ".." segment) below the root one segment at
// a time with O_NOFOLLOW, so neither a name nor a symbolic link leads outside it.
static int rtmp_http_open(const char *root, const char *rel, int *err)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir == -1) {
        *err = errno;
        return -1;
    }
    char seg[RTMP_HTTP_MAX_PATH + 1];
    size_t depth = 0;
    for (;;) {
        const char *slash = strchr(rel, '/');
        if (slash == nullptr) {
            break;
        }
        size_t n = (size_t)(slash - rel);
        if (++depth > RTMP_HTTP_MAX_DEPTH || n == 0) {
            close(dir);
            *err = ENOENT;
            return -1;
        }
        memcpy(seg, rel, n);
        seg[n] = '\0';
        int next = openat(dir, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *err = errno;
        close(dir);
        if (next == -1) {
            return -1;
        }
        dir = next;
        rel = slash + 1;
    }
    int fd = -1;
    if (*rel == '\0') {
        *err = ENOENT; // a directory: nothing to list
    } else {
        fd = openat(dir, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        *err = errno;
    }
    close(dir);
    return fd;
}

// RFC 9110 13.1.2 and 13.1.3: If-None-Match (weak comparison) wins over
// If-Modified-Since, which is honoured when it is exactly our Last-Modified.
static bool rtmp_http_not_modified(const rtmp_http_request_t *r, std::string_view etag,
                                   std::string_view date)
{
    if (!r->if_none_match.empty()) {
        std::string_view list = r->if_none_match;
        while (!list.empty()) {
            size_t comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
                item.remove_prefix(1);
            }
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
                item.remove_suffix(1);
            }
            if (item.substr(0, 2) == "W/") {
                item.remove_prefix(2);
            }
            if (item == "*" || item == etag) {
                return true;
            }
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
        return false;
    }
    return !r->if_modified_since.empty() && r->if_modified_since == date;
}

static void rtmp_http_file(rtmp_http_conn_t *h, const char *rel)
{
    rtmp_http_main_conf_t *hcf = h->hcf;
    int err = 0;
    int fd = rtmp_http_open(reinterpret_cast<const char *>(hcf->hls_root.data), rel, &err);
    if (fd == -1) {
        int status = err == ENOENT || err == ENOTDIR || err == ELOOP ? 404
                     : err == EACCES                                 ? 403
                     : err == EMFILE || err == ENFILE                ? 503
                                                                     : 500;
        if (status >= 500) {
            rtmp_log_error(RTMP_LOG_ERR, &h->c->log, err, "http: cannot open \"%s/%s\"",
                           hcf->hls_root.data, rel);
        }
        rtmp_http_error(h, status);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        rtmp_http_error(h, 404);
        return;
    }
    uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
    char etag[48], date[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)size);
    rtmp_http_http_date(st.st_mtime, date, sizeof(date));
    int status = 200;
    if (rtmp_http_not_modified(&h->req, etag, date)) {
        status = 304;
    } else if (h->req.has_range) {
        rtmp_int_t rc = rtmp_http_parse_range(h->req.range, size, &first, &last);
        if (rc == RTMP_ERROR) {
            close(fd);
            char extra[64];
            snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n",
                     (unsigned long long)size);
            rtmp_http_error(h, 416, extra);
            return;
        }
        status = rc == RTMP_OK ? 206 : 200;
    }
    if (status != 206) {
        first = 0;
        last = size ? size - 1 : 0;
    }
    uint64_t length = size && status != 304 ? last - first + 1 : 0;

    std::string_view name(rel);
    rtmp_http_head_start(h, status, rtmp_http_content_type(name), length);
    if (status == 206) {
        rtmp_http_head_printf(h, "Content-Range: bytes %llu-%llu/%llu\r\n",
                              (unsigned long long)first, (unsigned long long)last,
                              (unsigned long long)size);
    }
    // playlists change in place; segments are written once under a new name
    if (rtmp_http_ends_with(name, ".m3u8") || rtmp_http_ends_with(name, ".mpd")) {
        rtmp_http_head_printf(h, "Cache-Control: no-cache\r\n");
    } else {
        rtmp_http_head_printf(h, "Cache-Control: max-age=%llu\r\n",
                              (unsigned long long)(hcf->segment_max_age / 1000));
    }
    rtmp_http_head_printf(h, "Accept-Ranges: bytes\r\nLast-Modified: %s\r\nETag: %s\r\n", date,
                          etag);
    rtmp_http_head_end(h);

    if (rtmp_http_is_head(h) || length == 0 || status == 304) {
        close(fd);
    } else {
        h->fd = fd;
        h->file_off = (off_t)first;
        h->file_left = length;
    }
    h->state = rtmp_http_state::writing;
    rtmp_http_send(h);
}

static void rtmp_http_handle(rtmp_http_conn_t *h)
{
    rtmp_http_request_t *r = &h->req;
    rtmp_http_main_conf_t *hcf = h->hcf;
    h->keep_alive = r->keep_alive && h->requests + 1 < (uint32_t)hcf->keepalive_requests &&
                    !rtmp_sig_quit && !rtmp_sig_terminate;
    static constexpr const char *allow = "Allow: GET, HEAD, OPTIONS\r\n";

    if (r->method == rtmp_http_method::other) {
        rtmp_http_error(h, 405, allow);
        return;
    }
    if (r->method == rtmp_http_method::options) {
        static char extra[256];
        snprintf(extra, sizeof(extra), "%s%s", allow,
                 hcf->cors.len && !r->ac_req_method.empty()
                     ? "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                       "Access-Control-Allow-Headers: Range\r\n"
                       "Access-Control-Max-Age: 86400\r\n"
                     : "");
        rtmp_http_respond(h, 204, nullptr, nullptr, 0, false, extra);
        return;
    }

    std::string_view path(r->path, r->path_len);
    std::string_view loc = hcf->hls_location.sv();
    if (path.size() > loc.size() && path.substr(0, loc.size()) == loc) {
        rtmp_http_file(h, r->path + loc.size());
        return;
    }
    if ((path == "/stat" && hcf->stat) || (path == "/metrics" && hcf->metrics)) {
        rtmp_http_body_t b = {};
        bool json = path == "/stat";
        if (json) {
            rtmp_http_stat_json(&b);
        } else {
            rtmp_http_stat_metrics(&b);
        }
        rtmp_http_respond(h, 200,
                          json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8",
                          b.data, b.len, true, "Cache-Control: no-cache\r\n");
        return;
    }
    rtmp_http_error(h, 404);
}

static void rtmp_http_access_log(rtmp_http_conn_t *h)
{
    if (!h->hcf->access_log) {
        return;
    }
    if (h->have_req) {
        rtmp_log_error(RTMP_LOG_INFO, &h->c->log, 0, "http: \"%.*s %.*s HTTP/1.%u\" %d %llu %llums",
                       (int)h->req.method_name.size(), h->req.method_name.data(),
                       (int)h->req.target.size(), h->req.target.data(), h->req.version % 10,
                       h->status, (unsigned long long)h->length,
                       (unsigned long long)(rtmp_current_msec - h->started));
    } else {
        rtmp_log_error(RTMP_LOG_INFO, &h->c->log, 0, "http: bad request: %s: %d",
                       h->req.error ? h->req.error : "?", h->status);
    }
}

// The response is out: the next request, or the end of the connection.
static void rtmp_http_finalize(rtmp_http_conn_t *h)
{
    rtmp_http_access_log(h);
    rtmp_stat_http_status(h->status);
    rtmp_event_del_timer(h->c->write);
    rtmp_http_release(h);
    h->requests++;
    if (!h->keep_alive) {
        // let the client read it all before it sees our FIN; drop what it still sends
        h->state = rtmp_http_state::lingering;
        rtmp_connection_shutdown_write(h->c);
        rtmp_event_add_timer(h->c->read, RTMP_HTTP_LINGER);
        rtmp_event_post(h->c->read);
        return;
    }
    size_t used = h->have_req ? h->req.header_len : h->len;
    h->have_req = false;
    if (used < h->len) {
        memmove(h->buf, h->buf + used, h->len - used);
    }
    h->len -= used < h->len ? used : h->len;
    h->state = rtmp_http_state::reading;
    h->started = rtmp_current_msec;
    rtmp_event_add_timer(h->c->read,
                         h->len ? h->hcf->client_header_timeout : h->hcf->keepalive_timeout);
    // a pipelined request may wait in the buffer, and what arrived while we wrote was
    // signalled once only (edge-triggered): read on at a safe point
    rtmp_event_post(h->c->read);
}

// A piece of the file through a buffer: TLS encrypts in user space, so no sendfile().
// Bytes sent, RTMP_AGAIN, RTMP_ERROR, or RTMP_DONE when the connection was closed.
static ssize_t rtmp_http_send_file_copy(rtmp_http_conn_t *h)
{
    u_char piece[16384];
    size_t want = h->file_left < sizeof(piece) ? (size_t)h->file_left : sizeof(piece);
    ssize_t got = pread(h->fd, piece, want, h->file_off);
    if (got <= 0) {
        if (got < 0) {
            rtmp_log_error(RTMP_LOG_ERR, &h->c->log, errno, "pread() failed");
        }
        rtmp_http_close(h, got == 0 ? "the file became shorter while it was sent"
                                    : "reading the file failed");
        return RTMP_DONE;
    }
    struct iovec iov = {piece, (size_t)got};
    ssize_t n = h->c->send_iov(h->c, &iov, 1);
    if (n > 0) {
        h->file_off += n;
        h->file_left -= (uint64_t)n;
    }
    return n;
}

static void rtmp_http_send(rtmp_http_conn_t *h)
{
    rtmp_connection_t *c = h->c;
    size_t budget = RTMP_HTTP_SEND_CAP;
    for (;;) {
        size_t head_left = h->head_len - h->head_sent;
        size_t body_left = h->body_len - h->body_sent;
        ssize_t n;
        if (head_left || body_left) {
            struct iovec iov[2];
            int cnt = 0;
            if (head_left) {
                iov[cnt++] = {h->head + h->head_sent, head_left};
            }
            if (body_left) {
                iov[cnt++] = {const_cast<u_char *>(h->body) + h->body_sent, body_left};
            }
            n = c->send_iov(c, iov, cnt);
            if (n > 0) {
                size_t k = (size_t)n < head_left ? (size_t)n : head_left;
                h->head_sent += k;
                h->body_sent += (size_t)n - k;
            }
        } else if (h->file_left && c->tls) {
            n = rtmp_http_send_file_copy(h);
            if (n == RTMP_DONE) {
                return; // closed
            }
        } else if (h->file_left) {
            size_t piece = h->file_left < RTMP_HTTP_SENDFILE_PIECE ? (size_t)h->file_left
                                                                   : RTMP_HTTP_SENDFILE_PIECE;
            n = sendfile(c->fd, h->fd, &h->file_off, piece);
            if (n > 0) {
                c->sent += (uint64_t)n;
                h->file_left -= (uint64_t)n;
            } else if (n == 0) {
                rtmp_http_close(h, "the file became shorter while it was sent");
                return;
            } else if (errno == EAGAIN) {
                c->write->ready = 0;
                n = RTMP_AGAIN;
            } else if (errno == EINTR) {
                continue;
            } else {
                rtmp_log_error(RTMP_LOG_INFO, &c->log, errno, "sendfile() failed");
                n = RTMP_ERROR;
            }
        } else if (!rtmp_connection_flushed(c)) {
            // TLS holds the last record back: EPOLLOUT writes it, then this finishes
            rtmp_event_add_timer(c->write, h->hcf->send_timeout);
            return;
        } else {
            rtmp_http_finalize(h);
            return;
        }

        if (n == RTMP_AGAIN) {
            rtmp_event_add_timer(c->write, h->hcf->send_timeout);
            return;
        }
        if (n < 0) {
            rtmp_http_close(h, "send failed");
            return;
        }
        if (n > 0 && c->write->timer_set) {
            rtmp_event_add_timer(c->write, h->hcf->send_timeout); // progress: a new deadline
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        if (budget == 0) {
            rtmp_event_post(c->write); // others get their turn first
            return;
        }
    }
}

static void rtmp_http_write_handler(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *h = static_cast<rtmp_http_conn_t *>(c->data);
    if (ev->timedout) {
        ev->timedout = 0;
        rtmp_http_close(h, "send_timeout");
        return;
    }
    if (h->state == rtmp_http_state::writing) {
        rtmp_http_send(h);
    }
}

static void rtmp_http_linger(rtmp_http_conn_t *h)
{
    u_char scratch[4096];
    for (;;) {
        ssize_t n = h->c->recv(h->c, scratch, sizeof(scratch));
        if (n == RTMP_AGAIN) {
            return;
        }
        if (n <= 0 || (h->lingered += (size_t)n) > RTMP_HTTP_LINGER_MAX) {
            rtmp_http_close(h, nullptr);
            return;
        }
    }
}

static void rtmp_http_read_handler(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *h = static_cast<rtmp_http_conn_t *>(c->data);

    if (c->close) {
        rtmp_http_close(h, "worker shutting down");
        return;
    }
    if (h->state == rtmp_http_state::lingering) {
        if (ev->timedout) {
            rtmp_http_close(h, nullptr);
            return;
        }
        rtmp_http_linger(h);
        return;
    }
    if (h->state != rtmp_http_state::reading) {
        return; // read once the response is out
    }
    if (ev->timedout) {
        ev->timedout = 0;
        if (h->len == 0) {
            rtmp_http_close(h, nullptr); // keepalive_timeout: an idle client
            return;
        }
        h->keep_alive = false;
        h->have_req = false;
        h->req.error = "client_header_timeout";
        rtmp_http_error(h, 408);
        return;
    }

    size_t max = (size_t)h->hcf->max_header_size;
    for (;;) {
        bool eof = false, again = false;
        if (h->len < max) {
            size_t before = h->len;
            ssize_t n = c->recv(c, h->buf + h->len, max - h->len);
            if (n > 0) {
                h->len += (size_t)n;
                if (before == 0) { // a new request began: its head has client_header_timeout
                    h->started = rtmp_current_msec;
                    rtmp_event_add_timer(c->read, h->hcf->client_header_timeout);
                }
            } else if (n == 0) {
                eof = true;
            } else if (n == RTMP_AGAIN) {
                again = true;
            } else if (rtmp_ssl_told_plain_http(c)) {
                // answered by the TLS layer (which logged why), counted and logged here
                h->status = 400;
                h->req.error = "plain HTTP on an HTTPS address";
                rtmp_http_access_log(h);
                rtmp_stat_http_status(400);
                rtmp_http_close(h, nullptr);
                return;
            } else {
                rtmp_http_close(h, "recv failed");
                return;
            }
        }
        if (h->len == 0) {
            if (eof) {
                rtmp_http_close(h, nullptr); // closed between requests: the usual end
            }
            return;
        }
        rtmp_int_t rc = rtmp_http_parse_request({h->buf, h->len}, max, &h->req);
        if (rc == RTMP_OK) {
            h->have_req = true;
            rtmp_event_del_timer(c->read);
            rtmp_http_handle(h);
            return;
        }
        if (rc == RTMP_ERROR) {
            h->have_req = false;
            h->keep_alive = false;
            rtmp_event_del_timer(c->read);
            rtmp_http_error(h, h->req.status);
            return;
        }
        if (eof) {
            rtmp_http_close(h, "the client closed in the middle of a request");
            return;
        }
        if (again) {
            return;
        }
    }
}

// Once a second: a worker shutting down closes its idle keep-alive connections, which
// would otherwise hold it up for keepalive_timeout.
static void rtmp_http_tick(rtmp_event_t *ev)
{
    if (rtmp_sig_quit || rtmp_sig_terminate) {
        rtmp_queue_t *q = rtmp_connection_active();
        for (rtmp_queue_t *l = q->next; l != q;) {
            rtmp_connection_t *c = rtmp_queue_data(l, rtmp_connection_t, queue);
            l = l->next;
            if (c->listening && c->listening->handler == rtmp_http_init) {
                auto *h = static_cast<rtmp_http_conn_t *>(c->data);
                if (h->state == rtmp_http_state::reading && h->len == 0) {
                    rtmp_http_close(h, nullptr);
                }
            }
        }
    }
    rtmp_event_add_timer(ev, 1000);
}
