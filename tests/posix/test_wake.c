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

static int records;

static void count(void *arg, const migrate_stats *st)
{
    (void)arg;
    if (st->result == 0) records++;
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

/* A migration does not wake the launcher process (its custody changes, its
 * record): the launcher looks at the records every UAREA_POSIX_RECORDS_NS
 * while migrations go on, and every record still reaches on_migration. The
 * nodes' wake-ups are counted (report.launcher_wakes): a node's end and the
 * program's end wake it, and a record does only when the launcher went to
 * sleep without a timeout (ten looks without a record: 100 ms between two
 * hops). Each migration used to wake it four times. */
Test(posix_wake, a_migration_does_not_wake_the_launcher, .timeout = 60)
{
    uarea_posix_report rep;
    snprintf(path, sizeof path, "/tmp/uarea-wake-l-%ld.img", (long)getpid());
    records = 0;
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 3, .no_precopy = 1,
                                                     .on_migration = count, .report = &rep},
                                 app, 0, NULL), 0);
    unlink(path);
    cr_assert_eq(rep.migrations, 30);
    cr_assert_eq(records, 30, "every record reached on_migration: %d", records);
    cr_assert_lt(rep.launcher_wakes, 10u, "the launcher was woken %u times for 30 migrations",
                 rep.launcher_wakes);
}
