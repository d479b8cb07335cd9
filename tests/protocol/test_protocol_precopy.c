/* The migration protocol with pre-copy: the first image goes while the
 * container runs, the container writes meanwhile, the delta goes during the
 * freeze. Checked: the destination runs exactly what the source held at the
 * freeze; every fault on every packet and a crash of either side at each
 * send keep the protocol's invariant (never two live copies, exactly one
 * unless the node holding the only copy died, its contents right, a
 * destination that did not take the container left empty, a staged
 * pre-copy image included); a late VERIFIED of the staged image never
 * passes for the verification of the delta; a node without pre-copy
 * support, or a stop-and-copy configuration, moves the container in one
 * image. */
#include "world.h"
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 23u
#define LIMIT_NS 10000000000ull /* 10 s of virtual time */

static world *pre_world(const noc_loopback_faults *faults)
{
    world *w = w_new(2, faults);
    w_fill(w, 0, LEN, SEED);
    w->f[0].precopy = 1;
    w->f[1].precopy = 1;
    return w;
}

/* The contents a copy must have: as filled, plus the bytes the container
 * wrote while its pre-copy image was out (if it got that far). */
static int right_contents(const world *w, int node, int mutated)
{
    fake expect;
    const fake *f = &w->f[node];
    uint32_t x = SEED * 2654435761u + 1;
    if (f->len != LEN) return 0;
    for (uint32_t i = 0; i < LEN; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        expect.data[i] = (uint8_t)x;
        if (mutated && i >= W_MUT_LO && i < W_MUT_HI) expect.data[i] ^= 0xa5;
    }
    return memcmp(expect.data, f->data, LEN) == 0;
}

static void check_one_copy(world *w, const char *what)
{
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    cr_assert(right_contents(w, where, w->f[0].mutated), "%s: contents wrong on node %d", what,
              where);
    int other = where == 0 ? 1 : 0;
    cr_assert_eq(w->f[other].has, 0, "%s", what);
    cr_assert_eq(w->f[1].got, 0, "%s: destination staging not wiped", what);
    cr_assert_eq(w->f[1].staged, 0, "%s: a staged pre-copy image is left behind", what);
    int r0 = migrate_daemon_last(&w->d[0], NULL);
    if (where == 1) cr_assert_eq(r0, 0, "%s: container moved but source says %d", what, r0);
    else cr_assert_neq(r0, 0, "%s: source says committed but kept it", what);
}

Test(protocol_precopy, the_destination_runs_what_the_source_held_at_the_freeze)
{
    world *w = pre_world(NULL);
    migrate_stats st;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    check_one_copy(w, "clean");
    cr_assert(w->f[1].has, "the container moved");
    cr_assert(w->f[0].mutated, "the source wrote after its pre-copy image went out");
    cr_assert_eq(w->f[1].activated, 1);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.precopy_bytes, 8 + (uint64_t)LEN, "the whole first image, before the freeze");
    cr_assert_eq(st.bytes, 16 + (uint64_t)(W_MUT_HI - W_MUT_LO), "only what changed, frozen");
    cr_assert_eq(migrate_daemon_last(&w->d[0], &st), 0);
    cr_assert_eq(st.precopy_bytes, 8 + (uint64_t)LEN);
    cr_assert_gt(st.downtime_ns + 1, 0);
    w_free(w);
}

/* The source's freeze time is the freeze's own (it counted from the start
 * of the migration, so the whole first phase was in it): here the first
 * phase lasts over a timeout (its VERIFIED is lost once), the freeze three
 * polls. */
Test(protocol_precopy, the_freeze_time_does_not_include_the_first_image)
{
    migrate_stats st;
    world *w = pre_world(NULL);
    w->f[0].freeze_polls = 3;
    /* messages 1 -> 0: ACCEPT, then VERIFIED(PRE): lost */
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 1, 0, 2, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(migrate_daemon_last(&w->d[0], &st), 0);
    cr_assert_gt(st.precopy_bytes, 0);
    cr_assert_gt(st.total_ns, 2000000u, "the first phase waited out a timeout");
    cr_assert_gt(st.freeze_ns, 0);
    cr_assert_lt(st.freeze_ns, 1000000u, "freeze %llu ns", (unsigned long long)st.freeze_ns);
    w_free(w);
}

Test(protocol_precopy, without_support_or_when_switched_off_one_image_moves)
{
    world *w = pre_world(NULL);
    migrate_stats st;
    w->f[0].precopy = 0;                        /* precopy_begin: UAREA_ENOSYS */
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w->f[1].has);
    cr_assert(right_contents(w, 1, 0));
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.precopy_bytes, 0);
    cr_assert_eq(st.bytes, 8 + (uint64_t)LEN);
    w_free(w);

    w = pre_world(NULL);
    w->d[0].cfg.no_precopy = 1;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w->f[1].has);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.precopy_bytes, 0);
    w_free(w);
}

static void one_fault(int fault, unsigned kind, int src, int dst, uint32_t nth, uint64_t arg)
{
    char what[96];
    world *w = pre_world(NULL);
    snprintf(what, sizeof what, "fault %d kind %u %d->%d #%u", fault, kind, src, dst, nth);
    cr_assert_geq(noc_loopback_script(&w->lb, fault, kind, src, dst, nth, arg), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    check_one_copy(w, what);
    if (fault == NOC_LB_DUP || fault == NOC_LB_DELAY)
        cr_assert(w->f[1].has, "%s: a harmless fault stopped the migration", what);
    w_free(w);
}

Test(protocol_precopy, every_fault_on_every_packet)
{
    w_counts c = w_clean_counts(LEN, SEED, 1);
    cr_assert_geq(c.m01, 4, "PREPARE, two REQUESTs and COMMIT at least");
    cr_assert_geq(c.m10, 4, "two ACCEPTs and two VERIFIEDs at least");
    w_every_fault(&c, one_fault);
}

static void one_crash(int victim, uint32_t nth, uint32_t sends_of_victim)
{
    char what[64];
    world *w = pre_world(NULL);
    int where = -1;
    snprintf(what, sizeof what, "crash node %d at send %u", victim, nth);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_CRASH, NOC_LB_ANY, victim, -1, nth, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    cr_assert(w->dead[victim], "%s: the crash did not happen", what);
    int live = w_live(w, &where);
    cr_assert_leq(live, 1, "%s: two copies run", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    if (victim == 1) {
        cr_assert_eq(live, 1, "%s: container lost", what);
        cr_assert_eq(where, 0, "%s", what);
        cr_assert(right_contents(w, 0, w->f[0].mutated), "%s", what);
    } else if (nth == sends_of_victim) {
        /* the source died sending COMMIT, after the commit point */
        cr_assert_eq(live, 1, "%s: container lost after commit point", what);
        cr_assert_eq(where, 1, "%s", what);
        cr_assert(right_contents(w, 1, 1), "%s", what);
    } else {
        /* the source died holding the only copy: the destination runs
         * nothing, neither a staged pre-copy image nor an unverified delta */
        cr_assert_eq(live, 0, "%s: destination ran a copy it may not run", what);
        cr_assert_eq(w->f[1].got, 0, "%s: destination not wiped", what);
        cr_assert_eq(w->f[1].staged, 0, "%s: staged image left behind", what);
    }
    w_free(w);
}

Test(protocol_precopy, crash_of_either_side_at_each_send)
{
    w_counts c = w_clean_counts(LEN, SEED, 1);
    w_every_crash(&c, one_crash);
}

Test(protocol_precopy, random_faults_over_many_seeds)
{
    int moved = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        noc_loopback_faults f = {.seed = seed, .drop_ppm = 40000, .dup_ppm = 40000,
                                 .delay_ppm = 40000, .corrupt_ppm = 40000};
        char what[32];
        world *w = pre_world(&f);
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
        check_one_copy(w, what);
        moved += w->f[1].has;
        w_free(w);
    }
    cr_assert_gt(moved, 0, "some migrations must get through 4%% faults");
}

/* The source waits for the verification of the delta; a VERIFIED of the
 * staged pre-copy image (late, duplicated) arrives then: it must not be
 * taken for it, or the source would drop its container while the
 * destination holds an unverified one. */
Test(protocol_precopy, a_late_verified_of_the_staged_image_does_not_commit)
{
    world *w = pre_world(NULL);
    migrate_msg stale;
    int reached = 0;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 200000 && !reached; i++) {
        migrate_daemon_step(&w->d[0]);
        reached = w->d[0].mig.phase == MIGRATE_PHASE_DELTA && w->d[0].mig.state == MIGRATE_S_VERIFY;
        if (reached) break;
        migrate_daemon_step(&w->d[1]);
        if (!noc_loopback_step(&w->lb)) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert(reached, "the source never waited for the delta's verification");
    memset(&stale, 0, sizeof stale);
    stale.op = MIGRATE_OP_VERIFIED;
    stale.mid = w->d[0].mig.mid;
    stale.from = 1; stale.src = 0; stale.dst = 1; stale.ctrl = -1;
    stale.flags = MIGRATE_OFFER_PRE;
    migrate__on_msg(&w->d[0], &stale);
    cr_assert_eq(w->d[0].mig.state, MIGRATE_S_VERIFY, "a stale VERIFIED moved the source on");
    cr_assert_eq(w->f[0].dropped, 0, "the source dropped its container on a stale VERIFIED");
    /* the real one still completes the migration */
    cr_assert(w_run(w, LIMIT_NS));
    check_one_copy(w, "after a stale VERIFIED");
    cr_assert(w->f[1].has);
    w_free(w);
}

/* An image that claims to be a delta with nothing staged is refused. */
Test(protocol_precopy, a_delta_without_a_staged_image_is_refused)
{
    world *w = pre_world(NULL);
    migrate_msg req;
    memset(&req, 0, sizeof req);
    req.op = MIGRATE_OP_REQUEST;
    req.mid = 0x00000077u;
    req.from = 0; req.src = 0; req.dst = 1; req.ctrl = -1;
    req.size = 100; req.layout_fp = W_LAYOUT_FP; req.binary_fp = W_BINARY_FP;
    req.flags = MIGRATE_OFFER_DELTA;
    migrate__on_msg(&w->d[1], &req);
    cr_assert_eq(w->d[1].mig.state, MIGRATE_IDLE);
    cr_assert_eq(migrate_daemon_last(&w->d[1], NULL), UAREA_EPROTO);
    cr_assert_eq(w->f[1].got, 0);
    w_free(w);
}
