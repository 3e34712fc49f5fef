// Exec: commands run from the worker that owns a stream, supervised (exec_push, exec_pull)
// or once per event (exec_publish, exec_publish_done, exec_play, exec_play_done).
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_exec_argv.h"
#include "rtmp/rtmp_session.h"

// One command: argv templates, expanded when it is started.
struct rtmp_exec_cmd_t {
    rtmp_str_t *argv;
    size_t argc;
};

// A directive's commands; n is RTMP_CONF_UNSET until set (then inherited from outer blocks).
struct rtmp_exec_cmds_t {
    rtmp_exec_cmd_t *cmd;
    rtmp_int_t n;
};

extern rtmp_module_t rtmp_exec_module;

// The variables every stream command offers: app, name, addr, args, flashver, tcurl.
constexpr size_t RTMP_EXEC_STREAM_VARS = 6;
extern const std::string_view rtmp_exec_stream_var_names[RTMP_EXEC_STREAM_VARS];

// Reads a directive's value into cmds: "cmd arg ..." (one command, split on blanks),
// [ "cmd", "arg", ... ] (one command as argv) or ( either, ... ) (several commands).
// Each template may use the variables `names` lists. Returns nullptr, or "" after
// filling cf->error with the file, line and reason (a custom directive setter's contract).
[[nodiscard]] const char *rtmp_exec_conf_commands(rtmp_conf_t *cf, config_setting_t *s,
                                                  const char *directive,
                                                  const std::string_view *names, size_t nnames,
                                                  rtmp_exec_cmds_t *cmds);

// Fills vars[RTMP_EXEC_STREAM_VARS] for a session's stream; addr needs 64 bytes.
void rtmp_exec_stream_vars(rtmp_session_t *s, rtmp_stream_t *st, rtmp_exec_var_t *vars, char *addr);

// Runs each command once (not restarted): its output goes to the log, its exit is reaped
// and logged, and after the application's exec_timeout (if set) it is stopped like a
// supervised one. `what` names it in the log ("exec_record_done"), `label` too ("live/cam").
// This is what another module calls to run its own one-shot commands with its own variables.
void rtmp_exec_run(rtmp_conf_app_t *app, const rtmp_exec_cmds_t *cmds, const char *what,
                   std::string_view label, const rtmp_exec_var_t *vars, size_t nvars);

// Reaps every exited child (after SIGCHLD), logging how each ended; restarts what should run.
void rtmp_exec_reap();

// Commands running in this worker, for tests and the exit path.
size_t rtmp_exec_running();
