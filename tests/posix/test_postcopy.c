/* Post-copy through the POSIX runtime: the container moves 0 -> 1 -> 0 and
 * resumes on each destination before its heap pages are there. A container
 * thread keeps rewriting a moving window of heap pages and checks every
 * word before it rewrites it (a page that came as zeros, or an old copy,
 * shows as a wrong generation); thread 0, on arrival, reads a cold part of
 * the heap that nothing writes (each of its pages is fetched on its first
 * touch, or was pushed) and checks it whole. Both modes: post-copy at once
 * (the cold pages come after the freeze), and pre-copy rounds then
 * post-copy (they go in the rounds; the pages still written come after). The statistics say which way each
 * hop went and count the pages that came after. Then the source is killed
 * (at its first page packet, through desc.on_step) while the container
 * runs on the destination with pages missing: the container cannot run
 * on, and the run ends with UAREA_EPAGESLOST, not with a container that
 * read zeros. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64u
#include "checked_writer.h"
#define COLD 192u
#define COLD_WORDS (COLD * PAGE_WORDS)
#define WINDOW 8u

static UAREA_USER uint64_t *cold;

static void *writer(void *arg)
{
    (void)arg;
    for (uint64_t g = 1; !stop; g++) {
        for (unsigned k = 0; k < WINDOW; k++) rewrite_page((unsigned)((g * 5u + k) % PAGES), g);
        gens = g;
        uarea_thread_yield();
    }
    return NULL;
}

static int cold_ok(void)
{
    for (unsigned i = 0; i < COLD_WORDS; i++)
        if (cold[i] != val(7, i) + 3) return 0;
    return 1;
}

/* The heap the writer rewrites and the cold part nothing writes. */
static int fill(void)
{
    heap = uarea_malloc(HEAP_WORDS * sizeof *heap);
    cold = uarea_malloc(COLD_WORDS * sizeof *cold);
    if (heap == NULL || cold == NULL) return 0;
    for (unsigned i = 0; i < HEAP_WORDS; i++) heap[i] = val(0, i);
    for (unsigned i = 0; i < COLD_WORDS; i++) cold[i] = val(7, i) + 3;
    return 1;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc; (void)argv;
    if (!fill()) return 1;
    if (uarea_thread_create(&t, writer, NULL) != 0) return 2;
    runs_on();
    if (migrate_to(1) != 0) return 3;
    if (noc_node_self() != 1) return 4;
    if (!cold_ok()) return 20;
    runs_on();
    if (migrate_to(0) != 0) return 5;
    if (noc_node_self() != 0) return 6;
    if (!cold_ok()) return 21;
    runs_on();
    stop = 1;
    if (uarea_thread_join(t, NULL) != 0) return 7;
    return bad ? 10 + bad : 0;
}

/* Can this kernel give the runtime what post-copy needs? */
static void need_userfaultfd(void)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uarea_posix_dirty trk;
    void *probe = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc = uarea_posix_dirty_open(&trk, probe, ps);
    uarea_posix_dirty_close(&trk);
    munmap(probe, ps);
    if (!UAREA_POSIX_PRECOPY || rc == UAREA_ENOSYS)
        cr_skip_test("no userfaultfd in this build or on this kernel");
}

static void run(int mode, migrate_mode want)
{
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 2000000000, .on_migration = on_migration,
                          .postcopy = mode};
    need_userfaultfd();
    n_seen = 0;
    int rc = uarea_posix_run(&d, app, 0, NULL);
    cr_assert_eq(rc, 0, "post-copy %d: the program saw a word it did not write (%d)", mode, rc);
    cr_assert_eq(n_seen, 2);
    for (int k = 0; k < 2; k++) {
        const migrate_stats *st = &seen[k];
        cr_log_info("post-copy %d, hop %d: mode %d, %u pre-copy rounds, %llu bytes frozen, "
                    "downtime %.3f ms, total %.3f ms, %u pages fetched, %u pushed", mode, k,
                    (int)st->mode, st->precopy_rounds, (unsigned long long)st->bytes,
                    st->downtime_ns / 1e6, st->total_ns / 1e6, st->pages_fetched,
                    st->pages_pushed);
        cr_assert_eq(st->result, 0);
        /* pre-copy then post-copy: a hop whose last round left no page with
         * bytes written (the writer did not run between the last round and
         * the freeze) goes as plain pre-copy, its delta whole */
        if (want == MIGRATE_MODE_PRE_POST && st->mode == MIGRATE_MODE_PRECOPY)
            cr_assert_eq(st->pages_fetched + st->pages_pushed, 0u);
        else
            cr_assert_eq(st->mode, (int)want, "hop %d went as mode %d", k, st->mode);
        if (want == MIGRATE_MODE_POSTCOPY)
            cr_assert_geq(st->pages_fetched + st->pages_pushed, COLD,
                          "hop %d: the cold pages came after", k);
        else   /* the cold pages went in the rounds; the written ones came after */
            cr_assert(st->precopy_rounds >= 1, "hop %d: rounds first", k);
        cr_assert_lt(st->bytes, (uint64_t)COLD * 4096u, "hop %d: not in the frozen image", k);
    }
}

Test(posix_postcopy, the_container_runs_before_its_pages_and_reads_only_its_own_bytes,
     .timeout = 120)
{
    run(1, MIGRATE_MODE_POSTCOPY);
}

Test(posix_postcopy, pre_copy_rounds_then_post_copy, .timeout = 120)
{
    run(2, MIGRATE_MODE_PRE_POST);
}

static void kill_source(void *arg, int node, const char *step)
{
    (void)arg;
    if (node == 0 && strcmp(step, "src.pages") == 0) kill(getpid(), SIGKILL);
}

Test(posix_postcopy, a_source_lost_before_the_last_page_ends_the_run_with_pages_lost,
     .timeout = 120)
{
    uarea_posix_report rep;
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 200000000, .postcopy = 1,
                          .on_step = kill_source, .report = &rep};
    need_userfaultfd();
    int rc = uarea_posix_run(&d, app, 0, NULL);
    cr_assert_eq(rc, UAREA_EPAGESLOST, "run: %s", uarea_strerror(rc));
    cr_assert_eq(rep.lost_container, 0);
    cr_assert_eq(rep.lost_node, 1, "lost on the destination, which could not run it on");
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_FAILED);
    cr_assert_eq(rep.node[1].code, UAREA_EPAGESLOST);
}

/* The way is chosen per migration: a run without desc.postcopy whose
 * program moves by migrate_to_mode, post-copy there and stop and copy
 * back; the records say so. A bad mode or node is refused at once. */
static int per_call_app(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc; (void)argv;
    if (!fill()) return 1;
    if (migrate_to_mode(1, 4) != UAREA_EINVAL || migrate_to_mode(1, -2) != UAREA_EINVAL) return 30;
    if (migrate_to(1 << 24) != UAREA_EBADNODE) return 31;
    if (uarea_thread_create(&t, writer, NULL) != 0) return 2;
    runs_on();
    if (migrate_to_mode(1, MIGRATE_TO_POSTCOPY) != 0) return 3;
    if (noc_node_self() != 1 || !cold_ok()) return 4;
    runs_on();
    if (migrate_to_mode(0, MIGRATE_TO_STOP_COPY) != 0) return 5;
    if (noc_node_self() != 0 || !cold_ok()) return 6;
    runs_on();
    stop = 1;
    if (uarea_thread_join(t, NULL) != 0) return 7;
    return bad ? 10 + bad : 0;
}

Test(posix_postcopy, each_call_chooses_its_way, .timeout = 120)
{
    uarea_posix_desc d = {.nodes = 2, .timeout_ns = 2000000000, .on_migration = on_migration};
    need_userfaultfd();
    n_seen = 0;
    int rc = uarea_posix_run(&d, per_call_app, 0, NULL);
    cr_assert_eq(rc, 0, "the program: %d", rc);
    cr_assert_eq(n_seen, 2);
    cr_assert_eq(seen[0].mode, (int)MIGRATE_MODE_POSTCOPY);
    cr_assert_geq(seen[0].pages_fetched + seen[0].pages_pushed, COLD);
    cr_assert_eq(seen[1].mode, (int)MIGRATE_MODE_STOP_COPY);
    cr_assert_eq(seen[1].precopy_rounds, 0u);
}
