/*
 * uarea/error.h - the library's one error space.
 *
 * Every fallible call of uarea, noc and migrate returns an int: 0 (or a
 * non-negative count) on success, one of the negative codes below on failure.
 * Codes are stable (they travel in migration messages): never renumber one,
 * only append. uarea_strerror() names each; -Wswitch keeps it complete.
 *
 *   #include <uarea/error.h>
 *   int rc = uarea_thread_join(tid, &ret);
 *   if (rc < 0) log("join: %s", uarea_strerror(rc));
 *
 * Implementation: UAREA_CORE_IMPLEMENTATION (or UAREA_IMPLEMENTATION).
 */
#include "config.h"

#ifndef UAREA_ERROR_H
#define UAREA_ERROR_H

UAREA_EXTERN_C_BEGIN

typedef enum uarea_err {
    UAREA_OK = 0,

    /* Generic (-1 .. -19) */
    UAREA_EINVAL = -1,       /* invalid argument (NULL, out of range) */
    UAREA_ENOMEM = -2,       /* no space left in a fixed pool */
    UAREA_EBUSY = -3,        /* resource busy (already migrating, ...) */
    UAREA_EAGAIN = -4,       /* would block; retry later */
    UAREA_ETIMEDOUT = -5,    /* deadline passed */
    UAREA_ENOSYS = -6,       /* not supported by this port or build */
    UAREA_ESTATE = -7,       /* call not valid in the current state */
    UAREA_EIO = -8,          /* a sink, source or port hook failed */
    UAREA_ECANCELED = -9,    /* operation canceled before completion */
    UAREA_ENOENT = -10,      /* no such file (a port's file system) */
    UAREA_EACCES = -11,      /* permission denied (a port's file system) */
    UAREA_ENOSPC = -12,      /* no space left on the device (a port's file system) */

    /* Threads and the UArea (-20 .. -39) */
    UAREA_ETHREADS = -20,    /* UAREA_THREADS_MAX threads already exist */
    UAREA_ENOTHREAD = -21,   /* no thread with that id */
    UAREA_EJOINED = -22,     /* thread already joined or being joined */
    UAREA_EDEADLK = -23,     /* a thread may not join itself */
    UAREA_EOVERFLOW = -24,   /* stack overflow detected (canary broken) */
    /* -25, -26: retired, never returned (a thread slot comes with its stack;
     * a frozen container's calls wait); not to be given to another code. */
    UAREA_ENOTUSER = -27,    /* caller is not a user thread of a container */
    UAREA_ELAYOUT = -28,     /* UArea header invalid (magic/version/size) */

    /* Transport (-40 .. -59) */
    UAREA_EBADNODE = -40,    /* node number out of range */
    UAREA_EBADPORT = -41,    /* port number out of range */
    UAREA_EPORTINUSE = -42,  /* port already created */
    UAREA_ETOOMANY = -43,    /* too many open handles */
    UAREA_EMSGSIZE = -44,    /* size 0 or above the limit */
    UAREA_ENOTALLOWED = -45, /* portal read/write without a matching allow */
    UAREA_EBADHANDLE = -46,  /* handle closed, unlinked or never opened */
    UAREA_EPEERGONE = -47,   /* the remote node died or left */
    UAREA_EDIRECTION = -48,  /* read on an output handle or vice versa */
    UAREA_ESTALLED = -49,    /* wait forever, but nothing can make progress (loopback) */
    UAREA_ENODEKIND = -50,   /* the node cannot hold a container (an I/O node) */
    UAREA_ENODEDIFF = -51,   /* a node differs from node 0 (binary, addresses, settings) */

    /* Container images (-60 .. -79) */
    UAREA_EIMGMAGIC = -60,   /* not a uarea image */
    UAREA_EIMGVERSION = -61, /* image format version not supported */
    UAREA_EIMGLAYOUT = -62,  /* UArea layout fingerprint differs */
    UAREA_EIMGBINARY = -63,  /* image made by another binary */
    UAREA_EIMGTRUNC = -64,   /* stream ended early */
    UAREA_EIMGCRC = -65,     /* a CRC32C does not match */
    UAREA_EIMGBOUNDS = -66,  /* a section lies outside the container */
    UAREA_EIMGTOOBIG = -67,  /* container too large for this node */
    UAREA_EIMGFORMAT = -68,  /* malformed section header or order */
    UAREA_EIMGINCOMPLETE = -69, /* a section the UArea needs is missing (a stack's) */

    /* Migration (-80 .. -99) */
    UAREA_EREJECTED = -80,   /* destination refused the migration */
    UAREA_EABORTED = -81,    /* migration aborted; source keeps running */
    UAREA_ESAMENODE = -82,   /* destination is the current node */
    UAREA_ENOCONTAINER = -83,/* no container on this node */
    UAREA_EPROTO = -84,      /* unexpected or malformed protocol message */
    UAREA_ELOST = -85,       /* a container is lost: the node holding its only copy died */
    UAREA_EPAGESLOST = -86   /* post-copy: the source was lost before every page arrived */
} uarea_err;

/* A short English description of an error code; never NULL. */
UAREA_API const char *uarea_strerror(int err);

UAREA_EXTERN_C_END

#endif /* UAREA_ERROR_H */

/* ------------------------------------------------------------------------ */
#if defined(UAREA_CORE_IMPLEMENTATION) && !defined(UAREA__ERROR_IMPLEMENTED)
#define UAREA__ERROR_IMPLEMENTED

UAREA_EXTERN_C_BEGIN

UAREA_API const char *uarea_strerror(int err)
{
    switch ((uarea_err)err) {
    case UAREA_OK: return "success";
    case UAREA_EINVAL: return "invalid argument";
    case UAREA_ENOMEM: return "no space left in a fixed pool";
    case UAREA_EBUSY: return "resource busy";
    case UAREA_EAGAIN: return "operation would block";
    case UAREA_ETIMEDOUT: return "timed out";
    case UAREA_ENOSYS: return "not supported by this port";
    case UAREA_ESTATE: return "not valid in the current state";
    case UAREA_EIO: return "input/output hook failed";
    case UAREA_ECANCELED: return "operation canceled";
    case UAREA_ENOENT: return "no such file or directory";
    case UAREA_EACCES: return "permission denied";
    case UAREA_ENOSPC: return "no space left on device";
    case UAREA_ETHREADS: return "too many threads";
    case UAREA_ENOTHREAD: return "no such thread";
    case UAREA_EJOINED: return "thread already joined";
    case UAREA_EDEADLK: return "thread would join itself";
    case UAREA_EOVERFLOW: return "stack overflow detected";
    case UAREA_ENOTUSER: return "caller is not a container thread";
    case UAREA_ELAYOUT: return "invalid UArea header";
    case UAREA_EBADNODE: return "no such node";
    case UAREA_EBADPORT: return "port number out of range";
    case UAREA_EPORTINUSE: return "port already in use";
    case UAREA_ETOOMANY: return "too many open handles";
    case UAREA_EMSGSIZE: return "message size is zero or over the limit";
    case UAREA_ENOTALLOWED: return "portal transfer not allowed";
    case UAREA_EBADHANDLE: return "closed or invalid handle";
    case UAREA_EPEERGONE: return "peer node is gone";
    case UAREA_EDIRECTION: return "wrong direction for this handle";
    case UAREA_ESTALLED: return "no progress possible: the operation can never complete";
    case UAREA_ENODEKIND: return "the node cannot hold a container";
    case UAREA_ENODEDIFF: return "a node differs from node 0 (binary, addresses or settings)";
    case UAREA_EIMGMAGIC: return "not a uarea image (bad magic)";
    case UAREA_EIMGVERSION: return "unsupported image format version";
    case UAREA_EIMGLAYOUT: return "UArea layout fingerprint mismatch";
    case UAREA_EIMGBINARY: return "binary fingerprint mismatch";
    case UAREA_EIMGTRUNC: return "truncated image";
    case UAREA_EIMGCRC: return "image CRC mismatch";
    case UAREA_EIMGBOUNDS: return "image section out of container bounds";
    case UAREA_EIMGTOOBIG: return "container too large for this node";
    case UAREA_EIMGFORMAT: return "malformed image";
    case UAREA_EIMGINCOMPLETE: return "image lacks a section its UArea needs";
    case UAREA_EREJECTED: return "migration rejected by destination";
    case UAREA_EABORTED: return "migration aborted";
    case UAREA_ESAMENODE: return "destination is the current node";
    case UAREA_ENOCONTAINER: return "no container on this node";
    case UAREA_EPROTO: return "protocol error";
    case UAREA_ELOST: return "container lost with the node that held it";
    case UAREA_EPAGESLOST: return "the source of a post-copy migration was lost before every page arrived";
    }
    return err > 0 ? "not an error code (positive)" : "unknown error";
}

UAREA_EXTERN_C_END

#endif /* UAREA_CORE_IMPLEMENTATION */
