/*
 * nanvix_model.h - a host model of the MPPA-256 under Nanvix: the calls of
 * uarea_mppa256/nanvix.h, implemented on Linux with the chip's limits, so that
 * the port's code above them runs unchanged on a host.
 *
 * Header-only: the declarations always; the implementation when
 * UAREA_MPPA256_MODEL_IMPLEMENTATION is defined, in exactly one translation
 * unit of the program. A host tool: it uses libc, POSIX threads, mmap, fork
 * and futexes (Linux). Include it before any libc header, or build with
 * _GNU_SOURCE defined (it defines _GNU_SOURCE itself when it comes first).
 *
 * The model
 * ---------
 * The chip has 24 NoC nodes (0..7 I/O, 8..23 compute). A *booted* cluster is
 * a process forked from the one that calls mppa_model_boot(), so that every
 * cluster has private memory at the same addresses, as on the chip; its cores
 * are threads of that process. All IKC state (the input mailboxes and portals
 * of every node, counters, doorbells) lives in one shared arena mapped by
 * mppa_model_init() before any boot and inherited by every cluster. Ids
 * (mailbox and portal ids, 0..63 each) belong to the process that made them.
 *
 * Model API (host errors are negated errno values):
 *
 *   int mppa_model_init(void)
 *       In the process that boots clusters, before the first boot: maps the
 *       shared arena. 0, or -errno. Later calls (and calls in a process that
 *       inherited the arena) return 0 and change nothing.
 *   long mppa_model_boot(int nodenum, void (*master)(void))
 *       Forks a cluster process for node `nodenum` and returns its pid. In the
 *       child: knode_get_num() == nodenum, the calling thread is core 0, the
 *       node's IKC state starts empty, master() runs, then the process flushes
 *       stdio, marks itself ended and _exits with status 0 (master may end
 *       earlier with mppa_model_exit(status) or exit(status)). Cores still
 *       running when master returns end with the process: join them first
 *       (mppa_model_core_join). The child dies with SIGKILL when the thread
 *       that booted it ends (PR_SET_PDEATHSIG), so a cluster never outlives
 *       its launcher. -EINVAL: no arena, nodenum outside 0..23 or master NULL;
 *       -EBUSY: that node's previous process is still starting or running.
 *   void mppa_model_exit(int status)
 *       In a cluster: flush stdio, mark the node ended, _exit(status).
 *   int mppa_model_booted(int nodenum)
 *       1 while that node's process has booted (master is running) and not
 *       ended, else 0. A process marks itself ended when it exits normally;
 *       one killed by a signal is seen as ended by its parent (this call or
 *       mppa_model_wait), and by other processes once its parent reaped it.
 *   int mppa_model_wait(long pid, int timeout_ms)
 *       Reaps a cluster process (a child of the caller): its exit status
 *       (0..255), or 128 + signo when a signal killed it, or -ETIMEDOUT when
 *       it has not ended within timeout_ms (it is then killed with SIGKILL and
 *       reaped); timeout_ms < 0 waits without limit. -EINVAL for pid <= 0,
 *       -ECHILD when pid is not a child of the caller. The node is marked
 *       ended and its IKC state emptied.
 *   void mppa_model_stats(int nodenum, mppa_model_counters *c)
 *       The node's counters (all zero for a bad node or without an arena):
 *       mailbox_sent / mailbox_received (messages the node wrote / read),
 *       portal_sent / portal_received (pieces), portal_bytes_sent /
 *       portal_bytes_received, allows (kportal_allow calls that succeeded on
 *       the node). A message or piece counts as sent when the write try
 *       succeeds (it is then in the receiver's queue or slot), as received
 *       when a read try takes it.
 *   void mppa_model_reset_stats(void)
 *       Zeroes every node's counters.
 *   void mppa_model_corrupt_next_piece(int dst_node)
 *       Fault switch: the next portal piece delivered to dst_node has one
 *       byte inverted (the byte at offset size / 2, XOR 0xff). The switch is
 *       kept in the arena and consumed by that delivery; set it before or
 *       after the receiver boots. No effect for a bad node.
 *   int mppa_model_core_join(int coreid)
 *       Waits until a core started with core_start() has ended, and frees it.
 *       0, or -EINVAL (coreid outside 1..15, or no core started on it).
 *   int mppa_model_interrupts_enabled(void)
 *       1 when the calling core's interrupts are enabled (the nesting count
 *       of interrupts_disable() not yet matched by interrupts_enable() is 0).
 *
 * The Nanvix calls (declared in uarea_mppa256/nanvix.h) return the negated
 * UAREA_MPPA256_E* values. Where nanvix.h leaves a choice, the model does:
 *
 * Processes. The IKC calls work only in a booted cluster: elsewhere (the
 * launcher, knode_get_num() == -1) create/open return -EINVAL. A node may
 * open its own mailboxes and portals (remote == knode_get_num()): the data
 * goes through the arena like any other.
 *
 * Ids. kmailbox_create/open and kportal_create/open return ids 0..63 (64 per
 * kind and per node, input and output sharing them); -EAGAIN when none is
 * left. Any call on an id outside 0..63 is -EINVAL; on an id not in use, or
 * of the wrong direction (a read or allow on an output id, a write on an
 * input one, unlink of an output id, close of an input id), -EBADF. The
 * arguments (node 0..23, port 0..31, buffer not NULL, size) are checked
 * before the id's state: a bad argument is -EINVAL even on a wrong id.
 * create: local must be this node and port 0..31 (-EINVAL); a port already
 * created on this node (per kind) is -EBUSY.
 *
 * Mailboxes. Each input mailbox queues up to MPPA_MODEL_MAILBOX_QUEUE (32)
 * messages. A message is a fixed 128-byte frame: the writer's 1..128 bytes,
 * zeros after them, with a model header (source node, size). A write try
 * copies it into the destination's queue at once and returns the size; when
 * the destination mailbox is not created (yet) or its queue is full, it
 * returns -EAGAIN (after sched_yield(); a later try may succeed). A read try
 * takes the oldest message and copies the first `size` bytes of its frame
 * (the rest of the frame is dropped; bytes past what the writer wrote read as
 * zeros) and returns size. With no message queued it first sleeps on this
 * node's doorbell for at most MPPA_MODEL_DOORBELL_NS (50 us), looks again,
 * then returns -ENOMSG. Messages from one sender to one mailbox arrive in the
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
 * sleeping up to 50 us on this node's doorbell for the allow and looking
 * again); -EBUSY (after sched_yield()) when its previous piece still waits
 * in the slot. A read try: -EACCES without a pending allow; -ENOMSG while the
 * allowed piece has not come (after up to 50 us on the doorbell); -EINVAL
 * when `size` differs from the piece's size (the piece stays); otherwise it
 * copies the piece, empties the slot, consumes the allow (each piece needs
 * its own) and returns size. unlink with a piece in the slot is -EBUSY.
 *
 * wait. A try that returned >= 0 starts an operation, already complete in
 * the model: kmailbox_wait/kportal_wait on that id return 0 and end it (never
 * > 0). Without a started operation (none yet, or already waited for, or the
 * last try failed) they return -EBADF, as Nanvix does for an id with no
 * asynchronous operation.
 *
 * Doorbells. Each node has a 32-bit counter in the arena, bumped (and woken
 * with a shared futex) on every message and piece delivered to the node and
 * every allow naming it. Tries that find nothing sleep on it briefly so that
 * a polling cluster does not spin a host CPU.
 *
 * Locks. Each mailbox and portal port has a spin lock in the arena holding
 * the owner's pid; a waiter takes over a lock whose owner process no longer
 * exists (ended and reaped), so a cluster killed in the middle of a call does
 * not stop the others for longer than its launcher takes to reap it.
 *
 * Cores. core_get_id(): 0 for a cluster's main thread, the id given to
 * core_start() for its cores, -1 for any other thread. core_start(coreid,
 * fn): coreid 1..15 and fn not NULL (else -EINVAL); -EBUSY while that core
 * runs; -EAGAIN when no thread can be made. The core runs fn and ends.
 * event_notify(coreid) / event_wait() work as Nanvix's HAL: each core has one
 * pending bit per notifying core; a notify sets the caller's bit (threads
 * that are not cores share one extra bit), a wait sleeps until a bit is set
 * and clears the lowest. So a notify sent before the wait is kept; two
 * notifies from the same core before a wait count once. event_notify with a
 * coreid outside 0..15 does nothing; event_wait in a thread that is not a
 * core returns at once. interrupts_disable/enable nest per thread (the model
 * has no interrupts). clock_read(): CLOCK_MONOTONIC in 400 MHz cycles.
 * kprintf(): one line on stderr, "[node N] " first (N = knode_get_num()), a
 * newline added when missing, at most 511 bytes, in one write(2).
 */
#ifndef UAREA_MPPA256_NANVIX_MODEL_H
#define UAREA_MPPA256_NANVIX_MODEL_H

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE 1
#endif

#include <uarea_mppa256/nanvix.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPPA_MODEL_MAILBOX_QUEUE 32  /* messages queued per input mailbox */
#define MPPA_MODEL_DOORBELL_NS 50000 /* longest sleep of a try that finds nothing */

/* Counters of one node (mppa_model_stats). */
typedef struct mppa_model_counters {
    uint64_t mailbox_sent;          /* messages written (accepted by a queue) */
    uint64_t mailbox_received;      /* messages read */
    uint64_t portal_sent;           /* pieces written (deposited in a slot) */
    uint64_t portal_received;       /* pieces read */
    uint64_t portal_bytes_sent;     /* bytes of those pieces */
    uint64_t portal_bytes_received;
    uint64_t allows;                /* successful kportal_allow calls */
} mppa_model_counters;

int mppa_model_init(void);
long mppa_model_boot(int nodenum, void (*master)(void));
void mppa_model_exit(int status);
int mppa_model_booted(int nodenum);
int mppa_model_wait(long pid, int timeout_ms);
void mppa_model_stats(int nodenum, mppa_model_counters *c);
void mppa_model_reset_stats(void);
void mppa_model_corrupt_next_piece(int dst_node);
int mppa_model_core_join(int coreid);
int mppa_model_interrupts_enabled(void);

#if defined(__GNUC__)
/* kprintf checks its format in the model's programs */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif

#ifdef __cplusplus
}
#endif

#endif /* UAREA_MPPA256_NANVIX_MODEL_H */

/* ========================================================================== */
#if defined(UAREA_MPPA256_MODEL_IMPLEMENTATION) && !defined(MPPA_MODEL__IMPLEMENTED)
#define MPPA_MODEL__IMPLEMENTED

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#if defined(__GLIBC__) && !defined(__USE_GNU)
#  error "nanvix_model.h needs _GNU_SOURCE: include it before any libc header, or define _GNU_SOURCE"
#endif

#define MPPA_MODEL__E(x) (-(UAREA_MPPA256_##x))
#define MPPA_MODEL__NODES UAREA_MPPA256_NODES
#define MPPA_MODEL__PORTS UAREA_MPPA256_PORTS
#define MPPA_MODEL__IDS 64
#define MPPA_MODEL__MSG UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE
#define MPPA_MODEL__PIECE UAREA_MPPA256_KPORTAL_PIECE
#define MPPA_MODEL__CORES UAREA_MPPA256_CORES

#if UAREA_MPPA256_KMAILBOX_MAX != MPPA_MODEL__IDS || UAREA_MPPA256_KPORTAL_MAX != MPPA_MODEL__IDS
#  error "the model keeps 64 ids per kind"
#endif

/* ---- The shared arena ------------------------------------------------------ */
enum { MPPA_MODEL__FREE, MPPA_MODEL__STARTING, MPPA_MODEL__RUNNING, MPPA_MODEL__ENDED };

struct mppa_model__msg {
    int32_t src;                     /* sending node */
    uint32_t size;                   /* bytes the writer wrote */
    unsigned char data[MPPA_MODEL__MSG];
};

struct mppa_model__mailbox {
    uint32_t lock;                   /* owner pid, 0: free */
    uint32_t created;
    uint32_t head;                   /* oldest message */
    uint32_t count;                  /* messages queued */
    struct mppa_model__msg q[MPPA_MODEL_MAILBOX_QUEUE];
};

struct mppa_model__portal {
    uint32_t lock;
    uint32_t created;
    uint32_t allowed;                /* an allow is pending */
    int32_t allow_node, allow_port;  /* the sender it names */
    uint32_t full;                   /* a piece waits in the slot */
    uint32_t size;
    int32_t src_node, src_port;
    unsigned char data[MPPA_MODEL__PIECE];
};

struct mppa_model__node {
    uint32_t doorbell;               /* bumped on every delivery to the node */
    uint32_t sleepers;               /* tries sleeping on it */
    uint32_t state;                  /* MPPA_MODEL__FREE.. */
    int32_t pid;
    uint32_t corrupt;                /* fault switch for the next piece */
    mppa_model_counters counters;
    struct mppa_model__mailbox mailbox[MPPA_MODEL__PORTS];
    struct mppa_model__portal portal[MPPA_MODEL__PORTS];
};

struct mppa_model__arena {
    struct mppa_model__node node[MPPA_MODEL__NODES];
};

/* ---- Per-process state ------------------------------------------------------ */
struct mppa_model__id {
    unsigned char used, input, started;
    int node;                        /* input: this node; output: the remote */
    int port;                        /* input: local port; output: remote port */
    int lport;                       /* output portal: its own port */
};

struct mppa_model__core {
    uint32_t state;                  /* 0 free, 1 running, 2 ended (not joined) */
    pthread_t thread;
    void (*fn)(void);
};

static struct mppa_model__arena *mppa_model__arena;
static int mppa_model__self = -1;
static struct mppa_model__id mppa_model__mailbox_ids[MPPA_MODEL__IDS];
static struct mppa_model__id mppa_model__portal_ids[MPPA_MODEL__IDS];
static pthread_mutex_t mppa_model__ids_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mppa_model__core mppa_model__cores[MPPA_MODEL__CORES];
static pthread_mutex_t mppa_model__cores_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t mppa_model__events[MPPA_MODEL__CORES];  /* pending bits per core */
static _Thread_local int mppa_model__core_id = -1;
static _Thread_local int mppa_model__irq_off;
static int mppa_model__atexit_set;

/* ---- Helpers ------------------------------------------------------------------ */
static long mppa_model__futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

static void mppa_model__lock(uint32_t *l)
{
    uint32_t me = (uint32_t)getpid();
    unsigned spins = 0;
    for (;;) {
        uint32_t seen = 0;
        if (__atomic_compare_exchange_n(l, &seen, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        if (++spins % 64 != 0) continue;
        sched_yield();
        /* the owner process is gone: take the lock over */
        if (spins % 1024 == 0 && seen != me && kill((pid_t)seen, 0) == -1 && errno == ESRCH &&
            __atomic_compare_exchange_n(l, &seen, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
}

static void mppa_model__unlock(uint32_t *l)
{
    __atomic_store_n(l, 0u, __ATOMIC_RELEASE);
}

static struct mppa_model__node *mppa_model__node(int n)
{
    return &mppa_model__arena->node[n];
}

static void mppa_model__count(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* Ring node n's doorbell: a delivery or an allow that concerns it. */
static void mppa_model__ring(int n)
{
    struct mppa_model__node *nd = mppa_model__node(n);
    __atomic_fetch_add(&nd->doorbell, 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&nd->sleepers, __ATOMIC_SEQ_CST) != 0)
        mppa_model__futex(&nd->doorbell, FUTEX_WAKE, INT_MAX, NULL);
}

static uint32_t mppa_model__bell(void)
{
    return __atomic_load_n(&mppa_model__node(mppa_model__self)->doorbell, __ATOMIC_SEQ_CST);
}

/* Sleep on this node's doorbell while it still reads `seen`, at most 50 us. */
static void mppa_model__doze(uint32_t seen)
{
    struct mppa_model__node *nd = mppa_model__node(mppa_model__self);
    struct timespec ts = {0, MPPA_MODEL_DOORBELL_NS};
    __atomic_fetch_add(&nd->sleepers, 1u, __ATOMIC_SEQ_CST);
    mppa_model__futex(&nd->doorbell, FUTEX_WAIT, seen, &ts);
    __atomic_fetch_sub(&nd->sleepers, 1u, __ATOMIC_SEQ_CST);
}

/* Empty a node's IKC state (boot, end). The counters and the fault switch
 * stay. */
static void mppa_model__node_reset(int n)
{
    struct mppa_model__node *nd = mppa_model__node(n);
    int p;
    for (p = 0; p < MPPA_MODEL__PORTS; p++) {
        struct mppa_model__mailbox *m = &nd->mailbox[p];
        struct mppa_model__portal *q = &nd->portal[p];
        mppa_model__lock(&m->lock);
        m->created = 0;
        m->head = 0;
        m->count = 0;
        mppa_model__unlock(&m->lock);
        mppa_model__lock(&q->lock);
        q->created = 0;
        q->allowed = 0;
        q->full = 0;
        mppa_model__unlock(&q->lock);
    }
}

/* The node process `pid` has ended: mark it so, once. */
static void mppa_model__ended(int n, long pid)
{
    struct mppa_model__node *nd = mppa_model__node(n);
    uint32_t st = __atomic_load_n(&nd->state, __ATOMIC_ACQUIRE);
    if ((long)__atomic_load_n(&nd->pid, __ATOMIC_ACQUIRE) != pid) return;
    if (st != MPPA_MODEL__STARTING && st != MPPA_MODEL__RUNNING) return;
    mppa_model__node_reset(n);
    __atomic_compare_exchange_n(&nd->state, &st, (uint32_t)MPPA_MODEL__ENDED, 0,
                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* 1 while node n's process is starting or running. Its parent also sees one
 * that died without marking itself ended (not reaped yet). */
static int mppa_model__alive(int n)
{
    struct mppa_model__node *nd = mppa_model__node(n);
    uint32_t st = __atomic_load_n(&nd->state, __ATOMIC_ACQUIRE);
    pid_t pid = (pid_t)__atomic_load_n(&nd->pid, __ATOMIC_ACQUIRE);
    siginfo_t si;
    if (st != MPPA_MODEL__STARTING && st != MPPA_MODEL__RUNNING) return 0;
    if (pid <= 0) return 1;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
        mppa_model__ended(n, (long)pid);
        return 0;
    }
    return 1;
}

/* This cluster ends: flush, empty its IKC state, mark it ended. */
static void mppa_model__finish(void)
{
    int n = mppa_model__self;
    fflush(NULL);
    if (n < 0 || mppa_model__arena == NULL) return;
    mppa_model__ended(n, (long)getpid());
}

static void mppa_model__atexit(void)
{
    mppa_model__finish();
}

/* Look an id up: copy it to *out. want: 1 input, 0 output, -1 either. */
static int mppa_model__id_get(struct mppa_model__id *tab, int id, int want, struct mppa_model__id *out)
{
    int rc = 0;
    if (id < 0 || id >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!tab[id].used || (want >= 0 && tab[id].input != want)) rc = MPPA_MODEL__E(EBADF);
    else *out = tab[id];
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

static void mppa_model__id_started(struct mppa_model__id *tab, int id, int started)
{
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (tab[id].used) tab[id].started = (unsigned char)started;
    pthread_mutex_unlock(&mppa_model__ids_lock);
}

/* A free id, taken (caller holds ids_lock); -EAGAIN when none. */
static int mppa_model__id_take(struct mppa_model__id *tab)
{
    int i;
    for (i = 0; i < MPPA_MODEL__IDS; i++)
        if (!tab[i].used) {
            memset(&tab[i], 0, sizeof tab[i]);
            tab[i].used = 1;
            return i;
        }
    return MPPA_MODEL__E(EAGAIN);
}

static int mppa_model__id_wait(struct mppa_model__id *tab, int id)
{
    int rc = 0;
    if (id < 0 || id >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!tab[id].used || !tab[id].started) rc = MPPA_MODEL__E(EBADF);
    else tab[id].started = 0;
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

static int mppa_model__valid(int node, int port)
{
    return node >= 0 && node < MPPA_MODEL__NODES && port >= 0 && port < MPPA_MODEL__PORTS;
}

static int mppa_model__in_cluster(void)
{
    return mppa_model__self >= 0 && mppa_model__arena != NULL;
}

/* ---- Model API ------------------------------------------------------------------ */
int mppa_model_init(void)
{
    void *p;
    if (mppa_model__arena != NULL) return 0;
    p = mmap(NULL, sizeof(struct mppa_model__arena), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -errno;
    mppa_model__arena = (struct mppa_model__arena *)p;
    return 0;
}

long mppa_model_boot(int nodenum, void (*master)(void))
{
    struct mppa_model__node *nd;
    uint32_t st;
    pid_t parent, pid;
    int i;
    if (mppa_model__arena == NULL || nodenum < 0 || nodenum >= MPPA_MODEL__NODES || master == NULL)
        return -EINVAL;
    nd = mppa_model__node(nodenum);
    if (mppa_model__alive(nodenum)) return -EBUSY;
    st = __atomic_load_n(&nd->state, __ATOMIC_ACQUIRE);
    if ((st != MPPA_MODEL__FREE && st != MPPA_MODEL__ENDED) ||
        !__atomic_compare_exchange_n(&nd->state, &st, (uint32_t)MPPA_MODEL__STARTING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return -EBUSY;
    __atomic_store_n(&nd->pid, 0, __ATOMIC_RELEASE);
    mppa_model__node_reset(nodenum);
    fflush(NULL);
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        int e = errno;
        __atomic_store_n(&nd->state, (uint32_t)MPPA_MODEL__FREE, __ATOMIC_RELEASE);
        return -e;
    }
    if (pid > 0) {
        __atomic_store_n(&nd->pid, (int32_t)pid, __ATOMIC_RELEASE);
        return (long)pid;
    }
    /* the cluster */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) raise(SIGKILL);
    pthread_mutex_init(&mppa_model__ids_lock, NULL);
    pthread_mutex_init(&mppa_model__cores_lock, NULL);
    memset(mppa_model__mailbox_ids, 0, sizeof mppa_model__mailbox_ids);
    memset(mppa_model__portal_ids, 0, sizeof mppa_model__portal_ids);
    for (i = 0; i < MPPA_MODEL__CORES; i++) {
        mppa_model__cores[i].state = 0;
        mppa_model__cores[i].fn = NULL;
        mppa_model__events[i] = 0;
    }
    mppa_model__self = nodenum;
    mppa_model__core_id = 0;
    mppa_model__irq_off = 0;
    if (!mppa_model__atexit_set) {
        mppa_model__atexit_set = 1;
        atexit(mppa_model__atexit);
    }
    __atomic_store_n(&nd->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    __atomic_store_n(&nd->state, (uint32_t)MPPA_MODEL__RUNNING, __ATOMIC_RELEASE);
    master();
    mppa_model_exit(0);
    return 0; /* not reached */
}

void mppa_model_exit(int status)
{
    mppa_model__finish();
    _exit(status);
}

int mppa_model_booted(int nodenum)
{
    if (mppa_model__arena == NULL || nodenum < 0 || nodenum >= MPPA_MODEL__NODES) return 0;
    if (__atomic_load_n(&mppa_model__node(nodenum)->state, __ATOMIC_ACQUIRE) != MPPA_MODEL__RUNNING)
        return 0;
    return mppa_model__alive(nodenum);
}

static int mppa_model__status(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

static void mppa_model__reaped(long pid)
{
    int n;
    if (mppa_model__arena == NULL) return;
    for (n = 0; n < MPPA_MODEL__NODES; n++) mppa_model__ended(n, pid);
}

int mppa_model_wait(long pid, int timeout_ms)
{
    struct timespec t0, t1;
    long nap_us = 50;
    int st = 0;
    if (pid <= 0) return -EINVAL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid((pid_t)pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == (pid_t)pid) {
            mppa_model__reaped(pid);
            return mppa_model__status(st);
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((long long)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec) >=
            (long long)timeout_ms * 1000000) {
            kill((pid_t)pid, SIGKILL);
            while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {}
            mppa_model__reaped(pid);
            return -ETIMEDOUT;
        }
        {
            struct timespec nap = {0, nap_us * 1000};
            nanosleep(&nap, NULL);
        }
        if (nap_us < 2000) nap_us *= 2;
    }
}

void mppa_model_stats(int nodenum, mppa_model_counters *c)
{
    mppa_model_counters *s;
    if (c == NULL) return;
    memset(c, 0, sizeof *c);
    if (mppa_model__arena == NULL || nodenum < 0 || nodenum >= MPPA_MODEL__NODES) return;
    s = &mppa_model__node(nodenum)->counters;
    c->mailbox_sent = __atomic_load_n(&s->mailbox_sent, __ATOMIC_RELAXED);
    c->mailbox_received = __atomic_load_n(&s->mailbox_received, __ATOMIC_RELAXED);
    c->portal_sent = __atomic_load_n(&s->portal_sent, __ATOMIC_RELAXED);
    c->portal_received = __atomic_load_n(&s->portal_received, __ATOMIC_RELAXED);
    c->portal_bytes_sent = __atomic_load_n(&s->portal_bytes_sent, __ATOMIC_RELAXED);
    c->portal_bytes_received = __atomic_load_n(&s->portal_bytes_received, __ATOMIC_RELAXED);
    c->allows = __atomic_load_n(&s->allows, __ATOMIC_RELAXED);
}

void mppa_model_reset_stats(void)
{
    int n;
    if (mppa_model__arena == NULL) return;
    for (n = 0; n < MPPA_MODEL__NODES; n++) {
        mppa_model_counters *s = &mppa_model__node(n)->counters;
        __atomic_store_n(&s->mailbox_sent, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->mailbox_received, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->portal_sent, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->portal_received, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->portal_bytes_sent, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->portal_bytes_received, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->allows, 0, __ATOMIC_RELAXED);
    }
}

void mppa_model_corrupt_next_piece(int dst_node)
{
    if (mppa_model__arena == NULL || dst_node < 0 || dst_node >= MPPA_MODEL__NODES) return;
    __atomic_store_n(&mppa_model__node(dst_node)->corrupt, 1u, __ATOMIC_RELEASE);
}

/* ---- Nodes ---------------------------------------------------------------------- */
int knode_get_num(void)
{
    return mppa_model__self;
}

/* ---- Mailboxes ------------------------------------------------------------------ */
int kmailbox_create(int local, int port)
{
    struct mppa_model__mailbox *m;
    int id;
    if (!mppa_model__in_cluster() || local != mppa_model__self || !mppa_model__valid(local, port))
        return MPPA_MODEL__E(EINVAL);
    m = &mppa_model__node(local)->mailbox[port];
    pthread_mutex_lock(&mppa_model__ids_lock);
    id = mppa_model__id_take(mppa_model__mailbox_ids);
    if (id >= 0) {
        mppa_model__lock(&m->lock);
        if (m->created) {
            mppa_model__unlock(&m->lock);
            mppa_model__mailbox_ids[id].used = 0;
            id = MPPA_MODEL__E(EBUSY);
        } else {
            m->created = 1;
            m->head = 0;
            m->count = 0;
            mppa_model__unlock(&m->lock);
            mppa_model__mailbox_ids[id].input = 1;
            mppa_model__mailbox_ids[id].node = local;
            mppa_model__mailbox_ids[id].port = port;
        }
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return id;
}

int kmailbox_open(int remote, int remote_port)
{
    int id;
    if (!mppa_model__in_cluster() || !mppa_model__valid(remote, remote_port))
        return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    id = mppa_model__id_take(mppa_model__mailbox_ids);
    if (id >= 0) {
        mppa_model__mailbox_ids[id].input = 0;
        mppa_model__mailbox_ids[id].node = remote;
        mppa_model__mailbox_ids[id].port = remote_port;
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return id;
}

int kmailbox_unlink(int mbxid)
{
    int rc = 0;
    if (mbxid < 0 || mbxid >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!mppa_model__mailbox_ids[mbxid].used || !mppa_model__mailbox_ids[mbxid].input) {
        rc = MPPA_MODEL__E(EBADF);
    } else {
        struct mppa_model__id *e = &mppa_model__mailbox_ids[mbxid];
        struct mppa_model__mailbox *m = &mppa_model__node(e->node)->mailbox[e->port];
        mppa_model__lock(&m->lock);
        if (m->count != 0) rc = MPPA_MODEL__E(EBUSY);
        else m->created = 0;
        mppa_model__unlock(&m->lock);
        if (rc == 0) e->used = 0;
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

int kmailbox_close(int mbxid)
{
    int rc = 0;
    if (mbxid < 0 || mbxid >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!mppa_model__mailbox_ids[mbxid].used || mppa_model__mailbox_ids[mbxid].input)
        rc = MPPA_MODEL__E(EBADF);
    else mppa_model__mailbox_ids[mbxid].used = 0;
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

uarea_mppa256_ssize_t __kmailbox_awrite(int mbxid, const void *buffer, size_t size)
{
    struct mppa_model__id e;
    struct mppa_model__mailbox *m;
    struct mppa_model__msg *msg;
    int rc;
    if (mbxid < 0 || mbxid >= MPPA_MODEL__IDS || buffer == NULL || size == 0 || size > MPPA_MODEL__MSG)
        return MPPA_MODEL__E(EINVAL);
    if ((rc = mppa_model__id_get(mppa_model__mailbox_ids, mbxid, 0, &e)) < 0) return rc;
    m = &mppa_model__node(e.node)->mailbox[e.port];
    mppa_model__lock(&m->lock);
    if (!m->created || m->count == MPPA_MODEL_MAILBOX_QUEUE) {
        mppa_model__unlock(&m->lock);
        mppa_model__id_started(mppa_model__mailbox_ids, mbxid, 0);
        sched_yield();
        return MPPA_MODEL__E(EAGAIN);
    }
    msg = &m->q[(m->head + m->count) % MPPA_MODEL_MAILBOX_QUEUE];
    msg->src = mppa_model__self;
    msg->size = (uint32_t)size;
    memcpy(msg->data, buffer, size);
    memset(msg->data + size, 0, MPPA_MODEL__MSG - size);
    m->count++;
    mppa_model__unlock(&m->lock);
    mppa_model__count(&mppa_model__node(mppa_model__self)->counters.mailbox_sent, 1);
    mppa_model__ring(e.node);
    mppa_model__id_started(mppa_model__mailbox_ids, mbxid, 1);
    return (uarea_mppa256_ssize_t)size;
}

uarea_mppa256_ssize_t __kmailbox_aread(int mbxid, void *buffer, size_t size)
{
    struct mppa_model__id e;
    struct mppa_model__mailbox *m;
    int rc, attempt;
    if (mbxid < 0 || mbxid >= MPPA_MODEL__IDS || buffer == NULL || size == 0 || size > MPPA_MODEL__MSG)
        return MPPA_MODEL__E(EINVAL);
    if ((rc = mppa_model__id_get(mppa_model__mailbox_ids, mbxid, 1, &e)) < 0) return rc;
    m = &mppa_model__node(e.node)->mailbox[e.port];
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = mppa_model__bell();
        mppa_model__lock(&m->lock);
        if (m->count != 0) {
            memcpy(buffer, m->q[m->head].data, size);
            m->head = (m->head + 1) % MPPA_MODEL_MAILBOX_QUEUE;
            m->count--;
            mppa_model__unlock(&m->lock);
            mppa_model__count(&mppa_model__node(mppa_model__self)->counters.mailbox_received, 1);
            mppa_model__id_started(mppa_model__mailbox_ids, mbxid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        mppa_model__unlock(&m->lock);
        if (attempt == 0) mppa_model__doze(bell);
    }
    mppa_model__id_started(mppa_model__mailbox_ids, mbxid, 0);
    return MPPA_MODEL__E(ENOMSG);
}

int kmailbox_wait(int mbxid)
{
    return mppa_model__id_wait(mppa_model__mailbox_ids, mbxid);
}

/* ---- Portals -------------------------------------------------------------------- */
int kportal_create(int local, int local_port)
{
    struct mppa_model__portal *q;
    int id;
    if (!mppa_model__in_cluster() || local != mppa_model__self || !mppa_model__valid(local, local_port))
        return MPPA_MODEL__E(EINVAL);
    q = &mppa_model__node(local)->portal[local_port];
    pthread_mutex_lock(&mppa_model__ids_lock);
    id = mppa_model__id_take(mppa_model__portal_ids);
    if (id >= 0) {
        mppa_model__lock(&q->lock);
        if (q->created) {
            mppa_model__unlock(&q->lock);
            mppa_model__portal_ids[id].used = 0;
            id = MPPA_MODEL__E(EBUSY);
        } else {
            q->created = 1;
            q->allowed = 0;
            q->full = 0;
            mppa_model__unlock(&q->lock);
            mppa_model__portal_ids[id].input = 1;
            mppa_model__portal_ids[id].node = local;
            mppa_model__portal_ids[id].port = local_port;
        }
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return id;
}

int kportal_allow(int portalid, int remote, int remote_port)
{
    struct mppa_model__id e;
    struct mppa_model__portal *q;
    int rc;
    if (portalid < 0 || portalid >= MPPA_MODEL__IDS || !mppa_model__valid(remote, remote_port))
        return MPPA_MODEL__E(EINVAL);
    if ((rc = mppa_model__id_get(mppa_model__portal_ids, portalid, 1, &e)) < 0) return rc;
    q = &mppa_model__node(e.node)->portal[e.port];
    mppa_model__lock(&q->lock);
    if (q->allowed) {
        mppa_model__unlock(&q->lock);
        return MPPA_MODEL__E(EBUSY);
    }
    q->allowed = 1;
    q->allow_node = remote;
    q->allow_port = remote_port;
    mppa_model__unlock(&q->lock);
    mppa_model__count(&mppa_model__node(mppa_model__self)->counters.allows, 1);
    mppa_model__ring(remote);
    return 0;
}

int kportal_open(int local, int remote, int remote_port)
{
    unsigned used = 0;
    int id, i, lport;
    if (!mppa_model__in_cluster() || local != mppa_model__self || !mppa_model__valid(remote, remote_port))
        return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    for (i = 0; i < MPPA_MODEL__IDS; i++) {
        const struct mppa_model__id *e = &mppa_model__portal_ids[i];
        if (e->used && !e->input && e->node == remote) used |= 1u << e->lport;
    }
    for (lport = 0; lport < MPPA_MODEL__PORTS && (used >> lport & 1u); lport++) {}
    if (lport == MPPA_MODEL__PORTS) id = MPPA_MODEL__E(EAGAIN);
    else id = mppa_model__id_take(mppa_model__portal_ids);
    if (id >= 0) {
        mppa_model__portal_ids[id].input = 0;
        mppa_model__portal_ids[id].node = remote;
        mppa_model__portal_ids[id].port = remote_port;
        mppa_model__portal_ids[id].lport = lport;
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return id;
}

int kportal_unlink(int portalid)
{
    int rc = 0;
    if (portalid < 0 || portalid >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!mppa_model__portal_ids[portalid].used || !mppa_model__portal_ids[portalid].input) {
        rc = MPPA_MODEL__E(EBADF);
    } else {
        struct mppa_model__id *e = &mppa_model__portal_ids[portalid];
        struct mppa_model__portal *q = &mppa_model__node(e->node)->portal[e->port];
        mppa_model__lock(&q->lock);
        if (q->full) {
            rc = MPPA_MODEL__E(EBUSY);
        } else {
            q->created = 0;
            q->allowed = 0;
        }
        mppa_model__unlock(&q->lock);
        if (rc == 0) e->used = 0;
    }
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

int kportal_close(int portalid)
{
    int rc = 0;
    if (portalid < 0 || portalid >= MPPA_MODEL__IDS) return MPPA_MODEL__E(EINVAL);
    pthread_mutex_lock(&mppa_model__ids_lock);
    if (!mppa_model__portal_ids[portalid].used || mppa_model__portal_ids[portalid].input)
        rc = MPPA_MODEL__E(EBADF);
    else mppa_model__portal_ids[portalid].used = 0;
    pthread_mutex_unlock(&mppa_model__ids_lock);
    return rc;
}

uarea_mppa256_ssize_t __kportal_aread(int portalid, void *buffer, size_t size)
{
    struct mppa_model__id e;
    struct mppa_model__portal *q;
    int rc, attempt;
    if (portalid < 0 || portalid >= MPPA_MODEL__IDS || buffer == NULL || size == 0 ||
        size > MPPA_MODEL__PIECE)
        return MPPA_MODEL__E(EINVAL);
    if ((rc = mppa_model__id_get(mppa_model__portal_ids, portalid, 1, &e)) < 0) return rc;
    q = &mppa_model__node(e.node)->portal[e.port];
    mppa_model__id_started(mppa_model__portal_ids, portalid, 0);
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = mppa_model__bell();
        mppa_model__lock(&q->lock);
        if (!q->allowed) {
            mppa_model__unlock(&q->lock);
            return MPPA_MODEL__E(EACCES);
        }
        if (q->full) {
            if (q->size != size) {
                mppa_model__unlock(&q->lock);
                return MPPA_MODEL__E(EINVAL);
            }
            memcpy(buffer, q->data, size);
            q->full = 0;
            q->allowed = 0;
            mppa_model__unlock(&q->lock);
            mppa_model__count(&mppa_model__node(mppa_model__self)->counters.portal_received, 1);
            mppa_model__count(&mppa_model__node(mppa_model__self)->counters.portal_bytes_received, size);
            mppa_model__id_started(mppa_model__portal_ids, portalid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        mppa_model__unlock(&q->lock);
        if (attempt == 0) mppa_model__doze(bell);
    }
    return MPPA_MODEL__E(ENOMSG);
}

uarea_mppa256_ssize_t __kportal_awrite(int portalid, const void *buffer, size_t size)
{
    struct mppa_model__id e;
    struct mppa_model__node *dst;
    struct mppa_model__portal *q;
    int rc, attempt;
    if (portalid < 0 || portalid >= MPPA_MODEL__IDS || buffer == NULL || size == 0 ||
        size > MPPA_MODEL__PIECE)
        return MPPA_MODEL__E(EINVAL);
    if ((rc = mppa_model__id_get(mppa_model__portal_ids, portalid, 0, &e)) < 0) return rc;
    dst = mppa_model__node(e.node);
    q = &dst->portal[e.port];
    mppa_model__id_started(mppa_model__portal_ids, portalid, 0);
    for (attempt = 0; attempt < 2; attempt++) {
        uint32_t bell = mppa_model__bell();
        mppa_model__lock(&q->lock);
        if (q->created && q->allowed && q->allow_node == mppa_model__self && q->allow_port == e.lport) {
            if (q->full) {
                mppa_model__unlock(&q->lock);
                sched_yield();
                return MPPA_MODEL__E(EBUSY);
            }
            memcpy(q->data, buffer, size);
            if (__atomic_exchange_n(&dst->corrupt, 0u, __ATOMIC_ACQ_REL) != 0)
                q->data[size / 2] ^= 0xffu;
            q->size = (uint32_t)size;
            q->src_node = mppa_model__self;
            q->src_port = e.lport;
            q->full = 1;
            mppa_model__unlock(&q->lock);
            mppa_model__count(&mppa_model__node(mppa_model__self)->counters.portal_sent, 1);
            mppa_model__count(&mppa_model__node(mppa_model__self)->counters.portal_bytes_sent, size);
            mppa_model__ring(e.node);
            mppa_model__id_started(mppa_model__portal_ids, portalid, 1);
            return (uarea_mppa256_ssize_t)size;
        }
        mppa_model__unlock(&q->lock);
        if (attempt == 0) mppa_model__doze(bell);
    }
    return MPPA_MODEL__E(EACCES);
}

int kportal_wait(int portalid)
{
    return mppa_model__id_wait(mppa_model__portal_ids, portalid);
}

/* ---- Cores and events ------------------------------------------------------------ */
int core_get_id(void)
{
    return mppa_model__core_id;
}

static void *mppa_model__core_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    void (*fn)(void);
    pthread_mutex_lock(&mppa_model__cores_lock);
    fn = mppa_model__cores[id].fn;
    pthread_mutex_unlock(&mppa_model__cores_lock);
    mppa_model__core_id = id;
    mppa_model__irq_off = 0;
    fn();
    __atomic_store_n(&mppa_model__cores[id].state, 2u, __ATOMIC_RELEASE);
    return NULL;
}

int core_start(int coreid, void (*start)(void))
{
    struct mppa_model__core *c;
    int rc = 0;
    if (coreid < 1 || coreid >= MPPA_MODEL__CORES || start == NULL) return MPPA_MODEL__E(EINVAL);
    c = &mppa_model__cores[coreid];
    pthread_mutex_lock(&mppa_model__cores_lock);
    switch (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE)) {
    case 1:
        rc = MPPA_MODEL__E(EBUSY);
        break;
    case 2: /* ended, not joined: its thread is done */
        pthread_join(c->thread, NULL);
        __atomic_store_n(&c->state, 0u, __ATOMIC_RELAXED);
        break;
    default:
        break;
    }
    if (rc == 0) {
        c->fn = start;
        __atomic_store_n(&c->state, 1u, __ATOMIC_RELEASE);
        if (pthread_create(&c->thread, NULL, mppa_model__core_main, (void *)(intptr_t)coreid) != 0) {
            __atomic_store_n(&c->state, 0u, __ATOMIC_RELEASE);
            rc = MPPA_MODEL__E(EAGAIN);
        }
    }
    pthread_mutex_unlock(&mppa_model__cores_lock);
    return rc;
}

int mppa_model_core_join(int coreid)
{
    struct mppa_model__core *c;
    pthread_t t;
    if (coreid < 1 || coreid >= MPPA_MODEL__CORES) return -EINVAL;
    c = &mppa_model__cores[coreid];
    pthread_mutex_lock(&mppa_model__cores_lock);
    if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == 0) {
        pthread_mutex_unlock(&mppa_model__cores_lock);
        return -EINVAL;
    }
    t = c->thread;
    pthread_mutex_unlock(&mppa_model__cores_lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&mppa_model__cores_lock);
    __atomic_store_n(&c->state, 0u, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&mppa_model__cores_lock);
    return 0;
}

void event_notify(int coreid)
{
    int me = mppa_model__core_id;
    uint32_t bit = 1u << (me >= 0 ? me : MPPA_MODEL__CORES);
    if (coreid < 0 || coreid >= MPPA_MODEL__CORES) return;
    __atomic_fetch_or(&mppa_model__events[coreid], bit, __ATOMIC_SEQ_CST);
    mppa_model__futex(&mppa_model__events[coreid], FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

void event_wait(void)
{
    int me = mppa_model__core_id;
    uint32_t *w;
    if (me < 0 || me >= MPPA_MODEL__CORES) return;
    w = &mppa_model__events[me];
    for (;;) {
        uint32_t p = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        if (p == 0) {
            mppa_model__futex(w, FUTEX_WAIT_PRIVATE, 0, NULL);
            continue;
        }
        if (__atomic_compare_exchange_n(w, &p, p & (p - 1u), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    }
}

/* ---- Interrupts, clock, console --------------------------------------------------- */
void interrupts_disable(void)
{
    mppa_model__irq_off++;
}

void interrupts_enable(void)
{
    if (mppa_model__irq_off > 0) mppa_model__irq_off--;
}

int mppa_model_interrupts_enabled(void)
{
    return mppa_model__irq_off == 0;
}

uint64_t clock_read(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UAREA_MPPA256_CLOCK_HZ +
           (uint64_t)ts.tv_nsec * (UAREA_MPPA256_CLOCK_HZ / 10000000u) / 100u;
}

void kprintf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    size_t len;
    int n = snprintf(buf, sizeof buf, "[node %d] ", mppa_model__self);
    int m;
    len = n > 0 ? (size_t)n : 0;
    va_start(ap, fmt);
    m = vsnprintf(buf + len, sizeof buf - len, fmt, ap);
    va_end(ap);
    if (m > 0) len += (size_t)m;
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    if (len == 0 || buf[len - 1] != '\n') buf[len++] = '\n';
    if (write(2, buf, len) < 0) { /* nowhere to report it */ }
}

#endif /* UAREA_MPPA256_MODEL_IMPLEMENTATION */
