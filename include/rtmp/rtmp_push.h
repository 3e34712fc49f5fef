// Push: a stream published here republished to other RTMP servers, with us as their client.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

#include <sys/socket.h>

typedef struct rtmp_push_target_s rtmp_push_target_t;

extern rtmp_module_t rtmp_push_module;

constexpr size_t RTMP_PUSH_MAX_URL = 1024;

// One `push` URL as configured: rtmp[s]://HOST[:PORT]/APP[/NAME][?QUERY], where HOST is an
// IPv4 literal, a bracketed IPv6 literal, "localhost" (127.0.0.1) or a name resolved here,
// when the configuration is read, so a worker never waits on DNS. APP and NAME may hold
// ${name}, ${app} and ${args.KEY}.
// Addresses kept of a name that resolves to several, tried in turn until one connects.
constexpr int RTMP_PUSH_URL_ADDRS = 4;

struct rtmp_push_addr_t {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct rtmp_push_url_t {
    rtmp_push_addr_t addrs[RTMP_PUSH_URL_ADDRS]; // IPv4 first, as "localhost" is
    int naddrs;
    bool tls;           // rtmps://
    char hostname[256]; // the host alone, for TLS's name check and SNI
    bool literal;       // the host is an address, not a name
    // why the name did not resolve when the configuration was read, when that may pass (a
    // DNS server not answering): the URL is kept, its connects fail until a reload
    const char *unresolved;
    char host[264];   // "HOST:PORT" as in the URL, for tcUrl
    rtmp_str_t url;   // as written
    char shown[600];  // for the log: as written up to the application, the rest masked
                      // (a query holds secrets, and services take the stream key as NAME)
    rtmp_str_t app;   // template
    rtmp_str_t name;  // template with the query; empty: the published name
    rtmp_str_t query; // without the '?'; empty: none
};

struct rtmp_push_url_list_t {
    rtmp_push_url_t *urls;
    rtmp_int_t n; // RTMP_CONF_UNSET: inherited from the outer block
};

// A directive setter for "URL" or ( "URL", ... ) into the rtmp_push_url_list_t at the
// directive's offset, each URL checked whole here, so a typo fails at startup.
[[nodiscard]] const char *rtmp_push_conf_urls(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                              config_setting_t *s, void *conf);

// Parses `url` into *u (strings pointing into `url`, which must outlive u); nullptr when it
// is good, else why it is not.
[[nodiscard]] const char *rtmp_push_parse_url(std::string_view url, rtmp_push_url_t *u);

// Expands ${name}, ${app} and ${args.KEY} (KEY's value in the query string `args`, or
// nothing) in `tmpl`; false when the result does not fit in `len` or a variable is unknown.
[[nodiscard]] bool rtmp_push_expand(std::string_view tmpl, std::string_view app,
                                    std::string_view name, std::string_view args, char *out,
                                    size_t len);

// A URL's names for one stream: the remote application, the remote stream name with its
// query, and the tcUrl. Pushes and pulls both fill them from their URLs.
struct rtmp_push_names_t {
    char app[RTMP_MAX_NAME + 1];
    char name[RTMP_MAX_NAME + RTMP_MAX_ARGS + 2];
    char tc_url[RTMP_MAX_NAME + 280];
};

// Expands u's templates for the local stream app/name?args; false when a name does not fit.
[[nodiscard]] bool rtmp_push_url_names(const rtmp_push_url_t *u, std::string_view app,
                                       std::string_view name, std::string_view args,
                                       rtmp_push_names_t *out);

// One push target as statistics see it. `target` is the tcUrl (rtmp://HOST/APP): the stream
// name, where services put their stream keys, is left out.
struct rtmp_push_stat_t {
    const char *target;
    const char *state; // "publishing", "connecting", "waiting" (back-off) or "failed"
    rtmp_msec_t since; // publishing since, in the cached clock; 0 when not publishing
    uint64_t bytes;    // sent over every connection so far
    uint32_t reconnects;
    const char *error; // the last failure, "" when none
};

// Calls cb for every push target of the stream app/name published in this worker.
void rtmp_push_stat(const rtmp_conf_app_t *app, std::string_view name,
                    void (*cb)(const rtmp_push_stat_t *t, void *data), void *data);

// The target answered NetStream.Publish.Start on stream st of session s: media may flow.
[[nodiscard]] rtmp_int_t rtmp_push_publishing(rtmp_push_target_t *t, rtmp_session_t *s,
                                              rtmp_stream_t *st);

// The target refused or broke the protocol: why, for the log, before the session closes.
void rtmp_push_failed(rtmp_push_target_t *t, const char *why);
// Its session closes for `why` (a timeout, the target closing): the failure's reason, unless
// it was publishing or a more precise one was given.
void rtmp_push_closing(rtmp_push_target_t *t, const char *why);
