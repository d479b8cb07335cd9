/* CRC32C: the table path (MIGRATE_CRC32C_HW 0) against the CRC32C
 * instructions, over random buffers of every length 0..4096 at odd
 * alignments, and across the three-stream threshold. Where the target or
 * the CPU lacks the instructions both sides are the table path. */
#define MIGRATE_CRC32C_HW 0
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#ifdef MIGRATE__CRC32C_HAVE_HW
#define HW_UPDATE migrate__crc32c_update_hw
#define HW_COPY migrate__crc32c_copy_hw
#else
#define HW_UPDATE migrate__crc32c_update_table
#define HW_COPY migrate_crc32c_copy
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

/* migrate_crc32c_copy, both paths: the CRC of the bytes, the bytes copied,
 * nothing written outside [dst, dst + len), every length up to 4 KiB and
 * across the three-stream sizes, source and destination at odd offsets. */
static void check_copy(const unsigned char *src, size_t len, size_t doff, unsigned char *out)
{
    unsigned char *d = out + doff;
    uint32_t want = migrate_crc32c_update(0x1234567u, src, len), got;
    for (int path = 0; path < 2; path++) {
        memset(out, 0xA5, len + doff + 16);
        got = path == 0 ? migrate_crc32c_copy(0x1234567u, d, src, len) : HW_COPY(0x1234567u, d, src, len);
        if (got != want)
            cr_assert_fail("path %d len %zu dst offset %zu: crc %08x, want %08x", path, len, doff,
                           (unsigned)got, (unsigned)want);
        if (memcmp(d, src, len) != 0) cr_assert_fail("path %d len %zu: bytes differ", path, len);
        for (size_t i = 0; i < doff; i++)
            if (out[i] != 0xA5) cr_assert_fail("path %d len %zu: wrote before dst", path, len);
        for (size_t i = 0; i < 16; i++)
            if (d[len + i] != 0xA5) cr_assert_fail("path %d len %zu: wrote past the end", path, len);
    }
}

Test(crc32c_table, copy_equals_update_and_copies)
{
    enum { MAX = 3 * 65536 + 64 };
    unsigned char *src = malloc(MAX + 16), *out = malloc(MAX + 48);
    static const size_t big[] = {767, 768, 769, 4080, 12288, 12289, 24577, 100003, 3 * 65536 + 7};
    cr_assert(src != NULL && out != NULL);
    for (size_t i = 0; i < MAX + 16; i++) src[i] = next_byte();
    for (size_t len = 0; len <= 4096; len += (len < 64 ? 1 : 13))
        check_copy(src + (len % 7), len, (len * 3) % 11, out);
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        for (size_t off = 0; off < 16; off += 5) check_copy(src + off, big[k], 15 - off, out);
    free(src);
    free(out);
}
