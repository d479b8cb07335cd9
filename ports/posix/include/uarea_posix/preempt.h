/*
 * uarea_posix/preempt.h - preemption at safe points, for the POSIX runtime
 * (uarea_posix.h includes it in its implementation; not a header of its
 * own).
 *
 * Each core thread has a timer that sends it UAREA_POSIX_PREEMPT_SIG every
 * UAREA_POSIX_QUANTUM_NS (uarea__posix_tick_make, armed while the core runs). The handler turns the
 * tick into a yield, on the interrupted thread's own stack (the signal frame
 * migrates with it), only at a safe point: a user thread of the container is
 * running, the core is not inside the library's critical section (the
 * runtime code that user threads run, scheduler, allocator, syscall boards,
 * holds it), and the interrupted instruction is in the program's own code:
 * the application's objects when it is linked with the CMake helper
 * uarea_posix_application() (its section uarea_text), else
 * [__executable_start, etext); never libc or another shared object. Else the
 * tick is ignored and the next one tries again.
 *
 * A tick that lands while the thread is in a system call interrupts it like
 * any signal: calls the kernel restarts (SA_RESTART) go on; the sleeping and
 * waiting calls a container thread makes through uarea_posix/sleep.h do not
 * see it. */
#ifndef UAREA__POSIX_PREEMPT_H
#define UAREA__POSIX_PREEMPT_H

static uintptr_t uarea__posix_text_lo, uarea__posix_text_hi;
extern const char __uarea_app_text_start[] __attribute__((weak));
extern const char __uarea_app_text_end[] __attribute__((weak));
/* Code in the section uarea_posix_crit is never a safe point: the handler
 * itself, its signal return stub, and (off x86_64) the critical section's
 * entry (uarea_posix/port.h). The handler leaves the critical section a few
 * instructions before the kernel takes its frame back (its epilogue, the
 * return stub): a tick that landed there and moved the thread would return
 * through the outer frame, written on the core the thread left (its signal
 * mask and alternate stack, and on RISC-V its tp: the thread would run on
 * with another core thread's identity). */
#define UAREA__POSIX_NO_SAFE_POINT __attribute__((section("uarea_posix_crit")))
extern const char __start_uarea_posix_crit[] __attribute__((weak));
extern const char __stop_uarea_posix_crit[] __attribute__((weak));

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
 * every thread one and unmap it when the thread ends). On RISC-V the frame
 * also holds tp, the core thread's TLS pointer (its core id, errno), which
 * rt_sigreturn loads with the other registers: make it this thread's too, or
 * the thread runs on with the old core's identity, or in another process
 * with an address of the old one (x86_64's fs base and aarch64's tpidr_el0
 * are not in the frame). The tick is blocked first: a tick landing in the
 * rest of the handler (SA_NODEFER) could move the thread again after the
 * frame was written. rt_sigreturn installs the saved mask, which unblocks
 * it. */
static void uarea__posix_preempt_yield(ucontext_t *uc)
{
    sigset_t pin;
    (void)uarea_thread_yield();
    sigemptyset(&pin);
    sigaddset(&pin, UAREA_POSIX_PREEMPT_SIG);
    (void)pthread_sigmask(SIG_BLOCK, &pin, &uc->uc_sigmask);
#if defined(__riscv)
    __asm__ volatile("mv %0, tp" : "=r"(uc->uc_mcontext.__gregs[REG_TP]) : : "memory");
#endif
    (void)sigaltstack(NULL, &uc->uc_stack);
}

/* The handler holds the critical section from its first test to its
 * return: a tick that lands in it (SA_NODEFER) is ignored rather than
 * nesting a second frame on the thread's stack, which on a CPU with large
 * signal frames (aarch64 with SVE: several KiB each) could overflow it. */
UAREA__POSIX_NO_SAFE_POINT static void uarea__posix_preempt(int sig, siginfo_t *si, void *uc)
{
    uintptr_t crit, pc = uarea__posix_pc(uc);
    (void)sig; (void)si;
    if (uarea__posix_core == UINT_MAX || uarea__posix_crit) return;
    if (pc >= (uintptr_t)__start_uarea_posix_crit && pc < (uintptr_t)__stop_uarea_posix_crit) return;
    crit = UAREA_PORT_CRIT_ENTER();
    if (pc >= uarea__posix_text_lo && pc < uarea__posix_text_hi && uarea_current() != NULL &&
        uarea_thread_self() >= 0) {
        int saved = uarea__posix_errno_getp();
        uarea__posix_preempt_yield((ucontext_t *)uc);
        uarea__posix_errno_setp(saved);
    }
    UAREA_PORT_CRIT_LEAVE(crit);
}

/* The way back from the handler. A thread preempted in the handler and then
 * written to a checkpoint returns from it in another run of the program,
 * where libc, whose restorer the kernel would return through, sits at another
 * address: the restorer is the program's own (x86_64, aarch64). */
#if defined(__x86_64__) || defined(__aarch64__)
#  define UAREA__POSIX_OWN_RESTORER 1
void uarea__posix_sigreturn(void);
__asm__(".pushsection uarea_posix_crit,\"ax\",@progbits\n"
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
        ".size uarea__posix_sigreturn, .-uarea__posix_sigreturn\n"
        ".popsection\n");
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

/* The calling core thread's tick (0 when preemption is off or unavailable:
 * the timer is then not armed, and the core runs without it). */
/* The calling core thread's tick: created once, disarmed (0: none). */
static int uarea__posix_tick_make(timer_t *timer)
{
    struct sigevent ev;
    if (UAREA_POSIX_QUANTUM_NS <= 0 || uarea__posix_text_hi <= uarea__posix_text_lo) return 0;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = UAREA_POSIX_PREEMPT_SIG;
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    return timer_create(CLOCK_MONOTONIC, &ev, timer) == 0;
}

/* Arm it while the core runs a container, disarm it while the core is
 * parked (an idle node takes no ticks). */
static void uarea__posix_tick_arm(timer_t timer, int on)
{
    struct itimerspec it;
    memset(&it, 0, sizeof it);
    if (on) {
        it.it_value.tv_sec = it.it_interval.tv_sec = UAREA_POSIX_QUANTUM_NS / 1000000000;
        it.it_value.tv_nsec = it.it_interval.tv_nsec = UAREA_POSIX_QUANTUM_NS % 1000000000;
    }
    (void)timer_settime(timer, 0, &it, NULL);
}

#endif /* UAREA__POSIX_PREEMPT_H */
