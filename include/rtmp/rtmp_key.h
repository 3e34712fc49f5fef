// The key module: signed, expiring stream keys for publish and play, checked without a service.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

#include <sys/socket.h>

// A key is "<expiry>-<hmac>": expiry in unix seconds, hmac the lowercase hex of
// HMAC-SHA256(secret, "<app>/<name>\n<expiry>") or, for a key bound to one client address,
// of HMAC-SHA256(secret, "<app>/<name>\n<expiry>\n<address>"). It travels in the stream
// name's query string: rtmp://host/app/name?key=<key>.
constexpr size_t RTMP_KEY_HMAC_HEX = 64;
constexpr size_t RTMP_KEY_SIZE = 20 + 1 + RTMP_KEY_HMAC_HEX + 1; // with the NUL
constexpr size_t RTMP_KEY_MIN_SECRET = 16;

struct rtmp_key_app_conf_t {
    rtmp_str_t publish_secret; // empty: publishing needs no key
    rtmp_str_t play_secret;    // empty: playing needs no key
};

enum class rtmp_key_result : uint8_t { ok, missing, malformed, bad_signature, expired };

extern rtmp_module_t rtmp_key_module;

inline rtmp_key_app_conf_t *rtmp_key_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_key_app_conf_t *>(app->app_conf[rtmp_key_module.index]);
}

// Writes the key for app/name valid until `expiry` (bound to `addr` unless it is empty) into
// out, NUL-terminated; returns its length, or 0 when out is smaller than RTMP_KEY_SIZE or the
// names are too long.
size_t rtmp_key_mint(std::string_view secret, std::string_view app, std::string_view name,
                     int64_t expiry, std::string_view addr, char *out, size_t size);

// Checks a key for app/name at unix time `now` from a client at `addr` (the text
// rtmp_key_peer_addr gives): an unbound key, or one bound to that address, is accepted.
// The signature is compared in constant time, before the expiry is looked at.
[[nodiscard]] rtmp_key_result rtmp_key_verify(std::string_view secret, std::string_view app,
                                              std::string_view name, std::string_view key,
                                              int64_t now, std::string_view addr);

// The value of "key" in a query string ("a=1&key=...&b=2"); empty when absent.
std::string_view rtmp_key_from_args(std::string_view args);

// A client's address as keys are bound to it: inet_ntop's text, IPv4 for ::ffff:a.b.c.d;
// empty for unix sockets.
std::string_view rtmp_key_peer_addr(const struct sockaddr *sa, char *buf, size_t size);

const char *rtmp_key_result_text(rtmp_key_result r);

// For `rtmp_server --sign`: copies application `app`'s publish_key_secret (or
// play_key_secret) from the first server of conf_file that has the application, and the
// port that server listens on first (0 if unknown). RTMP_ERROR with `error` set otherwise.
[[nodiscard]] rtmp_int_t rtmp_key_conf_secret(const char *conf_file, std::string_view app,
                                              bool play, char *secret, size_t size, int *port,
                                              char *error, size_t len);
