// Relays: this worker as an RTMP client of another, pulling a stream to republish it locally.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

typedef struct rtmp_relay_s rtmp_relay_t;

extern rtmp_module_t rtmp_relay_module;

// Pulls app/name from worker `slot` over its internal socket; the stream is attached as the
// local stream's publisher once the origin accepts the play.
[[nodiscard]] rtmp_int_t rtmp_relay_pull(rtmp_conf_app_t *app, std::string_view name, int slot,
                                         rtmp_log_t *log);

// The session's handshake completed: start the connect.
[[nodiscard]] rtmp_int_t rtmp_relay_handshake_done(rtmp_session_t *s);

// A command (reply) the origin sent to a relay session.
[[nodiscard]] rtmp_int_t rtmp_relay_command(rtmp_session_t *s, const rtmp_message_t *m,
                                            const rtmp_cmd_t *cmd);
