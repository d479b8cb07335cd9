/* The POSIX runtime: app_main's value, migrate_to's errors, a dead
 * destination (the container runs on where it was), a dead holder (the run
 * reports the container lost), migrate_to outside a container. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <signal.h>

static UAREA_USER int hops;
static UAREA_USER int errors[8];

static int app_value(int argc, char **argv)
{
    (void)argc; (void)argv;
    return 42;
}

Test(posix_run, returns_app_main_value)
{
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_value, 0, NULL), 42);
}

Test(posix_run, refuses_bad_descriptors)
{
    cr_assert_eq(uarea_posix_run(NULL, NULL, 0, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = NOC_NODES_MAX + 1}, app_value, 0,
                                 NULL), UAREA_EBADNODE);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .containers = 3}, app_value, 0,
                                 NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .cores = UAREA_CORES_MAX + 1},
                                 app_value, 0, NULL), UAREA_EINVAL);
    cr_assert_eq(migrate_to(1), UAREA_ENOTUSER, "not a container thread");
    cr_assert_null(uarea_malloc(16));
}

static int app_errors(int argc, char **argv)
{
    (void)argc; (void)argv;
    errors[0] = migrate_to(noc_node_self());
    errors[1] = migrate_to(7);
    errors[2] = migrate_to(-1);
    /* node 2 is killed; a move there fails and the container stays */
    kill((pid_t)uarea_posix_node_pid(2), SIGKILL);
    errors[3] = migrate_to(2);
    errors[4] = noc_node_self();
    errors[5] = migrate_to(1);     /* a live node still works */
    errors[6] = noc_node_self();
    if (errors[0] != UAREA_ESAMENODE) return 10;
    if (errors[1] != UAREA_EBADNODE || errors[2] != UAREA_EBADNODE) return 11;
    if (errors[3] != UAREA_EPEERGONE && errors[3] != UAREA_ETIMEDOUT &&
        errors[3] != UAREA_EABORTED)
        return 12;
    if (errors[4] != 0) return 13;
    if (errors[5] != 0 || errors[6] != 1) return 14;
    return 0;
}

Test(posix_run, dead_destination_leaves_container_running, .timeout = 60)
{
    uarea_posix_desc d = {.nodes = 3, .timeout_ns = 200000000};
    int rc = uarea_posix_run(&d, app_errors, 0, NULL);
    cr_assert_eq(rc, 0, "app_main returned %d (%s)", rc, rc < 0 ? uarea_strerror(rc) : "step");
}

static int app_dies(int argc, char **argv)
{
    (void)argc; (void)argv;
    hops = migrate_to(1);
    if (hops != 0) return 1;
    kill(getpid(), SIGKILL);      /* the node holding the container dies */
    for (;;) uarea_thread_yield();
}

Test(posix_run, dead_holder_loses_the_container, .timeout = 60)
{
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_dies, 0, NULL),
                 UAREA_EPEERGONE);
}

/* A thread that never yields must not hold a freeze off: the port preempts
 * it at a safe point (it spins in the program's own code). */
static UAREA_USER volatile int spin_stop;
static UAREA_USER volatile unsigned long spins;

static void *spinner(void *arg)
{
    (void)arg;
    while (!spin_stop) spins++;
    return NULL;
}

static int app_spinner(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc; (void)argv;
    if (uarea_thread_create(&t, spinner, NULL) != 0) return 1;
    while (spins < 100000) uarea_thread_yield();
    if (migrate_to(1) != 0) return 2;        /* freezes the spinner too */
    if (noc_node_self() != 1) return 3;
    unsigned long before = spins;
    while (spins == before) uarea_thread_yield();  /* it runs on here */
    spin_stop = 1;
    if (uarea_thread_join(t, NULL) != 0) return 4;
    return 0;
}

Test(posix_run, spinning_thread_is_preempted_for_a_freeze, .timeout = 60)
{
    /* one core: without preemption the spinner would never let thread 0 run */
    uarea_posix_desc d = {.nodes = 2, .cores = 1, .timeout_ns = 2000000000};
    cr_assert_eq(uarea_posix_run(&d, app_spinner, 0, NULL), 0);
}
