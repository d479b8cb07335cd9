/* bench_large: big containers migrating while they keep writing, each
 * migration mode side by side. One build per container size
 * (bench/posix/CMakeLists.txt: bench_large_16m, _64m, _256m set BENCH_MIB
 * and UAREA_HEAP_PAGES); bench/posix/large.sh runs the three and plots.
 *
 * The container: BENCH_MIB MiB of heap in one block, every page written
 * with a pattern (no zero page: every byte of it must move); a writer
 * thread that writes 1 MiB spread over the heap (256 pages at spread
 * places, a whole page each) every period, at two rates in turn: 1 MiB
 * every 10 ms (100 MiB/s) and 1 MiB every 1 ms (1000 MiB/s); a worker
 * thread that does fixed units of work on a small buffer of its own
 * (the container's "own work"); and thread 0, which moves the container
 * between two nodes `migrations` times, each hop 10 ms + 0.125 ms per MiB
 * after the last one ended (the node the last hop left frees its copy's
 * pages meanwhile). Before each migration it counts
 * the worker's units over 20 ms (the rate without a migration), then
 * over the migration (the migrate_to call, and with post-copy until the
 * last page is in: the record of the migration is there): "work" is the
 * rate during the migration over the rate before (1.00: the migration
 * cost the work nothing).
 *
 * Per mode and rate (medians over the migrations): the downtime (frozen on
 * the source -> running on the destination), the total (request ->
 * commit), the image bytes sent (before and during the freeze), the
 * pre-copy rounds, the pages the destination fetched on demand after it
 * started and those pushed to it in the background (post-copy; their bytes
 * count in "bytes sent"), the work ratio, and the
 * memcpy of the container's bytes, measured in the same run, as the floor.
 * Pre-copy runs with the runtime's default policy (rounds while the
 * written set shrinks, migrate_config): "rounds" counts the images staged
 * before the freeze, "rounds ended" says why they stopped (the commonest
 * reason over the row's migrations). Post-copy freezes at once and leaves
 * every heap page with bytes for after; pre+post-copy runs the rounds
 * first and leaves what is still written. The total runs from the request
 * to the end: the commit, or with post-copy the last page in.
 *
 *   bench_large_64m [migrations per point] [out.csv]
 *
 * With BENCH_LARGE_DUMP set, every node's steps go to stderr with times.
 *
 * Figures, not a test: the machine's load changes them. */
#ifndef BENCH_MIB
#  error "build with BENCH_MIB (the heap the container fills, MiB) and UAREA_HEAP_PAGES"
#endif
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define BENCH_MAX_MIG 64
#include "bench_util.h"

#define HEAP_BYTES ((size_t)BENCH_MIB << 20)
#define STR_(x) #x
#define STR(x) STR_(x)
#define PAGE 4096u
#define HEAP_PAGES_USED (HEAP_BYTES / PAGE)
#define BATCH_PAGES 256u                 /* 1 MiB per batch */
#define MAX_MIG BENCH_MAX_MIG
#define WORK_WORDS 512u                  /* the worker's own buffer: 4 KiB */

static UAREA_USER unsigned char *heap;   /* on the container heap */
static UAREA_USER volatile int stop;
static UAREA_USER volatile uint64_t units;          /* the worker's work done */
static UAREA_USER volatile uint64_t batches;        /* the writer's batches done */
static UAREA_USER uint64_t work_buf[WORK_WORDS];
static UAREA_USER int cfg_migrations;
static UAREA_USER int64_t cfg_period_ns;
/* Per-migration figures of the container, out through a pipe every node
 * inherited from the launcher: the work ratio, in thousandths. */
static int work_fd = -1;

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

/* 1 MiB every period, 256 whole pages spread over the heap (a stride
 * prime to the page count, so that consecutive batches touch other
 * pages), late batches done at once (the writer keeps its rate on
 * average). */
static void *writer(void *arg)
{
    uint64_t next = now_ns(), k = 0;
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        for (unsigned i = 0; i < BATCH_PAGES; i++, k++) {
            size_t pg = (size_t)((k * 40503u) % HEAP_PAGES_USED);
            memset(heap + pg * PAGE, (int)(k & 0xffu) | 1, PAGE);
        }
        __atomic_add_fetch(&batches, 1u, __ATOMIC_RELAXED);
        next += (uint64_t)cfg_period_ns;
        uint64_t t = now_ns();
        if (next > t) sleep_ns((int64_t)(next - t));
    }
    return NULL;
}

/* Fixed units of work on a buffer of its own, a yield after each. */
static void *worker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        uint64_t x = units + 1;
        for (unsigned i = 0; i < WORK_WORDS; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            work_buf[i] += x;
        }
        __atomic_add_fetch(&units, 1u, __ATOMIC_RELAXED);
        uarea_thread_yield();
    }
    return NULL;
}

static int app(int argc, char **argv)
{
    uarea_tid_t tw, tk;
    (void)argc; (void)argv;
    heap = uarea_malloc(HEAP_BYTES - PAGE);
    if (heap == NULL) return 2;
    for (size_t i = 0; i < HEAP_BYTES - PAGE; i += 8) {
        uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull | 1u;
        memcpy(heap + i, &v, 8);
    }
    stop = 0;
    if (uarea_thread_create(&tw, writer, NULL) != 0) return 3;
    if (uarea_thread_create(&tk, worker, NULL) != 0) return 3;
    for (int m = 0; m < cfg_migrations; m++) {
        /* the node the last hop left frees that copy's pages meanwhile
         * (its drop: 15 ms for 256 MiB on a 2-vCPU VM); a hop into it
         * before that is over waits for it (see docs/posix-port.md) */
        sleep_ns(10000000 + (int64_t)BENCH_MIB * 125000);
        uint64_t u0 = units, t0 = now_ns();
        sleep_ns(20000000);
        uint64_t u1 = units, t1 = now_ns();
        int here = noc_node_self();
        migrate_stats prev, st;
        int had = uarea_posix_last_migration(&prev) == 0;
        if (migrate_to(1 - here) != 0) return 4;
        /* the migration is over when its record is in: at the commit, or
         * with post-copy when the last page is (the call returns before) */
        for (int k = 0; k < 50000; k++) {
            if (uarea_posix_last_migration(&st) == 0 &&
                (!had || st.mid != prev.mid || st.src != prev.src))
                break;
            sleep_ns(100000);
        }
        uint64_t u2 = units, t2 = now_ns();
        double before = (double)(u1 - u0) / (double)(t1 - t0);
        double during = (double)(u2 - u1) / (double)(t2 - t1);
        uint64_t ratio = before > 0 ? (uint64_t)(during / before * 1000.0 + 0.5) : 0;
        if (write(work_fd, &ratio, sizeof ratio) != sizeof ratio) return 6;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    if (uarea_thread_join(tw, NULL) != 0 || uarea_thread_join(tk, NULL) != 0) return 5;
    return 0;
}

/* BENCH_LARGE_DUMP set: every named step of every node, with its time
 * (CLOCK_MONOTONIC, the same clock in every node process), on stderr. */
static void dump_step(void *arg, int node, const char *step)
{
    (void)arg;
    fprintf(stderr, "%llu node %d %s\n", (unsigned long long)now_ns(), node, step);
}

/* migrate_precopy_stop, as the table prints it */
static const char *const stop_name[8] = {"-", "limit", "not-shrinking", "small", "budget",
                                         "failed", "?", "?"};

/* The modes this build can run. */
enum { MODE_SC, MODE_PRE, MODE_POST, MODE_PRE_POST, MODE_COUNT };
static const char *mode_name[MODE_COUNT] = {"stop-and-copy", "pre-copy", "post-copy",
                                            "pre+post-copy"};

int main(int argc, char **argv)
{
    int migs = argc > 1 ? atoi(argv[1]) : 5;
    const char *csv = argc > 2 ? argv[2] : NULL;
    static const int64_t periods[] = {10000000, 1000000};   /* 100 and 1000 MiB/s */
    if (migs < 1) migs = 1;
    if (migs > MAX_MIG) migs = MAX_MIG;
    if (csv == NULL) {
        FILE *probe = fopen("bench/results", "r");
        csv = probe ? "bench/results/large_" STR(BENCH_MIB) "m.csv"
                    : "large_" STR(BENCH_MIB) "m.csv";
        if (probe) fclose(probe);
    }
    FILE *out = fopen(csv, "w");
    if (out == NULL) { perror(csv); return 1; }
    uint64_t floor_ns = memcpy_ns(HEAP_BYTES, 5);
    fprintf(out, "heap_mib,mode,write_mib_s,migrations,downtime_us,total_us,bytes_sent,"
                 "bytes_frozen,rounds,fetched_pages,work_ratio,memcpy_us,rounds_ended,"
                 "pushed_pages\n");
    printf("bench_large: a %u MiB container (every page written), 2 node processes with "
           "2 cores each, %d migrations per row; a writer writes 1 MiB spread over the heap "
           "at the rate given, a worker computes; medians\n\n", (unsigned)BENCH_MIB, migs);
    printf("%-14s %6s %10s %10s %11s %11s %6s %-13s %7s %7s %6s %10s %9s\n", "mode", "MiB/s",
           "downtime us", "total us", "bytes sent", "frozen", "rounds", "rounds ended", "fetched",
           "pushed", "work", "memcpy us", "dt/memcpy");
    for (unsigned r = 0; r < sizeof periods / sizeof *periods; r++) {
        for (int mode = 0; mode < MODE_COUNT; mode++) {
            static point p;
            uint64_t dt[MAX_MIG], tot[MAX_MIG], sent[MAX_MIG], frozen[MAX_MIG], work[MAX_MIG];
            uint64_t rnd[MAX_MIG], fet[MAX_MIG], push[MAX_MIG];
            int stops[8] = {0};
            int fds[2];
            memset(&p, 0, sizeof p);
            if (pipe(fds) != 0) { perror("pipe"); return 1; }
            work_fd = fds[1];
            cfg_migrations = migs;
            cfg_period_ns = periods[r];
            uarea_posix_desc d = {.nodes = 2, .cores = 2, .on_migration = on_migration,
                                  .arg = &p, .no_precopy = mode == MODE_SC,
                                  .postcopy = mode == MODE_POST ? 1 : mode == MODE_PRE_POST ? 2 : 0,
                                  .on_step = getenv("BENCH_LARGE_DUMP") ? dump_step : NULL};
            int rc = uarea_posix_run(&d, app, argc, argv);
            close(fds[1]);
            if (rc != 0 || p.n != migs) {
                fprintf(stderr, "%s at %d MiB/s: run failed (%d, %d migrations)\n",
                        mode_name[mode], (int)(1000000000 / periods[r]), rc, p.n);
                return 1;
            }
            for (int i = 0; i < migs; i++) {
                dt[i] = p.st[i].downtime_ns;
                tot[i] = p.st[i].total_ns;
                sent[i] = p.st[i].bytes + p.st[i].precopy_bytes +
                          ((uint64_t)p.st[i].pages_fetched + p.st[i].pages_pushed) * 4096u;
                fet[i] = p.st[i].pages_fetched;
                push[i] = p.st[i].pages_pushed;
                frozen[i] = p.st[i].bytes;
                rnd[i] = p.st[i].precopy_rounds;
                if (p.st[i].precopy_stop >= 0 && p.st[i].precopy_stop < 8) stops[p.st[i].precopy_stop]++;
                if (read(fds[0], &work[i], sizeof work[i]) != sizeof work[i]) work[i] = 0;
            }
            close(fds[0]);
            uint64_t mdt = median(dt, migs), mtot = median(tot, migs);
            uint64_t msent = median(sent, migs), mfrozen = median(frozen, migs);
            uint64_t mwork = median(work, migs);
            unsigned rounds = (unsigned)median(rnd, migs), fetched = (unsigned)median(fet, migs);
            unsigned pushed = (unsigned)median(push, migs);
            int stop = 0;   /* the commonest reason the rounds stopped */
            for (int k = 1; k < 8; k++) if (stops[k] > stops[stop]) stop = k;
            int rate = (int)(1000000000 / periods[r]);   /* batches of 1 MiB per s */
            printf("%-14s %6d %10.1f %10.1f %11llu %11llu %6u %-13s %7u %7u %6.2f %10.1f %9.2f\n",
                   mode_name[mode], rate, mdt / 1e3, mtot / 1e3, (unsigned long long)msent,
                   (unsigned long long)mfrozen, rounds, stop_name[stop], fetched, pushed,
                   mwork / 1e3, floor_ns / 1e3, (double)mdt / (double)floor_ns);
            fprintf(out, "%u,%s,%d,%d,%.1f,%.1f,%llu,%llu,%u,%u,%.3f,%.1f,%s,%u\n",
                    (unsigned)BENCH_MIB, mode_name[mode], rate, migs, mdt / 1e3, mtot / 1e3,
                    (unsigned long long)msent, (unsigned long long)mfrozen, rounds, fetched,
                    mwork / 1e3, floor_ns / 1e3, stop_name[stop], pushed);
            fflush(stdout);
        }
    }
    fclose(out);
    printf("\nCSV: %s\n", csv);
    return 0;
}
