/* Lazy pages (uarea_posix/lazy.h) with real concurrency, without Criterion
 * so that it runs under ThreadSanitizer too (Criterion cannot start under
 * TSan here, tests/uarea/CMakeLists.txt). Four threads read and write the
 * pages of a range, each from its own starting page, while a master thread
 * serves their faults and pushes runs of pages in the background, on a range
 * lent by the dirty-page tracker when the kernel has one. Every thread must
 * see exactly the source's bytes; each page is reported once at most; all
 * pages arrive; close gives the range back. Exit 0 on success, 77 when the
 * kernel lacks userfaultfd missing-page faults. */
#define UAREA_POSIX_IMPLEMENTATION
#define UAREA_CORE_IMPLEMENTATION
#include <uarea_posix/lazy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 256
#define NTHREADS 4

static size_t ps;
static unsigned char *mem, *src;
static uarea_posix_lazy l;
static atomic_int done, bad;
static int failures;

#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                         \
        }                                                                       \
    } while (0)

static void *touch(void *arg)
{
    size_t me = (size_t)(uintptr_t)arg, first = me * (NPAGES / NTHREADS), k, j;
    for (k = 0; k < NPAGES; k++) {
        size_t i = (first + k * 7) % NPAGES;       /* 7 and 256 coprime: every page */
        volatile unsigned char *p = mem + i * ps;
        size_t word;
        memcpy(&word, (const void *)p, sizeof word);
        if (word != i) atomic_fetch_add(&bad, 1);
        for (j = sizeof word; j < ps - 8; j += 61)
            if (p[j] != (unsigned char)(i + 1)) {
                atomic_fetch_add(&bad, 1);
                break;
            }
        p[ps - 8 + 2 * me] = 0xff;                /* each thread its own byte */
    }
    atomic_fetch_add(&done, 1);
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int asked[NPAGES];

/* The master: serve the faults first, push 4 pages in the background now
 * and then. */
static void *master(void *arg)
{
    size_t push = NPAGES / 2;
    double t0 = now();
    (void)arg;
    while (atomic_load(&done) < NTHREADS || uarea_posix_lazy_missing(&l) > 0) {
        uintptr_t want[16];
        long n = uarea_posix_lazy_poll(&l, want, 16), k;
        CHECK(n >= 0);
        if (n < 0) break;
        for (k = 0; k < n; k++) {
            size_t p = (want[k] - (uintptr_t)mem) / ps;
            asked[p]++;
            CHECK(uarea_posix_lazy_install(&l, want[k], src + p * ps) == 1);
        }
        if (n == 0) {
            long r = uarea_posix_lazy_install_run(&l, (uintptr_t)(mem + push * ps), src + push * ps, 4);
            CHECK(r >= 0 && r <= 4);
            push = (push + 4) % NPAGES;
            usleep(50);
        }
        if (now() - t0 > 60) {
            fprintf(stderr, "lazy_smoke: stuck\n");
            exit(1);
        }
    }
    return NULL;
}

int main(void)
{
    uarea_posix_dirty d;
    pthread_t t[NTHREADS], m;
    size_t i;
    int rc, tracked;
    ps = (size_t)sysconf(_SC_PAGESIZE);
    mem = (unsigned char *)mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    src = (unsigned char *)malloc(NPAGES * ps);
    if (mem == MAP_FAILED || src == NULL) return 1;
    for (i = 0; i < NPAGES; i++) {
        memset(src + i * ps, (int)(i + 1), ps);
        memcpy(src + i * ps, &i, sizeof i);
    }
    tracked = uarea_posix_dirty_open(&d, mem, NPAGES * ps) == 0;
    rc = uarea_posix_lazy_open(&l, mem, NPAGES * ps, tracked ? &d : NULL);
    if (rc == UAREA_ENOSYS) {
        printf("lazy_smoke: skipped, the kernel lacks userfaultfd missing-page faults\n");
        return 77;
    }
    CHECK(rc == 0);
    if (rc != 0) return 1;
    CHECK(pthread_create(&m, NULL, master, NULL) == 0);
    for (i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, touch, (void *)(uintptr_t)i) == 0);
    for (i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    pthread_join(m, NULL);
    CHECK(atomic_load(&bad) == 0);
    for (i = 0; i < NPAGES; i++) CHECK(asked[i] <= 1);
    CHECK(uarea_posix_lazy_missing(&l) == 0);
    CHECK(uarea_posix_lazy_close(&l) == 0);
    for (i = 0; i < NPAGES; i++) {
        CHECK(mem[i * ps + ps - 8] == 0xff && mem[i * ps + ps - 6] == 0xff);
        CHECK(mem[i * ps + ps - 4] == 0xff && mem[i * ps + ps - 2] == 0xff);
    }
    if (tracked) {
        CHECK(d.lent_hi == 0);
        CHECK(uarea_posix_dirty_begin(&d) == 0);
        uarea_posix_dirty_close(&d);
    }
    free(src);
    munmap(mem, NPAGES * ps);
    for (rc = 0, i = 0; i < NPAGES; i++) rc += asked[i];
    printf("lazy_smoke: %s (%d failures; %d of %d pages asked for, the others pushed)\n",
           failures ? "FAILED" : "passed", failures, rc, NPAGES);
    return failures ? 1 : 0;
}
