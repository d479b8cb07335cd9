/* A destination that restores straight from the source's block (the shared
 * memory NoC, MIGRATE_RBUF) can verify the whole image and send VERIFIED
 * before the source has seen its last write end. The source then takes the
 * write as ended: its last block is traced (src.block, where the kill
 * matrix kills a source), then src.sent, and the migration commits. Made
 * deterministic here: two daemons of the protocol's test world over
 * noc_shm in one process, the source held back from the moment its last
 * write is out until the destination's VERIFIED is in its mailbox. */
#include "../protocol/world.h"
#include <uarea_posix/noc_shm.h>
#include <criterion/criterion.h>

#define LEN 30000u
#define SEED 5u

static int blocks, sent, verified;

static void on_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    (void)arg; (void)mid; (void)peer; (void)phase;
    if (p == MIGRATE_PT_SRC_BLOCK) blocks++;
    if (p == MIGRATE_PT_SRC_SENT) sent++;
    if (p == MIGRATE_PT_SRC_VERIFIED) verified++;
}

Test(protocol_inplace, a_verified_before_the_last_write_is_seen_ends_it)
{
    noc_shm shm;
    noc_shm_node nd[2];
    world *w = calloc(1, sizeof *w);
    migrate_config cfg = {.timeout_ns = 2000000000};
    unsigned char *arena;
    size_t asize = 0;
    int steps = 0, where = -1, transfers;
    cr_assert_not_null(w);
    cr_assert_eq(noc_shm_create(&shm, &(noc_shm_desc){.nodes = 2, .arena_size = 2 * W_BLOCK}), 0);
    arena = noc_shm_arena(&shm, &asize);
    cr_assert(arena != NULL && asize >= 2 * W_BLOCK);
    w->nodes = 2;
    for (int n = 0; n < 2; n++) {
        w->f[n].node = n;
        w->f[n].binary_fp = W_BINARY_FP;
        cr_assert_eq(noc_shm_attach(&shm, n, &nd[n], &w->t[n]), 0);
        cr_assert_eq(migrate_daemon_init(&w->d[n], &w->t[n], w_ops, &w->f[n], &cfg,
                                         arena + (size_t)n * W_BLOCK, W_BLOCK), 0);
    }
    migrate_daemon_trace(&w->d[0], on_trace, NULL);
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start_mode(&w->d[0], 1, MIGRATE_MODE_STOP_COPY), 0);
    /* both sides, until the source's last write is out */
    while (!(w->d[0].mig.state == MIGRATE_S_SEND && w->d[0].xfer.inflight != 0 &&
             w->d[0].mig.done + w->d[0].xfer.inflight >= w->d[0].mig.size)) {
        cr_assert_lt(++steps, 1000000, "the last write never went out");
        (void)migrate_daemon_step(&w->d[0]);
        (void)migrate_daemon_step(&w->d[1]);
    }
    transfers = blocks + 1;                  /* the ones seen to end, and the last */
    /* the destination alone: it reads the last transfer where it lies,
     * verifies the image and says so */
    while (w->d[1].mig.state != MIGRATE_R_COMMIT) {
        cr_assert_lt(++steps, 1000000, "the destination never verified");
        (void)migrate_daemon_step(&w->d[1]);
    }
    cr_assert(w->d[1].stats.cur.inplace_read_bytes > 0, "read in place");
    cr_assert_eq(sent, 0, "the source has not seen its last write end");
    /* the source's next step reads VERIFIED first */
    (void)migrate_daemon_step(&w->d[0]);
    cr_assert_eq(sent, 1);
    cr_assert_eq(blocks, transfers, "every transfer, the last too, traced as a block");
    cr_assert_eq(verified, 1);
    while (migrate_daemon_busy(&w->d[0]) || migrate_daemon_busy(&w->d[1])) {
        cr_assert_lt(++steps, 1000000, "the migration does not end");
        (void)migrate_daemon_step(&w->d[0]);
        (void)migrate_daemon_step(&w->d[1]);
    }
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), 0);
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 1);
    cr_assert(w_intact(w, 1, LEN, SEED));
    for (int n = 0; n < 2; n++) {
        (void)migrate_daemon_fini(&w->d[n]);
        (void)noc_shm_detach(&nd[n]);
    }
    noc_shm_destroy(&shm);
    free(w);
}
