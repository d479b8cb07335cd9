/* Transfers through the POSIX runtime, built three ways (docs/protocol.md,
 * "In place"): MIGRATE_RBUF 1 (the default), the destination restores each
 * transfer straight from the source's pending write (noc_portal_rbuf);
 * MIGRATE_INPLACE 1 (and RBUF 0), the source makes each transfer straight
 * into the destination's posted read (noc_portal_wbuf into the arena);
 * both 0, the destination pulls each transfer into its block, then
 * restores from there. A container whose heap and globals change between
 * hops moves ten times, stop and copy and pre-copy; its data is checked
 * after every hop, and the statistics say which image bytes went the
 * zero-copy way. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <stdint.h>

#if MIGRATE_INPLACE && MIGRATE_RBUF
#error "build with at most one of MIGRATE_INPLACE=1, MIGRATE_RBUF=1"
#endif

#define WORDS (40u * 1024u)           /* 320 KiB of heap: several transfers */
static UAREA_USER uint64_t *heap;
static UAREA_USER uint64_t global_sum;

static uint64_t word(unsigned hop, unsigned i) { return (uint64_t)hop * 0x9e3779b97f4a7c15ull ^ i; }

static int app(int argc, char **argv)
{
    (void)argc; (void)argv;
    heap = uarea_malloc(WORDS * sizeof *heap);
    if (heap == NULL) return 1;
    for (unsigned hop = 0; hop < 10; hop++) {
        migrate_stats st;
        uint64_t sum = 0, zc;
        for (unsigned i = 0; i < WORDS; i++) { heap[i] = word(hop, i); sum += heap[i]; }
        global_sum = sum;
        if (migrate_to((noc_node_self() + 1) % 2) != 0) return 2;
        for (unsigned i = 0; i < WORDS; i++)
            if (heap[i] != word(hop, i)) return 3;
        if (global_sum != sum) return 4;
        if (uarea_posix_last_migration(&st) != 0) return 5;
#if MIGRATE_RBUF
        /* the destination takes every transfer where the source left it */
        zc = st.inplace_read_bytes;
        if (st.bytes == 0 || zc != st.bytes + st.precopy_bytes) return 6;
        if (st.inplace_bytes != 0) return 7;
#elif MIGRATE_INPLACE
        /* the source writes in place into a read that is posted when it
         * looks (the first always is: it comes before ACCEPT); a later one
         * that is not posted yet goes through the block */
        zc = st.inplace_bytes;
        if (st.bytes == 0 || zc == 0 || zc > st.bytes + st.precopy_bytes) return 6;
        if (st.inplace_read_bytes != 0) return 7;
#else
        /* every transfer is pulled into the destination's block */
        zc = st.inplace_bytes + st.inplace_read_bytes;
        if (st.bytes == 0 || zc != 0) return 6;
#endif
    }
    return 0;
}

Test(posix_inplace, every_transfer_goes_the_way_built, .timeout = 60)
{
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .no_precopy = 1}, app, 0, NULL), 0);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app, 0, NULL), 0);
}
