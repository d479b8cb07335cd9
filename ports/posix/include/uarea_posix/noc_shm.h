/*
 * uarea_posix/noc_shm.h - the NoC between processes: a shared-memory
 * transport for noc/noc.h on Linux.
 *
 * N processes (one per node, forked from one launcher) share one mapping
 * (memfd_create, or an anonymous shared mapping when memfd is missing),
 * created before the fork. It holds, per node: its liveness (pid, state),
 * one bounded multi-producer / single-consumer ring per mailbox port, and the
 * state of each input portal. There is no global lock: mailbox senders
 * reserve ring slots with a compare-and-swap and publish them with a sequence
 * number; a portal is a small state machine driven by compare-and-swap.
 *
 *     noc_shm shm;                      // before fork
 *     noc_shm_create(&shm, &(noc_shm_desc){ .nodes = 4 });
 *     for (int i = 1; i < 4; i++) if (fork() == 0) { run_node(&shm, i); _exit(0); }
 *     run_node(&shm, 0);  ... reap the children ...  noc_shm_destroy(&shm);
 *
 *     void run_node(noc_shm *shm, int node) {
 *         noc_shm_node self;            // this node's handles (process-local)
 *         noc_transport t;
 *         noc_shm_attach(shm, node, &self, &t);
 *         noc_set_default(&t);          // optional: noc_node_self() etc.
 *         int mbx = noc_mailbox_create(&t, 0);
 *         ...
 *         noc_shm_detach(&self);
 *     }
 *
 * Semantics are those of noc/noc.h. Decisions of this transport:
 *  - Opening a mailbox or portal of a node that has not created that port yet
 *    succeeds; a write then waits until the port exists (or fails with
 *    UAREA_EAGAIN / UAREA_ENOTALLOWED at timeout 0). A message written to a
 *    mailbox that is unlinked meanwhile is dropped. A new mailbox starts empty.
 *  - Output portals: one handle per (local port, node, port); opening the same
 *    triple twice fails with UAREA_EPORTINUSE.
 *  - An allow is consumed by the read that completes after it (successfully
 *    or not); cancelling a read that had not started keeps it. Allowing while
 *    a read is posted fails with UAREA_EBUSY.
 *  - wait, poll or cancel on a handle with no operation: UAREA_ESTATE. A read
 *    on an output handle (or a write on an input one): UAREA_EDIRECTION.
 *  - Cancelling a transfer that has started: a direct copy (below) cannot be
 *    withdrawn, so the cancel waits for it (microseconds) and returns its
 *    result; a bounce transfer in the middle is aborted and both sides get
 *    UAREA_ECANCELED.
 *  - A handle is used by one thread at a time; different handles of one node
 *    may be used from different threads at once.
 *
 * Portal copies. Once the receiver has allowed this sender and posted its
 * read, the sender copies straight into the receiver's buffer, one copy end to
 * end, in pieces of NOC_SHM_PIECE bytes (a whole number of NOC_PORTAL_CHUNK):
 *  - memcpy when the receiver is this process, or when the receiver's buffer
 *    lies in a shared window: the arena of this transport (desc.arena_size;
 *    inside the mapping, so at the same address in every forked node) or the
 *    region the user declares in desc.shared (mapped MAP_SHARED at the same
 *    address in every node, e.g. the POSIX runtime's container region);
 *  - otherwise process_vm_writev(2) into the receiver, which works for any
 *    buffer of the receiver when the kernel lets it (same user, ptrace
 *    access);
 *  - when the kernel refuses that (EPERM, ENOSYS), a bounce ring in the
 *    mapping (NOC_SHM_BOUNCE_CHUNKS chunks per portal) through which sender
 *    and receiver pipeline chunk by chunk: two copies, and the receiver copies
 *    inside its wait/poll calls. desc.copy forces one method for tests.
 * docs/posix-noc.md has the measurements behind the order.
 *
 * Waiting spins for NOC_SHM_SPIN_NS (yielding the CPU after NOC_SHM_YIELD_NS,
 * in case the peer shares it), then sleeps on a futex, so an idle node uses
 * no CPU. A portal call whose peer is copying this very transfer (it took
 * our offer, or claimed our posted read) keeps spinning, for up to
 * NOC_SHM_BUSY_NS: the copy ends soon, and a futex wake-up would add its
 * latency to every transfer longer than the spin. A sleeper wakes at least
 * every NOC_SHM_CHECK_NS to check the peers the call involves: a node that detached, or whose process died (seen
 * through a pidfd, so even an unreaped zombie counts), makes the call return
 * UAREA_EPEERGONE: a mailbox write to it, a portal write to it, a portal read
 * that allowed it, a mailbox read whose every other opener is gone, and a
 * portal transfer that it leaves in the middle (from either side).
 *
 * Implementation: define UAREA_POSIX_IMPLEMENTATION (or UAREA_IMPLEMENTATION,
 * which also switches on the core modules; noc/noc.h's NOC_IMPLEMENTATION is
 * needed as well) in one C file. It uses Linux interfaces (memfd, pidfd,
 * futex, process_vm_writev): uarea_posix/features.h says what that asks of
 * the include order. Linux only.
 *
 * Configuration (#ifndef defaults; docs/configuration.md):
 *   NOC_SHM_MAILBOX_SLOTS  16        messages a mailbox holds (power of two)
 *   NOC_SHM_SPIN_NS        20000     spin before sleeping, ns
 *   NOC_SHM_YIELD_NS       5000      within the spin, sched_yield() after this, ns
 *   NOC_SHM_BUSY_NS        10000000  spin while the peer copies our transfer, ns
 *   NOC_SHM_PULL_NS        2000      a posted read lets the receiver pull for this
 *                                    long before the sender pushes, ns
 *   NOC_SHM_CHECK_NS       10000000  liveness check period while asleep, ns
 *   NOC_SHM_PROBE_NS       1000000   a peer probed alive is not probed again
 *                                    (system calls) for this long, ns
 *   NOC_SHM_PIECE          262144    direct portal copy piece, bytes
 *   NOC_SHM_BOUNCE_CHUNKS  16        bounce ring per portal, in chunks
 *
 * Where to read on. This file is the manual and the public API; the
 * implementation is in parts, the headers in uarea_posix/noc_shm/, which
 * this file includes in this order (users include only this file):
 *   shared.h   the mapping (constants; node, portal, offer and operation
 *              states; the records), primitives (clock, spin lock, futex
 *              events, finding a record), liveness (is a peer gone?), a
 *              node's handle tables
 *   mailbox.h  mailboxes: create, open, unlink, close, a read and a write
 *              on the ring
 *   portal.h   portals: the record's states and the receiver's promise to
 *              pull; create, allow, open; copies; the bounce ring; the
 *              sender's offers; the read path (pull, or take what a sender
 *              pushed); the write path (offer, or claim the posted read and
 *              push); reading and writing in place (rbuf/rdone, wbuf/wdone)
 *   wait.h     waiting for either kind (spin, then futex, checking peers);
 *              wait and cancel; a portal's unlink and close
 *   node.h     the operations table; create, destroy, attach, detach,
 *              expect, kick, peer state
 */
#include "features.h"   /* first: the libc features the port needs */
#include <noc/noc.h>

#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA_POSIX_IMPLEMENTATION)
#  define UAREA_POSIX_IMPLEMENTATION
#endif

#ifndef UAREA_POSIX_NOC_SHM_H
#define UAREA_POSIX_NOC_SHM_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration ------------------------------------------------------- */
#ifndef NOC_SHM_MAILBOX_SLOTS
#  define NOC_SHM_MAILBOX_SLOTS 16u
#endif
#ifndef NOC_SHM_SPIN_NS
#  define NOC_SHM_SPIN_NS 20000
#endif
#ifndef NOC_SHM_YIELD_NS
#  define NOC_SHM_YIELD_NS 5000
#endif
#ifndef NOC_SHM_PULL_NS
#  define NOC_SHM_PULL_NS 2000
#endif
#ifndef NOC_SHM_BUSY_NS
#  define NOC_SHM_BUSY_NS 10000000
#endif
#ifndef NOC_SHM_CHECK_NS
#  define NOC_SHM_CHECK_NS 10000000
#endif
#ifndef NOC_SHM_PROBE_NS
#  define NOC_SHM_PROBE_NS 1000000
#endif
#define NOC__SHM_CANCEL_LOOK_NS 1000000  /* a cancelled write whose offer is taken looks again */
#ifndef NOC_SHM_PIECE
#  define NOC_SHM_PIECE (64u * NOC_PORTAL_CHUNK)
#endif
#ifndef NOC_SHM_BOUNCE_CHUNKS
#  define NOC_SHM_BOUNCE_CHUNKS 16u
#endif

UAREA_STATIC_ASSERT(NOC_SHM_MAILBOX_SLOTS >= 2 &&
                    (NOC_SHM_MAILBOX_SLOTS & (NOC_SHM_MAILBOX_SLOTS - 1)) == 0,
                    "mailbox slots must be a power of two");
UAREA_STATIC_ASSERT(NOC_SHM_PIECE >= NOC_PORTAL_CHUNK && NOC_SHM_PIECE % NOC_PORTAL_CHUNK == 0,
                    "a copy piece is a whole number of portal chunks");
UAREA_STATIC_ASSERT(NOC_SHM_BOUNCE_CHUNKS >= 2, "the bounce ring needs two chunks");
UAREA_STATIC_ASSERT(NOC_NODES_MAX <= 255 && NOC_PORTS_MAX <= 255,
                    "node and port numbers are packed in bytes");
UAREA_STATIC_ASSERT(NOC_MAILBOX_MSG_SIZE <= 65535, "message lengths are 16-bit");

/* How portal data moves (noc_shm_desc.copy). */
enum {
    NOC_SHM_COPY_AUTO = 0,   /* memcpy in a shared window, else VM, else bounce */
    NOC_SHM_COPY_VM = 1,     /* memcpy in a shared window, else process_vm_writev only */
    NOC_SHM_COPY_BOUNCE = 2  /* always through the bounce ring (two copies) */
};

/* Zero means default everywhere: &(noc_shm_desc){0} gives 2 nodes. */
typedef struct noc_shm_desc {
    int nodes;            /* 1..NOC_NODES_MAX; 0: 2 */
    int copy;             /* NOC_SHM_COPY_*; 0: auto */
    size_t arena_size;    /* shared arena inside the mapping, bytes; 0: none */
    void *shared;         /* a region mapped MAP_SHARED at this same address in */
    size_t shared_size;   /*   every node: portal reads into it are memcpy'd */
    /* Called by a sending node after each piece (direct) or chunk (bounce) of
     * a portal transfer; NULL: none. Tests use it to stop a transfer midway. */
    void (*progress)(void *arg, int node, size_t done, size_t total);
    void *progress_arg;
} noc_shm_desc;

struct noc__shm_region;

/* The shared transport; create it before forking the nodes. */
typedef struct noc_shm {
    struct noc__shm_region *region;
    size_t map_size;
    int fd;               /* memfd, or -1 */
    int nodes;
    noc_shm_desc desc;
} noc_shm;

/* A handle of one node (process-local). */
typedef struct noc__shm_handle {
    unsigned char used, out, op, done;  /* op: 0 none, 1 read, 2 write */
    unsigned char streaming;            /* portal write: bounce transfer started */
    unsigned char offered;              /* portal write: holds an offer */
    unsigned char eager;                /* portal write: in a call that cannot wait */
    unsigned char inplace;              /* portal write: claimed by wbuf, ends at wdone;
                                           portal read: an offer taken by rbuf */
    short node, port, lport;
    short from;                         /* in: sender of the last message read, -1: none */
    int result;
    void *buf;
    const void *cbuf;
    size_t size;
    size_t produced;                    /* bounce write progress */
} noc__shm_handle;

/* One attached node: its handles and its view of the peers. */
typedef struct noc_shm_node {
    noc_shm *shm;
    int self;
    int pid;
    int attached;
    int vm_denied;                      /* process_vm_writev refused once */
    int lock;                           /* guards the tables below */
    int pidfd[NOC_NODES_MAX];
    int pidfd_pid[NOC_NODES_MAX];
    uint32_t pidfd_gen[NOC_NODES_MAX];  /* the incarnation its pidfd is of */
    uint64_t probed[NOC_NODES_MAX];     /* last liveness probe, ns */
    noc__shm_handle mbx[NOC_OPEN_MAX];
    noc__shm_handle ptl[NOC_OPEN_MAX];
} noc_shm_node;

/* Create the shared mapping for desc->nodes nodes (desc NULL: defaults).
 * UAREA_EINVAL (bad descriptor), UAREA_ENOMEM (mapping failed). */
UAREA_API int noc_shm_create(noc_shm *shm, const noc_shm_desc *desc);
/* Unmap and close. Call it once every node has detached or exited. */
UAREA_API int noc_shm_destroy(noc_shm *shm);
/* Become `node` in this process: fills *self and *t (t->ctx is self).
 * UAREA_EBADNODE, UAREA_EBUSY (the node is attached and alive), UAREA_EINVAL. */
UAREA_API int noc_shm_attach(noc_shm *shm, int node, noc_shm_node *self, noc_transport *t);
/* Leave: withdraw pending operations, unlink and close every handle; peers
 * then get UAREA_EPEERGONE. */
UAREA_API int noc_shm_detach(noc_shm_node *self);
/* The shared arena (desc.arena_size bytes, same address in every forked
 * node), or NULL; *size receives its size when size is not NULL. */
UAREA_API void *noc_shm_arena(noc_shm *shm, size_t *size);
/* Another thread of this node's process wants its mailbox reader back: a
 * wait on an input mailbox in progress (or the next one) returns at once
 * with UAREA_ETIMEDOUT, the read still posted. The POSIX runtime wakes its
 * master with it when a container thread posts a call. */
UAREA_API void noc_shm_kick(noc_shm_node *self);
/* The same for node `node`, from any process of the run (another node, or
 * the launcher that created the transport): the POSIX runtime wakes every
 * node's master with it when the run ends. Nothing when node is out of
 * range. */
UAREA_API void noc_shm_kick_node(noc_shm *shm, int node);
/* 1 when `node` is attached and its process alive, 0 when not attached yet,
 * UAREA_EPEERGONE when it left or died, UAREA_EBADNODE. */
UAREA_API int noc_shm_peer_state(noc_shm_node *self, int node);
/* The process `pid` will attach as `node` (a launcher calls it after the
 * fork): until it attaches, peers waiting on the node probe that process,
 * and its death ends their calls with UAREA_EPEERGONE (a node that dies
 * before it attaches is otherwise indistinguishable from a slow one).
 * UAREA_EINVAL, UAREA_EBADNODE, UAREA_ESTATE (the node is attached or gone). */
UAREA_API int noc_shm_expect(noc_shm *shm, int node, int pid);
/* The operations table (ctx: a noc_shm_node *). */
UAREA_API const struct noc_ops *noc_shm_ops(void);

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_NOC_SHM_H */

/* ---- Implementation ------------------------------------------------------ */
#if defined(UAREA_POSIX_IMPLEMENTATION) && !defined(UAREA_POSIX__NOC_SHM_IMPLEMENTED)
#define UAREA_POSIX__NOC_SHM_IMPLEMENTED

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/futex.h>

#ifndef SYS_futex
#  error "noc_shm.h needs Linux futexes (SYS_futex)"
#endif

UAREA_EXTERN_C_BEGIN

/* The parts, in order (each uses the ones before it; see the top comment). */
#include "noc_shm/shared.h"
#include "noc_shm/mailbox.h"
#include "noc_shm/portal.h"
#include "noc_shm/wait.h"
#include "noc_shm/node.h"

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
