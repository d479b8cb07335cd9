/*
 * uarea_posix/sleep.h - the sleeping and waiting calls of container threads,
 * for the POSIX runtime (uarea_posix.h includes it in its implementation; not
 * a header of its own).
 *
 * A container thread runs on a core thread that receives the preemption tick
 * (uarea_posix/preempt.h) every UAREA_POSIX_QUANTUM_NS. A tick interrupts a
 * blocking system call as any signal does, and the kernel restarts only some
 * of them (SA_RESTART): sleep(3) would return after 2 ms, usleep(3),
 * nanosleep(2) and poll(2) would fail with EINTR. So the program's own
 * definitions of these calls take libc's place (the executable's symbols
 * come first), and for a container thread:
 *
 *  - sleep, usleep, nanosleep and clock_nanosleep (CLOCK_REALTIME,
 *    CLOCK_MONOTONIC, CLOCK_BOOTTIME) sleep their whole time. The thread
 *    waits as an idle core would: other ready threads of the container run
 *    on its core meanwhile, and a freeze parks it at once (after a migration
 *    it sleeps on, with the time left: the clocks are the machine's). A
 *    sleep is not cut short by signals.
 *  - poll and select wait in slices of UAREA_POSIX_WAIT_SLICE_NS with the
 *    tick blocked, and yield between slices (so other threads run and a
 *    freeze parks the thread within a slice); they end when a descriptor is
 *    ready, the timeout passes, or a signal other than the tick comes
 *    (EINTR, as libc's). The descriptors are the node process's: they do not
 *    migrate with the container (docs/posix-port.md).
 *
 * Any other thread (the launcher's, a node's master, a program's own
 * pthreads) gets libc's calls: glibc's __nanosleep, __poll, __select, and
 * the clock_nanosleep system call (not a cancellation point here).
 * UAREA_POSIX_SLEEP_CALLS 0 leaves libc's calls alone (a program that defines
 * its own). Under UAREA_STATIC the definitions are weak, so that several
 * translation units may each carry the implementation.
 */
#ifndef UAREA__POSIX_SLEEP_H
#define UAREA__POSIX_SLEEP_H

#ifndef UAREA_POSIX_SLEEP_CALLS
#  define UAREA_POSIX_SLEEP_CALLS 1
#endif
#ifndef UAREA_POSIX_WAIT_SLICE_NS
#  define UAREA_POSIX_WAIT_SLICE_NS 10000000   /* poll/select slice of a container thread, ns */
#endif

#if UAREA_POSIX_SLEEP_CALLS

#include <poll.h>
#include <sys/select.h>

#ifdef UAREA_STATIC
#  define UAREA__POSIX_LIBC_CALL __attribute__((weak))
#else
#  define UAREA__POSIX_LIBC_CALL
#endif

/* glibc's own entry points (exported, and in libc.a) */
extern int __nanosleep(const struct timespec *req, struct timespec *rem);
extern int __poll(struct pollfd *fds, nfds_t nfds, int timeout);
extern int __select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);

/* 1 when the caller is a user thread of a container. */
static int uarea__posix_in_container(void)
{
    return uarea__core_id() < UAREA_CORES_MAX && uarea_current() != NULL &&
           uarea_thread_self() >= 0;
}

static uint64_t uarea__posix_clock_ns(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ts as nanoseconds, saturating; -1 for an invalid timespec. */
static int64_t uarea__posix_ts_ns(const struct timespec *ts)
{
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L) return -1;
    if ((uint64_t)ts->tv_sec >= (uint64_t)INT64_MAX / 1000000000u) return INT64_MAX;
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static uint64_t uarea__posix_add_sat(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* Nothing else is ready on this core: wait as the core's idle would, for a
 * reschedule (a thread became ready, a freeze) or at most `ns` (1 ms at most,
 * the idle bound of the port, which covers a wake-up that raced with the
 * idle mark). Inside the critical section: no tick yields here. */
static void uarea__posix_core_wait(uint64_t ns)
{
    uintptr_t crit = UAREA_PORT_CRIT_ENTER();
    unsigned id = uarea__core_id();
    struct timespec ts;
    uint32_t seen;
    if (ns > 1000000u) ns = 1000000u;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)ns;
    if (id < UAREA_CORES_MAX) {
        __atomic_store_n(&uarea__idle[id], 1u, __ATOMIC_RELAXED);
        __atomic_add_fetch(&uarea__idle_count, 1u, __ATOMIC_ACQ_REL);
    }
    seen = __atomic_load_n(&uarea__posix_kick, __ATOMIC_ACQUIRE);
    (void)syscall(SYS_futex, &uarea__posix_kick, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
    if (id < UAREA_CORES_MAX) {
        __atomic_sub_fetch(&uarea__idle_count, 1u, __ATOMIC_ACQ_REL);
        __atomic_store_n(&uarea__idle[id], 0u, __ATOMIC_RELAXED);
    }
    UAREA_PORT_CRIT_LEAVE(crit);
}

/* A container thread sleeps until `deadline` on clock `clk`. */
static void uarea__posix_sleep_until(clockid_t clk, uint64_t deadline)
{
    for (;;) {
        uint64_t now = uarea__posix_clock_ns(clk);
        if (now >= deadline) return;
        if ((uarea__yield_body() >> 32) != 0) continue;    /* another thread ran */
        now = uarea__posix_clock_ns(clk);
        if (now >= deadline) return;
        uarea__posix_core_wait(deadline - now);
    }
}

UAREA__POSIX_LIBC_CALL int nanosleep(const struct timespec *req, struct timespec *rem)
{
    int64_t ns;
    if (!uarea__posix_in_container()) return __nanosleep(req, rem);
    if (req == NULL || (ns = uarea__posix_ts_ns(req)) < 0) {
        uarea__posix_errno_setp(req == NULL ? EFAULT : EINVAL);
        return -1;
    }
    uarea__posix_sleep_until(CLOCK_MONOTONIC,
                             uarea__posix_add_sat(uarea__posix_clock_ns(CLOCK_MONOTONIC), (uint64_t)ns));
    return 0;
}

UAREA__POSIX_LIBC_CALL int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                                           struct timespec *rem)
{
    int64_t ns;
    if (!uarea__posix_in_container() ||
        (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME)) {
        /* the call's own result: 0 or an error number, not -1 */
        if (syscall(SYS_clock_nanosleep, clk, flags, req, rem) == 0) return 0;
        return uarea__posix_errno_getp();
    }
    if (req == NULL) return EFAULT;
    if ((ns = uarea__posix_ts_ns(req)) < 0) return EINVAL;
    uarea__posix_sleep_until(clk, (flags & TIMER_ABSTIME)
                                      ? (uint64_t)ns
                                      : uarea__posix_add_sat(uarea__posix_clock_ns(clk), (uint64_t)ns));
    return 0;
}

UAREA__POSIX_LIBC_CALL int usleep(useconds_t us)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000;
    return nanosleep(&ts, NULL);
}

UAREA__POSIX_LIBC_CALL unsigned int sleep(unsigned int seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = 0;
    if (nanosleep(&ts, &ts) < 0) return (unsigned int)ts.tv_sec;   /* interrupted: what is left */
    return 0;
}

/* The preemption tick, blocked or let through on the calling core thread. */
static void uarea__posix_tick_mask(int how, sigset_t *old)
{
    sigset_t tick;
    sigemptyset(&tick);
    sigaddset(&tick, UAREA_POSIX_PREEMPT_SIG);
    (void)pthread_sigmask(how, how == SIG_SETMASK ? old : &tick, how == SIG_SETMASK ? NULL : old);
}

/* One slice of a container thread's wait: the timeout (ns, UINT64_MAX:
 * none) left after `now`, cut to a slice. */
static struct timespec uarea__posix_slice(uint64_t deadline, uint64_t now, int *last)
{
    struct timespec ts;
    uint64_t left = deadline == UINT64_MAX ? UINT64_MAX : (deadline > now ? deadline - now : 0);
    *last = left <= (uint64_t)UAREA_POSIX_WAIT_SLICE_NS;
    if (!*last) left = (uint64_t)UAREA_POSIX_WAIT_SLICE_NS;
    ts.tv_sec = (time_t)(left / 1000000000u);
    ts.tv_nsec = (long)(left % 1000000000u);
    return ts;
}

UAREA__POSIX_LIBC_CALL int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    uint64_t deadline;
    if (!uarea__posix_in_container()) return __poll(fds, nfds, timeout);
    deadline = timeout < 0 ? UINT64_MAX
                           : uarea__posix_clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout * 1000000u;
    for (;;) {
        sigset_t old;
        int last, err;
        long r;
        struct timespec ts = uarea__posix_slice(deadline, uarea__posix_clock_ns(CLOCK_MONOTONIC), &last);
        uarea__posix_tick_mask(SIG_BLOCK, &old);
        r = syscall(SYS_ppoll, fds, nfds, &ts, NULL, (size_t)8);
        err = errno;
        uarea__posix_tick_mask(SIG_SETMASK, &old);
        if (r != 0 || last) {
            if (r < 0) uarea__posix_errno_setp(err);
            return (int)r;
        }
        (void)uarea__yield_body();
    }
}

UAREA__POSIX_LIBC_CALL int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    fd_set r0, w0, e0;
    uint64_t deadline;
    if (!uarea__posix_in_container()) return __select(nfds, rd, wr, ex, tv);
    if (tv != NULL && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
        uarea__posix_errno_setp(EINVAL);
        return -1;
    }
    deadline = tv == NULL ? UINT64_MAX
                          : uarea__posix_clock_ns(CLOCK_MONOTONIC) + (uint64_t)tv->tv_sec * 1000000000u +
                                (uint64_t)tv->tv_usec * 1000u;
    if (rd) r0 = *rd;
    if (wr) w0 = *wr;
    if (ex) e0 = *ex;
    for (;;) {
        sigset_t old;
        int last, err;
        long r;
        uint64_t now = uarea__posix_clock_ns(CLOCK_MONOTONIC);
        struct timespec ts = uarea__posix_slice(deadline, now, &last);
        if (rd) *rd = r0;
        if (wr) *wr = w0;
        if (ex) *ex = e0;
        uarea__posix_tick_mask(SIG_BLOCK, &old);
        r = syscall(SYS_pselect6, nfds, rd, wr, ex, &ts, NULL);
        err = errno;
        uarea__posix_tick_mask(SIG_SETMASK, &old);
        if (r != 0 || last) {
            if (tv != NULL) {   /* Linux's select leaves the time not slept */
                uint64_t t = uarea__posix_clock_ns(CLOCK_MONOTONIC), left = deadline > t ? deadline - t : 0;
                tv->tv_sec = (time_t)(left / 1000000000u);
                tv->tv_usec = (suseconds_t)(left % 1000000000u / 1000u);
            }
            if (r < 0) uarea__posix_errno_setp(err);
            return (int)r;
        }
        (void)uarea__yield_body();
    }
}

#endif /* UAREA_POSIX_SLEEP_CALLS */

#endif /* UAREA__POSIX_SLEEP_H */
