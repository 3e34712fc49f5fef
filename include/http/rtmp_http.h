// The built-in HTTP/1.1 listener: HLS files, /stat and /metrics, in the workers' own loops.
#pragma once

#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_server_module.h"

struct rtmp_http_main_conf_t {
    rtmp_listening_t listen[RTMP_MAX_LISTEN];
    size_t nlisten;
    rtmp_str_t hls_root;     // directory served under hls_location
    rtmp_str_t hls_location; // URL prefix, "/hls/"
    rtmp_int_t stat;         // /stat
    rtmp_int_t metrics;      // /metrics
    rtmp_str_t cors;         // Access-Control-Allow-Origin; empty: no CORS headers
    rtmp_msec_t keepalive_timeout;
    rtmp_msec_t client_header_timeout;
    rtmp_msec_t send_timeout;
    rtmp_int_t max_header_size; // request line and headers together
    rtmp_int_t keepalive_requests;
    rtmp_msec_t segment_max_age; // Cache-Control of segments
    rtmp_int_t access_log;       // a line per request at info level
    rtmp_str_t ssl_certificate;  // for listen addresses marked "ssl" (HTTPS)
    rtmp_str_t ssl_certificate_key;
};

extern rtmp_module_t rtmp_http_module;

inline rtmp_http_main_conf_t *rtmp_http_main_conf(rtmp_cycle_t *cycle)
{
    return static_cast<rtmp_http_main_conf_t *>(cycle->main_conf[rtmp_http_module.index]);
}

// The http block's listen addresses, for the cycle to open with the rtmp servers'.
const rtmp_listening_t *rtmp_http_listening(rtmp_cycle_t *cycle, size_t *n);

// Takes a freshly accepted connection through its HTTP requests.
void rtmp_http_init(rtmp_connection_t *c);

// Content-Type for a file name, by its extension.
const char *rtmp_http_content_type(std::string_view name);

// A growable response body on the heap (stat, metrics). Appends never fail: out of
// memory is fatal like everywhere else.
struct rtmp_http_body_t {
    u_char *data;
    size_t len;
    size_t cap;
};
void rtmp_http_body_append(rtmp_http_body_t *b, std::string_view s);
void rtmp_http_body_printf(rtmp_http_body_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Appends s as the inside of a JSON string (quotes not included).
void rtmp_http_body_json(rtmp_http_body_t *b, std::string_view s);

// /stat and /metrics: the whole server, every worker's slot (rtmp/rtmp_stat.h) merged.
void rtmp_http_stat_json(rtmp_http_body_t *b);
void rtmp_http_stat_metrics(rtmp_http_body_t *b);
