/*
 * uarea_mppa256/noc_ikc.h - the transport of include/noc/ on Nanvix's IKC
 * (kmailbox_* and kportal_*, uarea_mppa256/nanvix.h): what a cluster of the
 * MPPA-256 uses, and what the chip model (ports/mppa256/model/) runs on a
 * host, the same code.
 *
 *   uarea_mppa256_noc noc;
 *   noc_transport t;
 *   uarea_mppa256_noc_init(&noc, &t, &kick);   // this node: knode_get_num()
 *   ... noc_* calls on &t (the daemon's) ...
 *   uarea_mppa256_noc_fini(&noc);
 *
 * Nodes are the chip's 24 NoC nodes (0..7 I/O, 8..23 compute clusters).
 *
 * Non-blocking over blocking calls. libnanvix's kmailbox_read/write and
 * kportal_read/write block until done, and kmailbox_wait/kportal_wait have
 * no time limit, while the daemon needs polls and time-outs (a peer that
 * stopped answering must not stop its node). The binding therefore calls the
 * kernel calls under them, __kmailbox_aread/awrite and __kportal_aread/awrite,
 * which try once and return at once (-ENOMSG, -EBUSY, -EAGAIN, -ETIMEDOUT,
 * and for a portal write -EACCES: not yet), and calls kmailbox_wait /
 * kportal_wait only after a try that started a transfer. An asynchronous noc
 * operation is a state of its handle; poll and wait drive it by trying again,
 * wait until its time-out on clock_read().
 *
 * Mailboxes. Every IKC message is the full 128-byte payload: an 8-byte header
 * of the binding (length, sender node) and up to NOC_MAILBOX_MSG_SIZE = 120
 * bytes of the noc message. The sender node in the header is written by the
 * binding of the sending cluster, never by its caller (noc_mailbox_sender).
 * A read whose buffer is too small keeps the message for the next read
 * (UAREA_EMSGSIZE), as noc/noc.h asks.
 *
 * Portals. One noc transfer (1..1 MiB) is a 16-byte header piece (magic,
 * length, sender node and noc port) and then the data in pieces of at most
 * 4 KiB; the receiver gives each piece its own kportal_allow, as Nanvix
 * requires. noc_portal_allow only records the sender; the IKC allows are made
 * as the read proceeds. An IKC allow names the sender's node and the port of
 * its output portal, which Nanvix chooses itself (kportal_open has no local
 * port: the kernel takes the first free port of its output pool). So that
 * the receiver knows it, a node has at most one output portal open
 * (noc_portal_open fails with UAREA_ETOOMANY while one is): its port is then
 * UAREA_MPPA256_SENDER_PORT, and the header piece carries the noc port the
 * writer named, which the reader checks against its allow (UAREA_EPROTO when
 * they differ). The daemon writes to one destination at a time.
 * Differences from noc/noc.h's letter, all from IKC:
 *  - a writer cannot tell "not allowed" from "no read posted": with timeout
 *    0 it fails with UAREA_ENOTALLOWED in both cases;
 *  - a transfer larger than the posted read fails on the reader only
 *    (UAREA_EMSGSIZE, after it drained the pieces); the writer sees success.
 *    The daemons of one build always agree on sizes. So does a transfer
 *    whose header names another noc port than the allow (UAREA_EPROTO);
 *  - cancel of a read that has an IKC allow out, or of a transfer under way,
 *    recreates the IKC portal (unlink, create on the same port): Nanvix has
 *    no call that withdraws an allow. The other side's transfer then ends
 *    by its own time-out.
 * Node deaths: a cluster of the chip does not die alone, so the binding has
 * no node_gone op; a node that stops answering is a time-out.
 *
 * Implementation: NOC_IMPLEMENTATION (or UAREA_IMPLEMENTATION).
 */
#include "port.h"           /* first: the transport sizes of this binding */
#include <uarea/config.h>
#include <uarea/error.h>
#include <noc/noc.h>
#include "nanvix.h"

#ifndef UAREA_MPPA256_NOC_IKC_H
#define UAREA_MPPA256_NOC_IKC_H

UAREA_EXTERN_C_BEGIN

#define UAREA_MPPA256_MBX_HEADER 8u       /* the binding's header in an IKC message */
#define UAREA_MPPA256_PTL_HEADER 16u      /* the header piece of a portal transfer */
/* The port Nanvix gives a node's output portal when it has no other open:
 * the first free one of the output port pool (see "Portals" above). */
#ifndef UAREA_MPPA256_SENDER_PORT
#  define UAREA_MPPA256_SENDER_PORT 0
#endif

UAREA_STATIC_ASSERT(NOC_MAILBOX_MSG_SIZE + UAREA_MPPA256_MBX_HEADER <=
                        UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE,
                    "a noc message and the binding's header fit one IKC message");
UAREA_STATIC_ASSERT(NOC_PORTAL_MAX_SIZE <= UAREA_MPPA256_KPORTAL_MAX_SIZE,
                    "a noc transfer fits a Nanvix portal transfer");
UAREA_STATIC_ASSERT(NOC_NODES_MAX >= UAREA_MPPA256_NODES, "every NoC node is a noc node");

typedef struct uarea__mppa256_mbx {
    uint8_t used, out;        /* out: an output mailbox */
    uint8_t op;               /* 0 none, 1 posted, 2 done */
    uint8_t stashed;          /* a received message kept for the next read */
    int id;                   /* IKC mailbox id */
    int result;               /* of a done operation */
    int sender;               /* sender of the last completed read, -1: none */
    void *rbuf;               /* posted read */
    size_t size;
    uint8_t frame[UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE];
} uarea__mppa256_mbx;

typedef struct uarea__mppa256_ptl {
    uint8_t used, out;
    uint8_t op;               /* 0 none, 1 posted, 2 done */
    uint8_t data;             /* 0: the header piece is next, 1: data pieces */
    uint8_t allowed;          /* input: a noc allow is recorded */
    uint8_t ikc_allow;        /* input: an IKC allow is out */
    int drain;                /* input: a transfer being drained, the read's error */
    int id, port;             /* IKC id, local port */
    int node, rport;          /* output: destination; input: the allowed sender */
    int a_node, a_port;       /* input: the sender of the posted read */
    int result;
    uint8_t *buf;             /* the posted operation's buffer */
    size_t size, total, off;
    uint8_t hdr[UAREA_MPPA256_PTL_HEADER];
} uarea__mppa256_ptl;

typedef struct uarea_mppa256_noc {
    int self;
    volatile uint32_t *kick;  /* UAREA_PORT_WAKE_MASTER's flag: cuts a mailbox wait short */
    uarea__mppa256_mbx mbx[NOC_OPEN_MAX];
    uarea__mppa256_ptl ptl[NOC_OPEN_MAX];
    uint8_t scratch[UAREA_MPPA256_KPORTAL_PIECE];  /* pieces of a drained transfer */
    /* what went through this node's binding */
    uint64_t msgs_out, msgs_in, pieces_out, pieces_in, bytes_out, bytes_in;
} uarea_mppa256_noc;

/* This node's transport: self = knode_get_num(). kick may be NULL. */
UAREA_API int uarea_mppa256_noc_init(uarea_mppa256_noc *n, noc_transport *t,
                                     volatile uint32_t *kick);
/* Unlink and close every handle. */
UAREA_API void uarea_mppa256_noc_fini(uarea_mppa256_noc *n);
UAREA_API const struct noc_ops *uarea_mppa256_noc_ops(void);

UAREA_EXTERN_C_END

#endif /* UAREA_MPPA256_NOC_IKC_H */

/* ------------------------------------------------------------------------ */
#if (defined(NOC_IMPLEMENTATION) || defined(UAREA_IMPLEMENTATION)) && \
    !defined(UAREA__MPPA256_NOC_IKC_IMPLEMENTED)
#define UAREA__MPPA256_NOC_IKC_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#define UAREA__IKC_MAGIC 0x434b4955u   /* "UIKC" */

/* An IKC error as the library's. */
static int uarea__ikc_err(long e)
{
    switch (-e) {
    case UAREA_MPPA256_EBUSY: return UAREA_EPORTINUSE;
    case UAREA_MPPA256_EAGAIN: return UAREA_ETOOMANY;
    case UAREA_MPPA256_EBADF: return UAREA_EBADHANDLE;
    case UAREA_MPPA256_EACCES: return UAREA_ENOTALLOWED;
    case UAREA_MPPA256_ENOMEM: return UAREA_ENOMEM;
    default: return UAREA_EIO;
    }
}

/* "Not yet": the try did nothing, try again. */
static int uarea__ikc_later(long e)
{
    return e == -UAREA_MPPA256_ENOMSG || e == -UAREA_MPPA256_EBUSY ||
           e == -UAREA_MPPA256_EAGAIN || e == -UAREA_MPPA256_ETIMEDOUT;
}

static void uarea__ikc_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t uarea__ikc_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int uarea__ikc_self(void *ctx) { return ((uarea_mppa256_noc *)ctx)->self; }
static int uarea__ikc_nodes(void *ctx) { (void)ctx; return UAREA_MPPA256_NODES; }
static uint64_t uarea__ikc_clock(void *ctx) { (void)ctx; return uarea__mppa256_ns(); }

/* ---- Mailboxes ---- */
static uarea__mppa256_mbx *uarea__ikc_mbx(uarea_mppa256_noc *n, int h)
{
    return h >= 0 && h < NOC_OPEN_MAX && n->mbx[h].used ? &n->mbx[h] : NULL;
}

static int uarea__ikc_mbx_slot(uarea_mppa256_noc *n, int id, int out)
{
    int h;
    for (h = 0; h < NOC_OPEN_MAX; h++) {
        uarea__mppa256_mbx *m = &n->mbx[h];
        if (m->used) continue;
        UAREA_MEMSET(m, 0, sizeof *m);
        m->used = 1;
        m->out = (uint8_t)out;
        m->id = id;
        m->sender = -1;
        return h;
    }
    return UAREA_ETOOMANY;
}

static int uarea__ikc_mbx_create(void *ctx, int port)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    int id = kmailbox_create(n->self, port), h;
    if (id < 0) return uarea__ikc_err(id);
    h = uarea__ikc_mbx_slot(n, id, 0);
    if (h < 0) (void)kmailbox_unlink(id);
    return h;
}

static int uarea__ikc_mbx_open(void *ctx, int node, int port)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    int id = kmailbox_open(node, port), h;
    if (id < 0) return id == -UAREA_MPPA256_EINVAL ? UAREA_EBADNODE : uarea__ikc_err(id);
    h = uarea__ikc_mbx_slot(n, id, 1);
    if (h < 0) (void)kmailbox_close(id);
    return h;
}

/* Nanvix refuses to unlink a mailbox with messages queued (-EBUSY) and the
 * port would stay taken: the messages left are read and dropped first. */
static int uarea__ikc_mbx_end(void *ctx, int h, int out)
{
    uarea__mppa256_mbx *m = uarea__ikc_mbx((uarea_mppa256_noc *)ctx, h);
    long rc;
    int i;
    if (m == NULL) return UAREA_EBADHANDLE;
    if (m->out != out) return UAREA_EDIRECTION;
    if (out) {
        rc = kmailbox_close(m->id);
    } else {
        for (i = 0; (rc = kmailbox_unlink(m->id)) == -UAREA_MPPA256_EBUSY && i < 256; i++)
            if (__kmailbox_aread(m->id, m->frame, sizeof m->frame) >= 0) (void)kmailbox_wait(m->id);
    }
    if (rc < 0) return uarea__ikc_err(rc);
    m->used = 0;
    return 0;
}

static int uarea__ikc_mbx_unlink(void *ctx, int h) { return uarea__ikc_mbx_end(ctx, h, 0); }
static int uarea__ikc_mbx_close(void *ctx, int h) { return uarea__ikc_mbx_end(ctx, h, 1); }

static int uarea__ikc_mbx_aread(void *ctx, int h, void *buf, size_t size)
{
    uarea__mppa256_mbx *m = uarea__ikc_mbx((uarea_mppa256_noc *)ctx, h);
    if (m == NULL) return UAREA_EBADHANDLE;
    if (m->out) return UAREA_EDIRECTION;
    if (m->op == 1) return UAREA_EBUSY;
    m->rbuf = buf;
    m->size = size;
    m->op = 1;
    return 0;
}

static int uarea__ikc_mbx_awrite(void *ctx, int h, const void *buf, size_t size)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_mbx *m = uarea__ikc_mbx(n, h);
    if (m == NULL) return UAREA_EBADHANDLE;
    if (!m->out) return UAREA_EDIRECTION;
    if (m->op == 1) return UAREA_EBUSY;
    UAREA_MEMSET(m->frame, 0, sizeof m->frame);
    m->frame[0] = 'u';
    m->frame[1] = (uint8_t)size;
    m->frame[2] = (uint8_t)n->self;
    UAREA_MEMCPY(m->frame + UAREA_MPPA256_MBX_HEADER, buf, size);
    m->size = size;
    m->op = 1;
    return 0;
}

/* A received frame into the posted read: its length, or UAREA_EMSGSIZE with
 * the frame kept for the next read. */
static int uarea__ikc_mbx_deliver(uarea_mppa256_noc *n, uarea__mppa256_mbx *m)
{
    size_t len = m->frame[1];
    if (m->frame[0] != 'u' || len == 0 || len > NOC_MAILBOX_MSG_SIZE) {
        m->stashed = 0;
        return UAREA_EPROTO;   /* not a message of this binding: dropped */
    }
    if (len > m->size) {
        m->stashed = 1;
        return UAREA_EMSGSIZE;
    }
    m->stashed = 0;
    UAREA_MEMCPY(m->rbuf, m->frame + UAREA_MPPA256_MBX_HEADER, len);
    m->sender = m->frame[2];
    n->msgs_in++;
    return (int)len;
}

/* One try at the posted operation: 1 when it is done (m->result). */
static int uarea__ikc_mbx_progress(uarea_mppa256_noc *n, uarea__mppa256_mbx *m)
{
    long rc;
    if (m->op != 1) return m->op == 2;
    if (m->out) {
        rc = __kmailbox_awrite(m->id, m->frame, sizeof m->frame);
        if (rc < 0 && uarea__ikc_later(rc)) return 0;
        if (rc >= 0) rc = kmailbox_wait(m->id);
        m->result = rc < 0 ? uarea__ikc_err(rc) : (int)m->size;
        if (rc >= 0) n->msgs_out++;
    } else {
        if (!m->stashed) {
            for (;;) {
                rc = __kmailbox_aread(m->id, m->frame, sizeof m->frame);
                if (rc < 0 && uarea__ikc_later(rc)) return 0;
                if (rc >= 0) rc = kmailbox_wait(m->id);
                if (rc <= 0) break;   /* > 0: a message for another port: again */
            }
            if (rc < 0) {
                m->result = uarea__ikc_err(rc);
                m->op = 2;
                return 1;
            }
        }
        m->result = uarea__ikc_mbx_deliver(n, m);
    }
    m->op = 2;
    return 1;
}

/* Wait for a handle's operation: try until done or the time-out. */
static int uarea__ikc_wait_loop(uarea_mppa256_noc *n, int (*progress)(uarea_mppa256_noc *, void *),
                                void *op, int64_t timeout_ns, int kickable)
{
    uint64_t end = timeout_ns > 0 ? uarea__mppa256_ns() + (uint64_t)timeout_ns : 0;
    for (;;) {
        if (progress(n, op)) return 1;
        if (timeout_ns == 0) return 0;
        if (kickable && n->kick != NULL && __atomic_exchange_n(n->kick, 0u, __ATOMIC_ACQ_REL))
            return 0;   /* a container thread's call: the master must look */
        if (timeout_ns != NOC_FOREVER && uarea__mppa256_ns() >= end) return 0;
    }
}

static int uarea__ikc_mbx_step(uarea_mppa256_noc *n, void *m)
{
    return uarea__ikc_mbx_progress(n, (uarea__mppa256_mbx *)m);
}

static int uarea__ikc_mbx_wait(void *ctx, int h, int64_t timeout_ns)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_mbx *m = uarea__ikc_mbx(n, h);
    if (m == NULL) return UAREA_EBADHANDLE;
    if (m->op == 0) return UAREA_ESTATE;
    if (!uarea__ikc_wait_loop(n, uarea__ikc_mbx_step, m, timeout_ns, !m->out))
        return UAREA_ETIMEDOUT;
    m->op = 0;
    return m->result;
}

static int uarea__ikc_mbx_cancel(void *ctx, int h)
{
    uarea__mppa256_mbx *m = uarea__ikc_mbx((uarea_mppa256_noc *)ctx, h);
    if (m == NULL) return UAREA_EBADHANDLE;
    if (m->op == 0) return UAREA_ESTATE;
    /* a try that fails leaves nothing posted in the kernel: withdrawn */
    if (m->op == 1) {
        m->op = 0;
        return UAREA_EAGAIN;
    }
    m->op = 0;
    return m->result;
}

static int uarea__ikc_mbx_sender(void *ctx, int h)
{
    uarea__mppa256_mbx *m = uarea__ikc_mbx((uarea_mppa256_noc *)ctx, h);
    if (m == NULL) return UAREA_EBADHANDLE;
    if (m->out) return UAREA_EDIRECTION;
    return m->sender >= 0 ? m->sender : UAREA_ESTATE;
}

/* ---- Portals ---- */
static uarea__mppa256_ptl *uarea__ikc_ptl(uarea_mppa256_noc *n, int h)
{
    return h >= 0 && h < NOC_OPEN_MAX && n->ptl[h].used ? &n->ptl[h] : NULL;
}

static int uarea__ikc_ptl_slot(uarea_mppa256_noc *n, int id, int out, int port)
{
    int h;
    for (h = 0; h < NOC_OPEN_MAX; h++) {
        uarea__mppa256_ptl *p = &n->ptl[h];
        if (p->used) continue;
        UAREA_MEMSET(p, 0, sizeof *p);
        p->used = 1;
        p->out = (uint8_t)out;
        p->id = id;
        p->port = port;
        return h;
    }
    return UAREA_ETOOMANY;
}

static int uarea__ikc_ptl_create(void *ctx, int port)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    int id = kportal_create(n->self, port), h;
    if (id < 0) return uarea__ikc_err(id);
    h = uarea__ikc_ptl_slot(n, id, 0, port);
    if (h < 0) (void)kportal_unlink(id);
    return h;
}

static int uarea__ikc_ptl_open(void *ctx, int local_port, int node, int port)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    int id, h;
    for (h = 0; h < NOC_OPEN_MAX; h++)
        if (n->ptl[h].used && n->ptl[h].out) return UAREA_ETOOMANY;   /* one at a time */
    id = kportal_open(n->self, node, port);
    if (id < 0) return id == -UAREA_MPPA256_EINVAL ? UAREA_EBADNODE : uarea__ikc_err(id);
    h = uarea__ikc_ptl_slot(n, id, 1, local_port);
    if (h < 0) {
        (void)kportal_close(id);
        return h;
    }
    n->ptl[h].node = node;
    n->ptl[h].rport = port;
    return h;
}

/* Nanvix refuses to unlink an input portal with a piece waiting (-EBUSY):
 * under an allow of ours, the piece is taken and dropped first. */
static long uarea__ikc_ptl_unlink_now(uarea_mppa256_noc *n, uarea__mppa256_ptl *p)
{
    long rc;
    int i;
    for (i = 0; (rc = kportal_unlink(p->id)) == -UAREA_MPPA256_EBUSY && p->ikc_allow && i < 256; i++)
        if (__kportal_aread(p->id, n->scratch, sizeof n->scratch) >= 0) (void)kportal_wait(p->id);
    if (rc == 0) p->ikc_allow = 0;
    return rc;
}

static int uarea__ikc_ptl_end(void *ctx, int h, int out)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_ptl *p = uarea__ikc_ptl(n, h);
    long rc;
    if (p == NULL) return UAREA_EBADHANDLE;
    if (p->out != out) return UAREA_EDIRECTION;
    rc = out ? kportal_close(p->id) : uarea__ikc_ptl_unlink_now(n, p);
    if (rc < 0) return uarea__ikc_err(rc);
    p->used = 0;
    return 0;
}

static int uarea__ikc_ptl_unlink(void *ctx, int h) { return uarea__ikc_ptl_end(ctx, h, 0); }
static int uarea__ikc_ptl_close(void *ctx, int h) { return uarea__ikc_ptl_end(ctx, h, 1); }

static int uarea__ikc_ptl_allow(void *ctx, int h, int node, int port)
{
    uarea__mppa256_ptl *p = uarea__ikc_ptl((uarea_mppa256_noc *)ctx, h);
    if (p == NULL) return UAREA_EBADHANDLE;
    if (p->out) return UAREA_EDIRECTION;
    p->allowed = 1;
    p->node = node;
    p->rport = port;
    return 0;
}

static int uarea__ikc_ptl_aread(void *ctx, int h, void *buf, size_t size)
{
    uarea__mppa256_ptl *p = uarea__ikc_ptl((uarea_mppa256_noc *)ctx, h);
    if (p == NULL) return UAREA_EBADHANDLE;
    if (p->out) return UAREA_EDIRECTION;
    if (p->op == 1) return UAREA_EBUSY;
    if (!p->allowed) return UAREA_ENOTALLOWED;
    p->allowed = 0;            /* one allow, one read */
    p->a_node = p->node;
    p->a_port = p->rport;
    p->buf = (uint8_t *)buf;
    p->size = size;
    p->total = p->off = 0;
    p->data = 0;
    p->drain = 0;
    p->op = 1;
    return 0;
}

static int uarea__ikc_ptl_awrite(void *ctx, int h, const void *buf, size_t size)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_ptl *p = uarea__ikc_ptl(n, h);
    if (p == NULL) return UAREA_EBADHANDLE;
    if (!p->out) return UAREA_EDIRECTION;
    if (p->op == 1) return UAREA_EBUSY;
    UAREA_MEMSET(p->hdr, 0, sizeof p->hdr);
    uarea__ikc_put32(p->hdr, UAREA__IKC_MAGIC);
    uarea__ikc_put32(p->hdr + 4, (uint32_t)size);
    uarea__ikc_put32(p->hdr + 8, (uint32_t)n->self);
    uarea__ikc_put32(p->hdr + 12, (uint32_t)p->port);
    p->buf = (uint8_t *)(uintptr_t)buf;
    p->size = p->total = size;
    p->off = 0;
    p->data = 0;
    p->op = 1;
    return 0;
}

/* One piece of a read: 1 when it came (into dst), 0 not yet, < 0 an error. */
static int uarea__ikc_ptl_take(uarea__mppa256_ptl *p, void *dst, size_t len)
{
    long rc;
    if (!p->ikc_allow) {
        rc = kportal_allow(p->id, p->a_node, UAREA_MPPA256_SENDER_PORT);
        if (rc < 0) return uarea__ikc_err(rc);
        p->ikc_allow = 1;
    }
    rc = __kportal_aread(p->id, dst, len);
    if (rc < 0 && (uarea__ikc_later(rc) || rc == -UAREA_MPPA256_EACCES)) return 0;
    if (rc >= 0) rc = kportal_wait(p->id);
    if (rc > 0) {              /* data for another port: allow and read again */
        p->ikc_allow = 0;
        return 0;
    }
    p->ikc_allow = 0;
    return rc < 0 ? uarea__ikc_err(rc) : 1;
}

/* One piece of a write: 1 when it went, 0 not yet, < 0 an error. */
static int uarea__ikc_ptl_give(uarea__mppa256_ptl *p, const void *src, size_t len)
{
    long rc = __kportal_awrite(p->id, src, len);
    if (rc < 0 && (uarea__ikc_later(rc) || rc == -UAREA_MPPA256_EACCES)) return 0;
    if (rc >= 0) rc = kportal_wait(p->id);
    return rc < 0 ? uarea__ikc_err(rc) : 1;
}

static int uarea__ikc_ptl_progress(uarea_mppa256_noc *n, uarea__mppa256_ptl *p)
{
    int rc;
    if (p->op != 1) return p->op == 2;
    if (!p->data) {
        rc = p->out ? uarea__ikc_ptl_give(p, p->hdr, sizeof p->hdr)
                    : uarea__ikc_ptl_take(p, p->hdr, sizeof p->hdr);
        if (rc == 0) return 0;
        if (rc > 0 && !p->out) {
            uint32_t total = uarea__ikc_get32(p->hdr + 4);
            if (uarea__ikc_get32(p->hdr) != UAREA__IKC_MAGIC || total == 0 ||
                total > NOC_PORTAL_MAX_SIZE)
                rc = UAREA_EPROTO;   /* no transfer of this binding: nothing to drain */
            p->total = total;
            /* from another noc port than the allow names, or larger than the
             * read: the pieces are taken and dropped, the read fails */
            if (uarea__ikc_get32(p->hdr + 8) != (uint32_t)p->a_node ||
                uarea__ikc_get32(p->hdr + 12) != (uint32_t)p->a_port)
                p->drain = UAREA_EPROTO;
            else if (total > p->size)
                p->drain = UAREA_EMSGSIZE;
        }
        if (rc < 0) {
            p->result = rc;
            p->op = 2;
            return 1;
        }
        p->data = 1;
    }
    while (p->off < p->total) {
        size_t len = p->total - p->off;
        if (len > UAREA_MPPA256_KPORTAL_PIECE) len = UAREA_MPPA256_KPORTAL_PIECE;
        if (p->out) {
            rc = uarea__ikc_ptl_give(p, p->buf + p->off, len);
        } else {
            rc = uarea__ikc_ptl_take(p, p->drain ? n->scratch : p->buf + p->off, len);
        }
        if (rc == 0) return 0;
        if (rc < 0) {
            p->result = rc;
            p->op = 2;
            return 1;
        }
        p->off += len;
        if (p->out) n->pieces_out++, n->bytes_out += len;
        else n->pieces_in++, n->bytes_in += len;
    }
    p->result = !p->out && p->drain ? p->drain : (int)p->total;
    p->op = 2;
    return 1;
}

static int uarea__ikc_ptl_step(uarea_mppa256_noc *n, void *p)
{
    return uarea__ikc_ptl_progress(n, (uarea__mppa256_ptl *)p);
}

static int uarea__ikc_ptl_wait(void *ctx, int h, int64_t timeout_ns)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_ptl *p = uarea__ikc_ptl(n, h);
    if (p == NULL) return UAREA_EBADHANDLE;
    if (p->op == 0) return UAREA_ESTATE;
    if (!uarea__ikc_wait_loop(n, uarea__ikc_ptl_step, p, timeout_ns, 0)) return UAREA_ETIMEDOUT;
    p->op = 0;
    return p->result;
}

/* Drop the IKC state of a handle: Nanvix withdraws no allow and stops no
 * transfer, so the portal is made again on the same port. */
static int uarea__ikc_ptl_renew(uarea_mppa256_noc *n, uarea__mppa256_ptl *p)
{
    int id;
    if (p->out) {
        (void)kportal_close(p->id);
        id = kportal_open(n->self, p->node, p->rport);
    } else {
        long rc = uarea__ikc_ptl_unlink_now(n, p);
        if (rc < 0) return uarea__ikc_err(rc);   /* keeps the old portal */
        id = kportal_create(n->self, p->port);
    }
    p->ikc_allow = 0;
    if (id < 0) {
        p->used = 0;           /* the handle is gone with its IKC portal */
        return uarea__ikc_err(id);
    }
    p->id = id;
    return 0;
}

static int uarea__ikc_ptl_cancel(void *ctx, int h)
{
    uarea_mppa256_noc *n = (uarea_mppa256_noc *)ctx;
    uarea__mppa256_ptl *p = uarea__ikc_ptl(n, h);
    int under_way;
    if (p == NULL) return UAREA_EBADHANDLE;
    if (p->op == 0) return UAREA_ESTATE;
    if (p->op == 2 || uarea__ikc_ptl_progress(n, p)) {
        p->op = 0;
        return p->result;
    }
    under_way = p->data;
    p->op = 0;
    if (under_way || p->ikc_allow) (void)uarea__ikc_ptl_renew(n, p);
    if (under_way) return UAREA_ECANCELED;
    return p->out ? UAREA_ENOTALLOWED : UAREA_EAGAIN;
}

static const struct noc_ops uarea__mppa256_noc_ops = {
    .node_self = uarea__ikc_self,
    .nodes = uarea__ikc_nodes,
    .mailbox_create = uarea__ikc_mbx_create,
    .mailbox_open = uarea__ikc_mbx_open,
    .mailbox_unlink = uarea__ikc_mbx_unlink,
    .mailbox_close = uarea__ikc_mbx_close,
    .mailbox_aread = uarea__ikc_mbx_aread,
    .mailbox_awrite = uarea__ikc_mbx_awrite,
    .mailbox_wait = uarea__ikc_mbx_wait,
    .mailbox_cancel = uarea__ikc_mbx_cancel,
    .portal_create = uarea__ikc_ptl_create,
    .portal_allow = uarea__ikc_ptl_allow,
    .portal_open = uarea__ikc_ptl_open,
    .portal_unlink = uarea__ikc_ptl_unlink,
    .portal_close = uarea__ikc_ptl_close,
    .portal_aread = uarea__ikc_ptl_aread,
    .portal_awrite = uarea__ikc_ptl_awrite,
    .portal_wait = uarea__ikc_ptl_wait,
    .portal_cancel = uarea__ikc_ptl_cancel,
    .clock_ns = uarea__ikc_clock,
    .node_gone = NULL,
    .mailbox_sender = uarea__ikc_mbx_sender,
};

UAREA_API const struct noc_ops *uarea_mppa256_noc_ops(void) { return &uarea__mppa256_noc_ops; }

UAREA_API int uarea_mppa256_noc_init(uarea_mppa256_noc *n, noc_transport *t,
                                     volatile uint32_t *kick)
{
    int self;
    if (n == NULL || t == NULL) return UAREA_EINVAL;
    self = knode_get_num();
    if (self < 0 || self >= UAREA_MPPA256_NODES) return UAREA_EBADNODE;
    UAREA_MEMSET(n, 0, sizeof *n);
    n->self = self;
    n->kick = kick;
    t->ops = &uarea__mppa256_noc_ops;
    t->ctx = n;
    return 0;
}

UAREA_API void uarea_mppa256_noc_fini(uarea_mppa256_noc *n)
{
    int h;
    if (n == NULL) return;
    for (h = 0; h < NOC_OPEN_MAX; h++) {
        if (n->mbx[h].used) (void)uarea__ikc_mbx_end(n, h, n->mbx[h].out);
        if (n->ptl[h].used) (void)uarea__ikc_ptl_end(n, h, n->ptl[h].out);
    }
}

UAREA_EXTERN_C_END

#endif /* implementation */
