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
    uint32_t kick;                      /* noc_shm_kick() */
    void *sleeping;                     /* the event a mailbox read sleeps on */
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

/* ------------------------------------------------------------------------ */
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

#define NOC__SHM_MAGIC 0x4e4f4353u      /* "NOCS" */
#define NOC__SHM_VERSION 2u
#define NOC__SHM_SEQ __ATOMIC_SEQ_CST
#define NOC__SHM_ACQ __ATOMIC_ACQUIRE
#define NOC__SHM_REL __ATOMIC_RELEASE
#define NOC__SHM_RLX __ATOMIC_RELAXED
#define NOC__SHM_MSG_ROUND ((NOC_MAILBOX_MSG_SIZE + 7u) & ~7u)
#define NOC__SHM_BOUNCE (NOC_SHM_BOUNCE_CHUNKS * NOC_PORTAL_CHUNK)

/* Node states */
enum { NOC__SHM_NONE = 0, NOC__SHM_ALIVE = 1, NOC__SHM_LEFT = 2, NOC__SHM_DEAD = 3,
       NOC__SHM_ATTACHING = 4 };
/* Portal states */
enum { NOC__SHM_IDLE = 0, NOC__SHM_POSTED = 1, NOC__SHM_CLAIMED = 2, NOC__SHM_STREAM = 3,
       NOC__SHM_DONE = 4 };
/* Offer states: free; owned by its sender (being filled or withdrawn);
 * ready; taken by the receiver (copying); done (result set). */
enum { NOC__SHM_OFFER_FREE = 0, NOC__SHM_OFFER_OWNED = 1, NOC__SHM_OFFER_READY = 2,
       NOC__SHM_OFFER_TAKEN = 3, NOC__SHM_OFFER_DONE = 4 };
/* Handle operations */
enum { NOC__SHM_OP_NONE = 0, NOC__SHM_OP_READ = 1, NOC__SHM_OP_WRITE = 2 };

struct noc__shm_nodeinfo {
    uint32_t state;
    int32_t pid;
    uint32_t gen;
    uint32_t pad_;
};

struct noc__shm_slot {
    uint32_t seq;
    uint32_t len;
    int32_t from;                       /* the writing node (noc_mailbox_sender) */
    uint32_t pad;
    unsigned char data[NOC__SHM_MSG_ROUND];
};

/* Events: a counter to sleep on (futex) and the number of sleepers, so that a
 * notifier makes a system call only when someone sleeps. */
struct noc__shm_event {
    uint32_t seq;
    uint32_t waiters;
};

struct noc__shm_mbx {
    uint32_t created;
    uint32_t head;                      /* consumer position */
    struct noc__shm_event rx;           /* the reader sleeps here */
    struct noc__shm_event tx;           /* writers sleep here (full, not created) */
    UAREA_ALIGNAS(64) uint32_t tail;    /* producers' position */
    uint32_t openers[NOC_NODES_MAX];    /* output handles per node */
    UAREA_ALIGNAS(64) struct noc__shm_slot slot[NOC_SHM_MAILBOX_SLOTS];
};

/* A sender's standing offer to write into a portal (one per sender node):
 * lets the receiver pull the data when the sender is not in a NoC call. */
struct noc__shm_offer {
    uint32_t state;                     /* NOC__SHM_OFFER_* */
    uint32_t id;                        /* NOC__SHM_ID(node, local port) */
    int32_t pid;
    int32_t result;
    uint64_t buf;
    uint64_t size;
};

struct noc__shm_ptl {
    uint32_t created;
    uint32_t state;
    struct noc__shm_event ev;
    uint32_t allow;                     /* 0, or NOC__SHM_ID(node, port) */
    uint32_t writer;                    /* the claiming sender's id */
    int32_t result;
    int32_t rpid;                       /* the receiver's pid */
    uint64_t pull_until;                /* the receiver pulls offers until then, ns */
    uint64_t buf;                       /* the posted read */
    uint64_t size;
    uint64_t total;                     /* bounce transfer */
    uint64_t produced;
    uint64_t consumed;
    struct noc__shm_offer offer[NOC_NODES_MAX];
};

struct noc__shm_region {
    uint32_t magic;
    uint32_t version;
    int32_t nodes;
    uint32_t pad_;
    uint64_t off_mbx, off_ptl, off_bounce, off_arena, arena_size, size;
    struct noc__shm_nodeinfo node[NOC_NODES_MAX];
};

UAREA_STATIC_ASSERT(sizeof(struct noc__shm_slot) % 8 == 0, "slots keep 8-byte alignment");
UAREA_STATIC_ASSERT(sizeof(struct noc__shm_ptl) % 8 == 0, "portal records keep 8-byte alignment");
UAREA_STATIC_ASSERT(sizeof(struct noc__shm_mbx) % 64 == 0, "mailboxes fill whole cache lines");

#define NOC__SHM_ID(node, port) (0x80000000u | ((uint32_t)(node) << 8) | (uint32_t)(port))

/* ---- small helpers ---- */
static uint64_t noc__shm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void noc__shm_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void noc__shm_lock(int *l)
{
    while (__atomic_exchange_n(l, 1, NOC__SHM_ACQ)) noc__shm_relax();
}

static void noc__shm_unlock(int *l) { __atomic_store_n(l, 0, NOC__SHM_REL); }

static void noc__shm_notify(struct noc__shm_event *e)
{
    __atomic_add_fetch(&e->seq, 1, NOC__SHM_SEQ);
    if (__atomic_load_n(&e->waiters, NOC__SHM_SEQ) != 0)
        syscall(SYS_futex, &e->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void noc__shm_sleep(struct noc__shm_event *e, uint32_t seen, uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    syscall(SYS_futex, &e->seq, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static struct noc__shm_mbx *noc__shm_mbx(noc_shm_node *s, int node, int port)
{
    unsigned char *base = (unsigned char *)s->shm->region;
    return (struct noc__shm_mbx *)(void *)(base + s->shm->region->off_mbx) +
           ((size_t)node * NOC_PORTS_MAX + (size_t)port);
}

static struct noc__shm_ptl *noc__shm_ptl(noc_shm_node *s, int node, int port)
{
    unsigned char *base = (unsigned char *)s->shm->region;
    return (struct noc__shm_ptl *)(void *)(base + s->shm->region->off_ptl) +
           ((size_t)node * NOC_PORTS_MAX + (size_t)port);
}

static unsigned char *noc__shm_bounce(noc_shm_node *s, int node, int port)
{
    unsigned char *base = (unsigned char *)s->shm->region;
    return base + s->shm->region->off_bounce +
           ((size_t)node * NOC_PORTS_MAX + (size_t)port) * NOC__SHM_BOUNCE;
}

/* ---- liveness ---- */
/* `node`, seen in state `st` (alive, or not attached yet by an expected
 * process), is dead. */
static int noc__shm_mark_dead(noc_shm_node *s, int node, uint32_t st)
{
    __atomic_compare_exchange_n(&s->shm->region->node[node].state, &st, NOC__SHM_DEAD, 0,
                                NOC__SHM_SEQ, NOC__SHM_SEQ);
    return 1;
}

/* 1 when `node` left or died; 0 when alive, or not attached yet and not
 * known to be dead: a node that no process was announced for
 * (noc_shm_expect) may still come. */
static int noc__shm_gone(noc_shm_node *s, int node)
{
    struct noc__shm_nodeinfo *ni = &s->shm->region->node[node];
    uint32_t st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
    uint64_t now;
    uint32_t gen;
    int pid, fd, dead = 0;
    if (st == NOC__SHM_LEFT || st == NOC__SHM_DEAD) return 1;
    pid = __atomic_load_n(&ni->pid, NOC__SHM_RLX);
    gen = __atomic_load_n(&ni->gen, NOC__SHM_ACQ);
    if ((st == NOC__SHM_NONE || st == NOC__SHM_ATTACHING) && pid <= 0) return 0;
    if (pid == s->pid) return 0;
    now = noc__shm_now();
    /* probed alive a moment ago (read without the lock: two threads that
     * race here at worst both probe) */
    if (__atomic_load_n(&s->pidfd_pid[node], NOC__SHM_RLX) == pid &&
        __atomic_load_n(&s->pidfd_gen[node], NOC__SHM_RLX) == gen &&
        now - __atomic_load_n(&s->probed[node], NOC__SHM_RLX) < (uint64_t)NOC_SHM_PROBE_NS)
        return 0;
    noc__shm_lock(&s->lock);
    __atomic_store_n(&s->probed[node], now, NOC__SHM_RLX);
    /* The cached pidfd is of this incarnation's process (a pid can be reused). */
    if (s->pidfd_pid[node] != pid || s->pidfd_gen[node] != gen) {
        if (s->pidfd[node] >= 0) close(s->pidfd[node]);
        s->pidfd[node] = -1;
        __atomic_store_n(&s->pidfd_pid[node], pid, NOC__SHM_RLX);
        __atomic_store_n(&s->pidfd_gen[node], gen, NOC__SHM_RLX);
#ifdef SYS_pidfd_open
        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0 && errno == ESRCH) dead = 1;
        s->pidfd[node] = fd < 0 ? -1 : fd;
#endif
    }
    fd = s->pidfd[node];
    if (!dead && fd >= 0) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        dead = poll(&p, 1, 0) > 0;
    } else if (!dead) {
        dead = kill(pid, 0) != 0 && errno == ESRCH;
    }
    noc__shm_unlock(&s->lock);
    /* A new incarnation attached while we probed the old one: it is not the
     * process that died. */
    if (dead && __atomic_load_n(&ni->gen, NOC__SHM_SEQ) != gen) return 0;
    return dead ? noc__shm_mark_dead(s, node, st) : 0;
}

/* Cheap form (no system call): the shared state word only. */
static int noc__shm_known_gone(noc_shm_node *s, int node)
{
    uint32_t st = __atomic_load_n(&s->shm->region->node[node].state, NOC__SHM_ACQ);
    return st == NOC__SHM_LEFT || st == NOC__SHM_DEAD;
}

/* ---- handles ---- */
static noc__shm_handle *noc__shm_get(noc_shm_node *s, noc__shm_handle *tab, int h)
{
    if (s == NULL || !s->attached || h < 0 || h >= NOC_OPEN_MAX || !tab[h].used) return NULL;
    return &tab[h];
}

static int noc__shm_free_slot(noc__shm_handle *tab)
{
    int i;
    for (i = 0; i < NOC_OPEN_MAX; i++)
        if (!tab[i].used) return i;
    return -1;
}

static void noc__shm_finish(noc__shm_handle *h, int result)
{
    h->done = 1;
    h->result = result;
}

static int noc__shm_take(noc__shm_handle *h)
{
    int r = h->result;
    h->op = NOC__SHM_OP_NONE;
    h->done = 0;
    h->streaming = 0;
    return r;
}

/* ---- mailboxes ---- */
static int noc__shm_mbx_create(void *ctx, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    struct noc__shm_mbx *m;
    uint32_t zero = 0, pos;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->mbx);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    m = noc__shm_mbx(s, s->self, port);
    /* A new mailbox starts empty: drop what an earlier one left. Only this
     * node consumes from its rings, so this cannot race a reader. */
    if (__atomic_load_n(&m->created, NOC__SHM_ACQ) != 0) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    pos = __atomic_load_n(&m->head, NOC__SHM_RLX);
    for (;;) {
        struct noc__shm_slot *sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        if (__atomic_load_n(&sl->seq, NOC__SHM_ACQ) != pos + 1) break;
        __atomic_store_n(&sl->seq, pos + NOC_SHM_MAILBOX_SLOTS, NOC__SHM_REL);
        pos++;
    }
    __atomic_store_n(&m->head, pos, NOC__SHM_REL);
    if (!__atomic_compare_exchange_n(&m->created, &zero, 1u, 0, NOC__SHM_SEQ, NOC__SHM_SEQ)) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    memset(&s->mbx[h], 0, sizeof s->mbx[h]);
    s->mbx[h].from = -1;
    s->mbx[h].used = 1;
    s->mbx[h].node = (short)s->self;
    s->mbx[h].port = (short)port;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&m->tx);
    return h;
}

static int noc__shm_mbx_open(void *ctx, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->mbx);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    memset(&s->mbx[h], 0, sizeof s->mbx[h]);
    s->mbx[h].used = 1;
    s->mbx[h].out = 1;
    s->mbx[h].node = (short)node;
    s->mbx[h].port = (short)port;
    __atomic_add_fetch(&noc__shm_mbx(s, node, port)->openers[s->self], 1u, NOC__SHM_SEQ);
    noc__shm_unlock(&s->lock);
    return h;
}

static int noc__shm_mbx_unlink(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    struct noc__shm_mbx *m;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    m = noc__shm_mbx(s, s->self, h->port);
    noc__shm_lock(&s->lock);
    __atomic_store_n(&m->created, 0u, NOC__SHM_SEQ);
    h->used = 0;
    h->op = NOC__SHM_OP_NONE;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&m->tx);
    return 0;
}

static int noc__shm_mbx_close(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    noc__shm_lock(&s->lock);
    __atomic_sub_fetch(&noc__shm_mbx(s, h->node, h->port)->openers[s->self], 1u, NOC__SHM_SEQ);
    h->used = 0;
    h->op = NOC__SHM_OP_NONE;
    noc__shm_unlock(&s->lock);
    return 0;
}

/* Try to finish a mailbox operation; sets h->done when it did. */
static void noc__shm_mbx_progress(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_mbx *m;
    struct noc__shm_slot *sl;
    uint32_t pos, seq;
    if (h->done) return;
    if (h->op == NOC__SHM_OP_READ) {
        m = noc__shm_mbx(s, s->self, h->port);
        pos = __atomic_load_n(&m->head, NOC__SHM_RLX);
        sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        if (__atomic_load_n(&sl->seq, NOC__SHM_ACQ) != pos + 1) return;
        if (sl->len > h->size) { noc__shm_finish(h, UAREA_EMSGSIZE); return; }  /* kept */
        memcpy(h->buf, sl->data, sl->len);
        h->from = sl->from;
        noc__shm_finish(h, (int)sl->len);
        __atomic_store_n(&sl->seq, pos + NOC_SHM_MAILBOX_SLOTS, NOC__SHM_REL);
        __atomic_store_n(&m->head, pos + 1, NOC__SHM_REL);
        noc__shm_notify(&m->tx);
        return;
    }
    m = noc__shm_mbx(s, h->node, h->port);
    if (noc__shm_known_gone(s, h->node)) { noc__shm_finish(h, UAREA_EPEERGONE); return; }
    if (!__atomic_load_n(&m->created, NOC__SHM_ACQ)) return;
    pos = __atomic_load_n(&m->tail, NOC__SHM_RLX);
    for (;;) {
        int32_t dif;
        sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        seq = __atomic_load_n(&sl->seq, NOC__SHM_ACQ);
        dif = (int32_t)(seq - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&m->tail, &pos, pos + 1, 1, NOC__SHM_SEQ, NOC__SHM_RLX))
                break;
        } else if (dif < 0) {
            return;                                     /* full */
        } else {
            pos = __atomic_load_n(&m->tail, NOC__SHM_RLX);
        }
    }
    memcpy(sl->data, h->cbuf, h->size);
    sl->len = (uint32_t)h->size;
    sl->from = (int32_t)s->self;
    __atomic_store_n(&sl->seq, pos + 1, NOC__SHM_REL);
    noc__shm_finish(h, (int)h->size);
    noc__shm_notify(&m->rx);
}

/* A mailbox read can still be satisfied: the reader has an opener that lives
 * (or no opener at all yet, or one on this node). */
static int noc__shm_mbx_hopeless(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_mbx *m = noc__shm_mbx(s, s->self, h->port);
    int n, any = 0;
    for (n = 0; n < s->shm->nodes; n++) {
        if (__atomic_load_n(&m->openers[n], NOC__SHM_ACQ) == 0) continue;
        if (n == s->self || !noc__shm_gone(s, n)) return 0;
        any = 1;
    }
    return any;
}

static int noc__shm_mbx_aread(void *ctx, int mbx, void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    noc__shm_mbx_progress(s, h);
    return 0;
}

static int noc__shm_mbx_awrite(void *ctx, int mbx, const void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    {   /* Messages wait unread: is the reader's process still there (a probe
         * at most once per NOC_SHM_PROBE_NS)? Else a message to a node that
         * died lands in its ring unnoticed. A reader that keeps up costs no
         * probe. */
        struct noc__shm_mbx *m = noc__shm_mbx(s, h->node, h->port);
        if (__atomic_load_n(&m->head, NOC__SHM_RLX) != __atomic_load_n(&m->tail, NOC__SHM_RLX) &&
            noc__shm_gone(s, h->node))
            return UAREA_EPEERGONE;
    }
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->cbuf = buf;
    h->size = size;
    noc__shm_mbx_progress(s, h);
    return 0;
}

/* A receiver promises to pull the allowed sender's offer until `until`
 * (0: no promise): a sender then lets it pull instead of pushing. No promise
 * when this node's kernel refused a cross-process copy (it may not be able
 * to pull), nor on the bounce ring. Ending a promise early wakes a sender
 * that sleeps waiting for the pull, so that it pushes. */
static void noc__shm_promise(noc_shm_node *s, struct noc__shm_ptl *p, uint64_t until)
{
    if (s->vm_denied || s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) until = 0;
    if (until != 0) {
        __atomic_store_n(&p->pull_until, until, NOC__SHM_SEQ);
    } else if (__atomic_load_n(&p->pull_until, NOC__SHM_RLX) != 0) {
        __atomic_store_n(&p->pull_until, (uint64_t)0, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
    }
}

/* ---- portals ---- */
static uint32_t noc__shm_state(struct noc__shm_ptl *p)
{
    return __atomic_load_n(&p->state, NOC__SHM_ACQ);
}

static int noc__shm_cas_state(struct noc__shm_ptl *p, uint32_t from, uint32_t to)
{
    return __atomic_compare_exchange_n(&p->state, &from, to, 0, NOC__SHM_SEQ, NOC__SHM_SEQ);
}

static int noc__shm_ptl_create(void *ctx, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    struct noc__shm_ptl *p;
    uint32_t zero = 0;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->ptl);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    p = noc__shm_ptl(s, s->self, port);
    if (!__atomic_compare_exchange_n(&p->created, &zero, 1u, 0, NOC__SHM_SEQ, NOC__SHM_SEQ)) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    __atomic_store_n(&p->rpid, s->pid, NOC__SHM_RLX);
    memset(&s->ptl[h], 0, sizeof s->ptl[h]);
    s->ptl[h].used = 1;
    s->ptl[h].node = (short)s->self;
    s->ptl[h].port = (short)port;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&p->ev);
    return h;
}

static int noc__shm_ptl_allow(void *ctx, int portal, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    p = noc__shm_ptl(s, s->self, h->port);
    __atomic_store_n(&p->allow, NOC__SHM_ID(node, port), NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_open(void *ctx, int local_port, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    int h, i;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    noc__shm_lock(&s->lock);
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        noc__shm_handle *o = &s->ptl[i];
        if (o->used && o->out && o->lport == local_port && o->node == node && o->port == port) {
            noc__shm_unlock(&s->lock);
            return UAREA_EPORTINUSE;
        }
    }
    h = noc__shm_free_slot(s->ptl);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    memset(&s->ptl[h], 0, sizeof s->ptl[h]);
    s->ptl[h].used = 1;
    s->ptl[h].out = 1;
    s->ptl[h].node = (short)node;
    s->ptl[h].port = (short)port;
    s->ptl[h].lport = (short)local_port;
    noc__shm_unlock(&s->lock);
    return h;
}

/* Is the receiver's buffer [addr, addr+n) in a window shared at the same
 * address by every node? */
static int noc__shm_in_window(noc_shm_node *s, uint64_t addr, size_t n)
{
    const noc_shm *shm = s->shm;
    uint64_t a = (uint64_t)(uintptr_t)((unsigned char *)shm->region + shm->region->off_arena);
    if (shm->region->arena_size != 0 && addr >= a && n <= shm->region->arena_size &&
        addr - a <= shm->region->arena_size - n)
        return 1;
    a = (uint64_t)(uintptr_t)shm->desc.shared;
    return shm->desc.shared != NULL && addr >= a && n <= shm->desc.shared_size &&
           addr - a <= shm->desc.shared_size - n;
}

static void noc__shm_progress_hook(noc_shm_node *s, size_t done, size_t total)
{
    if (s->shm->desc.progress != NULL)
        s->shm->desc.progress(s->shm->desc.progress_arg, s->self, done, total);
}

/* One copy between this node's buffer `mine` and the peer's buffer at
 * `theirs` (push: mine -> theirs; pull: theirs -> mine), in pieces. Returns
 * the byte count, UAREA_EPEERGONE, UAREA_EIO (a bad buffer), or UAREA_ENOSYS
 * when the kernel refuses cross-process copies before any byte moved. */
static int noc__shm_copy(noc_shm_node *s, int node, int pid, unsigned char *mine,
                         uint64_t theirs, size_t n, int push)
{
    int same = pid == s->pid || noc__shm_in_window(s, theirs, n);
    size_t off = 0;
    while (off < n) {
        size_t len = n - off < NOC_SHM_PIECE ? n - off : NOC_SHM_PIECE;
        unsigned char *far = (unsigned char *)(uintptr_t)(theirs + off);
        if (same) {
            if (pid != s->pid && noc__shm_gone(s, node)) return UAREA_EPEERGONE;
            if (push) memcpy(far, mine + off, len);
            else memcpy(mine + off, far, len);
        } else {
            struct iovec l, r;
            ssize_t k;
            l.iov_base = mine + off;
            l.iov_len = len;
            r.iov_base = far;
            r.iov_len = len;
            k = (ssize_t)syscall(push ? SYS_process_vm_writev : SYS_process_vm_readv,
                                 (pid_t)pid, &l, 1ul, &r, 1ul, 0ul);
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                if (k < 0 && errno == ESRCH) return UAREA_EPEERGONE;
                if (noc__shm_gone(s, node)) return UAREA_EPEERGONE;
                if (k < 0 && (errno == EPERM || errno == ENOSYS) && off == 0) {
                    s->vm_denied = 1;
                    return UAREA_ENOSYS;
                }
                return UAREA_EIO;
            }
            len = (size_t)k;
        }
        off += len;
        noc__shm_progress_hook(s, off, n);
    }
    return (int)n;
}

/* Bounce ring, sender side: copy what fits. */
static void noc__shm_stream_out(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    unsigned char *ring = noc__shm_bounce(s, h->node, h->port);
    const unsigned char *src = (const unsigned char *)h->cbuf;
    for (;;) {
        uint64_t cons;
        size_t len, prod = h->produced;
        if (prod == h->size) { noc__shm_finish(h, (int)h->size); return; }
        if (noc__shm_state(p) != NOC__SHM_STREAM ||
            __atomic_load_n(&p->writer, NOC__SHM_RLX) != NOC__SHM_ID(s->self, h->lport)) {
            noc__shm_finish(h, UAREA_ECANCELED);            /* the reader withdrew */
            return;
        }
        cons = __atomic_load_n(&p->consumed, NOC__SHM_ACQ);
        if (prod - cons >= NOC__SHM_BOUNCE) return;         /* ring full */
        len = h->size - prod < NOC_PORTAL_CHUNK ? h->size - prod : NOC_PORTAL_CHUNK;
        memcpy(ring + (prod % NOC__SHM_BOUNCE), src + prod, len);
        h->produced = prod + len;
        __atomic_store_n(&p->produced, (uint64_t)h->produced, NOC__SHM_REL);
        noc__shm_notify(&p->ev);
        noc__shm_progress_hook(s, h->produced, h->size);
    }
}

/* Bounce ring, receiver side: copy out what arrived. 1 when finished. */
static int noc__shm_stream_in(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    unsigned char *ring = noc__shm_bounce(s, s->self, h->port);
    uint64_t total = __atomic_load_n(&p->total, NOC__SHM_RLX);
    uint64_t cons = __atomic_load_n(&p->consumed, NOC__SHM_RLX);
    uint64_t prod = __atomic_load_n(&p->produced, NOC__SHM_ACQ);
    int moved = 0;
    /* A sender of an earlier transfer that the reader withdrew may still
     * publish its progress here: never copy past this read's end. */
    if (prod > total) prod = total;
    while (cons < prod) {
        size_t len = (size_t)(prod - cons) < NOC_PORTAL_CHUNK ? (size_t)(prod - cons) : NOC_PORTAL_CHUNK;
        size_t at = (size_t)(cons % NOC__SHM_BOUNCE);
        if (len > NOC__SHM_BOUNCE - at) len = NOC__SHM_BOUNCE - at;
        memcpy((unsigned char *)h->buf + cons, ring + at, len);
        cons += len;
        __atomic_store_n(&p->consumed, cons, NOC__SHM_REL);
        moved = 1;
    }
    if (moved) noc__shm_notify(&p->ev);
    return cons == total;
}

/* Sender: publish an offer (when the slot of this node is free), so that the
 * receiver can pull the data itself once it has allowed us and posted a read. */
static void noc__shm_offer(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p,
                           struct noc__shm_offer *o, uint32_t me)
{
    uint32_t st = h->offered ? NOC__SHM_OFFER_OWNED : NOC__SHM_OFFER_FREE;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return;
    if (!h->offered) {
        if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_OWNED, 0,
                                         NOC__SHM_SEQ, NOC__SHM_RLX))
            return;                                         /* another handle's */
        __atomic_store_n(&o->id, me, NOC__SHM_RLX);
        __atomic_store_n(&o->pid, s->pid, NOC__SHM_RLX);
        __atomic_store_n(&o->buf, (uint64_t)(uintptr_t)h->cbuf, NOC__SHM_RLX);
        __atomic_store_n(&o->size, (uint64_t)h->size, NOC__SHM_RLX);
        h->offered = 1;
    }
    /* OWNED -> READY; an offer that is already READY (or taken meanwhile)
     * stays as it is. */
    st = NOC__SHM_OFFER_OWNED;
    if (__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_READY, 0,
                                    NOC__SHM_SEQ, NOC__SHM_RLX))
        noc__shm_notify(&p->ev);
}

/* Sender: take a ready offer back (state OWNED, still ours: h->offered
 * stays set). 0 when the receiver has taken it. */
static int noc__shm_withdraw(noc__shm_handle *h, struct noc__shm_offer *o)
{
    uint32_t st = NOC__SHM_OFFER_READY;
    if (!h->offered) return 1;
    return __atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_OWNED, 0,
                                       NOC__SHM_SEQ, NOC__SHM_SEQ);
}

/* Sender: give the offer slot up entirely (after a withdraw). */
static void noc__shm_release(noc__shm_handle *h, struct noc__shm_offer *o)
{
    if (!h->offered) return;
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_REL);
    h->offered = 0;
}

/* Receiver: end the posted read with `result`, consume the allow. */
static void noc__shm_read_end(noc__shm_handle *h, struct noc__shm_ptl *p, int result)
{
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    noc__shm_finish(h, result);
}

/* Receiver with a posted read: pull from the allowed sender's offer. The
 * receiver takes the offer, then claims its own posted read, exactly as a
 * pushing sender would claim it; whoever claims the read copies. */
static void noc__shm_pull(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    uint32_t allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ), st = NOC__SHM_OFFER_READY;
    int node = (int)((allow >> 8) & 0xffu), pid, rc;
    struct noc__shm_offer *o;
    uint64_t buf, size;
    if (allow == 0 || node >= s->shm->nodes) return;
    o = &p->offer[node];
    if (__atomic_load_n(&o->state, NOC__SHM_ACQ) != NOC__SHM_OFFER_READY) return;
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    if (s->vm_denied && pid != s->pid &&
        !noc__shm_in_window(s, __atomic_load_n(&o->buf, NOC__SHM_RLX),
                            (size_t)__atomic_load_n(&o->size, NOC__SHM_RLX)))
        return;                                     /* we cannot pull from it */
    if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_TAKEN, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return;
    /* Taken: the sender cannot push from this offer now. The offer may be a
     * newer one than we looked at (the sender pushed the previous transfer
     * meanwhile): then our read is no longer POSTED and we give it back. */
    if (__atomic_load_n(&o->id, NOC__SHM_RLX) != allow ||
        !noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) {
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        return;
    }
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    buf = __atomic_load_n(&o->buf, NOC__SHM_RLX);
    size = __atomic_load_n(&o->size, NOC__SHM_RLX);
    if (size > h->size) rc = UAREA_EMSGSIZE;
    else if (s->vm_denied && pid != s->pid && !noc__shm_in_window(s, buf, (size_t)size))
        rc = UAREA_ENOSYS;
    else rc = noc__shm_copy(s, node, pid, (unsigned char *)h->buf, buf, (size_t)size, 0);
    if (rc == UAREA_ENOSYS) {                       /* refused: let the sender push */
        __atomic_store_n(&p->state, (uint32_t)NOC__SHM_POSTED, NOC__SHM_SEQ);
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        return;
    }
    __atomic_store_n(&o->result, (int32_t)rc, NOC__SHM_RLX);
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_DONE, NOC__SHM_SEQ);
    noc__shm_read_end(h, p, rc);
}

static void noc__shm_ptl_progress(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_ptl *p;
    struct noc__shm_offer *o;
    uint32_t me, st;
    uint64_t dst, cap;
    int rpid, rc;
    if (h->done || h->inplace) return;                      /* in place: the caller's */
    if (h->op == NOC__SHM_OP_READ) {
        p = noc__shm_ptl(s, s->self, h->port);
        st = noc__shm_state(p);
        if (st == NOC__SHM_POSTED) {
            noc__shm_pull(s, h, p);
        } else if (st == NOC__SHM_DONE) {
            noc__shm_read_end(h, p, __atomic_load_n(&p->result, NOC__SHM_RLX));
        } else if (st == NOC__SHM_STREAM && noc__shm_stream_in(s, h, p)) {
            uint64_t total = __atomic_load_n(&p->total, NOC__SHM_RLX);
            noc__shm_read_end(h, p, noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_IDLE)
                                        ? (int)total : UAREA_ECANCELED);
        }
        return;
    }
    /* write */
    p = noc__shm_ptl(s, h->node, h->port);
    o = &p->offer[s->self];
    me = NOC__SHM_ID(s->self, h->lport);
    if (h->streaming) { noc__shm_stream_out(s, h, p); return; }
    if (h->offered) {
        st = __atomic_load_n(&o->state, NOC__SHM_ACQ);
        if (st == NOC__SHM_OFFER_DONE) {                    /* the receiver pulled */
            rc = __atomic_load_n(&o->result, NOC__SHM_RLX);
            __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_REL);
            h->offered = 0;
            noc__shm_finish(h, rc);
            return;
        }
        if (st == NOC__SHM_OFFER_TAKEN) return;             /* the receiver is pulling */
    }
    if (noc__shm_known_gone(s, h->node)) {
        (void)noc__shm_withdraw(h, o);      /* the receiver will not touch it again */
        noc__shm_release(h, o);
        noc__shm_finish(h, UAREA_EPEERGONE);
        return;
    }
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ||
        noc__shm_state(p) != NOC__SHM_POSTED) {
        noc__shm_offer(s, h, p, o, me);
        return;
    }
    /* The receiver has promised to pull offers for a while (it just posted
     * the read, or it spins in a wait for it): let it pull, so that the data
     * lands in the cache of the core that reads it next, and the same side
     * copies every time. When the promise ends (it sleeps, or its time is
     * up) we push; a call of ours that cannot wait pushes at once. */
    if (!h->eager && __atomic_load_n(&p->pull_until, NOC__SHM_ACQ) > noc__shm_now() &&
        s->shm->desc.copy != NOC_SHM_COPY_BOUNCE && !s->vm_denied) {
        noc__shm_offer(s, h, p, o, me);
        return;
    }
    /* Push. Our offer is withdrawn first, so the receiver cannot pull at the
     * same time. */
    if (!noc__shm_withdraw(h, o)) return;
    if (!noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) {
        noc__shm_offer(s, h, p, o, me);
        return;
    }
    /* The read we claimed may have been posted anew, for another sender,
     * between our look at `allow` and the claim (the receiver cancelled,
     * allowed someone else and posted again): give it back. Once claimed,
     * allow cannot change until we finish. */
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) != me) {
        (void)noc__shm_cas_state(p, NOC__SHM_CLAIMED, NOC__SHM_POSTED);
        noc__shm_notify(&p->ev);
        noc__shm_offer(s, h, p, o, me);
        return;
    }
    noc__shm_release(h, o);
    __atomic_store_n(&p->writer, me, NOC__SHM_RLX);
    dst = __atomic_load_n(&p->buf, NOC__SHM_RLX);
    cap = __atomic_load_n(&p->size, NOC__SHM_RLX);
    rpid = __atomic_load_n(&p->rpid, NOC__SHM_RLX);
    if (h->size > cap) {
        rc = UAREA_EMSGSIZE;
    } else if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE ||
               (s->vm_denied && rpid != s->pid && !noc__shm_in_window(s, dst, h->size))) {
        rc = UAREA_ENOSYS;
    } else {
        rc = noc__shm_copy(s, h->node, rpid, (unsigned char *)(uintptr_t)h->cbuf, dst, h->size, 1);
        if (rc == UAREA_ENOSYS && s->shm->desc.copy == NOC_SHM_COPY_VM) rc = UAREA_EIO;
    }
    if (rc == UAREA_ENOSYS) {                               /* bounce */
        __atomic_store_n(&p->total, (uint64_t)h->size, NOC__SHM_RLX);
        __atomic_store_n(&p->produced, (uint64_t)0, NOC__SHM_RLX);
        __atomic_store_n(&p->consumed, (uint64_t)0, NOC__SHM_RLX);
        __atomic_store_n(&p->state, (uint32_t)NOC__SHM_STREAM, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        h->streaming = 1;
        h->produced = 0;
        noc__shm_stream_out(s, h, p);
        return;
    }
    __atomic_store_n(&p->result, rc, NOC__SHM_RLX);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_DONE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    noc__shm_finish(h, rc);
}

/* Why a portal write has not started: UAREA_ENOTALLOWED or UAREA_EAGAIN. */
static int noc__shm_write_reason(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, h->node, h->port);
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != NOC__SHM_ID(s->self, h->lport))
        return UAREA_ENOTALLOWED;
    return UAREA_EAGAIN;
}

static int noc__shm_ptl_aread(void *ctx, int portal, void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    p = noc__shm_ptl(s, s->self, h->port);
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) == 0) return UAREA_ENOTALLOWED;
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    __atomic_store_n(&p->buf, (uint64_t)(uintptr_t)buf, NOC__SHM_RLX);
    __atomic_store_n(&p->size, (uint64_t)size, NOC__SHM_RLX);
    __atomic_store_n(&p->rpid, s->pid, NOC__SHM_RLX);
    /* a read is usually waited for at once: promise to pull meanwhile */
    noc__shm_promise(s, p, noc__shm_now() + NOC_SHM_PULL_NS);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_POSTED, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_awrite(void *ctx, int portal, const void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->streaming = 0;
    h->cbuf = buf;
    h->size = size;
    noc__shm_ptl_progress(s, h);
    return 0;
}

/* Writing in place: claim the read the receiver posted for us, as a push
 * does, and hand its buffer to the caller, who fills it; wdone ends it. Only
 * where a push would be one memcpy: the receiver is this process, or its
 * buffer lies in a shared window. */
static int noc__shm_ptl_wbuf(void *ctx, int portal, void **buf, size_t *size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    uint32_t me;
    uint64_t dst, cap;
    int rpid;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE || h->offered) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return UAREA_ENOSYS;
    p = noc__shm_ptl(s, h->node, h->port);
    me = NOC__SHM_ID(s->self, h->lport);
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me)
        return UAREA_ENOTALLOWED;
    if (!noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) return UAREA_EAGAIN;
    /* Claimed: allow, buf and size cannot change until we finish. The read
     * may have been posted anew for another sender since our look at allow
     * (as in a push): give it back. */
    dst = __atomic_load_n(&p->buf, NOC__SHM_RLX);
    cap = __atomic_load_n(&p->size, NOC__SHM_RLX);
    rpid = __atomic_load_n(&p->rpid, NOC__SHM_RLX);
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ||
        (rpid != s->pid && !noc__shm_in_window(s, dst, (size_t)cap))) {
        int why = __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ? UAREA_ENOTALLOWED : UAREA_ENOSYS;
        (void)noc__shm_cas_state(p, NOC__SHM_CLAIMED, NOC__SHM_POSTED);
        noc__shm_notify(&p->ev);
        return why;
    }
    __atomic_store_n(&p->writer, me, NOC__SHM_RLX);
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->streaming = 0;
    h->inplace = 1;
    h->cbuf = NULL;
    h->buf = (void *)(uintptr_t)dst;
    h->size = (size_t)cap;
    *buf = h->buf;
    *size = h->size;
    return 0;
}

/* End an in-place write with `rc` (a byte count or an error) on both sides. */
static int noc__shm_inplace_end(noc_shm_node *s, noc__shm_handle *h, int rc)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, h->node, h->port);
    __atomic_store_n(&p->result, (int32_t)rc, NOC__SHM_RLX);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_DONE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    h->inplace = 0;
    noc__shm_finish(h, rc);
    return noc__shm_take(h);
}

static int noc__shm_ptl_wdone(void *ctx, int portal, size_t n)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (!h->inplace) return UAREA_ESTATE;
    if (n > h->size) return UAREA_EMSGSIZE;       /* still claimed: write less */
    noc__shm_progress_hook(s, n, n);
    return noc__shm_inplace_end(s, h, (int)n);
}

/* Reading in place: take the allowed sender's ready offer, as a pull does,
 * and hand its buffer to the caller; rdone ends the sender's write. Only
 * where a pull would be one memcpy (the sender is this process, or its
 * buffer lies in a shared window). No read is posted meanwhile, so no
 * sender can push. */
static int noc__shm_ptl_rbuf(void *ctx, int portal, const void **buf, size_t *size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    struct noc__shm_offer *o;
    uint32_t allow, st = NOC__SHM_OFFER_READY;
    uint64_t from, n;
    int node, pid;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return UAREA_ENOSYS;
    p = noc__shm_ptl(s, s->self, h->port);
    allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ);
    node = (int)((allow >> 8) & 0xffu);
    if (allow == 0 || node >= s->shm->nodes) return UAREA_ENOTALLOWED;
    o = &p->offer[node];
    if (__atomic_load_n(&o->state, NOC__SHM_ACQ) != NOC__SHM_OFFER_READY ||
        __atomic_load_n(&o->id, NOC__SHM_RLX) != allow)
        return noc__shm_known_gone(s, node) ? UAREA_EPEERGONE : UAREA_EAGAIN;
    if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_TAKEN, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return UAREA_EAGAIN;
    /* Taken: the sender can neither push from it nor withdraw it now. It may
     * be a newer offer than the one we looked at: check again. */
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    from = __atomic_load_n(&o->buf, NOC__SHM_RLX);
    n = __atomic_load_n(&o->size, NOC__SHM_RLX);
    if (__atomic_load_n(&o->id, NOC__SHM_RLX) != allow ||
        (pid != s->pid && !noc__shm_in_window(s, from, (size_t)n))) {
        int why = __atomic_load_n(&o->id, NOC__SHM_RLX) != allow ? UAREA_EAGAIN : UAREA_ENOSYS;
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        return why;
    }
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->inplace = 1;
    h->from = (short)node;
    h->cbuf = (const void *)(uintptr_t)from;
    h->size = (size_t)n;
    *buf = h->cbuf;
    *size = h->size;
    return 0;
}

/* End an in-place read: with the data used (the sender's write returns its
 * size, the allow is consumed), or given back untouched (cancel). */
static int noc__shm_rbuf_end(noc_shm_node *s, noc__shm_handle *h, int used)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, s->self, h->port);
    struct noc__shm_offer *o = &p->offer[h->from];
    h->inplace = 0;
    if (!used) {
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        noc__shm_finish(h, UAREA_EAGAIN);                 /* nothing moved; the allow stays */
        return noc__shm_take(h);
    }
    __atomic_store_n(&o->result, (int32_t)h->size, NOC__SHM_RLX);
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_DONE, NOC__SHM_SEQ);
    noc__shm_read_end(h, p, (int)h->size);
    return noc__shm_take(h);
}

static int noc__shm_ptl_rdone(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (!h->inplace) return UAREA_ESTATE;
    return noc__shm_rbuf_end(s, h, 1);
}

/* ---- waiting (shared by mailboxes and portals) ---- */

/* The event a pending operation sleeps on. */
static struct noc__shm_event *noc__shm_event_of(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (portal)
        return &noc__shm_ptl(s, h->out ? h->node : s->self, h->port)->ev;
    if (h->op == NOC__SHM_OP_READ) return &noc__shm_mbx(s, s->self, h->port)->rx;
    return &noc__shm_mbx(s, h->node, h->port)->tx;
}

static void noc__shm_progress(noc_shm_node *s, noc__shm_handle *h, int portal);

/* The peers of a pending operation are gone: end it with UAREA_EPEERGONE
 * (and leave the shared state clean), unless what they left behind still
 * completes it (queued messages, a filled bounce ring, a finished copy).
 * 1 when the operation ended. */
static int noc__shm_check_peers(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (!portal) {
        if (!(h->op == NOC__SHM_OP_WRITE ? noc__shm_gone(s, h->node) : noc__shm_mbx_hopeless(s, h)))
            return 0;
        noc__shm_progress(s, h, portal);
        if (!h->done) noc__shm_finish(h, UAREA_EPEERGONE);
        return 1;
    }
    if (h->out) {
        struct noc__shm_offer *o = &noc__shm_ptl(s, h->node, h->port)->offer[s->self];
        if (!noc__shm_gone(s, h->node)) return 0;
        noc__shm_progress(s, h, portal);
        if (h->done) return 1;
        (void)noc__shm_withdraw(h, o);
        noc__shm_release(h, o);
        noc__shm_finish(h, UAREA_EPEERGONE);
        return 1;
    } else {
        struct noc__shm_ptl *p = noc__shm_ptl(s, s->self, h->port);
        uint32_t allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ);
        int peer = (int)((allow >> 8) & 0xffu);
        if (allow == 0 || peer == s->self || !noc__shm_gone(s, peer)) return 0;
        noc__shm_progress(s, h, portal);
        if (h->done) return 1;
        /* The writer is dead: nobody else may touch this record now. */
        if (__atomic_load_n(&p->offer[peer].id, NOC__SHM_RLX) == allow)
            __atomic_store_n(&p->offer[peer].state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_SEQ);
        noc__shm_read_end(h, p, UAREA_EPEERGONE);
        return 1;
    }
}

static void noc__shm_progress(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (portal) noc__shm_ptl_progress(s, h);
    else noc__shm_mbx_progress(s, h);
}

/* Is the peer copying this portal transfer right now (it took our offer, or
 * claimed our posted read and pushes)? */
static int noc__shm_peer_copies(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    struct noc__shm_ptl *p;
    if (!portal) return 0;
    if (h->out) {
        p = noc__shm_ptl(s, h->node, h->port);
        return h->offered && !h->streaming &&
               __atomic_load_n(&p->offer[s->self].state, NOC__SHM_RLX) == NOC__SHM_OFFER_TAKEN;
    }
    p = noc__shm_ptl(s, s->self, h->port);
    return noc__shm_state(p) == NOC__SHM_CLAIMED;
}

static void noc__shm_reader_promise(noc_shm_node *s, noc__shm_handle *h, int portal, uint64_t until)
{
    if (portal && !h->out && h->op == NOC__SHM_OP_READ)
        noc__shm_promise(s, noc__shm_ptl(s, s->self, h->port), until);
}

/* A sender that sleeps while the receiver promised to pull wakes when the
 * promise ends: cap its nap there. */
static uint64_t noc__shm_nap(noc_shm_node *s, noc__shm_handle *h, int portal, uint64_t now, uint64_t nap)
{
    uint64_t until;
    if (!portal || !h->out) return nap;
    until = __atomic_load_n(&noc__shm_ptl(s, h->node, h->port)->pull_until, NOC__SHM_ACQ);
    return until > now && until - now < nap ? until - now : nap;
}

static int noc__shm_wait_for(noc_shm_node *s, noc__shm_handle *h, int portal, int64_t timeout_ns)
{
    uint64_t start, now, deadline, spin_end, busy_end = 0;
    int promised = 0, kickable = !portal && !h->out;
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    noc__shm_progress(s, h, portal);
    if (h->done) return noc__shm_take(h);
    if (timeout_ns == 0) {
        if (noc__shm_check_peers(s, h, portal)) return noc__shm_take(h);
        return UAREA_ETIMEDOUT;
    }
    start = noc__shm_now();
    deadline = timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns;
    spin_end = start + NOC_SHM_SPIN_NS;
    for (;;) {
        struct noc__shm_event *e;
        uint32_t seen;
        uint64_t nap;
        now = noc__shm_now();
        if (now >= deadline) return UAREA_ETIMEDOUT;
        if (kickable && __atomic_exchange_n(&s->kick, 0u, NOC__SHM_SEQ)) return UAREA_ETIMEDOUT;
        if (now < spin_end) {
            if (!promised) noc__shm_reader_promise(s, h, portal, spin_end);
            promised = 1;
            /* Past the first quarter of the spin, yield: when the peer
             * shares this CPU, it runs instead of waiting for our sleep. */
            if (now - start >= (uint64_t)NOC_SHM_YIELD_NS) sched_yield();
            else noc__shm_relax();
            noc__shm_progress(s, h, portal);
            if (h->done) return noc__shm_take(h);
            continue;
        }
        if (promised) noc__shm_reader_promise(s, h, portal, 0);
        promised = 0;
        if (noc__shm_check_peers(s, h, portal)) return noc__shm_take(h);
        /* The peer is copying our transfer: it finishes soon, keep spinning
         * (yielding; the peer checks above are rate-limited by
         * NOC_SHM_PROBE_NS), for at most NOC_SHM_BUSY_NS in all. */
        if (noc__shm_peer_copies(s, h, portal)) {
            if (busy_end == 0) busy_end = now + NOC_SHM_BUSY_NS;
            if (now < busy_end) {
                sched_yield();
                noc__shm_progress(s, h, portal);
                if (h->done) return noc__shm_take(h);
                continue;
            }
        }
        e = noc__shm_event_of(s, h, portal);
        seen = __atomic_load_n(&e->seq, NOC__SHM_SEQ);
        __atomic_add_fetch(&e->waiters, 1u, NOC__SHM_SEQ);
        noc__shm_progress(s, h, portal);
        /* a kicker stores kick, then reads `sleeping`; this side stores
         * `sleeping`, then reads kick: one of the two sees the other */
        if (kickable) __atomic_store_n(&s->sleeping, (void *)e, NOC__SHM_SEQ);
        if (!h->done && !(kickable && __atomic_load_n(&s->kick, NOC__SHM_SEQ))) {
            nap = deadline - now < (uint64_t)NOC_SHM_CHECK_NS ? deadline - now : NOC_SHM_CHECK_NS;
            noc__shm_sleep(e, seen, noc__shm_nap(s, h, portal, now, nap));
            noc__shm_progress(s, h, portal);
        }
        if (kickable) __atomic_store_n(&s->sleeping, NULL, NOC__SHM_SEQ);
        __atomic_sub_fetch(&e->waiters, 1u, NOC__SHM_SEQ);
        if (h->done) return noc__shm_take(h);
    }
}

static int noc__shm_wait(noc_shm_node *s, noc__shm_handle *h, int portal, int64_t timeout_ns)
{
    int rc, reader = portal && !h->out && h->op == NOC__SHM_OP_READ;
    /* A call that cannot wait (a poll, a non-blocking write) does not leave
     * the copy to a receiver's promise: it pushes if it can. */
    h->eager = timeout_ns == 0;
    rc = noc__shm_wait_for(s, h, portal, timeout_ns);
    h->eager = 0;
    if (reader) noc__shm_promise(s, noc__shm_ptl(s, s->self, h->port), 0);   /* h is taken */
    return rc;
}

static int noc__shm_mbx_wait(void *ctx, int mbx, int64_t timeout_ns)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__shm_wait(s, h, 0, timeout_ns);
}

static int noc__shm_mbx_cancel(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    noc__shm_mbx_progress(s, h);
    if (!h->done) noc__shm_finish(h, UAREA_EAGAIN);       /* nothing moved */
    return noc__shm_take(h);
}

static int noc__shm_ptl_wait(void *ctx, int portal, int64_t timeout_ns)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->inplace) return UAREA_ESTATE;          /* wdone ends it */
    return noc__shm_wait(s, h, 1, timeout_ns);
}

static int noc__shm_ptl_cancel(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    if (h->done) return noc__shm_take(h);
    if (h->inplace && !h->out) return noc__shm_rbuf_end(s, h, 0);
    if (h->inplace) return noc__shm_inplace_end(s, h, UAREA_ECANCELED);
    if (h->out) {
        p = noc__shm_ptl(s, h->node, h->port);
        if (h->streaming) {
            noc__shm_stream_out(s, h, p);
            if (!h->done) {
                /* Only this sender can claim the record, so the result may be
                 * stored before the state says DONE. */
                __atomic_store_n(&p->result, (int32_t)UAREA_ECANCELED, NOC__SHM_RLX);
                if (noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_DONE)) noc__shm_notify(&p->ev);
            }
            if (!h->done) noc__shm_finish(h, UAREA_ECANCELED);
            return noc__shm_take(h);
        }
        noc__shm_ptl_progress(s, h);                    /* collect a finished pull */
        if (h->done) return noc__shm_take(h);
        while (!noc__shm_withdraw(h, &p->offer[s->self])) {
            /* Being pulled: let it finish. A pull may also give the offer
             * back untouched (the read is for another port of this node, or
             * was withdrawn), which ends no wait: look again now and then. */
            int rc = noc__shm_wait(s, h, 1, NOC__SHM_CANCEL_LOOK_NS);
            if (rc != UAREA_ETIMEDOUT) return rc;
        }
        noc__shm_release(h, &p->offer[s->self]);
        noc__shm_finish(h, noc__shm_write_reason(s, h));
        return noc__shm_take(h);
    }
    p = noc__shm_ptl(s, s->self, h->port);
    if (noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_IDLE)) {
        noc__shm_notify(&p->ev);
        noc__shm_finish(h, UAREA_EAGAIN);                 /* the allow stays */
        return noc__shm_take(h);
    }
    if (noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_IDLE)) {
        noc__shm_read_end(h, p, UAREA_ECANCELED);
        return noc__shm_take(h);
    }
    /* A direct copy is under way (or done): let it finish. */
    return noc__shm_wait(s, h, 1, NOC_FOREVER);
}

static int noc__shm_ptl_unlink(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) (void)noc__shm_ptl_cancel(ctx, portal);
    p = noc__shm_ptl(s, s->self, h->port);
    noc__shm_lock(&s->lock);
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    __atomic_store_n(&p->created, 0u, NOC__SHM_SEQ);
    h->used = 0;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_close(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) (void)noc__shm_ptl_cancel(ctx, portal);
    noc__shm_lock(&s->lock);
    h->used = 0;
    noc__shm_unlock(&s->lock);
    return 0;
}

/* ---- nodes, clock ---- */
static int noc__shm_node_self(void *ctx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    return (s != NULL && s->attached) ? s->self : UAREA_EINVAL;
}

static int noc__shm_nodes(void *ctx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    return (s != NULL && s->attached) ? s->shm->nodes : UAREA_EINVAL;
}

static uint64_t noc__shm_clock(void *ctx)
{
    (void)ctx;
    return noc__shm_now();
}

static int noc__shm_mbx_sender(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    return h->from >= 0 ? h->from : UAREA_ESTATE;
}

/* A fresh probe (not the cached answer of the last millisecond). */
static int noc__shm_node_gone(void *ctx, int node)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    if (s == NULL || !s->attached || node < 0 || node >= s->shm->nodes) return 0;
    __atomic_store_n(&s->probed[node], 0, NOC__SHM_RLX);
    return noc__shm_gone(s, node) ? 1 : 0;
}

static const struct noc_ops noc__shm_ops = {
    .node_self = noc__shm_node_self,
    .nodes = noc__shm_nodes,
    .mailbox_create = noc__shm_mbx_create,
    .mailbox_open = noc__shm_mbx_open,
    .mailbox_unlink = noc__shm_mbx_unlink,
    .mailbox_close = noc__shm_mbx_close,
    .mailbox_aread = noc__shm_mbx_aread,
    .mailbox_awrite = noc__shm_mbx_awrite,
    .mailbox_wait = noc__shm_mbx_wait,
    .mailbox_cancel = noc__shm_mbx_cancel,
    .portal_create = noc__shm_ptl_create,
    .portal_allow = noc__shm_ptl_allow,
    .portal_open = noc__shm_ptl_open,
    .portal_unlink = noc__shm_ptl_unlink,
    .portal_close = noc__shm_ptl_close,
    .portal_aread = noc__shm_ptl_aread,
    .portal_awrite = noc__shm_ptl_awrite,
    .portal_wait = noc__shm_ptl_wait,
    .portal_cancel = noc__shm_ptl_cancel,
    .clock_ns = noc__shm_clock,
    .node_gone = noc__shm_node_gone,
    .mailbox_sender = noc__shm_mbx_sender,
    .portal_wbuf = noc__shm_ptl_wbuf,
    .portal_wdone = noc__shm_ptl_wdone,
    .portal_rbuf = noc__shm_ptl_rbuf,
    .portal_rdone = noc__shm_ptl_rdone,
};

UAREA_API const struct noc_ops *noc_shm_ops(void) { return &noc__shm_ops; }

/* ---- lifecycle ---- */
UAREA_API int noc_shm_create(noc_shm *shm, const noc_shm_desc *desc)
{
    noc_shm_desc d;
    struct noc__shm_region *r;
    size_t cells, off, size;
    void *map;
    int fd = -1;
    long k;
    if (shm == NULL) return UAREA_EINVAL;
    if (desc != NULL) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.nodes == 0) d.nodes = 2;
    if (d.nodes < 0 || d.nodes > NOC_NODES_MAX) return UAREA_EINVAL;
    if (d.copy < NOC_SHM_COPY_AUTO || d.copy > NOC_SHM_COPY_BOUNCE) return UAREA_EINVAL;
    if ((d.shared == NULL) != (d.shared_size == 0)) return UAREA_EINVAL;
    cells = (size_t)d.nodes * NOC_PORTS_MAX;
    off = (sizeof(struct noc__shm_region) + 63u) & ~(size_t)63u;
    size = off + cells * sizeof(struct noc__shm_mbx);
    size = (size + 63u) & ~(size_t)63u;
    size += cells * sizeof(struct noc__shm_ptl);
    size = (size + 4095u) & ~(size_t)4095u;
    size += cells * NOC__SHM_BOUNCE;
    if (d.arena_size > (size_t)1 << 40) return UAREA_EINVAL;
    size += (d.arena_size + 4095u) & ~(size_t)4095u;
#ifdef SYS_memfd_create
    k = syscall(SYS_memfd_create, "uarea-noc", 1u /* MFD_CLOEXEC */);
    fd = k < 0 ? -1 : (int)k;
    if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) { close(fd); fd = -1; }
#else
    (void)k;
#endif
    if (fd >= 0) map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    else map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        if (fd >= 0) close(fd);
        return UAREA_ENOMEM;
    }
    r = (struct noc__shm_region *)map;
    memset(r, 0, sizeof *r);
    r->nodes = d.nodes;
    r->size = size;
    r->off_mbx = off;
    r->off_ptl = (off + cells * sizeof(struct noc__shm_mbx) + 63u) & ~(uint64_t)63u;
    r->off_bounce = (r->off_ptl + cells * sizeof(struct noc__shm_ptl) + 4095u) & ~(uint64_t)4095u;
    r->off_arena = r->off_bounce + cells * NOC__SHM_BOUNCE;
    r->arena_size = d.arena_size;
    memset(shm, 0, sizeof *shm);
    shm->region = r;
    shm->map_size = size;
    shm->fd = fd;
    shm->nodes = d.nodes;
    shm->desc = d;
    {
        size_t i;
        unsigned j;
        struct noc__shm_mbx *m = (struct noc__shm_mbx *)(void *)((unsigned char *)map + off);
        for (i = 0; i < cells; i++)
            for (j = 0; j < NOC_SHM_MAILBOX_SLOTS; j++) m[i].slot[j].seq = j;
    }
    r->version = NOC__SHM_VERSION;
    __atomic_store_n(&r->magic, NOC__SHM_MAGIC, NOC__SHM_SEQ);
    return 0;
}

UAREA_API int noc_shm_destroy(noc_shm *shm)
{
    if (shm == NULL || shm->region == NULL) return UAREA_EINVAL;
    munmap(shm->region, shm->map_size);
    if (shm->fd >= 0) close(shm->fd);
    shm->region = NULL;
    shm->fd = -1;
    return 0;
}

UAREA_API void *noc_shm_arena(noc_shm *shm, size_t *size)
{
    if (shm == NULL || shm->region == NULL || shm->region->arena_size == 0) {
        if (size != NULL) *size = 0;
        return NULL;
    }
    if (size != NULL) *size = (size_t)shm->region->arena_size;
    return (unsigned char *)shm->region + shm->region->off_arena;
}

UAREA_API int noc_shm_attach(noc_shm *shm, int node, noc_shm_node *self, noc_transport *t)
{
    struct noc__shm_nodeinfo *ni;
    uint32_t st;
    int i, port, pid = (int)getpid();
    if (shm == NULL || self == NULL || t == NULL || shm->region == NULL ||
        __atomic_load_n(&shm->region->magic, NOC__SHM_ACQ) != NOC__SHM_MAGIC)
        return UAREA_EINVAL;
    if (node < 0 || node >= shm->nodes) return UAREA_EBADNODE;
    memset(self, 0, sizeof *self);
    self->shm = shm;
    self->self = node;
    self->pid = pid;
    for (i = 0; i < NOC_NODES_MAX; i++) { self->pidfd[i] = -1; self->pidfd_pid[i] = 0; }
    ni = &shm->region->node[node];
    st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
    if (st == NOC__SHM_ALIVE) {
        int old = __atomic_load_n(&ni->pid, NOC__SHM_RLX);
        self->attached = 1;            /* borrow the liveness probe */
        if (old == pid || !noc__shm_gone(self, node)) { self->attached = 0; return UAREA_EBUSY; }
        self->attached = 0;
        st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
    }
    /* One attacher wins; another one, at the same time, gets UAREA_EBUSY. */
    if (st == NOC__SHM_ATTACHING ||
        !__atomic_compare_exchange_n(&ni->state, &st, (uint32_t)NOC__SHM_ATTACHING, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return UAREA_EBUSY;
    /* A fresh start for this node's ports and its opener counts. */
    for (port = 0; port < NOC_PORTS_MAX; port++) {
        struct noc__shm_ptl *p;
        self->attached = 1;
        __atomic_store_n(&noc__shm_mbx(self, node, port)->created, 0u, NOC__SHM_SEQ);
        p = noc__shm_ptl(self, node, port);
        __atomic_store_n(&p->created, 0u, NOC__SHM_SEQ);
        __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
        __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
        for (i = 0; i < shm->nodes; i++) {
            __atomic_store_n(&noc__shm_mbx(self, i, port)->openers[node], 0u, NOC__SHM_SEQ);
            __atomic_store_n(&noc__shm_ptl(self, i, port)->offer[node].state,
                             (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_SEQ);
        }
    }
    __atomic_store_n(&ni->pid, pid, NOC__SHM_SEQ);
    __atomic_add_fetch(&ni->gen, 1u, NOC__SHM_SEQ);
    __atomic_store_n(&ni->state, (uint32_t)NOC__SHM_ALIVE, NOC__SHM_SEQ);
    self->attached = 1;
    t->ops = &noc__shm_ops;
    t->ctx = self;
    return 0;
}

UAREA_API int noc_shm_detach(noc_shm_node *self)
{
    int i;
    if (self == NULL || !self->attached) return UAREA_EINVAL;
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        if (self->ptl[i].used) {
            if (self->ptl[i].out) noc__shm_ptl_close(self, i);
            else noc__shm_ptl_unlink(self, i);
        }
        if (self->mbx[i].used) {
            /* Output handles stay counted as openers: a reader waiting for
             * this node learns that it is gone. */
            if (self->mbx[i].out) self->mbx[i].used = 0;
            else noc__shm_mbx_unlink(self, i);
        }
    }
    for (i = 0; i < NOC_NODES_MAX; i++)
        if (self->pidfd[i] >= 0) { close(self->pidfd[i]); self->pidfd[i] = -1; }
    __atomic_store_n(&self->shm->region->node[self->self].state, (uint32_t)NOC__SHM_LEFT,
                     NOC__SHM_SEQ);
    self->attached = 0;
    return 0;
}

UAREA_API int noc_shm_expect(noc_shm *shm, int node, int pid)
{
    struct noc__shm_nodeinfo *ni;
    if (shm == NULL || shm->region == NULL || pid <= 0) return UAREA_EINVAL;
    if (node < 0 || node >= shm->nodes) return UAREA_EBADNODE;
    ni = &shm->region->node[node];
    {
        uint32_t st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
        if (st != NOC__SHM_NONE && st != NOC__SHM_ATTACHING) return UAREA_ESTATE;
    }
    __atomic_store_n(&ni->pid, pid, NOC__SHM_SEQ);
    return 0;
}

UAREA_API void noc_shm_kick(noc_shm_node *self)
{
    struct noc__shm_event *e;
    if (self == NULL) return;
    __atomic_store_n(&self->kick, 1u, NOC__SHM_SEQ);
    e = (struct noc__shm_event *)__atomic_load_n(&self->sleeping, NOC__SHM_SEQ);
    if (e != NULL) noc__shm_notify(e);
}

UAREA_API int noc_shm_peer_state(noc_shm_node *self, int node)
{
    uint32_t st;
    if (self == NULL || !self->attached) return UAREA_EINVAL;
    if (node < 0 || node >= self->shm->nodes) return UAREA_EBADNODE;
    if (noc__shm_gone(self, node)) return UAREA_EPEERGONE;
    st = __atomic_load_n(&self->shm->region->node[node].state, NOC__SHM_ACQ);
    return st == NOC__SHM_ALIVE ? 1 : 0;
}

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
