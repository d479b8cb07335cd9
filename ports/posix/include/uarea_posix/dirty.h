/*
 * uarea_posix/dirty.h - which pages of a memory range were written, on Linux.
 *
 * The tracker behind live migration's pre-copy: the pages of a running
 * container are sent while it runs, then only the ones written since are
 * sent during the freeze. It asks the kernel, and needs no signal handler
 * and no fault-handling thread:
 *
 *   - a userfaultfd registers the range for write protection in the
 *     asynchronous mode (UFFD_FEATURE_WP_ASYNC, Linux 6.7): a write to a
 *     protected page is not stopped, the kernel only lifts the protection of
 *     that page and marks it written. Writes made by the kernel for the
 *     process (read(2) into a buffer in the range) count as well, and no
 *     system call fails with EFAULT, unlike a tracker built on mprotect();
 *   - the PAGEMAP_SCAN ioctl of /proc/self/pagemap (Linux 6.7) returns the
 *     written pages and protects them again in the same walk, so a round
 *     needs one system call whatever the number of pages.
 *
 * Unpopulated pages (never touched) are protected too
 * (UFFD_FEATURE_WP_UNPOPULATED), so a first write to them is seen. The file
 * descriptor is opened with UFFD_USER_MODE_ONLY, which needs no privilege
 * (vm.unprivileged_userfaultfd stays 0); asynchronous write protection never
 * delivers a fault to the descriptor, so that flag loses nothing.
 *
 *   uarea_posix_dirty d;
 *   uarea_posix_dirty_open(&d, addr, len);     page-aligned range
 *   uarea_posix_dirty_begin(&d);                protect the whole range
 *   ... the program writes ...
 *   uarea_posix_dirty_collect(&d, each, arg);   each(arg, addr, len) per run of
 *                                               written pages; they are
 *                                               protected again (next round)
 *   uarea_posix_dirty_end(&d);                  lift the protection: writes
 *                                               cost no fault any more
 *   uarea_posix_dirty_close(&d);
 *
 * Lending a part of the range (post-copy, uarea_posix/lazy.h): a range of
 * memory belongs to one userfaultfd at most, so a post-copy that needs its
 * own (missing-page faults, kernel-mode faults that wait) borrows its pages:
 *
 *   uarea_posix_dirty_lend(&d, addr, len);      unregistered from the tracker
 *   ... the other descriptor registers it, and unregisters it ...
 *   uarea_posix_dirty_take_back(&d);            registered again
 *
 * While a part is lent, begin and collect answer UAREA_ESTATE (a container
 * whose pages have not all arrived cannot be sent on) and end lifts the
 * protection of the rest. The pages taken back are unprotected, so the next
 * collect of a round reports them as written (more than needed, never less).
 *
 * Errors: UAREA_EINVAL (NULL, empty or unaligned range, a closed tracker, a
 * lent part outside the tracked range), UAREA_ENOSYS (the kernel lacks
 * userfaultfd, asynchronous write protection or PAGEMAP_SCAN, or the range
 * cannot be registered: not private anonymous or shared memory, say),
 * UAREA_ESTATE (collect before begin; begin or collect with a part lent, a
 * second lend, a take back with nothing lent), UAREA_EBUSY (take back while
 * another userfaultfd still holds the part), UAREA_EIO (an ioctl failed on a
 * tracker that had worked). A failed open leaves nothing
 * open. One tracker per range; the tracker belongs to the process that
 * opened it (a child of fork() must open its own).
 *
 * Implementation: define UAREA_POSIX_IMPLEMENTATION (or UAREA_IMPLEMENTATION)
 * in one C file. Linux only.
 */
#include "features.h"   /* first: the libc features the port needs */
#ifndef UAREA_POSIX_DIRTY_H
#define UAREA_POSIX_DIRTY_H

#include <uarea/error.h>
#include <stddef.h>
#include <stdint.h>

#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA_POSIX_IMPLEMENTATION)
#  define UAREA_POSIX_IMPLEMENTATION
#endif

UAREA_EXTERN_C_BEGIN

typedef struct uarea_posix_dirty {
    int uffd;          /* the userfaultfd, -1 when closed */
    int pagemap;       /* /proc/self/pagemap */
    uintptr_t lo, hi;  /* the range, page-aligned */
    size_t page;       /* the system page size */
    int begun;         /* a round was started */
    uintptr_t lent_lo, lent_hi; /* the part lent (uarea_posix_dirty_lend), or 0, 0 */
} uarea_posix_dirty;

/* Called once per run of consecutive written pages, in address order. */
typedef void (*uarea_posix_dirty_fn)(void *arg, uintptr_t addr, size_t len);

UAREA_API int uarea_posix_dirty_open(uarea_posix_dirty *d, void *addr, size_t len);
/* Protect every page of the range: the start of a round. */
UAREA_API int uarea_posix_dirty_begin(uarea_posix_dirty *d);
/* Report the pages written since begin (or since the previous collect), and
 * protect them again. Returns the number of pages reported. */
UAREA_API long uarea_posix_dirty_collect(uarea_posix_dirty *d, uarea_posix_dirty_fn each, void *arg);
/* End the round: lift the protection from the whole range (one ioctl), so
 * that later writes (wiping the range, restoring another image into it) take
 * no fault; the next round starts with begin. Fine without a round. */
UAREA_API int uarea_posix_dirty_end(uarea_posix_dirty *d);
/* Unregister [addr, addr + len), page-aligned and inside the tracked range,
 * from the tracker, for another userfaultfd to register; one part at a time. */
UAREA_API int uarea_posix_dirty_lend(uarea_posix_dirty *d, void *addr, size_t len);
/* Register the lent part again (the other userfaultfd has let it go). */
UAREA_API int uarea_posix_dirty_take_back(uarea_posix_dirty *d);
/* Stop tracking (the range's pages are writable as before). NULL is fine. */
UAREA_API void uarea_posix_dirty_close(uarea_posix_dirty *d);

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_DIRTY_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_POSIX_IMPLEMENTATION) && !defined(UAREA_POSIX__DIRTY_IMPLEMENTED)
#define UAREA_POSIX__DIRTY_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

/* Kernel ABI the C library's headers may predate (Linux 6.4 and 6.7; the
 * values are the kernel's, include/uapi/linux/userfaultfd.h and fs.h). */
#ifndef UFFD_USER_MODE_ONLY
#  define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#  define UFFD_FEATURE_WP_UNPOPULATED (1u << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#  define UFFD_FEATURE_WP_ASYNC (1u << 15)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#  define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#  define PM_SCAN_WP_MATCHING (1u << 0)
#  define PM_SCAN_CHECK_WPASYNC (1u << 1)
#  define PAGE_IS_WRITTEN (1u << 1)
#endif

UAREA_EXTERN_C_BEGIN

UAREA_API int uarea_posix_dirty_open(uarea_posix_dirty *d, void *addr, size_t len)
{
    struct uffdio_api api;
    struct uffdio_register reg;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)addr;
    if (d == NULL) return UAREA_EINVAL;
    d->uffd = d->pagemap = -1;
    d->begun = 0;
    d->lent_lo = d->lent_hi = 0;
    if (ps <= 0 || addr == NULL || len == 0 || lo % (uintptr_t)ps || len % (size_t)ps ||
        lo + len < lo)
        return UAREA_EINVAL;
#ifndef SYS_userfaultfd
    return UAREA_ENOSYS;
#else
    d->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (d->uffd < 0) return UAREA_ENOSYS;
    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC |
                   UFFD_FEATURE_WP_UNPOPULATED;
    memset(&reg, 0, sizeof reg);
    reg.range.start = lo;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(d->uffd, UFFDIO_API, &api) != 0 || ioctl(d->uffd, UFFDIO_REGISTER, &reg) != 0 ||
        (d->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0) {
        uarea_posix_dirty_close(d);
        return UAREA_ENOSYS;
    }
    d->lo = lo;
    d->hi = lo + len;
    d->page = (size_t)ps;
    return 0;
#endif
}

UAREA_API int uarea_posix_dirty_begin(uarea_posix_dirty *d)
{
    struct uffdio_writeprotect wp;
    if (d == NULL || d->uffd < 0) return UAREA_EINVAL;
    if (d->lent_hi != 0) return UAREA_ESTATE;
    memset(&wp, 0, sizeof wp);
    wp.range.start = d->lo;
    wp.range.len = d->hi - d->lo;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp) != 0) return UAREA_EIO;
    d->begun = 1;
    return 0;
}

UAREA_API int uarea_posix_dirty_end(uarea_posix_dirty *d)
{
    struct uffdio_writeprotect wp;
    if (d == NULL || d->uffd < 0) return UAREA_EINVAL;
    if (!d->begun) return 0;
    memset(&wp, 0, sizeof wp);
    wp.mode = 0;                                   /* un-protect */
    if (d->lent_hi != 0) {                         /* the parts around the lent one */
        if (d->lent_lo > d->lo) {
            wp.range.start = d->lo;
            wp.range.len = d->lent_lo - d->lo;
            if (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp) != 0) return UAREA_EIO;
        }
        if (d->hi > d->lent_hi) {
            wp.range.start = d->lent_hi;
            wp.range.len = d->hi - d->lent_hi;
            if (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp) != 0) return UAREA_EIO;
        }
        d->begun = 0;
        return 0;
    }
    wp.range.start = d->lo;
    wp.range.len = d->hi - d->lo;
    if (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp) != 0) return UAREA_EIO;
    d->begun = 0;
    return 0;
}

UAREA_API long uarea_posix_dirty_collect(uarea_posix_dirty *d, uarea_posix_dirty_fn each, void *arg)
{
    struct page_region v[32];
    struct pm_scan_arg a;
    uintptr_t at;
    long pages = 0;
    if (d == NULL || d->uffd < 0) return UAREA_EINVAL;
    if (!d->begun || d->lent_hi != 0) return UAREA_ESTATE;
    at = d->lo;
    while (at < d->hi) {
        int k, i;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        a.start = at;
        a.end = d->hi;
        a.vec = (uint64_t)(uintptr_t)v;
        a.vec_len = sizeof v / sizeof v[0];
        a.category_mask = PAGE_IS_WRITTEN;
        a.return_mask = PAGE_IS_WRITTEN;
        do k = ioctl(d->pagemap, PAGEMAP_SCAN, &a);
        while (k < 0 && errno == EINTR);
        if (k < 0) return UAREA_EIO;
        for (i = 0; i < k; i++) {
            if (each != NULL) each(arg, (uintptr_t)v[i].start, (size_t)(v[i].end - v[i].start));
            pages += (long)((v[i].end - v[i].start) / d->page);
        }
        /* The walk stops early when the vector is full (or the kernel
         * yields); it tells where. */
        if (a.walk_end <= at || a.walk_end > d->hi) return UAREA_EIO;
        at = (uintptr_t)a.walk_end;
    }
    return pages;
}

UAREA_API int uarea_posix_dirty_lend(uarea_posix_dirty *d, void *addr, size_t len)
{
    struct uffdio_range r;
    uintptr_t lo = (uintptr_t)addr;
    if (d == NULL || d->uffd < 0 || len == 0 || lo % d->page || len % d->page || lo < d->lo ||
        lo > d->hi || len > d->hi - lo)
        return UAREA_EINVAL;
    if (d->lent_hi != 0) return UAREA_ESTATE;
    r.start = lo;
    r.len = len;
    /* Also lifts the protection of the part's pages. */
    if (ioctl(d->uffd, UFFDIO_UNREGISTER, &r) != 0) return UAREA_EIO;
    d->lent_lo = lo;
    d->lent_hi = lo + len;
    return 0;
}

UAREA_API int uarea_posix_dirty_take_back(uarea_posix_dirty *d)
{
    struct uffdio_register reg;
    if (d == NULL || d->uffd < 0) return UAREA_EINVAL;
    if (d->lent_hi == 0) return UAREA_ESTATE;
    memset(&reg, 0, sizeof reg);
    reg.range.start = d->lent_lo;
    reg.range.len = d->lent_hi - d->lent_lo;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(d->uffd, UFFDIO_REGISTER, &reg) != 0) return errno == EBUSY ? UAREA_EBUSY : UAREA_EIO;
    d->lent_lo = d->lent_hi = 0;
    return 0;
}

UAREA_API void uarea_posix_dirty_close(uarea_posix_dirty *d)
{
    if (d == NULL) return;
    if (d->uffd >= 0) close(d->uffd);      /* unregisters the range */
    if (d->pagemap >= 0) close(d->pagemap);
    d->uffd = d->pagemap = -1;
    d->begun = 0;
    d->lent_lo = d->lent_hi = 0;
}

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
