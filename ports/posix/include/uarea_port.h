/*
 * uarea_port.h - selects the POSIX port for every uarea header.
 *
 * uarea/config.h reads a <uarea_port.h> found on the include path before
 * anything else, unless the program names its port (UAREA_PORT_HEADER) or
 * asks for the null port (UAREA_PORT_NULL). This one is found when the POSIX
 * port's include directory is on the path (the uarea::posix target, pkg-config
 * uarea-posix, -I ports/posix/include): the core headers then build against
 * the POSIX port even when they come before <uarea_posix.h>, and _GNU_SOURCE
 * is in effect before the first libc header the uarea headers include. It
 * selects nothing in a freestanding build or off Linux.
 */
#ifndef UAREA_PORT_SELECT_POSIX_H
#define UAREA_PORT_SELECT_POSIX_H

#if defined(__linux__) && defined(__STDC_HOSTED__) && __STDC_HOSTED__ && !defined(UAREA_PORT_HEADER)
#  define UAREA_PORT_HEADER <uarea_posix/port.h>
#  ifndef _GNU_SOURCE
#    define _GNU_SOURCE 1
#  endif
#endif

#endif /* UAREA_PORT_SELECT_POSIX_H */
