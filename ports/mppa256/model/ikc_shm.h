/*
 * ikc_shm.h - Nanvix's IKC (the kmailbox_*, __kmailbox_*, kportal_*,
 * __kportal_* calls and knode_get_num of uarea_mppa256/nanvix.h) over one
 * region of memory that every cluster maps: the arena. The chip model runs it
 * on a Linux host (nanvix_model.h: clusters are processes, the arena a
 * MAP_SHARED mapping); a bare-metal kernel runs the same code where each
 * cluster is a machine of its own and the arena a region they all share
 * (a shared-memory device, mapped at some physical address in each).
 *
 * Freestanding C11: only <stddef.h>, <stdint.h>, uarea_mppa256/nanvix.h (for
 * the constants and the calls' declarations) and the compiler's __atomic
 * builtins; no C library, no system call. gcc or clang. Header-only: the
 * declarations always; the implementation when IKC_SHM_IMPLEMENTATION is
 * defined, in exactly one translation unit of the program (a kernel image,
 * a host process). That
 * unit also holds what belongs to this cluster alone: the node it attached
 * as and its id tables (mailbox and portal ids 0..63), as statics.
 *
 * API
 * ---
 *   IKC_SHM_ARENA_SIZE
 *       Bytes the arena takes for all 24 nodes (6,529,728; the same on every
 *       target: the layout below uses fixed-width fields only). The header
 *       checks at compile time that the layout takes exactly that.
 *   int ikc_shm_attach(void *arena, size_t size, int node)
 *       This cluster is NoC node `node` (0..23) on `arena`: the IKC calls of
 *       this process (or kernel) use it from now on. The node's IKC state in
 *       the arena is emptied (its input mailboxes and portals; its counters,
 *       doorbell and fault switch stay) and this cluster's id tables
 *       cleared. 0, or -EINVAL (negated UAREA_MPPA256_EINVAL, as every error
 *       here) when arena is NULL or not 8-byte aligned, size is below
 *       IKC_SHM_ARENA_SIZE, or node is outside 0..23; nothing changes then.
 *       Call it before any IKC call of this cluster, not concurrently with
 *       one; attaching again (to the same or another arena) replaces the
 *       previous attach.
 *   int ikc_shm_monitor(void *arena, size_t size)
 *       Use `arena` without being one of its nodes (the process that starts
 *       clusters, a tool that reads the counters of running ones): the
 *       counters, the fault switch and ikc_shm_reset_node work on it, the
 *       IKC calls act as outside a cluster (create/open: -EINVAL), and
 *       ikc_shm_self() is -1. 0, or -EINVAL as for attach.
 *   void ikc_shm_detach(void)
 *       Forget the arena and the node (ikc_shm_self() and knode_get_num()
 *       are -1 again) and every id. The arena is left as it is: the node's
 *       next attach (or ikc_shm_reset_node) empties its state.
 *   int ikc_shm_self(void)
 *       The node attached, or -1 (none, or a monitor). knode_get_num()
 *       returns the same.
 *   void ikc_shm_reset_node(int node)
 *       Empties node's IKC state in the arena, as attach does for its own
 *       node (a cluster that ended or is about to start again). Nothing for
 *       a bad node or without an arena.
 *   void ikc_shm_counters(int node, ikc_shm_counters_t *c)
 *       The node's counters (all zero for a bad node or without an arena):
 *       mailbox_sent / mailbox_received (messages the node wrote / read),
 *       portal_sent / portal_received (pieces), portal_bytes_sent /
 *       portal_bytes_received, allows (kportal_allow calls that succeeded on
 *       the node). A message or piece counts as sent when the write try
 *       succeeds (it is then in the receiver's queue or slot), as received
 *       when a read try takes it. Nothing when c is NULL.
 *   void ikc_shm_reset_counters(void)
 *       Zeroes every node's counters.
 *   void ikc_shm_corrupt_next_piece(int dst_node)
 *       Fault switch: the next portal piece delivered to dst_node has one
 *       byte inverted (the byte at offset size / 2, XOR 0xff). The switch is
 *       kept in the arena and consumed by that delivery; set it before or
 *       after the receiver attaches. No effect for a bad node.
 *   The Nanvix IKC calls, with nanvix.h's signatures (defined by the
 *   implementation unit; their choices are below).
 *
 * Platform hooks
 * --------------
 * Macros the implementation unit may define before including this file; each
 * has a default that needs nothing but the CPU:
 *   IKC_SHM_DOZE(bell, seen, ns)
 *       Wait up to ns nanoseconds (IKC_SHM_DOORBELL_NS) while the 32-bit
 *       doorbell at `bell` (a uint32_t * into the arena; read it with
 *       __atomic_load_n) still reads `seen`; returning earlier is allowed.
 *       Default: read it up to IKC_SHM_DOZE_SPINS (10000) times, no clock.
 *   IKC_SHM_WAKE(bell)
 *       Wake the dozers of that doorbell: called after it was bumped, when
 *       some try dozes on it (the node counts its dozers). Default: nothing.
 *   IKC_SHM_YIELD()
 *       Let others run: every 64 turns of a spin lock, and before a write try
 *       returns -EAGAIN or -EBUSY. Default: nothing.
 *   IKC_SHM_LOCK_OWNER()
 *       A nonzero 32-bit integer naming the locker, stored in an arena lock
 *       while it is held. Default: the node number + 1 (25 for a monitor).
 *   IKC_SHM_OWNER_ALIVE(owner)
 *       0 when the locker `owner` is gone for good: a lock it still holds is
 *       then taken over (asked every 1024 turns, never about oneself).
 *       Default: 1, a lock is never taken over.
 *   IKC_SHM_BARRIER()
 *       Called right after an arena lock is taken and right before it is
 *       released, for a platform whose shared region needs more than the
 *       lock's acquire and release (a cache to write back or invalidate).
 *       Default: nothing.
 *
 * The arena
 * ---------
 * Per node (struct ikc_shm__node, 8-byte aligned): the doorbell (a 32-bit
 * counter bumped on every message and piece delivered to the node and every
 * allow naming it) and the count of its dozers; the fault switch; the
 * counters (seven 64-bit ones); 32 input mailboxes, each a spin lock, a
 * created flag and a bounded queue of IKC_SHM_MAILBOX_QUEUE (32) message
 * frames; 32 input portals, each a spin lock, a created flag, one pending
 * allow and one 4 KiB slot. All zero is a valid, empty arena: no port
 * created, every lock free, no allow, no piece, counters at zero, switch
 * off. So clusters may attach to a region that was zero-filled and never
 * formatted, in any order.
 *
 * Memory ordering. Every access to the arena is an __atomic operation or is
 * made under the arena lock of that mailbox or portal port (taken with an
 * acquire compare-exchange, released with a release store). Nothing else is
 * assumed of the machines that share the arena: the code is the same on a
 * weakly ordered CPU and between separate machines (emulated ones included)
 * whose views of the region are kept consistent only as far as atomics
 * require. The doorbell is bumped and read with sequentially consistent
 * atomics, and so is its count of dozers, so a wake is not lost between a
 * try that finds nothing and its doze. Where 64-bit atomics are not lock-free
 * (32-bit targets), the counters are kept under a per-node lock instead;
 * every cluster of one arena must then be built for such a target alike.
 *
 * The IKC calls
 * -------------
 * They return the negated UAREA_MPPA256_E* values. Where nanvix.h leaves a
 * choice:
 *
 * Clusters. The calls work only in a cluster (attached): elsewhere
 * (knode_get_num() == -1) create/open return -EINVAL. A node may open its own
 * mailboxes and portals (remote == knode_get_num()): the data goes through
 * the arena like any other.
 *
 * Ids. kmailbox_create/open and kportal_create/open return ids 0..63 (64 per
 * kind and per node, input and output sharing them); -EAGAIN when none is
 * left. Any call on an id outside 0..63 is -EINVAL; on an id not in use, or
 * of the wrong direction (a read or allow on an output id, a write on an
 * input one, unlink of an output id, close of an input id), -EBADF. The
 * arguments (node 0..23, port 0..31, buffer not NULL, size) are checked
 * before the id's state: a bad argument is -EINVAL even on a wrong id.
 * create: local must be this node and port 0..31 (-EINVAL); a port already
 * created on this node (per kind) is -EBUSY. The id tables of a cluster are
 * guarded by a spin lock of its own: its cores may call IKC at once.
 *
 * Mailboxes. Each input mailbox queues up to IKC_SHM_MAILBOX_QUEUE (32)
 * messages. A message is a fixed 128-byte frame: the writer's 1..128 bytes,
 * zeros after them, with a header (source node, size). A write try copies it
 * into the destination's queue at once and returns the size; when the
 * destination mailbox is not created (yet) or its queue is full, it returns
 * -EAGAIN (after IKC_SHM_YIELD(); a later try may succeed). A read try takes
 * the oldest message and copies the first `size` bytes of its frame (the rest
 * of the frame is dropped; bytes past what the writer wrote read as zeros)
 * and returns size. With no message queued it first dozes on this node's
 * doorbell for at most IKC_SHM_DOORBELL_NS (50 us), looks again, then
 * returns -ENOMSG. Messages from one sender to one mailbox arrive in the
 * order written. unlink of a mailbox with messages still queued is -EBUSY
 * (read them first), as in Nanvix.
 *
 * Portals. An input portal port has one slot of 4096 bytes in the arena and
 * at most one pending allow. An output portal's own port, the one an allow
 * names, is chosen as in Nanvix: the lowest port 0..31 not used by another
 * open output portal of this node to the same remote node (0 for the first
 * one; -EAGAIN when all 32 are used). allow: -EBUSY while an allow is
 * pending on that port; it records the (node, port) allowed and rings that
 * node's doorbell. A write try by the allowed sender, with the slot empty,
 * deposits the piece (1..4096 bytes) into the receiver's slot at once and
 * returns its size; -EACCES when no pending allow names this sender (after
 * dozing up to 50 us on this node's doorbell for the allow and looking
 * again); -EBUSY (after IKC_SHM_YIELD()) when its previous piece still waits
 * in the slot. A read try: -EACCES without a pending allow; -ENOMSG while the
 * allowed piece has not come (after up to 50 us on the doorbell); -EINVAL
 * when `size` differs from the piece's size (the piece stays); otherwise it
 * copies the piece, empties the slot, consumes the allow (each piece needs
 * its own) and returns size. unlink with a piece in the slot is -EBUSY.
 *
 * wait. A try that returned >= 0 starts an operation, already complete here:
 * kmailbox_wait/kportal_wait on that id return 0 and end it (never > 0).
 * Without a started operation (none yet, or already waited for, or the last
 * try failed) they return -EBADF, as Nanvix does for an id with no
 * asynchronous operation.
 *
 * Locks. Each mailbox and portal port has a spin lock in the arena holding
 * IKC_SHM_LOCK_OWNER() of its holder; a waiter takes over a lock whose
 * owner IKC_SHM_OWNER_ALIVE() says is gone, so that a cluster that died in
 * the middle of a call stops the others no longer than it takes to see it
 * gone.
 */
#ifndef IKC_SHM_H
#define IKC_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <uarea_mppa256/nanvix.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IKC_SHM_MAILBOX_QUEUE 32     /* messages queued per input mailbox */
#define IKC_SHM_DOORBELL_NS 50000    /* longest doze of a try that finds nothing */

/* Counters of one node (ikc_shm_counters). */
typedef struct ikc_shm_counters_t {
    uint64_t mailbox_sent;          /* messages written (accepted by a queue) */
    uint64_t mailbox_received;      /* messages read */
    uint64_t portal_sent;           /* pieces written (deposited in a slot) */
    uint64_t portal_received;       /* pieces read */
    uint64_t portal_bytes_sent;     /* bytes of those pieces */
    uint64_t portal_bytes_received;
    uint64_t allows;                /* successful kportal_allow calls */
} ikc_shm_counters_t;

int ikc_shm_attach(void *arena, size_t size, int node);
int ikc_shm_monitor(void *arena, size_t size);
void ikc_shm_detach(void);
int ikc_shm_self(void);
void ikc_shm_reset_node(int node);
void ikc_shm_counters(int node, ikc_shm_counters_t *c);
void ikc_shm_reset_counters(void);
void ikc_shm_corrupt_next_piece(int dst_node);

/* ---- The arena's layout (shared by every cluster: fixed-width fields) ---- */
#ifdef __cplusplus
#  define IKC_SHM__ALIGN8 alignas(8)
#  define IKC_SHM__ASSERT(c, m) static_assert(c, m)
#else
#  define IKC_SHM__ALIGN8 _Alignas(8)
#  define IKC_SHM__ASSERT(c, m) _Static_assert(c, m)
#endif

/* the counters as the arena keeps them */
enum {
    IKC_SHM__MAILBOX_SENT, IKC_SHM__MAILBOX_RECEIVED, IKC_SHM__PORTAL_SENT,
    IKC_SHM__PORTAL_RECEIVED, IKC_SHM__PORTAL_BYTES_SENT, IKC_SHM__PORTAL_BYTES_RECEIVED,
    IKC_SHM__ALLOWS, IKC_SHM__COUNTERS
};

struct ikc_shm__msg {
    int32_t src;                     /* sending node */
    uint32_t size;                   /* bytes the writer wrote */
    unsigned char data[UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE];
};

struct ikc_shm__mailbox {
    uint32_t lock;                   /* owner, 0: free */
    uint32_t created;
    uint32_t head;                   /* oldest message */
    uint32_t count;                  /* messages queued */
    struct ikc_shm__msg q[IKC_SHM_MAILBOX_QUEUE];
};

struct ikc_shm__portal {
    uint32_t lock;
    uint32_t created;
    uint32_t allowed;                /* an allow is pending */
    int32_t allow_node, allow_port;  /* the sender it names */
    uint32_t full;                   /* a piece waits in the slot */
    uint32_t size;
    int32_t src_node, src_port;
    unsigned char data[UAREA_MPPA256_KPORTAL_PIECE];
};

struct ikc_shm__node {
    uint32_t doorbell;               /* bumped on every delivery to the node */
    uint32_t sleepers;               /* tries dozing on it */
    uint32_t corrupt;                /* fault switch for the next piece */
    uint32_t counters_lock;          /* where 64-bit atomics are not lock-free */
    IKC_SHM__ALIGN8 uint64_t counters[IKC_SHM__COUNTERS];
    struct ikc_shm__mailbox mailbox[UAREA_MPPA256_PORTS];
    struct ikc_shm__portal portal[UAREA_MPPA256_PORTS];
};

struct ikc_shm__arena {
    struct ikc_shm__node node[UAREA_MPPA256_NODES];
};

/* sizes: 4-byte fields and byte arrays, the counters 8-byte aligned at 16 */
#define IKC_SHM__MAILBOX_BYTES \
    (16u + IKC_SHM_MAILBOX_QUEUE * (8u + UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE))
#define IKC_SHM__PORTAL_BYTES (36u + UAREA_MPPA256_KPORTAL_PIECE)
#define IKC_SHM__NODE_BYTES (16u + 8u * IKC_SHM__COUNTERS + \
    UAREA_MPPA256_PORTS * (IKC_SHM__MAILBOX_BYTES + IKC_SHM__PORTAL_BYTES))
#define IKC_SHM_ARENA_SIZE ((size_t)UAREA_MPPA256_NODES * IKC_SHM__NODE_BYTES)

IKC_SHM__ASSERT(sizeof(struct ikc_shm__mailbox) == IKC_SHM__MAILBOX_BYTES, "mailbox layout");
IKC_SHM__ASSERT(sizeof(struct ikc_shm__portal) == IKC_SHM__PORTAL_BYTES, "portal layout");
IKC_SHM__ASSERT(sizeof(struct ikc_shm__node) == IKC_SHM__NODE_BYTES, "node layout");
IKC_SHM__ASSERT(sizeof(struct ikc_shm__arena) == IKC_SHM_ARENA_SIZE,
                "IKC_SHM_ARENA_SIZE is what the arena's layout takes");
IKC_SHM__ASSERT(UAREA_MPPA256_KMAILBOX_MAX == 64 && UAREA_MPPA256_KPORTAL_MAX == 64,
                "64 ids per kind");
IKC_SHM__ASSERT(UAREA_MPPA256_PORTS <= 32, "a node's output portal ports fit a 32-bit mask");

#ifdef __cplusplus
}
#endif

#endif /* IKC_SHM_H */

/* ========================================================================== */
#if defined(IKC_SHM_IMPLEMENTATION) && !defined(IKC_SHM__IMPLEMENTED)
#define IKC_SHM__IMPLEMENTED

#define IKC_SHM__E(x) (-(UAREA_MPPA256_##x))
#define IKC_SHM__NODES UAREA_MPPA256_NODES
#define IKC_SHM__PORTS UAREA_MPPA256_PORTS
#define IKC_SHM__IDS 64
#define IKC_SHM__MSG UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE
#define IKC_SHM__PIECE UAREA_MPPA256_KPORTAL_PIECE

#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE == 2 && \
    defined(__SIZEOF_LONG_LONG__) && __SIZEOF_LONG_LONG__ == 8
#  define IKC_SHM__ATOMIC64 1
#endif

/* ---- This cluster's own state ---------------------------------------------- */
struct ikc_shm__id {
    unsigned char used, input, started;
    int node;                        /* input: this node; output: the remote */
    int port;                        /* input: local port; output: remote port */
    int lport;                       /* output portal: its own port */
};

static struct ikc_shm__arena *ikc_shm__arena;
static int ikc_shm__self = -1;
static struct ikc_shm__id ikc_shm__mailbox_ids[IKC_SHM__IDS];
static struct ikc_shm__id ikc_shm__portal_ids[IKC_SHM__IDS];
static uint32_t ikc_shm__ids_word;   /* spin lock of the two tables */

/* ---- Hooks: the defaults --------------------------------------------------- */
#ifndef IKC_SHM_DOZE_SPINS
#  define IKC_SHM_DOZE_SPINS 10000
#endif
#ifndef IKC_SHM_DOZE
#  define IKC_SHM_DOZE(bell, seen, ns) ((void)(ns), ikc_shm__spin_doze((bell), (seen)))
static void ikc_shm__spin_doze(const uint32_t *bell, uint32_t seen)
{
    unsigned long i;
    for (i = 0; i < (unsigned long)IKC_SHM_DOZE_SPINS; i++)
        if (__atomic_load_n(bell, __ATOMIC_SEQ_CST) != seen) return;
}
#endif
#ifndef IKC_SHM_WAKE
#  define IKC_SHM_WAKE(bell) ((void)(bell))
#endif
#ifndef IKC_SHM_YIELD
#  define IKC_SHM_YIELD() ((void)0)
#endif
#ifndef IKC_SHM_LOCK_OWNER
#  define IKC_SHM_LOCK_OWNER() \
    ((uint32_t)(ikc_shm__self >= 0 ? ikc_shm__self + 1 : IKC_SHM__NODES + 1))
#endif
#ifndef IKC_SHM_OWNER_ALIVE
#  define IKC_SHM_OWNER_ALIVE(owner) ((void)(owner), 1)
#endif
#ifndef IKC_SHM_BARRIER
#  define IKC_SHM_BARRIER() ((void)0)
#endif

/* ---- Helpers ------------------------------------------------------------------ */
static void ikc_shm__copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    while (n-- != 0) *d++ = *s++;
}

static void ikc_shm__zero(void *dst, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    while (n-- != 0) *d++ = 0;
}

/* An arena lock: the holder's IKC_SHM_LOCK_OWNER(), 0 when free. */
static void ikc_shm__lock(uint32_t *l)
{
    uint32_t me = IKC_SHM_LOCK_OWNER();
    unsigned spins = 0;
    for (;;) {
        uint32_t seen = 0;
        if (__atomic_compare_exchange_n(l, &seen, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
        if (++spins % 64 != 0) continue;
        IKC_SHM_YIELD();
        /* the owner is gone: take the lock over */
        if (spins % 1024 == 0 && seen != me && !IKC_SHM_OWNER_ALIVE(seen) &&
            __atomic_compare_exchange_n(l, &seen, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
    }
    IKC_SHM_BARRIER();
}

static void ikc_shm__unlock(uint32_t *l)
{
    IKC_SHM_BARRIER();
    __atomic_store_n(l, 0u, __ATOMIC_RELEASE);
}

/* The id tables' lock: this cluster's alone (its cores), never in the arena. */
static void ikc_shm__ids_lock(void)
{
    unsigned spins = 0;
    for (;;) {
        uint32_t seen = 0;
        if (__atomic_compare_exchange_n(&ikc_shm__ids_word, &seen, 1u, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
        if (++spins % 64 == 0) IKC_SHM_YIELD();
    }
}

static void ikc_shm__ids_unlock(void)
{
    __atomic_store_n(&ikc_shm__ids_word, 0u, __ATOMIC_RELEASE);
}

static struct ikc_shm__node *ikc_shm__node(int n)
{
    return &ikc_shm__arena->node[n];
}

static void ikc_shm__count(int which, uint64_t v)
{
    struct ikc_shm__node *nd = ikc_shm__node(ikc_shm__self);
#ifdef IKC_SHM__ATOMIC64
    __atomic_fetch_add(&nd->counters[which], v, __ATOMIC_RELAXED);
#else
    ikc_shm__lock(&nd->counters_lock);
    nd->counters[which] += v;
    ikc_shm__unlock(&nd->counters_lock);
#endif
}

/* Ring node n's doorbell: a delivery or an allow that concerns it. */
static void ikc_shm__ring(int n)
{
    struct ikc_shm__node *nd = ikc_shm__node(n);
    __atomic_fetch_add(&nd->doorbell, 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&nd->sleepers, __ATOMIC_SEQ_CST) != 0) IKC_SHM_WAKE(&nd->doorbell);
}

static uint32_t ikc_shm__bell(void)
{
    return __atomic_load_n(&ikc_shm__node(ikc_shm__self)->doorbell, __ATOMIC_SEQ_CST);
}

/* Doze on this node's doorbell while it still reads `seen`, at most 50 us. */
static void ikc_shm__doze(uint32_t seen)
{
    struct ikc_shm__node *nd = ikc_shm__node(ikc_shm__self);
    __atomic_fetch_add(&nd->sleepers, 1u, __ATOMIC_SEQ_CST);
    IKC_SHM_DOZE(&nd->doorbell, seen, IKC_SHM_DOORBELL_NS);
    __atomic_fetch_sub(&nd->sleepers, 1u, __ATOMIC_SEQ_CST);
}

static int ikc_shm__arena_ok(const void *arena, size_t size)
{
    return arena != NULL && size >= IKC_SHM_ARENA_SIZE && ((uintptr_t)arena & 7u) == 0;
}

/* This cluster's ids: none. */
static void ikc_shm__ids_clear(void)
{
    ikc_shm__zero(ikc_shm__mailbox_ids, sizeof ikc_shm__mailbox_ids);
    ikc_shm__zero(ikc_shm__portal_ids, sizeof ikc_shm__portal_ids);
    __atomic_store_n(&ikc_shm__ids_word, 0u, __ATOMIC_RELEASE);
}

/* Look an id up: copy it to *out. want: 1 input, 0 output, -1 either. */
static int ikc_shm__id_get(struct ikc_shm__id *tab, int id, int want, struct ikc_shm__id *out)
{
    int rc = 0;
    if (id < 0 || id >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!tab[id].used || (want >= 0 && tab[id].input != want)) rc = IKC_SHM__E(EBADF);
    else *out = tab[id];
    ikc_shm__ids_unlock();
    return rc;
}

static void ikc_shm__id_started(struct ikc_shm__id *tab, int id, int started)
{
    ikc_shm__ids_lock();
    if (tab[id].used) tab[id].started = (unsigned char)started;
    ikc_shm__ids_unlock();
}

/* A free id, taken (caller holds the ids lock); -EAGAIN when none. */
static int ikc_shm__id_take(struct ikc_shm__id *tab)
{
    int i;
    for (i = 0; i < IKC_SHM__IDS; i++)
        if (!tab[i].used) {
            ikc_shm__zero(&tab[i], sizeof tab[i]);
            tab[i].used = 1;
            return i;
        }
    return IKC_SHM__E(EAGAIN);
}

static int ikc_shm__id_wait(struct ikc_shm__id *tab, int id)
{
    int rc = 0;
    if (id < 0 || id >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!tab[id].used || !tab[id].started) rc = IKC_SHM__E(EBADF);
    else tab[id].started = 0;
    ikc_shm__ids_unlock();
    return rc;
}

static int ikc_shm__valid(int node, int port)
{
    return node >= 0 && node < IKC_SHM__NODES && port >= 0 && port < IKC_SHM__PORTS;
}

static int ikc_shm__in_cluster(void)
{
    return ikc_shm__self >= 0 && ikc_shm__arena != NULL;
}

/* ---- Attach, counters, fault switch ------------------------------------------ */
int ikc_shm_attach(void *arena, size_t size, int node)
{
    if (!ikc_shm__arena_ok(arena, size) || node < 0 || node >= IKC_SHM__NODES)
        return IKC_SHM__E(EINVAL);
    ikc_shm__ids_clear();
    ikc_shm__arena = (struct ikc_shm__arena *)arena;
    ikc_shm__self = node;
    ikc_shm_reset_node(node);
    return 0;
}

int ikc_shm_monitor(void *arena, size_t size)
{
    if (!ikc_shm__arena_ok(arena, size)) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_clear();
    ikc_shm__arena = (struct ikc_shm__arena *)arena;
    ikc_shm__self = -1;
    return 0;
}

void ikc_shm_detach(void)
{
    ikc_shm__ids_clear();
    ikc_shm__arena = NULL;
    ikc_shm__self = -1;
}

int ikc_shm_self(void)
{
    return ikc_shm__self;
}

/* Empty a node's IKC state. The counters, the doorbell and the fault switch
 * stay. */
void ikc_shm_reset_node(int n)
{
    struct ikc_shm__node *nd;
    int p;
    if (ikc_shm__arena == NULL || n < 0 || n >= IKC_SHM__NODES) return;
    nd = ikc_shm__node(n);
    for (p = 0; p < IKC_SHM__PORTS; p++) {
        struct ikc_shm__mailbox *m = &nd->mailbox[p];
        struct ikc_shm__portal *q = &nd->portal[p];
        ikc_shm__lock(&m->lock);
        m->created = 0;
        m->head = 0;
        m->count = 0;
        ikc_shm__unlock(&m->lock);
        ikc_shm__lock(&q->lock);
        q->created = 0;
        q->allowed = 0;
        q->full = 0;
        ikc_shm__unlock(&q->lock);
    }
}

void ikc_shm_counters(int node, ikc_shm_counters_t *c)
{
    uint64_t v[IKC_SHM__COUNTERS];
    int i;
    if (c == NULL) return;
    ikc_shm__zero(c, sizeof *c);
    if (ikc_shm__arena == NULL || node < 0 || node >= IKC_SHM__NODES) return;
    {
        struct ikc_shm__node *nd = ikc_shm__node(node);
#ifdef IKC_SHM__ATOMIC64
        for (i = 0; i < IKC_SHM__COUNTERS; i++)
            v[i] = __atomic_load_n(&nd->counters[i], __ATOMIC_RELAXED);
#else
        ikc_shm__lock(&nd->counters_lock);
        for (i = 0; i < IKC_SHM__COUNTERS; i++) v[i] = nd->counters[i];
        ikc_shm__unlock(&nd->counters_lock);
#endif
    }
    c->mailbox_sent = v[IKC_SHM__MAILBOX_SENT];
    c->mailbox_received = v[IKC_SHM__MAILBOX_RECEIVED];
    c->portal_sent = v[IKC_SHM__PORTAL_SENT];
    c->portal_received = v[IKC_SHM__PORTAL_RECEIVED];
    c->portal_bytes_sent = v[IKC_SHM__PORTAL_BYTES_SENT];
    c->portal_bytes_received = v[IKC_SHM__PORTAL_BYTES_RECEIVED];
    c->allows = v[IKC_SHM__ALLOWS];
}

void ikc_shm_reset_counters(void)
{
    int n, i;
    if (ikc_shm__arena == NULL) return;
    for (n = 0; n < IKC_SHM__NODES; n++) {
        struct ikc_shm__node *nd = ikc_shm__node(n);
#ifdef IKC_SHM__ATOMIC64
        for (i = 0; i < IKC_SHM__COUNTERS; i++)
            __atomic_store_n(&nd->counters[i], 0, __ATOMIC_RELAXED);
#else
        ikc_shm__lock(&nd->counters_lock);
        for (i = 0; i < IKC_SHM__COUNTERS; i++) nd->counters[i] = 0;
        ikc_shm__unlock(&nd->counters_lock);
#endif
    }
}

void ikc_shm_corrupt_next_piece(int dst_node)
{
    if (ikc_shm__arena == NULL || dst_node < 0 || dst_node >= IKC_SHM__NODES) return;
    __atomic_store_n(&ikc_shm__node(dst_node)->corrupt, 1u, __ATOMIC_RELEASE);
}

/* ---- Nodes ---------------------------------------------------------------------- */
int knode_get_num(void)
{
    return ikc_shm__self;
}

/* ---- Mailboxes ------------------------------------------------------------------ */
int kmailbox_create(int local, int port)
{
    struct ikc_shm__mailbox *m;
    int id;
    if (!ikc_shm__in_cluster() || local != ikc_shm__self || !ikc_shm__valid(local, port))
        return IKC_SHM__E(EINVAL);
    m = &ikc_shm__node(local)->mailbox[port];
    ikc_shm__ids_lock();
    id = ikc_shm__id_take(ikc_shm__mailbox_ids);
    if (id >= 0) {
        ikc_shm__lock(&m->lock);
        if (m->created) {
            ikc_shm__unlock(&m->lock);
            ikc_shm__mailbox_ids[id].used = 0;
            id = IKC_SHM__E(EBUSY);
        } else {
            m->created = 1;
            m->head = 0;
            m->count = 0;
            ikc_shm__unlock(&m->lock);
            ikc_shm__mailbox_ids[id].input = 1;
            ikc_shm__mailbox_ids[id].node = local;
            ikc_shm__mailbox_ids[id].port = port;
        }
    }
    ikc_shm__ids_unlock();
    return id;
}

int kmailbox_open(int remote, int remote_port)
{
    int id;
    if (!ikc_shm__in_cluster() || !ikc_shm__valid(remote, remote_port)) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    id = ikc_shm__id_take(ikc_shm__mailbox_ids);
    if (id >= 0) {
        ikc_shm__mailbox_ids[id].input = 0;
        ikc_shm__mailbox_ids[id].node = remote;
        ikc_shm__mailbox_ids[id].port = remote_port;
    }
    ikc_shm__ids_unlock();
    return id;
}

int kmailbox_unlink(int mbxid)
{
    int rc = 0;
    if (mbxid < 0 || mbxid >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!ikc_shm__mailbox_ids[mbxid].used || !ikc_shm__mailbox_ids[mbxid].input) {
        rc = IKC_SHM__E(EBADF);
    } else {
        struct ikc_shm__id *e = &ikc_shm__mailbox_ids[mbxid];
        struct ikc_shm__mailbox *m = &ikc_shm__node(e->node)->mailbox[e->port];
        ikc_shm__lock(&m->lock);
        if (m->count != 0) rc = IKC_SHM__E(EBUSY);
        else m->created = 0;
        ikc_shm__unlock(&m->lock);
        if (rc == 0) e->used = 0;
    }
    ikc_shm__ids_unlock();
    return rc;
}

int kmailbox_close(int mbxid)
{
    int rc = 0;
    if (mbxid < 0 || mbxid >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!ikc_shm__mailbox_ids[mbxid].used || ikc_shm__mailbox_ids[mbxid].input)
        rc = IKC_SHM__E(EBADF);
    else ikc_shm__mailbox_ids[mbxid].used = 0;
    ikc_shm__ids_unlock();
    return rc;
}

uarea_mppa256_ssize_t __kmailbox_awrite(int mbxid, const void *buffer, size_t size)
{
    struct ikc_shm__id e;
    struct ikc_shm__mailbox *m;
    struct ikc_shm__msg *msg;
    int rc;
    if (mbxid < 0 || mbxid >= IKC_SHM__IDS || buffer == NULL || size == 0 || size > IKC_SHM__MSG)
        return IKC_SHM__E(EINVAL);
    if ((rc = ikc_shm__id_get(ikc_shm__mailbox_ids, mbxid, 0, &e)) < 0) return rc;
    m = &ikc_shm__node(e.node)->mailbox[e.port];
    ikc_shm__lock(&m->lock);
    if (!m->created || m->count == IKC_SHM_MAILBOX_QUEUE) {
        ikc_shm__unlock(&m->lock);
        ikc_shm__id_started(ikc_shm__mailbox_ids, mbxid, 0);
        IKC_SHM_YIELD();
        return IKC_SHM__E(EAGAIN);
    }
    msg = &m->q[(m->head + m->count) % IKC_SHM_MAILBOX_QUEUE];
    msg->src = ikc_shm__self;
    msg->size = (uint32_t)size;
    ikc_shm__copy(msg->data, buffer, size);
    ikc_shm__zero(msg->data + size, IKC_SHM__MSG - size);
    m->count++;
    ikc_shm__unlock(&m->lock);
    ikc_shm__count(IKC_SHM__MAILBOX_SENT, 1);
    ikc_shm__ring(e.node);
    ikc_shm__id_started(ikc_shm__mailbox_ids, mbxid, 1);
    return (uarea_mppa256_ssize_t)size;
}

uarea_mppa256_ssize_t __kmailbox_aread(int mbxid, void *buffer, size_t size)
{
    struct ikc_shm__id e;
    struct ikc_shm__mailbox *m;
    int rc, attempt;
    if (mbxid < 0 || mbxid >= IKC_SHM__IDS || buffer == NULL || size == 0 || size > IKC_SHM__MSG)
        return IKC_SHM__E(EINVAL);
    if ((rc = ikc_shm__id_get(ikc_shm__mailbox_ids, mbxid, 1, &e)) < 0) return rc;
    m = &ikc_shm__node(e.node)->mailbox[e.port];
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = ikc_shm__bell();
        ikc_shm__lock(&m->lock);
        if (m->count != 0) {
            ikc_shm__copy(buffer, m->q[m->head].data, size);
            m->head = (m->head + 1) % IKC_SHM_MAILBOX_QUEUE;
            m->count--;
            ikc_shm__unlock(&m->lock);
            ikc_shm__count(IKC_SHM__MAILBOX_RECEIVED, 1);
            ikc_shm__id_started(ikc_shm__mailbox_ids, mbxid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        ikc_shm__unlock(&m->lock);
        if (attempt == 0) ikc_shm__doze(bell);
    }
    ikc_shm__id_started(ikc_shm__mailbox_ids, mbxid, 0);
    return IKC_SHM__E(ENOMSG);
}

int kmailbox_wait(int mbxid)
{
    return ikc_shm__id_wait(ikc_shm__mailbox_ids, mbxid);
}

/* ---- Portals -------------------------------------------------------------------- */
int kportal_create(int local, int local_port)
{
    struct ikc_shm__portal *q;
    int id;
    if (!ikc_shm__in_cluster() || local != ikc_shm__self || !ikc_shm__valid(local, local_port))
        return IKC_SHM__E(EINVAL);
    q = &ikc_shm__node(local)->portal[local_port];
    ikc_shm__ids_lock();
    id = ikc_shm__id_take(ikc_shm__portal_ids);
    if (id >= 0) {
        ikc_shm__lock(&q->lock);
        if (q->created) {
            ikc_shm__unlock(&q->lock);
            ikc_shm__portal_ids[id].used = 0;
            id = IKC_SHM__E(EBUSY);
        } else {
            q->created = 1;
            q->allowed = 0;
            q->full = 0;
            ikc_shm__unlock(&q->lock);
            ikc_shm__portal_ids[id].input = 1;
            ikc_shm__portal_ids[id].node = local;
            ikc_shm__portal_ids[id].port = local_port;
        }
    }
    ikc_shm__ids_unlock();
    return id;
}

int kportal_allow(int portalid, int remote, int remote_port)
{
    struct ikc_shm__id e;
    struct ikc_shm__portal *q;
    int rc;
    if (portalid < 0 || portalid >= IKC_SHM__IDS || !ikc_shm__valid(remote, remote_port))
        return IKC_SHM__E(EINVAL);
    if ((rc = ikc_shm__id_get(ikc_shm__portal_ids, portalid, 1, &e)) < 0) return rc;
    q = &ikc_shm__node(e.node)->portal[e.port];
    ikc_shm__lock(&q->lock);
    if (q->allowed) {
        ikc_shm__unlock(&q->lock);
        return IKC_SHM__E(EBUSY);
    }
    q->allowed = 1;
    q->allow_node = remote;
    q->allow_port = remote_port;
    ikc_shm__unlock(&q->lock);
    ikc_shm__count(IKC_SHM__ALLOWS, 1);
    ikc_shm__ring(remote);
    return 0;
}

int kportal_open(int local, int remote, int remote_port)
{
    uint32_t used = 0;
    int id, i, lport;
    if (!ikc_shm__in_cluster() || local != ikc_shm__self || !ikc_shm__valid(remote, remote_port))
        return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    for (i = 0; i < IKC_SHM__IDS; i++) {
        const struct ikc_shm__id *e = &ikc_shm__portal_ids[i];
        if (e->used && !e->input && e->node == remote) used |= (uint32_t)1u << e->lport;
    }
    for (lport = 0; lport < IKC_SHM__PORTS && (used >> lport & 1u); lport++) {}
    if (lport == IKC_SHM__PORTS) id = IKC_SHM__E(EAGAIN);
    else id = ikc_shm__id_take(ikc_shm__portal_ids);
    if (id >= 0) {
        ikc_shm__portal_ids[id].input = 0;
        ikc_shm__portal_ids[id].node = remote;
        ikc_shm__portal_ids[id].port = remote_port;
        ikc_shm__portal_ids[id].lport = lport;
    }
    ikc_shm__ids_unlock();
    return id;
}

int kportal_unlink(int portalid)
{
    int rc = 0;
    if (portalid < 0 || portalid >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!ikc_shm__portal_ids[portalid].used || !ikc_shm__portal_ids[portalid].input) {
        rc = IKC_SHM__E(EBADF);
    } else {
        struct ikc_shm__id *e = &ikc_shm__portal_ids[portalid];
        struct ikc_shm__portal *q = &ikc_shm__node(e->node)->portal[e->port];
        ikc_shm__lock(&q->lock);
        if (q->full) {
            rc = IKC_SHM__E(EBUSY);
        } else {
            q->created = 0;
            q->allowed = 0;
        }
        ikc_shm__unlock(&q->lock);
        if (rc == 0) e->used = 0;
    }
    ikc_shm__ids_unlock();
    return rc;
}

int kportal_close(int portalid)
{
    int rc = 0;
    if (portalid < 0 || portalid >= IKC_SHM__IDS) return IKC_SHM__E(EINVAL);
    ikc_shm__ids_lock();
    if (!ikc_shm__portal_ids[portalid].used || ikc_shm__portal_ids[portalid].input)
        rc = IKC_SHM__E(EBADF);
    else ikc_shm__portal_ids[portalid].used = 0;
    ikc_shm__ids_unlock();
    return rc;
}

uarea_mppa256_ssize_t __kportal_aread(int portalid, void *buffer, size_t size)
{
    struct ikc_shm__id e;
    struct ikc_shm__portal *q;
    int rc, attempt;
    if (portalid < 0 || portalid >= IKC_SHM__IDS || buffer == NULL || size == 0 ||
        size > IKC_SHM__PIECE)
        return IKC_SHM__E(EINVAL);
    if ((rc = ikc_shm__id_get(ikc_shm__portal_ids, portalid, 1, &e)) < 0) return rc;
    q = &ikc_shm__node(e.node)->portal[e.port];
    ikc_shm__id_started(ikc_shm__portal_ids, portalid, 0);
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = ikc_shm__bell();
        ikc_shm__lock(&q->lock);
        if (!q->allowed) {
            ikc_shm__unlock(&q->lock);
            return IKC_SHM__E(EACCES);
        }
        if (q->full) {
            if (q->size != size) {
                ikc_shm__unlock(&q->lock);
                return IKC_SHM__E(EINVAL);
            }
            ikc_shm__copy(buffer, q->data, size);
            q->full = 0;
            q->allowed = 0;
            ikc_shm__unlock(&q->lock);
            ikc_shm__count(IKC_SHM__PORTAL_RECEIVED, 1);
            ikc_shm__count(IKC_SHM__PORTAL_BYTES_RECEIVED, size);
            ikc_shm__id_started(ikc_shm__portal_ids, portalid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        ikc_shm__unlock(&q->lock);
        if (attempt == 0) ikc_shm__doze(bell);
    }
    return IKC_SHM__E(ENOMSG);
}

uarea_mppa256_ssize_t __kportal_awrite(int portalid, const void *buffer, size_t size)
{
    struct ikc_shm__id e;
    struct ikc_shm__node *dst;
    struct ikc_shm__portal *q;
    int rc, attempt;
    if (portalid < 0 || portalid >= IKC_SHM__IDS || buffer == NULL || size == 0 ||
        size > IKC_SHM__PIECE)
        return IKC_SHM__E(EINVAL);
    if ((rc = ikc_shm__id_get(ikc_shm__portal_ids, portalid, 0, &e)) < 0) return rc;
    dst = ikc_shm__node(e.node);
    q = &dst->portal[e.port];
    ikc_shm__id_started(ikc_shm__portal_ids, portalid, 0);
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = ikc_shm__bell();
        ikc_shm__lock(&q->lock);
        if (q->created && q->allowed && q->allow_node == ikc_shm__self && q->allow_port == e.lport) {
            if (q->full) {
                ikc_shm__unlock(&q->lock);
                IKC_SHM_YIELD();
                return IKC_SHM__E(EBUSY);
            }
            ikc_shm__copy(q->data, buffer, size);
            if (__atomic_exchange_n(&dst->corrupt, 0u, __ATOMIC_ACQ_REL) != 0)
                q->data[size / 2] ^= 0xffu;
            q->size = (uint32_t)size;
            q->src_node = ikc_shm__self;
            q->src_port = e.lport;
            q->full = 1;
            ikc_shm__unlock(&q->lock);
            ikc_shm__count(IKC_SHM__PORTAL_SENT, 1);
            ikc_shm__count(IKC_SHM__PORTAL_BYTES_SENT, size);
            ikc_shm__ring(e.node);
            ikc_shm__id_started(ikc_shm__portal_ids, portalid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        ikc_shm__unlock(&q->lock);
        if (attempt == 0) ikc_shm__doze(bell);
    }
    return IKC_SHM__E(EACCES);
}

int kportal_wait(int portalid)
{
    return ikc_shm__id_wait(ikc_shm__portal_ids, portalid);
}

#endif /* IKC_SHM_IMPLEMENTATION */
