/* A block of more than two slots is used in turn. Built with
 * MIGRATE_XFER_SLOT 4 KiB, so that the world's 16 KiB block is four slots:
 * each transfer the source makes goes into the slot after the last one's
 * (so never into the one whose write is out), every transfer is at most a
 * slot, the destination's reads go into its slots in turn too, and the
 * image arrives whole, hop after hop (the slots go on from one migration
 * to the next). */
#define MIGRATE_XFER_SLOT 4096u
#include "world.h"
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 11u

/* image_produce through a wrapper that records which slot of the source's
 * block each transfer is made in (the world's ops otherwise). */
static world *cur;
static int src_node;
static unsigned fills, expect, bad_fills;
static long (*inner_produce)(void *ctx, void *buf, size_t cap);

static long produce(void *ctx, void *buf, size_t cap)
{
    const migrate_daemon *s = &cur->d[src_node];
    size_t off = (size_t)((uint8_t *)buf - s->xfer.block);
    if (off % s->xfer.slot != 0 || off / s->xfer.slot != expect || cap > s->xfer.slot) bad_fills++;
    expect = (unsigned)(off / s->xfer.slot + 1u) % s->xfer.slots;
    fills++;
    return inner_produce(ctx, buf, cap);
}

Test(protocol_slots, the_source_takes_its_slots_in_turn)
{
    world *w = w_new(2, NULL);
    migrate_container_ops ops[2];
    unsigned rbufs = 0;
    cur = w;
    cr_assert_eq(w->d[0].xfer.slot, 4096u);
    cr_assert_eq(w->d[0].xfer.slots, 4u);
    cr_assert_eq(w->d[0].xfer.split, 1u);
    for (int i = 0; i < 2; i++) {
        ops[i] = *w->d[i].ops;
        inner_produce = ops[i].image_produce;
        ops[i].image_produce = produce;
        w->d[i].ops = &ops[i];
    }
    w_fill(w, 0, LEN, SEED);
    for (int hop = 0; hop < 4; hop++) {
        int from = hop % 2, to = 1 - from, where = -1, steps = 0;
        src_node = from;
        expect = w->d[from].xfer.fill;
        cr_assert_eq(migrate_daemon_start(&w->d[from], to), 0, "hop %d", hop);
        while (migrate_daemon_busy(&w->d[0]) || migrate_daemon_busy(&w->d[1])) {
            migrate_daemon *r = &w->d[to];
            unsigned rb = r->xfer.rbuf;
            cr_assert_lt(++steps, 100000, "the migration does not end");
            (void)migrate_daemon_step(&w->d[from]);
            cr_assert_leq(w->d[from].xfer.inflight, w->d[from].xfer.slot);
            (void)migrate_daemon_step(r);
            if (r->xfer.rbuf != rb) {
                /* the destination's reads into its own slots go in turn too */
                cr_assert_eq(r->xfer.rbuf, (rb + 1u) % 4u);
                rbufs++;
            }
            if (noc_loopback_step(&w->lb) <= 0) noc_loopback_advance(&w->lb, 100000);
        }
        cr_assert_eq(w_live(w, &where), 1, "hop %d", hop);
        cr_assert_eq(where, to, "hop %d", hop);
        cr_assert(w_intact(w, to, LEN, SEED), "hop %d", hop);
    }
    cr_assert_eq(bad_fills, 0u, "%u of %u transfers were not made in the next slot", bad_fills, fills);
    cr_assert_gt(fills, 8u, "the slots came round: %u fills", fills);
    /* the loopback transport gives no access in place: the destination
     * pulls into its own slots, in turn */
    cr_assert_gt(rbufs, 4u, "the destination's reads came round: %u", rbufs);
    w_free(w);
}
