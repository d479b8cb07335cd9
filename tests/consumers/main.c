/* A program as a user of uarea writes it: one translation unit holds the
 * implementation, and the program checks what it got. Used by the three
 * consumer projects (add_subdirectory, find_package, pkg-config). */
#define UAREA_IMPLEMENTATION
#include <uarea/error.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *s = uarea_strerror(UAREA_EPEERGONE);
    if (strcmp(s, "peer node is gone") != 0) {
        fprintf(stderr, "unexpected strerror: %s\n", s);
        return 1;
    }
    printf("uarea %d.%d.%d consumed: %s\n", UAREA_VERSION_MAJOR,
           UAREA_VERSION_MINOR, UAREA_VERSION_PATCH, s);
    return 0;
}
