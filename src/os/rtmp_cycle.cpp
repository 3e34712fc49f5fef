// The cycle: parse a configuration, open its log and listening sockets, and the core directives.
#include "os/rtmp_cycle.h"
#include "core/rtmp_module.h"
#include "event/rtmp_connection.h"
#include "http/rtmp_http.h"
#include "rtmp/rtmp_server_module.h"

#include <arpa/inet.h>
#include <cstdio>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

rtmp_cycle_t *rtmp_cycle;

static void *rtmp_core_create_main_conf(rtmp_conf_t *cf)
{
    auto *ccf = rtmp_palloc<rtmp_core_conf_t>(cf->pool);
    ccf->worker_processes = RTMP_CONF_UNSET;
    ccf->worker_connections = RTMP_CONF_UNSET;
    ccf->worker_rlimit_nofile = RTMP_CONF_UNSET;
    ccf->shutdown_timeout = RTMP_CONF_UNSET_MSEC;
    ccf->log_level = RTMP_CONF_UNSET;
    ccf->max_connections = RTMP_CONF_UNSET;
    ccf->max_connections_per_ip = RTMP_CONF_UNSET;
    ccf->max_streams = RTMP_CONF_UNSET;
    return ccf;
}

static const char *rtmp_core_init_main_conf(rtmp_conf_t *, void *conf)
{
    auto *ccf = static_cast<rtmp_core_conf_t *>(conf);
    rtmp_conf_merge_value(ccf->worker_processes, RTMP_CONF_UNSET, 1);
    rtmp_conf_merge_value(ccf->worker_connections, RTMP_CONF_UNSET, 1024);
    rtmp_conf_merge_value(ccf->worker_rlimit_nofile, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_msec(ccf->shutdown_timeout, RTMP_CONF_UNSET_MSEC, 0);
    rtmp_conf_merge_value(ccf->log_level, RTMP_CONF_UNSET, (rtmp_int_t)RTMP_LOG_INFO);
    rtmp_conf_merge_value(ccf->max_connections, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_value(ccf->max_connections_per_ip, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_value(ccf->max_streams, RTMP_CONF_UNSET, 0);
    rtmp_conf_merge_str(ccf->pid, ccf->pid, "logs/rtmp_server.pid");
    rtmp_conf_merge_str(ccf->error_log, ccf->error_log, "stderr");
    return nullptr;
}

static const char *rtmp_core_set_workers(rtmp_conf_t *, const rtmp_directive_t *,
                                         config_setting_t *s, void *conf)
{
    auto *ccf = static_cast<rtmp_core_conf_t *>(conf);
    if (rtmp_conf_string(s) == "auto") {
        ccf->worker_processes = 0;
        return nullptr;
    }
    int v;
    if (config_setting_type(s) == CONFIG_TYPE_INT && (v = config_setting_get_int(s)) >= 1 &&
        v <= 256) {
        ccf->worker_processes = v;
        return nullptr;
    }
    return "an integer between 1 and 256, or \"auto\"";
}

static const char *rtmp_core_set_log_level(rtmp_conf_t *, const rtmp_directive_t *,
                                           config_setting_t *s, void *conf)
{
    rtmp_int_t level = rtmp_log_level_parse(rtmp_conf_string(s));
    if (level == RTMP_ERROR) {
        return "one of \"emerg\", \"alert\", \"crit\", \"error\", \"warn\", \"notice\", "
               "\"info\", \"debug\"";
    }
    static_cast<rtmp_core_conf_t *>(conf)->log_level = level;
    return nullptr;
}

// "user" or "user group", as nginx's: looked up now, so -t names one that does not exist.
static const char *rtmp_core_set_user(rtmp_conf_t *cf, const rtmp_directive_t *,
                                      config_setting_t *s, void *conf)
{
    auto *ccf = static_cast<rtmp_core_conf_t *>(conf);
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return "a string: \"user\" or \"user group\"";
    }
    char text[160];
    snprintf(text, sizeof(text), "%s", config_setting_get_string(s));
    char *save = nullptr;
    const char *name = strtok_r(text, " \t", &save);
    const char *group = strtok_r(nullptr, " \t", &save);
    if (name == nullptr || strtok_r(nullptr, " \t", &save) != nullptr ||
        strlen(name) >= sizeof(ccf->user)) {
        return "\"user\" or \"user group\"";
    }
    struct passwd *pw = getpwnam(name);
    if (pw == nullptr) {
        rtmp_conf_error(cf, s, "user: no user \"%s\" on this system", name);
        return "";
    }
    ccf->uid = pw->pw_uid;
    ccf->gid = pw->pw_gid;
    if (group) {
        struct group *gr = getgrnam(group);
        if (gr == nullptr) {
            rtmp_conf_error(cf, s, "user: no group \"%s\" on this system", group);
            return "";
        }
        ccf->gid = gr->gr_gid;
    }
    snprintf(ccf->user, sizeof(ccf->user), "%s", name);
    ccf->user_set = true;
    return nullptr;
}

#define CORE_OFF(field) offsetof(rtmp_core_conf_t, field)

static const rtmp_directive_t rtmp_core_directives[] = {
    {"worker_processes", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::custom,
     CORE_OFF(worker_processes), 0, 0, rtmp_core_set_workers},
    {"worker_connections", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     CORE_OFF(worker_connections), 16, 1 << 20, nullptr},
    {"worker_rlimit_nofile", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     CORE_OFF(worker_rlimit_nofile), 64, 1 << 22, nullptr},
    {"shutdown_timeout", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::msec,
     CORE_OFF(shutdown_timeout), 0, 86400000, nullptr},
    {"pid", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::string, CORE_OFF(pid), 0, 0,
     nullptr},
    {"error_log", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::string,
     CORE_OFF(error_log), 0, 0, nullptr},
    {"log_level", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::custom,
     CORE_OFF(log_level), 0, 0, rtmp_core_set_log_level},
    {"max_connections", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     CORE_OFF(max_connections), 0, 1 << 30, nullptr},
    {"max_connections_per_ip", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     CORE_OFF(max_connections_per_ip), 0, 1 << 30, nullptr},
    {"max_streams", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::number,
     CORE_OFF(max_streams), 0, 1 << 30, nullptr},
    {"user", RTMP_CONF_MAIN, rtmp_conf_level::main, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_core_set_user},
    {nullptr, 0, rtmp_conf_level::main, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

rtmp_module_t rtmp_core_module = {
    .name = "core",
    .index = 0,
    .directives = rtmp_core_directives,
    .create_main_conf = rtmp_core_create_main_conf,
    .init_main_conf = rtmp_core_init_main_conf,
};

rtmp_core_conf_t *rtmp_core_conf(rtmp_cycle_t *cycle)
{
    return static_cast<rtmp_core_conf_t *>(cycle->main_conf[rtmp_core_module.index]);
}

rtmp_int_t rtmp_core_worker_count(const rtmp_core_conf_t *ccf)
{
    if (ccf->worker_processes > 0) {
        return ccf->worker_processes;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

// ---- listening sockets ---------------------------------------------------------------

static bool rtmp_sockaddr_equal(const rtmp_listening_t *a, const rtmp_listening_t *b)
{
    return a->socklen == b->socklen && memcmp(&a->sockaddr, &b->sockaddr, a->socklen) == 0;
}

// A wildcard and an address of the same family and port: the second bind() fails.
static bool rtmp_sockaddr_overlap(const rtmp_listening_t *a, const rtmp_listening_t *b)
{
    if (a->sockaddr.ss_family != b->sockaddr.ss_family) {
        return false; // IPv6 listeners are IPV6_V6ONLY
    }
    if (a->sockaddr.ss_family == AF_INET) {
        auto *x = reinterpret_cast<const struct sockaddr_in *>(&a->sockaddr);
        auto *y = reinterpret_cast<const struct sockaddr_in *>(&b->sockaddr);
        return x->sin_port == y->sin_port &&
               (x->sin_addr.s_addr == htonl(INADDR_ANY) || y->sin_addr.s_addr == htonl(INADDR_ANY));
    }
    if (a->sockaddr.ss_family == AF_INET6) {
        auto *x = reinterpret_cast<const struct sockaddr_in6 *>(&a->sockaddr);
        auto *y = reinterpret_cast<const struct sockaddr_in6 *>(&b->sockaddr);
        return x->sin6_port == y->sin6_port &&
               (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
    }
    return false;
}

static rtmp_int_t rtmp_listening_open(rtmp_listening_t *ls, rtmp_log_t *log)
{
    const struct sockaddr *sa = reinterpret_cast<const struct sockaddr *>(&ls->sockaddr);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "socket() for %s failed", ls->addr_text);
        return RTMP_ERROR;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (sa->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    // Set on the listener, both are inherited by every accepted socket, which saves two
    // system calls per connection (1,000 players joining at once).
    //
    // RTMP sessions start with the setup TCP_NOTSENT_LOWAT, HTTP with the live one
    // (rtmp_connection.h). 64 KB against 256 KB, live: with 10% slow readers the server's
    // CPU per GB rose 6% instead of 18% and kernel TCP memory 17% instead of 88%. 16 KB
    // while joining: a player that leaves right after it costs 108 KB of the GOP burst
    // on the wire, not 129 KB (server CPU per session about -10%); 32 KB live cost the slow
    // readers' healthy players up to 14% in p99 latency.
    int lowat = ls->server ? RTMP_NOTSENT_LOWAT_SETUP : RTMP_NOTSENT_LOWAT_LIVE;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    // The setup exchange goes without Nagle, which would hold each small reply until
    // the previous one is acknowledged: a client that has just sent a command delays
    // that acknowledgement up to 40 ms (play to first media p50 45 ms against 8 ms).
    // Players go back to Nagle once joined (rtmp_connection_live).
    ls->nodelay = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0;
    if (bind(fd, sa, ls->socklen) == -1 || listen(fd, ls->backlog) == -1) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "bind() or listen() to %s failed",
                       ls->addr_text);
        close(fd);
        return RTMP_ERROR;
    }
    ls->fd = fd;
    return RTMP_OK;
}

// Gathers every protocol's listen addresses: the rtmp servers', then the http block's.
// One address belongs to one block.
static rtmp_int_t rtmp_cycle_collect_listening(rtmp_cycle_t *cycle, char *error, size_t len)
{
    size_t nhttp;
    const rtmp_listening_t *http = rtmp_http_listening(cycle, &nhttp);
    size_t n = nhttp;
    for (size_t i = 0; i < cycle->nservers; i++) {
        n += rtmp_server_conf(cycle->servers[i])->nlisten;
    }
    cycle->listening = rtmp_palloc<rtmp_listening_t>(cycle->pool, n);
    for (size_t i = 0; i <= cycle->nservers; i++) {
        rtmp_conf_srv_t *srv = i < cycle->nservers ? cycle->servers[i] : nullptr;
        const rtmp_listening_t *from = srv ? rtmp_server_conf(srv)->listen : http;
        size_t count = srv ? rtmp_server_conf(srv)->nlisten : nhttp;
        for (size_t k = 0; k < count; k++) {
            rtmp_listening_t *ls = &cycle->listening[cycle->nlistening];
            *ls = from[k];
            ls->fd = -1;
            ls->server = srv;
            for (size_t j = 0; j < cycle->nlistening; j++) {
                const rtmp_listening_t *other = &cycle->listening[j];
                if (rtmp_sockaddr_equal(other, ls)) {
                    snprintf(error, len, "%s:%d: duplicate listen %s", ls->conf_file, ls->conf_line,
                             ls->addr_text);
                    return RTMP_ERROR;
                }
                if (rtmp_sockaddr_overlap(other, ls)) {
                    snprintf(error, len,
                             "%s:%d: listen %s overlaps listen %s (%s:%d): the wildcard takes "
                             "the port on every address, so keep one of them",
                             ls->conf_file, ls->conf_line, ls->addr_text, other->addr_text,
                             other->conf_file, other->conf_line);
                    return RTMP_ERROR;
                }
            }
            cycle->nlistening++;
        }
    }
    if (n == 0) {
        snprintf(error, len, "%s: no server listens: add rtmp = { server = ( { listen = ... } ) }",
                 cycle->conf_file);
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

// Undoes a failed open: closes the sockets this cycle opened, not those it shares with old.
static void rtmp_cycle_close_opened(rtmp_cycle_t *cycle, rtmp_cycle_t *old)
{
    for (size_t i = 0; i < cycle->nlistening; i++) {
        rtmp_listening_t *ls = &cycle->listening[i];
        bool shared = false;
        for (size_t j = 0; old && j < old->nlistening; j++) {
            shared = shared || old->listening[j].fd == ls->fd;
        }
        if (ls->fd != -1 && !shared) {
            close(ls->fd);
        }
        ls->fd = -1;
    }
}

static rtmp_int_t rtmp_cycle_open_listening(rtmp_cycle_t *cycle, rtmp_cycle_t *old)
{
    for (size_t i = 0; i < cycle->nlistening; i++) {
        rtmp_listening_t *ls = &cycle->listening[i];
        for (size_t j = 0; old && j < old->nlistening; j++) {
            rtmp_listening_t *ols = &old->listening[j];
            if (ols->fd != -1 && !ols->inherited && rtmp_sockaddr_equal(ls, ols)) {
                ls->fd = ols->fd;
                ls->nodelay = ols->nodelay;
                break;
            }
        }
        if (ls->fd == -1 && rtmp_listening_open(ls, cycle->log) != RTMP_OK) {
            rtmp_cycle_close_opened(cycle, old);
            return RTMP_ERROR;
        }
    }
    // only now that nothing can fail: the old cycle must not close what we took
    for (size_t i = 0; i < cycle->nlistening; i++) {
        for (size_t j = 0; old && j < old->nlistening; j++) {
            if (old->listening[j].fd == cycle->listening[i].fd) {
                old->listening[j].inherited = 1;
            }
        }
    }
    return RTMP_OK;
}

void rtmp_cycle_close_listening(rtmp_cycle_t *cycle)
{
    for (size_t i = 0; i < cycle->nlistening; i++) {
        rtmp_listening_t *ls = &cycle->listening[i];
        if (ls->fd != -1 && !ls->inherited) {
            close(ls->fd);
        }
        ls->fd = -1;
    }
}

// ---- cycle ------------------------------------------------------------------------------

rtmp_cycle_t *rtmp_cycle_read(const char *conf_file, char *error, size_t len)
{
    rtmp_pool_t *pool = rtmp_pool_create(16384, &rtmp_log_stderr_log);
    auto *cycle = rtmp_palloc<rtmp_cycle_t>(pool);
    cycle->pool = pool;
    cycle->conf_file = reinterpret_cast<const char *>(rtmp_pstrdup(pool, conf_file));
    cycle->log = &rtmp_log_stderr_log;
    cycle->log_file.fd = -1;

    auto *cf = rtmp_palloc<rtmp_conf_t>(pool);
    cf->cycle = cycle;
    cf->pool = pool;
    if (rtmp_conf_parse(cf, conf_file) != RTMP_OK) {
        snprintf(error, len, "%s", cf->error);
        rtmp_pool_destroy(pool);
        return nullptr;
    }
    if (rtmp_cycle_collect_listening(cycle, error, len) != RTMP_OK) {
        rtmp_pool_destroy(pool);
        return nullptr;
    }
    return cycle;
}

// nginx's answer to a missing log directory is the errno alone; this says what to do.
static const char *rtmp_cycle_missing_dir_hint(int err)
{
    return err == ENOENT ? " (its directory does not exist: create it first)" : "";
}

// Whether the file at path could be opened for writing as a start opens it: an existing one
// is opened without being changed, a missing one is created and removed again, so a test
// leaves nothing behind; a directory, or a place like /proc, fails as the start would.
static int rtmp_cycle_probe_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
    bool created = false;
    if (fd == -1 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0644);
        created = fd != -1;
    }
    if (fd == -1) {
        return -1;
    }
    close(fd);
    if (created) {
        (void)unlink(path);
    }
    return 0;
}

// What a start would fail on besides the file itself: the log and the pid file.
static rtmp_int_t rtmp_cycle_test_paths(rtmp_cycle_t *cycle, char *error, size_t len)
{
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    const char *log = reinterpret_cast<const char *>(ccf->error_log.data);
    if (strcmp(log, "stderr") != 0 && rtmp_cycle_probe_write(log) == -1) {
        snprintf(error, len, "cannot open error_log \"%s\": %s%s", log, strerror(errno),
                 rtmp_cycle_missing_dir_hint(errno));
        return RTMP_ERROR;
    }
    const char *pid = reinterpret_cast<const char *>(ccf->pid.data);
    if (rtmp_cycle_probe_write(pid) == -1) {
        snprintf(error, len, "cannot write the pid file \"%s\": %s", pid, strerror(errno));
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

rtmp_int_t rtmp_cycle_test(const char *conf_file, char *error, size_t len)
{
    rtmp_cycle_t *cycle = rtmp_cycle_read(conf_file, error, len);
    if (cycle == nullptr) {
        return RTMP_ERROR;
    }
    rtmp_int_t rc = rtmp_cycle_test_paths(cycle, error, len);
    rtmp_pool_destroy(cycle->pool);
    return rc;
}

void rtmp_cycle_log_owner(rtmp_cycle_t *cycle)
{
    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    if (!ccf->user_set || cycle->log_file.path == nullptr) {
        return;
    }
    if (geteuid() != 0) {
        rtmp_log_error(RTMP_LOG_WARN, cycle->log, 0,
                       "user \"%s\" is not taken: the server does not run as root", ccf->user);
        return;
    }
    // workers reopen the log themselves at USR1, as that user; the group stays (a
    // logrotate-made file's adm group keeps reading it)
    if (fchown(cycle->log_file.fd, ccf->uid, (gid_t)-1) == -1) {
        rtmp_log_error(RTMP_LOG_WARN, cycle->log, errno,
                       "cannot give the error_log to user \"%s\"; a reopen in the workers "
                       "may fail",
                       ccf->user);
    }
}

rtmp_cycle_t *rtmp_cycle_init(const char *conf_file, rtmp_cycle_t *old, rtmp_log_t *log)
{
    char error[600];
    rtmp_cycle_t *cycle = rtmp_cycle_read(conf_file, error, sizeof(error));
    if (cycle == nullptr) {
        rtmp_log_error(RTMP_LOG_EMERG, log, 0, "%s", error);
        return nullptr;
    }
    cycle->log = log;

    rtmp_core_conf_t *ccf = rtmp_core_conf(cycle);
    const char *path = reinterpret_cast<const char *>(ccf->error_log.data);
    if (rtmp_log_file_open(&cycle->log_file, path) != RTMP_OK) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "cannot open error_log \"%s\"%s", path,
                       rtmp_cycle_missing_dir_hint(errno));
        rtmp_pool_destroy(cycle->pool);
        return nullptr;
    }
    cycle->new_log.level = (rtmp_uint_t)ccf->log_level;
    cycle->new_log.file = &cycle->log_file;
    rtmp_cycle_log_owner(cycle);

    if (rtmp_cycle_open_listening(cycle, old) != RTMP_OK) {
        rtmp_log_file_close(&cycle->log_file);
        rtmp_pool_destroy(cycle->pool);
        return nullptr;
    }
    cycle->log = &cycle->new_log;
    if (strcmp(path, "stderr") != 0) {
        for (rtmp_conf_warning_t *w = cycle->warnings; w; w = w->next) {
            rtmp_log_error(RTMP_LOG_WARN, cycle->log, 0, "%s", w->text);
        }
    }
    return cycle;
}

void rtmp_cycle_destroy(rtmp_cycle_t *cycle)
{
    rtmp_cycle_close_listening(cycle);
    rtmp_log_file_close(&cycle->log_file);
    rtmp_pool_destroy(cycle->pool);
}
