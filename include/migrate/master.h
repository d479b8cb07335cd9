/*
 * migrate/master.h - a node's master: the loop that drives the node's
 * migration daemon (its migrate_node, migrate/node.h, whose state machine,
 * migrate_daemon, is in migrate/daemon.h) and answers its container's calls
 * (migrate/syscall.h). Every port whose containers migrate runs one master
 * per node, on the node's master thread (POSIX) or master core (MPPA-256),
 * and supplies only what uarea/port.h lists plus a noc_transport.
 *
 *   migrate_master m;
 *   migrate_master_desc d = { 0 };
 *   d.node.t = &transport;                  // this node's transport
 *   d.node.region = NULL;                   // NULL: UAREA_PORT_REGION_BASE()/SIZE()
 *   d.node.user = sections; d.node.n_user = 1;
 *   d.node.binary_fp = fp; d.node.block = buf; d.node.block_size = sizeof buf;
 *   d.node.on_activate = start_cores; d.node.on_release = stop_cores;
 *   d.node.arg = d.arg = me;
 *   d.precopy = 1;                          // with the port's dirty tracking
 *   migrate_master_init(&m, &d);
 *   ... the node that starts the program makes the container, then
 *   migrate_node_adopt(&m.node);
 *   migrate_master_run(&m, 1000000);        // until the port's tick says stop
 *   migrate_master_fini(&m);
 *
 * One turn (migrate_master_turn):
 *   1. step the daemon (messages, image blocks, time-outs);
 *   2. when the container has just come in: on_arrival with the migration's
 *      statistics;
 *   3. answer the boards: migrate_to calls (migrate_node_serve: start a
 *      migration, or the answer after an arrival or an abort), then the
 *      port's own calls (serve), while the container is here;
 *   4. the port's tick (its own periodic work; it may end the loop).
 * The turn says what the master should do next: turn again at once (it did
 * something), turn again soon (a migration waits on its peer: RELAX), or
 * nothing is going on: wait for a message (migrate_master_idle), which a
 * container thread's call cuts short through UAREA_PORT_WAKE_MASTER().
 *
 * Port items used here: UAREA_PORT_RELAX() between turns that wait on a peer,
 * UAREA_PORT_IDLE() when no message can come (every other node is gone),
 * UAREA_PORT_REGION_BASE()/SIZE() for the default region, and with
 * `precopy` the port's dirty tracking (UAREA_PORT_HAS_DIRTY,
 * UAREA_PORT_DIRTY_BEGIN(), UAREA_PORT_DIRTY_COLLECT(mark, ctx)).
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION).
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "../uarea/port.h"
#include "node.h"
#include "syscall.h"

#ifndef MIGRATE_MASTER_H
#define MIGRATE_MASTER_H

UAREA_EXTERN_C_BEGIN

/* What the master does after a turn. */
typedef enum migrate_turn {
    MIGRATE_TURN_IDLE = 0,  /* nothing going on: migrate_master_idle() */
    MIGRATE_TURN_AGAIN,     /* it did something: turn again now */
    MIGRATE_TURN_PEER,      /* a migration waits on its peer: relax, turn again */
    MIGRATE_TURN_STOP       /* the port's tick ended the loop */
} migrate_turn;

typedef struct migrate_master_desc {
    /* The node's daemon (migrate_node_desc). region NULL: the port's
     * UAREA_PORT_REGION_BASE()/SIZE(). With `precopy`, dirty_begin and
     * dirty_collect NULL: the port's UAREA_PORT_DIRTY_* (when
     * UAREA_PORT_HAS_DIRTY; without it the node has no pre-copy). */
    migrate_node_desc node;
    int precopy;            /* pre-copy with the port's dirty tracking */
    /* Optional: the container came in from another node (st: that
     * migration's statistics; by post-copy, once its last page is in). */
    void (*on_arrival)(void *arg, const migrate_stats *st);
    /* Optional: the port's own calls on the boards (numbers other than
     * MIGRATE_SYS_MIGRATE), while the container is here; `arrived` as for
     * migrate_node_serve. Returns > 0 when it did something. */
    int (*serve)(void *arg, struct uarea *ua, int arrived);
    /* Optional: 1 while the port has work of its own in flight (a
     * checkpoint being taken): the master does not sleep. */
    int (*busy)(void *arg);
    /* Optional: the port's periodic work, once per turn: > 0 it did
     * something, 0 nothing, < 0 the master stops (MIGRATE_TURN_STOP). */
    int (*tick)(void *arg);
    void *arg;
} migrate_master_desc;

typedef struct migrate_master {
    migrate_node node;      /* the node's daemon and container */
    migrate_master_desc desc;
    int self;               /* this node */
    int was_present;        /* the container was here after the last turn */
    unsigned long arrivals; /* containers that came in */
    int post_arrival;       /* one came in by post-copy: on_arrival when its
                               last page is in (not if the pages were lost) */
} migrate_master;

/* Set up the master and its node (migrate_node_init). UAREA_EINVAL for a bad
 * descriptor, UAREA_ENOMEM when the region is too small, transport errors. */
UAREA_API int migrate_master_init(migrate_master *m, const migrate_master_desc *desc);
/* One turn (see above): a migrate_turn, or UAREA_EINVAL. */
UAREA_API int migrate_master_turn(migrate_master *m);
/* Nothing going on: wait up to timeout_ns for a message (migrate_daemon_wait),
 * or, when none can come, UAREA_PORT_IDLE. 1: a message was handled. */
UAREA_API int migrate_master_idle(migrate_master *m, int64_t timeout_ns);
/* Turn until the port's tick stops the master, waiting at most idle_ns at a
 * time when nothing is going on. 0, or UAREA_EINVAL. */
UAREA_API int migrate_master_run(migrate_master *m, int64_t idle_ns);
UAREA_API int migrate_master_fini(migrate_master *m);

UAREA_EXTERN_C_END

#endif /* MIGRATE_MASTER_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__MASTER_IMPLEMENTED)
#define MIGRATE__MASTER_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#if UAREA_PORT_HAS_DIRTY
/* The port's dirty tracking as the node's hooks. */
static int migrate__master_dirty_begin(void *arg)
{
    (void)arg;
    return UAREA_PORT_DIRTY_BEGIN();
}

static int migrate__master_dirty_collect(void *arg, migrate_dirty_fn mark, void *ctx)
{
    (void)arg;
    return UAREA_PORT_DIRTY_COLLECT(mark, ctx);
}
#endif

UAREA_API int migrate_master_init(migrate_master *m, const migrate_master_desc *desc)
{
    migrate_node_desc nd;
    int rc;
    if (m == NULL || desc == NULL || desc->node.t == NULL) return UAREA_EINVAL;
    UAREA_MEMSET(m, 0, sizeof *m);
    m->desc = *desc;
    nd = desc->node;
    if (nd.region == NULL) {
        nd.region = UAREA_PORT_REGION_BASE();
        nd.region_size = UAREA_PORT_REGION_SIZE();
        if (nd.region == NULL) return UAREA_EINVAL;   /* the port has no region */
    }
    if (!desc->precopy) {
        nd.dirty_begin = NULL;
        nd.dirty_collect = NULL;
    }
#if UAREA_PORT_HAS_DIRTY
    else if (nd.dirty_begin == NULL && nd.dirty_collect == NULL) {
        nd.dirty_begin = migrate__master_dirty_begin;
        nd.dirty_collect = migrate__master_dirty_collect;
    }
#endif
    rc = noc_self(nd.t);
    if (rc < 0) return rc;
    m->self = rc;
    return migrate_node_init(&m->node, &nd);
}

UAREA_API int migrate_master_turn(migrate_master *m)
{
    const migrate_master_desc *d;
    migrate_stats st;
    int did, present, arrived = 0, rc;
    if (m == NULL) return UAREA_EINVAL;
    d = &m->desc;
    did = migrate_node_step(&m->node);
    if (did < 0) did = 0;
    present = migrate_node_present(&m->node);
    if (present && !m->was_present && migrate_node_postcopy(&m->node)) {
        /* it came in with pages still to come: it runs, its calls are
         * answered; the record waits for the last page */
        arrived = 1;
        m->arrivals++;
        m->post_arrival = 1;
    } else if (present && !m->was_present && migrate_daemon_last(&m->node.d, &st) == 0 &&
               st.dst == m->self) {
        /* it came in (a container made or restored here is no arrival) */
        arrived = 1;
        m->arrivals++;
        if (d->on_arrival != NULL) d->on_arrival(d->arg, &st);
    }
    if (m->post_arrival && !migrate_daemon_busy(&m->node.d)) {
        m->post_arrival = 0;
        if (migrate_daemon_last(&m->node.d, &st) == 0 && d->on_arrival != NULL)
            d->on_arrival(d->arg, &st);
    }
    m->was_present = present;
    if (migrate_node_serve(&m->node, arrived) > 0) did = 1;
    if (present && d->serve != NULL && d->serve(d->arg, m->node.ua, arrived) > 0) did = 1;
    if (d->tick != NULL) {
        rc = d->tick(d->arg);
        if (rc < 0) return MIGRATE_TURN_STOP;
        if (rc > 0) did = 1;
    }
    if (did) return MIGRATE_TURN_AGAIN;
    if (!migrate_daemon_quiet(&m->node.d) || (d->busy != NULL && d->busy(d->arg)))
        return MIGRATE_TURN_PEER;
    return MIGRATE_TURN_IDLE;
}

UAREA_API int migrate_master_idle(migrate_master *m, int64_t timeout_ns)
{
    int rc;
    if (m == NULL || timeout_ns < 0) return UAREA_EINVAL;
    rc = migrate_daemon_wait(&m->node.d, timeout_ns);
    if (rc < 0) {
        /* no message can come (every other node is gone): the wait did
         * not wait; the boards still need an eye now and then */
        UAREA_PORT_IDLE(UAREA_PORT_CORES());
        return 0;
    }
    return rc;
}

UAREA_API int migrate_master_run(migrate_master *m, int64_t idle_ns)
{
    if (m == NULL || idle_ns < 0) return UAREA_EINVAL;
    for (;;) {
        int t = migrate_master_turn(m);
        if (t == MIGRATE_TURN_STOP) return 0;
        if (t == MIGRATE_TURN_IDLE) (void)migrate_master_idle(m, idle_ns);
        else if (t == MIGRATE_TURN_PEER) UAREA_PORT_RELAX();
    }
}

UAREA_API int migrate_master_fini(migrate_master *m)
{
    if (m == NULL) return UAREA_EINVAL;
    return migrate_node_fini(&m->node);
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
