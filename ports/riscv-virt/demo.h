/*
 * demo.h - what the kernel of a riscv-virt cluster and the demo application
 * (demo.c, the user part of the image) share: the scenarios, the
 * application's state (a user global: it moves with the container), the
 * computation the kernel repeats without migration.
 */
#ifndef RV_DEMO_H
#define RV_DEMO_H

#include <stdint.h>

/* Scenarios: the boot word RV_BOOT_MODE. */
#define DEMO_TOUR 1       /* (a) workers that yield; route 9, 10, 11, 8, 9 */
#define DEMO_PREEMPT 2    /* (b) workers that never yield: moved by preemption */
#define DEMO_DAMAGED 3    /* (c) one transfer damaged on the NoC, then a retry */

#define DEMO_WORKERS 3
#define DEMO_HOPS_MAX 8
#define DEMO_HOME 8       /* the cluster that starts the container */

/* The application's state: in the user part's data, so it travels with the
 * container (the user sections [__USER_DATA_START, __USER_BSS_END) move). */
typedef struct demo_app {
    uint32_t mode;
    uint32_t steps;                       /* per worker */
    int32_t route[DEMO_HOPS_MAX], n_route;
    int32_t damage_hop;                   /* DEMO_DAMAGED: the hop whose transfer is damaged */
    volatile int32_t hop;                 /* the hop under way (read by the kernel) */
    int32_t hop_rc[DEMO_HOPS_MAX], hop_at[DEMO_HOPS_MAX], hop_from[DEMO_HOPS_MAX];
    uint64_t hop_steps[DEMO_HOPS_MAX];    /* worker steps done when the hop returned */
    volatile uint64_t steps_done;
    uint64_t acc[DEMO_WORKERS];
    uint64_t result;
    int32_t ended;                        /* thread 0 reached the end */
} demo_app_t;

extern demo_app_t demo_app;

/* The container's thread 0 (demo.c). */
void *demo_main(void *arg);

/* The workers' computation, one step and the end (demo.c, user text); the
 * kernel calls the same functions to compute the result without
 * migration. */
uint64_t demo_step(uint64_t acc, uint64_t *page, unsigned w, unsigned step);
uint64_t demo_finish(uint64_t acc, const uint64_t *page);
uint64_t demo_mix(uint64_t x);
uint64_t demo_seed(unsigned w);

#endif /* RV_DEMO_H */
