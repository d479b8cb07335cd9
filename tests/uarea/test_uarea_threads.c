/* Threads on one core (the null port): lifecycle, exit values, every error
 * of create/join/self/yield, round-robin fairness of yield, the exit ring,
 * yields at any call depth, each thread's rounding mode (x86_64),
 * stack overflow detection, freeze safe points, release, a restore of a
 * frozen container at the same address, and a move to another process. */
#define _POSIX_C_SOURCE 200809L
/* Criterion's assertions run inside container threads here; with ASan or
 * TSan their frames outgrow the 8 KiB default stack (the overflow check
 * does catch it), so these tests give threads 64 KiB. */
#define UAREA_STACK_SIZE 65536u
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <criterion/criterion.h>
#include <fenv.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#  include <xmmintrin.h>
#endif

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static _Alignas(4096) unsigned char saved[UAREA_CONTAINER_SIZE];
static const unsigned char zeros[UAREA_CONTAINER_SIZE];
static struct uarea *ua;

#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define NO_ASAN __attribute__((no_sanitize("address")))
#  endif
#endif
#if !defined(NO_ASAN) && defined(__SANITIZE_ADDRESS__)
#  define NO_ASAN __attribute__((no_sanitize("address")))
#endif
#ifndef NO_ASAN
#  define NO_ASAN
#endif

/* A copy ASan does not check: parked threads' stacks hold poisoned red zones
 * of their live frames (an image writer needs the same). */
NO_ASAN static void raw_copy(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((int)(intptr_t)(p))

/* Run fn as thread 0 of a fresh container until every thread is gone;
 * return thread 0's exit value. */
static intptr_t run_main(void *(*fn)(void *), void *arg)
{
    uarea_tid_t t0;
    void *ret = NULL;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, fn, arg), 0);
    cr_assert_eq(t0, 0);
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_threads_active(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t0, &ret), 0);
    return (intptr_t)ret;
}

/* ---- lifecycle and exit values ---- */
static void *times_ten(void *arg) { return V(I(arg) * 10); }

static void *main_create_join(void *arg)
{
    uarea_tid_t t[5];
    void *r;
    int sum = 0;
    (void)arg;
    for (int i = 0; i < 5; i++) cr_assert_eq(uarea_thread_create(&t[i], times_ten, V(i + 1)), 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(t[i], i + 1, "ids grow from 1 after thread 0");
    for (int i = 4; i >= 0; i--) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        cr_assert_eq(I(r), (i + 1) * 10);
        sum += I(r);
    }
    return V(sum);
}

Test(uarea_threads, create_join_exit_values)
{
    cr_assert_eq(run_main(main_create_join, NULL), 150);
}

static void deep_exit(int depth)
{
    if (depth < 0) return;
    if (depth == 0) uarea_thread_exit(V(77));
    deep_exit(depth - 1);
}

static void *exits_from_depth(void *arg)
{
    deep_exit(I(arg));
    return V(1);   /* not reached */
}

static void *main_exit_call(void *arg)
{
    uarea_tid_t t;
    void *r = NULL;
    (void)arg;
    cr_assert_eq(uarea_thread_create(&t, exits_from_depth, V(10)), 0);
    cr_assert_eq(uarea_thread_join(t, &r), 0);
    cr_assert_eq(I(r), 77);
    cr_assert_eq(uarea_thread_join(t, NULL), UAREA_EJOINED);
    uarea_thread_exit(V(5));
}

Test(uarea_threads, exit_from_nested_call_and_from_thread_0)
{
    cr_assert_eq(run_main(main_exit_call, NULL), 5);
}

static void *report_self(void *arg)
{
    (void)arg;
    return V(uarea_thread_self());
}

static void *main_self(void *arg)
{
    uarea_tid_t t;
    void *r;
    (void)arg;
    cr_assert_eq(uarea_thread_self(), 0);
    cr_assert_eq(uarea_current(), ua);
    cr_assert_eq(uarea_thread_create(&t, report_self, NULL), 0);
    cr_assert_eq(uarea_thread_join(t, &r), 0);
    cr_assert_eq(I(r), t);
    return NULL;
}

Test(uarea_threads, self_names_the_caller)
{
    run_main(main_self, NULL);
}

/* Exit values wait in the ring until joined, in any order. */
static void *main_exit_ring(void *arg)
{
    uarea_tid_t t[6];
    void *r;
    (void)arg;
    for (int i = 0; i < 6; i++) cr_assert_eq(uarea_thread_create(&t[i], times_ten, V(i)), 0);
    cr_assert_eq(uarea_thread_yield(), 0);        /* all six run and exit */
    cr_assert_eq(ua->exit_count, 6);
    cr_assert_eq(uarea_threads_active(ua), 1);
    for (int i = 0; i < 6; i++) {
        int k = (i * 5) % 6;                       /* 0 5 4 3 2 1 */
        cr_assert_eq(uarea_thread_join(t[k], &r), 0);
        cr_assert_eq(I(r), k * 10);
    }
    cr_assert_eq(ua->exit_count, 0);
    return NULL;
}

Test(uarea_threads, exit_ring_joins_in_any_order)
{
    run_main(main_exit_ring, NULL);
}

/* ---- errors ---- */
static void *yield_then_return(void *arg)
{
    uarea_thread_yield();
    return arg;
}

static void *join_target(void *arg)
{
    void *r = V(-1);
    int rc = uarea_thread_join((uarea_tid_t)I(arg), &r);
    return V(rc);
}

static void *main_join_errors(void *arg)
{
    uarea_tid_t a, b;
    void *r = V(123);
    (void)arg;
    cr_assert_eq(uarea_thread_join(0, &r), UAREA_EDEADLK, "joining oneself");
    cr_assert_eq(uarea_thread_join(99, &r), UAREA_ENOTHREAD, "an id never handed out");
    cr_assert_eq(uarea_thread_join(-3, &r), UAREA_ENOTHREAD);
    cr_assert_eq(I(r), 123, "failed joins leave *retval alone");
    cr_assert_eq(uarea_thread_create(&a, yield_then_return, V(8)), 0);
    /* b joins a first; then our join of a is the second */
    cr_assert_eq(uarea_thread_create(&b, join_target, V(a)), 0);
    cr_assert_eq(uarea_thread_yield(), 0);           /* a yields, b blocks in join(a) */
    cr_assert_eq(uarea_thread_join(a, &r), UAREA_EJOINED, "a is being joined by b");
    cr_assert_eq(uarea_thread_join(b, &r), 0);
    cr_assert_eq(I(r), 0, "b's join succeeded");
    cr_assert_eq(uarea_thread_join(a, &r), UAREA_EJOINED, "a was joined already");
    cr_assert_eq(uarea_thread_join(b, &r), UAREA_EJOINED);
    return NULL;
}

Test(uarea_threads, join_errors)
{
    run_main(main_join_errors, NULL);
}

static void *join_main(void *arg)
{
    (void)arg;
    return V(uarea_thread_join(0, NULL));  /* thread 0 joins us: a cycle */
}

static void *main_join_cycle(void *arg)
{
    uarea_tid_t t;
    void *r;
    (void)arg;
    cr_assert_eq(uarea_thread_create(&t, join_main, NULL), 0);
    cr_assert_eq(uarea_thread_join(t, &r), 0);
    cr_assert_eq(I(r), UAREA_EDEADLK, "t joined 0 while 0 joined t");
    return NULL;
}

Test(uarea_threads, join_cycle_is_a_deadlock)
{
    run_main(main_join_cycle, NULL);
}

static void *main_too_many(void *arg)
{
    uarea_tid_t t[UAREA_THREADS_MAX], extra = -7;
    void *r;
    int i;
    (void)arg;
    for (i = 1; i < UAREA_THREADS_MAX; i++)
        cr_assert_eq(uarea_thread_create(&t[i], yield_then_return, V(i)), 0);
    cr_assert_eq(uarea_thread_create(&extra, yield_then_return, NULL), UAREA_ETHREADS);
    cr_assert_eq(extra, -7, "a failed create leaves *tid alone");
    cr_assert_eq(uarea_threads_active(ua), UAREA_THREADS_MAX);
    /* exited but unjoined threads still count */
    cr_assert_eq(uarea_thread_yield(), 0);
    cr_assert_eq(uarea_thread_yield(), 0);
    cr_assert_eq(uarea_threads_active(ua), 1);
    cr_assert_eq(uarea_thread_create(&extra, yield_then_return, NULL), UAREA_ETHREADS);
    cr_assert_eq(uarea_thread_join(t[1], &r), 0);
    cr_assert_eq(uarea_thread_create(&extra, yield_then_return, V(50)), 0);
    cr_assert_eq(extra, UAREA_THREADS_MAX, "ids are not reused");
    for (i = 2; i < UAREA_THREADS_MAX; i++) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        cr_assert_eq(I(r), i);
    }
    cr_assert_eq(uarea_thread_join(extra, &r), 0);
    cr_assert_eq(I(r), 50);
    return NULL;
}

Test(uarea_threads, create_past_the_maximum)
{
    run_main(main_too_many, NULL);
}

static void *main_create_einval(void *arg)
{
    uarea_tid_t t;
    (void)arg;
    cr_assert_eq(uarea_thread_create(NULL, times_ten, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_thread_create(&t, NULL, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_create(NULL, &t, times_ten, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_threads_active(ua), 1);
    cr_assert_eq(ua->next_tid, 1, "refused creates take no id");
    return NULL;
}

Test(uarea_threads, create_bad_arguments)
{
    run_main(main_create_einval, NULL);
}

Test(uarea_threads, calls_outside_a_container_thread)
{
    uarea_tid_t t = 3;
    void *r = NULL;
    cr_assert_eq(uarea_thread_self(), UAREA_ENOTUSER);
    cr_assert_eq(uarea_thread_yield(), UAREA_ENOTUSER);
    cr_assert_eq(uarea_thread_join(0, &r), UAREA_ENOTUSER);
    cr_assert_eq(uarea_thread_create(&t, times_ten, NULL), UAREA_ENOTUSER);
    cr_assert_eq(t, 3);
    cr_assert_eq(uarea_core_run(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_core_step(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_try_join(NULL, 0, &r), UAREA_EINVAL);
    cr_assert_eq(uarea_freeze(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_unfreeze(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_release(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_threads_active(NULL), UAREA_EINVAL);
    cr_assert(!uarea_frozen(NULL));
    /* the host side of a container */
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_try_join(ua, 0, &r), UAREA_ENOTHREAD);
    cr_assert_eq(uarea_create(ua, &t, yield_then_return, V(4)), 0);
    cr_assert_eq(uarea_try_join(ua, t, &r), UAREA_EAGAIN, "not run yet");
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t, &r), 0);
    cr_assert_eq(I(r), 4);
    cr_assert_eq(uarea_try_join(ua, t, &r), UAREA_EJOINED);
    cr_assert_eq(uarea_core_run(ua), 0, "nothing left to run");
}

/* ---- fairness ---- */
#define ROUNDS 4
static int order[3 * ROUNDS + 8];
static int norder;

static void *logger(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        order[norder++] = I(arg);
        cr_assert_eq(uarea_thread_yield(), 0);
    }
    return NULL;
}

static void *main_fair(void *arg)
{
    uarea_tid_t t[3];
    (void)arg;
    for (int i = 0; i < 3; i++) cr_assert_eq(uarea_thread_create(&t[i], logger, V(i + 1)), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(uarea_thread_join(t[i], NULL), 0);
    return NULL;
}

Test(uarea_threads, yield_is_round_robin)
{
    norder = 0;
    run_main(main_fair, NULL);
    cr_assert_eq(norder, 3 * ROUNDS);
    for (int i = 0; i < 3 * ROUNDS; i++)
        cr_assert_eq(order[i], i % 3 + 1, "position %d: thread %d ran, expected %d", i, order[i],
                     i % 3 + 1);
}

static void *main_lone_yield(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) cr_assert_eq(uarea_thread_yield(), 0);
    return V(uarea_thread_self());
}

Test(uarea_threads, yield_alone_returns_at_once)
{
    cr_assert_eq(run_main(main_lone_yield, NULL), 0);
}

/* ---- a yield returns to its own caller, at any depth ----
 * Threads recurse to different depths and yield on the way down and up; the
 * result counts the levels that came back. On x86_64 a yield that switched
 * returns by an indirect jump (uarea__arch_jret_call), one that did not by
 * `ret`: the deepest thread ends alone, its last yields switch nothing. */
__attribute__((noinline)) static int descend(int d)
{
    int r;
    cr_assert_eq(uarea_thread_yield(), 0);
    if (d == 0) return 1;
    r = descend(d - 1);
    cr_assert_eq(uarea_thread_yield(), 0);
    return r + d;
}

static void *deep(void *arg) { return V(descend(I(arg))); }

static void *main_deep(void *arg)
{
    static const int depth[] = {0, 3, 17, 60};
    uarea_tid_t t[4];
    void *r;
    (void)arg;
    for (int i = 0; i < 4; i++) cr_assert_eq(uarea_thread_create(&t[i], deep, V(depth[i])), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        cr_assert_eq(I(r), 1 + depth[i] * (depth[i] + 1) / 2, "thread of depth %d", depth[i]);
    }
    return V(descend(5));
}

Test(uarea_threads, yield_returns_to_its_caller_at_any_depth)
{
    cr_assert_eq(run_main(main_deep, NULL), 16);
}

/* The body behind uarea_thread_yield says whether it switched (bit 32): the
 * x86_64 entry returns by an indirect jump exactly then. */
static void *nothing(void *arg) { return arg; }

static void *main_body(void *arg)
{
    uarea_tid_t t;
    (void)arg;
    cr_assert_eq(uarea__yield_body(), 0, "nothing else ready: no switch");
    cr_assert_eq(uarea_thread_create(&t, nothing, NULL), 0);
    cr_assert_eq(uarea__yield_body(), (uint64_t)1 << 32, "switched, resumed, UAREA_OK");
    cr_assert_eq(uarea_thread_join(t, NULL), 0);
    return NULL;
}

Test(uarea_threads, the_yield_body_tells_whether_it_switched)
{
    run_main(main_body, NULL);
    cr_assert_eq(uarea__yield_body(), (uint32_t)UAREA_ENOTUSER, "outside: the error, no switch");
}

#if defined(__x86_64__)
/* ---- the FP control state is each thread's own (x86_64: MXCSR, x87 CW) ----
 * Four threads, four rounding modes; one also flushes denormals to zero.
 * After every yield each checks that its division still rounds its way
 * (SSE, MXCSR), that fegetround() (the x87 control word, in glibc) says so,
 * and that its MXCSR control bits are intact. A thread each creates starts
 * with its creator's control state. */
static double divide(double a, double b)
{
    volatile double x = a, y = b;
    return x / y;
}

static void *child_control(void *arg)
{
    (void)arg;
    return V((int)(_mm_getcsr() & 0xffc0u) | fegetround() << 16);
}

static void *rounder(void *arg)
{
    static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    int k = I(arg), mode = modes[k & 3];
    double pos, neg;
    unsigned ctl;
    uarea_tid_t child;
    void *r = NULL;
    cr_assert_eq(fesetround(mode), 0);
    if (k == 4) _mm_setcsr(_mm_getcsr() | 0x8040u);   /* FTZ and DAZ */
    ctl = _mm_getcsr() & 0xffc0u;
    pos = divide(1.0, 3.0);
    neg = divide(-1.0, 3.0);
    /* a new thread starts with its creator's control state */
    cr_assert_eq(uarea_thread_create(&child, child_control, NULL), 0);
    cr_assert_eq(uarea_thread_join(child, &r), 0);
    cr_assert_eq(I(r), (int)ctl | mode << 16, "thread %d's child", k);
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(uarea_thread_yield(), 0);
        cr_assert_eq(_mm_getcsr() & 0xffc0u, ctl, "thread %d, yield %d", k, i);
        cr_assert_eq(fegetround(), mode, "thread %d, yield %d", k, i);
        cr_assert(divide(1.0, 3.0) == pos && divide(-1.0, 3.0) == neg, "thread %d, yield %d", k, i);
    }
    return V(k);
}

static void *main_rounding(void *arg)
{
    uarea_tid_t t[5];
    void *r;
    (void)arg;
    for (int i = 0; i < 5; i++) cr_assert_eq(uarea_thread_create(&t[i], rounder, V(i)), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        cr_assert_eq(I(r), i);
    }
    return NULL;
}

Test(uarea_threads, each_thread_keeps_its_rounding_mode)
{
    /* the modes differ where it shows: 1/3 rounds up or down, -1/3 too */
    cr_assert_eq(fesetround(FE_UPWARD), 0);
    double up = divide(1.0, 3.0), nup = divide(-1.0, 3.0);
    cr_assert_eq(fesetround(FE_TONEAREST), 0);
    cr_assert(up != divide(1.0, 3.0) || nup != divide(-1.0, 3.0));
    run_main(main_rounding, NULL);
    cr_assert_eq(fegetround(), FE_TONEAREST, "the core's own mode is back");
}
#endif

/* ---- stack overflow ---- */
static volatile int after_overflow;

static unsigned my_slot(void)
{
    unsigned i;
    for (i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].tid == uarea_thread_self()) return i;
    cr_assert_fail("no slot");
    return 0;
}

/* Writes below the stack's limit, where a runaway frame would, then yields. */
static void *overflow_then_yield(void *arg)
{
    unsigned char *lo = uarea_stack_base(ua, my_slot());
    memset(lo + I(arg), 0, 8);
    uarea_thread_yield();
    after_overflow = 1;   /* never: the thread was killed at the switch */
    return V(1);
}

static void *overflow_then_return(void *arg)
{
    unsigned char *lo = uarea_stack_base(ua, my_slot());
    (void)arg;
    lo[UAREA_CANARY_BYTES - 1] ^= 0x40;
    return V(2);
}

static void *main_overflow(void *arg)
{
    uarea_tid_t a, b, c, d;
    void *r = V(99);
    (void)arg;
    cr_assert_eq(uarea_thread_create(&a, overflow_then_yield, V(0)), 0);
    cr_assert_eq(uarea_thread_create(&b, overflow_then_return, NULL), 0);
    cr_assert_eq(uarea_thread_create(&c, times_ten, V(3)), 0);
    cr_assert_eq(uarea_thread_create(&d, overflow_then_yield, V(UAREA_CANARY_BYTES - 8)), 0);
    cr_assert_eq(uarea_thread_join(a, &r), UAREA_EOVERFLOW);
    cr_assert_eq(I(r), 99);
    cr_assert_eq(uarea_thread_join(b, &r), UAREA_EOVERFLOW);
    cr_assert_eq(uarea_thread_join(d, &r), UAREA_EOVERFLOW);
    cr_assert_eq(uarea_thread_join(c, &r), 0, "the other threads are unharmed");
    cr_assert_eq(I(r), 30);
    /* the killed threads' slots and stacks are free again */
    cr_assert_eq(uarea_threads_active(ua), 1);
    cr_assert_eq(uarea_thread_create(&a, times_ten, V(4)), 0);
    cr_assert_eq(uarea_thread_join(a, &r), 0);
    cr_assert_eq(I(r), 40);
    return NULL;
}

Test(uarea_threads, stack_overflow_is_reported)
{
    after_overflow = 0;
    run_main(main_overflow, NULL);
    cr_assert_eq(after_overflow, 0, "a thread with a broken canary went on running");
}

/* ---- freeze, release, restore ---- */
struct counter { int n, limit, freeze_at; };

static void *count_and_yield(void *arg)
{
    struct counter *k = arg;
    while (k->n < k->limit) {
        k->n++;
        if (k->n == k->freeze_at) cr_assert_eq(uarea_freeze(uarea_current()), 0);
        uarea_thread_yield();
    }
    return V(k->n);
}

Test(uarea_threads, freeze_parks_at_the_next_yield)
{
    struct counter *k;
    uarea_tid_t t;
    void *r;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    k = uarea_heap_alloc(ua, sizeof *k);
    *k = (struct counter){ 0, 20, 7 };
    cr_assert_eq(uarea_create(ua, &t, count_and_yield, k), 0);
    cr_assert(!uarea_frozen(ua));
    cr_assert_eq(uarea_core_step(ua), 1);
    cr_assert(uarea_frozen(ua));
    cr_assert_eq(k->n, 7, "stopped at the yield after the freeze");
    cr_assert_eq(uarea_freeze(ua), 0, "idempotent");
    cr_assert_eq(uarea_core_step(ua), 0, "a frozen container runs nothing");
    cr_assert_eq(k->n, 7);
    cr_assert_eq(uarea_try_join(ua, t, &r), UAREA_EAGAIN);
    ua->board[3].pending = 1;
    cr_assert(!uarea_frozen(ua), "a call in flight on a board");
    ua->board[3].pending = 0;
    cr_assert_eq(uarea_unfreeze(ua), 0);
    cr_assert_eq(uarea_unfreeze(ua), 0, "idempotent");
    cr_assert(!uarea_frozen(ua));
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t, &r), 0);
    cr_assert_eq(I(r), 20);
}

Test(uarea_threads, release_stops_the_cores)
{
    uarea_tid_t t;
    struct counter k = { 0, 1000, 3 };
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t, count_and_yield, &k), 0);
    cr_assert_eq(uarea_core_step(ua), 1);
    cr_assert_eq(uarea_release(ua), 0);
    cr_assert_eq(uarea_core_run(ua), UAREA_ECANCELED);
    cr_assert_eq(uarea_core_step(ua), UAREA_ECANCELED);
    cr_assert_eq(uarea_create(ua, &t, count_and_yield, &k), UAREA_ESTATE);
    cr_assert_eq(uarea_freeze(ua), UAREA_ESTATE);
    cr_assert_eq(uarea_unfreeze(ua), UAREA_ESTATE);
    cr_assert_eq(k.n, 3);
}

/* Several threads whose whole state is in the container: a frozen copy put
 * back at the same address resumes and ends exactly as the original did. */
static void *worker_sum(void *arg)
{
    int *cell = arg, acc = 0;
    for (int i = 0; i < 30; i++) {
        acc += i * *cell;
        *cell += 1;
        if (i == 11 && *cell == 12) uarea_freeze(uarea_current());
        uarea_thread_yield();
    }
    return V(acc);
}

static void *main_sum(void *arg)
{
    uarea_tid_t t[4];
    int *cells = uarea_heap_alloc(uarea_current(), 4 * sizeof(int));
    void *r;
    intptr_t total = 0;
    (void)arg;
    for (int i = 0; i < 4; i++) {
        cells[i] = i * 100;
        cr_assert_eq(uarea_thread_create(&t[i], worker_sum, &cells[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(uarea_thread_join(t[i], &r), 0);
        total = total * 31 + (intptr_t)r;
    }
    return V(total);
}

Test(uarea_threads, restore_at_the_same_address_resumes)
{
    uarea_tid_t t0;
    void *first = NULL, *second = NULL;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, main_sum, NULL), 0);
    while (!uarea_frozen(ua)) cr_assert_eq(uarea_core_step(ua), 1);
    raw_copy(saved, region, sizeof region);             /* the "image" */
    cr_assert_eq(uarea_unfreeze(ua), 0);
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t0, &first), 0);
    raw_copy(region, zeros, sizeof region);             /* the node loses it */
    raw_copy(region, saved, sizeof region);             /* and gets it back */
    cr_assert_eq(uarea_attach(ua), 0);
    cr_assert(uarea_frozen(ua));
    cr_assert_eq(uarea_unfreeze(ua), 0);
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t0, &second), 0);
    cr_assert_eq(first, second);
    cr_assert_neq(first, NULL);
}

/* The same, across processes: the container region is copied through a pipe
 * into another process, where it sits at the same address (fork keeps the
 * layout) but whose own copy was wiped first. The threads resume there and
 * finish with the result of a run that never moved. */
static int read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

Test(uarea_threads, move_to_another_process)
{
    int to_child[2], from_child[2];
    uarea_tid_t t0;
    void *moved = NULL, *still = NULL;
    pid_t pid;
    int status = 0;
    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(from_child), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {                                     /* the destination */
        void *r = NULL;
        raw_copy(region, zeros, sizeof region);
        if (read_full(to_child[0], saved, sizeof saved) != 0) _exit(2);
        raw_copy(region, saved, sizeof region);
        ua = (struct uarea *)region;
        if (uarea_attach(ua) != 0 || !uarea_frozen(ua) || uarea_unfreeze(ua) != 0) _exit(3);
        if (uarea_core_run(ua) != 0 || uarea_try_join(ua, 0, &r) != 0) _exit(4);
        if (write_full(from_child[1], &r, sizeof r) != 0) _exit(5);
        _exit(0);
    }
    /* the source: run until frozen mid-way, send, give the container up */
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, main_sum, NULL), 0);
    while (!uarea_frozen(ua)) cr_assert_eq(uarea_core_step(ua), 1);
    cr_assert_gt(uarea_threads_active(ua), 1, "frozen with threads mid-way");
    raw_copy(saved, region, sizeof region);
    cr_assert_eq(write_full(to_child[1], saved, sizeof saved), 0);
    cr_assert_eq(uarea_release(ua), 0);
    cr_assert_eq(uarea_core_run(ua), UAREA_ECANCELED, "the source no longer runs it");
    cr_assert_eq(read_full(from_child[0], &moved, sizeof moved), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "destination status %d", status);
    /* the reference: the same program, never moved */
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &t0, main_sum, NULL), 0);
    while (!uarea_frozen(ua)) cr_assert_eq(uarea_core_step(ua), 1);
    cr_assert_eq(uarea_unfreeze(ua), 0);
    cr_assert_eq(uarea_core_run(ua), 0);
    cr_assert_eq(uarea_try_join(ua, t0, &still), 0);
    cr_assert_eq(moved, still);
    cr_assert_neq(still, NULL);
}
