// Modules: a directive table, per-block conf constructors and lifecycle hooks.
#pragma once

#include "core/rtmp_conf.h"
#include "core/rtmp_core.h"

// Bound on the module list, so per-stream module state can be a fixed array.
constexpr size_t RTMP_MAX_MODULES = 16;

struct rtmp_module_s {
    const char *name;
    rtmp_uint_t index;                  // position in rtmp_modules, the key into every conf array
    const rtmp_directive_t *directives; // ends with a nullptr name

    // Conf structs start "unset"; merge fills them from the outer block or defaults.
    void *(*create_main_conf)(rtmp_conf_t *cf);
    // nullptr, or what is wrong (the file is named before it); "" once cf->error has it all
    const char *(*init_main_conf)(rtmp_conf_t *cf, void *conf);
    void *(*create_srv_conf)(rtmp_conf_t *cf);
    // merges: nullptr, or what is wrong (named after the block's line); "" once cf->error
    // has it all
    const char *(*merge_srv_conf)(rtmp_conf_t *cf, void *prev, void *conf);
    void *(*create_app_conf)(rtmp_conf_t *cf);
    const char *(*merge_app_conf)(rtmp_conf_t *cf, void *prev, void *conf);

    // Once at startup, in module order: where modules put their stream handlers in the chain.
    void (*postconfiguration)();

    rtmp_int_t (*init_worker)(rtmp_cycle_t *cycle);
    void (*exit_worker)(rtmp_cycle_t *cycle);
};

// Every module, in the order their handlers chain; nullptr-terminated.
extern rtmp_module_t *rtmp_modules[];
extern const size_t rtmp_modules_n;

// Assigns each module its index and builds the handler chains; call once at startup.
void rtmp_modules_init();
