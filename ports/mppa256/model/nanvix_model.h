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
 * are threads of that process. The IKC calls are ikc_shm.h's (beside this
 * file: the same code a bare-metal kernel runs), over one shared arena that
 * holds the IKC state of every node (input mailboxes and portals, counters,
 * doorbells, fault switches), mapped by mppa_model_init() before any boot and
 * inherited by every cluster. Ids (mailbox and portal ids, 0..63 each) belong
 * to the process that made them.
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
 *       ikc_shm_counters(): the node's counters (all zero for a bad node or
 *       without an arena): mailbox_sent / mailbox_received (messages the
 *       node wrote / read), portal_sent / portal_received (pieces),
 *       portal_bytes_sent / portal_bytes_received, allows (kportal_allow
 *       calls that succeeded on the node). A message or piece counts as sent
 *       when the write try succeeds (it is then in the receiver's queue or
 *       slot), as received when a read try takes it.
 *   void mppa_model_reset_stats(void)
 *       ikc_shm_reset_counters(): zeroes every node's counters.
 *   void mppa_model_corrupt_next_piece(int dst_node)
 *       ikc_shm_corrupt_next_piece(), the fault switch: the next portal
 *       piece delivered to dst_node has one byte inverted (the byte at
 *       offset size / 2, XOR 0xff). The switch is kept in the arena and
 *       consumed by that delivery; set it before or after the receiver
 *       boots. No effect for a bad node.
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
 * launcher, knode_get_num() == -1) create/open return -EINVAL. A booted
 * cluster is node `nodenum` of the arena (ikc_shm_attach); the launcher and
 * the processes it forks otherwise only watch it (ikc_shm_monitor).
 *
 * IKC. ikc_shm.h documents every choice of the IKC calls: ids, mailboxes
 * (queues of MPPA_MODEL_MAILBOX_QUEUE = 32 messages), portals (one 4 KiB slot
 * and one pending allow per port, an output portal's own port chosen as
 * Nanvix does), wait, counters and the fault switch. The model runs it with
 * these hooks:
 *  - doze and wake: a try that finds nothing sleeps on this node's doorbell,
 *    a 32-bit counter in the arena bumped on every message and piece
 *    delivered to the node and every allow naming it, with a shared futex,
 *    for at most MPPA_MODEL_DOORBELL_NS (50 us), so that a polling cluster
 *    does not spin a host CPU; a delivery wakes the sleepers;
 *  - yield: sched_yield() (spin locks, and a write try that returns -EAGAIN
 *    or -EBUSY);
 *  - locks: each mailbox and portal port has a spin lock in the arena holding
 *    the owner's pid; a waiter takes over a lock whose owner process no
 *    longer exists (ended and reaped), so a cluster killed in the middle of a
 *    call does not stop the others for longer than its launcher takes to
 *    reap it.
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
#include "ikc_shm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MPPA_MODEL_MAILBOX_QUEUE IKC_SHM_MAILBOX_QUEUE /* messages queued per input mailbox */
#define MPPA_MODEL_DOORBELL_NS IKC_SHM_DOORBELL_NS     /* longest sleep of an empty try */

/* Counters of one node (mppa_model_stats): mailbox_sent, mailbox_received,
 * portal_sent, portal_received, portal_bytes_sent, portal_bytes_received,
 * allows. */
typedef ikc_shm_counters_t mppa_model_counters;

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
#if defined(IKC_SHM__IMPLEMENTED)
#  error "the model brings ikc_shm.h's implementation: define UAREA_MPPA256_MODEL_IMPLEMENTATION only"
#endif

#define MPPA_MODEL__E(x) (-(UAREA_MPPA256_##x))
#define MPPA_MODEL__NODES UAREA_MPPA256_NODES
#define MPPA_MODEL__CORES UAREA_MPPA256_CORES

/* ---- The IKC, with the host's hooks ----------------------------------------- */
static long mppa_model__futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Sleep on a doorbell of the arena while it still reads `seen`, at most ns. */
static void mppa_model__doze(uint32_t *bell, uint32_t seen, long ns)
{
    struct timespec ts = {0, ns};
    mppa_model__futex(bell, FUTEX_WAIT, seen, &ts);
}

/* 0 when the process that holds an arena lock no longer exists. */
static int mppa_model__owner_alive(uint32_t owner)
{
    return !(kill((pid_t)owner, 0) == -1 && errno == ESRCH);
}

#define IKC_SHM_DOZE(bell, seen, ns) mppa_model__doze((bell), (seen), (ns))
#define IKC_SHM_WAKE(bell) ((void)mppa_model__futex((bell), FUTEX_WAKE, INT_MAX, NULL))
#define IKC_SHM_YIELD() ((void)sched_yield())
#define IKC_SHM_LOCK_OWNER() ((uint32_t)getpid())
#define IKC_SHM_OWNER_ALIVE(owner) mppa_model__owner_alive(owner)
#define IKC_SHM_IMPLEMENTATION
#include "ikc_shm.h"

/* ---- The shared state -------------------------------------------------------- */
enum { MPPA_MODEL__FREE, MPPA_MODEL__STARTING, MPPA_MODEL__RUNNING, MPPA_MODEL__ENDED };

/* A node's process. */
struct mppa_model__proc {
    uint32_t state;                  /* MPPA_MODEL__FREE.. */
    int32_t pid;
};

/* One MAP_SHARED mapping: the IKC arena first (so page-aligned), then the
 * node processes. */
struct mppa_model__shared {
    unsigned char ikc[IKC_SHM_ARENA_SIZE];
    struct mppa_model__proc proc[MPPA_MODEL__NODES];
};

/* ---- Per-process state ------------------------------------------------------ */
/* A core's thread: free, running, ended (not joined yet). */
enum { MPPA_MODEL__CORE_FREE = 0, MPPA_MODEL__CORE_RUNNING = 1, MPPA_MODEL__CORE_ENDED = 2 };

struct mppa_model__core {
    uint32_t state;                  /* MPPA_MODEL__CORE_* */
    pthread_t thread;
    void (*fn)(void);
};

static struct mppa_model__shared *mppa_model__shared;
static int mppa_model__self = -1;    /* the node this process was booted as */
static struct mppa_model__core mppa_model__cores[MPPA_MODEL__CORES];
static pthread_mutex_t mppa_model__cores_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t mppa_model__events[MPPA_MODEL__CORES];  /* pending bits per core */
static _Thread_local int mppa_model__core_id = -1;
static _Thread_local int mppa_model__irq_off;
static int mppa_model__atexit_set;

/* ---- Helpers ------------------------------------------------------------------ */
static struct mppa_model__proc *mppa_model__proc(int n)
{
    return &mppa_model__shared->proc[n];
}

/* The node process `pid` has ended: mark it so, once, and empty the node's
 * IKC state (its counters and fault switch stay). */
static void mppa_model__ended(int n, long pid)
{
    struct mppa_model__proc *pr = mppa_model__proc(n);
    uint32_t st = __atomic_load_n(&pr->state, __ATOMIC_ACQUIRE);
    if ((long)__atomic_load_n(&pr->pid, __ATOMIC_ACQUIRE) != pid) return;
    if (st != MPPA_MODEL__STARTING && st != MPPA_MODEL__RUNNING) return;
    ikc_shm_reset_node(n);
    __atomic_compare_exchange_n(&pr->state, &st, (uint32_t)MPPA_MODEL__ENDED, 0,
                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* 1 while node n's process is starting or running. Its parent also sees one
 * that died without marking itself ended (not reaped yet). */
static int mppa_model__alive(int n)
{
    struct mppa_model__proc *pr = mppa_model__proc(n);
    uint32_t st = __atomic_load_n(&pr->state, __ATOMIC_ACQUIRE);
    pid_t pid = (pid_t)__atomic_load_n(&pr->pid, __ATOMIC_ACQUIRE);
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
    if (n < 0 || mppa_model__shared == NULL) return;
    mppa_model__ended(n, (long)getpid());
}

static void mppa_model__atexit(void)
{
    mppa_model__finish();
}

/* ---- Model API ------------------------------------------------------------------ */
int mppa_model_init(void)
{
    void *p;
    if (mppa_model__shared != NULL) return 0;
    p = mmap(NULL, sizeof(struct mppa_model__shared), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -errno;
    mppa_model__shared = (struct mppa_model__shared *)p;
    /* the launcher watches the arena: counters, fault switch, node resets */
    (void)ikc_shm_monitor(mppa_model__shared->ikc, IKC_SHM_ARENA_SIZE);
    return 0;
}

long mppa_model_boot(int nodenum, void (*master)(void))
{
    struct mppa_model__proc *pr;
    uint32_t st;
    pid_t parent, pid;
    int i;
    if (mppa_model__shared == NULL || nodenum < 0 || nodenum >= MPPA_MODEL__NODES || master == NULL)
        return -EINVAL;
    pr = mppa_model__proc(nodenum);
    if (mppa_model__alive(nodenum)) return -EBUSY;
    st = __atomic_load_n(&pr->state, __ATOMIC_ACQUIRE);
    if ((st != MPPA_MODEL__FREE && st != MPPA_MODEL__ENDED) ||
        !__atomic_compare_exchange_n(&pr->state, &st, (uint32_t)MPPA_MODEL__STARTING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return -EBUSY;
    __atomic_store_n(&pr->pid, 0, __ATOMIC_RELEASE);
    ikc_shm_reset_node(nodenum);
    fflush(NULL);
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        int e = errno;
        __atomic_store_n(&pr->state, (uint32_t)MPPA_MODEL__FREE, __ATOMIC_RELEASE);
        return -e;
    }
    if (pid > 0) {
        __atomic_store_n(&pr->pid, (int32_t)pid, __ATOMIC_RELEASE);
        return (long)pid;
    }
    /* the cluster */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) raise(SIGKILL);
    pthread_mutex_init(&mppa_model__cores_lock, NULL);
    for (i = 0; i < MPPA_MODEL__CORES; i++) {
        mppa_model__cores[i].state = MPPA_MODEL__CORE_FREE;
        mppa_model__cores[i].fn = NULL;
        mppa_model__events[i] = 0;
    }
    /* node `nodenum` of the arena, no id yet (its state is already empty) */
    (void)ikc_shm_attach(mppa_model__shared->ikc, IKC_SHM_ARENA_SIZE, nodenum);
    mppa_model__self = nodenum;
    mppa_model__core_id = 0;
    mppa_model__irq_off = 0;
    if (!mppa_model__atexit_set) {
        mppa_model__atexit_set = 1;
        atexit(mppa_model__atexit);
    }
    __atomic_store_n(&pr->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    __atomic_store_n(&pr->state, (uint32_t)MPPA_MODEL__RUNNING, __ATOMIC_RELEASE);
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
    if (mppa_model__shared == NULL || nodenum < 0 || nodenum >= MPPA_MODEL__NODES) return 0;
    if (__atomic_load_n(&mppa_model__proc(nodenum)->state, __ATOMIC_ACQUIRE) != MPPA_MODEL__RUNNING)
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
    if (mppa_model__shared == NULL) return;
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
    ikc_shm_counters(nodenum, c);
}

void mppa_model_reset_stats(void)
{
    ikc_shm_reset_counters();
}

void mppa_model_corrupt_next_piece(int dst_node)
{
    ikc_shm_corrupt_next_piece(dst_node);
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
    __atomic_store_n(&mppa_model__cores[id].state, (uint32_t)MPPA_MODEL__CORE_ENDED, __ATOMIC_RELEASE);
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
    case MPPA_MODEL__CORE_RUNNING:
        rc = MPPA_MODEL__E(EBUSY);
        break;
    case MPPA_MODEL__CORE_ENDED: /* not joined: its thread is done */
        pthread_join(c->thread, NULL);
        __atomic_store_n(&c->state, (uint32_t)MPPA_MODEL__CORE_FREE, __ATOMIC_RELAXED);
        break;
    default:
        break;
    }
    if (rc == 0) {
        c->fn = start;
        __atomic_store_n(&c->state, (uint32_t)MPPA_MODEL__CORE_RUNNING, __ATOMIC_RELEASE);
        if (pthread_create(&c->thread, NULL, mppa_model__core_main, (void *)(intptr_t)coreid) != 0) {
            __atomic_store_n(&c->state, (uint32_t)MPPA_MODEL__CORE_FREE, __ATOMIC_RELEASE);
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
    if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == MPPA_MODEL__CORE_FREE) {
        pthread_mutex_unlock(&mppa_model__cores_lock);
        return -EINVAL;
    }
    t = c->thread;
    pthread_mutex_unlock(&mppa_model__cores_lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&mppa_model__cores_lock);
    __atomic_store_n(&c->state, (uint32_t)MPPA_MODEL__CORE_FREE, __ATOMIC_RELEASE);
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
    int n = snprintf(buf, sizeof buf, "[node %d] ", knode_get_num());
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
