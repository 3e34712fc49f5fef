// Which worker publishes which stream: the master's registry and each worker's copy of it.
#pragma once

#include "core/rtmp_core.h"

// Records that worker `slot` publishes `key`; RTMP_DECLINED when another slot already does.
[[nodiscard]] rtmp_int_t rtmp_registry_set(std::string_view key, int slot);
// Forgets `key` if `slot` owns it; true when it did.
bool rtmp_registry_del(std::string_view key, int slot);
// The slot publishing `key`, or -1.
int rtmp_registry_owner(std::string_view key);

typedef void (*rtmp_registry_visit_pt)(const char *key, int slot, void *data);
void rtmp_registry_each(rtmp_registry_visit_pt visit, void *data);
// Forgets every stream of `slot` (its worker died), visiting each first.
void rtmp_registry_drop_slot(int slot, rtmp_registry_visit_pt visit, void *data);
size_t rtmp_registry_count();
