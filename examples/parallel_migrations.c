/* parallel_migrations: 1, 2, 4 and 8 containers migrating at once, each
 * between its own pair of node processes (container i: node i -> node K+i),
 * in the middle of a multi-threaded computation that each checks at the end.
 * Prints the downtime of the moves for each K (the Nanvix papers' third
 * question: do parallel migrations slow each other down?).
 *
 *   parallel_migrations [max K]     (default 8: 16 node processes)
 *   mpirun -np 2K parallel_migrations K    (a node per rank: docs/mpi.md) */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 2
#define SLICE 2048u
#define ROUNDS 300u

static UAREA_USER volatile unsigned progress;
static UAREA_USER uint64_t *array;
static UAREA_USER uint64_t digest[WORKERS];
static int k_now;   /* containers of this run (set before the nodes fork) */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t work(uint64_t *a, unsigned seed, int yield)
{
    uint64_t h = seed;
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
    digest[id] = work(array + (size_t)id * SLICE, 100u * (unsigned)uarea_posix_container() + id, 1);
    return NULL;
}

static int app_main(int argc, char **argv)
{
    int c = uarea_posix_container();
    uarea_tid_t t[WORKERS];
    (void)argc; (void)argv;
    array = uarea_malloc(sizeof(uint64_t) * SLICE * WORKERS);
    if (array == NULL) return 2;
    memset(array, 0, sizeof(uint64_t) * SLICE * WORKERS);
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 3;
    while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < WORKERS * ROUNDS / 2)
        uarea_thread_yield();
    int rc = migrate_to(c + k_now);
    if (rc != 0) {
        say("container %d: migrate_to(%d) failed: %s\n", c, c + k_now, uarea_strerror(rc));
        return 4;
    }
    if (noc_node_self() != c + k_now) return 5;
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_join(t[w], NULL) != 0) return 6;
    uint64_t got = 0, want = 0;
    uint64_t *ref = uarea_malloc(sizeof(uint64_t) * SLICE);
    if (ref == NULL) return 7;
    for (unsigned w = 0; w < WORKERS; w++) {
        got ^= mix(digest[w] + w);
        memset(ref, 0, sizeof(uint64_t) * SLICE);
        want ^= mix(work(ref, 100u * (unsigned)c + w, 0) + w);
    }
    return got == want ? 0 : 1;
}

typedef struct stats { uint64_t dt[16]; uint64_t bytes; int n; } stats;

static void on_migration(void *arg, const migrate_stats *st)
{
    stats *s = arg;
    if (s->n < 16) s->dt[s->n++] = st->downtime_ns;
    if (st->bytes > s->bytes) s->bytes = st->bytes;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int kmax = argc > 1 ? atoi(argv[1]) : 8;
    int failed = 0;
    /* under mpirun every rank runs main(); rank 0 has the records and prints */
    int printer = uarea_posix_mpi_rank() == 0;
    if (kmax < 1 || 2 * kmax > NOC_NODES_MAX) kmax = 8;
    if (printer) {
        say("parallel_migrations: K containers, each moving from node i to node K+i mid-run\n");
        say("%3s %6s %8s %10s %16s %13s %s\n", "K", "nodes", "moved", "bytes", "downtime med us",
            "max us", "results");
    }
    for (int k = 1; k <= kmax; k *= 2) {
        stats s;
        memset(&s, 0, sizeof s);
        k_now = k;
        uarea_posix_desc d = {.nodes = 2 * k, .containers = k, .on_migration = on_migration,
                              .arg = &s};
        int rc = uarea_posix_run(&d, app_main, argc, argv);
        int ok = rc == 0 && (!printer || s.n == k);
        if (!printer) {
            failed |= !ok;
            continue;
        }
        qsort(s.dt, (size_t)s.n, sizeof s.dt[0], cmp);
        say("%3d %6d %8d %10llu %16.1f %13.1f %s\n", k, 2 * k, s.n, (unsigned long long)s.bytes,
            s.n ? s.dt[s.n / 2] / 1e3 : 0.0, s.n ? s.dt[s.n - 1] / 1e3 : 0.0,
            ok ? "all match" : "FAILED");
        if (!ok) {
            if (rc < 0) say("  run: %s\n", uarea_strerror(rc));
            else say("  run returned %d\n", rc);
            failed = 1;
        }
    }
    return failed;
}
