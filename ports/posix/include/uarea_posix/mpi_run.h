/*
 * uarea_posix/mpi_run.h - uarea_posix_run() under mpirun: every rank is a
 * node (uarea_posix.h includes it in its implementation when the program is
 * built with UAREA_POSIX_MPI; not a header of its own). docs/mpi.md tells
 * how to build and run; this is how it works.
 *
 * uarea_posix_run() started as an MPI job (uarea__posix_mpi_job: the
 * program initialised MPI, or mpirun's environment says so) forks nothing.
 * Every rank of MPI_COMM_WORLD calls it, as MPI programs call a collective,
 * with the same descriptor; ranks 0 .. desc.nodes - 1 are the run's nodes
 * (desc.nodes 0: every rank), the others wait for its end. Each rank is
 * both the launcher of the fork mode and its node: its calling thread
 * becomes the node's master (migrate/master.h), its core threads run the
 * container when it is there, and the NoC is the MPI transport
 * (uarea_posix/noc_mpi.h) over the run's ranks.
 *
 *   Same addresses     each rank re-executes itself once with address
 *                      randomisation off (personality ADDR_NO_RANDOMIZE),
 *                      before main() (uarea__posix_mpi_norandom);
 *                      then every rank tells the others its binary's
 *                      fingerprint, where its code, libc and the container
 *                      region are, and its descriptor: a rank that differs
 *                      from rank 0 stops the run before anything starts,
 *                      named on rank 0's stderr (uarea__posix_mpi_agree).
 *   The books          what the fork mode keeps in one shared block
 *                      (uarea_posix/books.h) each rank keeps in its own,
 *                      and the ranks tell each other what the others need,
 *                      over a mailbox of their own (UAREA_POSIX_MPI_PORT):
 *                      DONE (a container's program ended, with its value:
 *                      every rank stops once every container ended),
 *                      RECORD (a migration's statistics, to rank 0, whose
 *                      master calls desc.on_migration with them), WHERE (a
 *                      container arrived at a rank, after its n-th hop: every
 *                      rank's custody words follow, so uarea_posix_where()
 *                      and desc.scheduler work on every rank), BYE (a
 *                      rank's last word: how many records it sent), FAIL
 *                      (a rank cannot go on: every rank stops with its
 *                      error).
 *   The end            every rank returns the run's value (rank 0's,
 *                      broadcast); rank 0 fills desc.report.
 *
 * What does not carry over from the fork mode: the launcher's watch of
 * node deaths (an MPI job whose rank dies is ended by mpirun; rank 0 says
 * which containers are lost with it: uarea__posix_mpi_sigterm), and exit()
 * in a container thread, which ends its rank without MPI_Finalize, so
 * mpirun ends the job.
 */
#ifndef UAREA__POSIX_MPI_RUN_H
#define UAREA__POSIX_MPI_RUN_H

#include <sys/personality.h>
#include <time.h>

#ifndef UAREA_POSIX_MPI_PORT
#  define UAREA_POSIX_MPI_PORT 6          /* every rank's books mailbox */
#endif
/* How long a rank's master tests for messages before it sleeps: shorter
 * than the transport's default (noc_mpi_set_spin), as ranks share cores
 * with their container's threads. */
#ifndef UAREA_POSIX_MPI_SPIN_NS
#  define UAREA_POSIX_MPI_SPIN_NS 100000
#endif
/* How long the end of a run waits for a rank's last words, ns. */
#ifndef UAREA_POSIX_MPI_BYE_NS
#  define UAREA_POSIX_MPI_BYE_NS INT64_C(10000000000)
#endif

enum { UAREA__MPI_DONE = 1, UAREA__MPI_RECORD, UAREA__MPI_BYE, UAREA__MPI_FAIL, UAREA__MPI_WHERE };

/* A message of the books mailbox. */
typedef struct uarea__posix_mpi_msg {
    uint32_t kind;                /* UAREA__MPI_* */
    int32_t container;            /* DONE, RECORD, WHERE */
    int32_t code;                 /* DONE: the program's value; FAIL: the error;
                                     WHERE: the node it arrived at */
    uint32_t count;               /* BYE: records this rank sent; WHERE: its hops */
    migrate_stats st;             /* RECORD */
} uarea__posix_mpi_msg;
UAREA_STATIC_ASSERT(sizeof(uarea__posix_mpi_msg) <= NOC_MAILBOX_MSG_SIZE,
                    "a books message is one mailbox message");

/* What every rank tells the others before a run. */
typedef struct uarea__posix_mpi_hello {
    int32_t rc;                   /* this rank's start so far: 0 or why not */
    int32_t nodes, containers, cores, no_precopy;
    uint64_t fp;                  /* uarea_posix_binary_fp() */
    uint64_t region, region_size; /* the container region */
    uint64_t code_at, libc_at;    /* a function of the program, one of libc */
    int64_t pid;
} uarea__posix_mpi_hello;

static struct uarea__posix_mpi {
    int on;                       /* this process runs a node of an MPI run */
    int rank, size;               /* in MPI_COMM_WORLD */
    noc_mpi_node noc;             /* the run's NoC, this rank's end */
    noc_transport t;
    int mbx;                      /* the books mailbox, -1: none */
    int out[NOC_NODES_MAX];       /* the other ranks' books, -1: not open */
    uarea__posix_mpi_msg in;      /* the read posted on mbx */
    int reading;
    unsigned char told[NOC_NODES_MAX];  /* container c's end is known to all */
    uint32_t hops[NOC_NODES_MAX]; /* container c's latest arrival heard of */
    unsigned char arrived[NOC_NODES_MAX];  /* container c arrived here: to tell */
    uint32_t sent;                /* records sent to rank 0 */
    uint32_t records;             /* rank 0: records given to on_migration */
    uint32_t got[NOC_NODES_MAX];  /* rank 0: records received from each rank */
    int64_t bye[NOC_NODES_MAX];   /* rank 0: each rank's BYE count, -1: not yet */
    int failed;                   /* FAIL: the first error of a rank */
    int failed_node;
    long pid[NOC_NODES_MAX];
    unsigned char *block;         /* the node's transfer buffer */
} uarea__posix_mpi;

/* The rank mpirun's environment gives this process (Open MPI, PMIx,
 * MPICH's Hydra), -1 when none does: MPI need not be started to ask. */
static int uarea__posix_mpi_env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL) return atoi(v);
    }
    return -1;
}

/* Is this process a rank of an MPI job? The program initialised MPI, or
 * mpirun's environment names its rank. */
static int uarea__posix_mpi_job(void)
{
    int init = 0, fin = 0;
    (void)MPI_Initialized(&init);
    (void)MPI_Finalized(&fin);
    if (fin) return 0;
    return init || uarea__posix_mpi_env_rank() >= 0;
}

/* Code, libc and stacks at the same addresses on every rank: before main(),
 * a process that mpirun started executes itself again, once, with address
 * randomisation off (personality ADDR_NO_RANDOMIZE; its arguments from
 * /proc/self/cmdline, its environment as it is), unless randomisation is
 * off already, or for the whole system. When that cannot be done the
 * process goes on: uarea__posix_mpi_agree() then stops a run whose ranks
 * have their code at different addresses, and says so. */
__attribute__((constructor)) static void uarea__posix_mpi_norandom(void)
{
    static char buf[65536];
    char *av[1024];
    int pers, fd, k = 0, v = -1;
    ssize_t n, len = 0;
    FILE *f;
    if (uarea__posix_mpi_env_rank() < 0 || getenv("UAREA__POSIX_NORANDOM") != NULL) return;
    f = fopen("/proc/sys/kernel/randomize_va_space", "r");
    if (f != NULL) {
        if (fscanf(f, "%d", &v) != 1) v = -1;
        fclose(f);
        if (v == 0) return;
    }
    pers = personality(0xffffffffUL);
    if (pers < 0 || (pers & ADDR_NO_RANDOMIZE)) return;
    fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    while (len < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    if (len <= 0) return;
    buf[len] = '\0';
    for (ssize_t i = 0; i < len && k < 1023; i += (ssize_t)strlen(buf + i) + 1) av[k++] = buf + i;
    av[k] = NULL;
    if (personality((unsigned long)pers | ADDR_NO_RANDOMIZE) < 0) return;
    (void)setenv("UAREA__POSIX_NORANDOM", "1", 1);
    execv("/proc/self/exe", av);
    (void)personality((unsigned long)pers);           /* it did not happen */
}

static void uarea__posix_mpi_atexit(void) { (void)noc_mpi_finalize(); }

/* MPI, started once per process (and finalised at its exit if this started it). */
static int uarea__posix_mpi_start(void)
{
    static int registered;
    int rc = noc_mpi_init(NULL, NULL);
    if (rc < 0) return rc;
    if (rc < MPI_THREAD_SERIALIZED) return UAREA_ENOSYS;
    if (!registered) (void)atexit(uarea__posix_mpi_atexit);
    registered = 1;
    (void)MPI_Comm_rank(MPI_COMM_WORLD, &uarea__posix_mpi.rank);
    (void)MPI_Comm_size(MPI_COMM_WORLD, &uarea__posix_mpi.size);
    return 0;
}

/* One difference from rank 0, said by rank 0. */
static int uarea__posix_mpi_differs(int r, const char *what, uint64_t mine, uint64_t r0)
{
    if (mine == r0) return 0;
    if (uarea__posix_mpi.rank == 0)
        fprintf(stderr, "uarea_posix_run: rank %d differs from rank 0: %s %#llx, rank 0 has %#llx\n",
                r, what, (unsigned long long)mine, (unsigned long long)r0);
    return 1;
}

/* Every rank tells every other its start so far and what must be equal;
 * returns the same value on every rank: 0, the first rank's error, or
 * UAREA_ENODEDIFF when a rank differs from rank 0 (rank 0 says which, and
 * how, on stderr). */
static int uarea__posix_mpi_agree(const uarea_posix_desc *d, int rc)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    uarea__posix_mpi_hello me, *all;
    int r, diff = 0, first = 0;
    memset(&me, 0, sizeof me);
    me.rc = rc;
    me.nodes = d->nodes;
    me.containers = d->containers;
    me.cores = d->cores;
    me.no_precopy = d->no_precopy;
    me.fp = uarea__posix_fp;
    me.region = (uint64_t)UAREA_POSIX_REGION_ADDR;
    me.region_size = (uint64_t)UAREA_CONTAINER_SIZE;
    me.code_at = (uint64_t)(uintptr_t)&uarea_posix_run;
    me.libc_at = (uint64_t)(uintptr_t)&memcpy;
    me.pid = (int64_t)getpid();
    all = (uarea__posix_mpi_hello *)calloc((size_t)M->size, sizeof *all);
    if (all == NULL) return UAREA_ENOMEM;     /* (the other ranks wait: MPI has no way out) */
    if (MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE,
                      MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        return UAREA_EIO;
    }
    for (r = 0; r < M->size; r++) {
        const uarea__posix_mpi_hello *h = &all[r], *z = &all[0];
        if (h->rc < 0 && first == 0) {
            first = h->rc;
            if (M->rank == 0 && r != M->rank)
                fprintf(stderr, "uarea_posix_run: rank %d cannot start: %s\n", r, uarea_strerror(h->rc));
        }
        if (r < NOC_NODES_MAX) M->pid[r] = (long)h->pid;
        diff |= uarea__posix_mpi_differs(r, "binary fingerprint", h->fp, z->fp);
        diff |= uarea__posix_mpi_differs(r, "container region at", h->region, z->region);
        diff |= uarea__posix_mpi_differs(r, "container region size", h->region_size, z->region_size);
        diff |= uarea__posix_mpi_differs(r, "program code at", h->code_at, z->code_at);
        diff |= uarea__posix_mpi_differs(r, "libc code at", h->libc_at, z->libc_at);
        diff |= uarea__posix_mpi_differs(r, "desc.nodes", (uint64_t)h->nodes, (uint64_t)z->nodes);
        diff |= uarea__posix_mpi_differs(r, "desc.containers", (uint64_t)h->containers,
                                         (uint64_t)z->containers);
        diff |= uarea__posix_mpi_differs(r, "desc.cores", (uint64_t)h->cores, (uint64_t)z->cores);
        diff |= uarea__posix_mpi_differs(r, "desc.no_precopy", (uint64_t)h->no_precopy,
                                         (uint64_t)z->no_precopy);
    }
    free(all);
    return first != 0 ? first : diff ? UAREA_ENODEDIFF : 0;
}

/* ---- The books, between ranks ------------------------------------------- */
/* To rank `r`'s books mailbox (opened at first use); 0 or the error. */
static int uarea__posix_mpi_send(int r, const uarea__posix_mpi_msg *m, int64_t timeout_ns)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    if (M->out[r] < 0) {
        int h = noc_mailbox_open(&M->t, r, UAREA_POSIX_MPI_PORT);
        if (h < 0) return h;
        M->out[r] = h;
    }
    return noc_mailbox_write(&M->t, M->out[r], m, sizeof *m, timeout_ns);
}

/* To every other node of the run (a rank that left is skipped). */
static void uarea__posix_mpi_tell_all(const uarea__posix_mpi_msg *m)
{
    int r;
    for (r = 0; r < uarea__posix_sh->nodes; r++)
        if (r != uarea__posix_mpi.rank) {
            (void)uarea__posix_mpi_send(r, m, INT64_C(2000000000));
        }
}

/* Container c's program ended with `code`, as this rank learned from the
 * rank where it ended (which told every rank). */
static void uarea__posix_mpi_done(int c, int code)
{
    if (c < 0 || c >= uarea__posix_sh->containers) return;
    uarea__posix_mpi.told[c] = 1;
    (void)uarea__posix_mark_done(c, code);
}

/* A migration's record, on rank 0: to the program. */
static void uarea__posix_mpi_deliver(const migrate_stats *st)
{
    const uarea_posix_desc *d = uarea__posix_me->desc;
    uarea__posix_mpi.records++;
    if (d->on_migration != NULL) d->on_migration(d->arg, st);
}

static void uarea__posix_mpi_take(const uarea__posix_mpi_msg *m, int from)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    switch (m->kind) {
    case UAREA__MPI_DONE:
        uarea__posix_mpi_done(m->container, m->code);
        break;
    case UAREA__MPI_RECORD:
        if (from >= 0 && from < NOC_NODES_MAX) M->got[from]++;
        if (M->rank == 0) uarea__posix_mpi_deliver(&m->st);
        break;
    case UAREA__MPI_BYE:
        if (from >= 0 && from < NOC_NODES_MAX) M->bye[from] = (int64_t)m->count;
        break;
    case UAREA__MPI_WHERE:
        /* the latest arrival wins (messages of different ranks may cross) */
        if (m->container >= 0 && m->container < uarea__posix_sh->containers &&
            m->count > M->hops[m->container] && m->code >= 0 && m->code < uarea__posix_sh->nodes) {
            M->hops[m->container] = m->count;
            __atomic_store_n(&uarea__posix_sh->custody[m->container],
                             UAREA__POSIX_CUSTODY(m->code, -1), __ATOMIC_RELEASE);
        }
        break;
    case UAREA__MPI_FAIL:
        if (M->failed == 0) {
            M->failed = m->code < 0 ? m->code : UAREA_EIO;
            M->failed_node = from;
        }
        __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
        break;
    default:
        break;
    }
}

/* Whatever reached this rank's books mailbox; 1 if anything did. */
static int uarea__posix_mpi_read(int64_t timeout_ns)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    int did = 0, rc;
    for (;;) {
        if (!M->reading) {
            if (noc_mailbox_aread(&M->t, M->mbx, &M->in, sizeof M->in) < 0) return did;
            M->reading = 1;
        }
        rc = noc_mailbox_wait(&M->t, M->mbx, did ? 0 : timeout_ns);
        if (rc == UAREA_ETIMEDOUT || rc == UAREA_EAGAIN) return did;
        M->reading = 0;
        if (rc < 0) return did;
        uarea__posix_mpi_take(&M->in, noc_mailbox_sender(&M->t, M->mbx));
        did = 1;
    }
}

/* The records of the migrations that arrived here: to the program on rank
 * 0, to rank 0 elsewhere (those it cannot take now stay for the next turn). */
static int uarea__posix_mpi_records(int64_t timeout_ns)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    int did = 0;
    const struct uarea__posix_stats_slot *slot;
    while ((slot = uarea__posix_ring_peek()) != NULL) {
        uarea__posix_mpi_msg m;
        memset(&m, 0, sizeof m);
        m.kind = UAREA__MPI_RECORD;
        m.container = slot->container;
        m.st = slot->st;
        if (M->rank == 0) {
            uarea__posix_ring_pop();
            uarea__posix_mpi_deliver(&m.st);
        } else {
            if (uarea__posix_mpi_send(0, &m, timeout_ns) < 0) return did;
            uarea__posix_ring_pop();
            M->sent++;
        }
        did = 1;
    }
    return did;
}

/* The ends of containers whose program ended here, told to every rank;
 * 1 if there was one. */
static int uarea__posix_mpi_tell_ends(void)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int c, did = 0;
    for (c = 0; c < sh->containers; c++) {
        uarea__posix_mpi_msg m;
        if (M->told[c] || !__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE)) continue;
        memset(&m, 0, sizeof m);
        m.kind = UAREA__MPI_DONE;
        m.container = c;
        m.code = __atomic_load_n(&sh->exit_code[c], __ATOMIC_ACQUIRE);
        M->told[c] = 1;
        uarea__posix_mpi_tell_all(&m);
        did = 1;
    }
    return did;
}

/* Container c arrived here after its `hops`-th hop (the custody hook, on
 * the master): told to every rank at the master's next turn. */
static void uarea__posix_mpi_on_arrived(int c, int node, uint32_t hops)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    (void)node;
    if (c < 0 || c >= NOC_NODES_MAX) return;
    if (hops > M->hops[c]) M->hops[c] = hops;
    M->arrived[c] = 1;
}

/* The arrivals here, told to every rank; 1 if there was one. */
static int uarea__posix_mpi_tell_arrivals(void)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    int c, did = 0;
    for (c = 0; c < uarea__posix_sh->containers; c++) {
        uarea__posix_mpi_msg m;
        if (!M->arrived[c]) continue;
        M->arrived[c] = 0;
        memset(&m, 0, sizeof m);
        m.kind = UAREA__MPI_WHERE;
        m.container = c;
        m.code = M->rank;
        m.count = M->hops[c];
        uarea__posix_mpi_tell_all(&m);
        did = 1;
    }
    return did;
}

/* The master's turn (from uarea__posix_tick): the books mailbox, the ends
 * of this rank's containers told to all, the records. */
static int uarea__posix_mpi_tick(uarea__posix_node *n)
{
    int did = uarea__posix_mpi_read(0);
    if (uarea__posix_mpi_tell_arrivals()) did = 1;
    if (uarea__posix_mpi_tell_ends()) did = 1;
    if (n->rec.n_pending) uarea__posix_records_flush(&n->rec);
    if (uarea__posix_mpi_records(0)) did = 1;
    return did;
}

/* The end of the node's run: every record reaches rank 0 (the others'
 * last word, BYE, says how many they sent; rank 0 waits for them). */
static void uarea__posix_mpi_last_words(uarea__posix_node *n)
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    uint64_t deadline = uarea__posix_now() + (uint64_t)UAREA_POSIX_MPI_BYE_NS;
    int r, all;
    /* a program that ended after the master's last look at the books (the
     * same moment stopped the loop) is told now */
    (void)uarea__posix_mpi_tell_ends();
    if (n->rec.n_pending) uarea__posix_records_flush(&n->rec);
    if (M->rank != 0) {
        uarea__posix_mpi_msg m;
        (void)uarea__posix_mpi_records(INT64_C(2000000000));
        memset(&m, 0, sizeof m);
        m.kind = UAREA__MPI_BYE;
        m.count = M->sent;
        (void)uarea__posix_mpi_send(0, &m, INT64_C(2000000000));
        return;
    }
    do {
        (void)uarea__posix_mpi_records(0);
        (void)uarea__posix_mpi_read(INT64_C(1000000));
        for (all = 1, r = 1; r < uarea__posix_sh->nodes; r++)
            if (M->bye[r] < 0 || M->got[r] < (uint32_t)M->bye[r]) all = 0;
    } while (!all && uarea__posix_now() < deadline);
    if (!all) uarea__posix_logf(0, "the end of the run: a rank's migration records did not come");
}

static void uarea__posix_mpi_kick(void *noc) { noc_mpi_kick((noc_mpi_node *)noc); }

/* A rank that dies ends the job: mpirun sends the others SIGTERM (then
 * SIGKILL). During a run, rank 0 then says which containers are lost with
 * it, from its books, before it ends (the other ranks end quietly). Only
 * async-signal-safe calls: the line is made by hand and written at once. */
static void uarea__posix_mpi_sigterm(int sig)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    char line[160];
    int c;
    (void)sig;
    if (uarea__posix_mpi.rank == 0 && sh != NULL) {
        for (c = 0; c < sh->containers; c++) {
            static const char a[] = "uarea_posix_run: the job ends under the run (SIGTERM: mpirun's, when a rank dies): container ";
            static const char b[] = ", held by node ", e[] = ", is lost\n";
            size_t k = 0;
            int v[2], i;
            if (__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE)) continue;
            v[0] = c;
            v[1] = uarea__posix_holder_of(__atomic_load_n(&sh->custody[c], __ATOMIC_ACQUIRE));
            memcpy(line, a, sizeof a - 1);
            k = sizeof a - 1;
            for (i = 0; i < 2; i++) {
                char d[12];
                int n = 0, x = v[i] < 0 ? 0 : v[i];
                do d[n++] = (char)('0' + x % 10); while ((x /= 10) > 0 && n < 11);
                if (v[i] < 0) d[n++] = '-';
                while (n > 0) line[k++] = d[--n];
                if (i == 0) { memcpy(line + k, b, sizeof b - 1); k += sizeof b - 1; }
            }
            memcpy(line + k, e, sizeof e - 1);
            k += sizeof e - 1;
            (void)!write(2, line, k);
        }
    }
    _exit(128 + SIGTERM);
}

/* This rank's node, from its state to its end (the fork mode's
 * uarea__posix_node_main, over the MPI transport). */
static int uarea__posix_mpi_node(uarea__posix_launch *la, MPI_Comm comm)
{
    static uarea__posix_node node;
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    uarea__posix_node *n = &node;
    struct sigaction term, old_term;
    int rc, r;
    uarea__posix_node_init(n, M->rank, &la->d, M->block, UAREA_POSIX_BLOCK);
    for (r = 0; r < NOC_NODES_MAX; r++) {
        M->out[r] = -1;
        M->bye[r] = -1;
        M->got[r] = 0;
        M->told[r] = 0;
        M->hops[r] = 0;
        M->arrived[r] = 0;
        uarea__posix_sh->pid[r] = r < M->size ? M->pid[r] : 0;
    }
    M->sent = M->records = 0;
    M->failed = 0;
    M->failed_node = -1;
    M->reading = 0;
    __atomic_store_n(&uarea__posix_sh->forked, 1, __ATOMIC_RELEASE);
    rc = noc_mpi_attach(comm, &M->noc, &M->t);
    if (rc < 0) return rc;
    (void)noc_mpi_set_spin(&M->noc, UAREA_POSIX_MPI_SPIN_NS);
    n->kick = uarea__posix_mpi_kick;
    n->kick_arg = &M->noc;
    M->mbx = noc_mailbox_create(&M->t, UAREA_POSIX_MPI_PORT);
    rc = M->mbx < 0 ? M->mbx : 0;
    M->on = 1;
    memset(&term, 0, sizeof term);
    term.sa_handler = uarea__posix_mpi_sigterm;
    sigemptyset(&term.sa_mask);
    (void)sigaction(SIGTERM, &term, &old_term);
    uarea__posix_mpi_turn = uarea__posix_mpi_tick;
    uarea__posix_mpi_arrived = uarea__posix_mpi_on_arrived;
    if (rc == 0) rc = uarea__posix_node_serve(n, &M->t, la->region);
    if (rc < 0) {
        /* this rank cannot go on: every rank stops, with its error */
        uarea__posix_mpi_msg m;
        memset(&m, 0, sizeof m);
        m.kind = UAREA__MPI_FAIL;
        m.code = rc;
        if (M->failed == 0) {
            M->failed = rc;
            M->failed_node = M->rank;
        }
        uarea__posix_mpi_tell_all(&m);
    }
    uarea__posix_mpi_last_words(n);
    uarea__posix_mpi_turn = NULL;
    uarea__posix_mpi_arrived = NULL;
    (void)sigaction(SIGTERM, &old_term, NULL);
    M->on = 0;
    if (M->reading) (void)noc_mailbox_cancel(&M->t, M->mbx);
    for (r = 0; r < NOC_NODES_MAX; r++)
        if (M->out[r] >= 0) (void)noc_mailbox_close(&M->t, M->out[r]);
    if (M->mbx >= 0) (void)noc_mailbox_unlink(&M->t, M->mbx);
    (void)noc_mpi_detach(&M->noc);
    noc_set_default(NULL);
    uarea__posix_me = NULL;
    return rc;
}

/* The run's value (as uarea__posix_outcome, from this rank's books). */
static int uarea__posix_mpi_outcome(const uarea__posix_launch *la)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int c, first = 0;
    if (uarea__posix_mpi.failed != 0) return uarea__posix_mpi.failed;
    for (c = 0; c < la->d.containers; c++) {
        if (!sh->done[c]) return UAREA_EABORTED;
        if (first == 0) first = sh->exit_code[c];
    }
    return first;
}

/* Every rank of MPI_COMM_WORLD gets rank 0's word: the run's value, its
 * migrations, the records dropped. A rank waits with naps, not in a
 * blocking call that would keep a CPU the run's ranks need. */
static void uarea__posix_mpi_verdict(int32_t v[3])
{
    MPI_Request req;
    int flag = 0;
    if (MPI_Ibcast(v, 3, MPI_INT32_T, 0, MPI_COMM_WORLD, &req) != MPI_SUCCESS) return;
    for (;;) {
        struct timespec ts = {0, 200000};
        if (MPI_Test(&req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) return;
        nanosleep(&ts, NULL);
    }
}

static void uarea__posix_mpi_report(uarea__posix_launch *la, const int32_t v[3])
{
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    uarea_posix_report *rep = la->w.rep;
    int i;
    rep->nodes = la->d.nodes;
    for (i = 0; i < la->d.nodes; i++) {
        rep->node[i].pid = M->pid[i];
        rep->node[i].end = i == M->failed_node ? UAREA_POSIX_END_FAILED : UAREA_POSIX_END_CLEAN;
        rep->node[i].code = i == M->failed_node ? M->failed : 0;
    }
    rep->migrations = (uint32_t)v[1];
    rep->stats_dropped = (uint32_t)v[2];
}

/* The program's view of its container globals (UAREA_USER) is the same
 * after a run as before, as in the fork mode, where the nodes' copies are
 * not the launcher's: saved before the run (save 1), put back after it
 * (save 0); in between the run moved containers through this copy, and a
 * node that a container left wiped it. */
static int uarea__posix_mpi_user(int save)
{
    static unsigned char *copy;
    uintptr_t lo = (uintptr_t)__start_uarea_user, hi = (uintptr_t)__stop_uarea_user;
    if (lo == 0 || hi <= lo) return 0;
    if (save) {
        free(copy);
        copy = (unsigned char *)malloc((size_t)(hi - lo));
        if (copy == NULL) return UAREA_ENOMEM;
        memcpy(copy, (const void *)lo, (size_t)(hi - lo));
    } else if (copy != NULL) {
        memcpy((void *)lo, copy, (size_t)(hi - lo));
        free(copy);
        copy = NULL;
    }
    return 0;
}

/* uarea_posix_run() as one rank of an MPI job. */
static int uarea__posix_run_mpi(const uarea_posix_desc *desc, int (*app_main)(int, char **),
                                int argc, char **argv)
{
    static uarea__posix_launch la;
    struct uarea__posix_mpi *M = &uarea__posix_mpi;
    uarea_posix_desc d0;
    MPI_Comm comm = MPI_COMM_NULL;
    int32_t v[3] = {0, 0, 0};
    int rc;
    rc = uarea__posix_mpi_start();
    if (rc < 0) return rc;
    memset(&d0, 0, sizeof d0);
    if (desc != NULL) d0 = *desc;
    if (d0.nodes == 0) d0.nodes = M->size < NOC_NODES_MAX ? M->size : NOC_NODES_MAX;
    /* 1. what the fork mode checks and takes, each rank for itself */
    rc = uarea__posix_launch_desc(&la, &d0, app_main, argc, argv);
    if (rc == 0 && la.d.nodes > M->size) rc = UAREA_EBADNODE;
    if (rc == 0 && M->rank == 0) rc = uarea__posix_launch_restore(&la.d);
    if (rc == 0) {
        uarea__posix_launch_globals(&la.d, app_main, argc, argv);
        rc = uarea__posix_launch_books(&la);
    }
    if (rc == 0 && M->block == NULL) {
        M->block = (unsigned char *)aligned_alloc(4096, UAREA_POSIX_BLOCK);
        if (M->block == NULL) rc = UAREA_ENOMEM;
    }
    if (rc == UAREA_EBADNODE && M->rank == 0)
        fprintf(stderr, "uarea_posix_run: desc.nodes is %d, the job has %d ranks\n", la.d.nodes,
                M->size);
    /* 2. every rank's start and addresses, compared */
    rc = uarea__posix_mpi_agree(&la.d, rc);
    if (rc == 0) rc = uarea__posix_mpi_user(1);
    if (rc == 0) {
        /* 3. ranks 0 .. nodes - 1 are the run's nodes */
        int in_run = M->rank < la.d.nodes;
        if (MPI_Comm_split(MPI_COMM_WORLD, in_run ? 0 : MPI_UNDEFINED, M->rank, &comm) != MPI_SUCCESS)
            rc = UAREA_EIO;
        else if (in_run)
            rc = uarea__posix_mpi_node(&la, comm);
        if (comm != MPI_COMM_NULL) (void)MPI_Comm_free(&comm);
        /* 4. rank 0's word is the run's value everywhere */
        if (M->rank == 0) {
            v[0] = rc < 0 && M->failed == 0 ? rc : uarea__posix_mpi_outcome(&la);
            v[1] = (int32_t)M->records;
            v[2] = (int32_t)uarea__posix_sh->dropped;
        }
        uarea__posix_mpi_verdict(v);
        rc = v[0];
        uarea__posix_mpi_report(&la, v);
        (void)uarea__posix_mpi_user(0);
    }
    uarea__posix_launch_end(&la);
    return rc;
}

#endif /* UAREA__POSIX_MPI_RUN_H */
