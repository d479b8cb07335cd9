/* Nothing in a run waits for the master's nap. Built with a nap of ten
 * minutes (UAREA_POSIX_NAP_NS) and a scheduler period as long: a container
 * thread's migrate_to and checkpoint calls must wake their node's master
 * (noc_shm_kick), a migration's messages the destination's, and the end of
 * the program every master (noc_shm_kick_node). If any of these wake-ups
 * were missing, a call or the run's end would wait for a ten-minute nap and
 * the test would hit its time limit: it fails on a lost wake-up, and asserts
 * no duration. */
#define UAREA_POSIX_NAP_NS 600000000000ull
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];
static UAREA_USER int hops_done;

static int app(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (int i = 0; i < 30; i++) {
        if (migrate_to((noc_node_self() + 1) % 3) != 0) return 1;
        hops_done++;
        if (i % 10 == 0 && uarea_posix_checkpoint(path) != 0) return 2;
    }
    return hops_done == 30 ? 0 : 3;
}

Test(posix_wake, calls_and_the_runs_end_never_wait_for_a_nap, .timeout = 60)
{
    uarea_posix_report rep;
    snprintf(path, sizeof path, "/tmp/uarea-wake-%ld.img", (long)getpid());
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 3, .no_precopy = 1,
                                                     .scheduler_period_ns = INT64_C(600000000000),
                                                     .report = &rep},
                                 app, 0, NULL), 0);
    cr_assert_eq(rep.migrations, 30);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 3,
                                                     .scheduler_period_ns = INT64_C(600000000000)},
                                 app, 0, NULL), 0, "with pre-copy");
    unlink(path);
}
