/*
 * demo.c - the application of the riscv-virt clusters: the user part of the
 * image (its sections are renamed .user.* and linked above the kernel by
 * ports/mppa256/ld/cluster.ld). Its state (demo_app, in .user.bss) moves
 * with the container; its code is the same in every instance.
 *
 * The container: thread 0 (demo_main) starts DEMO_WORKERS workers, each with
 * a page of the container heap, then walks demo_app.route with migrate_to,
 * one hop each time the workers have done another share of their steps, and
 * prints each hop. The workers yield after every step (DEMO_TOUR,
 * DEMO_DAMAGED) or never (DEMO_PREEMPT: only the kernel's preemption tick
 * takes the core from them, and stops them for a freeze).
 */
#include "kernel/rv_config.h"
#include <uarea_mppa256.h>
#include "demo.h"

demo_app_t demo_app;

uint64_t demo_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

uint64_t demo_seed(unsigned w) { return 0x9e3779b97f4a7c15ull * (uint64_t)(w + 1u); }

uint64_t demo_step(uint64_t acc, uint64_t *page, unsigned w, unsigned step)
{
    unsigned k;
    for (k = 0; k < 64u; k++) acc = demo_mix(acc ^ step ^ ((uint64_t)w << 40) ^ k);
    page[step % 512u] += acc;
    return acc;
}

uint64_t demo_finish(uint64_t acc, const uint64_t *page)
{
    unsigned i;
    for (i = 0; i < 512u; i++) acc = demo_mix(acc ^ page[i]);
    return acc;
}

static void *worker(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg, s, i;
    int yields = demo_app.mode != DEMO_PREEMPT;
    uint64_t *page = (uint64_t *)uarea_heap_alloc(uarea_current(), 4096);
    if (page == NULL) return (void *)1;
    for (i = 0; i < 512u; i++) page[i] = 0;
    for (s = 0; s < demo_app.steps; s++) {
        demo_app.acc[w] = demo_step(demo_app.acc[w], page, w, s);
        __atomic_add_fetch(&demo_app.steps_done, 1u, __ATOMIC_RELAXED);
        if (yields) (void)uarea_thread_yield();
    }
    demo_app.acc[w] = demo_finish(demo_app.acc[w], page);
    return NULL;
}

/* Until the workers have done `target` steps in all (or ended). Without
 * yielding in DEMO_PREEMPT: the tick takes the core away. */
static void wait_progress(uint64_t target)
{
    while (__atomic_load_n(&demo_app.steps_done, __ATOMIC_RELAXED) < target) {
        if (demo_app.mode != DEMO_PREEMPT) (void)uarea_thread_yield();
    }
}

void *demo_main(void *arg)
{
    uarea_tid_t t[DEMO_WORKERS];
    uint64_t total = (uint64_t)DEMO_WORKERS * demo_app.steps;
    unsigned w;
    int i;
    (void)arg;
    for (w = 0; w < DEMO_WORKERS; w++) {
        demo_app.acc[w] = demo_seed(w);
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) < 0) return (void *)1;
    }
    kprintf("app: %d workers (%s), %u steps each, route", DEMO_WORKERS,
            demo_app.mode == DEMO_PREEMPT ? "never yielding" : "yielding", demo_app.steps);
    for (i = 0; i < demo_app.n_route; i++) kprintf(" %d", demo_app.route[i]);
    kprintf("\n");
    for (i = 0; i < demo_app.n_route; i++) {
        int from = knode_get_num(), rc;
        /* spread the hops over the computation */
        wait_progress(total * (uint64_t)(i + 1) / (uint64_t)(demo_app.n_route + 2));
        demo_app.hop = i;
        rc = migrate_to(demo_app.route[i]);
        demo_app.hop_rc[i] = rc;
        demo_app.hop_from[i] = from;
        demo_app.hop_at[i] = knode_get_num();
        demo_app.hop_steps[i] = __atomic_load_n(&demo_app.steps_done, __ATOMIC_RELAXED);
        kprintf("app: hop %d: migrate_to(%d) from cluster %d = %d (%s), running on cluster %d, "
                "worker steps %u of %u\n",
                i, demo_app.route[i], from, rc, rc == 0 ? "moved" : uarea_strerror(rc),
                demo_app.hop_at[i], (unsigned)demo_app.hop_steps[i], (unsigned)total);
    }
    demo_app.hop = -1;
    for (w = 0; w < DEMO_WORKERS; w++) (void)uarea_thread_join(t[w], NULL);
    demo_app.result = 0;
    for (w = 0; w < DEMO_WORKERS; w++) demo_app.result = demo_mix(demo_app.result ^ demo_app.acc[w]);
    demo_app.ended = 1;
    kprintf("app: ended on cluster %d, result %016llx\n", knode_get_num(),
            (unsigned long long)demo_app.result);
    return NULL;
}
