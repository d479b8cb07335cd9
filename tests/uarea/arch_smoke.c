/* The context switches of include/uarea/arch/ on other CPUs: a plain C
 * program (Criterion is not available for cross targets) that arch_qemu.sh
 * cross-compiles for aarch64 and riscv64 and runs under qemu-user. It checks
 * callee-saved registers across switches (floating point included), each
 * thread's rounding mode, exit
 * values, round-robin order, overflow detection, and a stress with joins
 * across 2, 3 and 4 cores plus a freeze. Exit status 0 when every check
 * holds. Built natively as well (test_uarea_smoke), where it is the
 * multi-core test that runs under TSan. */
#define UAREA_PORT_HEADER "port_pthread.h"
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <fenv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static struct uarea *ua;
static int failures;

#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                         \
        }                                                                       \
    } while (0)
#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

struct core { pthread_t th; unsigned id; int rc; };

static void *core_main(void *p)
{
    struct core *c = p;
    uarea_test_core_id = c->id;
    c->rc = uarea_core_run(ua);
    return NULL;
}

static void *unfreezer(void *arg);

/* Run thread 0 = fn(arg) on k cores until every thread is gone; with
 * `helper`, an outside thread unfreezes the container once it is frozen. */
static intptr_t run(unsigned k, void *(*fn)(void *), void *arg, int helper)
{
    struct core cores[4];
    pthread_t uf;
    uarea_tid_t t0;
    void *r = NULL, *unfrozen = NULL;
    CHECK(uarea_container_init(region, sizeof region, &ua) == 0);
    CHECK(uarea_create(ua, &t0, fn, arg) == 0);
    if (helper) pthread_create(&uf, NULL, unfreezer, ua);
    uarea_test_ncores = k;
    for (unsigned i = 0; i < k; i++) {
        cores[i].id = i;
        pthread_create(&cores[i].th, NULL, core_main, &cores[i]);
    }
    for (unsigned i = 0; i < k; i++) {
        pthread_join(cores[i].th, NULL);
        CHECK(cores[i].rc == 0);
    }
    if (helper) {
        pthread_join(uf, &unfrozen);
        CHECK(I(unfrozen) == 1);
    }
    CHECK(uarea_try_join(ua, t0, &r) == 0);
    return I(r);
}

/* Values kept in callee-saved registers (and FP registers) across yields. */
static void *regs(void *arg)
{
    volatile double scale = 1.5;
    double f = (double)I(arg) * scale, g = f + 0.25;
    long a = I(arg), b = a * 3, c = a * 5, d = a * 7;
    for (int i = 0; i < 50; i++) {
        uarea_thread_yield();
        a += 1; b += 3; c += 5; d += 7;
        f += 1.0; g += 2.0;
    }
    return V(a + b + c + d + (long)f + (long)g);
}

static int order[64], norder;
static void *logger(void *arg)
{
    for (int i = 0; i < 4; i++) {
        order[norder++] = (int)I(arg);
        uarea_thread_yield();
    }
    return NULL;
}

static void *overflow(void *arg)
{
    unsigned i;
    (void)arg;
    for (i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].tid == uarea_thread_self()) break;
    memset(uarea_stack_base(ua, i), 0, 8);
    uarea_thread_yield();
    return V(1);
}

static void *single(void *arg)
{
    uarea_tid_t t[3];
    void *r;
    (void)arg;
    for (int i = 0; i < 3; i++) CHECK(uarea_thread_create(&t[i], regs, V(i + 1)) == 0);
    for (int i = 0; i < 3; i++) {
        long a = i + 1, f = 0;
        double ff = (double)(i + 1) * 1.5;
        CHECK(uarea_thread_join(t[i], &r) == 0);
        f = (long)(ff + 50) + (long)(ff + 0.25 + 100);
        CHECK(I(r) == (a + 50) + (3 * a + 150) + (5 * a + 250) + (7 * a + 350) + f);
    }
    norder = 0;
    for (int i = 0; i < 3; i++) CHECK(uarea_thread_create(&t[i], logger, V(i + 1)) == 0);
    for (int i = 0; i < 3; i++) CHECK(uarea_thread_join(t[i], NULL) == 0);
    for (int i = 0; i < 12; i++) CHECK(order[i] == i % 3 + 1);
    CHECK(uarea_thread_join(0, NULL) == UAREA_EDEADLK);
    CHECK(uarea_thread_join(77, NULL) == UAREA_ENOTHREAD);
    CHECK(uarea_thread_join(t[0], NULL) == UAREA_EJOINED);
    CHECK(uarea_thread_create(&t[0], overflow, NULL) == 0);
    CHECK(uarea_thread_join(t[0], &r) == UAREA_EOVERFLOW);
    return V(42);
}

/* Each thread keeps its own rounding mode across yields (MXCSR and the x87
 * control word, FPCR, frm): four threads, four modes, 1/3 and -1/3 divided
 * after every yield must round as they did before the first; a thread each
 * creates starts in its creator's mode. */
static double divide(double a, double b)
{
    volatile double x = a, y = b;
    return x / y;
}

static void *child_mode(void *arg)
{
    (void)arg;
    return V(fegetround());
}

static void *rounder(void *arg)
{
    static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    int mode = modes[I(arg)];
    double pos, neg;
    uarea_tid_t child;
    void *r = NULL;
    CHECK(fesetround(mode) == 0);
    pos = divide(1.0, 3.0);
    neg = divide(-1.0, 3.0);
    /* a new thread inherits its creator's mode */
    CHECK(uarea_thread_create(&child, child_mode, NULL) == 0);
    CHECK(uarea_thread_join(child, &r) == 0);
    CHECK(I(r) == mode);
    for (int i = 0; i < 20; i++) {
        CHECK(uarea_thread_yield() == 0);
        CHECK(fegetround() == mode);
        CHECK(divide(1.0, 3.0) == pos && divide(-1.0, 3.0) == neg);
    }
    return V(I(arg) + 1);
}

static void *rounding(void *arg)
{
    uarea_tid_t t[4];
    void *r;
    intptr_t sum = 0;
    (void)arg;
    for (int i = 0; i < 4; i++) CHECK(uarea_thread_create(&t[i], rounder, V(i)) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(uarea_thread_join(t[i], &r) == 0);
        sum += I(r);
    }
    CHECK(fegetround() == FE_TONEAREST);
    return V(sum);
}

static void *leaf(void *arg)
{
    intptr_t x = I(arg), acc = 0;
    for (int i = 0; i < 30; i++) {
        acc += x + i;
        if (i % 4 == 0) uarea_thread_yield();
    }
    return V(acc);
}

static void *worker(void *arg)
{
    uarea_tid_t c;
    void *r;
    intptr_t acc = 0;
    CHECK(uarea_thread_create(&c, leaf, arg) == 0);
    for (int i = 0; i < 30; i++) {
        acc += I(arg) * i;
        uarea_thread_yield();
    }
    CHECK(uarea_thread_join(c, &r) == 0);
    return V(acc + I(r));
}

static void *stress(void *arg)
{
    uarea_tid_t t[8];
    void *r;
    intptr_t total = 0;
    (void)arg;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 8; i++) CHECK(uarea_thread_create(&t[i], worker, V(round * 8 + i)) == 0);
        if (round == 10) CHECK(uarea_freeze(uarea_current()) == 0);
        for (int i = 0; i < 8; i++) {
            CHECK(uarea_thread_join(t[i], &r) == 0);
            total += I(r);
        }
    }
    return V(total);
}

static void *unfreezer(void *arg)
{
    struct uarea *u = arg;
    for (int n = 0; n < 2000000; n++) {
        if (uarea_frozen(u)) {
            uarea_unfreeze(u);
            return V(1);
        }
        sched_yield();
    }
    return V(0);
}

int main(void)
{
    intptr_t expect = 0;
    CHECK(uarea_thread_yield() == UAREA_ENOTUSER);   /* a negative result comes back whole */
    CHECK(run(1, single, NULL, 0) == 42);
    {   /* the modes differ where the test looks */
        double up, down;
        CHECK(fesetround(FE_UPWARD) == 0);
        up = divide(1.0, 3.0);
        CHECK(fesetround(FE_DOWNWARD) == 0);
        down = divide(1.0, 3.0);
        CHECK(fesetround(FE_TONEAREST) == 0);
        CHECK(up != down);
    }
    CHECK(run(1, rounding, NULL, 0) == 10);
    for (int w = 0; w < 160; w++) {
        intptr_t acc = 0, leafacc = 0;
        for (int i = 0; i < 30; i++) acc += (intptr_t)w * i, leafacc += w + i;
        expect += acc + leafacc;
    }
    for (unsigned k = 2; k <= 4; k++) CHECK(run(k, stress, NULL, 1) == expect);
    printf("%s: %s\n", UAREA_ARCH_NAME, failures ? "FAILED" : "ok");
    return failures != 0;
}
