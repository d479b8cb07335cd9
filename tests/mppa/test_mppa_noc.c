#define _GNU_SOURCE 1   /* the chip model (a host program) uses Linux calls */
/* The MPPA-256 port's transport (ports/mppa256/include/uarea_mppa256/noc_ikc.h)
 * through the noc/noc.h calls, between cluster processes of the chip model:
 * messages whole and in order with the sender the binding saw, a message
 * kept when the read is too small, portal transfers in 4 KiB pieces each
 * allowed, the allow's rules, one output portal at a time, a writer that
 * names another port, a read smaller than the transfer, a canceled read
 * whose IKC allow is withdrawn by recreating the portal, and timeouts. */
#define UAREA_IMPLEMENTATION
#include <uarea_mppa256.h>
#define UAREA_MPPA256_MODEL_IMPLEMENTATION
#include "nanvix_model.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define A 8
#define B 9
#define C 10
#define T_MS 5000000000ll   /* a wait that takes longer has hung */

struct area {
    volatile int step[24];      /* hand-offs: node n reached step[n] */
    int line[24];               /* where a cluster's check failed, 0: none */
};
static struct area *sh;

/* A failed check in a cluster: its line, and the cluster ends with 1. */
static void failed(int line)
{
    unsigned me = (unsigned)knode_get_num();
    if (me < 24u) sh->line[me] = line;
    mppa_model_exit(1);
}
#define CHECK(c) do { if (!(c)) failed(__LINE__); } while (0)

static void await(int node, int step)
{
    for (int i = 0; i < 200000 && __atomic_load_n(&sh->step[node], __ATOMIC_ACQUIRE) < step; i++)
        usleep(50);
    CHECK(__atomic_load_n(&sh->step[node], __ATOMIC_ACQUIRE) >= step);
}

static void reach(int step)
{
    unsigned me = (unsigned)knode_get_num();
    if (me < 24u) __atomic_store_n(&sh->step[me], step, __ATOMIC_RELEASE);
}

static uarea_mppa256_noc noc;
static noc_transport t;
static unsigned char big[3 * 4096 + 100], got[sizeof big];

static void setup(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    cr_assert_eq(mppa_model_init(), 0);
}

static void boot_and_reap(void (*a)(void), void (*b)(void), void (*c)(void))
{
    long pa = mppa_model_boot(A, a), pb = mppa_model_boot(B, b), pc = c ? mppa_model_boot(C, c) : 0;
    int sa = mppa_model_wait(pa, 20000), sb = mppa_model_wait(pb, 20000);
    int sc = c ? mppa_model_wait(pc, 20000) : 0;
    cr_assert_eq(sa, 0, "cluster %d: status %d, check at line %d", A, sa, sh->line[A]);
    cr_assert_eq(sb, 0, "cluster %d: status %d, check at line %d", B, sb, sh->line[B]);
    cr_assert_eq(sc, 0, "cluster %d: status %d, check at line %d", C, sc, sh->line[C]);
}

static void start(void) { CHECK(uarea_mppa256_noc_init(&noc, &t, NULL) == 0); }

TestSuite(mppa_noc, .init = setup);

/* ---- mailboxes ---- */
static void mbx_reader(void)
{
    char buf[NOC_MAILBOX_MSG_SIZE], small[4];
    int in, i;
    start();
    CHECK(noc_self(&t) == B && noc_count(&t) == 24);
    CHECK((in = noc_mailbox_create(&t, 3)) >= 0);
    CHECK(noc_mailbox_create(&t, 3) == UAREA_EPORTINUSE);
    CHECK(noc_mailbox_sender(&t, in) == UAREA_ESTATE);
    reach(1);
    /* nothing yet: a zero timeout fails at once */
    for (i = 0; i < 50; i++) {
        char m[NOC_MAILBOX_MSG_SIZE];
        int n = noc_mailbox_read(&t, in, m, sizeof m, T_MS);
        CHECK(n == 10);
        CHECK(m[0] == (char)i && m[9] == (char)(i ^ 0x5a));
        CHECK(noc_mailbox_sender(&t, in) == A);
    }
    /* too small a buffer: the message stays for the next read */
    CHECK(noc_mailbox_read(&t, in, small, sizeof small, T_MS) == UAREA_EMSGSIZE);
    CHECK(noc_mailbox_read(&t, in, buf, sizeof buf, T_MS) == NOC_MAILBOX_MSG_SIZE);
    CHECK(buf[0] == 'L' && buf[NOC_MAILBOX_MSG_SIZE - 1] == 'z');
    CHECK(noc_mailbox_read(&t, in, buf, sizeof buf, 0) == UAREA_EAGAIN);
    CHECK(noc_mailbox_read(&t, in, buf, sizeof buf, 2000000) == UAREA_ETIMEDOUT);
    CHECK(noc_mailbox_unlink(&t, in) == 0);
    uarea_mppa256_noc_fini(&noc);
}

static void mbx_writer(void)
{
    char m[NOC_MAILBOX_MSG_SIZE + 1];
    int out, i;
    start();
    await(B, 1);
    CHECK((out = noc_mailbox_open(&t, B, 3)) >= 0);
    CHECK(noc_mailbox_open(&t, 24, 3) == UAREA_EBADNODE);
    CHECK(noc_mailbox_write(&t, out, m, NOC_MAILBOX_MSG_SIZE + 1, T_MS) == UAREA_EMSGSIZE);
    for (i = 0; i < 50; i++) {
        memset(m, 0, sizeof m);
        m[0] = (char)i;
        m[9] = (char)(i ^ 0x5a);
        CHECK(noc_mailbox_write(&t, out, m, 10, T_MS) == 10);
    }
    memset(m, 'L', NOC_MAILBOX_MSG_SIZE);
    m[NOC_MAILBOX_MSG_SIZE - 1] = 'z';
    CHECK(noc_mailbox_write(&t, out, m, NOC_MAILBOX_MSG_SIZE, T_MS) == NOC_MAILBOX_MSG_SIZE);
    CHECK(noc_mailbox_close(&t, out) == 0);
    CHECK(noc_mailbox_close(&t, out) == UAREA_EBADHANDLE);
    uarea_mppa256_noc_fini(&noc);
}

Test(mppa_noc, mailboxes_carry_whole_messages_in_order)
{
    boot_and_reap(mbx_writer, mbx_reader, NULL);
}

/* ---- portals ---- */
static void ptl_reader(void)
{
    int in, n;
    start();
    CHECK((in = noc_portal_create(&t, 5)) >= 0);
    CHECK(noc_portal_aread(&t, in, got, sizeof got) == UAREA_ENOTALLOWED);
    /* a transfer in pieces, each allowed on IKC */
    CHECK(noc_portal_allow(&t, in, A, 2) == 0);
    reach(1);
    n = noc_portal_read(&t, in, got, sizeof got, T_MS);
    CHECK(n == (int)sizeof big);
    for (n = 0; n < (int)sizeof big; n++) CHECK(got[n] == (unsigned char)(n * 7 + 1));
    /* a writer naming another port than the allow: refused, nothing lands */
    memset(got, 0, sizeof got);
    CHECK(noc_portal_allow(&t, in, A, 2) == 0);
    reach(2);
    CHECK(noc_portal_read(&t, in, got, sizeof got, T_MS) == UAREA_EPROTO);
    CHECK(got[0] == 0);
    /* a read smaller than the transfer: refused here after the pieces drained */
    CHECK(noc_portal_allow(&t, in, A, 2) == 0);
    reach(3);
    CHECK(noc_portal_read(&t, in, got, 100, T_MS) == UAREA_EMSGSIZE);
    /* a read canceled with its IKC allow out (A writes nothing): the portal
     * is made again, and C's transfer then comes through */
    CHECK(noc_portal_allow(&t, in, A, 2) == 0);
    CHECK(noc_portal_read(&t, in, got, sizeof got, 3000000) == UAREA_ETIMEDOUT);
    await(C, 1);                 /* C has seen that nobody allows it yet */
    CHECK(noc_portal_allow(&t, in, C, 4) == 0);
    reach(4);
    CHECK(noc_portal_read(&t, in, got, sizeof got, T_MS) == 5000);
    CHECK(got[4999] == 0xc5);
    CHECK(noc_portal_unlink(&t, in) == 0);
    uarea_mppa256_noc_fini(&noc);
}

static void ptl_writer(void)
{
    int out, out2, n;
    start();
    for (n = 0; n < (int)sizeof big; n++) big[n] = (unsigned char)(n * 7 + 1);
    CHECK((out = noc_portal_open(&t, 2, B, 5)) >= 0);
    /* one output portal at a time: the receiver knows its IKC port */
    CHECK(noc_portal_open(&t, 3, C, 5) == UAREA_ETOOMANY);
    await(B, 1);
    CHECK(noc_portal_write(&t, out, big, sizeof big, T_MS) == (int)sizeof big);
    CHECK(noc_portal_close(&t, out) == 0);
    CHECK((out2 = noc_portal_open(&t, 7, B, 5)) >= 0);   /* port 7: not the allowed 2 */
    await(B, 2);
    CHECK(noc_portal_write(&t, out2, big, 64, T_MS) == 64);
    CHECK(noc_portal_close(&t, out2) == 0);
    CHECK((out = noc_portal_open(&t, 2, B, 5)) >= 0);
    await(B, 3);
    CHECK(noc_portal_write(&t, out, big, sizeof big, T_MS) == (int)sizeof big);
    CHECK(noc_portal_close(&t, out) == 0);
    await(B, 4);
    uarea_mppa256_noc_fini(&noc);
}

static void ptl_third(void)
{
    static unsigned char d[5000];
    int out;
    start();
    memset(d, 0xc5, sizeof d);
    CHECK((out = noc_portal_open(&t, 4, B, 5)) >= 0);
    /* nobody allows C yet: a zero timeout fails at once */
    CHECK(noc_portal_write(&t, out, d, sizeof d, 0) == UAREA_ENOTALLOWED);
    reach(1);
    await(B, 4);
    CHECK(noc_portal_write(&t, out, d, sizeof d, T_MS) == (int)sizeof d);
    CHECK(noc_portal_close(&t, out) == 0);
    uarea_mppa256_noc_fini(&noc);
}

Test(mppa_noc, portals_move_pieces_under_the_allows)
{
    mppa_model_counters c;
    boot_and_reap(ptl_writer, ptl_reader, ptl_third);
    mppa_model_stats(B, &c);
    /* two transfers of 12,388 bytes (a header and 4 pieces each), one of 64
     * (a header and 1), one of 5000 (a header and 2): 15 pieces, each with
     * its own allow, and one allow more for the canceled read */
    cr_assert_eq(c.portal_received, 15, "received %llu pieces", (unsigned long long)c.portal_received);
    cr_assert_eq(c.allows, 16, "%llu allows", (unsigned long long)c.allows);
}
