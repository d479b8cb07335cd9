/* The migration protocol on the loopback transport without faults: the happy
 * path, every refusal, controller requests, parallel and conflicting
 * migrations, the message codec. */
#include "world.h"
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 7u

/* The source's last migration ended with `result`, and the one running copy
 * of the container is on `node`. */
static void ends_with(world *w, int result, int node)
{
    int where = -1;
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), result);
    cr_assert_eq(w_live(w, &where), 1, "one running copy");
    cr_assert_eq(where, node);
}

Test(protocol, moves_container_and_reports_stats)
{
    world *w = w_new(2, NULL);
    migrate_stats src, dst;
    w_fill(w, 0, LEN, SEED);
    w->f[0].freeze_polls = 3;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(migrate_daemon_busy(&w->d[0]));
    cr_assert(w_run(w, 1000000000ull));
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    cr_assert_eq(w->f[0].has, 0, "the source dropped its copy");
    cr_assert_eq(w->f[0].dropped, 1);
    cr_assert_eq(w->f[0].unfrozen, 0, "the source never ran again");
    cr_assert_eq(w->f[1].activated, 1);
    cr_assert_eq(migrate_daemon_last(&w->d[0], &src), 0);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &dst), 0);
    cr_assert_eq(src.bytes, LEN + 8);
    cr_assert_eq(dst.bytes, LEN + 8);
    cr_assert_eq(src.mid, dst.mid);
    cr_assert_eq(src.src, 0);
    cr_assert_eq(dst.dst, 1);
    cr_assert_gt(src.freeze_ns, 0, "freezing took three polls of virtual time");
    cr_assert_gt(dst.transfer_ns, 0);
    cr_assert_gt(dst.downtime_ns, dst.transfer_ns, "downtime covers transfer and commit");
    cr_assert_geq(src.total_ns, src.freeze_ns);
    w_free(w);
}

/* PREPARE goes out before the freeze: the destination, still idle, polls
 * (migrate_daemon_alert) for MIGRATE_ALERT_NS, then stops; a migration that
 * reaches it clears the alert. A PREPARE that names another node is ignored. */
Test(protocol, prepare_alerts_the_destination_before_the_freeze)
{
    world *w = w_new(3, NULL);
    w_fill(w, 0, LEN, SEED);
    w->f[0].freeze_polls = 1000000;          /* the freeze does not end here */
    cr_assert_eq(migrate_daemon_alert(&w->d[1]), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 100 && !migrate_daemon_alert(&w->d[1]); i++) {
        migrate_daemon_step(&w->d[0]);
        (void)noc_loopback_step(&w->lb);
        migrate_daemon_step(&w->d[1]);
    }
    cr_assert_eq(migrate_daemon_alert(&w->d[1]), 1, "PREPARE reached the destination");
    cr_assert_eq(migrate_daemon_busy(&w->d[1]), 0, "it is advice: no migration yet");
    cr_assert_eq(w->d[0].mig.state, MIGRATE_S_FREEZE, "before the freeze ended");
    cr_assert_eq(migrate_daemon_alert(&w->d[2]), 0);
    cr_assert_eq(migrate_daemon_alert(&w->d[0]), 0);
    noc_loopback_advance(&w->lb, (uint64_t)MIGRATE_ALERT_NS);
    cr_assert_eq(migrate_daemon_alert(&w->d[1]), 0, "the alert lasts MIGRATE_ALERT_NS");

    /* a forged PREPARE for node 2, sent to node 1, changes nothing */
    {
        uint8_t buf[MIGRATE_MSG_SIZE];
        migrate_msg m;
        memset(&m, 0, sizeof m);
        m.op = MIGRATE_OP_PREPARE; m.from = 0; m.src = 0; m.dst = 2; m.ctrl = -1; m.mid = 99;
        migrate_msg_encode(&m, buf);
        int h = noc_mailbox_open(&w->t[0], 1, MIGRATE_MAILBOX_PORT);
        cr_assert_geq(h, 0);
        cr_assert_eq(noc_mailbox_write(&w->t[0], h, buf, sizeof buf, 0), (int)sizeof buf);
        for (int i = 0; i < 10; i++) {
            (void)noc_loopback_step(&w->lb);
            migrate_daemon_step(&w->d[1]);
        }
        cr_assert_eq(migrate_daemon_alert(&w->d[1]), 0);
        cr_assert_eq(noc_mailbox_close(&w->t[0], h), 0);
    }

    w->f[0].freeze_polls = 0;
    cr_assert(w_run(w, 1000000000ull));
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert_eq(migrate_daemon_alert(&w->d[1]), 0);
    w_free(w);
}

/* The block is used as two halves: while a portal write is out, the source
 * has already written the next image bytes into the other half, and the
 * image moves in transfers of half a block. */
Test(protocol, source_fills_the_next_half_while_a_write_is_out)
{
    world *w = w_new(2, NULL);
    int overlapped = 0, steps = 0;
    size_t biggest = 0;
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(w->d[0].xfer.slot, W_BLOCK / 2);
    cr_assert_eq(w->d[0].xfer.split, 1u);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    while (migrate_daemon_busy(&w->d[0]) || migrate_daemon_busy(&w->d[1])) {
        cr_assert_lt(++steps, 100000, "the migration does not end");
        (void)migrate_daemon_step(&w->d[0]);
        if (w->d[0].xfer.inflight > biggest) biggest = w->d[0].xfer.inflight;
        if (w->d[0].mig.state == MIGRATE_S_SEND && w->d[0].xfer.inflight != 0 &&
            w->f[0].off > w->d[0].mig.done + w->d[0].xfer.inflight)
            overlapped = 1;
        (void)migrate_daemon_step(&w->d[1]);
        if (noc_loopback_step(&w->lb) <= 0) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert(overlapped, "the source never filled a half while a write was out");
    cr_assert_eq(biggest, W_BLOCK / 2, "transfers of half a block");
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    w_free(w);
}

Test(protocol, container_hops_around_a_ring)
{
    world *w = w_new(4, NULL);
    w_fill(w, 0, LEN, SEED);
    for (int hop = 0; hop < 8; hop++) {
        int from = hop % 4, to = (hop + 1) % 4, where = -1;
        cr_assert_eq(migrate_daemon_start(&w->d[from], to), 0, "hop %d", hop);
        cr_assert(w_run(w, 1000000000ull));
        cr_assert_eq(w_live(w, &where), 1);
        cr_assert_eq(where, to);
        cr_assert(w_intact(w, to, LEN, SEED));
    }
    w_free(w);
}

Test(protocol, start_refuses_bad_requests)
{
    world *w = w_new(3, NULL);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), UAREA_ENOCONTAINER);
    w_fill(w, 0, 100, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 0), UAREA_ESAMENODE);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 3), UAREA_EBADNODE);
    cr_assert_eq(migrate_daemon_start(&w->d[0], -1), UAREA_EBADNODE);
    cr_assert_eq(migrate_daemon_start(NULL, 1), UAREA_EINVAL);
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_EAGAIN);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 2), UAREA_EBUSY);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(w_live(w, NULL), 1);
    cr_assert(w->f[1].has);
    w_free(w);
}

Test(protocol, init_refuses_bad_arguments)
{
    static noc_loopback lb;
    noc_transport t;
    migrate_daemon d;
    static uint8_t block[4096];
    fake f = {0};
    migrate_container_ops partial = fake_ops;
    partial.activate = NULL;
    cr_assert_eq(noc_loopback_init(&lb, NULL), 0);
    cr_assert_eq(noc_loopback_transport(&lb, 0, &t), 0);
    cr_assert_eq(migrate_daemon_init(&d, &t, &partial, &f, NULL, block, sizeof block), UAREA_EINVAL);
    cr_assert_eq(migrate_daemon_init(&d, &t, &fake_ops, &f, NULL, NULL, 1), UAREA_EINVAL);
    cr_assert_eq(migrate_daemon_init(&d, &t, &fake_ops, &f, NULL, block, 0), UAREA_EMSGSIZE);
    cr_assert_eq(migrate_daemon_init(&d, &t, &fake_ops, &f, NULL, block, sizeof block), 0);
    /* a second daemon on the same node finds its ports taken */
    migrate_daemon d2;
    cr_assert_eq(migrate_daemon_init(&d2, &t, &fake_ops, &f, NULL, block, sizeof block),
                 UAREA_EPORTINUSE);
    cr_assert_eq(migrate_daemon_fini(&d), 0);
    cr_assert_eq(migrate_daemon_init(&d2, &t, &fake_ops, &f, NULL, block, sizeof block), 0,
                 "fini released the ports");
    cr_assert_eq(migrate_daemon_fini(&d2), 0);
}

Test(protocol, destination_with_a_container_rejects)
{
    world *w = w_new(2, NULL);
    migrate_stats st;
    w_fill(w, 0, LEN, SEED);
    w_fill(w, 1, 500, SEED + 1);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_last(&w->d[0], &st), UAREA_EBUSY);
    cr_assert_eq(w_live(w, NULL), 2, "both keep running their own");
    cr_assert(w_intact(w, 0, LEN, SEED));
    cr_assert(w_intact(w, 1, 500, SEED + 1));
    cr_assert_eq(w->f[0].unfrozen, 1);
    w_free(w);
}

Test(protocol, other_binary_is_rejected_before_any_data)
{
    world *w = w_new(2, NULL);
    noc_loopback_stats ls;
    w_fill(w, 0, LEN, SEED);
    w->f[1].binary_fp = 42;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_EIMGBINARY);
    cr_assert_eq(migrate_daemon_last(&w->d[1], NULL), UAREA_EIMGBINARY);
    cr_assert_eq(noc_loopback_get_stats(&w->lb, 0, &ls), 0);
    cr_assert_eq(ls.chunks_sent, 0, "no image byte was sent");
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0);
    cr_assert(w_intact(w, 0, LEN, SEED));
    w_free(w);
}

/* A lost REJECT is sent again when the REQUEST comes again: the source
 * learns the real reason at once instead of staying frozen through all its
 * retries and ending with UAREA_ETIMEDOUT. */
Test(protocol, a_lost_reject_is_answered_again)
{
    world *w = w_new(2, NULL);
    w_fill(w, 0, LEN, SEED);
    w->f[1].binary_fp = W_BINARY_FP + 1;
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 1, 0, 1, 0), 0);
    uint64_t t0 = noc_loopback_now(&w->lb);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_lt(noc_loopback_now(&w->lb) - t0, 2 * 2000000ull, "one retry, not all of them");
    ends_with(w, UAREA_EIMGBINARY, 0);
    w_free(w);
}

/* One lost ACCEPT: the REQUEST comes again a timeout later and is answered
 * again; the destination still waits for the data (it gave up one timeout
 * after accepting, just before the repeated REQUEST, so that one loss failed
 * the migration). */
Test(protocol, a_lost_accept_is_recovered)
{
    world *w = w_new(2, NULL);
    w_fill(w, 0, LEN, SEED);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 1, 0, 1, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    ends_with(w, 0, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    w_free(w);
}

Test(protocol, verification_failure_keeps_source)
{
    world *w = w_new(2, NULL);
    w_fill(w, 0, LEN, SEED);
    /* flip one bit of the second portal chunk: the image CRC catches it */
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_CORRUPT, NOC_LB_CHUNK, 0, 1, 2, 1234), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_EIMGCRC);
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0);
    cr_assert(w_intact(w, 0, LEN, SEED));
    cr_assert_eq(w->f[1].has, 0);
    cr_assert_eq(w->f[1].discarded, 1);
    for (size_t i = 0; i < sizeof w->f[1].stage; i++)
        cr_assert_eq(w->f[1].stage[i], 0, "destination left empty");
    w_free(w);
}

/* A destination that hangs (alive on the fabric, its daemon never runs)
 * takes the messages it can hold and no more. The source's migration there
 * times out; a message it cannot hand over within the protocol timeout is
 * dropped, as if lost, so it does not hold up the source's next migration to
 * a live node (it did: every later message queued behind it). */
Test(protocol, a_hung_destination_does_not_block_the_next_migration)
{
    world *w = w_new(3, NULL);
    int where = -1;
    w_fill(w, 0, LEN, SEED);
    w->dead[2] = 1;
    {   /* node 2's inbox fills up with what another node sends it */
        uint8_t junk[MIGRATE_MSG_SIZE];
        int h = noc_mailbox_open(&w->t[1], 2, MIGRATE_MAILBOX_PORT), n = 0;
        cr_assert_geq(h, 0);
        memset(junk, 0, sizeof junk);
        while (n < 4 * NOC_LOOPBACK_MAILBOX_DEPTH &&
               noc_mailbox_write(&w->t[1], h, junk, sizeof junk, 0) == (int)sizeof junk) {
            (void)noc_loopback_run_until_idle(&w->lb, 100);
            n++;
        }
        cr_assert_lt(n, 4 * NOC_LOOPBACK_MAILBOX_DEPTH, "the inbox is full");
        cr_assert_eq(noc_mailbox_close(&w->t[1], h), 0);
    }
    cr_assert_eq(migrate_daemon_start(&w->d[0], 2), 0);
    for (int i = 0; i < 1000000 && migrate_daemon_busy(&w->d[0]); i++) {
        if (migrate_daemon_step(&w->d[0]) <= 0 && noc_loopback_step(&w->lb) <= 0)
            noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_ETIMEDOUT);
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0, "the container runs on at the source");
    /* at once to node 1: its messages wait for one timeout at most */
    uint64_t t0 = noc_loopback_now(&w->lb);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 1000000 && migrate_daemon_busy(&w->d[0]); i++) {
        int did = migrate_daemon_step(&w->d[0]) + migrate_daemon_step(&w->d[1]);
        if (did <= 0 && noc_loopback_step(&w->lb) <= 0) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_lt(noc_loopback_now(&w->lb) - t0, 2 * 2000000ull, "took %llu ns",
                 (unsigned long long)(noc_loopback_now(&w->lb) - t0));
    cr_assert(w_run(w, 1000000000ull));
    ends_with(w, 0, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    w_free(w);
}

/* The destination dies right after its VERIFIED left: sending COMMIT tells
 * the source (peer gone), which aborts and runs the container again; it must
 * not then drop it as if committed (it did: no copy left anywhere). */
Test(protocol, destination_dead_after_verified_leaves_the_source_running)
{
    world *w = w_new(2, NULL);
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 1000000; i++) {
        int did = migrate_daemon_step(&w->d[0]) + migrate_daemon_step(&w->d[1]);
        if (w->d[1].mig.state == MIGRATE_R_COMMIT && w->d[1].outbox.count == 0) break;
        if (did <= 0 && noc_loopback_step(&w->lb) <= 0) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_COMMIT, "VERIFIED is on the wire");
    cr_assert_eq(noc_loopback_crash(&w->lb, 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(w->f[0].dropped, 0, "the source kept its copy");
    ends_with(w, UAREA_EPEERGONE, 0);
    cr_assert(w_intact(w, 0, LEN, SEED));
    w_free(w);
}

/* A daemon set up again (a restarted node) does not reuse the migration ids
 * its peers remember: they took its first REQUEST for a stale duplicate of a
 * finished migration and never answered. */
Test(protocol, a_daemon_set_up_again_uses_new_ids)
{
    world *w = w_new(2, NULL);
    int where = -1;
    uint32_t first;
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    first = w->d[0].mig.mid;
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_start(&w->d[1], 0), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0);
    cr_assert_eq(migrate_daemon_fini(&w->d[0]), 0);
    cr_assert_eq(migrate_daemon_init(&w->d[0], &w->t[0], &fake_ops, &w->f[0],
                                     &(migrate_config){.timeout_ns = 2000000}, w->block[0],
                                     sizeof w->block[0]), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert_neq(w->d[0].mig.mid, first);
    cr_assert(w_run(w, 1000000000ull));
    ends_with(w, 0, 1);
    w_free(w);
}

/* fini on a destination holding a verified copy (the source has committed
 * and dropped its own) would discard the only copy: refused until the
 * protocol ends; then it releases. Same for a source that has sent bytes. */
Test(protocol, fini_refuses_past_the_point_of_no_return)
{
    world *w = w_new(2, NULL);
    int where = -1;
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    for (int i = 0; i < 1000000 && w->d[0].mig.state != MIGRATE_IDLE; i++) {
        int did = migrate_daemon_step(&w->d[0]);
        if (w->d[0].mig.state == MIGRATE_S_SEND)
            cr_assert_eq(migrate_daemon_fini(&w->d[0]), UAREA_EBUSY, "source sending");
        if (w->d[0].mig.state == MIGRATE_IDLE) break;          /* committed: COMMIT on its way */
        did += migrate_daemon_step(&w->d[1]);
        if (did <= 0 && noc_loopback_step(&w->lb) <= 0) noc_loopback_advance(&w->lb, 100000);
    }
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), 0);
    cr_assert_eq(w->d[1].mig.state, MIGRATE_R_COMMIT);
    cr_assert_eq(migrate_daemon_fini(&w->d[1]), UAREA_EBUSY);
    cr_assert_eq(w->f[1].discarded, 0, "the copy is kept");
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert_eq(migrate_daemon_fini(&w->d[1]), 0, "idle: it releases");
    w_free(w);
}

Test(protocol, disjoint_pairs_migrate_in_parallel)
{
    world *w = w_new(8, NULL);
    for (int p = 0; p < 4; p++) w_fill(w, 2 * p, LEN - 1000 * (uint32_t)p, SEED + (uint32_t)p);
    for (int p = 0; p < 4; p++) cr_assert_eq(migrate_daemon_start(&w->d[2 * p], 2 * p + 1), 0);
    for (int p = 0; p < 4; p++) cr_assert(migrate_daemon_busy(&w->d[2 * p + 1]) == 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(w_live(w, NULL), 4);
    for (int p = 0; p < 4; p++) {
        migrate_stats st;
        cr_assert_eq(migrate_daemon_last(&w->d[2 * p + 1], &st), 0);
        cr_assert_eq(st.src, 2 * p);
        cr_assert(w->f[2 * p + 1].has);
        cr_assert(w_intact(w, 2 * p + 1, LEN - 1000 * (uint32_t)p, SEED + (uint32_t)p));
    }
    w_free(w);
}

Test(protocol, second_migration_to_a_busy_node_gets_ebusy)
{
    world *w = w_new(3, NULL);
    w_fill(w, 0, LEN, SEED);
    w_fill(w, 2, LEN, SEED + 9);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[2], 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    int r0 = migrate_daemon_last(&w->d[0], NULL);
    int r2 = migrate_daemon_last(&w->d[2], NULL);
    cr_assert((r0 == 0 && r2 == UAREA_EBUSY) || (r0 == UAREA_EBUSY && r2 == 0),
              "one wins, the other is told busy: %d %d", r0, r2);
    cr_assert_eq(w_live(w, NULL), 2);
    cr_assert(w->f[1].has);
    w_free(w);
}

Test(protocol, controller_moves_a_container_between_other_nodes)
{
    world *w = w_new(3, NULL);
    int node = -1;
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], NULL), UAREA_ESTATE);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 0, 1), 0);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 0, 1), UAREA_EBUSY, "one request at a time");
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], &node), UAREA_EAGAIN);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], &node), 0);
    cr_assert_eq(node, 0);
    cr_assert(w->f[1].has && !w->f[1].frozen);
    cr_assert(w_intact(w, 1, LEN, SEED));
    /* node 0 has nothing left to move */
    cr_assert_eq(migrate_daemon_request(&w->d[2], 0, 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], NULL), UAREA_ENOCONTAINER);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 1, 1), UAREA_ESAMENODE);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 1, 7), UAREA_EBADNODE);
    /* a controller can ask itself */
    cr_assert_eq(migrate_daemon_request(&w->d[1], 1, 2), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[1], &node), 0);
    cr_assert_eq(node, 1);
    cr_assert(w->f[2].has && w_intact(w, 2, LEN, SEED));
    w_free(w);
}

/* A destination the container ops refuse (check_dst: an I/O node of the
 * MPPA-256) fails the start at once, a controller's MOVE as a direct start;
 * the container stays, running, where it was. */
Test(protocol, a_refused_destination_fails_every_start)
{
    world *w = w_new(3, NULL);
    int node = -1;
    w_fill(w, 0, LEN, SEED);
    w_refused_dst = 2;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 2), UAREA_ENODEKIND);
    cr_assert_not(migrate_daemon_busy(&w->d[0]));
    cr_assert_eq(migrate_daemon_request(&w->d[1], 0, 2), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[1], &node), UAREA_ENODEKIND);
    cr_assert(w->f[0].has && !w->f[0].frozen && w_intact(w, 0, LEN, SEED));
    cr_assert_not(w->f[2].has);
    w_refused_dst = -1;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 2), 0, "the same start, allowed");
    cr_assert(w_run(w, 1000000000ull));
    cr_assert(w->f[2].has && w_intact(w, 2, LEN, SEED));
    w_free(w);
}

/* A duplicated MOVE is served once (its second copy got EBUSY, which the
 * controller took for the outcome though the container moved); a lost RESULT
 * ends the wait with UAREA_ETIMEDOUT (the controller stayed busy for good). */
Test(protocol, controller_survives_a_duplicated_move_and_a_lost_result)
{
    world *w = w_new(3, NULL);
    int node = -1;
    w_fill(w, 0, LEN, SEED);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DUP, NOC_LB_MAILBOX, 2, 0, 1, 0), 0);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 0, 1), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], &node), 0, "the outcome, not the duplicate's");
    cr_assert(w->f[1].has && w_intact(w, 1, LEN, SEED));
    /* back to 0, its RESULT lost */
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_DROP, NOC_LB_MAILBOX, 1, 2, 1, 0), 0);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 1, 0), 0);
    cr_assert(w_run(w, 1000000000ull));
    cr_assert(w->f[0].has && w_intact(w, 0, LEN, SEED), "it moved");
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], NULL), UAREA_EAGAIN);
    noc_loopback_advance(&w->lb, 6ull * (MIGRATE_RETRIES + 1) * 2000000ull);
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], &node), UAREA_ETIMEDOUT);
    cr_assert_eq(node, 1);
    cr_assert_eq(migrate_daemon_request(&w->d[2], 0, 1), 0, "not busy for good");
    cr_assert(w_run(w, 1000000000ull));
    cr_assert_eq(migrate_daemon_ctrl_result(&w->d[2], NULL), 0);
    w_free(w);
}

Test(protocol, message_codec_round_trip_and_damage)
{
    migrate_msg m = {0}, back;
    uint8_t buf[MIGRATE_MSG_SIZE];
    m.op = MIGRATE_OP_COMMIT;
    m.mid = 0x01000007u;
    m.from = 3; m.src = 3; m.dst = 5; m.ctrl = -1;
    m.status = UAREA_EIMGCRC;
    m.size = 0x123456789abull; m.layout_fp = W_LAYOUT_FP; m.binary_fp = W_BINARY_FP;
    m.stamp = 99; m.zero_pages = 17;
    migrate_msg_encode(&m, buf);
    cr_assert_eq(migrate_msg_decode(&back, buf, sizeof buf), 0);
    cr_assert_eq(back.op, m.op);
    cr_assert_eq(back.mid, m.mid);
    cr_assert_eq(back.from, 3);
    cr_assert_eq(back.dst, 5);
    cr_assert_eq(back.ctrl, -1);
    cr_assert_eq(back.status, UAREA_EIMGCRC);
    cr_assert_eq(back.size, m.size);
    cr_assert_eq(back.layout_fp, m.layout_fp);
    cr_assert_eq(back.binary_fp, m.binary_fp);
    cr_assert_eq(back.stamp, 99);
    cr_assert_eq(back.zero_pages, 17);
    for (unsigned bit = 0; bit < 8 * MIGRATE_MSG_SIZE; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(migrate_msg_decode(&back, buf, sizeof buf), UAREA_EPROTO, "bit %u", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(migrate_msg_decode(&back, buf, MIGRATE_MSG_SIZE - 1), UAREA_EPROTO);
    cr_assert_eq(migrate_msg_decode(NULL, buf, sizeof buf), UAREA_EINVAL);
}
