/*
 * pci.c - the NoC's shared memory: the ivshmem-plain PCI device of QEMU
 * `virt`, found and enabled without firmware.
 *
 * The kernel scans bus 0 of the PCIe host's configuration space (ECAM at
 * 0x30000000; device d's function 0 at + (d << 15)) for vendor 0x1af4,
 * device 0x1110. Its BAR2 is the shared memory (a 64-bit, prefetchable
 * memory BAR whose size is the memory backend's, a power of two): the kernel
 * sizes it (writes all ones, reads back the mask), places it at the start of
 * the PCI memory window (0x40000000; the window maps PCI addresses one to
 * one), places BAR0 (the device's 256 bytes of registers, unused here) after
 * it, and turns on memory decoding in the command register.
 */
#include "rv.h"

#define RV_PCI_VENDOR_IVSHMEM 0x1af4u
#define RV_PCI_DEVICE_IVSHMEM 0x1110u
#define RV_PCI_COMMAND 0x04
#define RV_PCI_COMMAND_MEMORY 0x2u
#define RV_PCI_BAR0 0x10
#define RV_PCI_BAR2 0x18

static volatile uint32_t *rv_cfg(unsigned dev, unsigned off)
{
    return (volatile uint32_t *)(uintptr_t)(RV_PCIE_ECAM + (dev << 15) + off);
}

/* Size of a memory BAR (the 64-bit pair at `off` when `is64`). */
static uint64_t rv_bar_size(unsigned dev, unsigned off, int is64)
{
    uint32_t lo_was = *rv_cfg(dev, off), hi_was = is64 ? *rv_cfg(dev, off + 4) : 0;
    uint64_t mask;
    *rv_cfg(dev, off) = 0xffffffffu;
    if (is64) *rv_cfg(dev, off + 4) = 0xffffffffu;
    mask = (uint64_t)(*rv_cfg(dev, off) & ~0xfu);
    mask |= is64 ? (uint64_t)*rv_cfg(dev, off + 4) << 32 : 0xffffffff00000000ull;
    *rv_cfg(dev, off) = lo_was;
    if (is64) *rv_cfg(dev, off + 4) = hi_was;
    return mask == 0 ? 0 : ~mask + 1;
}

int rv_ivshmem_map(void **base, uint64_t *size)
{
    unsigned dev;
    for (dev = 0; dev < 32; dev++) {
        uint32_t id = *rv_cfg(dev, 0), bar2;
        uint64_t sz, sz0, addr;
        int is64;
        if ((id & 0xffffu) != RV_PCI_VENDOR_IVSHMEM || (id >> 16) != RV_PCI_DEVICE_IVSHMEM)
            continue;
        *(volatile uint16_t *)rv_cfg(dev, RV_PCI_COMMAND) = 0;   /* decoding off while moving */
        bar2 = *rv_cfg(dev, RV_PCI_BAR2);
        if (bar2 & 1u) return -1;                                /* an I/O BAR: not ivshmem */
        is64 = ((bar2 >> 1) & 3u) == 2u;
        sz = rv_bar_size(dev, RV_PCI_BAR2, is64);
        if (sz == 0 || sz > RV_PCIE_MMIO_SIZE / 2) return -1;
        addr = RV_PCIE_MMIO;                                     /* 1 GiB aligned */
        *rv_cfg(dev, RV_PCI_BAR2) = (uint32_t)addr;
        if (is64) *rv_cfg(dev, RV_PCI_BAR2 + 4) = (uint32_t)(addr >> 32);
        sz0 = rv_bar_size(dev, RV_PCI_BAR0, 0);
        if (sz0 != 0 && sz0 <= sz) *rv_cfg(dev, RV_PCI_BAR0) = (uint32_t)(addr + sz);
        *(volatile uint16_t *)rv_cfg(dev, RV_PCI_COMMAND) = RV_PCI_COMMAND_MEMORY;
        *base = (void *)(uintptr_t)addr;
        *size = sz;
        return 0;
    }
    return -1;
}
