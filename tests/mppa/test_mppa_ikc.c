/* The MPPA-256 chip model (ports/mppa256/model/nanvix_model.h): Nanvix's IKC
 * calls with the chip's limits, between cluster processes booted by the test
 * (each test boots its own, reaps every one, and reads what they found from a
 * MAP_SHARED area mapped before the boot); cores, events, the counters, the
 * fault switch, and the launcher's calls (boot, wait with a time limit, a
 * cluster's death with its launcher); ikc_shm.h's own calls (attach on an
 * arena nobody formatted). */
#define UAREA_MPPA256_MODEL_IMPLEMENTATION
#include "nanvix_model.h"
#ifdef MPPA_IKC_STANDALONE
/* Built without Criterion (it cannot start under ThreadSanitizer here): the
 * same tests, each in a forked process, run by the main() at the end. */
#include <stdio.h>
#include <stdlib.h>
static void mppa_ikc_fail(int line, const char *what)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, line, what);
    _exit(1);
}
#define MPPA_IKC_A1(c, ...) do { if (!(c)) mppa_ikc_fail(__LINE__, #c); } while (0)
#define MPPA_IKC_A2(op, a, b, ...) do { if (!((a) op (b))) \
        mppa_ikc_fail(__LINE__, #a " " #op " " #b); } while (0)
#define cr_assert(...) MPPA_IKC_A1(__VA_ARGS__, ~)
#define cr_assert_eq(...) MPPA_IKC_A2(==, __VA_ARGS__, ~)
#define cr_assert_neq(...) MPPA_IKC_A2(!=, __VA_ARGS__, ~)
#define cr_assert_lt(...) MPPA_IKC_A2(<, __VA_ARGS__, ~)
#define cr_assert_gt(...) MPPA_IKC_A2(>, __VA_ARGS__, ~)
#define cr_assert_geq(...) MPPA_IKC_A2(>=, __VA_ARGS__, ~)
struct mppa_ikc_test { const char *name; void (*fn)(void); };
static struct mppa_ikc_test mppa_ikc_tests[32];
static int mppa_ikc_ntests;
#define MPPA_IKC_TEST(s, n, ...) static void s##_##n(void); \
    __attribute__((constructor)) static void s##_##n##_add(void) \
    { mppa_ikc_tests[mppa_ikc_ntests].name = #n; mppa_ikc_tests[mppa_ikc_ntests++].fn = s##_##n; } \
    static void s##_##n(void)
#define Test(...) MPPA_IKC_TEST(__VA_ARGS__, ~)
#define TestSuite(...) extern int mppa_ikc_suite
#if defined(__SANITIZE_THREAD__)
#  define MPPA_IKC_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MPPA_IKC_TSAN 1
#  endif
#endif
#ifdef MPPA_IKC_TSAN
/* A cluster ends with _exit, which skips ThreadSanitizer's exit status: stop
 * at the first report instead (status 66), so that a race fails the test. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "halt_on_error=1"; }
#endif
#else
#include <criterion/criterion.h>
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define E(x) (-(UAREA_MPPA256_##x))
#define NODES UAREA_MPPA256_NODES
#define MSG UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE
#define PIECE UAREA_MPPA256_KPORTAL_PIECE
#define WAIT_MS 20000   /* a cluster that takes longer has hung */
#define DEADLINE 10000  /* a blocking helper that takes longer fails */

/* What the clusters report, shared with the test's process. */
struct area {
    int fail_line[NODES];
    char fail_text[NODES][200];
    int flag[32];              /* hand-offs between clusters */
    long val[NODES][8];        /* values a cluster reports */
};
static struct area *sh;

static void setup(void)
{
    void *p = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    sh = p;
    cr_assert_eq(mppa_model_init(), 0);
    cr_assert_eq(mppa_model_init(), 0, "a second init changes nothing");
}

TestSuite(mppa_ikc, .init = setup, .timeout = 60);

/* ---- In a cluster -------------------------------------------------------- */
static void child_fail(int line, const char *what, long a, long b)
{
    int n = knode_get_num();
    if (n >= 0 && n < NODES) {
        sh->fail_line[n] = line;
        snprintf(sh->fail_text[n], sizeof sh->fail_text[n], "%s (%ld vs %ld)", what, a, b);
    }
    kprintf("check failed: line %d: %s (%ld vs %ld)", line, what, a, b);
    mppa_model_exit(1);
}
#define CHECK(c) do { if (!(c)) child_fail(__LINE__, #c, 0, 0); } while (0)
#define CHECK_EQ(a, b) do { long a_ = (long)(a), b_ = (long)(b); \
        if (a_ != b_) child_fail(__LINE__, #a " == " #b, a_, b_); } while (0)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void flag_set(int i) { __atomic_store_n(&sh->flag[i], 1, __ATOMIC_RELEASE); }

static void flag_wait(int i)
{
    long end = now_ms() + DEADLINE;
    while (!__atomic_load_n(&sh->flag[i], __ATOMIC_ACQUIRE)) {
        CHECK(now_ms() < end);
        nap_us(100);
    }
}

static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)((i * 131u + seed * 7919u) ^ (i >> 8) ^ (seed >> 3));
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = pat(seed, i);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != pat(seed, i)) return 0;
    return 1;
}

/* The blocking forms, as libnanvix builds them on the tries. */
static void mbx_send(int id, const void *buf, size_t n)
{
    long end = now_ms() + DEADLINE, r;
    while ((r = __kmailbox_awrite(id, buf, n)) == E(EAGAIN)) CHECK(now_ms() < end);
    CHECK_EQ(r, n);
    CHECK_EQ(kmailbox_wait(id), 0);
}

static void mbx_recv(int id, void *buf, size_t n)
{
    long end = now_ms() + DEADLINE, r;
    while ((r = __kmailbox_aread(id, buf, n)) == E(ENOMSG)) CHECK(now_ms() < end);
    CHECK_EQ(r, n);
    CHECK_EQ(kmailbox_wait(id), 0);
}

static void portal_send(int id, const void *buf, size_t n)
{
    long end = now_ms() + DEADLINE, r;
    while ((r = __kportal_awrite(id, buf, n)) == E(EACCES) || r == E(EBUSY)) CHECK(now_ms() < end);
    CHECK_EQ(r, n);
    CHECK_EQ(kportal_wait(id), 0);
}

static void portal_recv(int id, void *buf, size_t n)
{
    long end = now_ms() + DEADLINE, r;
    while ((r = __kportal_aread(id, buf, n)) == E(ENOMSG)) CHECK(now_ms() < end);
    CHECK_EQ(r, n);
    CHECK_EQ(kportal_wait(id), 0);
}

/* ---- In the test's process ---------------------------------------------- */
static long boot(int node, void (*master)(void))
{
    long pid = mppa_model_boot(node, master);
    cr_assert_gt(pid, 0, "boot node %d: %ld", node, pid);
    return pid;
}

static void reap_ok(int node, long pid)
{
    int st = mppa_model_wait(pid, WAIT_MS);
    if (st != 0)
        fprintf(stderr, "node %d ended with %d: line %d: %s\n", node, st, sh->fail_line[node],
                sh->fail_text[node]);
    cr_assert_eq(st, 0);
}

/* ===== Mailboxes ========================================================== */

/* Node 8 writes to node 9: sizes 0, 129 and a NULL buffer are refused, 128
 * and 1 pass; a read copies the first `size` bytes of the 128-byte frame. */
static void sizes_writer(void)
{
    unsigned char buf[MSG + 1];
    int out = kmailbox_open(9, 1);
    CHECK(out >= 0);
    fill(buf, sizeof buf, 1);
    CHECK_EQ(__kmailbox_awrite(out, buf, MSG + 1), E(EINVAL));
    CHECK_EQ(__kmailbox_awrite(out, buf, 0), E(EINVAL));
    CHECK_EQ(__kmailbox_awrite(out, NULL, 4), E(EINVAL));
    CHECK_EQ(kmailbox_wait(out), E(EBADF)); /* nothing started */
    mbx_send(out, buf, MSG);
    buf[0] = 0xa5;
    mbx_send(out, buf, 1);
    fill(buf, MSG, 3);
    mbx_send(out, buf, MSG);
    fill(buf, 50, 4);
    mbx_send(out, buf, 50);
    CHECK_EQ(kmailbox_close(out), 0);
}

static void sizes_reader(void)
{
    unsigned char buf[MSG + 1];
    int in = kmailbox_create(9, 1), i;
    CHECK(in >= 0);
    CHECK_EQ(__kmailbox_aread(in, buf, MSG + 1), E(EINVAL));
    CHECK_EQ(__kmailbox_aread(in, buf, 0), E(EINVAL));
    CHECK_EQ(__kmailbox_aread(in, NULL, 4), E(EINVAL));
    mbx_recv(in, buf, MSG);
    CHECK(same(buf, MSG, 1));
    memset(buf, 0x77, sizeof buf);
    mbx_recv(in, buf, MSG);                 /* 1 byte written, 128 read */
    CHECK_EQ(buf[0], 0xa5);
    for (i = 1; i < (int)MSG; i++) CHECK_EQ(buf[i], 0);
    CHECK_EQ(buf[MSG], 0x77);
    mbx_recv(in, buf, 16);                  /* 128 written, 16 read: the rest dropped */
    CHECK(same(buf, 16, 3));
    mbx_recv(in, buf, MSG);                 /* the next message is whole */
    CHECK(same(buf, 50, 4));
    for (i = 50; i < (int)MSG; i++) CHECK_EQ(buf[i], 0);
    CHECK_EQ(kmailbox_unlink(in), 0);
}

Test(mppa_ikc, mailbox_sizes_between_two_clusters)
{
    long a = boot(8, sizes_writer), b = boot(9, sizes_reader);
    reap_ok(8, a);
    reap_ok(9, b);
}

/* Nodes 8 and 10 write 100 messages each to one mailbox of node 9 (more than
 * its queue holds): each sender's arrive in order and intact. */
#define ORDER_N 100

static void order_writer(void)
{
    unsigned char buf[MSG];
    int me = knode_get_num(), out = kmailbox_open(9, 2), i;
    CHECK(out >= 0);
    for (i = 0; i < ORDER_N; i++) {
        size_t n = 8 + (size_t)(i * 37 + me) % (MSG - 7);
        fill(buf, n, (unsigned)(me * 1000 + i));
        buf[0] = (unsigned char)me;
        buf[1] = (unsigned char)i;
        buf[2] = (unsigned char)n;
        mbx_send(out, buf, n);
    }
}

static void order_reader(void)
{
    unsigned char buf[MSG];
    int in = kmailbox_create(9, 2), next[NODES] = {0}, i;
    CHECK(in >= 0);
    flag_set(0);
    for (i = 0; i < 2 * ORDER_N; i++) {
        int src, seq;
        size_t n, k;
        mbx_recv(in, buf, MSG);
        src = buf[0];
        seq = buf[1];
        n = buf[2];
        CHECK(src == 8 || src == 10);
        CHECK_EQ(seq, next[src]);
        next[src]++;
        for (k = 3; k < n; k++) CHECK_EQ(buf[k], pat((unsigned)(src * 1000 + seq), k));
        for (k = n; k < MSG; k++) CHECK_EQ(buf[k], 0);
        if (i == 10) nap_us(20000); /* let the queue fill up */
    }
    CHECK_EQ(next[8], ORDER_N);
    CHECK_EQ(next[10], ORDER_N);
    CHECK_EQ(__kmailbox_aread(in, buf, MSG), E(ENOMSG));
}

Test(mppa_ikc, mailbox_messages_arrive_in_order_and_intact_and_are_counted)
{
    mppa_model_counters c;
    long r, a, b;
    mppa_model_reset_stats();
    r = boot(9, order_reader);
    a = boot(8, order_writer);
    b = boot(10, order_writer);
    reap_ok(8, a);
    reap_ok(10, b);
    reap_ok(9, r);
    mppa_model_stats(8, &c);
    cr_assert_eq(c.mailbox_sent, ORDER_N);
    cr_assert_eq(c.mailbox_received, 0);
    mppa_model_stats(10, &c);
    cr_assert_eq(c.mailbox_sent, ORDER_N);
    mppa_model_stats(9, &c);
    cr_assert_eq(c.mailbox_received, 2 * ORDER_N);
    cr_assert_eq(c.mailbox_sent, 0);
    cr_assert_eq(c.portal_sent + c.portal_received + c.allows, 0);
    mppa_model_reset_stats();
    mppa_model_stats(9, &c);
    cr_assert_eq(c.mailbox_received, 0);
    mppa_model_stats(8, &c);
    cr_assert_eq(c.mailbox_sent, 0);
}

/* A mailbox not created yet, a full queue (32 messages), unlink with
 * messages queued, and a write after the unlink. */
static void bound_writer(void)
{
    unsigned char buf[MSG];
    int out = kmailbox_open(9, 3), i;
    CHECK(out >= 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(__kmailbox_awrite(out, buf, 8), E(EAGAIN)); /* not created yet */
    CHECK_EQ(kmailbox_wait(out), E(EBADF));
    flag_set(0);
    flag_wait(1);
    for (i = 0; i < MPPA_MODEL_MAILBOX_QUEUE; i++) {
        buf[0] = (unsigned char)i;
        CHECK_EQ(__kmailbox_awrite(out, buf, 8), 8);
        CHECK_EQ(kmailbox_wait(out), 0);
    }
    CHECK_EQ(__kmailbox_awrite(out, buf, 8), E(EAGAIN)); /* queue full */
    flag_set(2);
    flag_wait(3);
    CHECK_EQ(__kmailbox_awrite(out, buf, 8), E(EAGAIN)); /* unlinked */
}

static void bound_reader(void)
{
    unsigned char buf[MSG];
    int in, i;
    flag_wait(0);
    in = kmailbox_create(9, 3);
    CHECK(in >= 0);
    flag_set(1);
    flag_wait(2);
    CHECK_EQ(kmailbox_unlink(in), E(EBUSY));
    for (i = 0; i < MPPA_MODEL_MAILBOX_QUEUE; i++) {
        CHECK_EQ(__kmailbox_aread(in, buf, 8), 8);
        CHECK_EQ(buf[0], i);
    }
    CHECK_EQ(__kmailbox_aread(in, buf, 8), E(ENOMSG));
    CHECK_EQ(kmailbox_wait(in), E(EBADF));
    CHECK_EQ(kmailbox_unlink(in), 0);
    flag_set(3);
}

Test(mppa_ikc, mailbox_queue_bound_and_absent_mailbox)
{
    long a = boot(8, bound_writer), b = boot(9, bound_reader);
    reap_ok(8, a);
    reap_ok(9, b);
}

/* Every argument and id error in one cluster (node 8 writes to itself). */
static void mailbox_errors(void)
{
    unsigned char buf[MSG];
    int in, out, i, ids[64], n = 0;
    CHECK_EQ(knode_get_num(), 8);
    CHECK_EQ(kmailbox_create(9, 0), E(EINVAL));   /* not this node */
    CHECK_EQ(kmailbox_create(-1, 0), E(EINVAL));
    CHECK_EQ(kmailbox_create(8, -1), E(EINVAL));
    CHECK_EQ(kmailbox_create(8, 32), E(EINVAL));
    in = kmailbox_create(8, 0);
    CHECK(in >= 0);
    CHECK_EQ(kmailbox_create(8, 0), E(EBUSY));
    CHECK_EQ(kmailbox_open(-1, 0), E(EINVAL));
    CHECK_EQ(kmailbox_open(24, 0), E(EINVAL));
    CHECK_EQ(kmailbox_open(9, -1), E(EINVAL));
    CHECK_EQ(kmailbox_open(9, 32), E(EINVAL));
    out = kmailbox_open(8, 0);                     /* to itself */
    CHECK(out >= 0 && out != in);
    /* wrong direction */
    CHECK_EQ(kmailbox_unlink(out), E(EBADF));
    CHECK_EQ(kmailbox_close(in), E(EBADF));
    CHECK_EQ(__kmailbox_aread(out, buf, 8), E(EBADF));
    CHECK_EQ(__kmailbox_awrite(in, buf, 8), E(EBADF));
    /* ids out of range, and not in use */
    CHECK_EQ(kmailbox_unlink(-1), E(EINVAL));
    CHECK_EQ(kmailbox_close(64), E(EINVAL));
    CHECK_EQ(kmailbox_wait(64), E(EINVAL));
    CHECK_EQ(__kmailbox_aread(64, buf, 8), E(EINVAL));
    CHECK_EQ(__kmailbox_awrite(-1, buf, 8), E(EINVAL));
    CHECK_EQ(kmailbox_close(63), E(EBADF));
    CHECK_EQ(kmailbox_wait(63), E(EBADF));
    CHECK_EQ(__kmailbox_awrite(63, buf, 8), E(EBADF));
    /* wait completes a started try, once */
    CHECK_EQ(kmailbox_wait(out), E(EBADF));
    memset(buf, 0x3c, sizeof buf);
    CHECK_EQ(__kmailbox_awrite(out, buf, 8), 8);
    CHECK_EQ(kmailbox_wait(out), 0);
    CHECK_EQ(kmailbox_wait(out), E(EBADF));
    memset(buf, 0, sizeof buf);
    CHECK_EQ(__kmailbox_aread(in, buf, 8), 8);
    CHECK_EQ(buf[7], 0x3c);
    CHECK_EQ(kmailbox_wait(in), 0);
    CHECK_EQ(__kmailbox_aread(in, buf, 8), E(ENOMSG));
    CHECK_EQ(kmailbox_wait(in), E(EBADF));
    /* 64 ids per node: 31 more inputs, then outputs until none is left */
    for (i = 1; i < 32; i++) {
        int id = kmailbox_create(8, i);
        CHECK(id >= 0);
        ids[n++] = id;
    }
    while (n < 62) {
        int id = kmailbox_open(9, n % 32);
        CHECK(id >= 0);
        ids[n++] = id;
    }
    CHECK_EQ(kmailbox_open(9, 0), E(EAGAIN));
    CHECK_EQ(kmailbox_close(ids[40]), 0);
    CHECK_EQ(kmailbox_close(ids[40]), E(EBADF));
    ids[40] = kmailbox_open(9, 0);
    CHECK(ids[40] >= 0);
    CHECK_EQ(kmailbox_open(9, 0), E(EAGAIN));
    CHECK_EQ(kmailbox_unlink(ids[3]), 0);         /* frees id and port */
    i = kmailbox_create(8, 4);
    CHECK(i >= 0);
    CHECK_EQ(kmailbox_close(out), 0);
    CHECK_EQ(kmailbox_unlink(in), 0);
    CHECK_EQ(kmailbox_unlink(in), E(EBADF));
}

Test(mppa_ikc, mailbox_errors_and_id_exhaustion)
{
    /* the test's own process is no cluster */
    cr_assert_eq(knode_get_num(), -1);
    cr_assert_eq(core_get_id(), -1);
    cr_assert_eq(kmailbox_create(-1, 0), E(EINVAL));
    cr_assert_eq(kmailbox_open(8, 0), E(EINVAL));
    cr_assert_eq(kportal_create(-1, 0), E(EINVAL));
    cr_assert_eq(kportal_open(-1, 8, 0), E(EINVAL));
    reap_ok(8, boot(8, mailbox_errors));
}

/* ===== Portals ============================================================= */

static void portal_errors(void)
{
    unsigned char buf[PIECE + 1], got[PIECE];
    int in, out, out2, i, n, ids[64];
    CHECK_EQ(kportal_create(9, 0), E(EINVAL));
    CHECK_EQ(kportal_create(8, -1), E(EINVAL));
    CHECK_EQ(kportal_create(8, 32), E(EINVAL));
    in = kportal_create(8, 0);
    CHECK(in >= 0);
    CHECK_EQ(kportal_create(8, 0), E(EBUSY));
    /* a read without an allow */
    CHECK_EQ(__kportal_aread(in, got, 16), E(EACCES));
    CHECK_EQ(kportal_wait(in), E(EBADF));
    CHECK_EQ(kportal_allow(in, -1, 0), E(EINVAL));
    CHECK_EQ(kportal_allow(in, 24, 0), E(EINVAL));
    CHECK_EQ(kportal_allow(in, 8, -1), E(EINVAL));
    CHECK_EQ(kportal_allow(in, 8, 32), E(EINVAL));
    CHECK_EQ(kportal_allow(in, 8, 0), 0);
    CHECK_EQ(kportal_allow(in, 8, 0), E(EBUSY));  /* one pending */
    CHECK_EQ(kportal_allow(in, 9, 1), E(EBUSY));
    CHECK_EQ(__kportal_aread(in, got, 0), E(EINVAL));
    CHECK_EQ(__kportal_aread(in, got, PIECE + 1), E(EINVAL));
    CHECK_EQ(__kportal_aread(in, NULL, 16), E(EINVAL));
    CHECK_EQ(__kportal_aread(in, got, 16), E(ENOMSG)); /* allowed, not written */
    CHECK_EQ(kportal_open(9, 8, 0), E(EINVAL));   /* not this node */
    CHECK_EQ(kportal_open(8, 24, 0), E(EINVAL));
    CHECK_EQ(kportal_open(8, -1, 0), E(EINVAL));
    CHECK_EQ(kportal_open(8, 8, 32), E(EINVAL));
    out = kportal_open(8, 8, 0);                   /* to itself: its port is 0 */
    CHECK(out >= 0 && out != in);
    fill(buf, sizeof buf, 5);
    CHECK_EQ(__kportal_awrite(out, buf, PIECE + 1), E(EINVAL));
    CHECK_EQ(__kportal_awrite(out, buf, 0), E(EINVAL));
    CHECK_EQ(__kportal_awrite(out, NULL, 16), E(EINVAL));
    /* wrong direction, bad ids */
    CHECK_EQ(kportal_allow(out, 8, 0), E(EBADF));
    CHECK_EQ(__kportal_aread(out, got, 16), E(EBADF));
    CHECK_EQ(__kportal_awrite(in, buf, 16), E(EBADF));
    CHECK_EQ(kportal_unlink(out), E(EBADF));
    CHECK_EQ(kportal_close(in), E(EBADF));
    CHECK_EQ(kportal_close(64), E(EINVAL));
    CHECK_EQ(kportal_unlink(-1), E(EINVAL));
    CHECK_EQ(kportal_wait(-1), E(EINVAL));
    CHECK_EQ(kportal_allow(64, 8, 0), E(EINVAL));
    CHECK_EQ(kportal_allow(63, 8, 0), E(EBADF));
    CHECK_EQ(kportal_wait(out), E(EBADF));
    /* one piece into the slot; the next waits for it to be read */
    CHECK_EQ(__kportal_awrite(out, buf, 100), 100);
    CHECK_EQ(kportal_wait(out), 0);
    CHECK_EQ(kportal_wait(out), E(EBADF));
    CHECK_EQ(__kportal_awrite(out, buf, 100), E(EBUSY));
    CHECK_EQ(kportal_unlink(in), E(EBUSY));
    CHECK_EQ(__kportal_aread(in, got, 50), E(EINVAL)); /* not its size: the piece stays */
    CHECK_EQ(__kportal_aread(in, got, 100), 100);
    CHECK(same(got, 100, 5));
    CHECK_EQ(kportal_wait(in), 0);
    /* the allow was for that piece only */
    CHECK_EQ(__kportal_aread(in, got, 100), E(EACCES));
    CHECK_EQ(__kportal_awrite(out, buf, 100), E(EACCES));
    /* a second output portal to the same node gets port 1 */
    out2 = kportal_open(8, 8, 0);
    CHECK(out2 >= 0);
    CHECK_EQ(kportal_allow(in, 8, 1), 0);
    CHECK_EQ(__kportal_awrite(out, buf, 64), E(EACCES));
    fill(buf, 64, 6);
    CHECK_EQ(__kportal_awrite(out2, buf, 64), 64);
    CHECK_EQ(__kportal_aread(in, got, 64), 64);
    CHECK(same(got, 64, 6));
    /* 32 ports to one node; then ids run out (64 per node) */
    n = 0;
    for (i = 2; i < 32; i++) {
        ids[n] = kportal_open(8, 8, 0);
        CHECK(ids[n] >= 0);
        n++;
    }
    CHECK_EQ(kportal_open(8, 8, 0), E(EAGAIN));    /* ports */
    while (n < 61) {
        ids[n] = kportal_open(8, 9, 0);
        CHECK(ids[n] >= 0);
        n++;
    }
    CHECK_EQ(kportal_open(8, 10, 0), E(EAGAIN));   /* ids */
    CHECK_EQ(kportal_create(8, 1), E(EAGAIN));
    CHECK_EQ(kportal_close(ids[0]), 0);
    i = kportal_open(8, 10, 0);
    CHECK(i >= 0);
    CHECK_EQ(kportal_close(i), 0);
    CHECK_EQ(kportal_close(i), E(EBADF));
    CHECK_EQ(kportal_unlink(in), 0);
    CHECK_EQ(kportal_unlink(in), E(EBADF));
}

Test(mppa_ikc, portal_errors_allows_and_id_exhaustion)
{
    reap_ok(8, boot(8, portal_errors));
}

/* 64 KiB in 4 KiB pieces from node 8 to node 9, each piece with its own
 * allow, byte-exact; the counters on both sides. */
#define BIG (64u << 10)

static void big_sender(void)
{
    static unsigned char buf[BIG];
    unsigned i;
    int out = kportal_open(8, 9, 0);
    CHECK(out >= 0);
    fill(buf, BIG, 64);
    for (i = 0; i < BIG / PIECE; i++) portal_send(out, buf + i * PIECE, PIECE);
    CHECK_EQ(kportal_close(out), 0);
}

static void big_receiver(void)
{
    static unsigned char buf[BIG];
    unsigned i;
    int in = kportal_create(9, 0);
    CHECK(in >= 0);
    for (i = 0; i < BIG / PIECE; i++) {
        CHECK_EQ(kportal_allow(in, 8, 0), 0);
        portal_recv(in, buf + i * PIECE, PIECE);
    }
    CHECK(same(buf, BIG, 64));
    CHECK_EQ(kportal_unlink(in), 0);
}

Test(mppa_ikc, portal_64k_in_pieces_between_two_clusters_and_counters)
{
    mppa_model_counters c;
    long r = boot(9, big_receiver), s = boot(8, big_sender);
    reap_ok(8, s);
    reap_ok(9, r);
    mppa_model_stats(8, &c);
    cr_assert_eq(c.portal_sent, BIG / PIECE);
    cr_assert_eq(c.portal_bytes_sent, BIG);
    cr_assert_eq(c.portal_received + c.portal_bytes_received + c.allows, 0);
    cr_assert_eq(c.mailbox_sent + c.mailbox_received, 0);
    mppa_model_stats(9, &c);
    cr_assert_eq(c.portal_received, BIG / PIECE);
    cr_assert_eq(c.portal_bytes_received, BIG);
    cr_assert_eq(c.allows, BIG / PIECE);
    cr_assert_eq(c.portal_sent + c.portal_bytes_sent, 0);
    mppa_model_stats(24, &c);
    cr_assert_eq(c.portal_sent + c.allows, 0);
    mppa_model_reset_stats();
    mppa_model_stats(9, &c);
    cr_assert_eq(c.portal_received + c.portal_bytes_received + c.allows, 0);
}

/* Node 9 allows node 8; node 10 writes meanwhile and is refused, and its data
 * never lands; node 8's piece does. Then node 9 allows node 10. */
#define INTRUDER_TRIES 200

static void wrong_receiver(void)
{
    unsigned char got[PIECE];
    int in = kportal_create(9, 0);
    CHECK(in >= 0);
    CHECK_EQ(kportal_allow(in, 8, 0), 0);
    flag_set(0);
    flag_wait(1);                                 /* node 10 has tried */
    CHECK_EQ(__kportal_aread(in, got, PIECE), E(ENOMSG));
    flag_set(2);                                  /* node 8 may write */
    portal_recv(in, got, PIECE);
    CHECK(same(got, PIECE, 8));
    CHECK_EQ(kportal_allow(in, 10, 0), 0);
    portal_recv(in, got, PIECE);
    CHECK(same(got, PIECE, 10));
}

static void wrong_allowed(void)
{
    unsigned char buf[PIECE];
    int out = kportal_open(8, 9, 0);
    CHECK(out >= 0);
    fill(buf, PIECE, 8);
    flag_wait(2);
    portal_send(out, buf, PIECE);
}

static void wrong_intruder(void)
{
    unsigned char buf[PIECE];
    int out = kportal_open(10, 9, 0), i;
    long refused = 0;
    CHECK(out >= 0);
    fill(buf, PIECE, 10);
    flag_wait(0);
    for (i = 0; i < INTRUDER_TRIES; i++)
        if (__kportal_awrite(out, buf, PIECE) == E(EACCES)) refused++;
    sh->val[10][0] = refused;
    CHECK_EQ(kportal_wait(out), E(EBADF));
    flag_set(1);
    portal_send(out, buf, PIECE);                 /* once node 9 allows it */
}

Test(mppa_ikc, portal_writer_not_named_by_the_allow_is_refused)
{
    mppa_model_counters c;
    long r = boot(9, wrong_receiver), a = boot(8, wrong_allowed), x = boot(10, wrong_intruder);
    reap_ok(10, x);
    reap_ok(8, a);
    reap_ok(9, r);
    cr_assert_eq(sh->val[10][0], INTRUDER_TRIES);
    mppa_model_stats(10, &c);
    cr_assert_eq(c.portal_sent, 1, "only the allowed piece was sent");
}

/* The fault switch inverts exactly one byte of the next piece delivered. */
static void corrupt_sender(void)
{
    unsigned char buf[PIECE];
    int out = kportal_open(8, 9, 3);
    CHECK(out >= 0);
    fill(buf, PIECE, 1);
    portal_send(out, buf, PIECE);
    fill(buf, PIECE, 2);
    portal_send(out, buf, PIECE);
}

static void corrupt_receiver(void)
{
    unsigned char got[PIECE];
    unsigned p;
    int in = kportal_create(9, 3), i;
    CHECK(in >= 0);
    for (p = 1; p <= 2; p++) {
        long diffs = 0, at = -1;
        CHECK_EQ(kportal_allow(in, 8, 0), 0);
        portal_recv(in, got, PIECE);
        for (i = 0; i < (int)PIECE; i++)
            if (got[i] != pat(p, (size_t)i)) {
                diffs++;
                at = i;
                CHECK_EQ(got[i], pat(p, (size_t)i) ^ 0xffu);
            }
        sh->val[9][2 * p - 2] = diffs;
        sh->val[9][2 * p - 1] = at;
    }
}

Test(mppa_ikc, corrupt_switch_flips_exactly_one_byte_once)
{
    long r, s;
    mppa_model_corrupt_next_piece(9);
    mppa_model_corrupt_next_piece(24); /* no such node: nothing */
    r = boot(9, corrupt_receiver);
    s = boot(8, corrupt_sender);
    reap_ok(8, s);
    reap_ok(9, r);
    cr_assert_eq(sh->val[9][0], 1, "first piece: %ld bytes differ", sh->val[9][0]);
    cr_assert_eq(sh->val[9][1], PIECE / 2);
    cr_assert_eq(sh->val[9][2], 0, "second piece: %ld bytes differ", sh->val[9][2]);
}

/* ===== Cores, events, interrupts =========================================== */
static void slave_one(void)
{
    sh->val[8][1] = core_get_id();
    sh->val[8][2] = mppa_model_interrupts_enabled();
    flag_wait(4);            /* both notifies were sent before this wait */
    event_wait();
    event_wait();
    event_notify(0);
}

static void slave_two(void)
{
    sh->val[8][3] = core_get_id();
    event_notify(1);
}

static void slave_quick(void)
{
    sh->val[8][4] = core_get_id();
}

static void cores_master(void)
{
    CHECK_EQ(core_get_id(), 0);
    CHECK_EQ(knode_get_num(), 8);
    CHECK_EQ(core_start(0, slave_quick), E(EINVAL));
    CHECK_EQ(core_start(16, slave_quick), E(EINVAL));
    CHECK_EQ(core_start(-1, slave_quick), E(EINVAL));
    CHECK_EQ(core_start(1, NULL), E(EINVAL));
    interrupts_disable();
    interrupts_disable();
    CHECK_EQ(mppa_model_interrupts_enabled(), 0);
    CHECK_EQ(core_start(1, slave_one), 0);
    CHECK_EQ(core_start(1, slave_quick), E(EBUSY));
    interrupts_enable();
    CHECK_EQ(mppa_model_interrupts_enabled(), 0);
    interrupts_enable();
    CHECK_EQ(mppa_model_interrupts_enabled(), 1);
    interrupts_enable();     /* unmatched: stays enabled */
    CHECK_EQ(mppa_model_interrupts_enabled(), 1);
    event_notify(1);         /* core 1 is not waiting yet */
    CHECK_EQ(core_start(2, slave_two), 0);
    CHECK_EQ(mppa_model_core_join(2), 0);
    flag_set(4);
    event_wait();            /* core 1's notify */
    CHECK_EQ(mppa_model_core_join(1), 0);
    CHECK_EQ(mppa_model_core_join(1), -EINVAL);
    CHECK_EQ(mppa_model_core_join(3), -EINVAL);
    CHECK_EQ(mppa_model_core_join(0), -EINVAL);
    CHECK_EQ(core_start(1, slave_quick), 0);  /* free again */
    CHECK_EQ(mppa_model_core_join(1), 0);
    event_notify(99);        /* no such core: nothing */
    sh->val[8][0] = 1;
}

Test(mppa_ikc, cores_events_and_interrupts)
{
    reap_ok(8, boot(8, cores_master));
    cr_assert_eq(sh->val[8][0], 1);
    cr_assert_eq(sh->val[8][1], 1);
    cr_assert_eq(sh->val[8][2], 1, "a new core starts with interrupts enabled");
    cr_assert_eq(sh->val[8][3], 2);
    cr_assert_eq(sh->val[8][4], 1);
    cr_assert_eq(mppa_model_interrupts_enabled(), 1);
}

/* ===== Boot, wait, death ==================================================== */
static void hang_master(void)
{
    flag_set(0);
    for (;;) nap_us(10000);
}

static void exit7_master(void)
{
    sh->val[8][0] = knode_get_num();
    sh->val[8][1] = core_get_id();
    sh->val[8][2] = mppa_model_booted(8);
    mppa_model_exit(7);
}

static void exit3_master(void)
{
    exit(3);
}

static void killed_master(void)
{
    raise(SIGKILL);
}

static void quiet_master(void)
{
}

static void wait_flag_here(int i)
{
    long end = now_ms() + DEADLINE;
    while (!__atomic_load_n(&sh->flag[i], __ATOMIC_ACQUIRE)) {
        cr_assert_lt(now_ms(), end, "flag %d never set", i);
        nap_us(500);
    }
}

Test(mppa_ikc, boot_errors_exit_status_and_wait_timeout)
{
    long pid, t0;
    cr_assert_eq(mppa_model_boot(-1, quiet_master), -EINVAL);
    cr_assert_eq(mppa_model_boot(24, quiet_master), -EINVAL);
    cr_assert_eq(mppa_model_boot(8, NULL), -EINVAL);
    cr_assert_eq(mppa_model_booted(8), 0);
    cr_assert_eq(mppa_model_booted(-1), 0);

    pid = boot(8, hang_master);
    wait_flag_here(0);
    cr_assert_eq(mppa_model_booted(8), 1);
    cr_assert_eq(mppa_model_boot(8, quiet_master), -EBUSY);
    t0 = now_ms();
    cr_assert_eq(mppa_model_wait(pid, 200), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 199); /* now_ms() rounds down */
    cr_assert_lt(now_ms() - t0, 5000);
    cr_assert_eq(kill((pid_t)pid, 0), -1, "killed and reaped");
    cr_assert_eq(mppa_model_booted(8), 0);

    pid = boot(8, exit7_master);
    cr_assert_eq(mppa_model_wait(pid, WAIT_MS), 7);
    cr_assert_eq(sh->val[8][0], 8);
    cr_assert_eq(sh->val[8][1], 0);
    cr_assert_eq(sh->val[8][2], 1);
    cr_assert_eq(mppa_model_booted(8), 0);

    pid = boot(8, exit3_master);
    cr_assert_eq(mppa_model_wait(pid, WAIT_MS), 3);
    cr_assert_eq(mppa_model_booted(8), 0);

    pid = boot(8, killed_master);
    cr_assert_eq(mppa_model_wait(pid, WAIT_MS), 128 + SIGKILL);
    cr_assert_eq(mppa_model_booted(8), 0);

    pid = boot(9, quiet_master);
    cr_assert_eq(mppa_model_wait(pid, -1), 0);
    cr_assert_eq(mppa_model_wait(pid, 10), -ECHILD);
    cr_assert_eq(mppa_model_wait(0, 10), -EINVAL);
}

/* A process that ended on its own is seen as ended, even before its reaping;
 * the node can then boot again. */
Test(mppa_ikc, booted_follows_the_process)
{
    long pid = boot(8, hang_master), t0, pid2;
    wait_flag_here(0);
    cr_assert_eq(mppa_model_booted(8), 1);
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    t0 = now_ms();
    while (mppa_model_booted(8)) {
        cr_assert_lt(now_ms() - t0, DEADLINE);
        nap_us(1000);
    }
    pid2 = boot(8, quiet_master);
    cr_assert_eq(mppa_model_wait(pid, WAIT_MS), 128 + SIGKILL);
    cr_assert_eq(mppa_model_wait(pid2, WAIT_MS), 0);
}

/* A cluster dies with its launcher. */
static int gone(long pid)
{
    char path[64], line[256];
    FILE *f;
    int dead = 1;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) return 1;
    if (fgets(line, sizeof line, f) != NULL) {
        const char *p = strrchr(line, ')');
        dead = p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
    }
    fclose(f);
    return dead;
}

Test(mppa_ikc, a_cluster_dies_with_its_launcher)
{
    long t0;
    pid_t launcher = fork();
    int st = 0;
    cr_assert_neq(launcher, -1);
    if (launcher == 0) {
        long pid = mppa_model_boot(8, hang_master);
        long end = now_ms() + DEADLINE;
        if (pid <= 0) _exit(2);
        sh->val[0][0] = pid;
        while (!__atomic_load_n(&sh->flag[0], __ATOMIC_ACQUIRE))
            if (now_ms() > end) _exit(3);
            else nap_us(500);
        _exit(0);
    }
    cr_assert_eq(waitpid(launcher, &st, 0), launcher);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "launcher status %#x", st);
    cr_assert_gt(sh->val[0][0], 0);
    t0 = now_ms();
    while (!gone(sh->val[0][0])) {
        cr_assert_lt(now_ms() - t0, DEADLINE, "cluster %ld outlived its launcher", sh->val[0][0]);
        nap_us(1000);
    }
}

/* ===== ikc_shm.h: an arena nobody formatted ================================= */
/* Two clusters that are only forked processes attach to a zero-filled file,
 * as bare-metal clusters attach to a shared region that no one formats, and
 * talk over it: a message 8 -> 9, a portal piece 9 -> 8. */
static void *zero_arena;

static void zero_node8(void)
{
    unsigned char buf[MSG], got[PIECE];
    ikc_shm_counters_t c;
    int out, in;
    CHECK_EQ(ikc_shm_attach(zero_arena, IKC_SHM_ARENA_SIZE, 8), 0);
    CHECK_EQ(knode_get_num(), 8);
    CHECK_EQ(ikc_shm_self(), 8);
    out = kmailbox_open(9, 5);
    CHECK(out >= 0);
    fill(buf, MSG, 77);
    CHECK_EQ(__kmailbox_awrite(out, buf, MSG), E(EAGAIN)); /* not created yet */
    flag_set(0);
    mbx_send(out, buf, MSG);
    in = kportal_create(8, 2);
    CHECK(in >= 0);
    CHECK_EQ(kportal_allow(in, 9, 0), 0);
    portal_recv(in, got, PIECE);
    CHECK(same(got, PIECE, 78));
    ikc_shm_counters(8, &c);
    sh->val[8][0] = (long)c.mailbox_sent;
    sh->val[8][1] = (long)c.portal_received;
    sh->val[8][2] = (long)c.allows;
    /* detached: no node, no id, no arena */
    ikc_shm_detach();
    CHECK_EQ(ikc_shm_self(), -1);
    CHECK_EQ(knode_get_num(), -1);
    CHECK_EQ(kmailbox_open(9, 5), E(EINVAL));
    CHECK_EQ(kportal_unlink(in), E(EBADF));
    ikc_shm_counters(8, &c);
    CHECK_EQ(c.mailbox_sent, 0);
}

static void zero_node9(void)
{
    unsigned char buf[PIECE];
    ikc_shm_counters_t c;
    int in, out;
    CHECK_EQ(ikc_shm_attach(zero_arena, IKC_SHM_ARENA_SIZE, 9), 0);
    flag_wait(0);
    in = kmailbox_create(9, 5);
    CHECK(in >= 0);
    mbx_recv(in, buf, MSG);
    CHECK(same(buf, MSG, 77));
    out = kportal_open(9, 8, 2);
    CHECK(out >= 0);
    fill(buf, PIECE, 78);
    portal_send(out, buf, PIECE);
    ikc_shm_counters(9, &c);
    sh->val[9][0] = (long)c.mailbox_received;
    sh->val[9][1] = (long)c.portal_sent;
    sh->val[9][2] = (long)c.portal_bytes_sent;
}

/* A model cluster: one message to itself, over the model's arena. */
static void self_message(void)
{
    unsigned char buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int in = kmailbox_create(10, 0), out = kmailbox_open(10, 0);
    CHECK(in >= 0 && out >= 0);
    mbx_send(out, buf, sizeof buf);
    mbx_recv(in, buf, sizeof buf);
}

static long bare_cluster(void (*fn)(void))
{
    pid_t pid;
    fflush(NULL);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fn();
        _exit(0);
    }
    return (long)pid;
}

Test(mppa_ikc, shm_attach_checks_and_an_arena_nobody_formatted)
{
    mppa_model_counters c;
    FILE *f = tmpfile();
    long a, b;
    cr_assert_neq(f, NULL);
    cr_assert_eq(ftruncate(fileno(f), (off_t)IKC_SHM_ARENA_SIZE), 0); /* zeros */
    zero_arena = mmap(NULL, IKC_SHM_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(f), 0);
    cr_assert_neq(zero_arena, MAP_FAILED);
    /* refused: nothing changes (the launcher still watches the model's arena) */
    cr_assert_eq(ikc_shm_attach(NULL, IKC_SHM_ARENA_SIZE, 8), E(EINVAL));
    cr_assert_eq(ikc_shm_attach(zero_arena, IKC_SHM_ARENA_SIZE - 1, 8), E(EINVAL));
    cr_assert_eq(ikc_shm_attach(zero_arena, 0, 8), E(EINVAL));
    cr_assert_eq(ikc_shm_attach(zero_arena, IKC_SHM_ARENA_SIZE, -1), E(EINVAL));
    cr_assert_eq(ikc_shm_attach(zero_arena, IKC_SHM_ARENA_SIZE, NODES), E(EINVAL));
    cr_assert_eq(ikc_shm_attach((char *)zero_arena + 4, IKC_SHM_ARENA_SIZE, 8), E(EINVAL));
    cr_assert_eq(ikc_shm_monitor(NULL, IKC_SHM_ARENA_SIZE), E(EINVAL));
    cr_assert_eq(ikc_shm_monitor(zero_arena, IKC_SHM_ARENA_SIZE - 1), E(EINVAL));
    cr_assert_eq(ikc_shm_self(), -1);
    cr_assert_eq(knode_get_num(), -1);
    reap_ok(10, boot(10, self_message));
    mppa_model_stats(10, &c);
    cr_assert_eq(c.mailbox_sent, 1);
    cr_assert_eq(c.mailbox_received, 1);

    a = bare_cluster(zero_node8);
    b = bare_cluster(zero_node9);
    reap_ok(8, a);
    reap_ok(9, b);
    cr_assert_eq(sh->val[8][0], 1);
    cr_assert_eq(sh->val[8][1], 1);
    cr_assert_eq(sh->val[8][2], 1);
    cr_assert_eq(sh->val[9][0], 1);
    cr_assert_eq(sh->val[9][1], 1);
    cr_assert_eq(sh->val[9][2], PIECE);
    /* none of it went through the model's arena */
    mppa_model_stats(8, &c);
    cr_assert_eq(c.mailbox_sent + c.portal_received + c.allows, 0);
    mppa_model_stats(9, &c);
    cr_assert_eq(c.mailbox_received + c.portal_sent, 0);
    munmap(zero_arena, IKC_SHM_ARENA_SIZE);
    fclose(f);
}

/* ===== Console and clock ===================================================== */
static void console_master(void)
{
    char big[700];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    kprintf("from %s %d\n", "eight", 8);
    kprintf("%s", big);
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) n += (size_t)r;
    return n;
}

Test(mppa_ikc, kprintf_lines_and_clock)
{
    int fds[2], saved;
    char out[2048];
    size_t n;
    long pid;
    uint64_t c0, c1;
    struct timespec ts = {0, 20000000};

    cr_assert_eq(pipe(fds), 0);
    saved = dup(2);
    cr_assert_geq(saved, 0);
    fflush(stderr);
    cr_assert_eq(dup2(fds[1], 2), 2);
    kprintf("hello %d", 42);
    pid = mppa_model_boot(8, console_master);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    cr_assert_gt(pid, 0);
    cr_assert_eq(mppa_model_wait(pid, WAIT_MS), 0);
    n = read_all(fds[0], out, sizeof out - 1);
    close(fds[0]);
    out[n] = '\0';
    cr_assert_eq(n, 19 + 22 + 511, "%zu bytes: %s", n, out);
    cr_assert_eq(strncmp(out, "[node -1] hello 42\n", 19), 0, "%s", out);
    cr_assert_eq(strncmp(out + 19, "[node 8] from eight 8\n", 22), 0, "%s", out + 19);
    cr_assert_eq(strncmp(out + 41, "[node 8] xxx", 12), 0, "%s", out + 41);
    cr_assert_eq(out[n - 1], '\n');

    c0 = clock_read();
    nanosleep(&ts, NULL);
    c1 = clock_read();
    cr_assert_geq(c1 - c0, 8000000u, "20 ms is 8e6 cycles at 400 MHz: %llu",
                  (unsigned long long)(c1 - c0));
    cr_assert_lt(c1 - c0, 400000000u);
}

#ifdef MPPA_IKC_STANDALONE
/* Each test in a process of its own (as Criterion runs them), 60 s at most;
 * an argument runs only the tests whose name contains it. */
int main(int argc, char **argv)
{
    int i, failed = 0;
    for (i = 0; i < mppa_ikc_ntests; i++) {
        pid_t pid;
        int st = 0;
        if (argc > 1 && strstr(mppa_ikc_tests[i].name, argv[1]) == NULL) continue;
        fflush(NULL);
        pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            alarm(60);
            setup();
            mppa_ikc_tests[i].fn();
            _exit(0);
        }
        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR) return 2;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            printf("[PASS] %s\n", mppa_ikc_tests[i].name);
        } else {
            printf("[FAIL] %s (status %#x)\n", mppa_ikc_tests[i].name, st);
            failed++;
        }
    }
    printf("%d of %d tests failed\n", failed, mppa_ikc_ntests);
    return failed != 0;
}
#endif
