// Push URLs: hosts, ports, app and name split, refusals, and ${...} expansion.
#include "rtmp/rtmp_push.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

START_TEST(test_parse_ipv4_default_port)
{
    rtmp_push_url_t u;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmp://127.0.0.1/live", &u));
    auto *sin = reinterpret_cast<const struct sockaddr_in *>(&u.addrs[0].sa);
    ck_assert_int_eq(u.naddrs, 1);
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_int_eq(ntohs(sin->sin_port), 1935);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert(u.app.sv() == "live");
    ck_assert_uint_eq(u.name.len, 0);
    ck_assert_uint_eq(u.query.len, 0);
}
END_TEST

START_TEST(test_parse_ipv6_name_query)
{
    rtmp_push_url_t u;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmp://[::1]:1937/app2/a/${name}?key=${args.k}", &u));
    auto *sin6 = reinterpret_cast<const struct sockaddr_in6 *>(&u.addrs[0].sa);
    ck_assert_int_eq(u.naddrs, 1);
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_int_eq(ntohs(sin6->sin6_port), 1937);
    ck_assert_str_eq(u.host, "[::1]:1937");
    ck_assert(u.app.sv() == "app2");
    ck_assert(u.name.sv() == "a/${name}");
    ck_assert(u.query.sv() == "key=${args.k}");
}
END_TEST

START_TEST(test_parse_localhost)
{
    rtmp_push_url_t u;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmp://localhost:1936/live", &u));
    auto *sin = reinterpret_cast<const struct sockaddr_in *>(&u.addrs[0].sa);
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x7f000001);
}
END_TEST

START_TEST(test_parse_rtmps)
{
    rtmp_push_url_t u;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmps://localhost/live/s", &u));
    auto *sin = reinterpret_cast<const struct sockaddr_in *>(&u.addrs[0].sa);
    ck_assert(u.tls);
    ck_assert_int_eq(ntohs(sin->sin_port), 443);
    ck_assert_str_eq(u.hostname, "localhost"); // checked in the certificate by name
    ck_assert(!u.literal);
    rtmp_push_names_t names;
    ck_assert(rtmp_push_url_names(&u, "live", "s", "", &names));
    ck_assert_str_eq(names.tc_url, "rtmps://localhost/live");

    ck_assert_ptr_null(rtmp_push_parse_url("rtmps://[::1]:1936/live", &u));
    ck_assert(u.tls && u.literal);
    ck_assert_str_eq(u.hostname, "::1"); // by address
}
END_TEST

START_TEST(test_shown_masks_name_and_query)
{
    rtmp_push_url_t u;
    ck_assert_ptr_null(rtmp_push_parse_url("rtmp://127.0.0.1:1936/live2/KEY-123?token=t0k", &u));
    ck_assert_str_eq(u.shown, "rtmp://127.0.0.1:1936/live2/***?***");
    ck_assert_ptr_null(rtmp_push_parse_url("rtmps://127.0.0.1/live", &u));
    ck_assert_str_eq(u.shown, "rtmps://127.0.0.1/live");
}
END_TEST

START_TEST(test_host_name_length)
{
    // refused before any lookup: DNS names are at most 253 characters
    std::string url = "rtmp://" + std::string(254, 'a') + "/live";
    rtmp_push_url_t u;
    const char *why = rtmp_push_parse_url(url, &u);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "at most 253") != nullptr, "%s", why);
}
END_TEST

START_TEST(test_parse_refused)
{
    rtmp_push_url_t u;
    const char *bad[] = {
        "rtmp://[::zz]/live", "http://127.0.0.1/live",   "rtmp://127.0.0.1",
        "rtmp://127.0.0.1/",  "rtmp://127.0.0.1:0/live", "rtmp://127.0.0.1:70000/live",
        "rtmp://[::1/live",   "rtmp://::1/live",         "rtmp://[127.0.0.1]/live"};
    for (const char *b : bad) {
        ck_assert_msg(rtmp_push_parse_url(b, &u) != nullptr, "%s accepted", b);
    }
}
END_TEST

START_TEST(test_expand)
{
    char out[64];
    ck_assert(rtmp_push_expand("${app}-${name}?k=${args.key}&x=${args.none}", "live", "s",
                               "a=1&key=K&b", out, sizeof(out)));
    ck_assert_str_eq(out, "live-s?k=K&x=");
    ck_assert(rtmp_push_expand("plain", "a", "b", "", out, sizeof(out)));
    ck_assert_str_eq(out, "plain");
    ck_assert(!rtmp_push_expand("${nope}", "a", "b", "", out, sizeof(out)));
    ck_assert(!rtmp_push_expand("${name", "a", "b", "", out, sizeof(out)));
    ck_assert(!rtmp_push_expand("${args.}", "a", "b", "", out, sizeof(out)));
    ck_assert(!rtmp_push_expand("0123456789", "a", "b", "", out, 10)); // no room for the NUL
    ck_assert(rtmp_push_expand("012345678", "a", "b", "", out, 10));
}
END_TEST

Suite *rtmp_push_suite(void)
{
    Suite *s = suite_create("push");
    TCase *tc = tcase_create("url");
    tcase_add_test(tc, test_parse_ipv4_default_port);
    tcase_add_test(tc, test_parse_ipv6_name_query);
    tcase_add_test(tc, test_parse_localhost);
    tcase_add_test(tc, test_parse_rtmps);
    tcase_add_test(tc, test_shown_masks_name_and_query);
    tcase_add_test(tc, test_host_name_length);
    tcase_add_test(tc, test_parse_refused);
    tcase_add_test(tc, test_expand);
    suite_add_tcase(s, tc);
    return s;
}
