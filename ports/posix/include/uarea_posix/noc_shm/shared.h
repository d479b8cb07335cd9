/*
 * uarea_posix/noc_shm/shared.h - the shared mapping of the shared-memory
 * NoC: its layout (the records in it, their states), the primitives every
 * part uses (clock, spin lock, futex events, finding a record), the
 * liveness of nodes, and a node's handle tables.
 *
 * A part of the implementation of <uarea_posix/noc_shm.h>, which includes it
 * (its top comment lists the parts); not a header of its own.
 */
#ifndef UAREA_POSIX__NOC_SHM_IMPLEMENTED
#  error "uarea_posix/noc_shm/shared.h is a part of <uarea_posix/noc_shm.h>: include that"
#endif

/* ---- the mapping: constants, states, records ---- */
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
    uint32_t kick;                      /* noc_shm_kick / noc_shm_kick_node */
    uint64_t sleeping;                  /* the event its mailbox read sleeps on (an
                                           address in the mapping, the same in every
                                           node), 0: none */
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
