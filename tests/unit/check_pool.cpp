// Pools: small and large allocations, alignment, cleanup order, string copies.
#include "core/rtmp_pool.h"

#include <check.h>

static int cleanup_log[8];
static int cleanup_n;

static void record_cleanup(void *data)
{
    cleanup_log[cleanup_n++] = *static_cast<int *>(data);
}

START_TEST(test_small_allocations_are_aligned_and_distinct)
{
    rtmp_pool_t *pool = rtmp_pool_create(1024, nullptr);
    u_char *prev = nullptr;
    for (int i = 0; i < 1000; i++) {
        auto *p = static_cast<u_char *>(rtmp_palloc(pool, (size_t)(i % 37) + 1));
        ck_assert_uint_eq((uintptr_t)p % RTMP_ALIGNMENT, 0);
        ck_assert_ptr_ne(p, prev);
        memset(p, 0xab, (size_t)(i % 37) + 1); // ASan catches overlap with pool headers
        prev = p;
    }
    rtmp_pool_destroy(pool);
}
END_TEST

START_TEST(test_large_allocation_and_early_free)
{
    rtmp_pool_t *pool = rtmp_pool_create(1024, nullptr);
    void *big = rtmp_palloc(pool, 100000);
    memset(big, 1, 100000);
    ck_assert_int_eq(rtmp_pfree(pool, big), RTMP_OK);
    ck_assert_int_eq(rtmp_pfree(pool, big), RTMP_DECLINED); // already freed
    void *big2 = rtmp_palloc(pool, 5000);
    ck_assert_ptr_nonnull(big2);
    rtmp_pool_destroy(pool); // frees big2; LeakSanitizer checks
}
END_TEST

START_TEST(test_typed_allocation_is_zeroed)
{
    struct item {
        int a;
        void *p;
        char name[40];
    };
    rtmp_pool_t *pool = rtmp_pool_create(4096, nullptr);
    item *it = rtmp_palloc<item>(pool, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(it[i].a, 0);
        ck_assert_ptr_null(it[i].p);
        ck_assert_int_eq(it[i].name[39], 0);
    }
    rtmp_pool_destroy(pool);
}
END_TEST

START_TEST(test_cache_line_aligned_allocations)
{
    struct alignas(RTMP_CACHE_LINE) line {
        char bytes[80];
    };
    rtmp_pool_t *pool = rtmp_pool_create(4096, nullptr);
    for (size_t skew = 0; skew < RTMP_CACHE_LINE; skew += RTMP_ALIGNMENT) {
        (void)rtmp_pnalloc(pool, skew);
        line *l = rtmp_palloc<line>(pool, 2);
        ck_assert_uint_eq((uintptr_t)l % RTMP_CACHE_LINE, 0);
        ck_assert_int_eq(l[1].bytes[79], 0);
        memset(l, 0xab, 2 * sizeof(line)); // ASan: inside what the pool handed out
    }
    rtmp_pool_destroy(pool);

    for (size_t size : {1, 100, 1 << 20}) {
        auto *p = static_cast<u_char *>(rtmp_calloc_aligned(size, RTMP_CACHE_LINE));
        ck_assert_uint_eq((uintptr_t)p % RTMP_CACHE_LINE, 0);
        ck_assert_int_eq(p[0] | p[size - 1], 0);
        memset(p, 0xab, size);
        rtmp_free_aligned(p); // LeakSanitizer: the block itself is freed
    }
    rtmp_free_aligned(nullptr);
}
END_TEST

START_TEST(test_cleanups_run_last_registered_first)
{
    cleanup_n = 0;
    rtmp_pool_t *pool = rtmp_pool_create(512, nullptr);
    for (int i = 1; i <= 3; i++) {
        rtmp_pool_cleanup_t *c = rtmp_pool_cleanup_add(pool, sizeof(int));
        *static_cast<int *>(c->data) = i;
        c->handler = record_cleanup;
    }
    rtmp_pool_cleanup_add(pool, 0); // no handler: skipped
    ck_assert_int_eq(cleanup_n, 0);
    rtmp_pool_destroy(pool);
    ck_assert_int_eq(cleanup_n, 3);
    ck_assert_int_eq(cleanup_log[0], 3);
    ck_assert_int_eq(cleanup_log[2], 1);
}
END_TEST

START_TEST(test_pstr_copies)
{
    rtmp_pool_t *pool = rtmp_pool_create(512, nullptr);
    char src[] = "live/stream";
    rtmp_str_t s = rtmp_pstr(pool, src);
    src[0] = 'X';
    ck_assert(s.sv() == "live/stream");
    ck_assert_int_eq(s.data[s.len], '\0');
    rtmp_pool_destroy(pool);
}
END_TEST

Suite *rtmp_pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_small_allocations_are_aligned_and_distinct);
    tcase_add_test(tc, test_large_allocation_and_early_free);
    tcase_add_test(tc, test_typed_allocation_is_zeroed);
    tcase_add_test(tc, test_cache_line_aligned_allocations);
    tcase_add_test(tc, test_cleanups_run_last_registered_first);
    tcase_add_test(tc, test_pstr_copies);
    suite_add_tcase(s, tc);
    return s;
}
