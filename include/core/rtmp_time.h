// Cached time, refreshed once per event-loop iteration instead of per use.
#pragma once

#include "core/rtmp_core.h"

#include <ctime>

extern rtmp_msec_t rtmp_current_msec; // monotonic milliseconds
extern time_t rtmp_cached_time_sec;   // wall clock seconds
extern char rtmp_cached_log_time[];   // "2026/11/22 00:34:48"

constexpr size_t RTMP_LOG_TIME_LEN = sizeof("1970/09/28 12:00:00") - 1;

void rtmp_time_update();
