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

// A TCP client connection of a push or a pull: `up` runs with a fresh client session once
// TCP is up (the RTMP handshake starts; the caller makes it a push or a pull), `down` with
// why it failed, before the connection closes.
typedef void (*rtmp_relay_up_pt)(rtmp_session_t *s, void *data);
typedef void (*rtmp_relay_down_pt)(void *data, const char *why);

// Opens a non-blocking TCP connection to u, bounded by `timeout`. Returns the connection,
// for the caller's pool cleanup (which hears of its end in every case), or nullptr and why.
[[nodiscard]] rtmp_connection_t *rtmp_relay_connect(rtmp_conf_app_t *app, const rtmp_push_url_t *u,
                                                    rtmp_msec_t timeout, rtmp_relay_up_pt up,
                                                    rtmp_relay_down_pt down, void *data, char *why,
                                                    size_t len);

// User Control StreamEOF on a relay session. A pull's origin may say only that when its
// publisher leaves (nginx-rtmp does, and restarts the timestamps inside the same play when
// one comes back): unless an onStatus ends the pull first, it ends as at UnpublishNotify.
void rtmp_relay_stream_eof(rtmp_session_t *s);

// Makes a fresh client session a pull from a remote origin: connect(remote_app, tc_url),
// createStream, play(play_name); on Play.Start the stream publishes app/name?args here
// through the publish chain (then rtmp_pull_playing() runs), its media goes through the
// media chain and its end through the close_stream chain, as a client's would; it is
// announced to the other workers, which pull it from this one. The strings are the pull's
// and must outlive the session; rtmp_pull_failed() runs before the session closes on a
// refusal.
void rtmp_relay_pull_init(rtmp_session_t *s, rtmp_conf_app_t *app, std::string_view name,
                          const char *args, const char *remote_app, const char *tc_url,
                          const char *play_name, rtmp_pull_t *p);

// A relay session closes for `why`: its push or pull hears it, for the failure's log line.
void rtmp_relay_closing(rtmp_session_t *s, const char *why);

// Whether s is a pull from a remote origin: it publishes here, but nobody asked to, so
// what checks a publisher (access rules, keys, on_publish's answer) lets it through.
bool rtmp_relay_origin_pull(const rtmp_session_t *s);

// Whether s is an origin pull of the stream `names` names at u: pushing the stream there
// would send it back where it comes from.
bool rtmp_relay_pulled_from(const rtmp_session_t *s, const rtmp_push_url_t *u,
                            const rtmp_push_names_t *names);

// Whether s is a stream source of this worker for the modules after live (recorders, HLS,
// pushes, exec, notify): a client's session or an origin pull; not a pull from another
// worker (the owning worker does all that for the stream) nor a push.
bool rtmp_relay_local_source(const rtmp_session_t *s);

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
