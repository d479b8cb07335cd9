/* CRC32C: the table path (MIGRATE_CRC32C_HW 0) against the CRC32C
 * instructions, over random buffers of every length 0..4096 at odd
 * alignments, and across the three-stream threshold. Where the target or
 * the CPU lacks the instructions both sides are the table path. */
#define MIGRATE_CRC32C_HW 0
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <criterion/criterion.h>
#include <stdlib.h>

#ifdef MIGRATE__CRC32C_HAVE_HW
#define HW_UPDATE migrate__crc32c_update_hw
#else
#define HW_UPDATE migrate__crc32c_update_table
#endif

static uint64_t rng = 0x9E3779B97F4A7C15u;
static unsigned char next_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned char)(rng >> 24);
}

Test(crc32c_table, public_is_table)
{
    cr_assert_eq(migrate_crc32c(0, "123456789", 9), MIGRATE_CRC32C_CHECK);
    cr_assert_eq(migrate_crc32c_final(HW_UPDATE(migrate_crc32c_init(), "123456789", 9)),
                 MIGRATE_CRC32C_CHECK);
}

Test(crc32c_table, every_length_odd_alignments)
{
    enum { MAX = 4096 };
    static const size_t offs[] = {0, 1, 3, 5, 7, 9, 13};
    unsigned char *buf = malloc(MAX + 16);
    cr_assert_not_null(buf);
    for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
        for (size_t len = 0; len <= MAX; len++) {
            unsigned char *p = buf + offs[o];
            for (size_t i = 0; i < len; i++) p[i] = next_byte();
            uint32_t seed = (uint32_t)len * 0x01000193u;
            uint32_t t = migrate_crc32c_update(seed, p, len);
            uint32_t h = HW_UPDATE(seed, p, len);
            if (t != h)
                cr_assert_fail("len %zu offset %zu: table %08x hw %08x", len, offs[o],
                               (unsigned)t, (unsigned)h);
        }
    }
    free(buf);
}

/* Lengths around and far above the three-stream block sizes (3 x 256,
 * 3 x 1360, 3 x 4096 and multiples), odd offsets, split at random points. */
Test(crc32c_table, large_buffers)
{
    enum { MAX = 3 * 65536 + 64 };
    unsigned char *buf = malloc(MAX);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < MAX; i++) buf[i] = next_byte();
    static const size_t lens[] = {767,   768,   769,   4079,  4080,  4081,  4096,  4848,
                                  12287, 12288, 12289, 16368, 24575, 24576, 24577, 24583,
                                  24600, 32768, 65536, 100003, 3 * 65536 + 7};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        for (size_t off = 0; off < 16; off += 5) {
            uint32_t t = migrate_crc32c_update(0xFFFFFFFFu, buf + off, lens[k]);
            uint32_t h = HW_UPDATE(0xFFFFFFFFu, buf + off, lens[k]);
            cr_assert_eq(t, h, "len %zu offset %zu", lens[k], off);
            size_t cut = lens[k] / 3 + off;
            uint32_t s = HW_UPDATE(0xFFFFFFFFu, buf + off, cut);
            s = HW_UPDATE(s, buf + off + cut, lens[k] - cut);
            cr_assert_eq(s, t, "split len %zu offset %zu", lens[k], off);
        }
    }
    free(buf);
}
