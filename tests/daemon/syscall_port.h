/* The null port, with the master a hook: test_syscall.c has one thread of
 * control, so a container thread waiting for its call gives the master its
 * turn where a real port's master would run beside it (a spin-wait step, an
 * idle core, and the wake after posting). */
#ifndef TESTS_DAEMON_SYSCALL_PORT_H
#define TESTS_DAEMON_SYSCALL_PORT_H
#include <stdint.h>
#include <stddef.h>
void syscall_test_master(void);
#define UAREA_PORT_NAME "syscall-test"
#define UAREA_PORT_CORES() 1u
#define UAREA_PORT_CORE_ID() 0u
#define UAREA_PORT_RESCHEDULE(core) ((void)(core))
#define UAREA_PORT_IDLE(core) ((void)(core), syscall_test_master())
#define UAREA_PORT_RELAX() syscall_test_master()
#define UAREA_PORT_WAKE_MASTER() syscall_test_master()
#define UAREA_PORT_CRIT_ENTER() ((uintptr_t)0)
#define UAREA_PORT_CRIT_LEAVE(state) ((void)(state))
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() ((uint64_t)0)
#define UAREA_PORT_LOG(level, msg) ((void)(level), (void)(msg))
#define UAREA_PORT_REGION_BASE() ((void *)0)
#define UAREA_PORT_REGION_SIZE() ((size_t)0)
#define UAREA_PORT_HAS_DIRTY 0
#endif
