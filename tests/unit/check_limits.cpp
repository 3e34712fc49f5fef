// Server-wide limits: counting, refusing at the limit, per-address buckets, a dead worker's share.
#include "os/rtmp_process.h"
#include "rtmp/rtmp_limits.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_storage limits_addr(const char *text)
{
    struct sockaddr_storage sa = {};
    if (strchr(text, ':')) {
        auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&sa);
        sin6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    } else {
        auto *sin = reinterpret_cast<struct sockaddr_in *>(&sa);
        sin->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1);
    }
    return sa;
}

static void limits_setup()
{
    ck_assert_int_eq(rtmp_limits_init(&rtmp_log_stderr_log), RTMP_OK);
}

static void limits_teardown()
{
    rtmp_limits_done();
    rtmp_worker_slot = -1;
}

START_TEST(test_limits_uninitialized_count_nothing)
{
    rtmp_limits_done();
    struct sockaddr_storage a = limits_addr("192.0.2.1");
    uint32_t t = 7;
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a, 1, 1, &t));
    ck_assert_uint_eq(t, 0);
    ck_assert(rtmp_limits_stream_acquire(1));
    ck_assert_uint_eq(rtmp_limits_connections(), 0);
}
END_TEST

START_TEST(test_limits_max_connections)
{
    struct sockaddr_storage a = limits_addr("192.0.2.1");
    struct sockaddr_storage b = limits_addr("198.51.100.7");
    uint32_t t[3];
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a, 2, 0, &t[0]));
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&b, 2, 0, &t[1]));
    ck_assert_str_eq(rtmp_limits_conn_acquire(&a, 2, 0, &t[2]), "max_connections");
    ck_assert_uint_eq(t[2], 0);
    ck_assert_uint_eq(rtmp_limits_connections(), 2);
    rtmp_limits_conn_release(&t[0]);
    rtmp_limits_conn_release(&t[0]); // released once only
    ck_assert_uint_eq(rtmp_limits_connections(), 1);
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a, 2, 0, &t[2]));
    rtmp_limits_conn_release(&t[1]);
    rtmp_limits_conn_release(&t[2]);
    ck_assert_uint_eq(rtmp_limits_connections(), 0);
    ck_assert_uint_eq(rtmp_limits_ip_connections(&a), 0);
}
END_TEST

START_TEST(test_limits_per_ip)
{
    struct sockaddr_storage a = limits_addr("192.0.2.1");
    struct sockaddr_storage a6 = limits_addr("::ffff:192.0.2.1");
    struct sockaddr_storage b = limits_addr("192.0.2.2");
    uint32_t t[4];
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a, 0, 2, &t[0]));
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a6, 0, 2, &t[1])); // the same IPv4 client
    ck_assert_str_eq(rtmp_limits_conn_acquire(&a, 0, 2, &t[2]), "max_connections_per_ip");
    ck_assert_uint_eq(rtmp_limits_ip_connections(&a), 2);
    ck_assert_uint_eq(rtmp_limits_connections(), 2); // a refusal takes nothing
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&b, 0, 2, &t[3]));
    for (uint32_t *p : {&t[0], &t[1], &t[3]}) {
        rtmp_limits_conn_release(p);
    }
    ck_assert_uint_eq(rtmp_limits_connections(), 0);
}
END_TEST

START_TEST(test_limits_ip_buckets)
{
    struct sockaddr_storage a = limits_addr("2001:db8:1:2::1");
    struct sockaddr_storage b = limits_addr("2001:db8:1:2:ffff::9");
    struct sockaddr_storage u = {};
    u.ss_family = AF_UNIX;
    // one /64 is one client
    ck_assert_int_eq(rtmp_limits_ip_bucket(&a), rtmp_limits_ip_bucket(&b));
    ck_assert_int_eq(rtmp_limits_ip_bucket(&u), -1);
    int32_t k6 = rtmp_limits_ip_bucket(&a);
    ck_assert(k6 >= 0 && k6 < (int32_t)RTMP_LIMITS_IP_HASH);
    // neighbouring IPv4 addresses spread over the table
    int distinct = 0;
    static bool seen[RTMP_LIMITS_IP_HASH];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 256; i++) {
        char text[32];
        snprintf(text, sizeof(text), "10.0.0.%d", i);
        struct sockaddr_storage s = limits_addr(text);
        int32_t k = rtmp_limits_ip_bucket(&s);
        distinct += !seen[k];
        seen[k] = true;
    }
    ck_assert_int_ge(distinct, 240);
}
END_TEST

START_TEST(test_limits_streams)
{
    ck_assert(rtmp_limits_stream_acquire(2));
    ck_assert(rtmp_limits_stream_acquire(2));
    ck_assert(!rtmp_limits_stream_acquire(2));
    ck_assert_uint_eq(rtmp_limits_streams(), 2);
    rtmp_limits_stream_release();
    ck_assert(rtmp_limits_stream_acquire(0)); // 0: no maximum
    rtmp_limits_stream_release();
    rtmp_limits_stream_release();
    ck_assert_uint_eq(rtmp_limits_streams(), 0);
}
END_TEST

// A forked "worker" counts through the shared mapping and dies without releasing anything;
// the parent, as the master, forgets its share.
START_TEST(test_limits_dead_worker_reset)
{
    struct sockaddr_storage a = limits_addr("192.0.2.1");
    uint32_t mine;
    ck_assert_ptr_null(rtmp_limits_conn_acquire(&a, 0, 0, &mine)); // not in any slot
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        rtmp_worker_slot = 3;
        uint32_t t;
        bool ok = rtmp_limits_conn_acquire(&a, 0, 0, &t) == nullptr &&
                  rtmp_limits_conn_acquire(&a, 0, 0, &t) == nullptr &&
                  rtmp_limits_stream_acquire(0);
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(rtmp_limits_connections(), 3);
    ck_assert_uint_eq(rtmp_limits_ip_connections(&a), 3);
    ck_assert_uint_eq(rtmp_limits_streams(), 1);
    rtmp_limits_reset_slot(3);
    ck_assert_uint_eq(rtmp_limits_connections(), 1);
    ck_assert_uint_eq(rtmp_limits_ip_connections(&a), 1);
    ck_assert_uint_eq(rtmp_limits_streams(), 0);
    rtmp_limits_conn_release(&mine);
    ck_assert_uint_eq(rtmp_limits_connections(), 0);
}
END_TEST

Suite *rtmp_limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, limits_setup, limits_teardown);
    tcase_add_test(tc, test_limits_uninitialized_count_nothing);
    tcase_add_test(tc, test_limits_max_connections);
    tcase_add_test(tc, test_limits_per_ip);
    tcase_add_test(tc, test_limits_ip_buckets);
    tcase_add_test(tc, test_limits_streams);
    tcase_add_test(tc, test_limits_dead_worker_reset);
    suite_add_tcase(s, tc);
    return s;
}
