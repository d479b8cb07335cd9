/* bench_downtime: migration downtime and total time on the POSIX port, versus
 * the number of threads and of heap pages (the Nanvix papers' second
 * question), beside the memcpy floor for the same bytes, measured in the same
 * run; then versus 1, 2, 4, 8 containers migrating at once between disjoint
 * pairs of nodes (the third question), beside the memcpy floor for all their
 * bytes. Every container carries 342.8 KB of user data (the papers' workload:
 * 342.8 KB of code and data, a 2 KB UArea, 8 KB stacks).
 *
 * Each point runs twice: stop and copy (the whole container moves while it is
 * frozen) and pre-copy (the runtime's default: heap and user data go while it
 * runs, the freeze moves what was written since). "bytes" is the container's
 * whole image, the memcpy floor is for those bytes; "frozen" is what the
 * pre-copy moved during the freeze. The ratios use the pre-copy downtime.
 *
 * Two times per migration and mode. "dt" is the downtime: from the freeze
 * on the source to the threads running on the destination (what the
 * container's other threads feel). "c2r" is what the thread that calls
 * migrate_to sees: from the call on the source to its return on the
 * destination (freeze, pre-copy rounds, transfer, commit, the wake-up of
 * the caller), measured by the container itself with CLOCK_MONOTONIC, which
 * every node process shares. Medians per row; the papers' workload also
 * gets its p99.
 *
 *   bench_downtime [migrations per point] [out.csv] [parallel.csv]
 *
 * Prints tables and the ratios last; writes the CSVs (default
 * bench/results/downtime.csv and parallel.csv when run from the source tree's
 * root, else ./). bench/posix/plot.sh draws them with gnuplot. */
#define UAREA_HEAP_PAGES 512u
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"

#define USER_BYTES 351027u            /* 342.8 KB */
#define MAX_MIG BENCH_MAX_MIG       /* 256: bench_util.h */

static UAREA_USER unsigned char user_data[USER_BYTES];
static UAREA_USER volatile int stop;
static UAREA_USER int cfg_threads, cfg_pages, cfg_migrations, cfg_k;
/* Total times go out through a pipe every node inherited from the launcher
 * (the same descriptor number in every node process). */
static int total_fd = -1;

static void *idler(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) uarea_thread_yield();
    return NULL;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t[UAREA_THREADS_MAX];
    (void)argc; (void)argv;
    for (unsigned i = 0; i < USER_BYTES; i++) user_data[i] = (unsigned char)(i * 7 + 1);
    for (int p = 0; p < cfg_pages; p++) {
        unsigned char *pg = uarea_malloc(UAREA_PAGE_SIZE - 16);
        if (pg == NULL) return 2;
        memset(pg, p + 1, UAREA_PAGE_SIZE - 16);
    }
    for (int i = 1; i < cfg_threads; i++)
        if (uarea_thread_create(&t[i], idler, NULL) != 0) return 3;
    for (int m = 0; m < cfg_migrations; m++) {
        uint64_t t0 = now_ns();
        /* container c moves between nodes c and c + K (K containers) */
        int home = uarea_posix_container(), away = home + cfg_k;
        if (migrate_to(noc_node_self() == home ? away : home) != 0) return 4;
        uint64_t total = now_ns() - t0;    /* migrate_to called -> returned there */
        if (write(total_fd, &total, sizeof total) != sizeof total) return 6;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 1; i < cfg_threads; i++)
        if (uarea_thread_join(t[i], NULL) != 0) return 5;
    return 0;
}

/* The floor for a container's bytes: best of 20. */
static uint64_t memcpy_ns20(size_t bytes) { return memcpy_ns(bytes, 20); }

int main(int argc, char **argv)
{
    int migs = argc > 1 ? atoi(argv[1]) : 10;
    const char *csv = argc > 2 ? argv[2] : NULL;
    const char *pcsv = argc > 3 ? argv[3] : NULL;
    static const int threads[] = {1, 2, 4, 8, 12, 17};
    static const int pages[] = {0, 8, 16, 32};
    struct { int t, p; } pts[64];
    int npts = 0;
    if (migs < 1) migs = 1;
    if (migs > MAX_MIG) migs = MAX_MIG;
    for (unsigned i = 0; i < sizeof threads / sizeof *threads; i++)
        for (unsigned j = 0; j < sizeof pages / sizeof *pages; j++) {
            pts[npts].t = threads[i];
            pts[npts++].p = pages[j];
        }
    pts[npts].t = 1; pts[npts++].p = 192;   /* containers of 1 MiB and more */
    pts[npts].t = 1; pts[npts++].p = 448;
    {
        FILE *probe = fopen("bench/results", "r");
        if (csv == NULL) csv = probe ? "bench/results/downtime.csv" : "downtime.csv";
        if (pcsv == NULL) pcsv = probe ? "bench/results/parallel.csv" : "parallel.csv";
        if (probe) fclose(probe);
    }
    FILE *out = fopen(csv, "w");
    if (out == NULL) { perror(csv); return 1; }
    fprintf(out, "threads,heap_pages,bytes,zero_pages,downtime_us,total_us,memcpy_us,"
                 "downtime_over_memcpy,stopcopy_downtime_us,stopcopy_total_us,frozen_bytes\n");
    printf("bench_downtime: 2 node processes, 2 cores each, %d migrations per point, "
           "342.8 KB user data in every container\n\n", migs);
    printf("dt: downtime (frozen on the source -> running on the destination); c2r: migrate_to\n"
           "called on the source -> returned on the destination, as the calling thread sees it\n\n");
    printf("%7s %6s %10s %10s %10s %10s %10s %9s %10s %9s %9s\n", "threads", "pages", "bytes",
           "s&c dt us", "s&c c2r", "pre dt us", "pre c2r", "frozen", "memcpy us", "dt/memcpy",
           "s&c/mcpy");
    double paper_dt = 0, big_ratio_worst = 0, big_sc_worst = 0;
    double paper[2][4] = {{0}};   /* [s&c, pre][dt, c2r median, c2r p99, c2r / dt] */
    uint64_t paper_bytes = 0;
    for (int k = 0; k < npts; k++) {
        static point p;
        uint64_t dt[MAX_MIG], tot[MAX_MIG], bytes = 0;
        memset(&p, 0, sizeof p);
        cfg_threads = pts[k].t;
        cfg_pages = pts[k].p;
        cfg_migrations = migs;
        cfg_k = 1;
        int fds[2];
        if (pipe(fds) != 0) { perror("pipe"); return 1; }
        total_fd = fds[1];
        uint64_t sc_dt = 0, sc_tot = 0, frozen = 0;
        uint32_t zero = 0;
        for (int pre = 0; pre < 2; pre++) {
            uarea_posix_desc d = {.nodes = 2, .cores = 2, .on_migration = on_migration,
                                  .arg = &p, .no_precopy = !pre};
            p.n = 0;
            if (pre && pipe(fds) != 0) { perror("pipe"); return 1; }
            total_fd = fds[1];
            int rc = uarea_posix_run(&d, app, argc, argv);
            if (rc != 0 || p.n != migs) {
                fprintf(stderr, "point %d/%d: run failed (%d, %d migrations)\n", pts[k].t,
                        pts[k].p, rc, p.n);
                return 1;
            }
            close(fds[1]);
            for (int m = 0; m < p.n; m++) {
                dt[m] = p.st[m].downtime_ns;
                if (read(fds[0], &tot[m], sizeof tot[m]) != sizeof tot[m]) tot[m] = 0;
                if (!pre && p.st[m].bytes > bytes) bytes = p.st[m].bytes;
                if (pre && p.st[m].bytes > frozen) frozen = p.st[m].bytes;
            }
            close(fds[0]);
            if (!pre) {
                sc_dt = median(dt, p.n);
                sc_tot = median(tot, p.n);
                zero = p.st[0].zero_pages;
            }
            if (pts[k].t == 1 && pts[k].p == 0) {
                double *q = paper[pre];
                q[0] = median(dt, p.n) / 1e3;
                q[1] = median(tot, p.n) / 1e3;
                q[2] = pctile(tot, p.n, 99) / 1e3;
                q[3] = q[0] > 0 ? q[1] / q[0] : 0;
            }
        }

        uint64_t mdt = median(dt, p.n), mtot = median(tot, p.n), floor = memcpy_ns20(bytes);
        double ratio = (double)mdt / (double)(floor ? floor : 1);
        double sc_ratio = (double)sc_dt / (double)(floor ? floor : 1);
        printf("%7d %6d %10llu %10.1f %10.1f %10.1f %10.1f %9llu %10.1f %9.1f %9.1f\n", pts[k].t,
               pts[k].p, (unsigned long long)bytes, sc_dt / 1e3, sc_tot / 1e3, mdt / 1e3,
               mtot / 1e3, (unsigned long long)frozen, floor / 1e3, ratio, sc_ratio);
        fprintf(out, "%d,%d,%llu,%u,%.1f,%.1f,%.2f,%.2f,%.1f,%.1f,%llu\n", pts[k].t, pts[k].p,
                (unsigned long long)bytes, zero, mdt / 1e3, mtot / 1e3, floor / 1e3, ratio,
                sc_dt / 1e3, sc_tot / 1e3, (unsigned long long)frozen);
        if (pts[k].t == 1 && pts[k].p == 0) { paper_dt = mdt / 1e3; paper_bytes = bytes; }
        if (bytes >= (1u << 20) && ratio > big_ratio_worst) big_ratio_worst = ratio;
        if (bytes >= (1u << 20) && sc_ratio > big_sc_worst) big_sc_worst = sc_ratio;
    }
    fclose(out);
    printf("\nCSV: %s\n", csv);

    /* K containers at once, container c between nodes c and K + c. */
    out = fopen(pcsv, "w");
    if (out == NULL) { perror(pcsv); return 1; }
    fprintf(out, "containers,nodes,bytes_each,downtime_med_us,downtime_max_us,total_med_us,"
                 "memcpy_all_us,downtime_over_memcpy,precopy\n");
    printf("\nparallel migrations: K containers (1 thread, 0 heap pages) moving between nodes c "
           "and K + c at once (pre: pre-copy, s&c: stop and copy); %d CPUs online for 2K node "
           "processes of 2 core threads and a master each; aggregate: K x bytes / median c2r, "
           "beside memcpy's bandwidth on this machine\n"
           "%4s %6s %5s %11s %13s %13s %13s %15s %9s %11s %11s\n",
           (int)sysconf(_SC_NPROCESSORS_ONLN), "K", "nodes", "mode", "bytes each", "downtime us",
           "max us", "c2r us", "memcpy K*bytes", "dt/memcpy", "agg MB/s", "memcpy MB/s");
    double par_ratio_worst = 0, par_dt1 = 0, par_dt8 = 0;
    for (int K = 1; K <= 8; K *= 2)
    for (int pre = 1; pre >= 0; pre--) {
        static point p;
        static uint64_t dt[MAX_MIG], tot[MAX_MIG];
        uint64_t bytes = 0, mx = 0;
        int per = migs * K > MAX_MIG ? MAX_MIG / K : migs, n = 0;
        memset(&p, 0, sizeof p);
        cfg_threads = 1;
        cfg_pages = 0;
        cfg_migrations = per;
        cfg_k = K;
        int fds[2];
        if (pipe(fds) != 0) { perror("pipe"); return 1; }
        total_fd = fds[1];
        uarea_posix_desc d = {.nodes = 2 * K, .cores = 2, .containers = K,
                              .on_migration = on_migration, .arg = &p, .no_precopy = !pre};
        int rc = uarea_posix_run(&d, app, argc, argv);
        if (rc != 0 || p.n != per * K) {
            fprintf(stderr, "K=%d: run failed (%d, %d migrations)\n", K, rc, p.n);
            return 1;
        }
        close(fds[1]);
        for (int m = 0; m < p.n; m++) {
            dt[m] = p.st[m].downtime_ns;
            if (dt[m] > mx) mx = dt[m];
            /* the container's bytes: what went before the freeze and during it */
            if (p.st[m].bytes + p.st[m].precopy_bytes > bytes)
                bytes = p.st[m].bytes + p.st[m].precopy_bytes;
        }
        while (n < p.n && read(fds[0], &tot[n], sizeof tot[n]) == sizeof tot[n]) n++;
        close(fds[0]);
        uint64_t mdt = median(dt, p.n), mtot = n ? median(tot, n) : 0;
        uint64_t floor = memcpy_ns20(bytes * (uint64_t)K);
        double ratio = (double)mdt / (double)(floor ? floor : 1);
        double agg = mtot ? (double)bytes * K / ((double)mtot / 1e9) / 1e6 : 0;
        double mbw = floor ? (double)bytes * K / ((double)floor / 1e9) / 1e6 : 0;
        printf("%4d %6d %5s %11llu %13.1f %13.1f %13.1f %15.1f %9.1f %11.1f %11.1f\n", K, 2 * K,
               pre ? "pre" : "s&c", (unsigned long long)bytes, mdt / 1e3, mx / 1e3, mtot / 1e3,
               floor / 1e3, ratio, agg, mbw);
        fprintf(out, "%d,%d,%llu,%.1f,%.1f,%.1f,%.2f,%.2f,%d\n", K, 2 * K,
                (unsigned long long)bytes, mdt / 1e3, mx / 1e3, mtot / 1e3, floor / 1e3, ratio,
                pre);
        if (!pre) continue;                 /* the ratios are of the default, pre-copy */
        if (ratio > par_ratio_worst) par_ratio_worst = ratio;
        if (K == 1) par_dt1 = mdt / 1e3;
        if (K == 8) par_dt8 = mdt / 1e3;
    }
    fclose(out);
    printf("\nCSV: %s\n\nratios\n", pcsv);
    printf("  papers' workload (1 thread, 0 pages, %llu bytes): downtime %.1f us "
           "(goal < 1000 us: %s; the papers report 19000-113000 us on the chip)\n",
           (unsigned long long)paper_bytes, paper_dt, paper_dt < 1000 ? "met" : "missed");
    for (int pre = 0; pre < 2; pre++)
        printf("  papers' workload, %s: migrate_to call -> return median %.1f us, p99 %.1f us, "
               "%.2fx its downtime of %.1f us (goal <= 2x and <= 300 us: %s)\n",
               pre ? "pre-copy" : "stop and copy", paper[pre][1], paper[pre][2], paper[pre][3],
               paper[pre][0], paper[pre][3] <= 2 && paper[pre][1] <= 300 ? "met" : "missed");
    /* Pre-copy moves the container before the freeze, and its caller waits
     * for that: its call-to-return is at least one transfer of the image
     * plus the downtime, so against its own (small) downtime it cannot come
     * near 2x; beside the downtime of the same move without pre-copy it
     * says what the caller pays for the shorter freeze. */
    printf("  papers' workload, pre-copy call -> return / stop-and-copy downtime: %.2fx\n",
           paper[0][0] > 0 ? paper[1][1] / paper[0][0] : 0.0);
    printf("  containers of 1 MiB and more, stop and copy: worst downtime / memcpy floor %.1fx "
           "(goal <= 3x: %s); with pre-copy: %.1fx\n", big_sc_worst,
           big_sc_worst <= 3 ? "met" : "missed", big_ratio_worst);
    printf("  parallel migrations: median downtime with 8 at once / with 1: %.2fx "
           "(%d CPUs for %d node processes); worst downtime / memcpy of all bytes %.1fx\n",
           par_dt1 > 0 ? par_dt8 / par_dt1 : 0.0, (int)sysconf(_SC_NPROCESSORS_ONLN), 16,
           par_ratio_worst);
    return 0;
}
