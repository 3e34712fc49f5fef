// The HLS module: each stream published in this worker cut into MPEG-TS segments and an m3u8.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_module.h"

extern rtmp_module_t rtmp_hls_module;

// Files of application APP live under <hls_path>/<APP>/: NAME.m3u8 and NAME-SEQ.ts, or
// with hls_nested NAME/index.m3u8 and NAME/SEQ.ts. Playlists name segments by relative
// URI, so whatever serves the directory (the http listener's hls_root) serves both.

// A stream or application name HLS can use as a file name and a relative URI as it is:
// RFC 3986 unreserved characters only, not starting with a dot, at most 200 bytes.
bool rtmp_hls_name_ok(std::string_view name);

// Durations of file operations, for the log: a histogram of microseconds with four
// buckets per octave (quantiles within 19 %), plus the exact count, sum and maximum.
constexpr size_t RTMP_HLS_HIST = 100;

struct rtmp_hls_hist_t {
    uint64_t n;
    uint64_t total;
    uint64_t max;
    uint32_t bucket[RTMP_HLS_HIST];
};

void rtmp_hls_hist_add(rtmp_hls_hist_t *h, uint64_t usec);

// The q-quantile (0 < q <= 1) rounded up to its bucket's upper bound, never above the
// maximum; 0 when empty.
uint64_t rtmp_hls_hist_quantile(const rtmp_hls_hist_t *h, double q);
