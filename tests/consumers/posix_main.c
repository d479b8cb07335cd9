/* A consumer of the POSIX port built with uarea_posix_application(): a plain
 * global, in no section of its own, moves with the container. */
#include <uarea_posix.h>
#include <stdio.h>

static int counter = 41;
extern char __start_uarea_user[], __stop_uarea_user[];

static int app(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if ((char *)&counter < __start_uarea_user || (char *)&counter >= __stop_uarea_user) return 2;
    counter++;
    if (migrate_to(1) != 0) return 3;
    return counter == 42 && noc_node_self() == 1 ? 0 : 4;
}

int main(void)
{
    int rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app, 0, NULL);
    if (rc == 0) printf("posix consumer: the global moved\n");
    else printf("posix consumer: failed (%d)\n", rc);
    return rc != 0;
}
