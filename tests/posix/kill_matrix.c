/* The kill matrix: for every named step of a migration (the protocol's trace
 * points on the source and the destination, and the POSIX runtime's own
 * steps around them: custody books, activation, release, arrival), kill the
 * source, then the destination, exactly there (desc.on_step; no timer), and
 * check how the run ends:
 *
 *   finished   the container ran on in exactly one copy and its result is
 *              the result of the same work without migration;
 *   lost (n)   node n held the only copy when it died: the run returns
 *              UAREA_ELOST and its report names node n, within a bound.
 *
 * The expected outcome of each cell follows from the protocol's commit
 * point (docs/reliability.md); a cell whose outcome depends on a race the
 * protocol allows (the source learns of the destination's death, or not,
 * before its COMMIT goes out) accepts either. Each cell runs in a process of
 * its own with a hard time limit. A run whose migration fails by itself
 * before the step fires (a protocol timeout on a loaded machine) tested
 * nothing: the cell runs again, up to ATTEMPTS times, then fails. Prints the matrix; exits 1 when a cell
 * fails.
 *
 *   kill_matrix [--stop-and-copy | --precopy] [--timeout-ms T] [--cells N] [--quiet]
 *
 * T is the migration protocol's timeout (300 ms; longer under emulation).
 * KILL_MATRIX_TRACE=1 in the environment prints every step a node reaches.
 *
 * Plain C (no test framework), so that it also runs under qemu-user. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SRC 0
#define DST 1
#define WORDS (32u * 1024u)          /* 256 KiB of heap: several portal transfers */
#define ROUNDS 40u
#define CELL_LIMIT_S 60              /* a cell that takes longer has hung */

enum outcome { FINISHED = 1, LOST_SRC = 2, LOST_DST = 4, AGAIN = -2 };
#define ATTEMPTS 4                   /* runs of a cell whose migration fails by itself */

struct cell {
    const char *step;                /* on_step name */
    int node;                        /* where it fires */
    int expect[2];                   /* kill the source, kill the destination: outcomes allowed */
    int precopy;                     /* 1: a step of the pre-copy's first phase; 2: of a
                                        migration without pre-copy only */
};

/* Before the commit point the source holds the only runnable copy, unless
 * the destination has verified a complete image (it then runs it when it
 * sees the source die); from the commit point on the destination holds it. */
static const struct cell cells[] = {
    {"src.start", SRC, {LOST_SRC, FINISHED}, 0},
    {"src.frozen", SRC, {LOST_SRC, FINISHED}, 0},
    {"src.request", SRC, {LOST_SRC, FINISHED}, 0},
    {"dst.prepared", DST, {LOST_SRC, FINISHED}, 0},
    {"dst.request", DST, {LOST_SRC, FINISHED}, 2},    /* the delta's REQUEST finds R_STAGED */
    {"custody.receiving", DST, {LOST_SRC, FINISHED}, 0},
    {"dst.accepted", DST, {LOST_SRC, FINISHED}, 0},
    {"src.accepted", SRC, {LOST_SRC, FINISHED}, 0},
    /* (with pre-copy a delta may be one transfer: complete at its first
     * block, then run at the destination; see delta_blocks below) */
    {"src.block", SRC, {LOST_SRC, FINISHED}, 0},
    /* the shared-memory portal holds a write the receiver has not pulled
     * yet: by the destination's first block the source may have put every
     * transfer out (see sent_first below) */
    {"dst.block", DST, {LOST_SRC, FINISHED}, 0},
    /* every byte is out: the destination verifies it whatever the source
     * does now, then runs it when it sees the source dead */
    {"src.sent", SRC, {FINISHED, FINISHED}, 0},
    {"dst.verified", DST, {FINISHED, FINISHED}, 0},
    /* VERIFIED came: the source asks the transport whether the destination
     * is gone before it commits (noc_node_gone): a destination dead by then
     * is seen, and the container runs on at the source */
    {"src.verified", SRC, {FINISHED, FINISHED}, 0},
    {"src.committed", SRC, {FINISHED, LOST_DST}, 0},
    {"custody.committed", SRC, {FINISHED, LOST_DST}, 0},
    {"node.release", SRC, {FINISHED, LOST_DST}, 0},
    {"node.released", SRC, {FINISHED, LOST_DST}, 0},
    {"src.dropped", SRC, {FINISHED, LOST_DST}, 0},
    {"dst.commit", DST, {FINISHED, LOST_DST}, 0},
    {"custody.activated", DST, {FINISHED, LOST_DST}, 0},
    {"node.activate", DST, {FINISHED, LOST_DST}, 0},
    {"node.active", DST, {FINISHED, LOST_DST}, 0},
    {"dst.activated", DST, {FINISHED, LOST_DST}, 0},
    {"node.arrived", DST, {FINISHED, LOST_DST}, 0},
    /* pre-copy, first phase: the container runs on the source; the staged
     * image never runs */
    {"pre.src.request", SRC, {LOST_SRC, FINISHED}, 1},
    {"pre.dst.request", DST, {LOST_SRC, FINISHED}, 1},
    {"pre.dst.accepted", DST, {LOST_SRC, FINISHED}, 1},
    {"pre.src.block", SRC, {LOST_SRC, FINISHED}, 1},
    {"pre.dst.block", DST, {LOST_SRC, FINISHED}, 1},
    {"pre.src.sent", SRC, {LOST_SRC, FINISHED}, 1},
    {"pre.dst.verified", DST, {LOST_SRC, FINISHED}, 1},
    {"pre.src.verified", SRC, {LOST_SRC, FINISHED}, 1},
};
#define NCELLS (sizeof cells / sizeof cells[0])

/* Shared by the cell's process and every node of its run. */
struct ctl {
    char step[32];
    int node, victim;                /* kill `victim` when `node` reaches `step` */
    volatile int fired;
    volatile int resumed;            /* copies that returned from migrate_to */
    volatile int resumed_node[4];
    volatile int precopied;
    volatile int sent;               /* the source reached src.sent (this migration) */
    volatile int sent_first;         /* ... before the kill */
    volatile int mig_rc;             /* what the first migrate_to to return returned */
    volatile int fired_at_return;    /* ... and whether the step had fired by then */
    volatile int landed;             /* the kill is done (the victim is dead) */
};
static struct ctl *ctl;
static int64_t timeout_ns = 300000000;

static UAREA_USER uint64_t *arr;
static UAREA_USER volatile unsigned progress;
static UAREA_USER uint64_t digest[2];

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

static uint64_t work(uint64_t *a, unsigned id, int yield)
{
    uint64_t h = 11 * id + 5;
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < WORDS / 2; i++) {
            a[i] = mix(a[i] ^ (h + i));
            h += a[i];
        }
        if (yield) {
            __atomic_add_fetch(&progress, 1u, __ATOMIC_RELAXED);
            uarea_thread_yield();
        }
    }
    return h;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    digest[id] = work(arr + (size_t)id * (WORDS / 2), id, 1);
    return NULL;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t[2];
    uint64_t got, want = 0, *ref;
    int rc, slot;
    (void)argc; (void)argv;
    arr = uarea_malloc(WORDS * sizeof *arr);
    if (arr == NULL) return 2;
    memset(arr, 0, WORDS * sizeof *arr);
    for (unsigned w = 0; w < 2; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 3;
    while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < ROUNDS / 2) uarea_thread_yield();
    rc = migrate_to(DST);
    /* each copy of the container that goes on past the migration says so */
    slot = __atomic_fetch_add(&ctl->resumed, 1, __ATOMIC_ACQ_REL);
    if (slot < 4) ctl->resumed_node[slot] = noc_node_self();
    if (slot == 0) {
        ctl->mig_rc = rc;
        ctl->fired_at_return = __atomic_load_n(&ctl->fired, __ATOMIC_ACQUIRE);
    }
    if (rc != 0 && noc_node_self() != SRC) return 4;
    /* A copy that runs on at the destination waits for the cell's kill to
     * land before it goes on: a kill at a step of the source after the
     * commit point (src.dropped: the source's wipe may take longer than the
     * rest of the program) must find the container still running there,
     * whatever the two nodes' speeds. Bounded: 5 s. */
    if (noc_node_self() == DST) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!__atomic_load_n(&ctl->landed, __ATOMIC_ACQUIRE)) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 5) break;
            uarea_thread_yield();
        }
    }
    for (unsigned w = 0; w < 2; w++)
        if (uarea_thread_join(t[w], NULL) != 0) return 5;
    got = mix(digest[0]) ^ mix(digest[1] + 1);
    ref = uarea_malloc(WORDS / 2 * sizeof *ref);
    if (ref == NULL) return 6;
    for (unsigned w = 0; w < 2; w++) {
        memset(ref, 0, WORDS / 2 * sizeof *ref);
        want ^= mix(work(ref, w, 0) + w);
    }
    return got == want ? 0 : 1;
}

/* Wait until process `pid` has ended (a zombie counts). */
static void wait_dead(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd p = {fd, POLLIN, 0};
        (void)poll(&p, 1, 10000);
        close(fd);
        return;
    }
    while (kill(pid, 0) == 0) usleep(1000);
}

static void on_step(void *arg, int node, const char *step)
{
    (void)arg;
    if (getenv("KILL_MATRIX_TRACE") != NULL) fprintf(stderr, "  [node %d] %s\n", node, step);
    if (node == SRC && strcmp(step, "src.sent") == 0) ctl->sent = 1;
    if (node != ctl->node || strcmp(step, ctl->step) != 0 ||
        __atomic_exchange_n(&ctl->fired, 1, __ATOMIC_ACQ_REL))
        return;
    ctl->sent_first = ctl->sent;
    if (ctl->victim == node) {
        __atomic_store_n(&ctl->landed, 1, __ATOMIC_RELEASE);   /* (dies next) */
        kill(getpid(), SIGKILL);
        for (;;) pause();
    }
    pid_t v = (pid_t)uarea_posix_node_pid(ctl->victim);
    kill(v, SIGKILL);
    wait_dead(v);
    __atomic_store_n(&ctl->landed, 1, __ATOMIC_RELEASE);
}

static void on_migration(void *arg, const migrate_stats *st)
{
    (void)arg;
    if (st->precopy_bytes > 0) ctl->precopied = 1;
}

/* One run, in this process: the cell's outcome (FINISHED, LOST_*), 0 when it
 * ended otherwise; *why says how. */
static int run_cell(const struct cell *c, int victim, int precopy, char *why, size_t n)
{
    uarea_posix_report rep;
    uarea_posix_desc d = {.nodes = 3, .timeout_ns = timeout_ns, .no_precopy = !precopy,
                          .on_step = on_step, .on_migration = on_migration, .report = &rep};
    int rc;
    memset(ctl, 0, sizeof *ctl);
    snprintf(ctl->step, sizeof ctl->step, "%s", c->step);
    ctl->node = c->node;
    ctl->victim = victim;
    rc = uarea_posix_run(&d, app, 0, NULL);
    if (ctl->resumed >= 1 && ctl->mig_rc != 0 && !ctl->fired_at_return) {
        /* the migration ended by itself (a protocol timeout on a loaded
         * machine) before the step: the step did not happen in it */
        snprintf(why, n, "the migration failed by itself before the step (%s)",
                 uarea_strerror(ctl->mig_rc));
        return AGAIN;
    }
    if (!ctl->fired) {
        snprintf(why, n, "step not reached (run: %d%s)", rc,
                 c->precopy == 1 && !ctl->precopied ? ", no pre-copy here" : "");
        return c->precopy == 1 && !ctl->precopied && rc == 0 ? -1 : 0;
    }
    if (rc == 0 && ctl->resumed == 1 && rep.lost_container < 0) {
        snprintf(why, n, "finished on node %d", ctl->resumed_node[0]);
        return FINISHED;
    }
    if (rc == UAREA_ELOST && ctl->resumed <= 1 && rep.lost_container == 0 &&
        (rep.lost_node == SRC || rep.lost_node == DST) && rep.lost_node == victim) {
        snprintf(why, n, "lost (node %d)", rep.lost_node);
        return rep.lost_node == SRC ? LOST_SRC : LOST_DST;
    }
    snprintf(why, n, "run %d (%s), %d cop%s resumed, lost node %d", rc,
             rc < 0 ? uarea_strerror(rc) : rc == 1 ? "wrong result" : "app", ctl->resumed,
             ctl->resumed == 1 ? "y" : "ies", rep.lost_node);
    return 0;
}

struct verdict { int outcome; double secs; char why[96]; };

/* A cell in a child process, with a time limit. */
static struct verdict cell(const struct cell *c, int victim, int precopy)
{
    struct verdict *v = mmap(NULL, sizeof *v, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0), out;
    struct timespec t0, t1;
    int status;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(v, 0, sizeof *v);
    snprintf(v->why, sizeof v->why, "the cell's process died");
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        alarm(CELL_LIMIT_S);
        v->outcome = run_cell(c, victim, precopy, v->why, sizeof v->why);
        _exit(0);
    }
    waitpid(p, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out = *v;
    out.secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(out.why, sizeof out.why, "no end within %d s", CELL_LIMIT_S);
    munmap(v, sizeof *v);
    return out;
}

static const char *name_of(int outcome)
{
    switch (outcome) {
    case FINISHED: return "finished";
    case LOST_SRC: return "lost (node 0)";
    case LOST_DST: return "lost (node 1)";
    case FINISHED | LOST_DST: return "finished or lost (node 1)";
    case FINISHED | LOST_SRC: return "finished or lost (node 0)";
    default: return "?";
    }
}

int main(int argc, char **argv)
{
    int modes = 3, quiet = 0, cells_max = (int)NCELLS, pass = 0, fail = 0, skip = 0;
    double slowest = 0;
    char failed[2048] = "";          /* repeated at the end: a log's middle may be cut */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stop-and-copy") == 0) modes = 1;
        else if (strcmp(argv[i], "--precopy") == 0) modes = 2;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--cells") == 0 && i + 1 < argc) cells_max = atoi(argv[++i]);
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ns = (int64_t)atoi(argv[++i]) * 1000000;
        else {
            fprintf(stderr, "usage: %s [--stop-and-copy | --precopy] [--timeout-ms T] [--cells N] [--quiet]\n",
                    argv[0]);
            return 2;
        }
    }
    ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED) return 2;
    for (int precopy = 0; precopy < 2; precopy++) {
        if (!(modes & (1 << precopy))) continue;
        printf("kill matrix, %s: a migration from node 0 to node 1; at each step, kill the\n"
               "source, then the destination\n\n", precopy ? "pre-copy" : "stop and copy");
        printf("%-20s | %-26s | %-26s\n", "step", "kill the source", "kill the destination");
        printf("---------------------+----------------------------+---------------------------\n");
        for (int i = 0; i < cells_max && i < (int)NCELLS; i++) {
            const struct cell *c = &cells[i];
            char col[2][160];
            if ((c->precopy == 1 && !precopy) || (c->precopy == 2 && precopy)) continue;
            for (int victim = 0; victim < 2; victim++) {
                struct verdict v = cell(c, victim, precopy);
                for (int a = 1; a < ATTEMPTS && v.outcome == AGAIN; a++) v = cell(c, victim, precopy);
                int want = c->expect[victim];
                if (precopy && victim == SRC &&
                    (strcmp(c->step, "src.block") == 0 || strcmp(c->step, "dst.block") == 0))
                    want |= FINISHED;   /* delta_blocks: a one-transfer delta */
                if (victim == SRC && strcmp(c->step, "dst.block") == 0) {
                    /* every transfer was out before the kill: the destination
                     * must verify it and run it; else either end is right
                     * (writes may sit in the arena, complete but not yet
                     * polled by the source) */
                    want = ctl->sent_first ? FINISHED : (want | FINISHED);
                }
                int ok = v.outcome > 0 && (v.outcome & want);
                if (v.secs > slowest) slowest = v.secs;
                if (v.outcome == -1) {
                    skip++;
                    snprintf(col[victim], sizeof col[victim], "skipped: %s", v.why);
                } else if (ok) {
                    pass++;
                    snprintf(col[victim], sizeof col[victim], "%s", v.why);
                } else {
                    size_t used = strlen(failed);
                    fail++;
                    snprintf(col[victim], sizeof col[victim], "FAIL: %s (want %s)", v.why,
                             name_of(want));
                    snprintf(failed + used, sizeof failed - used, "  %s%s, kill the %s: %s\n",
                             precopy ? "pre-copy " : "", c->step, victim ? "destination" : "source",
                             col[victim]);
                }
            }
            if (!quiet || strncmp(col[0], "FAIL", 4) == 0 || strncmp(col[1], "FAIL", 4) == 0)
                printf("%-20s | %-26s | %s\n", c->step, col[0], col[1]);
        }
        printf("\n");
    }
    if (fail) printf("failed cells:\n%s\n", failed);
    printf("%d cells passed, %d failed, %d skipped; the slowest took %.2f s\n", pass, fail, skip,
           slowest);
    return fail ? 1 : 0;
}
