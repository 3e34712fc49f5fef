// Spreading new connections over the workers that share a listening socket.
//
// EPOLLEXCLUSIVE wakes the first idle worker in the socket's wait queue, so on a quiet
// server one worker takes every connection, and once they turn into streams it does all the
// work while the other cores idle. Each worker publishes how many connections it holds; one
// that holds clearly more than another accepting worker stops listening for a moment
// (rtmp_event_accept), so new connections wake the others. The one holding the fewest never
// steps aside, so someone always accepts.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"

// Worker slots kept apart: as many as the master's slot table (checked there).
constexpr int RTMP_BALANCE_SLOTS = 512;

// Maps the per-worker figures; the master calls it once before its first fork. Without it
// (tools, tests) no worker ever steps aside.
[[nodiscard]] rtmp_int_t rtmp_balance_init(rtmp_log_t *log);
void rtmp_balance_done();
// Forgets a worker that is gone; the master calls it once the worker is reaped.
void rtmp_balance_reset_slot(int slot);

// This worker (rtmp_worker_slot) accepts, steps aside, or has stopped listening for good.
enum class rtmp_balance_state : uint32_t { gone = 0, accepting, aside };
void rtmp_balance_set_state(rtmp_balance_state state);
// This worker's connections now.
void rtmp_balance_set_load(size_t connections);
// Whether this worker holds clearly more connections than another worker that accepts.
[[nodiscard]] bool rtmp_balance_should_step_aside();
