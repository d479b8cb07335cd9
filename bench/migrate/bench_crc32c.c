/* CRC32C throughput in GB/s for 4 KiB, 64 KiB and 1 MiB buffers: the table
 * path (slicing-by-8) and the path migrate_crc32c_update() takes on this
 * machine (CRC32C instructions where present), then hw/table. */
#define _POSIX_C_SOURCE 200809L
#define MIGRATE_IMPLEMENTATION
#include <migrate/crc32c.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint32_t sink;

/* GB/s over about 0.3 s of repeated CRCs of buf[0..len). */
static double gbps(uint32_t (*f)(uint32_t, const void *, size_t), const unsigned char *buf,
                   size_t len)
{
    size_t reps = ((size_t)64 << 20) / len, total = 0;
    uint32_t c = 0xFFFFFFFFu;
    double t0 = now(), t;
    do {
        for (size_t i = 0; i < reps; i++) c = f(c, buf, len);
        total += reps;
        t = now() - t0;
    } while (t < 0.3);
    sink = c;
    return (double)total * (double)len / t / 1e9;
}

int main(void)
{
    static const size_t sizes[] = {4096, 65536, 1048576};
    unsigned char *buf = malloc(1048576);
    if (!buf) return 1;
    for (size_t i = 0; i < 1048576; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
#if defined(MIGRATE__CRC32C_HAVE_HW) && defined(__x86_64__)
    const char *hw = migrate__crc32c_hw_present() ? "x86_64 SSE4.2 crc32" : "none (table)";
#elif defined(MIGRATE__CRC32C_HAVE_HW)
    const char *hw = "aarch64 crc32c";
#else
    const char *hw = "none (table)";
#endif
    printf("crc32c: hardware path = %s\n", hw);
    printf("%-10s %12s %12s %8s\n", "size", "table GB/s", "hw GB/s", "hw/table");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        double t = gbps(migrate__crc32c_update_table, buf, sizes[k]);
        double h = gbps(migrate_crc32c_update, buf, sizes[k]);
        printf("%-10zu %12.2f %12.2f %8.2f\n", sizes[k], t, h, h / t);
    }
    free(buf);
    return 0;
}
