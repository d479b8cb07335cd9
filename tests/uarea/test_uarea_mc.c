/* Threads on K cores: K POSIX threads run uarea_core_run() on one container
 * (tests/uarea/port_pthread.h). A many-thread stress (nested creates, joins
 * across cores, yields) for K = 2, 3, 4, and a freeze while threads run on
 * every core: all cores park, nothing moves while frozen, and the threads
 * continue after the unfreeze; a thread that is no core cannot run threads.
 * Not run under TSan, where Criterion cannot start: test_uarea_smoke covers
 * the same ground there (tests/uarea/CMakeLists.txt). */
#define UAREA_PORT_HEADER "port_pthread.h"
/* Criterion's assertions run inside container threads here; with ASan or
 * TSan their frames outgrow the 8 KiB default stack (the overflow check
 * does catch it), so these tests give threads 64 KiB. */
#define UAREA_STACK_SIZE 65536u
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static struct uarea *ua;

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

struct core { pthread_t th; unsigned id; int rc; };
static struct core cores[8];
static unsigned ncores;

static void *core_main(void *p)
{
    struct core *c = p;
    uarea_test_core_id = c->id;
    c->rc = uarea_core_run(ua);
    return NULL;
}

static void start_cores(unsigned k)
{
    ncores = k;
    uarea_test_ncores = k;
    for (unsigned i = 0; i < k; i++) {
        cores[i].id = i;
        cores[i].rc = 1;
        cr_assert_eq(pthread_create(&cores[i].th, NULL, core_main, &cores[i]), 0);
    }
}

static void join_cores(void)
{
    for (unsigned i = 0; i < ncores; i++) {
        cr_assert_eq(pthread_join(cores[i].th, NULL), 0);
        cr_assert_eq(cores[i].rc, 0, "core %u: %d", i, cores[i].rc);
    }
}

/* ---- stress ---- */
#define WORKERS 8
#define ROUNDS 12
#define STEPS 40

static void *leaf(void *arg)
{
    intptr_t x = I(arg), acc = 0;
    for (int i = 0; i < STEPS; i++) {
        acc += x + i;
        if (i % 3 == 0) cr_assert_eq(uarea_thread_yield(), 0);
    }
    return V(acc);
}

static void *worker(void *arg)
{
    intptr_t x = I(arg), acc = 0;
    uarea_tid_t child;
    void *r;
    cr_assert_eq(uarea_thread_create(&child, leaf, V(x * 7)), 0);
    for (int i = 0; i < STEPS; i++) {
        acc += x * i;
        cr_assert_eq(uarea_thread_yield(), 0);
    }
    cr_assert_eq(uarea_thread_join(child, &r), 0);
    return V(acc + I(r));
}

static intptr_t expect_leaf(intptr_t x)
{
    intptr_t acc = 0;
    for (int i = 0; i < STEPS; i++) acc += x + i;
    return acc;
}

static intptr_t expect_worker(intptr_t x)
{
    intptr_t acc = 0;
    for (int i = 0; i < STEPS; i++) acc += x * i;
    return acc + expect_leaf(x * 7);
}

static void *stress_main(void *arg)
{
    uarea_tid_t t[WORKERS];
    void *r;
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < WORKERS; i++)
            cr_assert_eq(uarea_thread_create(&t[i], worker, V(round * 100 + i)), 0);
        for (int i = 0; i < WORKERS; i++) {
            cr_assert_eq(uarea_thread_join(t[i], &r), 0);
            cr_assert_eq(I(r), expect_worker(round * 100 + i), "round %d worker %d", round, i);
        }
    }
    return V(uarea_thread_self() == 0 ? 1 : 0);
}

static void stress(unsigned k)
{
    uarea_tid_t t0;
    void *r = NULL;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, stress_main, NULL), 0);
    start_cores(k);
    join_cores();
    cr_assert_eq(uarea_threads_active(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t0, &r), 0);
    cr_assert_eq(I(r), 1);
    cr_assert_eq(ua->created, 1u + ROUNDS * WORKERS * 2u);
    cr_assert_eq(ua->running, 0u);
    cr_assert_eq(ua->lock, 0u);
}

Test(uarea_mc, stress_2_cores) { stress(2); }
Test(uarea_mc, stress_3_cores) { stress(3); }
Test(uarea_mc, stress_4_cores) { stress(4); }

/* ---- freeze on K cores ---- */
#define SPINNERS 6
static long counts[SPINNERS];   /* plain: only the freeze orders the accesses */
static long progress;           /* atomic: the host polls it */
static int stop;                /* atomic */

static void *spinner(void *arg)
{
    long *mine = arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        (*mine)++;
        __atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
        uarea_thread_yield();
    }
    return V(*mine);
}

static void *freeze_main(void *arg)
{
    uarea_tid_t t[SPINNERS];
    void *r;
    intptr_t sum = 0;
    (void)arg;
    for (int i = 0; i < SPINNERS; i++) cr_assert_eq(uarea_thread_create(&t[i], spinner, &counts[i]), 0);
    for (int i = 0; i < SPINNERS; i++) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        sum += I(r);
    }
    return V(sum);
}

static uint64_t now_ns(void) { return uarea_test_clock_ns(); }

static void wait_progress(long more)
{
    long start = __atomic_load_n(&progress, __ATOMIC_RELAXED);
    uint64_t deadline = now_ns() + 20ull * 1000000000ull;
    while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < start + more) {
        cr_assert_lt(now_ns(), deadline, "no progress");
        sched_yield();
    }
}

static void freeze_on(unsigned k)
{
    uarea_tid_t t0;
    long snap[SPINNERS];
    void *r = NULL;
    uint64_t deadline;
    intptr_t total = 0;
    memset(counts, 0, sizeof counts);
    progress = 0;
    stop = 0;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, freeze_main, NULL), 0);
    start_cores(k);
    for (int round = 0; round < 3; round++) {
        wait_progress(200);
        cr_assert_eq(uarea_freeze(ua), 0);
        deadline = now_ns() + 20ull * 1000000000ull;
        while (!uarea_frozen(ua)) {
            cr_assert_lt(now_ns(), deadline, "freeze did not complete");
            sched_yield();
        }
        memcpy(snap, counts, sizeof snap);
        for (int i = 0; i < 200; i++) sched_yield();   /* give parked cores every chance */
        cr_assert(uarea_frozen(ua));
        cr_assert_eq(memcmp(snap, counts, sizeof snap), 0, "a thread ran while frozen");
        cr_assert_eq(uarea_threads_active(ua), SPINNERS + 1);
        cr_assert_eq(uarea_unfreeze(ua), 0);
    }
    wait_progress(200);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    join_cores();
    cr_assert_eq(uarea_try_join(ua, t0, &r), 0);
    for (int i = 0; i < SPINNERS; i++) total += counts[i];
    cr_assert_eq(I(r), total);
    cr_assert_geq(total, 800);
}

Test(uarea_mc, freeze_2_cores) { freeze_on(2); }
Test(uarea_mc, freeze_4_cores) { freeze_on(4); }

/* ---- a thread that is no core cannot run the container ---- */
static void *plus_one(void *arg) { return V(I(arg) + 1); }

Test(uarea_mc, a_thread_that_is_no_core_cannot_run_threads)
{
    uarea_tid_t t;
    void *r = NULL;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t, plus_one, V(41)), 0);
    uarea_test_ncores = 2;
    uarea_test_core_id = UINT_MAX;               /* the test's own thread */
    cr_assert_eq(uarea_core_run(ua), UAREA_EINVAL);
    cr_assert_eq(uarea_core_step(ua), UAREA_EINVAL);
    uarea_test_core_id = 2;                      /* past the port's core count */
    cr_assert_eq(uarea_core_run(ua), UAREA_EINVAL);
    uarea_test_core_id = UINT_MAX;
    cr_assert_eq(uarea_threads_active(ua), 1, "the thread is still there, not run");
    cr_assert_eq(uarea_try_join(ua, t, &r), UAREA_EAGAIN);
    start_cores(2);
    join_cores();
    cr_assert_eq(uarea_try_join(ua, t, &r), 0);
    cr_assert_eq(I(r), 42);
}
