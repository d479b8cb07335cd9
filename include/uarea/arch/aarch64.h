/*
 * uarea/arch/aarch64.h - user-level context switch for AArch64 (AAPCS64).
 *
 * Included through uarea/arch/arch.h; on any other CPU this header defines
 * nothing. A saved context holds the callee-saved state only: x19-x28, the
 * frame pointer x29, the link register x30, sp, the low halves d8-d15 of
 * v8-v15, and FPCR (rounding mode, flush-to-zero, trap enables: each thread
 * keeps its own, as threads of the OS do). Word layout
 * (UAREA_ARCH_CTX_WORDS = 22):
 *
 *   [0..9] x19..x28  [10] x29  [11] x30  [12] sp  [13..20] d8..d15  [21] FPCR
 *
 * uarea__arch_switch(from, to) saves into `from`, loads `to` and returns to
 * to's x30; it writes FPCR only when the two threads' values differ (a write
 * may synchronise the FP unit). A new context has x30 = entry, x29 = 0, sp
 * 16-aligned at the top of its stack and its creator's FPCR (the C11 rule for
 * a new thread's floating-point environment).
 * The routine is a weak ELF symbol (see x86_64.h).
 */
#include "../config.h"

#ifndef UAREA_ARCH_AARCH64_H
#define UAREA_ARCH_AARCH64_H

#if defined(__aarch64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(UAREA_ARCH_CTX_WORDS)
#define UAREA_ARCH_AARCH64 1
#define UAREA_ARCH_NAME "aarch64"
#define UAREA_ARCH_CTX_WORDS 22
#define UAREA_ARCH_SWITCH 1
#define UAREA_ARCH_REDZONE 0u

UAREA_EXTERN_C_BEGIN
void uarea__arch_switch(uintptr_t *from, const uintptr_t *to);
UAREA_EXTERN_C_END
#endif

#endif /* UAREA_ARCH_AARCH64_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && defined(UAREA_ARCH_AARCH64) && \
    !defined(UAREA__ARCH_AARCH64_IMPLEMENTED)
#define UAREA__ARCH_AARCH64_IMPLEMENTED

__asm__(
    ".text\n"
    ".weak uarea__arch_switch\n"
    ".type uarea__arch_switch, %function\n"
    ".p2align 4\n"
    "uarea__arch_switch:\n"
    "    hint #34\n"                         /* bti c (a nop without BTI) */
    "    stp x19, x20, [x0, #0]\n"
    "    stp x21, x22, [x0, #16]\n"
    "    stp x23, x24, [x0, #32]\n"
    "    stp x25, x26, [x0, #48]\n"
    "    stp x27, x28, [x0, #64]\n"
    "    stp x29, x30, [x0, #80]\n"
    "    mov x9, sp\n"
    "    str x9, [x0, #96]\n"
    "    stp d8, d9, [x0, #104]\n"
    "    stp d10, d11, [x0, #120]\n"
    "    stp d12, d13, [x0, #136]\n"
    "    stp d14, d15, [x0, #152]\n"
    "    mrs x12, fpcr\n"                  /* kept for the compare below */
    "    str x12, [x0, #168]\n"
    "    ldp x19, x20, [x1, #0]\n"
    "    ldp x21, x22, [x1, #16]\n"
    "    ldp x23, x24, [x1, #32]\n"
    "    ldp x25, x26, [x1, #48]\n"
    "    ldp x27, x28, [x1, #64]\n"
    "    ldp x29, x30, [x1, #80]\n"
    "    ldr x9, [x1, #96]\n"
    "    mov sp, x9\n"
    "    ldp d8, d9, [x1, #104]\n"
    "    ldp d10, d11, [x1, #120]\n"
    "    ldp d12, d13, [x1, #136]\n"
    "    ldp d14, d15, [x1, #152]\n"
    "    ldr x10, [x1, #168]\n"
    "    cmp x12, x10\n"
    "    b.eq 1f\n"
    "    msr fpcr, x10\n"
    "1:  ret\n"
    ".size uarea__arch_switch, .-uarea__arch_switch\n");

static inline void uarea__arch_ctx_init(uintptr_t *ctx, uintptr_t top, void (*entry)(void))
{
    UAREA_MEMSET(ctx, 0, UAREA_ARCH_CTX_WORDS * sizeof(uintptr_t));
    ctx[11] = (uintptr_t)entry;
    ctx[12] = top & ~(uintptr_t)15;
    __asm__ volatile("mrs %0, fpcr" : "=r"(ctx[21]));   /* the creator's */
}

static inline uintptr_t uarea__arch_ctx_sp(const uintptr_t *ctx) { return ctx[12]; }

#endif /* UAREA_CORE_IMPLEMENTATION && aarch64 */
