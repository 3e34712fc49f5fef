// HTTP/1.1 request heads, I/O-free: the request line and headers, the path, Range.
#pragma once

#include "core/rtmp_core.h"

constexpr size_t RTMP_HTTP_MAX_PATH = 2048; // decoded path bytes

enum class rtmp_http_method : uint8_t { get, head, options, other };

struct rtmp_http_request_t {
    rtmp_http_method method;
    std::string_view method_name; // as sent; views point into the parsed input
    std::string_view target;      // the request-target as sent, for the log
    unsigned version;             // 10 or 11
    bool keep_alive;              // the version's default, or what Connection said
    bool has_range;
    std::string_view range;         // the Range header's value
    std::string_view ac_req_method; // Access-Control-Request-Method (CORS preflight)
    std::string_view if_none_match;
    std::string_view if_modified_since;
    size_t header_len; // bytes of the whole head, terminating empty line included
    int status;        // after RTMP_ERROR: the response the client gets
    const char *error; // after RTMP_ERROR: why, for the log
    size_t path_len;
    char path[RTMP_HTTP_MAX_PATH + 1]; // percent-decoded, checked, NUL-terminated
};

// Parses the request head at the start of `in`, which may hold more (pipelined requests).
// RTMP_OK: r is filled and r->header_len bytes belong to it. RTMP_AGAIN: incomplete, read
// more. RTMP_ERROR: r->status (400, 413, 414, 431, 505) and r->error say what is wrong;
// with `in` as long as `max` and still no complete head it is 414 or 431. Requests with a
// body are refused (413): nothing served here takes one.
[[nodiscard]] rtmp_int_t rtmp_http_parse_request(std::span<const u_char> in, size_t max,
                                                 rtmp_http_request_t *r);

// Percent-decodes the path of a request-target (the part before '?') into out (cap bytes
// with room for a NUL) and checks it: it starts with '/', has no empty, "." or ".."
// segment, no NUL, backslash or control byte, before or after decoding. 0 when good, else
// the status to answer (400, or 414 when it does not fit).
[[nodiscard]] int rtmp_http_decode_path(std::string_view raw, char *out, size_t cap, size_t *len,
                                        const char **why);

// A Range header against a representation of `size` bytes (RFC 9110 14.1.2). RTMP_OK: send
// bytes *first..*last inclusive (206). RTMP_DECLINED: ignore the header and send it all
// (another unit, several ranges, bad syntax). RTMP_ERROR: not satisfiable (416).
[[nodiscard]] rtmp_int_t rtmp_http_parse_range(std::string_view v, uint64_t size, uint64_t *first,
                                               uint64_t *last);
