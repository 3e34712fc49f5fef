// Common types, return codes and helpers every module includes first.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <sys/types.h>

using rtmp_int_t = intptr_t;
using rtmp_uint_t = uintptr_t;
using rtmp_msec_t = uint64_t;
using rtmp_err_t = int;
using u_char = unsigned char;

enum : rtmp_int_t {
    RTMP_OK = 0,
    RTMP_ERROR = -1,
    RTMP_AGAIN = -2,
    RTMP_DONE = -4,
    RTMP_DECLINED = -5,
};

#define RTMP_VERSION "0.1.0"
#define RTMP_NAME "rtmp_server"

#define rtmp_align_ptr(p, a) (u_char *)(((uintptr_t)(p) + ((uintptr_t)(a)-1)) & ~((uintptr_t)(a)-1))
#define RTMP_ALIGNMENT sizeof(unsigned long)
// What hot per-connection structures are aligned to, so that the fields a send touches
// share one line.
constexpr size_t RTMP_CACHE_LINE = 64;

template <typename T, size_t N> constexpr size_t rtmp_nelems(T (&)[N])
{
    return N;
}

typedef struct rtmp_pool_s rtmp_pool_t;
typedef struct rtmp_log_s rtmp_log_t;
typedef struct rtmp_buf_s rtmp_buf_t;
typedef struct rtmp_chain_s rtmp_chain_t;
typedef struct rtmp_event_s rtmp_event_t;
typedef struct rtmp_connection_s rtmp_connection_t;
typedef struct rtmp_listening_s rtmp_listening_t;
typedef struct rtmp_cycle_s rtmp_cycle_t;
typedef struct rtmp_module_s rtmp_module_t;

// A control byte (C0 or DEL): never in a name, a path or a log line.
constexpr bool rtmp_is_control(u_char c)
{
    return c < 0x20 || c == 0x7f;
}

[[nodiscard]] inline bool rtmp_has_control(std::string_view s)
{
    for (char c : s) {
        if (rtmp_is_control((u_char)c)) {
            return true;
        }
    }
    return false;
}

// A length-delimited string; data need not be NUL-terminated.
struct rtmp_str_t {
    size_t len;
    u_char *data;

    std::string_view sv() const { return {reinterpret_cast<const char *>(data), len}; }
};

#define rtmp_string(s)                                                                             \
    rtmp_str_t                                                                                     \
    {                                                                                              \
        sizeof(s) - 1, (u_char *)(s)                                                               \
    }
#define rtmp_null_string                                                                           \
    rtmp_str_t                                                                                     \
    {                                                                                              \
        0, nullptr                                                                                 \
    }

// Out of memory is fatal: callers never check allocation results.
[[nodiscard]] void *rtmp_alloc(size_t size);
[[nodiscard]] void *rtmp_calloc(size_t size);
[[nodiscard]] void *rtmp_realloc(void *p, size_t size);
void rtmp_free(void *p);
// Zeroed and aligned to `align` (a power of two); given back with rtmp_free_aligned.
[[nodiscard]] void *rtmp_calloc_aligned(size_t size, size_t align);
void rtmp_free_aligned(void *p);
// Hands the allocator's free pages back to the system: the allocator keeps them otherwise.
void rtmp_alloc_release();

// Parses a decimal non-negative integer; RTMP_ERROR on junk or overflow.
[[nodiscard]] int64_t rtmp_atoi(std::string_view s);

// Parses "1935", "4k", "16m", "1g" into bytes; -1 on error.
[[nodiscard]] int64_t rtmp_parse_size(std::string_view s);

// Parses "500ms", "10s", "2m", "1h", "30" (seconds) into milliseconds; -1 on error.
[[nodiscard]] int64_t rtmp_parse_time(std::string_view s);

// The value of the first `key` in a query string "a=1&b=2" as it is written (not decoded);
// empty when absent or written without '='. *found, when given, says whether it is there.
std::string_view rtmp_query_arg(std::string_view args, std::string_view key, bool *found = nullptr);
