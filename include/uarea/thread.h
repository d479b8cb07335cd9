/*
 * uarea/thread.h - threads that live entirely inside a UArea, and the
 * scheduler that runs them on K cores.
 *
 * App-facing API (stable names: programs outside the tree compile against
 * them, as tests/consumers/api_main.c does; "the current container" is the
 * one the calling core runs, found through the port's core id):
 *
 *   #include <uarea/thread.h>
 *   int  uarea_thread_create(uarea_tid_t *tid, void *(*start)(void *), void *arg);
 *   int  uarea_thread_join(uarea_tid_t tid, void **retval);
 *   void uarea_thread_exit(void *retval);            // does not return
 *   int  uarea_thread_yield(void);
 *   uarea_tid_t uarea_thread_self(void);
 *
 * Every thread's state is in its UArea slot (id, state, entry, argument,
 * saved context, stack index, joiner, join result) and it runs on stack i of
 * the container's pool (slot i). Nothing about a thread lives outside the
 * container region, so after the region is copied to another process at the
 * same address (and uarea_attach() ran there), that process's cores resume
 * the threads where they stopped. docs/uarea-layout.md ("Threads,
 * scheduler, freeze") describes the scheduler and the freeze at length.
 *
 * Semantics:
 *   - create: UAREA_EINVAL (NULL tid or start), UAREA_ETHREADS when
 *     UAREA_THREADS_MAX threads exist (living ones plus exited ones nobody
 *     joined yet), UAREA_ENOSYS on a CPU without a context switch
 *     (uarea/arch/), UAREA_ENOTUSER when the caller is not a container
 *     thread (uarea_create: UAREA_ELAYOUT for a UArea never initialised,
 *     UAREA_ESTATE for a released one).
 *     The new thread is queued at the tail of the ready queue; the caller
 *     continues. Ids grow from 0 and are not reused.
 *   - join: waits until the thread exits and stores its exit value (retval may
 *     be NULL). UAREA_EDEADLK for the caller's own id or a join cycle (A joins
 *     B while B joins A), UAREA_ENOTHREAD for an id never handed out,
 *     UAREA_EJOINED for a thread already joined or being joined by another,
 *     UAREA_EOVERFLOW when the thread was killed for a stack overflow (then
 *     *retval is left alone), UAREA_ENOTUSER outside a container thread. An
 *     exited thread's slot and stack are free at once; its exit value waits in
 *     the UArea's exit ring until joined.
 *   - exit: ends the calling thread; returning from start() is the same.
 *   - yield: the caller goes to the tail of the ready queue and the head runs
 *     (round robin); returns 0 at once when nothing else is ready.
 *   - self: the caller's id, UAREA_ENOTUSER outside a container thread.
 *
 * Scheduler. Each core that runs the container calls uarea_core_run(ua): a
 * loop in the core's own context (node-local, not in the UArea) that takes
 * threads from the ready queue in the UArea. It returns 0 when no thread is
 * left, UAREA_ECANCELED after uarea_release(). uarea_core_step(ua) runs one
 * scheduling decision: 1 if a thread ran (until it came back to this
 * scheduler), 0 if nothing could run. A thread that yields, blocks or exits
 * switches straight to the next ready thread on its core, or to the core's
 * scheduler when none is ready. One spin lock in the UArea, taken inside the
 * port's critical section, guards the table and queues; it is held across a
 * switch and released by the context that resumes.
 *
 * Freeze. uarea_freeze(ua) sets the freeze flag and asks every core to
 * reschedule; each core parks at its next scheduling point (yield, join,
 * exit, or a preemption the port turns into a yield). uarea_frozen(ua) is
 * true once no thread runs and no syscall board holds a pending call;
 * uarea_unfreeze(ua) clears the flag and the threads continue where they
 * stopped. Both are idempotent.
 *
 * Stack overflow. The lowest UAREA_CANARY_BYTES of every stack hold a known
 * pattern, written at create and checked at every switch away from the
 * thread and at its exit, together with the current frame lying above it
 * (this also catches a frame that jumped over the pattern). A failed check
 * kills the thread at that point (it never resumes: its context cannot be
 * trusted), logs through the port, and its joiner gets UAREA_EOVERFLOW. The stack below it in the pool may have
 * been hit as well: the detection is a report, not a protection.
 *
 * Sanitizers. Under AddressSanitizer and ThreadSanitizer every switch is
 * announced (__sanitizer_start/finish_switch_fiber, __tsan_*_fiber). Their
 * frames are large: give threads bigger stacks (UAREA_STACK_SIZE) in
 * sanitizer builds, or the overflow check will (rightly) fire.
 *
 * Moving threads. A thread may resume on another core (or OS thread) after
 * any switch; the library reads the port's core id anew each time through a
 * function the compiler cannot inline. Code running in threads must not keep
 * thread-local addresses across yields and joins either.
 *
 * Implementation: UAREA_CORE_IMPLEMENTATION (or UAREA_IMPLEMENTATION), in a
 * translation unit that selects the program's port (uarea/port.h).
 */
#include "config.h"
#include "error.h"
#include "port.h"
#include "arch/arch.h"
#include "uarea.h"

#ifndef UAREA_THREAD_H
#define UAREA_THREAD_H

UAREA_EXTERN_C_BEGIN

/* ---- App-facing ----------------------------------------------------------- */
UAREA_API int uarea_thread_create(uarea_tid_t *tid, void *(*start)(void *), void *arg);
UAREA_API int uarea_thread_join(uarea_tid_t tid, void **retval);
UAREA_NORETURN UAREA_API void uarea_thread_exit(void *retval);
UAREA_API int uarea_thread_yield(void);
UAREA_API uarea_tid_t uarea_thread_self(void);

/* ---- With an explicit UArea (ports, the migration code, tests) ------------- */
/* The container the calling core runs (NULL if none). */
UAREA_API struct uarea *uarea_current(void);
/* The port this program was built with (UAREA_PORT_NAME: "posix",
 * "mppa256", "null", ...), for logs and diagnostics. */
UAREA_API const char *uarea_port_name(void);

/* Create a thread in ua; callable from anywhere (the port creates thread 0
 * this way before starting the cores). Errors as uarea_thread_create. */
UAREA_API int uarea_create(struct uarea *ua, uarea_tid_t *tid, void *(*start)(void *), void *arg);

/* Join without waiting: 0 and the exit value when the thread has exited,
 * UAREA_EAGAIN while it lives; otherwise the errors of uarea_thread_join. */
UAREA_API int uarea_try_join(struct uarea *ua, uarea_tid_t tid, void **retval);

/* Threads alive in ua (ready, running or blocked). */
UAREA_API int uarea_threads_active(const struct uarea *ua);

/* System calls of a container thread (migrate/syscall.h posts them on its
 * core's board, struct uarea_board, in the UArea; the node's master answers).
 * uarea_call_wait: the calling container thread waits until b->ret is no
 * longer UAREA_EAGAIN. It leaves its core while it waits (state
 * UAREA_THREAD_CALL: the core runs the container's other threads or idles,
 * and a freeze finds the thread parked, so it freezes at once); it migrates
 * with the container, waiting, and resumes where the answer is given.
 * Returns the answer; UAREA_ENOTUSER outside a container thread, UAREA_EINVAL
 * for a board not of the caller's container.
 * uarea_call_answer: the master's side (any thread of the node, not a
 * container thread): store ret on board b of ua and make the thread that
 * waits on it ready (if it has not started waiting yet, it finds the answer
 * and does not wait). UAREA_EINVAL for a NULL ua or a board not of ua. */
UAREA_API intptr_t uarea_call_wait(struct uarea_board *b);
UAREA_API int uarea_call_answer(struct uarea *ua, struct uarea_board *b, intptr_t ret);
/* uarea_call_post: the calling container thread posts call `number` (not 0)
 * with `arg` on its core's board (number, args[0], ret = UAREA_EAGAIN,
 * pending = 1), under the UArea lock, so that uarea_call_settle never sees
 * a call half posted. Returns the board; NULL with *err = UAREA_ENOTUSER
 * outside a container thread, UAREA_EBUSY when a call is in flight there.
 * uarea_call_settle: the master, for calls it did not take itself (the
 * ones that came with an arriving container, or a restored one): under the
 * lock, answer the call on b only if it is a call of `number` that a master
 * took (pending 0) and that has no answer yet. 1 answered, 0 not such a
 * call (none, one being posted, one answered), UAREA_EINVAL for bad
 * arguments. */
UAREA_API struct uarea_board *uarea_call_post(uint32_t number, uintptr_t arg, int *err);
UAREA_API int uarea_call_settle(struct uarea *ua, struct uarea_board *b, uint32_t number,
                                intptr_t ret);
/* How many times a thread of this process started waiting in
 * uarea_call_wait() (a count for tests: a wait that spun would show none). */
UAREA_API uint32_t uarea_call_waits(void);

/* Scheduler of the calling core (see above). UAREA_EINVAL: NULL ua or a core
 * id out of range; UAREA_ESTATE: called from a container thread. */
UAREA_API int uarea_core_run(struct uarea *ua);
UAREA_API int uarea_core_step(struct uarea *ua);

/* Freeze safe points (see above). UAREA_EINVAL: NULL; UAREA_ESTATE: the
 * container was released. */
UAREA_API int uarea_freeze(struct uarea *ua);
UAREA_API bool uarea_frozen(const struct uarea *ua);
UAREA_API int uarea_unfreeze(struct uarea *ua);

/* This node gives the container up (it moved away): every core's
 * uarea_core_run returns UAREA_ECANCELED at its next scheduling point. */
UAREA_API int uarea_release(struct uarea *ua);

UAREA_EXTERN_C_END

#endif /* UAREA_THREAD_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && !defined(UAREA__THREAD_IMPLEMENTED)
#define UAREA__THREAD_IMPLEMENTED

/* UAREA__ASAN / UAREA__TSAN: uarea/config.h. */

UAREA_EXTERN_C_BEGIN

#ifdef UAREA__ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif
#ifdef UAREA__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_func_entry(void *call_pc);
#endif

/* Node-local state of one core: never part of a container. */
struct uarea__core {
    struct uarea *ua;           /* container this core runs */
    int cur;                    /* slot running here, -1: the scheduler */
    unsigned id;
    uarea_ctx sched;            /* the scheduler loop's context */
#ifdef UAREA__ASAN
    const void *sched_lo;
    size_t sched_size;
    int from_sched;
#endif
#ifdef UAREA__TSAN
    void *tsan_sched;
    void *tsan_dead;
    int tsan_fresh;             /* switched to a fiber just made */
#endif
    /* The container this core is stepping: set before uarea_core_step reads
     * the freeze flag, cleared once it has let the lock go. A freezer waits
     * for no core to step its container, so that a core that read "run" just
     * before the freeze cannot take the lock while the UArea is copied. */
    const struct uarea *stepping;
};

static struct uarea__core uarea__cores[UAREA_CORES_MAX]; /* .cur set by uarea_core_step */

#ifdef UAREA__TSAN
/* Shadow call stack entries given to a fiber made for a thread that may
 * already have frames (see uarea__after_switch): deeper than any frozen call
 * chain. */
#  define UAREA__TSAN_RESTORED_FRAMES 256u
/* What those entries name in ThreadSanitizer's reports. */
UAREA_UNUSED static void uarea__frame_from_image(void) {}
#endif
static uint32_t uarea__idle_count;              /* cores waiting in UAREA_PORT_IDLE */
static uint32_t uarea__idle[UAREA_CORES_MAX];   /* which ones */

/* The calling core's id; UAREA_CORES_MAX for a thread that is no core.
 * A user thread may resume on another core (or, on the POSIX port, another
 * OS thread) after any switch, and a compiler may keep the address of a
 * thread-local core id in a register across a call. So the id is always read
 * through this function, which is never inlined and is opaque to the
 * optimizer: every call reads the port's id anew. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static unsigned uarea__core_id(void)
{
    unsigned id;
#if defined(__GNUC__) || defined(__clang__)
    __asm__ volatile("" ::: "memory");
#endif
    id = UAREA_PORT_CORE_ID();
    return (id < UAREA_CORES_MAX && id < UAREA_PORT_CORES()) ? id : UAREA_CORES_MAX;
}

/* Only called from contexts that run on a core. */
static inline struct uarea__core *uarea__core_self(void)
{
    return &uarea__cores[uarea__core_id()];
}

static inline uintptr_t *uarea__canary(struct uarea *ua, unsigned slot)
{
    return (uintptr_t *)((unsigned char *)ua + UAREA_STACKS_OFFSET + (size_t)slot * UAREA_STACK_STRIDE);
}

UAREA_STATIC_ASSERT(UAREA_CANARY_BYTES % (4 * sizeof(uintptr_t)) == 0,
                    "the canary check reads four words per step");

/* The calling thread's stack is sound: its canary holds, and the caller's
 * frame is above it (a frame that jumped over the canary without writing it
 * is caught here). Called by the thread that runs in slot `slot`, at every
 * switch: four words per step, one test for the frame's range. */
static bool uarea__canary_ok(struct uarea *ua, unsigned slot)
{
    const uintptr_t *w = uarea__canary(ua, slot);
    const uintptr_t k = UAREA_CANARY_WORD;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t bad = 0;
    unsigned i;
    for (i = 0; i < UAREA_CANARY_BYTES / sizeof(uintptr_t); i += 4)
        bad |= (w[i] ^ k) | (w[i + 1] ^ k) | (w[i + 2] ^ k) | (w[i + 3] ^ k);
    /* fp in [w + CANARY_BYTES, w + STACK_SIZE], as one unsigned compare */
    return bad == 0 && fp - ((uintptr_t)w + UAREA_CANARY_BYTES) <= UAREA_STACK_SIZE - UAREA_CANARY_BYTES;
}

static int uarea__find(const struct uarea *ua, uarea_tid_t tid)
{
    int i;
    if (tid < 0) return -1;
    for (i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].tid == tid) return i;   /* free slots hold tid -1 */
    return -1;
}

static void uarea__ready_push(struct uarea *ua, unsigned slot)
{
    unsigned k = ua->ready_head + ua->ready_count;
    ua->ready[k >= UAREA_THREADS_MAX ? k - UAREA_THREADS_MAX : k] = (uint8_t)slot;
    ua->ready_count++;
}

static int uarea__ready_pop(struct uarea *ua)
{
    int s = ua->ready[ua->ready_head];
    ua->ready_head = (uint8_t)(ua->ready_head + 1u == UAREA_THREADS_MAX ? 0u : ua->ready_head + 1u);
    ua->ready_count--;
    return s;
}

/* Something became ready: wake one idle core, if any. */
static void uarea__wake(void)
{
    unsigned c;
    if (__atomic_load_n(&uarea__idle_count, __ATOMIC_RELAXED) == 0) return;
    for (c = 0; c < UAREA_CORES_MAX; c++) {
        if (__atomic_load_n(&uarea__idle[c], __ATOMIC_RELAXED) != 0) {
            UAREA_PORT_RESCHEDULE(c);
            return;
        }
    }
}

static void uarea__reschedule_all(void)
{
    unsigned c, n = UAREA_PORT_CORES();
    for (c = 0; c < n && c < UAREA_CORES_MAX; c++) UAREA_PORT_RESCHEDULE(c);
}

/* Every core that is not idle looks at its scheduling again. A freeze asks
 * only these: an idle core runs none of the container's threads, and one
 * that leaves its idle wait sees the freeze before it takes a thread
 * (uarea_core_step), so waking it would only take a CPU from the freezer. */
static void uarea__reschedule_busy(void)
{
    unsigned c, n = UAREA_PORT_CORES();
    for (c = 0; c < n && c < UAREA_CORES_MAX; c++)
        if (__atomic_load_n(&uarea__idle[c], __ATOMIC_SEQ_CST) == 0) UAREA_PORT_RESCHEDULE(c);
}

/* Work every resumed context does first (on the core it resumed on). */
static void uarea__after_switch(void *fake)
{
#if defined(UAREA__ASAN) || defined(UAREA__TSAN)
    struct uarea__core *c = uarea__core_self();
#endif
#ifdef UAREA__ASAN
    const void *lo = NULL;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(fake, &lo, &size);
    if (c->from_sched) {
        c->sched_lo = lo;
        c->sched_size = size;
        c->from_sched = 0;
    }
#else
    (void)fake;
#endif
#ifdef UAREA__TSAN
    if (c->tsan_dead != NULL) {
        __tsan_destroy_fiber(c->tsan_dead);
        c->tsan_dead = NULL;
    }
    if (c->tsan_fresh) {
        /* A new fiber has an empty shadow call stack, but the thread it
         * stands for may have frames already: it was restored from an image,
         * written in another process. Each of them calls __tsan_func_exit on
         * its way out; give them entries to pop. */
        unsigned k;
        c->tsan_fresh = 0;
        for (k = 0; k < UAREA__TSAN_RESTORED_FRAMES; k++)
            __tsan_func_entry((void *)(uintptr_t)uarea__frame_from_image);
    }
#endif
}

/* Switch core c from `from` to slot `to` (-1: the core's scheduler), lock
 * held. dying: the current context never resumes. Returns when `from` is
 * resumed, possibly on another core, with the lock held. */
static void uarea__switch(struct uarea *ua, struct uarea__core *c, uarea_ctx *from, int to,
                          bool dying)
{
    const uarea_ctx *dst = to >= 0 ? &ua->threads[to].ctx : &c->sched;
#ifdef UAREA__ASAN
    void *fake = NULL;
    c->from_sched = (from == &c->sched);
    if (to >= 0)
        __sanitizer_start_switch_fiber(dying ? NULL : &fake, uarea_stack_base(ua, (unsigned)to),
                                       UAREA_STACK_SIZE);
    else
        __sanitizer_start_switch_fiber(dying ? NULL : &fake, c->sched_lo, c->sched_size);
#else
    void *fake = NULL;
#endif
#ifdef UAREA__TSAN
    {
        void *fiber = c->tsan_sched;
        if (to >= 0) {
            if (ua->threads[to].san == 0) {
                ua->threads[to].san = (uintptr_t)__tsan_create_fiber(0);
                c->tsan_fresh = 1;
            }
            fiber = (void *)ua->threads[to].san;
        }
        __tsan_switch_to_fiber(fiber, 0);
    }
#endif
    (void)dying;
#if UAREA_ARCH_SWITCH
    uarea__arch_switch(from->w, dst->w);
#else
    (void)from;
    (void)dst;
#endif
    uarea__after_switch(fake);
}

/* The running thread of core c has been queued, blocked or retired: run the
 * next ready thread, or go back to the scheduler. Lock held throughout. */
static void uarea__resched(struct uarea *ua, struct uarea__core *c, bool dying)
{
    int me = c->cur, next = -1;
    if (__atomic_load_n(&ua->freeze, __ATOMIC_RELAXED) == UAREA_RUN && ua->ready_count > 0)
        next = uarea__ready_pop(ua);
    if (next == me) {
        ua->threads[me].state = UAREA_THREAD_RUNNING;
        return;
    }
    if (next >= 0) {
        ua->threads[next].state = UAREA_THREAD_RUNNING;
        ua->threads[next].core = (uint8_t)c->id;
        c->cur = next;
    } else {
        __atomic_sub_fetch(&ua->running, 1u, __ATOMIC_RELEASE);
        c->cur = -1;
    }
    uarea__switch(ua, c, &ua->threads[me].ctx, next, dying);
}

/* Forced inlining of the thread-end path (fewer stack lines touched); not
 * under ThreadSanitizer, whose fiber support crashed on it (clang 14). */
#ifndef UAREA__INLINE
#  if (defined(__GNUC__) || defined(__clang__)) && !defined(UAREA__TSAN)
#    define UAREA__INLINE inline __attribute__((always_inline))
#  else
#    define UAREA__INLINE inline
#  endif
#endif

/* A thread ends: hand its exit value to its joiner or to the exit ring and
 * free its slot and stack. Lock held. */
static UAREA__INLINE void uarea__retire(struct uarea *ua, int slot, uintptr_t retval, int rc)
{
    struct uarea_thread *t = &ua->threads[slot];
    int j = t->joiner >= 0 ? uarea__find(ua, t->joiner) : -1;
    if (j >= 0 && ua->threads[j].state == UAREA_THREAD_BLOCKED) {
        ua->threads[j].retval = retval;
        ua->threads[j].join_rc = (int16_t)rc;
        ua->threads[j].state = UAREA_THREAD_READY;
        uarea__ready_push(ua, (unsigned)j);
        uarea__wake();
    } else {
        unsigned k = ua->exit_head + ua->exit_count;
        struct uarea_exit *e = &ua->exits[k >= UAREA_THREADS_MAX ? k - UAREA_THREADS_MAX : k];
        e->tid = t->tid;
        e->rc = rc;
        e->retval = retval;
        ua->exit_count++;
    }
#ifdef UAREA__TSAN
    if (t->san != 0) {
        uarea__core_self()->tsan_dead = (void *)t->san;
        t->san = 0;
    }
#endif
    t->state = UAREA_THREAD_FREE;
    t->tid = -1;
    t->joiner = -1;
    t->waits_for = -1;
    __atomic_sub_fetch(&ua->active, 1u, __ATOMIC_RELEASE);
}

/* The running thread of core c ends here (lock held); never returns.
 * Inlined, so that the end of a thread touches as few stack lines as can be. */
UAREA_NORETURN static UAREA__INLINE void uarea__die(struct uarea *ua, struct uarea__core *c, uintptr_t retval,
                                      int rc)
{
    if (rc == UAREA_EOVERFLOW)
        UAREA_PORT_LOG(0, "uarea: stack overflow detected, thread terminated");
    uarea__retire(ua, c->cur, retval, rc);
    uarea__resched(ua, c, true);
    __builtin_trap();   /* not reached: a retired context is never resumed */
}

/* First code of every new thread. */
UAREA_UNUSED static void uarea__thread_start(void)
{
    struct uarea__core *c;
    struct uarea *ua;
    void *(*start)(void *);
    void *arg;
    uarea__after_switch(NULL);
    c = uarea__core_self();
    ua = c->ua;
    start = (void *(*)(void *))ua->threads[c->cur].entry;
    arg = (void *)ua->threads[c->cur].arg;
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(UAREA_PORT_CRIT_OPEN);
    arg = start(arg);
    /* returning from start() is uarea_thread_exit(), without its frame; the
     * core is read inside the critical section (outside it, a preemption may
     * move this thread to another core between the read and the entry) */
    (void)UAREA_PORT_CRIT_ENTER();
    c = uarea__core_self();
    ua = c->ua;
    uarea__lock(ua);
    if (!uarea__canary_ok(ua, (unsigned)c->cur)) uarea__die(ua, c, 0, UAREA_EOVERFLOW);
    uarea__die(ua, c, (uintptr_t)arg, 0);
}

UAREA_API const char *uarea_port_name(void) { return UAREA_PORT_NAME; }

UAREA_API struct uarea *uarea_current(void)
{
    uintptr_t crit = UAREA_PORT_CRIT_ENTER();
    unsigned id = uarea__core_id();
    struct uarea *ua = id < UAREA_CORES_MAX ? uarea__cores[id].ua : NULL;
    UAREA_PORT_CRIT_LEAVE(crit);
    return ua;
}

/* The calling core's container and running slot, or NULL. */
static struct uarea__core *uarea__user(void)
{
    unsigned id = uarea__core_id();
    struct uarea__core *c;
    if (id >= UAREA_CORES_MAX) return NULL;
    c = &uarea__cores[id];
    return (c->ua != NULL && c->cur >= 0) ? c : NULL;
}

/* uarea__user() read inside the port's critical section, which the caller
 * then holds (*crit: the state to restore). A port that preempts may move a
 * thread to another core at any instruction outside it, so per-core state
 * read before entering could be the old core's. NULL (and the section left)
 * outside a container thread. */
static struct uarea__core *uarea__user_enter(uintptr_t *crit)
{
    struct uarea__core *c;
    *crit = UAREA_PORT_CRIT_ENTER();
    c = uarea__user();
    if (c == NULL) UAREA_PORT_CRIT_LEAVE(*crit);
    return c;
}

UAREA_API int uarea_create(struct uarea *ua, uarea_tid_t *tid, void *(*start)(void *), void *arg)
{
    struct uarea_thread *t;
    uintptr_t crit, *w, top;
    unsigned i, slot;
    if (ua == NULL || tid == NULL || start == NULL) return UAREA_EINVAL;
    if (ua->hdr.magic != UAREA_MAGIC) return UAREA_ELAYOUT;
#if !UAREA_ARCH_SWITCH
    (void)t; (void)crit; (void)w; (void)top; (void)i; (void)slot; (void)arg;
    return UAREA_ENOSYS;
#else
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    if (__atomic_load_n(&ua->freeze, __ATOMIC_RELAXED) == UAREA_RELEASED) {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return UAREA_ESTATE;
    }
    if (ua->active + ua->exit_count >= UAREA_THREADS_MAX || ua->next_tid == INT32_MAX) {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return UAREA_ETHREADS;
    }
    for (slot = 0; slot < UAREA_THREADS_MAX; slot++)
        if (ua->threads[slot].state == UAREA_THREAD_FREE) break;
    t = &ua->threads[slot];
    w = uarea__canary(ua, slot);
#ifdef UAREA__ASAN
    __asan_unpoison_memory_region(w, UAREA_STACK_SIZE);
#endif
    for (i = 0; i < UAREA_CANARY_BYTES / sizeof(uintptr_t); i++) w[i] = UAREA_CANARY_WORD;
    top = (uintptr_t)w + UAREA_STACK_SIZE;
    uarea__arch_ctx_init(t->ctx.w, top, uarea__thread_start);
    t->entry = (uintptr_t)start;
    t->arg = (uintptr_t)arg;
    t->retval = 0;
    t->tid = ua->next_tid++;
    t->waits_for = -1;
    t->joiner = -1;
    t->join_rc = 0;
    t->stack = (uint8_t)slot;
    t->flags = 0;
    t->state = UAREA_THREAD_READY;
    uarea__ready_push(ua, slot);
    __atomic_add_fetch(&ua->active, 1u, __ATOMIC_RELEASE);
    ua->created++;
    *tid = t->tid;
    uarea__wake();
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    return UAREA_OK;
#endif
}

UAREA_API int uarea_thread_create(uarea_tid_t *tid, void *(*start)(void *), void *arg)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea *ua;
    if (c == NULL) return UAREA_ENOTUSER;
    ua = c->ua;
    UAREA_PORT_CRIT_LEAVE(crit);
    return uarea_create(ua, tid, start, arg);
}

/* Take tid's record from the exit ring; false when it is not there. The
 * ring's order carries no meaning: the hole is filled with the oldest record,
 * and the search starts there (joins usually come in creation order). */
static bool uarea__exit_take(struct uarea *ua, uarea_tid_t tid, uintptr_t *retval, int *rc)
{
    unsigned i, k = ua->exit_head;
    for (i = 0; i < ua->exit_count; i++) {
        struct uarea_exit *e = &ua->exits[k];
        if (e->tid == tid) {
            *retval = e->retval;
            *rc = e->rc;
            *e = ua->exits[ua->exit_head];
            ua->exit_head =
                (uint8_t)(ua->exit_head + 1u == UAREA_THREADS_MAX ? 0u : ua->exit_head + 1u);
            ua->exit_count--;
            return true;
        }
        if (++k == UAREA_THREADS_MAX) k = 0;
    }
    return false;
}

/* Shared checks of both joins (lock held): < 0 an error, 0 found in the exit
 * ring (*retval, *rc set), 1 alive in slot *slot. */
static int uarea__join_lookup(struct uarea *ua, uarea_tid_t self, uarea_tid_t tid, int *slot,
                              uintptr_t *retval, int *rc)
{
    int s, k, hops;
    if (tid == self) return UAREA_EDEADLK;
    if (tid < 0 || tid >= ua->next_tid) return UAREA_ENOTHREAD;
    if (uarea__exit_take(ua, tid, retval, rc)) return 0;
    s = uarea__find(ua, tid);
    if (s < 0 || ua->threads[s].joiner >= 0) return UAREA_EJOINED;
    for (k = s, hops = 0; self >= 0 && hops < UAREA_THREADS_MAX; hops++) {  /* join cycle? */
        uarea_tid_t w = ua->threads[k].waits_for;
        if (w < 0) break;
        if (w == self) return UAREA_EDEADLK;
        if ((k = uarea__find(ua, w)) < 0) break;
    }
    *slot = s;
    return 1;
}

UAREA_API int uarea_thread_join(uarea_tid_t tid, void **retval)
{
    uintptr_t crit, val = 0;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea *ua;
    struct uarea_thread *me;
    int rc = 0, slot = -1, found;
    if (c == NULL) return UAREA_ENOTUSER;
    ua = c->ua;
    uarea__lock(ua);
    me = &ua->threads[c->cur];
    found = uarea__join_lookup(ua, me->tid, tid, &slot, &val, &rc);
    if (found < 0) {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return found;
    }
    if (found == 1) {
        if (!uarea__canary_ok(ua, (unsigned)c->cur)) uarea__die(ua, c, 0, UAREA_EOVERFLOW);
        ua->threads[slot].joiner = me->tid;
        me->waits_for = tid;
        me->state = UAREA_THREAD_BLOCKED;
        uarea__resched(ua, c, false);
        /* resumed by the exit of tid (perhaps on another core) */
        me->waits_for = -1;
        val = me->retval;
        rc = me->join_rc;
    }
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    if (rc < 0) return rc;
    if (retval != NULL) *retval = (void *)val;
    return UAREA_OK;
}

UAREA_API int uarea_try_join(struct uarea *ua, uarea_tid_t tid, void **retval)
{
    struct uarea__core *c;
    uarea_tid_t self = -1;
    uintptr_t crit, val = 0;
    int rc = 0, slot = -1, found;
    if (ua == NULL) return UAREA_EINVAL;
    crit = UAREA_PORT_CRIT_ENTER();
    c = uarea__user();
    uarea__lock(ua);
    if (c != NULL && c->ua == ua) self = ua->threads[c->cur].tid;
    found = uarea__join_lookup(ua, self, tid, &slot, &val, &rc);
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    if (found < 0) return found;
    if (found == 1) return UAREA_EAGAIN;
    if (rc < 0) return rc;
    if (retval != NULL) *retval = (void *)val;
    return UAREA_OK;
}

UAREA_NORETURN UAREA_API void uarea_thread_exit(void *retval)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea *ua;
    if (c == NULL) {
        UAREA_PORT_LOG(0, "uarea: uarea_thread_exit outside a container thread");
        __builtin_trap();
    }
    ua = c->ua;
    uarea__lock(ua);
    if (!uarea__canary_ok(ua, (unsigned)c->cur)) uarea__die(ua, c, 0, UAREA_EOVERFLOW);
    uarea__die(ua, c, (uintptr_t)retval, 0);
}

/* The body of uarea_thread_yield(); bit 32 of the result is set when the
 * caller was switched out and has just been resumed. On x86_64 the entry
 * point the application calls is UAREA__ARCH_JRET_ENTRY's (assembler, so it
 * needs a fixed, global, hidden name for the body); UAREA_STATIC builds and
 * other CPUs have a C wrapper and return with `ret`. */
#if defined(UAREA_ARCH_JRET) && !defined(UAREA_STATIC)
#  define UAREA__YIELD_JRET 1
#  define UAREA__YIELD_BODY __attribute__((visibility("hidden"), used, noinline))
UAREA__YIELD_BODY uint64_t uarea__yield_body(void);
#else
#  define UAREA__YIELD_BODY static
#endif
UAREA__YIELD_BODY uint64_t uarea__yield_body(void)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea *ua;
    if (c == NULL) return (uint32_t)UAREA_ENOTUSER;
    ua = c->ua;
    uarea__lock(ua);
    if (!uarea__canary_ok(ua, (unsigned)c->cur)) uarea__die(ua, c, 0, UAREA_EOVERFLOW);
    if (ua->ready_count > 0 && __atomic_load_n(&ua->freeze, __ATOMIC_RELAXED) == UAREA_RUN) {
        /* The common case, straight line: hand the core to the head of the
         * ready queue and queue the caller behind the others. */
        int me = c->cur, next = uarea__ready_pop(ua);
        uarea__ready_push(ua, (unsigned)me);
        ua->threads[me].state = UAREA_THREAD_READY;
        ua->threads[next].state = UAREA_THREAD_RUNNING;
        ua->threads[next].core = (uint8_t)c->id;
        c->cur = next;
        uarea__switch(ua, c, &ua->threads[me].ctx, next, false);
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return (uint64_t)1 << 32 | UAREA_OK;
    }
    if (__atomic_load_n(&ua->freeze, __ATOMIC_RELAXED) != UAREA_RUN) {
        /* freezing: park at this safe point */
        ua->threads[c->cur].state = UAREA_THREAD_READY;
        uarea__ready_push(ua, (unsigned)c->cur);
        uarea__resched(ua, c, false);
    }
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    return UAREA_OK;
}

#ifdef UAREA__YIELD_JRET
__asm__(UAREA__ARCH_JRET_ENTRY("uarea_thread_yield", "uarea__yield_body"));
#else
UAREA_API int uarea_thread_yield(void)
{
    uint32_t u = (uint32_t)uarea__yield_body();   /* the int's bits; convert without overflow */
    return u >= 0x80000000u ? (int)(u - 0x80000000u) - INT32_MAX - 1 : (int)u;
}
#endif

static uint32_t uarea__call_waits;

/* The board's index in ua, or -1 when b is not one of ua's boards. */
static int uarea__board_index(const struct uarea *ua, const struct uarea_board *b)
{
    uintptr_t lo = (uintptr_t)&ua->board[0], p = (uintptr_t)b;
    if (p < lo || p >= lo + sizeof ua->board || (p - lo) % sizeof ua->board[0] != 0) return -1;
    return (int)((p - lo) / sizeof ua->board[0]);
}

UAREA_API intptr_t uarea_call_wait(struct uarea_board *b)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea *ua;
    intptr_t v;
    int k;
    if (c == NULL) return UAREA_ENOTUSER;
    ua = c->ua;
    k = b != NULL ? uarea__board_index(ua, b) : -1;
    if (k < 0) {
        UAREA_PORT_CRIT_LEAVE(crit);
        return UAREA_EINVAL;
    }
    uarea__lock(ua);
    if (__atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN) {
        struct uarea_thread *me = &ua->threads[c->cur];
        if (!uarea__canary_ok(ua, (unsigned)c->cur)) uarea__die(ua, c, 0, UAREA_EOVERFLOW);
        me->state = UAREA_THREAD_CALL;
        me->call = (uint8_t)(k + 1);
        __atomic_add_fetch(&uarea__call_waits, 1u, __ATOMIC_RELAXED);
        uarea__resched(ua, c, false);
        /* resumed by uarea_call_answer (perhaps on another core, or on
         * another node: c and ua are read anew) */
        c = uarea__core_self();
        ua = c->ua;
        ua->threads[c->cur].call = 0;
    }
    v = __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE);
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    return v;
}

/* Store the answer on board k of ua and make the thread waiting on it ready
 * (lock held); the caller reschedules the cores once it let the lock go. */
static void uarea__call_answer_locked(struct uarea *ua, int k, struct uarea_board *b, intptr_t ret)
{
    int i;
    __atomic_store_n(&b->ret, ret, __ATOMIC_RELEASE);
    for (i = 0; i < UAREA_THREADS_MAX; i++) {
        struct uarea_thread *t = &ua->threads[i];
        if (t->state != UAREA_THREAD_CALL || t->call != (uint8_t)(k + 1)) continue;
        t->state = UAREA_THREAD_READY;
        uarea__ready_push(ua, (unsigned)i);
    }
}

UAREA_API int uarea_call_answer(struct uarea *ua, struct uarea_board *b, intptr_t ret)
{
    uintptr_t crit;
    int k;
    if (ua == NULL || b == NULL || (k = uarea__board_index(ua, b)) < 0) return UAREA_EINVAL;
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    uarea__call_answer_locked(ua, k, b, ret);
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    /* every core: one may be on its way to idle, past its look at the queue */
    uarea__reschedule_all();
    return UAREA_OK;
}

UAREA_API struct uarea_board *uarea_call_post(uint32_t number, uintptr_t arg, int *err)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    struct uarea_board *b;
    uint32_t expect = 0;
    if (c == NULL || number == 0) {
        if (c != NULL) UAREA_PORT_CRIT_LEAVE(crit);
        if (err != NULL) *err = c == NULL ? UAREA_ENOTUSER : UAREA_EINVAL;
        return NULL;
    }
    b = &c->ua->board[c->id];
    uarea__lock(c->ua);
    if (!__atomic_compare_exchange_n(&b->number, &expect, number, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        uarea__unlock(c->ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        if (err != NULL) *err = UAREA_EBUSY;
        return NULL;
    }
    b->args[0] = arg;
    __atomic_store_n(&b->ret, (intptr_t)UAREA_EAGAIN, __ATOMIC_RELAXED);
    __atomic_store_n(&b->pending, 1u, __ATOMIC_RELEASE);
    uarea__unlock(c->ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    if (err != NULL) *err = 0;
    return b;
}

UAREA_API int uarea_call_settle(struct uarea *ua, struct uarea_board *b, uint32_t number,
                                intptr_t ret)
{
    uintptr_t crit;
    int k, taken;
    if (ua == NULL || b == NULL || (k = uarea__board_index(ua, b)) < 0) return UAREA_EINVAL;
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    taken = number != 0 && __atomic_load_n(&b->number, __ATOMIC_ACQUIRE) == number &&
            __atomic_load_n(&b->pending, __ATOMIC_ACQUIRE) == 0 &&
            __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN;
    if (taken) uarea__call_answer_locked(ua, k, b, ret);
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    if (taken) uarea__reschedule_all();
    return taken;
}

UAREA_API uint32_t uarea_call_waits(void)
{
    return __atomic_load_n(&uarea__call_waits, __ATOMIC_RELAXED);
}

UAREA_API uarea_tid_t uarea_thread_self(void)
{
    uintptr_t crit;
    struct uarea__core *c = uarea__user_enter(&crit);
    uarea_tid_t tid;
    if (c == NULL) return UAREA_ENOTUSER;
    tid = c->ua->threads[c->cur].tid;
    UAREA_PORT_CRIT_LEAVE(crit);
    return tid;
}

UAREA_API int uarea_threads_active(const struct uarea *ua)
{
    if (ua == NULL) return UAREA_EINVAL;
    return (int)__atomic_load_n(&ua->active, __ATOMIC_ACQUIRE);
}

UAREA_API int uarea_core_step(struct uarea *ua)
{
    unsigned id = uarea__core_id();
    struct uarea__core *c;
    uintptr_t crit;
    int slot;
    if (ua == NULL || id >= UAREA_CORES_MAX) return UAREA_EINVAL;
    c = &uarea__cores[id];
    if (c->cur >= 0 && c->ua != NULL) return UAREA_ESTATE;
    if (__atomic_load_n(&ua->freeze, __ATOMIC_ACQUIRE) == UAREA_RELEASED) return UAREA_ECANCELED;
    c->ua = ua;
    c->id = id;
    c->cur = -1;
#ifdef UAREA__TSAN
    c->tsan_sched = __tsan_get_current_fiber();
#endif
    /* A core that finds the container frozen leaves it alone (and does not
     * mark it: a frozen container stays frozen for a freezer that looks
     * again). Else mark, then look again: seq_cst with the freezer's flag
     * store and its read of `stepping`. */
    if (__atomic_load_n(&ua->freeze, __ATOMIC_ACQUIRE) != UAREA_RUN) return 0;
    __atomic_store_n(&c->stepping, ua, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ua->freeze, __ATOMIC_SEQ_CST) != UAREA_RUN) {
        __atomic_store_n(&c->stepping, NULL, __ATOMIC_RELEASE);
        return 0;
    }
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    if (__atomic_load_n(&ua->freeze, __ATOMIC_RELAXED) != UAREA_RUN || ua->ready_count == 0) {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        __atomic_store_n(&c->stepping, NULL, __ATOMIC_RELEASE);
        return 0;
    }
    slot = uarea__ready_pop(ua);
    ua->threads[slot].state = UAREA_THREAD_RUNNING;
    ua->threads[slot].core = (uint8_t)id;
    __atomic_add_fetch(&ua->running, 1u, __ATOMIC_RELEASE);
    c->cur = slot;
    uarea__switch(ua, c, &c->sched, slot, false);
    /* back on this core's scheduler, lock held by the context that left */
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    __atomic_store_n(&c->stepping, NULL, __ATOMIC_RELEASE);
    return 1;
}

UAREA_API int uarea_core_run(struct uarea *ua)
{
    unsigned id = uarea__core_id();
    if (id >= UAREA_CORES_MAX) return UAREA_EINVAL;   /* as uarea_core_step would */
    for (;;) {
        int rc = uarea_core_step(ua);
        if (rc < 0) return rc;
        if (rc > 0) continue;
        if (__atomic_load_n(&ua->active, __ATOMIC_ACQUIRE) == 0) return UAREA_OK;
        __atomic_store_n(&uarea__idle[id], 1u, __ATOMIC_RELAXED);
        __atomic_add_fetch(&uarea__idle_count, 1u, __ATOMIC_ACQ_REL);
        UAREA_PORT_IDLE(id);
        __atomic_sub_fetch(&uarea__idle_count, 1u, __ATOMIC_ACQ_REL);
        __atomic_store_n(&uarea__idle[id], 0u, __ATOMIC_RELAXED);
    }
}

UAREA_API int uarea_freeze(struct uarea *ua)
{
    uint32_t expect = UAREA_RUN;
    if (ua == NULL) return UAREA_EINVAL;
    if (!__atomic_compare_exchange_n(&ua->freeze, &expect, UAREA_FREEZE, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_ACQUIRE) &&
        expect == UAREA_RELEASED)
        return UAREA_ESTATE;
    uarea__reschedule_busy();
    return UAREA_OK;
}

UAREA_API bool uarea_frozen(const struct uarea *ua)
{
    unsigned i;
    if (ua == NULL || __atomic_load_n(&ua->freeze, __ATOMIC_ACQUIRE) != UAREA_FREEZE) return false;
    if (__atomic_load_n(&ua->running, __ATOMIC_ACQUIRE) != 0) return false;
    /* A core that switched back from the last thread still holds the lock for
     * a moment: frozen means it let go too (the UArea is then still). */
    if (__atomic_load_n(&ua->lock, __ATOMIC_ACQUIRE) != 0) return false;
    for (i = 0; i < UAREA_CORES_MAX; i++) {
        if (__atomic_load_n(&uarea__cores[i].stepping, __ATOMIC_SEQ_CST) == ua) return false;
        if (__atomic_load_n(&ua->board[i].pending, __ATOMIC_ACQUIRE) != 0) return false;
    }
    return true;
}

UAREA_API int uarea_unfreeze(struct uarea *ua)
{
    uint32_t expect = UAREA_FREEZE;
    if (ua == NULL) return UAREA_EINVAL;
    if (!__atomic_compare_exchange_n(&ua->freeze, &expect, UAREA_RUN, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE) &&
        expect == UAREA_RELEASED)
        return UAREA_ESTATE;
    uarea__reschedule_all();
    return UAREA_OK;
}

UAREA_API int uarea_release(struct uarea *ua)
{
    if (ua == NULL) return UAREA_EINVAL;
    __atomic_store_n(&ua->freeze, UAREA_RELEASED, __ATOMIC_RELEASE);
    uarea__reschedule_all();
    return UAREA_OK;
}

UAREA_EXTERN_C_END

#endif /* UAREA_CORE_IMPLEMENTATION */
