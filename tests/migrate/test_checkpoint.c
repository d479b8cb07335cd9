/* Checkpoint files: the image writer into a file (FILE* and file
 * descriptor sinks), and a restore from the file into fresh memory at the
 * same addresses, also after the process that wrote it has exited. */
#define _POSIX_C_SOURCE 200809L
#define MIGRATE_IMPLEMENTATION
#define UAREA_CORE_IMPLEMENTATION
#include <migrate/image.h>
#include "img_util.h"
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

static int file_sink(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : UAREA_EIO;
}
static long file_source(void *ctx, void *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, (FILE *)ctx);
    return ferror((FILE *)ctx) ? UAREA_EIO : (long)n;
}
static int fd_sink(void *ctx, const void *buf, size_t len)
{
    int fd = *(int *)ctx;
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) return UAREA_EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
static long fd_source(void *ctx, void *buf, size_t cap)
{
    ssize_t n = read(*(int *)ctx, buf, cap);
    return n < 0 ? UAREA_EIO : (long)n;
}

/* The container: a static, page-aligned region at the same address in this
 * process and in any child forked from it. Identity addresses (no mem map). */
#define REGION_SIZE (96 * 1024)
static unsigned char region[REGION_SIZE] __attribute__((aligned(4096)));
static migrate_region r_user[2], r_stacks[3];
static migrate_page r_pages[4];

static migrate_container region_container(void)
{
    migrate_container c;
    uintptr_t b = (uintptr_t)region;
    memset(&c, 0, sizeof c);
    c.layout_fp = CT_LAYOUT;
    c.binary_fp = CT_BINARY;
    r_user[0] = (migrate_region){ b, 10000 };
    r_user[1] = (migrate_region){ b + 10000, 2000 };
    c.user = r_user; c.n_user = 2;
    c.uarea = (migrate_region){ b + 12288, 2048 };
    for (int i = 0; i < 3; i++) r_stacks[i] = (migrate_region){ b + 16384 + (uintptr_t)i * 8192, 8192 };
    c.stacks = r_stacks; c.n_stacks = 3;
    for (int i = 0; i < 4; i++) r_pages[i] = (migrate_page){ b + 40960 + (uintptr_t)i * 4096, MIGRATE_PAGE_PRESENT };
    c.pages = r_pages; c.n_pages = 4;
    return c;
}

static migrate_image_target region_target(void)
{
    migrate_image_target t;
    memset(&t, 0, sizeof t);
    t.layout_fp = CT_LAYOUT;
    t.binary_fp = CT_BINARY;
    t.lo = (uintptr_t)region;
    t.hi = (uintptr_t)region + REGION_SIZE;
    return t;
}

/* The bytes the container should hold after a restore: the pattern, with
 * the zero page zero and nothing outside the sections. */
static void expected(unsigned char *want, unsigned seed)
{
    memset(want, 0, REGION_SIZE);
    fill_pattern(want, 40960 + 4 * 4096, seed);
    memset(want + 12000, 0, 12288 - 12000);       /* gap after the user sections */
    memset(want + 14336, 0, 16384 - 14336);       /* gap after the UArea */
    memset(want + 40960 + 4096, 0, 4096);         /* page 1 is a zero page */
}

static void fill_region(unsigned seed)
{
    expected(region, seed);
    fill_pattern(region + 12000, 288, seed + 1);  /* gaps hold junk that is not sent */
    fill_pattern(region + 14336, 2048, seed + 2);
}

Test(checkpoint, file_roundtrip_same_addresses)
{
    static unsigned char want[REGION_SIZE];
    char path[] = "/tmp/uarea-ckpt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w+b");
    cr_assert_not_null(f);
    fill_region(3);
    migrate_container c = region_container();
    cr_assert_eq(migrate_pages_mark_zero(r_pages, 4, 0, NULL, 0), 1);
    unsigned char buf[4096];
    migrate_image_stats st;
    cr_assert_eq(migrate_image_write(&c, file_sink, f, buf, sizeof buf, &st), 0);
    cr_assert_eq(st.zero_pages, 1);
    cr_assert_eq(fflush(f), 0);
    cr_assert_eq((uint64_t)ftell(f), st.stream_bytes);
    /* the process's memory is gone: wipe it, then restore from the file */
    memset(region, 0, REGION_SIZE);
    rewind(f);
    migrate_image_target t = region_target();
    int rc = migrate_image_read(&t, 0, file_source, f, buf, 1000, &st);
    cr_assert_eq(rc, 0, "restore: %s", uarea_strerror(rc));
    expected(want, 3);
    cr_assert_arr_eq(region, want, REGION_SIZE);
    fclose(f);
    unlink(path);
}

Test(checkpoint, damaged_file_leaves_memory_empty)
{
    char path[] = "/tmp/uarea-ckpt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fill_region(5);
    migrate_container c = region_container();
    unsigned char buf[512];
    cr_assert_eq(migrate_image_write(&c, fd_sink, &fd, buf, sizeof buf, NULL), 0);
    off_t size = lseek(fd, 0, SEEK_CUR);
    /* flip one byte near the end: in the last heap page */
    unsigned char x;
    cr_assert_eq(pread(fd, &x, 1, size - 100), 1);
    x ^= 0x40;
    cr_assert_eq(pwrite(fd, &x, 1, size - 100), 1);
    memset(region, 0, REGION_SIZE);
    lseek(fd, 0, SEEK_SET);
    migrate_image_target t = region_target();
    cr_assert_eq(migrate_image_read(&t, 0, fd_source, &fd, buf, sizeof buf, NULL), UAREA_EIMGCRC);
    cr_assert(all_zero(region, REGION_SIZE));
    /* a file cut short */
    cr_assert_eq(ftruncate(fd, size / 2), 0);
    lseek(fd, 0, SEEK_SET);
    cr_assert_eq(migrate_image_read(&t, 0, fd_source, &fd, buf, sizeof buf, NULL), UAREA_EIMGTRUNC);
    cr_assert(all_zero(region, REGION_SIZE));
    close(fd);
    unlink(path);
}

/* Checkpoint/restart: a child process (same binary, same addresses) fills
 * the container, writes the checkpoint and exits; this process, whose own
 * copy of the region never held that state, restores it from the file. */
Test(checkpoint, restart_after_the_writer_exited)
{
    static unsigned char want[REGION_SIZE];
    char path[] = "/tmp/uarea-ckpt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    memset(region, 0, REGION_SIZE);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        unsigned char buf[4096];
        fill_region(11);
        migrate_container c = region_container();
        migrate_pages_mark_zero(r_pages, 4, 0, NULL, 0);
        _exit(migrate_image_write(&c, fd_sink, &fd, buf, sizeof buf, NULL) == 0 ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed");
    cr_assert(all_zero(region, REGION_SIZE), "this process never held the state");
    lseek(fd, 0, SEEK_SET);
    migrate_image_target t = region_target();
    unsigned char buf[777];
    migrate_image_stats st;
    int rc = migrate_image_read(&t, 0, fd_source, &fd, buf, sizeof buf, &st);
    cr_assert_eq(rc, 0, "restore: %s", uarea_strerror(rc));
    cr_assert_eq(st.sections, 10);
    cr_assert_eq(st.zero_pages, 1);
    expected(want, 11);
    cr_assert_arr_eq(region, want, REGION_SIZE);
    close(fd);
    unlink(path);
}
