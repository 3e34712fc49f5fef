// Intrusive doubly-linked circular queue, as nginx's.
#pragma once

#include <cstddef>

struct rtmp_queue_t {
    rtmp_queue_t *prev;
    rtmp_queue_t *next;
};

inline void rtmp_queue_init(rtmp_queue_t *q)
{
    q->prev = q->next = q;
}
inline bool rtmp_queue_empty(const rtmp_queue_t *h)
{
    return h->next == h;
}
inline bool rtmp_queue_linked(const rtmp_queue_t *q)
{
    return q->next != nullptr && q->next != q;
}

inline void rtmp_queue_insert_tail(rtmp_queue_t *h, rtmp_queue_t *x)
{
    x->prev = h->prev;
    x->prev->next = x;
    x->next = h;
    h->prev = x;
}

inline void rtmp_queue_insert_head(rtmp_queue_t *h, rtmp_queue_t *x)
{
    x->next = h->next;
    x->next->prev = x;
    x->prev = h;
    h->next = x;
}

inline void rtmp_queue_remove(rtmp_queue_t *x)
{
    x->next->prev = x->prev;
    x->prev->next = x->next;
    x->prev = x->next = x;
}

#define rtmp_queue_data(q, type, link) reinterpret_cast<type *>((char *)(q)-offsetof(type, link))
