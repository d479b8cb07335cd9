/*
 * uarea_mppa256/k1b.h - the k1b context switch: the one item of the MPPA-256
 * port that is not in the tree.
 *
 * No k1 toolchain is public, so no assembly here could be assembled or run
 * by anyone who checks this project; unchecked assembly is worse than none.
 * The item is specified exactly in docs/porting.md, section "The k1b
 * context switch": the k1b facts from Nanvix's HAL (its 320-byte interrupt
 * frame, the registers a call preserves, sp, ra, the stack alignment, the
 * non-coherent data caches), uarea's own 25-word context layout (what a call
 * preserves plus cs and the hardware-loop registers), and the names and
 * signatures uarea/arch/arch.h expects (UAREA_ARCH_NAME, UAREA_ARCH_CTX_WORDS,
 * UAREA_ARCH_SWITCH, UAREA_ARCH_REDZONE, uarea__arch_switch,
 * uarea__arch_ctx_init, uarea__arch_ctx_sp). Write it from there with the
 * toolchain at hand, replace this file, and name it with UAREA_ARCH_HEADER.
 */
#ifndef UAREA_MPPA256_K1B_H
#define UAREA_MPPA256_K1B_H
#error "uarea mppa256: the k1b context switch (UAREA_ARCH_HEADER item uarea__arch_switch and its context layout) is not written: see docs/porting.md, section 'The k1b context switch'"
#endif
