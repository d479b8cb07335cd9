/* bench_migrate_mpi: the papers' workload (one thread, 342.8 KB of user
 * data) migrating back and forth between two nodes, stop and copy and
 * pre-copy: downtime (frozen on the source -> running on the destination)
 * and call-to-return of migrate_to (the calling thread's view), medians and
 * p99. Run twice, it compares the transports (bench/mpi/run.sh does both):
 *
 *   bench_migrate_mpi [migrations]                 nodes forked, shared-memory NoC
 *   mpirun -np 2 bench_migrate_mpi [migrations]    a node per rank, the NoC over MPI
 *
 * The container measures and prints its rows itself (it knows both times:
 * uarea_posix_last_migration() after each hop). */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "../../examples/say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define USER_BYTES 351027u            /* 342.8 KB */
#define MAX_MIG 201

static UAREA_USER unsigned char user_data[USER_BYTES];
static UAREA_USER int cfg_n, cfg_mpi, cfg_precopy;
static UAREA_USER uint64_t c2r[MAX_MIG], dt[MAX_MIG];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pctile(uint64_t *v, int n, int pct)
{
    int i = (n * pct + 99) / 100 - 1;
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int app(int argc, char **argv)
{
    migrate_stats st;
    (void)argc; (void)argv;
    for (unsigned i = 0; i < USER_BYTES; i++) user_data[i] = (unsigned char)(i * 7 + 1);
    for (int m = 0; m < cfg_n; m++) {
        uint64_t t0 = now_ns();
        if (migrate_to(1 - noc_node_self()) != 0) return 4;
        c2r[m] = now_ns() - t0;
        if (uarea_posix_last_migration(&st) != 0) return 5;
        dt[m] = st.downtime_ns;
    }
    for (unsigned i = 0; i < USER_BYTES; i++)
        if (user_data[i] != (unsigned char)(i * 7 + 1)) return 6;
    uint64_t d50 = pctile(dt, cfg_n, 50), d99 = pctile(dt, cfg_n, 99);
    uint64_t c50 = pctile(c2r, cfg_n, 50), c99 = pctile(c2r, cfg_n, 99);
    say("%-4s %-14s %5d %11.1f %11.1f %11.1f %11.1f %9.2f\n", cfg_mpi ? "mpi" : "shm",
        cfg_precopy ? "pre-copy" : "stop-and-copy", cfg_n, d50 / 1e3, d99 / 1e3, c50 / 1e3,
        c99 / 1e3, (double)c50 / (double)d50);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 41, failed = 0;
    if (n < 1 || n > MAX_MIG) n = 41;
    cfg_n = n;
    cfg_mpi = getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL;
    if (uarea_posix_mpi_rank() == 0)
        say("%-4s %-14s %5s %11s %11s %11s %11s %9s\n", "noc", "mode", "migs", "dt med us",
            "dt p99 us", "c2r med us", "c2r p99 us", "c2r/dt");
    for (int precopy = 0; precopy <= 1; precopy++) {
        uarea_posix_desc d = {0};
        d.nodes = 2;
        d.cores = 1;
        d.no_precopy = !precopy;
        cfg_precopy = precopy;
        int rc = uarea_posix_run(&d, app, argc, argv);
        if (rc != 0) {
            if (uarea_posix_mpi_rank() == 0)
                say("run failed: %s\n", rc < 0 ? uarea_strerror(rc) : "the container's check");
            failed = 1;
        }
    }
    return failed;
}
