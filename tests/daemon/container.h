/* A real container for the daemon tests: a region at one fixed address,
 * pthread "cores" (tests/uarea/port_pthread.h), and a multi-threaded
 * computation whose whole state lives in the container: its stacks, its heap
 * and a user section in this binary's data. */
#ifndef TESTS_DAEMON_CONTAINER_H
#define TESTS_DAEMON_CONTAINER_H

#define _GNU_SOURCE 1
#define UAREA_PORT_HEADER "port_pthread.h"
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <noc/noc.h>
#include <migrate/node.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CT_WORKERS 4
#define CT_STEPS 200000u
#define CT_CORES 2

/* The user section: globals that belong to the container. */
struct ct_user {
    volatile uint64_t progress;         /* steps done, all workers */
    uint64_t result[CT_WORKERS];
    uint64_t step[CT_WORKERS];          /* each worker's loop counter */
    uint64_t total;
    uint64_t *heap_acc;                 /* points into the container heap */
    int done;
    int hold;                           /* workers wait halfway while set */
};
static struct ct_user ct_user __attribute__((aligned(64)));
static const migrate_region ct_user_sections[1] = {
    { (uintptr_t)&ct_user, sizeof ct_user },
};

static uint64_t ct_step(uint64_t x, uint64_t i, uint64_t id)
{
    return x * 6364136223846793005ull + i * 31u + id + 1;
}

/* What the computation must give, computed without a container. */
static uint64_t ct_expected(void)
{
    uint64_t total = 0;
    for (uint64_t id = 0; id < CT_WORKERS; id++) {
        uint64_t x = id;
        for (uint64_t i = 0; i < CT_STEPS; i++) x = ct_step(x, i, id);
        total ^= x + id;
    }
    return total;
}

static void *ct_worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t x;
    /* The state lives in all three places a container keeps memory: the
     * loop counter in the user section, the value in the heap, a copy of
     * each on the stack. A piece that did not move (or moved stale) gives a
     * wrong result. */
    ct_user.heap_acc[id] = id;
    for (ct_user.step[id] = 0; ct_user.step[id] < CT_STEPS; ct_user.step[id]++) {
        uint64_t i = ct_user.step[id];
        x = ct_step(ct_user.heap_acc[id], i, id);
        ct_user.heap_acc[id] = x;
        __atomic_add_fetch(&ct_user.progress, 1, __ATOMIC_RELAXED);
        if (i % 16 == 15) uarea_thread_yield();
        /* A test that moves the container mid-computation holds the workers
         * here so that, however the host schedules it, none has finished
         * when the container is frozen. They keep yielding: a held worker
         * is a running thread, not a blocked one. */
        while (i == CT_STEPS / 2 && __atomic_load_n(&ct_user.hold, __ATOMIC_ACQUIRE))
            uarea_thread_yield();
    }
    x = ct_user.heap_acc[id];
    ct_user.result[id] = x;
    return (void *)(uintptr_t)(x + id);
}

static void *ct_main(void *arg)
{
    uarea_tid_t tids[CT_WORKERS];
    uint64_t total = 0;
    (void)arg;
    ct_user.heap_acc = uarea_heap_alloc(uarea_current(), CT_WORKERS * sizeof(uint64_t));
    if (ct_user.heap_acc == NULL) return (void *)1;
    for (uintptr_t i = 0; i < CT_WORKERS; i++)
        if (uarea_thread_create(&tids[i], ct_worker, (void *)i) != 0) return (void *)2;
    for (int i = 0; i < CT_WORKERS; i++) {
        void *ret;
        if (uarea_thread_join(tids[i], &ret) != 0) return (void *)3;
        total ^= (uint64_t)(uintptr_t)ret;
    }
    ct_user.total = total;
    ct_user.done = 1;
    return NULL;
}

/* The region at one address in every process of the test. ASan and TSan
 * reserve different parts of the address space: try a few. */
static void *ct_map_region(void)
{
    static const uintptr_t addrs[] = { 0x200000000000ull, 0x7e0000000000ull, 0x80000000ull,
                                       0x10000000000ull };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        void *p = mmap((void *)addrs[i], UAREA_CONTAINER_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == (void *)addrs[i]) return p;
        if (p != MAP_FAILED) munmap(p, UAREA_CONTAINER_SIZE);
    }
    return NULL;
}

/* Cores: pthreads that run the container until it ends or leaves. */
typedef struct ct_cores {
    pthread_t th[CT_CORES];
    struct uarea *ua;
    int rc[CT_CORES];
    unsigned id[CT_CORES];
} ct_cores;

static ct_cores *ct_cores_self;

static void *ct_core_main(void *arg)
{
    unsigned id = *(unsigned *)arg;
    uarea_test_core_id = id;
    ct_cores_self->rc[id] = uarea_core_run(ct_cores_self->ua);
    return NULL;
}

static void ct_cores_start(ct_cores *c, struct uarea *ua)
{
    uarea_test_ncores = CT_CORES;
    c->ua = ua;
    ct_cores_self = c;
    for (unsigned i = 0; i < CT_CORES; i++) {
        c->id[i] = i;
        if (pthread_create(&c->th[i], NULL, ct_core_main, &c->id[i]) != 0) abort();
    }
}

static void ct_cores_join(ct_cores *c)
{
    for (unsigned i = 0; i < CT_CORES; i++) pthread_join(c->th[i], NULL);
}

/* ---- file sink and source ---- */
static UAREA_UNUSED int ct_file_sink(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : UAREA_EIO;
}

static UAREA_UNUSED long ct_file_source(void *ctx, void *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, (FILE *)ctx);
    return ferror((FILE *)ctx) ? UAREA_EIO : (long)n;
}

#endif
