/*
 * rv_config.h - the MPPA-256 port's settings for a cluster on QEMU `virt`.
 * Included first by every translation unit of the image (kernel and
 * application), before uarea_mppa256.h, so that all agree.
 */
#ifndef RV_CONFIG_H
#define RV_CONFIG_H

#include "rv_layout.h"

/* Hart 1 is the one user core (core 1); hart 0 the master (core 0). */
#define UAREA_MPPA256_USER_CORES 1

/* The container region: above the image, the same address in every
 * instance (each has its own RAM there, as each compute cluster has its own
 * SRAM). The port's default heap (88 pages) keeps the container at the
 * chip's 512 KiB; the region leaves room for more. */
#define UAREA_MPPA256_REGION_ADDR ((uintptr_t)RV_REGION_ADDR)
#define UAREA_MPPA256_REGION_MAX RV_REGION_MAX

#endif /* RV_CONFIG_H */
