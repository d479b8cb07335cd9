/* The soak: a multi-threaded container migrates many times between random
 * nodes while its threads compute, writes a checkpoint every few hops, and at
 * the end (1) its result matches the same work without migration, (2) every
 * node's open descriptors and resident memory stayed flat from its first
 * visits to its last (pidfds apart: at most one per peer), (3) the
 * launcher's descriptors are as before the run, and (4) the last
 * checkpoint, restored by a new run, finishes with the same result. Prints
 * its figures; exits 1 when a check fails.
 *
 *   soak [--migrations N] [--nodes K] [--seed S] [--checkpoint-every C] [--dir D]
 *        [--rss-slack-kb K]
 *
 * K is the resident growth a node may show (1024 KiB; -1: not checked, as
 * under qemu-user, whose code cache grows in the process as it translates,
 * and the default under AddressSanitizer, whose quarantine keeps freed
 * memory resident; its leak checker covers that build).
 *
 * ctest runs a short soak (tests/posix/CMakeLists.txt); a long one is
 *   build/dev/tests/posix/soak --migrations 20000   (docs/reliability.md)
 * Plain C, so that it also runs under qemu-user. */
#define UAREA_IMPLEMENTATION
#include <uarea_posix.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3
#define WORDS 1024u
#define WARMUP 3            /* visits of a node before its baseline is taken */

struct node_stats {
    long visits;
    long fds0, fds1;        /* open descriptors at the baseline and at the last visit,
                               pidfds apart */
    long pidfds;            /* pidfds at the last visit: the transport keeps one per
                               peer it probed, opened at the first probe (a node may
                               meet a peer after its baseline); at most nodes - 1 */
    long rss0_kb, rss1_kb;
};
struct shared {
    struct node_stats node[NOC_NODES_MAX];
    long moved, refused, checkpoints, ckpt_errors;
    int bad;                /* 1: a check in the container failed */
};
static struct shared *sh;

static long migrations = 400, ckpt_every = 40;
#ifdef UAREA__ASAN
static long rss_slack_kb = -1;     /* AddressSanitizer's quarantine holds freed memory */
#else
static long rss_slack_kb = 1024;   /* resident growth a node may show (libc's caches) */
#endif
static int nodes = 4;
static uint64_t seed = 1;
static char ckpt_path[512];

static UAREA_USER uint64_t *arr;
static UAREA_USER uint64_t digest[WORKERS];
static UAREA_USER volatile int stop;
static UAREA_USER uint64_t rng;
static UAREA_USER long hop;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

/* Rounds of work on a slice: the same result wherever it runs. */
static uint64_t work(uint64_t *a, unsigned id, unsigned rounds, int yield)
{
    uint64_t h = 13 * id + 7;
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < WORDS; i++) {
            a[i] = mix(a[i] ^ (h + i));
            h += a[i];
        }
        if (yield) uarea_thread_yield();
    }
    return h;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    unsigned rounds = 0;
    uint64_t h = 0;
    while (!stop) {                    /* as many rounds as the hops take */
        h ^= work(arr + (size_t)id * WORDS, id, 1, 1);
        rounds++;
    }
    digest[id] = h ^ rounds;
    return (void *)(uintptr_t)rounds;
}

/* Open descriptors, not the one opendir holds; the pidfds among them in
 * *pidfds (NULL: counted with the others). */
static long count_fds(long *pidfds)
{
    long n = 0, p = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], to[64];
        ssize_t k;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        k = readlink(path, to, sizeof to - 1);
        if (pidfds != NULL && k > 0) {
            to[k] = '\0';
            if (strcmp(to, "anon_inode:[pidfd]") == 0) { p++; continue; }
        }
        n++;
    }
    closedir(d);
    if (pidfds != NULL) *pidfds = p;
    return n - 1;
}

static long rss_kb(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A visit of this node: its baseline after the warm-up visits, then the
 * latest figures. */
static void visit(void)
{
    struct node_stats *s = &sh->node[noc_node_self()];
    long pidfds, fds = count_fds(&pidfds), rss = rss_kb();
    s->visits++;
    if (s->visits == WARMUP) {
        s->fds0 = fds;
        s->rss0_kb = rss;
    }
    s->fds1 = fds;
    s->pidfds = pidfds;
    s->rss1_kb = rss;
}

static int app(int argc, char **argv)
{
    uarea_tid_t t[WORKERS];
    void *rounds[WORKERS];
    uint64_t got = 0, want = 0;
    (void)argc; (void)argv;
    arr = uarea_malloc(WORKERS * WORDS * sizeof *arr);
    if (arr == NULL) return 2;
    memset(arr, 0, WORKERS * WORDS * sizeof *arr);
    rng = seed * 0x2545f4914f6cdd1dull + 1;
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_create(&t[w], worker, (void *)(uintptr_t)w) != 0) return 3;
    for (hop = 0; hop < migrations; hop++) {
        int here = noc_node_self(), to;
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        to = (int)(rng % (uint64_t)(nodes - 1));
        if (to >= here) to++;
        int rc = migrate_to(to);
        if (rc == 0) __atomic_add_fetch(&sh->moved, 1, __ATOMIC_RELAXED);
        else __atomic_add_fetch(&sh->refused, 1, __ATOMIC_RELAXED);
        if (noc_node_self() != (rc == 0 ? to : here)) sh->bad = 1;
        visit();
        if (ckpt_every > 0 && hop % ckpt_every == ckpt_every - 1) {
            rc = uarea_posix_checkpoint(ckpt_path);
            if (rc == 1) break;                /* a new run restored it: finish */
            if (rc == 0) sh->checkpoints++;
            else sh->ckpt_errors++;
        }
    }
    stop = 1;
    for (unsigned w = 0; w < WORKERS; w++)
        if (uarea_thread_join(t[w], &rounds[w]) != 0) return 4;
    for (unsigned w = 0; w < WORKERS; w++) {
        uint64_t *ref = uarea_malloc(WORDS * sizeof *ref);
        if (ref == NULL) return 5;
        memset(ref, 0, WORDS * sizeof *ref);
        uint64_t h = 0;
        for (uintptr_t r = 0; r < (uintptr_t)rounds[w]; r++) h ^= work(ref, w, 1, 0);
        want ^= mix((h ^ (uintptr_t)rounds[w]) + w);
        got ^= mix(digest[w] + w);
        uarea_free(ref);
    }
    return got == want ? 0 : 1;
}

static long launcher_fds(void) { return count_fds(NULL); }

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    int fails = 0, rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--migrations") == 0 && i + 1 < argc) migrations = atol(argv[++i]);
        else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--checkpoint-every") == 0 && i + 1 < argc) ckpt_every = atol(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--rss-slack-kb") == 0 && i + 1 < argc) rss_slack_kb = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--migrations N] [--nodes K] [--seed S] [--checkpoint-every C] [--dir D]"
                            " [--rss-slack-kb K]\n", argv[0]);
            return 2;
        }
    }
    if (nodes < 2 || nodes > NOC_NODES_MAX) return 2;
    snprintf(ckpt_path, sizeof ckpt_path, "%s/uarea-soak-%ld.ckpt", dir, (long)getpid());
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 2;
    memset(sh, 0, sizeof *sh);
    long fds_before = launcher_fds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = uarea_posix_run(&(uarea_posix_desc){.nodes = nodes, .timeout_ns = 5000000000}, app, 0, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long fds_after = launcher_fds();
    printf("soak: %ld hops asked, %ld moved, %ld refused, %ld checkpoints (%ld failed) in %.1f s: %s\n",
           migrations, sh->moved, sh->refused, sh->checkpoints, sh->ckpt_errors, secs,
           rc == 0 && !sh->bad ? "result matches" : "FAILED");
    if (rc != 0 || sh->bad || sh->ckpt_errors) fails++;
    if (sh->moved < migrations * 9 / 10) {
        printf("soak: FAILED: fewer than 90%% of the hops moved\n");
        fails++;
    }
    for (int n = 0; n < nodes; n++) {
        struct node_stats *s = &sh->node[n];
        int ok = s->visits < WARMUP + 1 ||
                 (s->fds1 == s->fds0 && s->pidfds <= nodes - 1 &&
                  (rss_slack_kb < 0 || s->rss1_kb - s->rss0_kb <= rss_slack_kb));
        printf("  node %d: %ld visits; descriptors %ld -> %ld (and %ld pidfds); resident %ld -> %ld KiB%s%s\n",
               n, s->visits, s->fds0, s->fds1, s->pidfds, s->rss0_kb, s->rss1_kb,
               rss_slack_kb < 0 ? " (not checked)" : "", ok ? "" : "  FAILED: not flat");
        fails += !ok;
    }
    printf("  launcher: descriptors %ld before the run, %ld after%s\n", fds_before, fds_after,
           fds_before == fds_after ? "" : "  FAILED");
    fails += fds_before != fds_after;
    if (sh->checkpoints > 0) {
        rc = uarea_posix_run(&(uarea_posix_desc){.nodes = nodes, .timeout_ns = 5000000000,
                                                 .restore = ckpt_path}, app, 0, NULL);
        printf("  the last checkpoint, restored by a new run: %s\n",
               rc == 0 ? "result matches" : "FAILED");
        fails += rc != 0;
    }
    unlink(ckpt_path);
    printf("soak: %s\n", fails ? "FAILED" : "passed");
    return fails ? 1 : 0;
}
