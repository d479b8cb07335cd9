/*
 * migrate/migrate.h - the app-facing migration call.
 *
 *   #include <migrate/migrate.h>
 *   int rc = migrate_to(2);    // 0: this code now runs on node 2
 *
 * Called by a thread of a container. The container freezes (every thread
 * parks at its next scheduling point), its image travels to `node`, is
 * verified there, and the container resumes on `node`, where the call
 * returns 0. Move, not copy: the source's copy is gone. If the move fails
 * (the destination refused it or died, a timeout, a damaged image), the
 * container resumes where it was and the call returns a negative error from
 * uarea/error.h: UAREA_ESAMENODE, UAREA_EBADNODE, UAREA_EBUSY (a migration is
 * already under way), UAREA_EREJECTED and the image errors (the destination
 * refused), UAREA_ETIMEDOUT, UAREA_EPEERGONE, UAREA_ENOTUSER (not called from a
 * container thread).
 *
 * kmigrate_to() is the same call under the Nanvix name.
 *
 * They are declared here and defined by migrate/syscall.h (a system call
 * that the node's master serves with its migration daemon), which every
 * port whose containers migrate includes; a port may define them itself
 * instead.
 */
#include "../uarea/config.h"
#include "../uarea/error.h"

#ifndef MIGRATE_MIGRATE_H
#define MIGRATE_MIGRATE_H

UAREA_EXTERN_C_BEGIN

/* Defined by migrate/syscall.h's implementation, or by the port. */
extern int migrate_to(int node);
extern int kmigrate_to(int node);

/* migrate_to in a given way, for this migration only (the node's setting
 * otherwise decides: migrate_config, uarea_posix_desc): */
#define MIGRATE_TO_DEFAULT (-1)   /* the node's setting */
#define MIGRATE_TO_STOP_COPY 0    /* the whole container, frozen */
#define MIGRATE_TO_PRECOPY 1      /* rounds while it runs, then the delta frozen */
#define MIGRATE_TO_POSTCOPY 2     /* frozen without the heap; it resumes on `node`
                                     at once, its heap pages follow */
#define MIGRATE_TO_PRE_POST 3     /* rounds, then the pages still written follow */
/* A way the node cannot do goes as far as it can (no dirty tracking: no
 * pre-copy; a destination that cannot take pages after: refused,
 * UAREA_ENOSYS, the container stays). UAREA_EINVAL for another value;
 * then as migrate_to. migrate_stats.mode records the way it went. */
extern int migrate_to_mode(int node, int mode);

UAREA_EXTERN_C_END

#endif /* MIGRATE_MIGRATE_H */
