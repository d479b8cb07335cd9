/*
 * migrate/daemon.h - the migration protocol: one non-blocking state machine
 * per node (the "daemon") that every port runs.
 *
 * Defines `migrate_daemon` (and its messages, migrate_msg, and the container
 * as it sees it, migrate_container_ops); migrate/node.h defines
 * `migrate_node`, this daemon bound to a real container (a UArea, its image,
 * the node's region), which is what a port runs.
 *
 * What it does. A node's daemon owns a request mailbox and a data portal on the
 * node's transport (noc/noc.h). It moves the node's container to another node
 * (sender role) or takes one in (receiver role):
 *
 *   source                                    destination
 *   PREPARE (advisory)                ----->  poll, do not sleep
 *   freeze ........................................................
 *   REQUEST(mid, size, fingerprints)  ----->  accept? (busy, fits, same build)
 *                                     <-----  ACCEPT  | REJECT(err)
 *   image over the portal, in blocks  ----->  restore_feed (verify as it lands)
 *                                     <-----  VERIFIED | NACK(err)
 *   drop its copy (commit point)
 *   COMMIT(freeze time)               ----->  activate (unfreeze): runs there
 *
 * Move, not copy. The source stays frozen until the destination has verified
 * the whole image and said so; only then does the source drop its copy and
 * send COMMIT, and only on COMMIT does the destination run the container. On a
 * reject, a NACK, a timeout or a dead destination, the destination discards and
 * the source unfreezes and continues. So two copies never run. The container is
 * lost only if the node holding the one live copy dies: before the commit point
 * that is the source, after it the destination. The destination, when it holds
 * a verified image and learns that the source died (UAREA_EPEERGONE, a proof
 * of death on the transports of this library), activates: the source can no
 * longer run, and it may have committed. Lost and duplicated messages are
 * handled by retransmission (REQUEST, VERIFIED) and by remembering the outcome
 * of recent migrations (a late VERIFIED is answered with COMMIT or ABORT, a
 * late ACCEPT with ABORT). Messages carry a CRC32C; a damaged one is dropped
 * like a lost one. Image damage is caught by the image's own CRCs.
 *
 * What it does not do: it knows nothing of UAreas or images. The container is
 * reached through `migrate_container_ops` (freeze, produce image bytes, drop,
 * unfreeze on the source; accept, feed image bytes, verify, discard, activate
 * on the destination); migrate/node.h binds them to a real container.
 *
 * Driving it. migrate_daemon_step() never blocks: it polls the transport,
 * advances the state machine, and returns how much it did (0: nothing to do
 * right now). A port calls it from its master thread (POSIX) or master core
 * (MPPA-256); tests call it in turn for every node of a loopback transport.
 * Timeouts use the transport's clock (virtual on the loopback).
 *
 * PREPARE goes out when a migration starts, before the freeze: it only tells
 * the destination to poll instead of sleeping for MIGRATE_ALERT_NS
 * (migrate_daemon_alert()), so that a destination whose thread sleeps is
 * awake when REQUEST comes; nothing depends on it arriving.
 *
 * At most one migration per node at a time (either role); a second request is
 * answered with UAREA_EBUSY. Migrations between disjoint pairs of nodes run at
 * the same time. A controller (any node's daemon) can ask node A to move its
 * container to node B: migrate_daemon_request(); the answer comes back as a
 * RESULT message (migrate_daemon_ctrl_result()).
 *
 * Post-copy (migrate_config.postcopy, optional container ops): the frozen
 * image leaves the heap pages out; after COMMIT the container runs on the
 * destination while the source, still holding the frozen pages, sends them
 * in packets (S_POST: those the destination asks for with FETCH first, the
 * others pushed), and drops its copy on DONE (R_POST: every page is in). A
 * source lost before DONE loses the pages: the destination stops the
 * container (UAREA_EPAGESLOST). docs/protocol.md, "Post-copy".
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION). Needs
 * NOC_IMPLEMENTATION in the same program. Freestanding; no allocation (the
 * caller gives the block buffer).
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "../noc/noc.h"
#include "crc32c.h"
#include "le.h"

#ifndef MIGRATE_DAEMON_H
#define MIGRATE_DAEMON_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration -------------------------------------------------------- */
#ifndef MIGRATE_MAILBOX_PORT
#  define MIGRATE_MAILBOX_PORT 1        /* the daemon's request mailbox */
#endif
#ifndef MIGRATE_PORTAL_PORT
#  define MIGRATE_PORTAL_PORT 1         /* the daemon's incoming data portal */
#endif
#ifndef MIGRATE_PORTAL_OUT_PORT
#  define MIGRATE_PORTAL_OUT_PORT 2     /* local port of outgoing portals */
#endif
#ifndef MIGRATE_SPLIT_MIN
#  define MIGRATE_SPLIT_MIN 4096u   /* smallest slot of a split block */
#endif
/* A split block is used as slots of at most this many bytes, in turn: a
 * source that writes a slot again only after the others finds its lines
 * gone from the cache of the destination that read them (on the 2-vCPU
 * VMs of this project, 2.2 MB go through a block of 2 MiB in 4 slots in
 * about 86 us, through 2 slots of 512 KiB in about 118 us). */
#ifndef MIGRATE_XFER_SLOT
#  define MIGRATE_XFER_SLOT 524288u
#endif
/* The first portal transfer of an image; each next one is twice the last,
 * up to a slot. Small first transfers start both sides working at
 * once (the destination restores the first while the source makes the
 * next); big later ones pay fewer hand-overs between the two sides per
 * byte, which is what a big image's transfer rate depends on when the
 * nodes share their CPUs with other work. */
#ifndef MIGRATE_XFER_FIRST
#  define MIGRATE_XFER_FIRST 131072u
#endif
/* Zero-copy transfers, where the transport offers them (docs/protocol.md,
 * "In place"): MIGRATE_RBUF 1 (the default) lets the destination restore
 * straight from the source's pending write (noc_portal_rbuf); with it 0,
 * MIGRATE_INPLACE 1 lets the source make a transfer straight into the
 * destination's posted read (noc_portal_wbuf). Both 0: a pull into a local
 * buffer, then a restore from it. Reading in place was the fastest on the
 * machines measured last (bench/posix/bench_steps, docs/protocol.md). */
#ifndef MIGRATE_INPLACE
#  define MIGRATE_INPLACE 0
#endif
#ifndef MIGRATE_RBUF
#  define MIGRATE_RBUF 1
#endif
#ifndef MIGRATE_TIMEOUT_NS
#  define MIGRATE_TIMEOUT_NS INT64_C(500000000) /* per step of the protocol */
#endif
#ifndef MIGRATE_ALERT_NS
#  define MIGRATE_ALERT_NS INT64_C(2000000) /* a destination polls this long after PREPARE */
#endif
#ifndef MIGRATE_RETRIES
#  define MIGRATE_RETRIES 4             /* REQUEST retransmissions */
#endif
#ifndef MIGRATE_OUTBOX
#  define MIGRATE_OUTBOX 8              /* queued outgoing messages */
#endif
#ifndef MIGRATE_HISTORY
#  define MIGRATE_HISTORY 8             /* outcomes remembered */
#endif
/* Pre-copy rounds (docs/protocol.md, "Pre-copy"): the defaults of the
 * migrate_config fields precopy_rounds, precopy_small_bytes,
 * precopy_shrink_pct and precopy_budget_bytes (a multiple of the first image). */
#ifndef MIGRATE_PRECOPY_ROUNDS
#  define MIGRATE_PRECOPY_ROUNDS 8      /* pre-copy images before the freeze, at most */
#endif
#ifndef MIGRATE_PRECOPY_SMALL
#  define MIGRATE_PRECOPY_SMALL 65536u  /* a round this small goes frozen instead */
#endif
#ifndef MIGRATE_PRECOPY_SHRINK_PCT
#  define MIGRATE_PRECOPY_SHRINK_PCT 100u /* a round must be under this % of the last */
#endif
#ifndef MIGRATE_PRECOPY_BUDGET
#  define MIGRATE_PRECOPY_BUDGET 3u     /* all pre-copy bytes: this many first images */
#endif

/* ---- The container, as the protocol sees it ------------------------------ */
typedef struct migrate_offer {
    int src;                  /* node that sends */
    uint32_t mid;             /* migration id */
    uint64_t size;            /* image bytes */
    uint64_t layout_fp;       /* UArea layout fingerprint of the source */
    uint64_t binary_fp;       /* binary fingerprint of the source */
    uint32_t flags;           /* MIGRATE_OFFER_*: which image this is */
    uint32_t pages;           /* post-copy (MIGRATE_OFFER_POST): heap pages left
                                 out of the image, to follow after COMMIT (0:
                                 none, the image is whole) */
} migrate_offer;

/* Pre-copy (see docs/protocol.md): the first image is sent while the
 * container runs, then, still running, rounds of what was written since the
 * last one (PRE | DELTA: staged over the staged image), then, during the
 * freeze, the delta of what changed since the last round. */
#define MIGRATE_OFFER_PRE 1u      /* a pre-copy image: stage it, do not run it */
#define MIGRATE_OFFER_DELTA 2u    /* goes over the staged pre-copy image (with PRE:
                                     a further round, staged; alone: the delta
                                     that completes it) */
#define MIGRATE_OFFER_POST 4u     /* post-copy: the frozen image leaves out the
                                     payload of `pages` heap pages, which follow
                                     after COMMIT (docs/protocol.md, "Post-copy") */

/* Post-copy page packets (docs/protocol.md, "Post-copy"): each is one portal
 * write into the destination's posted read, a header and `count` whole
 * pages. Wire layout (little-endian): 0 magic u32 "UAPG" | 4 mid u32 |
 * 8 first u32 | 12 count u32 | 16 page_size u32 | 20 flags u32 |
 * 24 crc32c u32 (of the header with this field 0, then the page bytes) |
 * 28 reserved u32 (0) | 32 the pages. The daemon seals a packet on the
 * source and checks it on the destination: a damaged one is dropped, its
 * pages asked again; the container sees only verified bytes. */
#define MIGRATE_PAGES_HDR 32u
#define MIGRATE_PAGES_NEXT 0xffffffffu /* pages_produce: the next run not yet sent */
#define MIGRATE_PAGES_FETCHED 1u       /* packet flag: sent in answer to a FETCH */
typedef struct migrate_pages_hdr {
    uint32_t mid, first, count, page_size, flags;
} migrate_pages_hdr;

/* Which way a migration went (migrate_stats.mode). */
typedef enum migrate_mode {
    MIGRATE_MODE_STOP_COPY = 0, /* one image, frozen */
    MIGRATE_MODE_PRECOPY,       /* pre-copy rounds, then the delta, frozen */
    MIGRATE_MODE_POSTCOPY,      /* the frozen image without the lazy pages; they
                                   follow after COMMIT (migrate_config.postcopy 1) */
    MIGRATE_MODE_PRE_POST       /* pre-copy rounds, then a delta without the
                                   lazy pages, which follow after COMMIT
                                   (migrate_config.postcopy 2) */
} migrate_mode;

typedef struct migrate_container_ops {
    /* Source side. */
    int (*has_container)(void *ctx);                /* 1 if this node runs one */
    int (*freeze)(void *ctx);                       /* 0 frozen, UAREA_EAGAIN pending */
    int (*unfreeze)(void *ctx);                     /* resume (abort) */
    int (*image_begin)(void *ctx, migrate_offer *offer); /* fill size, fingerprints */
    long (*image_produce)(void *ctx, void *buf, size_t cap); /* bytes, 0 at end */
    int (*drop)(void *ctx);                         /* commit point: forget it */
    /* Destination side. */
    int (*accept)(void *ctx, const migrate_offer *offer); /* 0 or why not */
    int (*restore_feed)(void *ctx, const void *buf, size_t len);
    int (*restore_end)(void *ctx);                  /* verify all; 0 if good */
    int (*discard)(void *ctx);                      /* wipe; leave it empty */
    int (*activate)(void *ctx);                     /* unfreeze: run here */
    /* Optional: zero pages the image skipped (for statistics). */
    uint32_t (*zero_pages)(void *ctx);
    /* Optional, source side: start a pre-copy of the running container (dirty
     * tracking on, describe what can be sent before the freeze): fill the
     * offer like image_begin; image_produce then produces that image, and the
     * next image_begin (after the freeze) describes only what changed.
     * UAREA_ENOSYS (or any error): no pre-copy this time. */
    int (*precopy_begin)(void *ctx, migrate_offer *offer);
    /* Optional, source side: a further pre-copy round, the container still
     * running. Called only after the previous pre-copy image was staged by
     * the destination: take what was written since the last round's image
     * was described, and describe the next round's image (offer->flags:
     * MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA) like image_begin; size 0 when
     * nothing was written. image_produce then produces it if the daemon
     * sends it; the daemon may instead stop the rounds (migrate_config's
     * policy), and then the delta of the next image_begin carries it too: a
     * round counts as sent only once its bytes were produced. NULL: one
     * pre-copy image. */
    int (*precopy_next)(void *ctx, migrate_offer *offer);
    /* Optional, source side: the commit point is passed (the destination
     * holds a verified copy, COMMIT is out or on its way, and this copy will
     * never run again). Called before drop, so that a port keeping books of
     * where each container is moves it to the destination first: from here
     * the destination's death loses it, the source's does not. */
    void (*commit)(void *ctx, int dst);
    /* Optional, source side: may the container go to node `dst`? 0, or the
     * error the start of the migration fails with at once (a migrate_to, a
     * controller's MOVE alike): a machine whose nodes do not all hold
     * containers (the MPPA-256's I/O clusters: UAREA_ENODEKIND). */
    int (*check_dst)(void *ctx, int dst);
    /* Post-copy (docs/protocol.md, "Post-copy"), all optional; the daemon
     * uses post-copy only when every one of them is there (else the
     * migration goes as without them). Source side: image_begin is called
     * with MIGRATE_OFFER_POST in offer->flags; a container that takes it
     * leaves the payload of its lazy heap pages out of the image and says
     * how many follow (offer->pages, numbered 0 .. pages-1); pages 0
     * leaves the image whole (no post-copy this time). After COMMIT the
     * container never runs here again; its pages are read from the frozen
     * copy until `drop` (on DONE, or when the destination is lost).
     * pages_produce copies whole pages, starting at page `first`, at most
     * `count` of them and as many as fit in `cap` bytes, into buf; first
     * MIGRATE_PAGES_NEXT: the next run of pages not yet produced (the
     * background push). It returns how many pages it copied (0 with NEXT:
     * every page went once), their first in *first_out and their size in
     * *page_size, or an error. */
    long (*pages_produce)(void *ctx, uint32_t first, uint32_t count, void *buf, size_t cap,
                          uint32_t *first_out, uint32_t *page_size);
    /* Destination side. postcopy_activate: make offer->pages heap pages
     * missing before the container runs (the port registers their range as
     * lazy: a thread that touches one waits until it is installed); the
     * daemon then calls activate, which runs it. An error: the container
     * cannot run here. */
    int (*postcopy_activate)(void *ctx, const migrate_offer *offer);
    /* Install `count` pages of `page_size` bytes from page `first`, whose
     * packet the daemon has verified (CRC, length): check the bounds (an
     * out-of-range run or a wrong page size: an error, nothing installed),
     * install only pages still missing (a duplicate or late packet never
     * overwrites a page the container may have written since), wake the
     * threads waiting for them. Returns the pages newly installed. */
    long (*pages_install)(void *ctx, uint32_t first, uint32_t count, uint32_t page_size,
                          const void *bytes);
    /* Pages to fetch: again 0, a run of pages that threads touched since the
     * last call (each fault reported once); again 1 (no packet came for a
     * timeout: one may have been lost), a run still missing, touched ones
     * first. 1 and the run in *first, *count; 0 none. */
    int (*pages_wanted)(void *ctx, int again, uint32_t *first, uint32_t *count);
    uint64_t (*pages_missing)(void *ctx);           /* pages not installed yet */
    /* The source was lost before every page arrived: stop the container,
     * wipe it; it must never run on with a page missing. */
    void (*postcopy_fail)(void *ctx);
} migrate_container_ops;

/* ---- Trace points --------------------------------------------------------- */
/* Where a daemon is in a migration, for a trace hook (migrate_daemon_trace):
 * per-step timestamps, and deterministic fault injection in tests (kill a
 * node at a named step). Each is passed as the daemon reaches it. */
typedef enum migrate_point {
    MIGRATE_PT_SRC_START = 0, /* source: a migration starts (before PREPARE, freeze) */
    MIGRATE_PT_SRC_FROZEN,    /* source: the container is frozen, the image described */
    MIGRATE_PT_SRC_REQUEST,   /* source: REQUEST queued (again on each retry) */
    MIGRATE_PT_SRC_ACCEPTED,  /* source: ACCEPT came, the portal is open */
    MIGRATE_PT_SRC_BLOCK,     /* source: a portal write of image bytes completed */
    MIGRATE_PT_SRC_SENT,      /* source: every image byte is out */
    MIGRATE_PT_SRC_VERIFIED,  /* source: VERIFIED came; the commit point is next */
    MIGRATE_PT_SRC_COMMITTED, /* source: past the commit point (COMMIT out, ops->commit done), not dropped */
    MIGRATE_PT_SRC_DROPPED,   /* source: COMMIT out, the copy here dropped */
    MIGRATE_PT_SRC_ABORTING,  /* source: gave up, frozen until the destination confirms */
    MIGRATE_PT_SRC_ABORTED,   /* source: gave up, the container runs here again */
    MIGRATE_PT_DST_PREPARED,  /* destination: PREPARE came */
    MIGRATE_PT_DST_REQUEST,   /* destination: REQUEST of a new migration, before accept */
    MIGRATE_PT_DST_ACCEPTED,  /* destination: accepted, first read posted, ACCEPT queued */
    MIGRATE_PT_DST_BLOCK,     /* destination: a block of image bytes fed */
    MIGRATE_PT_DST_VERIFIED,  /* destination: the whole image verified, VERIFIED not out */
    MIGRATE_PT_DST_COMMIT,    /* destination: COMMIT came (or the source died): activation next */
    MIGRATE_PT_DST_ACTIVATED, /* destination: the container runs here */
    MIGRATE_PT_DST_DISCARDED, /* destination: what arrived is discarded */
    MIGRATE_PT_SRC_PAGES,     /* source, post-copy: a packet of pages written */
    MIGRATE_PT_SRC_DONE,      /* source, post-copy: DONE came, the copy here dropped */
    MIGRATE_PT_DST_PAGES,     /* destination, post-copy: a packet of pages installed */
    MIGRATE_PT_DST_DONE,      /* destination, post-copy: every page is in, DONE out */
    MIGRATE_PT_DST_LOST,      /* destination, post-copy: the source was lost first */
    MIGRATE_PT_COUNT
} migrate_point;

/* Which image of a migration is moving: the only one, or, with pre-copy,
 * the image sent while the container runs and then the delta sent during
 * the freeze. */
typedef enum migrate_phase {
    MIGRATE_PHASE_ONE = 0,    /* the one image (no pre-copy) */
    MIGRATE_PHASE_PRECOPY,    /* the pre-copy image: staged, not run */
    MIGRATE_PHASE_DELTA       /* the delta that completes the staged image */
} migrate_phase;

/* Called at each trace point: the migration's id, the other node, and its
 * phase (a migrate_phase). It runs inside migrate_daemon_step() and must not
 * call into the daemon. */
typedef void (*migrate_trace_fn)(void *arg, migrate_point p, uint32_t mid, int peer, int phase);

/* Why the pre-copy rounds of a migration stopped (migrate_stats.precopy_stop):
 * then the container is frozen and the delta carries the rest. */
typedef enum migrate_precopy_stop {
    MIGRATE_PRECOPY_STOP_NONE = 0, /* no pre-copy (or not stopped yet) */
    MIGRATE_PRECOPY_STOP_LIMIT,    /* precopy_rounds images went (or the container
                                      offers no further round: no precopy_next) */
    MIGRATE_PRECOPY_STOP_NOT_SHRINKING, /* the next round was not smaller than the last
                                      (precopy_shrink_pct) */
    MIGRATE_PRECOPY_STOP_SMALL,    /* the next round was small enough to go frozen
                                      (precopy_small_bytes; nothing written: 0) */
    MIGRATE_PRECOPY_STOP_BUDGET,   /* the next round would pass precopy_budget_bytes */
    MIGRATE_PRECOPY_STOP_FAILED    /* precopy_next failed: the delta carries the rest */
} migrate_precopy_stop;

/* ---- Statistics of one migration ------------------------------------------ */
typedef struct migrate_stats {
    uint32_t mid;
    int src, dst;
    int result;               /* 0 committed; negative: why it was aborted */
    uint64_t bytes;           /* image bytes sent/received */
    uint32_t zero_pages;      /* heap pages sent as a flag only */
    uint64_t freeze_ns;       /* freeze request -> frozen (source) */
    uint64_t transfer_ns;     /* first byte -> verified */
    uint64_t downtime_ns;     /* frozen on the source -> running on the destination
                                 (the activate op called; with post-copy, after
                                 postcopy_activate: the lazy pages registered) */
    uint64_t total_ns;        /* request -> commit or abort */
    uint64_t precopy_bytes;   /* image bytes sent before the freeze, all pre-copy
                                 rounds (0: no pre-copy) */
    uint64_t inplace_bytes;   /* source: image bytes made straight into the
                                 destination's posted read (noc_portal_wbuf) */
    uint64_t inplace_read_bytes; /* destination: image bytes restored straight
                                 from the source's buffer (noc_portal_rbuf) */
    uint32_t precopy_rounds;  /* pre-copy images staged by the destination, the
                                 first (whole) one included (0: no pre-copy) */
    int precopy_stop;         /* why the rounds stopped (migrate_precopy_stop); the
                                 destination learns it with COMMIT */
    int mode;                 /* which way it went (migrate_mode) */
    uint32_t pages_fetched;   /* post-copy: pages sent (source) / newly installed
                                 (destination) in answer to FETCH */
    uint32_t pages_pushed;    /* post-copy: pages sent / newly installed from the
                                 background push */
} migrate_stats;

/* ---- The daemon -------------------------------------------------------------- */
typedef enum migrate_state {
    MIGRATE_IDLE = 0,
    MIGRATE_S_FREEZE,         /* source: waiting for the freeze */
    MIGRATE_S_REQUEST,        /* source: REQUEST sent, waiting for an answer */
    MIGRATE_S_SEND,           /* source: streaming the image */
    MIGRATE_S_VERIFY,         /* source: all sent, waiting for VERIFIED */
    MIGRATE_S_ABORT,          /* source: gave up, waiting for the destination
                                 to confirm it discarded (NACK) or to die */
    MIGRATE_R_RECV,           /* destination: receiving the image */
    MIGRATE_R_COMMIT,         /* destination: verified, waiting for COMMIT */
    MIGRATE_R_STAGED,         /* destination: pre-copy image verified, waiting
                                 for the REQUEST of the next round or the delta */
    MIGRATE_S_POST,           /* source, post-copy: past COMMIT, serving pages */
    MIGRATE_R_POST            /* destination, post-copy: the container runs here,
                                 pages still arriving */
} migrate_state;

typedef struct migrate_msg {
    uint8_t op;
    uint32_t mid;
    int from, src, dst, ctrl;
    int32_t status;
    uint64_t size, layout_fp, binary_fp, stamp;
    uint32_t zero_pages;
    uint16_t flags;           /* REQUEST: MIGRATE_OFFER_*; COMMIT: migrate_precopy_stop,
                                 | MIGRATE_COMMIT_POST */
} migrate_msg;
/* COMMIT of a post-copy migration (its pages follow). */
#define MIGRATE_COMMIT_POST 0x100u
/* REQUEST, ACCEPT and VERIFIED carry in `stamp` the number of the image of
 * the migration they are about: 0 the one image of a migration without
 * pre-copy; 1, 2, ... the pre-copy rounds; the last pre-copy round's number
 * plus one, the delta. A late message about an earlier image never passes for
 * one about the current image. (COMMIT's stamp is the source's freeze time.) */

typedef struct migrate_config {
    int64_t timeout_ns;       /* 0: MIGRATE_TIMEOUT_NS */
    int retries;              /* 0: MIGRATE_RETRIES */
    int mailbox_port;         /* 0: MIGRATE_MAILBOX_PORT */
    int portal_port;          /* 0: MIGRATE_PORTAL_PORT */
    int portal_out_port;      /* 0: MIGRATE_PORTAL_OUT_PORT */
    int no_precopy;           /* 1: never pre-copy, even when the ops can */
    /* Pre-copy rounds (docs/protocol.md): after each staged round the next
     * one goes, the container still running, unless one of these says stop;
     * then the freeze and the delta. */
    int precopy_rounds;       /* most pre-copy images, the first (whole) one
                                 included; 0: MIGRATE_PRECOPY_ROUNDS; 1: one */
    uint64_t precopy_small_bytes; /* a next round of at most this many bytes goes
                                 frozen, in the delta (the freeze is cheap);
                                 0: MIGRATE_PRECOPY_SMALL; 1: only when nothing
                                 was written */
    uint32_t precopy_shrink_pct; /* a next round goes only if its image is under
                                 this percentage of the last round's (not
                                 shrinking: stop); 0: MIGRATE_PRECOPY_SHRINK_PCT */
    uint64_t precopy_budget_bytes; /* all pre-copy images together at most (the
                                 first always goes); 0: MIGRATE_PRECOPY_BUDGET
                                 times the first image */
    /* Post-copy (docs/protocol.md, "Post-copy"), used only when the
     * container has the post-copy ops (else as 0): 0 off; 1 freeze at once
     * (no pre-copy) and send the heap pages after COMMIT; 2 pre-copy rounds
     * first, then the pages still dirty after COMMIT. */
    int postcopy;
} migrate_config;

/* A node's part in a migration, as the history remembers it. */
typedef enum migrate_role {
    MIGRATE_ROLE_NONE = -1,   /* an unused history slot */
    MIGRATE_ROLE_SOURCE = 0,
    MIGRATE_ROLE_DEST = 1
} migrate_role;

typedef struct migrate_daemon {
    /* The node: its transport, its container, the settings. */
    noc_transport *t;
    const migrate_container_ops *ops;
    void *ctx;
    migrate_config cfg;
    int self, nodes;
    migrate_trace_fn trace;       /* migrate_daemon_trace(); NULL: none */
    void *trace_arg;

    /* Incoming messages: the request mailbox and the read posted on it. */
    struct migrate_daemon__inbox {
        int mbx;
        uint8_t buf[NOC_MAILBOX_MSG_SIZE];
    } inbox;

    /* Outgoing messages, queued, sent one at a time per handle. */
    struct migrate_daemon__outbox {
        struct { int node; uint8_t buf[NOC_MAILBOX_MSG_SIZE]; } q[MIGRATE_OUTBOX];
        unsigned head, count;
        int busy;                 /* an awrite is in flight for q[head] */
        uint64_t since;           /* ... since then: after cfg.timeout_ns it is dropped */
        int mbx[NOC_NODES_MAX];   /* mailbox handle per node, -1: not open */
    } outbox;

    /* Image bytes over the portals. The block as slots (from
     * 2 * MIGRATE_SPLIT_MIN bytes on: at least two, of at most
     * MIGRATE_XFER_SLOT bytes): the source fills one while another is being
     * written, the destination posts its next read into one while it feeds
     * another, so that the two sides work at the same time; each side takes
     * its slots in turn. Else one buffer, one thing at a time. */
    struct migrate_daemon__xfer {
        uint8_t *block;           /* portal transfer buffer (caller's memory) */
        size_t block_size;
        size_t slot;              /* bytes of a portal transfer, at most */
        unsigned slots;           /* slots of the block */
        size_t next;              /* source: bytes of the next transfer (from
                                     MIGRATE_XFER_FIRST, doubling up to slot) */
        unsigned split;           /* 1: two slots or more */
        unsigned rbuf;            /* destination: slot of the read */
        unsigned fill;            /* source: the slot it fills next (on from the
                                     last migration's: no slot is rewritten
                                     sooner than needed) */
        size_t ready;             /* source: image bytes filled in slot ready_buf */
        unsigned ready_buf;
        size_t inflight;          /* bytes of the portal op in flight, 0 if none */
        int no_inplace;           /* source: the transport gives no access in place */
        int no_rbuf;              /* destination: ... nor to the source's buffer */
        int in_portal;            /* the incoming data portal */
        int out_portal;           /* source: the portal to the destination, -1: none */
    } xfer;

    /* The migration in progress (state IDLE: none). */
    struct migrate_daemon__mig {
        migrate_state state;
        uint32_t mid, next_mid;   /* its id; the last id this node gave */
        int peer;                 /* the other node */
        int ctrl;                 /* source: the controller that asked for it, -1: none */
        int tries;                /* retransmissions so far */
        uint64_t deadline;        /* the current step times out then */
        uint64_t size, done;      /* image bytes, and how many went through */
        uint64_t t_request, t_frozen, t_first, t_freeze_src;
        uint64_t alert_until;     /* a PREPARE came: poll until then */
        int abort_err;            /* why the source is aborting (S_ABORT) */
        migrate_phase phase;      /* which image is moving */
        uint32_t round;           /* its number (migrate_msg.stamp) */
        uint64_t first;           /* source: bytes of the first pre-copy image */
        migrate_offer offer;
        /* post-copy: source, FETCH runs to serve first (a ring), the push
         * is over, the packet out was fetched */
        struct { uint32_t first, count; } fetch[MIGRATE_OUTBOX];
        unsigned fetch_head, fetch_count;
        int push_done, out_fetched;
        uint32_t out_pages;       /* source: pages of the packet out */
        int lazy;                 /* the image in progress is a post-copy one */
        int no_pre, post;         /* this migration's mode (migrate_daemon_start_mode,
                                     else the config's no_precopy and postcopy) */
    } mig;

    /* Controller requests: this node's own MOVE out, and the last MOVE it
     * serves as the target. */
    struct migrate_daemon__ctrl {
        int node, status, pending;    /* the node asked, its answer, 1: none yet */
        uint32_t req, next;           /* id of the MOVE out, last id */
        uint64_t deadline;            /* ... its RESULT is given up after this */
        int move_from;                /* target: the controller of the last MOVE */
        uint32_t move_req;            /* ... and its id (a duplicate is ignored) */
    } ctrl;

    /* Outcomes of finished migrations, for late messages. */
    struct migrate_daemon__history {
        struct { uint32_t mid; int peer; int result; migrate_role role; } entry[MIGRATE_HISTORY];
        unsigned next;
    } history;

    /* Statistics: the migration in progress, the last finished one, and
     * message counters. */
    struct migrate_daemon__stats {
        migrate_stats cur, last;
        int have_last;
        uint32_t msgs_sent, msgs_received, msgs_dropped;
    } stats;
} migrate_daemon;

/* Sets up the daemon of node `t`: creates its request mailbox and data portal.
 * `block` is the portal transfer buffer (block_size bytes). From
 * 2 * MIGRATE_SPLIT_MIN bytes on it is used as slots of the least of
 * block_size / 2, MIGRATE_XFER_SLOT and NOC_PORTAL_MAX_SIZE bytes, taken in
 * turn, and the image moves in transfers of at most a slot, so both ends of
 * a migration must have the same slot size; a smaller block is one
 * transfer. cfg may be NULL (defaults). UAREA_EMSGSIZE: block_size 0. */
UAREA_API int migrate_daemon_init(migrate_daemon *d, noc_transport *t,
                                  const migrate_container_ops *ops, void *ctx,
                                  const migrate_config *cfg, void *block, size_t block_size);
/* Releases the daemon's ports. A migration in progress is aborted first,
 * unless it is past the point where giving up alone could lose or duplicate
 * the container (a source that has sent image bytes, a destination holding a
 * verified copy): then UAREA_EBUSY and nothing changes; step the daemon until
 * migrate_daemon_busy() is 0 and call again. */
UAREA_API int migrate_daemon_fini(migrate_daemon *d);
/* Advances the daemon without blocking. Returns the number of events handled
 * (0: idle), or a negative error if the transport itself failed. */
UAREA_API int migrate_daemon_step(migrate_daemon *d);
/* Blocks until a message for this daemon arrives (and handles it) or
 * timeout_ns passes: what an idle master waits in, so that a request wakes it
 * at once. Returns 1 when a message was handled, 0 on timeout, or an error:
 * then it did not wait (UAREA_EPEERGONE: every node that could send is gone;
 * the driver waits some other way, or it would spin). While a migration is
 * under way, call migrate_daemon_step() instead. */
UAREA_API int migrate_daemon_wait(migrate_daemon *d, int64_t timeout_ns);
/* Starts moving this node's container to node `dst` (the source role).
 * UAREA_ESAMENODE, UAREA_EBADNODE, UAREA_ENOCONTAINER, UAREA_EBUSY. */
UAREA_API int migrate_daemon_start(migrate_daemon *d, int dst);
/* The same in a given migrate_mode, for this migration only, whatever the
 * config says (-1: the config's): MIGRATE_MODE_STOP_COPY (no pre-copy),
 * _PRECOPY, _POSTCOPY (freeze at once, the heap after), _PRE_POST. A mode
 * the container's ops cannot do goes as far as they allow (no
 * precopy_begin: no pre-copy; no post-copy ops: no post-copy), as with the
 * config, and migrate_stats.mode says which way it went. UAREA_EINVAL for
 * another value. */
UAREA_API int migrate_daemon_start_mode(migrate_daemon *d, int dst, int mode);
/* Asks node `a` to move its container to node `b` (a controller's request);
 * a's answer arrives later: migrate_daemon_ctrl_result(). */
UAREA_API int migrate_daemon_request(migrate_daemon *d, int a, int b);
/* The answer to this daemon's last controller request: 0 or an error from the
 * migration, UAREA_EAGAIN while it has not come, UAREA_ESTATE if none asked,
 * UAREA_ETIMEDOUT when no answer came in 6 (retries + 1) timeouts (it was
 * lost: whether the container moved is unknown; a new request may go). */
UAREA_API int migrate_daemon_ctrl_result(migrate_daemon *d, int *node);
/* Statistics of the last finished migration this node took part in
 * (UAREA_EAGAIN: none yet). Returns its result (0 or why it aborted). */
UAREA_API int migrate_daemon_last(const migrate_daemon *d, migrate_stats *st);
/* 1 while a migration is in progress on this node. */
UAREA_API int migrate_daemon_busy(const migrate_daemon *d);

/* 1 while an idle daemon expects a REQUEST (a PREPARE came less than
 * MIGRATE_ALERT_NS ago): its driver should keep stepping rather than sleep
 * in migrate_daemon_wait(). 0 otherwise. */
UAREA_API int migrate_daemon_alert(const migrate_daemon *d);
/* 1 when the daemon has nothing to do until a message comes: no migration
 * in progress, nothing waiting to be sent, no alert. Its driver may then
 * sleep in migrate_daemon_wait(). */
UAREA_API int migrate_daemon_quiet(const migrate_daemon *d);
/* 1 while a post-copy's pages are being served (source, S_POST) or
 * awaited (destination, R_POST): the container runs on the destination
 * and depends on both nodes. */
UAREA_API int migrate_daemon_postcopy(const migrate_daemon *d);

/* Sets the trace hook (NULL: none); see migrate_point. */
UAREA_API void migrate_daemon_trace(migrate_daemon *d, migrate_trace_fn fn, void *arg);
/* A trace point's name ("src.frozen", "dst.verified", ...); "?" if none. */
UAREA_API const char *migrate_point_name(int p);

/* Message codec, public for tests and tools. */
#define MIGRATE_MSG_SIZE 64u
UAREA_STATIC_ASSERT(MIGRATE_MSG_SIZE <= NOC_MAILBOX_MSG_SIZE, "messages must fit a mailbox");
enum {
    MIGRATE_OP_REQUEST = 1, MIGRATE_OP_ACCEPT, MIGRATE_OP_REJECT, MIGRATE_OP_VERIFIED,
    MIGRATE_OP_NACK, MIGRATE_OP_COMMIT, MIGRATE_OP_ABORT, MIGRATE_OP_MOVE,
    MIGRATE_OP_RESULT, MIGRATE_OP_PREPARE,
    MIGRATE_OP_FETCH,     /* post-copy, destination: send pages stamp .. stamp + size - 1 first */
    MIGRATE_OP_DONE       /* post-copy, destination: every page is in; drop the copy */
};
UAREA_API void migrate_msg_encode(const migrate_msg *m, uint8_t out[MIGRATE_MSG_SIZE]);
/* UAREA_EPROTO if the bytes are not a valid message (magic, version, CRC). */
UAREA_API int migrate_msg_decode(migrate_msg *m, const uint8_t *in, size_t len);
/* Post-copy page packets: seal writes the header of h and the CRC over it
 * and the h->count * h->page_size page bytes that follow it at
 * pkt + MIGRATE_PAGES_HDR; check reads the header of a packet of len bytes
 * and, when `crc` is 1, verifies it: 0, UAREA_EPROTO (not a packet, or a
 * length that does not match) or UAREA_EIMGCRC (damaged). */
UAREA_API void migrate_pages_seal(void *pkt, const migrate_pages_hdr *h);
UAREA_API int migrate_pages_check(const void *pkt, size_t len, migrate_pages_hdr *h, int crc);

UAREA_EXTERN_C_END

#endif /* MIGRATE_DAEMON_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__DAEMON_IMPLEMENTED)
#define MIGRATE__DAEMON_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#define MIGRATE__MAGIC 0x474d4155u /* "UAMG" little-endian */
#define MIGRATE__VERSION 1u

static int migrate__node16(uint32_t v) { return v == 0xffffu ? -1 : (int)v; }

/* Wire layout (little-endian, 64 bytes):
 *  0 magic u32 | 4 version u8 | 5 op u8 | 6 from u16 | 8 mid u32 | 12 src u16
 * 14 dst u16 | 16 ctrl u16 | 18 flags u16 | 20 status i32 | 24 size u64
 * 32 layout_fp u64 | 40 binary_fp u64 | 48 stamp u64 | 56 zero_pages u32
 * 60 crc32c of bytes 0..59 */
UAREA_API void migrate_msg_encode(const migrate_msg *m, uint8_t out[MIGRATE_MSG_SIZE])
{
    UAREA_MEMSET(out, 0, MIGRATE_MSG_SIZE);
    migrate__le_put32(out + 0, MIGRATE__MAGIC);
    out[4] = (uint8_t)MIGRATE__VERSION;
    out[5] = m->op;
    migrate__le_put16(out + 6, (uint32_t)m->from & 0xffffu);
    migrate__le_put32(out + 8, m->mid);
    migrate__le_put16(out + 12, (uint32_t)m->src & 0xffffu);
    migrate__le_put16(out + 14, (uint32_t)m->dst & 0xffffu);
    migrate__le_put16(out + 16, (uint32_t)m->ctrl & 0xffffu);
    migrate__le_put16(out + 18, m->flags);
    migrate__le_put32(out + 20, (uint32_t)m->status);
    migrate__le_put64(out + 24, m->size);
    migrate__le_put64(out + 32, m->layout_fp);
    migrate__le_put64(out + 40, m->binary_fp);
    migrate__le_put64(out + 48, m->stamp);
    migrate__le_put32(out + 56, m->zero_pages);
    migrate__le_put32(out + 60, migrate_crc32c(0, out, 60));
}

UAREA_API int migrate_msg_decode(migrate_msg *m, const uint8_t *in, size_t len)
{
    if (m == NULL || in == NULL) return UAREA_EINVAL;
    if (len < MIGRATE_MSG_SIZE) return UAREA_EPROTO;
    if (migrate__le_get32(in) != MIGRATE__MAGIC || in[4] != MIGRATE__VERSION) return UAREA_EPROTO;
    if (migrate__le_get32(in + 60) != migrate_crc32c(0, in, 60)) return UAREA_EPROTO;
    if (in[5] < MIGRATE_OP_REQUEST || in[5] > MIGRATE_OP_DONE) return UAREA_EPROTO;
    m->op = in[5];
    m->from = migrate__node16(migrate__le_get16(in + 6));
    m->mid = migrate__le_get32(in + 8);
    m->src = migrate__node16(migrate__le_get16(in + 12));
    m->dst = migrate__node16(migrate__le_get16(in + 14));
    m->ctrl = migrate__node16(migrate__le_get16(in + 16));
    m->flags = (uint16_t)migrate__le_get16(in + 18);
    m->status = (int32_t)migrate__le_get32(in + 20);
    m->size = migrate__le_get64(in + 24);
    m->layout_fp = migrate__le_get64(in + 32);
    m->binary_fp = migrate__le_get64(in + 40);
    m->stamp = migrate__le_get64(in + 48);
    m->zero_pages = migrate__le_get32(in + 56);
    return 0;
}

#define MIGRATE__PAGES_MAGIC 0x47504155u /* "UAPG" little-endian */

static uint32_t migrate__pages_crc(const uint8_t *pkt, size_t bytes)
{
    uint8_t h[MIGRATE_PAGES_HDR];
    UAREA_MEMCPY(h, pkt, MIGRATE_PAGES_HDR);
    migrate__le_put32(h + 24, 0);
    return migrate_crc32c(migrate_crc32c(0, h, MIGRATE_PAGES_HDR), pkt + MIGRATE_PAGES_HDR, bytes);
}

UAREA_API void migrate_pages_seal(void *pkt, const migrate_pages_hdr *h)
{
    uint8_t *p = (uint8_t *)pkt;
    migrate__le_put32(p + 0, MIGRATE__PAGES_MAGIC);
    migrate__le_put32(p + 4, h->mid);
    migrate__le_put32(p + 8, h->first);
    migrate__le_put32(p + 12, h->count);
    migrate__le_put32(p + 16, h->page_size);
    migrate__le_put32(p + 20, h->flags);
    migrate__le_put32(p + 24, 0);
    migrate__le_put32(p + 28, 0);
    migrate__le_put32(p + 24, migrate__pages_crc(p, (size_t)h->count * h->page_size));
}

UAREA_API int migrate_pages_check(const void *pkt, size_t len, migrate_pages_hdr *h, int crc)
{
    const uint8_t *p = (const uint8_t *)pkt;
    uint64_t bytes;
    if (p == NULL || h == NULL) return UAREA_EINVAL;
    if (len < MIGRATE_PAGES_HDR || migrate__le_get32(p) != MIGRATE__PAGES_MAGIC) return UAREA_EPROTO;
    h->mid = migrate__le_get32(p + 4);
    h->first = migrate__le_get32(p + 8);
    h->count = migrate__le_get32(p + 12);
    h->page_size = migrate__le_get32(p + 16);
    h->flags = migrate__le_get32(p + 20);
    bytes = (uint64_t)h->count * h->page_size;
    if (h->count == 0 || h->page_size == 0 || bytes != (uint64_t)(len - MIGRATE_PAGES_HDR))
        return UAREA_EPROTO;
    if (crc && migrate__le_get32(p + 24) != migrate__pages_crc(p, (size_t)bytes)) return UAREA_EIMGCRC;
    return 0;
}

/* ---- helpers ---- */
static uint64_t migrate__now(migrate_daemon *d) { return noc_clock_ns(d->t); }

static void migrate__trace(migrate_daemon *d, migrate_point p)
{
    if (d->trace != NULL) d->trace(d->trace_arg, p, d->mig.mid, d->mig.peer, (int)d->mig.phase);
}

static void migrate__arm(migrate_daemon *d)
{
    d->mig.deadline = migrate__now(d) + (uint64_t)d->cfg.timeout_ns;
}

/* The time k (retries + 1) timeouts from now, saturating. */
static uint64_t migrate__after_retries(migrate_daemon *d, unsigned k)
{
    uint64_t t = (uint64_t)d->cfg.timeout_ns, n = (uint64_t)k * ((uint64_t)d->cfg.retries + 1u);
    uint64_t span = t > UINT64_MAX / n ? UINT64_MAX : t * n, now = migrate__now(d);
    return span > UINT64_MAX - now ? UINT64_MAX : now + span;
}

/* Deadline in as many timeouts as a peer's retries take. */
static void migrate__arm_retries(migrate_daemon *d) { d->mig.deadline = migrate__after_retries(d, 1); }

static int migrate__expired(migrate_daemon *d) { return migrate__now(d) >= d->mig.deadline; }

static int migrate__valid_node(const migrate_daemon *d, int n) { return n >= 0 && n < d->nodes; }

/* 1 if the container offers every post-copy op. */
static int migrate__has_post(const migrate_daemon *d)
{
    const migrate_container_ops *o = d->ops;
    return o->pages_produce != NULL && o->postcopy_activate != NULL && o->pages_install != NULL &&
           o->pages_wanted != NULL && o->pages_missing != NULL && o->postcopy_fail != NULL;
}

/* The mode of the image in progress (migrate_mode). */
static int migrate__mode(const migrate_daemon *d)
{
    if (d->mig.lazy) return d->mig.phase == MIGRATE_PHASE_DELTA ? MIGRATE_MODE_PRE_POST
                                                                : MIGRATE_MODE_POSTCOPY;
    return d->mig.phase == MIGRATE_PHASE_DELTA ? MIGRATE_MODE_PRECOPY : MIGRATE_MODE_STOP_COPY;
}

/* Slot k of the block (the whole block when it is not split: k is 0). */
static uint8_t *migrate__slot(migrate_daemon *d, unsigned k)
{
    return d->xfer.block + (size_t)k * d->xfer.slot;
}

/* The slot after k: a split block's slots are used in turn, so that a slot
 * is written again only after the others (docs/protocol.md, "The image on
 * the portal"). */
static unsigned migrate__slot_next(const migrate_daemon *d, unsigned k)
{
    return k + 1u < d->xfer.slots ? k + 1u : 0u;
}

/* Queue a message for `node`. Returns 0, or UAREA_ENOMEM if the outbox is full
 * (the message is then lost, as on a congested network: the protocol retries). */
static int migrate__send(migrate_daemon *d, int node, migrate_msg *m)
{
    unsigned slot;
    if (!migrate__valid_node(d, node)) return UAREA_EBADNODE;
    if (d->outbox.count == MIGRATE_OUTBOX) return UAREA_ENOMEM;
    m->from = d->self;
    slot = (d->outbox.head + d->outbox.count) % MIGRATE_OUTBOX;
    d->outbox.q[slot].node = node;
    migrate_msg_encode(m, d->outbox.q[slot].buf);
    d->outbox.count++;
    return 0;
}

static void migrate__reply(migrate_daemon *d, int node, uint8_t op, uint32_t mid,
                           int src, int dst, int32_t status)
{
    migrate_msg m;
    UAREA_MEMSET(&m, 0, sizeof m);
    m.op = op; m.mid = mid; m.src = src; m.dst = dst; m.ctrl = -1; m.status = status;
    (void)migrate__send(d, node, &m);
}

/* ACCEPT of the image this destination takes (its number in stamp). */
static void migrate__send_accept(migrate_daemon *d, int node, uint32_t mid, int src)
{
    migrate_msg m;
    UAREA_MEMSET(&m, 0, sizeof m);
    m.op = MIGRATE_OP_ACCEPT; m.mid = mid; m.src = src; m.dst = d->self; m.ctrl = -1;
    m.stamp = d->mig.round;
    (void)migrate__send(d, node, &m);
}

static void migrate__remember(migrate_daemon *d, uint32_t mid, int peer, migrate_role role,
                              int result)
{
    unsigned i = d->history.next++ % MIGRATE_HISTORY;
    d->history.entry[i].mid = mid;
    d->history.entry[i].peer = peer;
    d->history.entry[i].role = role;
    d->history.entry[i].result = result;
}

/* Outcome of a finished migration: 1 found (result in *res), 0 unknown. */
static int migrate__recall(const migrate_daemon *d, uint32_t mid, int peer, migrate_role role,
                           int *res)
{
    unsigned i;
    for (i = 0; i < MIGRATE_HISTORY; i++)
        if (d->history.entry[i].role == role && d->history.entry[i].mid == mid &&
            d->history.entry[i].peer == peer && mid != 0) {
            *res = d->history.entry[i].result;
            return 1;
        }
    return 0;
}

static void migrate__cancel_portal(migrate_daemon *d, int h)
{
    if (d->xfer.inflight && h >= 0) (void)noc_portal_cancel(d->t, h);
    d->xfer.inflight = 0;
}

static void migrate__finish(migrate_daemon *d, migrate_role role, int result)
{
    uint64_t now = migrate__now(d);
    d->stats.cur.result = result;
    d->stats.cur.total_ns = now - d->mig.t_request;
    d->stats.last = d->stats.cur;
    d->stats.have_last = 1;
    migrate__remember(d, d->mig.mid, d->mig.peer, role, result);
    /* RESULT names the MOVE */
    if (role == MIGRATE_ROLE_SOURCE && d->mig.ctrl >= 0 && d->mig.ctrl != d->self)
        migrate__reply(d, d->mig.ctrl, MIGRATE_OP_RESULT, d->ctrl.move_req, d->self, d->mig.peer,
                       result);
    else if (role == MIGRATE_ROLE_SOURCE && d->mig.ctrl == d->self) {
        d->ctrl.status = result; d->ctrl.node = d->self; d->ctrl.pending = 0;
    }
    if (d->xfer.out_portal >= 0) {
        (void)noc_portal_close(d->t, d->xfer.out_portal);
        d->xfer.out_portal = -1;
    }
    d->mig.state = MIGRATE_IDLE;
    d->xfer.inflight = 0;
    d->mig.phase = MIGRATE_PHASE_ONE;
    d->mig.lazy = 0;
}

/* Source, an abort's end: the container runs here again. */
static void migrate__src_aborted(migrate_daemon *d, int err)
{
    migrate__cancel_portal(d, d->xfer.out_portal);   /* a write left out in S_ABORT */
    (void)d->ops->unfreeze(d->ctx);
    migrate__trace(d, MIGRATE_PT_SRC_ABORTED);
    migrate__finish(d, MIGRATE_ROLE_SOURCE, err);
}

/* Source gives up: the destination discards, the source runs on. Once image
 * bytes went out (S_SEND, S_VERIFY) the destination may hold a complete copy,
 * and it would run that copy if it later learned of the source's death: so,
 * unless the destination already said it holds nothing (`confirmed`: its
 * REJECT or NACK, or its death), the source stays frozen in S_ABORT, repeating
 * ABORT until the destination confirms with NACK or is known dead. */
static void migrate__src_abort(migrate_daemon *d, int err, int confirmed)
{
    /* the destination knows of it */
    int told = d->mig.state != MIGRATE_S_FREEZE || d->mig.phase == MIGRATE_PHASE_DELTA;
    /* A staged pre-copy image never runs without the delta and COMMIT: the
     * destination's copy cannot be complete, nothing to wait for. */
    if (d->mig.phase == MIGRATE_PHASE_PRECOPY) confirmed = 1;
    if (err >= 0) err = UAREA_EABORTED;
    if (!confirmed && (d->mig.state == MIGRATE_S_SEND || d->mig.state == MIGRATE_S_VERIFY)) {
        /* A write still out is left to end (the destination takes it, or
         * withdraws its read when it discards on ABORT); cancelled when the
         * abort ends. Cancelling it now could wait for a destination that
         * has stopped taking anything (a transport that cannot take a
         * matched send back, noc_mpi), before ABORT is even out. */
        d->mig.abort_err = err;
        d->mig.state = MIGRATE_S_ABORT;
        migrate__reply(d, d->mig.peer, MIGRATE_OP_ABORT, d->mig.mid, d->self, d->mig.peer, err);
        migrate__arm(d);
        migrate__trace(d, MIGRATE_PT_SRC_ABORTING);
        return;
    }
    migrate__cancel_portal(d, d->xfer.out_portal);
    if (told && d->mig.state != MIGRATE_S_ABORT)
        migrate__reply(d, d->mig.peer, MIGRATE_OP_ABORT, d->mig.mid, d->self, d->mig.peer, err);
    migrate__src_aborted(d, err);
}

static void migrate__discard(migrate_daemon *d)
{
    (void)d->ops->discard(d->ctx);
    migrate__trace(d, MIGRATE_PT_DST_DISCARDED);
}

/* Destination gives up: discard what arrived, tell the source why. */
static void migrate__dst_fail(migrate_daemon *d, int err, int tell)
{
    migrate__cancel_portal(d, d->xfer.in_portal);
    migrate__discard(d);
    if (tell) migrate__reply(d, d->mig.peer, MIGRATE_OP_NACK, d->mig.mid, d->mig.peer, d->self, err);
    migrate__finish(d, MIGRATE_ROLE_DEST, err);
}

static void migrate__begin_stats(migrate_daemon *d, int src, int dst)
{
    UAREA_MEMSET(&d->stats.cur, 0, sizeof d->stats.cur);
    d->stats.cur.mid = d->mig.mid;
    d->stats.cur.src = src;
    d->stats.cur.dst = dst;
    d->mig.t_request = migrate__now(d);
    d->mig.t_freeze_src = d->mig.t_request;        /* without pre-copy the freeze starts at once */
}

/* ---- source role ---- */
static void migrate__send_request(migrate_daemon *d);
static int migrate__src_post(migrate_daemon *d);
static int migrate__dst_post(migrate_daemon *d);
static void migrate__send_commit(migrate_daemon *d);

/* Source: a fresh image transfer (the first of a migration, or the delta). */
static void migrate__src_reset(migrate_daemon *d)
{
    d->mig.tries = 0;
    d->mig.done = 0;
    d->xfer.inflight = 0;
    d->xfer.ready = 0;
    d->xfer.no_inplace = !MIGRATE_INPLACE;
    d->xfer.next = MIGRATE_XFER_FIRST < d->xfer.slot ? MIGRATE_XFER_FIRST : d->xfer.slot;
}

/* Source: the next transfer will be twice this one, up to a slot. */
static void migrate__xfer_grow(migrate_daemon *d)
{
    d->xfer.next = d->xfer.next > d->xfer.slot / 2u ? d->xfer.slot : d->xfer.next * 2u;
}

static int migrate__start(migrate_daemon *d, int dst, int ctrl, int mode)
{
    if (mode < -1 || mode > MIGRATE_MODE_PRE_POST) return UAREA_EINVAL;
    if (!migrate__valid_node(d, dst)) return UAREA_EBADNODE;
    if (dst == d->self) return UAREA_ESAMENODE;
    if (d->mig.state != MIGRATE_IDLE) return UAREA_EBUSY;
    if (!d->ops->has_container(d->ctx)) return UAREA_ENOCONTAINER;
    if (d->ops->check_dst != NULL) {
        int rc = d->ops->check_dst(d->ctx, dst);
        if (rc < 0) return rc;
    }
    if ((++d->mig.next_mid & 0xffffffu) == 0) d->mig.next_mid++;   /* id 0 is never used */
    d->mig.mid = ((uint32_t)(d->self & 0xff) << 24) | (d->mig.next_mid & 0xffffffu);
    d->mig.peer = dst;
    d->mig.ctrl = ctrl;
    migrate__src_reset(d);
    migrate__begin_stats(d, d->self, dst);
    d->mig.lazy = 0;
    if (mode < 0) {
        d->mig.no_pre = d->cfg.no_precopy;
        d->mig.post = d->cfg.postcopy;
    } else {
        d->mig.no_pre = mode == MIGRATE_MODE_STOP_COPY || mode == MIGRATE_MODE_POSTCOPY;
        d->mig.post = mode == MIGRATE_MODE_POSTCOPY ? 1 : mode == MIGRATE_MODE_PRE_POST ? 2 : 0;
    }
    d->mig.state = MIGRATE_S_FREEZE;
    d->mig.phase = MIGRATE_PHASE_ONE;
    d->mig.round = 0;
    migrate__arm(d);
    migrate__trace(d, MIGRATE_PT_SRC_START);
    /* wake the destination while this side freezes */
    migrate__reply(d, dst, MIGRATE_OP_PREPARE, d->mig.mid, d->self, dst, 0);
    if (d->ops->precopy_begin != NULL && !d->mig.no_pre &&
        !(d->mig.post == 1 && migrate__has_post(d))) {
        /* Pre-copy: the first image goes out while the container runs. */
        UAREA_MEMSET(&d->mig.offer, 0, sizeof d->mig.offer);
        d->mig.offer.src = d->self;
        d->mig.offer.mid = d->mig.mid;
        d->mig.offer.flags = MIGRATE_OFFER_PRE;
        if (d->ops->precopy_begin(d->ctx, &d->mig.offer) == 0 && d->mig.offer.size != 0) {
            d->mig.phase = MIGRATE_PHASE_PRECOPY;
            d->mig.round = 1;
            d->mig.size = d->mig.offer.size;
            d->mig.first = d->mig.size;
            d->mig.state = MIGRATE_S_REQUEST;
            migrate__send_request(d);
        }
    }
    return 0;
}

/* Source: the pre-copy image (round d->mig.round) is staged there; the
 * portal of its transfer is done with. */
static void migrate__src_close_portal(migrate_daemon *d)
{
    if (d->xfer.out_portal >= 0) {
        (void)noc_portal_close(d->t, d->xfer.out_portal);
        d->xfer.out_portal = -1;
    }
}

/* Source: whether another pre-copy round goes, by migrate_config's policy,
 * from the size of the last round (`last`) and of the next: 0, and the next
 * round is described in d->mig.offer; or why the rounds stop (a
 * migrate_precopy_stop). The round limit is checked before the container
 * is asked; the others need the next round's size. A round described and
 * not sent goes in the delta (precopy_next). */
static int migrate__src_next_round(migrate_daemon *d, uint64_t last)
{
    int max = d->cfg.precopy_rounds > 0 ? d->cfg.precopy_rounds : MIGRATE_PRECOPY_ROUNDS;
    uint64_t small = d->cfg.precopy_small_bytes ? d->cfg.precopy_small_bytes
                                                : (uint64_t)MIGRATE_PRECOPY_SMALL;
    uint64_t pct = d->cfg.precopy_shrink_pct ? d->cfg.precopy_shrink_pct
                                             : (uint64_t)MIGRATE_PRECOPY_SHRINK_PCT;
    uint64_t budget = d->cfg.precopy_budget_bytes, spent = d->stats.cur.precopy_bytes;
    migrate_offer next;
    if (budget == 0)
        budget = d->mig.first > UINT64_MAX / MIGRATE_PRECOPY_BUDGET
                     ? UINT64_MAX : d->mig.first * MIGRATE_PRECOPY_BUDGET;
    if (d->ops->precopy_next == NULL || d->mig.round >= (uint32_t)max) return MIGRATE_PRECOPY_STOP_LIMIT;
    UAREA_MEMSET(&next, 0, sizeof next);
    next.src = d->self;
    next.mid = d->mig.mid;
    next.flags = MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA;
    if (d->ops->precopy_next(d->ctx, &next) < 0) return MIGRATE_PRECOPY_STOP_FAILED;
    if (next.size <= small) return MIGRATE_PRECOPY_STOP_SMALL;
    /* next * 100 >= last * pct, without overflow (a product past 2^64 of
     * last * pct is more than any next * 100 can be) */
    if (last <= UINT64_MAX / pct &&
        (next.size > UINT64_MAX / 100u || next.size * 100u >= last * pct))
        return MIGRATE_PRECOPY_STOP_NOT_SHRINKING;
    if (next.size > budget || spent > budget - next.size) return MIGRATE_PRECOPY_STOP_BUDGET;
    d->mig.offer = next;
    return 0;
}

/* Source: the destination staged pre-copy round d->mig.round. Send the next
 * round, the container still running, or freeze and send what changed
 * since the last round (the delta). */
static void migrate__src_staged(migrate_daemon *d)
{
    uint64_t last = d->mig.size;
    int stop;
    d->stats.cur.precopy_bytes += last;
    d->stats.cur.precopy_rounds = d->mig.round;
    migrate__src_close_portal(d);
    migrate__src_reset(d);
    stop = migrate__src_next_round(d, last);
    if (stop == 0) {
        d->mig.round++;
        d->mig.size = d->mig.offer.size;
        d->mig.state = MIGRATE_S_REQUEST;
        migrate__send_request(d);
        return;
    }
    d->stats.cur.precopy_stop = stop;
    d->mig.round++;                            /* the delta's number */
    d->mig.phase = MIGRATE_PHASE_DELTA;
    d->mig.state = MIGRATE_S_FREEZE;
    d->mig.t_freeze_src = migrate__now(d);     /* the freeze starts now */
    migrate__arm(d);
}

static void migrate__send_request(migrate_daemon *d)
{
    migrate_msg m;
    UAREA_MEMSET(&m, 0, sizeof m);
    m.op = MIGRATE_OP_REQUEST;
    m.mid = d->mig.mid; m.src = d->self; m.dst = d->mig.peer; m.ctrl = -1;
    m.size = d->mig.offer.size;
    m.layout_fp = d->mig.offer.layout_fp;
    m.binary_fp = d->mig.offer.binary_fp;
    m.flags = (uint16_t)d->mig.offer.flags;
    m.stamp = d->mig.round;
    m.zero_pages = d->mig.offer.pages;         /* post-copy: the pages that follow */
    (void)migrate__send(d, d->mig.peer, &m);
    migrate__arm(d);
    migrate__trace(d, MIGRATE_PT_SRC_REQUEST);
}

/* Source: make the next transfer straight into the read the destination
 * posted, where the transport gives access to it (noc_portal_wbuf): one copy
 * from the container to the destination's block. 1 sent; UAREA_EAGAIN (no
 * read posted now: this transfer goes through the block and awrite, which
 * also serves a destination that reads in place); UAREA_ENOSYS (never, for
 * this migration); or an error (the claim, if any, is cancelled). */
static int migrate__src_inplace(migrate_daemon *d)
{
    void *buf;
    size_t cap, want;
    long n;
    int rc;
    if (d->xfer.no_inplace) return UAREA_ENOSYS;
    if (d->xfer.ready != 0 || d->xfer.inflight) return UAREA_EAGAIN;
    rc = noc_portal_wbuf(d->t, d->xfer.out_portal, &buf, &cap);
    if (rc == UAREA_ENOTALLOWED) return UAREA_EAGAIN;
    if (rc < 0) return rc;
    want = d->xfer.next;
    if ((uint64_t)want > d->mig.size - d->mig.done) want = (size_t)(d->mig.size - d->mig.done);
    if (cap < want) {
        (void)noc_portal_cancel(d->t, d->xfer.out_portal);
        return UAREA_EMSGSIZE;
    }
    n = d->ops->image_produce(d->ctx, buf, want);
    if (n < 0 || (size_t)n != want) {
        (void)noc_portal_cancel(d->t, d->xfer.out_portal);
        return n < 0 ? (int)n : UAREA_EIMGTRUNC;
    }
    rc = noc_portal_wdone(d->t, d->xfer.out_portal, want);
    if (rc < 0) return rc;
    migrate__xfer_grow(d);
    d->mig.done += want;
    d->stats.cur.inplace_bytes += want;
    migrate__arm(d);
    migrate__trace(d, MIGRATE_PT_SRC_BLOCK);
    return 1;
}

/* Source: fill the next transfer's slot with image bytes, unless one is
 * already filled, the image is all out, or (one buffer) a write is out.
 * 1 filled, 0 nothing to do, or an error. */
static int migrate__src_fill(migrate_daemon *d)
{
    uint64_t produced = d->mig.done + d->xfer.inflight + d->xfer.ready;
    size_t want = d->xfer.next;
    long n;
    if (d->xfer.ready != 0 || produced >= d->mig.size || (d->xfer.inflight && !d->xfer.split)) return 0;
    if ((uint64_t)want > d->mig.size - produced) want = (size_t)(d->mig.size - produced);
    d->xfer.ready_buf = d->xfer.fill;       /* not the one in flight: two slots at most are used */
    d->xfer.fill = migrate__slot_next(d, d->xfer.fill);
    n = d->ops->image_produce(d->ctx, migrate__slot(d, d->xfer.ready_buf), want);
    if (n < 0) return (int)n;
    if ((size_t)n != want) return UAREA_EIMGTRUNC;
    d->xfer.ready = want;
    migrate__xfer_grow(d);
    return 1;
}

/* Source, S_FREEZE: the container is frozen (or not yet); then the image
 * is begun and REQUEST goes out. */
static int migrate__src_frozen(migrate_daemon *d)
{
    int rc = d->ops->freeze(d->ctx);
    if (rc == UAREA_EAGAIN) {
        if (migrate__expired(d)) { migrate__src_abort(d, UAREA_ETIMEDOUT, 1); return 1; }
        return 0;
    }
    if (rc < 0) { migrate__src_abort(d, rc, 1); return 1; }
    d->mig.t_frozen = migrate__now(d);
    d->stats.cur.freeze_ns = d->mig.t_frozen - d->mig.t_freeze_src;
    UAREA_MEMSET(&d->mig.offer, 0, sizeof d->mig.offer);
    d->mig.offer.src = d->self;
    d->mig.offer.mid = d->mig.mid;
    d->mig.offer.flags = d->mig.phase == MIGRATE_PHASE_DELTA ? MIGRATE_OFFER_DELTA : 0u;
    if (d->mig.post != 0 && migrate__has_post(d)) d->mig.offer.flags |= MIGRATE_OFFER_POST;
    rc = d->ops->image_begin(d->ctx, &d->mig.offer);
    if (rc < 0) { migrate__src_abort(d, rc, 1); return 1; }
    /* post-copy only when pages were left out */
    d->mig.lazy = (d->mig.offer.flags & MIGRATE_OFFER_POST) != 0 && d->mig.offer.pages != 0;
    if (!d->mig.lazy) {
        d->mig.offer.flags &= ~MIGRATE_OFFER_POST;
        d->mig.offer.pages = 0;
    }
    d->stats.cur.mode = migrate__mode(d);
    d->mig.size = d->mig.offer.size;
    d->stats.cur.bytes = d->mig.size;
    migrate__trace(d, MIGRATE_PT_SRC_FROZEN);
    d->mig.state = MIGRATE_S_REQUEST;
    migrate__send_request(d);
    return 1;
}

/* Source, S_SEND: collect the write that is out (filling another slot
 * meanwhile), then send the next transfer, or go to S_VERIFY after the
 * last. */
static int migrate__src_send(migrate_daemon *d)
{
    int rc;
    if (d->xfer.inflight) {
        rc = noc_portal_poll(d->t, d->xfer.out_portal);
        if (rc == UAREA_EAGAIN) {
            /* while the write is out, fill another slot */
            rc = migrate__src_fill(d);
            if (rc < 0) { migrate__src_abort(d, rc, 0); return 1; }
            if (rc > 0) return 1;
            if (migrate__expired(d)) { migrate__src_abort(d, UAREA_ETIMEDOUT, 0); return 1; }
            return 0;
        }
        if (rc < 0) {
            d->xfer.inflight = 0;
            migrate__src_abort(d, rc, rc == UAREA_EPEERGONE);
            return 1;
        }
        d->mig.done += d->xfer.inflight;
        d->xfer.inflight = 0;
        migrate__trace(d, MIGRATE_PT_SRC_BLOCK);
    }
    if (d->mig.done >= d->mig.size) {
        /* the destination verifies, then retransmits VERIFIED once per
         * timeout: leave room for several of them */
        d->mig.state = MIGRATE_S_VERIFY;
        migrate__arm_retries(d);
        migrate__trace(d, MIGRATE_PT_SRC_SENT);
        return 1;
    }
    rc = migrate__src_inplace(d);
    if (rc == 1) return 1;
    if (rc == UAREA_ENOSYS) d->xfer.no_inplace = 1;
    else if (rc != UAREA_EAGAIN) { migrate__src_abort(d, rc, rc == UAREA_EPEERGONE); return 1; }
    rc = migrate__src_fill(d);
    if (rc < 0) { migrate__src_abort(d, rc, 0); return 1; }
    rc = noc_portal_awrite(d->t, d->xfer.out_portal, migrate__slot(d, d->xfer.ready_buf),
                           d->xfer.ready);
    if (rc < 0) { migrate__src_abort(d, rc, rc == UAREA_EPEERGONE); return 1; }
    d->xfer.inflight = d->xfer.ready;
    d->xfer.ready = 0;
    migrate__arm(d);
    return 1;
}

static int migrate__src_step(migrate_daemon *d)
{
    switch (d->mig.state) {
    case MIGRATE_S_FREEZE:
        return migrate__src_frozen(d);
    case MIGRATE_S_REQUEST:
        if (!migrate__expired(d)) return 0;
        if (++d->mig.tries > d->cfg.retries) { migrate__src_abort(d, UAREA_ETIMEDOUT, 1); return 1; }
        migrate__send_request(d);
        return 1;
    case MIGRATE_S_SEND:
        return migrate__src_send(d);
    case MIGRATE_S_VERIFY:
        if (!migrate__expired(d)) return 0;
        migrate__src_abort(d, UAREA_ETIMEDOUT, 0);
        return 1;
    case MIGRATE_S_POST:
        return migrate__src_post(d);
    case MIGRATE_S_ABORT:
        if (d->xfer.inflight && noc_portal_poll(d->t, d->xfer.out_portal) != UAREA_EAGAIN) {
            d->xfer.inflight = 0;      /* the write left out has ended */
            return 1;
        }
        if (!migrate__expired(d)) return 0;
        migrate__reply(d, d->mig.peer, MIGRATE_OP_ABORT, d->mig.mid, d->self, d->mig.peer,
                       d->mig.abort_err);
        migrate__arm(d);
        return 1;
    default:
        return 0;
    }
}

/* ---- destination role ---- */
static int migrate__post_read(migrate_daemon *d)
{
    size_t want = d->xfer.slot;
    int rc;
    if ((uint64_t)want > d->mig.size - d->mig.done) want = (size_t)(d->mig.size - d->mig.done);
    rc = noc_portal_allow(d->t, d->xfer.in_portal, d->mig.peer, d->cfg.portal_out_port);
    if (rc < 0) return rc;
    if (!d->xfer.no_rbuf) {
        /* read in place: the allow is all; the source's data is taken
         * where it lies once its write is out (R_RECV) */
        d->xfer.inflight = want;
        migrate__arm(d);
        return 0;
    }
    rc = noc_portal_aread(d->t, d->xfer.in_portal, migrate__slot(d, d->xfer.rbuf), want);
    if (rc < 0) return rc;
    d->xfer.inflight = want;
    migrate__arm(d);
    return 0;
}

/* Destination: take the image that REQUEST m offers (d->mig.offer and the
 * statistics are set up; rc says why not before asking ops->accept, or 0)
 * and post the first read, or refuse. A refused round or delta discards the
 * staged image under it. */
static void migrate__dst_take(migrate_daemon *d, const migrate_msg *m, int rc)
{
    int staged = d->mig.state == MIGRATE_R_STAGED;
    d->mig.round = (uint32_t)m->stamp;
    d->mig.size = m->size;
    d->mig.done = 0;
    d->xfer.inflight = 0;
    d->xfer.rbuf = 0;
    d->xfer.no_rbuf = !MIGRATE_RBUF;
    d->stats.cur.bytes = m->size;
    d->mig.offer.size = m->size;
    d->mig.offer.layout_fp = m->layout_fp; d->mig.offer.binary_fp = m->binary_fp;
    d->mig.offer.pages = (m->flags & MIGRATE_OFFER_POST) ? m->zero_pages : 0u;
    d->mig.lazy = d->mig.offer.pages != 0;
    if (!d->mig.lazy) d->mig.offer.flags &= ~MIGRATE_OFFER_POST;
    /* a post-copy image needs the post-copy ops here too; pre-copy rounds
     * are never post-copy */
    if (rc == 0 && d->mig.lazy && (!migrate__has_post(d) || (m->flags & MIGRATE_OFFER_PRE)))
        rc = UAREA_ENOSYS;
    if (rc == 0) rc = d->ops->accept(d->ctx, &d->mig.offer);
    if (rc < 0) {
        migrate__reply(d, m->from, MIGRATE_OP_REJECT, m->mid, m->src, d->self, rc);
        if (staged) migrate__discard(d);
        migrate__finish(d, MIGRATE_ROLE_DEST, rc);
        return;
    }
    /* over a staged image: a further round (stays PRECOPY) or the delta */
    if (staged && !(m->flags & MIGRATE_OFFER_PRE)) d->mig.phase = MIGRATE_PHASE_DELTA;
    d->stats.cur.mode = d->mig.phase == MIGRATE_PHASE_PRECOPY ? MIGRATE_MODE_PRECOPY
                                                              : migrate__mode(d);
    d->mig.state = MIGRATE_R_RECV;
    d->mig.t_first = migrate__now(d);
    rc = migrate__post_read(d);
    if (rc < 0) { migrate__dst_fail(d, rc, 1); return; }
    /* The first data may wait for the source's retries: a lost ACCEPT is
     * repeated only when the REQUEST comes again, one timeout later. */
    migrate__arm_retries(d);
    migrate__send_accept(d, m->from, m->mid, m->src);
    migrate__trace(d, MIGRATE_PT_DST_ACCEPTED);
}

static void migrate__on_request(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if (d->mig.state == MIGRATE_R_STAGED && d->mig.mid == m->mid && d->mig.peer == m->from &&
        (m->flags & MIGRATE_OFFER_DELTA) && m->stamp == (uint64_t)d->mig.round + 1u) {
        /* the next image over the staged one: a further pre-copy round
         * (PRE | DELTA, staged in turn) or the delta that completes it */
        d->mig.offer.flags = m->flags & (MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA | MIGRATE_OFFER_POST);
        migrate__dst_take(d, m, m->size == 0 ? UAREA_EIMGTRUNC : 0);
        return;
    }
    if (d->mig.state != MIGRATE_IDLE) {
        if (d->mig.mid == m->mid && d->mig.peer == m->from) {
            /* duplicate of the current request: repeat the answer (a copy
             * of an earlier image's REQUEST: the source is past it) */
            if (d->mig.state == MIGRATE_R_RECV && d->mig.done == 0 &&
                m->stamp == (uint64_t)d->mig.round)
                migrate__send_accept(d, m->from, m->mid, m->src);
            return;
        }
        migrate__reply(d, m->from, MIGRATE_OP_REJECT, m->mid, m->src, d->self, UAREA_EBUSY);
        return;
    }
    if (migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_DEST, &res)) {
        /* A REQUEST this node has answered. Refused or failed: it holds
         * nothing of that migration, so the answer may go again (the first
         * may have been lost, and the source would wait out its retries). */
        if (res < 0) migrate__reply(d, m->from, MIGRATE_OP_REJECT, m->mid, m->src, d->self, res);
        return;
    }
    if (m->src != m->from || m->dst != d->self) {
        migrate__reply(d, m->from, MIGRATE_OP_REJECT, m->mid, m->src, d->self, UAREA_EPROTO);
        return;
    }
    d->mig.mid = m->mid;
    d->mig.peer = m->from;
    d->mig.ctrl = -1;
    d->mig.alert_until = 0;
    UAREA_MEMSET(&d->mig.offer, 0, sizeof d->mig.offer);
    d->mig.offer.src = m->src; d->mig.offer.mid = m->mid;
    d->mig.offer.flags = m->flags & (MIGRATE_OFFER_PRE | MIGRATE_OFFER_POST);
    d->mig.phase = (m->flags & MIGRATE_OFFER_PRE) ? MIGRATE_PHASE_PRECOPY : MIGRATE_PHASE_ONE;
    migrate__begin_stats(d, m->src, d->self);
    migrate__trace(d, MIGRATE_PT_DST_REQUEST);
    migrate__dst_take(d, m, d->ops->has_container(d->ctx) ? UAREA_EBUSY
                            : m->size == 0                 ? UAREA_EIMGTRUNC
                            : (m->flags & MIGRATE_OFFER_DELTA) ? UAREA_EPROTO /* nothing staged */
                                                           : 0);
}

/* VERIFIED of a staged pre-copy image carries MIGRATE_OFFER_PRE, and every
 * VERIFIED the number of its image: a late copy of it must never pass for
 * the verification of a later round or of the delta. */
static void migrate__send_verified(migrate_daemon *d)
{
    migrate_msg m;
    UAREA_MEMSET(&m, 0, sizeof m);
    m.op = MIGRATE_OP_VERIFIED; m.mid = d->mig.mid; m.src = d->mig.peer; m.dst = d->self; m.ctrl = -1;
    m.flags = d->mig.state == MIGRATE_R_STAGED ? (uint16_t)MIGRATE_OFFER_PRE : (uint16_t)0;
    m.stamp = d->mig.round;        /* which image: a late one of an earlier round is stale */
    (void)migrate__send(d, d->mig.peer, &m);
    migrate__arm(d);
}

static void migrate__activate(migrate_daemon *d, uint64_t freeze_stamp)
{
    uint64_t now;
    int rc;
    migrate__trace(d, MIGRATE_PT_DST_COMMIT);
    now = migrate__now(d);
    rc = d->ops->activate(d->ctx);
    if (freeze_stamp != 0 && now >= freeze_stamp) d->stats.cur.downtime_ns = now - freeze_stamp;
    migrate__trace(d, MIGRATE_PT_DST_ACTIVATED);
    migrate__finish(d, MIGRATE_ROLE_DEST, rc);
}

/* Destination: the whole image is in; verify it, then say so. */
static int migrate__dst_verify(migrate_daemon *d)
{
    int rc = d->ops->restore_end(d->ctx);
    if (rc < 0) { migrate__dst_fail(d, rc, 1); return 1; }
    d->stats.cur.transfer_ns = migrate__now(d) - d->mig.t_first;
    if (d->mig.phase == MIGRATE_PHASE_PRECOPY) {
        d->stats.cur.precopy_bytes += d->mig.size;
        d->stats.cur.precopy_rounds++;
    }
    /* a staged pre-copy image waits for its next round or delta; else for
     * COMMIT */
    d->mig.state = d->mig.phase == MIGRATE_PHASE_PRECOPY ? MIGRATE_R_STAGED : MIGRATE_R_COMMIT;
    d->mig.tries = 0;
    migrate__trace(d, MIGRATE_PT_DST_VERIFIED);
    migrate__send_verified(d);
    return 1;
}

/* Destination, reading in place (noc_portal_rbuf): feed the source's
 * pending write from where it lies, then end it and allow the next. 1
 * progress, 0 nothing yet, UAREA_ENOSYS (no access: read into the block). */
static int migrate__dst_inplace(migrate_daemon *d)
{
    const void *got;
    size_t n;
    int rc = noc_portal_rbuf(d->t, d->xfer.in_portal, &got, &n);
    if (rc == UAREA_ENOSYS) return rc;
    if (rc == UAREA_EAGAIN) {
        if (migrate__expired(d)) { migrate__dst_fail(d, UAREA_ETIMEDOUT, 1); return 1; }
        return 0;
    }
    if (rc < 0) { migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE); return 1; }
    d->xfer.inflight = 0;
    if (n == 0 || n > d->xfer.slot || (uint64_t)n > d->mig.size - d->mig.done) {
        (void)noc_portal_rdone(d->t, d->xfer.in_portal);
        migrate__dst_fail(d, UAREA_EPROTO, 1);
        return 1;
    }
    d->mig.done += n;
    rc = d->ops->restore_feed(d->ctx, (const uint8_t *)got, n);
    {
        int end = noc_portal_rdone(d->t, d->xfer.in_portal);     /* the source's slot is free */
        if (rc >= 0 && end < 0) rc = end;
    }
    if (rc < 0) { migrate__dst_fail(d, rc, rc == UAREA_EPEERGONE ? 0 : 1); return 1; }
    d->stats.cur.inplace_read_bytes += n;
    migrate__trace(d, MIGRATE_PT_DST_BLOCK);
    if (d->mig.done < d->mig.size) {
        rc = migrate__post_read(d);
        if (rc < 0) migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE);
        return 1;
    }
    return migrate__dst_verify(d);
}

static int migrate__dst_step(migrate_daemon *d)
{
    int rc;
    switch (d->mig.state) {
    case MIGRATE_R_RECV: {
        size_t n;
        if (!d->xfer.no_rbuf) {
            rc = migrate__dst_inplace(d);
            if (rc != UAREA_ENOSYS) return rc;
            /* no access to the source's buffer: a read into the block */
            d->xfer.no_rbuf = 1;
            rc = noc_portal_aread(d->t, d->xfer.in_portal, migrate__slot(d, d->xfer.rbuf),
                                  d->xfer.inflight);
            if (rc < 0) migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE);
            return 1;
        }
        rc = noc_portal_poll(d->t, d->xfer.in_portal);
        if (rc == UAREA_EAGAIN) {
            if (migrate__expired(d)) { migrate__dst_fail(d, UAREA_ETIMEDOUT, 1); return 1; }
            return 0;
        }
        d->xfer.inflight = 0;
        if (rc < 0) { migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE); return 1; }
        n = (size_t)rc;
        if (n == 0 || (uint64_t)n > d->mig.size - d->mig.done) {
            migrate__dst_fail(d, UAREA_EPROTO, 1);
            return 1;
        }
        {
            const uint8_t *got = migrate__slot(d, d->xfer.rbuf);
            d->mig.done += n;
            if (d->xfer.split && d->mig.done < d->mig.size) {
                /* the next transfer lands in the next slot while this one is fed */
                d->xfer.rbuf = migrate__slot_next(d, d->xfer.rbuf);
                rc = migrate__post_read(d);
                if (rc < 0) { migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE); return 1; }
            }
            rc = d->ops->restore_feed(d->ctx, got, n);
            if (rc < 0) { migrate__dst_fail(d, rc, 1); return 1; }
            migrate__trace(d, MIGRATE_PT_DST_BLOCK);
        }
        if (d->mig.done < d->mig.size) {
            if (!d->xfer.split) {
                rc = migrate__post_read(d);
                if (rc < 0) migrate__dst_fail(d, rc, rc != UAREA_EPEERGONE);
            }
            return 1;
        }
        return migrate__dst_verify(d);
    }
    case MIGRATE_R_COMMIT:
        if (!migrate__expired(d)) return 0;
        migrate__send_verified(d);     /* lost VERIFIED or COMMIT: ask again */
        return 1;
    case MIGRATE_R_POST:
        return migrate__dst_post(d);
    case MIGRATE_R_STAGED:
        if (!migrate__expired(d)) return 0;
        /* Lost VERIFIED or REQUEST: ask again. A source that never comes
         * back (it gave up and its ABORT was lost, say) answers a VERIFIED
         * of a finished migration with ABORT; one that cannot be reached is
         * seen gone by the transport. The source may take a freeze timeout
         * and its retries to come back: wait that long, then give up. */
        if (++d->mig.tries > 2 * (d->cfg.retries + 1)) {
            migrate__dst_fail(d, UAREA_ETIMEDOUT, 1);
            return 1;
        }
        migrate__send_verified(d);
        return 1;
    default:
        return 0;
    }
}

static int migrate__pump_outbox(migrate_daemon *d);

/* ---- post-copy (docs/protocol.md, "Post-copy") ---- */
/* Source, post-copy: the migration ends (DONE: result 0; the destination
 * died or gave up: the container is gone with it). The copy here goes. */
static void migrate__src_post_end(migrate_daemon *d, int result)
{
    migrate__cancel_portal(d, d->xfer.out_portal);
    (void)d->ops->drop(d->ctx);
    migrate__trace(d, result == 0 ? MIGRATE_PT_SRC_DONE : MIGRATE_PT_SRC_DROPPED);
    migrate__finish(d, MIGRATE_ROLE_SOURCE, result);
}

/* Source, S_POST: one packet out at a time, into the destination's posted
 * read: the runs asked for by FETCH first, else the next run of the push.
 * A write that does not end in a timeout (a chunk lost, or the destination
 * not running yet: COMMIT lost) is cancelled; each timeout without news
 * repeats COMMIT (the destination answers DONE if it has every page); after
 * 3 (retries + 1) of them, or when the transport says the destination is
 * gone, the copy is dropped. */
static int migrate__src_post(migrate_daemon *d)
{
    int rc;
    if (d->xfer.inflight) {
        rc = noc_portal_poll(d->t, d->xfer.out_portal);
        if (rc == UAREA_EAGAIN) {
            if (!migrate__expired(d)) return 0;
            migrate__cancel_portal(d, d->xfer.out_portal);
        } else {
            d->xfer.inflight = 0;
            if (rc == UAREA_EPEERGONE) { migrate__src_post_end(d, rc); return 1; }
            if (rc >= 0) {
                if (d->mig.out_fetched) d->stats.cur.pages_fetched += d->mig.out_pages;
                else d->stats.cur.pages_pushed += d->mig.out_pages;
                d->mig.tries = 0;                  /* the destination took it */
                migrate__trace(d, MIGRATE_PT_SRC_PAGES);
            }
            migrate__arm(d);
            return 1;
        }
    } else if (d->mig.fetch_count > 0 || !d->mig.push_done) {
        int fetched = d->mig.fetch_count > 0;
        uint32_t first = MIGRATE_PAGES_NEXT, count = 0xffffffffu, got = 0, psz = 0;
        size_t cap = d->xfer.slot > MIGRATE_PAGES_HDR ? d->xfer.slot - MIGRATE_PAGES_HDR : 0;
        migrate_pages_hdr h;
        long n;
        if (fetched) {
            first = d->mig.fetch[d->mig.fetch_head].first;
            count = d->mig.fetch[d->mig.fetch_head].count;
            d->mig.fetch_head = (d->mig.fetch_head + 1) % MIGRATE_OUTBOX;
            d->mig.fetch_count--;
        }
        n = d->ops->pages_produce(d->ctx, first, count, d->xfer.block + MIGRATE_PAGES_HDR, cap,
                                  &got, &psz);
        if (n <= 0 || psz == 0 || (uint64_t)n * psz > cap) {
            /* the push is over (or the container cannot produce it: the
             * destination asks for what it lacks); a bad FETCH is ignored */
            if (!fetched) d->mig.push_done = 1;
            return 1;
        }
        h.mid = d->mig.mid; h.first = got; h.count = (uint32_t)n; h.page_size = psz;
        h.flags = fetched ? MIGRATE_PAGES_FETCHED : 0u;
        migrate_pages_seal(d->xfer.block, &h);
        rc = noc_portal_awrite(d->t, d->xfer.out_portal, d->xfer.block,
                               MIGRATE_PAGES_HDR + (size_t)n * psz);
        if (rc == UAREA_EPEERGONE) { migrate__src_post_end(d, rc); return 1; }
        if (rc < 0) return 1;                      /* lost: asked again */
        d->xfer.inflight = MIGRATE_PAGES_HDR + (size_t)n * psz;
        d->mig.out_fetched = fetched;
        d->mig.out_pages = (uint32_t)n;
        migrate__arm(d);
        return 1;
    } else if (!migrate__expired(d)) {
        return 0;
    }
    /* a timeout without news */
    if (noc_node_gone(d->t, d->mig.peer) == 1) { migrate__src_post_end(d, UAREA_EPEERGONE); return 1; }
    if (++d->mig.tries > 3 * (d->cfg.retries + 1)) {
        migrate__src_post_end(d, UAREA_ETIMEDOUT);
        return 1;
    }
    migrate__send_commit(d);
    migrate__arm(d);
    return 1;
}

/* Destination, post-copy: the source is lost before every page came (it
 * died, gave up, or stayed silent too long): the container must not run on
 * with pages missing. */
static void migrate__dst_lost(migrate_daemon *d)
{
    migrate__cancel_portal(d, d->xfer.in_portal);
    if (d->mig.state == MIGRATE_R_POST) d->ops->postcopy_fail(d->ctx);
    else migrate__discard(d);                  /* verified, never ran */
    migrate__trace(d, MIGRATE_PT_DST_LOST);
    migrate__reply(d, d->mig.peer, MIGRATE_OP_NACK, d->mig.mid, d->mig.peer, d->self,
                   UAREA_EPAGESLOST);
    migrate__finish(d, MIGRATE_ROLE_DEST, UAREA_EPAGESLOST);
}

/* Destination, post-copy: a read for the next packet (one buffer). */
static int migrate__post_page_read(migrate_daemon *d)
{
    int rc = noc_portal_allow(d->t, d->xfer.in_portal, d->mig.peer, d->cfg.portal_out_port);
    if (rc < 0) return rc;
    rc = noc_portal_aread(d->t, d->xfer.in_portal, d->xfer.block, d->xfer.slot);
    if (rc < 0) return rc;
    d->xfer.inflight = d->xfer.slot;
    return 0;
}

/* Destination, COMMIT of a post-copy image: the lazy pages made missing
 * (postcopy_activate), then run the container (activate), then post the
 * read for the first packet. The downtime counts the first, as activate
 * counts for a whole image: its end is when the container's cores are
 * woken. */
static void migrate__dst_post_start(migrate_daemon *d, uint64_t freeze_stamp)
{
    uint64_t now;
    int rc;
    migrate__trace(d, MIGRATE_PT_DST_COMMIT);
    rc = d->ops->postcopy_activate(d->ctx, &d->mig.offer);
    if (rc < 0) {
        /* cannot run it: the container is lost (the source committed) */
        migrate__discard(d);
        migrate__reply(d, d->mig.peer, MIGRATE_OP_NACK, d->mig.mid, d->mig.peer, d->self, rc);
        migrate__finish(d, MIGRATE_ROLE_DEST, rc);
        return;
    }
    now = migrate__now(d);
    rc = d->ops->activate(d->ctx);
    if (freeze_stamp != 0 && now >= freeze_stamp) d->stats.cur.downtime_ns = now - freeze_stamp;
    if (rc < 0) {
        d->ops->postcopy_fail(d->ctx);         /* it cannot run: lost */
        migrate__reply(d, d->mig.peer, MIGRATE_OP_NACK, d->mig.mid, d->mig.peer, d->self, rc);
        migrate__finish(d, MIGRATE_ROLE_DEST, rc);
        return;
    }
    migrate__trace(d, MIGRATE_PT_DST_ACTIVATED);
    d->mig.state = MIGRATE_R_POST;
    d->mig.tries = 0;
    d->xfer.inflight = 0;
    rc = migrate__post_page_read(d);
    if (rc == UAREA_EPEERGONE) { migrate__dst_lost(d); return; }
    migrate__arm(d);
}

static void migrate__send_fetch(migrate_daemon *d, uint32_t first, uint32_t count)
{
    migrate_msg m;
    UAREA_MEMSET(&m, 0, sizeof m);
    m.op = MIGRATE_OP_FETCH; m.mid = d->mig.mid; m.src = d->mig.peer; m.dst = d->self;
    m.ctrl = -1; m.stamp = first; m.size = count;
    (void)migrate__send(d, d->mig.peer, &m);
}

/* Destination: a packet of n bytes landed: verify it, install its pages. */
static void migrate__dst_packet(migrate_daemon *d, size_t n)
{
    migrate_pages_hdr h;
    long got;
    uint32_t first, count;
    if (migrate_pages_check(d->xfer.block, n, &h, 1) != 0 || h.mid != d->mig.mid ||
        (got = d->ops->pages_install(d->ctx, h.first, h.count, h.page_size,
                                     d->xfer.block + MIGRATE_PAGES_HDR)) < 0) {
        /* damaged (or not of this migration): dropped, its pages asked again */
        d->stats.msgs_dropped++;
        if (d->ops->pages_wanted(d->ctx, 1, &first, &count) == 1) migrate__send_fetch(d, first, count);
        return;
    }
    if (h.flags & MIGRATE_PAGES_FETCHED) d->stats.cur.pages_fetched += (uint32_t)got;
    else d->stats.cur.pages_pushed += (uint32_t)got;
    if (got > 0) { d->mig.tries = 0; migrate__arm(d); }
    migrate__trace(d, MIGRATE_PT_DST_PAGES);
}

/* Destination, R_POST: the container runs. Install packets as they land,
 * ask for the pages its threads wait for, ask again after a timeout without
 * a new page, send DONE when nothing is missing; after 2 (retries + 1)
 * timeouts without a page, or when the source is known gone: lost. */
static int migrate__dst_post(migrate_daemon *d)
{
    int rc, did = 0;
    uint32_t first, count;
    if (d->xfer.inflight) {
        rc = noc_portal_poll(d->t, d->xfer.in_portal);
        if (rc != UAREA_EAGAIN) {
            d->xfer.inflight = 0;
            did = 1;
            if (rc == UAREA_EPEERGONE) { migrate__dst_lost(d); return 1; }
            if (rc > 0) migrate__dst_packet(d, (size_t)rc);
        }
    }
    if (d->ops->pages_missing(d->ctx) == 0) {
        migrate__cancel_portal(d, d->xfer.in_portal);
        migrate__reply(d, d->mig.peer, MIGRATE_OP_DONE, d->mig.mid, d->mig.peer, d->self, 0);
        migrate__trace(d, MIGRATE_PT_DST_DONE);
        migrate__finish(d, MIGRATE_ROLE_DEST, 0);
        return 1;
    }
    if (!d->xfer.inflight) {
        rc = migrate__post_page_read(d);
        if (rc == UAREA_EPEERGONE) { migrate__dst_lost(d); return 1; }
        if (rc == 0) did = 1;                      /* else tried again next step */
    }
    while (d->ops->pages_wanted(d->ctx, 0, &first, &count) == 1) {
        migrate__send_fetch(d, first, count);
        did = 1;
    }
    if (migrate__expired(d)) {
        if (noc_node_gone(d->t, d->mig.peer) == 1 || ++d->mig.tries > 2 * (d->cfg.retries + 1)) {
            migrate__dst_lost(d);
            return 1;
        }
        if (d->ops->pages_wanted(d->ctx, 1, &first, &count) == 1) migrate__send_fetch(d, first, count);
        migrate__arm(d);
        did = 1;
    }
    return did;
}

/* ---- incoming messages: one handler per op ---- */
/* 1 if m is about the migration in progress, from its peer. */
static int migrate__ours(const migrate_daemon *d, const migrate_msg *m)
{
    return m->mid == d->mig.mid && m->from == d->mig.peer;
}

/* ACCEPT, source: the destination takes the image; open the portal. A late
 * ACCEPT of a migration that failed is told ABORT. */
static void migrate__on_accept(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if (d->mig.state == MIGRATE_S_REQUEST && migrate__ours(d, m) &&
        m->stamp == (uint64_t)d->mig.round) {
        int h = noc_portal_open(d->t, d->cfg.portal_out_port, d->mig.peer, d->cfg.portal_port);
        if (h < 0) { migrate__src_abort(d, h, 1); return; }
        d->xfer.out_portal = h;
        d->mig.state = MIGRATE_S_SEND;
        d->mig.t_first = migrate__now(d);
        migrate__arm(d);
        migrate__trace(d, MIGRATE_PT_SRC_ACCEPTED);
    } else if (migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_SOURCE, &res) && res != 0) {
        migrate__reply(d, m->from, MIGRATE_OP_ABORT, m->mid, d->self, m->from, res);
    }
}

/* REJECT or NACK, source: the destination holds nothing of the migration. */
static void migrate__on_refused(migrate_daemon *d, const migrate_msg *m)
{
    if ((d->mig.state == MIGRATE_S_REQUEST || d->mig.state == MIGRATE_S_SEND ||
         d->mig.state == MIGRATE_S_VERIFY) && migrate__ours(d, m))
        migrate__src_abort(d, m->status < 0 ? m->status : UAREA_EREJECTED, 1);
    else if (d->mig.state == MIGRATE_S_ABORT && migrate__ours(d, m))
        migrate__src_aborted(d, d->mig.abort_err);   /* the destination holds nothing */
    else if (d->mig.state == MIGRATE_S_POST && migrate__ours(d, m) && m->op == MIGRATE_OP_NACK)
        /* post-copy: the container was lost there (or never ran) */
        migrate__src_post_end(d, m->status < 0 ? m->status : UAREA_EPAGESLOST);
}

/* FETCH, post-copy source: these pages first. A FETCH of a migration that
 * ended here without DONE is told ABORT (nothing will come). */
static void migrate__on_fetch(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if (d->mig.state == MIGRATE_S_POST && migrate__ours(d, m)) {
        d->mig.tries = 0;                          /* the destination lives */
        if (d->mig.fetch_count < MIGRATE_OUTBOX && m->stamp <= 0xffffffffu && m->size != 0) {
            unsigned k = (d->mig.fetch_head + d->mig.fetch_count++) % MIGRATE_OUTBOX;
            d->mig.fetch[k].first = (uint32_t)m->stamp;
            d->mig.fetch[k].count = m->size > 0xffffffffu ? 0xffffffffu : (uint32_t)m->size;
        }   /* else dropped: asked again after a timeout */
    } else if (migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_SOURCE, &res) && res != 0) {
        migrate__reply(d, m->from, MIGRATE_OP_ABORT, m->mid, d->self, m->from, res);
    }
}

/* DONE, post-copy source: every page is there; drop the copy. */
static void migrate__on_done(migrate_daemon *d, const migrate_msg *m)
{
    if (d->mig.state == MIGRATE_S_POST && migrate__ours(d, m)) migrate__src_post_end(d, 0);
}

/* COMMIT of the migration in progress (again: a post-copy source repeats it
 * when the destination seems not to have it, or may have lost DONE). */
static void migrate__send_commit(migrate_daemon *d)
{
    migrate_msg c;
    UAREA_MEMSET(&c, 0, sizeof c);
    c.op = MIGRATE_OP_COMMIT; c.mid = d->mig.mid; c.src = d->self; c.dst = d->mig.peer;
    c.ctrl = -1; c.stamp = d->mig.t_frozen; c.zero_pages = d->stats.cur.zero_pages;
    c.size = d->stats.cur.inplace_bytes;            /* figures for the record */
    c.flags = (uint16_t)d->stats.cur.precopy_stop;
    if (d->mig.lazy) c.flags |= (uint16_t)MIGRATE_COMMIT_POST;
    (void)migrate__send(d, d->mig.peer, &c);
}

/* The commit point, source: the destination holds a verified copy. From
 * here the source never runs the container again; COMMIT goes out first
 * and the source's copy is dropped while it travels (dropping — stopping
 * the cores, wiping the region — is not part of the downtime). */
static void migrate__commit_point(migrate_daemon *d)
{
    migrate__trace(d, MIGRATE_PT_SRC_VERIFIED);
    /* A destination known dead now cannot run what COMMIT would
     * tell it: the container stays here (a death after this check
     * is the pump's, below, or loses the container with it). */
    if (noc_node_gone(d->t, d->mig.peer) == 1) {
        migrate__src_abort(d, UAREA_EPEERGONE, 1);
        return;
    }
    d->stats.cur.transfer_ns = migrate__now(d) - d->mig.t_first;
    if (d->ops->zero_pages) d->stats.cur.zero_pages = d->ops->zero_pages(d->ctx);
    migrate__send_commit(d);
    (void)migrate__pump_outbox(d);
    /* The pump learnt that the destination is gone (its copy with
     * it): it aborted and the container runs here again. */
    if (d->mig.state != MIGRATE_S_VERIFY) return;
    if (d->ops->commit != NULL) d->ops->commit(d->ctx, d->mig.peer);
    migrate__trace(d, MIGRATE_PT_SRC_COMMITTED);
    if (d->mig.lazy) {
        /* Post-copy: the container runs there from COMMIT on; its lazy
         * pages are served from the frozen copy here until DONE. */
        d->mig.state = MIGRATE_S_POST;
        d->mig.tries = 0;
        d->mig.fetch_head = d->mig.fetch_count = 0;
        d->mig.push_done = 0;
        d->xfer.inflight = 0;
        migrate__arm(d);
        return;
    }
    (void)d->ops->drop(d->ctx);
    migrate__trace(d, MIGRATE_PT_SRC_DROPPED);
    migrate__finish(d, MIGRATE_ROLE_SOURCE, 0);
}

/* A VERIFIED of a migration this source finished: the outcome again
 * (COMMIT, or ABORT with why). */
static void migrate__answer_late_verified(migrate_daemon *d, const migrate_msg *m, int res)
{
    if (res == 0) {
        migrate_msg c;
        UAREA_MEMSET(&c, 0, sizeof c);
        c.op = MIGRATE_OP_COMMIT; c.mid = m->mid; c.src = d->self; c.dst = m->from;
        c.ctrl = -1;
        (void)migrate__send(d, m->from, &c);
    } else {
        migrate__reply(d, m->from, MIGRATE_OP_ABORT, m->mid, d->self, m->from, res);
    }
}

/* VERIFIED, source: the pre-copy image is staged (send the delta), or the
 * whole image is verified (the commit point). */
static void migrate__on_verified(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if ((((m->flags & MIGRATE_OFFER_PRE) != 0) != (d->mig.phase == MIGRATE_PHASE_PRECOPY) ||
         m->stamp != (uint64_t)d->mig.round) &&
        migrate__ours(d, m) && d->mig.state != MIGRATE_IDLE)
        return;                    /* of another image (phase, round): stale */
    if (d->mig.state == MIGRATE_S_SEND && migrate__ours(d, m) &&
        d->xfer.inflight != 0 && d->mig.done + d->xfer.inflight >= d->mig.size) {
        /* The destination verified the whole image before this side saw
         * its last write end (on a transport where the reader finishes a
         * transfer, it can): the write is over. */
        migrate__cancel_portal(d, d->xfer.out_portal);
        d->mig.done = d->mig.size;
        d->mig.state = MIGRATE_S_VERIFY;
        migrate__trace(d, MIGRATE_PT_SRC_BLOCK);   /* the last write ended, as seen */
        migrate__trace(d, MIGRATE_PT_SRC_SENT);
    }
    if (d->mig.state == MIGRATE_S_VERIFY && migrate__ours(d, m) &&
        d->mig.phase == MIGRATE_PHASE_PRECOPY) {
        migrate__trace(d, MIGRATE_PT_SRC_VERIFIED);
        migrate__src_staged(d);    /* the pre-copy round is staged there */
    } else if (d->mig.state == MIGRATE_S_VERIFY && migrate__ours(d, m)) {
        migrate__commit_point(d);
    } else if (d->mig.state == MIGRATE_S_POST && migrate__ours(d, m)) {
        migrate__send_commit(d);   /* COMMIT was lost: the destination waits for it */
    } else if (migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_SOURCE, &res)) {
        migrate__answer_late_verified(d, m, res);
    }
}

/* COMMIT, destination: run the container here. */
static void migrate__on_commit(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if (d->mig.state == MIGRATE_R_COMMIT && migrate__ours(d, m)) {
        d->stats.cur.zero_pages = m->zero_pages;
        d->stats.cur.inplace_bytes = m->size;
        d->stats.cur.precopy_stop = m->flags & 0xffu;
        if (d->mig.lazy) migrate__dst_post_start(d, m->stamp);
        else migrate__activate(d, m->stamp);
    } else if ((m->flags & MIGRATE_COMMIT_POST) &&
               !(d->mig.state != MIGRATE_IDLE && migrate__ours(d, m)) &&
               migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_DEST, &res)) {
        /* a post-copy source asks again: every page came (DONE was
         * lost), or the container was lost here */
        if (res == 0) migrate__reply(d, m->from, MIGRATE_OP_DONE, m->mid, m->from, d->self, 0);
        else migrate__reply(d, m->from, MIGRATE_OP_NACK, m->mid, m->from, d->self, res);
    }
}

/* ABORT, destination: discard, and confirm with NACK (also when nothing of
 * it is here any more, so that the source may run). */
static void migrate__on_abort(migrate_daemon *d, const migrate_msg *m)
{
    int res;
    if (d->mig.state == MIGRATE_R_POST && migrate__ours(d, m)) {
        migrate__dst_lost(d);      /* the source gave up serving pages */
        return;
    }
    if ((d->mig.state == MIGRATE_R_RECV || d->mig.state == MIGRATE_R_COMMIT ||
         d->mig.state == MIGRATE_R_STAGED) && migrate__ours(d, m)) {
        migrate__dst_fail(d, m->status < 0 ? m->status : UAREA_EABORTED, 0);
        migrate__reply(d, m->from, MIGRATE_OP_NACK, m->mid, m->from, d->self, UAREA_EABORTED);
    } else if (!(migrate__recall(d, m->mid, m->from, MIGRATE_ROLE_DEST, &res) && res == 0) &&
               !(migrate__ours(d, m) && d->mig.state != MIGRATE_IDLE)) {
        /* nothing of it here (any more): confirm, so the source may run */
        migrate__reply(d, m->from, MIGRATE_OP_NACK, m->mid, m->from, d->self, UAREA_EABORTED);
    }
}

/* PREPARE, destination: a REQUEST is coming; poll instead of sleeping. */
static void migrate__on_prepare(migrate_daemon *d, const migrate_msg *m)
{
    if (d->mig.state == MIGRATE_IDLE && m->src == m->from && m->dst == d->self) {
        d->mig.alert_until = migrate__now(d) + (uint64_t)MIGRATE_ALERT_NS;
        if (d->trace != NULL)
            d->trace(d->trace_arg, MIGRATE_PT_DST_PREPARED, m->mid, m->from, MIGRATE_PHASE_ONE);
    }
}

/* MOVE, from a controller: start moving this node's container. */
static void migrate__on_move(migrate_daemon *d, const migrate_msg *m)
{
    int rc;
    /* a duplicate of the MOVE being (or last) served: its RESULT comes
     * (came) from that migration, an EBUSY would pass for the outcome */
    if (m->from == d->ctrl.move_from && m->mid == d->ctrl.move_req) return;
    d->ctrl.move_from = m->from;
    d->ctrl.move_req = m->mid;
    rc = migrate__start(d, m->dst, m->from, -1);
    if (rc < 0) migrate__reply(d, m->from, MIGRATE_OP_RESULT, m->mid, d->self, m->dst, rc);
}

/* RESULT, controller: the answer to its MOVE. */
static void migrate__on_result(migrate_daemon *d, const migrate_msg *m)
{
    if (d->ctrl.pending && m->from == d->ctrl.node && m->mid == d->ctrl.req) {
        d->ctrl.status = m->status;
        d->ctrl.pending = 0;
    }
}

static void migrate__on_msg(migrate_daemon *d, const migrate_msg *m)
{
    d->stats.msgs_received++;
    switch (m->op) {
    case MIGRATE_OP_REQUEST: migrate__on_request(d, m); return;
    case MIGRATE_OP_ACCEPT: migrate__on_accept(d, m); return;
    case MIGRATE_OP_REJECT:
    case MIGRATE_OP_NACK: migrate__on_refused(d, m); return;
    case MIGRATE_OP_VERIFIED: migrate__on_verified(d, m); return;
    case MIGRATE_OP_COMMIT: migrate__on_commit(d, m); return;
    case MIGRATE_OP_ABORT: migrate__on_abort(d, m); return;
    case MIGRATE_OP_PREPARE: migrate__on_prepare(d, m); return;
    case MIGRATE_OP_MOVE: migrate__on_move(d, m); return;
    case MIGRATE_OP_RESULT: migrate__on_result(d, m); return;
    case MIGRATE_OP_FETCH: migrate__on_fetch(d, m); return;
    case MIGRATE_OP_DONE: migrate__on_done(d, m); return;
    default: return;
    }
}

/* ---- transport plumbing ---- */
/* Drop every queued message to `node` (which took none for a whole timeout:
 * the ones behind would wait as long each). The others keep their order. */
static int migrate__drop_queued(migrate_daemon *d, int node)
{
    unsigned i, kept = 0, n = d->outbox.count;
    for (i = 0; i < n; i++) {
        unsigned from = (d->outbox.head + i) % MIGRATE_OUTBOX;
        if (d->outbox.q[from].node == node) continue;
        if (kept != i) d->outbox.q[(d->outbox.head + kept) % MIGRATE_OUTBOX] = d->outbox.q[from];
        kept++;
    }
    d->outbox.count = kept;
    d->stats.msgs_dropped += n - kept;
    return (int)(n - kept);
}

static int migrate__pump_outbox(migrate_daemon *d)
{
    int did = 0;
    while (d->outbox.count > 0) {
        int node = d->outbox.q[d->outbox.head].node;
        int h = d->outbox.mbx[node];
        int rc;
        if (h < 0) {
            h = noc_mailbox_open(d->t, node, d->cfg.mailbox_port);
            if (h < 0) {
                rc = h;
                goto failed;
            }
            d->outbox.mbx[node] = h;
        }
        if (!d->outbox.busy) {
            rc = noc_mailbox_awrite(d->t, h, d->outbox.q[d->outbox.head].buf, MIGRATE_MSG_SIZE);
            if (rc < 0) goto failed;
            d->outbox.busy = 1;
            d->outbox.since = migrate__now(d);
        }
        rc = noc_mailbox_poll(d->t, h);
        if (rc == UAREA_EAGAIN) {
            /* A peer that takes no message for a whole timeout (hung, full,
             * or never started) would hold every later message, to any node,
             * behind this one: drop it, as the network may. */
            if (migrate__now(d) - d->outbox.since < (uint64_t)d->cfg.timeout_ns) return did;
            rc = noc_mailbox_cancel(d->t, h);   /* >= 0: it went out meanwhile */
            if (rc == UAREA_EAGAIN) rc = UAREA_ETIMEDOUT;
        }
        d->outbox.busy = 0;
        if (rc < 0) goto failed;
        d->stats.msgs_sent++;
        d->outbox.head = (d->outbox.head + 1) % MIGRATE_OUTBOX;
        d->outbox.count--;
        did++;
        continue;
    failed:
        /* the message is lost; a dead peer is news for the state machine */
        d->outbox.busy = 0;
        d->stats.msgs_dropped++;
        d->outbox.head = (d->outbox.head + 1) % MIGRATE_OUTBOX;
        d->outbox.count--;
        did++;
        if (rc == UAREA_EPEERGONE && node == d->mig.peer) {
            if (d->mig.state == MIGRATE_R_POST || (d->mig.state == MIGRATE_R_COMMIT && d->mig.lazy))
                migrate__dst_lost(d);      /* post-copy: the pages died with the source */
            else if (d->mig.state == MIGRATE_R_COMMIT) migrate__activate(d, 0); /* source died */
            else if (d->mig.state == MIGRATE_S_POST)
                migrate__src_post_end(d, UAREA_EPEERGONE); /* the container died there */
            else if (d->mig.state == MIGRATE_R_RECV || d->mig.state == MIGRATE_R_STAGED)
                migrate__dst_fail(d, rc, 0);
            else if (d->mig.state >= MIGRATE_S_REQUEST && d->mig.state <= MIGRATE_S_VERIFY)
                migrate__src_abort(d, rc, 1);
            else if (d->mig.state == MIGRATE_S_ABORT) /* dead: it holds nothing */
                migrate__src_aborted(d, d->mig.abort_err);
        }
        if (rc == UAREA_EPEERGONE && d->outbox.mbx[node] >= 0) {
            (void)noc_mailbox_close(d->t, d->outbox.mbx[node]);
            d->outbox.mbx[node] = -1;
        }
        if (rc == UAREA_ETIMEDOUT) did += migrate__drop_queued(d, node);
    }
    return did;
}

/* A mailbox read of the inbox ended with rc: handle it, post the next. */
static int migrate__inbox_done(migrate_daemon *d, int rc)
{
    migrate_msg m;
    if (rc >= 0) {
        /* a message is taken from the node it names, when the transport
         * can tell who sent it: another node's forgery is dropped */
        int sender = noc_mailbox_sender(d->t, d->inbox.mbx);
        if (migrate_msg_decode(&m, d->inbox.buf, (size_t)rc) == 0 && (sender < 0 || sender == m.from))
            migrate__on_msg(d, &m);
        else
            d->stats.msgs_dropped++;
    }
    rc = noc_mailbox_aread(d->t, d->inbox.mbx, d->inbox.buf, sizeof d->inbox.buf);
    return rc < 0 ? rc : 1;
}

static int migrate__pump_inbox(migrate_daemon *d)
{
    int did = 0;
    for (;;) {
        int rc = noc_mailbox_poll(d->t, d->inbox.mbx);
        if (rc == UAREA_EAGAIN) return did;
        /* a failed read (e.g. every sender that opened the inbox died) is
         * posted again, once per step, so the daemon cannot spin on it */
        if (rc < 0) return (rc = migrate__inbox_done(d, rc)) < 0 ? rc : did;
        rc = migrate__inbox_done(d, rc);
        if (rc < 0) return rc;
        did++;
    }
}

/* ---- public ---- */
UAREA_API int migrate_daemon_init(migrate_daemon *d, noc_transport *t,
                                  const migrate_container_ops *ops, void *ctx,
                                  const migrate_config *cfg, void *block, size_t block_size)
{
    int i, rc;
    if (d == NULL || t == NULL || ops == NULL || block == NULL) return UAREA_EINVAL;
    if (!ops->has_container || !ops->freeze || !ops->unfreeze || !ops->image_begin ||
        !ops->image_produce || !ops->drop || !ops->accept || !ops->restore_feed ||
        !ops->restore_end || !ops->discard || !ops->activate)
        return UAREA_EINVAL;
    if (block_size == 0) return UAREA_EMSGSIZE;
    UAREA_MEMSET(d, 0, sizeof *d);
    d->t = t; d->ops = ops; d->ctx = ctx;
    if (cfg) d->cfg = *cfg;
    if (d->cfg.timeout_ns <= 0) d->cfg.timeout_ns = MIGRATE_TIMEOUT_NS;
    if (d->cfg.retries <= 0) d->cfg.retries = MIGRATE_RETRIES;
    if (d->cfg.mailbox_port <= 0) d->cfg.mailbox_port = MIGRATE_MAILBOX_PORT;
    if (d->cfg.portal_port <= 0) d->cfg.portal_port = MIGRATE_PORTAL_PORT;
    if (d->cfg.portal_out_port <= 0) d->cfg.portal_out_port = MIGRATE_PORTAL_OUT_PORT;
    d->xfer.block = (uint8_t *)block;
    /* Ids continue from the clock, not from 0: peers remember finished
     * migrations by (id, node), and would take the first REQUEST of a
     * daemon set up again (a restarted node) for a stale duplicate. */
    d->mig.next_mid = (uint32_t)(migrate__now(d) >> 10);
    d->ctrl.next = d->mig.next_mid;
    d->ctrl.move_from = -1;
    d->xfer.block_size = block_size;
    d->xfer.slot = block_size;
    if (block_size >= 2u * MIGRATE_SPLIT_MIN) {
        d->xfer.slot = block_size / 2u;
        if (d->xfer.slot > MIGRATE_XFER_SLOT)
            d->xfer.slot = MIGRATE_XFER_SLOT < MIGRATE_SPLIT_MIN ? MIGRATE_SPLIT_MIN : MIGRATE_XFER_SLOT;
    }
    if (d->xfer.slot > NOC_PORTAL_MAX_SIZE) d->xfer.slot = NOC_PORTAL_MAX_SIZE;
    d->xfer.slots = (unsigned)(block_size / d->xfer.slot);
    d->xfer.split = d->xfer.slots >= 2u;    /* the slots say it: no second rule */
    d->self = noc_self(t);
    if (d->self < 0) return d->self;
    d->nodes = noc_count(t);
    if (d->nodes < 0) return d->nodes;
    if (d->nodes > NOC_NODES_MAX) return UAREA_EBADNODE;
    for (i = 0; i < NOC_NODES_MAX; i++) d->outbox.mbx[i] = -1;
    d->xfer.out_portal = -1;
    d->ctrl.node = -1;
    for (i = 0; i < MIGRATE_HISTORY; i++) d->history.entry[i].role = MIGRATE_ROLE_NONE;
    d->inbox.mbx = noc_mailbox_create(t, d->cfg.mailbox_port);
    if (d->inbox.mbx < 0) return d->inbox.mbx;
    d->xfer.in_portal = noc_portal_create(t, d->cfg.portal_port);
    if (d->xfer.in_portal < 0) {
        rc = d->xfer.in_portal;
        (void)noc_mailbox_unlink(t, d->inbox.mbx);
        return rc;
    }
    rc = noc_mailbox_aread(t, d->inbox.mbx, d->inbox.buf, sizeof d->inbox.buf);
    if (rc < 0) {
        (void)noc_portal_unlink(t, d->xfer.in_portal);
        (void)noc_mailbox_unlink(t, d->inbox.mbx);
        return rc;
    }
    return 0;
}

UAREA_API int migrate_daemon_fini(migrate_daemon *d)
{
    int i;
    if (d == NULL || d->t == NULL) return UAREA_EINVAL;
    /* Image bytes are out (the destination may verify them and wait for
     * COMMIT), or this node holds a verified copy the source may already
     * have committed to: only the protocol may end these. */
    if (d->mig.state == MIGRATE_S_SEND || d->mig.state == MIGRATE_S_VERIFY ||
        d->mig.state == MIGRATE_S_ABORT || d->mig.state == MIGRATE_R_COMMIT ||
        d->mig.state == MIGRATE_S_POST || d->mig.state == MIGRATE_R_POST)
        return UAREA_EBUSY;
    if (d->mig.state >= MIGRATE_S_FREEZE && d->mig.state <= MIGRATE_S_ABORT)
        migrate__src_abort(d, UAREA_ECANCELED, 1);
    else if (d->mig.state >= MIGRATE_R_RECV)
        migrate__dst_fail(d, UAREA_ECANCELED, 1);
    (void)migrate__pump_outbox(d);
    (void)noc_mailbox_cancel(d->t, d->inbox.mbx);
    (void)noc_mailbox_unlink(d->t, d->inbox.mbx);
    (void)noc_portal_unlink(d->t, d->xfer.in_portal);
    for (i = 0; i < NOC_NODES_MAX; i++)
        if (d->outbox.mbx[i] >= 0) {
            if (d->outbox.busy) (void)noc_mailbox_cancel(d->t, d->outbox.mbx[i]);
            (void)noc_mailbox_close(d->t, d->outbox.mbx[i]);
        }
    d->t = NULL;
    return 0;
}

UAREA_API int migrate_daemon_step(migrate_daemon *d)
{
    int did = 0, rc;
    if (d == NULL || d->t == NULL) return UAREA_EINVAL;
    rc = migrate__pump_inbox(d);
    if (rc < 0) return rc;
    did += rc;
    if ((d->mig.state >= MIGRATE_S_FREEZE && d->mig.state <= MIGRATE_S_ABORT) ||
        d->mig.state == MIGRATE_S_POST) {
        while ((rc = migrate__src_step(d)) > 0) {
            did += rc;
            if (d->mig.state != MIGRATE_S_SEND) break;
        }
    } else if (d->mig.state >= MIGRATE_R_RECV) {   /* R_RECV, R_COMMIT, R_STAGED, R_POST */
        while ((rc = migrate__dst_step(d)) > 0) {
            did += rc;
            if (d->mig.state != MIGRATE_R_RECV) break;
        }
    }
    did += migrate__pump_outbox(d);
    return did;
}

UAREA_API int migrate_daemon_wait(migrate_daemon *d, int64_t timeout_ns)
{
    int rc, got;
    if (d == NULL || d->t == NULL || timeout_ns < 0) return UAREA_EINVAL;
    got = noc_mailbox_wait(d->t, d->inbox.mbx, timeout_ns);
    if (got == UAREA_ETIMEDOUT) return 0;
    rc = migrate__inbox_done(d, got);
    if (rc < 0) return rc;
    (void)migrate__pump_outbox(d);
    /* The read failed at once (every node that could write is gone): the
     * call did not wait, and a driver that took it for a message would
     * spin. Say so; the read is posted again. */
    return got < 0 ? got : 1;
}

UAREA_API void migrate_daemon_trace(migrate_daemon *d, migrate_trace_fn fn, void *arg)
{
    if (d == NULL) return;
    d->trace = fn;
    d->trace_arg = arg;
}

UAREA_API const char *migrate_point_name(int p)
{
    static const char *const names[MIGRATE_PT_COUNT] = {
        "src.start", "src.frozen", "src.request", "src.accepted", "src.block", "src.sent",
        "src.verified", "src.committed", "src.dropped", "src.aborting", "src.aborted",
        "dst.prepared", "dst.request", "dst.accepted", "dst.block", "dst.verified",
        "dst.commit", "dst.activated", "dst.discarded", "src.pages", "src.done", "dst.pages",
        "dst.done", "dst.lost"};
    return p >= 0 && p < MIGRATE_PT_COUNT ? names[p] : "?";
}

UAREA_API int migrate_daemon_start(migrate_daemon *d, int dst)
{
    if (d == NULL || d->t == NULL) return UAREA_EINVAL;
    return migrate__start(d, dst, -1, -1);
}

UAREA_API int migrate_daemon_start_mode(migrate_daemon *d, int dst, int mode)
{
    if (d == NULL || d->t == NULL) return UAREA_EINVAL;
    return migrate__start(d, dst, -1, mode);
}

UAREA_API int migrate_daemon_request(migrate_daemon *d, int a, int b)
{
    migrate_msg m;
    int rc;
    if (d == NULL || d->t == NULL) return UAREA_EINVAL;
    if (!migrate__valid_node(d, a) || !migrate__valid_node(d, b)) return UAREA_EBADNODE;
    if (a == b) return UAREA_ESAMENODE;
    if (d->ctrl.pending) return UAREA_EBUSY;
    if (a == d->self) {
        rc = migrate__start(d, b, d->self, -1);
        if (rc < 0) return rc;
        d->ctrl.node = a; d->ctrl.pending = 1;
        return 0;
    }
    UAREA_MEMSET(&m, 0, sizeof m);
    if (++d->ctrl.next == 0) d->ctrl.next++;
    m.op = MIGRATE_OP_MOVE; m.src = a; m.dst = b; m.ctrl = d->self; m.mid = d->ctrl.next;
    rc = migrate__send(d, a, &m);
    if (rc < 0) return rc;
    d->ctrl.node = a; d->ctrl.pending = 1; d->ctrl.req = d->ctrl.next;
    /* The RESULT may be lost: give up after what a migration with all its
     * retries can take (freeze, request, verification), twice over. */
    d->ctrl.deadline = migrate__after_retries(d, 6);
    return 0;
}

UAREA_API int migrate_daemon_ctrl_result(migrate_daemon *d, int *node)
{
    if (d == NULL) return UAREA_EINVAL;
    if (d->ctrl.node < 0) return UAREA_ESTATE;
    if (node) *node = d->ctrl.node;
    if (d->ctrl.pending && d->ctrl.node != d->self && d->t != NULL &&
        migrate__now(d) >= d->ctrl.deadline) {
        d->ctrl.pending = 0;                /* no RESULT came: the outcome is unknown */
        d->ctrl.status = UAREA_ETIMEDOUT;
    }
    if (d->ctrl.pending) return UAREA_EAGAIN;
    return d->ctrl.status;
}

UAREA_API int migrate_daemon_last(const migrate_daemon *d, migrate_stats *st)
{
    if (d == NULL) return UAREA_EINVAL;
    if (!d->stats.have_last) return UAREA_EAGAIN;
    if (st) *st = d->stats.last;
    return d->stats.last.result;
}

UAREA_API int migrate_daemon_busy(const migrate_daemon *d)
{
    return d != NULL && d->mig.state != MIGRATE_IDLE;
}

UAREA_API int migrate_daemon_alert(const migrate_daemon *d)
{
    return d != NULL && d->t != NULL && d->mig.state == MIGRATE_IDLE && d->mig.alert_until != 0 &&
           noc_clock_ns(d->t) < d->mig.alert_until;
}

UAREA_API int migrate_daemon_postcopy(const migrate_daemon *d)
{
    return d != NULL && (d->mig.state == MIGRATE_S_POST || d->mig.state == MIGRATE_R_POST);
}

UAREA_API int migrate_daemon_quiet(const migrate_daemon *d)
{
    return d != NULL && d->mig.state == MIGRATE_IDLE && d->outbox.count == 0 &&
           !migrate_daemon_alert(d);
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
