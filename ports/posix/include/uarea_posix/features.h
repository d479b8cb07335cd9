/*
 * uarea_posix/features.h - the libc features the POSIX port is written
 * against (the GNU/Linux interfaces: syscall(2), MAP_ANONYMOUS, timers,
 * signals with siginfo). Included first by every header of the port.
 *
 * glibc fixes its feature set at the first libc header a translation unit
 * includes. When a uarea header comes first, _GNU_SOURCE is defined here in
 * time; when a libc header came first in a strict ISO C build (-std=c11)
 * without _GNU_SOURCE, the interfaces are hidden and the build stops here
 * with a message that says what to do, instead of failing deep inside the
 * port. The uarea::posix CMake target and the uarea-posix pkg-config module
 * define _GNU_SOURCE for every translation unit.
 */
#ifndef UAREA_POSIX_FEATURES_H
#define UAREA_POSIX_FEATURES_H

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE 1
#endif
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_MISC)
#  error "the uarea POSIX port needs _GNU_SOURCE in effect before the first libc header: define it before including <stdio.h> and the like (or include the uarea headers first), build with -std=gnu11, or use the uarea::posix CMake target or pkg-config uarea-posix, which define it"
#endif

#endif /* UAREA_POSIX_FEATURES_H */
