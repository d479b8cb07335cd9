/* The UArea layout: container set-up, header validation, the layout
 * fingerprint (against a second build with another configuration), the stack
 * and page iterators, page flags and the heap allocator. Single core, null
 * port. */
#define UAREA_IMPLEMENTATION
#include <uarea/uarea.h>
#include <uarea/thread.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "fp_alt.h"

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static _Alignas(4096) unsigned char other[UAREA_CONTAINER_SIZE];
static struct uarea *ua;

static void setup(void)
{
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
}

/* ---- container set-up ---- */
Test(uarea_layout, container_layout)
{
    setup();
    cr_assert_eq((void *)ua, (void *)region);
    cr_assert_eq(ua->hdr.magic, UAREA_MAGIC);
    cr_assert_eq(ua->hdr.size, sizeof(struct uarea));
    cr_assert_eq(ua->hdr.word_size, sizeof(void *));
    cr_assert_eq(ua->hdr.base, (uint64_t)(uintptr_t)region);
    cr_assert_eq(ua->hdr.fingerprint, uarea_layout_fingerprint());
    /* the parts follow each other without overlap, inside the region: the
     * page table right after the struct, all pages absent */
    cr_assert_eq(uarea_pages(ua), region + sizeof(struct uarea));
    cr_assert_eq(ua->pt.off, sizeof(struct uarea));
    cr_assert_eq(ua->pt.count, UAREA_HEAP_PAGES);
    cr_assert_eq(UAREA_UAREA_LEN, sizeof(struct uarea) + UAREA_HEAP_PAGES);
    for (unsigned i = 0; i < UAREA_HEAP_PAGES; i++) cr_assert_eq(uarea_pages(ua)[i], 0u);
    cr_assert_geq(UAREA_STACKS_OFFSET, UAREA_UAREA_LEN);
    cr_assert_eq((unsigned char *)uarea_stack_base(ua, 0), region + UAREA_STACKS_OFFSET);
    cr_assert_eq((unsigned char *)uarea_stack_base(ua, UAREA_THREADS_MAX - 1) + UAREA_STACK_STRIDE,
                 region + UAREA_STACKS_OFFSET + UAREA_THREADS_MAX * UAREA_STACK_STRIDE);
    cr_assert_leq(UAREA_STACKS_OFFSET + UAREA_THREADS_MAX * UAREA_STACK_STRIDE, UAREA_HEAP_OFFSET);
    for (unsigned i = 1; i < UAREA_THREADS_MAX; i++) {   /* stacks do not overlap */
        uintptr_t prev = (uintptr_t)uarea_stack_base(ua, i - 1);
        cr_assert_geq((uintptr_t)uarea_stack_base(ua, i), prev + UAREA_STACK_SIZE);
        cr_assert_eq((uintptr_t)uarea_stack_base(ua, i) % 16u, 0u);
    }
    cr_assert_eq((unsigned char *)uarea_page_addr(ua, 0), region + UAREA_HEAP_OFFSET);
    cr_assert_eq((unsigned char *)uarea_page_addr(ua, UAREA_HEAP_PAGES - 1) + UAREA_PAGE_SIZE,
                 region + UAREA_CONTAINER_SIZE);
    cr_assert_null(uarea_stack_base(ua, UAREA_THREADS_MAX));
    cr_assert_null(uarea_page_addr(ua, UAREA_HEAP_PAGES));
    cr_assert_eq(uarea_check(ua), 0);
    cr_assert_eq(uarea_threads_active(ua), 0);
}

Test(uarea_layout, container_init_errors)
{
    struct uarea *out = (struct uarea *)0x1;
    cr_assert_eq(uarea_container_init(NULL, sizeof region, &out), UAREA_EINVAL);
    cr_assert_eq(uarea_container_init(region, sizeof region, NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_container_init(region + 8, sizeof region - 8, &out), UAREA_EINVAL);
    cr_assert_eq(uarea_container_init(region, UAREA_CONTAINER_SIZE - 1, &out), UAREA_ENOMEM);
    cr_assert_eq(out, (struct uarea *)0x1, "a failed init leaves *out alone");
    cr_assert_eq(((struct uarea *)region)->hdr.magic, 0u, "a failed init writes nothing");
}

/* ---- header validation ---- */
Test(uarea_layout, check_rejects_each_bad_field)
{
    struct uarea saved;
    setup();
    memcpy(&saved, ua, sizeof saved);
#define BREAK_AND_CHECK(stmt)                                   \
    do {                                                        \
        stmt;                                                   \
        cr_assert_eq(uarea_check(ua), UAREA_ELAYOUT, #stmt);    \
        memcpy(ua, &saved, sizeof saved);                       \
        cr_assert_eq(uarea_check(ua), 0);                       \
    } while (0)
    BREAK_AND_CHECK(ua->hdr.magic ^= 1u);
    BREAK_AND_CHECK(ua->hdr.version++);
    BREAK_AND_CHECK(ua->hdr.word_size = (uint16_t)(sizeof(void *) == 8 ? 4 : 8));
    BREAK_AND_CHECK(ua->hdr.size++);
    BREAK_AND_CHECK(ua->hdr.cpu++);
    BREAK_AND_CHECK(ua->hdr.fingerprint ^= 1u);
    BREAK_AND_CHECK(ua->hdr.base += 4096u);
    BREAK_AND_CHECK(ua->hdr.container_size = 4096u);
    BREAK_AND_CHECK(ua->hdr.heap_off++);
    BREAK_AND_CHECK(ua->pt.off++);
    BREAK_AND_CHECK(ua->pt.count--);
    BREAK_AND_CHECK(ua->ready_count = UAREA_THREADS_MAX + 1);
    BREAK_AND_CHECK(ua->exit_count = UAREA_THREADS_MAX + 1);
    BREAK_AND_CHECK(ua->threads[3].state = 9);
    BREAK_AND_CHECK(ua->threads[3].stack = 4);
    BREAK_AND_CHECK(ua->threads[3].tid = 9);          /* a free slot with an id */
    BREAK_AND_CHECK(ua->freeze = 7);
    BREAK_AND_CHECK(ua->heap.top = (uint32_t)UAREA_HEAP_BYTES + 16u);
    BREAK_AND_CHECK((ua->ready_count = 1, ua->ready[ua->ready_head] = UAREA_THREADS_MAX));
#undef BREAK_AND_CHECK
    cr_assert_eq(uarea_check(NULL), UAREA_EINVAL);
    cr_assert_eq(uarea_attach(NULL), UAREA_EINVAL);
}

Test(uarea_layout, copy_at_another_address_is_refused)
{
    setup();
    memcpy(other, region, sizeof(struct uarea));
    cr_assert_eq(uarea_check((struct uarea *)other), UAREA_ELAYOUT);
    cr_assert_eq(uarea_attach((struct uarea *)other), UAREA_ELAYOUT);
}

Test(uarea_layout, attach_resets_node_local_fields)
{
    setup();
    ua->lock = 1;
    ua->running = 0;
    ua->threads[2].san = 1234;
    cr_assert_eq(uarea_attach(ua), 0);
    cr_assert_eq(ua->lock, 0u);
    cr_assert_eq(ua->threads[2].san, 0u);
    ua->threads[2].state = UAREA_THREAD_RUNNING;   /* not frozen */
    ua->threads[2].tid = 5;
    cr_assert_eq(uarea_attach(ua), UAREA_ESTATE);
}

/* ---- fingerprint ---- */
Test(uarea_layout, fingerprint_is_stable_and_depends_on_config)
{
    uint64_t fp = uarea_layout_fingerprint();
    cr_assert_eq(fp, uarea_layout_fingerprint());
    cr_assert_neq(fp, 0u);
    cr_assert_neq(fp, fp_alt_fingerprint(), "another UAREA_THREADS_MAX, same fingerprint");
    cr_assert_neq(fp_alt_container_size(), (size_t)UAREA_CONTAINER_SIZE);
}

Test(uarea_layout, uarea_of_another_config_is_refused_both_ways)
{
    setup();
    cr_assert_eq(fp_alt_check(region), UAREA_ELAYOUT);
    cr_assert_eq(fp_alt_init(other, sizeof other), 0);
    cr_assert_eq(fp_alt_check(other), 0);
    cr_assert_eq(uarea_check((struct uarea *)other), UAREA_ELAYOUT);
}

/* ---- stacks ---- */
static void *idle_thread(void *arg) { return arg; }

Test(uarea_layout, stack_iterator_lists_used_stacks)
{
    uarea_tid_t t[3];
    unsigned i = 0, seen = 0, n = 0;
    uintptr_t lo;
    size_t len;
    setup();
    cr_assert_eq(uarea_stack_next(ua, &i), false, "no thread, no stack");
    for (int k = 0; k < 3; k++) cr_assert_eq(uarea_create(ua, &t[k], idle_thread, NULL), 0);
    for (i = 0; uarea_stack_next(ua, &i); i++) {
        seen |= 1u << i;
        n++;
        cr_assert_eq(uarea_stack_used(ua, i, &lo, &len), 0);
        /* not started yet: at most the entry frame (and a red zone) is live */
        cr_assert_lt(len, 256u);
        cr_assert_eq(lo + len, (uintptr_t)uarea_stack_base(ua, i) + UAREA_STACK_SIZE);
    }
    cr_assert_eq(n, 3u);
    cr_assert_eq(seen, 7u);
    cr_assert_eq(uarea_stack_used(ua, 5, &lo, &len), UAREA_ENOTHREAD);
    cr_assert_eq(uarea_stack_used(ua, UAREA_THREADS_MAX, &lo, &len), UAREA_EINVAL);
    cr_assert_eq(uarea_stack_used(NULL, 0, &lo, &len), UAREA_EINVAL);
    cr_assert_eq(uarea_core_run(ua), 0);
    i = 0;
    cr_assert_eq(uarea_stack_next(ua, &i), false, "every thread exited");
}

/* ---- pages and the heap ---- */
static unsigned present_pages(void)
{
    unsigned i, n = 0;
    for (i = 0; uarea_page_next(ua, &i, NULL); i++) n++;
    return n;
}

Test(uarea_layout, page_flags)
{
    unsigned i = 0, f = 0;
    setup();
    cr_assert_eq(present_pages(), 0u);
    cr_assert_eq(uarea_page_set_flags(ua, 7, UAREA_PAGE_PRESENT | UAREA_PAGE_ZERO), 0);
    cr_assert(uarea_page_next(ua, &i, &f));
    cr_assert_eq(i, 7u);
    cr_assert_eq(f, UAREA_PAGE_PRESENT | UAREA_PAGE_ZERO);
    cr_assert_eq(uarea_page_of(ua, (unsigned char *)uarea_page_addr(ua, 7) + 100), 7);
    cr_assert_eq(uarea_page_mark_dirty(ua, (unsigned char *)uarea_page_addr(ua, 7) + 5), 0);
    cr_assert_eq(uarea_pages(ua)[7], UAREA_PAGE_PRESENT | UAREA_PAGE_DIRTY, "dirty clears zero");
    uarea_pages_clear_dirty(ua);
    cr_assert_eq(uarea_pages(ua)[7], UAREA_PAGE_PRESENT);
    cr_assert_eq(uarea_page_mark_dirty(ua, uarea_page_addr(ua, 8)), UAREA_EINVAL, "not present");
    cr_assert_eq(uarea_page_mark_dirty(ua, region), UAREA_EINVAL, "not in the heap");
    cr_assert_eq(uarea_page_of(ua, region + UAREA_CONTAINER_SIZE), UAREA_EINVAL);
    cr_assert_eq(uarea_page_set_flags(ua, UAREA_HEAP_PAGES, 1), UAREA_EINVAL);
    cr_assert_eq(uarea_page_set_flags(ua, 1, 8), UAREA_EINVAL);
    cr_assert_eq(uarea_pages(ua)[1], 0u, "a refused call changes nothing");
}

Test(uarea_layout, heap_alloc_free_and_pages)
{
    unsigned char *a, *b, *c, *d;
    setup();
    a = uarea_heap_alloc(ua, 100);
    b = uarea_heap_alloc(ua, 5000);
    c = uarea_heap_alloc(ua, 16);
    cr_assert(a && b && c);
    cr_assert_eq(((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15u, 0u);
    cr_assert(a + 100 <= b && b + 5000 <= c, "blocks do not overlap");
    cr_assert_geq(uarea_page_of(ua, a), 0);
    cr_assert_eq(present_pages(), (unsigned)uarea_page_of(ua, c) + 1u);
    cr_assert(uarea_pages(ua)[0] & UAREA_PAGE_DIRTY);
    memset(a, 0xaa, 100);
    memset(b, 0xbb, 5000);
    memset(c, 0xcc, 16);
    cr_assert_eq(ua->heap.blocks, 3u);
    /* freeing the middle block and reusing it */
    cr_assert_eq(uarea_heap_free(ua, b), 0);
    d = uarea_heap_alloc(ua, 4000);
    cr_assert_eq(d, b, "first fit reuses the freed block");
    cr_assert_eq(uarea_heap_free(ua, d), 0);
    /* a and b coalesce: a block of both sizes fits where a was */
    cr_assert_eq(uarea_heap_free(ua, a), 0);
    d = uarea_heap_alloc(ua, 5000 + 100);
    cr_assert_eq(d, a);
    cr_assert_eq(c[0], 0xcc, "other blocks untouched");
    cr_assert_eq(uarea_heap_free(ua, d), 0);
    cr_assert_eq(uarea_heap_free(ua, c), 0);
    cr_assert_eq(ua->heap.top, 0u, "the break falls back when the last block goes");
    cr_assert_eq(ua->heap.blocks, 0u);
    cr_assert_eq(ua->heap.used, 0u);
    cr_assert_eq(present_pages(), 0u);
}

Test(uarea_layout, heap_errors)
{
    unsigned char *a;
    uint32_t top;
    setup();
    cr_assert_null(uarea_heap_alloc(ua, 0));
    cr_assert_null(uarea_heap_alloc(NULL, 8));
    cr_assert_null(uarea_heap_alloc(ua, UAREA_HEAP_BYTES));
    a = uarea_heap_alloc(ua, 64);
    cr_assert_not_null(a);
    top = ua->heap.top;
    cr_assert_eq(uarea_heap_free(ua, a + 16), UAREA_EINVAL, "not a block start");
    cr_assert_eq(uarea_heap_free(ua, a + 1), UAREA_EINVAL);
    cr_assert_eq(uarea_heap_free(ua, region), UAREA_EINVAL, "outside the heap");
    cr_assert_eq(uarea_heap_free(NULL, a), UAREA_EINVAL);
    cr_assert_eq(uarea_heap_free(ua, NULL), 0);
    cr_assert_eq(ua->heap.top, top, "refused frees change nothing");
    cr_assert_eq(uarea_heap_free(ua, a), 0);
    cr_assert_eq(uarea_heap_free(ua, a), UAREA_EINVAL, "double free");
}

Test(uarea_layout, heap_fills_up_and_recovers)
{
    void *p[UAREA_HEAP_PAGES];
    unsigned n = 0;
    setup();
    while (n < UAREA_HEAP_PAGES && (p[n] = uarea_heap_alloc(ua, UAREA_PAGE_SIZE - 16)) != NULL) n++;
    cr_assert_eq(n, UAREA_HEAP_PAGES, "one block per page, header included");
    cr_assert_null(uarea_heap_alloc(ua, 1), "full");
    cr_assert_eq(present_pages(), UAREA_HEAP_PAGES);
    for (unsigned i = 0; i < n; i += 2) cr_assert_eq(uarea_heap_free(ua, p[i]), 0);
    cr_assert_not_null(uarea_heap_alloc(ua, 100), "a freed hole is reused");
    for (unsigned i = 1; i < n; i += 2) cr_assert_eq(uarea_heap_free(ua, p[i]), 0);
    cr_assert_eq(ua->heap.blocks, 1u);
}

Test(uarea_layout, board_accessor)
{
    setup();
    cr_assert_eq(uarea_board(ua, 0), &ua->board[0]);
    cr_assert_eq(uarea_board(ua, UAREA_CORES_MAX - 1), &ua->board[UAREA_CORES_MAX - 1]);
    cr_assert_null(uarea_board(ua, UAREA_CORES_MAX));
    cr_assert_null(uarea_board(NULL, 0));
}
