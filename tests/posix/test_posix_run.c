/* The POSIX runtime: app_main's value, migrate_to's errors, a dead
 * destination (the container runs on where it was), a dead holder (the run
 * reports the container lost, and which node), migrate_to outside a
 * container. The runtime's faults and misuses: test_posix_faults.c. */
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

/* A run inside a run is refused: its nodes would fork copies of this node. */
static int app_nested(int argc, char **argv)
{
    (void)argc; (void)argv;
    return uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_value, 0, NULL) ==
                   UAREA_ESTATE ? 0 : 1;
}

Test(posix_run, nested_run_is_refused)
{
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_nested, 0, NULL), 0);
    /* and the refusal left nothing behind: the next run works */
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_value, 0, NULL), 42);
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
    long victim = uarea_posix_node_pid(2);
    if (victim <= 0) return 15;
    kill((pid_t)victim, SIGKILL);
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
    uarea_posix_desc d = {.nodes = 3};
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
    uarea_posix_report rep;
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .report = &rep}, app_dies, 0, NULL),
                 UAREA_ELOST);
    cr_assert_eq(rep.lost_container, 0);
    cr_assert_eq(rep.lost_node, 1, "the node that held it");
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_KILLED);
    cr_assert_eq(rep.node[1].code, SIGKILL);
    cr_assert_eq(rep.node[1].container, 0);
    cr_assert_eq(rep.node[0].end, UAREA_POSIX_END_CLEAN);
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

/* The preemption handler's own code is never a safe point: a tick that
 * lands there (between its leaving the critical section and the kernel
 * taking its frame back) must not move the thread, or it returns through a
 * frame written on the core it left (on RISC-V with that core thread's tp).
 * The handler is called directly with an interrupted address inside itself,
 * then inside this program, the real tick blocked meanwhile: only the second
 * gives the core to the other thread. */
static volatile unsigned long other_ran;
static volatile int other_stop;

static void *other_thread(void *arg)
{
    (void)arg;
    while (!other_stop) {
        other_ran++;
        uarea_thread_yield();
    }
    return NULL;
}

static void set_pc(ucontext_t *uc, uintptr_t pc)
{
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
#elif defined(__aarch64__)
    uc->uc_mcontext.pc = pc;
#elif defined(__riscv)
    uc->uc_mcontext.__gregs[REG_PC] = pc;
#endif
}

static unsigned long ran_after_tick_at(uintptr_t pc)
{
    ucontext_t uc;
    unsigned long before = other_ran;
    memset(&uc, 0, sizeof uc);
    set_pc(&uc, pc);
    uarea__posix_preempt(UAREA_POSIX_PREEMPT_SIG, NULL, &uc);
    return other_ran - before;
}

static int app_handler_pc(int argc, char **argv)
{
    uarea_tid_t t;
    sigset_t tick, old;
    unsigned long in_handler, in_stub = 0, in_program;
    (void)argc; (void)argv;
    sigemptyset(&tick);
    sigaddset(&tick, UAREA_POSIX_PREEMPT_SIG);
    if (uarea_thread_create(&t, other_thread, NULL) != 0) return 2;
    pthread_sigmask(SIG_BLOCK, &tick, &old);
    uarea_thread_yield();                        /* the other thread starts */
    in_handler = ran_after_tick_at((uintptr_t)uarea__posix_preempt + 8);
#ifdef UAREA__POSIX_OWN_RESTORER
    in_stub = ran_after_tick_at((uintptr_t)uarea__posix_sigreturn);
#endif
    in_program = ran_after_tick_at((uintptr_t)app_handler_pc + 8);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    other_stop = 1;
    if (uarea_thread_join(t, NULL) != 0) return 3;
    if (in_handler != 0) return 4;
    if (in_stub != 0) return 5;
    if (in_program == 0) return 6;
    return 0;
}

Test(posix_run, a_tick_in_the_handlers_own_code_is_not_a_safe_point, .timeout = 60)
{
    uarea_posix_desc d = {.nodes = 2, .cores = 1};
    cr_assert_eq(uarea_posix_run(&d, app_handler_pc, 0, NULL), 0);
}

/* desc.scheduler: node 0's master may look where containers are and move
 * them; every bad request gets its own error. */
struct sched_log {
    int calls, bad_container, bad_node, same_node, busy_node, moved, result;
};
static struct sched_log *slog;   /* MAP_SHARED: written in node 0's process */

static void sched_move_container(void *arg)
{
    (void)arg;
    if (slog->calls++ == 0) {
        slog->bad_container = uarea_posix_move(7, 1);
        slog->bad_node = uarea_posix_move(0, 9);
        slog->same_node = uarea_posix_move(0, uarea_posix_where(0));
        slog->busy_node = uarea_posix_move(0, uarea_posix_where(1));
        slog->result = uarea_posix_move_result();     /* none asked yet */
        slog->moved = uarea_posix_move(0, 2);
        return;
    }
    int rc = uarea_posix_move_result();
    if (rc != UAREA_EAGAIN && slog->result == UAREA_ESTATE) slog->result = rc;
}

static int app_until_moved(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (uarea_posix_container() == 1) return 0;       /* the other container just ends */
    if (uarea_posix_move(0, 1) != UAREA_ESTATE) return 10;  /* not the scheduler */
    if (uarea_posix_where(2) != UAREA_EINVAL) return 11;    /* no container 2 */
    while (noc_node_self() != 2) uarea_thread_yield();
    /* the scheduler hears the outcome at its next call */
    while (__atomic_load_n(&slog->result, __ATOMIC_ACQUIRE) == UAREA_ESTATE) uarea_thread_yield();
    return uarea_posix_where(0) == 2 ? 0 : 12;
}

Test(posix_run, scheduler_moves_a_container, .timeout = 60)
{
    slog = mmap(NULL, sizeof *slog, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(slog, MAP_FAILED);
    memset(slog, 0, sizeof *slog);
    uarea_posix_desc d = {.nodes = 3, .containers = 2, .scheduler = sched_move_container,
                          .scheduler_period_ns = 2000000};
    int rc = uarea_posix_run(&d, app_until_moved, 0, NULL);
    cr_assert_eq(rc, 0, "run: %d", rc);
    cr_assert_gt(slog->calls, 1);
    cr_assert_eq(slog->bad_container, UAREA_EINVAL);
    cr_assert_eq(slog->bad_node, UAREA_EBADNODE);
    cr_assert_eq(slog->same_node, UAREA_ESAMENODE);
    cr_assert_eq(slog->busy_node, UAREA_EBUSY);
    cr_assert_eq(slog->moved, 0);
    cr_assert_eq(slog->result, 0, "move result: %s", uarea_strerror(slog->result));
    cr_assert_eq(uarea_posix_where(0), UAREA_ESTATE, "no run any more");
    munmap(slog, sizeof *slog);
}

/* Many migrate_to calls in a row, each checked where it lands: 0 means the
 * thread runs on the destination, an error means it still runs where it was;
 * a call being posted must never take the previous migration's result for
 * its own. On a loaded host a migration may time out and abort: that is an
 * honest answer too, but most must go through. */
static int app_ping_pong(int argc, char **argv)
{
    int moved = 0;
    (void)argc; (void)argv;
    for (int i = 0; i < 200; i++) {
        int from = noc_node_self(), to = from == 0 ? 1 : 0;
        int rc = migrate_to(to);
        if (rc == 0 && noc_node_self() != to) return 1;         /* said moved, did not */
        if (rc != 0 && noc_node_self() != from) return 2;       /* said failed, moved */
        if (rc != 0 && rc != UAREA_ETIMEDOUT && rc != UAREA_EABORTED) return 1000 * -rc + i;
        moved += rc == 0;
    }
    return moved >= 150 ? 0 : 3;
}

Test(posix_run, every_migrate_to_lands_where_it_said, .timeout = 120)
{
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 5000000000};
    int rc = uarea_posix_run(&d, app_ping_pong, 0, NULL);
    cr_assert_eq(rc, 0, "run: %d (%s)", rc,
                 rc == 1 ? "a call said it moved and did not" :
                 rc == 2 ? "a call said it failed and moved" :
                 rc == 3 ? "fewer than 150 of 200 moves went through" :
                 rc >= 1000 ? uarea_strerror(-(rc / 1000)) : "?");
}
