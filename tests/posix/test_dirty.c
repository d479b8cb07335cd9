/* The POSIX dirty-page tracker (uarea_posix/dirty.h): exactly the pages
 * written since a round began are reported, by the program's threads or by
 * the kernel on its behalf (read(2)), touched before or not; a second round
 * sees only the new writes; collections longer than one ioctl's vector;
 * every error; and memory stays intact and writable after close. */
#define UAREA_POSIX_IMPLEMENTATION
#include <uarea_posix/dirty.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define NPAGES 256

static size_t ps;
static unsigned char *mem;
static uarea_posix_dirty d;

/* What collect reported: page indices, in calls. */
static int runs, marked[NPAGES];

static void each(void *arg, uintptr_t addr, size_t len)
{
    size_t i;
    cr_assert_eq(arg, &runs);
    cr_assert_eq((addr - (uintptr_t)mem) % ps, 0);
    cr_assert_eq(len % ps, 0);
    cr_assert(len > 0 && addr >= (uintptr_t)mem && addr + len <= (uintptr_t)mem + NPAGES * ps);
    for (i = 0; i < len / ps; i++) marked[(addr - (uintptr_t)mem) / ps + i]++;
    runs++;
}

static long collect(void)
{
    runs = 0;
    memset(marked, 0, sizeof marked);
    return uarea_posix_dirty_collect(&d, each, &runs);
}

static void setup(void)
{
    int rc;
    ps = (size_t)sysconf(_SC_PAGESIZE);
    mem = (unsigned char *)mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(mem, MAP_FAILED);
    memset(mem, 0x11, NPAGES / 2 * ps);        /* the upper half is never touched */
    rc = uarea_posix_dirty_open(&d, mem, NPAGES * ps);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks asynchronous userfaultfd write protection");
    cr_assert_eq(rc, 0);
}

static void teardown(void)
{
    uarea_posix_dirty_close(&d);
    munmap(mem, NPAGES * ps);
}

TestSuite(dirty, .init = setup, .fini = teardown);

static void expect_only(const int *pages, int n)
{
    int i, want[NPAGES] = {0};
    for (i = 0; i < n; i++) want[pages[i]] = 1;
    for (i = 0; i < NPAGES; i++)
        cr_assert_eq(marked[i], want[i], "page %d reported %d times, expected %d", i, marked[i],
                     want[i]);
}

static void *writer(void *arg)
{
    mem[(size_t)(uintptr_t)arg * ps + 100] = 0x77;
    return NULL;
}

Test(dirty, reports_exactly_the_pages_written_by_threads_and_by_the_kernel)
{
    static const int pages[] = { 1, 2, 3, 10, 20, 33, 200 };
    int fds[2];
    pthread_t t;
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[1 * ps] = 1;
    mem[2 * ps + 5] = 2;
    mem[3 * ps + ps - 1] = 3;                   /* 1..3: one run of three pages */
    mem[10 * ps + 17] = 4;
    cr_assert_eq(pthread_create(&t, NULL, writer, (void *)(uintptr_t)33), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    mem[200 * ps] = 5;                          /* never touched before */
    (void)mem[5 * ps];                          /* reads do not count */
    (void)mem[150 * ps];
    cr_assert_eq(pipe(fds), 0);                 /* the kernel writes page 20 */
    cr_assert_eq(write(fds[1], "kernel", 6), 6);
    cr_assert_eq(read(fds[0], mem + 20 * ps + 8, 6), 6, "read(2) into a tracked page failed");
    close(fds[0]);
    close(fds[1]);
    cr_assert_eq(collect(), 7);
    cr_assert_eq(runs, 5, "runs %d", runs);     /* [1,4) [10] [20] [33] [200] */
    expect_only(pages, 7);
    /* the writes themselves landed */
    cr_assert_eq(mem[1 * ps], 1);
    cr_assert_eq(mem[33 * ps + 100], 0x77);
    cr_assert_eq(memcmp(mem + 20 * ps + 8, "kernel", 6), 0);
    cr_assert_eq(mem[200 * ps], 5);
    cr_assert_eq(mem[5 * ps], 0x11);
}

Test(dirty, a_new_round_reports_only_the_writes_after_the_last_collect)
{
    static const int second[] = { 7, 130 };
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[4 * ps] = 9;
    mem[7 * ps] = 9;
    cr_assert_eq(collect(), 2);
    mem[7 * ps + 1] = 8;                        /* again: protected again by collect */
    mem[130 * ps] = 8;
    cr_assert_eq(collect(), 2);
    expect_only(second, 2);
    cr_assert_eq(collect(), 0);                 /* nothing since */
    cr_assert_eq(runs, 0);
    /* begin protects everything again, including pages never collected */
    mem[9 * ps] = 1;
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    cr_assert_eq(collect(), 0);
    mem[9 * ps] = 2;
    cr_assert_eq(collect(), 1);
    cr_assert_eq(marked[9], 1);
}

Test(dirty, more_runs_than_one_scan_returns)
{
    int i, n = 0, want[NPAGES];
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    for (i = 0; i < NPAGES; i += 2) {            /* 128 separate runs */
        mem[(size_t)i * ps + 3] = (unsigned char)i;
        want[n++] = i;
    }
    cr_assert_eq(collect(), NPAGES / 2);
    cr_assert_eq(runs, NPAGES / 2);
    expect_only(want, n);
    cr_assert_eq(collect(), 0);
}

Test(dirty, every_page_written_is_one_run)
{
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    memset(mem, 0x22, NPAGES * ps);
    cr_assert_eq(collect(), NPAGES);
    cr_assert_eq(runs, 1);
}

Test(dirty, errors)
{
    uarea_posix_dirty e;
    cr_assert_eq(uarea_posix_dirty_open(NULL, mem, ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_open(&e, NULL, ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_open(&e, mem, 0), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_open(&e, mem + 1, ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_open(&e, mem, ps + 1), UAREA_EINVAL);
    /* a range the kernel cannot track: already registered by d */
    cr_assert_eq(uarea_posix_dirty_open(&e, mem, ps), UAREA_ENOSYS);
    cr_assert_eq(e.uffd, -1, "a failed open leaves nothing open");
    cr_assert_eq(uarea_posix_dirty_collect(&d, each, &runs), UAREA_ESTATE, "collect before begin");
    cr_assert_eq(uarea_posix_dirty_begin(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_collect(NULL, each, &runs), UAREA_EINVAL);
    uarea_posix_dirty_close(NULL);
    uarea_posix_dirty_close(&e);                /* closing a failed one is fine */
    uarea_posix_dirty_close(&d);
    cr_assert_eq(uarea_posix_dirty_begin(&d), UAREA_EINVAL, "begin on a closed tracker");
    cr_assert_eq(uarea_posix_dirty_collect(&d, each, &runs), UAREA_EINVAL);
}

Test(dirty, memory_stays_writable_and_intact_after_close)
{
    size_t i;
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[3 * ps] = 0x33;
    uarea_posix_dirty_close(&d);
    for (i = 0; i < NPAGES; i++) mem[i * ps + 1] = (unsigned char)i;   /* no fault, no hang */
    cr_assert_eq(mem[3 * ps], 0x33);
    cr_assert_eq(mem[3 * ps + 1], 3);
    cr_assert_eq(mem[5 * ps], 0x11);
    cr_assert_eq(mem[200 * ps + 1], 200);
    /* the range can be tracked again */
    cr_assert_eq(uarea_posix_dirty_open(&d, mem, NPAGES * ps), 0);
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[6 * ps] = 1;
    cr_assert_eq(collect(), 1);
    cr_assert_eq(marked[6], 1);
}

/* Minor faults of this process so far. */
static long minor_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

/* end lifts the protection: the same writes fault on every page while a
 * round is on, on none after it ended (counted, not timed); a round begun
 * again tracks as before; end without a round, or twice, is fine. */
Test(dirty, ending_a_round_makes_writes_fault_free)
{
    long f0, during, after;
    size_t i, half = NPAGES / 2;
    cr_assert_eq(uarea_posix_dirty_end(&d), 0, "no round yet");
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    f0 = minor_faults();
    for (i = 0; i < half; i++) mem[i * ps] = 1;       /* resident pages */
    during = minor_faults() - f0;
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);      /* protect them again */
    cr_assert_eq(uarea_posix_dirty_end(&d), 0);
    cr_assert_eq(uarea_posix_dirty_end(&d), 0, "twice");
    f0 = minor_faults();
    for (i = 0; i < half; i++) mem[i * ps] = 2;
    after = minor_faults() - f0;
    cr_assert_geq(during, (long)half, "a protected page faults on its first write (%ld)", during);
    cr_assert_lt(after, (long)half / 4, "no protection left: %ld faults for %zu pages", after, half);
    cr_assert_eq(collect(), UAREA_ESTATE, "the round is over");
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[3 * ps] = 4;
    cr_assert_eq(collect(), 1);
    cr_assert_eq(marked[3], 1);
    cr_assert_eq(uarea_posix_dirty_end(NULL), UAREA_EINVAL);
}
