/* The dispatch layer of noc/noc.h on its own: argument checks that never
 * reach a transport, missing ops, the default transport, and how the
 * synchronous forms map a wait's timeout and the cancel that follows. A
 * small fake transport records every call and returns scripted values. */
#define UAREA_IMPLEMENTATION
#include <noc/noc.h>
#include <criterion/criterion.h>
#include <string.h>

/* ---- the fake transport ---- */
enum {
    F_SELF, F_NODES, F_MCREATE, F_MOPEN, F_MUNLINK, F_MCLOSE, F_MAREAD, F_MAWRITE, F_MWAIT,
    F_MCANCEL, F_PCREATE, F_PALLOW, F_POPEN, F_PUNLINK, F_PCLOSE, F_PAREAD, F_PAWRITE, F_PWAIT,
    F_PCANCEL, F_CLOCK, F_GONE, F_SENDER, F_WBUF, F_WDONE, F_RBUF, F_RDONE, F_COUNT
};

typedef struct fake {
    int calls[F_COUNT];
    int ret[F_COUNT];          /* what each op returns */
    int last_a, last_b, last_c;
    int64_t last_timeout;
    size_t last_size;
    const void *last_buf;
    int nodes;                 /* returned by nodes() */
} fake;

static fake F;

static int total_calls(void)
{
    int i, n = 0;
    for (i = 0; i < F_COUNT; i++)
        if (i != F_NODES) n += F.calls[i];
    return n;
}

#define REC(op) (F.calls[op]++)
static int f_self(void *c) { (void)c; REC(F_SELF); return F.ret[F_SELF]; }
static int f_nodes(void *c) { (void)c; REC(F_NODES); return F.nodes; }
static int f_mcreate(void *c, int port) { (void)c; REC(F_MCREATE); F.last_a = port; return F.ret[F_MCREATE]; }
static int f_mopen(void *c, int node, int port)
{ (void)c; REC(F_MOPEN); F.last_a = node; F.last_b = port; return F.ret[F_MOPEN]; }
static int f_munlink(void *c, int h) { (void)c; REC(F_MUNLINK); F.last_a = h; return F.ret[F_MUNLINK]; }
static int f_mclose(void *c, int h) { (void)c; REC(F_MCLOSE); F.last_a = h; return F.ret[F_MCLOSE]; }
static int f_maread(void *c, int h, void *b, size_t s)
{ (void)c; REC(F_MAREAD); F.last_a = h; F.last_buf = b; F.last_size = s; return F.ret[F_MAREAD]; }
static int f_mawrite(void *c, int h, const void *b, size_t s)
{ (void)c; REC(F_MAWRITE); F.last_a = h; F.last_buf = b; F.last_size = s; return F.ret[F_MAWRITE]; }
static int f_mwait(void *c, int h, int64_t t)
{ (void)c; REC(F_MWAIT); F.last_a = h; F.last_timeout = t; return F.ret[F_MWAIT]; }
static int f_mcancel(void *c, int h) { (void)c; REC(F_MCANCEL); F.last_a = h; return F.ret[F_MCANCEL]; }
static int f_pcreate(void *c, int port) { (void)c; REC(F_PCREATE); F.last_a = port; return F.ret[F_PCREATE]; }
static int f_pallow(void *c, int h, int node, int port)
{ (void)c; REC(F_PALLOW); F.last_a = h; F.last_b = node; F.last_c = port; return F.ret[F_PALLOW]; }
static int f_popen(void *c, int lp, int node, int port)
{ (void)c; REC(F_POPEN); F.last_a = lp; F.last_b = node; F.last_c = port; return F.ret[F_POPEN]; }
static int f_punlink(void *c, int h) { (void)c; REC(F_PUNLINK); F.last_a = h; return F.ret[F_PUNLINK]; }
static int f_pclose(void *c, int h) { (void)c; REC(F_PCLOSE); F.last_a = h; return F.ret[F_PCLOSE]; }
static int f_paread(void *c, int h, void *b, size_t s)
{ (void)c; REC(F_PAREAD); F.last_a = h; F.last_buf = b; F.last_size = s; return F.ret[F_PAREAD]; }
static int f_pawrite(void *c, int h, const void *b, size_t s)
{ (void)c; REC(F_PAWRITE); F.last_a = h; F.last_buf = b; F.last_size = s; return F.ret[F_PAWRITE]; }
static int f_pwait(void *c, int h, int64_t t)
{ (void)c; REC(F_PWAIT); F.last_a = h; F.last_timeout = t; return F.ret[F_PWAIT]; }
static int f_pcancel(void *c, int h) { (void)c; REC(F_PCANCEL); F.last_a = h; return F.ret[F_PCANCEL]; }
static uint64_t f_clock(void *c) { (void)c; REC(F_CLOCK); return 123456789u; }
static int f_gone(void *c, int n) { (void)c; REC(F_GONE); F.last_a = n; return F.ret[F_GONE]; }
static int f_sender(void *c, int h) { (void)c; REC(F_SENDER); F.last_a = h; return F.ret[F_SENDER]; }

static unsigned char fake_area[64];
static int f_wbuf(void *c, int h, void **b, size_t *s)
{
    (void)c; REC(F_WBUF); F.last_a = h;
    if (F.ret[F_WBUF] == 0) { *b = fake_area; *s = sizeof fake_area; }
    return F.ret[F_WBUF];
}
static int f_wdone(void *c, int h, size_t n)
{ (void)c; REC(F_WDONE); F.last_a = h; F.last_size = n; return F.ret[F_WDONE]; }

static int f_rbuf(void *c, int h, const void **b, size_t *s)
{
    (void)c; REC(F_RBUF); F.last_a = h;
    if (F.ret[F_RBUF] == 0) { *b = fake_area; *s = 9; }
    return F.ret[F_RBUF];
}
static int f_rdone(void *c, int h) { (void)c; REC(F_RDONE); F.last_a = h; return F.ret[F_RDONE]; }

static const struct noc_ops fake_ops = {
    f_self, f_nodes, f_mcreate, f_mopen, f_munlink, f_mclose, f_maread, f_mawrite, f_mwait,
    f_mcancel, f_pcreate, f_pallow, f_popen, f_punlink, f_pclose, f_paread, f_pawrite, f_pwait,
    f_pcancel, f_clock, f_gone, f_sender, f_wbuf, f_wdone, f_rbuf, f_rdone,
};

static noc_transport T;

static void setup(void)
{
    memset(&F, 0, sizeof F);
    F.nodes = 4;
    F.ret[F_SELF] = 2;
    T.ops = &fake_ops;
    T.ctx = &F;
    noc_set_default(NULL);
}

TestSuite(noc_api, .init = setup);

/* ---- argument checks: a bad argument never reaches the transport ---- */
Test(noc_api, null_transport_is_einval)
{
    char b[4] = "abc";
    cr_assert_eq(noc_self(NULL), UAREA_EINVAL);
    cr_assert_eq(noc_count(NULL), UAREA_EINVAL);
    cr_assert_eq(noc_clock_ns(NULL), 0u);
    cr_assert_eq(noc_mailbox_create(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_open(NULL, 0, 0), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_aread(NULL, 0, b, 1), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_read(NULL, 0, b, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_portal_create(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(noc_portal_write(NULL, 0, b, 1, 0), UAREA_EINVAL);
    cr_assert_eq(total_calls(), 0);
}

Test(noc_api, bad_ports_nodes_handles_sizes_stop_in_the_dispatch)
{
    char b[8];
    static char big[NOC_PORTAL_MAX_SIZE + 1];
    cr_assert_eq(noc_mailbox_create(&T, -1), UAREA_EBADPORT);
    cr_assert_eq(noc_mailbox_create(&T, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_mailbox_open(&T, -1, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_mailbox_open(&T, 4, 0), UAREA_EBADNODE);      /* F.nodes == 4 */
    cr_assert_eq(noc_mailbox_open(&T, 3, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_mailbox_unlink(&T, -1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_close(&T, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_aread(&T, 0, NULL, 4), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_aread(&T, 0, b, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_awrite(&T, 0, b, NOC_MAILBOX_MSG_SIZE + 1), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_awrite(&T, -3, b, 1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_wait(&T, 0, -2), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_wait(&T, NOC_OPEN_MAX, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_cancel(&T, -1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_read(&T, 0, b, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_write(&T, 0, NULL, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_portal_create(&T, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_allow(&T, -1, 0, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_allow(&T, 0, 9, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_portal_allow(&T, 0, 0, -1), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_open(&T, -1, 0, 0), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_open(&T, 0, 4, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_portal_open(&T, 0, 0, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_unlink(&T, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_close(&T, -1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_aread(&T, 0, b, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_aread(&T, 0, NULL, 1), UAREA_EINVAL);
    cr_assert_eq(noc_portal_awrite(&T, 0, big, sizeof big), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_wait(&T, 0, INT64_MIN), UAREA_EINVAL);
    cr_assert_eq(noc_portal_poll(&T, -1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_cancel(&T, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_read(&T, 0, b, NOC_PORTAL_MAX_SIZE + 1, 0), UAREA_EMSGSIZE);
    cr_assert_eq(total_calls(), 0, "a bad argument reached the transport");
}

Test(noc_api, good_arguments_reach_the_transport_unchanged)
{
    char b[NOC_MAILBOX_MSG_SIZE];
    F.ret[F_MOPEN] = 5;
    cr_assert_eq(noc_mailbox_open(&T, 3, NOC_PORTS_MAX - 1), 5);
    cr_assert_eq(F.last_a, 3);
    cr_assert_eq(F.last_b, NOC_PORTS_MAX - 1);
    cr_assert_eq(noc_mailbox_awrite(&T, NOC_OPEN_MAX - 1, b, sizeof b), 0);
    cr_assert_eq(F.last_a, NOC_OPEN_MAX - 1);
    cr_assert_eq(F.last_buf, b);
    cr_assert_eq(F.last_size, sizeof b);
    cr_assert_eq(noc_portal_allow(&T, 1, 0, 7), 0);
    cr_assert_eq(F.last_a, 1);
    cr_assert_eq(F.last_b, 0);
    cr_assert_eq(F.last_c, 7);
    cr_assert_eq(noc_portal_open(&T, 2, 1, 3), 0);
    cr_assert_eq(F.last_a, 2);
    cr_assert_eq(F.last_b, 1);
    cr_assert_eq(F.last_c, 3);
    cr_assert_eq(noc_portal_wait(&T, 4, NOC_FOREVER), 0);
    cr_assert_eq(F.last_timeout, NOC_FOREVER);
    cr_assert_eq(noc_clock_ns(&T), 123456789u);
    F.ret[F_PUNLINK] = UAREA_EDIRECTION;
    cr_assert_eq(noc_portal_unlink(&T, 0), UAREA_EDIRECTION, "transport errors pass through");
}

Test(noc_api, node_range_follows_the_transport)
{
    F.nodes = 24;
    cr_assert_eq(noc_mailbox_open(&T, 23, 0), 0);
    cr_assert_eq(noc_mailbox_open(&T, 24, 0), UAREA_EBADNODE);
    F.nodes = UAREA_EPEERGONE;             /* the transport cannot tell: its error */
    cr_assert_eq(noc_mailbox_open(&T, 0, 0), UAREA_EPEERGONE);
    cr_assert_eq(F.calls[F_MOPEN], 1);
}

/* ---- missing ops ---- */
Test(noc_api, null_ops_are_enosys)
{
    static const struct noc_ops empty;
    noc_transport none = { NULL, NULL };
    noc_transport holes = { &empty, NULL };
    char b[4] = "abc";
    cr_assert_eq(noc_self(&none), UAREA_ENOSYS);
    cr_assert_eq(noc_count(&none), UAREA_ENOSYS);
    cr_assert_eq(noc_clock_ns(&none), 0u);
    cr_assert_eq(noc_mailbox_create(&none, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_self(&holes), UAREA_ENOSYS);
    cr_assert_eq(noc_count(&holes), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_create(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_open(&holes, 0, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_unlink(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_close(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_aread(&holes, 0, b, 1), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_awrite(&holes, 0, b, 1), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_wait(&holes, 0, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_poll(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_cancel(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_read(&holes, 0, b, 1, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_mailbox_write(&holes, 0, b, 1, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_create(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_allow(&holes, 0, 0, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_open(&holes, 0, 0, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_unlink(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_close(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_aread(&holes, 0, b, 1), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_awrite(&holes, 0, b, 1), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_wait(&holes, 0, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_poll(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_cancel(&holes, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_read(&holes, 0, b, 1, 0), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_write(&holes, 0, b, 1, 0), UAREA_ENOSYS);
}

Test(noc_api, node_gone_is_optional_and_checks_the_node)
{
    static const struct noc_ops empty;
    struct noc_ops partial = fake_ops;
    noc_transport t = { &partial, &F };
    noc_transport none = { &empty, NULL };
    cr_assert_eq(noc_node_gone(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(noc_node_gone(&none, 0), UAREA_ENOSYS, "no node count: no node to check");
    cr_assert_eq(noc_node_gone(&t, 4), UAREA_EBADNODE);
    cr_assert_eq(noc_node_gone(&t, -1), UAREA_EBADNODE);
    F.ret[F_GONE] = 1;
    cr_assert_eq(noc_node_gone(&t, 3), 1);
    cr_assert_eq(F.last_a, 3);
    F.ret[F_GONE] = 0;
    cr_assert_eq(noc_node_gone(&t, 3), 0);
    F.ret[F_GONE] = UAREA_EIO;
    cr_assert_eq(noc_node_gone(&t, 3), 0, "an error says nothing about the node");
    partial.node_gone = NULL;
    F.ret[F_GONE] = 1;
    cr_assert_eq(noc_node_gone(&t, 3), 0, "without the op: cannot tell");
}

Test(noc_api, mailbox_sender_is_optional_and_checks_the_handle)
{
    struct noc_ops partial = fake_ops;
    noc_transport t = { &partial, &F };
    cr_assert_eq(noc_mailbox_sender(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_sender(&t, -1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_sender(&t, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    F.ret[F_SENDER] = 2;
    cr_assert_eq(noc_mailbox_sender(&t, 5), 2);
    cr_assert_eq(F.last_a, 5);
    partial.mailbox_sender = NULL;
    cr_assert_eq(noc_mailbox_sender(&t, 5), UAREA_ENOSYS);
}

Test(noc_api, writing_in_place_is_optional_and_checks_its_arguments)
{
    struct noc_ops partial = fake_ops;
    noc_transport t = { &partial, &F };
    void *b = NULL;
    size_t n = 0;
    cr_assert_eq(noc_portal_wbuf(NULL, 0, &b, &n), UAREA_EINVAL);
    cr_assert_eq(noc_portal_wbuf(&t, -1, &b, &n), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_wbuf(&t, 0, NULL, &n), UAREA_EINVAL);
    cr_assert_eq(noc_portal_wbuf(&t, 0, &b, NULL), UAREA_EINVAL);
    cr_assert_eq(noc_portal_wdone(&t, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_wdone(&t, 0, NOC_PORTAL_MAX_SIZE + 1u), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_wdone(&t, NOC_OPEN_MAX, 1), UAREA_EBADHANDLE);
    cr_assert_eq(total_calls(), 0, "nothing reached the transport");
    F.ret[F_WBUF] = 0;
    cr_assert_eq(noc_portal_wbuf(&t, 4, &b, &n), 0);
    cr_assert_eq(b, (void *)fake_area);
    cr_assert_eq(n, sizeof fake_area);
    cr_assert_eq(F.last_a, 4);
    F.ret[F_WDONE] = 17;
    cr_assert_eq(noc_portal_wdone(&t, 4, 17), 17);
    cr_assert_eq(F.last_size, 17);
    F.ret[F_WBUF] = UAREA_EAGAIN;
    cr_assert_eq(noc_portal_wbuf(&t, 4, &b, &n), UAREA_EAGAIN, "the transport's answer passes");
    /* a transport without it: ENOSYS, and nothing claimed to end */
    partial.portal_wbuf = NULL;
    cr_assert_eq(noc_portal_wbuf(&t, 4, &b, &n), UAREA_ENOSYS);
    partial.portal_wdone = NULL;
    cr_assert_eq(noc_portal_wdone(&t, 4, 1), UAREA_ESTATE);
    partial.portal_wbuf = f_wbuf;
    F.ret[F_WBUF] = 0;
    cr_assert_eq(noc_portal_wbuf(&t, 4, &b, &n), UAREA_ENOSYS, "half a pair is none");
}

Test(noc_api, reading_in_place_is_optional_and_checks_its_arguments)
{
    struct noc_ops partial = fake_ops;
    noc_transport t = { &partial, &F };
    const void *b = NULL;
    size_t n = 0;
    cr_assert_eq(noc_portal_rbuf(NULL, 0, &b, &n), UAREA_EINVAL);
    cr_assert_eq(noc_portal_rbuf(&t, -1, &b, &n), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_rbuf(&t, 0, NULL, &n), UAREA_EINVAL);
    cr_assert_eq(noc_portal_rbuf(&t, 0, &b, NULL), UAREA_EINVAL);
    cr_assert_eq(noc_portal_rdone(&t, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    cr_assert_eq(total_calls(), 0, "nothing reached the transport");
    F.ret[F_RBUF] = 0;
    cr_assert_eq(noc_portal_rbuf(&t, 6, &b, &n), 0);
    cr_assert_eq(b, (const void *)fake_area);
    cr_assert_eq(n, 9);
    F.ret[F_RDONE] = 9;
    cr_assert_eq(noc_portal_rdone(&t, 6), 9);
    cr_assert_eq(F.last_a, 6);
    partial.portal_rdone = NULL;
    cr_assert_eq(noc_portal_rbuf(&t, 6, &b, &n), UAREA_ENOSYS, "half a pair is none");
    cr_assert_eq(noc_portal_rdone(&t, 6), UAREA_ESTATE);
}

Test(noc_api, one_missing_op_leaves_the_others_working)
{
    struct noc_ops partial = fake_ops;
    noc_transport t = { &partial, &F };
    partial.portal_cancel = NULL;
    F.ret[F_PCREATE] = 3;
    cr_assert_eq(noc_portal_create(&t, 1), 3);
    cr_assert_eq(noc_portal_cancel(&t, 0), UAREA_ENOSYS);
    /* a sync call whose wait expires needs cancel: the missing op is reported */
    F.ret[F_PWAIT] = UAREA_ETIMEDOUT;
    cr_assert_eq(noc_portal_read(&t, 0, &F, 1, 0), UAREA_ENOSYS);
}

/* ---- default transport ---- */
Test(noc_api, node_self_and_nodes_without_default_are_enosys)
{
    cr_assert_null(noc_default());
    cr_assert_eq(noc_node_self(), UAREA_ENOSYS);
    cr_assert_eq(noc_nodes(), UAREA_ENOSYS);
    cr_assert_eq(total_calls(), 0);
}

Test(noc_api, node_self_and_nodes_ask_the_default)
{
    noc_set_default(&T);
    cr_assert_eq(noc_default(), &T);
    cr_assert_eq(noc_node_self(), 2);
    cr_assert_eq(noc_nodes(), 4);
    F.ret[F_SELF] = 3;
    F.nodes = 16;
    cr_assert_eq(noc_node_self(), 3);
    cr_assert_eq(noc_nodes(), 16);
    noc_set_default(NULL);
    cr_assert_eq(noc_node_self(), UAREA_ENOSYS);
}

/* ---- poll and the synchronous forms ---- */
Test(noc_api, poll_is_wait_zero_with_eagain)
{
    F.ret[F_MWAIT] = UAREA_ETIMEDOUT;
    cr_assert_eq(noc_mailbox_poll(&T, 1), UAREA_EAGAIN);
    cr_assert_eq(F.last_timeout, 0);
    F.ret[F_MWAIT] = 17;
    cr_assert_eq(noc_mailbox_poll(&T, 1), 17);
    F.ret[F_PWAIT] = UAREA_EPEERGONE;
    cr_assert_eq(noc_portal_poll(&T, 1), UAREA_EPEERGONE);
    cr_assert_eq(F.calls[F_MCANCEL] + F.calls[F_PCANCEL], 0, "poll never cancels");
}

Test(noc_api, sync_success_does_not_cancel)
{
    char b[16] = "0123456789abcde";
    F.ret[F_MWAIT] = 9;
    cr_assert_eq(noc_mailbox_read(&T, 0, b, sizeof b, 1000), 9);
    cr_assert_eq(F.calls[F_MAREAD], 1);
    cr_assert_eq(F.last_timeout, 1000);
    F.ret[F_PWAIT] = 16;
    cr_assert_eq(noc_portal_write(&T, 0, b, sizeof b, NOC_FOREVER), 16);
    cr_assert_eq(F.calls[F_MCANCEL] + F.calls[F_PCANCEL], 0);
}

Test(noc_api, sync_start_error_skips_wait)
{
    char b[4] = "abc";
    F.ret[F_MAWRITE] = UAREA_EBUSY;
    cr_assert_eq(noc_mailbox_write(&T, 0, b, 4, 0), UAREA_EBUSY);
    cr_assert_eq(F.calls[F_MWAIT], 0);
    F.ret[F_PAREAD] = UAREA_ENOTALLOWED;
    cr_assert_eq(noc_portal_read(&T, 0, b, 4, 100), UAREA_ENOTALLOWED);
    cr_assert_eq(F.calls[F_PWAIT], 0);
}

Test(noc_api, sync_timeout_zero_reports_why_it_was_pending)
{
    char b[4] = "abc";
    F.ret[F_MWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_MCANCEL] = UAREA_EAGAIN;
    cr_assert_eq(noc_mailbox_read(&T, 0, b, 4, 0), UAREA_EAGAIN);
    cr_assert_eq(F.calls[F_MCANCEL], 1);
    F.ret[F_PWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_PCANCEL] = UAREA_ENOTALLOWED;
    cr_assert_eq(noc_portal_write(&T, 0, b, 4, 0), UAREA_ENOTALLOWED);
    F.ret[F_PCANCEL] = UAREA_EAGAIN;
    cr_assert_eq(noc_portal_write(&T, 0, b, 4, 0), UAREA_EAGAIN);
    cr_assert_eq(F.calls[F_PCANCEL], 2);
}

Test(noc_api, sync_timeout_longer_is_etimedout)
{
    char b[4] = "abc";
    F.ret[F_MWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_MCANCEL] = UAREA_EAGAIN;
    cr_assert_eq(noc_mailbox_write(&T, 0, b, 4, 5000), UAREA_ETIMEDOUT);
    F.ret[F_PWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_PCANCEL] = UAREA_ENOTALLOWED;
    cr_assert_eq(noc_portal_read(&T, 0, b, 4, 1), UAREA_ETIMEDOUT);
    F.ret[F_PCANCEL] = UAREA_ECANCELED;
    cr_assert_eq(noc_portal_write(&T, 0, b, 4, NOC_FOREVER), UAREA_ETIMEDOUT);
    cr_assert_eq(F.calls[F_MCANCEL], 1);
    cr_assert_eq(F.calls[F_PCANCEL], 2);
}

Test(noc_api, sync_completed_during_cancel_returns_the_result)
{
    char b[4] = "abc";
    F.ret[F_MWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_MCANCEL] = 3;
    cr_assert_eq(noc_mailbox_read(&T, 0, b, 4, 0), 3);
    cr_assert_eq(noc_mailbox_read(&T, 0, b, 4, 77), 3);
    F.ret[F_PWAIT] = UAREA_ETIMEDOUT;
    F.ret[F_PCANCEL] = 4;
    cr_assert_eq(noc_portal_write(&T, 0, b, 4, 10), 4);
}

Test(noc_api, sync_other_wait_errors_pass_without_cancel)
{
    char b[4] = "abc";
    F.ret[F_MWAIT] = UAREA_EPEERGONE;
    cr_assert_eq(noc_mailbox_write(&T, 0, b, 4, 10), UAREA_EPEERGONE);
    F.ret[F_PWAIT] = UAREA_EMSGSIZE;
    cr_assert_eq(noc_portal_read(&T, 0, b, 4, 0), UAREA_EMSGSIZE);
    cr_assert_eq(F.calls[F_MCANCEL] + F.calls[F_PCANCEL], 0);
}
