// Stream timelines: 32-bit publisher clocks unwrapped and stitched across reconnects and jumps.
#include "rtmp/rtmp_timeline.h"

uint32_t rtmp_timeline_map(rtmp_timeline_t *t, uint32_t in)
{
    if (!t->started) {
        // the first publisher's timestamps are kept as they are
        *t = {};
        t->started = true;
        t->last_in = in;
        t->in_ext = in;
        t->out_max = in;
        return in;
    }
    // a signed 32-bit difference: a wrap of the publisher's clock is a small step forward
    int64_t delta = (int32_t)(in - t->last_in);
    t->last_in = in;
    t->in_ext += delta;
    // a step back to before the timeline's start is a break too: a time below 0 would
    // read as 2^32 ms downstream (an HLS segment 49 days long)
    if (t->rebase || delta > RTMP_TIMELINE_MAX_JUMP || delta < -RTMP_TIMELINE_MAX_JUMP ||
        t->in_ext + t->offset < 0) {
        t->rebase = false;
        t->offset = t->out_max + 1 - t->in_ext;
    }
    int64_t out = t->in_ext + t->offset;
    if (out > t->out_max) {
        t->out_max = out;
    }
    return (uint32_t)out;
}
