/* Entry points of fp_alt.c: the library built with a non-default layout. */
#ifndef FP_ALT_H
#define FP_ALT_H
#include <stddef.h>
#include <stdint.h>
uint64_t fp_alt_fingerprint(void);
size_t fp_alt_container_size(void);
int fp_alt_init(void *base, size_t size);
int fp_alt_check(const void *base);
#endif
