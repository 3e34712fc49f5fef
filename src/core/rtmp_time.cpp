// Cached time: one clock read per loop iteration serves every timer and log line.
#include "core/rtmp_time.h"

rtmp_msec_t rtmp_current_msec;
time_t rtmp_cached_time_sec = -1;
char rtmp_cached_log_time[RTMP_LOG_TIME_LEN + 1] = "1970/01/01 00:00:00";

void rtmp_time_update()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rtmp_current_msec = (rtmp_msec_t)ts.tv_sec * 1000 + (rtmp_msec_t)(ts.tv_nsec / 1000000);

    time_t now = time(nullptr);
    if (now == rtmp_cached_time_sec) {
        return;
    }
    rtmp_cached_time_sec = now;
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(rtmp_cached_log_time, sizeof(rtmp_cached_log_time), "%Y/%m/%d %H:%M:%S", &tm);
}
