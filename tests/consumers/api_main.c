/* A program written only against the app-facing API (uarea/thread.h,
 * uarea_posix.h), in the natural order: the core headers first, the port's
 * last, a libc header before them all. Built by the three consumer projects
 * (add_subdirectory, find_package, pkg-config) with nothing but what each of
 * them gives. */
#include <stdio.h>
#define UAREA_IMPLEMENTATION
#include <uarea/thread.h>
#include <migrate/migrate.h>
#include <noc/noc.h>
#include <uarea_posix.h>

static UAREA_USER int sum;

static void *worker(void *arg)
{
    sum += (int)(intptr_t)arg;
    return NULL;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t;
    (void)argc;
    (void)argv;
    if (uarea_thread_create(&t, worker, (void *)(intptr_t)40) != 0) return 2;
    if (uarea_thread_join(t, NULL) != 0 || uarea_thread_self() != 0) return 3;
    if (migrate_to(1) != 0 || noc_node_self() != 1 || noc_nodes() != 2) return 4;
    if (kmigrate_to(0) != 0 || noc_node_self() != 0) return 5;
    int *p = uarea_malloc(sizeof *p);
    if (p == NULL) return 6;
    *p = 2;
    sum += *p;
    uarea_free(p);
    return sum;
}

int main(int argc, char **argv)
{
    int rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 2, .cores = 0}, app, argc, argv);
    printf("api consumer: %s (%d)\n", rc == 42 ? "the container moved and came back" : "failed", rc);
    return rc != 42;
}
