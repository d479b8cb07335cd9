/*
 * mppa_chip - the MPPA-256 port (ports/mppa256/) on the chip model
 * (ports/mppa256/model/): every cluster a process with its own memory, the
 * container region at the same address in each, Nanvix's IKC calls with the
 * chip's limits between them. The port's code is the one the chip builds.
 *
 *   mppa_chip tour       a container of 4 threads starts on cluster 8, goes
 *                        round every compute cluster (9..23) and back to 8
 *                        while its workers compute; the result equals the
 *                        same computation without migration
 *   mppa_chip parallel   4 containers on clusters 8, 10, 12, 14 each go back
 *                        and forth with a partner (9, 11, 13, 15) at once
 *   mppa_chip refused    migrate_to an I/O node, a node beyond the chip, the
 *                        cluster itself, a compute cluster that is not booted:
 *                        each refused with its error, the container running on
 *                        where it was
 *   mppa_chip budget     what a compute cluster's memory holds for uarea
 *
 * Each mode checks what it says and exits 0, or prints what failed and exits
 * 1. Figures (per migration: downtime, total, image bytes, IKC messages and
 * portal pieces) go to stdout.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The container region's address on every cluster: where the host lets the
 * model map it (a sanitizer's shadow takes other ranges). */
#if defined(__SANITIZE_THREAD__)
#  define UAREA_MPPA256_REGION_ADDR ((uintptr_t)0x80000000ull)
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define UAREA_MPPA256_REGION_ADDR ((uintptr_t)0x80000000ull)
#  endif
#endif
#ifndef UAREA_MPPA256_REGION_ADDR
#  define UAREA_MPPA256_REGION_ADDR ((uintptr_t)0x200000000000ull)
#endif
/* a few user cores per cluster: 16 cluster processes share this host */
#ifndef UAREA_MPPA256_USER_CORES
#  define UAREA_MPPA256_USER_CORES 2
#endif

#define UAREA_IMPLEMENTATION
#include <uarea_mppa256.h>
#define UAREA_MPPA256_MODEL_IMPLEMENTATION
#include "nanvix_model.h"

#if defined(__SANITIZE_THREAD__)
#  define MPPA_CHIP_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MPPA_CHIP_TSAN 1
#  endif
#endif
#ifdef MPPA_CHIP_TSAN
/* A cluster ends with _exit, which skips ThreadSanitizer's exit status: stop
 * at the first report instead, so that a race fails the cluster and the test. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "halt_on_error=1"; }
#endif

#define WORKERS 3
#define STEPS 20000u
#define HOPS_MAX 40
#define CONTAINERS_MAX 8

/* ---- The container's program --------------------------------------------- */
/* Its state: one user section (it moves with the container). */
struct app {
    int id;                      /* which container */
    int route[HOPS_MAX], n_route;
    int hop_rc[HOPS_MAX], hop_at[HOPS_MAX];
    uint64_t hop_progress[HOPS_MAX];   /* worker steps done when the hop returned */
    volatile uint64_t steps;     /* worker steps so far */
    uint64_t acc[WORKERS];
    uint64_t result;
    int refuse_rc[4], refuse_at[4];
};
static struct app app __attribute__((section("mppa_user"), aligned(64)));

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* One worker's computation, step by step (its page of the heap in `page`). */
static uint64_t work_step(uint64_t acc, uint64_t *page, unsigned w, unsigned step)
{
    unsigned k;
    for (k = 0; k < 256u; k++) acc = mix(acc ^ step ^ ((uint64_t)w << 40) ^ k);
    page[step % 512u] += acc;
    return acc;
}

static uint64_t work_end(uint64_t acc, const uint64_t *page)
{
    unsigned i;
    for (i = 0; i < 512u; i++) acc = mix(acc ^ page[i]);
    return acc;
}

static void *worker(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg, s;
    uint64_t *page = (uint64_t *)uarea_heap_alloc(uarea_current(), 4096);
    if (page == NULL) return (void *)1;
    memset(page, 0, 4096);
    for (s = 0; s < STEPS; s++) {
        app.acc[w] = work_step(app.acc[w], page, w, s);
        __atomic_add_fetch(&app.steps, 1u, __ATOMIC_RELAXED);
        (void)uarea_thread_yield();
    }
    app.acc[w] = work_end(app.acc[w], page);
    return NULL;
}

/* Without migration, on the host: what the workers compute. */
static uint64_t expected(int id)
{
    static uint64_t page[512];
    uint64_t r = 0;
    unsigned w, s;
    for (w = 0; w < WORKERS; w++) {
        uint64_t acc = (uint64_t)id * 1000003u + w;
        memset(page, 0, sizeof page);
        for (s = 0; s < STEPS; s++) acc = work_step(acc, page, w, s);
        r = mix(r ^ work_end(acc, page));
    }
    return r;
}

static void *app_main(void *arg)
{
    uarea_tid_t t[WORKERS];
    unsigned w;
    int i;
    (void)arg;
    for (w = 0; w < WORKERS; w++) {
        app.acc[w] = (uint64_t)app.id * 1000003u + w;
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) < 0) return (void *)1;
    }
    for (i = 0; i < app.n_route; i++) {
        app.hop_rc[i] = migrate_to(app.route[i]);
        app.hop_at[i] = noc_node_self();
        app.hop_progress[i] = __atomic_load_n(&app.steps, __ATOMIC_RELAXED);
    }
    for (w = 0; w < WORKERS; w++) (void)uarea_thread_join(t[w], NULL);
    app.result = 0;
    for (w = 0; w < WORKERS; w++) app.result = mix(app.result ^ app.acc[w]);
    return NULL;
}

/* ---- What the clusters tell the test (shared by every cluster process) ---- */
struct shared {
    volatile int stop;
    int n_ended;
    struct app ended[CONTAINERS_MAX];     /* each container's state where it ended */
    int ended_on[CONTAINERS_MAX];
    int n_arrivals;
    migrate_stats arrivals[256];
    int cluster_rc[UAREA_MPPA256_NODES];
};
static struct shared *sh;

/* What each cluster starts with: container `start_id[node]` (-1: none). */
static int start_id[UAREA_MPPA256_NODES];
static struct app start_app[CONTAINERS_MAX];
static int64_t proto_timeout_ns;

static void on_arrival(void *arg, const migrate_stats *st)
{
    int i = __atomic_fetch_add(&sh->n_arrivals, 1, __ATOMIC_ACQ_REL);
    (void)arg;
    if (i < 256) sh->arrivals[i] = *st;
}

static void on_end(void *arg, struct uarea *ua)
{
    (void)arg;
    (void)ua;
    if (app.id >= 0 && app.id < CONTAINERS_MAX) {
        sh->ended[app.id] = app;
        sh->ended_on[app.id] = knode_get_num();
    }
    __atomic_add_fetch(&sh->n_ended, 1, __ATOMIC_ACQ_REL);
}

static int keep_running(void *arg)
{
    (void)arg;
    return !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
}

/* Core 0 of a cluster. */
static void cluster(void)
{
    int node = knode_get_num();
    migrate_region user = {(uintptr_t)&app, sizeof app};
    uarea_mppa256_desc d;
    memset(&d, 0, sizeof d);
    memset(&app, 0, sizeof app);
    d.user = &user;
    d.n_user = 1;
    d.binary_fp = 0x6d707061ull;   /* one image: every cluster is this binary */
    d.timeout_ns = proto_timeout_ns;
    if (start_id[node] >= 0) {
        app = start_app[start_id[node]];
        d.main = app_main;
    }
    d.on_arrival = on_arrival;
    d.on_end = on_end;
    d.keep_running = keep_running;
    sh->cluster_rc[node] = uarea_mppa256_cluster_main(&d);
    /* the cores have ended (the runtime waited for them); their threads are
     * the model's to reap */
    for (int i = 1; i <= UAREA_MPPA256_USER_CORES; i++) (void)mppa_model_core_join(i);
}

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAILED: " __VA_ARGS__); printf("\n"); } } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Boot `nodes`, wait for `containers` to end (limit_ms), stop, reap. */
static void run(const int *nodes, int n_nodes, int containers, unsigned limit_ms)
{
    long pid[UAREA_MPPA256_NODES];
    uint64_t end = now_ms() + limit_ms;
    int i;
    for (i = 0; i < n_nodes; i++) {
        pid[i] = mppa_model_boot(nodes[i], cluster);
        CHECK(pid[i] > 0, "boot node %d: %ld", nodes[i], pid[i]);
    }
    while (__atomic_load_n(&sh->n_ended, __ATOMIC_ACQUIRE) < containers && now_ms() < end)
        usleep(1000);
    CHECK(sh->n_ended == containers, "%d of %d containers ended within %u ms", sh->n_ended,
          containers, limit_ms);
    __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < n_nodes; i++) {
        int st = pid[i] > 0 ? mppa_model_wait(pid[i], 10000) : -1;
        CHECK(st == 0, "cluster %d ended with status %d", nodes[i], st);
        CHECK(sh->cluster_rc[nodes[i]] == 0, "cluster %d: uarea_mppa256_cluster_main %d (%s)",
              nodes[i], sh->cluster_rc[nodes[i]], uarea_strerror(sh->cluster_rc[nodes[i]]));
    }
}

static void setup(void)
{
    void *r;
    int i;
    sh = (struct shared *)mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                               -1, 0);
    if (sh == MAP_FAILED) { perror("mmap"); exit(2); }
    memset(sh, 0, sizeof *sh);
    /* every cluster's region: the same address, private to each process */
    r = mmap((void *)UAREA_MPPA256_REGION_ADDR, UAREA_CONTAINER_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (r != (void *)UAREA_MPPA256_REGION_ADDR) { perror("mmap region"); exit(2); }
    if (mppa_model_init() != 0) { fprintf(stderr, "mppa_model_init failed\n"); exit(2); }
    for (i = 0; i < UAREA_MPPA256_NODES; i++) start_id[i] = -1;
    proto_timeout_ns = INT64_C(1000000000);
}

static void totals(int hops)
{
    mppa_model_counters c, sum;
    int i;
    memset(&sum, 0, sizeof sum);
    for (i = 0; i < UAREA_MPPA256_NODES; i++) {
        mppa_model_stats(i, &c);
        sum.mailbox_sent += c.mailbox_sent;
        sum.portal_sent += c.portal_sent;
        sum.portal_bytes_sent += c.portal_bytes_sent;
        sum.allows += c.allows;
    }
    if (hops <= 0) return;
    printf("per migration (%d): %.1f IKC messages, %.1f portal pieces (%.1f allows), "
           "%.0f portal bytes\n", hops, (double)sum.mailbox_sent / hops,
           (double)sum.portal_sent / hops, (double)sum.allows / hops,
           (double)sum.portal_bytes_sent / hops);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void figures(void)
{
    static uint64_t down[256], total[256];
    uint64_t bytes = 0;
    int i, n = sh->n_arrivals < 256 ? sh->n_arrivals : 256;
    if (n == 0) return;
    for (i = 0; i < n; i++) {
        down[i] = sh->arrivals[i].downtime_ns;
        total[i] = sh->arrivals[i].total_ns;
        bytes += sh->arrivals[i].bytes;
    }
    qsort(down, (size_t)n, sizeof down[0], cmp_u64);
    qsort(total, (size_t)n, sizeof total[0], cmp_u64);
    printf("migrations: %d; downtime median %.0f us (min %.0f, max %.0f); total median %.0f us; "
           "image %.0f bytes on average\n", n, down[n / 2] / 1e3, down[0] / 1e3,
           down[n - 1] / 1e3, total[n / 2] / 1e3, (double)bytes / n);
}

/* ---- Modes ----------------------------------------------------------------- */
static void tour(void)
{
    int nodes[16], i;
    struct app *a = &start_app[0];
    memset(a, 0, sizeof *a);
    for (i = 0; i < 16; i++) nodes[i] = UAREA_MPPA256_FIRST_COMPUTE + i;
    for (i = 0; i < 15; i++) a->route[i] = UAREA_MPPA256_FIRST_COMPUTE + 1 + i;   /* 9..23 */
    a->route[15] = UAREA_MPPA256_FIRST_COMPUTE;                                   /* back to 8 */
    a->n_route = 16;
    start_id[8] = 0;
    run(nodes, 16, 1, 120000);
    a = &sh->ended[0];
    for (i = 0; i < 16; i++) {
        CHECK(a->hop_rc[i] == 0, "hop %d to %d: %d (%s)", i, a->route[i], a->hop_rc[i],
              uarea_strerror(a->hop_rc[i]));
        CHECK(a->hop_at[i] == a->route[i], "hop %d: returned on node %d, not %d", i, a->hop_at[i],
              a->route[i]);
    }
    printf("route: 8");
    for (i = 0; i < 16; i++) printf(" -> %d", a->hop_at[i]);
    printf("\nworker steps done when each hop returned:");
    for (i = 0; i < 16; i++) printf(" %llu", (unsigned long long)a->hop_progress[i]);
    printf(" (of %u)\n", WORKERS * STEPS);
    CHECK(a->hop_progress[0] < (uint64_t)WORKERS * STEPS && a->hop_progress[15] > a->hop_progress[0],
          "the workers did not compute during the tour");
    CHECK(sh->ended_on[0] == 8, "the container ended on node %d, not 8", sh->ended_on[0]);
    CHECK(a->result == expected(0), "result %016llx, without migration %016llx",
          (unsigned long long)a->result, (unsigned long long)expected(0));
    printf("result %016llx, without migration %016llx: %s (ended on cluster %d)\n",
           (unsigned long long)a->result, (unsigned long long)expected(0),
           a->result == expected(0) ? "match" : "DIFFER", sh->ended_on[0]);
    CHECK(sh->n_arrivals == 16, "%d arrivals, 16 expected", sh->n_arrivals);
    figures();
    totals(sh->n_arrivals);
}

static void parallel(void)
{
    int nodes[8], i, k;
    for (i = 0; i < 8; i++) nodes[i] = UAREA_MPPA256_FIRST_COMPUTE + i;
    for (k = 0; k < 4; k++) {
        struct app *a = &start_app[k];
        int home = UAREA_MPPA256_FIRST_COMPUTE + 2 * k;
        memset(a, 0, sizeof *a);
        a->id = k;
        for (i = 0; i < 8; i++) a->route[i] = i % 2 == 0 ? home + 1 : home;
        a->n_route = 8;
        start_id[home] = k;
    }
    run(nodes, 8, 4, 120000);
    for (k = 0; k < 4; k++) {
        struct app *a = &sh->ended[k];
        for (i = 0; i < 8; i++)
            CHECK(a->hop_rc[i] == 0 && a->hop_at[i] == a->route[i],
                  "container %d hop %d to %d: rc %d, on %d", k, i, a->route[i], a->hop_rc[i],
                  a->hop_at[i]);
        CHECK(a->result == expected(k), "container %d: result differs", k);
        printf("container %d: %d hops between %d and %d, result %s\n", k, a->n_route,
               a->route[1], a->route[0], a->result == expected(k) ? "matches" : "DIFFERS");
    }
    CHECK(sh->n_arrivals == 32, "%d arrivals, 32 expected", sh->n_arrivals);
    figures();
    totals(sh->n_arrivals);
}

static void refused(void)
{
    int nodes[2] = {8, 9}, i;
    struct app *a = &start_app[0];
    static const int want[4] = {UAREA_ENODEKIND, UAREA_EBADNODE, UAREA_ESAMENODE, 0};
    memset(a, 0, sizeof *a);
    /* an I/O node, beyond the chip, itself, a compute cluster not booted,
     * then one that is: the last one moves it */
    a->route[0] = 3;
    a->route[1] = UAREA_MPPA256_NODES;
    a->route[2] = 8;
    a->route[3] = 20;
    a->route[4] = 9;
    a->n_route = 5;
    start_id[8] = 0;
    proto_timeout_ns = INT64_C(200000000);
    run(nodes, 2, 1, 60000);
    a = &sh->ended[0];
    for (i = 0; i < 3; i++) {
        CHECK(a->hop_rc[i] == want[i], "migrate_to(%d): %d (%s), expected %d (%s)", a->route[i],
              a->hop_rc[i], uarea_strerror(a->hop_rc[i]), want[i], uarea_strerror(want[i]));
        CHECK(a->hop_at[i] == 8, "after migrate_to(%d) the container is on %d", a->route[i],
              a->hop_at[i]);
    }
    CHECK(a->hop_rc[3] < 0 && a->hop_at[3] == 8,
          "migrate_to(20), not booted: rc %d (%s), on %d", a->hop_rc[3],
          uarea_strerror(a->hop_rc[3]), a->hop_at[3]);
    CHECK(a->hop_rc[4] == 0 && a->hop_at[4] == 9, "then migrate_to(9): rc %d, on %d",
          a->hop_rc[4], a->hop_at[4]);
    CHECK(a->result == expected(0), "result differs after the refusals");
    for (i = 0; i < 5; i++)
        printf("migrate_to(%d): %d (%s), running on %d\n", a->route[i], a->hop_rc[i],
               a->hop_rc[i] == 0 ? "moved" : uarea_strerror(a->hop_rc[i]), a->hop_at[i]);
}

static void budget(void)
{
    uarea_mppa256_budget b;
    uarea_mppa256_budget_get(&b);
    printf("compute cluster budget, port %s (defaults: %u threads, %u-byte stacks, %u heap pages):\n",
           uarea_port_name(), (unsigned)UAREA_THREADS_MAX, (unsigned)UAREA_STACK_SIZE,
           (unsigned)UAREA_HEAP_PAGES);
    printf("  UArea            %8zu\n", b.uarea);
    printf("  stacks           %8zu\n", b.stacks);
    printf("  heap             %8zu\n", b.heap);
    printf("  container region %8zu  of the %zu-byte user memory (%.1f %%)\n", b.region, b.region_max,
           100.0 * (double)b.region / (double)b.region_max);
    printf("  daemon + master  %8zu  (protocol state, image writer/reader, page lists)\n",
           b.daemon);
    printf("  image block      %8zu\n", b.block);
    printf("  IKC binding      %8zu\n", b.transport);
    printf("  runtime          %8zu\n", b.runtime);
    printf("  total            %8zu of %zu bytes of SRAM (%.1f %%); %zu left for the kernel\n",
           b.total, b.sram, 100.0 * (double)b.total / (double)b.sram,
           b.total <= b.sram ? b.sram - b.total : 0);
    CHECK(strcmp(uarea_port_name(), "mppa256") == 0, "built with port %s", uarea_port_name());
    CHECK(b.total <= b.sram, "uarea's part does not fit a compute cluster");
    CHECK(b.region <= b.region_max, "the container region does not fit the user memory");
    CHECK(b.region == b.uarea + b.stacks + b.heap || b.region >= b.uarea + b.stacks + b.heap,
          "the region holds the UArea, the stacks and the heap");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "budget") == 0) {
        budget();
    } else {
        setup();
        if (strcmp(mode, "tour") == 0) tour();
        else if (strcmp(mode, "parallel") == 0) parallel();
        else if (strcmp(mode, "refused") == 0) refused();
        else {
            fprintf(stderr, "usage: mppa_chip tour|parallel|refused|budget\n");
            return 2;
        }
    }
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
