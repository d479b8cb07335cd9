/*
 * migrate/image.h - the container image: a streaming writer and a streaming,
 * verifying reader.
 *
 * A container is what makes a process: its user sections (text, rodata,
 * data, bss), its UArea, its thread stacks and its heap pages. Everything sits
 * at the same addresses on every node, so an image records each piece with its
 * destination address and the reader puts it back there. The byte format is
 * documented in docs/image-format.md (fixed little-endian fields, never struct
 * dumps), so other tools can read it; tools/uarea-inspect prints one.
 *
 * Describe the container, not the UArea struct: `migrate_container` lists
 * regions (address + length) and heap pages (address + flags). The caller
 * fills it from linker symbols, the UArea's stack references and page table.
 *
 *   migrate_region user[] = { { (uintptr_t)&__user_start, user_len } };
 *   migrate_region stacks[] = { { stk0, 8192 }, { stk1, 8192 } };
 *   migrate_page pages[] = { { heap0, MIGRATE_PAGE_PRESENT },
 *                            { heap1, MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO } };
 *   migrate_container c = { 0 };
 *   c.layout_fp = uarea_layout_fp; c.binary_fp = my_binary_fp;
 *   c.user = user; c.n_user = 1;
 *   c.uarea.addr = (uintptr_t)ua; c.uarea.len = sizeof *ua;
 *   c.stacks = stacks; c.n_stacks = 2; c.pages = pages; c.n_pages = 2;
 *
 * Writing. Nothing stages the whole image: the writer copies straight from
 * the container into whatever buffer the caller hands it, a few bytes or
 * many at a time, and is resumable (a "produce up to N bytes" step):
 *
 *   migrate_image_writer w;
 *   int rc = migrate_image_writer_init(&w, &c);  // validates c, computes size
 *   uint64_t size = migrate_image_writer_size(&w);
 *   long n;
 *   while ((n = migrate_image_produce(&w, chunk, 4096)) > 0) send(chunk, n);
 *   // n == 0: done; n < 0: an error code
 *
 * or, with a sink callback (0 or a negative error), in one call:
 *
 *   rc = migrate_image_write(&c, sink, sink_ctx, buf, sizeof buf, &stats);
 *
 * Heap pages flagged MIGRATE_PAGE_ZERO go as a flag with no payload; pages
 * without MIGRATE_PAGE_PRESENT are not sent. migrate_pages_mark_zero() sets
 * the zero flag on pages whose bytes are all zero.
 *
 * Reading. A push parser: feed it the bytes as they arrive, in pieces of any
 * size (a portal chunk, one byte, a file block); it needs no buffer of its
 * own beyond 64 bytes inside the reader struct.
 *
 *   migrate_image_target t = { 0 };        // this node's expectations
 *   t.layout_fp = ...; t.binary_fp = ...;
 *   t.lo = region_lo; t.hi = region_hi;    // where sections may land
 *   t.user_lo = data_lo; t.user_hi = data_hi; // and user sections, if they
 *                                          // live outside the region
 *   t.max_size = 512 * 1024;               // 0: hi - lo (+ UArea slot)
 *   migrate_image_reader r;
 *   migrate_image_reader_init(&r, &t, 0);
 *   rc = migrate_image_feed(&r, chunk, n);  // 0: more, 1: complete, < 0: error
 *   ...
 *   rc = migrate_image_finish(&r);          // 0 only if complete and verified
 *
 * or, with a source callback (bytes read, 0 at the end, or a negative error),
 * through a caller buffer of any size:
 *
 *   rc = migrate_image_read(&t, 0, source, src_ctx, buf, sizeof buf, &stats);
 *
 * What the reader checks (every failure is its own code; see error.h):
 * magic (UAREA_EIMGMAGIC), format version (UAREA_EIMGVERSION, also for an
 * unknown mandatory section type), word size, page size and UArea layout
 * fingerprint (UAREA_EIMGLAYOUT), binary fingerprint (UAREA_EIMGBINARY), the
 * container's size against t.max_size (UAREA_EIMGTOOBIG), every section's
 * destination against the bounds, before any byte of it is written
 * (UAREA_EIMGBOUNDS), the header CRC, every section header's and payload's
 * CRC32C and the stream CRC (UAREA_EIMGCRC), order, counts and lengths
 * (UAREA_EIMGFORMAT), and an early end (UAREA_EIMGTRUNC). On any failure the
 * reader zeroes every destination byte it wrote (the hull of its writes in the
 * container region, and in the UArea slot), clears its restore statistics and
 * keeps the error: later calls return it again. A caller that abandons a
 * restore (the protocol's discard) calls migrate_image_discard() for the same
 * wipe. The restored container may run only after migrate_image_finish()
 * (or feed) reported completion.
 *
 * Statistics (migrate_image_stats, in w.stats and r.stats, or returned by
 * the whole-stream calls): image bytes, container bytes copied, sections,
 * zero pages sent as a flag, optional sections skipped. After a failure,
 * r.section, r.phase (MIGRATE_IMAGE_AT_*) and r.offset say where the reader
 * stopped; r.have_hdr and r.hdr give the header if it was read.
 *
 * Verify-only mode: MIGRATE_IMAGE_VERIFY_ONLY checks without writing; with a
 * NULL target it checks only what the image says of itself (magic, version,
 * format, CRCs), as tools/uarea-inspect does.
 *
 * Tests and tools may restore an image somewhere other than its addresses:
 * t.mem (and t.uarea_mem) give the memory that stands for [lo, hi) (and the
 * UArea slot); likewise c.mem / c.mem_addr / c.mem_len for the writer. Left
 * NULL, addresses are used as pointers, which is what a container needs.
 *
 * Configuration: MIGRATE_PAGE_SIZE (default 4096) is the page size used when
 * a descriptor leaves page_size 0.
 *
 * Implementation: MIGRATE_IMPLEMENTATION (or UAREA_IMPLEMENTATION).
 * Freestanding; nothing allocates.
 */
#include "../uarea/config.h"
#include "../uarea/error.h"
#include "crc32c.h"
#include "le.h"

#ifndef MIGRATE_IMAGE_H
#define MIGRATE_IMAGE_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration -------------------------------------------------------- */
#ifndef MIGRATE_PAGE_SIZE
#  define MIGRATE_PAGE_SIZE 4096u      /* default page size (MPPA-256) */
#endif
UAREA_STATIC_ASSERT((MIGRATE_PAGE_SIZE & (MIGRATE_PAGE_SIZE - 1u)) == 0 && MIGRATE_PAGE_SIZE >= 64u,
                    "MIGRATE_PAGE_SIZE must be a power of two, at least 64");

/* ---- Format constants (docs/image-format.md) ------------------------------ */
#define MIGRATE_IMAGE_MAGIC 0x4D494155u      /* "UAIM" little-endian */
#define MIGRATE_IMAGE_END_MAGIC 0x444E4555u  /* "UEND" little-endian */
#define MIGRATE_IMAGE_VERSION 1u             /* version this code writes */
#define MIGRATE_IMAGE_VERSION_MIN 1u         /* oldest version it reads */
#define MIGRATE_IMAGE_HEADER_SIZE 64u
#define MIGRATE_IMAGE_SECTION_SIZE 32u       /* section header */
#define MIGRATE_IMAGE_CRC_SIZE 4u            /* payload CRC after each payload */
#define MIGRATE_IMAGE_TRAILER_SIZE 16u

/* Section types. Known types appear in this order; an image has at most one
 * UArea section. Values are stable. */
#define MIGRATE_SEC_USER 1u    /* a user section (text, rodata, data, bss) */
#define MIGRATE_SEC_UAREA 2u   /* the UArea */
#define MIGRATE_SEC_STACK 3u   /* a thread stack */
#define MIGRATE_SEC_HEAP 4u    /* one heap page (length = page size) */
#define MIGRATE_SEC_LAZY 5u    /* a run of heap pages whose bytes follow after the
                                  image (post-copy): length a multiple of the
                                  page size, no payload */

/* Section flags. */
#define MIGRATE_SECF_ZERO 0x0001u      /* all bytes zero; no payload follows */
#define MIGRATE_SECF_OPTIONAL 0x8000u  /* a reader that does not know the type skips it */
#define MIGRATE_SECF_KNOWN (MIGRATE_SECF_ZERO | MIGRATE_SECF_OPTIONAL)

/* Heap page flags (migrate_page.flags). */
#define MIGRATE_PAGE_PRESENT 0x1u      /* the page belongs to the container */
#define MIGRATE_PAGE_ZERO 0x2u         /* its bytes are all zero: sent as a flag */

/* Where a writer or reader is in the stream (their `phase` field). */
#define MIGRATE_IMAGE_AT_HEADER 0      /* the image header */
#define MIGRATE_IMAGE_AT_SECTION 1     /* a section header */
#define MIGRATE_IMAGE_AT_PAYLOAD 2     /* a section's payload */
#define MIGRATE_IMAGE_AT_CRC 3         /* a section's payload CRC */
#define MIGRATE_IMAGE_AT_TRAILER 4     /* the trailer */
#define MIGRATE_IMAGE_AT_END 5         /* done */

UAREA_STATIC_ASSERT(MIGRATE_IMAGE_SECTION_SIZE <= MIGRATE_IMAGE_HEADER_SIZE &&
                    MIGRATE_IMAGE_TRAILER_SIZE <= MIGRATE_IMAGE_HEADER_SIZE &&
                    MIGRATE_IMAGE_CRC_SIZE <= MIGRATE_IMAGE_HEADER_SIZE,
                    "every fixed piece of the format fits the 64-byte piece buffer");

/* Reader flags. */
#define MIGRATE_IMAGE_VERIFY_ONLY 0x1u /* check everything, write nothing */

/* ---- The container, as the image sees it ---------------------------------- */
typedef struct migrate_region {
    uintptr_t addr;           /* destination (and source) address */
    size_t len;               /* bytes */
} migrate_region;

typedef struct migrate_page {
    uintptr_t addr;           /* page-aligned address */
    uint32_t flags;           /* MIGRATE_PAGE_* */
} migrate_page;

typedef struct migrate_container {
    uint64_t layout_fp;       /* UArea layout fingerprint */
    uint64_t binary_fp;       /* fingerprint of the binary (same build on every node) */
    uint32_t page_size;       /* 0: MIGRATE_PAGE_SIZE */
    const migrate_region *user;   /* user sections */
    uint32_t n_user;
    migrate_region uarea;     /* the UArea; len 0: none */
    const migrate_region *stacks; /* thread stacks */
    uint32_t n_stacks;
    const migrate_page *pages;    /* heap pages */
    uint32_t n_pages;
    /* Optional, post-copy: heap pages whose bytes the image leaves out (they
     * follow after it): bit i of lazy (32 pages a word) stands for the page
     * at lazy_addr + i * page_size, i < lazy_pages. Each run of set bits
     * goes as one lazy section, after the heap pages; a page must not be
     * both in pages[] and here. NULL: none. */
    const uint32_t *lazy;
    uintptr_t lazy_addr;
    uint32_t lazy_pages;
    /* Optional: read address A from mem + (A - mem_addr); every region must
     * then lie in [mem_addr, mem_addr + mem_len). NULL: A is the pointer. */
    const void *mem;
    uintptr_t mem_addr;
    size_t mem_len;
} migrate_container;

/* This node's side of a restore: what it expects and where sections may go. */
typedef struct migrate_image_target {
    uint64_t layout_fp;       /* must equal the image's */
    uint64_t binary_fp;       /* must equal the image's */
    uint32_t page_size;       /* 0: MIGRATE_PAGE_SIZE */
    uintptr_t lo, hi;         /* container region [lo, hi) */
    uintptr_t uarea_addr;     /* UArea slot [uarea_addr, +uarea_len); len 0: */
    size_t uarea_len;         /*   the UArea must lie in [lo, hi) like the rest */
    uintptr_t user_lo, user_hi; /* user window [user_lo, user_hi): where user
                                 sections may land besides [lo, hi) (they sit
                                 in the binary's data, outside the container
                                 region, on the POSIX port); empty: none.
                                 Written at their addresses (no mem). */
    uint64_t max_size;        /* largest container (sum of section lengths);
                                 0: (hi - lo) + uarea_len + user window */
    void *mem;                /* memory standing for lo (NULL: lo itself) */
    void *uarea_mem;          /* memory standing for uarea_addr (NULL: itself) */
    /* Optional, post-copy: where lazy sections may stand and the bitmap
     * that receives them (bit i: the page at lazy_addr + i * page_size,
     * i < lazy_pages, follows after the image; the reader writes nothing
     * there). The reader only sets bits; it clears the ones it set when
     * it fails or is discarded. NULL: an image with a lazy section is
     * refused (UAREA_EIMGFORMAT: a checkpoint holds every page). */
    uint32_t *lazy;
    uintptr_t lazy_addr;
    uint32_t lazy_pages;
} migrate_image_target;

typedef struct migrate_image_stats {
    uint64_t stream_bytes;    /* image bytes produced (writer) or consumed (reader) */
    uint64_t memory_bytes;    /* payload bytes read from / written to container memory */
    uint32_t sections;        /* sections written / restored */
    uint32_t zero_pages;      /* pages sent or restored as a zero flag */
    uint32_t skipped;         /* optional sections skipped (reader) */
    uint32_t lazy_pages;      /* pages left out in lazy sections (post-copy) */
} migrate_image_stats;

/* Decoded header and section header (docs/image-format.md). */
typedef struct migrate_image_header {
    uint16_t version;
    uint8_t word_size;        /* bytes per pointer on the writer */
    uint8_t cpu;              /* UAREA_CPU_* of the writer (informative) */
    uint32_t page_size;
    uint64_t layout_fp;
    uint64_t binary_fp;
    uint32_t sections;        /* number of sections */
    uint64_t total_len;       /* whole image, header to trailer, bytes */
    uint64_t container_size;  /* sum of the sections' lengths */
} migrate_image_header;

typedef struct migrate_image_section {
    uint16_t type;            /* MIGRATE_SEC_* */
    uint16_t flags;           /* MIGRATE_SECF_* */
    uint32_t index;           /* position in the image, from 0 */
    uint64_t addr;            /* destination address */
    uint64_t len;             /* bytes in memory (payload: len, or 0 if ZERO) */
} migrate_image_section;

typedef int (*migrate_sink_fn)(void *ctx, const void *buf, size_t len);  /* 0 or < 0 */
typedef long (*migrate_source_fn)(void *ctx, void *buf, size_t cap);     /* n, 0 end, < 0 */

/* ---- Encoding helpers (for tools and tests) -------------------------------- */
/* Encode into MIGRATE_IMAGE_HEADER_SIZE bytes (fills magic, sizes and CRC). */
UAREA_API void migrate_image_header_encode(const migrate_image_header *h, void *out);
/* Decode and check one header: UAREA_EIMGMAGIC, UAREA_EIMGVERSION,
 * UAREA_EIMGCRC or UAREA_EIMGFORMAT (sizes, reserved fields, page size). */
UAREA_API int migrate_image_header_decode(const void *in, migrate_image_header *h);
/* Section header: MIGRATE_IMAGE_SECTION_SIZE bytes, with its CRC. */
UAREA_API void migrate_image_section_encode(const migrate_image_section *s, void *out);
/* UAREA_EIMGCRC or UAREA_EIMGFORMAT (reserved field not zero). */
UAREA_API int migrate_image_section_decode(const void *in, migrate_image_section *s);
/* Bytes of payload that follow a section header (0 for a zero section). */
UAREA_API uint64_t migrate_image_section_stored(const migrate_image_section *s);
/* Trailer: MIGRATE_IMAGE_TRAILER_SIZE bytes; crc is the stream CRC. */
UAREA_API void migrate_image_trailer_encode(uint32_t sections, uint32_t crc, void *out);
/* UAREA_EIMGFORMAT when the magic or reserved field is wrong. */
UAREA_API int migrate_image_trailer_decode(const void *in, uint32_t *sections, uint32_t *crc);
/* Name of a section type ("user", "uarea", "stack", "heap", "unknown"). */
UAREA_API const char *migrate_image_section_name(unsigned type);

/* Set MIGRATE_PAGE_ZERO on every present page whose bytes are all zero (and
 * clear it on the others). mem/mem_addr as in migrate_container (mem NULL:
 * addresses are pointers). Returns the number of zero pages. */
UAREA_API uint32_t migrate_pages_mark_zero(migrate_page *pages, uint32_t n, uint32_t page_size,
                                           const void *mem, uintptr_t mem_addr);

/* Page bitmaps (a bit per page, 32 a word, as migrate_container.lazy): the
 * first run of set bits at or after bit i among the first n, [*first,
 * *end); false when there is none. Whole zero and whole one words are
 * stepped over at once. */
UAREA_API bool migrate_bits_run(const uint32_t *map, uint32_t n, uint32_t i, uint32_t *first,
                                uint32_t *end);

/* ---- Writer ---------------------------------------------------------------- */
/* Which part of the description the writer's cursor is in; the image holds
 * them in this order. */
typedef enum migrate_image__part {
    MIGRATE_IMAGE__PART_USER = 0,   /* the user sections */
    MIGRATE_IMAGE__PART_UAREA,      /* the UArea */
    MIGRATE_IMAGE__PART_STACKS,     /* the thread stacks */
    MIGRATE_IMAGE__PART_HEAP,       /* the present heap pages */
    MIGRATE_IMAGE__PART_LAZY,       /* the runs of lazy heap pages */
    MIGRATE_IMAGE__PART_END         /* every section is out */
} migrate_image__part;

typedef struct migrate_image_writer {
    migrate_container c;      /* copy of the description (arrays stay the caller's) */
    uint64_t size;            /* whole image, bytes */
    uint64_t container_size;  /* sum of section lengths */
    uint32_t count;           /* sections */
    int phase;                /* MIGRATE_IMAGE_AT_* */
    migrate_image__part kind; /* cursor into the description: the part, */
    uint32_t idx;             /* ... and the index in it */
    uint32_t sec;             /* index of the current section */
    migrate_image_section cur;
    const unsigned char *src; /* payload still to copy */
    uint64_t left;            /* its bytes */
    uint32_t pcrc, scrc;      /* payload and stream CRC states */
    uint32_t piece_len, piece_off;
    unsigned char piece[MIGRATE_IMAGE_HEADER_SIZE];
    migrate_image_stats stats;
} migrate_image_writer;

/* Check the description (UAREA_EINVAL: NULL arrays with counts, a region
 * that wraps around or lies outside mem, a misaligned page, unknown page
 * flags, page_size not a power of two) and compute the image size. */
UAREA_API int migrate_image_writer_init(migrate_image_writer *w, const migrate_container *c);
/* Image size in bytes, known from init on (the protocol's offer). */
UAREA_API uint64_t migrate_image_writer_size(const migrate_image_writer *w);
/* Produce up to cap bytes into buf: the count, 0 when the image is complete,
 * or UAREA_EINVAL (NULL, cap 0). Resumable with any cap (1 byte works). The
 * description and the container must not change until the image is done. */
UAREA_API long migrate_image_produce(migrate_image_writer *w, void *buf, size_t cap);
/* The whole image into sink, through buf (cap bytes, at least 1). The sink
 * returns 0 or a negative error, which is returned. st may be NULL. */
UAREA_API int migrate_image_write(const migrate_container *c, migrate_sink_fn sink, void *ctx,
                                  void *buf, size_t cap, migrate_image_stats *st);

/* ---- Reader ---------------------------------------------------------------- */
typedef struct migrate_image__hull {
    uintptr_t lo, hi;         /* bytes written, [lo, hi); empty when lo >= hi */
} migrate_image__hull;

/* Where a section's payload is written; the reader keeps a hull per place. */
typedef enum migrate_image__dest {
    MIGRATE_IMAGE__TO_REGION = 0,   /* the container region */
    MIGRATE_IMAGE__TO_UAREA,        /* the UArea slot */
    MIGRATE_IMAGE__TO_USER,         /* the user window */
    MIGRATE_IMAGE__TO_COUNT
} migrate_image__dest;

typedef struct migrate_image_reader {
    migrate_image_target t;   /* copy of the target */
    bool has_target;
    bool write;               /* restore (not verify-only) */
    bool done;                /* trailer verified */
    int phase;                /* MIGRATE_IMAGE_AT_*: where it is (or failed) */
    int error;                /* sticky error, 0 when fine */
    migrate_image_header hdr; /* valid once the header was read */
    bool have_hdr;
    migrate_image_section cur;/* the section being read */
    uint32_t section;         /* its index (== hdr.sections at the trailer) */
    uint64_t offset;          /* stream bytes consumed */
    uint64_t left;            /* payload bytes left in this section */
    uint64_t mem_total;       /* sum of section lengths so far */
    uint64_t heap_next;       /* lowest address the next heap page may have */
    uint64_t lazy_next;       /* ... and the next lazy run */
    unsigned last_type;       /* last known section type */
    bool uarea_seen;
    unsigned char *dst;       /* where this payload goes (NULL: nowhere) */
    migrate_image__dest dst_region; /* which place dst is in */
    uint32_t pcrc, scrc;
    uint32_t need, have;      /* piece being gathered */
    unsigned char piece[MIGRATE_IMAGE_HEADER_SIZE];
    migrate_image__hull hull[MIGRATE_IMAGE__TO_COUNT];
    uint32_t lazy_lo, lazy_hi;  /* bits of t.lazy set by this reader, [lo, hi) */
    migrate_image_stats stats;
} migrate_image_reader;

/* t may be NULL only with MIGRATE_IMAGE_VERIFY_ONLY. UAREA_EINVAL for a bad
 * target (lo > hi, wrapping UArea slot, page size) or unknown flags. */
UAREA_API int migrate_image_reader_init(migrate_image_reader *r, const migrate_image_target *t,
                                        unsigned flags);
/* Consume len bytes: 0 when more are needed, 1 when the image is complete
 * and verified, or a negative error (the destination is then wiped). Bytes
 * after the trailer are an error (UAREA_EIMGFORMAT). */
UAREA_API int migrate_image_feed(migrate_image_reader *r, const void *buf, size_t len);
/* End of input: 0 if complete and verified, UAREA_EIMGTRUNC if not (wiped),
 * or the error met earlier. */
UAREA_API int migrate_image_finish(migrate_image_reader *r);
/* Abandon the restore: wipe what was written (also after success). The
 * reader then reports UAREA_ECANCELED. */
UAREA_API void migrate_image_discard(migrate_image_reader *r);
/* Drive an initialised reader from a source through buf (cap >= 1), then
 * finish. The source is asked for at most cap bytes at a time. */
UAREA_API int migrate_image_pull(migrate_image_reader *r, migrate_source_fn src, void *ctx,
                                 void *buf, size_t cap);
/* init + pull; st (may be NULL) gets the statistics. */
UAREA_API int migrate_image_read(const migrate_image_target *t, unsigned flags,
                                 migrate_source_fn src, void *ctx, void *buf, size_t cap,
                                 migrate_image_stats *st);

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMAGE_H */

/* ------------------------------------------------------------------------ */
#if defined(MIGRATE_IMPLEMENTATION) && !defined(MIGRATE__IMAGE_IMPLEMENTED)
#define MIGRATE__IMAGE_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

#define MIGRATE__IMG_HDR MIGRATE_IMAGE_AT_HEADER
#define MIGRATE__IMG_SEC MIGRATE_IMAGE_AT_SECTION
#define MIGRATE__IMG_PAY MIGRATE_IMAGE_AT_PAYLOAD
#define MIGRATE__IMG_PCRC MIGRATE_IMAGE_AT_CRC
#define MIGRATE__IMG_TRL MIGRATE_IMAGE_AT_TRAILER
#define MIGRATE__IMG_DONE MIGRATE_IMAGE_AT_END

static bool migrate__img_pow2(uint64_t v) { return v != 0 && (v & (v - 1u)) == 0; }
static size_t migrate__img_min(uint64_t a, size_t b) { return a < (uint64_t)b ? (size_t)a : b; }

/* ---- Encoding ---- */
UAREA_API void migrate_image_header_encode(const migrate_image_header *h, void *out)
{
    unsigned char *p = (unsigned char *)out;
    UAREA_MEMSET(p, 0, MIGRATE_IMAGE_HEADER_SIZE);
    migrate__le_put32(p + 0, MIGRATE_IMAGE_MAGIC);
    migrate__le_put16(p + 4, h->version);
    migrate__le_put16(p + 6, MIGRATE_IMAGE_HEADER_SIZE);
    p[8] = h->word_size;
    p[9] = h->cpu;
    migrate__le_put32(p + 12, h->page_size);
    migrate__le_put64(p + 16, h->layout_fp);
    migrate__le_put64(p + 24, h->binary_fp);
    migrate__le_put32(p + 32, h->sections);
    migrate__le_put64(p + 40, h->total_len);
    migrate__le_put64(p + 48, h->container_size);
    migrate__le_put32(p + 60, migrate_crc32c(0, p, 60));
}

/* Magic and version are readable from the first 6 bytes alone. */
static int migrate__img_header_early(const unsigned char *p, uint32_t have)
{
    uint32_t v;
    if (have >= 4 && migrate__le_get32(p) != MIGRATE_IMAGE_MAGIC) return UAREA_EIMGMAGIC;
    if (have >= 6) {
        v = migrate__le_get16(p + 4);
        if (v < MIGRATE_IMAGE_VERSION_MIN || v > MIGRATE_IMAGE_VERSION) return UAREA_EIMGVERSION;
    }
    return 0;
}

UAREA_API int migrate_image_header_decode(const void *in, migrate_image_header *h)
{
    const unsigned char *p = (const unsigned char *)in;
    uint64_t min_len;
    int rc;
    if (p == NULL || h == NULL) return UAREA_EINVAL;
    rc = migrate__img_header_early(p, 6);
    if (rc < 0) return rc;
    if (migrate__le_get16(p + 6) != MIGRATE_IMAGE_HEADER_SIZE) return UAREA_EIMGFORMAT;
    if (migrate__le_get32(p + 60) != migrate_crc32c(0, p, 60)) return UAREA_EIMGCRC;
    if (migrate__le_get16(p + 10) != 0 || migrate__le_get32(p + 36) != 0 ||
        migrate__le_get32(p + 56) != 0)
        return UAREA_EIMGFORMAT;
    h->version = (uint16_t)migrate__le_get16(p + 4);
    h->word_size = p[8];
    h->cpu = p[9];
    h->page_size = migrate__le_get32(p + 12);
    h->layout_fp = migrate__le_get64(p + 16);
    h->binary_fp = migrate__le_get64(p + 24);
    h->sections = migrate__le_get32(p + 32);
    h->total_len = migrate__le_get64(p + 40);
    h->container_size = migrate__le_get64(p + 48);
    if (h->word_size == 0 || !migrate__img_pow2(h->page_size) || h->page_size < 64u)
        return UAREA_EIMGFORMAT;
    /* The smallest image with this many sections (no overflow: sections < 2^32). */
    min_len = (uint64_t)MIGRATE_IMAGE_HEADER_SIZE + MIGRATE_IMAGE_TRAILER_SIZE +
              (uint64_t)h->sections * (MIGRATE_IMAGE_SECTION_SIZE + MIGRATE_IMAGE_CRC_SIZE);
    if (h->total_len < min_len) return UAREA_EIMGFORMAT;
    return 0;
}

UAREA_API void migrate_image_section_encode(const migrate_image_section *s, void *out)
{
    unsigned char *p = (unsigned char *)out;
    UAREA_MEMSET(p, 0, MIGRATE_IMAGE_SECTION_SIZE);
    migrate__le_put16(p + 0, s->type);
    migrate__le_put16(p + 2, s->flags);
    migrate__le_put32(p + 4, s->index);
    migrate__le_put64(p + 8, s->addr);
    migrate__le_put64(p + 16, s->len);
    migrate__le_put32(p + 28, migrate_crc32c(0, p, 28));
}

UAREA_API int migrate_image_section_decode(const void *in, migrate_image_section *s)
{
    const unsigned char *p = (const unsigned char *)in;
    if (p == NULL || s == NULL) return UAREA_EINVAL;
    if (migrate__le_get32(p + 28) != migrate_crc32c(0, p, 28)) return UAREA_EIMGCRC;
    if (migrate__le_get32(p + 24) != 0) return UAREA_EIMGFORMAT;
    s->type = (uint16_t)migrate__le_get16(p + 0);
    s->flags = (uint16_t)migrate__le_get16(p + 2);
    s->index = migrate__le_get32(p + 4);
    s->addr = migrate__le_get64(p + 8);
    s->len = migrate__le_get64(p + 16);
    return 0;
}

UAREA_API uint64_t migrate_image_section_stored(const migrate_image_section *s)
{
    return (s->flags & MIGRATE_SECF_ZERO) || s->type == MIGRATE_SEC_LAZY ? 0 : s->len;
}

UAREA_API void migrate_image_trailer_encode(uint32_t sections, uint32_t crc, void *out)
{
    unsigned char *p = (unsigned char *)out;
    migrate__le_put32(p + 0, MIGRATE_IMAGE_END_MAGIC);
    migrate__le_put32(p + 4, sections);
    migrate__le_put32(p + 8, 0);
    migrate__le_put32(p + 12, crc);
}

UAREA_API int migrate_image_trailer_decode(const void *in, uint32_t *sections, uint32_t *crc)
{
    const unsigned char *p = (const unsigned char *)in;
    if (p == NULL) return UAREA_EINVAL;
    if (sections) *sections = migrate__le_get32(p + 4);
    if (crc) *crc = migrate__le_get32(p + 12);
    if (migrate__le_get32(p) != MIGRATE_IMAGE_END_MAGIC || migrate__le_get32(p + 8) != 0)
        return UAREA_EIMGFORMAT;
    return 0;
}

UAREA_API const char *migrate_image_section_name(unsigned type)
{
    switch (type) {
    case MIGRATE_SEC_USER: return "user";
    case MIGRATE_SEC_UAREA: return "uarea";
    case MIGRATE_SEC_STACK: return "stack";
    case MIGRATE_SEC_HEAP: return "heap";
    case MIGRATE_SEC_LAZY: return "lazy";
    default: return "unknown";
    }
}

/* Whether n bytes are all zero: a word at a time, a cache line per test,
 * when p is word-aligned (heap pages are); a byte at a time otherwise. A
 * heap of 1 GiB is scanned at each freeze, so this loop counts. */
static bool migrate__img_all_zero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (((uintptr_t)p & (sizeof(uintptr_t) - 1u)) == 0) {
        const uintptr_t *w = (const uintptr_t *)(const void *)p;
        enum { LINE = 64 / sizeof(uintptr_t) };
        for (; i + 64u <= n; i += 64u, w += LINE) {
            uintptr_t acc = 0;
            unsigned k;
            for (k = 0; k < LINE; k++) acc |= w[k];
            if (acc != 0) return false;
        }
    }
    for (; i < n; i++)
        if (p[i] != 0) return false;
    return true;
}

/* Zero n bytes, writing only the 4 KiB pieces that are not zero already: a
 * zero section or a wipe over an empty destination leaves its untouched
 * pages unpopulated (on a host, a 1 GiB heap of zero pages, or the wipe
 * after a rejected image of it, costs no memory). */
static void migrate__img_zero(unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t k = 4096u - ((uintptr_t)p & 4095u);
        if (k > n) k = n;
        if (!migrate__img_all_zero(p, k)) UAREA_MEMSET(p, 0, k);
        p += k;
        n -= k;
    }
}

UAREA_API uint32_t migrate_pages_mark_zero(migrate_page *pages, uint32_t n, uint32_t page_size,
                                           const void *mem, uintptr_t mem_addr)
{
    uint32_t i, zero = 0;
    if (pages == NULL) return 0;
    if (page_size == 0) page_size = MIGRATE_PAGE_SIZE;
    for (i = 0; i < n; i++) {
        const unsigned char *p;
        if (!(pages[i].flags & MIGRATE_PAGE_PRESENT)) continue;
        p = mem ? (const unsigned char *)mem + (pages[i].addr - mem_addr)
                : (const unsigned char *)pages[i].addr;
        if (migrate__img_all_zero(p, page_size)) {
            pages[i].flags |= MIGRATE_PAGE_ZERO;
            zero++;
        } else {
            pages[i].flags &= ~(uint32_t)MIGRATE_PAGE_ZERO;
        }
    }
    return zero;
}

/* ---- Writer ---- */
static bool migrate__img_region_ok(const migrate_container *c, uintptr_t addr, size_t len)
{
    if (addr + len < addr) return false;
    if (c->mem == NULL) return true;
    return addr >= c->mem_addr && addr - c->mem_addr <= c->mem_len &&
           len <= c->mem_len - (addr - c->mem_addr);
}

static const unsigned char *migrate__img_src(const migrate_container *c, uintptr_t addr)
{
    if (c->mem == NULL) return (const unsigned char *)addr;
    return (const unsigned char *)c->mem + (addr - c->mem_addr);
}

static bool migrate__img_bit(const uint32_t *map, uint32_t i)
{
    return ((map[i >> 5] >> (i & 31u)) & 1u) != 0;
}

UAREA_API bool migrate_bits_run(const uint32_t *map, uint32_t n, uint32_t i, uint32_t *first,
                                uint32_t *end)
{
    if (map == NULL) return false;
    while (i < n) {
        if ((i & 31u) == 0 && map[i >> 5] == 0) { i += 32; continue; }
        if (migrate__img_bit(map, i)) break;
        i++;
    }
    if (i >= n) return false;
    *first = i;
    while (i < n && migrate__img_bit(map, i)) {
        if ((i & 31u) == 0 && map[i >> 5] == 0xffffffffu) { i += 32; continue; }
        i++;
    }
    *end = i < n ? i : n;
    return true;
}

/* The first run of lazy pages at or after page i: [*first, *end). */
static bool migrate__img_lazy_run(const migrate_container *c, uint32_t i, uint32_t *first,
                                  uint32_t *end)
{
    return migrate_bits_run(c->lazy, c->lazy_pages, i, first, end);
}

/* Next section of the description after the cursor; false at the end. */
static bool migrate__img_next(migrate_image_writer *w, migrate_image_section *s,
                              const unsigned char **src)
{
    const migrate_container *c = &w->c;
    for (;;) {
        const migrate_region *rg = NULL;
        switch (w->kind) {
        case MIGRATE_IMAGE__PART_USER:
            if (w->idx < c->n_user) { rg = &c->user[w->idx++]; s->type = MIGRATE_SEC_USER; break; }
            w->kind = MIGRATE_IMAGE__PART_UAREA; w->idx = 0; continue;
        case MIGRATE_IMAGE__PART_UAREA:
            if (w->idx == 0 && c->uarea.len > 0) { rg = &c->uarea; w->idx++; s->type = MIGRATE_SEC_UAREA; break; }
            w->kind = MIGRATE_IMAGE__PART_STACKS; w->idx = 0; continue;
        case MIGRATE_IMAGE__PART_STACKS:
            if (w->idx < c->n_stacks) { rg = &c->stacks[w->idx++]; s->type = MIGRATE_SEC_STACK; break; }
            w->kind = MIGRATE_IMAGE__PART_HEAP; w->idx = 0; continue;
        case MIGRATE_IMAGE__PART_HEAP:
            while (w->idx < c->n_pages && !(c->pages[w->idx].flags & MIGRATE_PAGE_PRESENT)) w->idx++;
            if (w->idx < c->n_pages) {
                const migrate_page *pg = &c->pages[w->idx++];
                s->type = MIGRATE_SEC_HEAP;
                s->flags = (pg->flags & MIGRATE_PAGE_ZERO) ? MIGRATE_SECF_ZERO : 0;
                s->addr = pg->addr;
                s->len = c->page_size;
                *src = migrate__img_src(c, pg->addr);
                return true;
            }
            w->kind = MIGRATE_IMAGE__PART_LAZY; w->idx = 0; continue;
        case MIGRATE_IMAGE__PART_LAZY: {
            uint32_t first, end;
            if (!migrate__img_lazy_run(c, w->idx, &first, &end)) {
                w->kind = MIGRATE_IMAGE__PART_END;
                continue;
            }
            w->idx = end;
            s->type = MIGRATE_SEC_LAZY;
            s->flags = 0;
            s->addr = c->lazy_addr + (uintptr_t)first * c->page_size;
            s->len = (uint64_t)(end - first) * c->page_size;
            *src = NULL;
            return true;
        }
        case MIGRATE_IMAGE__PART_END:
        default:
            return false;
        }
        s->flags = 0;
        s->addr = rg->addr;
        s->len = rg->len;
        *src = migrate__img_src(c, rg->addr);
        return true;
    }
}

static void migrate__img_piece(migrate_image_writer *w, int phase, uint32_t len)
{
    w->phase = phase;
    w->piece_len = len;
    w->piece_off = 0;
}

/* After a section, or the header: the next section header, or the trailer. */
static void migrate__img_w_begin(migrate_image_writer *w)
{
    if (w->sec < w->count && migrate__img_next(w, &w->cur, &w->src)) {
        w->cur.index = w->sec;
        migrate_image_section_encode(&w->cur, w->piece);
        w->scrc = migrate_crc32c_update(w->scrc, w->piece, MIGRATE_IMAGE_SECTION_SIZE);
        w->left = migrate_image_section_stored(&w->cur);
        w->pcrc = migrate_crc32c_init();
        migrate__img_piece(w, MIGRATE__IMG_SEC, MIGRATE_IMAGE_SECTION_SIZE);
        return;
    }
    migrate_image_trailer_encode(w->count, 0, w->piece);
    w->scrc = migrate_crc32c_update(w->scrc, w->piece, 12);
    migrate__le_put32(w->piece + 12, migrate_crc32c_final(w->scrc));
    migrate__img_piece(w, MIGRATE__IMG_TRL, MIGRATE_IMAGE_TRAILER_SIZE);
}

/* Fold the finished CRC of n payload bytes into a running stream CRC state:
 * the payload is read once, for its own CRC. */
static uint32_t migrate__img_fold(uint32_t state, uint32_t payload_crc, uint64_t n)
{
    if (n == 0) return state;
    return migrate_crc32c_combine(migrate_crc32c_final(state), payload_crc, n) ^ 0xFFFFFFFFu;
}

static void migrate__img_w_pcrc(migrate_image_writer *w)
{
    uint32_t pc = migrate_crc32c_final(w->pcrc);
    w->scrc = migrate__img_fold(w->scrc, pc, migrate_image_section_stored(&w->cur));
    migrate__le_put32(w->piece, pc);
    w->scrc = migrate_crc32c_update(w->scrc, w->piece, MIGRATE_IMAGE_CRC_SIZE);
    migrate__img_piece(w, MIGRATE__IMG_PCRC, MIGRATE_IMAGE_CRC_SIZE);
}

/* What an image being described adds up to: its bytes, the bytes its
 * sections cover in the container, its sections. */
typedef struct migrate__img_sizes {
    uint64_t size, csize, count;
} migrate__img_sizes;

/* One more section, covering len bytes of the container, stored bytes of
 * payload in the image. */
static void migrate__img_add(migrate__img_sizes *z, uint64_t len, uint64_t stored)
{
    z->size += MIGRATE_IMAGE_SECTION_SIZE + MIGRATE_IMAGE_CRC_SIZE + stored;
    z->csize += len;
    z->count++;
}

/* n regions, each a section stored whole; false if one is out of bounds. */
static bool migrate__img_add_regions(migrate__img_sizes *z, const migrate_container *c,
                                     const migrate_region *rg, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (!migrate__img_region_ok(c, rg[i].addr, rg[i].len)) return false;
        migrate__img_add(z, rg[i].len, rg[i].len);
    }
    return true;
}

UAREA_API int migrate_image_writer_init(migrate_image_writer *w, const migrate_container *c)
{
    migrate_image_header h;
    migrate__img_sizes z = {MIGRATE_IMAGE_HEADER_SIZE + MIGRATE_IMAGE_TRAILER_SIZE, 0, 0};
    uint32_t i, ps;
    if (w == NULL || c == NULL) return UAREA_EINVAL;
    if ((c->n_user && !c->user) || (c->n_stacks && !c->stacks) || (c->n_pages && !c->pages))
        return UAREA_EINVAL;
    ps = c->page_size ? c->page_size : MIGRATE_PAGE_SIZE;
    if (!migrate__img_pow2(ps) || ps < 64u) return UAREA_EINVAL;
    if (!migrate__img_add_regions(&z, c, c->user, c->n_user)) return UAREA_EINVAL;
    if (c->uarea.len > 0 && !migrate__img_add_regions(&z, c, &c->uarea, 1)) return UAREA_EINVAL;
    if (!migrate__img_add_regions(&z, c, c->stacks, c->n_stacks)) return UAREA_EINVAL;
    for (i = 0; i < c->n_pages; i++) {
        const migrate_page *pg = &c->pages[i];
        if (pg->flags & ~(uint32_t)(MIGRATE_PAGE_PRESENT | MIGRATE_PAGE_ZERO)) return UAREA_EINVAL;
        if (!(pg->flags & MIGRATE_PAGE_PRESENT)) continue;
        if ((pg->addr & (ps - 1u)) != 0 || !migrate__img_region_ok(c, pg->addr, ps))
            return UAREA_EINVAL;
        migrate__img_add(&z, ps, (pg->flags & MIGRATE_PAGE_ZERO) ? 0u : ps);
    }
    if (c->lazy != NULL) {
        uint32_t first, end = 0;
        if ((c->lazy_addr & (ps - 1u)) != 0 ||
            !migrate__img_region_ok(c, c->lazy_addr, (size_t)c->lazy_pages * ps))
            return UAREA_EINVAL;
        while (migrate__img_lazy_run(c, end, &first, &end))
            migrate__img_add(&z, (uint64_t)(end - first) * ps, 0u);
    }
    if (z.count > UINT32_MAX) return UAREA_EINVAL;
    UAREA_MEMSET(w, 0, sizeof *w);
    w->c = *c;
    w->c.page_size = ps;
    w->size = z.size;
    w->container_size = z.csize;
    w->count = (uint32_t)z.count;
    h.version = MIGRATE_IMAGE_VERSION;
    h.word_size = (uint8_t)UAREA_WORD_SIZE;
    h.cpu = (uint8_t)UAREA_CPU;
    h.page_size = ps;
    h.layout_fp = c->layout_fp;
    h.binary_fp = c->binary_fp;
    h.sections = w->count;
    h.total_len = z.size;
    h.container_size = z.csize;
    migrate_image_header_encode(&h, w->piece);
    w->scrc = migrate_crc32c_update(migrate_crc32c_init(), w->piece, MIGRATE_IMAGE_HEADER_SIZE);
    migrate__img_piece(w, MIGRATE__IMG_HDR, MIGRATE_IMAGE_HEADER_SIZE);
    return 0;
}

UAREA_API uint64_t migrate_image_writer_size(const migrate_image_writer *w)
{
    return w ? w->size : 0;
}

UAREA_API long migrate_image_produce(migrate_image_writer *w, void *buf, size_t cap)
{
    unsigned char *out = (unsigned char *)buf;
    size_t done = 0, n;
    if (w == NULL || buf == NULL || cap == 0) return UAREA_EINVAL;
    if (cap > (size_t)LONG_MAX) cap = (size_t)LONG_MAX;
    while (done < cap && w->phase != MIGRATE__IMG_DONE) {
        if (w->phase == MIGRATE__IMG_PAY) {
            n = migrate__img_min(w->left, cap - done);
            w->pcrc = migrate_crc32c_copy(w->pcrc, out + done, w->src, n);   /* one pass */
            w->src += n;
            w->left -= n;
            w->stats.memory_bytes += n;
            done += n;
            if (w->left == 0) migrate__img_w_pcrc(w);
            continue;
        }
        n = migrate__img_min(w->piece_len - w->piece_off, cap - done);
        UAREA_MEMCPY(out + done, w->piece + w->piece_off, n);
        w->piece_off += (uint32_t)n;
        done += n;
        if (w->piece_off < w->piece_len) break;
        switch (w->phase) {
        case MIGRATE__IMG_HDR:
            migrate__img_w_begin(w);
            break;
        case MIGRATE__IMG_SEC:
            if (w->left > 0) w->phase = MIGRATE__IMG_PAY;
            else migrate__img_w_pcrc(w);
            break;
        case MIGRATE__IMG_PCRC:
            w->stats.sections++;
            if (w->cur.flags & MIGRATE_SECF_ZERO) w->stats.zero_pages++;
            if (w->cur.type == MIGRATE_SEC_LAZY)
                w->stats.lazy_pages += (uint32_t)(w->cur.len / w->c.page_size);
            w->sec++;
            migrate__img_w_begin(w);
            break;
        default:
            w->phase = MIGRATE__IMG_DONE;
            break;
        }
    }
    w->stats.stream_bytes += done;
    return (long)done;
}

UAREA_API int migrate_image_write(const migrate_container *c, migrate_sink_fn sink, void *ctx,
                                  void *buf, size_t cap, migrate_image_stats *st)
{
    migrate_image_writer w;
    long n;
    int rc;
    if (st) UAREA_MEMSET(st, 0, sizeof *st);
    if (sink == NULL || buf == NULL || cap == 0) return UAREA_EINVAL;
    rc = migrate_image_writer_init(&w, c);
    if (rc < 0) return rc;
    while ((n = migrate_image_produce(&w, buf, cap)) > 0) {
        rc = sink(ctx, buf, (size_t)n);
        if (rc < 0) return rc;
    }
    if (n < 0) return (int)n;
    if (st) *st = w.stats;
    return 0;
}

/* ---- Reader ---- */
static void migrate__img_wipe(migrate_image_reader *r)
{
    int k;
    for (k = 0; k < MIGRATE_IMAGE__TO_COUNT; k++) {
        migrate_image__hull *h = &r->hull[k];
        if (h->lo < h->hi) {
            unsigned char *p;
            if (k == MIGRATE_IMAGE__TO_USER)
                p = (unsigned char *)h->lo;
            else if (k == MIGRATE_IMAGE__TO_REGION)
                p = r->t.mem ? (unsigned char *)r->t.mem + (h->lo - r->t.lo) : (unsigned char *)h->lo;
            else
                p = r->t.uarea_mem ? (unsigned char *)r->t.uarea_mem + (h->lo - r->t.uarea_addr)
                                   : (unsigned char *)h->lo;
            migrate__img_zero(p, h->hi - h->lo);
        }
        h->lo = h->hi = 0;
    }
    if (r->t.lazy != NULL) {
        uint32_t i;
        for (i = r->lazy_lo; i < r->lazy_hi; i++)
            r->t.lazy[i >> 5] &= ~(UINT32_C(1) << (i & 31u));
    }
    r->lazy_lo = r->lazy_hi = 0;
}

static int migrate__img_fail(migrate_image_reader *r, int err)
{
    if (r->error == 0) {
        r->error = err;
        migrate__img_wipe(r);
        r->stats.memory_bytes = 0;
        r->stats.sections = 0;
        r->stats.zero_pages = 0;
        r->stats.skipped = 0;
        r->stats.lazy_pages = 0;
        r->stats.stream_bytes = r->offset;
        r->done = false;
    }
    return r->error;
}

UAREA_API int migrate_image_reader_init(migrate_image_reader *r, const migrate_image_target *t,
                                        unsigned flags)
{
    uint32_t ps;
    if (r == NULL || (flags & ~MIGRATE_IMAGE_VERIFY_ONLY) != 0) return UAREA_EINVAL;
    if (t == NULL && !(flags & MIGRATE_IMAGE_VERIFY_ONLY)) return UAREA_EINVAL;
    if (t != NULL) {
        ps = t->page_size ? t->page_size : MIGRATE_PAGE_SIZE;
        if (t->lo > t->hi || t->uarea_addr + t->uarea_len < t->uarea_addr ||
            t->user_lo > t->user_hi ||
            !migrate__img_pow2(ps) || ps < 64u)
            return UAREA_EINVAL;
    }
    UAREA_MEMSET(r, 0, sizeof *r);
    if (t != NULL) {
        r->t = *t;
        r->t.page_size = t->page_size ? t->page_size : MIGRATE_PAGE_SIZE;
        if (r->t.max_size == 0)
            r->t.max_size = (uint64_t)(t->hi - t->lo) + (uint64_t)t->uarea_len +
                            (uint64_t)(t->user_hi - t->user_lo);
        r->has_target = true;
    }
    r->write = !(flags & MIGRATE_IMAGE_VERIFY_ONLY);
    r->phase = MIGRATE__IMG_HDR;
    r->need = MIGRATE_IMAGE_HEADER_SIZE;
    r->scrc = migrate_crc32c_init();
    return 0;
}

static int migrate__img_on_header(migrate_image_reader *r)
{
    migrate_image_header *h = &r->hdr;
    int rc = migrate_image_header_decode(r->piece, h);
    if (rc < 0) return rc;
    r->have_hdr = true;
    if (r->has_target) {
        if (h->word_size != UAREA_WORD_SIZE || h->page_size != r->t.page_size ||
            h->layout_fp != r->t.layout_fp)
            return UAREA_EIMGLAYOUT;
        if (h->binary_fp != r->t.binary_fp) return UAREA_EIMGBINARY;
        if (h->container_size > r->t.max_size) return UAREA_EIMGTOOBIG;
    }
    return 0;
}

/* Start the next section, or the trailer. */
static void migrate__img_r_next(migrate_image_reader *r)
{
    if (r->section < r->hdr.sections) {
        r->phase = MIGRATE__IMG_SEC;
        r->need = MIGRATE_IMAGE_SECTION_SIZE;
    } else {
        r->phase = MIGRATE__IMG_TRL;
        r->need = MIGRATE_IMAGE_TRAILER_SIZE;
    }
    r->have = 0;
}

/* [a, a+len) inside [lo, lo+size)? In 64 bits, without overflow. */
static bool migrate__img_inside(uint64_t a, uint64_t len, uint64_t lo, uint64_t size)
{
    return a >= lo && a - lo <= size && len <= size - (a - lo);
}

static void migrate__img_grow(migrate_image__hull *h, uintptr_t a, uintptr_t end)
{
    if (h->lo >= h->hi) { h->lo = a; h->hi = end; return; }
    if (a < h->lo) h->lo = a;
    if (end > h->hi) h->hi = end;
}

/* A lazy section (post-copy): a run of whole pages, in address order, no
 * flags; with a target, inside its lazy range, its bits set (a target
 * without one refuses it: the pages would never come). */
static int migrate__img_on_lazy(migrate_image_reader *r, const migrate_image_section *s)
{
    const migrate_image_target *t = &r->t;
    uint64_t ps = r->hdr.page_size, span, i0, n, i;
    if (s->flags != 0 || s->len == 0 || (s->len & (ps - 1u)) != 0 ||
        (s->addr & (ps - 1u)) != 0 || s->addr < r->lazy_next || s->addr + s->len < s->addr)
        return UAREA_EIMGFORMAT;
    r->lazy_next = s->addr + s->len;
    if (r->lazy_next == 0) r->lazy_next = UINT64_MAX;
    if (!r->has_target) return 0;
    if (t->lazy == NULL) return UAREA_EIMGFORMAT;
    span = (uint64_t)t->lazy_pages * ps;
    if (!migrate__img_inside(s->addr, s->len, t->lazy_addr, span)) return UAREA_EIMGBOUNDS;
    if (!r->write) return 0;
    i0 = (s->addr - t->lazy_addr) / ps;
    n = s->len / ps;
    for (i = i0; i < i0 + n;) {
        if ((i & 31u) == 0 && i + 32u <= i0 + n) { t->lazy[i >> 5] = 0xffffffffu; i += 32; continue; }
        t->lazy[i >> 5] |= UINT32_C(1) << (i & 31u);
        i++;
    }
    if (r->lazy_lo >= r->lazy_hi) r->lazy_lo = (uint32_t)i0;
    r->lazy_hi = (uint32_t)(i0 + n);      /* runs come in address order */
    return 0;
}

static int migrate__img_on_section(migrate_image_reader *r)
{
    migrate_image_section *s = &r->cur;
    uint64_t stored, rest;
    bool known;
    int rc = migrate_image_section_decode(r->piece, s);
    if (rc < 0) return rc;
    if (s->index != r->section) return UAREA_EIMGFORMAT;
    known = s->type >= MIGRATE_SEC_USER && s->type <= MIGRATE_SEC_LAZY;
    if (!known && !(s->flags & MIGRATE_SECF_OPTIONAL)) return UAREA_EIMGVERSION;
    stored = migrate_image_section_stored(s);
    /* What is left of the stream must hold this section and the trailer. */
    rest = r->hdr.total_len - r->offset;  /* offset never passes total_len */
    if (rest < MIGRATE_IMAGE_CRC_SIZE + MIGRATE_IMAGE_TRAILER_SIZE ||
        rest - (MIGRATE_IMAGE_CRC_SIZE + MIGRATE_IMAGE_TRAILER_SIZE) < stored)
        return UAREA_EIMGFORMAT;
    if (s->len > r->hdr.container_size - r->mem_total) return UAREA_EIMGFORMAT;
    r->dst = NULL;
    if (known) {
        if ((s->flags & ~MIGRATE_SECF_KNOWN) != 0) return UAREA_EIMGFORMAT;
        if (s->type < r->last_type) return UAREA_EIMGFORMAT;
        if (s->type == MIGRATE_SEC_UAREA) {
            if (r->uarea_seen) return UAREA_EIMGFORMAT;
            r->uarea_seen = true;
        }
        if (s->type == MIGRATE_SEC_HEAP) {
            if (s->len != r->hdr.page_size || (s->addr & (r->hdr.page_size - 1u)) != 0 ||
                s->addr < r->heap_next)
                return UAREA_EIMGFORMAT;
            r->heap_next = s->addr + s->len;
            if (r->heap_next == 0) r->heap_next = UINT64_MAX; /* page at the top */
        }
        if (s->type == MIGRATE_SEC_LAZY) {
            rc = migrate__img_on_lazy(r, s);
            if (rc < 0) return rc;
        }
        r->last_type = s->type;
        if (r->has_target) {
            const migrate_image_target *t = &r->t;
            migrate_image__dest region;
            uintptr_t a;
            if (s->type == MIGRATE_SEC_LAZY) {
                /* nothing to write: migrate__img_on_lazy noted it */
            } else if (s->type == MIGRATE_SEC_UAREA && t->uarea_len > 0) {
                if (!migrate__img_inside(s->addr, s->len, t->uarea_addr, t->uarea_len))
                    return UAREA_EIMGBOUNDS;
                region = MIGRATE_IMAGE__TO_UAREA;
            } else if (s->type == MIGRATE_SEC_USER && t->user_lo < t->user_hi &&
                       migrate__img_inside(s->addr, s->len, t->user_lo,
                                           (uint64_t)(t->user_hi - t->user_lo))) {
                region = MIGRATE_IMAGE__TO_USER;
            } else {
                if (!migrate__img_inside(s->addr, s->len, t->lo, (uint64_t)(t->hi - t->lo)))
                    return UAREA_EIMGBOUNDS;
                region = MIGRATE_IMAGE__TO_REGION;
            }
            if (r->write && s->len > 0 && s->type != MIGRATE_SEC_LAZY) {
                a = (uintptr_t)s->addr;
                if (region == MIGRATE_IMAGE__TO_USER)
                    r->dst = (unsigned char *)a;
                else if (region == MIGRATE_IMAGE__TO_REGION)
                    r->dst = t->mem ? (unsigned char *)t->mem + (a - t->lo) : (unsigned char *)a;
                else
                    r->dst = t->uarea_mem ? (unsigned char *)t->uarea_mem + (a - t->uarea_addr)
                                          : (unsigned char *)a;
                r->dst_region = region;
                /* Record the whole section before writing any of it. */
                migrate__img_grow(&r->hull[region], a, a + (uintptr_t)s->len);
                if (s->flags & MIGRATE_SECF_ZERO) migrate__img_zero(r->dst, (size_t)s->len);
            }
        }
    }
    r->mem_total += s->len;
    r->left = stored;
    r->pcrc = migrate_crc32c_init();
    if (stored > 0) {
        r->phase = MIGRATE__IMG_PAY;
    } else {
        r->phase = MIGRATE__IMG_PCRC;
        r->need = MIGRATE_IMAGE_CRC_SIZE;
        r->have = 0;
    }
    return 0;
}

static int migrate__img_on_pcrc(migrate_image_reader *r)
{
    const migrate_image_section *s = &r->cur;
    bool known = s->type >= MIGRATE_SEC_USER && s->type <= MIGRATE_SEC_LAZY;
    if (migrate__le_get32(r->piece) != migrate_crc32c_final(r->pcrc)) return UAREA_EIMGCRC;
    if (known) {
        r->stats.sections++;
        if (s->flags & MIGRATE_SECF_ZERO) r->stats.zero_pages++;
        if (s->type == MIGRATE_SEC_LAZY) r->stats.lazy_pages += (uint32_t)(s->len / r->hdr.page_size);
    } else {
        r->stats.skipped++;
    }
    r->section++;
    migrate__img_r_next(r);
    return 0;
}

static int migrate__img_on_trailer(migrate_image_reader *r)
{
    uint32_t count, crc;
    int rc;
    if (migrate__le_get32(r->piece + 12) != migrate_crc32c_final(r->scrc)) return UAREA_EIMGCRC;
    rc = migrate_image_trailer_decode(r->piece, &count, &crc);
    if (rc < 0) return rc;
    if (count != r->hdr.sections || r->offset != r->hdr.total_len ||
        r->mem_total != r->hdr.container_size)
        return UAREA_EIMGFORMAT;
    r->phase = MIGRATE__IMG_DONE;
    r->done = true;
    return 0;
}

UAREA_API int migrate_image_feed(migrate_image_reader *r, const void *buf, size_t len)
{
    const unsigned char *in = (const unsigned char *)buf;
    int rc = 0;
    if (r == NULL || (buf == NULL && len > 0)) return UAREA_EINVAL;
    if (r->error) return r->error;
    while (len > 0) {
        size_t n;
        if (r->phase == MIGRATE__IMG_DONE) return migrate__img_fail(r, UAREA_EIMGFORMAT);
        if (r->phase == MIGRATE__IMG_PAY) {
            n = migrate__img_min(r->left, len);
            if (r->dst != NULL) {
                r->pcrc = migrate_crc32c_copy(r->pcrc, r->dst, in, n);   /* one pass */
                r->dst += n;
                r->stats.memory_bytes += n;
            } else {
                r->pcrc = migrate_crc32c_update(r->pcrc, in, n);
            }
            r->left -= n;
            if (r->left == 0) {
                r->scrc = migrate__img_fold(r->scrc, migrate_crc32c_final(r->pcrc),
                                            migrate_image_section_stored(&r->cur));
                r->phase = MIGRATE__IMG_PCRC;
                r->need = MIGRATE_IMAGE_CRC_SIZE;
                r->have = 0;
            }
        } else {
            n = migrate__img_min(r->need - r->have, len);
            UAREA_MEMCPY(r->piece + r->have, in, n);
            r->have += (uint32_t)n;
            if (r->phase == MIGRATE__IMG_HDR) {
                rc = migrate__img_header_early(r->piece, r->have);
                if (rc < 0) return migrate__img_fail(r, rc);
            }
        }
        in += n;
        len -= n;
        r->offset += n;
        if (r->phase == MIGRATE__IMG_PAY || r->have < r->need) continue;
        /* A piece is complete. The stream CRC covers all but the trailer's
         * last four bytes. */
        r->scrc = migrate_crc32c_update(r->scrc, r->piece,
                                        r->phase == MIGRATE__IMG_TRL ? 12u : r->need);
        switch (r->phase) {
        case MIGRATE__IMG_HDR:
            rc = migrate__img_on_header(r);
            if (rc == 0) migrate__img_r_next(r);
            break;
        case MIGRATE__IMG_SEC: rc = migrate__img_on_section(r); break;
        case MIGRATE__IMG_PCRC: rc = migrate__img_on_pcrc(r); break;
        default: rc = migrate__img_on_trailer(r); break;
        }
        if (rc < 0) return migrate__img_fail(r, rc);
    }
    r->stats.stream_bytes = r->offset;
    return r->done ? 1 : 0;
}

UAREA_API int migrate_image_finish(migrate_image_reader *r)
{
    if (r == NULL) return UAREA_EINVAL;
    if (r->error) return r->error;
    if (!r->done) return migrate__img_fail(r, UAREA_EIMGTRUNC);
    return 0;
}

UAREA_API void migrate_image_discard(migrate_image_reader *r)
{
    if (r == NULL) return;
    if (r->error == 0) {
        (void)migrate__img_fail(r, UAREA_ECANCELED);
    }
}

UAREA_API int migrate_image_pull(migrate_image_reader *r, migrate_source_fn src, void *ctx,
                                 void *buf, size_t cap)
{
    long n;
    int rc;
    if (r == NULL || src == NULL || buf == NULL || cap == 0) return UAREA_EINVAL;
    if (cap > (size_t)LONG_MAX) cap = (size_t)LONG_MAX;
    while (!r->done && r->error == 0) {
        n = src(ctx, buf, cap);
        if (n < 0) return migrate__img_fail(r, (int)n);
        if ((size_t)n > cap) return migrate__img_fail(r, UAREA_EIO);
        if (n == 0) break;
        rc = migrate_image_feed(r, buf, (size_t)n);
        if (rc < 0) return rc;
    }
    return migrate_image_finish(r);
}

UAREA_API int migrate_image_read(const migrate_image_target *t, unsigned flags,
                                 migrate_source_fn src, void *ctx, void *buf, size_t cap,
                                 migrate_image_stats *st)
{
    migrate_image_reader r;
    int rc;
    if (st) UAREA_MEMSET(st, 0, sizeof *st);
    rc = migrate_image_reader_init(&r, t, flags);
    if (rc < 0) return rc;
    rc = migrate_image_pull(&r, src, ctx, buf, cap);
    if (st) *st = r.stats;
    return rc;
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_IMPLEMENTATION */
