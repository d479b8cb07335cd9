/* The same library compiled with another configuration (fewer threads, a
 * bigger heap page count): its layout fingerprint and its UAreas must not
 * pass for the default build's. Everything here is static (UAREA_STATIC), so
 * it links beside the default implementation of test_uarea_layout.c. */
#define UAREA_THREADS_MAX 8
#define UAREA_HEAP_PAGES 64u
#define UAREA_STATIC
#define UAREA_CORE_IMPLEMENTATION
#include <uarea/uarea.h>
#include "fp_alt.h"

uint64_t fp_alt_fingerprint(void) { return uarea_layout_fingerprint(); }
size_t fp_alt_container_size(void) { return UAREA_CONTAINER_SIZE; }

int fp_alt_init(void *base, size_t size)
{
    struct uarea *ua;
    return uarea_container_init(base, size, &ua);
}

int fp_alt_check(const void *base) { return uarea_check((const struct uarea *)base); }
