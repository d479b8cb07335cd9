/* bench_dirty: what dirty-page tracking (uarea_posix/dirty.h) costs, for the
 * pre-copy of a migration: protecting a range (begin), the first write to a
 * protected page, and collecting the written pages, beside the memcpy of the
 * same bytes measured in the same run (what sending those pages again would
 * cost at the least).
 *
 *     bench_dirty [pages]       default 512 (2 MiB of 4 KiB pages)
 *
 * Each figure is the median of 15 rounds. Prints figures, asserts nothing. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/dirty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 15

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, cmp);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    size_t pages = argc > 1 ? (size_t)atol(argv[1]) : 512, ps = (size_t)sysconf(_SC_PAGESIZE), i;
    double begin[ROUNDS], touch[ROUNDS], plain[ROUNDS], coll_all[ROUNDS], coll_none[ROUNDS],
        coll_tenth[ROUNDS], copy[ROUNDS];
    unsigned char *mem, *dst;
    uarea_posix_dirty d;
    int r, rc;
    if (pages == 0) pages = 512;
    mem = (unsigned char *)mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dst = (unsigned char *)malloc(pages * ps);
    if (mem == MAP_FAILED || dst == NULL) return 1;
    memset(mem, 1, pages * ps);
    memset(dst, 2, pages * ps);
    if ((rc = uarea_posix_dirty_open(&d, mem, pages * ps)) < 0) {
        fprintf(stderr, "bench_dirty: %s\n", uarea_strerror(rc));
        return 1;
    }
    for (r = 0; r < ROUNDS; r++) {
        double t0 = now_us(), t1, t2, t3, t4, t5, t6;
        if (uarea_posix_dirty_begin(&d) < 0) return 1;
        t1 = now_us();
        for (i = 0; i < pages; i++) mem[i * ps] = (unsigned char)r;     /* first writes */
        t2 = now_us();
        for (i = 0; i < pages; i++) mem[i * ps + 1] = (unsigned char)r; /* plain writes */
        t3 = now_us();
        if (uarea_posix_dirty_collect(&d, NULL, NULL) != (long)pages) return 1;
        t4 = now_us();
        if (uarea_posix_dirty_collect(&d, NULL, NULL) != 0) return 1;
        t5 = now_us();
        for (i = 0; i < pages; i += 10) mem[i * ps + 2] = (unsigned char)r;
        t6 = now_us();
        if (uarea_posix_dirty_collect(&d, NULL, NULL) != (long)((pages + 9) / 10)) return 1;
        coll_tenth[r] = now_us() - t6;
        begin[r] = t1 - t0;
        touch[r] = (t2 - t1) * 1e3 / (double)pages;
        plain[r] = (t3 - t2) * 1e3 / (double)pages;
        coll_all[r] = t4 - t3;
        coll_none[r] = t5 - t4;
        t0 = now_us();
        memcpy(dst, mem, pages * ps);
        copy[r] = now_us() - t0;
        if (dst[ps] != mem[ps]) return 1;
    }
    uarea_posix_dirty_close(&d);
    printf("bench_dirty: %zu pages of %zu bytes (%.2f MB), medians of %d rounds\n\n", pages, ps,
           (double)(pages * ps) / 1e6, ROUNDS);
    printf("  begin (protect the range)           %9.1f us\n", median(begin));
    printf("  first write to a protected page     %9.1f ns per page\n", median(touch));
    printf("  write to a page already written     %9.1f ns per page\n", median(plain));
    printf("  collect, every page written         %9.1f us\n", median(coll_all));
    printf("  collect, one page in ten written    %9.1f us\n", median(coll_tenth));
    printf("  collect, nothing written            %9.1f us\n", median(coll_none));
    printf("  memcpy of the range                 %9.1f us\n", median(copy));
    printf("\nratios (same run)\n");
    printf("  collect with every page written / memcpy of the range: %.3f\n",
           median(coll_all) / median(copy));
    printf("  collect with nothing written / memcpy of the range:    %.3f\n",
           median(coll_none) / median(copy));
    free(dst);
    munmap(mem, pages * ps);
    return 0;
}
