// TLS under accepted connections (RTMPS): OpenSSL driven by the edge-triggered loop.
#pragma once

#include "event/rtmp_connection.h"

typedef struct ssl_ctx_st SSL_CTX;

// A server context from PEM files (certificate chain, unencrypted key); nullptr with
// `error` saying why when they cannot be used.
[[nodiscard]] SSL_CTX *rtmp_ssl_server_ctx(const char *cert, const char *key, char *error,
                                           size_t len);
void rtmp_ssl_ctx_free(SSL_CTX *ctx);

// Puts TLS under a connection just accepted: its recv and send_iov go through OpenSSL,
// and the TLS handshake happens within the first reads.
[[nodiscard]] rtmp_int_t rtmp_ssl_accept(rtmp_connection_t *c, SSL_CTX *ctx);

// What epoll reported for a TLS connection, turned into what its handlers should see:
// a read that waited for the socket to take output is retried on EPOLLOUT (and the other
// way round), and output TLS holds back is written before the write handler runs.
[[nodiscard]] uint32_t rtmp_ssl_events(rtmp_connection_t *c, uint32_t revents);

// No record is held back: everything send_iov counted as sent is in the socket.
[[nodiscard]] bool rtmp_ssl_flushed(const rtmp_connection_t *c);
// Sends close_notify (best effort), before the socket's write side is shut.
void rtmp_ssl_shutdown(rtmp_connection_t *c);

// "TLSv1.3", for log lines.
[[nodiscard]] const char *rtmp_ssl_protocol(const rtmp_connection_t *c);

// Sends close_notify when the session ended cleanly, and frees the TLS state.
void rtmp_ssl_close(rtmp_connection_t *c);
