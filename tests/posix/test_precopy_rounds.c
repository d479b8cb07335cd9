/* Pre-copy in rounds through the POSIX runtime: a container thread keeps
 * rewriting a moving window of 16 of 64 heap pages and two pages of the
 * user section while thread 0 moves the container 0 -> 1 -> 0. The writer
 * checks every word before it rewrites it: the word must hold what it wrote
 * last, so a page the destination got from an earlier round and never again
 * (a write the rounds or the delta missed) shows as an older generation, on
 * whichever node the writer reads it. Two policies: rounds of equal size
 * go, up to the round limit; and the default ratio, where a round not
 * smaller than the last is described, declined, and must go in the delta.
 * The statistics count the rounds (more than one where equal rounds go) and
 * say why they stopped. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64u
#include "checked_writer.h"
#define USER_WORDS (2u * PAGE_WORDS)
#define WINDOW 16u                    /* pages a generation rewrites */

static UAREA_USER uint64_t uwords[USER_WORDS];

/* Generation g rewrites WINDOW heap pages from page 7 g on (a window that
 * moves, so that rounds differ) and the user words; every word is checked
 * against what was written there last. */
static void *writer(void *arg)
{
    (void)arg;
    for (uint64_t g = 1; !stop; g++) {
        for (unsigned k = 0; k < WINDOW; k++) rewrite_page((unsigned)((g * 7u + k) % PAGES), g);
        for (unsigned i = 0; i < USER_WORDS; i++) {
            if (uwords[i] != val(g - 1, i) + 1) bad = 2;
            uwords[i] = val(g, i) + 1;
        }
        gens = g;
    }
    return NULL;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc; (void)argv;
    heap = uarea_malloc(HEAP_WORDS * sizeof *heap);
    if (heap == NULL) return 1;
    for (unsigned i = 0; i < HEAP_WORDS; i++) heap[i] = val(0, i);
    for (unsigned i = 0; i < USER_WORDS; i++) uwords[i] = val(0, i) + 1;
    if (uarea_thread_create(&t, writer, NULL) != 0) return 2;
    runs_on();
    if (migrate_to(1) != 0) return 3;
    if (noc_node_self() != 1) return 4;
    runs_on();
    if (migrate_to(0) != 0) return 5;
    if (noc_node_self() != 0) return 6;
    runs_on();
    stop = 1;
    if (uarea_thread_join(t, NULL) != 0) return 7;
    return bad ? 10 + bad : 0;
}

static void run(const uarea_posix_desc *d, const char *policy, uint32_t min_rounds)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uarea_posix_dirty probe_trk;
    void *probe = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc = uarea_posix_dirty_open(&probe_trk, probe, ps);   /* can the kernel track? */
    uarea_posix_dirty_close(&probe_trk);
    munmap(probe, ps);
    if (!UAREA_POSIX_PRECOPY || rc == UAREA_ENOSYS)
        cr_skip_test("no pre-copy in this build or on this kernel");
    n_seen = 0;
    cr_assert_eq(uarea_posix_run(d, app, 0, NULL), 0, "%s: the writer saw a word it did not write",
                 policy);
    cr_assert_eq(n_seen, 2);
    for (int k = 0; k < 2; k++) {
        const migrate_stats *st = &seen[k];
        cr_log_info("%s, hop %d: %u pre-copy rounds, %llu bytes, stopped: %d; then %llu frozen, "
                    "downtime %.3f ms", policy, k, st->precopy_rounds,
                    (unsigned long long)st->precopy_bytes, st->precopy_stop,
                    (unsigned long long)st->bytes, st->downtime_ns / 1e6);
        cr_assert_eq(st->result, 0);
        cr_assert_geq(st->precopy_rounds, min_rounds, "%s, hop %d: rounds", policy, k);
        cr_assert_neq(st->precopy_stop, MIGRATE_PRECOPY_STOP_NONE, "%s, hop %d", policy, k);
        cr_assert_gt(st->precopy_bytes, HEAP_WORDS * 8u, "%s, hop %d: the heap went before the freeze",
                     policy, k);
        if (d->precopy_rounds) cr_assert_leq(st->precopy_rounds, (uint32_t)d->precopy_rounds);
    }
}

Test(posix_precopy, a_writing_container_moves_in_rounds_up_to_the_limit, .timeout = 120)
{
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 2000000000, .on_migration = on_migration,
                          .precopy_rounds = 4, .precopy_small_bytes = 1,
                          .precopy_shrink_pct = 1000, .precopy_budget_bytes = 1ull << 40};
    run(&d, "up to 4 rounds", 2);        /* the writes make further rounds */
}

Test(posix_precopy, a_round_declined_for_not_shrinking_goes_in_the_delta, .timeout = 120)
{
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 2000000000, .on_migration = on_migration,
                          .precopy_small_bytes = 1};
    /* the writer dirties the whole heap between two rounds: the second
     * round is as big as the first, declined (as later ones would be) */
    run(&d, "until not shrinking", 1);
}
