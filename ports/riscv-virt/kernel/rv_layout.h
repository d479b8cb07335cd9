/*
 * rv_layout.h - the fixed facts of a cluster kernel on QEMU `virt` (riscv64):
 * addresses of the devices, the boot words the launcher writes, the memory
 * map. Included by assembly and C.
 */
#ifndef RV_LAYOUT_H
#define RV_LAYOUT_H

/* Harts: hart 0 is the master core (core 0), hart 1 the user core (core 1). */
#define RV_HARTS 2
#define RV_KSTACK_SIZE 16384          /* kernel stack per hart */

/* Devices of the `virt` machine. */
#define RV_UART_BASE 0x10000000       /* 16550 */
#define RV_CLINT_BASE 0x02000000      /* msip[hart] at +4*hart */
#define RV_CLINT_MTIMECMP 0x4000      /* + 8*hart */
#define RV_CLINT_MTIME 0xbff8
#define RV_MTIME_HZ 10000000          /* 10 MHz */
#define RV_PCIE_ECAM 0x30000000       /* bus 0: device d at + (d << 15) */
#define RV_PCIE_MMIO 0x40000000       /* the 32-bit PCI memory window (1 GiB) */
#define RV_PCIE_MMIO_SIZE 0x40000000

/* Memory: RAM at 0x80000000. The image is linked there (cluster.ld, kernel
 * base = SRAM base); RV_SRAM_SIZE is what cluster.ld calls the SRAM, its top
 * page (the "high hypervisor area" of the chip's script) is the boot page the
 * launcher writes into before the harts start. The container region lies
 * above, at the same address in every instance. */
#define RV_RAM_BASE 0x80000000
#define RV_SRAM_SIZE 0x01000000       /* 16 MiB: kernel + user part */
#define RV_BOOT_PAGE 0x80fff000       /* boot words (-device loader) */
#define RV_BOOT_NODE (RV_BOOT_PAGE + 0)   /* u32: the NoC node number */
#define RV_BOOT_MODE (RV_BOOT_PAGE + 4)   /* u32: the demo scenario */
#define RV_BOOT_ARG (RV_BOOT_PAGE + 8)    /* u32: its argument (worker steps, 0: default) */
#define RV_BOOT_FLAGS (RV_BOOT_PAGE + 12) /* u32: RV_FLAG_* */
#define RV_FLAG_ICOUNT 1u                 /* QEMU runs with -icount: minstret counts instructions */
#define RV_REGION_ADDR 0x81000000     /* the container region */
#define RV_REGION_MAX 0x00100000      /* 1 MiB for it */

/* CSR bits. */
#define RV_MSTATUS_MIE 0x8
#define RV_MIP_MSIP 0x8
#define RV_MIP_MTIP 0x80

/* The trap frame: mepc, x1..x31, mstatus (33 words), 16-aligned. */
#define RV_FRAME_SIZE 272

#endif /* RV_LAYOUT_H */
