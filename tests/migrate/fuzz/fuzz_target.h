/* The node the fuzz harness restores into; mkimage writes its seed images
 * for it. Shared by mkimage.c and fuzz_image.c. */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#define FUZZ_BASE ((uintptr_t)0x80000000u)  /* image address of the region */
#define FUZZ_REGION 8192u                   /* bytes in the region */
#define FUZZ_PAGE 256u                      /* small pages keep seeds small */
#define FUZZ_LAYOUT UINT64_C(0x5EED1A70A1F00001)
#define FUZZ_BINARY UINT64_C(0x5EEDB1A2B3C40002)

#endif
