/* Pages that arrive after the program runs (uarea_posix/lazy.h): threads
 * that touch missing pages wait, a master thread polls their faults and
 * installs the bytes, and the threads see exactly those bytes, never zeros;
 * each wanted page is reported once; a background push leaves nothing to
 * fault; pages already there are kept (EEXIST); the count of installed
 * pages; the dirty-page tracker lends its range and takes it back; a failed
 * range keeps its threads waiting; and every refused call changes nothing. */
#define UAREA_POSIX_IMPLEMENTATION
#define UAREA_CORE_IMPLEMENTATION
#include <uarea_posix/lazy.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 64

static size_t ps;
static unsigned char *mem, *src;
static uarea_posix_lazy l;

/* Page i of the source: every byte is i + 1, and its first word says i. */
static void fill_source(void)
{
    size_t i;
    src = (unsigned char *)malloc(NPAGES * ps);
    cr_assert_not_null(src);
    for (i = 0; i < NPAGES; i++) {
        memset(src + i * ps, (int)(i + 1), ps);
        memcpy(src + i * ps, &i, sizeof i);
    }
}

static void setup(void)
{
    ps = (size_t)sysconf(_SC_PAGESIZE);
    mem = (unsigned char *)mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(mem, MAP_FAILED);
    fill_source();
    memset(&l, 0, sizeof l);
    l.uffd = -1;
}

static void teardown(void)
{
    if (!l.failed) {
        (void)uarea_posix_lazy_close(&l);
        munmap(mem, NPAGES * ps);      /* a failed range keeps its threads waiting in it */
    }
    free(src);
}

static void open_or_skip(unsigned char *addr, size_t len, uarea_posix_dirty *tracker)
{
    int rc = uarea_posix_lazy_open(&l, addr, len, tracker);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks userfaultfd missing-page faults");
    cr_assert_eq(rc, 0, "open: %s", uarea_strerror(rc));
}

static uintptr_t page(size_t i) { return (uintptr_t)(mem + i * ps); }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- a thread that touches pages, a master that serves them ----------- */

struct toucher {
    pthread_t t;
    int first;                 /* the page it starts at */
    atomic_int done;           /* pages checked */
    atomic_int bad;            /* pages whose bytes were not the source's */
};

/* Reads each page (from `first`, wrapping), checks every byte against the
 * source, then writes to it and reads the write back. */
static void *touch(void *arg)
{
    struct toucher *w = (struct toucher *)arg;
    size_t k, j;
    for (k = 0; k < NPAGES; k++) {
        size_t i = ((size_t)w->first + k) % NPAGES;
        volatile unsigned char *p = mem + i * ps;
        size_t word;
        memcpy(&word, (const void *)p, sizeof word);
        if (word != i) atomic_fetch_add(&w->bad, 1);
        for (j = sizeof word; j < ps; j += 97)
            if (p[j] != (unsigned char)(i + 1)) {
                atomic_fetch_add(&w->bad, 1);
                break;
            }
        p[ps - 1] = (unsigned char)(i + 1);                 /* a write after the read */
        if (p[ps - 1] != (unsigned char)(i + 1)) atomic_fetch_add(&w->bad, 1);
        atomic_fetch_add(&w->done, 1);
    }
    return NULL;
}

/* The master: poll and install until the threads are done. Returns the
 * number of pages reported; `asked` counts each page's reports. */
static int serve(struct toucher *w, int nw, int *asked)
{
    int reported = 0, all, i;
    double t0 = now();
    do {
        uintptr_t want[8];
        long n = uarea_posix_lazy_poll(&l, want, 8), k;
        cr_assert(n >= 0, "poll: %s", uarea_strerror((int)n));
        for (k = 0; k < n; k++) {
            size_t p = (want[k] - (uintptr_t)mem) / ps;
            cr_assert(want[k] >= (uintptr_t)mem && p < NPAGES && want[k] % ps == 0);
            asked[p]++;
            reported++;
            cr_assert_eq(uarea_posix_lazy_install(&l, want[k], src + p * ps), 1);
        }
        if (n == 0) usleep(100);
        for (all = 1, i = 0; i < nw; i++) all &= atomic_load(&w[i].done) == NPAGES;
        cr_assert(now() - t0 < 30, "the threads are stuck");
    } while (!all);
    return reported;
}

Test(lazy, threads_see_exactly_the_installed_bytes_each_page_asked_once, .init = setup,
     .fini = teardown)
{
    struct toucher w[2];
    int asked[NPAGES] = {0}, i, reported;
    open_or_skip(mem, NPAGES * ps, NULL);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES);
    memset(w, 0, sizeof w);
    w[1].first = NPAGES / 2;               /* the second one meets the first's pages */
    for (i = 0; i < 2; i++) cr_assert_eq(pthread_create(&w[i].t, NULL, touch, &w[i]), 0);
    reported = serve(w, 2, asked);
    for (i = 0; i < 2; i++) {
        pthread_join(w[i].t, NULL);
        cr_assert_eq(atomic_load(&w[i].bad), 0, "thread %d saw bytes it was not given", i);
    }
    for (i = 0; i < NPAGES; i++) cr_assert_eq(asked[i], 1, "page %d reported %d times", i, asked[i]);
    cr_assert_eq(reported, NPAGES);
    cr_assert_eq(uarea_posix_lazy_missing(&l), 0);
    cr_assert_eq(uarea_posix_lazy_close(&l), 0);
    /* Closed: the range is ordinary memory, with the threads' writes. */
    cr_assert_eq(mem[5 * ps + 8], 6);
    cr_assert_eq(mem[5 * ps + ps - 1], 6);
}

static void *touch_all(void *arg)
{
    struct toucher *w = (struct toucher *)arg;
    return touch(w);
}

Test(lazy, a_background_push_leaves_nothing_to_fault, .init = setup, .fini = teardown)
{
    struct toucher w;
    uintptr_t want[4];
    struct timespec until;
    open_or_skip(mem, NPAGES * ps, NULL);
    /* Two runs, one of them over part of the other: only new pages count. */
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(8), src + 8 * ps, 8), 8);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 8);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(0), src, NPAGES), NPAGES - 8);
    cr_assert_eq(uarea_posix_lazy_missing(&l), 0);
    memset(&w, 0, sizeof w);
    cr_assert_eq(pthread_create(&w.t, NULL, touch_all, &w), 0);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    cr_assert_eq(pthread_timedjoin_np(w.t, NULL, &until), 0, "a thread waits on an installed page");
    cr_assert_eq(atomic_load(&w.bad), 0);
    cr_assert_eq(uarea_posix_lazy_poll(&l, want, 4), 0, "a fault was reported");
    cr_assert_eq(uarea_posix_lazy_close(&l), 0);
}

Test(lazy, pages_already_there_are_kept_and_counted, .init = setup, .fini = teardown)
{
    static unsigned char other[65536];
    size_t i;
    cr_assert(ps <= sizeof other);
    memset(other, 0xee, ps);
    /* Page 10 was written before open: the caller's, installed. */
    memset(mem + 10 * ps, 0x5a, ps);
    open_or_skip(mem, NPAGES * ps, NULL);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 1);
    cr_assert_eq(uarea_posix_lazy_has(&l, page(10)), 1);
    cr_assert_eq(uarea_posix_lazy_has(&l, page(3)), 0);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(10), other), 0);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(3), src + 3 * ps), 1);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(3), other), 0);     /* once */
    cr_assert_eq(uarea_posix_lazy_zero(&l, page(4)), 1);
    cr_assert_eq(uarea_posix_lazy_zero(&l, page(3)), 0);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 3);
    /* The kernel's EEXIST, for a page the bitmap does not know (forgotten
     * here on purpose): kept, and counted once. */
    l.have[3 / 8] &= (unsigned char)~(1u << (3 % 8));
    l.installed--;
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(2), other, 2), 1);   /* page 2 only */
    cr_assert_eq(uarea_posix_lazy_has(&l, page(3)), 1);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 4);
    /* The bytes: the source's, zeros, the caller's; never `other` twice. */
    cr_assert_eq(memcmp(mem + 3 * ps, src + 3 * ps, ps), 0);
    for (i = 0; i < ps; i++) cr_assert_eq(mem[4 * ps + i], 0);
    for (i = 0; i < ps; i++) cr_assert_eq(mem[10 * ps + i], 0x5a);
    cr_assert_eq(mem[2 * ps], 0xee);
    /* Close with pages missing: refused, nothing changes. */
    cr_assert_eq(uarea_posix_lazy_close(&l), UAREA_ESTATE);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 4);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(0), src, NPAGES), NPAGES - 4);
    cr_assert_eq(uarea_posix_lazy_close(&l), 0);
    cr_assert_eq(uarea_posix_lazy_missing(&l), 0);
}

/* ---- with the dirty-page tracker on the same memory -------------------- */

static int marked[NPAGES];
static void each(void *arg, uintptr_t addr, size_t len)
{
    size_t i;
    (void)arg;
    for (i = 0; i < len / ps; i++) marked[(addr - (uintptr_t)mem) / ps + i]++;
}

static int pipefd[2];
static atomic_long kread;
static atomic_int kerrno;
static void *read_into_missing(void *arg)
{
    long r;
    (void)arg;
    errno = 0;
    r = (long)read(pipefd[0], mem + 20 * ps + 8, 5);
    atomic_store(&kerrno, errno);
    atomic_store(&kread, r);
    return NULL;
}

Test(lazy, the_tracker_lends_its_range_and_takes_it_back, .init = setup, .fini = teardown)
{
    uarea_posix_dirty d;
    uarea_posix_lazy other;
    struct toucher w;
    int asked[NPAGES] = {0}, rc, i;
    uintptr_t want[4];
    pthread_t t;
    long n;
    rc = uarea_posix_dirty_open(&d, mem, NPAGES * ps);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks asynchronous userfaultfd write protection");
    cr_assert_eq(rc, 0);
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    /* Without the tracker the range is another descriptor's: EBUSY. */
    rc = uarea_posix_lazy_open(&other, mem + 16 * ps, 32 * ps, NULL);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks userfaultfd missing-page faults");
    cr_assert_eq(rc, UAREA_EBUSY);
    cr_assert_eq(uarea_posix_lazy_missing(&other), 0);
    /* The heap is pages 16..48 of the tracked 0..64. */
    open_or_skip(mem + 16 * ps, 32 * ps, &d);
    cr_assert_eq(d.lent_lo, page(16));
    cr_assert_eq(uarea_posix_dirty_begin(&d), UAREA_ESTATE);
    cr_assert_eq(uarea_posix_dirty_collect(&d, each, NULL), UAREA_ESTATE);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem, ps), UAREA_ESTATE);
    cr_assert_eq(uarea_posix_dirty_take_back(&d), UAREA_EBUSY);       /* the lazy range holds it */
    cr_assert_eq(d.lent_lo, page(16));
    mem[2 * ps] = 1;                                   /* outside: an ordinary page */

    /* A system call that writes a missing page for the program: it waits
     * for the page with a descriptor that takes kernel-mode faults, fails
     * with EFAULT with a user-mode-only one. */
    cr_assert_eq(pipe(pipefd), 0);
    cr_assert_eq(write(pipefd[1], "hello", 5), 5);
    atomic_store(&kread, -2);
    cr_assert_eq(pthread_create(&t, NULL, read_into_missing, NULL), 0);
    if (!l.user_only) {
        double t0 = now();
        do {
            n = uarea_posix_lazy_poll(&l, want, 4);
            cr_assert(n >= 0);
            cr_assert(now() - t0 < 10, "the read's fault was not reported");
        } while (n == 0);
        cr_assert_eq(n, 1);
        cr_assert_eq(want[0], page(20));
        cr_assert_eq(atomic_load(&kread), -2, "read(2) went on before its page came");
        cr_assert_eq(uarea_posix_lazy_install(&l, page(20), src + 20 * ps), 1);
        asked[20] = 1;
        pthread_join(t, NULL);
        cr_assert_eq(atomic_load(&kread), 5);
        cr_assert_eq(memcmp(mem + 20 * ps + 8, "hello", 5), 0);
        cr_assert_eq(mem[20 * ps + 13], 21);       /* the rest of the page: the source's */
    } else {
        pthread_join(t, NULL);
        cr_assert_eq(atomic_load(&kread), -1);     /* EFAULT, and nothing reported */
        cr_assert_eq(atomic_load(&kerrno), EFAULT);
        cr_assert_eq(uarea_posix_lazy_poll(&l, want, 4), 0);
        cr_assert_eq(uarea_posix_lazy_install(&l, page(20), src + 20 * ps), 1);
    }
    close(pipefd[0]);
    close(pipefd[1]);

    /* A thread touching the heap is served as without the tracker. */
    memset(&w, 0, sizeof w);
    w.first = 16;
    {
        /* touch() walks the whole region: 0..16 and 48..64 are ordinary
         * memory here, so give them the source's bytes first. */
        memcpy(mem, src, 16 * ps);
        memcpy(mem + 48 * ps, src + 48 * ps, 16 * ps);
        memcpy(mem + 20 * ps + 8, src + 20 * ps + 8, 5);
    }
    cr_assert_eq(pthread_create(&w.t, NULL, touch, &w), 0);
    serve(&w, 1, asked);
    pthread_join(w.t, NULL);
    cr_assert_eq(atomic_load(&w.bad), 0);
    for (i = 16; i < 48; i++) cr_assert_eq(asked[i], 1, "page %d asked %d times", i, asked[i]);
    cr_assert_eq(uarea_posix_lazy_missing(&l), 0);

    /* Every page there: close gives the range back; a round sees exactly
     * the pages written after its begin, in the heap and outside. */
    cr_assert_eq(uarea_posix_lazy_close(&l), 0);
    cr_assert_eq(d.lent_hi, 0);
    cr_assert_eq(uarea_posix_dirty_take_back(&d), UAREA_ESTATE);
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    mem[30 * ps] = 9;
    mem[3 * ps] = 9;
    memset(marked, 0, sizeof marked);
    cr_assert_eq(uarea_posix_dirty_collect(&d, each, NULL), 2);
    cr_assert_eq(marked[30], 1);
    cr_assert_eq(marked[3], 1);
    cr_assert_eq(uarea_posix_dirty_end(&d), 0);
    uarea_posix_dirty_close(&d);
}

Test(lazy, lend_and_take_back_refuse_bad_input)
{
    uarea_posix_dirty d;
    int rc;
    setup();
    rc = uarea_posix_dirty_open(&d, mem, NPAGES * ps);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks asynchronous userfaultfd write protection");
    cr_assert_eq(uarea_posix_dirty_lend(NULL, mem, ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem + 1, ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem, ps + 1), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem, 0), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem + 60 * ps, 8 * ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem - ps, 2 * ps), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_dirty_take_back(&d), UAREA_ESTATE);
    cr_assert_eq(d.lent_hi, 0);
    /* Lent and taken back with nobody in between, during a round: end works
     * around the lent part, and the round goes on after. */
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    cr_assert_eq(uarea_posix_dirty_lend(&d, mem + 8 * ps, 8 * ps), 0);
    /* A lazy range given a tracker that has lent a part already, or only
     * partly inside it: refused, the tracker as it was. */
    {
        uarea_posix_lazy x;
        rc = uarea_posix_lazy_open(&x, mem + 32 * ps, 8 * ps, &d);
        if (rc == UAREA_ENOSYS) cr_skip_test("the kernel lacks userfaultfd missing-page faults");
        cr_assert_eq(rc, UAREA_ESTATE);
        cr_assert_eq(d.lent_lo, (uintptr_t)(mem + 8 * ps));
        cr_assert_eq(d.lent_hi, (uintptr_t)(mem + 16 * ps));
    }
    cr_assert_eq(uarea_posix_dirty_end(&d), 0);
    cr_assert_eq(uarea_posix_dirty_take_back(&d), 0);
    cr_assert_eq(uarea_posix_dirty_begin(&d), 0);
    memset(marked, 0, sizeof marked);
    mem[9 * ps] = 1;
    cr_assert_eq(uarea_posix_dirty_collect(&d, each, NULL), 1);
    cr_assert_eq(marked[9], 1);
    {
        uarea_posix_lazy x;
        unsigned char *more = (unsigned char *)mmap(mem + NPAGES * ps, 8 * ps, PROT_READ | PROT_WRITE,
                                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                                                    -1, 0);
        if (more == mem + NPAGES * ps) {       /* the pages after the tracked range */
            cr_assert_eq(uarea_posix_lazy_open(&x, mem + (NPAGES - 4) * ps, 8 * ps, &d), UAREA_EINVAL);
            cr_assert_eq(d.lent_hi, 0);
            munmap(more, 8 * ps);
        } else if (more != MAP_FAILED) {
            munmap(more, 8 * ps);
        }
    }
    uarea_posix_dirty_close(&d);
    teardown();
}

/* Without the privilege to take kernel-mode faults (a user, with
 * vm.unprivileged_userfaultfd = 0 and no access to /dev/userfaultfd), the
 * descriptor is user-mode only: a thread's touch is served as before, a
 * system call that writes a missing page fails with EFAULT, unreported. */
Test(lazy, without_privilege_kernel_mode_faults_fail_with_efault, .init = setup, .fini = teardown)
{
    struct toucher w;
    int asked[NPAGES] = {0};
    uintptr_t want[4];
    pthread_t t;
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
        cr_skip_test("cannot become an ordinary user");
    open_or_skip(mem, NPAGES * ps, NULL);
    if (!l.user_only) cr_skip_test("this user may take kernel-mode faults here");
    cr_assert_eq(pipe(pipefd), 0);
    cr_assert_eq(write(pipefd[1], "hello", 5), 5);
    cr_assert_eq(pthread_create(&t, NULL, read_into_missing, NULL), 0);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&kread), -1);
    cr_assert_eq(atomic_load(&kerrno), EFAULT);
    cr_assert_eq(uarea_posix_lazy_poll(&l, want, 4), 0);
    cr_assert_eq(uarea_posix_lazy_has(&l, page(20)), 0);
    memset(&w, 0, sizeof w);
    cr_assert_eq(pthread_create(&w.t, NULL, touch, &w), 0);
    cr_assert_eq(serve(&w, 1, asked), NPAGES);
    pthread_join(w.t, NULL);
    cr_assert_eq(atomic_load(&w.bad), 0);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* ---- failure ------------------------------------------------------------ */

static atomic_int woke;
static void *wait_for_page(void *arg)
{
    volatile unsigned char *p = mem + (size_t)(uintptr_t)arg * ps;
    unsigned char v = p[8];
    atomic_store(&woke, 1 + v);           /* never reached on a failed range */
    return NULL;
}

Test(lazy, a_failed_range_keeps_its_threads_waiting, .init = setup, .fini = teardown)
{
    pthread_t t;
    uintptr_t want[4];
    long n;
    double t0;
    open_or_skip(mem, NPAGES * ps, NULL);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(0), src), 1);
    cr_assert_eq(pthread_create(&t, NULL, wait_for_page, (void *)(uintptr_t)5), 0);
    pthread_detach(t);
    t0 = now();
    do {
        n = uarea_posix_lazy_poll(&l, want, 4);
        cr_assert(now() - t0 < 10, "the fault was not reported");
    } while (n == 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(want[0], page(5));
    /* The source is lost. */
    cr_assert_eq(uarea_posix_lazy_fail(&l), 0);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(5), src + 5 * ps), UAREA_EPAGESLOST);
    cr_assert_eq(uarea_posix_lazy_zero(&l, page(5)), UAREA_EPAGESLOST);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(0), src, NPAGES), UAREA_EPAGESLOST);
    cr_assert_eq(uarea_posix_lazy_poll(&l, want, 4), UAREA_EPAGESLOST);
    cr_assert_eq(uarea_posix_lazy_missing(&l), NPAGES - 1);
    cr_assert_eq(uarea_posix_lazy_has(&l, page(5)), 0);
    usleep(100 * 1000);
    cr_assert_eq(atomic_load(&woke), 0, "a thread went on past a missing page");
    /* Close keeps the range registered: the thread still waits. */
    cr_assert_eq(uarea_posix_lazy_close(&l), UAREA_EPAGESLOST);
    usleep(100 * 1000);
    cr_assert_eq(atomic_load(&woke), 0, "close woke a thread into a zero page");
    cr_assert_eq(uarea_posix_lazy_install(&l, page(5), src), UAREA_EINVAL);
    /* The installed page is still read as installed. */
    cr_assert_eq(mem[8], 1);
}

/* ---- refused calls ------------------------------------------------------ */

Test(lazy, bad_input_is_refused_and_changes_nothing, .init = setup, .fini = teardown)
{
    uarea_posix_lazy x;
    uintptr_t want[4];
    cr_assert_eq(uarea_posix_lazy_open(NULL, mem, ps, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_open(&x, NULL, ps, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_open(&x, mem + 1, ps, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_open(&x, mem, ps + 1, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_open(&x, mem, 0, NULL), UAREA_EINVAL);
    {
        unsigned char *gone = (unsigned char *)mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
                                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cr_assert_neq(gone, MAP_FAILED);
        munmap(gone, 2 * ps);
        cr_assert_eq(uarea_posix_lazy_open(&x, gone, 2 * ps, NULL), UAREA_EINVAL);   /* unmapped */
    }
    cr_assert_eq(x.uffd, -1);
    cr_assert_null(x.have);
    /* Calls on nothing. */
    cr_assert_eq(uarea_posix_lazy_poll(NULL, want, 4), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install(NULL, page(0), src), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_zero(NULL, page(0)), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install_run(NULL, page(0), src, 1), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_has(NULL, page(0)), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_missing(NULL), 0);
    cr_assert_eq(uarea_posix_lazy_fail(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_close(NULL), 0);
    cr_assert_eq(uarea_posix_lazy_install(&x, page(0), src), UAREA_EINVAL);   /* never opened */

    /* The heap is pages 8..40. */
    open_or_skip(mem + 8 * ps, 32 * ps, NULL);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(7), src), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(40), src), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(8) + 1, src), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install(&l, page(8), NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_zero(&l, page(40)), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(30), src, 11), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(30), src, 0), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(30), NULL, 2), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(8), src, (size_t)-1), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_has(&l, page(40)), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_poll(&l, NULL, 4), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_poll(&l, NULL, 0), 0);
    /* Nothing changed: every page missing, none asked, the memory outside
     * the range ordinary (a touch there takes no fault). */
    cr_assert_eq(uarea_posix_lazy_missing(&l), 32);
    cr_assert_eq(l.failed, 0);
    mem[7 * ps] = 1;
    mem[40 * ps] = 1;
    cr_assert_eq(uarea_posix_lazy_has(&l, page(8)), 0);
    cr_assert_eq(uarea_posix_lazy_install_run(&l, page(8), src + 8 * ps, 32), 32);
    cr_assert_eq(memcmp(mem + 8 * ps, src + 8 * ps, 32 * ps), 0);
    cr_assert_eq(uarea_posix_lazy_close(&l), 0);
    /* Closed: refused. */
    cr_assert_eq(uarea_posix_lazy_install(&l, page(8), src), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_poll(&l, want, 4), UAREA_EINVAL);
    cr_assert_eq(uarea_posix_lazy_fail(&l), UAREA_EINVAL);
}
