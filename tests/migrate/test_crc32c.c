/* CRC32C: published check values, the tables against a bitwise CRC, and the
 * incremental forms against the one-shot form for every split. */
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <criterion/criterion.h>
#include <string.h>

/* Bit-at-a-time reference, straight from the definition. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

Test(crc32c, check_value)
{
    cr_assert_eq(migrate_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(migrate_crc32c(0, "123456789", 9), MIGRATE_CRC32C_CHECK);
    cr_assert_eq(migrate_crc32c(0, "", 0), 0);
    cr_assert_eq(migrate_crc32c(0, NULL, 0), 0);
}

/* The test vectors of RFC 3720 (iSCSI), appendix B.4. */
Test(crc32c, rfc3720_vectors)
{
    unsigned char b[48];
    memset(b, 0, 32);
    cr_assert_eq(migrate_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xFF, 32);
    cr_assert_eq(migrate_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    cr_assert_eq(migrate_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    cr_assert_eq(migrate_crc32c(0, b, 32), 0x113FDB5Cu);
    static const unsigned char scsi_read[48] = {
        0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
    cr_assert_eq(migrate_crc32c(0, scsi_read, 48), 0xD9963A56u);
}

/* The tables are what the polynomial gives: compare the table-driven code
 * with the bitwise one on every length up to 64 and at every alignment. */
Test(crc32c, matches_bitwise_reference)
{
    unsigned char buf[4096 + 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = (unsigned char)(x >> 16); }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 64; n++)
            cr_assert_eq(migrate_crc32c(0, buf + off, n), crc_bitwise(buf + off, n),
                         "off %zu len %zu", off, n);
    cr_assert_eq(migrate_crc32c(0, buf + 3, 4096), crc_bitwise(buf + 3, 4096));
    for (unsigned b = 0; b < 256; b++) {
        unsigned char one = (unsigned char)b;
        cr_assert_eq(migrate_crc32c(0, &one, 1), crc_bitwise(&one, 1));
    }
}

Test(crc32c, incremental_equals_one_shot)
{
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 31 + 7);
    uint32_t whole = migrate_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        uint32_t st = migrate_crc32c_init();
        st = migrate_crc32c_update(st, buf, cut);
        st = migrate_crc32c_update(st, buf + cut, sizeof buf - cut);
        cr_assert_eq(migrate_crc32c_final(st), whole, "split at %zu", cut);
        cr_assert_eq(migrate_crc32c(migrate_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole,
                     "extend at %zu", cut);
    }
    /* byte by byte */
    uint32_t st = migrate_crc32c_init();
    for (size_t i = 0; i < sizeof buf; i++) st = migrate_crc32c_update(st, buf + i, 1);
    cr_assert_eq(migrate_crc32c_final(st), whole);
    cr_assert_eq(migrate_crc32c_update(st, NULL, 0), st);
}

Test(crc32c, detects_single_bit_flips)
{
    unsigned char buf[256];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)i;
    uint32_t good = migrate_crc32c(0, buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cr_assert_neq(migrate_crc32c(0, buf, sizeof buf), good, "bit %zu", bit);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

/* x * y mod P by the definition (polynomials over GF(2), reflected). */
static uint32_t ref_mul(uint32_t a, uint32_t b)
{
    uint32_t p = 0;
    for (int i = 0; i < 32; i++) {
        if (a & (0x80000000u >> i)) p ^= b;
        b = (b >> 1) ^ (0x82F63B78u & (0u - (b & 1u)));
    }
    return p;
}

Test(crc32c, combine_table_is_repeated_squaring)
{
    /* entry 0 is x^8; each next entry is the previous one squared */
    cr_assert_eq(migrate__crc32c_x8pow2[0], 0x80000000u >> 8);
    for (int k = 1; k < 64; k++)
        cr_assert_eq(migrate__crc32c_x8pow2[k],
                     ref_mul(migrate__crc32c_x8pow2[k - 1], migrate__crc32c_x8pow2[k - 1]), "entry %d", k);
}

Test(crc32c, combine_equals_direct)
{
    static unsigned char buf[(1u << 20) + 77];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = (unsigned char)(x >> 16); }
    static const size_t cuts[] = { 0, 1, 2, 7, 8, 255, 4096, 65537, 1u << 20, (1u << 20) + 77 };
    uint32_t whole = migrate_crc32c(0, buf, sizeof buf);
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        size_t a = sizeof buf - cuts[k];
        uint32_t c1 = migrate_crc32c(0, buf, a), c2 = migrate_crc32c(0, buf + a, cuts[k]);
        cr_assert_eq(migrate_crc32c_combine(c1, c2, cuts[k]), whole, "second piece %zu bytes", cuts[k]);
    }
    cr_assert_eq(migrate_crc32c_combine(0x12345678u, 0, 0), 0x12345678u);
}
