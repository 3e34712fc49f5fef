// Spreading connections over workers: who steps aside, and who never does.
#include "event/rtmp_balance.h"
#include "os/rtmp_process.h"

#include <check.h>

// Plays worker `slot` publishing its state and load.
static void balance_worker(int slot, rtmp_balance_state state, size_t load)
{
    rtmp_worker_slot = slot;
    rtmp_balance_set_state(state);
    rtmp_balance_set_load(load);
}

static bool balance_steps_aside(int slot)
{
    rtmp_worker_slot = slot;
    return rtmp_balance_should_step_aside();
}

static void balance_setup()
{
    ck_assert_int_eq(rtmp_balance_init(&rtmp_log_stderr_log), RTMP_OK);
}

static void balance_teardown()
{
    rtmp_balance_done();
    rtmp_worker_slot = -1;
}

START_TEST(test_balance_uninitialized_never_steps_aside)
{
    rtmp_balance_done();
    balance_worker(0, rtmp_balance_state::accepting, 100);
    ck_assert(!balance_steps_aside(0));
}
END_TEST

START_TEST(test_balance_more_than_slack_steps_aside)
{
    balance_worker(0, rtmp_balance_state::accepting, 2);
    balance_worker(1, rtmp_balance_state::accepting, 0);
    ck_assert(!balance_steps_aside(0)); // within the slack
    ck_assert(!balance_steps_aside(1)); // the fewest never does
    balance_worker(0, rtmp_balance_state::accepting, 3);
    ck_assert(balance_steps_aside(0));
    ck_assert(!balance_steps_aside(1));
}
END_TEST

START_TEST(test_balance_only_for_a_worker_that_accepts)
{
    balance_worker(0, rtmp_balance_state::accepting, 50);
    ck_assert(!balance_steps_aside(0)); // alone
    balance_worker(1, rtmp_balance_state::aside, 0);
    ck_assert(!balance_steps_aside(0)); // the other stands aside itself: someone must accept
    balance_worker(1, rtmp_balance_state::gone, 0);
    ck_assert(!balance_steps_aside(0)); // an old generation's, draining
    balance_worker(7, rtmp_balance_state::accepting, 10);
    ck_assert(balance_steps_aside(0));
    rtmp_balance_reset_slot(7); // reaped
    ck_assert(!balance_steps_aside(0));
}
END_TEST

Suite *rtmp_balance_suite(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, balance_setup, balance_teardown);
    tcase_add_test(tc, test_balance_uninitialized_never_steps_aside);
    tcase_add_test(tc, test_balance_more_than_slack_steps_aside);
    tcase_add_test(tc, test_balance_only_for_a_worker_that_accepts);
    suite_add_tcase(s, tc);
    return s;
}
