/* The migration protocol with pre-copy in rounds: the first image goes
 * while the container runs, then rounds of what it wrote since the last
 * round, still running, until the policy of migrate_config says stop (the
 * round limit, a round not smaller than the last, a round small enough to
 * go frozen, the byte budget), then the freeze and the delta. Checked: the
 * destination runs exactly what the source held at the freeze, a round the
 * policy declined included; the statistics count the rounds and say why
 * they stopped; a late VERIFIED, ACCEPT or REQUEST of an earlier round
 * never passes for one of a later round; a refused round discards the whole
 * staged image; every fault on every packet and a crash of either side at
 * each send of a migration of several rounds keep the invariant (never two
 * live copies, exactly one unless the node holding the only copy died, with
 * the right contents, nothing staged left behind). */
#include "world.h"
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 29u
#define LIMIT_NS 10000000000ull /* 10 s of virtual time */
#define FIRST (8u + LEN)         /* the first (whole) pre-copy image */
#define ROUND(n) (16u + (n))     /* a round of n written bytes */

/* How the source's container writes and the source's policy. */
typedef struct plan {
    uint32_t wsz[W_WRITES_MAX];
    int rounds;                 /* migrate_config fields of the source */
    uint64_t small, budget;
    uint32_t shrink_pct;
} plan;

static const plan shrinking = {.wsz = {8000, 4000, 2000}, .small = 1};

static world *rounds_world(const noc_loopback_faults *faults, const plan *p)
{
    world *w = w_new(2, faults);
    w_fill(w, 0, LEN, SEED);
    w->f[0].precopy = w->f[1].precopy = 1;
    memcpy(w->f[0].wsz, p->wsz, sizeof p->wsz);
    w->d[0].cfg.precopy_rounds = p->rounds;
    w->d[0].cfg.precopy_small_bytes = p->small;
    w->d[0].cfg.precopy_budget_bytes = p->budget;
    w->d[0].cfg.precopy_shrink_pct = p->shrink_pct;
    return w;
}

/* Moves the container 0 -> 1 without faults; the stats of both sides. */
static world *clean_move(const plan *p, migrate_stats *src, migrate_stats *dst)
{
    world *w = rounds_world(NULL, p);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w->f[1].has, "the container moved");
    cr_assert_eq(w->f[1].len, LEN);
    cr_assert(memcmp(w->f[1].data, w->f[0].golden, LEN) == 0, "the contents at the freeze");
    cr_assert_eq(migrate_daemon_last(&w->d[0], src), 0);
    cr_assert_eq(migrate_daemon_last(&w->d[1], dst), 0);
    cr_assert_eq(src->precopy_rounds, dst->precopy_rounds, "both sides count the rounds");
    cr_assert_eq(src->precopy_bytes, dst->precopy_bytes, "both sides count the bytes");
    cr_assert_eq(src->precopy_stop, dst->precopy_stop, "both sides know why the rounds stopped");
    cr_assert_eq(dst->bytes, src->bytes, "the delta");
    cr_assert_eq(w->f[1].staged, 0);
    return w;
}

static void check_one_copy(world *w, const char *what)
{
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    cr_assert_eq(w->f[where].len, LEN, "%s", what);
    cr_assert(memcmp(w->f[where].data, w->f[0].golden, LEN) == 0, "%s: contents wrong on node %d",
              what, where);
    cr_assert_eq(w->f[where == 0 ? 1 : 0].has, 0, "%s", what);
    cr_assert_eq(w->f[1].got, 0, "%s: destination staging not wiped", what);
    cr_assert_eq(w->f[1].staged, 0, "%s: a staged pre-copy image is left behind", what);
    int r0 = migrate_daemon_last(&w->d[0], NULL);
    if (where == 1) cr_assert_eq(r0, 0, "%s: container moved but source says %d", what, r0);
    else cr_assert_neq(r0, 0, "%s: source says committed but kept it", what);
}

Test(protocol_rounds, rounds_follow_the_writes_until_nothing_is_written)
{
    plan p = {.wsz = {8000, 4000, 2000, 1000}, .small = 1};
    migrate_stats s, d;
    world *w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 5, "the whole image and four rounds");
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_SMALL, "nothing written: stop");
    cr_assert_eq(s.precopy_bytes, FIRST + ROUND(8000) + ROUND(4000) + ROUND(2000) + ROUND(1000));
    cr_assert_eq(s.bytes, ROUND(W_MUT_HI - W_MUT_LO), "frozen: what was written since");
    cr_assert_eq(d.precopy_stop, MIGRATE_PRECOPY_STOP_SMALL, "COMMIT told the destination why");
    cr_assert_eq(w->f[0].nexts, 5);
    cr_assert_eq(w->f[1].activated, 1);
    w_free(w);
}

Test(protocol_rounds, a_round_not_smaller_than_the_last_stops_and_goes_in_the_delta)
{
    plan p = {.wsz = {4000, 4000, 4000}, .small = 1};
    migrate_stats s, d;
    world *w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 2);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_NOT_SHRINKING);
    cr_assert_eq(s.precopy_bytes, FIRST + ROUND(4000));
    /* the declined round [2064, 6064) and the freeze's write [1000, 5096) */
    cr_assert_eq(s.bytes, ROUND(6064 - 1000));
    w_free(w);

    /* a looser ratio lets rounds of equal size go */
    p.shrink_pct = 101;
    p.rounds = 3;
    w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 3);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_LIMIT);
    w_free(w);
}

Test(protocol_rounds, the_round_limit)
{
    plan p = {.wsz = {8000, 4000, 2000, 1000}, .small = 1, .rounds = 3};
    migrate_stats s, d;
    world *w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 3);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_LIMIT);
    cr_assert_eq(w->f[0].nexts, 2, "at the limit the container is not asked");
    cr_assert_eq(s.precopy_bytes, FIRST + ROUND(8000) + ROUND(4000));
    cr_assert_eq(s.bytes, ROUND(W_MUT_HI - W_MUT_LO));
    w_free(w);

    /* 1: one pre-copy image, as without rounds */
    p.rounds = 1;
    w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 1);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_LIMIT);
    cr_assert_eq(w->f[0].nexts, 0);
    cr_assert_eq(s.precopy_bytes, FIRST);
    w_free(w);
}

Test(protocol_rounds, the_byte_budget)
{
    plan p = {.wsz = {8000, 4000, 2000, 1000}, .small = 1, .budget = FIRST + ROUND(8000) + 100};
    migrate_stats s, d;
    world *w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 2);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_BUDGET);
    cr_assert_eq(s.precopy_bytes, FIRST + ROUND(8000));
    /* the declined round [2064, 6064) goes frozen with [1000, 5096) */
    cr_assert_eq(s.bytes, ROUND(6064 - 1000));
    w_free(w);

    /* the default: three first images (rounds that shrink slowly) */
    plan slow = {.wsz = {27000, 26000, 25000, 24000, 23000}, .small = 1};
    w = clean_move(&slow, &s, &d);
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_BUDGET);
    cr_assert_leq(s.precopy_bytes, 3u * FIRST);
    cr_assert_eq(s.precopy_rounds, 3, "30008 + 27016 + 26016 = 83040; + 25016 > 90024");
    w_free(w);
}

Test(protocol_rounds, by_default_a_small_round_goes_frozen)
{
    plan p = {.wsz = {8000, 4000}};
    migrate_stats s, d;
    world *w = clean_move(&p, &s, &d);
    cr_assert_eq(s.precopy_rounds, 1, "8016 bytes are under MIGRATE_PRECOPY_SMALL");
    cr_assert_eq(s.precopy_stop, MIGRATE_PRECOPY_STOP_SMALL);
    cr_assert_eq(s.bytes, ROUND(10000 - 1000), "the written 8000 go frozen");
    w_free(w);
}

/* Steps the two daemons (no faults) until `until` holds; 1 if it did. */
static int drive(world *w, int (*until)(world *))
{
    for (int i = 0; i < 200000; i++) {
        if (until(w)) return 1;
        migrate_daemon_step(&w->d[0]);
        if (until(w)) return 1;
        migrate_daemon_step(&w->d[1]);
        if (!noc_loopback_step(&w->lb)) noc_loopback_advance(&w->lb, 100000);
    }
    return 0;
}

static int src_waits_round3(world *w)
{
    return w->d[0].mig.phase == MIGRATE_PHASE_PRECOPY && w->d[0].mig.round == 3 &&
           w->d[0].mig.state == MIGRATE_S_VERIFY;
}
static int src_requests_round3(world *w)
{
    return w->d[0].mig.round == 3 && w->d[0].mig.state == MIGRATE_S_REQUEST;
}
static int dst_staged_round2(world *w)
{
    return w->d[1].mig.state == MIGRATE_R_STAGED && w->d[1].mig.round == 2;
}
static int dst_staged_round1(world *w)
{
    return w->d[1].mig.state == MIGRATE_R_STAGED && w->d[1].mig.round == 1;
}

static migrate_msg msg_from(world *w, int from, uint8_t op, uint64_t round, uint16_t flags)
{
    migrate_msg m;
    memset(&m, 0, sizeof m);
    m.op = op;
    m.mid = w->d[0].mig.mid;
    m.from = from; m.src = 0; m.dst = 1; m.ctrl = -1;
    m.stamp = round;
    m.flags = flags;
    return m;
}

Test(protocol_rounds, a_late_verified_or_accept_of_an_earlier_round_is_stale)
{
    world *w = rounds_world(NULL, &shrinking);
    migrate_msg m;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(drive(w, src_requests_round3), "round 3 never requested");
    /* an ACCEPT of round 2 while round 3 waits for its own */
    m = msg_from(w, 1, MIGRATE_OP_ACCEPT, 2, 0);
    migrate__on_msg(&w->d[0], &m);
    cr_assert_eq(w->d[0].mig.state, MIGRATE_S_REQUEST, "a stale ACCEPT opened the portal");
    cr_assert(drive(w, src_waits_round3), "round 3 never sent");
    /* a VERIFIED of round 2 while round 3's is due */
    m = msg_from(w, 1, MIGRATE_OP_VERIFIED, 2, MIGRATE_OFFER_PRE);
    migrate__on_msg(&w->d[0], &m);
    cr_assert_eq(w->d[0].mig.state, MIGRATE_S_VERIFY, "a stale VERIFIED moved the source on");
    cr_assert_eq(w->d[0].mig.round, 3);
    cr_assert(w_run(w, LIMIT_NS));
    check_one_copy(w, "after stale messages");
    cr_assert(w->f[1].has);
    w_free(w);
}

Test(protocol_rounds, a_late_request_of_an_earlier_round_is_not_a_new_round)
{
    world *w = rounds_world(NULL, &shrinking);
    migrate_msg m;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(drive(w, dst_staged_round2), "round 2 never staged");
    m = msg_from(w, 0, MIGRATE_OP_REQUEST, 2, MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA);
    m.size = ROUND(8000); m.layout_fp = W_LAYOUT_FP; m.binary_fp = W_BINARY_FP;
    migrate__on_msg(&w->d[1], &m);
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_STAGED, "a duplicate REQUEST was taken again");
    cr_assert_eq(w->d[1].mig.round, 2);
    /* nor does a delta that skips a round pass */
    m = msg_from(w, 0, MIGRATE_OP_REQUEST, 4, MIGRATE_OFFER_DELTA);
    m.size = 100; m.layout_fp = W_LAYOUT_FP; m.binary_fp = W_BINARY_FP;
    migrate__on_msg(&w->d[1], &m);
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_STAGED);
    cr_assert(w_run(w, LIMIT_NS));
    check_one_copy(w, "after stale requests");
    cr_assert(w->f[1].has);
    w_free(w);
}

Test(protocol_rounds, a_refused_round_discards_the_whole_staged_image)
{
    world *w = rounds_world(NULL, &shrinking);
    migrate_stats s;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(drive(w, dst_staged_round1), "round 1 never staged");
    cr_assert_eq(w->f[1].staged, 1);
    w->f[1].accept_rc = UAREA_ENOMEM;       /* the next round is refused */
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(w->f[1].discarded, 1, "the staged image was discarded");
    check_one_copy(w, "refused round");
    cr_assert_eq(w_live(w, NULL), 1);
    cr_assert(w->f[0].has, "the source runs on");
    cr_assert_eq(migrate_daemon_last(&w->d[0], &s), UAREA_ENOMEM);
    cr_assert_eq(s.precopy_rounds, 1);
    w_free(w);
}

/* ---- faults over a migration of four pre-copy images and the delta ---- */
static w_counts rounds_counts(void)
{
    world *w = rounds_world(NULL, &shrinking);
    noc_loopback_stats a, b;
    w_counts c;
    migrate_stats s;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(migrate_daemon_last(&w->d[0], &s), 0);
    cr_assert_eq(s.precopy_rounds, 4, "the sweep covers several rounds");
    cr_assert_eq(noc_loopback_get_stats(&w->lb, 0, &a), 0);
    cr_assert_eq(noc_loopback_get_stats(&w->lb, 1, &b), 0);
    c.m01 = (uint32_t)a.msgs_sent;
    c.c01 = (uint32_t)a.chunks_sent;
    c.m10 = (uint32_t)b.msgs_sent;
    c.s0 = (uint32_t)(a.msgs_sent + a.chunks_sent);
    c.s1 = (uint32_t)b.msgs_sent;
    w_free(w);
    return c;
}

static void one_fault(int fault, unsigned kind, int src, int dst, uint32_t nth, uint64_t arg)
{
    char what[96];
    world *w = rounds_world(NULL, &shrinking);
    snprintf(what, sizeof what, "fault %d kind %u %d->%d #%u", fault, kind, src, dst, nth);
    cr_assert_geq(noc_loopback_script(&w->lb, fault, kind, src, dst, nth, arg), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    check_one_copy(w, what);
    if (fault == NOC_LB_DUP || fault == NOC_LB_DELAY)
        cr_assert(w->f[1].has, "%s: a harmless fault stopped the migration", what);
    w_free(w);
}

Test(protocol_rounds, every_fault_on_every_packet, .timeout = 600)
{
    w_counts c = rounds_counts();
    cr_log_info("messages 0->1 %u, 1->0 %u, chunks %u", c.m01, c.m10, c.c01);
    cr_assert_geq(c.m01, 6, "PREPARE, five REQUESTs and COMMIT at least");
    cr_assert_geq(c.m10, 10, "five ACCEPTs and five VERIFIEDs at least");
    w_every_fault(&c, one_fault);
}

static void one_crash(int victim, uint32_t nth, uint32_t sends_of_victim)
{
    char what[64];
    world *w = rounds_world(NULL, &shrinking);
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
        cr_assert(memcmp(w->f[0].data, w->f[0].golden, LEN) == 0, "%s", what);
    } else if (nth == sends_of_victim) {
        /* the source died sending COMMIT, after the commit point */
        cr_assert_eq(live, 1, "%s: container lost after commit point", what);
        cr_assert_eq(where, 1, "%s", what);
        cr_assert(memcmp(w->f[1].data, w->f[0].golden, LEN) == 0, "%s", what);
    } else {
        /* the source died holding the only copy: the destination runs
         * nothing, neither a staged round nor an unverified delta */
        cr_assert_eq(live, 0, "%s: destination ran a copy it may not run", what);
        cr_assert_eq(w->f[1].got, 0, "%s: destination not wiped", what);
        cr_assert_eq(w->f[1].staged, 0, "%s: staged image left behind", what);
    }
    w_free(w);
}

Test(protocol_rounds, crash_of_either_side_at_each_send, .timeout = 600)
{
    w_counts c = rounds_counts();
    w_every_crash(&c, one_crash);
}

Test(protocol_rounds, random_faults_over_many_seeds, .timeout = 600)
{
    int moved = 0, several = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        noc_loopback_faults f = {.seed = seed, .drop_ppm = 30000, .dup_ppm = 30000,
                                 .delay_ppm = 30000, .corrupt_ppm = 30000};
        char what[32];
        migrate_stats s;
        world *w = rounds_world(&f, &shrinking);
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
        check_one_copy(w, what);
        moved += w->f[1].has;
        if (w->f[1].has && migrate_daemon_last(&w->d[0], &s) == 0 && s.precopy_rounds > 1)
            several++;
        w_free(w);
    }
    cr_assert_gt(moved, 0, "some migrations must get through 3%% faults");
    cr_assert_gt(several, 0, "some of them in several rounds");
}
