// Relays: this worker as an RTMP client of another, pulling a stream to republish it locally.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_session.h"

typedef struct rtmp_relay_s rtmp_relay_t;
typedef struct rtmp_push_target_s rtmp_push_target_t;
typedef struct rtmp_pull_s rtmp_pull_t;

extern rtmp_module_t rtmp_relay_module;

// Pulls app/name from worker `slot` over its internal socket; the stream is attached as the
// local stream's publisher once the origin accepts the play.
[[nodiscard]] rtmp_int_t rtmp_relay_pull(rtmp_conf_app_t *app, std::string_view name, int slot,
                                         rtmp_log_t *log);

// Pulls app/name from a remote origin: a non-blocking TCP connect to u bounded by `timeout`,
// then the same client session as the pulls between workers, asking for names->name in
// names->app (strings that must outlive the connection); the stream is announced to the
// other workers once attached. The pull hears back through rtmp_pull_connected, _playing
// and _failed. Returns the connection, for the caller's pool cleanup, or nullptr and why.
[[nodiscard]] rtmp_connection_t *rtmp_relay_pull_origin(rtmp_conf_app_t *app, std::string_view name,
                                                        const rtmp_push_url_t *u,
                                                        const rtmp_push_names_t *names,
                                                        rtmp_msec_t timeout, rtmp_pull_t *p,
                                                        char *why, size_t len);

// The session's handshake completed: start the connect.
[[nodiscard]] rtmp_int_t rtmp_relay_handshake_done(rtmp_session_t *s);

// A command (reply) the origin sent to a relay session.
[[nodiscard]] rtmp_int_t rtmp_relay_command(rtmp_session_t *s, const rtmp_message_t *m,
                                            const rtmp_cmd_t *cmd);

// Makes a fresh client session a push to another server: connect(remote_app, tc_url),
// releaseStream, FCPublish, createStream, publish(name, "live"); the strings are the
// target's and must outlive the session. rtmp_push_publishing() runs on Publish.Start.
void rtmp_relay_push_init(rtmp_session_t *s, rtmp_conf_app_t *app, const char *remote_app,
                          const char *tc_url, const char *name, rtmp_push_target_t *t);

// Ends a push publishing on st: FCUnpublish and deleteStream after the media still queued,
// then the session closes once everything is sent.
[[nodiscard]] rtmp_int_t rtmp_relay_push_end(rtmp_session_t *s, rtmp_stream_t *st);
