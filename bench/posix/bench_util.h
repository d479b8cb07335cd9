/* bench_util.h - what the POSIX port's benchmark programs share: the clock,
 * medians and percentiles, the migrations' statistics as the launcher
 * hands them over (uarea_posix_desc.on_migration), and the memcpy floor.
 * Included by one program each; everything is static. */
#ifndef BENCH_POSIX_UTIL_H
#define BENCH_POSIX_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_MAX_MIG
#  define BENCH_MAX_MIG 256          /* migrations recorded per run */
#endif

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (sorts v). */
static inline uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[n / 2];
}

/* The value below which pct % of the n values lie (sorts v). */
static inline uint64_t pctile(uint64_t *v, int n, int pct)
{
    int i = (n * pct + 99) / 100 - 1;
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* One run's migrations, as on_migration (arg: the point) receives them. */
typedef struct point { migrate_stats st[BENCH_MAX_MIG]; int n; } point;

static inline void on_migration(void *arg, const migrate_stats *st)
{
    point *p = (point *)arg;
    if (p->n < BENCH_MAX_MIG) p->st[p->n++] = *st;
}

/* The floor: copying `bytes` once, in this process, within one core's
 * cache as far as it fits; the best of `reps`. */
static inline uint64_t memcpy_ns(size_t bytes, int reps)
{
    static unsigned char *a, *b;
    static size_t cap;
    uint64_t best = UINT64_MAX;
    if (bytes > cap) {
        free(a); free(b);
        a = (unsigned char *)malloc(bytes); b = (unsigned char *)malloc(bytes);
        if (!a || !b) abort();
        memset(a, 1, bytes); memset(b, 2, bytes);
        cap = bytes;
    }
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        memcpy(b, a, bytes);
        __asm__ volatile("" : : "r"(b) : "memory");
        uint64_t t = now_ns() - t0;
        if (t < best) best = t;
    }
    return best;
}

#endif /* BENCH_POSIX_UTIL_H */
