/* mpi_faults: what a fault during a migration does to a run whose nodes are
 * MPI ranks (uarea_posix_run under mpirun, docs/mpi.md). Two ranks; the
 * container moves from node 0 to node 1, stop and copy; at a named step of
 * the destination (desc.on_step, so the fault lands at the same point every
 * run) node 1:
 *
 *   mpi_faults stall   stops working: its master waits inside the step hook,
 *                      so nothing it should send or read moves (a link that
 *                      stops carrying anything). The source gives up, and
 *                      keeps the container frozen until the destination says
 *                      it threw the image away (move, not copy); at the
 *                      source's "src.aborting" step node 0 lets node 1 go on
 *                      (SIGUSR1, whose handler ends the wait). A stop by
 *                      SIGSTOP would do the same, but mpirun's daemon keeps
 *                      its own account of stopped ranks and may stop the
 *                      rank again after a SIGCONT sent around it. migrate_to must
 *                      fail, the container run on at node 0 with its data
 *                      intact, and a second migrate_to move it.
 *   mpi_faults kill    dies (SIGKILL). Open MPI's mpirun ends the whole job
 *                      (MPI says nothing about a process failure: no ULFM in
 *                      Debian's Open MPI): the test checks that the job ends
 *                      rather than hangs, that mpirun names the rank, and
 *                      that rank 0 says the container is lost.
 *
 * Prints "mpi_faults stall: PASS" when every check held. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "../../examples/say.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DATA 65536u
static UAREA_USER unsigned char data[DATA];
static int mode_kill;                 /* per process: argv[1] */
static int stalled, resumed;          /* per process: each fault once */
static volatile sig_atomic_t go_on;   /* node 1: node 0 let it go on */

static void on_go(int sig)
{
    (void)sig;
    go_on = 1;
}

static void on_step(void *arg, int node, const char *step)
{
    (void)arg;
    if (node == 1 && !stalled && strcmp(step, "dst.block") == 0) {
        stalled = 1;
        if (mode_kill) raise(SIGKILL);
        while (!go_on) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    if (node == 0 && !resumed && strcmp(step, "src.aborting") == 0) {
        long pid = uarea_posix_node_pid(1);
        resumed = 1;
        if (pid > 0) kill((pid_t)pid, SIGUSR1);
    }
}

static int intact(void)
{
    for (unsigned i = 0; i < DATA; i++)
        if (data[i] != (unsigned char)(i * 31u + 7u)) return 0;
    return 1;
}

static int app(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (unsigned i = 0; i < DATA; i++) data[i] = (unsigned char)(i * 31u + 7u);
    int rc = migrate_to(1);
    int here = noc_node_self();
    say("first migrate_to(1): %s; the container runs on node %d, data %s\n",
        rc == 0 ? "moved" : uarea_strerror(rc), here, intact() ? "intact" : "DAMAGED");
    if (rc == 0 || here != 0 || !intact()) return 1;
    rc = migrate_to(1);
    here = noc_node_self();
    say("second migrate_to(1): %s; the container runs on node %d, data %s\n",
        rc == 0 ? "moved" : uarea_strerror(rc), here, intact() ? "intact" : "DAMAGED");
    return rc == 0 && here == 1 && intact() ? 0 : 2;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    mode_kill = argc > 1 && strcmp(argv[1], "kill") == 0;
    signal(SIGUSR1, on_go);
    d.nodes = 2;
    d.no_precopy = 1;
    d.timeout_ns = 300000000;         /* 300 ms */
    d.on_step = on_step;
    int rc = uarea_posix_run(&d, app, argc, argv);
    if (uarea_posix_mpi_rank() == 0)
        say("mpi_faults %s: %s\n", mode_kill ? "kill" : "stall",
            rc == 0 ? "PASS" : rc < 0 ? uarea_strerror(rc) : "FAIL");
    return rc == 0 ? 0 : 1;
}
