/* mpi_scheduler: desc.scheduler and uarea_posix_where() when the nodes are
 * MPI ranks (docs/mpi.md). Three ranks, one container starting on node 0.
 * Node 0's scheduler moves it to node 2, waits for the move's outcome and
 * for uarea_posix_where() to say 2, then moves it to node 1 and waits the
 * same way, then makes a file that lets the container end. The container
 * computes meanwhile, asks where it is (from each node it runs on, the
 * answer must be that node), and ends on node 1, once the file is there,
 * with its result checked. Rank 0 prints what the scheduler saw. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "../../examples/say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static UAREA_USER volatile uint64_t acc;
static UAREA_USER int wrong_where;
/* The file the scheduler makes when it saw the last move: its name in the
 * container (moves with it) and in the program (node 0's scheduler: the
 * container's copy there is wiped when it leaves). */
static UAREA_USER char flag[64];
static char sched_flag[64];

/* The scheduler's own record (node 0's process). */
static int step, moves[2] = {1, 1}, seen[2] = {-1, -1};

static void scheduler(void *arg)
{
    static const int to[2] = {2, 1};
    (void)arg;
    if (step >= 4) return;
    if (step % 2 == 0) {                      /* ask */
        int rc = uarea_posix_move(0, to[step / 2]);
        if (rc == 0) step++;
        else if (rc != UAREA_EBUSY) { moves[step / 2] = rc; step = 4; }
        return;
    }
    if (moves[step / 2] != 0) {               /* wait for the outcome */
        int r = uarea_posix_move_result();
        if (r == UAREA_EAGAIN) return;
        moves[step / 2] = r;
        if (r != 0) { step = 4; return; }
    }
    seen[step / 2] = uarea_posix_where(0);    /* then for where() to say so */
    if (seen[step / 2] != to[step / 2]) return;
    if (++step == 4) {                         /* the container may end */
        int fd = open(sched_flag, O_CREAT | O_WRONLY, 0600);
        if (fd >= 0) close(fd);
    }
}

static int app(int argc, char **argv)
{
    uint64_t i, want = 0;
    (void)argc; (void)argv;
    for (i = 0;; i++) {
        acc += i * i ^ (i >> 3);
        if (i % 4096 == 4095) {
            /* this rank's books know that it runs here */
            if (uarea_posix_where(0) != noc_node_self()) wrong_where++;
            if (noc_node_self() == 1 && access(flag, F_OK) == 0) break;
            uarea_thread_yield();
        }
    }
    for (uint64_t j = 0; j <= i; j++) want += j * j ^ (j >> 3);
    say("container: finished on node %d, where() wrong %d times, result %s\n", noc_node_self(),
        wrong_where, acc == want ? "match" : "MISMATCH");
    return acc == want && wrong_where == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    d.nodes = 3;
    d.scheduler = scheduler;
    d.scheduler_period_ns = 2000000;
    /* rank 0's name for the flag: the container starts there, with this */
    snprintf(flag, sizeof flag, "/tmp/uarea-mpi-scheduler.%ld", (long)getpid());
    memcpy(sched_flag, flag, sizeof flag);
    int rc = uarea_posix_run(&d, app, argc, argv);
    if (uarea_posix_mpi_rank() == 0) unlink(sched_flag);
    if (uarea_posix_mpi_rank() == 0) {
        say("scheduler: move(0, 2) -> %s, where(0) then %d; move(0, 1) -> %s, where(0) then %d\n",
            uarea_strerror(moves[0]), seen[0], uarea_strerror(moves[1]), seen[1]);
        say("mpi_scheduler: %s\n", rc == 0 && step == 4 ? "PASS" : "FAIL");
    }
    return rc == 0 ? 0 : 1;
}
