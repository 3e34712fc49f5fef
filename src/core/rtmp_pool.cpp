// Region allocator in the manner of nginx's pools.
#include "core/rtmp_pool.h"

// After this many failed fits a block is skipped for good, so a nearly full
// block is not rescanned on every allocation.
static constexpr unsigned RTMP_POOL_MAX_FAILED = 4;

static rtmp_pool_block_t *rtmp_pool_block_new(size_t size)
{
    auto *b = static_cast<rtmp_pool_block_t *>(rtmp_alloc(size));
    b->last = reinterpret_cast<u_char *>(b) + sizeof(rtmp_pool_block_t);
    b->end = reinterpret_cast<u_char *>(b) + size;
    b->next = nullptr;
    b->failed = 0;
    return b;
}

rtmp_pool_t *rtmp_pool_create(size_t size, rtmp_log_t *log)
{
    if (size < sizeof(rtmp_pool_block_t) + sizeof(rtmp_pool_t) + 64) {
        size = RTMP_POOL_DEFAULT_SIZE;
    }
    rtmp_pool_block_t *b = rtmp_pool_block_new(size);
    auto *pool = reinterpret_cast<rtmp_pool_t *>(rtmp_align_ptr(b->last, RTMP_ALIGNMENT));
    b->last = reinterpret_cast<u_char *>(pool) + sizeof(rtmp_pool_t);
    pool->first = b;
    pool->current = b;
    pool->block_size = size;
    pool->max = size - sizeof(rtmp_pool_block_t);
    pool->large = nullptr;
    pool->cleanup = nullptr;
    pool->free_links = nullptr;
    pool->log = log;
    return pool;
}

void rtmp_pool_destroy(rtmp_pool_t *pool)
{
    for (rtmp_pool_cleanup_t *c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    for (rtmp_pool_large_t *l = pool->large; l; l = l->next) {
        rtmp_free(l->alloc);
    }
    rtmp_pool_block_t *b = pool->first;
    while (b) {
        rtmp_pool_block_t *next = b->next;
        rtmp_free(b);
        b = next;
    }
}

static void *rtmp_palloc_block(rtmp_pool_t *pool, size_t size, bool align)
{
    rtmp_pool_block_t *b = rtmp_pool_block_new(pool->block_size);
    u_char *m = b->last;
    if (align) {
        m = rtmp_align_ptr(m, RTMP_ALIGNMENT);
    }
    b->last = m + size;

    rtmp_pool_block_t *p = pool->current;
    for (; p->next; p = p->next) {
        if (p->failed++ > RTMP_POOL_MAX_FAILED) {
            pool->current = p->next;
        }
    }
    p->next = b;
    return m;
}

static void *rtmp_palloc_large(rtmp_pool_t *pool, size_t size)
{
    void *p = rtmp_alloc(size);
    auto *l = static_cast<rtmp_pool_large_t *>(rtmp_palloc(pool, sizeof(rtmp_pool_large_t)));
    l->alloc = p;
    l->next = pool->large;
    pool->large = l;
    return p;
}

static void *rtmp_palloc_small(rtmp_pool_t *pool, size_t size, bool align)
{
    for (rtmp_pool_block_t *b = pool->current; b; b = b->next) {
        u_char *m = b->last;
        if (align) {
            m = rtmp_align_ptr(m, RTMP_ALIGNMENT);
        }
        if (m <= b->end && (size_t)(b->end - m) >= size) {
            b->last = m + size;
            return m;
        }
    }
    return rtmp_palloc_block(pool, size, align);
}

void *rtmp_palloc(rtmp_pool_t *pool, size_t size)
{
    if (size <= pool->max / 2) {
        return rtmp_palloc_small(pool, size, true);
    }
    return rtmp_palloc_large(pool, size);
}

void *rtmp_pnalloc(rtmp_pool_t *pool, size_t size)
{
    if (size <= pool->max / 2) {
        return rtmp_palloc_small(pool, size, false);
    }
    return rtmp_palloc_large(pool, size);
}

void *rtmp_pcalloc(rtmp_pool_t *pool, size_t size)
{
    void *p = rtmp_palloc(pool, size);
    memset(p, 0, size);
    return p;
}

rtmp_int_t rtmp_pfree(rtmp_pool_t *pool, void *p)
{
    for (rtmp_pool_large_t *l = pool->large; l; l = l->next) {
        if (l->alloc == p) {
            rtmp_free(l->alloc);
            l->alloc = nullptr;
            return RTMP_OK;
        }
    }
    return RTMP_DECLINED;
}

rtmp_pool_cleanup_t *rtmp_pool_cleanup_add(rtmp_pool_t *pool, size_t size)
{
    auto *c = rtmp_palloc<rtmp_pool_cleanup_t>(pool);
    c->data = size ? rtmp_pcalloc(pool, size) : nullptr;
    c->handler = nullptr;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}

u_char *rtmp_pstrdup(rtmp_pool_t *pool, std::string_view s)
{
    auto *d = static_cast<u_char *>(rtmp_pnalloc(pool, s.size() + 1));
    memcpy(d, s.data(), s.size());
    d[s.size()] = '\0';
    return d;
}

rtmp_str_t rtmp_pstr(rtmp_pool_t *pool, std::string_view s)
{
    return rtmp_str_t{s.size(), rtmp_pstrdup(pool, s)};
}
