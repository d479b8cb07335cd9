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
 * container that starts on node 0. When it returns, every node shuts down and
 * uarea_posix_run() returns its value in the launching process. If the node
 * holding the container dies, uarea_posix_run() returns UAREA_EPEERGONE. A
 * run may not start inside a run (UAREA_ESTATE).
 *
 * What moves with the container: the UArea, the thread stacks, the heap of
 * uarea_malloc() and every global marked UAREA_USER. Everything else of a node
 * process stays behind: see docs/posix-port.md for what a containerised
 * program may and may not do.
 *
 * migrate_to(node) / kmigrate_to(node), called by a thread of the container:
 * the container freezes (every thread parks at its next scheduling point),
 * travels, and resumes on `node`; the call returns 0 there. If the move fails
 * (refused, timeout, dead destination), the container resumes where it was
 * and the call returns the error.
 *
 * Configuration (#ifndef defaults):
 *   UAREA_POSIX_REGION_ADDR   fixed address of the container region; the
 *                             default depends on the sanitizer in use (ASan
 *                             and TSan reserve different parts of memory)
 *   UAREA_STACK_SIZE          65536 here (user code calls libc, whose stack
 *                             needs exceed the MPPA-256's 8 KiB); only the
 *                             used part of a stack migrates
 *
 * Implementation: UAREA_IMPLEMENTATION (or UAREA_POSIX_IMPLEMENTATION with
 * the core modules' macros) in one C file. Linux only.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE 1
#endif

#if defined(UAREA_PORT_H) && !defined(UAREA_POSIX_PORT_H)
#  error "another uarea port was selected before <uarea_posix.h> (UAREA_PORT_HEADER or UAREA_PORT_NULL)"
#endif
#ifndef UAREA_PORT_HEADER
#  define UAREA_PORT_HEADER <uarea_posix/port.h>
#endif

#include <uarea_posix/noc_shm.h>
#include <uarea_posix/dirty.h>
#include <uarea/thread.h>
#include <migrate/migrate.h>
#include <migrate/daemon.h>

#if defined(UAREA_IMPLEMENTATION) && !defined(UAREA_POSIX_IMPLEMENTATION)
#  define UAREA_POSIX_IMPLEMENTATION
#endif

#ifndef UAREA_POSIX_H
#define UAREA_POSIX_H

#include <stddef.h>

UAREA_EXTERN_C_BEGIN

/* A global that belongs to the container: it migrates with it. */
#define UAREA_USER __attribute__((section("uarea_user"), used, aligned(16)))

typedef struct uarea_posix_desc {
    int nodes;                /* node processes; 0: 4 */
    int cores;                /* core threads per node; 0: 2 */
    int64_t timeout_ns;       /* migration protocol timeout; 0: 1 s */
    /* Called in the launching process after each migration the container
     * made, with its statistics (NULL: none). */
    void (*on_migration)(void *arg, const migrate_stats *st);
    void *arg;
    /* Start from a checkpoint file (uarea_posix_checkpoint) instead of a new
     * container: app_main is not called; the container resumes where it was
     * written. NULL: a new container. */
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
 * run (uarea_posix_desc.restore), or a negative error. The program must be
 * the same binary, linked at fixed addresses (-no-pie) so that a new run has
 * the same addresses, and built without stack protector (the canary differs
 * between runs); see docs/posix-port.md. */
UAREA_API int uarea_posix_checkpoint(const char *path);

/* The process id of node `node` of the current run (tests kill nodes with it);
 * -1 when there is no such node. */
UAREA_API long uarea_posix_node_pid(int node);

/* Which container the calling thread belongs to (0 .. containers - 1). */
UAREA_API int uarea_posix_container(void);

/* Statistics of the container's last completed migration (callable from a
 * container thread right after migrate_to returned 0). UAREA_EAGAIN: none. */
UAREA_API int uarea_posix_last_migration(migrate_stats *st);

/* The fingerprint this binary's images carry (its code bytes, CRC32C). */
UAREA_API uint64_t uarea_posix_binary_fp(void);

/* The node that holds container `container` now (any process of a run may
 * ask); UAREA_EINVAL for no such container, UAREA_ESTATE outside a run. */
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>

UAREA_EXTERN_C_BEGIN

#ifndef UAREA_POSIX_REGION_ADDR
#  if defined(UAREA__ASAN) || defined(MIGRATE__ASAN)
#    define UAREA_POSIX_REGION_ADDR 0x200000000000ull
#  elif defined(UAREA__TSAN)
#    define UAREA_POSIX_REGION_ADDR 0x80000000ull
#  else
#    define UAREA_POSIX_REGION_ADDR 0x200000000000ull
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

#define UAREA__POSIX_SYS_MIGRATE 0x4d494752u   /* "MIGR": migrate_to on a board */
#define UAREA__POSIX_SYS_CKPT 0x434b5054u      /* "CKPT": uarea_posix_checkpoint */

/* The user section: linker-made bounds (weak: a program may have none). */
extern char __start_uarea_user[] __attribute__((weak));
extern char __stop_uarea_user[] __attribute__((weak));
/* This binary's code, for the fingerprint. */
extern char __executable_start[] __attribute__((weak));
extern char etext[] __attribute__((weak));

/* State shared by the launcher and every node (MAP_SHARED, same address). */
struct uarea__posix_shared {
    int stop;                 /* every node: leave */
    int containers;           /* containers of the run */
    int done_count;           /* containers whose thread 0 returned */
    int done[NOC_NODES_MAX];  /* per container */
    int exit_code[NOC_NODES_MAX]; /* app_main's value, per container */
    int holder[NOC_NODES_MAX];    /* node that runs each container now */
    int lost;                 /* a holder died */
    int nodes;
    long pid[NOC_NODES_MAX];  /* node processes */
    int forked;               /* every node process exists (the launcher) */
    uint32_t nstats;          /* migrations recorded */
    migrate_stats stats[256];
};

static struct uarea__posix_shared *uarea__posix_sh;
static int (*uarea__posix_app)(int, char **);
static int uarea__posix_argc;
static char **uarea__posix_argv;
static uint64_t uarea__posix_fp;
/* The container's own index: in the user section, so it travels with it. */
static int uarea__posix_cid __attribute__((section("uarea_user"), used));

/* ---- node-local ---- */
typedef struct uarea__posix_node {
    int self;
    migrate_node mn;
    pthread_t cores[UAREA_CORES_MAX];
    unsigned ids[UAREA_CORES_MAX];
    int running;              /* core threads started for the container */
    struct uarea *ua;
    migrate_region user[1];
    uint32_t n_user;
    uarea_posix_dirty dirty_region, dirty_user;   /* pre-copy trackers */
    int ckpt_core;            /* board of a checkpoint being taken, -1: none */
    int restored;             /* the container came from a checkpoint file */
    /* migrate_to calls this node's daemon took from each board and has not
     * answered: only those may be answered from the daemon's last result */
    unsigned char captured[UAREA_CORES_MAX];
} uarea__posix_node;

static uarea__posix_node *uarea__posix_me;
static _Thread_local int uarea__posix_in_scheduler; /* this thread is in desc.scheduler */

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
    return __atomic_load_n(&uarea__posix_sh->holder[container], __ATOMIC_ACQUIRE);
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
    return migrate_daemon_request(&uarea__posix_me->mn.d, from, node);
}

UAREA_API int uarea_posix_move_result(void)
{
    if (!uarea__posix_in_scheduler || uarea__posix_me == NULL) return UAREA_ESTATE;
    return migrate_daemon_ctrl_result(&uarea__posix_me->mn.d, NULL);
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

/* A call to the master through the caller's core board: post it, wake the
 * master, then wait — at scheduling points, where a freeze parks the thread —
 * for the outcome the master writes into the board. The board is in the
 * UArea, so a call outlives a migration or a checkpoint: the master of the
 * node where the container is when the call ends answers it. */
static int uarea__posix_call(uint32_t number, uintptr_t arg)
{
    struct uarea *ua = uarea_current();
    unsigned core;
    struct uarea_board *b;
    uint32_t expect = 0;
    intptr_t ret;
    uintptr_t crit;
    unsigned spins = 0;
    if (ua == NULL) return UAREA_ENOTUSER;
    /* posting is not a safe point: no tick may move the thread off this core
     * between taking the board and raising its pending flag */
    crit = UAREA_PORT_CRIT_ENTER();
    core = UAREA_PORT_CORE_ID();
    b = uarea_board(ua, core);
    if (b == NULL || !__atomic_compare_exchange_n(&b->number, &expect, number, false,
                                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        UAREA_PORT_CRIT_LEAVE(crit);
        return b == NULL ? UAREA_ENOTUSER : UAREA_EBUSY;
    }
    b->args[0] = arg;
    __atomic_store_n(&b->ret, (intptr_t)UAREA_EAGAIN, __ATOMIC_RELAXED);
    __atomic_store_n(&b->pending, 1u, __ATOMIC_RELEASE);
    UAREA_PORT_CRIT_LEAVE(crit);
    uarea__posix_resched(0);
    while ((ret = __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE)) == UAREA_EAGAIN) {
        (void)uarea_thread_yield();
        /* with nothing else ready the yield returns at once: give the host
         * CPU back now and then, the master answering the call needs it */
        if ((++spins & 63u) == 0) sched_yield();
    }
    __atomic_store_n(&b->number, 0u, __ATOMIC_RELEASE);
    return (int)ret;
}

int migrate_to(int node)
{
    return uarea__posix_call(UAREA__POSIX_SYS_MIGRATE, (uintptr_t)(intptr_t)node);
}

UAREA_API int uarea_posix_checkpoint(const char *path)
{
    if (path == NULL) return UAREA_EINVAL;
    return uarea__posix_call(UAREA__POSIX_SYS_CKPT, (uintptr_t)path);
}

int kmigrate_to(int node) { return migrate_to(node); }

UAREA_API int uarea_posix_last_migration(migrate_stats *st)
{
    uint32_t n;
    if (uarea__posix_sh == NULL || st == NULL) return UAREA_EINVAL;
    n = __atomic_load_n(&uarea__posix_sh->nstats, __ATOMIC_ACQUIRE);
    if (n == 0) return UAREA_EAGAIN;
    if (n > sizeof uarea__posix_sh->stats / sizeof uarea__posix_sh->stats[0])
        n = sizeof uarea__posix_sh->stats / sizeof uarea__posix_sh->stats[0];
    *st = uarea__posix_sh->stats[n - 1];
    return 0;
}

/* ---- cores ---- */
/* ---- preemption at safe points ----
 * Each core thread has a timer that sends it UAREA_POSIX_PREEMPT_SIG every
 * UAREA_POSIX_QUANTUM_NS. The handler turns the tick into a yield, on the
 * interrupted thread's own stack (the signal frame migrates with it), only at
 * a safe point: a user thread of the container is running, the core is not
 * inside the library's critical section (the runtime code that user threads
 * run, scheduler, allocator, syscall boards, holds it), and the interrupted
 * instruction is in the program's own code: the application's objects when
 * it is linked with the CMake helper uarea_posix_application() (its section
 * uarea_text), else [__executable_start, etext); never libc or another shared
 * object. Else the tick is ignored and the next one tries again. */
static uintptr_t uarea__posix_text_lo, uarea__posix_text_hi;
extern const char __uarea_app_text_start[] __attribute__((weak));
extern const char __uarea_app_text_end[] __attribute__((weak));

static uintptr_t uarea__posix_pc(const void *ucv)
{
    const ucontext_t *uc = (const ucontext_t *)ucv;
#if defined(__x86_64__)
#  ifndef REG_RIP
#    define REG_RIP 16                  /* <sys/ucontext.h> names it under _GNU_SOURCE only */
#  endif
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#elif defined(__riscv)
    return (uintptr_t)uc->uc_mcontext.__gregs[REG_PC];
#else
    (void)uc;
    return 0;
#endif
}

/* errno of the core thread the caller runs on now. Out of line and called
 * through a volatile pointer: the handler may resume on another core thread,
 * or in another process after a migration, so the address of errno taken
 * before the yield (the compiler may keep it, __errno_location is const) would
 * be another thread's. */
static void uarea__posix_errno_set(int v) { errno = v; }
static int uarea__posix_errno_get(void) { return errno; }
static void (*volatile uarea__posix_errno_setp)(int) = uarea__posix_errno_set;
static int (*volatile uarea__posix_errno_getp)(void) = uarea__posix_errno_get;

/* Yield from the handler. The thread may come back on another core thread, or
 * in another process after a migration: when it returns from the handler, the
 * kernel installs the signal mask and the alternate signal stack saved in the
 * frame, which were the interrupted core thread's. Make them this thread's,
 * or a core thread would leave with another's alternate stack (sanitizers give
 * every thread one and unmap it when the thread ends). */
static void uarea__posix_preempt_yield(ucontext_t *uc)
{
    (void)uarea_thread_yield();
    (void)sigaltstack(NULL, &uc->uc_stack);
    (void)pthread_sigmask(SIG_BLOCK, NULL, &uc->uc_sigmask);
}

static void uarea__posix_preempt(int sig, siginfo_t *si, void *uc)
{
    int saved = uarea__posix_errno_getp();
    uintptr_t pc = uarea__posix_pc(uc);
    (void)sig; (void)si;
    if (uarea__posix_core != UINT_MAX && !uarea__posix_crit && pc >= uarea__posix_text_lo &&
        pc < uarea__posix_text_hi && uarea_current() != NULL && uarea_thread_self() >= 0)
        uarea__posix_preempt_yield((ucontext_t *)uc);
    uarea__posix_errno_setp(saved);
}

/* The way back from the handler. A thread preempted in the handler and then
 * written to a checkpoint returns from it in another run of the program,
 * where libc, whose restorer the kernel would return through, sits at another
 * address: the restorer is the program's own (x86_64, aarch64). */
#if defined(__x86_64__) || defined(__aarch64__)
#  define UAREA__POSIX_OWN_RESTORER 1
void uarea__posix_sigreturn(void);
__asm__(".text\n"
        ".weak uarea__posix_sigreturn\n"
        ".type uarea__posix_sigreturn, @function\n"
        ".p2align 4\n"
        "uarea__posix_sigreturn:\n"
#  if defined(__x86_64__)
        "    movq $15, %rax\n"      /* rt_sigreturn */
        "    syscall\n"
#  else
        "    mov x8, #139\n"        /* rt_sigreturn */
        "    svc #0\n"
#  endif
        ".size uarea__posix_sigreturn, .-uarea__posix_sigreturn\n");
#  ifndef SA_RESTORER
#    define SA_RESTORER 0x04000000
#  endif
#endif

static void uarea__posix_install_preemption(void)
{
    /* NODEFER: a thread switched to from inside the handler stays preemptible */
    unsigned long flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
#ifdef UAREA__POSIX_OWN_RESTORER
    struct {
        void (*handler)(int, siginfo_t *, void *);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } ksa;
    memset(&ksa, 0, sizeof ksa);
    ksa.handler = uarea__posix_preempt;
    ksa.flags = flags | SA_RESTORER;
    ksa.restorer = uarea__posix_sigreturn;
    if (syscall(SYS_rt_sigaction, UAREA_POSIX_PREEMPT_SIG, &ksa, NULL, sizeof ksa.mask) != 0)
#endif
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = uarea__posix_preempt;
        sa.sa_flags = (int)flags;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(UAREA_POSIX_PREEMPT_SIG, &sa, NULL);
    }
    if (__uarea_app_text_start != NULL &&
        (uintptr_t)__uarea_app_text_end > (uintptr_t)__uarea_app_text_start) {
        uarea__posix_text_lo = (uintptr_t)__uarea_app_text_start;
        uarea__posix_text_hi = (uintptr_t)__uarea_app_text_end;
    } else {
        uarea__posix_text_lo = (uintptr_t)__executable_start;
        uarea__posix_text_hi = (uintptr_t)etext;
    }
}

static void *uarea__posix_core_main(void *arg)
{
    unsigned id = *(unsigned *)arg;
    timer_t timer;
    struct sigevent ev;
    int armed = 0;
    memset(&timer, 0, sizeof timer);
    uarea__posix_core = id;
    if (UAREA_POSIX_QUANTUM_NS > 0 && uarea__posix_text_hi > uarea__posix_text_lo) {
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = UAREA_POSIX_PREEMPT_SIG;
        ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0) {
            struct itimerspec it;
            it.it_value.tv_sec = it.it_interval.tv_sec = UAREA_POSIX_QUANTUM_NS / 1000000000;
            it.it_value.tv_nsec = it.it_interval.tv_nsec = UAREA_POSIX_QUANTUM_NS % 1000000000;
            armed = timer_settime(timer, 0, &it, NULL) == 0;
            if (!armed) timer_delete(timer);
        }
    }
    (void)uarea_core_run(uarea__posix_me->ua);
    if (armed) timer_delete(timer);
    return NULL;
}

static void uarea__posix_start_cores(void *arg, struct uarea *ua)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    unsigned i;
    if (n->running) return;
    n->ua = ua;
    /* before its threads run: they may ask where they are */
    __atomic_store_n(&uarea__posix_sh->holder[uarea__posix_cid], n->self, __ATOMIC_RELEASE);
    for (i = 0; i < uarea__posix_ncores; i++) {
        n->ids[i] = i;
        if (pthread_create(&n->cores[i], NULL, uarea__posix_core_main, &n->ids[i]) != 0) {
            uarea__posix_log(0, "cannot start a core thread");
            abort();
        }
    }
    n->running = 1;
}

static void uarea__posix_stop_cores(void *arg, struct uarea *ua)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    unsigned i;
    (void)ua;
    if (!n->running) return;
    uarea__posix_resched(0);
    for (i = 0; i < uarea__posix_ncores; i++) pthread_join(n->cores[i], NULL);
    n->running = 0;
}

/* Thread 0 of the container. */
static void *uarea__posix_main(void *arg)
{
    int rc;
    (void)arg;
    rc = uarea__posix_app(uarea__posix_argc, uarea__posix_argv);
    uarea__posix_sh->exit_code[uarea__posix_cid] = rc;
    __atomic_store_n(&uarea__posix_sh->done[uarea__posix_cid], 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The master's view of the boards: start requested migrations, and hand
 * outcomes to the threads that wait in migrate_to. */
static void uarea__posix_boards(uarea__posix_node *n, int arrived)
{
    struct uarea *ua = n->ua;
    unsigned c;
    if (!migrate_node_present(&n->mn) || ua == NULL) {
        memset(n->captured, 0, sizeof n->captured); /* the calls left with it */
        return;
    }
    for (c = 0; c < UAREA_CORES_MAX; c++) {
        struct uarea_board *b = &ua->board[c];
        uint32_t num = __atomic_load_n(&b->number, __ATOMIC_ACQUIRE);
        if (num == UAREA__POSIX_SYS_CKPT) {
            if (__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE)) {
                int rc;
                __atomic_store_n(&b->pending, 0u, __ATOMIC_RELEASE);
                if (n->ckpt_core >= 0 || migrate_daemon_busy(&n->mn.d)) {
                    __atomic_store_n(&b->ret, (intptr_t)UAREA_EBUSY, __ATOMIC_RELEASE);
                    continue;
                }
                rc = migrate_freeze_begin(ua);
                if (rc < 0) __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
                else n->ckpt_core = (int)c;
            } else if ((int)c != n->ckpt_core && n->restored &&
                       __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN) {
                /* this checkpoint is the one the run restored from */
                __atomic_store_n(&b->ret, (intptr_t)1, __ATOMIC_RELEASE);
            }
            continue;
        }
        if (num != UAREA__POSIX_SYS_MIGRATE) continue;
        if (__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE)) {
            int rc;
            __atomic_store_n(&b->pending, 0u, __ATOMIC_RELEASE); /* captured */
            rc = migrate_daemon_start(&n->mn.d, (int)(intptr_t)b->args[0]);
            if (rc < 0) __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
            else n->captured[c] = 1;
        } else if ((arrived || n->captured[c]) &&
                   __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN &&
                   !migrate_daemon_busy(&n->mn.d)) {
            /* the migration ended: here after an arrival, or back home. A
             * call being posted (ret set, pending not yet) is neither: it
             * must not take the last migration's result for its own. */
            int rc = arrived ? 0 : migrate_daemon_last(&n->mn.d, NULL);
            if (rc == UAREA_EAGAIN) rc = UAREA_EABORTED;
            n->captured[c] = 0;
            __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
        }
    }
}

static int uarea__posix_sink(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : UAREA_EIO;
}

static long uarea__posix_source(void *ctx, void *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, (FILE *)ctx);
    return ferror((FILE *)ctx) ? UAREA_EIO : (long)n;
}

/* A checkpoint asked for: once frozen, write it and let the container run. */
static void uarea__posix_ckpt_step(uarea__posix_node *n, unsigned char *buf, size_t cap)
{
    struct uarea_board *b;
    FILE *f;
    int rc;
    if (n->ckpt_core < 0) return;
    rc = migrate_freeze_poll(n->ua);
    if (rc == UAREA_EAGAIN) return;
    b = &n->ua->board[n->ckpt_core];
    if (rc == 0) {
        f = fopen((const char *)b->args[0], "wb");
        if (f == NULL) {
            rc = UAREA_EIO;
        } else {
            rc = migrate_checkpoint(n->ua, n->user, n->n_user, uarea__posix_fp, uarea__posix_sink,
                                    f, buf, cap, NULL);
            if (fclose(f) != 0 && rc == 0) rc = UAREA_EIO;
        }
    }
    (void)migrate_unfreeze(n->ua);
    n->ckpt_core = -1;
    __atomic_store_n(&b->ret, (intptr_t)rc, __ATOMIC_RELEASE);
}

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

static int uarea__posix_node_main(noc_shm *shm, int self, void *region, const uarea_posix_desc *d,
                                  unsigned char *block, size_t block_size)
{
    static uarea__posix_node node;
    noc_shm_node me;
    noc_transport t;
    migrate_node_desc nd;
    migrate_config cfg;
    uarea__posix_node *n = &node;
    int was_present = 0, rc;
    int64_t period = d->scheduler_period_ns > 0 ? d->scheduler_period_ns : INT64_C(1000000);
    uint64_t next_tick = uarea__posix_now();
    memset(n, 0, sizeof *n);
    n->dirty_region.uffd = n->dirty_user.uffd = -1;       /* no trackers yet */
    n->dirty_region.pagemap = n->dirty_user.pagemap = -1;
    n->self = self;
    n->ckpt_core = -1;
    uarea__posix_me = n;
    /* containers start once every node process exists (and has a pid) */
    while (!__atomic_load_n(&uarea__posix_sh->forked, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE))
        usleep(50);
    rc = noc_shm_attach(shm, self, &me, &t);
    if (rc < 0) return rc;
    noc_set_default(&t);
    {
        uintptr_t lo = (uintptr_t)__start_uarea_user, hi = (uintptr_t)__stop_uarea_user;
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
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_ns = d->timeout_ns > 0 ? d->timeout_ns : INT64_C(1000000000);
    memset(&nd, 0, sizeof nd);
    nd.t = &t;
    nd.region = region;
    nd.region_size = UAREA_CONTAINER_SIZE;
    nd.user = n->user;
    nd.n_user = n->n_user;
    nd.binary_fp = uarea__posix_fp;
    nd.block = block;
    nd.block_size = block_size;
    nd.cfg = &cfg;
    nd.on_activate = uarea__posix_start_cores;
    nd.on_release = uarea__posix_stop_cores;
    if (!d->no_precopy && uarea__posix_dirty_open(n, region)) {
        nd.dirty_begin = uarea__posix_dirty_begin;
        nd.dirty_collect = uarea__posix_dirty_collect;
    }
    nd.arg = n;
    rc = migrate_node_init(&n->mn, &nd);
    if (rc < 0) return rc;
    if (self == 0 && d->restore != NULL) {
        struct uarea *ua = NULL;
        FILE *f = fopen(d->restore, "rb");
        if (f == NULL) return UAREA_EIO;
        rc = migrate_restore(region, UAREA_CONTAINER_SIZE, n->user, n->n_user, uarea__posix_fp,
                             uarea__posix_source, f, block, block_size, NULL, &ua);
        fclose(f);
        if (rc == 0) rc = migrate_node_adopt(&n->mn);
        if (rc < 0) {
            uarea__posix_sh->exit_code[0] = rc;  /* the run's result: why */
            __atomic_store_n(&uarea__posix_sh->done[0], 1, __ATOMIC_RELEASE);
            __atomic_store_n(&uarea__posix_sh->done_count, uarea__posix_sh->containers,
                             __ATOMIC_RELEASE);
            __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
            return 0;
        }
        n->ua = ua;
        n->restored = 1;
        uarea__posix_boards(n, 0);      /* the checkpoint call returns 1 */
        (void)migrate_unfreeze(ua);
        uarea__posix_start_cores(n, ua);
    } else if (self < uarea__posix_sh->containers) {
        struct uarea *ua;
        uarea_tid_t t0;
        uarea__posix_cid = self;
        rc = uarea_container_init(region, UAREA_CONTAINER_SIZE, &ua);
        if (rc == 0) rc = uarea_create(ua, &t0, uarea__posix_main, NULL);
        if (rc == 0) rc = migrate_node_adopt(&n->mn);
        if (rc < 0) return rc;
        uarea__posix_start_cores(n, ua);
    }
    while (!__atomic_load_n(&uarea__posix_sh->stop, __ATOMIC_ACQUIRE)) {
        int present, did, arrived;
        did = migrate_node_step(&n->mn);
        present = migrate_node_present(&n->mn);
        arrived = 0;
        if (present && !was_present) {
            /* the container came in (not: it was made here at the start) */
            migrate_stats st;
            if (migrate_daemon_last(&n->mn.d, &st) == 0 && st.dst == self) {
                uint32_t i = __atomic_fetch_add(&uarea__posix_sh->nstats, 1u, __ATOMIC_ACQ_REL);
                if (i < sizeof uarea__posix_sh->stats / sizeof uarea__posix_sh->stats[0])
                    uarea__posix_sh->stats[i] = st;
                arrived = 1;
            }
        }
        uarea__posix_boards(n, arrived);
        if (present) uarea__posix_ckpt_step(n, block, block_size);
        if (self == 0 && d->scheduler != NULL && uarea__posix_now() >= next_tick) {
            uarea__posix_in_scheduler = 1;
            d->scheduler(d->arg);
            uarea__posix_in_scheduler = 0;
            next_tick = uarea__posix_now() + (uint64_t)period;
            did = 1;
        }
        was_present = present;
        if (present && n->running &&
            __atomic_load_n(&uarea__posix_sh->done[uarea__posix_cid], __ATOMIC_ACQUIRE)) {
            /* this node's container finished; the run ends with the last one */
            (void)uarea_release(n->ua);
            uarea__posix_stop_cores(n, n->ua);
            if (__atomic_add_fetch(&uarea__posix_sh->done_count, 1, __ATOMIC_ACQ_REL) >=
                uarea__posix_sh->containers) {
                __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
                break;
            }
        }
        if (did == 0 && !migrate_daemon_busy(&n->mn.d) && !migrate_daemon_alert(&n->mn.d) &&
            n->mn.d.out_count == 0 && n->ckpt_core < 0)
            (void)migrate_daemon_wait(&n->mn.d, period < 1000000 ? period : 1000000);
        else if (did == 0)
            sched_yield(); /* waiting on the peer: let it have the CPU */
    }
    if (n->running) {
        /* another node ended the run while the container was here */
        (void)uarea_release(n->ua);
        uarea__posix_stop_cores(n, n->ua);
    }
    (void)migrate_node_fini(&n->mn);
    uarea_posix_dirty_close(&n->dirty_region);
    uarea_posix_dirty_close(&n->dirty_user);
    (void)noc_shm_detach(&me);
    return 0;
}

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

UAREA_API int uarea_posix_run(const uarea_posix_desc *desc,
                              int (*app_main)(int argc, char **argv), int argc, char **argv)
{
    uarea_posix_desc d;
    noc_shm shm;
    void *region;
    pid_t pids[NOC_NODES_MAX];
    int i, rc, result;
    unsigned char *arena;
    if (app_main == NULL) return UAREA_EINVAL;
    /* a container thread, the scheduler or a node may not start a run of
     * its own: its nodes would fork copies of this node */
    if (uarea__posix_sh != NULL) return UAREA_ESTATE;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.nodes == 0) d.nodes = 4;
    if (d.cores == 0) d.cores = 2;
    if (d.nodes < 1 || d.nodes > NOC_NODES_MAX) return UAREA_EBADNODE;
    if (d.containers == 0) d.containers = 1;
    if (d.containers < 1 || d.containers > d.nodes) return UAREA_EINVAL;
    if (d.restore != NULL && d.containers != 1) return UAREA_EINVAL;
    if (d.cores < 1 || d.cores > UAREA_CORES_MAX) return UAREA_EINVAL;
    uarea__posix_app = app_main;
    uarea__posix_argc = argc;
    uarea__posix_argv = argv;
    uarea__posix_ncores = (unsigned)d.cores;
    uarea__posix_fp = uarea__posix_fingerprint();
    uarea__posix_install_preemption();
    region = mmap((void *)(uintptr_t)UAREA_POSIX_REGION_ADDR, UAREA_CONTAINER_SIZE,
                  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (region == MAP_FAILED) return UAREA_ENOMEM;
    if (region != (void *)(uintptr_t)UAREA_POSIX_REGION_ADDR) {
        munmap(region, UAREA_CONTAINER_SIZE);
        return UAREA_ENOMEM;
    }
    uarea__posix_region = region;
    uarea__posix_region_size = UAREA_CONTAINER_SIZE;
    uarea__posix_sh = (struct uarea__posix_shared *)mmap(NULL, sizeof *uarea__posix_sh,
                                                         PROT_READ | PROT_WRITE,
                                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (uarea__posix_sh == MAP_FAILED) {
        uarea__posix_sh = NULL;
        munmap(region, UAREA_CONTAINER_SIZE);
        return UAREA_ENOMEM;
    }
    memset(uarea__posix_sh, 0, sizeof *uarea__posix_sh);
    uarea__posix_sh->containers = d.containers;
    uarea__posix_sh->nodes = d.nodes;
    for (i = 0; i < NOC_NODES_MAX; i++) uarea__posix_sh->holder[i] = i < d.containers ? i : -1;
    /* Each node's portal block lies in the transport's shared arena: a
     * portal transfer into it is one memcpy (docs/posix-noc.md). */
    rc = noc_shm_create(&shm, &(noc_shm_desc){.nodes = d.nodes,
                                              .arena_size = (size_t)d.nodes * UAREA_POSIX_BLOCK});
    if (rc < 0) {
        munmap(uarea__posix_sh, sizeof *uarea__posix_sh);
        uarea__posix_sh = NULL;
        munmap(region, UAREA_CONTAINER_SIZE);
        return rc;
    }
    arena = (unsigned char *)noc_shm_arena(&shm, NULL);
    fflush(NULL);
    for (i = 0; i < d.nodes; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
            d.nodes = i;
            break;
        }
        if (pids[i] > 0) {
            __atomic_store_n(&uarea__posix_sh->pid[i], (long)pids[i], __ATOMIC_RELEASE);
            /* a node that dies before it attaches is then seen dead */
            (void)noc_shm_expect(&shm, i, (int)pids[i]);
        }
        if (pids[i] == 0) {
            __atomic_store_n(&uarea__posix_sh->pid[i], (long)getpid(), __ATOMIC_RELEASE);
            int r = uarea__posix_node_main(&shm, i, region, &d, arena + (size_t)i * UAREA_POSIX_BLOCK,
                                           UAREA_POSIX_BLOCK);
            fflush(NULL);
            _exit(r < 0 ? 1 : 0);
        }
    }
    __atomic_store_n(&uarea__posix_sh->forked, 1, __ATOMIC_RELEASE);
    /* The launcher: reap the nodes, notice a death. */
    result = 0;
    for (int left = d.nodes; left > 0;) {
        int status;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0) {
            if (errno == EINTR) continue;
            break;
        }
        left--;
        for (i = 0; i < d.nodes; i++) {
            if (pids[i] != p) continue;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                for (int c = 0; c < d.containers; c++)
                    if (!__atomic_load_n(&uarea__posix_sh->done[c], __ATOMIC_ACQUIRE) &&
                        __atomic_load_n(&uarea__posix_sh->holder[c], __ATOMIC_ACQUIRE) == i) {
                        uarea__posix_sh->lost = 1;   /* a container died with its node */
                        __atomic_store_n(&uarea__posix_sh->stop, 1, __ATOMIC_RELEASE);
                    }
                if (result == 0) result = -1;
            }
        }
    }
    if (d.on_migration) {
        uint32_t k, m = uarea__posix_sh->nstats;
        if (m > sizeof uarea__posix_sh->stats / sizeof uarea__posix_sh->stats[0])
            m = sizeof uarea__posix_sh->stats / sizeof uarea__posix_sh->stats[0];
        for (k = 0; k < m; k++) d.on_migration(d.arg, &uarea__posix_sh->stats[k]);
    }
    if (uarea__posix_sh->lost) {
        result = UAREA_EPEERGONE;
    } else {
        int all = 1, first = 0;
        for (i = 0; i < d.containers; i++) {
            if (!uarea__posix_sh->done[i]) all = 0;
            else if (first == 0) first = uarea__posix_sh->exit_code[i];
        }
        if (all) result = first;
        else if (result == 0) result = UAREA_EABORTED;
    }
    noc_shm_destroy(&shm);
    munmap(uarea__posix_sh, sizeof *uarea__posix_sh);
    uarea__posix_sh = NULL;
    munmap(region, UAREA_CONTAINER_SIZE);
    return result;
}

UAREA_EXTERN_C_END

#endif /* UAREA_POSIX_IMPLEMENTATION */
