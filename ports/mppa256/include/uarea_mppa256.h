/*
 * uarea_mppa256.h - the MPPA-256 port: a compute cluster of the chip under
 * the Nanvix microkernel runs containers and moves them to other clusters.
 *
 * Include it first, in every translation unit of the cluster's kernel image
 * (it selects the port), and in one of them with UAREA_IMPLEMENTATION:
 *
 *   #define UAREA_IMPLEMENTATION
 *   #include <uarea_mppa256.h>
 *
 *   static void *app_main(void *arg) { ... migrate_to(9); ... }
 *
 *   void kmain_cluster(void)                  // core 0 of each compute cluster
 *   {
 *       uarea_mppa256_desc d = { 0 };
 *       d.user = user_sections; d.n_user = 1; // __USER_DATA_START..__USER_END
 *       d.binary_fp = fingerprint_of_this_image;
 *       if (knode_get_num() == 8) d.main = app_main;   // the cluster that starts it
 *       uarea_mppa256_cluster_main(&d);
 *   }
 *
 * What a cluster does (uarea_mppa256_cluster_main, on core 0):
 *  - the transport: include/noc/ over Nanvix's IKC (uarea_mppa256/noc_ikc.h);
 *  - the node's master (migrate/master.h): its daemon, the syscall boards
 *    behind migrate_to, the idle wait on the NoC;
 *  - cores 1..UAREA_MPPA256_USER_CORES (core_start) run the container's
 *    threads (uarea_core_run) while it is here, and wait for an event while
 *    it is not;
 *  - the container region is UAREA_PORT_REGION_BASE(), the same virtual
 *    address on every cluster (uarea_mppa256/port.h);
 *  - a container goes to compute clusters only: migrate_to an I/O node
 *    (0..7) fails at once with UAREA_ENODEKIND, a node beyond the chip with
 *    UAREA_EBADNODE; a compute cluster that does not answer ends the
 *    migration by the protocol's time-out, the container still running here.
 * The cluster's own memory (the budget, uarea_mppa256_budget()): the
 * container region, this runtime's state (the daemon with its image block,
 * the binding), both static: nothing is allocated.
 *
 * The k1b context switch is the one part not in the tree (see
 * uarea_mppa256/k1b.h and docs/porting.md). On a host, the chip model
 * (ports/mppa256/model/) supplies Nanvix's calls and the host CPU's switch.
 */
#ifndef UAREA_PORT_HEADER
#  define UAREA_PORT_HEADER <uarea_mppa256/port.h>
#endif
#include "uarea_mppa256/port.h"
#include <uarea/uarea.h>
#include <uarea/thread.h>
#include <noc/noc.h>
#include <migrate/migrate.h>
#include <migrate/node.h>
#include <migrate/syscall.h>
#include <migrate/master.h>
#include "uarea_mppa256/noc_ikc.h"

#ifndef UAREA_MPPA256_H
#define UAREA_MPPA256_H

UAREA_EXTERN_C_BEGIN

/* The portal transfer buffer of a cluster's daemon (its image block). */
#ifndef UAREA_MPPA256_BLOCK
#  define UAREA_MPPA256_BLOCK (64u * 1024u)
#endif
UAREA_STATIC_ASSERT(UAREA_MPPA256_BLOCK <= NOC_PORTAL_MAX_SIZE, "a block is one portal transfer");
UAREA_STATIC_ASSERT(UAREA_CONTAINER_SIZE <= UAREA_MPPA256_REGION_MAX,
                    "the container does not fit the cluster's user memory (UAREA_MPPA256_REGION_MAX): "
                    "fewer UAREA_HEAP_PAGES, UAREA_THREADS_MAX or UAREA_STACK_SIZE");

typedef struct uarea_mppa256_desc {
    const migrate_region *user;   /* the user sections that move (linker symbols) */
    uint32_t n_user;
    uint64_t binary_fp;           /* fingerprint of the cluster image */
    /* The program's thread 0, on the cluster that starts the container
     * (NULL on the others). */
    void *(*main)(void *arg);
    void *main_arg;
    int64_t timeout_ns;           /* the protocol's time-out, 0: 1 s */
    /* Optional: the container came in (its migration's statistics). */
    void (*on_arrival)(void *arg, const migrate_stats *st);
    /* Optional: the container's last thread ended on this cluster; its
     * memory is still there (read its results). */
    void (*on_end)(void *arg, struct uarea *ua);
    /* Optional: polled by the master; 0 ends the cluster (its master
     * returns). NULL: run for ever. */
    int (*keep_running)(void *arg);
    /* Optional: the daemon's trace hook (migrate_point), set before the
     * cluster takes or starts a container: every step of every migration
     * this cluster takes part in, on core 0. */
    void (*trace)(void *arg, migrate_point p, uint32_t mid, int peer, int phase);
    void *arg;
} uarea_mppa256_desc;

/* Run this cluster: on core 0, once. Returns when keep_running says so
 * (0), or an error of the set-up (the transport, the daemon, the
 * container). */
UAREA_API int uarea_mppa256_cluster_main(const uarea_mppa256_desc *d);

/* What a compute cluster's memory holds for uarea, in bytes. */
typedef struct uarea_mppa256_budget {
    size_t uarea;                 /* the UArea (scheduler state, page table, boards) */
    size_t stacks;                /* UAREA_THREADS_MAX stacks */
    size_t heap;                  /* the container heap */
    size_t region;                /* all three: the container region */
    size_t region_max;            /* the user memory it lives in (512 KiB) */
    size_t daemon;                /* the node's master: daemon, protocol, image state */
    size_t block;                 /* the daemon's image block */
    size_t transport;             /* the IKC binding's handles */
    size_t runtime;               /* the rest of this runtime's state */
    size_t total;                 /* everything above */
    size_t sram;                  /* a compute cluster's SRAM (2 MiB) */
} uarea_mppa256_budget;

UAREA_API void uarea_mppa256_budget_get(uarea_mppa256_budget *b);

/* A compute cluster (nodes 8..23) can hold a container; I/O nodes cannot. */
#define UAREA_MPPA256_IS_COMPUTE(node) \
    ((node) >= UAREA_MPPA256_FIRST_COMPUTE && (node) < UAREA_MPPA256_NODES)

UAREA_EXTERN_C_END

#endif /* UAREA_MPPA256_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA__MPPA256_IMPLEMENTED)
#define UAREA__MPPA256_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

/* A cluster's state: static, in the kernel's data. */
typedef struct uarea__mppa256_cluster {
    const uarea_mppa256_desc *desc;
    noc_transport t;
    migrate_config cfg;
    struct uarea *volatile active;         /* the container the cores run, NULL: none */
    volatile uint32_t in[UAREA_MPPA256_USER_CORES];    /* core i is in uarea_core_run */
    volatile uint32_t out[UAREA_MPPA256_USER_CORES];   /* core i has ended */
    volatile uint32_t stop;
    int ended;                             /* the container's program ended here */
} uarea__mppa256_cluster;

static uarea__mppa256_cluster uarea__mppa256_c;
static uarea_mppa256_noc uarea__mppa256_noc;
static migrate_master uarea__mppa256_m;
static unsigned char uarea__mppa256_block[UAREA_MPPA256_BLOCK];

UAREA_API void uarea_mppa256_budget_get(uarea_mppa256_budget *b)
{
    if (b == NULL) return;
    b->uarea = UAREA_UAREA_LEN;           /* the struct and its heap page table */
    b->stacks = (size_t)UAREA_THREADS_MAX * UAREA_STACK_SIZE;
    b->heap = UAREA_HEAP_BYTES;
    b->region = UAREA_CONTAINER_SIZE;
    b->region_max = UAREA_MPPA256_REGION_MAX;
    b->daemon = sizeof uarea__mppa256_m;
    b->block = sizeof uarea__mppa256_block;
    b->transport = sizeof uarea__mppa256_noc;
    b->runtime = sizeof uarea__mppa256_c;
    b->total = b->region + b->daemon + b->block + b->transport + b->runtime;
    b->sram = UAREA_MPPA256_CLUSTER_SRAM;
}

/* Cores 1..N: run the container while there is one, wait for an event
 * while there is none. `in` is raised before `active` is read again, and
 * the release waits for it to drop: no core enters a container that is
 * leaving. */
static void uarea__mppa256_core_main(void)
{
    uarea__mppa256_cluster *c = &uarea__mppa256_c;
    unsigned id = (unsigned)core_get_id() - 1u;
    while (!__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST)) {
        struct uarea *ua;
        __atomic_store_n(&c->in[id], 1u, __ATOMIC_SEQ_CST);
        ua = __atomic_load_n(&c->active, __ATOMIC_SEQ_CST);
        if (ua != NULL) (void)uarea_core_run(ua);
        __atomic_store_n(&c->in[id], 0u, __ATOMIC_SEQ_CST);
        /* none, released, or its threads all ended: until the master says */
        if (__atomic_load_n(&c->active, __ATOMIC_SEQ_CST) == ua &&
            !__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST))
            event_wait();
    }
    __atomic_store_n(&c->out[id], 1u, __ATOMIC_SEQ_CST);
}

static void uarea__mppa256_notify_cores(void)
{
    int i;
    for (i = 1; i <= UAREA_MPPA256_USER_CORES; i++) event_notify(i);
}

/* migrate_node_desc.on_activate: the cores run it now. */
static void uarea__mppa256_activate(void *arg, struct uarea *ua)
{
    uarea__mppa256_cluster *c = (uarea__mppa256_cluster *)arg;
    c->ended = 0;
    __atomic_store_n(&c->active, ua, __ATOMIC_SEQ_CST);
    uarea__mppa256_notify_cores();
}

/* migrate_node_desc.on_release: the container is released (uarea_release);
 * return once no core runs it. */
static void uarea__mppa256_release(void *arg, struct uarea *ua)
{
    uarea__mppa256_cluster *c = (uarea__mppa256_cluster *)arg;
    int i, busy;
    (void)ua;
    __atomic_store_n(&c->active, (struct uarea *)NULL, __ATOMIC_SEQ_CST);
    do {
        uarea__mppa256_notify_cores();
        busy = 0;
        for (i = 0; i < UAREA_MPPA256_USER_CORES; i++)
            busy |= (int)__atomic_load_n(&c->in[i], __ATOMIC_SEQ_CST);
    } while (busy);
}

static int uarea__mppa256_check_dst(void *arg, int dst)
{
    (void)arg;
    if (dst < 0 || dst >= UAREA_MPPA256_NODES) return UAREA_EBADNODE;
    return UAREA_MPPA256_IS_COMPUTE(dst) ? 0 : UAREA_ENODEKIND;
}

/* migrate_master_desc.tick: the end of the container's program, the end of
 * the cluster. */
static int uarea__mppa256_tick(void *arg)
{
    uarea__mppa256_cluster *c = (uarea__mppa256_cluster *)arg;
    const uarea_mppa256_desc *d = c->desc;
    struct uarea *ua = uarea__mppa256_m.node.ua;
    if (d->keep_running != NULL && !d->keep_running(d->arg)) return -1;
    if (!c->ended && migrate_node_present(&uarea__mppa256_m.node) &&
        !migrate_daemon_busy(&uarea__mppa256_m.node.d) && uarea_threads_active(ua) == 0) {
        /* its last thread ended here: the results, then the cores leave it
         * (the node keeps the ended container and takes in no other) */
        c->ended = 1;
        if (d->on_end != NULL) d->on_end(d->arg, ua);
        (void)uarea_release(ua);
        uarea__mppa256_release(c, ua);
        return 1;
    }
    return 0;
}

static void uarea__mppa256_arrival(void *arg, const migrate_stats *st)
{
    uarea__mppa256_cluster *c = (uarea__mppa256_cluster *)arg;
    if (c->desc->on_arrival != NULL) c->desc->on_arrival(c->desc->arg, st);
}

static void uarea__mppa256_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    uarea__mppa256_cluster *c = (uarea__mppa256_cluster *)arg;
    c->desc->trace(c->desc->arg, p, mid, peer, phase);
}

/* A new container running d->main as thread 0. */
static int uarea__mppa256_birth(uarea__mppa256_cluster *c)
{
    struct uarea *ua = NULL;
    uarea_tid_t t0;
    int rc = uarea_container_init(UAREA_PORT_REGION_BASE(), UAREA_PORT_REGION_SIZE(), &ua);
    if (rc == 0) rc = uarea_create(ua, &t0, c->desc->main, c->desc->main_arg);
    if (rc == 0) rc = migrate_node_adopt(&uarea__mppa256_m.node);
    if (rc == 0) uarea__mppa256_activate(c, ua);
    return rc;
}

UAREA_API int uarea_mppa256_cluster_main(const uarea_mppa256_desc *d)
{
    uarea__mppa256_cluster *c = &uarea__mppa256_c;
    migrate_master_desc md;
    int rc, i, started = 0;
    if (d == NULL || (d->user == NULL && d->n_user)) return UAREA_EINVAL;
    if (core_get_id() != 0) return UAREA_ESTATE;          /* the master core */
    UAREA_MEMSET(c, 0, sizeof *c);
    c->desc = d;
    rc = uarea_mppa256_noc_init(&uarea__mppa256_noc, &c->t, &uarea__mppa256_kick);
    if (rc < 0) return rc;
    if (!UAREA_MPPA256_IS_COMPUTE(uarea__mppa256_noc.self)) return UAREA_ENODEKIND;
    noc_set_default(&c->t);
    c->cfg.timeout_ns = d->timeout_ns > 0 ? d->timeout_ns : INT64_C(1000000000);
    UAREA_MEMSET(&md, 0, sizeof md);
    md.node.t = &c->t;
    md.node.region = NULL;                   /* the port's region */
    md.node.user = d->user;
    md.node.n_user = d->n_user;
    md.node.binary_fp = d->binary_fp;
    md.node.block = uarea__mppa256_block;
    md.node.block_size = sizeof uarea__mppa256_block;
    md.node.cfg = &c->cfg;
    md.node.on_activate = uarea__mppa256_activate;
    md.node.on_release = uarea__mppa256_release;
    md.node.check_dst = uarea__mppa256_check_dst;
    md.node.trace = d->trace != NULL ? uarea__mppa256_trace : NULL;
    md.node.arg = c;
    md.on_arrival = uarea__mppa256_arrival;
    md.tick = uarea__mppa256_tick;
    md.arg = c;
    rc = migrate_master_init(&uarea__mppa256_m, &md);
    if (rc < 0) {
        uarea_mppa256_noc_fini(&uarea__mppa256_noc);
        return rc;
    }
    for (i = 1; i <= UAREA_MPPA256_USER_CORES && rc == 0; i++) {
        rc = core_start(i, uarea__mppa256_core_main);
        if (rc == 0) started = i;
    }
    if (rc == 0 && d->main != NULL) rc = uarea__mppa256_birth(c);
    if (rc == 0) (void)migrate_master_run(&uarea__mppa256_m, INT64_C(1000000));
    /* the end: the cores leave (a container still here stays in memory) */
    if (c->active != NULL) {
        (void)uarea_release(c->active);
        uarea__mppa256_release(c, c->active);
    }
    __atomic_store_n(&c->stop, 1u, __ATOMIC_SEQ_CST);
    for (i = 1; i <= started; i++)
        while (!__atomic_load_n(&c->out[i - 1], __ATOMIC_SEQ_CST)) event_notify(i);
    (void)migrate_master_fini(&uarea__mppa256_m);
    uarea_mppa256_noc_fini(&uarea__mppa256_noc);
    return rc < 0 ? rc : 0;
}

UAREA_EXTERN_C_END

#endif /* UAREA_IMPLEMENTATION */
