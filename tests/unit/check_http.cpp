// HTTP request heads: every split point, limits, bad syntax, path decoding and traversal,
// Range; the http block's directives and errors.
#include "core/rtmp_module.h"
#include "http/rtmp_http.h"
#include "http/rtmp_http_parse.h"
#include "os/rtmp_cycle.h"

#include <check.h>
#include <cstdio>
#include <cstdlib>

static rtmp_http_request_t req;

static std::span<const u_char> bytes(const char *s, size_t n = (size_t)-1)
{
    return {reinterpret_cast<const u_char *>(s), n == (size_t)-1 ? strlen(s) : n};
}

static rtmp_int_t parse(const char *s, size_t max = 8192)
{
    return rtmp_http_parse_request(bytes(s), max, &req);
}

static void assert_status(const char *s, int status, size_t max = 8192)
{
    ck_assert_msg(parse(s, max) == RTMP_ERROR, "accepted: %s", s);
    ck_assert_msg(req.status == status, "%d, not %d, for: %s (%s)", req.status, status, s,
                  req.error);
}

START_TEST(test_http_simple)
{
    const char *r = "GET /hls/live/test.m3u8?x=1 HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\n\r\n";
    ck_assert_int_eq(parse(r), RTMP_OK);
    ck_assert(req.method == rtmp_http_method::get);
    ck_assert_str_eq(req.path, "/hls/live/test.m3u8");
    ck_assert(req.target == "/hls/live/test.m3u8?x=1");
    ck_assert_uint_eq(req.version, 11);
    ck_assert(req.keep_alive);
    ck_assert(req.has_range && req.range == "bytes=1-2");
    ck_assert_uint_eq(req.header_len, strlen(r));

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n"
                           "If-Modified-Since: Sun, 22 Nov 2026 03:31:08 GMT\r\n\r\n"),
                     RTMP_OK);
    ck_assert(req.if_none_match == "\"x\"");
    ck_assert(req.if_modified_since == "Sun, 22 Nov 2026 03:31:08 GMT");
    ck_assert_int_eq(parse("HEAD / HTTP/1.0\n\n"), RTMP_OK); // bare LF, no Host in 1.0
    ck_assert(req.if_none_match.empty() && req.if_modified_since.empty());
    ck_assert(req.method == rtmp_http_method::head);
    ck_assert(!req.keep_alive);
    ck_assert_uint_eq(req.header_len, 17);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), RTMP_OK);
    ck_assert(req.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"), RTMP_OK);
    ck_assert(!req.keep_alive);
    ck_assert_int_eq(parse("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"), RTMP_OK);
    ck_assert(req.method == rtmp_http_method::other && req.method_name == "DELETE");
    ck_assert_int_eq(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n"
                           "Access-Control-Request-Method: GET\r\n\r\n"),
                     RTMP_OK);
    ck_assert(req.method == rtmp_http_method::options && req.ac_req_method == "GET");
    ck_assert_int_eq(parse("GET http://example.com:8080/hls/a.ts HTTP/1.1\r\nHost: b\r\n\r\n"),
                     RTMP_OK);
    ck_assert_str_eq(req.path, "/hls/a.ts");
    ck_assert_int_eq(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), RTMP_OK); // leading CRLF
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), RTMP_OK);
}
END_TEST

// Every split of a request (and of two pipelined ones) parses the same once complete.
START_TEST(test_http_split_points)
{
    const char *r = "GET /hls/a%20b.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n"
                    "GET /two HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t first = strstr(r, "GET /two") - r;
    for (size_t n = 0; n <= strlen(r); n++) {
        rtmp_int_t rc = rtmp_http_parse_request(bytes(r, n), 8192, &req);
        if (n < first) {
            ck_assert_msg(rc == RTMP_AGAIN, "split at %zu: %d", n, (int)rc);
        } else {
            ck_assert_msg(rc == RTMP_OK, "split at %zu: %d", n, (int)rc);
            ck_assert_uint_eq(req.header_len, first);
            ck_assert_str_eq(req.path, "/hls/a b.ts");
            ck_assert(req.range == "bytes=-5");
        }
    }
    ck_assert_int_eq(parse(r + first), RTMP_OK);
    ck_assert_str_eq(req.path, "/two");
}
END_TEST

START_TEST(test_http_limits)
{
    char big[400];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    big[sizeof(big) - 1] = '\0';
    // no line end within the limit: the request line is too long
    assert_status(big, 414, 256);
    ck_assert_int_eq(parse(big, 1024), RTMP_AGAIN);
    // a complete line, headers over the limit
    char hdrs[600];
    snprintf(hdrs, sizeof(hdrs), "GET / HTTP/1.1\r\nHost: a\r\nX-Long: %0400d\r\n", 0);
    assert_status(hdrs, 431, 256);
    ck_assert_int_eq(parse(hdrs, 1024), RTMP_AGAIN);
    // a head that ends after the limit is as bad as one that never ends
    snprintf(hdrs, sizeof(hdrs), "GET / HTTP/1.1\r\nHost: a\r\nX-Long: %0400d\r\n\r\n", 0);
    assert_status(hdrs, 431, 256);
    ck_assert_int_eq(parse(hdrs, 1024), RTMP_OK);
    // a decoded path longer than we keep
    char path[RTMP_HTTP_MAX_PATH + 64];
    memset(path, 'p', sizeof(path));
    memcpy(path, "GET /", 5);
    snprintf(path + RTMP_HTTP_MAX_PATH + 10, 50, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_status(path, 414);
}
END_TEST

START_TEST(test_http_bad_syntax)
{
    assert_status("GET / HTTP/1.1\r\n\r\n", 400);                  // no Host
    assert_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);      // two spaces
    assert_status("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400);     // three parts
    assert_status("GET /\r\nHost: a\r\n\r\n", 400);                // HTTP/0.9
    assert_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);       // other version
    assert_status("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);       // other minor
    assert_status("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400);       // not HTTP
    assert_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);       // bad method
    assert_status("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400);       // not origin-form
    assert_status("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400);        // no colon
    assert_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);      // space before colon
    assert_status("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400); // folding
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400); // bare CR
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400);
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 413);
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400);
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 413);
    assert_status("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    // binary junk (an RTMP handshake) is refused at once, not after the limit
    assert_status("\x03\x00\x00\x00\x00", 400);
    assert_status("\x16\x03\x01\x02\x00\x01", 400);
}
END_TEST

static int decode(const char *raw, char *out = nullptr)
{
    static char buf[256];
    size_t len;
    const char *why;
    int st = rtmp_http_decode_path(raw, out ? out : buf, sizeof(buf), &len, &why);
    if (st == 0) {
        ck_assert_uint_eq(len, strlen(out ? out : buf));
    }
    return st;
}

START_TEST(test_http_traversal)
{
    char out[256];
    ck_assert_int_eq(decode("/hls/live/a.ts", out), 0);
    ck_assert_str_eq(out, "/hls/live/a.ts");
    ck_assert_int_eq(decode("/hls/%41%62c%2Fd", out), 0);
    ck_assert_str_eq(out, "/hls/Abc/d");
    ck_assert_int_eq(decode("/hls/a..b/c", out), 0);
    ck_assert_int_eq(decode("/hls/.hidden", out), 0);

    const char *bad[] = {
        "/hls/../rtmp.conf",
        "/hls/%2e%2e/rtmp.conf",
        "/hls/%2E%2E/x",
        "/hls/.%2e/x",
        "/hls/..",
        "/hls/.",
        "/hls/./a",
        "/..",
        "/hls//etc/passwd",
        "//etc/passwd",
        "/hls/%2f/etc",
        "/hls/a\\..\\b",
        "/hls/%5c..%5cb",
        "/hls/a%00.ts",
        "/hls/%0a",
        "/hls/%",
        "/hls/%4",
        "/hls/%zz",
        "hls/a",
        "",
        "/hls/%2e%2e%2frtmp.conf",
    };
    for (const char *p : bad) {
        ck_assert_msg(decode(p) == 400, "accepted %s", p);
    }
    // through the whole parser as well
    assert_status("GET /hls/../rtmp.conf HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_status("GET /hls/%2e%2e/rtmp.conf HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_status("GET /hls/..%2f..%2fetc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_status("GET http://h//etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    char small[8];
    size_t len;
    const char *why;
    ck_assert_int_eq(rtmp_http_decode_path("/abcdefgh", small, sizeof(small), &len, &why), 414);
}
END_TEST

START_TEST(test_http_range)
{
    uint64_t a, b;
    ck_assert_int_eq(rtmp_http_parse_range("bytes=0-99", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 0 && b == 99);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=500-", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 500 && b == 999);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=900-5000", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 900 && b == 999);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=-100", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 900 && b == 999);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=-5000", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 0 && b == 999);
    ck_assert_int_eq(rtmp_http_parse_range(" Bytes=5-5 ", 1000, &a, &b), RTMP_OK);
    ck_assert(a == 5 && b == 5);
    // not satisfiable
    ck_assert_int_eq(rtmp_http_parse_range("bytes=1000-", 1000, &a, &b), RTMP_ERROR);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=1000-2000", 1000, &a, &b), RTMP_ERROR);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=-0", 1000, &a, &b), RTMP_ERROR);
    ck_assert_int_eq(rtmp_http_parse_range("bytes=0-", 0, &a, &b), RTMP_ERROR);
    // ignored: the whole file is sent
    const char *ignored[] = {"items=0-1",     "bytes=5-1", "bytes=a-b",
                             "bytes=0-1,5-6", "bytes=",    "bytes=-",
                             "bytes=1-2x",    "bytes 0-1", "bytes=99999999999999999999-"};
    for (const char *v : ignored) {
        ck_assert_msg(rtmp_http_parse_range(v, 1000, &a, &b) == RTMP_DECLINED, "%s", v);
    }
}
END_TEST

START_TEST(test_http_content_type)
{
    ck_assert_str_eq(rtmp_http_content_type("a/b.m3u8"), "application/vnd.apple.mpegurl");
    ck_assert_str_eq(rtmp_http_content_type("x.ts"), "video/mp2t");
    ck_assert_str_eq(rtmp_http_content_type("x.m4s"), "video/iso.segment");
    ck_assert_str_eq(rtmp_http_content_type("x.mp4"), "video/mp4");
    ck_assert_str_eq(rtmp_http_content_type("x.json"), "application/json");
    ck_assert_str_eq(rtmp_http_content_type("x"), "application/octet-stream");
}
END_TEST

START_TEST(test_http_body)
{
    rtmp_http_body_t b = {};
    rtmp_http_body_append(&b, "{\"a\":\"");
    rtmp_http_body_json(&b, std::string_view("q\"b\\c\n\x01\x7f", 8));
    rtmp_http_body_append(&b, "\"}");
    std::string_view got(reinterpret_cast<char *>(b.data), b.len);
    ck_assert_msg(got == "{\"a\":\"q\\\"b\\\\c\\u000a\\u0001\\u007f\"}", "%.*s", (int)got.size(),
                  got.data());
    // growth past the first block, and printf longer than what is left
    for (int i = 0; i < 2000; i++) {
        rtmp_http_body_printf(&b, "%05d,", i);
    }
    ck_assert_uint_eq(b.len, got.size() + 2000 * 6);
    ck_assert(memcmp(b.data + b.len - 6, "01999,", 6) == 0);
    rtmp_free(b.data);
}
END_TEST

// ---- the http block ----

static char dir[64];
static char error[600];

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

static void conf_setup()
{
    rtmp_modules_init();
    snprintf(dir, sizeof(dir), "/tmp/rtmp_http_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void conf_teardown()
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void assert_refused(const char *text, int line, const char *what)
{
    rtmp_cycle_t *cycle = read_conf(text);
    ck_assert_msg(cycle == nullptr, "accepted: %s", text);
    char where[160];
    snprintf(where, sizeof(where), "%s/rtmp.conf:%d: ", dir, line);
    ck_assert_msg(strstr(error, where) != nullptr, "expected \"%s\" in \"%s\"", where, error);
    ck_assert_msg(strstr(error, what) != nullptr, "expected \"%s\" in \"%s\"", what, error);
}

START_TEST(test_http_conf)
{
    rtmp_cycle_t *cycle = read_conf("rtmp = { server = ( { listen = 1935; } ); };\n"
                                    "http = { listen = [ \"127.0.0.1:8080\", \"[::1]:8081\" ];\n"
                                    "  stat = true; cors = \"*\"; keepalive_timeout = \"5s\";\n"
                                    "  max_header_size = \"16k\"; };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_uint_eq(cycle->nlistening, 3);
    ck_assert_str_eq(cycle->listening[1].addr_text, "127.0.0.1:8080");
    ck_assert_ptr_eq((void *)cycle->listening[1].handler, (void *)rtmp_http_init);
    ck_assert_ptr_null(cycle->listening[1].server);
    ck_assert_str_eq(cycle->listening[2].addr_text, "[::1]:8081");
    rtmp_http_main_conf_t *hcf = rtmp_http_main_conf(cycle);
    ck_assert_int_eq(hcf->stat, 1);
    ck_assert_int_eq(hcf->metrics, 0);
    ck_assert(hcf->cors.sv() == "*");
    ck_assert(hcf->hls_root.sv() == "hls");
    ck_assert(hcf->hls_location.sv() == "/hls/");
    ck_assert_uint_eq(hcf->keepalive_timeout, 5000);
    ck_assert_uint_eq(hcf->client_header_timeout, 10000);
    ck_assert_int_eq(hcf->max_header_size, 16384);
    rtmp_pool_destroy(cycle->pool);

    // http alone is a server too
    cycle = read_conf("http = { listen = 8080; };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert_uint_eq(cycle->nlistening, 1);
    rtmp_pool_destroy(cycle->pool);

    assert_refused("rtmp = { server = ( { listen = 1935; } ); };\nhttp = {\n"
                   " listen = \"1935\"; };\n",
                   3, "duplicate listen 0.0.0.0:1935");
    assert_refused("http = {\n listen = \"nope\"; };\n", 2, "\"listen\" must be");
    assert_refused("http = {\n stat = 3; };\n", 2, "\"stat\" must be");
    assert_refused("http = { listen = 80;\n max_header_size = 10; };\n", 2,
                   "\"max_header_size\" must be between");
    assert_refused("http = { listen = 80;\n chunk_size = 4096; };\n", 2,
                   "directive \"chunk_size\" is not allowed in http");
    assert_refused("http = { listen = 80;\n bogus = 1; };\n", 2, "unknown directive \"bogus\"");
    assert_refused("http = 1;\n", 1, "\"http\" must be a { ... } block");
    assert_refused("rtmp = { server = ( {\n cors = \"*\"; } ); };\n", 2,
                   "directive \"cors\" is not allowed in server");
    assert_refused("http = { listen = 80;\n hls_location = \"hls\"; };\n", 2,
                   "\"hls_location\" must be a path like");
    assert_refused("http = { listen = 80;\n hls_location = \"/a/../b/\"; };\n", 2,
                   "\"hls_location\" must be a path like");
    assert_refused("http = { listen = 80;\n hls_location = \"/a%20b/\"; };\n", 2,
                   "\"hls_location\" must be a path like");
    assert_refused("http = { listen = 80;\n hls_root = \"\"; };\n", 2,
                   "\"hls_root\" must be a non-empty path");
    cycle =
        read_conf("http = { listen = 80; hls_location = \"/media/hls/\"; hls_root = \"/x\"; };\n");
    ck_assert_msg(cycle != nullptr, "%s", error);
    ck_assert(rtmp_http_main_conf(cycle)->hls_location.sv() == "/media/hls/");
    ck_assert(rtmp_http_main_conf(cycle)->hls_root.sv() == "/x");
    rtmp_pool_destroy(cycle->pool);
}
END_TEST

Suite *rtmp_http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_http_simple);
    tcase_add_test(tc, test_http_split_points);
    tcase_add_test(tc, test_http_limits);
    tcase_add_test(tc, test_http_bad_syntax);
    tcase_add_test(tc, test_http_traversal);
    tcase_add_test(tc, test_http_range);
    tcase_add_test(tc, test_http_content_type);
    tcase_add_test(tc, test_http_body);
    suite_add_tcase(s, tc);
    TCase *conf = tcase_create("conf");
    tcase_add_checked_fixture(conf, conf_setup, conf_teardown);
    tcase_add_test(conf, test_http_conf);
    suite_add_tcase(s, conf);
    return s;
}
