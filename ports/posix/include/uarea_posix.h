/*
 * uarea_posix.h - the POSIX port: clusters as processes, a running
 * multi-threaded program that migrates between them.
 *
 *   #define UAREA_IMPLEMENTATION          // in one C file of the program
 *   #include <uarea_posix.h>              // before or after the core headers
 *
 *   static int app_main(int argc, char **argv) {
 *       uarea_tid_t t;
 *       uarea_thread_create(&t, worker, NULL);  // threads of the container
 *       migrate_to(2);                          // this container moves to node 2
 *       printf("now on node %d\n", noc_node_self());
 *       ...
 *   }
 *   int main(int argc, char **argv) {
 *       return uarea_posix_run(&(uarea_posix_desc){ .nodes = 4 }, app_main, argc, argv);
 *   }
 *
 * uarea_posix_run() maps the container region at one fixed address, creates
 * the shared-memory NoC (uarea_posix/noc_shm.h), and forks desc.nodes node
 * processes (default 4). Each node runs desc.cores core threads (default 2)
 * that run the container's user threads when the container is on that node,
 * and a master thread (the node process's main thread) that runs the
 * migration daemon (migrate/daemon.h). app_main runs as thread 0 of a
 * container that starts on node 0, with a copy of argv kept in the container
 * (it moves with it, and survives a checkpoint). When it returns, every node
 * shuts down and uarea_posix_run() returns its value in the launching
 * process. A run may not start inside a run (UAREA_ESTATE).
 *
 * How a run ends (docs/reliability.md):
 *  - app_main returns, or a container thread calls exit(n) or _exit(n): the
 *    container's program is over, with that value;
 *  - the node that holds the only copy of a container dies (a signal: a
 *    crash, abort(), kill): the run returns UAREA_ELOST, says on stderr
 *    which node died and how, and fills desc.report. Who holds a container
 *    follows the migration protocol's commit point: a death of the source
 *    after it, or of the destination before it, loses nothing;
 *  - a node that holds nothing dies: the run goes on without it;
 *  - the launcher is killed: every node dies with it.
 * The launcher waits for its own node processes only (not for other
 * children of the program).
 *
 * What moves with the container: the UArea, the thread stacks, the heap of
 * uarea_malloc() and every global marked UAREA_USER. Everything else of a node
 * process stays behind: see docs/posix-port.md for what a containerised
 * program may and may not do. A container thread's sleep(), usleep(),
 * nanosleep(), clock_nanosleep(), poll() and select() sleep their whole time
 * (uarea_posix/sleep.h).
 *
 * migrate_to(node) / kmigrate_to(node), called by a thread of the container:
 * the container freezes (every thread parks at its next scheduling point),
 * travels, and resumes on `node`; the call returns 0 there. If the move fails
 * (refused, timeout, dead destination), the container resumes where it was
 * and the call returns the error. A migrate_to while a checkpoint of the
 * container is being taken, or a checkpoint while it migrates, returns
 * UAREA_EBUSY.
 *
 * Configuration (#ifndef defaults):
 *   UAREA_POSIX_REGION_ADDR   fixed address of the container region; the
 *                             default depends on the sanitizer in use (ASan
 *                             and TSan reserve different parts of memory)
 *   UAREA_STACK_SIZE          65536 here (user code calls libc, whose stack
 *                             needs exceed the MPPA-256's 8 KiB); only the
 *                             used part of a stack migrates
 *   UAREA_POSIX_QUANTUM_NS    preemption tick (2 ms; 0: none)
 *   UAREA_POSIX_SLEEP_CALLS   1: the sleeping calls above (uarea_posix/sleep.h)
 *
 * Implementation: UAREA_IMPLEMENTATION (or UAREA_POSIX_IMPLEMENTATION with
 * the core modules' macros) in one C file. Linux only.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE 1
#endif

#if defined(UAREA_PORT_H) && !defined(UAREA_POSIX_PORT_H)
#  error "<uarea_posix.h> comes after a uarea header built against another port (the null port when none was selected). Put the port's include directory (ports/posix/include, whose uarea_port.h selects the port for every uarea header) on the include path, as the uarea::posix CMake target and pkg-config uarea-posix do, or include <uarea_posix.h> before the other uarea headers; and define neither UAREA_PORT_NULL nor another UAREA_PORT_HEADER"
#endif
#ifndef UAREA_PORT_HEADER
#  define UAREA_PORT_HEADER <uarea_posix/port.h>
#endif

#include <uarea_posix/noc_shm.h>
#include <uarea_posix/dirty.h>
#include <uarea/thread.h>
#include <migrate/migrate.h>
#include <migrate/daemon.h>
#include <migrate/syscall.h>
#include <migrate/master.h>

#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA_POSIX_IMPLEMENTATION)
#  define UAREA_POSIX_IMPLEMENTATION
#endif

#ifndef UAREA_POSIX_H
#define UAREA_POSIX_H

#include <stddef.h>

UAREA_EXTERN_C_BEGIN

/* A global that belongs to the container: it migrates with it. */
#define UAREA_USER __attribute__((section("uarea_user"), used, aligned(16)))

/* How a node process of a run ended (uarea_posix_report). */
typedef enum uarea_posix_end {
    UAREA_POSIX_END_RUNNING = 0, /* it has not ended (the report of a run that failed to start) */
    UAREA_POSIX_END_CLEAN,       /* it left when the run ended */
    UAREA_POSIX_END_EXIT,        /* the program called exit(code) or _exit(code) in it */
    UAREA_POSIX_END_KILLED,      /* a signal killed it (code: the signal) */
    UAREA_POSIX_END_FAILED,      /* the runtime could not go on in it (code: the uarea error) */
    UAREA_POSIX_END_UNKNOWN      /* it ended, and another part of the program reaped it */
} uarea_posix_end;

/* What happened to the nodes and containers of a run (uarea_posix_desc.report):
 * filled by uarea_posix_run() before it returns. */
typedef struct uarea_posix_report {
    int nodes;                    /* node processes of the run */
    struct {
        long pid;
        int end;                  /* uarea_posix_end */
        int code;                 /* see uarea_posix_end */
        int container;            /* the container it held when it ended, -1: none */
    } node[NOC_NODES_MAX];
    int lost_container;           /* the first container lost, -1: none */
    int lost_node;                /* the node whose death lost it, -1: none */
    uint32_t migrations;          /* migrations the containers made */
    uint32_t stats_dropped;       /* of those, the ones on_migration never saw */
} uarea_posix_report;

typedef struct uarea_posix_desc {
    int nodes;                /* node processes; 0: 4 */
    int cores;                /* core threads per node; 0: 2 */
    int64_t timeout_ns;       /* migration protocol timeout; 0: 1 s */
    /* Called in the launching process, on the thread that called
     * uarea_posix_run(), as each migration of a container completes, with
     * its statistics (NULL: none). */
    void (*on_migration)(void *arg, const migrate_stats *st);
    void *arg;
    /* Start from a checkpoint file (uarea_posix_checkpoint) instead of a new
     * container: app_main is not called; the container resumes where it was
     * written, with the argv it had. NULL: a new container. A file that
     * cannot be opened: UAREA_ENOENT, UAREA_EACCES or UAREA_EIO, nothing
     * started; a damaged one: the image reader's error. */
    const char *restore;
    /* Containers at the start: container i starts on node i, each running
     * app_main as its thread 0 (uarea_posix_container() tells which it is).
     * The run ends when every container's app_main has returned; it returns
     * the first non-zero value. 0: one. At most `nodes`. */
    int containers;
    /* A process scheduler: node 0's master calls it about every
     * scheduler_period_ns (0: 1 ms) while the run lasts, in node 0's process
     * (arg is the same pointer; what it writes there stays in that process).
     * It may look where containers are (uarea_posix_where) and move them
     * (uarea_posix_move), through node 0's migration daemon. NULL: none. */
    void (*scheduler)(void *arg);
    int64_t scheduler_period_ns;
    /* 1: never pre-copy (stop and copy: the whole container moves during
     * the freeze). 0: pre-copy where the kernel can track written pages
     * (UAREA_POSIX_PRECOPY builds). */
    int no_precopy;
    /* Filled before uarea_posix_run() returns (NULL: none). */
    uarea_posix_report *report;
    /* Called in a node process at each named step of a migration and of the
     * runtime around it (NULL: none): the protocol's trace points
     * (migrate_point_name(): "src.frozen", "dst.verified", ...; "pre."
     * before them in a pre-copy's first phase) and the runtime's own
     * ("node.activate", "node.active", "node.release", "node.released",
     * "node.arrived", "node.done", "custody.receiving", "custody.discarded",
     * "custody.committed", "custody.activated"). For timing a migration
     * step by step, and for tests that kill a node at a named step
     * (docs/reliability.md). It runs on the node's master thread, inside the
     * runtime: it must not call into uarea. */
    void (*on_step)(void *arg, int node, const char *step);
} uarea_posix_desc;

UAREA_API int uarea_posix_run(const uarea_posix_desc *desc,
                              int (*app_main)(int argc, char **argv), int argc, char **argv);

/* The container heap: it migrates. NULL outside a container thread or when
 * the heap is full. */
UAREA_API void *uarea_malloc(size_t size);
UAREA_API void uarea_free(void *ptr);

/* Write the running container to a checkpoint file (called by a container
 * thread): the container freezes, is written to `path`, and runs on. Returns
 * 0 after writing, 1 when the container was restored from that file by a new
 * run (uarea_posix_desc.restore), or a negative error: UAREA_EBUSY while the
 * container migrates or another checkpoint is taken, UAREA_ENOENT (no such
 * directory), UAREA_EACCES, UAREA_ENOSPC, UAREA_EIO. The file is written
 * whole under a temporary name and then renamed over `path`: a checkpoint
 * that fails leaves the previous file at `path` as it was. It is created
 * readable by its owner only (0600): it holds the container's memory. The
 * program must be the same binary, linked at fixed addresses (-no-pie) so
 * that a new run has the same addresses, and built without stack protector
 * (the canary differs between runs); see docs/posix-port.md. */
UAREA_API int uarea_posix_checkpoint(const char *path);

/* The process id of node `node` of the current run (tests kill nodes with it);
 * -1 when there is no such node. */
UAREA_API long uarea_posix_node_pid(int node);

/* Which container the calling thread belongs to (0 .. containers - 1). */
UAREA_API int uarea_posix_container(void);

/* Statistics of the calling container's last completed migration (callable
 * from a container thread right after migrate_to returned 0). UAREA_EAGAIN:
 * none yet; UAREA_EINVAL: NULL, or not in a run. */
UAREA_API int uarea_posix_last_migration(migrate_stats *st);

/* The fingerprint this binary's images carry (its code bytes, CRC32C). */
UAREA_API uint64_t uarea_posix_binary_fp(void);

/* The node that holds container `container` now (any process of a run may
 * ask): the one that runs it, or, from a migration's commit point on, its
 * destination. UAREA_EINVAL for no such container, UAREA_ESTATE outside a
 * run. */
UAREA_API int uarea_posix_where(int container);
/* From desc.scheduler only: asks the node holding `container` to move it to
 * `node` (a controller request of the migration protocol). 0 when the
 * request is under way; its outcome comes from uarea_posix_move_result().
 * UAREA_ESTATE outside the scheduler, UAREA_EINVAL no such container,
 * UAREA_EBADNODE, UAREA_ESAMENODE (it is there), UAREA_EBUSY (the node
 * holds another container, or a request is still under way). */
UAREA_API int uarea_posix_move(int container, int node);
/* The outcome of the scheduler's last move: 0 moved, a negative error why
 * not, UAREA_EAGAIN while under way, UAREA_ESTATE when none was asked or
 * outside the scheduler, UAREA_ETIMEDOUT when the answer was lost (look with
 * uarea_posix_where() where the container is). */
UAREA_API int uarea_posix_move_result(void);

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_POSIX_IMPLEMENTATION) && !defined(UAREA__POSIX_RUNTIME_IMPLEMENTED)
#define UAREA__POSIX_RUNTIME_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ucontext.h>

UAREA_EXTERN_C_BEGIN

/* ==== Configuration ===================================================== */
#ifndef UAREA_POSIX_REGION_ADDR
#  if defined(UAREA__TSAN)
#    define UAREA_POSIX_REGION_ADDR 0x80000000ull      /* TSan reserves the other ones */
#  else
#    define UAREA_POSIX_REGION_ADDR 0x200000000000ull  /* maps plain and under ASan */
#  endif
#endif

#ifndef UAREA_POSIX_BLOCK
#  define UAREA_POSIX_BLOCK (256u * 1024u)     /* portal transfer block per node */
#endif

/* Pre-copy (docs/posix-port.md): 1 sends a migrating container's heap and
 * user sections while it runs, then during the freeze only what was written
 * since, when the kernel can track written pages (uarea_posix/dirty.h).
 * Off under ThreadSanitizer: the pre-copy reads memory that threads are
 * writing, by design (such pages are sent again), which TSan reports. */
#ifndef UAREA_POSIX_PRECOPY
#  ifdef UAREA__TSAN
#    define UAREA_POSIX_PRECOPY 0
#  else
#    define UAREA_POSIX_PRECOPY 1
#  endif
#endif
UAREA_STATIC_ASSERT(UAREA_POSIX_BLOCK <= NOC_PORTAL_MAX_SIZE, "a block is one portal transfer");

#ifndef UAREA_POSIX_QUANTUM_NS
#  ifdef UAREA__TSAN
/* ThreadSanitizer defers signals to its own safe points and delivers them in
 * the state of the fiber that was current, which a yield from the handler
 * then carries to another core: no preemption under TSan. */
#    define UAREA_POSIX_QUANTUM_NS 0
#  else
#    define UAREA_POSIX_QUANTUM_NS 2000000     /* preemption tick of a core, ns; 0: none */
#  endif
#endif
#ifndef UAREA_POSIX_PREEMPT_SIG
#  define UAREA_POSIX_PREEMPT_SIG SIGURG
#endif

/* Migration records the launcher has not taken yet (on_migration). */
#define UAREA__POSIX_RING 256u
/* ... and the ones a node keeps while that ring is full. */
#define UAREA__POSIX_PENDING 32u

#define UAREA__POSIX_SYS_CKPT 0x434b5054u      /* "CKPT": uarea_posix_checkpoint */

/* The user section: linker-made bounds (weak: a program may have none). */
extern char __start_uarea_user[] __attribute__((weak));
extern char __stop_uarea_user[] __attribute__((weak));
/* This binary's code, for the fingerprint. */
extern char __executable_start[] __attribute__((weak));
extern char etext[] __attribute__((weak));

/* ==== State shared by the launcher and every node ========================
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
    struct uarea__posix_stats_slot ring[UAREA__POSIX_RING];
};

static struct uarea__posix_shared *uarea__posix_sh;
static int (*uarea__posix_app)(int, char **);
static int uarea__posix_argc;
static char **uarea__posix_argv;
static uint64_t uarea__posix_fp;
static int uarea__posix_restore_fd = -1;      /* desc.restore, opened by the launcher */
/* The container's own index: in the user section, so it travels with it. */
static int uarea__posix_cid __attribute__((section("uarea_user"), used));

/* ==== A node process's own state ======================================== */
typedef struct uarea__posix_node {
    int self;
    const uarea_posix_desc *desc;
    migrate_master m;         /* the node's master: its daemon and the boards */
    /* Core threads: made at the first activation, parked between visits
     * (a futex on gen) so that an arrival does not wait for new threads. */
    pthread_t cores[UAREA_CORES_MAX];
    unsigned ids[UAREA_CORES_MAX];
    unsigned char out[UAREA_CORES_MAX];   /* core thread i has ended */
    uint32_t in[UAREA_CORES_MAX];         /* core thread i runs `active` */
    struct uarea *active;     /* what the core threads run, NULL: nothing */
    uint32_t gen;             /* bumped at every activation and at the end */
    uint32_t left;            /* bumped when a core thread leaves `active` */
    int made;                 /* the core threads exist */
    int stop;                 /* the node ends: core threads return */
    int running;              /* the cores run the container (activated, not released) */
    struct uarea *ua;
    migrate_region user[1];
    uint32_t n_user;
    uarea_posix_dirty dirty_region, dirty_user;   /* pre-copy trackers */
    noc_shm_node *noc;        /* this node's end of the NoC (its master's mailbox) */
    int ckpt_core;            /* board of a checkpoint being taken, -1: none */
    unsigned char *block;     /* the node's transfer buffer (UAREA_POSIX_BLOCK) */
    size_t block_size;
    uint64_t next_tick;       /* desc.scheduler's next call (node 0) */
    int restored;             /* the container came from a checkpoint file */
    /* migration records waiting for room in the launcher's ring */
    struct { int container; migrate_stats st; } pending[UAREA__POSIX_PENDING];
    unsigned n_pending;
} uarea__posix_node;

static uarea__posix_node *uarea__posix_me;
static _Thread_local int uarea__posix_in_scheduler; /* this thread is in desc.scheduler */

#include "uarea_posix/preempt.h"
#include "uarea_posix/sleep.h"

static void uarea__posix_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void uarea__posix_logf(int level, const char *fmt, ...)
{
    char line[180];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    uarea__posix_log(level, line);
}

/* ==== Custody and events ================================================ */
#define UAREA__POSIX_CUSTODY(holder, cand) \
    ((uint32_t)((holder) + 1) | ((uint32_t)((cand) + 1) << 16))
static int uarea__posix_holder_of(uint32_t w) { return (int)(w & 0xffffu) - 1; }
static int uarea__posix_cand_of(uint32_t w) { return (int)(w >> 16) - 1; }

/* The launcher should look at the shared block again. */
static void uarea__posix_tell_launcher(void)
{
    uint64_t one = 1;
    if (uarea__posix_sh != NULL && uarea__posix_sh->efd >= 0)
        (void)!write(uarea__posix_sh->efd, &one, sizeof one);
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

static void uarea__posix_step(uarea__posix_node *n, const char *step)
{
    if (n->desc->on_step != NULL) n->desc->on_step(n->desc->arg, n->self, step);
}

/* migrate_node_desc.on_custody: the books follow the protocol. */
static void uarea__posix_on_custody(void *arg, migrate_custody what, int peer)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    int c, k = uarea__posix_sh->containers;
    const char *step = "custody";
    switch (what) {
    case MIGRATE_CUSTODY_RECEIVING:      /* from the holder of one container */
        for (c = 0; c < k; c++) uarea__posix_custody_set(c, -2, n->self, peer, -2);
        step = "custody.receiving";
        break;
    case MIGRATE_CUSTODY_DISCARDED:
        for (c = 0; c < k; c++) uarea__posix_custody_set(c, -2, -1, -2, n->self);
        step = "custody.discarded";
        break;
    case MIGRATE_CUSTODY_COMMITTED:      /* source: its container is peer's now */
        /* (unless the destination, already running it, moved it on) */
        uarea__posix_custody_set(uarea__posix_cid, peer, -2, n->self, -2);
        step = "custody.committed";
        break;
    case MIGRATE_CUSTODY_ACTIVATED:      /* the image in place names its container */
        uarea__posix_custody_set(uarea__posix_cid, n->self, -1, -2, -2);
        step = "custody.activated";
        break;
    }
    uarea__posix_tell_launcher();
    uarea__posix_step(n, step);
}

/* migrate_node_desc.trace: the protocol's steps, to desc.on_step. */
static void uarea__posix_on_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    char name[40];
    const char *s = migrate_point_name((int)p);
    size_t k = 0;
    (void)mid;
    (void)peer;
    if (n->desc->on_step == NULL) return;
    if (phase == 1) {
        memcpy(name, "pre.", 4);
        k = 4;
    }
    while (*s && k < sizeof name - 1) name[k++] = *s++;
    name[k] = '\0';
    uarea__posix_step(n, name);
}

/* Container c's program ended with `code` (thread 0 returned, or exit()):
 * the first report counts; the run stops with the last container. A
 * container thread calls it: inside the critical section, or a tick could
 * park the thread between `done` (on which its master releases the
 * container, and the thread never runs again) and `stop`. */
static void uarea__posix_container_done(int c, int code)
{
    int expect = 0;
    uintptr_t crit = UAREA_PORT_CRIT_ENTER();
    if (c >= 0 && c < uarea__posix_sh->containers &&
        __atomic_compare_exchange_n(&uarea__posix_sh->done[c], &expect, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&uarea__posix_sh->exit_code[c], code, __ATOMIC_RELEASE);
        if (__atomic_add_fetch(&uarea__posix_sh->done_count, 1, __ATOMIC_ACQ_REL) >=
            uarea__posix_sh->containers)
            __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
        uarea__posix_tell_launcher();
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

/* exit() in a node process (on_exit): a container thread (or the program's
 * scheduler) ended the program; the container held here ends with `status`.
 * The node then ends at once, its stdio flushed: the program's other exit
 * handlers belong to the launcher's process (a node inherited them through
 * the fork) and are not run here (nor a sanitizer's leak check, which would
 * stop a node whose threads are the container's). */
static void uarea__posix_on_exit(int status, void *arg)
{
    uarea__posix_node *n = uarea__posix_me;
    int c = -1;
    (void)arg;
    if (n == NULL || uarea__posix_sh == NULL) return;
    (void)UAREA_PORT_CRIT_ENTER();        /* no tick parks this thread now */
    if (migrate_node_present(&n->m.node)) c = uarea__posix_cid;
    /* first the end, then the container's: its end stops the run */
    uarea__posix_say_end(n->self, UAREA_POSIX_END_EXIT, status, c);
    if (c >= 0) uarea__posix_container_done(c, status);
    fflush(NULL);
    _exit(status);
}

/* ==== Queries of a run ================================================== */
UAREA_API uint64_t uarea_posix_binary_fp(void) { return uarea__posix_fp; }

UAREA_API int uarea_posix_container(void) { return uarea__posix_cid; }

UAREA_API long uarea_posix_node_pid(int node)
{
    if (uarea__posix_sh == NULL || node < 0 || node >= uarea__posix_sh->nodes) return -1;
    long pid = __atomic_load_n(&uarea__posix_sh->pid[node], __ATOMIC_ACQUIRE);
    return pid > 0 ? pid : -1;
}

UAREA_API int uarea_posix_where(int container)
{
    if (uarea__posix_sh == NULL) return UAREA_ESTATE;
    if (container < 0 || container >= uarea__posix_sh->containers) return UAREA_EINVAL;
    return uarea__posix_holder_of(
        __atomic_load_n(&uarea__posix_sh->custody[container], __ATOMIC_ACQUIRE));
}

UAREA_API int uarea_posix_move(int container, int node)
{
    int from, c;
    if (!uarea__posix_in_scheduler || uarea__posix_me == NULL) return UAREA_ESTATE;
    if (container < 0 || container >= uarea__posix_sh->containers) return UAREA_EINVAL;
    if (node < 0 || node >= uarea__posix_sh->nodes) return UAREA_EBADNODE;
    from = uarea_posix_where(container);
    if (from < 0) return UAREA_ENOCONTAINER;
    if (from == node) return UAREA_ESAMENODE;
    for (c = 0; c < uarea__posix_sh->containers; c++)
        if (uarea_posix_where(c) == node) return UAREA_EBUSY;
    return migrate_daemon_request(&uarea__posix_me->m.node.d, from, node);
}

UAREA_API int uarea_posix_move_result(void)
{
    if (!uarea__posix_in_scheduler || uarea__posix_me == NULL) return UAREA_ESTATE;
    return migrate_daemon_ctrl_result(&uarea__posix_me->m.node.d, NULL);
}

UAREA_API void *uarea_malloc(size_t size)
{
    struct uarea *ua = uarea_current();
    return ua ? uarea_heap_alloc(ua, size) : NULL;
}

UAREA_API void uarea_free(void *ptr)
{
    struct uarea *ua = uarea_current();
    if (ua && ptr) (void)uarea_heap_free(ua, ptr);
}

/* ==== Migration records ================================================== */
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

/* Records kept while the ring was full go first, in order. */
static void uarea__posix_records_flush(uarea__posix_node *n)
{
    unsigned i = 0;
    while (i < n->n_pending && uarea__posix_ring_put(n->pending[i].container, &n->pending[i].st) == 0)
        i++;
    if (i == 0) return;
    memmove(n->pending, n->pending + i, (n->n_pending - i) * sizeof n->pending[0]);
    n->n_pending -= i;
    uarea__posix_tell_launcher();
}

/* The container arrived here: its record, for the container (its last
 * migration) and for the launcher (on_migration). */
static void uarea__posix_record(uarea__posix_node *n, int c, const migrate_stats *st)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    if (c >= 0 && c < sh->containers) {
        __atomic_add_fetch(&sh->last[c].seq, 1u, __ATOMIC_ACQ_REL);     /* odd: writing */
        sh->last[c].st = *st;
        __atomic_add_fetch(&sh->last[c].count, 1u, __ATOMIC_RELEASE);
        __atomic_add_fetch(&sh->last[c].seq, 1u, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&sh->nstats, 1u, __ATOMIC_RELEASE);
    uarea__posix_records_flush(n);
    if (n->n_pending == 0 && uarea__posix_ring_put(c, st) == 0) {
        uarea__posix_tell_launcher();
    } else if (n->n_pending < UAREA__POSIX_PENDING) {
        n->pending[n->n_pending].container = c;
        n->pending[n->n_pending].st = *st;
        n->n_pending++;
    } else {
        __atomic_add_fetch(&sh->dropped, 1u, __ATOMIC_RELEASE);
    }
}

/* ==== Syscall boards: calls of container threads to the master ========== */
/* UAREA_PORT_WAKE_MASTER's hook: a container thread posted a call; the
 * master may sleep in its mailbox wait (up to 1 ms): kick it out. */
static void uarea__posix_kick_master(void)
{
    uarea__posix_node *n = uarea__posix_me;
    if (n != NULL && n->noc != NULL) noc_shm_kick(n->noc);
}

/* migrate_to and the board handshake are migrate/syscall.h's; a checkpoint
 * is one more call on the same boards, served by this runtime. */
UAREA_API int uarea_posix_checkpoint(const char *path)
{
    if (path == NULL || path[0] == '\0') return UAREA_EINVAL;
    return migrate_syscall(UAREA__POSIX_SYS_CKPT, (uintptr_t)path);
}

/* ==== Cores ============================================================= */
/* A core thread: runs the container while there is one (`active`), parks
 * while there is none or its program ended. `in` is raised before `active`
 * is read, and a release waits for it to drop: no core thread enters a
 * container that is leaving. */
static void *uarea__posix_core_main(void *arg)
{
    uarea__posix_node *n = uarea__posix_me;
    unsigned id = *(unsigned *)arg;
    timer_t timer;
    int ticks;
    memset(&timer, 0, sizeof timer);
    uarea__posix_core = id;
    ticks = uarea__posix_tick_make(&timer);
    for (;;) {
        uint32_t g = __atomic_load_n(&n->gen, __ATOMIC_SEQ_CST);
        struct uarea *ua;
        if (__atomic_load_n(&n->stop, __ATOMIC_SEQ_CST)) break;
        __atomic_store_n(&n->in[id], 1u, __ATOMIC_SEQ_CST);
        ua = __atomic_load_n(&n->active, __ATOMIC_SEQ_CST);
        if (ua != NULL) {
            if (ticks) uarea__posix_tick_arm(timer, 1);
            (void)uarea_core_run(ua);   /* released, or no thread left */
            if (ticks) uarea__posix_tick_arm(timer, 0);
        }
        __atomic_store_n(&n->in[id], 0u, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&n->left, 1u, __ATOMIC_SEQ_CST);
        uarea__posix_futex_wake(&n->left);
        /* until the next activation, or the end */
        uarea__posix_futex_wait(&n->gen, g, NULL);
    }
    if (ticks) timer_delete(timer);
    __atomic_store_n(&n->out[id], 1, __ATOMIC_RELEASE);
    return NULL;
}

static void uarea__posix_start_cores(void *arg, struct uarea *ua)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    unsigned i;
    if (n->running) return;
    n->ua = ua;
    uarea__posix_step(n, "node.activate");
    __atomic_store_n(&n->active, ua, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&n->gen, 1u, __ATOMIC_SEQ_CST);
    if (!n->made) {
        for (i = 0; i < uarea__posix_ncores; i++) {
            n->ids[i] = i;
            if (pthread_create(&n->cores[i], NULL, uarea__posix_core_main, &n->ids[i]) != 0) {
                uarea__posix_log(0, "cannot start a core thread");
                abort();
            }
        }
        n->made = 1;
    } else {
        uarea__posix_futex_wake(&n->gen);
    }
    n->running = 1;
    uarea__posix_step(n, "node.active");
}

/* The core threads leave a released container at their threads' next
 * scheduling points. Moving a container, they all are parked already (it is
 * frozen): wait for them. When its program has ended (`bounded`), a thread
 * may be where no tick can stop it (spinning in libc): wait a while, then
 * leave such a core thread where it is (it is detached when the node ends);
 * the node keeps the released container, so it takes in no other. */
static void uarea__posix_cores_leave(uarea__posix_node *n, int bounded)
{
    unsigned i, stuck = 0;
    uint64_t end = uarea__posix_now() + UINT64_C(2000000000);   /* bounded: 2 s */
    if (!n->running) return;
    uarea__posix_step(n, "node.release");
    __atomic_store_n(&n->active, (struct uarea *)NULL, __ATOMIC_SEQ_CST);
    for (;;) {
        uint32_t seen = __atomic_load_n(&n->left, __ATOMIC_SEQ_CST);
        struct timespec ms = {0, 1000000};
        stuck = 0;
        for (i = 0; i < uarea__posix_ncores; i++)
            stuck += __atomic_load_n(&n->in[i], __ATOMIC_SEQ_CST) != 0;
        if (stuck == 0 || (bounded && uarea__posix_now() >= end)) break;
        uarea__posix_resched(0);   /* a core idle in the scheduler looks again */
        uarea__posix_futex_wait(&n->left, seen, &ms);
    }
    if (stuck)
        uarea__posix_logf(1, "node %d: %u core thread(s) did not leave the ended container: a thread "
                             "runs where no tick can stop it", n->self, stuck);
    n->running = 0;
    uarea__posix_step(n, "node.released");
}

/* The node ends: parked core threads return; one still inside an ended
 * container (cores_leave gave up on it) is left detached. */
static void uarea__posix_cores_end(uarea__posix_node *n)
{
    unsigned i;
    if (!n->made) return;
    __atomic_store_n(&n->stop, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&n->gen, 1u, __ATOMIC_SEQ_CST);
    uarea__posix_futex_wake(&n->gen);
    for (i = 0; i < uarea__posix_ncores; i++) {
        if (__atomic_load_n(&n->in[i], __ATOMIC_SEQ_CST) &&
            !__atomic_load_n(&n->out[i], __ATOMIC_ACQUIRE))
            pthread_detach(n->cores[i]);
        else
            pthread_join(n->cores[i], NULL);
    }
    n->made = 0;
}

static void uarea__posix_stop_cores(void *arg, struct uarea *ua)
{
    (void)ua;
    uarea__posix_cores_leave((uarea__posix_node *)arg, 0);
}

/* Thread 0 of the container: app_main with the argv kept in the container
 * (a block of its heap: argc, the pointers, the strings). */
static void *uarea__posix_main(void *arg)
{
    int *args = (int *)arg;
    int rc = uarea__posix_app(args[0], (char **)(void *)(args + 4));
    uarea__posix_container_done(uarea__posix_cid, rc);
    return NULL;
}

/* The launcher's argv, copied into the new container's heap. NULL when it
 * does not fit. */
static void *uarea__posix_argv_copy(struct uarea *ua)
{
    int argc = uarea__posix_argv != NULL && uarea__posix_argc > 0 ? uarea__posix_argc : 0;
    size_t strs = 0, head = 4 * sizeof(int) + ((size_t)argc + 1) * sizeof(char *);
    int i;
    int *block;
    char **v;
    char *p;
    for (i = 0; i < argc; i++)
        strs += uarea__posix_argv[i] != NULL ? strlen(uarea__posix_argv[i]) + 1 : 1;
    block = (int *)uarea_heap_alloc(ua, head + strs);
    if (block == NULL) return NULL;
    block[0] = argc;
    v = (char **)(void *)(block + 4);
    p = (char *)block + head;
    for (i = 0; i < argc; i++) {
        const char *a = uarea__posix_argv[i] != NULL ? uarea__posix_argv[i] : "";
        size_t len = strlen(a) + 1;
        memcpy(p, a, len);
        v[i] = p;
        p += len;
    }
    v[argc] = NULL;
    return block;
}

/* ==== The master's service of the boards ================================ */
/* The port's own calls on the boards (migrate_master_desc.serve): the
 * checkpoints. migrate/master.h serves migrate_to first. One at a time: a
 * checkpoint while the container migrates, or a migrate_to while a
 * checkpoint is taken, gets UAREA_EBUSY (the node holds the container for
 * the checkpoint, so a controller's MOVE is refused too: migrate_node_hold). */
static void uarea__posix_ckpt_step(uarea__posix_node *n, unsigned char *buf, size_t cap);

static int uarea__posix_boards(uarea__posix_node *n, struct uarea *ua)
{
    unsigned c;
    int did = 0;
    for (c = 0; c < UAREA_CORES_MAX; c++) {
        struct uarea_board *b = &ua->board[c];
        if (__atomic_load_n(&b->number, __ATOMIC_ACQUIRE) != UAREA__POSIX_SYS_CKPT) continue;
        if (__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE)) {
            int rc;
            __atomic_store_n(&b->pending, 0u, __ATOMIC_RELEASE);
            did++;
            if (n->ckpt_core >= 0 || migrate_daemon_busy(&n->m.node.d)) {
                __atomic_store_n(&b->ret, (intptr_t)UAREA_EBUSY, __ATOMIC_RELEASE);
                continue;
            }
            rc = migrate_freeze_begin(ua);
            if (rc < 0) {
                __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
            } else {
                n->ckpt_core = (int)c;
                (void)migrate_node_hold(&n->m.node, 1);
            }
        } else if ((int)c != n->ckpt_core && n->restored &&
                   __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN) {
            /* this checkpoint is the one the run restored from */
            __atomic_store_n(&b->ret, (intptr_t)1, __ATOMIC_RELEASE);
            did++;
        }
    }
    return did;
}

static int uarea__posix_serve(void *arg, struct uarea *ua, int arrived)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    int did = uarea__posix_boards(n, ua);
    (void)arrived;
    /* still freezing: the master relaxes between turns (ckpt_busy) */
    if (n->ckpt_core >= 0) uarea__posix_ckpt_step(n, n->block, n->block_size);
    return did;
}

static int uarea__posix_ckpt_busy(void *arg) { return ((uarea__posix_node *)arg)->ckpt_core >= 0; }

/* ==== Checkpoint files =================================================== */
/* A file system error as the library's: the ones a caller can act on by
 * name, the rest as UAREA_EIO. */
static int uarea__posix_errno_err(int e)
{
    switch (e) {
    case ENOENT: case ENOTDIR: case ENAMETOOLONG: case ELOOP: return UAREA_ENOENT;
    case EACCES: case EPERM: case EROFS: return UAREA_EACCES;
    case ENOSPC: case EDQUOT: case EFBIG: return UAREA_ENOSPC;
    default: return UAREA_EIO;
    }
}

struct uarea__posix_file {
    int fd;
    int err;                  /* errno of the first failure, 0: none */
};

static int uarea__posix_sink(void *ctx, const void *buf, size_t len)
{
    struct uarea__posix_file *f = (struct uarea__posix_file *)ctx;
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t k = write(f->fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            f->err = k < 0 ? errno : EIO;
            return uarea__posix_errno_err(f->err);
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static long uarea__posix_source(void *ctx, void *buf, size_t cap)
{
    struct uarea__posix_file *f = (struct uarea__posix_file *)ctx;
    size_t got = 0;
    while (got < cap) {
        ssize_t k = read(f->fd, (char *)buf + got, cap - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            f->err = errno;
            return uarea__posix_errno_err(errno);
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    return (long)got;
}

/* Write the frozen container to `path`: whole, under a temporary name in the
 * same directory, flushed to the disk, then renamed over `path` (a failure
 * leaves what was at `path`); created 0600. */
static int uarea__posix_ckpt_write(uarea__posix_node *n, const char *path, unsigned char *buf,
                                   size_t cap)
{
    size_t len = strlen(path);
    char *tmp = (char *)malloc(len + 8), *dir;
    struct uarea__posix_file f;
    int rc, dfd;
    if (tmp == NULL) return UAREA_ENOMEM;
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    f.err = 0;
    f.fd = mkstemp(tmp);   /* mode 0600 */
    if (f.fd >= 0) (void)fcntl(f.fd, F_SETFD, FD_CLOEXEC);
    if (f.fd < 0) {
        rc = uarea__posix_errno_err(errno);
        free(tmp);
        return rc;
    }
    rc = migrate_checkpoint(n->ua, n->user, n->n_user, uarea__posix_fp, uarea__posix_sink, &f, buf,
                            cap, NULL);
    if (rc == 0 && fsync(f.fd) != 0) rc = uarea__posix_errno_err(errno);
    if (close(f.fd) != 0 && rc == 0) rc = uarea__posix_errno_err(errno);
    if (rc == 0 && rename(tmp, path) != 0) rc = uarea__posix_errno_err(errno);
    if (rc < 0) {
        (void)unlink(tmp);
        free(tmp);
        return rc;
    }
    dir = dirname(tmp);                   /* the rename itself, to the disk */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(tmp);
    return 0;
}

/* A checkpoint asked for: once frozen, write it and let the container run. */
static void uarea__posix_ckpt_step(uarea__posix_node *n, unsigned char *buf, size_t cap)
{
    struct uarea_board *b;
    int rc;
    if (n->ckpt_core < 0) return;
    rc = migrate_freeze_poll(n->ua);
    if (rc == UAREA_EAGAIN) return;
    b = &n->ua->board[n->ckpt_core];
    if (rc == 0) rc = uarea__posix_ckpt_write(n, (const char *)b->args[0], buf, cap);
    (void)migrate_unfreeze(n->ua);
    (void)migrate_node_hold(&n->m.node, 0);
    n->ckpt_core = -1;
    __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
}

/* ==== Dirty pages (pre-copy) ============================================= */
/* The pre-copy's dirty-page hooks (migrate_node_desc): one tracker over the
 * container region, one over the pages of the user section. */
static int uarea__posix_dirty_begin(void *arg)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    int rc = uarea_posix_dirty_begin(&n->dirty_region);
    if (rc == 0 && n->dirty_user.uffd >= 0) rc = uarea_posix_dirty_begin(&n->dirty_user);
    return rc;
}

static int uarea__posix_dirty_collect(void *arg, migrate_dirty_fn mark, void *ctx)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    long rc = uarea_posix_dirty_collect(&n->dirty_region, mark, ctx);
    if (rc >= 0 && n->dirty_user.uffd >= 0) rc = uarea_posix_dirty_collect(&n->dirty_user, mark, ctx);
    return rc < 0 ? (int)rc : 0;
}

/* 1 when both trackers could be set up (else no pre-copy on this node). */
static int uarea__posix_dirty_open(uarea__posix_node *n, void *region)
{
#if UAREA_POSIX_PRECOPY
    if (uarea_posix_dirty_open(&n->dirty_region, region, UAREA_CONTAINER_SIZE) < 0) return 0;
    if (n->n_user) {
        uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = n->user[0].addr & ~(ps - 1u);
        uintptr_t hi = (n->user[0].addr + n->user[0].len + ps - 1u) & ~(ps - 1u);
        if (uarea_posix_dirty_open(&n->dirty_user, (void *)lo, (size_t)(hi - lo)) < 0) {
            uarea_posix_dirty_close(&n->dirty_region);
            return 0;
        }
    }
    return 1;
#else
    (void)n;
    (void)region;
    return 0;
#endif
}

/* ==== A node process ===================================================== */
/* The dirty hooks of the port contract (UAREA_PORT_DIRTY_*, uarea_posix/port.h)
 * on this node's trackers. */
static int uarea__posix_port_dirty_begin(void) { return uarea__posix_dirty_begin(uarea__posix_me); }

/* The container leaves (its copy is wiped): the tracking round is over. */
static void uarea__posix_port_dirty_end(void)
{
    uarea__posix_node *n = uarea__posix_me;
    if (n == NULL) return;
    if (n->dirty_region.uffd >= 0) (void)uarea_posix_dirty_end(&n->dirty_region);
    if (n->dirty_user.uffd >= 0) (void)uarea_posix_dirty_end(&n->dirty_user);
}

static int uarea__posix_port_dirty_collect(void (*mark)(void *, uintptr_t, size_t), void *ctx)
{
    return uarea__posix_dirty_collect(uarea__posix_me, mark, ctx);
}

static void uarea__posix_on_arrival(void *arg, const migrate_stats *st)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    uarea__posix_step(n, "node.arrived");
    uarea__posix_record(n, uarea__posix_cid, st);
}

/* The port's periodic work in the master's loop (migrate_master_desc.tick):
 * records for the launcher, node 0's scheduler, the end of a container
 * whose program ended, the end of the run. */
static int uarea__posix_tick(void *arg)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    const uarea_posix_desc *d = n->desc;
    int did = 0;
    if (__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE)) return -1;
    if (n->n_pending) uarea__posix_records_flush(n);
    if (n->self == 0 && d->scheduler != NULL && uarea__posix_now() >= n->next_tick) {
        int64_t period = d->scheduler_period_ns > 0 ? d->scheduler_period_ns : INT64_C(1000000);
        uarea__posix_in_scheduler = 1;
        d->scheduler(d->arg);
        uarea__posix_in_scheduler = 0;
        n->next_tick = uarea__posix_now() + (uint64_t)period;
        did = 1;
    }
    if (migrate_node_present(&n->m.node) && n->running &&
        __atomic_load_n(&uarea__posix_sh->done[uarea__posix_cid], __ATOMIC_ACQUIRE)) {
        /* this node's container finished; the run ends with the last one */
        uarea__posix_step(n, "node.done");
        (void)uarea_release(n->ua);
        uarea__posix_cores_leave(n, 1);
        did = 1;
    }
    return did;
}

/* Set up the node: its transport, its user section, its master. */
static int uarea__posix_node_setup(uarea__posix_node *n, noc_shm *shm, noc_shm_node *me,
                                   noc_transport *t, void *region, migrate_config *cfg)
{
    migrate_master_desc md;
    uintptr_t lo = (uintptr_t)__start_uarea_user, hi = (uintptr_t)__stop_uarea_user;
    int rc = noc_shm_attach(shm, n->self, me, t);
    if (rc < 0) return rc;
    n->noc = me;
    uarea__posix_wake_fn = uarea__posix_kick_master;
    noc_set_default(t);
    if (lo != 0 && hi > lo) {
        n->user[0].addr = lo;
        n->user[0].len = (size_t)(hi - lo);
        n->n_user = 1;
#ifdef UAREA__ASAN
        /* The section moves as a whole: AddressSanitizer's redzones
         * between the globals of uarea_posix_application()'s objects
         * would stop the image writer's copy and CRC. */
        __asan_unpoison_memory_region((void *)lo, (size_t)(hi - lo));
#endif
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ns = n->desc->timeout_ns > 0 ? n->desc->timeout_ns : INT64_C(1000000000);
    memset(&md, 0, sizeof md);
    md.node.t = t;
    md.node.region = region;
    md.node.region_size = UAREA_CONTAINER_SIZE;
    md.node.user = n->user;
    md.node.n_user = n->n_user;
    md.node.binary_fp = uarea__posix_fp;
    md.node.block = n->block;
    md.node.block_size = n->block_size;
    md.node.cfg = cfg;
    md.node.on_activate = uarea__posix_start_cores;
    md.node.on_release = uarea__posix_stop_cores;
    md.node.on_custody = uarea__posix_on_custody;
    md.node.trace = uarea__posix_on_trace;
    md.node.arg = n;
    if (!n->desc->no_precopy && uarea__posix_dirty_open(n, region)) {
        uarea__posix_dirty_begin_fn = uarea__posix_port_dirty_begin;
        uarea__posix_dirty_end_fn = uarea__posix_port_dirty_end;
        uarea__posix_dirty_collect_fn = uarea__posix_port_dirty_collect;
        md.precopy = 1;
    }
    md.on_arrival = uarea__posix_on_arrival;
    md.serve = uarea__posix_serve;
    md.busy = uarea__posix_ckpt_busy;
    md.tick = uarea__posix_tick;
    md.arg = n;
    return migrate_master_init(&n->m, &md);
}

/* The container this node starts with: restored from the checkpoint file
 * (node 0), or a new one running app_main (node i for container i). 0 also
 * when it has none; an error of the restore ends the run with it. */
static int uarea__posix_node_birth(uarea__posix_node *n, void *region)
{
    struct uarea *ua = NULL;
    uarea_tid_t t0;
    void *args;
    int rc;
    if (n->self == 0 && uarea__posix_restore_fd >= 0) {
        struct uarea__posix_file f;
        f.fd = uarea__posix_restore_fd;
        f.err = 0;
        rc = migrate_restore(region, UAREA_CONTAINER_SIZE, n->user, n->n_user, uarea__posix_fp,
                             uarea__posix_source, &f, n->block, n->block_size, NULL, &ua);
        close(uarea__posix_restore_fd);
        uarea__posix_restore_fd = -1;
        if (rc == 0) rc = migrate_node_adopt(&n->m.node);
        if (rc < 0) {
            uarea__posix_container_done(0, rc);   /* the run's result: why */
            return 0;
        }
        n->ua = ua;
        n->restored = 1;
        (void)uarea__posix_boards(n, ua);   /* the checkpoint call returns 1 */
        (void)migrate_unfreeze(ua);
        uarea__posix_start_cores(n, ua);
        return 0;
    }
    if (n->self >= uarea__posix_sh->containers) return 0;
    uarea__posix_cid = n->self;
    rc = uarea_container_init(region, UAREA_CONTAINER_SIZE, &ua);
    if (rc < 0) return rc;
    args = uarea__posix_argv_copy(ua);
    if (args == NULL) return UAREA_ENOMEM;
    rc = uarea_create(ua, &t0, uarea__posix_main, args);
    if (rc == 0) rc = migrate_node_adopt(&n->m.node);
    if (rc < 0) return rc;
    uarea__posix_start_cores(n, ua);
    return 0;
}

static int uarea__posix_node_main(noc_shm *shm, int self, void *region, const uarea_posix_desc *d,
                                  unsigned char *block, size_t block_size)
{
    static uarea__posix_node node;
    noc_shm_node me;
    noc_transport t;
    migrate_config cfg;
    uarea__posix_node *n = &node;
    int64_t period = d->scheduler_period_ns > 0 ? d->scheduler_period_ns : INT64_C(1000000);
    int rc;
    memset(n, 0, sizeof *n);
    n->dirty_region.uffd = n->dirty_user.uffd = -1;       /* no trackers yet */
    n->dirty_region.pagemap = n->dirty_user.pagemap = -1;
    n->self = self;
    n->desc = d;
    n->ckpt_core = -1;
    n->block = block;
    n->block_size = block_size;
    n->next_tick = uarea__posix_now();
    uarea__posix_me = n;
    (void)on_exit(uarea__posix_on_exit, NULL);
    /* containers start once every node process exists (and has a pid) */
    while (!__atomic_load_n(&uarea__posix_sh->forked, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE))
        usleep(50);
    rc = uarea__posix_node_setup(n, shm, &me, &t, region, &cfg);
    if (rc == 0) rc = uarea__posix_node_birth(n, region);
    if (rc < 0) return rc;
    /* the master's loop (migrate/master.h): asleep in its mailbox wait when
     * nothing is going on, at most 1 ms or the scheduler's period */
    (void)migrate_master_run(&n->m, period < 1000000 ? period : 1000000);
    if (n->running) {
        /* another node ended the run while the container was here */
        (void)uarea_release(n->ua);
        uarea__posix_cores_leave(n, 1);
    }
    uarea__posix_cores_end(n);
    (void)migrate_master_fini(&n->m);
    uarea_posix_dirty_close(&n->dirty_region);
    uarea_posix_dirty_close(&n->dirty_user);
    (void)noc_shm_detach(&me);
    return 0;
}

/* A node process, from the fork to its end. */
UAREA_NORETURN static void uarea__posix_node_process(noc_shm *shm, int self, void *region,
                                                     const uarea_posix_desc *d,
                                                     unsigned char *block, pid_t launcher)
{
    int rc;
    /* the launcher's death is the run's end */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) _exit(1);
    __atomic_store_n(&uarea__posix_sh->pid[self], (long)getpid(), __ATOMIC_RELEASE);
    rc = uarea__posix_node_main(shm, self, region, d, block, UAREA_POSIX_BLOCK);
    fflush(NULL);
    if (rc < 0) {
        uarea__posix_say_end(self, UAREA_POSIX_END_FAILED, rc, -1);
        _exit(1);
    }
    uarea__posix_say_end(self, UAREA_POSIX_END_CLEAN, 0, -1);
    _exit(0);
}

/* ==== The launcher ======================================================= */
static uint64_t uarea__posix_fingerprint(void)
{
    uint64_t fp = 0x75617265615f6670ull; /* "uarea_fp" */
    uintptr_t lo = (uintptr_t)__executable_start, hi = (uintptr_t)etext;
    if (lo != 0 && hi > lo) {
        size_t len = (size_t)(hi - lo);
        fp ^= ((uint64_t)migrate_crc32c(0, (const void *)lo, len) << 32) | (uint32_t)len;
    }
    return fp;
}

/* What the launcher knows of its nodes while it watches them. */
typedef struct uarea__posix_watch {
    const uarea_posix_desc *d;
    uarea_posix_report *rep;
    int nodes;
    pid_t pid[NOC_NODES_MAX];
    int pidfd[NOC_NODES_MAX];     /* -1: none (the kernel has no pidfd) */
    int ended[NOC_NODES_MAX];
    int dead[NOC_NODES_MAX];      /* ended while the run went on */
    int failed;                   /* the first runtime error of a node, 0: none */
    int lost;                     /* the first container lost, -1: none */
    uint64_t undecided_since;     /* a holder died, a candidate may run it: since */
} uarea__posix_watch;

/* Give the program the migration records the nodes left in the ring. */
static void uarea__posix_drain(uarea__posix_watch *w)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    for (;;) {
        uint32_t h = __atomic_load_n(&sh->ring_head, __ATOMIC_ACQUIRE);
        struct uarea__posix_stats_slot *slot = &sh->ring[h % UAREA__POSIX_RING];
        migrate_stats st;
        if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != h + 1u) return;
        st = slot->st;
        __atomic_store_n(&sh->ring_head, h + 1u, __ATOMIC_RELEASE);
        if (w->d->on_migration != NULL) w->d->on_migration(w->d->arg, &st);
    }
}

/* Node i ended (status from waitpid; known 0: someone else reaped it). */
static void uarea__posix_ended(uarea__posix_watch *w, int i, int status, int known)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int said = __atomic_load_n(&sh->end[i].end, __ATOMIC_ACQUIRE), c, held = -1;
    int end, code;
    for (c = 0; c < sh->containers; c++)
        if (uarea__posix_holder_of(__atomic_load_n(&sh->custody[c], __ATOMIC_ACQUIRE)) == i &&
            !__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE))
            held = c;
    w->ended[i] = 1;
    if (said != 0) {
        end = said;
        code = sh->end[i].code;
        if (sh->end[i].container >= 0) held = sh->end[i].container;
    } else if (known && WIFSIGNALED(status)) {
        end = UAREA_POSIX_END_KILLED;
        code = WTERMSIG(status);
    } else if (known && WIFEXITED(status)) {
        /* _exit() in the node, past the runtime: the program ended itself */
        end = UAREA_POSIX_END_EXIT;
        code = WEXITSTATUS(status);
        if (held >= 0) uarea__posix_container_done(held, code);
    } else {
        end = UAREA_POSIX_END_UNKNOWN;
        code = 0;
    }
    w->rep->node[i].end = end;
    w->rep->node[i].code = code;
    w->rep->node[i].container = held;
    if (end == UAREA_POSIX_END_CLEAN) return;
    w->dead[i] = !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) || held >= 0;
    if (end == UAREA_POSIX_END_KILLED)
        uarea__posix_logf(0, "node %d (pid %ld) was killed by signal %d (%s)%s", i, (long)w->pid[i],
                          code, strsignal(code), held >= 0 ? " while it held a container" : "");
    else if (end == UAREA_POSIX_END_FAILED) {
        uarea__posix_logf(0, "node %d (pid %ld) failed: %s", i, (long)w->pid[i], uarea_strerror(code));
        if (w->failed == 0) w->failed = code;
    } else if (end == UAREA_POSIX_END_UNKNOWN)
        uarea__posix_logf(1, "node %d (pid %ld) ended; another part of the program reaped it", i,
                          (long)w->pid[i]);
}

/* Is every container held by a live node, or done? A container whose holder
 * died is lost, unless a live node accepted an image of it: that node runs
 * it (it learns of the death and activates) or discards it, and the books
 * say which soon; past a bound on that, it is lost too. */
static void uarea__posix_settle(uarea__posix_watch *w, uint64_t now)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uint64_t bound = (uint64_t)(w->d->timeout_ns > 0 ? w->d->timeout_ns : INT64_C(1000000000)) *
                     (uint64_t)(2 * (MIGRATE_RETRIES + 1)) + UINT64_C(1000000000);
    int c, undecided = 0;
    for (c = 0; c < sh->containers && w->lost < 0; c++) {
        uint32_t word = __atomic_load_n(&sh->custody[c], __ATOMIC_ACQUIRE);
        int h = uarea__posix_holder_of(word), v = uarea__posix_cand_of(word);
        if (__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE) || h < 0 || !w->dead[h]) continue;
        if (v >= 0 && v != h && !w->dead[v] &&
            (w->undecided_since == 0 || now - w->undecided_since < bound)) {
            undecided = 1;
            continue;
        }
        w->lost = c;
        w->rep->lost_container = c;
        w->rep->lost_node = h;
        uarea__posix_logf(0, "container %d is lost: node %d, which held its only copy, is gone", c, h);
        __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
    }
    if (!undecided) w->undecided_since = 0;
    else if (w->undecided_since == 0) w->undecided_since = now ? now : 1;
}

/* Wait for the node processes (only them) to end, keep the books on the way,
 * give the program its migration records. */
static void uarea__posix_watch_run(uarea__posix_watch *w)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int i, left = w->nodes;
    for (i = 0; i < w->nodes; i++) {
#ifdef SYS_pidfd_open
        w->pidfd[i] = (int)syscall(SYS_pidfd_open, w->pid[i], 0);
#else
        w->pidfd[i] = -1;
#endif
    }
    while (left > 0) {
        struct pollfd pf[NOC_NODES_MAX + 1];
        int np = 0, blind = 0;
        uint64_t drain;
        while (read(sh->efd, &drain, sizeof drain) > 0) {
        }
        uarea__posix_drain(w);
        for (i = 0; i < w->nodes; i++) {
            int status = 0;
            pid_t r;
            if (w->ended[i]) continue;
            r = waitpid(w->pid[i], &status, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) continue;
            uarea__posix_ended(w, i, status, r == w->pid[i]);
            left--;
        }
        uarea__posix_settle(w, uarea__posix_now());
        if (left == 0) break;
        pf[np].fd = sh->efd;
        pf[np++].events = POLLIN;
        for (i = 0; i < w->nodes; i++) {
            if (w->ended[i]) continue;
            if (w->pidfd[i] < 0) blind = 1;
            else {
                pf[np].fd = w->pidfd[i];
                pf[np++].events = POLLIN;
            }
        }
        (void)poll(pf, (nfds_t)np, blind || w->undecided_since ? 10 : -1);
    }
    uarea__posix_drain(w);
    for (i = 0; i < w->nodes; i++)
        if (w->pidfd[i] >= 0) close(w->pidfd[i]);
}

/* desc.restore, opened here: a file that is not there fails the run before
 * any node starts. The descriptor goes to node 0 through the fork. */
static int uarea__posix_open_restore(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return uarea__posix_errno_err(errno);
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        close(fd);
        return UAREA_EIO;
    }
    return fd;
}

UAREA_API int uarea_posix_run(const uarea_posix_desc *desc,
                              int (*app_main)(int argc, char **argv), int argc, char **argv)
{
    uarea_posix_desc d;
    uarea_posix_report scratch, *rep;
    uarea__posix_watch w;
    noc_shm shm;
    void *region;
    int i, rc, result = 0;
    pid_t launcher = getpid();
    unsigned char *arena;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    rep = d.report != NULL ? d.report : &scratch;
    memset(rep, 0, sizeof *rep);
    rep->lost_container = rep->lost_node = -1;
    for (i = 0; i < NOC_NODES_MAX; i++) rep->node[i].container = -1;
    if (app_main == NULL) return UAREA_EINVAL;
    /* a container thread, the scheduler or a node may not start a run of
     * its own: its nodes would fork copies of this node */
    if (uarea__posix_sh != NULL) return UAREA_ESTATE;
    if (d.nodes == 0) d.nodes = 4;
    if (d.cores == 0) d.cores = 2;
    if (d.nodes < 1 || d.nodes > NOC_NODES_MAX) return UAREA_EBADNODE;
    if (d.containers == 0) d.containers = 1;
    if (d.containers < 1 || d.containers > d.nodes) return UAREA_EINVAL;
    if (d.restore != NULL && d.containers != 1) return UAREA_EINVAL;
    if (d.cores < 1 || d.cores > UAREA_CORES_MAX) return UAREA_EINVAL;
    if (argc < 0 || (argc > 0 && argv == NULL)) return UAREA_EINVAL;
    if (d.restore != NULL) {
        uarea__posix_restore_fd = uarea__posix_open_restore(d.restore);
        if (uarea__posix_restore_fd < 0) {
            rc = uarea__posix_restore_fd;
            uarea__posix_restore_fd = -1;
            return rc;
        }
    }
    uarea__posix_app = app_main;
    uarea__posix_argc = argc;
    uarea__posix_argv = argv;
    uarea__posix_ncores = (unsigned)d.cores;
    uarea__posix_fp = uarea__posix_fingerprint();
    uarea__posix_install_preemption();
    rc = UAREA_ENOMEM;
    region = mmap((void *)(uintptr_t)UAREA_POSIX_REGION_ADDR, UAREA_CONTAINER_SIZE,
                  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (region == MAP_FAILED) goto no_region;
    if (region != (void *)(uintptr_t)UAREA_POSIX_REGION_ADDR) goto no_shared;
    uarea__posix_region = region;
    uarea__posix_region_size = UAREA_CONTAINER_SIZE;
    uarea__posix_sh = (struct uarea__posix_shared *)mmap(NULL, sizeof *uarea__posix_sh,
                                                         PROT_READ | PROT_WRITE,
                                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (uarea__posix_sh == MAP_FAILED) goto no_shared;
    memset(uarea__posix_sh, 0, sizeof *uarea__posix_sh);
    uarea__posix_sh->containers = d.containers;
    uarea__posix_sh->nodes = d.nodes;
    for (i = 0; i < NOC_NODES_MAX; i++)
        uarea__posix_sh->custody[i] = UAREA__POSIX_CUSTODY(i < d.containers ? i : -1, -1);
    uarea__posix_sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (uarea__posix_sh->efd < 0) {
        rc = UAREA_EIO;
        goto no_efd;
    }
    /* Each node's portal block lies in the transport's shared arena: a
     * portal transfer into it is one memcpy (docs/posix-noc.md). */
    rc = noc_shm_create(&shm, &(noc_shm_desc){.nodes = d.nodes,
                                              .arena_size = (size_t)d.nodes * UAREA_POSIX_BLOCK});
    if (rc < 0) goto no_noc;
    rc = 0;
    arena = (unsigned char *)noc_shm_arena(&shm, NULL);
    memset(&w, 0, sizeof w);
    w.d = &d;
    w.rep = rep;
    w.lost = -1;
    fflush(NULL);
    for (i = 0; i < d.nodes; i++) {
        pid_t p = fork();
        if (p == 0)
            uarea__posix_node_process(&shm, i, region, &d, arena + (size_t)i * UAREA_POSIX_BLOCK,
                                      launcher);
        if (p < 0) {
            uarea__posix_logf(0, "cannot start node %d: %s", i, strerror(errno));
            __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
            if (w.failed == 0) w.failed = UAREA_ENOMEM;
            break;
        }
        w.pid[i] = p;
        rep->node[i].pid = (long)p;
        __atomic_store_n(&uarea__posix_sh->pid[i], (long)p, __ATOMIC_RELEASE);
        /* a node that dies before it attaches is then seen dead */
        (void)noc_shm_expect(&shm, i, (int)p);
    }
    w.nodes = rep->nodes = i;
    if (uarea__posix_restore_fd >= 0) {
        close(uarea__posix_restore_fd);           /* node 0 has it */
        uarea__posix_restore_fd = -1;
    }
    __atomic_store_n(&uarea__posix_sh->forked, 1, __ATOMIC_RELEASE);
    uarea__posix_watch_run(&w);
    rep->migrations = __atomic_load_n(&uarea__posix_sh->nstats, __ATOMIC_ACQUIRE);
    rep->stats_dropped = __atomic_load_n(&uarea__posix_sh->dropped, __ATOMIC_ACQUIRE);
    if (w.lost >= 0) {
        result = w.failed != 0 && w.rep->node[rep->lost_node].end == UAREA_POSIX_END_FAILED
                     ? w.failed : UAREA_ELOST;
    } else {
        int all = 1, first = 0;
        for (i = 0; i < d.containers; i++) {
            if (!uarea__posix_sh->done[i]) all = 0;
            else if (first == 0) first = uarea__posix_sh->exit_code[i];
        }
        result = all ? first : w.failed != 0 ? w.failed : UAREA_EABORTED;
    }
    noc_shm_destroy(&shm);
no_noc:
    close(uarea__posix_sh->efd);
no_efd:
    munmap(uarea__posix_sh, sizeof *uarea__posix_sh);
no_shared:
    uarea__posix_sh = NULL;
    munmap(region, UAREA_CONTAINER_SIZE);
    uarea__posix_region = NULL;
    uarea__posix_region_size = 0;
no_region:
    if (uarea__posix_restore_fd >= 0) close(uarea__posix_restore_fd);
    uarea__posix_restore_fd = -1;
    return rc < 0 ? rc : result;
}

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
