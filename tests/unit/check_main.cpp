// Runs every Check suite under tests/unit; the failure count is the exit status.
#include <check.h>
#include <cstdlib>

#define RTMP_SUITE(name) Suite *name(void);
#include "suites.inc"
#undef RTMP_SUITE

int main(void)
{
    SRunner *sr = srunner_create(nullptr);
#define RTMP_SUITE(name) srunner_add_suite(sr, name());
#include "suites.inc"
#undef RTMP_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
