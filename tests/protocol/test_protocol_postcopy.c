/* The migration protocol with post-copy: the frozen image leaves the heap
 * pages out, the container runs on the destination from COMMIT on, and its
 * pages follow, those its threads wait for first (FETCH), the others pushed
 * in the background, until DONE. Checked: the destination ends with exactly
 * the source's bytes (and its own writes: a late or duplicated packet never
 * overwrites a page written since), the frozen image carries no heap page,
 * pages asked for come before the push, the statistics; every fault on
 * every packet; a crash of the source at each of its sends (after COMMIT
 * the destination ends with UAREA_EPAGESLOST and never runs with a page
 * missing), of the destination at each of its sends (after COMMIT the
 * source drops its copy and ends with UAREA_EPEERGONE; before it, the
 * source runs on); pre-copy rounds then post-copy (mode 2); a container
 * without the post-copy ops migrates as without post-copy. */
#include "world.h"
#include <criterion/criterion.h>

#define PAGES 48u
#define LEN (W_HEAD + PAGES * W_PAGE)
#define SEED 31u
#define LIMIT_NS 10000000000ull /* 10 s of virtual time */

/* A world of two nodes in post-copy `mode`; the destination touches its
 * pages from the last down. */
static world *post_world(int mode, const noc_loopback_faults *faults)
{
    world *w;
    w_ops = &fake_post_ops;
    w_postcopy = mode;
    w = w_new(2, faults);
    w_ops = &fake_ops;
    w_postcopy = 0;
    w_fill(w, 0, LEN, SEED);
    for (uint32_t k = 0; k < PAGES; k++) w->f[1].touch[k] = PAGES - 1 - k;
    w->f[1].ntouch = PAGES;
    return w;
}

/* Node `node` holds what the source held at the freeze (golden), but for
 * the bytes it wrote itself while running there. */
static int exact(const world *w, int node)
{
    const fake *f = &w->f[node];
    if (f->len != LEN) return 0;
    for (uint32_t i = 0; i < LEN; i++)
        if (f->data[i] != (f->wmask[i] ? 0xee : w->f[0].golden[i])) return 0;
    return 1;
}

/* A migration that got through: one live copy, on the destination, exact;
 * the source dropped its copy after DONE. */
static void check_moved(world *w, const char *what)
{
    int where = -1;
    migrate_stats st;
    cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
    cr_assert_eq(where, 1, "%s: not on the destination", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    cr_assert(exact(w, 1), "%s: the destination's bytes differ", what);
    cr_assert_eq(w->f[1].nmissing, 0, "%s: pages missing", what);
    cr_assert_eq(w->f[0].has, 0, "%s: the source kept its copy", what);
    cr_assert_eq(w->f[0].dropped, 1, "%s", what);
    cr_assert_eq(migrate_daemon_last(&w->d[0], &st), 0, "%s: source", what);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0, "%s: destination", what);
    cr_assert_eq(st.pages_fetched + st.pages_pushed, w->f[1].ln,
                 "%s: every page installed once (%llu + %llu)", what,
                 (unsigned long long)st.pages_fetched, (unsigned long long)st.pages_pushed);
}

/* The invariant whatever happened, no node dead: one live copy, exact on
 * the destination or intact on the source. */
static void check_one_copy(world *w, const char *what)
{
    int where = -1;
    cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    if (where == 1) check_moved(w, what);
    else {
        cr_assert(w_intact(w, 0, LEN, SEED), "%s: source damaged", what);
        cr_assert_eq(w->f[1].has, 0, "%s", what);
        cr_assert_eq(w->f[1].got, 0, "%s: destination staging not wiped", what);
        cr_assert_neq(migrate_daemon_last(&w->d[0], NULL), 0, "%s", what);
    }
}

Test(protocol_postcopy, the_destination_ends_with_every_page_of_the_source)
{
    world *w = post_world(1, NULL);
    migrate_stats s0, s1;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    check_moved(w, "clean");
    cr_assert_eq(w->f[1].ln, PAGES, "every heap page is lazy");
    cr_assert_gt(w->f[1].nfaults, 1, "the container waited for pages");
    cr_assert_eq(migrate_daemon_last(&w->d[0], &s0), 0);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &s1), 0);
    /* the frozen image: the head only, no heap payload */
    cr_assert_eq(s0.bytes, 20 + (uint64_t)W_HEAD);
    cr_assert_eq(s1.bytes, 20 + (uint64_t)W_HEAD);
    cr_assert_eq(s0.mode, MIGRATE_MODE_POSTCOPY);
    cr_assert_eq(s1.mode, MIGRATE_MODE_POSTCOPY);
    cr_assert_eq(s0.precopy_bytes, 0, "mode 1: no pre-copy");
    cr_assert_gt(s1.pages_fetched, 0, "some pages were asked for");
    cr_assert_gt(s1.pages_pushed, 0, "some pages were pushed");
    cr_assert_geq(s0.pages_fetched, s1.pages_fetched);
    cr_assert_geq(s0.pages_pushed, s1.pages_pushed);
    /* the first page touched (the last one) came before the push's third
     * packet, although the push starts from page 0 */
    cr_assert_neq(w->f[1].arrive[PAGES - 1], 0);
    cr_assert_leq(w->f[1].arrive[PAGES - 1], 2 * W_PKT_PAGES, "fetched page %u-th",
                  w->f[1].arrive[PAGES - 1]);
    cr_assert_eq(w->f[1].postfailed, 0);
    w_free(w);
}

Test(protocol_postcopy, a_container_that_touches_nothing_gets_every_page_pushed)
{
    world *w = post_world(1, NULL);
    migrate_stats st;
    w->f[1].ntouch = 0;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    check_moved(w, "no touch");
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.pages_fetched, 0);
    cr_assert_eq(st.pages_pushed, PAGES);
    w_free(w);
}

/* Sends of a clean post-copy migration, and where COMMIT is among them. */
typedef struct post_counts {
    w_counts c;
    uint32_t commit_send;       /* node 0's send that is COMMIT */
    uint32_t dst_activated;     /* node 1's sends before it ran the container */
} post_counts;

static post_counts *pc_now;
static world *pc_world;
static void pc_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    noc_loopback_stats s = {0};
    (void)mid; (void)peer; (void)phase;
    if (p == MIGRATE_PT_SRC_VERIFIED && (intptr_t)arg == 0) {
        noc_loopback_get_stats(&pc_world->lb, 0, &s);
        pc_now->commit_send = (uint32_t)(s.msgs_sent + s.chunks_sent) + 1;
    }
    if (p == MIGRATE_PT_DST_ACTIVATED && (intptr_t)arg == 1) {
        noc_loopback_get_stats(&pc_world->lb, 1, &s);
        pc_now->dst_activated = (uint32_t)(s.msgs_sent + s.chunks_sent);
    }
}

static post_counts clean_counts(int mode)
{
    post_counts pc;
    noc_loopback_stats a = {0}, b = {0};
    world *w = post_world(mode, NULL);
    if (mode == 2) w->f[0].precopy = w->f[1].precopy = 1;
    memset(&pc, 0, sizeof pc);
    pc_now = &pc;
    pc_world = w;
    migrate_daemon_trace(&w->d[0], pc_trace, (void *)(intptr_t)0);
    migrate_daemon_trace(&w->d[1], pc_trace, (void *)(intptr_t)1);
    if (migrate_daemon_start(&w->d[0], 1) != 0 || !w_run(w, LIMIT_NS)) abort();
    noc_loopback_get_stats(&w->lb, 0, &a);
    noc_loopback_get_stats(&w->lb, 1, &b);
    pc.c.m01 = (uint32_t)a.msgs_sent;
    pc.c.c01 = (uint32_t)a.chunks_sent;
    pc.c.m10 = (uint32_t)b.msgs_sent;
    pc.c.s0 = (uint32_t)(a.msgs_sent + a.chunks_sent);
    pc.c.s1 = (uint32_t)(b.msgs_sent + b.chunks_sent);
    w_free(w);
    return pc;
}

static int fault_mode;

static void one_fault(int fault, unsigned kind, int src, int dst, uint32_t nth, uint64_t arg)
{
    char what[96];
    world *w = post_world(fault_mode, NULL);
    if (fault_mode == 2) w->f[0].precopy = w->f[1].precopy = 1;
    snprintf(what, sizeof what, "mode %d fault %d kind %u %d->%d #%u", fault_mode, fault, kind,
             src, dst, nth);
    cr_assert_geq(noc_loopback_script(&w->lb, fault, kind, src, dst, nth, arg), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    if (fault_mode == 2) {
        /* the source wrote while its pre-copy image was out: golden has it */
        int where = -1;
        cr_assert_eq(w_live(w, &where), 1, "%s: live copies", what);
        cr_assert_eq(w_frozen_copies(w), 0, "%s", what);
        if (where == 1) check_moved(w, what);
        else cr_assert_eq(memcmp(w->f[0].data, w->f[0].golden, LEN), 0, "%s: source damaged", what);
    } else {
        check_one_copy(w, what);
    }
    if (fault == NOC_LB_DUP || fault == NOC_LB_DELAY)
        cr_assert(w->f[1].has, "%s: a harmless fault stopped the migration", what);
    w_free(w);
}

Test(protocol_postcopy, every_fault_on_every_packet)
{
    post_counts pc = clean_counts(1);
    cr_assert_geq(pc.c.c01, PAGES / W_PKT_PAGES, "the packets of pages at least");
    cr_assert_geq(pc.c.m10, 3, "ACCEPT, VERIFIED, DONE at least");
    cr_log_info("packets: %u + %u chunks 0->1, %u 1->0", pc.c.m01, pc.c.c01, pc.c.m10);
    fault_mode = 1;
    w_every_fault(&pc.c, one_fault);
}

/* A page packet corrupted after COMMIT: dropped, never installed, asked
 * again; the bytes end exact. */
Test(protocol_postcopy, a_corrupted_packet_is_never_installed)
{
    post_counts pc = clean_counts(1);
    for (uint32_t n = 2; n <= pc.c.c01; n++) {
        char what[48];
        world *w = post_world(1, NULL);
        snprintf(what, sizeof what, "corrupt chunk %u", n);
        /* bit 8 * 40: in the first page's bytes */
        cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_CORRUPT, NOC_LB_CHUNK, 0, 1, n, 320), 0);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS), "%s", what);
        check_moved(w, what);
        w_free(w);
    }
}

static void one_crash(int victim, uint32_t nth, uint32_t sends)
{
    char what[64];
    static post_counts pc;
    static int have;
    world *w;
    int where = -1, live, r0, r1;
    (void)sends;
    if (!have) { pc = clean_counts(1); have = 1; }
    w = post_world(1, NULL);
    snprintf(what, sizeof what, "crash node %d at send %u", victim, nth);
    cr_assert_geq(noc_loopback_script(&w->lb, NOC_LB_CRASH, NOC_LB_ANY, victim, -1, nth, 0), 0);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
    cr_assert(w->dead[victim], "%s: the crash did not happen", what);
    live = w_live(w, &where);
    cr_assert_leq(live, 1, "%s: two copies run", what);
    cr_assert_eq(w_frozen_copies(w), 0, "%s: a frozen copy is left behind", what);
    if (victim == 0) {
        /* the source died: with it the container (before COMMIT) or its
         * missing pages (after): the destination never runs on */
        r1 = migrate_daemon_last(&w->d[1], NULL);
        cr_assert_eq(live, 0, "%s: the destination runs with pages missing", what);
        cr_assert_neq(r1, 0, "%s: the destination says complete", what);
        cr_assert_eq(w->f[1].got, 0, "%s: destination not wiped", what);
        if (nth >= pc.commit_send)
            cr_assert_eq(r1, UAREA_EPAGESLOST, "%s: destination ends with %d", what, r1);
        if (w->f[1].activated) cr_assert_eq(w->f[1].postfailed, 1, "%s", what);
    } else if (nth > pc.dst_activated) {
        /* the destination died running the container: lost with it; the
         * source drops its copy */
        r0 = migrate_daemon_last(&w->d[0], NULL);
        cr_assert_eq(live, 0, "%s", what);
        cr_assert_eq(r0, UAREA_EPEERGONE, "%s: source ends with %d", what, r0);
        cr_assert_eq(w->f[0].dropped, 1, "%s: the source kept its copy", what);
    } else {
        /* before COMMIT: as without post-copy, the source runs on */
        cr_assert_eq(live, 1, "%s: container lost", what);
        cr_assert_eq(where, 0, "%s", what);
        cr_assert(w_intact(w, 0, LEN, SEED), "%s", what);
    }
    w_free(w);
}

Test(protocol_postcopy, crash_of_either_side_at_each_send)
{
    post_counts pc = clean_counts(1);
    cr_assert_gt(pc.commit_send, 0);
    cr_assert_lt(pc.commit_send, pc.c.s0, "packets follow COMMIT");
    cr_assert_lt(pc.dst_activated, pc.c.s1, "FETCH and DONE follow COMMIT");
    cr_log_info("sends: source %u (COMMIT %u), destination %u (running after %u)", pc.c.s0,
                pc.commit_send, pc.c.s1, pc.dst_activated);
    w_every_crash(&pc.c, one_crash);
}

Test(protocol_postcopy, random_faults_over_many_seeds)
{
    int moved = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        noc_loopback_faults f = {.seed = seed, .drop_ppm = 30000, .dup_ppm = 30000,
                                 .delay_ppm = 30000, .corrupt_ppm = 30000};
        char what[32];
        world *w = post_world(1, &f);
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
        cr_assert(w_run(w, LIMIT_NS), "%s: did not settle", what);
        check_one_copy(w, what);
        moved += w->f[1].has;
        w_free(w);
    }
    cr_assert_gt(moved, 0);
}

Test(protocol_postcopy, precopy_rounds_then_postcopy)
{
    world *w = post_world(2, NULL);
    migrate_stats s0, s1;
    w->f[0].precopy = w->f[1].precopy = 1;
    /* the container writes [W_MUT_LO, W_MUT_HI) while its first image is
     * out: heap pages 0 .. 7 are dirty at the freeze, and lazy */
    for (uint32_t k = 0; k < 8; k++) w->f[1].touch[k] = 7 - k;
    w->f[1].ntouch = 8;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w->f[0].mutated);
    check_moved(w, "mode 2");
    cr_assert_eq(w->f[1].ln, (W_MUT_HI - W_HEAD + W_PAGE - 1) / W_PAGE, "the dirty pages only");
    cr_assert_eq(migrate_daemon_last(&w->d[0], &s0), 0);
    cr_assert_eq(migrate_daemon_last(&w->d[1], &s1), 0);
    cr_assert_eq(s0.mode, MIGRATE_MODE_PRE_POST);
    cr_assert_eq(s1.mode, MIGRATE_MODE_PRE_POST);
    cr_assert_gt(s0.precopy_bytes, 0);
    cr_assert_eq(s1.bytes, 20 + (uint64_t)W_HEAD, "the frozen delta: the head only");
    cr_assert_eq(s1.pages_fetched + s1.pages_pushed, w->f[1].ln);
    w_free(w);
}

Test(protocol_postcopy, mode_2_every_fault_on_every_packet)
{
    post_counts pc = clean_counts(2);
    fault_mode = 2;
    w_every_fault(&pc.c, one_fault);
}

/* Without the post-copy ops a container migrates as it would without
 * post-copy: postcopy 1 or 2 asked, stop and copy (or pre-copy) done. */
Test(protocol_postcopy, without_the_ops_stop_and_copy)
{
    migrate_stats st;
    world *w;
    w_postcopy = 1;
    w = w_new(2, NULL);                         /* fake_ops: no post-copy ops */
    w_postcopy = 0;
    w_fill(w, 0, LEN, SEED);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w->f[1].has);
    cr_assert(w_intact(w, 1, LEN, SEED));
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.mode, MIGRATE_MODE_STOP_COPY);
    cr_assert_eq(st.bytes, 8 + (uint64_t)LEN, "the whole image, frozen");
    cr_assert_eq(st.pages_fetched + st.pages_pushed, 0);
    w_free(w);

    /* post-copy off (the default) with the ops: stop and copy too */
    w = post_world(0, NULL);
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert(w_intact(w, 1, LEN, SEED));
    cr_assert_eq(migrate_daemon_last(&w->d[1], &st), 0);
    cr_assert_eq(st.mode, MIGRATE_MODE_STOP_COPY);
    w_free(w);
}

/* A destination without the post-copy ops refuses a post-copy image
 * (UAREA_ENOSYS): the source runs on. */
Test(protocol_postcopy, a_destination_without_the_ops_refuses)
{
    world *w = post_world(1, NULL);
    int where = -1;
    static migrate_container_ops nopost;
    nopost = fake_ops;
    w->d[1].ops = &nopost;
    cr_assert_eq(migrate_daemon_start(&w->d[0], 1), 0);
    cr_assert(w_run(w, LIMIT_NS));
    cr_assert_eq(w_live(w, &where), 1);
    cr_assert_eq(where, 0);
    cr_assert(w_intact(w, 0, LEN, SEED));
    cr_assert_eq(migrate_daemon_last(&w->d[0], NULL), UAREA_ENOSYS);
    w_free(w);
}

/* migrate_daemon_postcopy() as the page packets go: 1 on both sides. */
static world *pp_world;
static int pp_seen[2];
static void pp_trace(void *arg, migrate_point p, uint32_t mid, int peer, int phase)
{
    (void)arg; (void)mid; (void)peer; (void)phase;
    if (p == MIGRATE_PT_SRC_PAGES) pp_seen[0] |= migrate_daemon_postcopy(&pp_world->d[0]) ? 1 : 2;
    if (p == MIGRATE_PT_DST_PAGES) pp_seen[1] |= migrate_daemon_postcopy(&pp_world->d[1]) ? 1 : 2;
}

/* The mode is chosen per migration (migrate_daemon_start_mode), whatever
 * the config says: a world whose config is 0 (no post-copy) and whose
 * container can pre-copy goes each way it is asked, and the statistics of
 * both sides say which; a bad mode changes nothing. */
Test(protocol_postcopy, each_migration_goes_the_way_it_is_started)
{
    static const int modes[4] = {MIGRATE_MODE_STOP_COPY, MIGRATE_MODE_PRECOPY,
                                 MIGRATE_MODE_POSTCOPY, MIGRATE_MODE_PRE_POST};
    for (int k = 0; k < 4; k++) {
        world *w = post_world(0, NULL);
        migrate_stats s0, s1;
        w->f[0].precopy = w->f[1].precopy = 1;
        if (modes[k] == MIGRATE_MODE_PRE_POST) {   /* pages written during the rounds */
            for (uint32_t j = 0; j < 8; j++) w->f[1].touch[j] = 7 - j;
            w->f[1].ntouch = 8;
        }
        cr_assert_eq(migrate_daemon_start_mode(&w->d[0], 1, 4), UAREA_EINVAL);
        cr_assert_eq(migrate_daemon_start_mode(&w->d[0], 1, -2), UAREA_EINVAL);
        cr_assert_eq(migrate_daemon_busy(&w->d[0]), 0, "a bad mode starts nothing");
        pp_world = w;
        pp_seen[0] = pp_seen[1] = 0;
        for (int j = 0; j < 2; j++) migrate_daemon_trace(&w->d[j], pp_trace, NULL);
        cr_assert_eq(migrate_daemon_start_mode(&w->d[0], 1, modes[k]), 0);
        cr_assert(w_run(w, LIMIT_NS));
        if (modes[k] >= MIGRATE_MODE_POSTCOPY)
            cr_assert(pp_seen[0] == 1 && pp_seen[1] == 1,
                      "migrate_daemon_postcopy while pages go: %d %d", pp_seen[0], pp_seen[1]);
        else
            cr_assert(pp_seen[0] == 0 && pp_seen[1] == 0, "no page packets");
        cr_assert(!migrate_daemon_postcopy(&w->d[0]) && !migrate_daemon_postcopy(&w->d[1]));
        cr_assert_eq(migrate_daemon_last(&w->d[0], &s0), 0, "mode %d", modes[k]);
        cr_assert_eq(migrate_daemon_last(&w->d[1], &s1), 0, "mode %d", modes[k]);
        cr_assert_eq(s0.mode, modes[k], "source: asked %d, went %d", modes[k], s0.mode);
        cr_assert_eq(s1.mode, modes[k], "destination: asked %d, went %d", modes[k], s1.mode);
        if (modes[k] >= MIGRATE_MODE_POSTCOPY) check_moved(w, "post-copy by start_mode");
        else cr_assert(exact(w, 1), "mode %d: the destination's bytes", modes[k]);
        cr_assert_eq(s0.precopy_rounds > 0,
                     modes[k] == MIGRATE_MODE_PRECOPY || modes[k] == MIGRATE_MODE_PRE_POST,
                     "mode %d: pre-copy rounds %u", modes[k], s0.precopy_rounds);
        w_free(w);
    }
}
