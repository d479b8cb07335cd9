/*
 * noc/noc.h - the transport abstraction: nodes, mailboxes and portals.
 *
 * Modelled on the Kalray MPPA-256 network-on-chip as Nanvix exposes it
 * (its IKC calls). A *node* is a cluster (a process on the POSIX port);
 * nodes are numbered densely from 0.
 *
 * Mailboxes carry small messages (1..NOC_MAILBOX_MSG_SIZE bytes, 128 by
 * default). A node creates an input mailbox on a local port; any node opens
 * it (node, port) for output and writes. Many senders may write to one
 * mailbox; messages from one sender arrive in the order it wrote them. A read
 * returns the length of the next message; if the buffer is too small it fails
 * with UAREA_EMSGSIZE and the message stays queued.
 *
 * Portals carry bulk data, one-to-one. The receiver creates an input portal on
 * a local port and must *allow* one named sender (node, port) before each
 * read; a read without an allow fails with UAREA_ENOTALLOWED. The sender opens
 * an output portal from a local port to (node, port) and writes; a write waits
 * until the receiver has allowed this sender and posted a read (with a zero
 * timeout it fails at once: UAREA_ENOTALLOWED when no allow names it,
 * UAREA_EAGAIN when allowed but no read is posted yet). One write matches one
 * read; the read returns the bytes written. A write larger than the posted read
 * fails on both sides with UAREA_EMSGSIZE. A transfer is at most
 * NOC_PORTAL_MAX_SIZE bytes (1 MiB) and moves in NOC_PORTAL_CHUNK units (4 KiB).
 *
 * Asynchronous forms (aread/awrite) start an operation and return at once;
 * wait(timeout) and poll() finish it. One operation at a time per handle
 * (a second start fails with UAREA_EBUSY). Timeouts are relative, in
 * nanoseconds: 0 polls, NOC_FOREVER waits without limit. While the operation
 * is still in flight wait returns UAREA_ETIMEDOUT and poll UAREA_EAGAIN; the
 * operation stays posted. cancel withdraws it: it returns the operation's
 * result (>= 0) if it had completed meanwhile, otherwise why it was pending:
 * UAREA_ENOTALLOWED (a portal write no allow names) or UAREA_EAGAIN, and
 * nothing was transferred. A portal transfer already under way cannot be
 * withdrawn: cancel lets it finish and returns its result or, when it cannot
 * finish, ends it on both sides with UAREA_ECANCELED. A call that involves a
 * dead node returns UAREA_EPEERGONE instead of waiting. A wait that returns
 * anything but UAREA_ETIMEDOUT has ended the operation (a transport may end
 * one that can never complete: the loopback transport's UAREA_ESTALLED).
 * wait, poll or cancel with no operation posted fail with UAREA_ESTATE; a read
 * on an output handle or a write on an input one with UAREA_EDIRECTION.
 *
 * Writing in place (optional). Where the sender can reach the receiver's
 * memory, noc_portal_wbuf() claims the read that the receiver posted for an
 * output portal and returns that read's buffer and size: the sender writes
 * the data there itself (no staging buffer, no second copy), then
 * noc_portal_wdone(n) ends the transfer as a write of n bytes (1..size): the
 * read returns n. While a write is claimed, the handle has no other
 * operation (wait and poll fail with UAREA_ESTATE); noc_portal_cancel (or
 * closing the handle) ends the transfer on both sides with UAREA_ECANCELED,
 * and the receiver's read ends with UAREA_EPEERGONE if the sender dies.
 * wbuf fails without claiming anything: UAREA_ENOTALLOWED (no allow names
 * this sender) or UAREA_EAGAIN (allowed, no read posted yet) as a write with
 * timeout 0 does, UAREA_ENOSYS when this transport, or this read's buffer,
 * gives no direct access (use awrite), UAREA_EBUSY when the handle has an
 * operation out.
 *
 * Reading in place (optional), the mirror image: once the receiver has
 * allowed a sender, noc_portal_rbuf() takes the data of that sender's
 * pending write where it lies and returns its address and size (no read is
 * posted, nothing is copied): the receiver uses the bytes there, then
 * noc_portal_rdone() ends the transfer (the sender's write returns the size,
 * the allow is consumed). Until then the sender's buffer is the receiver's
 * (the sender's wait spins). noc_portal_cancel gives the data back untouched:
 * the write stays pending, the allow stays. rbuf fails without taking
 * anything: UAREA_ENOTALLOWED (no allow), UAREA_EAGAIN (no write pending
 * from the allowed sender yet), UAREA_ENOSYS (no access to the sender's
 * buffer: post a read), UAREA_EBUSY (a read is posted on the handle).
 *
 * The synchronous forms (read/write with a timeout) are aread/awrite + wait,
 * and cancel on expiry: with timeout 0 they fail at once with UAREA_EAGAIN
 * (nothing to read, no read posted) or UAREA_ENOTALLOWED; with a longer
 * timeout, UAREA_ETIMEDOUT. Either way the operation is over; a portal read
 * cut short may have received part of the data into its buffer.
 *
 * Transports. A transport is a `struct noc_ops` plus a context pointer, bound
 * to one node: `noc_transport`. Several can coexist (the loopback transport
 * gives one per simulated node). The calls below validate what they can
 * (sizes, port and node ranges, NULL) and dispatch to the ops. A kernel may
 * instead bind a port's functions directly at compile time:
 *
 *     #define NOC_DIRECT(fn) mykernel_noc_##fn   // mykernel_noc_mailbox_create(...)
 *
 * then every call goes straight to those functions (same signatures as the
 * ops) and no table is used.
 *
 * `noc_node_self()` and `noc_nodes()` (the app-facing calls) ask the default
 * transport, set once per node with noc_set_default().
 *
 * Nothing here allocates. Implementation: NOC_IMPLEMENTATION (or
 * UAREA_IMPLEMENTATION).
 */
#include "../uarea/config.h"
#include "../uarea/error.h"

#ifndef NOC_NOC_H
#define NOC_NOC_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration (Nanvix IKC values) ---------------------------------- */
#ifndef NOC_MAILBOX_MSG_SIZE
#  define NOC_MAILBOX_MSG_SIZE 128u     /* largest mailbox message, bytes */
#endif
#ifndef NOC_PORTAL_MAX_SIZE
#  define NOC_PORTAL_MAX_SIZE (1u << 20) /* largest portal transfer, bytes */
#endif
#ifndef NOC_PORTAL_CHUNK
#  define NOC_PORTAL_CHUNK 4096u        /* portal transfer unit, bytes */
#endif
#ifndef NOC_PORTS_MAX
#  define NOC_PORTS_MAX 32              /* ports per node, per kind */
#endif
#ifndef NOC_OPEN_MAX
#  define NOC_OPEN_MAX 64               /* open handles per node, per kind */
#endif
#ifndef NOC_NODES_MAX
#  define NOC_NODES_MAX 24              /* MPPA-256: 8 I/O + 16 compute nodes */
#endif

UAREA_STATIC_ASSERT(NOC_MAILBOX_MSG_SIZE > 0, "mailbox messages need a size");
UAREA_STATIC_ASSERT(NOC_PORTAL_CHUNK > 0 && NOC_PORTAL_MAX_SIZE >= NOC_PORTAL_CHUNK,
                    "portal chunk must fit a transfer");

#define NOC_FOREVER INT64_C(-1)         /* timeout: wait without limit */

/* ---- Transport ----------------------------------------------------------- */
/* Every op returns >= 0 on success (a handle, a byte count, or 0) or a
 * negative uarea error. Handles are small non-negative ints, per node and per
 * kind (mailbox handles and portal handles are separate spaces). */
struct noc_ops {
    int (*node_self)(void *ctx);
    int (*nodes)(void *ctx);

    int (*mailbox_create)(void *ctx, int port);            /* -> input handle */
    int (*mailbox_open)(void *ctx, int node, int port);    /* -> output handle */
    int (*mailbox_unlink)(void *ctx, int mbx);             /* input */
    int (*mailbox_close)(void *ctx, int mbx);              /* output */
    int (*mailbox_aread)(void *ctx, int mbx, void *buf, size_t size);
    int (*mailbox_awrite)(void *ctx, int mbx, const void *buf, size_t size);
    int (*mailbox_wait)(void *ctx, int mbx, int64_t timeout_ns); /* -> bytes */
    int (*mailbox_cancel)(void *ctx, int mbx);

    int (*portal_create)(void *ctx, int port);             /* -> input handle */
    int (*portal_allow)(void *ctx, int portal, int node, int port);
    int (*portal_open)(void *ctx, int local_port, int node, int port); /* -> output */
    int (*portal_unlink)(void *ctx, int portal);
    int (*portal_close)(void *ctx, int portal);
    int (*portal_aread)(void *ctx, int portal, void *buf, size_t size);
    int (*portal_awrite)(void *ctx, int portal, const void *buf, size_t size);
    int (*portal_wait)(void *ctx, int portal, int64_t timeout_ns); /* -> bytes */
    int (*portal_cancel)(void *ctx, int portal);

    /* Monotonic clock of this transport, in nanoseconds (virtual time on the
     * loopback transport). */
    uint64_t (*clock_ns)(void *ctx);

    /* Optional: 1 when `node` is gone for good (it died or left: it takes
     * no message and acts on none any more), 0 when it is alive or the
     * transport cannot tell. Asked once per migration, at the commit point,
     * so it may cost a system call. */
    int (*node_gone)(void *ctx, int node);

    /* Optional: the node that sent the message the last completed read of
     * input mailbox `mbx` returned, as the transport knows it (not as the
     * message says): a receiver checks a message's claimed sender with it.
     * UAREA_ESTATE before any read completed. */
    int (*mailbox_sender)(void *ctx, int mbx);

    /* Optional: writing in place (noc_portal_wbuf / noc_portal_wdone). */
    int (*portal_wbuf)(void *ctx, int portal, void **buf, size_t *size);
    int (*portal_wdone)(void *ctx, int portal, size_t n);
    /* Optional: reading in place (noc_portal_rbuf / noc_portal_rdone). */
    int (*portal_rbuf)(void *ctx, int portal, const void **buf, size_t *size);
    int (*portal_rdone)(void *ctx, int portal);
};

typedef struct noc_transport {
    const struct noc_ops *ops;  /* ignored when NOC_DIRECT is defined */
    void *ctx;
} noc_transport;

/* The default transport of this node (used by noc_node_self/noc_nodes). */
UAREA_API void noc_set_default(noc_transport *t);
UAREA_API noc_transport *noc_default(void);

/* App-facing: the node the caller runs on now, and how many nodes there are.
 * UAREA_ENOSYS when no default transport is set. */
UAREA_API int noc_node_self(void);
UAREA_API int noc_nodes(void);

UAREA_API int noc_self(noc_transport *t);
UAREA_API int noc_count(noc_transport *t);
UAREA_API uint64_t noc_clock_ns(noc_transport *t);
/* 1: `node` is gone for good; 0: alive, or the transport cannot tell
 * (without the optional op); UAREA_EBADNODE, UAREA_EINVAL. */
UAREA_API int noc_node_gone(noc_transport *t, int node);
/* The node that sent the message the last completed read of input mailbox
 * `mbx` returned, from the transport's own knowledge; UAREA_ENOSYS when the
 * transport cannot tell (without the optional op), UAREA_ESTATE when no
 * read completed, UAREA_EBADHANDLE, UAREA_EINVAL. */
UAREA_API int noc_mailbox_sender(noc_transport *t, int mbx);

/* Mailboxes */
UAREA_API int noc_mailbox_create(noc_transport *t, int port);
UAREA_API int noc_mailbox_open(noc_transport *t, int node, int port);
UAREA_API int noc_mailbox_unlink(noc_transport *t, int mbx);
UAREA_API int noc_mailbox_close(noc_transport *t, int mbx);
UAREA_API int noc_mailbox_aread(noc_transport *t, int mbx, void *buf, size_t size);
UAREA_API int noc_mailbox_awrite(noc_transport *t, int mbx, const void *buf, size_t size);
UAREA_API int noc_mailbox_wait(noc_transport *t, int mbx, int64_t timeout_ns);
UAREA_API int noc_mailbox_poll(noc_transport *t, int mbx);  /* UAREA_EAGAIN: not done */
UAREA_API int noc_mailbox_cancel(noc_transport *t, int mbx);
UAREA_API int noc_mailbox_read(noc_transport *t, int mbx, void *buf, size_t size,
                               int64_t timeout_ns);
UAREA_API int noc_mailbox_write(noc_transport *t, int mbx, const void *buf, size_t size,
                                int64_t timeout_ns);

/* Portals */
UAREA_API int noc_portal_create(noc_transport *t, int port);
UAREA_API int noc_portal_allow(noc_transport *t, int portal, int node, int port);
UAREA_API int noc_portal_open(noc_transport *t, int local_port, int node, int port);
UAREA_API int noc_portal_unlink(noc_transport *t, int portal);
UAREA_API int noc_portal_close(noc_transport *t, int portal);
UAREA_API int noc_portal_aread(noc_transport *t, int portal, void *buf, size_t size);
UAREA_API int noc_portal_awrite(noc_transport *t, int portal, const void *buf, size_t size);
UAREA_API int noc_portal_wbuf(noc_transport *t, int portal, void **buf, size_t *size);
UAREA_API int noc_portal_wdone(noc_transport *t, int portal, size_t n);
UAREA_API int noc_portal_rbuf(noc_transport *t, int portal, const void **buf, size_t *size);
UAREA_API int noc_portal_rdone(noc_transport *t, int portal);
UAREA_API int noc_portal_wait(noc_transport *t, int portal, int64_t timeout_ns);
UAREA_API int noc_portal_poll(noc_transport *t, int portal);
UAREA_API int noc_portal_cancel(noc_transport *t, int portal);
UAREA_API int noc_portal_read(noc_transport *t, int portal, void *buf, size_t size,
                              int64_t timeout_ns);
UAREA_API int noc_portal_write(noc_transport *t, int portal, const void *buf, size_t size,
                               int64_t timeout_ns);

UAREA_EXTERN_C_END

#endif /* NOC_NOC_H */

/* ------------------------------------------------------------------------ */
#if defined(NOC_IMPLEMENTATION) && !defined(NOC__NOC_IMPLEMENTED)
#define NOC__NOC_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#ifdef NOC_DIRECT
#  define NOC__CALL(t, fn, ...) NOC_DIRECT(fn)((t)->ctx, __VA_ARGS__)
#  define NOC__CALL0(t, fn) NOC_DIRECT(fn)((t)->ctx)
#  define NOC__HAS(t, fn) 1
   /* optional ops are bound when NOC_DIRECT_NODE_GONE / NOC_DIRECT_MAILBOX_SENDER
    * are defined (noc_node_gone, noc_mailbox_sender) */
#else
#  define NOC__CALL(t, fn, ...) (t)->ops->fn((t)->ctx, __VA_ARGS__)
#  define NOC__CALL0(t, fn) (t)->ops->fn((t)->ctx)
#  define NOC__HAS(t, fn) ((t)->ops != NULL && (t)->ops->fn != NULL)
#endif

static noc_transport *noc__default_transport;

UAREA_API void noc_set_default(noc_transport *t) { noc__default_transport = t; }
UAREA_API noc_transport *noc_default(void) { return noc__default_transport; }

static int noc__ok(noc_transport *t)
{
    return t != NULL;
}

UAREA_API int noc_self(noc_transport *t)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    if (!NOC__HAS(t, node_self)) return UAREA_ENOSYS;
    return NOC__CALL0(t, node_self);
}

UAREA_API int noc_count(noc_transport *t)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    if (!NOC__HAS(t, nodes)) return UAREA_ENOSYS;
    return NOC__CALL0(t, nodes);
}

UAREA_API uint64_t noc_clock_ns(noc_transport *t)
{
    if (!noc__ok(t) || !NOC__HAS(t, clock_ns)) return 0;
    return NOC__CALL0(t, clock_ns);
}

UAREA_API int noc_node_gone(noc_transport *t, int node)
{
    int n;
    if (!noc__ok(t)) return UAREA_EINVAL;
    n = noc_count(t);
    if (n < 0) return n;
    if (node < 0 || node >= n) return UAREA_EBADNODE;
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_NODE_GONE)
    return 0;
#else
    if (!NOC__HAS(t, node_gone)) return 0;
    return NOC__CALL(t, node_gone, node) > 0 ? 1 : 0;
#endif
}

UAREA_API int noc_mailbox_sender(noc_transport *t, int mbx)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    if (mbx < 0 || mbx >= NOC_OPEN_MAX) return UAREA_EBADHANDLE;
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_MAILBOX_SENDER)
    return UAREA_ENOSYS;
#else
    if (!NOC__HAS(t, mailbox_sender)) return UAREA_ENOSYS;
    return NOC__CALL(t, mailbox_sender, mbx);
#endif
}

UAREA_API int noc_node_self(void)
{
    return noc__default_transport ? noc_self(noc__default_transport) : UAREA_ENOSYS;
}

UAREA_API int noc_nodes(void)
{
    return noc__default_transport ? noc_count(noc__default_transport) : UAREA_ENOSYS;
}

/* Shared argument checks, so that transports need not repeat them. */
static int noc__check_port(int port)
{
    return (port < 0 || port >= NOC_PORTS_MAX) ? UAREA_EBADPORT : 0;
}

static int noc__check_node(noc_transport *t, int node)
{
    int n = noc_count(t);
    if (n < 0) return n;
    return (node < 0 || node >= n) ? UAREA_EBADNODE : 0;
}

static int noc__check_handle(int h)
{
    return (h < 0 || h >= NOC_OPEN_MAX) ? UAREA_EBADHANDLE : 0;
}

#define NOC__TRY(expr) do { int noc__rc = (expr); if (noc__rc < 0) return noc__rc; } while (0)
#define NOC__NEED(t, fn) do { if (!noc__ok(t)) return UAREA_EINVAL; \
                              if (!NOC__HAS(t, fn)) return UAREA_ENOSYS; } while (0)

/* ---- Mailboxes ---- */
UAREA_API int noc_mailbox_create(noc_transport *t, int port)
{
    NOC__NEED(t, mailbox_create);
    NOC__TRY(noc__check_port(port));
    return NOC__CALL(t, mailbox_create, port);
}

UAREA_API int noc_mailbox_open(noc_transport *t, int node, int port)
{
    NOC__NEED(t, mailbox_open);
    NOC__TRY(noc__check_node(t, node));
    NOC__TRY(noc__check_port(port));
    return NOC__CALL(t, mailbox_open, node, port);
}

UAREA_API int noc_mailbox_unlink(noc_transport *t, int mbx)
{
    NOC__NEED(t, mailbox_unlink);
    NOC__TRY(noc__check_handle(mbx));
    return NOC__CALL(t, mailbox_unlink, mbx);
}

UAREA_API int noc_mailbox_close(noc_transport *t, int mbx)
{
    NOC__NEED(t, mailbox_close);
    NOC__TRY(noc__check_handle(mbx));
    return NOC__CALL(t, mailbox_close, mbx);
}

UAREA_API int noc_mailbox_aread(noc_transport *t, int mbx, void *buf, size_t size)
{
    NOC__NEED(t, mailbox_aread);
    NOC__TRY(noc__check_handle(mbx));
    if (buf == NULL) return UAREA_EINVAL;
    if (size == 0 || size > NOC_MAILBOX_MSG_SIZE) return UAREA_EMSGSIZE;
    return NOC__CALL(t, mailbox_aread, mbx, buf, size);
}

UAREA_API int noc_mailbox_awrite(noc_transport *t, int mbx, const void *buf, size_t size)
{
    NOC__NEED(t, mailbox_awrite);
    NOC__TRY(noc__check_handle(mbx));
    if (buf == NULL) return UAREA_EINVAL;
    if (size == 0 || size > NOC_MAILBOX_MSG_SIZE) return UAREA_EMSGSIZE;
    return NOC__CALL(t, mailbox_awrite, mbx, buf, size);
}

UAREA_API int noc_mailbox_wait(noc_transport *t, int mbx, int64_t timeout_ns)
{
    NOC__NEED(t, mailbox_wait);
    NOC__TRY(noc__check_handle(mbx));
    if (timeout_ns < 0 && timeout_ns != NOC_FOREVER) return UAREA_EINVAL;
    return NOC__CALL(t, mailbox_wait, mbx, timeout_ns);
}

UAREA_API int noc_mailbox_poll(noc_transport *t, int mbx)
{
    int rc = noc_mailbox_wait(t, mbx, 0);
    return rc == UAREA_ETIMEDOUT ? UAREA_EAGAIN : rc;
}

UAREA_API int noc_mailbox_cancel(noc_transport *t, int mbx)
{
    NOC__NEED(t, mailbox_cancel);
    NOC__TRY(noc__check_handle(mbx));
    return NOC__CALL(t, mailbox_cancel, mbx);
}

/* Finish a synchronous call: wait, and withdraw the operation on expiry. */
static int noc__finish(int rc, int cancel_rc, int64_t timeout_ns)
{
    if (rc != UAREA_ETIMEDOUT) return rc;
    if (cancel_rc >= 0) return cancel_rc;           /* completed meanwhile */
    return timeout_ns == 0 ? cancel_rc : UAREA_ETIMEDOUT;
}

UAREA_API int noc_mailbox_read(noc_transport *t, int mbx, void *buf, size_t size,
                               int64_t timeout_ns)
{
    int rc;
    NOC__TRY(noc_mailbox_aread(t, mbx, buf, size));
    rc = noc_mailbox_wait(t, mbx, timeout_ns);
    return rc == UAREA_ETIMEDOUT ? noc__finish(rc, noc_mailbox_cancel(t, mbx), timeout_ns) : rc;
}

UAREA_API int noc_mailbox_write(noc_transport *t, int mbx, const void *buf, size_t size,
                                int64_t timeout_ns)
{
    int rc;
    NOC__TRY(noc_mailbox_awrite(t, mbx, buf, size));
    rc = noc_mailbox_wait(t, mbx, timeout_ns);
    return rc == UAREA_ETIMEDOUT ? noc__finish(rc, noc_mailbox_cancel(t, mbx), timeout_ns) : rc;
}

/* ---- Portals ---- */
UAREA_API int noc_portal_create(noc_transport *t, int port)
{
    NOC__NEED(t, portal_create);
    NOC__TRY(noc__check_port(port));
    return NOC__CALL(t, portal_create, port);
}

UAREA_API int noc_portal_allow(noc_transport *t, int portal, int node, int port)
{
    NOC__NEED(t, portal_allow);
    NOC__TRY(noc__check_handle(portal));
    NOC__TRY(noc__check_node(t, node));
    NOC__TRY(noc__check_port(port));
    return NOC__CALL(t, portal_allow, portal, node, port);
}

UAREA_API int noc_portal_open(noc_transport *t, int local_port, int node, int port)
{
    NOC__NEED(t, portal_open);
    NOC__TRY(noc__check_port(local_port));
    NOC__TRY(noc__check_node(t, node));
    NOC__TRY(noc__check_port(port));
    return NOC__CALL(t, portal_open, local_port, node, port);
}

UAREA_API int noc_portal_unlink(noc_transport *t, int portal)
{
    NOC__NEED(t, portal_unlink);
    NOC__TRY(noc__check_handle(portal));
    return NOC__CALL(t, portal_unlink, portal);
}

UAREA_API int noc_portal_close(noc_transport *t, int portal)
{
    NOC__NEED(t, portal_close);
    NOC__TRY(noc__check_handle(portal));
    return NOC__CALL(t, portal_close, portal);
}

UAREA_API int noc_portal_aread(noc_transport *t, int portal, void *buf, size_t size)
{
    NOC__NEED(t, portal_aread);
    NOC__TRY(noc__check_handle(portal));
    if (buf == NULL) return UAREA_EINVAL;
    if (size == 0 || size > NOC_PORTAL_MAX_SIZE) return UAREA_EMSGSIZE;
    return NOC__CALL(t, portal_aread, portal, buf, size);
}

UAREA_API int noc_portal_awrite(noc_transport *t, int portal, const void *buf, size_t size)
{
    NOC__NEED(t, portal_awrite);
    NOC__TRY(noc__check_handle(portal));
    if (buf == NULL) return UAREA_EINVAL;
    if (size == 0 || size > NOC_PORTAL_MAX_SIZE) return UAREA_EMSGSIZE;
    return NOC__CALL(t, portal_awrite, portal, buf, size);
}

UAREA_API int noc_portal_wbuf(noc_transport *t, int portal, void **buf, size_t *size)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    NOC__TRY(noc__check_handle(portal));
    if (buf == NULL || size == NULL) return UAREA_EINVAL;
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_PORTAL_WBUF)
    return UAREA_ENOSYS;
#else
    if (!NOC__HAS(t, portal_wbuf) || !NOC__HAS(t, portal_wdone)) return UAREA_ENOSYS;
    return NOC__CALL(t, portal_wbuf, portal, buf, size);
#endif
}

UAREA_API int noc_portal_wdone(noc_transport *t, int portal, size_t n)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    NOC__TRY(noc__check_handle(portal));
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_PORTAL_WBUF)
    (void)n;
    return UAREA_ESTATE;
#else
    if (!NOC__HAS(t, portal_wdone)) return UAREA_ESTATE;
    if (n == 0 || n > NOC_PORTAL_MAX_SIZE) return UAREA_EMSGSIZE;
    return NOC__CALL(t, portal_wdone, portal, n);
#endif
}

UAREA_API int noc_portal_rbuf(noc_transport *t, int portal, const void **buf, size_t *size)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    NOC__TRY(noc__check_handle(portal));
    if (buf == NULL || size == NULL) return UAREA_EINVAL;
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_PORTAL_RBUF)
    return UAREA_ENOSYS;
#else
    if (!NOC__HAS(t, portal_rbuf) || !NOC__HAS(t, portal_rdone)) return UAREA_ENOSYS;
    return NOC__CALL(t, portal_rbuf, portal, buf, size);
#endif
}

UAREA_API int noc_portal_rdone(noc_transport *t, int portal)
{
    if (!noc__ok(t)) return UAREA_EINVAL;
    NOC__TRY(noc__check_handle(portal));
#if defined(NOC_DIRECT) && !defined(NOC_DIRECT_PORTAL_RBUF)
    return UAREA_ESTATE;
#else
    if (!NOC__HAS(t, portal_rdone)) return UAREA_ESTATE;
    return NOC__CALL(t, portal_rdone, portal);
#endif
}

UAREA_API int noc_portal_wait(noc_transport *t, int portal, int64_t timeout_ns)
{
    NOC__NEED(t, portal_wait);
    NOC__TRY(noc__check_handle(portal));
    if (timeout_ns < 0 && timeout_ns != NOC_FOREVER) return UAREA_EINVAL;
    return NOC__CALL(t, portal_wait, portal, timeout_ns);
}

UAREA_API int noc_portal_poll(noc_transport *t, int portal)
{
    int rc = noc_portal_wait(t, portal, 0);
    return rc == UAREA_ETIMEDOUT ? UAREA_EAGAIN : rc;
}

UAREA_API int noc_portal_cancel(noc_transport *t, int portal)
{
    NOC__NEED(t, portal_cancel);
    NOC__TRY(noc__check_handle(portal));
    return NOC__CALL(t, portal_cancel, portal);
}

UAREA_API int noc_portal_read(noc_transport *t, int portal, void *buf, size_t size,
                              int64_t timeout_ns)
{
    int rc;
    NOC__TRY(noc_portal_aread(t, portal, buf, size));
    rc = noc_portal_wait(t, portal, timeout_ns);
    return rc == UAREA_ETIMEDOUT ? noc__finish(rc, noc_portal_cancel(t, portal), timeout_ns) : rc;
}

UAREA_API int noc_portal_write(noc_transport *t, int portal, const void *buf, size_t size,
                               int64_t timeout_ns)
{
    int rc;
    NOC__TRY(noc_portal_awrite(t, portal, buf, size));
    rc = noc_portal_wait(t, portal, timeout_ns);
    return rc == UAREA_ETIMEDOUT ? noc__finish(rc, noc_portal_cancel(t, portal), timeout_ns) : rc;
}

UAREA_EXTERN_C_END

#endif /* NOC_IMPLEMENTATION */
