// TLS connections: a record OpenSSL encrypted while the socket was full goes out as it was,
// whatever the caller offers next.
#include "event/rtmp_ssl.h"

#include <check.h>
#include <cstdio>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

// A self-signed P-256 certificate and its key, in PEM files.
static void make_certificate(const std::string &crt, const std::string &key)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(pkey);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    ck_assert_int_gt(X509_sign(x, pkey, EVP_sha256()), 0);
    FILE *f = fopen(crt.c_str(), "w");
    ck_assert_int_eq(PEM_write_X509(f, x), 1);
    fclose(f);
    f = fopen(key.c_str(), "w");
    ck_assert_int_eq(PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

// Reads what the client can without blocking, appending it to `got`.
static void client_drain(SSL *client, std::vector<u_char> *got)
{
    u_char buf[16384];
    for (;;) {
        int n = SSL_read(client, buf, sizeof(buf));
        if (n <= 0) {
            ck_assert_int_eq(SSL_get_error(client, n), SSL_ERROR_WANT_READ);
            return;
        }
        got->insert(got->end(), buf, buf + n);
    }
}

START_TEST(test_held_record_goes_out_as_encrypted)
{
    char dir[] = "/tmp/check_ssl_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    std::string crt = std::string(dir) + "/c.pem", key = std::string(dir) + "/k.pem";
    make_certificate(crt, key);
    char error[256];
    SSL_CTX *ctx = rtmp_ssl_server_ctx(crt.c_str(), key.c_str(), error, sizeof(error));
    ck_assert_msg(ctx != nullptr, "%s", error);
    rtmp_pool_t *conf_pool = rtmp_pool_create(1024, nullptr);
    rtmp_ssl_ctx_owned_by(conf_pool, ctx);
    ck_assert_ptr_null(rtmp_ssl_server_ctx((std::string(dir) + "/none.pem").c_str(), key.c_str(),
                                           error, sizeof(error)));
    ck_assert_msg(strstr(error, "No such file or directory") != nullptr, "%s", error);

    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    for (int fd : sv) {
        ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    }
    ck_assert_int_eq(rtmp_connections_init(2, nullptr), RTMP_OK);
    rtmp_connection_t *c = rtmp_connection_get(sv[0]);
    c->pool = rtmp_pool_create(1024, nullptr);
    ck_assert_int_eq(rtmp_ssl_accept(c, ctx), RTMP_OK);
    c->read->ready = 1;
    c->write->ready = 1;

    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *client = SSL_new(cctx);
    SSL_set_fd(client, sv[1]);
    SSL_set_connect_state(client);

    // the handshake, driven from both ends in turn, then "hello" from the client
    u_char buf[64];
    ssize_t got_hello = RTMP_AGAIN;
    bool hello_sent = false;
    for (int i = 0; i < 50 && got_hello == RTMP_AGAIN; i++) {
        if (!hello_sent && SSL_do_handshake(client) == 1) {
            ck_assert_int_eq(SSL_write(client, "hello", 5), 5);
            hello_sent = true;
        }
        c->read->ready = 1;
        got_hello = c->recv(c, buf, sizeof(buf));
    }
    ck_assert_int_eq(got_hello, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

    // the server writes until the socket is full: what it says it sent is `claimed`
    std::vector<u_char> a(1 << 20);
    for (size_t i = 0; i < a.size(); i++) {
        a[i] = (u_char)(i * 7 + i / 251);
    }
    size_t claimed = 0;
    while (c->write->ready) {
        struct iovec iov[3] = {{a.data() + claimed, 1000},
                               {a.data() + claimed + 1000, 5000},
                               {a.data() + claimed + 6000, 20000}};
        ssize_t n = c->send_iov(c, iov, 3);
        ck_assert_int_gt(n, 0);
        claimed += (size_t)n;
        ck_assert_uint_lt(claimed, a.size() - 26000);
    }
    ck_assert_uint_eq(c->sent, claimed);

    // the caller offers other bytes now (the lag rules dropped its queue): nothing is taken
    // while the socket is full, and what was claimed reaches the client unchanged
    std::vector<u_char> b(3000, 'B');
    struct iovec other = {b.data(), b.size()};
    ck_assert_int_eq(c->send_iov(c, &other, 1), RTMP_AGAIN);
    std::vector<u_char> got;
    for (int i = 0; i < 1000 && got.size() < claimed; i++) {
        client_drain(client, &got);
        uint32_t revents = rtmp_ssl_events(c, EPOLLOUT);
        if (revents & EPOLLOUT) {
            c->write->ready = 1; // as the epoll loop does before the write handler
        }
    }
    ck_assert_uint_eq(got.size(), claimed);
    ck_assert(memcmp(got.data(), a.data(), claimed) == 0);

    // and the other bytes follow them
    ck_assert(c->write->ready);
    ck_assert_int_eq(c->send_iov(c, &other, 1), (ssize_t)b.size());
    for (int i = 0; i < 100 && got.size() < claimed + b.size(); i++) {
        client_drain(client, &got);
    }
    ck_assert_uint_eq(got.size(), claimed + b.size());
    ck_assert(memcmp(got.data() + claimed, b.data(), b.size()) == 0);

    SSL_free(client);
    SSL_CTX_free(cctx);
    rtmp_connection_close(c); // closes sv[0] and the server's TLS
    close(sv[1]);
    rtmp_connections_done();
    rtmp_pool_destroy(conf_pool); // and the context with it
    unlink(crt.c_str());
    unlink(key.c_str());
    rmdir(dir);
}
END_TEST

Suite *rtmp_ssl_suite(void)
{
    Suite *s = suite_create("ssl");
    TCase *tc = tcase_create("send");
    tcase_add_test(tc, test_held_record_goes_out_as_encrypted);
    suite_add_tcase(s, tc);
    return s;
}
