// Plain-socket sends: what a write says about the socket's readiness.
#include "event/rtmp_connection.h"

#include <check.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

START_TEST(test_send_readiness_follows_the_last_write)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(rtmp_connections_init(2, nullptr), RTMP_OK);
    rtmp_connection_t *c = rtmp_connection_get(sv[0]);
    ck_assert_ptr_nonnull(c);

    // a fresh connection has had no EPOLLOUT yet; a full write shows it is writable
    ck_assert(!c->write->ready);
    u_char small[1536] = {};
    struct iovec iov = {small, sizeof(small)};
    ck_assert_int_eq(c->send_iov(c, &iov, 1), (ssize_t)sizeof(small));
    ck_assert(c->write->ready);

    // more than the socket holds: a short write, and the socket waits for EPOLLOUT
    std::vector<u_char> big(8 << 20);
    iov = {big.data(), big.size()};
    ssize_t n = c->send_iov(c, &iov, 1);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (ssize_t)big.size());
    ck_assert(!c->write->ready);
    ck_assert_int_eq(c->send_iov(c, &iov, 1), RTMP_AGAIN);
    ck_assert(!c->write->ready);
    ck_assert_uint_eq(c->sent, sizeof(small) + (size_t)n);

    rtmp_connection_close(c); // closes sv[0]
    close(sv[1]);
    rtmp_connections_done();
}
END_TEST

Suite *rtmp_connection_suite(void)
{
    Suite *s = suite_create("connection");
    TCase *tc = tcase_create("send");
    tcase_add_test(tc, test_send_readiness_follows_the_last_write);
    suite_add_tcase(s, tc);
    return s;
}
