// Access rules: parsing, IPv4/IPv6/mapped matching, CIDR edges, first match, inheritance.
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_access.h"

#include <arpa/inet.h>
#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char error[600];

static void setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_access_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown()
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static rtmp_cycle_t *read_conf(const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/rtmp.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    error[0] = '\0';
    return rtmp_cycle_read(path, error, sizeof(error));
}

// A peer address as accept() would give it: "1.2.3.4" as AF_INET, anything else AF_INET6.
static const struct sockaddr *peer(const char *text)
{
    static struct sockaddr_storage ss;
    ss = {};
    auto *sin = reinterpret_cast<struct sockaddr_in *>(&ss);
    auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
        ss.ss_family = AF_INET6;
    }
    return reinterpret_cast<const struct sockaddr *>(&ss);
}

// Rules from strings; each rule's text is its string, so a match can be named.
struct rules_t {
    rtmp_access_rule_t r[16];
    rtmp_access_rules_t list;
};

static rtmp_access_rules_t *rules(rules_t *rs, std::initializer_list<const char *> texts)
{
    size_t n = 0;
    for (const char *t : texts) {
        char err[300];
        rs->r[n] = {};
        const char *bad = rtmp_access_parse_rule(t, &rs->r[n], err, sizeof(err));
        ck_assert_msg(bad == nullptr, "%s: %s", t, bad);
        rs->r[n].text = t;
        n++;
    }
    rs->list = {rs->r, n};
    return &rs->list;
}

// The text of the rule that decides for `addr`, or "none".
static const char *decides(const rtmp_access_rules_t *list, const char *addr)
{
    const rtmp_access_rule_t *r = rtmp_access_match(list, peer(addr));
    return r ? r->text : "none";
}

START_TEST(test_parse_rules)
{
    rtmp_access_rule_t r;
    char err[300];
    ck_assert_ptr_null(rtmp_access_parse_rule("allow publish 127.0.0.1", &r, err, sizeof(err)));
    ck_assert(r.allow && r.action == rtmp_access_action::publish && r.family == AF_INET);
    ck_assert_ptr_null(rtmp_access_parse_rule("  deny \t play   all ", &r, err, sizeof(err)));
    ck_assert(!r.allow && r.action == rtmp_access_action::play && r.family == AF_UNSPEC);
    ck_assert_ptr_null(rtmp_access_parse_rule("deny play fd00::/8", &r, err, sizeof(err)));
    ck_assert_int_eq(r.family, AF_INET6);
    ck_assert_int_eq(r.mask[0], 0xff);
    ck_assert_int_eq(r.mask[1], 0);

    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"allow publish", "must read \"allow|deny publish|play ADDRESS\""},
        {"allow publish 1.2.3.4 extra", "must read"},
        {"", "must read"},
        {"permit publish all", "must start with \"allow\" or \"deny\", not \"permit\""},
        {"allow publush all", "\"publush\" must be \"publish\" or \"play\""},
        {"allow play 1.2.3", "\"1.2.3\" is not an IPv4 or IPv6 address"},
        {"allow play localhost", "not an IPv4 or IPv6 address"},
        {"allow play 10.0.0.0/33", "prefix length after '/' must be 0..32"},
        {"allow play ::1/129", "must be 0..128"},
        {"allow play 10.0.0.0/", "must be 0..32"},
        {"allow play 10.0.0.0/x", "must be 0..32"},
        {"allow play /8", "not an IPv4 or IPv6 address"},
        {"allow play 10.1.2.3/8", "has bits set beyond its /8 prefix (the network is 10.0.0.0/8)"},
        {"allow play fd00::1/8", "(the network is fd00::/8)"},
    };
    for (const auto &b : bad) {
        const char *got = rtmp_access_parse_rule(b.text, &r, err, sizeof(err));
        ck_assert_msg(got != nullptr, "accepted \"%s\"", b.text);
        ck_assert_msg(strstr(got, b.why) != nullptr, "\"%s\": %s", b.text, got);
    }
}
END_TEST

START_TEST(test_match_v4_and_cidr_edges)
{
    rules_t rs;
    auto *l = rules(&rs, {"deny play 10.1.2.3", "allow play 10.0.0.0/8", "deny play 0.0.0.0/0"});
    ck_assert_str_eq(decides(l, "10.1.2.3"), "deny play 10.1.2.3"); // a host is /32
    ck_assert_str_eq(decides(l, "10.1.2.4"), "allow play 10.0.0.0/8");
    ck_assert_str_eq(decides(l, "10.255.255.255"), "allow play 10.0.0.0/8");
    ck_assert_str_eq(decides(l, "11.0.0.0"), "deny play 0.0.0.0/0");
    ck_assert_str_eq(decides(l, "9.255.255.255"), "deny play 0.0.0.0/0");
    ck_assert_str_eq(decides(l, "::1"), "none"); // IPv4 rules, even /0, leave IPv6 alone

    auto *odd = rules(&rs, {"allow publish 192.168.4.0/22", "allow publish 172.16.0.0/12"});
    ck_assert_str_eq(decides(odd, "192.168.7.255"), "allow publish 192.168.4.0/22");
    ck_assert_str_eq(decides(odd, "192.168.8.0"), "none");
    ck_assert_str_eq(decides(odd, "192.168.3.255"), "none");
    ck_assert_str_eq(decides(odd, "172.31.255.255"), "allow publish 172.16.0.0/12");
    ck_assert_str_eq(decides(odd, "172.32.0.0"), "none");
}
END_TEST

START_TEST(test_match_v6_and_mapped)
{
    rules_t rs;
    auto *l = rules(&rs, {"allow publish ::1", "deny publish 2001:db8::1/128",
                          "allow publish 2001:db8::/32", "deny publish ::/0"});
    ck_assert_str_eq(decides(l, "::1"), "allow publish ::1");
    ck_assert_str_eq(decides(l, "::2"), "deny publish ::/0");
    ck_assert_str_eq(decides(l, "2001:db8::1"), "deny publish 2001:db8::1/128");
    ck_assert_str_eq(decides(l, "2001:db8:ffff::2"), "allow publish 2001:db8::/32");
    ck_assert_str_eq(decides(l, "2001:db9::"), "deny publish ::/0");
    ck_assert_str_eq(decides(l, "127.0.0.1"), "none"); // IPv6 rules leave IPv4 alone
    // an IPv4 client on a dual-stack listener is ::ffff:a.b.c.d: IPv4 rules apply to it
    ck_assert_str_eq(decides(l, "::ffff:127.0.0.1"), "none");

    auto *v4 = rules(&rs, {"allow publish 127.0.0.1", "deny publish all"});
    ck_assert_str_eq(decides(v4, "::ffff:127.0.0.1"), "allow publish 127.0.0.1");
    ck_assert_str_eq(decides(v4, "::ffff:127.0.0.2"), "deny publish all");
    ck_assert_str_eq(decides(v4, "::1"), "deny publish all");

    // and a rule written in the mapped form is the IPv4 rule it means
    auto *mapped = rules(&rs, {"allow play ::ffff:10.0.0.0/104", "allow play ::ffff:192.0.2.7"});
    ck_assert_int_eq(rs.r[0].family, AF_INET);
    ck_assert_str_eq(decides(mapped, "10.9.8.7"), "allow play ::ffff:10.0.0.0/104");
    ck_assert_str_eq(decides(mapped, "::ffff:10.9.8.7"), "allow play ::ffff:10.0.0.0/104");
    ck_assert_str_eq(decides(mapped, "192.0.2.7"), "allow play ::ffff:192.0.2.7");
    ck_assert_str_eq(decides(mapped, "192.0.2.8"), "none");
}
END_TEST

START_TEST(test_first_match_wins)
{
    rules_t rs;
    auto *deny_first = rules(&rs, {"deny publish all", "allow publish 127.0.0.1"});
    ck_assert_str_eq(decides(deny_first, "127.0.0.1"), "deny publish all");
    auto *allow_first = rules(&rs, {"allow publish 127.0.0.1", "deny publish all"});
    ck_assert_str_eq(decides(allow_first, "127.0.0.1"), "allow publish 127.0.0.1");
    ck_assert_str_eq(decides(allow_first, "127.0.0.2"), "deny publish all");
    auto *none = rules(&rs, {});
    ck_assert_str_eq(decides(none, "127.0.0.1"), "none");

    // unix-socket peers (pulls between workers) match nothing, not even "all"
    struct sockaddr_un un = {};
    un.sun_family = AF_UNIX;
    auto *all = rules(&rs, {"deny play all"});
    ck_assert_ptr_null(rtmp_access_match(all, reinterpret_cast<struct sockaddr *>(&un)));
}
END_TEST

static const rtmp_access_rules_t *app_rules(rtmp_cycle_t *cycle, size_t srv, size_t app,
                                            bool publish)
{
    rtmp_access_app_conf_t *acf = rtmp_access_app_conf(cycle->servers[srv]->apps[app]);
    return publish ? &acf->publish : &acf->play;
}

START_TEST(test_conf_order_and_inheritance)
{
    rtmp_cycle_t *cycle = read_conf(
        "rtmp = {\n"
        "  access = ( \"allow publish 127.0.0.1\", \"deny publish all\", \"allow play all\" );\n"
        "  server = (\n"
        "    { listen = \"127.0.0.1:19350\";\n"
        "      application = (\n"
        "        { name = \"a\"; },\n"
        "        { name = \"b\"; deny_play = [ \"10.0.0.0/8\", \"::1\" ]; allow_play = \"all\";\n"
        "          access = \"deny play 192.0.2.1\"; },\n"
        "        { name = \"c\"; allow_publish = \"all\"; } ); },\n"
        "    { listen = \"127.0.0.1:19351\";\n"
        "      access = \"deny publish 127.0.0.1\";\n"
        "      application = ( { name = \"d\"; } ); } );\n"
        "};\n");
    ck_assert_msg(cycle != nullptr, "%s", error);

    // a: everything from rtmp, in file order, with where each rule was written
    const rtmp_access_rules_t *p = app_rules(cycle, 0, 0, true);
    ck_assert_uint_eq(p->n, 2);
    ck_assert_str_eq(p->rules[0].text, "allow publish 127.0.0.1");
    ck_assert_str_eq(p->rules[1].text, "deny publish all");
    ck_assert_int_eq(p->rules[1].line, 2);
    ck_assert_ptr_nonnull(strstr(p->rules[1].file, "/rtmp.conf"));
    ck_assert_str_eq(decides(p, "127.0.0.1"), "allow publish 127.0.0.1");
    ck_assert_str_eq(decides(p, "192.0.2.1"), "deny publish all");
    ck_assert_uint_eq(app_rules(cycle, 0, 0, false)->n, 1);

    // b: its own play rules in the order written (directive forms mixed), rtmp's publish rules
    const rtmp_access_rules_t *b = app_rules(cycle, 0, 1, false);
    ck_assert_uint_eq(b->n, 4);
    ck_assert_str_eq(b->rules[0].text, "deny play 10.0.0.0/8");
    ck_assert_str_eq(b->rules[1].text, "deny play ::1");
    ck_assert_str_eq(b->rules[2].text, "allow play all");
    ck_assert_str_eq(b->rules[3].text, "deny play 192.0.2.1");
    ck_assert_str_eq(decides(b, "192.0.2.1"), "allow play all"); // after "all": never reached
    ck_assert_str_eq(decides(b, "10.2.3.4"), "deny play 10.0.0.0/8");
    ck_assert_uint_eq(app_rules(cycle, 0, 1, true)->n, 2);

    // c: publish rules replaced, play inherited
    ck_assert_str_eq(decides(app_rules(cycle, 0, 2, true), "192.0.2.1"), "allow publish all");
    ck_assert_uint_eq(app_rules(cycle, 0, 2, false)->n, 1);

    // d: the server's publish rules replace rtmp's; play still from rtmp
    ck_assert_str_eq(decides(app_rules(cycle, 1, 0, true), "127.0.0.1"), "deny publish 127.0.0.1");
    ck_assert_str_eq(decides(app_rules(cycle, 1, 0, false), "127.0.0.1"), "allow play all");
    rtmp_pool_destroy(cycle->pool);

    // no rules anywhere: nothing to match, everyone allowed
    cycle = read_conf("rtmp = { server = { listen = \"127.0.0.1:19350\";\n"
                      "  application = { name = \"a\"; }; }; };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_uint_eq(app_rules(cycle, 0, 0, true)->n, 0);
    ck_assert_uint_eq(app_rules(cycle, 0, 0, false)->n, 0);
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

static void assert_refused(const char *text, int line, const char *what)
{
    rtmp_cycle_t *cycle = read_conf(text);
    ck_assert_msg(cycle == nullptr, "accepted: %s", text);
    char where[160];
    snprintf(where, sizeof(where), "%s/rtmp.conf:%d: ", dir, line);
    ck_assert_msg(strstr(error, where) != nullptr, "expected \"%s\" in \"%s\"", where, error);
    ck_assert_msg(strstr(error, what) != nullptr, "expected \"%s\" in \"%s\"", what, error);
}

START_TEST(test_conf_errors)
{
    // the line is the bad element's, not the directive's
    assert_refused("rtmp = {\n  access = (\n    \"allow publish 127.0.0.1\",\n"
                   "    \"allow publish 127.0.0.300\" );\n"
                   "  server = { listen = \"1935\"; }; };\n",
                   4,
                   "\"access\": rule \"allow publish 127.0.0.300\": \"127.0.0.300\" is not an IPv4 "
                   "or IPv6 address, a CIDR block or \"all\"");
    assert_refused("rtmp = {\n  access = \"allow everyone\";\n"
                   "  server = { listen = \"1935\"; }; };\n",
                   2, "must read \"allow|deny publish|play ADDRESS\"");
    assert_refused(
        "rtmp = { server = { listen = \"1935\";\n"
        "  application = { name = \"a\";\n    deny_publish = [ \"10.0.0.1/8\" ]; }; }; };\n",
        3, "\"deny_publish\": \"10.0.0.1/8\" has bits set beyond its /8 prefix");
    assert_refused("rtmp = {\n  access = 5;\n  server = { listen = \"1935\"; }; };\n", 2,
                   "\"access\" must be a rule or a list of rules");
    assert_refused("rtmp = {\n  access = ();\n  server = { listen = \"1935\"; }; };\n", 2,
                   "\"access\" must be a rule or a list of rules");
    assert_refused("rtmp = {\n  allow_play = ( \"all\",\n 7 );\n"
                   "  server = { listen = \"1935\"; }; };\n",
                   3, "\"allow_play\" must be an address, a CIDR block or \"all\"");
    assert_refused("access = \"allow play all\";\n", 1,
                   "directive \"access\" is not allowed in the top level");
}
END_TEST

Suite *rtmp_access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("access");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_rules);
    tcase_add_test(tc, test_match_v4_and_cidr_edges);
    tcase_add_test(tc, test_match_v6_and_mapped);
    tcase_add_test(tc, test_first_match_wins);
    tcase_add_test(tc, test_conf_order_and_inheritance);
    tcase_add_test(tc, test_conf_errors);
    suite_add_tcase(s, tc);
    return s;
}
