/* The node's container operations (include/migrate/node.h), called as the
 * protocol calls them, in one process: a source node produces a pre-copy
 * image and its delta from a container; a destination node at the same
 * addresses (the region and the user section, wiped in between) stages the
 * first, verifies the delta over it, and is then told to discard (an ABORT
 * in R_COMMIT): nothing of either image may stay. It did: once the delta was
 * verified, a discard wiped only the delta's own span, leaving the pre-copied
 * user-section bytes the delta did not rewrite. And the source's count of
 * the zero pages it sent in the delta matches the destination's (it counted
 * over the wrong page list). */
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <noc/loopback.h>
#include <migrate/node.h>
#include <criterion/criterion.h>
#include <string.h>

#define BINARY_FP 0xC0FFEE0000000003ull

static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE];
static _Alignas(4096) unsigned char user[4 * 4096];
static unsigned char pre_img[UAREA_CONTAINER_SIZE + sizeof user + 65536];
static unsigned char round_img[UAREA_CONTAINER_SIZE + sizeof user + 65536];
static _Alignas(4096) unsigned char snap[UAREA_CONTAINER_SIZE];
static unsigned char snap_user[sizeof user];
static unsigned char delta_img[UAREA_CONTAINER_SIZE + sizeof user + 65536];
static unsigned char block[2][65536];
static noc_loopback lb;
static noc_transport t[2];
static migrate_node src, dst;
static const migrate_region sections[1] = {{(uintptr_t)user, sizeof user}};

static int dirty_begin(void *arg) { (void)arg; return 0; }

/* What the tracker reports at the next collect: by default, since the
 * pre-copy, one page of the user section was written; a test that writes
 * more says so (wrote()). */
static migrate_region script[16];
static int n_script, scripted;

static void wrote(const void *p, size_t len)
{
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095, hi = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
    cr_assert_lt(n_script, 16);
    script[n_script].addr = lo;
    script[n_script].len = (size_t)(hi - lo);
    n_script++;
}

static int dirty_collect(void *arg, migrate_dirty_fn mark, void *ctx)
{
    (void)arg;
    if (!scripted) {
        mark(ctx, (uintptr_t)user + 4096, 4096);
        return 0;
    }
    for (int i = 0; i < n_script; i++) mark(ctx, script[i].addr, script[i].len);
    n_script = 0;
    return 0;
}

/* A loopback of two nodes, their transports in t[]. */
static void two_nodes(void)
{
    cr_assert_eq(noc_loopback_init(&lb, &(noc_loopback_desc){.nodes = 2}), 0);
    for (int i = 0; i < 2; i++) cr_assert_eq(noc_loopback_transport(&lb, i, &t[i]), 0);
}

/* Node `self`'s descriptor: the region, the user section, its transport
 * and block; no hooks. */
static migrate_node_desc node_desc(int self)
{
    migrate_node_desc d;
    memset(&d, 0, sizeof d);
    d.t = &t[self];
    d.region = region;
    d.region_size = sizeof region;
    d.user = sections;
    d.n_user = 1;
    d.binary_fp = BINARY_FP;
    d.block = block[self];
    d.block_size = sizeof block[self];
    return d;
}

static void node(migrate_node *n, int self)
{
    migrate_node_desc d = node_desc(self);
    d.dirty_begin = dirty_begin;
    d.dirty_collect = dirty_collect;
    cr_assert_eq(migrate_node_init(n, &d), 0);
}

/* The source node 0 with a container: its user section 0xa5, three heap
 * blocks of 3, 6 and 4 pages (left as allocated: zero inside). */
static const migrate_container_ops *source_abc(struct uarea **ua, unsigned char **a,
                                               unsigned char **b, unsigned char **c)
{
    two_nodes();
    node(&src, 0);
    cr_assert_eq(uarea_container_init(region, sizeof region, ua), 0);
    memset(user, 0xa5, sizeof user);
    *a = uarea_heap_alloc(*ua, 3 * 4096);
    *b = uarea_heap_alloc(*ua, 6 * 4096);
    *c = uarea_heap_alloc(*ua, 4 * 4096);
    cr_assert(*a && *b && *c);
    return src.d.ops;
}

static size_t produce(unsigned char *out, size_t cap)
{
    size_t n = 0;
    long k;
    while ((k = src.d.ops->image_produce(src.d.ctx, out + n, cap - n)) > 0) n += (size_t)k;
    cr_assert_eq(k, 0);
    return n;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0) return 0;
    return 1;
}

Test(node_ops, discarding_a_verified_delta_wipes_the_staged_image_too)
{
    migrate_offer pre, delta;
    struct uarea *ua;
    size_t npre, ndelta;
    const migrate_container_ops *ops;
    two_nodes();

    /* the source: a container and its user section, pre-copy then delta */
    node(&src, 0);
    ops = src.d.ops;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    memset(user, 0xa5, sizeof user);
    memset(uarea_heap_alloc(ua, 3 * 4096), 0x11, 3 * 4096);   /* heap pages, not zero */
    cr_assert_eq(migrate_node_adopt(&src), 0);
    memset(&pre, 0, sizeof pre);
    pre.flags = MIGRATE_OFFER_PRE;
    cr_assert_eq(ops->precopy_begin(src.d.ctx, &pre), 0);
    npre = produce(pre_img, sizeof pre_img);
    cr_assert_eq(npre, pre.size);
    memset(user + 4096, 0x5a, 4096);                   /* written meanwhile */
    cr_assert_not_null(uarea_heap_alloc(ua, 6 * 4096));  /* new pages, zero inside */
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(ops->freeze(src.d.ctx), 0);
    memset(&delta, 0, sizeof delta);
    delta.flags = MIGRATE_OFFER_DELTA;
    cr_assert_eq(ops->image_begin(src.d.ctx, &delta), 0);
    ndelta = produce(delta_img, sizeof delta_img);
    cr_assert_eq(ndelta, delta.size);
    cr_assert_lt(ndelta, npre, "the delta is the smaller image");

    /* the destination, at the same addresses, starts empty */
    memset(region, 0, sizeof region);
    memset(user, 0, sizeof user);
    src.present = 0;
    node(&dst, 1);
    cr_assert_eq(ops->accept(dst.d.ctx, &pre), 0);
    cr_assert_eq(ops->restore_feed(dst.d.ctx, pre_img, npre), 0);
    cr_assert_eq(ops->restore_end(dst.d.ctx), 0, "the pre-copy image verifies and is staged");
    cr_assert_eq(user[0], 0xa5);
    cr_assert_eq(ops->accept(dst.d.ctx, &delta), 0);
    cr_assert_eq(ops->restore_feed(dst.d.ctx, delta_img, ndelta), 0);
    cr_assert_eq(ops->restore_end(dst.d.ctx), 0, "the delta verifies");
    cr_assert_eq(user[4096], 0x5a);
    cr_assert_eq(user[0], 0xa5, "staged bytes the delta did not rewrite");
    /* the source counts the zero pages of the image it sent (COMMIT carries
     * the figure): as many as the destination read */
    cr_assert_gt(dst.r.stats.zero_pages, 0);
    cr_assert_eq(ops->zero_pages(src.d.ctx), dst.r.stats.zero_pages);

    /* an ABORT in R_COMMIT */
    cr_assert_eq(ops->discard(dst.d.ctx), 0);
    cr_assert(all_zero(user, sizeof user), "nothing of the user section stays");
    cr_assert(all_zero(region, sizeof region), "nothing of the region stays");
    cr_assert_eq(ops->has_container(dst.d.ctx), 0);
}

static void *never_runs(void *arg) { return arg; }

/* A thread that has not run yet: on aarch64 and riscv its start is all in its
 * saved context (entry in a register, sp at the stack's top), so nothing of
 * its stack is live. Its guard words must still travel: the destination's
 * first switch of that thread checks them. They did not (the thread was
 * killed for a "stack overflow" at its first switch on the destination). */
Test(node_ops, a_thread_that_never_ran_keeps_its_guard_words_in_the_image)
{
    struct uarea *ua;
    uarea_tid_t tid;
    migrate_region stacks[MIGRATE_STACK_SECTIONS];
    migrate_page pages[UAREA_HEAP_PAGES];
    migrate_container c;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &tid, never_runs, NULL), 0);
    cr_assert_eq(uarea_create(ua, &tid, never_runs, NULL), 0);
    /* as aarch64 and riscv leave a new thread: nothing below the top of its
     * stack is live (past the CPU's red zone, which counts as live) */
    uintptr_t sp = uarea__arch_ctx_sp(ua->threads[1].ctx.w);
    uintptr_t top = (uintptr_t)uarea_stack_base(ua, 1) + UAREA_STACK_SIZE + UAREA_ARCH_REDZONE;
    for (unsigned k = 0; k < UAREA_ARCH_CTX_WORDS; k++)
        if (ua->threads[1].ctx.w[k] == sp) ua->threads[1].ctx.w[k] = top;
    uintptr_t lo;
    size_t len;
    cr_assert_eq(uarea_stack_used(ua, 1, &lo, &len), 0);
    cr_assert_eq(len, 0, "nothing live");
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(migrate_describe(ua, NULL, 0, BINARY_FP, stacks, pages, &c), 0);
    for (unsigned i = 0; i < 2; i++) {
        uintptr_t base = (uintptr_t)uarea_stack_base(ua, i);
        int found = 0;
        for (uint32_t k = 0; k < c.n_stacks; k++)
            found |= c.stacks[k].addr == base && c.stacks[k].len >= UAREA_CANARY_BYTES;
        cr_assert(found, "the guard words of stack %u are not in the image", i);
    }
}

/* A node that holds its container (a checkpoint freezes it) does not start
 * moving it: the migration ends at once with UAREA_EBUSY, the container as
 * it was; a migration under way cannot be held. */
Test(node_ops, a_held_container_does_not_move)
{
    struct uarea *ua;
    uarea_tid_t tid;
    migrate_stats st;
    two_nodes();
    node(&src, 0);
    node(&dst, 1);
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &tid, never_runs, NULL), 0);
    cr_assert_eq(migrate_node_adopt(&src), 0);
    cr_assert_eq(migrate_node_hold(&src, 1), 0);
    cr_assert_eq(migrate_daemon_start(&src.d, 1), 0);
    for (int k = 0; k < 100 && migrate_daemon_busy(&src.d); k++) {
        (void)migrate_node_step(&src);
        (void)migrate_node_step(&dst);
    }
    cr_assert_eq(migrate_daemon_last(&src.d, &st), UAREA_EBUSY);
    cr_assert_eq(migrate_node_present(&src), 1);
    cr_assert_eq(migrate_node_present(&dst), 0);
    cr_assert_eq(__atomic_load_n(&ua->freeze, __ATOMIC_ACQUIRE), UAREA_RUN, "left running");
    /* let go: it may move (this test's two nodes share one region, so
     * the move itself is test_node_migrate's) */
    cr_assert_eq(migrate_node_hold(&src, 0), 0);
    cr_assert_eq(migrate_daemon_start(&src.d, 1), 0);
    cr_assert_eq(migrate_node_hold(&src, 1), UAREA_EBUSY, "not while it migrates");
    cr_assert_neq(src.d.ops->freeze(src.d.ctx), UAREA_EBUSY);
}

struct membuf { unsigned char *p; size_t n, cap, off; };
static int mem_sink(void *ctx, const void *buf, size_t len)
{
    struct membuf *m = ctx;
    if (m->n + len > m->cap) return UAREA_EIO;
    memcpy(m->p + m->n, buf, len);
    m->n += len;
    return 0;
}
static long mem_source(void *ctx, void *buf, size_t cap)
{
    struct membuf *m = ctx;
    size_t k = m->n - m->off < cap ? m->n - m->off : cap;
    memcpy(buf, m->p + m->off, k);
    m->off += k;
    return (long)k;
}

/* An image whose every section is intact but that lacks one thread's stack
 * (a writer that left it out): verified section by section it passes, and
 * it ran into a crash. It is refused for the UArea it carries, and nothing
 * of it stays. */
Test(node_ops, an_image_without_a_threads_stack_is_refused)
{
    struct uarea *ua, *out = NULL;
    uarea_tid_t tid;
    migrate_region stacks[MIGRATE_STACK_SECTIONS], kept[MIGRATE_STACK_SECTIONS];
    migrate_page pages[UAREA_HEAP_PAGES];
    migrate_container c;
    struct membuf m = {pre_img, 0, sizeof pre_img, 0};
    uint32_t n = 0;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    cr_assert_eq(uarea_create(ua, &tid, never_runs, NULL), 0);
    cr_assert_eq(uarea_create(ua, &tid, never_runs, NULL), 0);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(migrate_describe(ua, NULL, 0, BINARY_FP, stacks, pages, &c), 0);
    uintptr_t lo = (uintptr_t)uarea_stack_base(ua, 1), hi = lo + UAREA_STACK_SIZE;
    for (uint32_t k = 0; k < c.n_stacks; k++)
        if (c.stacks[k].addr < lo || c.stacks[k].addr >= hi) kept[n++] = c.stacks[k];
    cr_assert_lt(n, c.n_stacks, "thread 1's stack was described");
    c.stacks = kept;
    c.n_stacks = n;
    cr_assert_eq(migrate_image_write(&c, mem_sink, &m, block[0], sizeof block[0], NULL), 0);
    memset(region, 0, sizeof region);
    cr_assert_eq(migrate_restore(region, sizeof region, NULL, 0, BINARY_FP, mem_source, &m, block[1],
                                 sizeof block[1], NULL, &out),
                 UAREA_EIMGINCOMPLETE);
    cr_assert_null(out);
    cr_assert(all_zero(region, sizeof region), "nothing of it stays");
}

static void restore(const migrate_offer *o, const unsigned char *img, size_t len)
{
    const migrate_container_ops *ops = dst.d.ops;
    cr_assert_eq(ops->accept(dst.d.ctx, o), 0, "accept flags %u", o->flags);
    cr_assert_eq(ops->restore_feed(dst.d.ctx, img, len), 0);
    cr_assert_eq(ops->restore_end(dst.d.ctx), 0, "image of flags %u verifies", o->flags);
}

/* Pre-copy in rounds, as the daemon drives it: the whole image; a round of
 * what was written since (a heap block freed meanwhile: zero records); a
 * round described and then declined (the policy stopped the rounds), so
 * never produced; the freeze and the delta. The destination, from the
 * first image, the produced round and the delta, holds exactly what the
 * source held at the freeze: every present heap page, the user section,
 * and zeros in every page not present (freed since it was sent, or never
 * sent); what the declined round would have carried came in the delta. */
Test(node_ops, rounds_and_the_delta_rebuild_the_container_at_the_freeze)
{
    migrate_offer pre, r2, r3, delta;
    struct uarea *ua;
    size_t npre, nr2, ndelta;
    const migrate_container_ops *ops;
    unsigned char *a, *b, *c, *dd;
    uint8_t table[UAREA_HEAP_PAGES];
    scripted = 1;
    n_script = 0;
    ops = source_abc(&ua, &a, &b, &c);
    memset(a, 0x11, 3 * 4096);
    memset(b, 0x22, 6 * 4096);
    memset(c, 0x33, 4 * 4096);
    cr_assert_eq(migrate_node_adopt(&src), 0);

    /* round 1: the whole image */
    memset(&pre, 0, sizeof pre);
    pre.flags = MIGRATE_OFFER_PRE;
    cr_assert_eq(ops->precopy_begin(src.d.ctx, &pre), 0);
    npre = produce(pre_img, sizeof pre_img);
    cr_assert_eq(npre, pre.size);

    /* round 2: a page of a and of the user section written, c freed */
    memset(a, 0x44, 100);
    wrote(a, 100);
    memset(user + 4096, 0x5a, 4096);
    wrote(user + 4096, 4096);
    cr_assert_eq(uarea_heap_free(ua, c), 0);
    wrote(c - 64, 4 * 4096 + 64);
    memset(&r2, 0, sizeof r2);
    r2.flags = MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA;
    cr_assert_eq(ops->precopy_next(src.d.ctx, &r2), 0);
    cr_assert_gt(r2.size, 0);
    cr_assert_lt(r2.size, npre / 2, "a round carries what was written, not b");
    nr2 = produce(round_img, sizeof round_img);
    cr_assert_eq(nr2, r2.size);

    /* round 3, declined: b and the user section written, a new block */
    memset(b + 2 * 4096, 0x66, 4096);
    wrote(b + 2 * 4096, 4096);
    memset(user + 2 * 4096, 0x77, 4096);
    wrote(user + 2 * 4096, 4096);
    dd = uarea_heap_alloc(ua, 2 * 4096);
    cr_assert_not_null(dd);
    memset(dd, 0x88, 2 * 4096);
    wrote(dd - 64, 2 * 4096 + 64);
    memset(&r3, 0, sizeof r3);
    r3.flags = MIGRATE_OFFER_PRE | MIGRATE_OFFER_DELTA;
    cr_assert_eq(ops->precopy_next(src.d.ctx, &r3), 0);
    cr_assert_gt(r3.size, 0, "there was something to send");

    /* the freeze: one more page of b and of the user section */
    memset(b + 4 * 4096, 0x99, 4096);
    wrote(b + 4 * 4096, 4096);
    memset(user + 3 * 4096, 0xaa, 4096);
    wrote(user + 3 * 4096, 4096);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(ops->freeze(src.d.ctx), 0);
    memset(&delta, 0, sizeof delta);
    delta.flags = MIGRATE_OFFER_DELTA;
    cr_assert_eq(ops->image_begin(src.d.ctx, &delta), 0);
    ndelta = produce(delta_img, sizeof delta_img);
    cr_assert_eq(ndelta, delta.size);
    memcpy(snap, region, sizeof region);
    memcpy(snap_user, user, sizeof user);
    memcpy(table, uarea_pages(ua), sizeof table);

    /* the destination, at the same addresses, starts empty */
    memset(region, 0, sizeof region);
    memset(user, 0, sizeof user);
    src.present = 0;
    node(&dst, 1);
    restore(&pre, pre_img, npre);
    cr_assert_eq(dst.staged, MIGRATE_STAGED_HELD);
    restore(&r2, round_img, nr2);
    cr_assert_eq(dst.staged, MIGRATE_STAGED_HELD, "a round stays staged");
    restore(&delta, delta_img, ndelta);
    cr_assert_eq(dst.staged, MIGRATE_STAGED_COMPLETE);
    cr_assert(memcmp(user, snap_user, sizeof user) == 0, "the user section at the freeze");
    for (unsigned i = 0; i < UAREA_HEAP_PAGES; i++) {
        const unsigned char *got = uarea_page_addr((struct uarea *)region, i);
        size_t off = (size_t)(got - region);
        if (table[i] & UAREA_PAGE_PRESENT)
            cr_assert(memcmp(got, snap + off, 4096) == 0, "heap page %u differs", i);
        else
            cr_assert(all_zero(got, 4096), "heap page %u, not present, is not zero", i);
    }
    cr_assert(memcmp(region, snap, UAREA_UAREA_LEN) == 0, "the UArea");
    cr_assert_eq(ops->discard(dst.d.ctx), 0);
    cr_assert(all_zero(region, sizeof region));
    scripted = 0;
}

/* ---- post-copy: the node's side (the protocol's is test_protocol_postcopy) ----
 * A fake port for the destination's lazy hooks: installs copy into the
 * region and are counted; faults are scripted. */
static uint32_t lz_map[MIGRATE_PAGE_MAP_WORDS];
static int lz_began, lz_ended = -1;
static long lz_installed, lz_zeros;
static uintptr_t lz_faults_script[4];
static int lz_n_faults;

static int lz_begin(void *arg, uintptr_t heap, const uint32_t *map, uint32_t pages)
{
    (void)arg;
    cr_assert_eq(heap, (uintptr_t)region + UAREA_HEAP_OFFSET);
    cr_assert_eq(pages, (uint32_t)UAREA_HEAP_PAGES);
    memcpy(lz_map, map, sizeof lz_map);
    lz_began++;
    return 0;
}
static long lz_install(void *arg, uintptr_t addr, const void *bytes, uint32_t count)
{
    (void)arg;
    if (bytes == NULL) { memset((void *)addr, 0, (size_t)count * 4096); lz_zeros += count; }
    else { memcpy((void *)addr, bytes, (size_t)count * 4096); lz_installed += count; }
    return count;
}
static long lz_faults(void *arg, uintptr_t *want, uint32_t max)
{
    (void)arg;
    cr_assert_geq(max, 4u);
    for (int i = 0; i < lz_n_faults; i++) want[i] = lz_faults_script[i];
    long n = lz_n_faults;
    lz_n_faults = 0;
    return n;
}
static void lz_end(void *arg, int failed) { (void)arg; lz_ended = failed; }

static void lazy_node(migrate_node *n, int self)
{
    migrate_node_desc d = node_desc(self);
    d.lazy_begin = lz_begin;
    d.lazy_install = lz_install;
    d.lazy_faults = lz_faults;
    d.lazy_end = lz_end;
    cr_assert_eq(migrate_node_init(n, &d), 0);
}

static unsigned char pkt[UAREA_HEAP_PAGES > 64 ? 64 * 4096 : UAREA_HEAP_PAGES * 4096];
static unsigned char pushed[UAREA_CONTAINER_SIZE];
static uint32_t pushed_first[64], pushed_count[64];

/* Post-copy through the node's ops: the source leaves out exactly the
 * present heap pages (a whole image does not read them for zeros), the
 * image says which in lazy sections; the source serves a fetch and pushes
 * every lazy page once; the destination marks them missing before the
 * container runs, turns faults into asks (a touched page outside the map
 * gets zeros), installs only verified-and-missing pages, and ends the
 * arrangement when the last one is in: the container is then the source's
 * at the freeze, byte for byte. */
Test(node_ops, postcopy_leaves_out_the_pages_with_bytes_and_brings_each_once)
{
    migrate_offer o;
    struct uarea *ua;
    const migrate_container_ops *ops;
    unsigned char *a, *b, *c;
    uint8_t table[UAREA_HEAP_PAGES];
    uint32_t lazy_want = 0, bytes_pages = 0, first, count, psz, n_runs = 0, i;
    long k;
    ops = source_abc(&ua, &a, &b, &c);
    memset(a, 0x11, 3 * 4096);
    for (int j = 0; j < 4 * 4096; j++) c[j] = (unsigned char)(j * 7 + 3);
    cr_assert_eq(migrate_node_adopt(&src), 0);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(ops->freeze(src.d.ctx), 0);
    memcpy(table, uarea_pages(ua), sizeof table);
    for (i = 0; i < UAREA_HEAP_PAGES; i++)
        if (table[i] & UAREA_PAGE_PRESENT) {
            lazy_want++;
            if (!all_zero(uarea_page_addr(ua, i), 4096)) bytes_pages++;
        }
    cr_assert_geq(lazy_want, 13u);

    /* the whole image, for comparison, then the post-copy one */
    memset(&o, 0, sizeof o);
    cr_assert_eq(ops->image_begin(src.d.ctx, &o), 0);
    uint64_t whole = o.size;
    memset(&o, 0, sizeof o);
    o.flags = MIGRATE_OFFER_POST;
    o.src = 0;
    cr_assert_eq(ops->image_begin(src.d.ctx, &o), 0);
    cr_assert_eq(o.pages, lazy_want, "every present page (not read for zeros: its freeze "
                                     "time would grow with the heap)");
    cr_assert_leq(o.size + (uint64_t)bytes_pages * 4096, whole, "their bytes are out of the image");
    size_t nimg = produce(pre_img, sizeof pre_img);
    cr_assert_eq(nimg, o.size);

    /* a fetch: the second page of c, two asked; a page that is not lazy */
    uint32_t ci = (uint32_t)((uintptr_t)(c - (unsigned char *)region - UAREA_HEAP_OFFSET) / 4096);
    k = ops->pages_produce(src.d.ctx, ci + 1, 2, pkt, sizeof pkt, &first, &psz);
    cr_assert_eq(k, 2);
    cr_assert_eq(first, ci + 1);
    cr_assert_eq(psz, 4096u);
    cr_assert(memcmp(pkt, uarea_page_addr(ua, ci + 1), 2 * 4096) == 0);
    uint32_t bi = (uint32_t)((uintptr_t)(b + 4096 - (unsigned char *)region - UAREA_HEAP_OFFSET) / 4096);
    cr_assert_eq(ops->pages_produce(src.d.ctx, bi, 1, pkt, sizeof pkt, &first, &psz), 1,
                 "a zero page comes after like the others");
    cr_assert_eq(ops->pages_produce(src.d.ctx, UAREA_HEAP_PAGES - 1, 1, pkt, sizeof pkt, &first,
                                    &psz), UAREA_EINVAL, "a page not in the container");
    cr_assert_eq(ops->pages_produce(src.d.ctx, UAREA_HEAP_PAGES, 1, pkt, sizeof pkt, &first, &psz),
                 UAREA_EINVAL);
    /* the push: two pages a packet, every lazy page once, then 0 */
    uint32_t total = 0;
    unsigned char *p = pushed;
    while ((k = ops->pages_produce(src.d.ctx, MIGRATE_PAGES_NEXT, 0xffffffffu, p, 2 * 4096 + 100,
                                   &first, &psz)) > 0) {
        cr_assert_leq(k, 2);
        cr_assert_lt(n_runs, 64u);
        pushed_first[n_runs] = first;
        pushed_count[n_runs++] = (uint32_t)k;
        p += (size_t)k * 4096;
        total += (uint32_t)k;
    }
    cr_assert_eq(k, 0);
    cr_assert_eq(total, lazy_want);
    memcpy(snap, region, sizeof region);
    memcpy(snap_user, user, sizeof user);

    /* the destination, at the same addresses, starts empty */
    memset(region, 0, sizeof region);
    memset(user, 0, sizeof user);
    src.present = 0;
    node(&dst, 1);
    cr_assert_eq(ops->accept(dst.d.ctx, &o), UAREA_ENOSYS, "no lazy hooks, no post-copy");
    cr_assert_eq(migrate_node_fini(&dst), 0);
    lazy_node(&dst, 1);
    restore(&o, pre_img, nimg);
    cr_assert_eq(memcmp(dst.lazy, src.lazy, sizeof dst.lazy), 0, "the image names the pages");
    cr_assert_eq(ops->pages_missing(dst.d.ctx), 0u, "not running yet");
    cr_assert_eq(ops->postcopy_activate(dst.d.ctx, &o), 0);
    cr_assert(!migrate_node_present(&dst), "not running before activate");
    cr_assert_eq(ops->activate(dst.d.ctx), 0);
    cr_assert_eq(lz_began, 1);
    cr_assert_eq(memcmp(lz_map, src.lazy, sizeof lz_map), 0);
    cr_assert(migrate_node_postcopy(&dst));
    cr_assert(migrate_node_present(&dst));
    cr_assert_eq(ops->pages_missing(dst.d.ctx), lazy_want);

    /* faults: a page of c (wanted), a free page (zeros, not asked) */
    uint32_t free_page = UAREA_HEAP_PAGES - 1;
    cr_assert_eq(table[free_page] & UAREA_PAGE_PRESENT, 0);
    lz_faults_script[0] = (uintptr_t)(c + 3 * 4096 + 12);
    lz_faults_script[1] = (uintptr_t)uarea_page_addr((struct uarea *)region, free_page);
    lz_n_faults = 2;
    cr_assert_eq(ops->pages_wanted(dst.d.ctx, 0, &first, &count), 1);
    cr_assert_eq(first, ci + 3);
    cr_assert_eq(count, 1u);
    cr_assert_eq(lz_zeros, 1);
    cr_assert_eq(ops->pages_wanted(dst.d.ctx, 0, &first, &count), 0, "each fault asked once");
    cr_assert_eq(ops->pages_wanted(dst.d.ctx, 1, &first, &count), 1);
    cr_assert_eq(first, ci + 3, "asked again: the waited-for page first");

    /* bad packets install nothing */
    cr_assert_eq(ops->pages_install(dst.d.ctx, ci, 1, 8192, pkt), UAREA_EINVAL);
    cr_assert_eq(ops->pages_install(dst.d.ctx, UAREA_HEAP_PAGES - 1, 2, 4096, pkt), UAREA_EINVAL);
    cr_assert_eq(lz_installed, 0);
    /* the fetched pair, then the push (its pair again: not installed twice) */
    cr_assert_eq(ops->pages_install(dst.d.ctx, ci + 1, 2, 4096,
                                 snap + ((unsigned char *)uarea_page_addr(ua, ci + 1) - region)), 2);
    p = pushed;
    long newly = 0;
    for (i = 0; i < n_runs; i++) {
        k = ops->pages_install(dst.d.ctx, pushed_first[i], pushed_count[i], 4096, p);
        cr_assert_geq(k, 0);
        newly += k;
        p += (size_t)pushed_count[i] * 4096;
        if (i + 1 < n_runs) cr_assert_eq(lz_ended, -1, "not over before the last page");
    }
    cr_assert_eq(newly + 2, (long)lazy_want);
    cr_assert_eq(lz_installed, (long)lazy_want, "every page installed once");
    cr_assert_eq(ops->pages_missing(dst.d.ctx), 0u);
    cr_assert_eq(lz_ended, 0, "the arrangement ends with the last page");
    cr_assert(!migrate_node_postcopy(&dst));
    cr_assert(memcmp(user, snap_user, sizeof user) == 0);
    for (i = 0; i < UAREA_HEAP_PAGES; i++) {
        const unsigned char *got = uarea_page_addr((struct uarea *)region, i);
        size_t off = (size_t)(got - region);
        if (table[i] & UAREA_PAGE_PRESENT)
            cr_assert(memcmp(got, snap + off, 4096) == 0, "heap page %u differs", i);
    }
    cr_assert_eq(ops->pages_install(dst.d.ctx, ci, 1, 4096, pkt), UAREA_ESTATE, "over");
    cr_assert_eq(ops->pages_wanted(dst.d.ctx, 1, &first, &count), 0);
    lz_began = 0; lz_ended = -1; lz_installed = lz_zeros = 0;
}

/* The source lost with pages missing: the port is told to stop the
 * container for good; the node no longer holds it. A damaged image count
 * (fewer lazy pages than the offer says) is refused before anything runs. */
Test(node_ops, postcopy_failure_and_a_lying_offer)
{
    migrate_offer o;
    struct uarea *ua;
    const migrate_container_ops *ops;
    unsigned char *a;
    two_nodes();
    node(&src, 0);
    ops = src.d.ops;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    a = uarea_heap_alloc(ua, 2 * 4096);
    memset(a, 0x42, 2 * 4096);
    cr_assert_eq(migrate_node_adopt(&src), 0);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(ops->freeze(src.d.ctx), 0);
    memset(&o, 0, sizeof o);
    o.flags = MIGRATE_OFFER_POST;
    cr_assert_eq(ops->image_begin(src.d.ctx, &o), 0);
    cr_assert_geq(o.pages, 2u);
    size_t nimg = produce(pre_img, sizeof pre_img);
    memset(region, 0, sizeof region);
    memset(user, 0, sizeof user);
    src.present = 0;
    lazy_node(&dst, 1);
    /* the offer says one page more than the image leaves out */
    migrate_offer lie = o;
    lie.pages++;
    cr_assert_eq(ops->accept(dst.d.ctx, &lie), 0);
    cr_assert_eq(ops->restore_feed(dst.d.ctx, pre_img, nimg), 0);
    cr_assert_eq(ops->restore_end(dst.d.ctx), UAREA_EIMGFORMAT);
    cr_assert(all_zero(region, sizeof region), "nothing of it stays");
    cr_assert_eq(ops->discard(dst.d.ctx), 0);
    /* the true offer, running, then the source is lost */
    restore(&o, pre_img, nimg);
    cr_assert_eq(ops->postcopy_activate(dst.d.ctx, &o), 0);
    cr_assert_eq(ops->activate(dst.d.ctx), 0);
    cr_assert(migrate_node_present(&dst));
    ops->postcopy_fail(dst.d.ctx);
    cr_assert_eq(lz_ended, 1);
    cr_assert(!migrate_node_present(&dst));
    cr_assert(!migrate_node_postcopy(&dst));
    cr_assert_eq(ops->pages_missing(dst.d.ctx), 0u);
    cr_assert_eq(ops->pages_install(dst.d.ctx, 0, 1, 4096, pkt), UAREA_ESTATE,
                 "nothing is installed after the failure");
    lz_began = 0; lz_ended = -1; lz_installed = lz_zeros = 0;
}

/* A container of 2 heap pages made on node 0 (src), adopted, frozen and
 * dropped as at a commit point. */
static void made_and_dropped(void)
{
    struct uarea *ua;
    cr_assert_eq(uarea_container_init(region, sizeof region, &ua), 0);
    memset(user, 0x5c, sizeof user);
    memset(uarea_heap_alloc(ua, 2 * 4096), 0x42, 2 * 4096);
    cr_assert_eq(migrate_node_adopt(&src), 0);
    cr_assert_eq(uarea_freeze(ua), 0);
    cr_assert_eq(src.d.ops->freeze(src.d.ctx), 0);
    cr_assert_eq(src.d.ops->drop(src.d.ctx), 0);
}

/* A node with a wipe delay (migrate_node_desc.wipe_delay_ns, as the POSIX
 * runtime sets it): at the commit point the container is released (no
 * longer present) at once, its copy wiped only when the delay is over
 * (migrate_node_step), or at once when an image comes in first, or at the
 * node's end; a left copy is not adopted. Without a delay, drop wipes. */
Test(node_ops, a_left_copy_is_wiped_after_the_delay_or_before_the_next_image)
{
    migrate_node_desc d;
    const migrate_container_ops *ops;
    migrate_offer o;
    two_nodes();
    d = node_desc(0);
    d.wipe_delay_ns = 2000000;
    cr_assert_eq(migrate_node_init(&src, &d), 0);
    ops = src.d.ops;
    for (int round = 0; round < 3; round++) {
        made_and_dropped();
        cr_assert(!migrate_node_present(&src), "released at once");
        cr_assert(!all_zero(region, sizeof region), "the wipe waits");
        cr_assert_eq(migrate_node_adopt(&src), UAREA_ESTATE, "a left copy is not adopted");
        if (round == 0) {                            /* the delay runs out */
            migrate_node_step(&src);
            cr_assert(!all_zero(region, sizeof region));
            cr_assert_eq(noc_loopback_advance(&lb, 2000000), 0);
            migrate_node_step(&src);
        } else if (round == 1) {                     /* an image comes in first */
            memset(&o, 0, sizeof o);
            o.layout_fp = uarea_layout_fingerprint();
            o.binary_fp = BINARY_FP;
            o.src = 1;
            cr_assert_eq(ops->accept(src.d.ctx, &o), 0);
            cr_assert(all_zero(region, sizeof region) && all_zero(user, sizeof user),
                      "wiped before the reader writes");
            cr_assert_eq(ops->discard(src.d.ctx), 0);
        } else {                                     /* the node ends */
            cr_assert_eq(migrate_node_fini(&src), 0);
        }
        cr_assert(all_zero(region, sizeof region), "round %d: the copy is gone", round);
        cr_assert(all_zero(user, sizeof user), "round %d: the user section too", round);
    }
    /* a heap below wipe_delay_bytes: wiped at once */
    d.wipe_delay_bytes = 3 * 4096;
    cr_assert_eq(migrate_node_init(&src, &d), 0);
    made_and_dropped();
    cr_assert(all_zero(region, sizeof region) && all_zero(user, sizeof user));
    cr_assert_eq(migrate_node_fini(&src), 0);
    /* without a delay drop wipes at once */
    d.wipe_delay_ns = 0;
    cr_assert_eq(migrate_node_init(&src, &d), 0);
    made_and_dropped();
    cr_assert(all_zero(region, sizeof region) && all_zero(user, sizeof user));
}
