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

// Where the timeline is, without moving it: for sequence headers and data messages (cue
// points, text), whose timestamps need not follow the media's. A server's
// |RtmpSampleAccess at 0 right after Play.Start, or the headers it sends a late player at
// their first time, must not decide where a new publisher's timeline starts. While a new
// publisher is awaited, that is where its first frame will go.
inline uint32_t rtmp_timeline_now(const rtmp_timeline_t *t)
{
    return t->started ? (uint32_t)(t->out_max + (t->rebase ? 1 : 0)) : 0;
}

// Where a header or data message at `in` goes, without moving the timeline: as it is on
// a timeline not started yet (the first publisher's times are kept, and a server hands a
// late player its headers at the time of the GOP that follows), else rtmp_timeline_now.
inline uint32_t rtmp_timeline_place(const rtmp_timeline_t *t, uint32_t in)
{
    return t->started ? rtmp_timeline_now(t) : in;
}

// A new publisher: its first timestamp continues the timeline.
inline void rtmp_timeline_restart(rtmp_timeline_t *t)
{
    t->rebase = true;
}
