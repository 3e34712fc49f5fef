// Server-wide statistics for /stat and /metrics: counters and stream snapshots of every worker.
#pragma once

#include "core/rtmp_core.h"
#include "http/rtmp_http.h"

// Renders the whole server's state as JSON (/stat) or Prometheus text (/metrics).
void rtmp_stat_json(rtmp_http_body_t *b);
void rtmp_stat_metrics(rtmp_http_body_t *b);

// An HTTP response went out with this status.
void rtmp_stat_http_request(int status);
