/*
 * uarea/uarea.h - the User Area: all kernel-managed state of a process in one
 * fixed, versioned struct, and the container region it heads.
 *
 * A container is one region of memory at the same address on every node:
 *
 *   base                                  UArea (struct uarea)
 *   base + UAREA_PAGES_OFFSET             heap page table: UAREA_HEAP_PAGES flag bytes,
 *                                         one per heap page; the UArea and its table
 *                                         (UAREA_UAREA_LEN bytes) padded to a page
 *   base + UAREA_STACKS_OFFSET            stack pool: UAREA_THREADS_MAX stacks of
 *                                         UAREA_STACK_SIZE bytes, stack i for slot i,
 *                                         UAREA_STACK_STRIDE bytes apart
 *   base + UAREA_HEAP_OFFSET              heap: UAREA_HEAP_PAGES pages of UAREA_PAGE_SIZE
 *   base + UAREA_CONTAINER_SIZE           end
 *
 * The port reserves the region (on the POSIX port, at one fixed address in
 * every node process) and hands it over once:
 *
 *   static _Alignas(4096) unsigned char region[UAREA_CONTAINER_SIZE]; // or the port's
 *   struct uarea *ua;
 *   int rc = uarea_container_init(region, sizeof region, &ua);  // ua == (void *)region
 *
 * The UArea holds a header (magic, layout version, word size, CPU, size, the
 * layout fingerprint, the region's base and size), the thread table (id,
 * state, entry and argument, saved CPU context, stack index, joiner, join
 * result), the ring of exit values not yet joined, the ready queue, the
 * counters (active threads, next id, running threads), the freeze flag, the
 * per-core syscall board, where the heap page table lies (`pt`) and the heap
 * allocator's state. The page table itself (present/dirty/zero flags, one
 * byte per heap page: uarea_pages()) follows the struct in the region, so
 * the struct keeps one size whatever the heap's (a 1 GiB heap has a 256 KiB
 * table) and the table still migrates with it: the image's UArea section is
 * the UAREA_UAREA_LEN bytes of both. Everything inside it refers to other
 * things by index or by offset from the region's base; the only raw pointers
 * are inside saved CPU contexts (they point into the region or into code,
 * both at the same addresses on every node). Field `san` of a thread slot is
 * a node-local sanitizer handle, zero in builds without TSan and cleared by
 * uarea_attach().
 *
 * The layout fingerprint (uarea_layout_fingerprint()) is a 64-bit FNV-1a hash
 * of the layout version, word size, CPU, the configuration macros below, the
 * size of struct uarea and the offsets of its parts. A UArea made by a build
 * with another configuration fails uarea_check() with UAREA_ELAYOUT.
 *
 * For migration (include/migrate): uarea_stack_next()/uarea_stack_used()
 * list the stacks in use and the live part of each; uarea_page_next() lists
 * present heap pages with their flags; uarea_page_mark_dirty(),
 * uarea_pages_clear_dirty() and uarea_page_set_flags() maintain the flags;
 * uarea_attach() validates a UArea restored on this node and resets its
 * node-local fields. Under AddressSanitizer the stacks of parked threads
 * hold poisoned red zones: copy a frozen container with a copy that ASan
 * does not check (a byte loop in a no_sanitize("address") function);
 * uarea_attach() unpoisons the stack pool of the restored copy.
 *
 * The heap allocator (uarea_heap_alloc/uarea_heap_free) is first fit over a
 * free list kept inside the heap (16-byte block headers, 16-byte aligned
 * payloads) plus a break (`top`); pages below the break are present, the
 * break falls back when the last block is freed, and allocating marks the
 * touched pages dirty. It takes the UArea lock, so every core may use it.
 *
 * Configuration (define before the first include; defaults fit an MPPA-256
 * compute cluster; see docs/configuration.md):
 *   UAREA_THREADS_MAX  18      threads per container (at most 255)
 *   UAREA_CORES_MAX    16      cores with a syscall board (at most 64)
 *   UAREA_STACK_SIZE   8192    bytes per thread stack
 *   UAREA_STACK_STAGGER 64     bytes between two stacks of the pool (a multiple
 *                              of 64): stack bases and tops then fall in
 *                              different cache sets instead of all in one
 *   UAREA_PAGE_SIZE    4096    heap page size (a power of two)
 *   UAREA_HEAP_PAGES   128     heap pages per container
 *
 * Implementation: UAREA_CORE_IMPLEMENTATION (or UAREA_IMPLEMENTATION).
 */
#include "config.h"
#include "error.h"
#include "port.h"
#include "arch/arch.h"

#ifndef UAREA_UAREA_H
#define UAREA_UAREA_H

UAREA_EXTERN_C_BEGIN

/* ---- Configuration ------------------------------------------------------- */
#ifndef UAREA_THREADS_MAX
#  define UAREA_THREADS_MAX 18
#endif
#ifndef UAREA_CORES_MAX
#  define UAREA_CORES_MAX 16
#endif
#ifndef UAREA_STACK_SIZE
#  define UAREA_STACK_SIZE 8192u
#endif
#ifndef UAREA_PAGE_SIZE
#  define UAREA_PAGE_SIZE 4096u
#endif
#ifndef UAREA_HEAP_PAGES
#  define UAREA_HEAP_PAGES 128u
#endif
#ifndef UAREA_STACK_STAGGER
#  define UAREA_STACK_STAGGER 64u
#endif
#define UAREA_STACK_STRIDE ((size_t)UAREA_STACK_SIZE + UAREA_STACK_STAGGER)

UAREA_STATIC_ASSERT(UAREA_THREADS_MAX >= 1 && UAREA_THREADS_MAX <= 255,
                    "thread slots are indexed by a byte");
UAREA_STATIC_ASSERT(UAREA_CORES_MAX >= 1 && UAREA_CORES_MAX <= 64, "cores: 1..64");
UAREA_STATIC_ASSERT(UAREA_STACK_SIZE >= 1024 && UAREA_STACK_SIZE % 16 == 0,
                    "stacks: at least 1 KiB, a multiple of 16");
UAREA_STATIC_ASSERT(UAREA_STACK_STAGGER % 64 == 0, "the stagger is whole cache lines");
UAREA_STATIC_ASSERT(UAREA_PAGE_SIZE >= 64 && (UAREA_PAGE_SIZE & (UAREA_PAGE_SIZE - 1)) == 0,
                    "the page size is a power of two");
UAREA_STATIC_ASSERT((unsigned long long)UAREA_HEAP_PAGES * UAREA_PAGE_SIZE < 0xffffffffull,
                    "heap offsets are 32-bit");

#define UAREA_MAGIC 0x41455255u          /* "UREA" read as a little-endian word */
#define UAREA_LAYOUT_VERSION 3u          /* 2: the page table left the struct;
                                            3: threads wait for calls (UAREA_THREAD_CALL) */
#define UAREA_SYSCALL_ARGS 5
#define UAREA_CANARY_BYTES 64u           /* guard words at the low end of each stack */
#define UAREA_CANARY_WORD ((uintptr_t)0x5a17c0deca11ab1eull)

/* Thread states (struct uarea_thread.state). */
#define UAREA_THREAD_FREE 0u
#define UAREA_THREAD_READY 1u
#define UAREA_THREAD_RUNNING 2u
#define UAREA_THREAD_BLOCKED 3u           /* waiting in uarea_thread_join */
#define UAREA_THREAD_CALL 4u              /* waiting for the answer to a call
                                             (uarea_call_wait): on board call - 1 */

/* Heap page flags (the page table, uarea_pages()). */
#define UAREA_PAGE_PRESENT 1u             /* part of the container; migrates */
#define UAREA_PAGE_DIRTY 2u               /* written since the flags were cleared */
#define UAREA_PAGE_ZERO 4u                /* known to hold only zero bytes */

/* Freeze word (struct uarea.freeze). */
#define UAREA_RUN 0u
#define UAREA_FREEZE 1u                   /* cores park at their next scheduling point */
#define UAREA_RELEASED 2u                 /* this node gave the container up */

typedef int32_t uarea_tid_t;

/* A saved CPU context: the callee-saved registers of uarea/arch/. */
typedef struct uarea_ctx {
    uintptr_t w[UAREA_ARCH_CTX_WORDS];
} uarea_ctx;

struct uarea_thread {
    uarea_ctx ctx;          /* saved context while not running */
    uintptr_t entry;        /* start function (a code address) */
    uintptr_t arg;          /* its argument */
    uintptr_t retval;       /* exit value delivered to this thread by a join */
    uintptr_t san;          /* node-local sanitizer fiber, 0 when none */
    int32_t tid;            /* thread id, -1 when the slot is free */
    int32_t waits_for;      /* tid this thread joins, -1 */
    int32_t joiner;         /* tid of the thread joining this one, -1 */
    int16_t join_rc;        /* result of the join this thread waits in */
    uint8_t state;          /* UAREA_THREAD_* */
    uint8_t stack;          /* stack pool index (the slot's own) */
    uint8_t core;           /* core it runs or last ran on */
    uint8_t flags;
    uint8_t call;           /* UAREA_THREAD_CALL: 1 + the board's index */
    uint8_t pad_;
};

struct uarea_exit {          /* an exited thread nobody has joined yet */
    int32_t tid;
    int32_t rc;             /* 0, or UAREA_EOVERFLOW */
    uintptr_t retval;
};

struct uarea_board {         /* one per core: a system call in flight */
    uint32_t number;
    uint32_t pending;       /* 1 while the call waits for the kernel */
    uintptr_t args[UAREA_SYSCALL_ARGS];
    intptr_t ret;
};

struct uarea_heap_state {
    uint32_t top;           /* break: bytes of the heap in use or free-listed */
    uint32_t free_head;     /* offset of the first free block, UINT32_MAX: none */
    uint32_t used;          /* payload bytes allocated */
    uint32_t blocks;        /* blocks allocated */
};

/* Where the heap page table lies: right after the struct, in the region. */
struct uarea_page_table {
    uint32_t off;           /* UAREA_PAGES_OFFSET, from the region's base */
    uint32_t count;         /* UAREA_HEAP_PAGES: flag bytes */
};

struct uarea_header {
    uint32_t magic;         /* UAREA_MAGIC */
    uint16_t version;       /* UAREA_LAYOUT_VERSION */
    uint16_t word_size;     /* sizeof(void *) */
    uint32_t size;          /* sizeof(struct uarea) */
    uint32_t cpu;           /* UAREA_CPU */
    uint64_t fingerprint;   /* uarea_layout_fingerprint() */
    uint64_t base;          /* address of the container region (== the UArea) */
    uint64_t container_size;
    uint32_t stacks_off;    /* UAREA_STACKS_OFFSET */
    uint32_t heap_off;      /* UAREA_HEAP_OFFSET */
};

/* Order: the header, the parts the scheduler rarely touches, then the hot
 * scheduler state and the thread table at the end. The stack pool's hot
 * lines are colored to fall in the cache sets of the cold part (see
 * UAREA_STACKS_OFFSET). */
struct uarea {
    struct uarea_header hdr;
    uint8_t reserved_[16];  /* the header keeps a cache line to itself */
    struct uarea_board board[UAREA_CORES_MAX];
    struct uarea_heap_state heap;
    struct uarea_page_table pt;         /* the heap page table (after the struct) */
    uint32_t lock;          /* spin lock of the scheduler and allocator */
    uint32_t freeze;        /* UAREA_RUN, UAREA_FREEZE, UAREA_RELEASED */
    uint32_t active;        /* threads alive (ready, running, blocked) */
    uint32_t running;       /* threads running on a core now */
    int32_t next_tid;       /* id of the next thread created */
    uint32_t created;       /* threads created so far (statistics) */
    uint8_t ready[UAREA_THREADS_MAX];   /* ready queue: ring of slot indices */
    uint8_t ready_head;
    uint8_t ready_count;
    uint8_t exit_head;      /* ring of exit values */
    uint8_t exit_count;
    struct uarea_exit exits[UAREA_THREADS_MAX];
    struct uarea_thread threads[UAREA_THREADS_MAX];
};

/* Pinned: the image format and the ports rely on these. */
UAREA_STATIC_ASSERT(offsetof(struct uarea, hdr) == 0, "the header opens the UArea");
UAREA_STATIC_ASSERT(sizeof(struct uarea_header) == 48, "UArea header is 48 bytes");
UAREA_STATIC_ASSERT(offsetof(struct uarea_header, fingerprint) == 16, "fingerprint at 16");
UAREA_STATIC_ASSERT(offsetof(struct uarea, board) == 64, "the header has its own cache line");
UAREA_STATIC_ASSERT(offsetof(struct uarea_thread, ctx) == 0, "context opens a thread slot");
UAREA_STATIC_ASSERT(sizeof(struct uarea_thread) % sizeof(uintptr_t) == 0,
                    "thread slots keep contexts word aligned");
UAREA_STATIC_ASSERT(offsetof(struct uarea, threads) % sizeof(uintptr_t) == 0,
                    "thread table word aligned");
#if UINTPTR_MAX == 0xffffffffu
#  ifndef UAREA_SIZE_LIMIT
#    define UAREA_SIZE_LIMIT 8192u
#  endif
#else
#  ifndef UAREA_SIZE_LIMIT
#    define UAREA_SIZE_LIMIT 16384u
#  endif
#endif
UAREA_STATIC_ASSERT(sizeof(struct uarea) <= UAREA_SIZE_LIMIT,
                    "the UArea outgrew UAREA_SIZE_LIMIT (8 KiB on 32-bit targets)");

/* Container layout: offsets from the region's base.
 *
 * Cache coloring. An L1 cache is indexed by the address bits inside a 4 KiB
 * way (UAREA_CACHE_WAY), so lines 4 KiB apart compete for one set. A thread's
 * hot stack lines are its canary at the stack base and a few frames below its
 * top (same set as its base: the stack size is a multiple of 4 KiB). The pool
 * starts so that stack 0's base falls UAREA_STACK_HOT_LINES lines after the
 * last line of the UArea's page table, and each next stack one line later
 * (UAREA_STACK_STAGGER): the stacks' hot lines then sweep the sets after it
 * and wrap into the sets of the UArea's cold beginning (header, boards),
 * never onto the hot scheduler state and thread table at the struct's end
 * (with the default heap, 128 table bytes; a table of a whole number of
 * ways, as with 16384 pages, leaves the sets as they were). */
#ifndef UAREA_CACHE_WAY
#  define UAREA_CACHE_WAY 4096u
#endif
#define UAREA_STACK_HOT_LINES 4u
UAREA_STATIC_ASSERT(UAREA_CACHE_WAY >= 64 && (UAREA_CACHE_WAY & (UAREA_CACHE_WAY - 1)) == 0,
                    "the cache way size is a power of two");
#define UAREA__ROUND_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
/* The heap page table follows the struct; UAREA_UAREA_LEN bytes (struct and
 * table) are the UArea as it migrates (the image's UArea section). */
#define UAREA_PAGES_OFFSET sizeof(struct uarea)
#define UAREA_UAREA_LEN (UAREA_PAGES_OFFSET + (size_t)UAREA_HEAP_PAGES)
#define UAREA_UAREA_SPAN UAREA__ROUND_UP(UAREA_UAREA_LEN, (size_t)UAREA_PAGE_SIZE)
#define UAREA_STACKS_COLOR \
    ((UAREA__ROUND_UP(UAREA_UAREA_LEN, (size_t)64) + UAREA_STACK_HOT_LINES * 64u) % \
     UAREA_CACHE_WAY)
#define UAREA_STACKS_OFFSET (UAREA_UAREA_SPAN + UAREA_STACKS_COLOR)
#define UAREA_HEAP_OFFSET \
    UAREA__ROUND_UP(UAREA_STACKS_OFFSET + (size_t)UAREA_THREADS_MAX * UAREA_STACK_STRIDE, \
                    (size_t)UAREA_PAGE_SIZE)
#define UAREA_HEAP_BYTES ((size_t)UAREA_HEAP_PAGES * UAREA_PAGE_SIZE)
#define UAREA_CONTAINER_SIZE (UAREA_HEAP_OFFSET + UAREA_HEAP_BYTES)

/* The heap page table of a container: UAREA_HEAP_PAGES bytes of UAREA_PAGE_*
 * flags, page i's at index i. The functions below maintain it; read it
 * directly when scanning many pages. */
static inline uint8_t *uarea_pages(struct uarea *ua)
{
    return (uint8_t *)(void *)ua + UAREA_PAGES_OFFSET;
}
static inline const uint8_t *uarea_pages_const(const struct uarea *ua)
{
    return (const uint8_t *)(const void *)ua + UAREA_PAGES_OFFSET;
}

/* ---- Layout ----------------------------------------------------------------- */
/* Fingerprint of this build's UArea layout (configuration, word size, CPU). */
UAREA_API uint64_t uarea_layout_fingerprint(void);

/* Lay out a container in [base, base + size): the UArea at base, its page
 * table (all pages absent), then the stack pool, then the heap;
 * *out = (struct uarea *)base. base must be aligned to 16 bytes (a page is
 * better: heap pages are then real pages).
 * UAREA_EINVAL: NULL base or out, misaligned base; UAREA_ENOMEM: size below
 * UAREA_CONTAINER_SIZE. Stacks and heap bytes are not touched. */
UAREA_API int uarea_container_init(void *base, size_t size, struct uarea **out);

/* Validate a UArea header and its indices: UAREA_EINVAL for NULL,
 * UAREA_ELAYOUT for a wrong magic, version, word size, CPU, size,
 * fingerprint, base address (it must sit where it was made) or an index out
 * of range. */
UAREA_API int uarea_check(const struct uarea *ua);

/* A UArea just restored on this node: uarea_check(), then reset what is
 * node-local (the lock, the count of running threads, sanitizer handles).
 * UAREA_ESTATE when a thread is marked running (it was not frozen);
 * UAREA_EIMGINCOMPLETE when a thread's stack did not come with it (its
 * guard words are not there, or its saved stack pointer is off its stack):
 * the image was complete section by section but not for this UArea. */
UAREA_API int uarea_attach(struct uarea *ua);

/* ---- Stacks ----------------------------------------------------------------- */
/* Stack i of the pool: its lowest address (UAREA_STACK_SIZE bytes). NULL
 * when ua is NULL or i is out of range. */
UAREA_API void *uarea_stack_base(struct uarea *ua, unsigned i);

/* Iterate stacks in use: from *i on, find the next slot whose thread exists;
 * store its index in *i and return true; false when none is left. */
UAREA_API bool uarea_stack_next(const struct uarea *ua, unsigned *i);

/* The live part of stack i, [*lo, *lo + *len): from the saved stack pointer
 * (minus the CPU's red zone) to the top for a thread that is not running;
 * the whole stack for a running one. UAREA_EINVAL for bad arguments,
 * UAREA_ENOTHREAD for a slot without a thread. */
UAREA_API int uarea_stack_used(const struct uarea *ua, unsigned i, uintptr_t *lo, size_t *len);

/* ---- Heap pages --------------------------------------------------------------- */
/* Address of heap page i; NULL when out of range. */
UAREA_API void *uarea_page_addr(struct uarea *ua, unsigned i);

/* Index of the heap page holding addr; UAREA_EINVAL outside the heap. */
UAREA_API int uarea_page_of(const struct uarea *ua, const void *addr);

/* Iterate present pages: from *i on, find the next present page; store its
 * index in *i and its flags in *flags (may be NULL); false when none. */
UAREA_API bool uarea_page_next(const struct uarea *ua, unsigned *i, unsigned *flags);

/* Set the flags of page i (UAREA_PAGE_* bits). UAREA_EINVAL: bad page or bits. */
UAREA_API int uarea_page_set_flags(struct uarea *ua, unsigned i, unsigned flags);

/* Mark the page holding addr dirty (and not zero). UAREA_EINVAL outside the
 * heap or on a page that is not present. */
UAREA_API int uarea_page_mark_dirty(struct uarea *ua, const void *addr);

/* Clear the dirty flag of every page (start of a tracking round). */
UAREA_API void uarea_pages_clear_dirty(struct uarea *ua);

/* ---- Heap allocator ----------------------------------------------------------- */
/* size bytes from the container heap, 16-byte aligned; NULL when size is 0
 * or the heap is full. */
UAREA_API void *uarea_heap_alloc(struct uarea *ua, size_t size);

/* Return a block. UAREA_EINVAL for a pointer that is not a live block of this
 * heap (including a second free); NULL is accepted and ignored. */
UAREA_API int uarea_heap_free(struct uarea *ua, void *ptr);

/* ---- Syscall board ------------------------------------------------------------ */
/* The board of a core; NULL when out of range. */
UAREA_API struct uarea_board *uarea_board(struct uarea *ua, unsigned core);

UAREA_EXTERN_C_END

#endif /* UAREA_UAREA_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && !defined(UAREA__UAREA_IMPLEMENTED)
#define UAREA__UAREA_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

/* The UArea spin lock. Holders also hold the port's critical section, so a
 * holder is never preempted on its own core. */
static inline void uarea__lock(struct uarea *ua)
{
    while (__atomic_exchange_n(&ua->lock, 1u, __ATOMIC_ACQUIRE) != 0u) {
        while (__atomic_load_n(&ua->lock, __ATOMIC_RELAXED) != 0u) UAREA_PORT_RELAX();
    }
}

static inline void uarea__unlock(struct uarea *ua)
{
    __atomic_store_n(&ua->lock, 0u, __ATOMIC_RELEASE);
}

static uint64_t uarea__fnv(uint64_t h, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

UAREA_API uint64_t uarea_layout_fingerprint(void)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = uarea__fnv(h, UAREA_LAYOUT_VERSION);
    h = uarea__fnv(h, UAREA_WORD_SIZE);
    h = uarea__fnv(h, UAREA_CPU);
    h = uarea__fnv(h, UAREA_ARCH_CTX_WORDS);
    h = uarea__fnv(h, (uint64_t)UAREA_THREADS_MAX);
    h = uarea__fnv(h, (uint64_t)UAREA_CORES_MAX);
    h = uarea__fnv(h, (uint64_t)UAREA_STACK_SIZE);
    h = uarea__fnv(h, (uint64_t)UAREA_STACK_STAGGER);
    h = uarea__fnv(h, (uint64_t)UAREA_CACHE_WAY);
    h = uarea__fnv(h, (uint64_t)UAREA_PAGE_SIZE);
    h = uarea__fnv(h, (uint64_t)UAREA_HEAP_PAGES);
    h = uarea__fnv(h, (uint64_t)UAREA_CANARY_BYTES);
    h = uarea__fnv(h, sizeof(struct uarea));
    h = uarea__fnv(h, sizeof(struct uarea_thread));
    h = uarea__fnv(h, offsetof(struct uarea, exits));
    h = uarea__fnv(h, offsetof(struct uarea, threads));
    h = uarea__fnv(h, offsetof(struct uarea, board));
    h = uarea__fnv(h, offsetof(struct uarea, heap));
    h = uarea__fnv(h, offsetof(struct uarea, pt));
    h = uarea__fnv(h, (uint64_t)UAREA_PAGES_OFFSET);
    h = uarea__fnv(h, (uint64_t)UAREA_STACKS_OFFSET);
    h = uarea__fnv(h, (uint64_t)UAREA_HEAP_OFFSET);
    return h;
}

UAREA_API int uarea_container_init(void *base, size_t size, struct uarea **out)
{
    struct uarea *ua = (struct uarea *)base;
    unsigned i;
    if (base == NULL || out == NULL || ((uintptr_t)base & 15u) != 0) return UAREA_EINVAL;
    if (size < UAREA_CONTAINER_SIZE) return UAREA_ENOMEM;
    UAREA_MEMSET(ua, 0, UAREA_UAREA_LEN);             /* the struct and the page table */
    ua->hdr.magic = UAREA_MAGIC;
    ua->hdr.version = (uint16_t)UAREA_LAYOUT_VERSION;
    ua->hdr.word_size = (uint16_t)UAREA_WORD_SIZE;
    ua->hdr.size = (uint32_t)sizeof *ua;
    ua->hdr.cpu = UAREA_CPU;
    ua->hdr.fingerprint = uarea_layout_fingerprint();
    ua->hdr.base = (uint64_t)(uintptr_t)base;
    ua->hdr.container_size = (uint64_t)size;
    ua->hdr.stacks_off = (uint32_t)UAREA_STACKS_OFFSET;
    ua->hdr.heap_off = (uint32_t)UAREA_HEAP_OFFSET;
    ua->pt.off = (uint32_t)UAREA_PAGES_OFFSET;
    ua->pt.count = (uint32_t)UAREA_HEAP_PAGES;
    for (i = 0; i < UAREA_THREADS_MAX; i++) {
        ua->threads[i].tid = -1;
        ua->threads[i].waits_for = -1;
        ua->threads[i].joiner = -1;
        ua->threads[i].stack = (uint8_t)i;
    }
    ua->heap.free_head = UINT32_MAX;
    *out = ua;
    return UAREA_OK;
}

UAREA_API int uarea_check(const struct uarea *ua)
{
    unsigned i;
    if (ua == NULL) return UAREA_EINVAL;
    if (ua->hdr.magic != UAREA_MAGIC || ua->hdr.version != UAREA_LAYOUT_VERSION ||
        ua->hdr.word_size != UAREA_WORD_SIZE || ua->hdr.size != sizeof *ua ||
        ua->hdr.cpu != UAREA_CPU || ua->hdr.fingerprint != uarea_layout_fingerprint() ||
        ua->hdr.base != (uint64_t)(uintptr_t)ua || ua->hdr.container_size < UAREA_CONTAINER_SIZE ||
        ua->hdr.stacks_off != UAREA_STACKS_OFFSET || ua->hdr.heap_off != UAREA_HEAP_OFFSET ||
        ua->pt.off != UAREA_PAGES_OFFSET || ua->pt.count != UAREA_HEAP_PAGES)
        return UAREA_ELAYOUT;
    if (ua->ready_count > UAREA_THREADS_MAX || ua->ready_head >= UAREA_THREADS_MAX ||
        ua->exit_count > UAREA_THREADS_MAX || ua->exit_head >= UAREA_THREADS_MAX ||
        ua->active > UAREA_THREADS_MAX || ua->freeze > UAREA_RELEASED ||
        ua->heap.top > UAREA_HEAP_BYTES)
        return UAREA_ELAYOUT;
    for (i = 0; i < ua->ready_count; i++)
        if (ua->ready[(ua->ready_head + i) % UAREA_THREADS_MAX] >= UAREA_THREADS_MAX)
            return UAREA_ELAYOUT;
    for (i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].state > UAREA_THREAD_CALL || ua->threads[i].stack != i ||
            (ua->threads[i].state == UAREA_THREAD_CALL &&
             (ua->threads[i].call == 0 || ua->threads[i].call > UAREA_CORES_MAX)) ||
            (ua->threads[i].state == UAREA_THREAD_FREE) != (ua->threads[i].tid < 0))
            return UAREA_ELAYOUT;
    return UAREA_OK;
}

UAREA_API int uarea_attach(struct uarea *ua)
{
    unsigned i;
    int rc = uarea_check(ua);
    if (rc < 0) return rc;
    for (i = 0; i < UAREA_THREADS_MAX; i++)
        if (ua->threads[i].state == UAREA_THREAD_RUNNING) return UAREA_ESTATE;
    for (i = 0; i < UAREA_THREADS_MAX; i++) {
        const uintptr_t *w = (const uintptr_t *)(const void *)((const unsigned char *)ua +
                                                               UAREA_STACKS_OFFSET +
                                                               (size_t)i * UAREA_STACK_STRIDE);
        unsigned k;
        if (ua->threads[i].state == UAREA_THREAD_FREE) continue;
        for (k = 0; k < UAREA_CANARY_BYTES / sizeof(uintptr_t); k++)
            if (w[k] != UAREA_CANARY_WORD) return UAREA_EIMGINCOMPLETE;
#if UAREA_ARCH_SWITCH
        {
            uintptr_t sp = uarea__arch_ctx_sp(ua->threads[i].ctx.w), base = (uintptr_t)w;
            if (sp < base + UAREA_CANARY_BYTES || sp > base + UAREA_STACK_SIZE + UAREA_ARCH_REDZONE)
                return UAREA_EIMGINCOMPLETE;
        }
#endif
    }
    __atomic_store_n(&ua->lock, 0u, __ATOMIC_RELEASE);
    __atomic_store_n(&ua->running, 0u, __ATOMIC_RELEASE);
    for (i = 0; i < UAREA_THREADS_MAX; i++) ua->threads[i].san = 0;
#ifdef UAREA__ASAN
    /* the restored stacks' frames were poisoned elsewhere: start clean */
    __asan_unpoison_memory_region((unsigned char *)ua + UAREA_STACKS_OFFSET,
                                  (size_t)UAREA_THREADS_MAX * UAREA_STACK_STRIDE);
#endif
    return UAREA_OK;
}

/* ---- Stacks ---- */
UAREA_API void *uarea_stack_base(struct uarea *ua, unsigned i)
{
    if (ua == NULL || i >= UAREA_THREADS_MAX) return NULL;
    return (unsigned char *)ua + UAREA_STACKS_OFFSET + (size_t)i * UAREA_STACK_STRIDE;
}

UAREA_API bool uarea_stack_next(const struct uarea *ua, unsigned *i)
{
    unsigned k;
    if (ua == NULL || i == NULL) return false;
    for (k = *i; k < UAREA_THREADS_MAX; k++) {
        if (ua->threads[k].state != UAREA_THREAD_FREE) {
            *i = k;
            return true;
        }
    }
    return false;
}

UAREA_API int uarea_stack_used(const struct uarea *ua, unsigned i, uintptr_t *lo, size_t *len)
{
    uintptr_t base, top, sp;
    if (ua == NULL || lo == NULL || len == NULL || i >= UAREA_THREADS_MAX) return UAREA_EINVAL;
    if (ua->threads[i].state == UAREA_THREAD_FREE) return UAREA_ENOTHREAD;
    base = (uintptr_t)ua + UAREA_STACKS_OFFSET + (uintptr_t)i * UAREA_STACK_STRIDE;
    top = base + UAREA_STACK_SIZE;
    sp = base;
#if UAREA_ARCH_SWITCH
    if (ua->threads[i].state != UAREA_THREAD_RUNNING) {
        sp = uarea__arch_ctx_sp(ua->threads[i].ctx.w);
        sp = sp - UAREA_ARCH_REDZONE;
        if (sp < base || sp > top) sp = base;
    }
#endif
    *lo = sp;
    *len = (size_t)(top - sp);
    return UAREA_OK;
}

/* ---- Heap pages ---- */
static inline unsigned char *uarea__heap(struct uarea *ua)
{
    return (unsigned char *)ua + UAREA_HEAP_OFFSET;
}

UAREA_API void *uarea_page_addr(struct uarea *ua, unsigned i)
{
    if (ua == NULL || i >= UAREA_HEAP_PAGES) return NULL;
    return uarea__heap(ua) + (size_t)i * UAREA_PAGE_SIZE;
}

UAREA_API int uarea_page_of(const struct uarea *ua, const void *addr)
{
    uintptr_t lo, a = (uintptr_t)addr;
    if (ua == NULL) return UAREA_EINVAL;
    lo = (uintptr_t)ua + UAREA_HEAP_OFFSET;
    if (a < lo || a - lo >= UAREA_HEAP_BYTES) return UAREA_EINVAL;
    return (int)((a - lo) / UAREA_PAGE_SIZE);
}

UAREA_API bool uarea_page_next(const struct uarea *ua, unsigned *i, unsigned *flags)
{
    const uint8_t *pages;
    unsigned k;
    if (ua == NULL || i == NULL) return false;
    pages = uarea_pages_const(ua);
    for (k = *i; k < UAREA_HEAP_PAGES; k++) {
        if (pages[k] & UAREA_PAGE_PRESENT) {
            *i = k;
            if (flags != NULL) *flags = pages[k];
            return true;
        }
    }
    return false;
}

UAREA_API int uarea_page_set_flags(struct uarea *ua, unsigned i, unsigned flags)
{
    if (ua == NULL || i >= UAREA_HEAP_PAGES ||
        (flags & ~(UAREA_PAGE_PRESENT | UAREA_PAGE_DIRTY | UAREA_PAGE_ZERO)) != 0)
        return UAREA_EINVAL;
    uarea_pages(ua)[i] = (uint8_t)flags;
    return UAREA_OK;
}

UAREA_API int uarea_page_mark_dirty(struct uarea *ua, const void *addr)
{
    int p = uarea_page_of(ua, addr);
    uint8_t *pages;
    if (p < 0) return p;
    pages = uarea_pages(ua);
    if (!(pages[p] & UAREA_PAGE_PRESENT)) return UAREA_EINVAL;
    pages[p] = (uint8_t)((pages[p] | UAREA_PAGE_DIRTY) & ~UAREA_PAGE_ZERO);
    return UAREA_OK;
}

UAREA_API void uarea_pages_clear_dirty(struct uarea *ua)
{
    uint8_t *pages;
    unsigned i;
    if (ua == NULL) return;
    pages = uarea_pages(ua);
    for (i = 0; i < UAREA_HEAP_PAGES; i++) pages[i] &= (uint8_t)~UAREA_PAGE_DIRTY;
}

/* ---- Heap allocator ---- */
#define UAREA__BLK_USED 0x55534544u   /* header tag of an allocated block */
#define UAREA__BLK_FREE 0x46524545u   /* header tag of a free block */
#define UAREA__NONE UINT32_MAX

struct uarea__blk {
    uint32_t size;   /* whole block, header included, a multiple of 16 */
    uint32_t next;   /* free blocks: offset of the next free block */
    uint32_t tag;
    uint32_t pad_;
};
UAREA_STATIC_ASSERT(sizeof(struct uarea__blk) == 16, "block header is 16 bytes");

static inline struct uarea__blk *uarea__blk_at(struct uarea *ua, uint32_t off)
{
    return (struct uarea__blk *)(void *)(uarea__heap(ua) + off);
}

/* Pages [lo, hi) of the heap became part of the break, or left it. */
static void uarea__pages_touch(struct uarea *ua, uint32_t lo, uint32_t hi, bool present)
{
    uint8_t *pages = uarea_pages(ua);
    uint32_t p;
    if (hi <= lo) return;
    for (p = lo / UAREA_PAGE_SIZE; p <= (hi - 1) / UAREA_PAGE_SIZE; p++) {
        if (present)
            pages[p] = (uint8_t)((pages[p] | UAREA_PAGE_PRESENT | UAREA_PAGE_DIRTY) &
                                 ~UAREA_PAGE_ZERO);
        else
            pages[p] = 0;
    }
}

UAREA_API void *uarea_heap_alloc(struct uarea *ua, size_t size)
{
    uint32_t need, off, *link;
    struct uarea__blk *b = NULL;
    uintptr_t crit;
    if (ua == NULL || size == 0 || size > UAREA_HEAP_BYTES) return NULL;
    need = (uint32_t)(UAREA__ROUND_UP(size, 16u) + sizeof(struct uarea__blk));
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    link = &ua->heap.free_head;
    while ((off = *link) != UAREA__NONE) {       /* first fit */
        b = uarea__blk_at(ua, off);
        if (b->size >= need) break;
        link = &b->next;
    }
    if (off != UAREA__NONE) {
        if (b->size - need >= 2 * sizeof(struct uarea__blk)) { /* split */
            struct uarea__blk *rest = uarea__blk_at(ua, off + need);
            rest->size = b->size - need;
            rest->next = b->next;
            rest->tag = UAREA__BLK_FREE;
            *link = off + need;
            b->size = need;
        } else {
            *link = b->next;
        }
        uarea__pages_touch(ua, off, off + b->size, true);
    } else if (UAREA_HEAP_BYTES - ua->heap.top >= need) {   /* move the break */
        off = ua->heap.top;
        uarea__pages_touch(ua, off, off + need, true);
        ua->heap.top = off + need;
        b = uarea__blk_at(ua, off);
        b->size = need;
    } else {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return NULL;
    }
    b->tag = UAREA__BLK_USED;
    b->next = UAREA__NONE;
    ua->heap.used += b->size - (uint32_t)sizeof *b;
    ua->heap.blocks++;
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    return b + 1;
}

UAREA_API int uarea_heap_free(struct uarea *ua, void *ptr)
{
    uintptr_t lo, a = (uintptr_t)ptr;
    uint32_t off, *link, prev = UAREA__NONE;
    struct uarea__blk *b;
    uintptr_t crit;
    if (ptr == NULL) return UAREA_OK;
    if (ua == NULL) return UAREA_EINVAL;
    lo = (uintptr_t)uarea__heap(ua);
    if (a < lo + sizeof *b || ((a - lo) & 15u) != 0) return UAREA_EINVAL;
    off = (uint32_t)(a - lo - sizeof *b);
    crit = UAREA_PORT_CRIT_ENTER();
    uarea__lock(ua);
    b = uarea__blk_at(ua, off);
    if (off >= ua->heap.top || b->tag != UAREA__BLK_USED || b->size < sizeof *b ||
        b->size > ua->heap.top - off) {
        uarea__unlock(ua);
        UAREA_PORT_CRIT_LEAVE(crit);
        return UAREA_EINVAL;
    }
    ua->heap.used -= b->size - (uint32_t)sizeof *b;
    ua->heap.blocks--;
    /* insert in address order, merging with both neighbours */
    link = &ua->heap.free_head;
    while (*link != UAREA__NONE && *link < off) {
        prev = *link;
        link = &uarea__blk_at(ua, *link)->next;
    }
    b->tag = UAREA__BLK_FREE;
    b->next = *link;
    *link = off;
    if (b->next != UAREA__NONE && off + b->size == b->next) {
        struct uarea__blk *n = uarea__blk_at(ua, b->next);
        b->size += n->size;
        b->next = n->next;
        n->tag = 0;
    }
    if (prev != UAREA__NONE) {
        struct uarea__blk *p = uarea__blk_at(ua, prev);
        if (prev + p->size == off) {
            p->size += b->size;
            p->next = b->next;
            b->tag = 0;
            b = p;
            off = prev;
            link = &ua->heap.free_head;         /* find the link to p again */
            while (*link != off) link = &uarea__blk_at(ua, *link)->next;
        }
    }
    if (off + b->size == ua->heap.top) {         /* the last block: lower the break */
        uint32_t keep = (uint32_t)UAREA__ROUND_UP(off, UAREA_PAGE_SIZE);
        *link = b->next;
        b->tag = 0;
        uarea__pages_touch(ua, keep, ua->heap.top, false);
        ua->heap.top = off;
    }
    uarea__unlock(ua);
    UAREA_PORT_CRIT_LEAVE(crit);
    return UAREA_OK;
}

UAREA_API struct uarea_board *uarea_board(struct uarea *ua, unsigned core)
{
    if (ua == NULL || core >= UAREA_CORES_MAX) return NULL;
    return &ua->board[core];
}

UAREA_EXTERN_C_END

#endif /* UAREA_CORE_IMPLEMENTATION */
