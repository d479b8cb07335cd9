/*
 * uarea_posix/watch.h - the launcher's watch of its node processes, for the
 * POSIX runtime (uarea_posix.h includes it in its implementation; not a
 * header of its own).
 *
 * From the fork to the last node's end, the launcher sleeps in poll() on the
 * nodes' pidfds and the shared block's eventfd (uarea_posix/books.h), with a
 * timeout of UAREA_POSIX_RECORDS_NS while migrations go on (the nodes do
 * not wake it for each one), and on each wake-up:
 *
 *   drains the migration records into desc.on_migration (uarea__posix_drain),
 *   reaps the nodes that ended, only its own, and tells how (uarea__posix_ended),
 *   decides whether a dead node lost a container (uarea__posix_settle): the
 *   run then stops with UAREA_ELOST.
 */
#ifndef UAREA__POSIX_WATCH_H
#define UAREA__POSIX_WATCH_H

/* What the launcher knows of its nodes while it watches them. */
typedef struct uarea__posix_watch {
    const uarea_posix_desc *d;
    uarea_posix_report *rep;
    int nodes;
    pid_t pid[NOC_NODES_MAX];
    int pidfd[NOC_NODES_MAX];     /* -1: none (the kernel has no pidfd) */
    int ended[NOC_NODES_MAX];
    int dead[NOC_NODES_MAX];      /* ended while the run went on */
    int failed;                   /* the first runtime error of a node, 0: none */
    int lost;                     /* the first container lost, -1: none */
    uint64_t undecided_since;     /* a holder died, a candidate may run it: since */
    int quiet;                    /* looks in a row without a record */
} uarea__posix_watch;

/* Give the program the migration records the nodes left in the ring; how
 * many there were. */
static int uarea__posix_drain(uarea__posix_watch *w)
{
    const struct uarea__posix_stats_slot *slot;
    int n = 0;
    while ((slot = uarea__posix_ring_peek()) != NULL) {
        migrate_stats st = slot->st;
        uarea__posix_ring_pop();
        if (w->d->on_migration != NULL) w->d->on_migration(w->d->arg, &st);
        n++;
    }
    return n;
}

/* How long the launcher sleeps in poll() now, ms (-1: until a node wakes
 * it). While records come it looks every UAREA_POSIX_RECORDS_NS; after
 * UAREA__POSIX_QUIET_LOOKS looks without one it sleeps until woken, and says
 * so (`deep`) before it looks at the ring a last time (uarea__posix_tell_records). */
#define UAREA__POSIX_QUIET_LOOKS 10
static int uarea__posix_watch_timeout(uarea__posix_watch *w, int got)
{
    int ms = (int)(UAREA_POSIX_RECORDS_NS / 1000000);
    w->quiet = got ? 0 : w->quiet + 1;
    if (w->quiet < UAREA__POSIX_QUIET_LOOKS) return ms > 0 ? ms : 1;
    __atomic_store_n(&uarea__posix_sh->deep, 1u, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (uarea__posix_ring_peek() == NULL) return -1;
    w->quiet = 0;
    return 0;
}

/* Node i ended (status from waitpid; known 0: someone else reaped it). */
static void uarea__posix_ended(uarea__posix_watch *w, int i, int status, int known)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int said = __atomic_load_n(&sh->end[i].end, __ATOMIC_ACQUIRE), c, held = -1;
    int end, code;
    for (c = 0; c < sh->containers; c++)
        if (uarea__posix_holder_of(__atomic_load_n(&sh->custody[c], __ATOMIC_ACQUIRE)) == i &&
            !__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE))
            held = c;
    w->ended[i] = 1;
    if (said != 0) {
        end = said;
        code = sh->end[i].code;
        if (sh->end[i].container >= 0) held = sh->end[i].container;
    } else if (known && WIFSIGNALED(status)) {
        end = UAREA_POSIX_END_KILLED;
        code = WTERMSIG(status);
    } else if (known && WIFEXITED(status)) {
        /* _exit() in the node, past the runtime: the program ended itself */
        end = UAREA_POSIX_END_EXIT;
        code = WEXITSTATUS(status);
        if (held >= 0) uarea__posix_container_done(held, code);
    } else {
        end = UAREA_POSIX_END_UNKNOWN;
        code = 0;
    }
    w->rep->node[i].end = end;
    w->rep->node[i].code = code;
    w->rep->node[i].container = held;
    if (end == UAREA_POSIX_END_CLEAN) return;
    w->dead[i] = !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) || held >= 0;
    if (end == UAREA_POSIX_END_KILLED)
        uarea__posix_logf(0, "node %d (pid %ld) was killed by signal %d (%s)%s", i, (long)w->pid[i],
                          code, strsignal(code), held >= 0 ? " while it held a container" : "");
    else if (end == UAREA_POSIX_END_FAILED) {
        uarea__posix_logf(0, "node %d (pid %ld) failed: %s", i, (long)w->pid[i], uarea_strerror(code));
        if (w->failed == 0) w->failed = code;
    } else if (end == UAREA_POSIX_END_UNKNOWN)
        uarea__posix_logf(1, "node %d (pid %ld) ended; another part of the program reaped it", i,
                          (long)w->pid[i]);
}

/* Is every container held by a live node, or done? A container whose holder
 * died is lost, unless a live node accepted an image of it: that node runs
 * it (it learns of the death and activates) or discards it, and the books
 * say which soon; past a bound on that, it is lost too. */
static void uarea__posix_settle(uarea__posix_watch *w, uint64_t now)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    uint64_t bound = (uint64_t)w->d->timeout_ns *
                     (uint64_t)(2 * (MIGRATE_RETRIES + 1)) + UINT64_C(1000000000);
    int c, undecided = 0;
    for (c = 0; c < sh->containers && w->lost < 0; c++) {
        uint32_t word = __atomic_load_n(&sh->custody[c], __ATOMIC_ACQUIRE);
        int h = uarea__posix_holder_of(word), v = uarea__posix_cand_of(word);
        if (__atomic_load_n(&sh->done[c], __ATOMIC_ACQUIRE) || h < 0 || !w->dead[h]) continue;
        if (v >= 0 && v != h && !w->dead[v] &&
            (w->undecided_since == 0 || now - w->undecided_since < bound)) {
            undecided = 1;
            continue;
        }
        w->lost = c;
        w->rep->lost_container = c;
        w->rep->lost_node = h;
        uarea__posix_logf(0, "container %d is lost: node %d, which held its only copy, is gone", c, h);
        uarea__posix_stop();
    }
    if (!undecided) w->undecided_since = 0;
    else if (w->undecided_since == 0) w->undecided_since = now ? now : 1;
}

/* Wait for the node processes (only them) to end, keep the books on the way,
 * give the program its migration records. */
static void uarea__posix_watch_run(uarea__posix_watch *w)
{
    struct uarea__posix_shared *sh = uarea__posix_sh;
    int i, left = w->nodes;
    for (i = 0; i < w->nodes; i++) {
#ifdef SYS_pidfd_open
        w->pidfd[i] = (int)syscall(SYS_pidfd_open, w->pid[i], 0);
#else
        w->pidfd[i] = -1;
#endif
    }
    while (left > 0) {
        struct pollfd pf[NOC_NODES_MAX + 1];
        int np = 0, blind = 0, got, ms;
        uint64_t drain;
        __atomic_store_n(&sh->deep, 0u, __ATOMIC_SEQ_CST);
        while (read(sh->efd, &drain, sizeof drain) > 0) {
        }
        got = uarea__posix_drain(w);
        for (i = 0; i < w->nodes; i++) {
            int status = 0;
            pid_t r;
            if (w->ended[i]) continue;
            r = waitpid(w->pid[i], &status, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) continue;
            uarea__posix_ended(w, i, status, r == w->pid[i]);
            left--;
        }
        uarea__posix_settle(w, uarea__posix_now());
        if (left == 0) break;
        pf[np].fd = sh->efd;
        pf[np++].events = POLLIN;
        for (i = 0; i < w->nodes; i++) {
            if (w->ended[i]) continue;
            if (w->pidfd[i] < 0) blind = 1;
            else {
                pf[np].fd = w->pidfd[i];
                pf[np++].events = POLLIN;
            }
        }
        ms = uarea__posix_watch_timeout(w, got);
        if ((blind || w->undecided_since) && (ms < 0 || ms > 10)) ms = 10;
        (void)poll(pf, (nfds_t)np, ms);
    }
    uarea__posix_drain(w);
    for (i = 0; i < w->nodes; i++)
        if (w->pidfd[i] >= 0) close(w->pidfd[i]);
}

#endif /* UAREA__POSIX_WATCH_H */
