/* bench_lazy: what serving lazy pages (uarea_posix/lazy.h) costs, for the
 * post-copy of a migration: a thread reads the pages of a range one after
 * the other while the master (another thread, polling without sleeping)
 * installs each wanted page from a local buffer, so the figure is the round
 * trip of one fault without the network; beside it, the background install
 * of the whole range in one run, the first touch of ordinary anonymous
 * memory (a zero-filled page), and the memcpy of the same bytes.
 *
 *     bench_lazy [pages]        default 512 (2 MiB of 4 KiB pages)
 *
 * Per-page figures, each the median of 15 rounds. Prints figures, asserts
 * nothing. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/lazy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 15

static size_t pages, ps;
static unsigned char *mem;
static atomic_int reading_done;
static double read_us;

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

static void *reader(void *arg)
{
    volatile unsigned char *p = mem;
    unsigned sum = 0;
    size_t i;
    double t0 = now_us();
    (void)arg;
    for (i = 0; i < pages; i++) sum += p[i * ps];
    read_us = now_us() - t0;
    atomic_store(&reading_done, 1 + (int)(sum & 0));
    return NULL;
}

int main(int argc, char **argv)
{
    double fault[ROUNDS], run[ROUNDS], zero[ROUNDS], copy[ROUNDS];
    unsigned char *src, *dst;
    uarea_posix_lazy l;
    int r, rc;
    pages = argc > 1 ? (size_t)atol(argv[1]) : 512;
    ps = (size_t)sysconf(_SC_PAGESIZE);
    if (pages == 0) pages = 512;
    mem = (unsigned char *)mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    src = (unsigned char *)malloc(pages * ps);
    dst = (unsigned char *)malloc(pages * ps);
    if (mem == MAP_FAILED || src == NULL || dst == NULL) return 1;
    memset(src, 1, pages * ps);
    memset(dst, 2, pages * ps);
    for (r = 0; r < ROUNDS; r++) {
        pthread_t t;
        double t0;
        /* Faults served one by one. */
        madvise(mem, pages * ps, MADV_DONTNEED);
        if ((rc = uarea_posix_lazy_open(&l, mem, pages * ps, NULL)) < 0) {
            fprintf(stderr, "bench_lazy: %s\n", uarea_strerror(rc));
            return 1;
        }
        atomic_store(&reading_done, 0);
        pthread_create(&t, NULL, reader, NULL);
        while (!atomic_load(&reading_done)) {
            uintptr_t want[8];
            long n = uarea_posix_lazy_poll(&l, want, 8), k;
            for (k = 0; k < n; k++)
                uarea_posix_lazy_install(&l, want[k], src + (want[k] - (uintptr_t)mem));
        }
        pthread_join(t, NULL);
        fault[r] = read_us / (double)pages;
        uarea_posix_lazy_close(&l);
        /* The whole range pushed in one run. */
        madvise(mem, pages * ps, MADV_DONTNEED);
        if (uarea_posix_lazy_open(&l, mem, pages * ps, NULL) < 0) return 1;
        t0 = now_us();
        uarea_posix_lazy_install_run(&l, (uintptr_t)mem, src, pages);
        run[r] = (now_us() - t0) / (double)pages;
        uarea_posix_lazy_close(&l);
        /* Ordinary memory: the first touch of each page. */
        madvise(mem, pages * ps, MADV_DONTNEED);
        reader(NULL);
        zero[r] = read_us / (double)pages;
        /* memcpy of the bytes, into memory already there. */
        t0 = now_us();
        memcpy(dst, src, pages * ps);
        copy[r] = (now_us() - t0) / (double)pages;
    }
    printf("bench_lazy: %zu pages of %zu bytes, per page, medians of %d rounds\n", pages, ps, ROUNDS);
    printf("  a fault served by the master (poll + UFFDIO_COPY)  %8.2f us\n", median(fault));
    printf("  a page of a background run (UFFDIO_COPY of all)    %8.2f us\n", median(run));
    printf("  first touch of ordinary memory (zero fill)         %8.2f us\n", median(zero));
    printf("  memcpy of a page                                   %8.2f us\n", median(copy));
    printf("  (%s)\n", dst[pages * ps - 1] == 1 ? "copied" : "?");
    free(src);
    free(dst);
    munmap(mem, pages * ps);
    return 0;
}
