// The cycle: everything one configuration produced (confs, listeners, log).
#pragma once

#include "core/rtmp_conf.h"
#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_pool.h"

#include <sys/socket.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef void (*rtmp_connection_handler_pt)(rtmp_connection_t *c);

struct rtmp_listening_s {
    int fd;
    struct sockaddr_storage sockaddr;
    socklen_t socklen;
    char addr_text[80]; // "127.0.0.1:1935", "[::1]:1935"
    int backlog;
    rtmp_conf_srv_t *server;            // the rtmp server block; nullptr for other protocols
    rtmp_connection_handler_pt handler; // the protocol's: takes each accepted connection
    const char *scheme;                 // "rtmp" or "http", for log lines
    const char *conf_file;              // where it is configured, for messages
    int conf_line;
    rtmp_connection_t *connection; // the worker's accept slot
    SSL_CTX *ssl_ctx;              // accepted connections speak TLS ("ssl" in listen)
    unsigned ipv6only : 1;
    unsigned inherited : 1; // taken over by a newer cycle: don't close
    unsigned paused : 1;    // accept paused after EMFILE or no free connections
    unsigned nodelay : 1;   // TCP_NODELAY is set, so every accepted socket has it too
    unsigned ssl : 1;       // "ssl" follows the address
};

// Settings of the core module: the top level of the file.
struct rtmp_core_conf_t {
    rtmp_int_t worker_processes; // 0 = auto
    rtmp_int_t worker_connections;
    rtmp_int_t worker_rlimit_nofile;
    rtmp_msec_t shutdown_timeout;
    rtmp_str_t pid;
    rtmp_str_t error_log;
    rtmp_int_t log_level;
    // whole-server limits over every worker (0: none); see rtmp/rtmp_limits.h
    rtmp_int_t max_connections;
    rtmp_int_t max_connections_per_ip;
    rtmp_int_t max_streams;
    // `user`: whom workers run as when the master is root (their exec commands too)
    bool user_set;
    uid_t uid;
    gid_t gid;
    char user[64];
};

// A warning from reading the configuration, logged again once the error_log is open.
typedef struct rtmp_conf_warning_s rtmp_conf_warning_t;
struct rtmp_conf_warning_s {
    rtmp_conf_warning_t *next;
    char text[];
};

struct rtmp_cycle_s {
    rtmp_pool_t *pool;
    rtmp_log_t *log;
    rtmp_log_t new_log; // the error_log this cycle opened
    rtmp_log_file_t log_file;

    void **main_conf; // per module
    rtmp_conf_srv_t **servers;
    size_t nservers;
    rtmp_listening_t *listening; // every protocol's listening sockets
    size_t nlistening;

    const char *conf_file;
    rtmp_conf_warning_t *warnings; // in reading order
};

extern rtmp_cycle_t *rtmp_cycle;
extern rtmp_module_t rtmp_core_module;

// Reads conf_file into a new cycle, taking over `old`'s matching listening sockets.
// On failure logs why (file:line for config errors) and returns nullptr; `old` is untouched.
[[nodiscard]] rtmp_cycle_t *rtmp_cycle_init(const char *conf_file, rtmp_cycle_t *old,
                                            rtmp_log_t *log);
void rtmp_cycle_destroy(rtmp_cycle_t *cycle);
// Gives the error_log to `user` (when set, and the server runs as root), so that workers
// running as that user can reopen it.
void rtmp_cycle_log_owner(rtmp_cycle_t *cycle);
// Closes the cycle's listening sockets but those a newer cycle took over: once the master
// holds no copy and its workers closed theirs, new clients are refused, not left queued.
void rtmp_cycle_close_listening(rtmp_cycle_t *cycle);

// Parses and checks the file without opening anything; on failure `error` says why.
// Free the result with rtmp_pool_destroy(cycle->pool).
[[nodiscard]] rtmp_cycle_t *rtmp_cycle_read(const char *conf_file, char *error, size_t len);

// Only parses and checks the file (for -t); on failure, `error` holds the reason.
[[nodiscard]] rtmp_int_t rtmp_cycle_test(const char *conf_file, char *error, size_t len);

rtmp_core_conf_t *rtmp_core_conf(rtmp_cycle_t *cycle);
rtmp_int_t rtmp_core_worker_count(const rtmp_core_conf_t *ccf);
