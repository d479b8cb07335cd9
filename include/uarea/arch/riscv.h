/*
 * uarea/arch/riscv.h - user-level context switch for RISC-V, RV64 and RV32.
 *
 * Included through uarea/arch/arch.h; on any other CPU this header defines
 * nothing. A saved context holds the callee-saved state only: ra, sp, s0-s11
 * and, when the ABI has hardware floating point, fs0-fs11 and the rounding
 * mode frm (the psABI gives fcsr thread storage duration; frm is written only
 * when the two threads' modes differ, the accrued flags are left alone; a new
 * context starts with its creator's mode).
 * Word layout (XLEN-sized words):
 *
 *   [0] ra  [1] sp  [2..13] s0..s11  [14..] fs0..fs11 (8 bytes each with D,
 *   4 with F only)  [UAREA_ARCH_CTX_WORDS - 1] frm
 *
 * UAREA_ARCH_CTX_WORDS is 28 on RV64 and 40 on RV32, whatever the float ABI,
 * so the layout depends on XLEN only. A new context has ra = entry, s0 = 0
 * and sp 16-aligned at the top of its stack. The routine is a weak ELF symbol
 * (see x86_64.h). RV64 is exercised under qemu-user; RV32 is compiled only.
 */
#include "../config.h"

#ifndef UAREA_ARCH_RISCV_H
#define UAREA_ARCH_RISCV_H

#if defined(__riscv) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    (__riscv_xlen == 64 || __riscv_xlen == 32) && !defined(UAREA_ARCH_CTX_WORDS)
#define UAREA_ARCH_RISCV 1
#if __riscv_xlen == 64
#  define UAREA_ARCH_NAME "riscv64"
#  define UAREA_ARCH_CTX_WORDS 28
#else
#  define UAREA_ARCH_NAME "riscv32"
#  define UAREA_ARCH_CTX_WORDS 40
#endif
#define UAREA_ARCH_SWITCH 1
#define UAREA_ARCH_REDZONE 0u

UAREA_EXTERN_C_BEGIN
void uarea__arch_switch(uintptr_t *from, const uintptr_t *to);
UAREA_EXTERN_C_END
#endif

#endif /* UAREA_ARCH_RISCV_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && defined(UAREA_ARCH_RISCV) && \
    !defined(UAREA__ARCH_RISCV_IMPLEMENTED)
#define UAREA__ARCH_RISCV_IMPLEMENTED

#if __riscv_xlen == 64
#  define UAREA__RV_S "sd"
#  define UAREA__RV_L "ld"
#  define UAREA__RV_W(n) #n "*8"
#  define UAREA__RV_FOFF 112
#  define UAREA__RV_FRM_OFF 216     /* word 27 */
#else
#  define UAREA__RV_S "sw"
#  define UAREA__RV_L "lw"
#  define UAREA__RV_W(n) #n "*4"
#  define UAREA__RV_FOFF 56
#  define UAREA__RV_FRM_OFF 156     /* word 39 */
#endif
UAREA_STATIC_ASSERT(UAREA__RV_FRM_OFF == (UAREA_ARCH_CTX_WORDS - 1) * sizeof(uintptr_t) &&
                        UAREA__RV_FOFF + 12 * 8 <= UAREA__RV_FRM_OFF,
                    "frm has the last word of the context, after fs0-fs11");
#define UAREA__RV_STR2(x) #x
#define UAREA__RV_STR(x) UAREA__RV_STR2(x)
#define UAREA__RV_SAVE(r, n) "    " UAREA__RV_S " " r ", " UAREA__RV_W(n) "(a0)\n"
#define UAREA__RV_LOAD(r, n) "    " UAREA__RV_L " " r ", " UAREA__RV_W(n) "(a1)\n"

#if defined(__riscv_flen) && __riscv_flen >= 64
#  define UAREA__RV_FS(r, n) "    fsd " r ", " UAREA__RV_STR(UAREA__RV_FOFF) "+" #n "*8(a0)\n"
#  define UAREA__RV_FL(r, n) "    fld " r ", " UAREA__RV_STR(UAREA__RV_FOFF) "+" #n "*8(a1)\n"
#elif defined(__riscv_flen) && __riscv_flen == 32
#  define UAREA__RV_FS(r, n) "    fsw " r ", " UAREA__RV_STR(UAREA__RV_FOFF) "+" #n "*4(a0)\n"
#  define UAREA__RV_FL(r, n) "    flw " r ", " UAREA__RV_STR(UAREA__RV_FOFF) "+" #n "*4(a1)\n"
#else
#  define UAREA__RV_FS(r, n) ""
#  define UAREA__RV_FL(r, n) ""
#endif
#if defined(__riscv_flen)
#  define UAREA__RV_FRM_SAVE \
    "    frrm t0\n    " UAREA__RV_S " t0, " UAREA__RV_STR(UAREA__RV_FRM_OFF) "(a0)\n"
#  define UAREA__RV_FRM_LOAD                                                  \
    "    " UAREA__RV_L " t1, " UAREA__RV_STR(UAREA__RV_FRM_OFF) "(a1)\n"         \
    "    beq t0, t1, 1f\n    fsrm t1\n1:\n"
#else
#  define UAREA__RV_FRM_SAVE ""
#  define UAREA__RV_FRM_LOAD ""
#endif

__asm__(
    ".text\n"
    ".weak uarea__arch_switch\n"
    ".type uarea__arch_switch, @function\n"
    ".p2align 2\n"
    "uarea__arch_switch:\n"
    UAREA__RV_SAVE("ra", 0) UAREA__RV_SAVE("sp", 1)
    UAREA__RV_SAVE("s0", 2) UAREA__RV_SAVE("s1", 3) UAREA__RV_SAVE("s2", 4)
    UAREA__RV_SAVE("s3", 5) UAREA__RV_SAVE("s4", 6) UAREA__RV_SAVE("s5", 7)
    UAREA__RV_SAVE("s6", 8) UAREA__RV_SAVE("s7", 9) UAREA__RV_SAVE("s8", 10)
    UAREA__RV_SAVE("s9", 11) UAREA__RV_SAVE("s10", 12) UAREA__RV_SAVE("s11", 13)
    UAREA__RV_FS("fs0", 0) UAREA__RV_FS("fs1", 1) UAREA__RV_FS("fs2", 2)
    UAREA__RV_FS("fs3", 3) UAREA__RV_FS("fs4", 4) UAREA__RV_FS("fs5", 5)
    UAREA__RV_FS("fs6", 6) UAREA__RV_FS("fs7", 7) UAREA__RV_FS("fs8", 8)
    UAREA__RV_FS("fs9", 9) UAREA__RV_FS("fs10", 10) UAREA__RV_FS("fs11", 11)
    UAREA__RV_FRM_SAVE
    UAREA__RV_LOAD("ra", 0) UAREA__RV_LOAD("sp", 1)
    UAREA__RV_LOAD("s0", 2) UAREA__RV_LOAD("s1", 3) UAREA__RV_LOAD("s2", 4)
    UAREA__RV_LOAD("s3", 5) UAREA__RV_LOAD("s4", 6) UAREA__RV_LOAD("s5", 7)
    UAREA__RV_LOAD("s6", 8) UAREA__RV_LOAD("s7", 9) UAREA__RV_LOAD("s8", 10)
    UAREA__RV_LOAD("s9", 11) UAREA__RV_LOAD("s10", 12) UAREA__RV_LOAD("s11", 13)
    UAREA__RV_FL("fs0", 0) UAREA__RV_FL("fs1", 1) UAREA__RV_FL("fs2", 2)
    UAREA__RV_FL("fs3", 3) UAREA__RV_FL("fs4", 4) UAREA__RV_FL("fs5", 5)
    UAREA__RV_FL("fs6", 6) UAREA__RV_FL("fs7", 7) UAREA__RV_FL("fs8", 8)
    UAREA__RV_FL("fs9", 9) UAREA__RV_FL("fs10", 10) UAREA__RV_FL("fs11", 11)
    UAREA__RV_FRM_LOAD
    "    ret\n"
    ".size uarea__arch_switch, .-uarea__arch_switch\n");

static inline void uarea__arch_ctx_init(uintptr_t *ctx, uintptr_t top, void (*entry)(void))
{
    UAREA_MEMSET(ctx, 0, UAREA_ARCH_CTX_WORDS * sizeof(uintptr_t));
    ctx[0] = (uintptr_t)entry;
    ctx[1] = top & ~(uintptr_t)15;
#if defined(__riscv_flen)
    __asm__ volatile("frrm %0" : "=r"(ctx[UAREA_ARCH_CTX_WORDS - 1]));   /* the creator's */
#endif
}

static inline uintptr_t uarea__arch_ctx_sp(const uintptr_t *ctx) { return ctx[1]; }

#endif /* UAREA_CORE_IMPLEMENTATION && riscv */
