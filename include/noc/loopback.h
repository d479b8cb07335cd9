/*
 * noc/loopback.h - an in-process transport for noc/noc.h: every node in one
 * address space, deterministic, with seeded fault injection.
 *
 * What it is. One `noc_loopback` holds a whole simulated network-on-chip:
 * up to NOC_LOOPBACK_NODES_MAX nodes, their mailboxes and portals, and the
 * packets on the wire. The caller provides its storage (no allocation;
 * freestanding). Each simulated node gets its own `noc_transport`:
 *
 *     static noc_loopback lb;                    // a few hundred KiB: static or heap
 *     noc_transport t0, t1;
 *     noc_loopback_init(&lb, &(noc_loopback_desc){ .nodes = 2 });
 *     noc_loopback_transport(&lb, 0, &t0);
 *     noc_loopback_transport(&lb, 1, &t1);
 *     int in  = noc_mailbox_create(&t1, 3);
 *     int out = noc_mailbox_open(&t0, 1, 3);
 *     noc_mailbox_write(&t0, out, "hi", 2, 0);   // on the wire now
 *     noc_mailbox_read(&t1, in, buf, sizeof buf, NOC_FOREVER);  // steps the fabric: 2
 *
 * Time. The loopback has a virtual clock in nanoseconds (noc_clock_ns() on
 * any of its transports, or noc_loopback_now()) that only the loopback
 * advances. A packet reaches its destination `latency_ns` after it was sent
 * (plus any delay fault). Nothing moves by itself: the fabric moves when
 *  - noc_loopback_step() runs: it first settles what needs no time (a pending
 *    write whose destination became ready goes on the wire, a posted mailbox
 *    read takes a queued message, a portal transfer sends its next chunks);
 *    when there was nothing to settle, it jumps the clock to the next packet
 *    due and delivers every packet due then. It returns how many things
 *    happened (packets sent, delivered, dropped; operations completed), and 0
 *    when the fabric is idle: nothing in flight, nothing to settle. An idle
 *    step leaves the clock alone.
 *  - noc_loopback_advance(ns) runs the fabric up to now + ns and sets the clock
 *    there (use it to let timeouts of non-blocking state machines expire);
 *    noc_loopback_run_until_idle() steps until the fabric is idle.
 *  - a wait (or a synchronous call) with a timeout > 0 on one node steps the
 *    whole fabric until its operation completes, or until the clock passes the
 *    deadline: when no packet is due before the deadline the clock jumps to it
 *    and the wait returns UAREA_ETIMEDOUT. Since every node runs in one thread,
 *    a wait cannot let another node's code run: it completes only if the other
 *    side has already posted its part. With NOC_FOREVER and an idle fabric the
 *    operation can never complete: the wait withdraws it (as cancel would) and
 *    returns UAREA_ESTALLED instead of blocking forever.
 *  - wait with timeout 0 and poll never step the fabric: they only settle the
 *    operation itself.
 *
 * Driving many nodes without blocking (what the migration protocol's tests
 * do): every node's state machine starts operations and polls them; between
 * rounds the test steps the fabric and lets time pass when nothing moved:
 *
 *     for (;;) {
 *         int did = 0;
 *         for (n = 0; n < nodes; n++) did += node_step(n);   // polls only
 *         did += noc_loopback_step(&lb);
 *         if (!did) noc_loopback_advance(&lb, 1000000);       // 1 ms passes
 *     }
 *
 * Semantics: those of noc/noc.h, with the same decisions as the POSIX
 * shared-memory transport, so code tested here behaves the same there:
 *  - Opening a mailbox or portal whose port is not created yet succeeds; a
 *    write waits until the port exists (at timeout 0: UAREA_EAGAIN, or
 *    UAREA_ENOTALLOWED for a portal). A new mailbox starts empty; messages on
 *    the wire to a mailbox that is unlinked meanwhile are discarded.
 *  - A mailbox holds NOC_LOOPBACK_MAILBOX_DEPTH messages, counting those on
 *    the wire to it: a write goes on the wire only when there is room (credit
 *    flow control), else it stays pending. A write completes when its message
 *    is on the wire (a drop fault can still lose it).
 *  - The whole loopback has NOC_LOOPBACK_PACKETS packets, on the wire or
 *    queued in mailboxes; when none is free, writes and chunks wait for one.
 *  - Output portals: one handle per (local port, node, port); the same triple
 *    twice fails with UAREA_EPORTINUSE. A portal read needs an allow
 *    (UAREA_ENOTALLOWED); allowing while a read is posted fails with
 *    UAREA_EBUSY; the allow is consumed by the read that ends after it
 *    (successfully or not); cancelling a read that had not started keeps it.
 *  - A portal transfer starts when the writer is allowed and a read is
 *    posted; it moves in NOC_PORTAL_CHUNK chunks, at most NOC_LOOPBACK_WINDOW
 *    of them on the wire at a time, each copied straight from the writer's
 *    buffer into the posted read buffer when it arrives (so the writer's
 *    buffer must stay untouched until the write completes). Both sides
 *    complete when the last chunk has arrived. A write larger than the posted
 *    read ends both sides with UAREA_EMSGSIZE.
 *  - cancel of a transfer under way cannot withdraw what is on the wire: it
 *    steps the fabric until the transfer ends and returns its result; when the
 *    transfer can never end (a chunk was dropped) it ends both sides with
 *    UAREA_ECANCELED. So a zero-timeout portal write fails as noc.h says when
 *    the reader is not ready, and completes when it is.
 *  - wait, poll or cancel on a handle with no operation: UAREA_ESTATE; a read
 *    on an output handle or a write on an input one: UAREA_EDIRECTION.
 *  - Unlinking or closing a handle withdraws its pending operation (a
 *    transfer under way is finished first, as by cancel).
 *
 * Faults. Each packet (a mailbox message or a portal chunk) may suffer one
 * fault when it is sent:
 *   NOC_LB_DROP     it never arrives (a portal transfer missing a chunk never
 *                   completes: its reader times out)
 *   NOC_LB_DUP      it arrives twice (a mailbox receives the message twice; a
 *                   repeated portal chunk is recognised and discarded); with
 *                   no spare packet on the wire it goes through unharmed
 *   NOC_LB_DELAY    it arrives delay_ns late, so later packets overtake it
 *                   (the only way per-sender order is broken)
 *   NOC_LB_CORRUPT  one bit of it is flipped (the transfer still completes)
 *   NOC_LB_CRASH    the sending node crashes instead of sending it
 * Random faults: a noc_loopback_faults (in the descriptor, or
 * noc_loopback_set_faults()) gives a seed and a probability per fault kind in
 * parts per million; one draw of a seeded PRNG per packet picks at most one.
 * Scripted faults: noc_loopback_script() adds a rule "apply FAULT to the Nth
 * packet of KIND from SRC to DST" (-1: any node), counted from when the rule
 * is added; for example
 *     // the 3rd portal chunk from node 1 to node 2 is lost
 *     noc_loopback_script(&lb, NOC_LB_DROP, NOC_LB_CHUNK, 1, 2, 3, 0);
 *     // bit 7 of the 1st mailbox message from node 0 to node 3 flips
 *     noc_loopback_script(&lb, NOC_LB_CORRUPT, NOC_LB_MAILBOX, 0, 3, 1, 7);
 *     // node 2 crashes when it sends its 5th packet (to anyone)
 *     noc_loopback_script(&lb, NOC_LB_CRASH, NOC_LB_ANY, 2, -1, 5, 0);
 * A rule fires once. Rules are checked before the random faults; when two
 * rules would fire on the same packet the later one waits for its next match.
 * noc_loopback_crash() crashes a node at once.
 *
 * A crashed node: every call on its transport (except node_self, nodes and
 * the clock) fails with UAREA_EPEERGONE; its pending operations end; packets
 * to it are lost, and so are the portal chunks it was sending (they are read
 * from its memory as they land), but mailbox messages it had already put on
 * the wire still arrive. Peers' calls that involve it return
 * UAREA_EPEERGONE instead of waiting: mailbox opens and writes to it, portal
 * opens, allows and writes to it, a portal read whose allow names it, and a
 * portal transfer it leaves in the middle (on either side). A mailbox read
 * involves no particular peer and keeps waiting.
 *
 * Determinism: the same descriptor, seed, rules and sequence of calls give
 * the same packets at the same virtual times. noc_loopback_trace_hash() folds
 * every event (send, fault, delivery, discard, crash) into one number, and
 * desc.trace receives each event as it happens. noc_loopback_get_stats()
 * gives per-node counters.
 *
 * Configuration (#ifndef defaults; docs/configuration.md):
 *   NOC_LOOPBACK_NODES_MAX      NOC_NODES_MAX  nodes one loopback holds
 *   NOC_LOOPBACK_MAILBOX_DEPTH  16     messages a mailbox holds (queued + on the wire)
 *   NOC_LOOPBACK_PACKETS        512    packets on the wire or queued, in all
 *   NOC_LOOPBACK_WINDOW         4      chunks of one portal transfer on the wire
 *   NOC_LOOPBACK_LATENCY_NS     1000   default packet latency, ns
 *   NOC_LOOPBACK_RULES          16     scripted fault rules
 *
 * Implementation: NOC_IMPLEMENTATION (or UAREA_IMPLEMENTATION), which also
 * compiles noc/noc.h's dispatch. Single-threaded: one thread drives every
 * node of a loopback.
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "noc.h"

#ifndef NOC_LOOPBACK_H
#define NOC_LOOPBACK_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration ------------------------------------------------------- */
#ifndef NOC_LOOPBACK_NODES_MAX
#  define NOC_LOOPBACK_NODES_MAX NOC_NODES_MAX
#endif
#ifndef NOC_LOOPBACK_MAILBOX_DEPTH
#  define NOC_LOOPBACK_MAILBOX_DEPTH 16
#endif
#ifndef NOC_LOOPBACK_PACKETS
#  define NOC_LOOPBACK_PACKETS 512
#endif
#ifndef NOC_LOOPBACK_WINDOW
#  define NOC_LOOPBACK_WINDOW 4
#endif
#ifndef NOC_LOOPBACK_LATENCY_NS
#  define NOC_LOOPBACK_LATENCY_NS 1000u
#endif
#ifndef NOC_LOOPBACK_RULES
#  define NOC_LOOPBACK_RULES 16
#endif

UAREA_STATIC_ASSERT(NOC_LOOPBACK_NODES_MAX >= 1 && NOC_LOOPBACK_NODES_MAX <= 4096,
                    "loopback node count out of range");
UAREA_STATIC_ASSERT(NOC_LOOPBACK_MAILBOX_DEPTH >= 1, "a mailbox holds at least one message");
UAREA_STATIC_ASSERT(NOC_LOOPBACK_PACKETS >= 2 && NOC_LOOPBACK_PACKETS <= 1000000,
                    "loopback packet pool out of range");
UAREA_STATIC_ASSERT(NOC_LOOPBACK_WINDOW >= 1, "a transfer needs one chunk on the wire");
UAREA_STATIC_ASSERT(NOC_PORTAL_MAX_SIZE / NOC_PORTAL_CHUNK < 0x7fffffffu,
                    "chunk indices fit an int");

/* Packet kinds (bit masks). */
#define NOC_LB_MAILBOX 1u
#define NOC_LB_CHUNK 2u
#define NOC_LB_ANY 3u

/* Faults, and the trace events that report them. */
#define NOC_LB_DROP 1
#define NOC_LB_DUP 2
#define NOC_LB_DELAY 3
#define NOC_LB_CORRUPT 4
#define NOC_LB_CRASH 5
/* Other trace events. */
#define NOC_LB_EV_SEND 16     /* a packet went on the wire (before its fault) */
#define NOC_LB_EV_DELIVER 17  /* a packet arrived and was taken */
#define NOC_LB_EV_DISCARD 18  /* a packet was thrown away: it arrived for a mailbox
                                 or transfer that is gone, repeated a chunk, or was
                                 lost with a crash or an aborted transfer */

/* One event of the trace. CRASH: src is the node, the rest is 0. */
typedef struct noc_loopback_event {
    uint64_t time;      /* virtual ns */
    int what;           /* NOC_LB_EV_* or a fault */
    unsigned kind;      /* NOC_LB_MAILBOX or NOC_LB_CHUNK */
    int src, dst, port; /* sender, receiver, receiving port */
    uint32_t index;     /* mailbox: 1-based count on this link; chunk: its index */
    uint32_t len;       /* payload bytes */
} noc_loopback_event;

/* Random faults. Probabilities are per packet, in parts per million; their
 * sum is at most 1000000. All zero: no random faults. */
typedef struct noc_loopback_faults {
    uint64_t seed;           /* PRNG seed */
    uint32_t drop_ppm, dup_ppm, delay_ppm, corrupt_ppm, crash_ppm;
    unsigned kinds;          /* packets they hit (NOC_LB_MAILBOX|NOC_LB_CHUNK); 0: both */
    uint64_t delay_ns;       /* extra delay of a delayed packet; 0: 8 x latency */
} noc_loopback_faults;

/* Zero means default everywhere: &(noc_loopback_desc){0} gives 2 nodes. */
typedef struct noc_loopback_desc {
    int nodes;               /* 1..NOC_LOOPBACK_NODES_MAX; 0: 2 */
    uint64_t latency_ns;     /* 0: NOC_LOOPBACK_LATENCY_NS */
    noc_loopback_faults faults;
    void (*trace)(void *arg, const noc_loopback_event *ev);  /* NULL: none */
    void *trace_arg;
} noc_loopback_desc;

/* Counters of one node. */
typedef struct noc_loopback_stats {
    /* as a sender */
    uint64_t msgs_sent;      /* mailbox messages sent (faults included) */
    uint64_t chunks_sent;    /* portal chunks sent (faults included) */
    uint64_t dropped, duplicated, delayed, corrupted;  /* faults on its packets */
    /* as a receiver */
    uint64_t msgs_delivered;   /* messages that reached one of its mailboxes */
    uint64_t chunks_delivered; /* chunks that landed in one of its reads */
    uint64_t discarded;      /* arrived but thrown away (mailbox gone or full,
                                stale or repeated chunk) */
    uint64_t msgs_read;      /* mailbox reads completed */
    uint64_t portal_reads;   /* portal reads completed with data */
    uint64_t portal_bytes;   /* bytes of those */
    uint64_t crashed;        /* 1 once the node crashed */
} noc_loopback_stats;

/* ---- Storage (fields are private) ------------------------------------------ */
#define NOC__LB_BITMAP ((NOC_PORTAL_MAX_SIZE / NOC_PORTAL_CHUNK + 8u) / 8u)

struct noc__lb_handle {
    unsigned char used, out, op, phase;
    int node, port, lport;   /* out: remote node, port, local port; in: own port */
    int from;                /* in: sender of the last message read, -1: none */
    int result;
    void *buf;
    const void *cbuf;
    size_t size;
};

struct noc__lb_mbox {
    int created, handle;
    uint32_t gen;
    int queued, inflight;
    int head, tail;
};

struct noc__lb_portal {
    int node, port;
    int created, handle;
    int allow_node, allow_port;
    int posted;
    int active, wnode, whandle;
    uint32_t xfer;
    size_t size;
    uint32_t nchunks, sent, inflight, received;
    unsigned char got[NOC__LB_BITMAP];
};

struct noc__lb_packet {
    int state, next;
    unsigned kind;
    int src, dst, port;
    uint32_t gen, index, len;
    int32_t flip;
    uint64_t due, seq;
    const unsigned char *from;
    size_t offset;
    unsigned char data[NOC_MAILBOX_MSG_SIZE];
};

struct noc__lb_rule {
    int used, fault;
    unsigned kind;
    int src, dst;
    uint32_t nth, seen;
    uint64_t arg;
};

struct noc_loopback;

typedef struct noc_loopback_node {
    struct noc_loopback *lb;
    int self, crashed, ops;
    struct noc__lb_handle mbx[NOC_OPEN_MAX];
    struct noc__lb_handle ptl[NOC_OPEN_MAX];
    struct noc__lb_mbox mbox[NOC_PORTS_MAX];
    struct noc__lb_portal portal[NOC_PORTS_MAX];
    uint32_t link[NOC_LOOPBACK_NODES_MAX][2];
    noc_loopback_stats stats;
} noc_loopback_node;

typedef struct noc_loopback {
    uint32_t magic;
    int nodes;
    uint64_t now, latency, seq, rng, hash;
    noc_loopback_faults faults;
    void (*trace)(void *arg, const noc_loopback_event *ev);
    void *trace_arg;
    int wire;                /* packets on the wire */
    int hint;                /* where to look for a free packet */
    struct noc__lb_rule rules[NOC_LOOPBACK_RULES];
    struct noc__lb_packet pkt[NOC_LOOPBACK_PACKETS];
    noc_loopback_node node[NOC_LOOPBACK_NODES_MAX];
} noc_loopback;

/* ---- API ----------------------------------------------------------------- */
/* Set up a loopback (desc NULL: defaults). UAREA_EINVAL: bad descriptor
 * (node count out of range, probabilities summing above 1000000). */
UAREA_API int noc_loopback_init(noc_loopback *lb, const noc_loopback_desc *desc);
/* The transport of simulated node `node` (t->ctx points into lb). */
UAREA_API int noc_loopback_transport(noc_loopback *lb, int node, noc_transport *t);
UAREA_API const struct noc_ops *noc_loopback_ops(void);

/* Run the fabric: see the top comment. Each returns the number of things that
 * happened (0: idle), or UAREA_EINVAL. */
UAREA_API int noc_loopback_step(noc_loopback *lb);
UAREA_API int noc_loopback_advance(noc_loopback *lb, uint64_t ns);
/* Steps until idle, at most max_events events (0: no limit); UAREA_EBUSY when
 * the limit was reached first. */
UAREA_API int noc_loopback_run_until_idle(noc_loopback *lb, int max_events);
UAREA_API uint64_t noc_loopback_now(const noc_loopback *lb);

/* Faults. */
UAREA_API int noc_loopback_set_faults(noc_loopback *lb, const noc_loopback_faults *f);
/* Apply `fault` to the nth (1-based) packet of `kind` (NOC_LB_MAILBOX,
 * NOC_LB_CHUNK or NOC_LB_ANY) from src to dst (-1: any), counted from now.
 * arg: the extra delay in ns (DELAY; 0: the random faults' delay), the bit to
 * flip (CORRUPT; taken modulo the packet's bits). Returns the rule's index;
 * UAREA_ENOMEM when NOC_LOOPBACK_RULES rules wait already, UAREA_EINVAL,
 * UAREA_EBADNODE. */
UAREA_API int noc_loopback_script(noc_loopback *lb, int fault, unsigned kind, int src, int dst,
                                  uint32_t nth, uint64_t arg);
/* Rules that have not fired yet. */
UAREA_API int noc_loopback_rules_pending(const noc_loopback *lb);
/* Crash a node now (see the top comment). 0, or UAREA_EBADNODE, UAREA_EINVAL;
 * crashing a crashed node does nothing. */
UAREA_API int noc_loopback_crash(noc_loopback *lb, int node);
/* 1 when the node runs, 0 when it crashed, UAREA_EBADNODE. */
UAREA_API int noc_loopback_alive(const noc_loopback *lb, int node);

/* Observation. */
UAREA_API int noc_loopback_get_stats(const noc_loopback *lb, int node, noc_loopback_stats *out);
UAREA_API uint64_t noc_loopback_trace_hash(const noc_loopback *lb);
/* Packets on the wire now (not counting those queued in mailboxes). */
UAREA_API int noc_loopback_in_flight(const noc_loopback *lb);

UAREA_EXTERN_C_END

#endif /* NOC_LOOPBACK_H */

/* ------------------------------------------------------------------------ */
#if defined(NOC_IMPLEMENTATION) && !defined(NOC__LOOPBACK_IMPLEMENTED)
#define NOC__LOOPBACK_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#define NOC__LB_MAGIC 0x4e4f434cu       /* "NOCL" */
#define NOC__LB_NONE UINT64_MAX
enum { NOC__LB_OP_NONE = 0, NOC__LB_OP_READ = 1, NOC__LB_OP_WRITE = 2 };
enum { NOC__LB_PENDING = 0, NOC__LB_TRANSFER = 1, NOC__LB_DONE = 2 };
enum { NOC__LB_FREE = 0, NOC__LB_WIRE = 1, NOC__LB_QUEUED = 2 };

/* ---- small helpers ---- */
static uint64_t noc__lb_rand(noc_loopback *lb)
{
    uint64_t z = (lb->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void noc__lb_mix(noc_loopback *lb, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) {
        lb->hash ^= (v >> (8 * i)) & 0xffu;
        lb->hash *= UINT64_C(0x100000001b3);
    }
}

static void noc__lb_emit(noc_loopback *lb, int what, unsigned kind, int src, int dst, int port,
                         uint32_t index, uint32_t len)
{
    noc_loopback_event ev;
    UAREA_MEMSET(&ev, 0, sizeof ev);    /* no stray padding bytes for the trace */
    ev.time = lb->now;
    ev.what = what;
    ev.kind = kind;
    ev.src = src;
    ev.dst = dst;
    ev.port = port;
    ev.index = index;
    ev.len = len;
    noc__lb_mix(lb, ev.time);
    noc__lb_mix(lb, ((uint64_t)(uint32_t)what << 32) | kind);
    noc__lb_mix(lb, ((uint64_t)(uint32_t)src << 32) | (uint32_t)dst);
    noc__lb_mix(lb, ((uint64_t)(uint32_t)port << 32) | index);
    noc__lb_mix(lb, len);
    if (lb->trace) lb->trace(lb->trace_arg, &ev);
}

static noc_loopback_node *noc__lb_ctx(void *ctx)
{
    noc_loopback_node *n = (noc_loopback_node *)ctx;
    if (n == NULL || n->lb == NULL || n->lb->magic != NOC__LB_MAGIC) return NULL;
    return n;
}

static struct noc__lb_handle *noc__lb_get(struct noc__lb_handle *tab, int h)
{
    if (h < 0 || h >= NOC_OPEN_MAX || !tab[h].used) return NULL;
    return &tab[h];
}

static int noc__lb_free_slot(struct noc__lb_handle *tab)
{
    int i;
    for (i = 0; i < NOC_OPEN_MAX; i++)
        if (!tab[i].used) return i;
    return -1;
}

static void noc__lb_start(noc_loopback_node *n, struct noc__lb_handle *h, int op)
{
    h->op = (unsigned char)op;
    h->phase = NOC__LB_PENDING;
    h->result = 0;
    n->ops++;
}

static void noc__lb_finish(struct noc__lb_handle *h, int rc)
{
    h->result = rc;
    h->phase = NOC__LB_DONE;
}

static int noc__lb_take(noc_loopback_node *n, struct noc__lb_handle *h)
{
    int rc = h->result;
    h->op = NOC__LB_OP_NONE;
    h->phase = NOC__LB_PENDING;
    n->ops--;
    return rc;
}

/* Drop an operation without a result (unlink/close, crash of its node). */
static void noc__lb_clear(noc_loopback_node *n, struct noc__lb_handle *h)
{
    if (h->op != NOC__LB_OP_NONE) {
        h->op = NOC__LB_OP_NONE;
        h->phase = NOC__LB_PENDING;
        n->ops--;
    }
}

/* ---- packets ---- */
static int noc__lb_alloc(noc_loopback *lb)
{
    int i, k;
    for (k = 0; k < NOC_LOOPBACK_PACKETS; k++) {
        i = (lb->hint + k) % NOC_LOOPBACK_PACKETS;
        if (lb->pkt[i].state == NOC__LB_FREE) {
            lb->hint = (i + 1) % NOC_LOOPBACK_PACKETS;
            return i;
        }
    }
    return -1;
}

static int noc__lb_free_count(noc_loopback *lb, int want)
{
    int i, n = 0;
    for (i = 0; i < NOC_LOOPBACK_PACKETS && n < want; i++)
        n += lb->pkt[i].state == NOC__LB_FREE;
    return n;
}

/* Take a packet off the wire: give back the credit or window slot it held. */
static void noc__lb_unwire(noc_loopback *lb, struct noc__lb_packet *p)
{
    noc_loopback_node *d = &lb->node[p->dst];
    if (p->kind == NOC_LB_MAILBOX) {
        struct noc__lb_mbox *m = &d->mbox[p->port];
        if (m->gen == p->gen && m->inflight > 0) m->inflight--;
    } else {
        struct noc__lb_portal *po = &d->portal[p->port];
        if (po->active && po->xfer == p->gen && po->inflight > 0) po->inflight--;
    }
    p->state = NOC__LB_FREE;
    lb->wire--;
}

/* Which fault hits this packet (0: none); *arg receives the rule's argument. */
static int noc__lb_decide(noc_loopback *lb, unsigned kind, int src, int dst, uint32_t len,
                          uint64_t *arg, int *scripted)
{
    int i, fault = 0;
    const noc_loopback_faults *f = &lb->faults;
    uint32_t total;
    *arg = 0;
    *scripted = 0;
    for (i = 0; i < NOC_LOOPBACK_RULES; i++) {
        struct noc__lb_rule *r = &lb->rules[i];
        if (!r->used || !(r->kind & kind)) continue;
        if ((r->src >= 0 && r->src != src) || (r->dst >= 0 && r->dst != dst)) continue;
        if (r->seen + 1 == r->nth && fault != 0) continue;  /* fires on its next match */
        r->seen++;
        if (r->seen == r->nth) {
            fault = r->fault;
            *arg = r->arg;
            *scripted = 1;
            r->used = 0;
        }
    }
    if (fault != 0) return fault;
    total = f->drop_ppm + f->dup_ppm + f->delay_ppm + f->corrupt_ppm + f->crash_ppm;
    if (total != 0 && ((f->kinds ? f->kinds : NOC_LB_ANY) & kind)) {
        uint32_t r = (uint32_t)(noc__lb_rand(lb) % 1000000u);
        if (r < f->drop_ppm) return NOC_LB_DROP;
        r -= f->drop_ppm;
        if (r < f->dup_ppm) return NOC_LB_DUP;
        r -= f->dup_ppm;
        if (r < f->delay_ppm) return NOC_LB_DELAY;
        r -= f->delay_ppm;
        if (r < f->corrupt_ppm) {
            *arg = noc__lb_rand(lb) % ((uint64_t)len * 8u);
            return NOC_LB_CORRUPT;
        }
        r -= f->corrupt_ppm;
        if (r < f->crash_ppm) return NOC_LB_CRASH;
    }
    return 0;
}

static void noc__lb_crash(noc_loopback *lb, int node);

/* Send one packet from src. Returns 1 when sent (perhaps lost to a fault), 0
 * when the wire has no free packet (try again later), -1 when the sender
 * crashed instead. */
static int noc__lb_send(noc_loopback *lb, int src, unsigned kind, int dst, int port, uint32_t gen,
                        uint32_t index, const unsigned char *bytes, size_t offset, uint32_t len)
{
    noc_loopback_node *s = &lb->node[src];
    struct noc__lb_packet *p;
    uint64_t arg;
    int fault, scripted, i, copies = 1, k;
    if (noc__lb_free_count(lb, 2) < 1) return 0;
    fault = noc__lb_decide(lb, kind, src, dst, len, &arg, &scripted);
    if (fault == NOC_LB_CRASH) {
        noc__lb_crash(lb, src);
        return -1;
    }
    if (fault == NOC_LB_DUP && noc__lb_free_count(lb, 2) < 2) fault = 0;  /* no room for it */
    if (kind == NOC_LB_MAILBOX) s->stats.msgs_sent++;
    else s->stats.chunks_sent++;
    noc__lb_emit(lb, NOC_LB_EV_SEND, kind, src, dst, port, index, len);
    if (fault != 0) noc__lb_emit(lb, fault, kind, src, dst, port, index, len);
    if (fault == NOC_LB_DROP) {
        s->stats.dropped++;
        return 1;
    }
    if (fault == NOC_LB_DUP) {
        s->stats.duplicated++;
        copies = 2;
    }
    for (k = 0; k < copies; k++) {
        i = noc__lb_alloc(lb);
        p = &lb->pkt[i];
        p->state = NOC__LB_WIRE;
        p->next = -1;
        p->kind = kind;
        p->src = src;
        p->dst = dst;
        p->port = port;
        p->gen = gen;
        p->index = index;
        p->len = len;
        p->flip = -1;
        p->seq = lb->seq++;
        p->due = lb->now > NOC__LB_NONE - 1 - lb->latency ? NOC__LB_NONE - 1
                                                           : lb->now + lb->latency;
        p->from = NULL;
        p->offset = offset;
        if (kind == NOC_LB_MAILBOX) {
            UAREA_MEMCPY(p->data, bytes, len);
            lb->node[dst].mbox[port].inflight++;
        } else {
            p->from = bytes;
            lb->node[dst].portal[port].inflight++;
        }
        lb->wire++;
        if (k == 0 && fault == NOC_LB_DELAY) {
            uint64_t extra = scripted && arg != 0 ? arg
                           : (lb->faults.delay_ns ? lb->faults.delay_ns : 8u * lb->latency);
            s->stats.delayed++;
            p->due = p->due > NOC__LB_NONE - 1 - extra ? NOC__LB_NONE - 1 : p->due + extra;
        }
        if (k == 0 && fault == NOC_LB_CORRUPT) {
            s->stats.corrupted++;
            p->flip = (int32_t)(arg % ((uint64_t)len * 8u));
            if (kind == NOC_LB_MAILBOX)
                p->data[p->flip / 8] ^= (unsigned char)(1u << (p->flip % 8));
        }
    }
    return 1;
}

/* ---- portals: transfer bookkeeping ---- */
static void noc__lb_purge_transfer(noc_loopback *lb, int node, int port, uint32_t xfer)
{
    int i;
    for (i = 0; i < NOC_LOOPBACK_PACKETS; i++) {
        struct noc__lb_packet *p = &lb->pkt[i];
        if (p->state == NOC__LB_WIRE && p->kind == NOC_LB_CHUNK && p->dst == node &&
            p->port == port && p->gen == xfer) {
            noc__lb_emit(lb, NOC_LB_EV_DISCARD, p->kind, p->src, p->dst, p->port, p->index,
                         p->len);
            noc__lb_unwire(lb, p);
        }
    }
}

/* End the read posted on (node, port) and the transfer feeding it, if any. */
static void noc__lb_read_end(noc_loopback *lb, int node, int port, int rrc, int wrc)
{
    noc_loopback_node *d = &lb->node[node];
    struct noc__lb_portal *po = &d->portal[port];
    if (po->active) {
        noc_loopback_node *w = &lb->node[po->wnode];
        struct noc__lb_handle *wh = &w->ptl[po->whandle];
        noc__lb_purge_transfer(lb, node, port, po->xfer);
        if (wh->used && wh->op == NOC__LB_OP_WRITE && wh->phase != NOC__LB_DONE)
            noc__lb_finish(wh, wrc);
        po->active = 0;
        po->xfer++;
    }
    if (po->posted) {
        struct noc__lb_handle *rh = &d->ptl[po->handle];
        if (rh->op == NOC__LB_OP_READ && rh->phase != NOC__LB_DONE) noc__lb_finish(rh, rrc);
        po->posted = 0;
    }
    po->allow_node = -1;
    po->allow_port = -1;
}

/* Why a portal write has not started. */
static int noc__lb_write_reason(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h)
{
    struct noc__lb_portal *po = &lb->node[h->node].portal[h->port];
    if (!po->created || po->allow_node != n->self || po->allow_port != h->lport)
        return UAREA_ENOTALLOWED;
    return UAREA_EAGAIN;
}

/* ---- progress of one operation (no time passes) ---- */
static int noc__lb_mbx_progress(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h)
{
    if (h->op == NOC__LB_OP_NONE || h->phase == NOC__LB_DONE) return 0;
    if (h->op == NOC__LB_OP_READ) {
        struct noc__lb_mbox *m = &n->mbox[h->port];
        struct noc__lb_packet *p;
        if (m->queued == 0) return 0;
        p = &lb->pkt[m->head];
        if (p->len > h->size) {
            noc__lb_finish(h, UAREA_EMSGSIZE);    /* the message stays queued */
            return 1;
        }
        UAREA_MEMCPY(h->buf, p->data, p->len);
        h->from = p->src;
        noc__lb_finish(h, (int)p->len);
        m->head = p->next;
        if (m->head < 0) m->tail = -1;
        m->queued--;
        p->state = NOC__LB_FREE;
        n->stats.msgs_read++;
        return 1;
    } else {
        noc_loopback_node *d = &lb->node[h->node];
        struct noc__lb_mbox *m = &d->mbox[h->port];
        int rc;
        if (d->crashed) {
            noc__lb_finish(h, UAREA_EPEERGONE);
            return 1;
        }
        if (!m->created || m->queued + m->inflight >= NOC_LOOPBACK_MAILBOX_DEPTH) return 0;
        rc = noc__lb_send(lb, n->self, NOC_LB_MAILBOX, h->node, h->port, m->gen,
                          ++n->link[h->node][0], (const unsigned char *)h->cbuf, 0,
                          (uint32_t)h->size);
        if (rc == 0) {
            n->link[h->node][0]--;
            return 0;
        }
        if (rc > 0) noc__lb_finish(h, (int)h->size);
        return 1;                                 /* sent, or the sender crashed */
    }
}

static int noc__lb_push_chunks(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h)
{
    struct noc__lb_portal *po = &lb->node[h->node].portal[h->port];
    int did = 0;
    while (po->active && po->sent < po->nchunks && po->inflight < NOC_LOOPBACK_WINDOW) {
        size_t off = (size_t)po->sent * NOC_PORTAL_CHUNK;
        size_t len = po->size - off < NOC_PORTAL_CHUNK ? po->size - off : NOC_PORTAL_CHUNK;
        int rc = noc__lb_send(lb, n->self, NOC_LB_CHUNK, h->node, h->port, po->xfer, po->sent,
                              (const unsigned char *)h->cbuf + off, off, (uint32_t)len);
        if (rc == 0) break;
        did = 1;
        if (rc < 0) break;                        /* the sender crashed */
        po->sent++;
    }
    return did;
}

static int noc__lb_ptl_progress(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h)
{
    noc_loopback_node *d;
    struct noc__lb_portal *po;
    struct noc__lb_handle *rh;
    if (h->op != NOC__LB_OP_WRITE || h->phase == NOC__LB_DONE) return 0;  /* reads are fed */
    d = &lb->node[h->node];
    po = &d->portal[h->port];
    if (h->phase == NOC__LB_TRANSFER) return noc__lb_push_chunks(lb, n, h);
    if (d->crashed) {
        noc__lb_finish(h, UAREA_EPEERGONE);
        return 1;
    }
    if (!po->created || po->allow_node != n->self || po->allow_port != h->lport) return 0;
    if (!po->posted || po->active) return 0;
    rh = &d->ptl[po->handle];
    if (h->size > rh->size) {
        noc__lb_finish(h, UAREA_EMSGSIZE);
        noc__lb_read_end(lb, h->node, h->port, UAREA_EMSGSIZE, UAREA_EMSGSIZE);
        return 1;
    }
    po->active = 1;
    po->wnode = n->self;
    po->whandle = (int)(h - n->ptl);
    po->size = h->size;
    po->nchunks = (uint32_t)((h->size + NOC_PORTAL_CHUNK - 1) / NOC_PORTAL_CHUNK);
    po->sent = po->inflight = po->received = 0;
    UAREA_MEMSET(po->got, 0, sizeof po->got);
    h->phase = NOC__LB_TRANSFER;
    (void)noc__lb_push_chunks(lb, n, h);
    return 1;
}

/* Settle everything that needs no time. Returns what happened. */
static int noc__lb_settle(noc_loopback *lb)
{
    int did = 0, i, k;
    for (i = 0; i < lb->nodes; i++) {
        noc_loopback_node *n = &lb->node[i];
        if (n->crashed || n->ops == 0) continue;
        for (k = 0; k < NOC_OPEN_MAX; k++) {
            if (n->mbx[k].used) did += noc__lb_mbx_progress(lb, n, &n->mbx[k]);
            if (n->ptl[k].used) did += noc__lb_ptl_progress(lb, n, &n->ptl[k]);
        }
    }
    return did;
}

/* ---- delivery ---- */
static void noc__lb_discard(noc_loopback *lb, struct noc__lb_packet *p)
{
    lb->node[p->dst].stats.discarded++;
    noc__lb_emit(lb, NOC_LB_EV_DISCARD, p->kind, p->src, p->dst, p->port, p->index, p->len);
    noc__lb_unwire(lb, p);
}

static void noc__lb_deliver(noc_loopback *lb, struct noc__lb_packet *p)
{
    noc_loopback_node *d = &lb->node[p->dst];
    if (p->kind == NOC_LB_MAILBOX) {
        struct noc__lb_mbox *m = &d->mbox[p->port];
        int i = (int)(p - lb->pkt);
        if (!m->created || m->gen != p->gen || m->queued >= NOC_LOOPBACK_MAILBOX_DEPTH) {
            noc__lb_discard(lb, p);
            return;
        }
        noc__lb_emit(lb, NOC_LB_EV_DELIVER, p->kind, p->src, p->dst, p->port, p->index, p->len);
        noc__lb_unwire(lb, p);
        p->state = NOC__LB_QUEUED;
        p->next = -1;
        if (m->tail >= 0) lb->pkt[m->tail].next = i;
        else m->head = i;
        m->tail = i;
        m->queued++;
        d->stats.msgs_delivered++;
        if (m->handle >= 0) (void)noc__lb_mbx_progress(lb, d, &d->mbx[m->handle]);
    } else {
        struct noc__lb_portal *po = &d->portal[p->port];
        struct noc__lb_handle *rh;
        unsigned char *dst;
        if (!po->active || po->xfer != p->gen || (po->got[p->index / 8] >> (p->index % 8)) & 1u) {
            noc__lb_discard(lb, p);
            return;
        }
        rh = &d->ptl[po->handle];
        dst = (unsigned char *)rh->buf + p->offset;
        UAREA_MEMCPY(dst, p->from, p->len);
        if (p->flip >= 0) dst[p->flip / 8] ^= (unsigned char)(1u << (p->flip % 8));
        po->got[p->index / 8] |= (unsigned char)(1u << (p->index % 8));
        po->received++;
        d->stats.chunks_delivered++;
        noc__lb_emit(lb, NOC_LB_EV_DELIVER, p->kind, p->src, p->dst, p->port, p->index, p->len);
        noc__lb_unwire(lb, p);
        if (po->received == po->nchunks) {
            int size = (int)po->size;
            d->stats.portal_reads++;
            d->stats.portal_bytes += po->size;
            noc__lb_read_end(lb, p->dst, p->port, size, size);
        }
    }
}

/* One step, never past `limit` (NOC__LB_NONE: no limit); when no packet is
 * due by then, the clock moves to the limit. */
static int noc__lb_step(noc_loopback *lb, uint64_t limit)
{
    int did = noc__lb_settle(lb), i, best;
    uint64_t t = NOC__LB_NONE;
    if (did > 0) return did;
    for (i = 0; i < NOC_LOOPBACK_PACKETS; i++)
        if (lb->pkt[i].state == NOC__LB_WIRE && lb->pkt[i].due < t) t = lb->pkt[i].due;
    if (t == NOC__LB_NONE || (limit != NOC__LB_NONE && t > limit)) {
        if (limit != NOC__LB_NONE && limit > lb->now) lb->now = limit;
        return 0;
    }
    if (t > lb->now) lb->now = t;
    for (;;) {
        best = -1;
        for (i = 0; i < NOC_LOOPBACK_PACKETS; i++) {
            struct noc__lb_packet *p = &lb->pkt[i];
            if (p->state != NOC__LB_WIRE || p->due > lb->now) continue;
            if (best < 0 || p->due < lb->pkt[best].due ||
                (p->due == lb->pkt[best].due && p->seq < lb->pkt[best].seq))
                best = i;
        }
        if (best < 0) break;
        noc__lb_deliver(lb, &lb->pkt[best]);
        did++;
    }
    return did + noc__lb_settle(lb);
}

/* ---- crash ---- */
static void noc__lb_crash(noc_loopback *lb, int c)
{
    noc_loopback_node *cn = &lb->node[c];
    int i, k, port;
    if (cn->crashed) return;
    cn->crashed = 1;
    cn->stats.crashed = 1;
    noc__lb_emit(lb, NOC_LB_CRASH, 0, c, 0, 0, 0, 0);
    /* transfers into and out of it end; so do reads that allowed it */
    for (i = 0; i < lb->nodes; i++)
        for (port = 0; port < NOC_PORTS_MAX; port++) {
            struct noc__lb_portal *po = &lb->node[i].portal[port];
            if ((po->active && (i == c || po->wnode == c)) ||
                (po->posted && (i == c || po->allow_node == c)))
                noc__lb_read_end(lb, i, port, UAREA_EPEERGONE, UAREA_EPEERGONE);
        }
    /* packets to it are lost, and so are its chunks (they are read from its
     * memory as they land); its mailbox messages already on the wire arrive */
    for (i = 0; i < NOC_LOOPBACK_PACKETS; i++) {
        struct noc__lb_packet *p = &lb->pkt[i];
        if (p->state == NOC__LB_WIRE &&
            (p->dst == c || (p->src == c && p->kind == NOC_LB_CHUNK))) {
            noc__lb_emit(lb, NOC_LB_EV_DISCARD, p->kind, p->src, p->dst, p->port, p->index,
                         p->len);
            noc__lb_unwire(lb, p);
        }
        else if (p->state == NOC__LB_QUEUED && p->dst == c) p->state = NOC__LB_FREE;
    }
    for (port = 0; port < NOC_PORTS_MAX; port++) {
        cn->mbox[port].queued = 0;
        cn->mbox[port].head = cn->mbox[port].tail = -1;
    }
    /* pending writes to it end; its own operations end */
    for (i = 0; i < lb->nodes; i++) {
        noc_loopback_node *n = &lb->node[i];
        for (k = 0; k < NOC_OPEN_MAX; k++) {
            struct noc__lb_handle *hs[2];
            int j;
            hs[0] = &n->mbx[k];
            hs[1] = &n->ptl[k];
            for (j = 0; j < 2; j++) {
                struct noc__lb_handle *h = hs[j];
                if (!h->used || h->op == NOC__LB_OP_NONE || h->phase == NOC__LB_DONE) continue;
                if (i == c || (h->out && h->node == c)) noc__lb_finish(h, UAREA_EPEERGONE);
            }
        }
    }
}

/* ---- ops: nodes, clock ---- */
#define NOC__LB_NODE(ctx) \
    noc_loopback_node *n = noc__lb_ctx(ctx); \
    noc_loopback *lb; \
    if (n == NULL) return UAREA_EINVAL; \
    lb = n->lb; \
    if (n->crashed) return UAREA_EPEERGONE

static int noc__lb_node_self(void *ctx)
{
    noc_loopback_node *n = noc__lb_ctx(ctx);
    return n ? n->self : UAREA_EINVAL;
}

static int noc__lb_nodes(void *ctx)
{
    noc_loopback_node *n = noc__lb_ctx(ctx);
    return n ? n->lb->nodes : UAREA_EINVAL;
}

static uint64_t noc__lb_clock(void *ctx)
{
    noc_loopback_node *n = noc__lb_ctx(ctx);
    return n ? n->lb->now : 0;
}

/* ---- ops: mailboxes ---- */
static int noc__lb_mbx_create(void *ctx, int port)
{
    struct noc__lb_mbox *m;
    int h;
    NOC__LB_NODE(ctx);
    (void)lb;
    if (port < 0 || port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    m = &n->mbox[port];
    if (m->created) return UAREA_EPORTINUSE;
    h = noc__lb_free_slot(n->mbx);
    if (h < 0) return UAREA_ETOOMANY;
    UAREA_MEMSET(&n->mbx[h], 0, sizeof n->mbx[h]);
    n->mbx[h].used = 1;
    n->mbx[h].node = n->self;
    n->mbx[h].port = port;
    n->mbx[h].from = -1;
    m->created = 1;
    m->handle = h;
    m->gen++;
    m->queued = m->inflight = 0;
    m->head = m->tail = -1;
    return h;
}

static int noc__lb_mbx_open(void *ctx, int node, int port)
{
    int h;
    NOC__LB_NODE(ctx);
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    if (port < 0 || port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    if (lb->node[node].crashed) return UAREA_EPEERGONE;
    h = noc__lb_free_slot(n->mbx);
    if (h < 0) return UAREA_ETOOMANY;
    UAREA_MEMSET(&n->mbx[h], 0, sizeof n->mbx[h]);
    n->mbx[h].used = 1;
    n->mbx[h].out = 1;
    n->mbx[h].node = node;
    n->mbx[h].port = port;
    return h;
}

static int noc__lb_mbx_unlink(void *ctx, int mbx)
{
    struct noc__lb_handle *h;
    struct noc__lb_mbox *m;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    noc__lb_clear(n, h);
    m = &n->mbox[h->port];
    while (m->head >= 0) {
        struct noc__lb_packet *p = &lb->pkt[m->head];
        m->head = p->next;
        p->state = NOC__LB_FREE;
    }
    m->tail = -1;
    m->queued = m->inflight = 0;
    m->created = 0;
    m->handle = -1;
    m->gen++;
    h->used = 0;
    return 0;
}

static int noc__lb_mbx_close(void *ctx, int mbx)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    (void)lb;
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    noc__lb_clear(n, h);                /* a message on the wire stays there */
    h->used = 0;
    return 0;
}

static int noc__lb_mbx_aread(void *ctx, int mbx, void *buf, size_t size)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) return UAREA_EBUSY;
    noc__lb_start(n, h, NOC__LB_OP_READ);
    h->buf = buf;
    h->size = size;
    (void)noc__lb_mbx_progress(lb, n, h);
    return 0;
}

static int noc__lb_mbx_awrite(void *ctx, int mbx, const void *buf, size_t size)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) return UAREA_EBUSY;
    if (lb->node[h->node].crashed) return UAREA_EPEERGONE;
    noc__lb_start(n, h, NOC__LB_OP_WRITE);
    h->cbuf = buf;
    h->size = size;
    (void)noc__lb_mbx_progress(lb, n, h);
    if (n->crashed) return UAREA_EPEERGONE;   /* a crash fault hit this send */
    return 0;
}

/* ---- ops: portals ---- */
static int noc__lb_ptl_create(void *ctx, int port)
{
    struct noc__lb_portal *po;
    int h;
    NOC__LB_NODE(ctx);
    (void)lb;
    if (port < 0 || port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    po = &n->portal[port];
    if (po->created) return UAREA_EPORTINUSE;
    h = noc__lb_free_slot(n->ptl);
    if (h < 0) return UAREA_ETOOMANY;
    UAREA_MEMSET(&n->ptl[h], 0, sizeof n->ptl[h]);
    n->ptl[h].used = 1;
    n->ptl[h].node = n->self;
    n->ptl[h].port = port;
    po->created = 1;
    po->handle = h;
    po->allow_node = po->allow_port = -1;
    po->posted = po->active = 0;
    return h;
}

static int noc__lb_ptl_allow(void *ctx, int portal, int node, int port)
{
    struct noc__lb_handle *h;
    struct noc__lb_portal *po;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) return UAREA_EBUSY;
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    if (port < 0 || port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    if (lb->node[node].crashed) return UAREA_EPEERGONE;
    po = &n->portal[h->port];
    po->allow_node = node;
    po->allow_port = port;
    return 0;
}

static int noc__lb_ptl_open(void *ctx, int local_port, int node, int port)
{
    int h, i;
    NOC__LB_NODE(ctx);
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    if (port < 0 || port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    if (lb->node[node].crashed) return UAREA_EPEERGONE;
    if (local_port < 0 || local_port >= NOC_PORTS_MAX) return UAREA_EBADPORT;
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        struct noc__lb_handle *o = &n->ptl[i];
        if (o->used && o->out && o->lport == local_port && o->node == node && o->port == port)
            return UAREA_EPORTINUSE;
    }
    h = noc__lb_free_slot(n->ptl);
    if (h < 0) return UAREA_ETOOMANY;
    UAREA_MEMSET(&n->ptl[h], 0, sizeof n->ptl[h]);
    n->ptl[h].used = 1;
    n->ptl[h].out = 1;
    n->ptl[h].node = node;
    n->ptl[h].port = port;
    n->ptl[h].lport = local_port;
    return h;
}

static int noc__lb_ptl_aread(void *ctx, int portal, void *buf, size_t size)
{
    struct noc__lb_handle *h;
    struct noc__lb_portal *po;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) return UAREA_EBUSY;
    po = &n->portal[h->port];
    if (po->allow_node < 0) return UAREA_ENOTALLOWED;
    if (lb->node[po->allow_node].crashed) return UAREA_EPEERGONE;
    noc__lb_start(n, h, NOC__LB_OP_READ);
    h->buf = buf;
    h->size = size;
    po->posted = 1;
    return 0;
}

static int noc__lb_ptl_awrite(void *ctx, int portal, const void *buf, size_t size)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) return UAREA_EBUSY;
    if (lb->node[h->node].crashed) return UAREA_EPEERGONE;
    noc__lb_start(n, h, NOC__LB_OP_WRITE);
    h->cbuf = buf;
    h->size = size;
    (void)noc__lb_ptl_progress(lb, n, h);
    if (n->crashed) return UAREA_EPEERGONE;
    return 0;
}

/* ---- waiting, cancelling ---- */

/* The transfer this operation takes part in, or NULL. */
static struct noc__lb_portal *noc__lb_transfer(noc_loopback *lb, noc_loopback_node *n,
                                               struct noc__lb_handle *h, int portal)
{
    struct noc__lb_portal *po;
    if (!portal || h->phase == NOC__LB_DONE) return NULL;
    if (h->out) return h->phase == NOC__LB_TRANSFER ? &lb->node[h->node].portal[h->port] : NULL;
    po = &n->portal[h->port];
    return po->active ? po : NULL;
}

/* End a pending operation that has not started moving data: nothing moved. */
static int noc__lb_withdraw(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h,
                            int portal)
{
    int rc = UAREA_EAGAIN;
    if (portal && h->out) rc = noc__lb_write_reason(lb, n, h);
    if (portal && !h->out) n->portal[h->port].posted = 0;   /* the allow stays */
    noc__lb_finish(h, rc);
    return noc__lb_take(n, h);
}

/* A transfer under way cannot be withdrawn: run the fabric until it ends;
 * when it cannot end, end it on both sides with UAREA_ECANCELED. */
static int noc__lb_flush(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h,
                         struct noc__lb_portal *po)
{
    while (h->phase != NOC__LB_DONE) {
        int stuck = po->active && po->inflight == 0 && po->sent == po->nchunks;
        if (!stuck && noc__lb_step(lb, NOC__LB_NONE) > 0) continue;
        if (h->phase == NOC__LB_DONE) break;
        noc__lb_read_end(lb, po->node, po->port, UAREA_ECANCELED, UAREA_ECANCELED);
        if (h->phase != NOC__LB_DONE) noc__lb_finish(h, UAREA_ECANCELED);  /* never loop */
    }
    return noc__lb_take(n, h);
}

static int noc__lb_wait(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h,
                        int portal, int64_t timeout_ns)
{
    uint64_t deadline;
    if (h->op == NOC__LB_OP_NONE) return UAREA_ESTATE;
    if (portal) (void)noc__lb_ptl_progress(lb, n, h);
    else (void)noc__lb_mbx_progress(lb, n, h);
    if (h->phase == NOC__LB_DONE) return noc__lb_take(n, h);
    if (n->crashed) return UAREA_EPEERGONE;
    if (timeout_ns == 0) return UAREA_ETIMEDOUT;
    deadline = timeout_ns < 0 ? NOC__LB_NONE
             : (lb->now > NOC__LB_NONE - 1 - (uint64_t)timeout_ns ? NOC__LB_NONE - 1
                                                                : lb->now + (uint64_t)timeout_ns);
    for (;;) {
        int did = noc__lb_step(lb, deadline);
        if (h->op == NOC__LB_OP_NONE) return UAREA_EPEERGONE;  /* its node crashed */
        if (h->phase == NOC__LB_DONE) return noc__lb_take(n, h);
        if (n->crashed) return UAREA_EPEERGONE;
        if (did > 0) continue;
        if (timeout_ns >= 0) return UAREA_ETIMEDOUT;
        /* NOC_FOREVER on an idle fabric: it can never complete */
        {
            struct noc__lb_portal *po = noc__lb_transfer(lb, n, h, portal);
            if (po != NULL) {
                noc__lb_read_end(lb, po->node, po->port, UAREA_ECANCELED, UAREA_ECANCELED);
                (void)noc__lb_take(n, h);
            } else {
                (void)noc__lb_withdraw(lb, n, h, portal);
            }
        }
        return UAREA_ESTALLED;
    }
}

static int noc__lb_cancel(noc_loopback *lb, noc_loopback_node *n, struct noc__lb_handle *h,
                          int portal)
{
    struct noc__lb_portal *po;
    if (h->op == NOC__LB_OP_NONE) return UAREA_ESTATE;
    if (h->phase == NOC__LB_DONE) return noc__lb_take(n, h);
    po = noc__lb_transfer(lb, n, h, portal);
    if (po != NULL) return noc__lb_flush(lb, n, h, po);
    if (portal) (void)noc__lb_ptl_progress(lb, n, h);
    else (void)noc__lb_mbx_progress(lb, n, h);
    if (h->phase == NOC__LB_DONE) return noc__lb_take(n, h);
    po = noc__lb_transfer(lb, n, h, portal);   /* a write that just started */
    if (po != NULL) return noc__lb_flush(lb, n, h, po);
    return noc__lb_withdraw(lb, n, h, portal);
}

static int noc__lb_mbx_wait(void *ctx, int mbx, int64_t timeout_ns)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__lb_wait(lb, n, h, 0, timeout_ns);
}

static int noc__lb_mbx_cancel(void *ctx, int mbx)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__lb_cancel(lb, n, h, 0);
}

static int noc__lb_ptl_wait(void *ctx, int portal, int64_t timeout_ns)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__lb_wait(lb, n, h, 1, timeout_ns);
}

static int noc__lb_ptl_cancel(void *ctx, int portal)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__lb_cancel(lb, n, h, 1);
}

static int noc__lb_ptl_unlink(void *ctx, int portal)
{
    struct noc__lb_handle *h;
    struct noc__lb_portal *po;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) (void)noc__lb_cancel(lb, n, h, 1);
    if (n->crashed) return UAREA_EPEERGONE;
    po = &n->portal[h->port];
    po->allow_node = po->allow_port = -1;
    po->created = 0;
    po->posted = 0;
    po->handle = -1;
    h->used = 0;
    return 0;
}

static int noc__lb_ptl_close(void *ctx, int portal)
{
    struct noc__lb_handle *h;
    NOC__LB_NODE(ctx);
    h = noc__lb_get(n->ptl, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__LB_OP_NONE) (void)noc__lb_cancel(lb, n, h, 1);
    if (n->crashed) return UAREA_EPEERGONE;
    h->used = 0;
    return 0;
}

static int noc__lb_node_gone(void *ctx, int node)
{
    noc_loopback_node *n = noc__lb_ctx(ctx);
    return n != NULL && node >= 0 && node < n->lb->nodes && n->lb->node[node].crashed ? 1 : 0;
}

static int noc__lb_mbx_sender(void *ctx, int mbx)
{
    noc_loopback_node *n = noc__lb_ctx(ctx);
    struct noc__lb_handle *h;
    if (n == NULL) return UAREA_EINVAL;
    h = noc__lb_get(n->mbx, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    return h->from >= 0 ? h->from : UAREA_ESTATE;
}

static const struct noc_ops noc__lb_ops = {
    .node_self = noc__lb_node_self,
    .nodes = noc__lb_nodes,
    .mailbox_create = noc__lb_mbx_create,
    .mailbox_open = noc__lb_mbx_open,
    .mailbox_unlink = noc__lb_mbx_unlink,
    .mailbox_close = noc__lb_mbx_close,
    .mailbox_aread = noc__lb_mbx_aread,
    .mailbox_awrite = noc__lb_mbx_awrite,
    .mailbox_wait = noc__lb_mbx_wait,
    .mailbox_cancel = noc__lb_mbx_cancel,
    .portal_create = noc__lb_ptl_create,
    .portal_allow = noc__lb_ptl_allow,
    .portal_open = noc__lb_ptl_open,
    .portal_unlink = noc__lb_ptl_unlink,
    .portal_close = noc__lb_ptl_close,
    .portal_aread = noc__lb_ptl_aread,
    .portal_awrite = noc__lb_ptl_awrite,
    .portal_wait = noc__lb_ptl_wait,
    .portal_cancel = noc__lb_ptl_cancel,
    .clock_ns = noc__lb_clock,
    .node_gone = noc__lb_node_gone,
    .mailbox_sender = noc__lb_mbx_sender,
    /* no writing in place: the virtual-time model copies at its own pace */
};

/* ---- public ---- */
UAREA_API const struct noc_ops *noc_loopback_ops(void) { return &noc__lb_ops; }

static int noc__lb_check_faults(const noc_loopback_faults *f)
{
    uint64_t sum = (uint64_t)f->drop_ppm + f->dup_ppm + f->delay_ppm + f->corrupt_ppm +
                   f->crash_ppm;
    if (sum > 1000000u) return UAREA_EINVAL;
    if (f->kinds & ~NOC_LB_ANY) return UAREA_EINVAL;
    return 0;
}

UAREA_API int noc_loopback_init(noc_loopback *lb, const noc_loopback_desc *desc)
{
    noc_loopback_desc d;
    int i, port;
    if (lb == NULL) return UAREA_EINVAL;
    if (desc != NULL) d = *desc;
    else UAREA_MEMSET(&d, 0, sizeof d);
    if (d.nodes == 0) d.nodes = 2;
    if (d.nodes < 0 || d.nodes > NOC_LOOPBACK_NODES_MAX) return UAREA_EINVAL;
    if (noc__lb_check_faults(&d.faults) < 0) return UAREA_EINVAL;
    UAREA_MEMSET(lb, 0, sizeof *lb);
    lb->magic = NOC__LB_MAGIC;
    lb->nodes = d.nodes;
    lb->latency = d.latency_ns ? d.latency_ns : (uint64_t)NOC_LOOPBACK_LATENCY_NS;
    lb->faults = d.faults;
    lb->rng = d.faults.seed;
    lb->hash = UINT64_C(0xcbf29ce484222325);
    lb->trace = d.trace;
    lb->trace_arg = d.trace_arg;
    for (i = 0; i < NOC_LOOPBACK_NODES_MAX; i++) {
        noc_loopback_node *n = &lb->node[i];
        n->lb = lb;
        n->self = i;
        for (port = 0; port < NOC_PORTS_MAX; port++) {
            n->mbox[port].handle = -1;
            n->mbox[port].head = n->mbox[port].tail = -1;
            n->portal[port].node = i;
            n->portal[port].port = port;
            n->portal[port].handle = -1;
            n->portal[port].allow_node = n->portal[port].allow_port = -1;
        }
    }
    return 0;
}

UAREA_API int noc_loopback_transport(noc_loopback *lb, int node, noc_transport *t)
{
    if (lb == NULL || t == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    t->ops = &noc__lb_ops;
    t->ctx = &lb->node[node];
    return 0;
}

UAREA_API int noc_loopback_step(noc_loopback *lb)
{
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    return noc__lb_step(lb, NOC__LB_NONE);
}

UAREA_API int noc_loopback_advance(noc_loopback *lb, uint64_t ns)
{
    uint64_t target;
    int did = 0, k;
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    target = lb->now > NOC__LB_NONE - 1 - ns ? NOC__LB_NONE - 1 : lb->now + ns;
    while ((k = noc__lb_step(lb, target)) > 0)
        did = did > INT_MAX - k ? INT_MAX : did + k;
    return did;
}

UAREA_API int noc_loopback_run_until_idle(noc_loopback *lb, int max_events)
{
    int did = 0, k;
    if (lb == NULL || lb->magic != NOC__LB_MAGIC || max_events < 0) return UAREA_EINVAL;
    while ((k = noc__lb_step(lb, NOC__LB_NONE)) > 0) {
        did = did > INT_MAX - k ? INT_MAX : did + k;
        if (max_events > 0 && did >= max_events) return UAREA_EBUSY;
    }
    return did;
}

UAREA_API uint64_t noc_loopback_now(const noc_loopback *lb)
{
    return (lb != NULL && lb->magic == NOC__LB_MAGIC) ? lb->now : 0;
}

UAREA_API int noc_loopback_set_faults(noc_loopback *lb, const noc_loopback_faults *f)
{
    if (lb == NULL || f == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (noc__lb_check_faults(f) < 0) return UAREA_EINVAL;
    lb->faults = *f;
    lb->rng = f->seed;
    return 0;
}

UAREA_API int noc_loopback_script(noc_loopback *lb, int fault, unsigned kind, int src, int dst,
                                  uint32_t nth, uint64_t arg)
{
    int i;
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (fault < NOC_LB_DROP || fault > NOC_LB_CRASH || kind == 0 || (kind & ~NOC_LB_ANY) ||
        nth == 0)
        return UAREA_EINVAL;
    if (src < -1 || src >= lb->nodes || dst < -1 || dst >= lb->nodes) return UAREA_EBADNODE;
    for (i = 0; i < NOC_LOOPBACK_RULES; i++) {
        struct noc__lb_rule *r = &lb->rules[i];
        if (r->used) continue;
        r->used = 1;
        r->fault = fault;
        r->kind = kind;
        r->src = src;
        r->dst = dst;
        r->nth = nth;
        r->seen = 0;
        r->arg = arg;
        return i;
    }
    return UAREA_ENOMEM;
}

UAREA_API int noc_loopback_rules_pending(const noc_loopback *lb)
{
    int i, n = 0;
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    for (i = 0; i < NOC_LOOPBACK_RULES; i++) n += lb->rules[i].used;
    return n;
}

UAREA_API int noc_loopback_crash(noc_loopback *lb, int node)
{
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    noc__lb_crash(lb, node);
    return 0;
}

UAREA_API int noc_loopback_alive(const noc_loopback *lb, int node)
{
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    return !lb->node[node].crashed;
}

UAREA_API int noc_loopback_get_stats(const noc_loopback *lb, int node, noc_loopback_stats *out)
{
    if (lb == NULL || out == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    if (node < 0 || node >= lb->nodes) return UAREA_EBADNODE;
    *out = lb->node[node].stats;
    return 0;
}

UAREA_API uint64_t noc_loopback_trace_hash(const noc_loopback *lb)
{
    return (lb != NULL && lb->magic == NOC__LB_MAGIC) ? lb->hash : 0;
}

UAREA_API int noc_loopback_in_flight(const noc_loopback *lb)
{
    if (lb == NULL || lb->magic != NOC__LB_MAGIC) return UAREA_EINVAL;
    return lb->wire;
}

#undef NOC__LB_NODE

UAREA_EXTERN_C_END

#endif /* NOC_IMPLEMENTATION */
