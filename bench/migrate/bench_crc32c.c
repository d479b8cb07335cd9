/* CRC32C throughput in GB/s for 4 KiB, 64 KiB and 1 MiB buffers.
 *
 * Checksum: the table path (slicing-by-8), the path migrate_crc32c_update()
 * takes on this machine, and on x86_64 each instruction path on its own:
 * the crc32 instruction (three streams), folding with PCLMULQDQ (128-bit),
 * AVX2 VPCLMULQDQ (256-bit) and AVX-512 VPCLMULQDQ (512-bit), where the CPU
 * has them.
 * Copy: memcpy of the same bytes, migrate_crc32c_copy(), and the same paths
 * as copy+checksum.
 *
 * With an argument "thresholds": the same paths on 64 B .. 4 KiB, to place
 * the lengths from which folding is used (MIGRATE__CRC32C_FOLD*_MIN). */
#define _POSIX_C_SOURCE 200809L
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint32_t sink;
static unsigned char *src, *dst;
static double min_time = 0.3;

/* A path under test: kind 0 table, 1 public entry point, 2 memcpy (copy
 * only), 10 + level: an x86_64 instruction path (level 0 crc32, 1 PCLMULQDQ,
 * 2 VPCLMULQDQ 256, 3 VPCLMULQDQ 512). */
static uint32_t run(int kind, int copy, uint32_t c, size_t len)
{
    if (!copy) {
        if (kind == 0) return migrate__crc32c_update_table(c, src, len);
        if (kind == 1) return migrate_crc32c_update(c, src, len);
#if defined(MIGRATE__CRC32C_HAVE_HW) && defined(__x86_64__)
        return migrate__crc32c_update_fold(kind - 10, c, src, len);
#endif
    } else {
        if (kind == 1) return migrate_crc32c_copy(c, dst, src, len);
        if (kind == 2) {
            memcpy(dst, src, len);
            return c + dst[len - 1];
        }
#if defined(MIGRATE__CRC32C_HAVE_HW) && defined(__x86_64__)
        return migrate__crc32c_copy_fold(kind - 10, c, dst, src, len);
#endif
    }
    return c;
}

/* GB/s over about min_time seconds of repeated runs on the first len bytes. */
static double gbps(int kind, int copy, size_t len)
{
    size_t reps = ((size_t)16 << 20) / len, total = 0;
    uint32_t c = 0xFFFFFFFFu;
    double t0 = now(), t;
    do {
        for (size_t i = 0; i < reps; i++) c = run(kind, copy, c, len);
        total += reps;
        t = now() - t0;
    } while (t < min_time);
    sink = c;
    return (double)total * (double)len / t / 1e9;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {4096, 65536, 1048576};
    int have[4] = {0, 0, 0, 0}; /* x86_64 instruction paths present, by level */
    src = malloc(1048576);
    dst = malloc(1048576);
    if (!src || !dst) return 1;
    for (size_t i = 0; i < 1048576; i++) src[i] = (unsigned char)(i * 2654435761u >> 13);
    memset(dst, 0, 1048576);
#if defined(MIGRATE__CRC32C_HAVE_HW) && defined(__x86_64__)
    const char *hw = "none (table)";
    if (migrate__crc32c_hw_present()) {
        for (int l = 0; l < 4; l++) have[l] = migrate__crc32c_fold_has(l);
        hw = have[3] ? "x86_64 crc32 + AVX-512 VPCLMULQDQ folding"
             : have[2] ? "x86_64 crc32 + AVX2 VPCLMULQDQ folding"
                       : "x86_64 SSE4.2 crc32";
    }
#elif defined(MIGRATE__CRC32C_HAVE_HW)
    const char *hw = "aarch64 crc32c";
#else
    const char *hw = "none (table)";
#endif
    static const char *const lname[4] = {"crc32", "pclmul", "vpclmul256", "vpclmul512"};
    printf("crc32c: hardware path = %s\n", hw);

    if (argc > 1 && strcmp(argv[1], "thresholds") == 0) {
        static const size_t small[] = {36, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096};
        min_time = 0.05;
        for (int copy = 0; copy < 2; copy++) {
            printf("\n%s, GB/s, source 64-byte aligned\n%-8s", copy ? "copy+crc" : "checksum", "size");
            for (int l = 0; l < 4; l++) if (have[l]) printf(" %11s", lname[l]);
            printf("\n");
            for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
                printf("%-8zu", small[k]);
                for (int l = 0; l < 4; l++) if (have[l]) printf(" %11.2f", gbps(10 + l, copy, small[k]));
                printf("\n");
            }
        }
        free(src);
        free(dst);
        return 0;
    }

    printf("\nchecksum, GB/s\n%-8s %8s %8s", "size", "table", "update");
    for (int l = 0; l < 4; l++) if (have[l]) printf(" %11s", lname[l]);
    printf("\n");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        printf("%-8zu %8.2f %8.2f", sizes[k], gbps(0, 0, sizes[k]), gbps(1, 0, sizes[k]));
        for (int l = 0; l < 4; l++) if (have[l]) printf(" %11.2f", gbps(10 + l, 0, sizes[k]));
        printf("\n");
    }
    printf("\ncopy+checksum, GB/s (memcpy: the same bytes, no CRC)\n%-8s %8s %8s", "size", "memcpy",
           "copy");
    for (int l = 0; l < 4; l++) if (have[l]) printf(" %11s", lname[l]);
    printf("\n");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        printf("%-8zu %8.2f %8.2f", sizes[k], gbps(2, 1, sizes[k]), gbps(1, 1, sizes[k]));
        for (int l = 0; l < 4; l++) if (have[l]) printf(" %11.2f", gbps(10 + l, 1, sizes[k]));
        printf("\n");
    }
    free(src);
    free(dst);
    return 0;
}
