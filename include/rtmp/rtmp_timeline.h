// A stream's output timeline: publisher timestamps mapped so players see them monotonic.
#pragma once

#include "core/rtmp_core.h"

// A jump in publisher timestamps larger than this is a discontinuity, not time passing.
constexpr int64_t RTMP_TIMELINE_MAX_JUMP = 10000;

// Output = input + offset; the offset changes only at a discontinuity or when a new
// publisher starts, and then so that output continues just after what was sent.
struct rtmp_timeline_t {
    bool started;
    bool rebase; // the next timestamp starts a new publisher's timeline
    uint32_t last_in;
    int64_t in_ext; // last_in unwrapped to 64 bits
    int64_t offset;
    int64_t out_max;
};

uint32_t rtmp_timeline_map(rtmp_timeline_t *t, uint32_t in);

// Where the timeline is: for data messages (cue points, text) that are not audio or video,
// whose timestamps need not follow the media's. A server's |RtmpSampleAccess at 0 right
// after Play.Start, on a pull, must not decide where a new publisher's timeline starts.
inline uint32_t rtmp_timeline_now(const rtmp_timeline_t *t)
{
    return t->started ? (uint32_t)t->out_max : 0;
}

// A new publisher: its first timestamp continues the timeline.
inline void rtmp_timeline_restart(rtmp_timeline_t *t)
{
    t->rebase = true;
}
