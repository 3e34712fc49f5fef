// TLS for connections (RTMPS and HTTPS listeners, rtmps:// relays): OpenSSL driven by the
// edge-triggered loop.
#pragma once

#include "event/rtmp_connection.h"

typedef struct ssl_ctx_st SSL_CTX;

// A server context from PEM files (certificate chain, unencrypted key); nullptr with
// `error` saying why when they cannot be used.
[[nodiscard]] SSL_CTX *rtmp_ssl_server_ctx(const char *cert, const char *key, char *error,
                                           size_t len);
// When the context's certificate is outside its validity now, what is wrong with it
// ("expired on 2020-01-02 00:00 UTC", "is not valid before ..."); else false.
bool rtmp_ssl_cert_out_of_date(SSL_CTX *ctx, char *why, size_t len);
// The pool frees the context when it is destroyed (connections hold references of their own).
void rtmp_ssl_ctx_owned_by(rtmp_pool_t *pool, SSL_CTX *ctx);

// A client context for relays: certificates checked against `trusted` (PEM), or the
// system's CAs when it is nullptr, unless verify is false.
[[nodiscard]] SSL_CTX *rtmp_ssl_client_ctx(const char *trusted, bool verify, char *error,
                                           size_t len);

// Puts TLS over a connected client socket: SNI for a host name, and the peer's certificate
// must name `host` (a name, or an address when literal). The handshake is
// rtmp_ssl_handshake's; recv and send_iov go through OpenSSL from now on.
[[nodiscard]] rtmp_int_t rtmp_ssl_connect(rtmp_connection_t *c, SSL_CTX *ctx, const char *host,
                                          bool literal);
// One step of a client handshake: RTMP_OK once done, RTMP_AGAIN to wait for the socket,
// RTMP_ERROR with `why` ("TLS handshake failed: certificate verify failed (...)").
[[nodiscard]] rtmp_int_t rtmp_ssl_handshake(rtmp_connection_t *c, char *why, size_t len);

// Puts TLS under a connection just accepted: its recv and send_iov go through OpenSSL,
// and the TLS handshake happens within the first reads.
[[nodiscard]] rtmp_int_t rtmp_ssl_accept(rtmp_connection_t *c, SSL_CTX *ctx);

// What epoll reported for a TLS connection, turned into what its handlers should see:
// a read that waited for the socket to take output is retried on EPOLLOUT (and the other
// way round), and output TLS holds back is written before the write handler runs.
[[nodiscard]] uint32_t rtmp_ssl_events(rtmp_connection_t *c, uint32_t revents);

// The handshake met a plain HTTP request and answered it 400 (HTTPS listeners).
[[nodiscard]] bool rtmp_ssl_told_plain_http(const rtmp_connection_t *c);

// No record is held back: everything send_iov counted as sent is in the socket.
[[nodiscard]] bool rtmp_ssl_flushed(const rtmp_connection_t *c);
// Sends close_notify (best effort), before the socket's write side is shut.
void rtmp_ssl_shutdown(rtmp_connection_t *c);

// "TLSv1.3", for log lines.
[[nodiscard]] const char *rtmp_ssl_protocol(const rtmp_connection_t *c);

// Sends close_notify when the session ended cleanly, and frees the TLS state.
void rtmp_ssl_close(rtmp_connection_t *c);
