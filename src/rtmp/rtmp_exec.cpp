// Exec: runs commands from the worker that owns a stream, supervises, stops and reaps them.
#include "rtmp/rtmp_exec.h"
#include "core/rtmp_time.h"
#include "event/rtmp_connection.h"
#include "os/rtmp_cycle.h"
#include "os/rtmp_process.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_pull.h"
#include "rtmp/rtmp_record.h"
#include "rtmp/rtmp_relay.h"

#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum class rtmp_exec_kind : uint8_t {
    push,         // lives as long as the published stream
    pull,         // publishes a stream players asked for; stopped when nobody plays it
    publish,      // one-shot
    publish_done, // one-shot
    play,         // one-shot
    play_done,    // one-shot
};
static constexpr size_t RTMP_EXEC_KINDS = 6;
static constexpr const char *rtmp_exec_names[RTMP_EXEC_KINDS] = {
    "exec_push", "exec_pull", "exec_publish", "exec_publish_done", "exec_play", "exec_play_done"};

const std::string_view rtmp_exec_stream_var_names[RTMP_EXEC_STREAM_VARS] = {
    "app", "name", "addr", "args", "flashver", "tcurl"};

// exec_record_done: the stream's variables, then what the recorder tells about its file.
static constexpr size_t RTMP_EXEC_RECORD_VARS = RTMP_EXEC_STREAM_VARS + 5;
static const std::string_view rtmp_exec_record_var_names[RTMP_EXEC_RECORD_VARS] = {
    "app",  "name",     "addr",     "args", "flashver", "tcurl",
    "path", "recorder", "duration", "size", "reason"};

struct rtmp_exec_app_conf_t {
    rtmp_exec_cmds_t cmds[RTMP_EXEC_KINDS];
    rtmp_exec_cmds_t record_done; // one-shot, with the recorder's variables too
    rtmp_int_t kill_signal;
    rtmp_msec_t kill_timeout;
    rtmp_msec_t pull_idle;
    rtmp_msec_t timeout; // one-shot commands; 0: no limit
};

struct rtmp_exec_main_conf_t {
    rtmp_int_t max_processes;
};

// A supervised command that exits is started again after 1 s, 2 s, 4 s ... up to this;
// one that ran this long before exiting starts the series afresh.
static constexpr rtmp_msec_t RTMP_EXEC_BACKOFF_MIN = 1000;
static constexpr rtmp_msec_t RTMP_EXEC_BACKOFF_MAX = 30000;
// A line of a command's output is logged in pieces of at most this many bytes.
static constexpr size_t RTMP_EXEC_LINE = 400;
// Bytes of one command's output read per wakeup: a chatty command cannot starve clients.
static constexpr size_t RTMP_EXEC_READ_BUDGET = 16384;
// A worker that is told to terminate waits at most this long for its commands.
static constexpr rtmp_msec_t RTMP_EXEC_TERMINATE_WAIT = 2000;
// A worker that leaves lets one-shot commands finish for at most this long (told to
// terminate: the second, so the master's 3 s before SIGKILL cover the kill grace too).
static constexpr rtmp_msec_t RTMP_EXEC_EXIT_WAIT = 30000;
static constexpr rtmp_msec_t RTMP_EXEC_TERMINATE_ONESHOT_WAIT = 500;

typedef struct rtmp_exec_group_s rtmp_exec_group_t;
typedef struct rtmp_exec_proc_s rtmp_exec_proc_t;

// The supervised commands of one stream (exec_push or exec_pull).
struct rtmp_exec_group_s {
    rtmp_exec_group_t *next;
    rtmp_exec_kind kind;
    rtmp_conf_app_t *app;
    char name[RTMP_MAX_NAME + 1];
    bool stopping;
    size_t nprocs;   // its processes not yet freed
    size_t nplayers; // exec_pull: players of the stream in this worker
    rtmp_event_t idle;
};

// One command: while it runs, and between runs while it waits to be restarted.
struct rtmp_exec_proc_s {
    rtmp_exec_proc_t *next;
    rtmp_exec_group_t *group; // nullptr: one-shot
    rtmp_exec_app_conf_t *ecf;
    const char *what;
    char label[RTMP_MAX_NAME * 2 + 2]; // "app/name"
    const char *prog;                  // argv[0]'s last path component, for log lines
    pid_t pid;                         // 0: not running
    bool stopping;                     // the kill signal was sent
    rtmp_connection_t *out;            // &conn while its stdout/stderr pipe is open
    // the pipe's read end, in the event loop: the module's own, so that commands take
    // no client connection slot (nor count in when a worker is nearly full)
    rtmp_connection_t conn;
    rtmp_event_t rev;
    rtmp_event_t wev;
    rtmp_event_t timer; // restart back-off, kill grace time or exec_timeout
    rtmp_msec_t started;
    rtmp_msec_t backoff;
    uint32_t restarts;
    size_t linelen;
    char line[RTMP_EXEC_LINE];
    char shown[1024];  // argv for the log, quoted, secrets masked
    char secrets[256]; // the query's secret values, NUL-separated: masked in its output too
    size_t secret_max; // the longest of them
    char **argv;       // in the same allocation, after the struct
};

static rtmp_exec_proc_t *rtmp_exec_procs;
static rtmp_exec_group_t *rtmp_exec_groups;
static size_t rtmp_exec_nrunning;

static rtmp_publish_pt rtmp_exec_next_publish;
static rtmp_play_pt rtmp_exec_next_play;
static rtmp_close_stream_pt rtmp_exec_next_close_stream;
static rtmp_record_done_pt rtmp_exec_next_record_done;

static rtmp_exec_app_conf_t *rtmp_exec_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_exec_app_conf_t *>(app->app_conf[rtmp_exec_module.index]);
}

static rtmp_int_t rtmp_exec_max_processes()
{
    return static_cast<rtmp_exec_main_conf_t *>(rtmp_cycle->main_conf[rtmp_exec_module.index])
        ->max_processes;
}

size_t rtmp_exec_running()
{
    return rtmp_exec_nrunning;
}

// ---- configuration ------------------------------------------------------------------------

// One command from a string (split on blanks) or an array of strings (argv as written).
static const char *rtmp_exec_conf_command(rtmp_conf_t *cf, config_setting_t *e,
                                          const char *directive, const std::string_view *names,
                                          size_t nnames, rtmp_exec_cmd_t *cmd)
{
    std::string_view words[RTMP_EXEC_MAX_ARGS];
    int n;
    if (config_setting_type(e) == CONFIG_TYPE_STRING) {
        n = rtmp_exec_split(rtmp_conf_string(e), words, RTMP_EXEC_MAX_ARGS);
    } else if (config_setting_type(e) == CONFIG_TYPE_ARRAY) {
        n = config_setting_length(e);
        if (n > (int)RTMP_EXEC_MAX_ARGS) {
            n = -1;
        }
        for (int i = 0; i < n; i++) {
            config_setting_t *a = config_setting_get_elem(e, (unsigned)i);
            if (config_setting_type(a) != CONFIG_TYPE_STRING) {
                rtmp_conf_error(cf, a, "\"%s\": the arguments of a command must be strings",
                                directive);
                return "";
            }
            words[i] = rtmp_conf_string(a);
        }
    } else {
        rtmp_conf_error(cf, e,
                        "\"%s\" must be a command (\"prog arg ...\" or [ \"prog\", \"arg\", ... ]) "
                        "or a list of them",
                        directive);
        return "";
    }
    if (n < 0) {
        rtmp_conf_error(cf, e, "\"%s\": a command has at most %zu arguments", directive,
                        RTMP_EXEC_MAX_ARGS);
        return "";
    }
    if (n == 0 || words[0].empty()) {
        rtmp_conf_error(cf, e, "\"%s\": a command needs a program", directive);
        return "";
    }
    for (int i = 0; i < n; i++) {
        const char *bad = rtmp_exec_check(words[i], names, nnames);
        if (bad == nullptr && i == 0 && words[0].find('$') != std::string_view::npos) {
            bad = "a program name without variables";
        }
        if (bad) {
            rtmp_conf_error(cf, e, "\"%s\": \"%.*s\" must be %s", directive, (int)words[i].size(),
                            words[i].data(), bad);
            return "";
        }
    }
    cmd->argc = (size_t)n;
    cmd->argv = rtmp_palloc<rtmp_str_t>(cf->pool, (size_t)n);
    for (int i = 0; i < n; i++) {
        cmd->argv[i] = rtmp_pstr(cf->pool, words[i]);
    }
    return nullptr;
}

const char *rtmp_exec_conf_commands(rtmp_conf_t *cf, config_setting_t *s, const char *directive,
                                    const std::string_view *names, size_t nnames,
                                    rtmp_exec_cmds_t *cmds)
{
    bool list = config_setting_type(s) == CONFIG_TYPE_LIST;
    int n = list ? config_setting_length(s) : 1;
    cmds->n = n;
    cmds->cmd = n ? rtmp_palloc<rtmp_exec_cmd_t>(cf->pool, (size_t)n) : nullptr;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = list ? config_setting_get_elem(s, (unsigned)i) : s;
        if (rtmp_exec_conf_command(cf, e, directive, names, nnames, &cmds->cmd[i])) {
            return "";
        }
    }
    return nullptr;
}

static const char *rtmp_exec_set_commands(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                          config_setting_t *s, void *conf)
{
    auto *ecf = static_cast<rtmp_exec_app_conf_t *>(conf);
    return rtmp_exec_conf_commands(cf, s, d->name, rtmp_exec_stream_var_names,
                                   RTMP_EXEC_STREAM_VARS, &ecf->cmds[d->offset]);
}

static const char *rtmp_exec_set_record_done(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                             config_setting_t *s, void *conf)
{
    auto *ecf = static_cast<rtmp_exec_app_conf_t *>(conf);
    return rtmp_exec_conf_commands(cf, s, d->name, rtmp_exec_record_var_names,
                                   RTMP_EXEC_RECORD_VARS, &ecf->record_done);
}

static const char *rtmp_exec_set_signal(rtmp_conf_t *, const rtmp_directive_t *,
                                        config_setting_t *s, void *conf)
{
    static constexpr struct {
        const char *name;
        int signo;
    } signals[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
                   {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
    auto *ecf = static_cast<rtmp_exec_app_conf_t *>(conf);
    if (config_setting_type(s) == CONFIG_TYPE_INT) {
        int v = config_setting_get_int(s);
        if (v >= 1 && v < NSIG) {
            ecf->kill_signal = v;
            return nullptr;
        }
    }
    std::string_view v = rtmp_conf_string(s);
    if (v.starts_with("SIG")) {
        v.remove_prefix(3);
    }
    for (const auto &sig : signals) {
        if (v == sig.name) {
            ecf->kill_signal = sig.signo;
            return nullptr;
        }
    }
    return "a signal: \"TERM\", \"INT\", \"QUIT\", \"HUP\", \"KILL\", \"USR1\", \"USR2\" or a "
           "number";
}

static void *rtmp_exec_create_main_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_exec_main_conf_t>(cf->pool);
    c->max_processes = RTMP_CONF_UNSET;
    return c;
}

static const char *rtmp_exec_init_main_conf(rtmp_conf_t *, void *conf)
{
    auto *c = static_cast<rtmp_exec_main_conf_t *>(conf);
    rtmp_conf_merge_value(c->max_processes, RTMP_CONF_UNSET, 64);
    return nullptr;
}

static void *rtmp_exec_create_app_conf(rtmp_conf_t *cf)
{
    auto *c = rtmp_palloc<rtmp_exec_app_conf_t>(cf->pool);
    for (auto &cmds : c->cmds) {
        cmds.n = RTMP_CONF_UNSET;
    }
    c->record_done.n = RTMP_CONF_UNSET;
    c->kill_signal = RTMP_CONF_UNSET;
    c->kill_timeout = c->pull_idle = c->timeout = RTMP_CONF_UNSET_MSEC;
    return c;
}

static const char *rtmp_exec_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_exec_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_exec_app_conf_t *>(child);
    for (size_t i = 0; i <= RTMP_EXEC_KINDS; i++) {
        rtmp_exec_cmds_t *cc = i < RTMP_EXEC_KINDS ? &c->cmds[i] : &c->record_done;
        const rtmp_exec_cmds_t *pc = i < RTMP_EXEC_KINDS ? &p->cmds[i] : &p->record_done;
        if (cc->n == RTMP_CONF_UNSET) {
            cc->cmd = pc->cmd;
            cc->n = pc->n == RTMP_CONF_UNSET ? 0 : pc->n;
        }
    }
    rtmp_conf_merge_value(c->kill_signal, p->kill_signal, SIGTERM);
    rtmp_conf_merge_msec(c->kill_timeout, p->kill_timeout, 5000);
    rtmp_conf_merge_msec(c->pull_idle, p->pull_idle, 10000);
    rtmp_conf_merge_msec(c->timeout, p->timeout, 0);
    return nullptr;
}

#define EXEC_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)
#define EXEC_CMDS(name, kind)                                                                      \
    {                                                                                              \
        name, EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, (size_t)(kind), 0, 0,     \
            rtmp_exec_set_commands                                                                 \
    }

static const rtmp_directive_t rtmp_exec_directives[] = {
    EXEC_CMDS("exec_push", rtmp_exec_kind::push),
    EXEC_CMDS("exec_pull", rtmp_exec_kind::pull),
    EXEC_CMDS("exec_publish", rtmp_exec_kind::publish),
    EXEC_CMDS("exec_publish_done", rtmp_exec_kind::publish_done),
    EXEC_CMDS("exec_play", rtmp_exec_kind::play),
    EXEC_CMDS("exec_play_done", rtmp_exec_kind::play_done),
    {"exec_record_done", EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_exec_set_record_done},
    {"exec_kill_signal", EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_exec_set_signal},
    {"exec_kill_timeout", EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_exec_app_conf_t, kill_timeout), 0, 600000, nullptr},
    {"exec_pull_idle", EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_exec_app_conf_t, pull_idle), 0, 86400000, nullptr},
    {"exec_timeout", EXEC_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::msec,
     offsetof(rtmp_exec_app_conf_t, timeout), 0, 86400000, nullptr},
    {"exec_max_processes", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     offsetof(rtmp_exec_main_conf_t, max_processes), 0, 4096, nullptr},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- output -------------------------------------------------------------------------------

// A command's output may repeat its arguments (ffmpeg prints its input's URL): the
// secrets rtmp_exec_show masks are masked there too, in place.
static void rtmp_exec_mask_line(rtmp_exec_proc_t *p)
{
    std::string_view line(p->line, p->linelen);
    for (const char *v = p->secrets; *v; v += strlen(v) + 1) {
        std::string_view secret(v);
        for (size_t at = line.find(secret); at != std::string_view::npos;
             at = line.find(secret, at + secret.size())) {
            memset(p->line + at, '*', secret.size());
        }
    }
}

// Logs the first n bytes of the line; the rest starts the next piece.
static void rtmp_exec_log_piece(rtmp_exec_proc_t *p, size_t n)
{
    rtmp_exec_mask_line(p);
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0, "%s \"%s\" [%s %d]: %.*s", p->what, p->label,
                   p->prog, (int)p->pid, (int)n, p->line);
    memmove(p->line, p->line + n, p->linelen - n);
    p->linelen -= n;
}

static void rtmp_exec_log_line(rtmp_exec_proc_t *p)
{
    if (p->linelen) {
        rtmp_exec_log_piece(p, p->linelen);
    }
}

// Splits output into lines (ffmpeg's progress ends its lines with \r); control bytes are
// shown as '?' here already, since a NUL would cut the logged piece short.
static void rtmp_exec_output(rtmp_exec_proc_t *p, const u_char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        u_char ch = data[i];
        if (ch == '\n' || ch == '\r') {
            rtmp_exec_log_line(p);
            continue;
        }
        if (p->linelen == sizeof(p->line)) {
            // a long line goes out in pieces; the last bytes of this one start the next,
            // so that a secret across the cut is masked whole there
            rtmp_exec_log_piece(p, sizeof(p->line) - (p->secret_max ? p->secret_max - 1 : 0));
        }
        p->line[p->linelen++] = (char)(rtmp_is_control(ch) ? '?' : ch);
    }
}

static void rtmp_exec_close_output(rtmp_exec_proc_t *p)
{
    rtmp_connection_t *c = p->out;
    if (c == nullptr) {
        return;
    }
    rtmp_exec_log_line(p);
    rtmp_event_delete_posted(c->read);
    // closing does not take it out of epoll while a command forked since holds a copy
    // (until its execve()), and p, which the registration points to, may be freed next
    if (c->read->active) {
        (void)rtmp_event_del(c);
    }
    close(c->fd);
    c->fd = -1; // an event for it later in this batch is skipped
    p->out = nullptr;
}

static void rtmp_exec_read(rtmp_event_t *ev);

// Readies p->conn for a new pipe, as rtmp_connection_get() does a slot.
static rtmp_connection_t *rtmp_exec_conn(rtmp_exec_proc_t *p, int fd)
{
    rtmp_connection_t *c = &p->conn;
    unsigned instance = p->rev.instance;
    memset(c, 0, sizeof(*c));
    memset(&p->rev, 0, sizeof(p->rev));
    memset(&p->wev, 0, sizeof(p->wev));
    c->read = &p->rev;
    c->write = &p->wev;
    c->fd = fd;
    c->read->instance = c->write->instance = !instance; // the previous pipe's events are stale
    c->read->data = c->write->data = c;
    c->write->write = 1;
    c->log = *rtmp_cycle->log;
    c->log.handler = nullptr;
    c->data = p;
    c->read->handler = rtmp_exec_read;
    c->write->handler = [](rtmp_event_t *) {};
    c->read->log = c->write->log = &c->log;
    return c;
}

// Reads what the command wrote, a bounded amount per wakeup; the rest on the next turn.
static void rtmp_exec_read(rtmp_event_t *ev)
{
    auto *c = static_cast<rtmp_connection_t *>(ev->data);
    auto *p = static_cast<rtmp_exec_proc_t *>(c->data);
    u_char buf[4096];
    size_t budget = RTMP_EXEC_READ_BUDGET;
    while (budget) {
        ssize_t n = read(c->fd, buf, sizeof(buf) < budget ? sizeof(buf) : budget);
        if (n > 0) {
            rtmp_exec_output(p, buf, (size_t)n);
            budget -= (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            ev->ready = 0;
            return;
        }
        rtmp_exec_close_output(p); // every writer closed it (or it failed)
        return;
    }
    rtmp_event_post(ev);
}

// ---- processes ----------------------------------------------------------------------------

static void rtmp_exec_free(rtmp_exec_proc_t *p)
{
    rtmp_exec_proc_t **pp = &rtmp_exec_procs;
    while (*pp != p) {
        pp = &(*pp)->next;
    }
    *pp = p->next;
    rtmp_event_del_timer(&p->timer);
    rtmp_exec_close_output(p);
    rtmp_exec_group_t *g = p->group;
    rtmp_free(p);
    if (g && --g->nprocs == 0 && g->stopping) {
        rtmp_event_del_timer(&g->idle);
        rtmp_free(g);
    }
}

// The program's path: as written when it has a '/', else the first match in $PATH, looked
// up here so that the child only has to call execve(); false when there is no executable
// file there (errno says why, for a path as written).
static bool rtmp_exec_path(const char *prog, char *path, size_t len)
{
    if (strchr(prog, '/')) {
        return snprintf(path, len, "%s", prog) < (int)len && access(path, X_OK) == 0;
    }
    const char *dirs = getenv("PATH");
    std::string_view rest = dirs && *dirs ? dirs : "/usr/local/bin:/usr/bin:/bin";
    while (!rest.empty()) {
        size_t colon = rest.find(':');
        std::string_view dir = rest.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        // an empty entry means the current directory, as for execvp()
        int n = dir.empty() ? snprintf(path, len, "./%s", prog)
                            : snprintf(path, len, "%.*s/%s", (int)dir.size(), dir.data(), prog);
        if (n > 0 && (size_t)n < len && access(path, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

// In the child, between fork() and execve(): async-signal-safe calls only.
[[noreturn]] static void rtmp_exec_child(const char *path, char **argv, int out, int null_fd,
                                         pid_t parent)
{
    // default dispositions (ignored ones survive execve, SIGPIPE's would), then no mask
    struct sigaction sa = {};
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        (void)sigaction(sig, &sa, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, nullptr);
    // the worker dying any way at all takes the command with it; if it already died,
    // nobody will ever reap or stop us
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) {
        _exit(127);
    }
    // its own process group, so a stop reaches whatever it starts in turn
    (void)setpgid(0, 0);
    if (dup2(null_fd, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
        dup2(out, STDERR_FILENO) == -1) {
        _exit(127);
    }
    // every descriptor the server opens is close-on-exec; this also covers those a
    // library opened without it
    if (close_range(3, UINT_MAX, 0) == -1) {
        struct rlimit rl;
        int max =
            getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
        for (int fd = 3; fd < max; fd++) {
            (void)close(fd);
        }
    }
    execve(path, argv, environ);
    // strerror() is not async-signal-safe: the reasons a checked path still fails on
    const char *msg = errno == ENOEXEC  ? "execve() failed: Exec format error\n"
                      : errno == ENOENT ? "execve() failed: No such file or directory "
                                          "(a script's interpreter?)\n"
                      : errno == EACCES ? "execve() failed: Permission denied\n"
                                        : "execve() failed\n";
    (void)!write(STDERR_FILENO, msg, strlen(msg));
    _exit(127);
}

// Starts the command; RTMP_ERROR (logged) when it cannot be.
static rtmp_int_t rtmp_exec_spawn(rtmp_exec_proc_t *p)
{
    if ((rtmp_int_t)rtmp_exec_nrunning >= rtmp_exec_max_processes()) {
        rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                       "%s \"%s\": not started: exec_max_processes (%lld) are running", p->what,
                       p->label, (long long)rtmp_exec_max_processes());
        return RTMP_ERROR;
    }
    char path[PATH_MAX];
    if (!rtmp_exec_path(p->argv[0], path, sizeof(path))) {
        if (strchr(p->argv[0], '/')) {
            rtmp_log_error(RTMP_LOG_ERR, rtmp_cycle->log, errno, "%s \"%s\": not started: \"%s\"",
                           p->what, p->label, p->argv[0]);
        } else {
            rtmp_log_error(RTMP_LOG_ERR, rtmp_cycle->log, 0,
                           "%s \"%s\": not started: \"%s\" is not in PATH", p->what, p->label,
                           p->argv[0]);
        }
        return RTMP_ERROR;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, rtmp_cycle->log, errno, "%s \"%s\": pipe2() failed", p->what,
                       p->label);
        return RTMP_ERROR;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, rtmp_cycle->log, errno,
                       "%s \"%s\": not started: cannot open /dev/null", p->what, p->label);
        close(fds[0]);
        close(fds[1]);
        return RTMP_ERROR;
    }
    (void)fcntl(fds[0], F_SETFL, O_NONBLOCK); // only our end: the command's stays blocking
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        rtmp_exec_child(path, p->argv, fds[1], null_fd, parent);
    }
    int err = errno;
    close(fds[1]);
    close(null_fd);
    if (pid == -1) {
        rtmp_log_error(RTMP_LOG_ALERT, rtmp_cycle->log, err, "%s \"%s\": fork() failed", p->what,
                       p->label);
        close(fds[0]);
        return RTMP_ERROR;
    }
    (void)setpgid(pid, pid); // as the child does: whichever runs first, the group exists
    p->pid = pid;
    p->started = rtmp_current_msec;
    p->stopping = false;
    p->linelen = 0;
    rtmp_exec_nrunning++;

    p->out = rtmp_exec_conn(p, fds[0]);
    if (rtmp_event_add_connection(p->out) != RTMP_OK) {
        rtmp_exec_close_output(p); // it runs without its output logged
    }

    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0, "%s \"%s\": started pid %d: %s", p->what,
                   p->label, (int)pid, p->shown);
    return RTMP_OK;
}

static void rtmp_exec_kill_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_exec_proc_t *>(ev->data);
    ev->timedout = 0;
    if (p->pid) {
        rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                       "%s \"%s\": pid %d still running %llums after signal %d: SIGKILL", p->what,
                       p->label, (int)p->pid, (unsigned long long)p->ecf->kill_timeout,
                       (int)p->ecf->kill_signal);
        if (kill(-p->pid, SIGKILL) == -1) {
            (void)kill(p->pid, SIGKILL);
        }
    }
}

// Sends the kill signal, and SIGKILL after the grace time; a command waiting to be
// restarted is simply forgotten. Frees p unless it still runs.
static void rtmp_exec_stop(rtmp_exec_proc_t *p)
{
    if (p->pid == 0) {
        rtmp_exec_free(p);
        return;
    }
    if (p->stopping) {
        return;
    }
    p->stopping = true;
    int sig = (int)p->ecf->kill_signal;
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0, "%s \"%s\": stopping pid %d with signal %d",
                   p->what, p->label, (int)p->pid, sig);
    // the whole group: a wrapper script's children get it too
    if (kill(-p->pid, sig) == -1) {
        (void)kill(p->pid, sig);
    }
    rtmp_event_del_timer(&p->timer);
    p->timer.handler = rtmp_exec_kill_handler;
    rtmp_event_add_timer(&p->timer, p->ecf->kill_timeout);
}

static void rtmp_exec_timeout_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_exec_proc_t *>(ev->data);
    ev->timedout = 0;
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0, "%s \"%s\": pid %d ran past exec_timeout",
                   p->what, p->label, (int)p->pid);
    rtmp_exec_stop(p);
}

static void rtmp_exec_restart(rtmp_exec_proc_t *p);

static void rtmp_exec_restart_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_exec_proc_t *>(ev->data);
    ev->timedout = 0;
    rtmp_exec_group_t *g = p->group;
    p->restarts++;
    // someone else publishes what an exec_pull would: no second publisher, look again later
    if (g->kind == rtmp_exec_kind::pull && rtmp_live_has_publisher(g->app, g->name)) {
        rtmp_exec_restart(p);
        return;
    }
    if (rtmp_exec_spawn(p) != RTMP_OK) {
        rtmp_exec_restart(p);
    }
}

// Schedules the next start of a supervised command with exponential back-off.
static void rtmp_exec_restart(rtmp_exec_proc_t *p)
{
    rtmp_msec_t delay = p->backoff ? p->backoff : RTMP_EXEC_BACKOFF_MIN;
    p->backoff = delay * 2 < RTMP_EXEC_BACKOFF_MAX ? delay * 2 : RTMP_EXEC_BACKOFF_MAX;
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                   "%s \"%s\": restarting \"%s\" in %llums (%u restarts so far)", p->what, p->label,
                   p->argv[0], (unsigned long long)delay, p->restarts);
    p->timer.handler = rtmp_exec_restart_handler;
    rtmp_event_add_timer(&p->timer, delay);
}

// The argv for the log line of each start: quoted, and with the values of the query's
// secrets (key=, token=, ... as the live module masks them) shown as ***, since a stream
// key in a log file is as good as the key.
static void rtmp_exec_show(rtmp_exec_proc_t *p, const rtmp_exec_var_t *vars, size_t nvars)
{
    static constexpr std::string_view names[] = {"key",      "token", "secret", "auth",
                                                 "password", "pass",  "sign",   "signature"};
    std::string_view secrets[rtmp_nelems(names)];
    size_t nsecrets = 0, used = 0;
    for (size_t i = 0; i < nvars; i++) {
        if (vars[i].name != "args") {
            continue;
        }
        for (std::string_view name : names) {
            std::string_view v = rtmp_query_arg(vars[i].value, name);
            if (v.size() >= 4) { // shorter ones would mask half the command line
                secrets[nsecrets++] = v;
                // the zeroed list: a NUL after each value is left, and one after the last
                if (used + v.size() + 2 <= sizeof(p->secrets)) {
                    memcpy(p->secrets + used, v.data(), v.size());
                    used += v.size() + 1;
                    p->secret_max = v.size() > p->secret_max ? v.size() : p->secret_max;
                }
            }
        }
    }
    char *out = p->shown;
    size_t len = sizeof(p->shown) - 4, n = 0; // room for "..."
    for (char **a = p->argv; *a && n < len; a++) {
        std::string_view arg = *a;
        if (n + 2 < len) {
            if (n) {
                out[n++] = ' ';
            }
            out[n++] = '"';
        }
        while (!arg.empty() && n < len) {
            size_t hit = std::string_view::npos, hitlen = 0;
            for (size_t k = 0; k < nsecrets; k++) {
                size_t at = arg.find(secrets[k]);
                if (at < hit) {
                    hit = at;
                    hitlen = secrets[k].size();
                }
            }
            std::string_view plain = arg.substr(0, hit);
            size_t take = plain.size() < len - n ? plain.size() : len - n;
            memcpy(out + n, plain.data(), take);
            n += take;
            if (hit == std::string_view::npos) {
                break;
            }
            size_t stars = 3 < len - n ? 3 : len - n;
            memcpy(out + n, "***", stars);
            n += stars;
            arg = arg.substr(hit + hitlen);
        }
        if (n < len) {
            out[n++] = '"';
        }
    }
    if (n >= len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

// A new command from a template: argv expanded now, kept for restarts.
static rtmp_exec_proc_t *rtmp_exec_create(rtmp_exec_app_conf_t *ecf, const rtmp_exec_cmd_t *cmd,
                                          const char *what, std::string_view label,
                                          const rtmp_exec_var_t *vars, size_t nvars)
{
    static char expanded[RTMP_EXEC_MAX_TOTAL];
    size_t used = 0;
    for (size_t i = 0; i < cmd->argc; i++) {
        ssize_t n =
            rtmp_exec_expand(cmd->argv[i].sv(), vars, nvars, expanded + used,
                             RTMP_EXEC_MAX_ARG < sizeof(expanded) - used ? RTMP_EXEC_MAX_ARG
                                                                         : sizeof(expanded) - used);
        if (n < 0) {
            rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                           "%s \"%.*s\": not started: argument %zu of \"%s\" cannot be "
                           "expanded (too long, or a variable this event does not offer)",
                           what, (int)label.size(), label.data(), i, cmd->argv[0].data);
            return nullptr;
        }
        used += (size_t)n + 1;
    }
    size_t head = sizeof(rtmp_exec_proc_t) + (cmd->argc + 1) * sizeof(char *);
    auto *p = static_cast<rtmp_exec_proc_t *>(rtmp_calloc(head + used));
    p->argv = reinterpret_cast<char **>(p + 1);
    char *strings = reinterpret_cast<char *>(p) + head;
    memcpy(strings, expanded, used);
    for (size_t i = 0; i < cmd->argc; i++) {
        p->argv[i] = strings;
        strings += strlen(strings) + 1;
    }
    const char *slash = strrchr(p->argv[0], '/');
    p->prog = slash ? slash + 1 : p->argv[0];
    rtmp_exec_show(p, vars, nvars);
    p->ecf = ecf;
    p->what = what;
    snprintf(p->label, sizeof(p->label), "%.*s", (int)label.size(), label.data());
    p->timer.data = p;
    p->timer.log = rtmp_cycle->log;
    p->next = rtmp_exec_procs;
    rtmp_exec_procs = p;
    return p;
}

static void rtmp_exec_reaped(rtmp_exec_proc_t *p, int status)
{
    rtmp_exec_nrunning--;
    if (p->out) {
        rtmp_exec_read(p->out->read); // what it wrote last, then the pipe goes
        rtmp_exec_close_output(p);
    }
    double ran = (double)(rtmp_current_msec - p->started) / 1000.0;
    if (WIFSIGNALED(status)) {
        rtmp_log_error(p->stopping ? RTMP_LOG_INFO : RTMP_LOG_WARN, rtmp_cycle->log, 0,
                       "%s \"%s\": pid %d killed by signal %d after %.1fs", p->what, p->label,
                       (int)p->pid, WTERMSIG(status), ran);
    } else {
        int code = WEXITSTATUS(status);
        rtmp_log_error(code && !p->stopping ? RTMP_LOG_WARN : RTMP_LOG_INFO, rtmp_cycle->log, 0,
                       "%s \"%s\": pid %d exited with code %d after %.1fs", p->what, p->label,
                       (int)p->pid, code, ran);
    }
    rtmp_msec_t lived = rtmp_current_msec - p->started;
    p->pid = 0;
    rtmp_event_del_timer(&p->timer);
    if (p->group == nullptr || p->group->stopping || p->stopping) {
        rtmp_exec_free(p);
        return;
    }
    if (lived >= RTMP_EXEC_BACKOFF_MAX) {
        p->backoff = 0; // it ran well for a while: start the series afresh
    }
    rtmp_exec_restart(p);
}

void rtmp_exec_reap()
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        rtmp_exec_proc_t *p = rtmp_exec_procs;
        while (p && p->pid != pid) {
            p = p->next;
        }
        if (p) {
            rtmp_exec_reaped(p, status);
        }
    }
}

// ---- groups -------------------------------------------------------------------------------

static rtmp_exec_group_t *rtmp_exec_group_find(rtmp_exec_kind kind, rtmp_conf_app_t *app,
                                               std::string_view name)
{
    for (rtmp_exec_group_t *g = rtmp_exec_groups; g; g = g->next) {
        if (g->kind == kind && g->app == app && name == g->name) {
            return g;
        }
    }
    return nullptr;
}

static void rtmp_exec_group_stop(rtmp_exec_group_t *g)
{
    rtmp_exec_group_t **pp = &rtmp_exec_groups;
    while (*pp != g) {
        pp = &(*pp)->next;
    }
    *pp = g->next;
    g->stopping = true;
    rtmp_event_del_timer(&g->idle);
    g->nprocs++; // held while stopping, so the last rtmp_exec_free cannot free it under us
    for (rtmp_exec_proc_t *p = rtmp_exec_procs, *next; p; p = next) {
        next = p->next;
        if (p->group == g) {
            rtmp_exec_stop(p);
        }
    }
    if (--g->nprocs == 0) {
        rtmp_free(g);
    }
}

static rtmp_exec_group_t *rtmp_exec_group_start(rtmp_exec_kind kind, rtmp_conf_app_t *app,
                                                std::string_view name, const rtmp_exec_var_t *vars,
                                                size_t nvars)
{
    rtmp_exec_app_conf_t *ecf = rtmp_exec_app_conf(app);
    const rtmp_exec_cmds_t *cmds = &ecf->cmds[(size_t)kind];
    auto *g = static_cast<rtmp_exec_group_t *>(rtmp_calloc(sizeof(rtmp_exec_group_t)));
    g->kind = kind;
    g->app = app;
    snprintf(g->name, sizeof(g->name), "%.*s", (int)name.size(), name.data());
    g->idle.data = g;
    g->idle.log = rtmp_cycle->log;
    g->next = rtmp_exec_groups;
    rtmp_exec_groups = g;
    char label[RTMP_MAX_NAME * 2 + 2];
    int n = snprintf(label, sizeof(label), "%s/%s", app->name.data, g->name);
    for (rtmp_int_t i = 0; i < cmds->n; i++) {
        rtmp_exec_proc_t *p = rtmp_exec_create(ecf, &cmds->cmd[i], rtmp_exec_names[(size_t)kind],
                                               std::string_view(label, (size_t)n), vars, nvars);
        if (p == nullptr) {
            continue;
        }
        p->group = g;
        g->nprocs++;
        if (rtmp_exec_spawn(p) != RTMP_OK) {
            rtmp_exec_restart(p);
        }
    }
    return g;
}

// ---- one-shot commands ----------------------------------------------------------------------

void rtmp_exec_run(rtmp_conf_app_t *app, const rtmp_exec_cmds_t *cmds, const char *what,
                   std::string_view label, const rtmp_exec_var_t *vars, size_t nvars)
{
    rtmp_exec_app_conf_t *ecf = rtmp_exec_app_conf(app);
    for (rtmp_int_t i = 0; i < cmds->n; i++) {
        rtmp_exec_proc_t *p = rtmp_exec_create(ecf, &cmds->cmd[i], what, label, vars, nvars);
        if (p == nullptr) {
            continue;
        }
        if (rtmp_exec_spawn(p) != RTMP_OK) {
            rtmp_exec_free(p);
            continue;
        }
        if (ecf->timeout) {
            p->timer.handler = rtmp_exec_timeout_handler;
            rtmp_event_add_timer(&p->timer, ecf->timeout);
        }
    }
}

void rtmp_exec_stream_vars(rtmp_session_t *s, rtmp_stream_t *st, rtmp_exec_var_t *vars, char *addr)
{
    // addr_text carries the port ("1.2.3.4:5", "[::1]:5"): the variable is the address
    std::string_view t = s->c->addr_text;
    int family = s->c->sockaddr.ss_family;
    if (family == AF_INET || family == AF_INET6) {
        t = t.substr(0, t.rfind(':'));
        if (t.size() >= 2 && t.front() == '[') {
            t = t.substr(1, t.size() - 2);
        }
    }
    snprintf(addr, 64, "%.*s", (int)t.size(), t.data());
    vars[0] = {"app", s->app->name.sv()};
    vars[1] = {"name", st->name};
    vars[2] = {"addr", addr};
    vars[3] = {"args", st->args};
    vars[4] = {"flashver", s->flashver.sv()};
    vars[5] = {"tcurl", s->tc_url.sv()};
}

static void rtmp_exec_oneshot(rtmp_session_t *s, rtmp_stream_t *st, rtmp_exec_kind kind)
{
    const rtmp_exec_cmds_t *cmds = &rtmp_exec_app_conf(s->app)->cmds[(size_t)kind];
    if (cmds->n <= 0) {
        return;
    }
    rtmp_exec_var_t vars[RTMP_EXEC_STREAM_VARS];
    char addr[64], label[RTMP_MAX_NAME * 2 + 2];
    rtmp_exec_stream_vars(s, st, vars, addr);
    int n = snprintf(label, sizeof(label), "%s/%s", s->app->name.data, st->name);
    rtmp_exec_run(s->app, cmds, rtmp_exec_names[(size_t)kind], std::string_view(label, (size_t)n),
                  vars, RTMP_EXEC_STREAM_VARS);
}

// A recorder closed a file: exec_record_done with the file's path, size and why it ended.
static void rtmp_exec_record_done(const rtmp_record_done_t *rd)
{
    const rtmp_exec_cmds_t *cmds = &rtmp_exec_app_conf(rd->s->app)->record_done;
    // a file that was never made is nobody's to move or archive (on_record_done still
    // reports the error)
    if (cmds->n > 0 && !rd->no_file) {
        rtmp_exec_var_t vars[RTMP_EXEC_RECORD_VARS];
        char addr[64], label[RTMP_MAX_NAME * 2 + 2], duration[32], size[24];
        rtmp_exec_stream_vars(rd->s, rd->st, vars, addr);
        int dn = snprintf(duration, sizeof(duration), "%.3f", rd->duration);
        int sn = snprintf(size, sizeof(size), "%llu", (unsigned long long)rd->size);
        const std::string_view values[] = {rd->path, rd->recorder,
                                           std::string_view(duration, (size_t)dn),
                                           std::string_view(size, (size_t)sn), rd->reason};
        for (size_t i = RTMP_EXEC_STREAM_VARS; i < RTMP_EXEC_RECORD_VARS; i++) {
            vars[i] = {rtmp_exec_record_var_names[i], values[i - RTMP_EXEC_STREAM_VARS]};
        }
        int n = snprintf(label, sizeof(label), "%.*s/%.*s", (int)rd->app.size(), rd->app.data(),
                         (int)rd->name.size(), rd->name.data());
        rtmp_exec_run(rd->s->app, cmds, "exec_record_done", std::string_view(label, (size_t)n),
                      vars, RTMP_EXEC_RECORD_VARS);
    }
    rtmp_exec_next_record_done(rd);
}

// ---- stream events --------------------------------------------------------------------------

// Pulls between our own workers arrive on unix sockets: not clients, no one-shot commands.
static bool rtmp_exec_internal(rtmp_session_t *s)
{
    int family = s->c->sockaddr.ss_family;
    return family != AF_INET && family != AF_INET6;
}

static rtmp_int_t rtmp_exec_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_exec_next_publish(s, st);
    if (rc != RTMP_OK || !rtmp_relay_local_source(s) ||
        st->state != rtmp_stream_state::publishing || !st->live) {
        return rc;
    }
    rtmp_exec_app_conf_t *ecf = rtmp_exec_app_conf(s->app);
    // a publisher taking over a stream keeps the commands of the one before
    if (ecf->cmds[(size_t)rtmp_exec_kind::push].n > 0 &&
        !rtmp_exec_group_find(rtmp_exec_kind::push, s->app, st->name)) {
        rtmp_exec_var_t vars[RTMP_EXEC_STREAM_VARS];
        char addr[64];
        rtmp_exec_stream_vars(s, st, vars, addr);
        (void)rtmp_exec_group_start(rtmp_exec_kind::push, s->app, st->name, vars,
                                    RTMP_EXEC_STREAM_VARS);
    }
    rtmp_exec_oneshot(s, st, rtmp_exec_kind::publish);
    return rc;
}

static void rtmp_exec_pull_idle(rtmp_event_t *ev)
{
    auto *g = static_cast<rtmp_exec_group_t *>(ev->data);
    ev->timedout = 0;
    rtmp_log_error(RTMP_LOG_INFO, rtmp_cycle->log, 0,
                   "exec_pull \"%s/%s\": no players for %llums, stopping", g->app->name.data,
                   g->name, (unsigned long long)rtmp_exec_app_conf(g->app)->pull_idle);
    rtmp_exec_group_stop(g);
}

// Whether an exec_pull of app/name is on its way out here: its publisher, going too, does
// not count as one (a new pull starts; restarted with back-off until the old one is gone).
static bool rtmp_exec_pull_stopping(rtmp_conf_app_t *app, std::string_view name)
{
    for (rtmp_exec_proc_t *p = rtmp_exec_procs; p; p = p->next) {
        rtmp_exec_group_t *g = p->group;
        if (g && g->stopping && g->kind == rtmp_exec_kind::pull && g->app == app &&
            name == g->name && p->pid) {
            return true;
        }
    }
    return false;
}

static rtmp_int_t rtmp_exec_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_int_t rc = rtmp_exec_next_play(s, st);
    if (rc != RTMP_OK || s->relay || st->state != rtmp_stream_state::playing || !st->live) {
        return rc;
    }
    bool internal = rtmp_exec_internal(s);
    rtmp_exec_group_t *g = rtmp_exec_group_find(rtmp_exec_kind::pull, s->app, st->name);
    if (g == nullptr && !internal &&
        rtmp_exec_app_conf(s->app)->cmds[(size_t)rtmp_exec_kind::pull].n > 0 &&
        !rtmp_pull_has_origins(s->app) &&
        (!rtmp_live_has_publisher(s->app, st->name) || rtmp_exec_pull_stopping(s->app, st->name))) {
        rtmp_exec_var_t vars[RTMP_EXEC_STREAM_VARS];
        char addr[64];
        rtmp_exec_stream_vars(s, st, vars, addr);
        g = rtmp_exec_group_start(rtmp_exec_kind::pull, s->app, st->name, vars,
                                  RTMP_EXEC_STREAM_VARS);
    }
    if (g) {
        // other workers' players pull from here as internal sessions: they count too
        g->nplayers++;
        rtmp_event_del_timer(&g->idle);
        st->ctx[rtmp_exec_module.index] = g;
    }
    if (!internal) {
        rtmp_exec_oneshot(s, st, rtmp_exec_kind::play);
    }
    return rc;
}

static void rtmp_exec_close_stream(rtmp_session_t *s, rtmp_stream_t *st)
{
    if (rtmp_relay_local_source(s) && st->live) {
        if (st->state == rtmp_stream_state::publishing) {
            rtmp_exec_group_t *g = rtmp_exec_group_find(rtmp_exec_kind::push, s->app, st->name);
            if (g) {
                rtmp_exec_group_stop(g);
            }
            rtmp_exec_oneshot(s, st, rtmp_exec_kind::publish_done);
        } else if (st->state == rtmp_stream_state::playing) {
            auto *g = static_cast<rtmp_exec_group_t *>(st->ctx[rtmp_exec_module.index]);
            if (g && --g->nplayers == 0 && !g->stopping) {
                g->idle.handler = rtmp_exec_pull_idle;
                rtmp_event_add_timer(&g->idle, rtmp_exec_app_conf(g->app)->pull_idle);
            }
            if (!rtmp_exec_internal(s)) {
                rtmp_exec_oneshot(s, st, rtmp_exec_kind::play_done);
            }
        }
    }
    st->ctx[rtmp_exec_module.index] = nullptr;
    rtmp_exec_next_close_stream(s, st);
}

static void rtmp_exec_postconfiguration()
{
    rtmp_exec_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_exec_publish;
    rtmp_exec_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_exec_play;
    rtmp_exec_next_close_stream = rtmp_close_stream_handler;
    rtmp_close_stream_handler = rtmp_exec_close_stream;
    rtmp_exec_next_record_done = rtmp_record_done_handler;
    rtmp_record_done_handler = rtmp_exec_record_done;
}

static void rtmp_exec_exit_wait_handler(rtmp_event_t *ev)
{
    auto *p = static_cast<rtmp_exec_proc_t *>(ev->data);
    ev->timedout = 0;
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                   "%s \"%s\": pid %d still running as its worker exits", p->what, p->label,
                   (int)p->pid);
    rtmp_exec_stop(p);
}

// The worker is leaving. Supervised commands get their kill signal and grace time (shorter
// when the worker was told to terminate), then SIGKILL. One-shot commands are mostly the
// _done hooks of the sessions that just ended, which archive recordings or mark streams
// offline: the worker lets them finish, for RTMP_EXEC_EXIT_WAIT at most (half a second
// when told to terminate; their exec_timeout, if sooner), before stopping them the same
// way. All are reaped before it exits.
static void rtmp_exec_exit_worker(rtmp_cycle_t *)
{
    while (rtmp_exec_groups) {
        rtmp_exec_group_stop(rtmp_exec_groups);
    }
    bool hurry = rtmp_sig_terminate;
    rtmp_msec_t oneshot = hurry ? RTMP_EXEC_TERMINATE_ONESHOT_WAIT : RTMP_EXEC_EXIT_WAIT;
    rtmp_msec_t wait = 0;
    for (rtmp_exec_proc_t *p = rtmp_exec_procs, *next; p; p = next) {
        next = p->next;
        if (p->pid && p->ecf->kill_timeout > wait) {
            wait = p->ecf->kill_timeout;
        }
        if (p->group == nullptr && p->pid && !p->stopping) {
            if (!p->timer.timer_set || p->timer.timer_key > rtmp_current_msec + oneshot) {
                rtmp_event_del_timer(&p->timer);
                p->timer.handler = rtmp_exec_exit_wait_handler;
                rtmp_event_add_timer(&p->timer, oneshot);
            }
            continue;
        }
        rtmp_exec_stop(p); // frees p alone, when it is not running
    }
    if (hurry && wait > RTMP_EXEC_TERMINATE_WAIT) {
        wait = RTMP_EXEC_TERMINATE_WAIT;
    }
    rtmp_msec_t deadline = rtmp_current_msec + wait + oneshot;
    while (rtmp_exec_nrunning && rtmp_current_msec < deadline) {
        (void)poll(nullptr, 0, 20);
        rtmp_time_update();
        rtmp_exec_reap();
        // the loop's timers no longer run: each command's own are kept here
        for (rtmp_exec_proc_t *p = rtmp_exec_procs; p; p = p->next) {
            if (p->pid && p->timer.timer_set && p->timer.timer_key <= rtmp_current_msec) {
                rtmp_event_del_timer(&p->timer);
                p->timer.handler(&p->timer);
            }
        }
    }
    for (rtmp_exec_proc_t *p = rtmp_exec_procs; p; p = p->next) {
        if (p->pid && kill(-p->pid, SIGKILL) == -1) {
            (void)kill(p->pid, SIGKILL);
        }
    }
    while (rtmp_exec_procs) {
        rtmp_exec_proc_t *p = rtmp_exec_procs;
        int status = 0;
        if (p->pid == 0) {
            rtmp_exec_free(p);
        } else if (waitpid(p->pid, &status, 0) == p->pid || errno != EINTR) {
            rtmp_exec_reaped(p, status);
        }
    }
}

rtmp_module_t rtmp_exec_module = {
    .name = "exec",
    .index = 0,
    .directives = rtmp_exec_directives,
    .create_main_conf = rtmp_exec_create_main_conf,
    .init_main_conf = rtmp_exec_init_main_conf,
    .create_app_conf = rtmp_exec_create_app_conf,
    .merge_app_conf = rtmp_exec_merge_app_conf,
    .postconfiguration = rtmp_exec_postconfiguration,
    .exit_worker = rtmp_exec_exit_worker,
};
