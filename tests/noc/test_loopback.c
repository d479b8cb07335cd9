/* The loopback transport without faults: every operation and every error of
 * noc/noc.h, per-sender ordering, portal allow semantics, cancel, the virtual
 * clock and the fabric's step functions, and node crashes. */
#define UAREA_IMPLEMENTATION
#include <noc/loopback.h>
#include <criterion/criterion.h>
#include <string.h>

static noc_loopback LB;
static noc_transport T[NOC_LOOPBACK_NODES_MAX];

static void boot(int nodes)
{
    int i;
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = nodes }), 0);
    for (i = 0; i < nodes; i++) cr_assert_eq(noc_loopback_transport(&LB, i, &T[i]), 0);
}

static void boot2(void) { boot(2); }
static void boot5(void) { boot(5); }

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) b[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 8)) & 0xffu);
}

/* ---- setup ---- */
Test(loopback_setup, descriptor_checks)
{
    noc_transport t;
    cr_assert_eq(noc_loopback_init(NULL, NULL), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = -1 }), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = NOC_LOOPBACK_NODES_MAX + 1 }),
                 UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){
                     .faults = { .drop_ppm = 600000, .dup_ppm = 400001 } }), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .faults = { .kinds = 4 } }),
                 UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, NULL), 0);
    cr_assert_eq(noc_loopback_transport(&LB, 2, &t), UAREA_EBADNODE, "default is 2 nodes");
    cr_assert_eq(noc_loopback_transport(&LB, -1, &t), UAREA_EBADNODE);
    cr_assert_eq(noc_loopback_transport(&LB, 0, NULL), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_transport(&LB, 1, &t), 0);
    cr_assert_eq(t.ops, noc_loopback_ops());
    cr_assert_eq(noc_self(&t), 1);
    cr_assert_eq(noc_count(&t), 2);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = NOC_LOOPBACK_NODES_MAX }), 0);
    cr_assert_eq(noc_loopback_transport(&LB, NOC_LOOPBACK_NODES_MAX - 1, &t), 0);
    cr_assert_eq(noc_self(&t), NOC_LOOPBACK_NODES_MAX - 1);
}

Test(loopback_setup, uninitialised_storage_is_refused)
{
    static noc_loopback raw;
    noc_transport t = { noc_loopback_ops(), &raw.node[0] };
    cr_assert_eq(noc_loopback_transport(&raw, 0, &t), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_step(&raw), UAREA_EINVAL);
    cr_assert_eq(noc_self(&t), UAREA_EINVAL);
    cr_assert_eq(noc_mailbox_create(&t, 0), UAREA_EINVAL);
}

Test(loopback_setup, default_transport_gives_node_self_and_nodes, .init = boot5)
{
    noc_set_default(&T[3]);
    cr_assert_eq(noc_node_self(), 3);
    cr_assert_eq(noc_nodes(), 5);
    noc_set_default(&T[0]);
    cr_assert_eq(noc_node_self(), 0);
    noc_set_default(NULL);
}

/* ---- the fabric and its clock ---- */
Test(loopback_fabric, idle_step_does_nothing, .init = boot2)
{
    cr_assert_eq(noc_loopback_step(&LB), 0);
    cr_assert_eq(noc_loopback_now(&LB), 0u);
    cr_assert_eq(noc_clock_ns(&T[1]), 0u);
    cr_assert_eq(noc_loopback_advance(&LB, 12345), 0);
    cr_assert_eq(noc_loopback_now(&LB), 12345u);
    cr_assert_eq(noc_clock_ns(&T[0]), 12345u);
    cr_assert_eq(noc_loopback_run_until_idle(&LB, 0), 0);
    cr_assert_eq(noc_loopback_run_until_idle(&LB, -1), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_step(NULL), UAREA_EINVAL);
}

Test(loopback_fabric, a_message_takes_the_latency, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "abc", 3, 0), 3, "on the wire at once");
    cr_assert_eq(noc_loopback_in_flight(&LB), 1);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), UAREA_EAGAIN, "not there yet");
    cr_assert_gt(noc_loopback_step(&LB), 0);
    cr_assert_eq(noc_loopback_now(&LB), NOC_LOOPBACK_LATENCY_NS);
    cr_assert_eq(noc_loopback_in_flight(&LB), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), 3);
    cr_assert_eq(memcmp(b, "abc", 3), 0);
    cr_assert_eq(noc_loopback_step(&LB), 0);
}

Test(loopback_fabric, the_receiver_knows_who_sent_a_message, .init = boot5)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0);
    int o3 = noc_mailbox_open(&T[3], 1, 0), o4 = noc_mailbox_open(&T[4], 1, 0);
    cr_assert_eq(noc_mailbox_sender(&T[1], in), UAREA_ESTATE, "nothing read yet");
    cr_assert_eq(noc_mailbox_sender(&T[3], o3), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_write(&T[4], o4, "4", 1, 0), 1);
    cr_assert_gt(noc_loopback_step(&LB), 0);
    cr_assert_eq(noc_mailbox_write(&T[3], o3, "3", 1, 0), 1);
    cr_assert_gt(noc_loopback_step(&LB), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), 1);
    cr_assert_eq(noc_mailbox_sender(&T[1], in), 4);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), 1);
    cr_assert_eq(noc_mailbox_sender(&T[1], in), 3);
}

Test(loopback_fabric, latency_is_configurable_and_advance_delivers_on_the_way)
{
    char b[4];
    int in, out;
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = 2, .latency_ns = 500 }), 0);
    noc_loopback_transport(&LB, 0, &T[0]);
    noc_loopback_transport(&LB, 1, &T[1]);
    in = noc_mailbox_create(&T[1], 4);
    out = noc_mailbox_open(&T[0], 1, 4);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "x", 1, 0), 1);
    cr_assert_eq(noc_loopback_advance(&LB, 499), 0);
    cr_assert_eq(noc_mailbox_poll(&T[1], in), UAREA_EAGAIN);
    cr_assert_gt(noc_loopback_advance(&LB, 10000), 0);
    cr_assert_eq(noc_loopback_now(&LB), 10499u);
    cr_assert_eq(noc_mailbox_poll(&T[1], in), 1);
}

Test(loopback_fabric, run_until_idle_and_its_limit, .init = boot2)
{
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0), i;
    char b[8];
    for (i = 0; i < 3; i++) {                  /* three different arrival times */
        cr_assert_eq(noc_mailbox_write(&T[0], out, "m", 1, 0), 1);
        cr_assert_eq(noc_loopback_advance(&LB, 100), 0);
    }
    cr_assert_eq(noc_loopback_in_flight(&LB), 3);
    cr_assert_eq(noc_loopback_run_until_idle(&LB, 1), UAREA_EBUSY);
    cr_assert_eq(noc_loopback_in_flight(&LB), 2, "stopped after one delivery");
    cr_assert_eq(noc_loopback_run_until_idle(&LB, 0), 2);
    cr_assert_eq(noc_loopback_in_flight(&LB), 0);
    for (i = 0; i < 3; i++) cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), 1);
}

Test(loopback_fabric, timeouts_move_the_virtual_clock_exactly, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_loopback_now(&LB), 0u);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 5000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_loopback_now(&LB), 5000u);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_wait(&T[1], in, 250), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_loopback_now(&LB), 5250u);
    cr_assert_eq(noc_mailbox_poll(&T[1], in), UAREA_EAGAIN, "still posted after a timeout");
    cr_assert_eq(noc_mailbox_cancel(&T[1], in), UAREA_EAGAIN);
}

Test(loopback_fabric, forever_on_an_idle_fabric_is_estalled, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), UAREA_ESTALLED);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_wait(&T[1], in, NOC_FOREVER), UAREA_ESTALLED);
    cr_assert_eq(noc_mailbox_cancel(&T[1], in), UAREA_ESTATE, "the stalled read was withdrawn");
    /* with something in flight, forever waits for it */
    cr_assert_eq(noc_mailbox_write(&T[0], out, "hello", 5, 0), 5);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), 5);
    cr_assert_eq(memcmp(b, "hello", 5), 0);
}

/* ---- mailboxes ---- */
Test(loopback_mailbox, create_open_and_port_in_use, .init = boot2)
{
    int a = noc_mailbox_create(&T[0], 7);
    cr_assert_geq(a, 0);
    cr_assert_eq(noc_mailbox_create(&T[0], 7), UAREA_EPORTINUSE);
    cr_assert_geq(noc_mailbox_create(&T[1], 7), 0, "ports are per node");
    cr_assert_eq(noc_mailbox_create(&T[0], NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_mailbox_open(&T[0], 2, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_mailbox_unlink(&T[0], a), 0);
    cr_assert_geq(noc_mailbox_create(&T[0], 7), 0, "free again after unlink");
}

Test(loopback_mailbox, too_many_open, .init = boot2)
{
    int i, h[NOC_OPEN_MAX];
    for (i = 0; i < NOC_PORTS_MAX; i++) {
        h[i] = noc_mailbox_create(&T[0], i);
        cr_assert_geq(h[i], 0);
    }
    for (; i < NOC_OPEN_MAX; i++) {
        h[i] = noc_mailbox_open(&T[0], 1, i % NOC_PORTS_MAX);
        cr_assert_geq(h[i], 0, "open %d", i);
    }
    cr_assert_eq(noc_mailbox_open(&T[0], 1, 0), UAREA_ETOOMANY);
    cr_assert_geq(noc_portal_create(&T[0], 0), 0, "portal handles are a separate space");
    cr_assert_eq(noc_mailbox_close(&T[0], h[NOC_OPEN_MAX - 1]), 0);
    cr_assert_geq(noc_mailbox_open(&T[0], 1, 0), 0);
    cr_assert_eq(noc_mailbox_open(&T[0], 1, 0), UAREA_ETOOMANY);
    cr_assert_eq(noc_mailbox_unlink(&T[0], h[0]), 0);
    cr_assert_eq(noc_mailbox_create(&T[0], 1), UAREA_EPORTINUSE, "in use wins over a free slot");
    cr_assert_geq(noc_mailbox_create(&T[0], 0), 0);
}

Test(loopback_mailbox, closed_unlinked_and_never_opened_handles, .init = boot2)
{
    char b[8] = "x";
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_close(&T[0], out), 0);
    cr_assert_eq(noc_mailbox_close(&T[0], out), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_awrite(&T[0], out, b, 1), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_write(&T[0], out, b, 1, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_wait(&T[0], out, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_cancel(&T[0], out), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_unlink(&T[1], in), 0);
    cr_assert_eq(noc_mailbox_unlink(&T[1], in), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_poll(&T[1], in), UAREA_EBADHANDLE);
    cr_assert_eq(noc_mailbox_aread(&T[1], 40, b, sizeof b), UAREA_EBADHANDLE);
}

Test(loopback_mailbox, direction_busy_and_no_operation, .init = boot2)
{
    char b[8] = "x";
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_aread(&T[0], out, b, sizeof b), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_awrite(&T[1], in, b, 1), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_unlink(&T[0], out), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_close(&T[1], in), UAREA_EDIRECTION);
    cr_assert_eq(noc_mailbox_wait(&T[1], in, 0), UAREA_ESTATE);
    cr_assert_eq(noc_mailbox_poll(&T[1], in), UAREA_ESTATE);
    cr_assert_eq(noc_mailbox_cancel(&T[0], out), UAREA_ESTATE);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), UAREA_EBUSY);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), UAREA_EBUSY);
    cr_assert_eq(noc_mailbox_cancel(&T[1], in), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0, "free after cancel");
}

Test(loopback_mailbox, sizes_and_too_small_buffer_keeps_the_message, .init = boot2)
{
    unsigned char msg[NOC_MAILBOX_MSG_SIZE], got[NOC_MAILBOX_MSG_SIZE];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    fill(msg, sizeof msg, 1);
    cr_assert_eq(noc_mailbox_write(&T[0], out, msg, 0, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_write(&T[0], out, msg, sizeof msg + 1, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_write(&T[0], out, msg, sizeof msg, 0), (int)sizeof msg);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "z", 1, 0), 1);
    noc_loopback_run_until_idle(&LB, 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, got, 64, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_read(&T[1], in, got, sizeof got - 1, NOC_FOREVER), UAREA_EMSGSIZE);
    cr_assert_eq(noc_mailbox_read(&T[1], in, got, sizeof got, 0), (int)sizeof msg);
    cr_assert_eq(memcmp(got, msg, sizeof msg), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, got, 1, 0), 1);
    cr_assert_eq(got[0], 'z');
}

Test(loopback_mailbox, write_waits_for_the_port_to_exist, .init = boot2)
{
    char b[8];
    int out = noc_mailbox_open(&T[0], 1, 3), in;
    cr_assert_geq(out, 0, "opening a port not created yet succeeds");
    cr_assert_eq(noc_mailbox_write(&T[0], out, "a", 1, 0), UAREA_EAGAIN);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "a", 1, 1000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "a", 1, NOC_FOREVER), UAREA_ESTALLED);
    cr_assert_eq(noc_mailbox_awrite(&T[0], out, "a", 1), 0);
    cr_assert_eq(noc_mailbox_poll(&T[0], out), UAREA_EAGAIN);
    in = noc_mailbox_create(&T[1], 3);
    cr_assert_gt(noc_loopback_step(&LB), 0, "the pending write goes on the wire");
    cr_assert_eq(noc_mailbox_poll(&T[0], out), 1);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), 1);
    cr_assert_eq(b[0], 'a');
}

Test(loopback_mailbox, depth_is_credit_flow_control, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0), i;
    for (i = 0; i < NOC_LOOPBACK_MAILBOX_DEPTH; i++)
        cr_assert_eq(noc_mailbox_write(&T[0], out, &i, sizeof i, 0), (int)sizeof i, "msg %d", i);
    cr_assert_eq(noc_mailbox_write(&T[0], out, &i, sizeof i, 0), UAREA_EAGAIN, "full, counting the wire");
    noc_loopback_run_until_idle(&LB, 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, &i, sizeof i, 0), UAREA_EAGAIN, "still full, queued");
    cr_assert_eq(noc_mailbox_awrite(&T[0], out, &i, sizeof i), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), (int)sizeof i);
    cr_assert_eq(noc_mailbox_wait(&T[0], out, 0), (int)sizeof i, "room made: the write goes");
    for (i = 1; i <= NOC_LOOPBACK_MAILBOX_DEPTH; i++) {
        int v;
        cr_assert_eq(noc_mailbox_read(&T[1], in, &v, sizeof v, NOC_FOREVER), (int)sizeof v);
        cr_assert_eq(v, i);
    }
}

Test(loopback_mailbox, many_senders_keep_their_own_order, .init = boot5)
{
    enum { PER = 60 };
    int in = noc_mailbox_create(&T[0], 2), out[5], next_seq[5] = { 0 }, sent[5] = { 0 };
    int busy[5] = { 0 }, got = 0, s, guard = 0;
    unsigned char msg[5][8];
    for (s = 1; s < 5; s++) out[s] = noc_mailbox_open(&T[s], 0, 2);
    while (got < 4 * PER) {
        unsigned char b[8];
        int rc;
        cr_assert_lt(guard++, 100000);
        for (s = 1; s < 5; s++) {           /* each sender keeps one write going */
            if (busy[s]) {
                rc = noc_mailbox_poll(&T[s], out[s]);
                if (rc == UAREA_EAGAIN) continue;
                cr_assert_eq(rc, 8);
                busy[s] = 0;
                sent[s]++;
            }
            if (sent[s] < PER) {
                msg[s][0] = (unsigned char)s;
                memcpy(&msg[s][4], &sent[s], 4);
                cr_assert_eq(noc_mailbox_awrite(&T[s], out[s], msg[s], 8), 0);
                busy[s] = 1;
            }
        }
        while ((rc = noc_mailbox_read(&T[0], in, b, sizeof b, 0)) > 0) {
            int seq;
            cr_assert_eq(rc, 8);
            memcpy(&seq, &b[4], 4);
            cr_assert(b[0] >= 1 && b[0] <= 4);
            cr_assert_eq(seq, next_seq[b[0]], "sender %d: got %d, expected %d", b[0], seq,
                         next_seq[b[0]]);
            next_seq[b[0]]++;
            got++;
        }
        cr_assert_eq(rc, UAREA_EAGAIN);
        noc_loopback_step(&LB);
    }
    for (s = 1; s < 5; s++) cr_assert_eq(next_seq[s], PER);
}

Test(loopback_mailbox, unlink_drops_queued_and_in_flight_messages, .init = boot2)
{
    char b[8];
    noc_loopback_stats st;
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "1", 1, 0), 1);
    noc_loopback_run_until_idle(&LB, 0);                    /* "1" is queued */
    cr_assert_eq(noc_mailbox_write(&T[0], out, "2", 1, 0), 1);  /* "2" on the wire */
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0, "takes 1 at once");
    cr_assert_eq(noc_mailbox_poll(&T[1], in), 1);
    cr_assert_eq(noc_mailbox_unlink(&T[1], in), 0);
    in = noc_mailbox_create(&T[1], 0);
    noc_loopback_run_until_idle(&LB, 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), UAREA_EAGAIN, "a new mailbox starts empty");
    noc_loopback_get_stats(&LB, 1, &st);
    cr_assert_eq(st.discarded, 1);
    cr_assert_eq(st.msgs_delivered, 1);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "3", 1, 0), 1, "old output handles reach the new one");
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), 1);
    cr_assert_eq(b[0], '3');
}

Test(loopback_mailbox, unlink_and_close_withdraw_pending_operations, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 5);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_unlink(&T[1], in), 0);
    cr_assert_eq(noc_mailbox_awrite(&T[0], out, "q", 1), 0);   /* port 5 not created */
    cr_assert_eq(noc_mailbox_close(&T[0], out), 0);
    noc_mailbox_create(&T[1], 5);
    cr_assert_eq(noc_loopback_run_until_idle(&LB, 0), 0, "the closed write never went");
}

Test(loopback_mailbox, cancel_returns_a_completed_result, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "done", 4, 0), 4);
    noc_loopback_step(&LB);
    cr_assert_eq(noc_mailbox_cancel(&T[1], in), 4);
    cr_assert_eq(memcmp(b, "done", 4), 0);
    cr_assert_eq(noc_mailbox_cancel(&T[1], in), UAREA_ESTATE);
}

Test(loopback_mailbox, a_node_writes_to_itself, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[0], 9), out = noc_mailbox_open(&T[0], 0, 9);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "self", 4, 0), 4);
    cr_assert_eq(noc_mailbox_read(&T[0], in, b, sizeof b, NOC_FOREVER), 4);
    cr_assert_eq(memcmp(b, "self", 4), 0);
}

/* ---- portals ---- */
typedef struct pair { int in, out; } pair;

/* node r's portal on port 1, node w's output from local port 2 */
static pair portal_pair(int r, int w)
{
    pair p;
    p.in = noc_portal_create(&T[r], 1);
    p.out = noc_portal_open(&T[w], 2, r, 1);
    cr_assert_geq(p.in, 0);
    cr_assert_geq(p.out, 0);
    return p;
}

Test(loopback_portal, a_transfer_moves_in_chunks, .init = boot2)
{
    static unsigned char src[3 * NOC_PORTAL_CHUNK + 100], dst[sizeof src];
    noc_loopback_stats st;
    pair p = portal_pair(1, 0);
    fill(src, sizeof src, 3);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, NOC_FOREVER), (int)sizeof src);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_eq(st.chunks_sent, 4);
    noc_loopback_get_stats(&LB, 1, &st);
    cr_assert_eq(st.chunks_delivered, 4);
    cr_assert_eq(st.portal_reads, 1);
    cr_assert_eq(st.portal_bytes, sizeof src);
}

Test(loopback_portal, largest_transfer_and_a_smaller_write, .init = boot2)
{
    static unsigned char src[NOC_PORTAL_MAX_SIZE], dst[NOC_PORTAL_MAX_SIZE];
    pair p = portal_pair(1, 0);
    fill(src, sizeof src, 9);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, NOC_FOREVER), (int)sizeof src);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    memset(dst, 0, sizeof dst);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, 10, NOC_FOREVER), 10);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), 10, "the read returns the bytes written");
    cr_assert_eq(memcmp(src, dst, 10), 0);
    cr_assert_eq(dst[10], 0);
}

Test(loopback_portal, read_needs_an_allow_and_consumes_it, .init = boot2)
{
    char src[32] = "portal data", dst[32];
    pair p = portal_pair(1, 0);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_read(&T[1], p.in, dst, sizeof dst, NOC_FOREVER), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, NOC_FOREVER), (int)sizeof src);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), (int)sizeof src);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_ENOTALLOWED, "allow consumed");
}

Test(loopback_portal, write_without_allow_or_read, .init = boot5)
{
    char src[16] = "w", dst[16];
    pair p = portal_pair(1, 0);
    int other = noc_portal_open(&T[0], 3, 1, 1);
    int stray = noc_portal_open(&T[4], 2, 1, 1);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, 0), UAREA_ENOTALLOWED);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, 1000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, 2), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, 0), UAREA_EAGAIN, "allowed, no read");
    cr_assert_eq(noc_portal_write(&T[0], other, src, sizeof src, 0), UAREA_ENOTALLOWED,
                 "the allow names another local port");
    cr_assert_eq(noc_portal_write(&T[4], stray, src, sizeof src, 0), UAREA_ENOTALLOWED,
                 "the allow names another node");
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[4], stray, src, sizeof src, 500), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, 0), (int)sizeof src,
                 "timeout 0 completes when the reader is ready");
    cr_assert_eq(noc_portal_poll(&T[1], p.in), (int)sizeof src);
}

Test(loopback_portal, write_larger_than_the_read_fails_both, .init = boot2)
{
    char src[64] = "big", dst[16];
    pair p = portal_pair(1, 0);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, sizeof src, NOC_FOREVER), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), UAREA_EMSGSIZE);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_ENOTALLOWED, "allow consumed");
}

Test(loopback_portal, allow_rules, .init = boot5)
{
    char dst[8];
    pair p = portal_pair(1, 0);
    int out = noc_portal_open(&T[0], 2, 1, 1);
    cr_assert_eq(out, UAREA_EPORTINUSE, "one handle per (local port, node, port)");
    cr_assert_geq(noc_portal_open(&T[0], 3, 1, 1), 0);
    cr_assert_geq(noc_portal_open(&T[0], 2, 1, 4), 0);
    cr_assert_eq(noc_portal_allow(&T[0], p.out, 1, 1), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 5, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, NOC_PORTS_MAX), UAREA_EBADPORT);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 4, 2), 0);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, 2), 0, "an allow replaces the previous one");
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 3, 2), UAREA_EBUSY, "a read is posted");
    cr_assert_eq(noc_portal_write(&T[0], p.out, "ok", 2, 0), 2);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, 0), 2);
}

Test(loopback_portal, create_errors_and_handles, .init = boot2)
{
    char b[8];
    int in = noc_portal_create(&T[1], 1), i, h[NOC_OPEN_MAX];
    cr_assert_eq(noc_portal_create(&T[1], 1), UAREA_EPORTINUSE);
    cr_assert_eq(noc_portal_aread(&T[1], in + 1, b, sizeof b), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_awrite(&T[1], in, b, 1), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_close(&T[1], in), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_wait(&T[1], in, 0), UAREA_ESTATE);
    cr_assert_eq(noc_portal_cancel(&T[1], in), UAREA_ESTATE);
    cr_assert_eq(noc_portal_unlink(&T[1], in), 0);
    cr_assert_eq(noc_portal_unlink(&T[1], in), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_allow(&T[1], in, 0, 0), UAREA_EBADHANDLE);
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        h[i] = noc_portal_open(&T[0], i / NOC_PORTS_MAX, 1, i % NOC_PORTS_MAX);
        cr_assert_geq(h[i], 0);
    }
    cr_assert_eq(noc_portal_open(&T[0], 5, 1, 0), UAREA_ETOOMANY);
    cr_assert_eq(noc_portal_create(&T[0], 0), UAREA_ETOOMANY);
    cr_assert_eq(noc_portal_aread(&T[0], h[3], b, sizeof b), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_unlink(&T[0], h[3]), UAREA_EDIRECTION);
    cr_assert_eq(noc_portal_close(&T[0], h[3]), 0);
    cr_assert_eq(noc_portal_close(&T[0], h[3]), UAREA_EBADHANDLE);
    cr_assert_eq(noc_portal_awrite(&T[0], h[3], b, 1), UAREA_EBADHANDLE);
    cr_assert_geq(noc_portal_create(&T[0], 0), 0);
}

Test(loopback_portal, one_operation_at_a_time, .init = boot2)
{
    char src[8] = "x", dst[8];
    pair p = portal_pair(1, 0);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_EBUSY);
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, 1), 0);
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, 1), UAREA_EBUSY);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, 1, 0), UAREA_EBUSY);
    cr_assert_eq(noc_portal_wait(&T[0], p.out, NOC_FOREVER), 1);
    cr_assert_eq(noc_portal_poll(&T[1], p.in), 1);
}

Test(loopback_portal, async_transfer_driven_by_poll_and_step, .init = boot2)
{
    static unsigned char src[5 * NOC_PORTAL_CHUNK], dst[sizeof src];
    pair p = portal_pair(1, 0);
    int steps = 0, r = UAREA_EAGAIN, w = UAREA_EAGAIN;
    fill(src, sizeof src, 5);
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, sizeof src), 0);
    cr_assert_eq(noc_portal_poll(&T[0], p.out), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_allow(&T[1], p.in, 0, 2), 0);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    while (r == UAREA_EAGAIN || w == UAREA_EAGAIN) {
        cr_assert_gt(noc_loopback_step(&LB), 0, "the fabric went idle mid-transfer");
        steps++;
        if (r == UAREA_EAGAIN) r = noc_portal_poll(&T[1], p.in);
        if (w == UAREA_EAGAIN) w = noc_portal_poll(&T[0], p.out);
    }
    cr_assert_eq(r, (int)sizeof src);
    cr_assert_eq(w, (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    cr_assert_gt(steps, 1, "five chunks with a window of %d take more than one step",
                 NOC_LOOPBACK_WINDOW);
    cr_assert_eq(noc_loopback_step(&LB), 0);
}

Test(loopback_portal, cancel_before_and_during_a_transfer, .init = boot2)
{
    static unsigned char src[6 * NOC_PORTAL_CHUNK], dst[sizeof src];
    pair p = portal_pair(1, 0);
    fill(src, sizeof src, 6);
    /* writer not allowed, then allowed without a read */
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, sizeof src), 0);
    cr_assert_eq(noc_portal_cancel(&T[0], p.out), UAREA_ENOTALLOWED);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, sizeof src), 0);
    cr_assert_eq(noc_portal_cancel(&T[0], p.out), UAREA_EAGAIN);
    /* a read that had not started keeps its allow */
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_cancel(&T[1], p.in), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0, "the allow stayed");
    /* a transfer under way: cancel lets it finish */
    cr_assert_eq(noc_portal_awrite(&T[0], p.out, src, sizeof src), 0);
    noc_loopback_step(&LB);
    cr_assert_eq(noc_portal_poll(&T[1], p.in), UAREA_EAGAIN);
    cr_assert_eq(noc_portal_cancel(&T[1], p.in), (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    cr_assert_eq(noc_portal_poll(&T[0], p.out), (int)sizeof src);
}

Test(loopback_portal, unlink_withdraws_a_posted_read, .init = boot2)
{
    char src[8] = "u", dst[8];
    pair p = portal_pair(1, 0);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_unlink(&T[1], p.in), 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, 1, 0), UAREA_ENOTALLOWED);
    p.in = noc_portal_create(&T[1], 1);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_ENOTALLOWED,
                 "a new portal starts with no allow");
}

Test(loopback_portal, forever_with_nobody_ready_is_estalled, .init = boot2)
{
    char src[8] = "s", dst[8];
    pair p = portal_pair(1, 0);
    cr_assert_eq(noc_portal_write(&T[0], p.out, src, 1, NOC_FOREVER), UAREA_ESTALLED);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_read(&T[1], p.in, dst, sizeof dst, NOC_FOREVER), UAREA_ESTALLED);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0, "the allow stayed");
}

/* ---- crashes (no transfer under way; mid-transfer ones are in the fault tests) ---- */
Test(loopback_crash, a_crashed_node_fails_everything, .init = boot2)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), pin = noc_portal_create(&T[1], 1);
    cr_assert_eq(noc_loopback_alive(&LB, 1), 1);
    cr_assert_eq(noc_loopback_crash(&LB, 1), 0);
    cr_assert_eq(noc_loopback_crash(&LB, 1), 0, "twice is harmless");
    cr_assert_eq(noc_loopback_crash(&LB, 2), UAREA_EBADNODE);
    cr_assert_eq(noc_loopback_alive(&LB, 1), 0);
    cr_assert_eq(noc_loopback_alive(&LB, 0), 1);
    cr_assert_eq(noc_loopback_alive(&LB, 7), UAREA_EBADNODE);
    cr_assert_eq(noc_node_gone(&T[0], 1), 1);

    cr_assert_eq(noc_node_gone(&T[1], 0), 0);
    cr_assert_eq(noc_self(&T[1]), 1, "it still knows who it was");
    cr_assert_eq(noc_count(&T[1]), 2);
    cr_assert_eq(noc_mailbox_create(&T[1], 3), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_aread(&T[1], in, b, sizeof b), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_open(&T[1], 0, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_unlink(&T[1], in), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_allow(&T[1], pin, 0, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_create(&T[1], 5), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_unlink(&T[1], pin), UAREA_EPEERGONE);
}

Test(loopback_crash, peers_get_epeergone_instead_of_waiting, .init = boot5)
{
    char b[8] = "p";
    int mout = noc_mailbox_open(&T[0], 1, 0);            /* port not created: pending */
    int pout = noc_portal_open(&T[0], 2, 1, 1);
    int pin = noc_portal_create(&T[0], 1);
    noc_portal_allow(&T[0], pin, 1, 2);
    cr_assert_eq(noc_mailbox_awrite(&T[0], mout, b, 1), 0);
    cr_assert_eq(noc_portal_awrite(&T[0], pout, b, 1), 0);
    noc_loopback_crash(&LB, 1);
    cr_assert_eq(noc_mailbox_wait(&T[0], mout, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_poll(&T[0], pout), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_aread(&T[0], pin, b, sizeof b), UAREA_EPEERGONE, "the allow names it");
    cr_assert_eq(noc_portal_aread(&T[0], pin, b, sizeof b), UAREA_EPEERGONE, "nothing changed");
    cr_assert_eq(noc_mailbox_write(&T[0], mout, b, 1, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_open(&T[0], 1, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_open(&T[0], 3, 1, 1), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_allow(&T[0], pin, 1, 2), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_write(&T[0], pout, b, 1, 0), UAREA_EPEERGONE);
    /* other nodes are unaffected */
    {
        int in = noc_mailbox_create(&T[2], 0), out = noc_mailbox_open(&T[0], 2, 0);
        cr_assert_eq(noc_mailbox_write(&T[0], out, "ok", 2, 0), 2);
        cr_assert_eq(noc_mailbox_read(&T[2], in, b, sizeof b, NOC_FOREVER), 2);
    }
}

Test(loopback_crash, a_read_allowing_a_crashed_writer_ends, .init = boot2)
{
    char dst[8];
    pair p = portal_pair(1, 0);
    noc_portal_allow(&T[1], p.in, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), 0);
    noc_loopback_crash(&LB, 0);
    cr_assert_eq(noc_portal_wait(&T[1], p.in, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_aread(&T[1], p.in, dst, sizeof dst), UAREA_ENOTALLOWED, "allow consumed");
}

Test(loopback_crash, messages_on_the_wire_still_arrive, .init = boot5)
{
    char b[8];
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0);
    int in0 = noc_mailbox_create(&T[0], 0), out2 = noc_mailbox_open(&T[2], 0, 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "sent", 4, 0), 4);
    cr_assert_eq(noc_mailbox_write(&T[2], out2, "late", 4, 0), 4);
    cr_assert_eq(noc_loopback_in_flight(&LB), 2);
    noc_loopback_crash(&LB, 0);
    cr_assert_eq(noc_loopback_in_flight(&LB), 1, "the message to the dead node is gone");
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), 4);
    cr_assert_eq(memcmp(b, "sent", 4), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 1000000), UAREA_ETIMEDOUT,
                 "a mailbox read involves no particular peer: it just times out");
    (void)in0;
}
