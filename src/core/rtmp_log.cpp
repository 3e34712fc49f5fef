// Leveled logging: time, level and pid in each line, written in one call.
#include "core/rtmp_log.h"
#include "core/rtmp_text.h"
#include "core/rtmp_time.h"

#include <cstdarg>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

static rtmp_log_file_t rtmp_log_stderr_file = {STDERR_FILENO, nullptr};
rtmp_log_t rtmp_log_stderr_log = {RTMP_LOG_INFO, &rtmp_log_stderr_file, nullptr, nullptr};
int rtmp_log_pid;
int rtmp_log_worker = -1;

static constexpr const char *rtmp_log_levels[] = {"stderr", "emerg",  "alert", "crit", "error",
                                                  "warn",   "notice", "info",  "debug"};

rtmp_int_t rtmp_log_level_parse(std::string_view name)
{
    for (size_t i = 1; i < rtmp_nelems(rtmp_log_levels); i++) {
        if (name == rtmp_log_levels[i]) {
            return (rtmp_int_t)i;
        }
    }
    return RTMP_ERROR;
}

const char *rtmp_log_level_name(rtmp_uint_t level)
{
    return level < rtmp_nelems(rtmp_log_levels) ? rtmp_log_levels[level] : "?";
}

void rtmp_log_error_core(rtmp_uint_t level, rtmp_log_t *log, rtmp_err_t err, const char *fmt, ...)
{
    char line[2048];
    size_t max = sizeof(line) - 1; // room for the newline
    size_t n;

    if (rtmp_cached_time_sec == -1) {
        rtmp_time_update();
    }
    int r;
    if (rtmp_log_worker >= 0) {
        r = snprintf(line, max, "%s [%s] %d#%d: ", rtmp_cached_log_time, rtmp_log_level_name(level),
                     rtmp_log_pid, rtmp_log_worker);
    } else {
        r = snprintf(line, max, "%s [%s] %d: ", rtmp_cached_log_time, rtmp_log_level_name(level),
                     rtmp_log_pid);
    }
    n = r > 0 ? (size_t)r : 0;

    va_list args;
    va_start(args, fmt);
    r = vsnprintf(line + n, max - n, fmt, args);
    va_end(args);
    if (r > 0) {
        n += (size_t)r;
    }
    if (n > max) {
        n = max;
    }

    if (err && n < max) {
        r = snprintf(line + n, max - n, " (%d: %s)", err, strerror(err));
        n = r > 0 ? (n + (size_t)r > max ? max : n + (size_t)r) : n;
    }
    if (log->handler && n < max) {
        n += log->handler(log, line + n, max - n);
    }
    // names, URLs and flashVer come from clients: a newline or an escape sequence among
    // them must not forge a line or reach a terminal showing the log, and bytes that are
    // not UTF-8 must not make the file unreadable to tools that expect text
    for (size_t i = 0; i < n;) {
        size_t len = rtmp_utf8_len(std::string_view(line + i, n - i));
        if (len == 0 || rtmp_is_control((u_char)line[i])) {
            line[i] = '?';
            len = 1;
        }
        i += len;
    }
    line[n++] = '\n';

    int fd = log->file ? log->file->fd : STDERR_FILENO;
    if (write(fd, line, n) < 0) {
        // a failing log has nowhere to report to
    }
}

rtmp_int_t rtmp_log_file_open(rtmp_log_file_t *file, const char *path)
{
    if (path == nullptr || strcmp(path, "stderr") == 0) {
        file->fd = STDERR_FILENO;
        file->path = nullptr;
        return RTMP_OK;
    }
    file->path = path;
    file->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return file->fd == -1 ? RTMP_ERROR : RTMP_OK;
}

rtmp_int_t rtmp_log_file_reopen(rtmp_log_file_t *file)
{
    if (file->path == nullptr) {
        return RTMP_OK;
    }
    int fd = open(file->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        return RTMP_ERROR;
    }
    // keeping the descriptor number moves every log sharing it at once
    if (dup3(fd, file->fd, O_CLOEXEC) == -1) {
        close(fd);
        return RTMP_ERROR;
    }
    close(fd);
    return RTMP_OK;
}

void rtmp_log_file_close(rtmp_log_file_t *file)
{
    if (file->path && file->fd > STDERR_FILENO) {
        close(file->fd);
    }
    file->fd = -1;
}

bool rtmp_log_allow(rtmp_log_limit_t *l, uint32_t per_second, uint64_t *suppressed)
{
    uint64_t now = rtmp_current_msec / 1000;
    if (now != l->second) {
        l->second = now;
        l->n = 0;
    }
    if (l->n >= per_second) {
        l->suppressed++;
        return false;
    }
    l->n++;
    *suppressed = l->suppressed;
    l->suppressed = 0;
    return true;
}
