/* A running multi-threaded container moves between two node processes that
 * talk over the shared-memory NoC: node 0 starts it, moves it to node 1 in
 * the middle of the computation, node 1 finishes it; once by stop and copy,
 * once with pre-copy (the workers keep writing their heap and user data
 * while the first image goes out). Then a move that node 1 refuses (another
 * build) leaves it running on node 0. */
#include "container.h"
#include <uarea_posix/noc_shm.h>
#include <uarea_posix/dirty.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BINARY_FP 0xC0FFEE0000000002ull

struct shared {
    int moved;                  /* node 0: migration committed */
    int finished;               /* the node that finished the computation + 1 */
    int result0, result1;       /* migrate_daemon_last on each node */
    uint64_t progress_at_move;
    uint64_t total;
    uint64_t bytes, downtime_ns, precopy_bytes;
    uint64_t progress_at_freeze;        /* node 0: when the delta began */
    uint32_t zero_pages;
    int region0_wiped;
    int stop;
};

static struct shared *sh;
static ct_cores cores;
static int cores_running;
static int node_self;

static void on_activate(void *arg, struct uarea *ua)
{
    (void)arg;
    /* the container arrived: let its held workers finish */
    if (node_self == 1) __atomic_store_n(&ct_user.hold, 0, __ATOMIC_RELEASE);
    ct_cores_start(&cores, ua);
    cores_running = 1;
}

static void on_release(void *arg, struct uarea *ua)
{
    (void)arg;
    (void)ua;
    if (cores_running) ct_cores_join(&cores);
    cores_running = 0;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pre-copy's dirty-page hooks: the POSIX tracker over the region and over
 * the pages of the user section. */
static uarea_posix_dirty trk[2];

static int dirty_begin(void *arg)
{
    (void)arg;
    if (uarea_posix_dirty_begin(&trk[0]) != 0) return UAREA_EIO;
    return uarea_posix_dirty_begin(&trk[1]);
}

static int dirty_collect(void *arg, migrate_dirty_fn mark, void *ctx)
{
    (void)arg;
    if (uarea_posix_dirty_collect(&trk[0], mark, ctx) < 0) return UAREA_EIO;
    return uarea_posix_dirty_collect(&trk[1], mark, ctx) < 0 ? UAREA_EIO : 0;
}

static int precopy;

static void run_node(noc_shm *shm, int self, void *region, uint64_t fp)
{
    static unsigned char block[64 * 1024];
    noc_shm_node me;
    noc_transport t;
    migrate_node n;
    migrate_node_desc d = {0};
    migrate_config cfg = {.timeout_ns = 2000000000};
    int started = 0;
    uint64_t deadline = now_ns() + 30ull * 1000000000ull;
    node_self = self;
    if (noc_shm_attach(shm, self, &me, &t) != 0) _exit(20);
    d.t = &t;
    d.region = region;
    d.region_size = UAREA_CONTAINER_SIZE;
    d.user = ct_user_sections;
    d.n_user = 1;
    d.binary_fp = fp;
    d.block = block;
    d.block_size = sizeof block;
    d.cfg = &cfg;
    d.on_activate = on_activate;
    d.on_release = on_release;
    if (precopy) {
        uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)&ct_user & ~(ps - 1);
        uintptr_t hi = ((uintptr_t)&ct_user + sizeof ct_user + ps - 1) & ~(ps - 1);
        if (uarea_posix_dirty_open(&trk[0], region, UAREA_CONTAINER_SIZE) != 0 ||
            uarea_posix_dirty_open(&trk[1], (void *)lo, hi - lo) != 0)
            _exit(26);
        d.dirty_begin = dirty_begin;
        d.dirty_collect = dirty_collect;
    }
    if (migrate_node_init(&n, &d) != 0) _exit(21);
    if (self == 0) {
        struct uarea *ua;
        uarea_tid_t t0;
        ct_user.hold = 1; /* the workers wait halfway until the move is over */
        if (uarea_container_init(region, UAREA_CONTAINER_SIZE, &ua) != 0) _exit(22);
        if (uarea_create(ua, &t0, ct_main, NULL) != 0) _exit(23);
        if (migrate_node_adopt(&n) != 0) _exit(24);
        on_activate(NULL, ua);
    }
    while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && now_ns() < deadline) {
        int did = migrate_node_step(&n);
        if (self == 0 && n.d.mig.phase == MIGRATE_PHASE_DELTA && sh->progress_at_freeze == 0)
            sh->progress_at_freeze = ct_user.progress;
        if (self == 0 && !started && ct_user.progress >= CT_WORKERS * CT_STEPS / 4) {
            sh->progress_at_move = ct_user.progress;
            if (migrate_daemon_start(&n.d, 1) != 0) _exit(25);
            started = 1;
        }
        if (self == 0 && started && !migrate_daemon_busy(&n.d) && !sh->moved) {
            migrate_stats st = {0};
            sh->result0 = migrate_daemon_last(&n.d, &st);
            sh->moved = 1;
            sh->region0_wiped = all_zero(region, UAREA_CONTAINER_SIZE) &&
                                all_zero(&ct_user, sizeof ct_user);
            if (sh->result0 != 0) /* refused: the container runs on here; let it finish */
                __atomic_store_n(&ct_user.hold, 0, __ATOMIC_RELEASE);
        }
        if (migrate_node_present(&n) && ct_user.done && !sh->finished && !migrate_daemon_busy(&n.d) &&
            (self != 0 || sh->moved)) {
            if (cores_running) ct_cores_join(&cores);
            cores_running = 0;
            sh->total = ct_user.total;
            if (self == 1) {
                migrate_stats st = {0};
                sh->result1 = migrate_daemon_last(&n.d, &st);
                sh->bytes = st.bytes;
                sh->downtime_ns = st.downtime_ns;
                sh->zero_pages = st.zero_pages;
                sh->precopy_bytes = st.precopy_bytes;
            }
            __atomic_store_n(&sh->finished, self + 1, __ATOMIC_RELEASE);
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
        }
        if (did == 0) usleep(50);
    }
    migrate_node_fini(&n);
    noc_shm_detach(&me);
    _exit(0);
}

static void two_nodes(uint64_t fp1, int pre)
{
    noc_shm shm;
    void *region = ct_map_region();
    pid_t pid[2];
    cr_assert_not_null(region);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    cr_assert_eq(noc_shm_create(&shm, &(noc_shm_desc){.nodes = 2}), 0);
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        cr_assert_neq(pid[i], -1);
        if (pid[i] == 0) {
            precopy = pre;
            run_node(&shm, i, region, i == 0 ? BINARY_FP : fp1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node %d: status %#x", i, status);
    }
    noc_shm_destroy(&shm);
    munmap(region, UAREA_CONTAINER_SIZE);
}

Test(daemon, running_container_moves_to_another_process)
{
    two_nodes(BINARY_FP, 0);
    cr_assert_eq(sh->moved, 1);
    cr_assert_eq(sh->result0, 0, "source: %s", uarea_strerror(sh->result0));
    cr_assert_eq(sh->finished, 2, "node 1 must finish the computation");
    cr_assert_eq(sh->result1, 0);
    cr_assert(sh->region0_wiped, "the source kept a copy");
    cr_assert_lt(sh->progress_at_move, CT_WORKERS * CT_STEPS, "moved mid-computation");
    cr_assert_eq(sh->total, ct_expected(), "the moved computation is wrong");
    cr_assert_gt(sh->bytes, sizeof(struct uarea));

    cr_assert_gt(sh->downtime_ns, 0);
    cr_assert_eq(sh->precopy_bytes, 0, "no tracker, no pre-copy");
    cr_log_info("moved %llu bytes, %u zero pages, downtime %.3f ms",
                (unsigned long long)sh->bytes, sh->zero_pages, sh->downtime_ns / 1e6);
}

Test(daemon, running_container_moves_with_precopy)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    void *probe = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc = uarea_posix_dirty_open(&trk[0], probe, ps);       /* can the kernel track? */
    uarea_posix_dirty_close(&trk[0]);
    munmap(probe, ps);
    if (rc == UAREA_ENOSYS) cr_skip_test("the kernel cannot track written pages");
    two_nodes(BINARY_FP, 1);
    cr_assert_eq(sh->result0, 0, "source: %s", uarea_strerror(sh->result0));
    cr_assert_eq(sh->finished, 2, "node 1 must finish the computation");
    cr_assert_eq(sh->result1, 0);
    cr_assert(sh->region0_wiped, "the source kept a copy");
    cr_assert_lt(sh->progress_at_move, CT_WORKERS * CT_STEPS, "moved mid-computation");
    cr_assert_gt(sh->precopy_bytes, sizeof(struct uarea), "the first image went before the freeze");
    cr_assert_gt(sh->bytes, sizeof(struct uarea), "the delta carries the UArea at least");
    /* the workers kept writing while the first image went out: what the
     * destination finished with came partly from the delta */
    cr_assert_eq(sh->total, ct_expected(), "the moved computation is wrong");
    cr_log_info("pre-copied %llu bytes, then %llu frozen (progress %llu -> %llu), downtime %.3f ms",
                (unsigned long long)sh->precopy_bytes, (unsigned long long)sh->bytes,
                (unsigned long long)sh->progress_at_move,
                (unsigned long long)sh->progress_at_freeze, sh->downtime_ns / 1e6);
}

Test(daemon, move_to_another_build_is_refused_and_source_runs_on)
{
    two_nodes(BINARY_FP + 1, 0);
    cr_assert_eq(sh->moved, 1, "finished %d result0 %d progress %llu", sh->finished, sh->result0,
                 (unsigned long long)sh->progress_at_move);
    cr_assert_eq(sh->result0, UAREA_EIMGBINARY);
    cr_assert_eq(sh->finished, 1, "node 0 keeps and finishes the computation");
    cr_assert_eq(sh->total, ct_expected());
}
