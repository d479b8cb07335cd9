/*
 * rv.h - the cluster kernel on QEMU `virt` (riscv64): what its parts call in
 * each other. The Nanvix calls it implements are declared by
 * uarea_mppa256/nanvix.h.
 */
#ifndef RV_H
#define RV_H

#include <stddef.h>
#include <stdint.h>
#include "rv_layout.h"

#define RV_CSR_READ(name)                                                  \
    ({ unsigned long v__; __asm__ volatile("csrr %0, " #name : "=r"(v__)); v__; })
#define RV_CSR_WRITE(name, v) __asm__ volatile("csrw " #name ", %0" : : "r"((unsigned long)(v)))
#define RV_CSR_SET(name, v) __asm__ volatile("csrs " #name ", %0" : : "r"((unsigned long)(v)))
#define RV_CSR_CLEAR(name, v) __asm__ volatile("csrc " #name ", %0" : : "r"((unsigned long)(v)))

/* The frame start.S leaves on the interrupted stack. */
typedef struct rv_frame {
    uint64_t mepc;
    uint64_t x[31];               /* x[i - 1] is register xi; x[1] the interrupted sp */
    uint64_t mstatus;
    uint64_t pad;
} rv_frame;

/* Linker symbols (ports/mppa256/ld/cluster.ld). */
extern char __KERNEL_START[], __KERNEL_END[];
extern char __USER_START[], __USER_END[];
extern char __USER_TEXT_START[], __USER_TEXT_END[];
extern char __USER_RODATA_START[], __USER_RODATA_END[];
extern char __USER_DATA_START[], __USER_DATA_END[];
extern char __USER_BSS_START[], __USER_BSS_END[];
extern char __IMAGE_END[];

/* hal.c */
void rv_putc(char c);
void rv_puts(const char *s);
uint64_t rv_mtime(void);
uint64_t rv_instret(void);
void rv_timer_arm(int hart, uint64_t delta_ticks);
void rv_timer_off(int hart);
void rv_msip_clear(int hart);
void rv_sleep_until(int hart, uint64_t until);
void rv_halt(void) __attribute__((noreturn));
uint32_t rv_boot_word(uintptr_t addr);
/* the tick of the user core (preemption), in mtime ticks */
#define RV_TICK_TICKS (RV_MTIME_HZ / 1000)

/* pci.c: the ivshmem-plain device's shared memory (BAR2), mapped and
 * enabled. 0, or -1 when there is none. */
int rv_ivshmem_map(void **base, uint64_t *size);

/* kmain.c */
void kmain(void);
void rv_core_boot(int hart);
void rv_trap(rv_frame *f);

#endif /* RV_H */
