// Signal flags, the pid file and systemd readiness notification.
#include "os/rtmp_process.h"

#include "core/rtmp_time.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

volatile sig_atomic_t rtmp_sig_reconfigure;
volatile sig_atomic_t rtmp_sig_terminate;
volatile sig_atomic_t rtmp_sig_quit;
volatile sig_atomic_t rtmp_sig_reopen;
volatile sig_atomic_t rtmp_sig_child;
sigset_t rtmp_signals_wait_mask;

static void rtmp_signal_handler(int signo)
{
    int saved = errno;
    switch (signo) {
    case SIGHUP:
        rtmp_sig_reconfigure = 1;
        break;
    case SIGTERM:
    case SIGINT:
        rtmp_sig_terminate = 1;
        break;
    case SIGQUIT:
        rtmp_sig_quit = 1;
        break;
    case SIGUSR1:
        rtmp_sig_reopen = 1;
        break;
    case SIGCHLD:
        rtmp_sig_child = 1;
        break;
    default:
        break;
    }
    errno = saved;
}

static sigset_t rtmp_signals_blocked;

void rtmp_signals_deliver()
{
    // epoll_pwait() that returns events leaves signals pending (see epoll_pwait(2)),
    // so a loop that is never idle would never see them: let them in here, every 10 ms at
    // most, not with a system call at every turn of a busy loop. An idle loop's wait
    // takes them at once.
    static rtmp_msec_t last;
    if (rtmp_current_msec - last < 10) {
        return;
    }
    last = rtmp_current_msec;
    sigset_t pending;
    if (sigpending(&pending) == 0 && !sigisemptyset(&pending)) {
        sigprocmask(SIG_UNBLOCK, &rtmp_signals_blocked, nullptr);
        sigprocmask(SIG_BLOCK, &rtmp_signals_blocked, nullptr);
    }
}

rtmp_int_t rtmp_signals_init(rtmp_log_t *log)
{
    static constexpr int signals[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD};
    sigset_t &block = rtmp_signals_blocked;
    sigemptyset(&block);
    for (int signo : signals) {
        struct sigaction sa = {};
        sa.sa_handler = rtmp_signal_handler;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signo, &sa, nullptr) == -1) {
            rtmp_log_error(RTMP_LOG_EMERG, log, errno, "sigaction(%d) failed", signo);
            return RTMP_ERROR;
        }
        sigaddset(&block, signo);
    }
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &block, nullptr) == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "sigprocmask() failed");
        return RTMP_ERROR;
    }
    sigemptyset(&rtmp_signals_wait_mask);
    return RTMP_OK;
}

rtmp_int_t rtmp_pid_file_write(const char *path, rtmp_log_t *log)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "cannot open pid file \"%s\"", path);
        return RTMP_ERROR;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    bool ok = write(fd, buf, (size_t)n) == n;
    close(fd);
    if (!ok) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "cannot write pid file \"%s\"", path);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

void rtmp_pid_file_delete(const char *path)
{
    unlink(path);
}

void rtmp_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == nullptr || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(sockaddr_un::sun_path)) {
        return;
    }
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0'; // abstract namespace
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return;
    }
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "%s\nMAINPID=%d", state, (int)getpid());
    (void)sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, reinterpret_cast<struct sockaddr *>(&sa),
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}
