/* hello_migrate: a multi-threaded computation whose container hops around a
 * ring of node processes while it runs.
 *
 * Four worker threads fill and hash slices of an array on the container heap;
 * thread 0 moves the container to the next node every time the work passes
 * another fraction, and prints one row per hop. At the end it checks the
 * result against the same computation run without migrating.
 *
 *   hello_migrate [nodes]      (default 4) */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define SLICE 4096u               /* uint64_t per worker: 32 KiB each */
#define ROUNDS 400u

/* Globals of the container: they move with it. */
static UAREA_USER volatile unsigned progress;     /* rounds done, all workers */
static UAREA_USER uint64_t *array;                /* on the container heap */
static UAREA_USER uint64_t digest[WORKERS];

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* One worker's whole computation, over its slice of `a`. */
static uint64_t work(uint64_t *a, unsigned id, int yield)
{
    uint64_t h = id + 1;
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < SLICE; i++) {
            a[i] = mix(a[i] + h + i);
            h ^= a[i];
        }
        if (yield) {
            __atomic_add_fetch(&progress, 1u, __ATOMIC_RELAXED);
            uarea_thread_yield();
        }
    }
    return h;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    digest[id] = work(array + (size_t)id * SLICE, id, 1);
    return NULL;
}

static int app_main(int argc, char **argv)
{
    int nodes = noc_nodes();
    uarea_tid_t t[WORKERS];
    (void)argc; (void)argv;
    array = uarea_malloc(sizeof(uint64_t) * SLICE * WORKERS);
    if (array == NULL) { say("no heap\n"); return 2; }
    memset(array, 0, sizeof(uint64_t) * SLICE * WORKERS);
    say("hello_migrate: %d workers on a %d-node ring, container starts on node %d\n",
        WORKERS, nodes, noc_node_self());
    /* bytes: moved while the container ran (pre-copy), then while frozen */
    say("%-4s %-5s %-5s %10s %10s %10s %12s %10s\n", "hop", "from", "to", "pre bytes",
        "frozen", "zero pg", "downtime ms", "progress");
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 3;
    for (int hop = 1; hop <= nodes; hop++) {
        unsigned goal = (unsigned)(WORKERS * ROUNDS * hop / (nodes + 1));
        int from = noc_node_self(), to = (from + 1) % nodes;
        migrate_stats st;
        while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < goal) uarea_thread_yield();
        int rc = migrate_to(to);
        if (rc != 0) {
            say("hop %d: migrate_to(%d) failed: %s\n", hop, to, uarea_strerror(rc));
            return 4;
        }
        if (noc_node_self() != to) {
            say("hop %d: on node %d, not on node %d\n", hop, noc_node_self(), to);
            return 5;
        }
        if (uarea_posix_last_migration(&st) != 0) return 6;
        say("%-4d %-5d %-5d %10llu %10llu %10u %12.3f %9u%%\n", hop, from, to,
            (unsigned long long)st.precopy_bytes, (unsigned long long)st.bytes, st.zero_pages,
            st.downtime_ns / 1e6,
            __atomic_load_n(&progress, __ATOMIC_RELAXED) * 100u / (WORKERS * ROUNDS));
    }
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_join(t[w], NULL) != 0) return 7;
    uint64_t got = 0, want = 0;
    for (unsigned w = 0; w < WORKERS; w++) got ^= mix(digest[w] + w);
    /* the same computation, here, without threads or moves */
    uint64_t *ref = uarea_malloc(sizeof(uint64_t) * SLICE);
    if (ref == NULL) return 8;
    for (unsigned w = 0; w < WORKERS; w++) {
        memset(ref, 0, sizeof(uint64_t) * SLICE);
        want ^= mix(work(ref, w, 0) + w);
    }
    uarea_free(ref);
    say("result %016llx, without migrating %016llx: %s (finished on node %d)\n",
        (unsigned long long)got, (unsigned long long)want, got == want ? "match" : "MISMATCH",
        noc_node_self());
    return got == want ? 0 : 1;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    d.nodes = argc > 1 ? atoi(argv[1]) : 4;
    int rc = uarea_posix_run(&d, app_main, argc, argv);
    if (rc < 0) fprintf(stderr, "hello_migrate: %s\n", uarea_strerror(rc));
    return rc == 0 ? 0 : 1;
}
