/* migrate_to as a system call (include/migrate/syscall.h), with the
 * loopback transport, in one process and one thread: the test is core 0 and
 * the node's master is a hook of its port (syscall_port.h) that a waiting
 * call runs. A call the daemon cannot start is answered with its
 * error; a held container's call gets UAREA_EBUSY; a core's board takes one
 * call at a time; a call that came with an arriving container is answered
 * with 0 there, and a call still being posted is not answered from the last
 * migration's result. */
#define UAREA_PORT_HEADER "syscall_port.h"
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <noc/loopback.h>
#include <migrate/syscall.h>
#include <criterion/criterion.h>
#include <string.h>

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static unsigned char block[65536];
static noc_loopback lb;
static noc_transport t[2];
static migrate_node node;
static struct uarea *ua;

#define NOT_YET 12345
static volatile int rc_a = NOT_YET, rc_b = NOT_YET;

/* The master's turn: serve the boards; a test may add its own part. */
static void (*extra)(void);
void syscall_test_master(void)
{
    if (ua == NULL) return;
    (void)migrate_node_serve(&node, 0);
    if (extra != NULL) extra();
}

static void setup(void)
{
    migrate_node_desc d;
    uarea_tid_t tid;
    (void)tid;
    cr_assert_eq(noc_loopback_init(&lb, &(noc_loopback_desc){.nodes = 2}), 0);
    for (int i = 0; i < 2; i++) cr_assert_eq(noc_loopback_transport(&lb, i, &t[i]), 0);
    memset(&d, 0, sizeof d);
    d.t = &t[0];
    d.region = region;
    d.region_size = sizeof region;
    d.binary_fp = 7;
    d.block = block;
    d.block_size = sizeof block;
    cr_assert_eq(migrate_node_init(&node, &d), 0);
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(migrate_node_adopt(&node), 0);
    rc_a = rc_b = NOT_YET;
    extra = NULL;
}

static void *call_to(void *arg)
{
    rc_a = migrate_to((int)(intptr_t)arg);
    return NULL;
}

/* Run the container's threads on this core, the master taking its turn
 * after each step (a caller waits off the core, as on a real port, where
 * the master runs beside the cores). */
static void rounds(int n)
{
    for (int i = 0; i < n; i++) {
        (void)uarea_core_step(ua);
        syscall_test_master();
    }
}

TestSuite(syscall, .init = setup);

Test(syscall, outside_a_container_thread)
{
    cr_assert_eq(migrate_to(1), UAREA_ENOTUSER);
    cr_assert_eq(kmigrate_to(1), UAREA_ENOTUSER);
    cr_assert_eq(migrate_syscall(0, 0), UAREA_EINVAL);
    cr_assert_eq(migrate_node_serve(NULL, 0), UAREA_EINVAL);
}

Test(syscall, a_call_the_daemon_cannot_start_gets_its_error)
{
    uarea_tid_t tid;
    cr_assert_eq(uarea_create(ua, &tid, call_to, (void *)(intptr_t)7), 0);
    rounds(4);
    cr_assert_eq(rc_a, UAREA_EBADNODE);
    cr_assert_eq(uarea_create(ua, &tid, call_to, (void *)(intptr_t)0), 0);
    rounds(4);
    cr_assert_eq(rc_a, UAREA_ESAMENODE);
    cr_assert_eq(uarea_board(ua, 0)->number, 0u, "the board is free again");
}

Test(syscall, a_held_container_answers_ebusy)
{
    uarea_tid_t tid;
    cr_assert_eq(migrate_node_hold(&node, 1), 0);
    cr_assert_eq(uarea_create(ua, &tid, call_to, (void *)(intptr_t)1), 0);
    rounds(4);
    cr_assert_eq(rc_a, UAREA_EBUSY);
    cr_assert_eq(migrate_daemon_busy(&node.d), 0, "no migration started");
}

#define SYS_OWN 0x4f574e00u
static void *own_call(void *arg)
{
    (void)arg;
    rc_a = migrate_syscall(SYS_OWN, 3);
    return NULL;
}
static void *second_call(void *arg)
{
    rc_b = migrate_to((int)(intptr_t)arg);
    return NULL;
}

/* The port answers its own call once the second call got its answer. */
static void answer_own(void)
{
    struct uarea_board *bd = uarea_board(ua, 0);
    if (rc_b == NOT_YET || bd->number != SYS_OWN) return;
    cr_assert_eq(bd->pending, 1u, "not taken: the port serves its own numbers");
    cr_assert_eq(bd->args[0], 3u);
    __atomic_store_n(&bd->pending, 0u, __ATOMIC_RELEASE);
    cr_assert_eq(uarea_call_answer(ua, bd, 9), 0);
}

Test(syscall, one_call_at_a_time_per_board_and_the_ports_own_numbers_are_left_to_it)
{
    uarea_tid_t a, b;
    extra = answer_own;
    cr_assert_eq(uarea_create(ua, &a, own_call, NULL), 0);
    cr_assert_eq(uarea_create(ua, &b, second_call, (void *)(intptr_t)1), 0);
    rounds(6);
    cr_assert_eq(rc_b, UAREA_EBUSY, "the core's board was taken");
    cr_assert_eq(rc_a, 9);
    cr_assert_eq(uarea_board(ua, 0)->number, 0u);
}

Test(syscall, a_call_that_arrived_with_the_container_returns_0_there)
{
    struct uarea_board *bd = uarea_board(ua, 1);
    /* as a call taken on the source looks when its container arrives */
    bd->number = MIGRATE_SYS_MIGRATE;
    bd->pending = 0;
    bd->ret = UAREA_EAGAIN;
    cr_assert_eq(migrate_node_serve(&node, 0), 0, "not taken here, not arrived: left alone");
    cr_assert_eq(bd->ret, UAREA_EAGAIN);
    cr_assert_eq(migrate_node_serve(&node, 1), 1);
    cr_assert_eq(bd->ret, 0);
}

static volatile int ticks;
static void *ticker(void *arg)
{
    (void)arg;
    while (ticks < 50) {
        ticks++;
        (void)uarea_thread_yield();
    }
    return NULL;
}

/* The caller waits for the master's answer off its core: the core runs the
 * container's other threads meanwhile, and a freeze finds the caller
 * parked (no step of the core is needed for it). */
Test(syscall, a_caller_waits_off_its_core)
{
    uarea_tid_t a, b;
    uint32_t waits = uarea_call_waits();
    int calling = 0;
    ticks = 0;
    cr_assert_eq(uarea_create(ua, &a, call_to, (void *)(intptr_t)1), 0);
    cr_assert_eq(uarea_create(ua, &b, ticker, NULL), 0);
    rounds(3);
    cr_assert(migrate_daemon_busy(&node.d), "the migration started");
    cr_assert_eq(rc_a, NOT_YET, "the call waits for the migration");
    cr_assert_eq(ticks, 50, "the other thread ran while the call waited");
    for (int i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].state == UAREA_THREAD_CALL) {
            calling++;
            cr_assert_eq(ua->threads[i].call, 1u, "waits on board 0");
        }
    cr_assert_eq(calling, 1);
    cr_assert_eq(uarea_call_waits(), waits + 1);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert(uarea_frozen(ua), "the waiting caller is parked");
    cr_assert_eq(uarea_unfreeze(ua), 0);
    /* answered: ready again, and its call returns the answer */
    cr_assert_eq(uarea_call_answer(ua, uarea_board(ua, 0), UAREA_EABORTED), 0);
    rounds(2);
    cr_assert_eq(rc_a, UAREA_EABORTED);
    cr_assert_eq(uarea_call_answer(NULL, uarea_board(ua, 0), 0), UAREA_EINVAL);
    cr_assert_eq(uarea_call_answer(ua, (struct uarea_board *)(void *)ua, 0), UAREA_EINVAL);
    cr_assert_eq(uarea_call_wait(uarea_board(ua, 0)), UAREA_ENOTUSER, "not a container thread");
}

/* At an arrival the master answers the calls that came with the container
 * (taken by the source's master: pending 0, no answer yet), never a call
 * posted here meanwhile (pending 1), nor a board without a call or with its
 * answer: uarea_call_settle checks under the UArea lock, where a post is
 * never seen half done (uarea_call_post). */
Test(syscall, an_arrival_settles_only_the_calls_that_came_with_it)
{
    struct uarea_board *bd = uarea_board(ua, 2);
    bd->number = MIGRATE_SYS_MIGRATE;
    bd->pending = 1;                       /* posted here, not taken yet */
    bd->ret = UAREA_EAGAIN;
    cr_assert_eq(uarea_call_settle(ua, bd, MIGRATE_SYS_MIGRATE, 0), 0);
    cr_assert_eq(bd->ret, UAREA_EAGAIN, "left for the master to take");
    bd->pending = 0;                       /* taken on the source: came with it */
    cr_assert_eq(uarea_call_settle(ua, bd, SYS_OWN, 0), 0, "another number");
    cr_assert_eq(uarea_call_settle(ua, bd, MIGRATE_SYS_MIGRATE, 0), 1);
    cr_assert_eq(bd->ret, 0);
    cr_assert_eq(uarea_call_settle(ua, bd, MIGRATE_SYS_MIGRATE, 0), 0, "answered already");
    bd->number = 0;
    cr_assert_eq(uarea_call_settle(ua, bd, MIGRATE_SYS_MIGRATE, 0), 0, "no call");
    cr_assert_eq(uarea_call_settle(NULL, bd, MIGRATE_SYS_MIGRATE, 0), UAREA_EINVAL);
    int err = 0;
    cr_assert_null(uarea_call_post(MIGRATE_SYS_MIGRATE, 1, &err));
    cr_assert_eq(err, UAREA_ENOTUSER, "not a container thread");
}
