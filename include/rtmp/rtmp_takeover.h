// publisher_takeover across workers: a publisher of a name another worker publishes asks
// that worker, through the master, to let go of it, and its publish waits until the name
// is free here (or until it gives up waiting), then runs through the publish chain again.
#pragma once

#include "rtmp/rtmp_session.h"

// Asks worker `owner` to let go of `key` (server/app/name) for st's publish, which waits:
// RTMP_AGAIN, or RTMP_DECLINED when the master could not be asked.
[[nodiscard]] rtmp_int_t rtmp_takeover_ask(rtmp_session_t *s, rtmp_stream_t *st,
                                           std::string_view key, int owner);

enum class rtmp_takeover_state {
    none,    // st's publish never waited
    waiting, // it still waits
    woken,   // it is back from waiting: it goes on, or is refused, without asking again
};
// What st's publish is at; a woken wait is forgotten by asking.
rtmp_takeover_state rtmp_takeover_take(rtmp_stream_t *st);

// st's publish ends while it waits (closeStream, the session's end).
void rtmp_takeover_cancel(rtmp_stream_t *st);

// `key` is no longer published where it was: publishes waiting for it go on.
void rtmp_takeover_wake(std::string_view key);
