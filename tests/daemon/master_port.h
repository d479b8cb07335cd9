/* The port of test_master.c: one core, a fixed region, and dirty-tracking
 * hooks that count their calls (UAREA_PORT_HAS_DIRTY 1). */
#ifndef TESTS_DAEMON_MASTER_PORT_H
#define TESTS_DAEMON_MASTER_PORT_H
#include <stdint.h>
#include <stddef.h>
extern unsigned char master_test_region[];
extern size_t master_test_region_size;
extern int master_test_dirty_begins, master_test_dirty_collects, master_test_idles;
void master_test_relax(void);
int master_test_dirty_begin(void);
int master_test_dirty_collect(void (*mark)(void *, uintptr_t, size_t), void *ctx);
#define UAREA_PORT_NAME "master-test"
#define UAREA_PORT_CORES() 1u
#define UAREA_PORT_CORE_ID() 0u
#define UAREA_PORT_RESCHEDULE(core) ((void)(core))
/* one thread of control: a waiting call (a spin step, an idle core) gives
 * the master its turn */
#define UAREA_PORT_IDLE(core) ((void)(core), (void)master_test_idles++, master_test_relax())
#define UAREA_PORT_RELAX() master_test_relax()
#define UAREA_PORT_WAKE_MASTER() ((void)0)
#define UAREA_PORT_CRIT_ENTER() ((uintptr_t)0)
#define UAREA_PORT_CRIT_LEAVE(state) ((void)(state))
#define UAREA_PORT_CRIT_OPEN ((uintptr_t)0)
#define UAREA_PORT_CLOCK_NS() ((uint64_t)0)
#define UAREA_PORT_LOG(level, msg) ((void)(level), (void)(msg))
#define UAREA_PORT_REGION_BASE() ((void *)master_test_region)
#define UAREA_PORT_REGION_SIZE() master_test_region_size
#define UAREA_PORT_HAS_DIRTY 1
#define UAREA_PORT_DIRTY_BEGIN() master_test_dirty_begin()
#define UAREA_PORT_DIRTY_COLLECT(mark, ctx) master_test_dirty_collect((mark), (ctx))
#endif
