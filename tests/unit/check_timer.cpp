// Timers: heap order, deletion from any position, re-arming, expiry.
#include "core/rtmp_time.h"
#include "event/rtmp_event.h"

#include <check.h>
#include <cstdlib>

static int fired[64];
static int nfired;

static void on_timer(rtmp_event_t *ev)
{
    ck_assert(ev->timedout);
    fired[nfired++] = (int)(intptr_t)ev->data;
}

START_TEST(test_timers_fire_in_deadline_order)
{
    rtmp_time_update();
    rtmp_event_t ev[32] = {};
    nfired = 0;
    // deadlines in a scrambled order
    for (int i = 0; i < 32; i++) {
        ev[i].data = (void *)(intptr_t)i;
        ev[i].handler = on_timer;
        rtmp_event_add_timer(&ev[i], (rtmp_msec_t)(1000 + (i * 7919) % 32 * 10));
    }
    ck_assert_uint_eq(rtmp_event_timer_count(), 32);
    ck_assert_int_ge(rtmp_event_find_timer(), 990);

    rtmp_current_msec += 5000;
    rtmp_event_expire_timers();
    ck_assert_int_eq(nfired, 32);
    for (int i = 1; i < 32; i++) {
        ck_assert_uint_le(ev[fired[i - 1]].timer_key, ev[fired[i]].timer_key);
    }
    ck_assert_int_eq(rtmp_event_find_timer(), -1);
}
END_TEST

START_TEST(test_delete_and_rearm)
{
    rtmp_time_update();
    rtmp_event_t ev[100] = {};
    nfired = 0;
    srand(7);
    for (int i = 0; i < 100; i++) {
        ev[i].data = (void *)(intptr_t)i;
        ev[i].handler = on_timer;
        rtmp_event_add_timer(&ev[i], (rtmp_msec_t)(rand() % 1000 + 10));
    }
    for (int i = 0; i < 100; i += 2) {
        rtmp_event_del_timer(&ev[i]); // from wherever it sits in the heap
        ck_assert(!ev[i].timer_set);
    }
    rtmp_event_add_timer(&ev[1], 5000); // re-arming moves it, never duplicates it
    ck_assert_uint_eq(rtmp_event_timer_count(), 50);

    rtmp_current_msec += 2000;
    rtmp_event_expire_timers();
    ck_assert_int_eq(nfired, 49);
    for (int i = 0; i < nfired; i++) {
        ck_assert_int_eq(fired[i] % 2, 1);
        ck_assert_int_ne(fired[i], 1);
    }
    ck_assert_int_eq(rtmp_event_find_timer(), 3000);
    rtmp_event_del_timer(&ev[1]);
    ck_assert_uint_eq(rtmp_event_timer_count(), 0);
}
END_TEST

Suite *rtmp_timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("timer");
    tcase_add_test(tc, test_timers_fire_in_deadline_order);
    tcase_add_test(tc, test_delete_and_rearm);
    suite_add_tcase(s, tc);
    return s;
}
