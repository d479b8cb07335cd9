/* The shared-memory transport with real concurrency: nodes as threads of one
 * process, nodes as forked processes (contents checked byte for byte, per
 * sender order of many-to-one mailboxes, each copy method), and peers killed
 * with SIGKILL in the middle of a portal transfer or while a mailbox call
 * waits. Every forked child _exits and is reaped here. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/noc_shm.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG NOC_PORTAL_MAX_SIZE
#define WAIT_NS INT64_C(5000000000) /* generous bound: a lost wake-up fails, not hangs */

static noc_shm shm;
static noc_shm_node me;
static noc_transport mt;

/* In a child: fail with the line number on stderr. */
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "child check failed: %s:%d: %s\n", \
                                           __FILE__, __LINE__, #c); return 1; } } while (0)

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(((i * 2654435761u) >> 13) + seed * 29u + (i >> 12));
}

static int matches(const unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != (unsigned char)(((i * 2654435761u) >> 13) + seed * 29u + (i >> 12))) return 0;
    return 1;
}

static void create_shm(int nodes, int copy, size_t arena)
{
    noc_shm_desc d;
    memset(&d, 0, sizeof d);
    d.nodes = nodes;
    d.copy = copy;
    d.arena_size = arena;
    cr_assert_eq(noc_shm_create(&shm, &d), 0);
}

/* Fork a node: attach as `node`, run fn, detach, _exit(fn's result). */
static pid_t spawn(int node, int (*fn)(noc_transport *t, void *arg), void *arg)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        noc_shm_node nd;
        noc_transport t;
        int rc = noc_shm_attach(&shm, node, &nd, &t);
        if (rc == 0) rc = fn(&t, arg);
        else fprintf(stderr, "attach %d: %s\n", node, uarea_strerror(rc));
        noc_shm_detach(&nd);
        _exit(rc == 0 ? 0 : 1);
    }
    return pid;
}

/* Fork a helper that kills `victim` after `ms` milliseconds. */
static pid_t killer(pid_t victim, int ms)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        usleep((useconds_t)ms * 1000u);
        kill(victim, SIGKILL);
        _exit(0);
    }
    return pid;
}

static void reap_ok(pid_t pid)
{
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %#x)", (int)pid, st);
}

static void reap_killed(pid_t pid)
{
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child %d was not killed (status %#x)",
              (int)pid, st);
}

static void attach_parent(void)
{
    cr_assert_eq(noc_shm_attach(&shm, 0, &me, &mt), 0);
}

static void finish_parent(void)
{
    noc_shm_detach(&me);
    noc_shm_destroy(&shm);
}

/* ---- nodes as threads ------------------------------------------------- */
#define PINGS 2000
#define TRANSFERS 4

static void *thread_node1(void *arg)
{
    static unsigned char buf[BIG];
    noc_shm_node nd;
    noc_transport t;
    unsigned char msg[NOC_MAILBOX_MSG_SIZE];
    int in, back, pin, i, rc = 0;
    (void)arg;
    if (noc_shm_attach(&shm, 1, &nd, &t) != 0) return (void *)1;
    in = noc_mailbox_create(&t, 0);
    back = noc_mailbox_open(&t, 0, 0);
    pin = noc_portal_create(&t, 0);
    for (i = 0; i < PINGS && rc == 0; i++) {
        int n = noc_mailbox_read(&t, in, msg, sizeof msg, WAIT_NS);
        if (n < 4) rc = 2;
        else if (noc_mailbox_write(&t, back, msg, (size_t)n, WAIT_NS) != n) rc = 3;
    }
    for (i = 0; i < TRANSFERS && rc == 0; i++) {
        size_t size = BIG >> (2 * i);
        if (noc_portal_allow(&t, pin, 0, 1) != 0) rc = 4;
        else if (noc_portal_read(&t, pin, buf, sizeof buf, WAIT_NS) != (int)size) rc = 5;
        else if (!matches(buf, size, (unsigned)i)) rc = 6;
        else if (noc_mailbox_write(&t, back, "ok", 2, WAIT_NS) != 2) rc = 7;
    }
    noc_shm_detach(&nd);
    return (void *)(intptr_t)rc;
}

Test(shm_threads, ping_pong_and_portals_between_threads)
{
    static unsigned char src[BIG];
    unsigned char msg[NOC_MAILBOX_MSG_SIZE];
    pthread_t th;
    void *ret;
    int in, out, pout, i;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    cr_assert_eq(pthread_create(&th, NULL, thread_node1, NULL), 0);
    out = noc_mailbox_open(&mt, 1, 0);
    pout = noc_portal_open(&mt, 1, 1, 0);
    for (i = 0; i < PINGS; i++) {
        size_t n = 4 + (size_t)i % (NOC_MAILBOX_MSG_SIZE - 4);
        memset(msg, i & 0xff, n);
        memcpy(msg, &i, 4);
        cr_assert_eq(noc_mailbox_write(&mt, out, msg, n, WAIT_NS), (int)n);
        memset(msg, 0, sizeof msg);
        cr_assert_eq(noc_mailbox_read(&mt, in, msg, sizeof msg, WAIT_NS), (int)n);
        cr_assert_eq(memcmp(msg, &i, 4), 0);
        if (n > 4) cr_assert_eq(msg[n - 1], (unsigned char)(i & 0xff));
    }
    for (i = 0; i < TRANSFERS; i++) {
        size_t size = BIG >> (2 * i);
        pattern(src, size, (unsigned)i);
        cr_assert_eq(noc_portal_write(&mt, pout, src, size, WAIT_NS), (int)size);
        cr_assert_eq(noc_mailbox_read(&mt, in, msg, sizeof msg, WAIT_NS), 2);
    }
    cr_assert_eq(pthread_join(th, &ret), 0);
    cr_assert_eq((intptr_t)ret, 0, "node 1 failed at step %d", (int)(intptr_t)ret);
    finish_parent();
}

/* ---- many-to-one, forked ---------------------------------------------- */
#define MSGS 300

static int sender_node(noc_transport *t, void *arg)
{
    static unsigned char src[BIG];
    int self = noc_self(t), out, pout, i;
    unsigned char msg[8];
    (void)arg;
    out = noc_mailbox_open(t, 0, 0);
    CHECK(out >= 0);
    for (i = 0; i < MSGS; i++) {
        msg[0] = (unsigned char)self;
        memcpy(msg + 4, &i, 4);
        CHECK(noc_mailbox_write(t, out, msg, sizeof msg, WAIT_NS) == (int)sizeof msg);
    }
    /* then one portal transfer each; the size differs per node */
    pout = noc_portal_open(t, self, 0, 0);
    CHECK(pout >= 0);
    pattern(src, BIG - (size_t)self * 1000u, (unsigned)self);
    CHECK(noc_portal_write(t, pout, src, BIG - (size_t)self * 1000u, WAIT_NS) ==
          (int)(BIG - (size_t)self * 1000u));
    return 0;
}

static void many_to_one(int nodes, int copy)
{
    static unsigned char dst[BIG + 1];
    pid_t pid[NOC_NODES_MAX];
    int next[NOC_NODES_MAX] = { 0 };
    unsigned char msg[16];
    int in, pin, i, n;
    create_shm(nodes, copy, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pin = noc_portal_create(&mt, 0);
    cr_assert_geq(in, 0);
    for (n = 1; n < nodes; n++) pid[n] = spawn(n, sender_node, NULL);
    for (i = 0; i < MSGS * (nodes - 1); i++) {
        int seq;
        cr_assert_eq(noc_mailbox_read(&mt, in, msg, sizeof msg, WAIT_NS), 8);
        n = msg[0];
        cr_assert(n >= 1 && n < nodes);
        memcpy(&seq, msg + 4, 4);
        cr_assert_eq(seq, next[n], "node %d: message %d arrived where %d was due", n, seq, next[n]);
        next[n]++;
    }
    for (n = 1; n < nodes; n++) {
        size_t size = BIG - (size_t)n * 1000u;
        memset(dst, 0, sizeof dst);
        cr_assert_eq(noc_portal_allow(&mt, pin, n, n), 0);
        int got = noc_portal_read(&mt, pin, dst, BIG, WAIT_NS);
        cr_assert_eq(got, (int)size, "portal read from node %d: %d (%s)", n, got,
                     got < 0 ? uarea_strerror(got) : "bytes");
        cr_assert(matches(dst, size, (unsigned)n), "portal data from node %d differs", n);
        cr_assert_eq(dst[size], 0);
    }
    for (n = 1; n < nodes; n++) reap_ok(pid[n]);
    finish_parent();
}

Test(shm_procs, many_to_one_direct) { many_to_one(4, NOC_SHM_COPY_AUTO); }
Test(shm_procs, many_to_one_bounce) { many_to_one(3, NOC_SHM_COPY_BOUNCE); }

/* ---- each copy method, both orders (push and pull) -------------------- */
struct xfer { size_t size; int in_arena; };
static const size_t xfer_sizes[] = { 1, NOC_PORTAL_CHUNK - 1, NOC_PORTAL_CHUNK + 1, 65536, BIG };
#define NXFER (sizeof xfer_sizes / sizeof xfer_sizes[0])

static int receiver_node(noc_transport *t, void *arg)
{
    static unsigned char own[BIG + 1];
    const struct xfer *x = (const struct xfer *)arg;
    unsigned char *buf = own;
    unsigned i;
    int pin = noc_portal_create(t, 3), ack = noc_mailbox_open(t, 0, 1);
    CHECK(pin >= 0 && ack >= 0);
    if (x->in_arena) buf = (unsigned char *)noc_shm_arena(&shm, NULL) + BIG;
    for (i = 0; i < 2 * NXFER; i++) {
        size_t size = xfer_sizes[i % NXFER];
        memset(buf, 0, size + 1);
        CHECK(noc_portal_allow(t, pin, 0, 2) == 0);
        if (i >= NXFER) {
            /* the sender wrote first: this read pulls from its offer */
            CHECK(noc_mailbox_write(t, ack, "w", 1, WAIT_NS) == 1);
            usleep(2000);
        }
        CHECK(noc_portal_read(t, pin, buf, size, WAIT_NS) == (int)size);
        CHECK(matches(buf, size, i));
        CHECK(buf[size] == 0);
        CHECK(noc_mailbox_write(t, ack, "k", 1, WAIT_NS) == 1);
    }
    return 0;
}

static void each_size(int copy, int in_arena)
{
    static unsigned char own[BIG];
    struct xfer x;
    unsigned char *src = own, c;
    unsigned i;
    pid_t pid;
    int pout, ack;
    create_shm(2, copy, in_arena ? 2 * (size_t)BIG + 4096 : 0);
    attach_parent();
    if (in_arena) src = (unsigned char *)noc_shm_arena(&shm, NULL);
    ack = noc_mailbox_create(&mt, 1);
    x.in_arena = in_arena;
    x.size = 0;
    pid = spawn(1, receiver_node, &x);
    pout = noc_portal_open(&mt, 2, 1, 3);
    for (i = 0; i < 2 * NXFER; i++) {
        size_t size = xfer_sizes[i % NXFER];
        pattern(src, size, i);
        if (i >= NXFER) cr_assert_eq(noc_mailbox_read(&mt, ack, &c, 1, WAIT_NS), 1);
        cr_assert_eq(noc_portal_write(&mt, pout, src, size, WAIT_NS), (int)size);
        cr_assert_eq(noc_mailbox_read(&mt, ack, &c, 1, WAIT_NS), 1);
        cr_assert_eq(c, 'k');
    }
    reap_ok(pid);
    finish_parent();
}

Test(shm_procs, sizes_process_vm) { each_size(NOC_SHM_COPY_VM, 0); }
Test(shm_procs, sizes_shared_window) { each_size(NOC_SHM_COPY_VM, 1); }
Test(shm_procs, sizes_bounce) { each_size(NOC_SHM_COPY_BOUNCE, 0); }

/* ---- waiting on a copying peer ----------------------------------------- */
/* Node 1: once told that the read is posted, writes BIG bytes of pattern 5
 * (so it pushes); the progress hook set by the test may stall or kill it
 * in the middle. */
static int go_sender(noc_transport *t, void *arg)
{
    static unsigned char src[BIG];
    unsigned char go;
    int ctl = noc_mailbox_create(t, 0), pout = noc_portal_open(t, 0, 0, 0);
    (void)arg;
    CHECK(ctl >= 0 && pout >= 0);
    CHECK(noc_mailbox_read(t, ctl, &go, 1, WAIT_NS) == 1);   /* the read is posted */
    pattern(src, BIG, 5);
    CHECK(noc_portal_write(t, pout, src, BIG, WAIT_NS) == (int)BIG);
    return 0;
}

#define STALL_MS 300

/* Node 1 stops for STALL_MS after the first piece it sends. */
static void stall_midway(void *arg, int node, size_t done, size_t total)
{
    (void)arg;
    if (node == 1 && done == NOC_SHM_PIECE && done < total) usleep(STALL_MS * 1000);
}

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A waiter spins while its peer copies the transfer, but only for
 * NOC_SHM_BUSY_NS: a peer that stalls in the middle of the copy (descheduled,
 * stopped) does not make the waiter burn its CPU until the copy ends. */
Test(shm_wait, a_stalled_copy_puts_the_waiter_to_sleep_after_the_busy_spin)
{
    static unsigned char dst[BIG];
    double cpu;
    pid_t pid;
    int pin, ctl;
    cr_assert_lt(NOC_SHM_BUSY_NS, STALL_MS * INT64_C(1000000) / 4);
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    shm.desc.progress = stall_midway;
    attach_parent();
    pin = noc_portal_create(&mt, 0);
    pid = spawn(1, go_sender, NULL);
    ctl = noc_mailbox_open(&mt, 1, 0);
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    cr_assert_eq(noc_portal_aread(&mt, pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_mailbox_write(&mt, ctl, "g", 1, WAIT_NS), 1);
    cpu = thread_cpu_ms();
    cr_assert_eq(noc_portal_wait(&mt, pin, WAIT_NS), (int)BIG);
    cpu = thread_cpu_ms() - cpu;
    cr_assert(matches(dst, BIG, 5));
    reap_ok(pid);
    /* the busy spin (NOC_SHM_BUSY_NS) plus wake-ups; never the whole stall */
    cr_assert_lt(cpu, (double)STALL_MS / 2, "the waiter used %.1f ms of CPU in a %d ms stall",
                 cpu, STALL_MS);
    finish_parent();
}

/* Node 1's side of the receiver tests: allow node 0, post a BIG read into
 * dst (portal *pin), tell node 0 ("r" on its mailbox 0). 0, or 1 (CHECK). */
static int post_read_and_tell(noc_transport *t, unsigned char *dst, int *pin)
{
    int ready = noc_mailbox_open(t, 0, 0);
    *pin = noc_portal_create(t, 0);
    CHECK(*pin >= 0 && ready >= 0);
    CHECK(noc_portal_allow(t, *pin, 0, 0) == 0);
    CHECK(noc_portal_aread(t, *pin, dst, BIG) == 0);
    CHECK(noc_mailbox_write(t, ready, "r", 1, WAIT_NS) == 1);
    return 0;
}

/* Node 1 posts a read and then makes no NoC call for a while: the sender
 * may not wait for it to pull (its promise to pull lasts NOC_SHM_PULL_NS),
 * it pushes. */
static int absent_receiver(noc_transport *t, void *arg)
{
    static unsigned char dst[BIG];
    int pin;
    (void)arg;
    if (post_read_and_tell(t, dst, &pin) != 0) return 1;
    usleep(STALL_MS * 1000);                    /* no NoC call meanwhile */
    CHECK(noc_portal_wait(t, pin, 0) == (int)BIG);
    CHECK(matches(dst, BIG, 7));
    return 0;
}

Test(shm_wait, a_read_posted_without_a_wait_is_pushed)
{
    static unsigned char src[BIG];
    unsigned char c;
    pid_t pid;
    int in, pout;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, absent_receiver, NULL);
    pout = noc_portal_open(&mt, 0, 1, 0);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);  /* its read is posted */
    pattern(src, BIG, 7);
    /* well before the receiver calls the NoC again */
    cr_assert_eq(noc_portal_write(&mt, pout, src, BIG, STALL_MS * INT64_C(1000000) / 3), (int)BIG);
    reap_ok(pid);
    finish_parent();
}

/* ---- peer death --------------------------------------------------------- */
static pid_t victim;

/* Node 1 dies by its own hand after the first piece it sends. */
static void die_midway(void *arg, int node, size_t done, size_t total)
{
    (void)arg;
    if (node == 1 && done < total) raise(SIGKILL);
}

/* Node 0 kills node 1 after the first piece it sends, and waits until the
 * death is visible, so that the rest of the transfer meets a dead receiver. */
static void kill_receiver_midway(void *arg, int node, size_t done, size_t total)
{
    (void)arg;
    if (node != 0 || done >= total || victim == 0) return;
    kill(victim, SIGKILL);
    while (noc_shm_peer_state(&me, 1) != UAREA_EPEERGONE) usleep(1000);
    victim = 0;
}


Test(shm_death, sender_killed_in_the_middle_of_a_portal_transfer)
{
    static unsigned char dst[BIG];
    pid_t pid;
    int pin, ctl;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    shm.desc.progress = die_midway;             /* before fork: every node sees it */
    attach_parent();
    pin = noc_portal_create(&mt, 0);
    pid = spawn(1, go_sender, NULL);    /* dies inside its write */
    ctl = noc_mailbox_open(&mt, 1, 0);
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    cr_assert_eq(noc_portal_aread(&mt, pin, dst, sizeof dst), 0);
    cr_assert_eq(noc_mailbox_write(&mt, ctl, "g", 1, WAIT_NS), 1);
    cr_assert_eq(noc_portal_wait(&mt, pin, WAIT_NS), UAREA_EPEERGONE);
    reap_killed(pid);
    /* it was in the middle: the first piece had arrived, the last had not */
    cr_assert(matches(dst, NOC_SHM_PIECE, 5));
    cr_assert(!matches(dst + BIG - NOC_PORTAL_CHUNK, NOC_PORTAL_CHUNK, 5));
    /* the portal is usable again: a new allow, a new read, times out cleanly */
    cr_assert_eq(noc_portal_allow(&mt, pin, 0, 0), 0);
    cr_assert_eq(noc_portal_read(&mt, pin, dst, 16, 0), UAREA_EAGAIN);
    finish_parent();
}

static int doomed_receiver(noc_transport *t, void *arg)
{
    static unsigned char dst[BIG];
    (void)arg;
    int pin;
    if (post_read_and_tell(t, dst, &pin) != 0) return 1;
    for (;;) pause();                           /* killed by the sender's hook */
}

Test(shm_death, receiver_killed_in_the_middle_of_a_portal_transfer)
{
    static unsigned char src[BIG];
    unsigned char c;
    pid_t pid;
    int in, pout;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    shm.desc.progress = kill_receiver_midway;
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, doomed_receiver, NULL);
    victim = pid;
    pout = noc_portal_open(&mt, 0, 1, 0);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);  /* its read is posted */
    pattern(src, BIG, 1);
    cr_assert_eq(noc_portal_write(&mt, pout, src, BIG, WAIT_NS), UAREA_EPEERGONE);
    cr_assert_eq(victim, 0, "the transfer never reached its second piece");
    reap_killed(pid);
    finish_parent();
}

static int one_message_then_sleep(noc_transport *t, void *arg)
{
    int out = noc_mailbox_open(t, 0, 0);
    (void)arg;
    CHECK(out >= 0);
    CHECK(noc_mailbox_write(t, out, "m", 1, WAIT_NS) == 1);
    for (;;) pause();
}

Test(shm_death, mailbox_reader_waiting_on_a_killed_writer)
{
    unsigned char c;
    pid_t pid, k;
    int in;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, one_message_then_sleep, NULL);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);
    k = killer(pid, 30);                        /* dies while we wait below */
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), UAREA_EPEERGONE);
    reap_killed(pid);
    reap_ok(k);
    finish_parent();
}

static int mailbox_owner(noc_transport *t, void *arg)
{
    int in = noc_mailbox_create(t, 0), pin = noc_portal_create(t, 0);
    int out = noc_mailbox_open(t, 0, 0);
    (void)arg;
    CHECK(in >= 0 && pin >= 0 && out >= 0);
    CHECK(noc_mailbox_write(t, out, "r", 1, WAIT_NS) == 1);
    for (;;) pause();
}

Test(shm_death, writers_waiting_on_a_killed_receiver)
{
    unsigned char c = 0;
    pid_t pid, k;
    unsigned i;
    int in, out, pout;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, mailbox_owner, NULL);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);
    out = noc_mailbox_open(&mt, 1, 0);
    pout = noc_portal_open(&mt, 0, 1, 0);
    for (i = 0; i < NOC_SHM_MAILBOX_SLOTS; i++) cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, 0), 1);
    k = killer(pid, 30);
    cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, WAIT_NS), UAREA_EPEERGONE);   /* full */
    cr_assert_eq(noc_portal_write(&mt, pout, &c, 1, WAIT_NS), UAREA_EPEERGONE);   /* no allow */
    reap_killed(pid);
    reap_ok(k);
    finish_parent();
}

static int portal_owner(noc_transport *t, void *arg)
{
    int pin = noc_portal_create(t, 0), out = noc_mailbox_open(t, 0, 0);
    (void)arg;
    CHECK(pin >= 0 && out >= 0);
    CHECK(noc_mailbox_write(t, out, "r", 1, WAIT_NS) == 1);
    for (;;) pause();
}

Test(shm_death, portal_writer_waiting_for_an_allow_from_a_killed_receiver)
{
    unsigned char c = 0;
    pid_t pid, k;
    int in, pout;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, portal_owner, NULL);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);
    pout = noc_portal_open(&mt, 0, 1, 0);
    k = killer(pid, 30);
    cr_assert_eq(noc_portal_write(&mt, pout, &c, 1, WAIT_NS), UAREA_EPEERGONE);
    reap_killed(pid);
    reap_ok(k);
    finish_parent();
}

/* A node whose process dies before it attaches: once the launcher has
 * announced the process (noc_shm_expect), peers waiting on the node learn of
 * the death (unannounced, the node could still come: they time out). */
Test(shm_death, a_node_that_dies_before_attaching_is_seen_dead_once_announced)
{
    unsigned char c = 0;
    pid_t pid;
    int out, in, st = 0;
    create_shm(3, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) _exit(0);                     /* node 1 never attaches */
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    out = noc_mailbox_open(&mt, 2, 0);          /* node 2: nobody announced */
    cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, 50000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_mailbox_close(&mt, out), 0);
    cr_assert_eq(noc_shm_expect(&shm, 1, (int)pid), 0);
    cr_assert_eq(noc_shm_expect(&shm, 0, (int)getpid()), UAREA_ESTATE, "node 0 is attached");
    cr_assert_eq(noc_shm_expect(&shm, 3, (int)pid), UAREA_EBADNODE);
    cr_assert_eq(noc_shm_expect(NULL, 1, (int)pid), UAREA_EINVAL);
    out = noc_mailbox_open(&mt, 1, 0);
    cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, WAIT_NS), UAREA_EPEERGONE);
    in = noc_portal_create(&mt, 0);
    cr_assert_eq(noc_portal_allow(&mt, in, 1, 0), UAREA_EPEERGONE);
    cr_assert_eq(noc_shm_peer_state(&me, 1), UAREA_EPEERGONE);
    cr_assert_eq(noc_mailbox_close(&mt, out), 0);
    finish_parent();
}

/* A message to a node whose process died lands in its ring unnoticed while
 * the ring is empty; once messages wait there unread, a write probes the
 * reader's process and fails (before, every write until the ring was full
 * "succeeded": a migration to a dead node waited out all its retries).
 * Probes are rate-limited (one per NOC_SHM_PROBE_NS; a probe made while the
 * node lived may answer for that long): the writes here are spaced by more
 * than that, and the second one must fail. */
Test(shm_death, a_write_behind_unread_messages_to_a_dead_node_fails)
{
    unsigned char c = 0;
    struct timespec gap = {0, 2 * NOC_SHM_PROBE_NS};
    pid_t pid;
    int in, out;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, mailbox_owner, NULL);        /* creates its inbox, says so */
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);
    out = noc_mailbox_open(&mt, 1, 0);
    kill(pid, SIGKILL);
    reap_killed(pid);
    nanosleep(&gap, NULL);
    cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, 0), 1, "an empty ring takes it");
    nanosleep(&gap, NULL);
    cr_assert_eq(noc_mailbox_write(&mt, out, &c, 1, 0), UAREA_EPEERGONE);
    finish_parent();
}

/* noc_node_gone (the protocol asks it at the commit point) probes afresh: a
 * node seen alive a moment ago and killed since is gone at once, not after
 * the probe cache's millisecond. */
Test(shm_death, node_gone_probes_afresh)
{
    unsigned char c = 0;
    pid_t pid;
    int in;
    create_shm(2, NOC_SHM_COPY_AUTO, 0);
    attach_parent();
    in = noc_mailbox_create(&mt, 0);
    pid = spawn(1, mailbox_owner, NULL);
    cr_assert_eq(noc_mailbox_read(&mt, in, &c, 1, WAIT_NS), 1);
    cr_assert_eq(noc_node_gone(&mt, 1), 0, "alive");
    cr_assert_eq(noc_shm_peer_state(&me, 1), 1, "alive, and now cached as alive");
    kill(pid, SIGKILL);
    reap_killed(pid);
    cr_assert_eq(noc_node_gone(&mt, 1), 1);
    cr_assert_eq(noc_node_gone(&mt, 0), 0, "this node");
    cr_assert_eq(noc_node_gone(&mt, 2), UAREA_EBADNODE);
    finish_parent();
}

/* ---- writing in place across processes ---------------------------------- */

/* Node 1: for each "go" from node 0, one write into node 0's posted read:
 * 'p' its private buffer (no access in place: an ordinary write), 'a' the
 * arena (in place), 'k' the arena, in place, killed half way. */
static int in_place_sender(noc_transport *t, void *arg)
{
    static unsigned char src[BIG];
    unsigned char go;
    int ctl = noc_mailbox_create(t, 0), pout = noc_portal_open(t, 0, 0, 0);
    unsigned seed = 11;
    (void)arg;
    CHECK(ctl >= 0 && pout >= 0);
    for (;;) {
        void *b = NULL;
        size_t n = 0;
        CHECK(noc_mailbox_read(t, ctl, &go, 1, WAIT_NS) == 1);
        if (go == 'q') return 0;
        if (go == 'p') {
            CHECK(noc_portal_wbuf(t, pout, &b, &n) == UAREA_ENOSYS);
            pattern(src, BIG, seed);
            CHECK(noc_portal_write(t, pout, src, BIG, WAIT_NS) == (int)BIG);
        } else {
            CHECK(noc_portal_wbuf(t, pout, &b, &n) == 0);
            CHECK(b == noc_shm_arena(&shm, NULL) && n == BIG);
            pattern((unsigned char *)b, go == 'k' ? BIG / 2 : BIG, seed);
            if (go == 'k') raise(SIGKILL);
            CHECK(noc_portal_wdone(t, pout, BIG) == (int)BIG);
        }
        seed++;
    }
}

Test(shm_procs, writing_in_place_needs_a_shared_window_and_survives_the_writers_death)
{
    static unsigned char own[BIG];
    unsigned char *arena;
    pid_t pid;
    int pin, ctl;
    create_shm(2, NOC_SHM_COPY_AUTO, BIG);
    attach_parent();
    arena = (unsigned char *)noc_shm_arena(&shm, NULL);
    pin = noc_portal_create(&mt, 0);
    pid = spawn(1, in_place_sender, NULL);
    ctl = noc_mailbox_open(&mt, 1, 0);
    /* a private buffer of another process: refused in place, no harm done */
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    cr_assert_eq(noc_portal_aread(&mt, pin, own, BIG), 0);
    cr_assert_eq(noc_mailbox_write(&mt, ctl, "p", 1, WAIT_NS), 1);
    cr_assert_eq(noc_portal_wait(&mt, pin, WAIT_NS), (int)BIG);
    cr_assert(matches(own, BIG, 11));
    /* the arena: written where it lies */
    memset(arena, 0, BIG);
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    cr_assert_eq(noc_portal_aread(&mt, pin, arena, BIG), 0);
    cr_assert_eq(noc_mailbox_write(&mt, ctl, "a", 1, WAIT_NS), 1);
    cr_assert_eq(noc_portal_wait(&mt, pin, WAIT_NS), (int)BIG);
    cr_assert(matches(arena, BIG, 12));
    /* the writer dies holding the claim: the read ends, not hangs */
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    cr_assert_eq(noc_portal_aread(&mt, pin, arena, BIG), 0);
    cr_assert_eq(noc_mailbox_write(&mt, ctl, "k", 1, WAIT_NS), 1);
    cr_assert_eq(noc_portal_wait(&mt, pin, WAIT_NS), UAREA_EPEERGONE);
    reap_killed(pid);
    cr_assert_eq(noc_portal_allow(&mt, pin, 0, 0), 0, "the portal is usable again");
    finish_parent();
}

/* Node 1 writes twice to node 0: from a private buffer (node 0 cannot read
 * it in place: it posts a read), then from the arena (read in place). */
static int rbuf_sender(noc_transport *t, void *arg)
{
    static unsigned char own[BIG];
    unsigned char *arena = (unsigned char *)noc_shm_arena(&shm, NULL);
    int pout = noc_portal_open(t, 0, 0, 0);
    (void)arg;
    CHECK(pout >= 0);
    pattern(own, BIG, 21);
    CHECK(noc_portal_write(t, pout, own, BIG, WAIT_NS) == (int)BIG);
    pattern(arena, BIG, 22);
    CHECK(noc_portal_write(t, pout, arena, BIG, WAIT_NS) == (int)BIG);
    return 0;
}

Test(shm_procs, reading_in_place_needs_a_shared_window)
{
    static unsigned char own[BIG];
    const void *b = NULL;
    size_t n = 0;
    pid_t pid;
    int pin, rc;
    create_shm(2, NOC_SHM_COPY_AUTO, BIG);
    attach_parent();
    pin = noc_portal_create(&mt, 0);
    pid = spawn(1, rbuf_sender, NULL);
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    while ((rc = noc_portal_rbuf(&mt, pin, &b, &n)) == UAREA_EAGAIN) usleep(100);
    cr_assert_eq(rc, UAREA_ENOSYS, "a private buffer of another process");
    cr_assert_eq(noc_portal_read(&mt, pin, own, BIG, WAIT_NS), (int)BIG, "a read still works");
    cr_assert(matches(own, BIG, 21));
    cr_assert_eq(noc_portal_allow(&mt, pin, 1, 0), 0);
    while ((rc = noc_portal_rbuf(&mt, pin, &b, &n)) == UAREA_EAGAIN) usleep(100);
    cr_assert_eq(rc, 0);
    cr_assert_eq(b, noc_shm_arena(&shm, NULL));
    cr_assert_eq(n, BIG);
    cr_assert(matches((const unsigned char *)b, BIG, 22));
    cr_assert_eq(noc_portal_rdone(&mt, pin), (int)BIG);
    reap_ok(pid);
    finish_parent();
}
