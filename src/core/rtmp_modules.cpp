// The module list: the order here is the order handlers chain in.
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_live.h"
#include "rtmp/rtmp_relay.h"
#include "rtmp/rtmp_server_module.h"

rtmp_module_t *rtmp_modules[] = {
    &rtmp_core_module, &rtmp_server_module, &rtmp_relay_module, &rtmp_live_module, nullptr,
};

const size_t rtmp_modules_n = rtmp_nelems(rtmp_modules) - 1;

void rtmp_modules_init()
{
    for (size_t i = 0; rtmp_modules[i]; i++) {
        rtmp_modules[i]->index = i;
    }
}
