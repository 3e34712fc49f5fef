// The module list. Stream handlers chain in the reverse of this order: the live module
// answers the client last, the modules listed after it run before it.
#include "core/rtmp_module.h"
#include "hls/rtmp_hls.h"
#include "http/rtmp_http.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_access.h"
#include "rtmp/rtmp_exec.h"
#include "rtmp/rtmp_key.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_notify.h"
#include "rtmp/rtmp_pull.h"
#include "rtmp/rtmp_push.h"
#include "rtmp/rtmp_record.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_server_module.h"
#include "rtmp/rtmp_stat.h"
#include "rtmp/rtmp_vod.h"

rtmp_module_t *rtmp_modules[] = {
    &rtmp_core_module,
    &rtmp_server_module,
    &rtmp_http_module, // the HTTP listener: no stream handlers
    &rtmp_relay_module,
    &rtmp_live_module,
    &rtmp_hls_module,    // HLS segments: written once live accepted a publish
    &rtmp_pull_module,   // pulls from origins: started by a player, before live answers it
    &rtmp_vod_module,    // files: a play that names one is taken before a pull or live
    &rtmp_stat_module,   // counts what reaches live, snapshots streams for /stat
    &rtmp_push_module,   // pushes: started once live accepted a publish
    &rtmp_exec_module,   // commands: started once live accepted a publish or play
    &rtmp_record_module, // recorders: started once live accepted a publish
    &rtmp_notify_module, // HTTP callbacks: asked after access and keys, just before live
    &rtmp_key_module,    // stream keys: checked before live answers
    &rtmp_access_module, // client addresses: checked first
    nullptr,
};

const size_t rtmp_modules_n = rtmp_nelems(rtmp_modules) - 1;
static_assert(rtmp_nelems(rtmp_modules) - 1 <= RTMP_MAX_MODULES, "raise RTMP_MAX_MODULES");

void rtmp_modules_init()
{
    static bool done; // chains are built once: a second prepend would loop them
    if (done) {
        return;
    }
    done = true;
    for (size_t i = 0; rtmp_modules[i]; i++) {
        rtmp_modules[i]->index = i;
    }
    for (size_t i = 0; rtmp_modules[i]; i++) {
        if (rtmp_modules[i]->postconfiguration) {
            rtmp_modules[i]->postconfiguration();
        }
    }
}
