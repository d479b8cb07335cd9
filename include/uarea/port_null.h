/*
 * uarea/port_null.h - the null port: one core, no interrupts, no clock.
 *
 * It is both the port that single-core programs and tests use and the
 * template of a real port: copy it, keep every macro, bind each to your
 * machine, and name your header with UAREA_PORT_HEADER (see uarea/port.h).
 * Every item is a macro; a macro may expand to a call of a static inline
 * function of the port. uarea/port.h stops the build with #error when one is
 * missing.
 *
 * Identity
 *   UAREA_PORT_NAME                 a string naming the port (uarea_port_name())
 *
 * Cores
 *   UAREA_PORT_CORES()              cores that run user threads (1..UAREA_CORES_MAX)
 *   UAREA_PORT_CORE_ID()            the calling core, 0..UAREA_PORT_CORES()-1
 *                                   (the POSIX port: a thread-local of each core thread;
 *                                   on the MPPA-256: the core id minus one, core 0
 *                                   being the master);
 *                                   UAREA_PORT_CORES() or more for a thread that is no
 *                                   core (it is then an outside caller)
 *   UAREA_PORT_RESCHEDULE(core)     make `core` reach a scheduling point soon: an
 *                                   IPI, a signal, or nothing when cores poll; it also
 *                                   wakes a core that idles in UAREA_PORT_IDLE, even
 *                                   when it arrives just before the IDLE (event
 *                                   semantics)
 *   UAREA_PORT_IDLE(core)           the core has nothing to run: wait a little or until
 *                                   rescheduled (may return at once)
 *   UAREA_PORT_RELAX()              one step of a spin-wait (pause, yield, or nothing)
 *   UAREA_PORT_WAKE_MASTER()        a container thread posted a call on its board
 *                                   (migrate/syscall.h): make the node's master serve
 *                                   it soon (an event to the master core, a futex
 *                                   wake, or nothing when the master polls); needed
 *                                   only by ports that include migrate/syscall.h
 *
 * Critical section (against preemption of the calling core; the library adds
 * its own spin lock in the UArea for the other cores)
 *   UAREA_PORT_CRIT_ENTER()         disable local preemption, return the old state
 *                                   as a uintptr_t
 *   UAREA_PORT_CRIT_LEAVE(state)    restore it
 *   UAREA_PORT_CRIT_OPEN            the state "preemption enabled": a new thread
 *                                   starts with UAREA_PORT_CRIT_LEAVE(UAREA_PORT_CRIT_OPEN)
 *
 * Time and log
 *   UAREA_PORT_CLOCK_NS()           monotonic clock, nanoseconds (uint64_t; 0 if none)
 *   UAREA_PORT_LOG(level, msg)      level 0 error, 1 warning, 2 info; msg a string;
 *                                   runs on the calling thread's small stack: keep
 *                                   it shallow (no printf)
 *
 * Container memory
 *   UAREA_PORT_REGION_BASE()        fixed address of the container region (void *),
 *                                   the same on every node; NULL when the program
 *                                   hands its own buffer to uarea_container_init()
 *                                   and to migrate_master_init() (migrate/master.h
 *                                   takes this one when its descriptor names none)
 *   UAREA_PORT_REGION_SIZE()        its size in bytes (0 with NULL)
 *
 *   UAREA_PORT_WIPE(addr, len)      optional: zero [addr, addr + len) (the daemon wipes
 *                                   the region and user sections of a container that
 *                                   left or was refused); default memset. A port may
 *                                   skip memory it knows is zero (the POSIX port: pages
 *                                   the node never touched)
 *
 * Dirty-page tracking (optional: UAREA_PORT_HAS_DIRTY 0 means none; used by
 * migrate/master.h for pre-copy)
 *   UAREA_PORT_HAS_DIRTY            1 when the two hooks below work
 *   UAREA_PORT_DIRTY_BEGIN()        start a round over the container region and the
 *                                   user sections (write-protect them); 0 or an error
 *   UAREA_PORT_DIRTY_COLLECT(mark, ctx)
 *                                   end it: mark(ctx, addr, len) for every range
 *                                   written since (whole pages); 0 or an error
 *
 * The null port: one core (id 0), no preemption, IDLE returns at once, no
 * clock (0), no log, no fixed region, no dirty tracking.
 */
#ifndef UAREA_PORT_NULL_H
#define UAREA_PORT_NULL_H

#include "config.h"

#if !defined(UAREA_PORT_HEADER) && !defined(UAREA_PORT_NAME)
#define UAREA_PORT_NAME "null"
#define UAREA_PORT_CORES() 1u
#define UAREA_PORT_CORE_ID() 0u
#define UAREA_PORT_RESCHEDULE(core) ((void)(core))
#define UAREA_PORT_IDLE(core) ((void)(core))
#define UAREA_PORT_RELAX() ((void)0)
#define UAREA_PORT_WAKE_MASTER() ((void)0)
#define UAREA_PORT_CRIT_ENTER() ((uintptr_t)0)
#define UAREA_PORT_CRIT_LEAVE(state) ((void)(state))
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() ((uint64_t)0)
#define UAREA_PORT_LOG(level, msg) ((void)(level), (void)(msg))
#define UAREA_PORT_REGION_BASE() ((void *)0)
#define UAREA_PORT_REGION_SIZE() ((size_t)0)
#define UAREA_PORT_HAS_DIRTY 0
#endif

#endif /* UAREA_PORT_NULL_H */
