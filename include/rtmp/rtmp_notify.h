// The notify module: HTTP callbacks (on_connect, on_publish, on_play, on_update, *_done) that
// let another service allow, refuse or redirect clients, as nginx-rtmp's notify module does.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

constexpr size_t RTMP_NOTIFY_MAX_URL = 1024;    // longest callback URL accepted
constexpr size_t RTMP_NOTIFY_MAX_BODY = 8192;   // encoded arguments of one callback
constexpr size_t RTMP_NOTIFY_MAX_REPLY = 65536; // response body bytes read (and discarded)

enum class rtmp_notify_call : uint8_t {
    connect,
    publish,
    play,
    publish_done,
    play_done,
    done,
    update,
    record_done,
};
constexpr size_t RTMP_NOTIFY_CALLS = 8;

struct rtmp_notify_app_conf_t {
    rtmp_str_t url[RTMP_NOTIFY_CALLS]; // indexed by rtmp_notify_call; empty: not called
    rtmp_msec_t timeout;               // a callback not answered by then refuses
    rtmp_msec_t update_interval;
    rtmp_int_t json; // send a JSON object instead of a form
};

struct rtmp_notify_main_conf_t {
    rtmp_int_t max_requests; // in flight per worker; more are refused (or, for *_done, dropped)
};

extern rtmp_module_t rtmp_notify_module;

inline rtmp_notify_app_conf_t *rtmp_notify_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_notify_app_conf_t *>(app->app_conf[rtmp_notify_module.index]);
}

// The fields of one callback, as they are encoded.
struct rtmp_notify_args_t {
    const char *call;
    std::string_view app, name, addr, tcurl, pageurl, swfurl, flashver, type;
    uint64_t clientid;
    std::string_view args; // the stream's query string, its pairs appended as they are
    int64_t time;          // on_update: seconds since the stream started; -1: not sent
    // on_record_done: the recorder's name, the file, its seconds and bytes, why it ended
    std::string_view recorder, path, reason;
    double duration; // sent with recorder (recorder empty: none of these)
    int64_t size;
};

// Encodes args as application/x-www-form-urlencoded (or a JSON object) into buf; the
// length, or 0 when it does not fit.
size_t rtmp_notify_encode(const rtmp_notify_args_t *a, bool json, char *buf, size_t size);

// The stream name a 3xx Location names: its last path segment without a query, or the
// whole value when it is a bare name; empty when there is none.
std::string_view rtmp_notify_location_name(std::string_view location);
