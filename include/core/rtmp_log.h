// Leveled logging to an error_log file or stderr, one write() per line.
#pragma once

#include "core/rtmp_core.h"

enum rtmp_log_level : rtmp_uint_t {
    RTMP_LOG_STDERR = 0,
    RTMP_LOG_EMERG = 1,
    RTMP_LOG_ALERT,
    RTMP_LOG_CRIT,
    RTMP_LOG_ERR,
    RTMP_LOG_WARN,
    RTMP_LOG_NOTICE,
    RTMP_LOG_INFO,
    RTMP_LOG_DEBUG,
};

// An open log target, shared by every log that writes there.
struct rtmp_log_file_t {
    int fd;
    const char *path; // nullptr: stderr
};

// Appends context (connection number, peer) to a line; returns bytes written.
typedef size_t (*rtmp_log_handler_pt)(rtmp_log_t *log, char *buf, size_t len);

struct rtmp_log_s {
    rtmp_uint_t level;
    rtmp_log_file_t *file;
    rtmp_log_handler_pt handler;
    void *data;
};

extern rtmp_log_t rtmp_log_stderr_log; // until the config names a log
extern int rtmp_log_pid;               // printed in every line
extern int rtmp_log_worker;            // worker slot printed after the pid; -1 in the master

void rtmp_log_error_core(rtmp_uint_t level, rtmp_log_t *log, rtmp_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define rtmp_log_error(lvl, lg, err, ...)                                                          \
    do {                                                                                           \
        if ((lg)->level >= (lvl)) {                                                                \
            rtmp_log_error_core(lvl, lg, err, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)

#ifdef RTMP_DEBUG
#define rtmp_log_debug(lg, ...) rtmp_log_error(RTMP_LOG_DEBUG, lg, 0, __VA_ARGS__)
#else
#define rtmp_log_debug(lg, ...)                                                                    \
    do {                                                                                           \
        if (0) {                                                                                   \
            rtmp_log_error_core(RTMP_LOG_DEBUG, lg, 0, __VA_ARGS__);                               \
        }                                                                                          \
    } while (0)
#endif

[[nodiscard]] rtmp_int_t rtmp_log_level_parse(std::string_view name);
const char *rtmp_log_level_name(rtmp_uint_t level);

// Opens `path` for appending ("stderr" means standard error); -1 fd on failure.
[[nodiscard]] rtmp_int_t rtmp_log_file_open(rtmp_log_file_t *file, const char *path);

// Reopens the file in place (after logrotate moved it); keeps the old fd on failure.
rtmp_int_t rtmp_log_file_reopen(rtmp_log_file_t *file);
void rtmp_log_file_close(rtmp_log_file_t *file);

// A bound on how often one kind of line is logged, for lines a peer can cause at will
// (refused connections): at most `per_second` a second, the rest counted.
struct rtmp_log_limit_t {
    uint64_t second;     // the second (of the monotonic clock) being counted
    uint32_t n;          // lines logged in it
    uint64_t suppressed; // lines left out since the last one logged
};

// Whether a line may be logged now; when it may, *suppressed is how many were left out
// before it (to say so in the line) and the count starts again.
[[nodiscard]] bool rtmp_log_allow(rtmp_log_limit_t *l, uint32_t per_second, uint64_t *suppressed);
