/* Checkpoint/restart of a running multi-threaded container: a child process
 * runs it, freezes it mid-computation, writes it to a file and exits; the
 * test process, whose copy never ran, restores it from the file at the same
 * address and lets its threads finish. */
#include "container.h"
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#define BINARY_FP 0xC0FFEE0000000001ull

static unsigned char iobuf[4096];

/* Runs the container in a child until a third of the work is done, then
 * checkpoints it into fd. Returns the child's exit status. */
static int checkpoint_in_child(void *region, int fd)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct uarea *ua;
        uarea_tid_t t0;
        ct_cores c;
        migrate_image_stats st;
        FILE *f;
        ct_user.hold = 1;
        if (uarea_container_init(region, UAREA_CONTAINER_SIZE, &ua) != 0) _exit(10);
        if (uarea_create(ua, &t0, ct_main, NULL) != 0) _exit(11);
        ct_cores_start(&c, ua);
        while (ct_user.progress < CT_WORKERS * CT_STEPS / 3) usleep(100);
        if (migrate_checkpoint(ua, ct_user_sections, 1, BINARY_FP, ct_file_sink, stdout, iobuf,
                               sizeof iobuf, &st) != UAREA_ESTATE)
            _exit(12); /* a running container cannot be written */
        if (migrate_freeze(ua, 10ull * 1000 * 1000 * 1000) != 0) _exit(13);
        f = fdopen(fd, "wb");
        if (f == NULL) _exit(14);
        if (migrate_checkpoint(ua, ct_user_sections, 1, BINARY_FP, ct_file_sink, f, iobuf,
                               sizeof iobuf, &st) != 0)
            _exit(15);
        if (st.sections < 1 + 1 + CT_WORKERS + 1 + 1) _exit(16); /* user, UArea, 5 stacks, heap */
        if (fclose(f) != 0) _exit(17);
        _exit(0); /* the cores are parked: leaving kills them with the process */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

Test(daemon, checkpoint_restart_resumes_running_threads)
{
    char path[] = "/tmp/uarea-ckpt-XXXXXX";
    int fd = mkstemp(path);
    void *region = ct_map_region();
    struct uarea *ua = NULL;
    migrate_image_stats st;
    ct_cores c;
    cr_assert_geq(fd, 0);
    cr_assert_not_null(region, "no address for the container region");
    int child = checkpoint_in_child(region, fd);
    cr_assert_eq(child, 0, "the child failed: %d", child);
    close(fd);

    /* this process's copy never ran: the region and user section are empty */
    cr_assert(all_zero(region, UAREA_CONTAINER_SIZE));
    cr_assert(all_zero(&ct_user, sizeof ct_user));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    int rc = migrate_restore(region, UAREA_CONTAINER_SIZE, ct_user_sections, 1, BINARY_FP,
                             ct_file_source, f, iobuf, 1000, &st, &ua);
    fclose(f);
    unlink(path);
    cr_assert_eq(rc, 0, "restore: %s", uarea_strerror(rc));
    cr_assert_eq(ua, region);
    uint64_t at = ct_user.progress;
    cr_assert_geq(at, CT_WORKERS * CT_STEPS / 3, "restored before the checkpoint point");
    cr_assert_lt(at, CT_WORKERS * CT_STEPS, "the checkpoint was taken mid-computation");
    cr_assert_eq(ct_user.done, 0);
    cr_assert(uarea_frozen(ua), "a restored container waits frozen");
    cr_assert_eq(uarea_threads_active(ua), CT_WORKERS + 1);

    cr_assert_eq(ct_user.hold, 1, "the user section came back");
    __atomic_store_n(&ct_user.hold, 0, __ATOMIC_RELEASE);
    cr_assert_eq(migrate_unfreeze(ua), 0);
    ct_cores_start(&c, ua);
    ct_cores_join(&c);
    cr_assert_eq(c.rc[0], 0);
    cr_assert_eq(c.rc[1], 0);
    cr_assert_eq(ct_user.done, 1);
    cr_assert_eq(ct_user.progress, CT_WORKERS * CT_STEPS);
    cr_assert_eq(ct_user.total, ct_expected(), "the resumed computation is wrong");
    munmap(region, UAREA_CONTAINER_SIZE);
}

Test(daemon, damaged_checkpoint_leaves_nothing)
{
    char path[] = "/tmp/uarea-ckpt-XXXXXX";
    int fd = mkstemp(path);
    void *region = ct_map_region();
    struct uarea *ua = NULL;
    cr_assert_not_null(region);
    int child = checkpoint_in_child(region, fd);
    cr_assert_eq(child, 0, "the child failed: %d", child);
    /* flip one byte in the middle of the file */
    off_t size = lseek(fd, 0, SEEK_END);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, size / 2), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, size / 2), 1);
    close(fd);
    FILE *f = fopen(path, "rb");
    int rc = migrate_restore(region, UAREA_CONTAINER_SIZE, ct_user_sections, 1, BINARY_FP,
                             ct_file_source, f, iobuf, sizeof iobuf, NULL, &ua);
    fclose(f);
    cr_assert(rc == UAREA_EIMGCRC || rc == UAREA_EIMGFORMAT, "got %s", uarea_strerror(rc));
    cr_assert_null(ua);
    cr_assert(all_zero(region, UAREA_CONTAINER_SIZE), "region not wiped");
    cr_assert(all_zero(&ct_user, sizeof ct_user), "user section not wiped");
    /* another build refuses the file */
    f = fopen(path, "rb");
    rc = migrate_restore(region, UAREA_CONTAINER_SIZE, ct_user_sections, 1, BINARY_FP + 1,
                         ct_file_source, f, iobuf, sizeof iobuf, NULL, &ua);
    fclose(f);
    unlink(path);
    cr_assert_eq(rc, UAREA_EIMGBINARY);
    cr_assert(all_zero(region, UAREA_CONTAINER_SIZE));
    munmap(region, UAREA_CONTAINER_SIZE);
}
