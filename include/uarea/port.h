/*
 * uarea/port.h - the port contract: what a machine supplies to the library.
 *
 * A port is one header of macros (see uarea/port_null.h, which lists and
 * documents every item and is the template for a new port). A program
 * selects its port at compile time, identically in every translation unit,
 * before the first uarea include:
 *
 *   #define UAREA_PORT_HEADER "my_port.h"     // or <uarea_posix/port.h>
 *   #include <uarea/thread.h>
 *
 * A port may also select itself: a <uarea_port.h> on the include path that
 * defines UAREA_PORT_HEADER is read by uarea/config.h before anything else
 * (UAREA_PORT_NULL skips it). Without either the null port (one core) is
 * used, so every header compiles on its own. This header includes the selected port and stops the
 * build with #error naming the first missing item. Full text of the contract:
 * docs/port-contract.md.
 */
#include "config.h"
#include "error.h"

#ifndef UAREA_PORT_H
#define UAREA_PORT_H

#if defined(UAREA_PORT_HEADER)
#  include UAREA_PORT_HEADER
#else
#  include "port_null.h"
#endif

#ifndef UAREA_PORT_NAME
#  error "uarea port: UAREA_PORT_NAME missing (see uarea/port_null.h)"
#endif
#ifndef UAREA_PORT_CORES
#  error "uarea port: UAREA_PORT_CORES() missing"
#endif
#ifndef UAREA_PORT_CORE_ID
#  error "uarea port: UAREA_PORT_CORE_ID() missing"
#endif
#ifndef UAREA_PORT_RESCHEDULE
#  error "uarea port: UAREA_PORT_RESCHEDULE(core) missing"
#endif
#ifndef UAREA_PORT_IDLE
#  error "uarea port: UAREA_PORT_IDLE(core) missing"
#endif
#ifndef UAREA_PORT_RELAX
#  error "uarea port: UAREA_PORT_RELAX() missing"
#endif
#ifndef UAREA_PORT_CRIT_ENTER
#  error "uarea port: UAREA_PORT_CRIT_ENTER() missing"
#endif
#ifndef UAREA_PORT_CRIT_LEAVE
#  error "uarea port: UAREA_PORT_CRIT_LEAVE(state) missing"
#endif
#ifndef UAREA_PORT_CRIT_OPEN
#  error "uarea port: UAREA_PORT_CRIT_OPEN missing"
#endif
#ifndef UAREA_PORT_CLOCK_NS
#  error "uarea port: UAREA_PORT_CLOCK_NS() missing"
#endif
#ifndef UAREA_PORT_LOG
#  error "uarea port: UAREA_PORT_LOG(level, msg) missing"
#endif
#ifndef UAREA_PORT_REGION_BASE
#  error "uarea port: UAREA_PORT_REGION_BASE() missing"
#endif
#ifndef UAREA_PORT_REGION_SIZE
#  error "uarea port: UAREA_PORT_REGION_SIZE() missing"
#endif
#ifndef UAREA_PORT_HAS_DIRTY
#  error "uarea port: UAREA_PORT_HAS_DIRTY missing (0 when the port has no dirty tracking)"
#endif
#if UAREA_PORT_HAS_DIRTY
#  ifndef UAREA_PORT_DIRTY_BEGIN
#    error "uarea port: UAREA_PORT_DIRTY_BEGIN() missing (UAREA_PORT_HAS_DIRTY is 1)"
#  endif
#  ifndef UAREA_PORT_DIRTY_COLLECT
#    error "uarea port: UAREA_PORT_DIRTY_COLLECT(mark, ctx) missing (UAREA_PORT_HAS_DIRTY is 1)"
#  endif
#endif

#endif /* UAREA_PORT_H */
