/* A container writer that checks every word before it rewrites it, shared
 * by the runtime's pre-copy and post-copy tests (test_precopy_rounds.c,
 * test_postcopy.c): a page that came as zeros, or as an older copy, shows
 * as a word of the wrong generation. The including file defines PAGES (the
 * heap pages it rewrites) and includes this once, after uarea_posix.h. */
#ifndef CHECKED_WRITER_H
#define CHECKED_WRITER_H

#define PAGE_WORDS (4096u / 8u)
#define HEAP_WORDS (PAGES * PAGE_WORDS)

static UAREA_USER uint64_t *heap;
static UAREA_USER uint64_t pgen[PAGES];        /* generation of each heap page */
static UAREA_USER volatile int stop, bad;
static UAREA_USER volatile uint64_t gens;      /* generations the writer finished */

static uint64_t val(uint64_t gen, unsigned i)
{
    return gen * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i * 0x100000001b3ull);
}

/* Page p of generation g: every word checked against the last write. */
static void rewrite_page(unsigned p, uint64_t g)
{
    for (unsigned i = p * PAGE_WORDS; i < (p + 1u) * PAGE_WORDS; i++) {
        if (heap[i] != val(pgen[p], i)) bad = 1;
        heap[i] = val(g, i);
    }
    pgen[p] = g;
}

/* Two generations go while thread 0 watches: the writer runs here. */
static void runs_on(void)
{
    uint64_t at = gens;
    while (gens < at + 2 && !bad) uarea_thread_yield();
}

/* The migrations' records (desc.on_migration). */
static migrate_stats seen[4];
static int n_seen;

static void on_migration(void *arg, const migrate_stats *st)
{
    (void)arg;
    if (n_seen < 4) seen[n_seen] = *st;
    n_seen++;
}

#endif
