/* mkimage DIR - writes small container images, intact and damaged, for the
 * inspector's tests and the fuzz harness's seed corpus (tests/migrate/fuzz/
 * corpus holds its output). All images describe a container at
 * FUZZ_BASE with page size FUZZ_PAGE and the fingerprints of fuzz_target.h. */
#define _POSIX_C_SOURCE 200809L
#define UAREA_IMPLEMENTATION
#include <migrate/image.h>
#include "fuzz/fuzz_target.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char mem[FUZZ_REGION];
static unsigned char *img;
static size_t len, cap;

static int sink(void *ctx, const void *buf, size_t n)
{
    (void)ctx;
    if (len + n > cap) {
        cap = (len + n) * 2;
        img = (unsigned char *)realloc(img, cap);
        if (img == NULL) return UAREA_ENOMEM;
    }
    memcpy(img + len, buf, n);
    len += n;
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static void reseal(void) { put32(img + len - 4, migrate_crc32c(0, img, len - 4)); }

static size_t section_offset(uint32_t i)
{
    size_t off = MIGRATE_IMAGE_HEADER_SIZE;
    for (uint32_t k = 0; k < i; k++) {
        migrate_image_section s;
        if (migrate_image_section_decode(img + off, &s) != 0) abort();
        off += MIGRATE_IMAGE_SECTION_SIZE + (size_t)migrate_image_section_stored(&s) + 4;
    }
    return off;
}

static void save(const char *dir, const char *name, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(img, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "mkimage: cannot write %s\n", path);
        exit(2);
    }
}

/* Build the image of a small container at `base`; zero_pages: 1 makes two
 * pages zero and one absent, -1 leaves the heap out; many: six stacks. */
static void build(uintptr_t base, int zero_pages, int many)
{
    migrate_region user[2] = { { base + 0, 300 }, { base + 300, 45 } };
    migrate_region stacks[6];
    migrate_page pages[4];
    migrate_container c;
    unsigned char buf[512];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof mem; i++) { x = x * 1103515245u + 12345u; mem[i] = (unsigned char)(x >> 16); }
    memset(&c, 0, sizeof c);
    c.layout_fp = FUZZ_LAYOUT;
    c.binary_fp = FUZZ_BINARY;
    c.page_size = FUZZ_PAGE;
    c.user = user; c.n_user = 2;
    c.uarea.addr = base + 512; c.uarea.len = 200;
    for (int i = 0; i < 6; i++) { stacks[i].addr = base + 1024 + (uintptr_t)i * 256; stacks[i].len = 128; }
    c.stacks = stacks; c.n_stacks = many ? 6 : 1;
    for (int i = 0; i < 4; i++) { pages[i].addr = base + 4096 + (uintptr_t)i * FUZZ_PAGE; pages[i].flags = MIGRATE_PAGE_PRESENT; }
    if (zero_pages) {
        memset(mem + 4096 + FUZZ_PAGE, 0, FUZZ_PAGE);
        memset(mem + 4096 + 3 * FUZZ_PAGE, 0, FUZZ_PAGE);
        pages[2].flags = 0;
        migrate_pages_mark_zero(pages, 4, FUZZ_PAGE, mem, FUZZ_BASE);
    }
    c.pages = pages; c.n_pages = zero_pages >= 0 ? 4 : 0;
    c.mem = mem; c.mem_addr = base; c.mem_len = sizeof mem;  /* mem stands for base */
    len = 0;
    if (migrate_image_write(&c, sink, NULL, buf, sizeof buf, NULL) != 0) {
        fprintf(stderr, "mkimage: write failed\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: mkimage DIR\n"); return 2; }
    const char *dir = argv[1];
    migrate_image_section s;
    size_t off;

    build(FUZZ_BASE, 0, 0);  save(dir, "good.img", len);
    save(dir, "trunc.img", len - 300);
    img[0] = 'X';            save(dir, "magic.img", len); img[0] = 'U';
    img[4] = 9;              save(dir, "version.img", len); img[4] = 1;
    off = section_offset(2);
    img[off + 32 + 10] ^= 1; save(dir, "crc.img", len); img[off + 32 + 10] ^= 1;
    img[off + 9] ^= 1;       save(dir, "hdrcrc.img", len); img[off + 9] ^= 1;

    build(FUZZ_BASE, 1, 1);  save(dir, "zero.img", len);
    build(FUZZ_BASE, -1, 0); save(dir, "noheap.img", len);
    build(FUZZ_BASE + FUZZ_REGION, 0, 0); save(dir, "bounds.img", len);

    /* an optional section of an unknown type (skipped), and the same type
     * mandatory (refused) */
    build(FUZZ_BASE, 0, 0);
    off = section_offset(1);
    migrate_image_section_decode(img + off, &s);
    s.type = 77; s.flags |= MIGRATE_SECF_OPTIONAL;
    migrate_image_section_encode(&s, img + off);
    reseal();                save(dir, "optional.img", len);
    s.flags &= (uint16_t)~MIGRATE_SECF_OPTIONAL;
    migrate_image_section_encode(&s, img + off);
    reseal();                save(dir, "unknown.img", len);

    /* a misaligned heap page with every CRC right */
    build(FUZZ_BASE, 0, 0);
    off = section_offset(4);
    migrate_image_section_decode(img + off, &s);
    s.addr += 8;
    migrate_image_section_encode(&s, img + off);
    reseal();                save(dir, "format.img", len);
    free(img);
    return 0;
}
