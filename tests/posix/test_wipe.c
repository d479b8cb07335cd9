/* The POSIX port's UAREA_PORT_WIPE (uarea_posix/port.h): in the container
 * region every byte reads zero afterwards, the pages that held data stay in
 * memory (the next arrival does not fault them in), the pages never touched
 * are not faulted in by the wipe; outside the region (the user sections,
 * file-backed .data) it is a plain memset. */
#include <uarea_posix.h>
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64

static unsigned char *map_region(void)
{
    void *p = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    uarea__posix_region = p;
    uarea__posix_region_size = PAGES * 4096;
    return p;
}

static int resident(const void *page)
{
    unsigned char v = 0;
    cr_assert_eq(mincore((void *)page, 4096, &v), 0);
    return v & 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

Test(posix_wipe, the_region_reads_zero_and_untouched_pages_stay_out)
{
    unsigned char *r = map_region();
    cr_assert_eq(sysconf(_SC_PAGESIZE), 4096);
    for (int i = 0; i < PAGES; i += 4) memset(r + i * 4096, 0xa5, 4096);   /* 1 page in 4 */
    memset(r + (PAGES - 1) * 4096, 0xa5, 4096);                            /* and the last */
    cr_assert(resident(r) && !resident(r + 4096));
    /* an unaligned range: the partial pages at both ends too */
    UAREA_PORT_WIPE(r + 100, PAGES * 4096 - 200);
    cr_assert_eq(r[99], 0xa5, "outside the range: untouched");
    cr_assert_eq(r[PAGES * 4096 - 1], 0xa5);
    for (int i = 0; i < PAGES; i++) {
        if (i % 4 == 0 || i == PAGES - 1) cr_assert(resident(r + i * 4096), "page %d held data: kept in memory", i);
        else cr_assert_not(resident(r + i * 4096), "page %d was never touched: not faulted in", i);
    }
    /* (reading maps the zero page: after the residency checks) */
    cr_assert(all_zero(r + 100, PAGES * 4096 - 200));
    munmap(r, PAGES * 4096);
    uarea__posix_region = NULL;
    uarea__posix_region_size = 0;
}

static unsigned char data_section[3 * 4096] = {1, 2, 3};   /* file-backed .data */

Test(posix_wipe, outside_the_region_a_memset)
{
    unsigned char *r = map_region();
    memset(data_section, 0x5a, sizeof data_section);
    UAREA_PORT_WIPE(data_section, sizeof data_section);
    cr_assert(all_zero(data_section, sizeof data_section), "not the file's bytes back: zero");
    munmap(r, PAGES * 4096);
}
