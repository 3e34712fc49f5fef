// Buffers are windows (pos..last) into memory (start..end); chains link them.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_pool.h"

struct rtmp_buf_s {
    u_char *pos;   // first unread byte
    u_char *last;  // one past the last written byte
    u_char *start; // memory the buffer owns or views
    u_char *end;

    unsigned temporary : 1; // memory is ours to write
    unsigned flush : 1;
    unsigned last_buf : 1;
};

struct rtmp_chain_s {
    rtmp_buf_t *buf;
    rtmp_chain_t *next;
};

inline size_t rtmp_buf_size(const rtmp_buf_t *b)
{
    return (size_t)(b->last - b->pos);
}
inline size_t rtmp_buf_free(const rtmp_buf_t *b)
{
    return (size_t)(b->end - b->last);
}
inline void rtmp_buf_reset(rtmp_buf_t *b)
{
    b->pos = b->last = b->start;
}
inline std::span<const u_char> rtmp_buf_span(const rtmp_buf_t *b)
{
    return {b->pos, rtmp_buf_size(b)};
}

// A buffer with `size` bytes of writable memory, both from the pool.
[[nodiscard]] rtmp_buf_t *rtmp_buf_create(rtmp_pool_t *pool, size_t size);
[[nodiscard]] rtmp_buf_t *rtmp_buf_calloc(rtmp_pool_t *pool); // header only

// Moves unread bytes to the start to make room at the end.
void rtmp_buf_compact(rtmp_buf_t *b);

// Chain links come from the pool's free list before fresh memory.
[[nodiscard]] rtmp_chain_t *rtmp_chain_link_get(rtmp_pool_t *pool);
void rtmp_chain_link_free(rtmp_pool_t *pool, rtmp_chain_t *cl);
void rtmp_chain_free(rtmp_pool_t *pool, rtmp_chain_t *cl); // the whole chain

// Appends copies of `in`'s links (sharing the buffers) to *chain.
void rtmp_chain_add_copy(rtmp_pool_t *pool, rtmp_chain_t **chain, rtmp_chain_t *in);

size_t rtmp_chain_size(const rtmp_chain_t *cl);

// Consumes `sent` bytes from the front of the chain; returns the first link
// that still holds unsent data, after returning spent links to the pool.
rtmp_chain_t *rtmp_chain_update_sent(rtmp_pool_t *pool, rtmp_chain_t *cl, size_t sent);
