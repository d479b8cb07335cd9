/* The node's master (include/migrate/master.h) on the loopback transport, one
 * node, one thread: what a turn says (idle, again, peer, stop), the port's
 * hooks (serve only while the container is here, busy, tick), the port's
 * region as the default, the port's dirty tracking wired in only with
 * `precopy`, a destination the port refuses, and the idle wait's fallback
 * when no message can come. */
#define UAREA_PORT_HEADER "master_port.h"
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <noc/loopback.h>
#include <migrate/master.h>
#include <criterion/criterion.h>
#include <string.h>

_Alignas(4096) unsigned char master_test_region[UAREA_CONTAINER_SIZE];
size_t master_test_region_size = sizeof master_test_region;
int master_test_dirty_begins, master_test_dirty_collects, master_test_idles;

int master_test_dirty_begin(void) { master_test_dirty_begins++; return 0; }
int master_test_dirty_collect(void (*mark)(void *, uintptr_t, size_t), void *ctx)
{
    mark(ctx, (uintptr_t)master_test_region, 4096);
    master_test_dirty_collects++;
    return 0;
}

static unsigned char block[65536];
static migrate_master m;
static int in_call;   /* a container thread waits for its call: the master turns */
void master_test_relax(void)
{
    if (in_call) (void)migrate_master_turn(&m);
}
static noc_loopback lb;
static noc_transport t[4];
static migrate_master_desc md;
static int serves, ticks, tick_rc, busy;

static int serve(void *arg, struct uarea *ua, int arrived)
{
    (void)arrived;
    cr_assert_eq(arg, &m);
    cr_assert_eq((void *)ua, (void *)master_test_region);
    serves++;
    return 0;
}
static int tick(void *arg) { (void)arg; ticks++; return tick_rc; }
static int is_busy(void *arg) { (void)arg; return busy; }
static int refuse_odd(void *arg, int dst) { (void)arg; return dst % 2 ? UAREA_ENODEKIND : 0; }

static void setup(void)
{
    cr_assert_eq(noc_loopback_init(&lb, &(noc_loopback_desc){.nodes = 4}), 0);
    for (int i = 0; i < 4; i++) cr_assert_eq(noc_loopback_transport(&lb, i, &t[i]), 0);
    memset(&md, 0, sizeof md);
    md.node.t = &t[0];
    md.node.binary_fp = 7;
    md.node.block = block;
    md.node.block_size = sizeof block;
    md.serve = serve;
    md.tick = tick;
    md.busy = is_busy;
    md.arg = &m;
    serves = ticks = tick_rc = busy = 0;
    master_test_dirty_begins = master_test_dirty_collects = master_test_idles = 0;
    memset(master_test_region, 0, sizeof master_test_region);
}

TestSuite(master, .init = setup);

Test(master, bad_arguments)
{
    cr_assert_eq(migrate_master_init(NULL, &md), UAREA_EINVAL);
    cr_assert_eq(migrate_master_init(&m, NULL), UAREA_EINVAL);
    md.node.t = NULL;
    cr_assert_eq(migrate_master_init(&m, &md), UAREA_EINVAL);
    cr_assert_eq(migrate_master_turn(NULL), UAREA_EINVAL);
    cr_assert_eq(migrate_master_idle(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(migrate_master_run(NULL, 0), UAREA_EINVAL);
    cr_assert_eq(migrate_master_fini(NULL), UAREA_EINVAL);
}

Test(master, the_ports_region_is_the_default)
{
    cr_assert_str_eq(uarea_port_name(), "master-test");
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    cr_assert_eq(m.node.desc.region, (void *)master_test_region);
    cr_assert_eq(m.node.desc.region_size, sizeof master_test_region);
    cr_assert_eq(m.self, 0);
    cr_assert_eq(migrate_master_fini(&m), 0);
}

Test(master, a_region_too_small_is_refused)
{
    master_test_region_size = 4096;
    cr_assert_eq(migrate_master_init(&m, &md), UAREA_ENOMEM);
    master_test_region_size = sizeof master_test_region;
}

Test(master, dirty_tracking_only_with_precopy)
{
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    cr_assert_null(m.node.desc.dirty_begin);
    cr_assert_null(m.node.desc.dirty_collect);
    cr_assert_eq(migrate_master_fini(&m), 0);
    md.precopy = 1;
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    cr_assert_not_null(m.node.desc.dirty_begin);
    cr_assert_not_null(m.node.desc.dirty_collect);
    /* the node's hooks are the port's items */
    cr_assert_eq(m.node.desc.dirty_begin(m.node.desc.arg), 0);
    cr_assert_eq(master_test_dirty_begins, 1);
    cr_assert_eq(migrate_master_fini(&m), 0);
}

Test(master, idle_again_peer_stop)
{
    struct uarea *ua;
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_IDLE);
    cr_assert_eq(ticks, 1);
    cr_assert_eq(serves, 0, "no container here: the port's calls are not served");
    busy = 1;
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_PEER, "the port's own work keeps it awake");
    busy = 0;
    tick_rc = 1;
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_AGAIN);
    tick_rc = -1;
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_STOP);
    tick_rc = 0;
    cr_assert_eq(uarea_container_init(master_test_region, sizeof master_test_region, &ua), 0);
    cr_assert_eq(migrate_node_adopt(&m.node), 0);
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_IDLE);
    cr_assert_eq(serves, 1, "the container is here: the port serves its calls");
    cr_assert_eq(m.arrivals, 0, "a container made here is no arrival");
    /* a migration under way: the master does not sleep (node 1 never answers) */
    cr_assert_eq(migrate_daemon_start(&m.node.d, 1), 0);
    int t1 = migrate_master_turn(&m);
    cr_assert(t1 == MIGRATE_TURN_AGAIN || t1 == MIGRATE_TURN_PEER, "turn %d", t1);
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_PEER);
    cr_assert_eq(migrate_master_fini(&m), 0);
}

Test(master, run_ends_when_the_tick_says)
{
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    tick_rc = -1;
    cr_assert_eq(migrate_master_run(&m, 1000), 0);
    cr_assert_eq(ticks, 1);
    cr_assert_eq(migrate_master_fini(&m), 0);
}

static void *call(void *arg)
{
    in_call = 1;
    *(int *)arg = migrate_to(3);
    in_call = 0;
    return NULL;
}

Test(master, a_destination_the_port_refuses)
{
    struct uarea *ua;
    uarea_tid_t tid;
    int rc = 12345;
    md.node.check_dst = refuse_odd;
    cr_assert_eq(migrate_master_init(&m, &md), 0);
    cr_assert_eq(uarea_container_init(master_test_region, sizeof master_test_region, &ua), 0);
    cr_assert_eq(migrate_node_adopt(&m.node), 0);
    cr_assert_eq(uarea_create(ua, &tid, call, &rc), 0);
    /* the thread posts its call and waits off the core; the master's next
     * turn answers it, and the core's next step runs the thread again */
    (void)uarea_core_step(ua);
    cr_assert_eq(rc, 12345, "no answer yet");
    cr_assert_eq(migrate_master_turn(&m), MIGRATE_TURN_AGAIN);
    cr_assert_eq(uarea_core_step(ua), 1);
    cr_assert_eq(rc, UAREA_ENODEKIND);
    cr_assert_not(migrate_daemon_busy(&m.node.d), "no migration started");
    cr_assert(migrate_node_present(&m.node));
    cr_assert_eq(migrate_master_fini(&m), 0);
}
