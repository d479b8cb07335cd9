/*
 * migrate/node.h - a node: its container and the migration daemon that
 * moves it; the protocol of migrate/daemon.h, the image of migrate/image.h
 * and the UArea of uarea/uarea.h, joined.
 *
 * Defines `migrate_node` (a node's container and the daemon that moves it),
 * migrate_describe(), migrate_checkpoint() and migrate_restore(). The
 * protocol's state machine itself, `migrate_daemon` (the field
 * migrate_node.d), is defined in migrate/daemon.h.
 *
 * A node has one container region, at the same address on every node of the
 * build (the port reserves it), and at most one container in it at a time.
 * Its daemon moves that container to another node, or takes one in:
 *
 *   migrate_node node;
 *   migrate_node_desc desc = { 0 };
 *   desc.t = &transport;                         // this node's transport
 *   desc.region = base; desc.region_size = size; // the container region
 *   desc.user = user_sections; desc.n_user = 1;  // from linker symbols (may be 0)
 *   desc.binary_fp = my_binary_fingerprint;
 *   desc.block = buf; desc.block_size = sizeof buf;  // portal transfer buffer
 *   desc.on_activate = start_cores; desc.on_release = stop_cores; desc.arg = me;
 *   migrate_node_init(&node, &desc);
 *   ... on the node that starts the program:
 *   uarea_container_init(base, size, &ua); create thread 0; migrate_node_adopt(&node);
 *   ... on every node, from the master thread or core:
 *   for (;;) { migrate_node_step(&node); wait a little; }
 *
 * What the daemon does with the container:
 *  - source: freeze (uarea_freeze, every core parks), describe it (user
 *    sections, the UArea, the live part of every used stack, the present
 *    heap pages with zero pages flagged), stream the image; at the commit
 *    point release it (uarea_release: cores leave it; on_release tells the
 *    port), then wipe the region and the user sections: the copy is gone.
 *    On an abort: unfreeze, the threads go on.
 *  - destination: accept only the same build (binary fingerprint, UArea layout
 *    fingerprint) into an empty region; restore straight into the region as
 *    the portal delivers (the reader verifies every CRC and bound); on the
 *    last byte check the UArea (uarea_attach); on COMMIT unfreeze and call
 *    on_activate so the port's cores run it. On any failure the region and
 *    user sections are wiped: nothing is left.
 *
 * Checkpoints: migrate_checkpoint() writes a frozen container through a sink
 * (a file); migrate_restore() reads one back into an empty region of a fresh
 * node, verified, frozen, ready for migrate_unfreeze() and the cores.
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION); needs the
 * core and noc implementations in the same program and the program's port.
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "../uarea/thread.h"
#include "../noc/noc.h"
#include "image.h"
#include "daemon.h"
#include "freeze.h"

#ifndef MIGRATE_NODE_H
#define MIGRATE_NODE_H

UAREA_EXTERN_C_BEGIN

#ifndef MIGRATE_USER_SECTIONS_MAX
#  define MIGRATE_USER_SECTIONS_MAX 4
#endif
/* Stack sections of a container: per used stack, its guard words at the base
 * (checked at every switch) and its live part up to the top. */
#define MIGRATE_STACK_SECTIONS (2 * UAREA_THREADS_MAX)
/* User-section pieces a pre-copy delta may carry; more written runs than
 * this and the delta carries the whole user sections again. */
#ifndef MIGRATE_DELTA_RUNS_MAX
#  define MIGRATE_DELTA_RUNS_MAX 32
#endif

/* A bitmap of the heap's pages: 32 pages a word. */
#define MIGRATE_PAGE_MAP_WORDS (((uint32_t)UAREA_HEAP_PAGES + 31u) / 32u)

/* Reports one written range (dirty_collect). */
typedef void (*migrate_dirty_fn)(void *ctx, uintptr_t addr, size_t len);

/* Custody: which node answers for the container, as migrations move it
 * (migrate_node_desc.on_custody). A port that keeps books of where each
 * container is (the POSIX launcher does, to tell a lost container from a
 * moved one when a node dies) follows these, in the order they come:
 *  - RECEIVING: this node accepted an image from `peer` (the holder); it may
 *    end up running it, so a death of the holder is not yet a loss;
 *  - DISCARDED: this node threw away what it received from `peer`;
 *  - COMMITTED: (source) past the commit point: the container is `peer`'s
 *    from now on, whatever happens to this node (COMMIT is out or on its
 *    way); called before the copy here is dropped;
 *  - ACTIVATED: this node runs the container now (from `peer`), before
 *    on_activate starts its threads. */
typedef enum migrate_custody {
    MIGRATE_CUSTODY_RECEIVING = 1,
    MIGRATE_CUSTODY_DISCARDED,
    MIGRATE_CUSTODY_COMMITTED,
    MIGRATE_CUSTODY_ACTIVATED
} migrate_custody;

typedef struct migrate_node_desc {
    noc_transport *t;             /* this node's transport */
    void *region;                 /* the container region (same address everywhere) */
    size_t region_size;           /* at least UAREA_CONTAINER_SIZE */
    const migrate_region *user;   /* user sections (may be NULL with n_user 0) */
    uint32_t n_user;              /* at most MIGRATE_USER_SECTIONS_MAX */
    uint64_t binary_fp;           /* fingerprint of this binary */
    void *block;                  /* portal transfer buffer */
    size_t block_size;
    const migrate_config *cfg;    /* NULL: defaults */
    /* The container runs here now: start running its threads. Called from
     * migrate_node_step() after COMMIT. */
    void (*on_activate)(void *arg, struct uarea *ua);
    /* The container left (or is about to be wiped): stop running its threads;
     * return only when no core runs it any more. */
    void (*on_release)(void *arg, struct uarea *ua);
    /* Optional: dirty-page tracking, which turns on pre-copy (both or
     * neither). dirty_begin starts a round over the container region and the
     * user sections; dirty_collect reports through mark every range written
     * since (whole pages, any order) and returns 0 or a negative error. */
    int (*dirty_begin)(void *arg);
    int (*dirty_collect)(void *arg, migrate_dirty_fn mark, void *ctx);
    /* Optional: custody changes (migrate_custody), from migrate_node_step(). */
    void (*on_custody)(void *arg, migrate_custody what, int peer);
    /* Optional: the daemon's trace hook (migrate_daemon_trace), with arg. */
    migrate_trace_fn trace;
    /* Optional: may this node's container go to node `dst`? 0, or the error
     * the migration's start fails with at once (a migrate_to call, a
     * controller's MOVE): a port whose machine has nodes that hold no
     * container (the MPPA-256's I/O clusters: UAREA_ENODEKIND) says so here. */
    int (*check_dst)(void *arg, int dst);
    /* Optional: the copy of a container that left (its region and user
     * sections, released at the commit point: no core runs it) is wiped
     * this long after, from migrate_node_step(), instead of at once; an
     * image that comes in first, an adopt or the node's end wipe it
     * before anything else. 0: at once. On a host where wiping a big
     * region competes with the destination for the CPUs right when it
     * starts the container (the POSIX runtime: 2 ms). Only for containers
     * whose heap holds at least wipe_delay_bytes (a small copy is wiped
     * at once: put off, its wipe would land in the next arrival's
     * downtime when migrations follow each other closely). */
    uint64_t wipe_delay_ns;
    uint64_t wipe_delay_bytes;
    /* Optional: post-copy's destination (docs/protocol.md, "Post-copy"):
     * all four, or none (then this node refuses a post-copy image with
     * UAREA_ENOSYS; any node can be a post-copy source). Heap pages are
     * named by their index: the page at UAREA_HEAP_OFFSET + i *
     * UAREA_PAGE_SIZE in the region.
     *  - lazy_begin: before the container runs here, make every page whose
     *    bit is set in map (`pages` bits) missing, whatever it holds now (a
     *    staged pre-copy round may have put old bytes there): a thread that
     *    touches one waits until it is installed, never reads zeros or old
     *    bytes. Other pages stay as they are. An error: the container
     *    cannot run here (it is lost: the source has committed).
     *  - lazy_install: put `count` pages from bytes at addr, each only if
     *    still missing, and wake the threads waiting for them; bytes NULL:
     *    pages of zeros (a page outside the map that a thread touched).
     *    The pages installed, or an error.
     *  - lazy_faults: store the addresses of pages threads wait for, each
     *    once, at most max; how many (0: none new), or an error.
     *  - lazy_end: failed 0: every page of the map is in: end the
     *    arrangement (the range is ordinary memory again). failed 1: the
     *    source was lost with pages missing: no thread waiting for one may
     *    ever go on; the port stops the container for good (it cannot be
     *    wiped: touching a missing page would wait forever) and reports it
     *    lost (UAREA_EPAGESLOST). */
    int (*lazy_begin)(void *arg, uintptr_t heap, const uint32_t *map, uint32_t pages);
    long (*lazy_install)(void *arg, uintptr_t addr, const void *bytes, uint32_t count);
    long (*lazy_faults)(void *arg, uintptr_t *want, uint32_t max);
    void (*lazy_end)(void *arg, int failed);
    void *arg;
} migrate_node_desc;

/* Pre-copy, destination: where a staged pre-copy image stands. A discard in
 * any state but NONE wipes the whole region and the user sections: the
 * image being read, or the delta's own span, is only part of what is there. */
typedef enum migrate_staged {
    MIGRATE_STAGED_NONE = 0,  /* no pre-copy image here */
    MIGRATE_STAGED_HELD,      /* a verified pre-copy image sits in the region
                                 (also while a further round or its delta is
                                 being read over it) */
    MIGRATE_STAGED_READING,   /* the pre-copy image's reader runs */
    MIGRATE_STAGED_COMPLETE   /* the delta over it is verified, until activate */
} migrate_staged;

typedef struct migrate_node {
    migrate_daemon d;
    migrate_node_desc desc;
    migrate_region user[MIGRATE_USER_SECTIONS_MAX];
    struct uarea *ua;             /* == region */
    int present;                  /* this node holds the container */
    migrate_region stacks[MIGRATE_STACK_SECTIONS];
    migrate_page pages[UAREA_HEAP_PAGES];
    migrate_container c;
    migrate_image_writer w;
    migrate_image_reader r;
    uint32_t zero_pages;
    /* pre-copy, source: a pre-copy image went out (its heap pages: bits of
     * sent[], the pages whose contents the destination holds); each further
     * round and the delta send what the tracker saw written since the last
     * round that went out (bits of dirty[], user-section runs in runs[],
     * gathered over every collect since) and the pages present but never
     * sent, with zero records for pages sent and gone since; listed in
     * pages[], which each round reuses. A round counts as sent once its
     * bytes are produced (round 2): the next collect then takes its pages
     * (rlist[], those present when it was described: rpres[]) off dirty[]
     * and into or out of sent[], and its runs off runs[]. A round described
     * and not sent (round 1: the daemon stopped the rounds) leaves them,
     * for the delta. */
    int pre;
    uint32_t sent[MIGRATE_PAGE_MAP_WORDS], dirty[MIGRATE_PAGE_MAP_WORDS];
    uint32_t rlist[MIGRATE_PAGE_MAP_WORDS], rpres[MIGRATE_PAGE_MAP_WORDS];
    int round;                    /* 0 none, 1 described, 2 produced */
    migrate_region runs[MIGRATE_DELTA_RUNS_MAX];
    uint32_t n_runs;
    int runs_overflow;
    migrate_staged staged;        /* pre-copy, destination */
    int pre_round;                /* destination: the image read is a further
                                     pre-copy round (staged in turn) */
    /* destination: an accepted image is here (until discard or activate),
     * from node `from` */
    int receiving, from;
    int held;                     /* migrate_node_hold() */
    /* post-copy: the heap pages that follow after the image (bit per heap
     * page; source: left out of the image, read from the frozen copy until
     * drop; destination: still missing), and on the destination those a
     * thread waits for and not yet asked (wait[]) or asked (asked[]).
     * post: source, the image left pages out; destination, 1 an image
     * with lazy pages is being read (lazy_expect of them), 2 the container
     * runs with pages missing (n_lazy), 3 the post-copy failed. */
    int post;
    uint32_t lazy[MIGRATE_PAGE_MAP_WORDS];
    uint32_t wait[MIGRATE_PAGE_MAP_WORDS], asked[MIGRATE_PAGE_MAP_WORDS];
    uint32_t n_lazy, lazy_expect;
    uint32_t push_at;             /* source: the push's next page; destination:
                                     where the next ask again looks */
    int wipe_due;                 /* a left container's copy waits for its wipe */
    uint64_t wipe_at;             /* ... until then (desc.wipe_delay_ns) */
    /* migrate_to calls this node's daemon took from each core's board and
     * has not answered (migrate/syscall.h) */
    uint8_t calls[UAREA_CORES_MAX];
} migrate_node;

/* Set up the daemon (creates its ports). UAREA_EINVAL for a bad descriptor,
 * UAREA_ENOMEM for a region below UAREA_CONTAINER_SIZE, transport errors. */
UAREA_API int migrate_node_init(migrate_node *n, const migrate_node_desc *desc);
/* This node now holds the container in its region (made here, or restored
 * from a checkpoint): uarea_check() must pass. */
UAREA_API int migrate_node_adopt(migrate_node *n);
/* Non-blocking progress (migrate_daemon_step). */
UAREA_API int migrate_node_step(migrate_node *n);
UAREA_API int migrate_node_fini(migrate_node *n);
/* 1 when this node holds the container, 0 when not. */
UAREA_API int migrate_node_present(const migrate_node *n);
/* 1 while the container runs here with post-copy pages still to come (the
 * daemon is busy with them: a migrate_to waits until they are in). */
UAREA_API int migrate_node_postcopy(const migrate_node *n);
/* Hold (1) or let go (0) this node's container: while it is held the node
 * does not move it, and a migration asked for (migrate_daemon_start, a
 * controller's MOVE) ends at once with UAREA_EBUSY, the container as it
 * was. For a port that freezes the container itself (a checkpoint).
 * UAREA_EBUSY when a migration is under way (nothing changes). */
UAREA_API int migrate_node_hold(migrate_node *n, int held);

/* Describe a frozen container for the image writer. stacks and pages are the
 * caller's arrays (MIGRATE_STACK_SECTIONS and UAREA_HEAP_PAGES entries): for
 * each used stack its guard words and its live part, each present heap page
 * with zero pages flagged. UAREA_ESTATE when the container is not frozen. */
UAREA_API int migrate_describe(struct uarea *ua, const migrate_region *user, uint32_t n_user,
                               uint64_t binary_fp, migrate_region *stacks, migrate_page *pages,
                               migrate_container *c);

/* Write a frozen container through sink (buf: cap bytes of staging). The
 * page list is on the caller's stack (UAREA_HEAP_PAGES entries: 4 MiB for a
 * 1 GiB heap on a 64-bit target); with a big heap, call migrate_describe()
 * with arrays of your own and migrate_image_write(), as the POSIX port
 * does. */
UAREA_API int migrate_checkpoint(struct uarea *ua, const migrate_region *user, uint32_t n_user,
                                 uint64_t binary_fp, migrate_sink_fn sink, void *ctx, void *buf,
                                 size_t cap, migrate_image_stats *st);

/* Read a checkpoint into the region [region, region + size) and the user
 * sections, verify it and check the UArea; *out is the restored UArea,
 * frozen. Any failure wipes what was written and returns the error. */
UAREA_API int migrate_restore(void *region, size_t size, const migrate_region *user,
                              uint32_t n_user, uint64_t binary_fp, migrate_source_fn source,
                              void *ctx, void *buf, size_t cap, migrate_image_stats *st,
                              struct uarea **out);

UAREA_EXTERN_C_END

#endif /* MIGRATE_NODE_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__NODE_IMPLEMENTED)
#define MIGRATE__NODE_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

/* migrate_describe(); pages NULL: the heap pages are left out (n_pages 0),
 * for a pre-copy's delta, which lists its own (migrate__n_delta), and a
 * whole post-copy image (migrate__n_leave_all). */
static int migrate__describe(struct uarea *ua, const migrate_region *user, uint32_t n_user,
                             uint64_t binary_fp, migrate_region *stacks, migrate_page *pages,
                             migrate_container *c)
{
    unsigned i = 0, flags = 0;
    uint32_t ns = 0, np = 0;
    if (ua == NULL || c == NULL || stacks == NULL || (user == NULL && n_user))
        return UAREA_EINVAL;
    if (!uarea_frozen(ua)) return UAREA_ESTATE;
    UAREA_MEMSET(c, 0, sizeof *c);
    c->layout_fp = ua->hdr.fingerprint;
    c->binary_fp = binary_fp;
    c->page_size = UAREA_PAGE_SIZE;
    c->user = user;
    c->n_user = n_user;
    c->uarea.addr = (uintptr_t)ua;
    c->uarea.len = UAREA_UAREA_LEN;     /* the struct and its heap page table */
    for (i = 0; uarea_stack_next(ua, &i); i++) {
        uintptr_t lo, base = (uintptr_t)uarea_stack_base(ua, i);
        size_t len;
        if (uarea_stack_used(ua, i, &lo, &len) < 0) continue;
        /* The guard words of every used stack go, also when nothing of it
         * is live: a thread that has not run yet keeps its start in its
         * context on CPUs that pass it in a register (aarch64, riscv), and
         * its first switch checks them. */
        if (lo > base + UAREA_CANARY_BYTES) {
            stacks[ns].addr = base;
            stacks[ns].len = UAREA_CANARY_BYTES;
            ns++;
        } else {
            len += lo - base; /* the live part reaches the guard words */
            lo = base;
        }
        if (len > 0) {
            stacks[ns].addr = lo;
            stacks[ns].len = len;
            ns++;
        }
    }
    for (i = 0; pages != NULL && uarea_page_next(ua, &i, &flags); i++) {
        pages[np].addr = (uintptr_t)uarea_page_addr(ua, i);
        pages[np].flags = MIGRATE_PAGE_PRESENT;
        np++;
    }
    if (pages != NULL) (void)migrate_pages_mark_zero(pages, np, UAREA_PAGE_SIZE, NULL, 0);
    c->stacks = stacks;
    c->n_stacks = ns;
    c->pages = pages;
    c->n_pages = np;
    return 0;
}

UAREA_API int migrate_describe(struct uarea *ua, const migrate_region *user, uint32_t n_user,
                               uint64_t binary_fp, migrate_region *stacks, migrate_page *pages,
                               migrate_container *c)
{
    if (pages == NULL) return UAREA_EINVAL;
    return migrate__describe(ua, user, n_user, binary_fp, stacks, pages, c);
}

UAREA_API int migrate_checkpoint(struct uarea *ua, const migrate_region *user, uint32_t n_user,
                                 uint64_t binary_fp, migrate_sink_fn sink, void *ctx, void *buf,
                                 size_t cap, migrate_image_stats *st)
{
    migrate_region stacks[MIGRATE_STACK_SECTIONS];
    migrate_page pages[UAREA_HEAP_PAGES];
    migrate_container c;
    int rc = migrate_describe(ua, user, n_user, binary_fp, stacks, pages, &c);
    if (rc < 0) return rc;
    return migrate_image_write(&c, sink, ctx, buf, cap, st);
}

/* The restore target of this node: its region, and a user window spanning the
 * user sections. */
static int migrate__target(migrate_image_target *t, void *region, size_t size,
                           const migrate_region *user, uint32_t n_user, uint64_t binary_fp)
{
    uint32_t i;
    UAREA_MEMSET(t, 0, sizeof *t);
    if (region == NULL || (user == NULL && n_user)) return UAREA_EINVAL;
    if (size < UAREA_CONTAINER_SIZE) return UAREA_ENOMEM;
    t->layout_fp = uarea_layout_fingerprint();
    t->binary_fp = binary_fp;
    t->page_size = UAREA_PAGE_SIZE;
    t->lo = (uintptr_t)region;
    t->hi = (uintptr_t)region + size;
    for (i = 0; i < n_user; i++) {
        uintptr_t a = user[i].addr, e = user[i].addr + user[i].len;
        if (e < a) return UAREA_EINVAL;
        if (t->user_lo == t->user_hi) { t->user_lo = a; t->user_hi = e; continue; }
        if (a < t->user_lo) t->user_lo = a;
        if (e > t->user_hi) t->user_hi = e;
    }
    return 0;
}

/* Zero the region and the user sections: the container is gone from here.
 * A port may zero faster than memset (UAREA_PORT_WIPE, uarea/port.h: the
 * POSIX port skips pages the node never touched). */
#ifndef UAREA_PORT_WIPE
#  define UAREA_PORT_WIPE(addr, len) UAREA_MEMSET((addr), 0, (len))
#endif
static void migrate__wipe(void *region, size_t size, const migrate_region *user, uint32_t n_user)
{
    uint32_t i;
    UAREA_PORT_WIPE(region, size);
    for (i = 0; i < n_user; i++) UAREA_PORT_WIPE((void *)user[i].addr, user[i].len);
}

UAREA_API int migrate_restore(void *region, size_t size, const migrate_region *user,
                              uint32_t n_user, uint64_t binary_fp, migrate_source_fn source,
                              void *ctx, void *buf, size_t cap, migrate_image_stats *st,
                              struct uarea **out)
{
    migrate_image_target t;
    int rc;
    if (source == NULL || buf == NULL || cap == 0 || out == NULL) return UAREA_EINVAL;
    rc = migrate__target(&t, region, size, user, n_user, binary_fp);
    if (rc < 0) return rc;
    rc = migrate_image_read(&t, 0, source, ctx, buf, cap, st);
    if (rc < 0) return rc;
    rc = uarea_attach((struct uarea *)region);
    if (rc < 0) {
        migrate__wipe(region, size, user, n_user);
        return rc;
    }
    *out = (struct uarea *)region;
    return 0;
}

/* ---- the protocol's container operations ---- */
static int migrate__n_has(void *ctx) { return ((migrate_node *)ctx)->present; }

static int migrate__n_freeze(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    int rc;
    if (!n->present) return UAREA_ENOCONTAINER;
    if (n->held) return UAREA_EBUSY;
    if (__atomic_load_n(&n->ua->freeze, __ATOMIC_ACQUIRE) == UAREA_RUN) {
        rc = migrate_freeze_begin(n->ua);
        if (rc < 0) return rc;
    }
    return migrate_freeze_poll(n->ua);
}

static void migrate__n_post_clear(migrate_node *n);

static int migrate__n_unfreeze(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    migrate__n_post_clear(n);
    return n->present ? migrate_unfreeze(n->ua) : UAREA_ENOCONTAINER;
}

static inline void migrate__bit_set(uint32_t *map, uint32_t i)
{
    map[i >> 5] |= UINT32_C(1) << (i & 31u);
}
static inline bool migrate__bit(const uint32_t *map, uint32_t i)
{
    return ((map[i >> 5] >> (i & 31u)) & 1u) != 0;
}

/* dirty_collect's report: heap pages into dirty[], user-section runs into
 * runs[] (clipped to the sections); the rest of the region (UArea, stacks)
 * always goes whole. */
static void migrate__n_mark(void *ctx, uintptr_t addr, size_t len)
{
    migrate_node *n = (migrate_node *)ctx;
    uintptr_t heap = (uintptr_t)n->desc.region + UAREA_HEAP_OFFSET, end = addr + len;
    uint32_t i;
    if (end > heap && addr < heap + (uintptr_t)UAREA_HEAP_BYTES) {
        uintptr_t a = addr > heap ? addr : heap;
        uintptr_t e = end < heap + (uintptr_t)UAREA_HEAP_BYTES ? end : heap + (uintptr_t)UAREA_HEAP_BYTES;
        for (i = (uint32_t)((a - heap) / UAREA_PAGE_SIZE);
             (uintptr_t)i * UAREA_PAGE_SIZE < e - heap; i++)
            migrate__bit_set(n->dirty, i);
    }
    for (i = 0; i < n->desc.n_user; i++) {
        uintptr_t lo = n->user[i].addr, hi = lo + n->user[i].len;
        uintptr_t a = addr > lo ? addr : lo, e = end < hi ? end : hi;
        if (a >= e) continue;
        if (n->n_runs > 0 && n->runs[n->n_runs - 1].addr + n->runs[n->n_runs - 1].len == a) {
            n->runs[n->n_runs - 1].len += (size_t)(e - a);
        } else if (n->n_runs < MIGRATE_DELTA_RUNS_MAX) {
            n->runs[n->n_runs].addr = a;
            n->runs[n->n_runs].len = (size_t)(e - a);
            n->n_runs++;
        } else {
            n->runs_overflow = 1;
        }
    }
}

/* Sort the runs by address and join those that overlap or touch (the image
 * wants user sections in order, apart; runs gathered over several collects
 * may cover the same bytes). */
static void migrate__n_sort_runs(migrate_node *n)
{
    uint32_t i, j, out = 0;
    for (i = 1; i < n->n_runs; i++) {
        migrate_region r = n->runs[i];
        for (j = i; j > 0 && n->runs[j - 1].addr > r.addr; j--) n->runs[j] = n->runs[j - 1];
        n->runs[j] = r;
    }
    for (i = 0; i < n->n_runs; i++) {
        uintptr_t end = n->runs[i].addr + n->runs[i].len;
        if (out > 0 && n->runs[i].addr <= n->runs[out - 1].addr + n->runs[out - 1].len) {
            if (end > n->runs[out - 1].addr + n->runs[out - 1].len)
                n->runs[out - 1].len = (size_t)(end - n->runs[out - 1].addr);
            continue;
        }
        n->runs[out++] = n->runs[i];
    }
    n->n_runs = out;
}

/* Pre-copy, source: the last round described went out (its bytes were
 * produced): what it carried is no longer to send. Then gather what the
 * tracker saw written since the last collect (no write is lost between:
 * each collect re-protects what it reports). */
static int migrate__n_collect(migrate_node *n)
{
    uint32_t w;
    if (n->round == 2) {
        for (w = 0; w < MIGRATE_PAGE_MAP_WORDS; w++) {
            n->sent[w] = (n->sent[w] & ~n->rlist[w]) | (n->rpres[w] & n->rlist[w]);
            n->dirty[w] &= ~n->rlist[w];
        }
        n->n_runs = 0;
        n->runs_overflow = 0;
    }
    n->round = 0;
    return n->desc.dirty_collect(n->desc.arg, migrate__n_mark, n);
}

/* Pre-copy, source: list in pages[] (address order) the heap pages a round
 * or the delta sends: present and written since sent or never sent (their
 * zero flag read now), or sent and gone since (a zero record: the
 * destination holds what they held then). `round`: note them in rlist[] and
 * rpres[]. Returns how many. */
static uint32_t migrate__n_list(migrate_node *n, int round)
{
    const uint8_t *table = uarea_pages(n->ua);
    uint32_t i, out = 0;
    if (round) {
        UAREA_MEMSET(n->rlist, 0, sizeof n->rlist);
        UAREA_MEMSET(n->rpres, 0, sizeof n->rpres);
    }
    for (i = 0; i < UAREA_HEAP_PAGES; i++) {
        bool present = (__atomic_load_n(&table[i], __ATOMIC_RELAXED) & UAREA_PAGE_PRESENT) != 0;
        bool sent = migrate__bit(n->sent, i);
        if (present ? sent && !migrate__bit(n->dirty, i) : !sent) continue;
        n->pages[out].addr = (uintptr_t)uarea_page_addr(n->ua, i);
        n->pages[out].flags = MIGRATE_PAGE_PRESENT;
        if (present)
            (void)migrate_pages_mark_zero(&n->pages[out], 1, UAREA_PAGE_SIZE, NULL, 0);
        else
            n->pages[out].flags |= MIGRATE_PAGE_ZERO;   /* gone since: a zero record */
        if (round) {
            migrate__bit_set(n->rlist, i);
            if (present) migrate__bit_set(n->rpres, i);
        }
        out++;
    }
    return out;
}

/* The user sections a round or the delta sends: the written runs, or all of
 * them when there were too many runs. */
static void migrate__n_user_runs(migrate_node *n)
{
    if (n->runs_overflow) {
        n->c.user = n->user;
        n->c.n_user = n->desc.n_user;
        return;
    }
    migrate__n_sort_runs(n);
    n->c.user = n->runs;
    n->c.n_user = n->n_runs;
}

/* The pre-copy image of the running container: the user sections and the
 * heap pages present now, read while the threads run. A page written during
 * or after its copy was written after dirty_begin, so the delta sends it
 * again; the image's CRCs cover the bytes as copied, so a torn page still
 * verifies (and is then overwritten by the delta). */
static int migrate__n_precopy(void *ctx, migrate_offer *offer)
{
    migrate_node *n = (migrate_node *)ctx;
    uint32_t i, np = 0;
    int rc;
    n->pre = 0;
    if (!n->present) return UAREA_ENOCONTAINER;
    if (n->held) return UAREA_EBUSY;
    if (n->desc.dirty_begin == NULL || n->desc.dirty_collect == NULL) return UAREA_ENOSYS;
    rc = n->desc.dirty_begin(n->desc.arg);
    if (rc < 0) return rc;
    UAREA_MEMSET(&n->c, 0, sizeof n->c);
    n->c.layout_fp = n->ua->hdr.fingerprint;
    n->c.binary_fp = n->desc.binary_fp;
    n->c.page_size = UAREA_PAGE_SIZE;
    n->c.user = n->user;
    n->c.n_user = n->desc.n_user;
    UAREA_MEMSET(n->sent, 0, sizeof n->sent);
    for (i = 0; i < UAREA_HEAP_PAGES; i++) {
        unsigned f = __atomic_load_n(&uarea_pages(n->ua)[i], __ATOMIC_RELAXED);
        if (!(f & UAREA_PAGE_PRESENT)) continue;
        n->pages[np].addr = (uintptr_t)uarea_page_addr(n->ua, i);
        n->pages[np].flags = MIGRATE_PAGE_PRESENT;
        migrate__bit_set(n->sent, i);
        np++;
    }
    (void)migrate_pages_mark_zero(n->pages, np, UAREA_PAGE_SIZE, NULL, 0);
    n->c.pages = n->pages;
    n->c.n_pages = np;
    UAREA_MEMSET(n->dirty, 0, sizeof n->dirty);
    n->n_runs = 0;
    n->runs_overflow = 0;
    n->round = 0;
    rc = migrate_image_writer_init(&n->w, &n->c);
    if (rc < 0) return rc;
    offer->size = migrate_image_writer_size(&n->w);
    offer->layout_fp = n->c.layout_fp;
    offer->binary_fp = n->c.binary_fp;
    n->zero_pages = 0;
    n->pre = 1;
    return 0;
}

/* A further pre-copy round, the container still running (the last image
 * is staged there): the heap pages and user-section runs written since the
 * last round went out, the pages present and never sent, zero records for
 * the pages gone, read while the threads run (a page written meanwhile is
 * written after the collect, so the next round or the delta sends it
 * again). No UArea, no stacks: the delta carries them, frozen. Size 0 when
 * nothing is to send. */
static int migrate__n_precopy_next(void *ctx, migrate_offer *offer)
{
    migrate_node *n = (migrate_node *)ctx;
    uint32_t np;
    int rc;
    if (!n->present) return UAREA_ENOCONTAINER;
    if (n->held) return UAREA_EBUSY;
    if (!n->pre) return UAREA_ESTATE;
    rc = migrate__n_collect(n);
    if (rc < 0) return rc;
    np = migrate__n_list(n, 1);
    UAREA_MEMSET(&n->c, 0, sizeof n->c);
    n->c.layout_fp = n->ua->hdr.fingerprint;
    n->c.binary_fp = n->desc.binary_fp;
    n->c.page_size = UAREA_PAGE_SIZE;
    n->c.pages = n->pages;
    n->c.n_pages = np;
    migrate__n_user_runs(n);
    offer->layout_fp = n->c.layout_fp;
    offer->binary_fp = n->c.binary_fp;
    if (np == 0 && n->c.n_user == 0) {
        offer->size = 0;                       /* nothing written */
        return 0;
    }
    rc = migrate_image_writer_init(&n->w, &n->c);
    if (rc < 0) return rc;
    offer->size = migrate_image_writer_size(&n->w);
    n->round = 1;
    return 0;
}

/* The delta after a pre-copy, of the frozen container (its UArea and stacks
 * described, no heap pages): the heap pages written since the last
 * pre-copy round that went out or never sent, zero records for pages sent
 * and gone now (the destination holds what they held then), and the
 * written runs of the user sections; a round described and not sent is
 * still in these. The list goes into pages[] (the pre-copy images are
 * out), in address order; only its pages are read for zeros, not the
 * whole heap. */
static int migrate__n_delta(migrate_node *n)
{
    int rc = migrate__n_collect(n);
    if (rc < 0) return rc;
    n->c.pages = n->pages;
    n->c.n_pages = migrate__n_list(n, 0);
    migrate__n_user_runs(n);
    return 0;
}

/* ---- post-copy ---- */
static uintptr_t migrate__n_heap(const migrate_node *n)
{
    return (uintptr_t)n->desc.region + UAREA_HEAP_OFFSET;
}

static inline void migrate__bit_clear(uint32_t *map, uint32_t i)
{
    map[i >> 5] &= ~(UINT32_C(1) << (i & 31u));
}

/* The first page at or after i whose bit is set in map; UAREA_HEAP_PAGES
 * if none. */
static uint32_t migrate__n_next_bit(const uint32_t *map, uint32_t i)
{
    uint32_t first, end;
    return migrate_bits_run(map, (uint32_t)UAREA_HEAP_PAGES, i, &first, &end)
               ? first : (uint32_t)UAREA_HEAP_PAGES;
}

static void migrate__n_post_clear(migrate_node *n)
{
    if (n->post != 0 || n->n_lazy != 0 || n->lazy_expect != 0) {
        UAREA_MEMSET(n->lazy, 0, sizeof n->lazy);
        UAREA_MEMSET(n->wait, 0, sizeof n->wait);
        UAREA_MEMSET(n->asked, 0, sizeof n->asked);
    }
    n->post = 0;
    n->n_lazy = n->lazy_expect = n->push_at = 0;
}

static int migrate__n_can_post(const migrate_node *n)
{
    return n->desc.lazy_begin != NULL && n->desc.lazy_install != NULL &&
           n->desc.lazy_faults != NULL && n->desc.lazy_end != NULL;
}

/* Post-copy, a delta after pre-copy: its pages that hold bytes leave the
 * image's page list for lazy[]: the image carries their runs only (lazy
 * sections); its zero pages, read already, stay as flags. Returns how
 * many. */
static uint32_t migrate__n_leave_out(migrate_node *n)
{
    uintptr_t heap = migrate__n_heap(n);
    uint32_t i, out = 0, k = 0;
    for (i = 0; i < n->c.n_pages; i++) {
        if ((n->pages[i].flags & (MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO)) == MIGRATE_PAGE_PRESENT) {
            migrate__bit_set(n->lazy, (uint32_t)((n->pages[i].addr - heap) / UAREA_PAGE_SIZE));
            k++;
            continue;
        }
        n->pages[out++] = n->pages[i];
    }
    n->c.n_pages = out;
    if (k > 0) {
        n->c.lazy = n->lazy;
        n->c.lazy_addr = heap;
        n->c.lazy_pages = (uint32_t)UAREA_HEAP_PAGES;
    }
    return k;
}

/* Post-copy, a whole image: every present heap page is left out, straight
 * from the page table (no page list, no page read: a cache line per page
 * would make the freeze grow with the heap). Returns how many. */
static uint32_t migrate__n_leave_all(migrate_node *n)
{
    const uint8_t *table = uarea_pages(n->ua);
    uint32_t i, k = 0;
    for (i = 0; i < (uint32_t)UAREA_HEAP_PAGES; i += 32) {  /* a word of bits at a time */
        uint32_t j, word = 0, end = (uint32_t)UAREA_HEAP_PAGES - i < 32u ? (uint32_t)UAREA_HEAP_PAGES - i : 32u;
        for (j = 0; j < end; j++) {
            uint32_t b = (__atomic_load_n(&table[i + j], __ATOMIC_RELAXED) & UAREA_PAGE_PRESENT) != 0;
            word |= b << j;
            k += b;
        }
        n->lazy[i >> 5] = word;
    }
    n->c.pages = NULL;
    n->c.n_pages = 0;
    if (k > 0) {
        n->c.lazy = n->lazy;
        n->c.lazy_addr = migrate__n_heap(n);
        n->c.lazy_pages = (uint32_t)UAREA_HEAP_PAGES;
    }
    return k;
}

static int migrate__n_begin(void *ctx, migrate_offer *offer)
{
    migrate_node *n = (migrate_node *)ctx;
    int rc, pre = n->pre;
    uint32_t i;
    n->pre = 0;
    migrate__n_post_clear(n);
    if ((offer->flags & MIGRATE_OFFER_DELTA) && !pre) return UAREA_ESTATE;
    /* a delta lists its own heap pages (migrate__n_delta); a whole
     * post-copy image lists none (migrate__n_leave_all) */
    rc = migrate__describe(n->ua, n->user, n->desc.n_user, n->desc.binary_fp, n->stacks,
                           (offer->flags & (MIGRATE_OFFER_DELTA | MIGRATE_OFFER_POST)) ? NULL
                                                                                       : n->pages,
                           &n->c);
    if (rc < 0) return rc;
    if (offer->flags & MIGRATE_OFFER_DELTA) {
        rc = migrate__n_delta(n);
        if (rc < 0) return rc;
    }
    if (offer->flags & MIGRATE_OFFER_POST) {
        offer->pages = (offer->flags & MIGRATE_OFFER_DELTA) ? migrate__n_leave_out(n)
                                                            : migrate__n_leave_all(n);
        n->post = offer->pages != 0;
    }
    n->zero_pages = 0;
    for (i = 0; i < n->c.n_pages; i++)   /* c.pages: the delta's own list after a pre-copy */
        if (n->c.pages[i].flags & MIGRATE_PAGE_ZERO) n->zero_pages++;
    rc = migrate_image_writer_init(&n->w, &n->c);
    if (rc < 0) return rc;
    offer->size = migrate_image_writer_size(&n->w);
    offer->layout_fp = n->c.layout_fp;
    offer->binary_fp = n->c.binary_fp;
    return 0;
}

static long migrate__n_produce(void *ctx, void *buf, size_t cap)
{
    migrate_node *n = (migrate_node *)ctx;
    if (n->round == 1) n->round = 2;           /* the round goes out */
    return migrate_image_produce(&n->w, buf, cap);
}

static void migrate__n_custody(migrate_node *n, migrate_custody what, int peer)
{
    if (n->desc.on_custody != NULL) n->desc.on_custody(n->desc.arg, what, peer);
}

static void migrate__n_commit(void *ctx, int dst)
{
    migrate__n_custody((migrate_node *)ctx, MIGRATE_CUSTODY_COMMITTED, dst);
}

/* The copy of a container that left: wiped when due (force: now). */
static void migrate__n_wipe_due(migrate_node *n, int force)
{
    if (!n->wipe_due || (!force && noc_clock_ns(n->desc.t) < n->wipe_at)) return;
    n->wipe_due = 0;
    migrate__wipe(n->desc.region, n->desc.region_size, n->user, n->desc.n_user);
}

static int migrate__n_drop(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    (void)uarea_release(n->ua);
    if (n->desc.on_release) n->desc.on_release(n->desc.arg, n->ua);
    n->present = 0;
    migrate__n_post_clear(n);
    n->wipe_due = 1;
    n->wipe_at = noc_clock_ns(n->desc.t) + n->desc.wipe_delay_ns;
    migrate__n_wipe_due(n, n->desc.wipe_delay_ns == 0 ||
                               (uint64_t)n->ua->heap.used < n->desc.wipe_delay_bytes);
    return 0;
}

static int migrate__n_accept(void *ctx, const migrate_offer *offer)
{
    migrate_node *n = (migrate_node *)ctx;
    migrate_image_target t;
    int rc;
    if (n->present) return UAREA_EBUSY;
    migrate__n_wipe_due(n, 1);                  /* the last one's copy first */
    if (offer->layout_fp != uarea_layout_fingerprint()) return UAREA_EIMGLAYOUT;
    if (offer->binary_fp != n->desc.binary_fp) return UAREA_EIMGBINARY;
    /* a further round or the delta lands on the staged pre-copy image,
     * nothing else does */
    if ((offer->flags & MIGRATE_OFFER_DELTA) != 0 ? n->staged != MIGRATE_STAGED_HELD
                                                  : n->staged != MIGRATE_STAGED_NONE)
        return UAREA_ESTATE;
    if ((offer->flags & MIGRATE_OFFER_POST) && !migrate__n_can_post(n)) return UAREA_ENOSYS;
    rc = migrate__target(&t, n->desc.region, n->desc.region_size, n->user, n->desc.n_user,
                         n->desc.binary_fp);
    if (rc < 0) return rc;
    migrate__n_post_clear(n);
    if (offer->flags & MIGRATE_OFFER_POST) {     /* its lazy sections land in lazy[] */
        t.lazy = n->lazy;
        t.lazy_addr = migrate__n_heap(n);
        t.lazy_pages = (uint32_t)UAREA_HEAP_PAGES;
    }
    rc = migrate_image_reader_init(&n->r, &t, 0);
    if (rc < 0) return rc;
    if (offer->flags & MIGRATE_OFFER_POST) {
        n->post = 1;
        n->lazy_expect = offer->pages;
    }
    n->pre_round = (offer->flags & MIGRATE_OFFER_PRE) && (offer->flags & MIGRATE_OFFER_DELTA);
    if ((offer->flags & MIGRATE_OFFER_PRE) && !n->pre_round) n->staged = MIGRATE_STAGED_READING;
    n->from = offer->src;
    n->receiving = 1;
    migrate__n_custody(n, MIGRATE_CUSTODY_RECEIVING, offer->src);
    return 0;
}

static int migrate__n_feed(void *ctx, const void *buf, size_t len)
{
    int rc = migrate_image_feed(&((migrate_node *)ctx)->r, buf, len);
    return rc < 0 ? rc : 0;
}

static int migrate__n_end(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    int rc = migrate_image_finish(&n->r);
    if (rc < 0) return rc;
    if (n->staged == MIGRATE_STAGED_READING) {  /* the pre-copy image: staged, not run */
        n->staged = MIGRATE_STAGED_HELD;
        return 0;
    }
    if (n->pre_round) {                         /* a further round: staged over it */
        n->pre_round = 0;
        return 0;
    }
    /* post-copy: the image must leave out exactly the pages the offer said */
    rc = n->post == 1 && n->r.stats.lazy_pages != n->lazy_expect ? UAREA_EIMGFORMAT
                                                                  : uarea_attach((struct uarea *)n->desc.region);
    if (rc < 0) {
        migrate__wipe(n->desc.region, n->desc.region_size, n->user, n->desc.n_user);
        n->staged = MIGRATE_STAGED_NONE;
        migrate__n_post_clear(n);
        return rc;
    }
    n->staged = n->staged == MIGRATE_STAGED_HELD ? MIGRATE_STAGED_COMPLETE : MIGRATE_STAGED_NONE;
    n->zero_pages = n->r.stats.zero_pages;
    return 0;
}

static int migrate__n_discard(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    (void)migrate_image_discard(&n->r);
    n->pre_round = 0;
    migrate__n_post_clear(n);
    if (n->staged != MIGRATE_STAGED_NONE) {  /* a staged pre-copy image: all of it */
        migrate__wipe(n->desc.region, n->desc.region_size, n->user, n->desc.n_user);
        n->staged = MIGRATE_STAGED_NONE;
    }
    if (n->receiving) {
        n->receiving = 0;
        migrate__n_custody(n, MIGRATE_CUSTODY_DISCARDED, n->from);
    }
    return 0;
}

static int migrate__n_activate(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    int rc;
    n->staged = MIGRATE_STAGED_NONE;
    n->ua = (struct uarea *)n->desc.region;
    n->present = 1;
    n->receiving = 0;
    migrate__n_custody(n, MIGRATE_CUSTODY_ACTIVATED, n->from);
    rc = migrate_unfreeze(n->ua);
    if (n->desc.on_activate) n->desc.on_activate(n->desc.arg, n->ua);
    return rc;
}

static uint32_t migrate__n_zero(void *ctx) { return ((migrate_node *)ctx)->zero_pages; }

/* Post-copy, source: copy lazy pages from the frozen copy: from `first` (a
 * FETCH: it must be a lazy page), or the push's next run (first
 * MIGRATE_PAGES_NEXT); consecutive lazy pages, at most count and what
 * fits in cap. Pages are numbered by their index in the heap. */
static long migrate__n_pages_produce(void *ctx, uint32_t first, uint32_t count, void *buf,
                                     size_t cap, uint32_t *first_out, uint32_t *page_size)
{
    migrate_node *n = (migrate_node *)ctx;
    uint32_t k, max = (uint32_t)(cap / UAREA_PAGE_SIZE < 0xffffffffu ? cap / UAREA_PAGE_SIZE
                                                                       : 0xffffffffu);
    int push = first == MIGRATE_PAGES_NEXT;
    if (!n->post || !n->present) return UAREA_ESTATE;
    if (buf == NULL || first_out == NULL || page_size == NULL) return UAREA_EINVAL;
    if (push) {
        first = migrate__n_next_bit(n->lazy, n->push_at);
        n->push_at = first;
        if (first >= (uint32_t)UAREA_HEAP_PAGES) return 0;   /* every page went once */
        count = 0xffffffffu;
    } else if (first >= (uint32_t)UAREA_HEAP_PAGES || !migrate__bit(n->lazy, first)) {
        return UAREA_EINVAL;
    }
    for (k = 0; k < count && k < max && first + k < (uint32_t)UAREA_HEAP_PAGES &&
                migrate__bit(n->lazy, first + k);
         k++)
        UAREA_MEMCPY((unsigned char *)buf + (size_t)k * UAREA_PAGE_SIZE,
                     uarea_page_addr(n->ua, first + k), UAREA_PAGE_SIZE);
    if (push) n->push_at = first + k;
    *first_out = first;
    *page_size = UAREA_PAGE_SIZE;
    return (long)k;
}

/* Post-copy, destination, COMMIT: the lazy pages missing (activate runs
 * the container next). */
static int migrate__n_postcopy_activate(void *ctx, const migrate_offer *offer)
{
    migrate_node *n = (migrate_node *)ctx;
    int rc;
    if (n->post != 1 || n->lazy_expect == 0 || offer->pages != n->lazy_expect) return UAREA_ESTATE;
    rc = n->desc.lazy_begin(n->desc.arg, migrate__n_heap(n), n->lazy, (uint32_t)UAREA_HEAP_PAGES);
    if (rc < 0) return rc;
    n->n_lazy = n->lazy_expect;
    n->post = 2;
    return 0;
}

/* A page is in: no longer missing, waited for or asked. */
static void migrate__n_got(migrate_node *n, uint32_t i)
{
    migrate__bit_clear(n->lazy, i);
    migrate__bit_clear(n->wait, i);
    migrate__bit_clear(n->asked, i);
    n->n_lazy--;
}

/* The last page is in: the range is ordinary again. */
static void migrate__n_post_done(migrate_node *n)
{
    n->desc.lazy_end(n->desc.arg, 0);
    migrate__n_post_clear(n);
}

static long migrate__n_pages_install(void *ctx, uint32_t first, uint32_t count,
                                     uint32_t page_size, const void *bytes)
{
    migrate_node *n = (migrate_node *)ctx;
    uint32_t i = 0, j, k;
    long got = 0, rc;
    if (n->post != 2) return UAREA_ESTATE;
    if (page_size != UAREA_PAGE_SIZE || bytes == NULL || count == 0 ||
        first >= (uint32_t)UAREA_HEAP_PAGES || count > (uint32_t)UAREA_HEAP_PAGES - first)
        return UAREA_EINVAL;
    while (i < count) {
        if (!migrate__bit(n->lazy, first + i)) { i++; continue; }  /* there already */
        for (j = i; j < count && migrate__bit(n->lazy, first + j); j++) {}
        rc = n->desc.lazy_install(n->desc.arg, (uintptr_t)uarea_page_addr(n->ua, first + i),
                                  (const unsigned char *)bytes + (size_t)i * UAREA_PAGE_SIZE,
                                  j - i);
        if (rc < 0) return rc;
        for (k = i; k < j; k++) migrate__n_got(n, first + k);
        got += (long)(j - i);
        i = j;
    }
    if (n->n_lazy == 0) migrate__n_post_done(n);
    return got;
}

/* A run of at most 64 pages from i whose bits are set in both maps. */
static uint32_t migrate__n_run(const uint32_t *a, const uint32_t *b, uint32_t i)
{
    uint32_t k = 0;
    while (k < 64u && i + k < (uint32_t)UAREA_HEAP_PAGES && migrate__bit(a, i + k) &&
           migrate__bit(b, i + k))
        k++;
    return k;
}

static int migrate__n_pages_wanted(void *ctx, int again, uint32_t *first, uint32_t *count)
{
    migrate_node *n = (migrate_node *)ctx;
    uintptr_t heap = migrate__n_heap(n), want[32];
    uint32_t i, k;
    long got, w;
    if (n->post != 2) return 0;
    if (!again) {
        /* the faults since the last look: a page to come is waited for; a
         * page that is not (never in the container, or a zero page left
         * untouched by the restore) is zeros */
        do {
            got = n->desc.lazy_faults(n->desc.arg, want, 32);
            for (w = 0; w < got; w++) {
                if (want[w] < heap || want[w] - heap >= (uintptr_t)UAREA_HEAP_BYTES) continue;
                i = (uint32_t)((want[w] - heap) / UAREA_PAGE_SIZE);
                if (migrate__bit(n->lazy, i)) migrate__bit_set(n->wait, i);
                else (void)n->desc.lazy_install(n->desc.arg, heap + (uintptr_t)i * UAREA_PAGE_SIZE,
                                                NULL, 1);
            }
        } while (got == 32);
        i = migrate__n_next_bit(n->wait, 0);
        if (i >= (uint32_t)UAREA_HEAP_PAGES) return 0;
        k = migrate__n_run(n->wait, n->lazy, i);
        for (w = 0; w < (long)k; w++) {
            migrate__bit_clear(n->wait, i + (uint32_t)w);
            migrate__bit_set(n->asked, i + (uint32_t)w);
        }
        *first = i;
        *count = k;
        return 1;
    }
    /* asked again: a page threads wait for first, else the next missing */
    i = migrate__n_next_bit(n->asked, 0);
    if (i < (uint32_t)UAREA_HEAP_PAGES) {
        *first = i;
        *count = migrate__n_run(n->asked, n->lazy, i);
        return 1;
    }
    i = migrate__n_next_bit(n->lazy, n->push_at);
    if (i >= (uint32_t)UAREA_HEAP_PAGES) i = migrate__n_next_bit(n->lazy, 0);
    if (i >= (uint32_t)UAREA_HEAP_PAGES) return 0;
    *first = i;
    *count = migrate__n_run(n->lazy, n->lazy, i);
    n->push_at = i + *count;
    return 1;
}

static uint64_t migrate__n_pages_missing(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    return n->post == 2 ? n->n_lazy : 0u;
}

/* The source was lost with pages missing: the port stops the container for
 * good (it cannot be wiped here: a touch of a missing page would wait
 * forever); this node no longer holds it. */
static void migrate__n_postcopy_fail(void *ctx)
{
    migrate_node *n = (migrate_node *)ctx;
    if (n->post != 2) return;
    n->post = 3;
    n->present = 0;
    n->desc.lazy_end(n->desc.arg, 1);
}

static int migrate__n_check_dst(void *ctx, int dst)
{
    migrate_node *n = (migrate_node *)ctx;
    return n->desc.check_dst != NULL ? n->desc.check_dst(n->desc.arg, dst) : 0;
}

static const migrate_container_ops migrate__node_ops = {
    .has_container = migrate__n_has,
    .freeze = migrate__n_freeze,
    .unfreeze = migrate__n_unfreeze,
    .image_begin = migrate__n_begin,
    .image_produce = migrate__n_produce,
    .drop = migrate__n_drop,
    .accept = migrate__n_accept,
    .restore_feed = migrate__n_feed,
    .restore_end = migrate__n_end,
    .discard = migrate__n_discard,
    .activate = migrate__n_activate,
    .zero_pages = migrate__n_zero,
    .precopy_begin = migrate__n_precopy,
    .precopy_next = migrate__n_precopy_next,
    .commit = migrate__n_commit,
    .check_dst = migrate__n_check_dst,
    .pages_produce = migrate__n_pages_produce,
    .postcopy_activate = migrate__n_postcopy_activate,
    .pages_install = migrate__n_pages_install,
    .pages_wanted = migrate__n_pages_wanted,
    .pages_missing = migrate__n_pages_missing,
    .postcopy_fail = migrate__n_postcopy_fail,
};

UAREA_API int migrate_node_init(migrate_node *n, const migrate_node_desc *desc)
{
    uint32_t i;
    int rc;
    if (n == NULL || desc == NULL || desc->t == NULL || desc->region == NULL ||
        desc->n_user > MIGRATE_USER_SECTIONS_MAX || (desc->user == NULL && desc->n_user))
        return UAREA_EINVAL;
    if ((desc->dirty_begin == NULL) != (desc->dirty_collect == NULL)) return UAREA_EINVAL;
    if ((desc->lazy_begin == NULL) != (desc->lazy_install == NULL) ||
        (desc->lazy_begin == NULL) != (desc->lazy_faults == NULL) ||
        (desc->lazy_begin == NULL) != (desc->lazy_end == NULL))
        return UAREA_EINVAL;
    if (desc->region_size < UAREA_CONTAINER_SIZE) return UAREA_ENOMEM;
    UAREA_MEMSET(n, 0, sizeof *n);
    n->desc = *desc;
    for (i = 0; i < desc->n_user; i++) n->user[i] = desc->user[i];
    n->desc.user = n->user;
    n->ua = (struct uarea *)desc->region;
    n->from = -1;
    rc = migrate_daemon_init(&n->d, desc->t, &migrate__node_ops, n, desc->cfg, desc->block,
                             desc->block_size);
    if (rc == 0) migrate_daemon_trace(&n->d, desc->trace, desc->arg);
    return rc;
}

UAREA_API int migrate_node_adopt(migrate_node *n)
{
    int rc;
    if (n == NULL) return UAREA_EINVAL;
    if (migrate_daemon_busy(&n->d)) return UAREA_EBUSY;
    if (n->wipe_due) return UAREA_ESTATE;       /* a left copy is there, not one to adopt */
    rc = uarea_check((struct uarea *)n->desc.region);
    if (rc < 0) return rc;
    n->ua = (struct uarea *)n->desc.region;
    n->present = 1;
    return 0;
}

UAREA_API int migrate_node_step(migrate_node *n)
{
    int did;
    if (n == NULL) return UAREA_EINVAL;
    did = migrate_daemon_step(&n->d);
    if (n->wipe_due && did >= 0 && !migrate_daemon_busy(&n->d)) {
        migrate__n_wipe_due(n, 0);
        if (!n->wipe_due) did = 1;
    }
    return did;
}

UAREA_API int migrate_node_fini(migrate_node *n)
{
    if (n == NULL) return UAREA_EINVAL;
    migrate__n_wipe_due(n, 1);
    return migrate_daemon_fini(&n->d);
}

UAREA_API int migrate_node_present(const migrate_node *n)
{
    return n != NULL && n->present;
}

UAREA_API int migrate_node_postcopy(const migrate_node *n)
{
    return n != NULL && n->post == 2;
}

UAREA_API int migrate_node_hold(migrate_node *n, int held)
{
    if (n == NULL) return UAREA_EINVAL;
    if (held && migrate_daemon_busy(&n->d)) return UAREA_EBUSY;
    n->held = held != 0;
    return 0;
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
