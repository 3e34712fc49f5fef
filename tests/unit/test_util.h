// Helpers shared by the unit suites: byte vectors from hex, test data from files.
#pragma once

#include "core/rtmp_pool.h"

// Hex digits to bytes in the pool; anything else (spaces, newlines) is skipped.
std::span<const u_char> rtmp_test_hex(rtmp_pool_t *pool, const char *hex);

// A whole file under the repository root (the suites run from there) read into the pool.
std::span<const u_char> rtmp_test_file(rtmp_pool_t *pool, const char *path);
