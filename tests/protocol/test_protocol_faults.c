/* The migration protocol under every fault of the loopback transport: each
 * kind (drop, duplicate, delay/reorder, corrupt) on each packet of a migration
 * in either direction, a crash of either side at each of its sends, and random
 * faults over many seeds. Every run checks the invariant: never two live
 * copies; exactly one when no node holding the only copy died; its contents
 * intact; a destination that did not take the container is left empty. */
#include "world.h"
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 11u
#define LIMIT_NS 10000000000ull /* 10 s of virtual time */

/* The invariant after a migration settled, no node dead. */
static void check_one_copy(world *w, const char *what)
{
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    cr_assert(w_intact(w, where, LEN, SEED), "%s: contents damaged", what);
    int other = where == 0 ? 1 : 0;
    cr_assert_eq(w->f[other].has, 0, "%s", what);
    cr_assert_eq(w->f[1].got, 0, "%s: destination staging not wiped", what);
    /* the source's verdict agrees with where the container is */
    int r0 = migrate_daemon_last(&w->d[0], NULL);
    if (where == 1) cr_assert_eq(r0, 0, "%s: container moved but source says %d", what, r0);
    else cr_assert_neq(r0, 0, "%s: source says committed but kept it", what);
}

static void one_fault(int fault, unsigned kind, int src, int dst, uint32_t nth, uint64_t arg)
{
    char what[96];
    world *w = w_new(2, NULL);
    snprintf(what, sizeof what, "fault %d kind %u %d->%d #%u", fault, kind, src, dst, nth);
    w_fill(w, 0, LEN, SEED);
    cr_assert_geq(noc_loopback_script(&w->lb, fault, kind, src, dst, nth, arg), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    check_one_copy(w, what);
    /* everything that must succeed despite the fault did */
    if (fault == NOC_LB_DUP || fault == NOC_LB_DELAY)
        cr_assert(w->f[1].has, "%s: a harmless fault stopped the migration", what);
    w_free(w);
}

Test(protocol_faults, every_fault_on_every_packet)
{
    w_counts c = w_clean_counts(LEN, SEED, 0);
    cr_assert_geq(c.m01, 2, "REQUEST and COMMIT at least");
    cr_assert_geq(c.c01, 8, "the image takes several chunks");
    cr_assert_geq(c.m10, 2, "ACCEPT and VERIFIED at least");
    w_every_fault(&c, one_fault);
}

static void one_crash(int victim, uint32_t nth, uint32_t sends_of_victim)
{
    char what[64];
    world *w = w_new(2, NULL);
    int where = -1;
    snprintf(what, sizeof what, "crash node %d at send %u", victim, nth);
    w_fill(w, 0, LEN, SEED);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_CRASH, NOC_LB_ANY, victim, -1, nth, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    cr_assert(w->dead[victim], "%s: the crash did not happen", what);
    int live = w_live(w, &where);
    cr_assert_leq(live, 1, "%s: two copies run", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    if (victim == 1) {
        /* the destination died: the source must run on, intact */
        cr_assert_eq(live, 1, "%s: container lost", what);
        cr_assert_eq(where, 0, "%s", what);
        cr_assert(w_intact(w, 0, LEN, SEED), "%s", what);
    } else if (nth == sends_of_victim) {
        /* the source died sending COMMIT, after the commit point: the
         * destination holds the verified copy and takes over */
        cr_assert_eq(live, 1, "%s: container lost after commit point", what);
        cr_assert_eq(where, 1, "%s", what);
        cr_assert(w_intact(w, 1, LEN, SEED), "%s", what);
    } else {
        /* the source died holding the only copy; the destination must not
         * run a copy it never verified */
        cr_assert_eq(live, 0, "%s: destination ran an unverified copy", what);
        cr_assert_eq(w->f[1].got, 0, "%s: destination not wiped", what);
    }
    w_free(w);
}

Test(protocol_faults, crash_of_either_side_at_each_send)
{
    w_counts c = w_clean_counts(LEN, SEED, 0);
    w_every_crash(&c, one_crash);
}

Test(protocol_faults, lost_commit_is_answered_from_history)
{
    world *w = w_new(2, NULL);
    int where = -1;
    w_fill(w, 0, LEN, SEED);
    /* COMMIT (the source's last message) is lost after the source dropped its
     * copy: the destination asks again (VERIFIED) and the source, which
     * remembers the outcome, answers with COMMIT. */
    w_counts c = w_clean_counts(LEN, SEED, 0);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, c.m01, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    /* run until the source committed */
    for (int i = 0; i < 100000 && migrate_daemon_last(&w->d[0], NULL) == UAREA_EAGAIN; i++) {
        migrate_daemon_step(&w->d[0]);
        migrate_daemon_step(&w->d[1]);
        if (!noc_loopback_step(&w->lb)) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), 0);
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_COMMIT);
    /* the retransmitted VERIFIED is answered with COMMIT */
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(w_live(w, &where), 1, "dst: discarded %d activated %d result %d",
                 w->f[1].discarded, w->f[1].activated, migrate_daemon_last(&w->d[1], NULL));
    cr_assert_eq(w->f[1].activated, 1);
    cr_assert_eq(where, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    w_free(w);
}

Test(protocol_faults, random_faults_over_many_seeds)
{
    int moved = 0, kept = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        noc_loopback_faults f = {.seed = seed, .drop_ppm = 40000, .dup_ppm = 40000,
                                 .delay_ppm = 40000, .corrupt_ppm = 40000};
        char what[32];
        world *w = w_new(2, &f);
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        w_fill(w, 0, LEN, SEED);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
        check_one_copy(w, what);
        if (w->f[1].has) moved++;
        else kept++;
        w_free(w);
    }
    cr_assert_gt(moved, 0, "some migrations must get through 4%% faults");
    cr_log_info("random faults: %d moved, %d aborted safely", moved, kept);
}

Test(protocol_faults, same_seed_same_trace)
{
    uint64_t h[2];
    for (int r = 0; r < 2; r++) {
        noc_loopback_faults f = {.seed = 5, .drop_ppm = 50000, .delay_ppm = 50000};
        world *w = w_new(2, &f);
        w_fill(w, 0, LEN, SEED);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS));
        h[r] = noc_loopback_trace_hash(&w->lb);
        w_free(w);
    }
    cr_assert_eq(h[0], h[1]);
}

/* The source gives up while its last chunk is still on the wire (delayed past
 * the source's timeout), and its first ABORTs are lost: the late chunk lands
 * and the destination, which waits longer, verifies a complete copy. The
 * source must stay frozen until the destination confirms it discarded. */
static world *late_last_chunk(void)
{
    w_counts c = w_clean_counts(LEN, SEED, 0);
    w_slow_nodes = 2; /* the destination waits longer than the source */
    world *w = w_new(2, NULL);
    w_slow_nodes = 0;
    w_fill(w, 0, LEN, SEED);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DELAY, NOC_LB_CHUNK, 0, 1, c.c01,
                                      10000000 /* 10 ms, past the 2 ms timeout */), 0);
    /* messages 0 -> 1: PREPARE, REQUEST, then ABORT, repeated once per
     * 2 ms timeout: the first five are lost, so that the chunk (sent about
     * 2 ms before the source gave up, 10 ms late) lands first. The source
     * leaves its write out while it aborts (the transport may not be able
     * to take it back), so only lost ABORTs let the late chunk win. */
    for (int k = 3; k <= 7; k++)
        cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, k, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 1000000 && w->d[1].mig.state != MIGRATE_R_COMMIT; i++) {
        /* time passes in small steps (noc_loopback_step would jump straight
         * to the late chunk) */
        migrate_daemon_step(&w->d[0]);
        migrate_daemon_step(&w->d[1]);
        noc_loopback_advance(&w->lb, 50000);
    }
    cr_assert_eq(w->d[0].mig.state, MIGRATE_S_ABORT, "the source gave up on the late chunk");
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_COMMIT, "the destination verified the late image");
    cr_assert(w->f[0].frozen, "an aborting source stays frozen until confirmed");
    return w;
}

Test(protocol_faults, aborting_source_waits_for_confirmation)
{
    world *w = late_last_chunk();
    int where = -1;
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0, "the source runs on after the destination confirmed");
    cr_assert(w_intact(w, 0, LEN, SEED));
    cr_assert_eq(w->f[1].has, 0);
    cr_assert_eq(w->f[1].got, 0);
    cr_assert_eq(w->f[1].discarded, 1);
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_ETIMEDOUT);
    w_free(w);
}

Test(protocol_faults, source_dying_while_aborting_leaves_the_latest_copy)
{
    world *w = late_last_chunk();
    int where = -1;
    /* the source dies before any ABORT got through: it never ran after the
     * image was taken, so the copy the destination verified is the latest
     * state, and the destination takes over when it learns of the death */
    cr_assert_eq(noc_loopback_crash(&w->lb, 0), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert_eq(w->f[1].activated, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    cr_assert_eq(w->f[0].unfrozen, 0, "the source never ran after the image was taken");
    w_free(w);
}

/* A message is taken from the node it names only when the transport says
 * that node sent it: node 2 forges an ABORT "from" the source while the
 * destination receives the image; the destination drops it and the
 * migration completes (it used to discard the image and the migration
 * failed). */
Test(protocol_faults, a_forged_sender_is_dropped)
{
    world *w = w_new(3, NULL);
    int where = -1, out;
    uint32_t dropped;
    migrate_msg m;
    uint8_t buf[MIGRATE_MSG_SIZE];
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 100000 && w->d[1].mig.state != MIGRATE_R_RECV; i++) {
        migrate_daemon_step(&w->d[0]);
        migrate_daemon_step(&w->d[1]);
        if (!noc_loopback_step(&w->lb)) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_RECV);
    memset(&m, 0, sizeof m);
    m.op = MIGRATE_OP_ABORT;
    m.mid = w->d[1].mig.mid;
    m.from = 0;                       /* claims to be the source */
    m.src = 0;
    m.dst = 1;
    m.ctrl = -1;
    m.status = UAREA_EABORTED;
    migrate_msg_encode(&m, buf);
    out = noc_mailbox_open(&w->t[2], 1, MIGRATE_MAILBOX_PORT);
    cr_assert_geq(out, 0);
    dropped = w->d[1].stats.msgs_dropped;
    cr_assert_eq(noc_mailbox_write(&w->t[2], out, buf, sizeof buf, 0), (int)sizeof buf);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_gt(w->d[1].stats.msgs_dropped, dropped, "the forgery was not dropped");
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1, "the forged ABORT stopped the migration");
    cr_assert(w_intact(w, 1, LEN, SEED));
    w_free(w);
}
