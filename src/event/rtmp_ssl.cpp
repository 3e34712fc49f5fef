// TLS for accepted connections and for relays' own. OpenSSL reads and writes the socket
// itself; these wrappers keep the readiness flags as rtmp_unix_recv/rtmp_unix_send_iov keep
// them, so the callers cannot tell TLS from a plain socket.
//
// Output: writev's buffers are copied into records of up to 16 KB. A record OpenSSL has
// encrypted but could not write is counted as sent, and its bytes kept here to repeat the
// write with: the caller may drop or reorder what it has not sent (the lag rules do), but
// an encrypted record can only go out as it is.
#include "event/rtmp_ssl.h"
#include "os/rtmp_cycle.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

static constexpr size_t RTMP_SSL_RECORD = 16384; // TLS's largest plaintext record

struct rtmp_ssl_conn_t {
    SSL *ssl;
    bool established; // the handshake is done
    u_char *held;     // a record's plaintext OpenSSL still has to write (RTMP_SSL_RECORD bytes)
    size_t held_pos;  // what of it went out
    size_t held_len;  // 0: nothing held
    bool read_wants_write;
    bool write_wants_read;
    bool told_plain_http; // a plain HTTP request was answered 400 before the close
};

static u_char rtmp_ssl_stage[RTMP_SSL_RECORD];

// The reason of OpenSSL's last error ("wrong version number"); clears its queue.
static const char *rtmp_ssl_reason()
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return r ? r : "unknown error";
}

static constexpr const char *RTMP_SSL_MISMATCH =
    "the private key does not match the certificate (the first in its file: the server's own "
    "must come before any intermediates)";

static int rtmp_ssl_no_passphrase(char *, int, int, void *)
{
    return 0; // never prompt: the master may be a daemon
}

// What servers and clients share: TLS 1.2 and up, no renegotiation, and writes that match
// rtmp_ssl_send_iov (partial, from a moving buffer, buffers given back when idle).
static SSL_CTX *rtmp_ssl_ctx_new(const SSL_METHOD *method, char *error, size_t len)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == nullptr) {
        snprintf(error, len, "SSL_CTX_new() failed: %s", rtmp_ssl_reason());
        return nullptr;
    }
    (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // A peer closing without close_notify has ended its stream as much as one that sent
    // it: no error to log for that.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    // whatever the socket holds in one read, not a record's header and body in two each:
    // encoders write small records
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

SSL_CTX *rtmp_ssl_server_ctx(const char *cert, const char *key, char *error, size_t len)
{
    for (const char *path : {cert, key}) {
        struct stat st;
        if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
            snprintf(error, len, "\"%s\": %s", path, strerror(errno));
            return nullptr;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(error, len, "\"%s\": not a file", path);
            return nullptr;
        }
    }
    SSL_CTX *ctx = rtmp_ssl_ctx_new(TLS_server_method(), error, len);
    if (ctx == nullptr) {
        return nullptr;
    }
    // No TLS 1.3 session tickets: librtmp over GnuTLS (rtmpdump, GStreamer's rtmpsrc)
    // fails its first read on them, and a stream's one long connection gains nothing
    (void)SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_default_passwd_cb(ctx, rtmp_ssl_no_passphrase);
    // up to 64 KB in one read, as a plain read takes
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);

    const char *what = nullptr;
    const char *path = cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        what = "cannot use the certificate";
    } else if (path = key; SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        what = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                   ? RTMP_SSL_MISMATCH
                   : "cannot use the private key (PEM, not encrypted)";
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        what = RTMP_SSL_MISMATCH;
    }
    if (what) {
        // OpenSSL's reason for a mismatch adds nothing ("no certificate assigned")
        const char *reason = what == RTMP_SSL_MISMATCH ? nullptr : rtmp_ssl_reason();
        ERR_clear_error();
        snprintf(error, len, "\"%s\": %s%s%s", path, what, reason ? ": " : "",
                 reason ? reason : "");
        SSL_CTX_free(ctx);
        return nullptr;
    }
    return ctx;
}

bool rtmp_ssl_cert_out_of_date(SSL_CTX *ctx, char *why, size_t len)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) {
        return false;
    }
    const ASN1_TIME *when = nullptr;
    const char *what = nullptr;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        when = X509_get0_notAfter(cert);
        what = "expired on";
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        when = X509_get0_notBefore(cert);
        what = "is not valid before";
    } else {
        return false;
    }
    struct tm tm = {};
    char date[32] = "?";
    if (ASN1_TIME_to_tm(when, &tm) == 1) {
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
    }
    snprintf(why, len, "%s %s", what, date);
    return true;
}

SSL_CTX *rtmp_ssl_client_ctx(const char *trusted, bool verify, char *error, size_t len)
{
    SSL_CTX *ctx = rtmp_ssl_ctx_new(TLS_client_method(), error, len);
    if (ctx == nullptr) {
        return nullptr;
    }
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    int ok = trusted ? SSL_CTX_load_verify_locations(ctx, trusted, nullptr)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        snprintf(error, len, "cannot load the trusted certificates \"%s\": %s",
                 trusted ? trusted : "(the system's)", rtmp_ssl_reason());
        SSL_CTX_free(ctx);
        return nullptr;
    }
    return ctx;
}

static void rtmp_ssl_ctx_free(void *ctx)
{
    SSL_CTX_free(static_cast<SSL_CTX *>(ctx));
}

void rtmp_ssl_ctx_owned_by(rtmp_pool_t *pool, SSL_CTX *ctx)
{
    rtmp_pool_cleanup_t *cln = rtmp_pool_cleanup_add(pool, 0);
    cln->handler = rtmp_ssl_ctx_free;
    cln->data = ctx;
}

// What a plain HTTP client on an HTTPS port is told, as nginx tells it, before the close.
static constexpr char RTMP_SSL_PLAIN_HTTP_REPLY[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: ask for https://.\n";

// Logs why TLS failed; a handshake failure that looks like the plain protocol says so.
static void rtmp_ssl_log_error(rtmp_connection_t *c, const char *op)
{
    unsigned long e = ERR_peek_last_error();
    bool handshake = !SSL_is_init_finished(c->ssl->ssl);
    bool plain = handshake && ERR_GET_LIB(e) == ERR_LIB_SSL &&
                 (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ||
                  ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST);
    const char *scheme = c->listening && c->listening->scheme ? c->listening->scheme : nullptr;
    char hint[80] = "";
    if (plain && scheme) {
        bool http = strcmp(scheme, "http") == 0;
        snprintf(hint, sizeof(hint), " (a plain %s:// client on an %s port?)", scheme,
                 http ? "HTTPS" : "RTMPS");
        if (http && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST) {
            // best effort, once: the socket is new and empty
            (void)!write(c->fd, RTMP_SSL_PLAIN_HTTP_REPLY, sizeof(RTMP_SSL_PLAIN_HTTP_REPLY) - 1);
            c->ssl->told_plain_http = true;
        }
    }
    rtmp_log_error(RTMP_LOG_INFO, &c->log, 0, "%s: %s%s", handshake ? "TLS handshake failed" : op,
                   rtmp_ssl_reason(), hint);
}

// The handshake just finished: acknowledge the client's last flight at once. Without session
// tickets the server has nothing to send after it, and a client under Nagle would hold its
// first RTMP bytes until our delayed ACK, 40 ms later.
static void rtmp_ssl_established(rtmp_connection_t *c)
{
    c->ssl->established = true;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

// A client that drops the connection during the handshake usually refused the certificate
// (GnuTLS clients send no alert saying so).
static void rtmp_ssl_log_handshake_end(rtmp_connection_t *c)
{
    if (!c->ssl->established) {
        rtmp_log_error(RTMP_LOG_INFO, &c->log, 0,
                       "TLS handshake: the client closed the connection (does it trust the "
                       "certificate?)");
    }
}

static ssize_t rtmp_ssl_recv(rtmp_connection_t *c, u_char *buf, size_t size)
{
    rtmp_ssl_conn_t *t = c->ssl;
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
    if (!t->established && SSL_is_init_finished(t->ssl)) {
        rtmp_ssl_established(c);
    }
    if (n > 0) {
        // unlike a plain socket's, a short read says nothing of what the socket holds:
        // OpenSSL returns a record at a time, so ready stays until it wants more input
        c->received += (uint64_t)n;
        return n;
    }
    c->read->ready = 0;
    int err = SSL_get_error(t->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return RTMP_AGAIN;
    case SSL_ERROR_WANT_WRITE: // a handshake reply the socket could not take: retried on EPOLLOUT
        t->read_wants_write = true;
        return RTMP_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        rtmp_ssl_log_handshake_end(c);
        c->read->eof = 1;
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_last_error() == 0) {
            rtmp_ssl_log_handshake_end(c);
            if (errno == 0) {
                c->read->eof = 1; // the end without close_notify
                return 0;
            }
            c->read->error = 1;
            rtmp_log_error(RTMP_LOG_INFO, &c->log, errno, "recv() failed");
            return RTMP_ERROR;
        }
        [[fallthrough]];
    default:
        c->read->error = 1;
        rtmp_ssl_log_error(c, "SSL_read() failed");
        return RTMP_ERROR;
    }
}

static rtmp_int_t rtmp_ssl_write_failed(rtmp_connection_t *c, int err)
{
    c->write->error = 1;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        rtmp_log_error(RTMP_LOG_INFO, &c->log, errno, "sendmsg() failed");
    } else {
        rtmp_ssl_log_error(c, "SSL_write() failed");
    }
    return RTMP_ERROR;
}

// Writes what OpenSSL holds back: RTMP_OK once it all went out.
static rtmp_int_t rtmp_ssl_write_held(rtmp_connection_t *c)
{
    rtmp_ssl_conn_t *t = c->ssl;
    while (t->held_len > t->held_pos) {
        ERR_clear_error();
        int n = SSL_write(t->ssl, t->held + t->held_pos, (int)(t->held_len - t->held_pos));
        if (n > 0) {
            t->held_pos += (size_t)n;
            continue;
        }
        int err = SSL_get_error(t->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            t->write_wants_read = err == SSL_ERROR_WANT_READ;
            c->write->ready = 0;
            return RTMP_AGAIN;
        }
        return rtmp_ssl_write_failed(c, err);
    }
    t->held_len = t->held_pos = 0;
    return RTMP_OK;
}

static ssize_t rtmp_ssl_send_iov(rtmp_connection_t *c, const struct iovec *iov, int iovcnt)
{
    rtmp_ssl_conn_t *t = c->ssl;
    if (c->write->error) {
        return RTMP_ERROR;
    }
    if (t->held_len > 0) {
        rtmp_int_t rc = rtmp_ssl_write_held(c);
        if (rc != RTMP_OK) {
            return rc;
        }
    }

    size_t sent = 0, asked = 0;
    for (int i = 0; i < iovcnt; i++) {
        asked += iov[i].iov_len;
    }
    int i = 0;
    size_t off = 0; // into iov[i]
    while (sent < asked) {
        size_t len = 0;
        while (i < iovcnt && len < sizeof(rtmp_ssl_stage)) {
            size_t take = iov[i].iov_len - off;
            if (take > sizeof(rtmp_ssl_stage) - len) {
                take = sizeof(rtmp_ssl_stage) - len;
            }
            memcpy(rtmp_ssl_stage + len, static_cast<const u_char *>(iov[i].iov_base) + off, take);
            len += take;
            off += take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        size_t done = 0;
        while (done < len) {
            ERR_clear_error();
            int n = SSL_write(t->ssl, rtmp_ssl_stage + done, (int)(len - done));
            if (n > 0) {
                done += (size_t)n;
                continue;
            }
            int err = SSL_get_error(t->ssl, n);
            if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) {
                return rtmp_ssl_write_failed(c, err);
            }
            // encrypted already: it is sent as far as the caller is concerned
            if (t->held == nullptr) {
                t->held = static_cast<u_char *>(rtmp_pnalloc(c->pool, RTMP_SSL_RECORD));
            }
            memcpy(t->held, rtmp_ssl_stage + done, len - done);
            t->held_pos = 0;
            t->held_len = len - done;
            t->write_wants_read = err == SSL_ERROR_WANT_READ;
            sent += len;
            c->sent += sent;
            c->write->ready = 0;
            return (ssize_t)sent;
        }
        sent += len;
    }
    c->sent += sent;
    c->write->ready = 1;
    return (ssize_t)sent;
}

// TLS state for a connection, its I/O through OpenSSL; nullptr (logged) when out of memory.
static SSL *rtmp_ssl_attach(rtmp_connection_t *c, SSL_CTX *ctx)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, c->fd) != 1) {
        rtmp_log_error(RTMP_LOG_ALERT, &c->log, 0, "SSL_new() failed: %s", rtmp_ssl_reason());
        SSL_free(ssl);
        return nullptr;
    }
    auto *t = rtmp_palloc<rtmp_ssl_conn_t>(c->pool);
    t->ssl = ssl;
    c->ssl = t;
    c->tls = 1;
    c->recv = rtmp_ssl_recv;
    c->send_iov = rtmp_ssl_send_iov;
    return ssl;
}

rtmp_int_t rtmp_ssl_accept(rtmp_connection_t *c, SSL_CTX *ctx)
{
    SSL *ssl = rtmp_ssl_attach(c, ctx);
    if (ssl == nullptr) {
        return RTMP_ERROR;
    }
    SSL_set_accept_state(ssl);
    return RTMP_OK;
}

rtmp_int_t rtmp_ssl_connect(rtmp_connection_t *c, SSL_CTX *ctx, const char *host, bool literal)
{
    SSL *ssl = rtmp_ssl_attach(c, ctx);
    if (ssl == nullptr) {
        return RTMP_ERROR;
    }
    // the name in subjectAltName, as browsers check it: not in the subject's CN
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                     : SSL_set_tlsext_host_name(ssl, host) && SSL_set1_host(ssl, host);
    if (ok != 1) {
        rtmp_log_error(RTMP_LOG_ALERT, &c->log, 0, "TLS for \"%s\": %s", host, rtmp_ssl_reason());
        return RTMP_ERROR;
    }
    SSL_set_connect_state(ssl);
    return RTMP_OK;
}

rtmp_int_t rtmp_ssl_handshake(rtmp_connection_t *c, char *why, size_t len)
{
    SSL *ssl = c->ssl->ssl;
    ERR_clear_error();
    int n = SSL_do_handshake(ssl);
    if (n == 1) {
        return RTMP_OK;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return RTMP_AGAIN;
    }
    long verified = SSL_get_verify_result(ssl);
    if (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE && verified != X509_V_OK) {
        snprintf(why, len, "TLS handshake failed: certificate verify failed (%s)",
                 X509_verify_cert_error_string(verified));
    } else if ((err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) &&
               ERR_peek_last_error() == 0) {
        snprintf(why, len, "TLS handshake failed: %s",
                 err == SSL_ERROR_SYSCALL && errno
                     ? strerror(errno)
                     : "the server closed the connection (not an rtmps:// port?)");
    } else {
        snprintf(why, len, "TLS handshake failed: %s", rtmp_ssl_reason());
    }
    c->read->error = 1;
    return RTMP_ERROR;
}

uint32_t rtmp_ssl_events(rtmp_connection_t *c, uint32_t revents)
{
    rtmp_ssl_conn_t *t = c->ssl;
    if ((revents & EPOLLOUT) && t->read_wants_write) {
        t->read_wants_write = false;
        revents |= EPOLLIN;
    }
    if ((revents & EPOLLIN) && t->write_wants_read) {
        t->write_wants_read = false;
        revents |= EPOLLOUT;
    }
    if ((revents & EPOLLOUT) && t->held_len > 0 && rtmp_ssl_write_held(c) == RTMP_AGAIN) {
        revents &= ~(uint32_t)EPOLLOUT;
    }
    return revents;
}

bool rtmp_ssl_told_plain_http(const rtmp_connection_t *c)
{
    return c->tls && c->ssl->told_plain_http;
}

bool rtmp_ssl_flushed(const rtmp_connection_t *c)
{
    return c->ssl->held_len == 0;
}

void rtmp_ssl_shutdown(rtmp_connection_t *c)
{
    if (SSL_is_init_finished(c->ssl->ssl) && !c->write->error && c->ssl->held_len == 0) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl->ssl);
        ERR_clear_error();
    }
}

const char *rtmp_ssl_protocol(const rtmp_connection_t *c)
{
    return SSL_get_version(c->ssl->ssl);
}

void rtmp_ssl_close(rtmp_connection_t *c)
{
    rtmp_ssl_conn_t *t = c->ssl;
    if (t->held_len > 0 && !c->write->error) {
        (void)rtmp_ssl_write_held(c); // one try: the socket may have room by now
    }
    if (!c->read->error) {
        rtmp_ssl_shutdown(c); // best effort: a socket that is full just closes
    }
    ERR_clear_error();
    SSL_free(t->ssl);
    c->ssl = nullptr;
    c->tls = 0;
}
