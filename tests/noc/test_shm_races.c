/* Races of the shared-memory transport that need a precise interleaving: the
 * program wraps clock_gettime and memcpy before including the transport, so
 * that "the other side" runs exactly between two steps of a sender. No
 * Criterion (the wrappers must come before any header that uses them).
 *
 *   claim:  a sender that saw "read posted, allowed for me" and is then
 *           preempted must not push into a read posted anew for another
 *           sender (it did: the receiver got data from a node it had not
 *           allowed).
 *   stream: a bounce-ring sender whose transfer the receiver withdrew must
 *           not make the next transfer copy past the end of its read buffer
 *           (it did: 4 KiB past the end).
 *   cancel: a sender's cancel that finds its offer taken by a pull that
 *           gives it back (the read is for another port of the node) must
 *           return (it waited forever, about once in 65,000 tries).
 *   reattach: a liveness probe that finds a node's process dead must not
 *           mark the node dead when a new process attached it meanwhile
 *           (it did: the live node was gone for good for every peer).
 *
 * Exit status 0 when every check holds. */
#define _GNU_SOURCE 1
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static int armed_clock, armed_copy, armed_poll, in_hook, copies;
static void on_clock(void);
static void on_copy(void);
static void on_poll(void);

static int hooked_poll(struct pollfd *f, nfds_t n, int timeout)
{
    int r = poll(f, n, timeout);
    if (armed_poll && !in_hook && r > 0) {   /* a probe just found a process dead */
        in_hook = 1;
        armed_poll = 0;
        on_poll();
        in_hook = 0;
    }
    return r;
}

static int hooked_clock_gettime(clockid_t c, struct timespec *ts)
{
    if (armed_clock && !in_hook) {
        in_hook = 1;
        armed_clock = 0;
        on_clock();
        in_hook = 0;
    }
    return clock_gettime(c, ts);
}

static void *hooked_memcpy(void *d, const void *s, size_t n)
{
    void *r = __builtin_memcpy(d, s, n);
    if (armed_copy && !in_hook && n == 4096 && ++copies == 2) {
        in_hook = 1;
        armed_copy = 0;
        on_copy();
        in_hook = 0;
    }
    return r;
}

#define clock_gettime hooked_clock_gettime
#define memcpy hooked_memcpy
#define poll hooked_poll
#define UAREA_POSIX_IMPLEMENTATION
#define NOC_IMPLEMENTATION
#include <uarea_posix/noc_shm.h>
#undef clock_gettime
#undef memcpy
#undef poll

static int failures;
#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);  \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static noc_shm shm;
static noc_shm_node nd[3];
static noc_transport t[3];
static int rp, s2;
static char buf1[64], buf2[64];

static void setup(int nodes, int copy)
{
    CHECK(noc_shm_create(&shm, &(noc_shm_desc){.nodes = nodes, .copy = copy}) == 0);
    for (int i = 0; i < nodes; i++) CHECK(noc_shm_attach(&shm, i, &nd[i], &t[i]) == 0);
}

static void teardown(int nodes)
{
    for (int i = 0; i < nodes; i++) (void)noc_shm_detach(&nd[i]);
    (void)noc_shm_destroy(&shm);
}

/* ---- claim ---- */
static void on_clock(void)
{
    /* the sender looked and is about to claim: the receiver withdraws its
     * read, allows node 2 instead and posts a new one */
    CHECK(noc_portal_cancel(&t[0], rp) == UAREA_EAGAIN);
    CHECK(noc_portal_allow(&t[0], rp, 2, 0) == 0);
    CHECK(noc_portal_aread(&t[0], rp, buf2, sizeof buf2) == 0);
}

static void claim(void)
{
    int sp;
    setup(3, 0);
    nd[0].vm_denied = 1;                 /* no pull promise: the sender pushes */
    rp = noc_portal_create(&t[0], 0);
    CHECK(noc_portal_allow(&t[0], rp, 1, 0) == 0);
    CHECK(noc_portal_aread(&t[0], rp, buf1, sizeof buf1) == 0);
    sp = noc_portal_open(&t[1], 0, 0, 0);
    CHECK(sp >= 0);
    armed_clock = 1;
    CHECK(noc_portal_awrite(&t[1], sp, "FROM-1", 7) == 0);
    (void)noc_portal_poll(&t[1], sp);
    CHECK(!armed_clock);                 /* the interleaving happened */
    CHECK(noc_portal_wait(&t[0], rp, 0) == UAREA_ETIMEDOUT);
    CHECK(buf2[0] == 0);                 /* nothing from node 1 */
    /* node 2's write lands in the new read */
    s2 = noc_portal_open(&t[2], 0, 0, 0);
    CHECK(noc_portal_write(&t[2], s2, "FROM-2", 7, 0) == 7);
    CHECK(noc_portal_wait(&t[0], rp, 0) == 7 && strcmp(buf2, "FROM-2") == 0);
    (void)noc_portal_cancel(&t[1], sp);
    teardown(3);
}

/* ---- stream ---- */
static struct { char buf[4096]; char after[8192]; } rd;
static char big[3 * 4096], first[3 * 4096];

static void on_copy(void)
{
    /* the bounce sender copied a chunk and has not published it yet: the
     * receiver withdraws, allows node 2 and posts a 4 KiB read, which node 2
     * fills with 100 bytes */
    (void)noc_portal_cancel(&t[0], rp);
    CHECK(noc_portal_allow(&t[0], rp, 2, 0) == 0);
    CHECK(noc_portal_aread(&t[0], rp, rd.buf, sizeof rd.buf) == 0);
    CHECK(noc_portal_write(&t[2], s2, big, 100, 0) == 100);
}

static void stream(void)
{
    int s1, bad = 0;
    setup(3, NOC_SHM_COPY_BOUNCE);
    memset(big, 'X', sizeof big);
    rp = noc_portal_create(&t[0], 0);
    s1 = noc_portal_open(&t[1], 0, 0, 0);
    s2 = noc_portal_open(&t[2], 0, 0, 0);
    CHECK(noc_portal_allow(&t[0], rp, 1, 0) == 0);
    CHECK(noc_portal_aread(&t[0], rp, first, sizeof first) == 0);
    armed_copy = 1;
    CHECK(noc_portal_awrite(&t[1], s1, big, sizeof big) == 0);
    (void)noc_portal_poll(&t[1], s1);
    CHECK(!armed_copy);
    (void)noc_portal_poll(&t[0], rp);
    for (size_t i = 0; i < sizeof rd.after; i++) bad += rd.after[i] != 0;
    CHECK(bad == 0);                     /* nothing past the read's buffer */
    (void)noc_portal_cancel(&t[1], s1);
    (void)noc_portal_cancel(&t[0], rp);
    teardown(3);
}

/* ---- cancel ---- */
static volatile int stop;

static void *poller(void *arg)
{
    static char buf[64];
    int p = noc_portal_create(&t[0], 0);
    (void)arg;
    CHECK(noc_portal_allow(&t[0], p, 1, 0) == 0);          /* node 1, port 0 */
    CHECK(noc_portal_aread(&t[0], p, buf, sizeof buf) == 0);
    while (!stop) (void)noc_portal_poll(&t[0], p);
    (void)noc_portal_cancel(&t[0], p);
    return NULL;
}

static void *watchdog(void *arg)
{
    (void)arg;
    for (int i = 0; i < 300 && !stop; i++) usleep(100000);
    if (!stop) {
        fprintf(stderr, "cancel: a sender's cancel has not returned for 30 s\n");
        _exit(1);
    }
    return NULL;
}

static void cancel(void)
{
    pthread_t r, w;
    int b, n;
    setup(2, 0);
    b = noc_portal_open(&t[1], 1, 0, 0);                   /* local port 1: not allowed */
    CHECK(b >= 0);
    CHECK(pthread_create(&r, NULL, poller, NULL) == 0);
    CHECK(pthread_create(&w, NULL, watchdog, NULL) == 0);
    for (n = 0; n < 1000000; n++) {
        CHECK(noc_portal_awrite(&t[1], b, "BBBB", 5) == 0);
        int rc = noc_portal_cancel(&t[1], b);
        if (rc != UAREA_ENOTALLOWED) {
            fprintf(stderr, "cancel -> %d at %d\n", rc, n);
            failures++;
            break;
        }
    }
    stop = 1;
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    teardown(2);
}

/* ---- reattach ---- */
static pid_t second;
static int ready_pipe[2];

static void on_poll(void)
{
    /* the probe saw node 1's first process dead; before it marks the node,
     * a new process attaches node 1 */
    char c;
    CHECK(pipe(ready_pipe) == 0);
    second = fork();
    if (second == 0) {
        noc_shm_node n;
        noc_transport tt;
        int rc = noc_shm_attach(&shm, 1, &n, &tt);
        (void)!write(ready_pipe[1], rc == 0 ? "y" : "n", 1);
        pause();
        _exit(0);
    }
    CHECK(read(ready_pipe[0], &c, 1) == 1 && c == 'y');
}

static void reattach(void)
{
    pid_t first;
    int st = 0;
    CHECK(noc_shm_create(&shm, &(noc_shm_desc){.nodes = 2}) == 0);
    first = fork();
    if (first == 0) {
        noc_shm_node n;
        noc_transport tt;
        _exit(noc_shm_attach(&shm, 1, &n, &tt) == 0 ? 0 : 1);   /* attaches, dies */
    }
    {   /* exited, not reaped: a zombie, whose pidfd reports it dead */
        siginfo_t si;
        CHECK(waitid(P_PID, (id_t)first, &si, WEXITED | WNOWAIT) == 0);
    }
    CHECK(noc_shm_attach(&shm, 0, &nd[0], &t[0]) == 0);
    armed_poll = 1;
    (void)noc_shm_peer_state(&nd[0], 1);
    CHECK(!armed_poll);                  /* the interleaving happened */
    CHECK(noc_shm_peer_state(&nd[0], 1) == 1);   /* the new process: alive */
    CHECK(noc_mailbox_open(&t[0], 1, 0) >= 0);
    if (second > 0) {
        kill(second, SIGKILL);
        waitpid(second, &st, 0);
    }
    CHECK(waitpid(first, &st, 0) == first && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    teardown(1);
}

int main(void)
{
    claim();
    stream();
    cancel();
    reattach();
    printf("shm races: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
