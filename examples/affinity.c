/* affinity: a process scheduler that watches traffic and moves containers
 * next to the ones they talk to (the Nanvix papers' future work), built on
 * the migration daemon's controller requests.
 *
 * Eight nodes stand for eight clusters of a 4x2 mesh; the placement table
 * below says where each node sits, so that the run starts badly: the client
 * (container 0, node 0) and the server (container 1, node 1) are at opposite
 * corners, 4 hops apart, and a batch job (container 2, node 2) sits between
 * them and sends nothing. The shared-memory NoC has no distance, so the
 * example charges each message a delay per hop, as a mesh would.
 *
 * The client sends the server requests and times the round trips. The
 * scheduler (desc.scheduler, run by node 0's master every 5 ms) counts the
 * messages between containers; when two containers exchange more than a
 * threshold and are more than one hop apart, it moves the receiver to the
 * free node nearest the sender, with uarea_posix_move(). The batch job,
 * which talks to no one, stays where it is.
 *
 *   affinity [round trips]     (default 30000) */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES 8
#define CONTAINERS 3
#define CLIENT 0
#define SERVER 1
#define BATCH 2
#define RING 64u
#define HOP_NS 2000u                /* charged per hop per message */
#define THRESHOLD 50u               /* messages per scheduler period */

/* Where each node sits on the 4x2 mesh: {x, y}. */
static const int place[NODES][2] = {
    {0, 0}, {3, 1}, {2, 0}, {1, 0}, {3, 0}, {0, 1}, {1, 1}, {2, 1},
};

static int hops(int a, int b)
{
    return abs(place[a][0] - place[b][0]) + abs(place[a][1] - place[b][1]);
}

/* The message board: a mapping shared by every node process (made before
 * they fork, at the same address in each), standing for the NoC. One
 * single-producer ring per direction and a traffic count per pair. */
struct ring {
    uint32_t head, tail;
    uint64_t msg[RING];
};
struct board {
    struct ring to_server, to_client;
    uint64_t traffic[CONTAINERS][CONTAINERS];
    int moves;                      /* moves the scheduler made */
    int batch_moved;
    int first_hops, last_hops;      /* client-server distance */
};
static struct board *board;         /* set before uarea_posix_run, never changed */

static UAREA_USER uint64_t batch_sum;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waiting lets the container's other threads run, and now and then the
 * host's other processes: the nodes share few host CPUs. */
static void wait_a_bit(unsigned *spins)
{
    uarea_thread_yield();
    if (++*spins % 64u == 0) sched_yield();
}

/* Send: wait for room, pay the distance, publish, count. */
static void send_msg(struct ring *r, int from, int to, uint64_t v)
{
    unsigned spins = 0;
    while (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) - r->head >= RING) wait_a_bit(&spins);
    uint64_t until = now_ns() + (uint64_t)hops(uarea_posix_where(from), uarea_posix_where(to)) * HOP_NS;
    while (now_ns() < until) {
    }
    r->msg[r->head % RING] = v;
    __atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&board->traffic[from][to], 1, __ATOMIC_RELAXED);
}

static uint64_t recv_msg(struct ring *r)
{
    uint32_t t = r->tail;
    unsigned spins = 0;
    while (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == t) wait_a_bit(&spins);
    uint64_t v = r->msg[t % RING];
    __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
    return v;
}

static UAREA_USER int rounds;

static int client(void)
{
    uint64_t t0 = now_ns(), first_rtt = 0, last_rtt = 0;
    /* no message has gone yet: the scheduler has had no reason to move */
    int at_first = hops(uarea_posix_where(CLIENT), uarea_posix_where(SERVER));
    const int batch = 2000, first = 100;
    say("%-8s %-6s %-6s %-5s %s\n", "requests", "client", "server", "hops", "round trip us");
    for (int i = 1; i <= rounds; i++) {
        send_msg(&board->to_server, CLIENT, SERVER, (uint64_t)i);
        if (recv_msg(&board->to_client) != (uint64_t)i * 3u + 1u) {
            say("request %d: wrong answer: failed\n", i);
            return 2;
        }
        if (i == first) first_rtt = (now_ns() - t0) / (uint64_t)first;
        if (i % batch == 0) {
            uint64_t rtt = (now_ns() - t0) / (uint64_t)batch;
            int c = uarea_posix_where(CLIENT), s = uarea_posix_where(SERVER);
            last_rtt = rtt;
            say("%-8d %-6d %-6d %-5d %.2f\n", i, c, s, hops(c, s), rtt / 1e3);
            t0 = now_ns();
        }
    }
    send_msg(&board->to_server, CLIENT, SERVER, 0); /* the server stops */
    int end = hops(uarea_posix_where(CLIENT), uarea_posix_where(SERVER));
    int moves = __atomic_load_n(&board->moves, __ATOMIC_ACQUIRE);
    int batch_moved = __atomic_load_n(&board->batch_moved, __ATOMIC_ACQUIRE);
    board->first_hops = at_first;
    __atomic_store_n(&board->last_hops, end, __ATOMIC_RELEASE);
    say("client and server: %d hop(s) apart at first, %d at the end; round trip %.2f us (first "
        "%d) -> %.2f us (last %d); %d answers in order; the scheduler made %d move(s); the batch "
        "job %s\n",
        at_first, end, first_rtt / 1e3, first, last_rtt / 1e3, batch, rounds, moves,
        batch_moved ? "MOVED" : "stayed");
    return end == 1 && !batch_moved && moves >= 1 ? 0 : 3;
}

static int server(void)
{
    for (;;) {
        uint64_t v = recv_msg(&board->to_server);
        if (v == 0) return 0;
        send_msg(&board->to_client, SERVER, CLIENT, v * 3u + 1u);
    }
}

static int batch_job(void)
{
    /* computes in short bursts until the client is done, talking to no one */
    while (!__atomic_load_n(&board->last_hops, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 10000; i++) batch_sum = batch_sum * 6364136223846793005ull + 1;
        usleep(200);
    }
    return 0;
}

static int app_main(int argc, char **argv)
{
    rounds = argc > 1 ? atoi(argv[1]) : 30000;
    if (rounds < 2000) rounds = 2000;
    switch (uarea_posix_container()) {
    case CLIENT: return client();
    case SERVER: return server();
    default: return batch_job();
    }
}

/* ---- the scheduler, in node 0's master ---- */
static uint64_t seen[CONTAINERS][CONTAINERS];
static int waiting = -1;           /* container being moved */

static int nearest_free(int near)
{
    int best = -1;
    for (int n = 0; n < NODES; n++) {
        int used = 0;
        for (int c = 0; c < CONTAINERS; c++) used |= uarea_posix_where(c) == n;
        if (!used && n != near && (best < 0 || hops(n, near) < hops(best, near))) best = n;
    }
    return best;
}

static void scheduler(void *arg)
{
    (void)arg;
    if (waiting >= 0) {
        int rc = uarea_posix_move_result();
        if (rc == UAREA_EAGAIN) return;
        say("scheduler: container %d %s\n", waiting,
            rc == 0 ? "moved" : uarea_strerror(rc));
        if (rc == 0) {
            if (waiting == BATCH) __atomic_store_n(&board->batch_moved, 1, __ATOMIC_RELEASE);
            __atomic_add_fetch(&board->moves, 1, __ATOMIC_RELEASE);
        }
        waiting = -1;
    }
    for (int a = 0; a < CONTAINERS; a++)
        for (int b = 0; b < CONTAINERS; b++) {
            uint64_t now = __atomic_load_n(&board->traffic[a][b], __ATOMIC_RELAXED);
            uint64_t recent = now - seen[a][b];
            seen[a][b] = now;
            int na = uarea_posix_where(a), nb = uarea_posix_where(b);
            if (waiting >= 0 || a == b || recent < THRESHOLD || na < 0 || nb < 0) continue;
            if (hops(na, nb) <= 1) continue;
            int to = nearest_free(na);
            if (to < 0 || hops(to, na) >= hops(nb, na)) continue;
            say("scheduler: %llu messages %d -> %d in the last period, %d hops apart: "
                "moving container %d from node %d to node %d (%d hop)\n",
                (unsigned long long)recent, a, b, hops(na, nb), b, nb, to, hops(to, na));
            if (uarea_posix_move(b, to) == 0) waiting = b;
        }
}

int main(int argc, char **argv)
{
    board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (board == MAP_FAILED) return 1;
    memset(board, 0, sizeof *board);
    uarea_posix_desc d = {.nodes = NODES, .cores = 1, .containers = CONTAINERS,
                          .scheduler = scheduler, .scheduler_period_ns = 5000000};
    int rc = uarea_posix_run(&d, app_main, argc, argv);
    if (rc < 0) fprintf(stderr, "affinity: %s\n", uarea_strerror(rc));
    else if (rc > 0) fprintf(stderr, "affinity: failed (%d)\n", rc);
    return rc == 0 ? 0 : 1;
}
