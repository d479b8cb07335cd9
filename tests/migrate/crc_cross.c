/* CRC32C on another CPU: the instruction path (compiled for aarch64 with the
 * CRC extension) against the table path, over random buffers at every
 * alignment and length up to 4 KiB (checksum alone, and fused with a copy),
 * plus the standard check value. Built and
 * run under qemu-user by crc_qemu.sh; exits non-zero on the first mismatch. */
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <stdio.h>

#ifndef MIGRATE__CRC32C_HAVE_HW
#error "this target has no CRC32C instructions: build with the CRC extension"
#endif

static unsigned char buf[4096 + 16], out[4096 + 32];

int main(void)
{
    uint64_t rng = 0x9E3779B97F4A7C15u;
    size_t i, len, off;
    unsigned long checked = 0;
    for (i = 0; i < sizeof buf; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        buf[i] = (unsigned char)(rng >> 24);
    }
    if (migrate_crc32c_final(migrate__crc32c_update_hw(migrate_crc32c_init(), "123456789", 9)) !=
        MIGRATE_CRC32C_CHECK) {
        printf("FAIL: check value\n");
        return 1;
    }
    for (off = 0; off < 8; off++)
        for (len = 0; len <= 4096; len += (len < 64 ? 1 : 61)) {
            uint32_t a = migrate__crc32c_update_table(0x12345678u, buf + off, len);
            uint32_t b = migrate__crc32c_update_hw(0x12345678u, buf + off, len);
            if (a != b) {
                printf("FAIL: offset %zu length %zu: table %08x instructions %08x\n", off, len,
                       (unsigned)a, (unsigned)b);
                return 1;
            }
            /* the copying form: same CRC, same bytes, nothing past the end */
            for (i = 0; i < sizeof out; i++) out[i] = 0xA5;
            b = migrate__crc32c_copy_hw(0x12345678u, out + (off ^ 3u), buf + off, len);
            for (i = 0; i < len && out[(off ^ 3u) + i] == buf[off + i]; i++) {}
            if (a != b || i != len || out[(off ^ 3u) + len] != 0xA5) {
                printf("FAIL: copy, offset %zu length %zu: crc %08x (want %08x), %zu bytes equal\n",
                       off, len, (unsigned)b, (unsigned)a, i);
                return 1;
            }
            checked++;
        }
    printf("crc32c: %lu buffers, instructions == table (with and without the copy)\n", checked);
    return 0;
}
