// Buffers, chains and the recycled chain-link free list.
#include "core/rtmp_buf.h"

rtmp_buf_t *rtmp_buf_create(rtmp_pool_t *pool, size_t size)
{
    rtmp_buf_t *b = rtmp_buf_calloc(pool);
    b->start = static_cast<u_char *>(rtmp_palloc(pool, size));
    b->pos = b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    return b;
}

rtmp_buf_t *rtmp_buf_calloc(rtmp_pool_t *pool)
{
    return rtmp_palloc<rtmp_buf_t>(pool);
}

void rtmp_buf_compact(rtmp_buf_t *b)
{
    size_t n = rtmp_buf_size(b);
    if (b->pos != b->start) {
        memmove(b->start, b->pos, n);
        b->pos = b->start;
        b->last = b->start + n;
    }
}

rtmp_chain_t *rtmp_chain_link_get(rtmp_pool_t *pool)
{
    rtmp_chain_t *cl = pool->free_links;
    if (cl) {
        pool->free_links = cl->next;
    } else {
        cl = rtmp_palloc<rtmp_chain_t>(pool);
    }
    cl->buf = nullptr;
    cl->next = nullptr;
    return cl;
}

void rtmp_chain_link_free(rtmp_pool_t *pool, rtmp_chain_t *cl)
{
    cl->buf = nullptr;
    cl->next = pool->free_links;
    pool->free_links = cl;
}

void rtmp_chain_free(rtmp_pool_t *pool, rtmp_chain_t *cl)
{
    while (cl) {
        rtmp_chain_t *next = cl->next;
        rtmp_chain_link_free(pool, cl);
        cl = next;
    }
}

void rtmp_chain_add_copy(rtmp_pool_t *pool, rtmp_chain_t **chain, rtmp_chain_t *in)
{
    rtmp_chain_t **ll = chain;
    while (*ll) {
        ll = &(*ll)->next;
    }
    for (; in; in = in->next) {
        rtmp_chain_t *cl = rtmp_chain_link_get(pool);
        cl->buf = in->buf;
        *ll = cl;
        ll = &cl->next;
    }
}

size_t rtmp_chain_size(const rtmp_chain_t *cl)
{
    size_t n = 0;
    for (; cl; cl = cl->next) {
        n += rtmp_buf_size(cl->buf);
    }
    return n;
}

rtmp_chain_t *rtmp_chain_update_sent(rtmp_pool_t *pool, rtmp_chain_t *cl, size_t sent)
{
    while (cl) {
        size_t size = rtmp_buf_size(cl->buf);
        if (sent < size) {
            cl->buf->pos += sent;
            return cl;
        }
        sent -= size;
        cl->buf->pos = cl->buf->last;
        rtmp_chain_t *next = cl->next;
        rtmp_chain_link_free(pool, cl);
        cl = next;
    }
    return nullptr;
}
