/* bench_steps: where the time of migrate_to goes, step by step. A container
 * of one thread hops between two node processes (2 cores each); every named
 * step of both nodes (desc.on_step: the protocol's trace points and the
 * runtime's own) is time-stamped with CLOCK_MONOTONIC, beside the calling
 * thread's own "app.call" and "app.return". Prints, for stop and copy and
 * for pre-copy, the median and 90th percentile of the call-to-return time,
 * of the downtime (source frozen -> destination active), of the time from
 * the call to the source's first step (how soon the master serves the
 * call), and the steps with the largest median gaps.
 *
 *   bench_steps [hops] [heap KiB]    (default 41 hops, no heap)
 *
 * With BENCH_STEPS_DUMP set in the environment, the steps of the middle hop
 * of each mode are printed too, each with its time since the call.
 *
 * With a heap size, the container first allocates and fills that much heap
 * (up to 2 MiB), so that the transfer dominates (a 2 MiB heap: an image of
 * about 2.2 MB).
 *
 * Figures, not a test: the machine's load changes them. */
#define UAREA_HEAP_PAGES 600u     /* room for a 2 MiB heap */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "bench_util.h"

#define MAX_EV 65536
#define MAX_HOPS 1000

struct ev { uint64_t t; int node; char step[24]; };
static struct ev *evs;
static int *nev;
static UAREA_USER int hops;
static UAREA_USER unsigned heap_kib;

static void on_step(void *arg, int node, const char *step)
{
    int i = __atomic_fetch_add(nev, 1, __ATOMIC_ACQ_REL);
    (void)arg;
    if (i >= MAX_EV) return;
    evs[i].t = now_ns();
    evs[i].node = node;
    snprintf(evs[i].step, sizeof evs[i].step, "%s", step);
}

static int app(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (heap_kib > 0) {
        size_t n = (size_t)heap_kib * 1024u;
        unsigned char *big = uarea_malloc(n);
        if (big == NULL) return 2;
        for (size_t k = 0; k < n; k++) big[k] = (unsigned char)(k * 7u + 1u);
    }
    for (int i = 0; i < hops; i++) {
        on_step(NULL, noc_node_self(), "app.call");
        if (migrate_to(1 - noc_node_self()) != 0) return 1;
        on_step(NULL, noc_node_self(), "app.return");
    }
    return 0;
}

static void stats(const char *what, uint64_t *v, int n)
{
    if (n == 0) { printf("  %-34s (none)\n", what); return; }
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    printf("  %-34s median %9.1f us   p90 %9.1f us   (%d)\n", what, v[n / 2] / 1e3,
           v[(n * 9) / 10] / 1e3, n);
}

/* The steps between two consecutive events of one hop, by name pair. */
struct gap { char a[24], b[24]; uint64_t v[MAX_HOPS]; int n; };
static struct gap gaps[256];
static int ngaps;

static void add_gap(const char *a, const char *b, uint64_t d)
{
    int i;
    for (i = 0; i < ngaps; i++)
        if (strcmp(gaps[i].a, a) == 0 && strcmp(gaps[i].b, b) == 0) break;
    if (i == ngaps) {
        if (ngaps == 256) return;
        snprintf(gaps[i].a, sizeof gaps[i].a, "%s", a);
        snprintf(gaps[i].b, sizeof gaps[i].b, "%s", b);
        gaps[i].n = 0;
        ngaps++;
    }
    if (gaps[i].n < MAX_HOPS) gaps[i].v[gaps[i].n++] = d;
}

static uint64_t gap_median(struct gap *g)
{
    qsort(g->v, (size_t)g->n, sizeof g->v[0], cmp_u64);
    return g->v[g->n / 2];
}

static int run(int precopy)
{
    static uint64_t total[MAX_HOPS], down[MAX_HOPS], serve[MAX_HOPS];
    int nt = 0, nd = 0, ns = 0, rc;
    uint64_t t_call = 0, t_frozen = 0;
    int have_start = 0;
    *nev = 0;
    ngaps = 0;
    rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .cores = 2, .on_step = on_step,
                                             .no_precopy = !precopy},
                         app, 0, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_steps: the run failed (%d)\n", rc);
        return 1;
    }
    for (int i = 0; i < *nev && i < MAX_EV; i++) {
        const struct ev *e = &evs[i];
        if (i > 0 && strcmp(e->step, "app.call") != 0)
            add_gap(evs[i - 1].step, e->step, e->t - evs[i - 1].t);
        if (strcmp(e->step, "app.call") == 0) {
            t_call = e->t;
            have_start = 0;
        } else if (strcmp(e->step, "src.start") == 0 && !have_start && t_call && ns < MAX_HOPS) {
            serve[ns++] = e->t - t_call;
            have_start = 1;
        } else if (strcmp(e->step, "src.frozen") == 0) {
            t_frozen = e->t;
        } else if (strcmp(e->step, "node.active") == 0 && t_frozen && nd < MAX_HOPS) {
            down[nd++] = e->t - t_frozen;
            t_frozen = 0;
        } else if (strcmp(e->step, "app.return") == 0 && t_call && nt < MAX_HOPS) {
            total[nt++] = e->t - t_call;
        }
    }
    if (getenv("BENCH_STEPS_DUMP") != NULL) {
        /* the steps of the middle hop, each with its time from the call */
        int calls = 0, want = hops / 2;
        uint64_t t0 = 0;
        for (int i = 0; i < *nev && i < MAX_EV; i++) {
            const struct ev *e = &evs[i];
            if (strcmp(e->step, "app.call") == 0 && calls++ == want) t0 = e->t;
            if (t0 == 0) continue;
            if (strcmp(e->step, "app.call") == 0 && e->t != t0) break;
            printf("    %9.1f us  node %d  %s\n", (e->t - t0) / 1e3, e->node, e->step);
        }
    }
    printf("%s, %d hops:\n", precopy ? "pre-copy" : "stop and copy", hops);
    stats("migrate_to call -> return", total, nt);
    stats("downtime (frozen -> cores active)", down, nd);
    stats("call -> the source's first step", serve, ns);
    /* the ten largest median gaps */
    printf("  largest median gaps between consecutive steps:\n");
    for (int k = 0; k < 10 && ngaps > 0; k++) {
        int best = -1;
        uint64_t bm = 0;
        for (int i = 0; i < ngaps; i++) {
            if (gaps[i].n < hops / 4) continue;
            uint64_t m = gap_median(&gaps[i]);
            if (best < 0 || m > bm) { best = i; bm = m; }
        }
        if (best < 0) break;
        printf("    %9.1f us  %s -> %s (%d)\n", bm / 1e3, gaps[best].a, gaps[best].b, gaps[best].n);
        gaps[best].n = 0;   /* taken */
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    hops = argc > 1 ? atoi(argv[1]) : 41;
    heap_kib = argc > 2 ? (unsigned)atoi(argv[2]) : 0u;
    if (heap_kib > 2048u) heap_kib = 2048u;
    if (hops < 1 || hops > MAX_HOPS) hops = 41;
    evs = mmap(NULL, sizeof(struct ev) * MAX_EV + 64, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (evs == MAP_FAILED) return 1;
    nev = (int *)(void *)(evs + MAX_EV);
    printf("bench_steps: one thread, 2 node processes with 2 cores each\n\n");
    return run(0) || run(1);
}
