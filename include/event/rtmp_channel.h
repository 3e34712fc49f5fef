// Master <-> worker channels: a SOCK_SEQPACKET socketpair, one message per packet.
#pragma once

#include "core/rtmp_core.h"

// "server/app/name" of a stream, as the registry keys it.
constexpr size_t RTMP_CHANNEL_NAME = 600;

enum class rtmp_channel_cmd : uint32_t {
    quit = 1,    // stop accepting, finish sessions, exit
    terminate,   // exit now
    reopen,      // reopen log files
    stream_up,   // worker -> master: I publish `name`; master -> workers: `slot` publishes it
    stream_down, // the same for the end of publishing
    // worker -> master: I would pull `name` from an origin. The master answers stream_up:
    // with the claimant's slot to every worker if the name was free, else with the
    // owner's slot to the claimant alone
    stream_claim,
    stream_lost, // master -> workers: the same as stream_down, because `slot` died
    // worker -> master: a publisher here takes `name` over (publisher_takeover); master ->
    // the owner: let go of `name` for a publisher in worker `slot`
    stream_takeover,
};

struct rtmp_channel_msg_t {
    rtmp_channel_cmd command;
    int32_t pid;
    int32_t slot;
    char name[RTMP_CHANNEL_NAME]; // NUL-terminated; stream commands only
    // quit: the shutdown_timeout of the master's current configuration (0: none), which
    // bounds the workers of older ones too
    int64_t shutdown_msec;
};

// fds[0] stays in the master, fds[1] goes to the worker; both non-blocking.
[[nodiscard]] rtmp_int_t rtmp_channel_open(int fds[2]);
// RTMP_OK, RTMP_AGAIN (the peer's queue is full) or RTMP_ERROR.
rtmp_int_t rtmp_channel_write(int fd, const rtmp_channel_msg_t *msg);
// RTMP_OK, RTMP_AGAIN (nothing queued), RTMP_DONE (the peer is gone) or RTMP_ERROR.
[[nodiscard]] rtmp_int_t rtmp_channel_read(int fd, rtmp_channel_msg_t *msg);
