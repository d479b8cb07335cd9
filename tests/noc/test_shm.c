/* The shared-memory transport, two or three nodes attached in this one
 * process: every operation and every error of noc/noc.h, and the decisions
 * of noc_shm.h (allow, cancel, bounce ring). Concurrency is in
 * test_shm_proc.c. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/noc_shm.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static noc_shm shm;
static noc_shm_node nd[3];
static noc_transport t[3];

static void setup_n(int nodes, int copy)
{
    noc_shm_desc d;
    int i;
    memset(&d, 0, sizeof d);
    d.nodes = nodes;
    d.copy = copy;
    cr_assert_eq(noc_shm_create(&shm, &d), 0);
    for (i = 0; i < nodes; i++) cr_assert_eq(noc_shm_attach(&shm, i, &nd[i], &t[i]), 0);
}

static void setup(void) { setup_n(2, 0); }
static void setup3(void) { setup_n(3, 0); }
static void setup_bounce(void) { setup_n(2, NOC_SHM_COPY_BOUNCE); }

static void teardown(void)
{
    int i;
    for (i = 0; i < shm.nodes; i++)
        if (nd[i].attached) cr_assert_eq(noc_shm_detach(&nd[i]), 0);
    cr_assert_eq(noc_shm_destroy(&shm), 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 12)) & 0xffu);
}

TestSuite(shm, .init = setup, .fini = teardown);

Test(shm, create_and_attach_check_their_arguments)
{
    noc_shm other;
    noc_shm_node n;
    noc_transport tt;
    cr_assert_eq(noc_shm_create(NULL, NULL), UAREA_EINVAL);
    cr_assert_eq(noc_shm_create(&other, &(noc_shm_desc){ .nodes = NOC_NODES_MAX + 1 }), UAREA_EINVAL);
    cr_assert_eq(noc_shm_create(&other, &(noc_shm_desc){ .nodes = -1 }), UAREA_EINVAL);
    cr_assert_eq(noc_shm_create(&other, &(noc_shm_desc){ .copy = 7 }), UAREA_EINVAL);
    cr_assert_eq(noc_shm_create(&other, &(noc_shm_desc){ .shared_size = 10 }), UAREA_EINVAL);
    cr_assert_eq(noc_shm_attach(&shm, 2, &n, &tt), UAREA_EBADNODE);
    cr_assert_eq(noc_shm_attach(&shm, -1, &n, &tt), UAREA_EBADNODE);
    cr_assert_eq(noc_shm_attach(&shm, 0, &n, &tt), UAREA_EBUSY);   /* node 0 is alive */
    cr_assert_eq(noc_shm_attach(&shm, 0, NULL, &tt), UAREA_EINVAL);
    cr_assert_eq(noc_shm_detach(NULL), UAREA_EINVAL);
    /* defaults: two nodes, no arena */
    cr_assert_eq(noc_shm_create(&other, NULL), 0);
    cr_assert_eq(other.nodes, 2);
    cr_assert_null(noc_shm_arena(&other, NULL));
    cr_assert_eq(noc_shm_destroy(&other), 0);
    cr_assert_eq(noc_shm_destroy(&other), UAREA_EINVAL);
}

Test(shm, nodes_and_default_transport)
{
    cr_assert_eq(noc_self(&t[0]), 0);
    cr_assert_eq(noc_self(&t[1]), 1);
    cr_assert_eq(noc_count(&t[1]), 2);
    noc_set_default(&t[1]);
    cr_assert_eq(noc_node_self(), 1);
    cr_assert_eq(noc_nodes(), 2);
    noc_set_default(NULL);
    cr_assert_eq(noc_node_self(), UAREA_ENOSYS);
    cr_assert(noc_clock_ns(&t[0]) > 0);
    cr_assert_eq(noc_shm_peer_state(&nd[0], 1), 1);
    cr_assert_eq(noc_shm_peer_state(&nd[0], 2), UAREA_EBADNODE);
}

Test(shm, bad_node_and_bad_port)
{
    int in;
    cr_assert_eq(noc_mailbox_open(&t[0], 2, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_mailbox_open(&t[0], -1, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_mailbox_open(&t[0], 1, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_mailbox_create(&t[0], -1), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_create(&t[0], NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_open(&t[0], 0, 5, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_portal_open(&t[0], NOC_PORTS_MAX, 1, 0), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_open(&t[0], 0, 1, -3), UAREA_EBADPORT);
    in = noc_portal_create(&t[1], 0);
    cr_assert_geq(in, 0);
    cr_assert_eq(noc_portal_allow(&t[1], in, 9, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_portal_allow(&t[1], in, 0, 99), UAREA_EBADPORT);
}

Test(shm, port_in_use)
{
    int a, o;
    a = noc_mailbox_create(&t[0], 3);
    cr_assert_geq(a, 0);
    cr_assert_eq(noc_mailbox_create(&t[0], 3), UAREA_EPORTINUSE);
    cr_assert_geq(noc_mailbox_create(&t[1], 3), 0);          /* other node: its own port */
    cr_assert_eq(noc_mailbox_unlink(&t[0], a), 0);
    cr_assert_geq(noc_mailbox_create(&t[0], 3), 0);          /* free again */
    a = noc_portal_create(&t[0], 4);
    cr_assert_geq(a, 0);
    cr_assert_eq(noc_portal_create(&t[0], 4), UAREA_EPORTINUSE);
    o = noc_portal_open(&t[0], 1, 1, 2);
    cr_assert_geq(o, 0);
    cr_assert_eq(noc_portal_open(&t[0], 1, 1, 2), UAREA_EPORTINUSE);
    cr_assert_geq(noc_portal_open(&t[0], 1, 1, 3), 0);       /* another target */
    cr_assert_eq(noc_portal_close(&t[0], o), 0);
    cr_assert_geq(noc_portal_open(&t[0], 1, 1, 2), 0);
}

Test(shm, too_many_open)
{
    int i, h[NOC_OPEN_MAX];
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        h[i] = noc_mailbox_open(&t[0], 1, i % NOC_PORTS_MAX);
        cr_assert_geq(h[i], 0);
    }
    cr_assert_eq(noc_mailbox_open(&t[0], 1, 0), UAREA_ETOOMANY);
    cr_assert_eq(noc_mailbox_create(&t[0], 0), UAREA_ETOOMANY);
    cr_assert_eq(noc_mailbox_close(&t[0], h[5]), 0);
    cr_assert_geq(noc_mailbox_create(&t[0], 0), 0);
    for (i = 0; i < NOC_OPEN_MAX; i++)
        cr_assert_geq(noc_portal_open(&t[0], i % NOC_PORTS_MAX, 1, i / NOC_PORTS_MAX), 0);
    cr_assert_eq(noc_portal_open(&t[0], 0, 1, 9), UAREA_ETOOMANY);
    cr_assert_eq(noc_portal_create(&t[0], 0), UAREA_ETOOMANY);
}

Test(shm, message_sizes)
{
    unsigned char buf[NOC_MAILBOX_MSG_SIZE + 1] = { 0 };
    static unsigned char big[NOC_PORTAL_MAX_SIZE + 1];
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    cr_assert_eq(noc_mailbox_write(&t[0], out, buf, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_write(&t[0], out, buf, NOC_MAILBOX_MSG_SIZE + 1, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_read(&t[1], in, buf, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, big, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_write(&t[0], pout, big, sizeof big, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_read(&t[1], pin, big, sizeof big, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_read(&t[1], pin, big, 0, 0), UAREA_EMSGSIZE);
    /* the largest sizes pass */
    cr_assert_eq(noc_mailbox_write(&t[0], out, buf, NOC_MAILBOX_MSG_SIZE, 0), NOC_MAILBOX_MSG_SIZE);
    cr_assert_eq(noc_mailbox_read(&t[1], in, buf, NOC_MAILBOX_MSG_SIZE, 0), NOC_MAILBOX_MSG_SIZE);
}

Test(shm, mailbox_round_trip_and_small_buffer_keeps_the_message)
{
    unsigned char msg[100], got[100], small[10];
    int in = noc_mailbox_create(&t[1], 7), out = noc_mailbox_open(&t[0], 1, 7);
    cr_assert_geq(in, 0);
    cr_assert_geq(out, 0);
    fill(msg, sizeof msg, 1);
    cr_assert_eq(noc_mailbox_write(&t[0], out, msg, sizeof msg, NOC_FOREVER), 100);
    cr_assert_eq(noc_mailbox_read(&t[1], in, small, sizeof small, 0), UAREA_EMSGSIZE);
    memset(got, 0, sizeof got);
    cr_assert_eq(noc_mailbox_read(&t[1], in, got, sizeof got, NOC_FOREVER), 100);
    cr_assert_arr_eq(got, msg, sizeof msg);
    cr_assert_eq(noc_mailbox_read(&t[1], in, got, sizeof got, 0), UAREA_EAGAIN);
    /* a node may write to its own mailbox */
    out = noc_mailbox_open(&t[1], 1, 7);
    cr_assert_eq(noc_mailbox_write(&t[1], out, "x", 1, 0), 1);
    cr_assert_eq(noc_mailbox_read(&t[1], in, got, sizeof got, 0), 1);
    cr_assert_eq(got[0], 'x');
}

Test(shm, closed_unlinked_and_wrong_direction_handles)
{
    char b[8] = "abc";
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    cr_assert_eq(noc_mailbox_aread(&t[0], out, b, 8), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_awrite(&t[1], in, b, 3), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_close(&t[1], in), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_unlink(&t[0], out), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_aread(&t[0], pout, b, 8), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_awrite(&t[1], pin, b, 3), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_allow(&t[0], pout, 1, 0), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_close(&t[0], out), 0);
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 3, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_close(&t[0], out), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_unlink(&t[1], in), 0);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, 8, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_unlink(&t[1], pin), 0);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_close(&t[0], pout), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, b, 3, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_wait(&t[0], 40, 0), UAREA_EBADHANDLE);     /* never opened */
    cr_assert_eq(noc_portal_cancel(&t[0], 63), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_cancel(&t[0], NOC_OPEN_MAX), UAREA_EBADHANDLE);
}

Test(shm, timeouts_and_poll)
{
    char b[16];
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 2000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_mailbox_aread(&t[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_poll(&t[1], in), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, 1000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, -5), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_write(&t[0], out, "hello", 5, 0), 5);
    cr_assert_eq(noc_mailbox_poll(&t[1], in), 5);               /* the posted read finished */
    cr_assert_eq(memcmp(b, "hello", 5), 0);
    /* portals: no allow, allow without read, longer timeout */
    cr_assert_eq(noc_portal_read(&t[1], pin, b, sizeof b, 0), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_write(&t[0], pout, b, 4, 0), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_write(&t[0], pout, b, 4, 2000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, b, 4, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_write(&t[0], pout, b, 4, 2000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_read(&t[1], pin, b, sizeof b, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_read(&t[1], pin, b, sizeof b, 1000000), UAREA_ETIMEDOUT);
    /* a write to a mailbox that does not exist yet waits */
    out = noc_mailbox_open(&t[0], 1, 9);
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 4, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 4, 1000000), UAREA_ETIMEDOUT);
}

Test(shm, busy_handles_and_no_operation)
{
    char b[16];
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, 0), UAREA_ESTATE);
    cr_assert_eq(noc_mailbox_cancel(&t[1], in), UAREA_ESTATE);
    cr_assert_eq(noc_portal_wait(&t[1], pin, 0), UAREA_ESTATE);
    cr_assert_eq(noc_portal_cancel(&t[0], pout), UAREA_ESTATE);
    cr_assert_eq(noc_mailbox_aread(&t[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_aread(&t[1], in, b, sizeof b), UAREA_EBUSY);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 0), UAREA_EBUSY);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, b, 4), 0);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, b, 4), UAREA_EBUSY);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, b, sizeof b), 0);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), UAREA_EBUSY);   /* read posted */
    cr_assert_eq(noc_portal_aread(&t[1], pin, b, sizeof b), UAREA_EBUSY);
    /* the write now finds the read */
    cr_assert_eq(noc_portal_wait(&t[0], pout, NOC_FOREVER), 4);
    cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), 4);
    (void)out;
}

Test(shm, cancel)
{
    char b[16] = "payload";
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    int full = 0;
    cr_assert_eq(noc_mailbox_aread(&t[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_cancel(&t[1], in), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_cancel(&t[1], in), UAREA_ESTATE);
    /* a completed operation: cancel returns its result */
    cr_assert_eq(noc_mailbox_awrite(&t[0], out, "abc", 3), 0);
    cr_assert_eq(noc_mailbox_cancel(&t[0], out), 3);
    cr_assert_eq(noc_mailbox_aread(&t[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_cancel(&t[1], in), 3);
    cr_assert_eq(memcmp(b, "abc", 3), 0);
    /* a mailbox write that cannot go (full): nothing queued */
    while (noc_mailbox_write(&t[0], out, "f", 1, 0) == 1) full++;
    cr_assert_eq(full, NOC_SHM_MAILBOX_SLOTS);
    cr_assert_eq(noc_mailbox_awrite(&t[0], out, "g", 1), 0);
    cr_assert_eq(noc_mailbox_cancel(&t[0], out), UAREA_EAGAIN);
    while (noc_mailbox_read(&t[1], in, b, sizeof b, 0) == 1) full--;
    cr_assert_eq(full, 0);
    /* portal write: why it was pending */
    cr_assert_eq(noc_portal_awrite(&t[0], pout, "data", 4), 0);
    cr_assert_eq(noc_portal_cancel(&t[0], pout), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, "data", 4), 0);
    cr_assert_eq(noc_portal_cancel(&t[0], pout), UAREA_EAGAIN);
    /* a posted read withdrawn keeps its allow: a later read still works */
    cr_assert_eq(noc_portal_aread(&t[1], pin, b, sizeof b), 0);
    cr_assert_eq(noc_portal_cancel(&t[1], pin), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_aread(&t[1], pin, b, sizeof b), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, "DATA", 4, NOC_FOREVER), 4);
    cr_assert_eq(noc_portal_cancel(&t[1], pin), 4);              /* completed meanwhile */
    cr_assert_eq(memcmp(b, "DATA", 4), 0);
}

Test(shm, mailbox_full_then_room)
{
    unsigned char b[8];
    unsigned i;
    int in = noc_mailbox_create(&t[1], 1), out = noc_mailbox_open(&t[0], 1, 1);
    for (i = 0; i < NOC_SHM_MAILBOX_SLOTS; i++) {
        b[0] = (unsigned char)i;
        cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 0), 1);
    }
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 1000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 0), 1);
    cr_assert_eq(b[0], 0);
    b[0] = 99;
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 0), 1);
    for (i = 1; i <= NOC_SHM_MAILBOX_SLOTS; i++) {
        cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 0), 1);
        cr_assert_eq(b[0], i == NOC_SHM_MAILBOX_SLOTS ? 99 : i);
    }
    /* unlink drops the queue: a new mailbox starts empty */
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 0), 1);
    cr_assert_eq(noc_mailbox_unlink(&t[1], in), 0);
    cr_assert_eq(noc_mailbox_write(&t[0], out, b, 1, 0), UAREA_EAGAIN);
    in = noc_mailbox_create(&t[1], 1);
    cr_assert_eq(noc_mailbox_read(&t[1], in, b, sizeof b, 0), UAREA_EAGAIN);
}

Test(shm, portal_transfer_async_both_sides)
{
    static unsigned char src[NOC_PORTAL_MAX_SIZE], dst[NOC_PORTAL_MAX_SIZE + 1];
    size_t sizes[] = { 1, NOC_PORTAL_CHUNK - 1, NOC_PORTAL_CHUNK + 1, NOC_PORTAL_MAX_SIZE };
    unsigned i;
    int pin = noc_portal_create(&t[1], 2), pout = noc_portal_open(&t[0], 5, 1, 2);
    for (i = 0; i < 4; i++) {
        fill(src, sizes[i], i);
        memset(dst, 0, sizeof dst);
        cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 5), 0);
        cr_assert_eq(noc_portal_awrite(&t[0], pout, src, sizes[i]), 0);
        cr_assert_eq(noc_portal_aread(&t[1], pin, dst, NOC_PORTAL_MAX_SIZE), 0);
        cr_assert_eq(noc_portal_wait(&t[0], pout, NOC_FOREVER), (int)sizes[i]);
        cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), (int)sizes[i]);
        cr_assert_arr_eq(dst, src, sizes[i]);
        cr_assert_eq(dst[sizes[i]], 0, "wrote past the transfer");
    }
}

Test(shm, portal_write_larger_than_read_fails_both_sides)
{
    unsigned char src[64] = { 1 }, dst[32];
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, src, sizeof src, NOC_FOREVER), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), UAREA_EMSGSIZE);
    /* the allow was used up by that read */
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), UAREA_ENOTALLOWED);
}

/* A receiver that posts a read promises to pull for a moment
 * (NOC_SHM_PULL_NS); a write that cannot wait does not leave the copy to
 * that promise: it completes at once. */
Test(shm, a_nonblocking_write_to_a_posted_read_completes_at_once)
{
    char b[8];
    int pin = noc_portal_create(&t[1], 3), pout = noc_portal_open(&t[0], 3, 1, 3);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 3), 0);
        cr_assert_eq(noc_portal_aread(&t[1], pin, b, sizeof b), 0);
        cr_assert_eq(noc_portal_write(&t[0], pout, "now", 3, 0), 3, "round %d", i);
        cr_assert_eq(noc_portal_wait(&t[1], pin, 0), 3);
        cr_assert_eq(memcmp(b, "now", 3), 0);
    }
}

Test(shm, allow_names_one_sender_for_one_read, .init = setup3)
{
    char b[8];
    int pin = noc_portal_create(&t[0], 0);
    int from1 = noc_portal_open(&t[1], 4, 0, 0), from1b = noc_portal_open(&t[1], 5, 0, 0);
    int from2 = noc_portal_open(&t[2], 4, 0, 0);
    cr_assert_eq(noc_portal_allow(&t[0], pin, 1, 4), 0);
    cr_assert_eq(noc_portal_aread(&t[0], pin, b, sizeof b), 0);
    cr_assert_eq(noc_portal_write(&t[2], from2, "two", 3, 0), UAREA_ENOTALLOWED);   /* node */
    cr_assert_eq(noc_portal_write(&t[1], from1b, "one", 3, 0), UAREA_ENOTALLOWED);  /* port */
    cr_assert_eq(noc_portal_write(&t[1], from1, "one", 3, 0), 3);
    cr_assert_eq(noc_portal_wait(&t[0], pin, 0), 3);
    cr_assert_eq(memcmp(b, "one", 3), 0);
    /* consumed: a second write is not allowed until the next allow */
    cr_assert_eq(noc_portal_write(&t[1], from1, "1", 1, 0), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_aread(&t[0], pin, b, sizeof b), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_allow(&t[0], pin, 2, 4), 0);
    cr_assert_eq(noc_portal_awrite(&t[2], from2, "two", 3), 0);
    cr_assert_eq(noc_portal_read(&t[0], pin, b, sizeof b, NOC_FOREVER), 3);
    cr_assert_eq(noc_portal_wait(&t[2], from2, 0), 3);
    cr_assert_eq(memcmp(b, "two", 3), 0);
    /* a newer allow replaces an unused one */
    cr_assert_eq(noc_portal_allow(&t[0], pin, 2, 4), 0);
    cr_assert_eq(noc_portal_allow(&t[0], pin, 1, 4), 0);
    cr_assert_eq(noc_portal_write(&t[2], from2, "x", 1, 0), UAREA_ENOTALLOWED);
}

Test(shm, peer_that_left_is_gone)
{
    char b[8];
    int out = noc_mailbox_open(&t[0], 1, 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    int in = noc_mailbox_create(&t[0], 0), pin = noc_portal_create(&t[0], 0);
    cr_assert_eq(noc_mailbox_open(&t[1], 0, 0) >= 0, 1);
    cr_assert_eq(noc_portal_allow(&t[0], pin, 1, 0), 0);
    cr_assert_eq(noc_shm_detach(&nd[1]), 0);
    cr_assert_eq(noc_shm_peer_state(&nd[0], 1), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_write(&t[0], out, "a", 1, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_write(&t[0], pout, "a", 1, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_open(&t[0], 1, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_open(&t[0], 0, 1, 1), UAREA_EPEERGONE);
    /* its only opener left: a read cannot be satisfied */
    cr_assert_eq(noc_mailbox_read(&t[0], in, b, sizeof b, NOC_FOREVER), UAREA_EPEERGONE);
    /* the allowed sender left: the read fails instead of waiting */
    cr_assert_eq(noc_portal_read(&t[0], pin, b, sizeof b, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_allow(&t[0], pin, 1, 0), UAREA_EPEERGONE);
    /* the node can come back */
    cr_assert_eq(noc_shm_attach(&shm, 1, &nd[1], &t[1]), 0);
    cr_assert_eq(noc_shm_peer_state(&nd[0], 1), 1);
}

/* Two attaches of one node at the same time: one wins, the other gets
 * UAREA_EBUSY (both won when the node had never been attached). */
static noc_shm race_shm;
static noc_shm_node race_nd[2];
static noc_transport race_t[2];
static int race_rc[2];
static volatile int race_go;

static void *race_attach(void *arg)
{
    int k = (int)(intptr_t)arg;
    while (!race_go) {}
    race_rc[k] = noc_shm_attach(&race_shm, 1, &race_nd[k], &race_t[k]);
    return NULL;
}

Test(shm, two_attaches_of_one_node_at_once_one_wins)
{
    for (int round = 0; round < 300; round++) {
        pthread_t a, b;
        cr_assert_eq(noc_shm_create(&race_shm, &(noc_shm_desc){.nodes = 2}), 0);
        race_go = 0;
        cr_assert_eq(pthread_create(&a, NULL, race_attach, (void *)0), 0);
        cr_assert_eq(pthread_create(&b, NULL, race_attach, (void *)1), 0);
        race_go = 1;
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        cr_assert_eq((race_rc[0] == 0) + (race_rc[1] == 0), 1, "round %d: %d and %d", round,
                     race_rc[0], race_rc[1]);
        cr_assert(race_rc[0] == UAREA_EBUSY || race_rc[1] == UAREA_EBUSY);
        (void)noc_shm_detach(&race_nd[race_rc[0] == 0 ? 0 : 1]);
        cr_assert_eq(noc_shm_destroy(&race_shm), 0);
    }
}

Test(shm, arena_is_shared_and_sized)
{
    noc_shm s2;
    size_t n = 0;
    unsigned char *a;
    cr_assert_eq(noc_shm_create(&s2, &(noc_shm_desc){ .nodes = 3, .arena_size = 100000 }), 0);
    a = noc_shm_arena(&s2, &n);
    cr_assert_not_null(a);
    cr_assert_eq(n, 100000);
    memset(a, 0xab, n);                     /* mapped and writable */
    cr_assert_eq(noc_shm_destroy(&s2), 0);
}

TestSuite(shm_bounce, .init = setup_bounce, .fini = teardown);

/* The bounce ring driven from one thread: each side's poll moves what it can. */
Test(shm_bounce, pipelined_transfer)
{
    static unsigned char src[NOC_PORTAL_MAX_SIZE], dst[NOC_PORTAL_MAX_SIZE];
    size_t sizes[] = { 1, NOC_PORTAL_CHUNK, 3 * NOC_PORTAL_CHUNK + 17, NOC_PORTAL_MAX_SIZE };
    unsigned i;
    int pin = noc_portal_create(&t[1], 2), pout = noc_portal_open(&t[0], 5, 1, 2);
    for (i = 0; i < 4; i++) {
        int rw = UAREA_EAGAIN, rr = UAREA_EAGAIN, rounds = 0;
        fill(src, sizes[i], i + 10);
        memset(dst, 0, sizeof dst);
        cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 5), 0);
        cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizes[i]), 0);
        cr_assert_eq(noc_portal_awrite(&t[0], pout, src, sizes[i]), 0);
        while (rw == UAREA_EAGAIN || rr == UAREA_EAGAIN) {
            if (rr == UAREA_EAGAIN) rr = noc_portal_poll(&t[1], pin);
            if (rw == UAREA_EAGAIN) rw = noc_portal_poll(&t[0], pout);
            cr_assert_lt(++rounds, 100000);
        }
        cr_assert_eq(rw, (int)sizes[i]);
        cr_assert_eq(rr, (int)sizes[i]);
        cr_assert_arr_eq(dst, src, sizes[i]);
        if (sizes[i] > NOC_SHM_BOUNCE_CHUNKS * NOC_PORTAL_CHUNK)
            cr_assert_gt(rounds, 1, "a large transfer went through the ring in one go");
    }
}

Test(shm_bounce, cancel_in_the_middle)
{
    static unsigned char src[NOC_PORTAL_MAX_SIZE], dst[NOC_PORTAL_MAX_SIZE];
    int pin = noc_portal_create(&t[1], 0), pout = noc_portal_open(&t[0], 0, 1, 0);
    /* sender cancels */
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, src, sizeof src), 0);
    cr_assert_eq(noc_portal_poll(&t[1], pin), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_cancel(&t[0], pout), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), UAREA_ECANCELED);
    /* receiver cancels */
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, src, sizeof src), 0);
    cr_assert_eq(noc_portal_poll(&t[1], pin), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_cancel(&t[1], pin), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_wait(&t[0], pout, NOC_FOREVER), UAREA_ECANCELED);
    /* and the portal works again afterwards */
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 0), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, 10), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, "0123456789", 10, NOC_FOREVER), 10);
    cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), 10);
    cr_assert_eq(memcmp(dst, "0123456789", 10), 0);
}

/* noc_shm_kick: another thread of the node gets its mailbox reader back (the
 * POSIX runtime's container threads wake their master so). A kick before the
 * wait ends the next wait at once; a kick while the reader sleeps, with no
 * time limit, ends that wait; the read stays posted either way and a kick
 * does not touch portal waits or writes. */
static void *kick_when_asleep(void *arg)
{
    noc_shm_node *n = arg;
    while (__atomic_load_n(&shm.region->node[n->self].sleeping, __ATOMIC_SEQ_CST) == 0) sched_yield();
    noc_shm_kick(n);
    return NULL;
}

/* the same from "another process": by node number, through the mapping */
static void *kick_node_when_asleep(void *arg)
{
    int node = (int)(intptr_t)arg;
    while (__atomic_load_n(&shm.region->node[node].sleeping, __ATOMIC_SEQ_CST) == 0) sched_yield();
    noc_shm_kick_node(&shm, node);
    return NULL;
}

Test(shm, a_kick_ends_a_mailbox_wait_and_leaves_the_read_posted)
{
    char buf[8] = {0};
    pthread_t th;
    int in = noc_mailbox_create(&t[1], 0), out = noc_mailbox_open(&t[0], 1, 0);
    cr_assert_geq(in, 0);
    cr_assert_geq(out, 0);
    cr_assert_eq(noc_mailbox_aread(&t[1], in, buf, sizeof buf), 0);
    noc_shm_kick(&nd[1]);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, 5000000000), UAREA_ETIMEDOUT, "kicked before");
    cr_assert_eq(pthread_create(&th, NULL, kick_when_asleep, &nd[1]), 0);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, NOC_FOREVER), UAREA_ETIMEDOUT, "kicked asleep");
    pthread_join(th, NULL);
    cr_assert_eq(shm.region->node[1].sleeping, 0);
    cr_assert_eq(pthread_create(&th, NULL, kick_node_when_asleep, (void *)(intptr_t)1), 0);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, NOC_FOREVER), UAREA_ETIMEDOUT, "kicked by number");
    pthread_join(th, NULL);
    noc_shm_kick_node(&shm, 0);                           /* kept for node 0's next wait */
    noc_shm_kick_node(&shm, 7);                           /* out of range: nothing */
    noc_shm_kick_node(NULL, 0);
    cr_assert_eq(noc_mailbox_write(&t[0], out, "kick", 5, 1000000000), 5);
    cr_assert_eq(noc_mailbox_wait(&t[1], in, 1000000000), 5, "the read was still posted");
    cr_assert_str_eq(buf, "kick");
    noc_shm_kick(NULL);                                   /* harmless */
}

/* The receiver learns a message's sender from the transport (the protocol
 * drops a message that names another node than the one that sent it). */
Test(shm, the_sender_of_a_message_is_known_to_the_receiver, .init = setup3)
{
    char buf[8];
    int in = noc_mailbox_create(&t[0], 0);
    int o1 = noc_mailbox_open(&t[1], 0, 0), o2 = noc_mailbox_open(&t[2], 0, 0);
    cr_assert_eq(noc_mailbox_sender(&t[0], in), UAREA_ESTATE, "nothing read yet");
    cr_assert_eq(noc_mailbox_sender(&t[1], o1), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_write(&t[2], o2, "two", 4, 1000000000), 4);
    cr_assert_eq(noc_mailbox_write(&t[1], o1, "one", 4, 1000000000), 4);
    cr_assert_eq(noc_mailbox_read(&t[0], in, buf, sizeof buf, 1000000000), 4);
    cr_assert_eq(noc_mailbox_sender(&t[0], in), 2);
    cr_assert_eq(noc_mailbox_read(&t[0], in, buf, sizeof buf, 1000000000), 4);
    cr_assert_eq(noc_mailbox_sender(&t[0], in), 1);
}

/* ---- writing in place (noc_portal_wbuf / noc_portal_wdone) ---- */

Test(shm, a_write_in_place_lands_in_the_posted_read)
{
    static unsigned char dst[3 * NOC_PORTAL_CHUNK + 5], want[sizeof dst];
    int pin = noc_portal_create(&t[1], 4), pout = noc_portal_open(&t[0], 2, 1, 4);
    void *b = NULL;
    size_t n = 0;
    cr_assert(pin >= 0 && pout >= 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), UAREA_ENOTALLOWED, "no allow yet");
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), UAREA_EAGAIN, "allowed, no read");
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_wbuf(&t[1], pin, &b, &n), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), 0);
    cr_assert_eq(b, (void *)dst, "the receiver's own buffer");
    cr_assert_eq(n, sizeof dst);
    /* claimed: the read waits, the write handle has nothing else to do */
    cr_assert_eq(noc_portal_poll(&t[1], pin), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_poll(&t[0], pout), UAREA_ESTATE);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), UAREA_EBUSY);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, want, 1), UAREA_EBUSY);
    fill(want, sizeof dst - 7, 3);
    memcpy(b, want, sizeof dst - 7);
    cr_assert_eq(noc_portal_wdone(&t[0], pout, sizeof dst + 1), UAREA_EMSGSIZE, "more than the read");
    cr_assert_eq(noc_portal_wdone(&t[0], pout, sizeof dst - 7), (int)(sizeof dst - 7));
    cr_assert_eq(noc_portal_wait(&t[1], pin, 0), (int)(sizeof dst - 7));
    cr_assert_eq(memcmp(dst, want, sizeof dst - 7), 0);
    /* the allow was consumed by that read; the handle is free again */
    cr_assert_eq(noc_portal_wdone(&t[0], pout, 1), UAREA_ESTATE);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), UAREA_ENOTALLOWED);
}

Test(shm, cancelling_a_write_in_place_ends_it_on_both_sides)
{
    static unsigned char dst[NOC_PORTAL_CHUNK];
    int pin = noc_portal_create(&t[1], 4), pout = noc_portal_open(&t[0], 2, 1, 4);
    void *b;
    size_t n;
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), 0);
    cr_assert_eq(noc_portal_cancel(&t[0], pout), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_wait(&t[1], pin, 0), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_wdone(&t[0], pout, 1), UAREA_ESTATE);
    /* both handles work again: an ordinary transfer */
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&t[0], pout, "abc", 3, 0), 3);
    cr_assert_eq(noc_portal_wait(&t[1], pin, 0), 3);
    /* closing the handle in the middle cancels too */
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), 0);
    cr_assert_eq(noc_portal_close(&t[0], pout), 0);
    cr_assert_eq(noc_portal_wait(&t[1], pin, 0), UAREA_ECANCELED);
}

Test(shm, a_write_in_place_claims_only_the_read_that_allows_it, .init = setup3)
{
    static unsigned char dst[64];
    int pin = noc_portal_create(&t[2], 4), p0 = noc_portal_open(&t[0], 2, 2, 4),
        p1 = noc_portal_open(&t[1], 2, 2, 4);
    void *b;
    size_t n;
    cr_assert_eq(noc_portal_allow(&t[2], pin, 1, 2), 0);
    cr_assert_eq(noc_portal_aread(&t[2], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], p0, &b, &n), UAREA_ENOTALLOWED, "node 1 is allowed");
    cr_assert_eq(noc_portal_poll(&t[2], pin), UAREA_EAGAIN, "still posted");
    cr_assert_eq(noc_portal_wbuf(&t[1], p1, &b, &n), 0);
    memset(b, 'x', 5);
    cr_assert_eq(noc_portal_wdone(&t[1], p1, 5), 5);
    cr_assert_eq(noc_portal_wait(&t[2], pin, 0), 5);
}

Test(shm_bounce, the_bounce_ring_gives_no_access_in_place)
{
    static unsigned char dst[64];
    int pin = noc_portal_create(&t[1], 4), pout = noc_portal_open(&t[0], 2, 1, 4);
    void *b;
    size_t n;
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&t[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_wbuf(&t[0], pout, &b, &n), UAREA_ENOSYS);
    cr_assert_eq(noc_portal_write(&t[0], pout, "abc", 3, NOC_FOREVER), 3, "awrite still works");
    cr_assert_eq(noc_portal_wait(&t[1], pin, NOC_FOREVER), 3);
}

/* ---- reading in place (noc_portal_rbuf / noc_portal_rdone) ---- */

Test(shm, a_read_in_place_uses_the_senders_buffer)
{
    static unsigned char src[2 * NOC_PORTAL_CHUNK + 9];
    int pin = noc_portal_create(&t[1], 4), pout = noc_portal_open(&t[0], 2, 1, 4);
    const void *b = NULL;
    size_t n = 0;
    cr_assert(pin >= 0 && pout >= 0);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), UAREA_EAGAIN, "no write yet");
    cr_assert_eq(noc_portal_rbuf(&t[0], pout, &b, &n), UAREA_EDIRECTION);
    fill(src, sizeof src, 9);
    cr_assert_eq(noc_portal_awrite(&t[0], pout, src, sizeof src), 0);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), 0);
    cr_assert_eq(b, (const void *)src, "the sender's own buffer");
    cr_assert_eq(n, sizeof src);
    /* taken: the write waits, the read handle has nothing else to do */
    cr_assert_eq(noc_portal_poll(&t[0], pout), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_poll(&t[1], pin), UAREA_ESTATE);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), UAREA_EBUSY);
    cr_assert_eq(noc_portal_aread(&t[1], pin, src, 1), UAREA_EBUSY);
    /* give it back: still pending, still allowed; then take it for good */
    cr_assert_eq(noc_portal_cancel(&t[1], pin), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_poll(&t[0], pout), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), 0);
    cr_assert_eq(noc_portal_rdone(&t[1], pin), (int)sizeof src);
    cr_assert_eq(noc_portal_wait(&t[0], pout, 0), (int)sizeof src);
    cr_assert_eq(noc_portal_rdone(&t[1], pin), UAREA_ESTATE);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), UAREA_ENOTALLOWED, "the allow was consumed");
}

Test(shm, a_read_in_place_takes_only_the_allowed_senders_write, .init = setup3)
{
    static unsigned char a[64], c[64];
    int pin = noc_portal_create(&t[2], 4), p0 = noc_portal_open(&t[0], 2, 2, 4),
        p1 = noc_portal_open(&t[1], 2, 2, 4);
    const void *b;
    size_t n;
    memset(a, 'a', sizeof a);
    memset(c, 'c', sizeof c);
    cr_assert_eq(noc_portal_awrite(&t[0], p0, a, 10), 0);
    cr_assert_eq(noc_portal_awrite(&t[1], p1, c, 20), 0);
    cr_assert_eq(noc_portal_allow(&t[2], pin, 1, 2), 0);
    cr_assert_eq(noc_portal_rbuf(&t[2], pin, &b, &n), 0);
    cr_assert_eq(b, (const void *)c);
    cr_assert_eq(n, 20);
    cr_assert_eq(noc_portal_rdone(&t[2], pin), 20);
    cr_assert_eq(noc_portal_wait(&t[1], p1, 0), 20);
    cr_assert_eq(noc_portal_poll(&t[0], p0), UAREA_EAGAIN, "node 0 still waits");
    cr_assert_eq(noc_portal_cancel(&t[0], p0), UAREA_ENOTALLOWED);
}

Test(shm_bounce, the_bounce_ring_gives_no_read_in_place)
{
    int pin = noc_portal_create(&t[1], 4);
    const void *b;
    size_t n;
    cr_assert_eq(noc_portal_allow(&t[1], pin, 0, 2), 0);
    cr_assert_eq(noc_portal_rbuf(&t[1], pin, &b, &n), UAREA_ENOSYS);
}
