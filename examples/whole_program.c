/* whole_program: a program written with ordinary globals — no UAREA_USER
 * anywhere — becomes a container with the CMake helper
 * uarea_posix_application(whole_program), which links this file's .data and
 * .bss into the container's user section. Its threads (one of which never
 * yields: the port's preemption tick moves it off its core) hop around a ring
 * of nodes while they compute; at the end the result is checked against the
 * same computation run without migrating.
 *
 *   whole_program [nodes]     (default 3)
 *
 * The runtime is compiled by the helper: this file includes <uarea_posix.h>
 * without UAREA_IMPLEMENTATION. */
#include <uarea_posix.h>
#include "say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 3
#define STEPS 3000000u

/* Plain globals: initialised (.data) and zero (.bss). */
static unsigned steps = STEPS;            /* .data */
static const char *labels[WORKERS] = { "yields", "yields", "spins" };
static uint64_t results[WORKERS];         /* .bss */
static unsigned progress[WORKERS];
static uint64_t *scratch;                 /* points into the container heap */
static int hops;

extern char __start_uarea_user[], __stop_uarea_user[];

static uint64_t step(uint64_t x, uint64_t i)
{
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x + i;
}

static uint64_t compute(unsigned id, int yield)
{
    uint64_t x = id + 1;
    for (unsigned i = 0; i < steps; i++) {
        x = step(x, i);
        scratch[id] = x;
        if ((i & 1023u) == 1023u) {
            __atomic_store_n(&progress[id], i, __ATOMIC_RELAXED);
            /* the last worker never yields: only preemption moves it */
            if (yield && id != WORKERS - 1) uarea_thread_yield();
        }
    }
    return x;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    results[id] = compute(id, 1);
    __atomic_store_n(&progress[id], steps, __ATOMIC_RELAXED);
    return NULL;
}

static unsigned seen(unsigned w)
{
    return __atomic_load_n(&progress[w], __ATOMIC_RELAXED) / (steps / 100);
}

static int in_container(const void *p)
{
    return (const char *)p >= __start_uarea_user && (const char *)p < __stop_uarea_user;
}

static int app_main(int argc, char **argv)
{
    int nodes = noc_nodes();
    uarea_tid_t t[WORKERS];
    (void)argc; (void)argv;
    if (!in_container(&steps) || !in_container(results) || !in_container(&scratch)) {
        say("the program's globals are not in the user section: failed\n");
        return 2;
    }
    scratch = uarea_malloc(sizeof(uint64_t) * WORKERS);
    if (scratch == NULL) return 3;
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 4;
    say("hop  from  to         bytes   downtime ms  worker progress (%s, %s, %s)\n", labels[0],
        labels[1], labels[2]);
    for (int hop = 1; hop <= nodes; hop++) {
        int from = noc_node_self(), to = (from + 1) % nodes;
        unsigned goal = steps / (unsigned)(nodes + 1) * (unsigned)hop;
        migrate_stats st;
        while (__atomic_load_n(&progress[WORKERS - 1], __ATOMIC_RELAXED) < goal)
            uarea_thread_yield();
        int rc = migrate_to(to);
        if (rc != 0) {
            say("hop %d: migrate_to(%d) failed: %s\n", hop, to, uarea_strerror(rc));
            return 5;
        }
        hops++;
        if (noc_node_self() != to || uarea_posix_last_migration(&st) != 0) return 6;
        say("%-4d %-5d %-5d %10llu %12.3f  %u%% %u%% %u%%\n", hop, from, to,
            (unsigned long long)st.bytes, st.downtime_ns / 1e6, seen(0), seen(1), seen(2));
    }
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_join(t[w], NULL) != 0) return 7;
    uint64_t got = 0, want = 0;
    for (unsigned w = 0; w < WORKERS; w++) got ^= results[w] + w;
    for (unsigned w = 0; w < WORKERS; w++) want ^= compute(w, 0) + w;
    say("%d hops; result %016llx, without migrating %016llx: %s (finished on node %d)\n", hops,
        (unsigned long long)got, (unsigned long long)want, got == want ? "match" : "MISMATCH",
        noc_node_self());
    return got == want && hops == nodes ? 0 : 1;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    d.nodes = argc > 1 ? atoi(argv[1]) : 3;
    int rc = uarea_posix_run(&d, app_main, argc, argv);
    if (rc < 0) fprintf(stderr, "whole_program: %s\n", uarea_strerror(rc));
    return rc == 0 ? 0 : 1;
}
