// Server-wide statistics for /stat and /metrics.
#include "http/rtmp_stat.h"

void rtmp_stat_json(rtmp_http_body_t *b)
{
    rtmp_http_body_append(b, "{}\n");
}

void rtmp_stat_metrics(rtmp_http_body_t *b)
{
    rtmp_http_body_append(b, "");
}

void rtmp_stat_http_request(int) {}
