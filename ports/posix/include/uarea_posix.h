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
 * migration daemon (migrate/node.h). app_main runs as thread 0 of a
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
 * Contents. This file reads as the runtime's story; a section starts with a
 * line "==== Title", and the parts with a concern of their own are files
 * under uarea_posix/, which this one includes:
 *
 *   The interface            UAREA_USER, uarea_posix_desc, uarea_posix_report,
 *                            uarea_posix_run() and the calls of a run
 *   Implementation
 *     Configuration          UAREA_POSIX_REGION_ADDR, _BLOCK, _PRECOPY,
 *                            _QUANTUM_NS, _PREEMPT_SIG
 *     The run's globals      the program, its argv, the binary's fingerprint
 *     A node process's own state   uarea__posix_node
 *     Queries of a run       uarea_posix_where(), _move(), uarea_malloc(), ...
 *     The protocol's callbacks     custody, named steps, arrivals
 *     Cores                  core threads: made once, parked between visits
 *     Pre-copy: dirty pages  the daemon's dirty-page hooks
 *     A node process         uarea__posix_node_main's steps, fork to end
 *     The launcher           uarea_posix_run's steps; the descriptor's
 *                            defaults (uarea__posix_desc_defaults)
 *   uarea_posix/books.h      the block the launcher and the nodes share:
 *                            custody, ends, migration records
 *   uarea_posix/preempt.h    the preemption tick: timers, signal handler,
 *                            sigreturn stub
 *   uarea_posix/sleep.h      sleeping and waiting calls of container threads
 *   uarea_posix/checkpoint.h checkpoint files: the board's call, writing,
 *                            restoring
 *   uarea_posix/watch.h      the launcher's watch of its node processes
 *   uarea_posix/port.h       the port contract (contexts, futexes, the
 *                            critical section); noc_shm.h the NoC; dirty.h
 *                            written pages; lazy.h pages that arrive after
 *                            the container runs (post-copy); features.h
 *                            _GNU_SOURCE
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
#ifdef UAREA_POSIX_MPI
#  include <uarea_posix/noc_mpi.h>      /* uarea_posix_run() under mpirun */
#endif
#include <uarea_posix/dirty.h>
#include <uarea_posix/lazy.h>
#include <uarea/thread.h>
#include <migrate/migrate.h>
#include <migrate/node.h>
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
    uint32_t launcher_wakes;      /* times a node woke the launcher: a record to
                                     a launcher asleep without a timeout, a node's
                                     or a program's end (not each migration) */
} uarea_posix_report;

typedef struct uarea_posix_desc {
    int nodes;                /* node processes; 0: 4 */
    int cores;                /* core threads per node; 0: 2 */
    int64_t timeout_ns;       /* migration protocol timeout; 0: 1 s */
    /* Called in the launching process, on the thread that called
     * uarea_posix_run(), for each migration of a container, with its
     * statistics, within about UAREA_POSIX_RECORDS_NS of its end (NULL:
     * none). */
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
    /* The pre-copy rounds' policy (migrate_config, docs/protocol.md): most
     * pre-copy images (the first included), the size of a round small
     * enough to go in the freeze instead, the ratio a round must stay
     * under (percent of the last round), the bytes of all pre-copy images.
     * 0 each: the defaults (MIGRATE_PRECOPY_ROUNDS, MIGRATE_PRECOPY_SMALL,
     * MIGRATE_PRECOPY_SHRINK_PCT, MIGRATE_PRECOPY_BUDGET first images). */
    int precopy_rounds;
    uint64_t precopy_small_bytes;
    uint32_t precopy_shrink_pct;
    uint64_t precopy_budget_bytes;
    /* Post-copy (migrate_config.postcopy, docs/protocol.md "Post-copy"):
     * 0 off; 1 the container resumes on the destination at once, its heap
     * pages with bytes arriving afterwards (fetched when a thread touches
     * one, pushed in the background); 2 pre-copy rounds first, then the
     * pages still written go that way. Needs userfaultfd on every node
     * (UAREA_POSIX_PRECOPY builds); a node without it refuses such an
     * image (UAREA_ENOSYS) and the container stays where it was. The
     * container depends on both nodes until its last page is in: the
     * source's death before that loses it (the run ends with
     * UAREA_EPAGESLOST). migrate_stats.mode says which way each went. */
    int postcopy;
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

/* This process's rank in the MPI job whose ranks are the run's nodes (a
 * program built with UAREA_POSIX_MPI and started by mpirun: docs/mpi.md);
 * 0 otherwise. Every rank calls uarea_posix_run() and gets the run's value;
 * desc.on_migration and desc.report are rank 0's: a program prints its
 * summary where this is 0. */
UAREA_API int uarea_posix_mpi_rank(void);

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

/* The longest a node's master sleeps with nothing to do, ns. Nothing that
 * needs it waits for this: a message, a container thread's call
 * (migrate_to, a checkpoint), the end of its container's program and the
 * end of the run each wake it (noc_shm_kick, noc_shm_kick_node); the nap only
 * bounds how long a lost wake-up would cost (tests/posix/test_wake.c runs
 * with a nap of ten minutes). */
#ifndef UAREA_POSIX_NAP_NS
#  define UAREA_POSIX_NAP_NS 1000000
#endif

/* How often the launcher looks at the migration records while migrations
 * go on, ns (desc.on_migration gets each record within about this long).
 * The nodes do not wake the launcher for each record, nor for the custody
 * changes of a migration: a wake-up is a process to schedule in the middle
 * of the next migration, on machines with few CPUs. They wake it only when
 * it sleeps without a timeout (after UAREA__POSIX_QUIET_LOOKS looks without
 * a record) or when the ring of records is a quarter full. */
#ifndef UAREA_POSIX_RECORDS_NS
#  define UAREA_POSIX_RECORDS_NS 10000000
#endif

/* How long after a (big) container left this node its copy is wiped
 * (migrate_node_desc.wipe_delay_ns): wiping a big region at once (zeroing
 * its pages, ending the dirty tracking's protection) competes for the CPUs
 * with the destination right when it starts the container: 2-4 ms of a
 * 64 MiB pre-copy's downtime on a 2-vCPU VM. A container that comes in
 * first gets a wiped region all the same. */
#ifndef UAREA_POSIX_WIPE_DELAY_NS
#  define UAREA_POSIX_WIPE_DELAY_NS 2000000
#endif
/* ... for containers whose heap holds at least this much (a small copy is
 * wiped at once: hops that follow closely would pay it at the next arrival) */
#ifndef UAREA_POSIX_WIPE_DELAY_BYTES
#  define UAREA_POSIX_WIPE_DELAY_BYTES 4194304
#endif

/* Each node's portal transfer block, in the NoC's shared arena: used as
 * slots of MIGRATE_XFER_SLOT (512 KiB) in turn (migrate/daemon.h). 2 MiB:
 * a slot is written again only after the destination's cache (1 MiB of L2
 * on the machines measured) let go of its lines. */
#ifndef UAREA_POSIX_BLOCK
#  define UAREA_POSIX_BLOCK (2048u * 1024u)
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
UAREA_STATIC_ASSERT(MIGRATE_XFER_SLOT <= NOC_PORTAL_MAX_SIZE &&
                        UAREA_POSIX_BLOCK / 2u <= NOC_PORTAL_MAX_SIZE,
                    "a slot of the block is one portal transfer");

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

/* The user section: linker-made bounds (weak: a program may have none). */
extern char __start_uarea_user[] __attribute__((weak));
extern char __stop_uarea_user[] __attribute__((weak));
/* This binary's code, for the fingerprint. */
extern char __executable_start[] __attribute__((weak));
extern char etext[] __attribute__((weak));

/* ==== The run's globals ====================================================
 * Set by the launcher before the fork: every node process has them. */
static int (*uarea__posix_app)(int, char **);
static int uarea__posix_argc;
static char **uarea__posix_argv;
static uint64_t uarea__posix_fp;
static int uarea__posix_restore_fd = -1;      /* desc.restore, opened by the launcher */
/* The container's own index: in the user section, so it travels with it. */
static int uarea__posix_cid __attribute__((section("uarea_user"), used));
/* Its arrivals so far, in the user section too: under mpirun the ranks
 * order what they hear of its whereabouts by it (uarea_posix/mpi_run.h). */
static uint32_t uarea__posix_hops __attribute__((section("uarea_user"), used));

/* The block the launcher and the nodes share: custody, ends, records. */
#include "uarea_posix/books.h"

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
    uarea_posix_lazy lazy;    /* post-copy: the heap's missing pages (destination) */
    /* Wakes the master out of its mailbox wait (the transport's kick). */
    void (*kick)(void *);
    void *kick_arg;
    int ckpt_core;            /* board of a checkpoint being taken, -1: none */
    unsigned char *block;     /* the node's transfer buffer (UAREA_POSIX_BLOCK) */
    size_t block_size;
    uint64_t next_tick;       /* desc.scheduler's next call (node 0) */
    int restored;             /* the container came from a checkpoint file */
    uarea__posix_records rec; /* migration records waiting for room in the launcher's ring */
} uarea__posix_node;

static uarea__posix_node *uarea__posix_me;
/* The MPI mode's part of the master's turn, and its word that container c
 * arrived here (uarea_posix/mpi_run.h); NULL: none. */
static int (*uarea__posix_mpi_turn)(uarea__posix_node *n);
static void (*uarea__posix_mpi_arrived)(int c, int node, uint32_t hops);
static _Thread_local int uarea__posix_in_scheduler; /* this thread is in desc.scheduler */

/* The node's migration daemon (migrate/daemon.h), asked through its
 * public functions only. */
static migrate_daemon *uarea__posix_daemon(uarea__posix_node *n) { return &n->m.node.d; }

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

/* The runtime's parts in files of their own (see the table of contents). */
#include "uarea_posix/preempt.h"
#include "uarea_posix/sleep.h"
#include "uarea_posix/checkpoint.h"
#include "uarea_posix/watch.h"

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
    return migrate_daemon_request(uarea__posix_daemon(uarea__posix_me), from, node);
}

UAREA_API int uarea_posix_move_result(void)
{
    if (!uarea__posix_in_scheduler || uarea__posix_me == NULL) return UAREA_ESTATE;
    return migrate_daemon_ctrl_result(uarea__posix_daemon(uarea__posix_me), NULL);
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

/* ==== The protocol's callbacks =============================================
 * What the node's daemon tells the runtime (migrate_node_desc,
 * migrate_master_desc): custody for the books, named steps for
 * desc.on_step, arrivals for the records. */

/* A named step of this node, to desc.on_step. */
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
        uarea__posix_hops++;
        if (uarea__posix_mpi_arrived != NULL)
            uarea__posix_mpi_arrived(uarea__posix_cid, n->self, uarea__posix_hops);
        step = "custody.activated";
        break;
    }
    /* the launcher reads the books when a node dies: no wake-up here */
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
    if (phase == MIGRATE_PHASE_PRECOPY) {
        memcpy(name, "pre.", 4);
        k = 4;
    }
    while (*s && k < sizeof name - 1) name[k++] = *s++;
    name[k] = '\0';
    uarea__posix_step(n, name);
}


/* migrate_master_desc.on_arrival: the container arrived here, its record. */
static void uarea__posix_on_arrival(void *arg, const migrate_stats *st)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    uarea__posix_step(n, "node.arrived");
    uarea__posix_record(&n->rec, uarea__posix_cid, st);
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

/* ==== Pre-copy: dirty pages ============================================= */
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

/* ==== Post-copy: pages that come after ================================= */
/* The destination's lazy hooks (migrate_node_desc): the heap borrowed from
 * the region's tracker by a userfaultfd (uarea_posix/lazy.h) while pages
 * come. UArea pages are whole system pages (checked at setup). */
static int uarea__posix_lazy_begin(void *arg, uintptr_t heap, const uint32_t *map, uint32_t pages)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    uint32_t i, j = 0;
    /* bytes a staged pre-copy round left there are old: drop them */
    while (migrate_bits_run(map, pages, j, &i, &j))
        if (madvise((void *)(heap + (uintptr_t)i * UAREA_PAGE_SIZE),
                    (size_t)(j - i) * UAREA_PAGE_SIZE, MADV_DONTNEED) != 0)
            return UAREA_EIO;
    return uarea_posix_lazy_open(&n->lazy, (void *)heap, (size_t)pages * UAREA_PAGE_SIZE,
                                 n->dirty_region.uffd >= 0 ? &n->dirty_region : NULL);
}

static long uarea__posix_lazy_install(void *arg, uintptr_t addr, const void *bytes,
                                      uint32_t count)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    size_t per = UAREA_PAGE_SIZE / n->lazy.page, i;
    long k = 0, rc;
    if (bytes != NULL) {
        k = uarea_posix_lazy_install_run(&n->lazy, addr, bytes, (size_t)count * per);
        return k < 0 ? k : k / (long)per;
    }
    for (i = 0; i < (size_t)count * per; i++) {
        rc = uarea_posix_lazy_zero(&n->lazy, addr + i * n->lazy.page);
        if (rc < 0) return rc;
        k += rc;
    }
    return k / (long)per;
}

static long uarea__posix_lazy_faults(void *arg, uintptr_t *want, uint32_t max)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    return uarea_posix_lazy_poll(&n->lazy, want, max);
}

/* Every page is in (the others of the heap are zeros: unregistered, a touch
 * of one is an ordinary fault), or the source was lost: the container's
 * threads that wait for a page, or will, cannot be woken without zeros, so
 * this node process ends and the run with it (UAREA_EPAGESLOST; the books
 * say the container was here: lost). */
static void uarea__posix_lazy_end(void *arg, int failed)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    if (!failed) {
        (void)uarea_posix_lazy_close_zero(&n->lazy);
        return;
    }
    uarea__posix_step(n, "node.pages_lost");
    (void)uarea_posix_lazy_fail(&n->lazy);
    (void)uarea_posix_lazy_close(&n->lazy);
    uarea__posix_logf(1, "node %d: the source was lost before every page of the container came: "
                         "it cannot run on (%s)", n->self, uarea_strerror(UAREA_EPAGESLOST));
    fflush(NULL);
    uarea__posix_say_end(n->self, UAREA_POSIX_END_FAILED, UAREA_EPAGESLOST, uarea__posix_cid);
    _exit(1);
}

/* 1 when this node can take post-copy images (the run's desc.postcopy, or
 * one migrate_to_mode call): UArea pages are whole system
 * pages, and the kernel gives this process missing-page userfaultfds (a
 * probe on a page of its own: a registration that failed only at COMMIT
 * would lose the container, which the source has given up by then). */
static int uarea__posix_lazy_ok(void)
{
#if UAREA_POSIX_PRECOPY
    long ps = sysconf(_SC_PAGESIZE);
    uarea_posix_lazy probe;
    void *page;
    int rc;
    if (ps <= 0 || UAREA_PAGE_SIZE % (unsigned long)ps != 0) return 0;
    page = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 0;
    rc = uarea_posix_lazy_open(&probe, page, (size_t)ps, NULL);
    if (rc == 0) (void)uarea_posix_lazy_close_zero(&probe);
    munmap(page, (size_t)ps);
    return rc == 0;
#else
    return 0;
#endif
}

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

/* ==== A node process ==================================================== */
/* A node process, from the fork to its end:
 *
 *   uarea__posix_node_process    the fork's child: its pid, node_main, its end
 *     uarea__posix_node_main     the steps below, in order
 *       uarea__posix_node_init     its state, its exit hook
 *       uarea__posix_wait_forked   until every node process exists
 *       uarea__posix_node_setup    transport, user section, trackers, master
 *       uarea__posix_node_birth    its first container, if it has one
 *       migrate_master_run         the master's loop (migrate/master.h),
 *                                  with uarea__posix_tick as the port's part
 *       uarea__posix_node_leave    cores, master, trackers, transport
 */

/* UAREA_PORT_WAKE_MASTER's hook: a container thread posted a call; the
 * master may sleep in its mailbox wait (up to 1 ms): kick it out. */
static void uarea__posix_kick_master(void)
{
    uarea__posix_node *n = uarea__posix_me;
    if (n != NULL && n->kick != NULL) n->kick(n->kick_arg);
}

static void uarea__posix_shm_kick(void *me) { noc_shm_kick((noc_shm_node *)me); }

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

/* The port's periodic work in the master's loop (migrate_master_desc.tick):
 * records for the launcher, node 0's scheduler, the end of a container
 * whose program ended, the end of the run. */
static int uarea__posix_tick(void *arg)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    const uarea_posix_desc *d = n->desc;
    int did = uarea__posix_mpi_turn != NULL ? uarea__posix_mpi_turn(n) : 0;
    /* the run stops; a post-copy under way ends first (either side: the
     * pages, DONE, the record), unless the peer is gone (it then ends at
     * once) */
    if (__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE) &&
        !migrate_daemon_postcopy(uarea__posix_daemon(n)))
        return -1;
    if (n->rec.n_pending) uarea__posix_records_flush(&n->rec);
    if (n->self == 0 && d->scheduler != NULL && uarea__posix_now() >= n->next_tick) {
        uarea__posix_in_scheduler = 1;
        d->scheduler(d->arg);
        uarea__posix_in_scheduler = 0;
        n->next_tick = uarea__posix_now() + (uint64_t)d->scheduler_period_ns;
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

/* The node's state before anything runs; exit() in this process from now on
 * ends the container held here (uarea__posix_on_exit). */
static void uarea__posix_node_init(uarea__posix_node *n, int self, const uarea_posix_desc *d,
                                   unsigned char *block, size_t block_size)
{
    static int hooked;            /* a process runs several nodes in turn under MPI */
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
    if (!hooked) (void)on_exit(uarea__posix_on_exit, NULL);
    hooked = 1;
}

/* Containers start once every node process exists (and has a pid), or the
 * run stopped before. */
static void uarea__posix_wait_forked(void)
{
    while (!__atomic_load_n(&uarea__posix_sh->forked, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE))
        usleep(50);
}

/* The user section (UAREA_USER globals, uarea_posix_application()'s data):
 * one region that moves with the container, when the program has one. */
static void uarea__posix_find_user(uarea__posix_node *n)
{
    uintptr_t lo = (uintptr_t)__start_uarea_user, hi = (uintptr_t)__stop_uarea_user;
    if (lo == 0 || hi <= lo) return;
    n->user[0].addr = lo;
    n->user[0].len = (size_t)(hi - lo);
    n->n_user = 1;
#ifdef UAREA__ASAN
    /* The section moves as a whole: AddressSanitizer's redzones between the
     * globals of uarea_posix_application()'s objects would stop the image
     * writer's copy and CRC. */
    __asan_unpoison_memory_region((void *)lo, (size_t)(hi - lo));
#endif
}

/* Set up the node: its transport, its user section, its master (the
 * daemon with this runtime's callbacks; pre-copy when both trackers open). */
static int uarea__posix_node_setup(uarea__posix_node *n, noc_transport *t, void *region,
                                   migrate_config *cfg)
{
    migrate_master_desc md;
    uarea__posix_wake_fn = uarea__posix_kick_master;
    noc_set_default(t);
    uarea__posix_find_user(n);
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ns = n->desc->timeout_ns;
    cfg->precopy_rounds = n->desc->precopy_rounds;
    cfg->precopy_small_bytes = n->desc->precopy_small_bytes;
    cfg->precopy_shrink_pct = n->desc->precopy_shrink_pct;
    cfg->precopy_budget_bytes = n->desc->precopy_budget_bytes;
    /* No post-copy over MPI yet: a source in S_POST cancels a packet write
     * that timed out, and noc_mpi's cancel of a matched send waits for a
     * destination that may have stalled (docs/posix-port.md, "Not yet"). A
     * rank refuses post-copy images (UAREA_ENOSYS: the container stays)
     * and does not ask for them. */
    cfg->postcopy = uarea__posix_mpi_turn != NULL ? 0 : n->desc->postcopy;
    if (uarea__posix_mpi_turn != NULL && n->desc->postcopy != 0 && n->self == 0)
        uarea__posix_logf(1, "post-copy is not available under mpirun yet: desc.postcopy ignored");
    uarea__posix_wipe_drop = cfg->postcopy != 0;
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
    md.node.wipe_delay_ns = UAREA_POSIX_WIPE_DELAY_NS;
    md.node.wipe_delay_bytes = UAREA_POSIX_WIPE_DELAY_BYTES;
    md.node.trace = uarea__posix_on_trace;
    md.node.arg = n;
    if (uarea__posix_mpi_turn == NULL && uarea__posix_lazy_ok()) {   /* any migration may ask (migrate_to_mode) */
        md.node.lazy_begin = uarea__posix_lazy_begin;
        md.node.lazy_install = uarea__posix_lazy_install;
        md.node.lazy_faults = uarea__posix_lazy_faults;
        md.node.lazy_end = uarea__posix_lazy_end;
    }
    n->lazy.uffd = -1;
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
 * (node 0, uarea_posix/checkpoint.h), or a new one running app_main (node i
 * for container i). 0 also when it has none; an error of the restore ends
 * the run with it. */
static int uarea__posix_node_birth(uarea__posix_node *n, void *region)
{
    struct uarea *ua = NULL;
    uarea_tid_t t0;
    void *args;
    int rc;
    if (n->self == 0 && uarea__posix_restore_fd >= 0) {
        rc = uarea__posix_ckpt_restore(n, region);
        if (rc < 0) uarea__posix_container_done(0, rc);   /* the run's result: why */
        else uarea__posix_start_cores(n, n->ua);
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

/* The run is over: the node lets go of everything it holds. */
static void uarea__posix_node_leave(uarea__posix_node *n)
{
    if (n->running) {
        /* another node ended the run while the container was here */
        (void)uarea_release(n->ua);
        /* pages still coming: threads waiting for one stay stopped */
        if (n->lazy.have != NULL) {
            (void)uarea_posix_lazy_fail(&n->lazy);
            (void)uarea_posix_lazy_close(&n->lazy);
        }
        uarea__posix_cores_leave(n, 1);
    }
    uarea__posix_cores_end(n);
    (void)migrate_master_fini(&n->m);
    uarea_posix_dirty_close(&n->dirty_region);
    uarea_posix_dirty_close(&n->dirty_user);
    uarea__posix_wake_fn = NULL;
    n->kick = NULL;
}

/* A node with its transport attached, from its setup to its end (steps 3
 * to 6 of the list above). */
static int uarea__posix_node_serve(uarea__posix_node *n, noc_transport *t, void *region)
{
    const uarea_posix_desc *d = n->desc;
    migrate_config cfg;
    /* 3. its user section, its master */
    int rc = uarea__posix_node_setup(n, t, region, &cfg);
    /* 4. its first container: new, restored, or none */
    if (rc == 0) rc = uarea__posix_node_birth(n, region);
    if (rc < 0) return rc;
    /* 5. the master's loop (migrate/master.h) until the run stops: asleep in
     *    its mailbox wait when nothing is going on, at most UAREA_POSIX_NAP_NS
     *    or the scheduler's period; a message, a posted call, the end of its
     *    container's program or of the run wake it at once */
    (void)migrate_master_run(&n->m, d->scheduler_period_ns < (int64_t)UAREA_POSIX_NAP_NS
                                        ? d->scheduler_period_ns : (int64_t)UAREA_POSIX_NAP_NS);
    /* 6. let go of the container, the cores, the master */
    uarea__posix_node_leave(n);
    return 0;
}

static int uarea__posix_node_main(noc_shm *shm, int self, void *region, const uarea_posix_desc *d,
                                  unsigned char *block, size_t block_size)
{
    static uarea__posix_node node;
    uarea__posix_node *n = &node;
    noc_shm_node me;
    noc_transport t;
    int rc;
    /* 1. the node's state, its exit hook */
    uarea__posix_node_init(n, self, d, block, block_size);
    /* 2. containers start once every node process exists */
    uarea__posix_wait_forked();
    /* 3. its end of the NoC; then the node's life (3 to 6) */
    rc = noc_shm_attach(shm, n->self, &me, &t);
    if (rc < 0) return rc;
    n->kick = uarea__posix_shm_kick;
    n->kick_arg = &me;
    rc = uarea__posix_node_serve(n, &t, region);
    (void)noc_shm_detach(&me);
    return rc;
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

/* ==== The launcher ====================================================== */
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

/* The launcher's own state, from uarea_posix_run's call to its return:
 * what it took (given back by uarea__posix_launch_end) and what it watches. */
typedef struct uarea__posix_launch {
    uarea_posix_desc d;           /* the caller's descriptor, its defaults filled */
    uarea_posix_report scratch;   /* the report when desc.report is NULL */
    void *region;                 /* the container region; NULL: not mapped */
    noc_shm shm;                  /* the NoC (have_noc) */
    int have_noc;
    unsigned char *arena;         /* the nodes' portal blocks, in the NoC's arena */
    uarea__posix_watch w;         /* the node processes (uarea_posix/watch.h) */
} uarea__posix_launch;

/* The descriptor's defaults: the one place that fills them (the nodes get
 * the filled copy through the fork). */
static void uarea__posix_desc_defaults(uarea_posix_desc *d)
{
    if (d->nodes == 0) d->nodes = 4;
    if (d->cores == 0) d->cores = 2;
    if (d->containers == 0) d->containers = 1;
    if (d->timeout_ns <= 0) d->timeout_ns = INT64_C(1000000000);
    if (d->scheduler_period_ns <= 0) d->scheduler_period_ns = INT64_C(1000000);
}

/* The caller's descriptor with its defaults, checked, and an empty report
 * (filled even when the run does not start). */
static int uarea__posix_launch_desc(uarea__posix_launch *la, const uarea_posix_desc *desc,
                                    int (*app_main)(int, char **), int argc, char **argv)
{
    uarea_posix_desc *d = &la->d;
    uarea_posix_report *rep;
    int i;
    memset(la, 0, sizeof *la);
    if (desc) *d = *desc;
    rep = d->report != NULL ? d->report : &la->scratch;
    memset(rep, 0, sizeof *rep);
    rep->lost_container = rep->lost_node = -1;
    for (i = 0; i < NOC_NODES_MAX; i++) rep->node[i].container = -1;
    la->w.d = d;
    la->w.rep = rep;
    la->w.lost = -1;
    if (app_main == NULL) return UAREA_EINVAL;
    /* a container thread, the scheduler or a node may not start a run of
     * its own: its nodes would fork copies of this node */
    if (uarea__posix_sh != NULL) return UAREA_ESTATE;
    uarea__posix_desc_defaults(d);
    if (d->nodes < 1 || d->nodes > NOC_NODES_MAX) return UAREA_EBADNODE;
    if (d->containers < 1 || d->containers > d->nodes) return UAREA_EINVAL;
    if (d->restore != NULL && d->containers != 1) return UAREA_EINVAL;
    if (d->cores < 1 || d->cores > UAREA_CORES_MAX) return UAREA_EINVAL;
    if (argc < 0 || (argc > 0 && argv == NULL)) return UAREA_EINVAL;
    return 0;
}

/* desc.restore, opened before anything starts (uarea_posix/checkpoint.h). */
static int uarea__posix_launch_restore(const uarea_posix_desc *d)
{
    int fd;
    if (d->restore == NULL) return 0;
    fd = uarea__posix_open_restore(d->restore);
    if (fd < 0) return fd;
    uarea__posix_restore_fd = fd;
    return 0;
}

/* What every node inherits through the fork: the program and its argv, the
 * number of cores, the binary's fingerprint, the preemption tick's handler. */
static void uarea__posix_launch_globals(const uarea_posix_desc *d, int (*app_main)(int, char **),
                                        int argc, char **argv)
{
    uarea__posix_app = app_main;
    uarea__posix_argc = argc;
    uarea__posix_argv = argv;
    uarea__posix_ncores = (unsigned)d->cores;
    uarea__posix_fp = uarea__posix_fingerprint();
    uarea__posix_install_preemption();
}

/* The container region at its fixed address and the shared block with its
 * eventfd (uarea_posix/books.h). */
static int uarea__posix_launch_books(uarea__posix_launch *la)
{
    const uarea_posix_desc *d = &la->d;
    struct uarea__posix_shared *sh;
    void *region;
    int i;
    region = mmap((void *)(uintptr_t)UAREA_POSIX_REGION_ADDR, UAREA_CONTAINER_SIZE,
                  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (region == MAP_FAILED) return UAREA_ENOMEM;
    la->region = region;
    if (region != (void *)(uintptr_t)UAREA_POSIX_REGION_ADDR) return UAREA_ENOMEM;
    uarea__posix_region = region;
    uarea__posix_region_size = UAREA_CONTAINER_SIZE;
    sh = (struct uarea__posix_shared *)mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return UAREA_ENOMEM;
    memset(sh, 0, sizeof *sh);
    uarea__posix_sh = sh;
    sh->containers = d->containers;
    sh->nodes = d->nodes;
    for (i = 0; i < NOC_NODES_MAX; i++)
        sh->custody[i] = UAREA__POSIX_CUSTODY(i < d->containers ? i : -1, -1);
    sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sh->efd < 0) return UAREA_EIO;
    return 0;
}

/* The region and the shared block, then the NoC. */
static int uarea__posix_launch_map(uarea__posix_launch *la)
{
    const uarea_posix_desc *d = &la->d;
    int rc = uarea__posix_launch_books(la);
    if (rc < 0) return rc;
    /* Each node's portal block lies in the transport's shared arena: a
     * portal transfer into it is one memcpy (docs/posix-noc.md). */
    rc = noc_shm_create(&la->shm, &(noc_shm_desc){.nodes = d->nodes,
                                                  .arena_size = (size_t)d->nodes * UAREA_POSIX_BLOCK});
    if (rc < 0) return rc;
    la->have_noc = 1;
    uarea__posix_noc = &la->shm;
    la->arena = (unsigned char *)noc_shm_arena(&la->shm, NULL);
    return 0;
}

/* Fork the node processes (uarea__posix_node_process), then let them start.
 * A fork that fails stops the run: the nodes already there leave. */
static void uarea__posix_launch_nodes(uarea__posix_launch *la)
{
    uarea__posix_watch *w = &la->w;
    pid_t launcher = getpid();
    int i;
    fflush(NULL);
    for (i = 0; i < la->d.nodes; i++) {
        pid_t p = fork();
        if (p == 0)
            uarea__posix_node_process(&la->shm, i, la->region, &la->d,
                                      la->arena + (size_t)i * UAREA_POSIX_BLOCK, launcher);
        if (p < 0) {
            uarea__posix_logf(0, "cannot start node %d: %s", i, strerror(errno));
            uarea__posix_stop();
            if (w->failed == 0) w->failed = UAREA_ENOMEM;
            break;
        }
        w->pid[i] = p;
        w->rep->node[i].pid = (long)p;
        __atomic_store_n(&uarea__posix_sh->pid[i], (long)p, __ATOMIC_RELEASE);
        /* a node that dies before it attaches is then seen dead */
        (void)noc_shm_expect(&la->shm, i, (int)p);
    }
    w->nodes = w->rep->nodes = i;
    if (uarea__posix_restore_fd >= 0) {
        close(uarea__posix_restore_fd);           /* node 0 has it */
        uarea__posix_restore_fd = -1;
    }
    __atomic_store_n(&uarea__posix_sh->forked, 1, __ATOMIC_RELEASE);
}

/* The run's value, once every node has ended: the first non-zero value of
 * the containers' programs when they all ended; else UAREA_ELOST (or the
 * runtime error of the node whose failure lost a container), a node's
 * runtime error, or UAREA_EABORTED. The report's counts too. */
static int uarea__posix_outcome(uarea__posix_launch *la)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uarea__posix_watch *w = &la->w;
    uarea_posix_report *rep = w->rep;
    int i, all = 1, first = 0;
    rep->migrations = __atomic_load_n(&sh->nstats, __ATOMIC_ACQUIRE);
    rep->stats_dropped = __atomic_load_n(&sh->dropped, __ATOMIC_ACQUIRE);
    rep->launcher_wakes = __atomic_load_n(&sh->tells, __ATOMIC_ACQUIRE);
    if (w->lost >= 0)
        return w->failed != 0 && rep->node[rep->lost_node].end == UAREA_POSIX_END_FAILED
                   ? w->failed : UAREA_ELOST;
    for (i = 0; i < la->d.containers; i++) {
        if (!sh->done[i]) all = 0;
        else if (first == 0) first = sh->exit_code[i];
    }
    return all ? first : w->failed != 0 ? w->failed : UAREA_EABORTED;
}

/* Give back what the launcher took, whatever step it reached. */
static void uarea__posix_launch_end(uarea__posix_launch *la)
{
    if (la->have_noc) noc_shm_destroy(&la->shm);
    uarea__posix_noc = NULL;
    if (uarea__posix_sh != NULL) {
        if (uarea__posix_sh->efd >= 0) close(uarea__posix_sh->efd);
        munmap(uarea__posix_sh, sizeof *uarea__posix_sh);
        uarea__posix_sh = NULL;
    }
    if (la->region != NULL) {
        munmap(la->region, UAREA_CONTAINER_SIZE);
        uarea__posix_region = NULL;
        uarea__posix_region_size = 0;
    }
    if (uarea__posix_restore_fd >= 0) close(uarea__posix_restore_fd);
    uarea__posix_restore_fd = -1;
}

#ifdef UAREA_POSIX_MPI
/* Under mpirun: every rank a node (uarea_posix/mpi_run.h). */
#  include "uarea_posix/mpi_run.h"
#endif

UAREA_API int uarea_posix_mpi_rank(void)
{
#ifdef UAREA_POSIX_MPI
    int init = 0, fin = 0, rank = 0;
    (void)MPI_Initialized(&init);
    (void)MPI_Finalized(&fin);
    if (init && !fin) (void)MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    else rank = uarea__posix_mpi_env_rank();          /* MPI starts with the first run */
    return rank < 0 ? 0 : rank;
#else
    return 0;
#endif
}

UAREA_API int uarea_posix_run(const uarea_posix_desc *desc,
                              int (*app_main)(int argc, char **argv), int argc, char **argv)
{
    uarea__posix_launch la;
    int rc;
#ifdef UAREA_POSIX_MPI
    if (uarea__posix_sh == NULL && uarea__posix_mpi_job())
        return uarea__posix_run_mpi(desc, app_main, argc, argv);
#endif
    /* 1. the descriptor with its defaults, checked; an empty report */
    rc = uarea__posix_launch_desc(&la, desc, app_main, argc, argv);
    /* 2. the checkpoint file to start from, if any */
    if (rc == 0) rc = uarea__posix_launch_restore(&la.d);
    if (rc < 0) return rc;
    /* 3. what the nodes inherit: the program, the fingerprint, the tick */
    uarea__posix_launch_globals(&la.d, app_main, argc, argv);
    /* 4. the container region, the shared block, the NoC */
    rc = uarea__posix_launch_map(&la);
    if (rc == 0) {
        /* 5. the node processes */
        uarea__posix_launch_nodes(&la);
        /* 6. watch them to their end (uarea_posix/watch.h) */
        uarea__posix_watch_run(&la.w);
        /* 7. the run's value and report */
        rc = uarea__posix_outcome(&la);
    }
    /* 8. give back the region, the shared block, the NoC, the file */
    uarea__posix_launch_end(&la);
    return rc;
}


UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
