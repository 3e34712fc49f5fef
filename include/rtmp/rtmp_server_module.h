// The server module: per-server settings (listen, timeouts, protocol limits).
#pragma once

#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"

constexpr size_t RTMP_MAX_LISTEN = 16;

struct rtmp_server_conf_t {
    rtmp_listening_t listen[RTMP_MAX_LISTEN];
    size_t nlisten;
};

extern rtmp_module_t rtmp_server_module;

inline rtmp_server_conf_t *rtmp_server_conf(rtmp_conf_srv_t *srv)
{
    return static_cast<rtmp_server_conf_t *>(srv->srv_conf[rtmp_server_module.index]);
}

// Called for every connection accepted on an RTMP listener.
void rtmp_server_init_connection(rtmp_connection_t *c);
