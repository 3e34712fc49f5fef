// Server-wide limits shared by every worker: connections, connections per address, streams.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"

#include <sys/socket.h>

// Worker slots the counters keep apart, so the master can forget a dead worker's share.
// The master's slot table has exactly this many (checked there).
constexpr int RTMP_LIMITS_SLOTS = 512;
// Per-address counters are a fixed hash: addresses that collide count together, which can
// only refuse early (conservative), never admit more than max_connections_per_ip.
constexpr size_t RTMP_LIMITS_IP_HASH = 4096;

// Maps the shared counters; the master calls it once before its first fork and keeps them
// for its whole life, so workers of every generation (reloads) count in the same place.
// Without it (tools, tests) nothing is counted and nothing refused.
[[nodiscard]] rtmp_int_t rtmp_limits_init(rtmp_log_t *log);
void rtmp_limits_done();

// Forgets what worker `slot` had counted; the master calls it once the worker is reaped.
void rtmp_limits_reset_slot(int slot);

// The hash bucket counting connections from `sa`'s address (IPv6: its /64), or -1 for
// addresses not counted (unix sockets: internal pulls between workers).
int32_t rtmp_limits_ip_bucket(const struct sockaddr_storage *sa);

// Counts a new client connection. Returns nullptr and sets *ticket (non-zero: release it
// later) when it may stay, or the name of the limit it would exceed.
[[nodiscard]] const char *rtmp_limits_conn_acquire(const struct sockaddr_storage *sa,
                                                   rtmp_int_t max_connections,
                                                   rtmp_int_t max_per_ip, uint32_t *ticket);
void rtmp_limits_conn_release(uint32_t *ticket);

// Counts a published stream; false when max_streams (0: none) are published already.
[[nodiscard]] bool rtmp_limits_stream_acquire(rtmp_int_t max_streams);
void rtmp_limits_stream_release();

// Current totals over every worker (0 without rtmp_limits_init).
uint32_t rtmp_limits_connections();
uint32_t rtmp_limits_streams();
uint32_t rtmp_limits_ip_connections(const struct sockaddr_storage *sa);
