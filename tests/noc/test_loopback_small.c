/* The loopback transport built with tiny limits (its configuration macros):
 * node count, packet pool, mailbox depth, transfer window and rule table all
 * bound what it does, and it waits (never fails or overflows) at each bound. */
#define NOC_LOOPBACK_NODES_MAX 3
#define NOC_LOOPBACK_PACKETS 6
#define NOC_LOOPBACK_MAILBOX_DEPTH 3
#define NOC_LOOPBACK_WINDOW 2
#define NOC_LOOPBACK_RULES 2
#define NOC_LOOPBACK_LATENCY_NS 10u
#define UAREA_IMPLEMENTATION
#include <noc/loopback.h>
#include <criterion/criterion.h>
#include <string.h>

static noc_loopback LB;
static noc_transport T[3];

/* Largest number of packets seen on the wire at once, per kind. */
static int wire_now, wire_max;
static void track(void *arg, const noc_loopback_event *ev)
{
    (void)arg;
    if (ev->what == NOC_LB_EV_SEND) {
        wire_now++;
        if (wire_now > wire_max) wire_max = wire_now;
    } else if (ev->what == NOC_LB_EV_DELIVER || ev->what == NOC_LB_EV_DISCARD ||
               ev->what == NOC_LB_DROP) {
        wire_now--;
    }
}

static void boot3(void)
{
    int i;
    wire_now = wire_max = 0;
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = 3, .trace = track }), 0);
    for (i = 0; i < 3; i++) noc_loopback_transport(&LB, i, &T[i]);
}

Test(small, node_limit)
{
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = 4 }), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = 3 }), 0);
    cr_assert_eq(noc_loopback_init(&LB, &(noc_loopback_desc){ .nodes = 1 }), 0);
    cr_assert_eq(noc_loopback_transport(&LB, 0, &T[0]), 0);
    cr_assert_eq(noc_count(&T[0]), 1);
    cr_assert_eq(noc_mailbox_open(&T[0], 1, 0), UAREA_EBADNODE);
}

Test(small, rule_table_limit, .init = boot3)
{
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 1, 0), 0);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 2, 0), 1);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 3, 0), UAREA_ENOMEM);
    {   /* a rule that fired frees its slot */
        int out = noc_mailbox_open(&T[0], 1, 0);
        noc_mailbox_create(&T[1], 0);
        cr_assert_eq(noc_mailbox_write(&T[0], out, "a", 1, 0), 1);
        cr_assert_eq(noc_loopback_rules_pending(&LB), 1);
        cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 3, 0), 0);
    }
}

Test(small, mailbox_depth_then_pool, .init = boot3)
{
    char b[4];
    int in0 = noc_mailbox_create(&T[1], 0), in1 = noc_mailbox_create(&T[1], 1);
    int o0 = noc_mailbox_open(&T[0], 1, 0), o1 = noc_mailbox_open(&T[0], 1, 1);
    int o2 = noc_mailbox_open(&T[2], 1, 1), i;
    for (i = 0; i < 3; i++) cr_assert_eq(noc_mailbox_write(&T[0], o0, "x", 1, 0), 1);
    cr_assert_eq(noc_mailbox_write(&T[0], o0, "x", 1, 0), UAREA_EAGAIN, "depth 3");
    for (i = 0; i < 3; i++) cr_assert_eq(noc_mailbox_write(&T[0], o1, "y", 1, 0), 1);
    noc_loopback_run_until_idle(&LB, 0);
    /* all six packets of the pool are queued in node 1's two mailboxes */
    cr_assert_eq(noc_mailbox_read(&T[1], in1, b, sizeof b, 0), 1);
    cr_assert_eq(noc_mailbox_awrite(&T[2], o2, "z", 1), 0, "a packet was freed: it goes");
    cr_assert_eq(noc_mailbox_poll(&T[2], o2), 1);
    cr_assert_eq(noc_mailbox_write(&T[0], o1, "w", 1, 0), UAREA_EAGAIN, "pool and depth both full");
    cr_assert_eq(noc_mailbox_read(&T[1], in0, b, sizeof b, 0), 1);
    cr_assert_eq(noc_mailbox_write(&T[0], o1, "w", 1, 0), UAREA_EAGAIN,
                 "a packet is free, but mailbox 1 is still full");
    cr_assert_eq(noc_mailbox_read(&T[1], in1, b, sizeof b, 0), 1);
    cr_assert_eq(noc_mailbox_write(&T[0], o1, "w", 1, 0), 1);
}

Test(small, full_pool_stalls_a_transfer_until_freed, .init = boot3)
{
    static unsigned char src[5 * NOC_PORTAL_CHUNK], dst[sizeof src];
    char b[4];
    int in = noc_mailbox_create(&T[1], 0), o = noc_mailbox_open(&T[2], 1, 0), i;
    int pin = noc_portal_create(&T[1], 1), pout = noc_portal_open(&T[0], 2, 1, 1);
    int in2 = noc_mailbox_create(&T[0], 0), o2 = noc_mailbox_open(&T[2], 0, 0);
    for (i = 0; i < 3; i++) cr_assert_eq(noc_mailbox_write(&T[2], o, "q", 1, 0), 1);
    for (i = 0; i < 3; i++) cr_assert_eq(noc_mailbox_write(&T[2], o2, "r", 1, 0), 1);
    noc_loopback_run_until_idle(&LB, 0);                /* all six packets queued */
    memset(src, 0x3c, sizeof src);
    noc_portal_allow(&T[1], pin, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], pout, src, sizeof src, NOC_FOREVER), UAREA_ESTALLED,
                 "no packet for a chunk: nothing can move");
    cr_assert_eq(noc_portal_poll(&T[1], pin), UAREA_ECANCELED);
    noc_portal_allow(&T[1], pin, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, 0), 1);   /* one packet freed */
    wire_now = wire_max = 0;
    cr_assert_eq(noc_portal_write(&T[0], pout, src, sizeof src, NOC_FOREVER), (int)sizeof src);
    cr_assert_eq(wire_max, 1, "one free packet: one chunk at a time");
    cr_assert_eq(noc_portal_poll(&T[1], pin), (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    (void)in2;
}

Test(small, window_bounds_chunks_on_the_wire, .init = boot3)
{
    static unsigned char src[7 * NOC_PORTAL_CHUNK + 1], dst[sizeof src];
    int pin = noc_portal_create(&T[1], 1), pout = noc_portal_open(&T[0], 2, 1, 1);
    memset(src, 0xa7, sizeof src);
    noc_portal_allow(&T[1], pin, 0, 2);
    cr_assert_eq(noc_portal_aread(&T[1], pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_portal_write(&T[0], pout, src, sizeof src, NOC_FOREVER), (int)sizeof src);
    cr_assert_eq(wire_max, NOC_LOOPBACK_WINDOW);
    cr_assert_eq(noc_portal_poll(&T[1], pin), (int)sizeof src);
    cr_assert_eq(memcmp(src, dst, sizeof src), 0);
    cr_assert_eq(noc_loopback_now(&LB), 4u * NOC_LOOPBACK_LATENCY_NS,
                 "8 chunks, 2 per round trip of 10 ns");
}
