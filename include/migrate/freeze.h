/*
 * migrate/freeze.h - quiesce a container before it is written out, and let it
 * run again.
 *
 * Freezing sets the freeze flag in the UArea and asks every core to
 * reschedule (uarea_freeze()); each core parks at its next scheduling point.
 * The container is frozen when no user thread runs and no syscall board holds
 * a call in flight (uarea_frozen()). Then every byte of it — UArea, stacks,
 * heap, user sections — is still, and an image taken of it is consistent.
 * Unfreezing clears the flag; threads continue exactly where they stopped.
 *
 *   int rc = migrate_freeze(ua, 50 * 1000 * 1000);   // wait at most 50 ms
 *   if (rc == 0) { ... write the image ... ; migrate_unfreeze(ua); }
 *
 * or, without blocking (the migration daemon's way):
 *
 *   migrate_freeze_begin(ua);
 *   while (migrate_freeze_poll(ua) == UAREA_EAGAIN) do_other_work();
 *
 * Bounded time: a thread reaches a scheduling point when it yields, joins,
 * exits, or is preempted by a port that preempts (the POSIX port does, at
 * safe points). On a port without preemption, a thread that never yields
 * holds a freeze off; migrate_freeze() then gives up after its timeout, lets
 * the container run on, and returns UAREA_ETIMEDOUT.
 *
 * Idempotent: freezing a frozen container and unfreezing a running one do
 * nothing and return 0.
 *
 * Under AddressSanitizer, a parked thread's stack holds poisoned red zones of
 * the frames it left; once frozen, the stack pool is unpoisoned so that the
 * image writer may read every byte of it.
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION), with the
 * program's port selected (uarea/port.h).
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "../uarea/thread.h"

#ifndef MIGRATE_FREEZE_H
#define MIGRATE_FREEZE_H

UAREA_EXTERN_C_BEGIN

/* Ask the container to freeze. UAREA_EINVAL (NULL), UAREA_ESTATE (released). */
UAREA_API int migrate_freeze_begin(struct uarea *ua);
/* 0 once frozen, UAREA_EAGAIN until then, UAREA_ESTATE when no freeze was
 * asked for, UAREA_EINVAL for NULL. */
UAREA_API int migrate_freeze_poll(struct uarea *ua);
/* begin + poll until frozen or timeout_ns passed (port clock; 0: one poll).
 * On UAREA_ETIMEDOUT the container was unfrozen again. */
UAREA_API int migrate_freeze(struct uarea *ua, uint64_t timeout_ns);
/* Let it run again. UAREA_EINVAL for NULL. */
UAREA_API int migrate_unfreeze(struct uarea *ua);

UAREA_EXTERN_C_END

#endif /* MIGRATE_FREEZE_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__FREEZE_IMPLEMENTED)
#define MIGRATE__FREEZE_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

UAREA_API int migrate_freeze_begin(struct uarea *ua)
{
    if (ua == NULL) return UAREA_EINVAL;
    return uarea_freeze(ua);
}

UAREA_API int migrate_freeze_poll(struct uarea *ua)
{
    uint32_t f;
    if (ua == NULL) return UAREA_EINVAL;
    f = __atomic_load_n(&ua->freeze, __ATOMIC_ACQUIRE);
    if (f == UAREA_RELEASED) return UAREA_ESTATE;
    if (f != UAREA_FREEZE) return UAREA_ESTATE;
    if (!uarea_frozen(ua)) return UAREA_EAGAIN;
#ifdef UAREA__ASAN   /* uarea/config.h */
    __asan_unpoison_memory_region((unsigned char *)ua + UAREA_STACKS_OFFSET,
                                  (size_t)UAREA_THREADS_MAX * UAREA_STACK_STRIDE);
#endif
    return 0;
}

UAREA_API int migrate_freeze(struct uarea *ua, uint64_t timeout_ns)
{
    uint64_t start;
    int rc = migrate_freeze_begin(ua);
    if (rc < 0) return rc;
    start = UAREA_PORT_CLOCK_NS();
    for (;;) {
        rc = migrate_freeze_poll(ua);
        if (rc != UAREA_EAGAIN) return rc;
        if (UAREA_PORT_CLOCK_NS() - start >= timeout_ns) break;
        UAREA_PORT_RELAX();
    }
    (void)uarea_unfreeze(ua);
    return UAREA_ETIMEDOUT;
}

UAREA_API int migrate_unfreeze(struct uarea *ua)
{
    if (ua == NULL) return UAREA_EINVAL;
    return uarea_unfreeze(ua);
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
