/* A simulated machine for the migration protocol's tests: N nodes on the
 * loopback transport, each with a daemon and a fake container.
 *
 * The fake container is a byte array. Its image is [u32 length][u32 CRC32C]
 * followed by the bytes, so the destination can verify it like a real image.
 * A copy is "live" when a node holds it and it is not frozen. The test driver
 * steps every live node's daemon and the fabric until everything is quiet.
 *
 * Pre-copy (a fake with `precopy` set): the first image is the same as the
 * full one, produced while the container "runs"; at its first freeze poll
 * the container "writes" bytes [W_MUT_LO, W_MUT_HI) (as a running program
 * would have meanwhile), and the delta image is [length][CRC of the whole
 * data][offset][count][the written bytes]: the destination patches its
 * staged copy and checks the CRC of the result.
 *
 * Pre-copy rounds (precopy_next): before each further round the container
 * "writes" wsz[k] bytes (k: the call), at 2000 + 64 k; a round carries, in
 * the delta's format, the span written since the last round that went out
 * (the span of all writes since, one range). A round described and not
 * sent (the daemon stopped the rounds) stays written, for the delta.
 * golden[] follows every write and survives the drop and a crash: the
 * contents the one live copy must have.
 *
 * Post-copy (fake_post_ops, the daemon's migrate_config.postcopy): the data
 * is a head of W_HEAD bytes (the part a real image always carries) and heap
 * pages of W_PAGE bytes. An image with MIGRATE_OFFER_POST is
 * [length][CRC of the head][W_POST_MAGIC][lo][n][the head]: heap pages
 * lo .. lo+n-1 (protocol pages 0 .. n-1) are lazy, the others come from the
 * staged pre-copy image (with DELTA) or do not exist (lo 0, n all). Lazy
 * pages follow in packets of at most W_PKT_PAGES. On the destination a
 * missing page reads as 0xdd; the running container "touches" pages in the
 * order touch[] (w_run, one touch per pass): a missing page faults (the
 * thread waits for it: the next touch waits too), a present one is written
 * (0xee at one byte, marked in wmask[]), so that a late packet overwriting
 * it would show. */
#ifndef TESTS_PROTOCOL_WORLD_H
#define TESTS_PROTOCOL_WORLD_H

#define UAREA_IMPLEMENTATION
#include <noc/loopback.h>
#include <migrate/daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W_NODES_MAX 8
#define W_DATA_MAX 40000
#define W_BLOCK (4 * NOC_PORTAL_CHUNK)
#define W_LAYOUT_FP 0x1111222233334444ull
#define W_BINARY_FP 0x5555666677778888ull
#define W_MUT_LO 1000u
#define W_MUT_HI 5096u
#define W_WRITES_MAX 16
#define W_HEAD 1024u
#define W_PAGE 512u
#define W_PAGES_MAX (W_DATA_MAX / W_PAGE)
#define W_PKT_PAGES 4u
#define W_POST_MAGIC 0x54534f50u

typedef struct fake {
    int node;
    int has, frozen;
    int freeze_polls;           /* polls before the freeze completes */
    int polls;
    uint8_t data[W_DATA_MAX];
    uint32_t len;
    /* image production: the image, built at image_begin */
    uint8_t out[W_DATA_MAX + 16];
    uint64_t out_len, off;
    int precopy;                /* offer pre-copy */
    int pre;                    /* a pre-copy image went out */
    int mutated;                /* the "program" wrote while it ran */
    int staged;                 /* destination: a pre-copy image is staged */
    int delta;                  /* destination: the image coming is a delta */
    int staging;                /* destination: the image coming is a pre-copy */
    uint8_t dstage[W_DATA_MAX + 16];
    /* pre-copy rounds, source */
    uint32_t wsz[W_WRITES_MAX];  /* bytes written before the k-th further round */
    int nexts;                  /* precopy_next calls */
    uint32_t dlo, dhi;          /* written since the last round that went out */
    int round;                  /* 1: a round described, 2: ... and produced */
    uint8_t golden[W_DATA_MAX];
    /* restore */
    uint8_t stage[W_DATA_MAX + 8];
    uint64_t got, expect;
    int accept_rc;              /* forced answer of accept (0: check) */
    uint64_t binary_fp;         /* what this node's binary is */
    /* post-copy, source */
    uint32_t plo, pn;           /* lazy heap pages of the image out */
    uint8_t psent[W_PAGES_MAX]; /* produced at least once */
    uint32_t pcursor;           /* where the push goes on */
    /* post-copy, destination */
    int lazyimg;                /* the image coming is a post-copy one */
    int lazy;                   /* runs with pages missing (or did) */
    uint32_t llo, ln;           /* lazy heap pages */
    uint8_t missing[W_PAGES_MAX];
    uint32_t nmissing;
    uint32_t arrive[W_PAGES_MAX];  /* order in which pages were installed (1, 2, ...) */
    uint32_t seq;
    uint32_t touch[W_PAGES_MAX], ntouch, tnext; /* pages touched, in order */
    uint32_t faults[W_PAGES_MAX], nfaults, freported;
    uint8_t faulted[W_PAGES_MAX];
    uint8_t wmask[W_DATA_MAX];  /* bytes the running destination wrote (0xee) */
    int postfailed;
    /* what happened */
    int activated, discarded, dropped, unfrozen;
} fake;

typedef struct world {
    noc_loopback lb;
    noc_transport t[W_NODES_MAX];
    migrate_daemon d[W_NODES_MAX];
    fake f[W_NODES_MAX];
    uint8_t block[W_NODES_MAX][W_BLOCK];
    int nodes;
    int dead[W_NODES_MAX];      /* crash noticed: daemon gone, copy lost */
} world;

/* ---- the fake container ---- */
static int f_has(void *c) { return ((fake *)c)->has; }

/* The "program" writes [lo, lo + n) (clipped): x ^= v. */
static void f_write(fake *f, uint32_t lo, uint32_t n, uint8_t v)
{
    uint32_t hi = lo + n < f->len ? lo + n : f->len;
    if (lo >= hi) return;
    for (uint32_t i = lo; i < hi; i++) {
        f->data[i] ^= v;
        f->golden[i] = f->data[i];
    }
    if (f->dlo >= f->dhi) { f->dlo = lo; f->dhi = hi; }
    if (lo < f->dlo) f->dlo = lo;
    if (hi > f->dhi) f->dhi = hi;
}

/* A round whose bytes were produced went out: what it carried is sent. */
static void f_settle(fake *f)
{
    if (f->round == 2) f->dlo = f->dhi = 0;
    f->round = 0;
}

static int f_freeze(void *c)
{
    fake *f = c;
    if (!f->has) return UAREA_ENOCONTAINER;
    if (f->pre && !f->mutated) {
        /* written while the pre-copy image was out */
        f_settle(f);
        f_write(f, W_MUT_LO, W_MUT_HI - W_MUT_LO, 0xa5);
        f->mutated = 1;
    }
    if (f->polls++ < f->freeze_polls) return UAREA_EAGAIN;
    f->frozen = 1;
    return 0;
}
static int f_unfreeze(void *c)
{
    fake *f = c;
    f->frozen = 0;
    f->polls = 0;
    f->unfrozen++;
    return 0;
}
static int f_image_begin(void *c, migrate_offer *o)
{
    fake *f = c;
    uint32_t crc = migrate_crc32c(0, f->data, f->len);
    memcpy(f->out, &f->len, 4);
    memcpy(f->out + 4, &crc, 4);
    o->pages = 0;
    if ((o->flags & MIGRATE_OFFER_POST) && f->len > W_HEAD) {
        uint32_t lo = 0, hi = (f->len - W_HEAD) / W_PAGE, magic = W_POST_MAGIC;
        if (o->flags & MIGRATE_OFFER_DELTA) {
            if (!f->pre) return UAREA_ESTATE;
            f_settle(f);
            /* the heap pages written since the last round */
            lo = hi = 0;
            if (f->dlo < f->dhi && f->dhi > W_HEAD) {
                lo = f->dlo > W_HEAD ? (f->dlo - W_HEAD) / W_PAGE : 0;
                hi = (f->dhi - W_HEAD + W_PAGE - 1) / W_PAGE;
            }
        }
        if (hi > lo) {
            crc = migrate_crc32c(0, f->data, W_HEAD);
            memcpy(f->out + 4, &crc, 4);
            memcpy(f->out + 8, &magic, 4);
            memcpy(f->out + 12, &lo, 4);
            hi -= lo;
            memcpy(f->out + 16, &hi, 4);
            memcpy(f->out + 20, f->data, W_HEAD);
            f->out_len = 20 + (uint64_t)W_HEAD;
            f->plo = lo;
            f->pn = hi;
            f->pcursor = 0;
            memset(f->psent, 0, sizeof f->psent);
            f->pre = 0;
            f->off = 0;
            o->size = f->out_len;
            o->pages = hi;
            o->layout_fp = W_LAYOUT_FP;
            o->binary_fp = f->binary_fp;
            return 0;
        }
        /* no heap page to leave out: an ordinary image */
    }
    if (o->flags & MIGRATE_OFFER_DELTA) {
        uint32_t lo, n;
        if (!f->pre) return UAREA_ESTATE;
        f_settle(f);
        lo = f->dlo < f->dhi ? f->dlo : 0;
        n = f->dlo < f->dhi ? f->dhi - f->dlo : 0;
        memcpy(f->out + 8, &lo, 4);
        memcpy(f->out + 12, &n, 4);
        memcpy(f->out + 16, f->data + lo, n);
        f->out_len = 16 + (uint64_t)n;
    } else {
        memcpy(f->out + 8, f->data, f->len);
        f->out_len = 8 + (uint64_t)f->len;
    }
    f->pre = 0;
    f->off = 0;
    o->size = f->out_len;
    o->layout_fp = W_LAYOUT_FP;
    o->binary_fp = f->binary_fp;
    return 0;
}
static int f_precopy(void *c, migrate_offer *o)
{
    fake *f = c;
    int rc;
    if (!f->precopy) return UAREA_ENOSYS;
    rc = f_image_begin(c, o);
    f->pre = rc == 0;
    f->dlo = f->dhi = 0;
    f->round = 0;
    f->nexts = 0;
    return rc;
}
static int f_precopy_next(void *c, migrate_offer *o)
{
    fake *f = c;
    int k = f->nexts++, rc;
    if (!f->pre || !f->has) return UAREA_ESTATE;
    f_settle(f);
    if (k < W_WRITES_MAX && f->wsz[k] != 0) f_write(f, 2000u + 64u * (uint32_t)k, f->wsz[k], 0x3c);
    if (f->dlo >= f->dhi) {
        o->size = 0;                    /* nothing written */
        return 0;
    }
    rc = f_image_begin(c, o);           /* the delta's format: the span written */
    f->pre = 1;
    if (rc == 0) f->round = 1;
    return rc;
}
static long f_produce(void *c, void *buf, size_t cap)
{
    fake *f = c;
    size_t n = f->out_len - f->off < cap ? (size_t)(f->out_len - f->off) : cap;
    memcpy(buf, f->out + f->off, n);
    f->off += n;
    if (f->round == 1) f->round = 2;
    return (long)n;
}
static int f_drop(void *c)
{
    fake *f = c;
    f->has = 0;
    f->frozen = 0;
    memset(f->data, 0, sizeof f->data);
    f->dropped++;
    return 0;
}
static int f_accept(void *c, const migrate_offer *o)
{
    fake *f = c;
    if (f->accept_rc) return f->accept_rc;
    if (o->layout_fp != W_LAYOUT_FP) return UAREA_EIMGLAYOUT;
    if (o->binary_fp != f->binary_fp) return UAREA_EIMGBINARY;
    if (o->size > sizeof f->stage) return UAREA_EIMGTOOBIG;
    /* a delta goes onto a staged pre-copy image, nothing else does */
    if ((o->flags & MIGRATE_OFFER_DELTA) ? !f->staged : f->staged) return UAREA_ESTATE;
    f->delta = (o->flags & MIGRATE_OFFER_DELTA) != 0;
    f->staging = (o->flags & MIGRATE_OFFER_PRE) != 0;
    f->lazyimg = (o->flags & MIGRATE_OFFER_POST) != 0;
    f->expect = o->size;
    f->got = 0;
    return 0;
}
static int f_feed(void *c, const void *buf, size_t len)
{
    fake *f = c;
    if (f->got + len > f->expect) return UAREA_EIMGFORMAT;
    memcpy((f->delta ? f->dstage : f->stage) + f->got, buf, len);
    f->got += len;
    return 0;
}
static int f_end(void *c)
{
    fake *f = c;
    uint32_t len, crc, lo, n;
    if (f->got != f->expect || f->got < 8) return UAREA_EIMGTRUNC;
    if (f->lazyimg) {
        uint8_t *in = f->delta ? f->dstage : f->stage;
        uint32_t magic, lo, n;
        memcpy(&len, in, 4);
        memcpy(&crc, in + 4, 4);
        memcpy(&magic, in + 8, 4);
        memcpy(&lo, in + 12, 4);
        memcpy(&n, in + 16, 4);
        if (f->got != 20 + (uint64_t)W_HEAD || magic != W_POST_MAGIC || len <= W_HEAD ||
            len + 8 > sizeof f->stage || (uint64_t)lo + n > (len - W_HEAD) / W_PAGE ||
            migrate_crc32c(0, in + 20, W_HEAD) != crc)
            return UAREA_EIMGFORMAT;
        memmove(f->stage + 8, in + 20, W_HEAD);     /* the head; the heap: staged or lazy */
        memcpy(f->stage, &len, 4);
        memset(f->dstage, 0, sizeof f->dstage);
        f->llo = lo;
        f->ln = n;
        f->got = 8 + (uint64_t)len;
        f->delta = 0;
        f->staged = 0;
        return 0;
    }
    if (f->delta) {
        memcpy(&len, f->dstage, 4);
        memcpy(&crc, f->dstage + 4, 4);
        memcpy(&lo, f->dstage + 8, 4);
        memcpy(&n, f->dstage + 12, 4);
        if (f->got != 16 + (uint64_t)n || (uint64_t)lo + n > len || len + 8 > sizeof f->stage)
            return UAREA_EIMGFORMAT;
        memcpy(f->stage + 8 + lo, f->dstage + 16, n);
        memset(f->dstage, 0, sizeof f->dstage);
        memcpy(f->stage, &len, 4);
        memcpy(f->stage + 4, &crc, 4);
        f->got = 8 + (uint64_t)len;
        f->delta = 0;
        f->staged = 0;
    } else {
        memcpy(&len, f->stage, 4);
        memcpy(&crc, f->stage + 4, 4);
        if ((uint64_t)len + 8 != f->got) return UAREA_EIMGFORMAT;
    }
    if (migrate_crc32c(0, f->stage + 8, len) != crc) return UAREA_EIMGCRC;
    if (f->staging) {                   /* staged: waits for its delta */
        f->staging = 0;
        f->staged = 1;
    }
    return 0;
}
static int f_discard(void *c)
{
    fake *f = c;
    memset(f->stage, 0, sizeof f->stage);
    memset(f->dstage, 0, sizeof f->dstage);
    f->got = f->expect = 0;
    f->staged = f->delta = f->staging = f->lazyimg = 0;
    f->discarded++;
    return 0;
}
static int f_activate(void *c)
{
    fake *f = c;
    if (f->lazy) {                 /* post-copy: f_post_activate set it up */
        f->has = 1;
        f->frozen = 0;
        f->activated++;
        return 0;
    }
    memcpy(&f->len, f->stage, 4);
    memcpy(f->data, f->stage + 8, f->len);
    memset(f->stage, 0, sizeof f->stage);
    f->got = f->expect = 0;
    f->has = 1;
    f->frozen = 0;
    f->lazy = 0;
    f->activated++;
    return 0;
}

/* ---- post-copy ---- */
static long f_pages_produce(void *c, uint32_t first, uint32_t count, void *buf, size_t cap,
                            uint32_t *first_out, uint32_t *page_size)
{
    fake *f = c;
    uint32_t max = (uint32_t)(cap / W_PAGE), n = 0;
    int push = first == MIGRATE_PAGES_NEXT;
    if (max > W_PKT_PAGES) max = W_PKT_PAGES;
    if (max == 0) return UAREA_EMSGSIZE;
    if (push) {
        /* the next run of pages not sent yet */
        while (f->pcursor < f->pn && f->psent[f->pcursor]) f->pcursor++;
        if (f->pcursor >= f->pn) return 0;
        first = f->pcursor;
        count = f->pn - first;
    } else if (first >= f->pn) {
        return UAREA_EINVAL;
    }
    if (count > f->pn - first) count = f->pn - first;
    while (n < count && n < max && !(push && f->psent[first + n])) {
        memcpy((uint8_t *)buf + (size_t)n * W_PAGE,
               f->data + W_HEAD + (size_t)(f->plo + first + n) * W_PAGE, W_PAGE);
        f->psent[first + n] = 1;
        n++;
    }
    *first_out = first;
    *page_size = W_PAGE;
    return (long)n;
}
static int f_post_activate(void *c, const migrate_offer *o)
{
    fake *f = c;
    if (!f->lazyimg || o->pages != f->ln) return UAREA_ESTATE;
    memcpy(&f->len, f->stage, 4);
    memcpy(f->data, f->stage + 8, f->len);
    memset(f->stage, 0, sizeof f->stage);
    f->got = f->expect = 0;
    for (uint32_t i = 0; i < f->ln; i++) {
        memset(f->data + W_HEAD + (size_t)(f->llo + i) * W_PAGE, 0xdd, W_PAGE);
        f->missing[i] = 1;
        f->faulted[i] = 0;
        f->arrive[i] = 0;
    }
    f->nmissing = f->ln;
    f->seq = f->nfaults = f->freported = f->tnext = 0;
    memset(f->wmask, 0, sizeof f->wmask);
    f->lazyimg = 0;
    f->lazy = 1;                   /* f_activate runs it next */
    return 0;
}
static long f_pages_install(void *c, uint32_t first, uint32_t count, uint32_t psz, const void *b)
{
    fake *f = c;
    long n = 0;
    if (!f->lazy || !f->has || psz != W_PAGE || first >= f->ln || count > f->ln - first)
        return UAREA_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t p = first + i;
        if (!f->missing[p]) continue;             /* there already: maybe written since */
        memcpy(f->data + W_HEAD + (size_t)(f->llo + p) * W_PAGE, (const uint8_t *)b + (size_t)i * W_PAGE,
               W_PAGE);
        f->missing[p] = 0;
        f->nmissing--;
        f->arrive[p] = ++f->seq;
        n++;
    }
    return n;
}
static int f_pages_wanted(void *c, int again, uint32_t *first, uint32_t *count)
{
    fake *f = c;
    if (!again) {
        while (f->freported < f->nfaults) {
            uint32_t p = f->faults[f->freported++];
            if (f->missing[p]) { *first = p; *count = 1; return 1; }
        }
        return 0;
    }
    for (uint32_t k = 0; k < f->nfaults; k++)
        if (f->missing[f->faults[k]]) { *first = f->faults[k]; *count = 1; return 1; }
    for (uint32_t p = 0; p < f->ln; p++)
        if (f->missing[p]) {
            uint32_t n = 1;
            while (p + n < f->ln && f->missing[p + n] && n < W_PKT_PAGES) n++;
            *first = p;
            *count = n;
            return 1;
        }
    return 0;
}
static uint64_t f_pages_missing(void *c) { return ((fake *)c)->nmissing; }
static void f_post_fail(void *c)
{
    fake *f = c;
    f->has = 0;
    f->frozen = 0;
    f->lazy = 0;
    memset(f->data, 0, sizeof f->data);
    f->postfailed++;
}

/* The running destination touches its next page (see above). */
static void f_touch(fake *f)
{
    uint32_t p;
    if (!f->lazy || !f->has || f->tnext >= f->ntouch) return;
    p = f->touch[f->tnext];
    if (p >= f->ln) { f->tnext++; return; }
    if (f->missing[p]) {
        if (!f->faulted[p]) {                       /* the thread waits for it */
            f->faulted[p] = 1;
            f->faults[f->nfaults++] = p;
        }
        return;
    }
    {
        size_t at = W_HEAD + (size_t)(f->llo + p) * W_PAGE + (f->tnext * 37u) % W_PAGE;
        f->data[at] = 0xee;
        f->wmask[at] = 1;
    }
    f->tnext++;
}

/* A node no container may go to (check_dst), -1: none. */
static int w_refused_dst = -1;
static int f_check_dst(void *c, int dst)
{
    (void)c;
    return dst == w_refused_dst ? UAREA_ENODEKIND : 0;
}

static const migrate_container_ops fake_ops = {
    .has_container = f_has, .freeze = f_freeze, .unfreeze = f_unfreeze,
    .image_begin = f_image_begin, .image_produce = f_produce, .drop = f_drop,
    .accept = f_accept, .restore_feed = f_feed, .restore_end = f_end,
    .discard = f_discard, .activate = f_activate, .precopy_begin = f_precopy,
    .precopy_next = f_precopy_next, .check_dst = f_check_dst,
};

static const migrate_container_ops fake_post_ops = {
    .has_container = f_has, .freeze = f_freeze, .unfreeze = f_unfreeze,
    .image_begin = f_image_begin, .image_produce = f_produce, .drop = f_drop,
    .accept = f_accept, .restore_feed = f_feed, .restore_end = f_end,
    .discard = f_discard, .activate = f_activate, .precopy_begin = f_precopy,
    .precopy_next = f_precopy_next, .check_dst = f_check_dst,
    .pages_produce = f_pages_produce, .postcopy_activate = f_post_activate,
    .pages_install = f_pages_install, .pages_wanted = f_pages_wanted,
    .pages_missing = f_pages_missing, .postcopy_fail = f_post_fail,
};

/* The ops the nodes of the next w_new get; the mode of their daemons. */
static const migrate_container_ops *w_ops = &fake_ops;
static int w_postcopy;

/* The container contents every test starts from on `node`. */
static void w_fill(world *w, int node, uint32_t len, uint32_t seed)
{
    fake *f = &w->f[node];
    uint32_t x = seed * 2654435761u + 1;
    f->has = 1;
    f->len = len;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        f->data[i] = (uint8_t)x;
        f->golden[i] = f->data[i];
    }
}

static UAREA_UNUSED int w_intact(const world *w, int node, uint32_t len, uint32_t seed)
{
    const fake *f = &w->f[node];
    uint32_t x = seed * 2654435761u + 1;
    if (f->len != len) return 0;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        if (f->data[i] != (uint8_t)x) return 0;
    }
    return 1;
}

/* Nodes (bit mask) whose daemons wait 50 ms instead of 2 ms. */
static unsigned w_slow_nodes;

static world *w_new(int nodes, const noc_loopback_faults *faults)
{
    world *w = calloc(1, sizeof *w);
    noc_loopback_desc desc = {.nodes = nodes};
    migrate_config cfg = {.timeout_ns = 2000000 /* 2 ms virtual */, .postcopy = w_postcopy};
    migrate_config slow = {.timeout_ns = 50000000 /* 50 ms virtual */, .postcopy = w_postcopy};
    if (faults) desc.faults = *faults;
    if (!w || noc_loopback_init(&w->lb, &desc) != 0) abort();
    w->nodes = nodes;
    for (int n = 0; n < nodes; n++) {
        w->f[n].node = n;
        w->f[n].binary_fp = W_BINARY_FP;
        if (noc_loopback_transport(&w->lb, n, &w->t[n]) != 0) abort();
        if (migrate_daemon_init(&w->d[n], &w->t[n], w_ops, &w->f[n],
                                (w_slow_nodes >> n) & 1 ? &slow : &cfg,
                                w->block[n], sizeof w->block[n]) != 0)
            abort();
    }
    return w;
}

/* A crashed node loses its container with its memory. */
static void w_notice_crashes(world *w)
{
    for (int n = 0; n < w->nodes; n++)
        if (!w->dead[n] && noc_loopback_alive(&w->lb, n) == 0) {
            w->dead[n] = 1;
            w->f[n].has = 0;
            w->f[n].frozen = 0;
        }
}

/* Runs until every daemon is idle and the fabric is quiet, or `limit_ns` of
 * virtual time passed. Returns 1 when it settled. */
static int w_run(world *w, uint64_t limit_ns)
{
    uint64_t end = noc_loopback_now(&w->lb) + limit_ns;
    while (noc_loopback_now(&w->lb) < end) {
        int did = 0, busy = 0;
        for (int n = 0; n < w->nodes; n++) {
            w_notice_crashes(w);
            if (w->dead[n]) continue;
            f_touch(&w->f[n]);
            int rc = migrate_daemon_step(&w->d[n]);
            if (rc > 0) did += rc;
            busy |= migrate_daemon_busy(&w->d[n]) || w->d[n].outbox.count > 0;
        }
        int s = noc_loopback_step(&w->lb);
        if (s > 0) did += s;
        w_notice_crashes(w);
        if (!did) {
            if (!busy && noc_loopback_in_flight(&w->lb) == 0) return 1;
            noc_loopback_advance(&w->lb, 100000); /* 0.1 ms */
        }
    }
    return 0;
}

static int w_live(const world *w, int *where)
{
    int live = 0;
    for (int n = 0; n < w->nodes; n++)
        if (!w->dead[n] && w->f[n].has && !w->f[n].frozen) {
            live++;
            if (where) *where = n;
        }
    return live;
}

static UAREA_UNUSED int w_frozen_copies(const world *w)
{
    int c = 0;
    for (int n = 0; n < w->nodes; n++)
        if (!w->dead[n] && w->f[n].has && w->f[n].frozen) c++;
    return c;
}

static void w_free(world *w) { free(w); }

/* Packets of a fault-free migration 0 -> 1 of a container of len bytes
 * (pre-copy when `precopy`): messages 0 -> 1, image chunks 0 -> 1, messages
 * 1 -> 0, and all sends of node 0 and of node 1. */
typedef struct w_counts { uint32_t m01, c01, m10, s0, s1; } w_counts;

static UAREA_UNUSED w_counts w_clean_counts(uint32_t len, uint32_t seed, int precopy)
{
    world *w = w_new(2, NULL);
    noc_loopback_stats a, b;
    w_counts c = {0, 0, 0, 0, 0};
    w_fill(w, 0, len, seed);
    w->f[0].precopy = w->f[1].precopy = precopy;
    if (migrate_daemon_start(&w->d[0], 1) != 0 || !w_run(w, 10000000000ull) ||
        noc_loopback_get_stats(&w->lb, 0, &a) != 0 || noc_loopback_get_stats(&w->lb, 1, &b) != 0)
        abort();
    c.m01 = (uint32_t)a.msgs_sent;
    c.c01 = (uint32_t)a.chunks_sent;
    c.m10 = (uint32_t)b.msgs_sent;
    c.s0 = (uint32_t)(a.msgs_sent + a.chunks_sent);
    c.s1 = (uint32_t)b.msgs_sent;
    w_free(w);
    return c;
}

/* Each fault kind on each packet of a clean migration (counts c), one run of
 * `one` apiece: messages both ways, image chunks from the source. */
typedef void (*w_fault_fn)(int fault, unsigned kind, int src, int dst, uint32_t nth, uint64_t arg);

static UAREA_UNUSED void w_every_fault(const w_counts *c, w_fault_fn one)
{
    static const int faults[] = {NOC_LB_DROP, NOC_LB_DUP, NOC_LB_DELAY, NOC_LB_CORRUPT};
    for (unsigned f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        for (uint32_t n = 1; n <= c->m01; n++) one(faults[f], NOC_LB_MAILBOX, 0, 1, n, 3);
        for (uint32_t n = 1; n <= c->m10; n++) one(faults[f], NOC_LB_MAILBOX, 1, 0, n, 77);
        for (uint32_t n = 1; n <= c->c01; n++) one(faults[f], NOC_LB_CHUNK, 0, 1, n, 4000);
    }
}

/* A crash of either node at each of its sends, one run of `one` apiece
 * (victim, send number, sends of the victim in a clean migration). */
static UAREA_UNUSED void w_every_crash(const w_counts *c, void (*one)(int, uint32_t, uint32_t))
{
    for (uint32_t n = 1; n <= c->s0; n++) one(0, n, c->s0);
    for (uint32_t n = 1; n <= c->s1; n++) one(1, n, c->s1);
}

#endif
