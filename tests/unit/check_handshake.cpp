// Unit tests for the RTMP handshake: real clients' captures, both roles, every split point.
#include <check.h>
#include <cstdio>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_handshake.h"

// The tests recompute every digest on their own, from the keys as the protocol defines
// them, rather than trusting the code under test.
static const u_char t_tail[32] = {0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0,
                                  0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80,
                                  0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};
static const char t_fp[] = "Genuine Adobe Flash Player 001";
static const char t_fms[] = "Genuine Adobe Flash Media Server 001";

constexpr size_t T_HS = 1536, T_ALL = 1 + 2 * T_HS;

static rtmp_log_t t_log = {RTMP_LOG_ERR, nullptr, nullptr, nullptr};

static void t_key(const char *text, u_char *key, size_t *len, bool full)
{
    size_t n = strlen(text);
    memcpy(key, text, n);
    if (full) {
        memcpy(key + n, t_tail, sizeof(t_tail));
        n += sizeof(t_tail);
    }
    *len = n;
}

static void t_hmac(const u_char *key, size_t klen, const u_char *data, size_t len, u_char *md)
{
    unsigned mdlen = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)klen, data, len, md, &mdlen));
    ck_assert_uint_eq(mdlen, 32);
}

static size_t t_offset(const u_char *p, int scheme)
{
    size_t base = scheme ? 772 : 8;
    return (size_t)(p[base] + p[base + 1] + p[base + 2] + p[base + 3]) % 728 + base + 4;
}

// HMAC of the packet without the 32 bytes at off, keyed by a key's text part.
static void t_digest(const u_char *p, size_t off, const char *text, u_char *md)
{
    u_char key[80], data[T_HS - 32];
    size_t klen;
    t_key(text, key, &klen, false);
    memcpy(data, p, off);
    memcpy(data + off, p + off + 32, T_HS - off - 32);
    t_hmac(key, klen, data, sizeof(data), md);
}

// The scheme whose digest verifies, or -1.
static int t_find(const u_char *p, const char *text, u_char *digest)
{
    for (int scheme = 0; scheme < 2; scheme++) {
        u_char md[32];
        size_t off = t_offset(p, scheme);
        t_digest(p, off, text, md);
        if (memcmp(md, p + off, 32) == 0) {
            memcpy(digest, md, 32);
            return scheme;
        }
    }
    return -1;
}

// Whether a C2/S2 carries the HMAC keyed by HMAC(full key of `text`, peer digest).
static bool t_reply_ok(const u_char *p, const char *text, const u_char *peer_digest)
{
    u_char key[80], k2[32], md[32];
    size_t klen;
    t_key(text, key, &klen, true);
    t_hmac(key, klen, peer_digest, 32, k2);
    t_hmac(k2, 32, p, T_HS - 32, md);
    return memcmp(md, p + T_HS - 32, 32) == 0;
}

static size_t t_load(const char *name, u_char *buf, size_t max)
{
    char path[256];
    snprintf(path, sizeof(path), "tests/data/handshake/%s", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != nullptr, "cannot open %s (run from the repository root)", path);
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

static rtmp_int_t t_feed(rtmp_handshake_t *hs, const u_char *p, size_t len, size_t *consumed)
{
    return rtmp_handshake_feed(hs, std::span<const u_char>{p, len}, consumed);
}

// ---- real clients against our server ---------------------------------------------------

struct t_capture {
    const char *name;
    rtmp_handshake_type type; // what librtmp / ffmpeg sent
};

static const t_capture t_captures[] = {
    {"rtmpdump", rtmp_handshake_type::simple}, // librtmp without SWF verification: no digest
    {"rtmpdump_swfvfy", rtmp_handshake_type::complex},
    {"ffmpeg", rtmp_handshake_type::complex},
    {"ffmpeg_play", rtmp_handshake_type::complex},
};

// Checks a server's S0S1S2 answer to c0c1 independently.
static void t_check_server_out(const rtmp_handshake_t *hs, const u_char *c0c1, bool complex)
{
    const u_char *out = hs->out.pos;
    ck_assert_uint_eq(rtmp_buf_size(&hs->out), T_ALL);
    ck_assert_uint_eq(out[0], 3);
    const u_char *s1 = out + 1, *s2 = out + 1 + T_HS, *c1 = c0c1 + 1;
    u_char cd[32], sd[32];
    if (!complex) {
        ck_assert_uint_eq(s1[4] | s1[5] | s1[6] | s1[7], 0);
        ck_assert_mem_eq(s2, c1, T_HS);
        return;
    }
    int scheme = t_find(c1, t_fp, cd);
    ck_assert_int_ge(scheme, 0);
    ck_assert_uint_ne(s1[4] | s1[5] | s1[6] | s1[7], 0);
    // S1's digest sits in the client's scheme, signed with the server key's text part.
    u_char md[32];
    size_t off = t_offset(s1, scheme);
    t_digest(s1, off, t_fms, md);
    ck_assert_mem_eq(md, s1 + off, 32);
    ck_assert_int_eq(t_find(s1, t_fms, sd), scheme);
    ck_assert(t_reply_ok(s2, t_fms, cd));
}

START_TEST(test_capture_server)
{
    const t_capture *cap = &t_captures[_i];
    char name[64];
    u_char c0c1[T_ALL], in[T_ALL + 16];
    snprintf(name, sizeof(name), "%s_c0c1.bin", cap->name);
    ck_assert_uint_eq(t_load(name, c0c1, sizeof(c0c1)), 1 + T_HS);
    snprintf(name, sizeof(name), "%s_c2.bin", cap->name);
    ck_assert_uint_eq(t_load(name, in, sizeof(in)), T_HS);
    // the first bytes of the chunk stream follow C2 in the same read
    memcpy(in + T_HS, "\x03\x00\x00\x00\x00", 5);

    rtmp_handshake_t hs;
    size_t n;
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, c0c1, 1 + T_HS, &n), RTMP_AGAIN);
    ck_assert_uint_eq(n, 1 + T_HS);
    ck_assert(hs.type == cap->type);
    ck_assert_uint_eq(hs.peer_digest_ok, cap->type == rtmp_handshake_type::complex);
    if (cap->type == rtmp_handshake_type::complex) {
        u_char cd[32];
        ck_assert_int_eq(hs.scheme, t_find(c0c1 + 1, t_fp, cd)); // all of them use scheme 0
        ck_assert_int_eq(hs.scheme, 0);
        ck_assert_mem_eq(hs.peer_digest, cd, 32);
    }
    t_check_server_out(&hs, c0c1, cap->type == rtmp_handshake_type::complex);

    // Their C2 answered nginx's S1, not ours: accepted all the same, reported as such.
    ck_assert_int_eq(t_feed(&hs, in, T_HS + 5, &n), RTMP_DONE);
    ck_assert_uint_eq(n, T_HS);
    ck_assert(hs.reply == rtmp_handshake_reply::mismatch);
    ck_assert_int_eq(t_feed(&hs, in + T_HS, 5, &n), RTMP_DONE);
    ck_assert_uint_eq(n, 0);
}
END_TEST

// Our client replaying a recorded C1 against nginx-rtmp's recorded answer to it.
START_TEST(test_capture_client)
{
    const t_capture *cap = &t_captures[_i];
    char name[64];
    u_char c0c1[T_ALL], s[T_ALL + 8], c2[T_HS];
    snprintf(name, sizeof(name), "%s_c0c1.bin", cap->name);
    ck_assert_uint_eq(t_load(name, c0c1, sizeof(c0c1)), 1 + T_HS);
    snprintf(name, sizeof(name), "nginx_s0s1s2_for_%s.bin", cap->name);
    ck_assert_uint_eq(t_load(name, s, sizeof(s)), T_ALL);
    snprintf(name, sizeof(name), "%s_c2.bin", cap->name);
    ck_assert_uint_eq(t_load(name, c2, sizeof(c2)), T_HS);
    memcpy(s + T_ALL, "\x02\x00\x00\x00", 4);

    rtmp_handshake_t hs;
    size_t n;
    ck_assert_int_eq(
        rtmp_handshake_init_client_c1(&hs, std::span<const u_char>{c0c1 + 1, T_HS}, &t_log),
        RTMP_OK);
    ck_assert_uint_eq(rtmp_buf_size(&hs.out), 1 + T_HS);
    ck_assert_mem_eq(hs.out.pos, c0c1, 1 + T_HS);
    hs.out.pos = hs.out.last;

    ck_assert_int_eq(t_feed(&hs, s, T_ALL + 4, &n), RTMP_DONE);
    ck_assert_uint_eq(n, T_ALL);
    ck_assert_uint_eq(rtmp_buf_size(&hs.out), T_HS);
    const u_char *our_c2 = hs.out.pos;
    if (cap->type == rtmp_handshake_type::simple) {
        // nginx answers a digest-less C1 with the simple handshake; so do we, and our C2
        // is then byte for byte what rtmpdump sent.
        ck_assert(hs.type == rtmp_handshake_type::simple);
        ck_assert(hs.reply == rtmp_handshake_reply::echo);
        ck_assert_mem_eq(our_c2, c2, T_HS);
        return;
    }
    u_char sd[32];
    ck_assert(hs.type == rtmp_handshake_type::complex);
    ck_assert_uint_eq(hs.peer_digest_ok, 1);
    ck_assert_int_eq(hs.scheme, t_find(s + 1, t_fms, sd));
    ck_assert(hs.reply == rtmp_handshake_reply::digest); // nginx's S2 verifies against our C1
    ck_assert(t_reply_ok(our_c2, t_fp, sd));
    if (strcmp(cap->name, "ffmpeg") != 0) {
        // the real client's C2 verifies the same way (ffmpeg publishing echoes S1 instead)
        ck_assert(t_reply_ok(c2, t_fp, sd));
    } else {
        ck_assert_mem_eq(c2, s + 1, T_HS);
    }
}
END_TEST

// ---- our server and our client ---------------------------------------------------------

START_TEST(test_client_c0c1)
{
    rtmp_handshake_t hs;
    ck_assert_int_eq(rtmp_handshake_init_client(&hs, &t_log), RTMP_OK);
    ck_assert_uint_eq(rtmp_buf_size(&hs.out), 1 + T_HS);
    const u_char *p = hs.out.pos;
    ck_assert_uint_eq(p[0], 3);
    ck_assert_uint_eq(p[5], 0x80);
    ck_assert_uint_eq(p[6], 0x00);
    ck_assert_uint_eq(p[7], 0x07);
    ck_assert_uint_eq(p[8], 0x02);
    u_char d[32];
    ck_assert_int_eq(t_find(p + 1, t_fp, d), 0);
    ck_assert_mem_eq(hs.digest, d, 32);
}
END_TEST

// A forked worker's C1/S1 filler is not its parent's: the generator reseeds in the child.
START_TEST(test_fork_reseeds)
{
    rtmp_handshake_t hs;
    ck_assert_int_eq(rtmp_handshake_init_client(&hs, &t_log), RTMP_OK); // seeded here
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rtmp_handshake_t child;
        bool ok = rtmp_handshake_init_client(&child, &t_log) == RTMP_OK &&
                  write(fds[1], child.out.pos + 9, T_HS - 8) == (ssize_t)(T_HS - 8);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]); // the child's exit ends the read below
    ck_assert_int_eq(rtmp_handshake_init_client(&hs, &t_log), RTMP_OK);
    u_char got[T_HS];
    size_t n = 0;
    for (ssize_t r; n < T_HS - 8 && (r = read(fds[0], got + n, T_HS - 8 - n)) > 0;) {
        n += (size_t)r;
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(n, T_HS - 8);
    // past time and version, the bytes the parent's next C1 would repeat without a reseed
    ck_assert(memcmp(got, hs.out.pos + 9, T_HS - 8) != 0);
    close(fds[0]);
}
END_TEST

// Moves up to `max` bytes from one side's output into the other's input.
static rtmp_int_t t_pump(rtmp_handshake_t *from, rtmp_handshake_t *to, size_t max, size_t *total)
{
    size_t len = std::min(rtmp_buf_size(&from->out), max), n;
    rtmp_int_t rc = t_feed(to, from->out.pos, len, &n);
    ck_assert_uint_le(n, len);
    from->out.pos += n;
    *total += n;
    return rc;
}

// Runs a server and a client against each other, `step` bytes at a time.
static void t_pair(size_t step)
{
    rtmp_handshake_t srv, cli;
    ck_assert_int_eq(rtmp_handshake_init_server(&srv, &t_log), RTMP_OK);
    ck_assert_int_eq(rtmp_handshake_init_client(&cli, &t_log), RTMP_OK);
    rtmp_int_t src = RTMP_AGAIN, crc = RTMP_AGAIN;
    size_t stotal = 0, ctotal = 0;
    for (int i = 0; i < 20000 && (src != RTMP_DONE || crc != RTMP_DONE); i++) {
        if (src == RTMP_AGAIN) {
            src = t_pump(&cli, &srv, step, &stotal);
        }
        if (crc == RTMP_AGAIN) {
            crc = t_pump(&srv, &cli, step, &ctotal);
        }
    }
    ck_assert_int_eq(src, RTMP_DONE);
    ck_assert_int_eq(crc, RTMP_DONE);
    ck_assert_uint_eq(stotal, T_ALL);
    ck_assert_uint_eq(ctotal, T_ALL);
    ck_assert_uint_eq(rtmp_buf_size(&cli.out), 0);
    ck_assert_uint_eq(rtmp_buf_size(&srv.out), 0);
    ck_assert(srv.type == rtmp_handshake_type::complex);
    ck_assert(cli.type == rtmp_handshake_type::complex);
    ck_assert_int_eq(srv.scheme, 0);
    ck_assert_int_eq(cli.scheme, 0);
    ck_assert(srv.reply == rtmp_handshake_reply::digest);
    ck_assert(cli.reply == rtmp_handshake_reply::digest);
    ck_assert_mem_eq(srv.peer_digest, cli.digest, 32);
    ck_assert_mem_eq(cli.peer_digest, srv.digest, 32);
}

START_TEST(test_pair_steps)
{
    static const size_t steps[] = {1, 2, 3, 7, 100, 1535, 1536, 1537, 1538, 3072, 3073, 5000};
    for (size_t step : steps) {
        t_pair(step);
    }
}
END_TEST

// Every split point of C0C1 and of C2 gives the same results and a valid S0S1S2.
START_TEST(test_every_split)
{
    u_char c0c1[T_ALL], c2[T_HS];
    t_load("ffmpeg_play_c0c1.bin", c0c1, sizeof(c0c1));
    t_load("ffmpeg_play_c2.bin", c2, sizeof(c2));
    for (size_t k = 0; k <= 1 + T_HS; k++) {
        rtmp_handshake_t hs;
        size_t n;
        ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
        ck_assert_int_eq(t_feed(&hs, c0c1, k, &n), RTMP_AGAIN);
        ck_assert_uint_eq(n, k);
        ck_assert_uint_eq(rtmp_buf_size(&hs.out), k == 1 + T_HS ? T_ALL : 0);
        ck_assert_int_eq(t_feed(&hs, c0c1 + k, 1 + T_HS - k, &n), RTMP_AGAIN);
        ck_assert_uint_eq(n, 1 + T_HS - k);
        ck_assert(hs.type == rtmp_handshake_type::complex);
        t_check_server_out(&hs, c0c1, true);
        // C2 split at a point that moves with k, so all of them are covered too
        size_t j = k < T_HS ? k : T_HS;
        ck_assert_int_eq(t_feed(&hs, c2, j, &n), j == T_HS ? RTMP_DONE : RTMP_AGAIN);
        ck_assert_uint_eq(n, j);
        ck_assert_int_eq(t_feed(&hs, c2 + j, T_HS - j, &n), RTMP_DONE);
        ck_assert_uint_eq(n, T_HS - j);
        ck_assert(hs.reply == rtmp_handshake_reply::mismatch);
    }

    // the simple handshake's answer is deterministic in its S2: identical at every split
    t_load("rtmpdump_c0c1.bin", c0c1, sizeof(c0c1));
    for (size_t k = 0; k <= 1 + T_HS; k += 7) {
        rtmp_handshake_t hs;
        size_t n;
        ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
        ck_assert_int_eq(t_feed(&hs, c0c1, k, &n), RTMP_AGAIN);
        ck_assert_int_eq(t_feed(&hs, c0c1 + k, 1 + T_HS - k, &n), RTMP_AGAIN);
        t_check_server_out(&hs, c0c1, false);
    }
}
END_TEST

// One byte at a time, client side, against a recorded nginx answer.
START_TEST(test_client_bytewise)
{
    u_char c0c1[T_ALL], s[T_ALL];
    t_load("rtmpdump_swfvfy_c0c1.bin", c0c1, sizeof(c0c1));
    t_load("nginx_s0s1s2_for_rtmpdump_swfvfy.bin", s, sizeof(s));
    for (size_t k = 0; k <= T_ALL; k += 61) {
        rtmp_handshake_t hs;
        size_t n;
        ck_assert_int_eq(
            rtmp_handshake_init_client_c1(&hs, std::span<const u_char>{c0c1 + 1, T_HS}, &t_log),
            RTMP_OK);
        ck_assert_int_eq(t_feed(&hs, s, k, &n), k == T_ALL ? RTMP_DONE : RTMP_AGAIN);
        for (size_t i = k; i < T_ALL; i++) {
            ck_assert_int_eq(t_feed(&hs, s + i, 1, &n), i + 1 == T_ALL ? RTMP_DONE : RTMP_AGAIN);
            ck_assert_uint_eq(n, 1);
            // C2 is ready once S1 is in
            ck_assert_uint_eq(rtmp_buf_size(&hs.out), i + 1 >= 1 + T_HS ? T_ALL : 1 + T_HS);
        }
        ck_assert(hs.reply == rtmp_handshake_reply::digest);
    }
}
END_TEST

START_TEST(test_simple_echo)
{
    u_char c[T_ALL];
    c[0] = 3;
    ck_assert_int_eq(RAND_bytes(c + 1, T_HS), 1);
    memset(c + 1, 0, 8); // time 0, zero version: RTMP 1.0 spec 5.2.3
    rtmp_handshake_t hs;
    size_t n;
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, c, 1 + T_HS, &n), RTMP_AGAIN);
    ck_assert(hs.type == rtmp_handshake_type::simple);
    t_check_server_out(&hs, c, false);
    // C2 echoes S1
    u_char c2[T_HS];
    memcpy(c2, hs.out.pos + 1, T_HS);
    ck_assert_int_eq(t_feed(&hs, c2, T_HS, &n), RTMP_DONE);
    ck_assert(hs.reply == rtmp_handshake_reply::echo);

    // a non-zero version without a valid digest falls back to the echo too
    c[5] = 9;
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, c, 1 + T_HS, &n), RTMP_AGAIN);
    ck_assert(hs.type == rtmp_handshake_type::simple);
    ck_assert_uint_eq(hs.peer_version, 0x09000000);
    t_check_server_out(&hs, c, false);
}
END_TEST

// A C1 signed in scheme 1 (base 772) gets its S1 in scheme 1.
START_TEST(test_scheme1)
{
    u_char c[T_ALL], md[32];
    size_t off;
    c[0] = 3;
    for (;;) {
        ck_assert_int_eq(RAND_bytes(c + 1, T_HS), 1);
        c[5] = 10;
        off = t_offset(c + 1, 1);
        t_digest(c + 1, off, t_fp, md);
        memcpy(c + 1 + off, md, 32);
        u_char d[32];
        if (t_find(c + 1, t_fp, d) == 1) {
            break; // (the digest bytes may land in scheme 0's offset bytes; retry then)
        }
    }
    rtmp_handshake_t hs;
    size_t n;
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, c, 1 + T_HS, &n), RTMP_AGAIN);
    ck_assert(hs.type == rtmp_handshake_type::complex);
    ck_assert_int_eq(hs.scheme, 1);
    ck_assert_mem_eq(hs.peer_digest, md, 32);
    t_check_server_out(&hs, c, true);

    // and a client given that C1 accepts the answer in scheme 1
    rtmp_handshake_t cli;
    ck_assert_int_eq(
        rtmp_handshake_init_client_c1(&cli, std::span<const u_char>{c + 1, T_HS}, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&cli, hs.out.pos, T_ALL, &n), RTMP_DONE);
    ck_assert_int_eq(cli.scheme, 1);
    ck_assert(cli.reply == rtmp_handshake_reply::digest);
    ck_assert_int_eq(t_feed(&hs, cli.out.pos + 1 + T_HS, T_HS, &n), RTMP_DONE);
    ck_assert(hs.reply == rtmp_handshake_reply::digest);
}
END_TEST

START_TEST(test_bad_version)
{
    rtmp_handshake_t hs;
    size_t n;
    const u_char rtmpe[] = {6, 0, 0, 0};
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, rtmpe, sizeof(rtmpe), &n), RTMP_ERROR);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(hs.reason, "encrypted handshake (RTMPE) not supported");
    ck_assert_uint_eq(rtmp_buf_size(&hs.out), 0);

    const char *get = "GET / HTTP/1.1\r\n";
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, (const u_char *)get, strlen(get), &n), RTMP_ERROR);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(hs.reason, "unsupported RTMP version 71 (an HTTP request?)");
    ck_assert_uint_eq(hs.peer_rtmp_version, 0x47);
    const u_char tls[] = {0x16, 0x03, 0x01, 0x02};
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, tls, sizeof(tls), &n), RTMP_ERROR);
    ck_assert_str_eq(
        hs.reason,
        "unsupported RTMP version 22 (TLS: rtmps:// is served on listen addresses marked ssl)");
    ck_assert_int_eq(rtmp_handshake_init_server(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, (const u_char *)get, strlen(get), &n), RTMP_ERROR);
    // stays failed
    ck_assert_int_eq(t_feed(&hs, (const u_char *)get, strlen(get), &n), RTMP_ERROR);
    ck_assert_uint_eq(n, 0);

    // the client rejects an S0 other than 3 the same way
    ck_assert_int_eq(rtmp_handshake_init_client(&hs, &t_log), RTMP_OK);
    ck_assert_int_eq(t_feed(&hs, rtmpe, 1, &n), RTMP_ERROR);
    ck_assert_str_eq(hs.reason, "encrypted handshake (RTMPE) not supported");

    ck_assert_int_eq(rtmp_handshake_init_client_c1(&hs, std::span<const u_char>{rtmpe, 4}, &t_log),
                     RTMP_ERROR);
    ck_assert_ptr_nonnull(hs.reason);
}
END_TEST

// Our client against a server that only knows the spec's echo handshake.
START_TEST(test_client_simple_server)
{
    rtmp_handshake_t cli;
    size_t n;
    ck_assert_int_eq(rtmp_handshake_init_client(&cli, &t_log), RTMP_OK);
    u_char s[T_ALL];
    s[0] = 3;
    ck_assert_int_eq(RAND_bytes(s + 1, T_HS), 1);
    memset(s + 1, 0, 8);
    memcpy(s + 1 + T_HS, cli.out.pos + 1, T_HS); // S2 echoes C1
    ck_assert_int_eq(t_feed(&cli, s, T_ALL, &n), RTMP_DONE);
    ck_assert_uint_eq(n, T_ALL);
    ck_assert(cli.type == rtmp_handshake_type::simple);
    ck_assert_uint_eq(cli.peer_digest_ok, 0);
    ck_assert(cli.reply == rtmp_handshake_reply::echo);
    ck_assert_uint_eq(rtmp_buf_size(&cli.out), T_ALL);
    ck_assert_mem_eq(cli.out.pos + 1 + T_HS, s + 1, T_HS); // C2 echoes S1

    // junk S2 is tolerated, and reported
    ck_assert_int_eq(rtmp_handshake_init_client(&cli, &t_log), RTMP_OK);
    memset(s + 1 + T_HS, 0xAA, T_HS);
    ck_assert_int_eq(t_feed(&cli, s, T_ALL, &n), RTMP_DONE);
    ck_assert(cli.reply == rtmp_handshake_reply::mismatch);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(rtmp_handshake_type_name(rtmp_handshake_type::complex), "complex");
    ck_assert_str_eq(rtmp_handshake_type_name(rtmp_handshake_type::simple), "simple");
    ck_assert_str_eq(rtmp_handshake_reply_name(rtmp_handshake_reply::digest), "digest");
    ck_assert_str_eq(rtmp_handshake_reply_name(rtmp_handshake_reply::mismatch), "mismatch");
}
END_TEST

Suite *rtmp_handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("capture");
    tcase_add_loop_test(tc, test_capture_server, 0, (int)rtmp_nelems(t_captures));
    tcase_add_loop_test(tc, test_capture_client, 0, (int)rtmp_nelems(t_captures));
    tcase_add_test(tc, test_client_bytewise);
    tcase_add_test(tc, test_every_split);
    suite_add_tcase(s, tc);

    tc = tcase_create("roles");
    tcase_add_test(tc, test_client_c0c1);
    tcase_add_test(tc, test_fork_reseeds);
    tcase_add_test(tc, test_pair_steps);
    tcase_add_test(tc, test_simple_echo);
    tcase_add_test(tc, test_scheme1);
    tcase_add_test(tc, test_bad_version);
    tcase_add_test(tc, test_client_simple_server);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}
