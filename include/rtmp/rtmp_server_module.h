// The server module: per-server settings (listen, timeouts, protocol limits).
#pragma once

#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"

constexpr size_t RTMP_MAX_LISTEN = 16;

struct rtmp_server_conf_t {
    rtmp_listening_t listen[RTMP_MAX_LISTEN];
    size_t nlisten;

    rtmp_int_t chunk_size;  // we send with this chunk size
    rtmp_int_t max_message; // largest message a peer may declare
    rtmp_int_t max_chunk_streams;
    rtmp_int_t ack_window;
    rtmp_msec_t handshake_timeout;
    rtmp_msec_t timeout; // no input at all for this long closes the session
    rtmp_msec_t ping;    // ping a peer quiet for this long (0: never)
    rtmp_msec_t ping_timeout;
    rtmp_msec_t message_timeout;        // a message started must be complete this soon (0: never)
    rtmp_int_t max_commands_per_second; // sustained command rate per session (0: any)
    rtmp_int_t command_burst;           // commands allowed at once above that rate
    rtmp_str_t ssl_certificate;         // PEM chain, for listen addresses marked "ssl"
    rtmp_str_t ssl_certificate_key;
    rtmp_int_t relay_ssl_verify;              // rtmps:// pushes and pulls check certificates
    rtmp_str_t relay_ssl_trusted_certificate; // PEM CAs for that; empty: the system's
    SSL_CTX *relay_ssl_ctx;                   // made by the first rtmps:// relay of a worker
};

extern rtmp_module_t rtmp_server_module;

// Parses "1935", "*:1935", "127.0.0.1:1935" or "[::1]:1935" into a listening slot.
[[nodiscard]] bool rtmp_listen_parse(std::string_view v, rtmp_listening_t *ls);

// The setter of a `listen` directive (one address or a list) for any protocol: appends to
// listen[*nlisten] (at most RTMP_MAX_LISTEN); accepted connections go to `handler`, and
// speak `scheme` ("rtmp", "http").
const char *rtmp_listen_set(rtmp_conf_t *cf, config_setting_t *s, rtmp_listening_t *listen,
                            size_t *nlisten, rtmp_connection_handler_pt handler,
                            const char *scheme);

// The TLS context of a block's listen addresses marked "ssl", made from the block's
// certificate and key ("" with cf->error naming the address's line and what is wrong
// when they cannot be used). The workers inherit it; the configuration's pool frees it.
// A certificate the block sets itself (own) with no address marked "ssl" is warned
// about: it would serve nothing.
[[nodiscard]] const char *rtmp_listen_ssl(rtmp_conf_t *cf, rtmp_listening_t *listen, size_t nlisten,
                                          rtmp_str_t cert, rtmp_str_t key, bool own);

inline rtmp_server_conf_t *rtmp_server_conf(rtmp_conf_srv_t *srv)
{
    return static_cast<rtmp_server_conf_t *>(srv->srv_conf[rtmp_server_module.index]);
}
