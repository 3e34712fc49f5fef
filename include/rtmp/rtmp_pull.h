// Pull: streams fetched from remote origins when a player asks (on demand) or always (static).
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_session.h"

typedef struct rtmp_pull_s rtmp_pull_t;

extern rtmp_module_t rtmp_pull_module;

// Whether the application pulls from origins (then they, not exec_pull, fetch streams).
bool rtmp_pull_has_origins(rtmp_conf_app_t *app);

// Where a pull stands among its origins: tried in the configured order, the next one at
// once when one fails, and a back-off only when a whole round failed or a pull that
// played dropped. I/O-free, so the order and the waits are unit-tested.
struct rtmp_pull_failover_t {
    size_t origin;       // the origin to connect to next
    size_t failed;       // origins that failed in a row in this round
    rtmp_msec_t backoff; // the next back-off; 0: RTMP_PULL_BACKOFF_MIN
    bool exhausted;      // the last step ended a round with every origin failed
};

// The first back-off; each one after doubles, up to pull_reconnect_max.
constexpr rtmp_msec_t RTMP_PULL_BACKOFF_MIN = 1000;

// The connection to f->origin ended, after playing (played) or before; moves f on and
// returns how long to wait before connecting to f->origin: 0 for the next origin of a
// round, else the back-off plus up to a quarter of it from `rnd` (jitter).
rtmp_msec_t rtmp_pull_failover_next(rtmp_pull_failover_t *f, size_t norigins, bool played,
                                    rtmp_msec_t max, uint32_t rnd);

// The origin answered Play.Start: the next failure starts afresh.
inline void rtmp_pull_failover_reset(rtmp_pull_failover_t *f)
{
    f->failed = 0;
    f->backoff = 0;
    f->exhausted = false;
}

// One `pull_static` entry: "NAME" or "NAME?ARGS" (the args feed ${args.KEY} in the
// origins' URLs); nullptr when it is good, else what it must be.
[[nodiscard]] const char *rtmp_pull_parse_static(std::string_view entry, std::string_view *name,
                                                 std::string_view *args);

// From the relay session pulling for p: playing (the origin answered Play.Start), failed
// (why, before the session closes).
void rtmp_pull_playing(rtmp_pull_t *p);
void rtmp_pull_failed(rtmp_pull_t *p, const char *why);
// Its session closes for `why`: the failure's reason, unless it was playing or a more
// precise one was given.
void rtmp_pull_closing(rtmp_pull_t *p, const char *why);

// The registry has news of app/name: the answer to this worker's claim, or another
// worker publishing or claiming it.
void rtmp_pull_registered(rtmp_conf_app_t *app, std::string_view name);

// Players of app/name here lost what fed them (the worker that published or pulled it
// ended it, or died): if its application pulls from origins, a pull starts for them, as
// for a player arriving now.
void rtmp_pull_adopt(rtmp_conf_app_t *app, std::string_view name);

// Whether p pulls from u the stream `names` names (the application and the stream name,
// the query left out), at the same address and port.
bool rtmp_pull_is_origin(const rtmp_pull_t *p, const rtmp_push_url_t *u,
                         const rtmp_push_names_t *names);
