/*
 * bench_uarea_threads - the cost of threads kept in a UArea.
 *
 *   bench_uarea_threads                 every figure, then the ratios
 *   bench_uarea_threads --only=a|b [--iters=K]
 *                                       only the create+join workload of one
 *                                       layout (what the cachegrind runs use)
 *
 * Thread create + join of 1..17 threads (thread 0 creates n threads, then
 * joins them), three ways, in one run:
 *   (a) the UArea subsystem (include/uarea/thread.h, null port, one core);
 *   (b) the same algorithm over a "scattered" layout: thread records, saved
 *       contexts, ready-queue nodes, exit records, counters and the lock are
 *       separate malloc'd objects spread over the heap, as in a kernel without
 *       a UArea (the Nanvix papers' baseline); same steps, same context
 *       switch, same stacks;
 *   (c) pthread_create + pthread_join.
 * Then the cachegrind counts (instructions, branches, D1 and I1 misses per
 * create+join) of (a) and (b): the program runs itself under valgrind with
 * --only=a / --only=b, with K iterations and with none, and takes the
 * difference. Then the yield round trip (A to B and back), median of batches.
 * Goals, printed last as ratios: (a) at least 100x faster than (c); a round
 * trip under 50 ns; (a) with fewer D1 misses than (b).
 */
#define _POSIX_C_SOURCE 200809L
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NMAX 17                      /* threads created besides thread 0 */
#define V(x) ((void *)(intptr_t)(x))

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ======================================================================== */
/* (a) the UArea                                                            */
/* ======================================================================== */
static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static struct uarea *ua;

struct job {
    int iters;
    double ns[NMAX + 1];   /* per create+join, by n */
};

static void *noop(void *arg) { return arg; }

static void *a_main(void *arg)
{
    struct job *j = arg;
    uarea_tid_t t[NMAX];
    for (int n = 1; n <= NMAX; n++) {
        uint64_t t0 = now_ns();
        for (int it = 0; it < j->iters; it++) {
            for (int i = 0; i < n; i++)
                if (uarea_thread_create(&t[i], noop, V(i)) != 0) abort();
            for (int i = 0; i < n; i++)
                if (uarea_thread_join(t[i], NULL) != 0) abort();
        }
        j->ns[n] = j->iters ? (double)(now_ns() - t0) / ((double)j->iters * n) : 0;
    }
    return NULL;
}

static void run_a(struct job *j)
{
    uarea_tid_t t0;
    if (uarea_container_init(region, sizeof region, &ua) != 0) abort();
    if (uarea_create(ua, &t0, a_main, j) != 0) abort();
    if (uarea_core_run(ua) != 0) abort();
}

/* ======================================================================== */
/* (b) the same algorithm over scattered records                            */
/* ======================================================================== */
struct sc_thread {                 /* a thread record, alone in the heap */
    uarea_ctx *ctx;                /* saved context: another allocation */
    uintptr_t entry, arg, retval;
    int tid, waits_for, joiner, join_rc;
    unsigned char state, stack;
};
struct sc_node { int slot; struct sc_node *next; };          /* ready queue node */
struct sc_exit { int tid, rc; uintptr_t retval; struct sc_exit *next; };
struct sc_counters { unsigned active, running; int next_tid; unsigned created; };
struct sc_flags { unsigned magic, freeze, idle; };                /* another object */
struct sc_core { int cur; uarea_ctx sched; };                     /* node-local, as in (a) */

static struct {
    struct sc_thread *thr[UAREA_THREADS_MAX];
    struct sc_node *rq_head, *rq_tail, *node_free;
    struct sc_exit *exits, *exit_free;
    struct sc_counters *cnt;
    struct sc_flags *flags;
    unsigned *lock;
    struct sc_core core[UAREA_CORES_MAX];
} sc;

/* The same steps as (a): the core is looked up through an opaque call. */
__attribute__((noinline)) static struct sc_core *sc_self(void)
{
    __asm__ volatile("" ::: "memory");
    return &sc.core[UAREA_PORT_CORE_ID()];
}

static void *ballast[8 * UAREA_THREADS_MAX];
static unsigned nballast;

/* One record, with other objects and holes around it, as a busy kernel heap
 * would place it. */
static void *spread(size_t n)
{
    void *p;
    free(malloc(96 + (size_t)(rand() % 512)));
    if (nballast < sizeof ballast / sizeof ballast[0])
        ballast[nballast++] = malloc((size_t)(64 + rand() % 1024));
    p = calloc(1, n);
    if (p == NULL) abort();
    return p;
}

static void sc_init(void)
{
    srand(7);
    sc.cnt = spread(sizeof *sc.cnt);
    sc.flags = spread(sizeof *sc.flags);
    sc.flags->magic = UAREA_MAGIC;
    sc.lock = spread(sizeof *sc.lock);
    for (int i = 0; i < UAREA_THREADS_MAX; i++) {
        struct sc_node *n = spread(sizeof *n);
        struct sc_exit *e = spread(sizeof *e);
        sc.thr[i] = spread(sizeof *sc.thr[i]);
        sc.thr[i]->ctx = spread(sizeof(uarea_ctx));
        sc.thr[i]->tid = -1;
        sc.thr[i]->stack = (unsigned char)i;
        n->next = sc.node_free;
        sc.node_free = n;
        e->next = sc.exit_free;
        sc.exit_free = e;
    }
    sc.core[0].cur = -1;
}

static void sc_lock(void) { while (__atomic_exchange_n(sc.lock, 1u, __ATOMIC_ACQUIRE)) { } }
static void sc_unlock(void) { __atomic_store_n(sc.lock, 0u, __ATOMIC_RELEASE); }

static uintptr_t *sc_canary(int slot) { return (uintptr_t *)uarea_stack_base((struct uarea *)region, (unsigned)slot); }
static int sc_canary_ok(int slot)
{
    uintptr_t bad = 0, *w = sc_canary(slot);
    for (unsigned i = 0; i < UAREA_CANARY_BYTES / sizeof(uintptr_t); i++) bad |= w[i] ^ UAREA_CANARY_WORD;
    return bad == 0;
}

static void sc_push(int slot)
{
    struct sc_node *n = sc.node_free;
    sc.node_free = n->next;
    n->slot = slot;
    n->next = NULL;
    if (sc.rq_tail) sc.rq_tail->next = n; else sc.rq_head = n;
    sc.rq_tail = n;
}

static int sc_pop(void)
{
    struct sc_node *n = sc.rq_head;
    int s;
    if (n == NULL) return -1;
    sc.rq_head = n->next;
    if (sc.rq_head == NULL) sc.rq_tail = NULL;
    s = n->slot;
    n->next = sc.node_free;
    sc.node_free = n;
    return s;
}

static int sc_find(int tid)
{
    for (int i = 0; i < UAREA_THREADS_MAX; i++)
        if (sc.thr[i]->tid == tid && sc.thr[i]->state != UAREA_THREAD_FREE) return i;
    return -1;
}

static void sc_wake(void)
{
    if (__atomic_load_n(&sc.flags->idle, __ATOMIC_RELAXED) != 0) UAREA_PORT_RESCHEDULE(0);
}

static void sc_resched(struct sc_core *c)
{
    int me = c->cur, next = -1;
    if (__atomic_load_n(&sc.flags->freeze, __ATOMIC_RELAXED) == UAREA_RUN) next = sc_pop();
    if (next == me) { sc.thr[me]->state = UAREA_THREAD_RUNNING; return; }
    if (next >= 0) {
        sc.thr[next]->state = UAREA_THREAD_RUNNING;
        c->cur = next;
        uarea__arch_switch(sc.thr[me]->ctx->w, sc.thr[next]->ctx->w);
    } else {
        __atomic_sub_fetch(&sc.cnt->running, 1u, __ATOMIC_RELEASE);
        c->cur = -1;
        uarea__arch_switch(sc.thr[me]->ctx->w, c->sched.w);
    }
    (void)sc_self();   /* (a) looks its core up again after every switch */
}

static void sc_retire(int slot, uintptr_t retval, int rc)
{
    struct sc_thread *t = sc.thr[slot];
    int j = t->joiner >= 0 ? sc_find(t->joiner) : -1;
    if (j >= 0 && sc.thr[j]->state == UAREA_THREAD_BLOCKED) {
        sc.thr[j]->retval = retval;
        sc.thr[j]->join_rc = rc;
        sc.thr[j]->state = UAREA_THREAD_READY;
        sc_push(j);
        sc_wake();
    } else {
        struct sc_exit *e = sc.exit_free;
        sc.exit_free = e->next;
        e->tid = t->tid;
        e->rc = rc;
        e->retval = retval;
        e->next = sc.exits;
        sc.exits = e;
    }
    t->state = UAREA_THREAD_FREE;
    t->tid = t->joiner = t->waits_for = -1;
    __atomic_sub_fetch(&sc.cnt->active, 1u, __ATOMIC_RELEASE);
}

static void sc_exit_thread(void *retval)
{
    struct sc_core *c = sc_self();
    sc_lock();
    sc_retire(c->cur, (uintptr_t)retval, sc_canary_ok(c->cur) ? 0 : UAREA_EOVERFLOW);
    sc_resched(c);
    abort();
}

static void sc_start(void)
{
    struct sc_thread *t = sc.thr[sc_self()->cur];
    void *(*fn)(void *) = (void *(*)(void *))t->entry;
    sc_unlock();
    sc_exit_thread(fn((void *)t->arg));
}

static int sc_create(int *tid, void *(*start)(void *), void *arg)
{
    int slot;
    uintptr_t *w;
    struct sc_thread *t;
    struct sc_exit *e;
    unsigned nexits = 0;
    if (sc.flags->magic != UAREA_MAGIC) return UAREA_ELAYOUT;
    sc_lock();
    if (__atomic_load_n(&sc.flags->freeze, __ATOMIC_RELAXED) == UAREA_RELEASED) {
        sc_unlock();
        return UAREA_ESTATE;
    }
    for (e = sc.exits; e; e = e->next) nexits++;
    if (sc.cnt->active + nexits >= UAREA_THREADS_MAX || sc.cnt->next_tid == INT32_MAX) {
        sc_unlock();
        return UAREA_ETHREADS;
    }
    for (slot = 0; slot < UAREA_THREADS_MAX; slot++)
        if (sc.thr[slot]->state == UAREA_THREAD_FREE) break;
    t = sc.thr[slot];
    w = sc_canary(slot);
    for (unsigned i = 0; i < UAREA_CANARY_BYTES / sizeof(uintptr_t); i++) w[i] = UAREA_CANARY_WORD;
    uarea__arch_ctx_init(t->ctx->w, (uintptr_t)w + UAREA_STACK_SIZE, sc_start);
    t->entry = (uintptr_t)start;
    t->arg = (uintptr_t)arg;
    t->retval = 0;
    t->tid = sc.cnt->next_tid++;
    t->waits_for = t->joiner = -1;
    t->join_rc = 0;
    t->state = UAREA_THREAD_READY;
    sc_push(slot);
    __atomic_add_fetch(&sc.cnt->active, 1u, __ATOMIC_RELEASE);
    sc.cnt->created++;
    *tid = t->tid;
    sc_wake();
    sc_unlock();
    return 0;
}

static int sc_join(int tid, void **retval)
{
    struct sc_thread *me;
    uintptr_t val = 0;
    int rc = 0, s;
    struct sc_core *c = sc_self();
    sc_lock();
    me = sc.thr[c->cur];
    if (tid == me->tid) { sc_unlock(); return UAREA_EDEADLK; }
    if (tid < 0 || tid >= sc.cnt->next_tid) { sc_unlock(); return UAREA_ENOTHREAD; }
    s = sc_find(tid);
    if (s < 0) {
        struct sc_exit **pe = &sc.exits, *e;
        while ((e = *pe) && e->tid != tid) pe = &e->next;
        if (e == NULL) { sc_unlock(); return UAREA_EJOINED; }
        *pe = e->next;
        val = e->retval;
        rc = e->rc;
        e->next = sc.exit_free;
        sc.exit_free = e;
    } else {
        if (sc.thr[s]->joiner >= 0) { sc_unlock(); return UAREA_EJOINED; }
        for (int k = s, hops = 0; hops < UAREA_THREADS_MAX; hops++) {   /* join cycle? */
            int w = sc.thr[k]->waits_for;
            if (w < 0) break;
            if (w == me->tid) { sc_unlock(); return UAREA_EDEADLK; }
            if ((k = sc_find(w)) < 0) break;
        }
        if (!sc_canary_ok(c->cur)) abort();
        sc.thr[s]->joiner = me->tid;
        me->waits_for = tid;
        me->state = UAREA_THREAD_BLOCKED;
        sc_resched(c);
        me->waits_for = -1;
        val = me->retval;
        rc = me->join_rc;
    }
    sc_unlock();
    if (rc < 0) return rc;
    if (retval) *retval = (void *)val;
    return 0;
}

static void *b_main(void *arg)
{
    struct job *j = arg;
    int t[NMAX];
    for (int n = 1; n <= NMAX; n++) {
        uint64_t t0 = now_ns();
        for (int it = 0; it < j->iters; it++) {
            for (int i = 0; i < n; i++)
                if (sc_create(&t[i], noop, V(i)) != 0) abort();
            for (int i = 0; i < n; i++)
                if (sc_join(t[i], NULL) != 0) abort();
        }
        j->ns[n] = j->iters ? (double)(now_ns() - t0) / ((double)j->iters * n) : 0;
    }
    return NULL;
}

static void run_b(struct job *j)
{
    int t0, slot;
    static int inited;
    if (!inited) { sc_init(); inited = 1; }
    if (sc_create(&t0, b_main, j) != 0) abort();
    sc.cnt->running = 0;
    while (__atomic_load_n(&sc.cnt->active, __ATOMIC_ACQUIRE) > 0) {  /* (a)'s loop */
        struct sc_core *c = sc_self();
        if (__atomic_load_n(&sc.flags->freeze, __ATOMIC_ACQUIRE) != UAREA_RUN) break;
        sc_lock();
        slot = sc_pop();
        if (slot < 0) { sc_unlock(); break; }
        sc.thr[slot]->state = UAREA_THREAD_RUNNING;
        __atomic_add_fetch(&sc.cnt->running, 1u, __ATOMIC_RELEASE);
        c->cur = slot;
        uarea__arch_switch(c->sched.w, sc.thr[slot]->ctx->w);
        sc_unlock();
    }
    while (sc.exits) {                      /* drop thread 0's exit record */
        struct sc_exit *e = sc.exits;
        sc.exits = e->next;
        e->next = sc.exit_free;
        sc.exit_free = e;
    }
}

/* ======================================================================== */
/* (c) pthreads                                                             */
/* ======================================================================== */
static void run_c(struct job *j)
{
    pthread_t t[NMAX];
    for (int n = 1; n <= NMAX; n++) {
        uint64_t t0 = now_ns();
        for (int it = 0; it < j->iters; it++) {
            for (int i = 0; i < n; i++)
                if (pthread_create(&t[i], NULL, noop, V(i)) != 0) abort();
            for (int i = 0; i < n; i++)
                if (pthread_join(t[i], NULL) != 0) abort();
        }
        j->ns[n] = (double)(now_ns() - t0) / ((double)j->iters * n);
    }
}

/* ======================================================================== */
/* yield round trip                                                         */
/* ======================================================================== */
#define BATCHES 31
#define TRIPS 20000
static int yield_done;
static double trips[BATCHES];

static void *yield_b(void *arg)
{
    (void)arg;
    while (!yield_done) uarea_thread_yield();
    return NULL;
}

static void *yield_a(void *arg)
{
    uarea_tid_t b;
    (void)arg;
    if (uarea_thread_create(&b, yield_b, NULL) != 0) abort();
    uarea_thread_yield();                   /* b starts */
    for (int k = 0; k < BATCHES; k++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < TRIPS; i++) uarea_thread_yield();
        trips[k] = (double)(now_ns() - t0) / TRIPS;
    }
    yield_done = 1;
    uarea_thread_join(b, NULL);
    return NULL;
}

static double yield_best;

static double yield_round_trip(void)
{
    uarea_tid_t t0;
    if (uarea_container_init(region, sizeof region, &ua) != 0) abort();
    if (uarea_create(ua, &t0, yield_a, NULL) != 0) abort();
    if (uarea_core_run(ua) != 0) abort();
    qsort(trips, BATCHES, sizeof trips[0], cmp_double);
    yield_best = trips[0];
    return trips[BATCHES / 2];
}

/* ======================================================================== */
/* cachegrind                                                               */
/* ======================================================================== */
struct cg { double ir, br, d1, i1; int ok; };

static double cg_field(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    char num[64];
    size_t k = 0;
    if (p == NULL) return -1;
    p += strlen(key);
    while (*p == ' ' || *p == ':') p++;
    while (k + 1 < sizeof num && ((*p >= '0' && *p <= '9') || *p == ',')) {
        if (*p != ',') num[k++] = *p;
        p++;
    }
    num[k] = 0;
    return k ? atof(num) : -1;
}

static struct cg cachegrind(const char *self, const char *cache, char which, int iters)
{
    char cmd[4096], out[65536];
    struct cg r = { 0, 0, 0, 0, 0 };
    size_t n = 0, got;
    FILE *f;
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes %s "
             "--cachegrind-out-file=/dev/null '%s' --only=%c --iters=%d 2>&1",
             cache, self, which, iters);
    if ((f = popen(cmd, "r")) == NULL) return r;
    while (n + 1 < sizeof out && (got = fread(out + n, 1, sizeof out - 1 - n, f)) > 0) n += got;
    out[n] = 0;
    if (pclose(f) != 0) return r;
    r.ir = cg_field(out, "I   refs");
    r.i1 = cg_field(out, "I1  misses");
    r.d1 = cg_field(out, "D1  misses");
    r.br = cg_field(out, "Branches");
    r.ok = r.ir > 0 && r.i1 >= 0 && r.d1 >= 0 && r.br > 0;
    return r;
}

/* Counts per create+join: a run with K iterations minus a run with none. */
static struct cg per_op(const char *self, const char *cache, char which, int k)
{
    struct cg full = cachegrind(self, cache, which, k), base = cachegrind(self, cache, which, 0), r;
    double ops = (double)k * (NMAX * (NMAX + 1) / 2);
    r.ok = full.ok && base.ok;
    r.ir = (full.ir - base.ir) / ops;
    r.br = (full.br - base.br) / ops;
    r.d1 = (full.d1 - base.d1) / ops;
    r.i1 = (full.i1 - base.i1) / ops;
    return r;
}

/* ======================================================================== */
int main(int argc, char **argv)
{
    static struct job ja, jb, jc;
    char which = 0, self[4096];
    int iters = 2000, cg_iters = 40;
    double avg_a = 0, avg_b = 0, avg_c = 0, rt;
    ssize_t len;
    struct cg ca, cb, sa, sb;
    static const char small_l1[] = "--I1=8192,2,64 --D1=8192,2,64";

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--only=", 7) == 0) which = argv[i][7];
        else if (strncmp(argv[i], "--iters=", 8) == 0) iters = atoi(argv[i] + 8);
        else { fprintf(stderr, "usage: %s [--only=a|b] [--iters=K]\n", argv[0]); return 2; }
    }
    if (which == 'a' || which == 'b') {      /* the workload alone (cachegrind) */
        ja.iters = iters;
        if (which == 'a') run_a(&ja); else run_b(&ja);
        return 0;
    }

    printf("uarea thread benchmark (%s, UAREA_THREADS_MAX %d, UArea %zu bytes)\n\n",
           UAREA_ARCH_NAME, UAREA_THREADS_MAX, sizeof(struct uarea));
    ja.iters = jb.iters = iters;
    jc.iters = 40;
    run_a(&ja);                               /* warm-up */
    run_a(&ja);
    run_b(&jb);
    run_b(&jb);
    run_c(&jc);
    printf("create+join, ns per thread\n");
    printf("%4s %12s %12s %12s\n", "n", "(a) UArea", "(b) scatter", "(c) pthread");
    for (int n = 1; n <= NMAX; n++) {
        printf("%4d %12.1f %12.1f %12.1f\n", n, ja.ns[n], jb.ns[n], jc.ns[n]);
        avg_a += ja.ns[n] / NMAX;
        avg_b += jb.ns[n] / NMAX;
        avg_c += jc.ns[n] / NMAX;
    }
    printf("%4s %12.1f %12.1f %12.1f\n\n", "avg", avg_a, avg_b, avg_c);

    rt = yield_round_trip();
    printf("yield round trip (A -> B -> A), median of %d batches of %d: %.1f ns (best batch %.1f)\n\n",
           BATCHES, TRIPS, rt, yield_best);

    len = readlink("/proc/self/exe", self, sizeof self - 1);
    ca.ok = cb.ok = sa.ok = sb.ok = 0;
    if (len > 0 && system("valgrind --version >/dev/null 2>&1") == 0) {
        self[len] = 0;
        ca = per_op(self, "", 'a', cg_iters);
        cb = per_op(self, "", 'b', cg_iters);
        sa = per_op(self, small_l1, 'a', cg_iters);
        sb = per_op(self, small_l1, 'b', cg_iters);
    }
    if (ca.ok && cb.ok && sa.ok && sb.ok) {
        printf("cachegrind, per create+join (runs of %d x 1..%d threads minus an empty run)\n",
               cg_iters, NMAX);
        printf("%-30s %10s %10s %10s %10s\n", "", "instr", "branches", "D1 miss", "I1 miss");
        printf("%-30s %10.1f %10.1f %10.3f %10.3f\n", "(a) UArea, host L1", ca.ir, ca.br, ca.d1, ca.i1);
        printf("%-30s %10.1f %10.1f %10.3f %10.3f\n", "(b) scattered, host L1", cb.ir, cb.br, cb.d1,
               cb.i1);
        printf("%-30s %10.1f %10.1f %10.3f %10.3f\n", "(a) UArea, 8 KiB L1", sa.ir, sa.br, sa.d1,
               sa.i1);
        printf("%-30s %10.1f %10.1f %10.3f %10.3f\n", "(b) scattered, 8 KiB L1", sb.ir, sb.br,
               sb.d1, sb.i1);
        printf("  (8 KiB L1: %s, the size of an MPPA-256 core's caches)\n\n", small_l1);
    } else {
        printf("cachegrind: valgrind not available, counts skipped\n\n");
    }

    printf("ratios\n");
    printf("  (c) pthread / (a) UArea, create+join time: %8.1fx   goal >= 100x: %s\n",
           avg_c / avg_a, avg_c / avg_a >= 100 ? "met" : "NOT met");
    printf("  (b) scattered / (a) UArea, time:           %8.2fx\n", avg_b / avg_a);
    printf("  yield round trip:                          %8.1f ns  goal < 50 ns: %s\n", rt,
           rt < 50 ? "met" : "NOT met");
    if (ca.ok && cb.ok && sa.ok && sb.ok) {
        printf("  D1 misses (a) / (b), 8 KiB L1:             %8.3f    goal < 1: %s\n",
               sb.d1 > 0 ? sa.d1 / sb.d1 : 0.0, sa.d1 < sb.d1 ? "met" : "NOT met");
        printf("  D1 misses (a) / (b), host L1:              %8.3f    (both fit the host L1: "
               "%.3f and %.3f per op)\n",
               cb.d1 > 0 ? ca.d1 / cb.d1 : 0.0, ca.d1, cb.d1);
        printf("  I1 misses (a) / (b), 8 KiB L1:             %8.3f\n",
               sb.i1 > 0 ? sa.i1 / sb.i1 : 0.0);
        printf("  instructions (a) / (b):                    %8.3f\n", ca.ir / cb.ir);
        printf("  branches (a) / (b):                        %8.3f\n", ca.br / cb.br);
        printf("  I1 misses (a) / (b):                       %8.3f\n",
               cb.i1 > 0 ? ca.i1 / cb.i1 : 0.0);
    }
    return 0;
}
