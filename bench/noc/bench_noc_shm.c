/* bench_noc_shm: the shared-memory NoC transport between two processes.
 *
 * Prints, from one run: the mailbox round-trip latency (median, p99) and the
 * portal throughput for 4 KiB, 64 KiB and 1 MiB transfers, each beside
 * memcpy throughput for the same size measured in the same run; then the
 * portal throughput through each copy method (a private receiver buffer:
 * process_vm_writev/readv; a buffer in the shared arena: memcpy; the bounce
 * ring: two copies; writing in place: noc_portal_wbuf, a memcpy from the
 * sender's private buffer into the receiver's read in the arena, then
 * noc_portal_wdone); the ratios come last.
 *
 * Each throughput is measured in ROUNDS rounds, and each round measures the
 * memcpy baseline right after the portal transfers, so that a ratio compares
 * figures taken moments apart (these machines are shared, and their speed
 * drifts); the medians over the rounds are printed, and each ratio is the
 * median of the per-round ratios, with its smallest and largest.
 *
 *     bench_noc_shm [scale]     scale (default 1) multiplies the repetitions
 *
 * Goals: 1 MiB portal throughput at least 0.7x memcpy; mailbox round trip
 * median under 10 us. The figures are printed, never asserted. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/noc_shm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024u
#define BIG NOC_PORTAL_MAX_SIZE
#define NSIZES 3
static const size_t sizes[NSIZES] = { 4 * KIB, 64 * KIB, BIG };
static const char *const names[NSIZES] = { "4 KiB", "64 KiB", "1 MiB" };
static const char *const methods[4] = { "private buffer (process_vm)", "shared arena (memcpy)",
                                        "in place (wbuf + memcpy + wdone)",
                                        "bounce ring (two copies)" };
#define WAYS 3            /* receiver buffer / sender method: private, arena, in place */

#define ROUNDS 9
static int scale = 1;
static volatile unsigned char sink;

enum { CMD_PING = 1, CMD_PORTAL = 2, CMD_QUIT = 3 };
struct cmd { int op; int where; unsigned count; unsigned size; };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_noc_shm: %s: %s\n", what, rc < 0 ? uarea_strerror(rc) : "failed");
    exit(1);
}

static unsigned reps(size_t size)
{
    /* about 64 MiB per measurement, at least 200 transfers */
    size_t n = (64u * KIB * KIB) / size;
    if (n < 200) n = 200;
    if (n > 20000) n = 20000;
    return (unsigned)n * (unsigned)scale;
}

/* ---- node 1: echoes pings, receives portal transfers ---- */
static unsigned char *private_buf;

static int node1(noc_shm *shm)
{
    noc_shm_node nd;
    noc_transport t;
    unsigned char msg[NOC_MAILBOX_MSG_SIZE];
    int ctl, back, pin, rc;
    if ((rc = noc_shm_attach(shm, 1, &nd, &t)) < 0) die("attach 1", rc);
    ctl = noc_mailbox_create(&t, 0);
    back = noc_mailbox_open(&t, 0, 0);
    pin = noc_portal_create(&t, 0);
    if (ctl < 0 || back < 0 || pin < 0) die("node 1 setup", ctl < 0 ? ctl : back < 0 ? back : pin);
    for (;;) {
        struct cmd c;
        unsigned i;
        unsigned char *buf;
        if ((rc = noc_mailbox_read(&t, ctl, &c, sizeof c, NOC_FOREVER)) < 0) die("node 1 read", rc);
        if (c.op == CMD_QUIT) break;
        if (c.op == CMD_PING) {
            for (i = 0; i < c.count; i++) {
                int n = noc_mailbox_read(&t, ctl, msg, sizeof msg, NOC_FOREVER);
                if (n < 0) die("ping read", n);
                if ((rc = noc_mailbox_write(&t, back, msg, (size_t)n, NOC_FOREVER)) < 0)
                    die("ping write", rc);
            }
            continue;
        }
        buf = c.where >= 1 ? (unsigned char *)noc_shm_arena(shm, NULL) + BIG : private_buf;
        for (i = 0; i < c.count; i++) {
            if ((rc = noc_portal_allow(&t, pin, 0, 1)) < 0) die("allow", rc);
            if ((rc = noc_portal_read(&t, pin, buf, c.size, NOC_FOREVER)) != (int)c.size)
                die("portal read", rc);
        }
        sink = buf[c.size - 1];
        if ((rc = noc_mailbox_write(&t, back, "k", 1, NOC_FOREVER)) < 0) die("ack", rc);
    }
    noc_shm_detach(&nd);
    return 0;
}

/* ---- node 0 ---- */
static noc_shm_node me;
static noc_transport mt;
static int ctl_out, back_in, pout;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void send_cmd(int op, int where, unsigned count, size_t size)
{
    struct cmd c;
    int rc;
    c.op = op;
    c.where = where;
    c.count = count;
    c.size = (unsigned)size;
    if ((rc = noc_mailbox_write(&mt, ctl_out, &c, sizeof c, NOC_FOREVER)) < 0) die("command", rc);
}

static void mailbox_rtt(unsigned trips, double *median, double *p99)
{
    unsigned char msg[NOC_MAILBOX_MSG_SIZE], got[NOC_MAILBOX_MSG_SIZE];
    double *t = (double *)malloc(sizeof(double) * trips);
    unsigned i;
    int rc;
    if (t == NULL) die("malloc", 0);
    memset(msg, 0x5a, sizeof msg);
    send_cmd(CMD_PING, 0, trips, 0);
    for (i = 0; i < trips; i++) {
        double t0 = now_s();
        if ((rc = noc_mailbox_write(&mt, ctl_out, msg, sizeof msg, NOC_FOREVER)) < 0) die("ping", rc);
        if ((rc = noc_mailbox_read(&mt, back_in, got, sizeof got, NOC_FOREVER)) < 0) die("pong", rc);
        t[i] = now_s() - t0;
    }
    qsort(t, trips, sizeof *t, cmp_double);
    *median = t[trips / 2];
    *p99 = t[(size_t)((double)trips * 0.99)];
    free(t);
}

static double portal_rate(int where, size_t size, unsigned count, unsigned char *src)
{
    unsigned char k;
    unsigned i;
    double t0;
    int rc;
    send_cmd(CMD_PORTAL, where, count, size);
    t0 = now_s();
    for (i = 0; i < count; i++) {
        void *to;
        size_t cap;
        if (where < 2) {
            if ((rc = noc_portal_write(&mt, pout, src, size, NOC_FOREVER)) != (int)size)
                die("portal write", rc);
            continue;
        }
        while ((rc = noc_portal_wbuf(&mt, pout, &to, &cap)) == UAREA_EAGAIN ||
               rc == UAREA_ENOTALLOWED) {}
        if (rc < 0 || cap < size) die("wbuf", rc);
        memcpy(to, src, size);
        if ((rc = noc_portal_wdone(&mt, pout, size)) != (int)size) die("wdone", rc);
    }
    if ((rc = noc_mailbox_read(&mt, back_in, &k, 1, NOC_FOREVER)) < 0) die("ack read", rc);
    return (double)size * count / (now_s() - t0);
}

static double memcpy_rate(size_t size, unsigned count, unsigned char *src, unsigned char *dst)
{
    unsigned i;
    double t0 = now_s();
    for (i = 0; i < count; i++) {
        src[i % size] = (unsigned char)i;           /* keep each copy live */
        memcpy(dst, src, size);
        sink = dst[(i * 7u) % size];
    }
    return (double)size * count / (now_s() - t0);
}

static unsigned char *mc_a, *mc_b;       /* memcpy baseline buffers */

/* One run of node 1 on a fresh transport: for each size, ROUNDS rounds of
 * (portal transfers, then memcpy of the same size) per receiver buffer. */
static void run(int copy, int with_rtt, double *median, double *p99,
                double portal[WAYS][NSIZES][ROUNDS], double mc[WAYS][NSIZES][ROUNDS])
{
    noc_shm shm;
    noc_shm_desc d;
    unsigned char *src = (unsigned char *)malloc(BIG);
    pid_t pid;
    int rc, st, j, w, r;
    if (src == NULL) die("malloc", 0);
    memset(src, 0xa5, BIG);
    memset(&d, 0, sizeof d);
    d.nodes = 2;
    d.copy = copy;
    d.arena_size = 2 * (size_t)BIG;
    if ((rc = noc_shm_create(&shm, &d)) < 0) die("create", rc);
    pid = fork();
    if (pid < 0) die("fork", 0);
    if (pid == 0) _exit(node1(&shm));
    if ((rc = noc_shm_attach(&shm, 0, &me, &mt)) < 0) die("attach 0", rc);
    back_in = noc_mailbox_create(&mt, 0);
    ctl_out = noc_mailbox_open(&mt, 1, 0);
    pout = noc_portal_open(&mt, 1, 1, 0);
    if (back_in < 0 || ctl_out < 0 || pout < 0) die("node 0 setup", -1);
    if (with_rtt) {
        mailbox_rtt(2000, median, p99);                     /* warm-up */
        mailbox_rtt(20000u * (unsigned)scale, median, p99);
    }
    /* the arena case keeps both buffers in the arena: memcpy whichever side
     * copies */
    memset(noc_shm_arena(&shm, NULL), 0xa5, BIG);
    for (j = 0; j < NSIZES; j++)
        for (r = -1; r < ROUNDS; r++)                        /* round -1: warm-up */
            for (w = 0; w < WAYS; w++) {
                unsigned char *from = w == 1 ? (unsigned char *)noc_shm_arena(&shm, NULL) : src;
                unsigned n = r < 0 ? reps(sizes[j]) / 10 + 1 : reps(sizes[j]);
                double pr, mr;
                if (copy == NOC_SHM_COPY_BOUNCE && w >= 1) break;
                pr = portal_rate(w, sizes[j], n, from);
                mr = memcpy_rate(sizes[j], n, mc_a, mc_b);
                if (r >= 0) {
                    portal[w][j][r] = pr;
                    mc[w][j][r] = mr;
                }
            }
    send_cmd(CMD_QUIT, 0, 0, 0);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("node 1 exit", 0);
    noc_shm_detach(&me);
    noc_shm_destroy(&shm);
    free(src);
}

static double median_of(const double *v, int n)
{
    double t[ROUNDS * 2];
    int i;
    for (i = 0; i < n; i++) t[i] = v[i];
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* The per-round ratios portal/memcpy: median, smallest, largest. */
static double ratio(const double *portal, const double *mc, double *lo, double *hi)
{
    double q[ROUNDS];
    int r;
    *lo = 1e300;
    *hi = 0;
    for (r = 0; r < ROUNDS; r++) {
        q[r] = portal[r] / mc[r];
        if (q[r] < *lo) *lo = q[r];
        if (q[r] > *hi) *hi = q[r];
    }
    return median_of(q, ROUNDS);
}

int main(int argc, char **argv)
{
    static double direct[WAYS][NSIZES][ROUNDS], bounce[WAYS][NSIZES][ROUNDS];
    static double mc_direct[WAYS][NSIZES][ROUNDS], mc_bounce[WAYS][NSIZES][ROUNDS];
    double median = 0, p99 = 0, lo, hi, q;
    int j, w;
    if (argc > 1) scale = atoi(argv[1]) > 0 ? atoi(argv[1]) : 1;
    private_buf = (unsigned char *)malloc(BIG);
    mc_a = (unsigned char *)malloc(BIG);
    mc_b = (unsigned char *)malloc(BIG);
    if (private_buf == NULL || mc_a == NULL || mc_b == NULL) die("malloc", 0);
    memset(private_buf, 0, BIG);
    memset(mc_a, 1, BIG);
    memset(mc_b, 2, BIG);
    printf("bench_noc_shm: 2 processes, %ld CPUs online, mailbox messages of %u bytes, "
           "medians of %d rounds\n",
           sysconf(_SC_NPROCESSORS_ONLN), (unsigned)NOC_MAILBOX_MSG_SIZE, ROUNDS);

    run(NOC_SHM_COPY_AUTO, 1, &median, &p99, direct, mc_direct);
    run(NOC_SHM_COPY_BOUNCE, 0, &median, &p99, bounce, mc_bounce);

    printf("\nmailbox round trip: median %.2f us, p99 %.2f us (%u trips)\n",
           median * 1e6, p99 * 1e6, 20000u * (unsigned)scale);
    printf("\nportal throughput, GB/s (receiver buffer: %s)\n", methods[0]);
    for (j = 0; j < NSIZES; j++)
        printf("  %-7s portal %7.2f   memcpy %7.2f\n", names[j],
               median_of(direct[0][j], ROUNDS) / 1e9, median_of(mc_direct[0][j], ROUNDS) / 1e9);
    printf("\nportal throughput by copy method, GB/s\n");
    printf("  %-7s %12s %12s %12s %12s\n", "size", "process_vm", "arena", "in place", "bounce");
    for (j = 0; j < NSIZES; j++)
        printf("  %-7s %12.2f %12.2f %12.2f %12.2f\n", names[j], median_of(direct[0][j], ROUNDS) / 1e9,
               median_of(direct[1][j], ROUNDS) / 1e9, median_of(direct[2][j], ROUNDS) / 1e9,
               median_of(bounce[0][j], ROUNDS) / 1e9);

    printf("\nratios (portal / memcpy of the same size measured right after it; median of %d "
           "rounds, [smallest, largest])\n", ROUNDS);
    for (j = 0; j < NSIZES; j++) {
        printf("  %-7s", names[j]);
        q = ratio(direct[0][j], mc_direct[0][j], &lo, &hi);
        printf(" process_vm %.2f [%.2f, %.2f]", q, lo, hi);
        q = ratio(direct[1][j], mc_direct[1][j], &lo, &hi);
        printf("   arena %.2f [%.2f, %.2f]", q, lo, hi);
        q = ratio(direct[2][j], mc_direct[2][j], &lo, &hi);
        printf("   in place %.2f [%.2f, %.2f]", q, lo, hi);
        q = ratio(bounce[0][j], mc_bounce[0][j], &lo, &hi);
        printf("   bounce %.2f [%.2f, %.2f]\n", q, lo, hi);
    }
    printf("  mailbox round trip median %.2f us (goal: < 10 us): %s\n", median * 1e6,
           median < 10e-6 ? "met" : "missed");
    for (w = 0; w < WAYS; w++) {
        q = ratio(direct[w][NSIZES - 1], mc_direct[w][NSIZES - 1], &lo, &hi);
        printf("  1 MiB portal / memcpy, %s: %.2f (goal: >= 0.70): %s\n", methods[w], q,
               q >= 0.7 ? "met" : "missed");
    }
    free(private_buf);
    free(mc_a);
    free(mc_b);
    return 0;
}
