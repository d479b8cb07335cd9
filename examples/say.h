/*
 * examples/say.h - the examples' output line.
 *
 * A container thread may resume in another node process, so it keeps no
 * buffered FILE output across scheduling points (a FILE's buffer and lock are
 * libc state of one node, docs/posix-port.md): say() formats into its own
 * stack buffer and writes the line with one write(2). Lines longer than 511
 * bytes are cut.
 */
#ifndef UAREA_EXAMPLES_SAY_H
#define UAREA_EXAMPLES_SAY_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) (void)!write(1, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

#endif
