/*
 * kmain.c - a compute cluster of the MPPA-256 port on one QEMU `virt`
 * instance: the port's runtime (uarea_mppa256.h, the library's implementation
 * is compiled here), Nanvix's IKC over the shared region (ikc_shm.h), the
 * trap handler with preemption, and the demo's kernel side (scenarios,
 * figures, the end of the run).
 *
 * Boot (hart 0): the node number and the scenario come from the boot page
 * (the launcher's -device loader words); the ivshmem device's BAR2 is the
 * NoC: the IKC arena at its start, the board after it (what the clusters
 * tell each other about the demo: who is up, each migration's figures, the
 * end). Then uarea_mppa256_cluster_main(), which starts hart 1 (core 1) with
 * core_start() and runs the node's master on hart 0.
 *
 * Preemption: hart 1 takes a machine timer interrupt every RV_TICK_TICKS (1
 * ms) and a software interrupt on every event_notify(). The handler runs on
 * the interrupted stack (start.S); it turns the interrupt into
 * uarea_thread_yield() only at a safe point: the interrupted pc is in the
 * application's code ([__USER_TEXT_START, __USER_TEXT_END)), the core is not
 * in the port's critical section (its depth, uarea_mppa256/port.h, is 0),
 * and a container thread runs on the core. The frame stays on the thread's
 * stack, in the container region: a thread preempted here may resume on
 * another cluster, and its mret there returns into the interrupted
 * instruction.
 */
#include "rv_config.h"
#define UAREA_IMPLEMENTATION
#include <uarea_mppa256.h>
#include "rv.h"

/* ---- IKC over the shared region ------------------------------------------
 * Each cluster is a machine of its own: no interrupt tells it that the
 * doorbell rang. A try that finds nothing looks at the doorbell, then sleeps
 * (wfi, its hart's timer set RV_DOZE_TICKS ahead) and looks again, for at
 * most `ns`. Sleeping rather than spinning leaves the host's CPU to the other
 * instances and, under -icount, the instance's one emulation thread to the
 * user core. */
#define RV_DOZE_TICKS 50u                 /* 5 us */
static void rv_doze(const uint32_t *bell, uint32_t seen, uint64_t ns)
{
    uint64_t end = rv_mtime() + ns / (1000000000u / RV_MTIME_HZ) + 1u;
    int me = core_get_id();
    while (__atomic_load_n(bell, __ATOMIC_SEQ_CST) == seen) {
        uint64_t now = rv_mtime(), until = now + RV_DOZE_TICKS;
        if (now >= end) break;
        rv_sleep_until(me, until < end ? until : end);
    }
}
#define IKC_SHM_DOZE(bell, seen, ns) rv_doze((bell), (seen), (uint64_t)(ns))
#define IKC_SHM_IMPLEMENTATION
#include "ikc_shm.h"

#include "../demo.h"

/* ---- The board: after the IKC arena in the shared region ------------------ */
#define RV_RECS 16

/* The side a cluster took in a migration (also an index of rv_cur). */
enum { RV_SOURCE = 0, RV_DEST = 1 };

/* One migration as one cluster saw it (written by that cluster only). */
typedef struct rv_rec {
    uint32_t mid;
    int32_t role;                         /* RV_SOURCE or RV_DEST */
    int32_t peer;
    int32_t result;                       /* 0 committed / activated, or the error */
    uint64_t t[MIGRATE_PT_COUNT];         /* mtime at each trace point (10 MHz) */
    uint64_t n[MIGRATE_PT_COUNT];         /* minstret there */
    uint32_t seen;                        /* trace points seen (bit per point) */
    uint32_t done;                        /* complete (published) */
    uint64_t bytes;                       /* image bytes */
} rv_rec;

typedef struct rv_node_board {
    uint32_t up;                          /* attached to the NoC */
    uint32_t n_recs;
    uint64_t ticks, preempts, soft;       /* hart 1: timer interrupts, yields at safe points, notifies taken */
    rv_rec rec[RV_RECS];
} rv_node_board;

typedef struct rv_board {
    rv_node_board node[UAREA_MPPA256_NODES];
    uint32_t over;                        /* the demo is over: every cluster stops */
    uint32_t ended;                       /* the container's program ended ... */
    int32_t ended_on;                     /* ... on this cluster */
    demo_app_t app;                       /* its state there */
} rv_board;

#define RV_BOARD_OFFSET ((IKC_SHM_ARENA_SIZE + 4095u) & ~(size_t)4095u)

/* ---- This cluster ----------------------------------------------------------- */
static int rv_node = -1;
static uint32_t rv_mode, rv_arg, rv_flags;
static const char *rv_unit = "minstret";  /* "instr" under -icount */
static rv_board *rv_bd;
static rv_node_board *rv_me;
static rv_rec *rv_cur[2];                 /* the migration under way, per role */
static uint32_t rv_printed;               /* records printed so far */
static uint64_t rv_expected;              /* the result without migration (home cluster) */
static uint64_t rv_t_start;               /* mtime when the container started (home) */
static int rv_damage_armed;               /* DEMO_DAMAGED: the next data piece is damaged */
static uint64_t rv_damage_sent0;
static migrate_region rv_user;

static const char *rv_mode_name(uint32_t m)
{
    return m == DEMO_TOUR ? "tour" : m == DEMO_PREEMPT ? "preempt" : m == DEMO_DAMAGED ? "damaged" : "?";
}

static rv_rec *rv_new_rec(uint32_t mid, int role, int peer)
{
    rv_rec *r;
    if (rv_me->n_recs >= RV_RECS) return NULL;
    r = &rv_me->rec[rv_me->n_recs];
    UAREA_MEMSET(r, 0, sizeof *r);
    r->mid = mid;
    r->role = role;
    r->peer = peer;
    r->result = 1;                        /* not known yet */
    __atomic_store_n(&rv_me->n_recs, rv_me->n_recs + 1u, __ATOMIC_RELEASE);
    return r;
}

/* uarea_mppa256_desc.trace: on the master, at each step of a migration. The
 * clock and the instruction counter are read first. */
static void rv_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    uint64_t t = rv_mtime(), n = rv_instret();
    int role = p >= MIGRATE_PT_DST_PREPARED ? RV_DEST : RV_SOURCE;
    rv_rec *r = rv_cur[role];
    (void)arg;
    (void)phase;
    if (r == NULL || r->mid != mid || r->peer != peer || r->done) {
        r = rv_cur[role] = rv_new_rec(mid, role, peer);
        if (r == NULL) return;
    }
    if (!(r->seen & (1u << p))) {         /* the first time (a REQUEST may be sent again) */
        r->t[p] = t;
        r->n[p] = n;
        r->seen |= 1u << p;
    }
    if (p == MIGRATE_PT_SRC_START && rv_mode == DEMO_DAMAGED && demo_app.hop == demo_app.damage_hop &&
        demo_app.damage_hop >= 0) {
        /* the container is here, its thread 0 inside migrate_to: this hop's
         * image gets one damaged piece once its transfer has begun */
        rv_damage_armed = 1;
        rv_damage_sent0 = ~0ull;
        kprintf("cluster %d: hop %d to %d: the NoC will damage one piece of this image\n", rv_node,
                (int)demo_app.hop, peer);
    }
    if (p == MIGRATE_PT_SRC_ACCEPTED && rv_damage_armed) {
        ikc_shm_counters_t c;
        ikc_shm_counters(rv_node, &c);
        rv_damage_sent0 = c.portal_sent;  /* the header piece of the first transfer comes next */
    }
    if (p == MIGRATE_PT_SRC_DROPPED || p == MIGRATE_PT_SRC_ABORTED || p == MIGRATE_PT_DST_ACTIVATED ||
        p == MIGRATE_PT_DST_DISCARDED) {
        if (p == MIGRATE_PT_SRC_DROPPED || p == MIGRATE_PT_DST_ACTIVATED) r->result = 0;
        rv_cur[role] = NULL;
        __atomic_store_n(&r->done, 1u, __ATOMIC_RELEASE);
        if (p == MIGRATE_PT_SRC_ABORTED) rv_damage_armed = 0;
    }
}

static void rv_on_arrival(void *arg, const migrate_stats *st)
{
    uint32_t i;
    (void)arg;
    for (i = 0; i < rv_me->n_recs; i++)
        if (rv_me->rec[i].mid == st->mid && rv_me->rec[i].role == RV_DEST) rv_me->rec[i].bytes = st->bytes;
}

static uint64_t rv_span(const rv_rec *r, const uint64_t *v, migrate_point a, migrate_point b)
{
    if (!(r->seen & (1u << a)) || !(r->seen & (1u << b)) || v[b] < v[a]) return 0;
    return v[b] - v[a];
}

/* What one record says, on this cluster's console. */
static void rv_print_rec(rv_rec *r)
{
    migrate_stats st;
    if (migrate_daemon_last(&uarea__mppa256_m.node.d, &st) == 0 && st.mid == r->mid) {
        if (r->result != 0) r->result = st.result;
        if (r->role == RV_SOURCE) r->bytes = st.bytes;
    }
    if (r->result == 1) r->result = UAREA_EABORTED;
    if (r->role == RV_SOURCE) {
        migrate_point end = r->result == 0 ? MIGRATE_PT_SRC_DROPPED : MIGRATE_PT_SRC_ABORTED;
        kprintf("cluster %d: migration %08x to %d: %s; source: total %llu ticks / %llu %s, "
                "frozen %llu ticks / %llu %s, image %llu bytes\n",
                rv_node, r->mid, r->peer, r->result == 0 ? "committed" : uarea_strerror(r->result),
                (unsigned long long)rv_span(r, r->t, MIGRATE_PT_SRC_START, end),
                (unsigned long long)rv_span(r, r->n, MIGRATE_PT_SRC_START, end), rv_unit,
                (unsigned long long)rv_span(r, r->t, MIGRATE_PT_SRC_FROZEN, end),
                (unsigned long long)rv_span(r, r->n, MIGRATE_PT_SRC_FROZEN, end), rv_unit,
                (unsigned long long)r->bytes);
    } else {
        migrate_point end = r->result == 0 ? MIGRATE_PT_DST_ACTIVATED : MIGRATE_PT_DST_DISCARDED;
        kprintf("cluster %d: migration %08x from %d: %s; destination: request to %s %llu ticks / "
                "%llu %s, image %llu bytes\n",
                rv_node, r->mid, r->peer, r->result == 0 ? "running here" : "refused",
                r->result == 0 ? "running" : "discard",
                (unsigned long long)rv_span(r, r->t, MIGRATE_PT_DST_REQUEST, end),
                (unsigned long long)rv_span(r, r->n, MIGRATE_PT_DST_REQUEST, end), rv_unit,
                (unsigned long long)r->bytes);
        if (r->result != 0)
            kprintf("cluster %d: refused the image from %d: %d (%s)\n", rv_node, r->peer, r->result,
                    uarea_strerror(r->result));
    }
}

/* ---- The end of the demo (home cluster) ------------------------------------ */
static const rv_rec *rv_find(int node, uint32_t mid, int role)
{
    uint32_t i, n = __atomic_load_n(&rv_bd->node[node].n_recs, __ATOMIC_ACQUIRE);
    for (i = 0; i < n && i < RV_RECS; i++) {
        const rv_rec *r = &rv_bd->node[node].rec[i];
        if (r->mid == mid && r->role == role && __atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) return r;
    }
    return NULL;
}

static int rv_failures;
#define RV_CHECK(cond, ...)                                  \
    do {                                                     \
        if (!(cond)) {                                       \
            rv_failures++;                                   \
            kprintf("CHECK FAILED: " __VA_ARGS__);           \
            kprintf("\n");                                   \
        }                                                    \
    } while (0)

/* The source's record of hop i: its k-th migration to the hop's destination
 * (NULL when missing); *mid receives its migration id. */
static const rv_rec *rv_hop_source(const demo_app_t *a, int i, uint32_t *mid)
{
    int from = a->hop_from[i], to = a->route[i], k;
    for (k = 0; k < RV_RECS && from >= 0 && from < UAREA_MPPA256_NODES; k++) {
        const rv_rec *r = &rv_bd->node[from].rec[k];
        int j, nth = 0, want = 0;
        if (k >= (int)rv_bd->node[from].n_recs) break;
        if (r->role != RV_SOURCE || r->peer != to) continue;
        for (j = 0; j < i; j++) want += a->hop_from[j] == from && a->route[j] == to;
        for (j = 0; j < k; j++)
            nth += rv_bd->node[from].rec[j].role == RV_SOURCE && rv_bd->node[from].rec[j].peer == to;
        if (nth == want) { *mid = r->mid; return r; }
    }
    return NULL;
}

/* The figures of every hop, each side on its own clock, and their means. */
static void rv_print_hops(const demo_app_t *a)
{
    uint64_t sum_down = 0, sum_total = 0, sum_down_n = 0, sum_total_n = 0;
    int i, n_ok = 0;
    kprintf("\nsummary (%s): per hop, each side on its own clock: ticks of mtime (10 MHz) / %s%s\n",
            rv_mode_name(rv_mode), rv_unit,
            (rv_flags & RV_FLAG_ICOUNT) ? " (QEMU -icount: instructions retired)"
                                        : " (without -icount QEMU's minstret counts the host's cycles)");
    kprintf("hop  from->to  result            source total          source frozen         "
            "dest. request->run    downtime ~          image\n");
    for (i = 0; i < a->n_route; i++) {
        const rv_rec *s = NULL, *d = NULL;
        int from = a->hop_from[i], to = a->route[i];
        uint32_t mid = 0;
        s = rv_hop_source(a, i, &mid);
        if (s != NULL && to >= 0 && to < UAREA_MPPA256_NODES) d = rv_find(to, mid, RV_DEST);
        if (s != NULL && d != NULL) {
            migrate_point se = s->result == 0 ? MIGRATE_PT_SRC_DROPPED : MIGRATE_PT_SRC_ABORTED;
            migrate_point de = d->result == 0 ? MIGRATE_PT_DST_ACTIVATED : MIGRATE_PT_DST_DISCARDED;
            uint64_t down_t = rv_span(s, s->t, MIGRATE_PT_SRC_FROZEN, MIGRATE_PT_SRC_REQUEST) +
                              rv_span(d, d->t, MIGRATE_PT_DST_REQUEST, de);
            uint64_t down_n = rv_span(s, s->n, MIGRATE_PT_SRC_FROZEN, MIGRATE_PT_SRC_REQUEST) +
                              rv_span(d, d->n, MIGRATE_PT_DST_REQUEST, de);
            kprintf("%-4d %2d->%-2d    %-16s  %8llu / %-10llu  %8llu / %-10llu  %8llu / %-10llu  "
                    "%8llu / %-10llu  %llu\n",
                    i, from, to, s->result == 0 ? "moved" : uarea_strerror(s->result),
                    (unsigned long long)rv_span(s, s->t, MIGRATE_PT_SRC_START, se),
                    (unsigned long long)rv_span(s, s->n, MIGRATE_PT_SRC_START, se),
                    (unsigned long long)rv_span(s, s->t, MIGRATE_PT_SRC_FROZEN, se),
                    (unsigned long long)rv_span(s, s->n, MIGRATE_PT_SRC_FROZEN, se),
                    (unsigned long long)rv_span(d, d->t, MIGRATE_PT_DST_REQUEST, de),
                    (unsigned long long)rv_span(d, d->n, MIGRATE_PT_DST_REQUEST, de),
                    (unsigned long long)down_t, (unsigned long long)down_n,
                    (unsigned long long)(s->bytes ? s->bytes : d->bytes));
            if (s->result == 0) {
                n_ok++;
                sum_down += down_t;
                sum_down_n += down_n;
                sum_total += rv_span(s, s->t, MIGRATE_PT_SRC_START, se);
                sum_total_n += rv_span(s, s->n, MIGRATE_PT_SRC_START, se);
            }
        } else {
            kprintf("%-4d %2d->%-2d    rc %d: no figures (%s record missing)\n", i, from, to, a->hop_rc[i],
                    s == NULL ? "source" : "destination");
        }
    }
    if (n_ok > 0) {
        uint64_t md = sum_down / (uint64_t)n_ok, mt = sum_total / (uint64_t)n_ok;
        kprintf("mean of %d migrations: downtime ~%llu ticks (%llu us) / %llu %s, total %llu ticks "
                "(%llu us) / %llu %s; in the port's clock (mtime x 40, 400 MHz cycles): downtime %llu, "
                "total %llu\n",
                n_ok, (unsigned long long)md, (unsigned long long)(md / 10u),
                (unsigned long long)(sum_down_n / (uint64_t)n_ok), rv_unit, (unsigned long long)mt,
                (unsigned long long)(mt / 10u), (unsigned long long)(sum_total_n / (uint64_t)n_ok), rv_unit,
                (unsigned long long)(md * 40u), (unsigned long long)(mt * 40u));
        kprintf("beside: Nanvix on the MPPA-256 (the papers), about 7.8 M cycles per migration of an "
                "empty container, up to about 45 M cycles for parallel migrations\n");
    }
}

/* The NoC's counters and the user cores' ticks; returns the preemptions. */
static uint64_t rv_print_counters(void)
{
    uint64_t preempts = 0, ticks = 0;
    int i;
    ikc_shm_counters_t c, sum;
    UAREA_MEMSET(&sum, 0, sizeof sum);
    for (i = 0; i < UAREA_MPPA256_NODES; i++) {
        ikc_shm_counters(i, &c);
        sum.mailbox_sent += c.mailbox_sent;
        sum.portal_sent += c.portal_sent;
        sum.portal_bytes_sent += c.portal_bytes_sent;
        sum.allows += c.allows;
        preempts += rv_bd->node[i].preempts;
        ticks += rv_bd->node[i].ticks;
    }
    kprintf("NoC: %llu IKC messages, %llu portal pieces (%llu allows), %llu portal bytes\n",
            (unsigned long long)sum.mailbox_sent, (unsigned long long)sum.portal_sent,
            (unsigned long long)sum.allows, (unsigned long long)sum.portal_bytes_sent);
    kprintf("user cores: %llu timer ticks, %llu preemptions at safe points\n",
            (unsigned long long)ticks, (unsigned long long)preempts);

    return preempts;
}

/* What the transcript must show: each hop on another cluster, the damaged
 * one refused, the workers computing throughout, the result equal to the
 * computation without migration. */
static void rv_check_run(const demo_app_t *a, uint64_t preempts)
{
    int i;
    RV_CHECK(rv_bd->ended && rv_bd->ended_on == a->route[a->n_route - 1] &&
                 rv_bd->ended_on != DEMO_HOME,
             "the container ended on cluster %d, not on %d (the last of its route)",
             (int)rv_bd->ended_on, (int)a->route[a->n_route - 1]);
    kprintf("the container started on cluster %d and its threads finished on cluster %d\n",
            DEMO_HOME, (int)rv_bd->ended_on);
    for (i = 0; i < a->n_route; i++) {
        if (rv_mode == DEMO_DAMAGED && i == a->damage_hop) {
            RV_CHECK(a->hop_rc[i] < 0 && a->hop_at[i] == a->hop_from[i],
                     "damaged hop %d: rc %d, on %d (from %d)", i, (int)a->hop_rc[i], (int)a->hop_at[i],
                     (int)a->hop_from[i]);
        } else {
            RV_CHECK(a->hop_rc[i] == 0 && a->hop_at[i] == a->route[i] && a->hop_at[i] != a->hop_from[i],
                     "hop %d: rc %d, from %d, on %d, route %d", i, (int)a->hop_rc[i],
                     (int)a->hop_from[i], (int)a->hop_at[i], (int)a->route[i]);
        }
    }
    /* the workers compute on every cluster of the route: not done at the
     * last hop, and further at each hop than at the one before */
    RV_CHECK(a->hop_steps[a->n_route - 1] < (uint64_t)DEMO_WORKERS * a->steps,
             "the workers had ended before the last hop (%llu steps of %llu)",
             (unsigned long long)a->hop_steps[a->n_route - 1],
             (unsigned long long)DEMO_WORKERS * a->steps);
    for (i = 1; i < a->n_route; i++)
        RV_CHECK(a->hop_steps[i] > a->hop_steps[i - 1], "the workers did not compute between hops %d and %d",
                 i - 1, i);
    RV_CHECK(a->result == rv_expected, "result %016llx, without migration %016llx",
             (unsigned long long)a->result, (unsigned long long)rv_expected);
    if (rv_mode == DEMO_PREEMPT) RV_CHECK(preempts > 0, "no preemption took place");
    kprintf("result %016llx, without migration %016llx: %s\n", (unsigned long long)a->result,
            (unsigned long long)rv_expected, a->result == rv_expected ? "match" : "DIFFER");
    kprintf("run: %llu ticks (%llu ms of mtime) from the container's start to its end\n",
            (unsigned long long)(rv_mtime() - rv_t_start), (unsigned long long)((rv_mtime() - rv_t_start) / 10000u));
}

static void rv_summary(void)
{
    const demo_app_t *a = &rv_bd->app;
    rv_print_hops(a);
    rv_check_run(a, rv_print_counters());
}

/* ---- The runtime's hooks ----------------------------------------------------- */
#define RV_DEMO_LIMIT_TICKS (240ull * RV_MTIME_HZ)    /* the home cluster gives up */

static int rv_keep_running(void *arg)
{
    (void)arg;
    /* the damage: once the header piece of the image's first transfer is
     * out, the next piece (image data) is damaged on its way */
    if (rv_damage_armed && rv_damage_sent0 != ~0ull) {
        ikc_shm_counters_t c;
        ikc_shm_counters(rv_node, &c);
        if (c.portal_sent > rv_damage_sent0) {
            ikc_shm_corrupt_next_piece(rv_cur[0] != NULL ? rv_cur[0]->peer : 0);
            rv_damage_armed = 0;
        }
    }
    while (rv_printed < rv_me->n_recs && __atomic_load_n(&rv_me->rec[rv_printed].done, __ATOMIC_ACQUIRE)) {
        /* the daemon's last stats name the migration once it finished */
        if (migrate_daemon_busy(&uarea__mppa256_m.node.d)) break;
        rv_print_rec(&rv_me->rec[rv_printed]);
        rv_printed++;
    }
    if (rv_node == DEMO_HOME && !__atomic_load_n(&rv_bd->over, __ATOMIC_ACQUIRE)) {
        int ended = (int)__atomic_load_n(&rv_bd->ended, __ATOMIC_ACQUIRE);
        if (ended || rv_mtime() - rv_t_start > RV_DEMO_LIMIT_TICKS) {
            /* the other clusters publish their last figures: a moment */
            uint64_t until = rv_mtime() + RV_MTIME_HZ / 5u;
            while (rv_mtime() < until) {
            }
            if (!ended) {
                rv_failures++;
                kprintf("CHECK FAILED: the container did not end within %llu s\n",
                        (unsigned long long)(RV_DEMO_LIMIT_TICKS / RV_MTIME_HZ));
            } else {
                rv_summary();
            }
            kprintf("DEMO END %s: %s\n", rv_mode_name(rv_mode), rv_failures ? "FAIL" : "PASS");
            __atomic_store_n(&rv_bd->over, 1u, __ATOMIC_RELEASE);
            return 0;
        }
    }
    return !__atomic_load_n(&rv_bd->over, __ATOMIC_ACQUIRE);
}

static void rv_on_end(void *arg, struct uarea *ua)
{
    (void)arg;
    (void)ua;
    kprintf("cluster %d: the container's program ended here\n", rv_node);
    UAREA_MEMCPY(&rv_bd->app, &demo_app, sizeof demo_app);
    rv_bd->ended_on = rv_node;
    __atomic_store_n(&rv_bd->ended, 1u, __ATOMIC_RELEASE);
}

/* ---- Harts, traps --------------------------------------------------------------- */
extern void (*volatile rv_core_entry[RV_HARTS])(void);

void rv_core_boot(int hart)
{
    rv_msip_clear(hart);
    RV_CSR_WRITE(mie, RV_MIP_MSIP | RV_MIP_MTIP);
    rv_timer_arm(hart, RV_TICK_TICKS);
    interrupts_enable();
    rv_core_entry[hart]();
    rv_timer_off(hart);
    rv_halt();
}

static void rv_preempt(rv_frame *f)
{
    int core = core_get_id();
    if (core < 1 || core > UAREA_MPPA256_USER_CORES) return;
    if (f->mepc < (uintptr_t)__USER_TEXT_START || f->mepc >= (uintptr_t)__USER_TEXT_END) return;
    if (uarea__mppa256_depth[core] != 0) return;
    /* both calls enter and leave the critical section, whose leave turns
     * interrupts back on: off again at once (until mret) */
    if (uarea_current() == NULL || (interrupts_disable(), uarea_thread_self() < 0)) {
        interrupts_disable();
        return;
    }
    interrupts_disable();
    if (rv_me != NULL) rv_me->preempts++;
    (void)uarea_thread_yield();
    /* back, maybe on another cluster: nothing of the old core is used */
    interrupts_disable();
}

void rv_trap(rv_frame *f)
{
    unsigned long cause = RV_CSR_READ(mcause);
    int me = core_get_id();
    if ((long)cause < 0) {
        switch (cause & 0xffu) {
        case 7:                           /* machine timer */
            if (me == 0) {                /* a doze's wake-up: no tick on the master */
                rv_timer_off(0);
                return;
            }
            rv_timer_arm(me, RV_TICK_TICKS);
            if (rv_me != NULL) rv_me->ticks++;
            break;
        case 3:                           /* machine software: event_notify */
            rv_msip_clear(me);
            if (rv_me != NULL) rv_me->soft++;
            break;
        default:
            break;
        }
        rv_preempt(f);
        return;
    }
    kprintf("FATAL: cluster %d hart %d: exception %lu at pc %lx, mtval %lx, sp %lx, ra %lx\n", rv_node,
            me, cause, (unsigned long)f->mepc, RV_CSR_READ(mtval), (unsigned long)f->x[1],
            (unsigned long)f->x[0]);
    rv_halt();
}

/* ---- Boot ------------------------------------------------------------------------ */
static uint64_t rv_expected_result(const demo_app_t *a)
{
    static uint64_t page[512];
    uint64_t r = 0;
    unsigned w, s, i;
    for (w = 0; w < DEMO_WORKERS; w++) {
        uint64_t acc = demo_seed(w);
        for (i = 0; i < 512u; i++) page[i] = 0;
        for (s = 0; s < a->steps; s++) acc = demo_step(acc, page, w, s);
        r = demo_mix(r ^ demo_finish(acc, page));
    }
    return r;
}

static void rv_setup_demo(demo_app_t *a)
{
    /* round every cluster and on: the threads finish on another cluster
     * (9) than the one they started on (8) */
    static const int32_t tour[] = {9, 10, 11, 8, 9};
    static const int32_t damaged[] = {9, 10, 10, 11, 8, 9};
    const int32_t *route = rv_mode == DEMO_DAMAGED ? damaged : tour;
    int i, n = rv_mode == DEMO_DAMAGED ? 6 : 5;
    UAREA_MEMSET(a, 0, sizeof *a);
    a->mode = rv_mode;
    a->steps = rv_arg != 0 ? rv_arg : (rv_mode == DEMO_PREEMPT ? 200000u : 40000u);
    for (i = 0; i < n; i++) a->route[i] = route[i];
    a->n_route = n;
    a->damage_hop = rv_mode == DEMO_DAMAGED ? 1 : -1;
    a->hop = -1;
}

void kmain(void)
{
    void *shm = NULL;
    uint64_t shm_size = 0, t0, n0;
    uarea_mppa256_desc d;
    int rc, i;
    rv_timer_off(0);
    rv_timer_off(1);
    RV_CSR_WRITE(mie, RV_MIP_MTIP);       /* hart 0: its timer ends a doze's wfi */
    rv_node = (int)rv_boot_word(RV_BOOT_NODE);
    rv_mode = rv_boot_word(RV_BOOT_MODE);
    rv_arg = rv_boot_word(RV_BOOT_ARG);
    rv_flags = rv_boot_word(RV_BOOT_FLAGS);
    if (rv_flags & RV_FLAG_ICOUNT) rv_unit = "instr";
    kprintf("cluster %d: uarea on riscv-virt, scenario %s; image %p..%p (user part %p..%p), "
            "container region %p (%u of %u bytes)\n",
            rv_node, rv_mode_name(rv_mode), (void *)__KERNEL_START, (void *)__IMAGE_END,
            (void *)__USER_START, (void *)__USER_END, (void *)UAREA_PORT_REGION_BASE(),
            (unsigned)UAREA_CONTAINER_SIZE, (unsigned)UAREA_MPPA256_REGION_MAX);
    if (!UAREA_MPPA256_IS_COMPUTE(rv_node) || rv_mode < DEMO_TOUR || rv_mode > DEMO_DAMAGED) {
        kprintf("FATAL: cluster %d: bad boot words (node %d, scenario %u)\n", rv_node, rv_node, rv_mode);
        rv_halt();
    }
    if (rv_ivshmem_map(&shm, &shm_size) != 0 || shm_size < RV_BOARD_OFFSET + sizeof(rv_board)) {
        kprintf("FATAL: cluster %d: no NoC (ivshmem-plain of at least %u bytes)\n", rv_node,
                (unsigned)(RV_BOARD_OFFSET + sizeof(rv_board)));
        rv_halt();
    }
    rc = ikc_shm_attach(shm, IKC_SHM_ARENA_SIZE, rv_node);
    if (rc != 0) {
        kprintf("FATAL: cluster %d: ikc_shm_attach: %d\n", rv_node, rc);
        rv_halt();
    }
    rv_bd = (rv_board *)((unsigned char *)shm + RV_BOARD_OFFSET);
    rv_me = &rv_bd->node[rv_node];
    kprintf("cluster %d: NoC: %llu KiB shared at %p (IKC arena %u bytes, board %u bytes)\n", rv_node,
            (unsigned long long)(shm_size >> 10), shm, (unsigned)IKC_SHM_ARENA_SIZE,
            (unsigned)sizeof(rv_board));
    __atomic_store_n(&rv_me->up, 1u, __ATOMIC_RELEASE);

    UAREA_MEMSET(&d, 0, sizeof d);
    rv_user.addr = (uintptr_t)__USER_DATA_START;
    rv_user.len = (size_t)(__USER_BSS_END - __USER_DATA_START);
    d.user = &rv_user;
    d.n_user = 1;
    /* every instance runs this image: the application's code and constants */
    d.binary_fp = ((uint64_t)migrate_crc32c(0, __USER_TEXT_START,
                                            (size_t)(__USER_RODATA_END - __USER_TEXT_START)) << 32) |
                  (uint32_t)(__IMAGE_END - __KERNEL_START);
    d.on_arrival = rv_on_arrival;
    d.on_end = rv_on_end;
    d.keep_running = rv_keep_running;
    d.trace = rv_trace;
    if (rv_node == DEMO_HOME) {
        rv_setup_demo(&demo_app);
        t0 = rv_mtime();
        n0 = rv_instret();
        rv_expected = rv_expected_result(&demo_app);
        kprintf("cluster %d: without migration (kernel, hart 0): result %016llx in %llu ticks / %llu %s\n",
                rv_node, (unsigned long long)rv_expected, (unsigned long long)(rv_mtime() - t0),
                (unsigned long long)(rv_instret() - n0), rv_unit);
        /* the clusters of the route are on the NoC before the container
         * leaves (an attach empties the node's IKC state) */
        for (i = 0; i < demo_app.n_route; i++) {
            int n = demo_app.route[i];
            uint64_t limit = rv_mtime() + 60ull * RV_MTIME_HZ;
            while (!__atomic_load_n(&rv_bd->node[n].up, __ATOMIC_ACQUIRE) && rv_mtime() < limit) {
            }
        }
        d.main = demo_main;
        rv_t_start = rv_mtime();
        kprintf("cluster %d: the container starts here\n", rv_node);
    }
    rc = uarea_mppa256_cluster_main(&d);
    kprintf("cluster %d: cluster main returned %d (%s)\n", rv_node, rc, rc < 0 ? uarea_strerror(rc) : "ok");
    rv_halt();
}
