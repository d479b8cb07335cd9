/*
 * uarea_posix/books.h - the books of a run, for the POSIX runtime
 * (uarea_posix.h includes it in its implementation; not a header of its
 * own).
 *
 * One block of shared memory that the launcher maps before it forks the
 * nodes, at the same address in every process of the run; what the nodes
 * write there, the launcher reads:
 *
 *   The shared block      stop, the containers' ends and values, the nodes'
 *                         pids and ends, the custody words, the records
 *   Custody               who answers for each container (docs/reliability.md)
 *   Ends                  a container's program ended; how a node ended
 *   Migration records     each container's last migration (a seqlock) and
 *                         the ring the launcher drains for on_migration
 *
 * Every function here is safe to call from any process of the run; the
 * writers are the nodes' masters and container threads, the reader the
 * launcher (uarea_posix/watch.h).
 */
#ifndef UAREA__POSIX_BOOKS_H
#define UAREA__POSIX_BOOKS_H

/* Migration records the launcher has not taken yet (on_migration). */
#define UAREA__POSIX_RING 256u
/* ... and the ones a node keeps while that ring is full. */
#define UAREA__POSIX_PENDING 32u

/* ==== The shared block =====================================================
 * One MAP_SHARED block, at the same address in every process of the run.
 *
 * Custody (who answers for each container, docs/reliability.md): one word
 * per container, written by the nodes as the protocol moves the container
 * (migrate_custody) and read by the launcher when a node dies: the holder
 * (the node that runs it, or, from a migration's commit point on, its
 * destination) and the candidate (a node that accepted an image of it and
 * may yet run it), each as node + 1 (0: none). One word, so that the
 * launcher never sees a holder of one moment with a candidate of another. */
struct uarea__posix_stats_slot {
    uint32_t seq;             /* ticket + 1 once written */
    int container;
    migrate_stats st;
};

struct uarea__posix_shared {
    int stop;                 /* every node: leave */
    int containers;           /* containers of the run */
    int nodes;
    int forked;               /* every node process exists (the launcher) */
    int efd;                  /* eventfd: a node tells the launcher to look */
    int done_count;           /* containers whose program ended */
    int done[NOC_NODES_MAX];  /* per container */
    int exit_code[NOC_NODES_MAX]; /* its program's value */
    uint32_t custody[NOC_NODES_MAX];
    long pid[NOC_NODES_MAX];  /* node processes */
    struct {                  /* how a node ended, as it says itself */
        int claimed;          /* 1 once it began to say */
        int end;              /* uarea_posix_end, 0: not yet */
        int code;
        int container;
    } end[NOC_NODES_MAX];
    struct {                  /* each container's last migration (seqlock) */
        uint32_t seq, count;
        migrate_stats st;
    } last[NOC_NODES_MAX];
    uint32_t nstats;          /* migrations recorded */
    uint32_t dropped;         /* records the ring had no room for */
    uint32_t ring_head, ring_tail;
    uint32_t deep;            /* the launcher sleeps without a timeout */
    uint32_t tells;           /* eventfd writes (report.launcher_wakes) */
    struct uarea__posix_stats_slot ring[UAREA__POSIX_RING];
};

static struct uarea__posix_shared *uarea__posix_sh;
static noc_shm *uarea__posix_noc;    /* the run's NoC (the launcher's; inherited by the nodes) */

/* The run stops: every node's master is woken out of its mailbox wait to
 * see it (else each would see it at its next nap). */
static void uarea__posix_stop(void)
{
    int i;
    __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
    if (uarea__posix_noc != NULL)
        for (i = 0; i < uarea__posix_noc->nodes; i++) noc_shm_kick_node(uarea__posix_noc, i);
}

/* ==== Custody =========================================================== */
#define UAREA__POSIX_CUSTODY(holder, cand) \
    ((uint32_t)((holder) + 1) | ((uint32_t)((cand) + 1) << 16))
static int uarea__posix_holder_of(uint32_t w) { return (int)(w & 0xffffu) - 1; }
static int uarea__posix_cand_of(uint32_t w) { return (int)(w >> 16) - 1; }

/* The launcher should look at the shared block again. */
static void uarea__posix_tell_launcher(void)
{
    uint64_t one = 1;
    if (uarea__posix_sh != NULL && uarea__posix_sh->efd >= 0) {
        __atomic_add_fetch(&uarea__posix_sh->tells, 1u, __ATOMIC_RELAXED);
        (void)!write(uarea__posix_sh->efd, &one, sizeof one);
    }
}

/* Changes container c's custody word: holder to `holder` and candidate to
 * `cand` (-2: leave as is; -1: none), when the holder is `if_holder` and the
 * candidate `if_cand` (-2: any). */
static void uarea__posix_custody_set(int c, int holder, int cand, int if_holder, int if_cand)
{
    uint32_t *w = &uarea__posix_sh->custody[c];
    uint32_t old = __atomic_load_n(w, __ATOMIC_ACQUIRE), neu;
    do {
        int h = uarea__posix_holder_of(old), v = uarea__posix_cand_of(old);
        if ((if_holder != -2 && h != if_holder) || (if_cand != -2 && v != if_cand)) return;
        neu = UAREA__POSIX_CUSTODY(holder == -2 ? h : holder, cand == -2 ? v : cand);
    } while (!__atomic_compare_exchange_n(w, &old, neu, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

/* ==== Ends ============================================================== */
/* Container c's program ended with `code`, in the books: the first word
 * counts (1 returned), the run stops with the last container. */
static int uarea__posix_mark_done(int c, int code)
{
    int expect = 0;
    if (c < 0 || c >= uarea__posix_sh->containers ||
        !__atomic_compare_exchange_n(&uarea__posix_sh->done[c], &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 0;
    __atomic_store_n(&uarea__posix_sh->exit_code[c], code, __ATOMIC_RELEASE);
    if (__atomic_add_fetch(&uarea__posix_sh->done_count, 1, __ATOMIC_ACQ_REL) >=
        uarea__posix_sh->containers)
        uarea__posix_stop();
    return 1;
}

/* Container c's program ended with `code` (thread 0 returned, or exit()):
 * the first report counts; the run stops with the last container. A
 * container thread calls it: inside the critical section, or a tick could
 * park the thread between `done` (on which its master releases the
 * container, and the thread never runs again) and `stop`. */
static void uarea__posix_container_done(int c, int code)
{
    uintptr_t crit = UAREA_PORT_CRIT_ENTER();
    if (uarea__posix_mark_done(c, code)) {
        uarea__posix_tell_launcher();
        uarea__posix_wake_master();           /* it releases the container */
    }
    UAREA_PORT_CRIT_LEAVE(crit);
}

/* How this node ended, for the launcher: the first word counts (a master
 * that sees the run stop may leave while a container thread is in exit()). */
static void uarea__posix_say_end(int self, int end, int code, int container)
{
    int expect = 0;
    if (!__atomic_compare_exchange_n(&uarea__posix_sh->end[self].claimed, &expect, 1, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    uarea__posix_sh->end[self].code = code;
    uarea__posix_sh->end[self].container = container;
    __atomic_store_n(&uarea__posix_sh->end[self].end, end, __ATOMIC_RELEASE);
    uarea__posix_tell_launcher();
}


/* ==== Migration records ================================================= */
/* Records a node keeps while the launcher's ring is full (the node's own). */
typedef struct uarea__posix_records {
    struct { int container; migrate_stats st; } pending[UAREA__POSIX_PENDING];
    unsigned n_pending;
} uarea__posix_records;

/* The calling container's last migration: its record in the shared block,
 * read under its sequence number (the writer is another process's master). */
UAREA_API int uarea_posix_last_migration(migrate_stats *st)
{
    int c = uarea__posix_cid;
    if (uarea__posix_sh == NULL || st == NULL || c < 0 || c >= uarea__posix_sh->containers)
        return UAREA_EINVAL;
    for (;;) {
        uint32_t s1 = __atomic_load_n(&uarea__posix_sh->last[c].seq, __ATOMIC_ACQUIRE), s2;
        uint32_t count = __atomic_load_n(&uarea__posix_sh->last[c].count, __ATOMIC_ACQUIRE);
        if (s1 & 1u) {
            sched_yield();
            continue;
        }
        if (count == 0) return UAREA_EAGAIN;
        *st = uarea__posix_sh->last[c].st;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&uarea__posix_sh->last[c].seq, __ATOMIC_RELAXED);
        if (s1 == s2) return 0;
    }
}

/* One record into the launcher's ring; UAREA_EAGAIN when it is full. Many
 * nodes write, the launcher reads: a writer takes a ticket, fills its slot,
 * and marks it written with the ticket. */
static int uarea__posix_ring_put(int c, const migrate_stats *st)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uint32_t t = __atomic_load_n(&sh->ring_tail, __ATOMIC_ACQUIRE);
    struct uarea__posix_stats_slot *slot;
    do {
        if (t - __atomic_load_n(&sh->ring_head, __ATOMIC_ACQUIRE) >= UAREA__POSIX_RING)
            return UAREA_EAGAIN;
    } while (!__atomic_compare_exchange_n(&sh->ring_tail, &t, t + 1u, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    slot = &sh->ring[t % UAREA__POSIX_RING];
    slot->container = c;
    slot->st = *st;
    __atomic_store_n(&slot->seq, t + 1u, __ATOMIC_RELEASE);
    return 0;
}

/* The oldest record in the ring (the launcher's side; the nodes' masters
 * under mpirun), NULL when none is there; uarea__posix_ring_pop() takes it. */
static const struct uarea__posix_stats_slot *uarea__posix_ring_peek(void)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uint32_t h = __atomic_load_n(&sh->ring_head, __ATOMIC_ACQUIRE);
    const struct uarea__posix_stats_slot *slot = &sh->ring[h % UAREA__POSIX_RING];
    return __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == h + 1u ? slot : NULL;
}

static void uarea__posix_ring_pop(void)
{
    __atomic_add_fetch(&uarea__posix_sh->ring_head, 1u, __ATOMIC_RELEASE);
}

/* Records went into the ring. The launcher looks at it every
 * UAREA_POSIX_RECORDS_NS while records come (uarea__posix_watch_run): it is
 * woken only when it sleeps without a timeout, or when the ring is a
 * quarter full. (The record is in before `deep` is read, and the launcher
 * sets `deep` before it looks at the ring a last time: one of the two sees
 * the other.) */
static void uarea__posix_tell_records(void)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uint32_t fill = __atomic_load_n(&sh->ring_tail, __ATOMIC_ACQUIRE) -
                    __atomic_load_n(&sh->ring_head, __ATOMIC_ACQUIRE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_exchange_n(&sh->deep, 0u, __ATOMIC_SEQ_CST) != 0 || fill >= UAREA__POSIX_RING / 4u)
        uarea__posix_tell_launcher();
}

/* Records kept while the ring was full go first, in order. */
static void uarea__posix_records_flush(uarea__posix_records *r)
{
    unsigned i = 0;
    while (i < r->n_pending && uarea__posix_ring_put(r->pending[i].container, &r->pending[i].st) == 0)
        i++;
    if (i == 0) return;
    memmove(r->pending, r->pending + i, (r->n_pending - i) * sizeof r->pending[0]);
    r->n_pending -= i;
    uarea__posix_tell_records();
}

/* The container arrived here: its record, for the container (its last
 * migration) and for the launcher (on_migration). */
static void uarea__posix_record(uarea__posix_records *r, int c, const migrate_stats *st)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    if (c >= 0 && c < sh->containers) {
        __atomic_add_fetch(&sh->last[c].seq, 1u, __ATOMIC_ACQ_REL);     /* odd: writing */
        sh->last[c].st = *st;
        __atomic_add_fetch(&sh->last[c].count, 1u, __ATOMIC_RELEASE);
        __atomic_add_fetch(&sh->last[c].seq, 1u, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&sh->nstats, 1u, __ATOMIC_RELEASE);
    uarea__posix_records_flush(r);
    if (r->n_pending == 0 && uarea__posix_ring_put(c, st) == 0) {
        uarea__posix_tell_records();
    } else if (r->n_pending < UAREA__POSIX_PENDING) {
        r->pending[r->n_pending].container = c;
        r->pending[r->n_pending].st = *st;
        r->n_pending++;
    } else {
        __atomic_add_fetch(&sh->dropped, 1u, __ATOMIC_RELEASE);
    }
}

#endif /* UAREA__POSIX_BOOKS_H */
