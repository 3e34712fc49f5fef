// Shared memory: anonymous MAP_SHARED regions the master maps before forking its workers.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_log.h"

// Zero-filled, shared with every process forked after this call; nullptr (logged) on failure.
// Pages are only backed by memory once touched.
[[nodiscard]] void *rtmp_shm_alloc(size_t size, rtmp_log_t *log);
void rtmp_shm_free(void *addr, size_t size);
