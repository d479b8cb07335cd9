/* CRC32C: the table path (MIGRATE_CRC32C_HW 0) against the CRC32C
 * instructions, over random buffers of every length 0..4096 at odd
 * alignments, and across the three-stream threshold. Where the target or
 * the CPU lacks the instructions both sides are the table path. On x86_64
 * also the folding paths (PCLMULQDQ 128-bit, VPCLMULQDQ 256 and 512-bit), each on
 * its own, checksum and copy, and their constants; a path the CPU lacks is
 * skipped, saying so. */
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

/* ---- Folding (x86_64) ---------------------------------------------------- */

/* x^n mod P, reflected (x^0 is bit 31): n multiplications by x. */
static uint32_t xpow_bitwise(unsigned n)
{
    uint32_t r = 0x80000000u;
    while (n-- > 0) r = (r >> 1) ^ (0x82F63B78u & (0u - (r & 1u)));
    return r;
}

#if defined(MIGRATE__CRC32C_HAVE_HW) && defined(__x86_64__)

Test(crc32c_fold, constants_are_powers_of_x)
{
    for (size_t i = 0; i < sizeof migrate__crc32c_fold_d / sizeof migrate__crc32c_fold_d[0]; i++) {
        unsigned d = migrate__crc32c_fold_d[i];
        cr_assert_eq(migrate__crc32c_fold_k[i][0], xpow_bitwise(8 * d + 31), "D %u k1", d);
        cr_assert_eq(migrate__crc32c_fold_k[i][1], xpow_bitwise(8 * d - 33), "D %u k2", d);
    }
    /* the distances the code assumes by index */
    static const unsigned want[7] = {16, 32, 48, 64, 128, 192, 256};
    cr_assert_arr_eq(migrate__crc32c_fold_d, want, sizeof want);
}

static const char *const level_name[4] = {"crc32", "PCLMULQDQ 128-bit",
                                          "AVX2 VPCLMULQDQ 256-bit", "AVX-512 VPCLMULQDQ 512-bit"};

static void need_level(int level)
{
    if (!migrate__crc32c_fold_has(level))
        cr_skip_test("this CPU lacks %s folding: not tested here", level_name[level]);
}

/* One comparison: checksum and copy of src[0..len) at level against the
 * table, dst at out + doff, nothing written around it. */
static void check_fold(int level, const unsigned char *src, size_t len, unsigned char *out,
                       size_t doff, uint32_t seed)
{
    uint32_t want = migrate__crc32c_update_table(seed, src, len);
    uint32_t got = migrate__crc32c_update_fold(level, seed, src, len);
    unsigned char *d = out + doff;
    if (got != want)
        cr_assert_fail("%s len %zu src %% 64 = %zu: crc %08x, want %08x", level_name[level], len,
                       (size_t)((uintptr_t)src & 63u), (unsigned)got, (unsigned)want);
    memset(out, 0xA5, doff + len + 64);
    got = migrate__crc32c_copy_fold(level, seed, d, src, len);
    if (got != want)
        cr_assert_fail("%s copy len %zu src %% 64 = %zu dst off %zu: crc %08x, want %08x",
                       level_name[level], len, (size_t)((uintptr_t)src & 63u), doff,
                       (unsigned)got, (unsigned)want);
    if (memcmp(d, src, len) != 0)
        cr_assert_fail("%s copy len %zu: bytes differ", level_name[level], len);
    for (size_t i = 0; i < doff; i++)
        if (out[i] != 0xA5) cr_assert_fail("%s copy len %zu: wrote before dst", level_name[level], len);
    for (size_t i = 0; i < 64; i++)
        if (d[len + i] != 0xA5) cr_assert_fail("%s copy len %zu: wrote past the end", level_name[level], len);
}

/* Every length 0..4352 (the 512-bit path's 256-byte steps, its 64-byte
 * steps and the crc32 tail all in several combinations), sources at every
 * offset from a 64-byte boundary in turn, destinations misaligned. */
static void fold_every_length(int level)
{
    enum { MAX = 4352 };
    unsigned char *src = aligned_alloc(64, MAX + 128), *out = aligned_alloc(64, MAX + 192);
    cr_assert(src != NULL && out != NULL);
    for (size_t len = 0; len <= MAX; len++) {
        size_t off = len % 64;
        for (size_t i = 0; i < len; i++) src[off + i] = next_byte();
        check_fold(level, src + off, len, out, (len * 7) % 61, (uint32_t)len * 0x9E3779B1u);
    }
    /* every source and destination offset on a few lengths */
    static const size_t lens[] = {255, 256, 319, 320, 383, 384, 1000, 4096};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
        for (size_t off = 0; off < 64; off++) {
            for (size_t i = 0; i < lens[k]; i++) src[off + i] = next_byte();
            check_fold(level, src + off, lens[k], out, (off * 5) % 64, 0xFFFFFFFFu);
        }
    free(src);
    free(out);
}

/* 1 MiB and a little more, aligned and not, in one piece and split. */
static void fold_large(int level)
{
    enum { MAX = (1 << 20) + 128 };
    unsigned char *src = malloc(MAX), *out = malloc(MAX + 128);
    cr_assert(src != NULL && out != NULL);
    for (size_t i = 0; i < MAX; i++) src[i] = next_byte();
    static const size_t lens[] = {1u << 20, (1u << 20) + 1, (1u << 20) + 63, (1u << 20) - 17};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
        for (size_t off = 0; off < 64; off += 21) {
            check_fold(level, src + off, lens[k], out, 64 - off, 0x1234567u + (uint32_t)k);
            size_t cut = lens[k] / 3 + off;
            uint32_t st = migrate__crc32c_update_fold(level, 0xFFFFFFFFu, src + off, cut);
            st = migrate__crc32c_update_fold(level, st, src + off + cut, lens[k] - cut);
            cr_assert_eq(st, migrate__crc32c_update_table(0xFFFFFFFFu, src + off, lens[k]),
                         "%s split len %zu", level_name[level], lens[k]);
        }
    free(src);
    free(out);
}

Test(crc32c_fold, pclmul128_every_length) { need_level(1); fold_every_length(1); }
Test(crc32c_fold, pclmul128_1mib) { need_level(1); fold_large(1); }
Test(crc32c_fold, vpclmul256_every_length) { need_level(2); fold_every_length(2); }
Test(crc32c_fold, vpclmul256_1mib) { need_level(2); fold_large(2); }
Test(crc32c_fold, vpclmul512_every_length) { need_level(3); fold_every_length(3); }
Test(crc32c_fold, vpclmul512_1mib) { need_level(3); fold_large(3); }

/* The entry points take the widest folding from MIGRATE__CRC32C_FOLD_MIN
 * bytes on where the CPU has it: around that length they agree with the
 * table (36-byte headers and the like stay on the crc32 instruction). */
Test(crc32c_fold, entry_points_around_threshold)
{
    unsigned char src[2 * MIGRATE__CRC32C_FOLD_MIN + 64], out[sizeof src + 64];
    for (size_t i = 0; i < sizeof src; i++) src[i] = next_byte();
    for (size_t len = MIGRATE__CRC32C_FOLD_MIN - 70; len < MIGRATE__CRC32C_FOLD_MIN + 70; len++) {
        size_t off = len % 64;
        uint32_t want = migrate__crc32c_update_table(0xFFFFFFFFu, src + off, len);
        cr_assert_eq(migrate__crc32c_update_hw(0xFFFFFFFFu, src + off, len), want, "len %zu", len);
        cr_assert_eq(migrate__crc32c_copy_hw(0xFFFFFFFFu, out + 1, src + off, len), want, "len %zu", len);
        cr_assert_arr_eq(out + 1, src + off, len);
    }
}

/* The entry points' choice on lesser CPUs: the cached cpuid answer is set
 * to fewer features than this CPU has (each test runs in its own process):
 * the table, crc32 alone, with PCLMULQDQ (not chosen), 256-bit, 512-bit
 * alone; the entry points still agree with the table. */
Test(crc32c_fold, entry_points_with_fewer_features)
{
    static const int sets[] = {1, 1 | MIGRATE__CRC32C_CPU_SSE42,
                               1 | MIGRATE__CRC32C_CPU_SSE42 | MIGRATE__CRC32C_CPU_PCLMUL,
                               1 | MIGRATE__CRC32C_CPU_SSE42 | MIGRATE__CRC32C_CPU_PCLMUL |
                                   MIGRATE__CRC32C_CPU_VPCLMUL256,
                               1 | MIGRATE__CRC32C_CPU_SSE42 | MIGRATE__CRC32C_CPU_PCLMUL |
                                   MIGRATE__CRC32C_CPU_VPCLMUL512};
    static const size_t lens[] = {0, 1, 36, 383, 384, 767, 768, 4096, 4097, 65536 + 5};
    int real = migrate__crc32c_cpu_features();
    unsigned char *src = malloc(65536 + 80), *out = malloc(65536 + 80);
    cr_assert(src != NULL && out != NULL);
    for (size_t i = 0; i < 65536 + 80; i++) src[i] = next_byte();
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        if ((real & sets[k]) != sets[k]) {
            cr_log_warn("this CPU lacks feature set %#x: not tested here", (unsigned)sets[k]);
            continue;
        }
        __atomic_store_n(&migrate__crc32c_cpu, sets[k], __ATOMIC_RELAXED);
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            uint32_t want = migrate__crc32c_update_table(0xFFFFFFFFu, src + 3, lens[j]);
            cr_assert_eq(migrate__crc32c_update_hw(0xFFFFFFFFu, src + 3, lens[j]), want,
                         "features %#x len %zu", (unsigned)sets[k], lens[j]);
            cr_assert_eq(migrate__crc32c_copy_hw(0xFFFFFFFFu, out + 5, src + 3, lens[j]), want,
                         "features %#x copy len %zu", (unsigned)sets[k], lens[j]);
            cr_assert_arr_eq(out + 5, src + 3, lens[j]);
        }
    }
    __atomic_store_n(&migrate__crc32c_cpu, real, __ATOMIC_RELAXED);
    free(src);
    free(out);
}

#else

Test(crc32c_fold, not_this_target)
{
    cr_assert_eq(xpow_bitwise(0), 0x80000000u);
    cr_skip_test("folding with carry-less multiplication is x86_64 only: not tested here");
}

#endif
