// HTTP/1.1 request heads without I/O (RFC 9112): request line, header fields, path, Range.
#include "http/rtmp_http_parse.h"

// tchar of RFC 9110 5.6.2
static bool rtmp_http_tchar(u_char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
        return true;
    }
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}

static bool rtmp_http_ieq(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); i++) {
        char x = a[i], y = b[i];
        x = (x >= 'A' && x <= 'Z') ? (char)(x + 32) : x;
        y = (y >= 'A' && y <= 'Z') ? (char)(y + 32) : y;
        if (x != y) {
            return false;
        }
    }
    return true;
}

static std::string_view rtmp_http_trim(std::string_view v)
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

static int rtmp_http_hex(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static rtmp_int_t rtmp_http_fail(rtmp_http_request_t *r, int status, const char *why)
{
    r->status = status;
    r->error = why;
    return RTMP_ERROR;
}

int rtmp_http_decode_path(std::string_view raw, char *out, size_t cap, size_t *len,
                          const char **why)
{
    size_t n = 0;
    *why = nullptr;
    if (raw.empty() || raw.front() != '/') {
        *why = "the path does not start with '/'";
        return 400;
    }
    for (size_t i = 0; i < raw.size(); i++) {
        u_char ch = (u_char)raw[i];
        if (ch == '%') {
            int hi = i + 2 < raw.size() ? rtmp_http_hex((u_char)raw[i + 1]) : -1;
            int lo = hi >= 0 ? rtmp_http_hex((u_char)raw[i + 2]) : -1;
            if (lo < 0) {
                *why = "bad percent-encoding";
                return 400;
            }
            ch = (u_char)(hi * 16 + lo);
            i += 2;
        }
        if (rtmp_is_control(ch) || ch == '\\') {
            *why = "a NUL, control byte or backslash in the path";
            return 400;
        }
        if (n + 1 >= cap) {
            *why = "the path is too long";
            return 414;
        }
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    *len = n;

    // segments of the decoded path: a file is only ever opened below its root
    std::string_view p(out, n);
    size_t pos = 1;
    while (pos <= p.size()) {
        size_t end = p.find('/', pos);
        if (end == std::string_view::npos) {
            end = p.size();
        }
        std::string_view seg = p.substr(pos, end - pos);
        if ((seg.empty() && end < p.size()) || seg == "." || seg == "..") {
            *why = "an empty, \".\" or \"..\" path segment";
            return 400;
        }
        pos = end + 1;
    }
    return 0;
}

// The request line: METHOD SP request-target SP HTTP-version.
static rtmp_int_t rtmp_http_request_line(std::string_view line, rtmp_http_request_t *r)
{
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return rtmp_http_fail(r, 400, "malformed request line");
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || target.empty()) {
        return rtmp_http_fail(r, 400, "malformed request line");
    }
    for (char ch : method) {
        if (!rtmp_http_tchar((u_char)ch)) {
            return rtmp_http_fail(r, 400, "bad method");
        }
    }
    r->method_name = method;
    r->method = method == "GET"       ? rtmp_http_method::get
                : method == "HEAD"    ? rtmp_http_method::head
                : method == "OPTIONS" ? rtmp_http_method::options
                                      : rtmp_http_method::other;

    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return rtmp_http_fail(r, 400, "bad HTTP version");
    }
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
        return rtmp_http_fail(r, 505, "unsupported HTTP version");
    }
    r->version = version[7] == '1' ? 11 : 10;
    r->keep_alive = r->version == 11;

    r->target = target;
    for (char ch : target) {
        if ((u_char)ch <= 0x20 || (u_char)ch >= 0x7f || ch == '#') {
            return rtmp_http_fail(r, 400, "bad byte in the request target");
        }
    }
    // absolute-form (RFC 9112 3.2.2): keep the path; the authority does not matter here
    std::string_view path = target;
    if (path.size() > 7 && rtmp_http_ieq(path.substr(0, 7), "http://")) {
        size_t slash = path.find('/', 7);
        path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    } else if (path == "*" && r->method == rtmp_http_method::options) {
        path = "/";
    }
    size_t q = path.find('?');
    if (q != std::string_view::npos) {
        path = path.substr(0, q);
    }
    const char *why;
    int status = rtmp_http_decode_path(path, r->path, sizeof(r->path), &r->path_len, &why);
    if (status) {
        return rtmp_http_fail(r, status, why);
    }
    return RTMP_OK;
}

static bool rtmp_http_has_token(std::string_view list, std::string_view token)
{
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = rtmp_http_trim(list.substr(0, comma));
        if (rtmp_http_ieq(item, token)) {
            return true;
        }
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return false;
}

static rtmp_int_t rtmp_http_header(std::string_view line, rtmp_http_request_t *r, bool *host,
                                   bool *length)
{
    if (line.front() == ' ' || line.front() == '\t') {
        return rtmp_http_fail(r, 400, "obsolete header line folding");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return rtmp_http_fail(r, 400, "malformed header line");
    }
    std::string_view name = line.substr(0, colon);
    for (char ch : name) {
        if (!rtmp_http_tchar((u_char)ch)) {
            return rtmp_http_fail(r, 400, "bad header name"); // whitespace before ':' too
        }
    }
    std::string_view value = rtmp_http_trim(line.substr(colon + 1));
    for (char ch : value) {
        if (((u_char)ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return rtmp_http_fail(r, 400, "bad byte in a header value");
        }
    }

    if (rtmp_http_ieq(name, "Host")) {
        if (*host) {
            return rtmp_http_fail(r, 400, "more than one Host");
        }
        *host = true;
    } else if (rtmp_http_ieq(name, "Connection")) {
        if (rtmp_http_has_token(value, "close")) {
            r->keep_alive = false;
        } else if (rtmp_http_has_token(value, "keep-alive")) {
            r->keep_alive = true;
        }
    } else if (rtmp_http_ieq(name, "Range")) {
        if (r->has_range) {
            return rtmp_http_fail(r, 400, "more than one Range");
        }
        r->has_range = true;
        r->range = value;
    } else if (rtmp_http_ieq(name, "Access-Control-Request-Method")) {
        r->ac_req_method = value;
    } else if (rtmp_http_ieq(name, "If-None-Match")) {
        r->if_none_match = value;
    } else if (rtmp_http_ieq(name, "If-Modified-Since")) {
        r->if_modified_since = value;
    } else if (rtmp_http_ieq(name, "Content-Length")) {
        int64_t v = rtmp_atoi(value);
        if (v < 0 || *length) {
            return rtmp_http_fail(r, 400, "bad or repeated Content-Length");
        }
        *length = true;
        if (v > 0) {
            return rtmp_http_fail(r, 413, "a request body");
        }
    } else if (rtmp_http_ieq(name, "Transfer-Encoding")) {
        return rtmp_http_fail(r, 413, "a request body");
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_http_parse_request(std::span<const u_char> in, size_t max, rtmp_http_request_t *r)
{
    r->method = rtmp_http_method::other;
    r->method_name = r->target = r->range = r->ac_req_method = {};
    r->if_none_match = r->if_modified_since = {};
    r->version = 11;
    r->keep_alive = false;
    r->has_range = false;
    r->header_len = 0;
    r->status = 0;
    r->error = nullptr;
    r->path_len = 0;
    r->path[0] = '\0';

    std::string_view all(reinterpret_cast<const char *>(in.data()), in.size());
    // RFC 9112 2.2: empty lines before the request line are ignored
    size_t start = 0;
    while (start < all.size() && (all[start] == '\r' || all[start] == '\n')) {
        start++;
    }
    if (start > 4) {
        return rtmp_http_fail(r, 400, "empty lines before the request");
    }
    std::string_view head = all.substr(start);
    if (head.size() > max) {
        head = head.substr(0, max);
    }

    // where the head ends: an empty line, CRLF or bare LF (RFC 9112 2.2)
    size_t end = std::string_view::npos, body = 0;
    for (size_t i = head.find('\n'); i != std::string_view::npos; i = head.find('\n', i + 1)) {
        if (i + 1 < head.size() && head[i + 1] == '\n') {
            end = i + 1;
            body = i + 2;
            break;
        }
        if (i + 2 < head.size() && head[i + 1] == '\r' && head[i + 2] == '\n') {
            end = i + 1;
            body = i + 3;
            break;
        }
    }
    // junk (an RTMP handshake, TLS) is refused before the limit is reached
    size_t first_lf = head.find('\n');
    std::string_view line0 = head.substr(0, first_lf);
    for (size_t i = 0; i < line0.size(); i++) {
        u_char ch = (u_char)line0[i];
        if ((ch < 0x20 && !(ch == '\r' && i + 1 == line0.size())) || ch >= 0x7f) {
            return rtmp_http_fail(r, 400,
                                  (u_char)head[0] == 22 // a TLS record: ClientHello
                                      ? "not an HTTP request (TLS: https:// is served on listen "
                                        "addresses marked ssl)"
                                      : "not an HTTP request");
        }
    }
    if (end == std::string_view::npos) {
        if (start + head.size() >= max) {
            return first_lf == std::string_view::npos
                       ? rtmp_http_fail(r, 414, "request line too long")
                       : rtmp_http_fail(r, 431, "request headers too large");
        }
        return RTMP_AGAIN;
    }
    r->header_len = start + body;

    bool host = false, length = false;
    std::string_view rest = head.substr(0, end);
    bool first = true;
    while (!rest.empty()) {
        size_t lf = rest.find('\n');
        std::string_view line = rest.substr(0, lf);
        rest = rest.substr(lf + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find('\r') != std::string_view::npos) {
            return rtmp_http_fail(r, 400, "bare CR");
        }
        if (first) {
            if (rtmp_http_request_line(line, r) != RTMP_OK) {
                return RTMP_ERROR;
            }
            first = false;
            continue;
        }
        if (line.empty() || rtmp_http_header(line, r, &host, &length) != RTMP_OK) {
            return line.empty() ? rtmp_http_fail(r, 400, "malformed header line") : RTMP_ERROR;
        }
    }
    if (r->version == 11 && !host) {
        return rtmp_http_fail(r, 400, "HTTP/1.1 request without Host");
    }
    return RTMP_OK;
}

// Decimal digits only; false on none or on overflow.
static bool rtmp_http_number(std::string_view v, uint64_t *out)
{
    if (v.empty() || v.size() > 19) {
        return false;
    }
    uint64_t n = 0;
    for (char ch : v) {
        if (ch < '0' || ch > '9') {
            return false;
        }
        n = n * 10 + (uint64_t)(ch - '0');
    }
    *out = n;
    return true;
}

rtmp_int_t rtmp_http_parse_range(std::string_view v, uint64_t size, uint64_t *first, uint64_t *last)
{
    v = rtmp_http_trim(v);
    if (v.size() < 6 || !rtmp_http_ieq(v.substr(0, 6), "bytes=")) {
        return RTMP_DECLINED;
    }
    v = rtmp_http_trim(v.substr(6));
    if (v.find(',') != std::string_view::npos) {
        return RTMP_DECLINED; // several ranges: the whole file is a valid answer
    }
    size_t dash = v.find('-');
    if (dash == std::string_view::npos) {
        return RTMP_DECLINED;
    }
    std::string_view a = v.substr(0, dash), b = v.substr(dash + 1);
    uint64_t x, y;
    if (a.empty()) { // suffix: the last y bytes
        if (!rtmp_http_number(b, &y)) {
            return RTMP_DECLINED;
        }
        if (y == 0 || size == 0) {
            return RTMP_ERROR;
        }
        *first = y >= size ? 0 : size - y;
        *last = size - 1;
        return RTMP_OK;
    }
    if (!rtmp_http_number(a, &x)) {
        return RTMP_DECLINED;
    }
    if (b.empty()) {
        y = UINT64_MAX;
    } else if (!rtmp_http_number(b, &y) || y < x) {
        return RTMP_DECLINED;
    }
    if (x >= size) {
        return RTMP_ERROR;
    }
    *first = x;
    *last = y >= size ? size - 1 : y;
    return RTMP_OK;
}
