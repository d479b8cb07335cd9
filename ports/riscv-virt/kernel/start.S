/*
 * start.S - machine-mode entry of a cluster kernel on QEMU `virt` (riscv64),
 * both harts, and the trap path.
 *
 * QEMU starts every hart at 0x80000000 with a0 = mhartid (-bios none). Hart 0
 * is the cluster's master core (core 0): it zeroes the kernel's bss and the
 * user part's bss, installs the trap vector and enters kmain(). Hart 1 is the
 * user core (core 1): it takes its own stack and trap vector, then parks in
 * wfi (software interrupt enabled in mie, interrupts off in mstatus) until
 * core_start() posts a function in rv_core_entry[1] and rings its msip.
 *
 * The trap path saves the whole interrupted context (x1, x3..x31, the
 * interrupted sp, mepc, mstatus) on the current stack, calls
 * rv_trap(frame) and restores everything from the same frame before mret.
 * A trap taken while a container thread runs therefore keeps its frame on
 * the thread's own stack: when the handler yields (preemption), the frame
 * moves with the thread, and the mret of a later resume, on this cluster or
 * another, returns into the interrupted instruction.
 */
#include "rv_layout.h"

    .section .boot, "ax", @progbits
    .globl _start
_start:
    csrw    mie, zero
    csrw    mstatus, zero           /* MIE off, FS off (integer-only kernel) */
    csrr    t0, mhartid
    li      t1, RV_HARTS
    bgeu    t0, t1, .Lspin          /* more harts than cores: parked for good */
    /* sp = rv_kstack + (hart + 1) * RV_KSTACK_SIZE */
    la      sp, rv_kstack
    li      t1, RV_KSTACK_SIZE
    addi    t2, t0, 1
    mul     t1, t1, t2
    add     sp, sp, t1
    la      t1, rv_trap_entry
    csrw    mtvec, t1
    bnez    t0, .Lsecondary

    /* hart 0: the kernel's bss, then the user part's bss */
    la      a0, __KERNEL_BSS_START
    la      a1, __KERNEL_BSS_END
    call    .Lzero
    la      a0, __USER_BSS_START
    la      a1, __USER_BSS_END
    call    .Lzero
    fence   rw, rw
    la      t1, rv_boot_done
    li      t2, 1
    sw      t2, 0(t1)
    call    kmain
    j       .Lspin

.Lsecondary:
    /* hart 1..: wait for the bss, then for core_start() */
    li      t1, RV_MIP_MSIP
    csrw    mie, t1
    la      t3, rv_boot_done
1:  lw      t2, 0(t3)             /* a short spin: hart 0 zeroes a few pages */
    beqz    t2, 1b
2:  fence   rw, rw
    slli    t3, t0, 3
    la      t2, rv_core_entry
    add     t3, t3, t2              /* &rv_core_entry[hart] */
3:  ld      t2, 0(t3)
    bnez    t2, 4f
    wfi
    /* clear this hart's msip: CLINT + 4 * hart */
    li      t4, RV_CLINT_BASE
    slli    t5, t0, 2
    add     t4, t4, t5
    sw      zero, 0(t4)
    j       3b
4:  fence   rw, rw
    mv      a0, t0
    call    rv_core_boot            /* never returns */
.Lspin:
    wfi
    j       .Lspin

/* zero [a0, a1), 8 bytes at a time (both ends are 8-aligned in cluster.ld's
 * sections, and byte by byte otherwise) */
.Lzero:
    bgeu    a0, a1, 2f
    or      t1, a0, a1
    andi    t1, t1, 7
    bnez    t1, 3f
1:  sd      zero, 0(a0)
    addi    a0, a0, 8
    bltu    a0, a1, 1b
2:  ret
3:  sb      zero, 0(a0)
    addi    a0, a0, 1
    bltu    a0, a1, 3b
    ret

/* ---- the trap path --------------------------------------------------------
 * Frame (RV_FRAME_SIZE bytes, 16-aligned), word i at 8*i: x1..x31 in words
 * 1..31 (word 2 holds the interrupted sp), word 0 mepc, word 32 mstatus. */
    .section .text.rv_trap, "ax", @progbits
    .globl rv_trap_entry
    .p2align 2
rv_trap_entry:
    addi    sp, sp, -RV_FRAME_SIZE
    sd      x1, 1*8(sp)
    sd      x3, 3*8(sp)
    sd      x4, 4*8(sp)
    sd      x5, 5*8(sp)
    sd      x6, 6*8(sp)
    sd      x7, 7*8(sp)
    sd      x8, 8*8(sp)
    sd      x9, 9*8(sp)
    sd      x10, 10*8(sp)
    sd      x11, 11*8(sp)
    sd      x12, 12*8(sp)
    sd      x13, 13*8(sp)
    sd      x14, 14*8(sp)
    sd      x15, 15*8(sp)
    sd      x16, 16*8(sp)
    sd      x17, 17*8(sp)
    sd      x18, 18*8(sp)
    sd      x19, 19*8(sp)
    sd      x20, 20*8(sp)
    sd      x21, 21*8(sp)
    sd      x22, 22*8(sp)
    sd      x23, 23*8(sp)
    sd      x24, 24*8(sp)
    sd      x25, 25*8(sp)
    sd      x26, 26*8(sp)
    sd      x27, 27*8(sp)
    sd      x28, 28*8(sp)
    sd      x29, 29*8(sp)
    sd      x30, 30*8(sp)
    sd      x31, 31*8(sp)
    addi    t0, sp, RV_FRAME_SIZE
    sd      t0, 2*8(sp)             /* the interrupted sp */
    csrr    t0, mepc
    sd      t0, 0*8(sp)
    csrr    t0, mstatus
    sd      t0, 32*8(sp)
    mv      a0, sp
    call    rv_trap
    /* back, perhaps much later and on another cluster (a preempted thread
     * that migrated): interrupts stay off until mret (MIE is clear in the
     * saved mstatus; mret takes MIE from its MPIE) */
    csrci   mstatus, RV_MSTATUS_MIE
    ld      t0, 0*8(sp)
    csrw    mepc, t0
    ld      t0, 32*8(sp)
    csrw    mstatus, t0
    ld      x1, 1*8(sp)
    ld      x3, 3*8(sp)
    ld      x4, 4*8(sp)
    ld      x5, 5*8(sp)
    ld      x6, 6*8(sp)
    ld      x7, 7*8(sp)
    ld      x8, 8*8(sp)
    ld      x9, 9*8(sp)
    ld      x10, 10*8(sp)
    ld      x11, 11*8(sp)
    ld      x12, 12*8(sp)
    ld      x13, 13*8(sp)
    ld      x14, 14*8(sp)
    ld      x15, 15*8(sp)
    ld      x16, 16*8(sp)
    ld      x17, 17*8(sp)
    ld      x18, 18*8(sp)
    ld      x19, 19*8(sp)
    ld      x20, 20*8(sp)
    ld      x21, 21*8(sp)
    ld      x22, 22*8(sp)
    ld      x23, 23*8(sp)
    ld      x24, 24*8(sp)
    ld      x25, 25*8(sp)
    ld      x26, 26*8(sp)
    ld      x27, 27*8(sp)
    ld      x28, 28*8(sp)
    ld      x29, 29*8(sp)
    ld      x30, 30*8(sp)
    ld      x31, 31*8(sp)
    addi    sp, sp, RV_FRAME_SIZE
    mret

/* The first word the secondary harts look at: set by hart 0 once the bss is
 * zero (in .data, which the bss zeroing does not touch). */
    .section .data.rv_boot, "aw", @progbits
    .p2align 3
    .globl rv_boot_done
rv_boot_done:
    .word 0
    .word 0
