/*
 * migrate/syscall.h - migrate_to as a system call: a container thread posts
 * it on its core's board in the UArea, the node's master serves it with the
 * node's daemon (migrate/node.h), and the thread waits for the outcome at
 * scheduling points. Every port whose containers migrate uses it; the port
 * supplies the items of uarea/port.h plus UAREA_PORT_WAKE_MASTER().
 *
 * Container side (a thread of the container):
 *   migrate_to(node), kmigrate_to(node)     the app-facing call (migrate/migrate.h)
 *   migrate_syscall(number, arg)            any call the port serves itself
 *
 *   1. uarea_call_post: inside the port's critical section and the UArea
 *      lock, take the calling core's board (UAREA_EBUSY when a call is in
 *      flight there), write the number and argument, set ret to
 *      UAREA_EAGAIN and raise pending;
 *   2. wake the master (UAREA_PORT_WAKE_MASTER());
 *   3. wait off the core until ret is not UAREA_EAGAIN (uarea_call_wait:
 *      the core runs other threads or idles, a freeze finds the thread
 *      parked; the master's uarea_call_answer makes it ready), then free
 *      the board.
 * The board is in the UArea: a call outlives a migration or a checkpoint,
 * and the master of the node where the container is when the call ends
 * answers it.
 *
 * Master side (the node's master, between migrate_node_step() calls):
 *   migrate_node_serve(n, arrived)
 *   - takes every posted MIGRATE_SYS_MIGRATE call: starts the migration
 *     (migrate_daemon_start), or answers at once with its error (UAREA_EBUSY
 *     while the node holds the container, migrate_node_hold; the port's
 *     migrate_node_desc.check_dst refusing the destination, through the
 *     daemon);
 *   - answers a call it took when the migration ended here (the container is
 *     back after an abort: the daemon's result), and every waiting call
 *     when the container has just arrived (`arrived`: 0, the call returns on
 *     the destination).
 *   Other numbers are the port's (a checkpoint, say): it serves them itself,
 *   on the same boards. Returns how many boards it answered or took.
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION). A port
 * that includes this header gets migrate_to and kmigrate_to from it.
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "node.h"
#include "migrate.h"

#ifndef MIGRATE_SYSCALL_H
#define MIGRATE_SYSCALL_H

UAREA_EXTERN_C_BEGIN

#define MIGRATE_SYS_MIGRATE 0x4d494752u   /* "MIGR": migrate_to(args[0]: the node,
                                             and above bit 24 migrate_to_mode's
                                             mode + 1) */

/* A call from a container thread: the master's answer, UAREA_ENOTUSER
 * outside a container thread, UAREA_EBUSY when a call is in flight on this
 * core's board. `number` is not 0. */
UAREA_API int migrate_syscall(uint32_t number, uintptr_t arg);

/* The master's service of the migrate_to calls (see above). */
UAREA_API int migrate_node_serve(migrate_node *n, int arrived);

UAREA_EXTERN_C_END

#endif /* MIGRATE_SYSCALL_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__SYSCALL_IMPLEMENTED)
#define MIGRATE__SYSCALL_IMPLEMENTED

#ifndef UAREA_PORT_WAKE_MASTER
#  error "uarea port: UAREA_PORT_WAKE_MASTER() missing (migrate/syscall.h: how a container thread's call wakes its node's master; ((void)0) when the master polls)"
#endif

UAREA_EXTERN_C_BEGIN

UAREA_API int migrate_syscall(uint32_t number, uintptr_t arg)
{
    struct uarea_board *b;
    intptr_t ret;
    int err = 0;
    if (number == 0) return UAREA_EINVAL;
    if (uarea_current() == NULL) return UAREA_ENOTUSER;
    /* posted under the UArea lock: a master settling the calls that came
     * with an arriving container never takes this one, half posted, for
     * one of them (uarea_call_settle) */
    b = uarea_call_post(number, arg, &err);
    if (b == NULL) return err;
    UAREA_PORT_WAKE_MASTER();
    /* off the core until the master answers (uarea_call_answer) */
    ret = uarea_call_wait(b);
    __atomic_store_n(&b->number, 0u, __ATOMIC_RELEASE);
    return (int)ret;
}

/* The app-facing names are extern whatever UAREA_STATIC says; under it,
 * several translation units may each carry the implementation: weak. */
#ifdef UAREA_STATIC
#  define MIGRATE__APP_CALL __attribute__((weak))
#else
#  define MIGRATE__APP_CALL
#endif

MIGRATE__APP_CALL int migrate_to(int node)
{
    /* bits 24 and up of the board's argument carry migrate_to_mode's mode */
    if (node >= (1 << 24)) return UAREA_EBADNODE;
    return migrate_syscall(MIGRATE_SYS_MIGRATE, (uintptr_t)(intptr_t)node);
}

MIGRATE__APP_CALL int kmigrate_to(int node) { return migrate_to(node); }

UAREA_STATIC_ASSERT(MIGRATE_TO_STOP_COPY == MIGRATE_MODE_STOP_COPY &&
                    MIGRATE_TO_PRECOPY == MIGRATE_MODE_PRECOPY &&
                    MIGRATE_TO_POSTCOPY == MIGRATE_MODE_POSTCOPY &&
                    MIGRATE_TO_PRE_POST == MIGRATE_MODE_PRE_POST,
                    "migrate_to_mode's ways are migrate_mode's values");

/* The board's argument: the node in the low 24 bits, the mode + 1 above
 * (0: the node's setting); a negative node goes as it is (refused). */
MIGRATE__APP_CALL int migrate_to_mode(int node, int mode)
{
    if (mode < MIGRATE_TO_DEFAULT || mode > MIGRATE_TO_PRE_POST) return UAREA_EINVAL;
    if (node < 0 || node >= (1 << 24) || mode == MIGRATE_TO_DEFAULT) return migrate_to(node);
    return migrate_syscall(MIGRATE_SYS_MIGRATE,
                           (uintptr_t)node | ((uintptr_t)(mode + 1) << 24));
}

UAREA_API int migrate_node_serve(migrate_node *n, int arrived)
{
    struct uarea *ua;
    unsigned c;
    int did = 0;
    if (n == NULL) return UAREA_EINVAL;
    ua = n->ua;
    if (!migrate_node_present(n) || ua == NULL) {
        UAREA_MEMSET(n->calls, 0, sizeof n->calls);   /* the calls left with it */
        return 0;
    }
    for (c = 0; c < UAREA_CORES_MAX; c++) {
        struct uarea_board *b = &ua->board[c];
        if (__atomic_load_n(&b->number, __ATOMIC_ACQUIRE) != MIGRATE_SYS_MIGRATE) continue;
        if (__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE)) {
            int rc;
            /* post-copy pages still coming: the call waits until they are in */
            if (migrate_node_postcopy(n)) continue;
            __atomic_store_n(&b->pending, 0u, __ATOMIC_RELEASE);   /* taken */
            intptr_t arg = (intptr_t)b->args[0];
            int node = arg < 0 ? (int)arg : (int)(arg & 0xffffff);
            int mode = arg < 0 ? -1 : (int)(arg >> 24) - 1;
            rc = n->held ? UAREA_EBUSY : migrate_daemon_start_mode(&n->d, node, mode);
            if (rc < 0) (void)uarea_call_answer(ua, b, (intptr_t)rc);
            else n->calls[c] = 1;
            did++;
        } else if ((arrived || n->calls[c]) &&
                   __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN &&
                   (!migrate_daemon_busy(&n->d) || (arrived && migrate_node_postcopy(n)))) {
            /* the migration ended: here after an arrival, or back home. A
             * call being posted (ret set, pending not yet) is neither: it
             * must not take the last migration's result for its own. */
            int rc = arrived ? 0 : migrate_daemon_last(&n->d, NULL);
            if (rc == UAREA_EAGAIN) rc = UAREA_EABORTED;
            if (n->calls[c]) {
                n->calls[c] = 0;
                (void)uarea_call_answer(ua, b, (intptr_t)rc);
                did++;
            } else if (uarea_call_settle(ua, b, MIGRATE_SYS_MIGRATE, (intptr_t)rc) > 0) {
                did++;   /* a call that came with the container (not one being posted) */
            }
        }
    }
    return did;
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
