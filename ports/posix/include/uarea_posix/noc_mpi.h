/*
 * uarea_posix/noc_mpi.h - the NoC over MPI: a transport for noc/noc.h in
 * which every node is one MPI rank, on one host or on several.
 *
 * Why here. The ranks of an MPI job are POSIX processes like the node
 * processes of uarea_posix_run(): the same port (contexts, the container
 * region at its fixed address, dirty tracking) runs in them, and only the
 * transport differs. So this is a second transport of the POSIX port,
 * beside noc_shm.h, not a port of its own. It needs <mpi.h> and an MPI
 * library, so uarea_posix.h includes it only in a program built with
 * UAREA_POSIX_MPI (whose uarea_posix_run() then makes each rank a node:
 * uarea_posix/mpi_run.h): a program that wants it includes this header and
 * links MPI (CMake: MPI::MPI_C). The core headers (include/) know nothing
 * of MPI.
 *
 *     int main(int argc, char **argv) {
 *         noc_mpi_node self;                    // this node's state (~62 KiB)
 *         noc_transport t;
 *         MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
 *         noc_mpi_attach(MPI_COMM_WORLD, &self, &t);   // collective
 *         noc_set_default(&t);                  // optional: noc_node_self()
 *         ... noc_mailbox_create(&t, 0) ... noc_portal_open(&t, 1, 2, 0) ...
 *         noc_mpi_detach(&self);
 *         MPI_Finalize();
 *     }
 *
 * The transport never initialises MPI by itself: the program does, or calls
 * noc_mpi_init() / noc_mpi_finalize(), which do it when nobody did.
 * noc_mpi_attach() is collective over the communicator it is given (it
 * duplicates it, so that the transport's traffic never meets the program's,
 * and sets MPI_ERRORS_RETURN on the duplicate); node n is rank n of it.
 *
 * Semantics are those of noc/noc.h, with the decisions of noc_shm.h where
 * it made one (a write to a port not created yet waits; an allow is
 * consumed by the read that ends after it and kept by a read cancelled
 * before it started; allowing while a read is posted: UAREA_EBUSY; one
 * output portal per (local port, node, port): UAREA_EPORTINUSE; a new
 * mailbox starts empty; a message to a mailbox unlinked meanwhile is
 * dropped). What MPI changes:
 *
 * Mailboxes. A message is one MPI message (tag: the port) of an 8-byte
 * header and the payload. Room is given by credits: creating a mailbox
 * gives every node NOC_MPI_MAILBOX_CREDITS credits for it (one control
 * message to each node), a write spends one, and the reader returns them
 * in batches of half that as it reads. So a mailbox holds up to
 * NOC_MPI_MAILBOX_CREDITS messages of each sender, and a sender whose
 * credits are spent waits (UAREA_EAGAIN at timeout 0) until the reader has
 * read half of them. A write completes when its message is handed to MPI
 * (it is copied; the caller's buffer is free at once). Unlinking withdraws
 * the credits (a control message to each node); messages still on the way
 * carry the old mailbox's epoch in their header and are dropped.
 *
 * Portals: the allow is the clear to send. The receiver's allow sends the
 * named sender a small ALLOW; its read posts MPI_Irecv for exactly that
 * (node, port) and sends a CTS (clear to send: a sequence number and the
 * size posted). The sender moves data only when it holds a CTS: one
 * MPI_Issend of the whole transfer (up to NOC_PORTAL_MAX_SIZE), with a tag
 * made of the port and the CTS's sequence number, so its data can land
 * nowhere but in the read that asked for it. A write larger than the read
 * sends no data: the sender fails with UAREA_EMSGSIZE and tells the
 * receiver, whose read fails the same way. Issend completes only once the
 * receiver's MPI has matched the message: a write completes when its data
 * is being received into the posted read, never earlier.
 * Cancelling a read that has not matched withdraws it (MPI_Cancel) and
 * revokes its CTS; a sender that had already sent for it is told, its data
 * is received and discarded by the receiver, and its write waits for the
 * next CTS, which makes it send again (so a write is never reported done
 * for data that was thrown away). A read already matched, or a write whose
 * data is on its way, cannot be withdrawn: cancel waits for it to end.
 * A zero-timeout portal write reports what this node knows: a CTS that has
 * arrived is used (the write completes once the receiver's MPI matches it),
 * an ALLOW without a CTS gives UAREA_EAGAIN, nothing gives
 * UAREA_ENOTALLOWED; an allow made a moment ago may not have arrived yet.
 *
 * Progress. MPI moves messages only inside MPI calls, and the transport
 * answers its peers (credits, CTS, revokes) only inside its own calls: a
 * node that makes no call of this transport for a while delays the peers
 * that wait on it (noc_mpi_progress() answers them without an operation).
 * Waits test their requests for NOC_MPI_SPIN_NS (yielding the CPU after
 * NOC_MPI_YIELD_NS, for ranks that share a core), then sleep NOC_MPI_NAP_NS
 * between tests. The spin is much longer than a nap (which the kernel
 * stretches to ~50 us anyway): with spin and nap alike, two ranks in a
 * ping-pong fall into step, each napping while the other answers.
 *
 * Nodes that go (docs/mpi.md). A node that calls noc_mpi_detach() tells
 * every peer (LEAVE) and waits up to NOC_MPI_LEAVE_NS for each to answer,
 * receiving and discarding whatever still reaches it, so that nothing is in
 * flight to it when it frees its communicator. A peer that got LEAVE fails
 * every call that involves the node with UAREA_EPEERGONE (as noc_shm.h
 * lists them) and noc_node_gone() says 1. A rank that dies is another
 * matter: plain MPI does not say that a process failed, and Open MPI's and
 * MPICH's launchers end the whole job when a rank dies. With an MPI library
 * that reports process failures (ULFM's MPIX_ERR_PROC_FAILED) an operation
 * that fails that way marks its peer gone; any other MPI error ends the
 * operation with UAREA_EIO. Timeouts are the caller's: a wait returns
 * UAREA_ETIMEDOUT and the caller decides.
 *
 * Threads: a node's calls are serialised by a mutex (released while a wait
 * sleeps), so different handles may be used from different threads when
 * MPI provides MPI_THREAD_SERIALIZED or more; a handle is used by one
 * thread at a time. noc_mpi_kick() ends a mailbox wait (as noc_shm_kick()).
 *
 * Implementation: define NOC_MPI_IMPLEMENTATION, UAREA_POSIX_IMPLEMENTATION
 * or UAREA_IMPLEMENTATION (noc/noc.h's NOC_IMPLEMENTATION is needed as well)
 * in one C file. It allocates one scratch buffer (NOC_PORTAL_MAX_SIZE) the
 * first time it discards a transfer.
 *
 * Configuration (#ifndef defaults; docs/mpi.md):
 *   NOC_MPI_MAILBOX_CREDITS  16          messages of one sender a mailbox holds (even, >= 2)
 *   NOC_MPI_SPIN_NS          1000000     a wait tests without sleeping this long, ns
 *   NOC_MPI_YIELD_NS         20000       within the spin, sched_yield() after this, ns
 *   NOC_MPI_NAP_NS           50000       then sleeps this long between tests, ns
 *   NOC_MPI_SENDS            64          small sends (control, mailbox) in flight per node
 *   NOC_MPI_DRAINS           32          withdrawn reads whose sender has not answered yet
 *   NOC_MPI_LEAVE_NS         2000000000  detach waits this long for the peers' answers, ns
 */
#include "features.h"   /* first: the libc features the port needs */
#include <noc/noc.h>
#include <mpi.h>
#include <pthread.h>

#if (defined(UAREA_IMPLEMENTATION) || defined(UAREA_POSIX_IMPLEMENTATION)) && \
    !defined(NOC_MPI_IMPLEMENTATION)
#  define NOC_MPI_IMPLEMENTATION
#endif

#ifndef UAREA_POSIX_NOC_MPI_H
#define UAREA_POSIX_NOC_MPI_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration ------------------------------------------------------- */
#ifndef NOC_MPI_MAILBOX_CREDITS
#  define NOC_MPI_MAILBOX_CREDITS 16
#endif
#ifndef NOC_MPI_SPIN_NS
#  define NOC_MPI_SPIN_NS 1000000
#endif
#ifndef NOC_MPI_YIELD_NS
#  define NOC_MPI_YIELD_NS 20000
#endif
#ifndef NOC_MPI_NAP_NS
#  define NOC_MPI_NAP_NS 50000
#endif
#ifndef NOC_MPI_SENDS
#  define NOC_MPI_SENDS 64
#endif
#ifndef NOC_MPI_DRAINS
#  define NOC_MPI_DRAINS 32
#endif
#ifndef NOC_MPI_LEAVE_NS
#  define NOC_MPI_LEAVE_NS INT64_C(2000000000)
#endif

UAREA_STATIC_ASSERT(NOC_MPI_MAILBOX_CREDITS >= 2 && NOC_MPI_MAILBOX_CREDITS % 2 == 0 &&
                    NOC_MPI_MAILBOX_CREDITS <= 65535,
                    "mailbox credits: an even number, returned in halves");
UAREA_STATIC_ASSERT(NOC_MPI_SENDS >= 4 && NOC_MPI_DRAINS >= 1, "send slots and drain records");
UAREA_STATIC_ASSERT(NOC_PORTAL_MAX_SIZE <= 0x7fffffffu, "a transfer is one MPI message");

#define NOC__MPI_HDR 8u                                  /* mailbox message header */
#define NOC__MPI_MSG ((NOC__MPI_HDR + NOC_MAILBOX_MSG_SIZE + 7u) & ~7u)
#define NOC__MPI_CTRL 6                                  /* control message, int32 words */

/* A handle of one node. */
typedef struct noc__mpi_handle {
    unsigned char used, out, op, done;  /* op: 0 none, 1 read, 2 write */
    unsigned char active;               /* req is in flight */
    unsigned char phase;                /* portal write: waiting, sending, orphaned */
    unsigned char cancelling;           /* portal write: being cancelled, start nothing */
    unsigned char held;                 /* mailbox input: msg holds the next message */
    unsigned char ready;                /* req completed in a progress pass: rc, st */
    short node, port, lport;
    short from;                         /* mailbox input: sender of the last message read */
    short held_from;
    int held_len;
    int result;
    int rc;                             /* with ready: MPI's return for req */
    uint32_t seq, gen;                  /* portal: the CTS this operation belongs to */
    uint64_t gone_at;                   /* portal write: when its receiver was seen gone */
    void *buf;
    const void *cbuf;
    size_t size;
    MPI_Request req;
    MPI_Status st;                      /* with ready */
    unsigned char msg[NOC__MPI_MSG];    /* mailbox input: received ahead */
} noc__mpi_handle;

/* A small send in flight (its buffer lives until MPI is done with it). */
typedef struct noc__mpi_send {
    MPI_Request req;
    int used;
    union {
        int32_t ctrl[NOC__MPI_CTRL];
        unsigned char msg[NOC__MPI_MSG];
    } u;
} noc__mpi_send;

/* A withdrawn read's drain record: free; waiting for the sender's answer
 * (did its data go out?); its data is coming and will be thrown away. */
enum { NOC__MPI_DRAIN_FREE = 0, NOC__MPI_DRAIN_ASKED = 1, NOC__MPI_DRAIN_COMING = 2 };

/* One attached node. */
typedef struct noc_mpi_node {
    MPI_Comm comm;                      /* the transport's duplicate */
    int self, nodes;
    int attached, leaving;
    int seqs;                           /* data tags per portal port */
    int sends_used;
    int polling;                        /* in a progress pass: steps use its results */
    int mbx_hi, ptl_hi;                 /* handle slots ever used: [0, hi) */
    uint32_t kick;                      /* noc_mpi_kick() */
    uint64_t spin_ns;                   /* noc_mpi_set_spin(); NOC_MPI_SPIN_NS */
    pthread_mutex_t lock;
    MPI_Request creq;                   /* the posted control receive */
    int32_t cbuf[NOC__MPI_CTRL];
    unsigned char gone[NOC_NODES_MAX];  /* 1: it left; 2: MPI said it failed */
    unsigned char answered[NOC_NODES_MAX];  /* detach: the peer answered LEAVE */
    void *scratch;                      /* discarded transfers land here */
    unsigned long discarded;            /* transfers received for a withdrawn read, thrown away */
    unsigned long resent;               /* writes of this node whose data was thrown away */
    noc__mpi_handle mbx[NOC_OPEN_MAX];
    noc__mpi_handle ptl[NOC_OPEN_MAX];
    struct {                            /* this node's mailboxes, per port */
        int handle;                     /* -1: not created */
        uint32_t epoch;
        uint16_t openers[NOC_NODES_MAX];
        uint16_t ret[NOC_NODES_MAX];    /* credits read, not returned yet */
    } inbox[NOC_PORTS_MAX];
    struct {                            /* this node's input portals, per port */
        int handle;                     /* -1: not created */
        uint32_t seq, gen;
        short node, lport;              /* the allowed sender; node -1: none */
    } inportal[NOC_PORTS_MAX];
    struct {                            /* peers' mailboxes as this node knows them */
        uint32_t epoch;
        int credits;
    } outbox[NOC_NODES_MAX][NOC_PORTS_MAX];
    struct noc__mpi_outportal {         /* peers' input portals as this node knows them */
        short lport;                    /* the local port they allow, -1: none */
        unsigned char cts;              /* a CTS is held */
        uint32_t gen, seq, size;
    } outportal[NOC_NODES_MAX][NOC_PORTS_MAX];
    struct {                            /* reads withdrawn while their CTS was out */
        short node, port;
        unsigned char state;            /* NOC__MPI_DRAIN_* */
        uint32_t seq;
    } drain[NOC_MPI_DRAINS];
    noc__mpi_send send[NOC_MPI_SENDS];
} noc_mpi_node;

/* MPI_Init_thread(MPI_THREAD_SERIALIZED) unless MPI is initialised already;
 * returns the thread level MPI provides (>= 0), UAREA_ESTATE (MPI was
 * finalised) or UAREA_EIO. */
UAREA_API int noc_mpi_init(int *argc, char ***argv);
/* MPI_Finalize, when noc_mpi_init() initialised MPI; 0 or UAREA_EIO. */
UAREA_API int noc_mpi_finalize(void);
/* Become node `rank of comm`: collective over comm (every rank calls it).
 * Fills *self and *t (t->ctx is self). UAREA_EINVAL (NULL, more ranks than
 * NOC_NODES_MAX, MPI's tag space too small), UAREA_ESTATE (MPI not
 * initialised, or finalised), UAREA_EIO. */
UAREA_API int noc_mpi_attach(MPI_Comm comm, noc_mpi_node *self, noc_transport *t);
/* Leave: withdraw pending operations, unlink and close every handle, tell
 * the peers (they get UAREA_EPEERGONE from then on) and free the
 * communicator. Not collective. The node cannot come back on this
 * attachment (a new noc_mpi_attach of every rank starts afresh). */
UAREA_API int noc_mpi_detach(noc_mpi_node *self);
/* Answer the peers (credits, clear to send, revokes) without waiting on an
 * operation; 0, or UAREA_EINVAL. */
UAREA_API int noc_mpi_progress(noc_mpi_node *self);
/* Another thread wants this node's mailbox reader back: a wait on an input
 * mailbox in progress (or the next one) returns UAREA_ETIMEDOUT, the read
 * still posted. */
UAREA_API void noc_mpi_kick(noc_mpi_node *self);
/* How long this node's waits test without sleeping (NOC_MPI_SPIN_NS at
 * attach): shorter costs a pair of ranks in a ping-pong latency, longer
 * costs a rank that waits a CPU; 0 or UAREA_EINVAL. */
UAREA_API int noc_mpi_set_spin(noc_mpi_node *self, int64_t spin_ns);
/* 1 when `node` is attached and has not left, UAREA_EPEERGONE when it left
 * (or MPI reported it failed), UAREA_EBADNODE, UAREA_EINVAL. */
UAREA_API int noc_mpi_peer_state(noc_mpi_node *self, int node);
/* The communicator the transport uses (its duplicate), or MPI_COMM_NULL. */
UAREA_API MPI_Comm noc_mpi_comm(noc_mpi_node *self);
/* The operations table (ctx: a noc_mpi_node *). */
UAREA_API const struct noc_ops *noc_mpi_ops(void);

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_NOC_MPI_H */

/* ------------------------------------------------------------------------ */
#if defined(NOC_MPI_IMPLEMENTATION) && !defined(UAREA_POSIX__NOC_MPI_IMPLEMENTED)
#define UAREA_POSIX__NOC_MPI_IMPLEMENTED

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(OPEN_MPI) && OPEN_MPI
#  include <mpi-ext.h>   /* MPIX_ERR_PROC_FAILED when Open MPI has ULFM */
#endif

UAREA_EXTERN_C_BEGIN

enum { NOC__MPI_OP_NONE = 0, NOC__MPI_OP_READ = 1, NOC__MPI_OP_WRITE = 2 };
/* Portal write phases */
enum { NOC__MPI_WAIT = 0, NOC__MPI_SENDING = 1, NOC__MPI_ORPHAN = 2 };
/* Control messages: {type, port, lport, a, b, c} */
enum {
    NOC__MPI_CREDIT = 1,   /* receiver -> node: port, a epoch, b credits (epoch newer: reset) */
    NOC__MPI_MREVOKE,      /* receiver -> node: port, a epoch: mailbox gone */
    NOC__MPI_MOPEN,        /* sender -> receiver: port opened */
    NOC__MPI_MCLOSE,       /* sender -> receiver: port closed */
    NOC__MPI_ALLOW,        /* receiver -> sender: port allows lport, a gen */
    NOC__MPI_UNALLOW,      /* receiver -> sender: allow a gen withdrawn */
    NOC__MPI_CTS,          /* receiver -> sender: a seq, b size, c gen */
    NOC__MPI_PREVOKE,      /* receiver -> sender: read a seq withdrawn */
    NOC__MPI_PACK,         /* sender -> receiver: a seq, b 1 when data was sent for it */
    NOC__MPI_TOOBIG,       /* sender -> receiver: a seq: the write is larger than the read */
    NOC__MPI_LEAVE,        /* node -> all: detaching */
    NOC__MPI_LEAVEACK      /* node -> leaver: nothing more will come from me */
};
#define NOC__MPI_TAG_CTRL 0
#define NOC__MPI_RETURN (NOC_MPI_MAILBOX_CREDITS / 2)

static int noc__mpi_inited;            /* noc_mpi_init() initialised MPI */

/* ---- small helpers ---- */
static uint64_t noc__mpi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void noc__mpi_nap(uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    nanosleep(&ts, NULL);
}

static void noc__mpi_lock(noc_mpi_node *s) { pthread_mutex_lock(&s->lock); }
static void noc__mpi_unlock(noc_mpi_node *s) { pthread_mutex_unlock(&s->lock); }

static int noc__mpi_tag_mbx(int port) { return 1 + port; }

static int noc__mpi_tag_data(noc_mpi_node *s, int port, uint32_t seq)
{
    return 1 + NOC_PORTS_MAX + port * s->seqs + (int)(seq % (uint32_t)s->seqs);
}

/* An MPI error on an operation with `peer`: UAREA_EPEERGONE (and the peer
 * marked gone) when the library says the process failed, else UAREA_EIO. */
static int noc__mpi_err(noc_mpi_node *s, int peer, int rc)
{
    int cls = MPI_ERR_OTHER;
    if (rc == MPI_SUCCESS) return 0;
    if (MPI_Error_class(rc, &cls) != MPI_SUCCESS) cls = MPI_ERR_OTHER;
    if (cls == MPI_ERR_TRUNCATE) return UAREA_EMSGSIZE;
#if defined(MPIX_ERR_PROC_FAILED)
    if (cls == MPIX_ERR_PROC_FAILED) {
        if (peer >= 0 && peer < s->nodes && !s->gone[peer]) s->gone[peer] = 2;
        return UAREA_EPEERGONE;
    }
#endif
    (void)s;
    (void)peer;
    return UAREA_EIO;
}

/* ---- handles ---- */
static noc__mpi_handle *noc__mpi_get(noc_mpi_node *s, noc__mpi_handle *tab, int h)
{
    if (s == NULL || !s->attached || h < 0 || h >= NOC_OPEN_MAX || !tab[h].used) return NULL;
    return &tab[h];
}

static int noc__mpi_free_slot(noc__mpi_handle *tab)
{
    int i;
    for (i = 0; i < NOC_OPEN_MAX; i++)
        if (!tab[i].used) return i;
    return -1;
}

static noc__mpi_handle *noc__mpi_new(noc_mpi_node *s, noc__mpi_handle *tab, int i, int out,
                                     int node, int port)
{
    noc__mpi_handle *h = &tab[i];
    int *hi = tab == s->mbx ? &s->mbx_hi : &s->ptl_hi;
    if (i >= *hi) *hi = i + 1;
    memset(h, 0, sizeof *h);
    h->used = 1;
    h->out = (unsigned char)out;
    h->node = (short)node;
    h->port = (short)port;
    h->lport = -1;
    h->from = -1;
    h->req = MPI_REQUEST_NULL;
    return h;
}

static void noc__mpi_finish(noc__mpi_handle *h, int result)
{
    h->done = 1;
    h->result = result;
}

static int noc__mpi_take(noc__mpi_handle *h)
{
    int r = h->result;
    h->op = NOC__MPI_OP_NONE;
    h->done = 0;
    h->phase = NOC__MPI_WAIT;
    return r;
}

/* Has h's request completed? A progress pass tests every request at once
 * (MPI_Testsome) and leaves the results in the handles; its steps read
 * them, other callers test. */
static int noc__mpi_htest(noc_mpi_node *s, noc__mpi_handle *h, int *flag, MPI_Status *st)
{
    if (h->ready) {
        h->ready = 0;
        *flag = 1;
        *st = h->st;
        return h->rc;
    }
    if (s->polling) {
        *flag = 0;
        return MPI_SUCCESS;
    }
    return MPI_Test(&h->req, flag, st);
}

/* ---- small sends ---- */
static void noc__mpi_reap(noc_mpi_node *s)
{
    int i, flag;
    if (s->sends_used == 0) return;
    for (i = 0; i < NOC_MPI_SENDS; i++) {
        if (!s->send[i].used) continue;
        flag = 0;
        if (MPI_Test(&s->send[i].req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) {
            s->send[i].used = 0;
            s->sends_used--;
        }
    }
}

/* A free send slot; waits (testing) while all are in flight. */
static noc__mpi_send *noc__mpi_slot(noc_mpi_node *s)
{
    int i;
    for (;;) {
        for (i = 0; i < NOC_MPI_SENDS; i++)
            if (!s->send[i].used) {
                s->send[i].used = 1;
                s->sends_used++;
                return &s->send[i];
            }
        noc__mpi_reap(s);
    }
}

static void noc__mpi_slot_drop(noc_mpi_node *s, noc__mpi_send *sl)
{
    sl->used = 0;
    s->sends_used--;
}

static void noc__mpi_on_ctrl(noc_mpi_node *s, int from, const int32_t *m);

/* Send a control message; to this node itself it is handled at once. */
static void noc__mpi_ctrl(noc_mpi_node *s, int node, int type, int port, int lport,
                          uint32_t a, uint32_t b, uint32_t c)
{
    int32_t m[NOC__MPI_CTRL];
    noc__mpi_send *sl;
    int rc;
    m[0] = type;
    m[1] = port;
    m[2] = lport;
    m[3] = (int32_t)a;
    m[4] = (int32_t)b;
    m[5] = (int32_t)c;
    if (node == s->self) {
        noc__mpi_on_ctrl(s, node, m);
        return;
    }
    if (s->gone[node] && type != NOC__MPI_LEAVEACK) return;
    sl = noc__mpi_slot(s);
    memcpy(sl->u.ctrl, m, sizeof m);
    rc = MPI_Isend(sl->u.ctrl, NOC__MPI_CTRL, MPI_INT32_T, node, NOC__MPI_TAG_CTRL, s->comm, &sl->req);
    if (rc != MPI_SUCCESS) {
        noc__mpi_slot_drop(s, sl);
        (void)noc__mpi_err(s, node, rc);
    }
}

/* Wait for a receive that was cancelled (or completes anyway). 1: it was
 * withdrawn and nothing landed; 0: it completed, *bytes (or *err) says how. */
static int noc__mpi_cancel_recv(noc_mpi_node *s, MPI_Request *req, int peer, int *bytes, int *err)
{
    MPI_Status st;
    int flag = 0, cancelled = 0, rc, n = 0;
    *bytes = 0;
    *err = 0;
    (void)MPI_Cancel(req);
    while (!flag) {
        rc = MPI_Test(req, &flag, &st);
        if (rc != MPI_SUCCESS) {
            *req = MPI_REQUEST_NULL;
            *err = noc__mpi_err(s, peer, rc);
            return 0;
        }
        if (!flag) sched_yield();
    }
    if (MPI_Test_cancelled(&st, &cancelled) == MPI_SUCCESS && cancelled) return 1;
    if (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0) n = 0;
    *bytes = n;
    return 0;
}

/* ---- mailboxes ---- */
static int noc__mpi_inbox_post(noc_mpi_node *s, noc__mpi_handle *h)
{
    int rc = MPI_Irecv(h->msg, (int)NOC__MPI_MSG, MPI_BYTE, MPI_ANY_SOURCE,
                       noc__mpi_tag_mbx(h->port), s->comm, &h->req);
    if (rc != MPI_SUCCESS) return noc__mpi_err(s, -1, rc);
    h->active = 1;
    return 0;
}

/* An input mailbox: receive the next message ahead, hand it to a posted
 * read, return credits. */
static void noc__mpi_inbox_step(noc_mpi_node *s, noc__mpi_handle *h)
{
    MPI_Status st;
    uint32_t epoch;
    int flag, n, rc, from;
    for (;;) {
        while (!h->held && h->active) {
            flag = 0;
            rc = noc__mpi_htest(s, h, &flag, &st);
            if (rc != MPI_SUCCESS) {
                h->active = 0;
                if (h->op == NOC__MPI_OP_READ && !h->done) noc__mpi_finish(h, noc__mpi_err(s, -1, rc));
                (void)noc__mpi_inbox_post(s, h);
                return;
            }
            if (!flag) break;
            h->active = 0;
            if (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS) n = 0;
            memcpy(&epoch, h->msg, sizeof epoch);
            if (n >= (int)NOC__MPI_HDR && epoch == s->inbox[h->port].epoch &&
                st.MPI_SOURCE >= 0 && st.MPI_SOURCE < s->nodes) {
                h->held = 1;
                h->held_len = n - (int)NOC__MPI_HDR;
                h->held_from = (short)st.MPI_SOURCE;
            } else {
                (void)noc__mpi_inbox_post(s, h);    /* a message of an older mailbox */
            }
        }
        if (h->op != NOC__MPI_OP_READ || h->done || !h->held) break;
        if ((size_t)h->held_len > h->size) {
            noc__mpi_finish(h, UAREA_EMSGSIZE);     /* the message stays */
            break;
        }
        memcpy(h->buf, h->msg + NOC__MPI_HDR, (size_t)h->held_len);
        from = h->held_from;
        h->from = (short)from;
        h->held = 0;
        noc__mpi_finish(h, h->held_len);
        if (++s->inbox[h->port].ret[from] >= NOC__MPI_RETURN) {
            noc__mpi_ctrl(s, from, NOC__MPI_CREDIT, h->port, 0, s->inbox[h->port].epoch,
                          s->inbox[h->port].ret[from], 0);
            s->inbox[h->port].ret[from] = 0;
        }
        (void)noc__mpi_inbox_post(s, h);
    }
    /* A read no live opener can satisfy. */
    if (h->op == NOC__MPI_OP_READ && !h->done && !h->held) {
        int i, any = 0, alive = 0;
        for (i = 0; i < s->nodes; i++) {
            if (s->inbox[h->port].openers[i] == 0) continue;
            if (i == s->self || !s->gone[i]) alive = 1;
            else any = 1;
        }
        if (any && !alive) noc__mpi_finish(h, UAREA_EPEERGONE);
    }
}

static void noc__mpi_outbox_step(noc_mpi_node *s, noc__mpi_handle *h)
{
    noc__mpi_send *sl;
    uint32_t hdr[2];
    int rc;
    if (h->op != NOC__MPI_OP_WRITE || h->done) return;
    if (s->gone[h->node]) {
        noc__mpi_finish(h, UAREA_EPEERGONE);
        return;
    }
    if (s->outbox[h->node][h->port].credits <= 0) return;
    sl = noc__mpi_slot(s);
    hdr[0] = s->outbox[h->node][h->port].epoch;
    hdr[1] = 0;
    memcpy(sl->u.msg, hdr, sizeof hdr);
    memcpy(sl->u.msg + NOC__MPI_HDR, h->cbuf, h->size);
    rc = MPI_Isend(sl->u.msg, (int)(NOC__MPI_HDR + h->size), MPI_BYTE, h->node,
                   noc__mpi_tag_mbx(h->port), s->comm, &sl->req);
    if (rc != MPI_SUCCESS) {
        noc__mpi_slot_drop(s, sl);
        noc__mpi_finish(h, noc__mpi_err(s, h->node, rc));
        return;
    }
    s->outbox[h->node][h->port].credits--;
    noc__mpi_finish(h, (int)h->size);
}

/* ---- portals ---- */
/* Why a portal write has not started: UAREA_ENOTALLOWED or UAREA_EAGAIN. */
static int noc__mpi_write_reason(noc_mpi_node *s, noc__mpi_handle *h)
{
    return s->outportal[h->node][h->port].lport == h->lport ? UAREA_EAGAIN : UAREA_ENOTALLOWED;
}

/* The read's allow is used up (the read ended). */
static void noc__mpi_allow_used(noc_mpi_node *s, noc__mpi_handle *h)
{
    s->inportal[h->port].node = -1;
    s->inportal[h->port].lport = -1;
}

static void noc__mpi_read_step(noc_mpi_node *s, noc__mpi_handle *h)
{
    MPI_Status st;
    int flag = 0, rc, n = 0, peer = s->inportal[h->port].node;
    if (h->op != NOC__MPI_OP_READ || h->done) return;
    if (h->active) {
        rc = noc__mpi_htest(s, h, &flag, &st);
        if (rc != MPI_SUCCESS) {
            h->active = 0;
            noc__mpi_allow_used(s, h);
            noc__mpi_finish(h, noc__mpi_err(s, peer, rc));
            return;
        }
        if (flag) {
            h->active = 0;
            if (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS) n = 0;
            noc__mpi_allow_used(s, h);
            noc__mpi_finish(h, n);
            return;
        }
    }
    /* The allowed sender left: withdraw the read (unless its data is
     * already landing) and fail it. */
    if (peer >= 0 && s->gone[peer] && !h->ready) {
        int bytes, err;
        if (!h->active || noc__mpi_cancel_recv(s, &h->req, peer, &bytes, &err)) {
            h->active = 0;
            noc__mpi_allow_used(s, h);
            noc__mpi_finish(h, UAREA_EPEERGONE);
            return;
        }
        h->active = 0;
        noc__mpi_allow_used(s, h);
        noc__mpi_finish(h, err ? err : bytes);
    }
}

static void noc__mpi_write_start(noc_mpi_node *s, noc__mpi_handle *h)
{
    int rc;
    struct noc__mpi_outportal *o = &s->outportal[h->node][h->port];
    if (!o->cts || o->lport != h->lport) return;
    o->cts = 0;
    if (h->size > o->size) {
        noc__mpi_ctrl(s, h->node, NOC__MPI_TOOBIG, h->port, h->lport, o->seq, 0, 0);
        o->lport = -1;                                  /* that read used the allow */
        noc__mpi_finish(h, UAREA_EMSGSIZE);
        return;
    }
    h->seq = o->seq;
    h->gen = o->gen;
    rc = MPI_Issend(h->cbuf, (int)h->size, MPI_BYTE, h->node,
                    noc__mpi_tag_data(s, h->port, o->seq), s->comm, &h->req);
    if (rc != MPI_SUCCESS) {
        noc__mpi_finish(h, noc__mpi_err(s, h->node, rc));
        return;
    }
    h->active = 1;
    h->phase = NOC__MPI_SENDING;
}

static void noc__mpi_write_step(noc_mpi_node *s, noc__mpi_handle *h)
{
    MPI_Status st;
    int flag = 0, rc;
    if (h->op != NOC__MPI_OP_WRITE || h->done) return;
    if (h->active) {
        rc = noc__mpi_htest(s, h, &flag, &st);
        if (rc != MPI_SUCCESS) {
            h->active = 0;
            noc__mpi_finish(h, noc__mpi_err(s, h->node, rc));
            return;
        }
        if (flag) {
            h->active = 0;
            if (h->phase == NOC__MPI_SENDING) {
                if (s->outportal[h->node][h->port].lport == h->lport &&
                    s->outportal[h->node][h->port].gen == h->gen)
                    s->outportal[h->node][h->port].lport = -1;   /* the allow is used */
                noc__mpi_finish(h, (int)h->size);
                return;
            }
            h->phase = NOC__MPI_WAIT;                   /* discarded: send again */
        }
    }
    if (h->active) {
        /* The receiver left with our data on its way. Its detach receives
         * (and discards) what reached it before it frees its communicator;
         * give that NOC_MPI_LEAVE_NS, then give the request up. */
        if (!s->gone[h->node]) return;
        if (h->gone_at == 0) h->gone_at = noc__mpi_now();
        if (noc__mpi_now() - h->gone_at < (uint64_t)NOC_MPI_LEAVE_NS || h->ready) return;
        (void)MPI_Request_free(&h->req);
        h->active = 0;
        noc__mpi_finish(h, UAREA_EPEERGONE);
        return;
    }
    if (s->gone[h->node]) {
        noc__mpi_finish(h, UAREA_EPEERGONE);
        return;
    }
    if (h->cancelling) {
        noc__mpi_finish(h, noc__mpi_write_reason(s, h));
        return;
    }
    noc__mpi_write_start(s, h);
}

/* A withdrawn read's sender answered, or its data came: discard it. */
static void noc__mpi_drain_step(noc_mpi_node *s)
{
    MPI_Message msg;
    MPI_Status st;
    int i, flag, n;
    for (i = 0; i < NOC_MPI_DRAINS; i++) {
        if (s->drain[i].state == NOC__MPI_DRAIN_FREE) continue;
        if (s->gone[s->drain[i].node]) {
            s->drain[i].state = NOC__MPI_DRAIN_FREE;
            continue;
        }
        if (s->drain[i].state != NOC__MPI_DRAIN_COMING) continue;
        flag = 0;
        if (MPI_Improbe(s->drain[i].node, noc__mpi_tag_data(s, s->drain[i].port, s->drain[i].seq),
                        s->comm, &flag, &msg, &st) != MPI_SUCCESS || !flag)
            continue;
        if (s->scratch == NULL) s->scratch = malloc(NOC_PORTAL_MAX_SIZE);
        if (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0 || s->scratch == NULL) n = 0;
        (void)MPI_Mrecv(s->scratch, n, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        s->drain[i].state = NOC__MPI_DRAIN_FREE;
        s->discarded++;
    }
}

/* ---- control messages ---- */
static noc__mpi_handle *noc__mpi_writer(noc_mpi_node *s, int node, int port, int lport)
{
    int i;
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        noc__mpi_handle *h = &s->ptl[i];
        if (h->used && h->out && h->node == node && h->port == port && h->lport == lport) return h;
    }
    return NULL;
}

/* Control messages about mailboxes: credits and their revocation, openers.
 * 1 when `type` was one of them. */
static int noc__mpi_on_mailbox_ctrl(noc_mpi_node *s, int from, int type, int port, uint32_t a,
                                    uint32_t b)
{
    switch (type) {
    case NOC__MPI_CREDIT: {
        uint32_t *e = &s->outbox[from][port].epoch;
        if ((int32_t)(a - *e) > 0) {
            *e = a;
            s->outbox[from][port].credits = (int)b;
        } else if (a == *e) {
            s->outbox[from][port].credits += (int)b;
        }
        break;
    }
    case NOC__MPI_MREVOKE:
        if ((int32_t)(a - s->outbox[from][port].epoch) >= 0) {
            s->outbox[from][port].epoch = a;
            s->outbox[from][port].credits = 0;
        }
        break;
    case NOC__MPI_MOPEN:
        s->inbox[port].openers[from]++;
        break;
    case NOC__MPI_MCLOSE:
        if (s->inbox[port].openers[from] > 0) s->inbox[port].openers[from]--;
        break;
    default:
        return 0;
    }
    return 1;
}

/* Control messages about portals: allows, clear-to-send, revoked sends and
 * their answers, a write too big for the read. */
static void noc__mpi_on_portal_ctrl(noc_mpi_node *s, int from, int type, int port, int lport,
                                    uint32_t a, uint32_t b, uint32_t c)
{
    int i;
    switch (type) {
    case NOC__MPI_ALLOW:
        s->outportal[from][port].lport = (short)lport;
        s->outportal[from][port].gen = a;
        s->outportal[from][port].cts = 0;
        break;
    case NOC__MPI_UNALLOW:
        if (s->outportal[from][port].lport == lport && s->outportal[from][port].gen == a) {
            s->outportal[from][port].lport = -1;
            s->outportal[from][port].cts = 0;
        }
        break;
    case NOC__MPI_CTS:
        s->outportal[from][port].lport = (short)lport;
        s->outportal[from][port].gen = c;
        s->outportal[from][port].seq = a;
        s->outportal[from][port].size = b;
        s->outportal[from][port].cts = 1;
        break;
    case NOC__MPI_PREVOKE: {
        noc__mpi_handle *h = noc__mpi_writer(s, from, port, lport);
        uint32_t sent = 0;
        if (h != NULL && h->op == NOC__MPI_OP_WRITE && h->active &&
            h->phase == NOC__MPI_SENDING && h->seq == a) {
            h->phase = NOC__MPI_ORPHAN;          /* its data will be discarded */
            s->resent++;
            sent = 1;
        } else if (s->outportal[from][port].cts && s->outportal[from][port].seq == a) {
            s->outportal[from][port].cts = 0;
        }
        noc__mpi_ctrl(s, from, NOC__MPI_PACK, port, lport, a, sent, 0);
        break;
    }
    case NOC__MPI_PACK:
        for (i = 0; i < NOC_MPI_DRAINS; i++)
            if (s->drain[i].state == NOC__MPI_DRAIN_ASKED && s->drain[i].node == from &&
                s->drain[i].port == port &&
                s->drain[i].seq == a) {
                s->drain[i].state = b ? NOC__MPI_DRAIN_COMING : NOC__MPI_DRAIN_FREE;
                break;
            }
        break;
    case NOC__MPI_TOOBIG: {
        int hi = s->inportal[port].handle, bytes, err;
        noc__mpi_handle *h = hi >= 0 ? &s->ptl[hi] : NULL;
        if (h == NULL || h->op != NOC__MPI_OP_READ || h->done || !h->active || h->ready ||
            h->seq != a)
            break;
        h->active = 0;
        noc__mpi_allow_used(s, h);
        if (noc__mpi_cancel_recv(s, &h->req, from, &bytes, &err)) noc__mpi_finish(h, UAREA_EMSGSIZE);
        else noc__mpi_finish(h, err ? err : bytes);
        break;
    }
    default:
        break;
    }
}

static void noc__mpi_on_ctrl(noc_mpi_node *s, int from, const int32_t *m)
{
    int type = m[0], port = m[1], lport = m[2];
    uint32_t a = (uint32_t)m[3], b = (uint32_t)m[4], c = (uint32_t)m[5];
    if (from < 0 || from >= s->nodes || port < 0 || port >= NOC_PORTS_MAX) return;
    if (type == NOC__MPI_LEAVE) {
        if (s->leaving) {
            s->answered[from] = 1;               /* our own LEAVE went to it */
        } else {
            noc__mpi_ctrl(s, from, NOC__MPI_LEAVEACK, 0, 0, 0, 0, 0);
        }
        s->gone[from] = 1;
        return;
    }
    if (type == NOC__MPI_LEAVEACK) {
        s->answered[from] = 1;
        return;
    }
    if (s->leaving || s->gone[from]) return;
    if (!noc__mpi_on_mailbox_ctrl(s, from, type, port, a, b))
        noc__mpi_on_portal_ctrl(s, from, type, port, lport, a, b, c);
}

/* ---- progress ---- */
static void noc__mpi_control(noc_mpi_node *s, const MPI_Status *st)
{
    int32_t m[NOC__MPI_CTRL];
    MPI_Status next;
    int flag;
    for (;;) {
        memcpy(m, s->cbuf, sizeof m);
        if (MPI_Irecv(s->cbuf, NOC__MPI_CTRL, MPI_INT32_T, MPI_ANY_SOURCE, NOC__MPI_TAG_CTRL,
                      s->comm, &s->creq) != MPI_SUCCESS)
            s->creq = MPI_REQUEST_NULL;
        noc__mpi_on_ctrl(s, st->MPI_SOURCE, m);
        flag = 0;
        if (s->creq == MPI_REQUEST_NULL || MPI_Test(&s->creq, &flag, &next) != MPI_SUCCESS || !flag)
            return;
        st = &next;
    }
}

/* One pass: test every request of the node at once (one MPI_Testsome, so
 * one turn of MPI's own progress engine), answer control messages, then
 * step every handle with what completed. */
static void noc__mpi_progress(noc_mpi_node *s)
{
    enum { CAP = 1 + 2 * NOC_OPEN_MAX + NOC_MPI_SENDS };
    MPI_Request reqs[CAP];
    MPI_Status sts[CAP];
    void *who[CAP];
    unsigned char kind[CAP];                        /* 0 control, 1 handle, 2 send slot */
    int idx[CAP], n = 0, out = 0, i, k, rc, ctrl = -1;
    if (s->creq != MPI_REQUEST_NULL) { reqs[n] = s->creq; who[n] = NULL; kind[n++] = 0; }
    for (i = 0; i < s->mbx_hi; i++) {
        noc__mpi_handle *h = &s->mbx[i];
        if (h->used && h->active && !h->ready) { reqs[n] = h->req; who[n] = h; kind[n++] = 1; }
    }
    for (i = 0; i < s->ptl_hi; i++) {
        noc__mpi_handle *h = &s->ptl[i];
        if (h->used && h->active && !h->ready) { reqs[n] = h->req; who[n] = h; kind[n++] = 1; }
    }
    for (i = 0; i < NOC_MPI_SENDS && s->sends_used > 0; i++)
        if (s->send[i].used) { reqs[n] = s->send[i].req; who[n] = &s->send[i]; kind[n++] = 2; }
    if (n > 0) {
        rc = MPI_Testsome(n, reqs, &out, idx, sts);
        /* nothing done: MPI progressed once inside; look again (as MPI_Test does) */
        if (rc == MPI_SUCCESS && out == 0) rc = MPI_Testsome(n, reqs, &out, idx, sts);
        if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) out = 0;
        if (out == MPI_UNDEFINED) out = 0;
        for (k = 0; k < out; k++) {
            i = idx[k];
            if (kind[i] == 0) {
                s->creq = MPI_REQUEST_NULL;
                ctrl = k;
            } else if (kind[i] == 1) {
                noc__mpi_handle *h = (noc__mpi_handle *)who[i];
                h->req = MPI_REQUEST_NULL;
                h->ready = 1;
                h->st = sts[k];
                h->rc = rc == MPI_ERR_IN_STATUS ? sts[k].MPI_ERROR : MPI_SUCCESS;
            } else {
                noc__mpi_slot_drop(s, (noc__mpi_send *)who[i]);
            }
        }
    }
    if (ctrl >= 0) noc__mpi_control(s, &sts[ctrl]);
    if (s->leaving) return;
    s->polling = 1;
    for (i = 0; i < s->mbx_hi; i++) {
        noc__mpi_handle *h = &s->mbx[i];
        if (!h->used) continue;
        if (h->out) noc__mpi_outbox_step(s, h);
        else noc__mpi_inbox_step(s, h);
    }
    for (i = 0; i < s->ptl_hi; i++) {
        noc__mpi_handle *h = &s->ptl[i];
        if (!h->used || h->op == NOC__MPI_OP_NONE) continue;
        if (h->out) noc__mpi_write_step(s, h);
        else noc__mpi_read_step(s, h);
    }
    s->polling = 0;
    noc__mpi_drain_step(s);
}

static void noc__mpi_step(noc_mpi_node *s, noc__mpi_handle *h, int portal)
{
    if (portal) {
        if (h->out) noc__mpi_write_step(s, h);
        else noc__mpi_read_step(s, h);
    } else {
        if (h->out) noc__mpi_outbox_step(s, h);
        else noc__mpi_inbox_step(s, h);
    }
}

/* Wait for h's operation, the lock held (released while it naps). */
static int noc__mpi_wait(noc_mpi_node *s, noc__mpi_handle *h, int portal, int64_t timeout_ns)
{
    uint64_t start, now, deadline;
    int kickable = !portal && !h->out;
    if (h->op == NOC__MPI_OP_NONE) return UAREA_ESTATE;
    if (h->done) return noc__mpi_take(h);          /* done when posted */
    noc__mpi_progress(s);
    if (h->done) return noc__mpi_take(h);
    if (timeout_ns == 0) return UAREA_ETIMEDOUT;
    start = noc__mpi_now();
    deadline = timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns;
    for (;;) {
        now = noc__mpi_now();
        if (now >= deadline) return UAREA_ETIMEDOUT;
        if (kickable && __atomic_exchange_n(&s->kick, 0u, __ATOMIC_SEQ_CST)) return UAREA_ETIMEDOUT;
        noc__mpi_unlock(s);
        if (now - start >= s->spin_ns) {
            uint64_t nap = deadline - now < (uint64_t)NOC_MPI_NAP_NS ? deadline - now : NOC_MPI_NAP_NS;
            noc__mpi_nap(nap);
        } else if (now - start >= (uint64_t)NOC_MPI_YIELD_NS) {
            sched_yield();
        }
        noc__mpi_lock(s);
        noc__mpi_progress(s);               /* steps every handle with an operation */
        if (h->done) return noc__mpi_take(h);
    }
}

/* ---- mailbox ops ---- */
#define NOC__MPI_SELF(ctx) noc_mpi_node *s = (noc_mpi_node *)(ctx); \
    if (s == NULL || !s->attached) return UAREA_EINVAL

static int noc__mpi_mbx_create(void *ctx, int port)
{
    noc__mpi_handle *h;
    int i, n, rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    i = noc__mpi_free_slot(s->mbx);
    if (i < 0) { noc__mpi_unlock(s); return UAREA_ETOOMANY; }
    if (s->inbox[port].handle >= 0) { noc__mpi_unlock(s); return UAREA_EPORTINUSE; }
    h = noc__mpi_new(s, s->mbx, i, 0, s->self, port);
    s->inbox[port].epoch++;
    memset(s->inbox[port].ret, 0, sizeof s->inbox[port].ret);
    rc = noc__mpi_inbox_post(s, h);
    if (rc < 0) { h->used = 0; noc__mpi_unlock(s); return rc; }
    s->inbox[port].handle = i;
    for (n = 0; n < s->nodes; n++)
        noc__mpi_ctrl(s, n, NOC__MPI_CREDIT, port, 0, s->inbox[port].epoch,
                      NOC_MPI_MAILBOX_CREDITS, 0);
    noc__mpi_unlock(s);
    return i;
}

static int noc__mpi_mbx_open(void *ctx, int node, int port)
{
    int i;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    noc__mpi_progress(s);
    if (s->gone[node]) { noc__mpi_unlock(s); return UAREA_EPEERGONE; }
    i = noc__mpi_free_slot(s->mbx);
    if (i < 0) { noc__mpi_unlock(s); return UAREA_ETOOMANY; }
    (void)noc__mpi_new(s, s->mbx, i, 1, node, port);
    noc__mpi_ctrl(s, node, NOC__MPI_MOPEN, port, 0, 0, 0, 0);
    noc__mpi_unlock(s);
    return i;
}

static void noc__mpi_mbx_unlink_locked(noc_mpi_node *s, noc__mpi_handle *h)
{
    int n, bytes, err;
    if (h->active && !h->ready) (void)noc__mpi_cancel_recv(s, &h->req, -1, &bytes, &err);
    h->active = 0;                          /* what it received is dropped */
    h->ready = 0;
    for (n = 0; n < s->nodes; n++)
        noc__mpi_ctrl(s, n, NOC__MPI_MREVOKE, h->port, 0, s->inbox[h->port].epoch, 0, 0);
    s->inbox[h->port].handle = -1;
    h->used = 0;
}

static int noc__mpi_mbx_unlink(void *ctx, int mbx)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    noc__mpi_mbx_unlink_locked(s, h);
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_mbx_close(void *ctx, int mbx)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (!h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    noc__mpi_ctrl(s, h->node, NOC__MPI_MCLOSE, h->port, 0, 0, 0, 0);
    h->used = 0;
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_mbx_aread(void *ctx, int mbx, void *buf, size_t size)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_EBUSY; }
    h->op = NOC__MPI_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    noc__mpi_inbox_step(s, h);
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_mbx_awrite(void *ctx, int mbx, const void *buf, size_t size)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (!h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_EBUSY; }
    if (s->outbox[h->node][h->port].credits <= 0) noc__mpi_progress(s);   /* news of room */
    if (s->gone[h->node]) { noc__mpi_unlock(s); return UAREA_EPEERGONE; }
    h->op = NOC__MPI_OP_WRITE;
    h->done = 0;
    h->cbuf = buf;
    h->size = size;
    noc__mpi_outbox_step(s, h);
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_mbx_wait(void *ctx, int mbx, int64_t timeout_ns)
{
    noc__mpi_handle *h;
    int rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    rc = h == NULL ? UAREA_EBADHANDLE : noc__mpi_wait(s, h, 0, timeout_ns);
    noc__mpi_unlock(s);
    return rc;
}

static int noc__mpi_mbx_cancel(void *ctx, int mbx)
{
    noc__mpi_handle *h;
    int rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->op == NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_ESTATE; }
    noc__mpi_progress(s);
    noc__mpi_step(s, h, 0);
    if (!h->done) noc__mpi_finish(h, UAREA_EAGAIN);     /* nothing moved */
    rc = noc__mpi_take(h);
    noc__mpi_unlock(s);
    return rc;
}

static int noc__mpi_mbx_sender(void *ctx, int mbx)
{
    noc__mpi_handle *h;
    int rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->mbx, mbx);
    if (h == NULL) rc = UAREA_EBADHANDLE;
    else if (h->out) rc = UAREA_EDIRECTION;
    else rc = h->from >= 0 ? h->from : UAREA_ESTATE;
    noc__mpi_unlock(s);
    return rc;
}

/* ---- portal ops ---- */
static int noc__mpi_ptl_create(void *ctx, int port)
{
    int i;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    i = noc__mpi_free_slot(s->ptl);
    if (i < 0) { noc__mpi_unlock(s); return UAREA_ETOOMANY; }
    if (s->inportal[port].handle >= 0) { noc__mpi_unlock(s); return UAREA_EPORTINUSE; }
    (void)noc__mpi_new(s, s->ptl, i, 0, s->self, port);
    s->inportal[port].handle = i;
    s->inportal[port].node = -1;
    s->inportal[port].lport = -1;
    noc__mpi_unlock(s);
    return i;
}

static int noc__mpi_ptl_allow(void *ctx, int portal, int node, int port)
{
    noc__mpi_handle *h;
    short *an, *al;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_EBUSY; }
    noc__mpi_progress(s);
    if (s->gone[node]) { noc__mpi_unlock(s); return UAREA_EPEERGONE; }
    an = &s->inportal[h->port].node;
    al = &s->inportal[h->port].lport;
    if (*an == node && *al == port) { noc__mpi_unlock(s); return 0; }   /* already */
    if (*an >= 0)
        noc__mpi_ctrl(s, *an, NOC__MPI_UNALLOW, h->port, *al, s->inportal[h->port].gen, 0, 0);
    *an = (short)node;
    *al = (short)port;
    s->inportal[h->port].gen++;
    noc__mpi_ctrl(s, node, NOC__MPI_ALLOW, h->port, port, s->inportal[h->port].gen, 0, 0);
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_ptl_open(void *ctx, int local_port, int node, int port)
{
    int i;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    noc__mpi_progress(s);
    if (s->gone[node]) { noc__mpi_unlock(s); return UAREA_EPEERGONE; }
    i = noc__mpi_free_slot(s->ptl);
    if (i < 0) { noc__mpi_unlock(s); return UAREA_ETOOMANY; }
    if (noc__mpi_writer(s, node, port, local_port) != NULL) {
        noc__mpi_unlock(s);
        return UAREA_EPORTINUSE;
    }
    noc__mpi_new(s, s->ptl, i, 1, node, port)->lport = (short)local_port;
    noc__mpi_unlock(s);
    return i;
}

static int noc__mpi_ptl_aread(void *ctx, int portal, void *buf, size_t size)
{
    noc__mpi_handle *h;
    int node, rc;
    uint32_t seq;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_EBUSY; }
    node = s->inportal[h->port].node;
    if (node < 0) { noc__mpi_unlock(s); return UAREA_ENOTALLOWED; }
    seq = ++s->inportal[h->port].seq;
    h->op = NOC__MPI_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    h->seq = seq;
    h->gen = s->inportal[h->port].gen;
    if (!s->gone[node]) {
        rc = MPI_Irecv(buf, (int)size, MPI_BYTE, node, noc__mpi_tag_data(s, h->port, seq),
                       s->comm, &h->req);
        if (rc != MPI_SUCCESS) {
            h->op = NOC__MPI_OP_NONE;
            rc = noc__mpi_err(s, node, rc);
            noc__mpi_unlock(s);
            return rc;
        }
        h->active = 1;
        noc__mpi_ctrl(s, node, NOC__MPI_CTS, h->port, s->inportal[h->port].lport, seq,
                      (uint32_t)size, h->gen);
    }
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_ptl_awrite(void *ctx, int portal, const void *buf, size_t size)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (!h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) { noc__mpi_unlock(s); return UAREA_EBUSY; }
    noc__mpi_progress(s);
    if (s->gone[h->node]) { noc__mpi_unlock(s); return UAREA_EPEERGONE; }
    h->op = NOC__MPI_OP_WRITE;
    h->done = 0;
    h->phase = NOC__MPI_WAIT;
    h->gone_at = 0;
    h->cbuf = buf;
    h->size = size;
    noc__mpi_write_start(s, h);
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_ptl_wait(void *ctx, int portal, int64_t timeout_ns)
{
    noc__mpi_handle *h;
    int rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    rc = h == NULL ? UAREA_EBADHANDLE : noc__mpi_wait(s, h, 1, timeout_ns);
    noc__mpi_unlock(s);
    return rc;
}

/* A free drain record for a withdrawn read (the lock held). */
static int noc__mpi_drain_add(noc_mpi_node *s, int node, int port, uint32_t seq)
{
    int i;
    for (;;) {
        for (i = 0; i < NOC_MPI_DRAINS; i++)
            if (s->drain[i].state == NOC__MPI_DRAIN_FREE) {
                s->drain[i].node = (short)node;
                s->drain[i].port = (short)port;
                s->drain[i].seq = seq;
                s->drain[i].state = NOC__MPI_DRAIN_ASKED;
                return i;
            }
        noc__mpi_unlock(s);
        sched_yield();
        noc__mpi_lock(s);
        noc__mpi_progress(s);
    }
}

static int noc__mpi_ptl_cancel_locked(noc_mpi_node *s, noc__mpi_handle *h)
{
    int rc;
    if (h->op == NOC__MPI_OP_NONE) return UAREA_ESTATE;
    noc__mpi_progress(s);
    noc__mpi_step(s, h, 1);
    if (h->done) return noc__mpi_take(h);
    if (h->out) {
        if (!h->active) {
            noc__mpi_finish(h, noc__mpi_write_reason(s, h));
            return noc__mpi_take(h);
        }
        /* Data on its way: let it end (or be discarded by a receiver that
         * withdrew its read, which then ends the write as not started). */
        h->cancelling = 1;
        rc = noc__mpi_wait(s, h, 1, NOC_FOREVER);
        h->cancelling = 0;
        return rc;
    }
    if (h->active) {
        int node = s->inportal[h->port].node, bytes, err;
        if (node >= 0 && !s->gone[node]) {
            /* Reserve the drain record first: a read from this node itself
             * is answered within the revoke. */
            int d = noc__mpi_drain_add(s, node, h->port, h->seq);
            if (noc__mpi_cancel_recv(s, &h->req, node, &bytes, &err)) {
                h->active = 0;
                noc__mpi_ctrl(s, node, NOC__MPI_PREVOKE, h->port, s->inportal[h->port].lport,
                              h->seq, 0, 0);
                noc__mpi_finish(h, UAREA_EAGAIN);          /* the allow stays */
                return noc__mpi_take(h);
            }
            s->drain[d].state = NOC__MPI_DRAIN_FREE;
        } else if (noc__mpi_cancel_recv(s, &h->req, node, &bytes, &err)) {
            h->active = 0;
            noc__mpi_finish(h, UAREA_EAGAIN);
            return noc__mpi_take(h);
        }
        h->active = 0;
        noc__mpi_allow_used(s, h);
        noc__mpi_finish(h, err ? err : bytes);
        return noc__mpi_take(h);
    }
    noc__mpi_finish(h, UAREA_EAGAIN);
    return noc__mpi_take(h);
}

static int noc__mpi_ptl_cancel(void *ctx, int portal)
{
    noc__mpi_handle *h;
    int rc;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    rc = h == NULL ? UAREA_EBADHANDLE : noc__mpi_ptl_cancel_locked(s, h);
    noc__mpi_unlock(s);
    return rc;
}

static int noc__mpi_ptl_unlink(void *ctx, int portal)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) (void)noc__mpi_ptl_cancel_locked(s, h);
    if (s->inportal[h->port].node >= 0)
        noc__mpi_ctrl(s, s->inportal[h->port].node, NOC__MPI_UNALLOW, h->port,
                      s->inportal[h->port].lport, s->inportal[h->port].gen, 0, 0);
    s->inportal[h->port].handle = -1;
    s->inportal[h->port].node = -1;
    s->inportal[h->port].lport = -1;
    h->used = 0;
    noc__mpi_unlock(s);
    return 0;
}

static int noc__mpi_ptl_close(void *ctx, int portal)
{
    noc__mpi_handle *h;
    NOC__MPI_SELF(ctx);
    noc__mpi_lock(s);
    h = noc__mpi_get(s, s->ptl, portal);
    if (h == NULL) { noc__mpi_unlock(s); return UAREA_EBADHANDLE; }
    if (!h->out) { noc__mpi_unlock(s); return UAREA_EDIRECTION; }
    if (h->op != NOC__MPI_OP_NONE) (void)noc__mpi_ptl_cancel_locked(s, h);
    h->used = 0;
    noc__mpi_unlock(s);
    return 0;
}

/* ---- nodes, clock ---- */
static int noc__mpi_node_self(void *ctx)
{
    NOC__MPI_SELF(ctx);
    return s->self;
}

static int noc__mpi_nodes(void *ctx)
{
    NOC__MPI_SELF(ctx);
    return s->nodes;
}

static uint64_t noc__mpi_clock(void *ctx)
{
    (void)ctx;
    return noc__mpi_now();
}

static int noc__mpi_node_gone(void *ctx, int node)
{
    int gone;
    noc_mpi_node *s = (noc_mpi_node *)ctx;
    if (s == NULL || !s->attached || node < 0 || node >= s->nodes) return 0;
    noc__mpi_lock(s);
    noc__mpi_progress(s);
    gone = s->gone[node] != 0;
    noc__mpi_unlock(s);
    return gone;
}

static const struct noc_ops noc__mpi_ops = {
    .node_self = noc__mpi_node_self,
    .nodes = noc__mpi_nodes,
    .mailbox_create = noc__mpi_mbx_create,
    .mailbox_open = noc__mpi_mbx_open,
    .mailbox_unlink = noc__mpi_mbx_unlink,
    .mailbox_close = noc__mpi_mbx_close,
    .mailbox_aread = noc__mpi_mbx_aread,
    .mailbox_awrite = noc__mpi_mbx_awrite,
    .mailbox_wait = noc__mpi_mbx_wait,
    .mailbox_cancel = noc__mpi_mbx_cancel,
    .portal_create = noc__mpi_ptl_create,
    .portal_allow = noc__mpi_ptl_allow,
    .portal_open = noc__mpi_ptl_open,
    .portal_unlink = noc__mpi_ptl_unlink,
    .portal_close = noc__mpi_ptl_close,
    .portal_aread = noc__mpi_ptl_aread,
    .portal_awrite = noc__mpi_ptl_awrite,
    .portal_wait = noc__mpi_ptl_wait,
    .portal_cancel = noc__mpi_ptl_cancel,
    .clock_ns = noc__mpi_clock,
    .node_gone = noc__mpi_node_gone,
    .mailbox_sender = noc__mpi_mbx_sender,
};

UAREA_API const struct noc_ops *noc_mpi_ops(void) { return &noc__mpi_ops; }

/* ---- lifecycle ---- */
UAREA_API int noc_mpi_init(int *argc, char ***argv)
{
    int init = 0, fin = 0, provided = 0;
    if (MPI_Finalized(&fin) != MPI_SUCCESS || fin) return UAREA_ESTATE;
    if (MPI_Initialized(&init) != MPI_SUCCESS) return UAREA_EIO;
    if (init) {
        if (MPI_Query_thread(&provided) != MPI_SUCCESS) return UAREA_EIO;
        return provided;
    }
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return UAREA_EIO;
    noc__mpi_inited = 1;
    return provided;
}

UAREA_API int noc_mpi_finalize(void)
{
    int fin = 0;
    if (!noc__mpi_inited) return 0;
    noc__mpi_inited = 0;
    if (MPI_Finalized(&fin) == MPI_SUCCESS && fin) return 0;
    return MPI_Finalize() == MPI_SUCCESS ? 0 : UAREA_EIO;
}

UAREA_API int noc_mpi_attach(MPI_Comm comm, noc_mpi_node *s, noc_transport *t)
{
    int init = 0, fin = 0, size = 0, rank = 0, flag = 0, i, p;
    int *ub = NULL;
    long seqs;
    if (s == NULL || t == NULL || comm == MPI_COMM_NULL) return UAREA_EINVAL;
    if (MPI_Initialized(&init) != MPI_SUCCESS || !init) return UAREA_ESTATE;
    if (MPI_Finalized(&fin) != MPI_SUCCESS || fin) return UAREA_ESTATE;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS || MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return UAREA_EINVAL;
    if (size < 1 || size > NOC_NODES_MAX) return UAREA_EINVAL;
    if (MPI_Comm_get_attr(comm, MPI_TAG_UB, &ub, &flag) != MPI_SUCCESS || !flag || ub == NULL)
        seqs = (32767L - 1 - NOC_PORTS_MAX) / NOC_PORTS_MAX;
    else
        seqs = ((long)*ub - 1 - NOC_PORTS_MAX) / NOC_PORTS_MAX;
    if (seqs > 65536) seqs = 65536;
    if (seqs < 16) return UAREA_EINVAL;
    memset(s, 0, sizeof *s);
    if (MPI_Comm_dup(comm, &s->comm) != MPI_SUCCESS) return UAREA_EIO;
    (void)MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    s->self = rank;
    s->nodes = size;
    s->seqs = (int)seqs;
    s->spin_ns = (uint64_t)NOC_MPI_SPIN_NS;
    for (p = 0; p < NOC_PORTS_MAX; p++) {
        s->inbox[p].handle = -1;
        s->inportal[p].handle = -1;
        s->inportal[p].node = -1;
        s->inportal[p].lport = -1;
        for (i = 0; i < NOC_NODES_MAX; i++) s->outportal[i][p].lport = -1;
    }
    for (i = 0; i < NOC_MPI_SENDS; i++) s->send[i].req = MPI_REQUEST_NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        MPI_Comm_free(&s->comm);
        return UAREA_EIO;
    }
    if (MPI_Irecv(s->cbuf, NOC__MPI_CTRL, MPI_INT32_T, MPI_ANY_SOURCE, NOC__MPI_TAG_CTRL,
                  s->comm, &s->creq) != MPI_SUCCESS) {
        pthread_mutex_destroy(&s->lock);
        MPI_Comm_free(&s->comm);
        return UAREA_EIO;
    }
    s->attached = 1;
    t->ops = &noc__mpi_ops;
    t->ctx = s;
    return 0;
}

/* Receive and discard whatever reached this leaving node. */
static void noc__mpi_discard(noc_mpi_node *s)
{
    MPI_Message msg;
    MPI_Status st;
    int flag, n;
    for (;;) {
        flag = 0;
        if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, s->comm, &flag, &msg, &st) != MPI_SUCCESS ||
            !flag)
            return;
        if (s->scratch == NULL) s->scratch = malloc(NOC_PORTAL_MAX_SIZE);
        if (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0 || s->scratch == NULL) n = 0;
        (void)MPI_Mrecv(s->scratch, n, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    }
}

UAREA_API int noc_mpi_detach(noc_mpi_node *s)
{
    uint64_t deadline;
    int i, all;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__mpi_lock(s);
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        noc__mpi_handle *h = &s->ptl[i];
        if (h->used && h->op != NOC__MPI_OP_NONE) (void)noc__mpi_ptl_cancel_locked(s, h);
        h->used = 0;
        h = &s->mbx[i];
        if (h->used && !h->out) noc__mpi_mbx_unlink_locked(s, h);
        h->used = 0;                       /* outputs stay counted as openers */
    }
    s->leaving = 1;
    for (i = 0; i < s->nodes; i++) {
        s->answered[i] = (unsigned char)(i == s->self || s->gone[i]);
        if (!s->answered[i]) noc__mpi_ctrl(s, i, NOC__MPI_LEAVE, 0, 0, 0, 0, 0);
    }
    /* Until every peer has answered (or left too), take in what reaches us:
     * nothing may be on its way here when the communicator is freed. */
    deadline = noc__mpi_now() + (uint64_t)NOC_MPI_LEAVE_NS;
    for (;;) {
        noc__mpi_progress(s);
        noc__mpi_discard(s);
        for (all = 1, i = 0; i < s->nodes; i++)
            if (!s->answered[i]) all = 0;
        if (all || noc__mpi_now() >= deadline) break;
        noc__mpi_unlock(s);
        noc__mpi_nap(20000);
        noc__mpi_lock(s);
    }
    noc__mpi_discard(s);
    deadline = noc__mpi_now() + 100000000u;
    while (s->sends_used > 0 && noc__mpi_now() < deadline) {
        noc__mpi_reap(s);
        sched_yield();
    }
    for (i = 0; i < NOC_MPI_SENDS; i++)
        if (s->send[i].used) {
            (void)MPI_Request_free(&s->send[i].req);
            s->send[i].used = 0;
        }
    s->sends_used = 0;
    if (s->creq != MPI_REQUEST_NULL) {
        int bytes, err;
        (void)noc__mpi_cancel_recv(s, &s->creq, -1, &bytes, &err);
    }
    (void)MPI_Comm_free(&s->comm);
    free(s->scratch);
    s->scratch = NULL;
    s->attached = 0;
    noc__mpi_unlock(s);
    pthread_mutex_destroy(&s->lock);
    return 0;
}

UAREA_API int noc_mpi_progress(noc_mpi_node *s)
{
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__mpi_lock(s);
    noc__mpi_progress(s);
    noc__mpi_unlock(s);
    return 0;
}

UAREA_API void noc_mpi_kick(noc_mpi_node *s)
{
    if (s != NULL) __atomic_store_n(&s->kick, 1u, __ATOMIC_SEQ_CST);
}

UAREA_API int noc_mpi_set_spin(noc_mpi_node *s, int64_t spin_ns)
{
    if (s == NULL || spin_ns < 0) return UAREA_EINVAL;
    __atomic_store_n(&s->spin_ns, (uint64_t)spin_ns, __ATOMIC_RELAXED);
    return 0;
}

UAREA_API int noc_mpi_peer_state(noc_mpi_node *s, int node)
{
    int gone;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    if (node < 0 || node >= s->nodes) return UAREA_EBADNODE;
    noc__mpi_lock(s);
    noc__mpi_progress(s);
    gone = s->gone[node];
    noc__mpi_unlock(s);
    return gone ? UAREA_EPEERGONE : 1;
}

UAREA_API MPI_Comm noc_mpi_comm(noc_mpi_node *s)
{
    return (s != NULL && s->attached) ? s->comm : MPI_COMM_NULL;
}

UAREA_EXTERN_C_END

#endif /* NOC_MPI_IMPLEMENTATION */
