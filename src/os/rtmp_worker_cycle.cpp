// A worker: one epoll loop serving its clients until told to quit or terminate.
#include "core/rtmp_module.h"
#include "core/rtmp_time.h"
#include "event/rtmp_channel.h"
#include "event/rtmp_connection.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_exec.h"
#include "rtmp/rtmp_live.h"

#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

static constexpr size_t RTMP_EPOLL_BATCH = 512;

int rtmp_worker_slot = -1;
static int rtmp_worker_channel = -1;
static bool rtmp_worker_exiting;
static rtmp_event_t rtmp_worker_shutdown_ev;

// How long a graceful stop lets sessions go on: this configuration's shutdown_timeout, or a
// newer one's, which the master sends with each quit (0: until they end).
static rtmp_msec_t rtmp_worker_shutdown_msec;
static bool rtmp_worker_shutdown_told;

// A quit from the master: after a reload, or a QUIT during one, the workers of the previous
// configuration finish within the current one's shutdown_timeout, as the operator set it.
static void rtmp_worker_shutdown_within(rtmp_msec_t msec)
{
    rtmp_worker_shutdown_msec = msec;
    rtmp_worker_shutdown_told = true;
    if (rtmp_worker_exiting && msec &&
        (!rtmp_worker_shutdown_ev.timer_set ||
         rtmp_worker_shutdown_ev.timer_key > rtmp_current_msec + msec)) {
        rtmp_event_del_timer(&rtmp_worker_shutdown_ev);
        rtmp_event_add_timer(&rtmp_worker_shutdown_ev, msec);
    }
}

static void rtmp_worker_channel_handler(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    for (;;) {
        rtmp_channel_msg_t msg;
        rtmp_int_t rc = rtmp_channel_read(c->fd, &msg);
        if (rc == RTMP_AGAIN) {
            return;
        }
        if (rc != RTMP_OK) {
            // the master is gone: nobody would respawn or reload us, so wind down
            rtmp_log_error(RTMP_LOG_ALERT, &c->log, 0, "master channel closed; shutting down");
            rtmp_sig_quit = 1;
            rtmp_worker_channel = -1;
            rtmp_connection_close(c);
            return;
        }
        switch (msg.command) {
        case rtmp_channel_cmd::quit:
            rtmp_sig_quit = 1;
            rtmp_worker_shutdown_within((rtmp_msec_t)msg.shutdown_msec);
            break;
        case rtmp_channel_cmd::terminate:
            rtmp_sig_terminate = 1;
            break;
        case rtmp_channel_cmd::reopen:
            rtmp_sig_reopen = 1;
            break;
        case rtmp_channel_cmd::stream_up:
        case rtmp_channel_cmd::stream_down:
        case rtmp_channel_cmd::stream_lost:
            msg.name[sizeof(msg.name) - 1] = '\0';
            if (msg.command == rtmp_channel_cmd::stream_lost) {
                rtmp_live_registry_lost(msg.name, msg.slot);
            } else {
                rtmp_live_registry_update(msg.command == rtmp_channel_cmd::stream_up, msg.name,
                                          msg.slot);
            }
            break;
        case rtmp_channel_cmd::stream_takeover:
            msg.name[sizeof(msg.name) - 1] = '\0';
            rtmp_live_let_go(msg.name, msg.slot);
            break;
        case rtmp_channel_cmd::stream_claim: // workers claim, the master does not
            break;
        }
    }
}

// Asks every client connection's owner to finish now (shutdown_timeout passed or TERM).
static void rtmp_worker_close_all()
{
    rtmp_queue_t *q = rtmp_connection_active();
    while (!rtmp_queue_empty(q)) {
        rtmp_connection_t *c = rtmp_queue_data(q->next, rtmp_connection_t, queue);
        c->close = 1;
        c->read->handler(c->read);
        if (c->fd != -1) {
            rtmp_connection_close(c); // an owner that did not close it
        }
    }
}

static void rtmp_worker_shutdown_timeout(rtmp_event_t *ev)
{
    rtmp_log_error(RTMP_LOG_NOTICE, ev->log, 0, "shutdown_timeout: closing %zu connections",
                   rtmp_connection_active_count());
    rtmp_worker_close_all();
}

[[noreturn]] static void rtmp_worker_exit(rtmp_cycle_t *cycle)
{
    for (size_t m = 0; rtmp_modules[m]; m++) {
        if (rtmp_modules[m]->exit_worker) {
            rtmp_modules[m]->exit_worker(cycle);
        }
    }
    rtmp_log_error(RTMP_LOG_NOTICE, cycle->log, 0, "worker exit");
    rtmp_event_done();
    rtmp_connections_done();
    exit(EXIT_SUCCESS);
}

static bool rtmp_worker_tell(rtmp_channel_cmd command, std::string_view key)
{
    rtmp_channel_msg_t msg = {command, rtmp_log_pid, rtmp_worker_slot, {}};
    if (key.size() >= sizeof(msg.name) || rtmp_worker_channel == -1) {
        return false;
    }
    memcpy(msg.name, key.data(), key.size());
    if (rtmp_channel_write(rtmp_worker_channel, &msg) != RTMP_OK) {
        rtmp_log_error(RTMP_LOG_ALERT, rtmp_cycle->log, errno,
                       "cannot tell the master about stream \"%.*s\"", (int)key.size(), key.data());
        return false;
    }
    return true;
}

void rtmp_worker_announce(bool up, std::string_view key)
{
    (void)rtmp_worker_tell(up ? rtmp_channel_cmd::stream_up : rtmp_channel_cmd::stream_down, key);
}

bool rtmp_worker_claim(std::string_view key)
{
    return rtmp_worker_tell(rtmp_channel_cmd::stream_claim, key);
}

bool rtmp_worker_ask_takeover(std::string_view key)
{
    return rtmp_worker_tell(rtmp_channel_cmd::stream_takeover, key);
}

// `user`: a worker serves clients and runs their exec commands as that user, while the
// master keeps root for what a reload needs (ports, certificates, the log).
static void rtmp_worker_drop_privileges(rtmp_cycle_t *cycle)
{
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    if (!ccf->user_set || geteuid() != 0) {
        return;
    }
    if (setgid(ccf->gid) == -1 || initgroups(ccf->user, ccf->gid) == -1 || setuid(ccf->uid) == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, cycle->log, errno, "cannot run as user \"%s\"", ccf->user);
        exit(2);
    }
    // exec commands inherit this environment: they should find the user's home, not root's
    const struct passwd *pw = getpwuid(ccf->uid);
    (void)setenv("HOME", pw ? pw->pw_dir : "/", 1);
    (void)setenv("USER", ccf->user, 1);
    (void)setenv("LOGNAME", ccf->user, 1);
    // setuid() made the worker undumpable: a crash should still leave a core
    (void)prctl(PR_SET_DUMPABLE, 1);
}

void rtmp_worker_process_cycle(rtmp_cycle_t *cycle, int slot, int channel)
{
    rtmp_worker_slot = slot;
    rtmp_worker_channel = channel;
    rtmp_log_pid = (int)getpid();
    rtmp_log_worker = slot;
    rtmp_cycle = cycle;
    rtmp_worker_drop_privileges(cycle);
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);

    // slots: clients, one per listener, one internal listener per server, the channel
    size_t nslots = (size_t)ccf->worker_connections + cycle->nlistening + cycle->nservers + 1;
    if (rtmp_event_init(RTMP_EPOLL_BATCH, cycle->log) != RTMP_OK ||
        rtmp_connections_init(nslots, cycle->log) != RTMP_OK ||
        rtmp_event_listen(cycle) != RTMP_OK) {
        exit(2);
    }

    rtmp_connection_t *ch = rtmp_connection_get(channel);
    ch->log = *cycle->log;
    ch->read->handler = rtmp_worker_channel_handler;
    ch->write->handler = [](rtmp_event_t *) {};
    if (rtmp_event_add_connection(ch) != RTMP_OK) {
        exit(2);
    }

    for (size_t m = 0; rtmp_modules[m]; m++) {
        if (rtmp_modules[m]->init_worker && rtmp_modules[m]->init_worker(cycle) != RTMP_OK) {
            exit(2);
        }
    }

    rtmp_worker_shutdown_ev.handler = rtmp_worker_shutdown_timeout;
    rtmp_worker_shutdown_ev.log = cycle->log;

    for (;;) {
        if (rtmp_sig_child) {
            rtmp_sig_child = 0;
            rtmp_exec_reap(); // exec commands that ended: no zombies, restarts scheduled
        }
        if (rtmp_sig_terminate) {
            rtmp_worker_close_all();
            rtmp_worker_exit(cycle);
        }
        if (rtmp_sig_quit && !rtmp_worker_exiting) {
            rtmp_worker_exiting = true;
            rtmp_log_error(
                RTMP_LOG_NOTICE, cycle->log, 0, "gracefully shutting down: %zu connection%s left",
                rtmp_connection_active_count(), rtmp_connection_active_count() == 1 ? "" : "s");
            rtmp_event_stop_listening(cycle);
            rtmp_msec_t within =
                rtmp_worker_shutdown_told ? rtmp_worker_shutdown_msec : ccf->shutdown_timeout;
            if (within) {
                rtmp_event_add_timer(&rtmp_worker_shutdown_ev, within);
            }
        }
        if (rtmp_worker_exiting && rtmp_connection_active_count() == 0) {
            rtmp_event_del_timer(&rtmp_worker_shutdown_ev);
            rtmp_worker_exit(cycle);
        }
        if (rtmp_sig_reopen) {
            rtmp_sig_reopen = 0;
            if (rtmp_log_file_reopen(&cycle->log_file) != RTMP_OK) {
                rtmp_log_error(RTMP_LOG_ALERT, cycle->log, errno, "reopening the error_log failed");
            }
        }
        rtmp_event_process(&rtmp_signals_wait_mask);
        rtmp_signals_deliver();
    }
}
