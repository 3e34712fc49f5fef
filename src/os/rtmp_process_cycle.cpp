// The master: spawns and supervises workers, reloads and stops on signals; never serves a client.
#include "core/rtmp_module.h"
#include "core/rtmp_time.h"
#include "event/rtmp_balance.h"
#include "event/rtmp_channel.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_limits.h"
#include "rtmp/rtmp_registry.h"
#include "rtmp/rtmp_stat.h"

#include <cstdio>
#include <cstdlib>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// Room for a full generation of workers plus the previous one draining after a reload.
static constexpr int RTMP_MAX_SLOTS = 512;
static_assert(RTMP_MAX_SLOTS == RTMP_LIMITS_SLOTS, "the limits keep a share per worker slot");
static_assert(RTMP_MAX_SLOTS == RTMP_BALANCE_SLOTS, "the balance keeps figures per worker slot");
// A worker that dies sooner than this after its start is respawned with back-off.
static constexpr rtmp_msec_t RTMP_RESPAWN_QUICK_DEATH = 2000;
static constexpr rtmp_msec_t RTMP_RESPAWN_MAX_BACKOFF = 10000;
// After TERM, workers still alive this long are killed.
static constexpr rtmp_msec_t RTMP_TERMINATE_GRACE = 3000;

struct rtmp_worker_slot_t {
    pid_t pid; // 0: free slot
    int channel;
    unsigned generation; // of the configuration it runs
    rtmp_msec_t started;
    rtmp_msec_t respawn_at; // non-zero: dead, to be respawned then
    rtmp_msec_t backoff;
    bool exiting; // told to quit or terminate: not respawned
};

static rtmp_worker_slot_t rtmp_slots[RTMP_MAX_SLOTS];
// Waits for signals and for the workers' channels; no client socket is ever in it.
static int rtmp_master_ep = -1;
static unsigned rtmp_generation; // bumped by every successful reload

static void rtmp_master_send(rtmp_worker_slot_t *w, rtmp_channel_cmd cmd, rtmp_log_t *log)
{
    rtmp_channel_msg_t msg = {cmd, w->pid, (int32_t)(w - rtmp_slots), {}, 0};
    if (cmd == rtmp_channel_cmd::quit) {
        msg.shutdown_msec = (int64_t)rtmp_core_conf(rtmp_cycle)->shutdown_timeout;
    }
    if (rtmp_channel_write(w->channel, &msg) != RTMP_OK) {
        // the channel is full or gone: a signal carries the same request
        int sig = cmd == rtmp_channel_cmd::quit        ? SIGQUIT
                  : cmd == rtmp_channel_cmd::terminate ? SIGTERM
                                                       : SIGUSR1;
        rtmp_log_error(RTMP_LOG_WARN, log, errno, "channel to worker %d failed, signalling it",
                       (int)w->pid);
        kill(w->pid, sig);
    }
}

static rtmp_int_t rtmp_master_spawn(rtmp_worker_slot_t *w, rtmp_cycle_t *cycle)
{
    int fds[2];
    if (rtmp_channel_open(fds) != RTMP_OK) {
        rtmp_log_error(RTMP_LOG_ALERT, cycle->log, errno, "socketpair() failed");
        return RTMP_ERROR;
    }
    int slot = (int)(w - rtmp_slots);
    pid_t pid = fork();
    if (pid == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, cycle->log, errno, "fork() failed");
        close(fds[0]);
        close(fds[1]);
        return RTMP_ERROR;
    }
    if (pid == 0) {
        for (int i = 0; i < RTMP_MAX_SLOTS; i++) {
            if (rtmp_slots[i].pid > 0 || rtmp_slots[i].respawn_at) {
                close(rtmp_slots[i].channel);
            }
        }
        close(fds[0]);
        close(rtmp_master_ep);
        rtmp_worker_process_cycle(cycle, slot, fds[1]);
    }
    close(fds[1]);
    struct epoll_event ee = {};
    ee.events = EPOLLIN;
    ee.data.u32 = (uint32_t)slot;
    if (epoll_ctl(rtmp_master_ep, EPOLL_CTL_ADD, fds[0], &ee) == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, cycle->log, errno, "epoll_ctl() for a channel failed");
    }
    w->pid = pid;
    w->channel = fds[0];
    w->generation = rtmp_generation;
    w->started = rtmp_current_msec;
    w->respawn_at = 0;
    w->exiting = false;
    rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "started worker %d (slot %d)", (int)pid, slot);
    // a new worker learns every stream published so far, in whichever generation
    rtmp_registry_each(
        [](const char *key, int owner, void *data) {
            auto *nw = static_cast<rtmp_worker_slot_t *>(data);
            rtmp_channel_msg_t msg = {rtmp_channel_cmd::stream_up, 0, owner, {}};
            snprintf(msg.name, sizeof(msg.name), "%s", key);
            (void)rtmp_channel_write(nw->channel, &msg);
        },
        w);
    return RTMP_OK;
}

// Tells every worker but `except` (-1: none) about a stream going up or down.
static void rtmp_master_broadcast(rtmp_channel_cmd cmd, const char *key, int owner, int except)
{
    rtmp_channel_msg_t msg = {cmd, 0, owner, {}};
    snprintf(msg.name, sizeof(msg.name), "%s", key);
    for (int i = 0; i < RTMP_MAX_SLOTS; i++) {
        if (rtmp_slots[i].pid > 0 && i != except) {
            (void)rtmp_channel_write(rtmp_slots[i].channel, &msg);
        }
    }
}

static void rtmp_master_channel(int slot, rtmp_log_t *log)
{
    rtmp_worker_slot_t *w = &rtmp_slots[slot];
    rtmp_channel_msg_t msg;
    rtmp_int_t rc = RTMP_AGAIN;
    while (w->pid > 0 && (rc = rtmp_channel_read(w->channel, &msg)) == RTMP_OK) {
        msg.name[sizeof(msg.name) - 1] = '\0';
        if (msg.command == rtmp_channel_cmd::stream_up) {
            if (rtmp_registry_set(msg.name, slot) != RTMP_OK) {
                rtmp_log_error(RTMP_LOG_WARN, log, 0,
                               "stream \"%s\" published in worker slots %d and %d at once",
                               msg.name, rtmp_registry_owner(msg.name), slot);
                continue;
            }
            rtmp_master_broadcast(msg.command, msg.name, slot, slot);
        } else if (msg.command == rtmp_channel_cmd::stream_claim) {
            if (rtmp_registry_set(msg.name, slot) == RTMP_OK) {
                rtmp_master_broadcast(rtmp_channel_cmd::stream_up, msg.name, slot, -1);
            } else {
                rtmp_channel_msg_t answer = {
                    rtmp_channel_cmd::stream_up, 0, rtmp_registry_owner(msg.name), {}};
                memcpy(answer.name, msg.name, sizeof(answer.name));
                (void)rtmp_channel_write(w->channel, &answer);
            }
        } else if (msg.command == rtmp_channel_cmd::stream_takeover) {
            // no owner: its stream_down is on its way to the one asking
            int owner = rtmp_registry_owner(msg.name);
            if (owner >= 0 && owner != slot && rtmp_slots[owner].pid > 0) {
                msg.slot = slot;
                (void)rtmp_channel_write(rtmp_slots[owner].channel, &msg);
            }
        } else if (msg.command == rtmp_channel_cmd::stream_down) {
            if (rtmp_registry_del(msg.name, slot)) {
                rtmp_master_broadcast(msg.command, msg.name, slot, slot);
            }
        }
    }
    if (w->pid > 0 && rc != RTMP_AGAIN) {
        // the worker is gone: stop watching until SIGCHLD reaps it, or this would spin
        epoll_ctl(rtmp_master_ep, EPOLL_CTL_DEL, w->channel, nullptr);
    }
}

static rtmp_worker_slot_t *rtmp_master_free_slot()
{
    for (auto &w : rtmp_slots) {
        if (w.pid == 0 && w.respawn_at == 0) {
            return &w;
        }
    }
    return nullptr;
}

static void rtmp_master_spawn_all(rtmp_cycle_t *cycle)
{
    rtmp_int_t n = rtmp_core_worker_count(rtmp_core_conf(cycle));
    for (rtmp_int_t i = 0; i < n; i++) {
        rtmp_worker_slot_t *w = rtmp_master_free_slot();
        if (w == nullptr) {
            rtmp_log_error(RTMP_LOG_ALERT, cycle->log, 0, "no free worker slot");
            return;
        }
        if (rtmp_master_spawn(w, cycle) != RTMP_OK) {
            w->respawn_at = rtmp_current_msec + 1000; // try again shortly
            w->backoff = 1000;
            w->generation = rtmp_generation;
        }
    }
}

static void rtmp_master_reap(rtmp_cycle_t *cycle)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        rtmp_worker_slot_t *w = nullptr;
        for (auto &s : rtmp_slots) {
            if (s.pid == pid) {
                w = &s;
            }
        }
        if (w == nullptr) {
            continue;
        }
        close(w->channel);
        w->pid = 0;
        w->channel = -1;
        int slot = (int)(w - rtmp_slots);
        // whatever it had counted (connections, streams) went with it, even after a crash
        rtmp_limits_reset_slot(slot);
        rtmp_stat_reset_slot(slot);
        rtmp_balance_reset_slot(slot);
        rtmp_registry_drop_slot(
            slot,
            [](const char *key, int owner, void *) {
                rtmp_master_broadcast(rtmp_channel_cmd::stream_lost, key, owner, owner);
            },
            nullptr);

        if (WIFSIGNALED(status)) {
            rtmp_log_error(w->exiting ? RTMP_LOG_NOTICE : RTMP_LOG_ALERT, cycle->log, 0,
                           "worker %d exited on signal %d", (int)pid, WTERMSIG(status));
        } else {
            rtmp_log_error(w->exiting ? RTMP_LOG_NOTICE : RTMP_LOG_ALERT, cycle->log, 0,
                           "worker %d exited with code %d", (int)pid, WEXITSTATUS(status));
        }
        if (w->exiting || w->generation != rtmp_generation) {
            continue;
        }
        // Unexpected death: respawn at once, unless it keeps dying right after start.
        bool quick = rtmp_current_msec - w->started < RTMP_RESPAWN_QUICK_DEATH;
        w->backoff = quick ? (w->backoff ? w->backoff * 2 : 100) : 0;
        if (w->backoff > RTMP_RESPAWN_MAX_BACKOFF) {
            w->backoff = RTMP_RESPAWN_MAX_BACKOFF;
        }
        w->respawn_at = rtmp_current_msec + w->backoff;
        if (quick) {
            rtmp_log_error(RTMP_LOG_ALERT, cycle->log, 0,
                           "worker died %llums after start; respawning in %llums",
                           (unsigned long long)(rtmp_current_msec - w->started),
                           (unsigned long long)w->backoff);
        }
    }
}

static void rtmp_master_respawn_due(rtmp_cycle_t *cycle)
{
    for (auto &w : rtmp_slots) {
        if (w.respawn_at && w.respawn_at <= rtmp_current_msec) {
            rtmp_msec_t backoff = w.backoff;
            if (rtmp_master_spawn(&w, cycle) != RTMP_OK) {
                w.respawn_at = rtmp_current_msec + 1000;
            } else {
                w.backoff = backoff;
            }
        }
    }
}

static int rtmp_master_live_workers()
{
    int n = 0;
    for (auto &w : rtmp_slots) {
        n += w.pid > 0;
    }
    return n;
}

// Milliseconds until the next respawn or the kill deadline; -1 for none.
static int rtmp_master_next_wakeup(rtmp_msec_t kill_at)
{
    rtmp_msec_t next = kill_at;
    for (auto &w : rtmp_slots) {
        if (w.respawn_at && (next == 0 || w.respawn_at < next)) {
            next = w.respawn_at;
        }
    }
    if (next == 0) {
        return -1;
    }
    return next > rtmp_current_msec ? (int)(next - rtmp_current_msec) : 0;
}

// Tells every worker, or only those of generations before the current one.
static void rtmp_master_signal_all(rtmp_channel_cmd cmd, bool only_old, rtmp_log_t *log)
{
    for (auto &w : rtmp_slots) {
        if (only_old && w.generation == rtmp_generation) {
            continue;
        }
        if (cmd != rtmp_channel_cmd::reopen) {
            w.exiting = true;
            w.respawn_at = 0;
        }
        if (w.pid > 0) {
            rtmp_master_send(&w, cmd, log);
        }
    }
}

static void rtmp_master_set_rlimit(rtmp_cycle_t *cycle)
{
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    if (ccf->worker_rlimit_nofile == 0) {
        return;
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)ccf->worker_rlimit_nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
        // without privilege only the soft limit can move, up to the hard one
        getrlimit(RLIMIT_NOFILE, &rl);
        rlim_t want = (rlim_t)ccf->worker_rlimit_nofile;
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        rtmp_log_error(RTMP_LOG_WARN, cycle->log, 0,
                       "worker_rlimit_nofile %lld above the hard limit; using %llu",
                       (long long)ccf->worker_rlimit_nofile, (unsigned long long)rl.rlim_cur);
    }
}

static rtmp_cycle_t *rtmp_master_reload(rtmp_cycle_t *cycle)
{
    rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "reconfiguring from %s", cycle->conf_file);
    rtmp_sd_notify("RELOADING=1");
    rtmp_cycle_t *fresh = rtmp_cycle_init(cycle->conf_file, cycle, cycle->log);
    if (fresh == nullptr) {
        rtmp_log_error(RTMP_LOG_ERR, cycle->log, 0,
                       "reload failed; still running the previous configuration");
        rtmp_sd_notify("READY=1");
        return cycle;
    }
    rtmp_cycle = fresh;
    rtmp_generation++;
    rtmp_master_set_rlimit(fresh);
    // the sockets the new configuration dropped: closed before the fork, or the new
    // workers would inherit them and hold them open, queueing clients nobody accepts
    rtmp_cycle_close_listening(cycle);
    // the old log too: a new worker holding it would keep a rotated file after USR1
    rtmp_log_file_close(&cycle->log_file);
    rtmp_master_spawn_all(fresh);
    rtmp_master_signal_all(rtmp_channel_cmd::quit, true, fresh->log);
    rtmp_log_error(RTMP_LOG_NOTICE, fresh->log, 0, "reloaded; previous workers are draining");
    rtmp_cycle_destroy(cycle);
    rtmp_sd_notify("READY=1");
    return fresh;
}

void rtmp_master_process_cycle(rtmp_cycle_t *cycle)
{
    rtmp_cycle = cycle;
    rtmp_master_set_rlimit(cycle);

    // before the first fork, and never remapped: every generation of workers shares it
    if (rtmp_limits_init(cycle->log) != RTMP_OK || rtmp_stat_init(cycle->log) != RTMP_OK ||
        rtmp_balance_init(cycle->log) != RTMP_OK) {
        exit(EXIT_FAILURE);
    }
    // signals are let in only while waiting here, atomically
    rtmp_master_ep = epoll_create1(EPOLL_CLOEXEC);
    rtmp_master_spawn_all(cycle);
    rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "%s/%s started", RTMP_NAME, RTMP_VERSION);
    rtmp_sd_notify("READY=1");

    bool stopping = false;
    rtmp_msec_t kill_at = 0;
    // the pid file stays where it was first written, whatever a reload says
    static char pid_path[4096];
    snprintf(pid_path, sizeof(pid_path), "%s",
             reinterpret_cast<const char *>(rtmp_core_conf(cycle)->pid.data));

    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_pwait(rtmp_master_ep, evs, 16, rtmp_master_next_wakeup(kill_at),
                            &rtmp_signals_wait_mask);
        rtmp_time_update();
        for (int i = 0; i < n; i++) {
            rtmp_master_channel((int)evs[i].data.u32, cycle->log);
        }
        rtmp_signals_deliver();

        if (rtmp_sig_child) {
            rtmp_sig_child = 0;
            rtmp_master_reap(cycle);
        }
        if (rtmp_sig_terminate) {
            rtmp_sig_terminate = 0;
            if (kill_at == 0) {
                rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "terminating");
                rtmp_sd_notify("STOPPING=1");
                rtmp_master_signal_all(rtmp_channel_cmd::terminate, false, cycle->log);
                rtmp_cycle_close_listening(cycle);
                kill_at = rtmp_current_msec + RTMP_TERMINATE_GRACE;
                stopping = true;
            }
        }
        if (rtmp_sig_quit) {
            rtmp_sig_quit = 0;
            if (!stopping) {
                rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "shutting down gracefully");
                rtmp_sd_notify("STOPPING=1");
                rtmp_master_signal_all(rtmp_channel_cmd::quit, false, cycle->log);
                rtmp_cycle_close_listening(cycle); // new clients are refused, not queued
                stopping = true;
            }
        }
        if (stopping) {
            if (rtmp_master_live_workers() == 0) {
                break;
            }
            if (kill_at && rtmp_current_msec >= kill_at) {
                for (auto &w : rtmp_slots) {
                    if (w.pid > 0) {
                        rtmp_log_error(RTMP_LOG_WARN, cycle->log, 0, "killing worker %d",
                                       (int)w.pid);
                        kill(w.pid, SIGKILL);
                    }
                }
                kill_at = rtmp_current_msec + RTMP_TERMINATE_GRACE;
            }
            continue;
        }
        if (rtmp_sig_reconfigure) {
            rtmp_sig_reconfigure = 0;
            cycle = rtmp_master_reload(cycle);
        }
        if (rtmp_sig_reopen) {
            rtmp_sig_reopen = 0;
            rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "reopening logs");
            if (rtmp_log_file_reopen(&cycle->log_file) != RTMP_OK) {
                rtmp_log_error(RTMP_LOG_ALERT, cycle->log, errno, "reopening the error_log failed");
            } else {
                // the line above ends the old file; this one begins the new
                rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "logs reopened");
            }
            rtmp_cycle_log_owner(cycle); // before the workers open the new file themselves
            rtmp_master_signal_all(rtmp_channel_cmd::reopen, false, cycle->log);
        }
        rtmp_master_respawn_due(cycle);
    }

    rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "exit");
    rtmp_pid_file_delete(pid_path);
    close(rtmp_master_ep);
    rtmp_cycle_destroy(cycle);
    exit(EXIT_SUCCESS);
}
