// Configuration: libconfig files read through per-module directive tables.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_pool.h"

#include <libconfig.h>

// Where a directive may appear. Server and application directives may also be
// written in an outer block, whose value the inner blocks inherit.
enum rtmp_conf_block : unsigned {
    RTMP_CONF_MAIN = 0x01, // top level
    RTMP_CONF_RTMP = 0x02, // rtmp = { ... }
    RTMP_CONF_SRV = 0x04,  // rtmp.server = ( { ... } )
    RTMP_CONF_APP = 0x08,  // server.application = ( { ... } )
    RTMP_CONF_HTTP = 0x10, // http = { ... }: written to the module's main conf
};

// Which of a module's structs a directive writes to.
enum class rtmp_conf_level : uint8_t { main, srv, app };

enum class rtmp_conf_type : uint8_t {
    flag,   // true/false or "on"/"off"              -> rtmp_int_t 0/1
    number, // integer                                 -> rtmp_int_t
    size,   // integer bytes or "4k", "16m", "1g"      -> rtmp_int_t
    msec,   // integer seconds or "500ms", "10s", "1m" -> rtmp_msec_t
    string, // string                                  -> rtmp_str_t
    custom, // the directive's own setter
};

constexpr rtmp_int_t RTMP_CONF_UNSET = -1;
constexpr rtmp_msec_t RTMP_CONF_UNSET_MSEC = (rtmp_msec_t)-1;

typedef struct rtmp_conf_s rtmp_conf_t;
typedef struct rtmp_directive_s rtmp_directive_t;

// Returns nullptr when the value was taken, else a message naming what was expected.
typedef const char *(*rtmp_conf_set_pt)(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                        config_setting_t *s, void *conf);

struct rtmp_directive_s {
    const char *name;
    unsigned blocks; // rtmp_conf_block mask
    rtmp_conf_level level;
    rtmp_conf_type type;
    size_t offset;
    int64_t min; // bounds for number, size and msec (msec in milliseconds)
    int64_t max;
    rtmp_conf_set_pt set; // for custom
};

struct rtmp_conf_app_s;
struct rtmp_conf_srv_s;

// One application block: its per-module confs.
typedef struct rtmp_conf_app_s {
    rtmp_str_t name;
    void **app_conf;
    struct rtmp_conf_srv_s *server;
    const char *file; // where the block starts, for messages
    int line;
} rtmp_conf_app_t;

// One server block: per-module server and application-default confs, and its applications.
typedef struct rtmp_conf_srv_s {
    void **srv_conf;
    void **app_conf;
    rtmp_conf_app_t **apps;
    size_t napps;
    size_t index;     // position in the file: names the server to other workers
    const char *file; // where the block starts, for messages
    int line;
} rtmp_conf_srv_t;

// State of one parse; lives as long as the parse.
struct rtmp_conf_s {
    rtmp_cycle_t *cycle;
    rtmp_pool_t *pool; // the cycle's pool: values outlive the parse
    config_t *config;
    char error[512]; // "file:line: message" once parsing failed
};

// Parses `path` into the cycle's per-module confs; on failure cf->error says why.
[[nodiscard]] rtmp_int_t rtmp_conf_parse(rtmp_conf_t *cf, const char *path);

// Formats an error for setting `s` into cf->error; returns RTMP_ERROR.
rtmp_int_t rtmp_conf_error(rtmp_conf_t *cf, config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Logs a warning about the configuration, "file:line: " and the message: at once (so -t
// shows it) and into the error_log once the cycle opened it (start and reload).
void rtmp_conf_warn(rtmp_conf_t *cf, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// Reads a setting as a string view (strings only); empty view if it is not one.
std::string_view rtmp_conf_string(config_setting_t *s);
// A flag's value, true or false or "on" or "off": 1 or 0, or -1 for anything else.
int rtmp_conf_flag(config_setting_t *s);
constexpr const char *RTMP_CONF_FLAG_EXPECTED = "true or false (or \"on\" or \"off\")";

#define rtmp_conf_merge_value(conf, prev, def)                                                     \
    do {                                                                                           \
        if ((conf) == RTMP_CONF_UNSET) {                                                           \
            (conf) = ((prev) == RTMP_CONF_UNSET) ? (def) : (prev);                                 \
        }                                                                                          \
    } while (0)

#define rtmp_conf_merge_msec(conf, prev, def)                                                      \
    do {                                                                                           \
        if ((conf) == RTMP_CONF_UNSET_MSEC) {                                                      \
            (conf) = ((prev) == RTMP_CONF_UNSET_MSEC) ? (def) : (prev);                            \
        }                                                                                          \
    } while (0)

#define rtmp_conf_merge_str(conf, prev, def)                                                       \
    do {                                                                                           \
        if ((conf).data == nullptr) {                                                              \
            (conf) = ((prev).data == nullptr) ? rtmp_string(def) : (prev);                         \
        }                                                                                          \
    } while (0)
