/*
 * uarea_mppa256/port.h - the port contract (uarea/port.h) on a compute
 * cluster of the MPPA-256 under the Nanvix microkernel.
 *
 * Select it before the first uarea include, in every translation unit:
 *   #define UAREA_PORT_HEADER <uarea_mppa256/port.h>
 * (or include <uarea_mppa256.h> first, which does it).
 *
 * A compute cluster has 16 cores. Core 0 is the master: it runs the kernel
 * and the node's master loop (migrate/master.h); cores 1..UAREA_MPPA256_USER_CORES
 * run the container's threads. Every item is bound to a Nanvix call
 * (uarea_mppa256/nanvix.h):
 *   cores       UAREA_PORT_CORE_ID() is core_get_id() - 1; the master (core 0)
 *               is no core of the container (UINT_MAX)
 *   reschedule  event_notify() to the core (the event is kept when it comes
 *               before the wait: no lost wake-up)
 *   idle        a user core: event_wait(); the master: a bounded spin on
 *               clock_read() (it polls the NoC)
 *   relax       nothing (each core is a real core)
 *   wake master a flag the NoC binding's mailbox wait checks (the master
 *               polls)
 *   critical    interrupts_disable()/enable() with a per-core depth
 *   clock       clock_read() at 400 MHz, in nanoseconds
 *   log         kprintf()
 *   region      UAREA_MPPA256_REGION_ADDR, the same virtual address on every
 *               cluster: Nanvix's user memory (512 KiB at 0x80000000), which
 *               the container fills (UAREA_HEAP_PAGES 88 by default here)
 *   dirty       none: no pre-copy on the chip (Nanvix's k1b MMU has no
 *               write-protect fault handling the port could use)
 */
#ifndef UAREA_MPPA256_PORT_H
#define UAREA_MPPA256_PORT_H

#ifndef UAREA_PORT_HEADER
#  define UAREA_PORT_HEADER <uarea_mppa256/port.h>
#endif

#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include "nanvix.h"

/* Transport sizes of the IKC binding (uarea_mppa256/noc_ikc.h): the binding
 * keeps 8 bytes of each 128-byte IKC message for its own header. Defined
 * here, before noc/noc.h, so every translation unit agrees. */
#ifndef NOC_MAILBOX_MSG_SIZE
#  define NOC_MAILBOX_MSG_SIZE 120u
#endif
#ifndef NOC_NODES_MAX
#  define NOC_NODES_MAX UAREA_MPPA256_NODES
#endif

/* The container fills Nanvix's user memory of a compute cluster (512 KiB at
 * 0x80000000, which this port makes the container region): 18 stacks of
 * 8 KiB, the UArea and 88 heap pages (352 KiB: the papers' workload,
 * 355,856 bytes in all, fits). Defined before uarea/uarea.h lays the
 * container out, whatever order a translation unit includes the headers in. */
#ifndef UAREA_HEAP_PAGES
#  define UAREA_HEAP_PAGES 88u
#endif

/* Cores 1..UAREA_MPPA256_USER_CORES run container threads. */
#ifndef UAREA_MPPA256_USER_CORES
#  define UAREA_MPPA256_USER_CORES (UAREA_MPPA256_CORES - 1)
#endif
#if UAREA_MPPA256_USER_CORES < 1 || UAREA_MPPA256_USER_CORES > UAREA_MPPA256_CORES - 1
#  error "uarea mppa256: UAREA_MPPA256_USER_CORES must be 1..15 (core 0 is the master)"
#endif

/* The container region: same virtual address on every cluster, at most
 * UAREA_MPPA256_REGION_MAX bytes (uarea_mppa256.h checks the layout). */
#ifndef UAREA_MPPA256_REGION_ADDR
#  define UAREA_MPPA256_REGION_ADDR ((uintptr_t)UAREA_MPPA256_USER_BASE)
#endif
#ifndef UAREA_MPPA256_REGION_MAX
#  define UAREA_MPPA256_REGION_MAX UAREA_MPPA256_USER_SIZE
#endif

/* Cluster-local state (each cluster has its own memory). Defined in the
 * translation unit with the implementation, declared elsewhere. */
#define UAREA__MPPA256_STATE static __attribute__((unused))
UAREA__MPPA256_STATE volatile unsigned uarea__mppa256_depth[UAREA_MPPA256_CORES];
UAREA__MPPA256_STATE volatile uint32_t uarea__mppa256_kick;  /* UAREA_PORT_WAKE_MASTER */

static inline unsigned uarea__mppa256_core_id(void)
{
    int c = core_get_id();
    return c >= 1 && c <= UAREA_MPPA256_USER_CORES ? (unsigned)(c - 1) : UINT_MAX;
}

static inline uint64_t uarea__mppa256_ns(void)
{
    /* 400 MHz: 2.5 ns per cycle */
    return clock_read() * 5u / 2u;
}

static inline void uarea__mppa256_idle(unsigned core)
{
    if (core < UAREA_MPPA256_USER_CORES) {
        event_wait();
    } else {
        uint64_t end = clock_read() + UAREA_MPPA256_CLOCK_HZ / 10000u;   /* 100 us */
        while (clock_read() < end && !__atomic_load_n(&uarea__mppa256_kick, __ATOMIC_ACQUIRE)) {
        }
    }
}

/* The master polls the NoC (it never waits for an event): a flag its
 * mailbox wait and its idle spin look at. */
static inline void uarea__mppa256_wake_master(void)
{
    __atomic_store_n(&uarea__mppa256_kick, 1u, __ATOMIC_RELEASE);
}

/* The state: the core's depth before the call; interrupts go off on the
 * way in from depth 0 and back on when a leave restores depth 0. */
static inline uintptr_t uarea__mppa256_crit_enter(void)
{
    int c = core_get_id();
    unsigned d;
    if (c < 0 || c >= UAREA_MPPA256_CORES) return 0;
    d = uarea__mppa256_depth[c];
    if (d == 0) interrupts_disable();
    uarea__mppa256_depth[c] = d + 1;
    return (uintptr_t)d;
}

static inline void uarea__mppa256_crit_leave(uintptr_t state)
{
    int c = core_get_id();
    if (c < 0 || c >= UAREA_MPPA256_CORES) return;
    uarea__mppa256_depth[c] = (unsigned)state;
    if (state == 0) interrupts_enable();
}

#define UAREA_PORT_NAME "mppa256"
#define UAREA_PORT_CORES() ((unsigned)UAREA_MPPA256_USER_CORES)
#define UAREA_PORT_CORE_ID() uarea__mppa256_core_id()
#define UAREA_PORT_RESCHEDULE(core) event_notify((int)(core) + 1)
#define UAREA_PORT_IDLE(core) uarea__mppa256_idle(core)
#define UAREA_PORT_RELAX() ((void)0)
#define UAREA_PORT_WAKE_MASTER() uarea__mppa256_wake_master()
#define UAREA_PORT_CRIT_ENTER() uarea__mppa256_crit_enter()
#define UAREA_PORT_CRIT_LEAVE(state) uarea__mppa256_crit_leave(state)
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() uarea__mppa256_ns()
#define UAREA_PORT_LOG(level, msg) kprintf("uarea[%d]: %s", (int)(level), (msg))
#define UAREA_PORT_REGION_BASE() ((void *)UAREA_MPPA256_REGION_ADDR)
#define UAREA_PORT_REGION_SIZE() ((size_t)UAREA_CONTAINER_SIZE)
#define UAREA_PORT_HAS_DIRTY 0

/* The CPU: the k1b context switch is the one item this port cannot carry
 * (see uarea_mppa256/k1b.h). */
#if defined(__k1__) || defined(__k1b__) || defined(__K1__)
#  include "k1b.h"
#endif

#endif /* UAREA_MPPA256_PORT_H */
