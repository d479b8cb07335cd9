/* libFuzzer entry point for the image reader.
 *
 * Each input is restored three ways into a scratch region standing for a
 * container (whole, and in small pieces whose size the input picks), then
 * checked verify-only with and without a target; then the same again on a
 * copy whose CRCs were recomputed, so that mutations get past them. Besides the sanitizers, the
 * harness checks the reader's promises and aborts when one breaks:
 *   - every way of feeding the same bytes gives the same verdict;
 *   - a failed restore leaves the region all zero;
 *   - a successful one agrees with verify-only, and a discard wipes it.
 * replay.c runs the same entry point over the seed corpus without libFuzzer. */
#define UAREA_IMPLEMENTATION
#include <migrate/image.h>
#include "fuzz_target.h"
#include <stdlib.h>
#include <string.h>

static unsigned char region[FUZZ_REGION];

static bool region_zero(void)
{
    for (size_t i = 0; i < sizeof region; i++)
        if (region[i]) return false;
    return true;
}

static migrate_image_target target(void)
{
    migrate_image_target t;
    memset(&t, 0, sizeof t);
    t.layout_fp = FUZZ_LAYOUT;
    t.binary_fp = FUZZ_BINARY;
    t.page_size = FUZZ_PAGE;
    t.lo = FUZZ_BASE;
    t.hi = FUZZ_BASE + FUZZ_REGION;
    t.mem = region;
    return t;
}

/* Feed data in pieces of `chunk` bytes; returns the verdict. */
static int run(const uint8_t *data, size_t size, const migrate_image_target *t, unsigned flags,
               size_t chunk, migrate_image_reader *r)
{
    int rc = migrate_image_reader_init(r, t, flags);
    if (rc < 0) abort();
    for (size_t off = 0; off < size && rc >= 0; off += chunk)
        rc = migrate_image_feed(r, data + off, size - off < chunk ? size - off : chunk);
    if (rc >= 0) rc = migrate_image_finish(r);
    return rc;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* Recompute every CRC the framing lets us find, so that mutations reach the
 * checks behind the CRCs (bounds, order, lengths, versions). */
static void reseal(uint8_t *p, size_t n)
{
    size_t off = MIGRATE_IMAGE_HEADER_SIZE;
    uint32_t i, count;
    if (n < MIGRATE_IMAGE_HEADER_SIZE) return;
    put32(p + 60, migrate_crc32c(0, p, 60));
    count = get32(p + 32);
    for (i = 0; i < count; i++) {
        uint64_t len, stored;
        if (n - off < MIGRATE_IMAGE_SECTION_SIZE) return;
        put32(p + off + 28, migrate_crc32c(0, p + off, 28));
        len = (uint64_t)get32(p + off + 16) | ((uint64_t)get32(p + off + 20) << 32);
        stored = (p[off + 2] & MIGRATE_SECF_ZERO) ? 0 : len;
        off += MIGRATE_IMAGE_SECTION_SIZE;
        if (stored > n - off || n - off - (size_t)stored < 4) return;
        put32(p + off + (size_t)stored, migrate_crc32c(0, p + off, (size_t)stored));
        off += (size_t)stored + 4;
    }
    if (n - off >= MIGRATE_IMAGE_TRAILER_SIZE) put32(p + off + 12, migrate_crc32c(0, p, off + 12));
}

static void check(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;
    check(data, size);
    if (size > (1u << 16)) return 0;
    copy = (uint8_t *)malloc(size ? size : 1);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    check(copy, size);
    free(copy);
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    migrate_image_target t = target();
    migrate_image_reader r;
    size_t chunk = 1 + (size ? data[size / 2] % 97 : 0);
    int whole, pieces, verify, bare;

    memset(region, 0, sizeof region);
    whole = run(data, size, &t, 0, size ? size : 1, &r);
    if (whole < 0 && !region_zero()) abort();
    if (whole == 0) {
        if (r.stats.stream_bytes != size) abort();
        migrate_image_discard(&r);
        if (!region_zero()) abort();
    }

    pieces = run(data, size, &t, 0, chunk, &r);
    if (pieces != whole) abort();
    if (pieces < 0 && !region_zero()) abort();
    migrate_image_discard(&r);
    if (!region_zero()) abort();

    verify = run(data, size, &t, MIGRATE_IMAGE_VERIFY_ONLY, 4096, &r);
    if (verify != whole || !region_zero()) abort();

    /* Without a target only the image's own consistency is checked: an image
     * a node accepts is always self-consistent. */
    bare = run(data, size, NULL, MIGRATE_IMAGE_VERIFY_ONLY, chunk, &r);
    if (whole == 0 && bare != 0) abort();
}
