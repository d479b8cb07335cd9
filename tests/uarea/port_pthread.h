/*
 * A test port for uarea: K POSIX threads play the cores of one node.
 *
 * Select it before the first uarea include:
 *     #define UAREA_PORT_HEADER "port_pthread.h"
 * then start the cores with uarea_test_run_cores() (tests/uarea/mc_util.h).
 * A thread that is not a core (the test's main thread) has core id
 * UINT_MAX, so the library treats it as an outside caller.
 *
 * Cores poll: RESCHEDULE does nothing, IDLE and RELAX yield the CPU (the
 * test machine may have fewer CPUs than cores). No preemption, so the
 * critical section is empty.
 */
#ifndef UAREA_TEST_PORT_PTHREAD_H
#define UAREA_TEST_PORT_PTHREAD_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static _Thread_local unsigned uarea_test_core_id = UINT_MAX;
static unsigned uarea_test_ncores = 1;

static inline uint64_t uarea_test_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define UAREA_PORT_NAME "pthread-test"
#define UAREA_PORT_CORES() uarea_test_ncores
#define UAREA_PORT_CORE_ID() uarea_test_core_id
#define UAREA_PORT_RESCHEDULE(core) ((void)(core))
#define UAREA_PORT_IDLE(core) ((void)(core), (void)sched_yield())
#define UAREA_PORT_RELAX() ((void)sched_yield())
#define UAREA_PORT_CRIT_ENTER() ((uintptr_t)0)
#define UAREA_PORT_CRIT_LEAVE(state) ((void)(state))
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() uarea_test_clock_ns()
/* The log hook runs on the calling thread's stack (8 KiB by default): stdio
 * may need more than that (glibc's unbuffered stderr formats through an 8 KiB
 * stack buffer), so the message goes out with one write(2). */
static inline void uarea_test_log(int level, const char *msg)
{
    char line[160];
    size_t n = 0;
    const char *tag = level == 0 ? "[uarea error] " : "[uarea] ";
    while (*tag && n < sizeof line - 2) line[n++] = *tag++;
    while (*msg && n < sizeof line - 2) line[n++] = *msg++;
    line[n++] = '\n';
    (void)!write(2, line, n);
}
#define UAREA_PORT_LOG(level, msg) uarea_test_log((level), (msg))
#define UAREA_PORT_REGION_BASE() ((void *)0)
#define UAREA_PORT_REGION_SIZE() ((size_t)0)
#define UAREA_PORT_HAS_DIRTY 0

#endif
