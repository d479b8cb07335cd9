/* Helpers shared by the image tests: growable sink, chunked source, a
 * container standing in memory, and re-sealing of crafted images. Included
 * by one test file each (after MIGRATE_IMPLEMENTATION). */
#ifndef IMG_UTIL_H
#define IMG_UTIL_H

#include <migrate/image.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define UTIL_FN __attribute__((unused))

/* ---- a growable in-memory sink ---- */
typedef struct msink {
    unsigned char *buf;
    size_t len, cap;
    size_t max_piece;   /* largest piece handed to the sink */
    int fail_after;     /* > 0: fail the call after that many calls */
    int calls;
} msink;

static UTIL_FN int msink_write(void *ctx, const void *buf, size_t len)
{
    msink *s = (msink *)ctx;
    s->calls++;
    if (s->fail_after > 0 && s->calls > s->fail_after) return UAREA_EIO;
    if (len > s->max_piece) s->max_piece = len;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + len) cap *= 2;
        s->buf = (unsigned char *)realloc(s->buf, cap);
        cr_assert_not_null(s->buf);
        s->cap = cap;
    }
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

/* ---- a source over a buffer, in pieces of at most `chunk` bytes ---- */
typedef struct msource {
    const unsigned char *buf;
    size_t len, pos;
    size_t chunk;       /* 0: as much as asked */
    size_t max_cap;     /* largest cap the reader asked for */
} msource;

static UTIL_FN long msource_read(void *ctx, void *buf, size_t cap)
{
    msource *s = (msource *)ctx;
    size_t n = s->len - s->pos;
    if (cap > s->max_cap) s->max_cap = cap;
    if (n > cap) n = cap;
    if (s->chunk && n > s->chunk) n = s->chunk;
    memcpy(buf, s->buf + s->pos, n);
    s->pos += n;
    return (long)n;
}

/* ---- a container standing in a buffer at fake addresses ---- */
#define CT_BASE ((uintptr_t)0x80000000u)   /* image address of the region */
#define CT_PAGE 4096u
#define CT_LAYOUT UINT64_C(0x1A70A1F0C0DE0001)
#define CT_BINARY UINT64_C(0xB1A2B3C4D5E6F708)

typedef struct ctn {
    unsigned char *mem;       /* the region's bytes (source side) */
    size_t size;
    migrate_region user[8];
    migrate_region stacks[24];
    migrate_page pages[64];
    migrate_container c;
} ctn;

static UTIL_FN void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

/* A container in a region of `size` bytes: user sections, UArea and stacks
 * are carved from the front, heap pages from page-aligned offsets after. */
static UTIL_FN void ctn_init(ctn *t, size_t size)
{
    memset(t, 0, sizeof *t);
    t->mem = (unsigned char *)aligned_alloc(CT_PAGE, size);
    cr_assert_not_null(t->mem);
    t->size = size;
    fill_pattern(t->mem, size, 7);
    t->c.layout_fp = CT_LAYOUT;
    t->c.binary_fp = CT_BINARY;
    t->c.page_size = CT_PAGE;
    t->c.user = t->user;
    t->c.stacks = t->stacks;
    t->c.pages = t->pages;
    t->c.mem = t->mem;
    t->c.mem_addr = CT_BASE;
    t->c.mem_len = size;
}

static UTIL_FN void ctn_free(ctn *t) { free(t->mem); }

static UTIL_FN void ctn_user(ctn *t, size_t off, size_t len)
{
    t->user[t->c.n_user].addr = CT_BASE + off;
    t->user[t->c.n_user++].len = len;
}
static UTIL_FN void ctn_uarea(ctn *t, size_t off, size_t len)
{
    t->c.uarea.addr = CT_BASE + off;
    t->c.uarea.len = len;
}
static UTIL_FN void ctn_stack(ctn *t, size_t off, size_t len)
{
    t->stacks[t->c.n_stacks].addr = CT_BASE + off;
    t->stacks[t->c.n_stacks++].len = len;
}
static UTIL_FN void ctn_page(ctn *t, size_t off, uint32_t flags)
{
    t->pages[t->c.n_pages].addr = CT_BASE + off;
    t->pages[t->c.n_pages++].flags = flags;
}

/* The image of a container, in memory (the caller frees img->buf). */
static UTIL_FN msink ctn_image(const ctn *t)
{
    msink s = { 0 };
    unsigned char buf[4096];
    migrate_image_stats st;
    int rc = migrate_image_write(&t->c, msink_write, &s, buf, sizeof buf, &st);
    cr_assert_eq(rc, 0, "write: %s", uarea_strerror(rc));
    cr_assert_eq(st.stream_bytes, s.len);
    return s;
}

/* A destination region of the same size, at the same image addresses. */
static UTIL_FN migrate_image_target ctn_target(unsigned char *dst, size_t size)
{
    migrate_image_target tg;
    memset(&tg, 0, sizeof tg);
    tg.layout_fp = CT_LAYOUT;
    tg.binary_fp = CT_BINARY;
    tg.page_size = CT_PAGE;
    tg.lo = CT_BASE;
    tg.hi = CT_BASE + size;
    tg.mem = dst;
    return tg;
}

static UTIL_FN bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* Fix the stream CRC of a complete image after a crafted change. */
static UTIL_FN void reseal(unsigned char *img, size_t len)
{
    uint32_t crc = migrate_crc32c(0, img, len - 4);
    img[len - 4] = (unsigned char)crc;
    img[len - 3] = (unsigned char)(crc >> 8);
    img[len - 2] = (unsigned char)(crc >> 16);
    img[len - 1] = (unsigned char)(crc >> 24);
}

/* Offset of section i's header in a valid image (walks the headers). */
static UTIL_FN size_t section_offset(const unsigned char *img, uint32_t i)
{
    size_t off = MIGRATE_IMAGE_HEADER_SIZE;
    for (uint32_t k = 0; k < i; k++) {
        migrate_image_section s;
        cr_assert_eq(migrate_image_section_decode(img + off, &s), 0);
        off += MIGRATE_IMAGE_SECTION_SIZE + (size_t)migrate_image_section_stored(&s) +
               MIGRATE_IMAGE_CRC_SIZE;
    }
    return off;
}

#endif
