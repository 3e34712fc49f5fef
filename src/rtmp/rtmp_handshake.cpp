// RTMP handshake state machine: simple (RTMP 1.0 spec 5.2) and Flash's digest handshake.
#include "rtmp/rtmp_handshake.h"
#include "core/rtmp_log.h"

#include <algorithm>
#include <cstdio>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>

// The digest handshake is not in the published spec; it is what Flash Player 9+ and
// FMS 3+ speak, and librtmp, ffmpeg, OBS and nginx-rtmp interoperate with it. The keys are
// a text part (used alone to sign C1/S1) plus a shared 32-byte tail (the full key derives the
// key that signs C2/S2).
static constexpr u_char rtmp_handshake_client_key[] = {
    'G',  'e',  'n',  'u',  'i',  'n',  'e',  ' ',  'A',  'd',  'o',  'b',  'e',  ' ',  'F',  'l',
    'a',  's',  'h',  ' ',  'P',  'l',  'a',  'y',  'e',  'r',  ' ',  '0',  '0',  '1',  0xF0, 0xEE,
    0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC,
    0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};

static constexpr u_char rtmp_handshake_server_key[] = {
    'G',  'e',  'n',  'u',  'i',  'n',  'e',  ' ',  'A',  'd',  'o',  'b',  'e',  ' ',
    'F',  'l',  'a',  's',  'h',  ' ',  'M',  'e',  'd',  'i',  'a',  ' ',  'S',  'e',
    'r',  'v',  'e',  'r',  ' ',  '0',  '0',  '1',  0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68,
    0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D,
    0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};

static_assert(sizeof(rtmp_handshake_client_key) == 30 + 32);
static_assert(sizeof(rtmp_handshake_server_key) == 36 + 32);

static constexpr std::span<const u_char> rtmp_handshake_client_full{rtmp_handshake_client_key};
static constexpr std::span<const u_char> rtmp_handshake_client_text =
    rtmp_handshake_client_full.first(30);
static constexpr std::span<const u_char> rtmp_handshake_server_full{rtmp_handshake_server_key};
static constexpr std::span<const u_char> rtmp_handshake_server_text =
    rtmp_handshake_server_full.first(36);

// C2/S2 of the digest handshake: 1504 random bytes, then their HMAC.
static constexpr size_t RTMP_HANDSHAKE_REPLY_DATA =
    RTMP_HANDSHAKE_SIZE - RTMP_HANDSHAKE_DIGEST_SIZE;

using rtmp_handshake_packet = std::span<u_char, RTMP_HANDSHAKE_SIZE>;
using rtmp_handshake_cpacket = std::span<const u_char, RTMP_HANDSHAKE_SIZE>;

// One HMAC-SHA256 context per process, fetched once and re-keyed for each digest: the
// one-shot HMAC() looks the algorithms up (under a lock) and allocates on every call,
// which cost more than the hashing at thousands of handshakes a second.
static EVP_MAC_CTX *rtmp_handshake_mac_ctx()
{
    static EVP_MAC_CTX *ctx;
    if (ctx == nullptr) {
        EVP_MAC *mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : nullptr;
        EVP_MAC_free(mac); // the context holds its own reference
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
        if (c == nullptr || !EVP_MAC_CTX_set_params(c, params)) {
            EVP_MAC_CTX_free(c);
            return nullptr;
        }
        ctx = c;
    }
    return ctx;
}

// HMAC-SHA256 over a and b back to back (a packet with its digest cut out).
[[nodiscard]] static bool rtmp_handshake_hmac(std::span<const u_char> key,
                                              std::span<const u_char> a, std::span<const u_char> b,
                                              u_char *md)
{
    EVP_MAC_CTX *ctx = rtmp_handshake_mac_ctx();
    size_t len = 0;
    return ctx != nullptr && EVP_MAC_init(ctx, key.data(), key.size(), nullptr) &&
           EVP_MAC_update(ctx, a.data(), a.size()) && EVP_MAC_update(ctx, b.data(), b.size()) &&
           EVP_MAC_final(ctx, md, &len, RTMP_HANDSHAKE_DIGEST_SIZE) &&
           len == RTMP_HANDSHAKE_DIGEST_SIZE;
}

// The digest sits at (sum of 4 bytes at base) mod 728 + base + 4, base 8 for scheme 0 and
// 772 for scheme 1; either way it ends within the packet (at most 1503 + 32).
static size_t rtmp_handshake_digest_offset(rtmp_handshake_cpacket p, unsigned scheme)
{
    size_t base = scheme == 0 ? 8 : 772;
    size_t sum = (size_t)p[base] + p[base + 1] + p[base + 2] + p[base + 3];
    return sum % 728 + base + 4;
}

[[nodiscard]] static bool rtmp_handshake_digest_calc(rtmp_handshake_cpacket p, size_t off,
                                                     std::span<const u_char> key, u_char *md)
{
    std::span<const u_char> all{p};
    return rtmp_handshake_hmac(key, all.first(off), all.subspan(off + RTMP_HANDSHAKE_DIGEST_SIZE),
                               md);
}

// Looks for a valid digest in either scheme: the scheme, or RTMP_DECLINED if none verifies.
static rtmp_int_t rtmp_handshake_digest_find(rtmp_handshake_cpacket p, std::span<const u_char> key,
                                             u_char *digest)
{
    for (unsigned scheme = 0; scheme < 2; scheme++) {
        size_t off = rtmp_handshake_digest_offset(p, scheme);
        u_char md[RTMP_HANDSHAKE_DIGEST_SIZE];
        if (!rtmp_handshake_digest_calc(p, off, key, md)) {
            return RTMP_ERROR;
        }
        if (CRYPTO_memcmp(md, p.data() + off, sizeof(md)) == 0) {
            memcpy(digest, md, sizeof(md));
            return (rtmp_int_t)scheme;
        }
    }
    return RTMP_DECLINED;
}

[[nodiscard]] static bool rtmp_handshake_digest_put(rtmp_handshake_packet p, unsigned scheme,
                                                    std::span<const u_char> key, u_char *digest)
{
    size_t off = rtmp_handshake_digest_offset(p, scheme);
    if (!rtmp_handshake_digest_calc(p, off, key, digest)) {
        return false;
    }
    memcpy(p.data() + off, digest, RTMP_HANDSHAKE_DIGEST_SIZE);
    return true;
}

// The key for a C2/S2 is the HMAC of the peer's digest under the full key of our side.
[[nodiscard]] static bool rtmp_handshake_reply_key(std::span<const u_char> full,
                                                   const u_char *peer_digest, u_char *key)
{
    return rtmp_handshake_hmac(full, {peer_digest, RTMP_HANDSHAKE_DIGEST_SIZE}, {}, key);
}

// Filler for S1/S2 (C1/C2 as a client). It keeps no secret: the digest scheme's keys are
// public and the peer sees every byte, so a fast generator seeded once per process does
// what a DRBG did at several microseconds per handshake.
[[nodiscard]] static bool rtmp_handshake_random(u_char *p, size_t n)
{
    static uint64_t state;
    static bool seeded;
    // a forked worker must not repeat its parent's bytes: the child reseeds
    static const bool reset_on_fork = pthread_atfork(nullptr, nullptr, [] { seeded = false; }) == 0;
    if (!seeded || !reset_on_fork) {
        if (RAND_bytes(reinterpret_cast<u_char *>(&state), sizeof(state)) != 1) {
            return false;
        }
        seeded = true;
    }
    for (size_t i = 0; i < n; i += 8) {
        // splitmix64
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(p + i, &z, n - i < 8 ? n - i : 8);
    }
    return true;
}

static void rtmp_handshake_put32(u_char *p, uint32_t v)
{
    p[0] = (u_char)(v >> 24);
    p[1] = (u_char)(v >> 16);
    p[2] = (u_char)(v >> 8);
    p[3] = (u_char)v;
}

static uint32_t rtmp_handshake_get32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static rtmp_int_t rtmp_handshake_fail(rtmp_handshake_t *hs, const char *reason)
{
    hs->state = rtmp_handshake_state::error;
    hs->reason = reason;
    return RTMP_ERROR;
}

// Writes a first packet (C1/S1): time 0, then either zero (simple) or our version and a
// digest in `scheme` signed with our key's text part.
[[nodiscard]] static bool rtmp_handshake_make_first(rtmp_handshake_t *hs, rtmp_handshake_packet p,
                                                    bool complex, unsigned scheme)
{
    if (!rtmp_handshake_random(p.data() + 8, RTMP_HANDSHAKE_SIZE - 8)) {
        return false;
    }
    rtmp_handshake_put32(p.data(), 0);
    if (!complex) {
        rtmp_handshake_put32(p.data() + 4, 0);
        return true;
    }
    bool server = hs->role == rtmp_handshake_role::server;
    rtmp_handshake_put32(p.data() + 4,
                         server ? RTMP_HANDSHAKE_SERVER_VERSION : RTMP_HANDSHAKE_CLIENT_VERSION);
    if (!rtmp_handshake_digest_put(p, scheme,
                                   server ? rtmp_handshake_server_text : rtmp_handshake_client_text,
                                   hs->digest)) {
        return false;
    }
    hs->own_digest = 1;
    return true;
}

// Writes a second packet (C2/S2): digest-based towards a complex peer, else an echo.
[[nodiscard]] static bool rtmp_handshake_make_second(rtmp_handshake_t *hs, rtmp_handshake_packet p)
{
    if (hs->type != rtmp_handshake_type::complex) {
        memcpy(p.data(), hs->in, RTMP_HANDSHAKE_SIZE);
        return true;
    }
    bool server = hs->role == rtmp_handshake_role::server;
    u_char key[RTMP_HANDSHAKE_DIGEST_SIZE];
    if (!rtmp_handshake_reply_key(server ? rtmp_handshake_server_full : rtmp_handshake_client_full,
                                  hs->peer_digest, key) ||
        !rtmp_handshake_random(p.data(), RTMP_HANDSHAKE_REPLY_DATA)) {
        return false;
    }
    std::span<const u_char> all{p};
    return rtmp_handshake_hmac(key, all.first(RTMP_HANDSHAKE_REPLY_DATA), {},
                               p.data() + RTMP_HANDSHAKE_REPLY_DATA);
}

// Reads the peer's C1/S1: its digest, if any, decides the kind of handshake.
[[nodiscard]] static bool rtmp_handshake_read_first(rtmp_handshake_t *hs)
{
    rtmp_handshake_cpacket p{hs->in, RTMP_HANDSHAKE_SIZE};
    bool server = hs->role == rtmp_handshake_role::server;

    hs->peer_time = rtmp_handshake_get32(hs->in);
    hs->peer_version = rtmp_handshake_get32(hs->in + 4);
    hs->type = rtmp_handshake_type::simple;

    // A zero version field means the peer does the spec's simple handshake; anything
    // else should carry a digest, but old clients and servers that fill these bytes with
    // junk exist, so an invalid digest falls back to the echo rather than failing.
    if (hs->peer_version == 0) {
        return true;
    }
    rtmp_int_t rc = rtmp_handshake_digest_find(
        p, server ? rtmp_handshake_client_text : rtmp_handshake_server_text, hs->peer_digest);
    if (rc == RTMP_ERROR) {
        return false;
    }
    if (rc == RTMP_DECLINED) {
        // rtmp_log_error() cannot be used: its `level` parameter also replaces the member
        // name inside the macro (core/rtmp_log.h), so the level is checked here by hand.
        if (hs->log && hs->log->level >= RTMP_LOG_INFO) {
            rtmp_log_error_core(RTMP_LOG_INFO, hs->log, 0,
                                "handshake: %s version %08x without a valid digest, "
                                "using simple handshake",
                                server ? "C1" : "S1", hs->peer_version);
        }
        return true;
    }
    hs->type = rtmp_handshake_type::complex;
    hs->scheme = (uint8_t)rc;
    hs->peer_digest_ok = 1;
    return true;
}

// Compares the peer's C2/S2 with what we sent first; never fatal.
[[nodiscard]] static bool rtmp_handshake_read_second(rtmp_handshake_t *hs)
{
    const u_char *sent = hs->out_data + 1;
    if (memcmp(hs->in, sent, RTMP_HANDSHAKE_SIZE) == 0) {
        hs->reply = rtmp_handshake_reply::echo;
        return true;
    }
    hs->reply = rtmp_handshake_reply::mismatch;
    if (!hs->own_digest) {
        return true;
    }
    bool server = hs->role == rtmp_handshake_role::server;
    u_char key[RTMP_HANDSHAKE_DIGEST_SIZE], md[RTMP_HANDSHAKE_DIGEST_SIZE];
    if (!rtmp_handshake_reply_key(server ? rtmp_handshake_client_full : rtmp_handshake_server_full,
                                  hs->digest, key) ||
        !rtmp_handshake_hmac(key, {hs->in, RTMP_HANDSHAKE_REPLY_DATA}, {}, md)) {
        return false;
    }
    if (CRYPTO_memcmp(md, hs->in + RTMP_HANDSHAKE_REPLY_DATA, sizeof(md)) == 0) {
        hs->reply = rtmp_handshake_reply::digest;
    }
    return true;
}

static void rtmp_handshake_init(rtmp_handshake_t *hs, rtmp_handshake_role role, rtmp_log_t *log)
{
    memset(hs, 0, sizeof(*hs));
    hs->role = role;
    hs->state = rtmp_handshake_state::version;
    hs->log = log;
    hs->out.start = hs->out.pos = hs->out.last = hs->out_data;
    hs->out.end = hs->out_data + sizeof(hs->out_data);
    hs->out.temporary = 1;
}

rtmp_int_t rtmp_handshake_init_server(rtmp_handshake_t *hs, rtmp_log_t *log)
{
    rtmp_handshake_init(hs, rtmp_handshake_role::server, log);
    return RTMP_OK;
}

rtmp_int_t rtmp_handshake_init_client(rtmp_handshake_t *hs, rtmp_log_t *log)
{
    rtmp_handshake_init(hs, rtmp_handshake_role::client, log);
    hs->out_data[0] = RTMP_HANDSHAKE_VERSION;
    // Scheme 0, as librtmp and ffmpeg send it (unencrypted).
    if (!rtmp_handshake_make_first(hs, rtmp_handshake_packet{hs->out_data + 1, RTMP_HANDSHAKE_SIZE},
                                   true, 0)) {
        return rtmp_handshake_fail(hs, "handshake crypto failure");
    }
    hs->out.last = hs->out_data + 1 + RTMP_HANDSHAKE_SIZE;
    return RTMP_OK;
}

rtmp_int_t rtmp_handshake_init_client_c1(rtmp_handshake_t *hs, std::span<const u_char> c1,
                                         rtmp_log_t *log)
{
    rtmp_handshake_init(hs, rtmp_handshake_role::client, log);
    if (c1.size() != RTMP_HANDSHAKE_SIZE) {
        return rtmp_handshake_fail(hs, "C1 is not 1536 bytes");
    }
    hs->out_data[0] = RTMP_HANDSHAKE_VERSION;
    memcpy(hs->out_data + 1, c1.data(), RTMP_HANDSHAKE_SIZE);
    hs->out.last = hs->out_data + 1 + RTMP_HANDSHAKE_SIZE;
    if (rtmp_handshake_get32(c1.data() + 4) != 0) {
        rtmp_int_t rc =
            rtmp_handshake_digest_find(rtmp_handshake_cpacket{c1.data(), RTMP_HANDSHAKE_SIZE},
                                       rtmp_handshake_client_text, hs->digest);
        if (rc == RTMP_ERROR) {
            return rtmp_handshake_fail(hs, "handshake crypto failure");
        }
        hs->own_digest = rc != RTMP_DECLINED;
    }
    return RTMP_OK;
}

// C0/S0. 6 is RTMPE (and 8, 9 its XTEA and Blowfish variants in librtmp); an HTTP request
// sent to the RTMP port shows up here as 'G' or 'P', and an rtmps:// client as 22, the
// TLS handshake record.
static rtmp_int_t rtmp_handshake_version(rtmp_handshake_t *hs, u_char v)
{
    hs->peer_rtmp_version = v;
    if (v == RTMP_HANDSHAKE_VERSION) {
        hs->state = rtmp_handshake_state::first;
        hs->in_len = 0;
        return RTMP_OK;
    }
    if (v == 6 || v == 8 || v == 9) {
        return rtmp_handshake_fail(hs, "encrypted handshake (RTMPE) not supported");
    }
    bool http = v == 'G' || v == 'P' || v == 'H' || v == 'O' || v == 'C' || v == 'D';
    const char *hint = http ? " (an HTTP request?)"
                       : v == RTMP_HANDSHAKE_TLS_RECORD
                           ? " (TLS: rtmps:// is served on listen addresses marked ssl)"
                           : "";
    snprintf(hs->reason_buf, sizeof(hs->reason_buf), "unsupported RTMP version %u%s", (unsigned)v,
             hint);
    return rtmp_handshake_fail(hs, hs->reason_buf);
}

// A whole C1 (server: answer S0S1S2) or S1 (client: answer C2).
static rtmp_int_t rtmp_handshake_first_done(rtmp_handshake_t *hs)
{
    if (!rtmp_handshake_read_first(hs)) {
        return rtmp_handshake_fail(hs, "handshake crypto failure");
    }
    if (hs->role == rtmp_handshake_role::server) {
        u_char *p = hs->out_data;
        p[0] = RTMP_HANDSHAKE_VERSION;
        // S1 answers in the scheme the client used: Flash Player checks only that one.
        if (!rtmp_handshake_make_first(hs, rtmp_handshake_packet{p + 1, RTMP_HANDSHAKE_SIZE},
                                       hs->type == rtmp_handshake_type::complex, hs->scheme) ||
            !rtmp_handshake_make_second(
                hs, rtmp_handshake_packet{p + 1 + RTMP_HANDSHAKE_SIZE, RTMP_HANDSHAKE_SIZE})) {
            return rtmp_handshake_fail(hs, "handshake crypto failure");
        }
        hs->out.last = p + 1 + 2 * RTMP_HANDSHAKE_SIZE;
    } else {
        // C2 goes out as soon as S1 is in (as librtmp does), after C0C1 if still unsent.
        if (!rtmp_handshake_make_second(
                hs, rtmp_handshake_packet{hs->out_data + 1 + RTMP_HANDSHAKE_SIZE,
                                          RTMP_HANDSHAKE_SIZE})) {
            return rtmp_handshake_fail(hs, "handshake crypto failure");
        }
        hs->out.last = hs->out_data + 1 + 2 * RTMP_HANDSHAKE_SIZE;
    }
    hs->state = rtmp_handshake_state::second;
    hs->in_len = 0;
    return RTMP_OK;
}

rtmp_int_t rtmp_handshake_feed(rtmp_handshake_t *hs, std::span<const u_char> in, size_t *consumed)
{
    size_t n = 0;
    *consumed = 0;

    while (n < in.size()) {
        switch (hs->state) {
        case rtmp_handshake_state::version:
            n++;
            if (rtmp_handshake_version(hs, in[n - 1]) != RTMP_OK) {
                *consumed = n;
                return RTMP_ERROR;
            }
            break;

        case rtmp_handshake_state::first:
        case rtmp_handshake_state::second: {
            size_t take = std::min(in.size() - n, RTMP_HANDSHAKE_SIZE - hs->in_len);
            memcpy(hs->in + hs->in_len, in.data() + n, take);
            hs->in_len += take;
            n += take;
            if (hs->in_len < RTMP_HANDSHAKE_SIZE) {
                break;
            }
            if (hs->state == rtmp_handshake_state::first) {
                if (rtmp_handshake_first_done(hs) != RTMP_OK) {
                    *consumed = n;
                    return RTMP_ERROR;
                }
                break;
            }
            if (!rtmp_handshake_read_second(hs)) {
                *consumed = n;
                return rtmp_handshake_fail(hs, "handshake crypto failure");
            }
            hs->state = rtmp_handshake_state::done;
            *consumed = n;
            return RTMP_DONE;
        }

        case rtmp_handshake_state::done:
            return RTMP_DONE;

        case rtmp_handshake_state::error:
            return RTMP_ERROR;
        }
    }

    *consumed = n;
    switch (hs->state) {
    case rtmp_handshake_state::done:
        return RTMP_DONE;
    case rtmp_handshake_state::error:
        return RTMP_ERROR;
    default:
        return RTMP_AGAIN;
    }
}

const char *rtmp_handshake_type_name(rtmp_handshake_type type)
{
    switch (type) {
    case rtmp_handshake_type::simple:
        return "simple";
    case rtmp_handshake_type::complex:
        return "complex";
    default:
        return "unknown";
    }
}

const char *rtmp_handshake_reply_name(rtmp_handshake_reply reply)
{
    switch (reply) {
    case rtmp_handshake_reply::echo:
        return "echo";
    case rtmp_handshake_reply::digest:
        return "digest";
    case rtmp_handshake_reply::mismatch:
        return "mismatch";
    default:
        return "unknown";
    }
}
