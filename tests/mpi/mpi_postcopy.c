/* mpi_postcopy: post-copy is off under mpirun (docs/posix-port.md, "Not
 * yet"): a run that asks for it (desc.postcopy 1) is told so on rank 0 and
 * goes by the other ways; a container that asks for one post-copy
 * migration (migrate_to_mode) is refused by the destination rank
 * (UAREA_ENOSYS) and stays where it was, its data intact; then migrate_to
 * moves it. Two ranks. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "../../examples/say.h"

static UAREA_USER uint64_t data[4096];

static int app(int argc, char **argv)
{
    uint64_t sum = 0, want = 0;
    (void)argc; (void)argv;
    for (unsigned i = 0; i < 4096; i++) { data[i] = i * 2654435761u; want += data[i]; }
    int rc = migrate_to_mode(1, MIGRATE_TO_POSTCOPY);
    for (unsigned i = 0; i < 4096; i++) sum += data[i];
    say("migrate_to_mode(1, post-copy): %s; the container runs on node %d, data %s\n",
        uarea_strerror(rc), noc_node_self(), sum == want ? "intact" : "DAMAGED");
    if (rc != UAREA_ENOSYS || noc_node_self() != 0 || sum != want) return 1;
    rc = migrate_to(1);
    sum = 0;
    for (unsigned i = 0; i < 4096; i++) sum += data[i];
    say("migrate_to(1): %s; the container runs on node %d, data %s\n",
        rc == 0 ? "moved" : uarea_strerror(rc), noc_node_self(), sum == want ? "intact" : "DAMAGED");
    return rc == 0 && noc_node_self() == 1 && sum == want ? 0 : 2;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    d.nodes = 2;
    d.postcopy = 1;
    int rc = uarea_posix_run(&d, app, argc, argv);
    if (uarea_posix_mpi_rank() == 0) say("mpi_postcopy: %s\n", rc == 0 ? "PASS" : "FAIL");
    return rc == 0 ? 0 : 1;
}
