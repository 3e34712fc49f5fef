// Buffers and chains: windows, compaction, recycled links, partial sends.
#include "core/rtmp_buf.h"

#include <check.h>

static rtmp_pool_t *pool;

static void setup()
{
    pool = rtmp_pool_create(4096, nullptr);
}
static void teardown()
{
    rtmp_pool_destroy(pool);
}

static rtmp_buf_t *buf_with(const char *text)
{
    size_t n = strlen(text);
    rtmp_buf_t *b = rtmp_buf_create(pool, n);
    memcpy(b->last, text, n);
    b->last += n;
    return b;
}

START_TEST(test_buf_window)
{
    rtmp_buf_t *b = rtmp_buf_create(pool, 16);
    ck_assert_uint_eq(rtmp_buf_size(b), 0);
    ck_assert_uint_eq(rtmp_buf_free(b), 16);
    memcpy(b->last, "abcdef", 6);
    b->last += 6;
    b->pos += 4;
    ck_assert_uint_eq(rtmp_buf_size(b), 2);
    rtmp_buf_compact(b);
    ck_assert_ptr_eq(b->pos, b->start);
    ck_assert_int_eq(memcmp(b->pos, "ef", 2), 0);
    ck_assert_uint_eq(rtmp_buf_free(b), 14);
}
END_TEST

START_TEST(test_links_are_recycled)
{
    rtmp_chain_t *a = rtmp_chain_link_get(pool);
    rtmp_chain_link_free(pool, a);
    rtmp_chain_t *b = rtmp_chain_link_get(pool);
    ck_assert_ptr_eq(a, b);
    ck_assert_ptr_null(b->buf);
    ck_assert_ptr_null(b->next);
}
END_TEST

START_TEST(test_chain_update_sent_partial)
{
    rtmp_chain_t *head = nullptr;
    rtmp_chain_t *src = rtmp_chain_link_get(pool);
    src->buf = buf_with("hello");
    src->next = rtmp_chain_link_get(pool);
    src->next->buf = buf_with(" world");
    rtmp_chain_add_copy(pool, &head, src);
    ck_assert_uint_eq(rtmp_chain_size(head), 11);

    rtmp_chain_t *left = rtmp_chain_update_sent(pool, head, 7);
    ck_assert_ptr_nonnull(left);
    ck_assert_uint_eq(rtmp_chain_size(left), 4);
    ck_assert_int_eq(memcmp(left->buf->pos, "orld", 4), 0);
    // the spent link went back to the free list
    ck_assert_ptr_eq(pool->free_links, head);

    ck_assert_ptr_null(rtmp_chain_update_sent(pool, left, 4));
}
END_TEST

START_TEST(test_chain_free_returns_every_link)
{
    rtmp_chain_t *head = nullptr, **ll = &head;
    for (int i = 0; i < 5; i++) {
        *ll = rtmp_chain_link_get(pool);
        ll = &(*ll)->next;
    }
    rtmp_chain_free(pool, head);
    int n = 0;
    for (rtmp_chain_t *cl = pool->free_links; cl; cl = cl->next) {
        n++;
    }
    ck_assert_int_eq(n, 5);
}
END_TEST

Suite *rtmp_buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_buf_window);
    tcase_add_test(tc, test_links_are_recycled);
    tcase_add_test(tc, test_chain_update_sent_partial);
    tcase_add_test(tc, test_chain_free_returns_every_link);
    suite_add_tcase(s, tc);
    return s;
}
