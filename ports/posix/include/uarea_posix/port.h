/*
 * uarea_posix/port.h - the port contract (uarea/port.h) on Linux: a node is a
 * process, its cores are threads of it.
 *
 * Selected by <uarea_posix.h>, and by <uarea_port.h> (next to it) when
 * the port's include directory is on the include path, whichever uarea header
 * comes first; every item of uarea/port_null.h is bound here:
 *   cores       the node's core threads; UAREA_PORT_CORE_ID() is a
 *               thread-local set when a core thread starts (other threads:
 *               UINT_MAX, "not a core")
 *   reschedule  a counter bumped and a futex wake for idle cores
 *   idle        a futex wait on that counter, at most 1 ms, from the value
 *               this thread saw when its last idle ended: a reschedule that
 *               came since (even just before the idle) ends it at once
 *   critical    a thread-local flag the preemption timer honours
 *   clock       CLOCK_MONOTONIC
 *   log         one write(2) to stderr (a user stack is small: no stdio)
 *   region      the container region, mapped at one fixed address in every
 *               node before they fork
 */
#ifndef UAREA_POSIX_PORT_H
#define UAREA_POSIX_PORT_H

#include "features.h"
#include <uarea/config.h>   /* UAREA__ASAN, UAREA__TSAN */

/* Stacks: user code calls libc, whose stack needs exceed the MPPA-256's
 * 8 KiB; only the used part of a stack migrates. Defined here, before
 * uarea/uarea.h lays the container out, so that every translation unit of a
 * program gets the same layout whatever order it includes the headers in. */
#ifndef UAREA_STACK_SIZE
#  define UAREA_STACK_SIZE 65536u
#endif
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Node-local state of the port (each node process has its own). Only the
 * translation unit with UAREA_IMPLEMENTATION uses it; in the others it is
 * declared, unused. */
#define UAREA__POSIX_STATE static __attribute__((unused))
UAREA__POSIX_STATE _Thread_local unsigned uarea__posix_core = UINT_MAX;
UAREA__POSIX_STATE _Thread_local volatile uintptr_t uarea__posix_crit;
UAREA__POSIX_STATE unsigned uarea__posix_ncores = 1;
UAREA__POSIX_STATE uint32_t uarea__posix_kick;
/* Core threads asleep on it now: a reschedule with none skips the wake-up's
 * system call. */
UAREA__POSIX_STATE uint32_t uarea__posix_kick_sleepers;
/* the counter's value when this thread's last idle ended (UAREA_PORT_IDLE) */
UAREA__POSIX_STATE _Thread_local uint32_t uarea__posix_kick_seen;
UAREA__POSIX_STATE void *uarea__posix_region;
UAREA__POSIX_STATE void (*volatile uarea__posix_wake_fn)(void);   /* UAREA_PORT_WAKE_MASTER */
UAREA__POSIX_STATE size_t uarea__posix_region_size;
/* UAREA_PORT_DIRTY_*: the node's trackers, set by the runtime when it has them */
UAREA__POSIX_STATE int (*volatile uarea__posix_dirty_begin_fn)(void);
/* ends a dirty-tracking round (lifts the write protection) before a wipe */
UAREA__POSIX_STATE void (*volatile uarea__posix_dirty_end_fn)(void);
/* 1: the wipe drops every page of the region (post-copy: a page a
 * container will get by a missing-page fault must not be in memory, and
 * dropping it here, after the commit, keeps that off the next arrival). */
UAREA__POSIX_STATE int uarea__posix_wipe_drop;
UAREA__POSIX_STATE int (*volatile uarea__posix_dirty_collect_fn)(void (*)(void *, uintptr_t, size_t),
                                                                 void *);

static inline uint64_t uarea__posix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Process-private futex: wait while *w == seen (ts NULL: no limit), wake all. */
static inline void uarea__posix_futex_wait(uint32_t *w, uint32_t seen, const struct timespec *ts)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, seen, ts, NULL, 0);
}

static inline void uarea__posix_futex_wake(uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void uarea__posix_resched(unsigned core)
{
    (void)core;
    /* seq_cst, as the sleeper's count: either it sees the new value in its
     * futex wait, or this sees it counted */
    __atomic_add_fetch(&uarea__posix_kick, 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&uarea__posix_kick_sleepers, __ATOMIC_SEQ_CST) != 0)
        uarea__posix_futex_wake(&uarea__posix_kick);
}

/* UAREA_PORT_WAKE_MASTER: a container thread posted a call for the master */
static inline void uarea__posix_wake_master(void)
{
    void (*f)(void) = uarea__posix_wake_fn;
    uarea__posix_resched(0);
    if (f != NULL) f();
}

/* UAREA_PORT_IDLE, with the event semantics uarea/port_null.h asks for: the
 * wait is from the counter's value this thread saw when its previous idle
 * ended, so a reschedule that came since (after the caller looked for work,
 * before this call) ends the wait at once instead of after 1 ms. Not
 * inlined: the thread-local is read anew on each call (a user thread that
 * idles here may run on another core thread after its next switch). */
__attribute__((noinline, unused)) static void uarea__posix_idle(unsigned core)
{
    struct timespec ts = {0, 1000000}; /* 1 ms */
    (void)core;
    __atomic_add_fetch(&uarea__posix_kick_sleepers, 1u, __ATOMIC_SEQ_CST);
    uarea__posix_futex_wait(&uarea__posix_kick, uarea__posix_kick_seen, &ts);
    __atomic_sub_fetch(&uarea__posix_kick_sleepers, 1u, __ATOMIC_RELAXED);
    uarea__posix_kick_seen = __atomic_load_n(&uarea__posix_kick, __ATOMIC_ACQUIRE);
}

/* The flag belongs to the core thread, and only the context that runs on
 * that core touches it. ThreadSanitizer sees each user thread as a fiber of
 * its own and may not see every switch that orders two of them on one core
 * (a fiber made for a thread restored from an image): its accesses are not
 * instrumented. */
#ifdef UAREA__TSAN   /* uarea/config.h */
#  define UAREA__POSIX_NO_TSAN __attribute__((no_sanitize("thread")))
#else
#  define UAREA__POSIX_NO_TSAN
#endif

/* The flag of the core thread the caller runs on now. A user thread that
 * enters the critical section on one core thread may leave it on another
 * (the section spans a switch); on CPUs where the compiler computes a
 * thread-local's address from the thread pointer register and may keep that
 * address in a callee-saved register across the switch (aarch64, riscv64:
 * seen on riscv64), the leave would write the old core's flag, leaving that
 * core preemptible inside a critical section (and the new one never). So the
 * address comes from a function the compiler cannot see through, on each
 * use. x86_64 addresses a thread-local through %fs on each access. */
#if defined(__x86_64__)
#  define UAREA__POSIX_CRIT (&uarea__posix_crit)
#else
__attribute__((noinline, unused)) static volatile uintptr_t *uarea__posix_crit_addr(void)
{
    volatile uintptr_t *p = &uarea__posix_crit;
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}
#  define UAREA__POSIX_CRIT uarea__posix_crit_addr()
#endif

/* Entering: between taking the flag's address and setting the flag, a tick
 * could move the thread to another core, and the store would set the old
 * core's flag while the new one stays preemptible inside the section. On
 * x86_64 each access goes through %fs, so the store lands on the core the
 * thread is on. Elsewhere the entry is a function in a section of its own,
 * uarea_posix_crit, in which the tick never preempts (uarea_posix/preempt.h
 * checks the interrupted address against the section's bounds). */
#if defined(__x86_64__)
UAREA__POSIX_NO_TSAN static inline uintptr_t uarea__posix_crit_enter(void)
{
    volatile uintptr_t *f = UAREA__POSIX_CRIT;
    uintptr_t old = *f;
    *f = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return old;
}
#else
UAREA__POSIX_NO_TSAN __attribute__((noinline, unused, section("uarea_posix_crit")))
static uintptr_t uarea__posix_crit_enter(void)
{
    volatile uintptr_t *f = &uarea__posix_crit;
    uintptr_t old;
    __asm__ volatile("" : "+r"(f) : : "memory");
    old = *f;
    *f = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return old;
}
#endif

UAREA__POSIX_NO_TSAN static inline void uarea__posix_crit_leave(uintptr_t old)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    *UAREA__POSIX_CRIT = old;
}

static inline void uarea__posix_log(int level, const char *msg)
{
    char line[200];
    size_t n = 0;
    const char *tag = level == 0 ? "[uarea error] " : level == 1 ? "[uarea warning] " : "[uarea] ";
    while (*tag && n < sizeof line - 2) line[n++] = *tag++;
    while (*msg && n < sizeof line - 2) line[n++] = *msg++;
    line[n++] = '\n';
    (void)!write(2, line, n);
}

/* UAREA_PORT_WIPE. In the container region (anonymous memory of this node):
 * the pages this process has in memory are zeroed in place (they stay, so
 * the next container that comes in does not fault them in), the others are
 * dropped with MADV_DONTNEED, which also drops a page in swap and reads back
 * as zero; a page never touched costs nothing, where a memset would fault it
 * in (a region holds 18 stacks of 64 KiB a container mostly never touches).
 * Anything else (the user sections, file-backed .data: MADV_DONTNEED would
 * bring back the file's bytes) is zeroed with memset. A pre-copy's tracking
 * round ends first: its write protection would make every zeroed page (and
 * every page of the next image restored here) take a fault. With post-copy
 * on (uarea__posix_wipe_drop) every page of the region is dropped. */
static inline void uarea__posix_wipe(void *addr, size_t len)
{
    enum { CHUNK = 256 };
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)addr, end = a + len;
    uintptr_t lo = (a + ps - 1) & ~(ps - 1), hi = end & ~(ps - 1);
    uintptr_t r = (uintptr_t)uarea__posix_region;
    unsigned char vec[CHUNK];
    if (len == 0) return;
    if (uarea__posix_dirty_end_fn != NULL) uarea__posix_dirty_end_fn();
    if (r == 0 || a < r || end > r + uarea__posix_region_size || lo >= hi) {
        __builtin_memset(addr, 0, len);
        return;
    }
    if (a < lo) __builtin_memset(addr, 0, lo - a);
    if (hi < end) __builtin_memset((void *)hi, 0, end - hi);
    for (uintptr_t p = lo; p < hi; p += CHUNK * ps) {
        size_t n = (hi - p) / ps < CHUNK ? (size_t)((hi - p) / ps) : (size_t)CHUNK, i = 0;
        if (mincore((void *)p, n * ps, vec) != 0) {
            __builtin_memset((void *)p, 0, n * ps);   /* cannot tell: all of it */
            continue;
        }
        while (i < n) {
            size_t j = i;
            int in = vec[i] & 1u;
            while (j < n && (vec[j] & 1u) == (unsigned)in) j++;
            if ((in && !uarea__posix_wipe_drop) ||
                madvise((void *)(p + i * ps), (j - i) * ps, MADV_DONTNEED) != 0)
                __builtin_memset((void *)(p + i * ps), 0, (j - i) * ps);
            i = j;
        }
    }
}

#define UAREA_PORT_NAME "posix"
#define UAREA_PORT_CORES() uarea__posix_ncores
#define UAREA_PORT_CORE_ID() uarea__posix_core
#define UAREA_PORT_RESCHEDULE(core) uarea__posix_resched(core)
#define UAREA_PORT_IDLE(core) uarea__posix_idle(core)
#define UAREA_PORT_RELAX() ((void)sched_yield())
/* the master sleeps in its mailbox wait: the runtime kicks it out
 * (noc_shm_kick, through the hook the runtime sets in each node) */
#define UAREA_PORT_WAKE_MASTER() uarea__posix_wake_master()
#define UAREA_PORT_CRIT_ENTER() uarea__posix_crit_enter()
#define UAREA_PORT_CRIT_LEAVE(state) uarea__posix_crit_leave(state)
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() uarea__posix_now()
#define UAREA_PORT_LOG(level, msg) uarea__posix_log((level), (msg))
#define UAREA_PORT_REGION_BASE() uarea__posix_region
#define UAREA_PORT_REGION_SIZE() uarea__posix_region_size
/* userfaultfd write-protection of the region and the user section, when the
 * node could open its trackers (UAREA_ENOSYS otherwise) */
#define UAREA_PORT_WIPE(addr, len) uarea__posix_wipe((addr), (len))
#define UAREA_PORT_HAS_DIRTY 1
#define UAREA_PORT_DIRTY_BEGIN() \
    (uarea__posix_dirty_begin_fn != NULL ? uarea__posix_dirty_begin_fn() : UAREA_ENOSYS)
#define UAREA_PORT_DIRTY_COLLECT(mark, ctx) \
    (uarea__posix_dirty_collect_fn != NULL ? uarea__posix_dirty_collect_fn((mark), (ctx)) \
                                           : UAREA_ENOSYS)

#endif /* UAREA_POSIX_PORT_H */
