// RTMP handshake, server and client side, as an I/O-free state machine: bytes in, bytes out.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"

// RTMP 1.0 spec, 5.2: C0/S0 is one version byte, C1/S1 and C2/S2 are 1536 bytes each.
constexpr size_t RTMP_HANDSHAKE_SIZE = 1536;
constexpr size_t RTMP_HANDSHAKE_DIGEST_SIZE = 32;
constexpr uint8_t RTMP_HANDSHAKE_VERSION = 3;
constexpr uint8_t RTMP_HANDSHAKE_TLS_RECORD = 22; // what an rtmps:// client sends first

// The flash version librtmp puts in C1 (9.0.124.2 with the high bit set), which tells
// servers the client speaks the digest handshake.
constexpr uint32_t RTMP_HANDSHAKE_CLIENT_VERSION = 0x80000702;
// What our S1 announces; any non-zero value marks the digest handshake to clients.
constexpr uint32_t RTMP_HANDSHAKE_SERVER_VERSION = 0x04050001;

enum class rtmp_handshake_role : uint8_t {
    server,
    client,
};

// How the peer's first packet (C1 or S1) was understood.
enum class rtmp_handshake_type : uint8_t {
    unknown, // not seen yet
    simple,  // no valid digest: RTMP 1.0 spec echo handshake
    complex, // digest handshake of Flash Player 9+ and Flash Media Server 3+
};

// How the peer's second packet (C2 or S2) compared with what we sent.
enum class rtmp_handshake_reply : uint8_t {
    unknown,  // not seen yet
    echo,     // byte for byte our first packet (simple handshake, or ffmpeg publishing)
    digest,   // trailing HMAC keyed by our digest verifies
    mismatch, // neither: tolerated (clients in the wild send junk C2), log-worthy
};

enum class rtmp_handshake_state : uint8_t {
    version, // waiting for C0/S0
    first,   // reading C1/S1
    second,  // reading C2/S2
    done,
    error,
};

typedef struct rtmp_handshake_s rtmp_handshake_t;

// Holds its own buffers (about 4.6 KB) and points into itself: allocate it (pool or
// struct member), init it in place, never copy or move it. Nothing to free.
struct rtmp_handshake_s {
    rtmp_handshake_role role;
    rtmp_handshake_state state;
    rtmp_handshake_type type;    // peer's C1 (server) or S1 (client)
    rtmp_handshake_reply reply;  // peer's C2 (server) or S2 (client)
    uint8_t scheme;              // digest scheme of a complex peer: 0 (base 8) or 1 (base 772)
    uint8_t peer_rtmp_version;   // C0/S0
    uint32_t peer_time;          // C1/S1 bytes 0..3
    uint32_t peer_version;       // C1/S1 bytes 4..7 (flash/server version)
    unsigned peer_digest_ok : 1; // the peer's C1/S1 digest verified (same as type == complex)
    unsigned own_digest : 1;     // our C1/S1 carries a digest, so a C2/S2 may be keyed by it

    // Bytes to send: the caller writes out.pos..out.last and advances out.pos. Never reset:
    // the server writes S0S1S2 there, the client C0C1 and later C2.
    rtmp_buf_t out;

    // Why the handshake failed (static or in reason_buf), for the caller's log line.
    const char *reason;

    rtmp_log_t *log;
    size_t in_len;                                  // bytes of the packet being read so far
    u_char digest[RTMP_HANDSHAKE_DIGEST_SIZE];      // ours, in what we sent first
    u_char peer_digest[RTMP_HANDSHAKE_DIGEST_SIZE]; // theirs, if complex
    u_char in[RTMP_HANDSHAKE_SIZE];
    u_char out_data[1 + 2 * RTMP_HANDSHAKE_SIZE];
    char reason_buf[96];
};

// Server: waits for C0+C1, then has S0+S1+S2 in hs->out.
[[nodiscard]] rtmp_int_t rtmp_handshake_init_server(rtmp_handshake_t *hs, rtmp_log_t *log);

// Client: hs->out holds C0+C1 (digest scheme 0, like librtmp) on return.
[[nodiscard]] rtmp_int_t rtmp_handshake_init_client(rtmp_handshake_t *hs, rtmp_log_t *log);

// Client that sends a given C1 verbatim (replaying a recorded session in tests); its own
// digest, if it carries one in either scheme, is found as a server would find it.
[[nodiscard]] rtmp_int_t rtmp_handshake_init_client_c1(rtmp_handshake_t *hs,
                                                       std::span<const u_char> c1, rtmp_log_t *log);

// Feeds received bytes, any split. *consumed is how many it took: on RTMP_AGAIN all of
// them, on RTMP_DONE only up to the end of C2/S2 (what follows is the chunk stream).
// RTMP_AGAIN: send hs->out if not empty, then feed more. RTMP_DONE: complete, send what is
// left in hs->out first. RTMP_ERROR: hs->reason says why; close the connection.
[[nodiscard]] rtmp_int_t rtmp_handshake_feed(rtmp_handshake_t *hs, std::span<const u_char> in,
                                             size_t *consumed);

// Names for log lines.
const char *rtmp_handshake_type_name(rtmp_handshake_type type);
const char *rtmp_handshake_reply_name(rtmp_handshake_reply reply);
