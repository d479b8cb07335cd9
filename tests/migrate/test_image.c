/* The container image: round trips of several shapes, streaming with any
 * chunk size, bounded buffers, and every reader error on a crafted image,
 * each leaving the destination empty. */
#define MIGRATE_IMPLEMENTATION
#define UAREA_CORE_IMPLEMENTATION
#include <migrate/image.h>
#include "img_util.h"

/* Restore img into dst through feed pieces of `chunk` bytes. */
static int restore(const unsigned char *img, size_t len, const migrate_image_target *tg,
                   unsigned flags, size_t chunk, migrate_image_stats *st)
{
    migrate_image_reader r;
    int rc = migrate_image_reader_init(&r, tg, flags);
    cr_assert_eq(rc, 0);
    for (size_t off = 0; off < len && rc >= 0; off += chunk)
        rc = migrate_image_feed(&r, img + off, len - off < chunk ? len - off : chunk);
    if (rc >= 0) rc = migrate_image_finish(&r);
    if (st) *st = r.stats;
    return rc;
}

/* Every byte of every section is back at its place. */
static void assert_restored(const ctn *t, const unsigned char *dst)
{
    const migrate_container *c = &t->c;
    for (uint32_t i = 0; i < c->n_user; i++)
        cr_assert_arr_eq(dst + (c->user[i].addr - CT_BASE), t->mem + (c->user[i].addr - CT_BASE),
                         c->user[i].len, "user section %u differs", i);
    if (c->uarea.len)
        cr_assert_arr_eq(dst + (c->uarea.addr - CT_BASE), t->mem + (c->uarea.addr - CT_BASE),
                         c->uarea.len, "UArea differs");
    for (uint32_t i = 0; i < c->n_stacks; i++)
        cr_assert_arr_eq(dst + (c->stacks[i].addr - CT_BASE), t->mem + (c->stacks[i].addr - CT_BASE),
                         c->stacks[i].len, "stack %u differs", i);
    for (uint32_t i = 0; i < c->n_pages; i++) {
        size_t off = c->pages[i].addr - CT_BASE;
        if (c->pages[i].flags & MIGRATE_PAGE_ZERO)
            cr_assert(all_zero(dst + off, CT_PAGE), "zero page %u is not zero", i);
        else if (c->pages[i].flags & MIGRATE_PAGE_PRESENT)
            cr_assert_arr_eq(dst + off, t->mem + off, CT_PAGE, "page %u differs", i);
        else
            cr_assert(all_zero(dst + off, CT_PAGE), "absent page %u was written", i);
    }
}

/* Shape: 2 user sections, UArea, 1 stack, no heap. */
static void shape_basic(ctn *t)
{
    ctn_init(t, 64 * 1024);
    ctn_user(t, 0, 5000);
    ctn_user(t, 5000, 3001);
    ctn_uarea(t, 8192, 2048);
    ctn_stack(t, 12288, 8192);
}

static void roundtrip(ctn *t, size_t chunk)
{
    msink img = ctn_image(t);
    unsigned char *dst = (unsigned char *)calloc(1, t->size);
    migrate_image_target tg = ctn_target(dst, t->size);
    migrate_image_stats st;
    int rc = restore(img.buf, img.len, &tg, 0, chunk, &st);
    cr_assert_eq(rc, 0, "restore: %s", uarea_strerror(rc));
    assert_restored(t, dst);
    cr_assert_eq(st.stream_bytes, img.len);
    free(dst);
    free(img.buf);
}

Test(image, roundtrip_no_heap)
{
    ctn t;
    shape_basic(&t);
    msink img = ctn_image(&t);
    /* header + 4 sections (header, payload, CRC) + trailer, nothing else */
    cr_assert_eq(img.len, 64 + 4 * 36 + 5000 + 3001 + 2048 + 8192 + 16);
    free(img.buf);
    roundtrip(&t, 4096);
    ctn_free(&t);
}

Test(image, roundtrip_zero_pages)
{
    ctn t;
    ctn_init(&t, 128 * 1024);
    ctn_user(&t, 0, 4096);
    ctn_uarea(&t, 4096, 1024);
    ctn_stack(&t, 8192, 4096);
    for (int i = 0; i < 8; i++) ctn_page(&t, (size_t)(4 + i) * CT_PAGE, MIGRATE_PAGE_PRESENT);
    ctn_page(&t, 12 * CT_PAGE, 0);                    /* absent: not sent */
    memset(t.mem + 5 * CT_PAGE, 0, CT_PAGE);          /* pages 1, 3, 6 are zero */
    memset(t.mem + 7 * CT_PAGE, 0, CT_PAGE);
    memset(t.mem + 10 * CT_PAGE, 0, CT_PAGE);
    cr_assert_eq(migrate_pages_mark_zero(t.pages, t.c.n_pages, CT_PAGE, t.mem, CT_BASE), 3);
    cr_assert(t.pages[1].flags & MIGRATE_PAGE_ZERO);
    cr_assert_not(t.pages[0].flags & MIGRATE_PAGE_ZERO);

    msink img = ctn_image(&t);
    cr_assert_eq(img.len, 64 + 11 * 36 + 4096 + 1024 + 4096 + 5 * CT_PAGE + 16,
                 "zero pages must carry no payload");
    unsigned char *dst = (unsigned char *)malloc(t.size);
    memset(dst, 0, t.size);
    memset(dst + 7 * CT_PAGE, 0xAA, CT_PAGE);         /* a zero page must be zeroed */
    migrate_image_target tg = ctn_target(dst, t.size);
    migrate_image_stats st;
    int rc = restore(img.buf, img.len, &tg, 0, 1000, &st);
    cr_assert_eq(rc, 0, "restore: %s", uarea_strerror(rc));
    assert_restored(&t, dst);
    cr_assert_eq(st.zero_pages, 3);
    cr_assert_eq(st.sections, 11);
    cr_assert_eq(st.memory_bytes, 4096 + 1024 + 4096 + 5 * CT_PAGE);
    free(dst);
    free(img.buf);
    ctn_free(&t);
}

Test(image, roundtrip_many_stacks)
{
    ctn t;
    ctn_init(&t, 256 * 1024);
    ctn_user(&t, 0, 100);
    ctn_uarea(&t, 128, 2000);
    for (int i = 0; i < 18; i++) ctn_stack(&t, 4096 + (size_t)i * 8192, 8192 - (size_t)i);
    roundtrip(&t, 4096);
    roundtrip(&t, 7);
    ctn_free(&t);
}

Test(image, roundtrip_1mib_section)
{
    ctn t;
    ctn_init(&t, (1u << 20) + 64 * 1024);
    ctn_user(&t, 0, 1u << 20);
    ctn_uarea(&t, 1u << 20, 4096);
    ctn_stack(&t, (1u << 20) + 4096, 8192);
    ctn_page(&t, (1u << 20) + 4 * CT_PAGE, MIGRATE_PAGE_PRESENT);
    roundtrip(&t, 4096 /* NOC_PORTAL_CHUNK */);
    ctn_free(&t);
}

Test(image, empty_container)
{
    ctn t;
    ctn_init(&t, 4096);
    msink img = ctn_image(&t);
    cr_assert_eq(img.len, 64 + 16);
    unsigned char dst[4096] = { 0 };
    migrate_image_target tg = ctn_target(dst, sizeof dst);
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 1, NULL), 0);
    free(img.buf);
    ctn_free(&t);
}

/* The writer gives the same bytes whatever it is asked for at a time, and
 * the reader accepts them in any pieces. */
Test(image, chunk_sizes_do_not_matter)
{
    static const size_t sizes[] = { 1, 2, 3, 5, 7, 31, 64, 4095, 4096, 4097, 65536 };
    ctn t;
    shape_basic(&t);
    ctn_page(&t, 6 * CT_PAGE, MIGRATE_PAGE_PRESENT);
    ctn_page(&t, 7 * CT_PAGE, MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO);
    msink ref = ctn_image(&t);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        migrate_image_writer w;
        unsigned char *out = (unsigned char *)malloc(ref.len + 1);
        unsigned char *piece = (unsigned char *)malloc(sizes[k]);
        size_t len = 0;
        long n;
        cr_assert_eq(migrate_image_writer_init(&w, &t.c), 0);
        cr_assert_eq(migrate_image_writer_size(&w), ref.len);
        while ((n = migrate_image_produce(&w, piece, sizes[k])) > 0) {
            cr_assert_leq((size_t)n, sizes[k]);
            cr_assert_leq(len + (size_t)n, ref.len);
            memcpy(out + len, piece, (size_t)n);
            len += (size_t)n;
        }
        cr_assert_eq(n, 0);
        cr_assert_eq(len, ref.len, "chunk %zu", sizes[k]);
        cr_assert_arr_eq(out, ref.buf, len, "chunk %zu changes the bytes", sizes[k]);
        cr_assert_eq(migrate_image_produce(&w, piece, sizes[k]), 0, "done stays done");
        cr_assert_eq(w.stats.zero_pages, 1);
        cr_assert_eq(w.stats.sections, 6);

        unsigned char *dst = (unsigned char *)calloc(1, t.size);
        migrate_image_target tg = ctn_target(dst, t.size);
        cr_assert_eq(restore(out, len, &tg, 0, sizes[k], NULL), 0, "feed %zu", sizes[k]);
        assert_restored(&t, dst);
        free(dst);
        free(out);
        free(piece);
    }
    free(ref.buf);
    ctn_free(&t);
}

/* The source is never asked for more than the caller's buffer, which may be
 * one byte; the sink never gets more than the writer's buffer. */
Test(image, bounded_buffers)
{
    static const size_t caps[] = { 1, 3, 64, 4096 };
    ctn t;
    shape_basic(&t);
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        msink img = { 0 };
        unsigned char *buf = (unsigned char *)malloc(caps[k]);
        migrate_image_stats st;
        cr_assert_eq(migrate_image_write(&t.c, msink_write, &img, buf, caps[k], &st), 0);
        cr_assert_leq(img.max_piece, caps[k]);
        unsigned char *dst = (unsigned char *)calloc(1, t.size);
        migrate_image_target tg = ctn_target(dst, t.size);
        msource src = { img.buf, img.len, 0, 0, 0 };
        int rc = migrate_image_read(&tg, 0, msource_read, &src, buf, caps[k], &st);
        cr_assert_eq(rc, 0, "cap %zu: %s", caps[k], uarea_strerror(rc));
        cr_assert_leq(src.max_cap, caps[k]);
        cr_assert_eq(st.stream_bytes, img.len);
        assert_restored(&t, dst);
        /* a source that returns fewer bytes than asked works too */
        memset(dst, 0, t.size);
        msource src2 = { img.buf, img.len, 0, 5, 0 };
        cr_assert_eq(migrate_image_read(&tg, 0, msource_read, &src2, buf, caps[k], NULL), 0);
        assert_restored(&t, dst);
        free(dst);
        free(buf);
        free(img.buf);
    }
    ctn_free(&t);
}

Test(image, reader_struct_is_small)
{
    /* The reader keeps no image data: it must fit a kernel stack easily. */
    cr_assert_leq(sizeof(migrate_image_reader), 512u);
    cr_assert_leq(sizeof(migrate_image_writer), 512u);
}

/* ---- errors: each is distinct and leaves the destination empty ---------- */
typedef struct bad {
    ctn t;
    msink img;
    unsigned char *dst;
    migrate_image_target tg;
} bad;

/* Basic shape plus two heap pages; the image is written, the destination
 * allocated and empty. */
static void bad_init(bad *b)
{
    shape_basic(&b->t);
    ctn_page(&b->t, 8 * CT_PAGE, MIGRATE_PAGE_PRESENT);
    ctn_page(&b->t, 9 * CT_PAGE, MIGRATE_PAGE_PRESENT);
    b->img = ctn_image(&b->t);
    b->dst = (unsigned char *)calloc(1, b->t.size);
    b->tg = ctn_target(b->dst, b->t.size);
}

static void bad_free(bad *b)
{
    free(b->img.buf);
    free(b->dst);
    ctn_free(&b->t);
}

/* Restore in several chunkings; each must fail with `want` and leave the
 * destination zero and nothing reported restored. */
static void expect_fail(bad *b, const unsigned char *img, size_t len, int want)
{
    static const size_t chunks[] = { 1, 13, 4096, 1u << 20 };
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        migrate_image_stats st;
        memset(b->dst, 0, b->t.size);
        int rc = restore(img, len, &b->tg, 0, chunks[k], &st);
        cr_assert_eq(rc, want, "chunk %zu: got %d (%s), want %d (%s)", chunks[k], rc,
                     uarea_strerror(rc), want, uarea_strerror(want));
        cr_assert(all_zero(b->dst, b->t.size), "chunk %zu: destination not empty", chunks[k]);
        cr_assert_eq(st.sections, 0);
        cr_assert_eq(st.memory_bytes, 0);
        /* verify-only reaches the same verdict */
        rc = restore(img, len, &b->tg, MIGRATE_IMAGE_VERIFY_ONLY, chunks[k], NULL);
        cr_assert_eq(rc, want, "verify-only, chunk %zu: %d", chunks[k], rc);
    }
}

Test(image_err, bad_magic)
{
    bad b;
    bad_init(&b);
    b.img.buf[1] ^= 0x20;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGMAGIC);
    expect_fail(&b, (const unsigned char *)"\x7f" "ELF and so on", 14, UAREA_EIMGMAGIC);
    bad_free(&b);
}

Test(image_err, unsupported_version)
{
    bad b;
    bad_init(&b);
    b.img.buf[4] = MIGRATE_IMAGE_VERSION + 1;        /* newer */
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGVERSION);
    b.img.buf[4] = 0;                                /* older than supported */
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGVERSION);
    bad_free(&b);
}

Test(image_err, layout_mismatch)
{
    bad b;
    bad_init(&b);
    b.tg.layout_fp ^= 1;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGLAYOUT);
    b.tg.layout_fp ^= 1;
    b.tg.page_size = 2 * CT_PAGE;                    /* another page size */
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGLAYOUT);
    b.tg.page_size = CT_PAGE;
    /* another word size: a well-formed header from a 4-byte-pointer writer */
    migrate_image_header h;
    cr_assert_eq(migrate_image_header_decode(b.img.buf, &h), 0);
    h.word_size = (uint8_t)(UAREA_WORD_SIZE == 8 ? 4 : 8);
    migrate_image_header_encode(&h, b.img.buf);
    reseal(b.img.buf, b.img.len);
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGLAYOUT);
    bad_free(&b);
}

Test(image_err, binary_mismatch)
{
    bad b;
    bad_init(&b);
    b.tg.binary_fp = 42;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGBINARY);
    bad_free(&b);
}

/* Cut at every kind of place: in the header, a section header, a payload
 * (after earlier sections were written), a payload CRC, the trailer. */
Test(image_err, truncated)
{
    bad b;
    bad_init(&b);
    size_t s3 = section_offset(b.img.buf, 3);
    const size_t cuts[] = { 0, 3, 40, 64, 70, s3, s3 + 40, s3 + 32 + 8192 + 2,
                            b.img.len - 16, b.img.len - 1 };
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++)
        expect_fail(&b, b.img.buf, cuts[k], UAREA_EIMGTRUNC);
    bad_free(&b);
}

Test(image_err, crc_mismatch)
{
    bad b;
    bad_init(&b);
    size_t s5 = section_offset(b.img.buf, 5);
    /* a payload byte of the last heap page: everything before was restored */
    b.img.buf[s5 + 32 + 100] ^= 1;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[s5 + 32 + 100] ^= 1;
    /* the same change with the stream CRC fixed: the section CRC catches it */
    b.img.buf[s5 + 32 + 100] ^= 1;
    reseal(b.img.buf, b.img.len);
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[s5 + 32 + 100] ^= 1;
    reseal(b.img.buf, b.img.len);
    /* a section header's address */
    b.img.buf[s5 + 9] ^= 0x10;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[s5 + 9] ^= 0x10;
    /* a header field without meaning to the checks */
    b.img.buf[20] ^= 4;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[20] ^= 4;
    /* the payload CRC itself, and the stream CRC */
    size_t pc = s5 + 32 + CT_PAGE;
    b.img.buf[pc] ^= 0x80;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[pc] ^= 0x80;
    b.img.buf[b.img.len - 2] ^= 1;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    b.img.buf[b.img.len - 2] ^= 1;
    cr_assert_eq(restore(b.img.buf, b.img.len, &b.tg, 0, 4096, NULL), 0, "undo left damage");
    bad_free(&b);
}

Test(image_err, out_of_bounds)
{
    bad b;
    bad_init(&b);
    /* the region ends before the last heap page: sections 0..4 land, then 5 is refused */
    b.tg.hi = CT_BASE + 9 * CT_PAGE + 100;
    b.tg.max_size = 1u << 20;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGBOUNDS);
    /* starts after the first section */
    b.tg.hi = CT_BASE + b.t.size;
    b.tg.lo = CT_BASE + 64;
    b.tg.mem = b.dst + 64;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGBOUNDS);
    b.tg.lo = CT_BASE;
    b.tg.mem = b.dst;
    /* a UArea slot elsewhere that the image's UArea does not fit */
    unsigned char slot[1024] = { 0 };
    b.tg.uarea_addr = CT_BASE + 8192;
    b.tg.uarea_len = sizeof slot;                     /* the image's UArea is 2048 bytes */
    b.tg.uarea_mem = slot;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGBOUNDS);
    cr_assert(all_zero(slot, sizeof slot));
    bad_free(&b);
}

Test(image_err, too_big)
{
    bad b;
    bad_init(&b);
    b.tg.max_size = 5000 + 3001 + 2048 + 8192 + 2 * CT_PAGE - 1;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGTOOBIG);
    b.tg.max_size += 1;                               /* exactly fits */
    cr_assert_eq(restore(b.img.buf, b.img.len, &b.tg, 0, 4096, NULL), 0);
    bad_free(&b);
}

/* Rewrite section i's header through decode/encode, then reseal. */
static void edit_section(unsigned char *img, size_t len, uint32_t i,
                         void (*edit)(migrate_image_section *))
{
    size_t off = section_offset(img, i);
    migrate_image_section s;
    cr_assert_eq(migrate_image_section_decode(img + off, &s), 0);
    edit(&s);
    migrate_image_section_encode(&s, img + off);
    reseal(img, len);
}
static void ed_misalign(migrate_image_section *s) { s->addr += 8; }
static void ed_index(migrate_image_section *s) { s->index += 1; }
static void ed_type_user(migrate_image_section *s) { s->type = MIGRATE_SEC_USER; }
static void ed_flag(migrate_image_section *s) { s->flags |= 0x0100; }
static void ed_unknown(migrate_image_section *s) { s->type = 77; }
static void ed_optional(migrate_image_section *s) { s->type = 77; s->flags |= MIGRATE_SECF_OPTIONAL; }

Test(image_err, malformed)
{
    bad b;
    bad_init(&b);
    unsigned char *copy = (unsigned char *)malloc(b.img.len + 8);
    void (*const edits[])(migrate_image_section *) = { ed_misalign, ed_index, ed_type_user, ed_flag };
    const uint32_t which[] = { 5, 2, 3, 1 };
    for (size_t k = 0; k < 4; k++) {
        memcpy(copy, b.img.buf, b.img.len);
        edit_section(copy, b.img.len, which[k], edits[k]);
        expect_fail(&b, copy, b.img.len, UAREA_EIMGFORMAT);
    }
    /* heap pages out of order: swap the two page headers' addresses */
    memcpy(copy, b.img.buf, b.img.len);
    {
        size_t o4 = section_offset(copy, 4), o5 = section_offset(copy, 5);
        migrate_image_section s4, s5;
        migrate_image_section_decode(copy + o4, &s4);
        migrate_image_section_decode(copy + o5, &s5);
        uint64_t a = s4.addr; s4.addr = s5.addr; s5.addr = a;
        migrate_image_section_encode(&s4, copy + o4);
        migrate_image_section_encode(&s5, copy + o5);
        reseal(copy, b.img.len);
        expect_fail(&b, copy, b.img.len, UAREA_EIMGFORMAT);
    }
    /* bytes after the trailer */
    memcpy(copy, b.img.buf, b.img.len);
    memset(copy + b.img.len, 0, 8);
    expect_fail(&b, copy, b.img.len + 8, UAREA_EIMGFORMAT);
    /* a header whose total length disagrees with the sections */
    memcpy(copy, b.img.buf, b.img.len);
    {
        migrate_image_header h;
        migrate_image_header_decode(copy, &h);
        h.total_len += 4;
        migrate_image_header_encode(&h, copy);
        reseal(copy, b.img.len);
        expect_fail(&b, copy, b.img.len, UAREA_EIMGFORMAT);
        h.total_len -= 4;
        h.container_size -= 1;                        /* sections exceed it */
        migrate_image_header_encode(&h, copy);
        reseal(copy, b.img.len);
        expect_fail(&b, copy, b.img.len, UAREA_EIMGFORMAT);
    }
    /* a crafted trailer with a wrong magic but a right CRC */
    memcpy(copy, b.img.buf, b.img.len);
    copy[b.img.len - 16] ^= 1;
    reseal(copy, b.img.len);
    expect_fail(&b, copy, b.img.len, UAREA_EIMGFORMAT);
    free(copy);
    bad_free(&b);
}

/* Versions: an unknown section type is refused unless marked optional, in
 * which case it is checked and skipped. */
Test(image, unknown_sections)
{
    bad b;
    bad_init(&b);
    unsigned char *copy = (unsigned char *)malloc(b.img.len);
    memcpy(copy, b.img.buf, b.img.len);
    edit_section(copy, b.img.len, 5, ed_unknown);
    expect_fail(&b, copy, b.img.len, UAREA_EIMGVERSION);
    memcpy(copy, b.img.buf, b.img.len);
    edit_section(copy, b.img.len, 5, ed_optional);
    migrate_image_stats st;
    memset(b.dst, 0, b.t.size);
    cr_assert_eq(restore(copy, b.img.len, &b.tg, 0, 333, &st), 0);
    cr_assert_eq(st.skipped, 1);
    cr_assert_eq(st.sections, 5);
    cr_assert(all_zero(b.dst + 9 * CT_PAGE, CT_PAGE), "a skipped section is not written");
    cr_assert_arr_eq(b.dst + 8 * CT_PAGE, b.t.mem + 8 * CT_PAGE, CT_PAGE);
    free(copy);
    bad_free(&b);
}

Test(image, verify_only_writes_nothing)
{
    bad b;
    bad_init(&b);
    migrate_image_stats st;
    memset(b.dst, 0x5A, b.t.size);
    cr_assert_eq(restore(b.img.buf, b.img.len, &b.tg, MIGRATE_IMAGE_VERIFY_ONLY, 100, &st), 0);
    for (size_t i = 0; i < b.t.size; i++) cr_assert_eq(b.dst[i], 0x5A);
    cr_assert_eq(st.memory_bytes, 0);
    /* no target: only the image's own consistency */
    cr_assert_eq(restore(b.img.buf, b.img.len, NULL, MIGRATE_IMAGE_VERIFY_ONLY, 4096, NULL), 0);
    b.img.buf[200] ^= 1;
    cr_assert_eq(restore(b.img.buf, b.img.len, NULL, MIGRATE_IMAGE_VERIFY_ONLY, 4096, NULL),
                 UAREA_EIMGCRC);
    bad_free(&b);
}

Test(image, uarea_slot_apart_from_region)
{
    bad b;
    bad_init(&b);
    unsigned char slot[4096];
    memset(slot, 0, sizeof slot);
    b.tg.uarea_addr = CT_BASE + 8192;
    b.tg.uarea_len = sizeof slot;
    b.tg.uarea_mem = slot;
    cr_assert_eq(restore(b.img.buf, b.img.len, &b.tg, 0, 4096, NULL), 0);
    cr_assert_arr_eq(slot, b.t.mem + 8192, 2048);
    cr_assert(all_zero(b.dst + 8192, 2048), "the UArea went to its slot, not the region");
    /* a failure later in the stream wipes the slot too */
    memset(slot, 0, sizeof slot);
    b.img.buf[b.img.len - 1] ^= 1;
    expect_fail(&b, b.img.buf, b.img.len, UAREA_EIMGCRC);
    cr_assert(all_zero(slot, sizeof slot));
    bad_free(&b);
}

Test(image, discard_wipes_a_verified_restore)
{
    bad b;
    bad_init(&b);
    migrate_image_reader r;
    cr_assert_eq(migrate_image_reader_init(&r, &b.tg, 0), 0);
    cr_assert_eq(migrate_image_feed(&r, b.img.buf, b.img.len), 1);
    cr_assert_eq(migrate_image_finish(&r), 0);
    cr_assert_not(all_zero(b.dst, b.t.size));
    migrate_image_discard(&r);
    cr_assert(all_zero(b.dst, b.t.size));
    cr_assert_eq(migrate_image_finish(&r), UAREA_ECANCELED);
    cr_assert_eq(migrate_image_feed(&r, b.img.buf, 1), UAREA_ECANCELED, "errors are sticky");
    bad_free(&b);
}

Test(image, errors_are_sticky)
{
    bad b;
    bad_init(&b);
    migrate_image_reader r;
    cr_assert_eq(migrate_image_reader_init(&r, &b.tg, 0), 0);
    b.img.buf[0] = 'X';
    cr_assert_eq(migrate_image_feed(&r, b.img.buf, 10), UAREA_EIMGMAGIC);
    b.img.buf[0] = 'U';
    cr_assert_eq(migrate_image_feed(&r, b.img.buf, b.img.len), UAREA_EIMGMAGIC);
    cr_assert_eq(migrate_image_finish(&r), UAREA_EIMGMAGIC);
    bad_free(&b);
}

/* ---- argument checks ------------------------------------------------------ */
Test(image, writer_rejects_bad_descriptions)
{
    ctn t;
    migrate_image_writer w;
    shape_basic(&t);
    migrate_container c = t.c;
    cr_assert_eq(migrate_image_writer_init(NULL, &c), UAREA_EINVAL);
    cr_assert_eq(migrate_image_writer_init(&w, NULL), UAREA_EINVAL);
    c.user = NULL;
    cr_assert_eq(migrate_image_writer_init(&w, &c), UAREA_EINVAL);
    c = t.c;
    c.page_size = 3000;
    cr_assert_eq(migrate_image_writer_init(&w, &c), UAREA_EINVAL);
    c = t.c;
    t.stacks[0].len = t.size;                         /* runs past mem */
    cr_assert_eq(migrate_image_writer_init(&w, &c), UAREA_EINVAL);
    t.stacks[0].len = 8192;
    ctn_page(&t, 8 * CT_PAGE + 1, MIGRATE_PAGE_PRESENT); /* misaligned page */
    c = t.c;
    cr_assert_eq(migrate_image_writer_init(&w, &c), UAREA_EINVAL);
    t.pages[0].addr -= 1;
    t.pages[0].flags = 0x80;                          /* unknown flag */
    c = t.c;
    cr_assert_eq(migrate_image_writer_init(&w, &c), UAREA_EINVAL);
    t.pages[0].flags = MIGRATE_PAGE_PRESENT;
    c = t.c;
    cr_assert_eq(migrate_image_writer_init(&w, &c), 0);
    unsigned char buf[16];
    cr_assert_eq(migrate_image_write(&c, NULL, NULL, buf, sizeof buf, NULL), UAREA_EINVAL);
    cr_assert_eq(migrate_image_write(&c, msink_write, NULL, buf, 0, NULL), UAREA_EINVAL);
    ctn_free(&t);
}

Test(image, sink_errors_are_returned)
{
    ctn t;
    shape_basic(&t);
    msink s = { 0 };
    s.fail_after = 3;
    unsigned char buf[256];
    cr_assert_eq(migrate_image_write(&t.c, msink_write, &s, buf, sizeof buf, NULL), UAREA_EIO);
    free(s.buf);
    ctn_free(&t);
}

static long failing_source(void *ctx, void *buf, size_t cap)
{
    (void)ctx; (void)buf; (void)cap;
    return UAREA_EIO;
}

Test(image, reader_rejects_bad_arguments)
{
    migrate_image_reader r;
    migrate_image_target tg;
    memset(&tg, 0, sizeof tg);
    cr_assert_eq(migrate_image_reader_init(&r, NULL, 0), UAREA_EINVAL);
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0x10), UAREA_EINVAL);
    tg.lo = 100; tg.hi = 50;
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0), UAREA_EINVAL);
    tg.lo = 0; tg.hi = 100; tg.page_size = 100;
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0), UAREA_EINVAL);
    tg.page_size = 0;
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0), 0);
    cr_assert_eq(migrate_image_feed(&r, NULL, 1), UAREA_EINVAL);
    unsigned char buf[8];
    cr_assert_eq(migrate_image_read(&tg, 0, failing_source, NULL, buf, sizeof buf, NULL), UAREA_EIO);
}

Test(image, header_encoding_roundtrip)
{
    migrate_image_header h = { 0 }, g;
    unsigned char p[MIGRATE_IMAGE_HEADER_SIZE];
    h.version = MIGRATE_IMAGE_VERSION;
    h.word_size = 4;
    h.cpu = 6;
    h.page_size = 4096;
    h.layout_fp = UINT64_C(0x0102030405060708);
    h.binary_fp = UINT64_C(0xF0E0D0C0B0A09080);
    h.sections = 3;
    h.total_len = 64 + 3 * 36 + 16 + 99;
    h.container_size = 99;
    migrate_image_header_encode(&h, p);
    /* fixed little-endian fields at their documented offsets */
    cr_assert_eq(memcmp(p, "UAIM", 4), 0);
    cr_assert_eq(p[4], 1); cr_assert_eq(p[5], 0);
    cr_assert_eq(p[6], 64);
    cr_assert_eq(p[8], 4); cr_assert_eq(p[9], 6);
    cr_assert_eq(p[16], 0x08); cr_assert_eq(p[23], 0x01);
    cr_assert_eq(p[32], 3);
    cr_assert_eq(migrate_image_header_decode(p, &g), 0);
    cr_assert_eq(g.version, h.version);
    cr_assert_eq(g.word_size, h.word_size);
    cr_assert_eq(g.cpu, h.cpu);
    cr_assert_eq(g.page_size, h.page_size);
    cr_assert_eq(g.layout_fp, h.layout_fp);
    cr_assert_eq(g.binary_fp, h.binary_fp);
    cr_assert_eq(g.sections, h.sections);
    cr_assert_eq(g.total_len, h.total_len);
    cr_assert_eq(g.container_size, h.container_size);
    unsigned char t[16];
    migrate_image_trailer_encode(3, 0xAABBCCDDu, t);
    cr_assert_eq(memcmp(t, "UEND", 4), 0);
    uint32_t n, crc;
    cr_assert_eq(migrate_image_trailer_decode(t, &n, &crc), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(crc, 0xAABBCCDDu);
    cr_assert_str_eq(migrate_image_section_name(MIGRATE_SEC_HEAP), "heap");
    cr_assert_str_eq(migrate_image_section_name(99), "unknown");
}

/* Any one damaged byte anywhere in an image is refused, and the destination
 * is left empty each time. */
Test(image_err, every_single_byte_damage_is_refused)
{
    ctn t;
    ctn_init(&t, 16 * 1024);
    ctn_user(&t, 0, 300);
    ctn_uarea(&t, 512, 200);
    ctn_stack(&t, 1024, 128);
    t.c.page_size = 256;
    ctn_page(&t, 4096, MIGRATE_PAGE_PRESENT);
    ctn_page(&t, 4096 + 256, MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO);
    msink img = ctn_image(&t);
    unsigned char *dst = (unsigned char *)calloc(1, t.size);
    migrate_image_target tg = ctn_target(dst, t.size);
    tg.page_size = 256;
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, img.len, NULL), 0);
    memset(dst, 0, t.size);
    for (size_t i = 0; i < img.len; i++) {
        unsigned char mask = (unsigned char)(1u << (i % 8));
        img.buf[i] ^= mask;
        int rc = restore(img.buf, img.len, &tg, 0, 64, NULL);
        cr_assert_lt(rc, 0, "damage at byte %zu went unnoticed", i);
        cr_assert(rc == UAREA_EIMGCRC || rc == UAREA_EIMGMAGIC || rc == UAREA_EIMGVERSION ||
                  rc == UAREA_EIMGFORMAT, "byte %zu: unexpected %d", i, rc);
        cr_assert(all_zero(dst, t.size), "byte %zu: destination not empty", i);
        img.buf[i] ^= mask;
    }
    free(dst);
    free(img.buf);
    ctn_free(&t);
}

static long greedy_source(void *ctx, void *buf, size_t cap)
{
    (void)ctx; (void)buf;
    return (long)cap + 1;   /* claims more than it may */
}

Test(image, produce_and_pull_check_their_buffers)
{
    ctn t;
    shape_basic(&t);
    migrate_image_writer w;
    unsigned char buf[64];
    cr_assert_eq(migrate_image_writer_init(&w, &t.c), 0);
    cr_assert_eq(migrate_image_produce(&w, buf, 0), UAREA_EINVAL);
    cr_assert_eq(migrate_image_produce(&w, NULL, 10), UAREA_EINVAL);
    cr_assert_eq(migrate_image_produce(&w, buf, 10), 10, "still usable after a refused call");
    unsigned char *dst = (unsigned char *)calloc(1, t.size);
    migrate_image_target tg = ctn_target(dst, t.size);
    cr_assert_eq(migrate_image_read(&tg, 0, greedy_source, NULL, buf, sizeof buf, NULL), UAREA_EIO);
    cr_assert_eq(migrate_image_read(&tg, 0, msource_read, NULL, buf, 0, NULL), UAREA_EINVAL);
    free(dst);
    ctn_free(&t);
}

/* User sections live in the binary's data, outside the container region: the
 * target's user window lets them land there, and only there. */
static unsigned char user_data[3000];

Test(image, user_window_outside_region)
{
    const size_t size = 64 * 1024;
    unsigned char *region = (unsigned char *)aligned_alloc(4096, size);
    unsigned char *want_region = (unsigned char *)malloc(size);
    unsigned char want_user[sizeof user_data];
    migrate_region user = { (uintptr_t)user_data, sizeof user_data };
    migrate_region stack = { (uintptr_t)region + 8192, 4096 };
    migrate_page page = { (uintptr_t)region + 16384, MIGRATE_PAGE_PRESENT };
    migrate_container c = { 0 };
    migrate_image_target tg = { 0 };
    msink img = { 0 };
    unsigned char buf[1000];
    cr_assert_not_null(region);
    fill_pattern(region, size, 3);
    fill_pattern(user_data, sizeof user_data, 4);
    c.layout_fp = CT_LAYOUT; c.binary_fp = CT_BINARY; c.page_size = CT_PAGE;
    c.user = &user; c.n_user = 1;
    c.uarea.addr = (uintptr_t)region; c.uarea.len = 1024;
    c.stacks = &stack; c.n_stacks = 1;
    c.pages = &page; c.n_pages = 1;
    cr_assert_eq(migrate_image_write(&c, msink_write, &img, buf, sizeof buf, NULL), 0);
    memcpy(want_region, region, size);
    memcpy(want_user, user_data, sizeof user_data);

    /* the container is gone from this node; restore at the same addresses */
    tg.layout_fp = CT_LAYOUT; tg.binary_fp = CT_BINARY; tg.page_size = CT_PAGE;
    tg.lo = (uintptr_t)region; tg.hi = (uintptr_t)region + size;
    memset(region, 0, size);
    memset(user_data, 0, sizeof user_data);
    /* without a user window the user section is out of bounds */
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 777, NULL), UAREA_EIMGBOUNDS);
    cr_assert(all_zero(region, size));
    cr_assert(all_zero(user_data, sizeof user_data));
    /* a window that does not hold it all is no better */
    tg.user_lo = (uintptr_t)user_data; tg.user_hi = (uintptr_t)user_data + sizeof user_data - 1;
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 777, NULL), UAREA_EIMGBOUNDS);
    cr_assert(all_zero(user_data, sizeof user_data));
    tg.user_hi = (uintptr_t)user_data + sizeof user_data;
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 777, NULL), 0);
    cr_assert_arr_eq(user_data, want_user, sizeof user_data);
    cr_assert_arr_eq(region, want_region, 1024);
    cr_assert_arr_eq(region + 8192, want_region + 8192, 4096);
    cr_assert_arr_eq(region + 16384, want_region + 16384, CT_PAGE);
    /* a damaged image wipes the window as well as the region */
    img.buf[img.len - 1] ^= 0x10;
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 777, NULL), UAREA_EIMGCRC);
    cr_assert(all_zero(user_data, sizeof user_data));
    cr_assert(all_zero(region, size));
    /* a window that wraps is refused */
    migrate_image_reader r;
    tg.user_lo = tg.user_hi + 1;
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0), UAREA_EINVAL);
    free(img.buf);
    free(want_region);
    free(region);
}

/* ---- lazy sections (post-copy): runs of heap pages that follow after ---- */
/* A container with 2 heap pages in the image (one zero) and 5 lazy pages
 * in runs of 2 and 3 (the lazy range: the last 8 of the region's 16 pages). */
#define LZ_HEAP (8 * CT_PAGE)
#define LZ_PAGES 8u
static void shape_lazy(ctn *t, uint32_t *map)
{
    shape_basic(t);
    memset(t->mem + LZ_HEAP + 3 * CT_PAGE, 0, CT_PAGE);
    ctn_page(t, LZ_HEAP + 0 * CT_PAGE, MIGRATE_PAGE_PRESENT);
    ctn_page(t, LZ_HEAP + 3 * CT_PAGE, MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO);
    map[0] = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    t->c.lazy = map;
    t->c.lazy_addr = CT_BASE + LZ_HEAP;
    t->c.lazy_pages = LZ_PAGES;
}

static migrate_image_target lazy_target(unsigned char *dst, size_t size, uint32_t *map)
{
    migrate_image_target tg = ctn_target(dst, size);
    tg.lazy = map;
    tg.lazy_addr = CT_BASE + LZ_HEAP;
    tg.lazy_pages = LZ_PAGES;
    return tg;
}

Test(image_lazy, runs_go_as_sections_without_payload)
{
    ctn t;
    uint32_t map[1] = { 0 }, got[1] = { 0 };
    shape_lazy(&t, map);
    msink img = ctn_image(&t);
    /* 4 basic sections + 2 heap pages + 2 lazy runs; no lazy byte stored */
    migrate_image_header h;
    cr_assert_eq(migrate_image_header_decode(img.buf, &h), 0);
    cr_assert_eq(h.sections, 8u);
    migrate_image_section s6, s7;
    cr_assert_eq(migrate_image_section_decode(img.buf + section_offset(img.buf, 6), &s6), 0);
    cr_assert_eq(migrate_image_section_decode(img.buf + section_offset(img.buf, 7), &s7), 0);
    cr_assert_eq(s6.type, MIGRATE_SEC_LAZY);
    cr_assert_eq(s6.addr, CT_BASE + LZ_HEAP + CT_PAGE);
    cr_assert_eq(s6.len, 2 * CT_PAGE);
    cr_assert_eq(s7.addr, CT_BASE + LZ_HEAP + 5 * CT_PAGE);
    cr_assert_eq(s7.len, 3 * CT_PAGE);
    cr_assert_eq(migrate_image_section_stored(&s7), 0);
    cr_assert_str_eq(migrate_image_section_name(MIGRATE_SEC_LAZY), "lazy");
    cr_assert_eq(section_offset(img.buf, 8) + MIGRATE_IMAGE_TRAILER_SIZE, img.len);
    /* the reader writes nothing there and sets the bits */
    unsigned char *dst = (unsigned char *)calloc(1, t.size);
    migrate_image_target tg = lazy_target(dst, t.size, got);
    migrate_image_stats st;
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 333, &st), 0);
    assert_restored(&t, dst);
    cr_assert_eq(got[0], map[0]);
    cr_assert_eq(st.lazy_pages, 5u);
    for (uint32_t i = 0; i < LZ_PAGES; i++)
        if (map[0] >> i & 1u) cr_assert(all_zero(dst + LZ_HEAP + i * CT_PAGE, CT_PAGE));
    free(dst);
    free(img.buf);
    ctn_free(&t);
}

Test(image_lazy, a_target_without_a_lazy_map_refuses_them)
{
    ctn t;
    uint32_t map[1] = { 0 };
    shape_lazy(&t, map);
    msink img = ctn_image(&t);
    unsigned char *dst = (unsigned char *)calloc(1, t.size);
    migrate_image_target tg = ctn_target(dst, t.size);
    cr_assert_eq(restore(img.buf, img.len, &tg, 0, 4096, NULL), UAREA_EIMGFORMAT);
    cr_assert(all_zero(dst, t.size), "a refused image leaves nothing");
    /* verify-only without a target only checks the image itself */
    cr_assert_eq(restore(img.buf, img.len, NULL, MIGRATE_IMAGE_VERIFY_ONLY, 4096, NULL), 0);
    free(dst);
    free(img.buf);
    ctn_free(&t);
}

static void ed_lazy_misalign(migrate_image_section *s) { s->addr += 64; }
static void ed_lazy_ragged(migrate_image_section *s) { s->len -= 64; }
static void ed_lazy_empty(migrate_image_section *s) { s->len = 0; }
static void ed_lazy_zero(migrate_image_section *s) { s->flags |= MIGRATE_SECF_ZERO; }
static void ed_lazy_back(migrate_image_section *s) { s->addr -= 4 * CT_PAGE; }
static void ed_lazy_far(migrate_image_section *s) { s->addr += 2 * CT_PAGE; }

Test(image_lazy, bad_runs_are_refused_and_leave_no_bit)
{
    ctn t;
    uint32_t map[1] = { 0 }, got[1] = { 0 };
    shape_lazy(&t, map);
    msink img = ctn_image(&t);
    unsigned char *copy = (unsigned char *)malloc(img.len);
    unsigned char *dst = (unsigned char *)calloc(1, t.size);
    void (*const edits[])(migrate_image_section *) = { ed_lazy_misalign, ed_lazy_ragged,
                                                       ed_lazy_empty, ed_lazy_zero,
                                                       ed_lazy_back, ed_lazy_far };
    /* the second run's edit: misaligned, not whole pages, empty, flagged,
     * overlapping the first run, outside the lazy range */
    const int want[] = { UAREA_EIMGFORMAT, UAREA_EIMGFORMAT, UAREA_EIMGFORMAT, UAREA_EIMGFORMAT,
                         UAREA_EIMGFORMAT, UAREA_EIMGBOUNDS };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        migrate_image_target tg = lazy_target(dst, t.size, got);
        memcpy(copy, img.buf, img.len);
        edit_section(copy, img.len, 7, edits[k]);
        if (edits[k] == ed_lazy_ragged || edits[k] == ed_lazy_empty) {
            /* keep the header's container size in step: a bad run, not a bad sum */
            migrate_image_header h;
            cr_assert_eq(migrate_image_header_decode(copy, &h), 0);
            h.container_size -= edits[k] == ed_lazy_empty ? 3 * CT_PAGE : 64;
            migrate_image_header_encode(&h, copy);
            reseal(copy, img.len);
        }
        int rc = restore(copy, img.len, &tg, 0, 1000, NULL);
        cr_assert_eq(rc, want[k], "edit %zu: %s", k, uarea_strerror(rc));
        cr_assert_eq(got[0], 0u, "edit %zu: the first run's bits were left", k);
        cr_assert(all_zero(dst, t.size), "edit %zu: bytes were left", k);
    }
    /* a good image that fails at its end (trailer CRC) clears its bits too */
    migrate_image_target tg = lazy_target(dst, t.size, got);
    memcpy(copy, img.buf, img.len);
    copy[img.len - 1] ^= 1;
    cr_assert_eq(restore(copy, img.len, &tg, 0, 1000, NULL), UAREA_EIMGCRC);
    cr_assert_eq(got[0], 0u);
    /* so does a discard of a verified one */
    migrate_image_reader r;
    cr_assert_eq(migrate_image_reader_init(&r, &tg, 0), 0);
    cr_assert_eq(migrate_image_feed(&r, img.buf, img.len), 1);
    cr_assert_eq(got[0], map[0]);
    migrate_image_discard(&r);
    cr_assert_eq(got[0], 0u);
    free(dst);
    free(copy);
    free(img.buf);
    ctn_free(&t);
}

Test(image_lazy, writer_checks_the_lazy_range)
{
    ctn t;
    uint32_t map[1] = { 0 };
    migrate_image_writer w;
    shape_lazy(&t, map);
    t.c.lazy_addr += 8;                              /* not page-aligned */
    cr_assert_eq(migrate_image_writer_init(&w, &t.c), UAREA_EINVAL);
    t.c.lazy_addr = CT_BASE + LZ_HEAP;
    t.c.lazy_pages = 64;                             /* past the region */
    cr_assert_eq(migrate_image_writer_init(&w, &t.c), UAREA_EINVAL);
    t.c.lazy_pages = LZ_PAGES;
    map[0] = 0;                                      /* nothing lazy: no section */
    cr_assert_eq(migrate_image_writer_init(&w, &t.c), 0);
    migrate_image_header h;
    unsigned char buf[64];
    cr_assert_eq(migrate_image_produce(&w, buf, sizeof buf), 64);
    cr_assert_eq(migrate_image_header_decode(buf, &h), 0);
    cr_assert_eq(h.sections, 6u);
    ctn_free(&t);
}
