/*
 * uarea/arch/arch.h - picks the context switch for the target CPU.
 *
 * Each CPU header below defines, on its own CPU only:
 *
 *   UAREA_ARCH_NAME        "x86_64", "aarch64", "riscv64", "riscv32"
 *   UAREA_ARCH_CTX_WORDS   words in a saved context (struct uarea_ctx)
 *   UAREA_ARCH_SWITCH      1: threads can run on this CPU
 *   UAREA_ARCH_REDZONE     bytes below sp that a leaf function may use
 *   uarea__arch_switch(from, to)       save callee-saved state, resume `to`
 *   uarea__arch_ctx_init(ctx, top, entry) (implementation only) a new
 *                          context that enters entry() on a stack ending at top
 *   uarea__arch_ctx_sp(ctx)            (implementation only) saved sp
 *
 * and may define (x86_64 does):
 *
 *   UAREA_ARCH_JRET        1: UAREA__ARCH_JRET_ENTRY(name, body)
 *                          (implementation only) is the assembler text of a
 *                          function `name` that returns body()'s low 32
 *                          bits, by an indirect jump when bit 32 is set
 *                          (body switched threads: `ret` would be
 *                          mispredicted); uarea_thread_yield is made so
 *
 * A port for another CPU (the MPPA-256's k1b, say) supplies the same items in
 * its own header and names it with UAREA_ARCH_HEADER before the first
 * include. On a CPU without a switch the headers still compile: the context
 * is UAREA_ARCH_CTX_WORDS = 16 words and uarea_thread_create() returns
 * UAREA_ENOSYS.
 */
#include "../config.h"

/* Outside this file's guard: each CPU header has its own guard for its
 * declarations and compiles its implementation part the first time it is
 * included with UAREA_CORE_IMPLEMENTATION, even when arch.h was included
 * before without it. */
#if defined(UAREA_ARCH_HEADER)
#  include UAREA_ARCH_HEADER
#endif
#include "x86_64.h"
#include "aarch64.h"
#include "riscv.h"

#ifndef UAREA_ARCH_ARCH_H
#define UAREA_ARCH_ARCH_H

#ifndef UAREA_ARCH_CTX_WORDS
#  define UAREA_ARCH_NAME "none"
#  define UAREA_ARCH_CTX_WORDS 16
#  define UAREA_ARCH_SWITCH 0
#  define UAREA_ARCH_REDZONE 0u
#endif

UAREA_STATIC_ASSERT(UAREA_ARCH_CTX_WORDS >= 2, "a context holds at least sp and pc");

#endif /* UAREA_ARCH_ARCH_H */
