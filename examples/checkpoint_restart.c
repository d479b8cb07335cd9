/* checkpoint_restart: a multi-threaded computation is written to a file in
 * the middle of its run, the process exits, and a second run restores it
 * from the file and finishes with the same result as an uninterrupted run.
 *
 *   checkpoint_restart FILE             run, checkpoint at half way, stop
 *   checkpoint_restart --restore FILE   resume from FILE and finish
 *
 * Built at fixed addresses (-no-pie) and without stack protector, so that a
 * second run of the same binary has the addresses the first one had. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include "say.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 3
#define SLICE 2048u
#define ROUNDS 600u

static UAREA_USER volatile unsigned progress;
static UAREA_USER uint64_t *array;
static UAREA_USER uint64_t digest[WORKERS];
static UAREA_USER char path[256];
static UAREA_USER unsigned long spins;
static UAREA_USER int stop_spinning;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

static uint64_t work(uint64_t *a, unsigned id, int yield)
{
    uint64_t h = 7 * id + 3;
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < SLICE; i++) {
            a[i] = mix(a[i] ^ (h + i));
            h += a[i];
        }
        if (yield) {
            __atomic_add_fetch(&progress, 1u, __ATOMIC_RELAXED);
            uarea_thread_yield();
        }
    }
    return h;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    digest[id] = work(array + (size_t)id * SLICE, id, 1);
    return NULL;
}

/* Never yields: when the checkpoint is taken, it was preempted (in the
 * preemption tick's handler), and the restored run returns from there. */
static void *spinner(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_spinning, __ATOMIC_RELAXED))
        __atomic_add_fetch(&spins, 1, __ATOMIC_RELAXED);
    return NULL;
}

static unsigned percent(void)
{
    return __atomic_load_n(&progress, __ATOMIC_RELAXED) * 100u / (WORKERS * ROUNDS);
}

static int app_main(int argc, char **argv)
{
    uarea_tid_t t[WORKERS], spin;
    array = uarea_malloc(sizeof(uint64_t) * SLICE * WORKERS);
    if (array == NULL) return 2;
    memset(array, 0, sizeof(uint64_t) * SLICE * WORKERS);
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 3;
    if (uarea_thread_create(&spin, spinner, NULL) != 0) return 3;
    while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < WORKERS * ROUNDS / 2)
        uarea_thread_yield();
    int rc = uarea_posix_checkpoint(path);
    if (rc == 0) {
        say("checkpoint written to %s; this run stops here, at %u%% of the work\n", path,
            percent());
        return 10;
    }
    if (rc != 1) {
        say("checkpoint failed: %s\n", uarea_strerror(rc));
        return 4;
    }
    /* argv is the first run's, kept in the container: it names the file */
    if (argc < 2 || strcmp(argv[argc - 1], path) != 0) {
        say("restored, but argv is not the first run's: MISMATCH\n");
        return 7;
    }
    say("restored from %s at %u%% of the work on node %d\n", argv[argc - 1], percent(),
        noc_node_self());
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_join(t[w], NULL) != 0) return 5;
    unsigned long before = __atomic_load_n(&spins, __ATOMIC_RELAXED);
    while (__atomic_load_n(&spins, __ATOMIC_RELAXED) == before) uarea_thread_yield();
    __atomic_store_n(&stop_spinning, 1, __ATOMIC_RELAXED);
    if (uarea_thread_join(spin, NULL) != 0) return 5;   /* it spun on after the restore */
    uint64_t got = 0, want = 0;
    for (unsigned w = 0; w < WORKERS; w++) got ^= mix(digest[w] + w);
    uint64_t *ref = uarea_malloc(sizeof(uint64_t) * SLICE);
    if (ref == NULL) return 6;
    for (unsigned w = 0; w < WORKERS; w++) {
        memset(ref, 0, sizeof(uint64_t) * SLICE);
        want ^= mix(work(ref, w, 0) + w);
    }
    say("result %016llx, uninterrupted %016llx: %s\n", (unsigned long long)got,
        (unsigned long long)want, got == want ? "match" : "MISMATCH");
    return got == want ? 0 : 1;
}

int main(int argc, char **argv)
{
    uarea_posix_desc d = {0};
    const char *file = NULL;
    d.nodes = 2;
    if (argc == 3 && strcmp(argv[1], "--restore") == 0) {
        d.restore = file = argv[2];
    } else if (argc == 2) {
        file = argv[1];
    } else {
        fprintf(stderr, "usage: %s FILE | --restore FILE\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s", file);
    int rc = uarea_posix_run(&d, app_main, argc, argv);
    if (rc < 0) {
        fprintf(stderr, "checkpoint_restart: %s\n", uarea_strerror(rc));
        return 1;
    }
    return d.restore ? rc : (rc == 10 ? 0 : 1);
}
