/* The POSIX runtime under faults and misuse: how a run ends when a container
 * thread calls exit() or crashes, a host program with children of its own, a
 * master left alone, the launcher killed, a restore from a missing file,
 * statistics past 256 migrations and of several containers, sleeping
 * container threads, a checkpoint and a migration asked for at once, and
 * checkpoint files that fail or hold secrets. Each test fails on the
 * runtime as it was before these were mended. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A page shared by the test and every process of a run. */
static void *shared_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, 4096);
    return p;
}

/* ---- how a run ends ------------------------------------------------------ */
static UAREA_USER int exit_how;

static void *exiter(void *arg)
{
    (void)arg;
    switch (exit_how) {
    case 0: exit(0);
    case 1: exit(7);
    case 2: _exit(5);
    case 3: abort();
    default: {
        volatile int *null = NULL;
        return (void *)(intptr_t)*null;
    }
    }
}

static int app_exits(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc;
    exit_how = atoi(argv[1]);
    if (migrate_to(1) != 0) return 100;        /* it ends on node 1 */
    if (uarea_thread_create(&t, exiter, NULL) != 0) return 101;
    (void)uarea_thread_join(t, NULL);
    for (;;) uarea_thread_yield();
}

static int run_exits(const char *how, uarea_posix_report *rep)
{
    char *argv[] = {"app", (char *)how, NULL};
    return uarea_posix_run(&(uarea_posix_desc){.nodes = 3, .report = rep}, app_exits, 2, argv);
}

Test(posix_end, exit_in_a_container_thread_ends_the_run_with_its_status, .timeout = 60)
{
    uarea_posix_report rep;
    int rc;
    cr_assert_eq(run_exits("0", &rep), 0, "exit(0): the program's end, not a hang");
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_EXIT);
    cr_assert_eq(rep.node[1].code, 0);
    cr_assert_eq(rep.node[1].container, 0);
    cr_assert_eq(rep.lost_container, -1);
    cr_assert_eq(rep.node[0].end, UAREA_POSIX_END_CLEAN);
    rc = run_exits("1", &rep);
    cr_assert_eq(rc, 7, "exit(7): %d, node 1 ended %d code %d", rc, rep.node[1].end, rep.node[1].code);
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_EXIT);
    cr_assert_eq(rep.node[1].code, 7);
    cr_assert_eq(run_exits("2", &rep), 5, "_exit(5)");
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_EXIT);
    cr_assert_eq(rep.node[1].code, 5);
}

Test(posix_end, a_crash_in_a_container_loses_it_and_says_where_and_how, .timeout = 60)
{
    uarea_posix_report rep;
    cr_assert_eq(run_exits("3", &rep), UAREA_ELOST, "abort()");
    cr_assert_eq(rep.lost_container, 0);
    cr_assert_eq(rep.lost_node, 1);
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_KILLED);
    cr_assert_eq(rep.node[1].code, SIGABRT);
    cr_assert_eq(rep.node[1].pid > 0, 1);
#ifndef UAREA__ASAN   /* AddressSanitizer takes SIGSEGV for its own report */
    cr_assert_eq(run_exits("4", &rep), UAREA_ELOST, "a NULL dereference");
    cr_assert_eq(rep.lost_node, 1);
    cr_assert_eq(rep.node[1].end, UAREA_POSIX_END_KILLED);
    cr_assert_eq(rep.node[1].code, SIGSEGV);
#endif
}

/* ---- a host program with children of its own ------------------------- */
static int app_short(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (migrate_to(1) != 0) return 1;
    return 33;
}

Test(posix_end, the_run_waits_for_its_own_nodes_only, .timeout = 60)
{
    int status;
    pid_t helper = fork();
    cr_assert_geq(helper, 0);
    if (helper == 0) _exit(3);
    siginfo_t si;
    cr_assert_eq(waitid(P_PID, (id_t)helper, &si, WEXITED | WNOWAIT), 0); /* ended, unreaped */
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_short, 0, NULL), 33);
    cr_assert_eq(waitpid(helper, &status, 0), helper, "the program's own child is still its to reap");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
}

/* ---- a master alone ------------------------------------------------------- */
struct alone { long cpu_ns, wall_ns; };
static struct alone *alone;

static long cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int app_alone(int argc, char **argv)
{
    (void)argc; (void)argv;
    /* nodes 1 and 2 write to node 0's inbox, then die */
    if (migrate_to(1) != 0 || migrate_to(2) != 0 || migrate_to(0) != 0) return 1;
    for (int k = 1; k <= 2; k++) {
        pid_t p = (pid_t)uarea_posix_node_pid(k);
        kill(p, SIGKILL);
        for (int i = 0; i < 5000 && kill(p, 0) == 0; i++) usleep(1000);   /* reaped */
    }
    usleep(50000);
    long c0 = cpu_now();
    uint64_t w0 = now_ns();
    usleep(300000);
    alone->cpu_ns = cpu_now() - c0;
    alone->wall_ns = (long)(now_ns() - w0);
    return 0;
}

Test(posix_end, a_master_whose_peers_are_dead_sleeps, .timeout = 60)
{
    alone = shared_page();
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 3}, app_alone, 0, NULL), 0);
    cr_assert_geq(alone->wall_ns, 300000000L);
    /* a spinning master burns the whole time on one CPU */
    cr_assert_lt(alone->cpu_ns, alone->wall_ns / 3, "node 0 used %ld ms of CPU in %ld ms",
                 alone->cpu_ns / 1000000, alone->wall_ns / 1000000);
    munmap(alone, 4096);
}

/* ---- the launcher killed --------------------------------------------------- */
struct pids { volatile long pid[4]; volatile int ready; };
static struct pids *pids;

static int app_forever(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (int k = 0; k < 3; k++) pids->pid[k] = uarea_posix_node_pid(k);
    __atomic_store_n(&pids->ready, 1, __ATOMIC_RELEASE);
    while (pids->ready) sleep(1);
    return 0;
}

static void launcher_killed(int sig)
{
    pids = shared_page();
    /* orphaned nodes come to this process, which can then see them end */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) cr_skip_test("no PR_SET_CHILD_SUBREAPER here (qemu-user)");
    pid_t launcher = fork();
    cr_assert_geq(launcher, 0);
    if (launcher == 0) _exit(uarea_posix_run(&(uarea_posix_desc){.nodes = 3}, app_forever, 0, NULL));
    while (!__atomic_load_n(&pids->ready, __ATOMIC_ACQUIRE)) usleep(1000);
    kill(launcher, sig);
    int status;
    cr_assert_eq(waitpid(launcher, &status, 0), launcher);
    for (int k = 0; k < 3; k++) {
        pid_t p = (pid_t)pids->pid[k], r = 0;
        cr_assert_gt(p, 0);
        for (int i = 0; i < 5000 && (r = waitpid(p, &status, WNOHANG)) == 0; i++) usleep(1000);
        cr_assert_eq(r, p, "node %d outlived its launcher", k);
        /* killed by its death signal, or, when the launcher died before the
         * node armed that signal (a node still starting), gone on its own
         * at once with status 1 */
        cr_assert((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) == 1),
                  "node %d: status %#x", k, status);
    }
    munmap(pids, 4096);
}

Test(posix_end, killing_the_launcher_kills_its_nodes, .timeout = 60) { launcher_killed(SIGKILL); }
Test(posix_end, terminating_the_launcher_kills_its_nodes, .timeout = 60) { launcher_killed(SIGTERM); }

/* ---- restore from a file that is not there ------------------------------- */
Test(posix_end, a_restore_from_a_missing_or_unreadable_file_says_which, .timeout = 60)
{
    char dir[] = "/tmp/uarea-restore.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    uarea_posix_report rep;
    uint64_t t0 = now_ns();
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .restore = "/nonexistent/ckpt",
                                                     .report = &rep}, app_short, 0, NULL),
                 UAREA_ENOENT);
    cr_assert_eq(rep.nodes, 0, "nothing started");
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .restore = dir}, app_short, 0, NULL),
                 UAREA_EIO, "a directory");
    cr_assert_lt(now_ns() - t0, 1000000000u);
    rmdir(dir);
}

/* ---- migration records --------------------------------------------------- */
struct records { int calls; uint32_t last_mid; int out_of_order, bad_last; };
static struct records *records;

static void count_migration(void *arg, const migrate_stats *st)
{
    struct records *r = arg;
    if (r->calls > 0 && st->mid == r->last_mid) r->out_of_order++;
    r->last_mid = st->mid;
    r->calls++;
}

#define HOPS 300
static int app_many_hops(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (int i = 0; i < HOPS; i++) {
        int to = (noc_node_self() + 1) % 2;
        migrate_stats st;
        if (migrate_to(to) != 0) return 1;
        if (uarea_posix_last_migration(&st) != 0 || st.dst != to || st.src == to || st.result != 0)
            __atomic_add_fetch(&records->bad_last, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

Test(posix_stats, every_one_of_300_migrations_is_recorded, .timeout = 120)
{
    records = shared_page();
    struct records got = {0};
    uarea_posix_report rep;
    int rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .on_migration = count_migration,
                                                 .arg = &got, .report = &rep, .timeout_ns = 5000000000},
                             app_many_hops, 0, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(records->bad_last, 0, "uarea_posix_last_migration named another migration");
    cr_assert_eq(got.calls, HOPS, "on_migration calls: %d", got.calls);
    cr_assert_eq(got.out_of_order, 0);
    cr_assert_eq(rep.migrations, HOPS);
    cr_assert_eq(rep.stats_dropped, 0);
    munmap(records, 4096);
}

/* Two containers: container 1 hops on while container 0 looks at its own
 * last migration a while after each of its moves. */
static volatile int *c0_done;

static int app_two(int argc, char **argv)
{
    (void)argc; (void)argv;
    int me = uarea_posix_container();
    migrate_stats st;
    for (int i = 0; me == 1 ? !*c0_done : i < 10; i++) {
        int here = noc_node_self(), to = me == 0 ? (here == 0 ? 2 : 0) : (here == 1 ? 3 : 1);
        if (migrate_to(to) != 0) continue;
        if (me == 0) usleep(5000);             /* container 1 moves meanwhile */
        if (uarea_posix_last_migration(&st) != 0) return 10;
        if (st.dst != to || st.src != here) return 11 + me;
    }
    if (me == 0) *c0_done = 1;
    return 0;
}

Test(posix_stats, each_container_reads_its_own_last_migration, .timeout = 60)
{
    c0_done = shared_page();
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 4, .containers = 2}, app_two, 0, NULL),
                 0);
    munmap((void *)c0_done, 4096);
}

/* ---- sleeping container threads ------------------------------------------ */
static UAREA_USER volatile int slept_done;
static UAREA_USER volatile unsigned long other_ran;
static UAREA_USER int64_t slept[8];
struct sleeps { int64_t slept[8]; unsigned long other_ran; };
static struct sleeps *sleeps;     /* the results, for the test's process */

static int64_t since(uint64_t t0) { return (int64_t)(now_ns() - t0); }

static void *sleeper(void *arg)
{
    uint64_t t0;
    struct timespec ts = {0, 30000000}, rem;
    struct timeval tv = {0, 20000};
    (void)arg;
    t0 = now_ns(); slept[0] = usleep(50000) == 0 ? since(t0) : -1;
    t0 = now_ns(); slept[1] = nanosleep(&ts, &rem) == 0 ? since(t0) : -1;
    t0 = now_ns(); slept[2] = poll(NULL, 0, 30) == 0 ? since(t0) : -1;
    t0 = now_ns(); slept[3] = select(0, NULL, NULL, NULL, &tv) == 0 ? since(t0) : -1;
    t0 = now_ns(); slept[4] = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == 0 ? since(t0) : -1;
    t0 = now_ns(); slept[5] = sleep(1) == 0 ? since(t0) : -1;
    slept_done = 1;
    return NULL;
}

static void *busy(void *arg)
{
    (void)arg;
    while (!slept_done) {
        other_ran++;
        uarea_thread_yield();
    }
    return NULL;
}

static int app_sleeps(int argc, char **argv)
{
    uarea_tid_t a, b;
    (void)argc; (void)argv;
    if (uarea_thread_create(&a, sleeper, NULL) != 0 || uarea_thread_create(&b, busy, NULL) != 0)
        return 1;
    if (migrate_to(1) != 0) return 2;     /* the sleeper moves in its sleep */
    if (uarea_thread_join(a, NULL) != 0 || uarea_thread_join(b, NULL) != 0) return 3;
    memcpy(sleeps->slept, slept, sizeof slept);
    sleeps->other_ran = other_ran;
    return noc_node_self() == 1 ? 0 : 4;
}

Test(posix_sleep, sleeping_threads_sleep_their_time_and_leave_the_core, .timeout = 60)
{
    /* one core: the busy thread runs only while the sleeper leaves it */
    sleeps = shared_page();
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .cores = 1}, app_sleeps, 0, NULL), 0);
    const int64_t want[6] = {50000000, 30000000, 30000000, 20000000, 30000000, 1000000000};
    const char *name[6] = {"usleep", "nanosleep", "poll", "select", "clock_nanosleep", "sleep"};
    for (int i = 0; i < 6; i++)
        cr_assert_geq(sleeps->slept[i], want[i], "%s: %lld ns (-1: failed)", name[i],
                      (long long)sleeps->slept[i]);
    cr_assert_gt(sleeps->other_ran, 100, "the other thread ran %lu times", sleeps->other_ran);
    munmap(sleeps, 4096);
}

/* ---- a checkpoint and a migration at once -------------------------------- */
static UAREA_USER char ckpt_path[64];
static UAREA_USER int ckpt_bad, mig_bad, ckpt_ok, mig_ok;
static UAREA_USER volatile int both_done;
static UAREA_USER uint64_t work_a[4096];

static void *checkpointer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++) {
        int rc = uarea_posix_checkpoint(ckpt_path);
        if (rc == 0 || rc == 1) ckpt_ok++;   /* written, or restored from it */
        else if (rc != UAREA_EBUSY) ckpt_bad = rc;
        for (int k = 0; k < 4096; k++) work_a[k] += (uint64_t)k * (uint64_t)i;
        usleep(1000);              /* leave the migrator room */
    }
    __atomic_add_fetch(&both_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *migrator(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++) {
        int rc = migrate_to((noc_node_self() + 1) % 3);
        if (rc == 0) mig_ok++;
        else if (rc != UAREA_EBUSY) mig_bad = rc;
        usleep(500);
    }
    __atomic_add_fetch(&both_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int app_ckpt_and_migrate(int argc, char **argv)
{
    uarea_tid_t a, b;
    (void)argc; (void)argv;
    if (uarea_thread_create(&a, checkpointer, NULL) != 0 || uarea_thread_create(&b, migrator, NULL) != 0)
        return 1;
    if (uarea_thread_join(a, NULL) != 0 || uarea_thread_join(b, NULL) != 0) return 2;
    uint64_t want = 0, got = 0;
    for (int k = 0; k < 4096; k++) {
        got += work_a[k];
        want += (uint64_t)k * (39u * 40u / 2u);
    }
    if (got != want) return 3;
    if (ckpt_bad != 0) return 4;
    if (mig_bad != 0) return 5;
    return ckpt_ok > 0 && mig_ok > 0 ? 0 : 6;
}

Test(posix_ckpt, a_checkpoint_and_a_migration_at_once_get_ebusy_not_a_torn_image, .timeout = 120)
{
    char dir[] = "/tmp/uarea-ckpt.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ckpt_path, sizeof ckpt_path, "%s/c", dir);
    int rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 3, .timeout_ns = 5000000000},
                             app_ckpt_and_migrate, 0, NULL);
    cr_assert_eq(rc, 0, "run: %d (4: a checkpoint failed otherwise than EBUSY, 5: a migration)", rc);
    /* the last image written is a frozen container's: it resumes and ends right */
    rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 3, .timeout_ns = 5000000000,
                                             .restore = ckpt_path}, app_ckpt_and_migrate, 0, NULL);
    cr_assert_eq(rc, 0, "the restored run: %d", rc);
    unlink(ckpt_path);
    rmdir(dir);
}

/* ---- checkpoint files ------------------------------------------------------ */
struct ckpt_files { long size1, size_after; int rc2, rc_nodir, mode; };
static struct ckpt_files *cf;

static int app_ckpt_files(int argc, char **argv)
{
    struct stat st;
    char nodir[96];
    (void)argc; (void)argv;
    int rc = uarea_posix_checkpoint(ckpt_path);
    if (rc == 1) return 42;               /* restored from it, later */
    if (rc != 0) return 1;
    if (stat(ckpt_path, &st) != 0) return 2;
    cf->size1 = (long)st.st_size;
    cf->mode = (int)(st.st_mode & 07777);
    /* the next one cannot be written whole: the file size limit is below it */
    struct rlimit lim = {(rlim_t)(st.st_size / 2), RLIM_INFINITY};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) return 3;
    cf->rc2 = uarea_posix_checkpoint(ckpt_path);
    lim.rlim_cur = RLIM_INFINITY;
    (void)setrlimit(RLIMIT_FSIZE, &lim);
    if (stat(ckpt_path, &st) != 0) return 4;
    cf->size_after = (long)st.st_size;
    snprintf(nodir, sizeof nodir, "%s.nodir/c", ckpt_path);
    cf->rc_nodir = uarea_posix_checkpoint(nodir);
    return 0;
}

Test(posix_ckpt, a_failed_checkpoint_keeps_the_previous_file_and_says_why, .timeout = 60)
{
    char dir[] = "/tmp/uarea-ckpt.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ckpt_path, sizeof ckpt_path, "%s/c", dir);
    cf = shared_page();
    umask(022);
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app_ckpt_files, 0, NULL), 0);
    cr_assert_eq(cf->mode, 0600, "a checkpoint is its owner's only: mode %o", cf->mode);
    cr_assert_eq(cf->rc2, UAREA_ENOSPC, "a file too large: %s", uarea_strerror(cf->rc2));
    cr_assert_eq(cf->size_after, cf->size1, "the first checkpoint is still there, whole");
    cr_assert_eq(cf->rc_nodir, UAREA_ENOENT, "no such directory: %s", uarea_strerror(cf->rc_nodir));
    /* the one left there still restores */
    cr_assert_eq(uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .restore = ckpt_path},
                                 app_ckpt_files, 0, NULL), 42);
    /* nothing else was left in the directory */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "a temporary file was left behind");
    unlink(ckpt_path);
    rmdir(dir);
    munmap(cf, 4096);
}
