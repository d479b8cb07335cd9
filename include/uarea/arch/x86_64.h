/*
 * uarea/arch/x86_64.h - user-level context switch for x86_64 (System V ABI).
 *
 * Included through uarea/arch/arch.h; on any other CPU this header defines
 * nothing. A saved context holds only what the ABI makes callee-saved: the
 * stack pointer, rbx, rbp, r12-r15, and the SSE/x87 control words. Word
 * layout (UAREA_ARCH_CTX_WORDS = 8):
 *
 *   [0] rsp (the return address of the switch sits at 0(rsp))
 *   [1] rbx  [2] rbp  [3] r12  [4] r13  [5] r14  [6] r15
 *   [7] mxcsr (low 32 bits) | x87 control word (bits 32..47)
 *
 * uarea__arch_switch(from, to) saves the caller's registers into `from` and
 * resumes `to` by returning on its stack. A new context returns into the
 * entry function with rsp + 8 aligned to 16, as after a call, and rbp = 0 so
 * that frame-pointer walks stop there. The switch routine is a weak ELF
 * symbol, so every translation unit that compiles the implementation may
 * carry it (UAREA_STATIC builds).
 *
 * A new context starts with its creator's MXCSR control bits and x87 control
 * word (the C11 rule for a new thread's floating-point environment).
 *
 * MXCSR is loaded only when its control bits (rounding, masks, DAZ, FTZ: the
 * callee-saved part, per the ABI) differ from the running thread's: LDMXCSR
 * costs about as much as the rest of the switch on recent Intel cores. The
 * status flags (caller-saved, like the x87 status word, which is never
 * switched) then stay as they are. A thread preempted by a signal gets its
 * whole FP state back from the signal frame.
 *
 * UAREA__ARCH_JRET_ENTRY(name, body) is the text of a global function `name`
 * that calls body() and returns its low 32 bits; when bit 32 of body's result
 * is set (body switched threads), it returns by an indirect jump instead of
 * `ret`. After a switch, the CPU's return-stack prediction names the call
 * site of the thread that left, so `ret` is mispredicted unless both threads
 * called from the same place; an indirect jump is predicted from the branch
 * history, which learns which thread follows which. The return-stack entry
 * of the call is left behind: harmless, since every entry under it belongs
 * to the other thread anyway. It must be the function the application calls
 * (a C wrapper that does not tail-call it would return through the stale
 * entry). Not for CET shadow stacks, which no switch here supports.
 */
#include "../config.h"

#ifndef UAREA_ARCH_X86_64_H
#define UAREA_ARCH_X86_64_H

#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(UAREA_ARCH_CTX_WORDS)
#define UAREA_ARCH_X86_64 1
#define UAREA_ARCH_NAME "x86_64"
#define UAREA_ARCH_CTX_WORDS 8
#define UAREA_ARCH_SWITCH 1
#define UAREA_ARCH_REDZONE 128u      /* bytes below rsp a leaf may use */

UAREA_EXTERN_C_BEGIN
/* Save the callee-saved state into from[], resume to[]. */
void uarea__arch_switch(uintptr_t *from, const uintptr_t *to);
#define UAREA_ARCH_JRET 1   /* UAREA__ARCH_JRET_ENTRY below */
UAREA_EXTERN_C_END
#endif

#endif /* UAREA_ARCH_X86_64_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && defined(UAREA_ARCH_X86_64) && \
    !defined(UAREA__ARCH_X86_64_IMPLEMENTED)
#define UAREA__ARCH_X86_64_IMPLEMENTED

#if defined(__CET__)
#  define UAREA__X86_ENDBR "endbr64\n"
#else
#  define UAREA__X86_ENDBR ""
#endif

__asm__(
    ".text\n"
    ".weak uarea__arch_switch\n"
    ".type uarea__arch_switch, @function\n"
    ".p2align 4\n"
    "uarea__arch_switch:\n"
    UAREA__X86_ENDBR
    "    movq %rsp, 0(%rdi)\n"
    "    movq %rbx, 8(%rdi)\n"
    "    movq %rbp, 16(%rdi)\n"
    "    movq %r12, 24(%rdi)\n"
    "    movq %r13, 32(%rdi)\n"
    "    movq %r14, 40(%rdi)\n"
    "    movq %r15, 48(%rdi)\n"
    "    stmxcsr 56(%rdi)\n"
    "    fnstcw 60(%rdi)\n"
    "    movq 0(%rsi), %rsp\n"
    "    movq 8(%rsi), %rbx\n"
    "    movq 16(%rsi), %rbp\n"
    "    movq 24(%rsi), %r12\n"
    "    movq 32(%rsi), %r13\n"
    "    movq 40(%rsi), %r14\n"
    "    movq 48(%rsi), %r15\n"
    "    movl 56(%rsi), %eax\n"
    "    xorl 56(%rdi), %eax\n"
    "    testl $0xffc0, %eax\n"      /* MXCSR control bits */
    "    jz 1f\n"
    "    ldmxcsr 56(%rsi)\n"
    "1:  fldcw 60(%rsi)\n"
    "    ret\n"
    ".size uarea__arch_switch, .-uarea__arch_switch\n");

#if defined(__CET__)
#  define UAREA__X86_NOTRACK "notrack "
#else
#  define UAREA__X86_NOTRACK ""
#endif

#define UAREA__ARCH_JRET_ENTRY(name, body)                                      \
    ".text\n"                                                                  \
    ".globl " name "\n"                                                        \
    ".type " name ", @function\n"                                              \
    ".p2align 4\n"                                                             \
    name ":\n"                                                                 \
    ".cfi_startproc\n"                                                         \
    UAREA__X86_ENDBR                                                           \
    "    subq $8, %rsp\n"          /* body is entered with rsp + 8 16-aligned */ \
    ".cfi_adjust_cfa_offset 8\n"                                               \
    "    call " body "\n"                                                      \
    "    addq $8, %rsp\n"                                                      \
    ".cfi_adjust_cfa_offset -8\n"                                              \
    "    btq $32, %rax\n"                                                      \
    "    jc 1f\n"                                                              \
    "    ret\n"                                                                \
    "1:  movl %eax, %eax\n"                                                    \
    "    popq %rcx\n"                                                          \
    ".cfi_adjust_cfa_offset -8\n"                                              \
    ".cfi_register rip, rcx\n"                                                 \
    "    " UAREA__X86_NOTRACK "jmp *%rcx\n"                                    \
    ".cfi_endproc\n"                                                           \
    ".size " name ", .-" name "\n"

/* A fresh context that "returns" into entry() on the stack [lo, top). */
static inline void uarea__arch_ctx_init(uintptr_t *ctx, uintptr_t top, void (*entry)(void))
{
    uintptr_t sp = (top & ~(uintptr_t)15) - 16;
    *(uintptr_t *)sp = (uintptr_t)entry;     /* popped by the switch's ret */
    UAREA_MEMSET(ctx, 0, UAREA_ARCH_CTX_WORDS * sizeof(uintptr_t));
    ctx[0] = sp;
    {   /* the creator's MXCSR control bits and x87 control word, as a new
         * OS thread inherits them */
        uint32_t mxcsr;
        uint16_t cw;
        __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
        __asm__ volatile("fnstcw %0" : "=m"(cw));
        ctx[7] = (uintptr_t)(mxcsr & 0xffc0u) | ((uintptr_t)cw << 32);
    }
}

static inline uintptr_t uarea__arch_ctx_sp(const uintptr_t *ctx) { return ctx[0]; }

#endif /* UAREA_CORE_IMPLEMENTATION && x86_64 */
