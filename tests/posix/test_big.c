/* Big containers through the POSIX runtime, one build per heap size
 * (tests/posix/CMakeLists.txt sets UAREA_HEAP_PAGES and BIG_MIB):
 *
 *  - test_posix_big_64m, UAREA_HEAP_PAGES 16384 (64 MiB of heap), BIG_MIB 48:
 *    48 MiB of the container's heap filled with a pattern, moved over three
 *    nodes, every byte checked after each hop. Meanwhile a worker thread
 *    keeps mixing its first 2 MiB, pass after pass, each pass over the
 *    last's values (as examples/hello_migrate.c does): pages it writes
 *    during a pre-copy go again in the delta, and one lost or stale page
 *    would change the result, which is checked against the same passes
 *    made without moving. Pre-copy and stop and copy.
 *  - test_posix_big_1g, UAREA_HEAP_PAGES 262144 (1 GiB of heap), BIG_MIB 4:
 *    a sparse heap: one block near the start and one near the end of the
 *    heap (a few MiB touched of 1 GiB), one hop, checked, the destination's
 *    resident memory well below the heap's size (zero pages arrive as
 *    flags and are not written); then a checkpoint of it to a file in /tmp
 *    (removed).
 *
 * Each migration's figures (image bytes before and during the freeze,
 * downtime) are printed on stderr by the launcher's on_migration hook. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef BIG_MIB
#  error "build with BIG_MIB (MiB of heap the test fills) and UAREA_HEAP_PAGES"
#endif

#define BIG_BYTES ((size_t)BIG_MIB << 20)
#define BIG_WORDS (BIG_BYTES / sizeof(uint64_t))
#define SLICE_WORDS ((size_t)(2u << 20) / sizeof(uint64_t))   /* the worker's part */
#define PASSES 400u         /* the worker's passes: it runs through the three hops */

static UAREA_USER uint64_t *lo_block, *hi_block;  /* on the container heap */
static UAREA_USER uint64_t *filler;               /* keeps hi_block near the heap's end */
static UAREA_USER int hops_done;
static UAREA_USER volatile unsigned passes_done;

static uint64_t word(unsigned gen, size_t i)
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + gen;
    return x ^ (x >> 29);
}

/* words [from, n) of a hold word(0, i) */
static int check(const uint64_t *a, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        if (a[i] != word(0, i)) return 0;
    return 1;
}


static int hop_to(int to)
{
    if (migrate_to(to) != 0) return 0;
    return noc_node_self() == to;
}

#if UAREA_HEAP_PAGES <= 16384u
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* One pass of the worker over a: each word from its last value. */
static void pass(uint64_t *a, unsigned p)
{
    for (size_t i = 0; i < SLICE_WORDS; i++) a[i] = mix(a[i] + p);
}

static void *worker(void *arg)
{
    (void)arg;
    for (unsigned p = 0; p < PASSES; p++) {
        pass(lo_block, p);
        __atomic_store_n(&passes_done, p + 1, __ATOMIC_RELEASE);
        uarea_thread_yield();
    }
    return NULL;
}

/* 64 MiB: fill 48 MiB, three hops round three nodes while the worker mixes
 * the first 2 MiB; after each hop the other 46 MiB are checked, at the end
 * the worker's part against the same passes made here. */
static int app(int argc, char **argv)
{
    uarea_tid_t t;
    uint64_t *ref;
    (void)argc; (void)argv;
    lo_block = uarea_malloc(BIG_BYTES);
    if (lo_block == NULL) return 1;
    for (size_t i = 0; i < BIG_WORDS; i++) lo_block[i] = word(0, i);
    if (uarea_thread_create(&t, worker, NULL) != 0) return 2;
    for (unsigned hop = 1; hop <= 3; hop++) {
        while (__atomic_load_n(&passes_done, __ATOMIC_ACQUIRE) < PASSES * hop / 4u)
            uarea_thread_yield();
        if (!hop_to((noc_node_self() + 1) % 3)) return 10 + (int)hop;
        if (!check(lo_block, SLICE_WORDS, BIG_WORDS)) return 20 + (int)hop;
        hops_done++;
    }
    if (uarea_thread_join(t, NULL) != 0) return 3;
    if (!check(lo_block, SLICE_WORDS, BIG_WORDS)) return 30;
    ref = uarea_malloc(SLICE_WORDS * sizeof *ref);
    if (ref == NULL) return 4;
    for (size_t i = 0; i < SLICE_WORDS; i++) ref[i] = word(0, i);
    for (unsigned p = 0; p < PASSES; p++) pass(ref, p);
    for (size_t i = 0; i < SLICE_WORDS; i++)
        if (lo_block[i] != ref[i]) return 31;
    uarea_free(ref);
    uarea_free(lo_block);
    return hops_done == 3 ? 0 : 32;
}
#else
/* 1 GiB: BIG_MIB / 2 MiB at the heap's start and at its end, the middle
 * never touched (allocated: the pages are present but zero, sent as flags). */
static int app(int argc, char **argv)
{
    size_t half = BIG_WORDS / 2;
    size_t gap = (size_t)UAREA_HEAP_BYTES - BIG_BYTES - 64u * 1024u;
    (void)argc; (void)argv;
    lo_block = uarea_malloc(half * sizeof(uint64_t));
    filler = uarea_malloc(gap);
    hi_block = uarea_malloc(half * sizeof(uint64_t));
    if (lo_block == NULL || filler == NULL || hi_block == NULL) return 1;
    if ((uintptr_t)hi_block + half * sizeof(uint64_t) <
        (uintptr_t)uarea_page_addr(uarea_current(), UAREA_HEAP_PAGES - 32u))
        return 2;                                   /* not near the end */
    for (size_t i = 0; i < half; i++) lo_block[i] = hi_block[i] = word(0, i);
    if (!hop_to((noc_node_self() + 1) % 2)) return 10;
    if (!check(lo_block, 0, half) || !check(hi_block, 0, half)) return 20;
    for (size_t i = 0; i < gap / sizeof(uint64_t); i += 4096 / sizeof(uint64_t))
        if (filler[i] != 0) return 21;             /* a sample per page: zero */
    {   /* the zero pages cost this node no memory: resident well below 1 GiB
         * (read and written with system calls: no FILE of this node's libc
         * is held by a container thread) */
        char buf[128], *end;
        long resident = -1;
        int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC), n;
        ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        if (got > 0) {
            buf[got] = '\0';
            (void)strtol(buf, &end, 10);                     /* size */
            resident = strtol(end, NULL, 10) * (sysconf(_SC_PAGESIZE) / 1024);
        }
        n = snprintf(buf, sizeof buf, "big %u MiB heap: node %d resident %ld KiB after the hop\n",
                     (unsigned)(UAREA_HEAP_BYTES >> 20), noc_node_self(), resident);
        if (n > 0) (void)!write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        if (resident < 0 || resident > 256l * 1024) return 22;
    }
    hops_done = 1;
    {   /* a checkpoint of it too (its page list is not on a stack) */
        char path[64];
        int rc;
        snprintf(path, sizeof path, "/tmp/uarea_test_big_%ld.img", (long)getpid());
        rc = uarea_posix_checkpoint(path);
        (void)unlink(path);
        if (rc != 0) return 30;
    }
    return 0;
}
#endif

static void on_migration(void *arg, const migrate_stats *st)
{
    (void)arg;
    fprintf(stderr,
            "big %u MiB heap: node %d -> %d: %s, pre-copy %llu B, frozen %llu B, %u zero pages, "
            "downtime %.3f ms, total %.3f ms\n",
            (unsigned)(UAREA_HEAP_BYTES >> 20), st->src, st->dst,
            st->result == 0 ? "committed" : uarea_strerror(st->result),
            (unsigned long long)st->precopy_bytes, (unsigned long long)st->bytes, st->zero_pages,
            (double)st->downtime_ns / 1e6, (double)st->total_ns / 1e6);
}

static void run(int nodes, int no_precopy)
{
    uarea_posix_desc d = {0};
    d.nodes = nodes;
    d.no_precopy = no_precopy;
    d.timeout_ns = 20000000000ll;                   /* sanitizer builds copy slowly */
    d.on_migration = on_migration;
    cr_assert_eq(uarea_posix_run(&d, app, 0, NULL), 0);
}

Test(posix_big, layout)
{
    /* the UArea keeps its budget; the page table grows with the heap */
    cr_assert_leq(sizeof(struct uarea), UAREA_SIZE_LIMIT);
    cr_assert_eq(UAREA_UAREA_LEN, sizeof(struct uarea) + UAREA_HEAP_PAGES);
    cr_assert_geq(UAREA_CONTAINER_SIZE, UAREA_HEAP_BYTES + UAREA_UAREA_LEN);
    fprintf(stderr,
            "big %u MiB heap: struct uarea %zu B, page table %u B, container %zu B, "
            "migrate_node %zu B\n",
            (unsigned)(UAREA_HEAP_BYTES >> 20), sizeof(struct uarea), (unsigned)UAREA_HEAP_PAGES,
            (size_t)UAREA_CONTAINER_SIZE, sizeof(migrate_node));
}

#if UAREA_HEAP_PAGES <= 16384u
Test(posix_big, heap_48m_moves_three_hops_precopy, .timeout = 120) { run(3, 0); }
Test(posix_big, heap_48m_moves_three_hops_stop_and_copy, .timeout = 120) { run(3, 1); }
#else
Test(posix_big, sparse_heap_moves_once, .timeout = 120) { run(2, 0); }
#endif
