/*
 * uarea_posix/checkpoint.h - checkpoint files, for the POSIX runtime
 * (uarea_posix.h includes it in its implementation; not a header of its
 * own).
 *
 * uarea_posix_checkpoint() is a call of a container thread on its syscall
 * board (migrate/syscall.h), served by the node's master:
 *
 *   Files                 the image written whole under a temporary name,
 *                         flushed, renamed over the path (uarea__posix_ckpt_write);
 *                         read back by a new run (uarea__posix_source)
 *   Serving the boards    a checkpoint asked for freezes the container, is
 *                         written once it is frozen, and lets it run on
 *                         (migrate_master_desc.serve and .busy)
 *   Restoring             desc.restore, opened by the launcher before any node
 *                         starts, read by node 0 into its region
 */
#ifndef UAREA__POSIX_CHECKPOINT_H
#define UAREA__POSIX_CHECKPOINT_H

#define UAREA__POSIX_SYS_CKPT 0x434b5054u      /* "CKPT": uarea_posix_checkpoint */

/* migrate_to and the board handshake are migrate/syscall.h's; a checkpoint
 * is one more call on the same boards, served by this runtime. */
UAREA_API int uarea_posix_checkpoint(const char *path)
{
    if (path == NULL || path[0] == '\0') return UAREA_EINVAL;
    return migrate_syscall(UAREA__POSIX_SYS_CKPT, (uintptr_t)path);
}

/* ==== Files ============================================================= */
/* A file system error as the library's: the ones a caller can act on by
 * name, the rest as UAREA_EIO. */
static int uarea__posix_errno_err(int e)
{
    switch (e) {
    case ENOENT: case ENOTDIR: case ENAMETOOLONG: case ELOOP: return UAREA_ENOENT;
    case EACCES: case EPERM: case EROFS: return UAREA_EACCES;
    case ENOSPC: case EDQUOT: case EFBIG: return UAREA_ENOSPC;
    default: return UAREA_EIO;
    }
}

struct uarea__posix_file {
    int fd;
    int err;                  /* errno of the first failure, 0: none */
};

static int uarea__posix_sink(void *ctx, const void *buf, size_t len)
{
    struct uarea__posix_file *f = (struct uarea__posix_file *)ctx;
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t k = write(f->fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            f->err = k < 0 ? errno : EIO;
            return uarea__posix_errno_err(f->err);
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static long uarea__posix_source(void *ctx, void *buf, size_t cap)
{
    struct uarea__posix_file *f = (struct uarea__posix_file *)ctx;
    size_t got = 0;
    while (got < cap) {
        ssize_t k = read(f->fd, (char *)buf + got, cap - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            f->err = errno;
            return uarea__posix_errno_err(errno);
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    return (long)got;
}

/* Write the frozen container to `path`: whole, under a temporary name in the
 * same directory, flushed to the disk, then renamed over `path` (a failure
 * leaves what was at `path`); created 0600. */
static int uarea__posix_ckpt_write(uarea__posix_node *n, const char *path, unsigned char *buf,
                                   size_t cap)
{
    size_t len = strlen(path);
    char *tmp = (char *)malloc(len + 8), *dir;
    struct uarea__posix_file f;
    migrate_container c;
    int rc, dfd;
    if (tmp == NULL) return UAREA_ENOMEM;
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    f.err = 0;
    f.fd = mkstemp(tmp);   /* mode 0600 */
    if (f.fd >= 0) (void)fcntl(f.fd, F_SETFD, FD_CLOEXEC);
    if (f.fd < 0) {
        rc = uarea__posix_errno_err(errno);
        free(tmp);
        return rc;
    }
    /* migrate_checkpoint() without its arrays on this stack (a 1 GiB heap's
     * page list is 4 MiB): the node's own, idle while it holds the container */
    rc = migrate_describe(n->ua, n->user, n->n_user, uarea__posix_fp, n->m.node.stacks,
                          n->m.node.pages, &c);
    if (rc == 0) rc = migrate_image_write(&c, uarea__posix_sink, &f, buf, cap, NULL);
    if (rc == 0 && fsync(f.fd) != 0) rc = uarea__posix_errno_err(errno);
    if (close(f.fd) != 0 && rc == 0) rc = uarea__posix_errno_err(errno);
    if (rc == 0 && rename(tmp, path) != 0) rc = uarea__posix_errno_err(errno);
    if (rc < 0) {
        (void)unlink(tmp);
        free(tmp);
        return rc;
    }
    dir = dirname(tmp);                   /* the rename itself, to the disk */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(tmp);
    return 0;
}

/* A checkpoint asked for: once frozen, write it and let the container run. */
static void uarea__posix_ckpt_step(uarea__posix_node *n, unsigned char *buf, size_t cap)
{
    struct uarea_board *b;
    int rc;
    if (n->ckpt_core < 0) return;
    rc = migrate_freeze_poll(n->ua);
    if (rc == UAREA_EAGAIN) return;
    b = &n->ua->board[n->ckpt_core];
    if (rc == 0) rc = uarea__posix_ckpt_write(n, (const char *)b->args[0], buf, cap);
    (void)migrate_unfreeze(n->ua);
    (void)migrate_node_hold(&n->m.node, 0);
    n->ckpt_core = -1;
    (void)uarea_call_answer(n->ua, b, (intptr_t)rc);
}

/* ==== Serving the boards ================================================ */
/* The port's own calls on the boards (migrate_master_desc.serve): the
 * checkpoints. migrate/master.h serves migrate_to first. One at a time: a
 * checkpoint while the container migrates, or a migrate_to while a
 * checkpoint is taken, gets UAREA_EBUSY (the node holds the container for
 * the checkpoint, so a controller's MOVE is refused too: migrate_node_hold). */
static int uarea__posix_boards(uarea__posix_node *n, struct uarea *ua)
{
    unsigned c;
    int did = 0;
    for (c = 0; c < UAREA_CORES_MAX; c++) {
        struct uarea_board *b = &ua->board[c];
        if (__atomic_load_n(&b->number, __ATOMIC_ACQUIRE) != UAREA__POSIX_SYS_CKPT) continue;
        if (__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE)) {
            int rc;
            __atomic_store_n(&b->pending, 0u, __ATOMIC_RELEASE);
            did++;
            if (n->ckpt_core >= 0 || migrate_daemon_busy(uarea__posix_daemon(n))) {
                (void)uarea_call_answer(ua, b, (intptr_t)UAREA_EBUSY);
                continue;
            }
            rc = migrate_freeze_begin(ua);
            if (rc < 0) {
                (void)uarea_call_answer(ua, b, (intptr_t)rc);
            } else {
                n->ckpt_core = (int)c;
                (void)migrate_node_hold(&n->m.node, 1);
            }
        } else if ((int)c != n->ckpt_core && n->restored &&
                   __atomic_load_n(&b->ret, __ATOMIC_ACQUIRE) == UAREA_EAGAIN &&
                   uarea_call_settle(ua, b, UAREA__POSIX_SYS_CKPT, (intptr_t)1) > 0) {
            /* this checkpoint is the one the run restored from (not one
             * being posted now: uarea_call_settle checks under the lock) */
            did++;
        }
    }
    return did;
}

static int uarea__posix_serve(void *arg, struct uarea *ua, int arrived)
{
    uarea__posix_node *n = (uarea__posix_node *)arg;
    int did = uarea__posix_boards(n, ua);
    (void)arrived;
    /* still freezing: the master relaxes between turns (ckpt_busy) */
    if (n->ckpt_core >= 0) uarea__posix_ckpt_step(n, n->block, n->block_size);
    return did;
}

static int uarea__posix_ckpt_busy(void *arg) { return ((uarea__posix_node *)arg)->ckpt_core >= 0; }

/* ==== Restoring ========================================================= */
/* desc.restore, opened here: a file that is not there fails the run before
 * any node starts. The descriptor goes to node 0 through the fork. */
static int uarea__posix_open_restore(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return uarea__posix_errno_err(errno);
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        close(fd);
        return UAREA_EIO;
    }
    return fd;
}

/* Node 0's container from the file desc.restore names (opened by the
 * launcher): restored into the region, adopted by the node's daemon, its
 * checkpoint call answered (1: restored), unfrozen. The caller starts its
 * cores. */
static int uarea__posix_ckpt_restore(uarea__posix_node *n, void *region)
{
    struct uarea *ua = NULL;
    struct uarea__posix_file f;
    int rc;
    f.fd = uarea__posix_restore_fd;
    f.err = 0;
    rc = migrate_restore(region, UAREA_CONTAINER_SIZE, n->user, n->n_user, uarea__posix_fp,
                         uarea__posix_source, &f, n->block, n->block_size, NULL, &ua);
    close(uarea__posix_restore_fd);
    uarea__posix_restore_fd = -1;
    if (rc == 0) rc = migrate_node_adopt(&n->m.node);
    if (rc < 0) return rc;
    n->ua = ua;
    n->restored = 1;
    (void)uarea__posix_boards(n, ua);   /* the checkpoint call returns 1 */
    (void)migrate_unfreeze(ua);
    return 0;
}

#endif /* UAREA__POSIX_CHECKPOINT_H */
