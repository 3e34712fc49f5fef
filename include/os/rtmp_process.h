// The master process and its workers: spawning, signals, reload and shutdown.
#pragma once

#include "os/rtmp_cycle.h"

#include <csignal>

// Set by signal handlers, read by the loops.
extern volatile sig_atomic_t rtmp_sig_reconfigure; // HUP
extern volatile sig_atomic_t rtmp_sig_terminate;   // TERM, INT
extern volatile sig_atomic_t rtmp_sig_quit;        // QUIT
extern volatile sig_atomic_t rtmp_sig_reopen;      // USR1
extern volatile sig_atomic_t rtmp_sig_child;       // CHLD

// Installs the handlers and blocks the signals; they are let through only while a
// loop waits, so a flag is never set between its check and the wait.
[[nodiscard]] rtmp_int_t rtmp_signals_init(rtmp_log_t *log);
extern sigset_t rtmp_signals_wait_mask;
// Runs the handlers of signals still pending after a wait that returned events.
void rtmp_signals_deliver();

[[noreturn]] void rtmp_master_process_cycle(rtmp_cycle_t *cycle);

extern int rtmp_worker_slot; // this worker's slot; -1 in the master
// Tells the master this worker started or stopped publishing `key`.
void rtmp_worker_announce(bool up, std::string_view key);
// Asks the master for `key` (rtmp_channel_cmd::stream_claim); false when it could not be
// asked, and no answer will come.
bool rtmp_worker_claim(std::string_view key);
// Asks the master to have the worker publishing `key` let go of it
// (rtmp_channel_cmd::stream_takeover); false when it could not be asked.
bool rtmp_worker_ask_takeover(std::string_view key);
[[noreturn]] void rtmp_worker_process_cycle(rtmp_cycle_t *cycle, int slot, int channel);

[[nodiscard]] rtmp_int_t rtmp_pid_file_write(const char *path, rtmp_log_t *log);
void rtmp_pid_file_delete(const char *path);

// Tells systemd (Type=notify) about our state, when NOTIFY_SOCKET is set.
void rtmp_sd_notify(const char *state);
