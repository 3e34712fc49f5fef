// Region allocator: small allocations bump a pointer, large ones are tracked,
// everything (and every registered cleanup) goes when the pool is destroyed.
#pragma once

#include "core/rtmp_core.h"

#include <type_traits>

typedef void (*rtmp_pool_cleanup_pt)(void *data);

typedef struct rtmp_pool_cleanup_s rtmp_pool_cleanup_t;
struct rtmp_pool_cleanup_s {
    rtmp_pool_cleanup_pt handler;
    void *data;
    rtmp_pool_cleanup_t *next;
};

typedef struct rtmp_pool_large_s rtmp_pool_large_t;
struct rtmp_pool_large_s {
    rtmp_pool_large_t *next;
    void *alloc;
};

typedef struct rtmp_pool_block_s rtmp_pool_block_t;
struct rtmp_pool_block_s {
    u_char *last;
    u_char *end;
    rtmp_pool_block_t *next;
    unsigned failed;
};

struct rtmp_pool_s {
    rtmp_pool_block_t *first;
    rtmp_pool_block_t *current;
    size_t block_size;
    size_t max; // requests above this are large allocations
    rtmp_pool_large_t *large;
    rtmp_pool_cleanup_t *cleanup;
    rtmp_chain_t *free_links; // recycled chain links, see rtmp_chain_link_get()
    rtmp_log_t *log;
};

constexpr size_t RTMP_POOL_DEFAULT_SIZE = 4096;

[[nodiscard]] rtmp_pool_t *rtmp_pool_create(size_t size, rtmp_log_t *log);
void rtmp_pool_destroy(rtmp_pool_t *pool);

[[nodiscard]] void *rtmp_palloc(rtmp_pool_t *pool, size_t size);  // aligned
[[nodiscard]] void *rtmp_pnalloc(rtmp_pool_t *pool, size_t size); // unaligned
[[nodiscard]] void *rtmp_pcalloc(rtmp_pool_t *pool, size_t size); // aligned, zeroed

// Frees a large allocation early; small ones live until the pool dies.
rtmp_int_t rtmp_pfree(rtmp_pool_t *pool, void *p);

// Zeroed, typed allocation of n trivially destructible objects.
template <typename T> [[nodiscard]] T *rtmp_palloc(rtmp_pool_t *pool, size_t n = 1)
{
    static_assert(std::is_trivially_destructible_v<T>, "nothing with a destructor lives in a pool");
    if constexpr (alignof(T) > RTMP_ALIGNMENT) {
        void *p = rtmp_pcalloc(pool, sizeof(T) * n + alignof(T) - RTMP_ALIGNMENT);
        return reinterpret_cast<T *>(rtmp_align_ptr(p, alignof(T)));
    }
    return static_cast<T *>(rtmp_pcalloc(pool, sizeof(T) * n));
}

// Registers a handler run (last registered first) when the pool is destroyed.
// With size > 0 the returned cleanup's data points to that many fresh bytes.
rtmp_pool_cleanup_t *rtmp_pool_cleanup_add(rtmp_pool_t *pool, size_t size);

[[nodiscard]] u_char *rtmp_pstrdup(rtmp_pool_t *pool, std::string_view s); // NUL-terminated
[[nodiscard]] rtmp_str_t rtmp_pstr(rtmp_pool_t *pool, std::string_view s);
