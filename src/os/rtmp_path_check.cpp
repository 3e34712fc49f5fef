// Whether the workers can write where the configuration tells them to.
#include "os/rtmp_path_check.h"
#include "core/rtmp_log.h"
#include "os/rtmp_cycle.h"
#include "os/rtmp_process.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

// Each directory once, though every application inheriting a setting names it again.
static bool rtmp_path_check_first_time(std::string_view path)
{
    static uint64_t seen[64];
    static size_t nseen;
    uint64_t h = 14695981039346656037ull; // FNV-1a
    for (char c : path) {
        h = (h ^ (u_char)c) * 1099511628211ull;
    }
    for (size_t i = 0; i < nseen; i++) {
        if (seen[i] == h) {
            return false;
        }
    }
    if (nseen < sizeof(seen) / sizeof(seen[0])) {
        seen[nseen++] = h;
    }
    return true;
}

void rtmp_path_check_dir(const char *file, int line, const char *what, std::string_view path)
{
    if (rtmp_worker_slot != 0 || path.empty() || path.size() >= PATH_MAX ||
        !rtmp_path_check_first_time(path)) {
        return;
    }
    char dir[PATH_MAX];
    memcpy(dir, path.data(), path.size());
    dir[path.size()] = '\0';
    // the nearest directory that is there: the rest is created below it
    struct stat sb;
    while (stat(dir, &sb) == -1) {
        char *slash = strrchr(dir, '/');
        if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0) {
            return; // nothing to judge by
        } else if (slash == nullptr) {
            snprintf(dir, sizeof(dir), ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
    const char *why = !S_ISDIR(sb.st_mode)             ? "not a directory"
                      : access(dir, W_OK | X_OK) == -1 ? strerror(errno)
                                                       : nullptr;
    if (why == nullptr) {
        return;
    }
    rtmp_core_conf_t *ccf = rtmp_core_conf(rtmp_cycle);
    char who[96] = "the workers";
    if (ccf->user_set) {
        snprintf(who, sizeof(who), "the workers (user \"%s\")", ccf->user);
    }
    rtmp_log_error(RTMP_LOG_WARN, rtmp_cycle->log, 0,
                   "%s:%d: %s \"%.*s\": %s cannot write in \"%s\": %s; its writes will fail", file,
                   line, what, (int)path.size(), path.data(), who, dir, why);
}

void rtmp_path_check_template(const char *file, int line, const char *what, std::string_view tmpl)
{
    std::string_view fixed = tmpl.substr(0, tmpl.find_first_of("$%"));
    size_t slash = fixed.rfind('/');
    rtmp_path_check_dir(file, line, what,
                        slash == std::string_view::npos ? "."
                        : slash == 0                    ? "/"
                                                        : fixed.substr(0, slash));
}
