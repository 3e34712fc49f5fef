// Stream keys: a known HMAC vector, mint and verify, expiry, address binding, malformed keys.
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_key.h"

#include <arpa/inet.h>
#include <cctype>
#include <check.h>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char error[600];

static constexpr std::string_view SECRET = "0123456789abcdef0123";
static constexpr int64_t EXPIRY = 1795314703;
// printf 'live/cam1\n1795314703' | openssl dgst -sha256 -hmac 0123456789abcdef0123
static constexpr std::string_view KEY =
    "1795314703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f";

static void setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_key_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown()
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_conf(const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/rtmp.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static rtmp_key_result verify(std::string_view key, int64_t now = EXPIRY - 10,
                              std::string_view addr = "192.0.2.7", std::string_view secret = SECRET,
                              std::string_view name = "cam1")
{
    return rtmp_key_verify(secret, "live", name, key, now, addr);
}

START_TEST(test_known_vector)
{
    char key[RTMP_KEY_SIZE];
    ck_assert_uint_eq(rtmp_key_mint(SECRET, "live", "cam1", EXPIRY, {}, key, sizeof(key)),
                      KEY.size());
    ck_assert(std::string_view(key) == KEY);
    ck_assert(verify(KEY) == rtmp_key_result::ok);
    // too small a buffer is refused, not overrun
    ck_assert_uint_eq(rtmp_key_mint(SECRET, "live", "cam1", EXPIRY, {}, key, 40), 0);
}
END_TEST

START_TEST(test_wrong_secret_name_app)
{
    ck_assert(verify(KEY, EXPIRY - 10, "192.0.2.7", "0123456789abcdef0124") ==
              rtmp_key_result::bad_signature);
    ck_assert(verify(KEY, EXPIRY - 10, "192.0.2.7", SECRET, "cam2") ==
              rtmp_key_result::bad_signature);
    ck_assert(rtmp_key_verify(SECRET, "other", "cam1", KEY, EXPIRY - 10, {}) ==
              rtmp_key_result::bad_signature);
    // a later expiry written into a good key breaks its signature
    char longer[RTMP_KEY_SIZE];
    snprintf(longer, sizeof(longer), "1795314704%.*s", (int)(KEY.size() - 10), KEY.data() + 10);
    ck_assert(verify(longer) == rtmp_key_result::bad_signature);
    // one flipped hex digit
    char flipped[RTMP_KEY_SIZE];
    snprintf(flipped, sizeof(flipped), "%.*s", (int)KEY.size(), KEY.data());
    flipped[KEY.size() - 1] = flipped[KEY.size() - 1] == '0' ? '1' : '0';
    ck_assert(verify(flipped) == rtmp_key_result::bad_signature);
}
END_TEST

START_TEST(test_expiry)
{
    ck_assert(verify(KEY, EXPIRY) == rtmp_key_result::ok); // good up to its second
    ck_assert(verify(KEY, EXPIRY + 1) == rtmp_key_result::expired);
    ck_assert(verify(KEY, 0) == rtmp_key_result::ok);
    // a forged key stays "invalid" even when its expiry has passed: the signature comes first
    char forged[RTMP_KEY_SIZE];
    snprintf(forged, sizeof(forged), "%.*s", (int)KEY.size(), KEY.data());
    forged[KEY.size() - 1] = forged[KEY.size() - 1] == '0' ? '1' : '0';
    ck_assert(verify(forged, EXPIRY + 1) == rtmp_key_result::bad_signature);
}
END_TEST

START_TEST(test_address_bound)
{
    char key[RTMP_KEY_SIZE];
    ck_assert_uint_gt(rtmp_key_mint(SECRET, "live", "cam1", EXPIRY, "192.0.2.7", key, sizeof(key)),
                      0);
    ck_assert(std::string_view(key) != KEY);
    ck_assert(verify(key, EXPIRY, "192.0.2.7") == rtmp_key_result::ok);
    ck_assert(verify(key, EXPIRY, "192.0.2.8") == rtmp_key_result::bad_signature);
    ck_assert(verify(key, EXPIRY, "") == rtmp_key_result::bad_signature);
    ck_assert(verify(key, EXPIRY + 1, "192.0.2.7") == rtmp_key_result::expired);
    // an unbound key works from anywhere
    ck_assert(verify(KEY, EXPIRY, "2001:db8::1") == rtmp_key_result::ok);
    ck_assert(verify(KEY, EXPIRY, "") == rtmp_key_result::ok);
    ck_assert_uint_gt(
        rtmp_key_mint(SECRET, "live", "cam1", EXPIRY, "2001:db8::1", key, sizeof(key)), 0);
    ck_assert(verify(key, EXPIRY, "2001:db8::1") == rtmp_key_result::ok);
    ck_assert(verify(key, EXPIRY, "2001:db8::2") == rtmp_key_result::bad_signature);
}
END_TEST

START_TEST(test_malformed)
{
    ck_assert(verify("") == rtmp_key_result::missing);
    static const char *bad[] = {
        "1795314703",
        "1795314703-",
        "-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
        "1795314703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3",
        "1795314703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f0",
        "1795314703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3g",
        "17953x4703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
        "+795314703-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
        "99999999999999999999-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
        "9999999999999999999-7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
        "1795314703 7169fca1c9c1944cb3ac6f3c1cc6bfe29a741fce7dd101a20206c637c2a24e3f",
    };
    for (const char *k : bad) {
        rtmp_key_result r = verify(k);
        ck_assert_msg(r == rtmp_key_result::malformed, "\"%s\": %s", k, rtmp_key_result_text(r));
    }
    // upper-case hex is the same bytes
    char upper[RTMP_KEY_SIZE];
    snprintf(upper, sizeof(upper), "%.*s", (int)KEY.size(), KEY.data());
    for (char *p = upper; *p; p++) {
        *p = (char)toupper((u_char)*p);
    }
    ck_assert(verify(upper) == rtmp_key_result::ok);
}
END_TEST

START_TEST(test_query_and_peer)
{
    ck_assert(rtmp_key_from_args("key=abc") == "abc");
    ck_assert(rtmp_key_from_args("a=1&key=abc&b=2") == "abc");
    ck_assert(rtmp_key_from_args("a=1&key=") == "");
    ck_assert(rtmp_key_from_args("akey=1&keys=2&key") == "");
    ck_assert(rtmp_key_from_args("") == "");
    ck_assert(rtmp_key_from_args("key=first&key=second") == "first");

    char buf[64];
    struct sockaddr_storage ss = {};
    auto *sa = reinterpret_cast<struct sockaddr *>(&ss);
    ss.ss_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &reinterpret_cast<struct sockaddr_in *>(&ss)->sin_addr);
    ck_assert(rtmp_key_peer_addr(sa, buf, sizeof(buf)) == "192.0.2.7");
    ss.ss_family = AF_INET6;
    inet_pton(AF_INET6, "2001:DB8:0:0::1",
              &reinterpret_cast<struct sockaddr_in6 *>(&ss)->sin6_addr);
    ck_assert(rtmp_key_peer_addr(sa, buf, sizeof(buf)) == "2001:db8::1");
    inet_pton(AF_INET6, "::ffff:192.0.2.7",
              &reinterpret_cast<struct sockaddr_in6 *>(&ss)->sin6_addr);
    ck_assert(rtmp_key_peer_addr(sa, buf, sizeof(buf)) == "192.0.2.7");
    ss.ss_family = AF_UNIX;
    ck_assert(rtmp_key_peer_addr(sa, buf, sizeof(buf)).empty());
}
END_TEST

START_TEST(test_conf)
{
    const char *path =
        write_conf("rtmp = {\n"
                   "  publish_key_secret = \"0123456789abcdef0123\";\n"
                   "  server = ( { listen = \"127.0.0.1:19352\";\n"
                   "    application = (\n"
                   "      { name = \"live\"; play_key_secret = \"play-secret-0123456789\"; },\n"
                   "      { name = \"open\"; publish_key_secret = \"\"; } ); } );\n"
                   "};\n");
    rtmp_cycle_t *cycle = rtmp_cycle_read(path, error, sizeof(error));
    ck_assert_msg(cycle != nullptr, "%s", error);
    rtmp_key_app_conf_t *live = rtmp_key_app_conf(cycle->servers[0]->apps[0]);
    rtmp_key_app_conf_t *open = rtmp_key_app_conf(cycle->servers[0]->apps[1]);
    ck_assert(live->publish_secret.sv() == SECRET);
    ck_assert(live->play_secret.sv() == "play-secret-0123456789");
    ck_assert_uint_eq(open->publish_secret.len, 0);
    ck_assert_uint_eq(open->play_secret.len, 0);
    rtmp_pool_destroy(cycle->pool);

    // what --sign reads
    char secret[128];
    int port = -1;
    ck_assert_int_eq(rtmp_key_conf_secret(path, "live", false, secret, sizeof(secret), &port, error,
                                          sizeof(error)),
                     RTMP_OK);
    ck_assert_str_eq(secret, "0123456789abcdef0123");
    ck_assert_int_eq(port, 19352);
    ck_assert_int_eq(rtmp_key_conf_secret(path, "live", true, secret, sizeof(secret), &port, error,
                                          sizeof(error)),
                     RTMP_OK);
    ck_assert_str_eq(secret, "play-secret-0123456789");
    ck_assert_int_eq(rtmp_key_conf_secret(path, "open", false, secret, sizeof(secret), &port, error,
                                          sizeof(error)),
                     RTMP_ERROR);
    ck_assert_msg(strstr(error, "application \"open\" has no publish_key_secret"), "%s", error);
    ck_assert_int_eq(rtmp_key_conf_secret(path, "nope", false, secret, sizeof(secret), &port, error,
                                          sizeof(error)),
                     RTMP_ERROR);
    ck_assert_msg(strstr(error, "no application \"nope\""), "%s", error);

    // a short secret is refused where it is written
    path = write_conf("rtmp = {\n  server = { listen = \"1935\";\n"
                      "    application = { name = \"a\";\n      publish_key_secret = \"short\"; };"
                      " }; };\n");
    ck_assert_ptr_null(rtmp_cycle_read(path, error, sizeof(error)));
    ck_assert_msg(strstr(error, "rtmp.conf:4: \"publish_key_secret\" must be at least 16"), "%s",
                  error);
    path = write_conf("rtmp = {\n  play_key_secret = 1234567890123456789;\n"
                      "  server = { listen = \"1935\"; }; };\n");
    ck_assert_ptr_null(rtmp_cycle_read(path, error, sizeof(error)));
    ck_assert_msg(strstr(error, "rtmp.conf:2: \"play_key_secret\" must be a string"), "%s", error);
}
END_TEST

Suite *rtmp_key_suite(void)
{
    Suite *s = suite_create("key");
    TCase *tc = tcase_create("key");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_known_vector);
    tcase_add_test(tc, test_wrong_secret_name_app);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_address_bound);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_query_and_peer);
    tcase_add_test(tc, test_conf);
    suite_add_tcase(s, tc);
    return s;
}
