/*
 * uarea_posix/lazy.h - pages that arrive after the program runs, on Linux.
 *
 * The destination's side of a post-copy migration: the container resumes
 * with its UArea, stacks and user sections, and its heap pages arrive
 * afterwards, fetched on demand when a thread touches one, and pushed in the
 * background. A thread that touches a page not yet there must wait for it,
 * never see zeros; the node's master serves those waits without blocking.
 *
 *   - a userfaultfd registers the range for missing-page faults
 *     (UFFDIO_REGISTER_MODE_MISSING): a touch of a page that is not there
 *     stops the thread in the kernel and queues a fault event on the
 *     descriptor, which is non-blocking (O_NONBLOCK);
 *   - the master polls the descriptor (uarea_posix_lazy_poll), gets each
 *     wanted page once, asks the source for it, and installs the bytes when
 *     they come (UFFDIO_COPY: atomically, and it wakes the waiting threads),
 *     or a zero page for a page known to be zero (UFFDIO_ZEROPAGE); the
 *     background push installs runs of pages the same way;
 *   - a bitmap says which pages are installed; when all are, close
 *     unregisters the range: later touches cost nothing.
 *
 *   uarea_posix_lazy l;
 *   uarea_posix_lazy_open(&l, heap, len, &tracker);   before the container runs
 *   loop of the master:
 *       n = uarea_posix_lazy_poll(&l, want, 64);      pages wanted, each once
 *       ... ask the source for want[0..n) ...
 *       uarea_posix_lazy_install(&l, addr, bytes);    a page came
 *       uarea_posix_lazy_install_run(&l, addr, bytes, pages);  a pushed run
 *   when uarea_posix_lazy_missing(&l) == 0:
 *       uarea_posix_lazy_close(&l);                   the range is ordinary again
 *   if the source is lost first:
 *       uarea_posix_lazy_fail(&l);                    (see Failure)
 *
 * Pages present at open (mincore(2): the caller put them there, say the part
 * of the heap sent before the container resumed) count as installed. A range
 * that must arrive whole is wiped first (MADV_DONTNEED): stale bytes in it
 * would be read as if installed.
 *
 * The dirty-page tracker on the same range (uarea_posix/dirty.h). A range of
 * memory belongs to at most one userfaultfd (a second registration fails
 * with EBUSY), and the node's tracker holds the whole container region. Two
 * ways were tried on Linux 6.18:
 *   - missing faults on the tracker's own descriptor (registering MISSING|WP
 *     again over the heap): accepted, and faults arrive there (asynchronous
 *     write protection concerns write-protect faults only). But the
 *     tracker's descriptor is opened with UFFD_USER_MODE_ONLY, so a fault
 *     the kernel takes for the program (read(2) into a missing heap page)
 *     is not queued: the call fails with EFAULT, and the container sees a
 *     system call fail that never fails on the source. And registering
 *     again with fewer modes changes nothing (the kernel keeps MISSING when
 *     asked for WP alone): dropping MISSING takes an unregister anyway;
 *   - the tracker lends the range (uarea_posix_dirty_lend: unregisters it)
 *     to a descriptor of its own here, opened without UFFD_USER_MODE_ONLY
 *     when the process may: then a read(2) into a missing page waits for the
 *     page like a thread's touch, and its fault is reported like the others.
 *     Close gives the range back (uarea_posix_dirty_take_back).
 * This file does the second. What the tracker loses: no pre-copy round over
 * the lent range (begin and collect answer UAREA_ESTATE), and none is
 * needed: a container whose pages have not all arrived cannot be sent on.
 * Pages installed here are unprotected when taken back, so they count as
 * written at the next round's collect, which begins by protecting all.
 *
 * Kernel-mode faults and privileges. A descriptor that takes kernel-mode
 * faults needs CAP_SYS_PTRACE (root has it), or vm.unprivileged_userfaultfd
 * = 1, or access to /dev/userfaultfd (Linux 6.1; mode 0600 root here). Open
 * tries the system call without UFFD_USER_MODE_ONLY, then /dev/userfaultfd,
 * then falls back to UFFD_USER_MODE_ONLY, which anyone may use, and says so
 * in l->user_only: then a system call that writes or reads a missing page
 * for the program fails with EFAULT, and no fault is reported for it (a
 * program that reads files or sockets into its heap must be given its pages
 * first).
 *
 * Failure. When the source is lost before every page arrived, the container
 * cannot run on: uarea_posix_lazy_fail marks the range failed. Nothing is
 * installed, so a thread waiting on a missing page stays stopped in the
 * kernel, and so does any thread that touches one later: none continues
 * with a zero page. The threads wake only when the descriptor is closed or
 * the range unregistered, and would then get zero pages; so a failed range
 * is never unregistered: close keeps the descriptor open for the life of the
 * process (on purpose) and answers UAREA_EPAGESLOST. The node ends the
 * container the way it ends a lost one; in the POSIX runtime, where
 * container threads run on the node's core threads, that means the node
 * process (its waiting core threads cannot be woken without zeros).
 * UFFDIO_POISON (Linux 6.6) would make them take SIGBUS instead, which kills
 * the whole node process with every other container in it: not used.
 *
 * Errors: UAREA_EINVAL (NULL, empty, unaligned or unmapped range, an
 * address outside the range or unaligned, a range only partly inside the
 * tracker's, a closed range), UAREA_ENOSYS (no userfaultfd, or the range
 * cannot be registered: not anonymous or shared memory), UAREA_EBUSY (the
 * range belongs to another userfaultfd: a tracker not given to open),
 * UAREA_ENOMEM (the bitmaps), UAREA_ESTATE (open with a tracker that has
 * lent a part already; close with pages missing and the range not failed),
 * UAREA_EPAGESLOST (the range was failed), UAREA_EIO (an ioctl failed on a
 * range that had worked). A refused call changes nothing; a failed open
 * leaves nothing open and the tracker as it was.
 *
 * Limits: one thread (the master) calls these functions; the container's
 * threads only touch the memory. A child of fork() gets the range without
 * its registration (missing pages read as zero there). Private anonymous
 * memory with the base page size (the POSIX runtime's region); no huge pages.
 *
 * Implementation: define UAREA_POSIX_IMPLEMENTATION (or UAREA_IMPLEMENTATION)
 * in one C file. Linux only.
 */
#include "features.h"   /* first: the libc features the port needs */
#ifndef UAREA_POSIX_LAZY_H
#define UAREA_POSIX_LAZY_H

#include <uarea/error.h>
#include <uarea_posix/dirty.h>
#include <stddef.h>
#include <stdint.h>

#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA_POSIX_IMPLEMENTATION)
#  define UAREA_POSIX_IMPLEMENTATION
#endif

UAREA_EXTERN_C_BEGIN

typedef struct uarea_posix_lazy {
    int uffd;                    /* the userfaultfd, -1 when closed */
    int user_only;               /* 1: kernel-mode faults fail with EFAULT */
    int failed;                  /* uarea_posix_lazy_fail was called */
    uintptr_t lo, hi;            /* the range, page-aligned */
    size_t page;                 /* the system page size */
    size_t pages, installed;     /* pages in the range, pages there */
    unsigned char *have;         /* bit per page: installed */
    unsigned char *asked;        /* bit per page: reported by poll */
    uarea_posix_dirty *tracker;  /* lent us the range, or NULL */
} uarea_posix_lazy;

/* Register [addr, addr + len), page-aligned, for missing-page faults. With a
 * tracker (NULL: none) whose range holds it, the range is borrowed from it
 * (uarea_posix_dirty_lend) and given back by close. Call it before any
 * thread touches the range. */
UAREA_API int uarea_posix_lazy_open(uarea_posix_lazy *l, void *addr, size_t len,
                                    uarea_posix_dirty *tracker);
/* Read the pending fault events without waiting, and store in want[] the
 * page-aligned address of each page that a thread waits for, not installed
 * and not reported before: each page once. Returns the number stored (0:
 * nothing new), at most max; events beyond max stay queued for the next
 * call. */
UAREA_API long uarea_posix_lazy_poll(uarea_posix_lazy *l, uintptr_t *want, size_t max);
/* Install one page, from `page` bytes at src, and wake its waiting threads.
 * Returns 1, or 0 when the page was already there (left as it was). */
UAREA_API int uarea_posix_lazy_install(uarea_posix_lazy *l, uintptr_t addr, const void *src);
/* Install a page of zeros (known to be zero at the source); 1 or 0 as above. */
UAREA_API int uarea_posix_lazy_zero(uarea_posix_lazy *l, uintptr_t addr);
/* Install `pages` consecutive pages from src (a background push); pages
 * already there are left as they were. Returns the number installed. */
UAREA_API long uarea_posix_lazy_install_run(uarea_posix_lazy *l, uintptr_t addr, const void *src,
                                           size_t pages);
/* 1 when the page at addr is installed, 0 when not; UAREA_EINVAL outside. */
UAREA_API int uarea_posix_lazy_has(const uarea_posix_lazy *l, uintptr_t addr);
/* Pages not yet installed (0 for NULL or a closed range). */
UAREA_API size_t uarea_posix_lazy_missing(const uarea_posix_lazy *l);
/* The source is lost: install nothing more, leave the waiting threads
 * stopped (see Failure above). Later calls answer UAREA_EPAGESLOST. */
UAREA_API int uarea_posix_lazy_fail(uarea_posix_lazy *l);
/* Every page installed: unregister the range (later touches cost nothing)
 * and give it back to the tracker; 0. Pages missing: UAREA_ESTATE, nothing
 * done (finish, or fail). Failed: the bitmaps are freed but the range stays
 * registered and its descriptor open; UAREA_EPAGESLOST. NULL or closed: 0. */
UAREA_API int uarea_posix_lazy_close(uarea_posix_lazy *l);
/* Close when the pages still missing are known to be zeros (the caller's
 * own pages all came; the rest were never written): unregister the range
 * without installing them; a thread waiting for one retries its touch and
 * gets an ordinary zero page. Failed: as close. */
UAREA_API int uarea_posix_lazy_close_zero(uarea_posix_lazy *l);

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_LAZY_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_POSIX_IMPLEMENTATION) && !defined(UAREA_POSIX__LAZY_IMPLEMENTED)
#define UAREA_POSIX__LAZY_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

/* Kernel ABI the C library's headers may predate (Linux 6.1; the values are
 * the kernel's, include/uapi/linux/userfaultfd.h). */
#ifndef UFFD_USER_MODE_ONLY
#  define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#  define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

UAREA_EXTERN_C_BEGIN

#define UAREA__LAZY_BIT(map, i) (((map)[(i) >> 3] >> ((i) & 7)) & 1u)
#define UAREA__LAZY_SET(map, i) ((map)[(i) >> 3] |= (unsigned char)(1u << ((i) & 7)))

/* A userfaultfd that takes kernel-mode faults when the process may open one,
 * else a user-mode-only one (*user_only = 1). */
static int uarea__posix_lazy_uffd(int *user_only)
{
    int fd = -1;
    *user_only = 0;
#ifdef SYS_userfaultfd
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return fd;
#endif
    {
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            close(dev);
            if (fd >= 0) return fd;
        }
    }
#ifdef SYS_userfaultfd
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd >= 0) *user_only = 1;
#endif
    return fd;
}

static void uarea__posix_lazy_forget(uarea_posix_lazy *l)
{
    free(l->have);
    free(l->asked);
    l->have = l->asked = NULL;
    l->uffd = -1;
    l->tracker = NULL;
}

UAREA_API int uarea_posix_lazy_open(uarea_posix_lazy *l, void *addr, size_t len,
                                    uarea_posix_dirty *tracker)
{
    struct uffdio_api api;
    struct uffdio_register reg;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)addr;
    unsigned char *core = NULL;
    size_t i, bytes;
    int rc, lent = 0;
    if (l == NULL) return UAREA_EINVAL;
    memset(l, 0, sizeof *l);
    l->uffd = -1;
    if (ps <= 0 || addr == NULL || len == 0 || lo % (uintptr_t)ps || len % (size_t)ps ||
        lo + len < lo)
        return UAREA_EINVAL;
    l->lo = lo;
    l->hi = lo + len;
    l->page = (size_t)ps;
    l->pages = len / (size_t)ps;
    bytes = (l->pages + 7) / 8;
    l->have = (unsigned char *)calloc(bytes, 1);
    l->asked = (unsigned char *)calloc(bytes, 1);
    core = (unsigned char *)malloc(l->pages);
    if (l->have == NULL || l->asked == NULL || core == NULL) {
        rc = UAREA_ENOMEM;
        goto fail;
    }
    /* The pages already there are the caller's: installed. */
    if (mincore(addr, len, core) != 0) {
        rc = errno == ENOMEM ? UAREA_EINVAL : UAREA_ENOSYS;   /* ENOMEM: not mapped */
        goto fail;
    }
    for (i = 0; i < l->pages; i++)
        if (core[i] & 1) {
            UAREA__LAZY_SET(l->have, i);
            l->installed++;
        }
    free(core);
    core = NULL;
    l->uffd = uarea__posix_lazy_uffd(&l->user_only);
    if (l->uffd < 0) {
        rc = UAREA_ENOSYS;
        goto fail;
    }
    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    if (ioctl(l->uffd, UFFDIO_API, &api) != 0 ||
        (api.ioctls & (1ull << _UFFDIO_REGISTER)) == 0) {
        rc = UAREA_ENOSYS;
        goto fail;
    }
    if (tracker != NULL && tracker->uffd >= 0 && lo < tracker->hi && l->hi > tracker->lo) {
        rc = uarea_posix_dirty_lend(tracker, addr, len);
        if (rc < 0) goto fail;
        lent = 1;
        l->tracker = tracker;
    }
    memset(&reg, 0, sizeof reg);
    reg.range.start = lo;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(l->uffd, UFFDIO_REGISTER, &reg) != 0) {
        rc = errno == EBUSY ? UAREA_EBUSY : UAREA_ENOSYS;
        goto fail;
    }
    if ((reg.ioctls & ((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE))) !=
        ((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE))) {
        rc = UAREA_ENOSYS;
        goto fail;
    }
    return 0;
fail:
    free(core);
    if (l->uffd >= 0) close(l->uffd);          /* unregisters, if it had */
    if (lent) (void)uarea_posix_dirty_take_back(tracker);
    uarea__posix_lazy_forget(l);
    return rc;
}

/* The page index of addr, or -1 when addr is not a page of the range. */
static long uarea__posix_lazy_index(const uarea_posix_lazy *l, uintptr_t addr)
{
    if (addr < l->lo || addr >= l->hi || (addr - l->lo) % l->page) return -1;
    return (long)((addr - l->lo) / l->page);
}

/* The checks of every call that installs. */
static int uarea__posix_lazy_usable(const uarea_posix_lazy *l)
{
    if (l == NULL || l->uffd < 0 || l->have == NULL) return UAREA_EINVAL;
    return l->failed ? UAREA_EPAGESLOST : 0;
}

UAREA_API long uarea_posix_lazy_poll(uarea_posix_lazy *l, uintptr_t *want, size_t max)
{
    struct uffd_msg msg[32];
    size_t n = 0;
    int rc = uarea__posix_lazy_usable(l);
    if (rc < 0) return rc;
    if (want == NULL && max > 0) return UAREA_EINVAL;
    /* Read no more events than there is room for: each may be a new page. */
    while (n < max) {
        size_t room = max - n < 32 ? max - n : 32, k, i;
        ssize_t got = read(l->uffd, msg, room * sizeof msg[0]);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return UAREA_EIO;
        }
        k = (size_t)got / sizeof msg[0];
        if (k == 0) break;
        for (i = 0; i < k; i++) {
            uintptr_t a;
            long p;
            if (msg[i].event != UFFD_EVENT_PAGEFAULT) continue;
            a = (uintptr_t)msg[i].arg.pagefault.address & ~(uintptr_t)(l->page - 1);
            p = uarea__posix_lazy_index(l, a);
            if (p < 0 || UAREA__LAZY_BIT(l->have, (size_t)p) || UAREA__LAZY_BIT(l->asked, (size_t)p))
                continue;   /* installed since (its threads were woken), or asked */
            UAREA__LAZY_SET(l->asked, (size_t)p);
            want[n++] = a;
        }
    }
    return (long)n;
}

/* Wake the threads waiting on [addr, addr + len) (a page that was there). */
static void uarea__posix_lazy_wake(uarea_posix_lazy *l, uintptr_t addr, size_t len)
{
    struct uffdio_range r;
    r.start = addr;
    r.len = len;
    (void)ioctl(l->uffd, UFFDIO_WAKE, &r);
}

/* Install `pages` pages at page index p, all not installed: from src, or
 * zeros when src is NULL. Returns the pages installed (those found there
 * count as installed but not in the result), or an error. */
static long uarea__posix_lazy_fill(uarea_posix_lazy *l, size_t p, const unsigned char *src,
                                   size_t pages)
{
    long done = 0;
    size_t off = 0, len = pages * l->page;
    while (off < len) {
        uintptr_t at = l->lo + p * l->page + off;
        long long moved;
        int rc, err;
        if (src != NULL) {
            struct uffdio_copy c;
            c.dst = at;
            c.src = (uintptr_t)(src + off);
            c.len = len - off;
            c.mode = 0;
            c.copy = 0;
            rc = ioctl(l->uffd, UFFDIO_COPY, &c);
            err = errno;
            moved = c.copy;
        } else {
            struct uffdio_zeropage z;
            z.range.start = at;
            z.range.len = len - off;
            z.mode = 0;
            z.zeropage = 0;
            rc = ioctl(l->uffd, UFFDIO_ZEROPAGE, &z);
            err = errno;
            moved = z.zeropage;
        }
        if (rc == 0) moved = (long long)(len - off);
        if (moved > 0) {                           /* whole pages, in order */
            size_t i, k = (size_t)moved / l->page;
            for (i = 0; i < k; i++) UAREA__LAZY_SET(l->have, p + off / l->page + i);
            l->installed += k;
            done += (long)k;
            off += k * l->page;
            continue;
        }
        if (rc == 0) break;
        if (err == EAGAIN || err == EINTR) continue;   /* the address space changed: again */
        if (err == EEXIST) {                       /* this page was there: keep it */
            size_t i = p + off / l->page;
            UAREA__LAZY_SET(l->have, i);
            l->installed++;
            uarea__posix_lazy_wake(l, at, l->page);
            off += l->page;
            continue;
        }
        return UAREA_EIO;
    }
    return done;
}

/* Install [p, p + pages) from src (NULL: zeros), skipping installed pages. */
static long uarea__posix_lazy_put(uarea_posix_lazy *l, uintptr_t addr, const void *src,
                                  size_t pages)
{
    const unsigned char *s = (const unsigned char *)src;
    long p0, done = 0;
    size_t p, end;
    int rc = uarea__posix_lazy_usable(l);
    if (rc < 0) return rc;
    p0 = uarea__posix_lazy_index(l, addr);
    if (p0 < 0 || pages == 0 || pages > l->pages - (size_t)p0) return UAREA_EINVAL;
    p = (size_t)p0;
    end = p + pages;
    while (p < end) {
        size_t q;
        long k;
        if (UAREA__LAZY_BIT(l->have, p)) {
            p++;
            continue;
        }
        for (q = p + 1; q < end && !UAREA__LAZY_BIT(l->have, q); q++) {}
        k = uarea__posix_lazy_fill(l, p, s != NULL ? s + (p - (size_t)p0) * l->page : NULL, q - p);
        if (k < 0) return done > 0 ? done : k;
        done += k;
        p = q;
    }
    return done;
}

UAREA_API int uarea_posix_lazy_install(uarea_posix_lazy *l, uintptr_t addr, const void *src)
{
    if (src == NULL) return UAREA_EINVAL;
    return (int)uarea__posix_lazy_put(l, addr, src, 1);
}

UAREA_API int uarea_posix_lazy_zero(uarea_posix_lazy *l, uintptr_t addr)
{
    return (int)uarea__posix_lazy_put(l, addr, NULL, 1);
}

UAREA_API long uarea_posix_lazy_install_run(uarea_posix_lazy *l, uintptr_t addr, const void *src,
                                           size_t pages)
{
    if (src == NULL) return UAREA_EINVAL;
    return uarea__posix_lazy_put(l, addr, src, pages);
}

UAREA_API int uarea_posix_lazy_has(const uarea_posix_lazy *l, uintptr_t addr)
{
    long p;
    if (l == NULL || l->have == NULL) return UAREA_EINVAL;
    p = uarea__posix_lazy_index(l, addr);
    if (p < 0) return UAREA_EINVAL;
    return (int)UAREA__LAZY_BIT(l->have, (size_t)p);
}

UAREA_API size_t uarea_posix_lazy_missing(const uarea_posix_lazy *l)
{
    if (l == NULL || l->have == NULL) return 0;
    return l->pages - l->installed;
}

UAREA_API int uarea_posix_lazy_fail(uarea_posix_lazy *l)
{
    if (l == NULL || l->uffd < 0 || l->have == NULL) return UAREA_EINVAL;
    l->failed = 1;
    return 0;
}

UAREA_API int uarea_posix_lazy_close(uarea_posix_lazy *l)
{
    int rc = 0;
    if (l == NULL || l->have == NULL) return 0;
    if (l->failed) {
        /* The descriptor stays open and the range registered: the waiting
         * threads must not be woken into zero pages. */
        free(l->have);
        free(l->asked);
        l->have = l->asked = NULL;
        l->tracker = NULL;
        return UAREA_EPAGESLOST;
    }
    if (l->installed < l->pages) return UAREA_ESTATE;
    close(l->uffd);                                /* unregisters the range */
    if (l->tracker != NULL) rc = uarea_posix_dirty_take_back(l->tracker);
    uarea__posix_lazy_forget(l);
    return rc;
}

UAREA_API int uarea_posix_lazy_close_zero(uarea_posix_lazy *l)
{
    if (l != NULL && l->have != NULL && !l->failed) l->installed = l->pages;
    return uarea_posix_lazy_close(l);
}

#undef UAREA__LAZY_BIT
#undef UAREA__LAZY_SET

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
