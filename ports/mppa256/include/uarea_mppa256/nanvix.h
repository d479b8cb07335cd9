/*
 * uarea_mppa256/nanvix.h - the part of the Nanvix microkernel and libnanvix
 * that the MPPA-256 port calls, declared with Nanvix's own signatures.
 *
 * On the chip these come from Nanvix (the kernel's HAL and libnanvix's IKC,
 * linked into the cluster's kernel image). On a host they come from the chip
 * model (ports/mppa256/model/), which implements exactly these names with the
 * chip's limits, so that the port's code above them is the same in both
 * builds. A build against the real Nanvix headers defines
 * UAREA_MPPA256_NANVIX_HEADERS and includes them before this file; the
 * declarations below are then skipped.
 *
 * The calls and their results, as the port relies on them:
 *
 * Nodes. knode_get_num(): this cluster's NoC node number. The MPPA-256 has
 * 24: 0..7 are I/O clusters (0..3 on I/O cluster 0, 4..7 on I/O cluster 1),
 * 8..23 the compute clusters 0..15.
 *
 * Mailboxes (small messages, KMAILBOX_MESSAGE_SIZE = 128 bytes of payload,
 * 144 on the wire with Nanvix's 16-byte header). kmailbox_create(local, port)
 * makes input mailbox `port` of this node; kmailbox_open(remote, port) an
 * output mailbox to it; both return an id >= 0. __kmailbox_awrite() and
 * __kmailbox_aread() are the kernel calls under libnanvix's blocking
 * kmailbox_awrite/aread: one try each, which returns at once. A write that
 * cannot go yet returns -EAGAIN, -EBUSY or -ETIMEDOUT; a read with no message
 * yet returns -ENOMSG, -EBUSY or -ETIMEDOUT; a size of 0 or above 128 is
 * -EINVAL. After a try that started the operation (>= 0), kmailbox_wait()
 * completes it: 0, or > 0 for a read that took a message meant for another
 * port of this node (read again), or a negative error.
 *
 * Portals (bulk data, one sender at a time, KPORTAL_MESSAGE_DATA_SIZE = 4 KiB
 * per hardware transfer; libnanvix's kportal_read/write cut up to
 * KPORTAL_MAX_SIZE = 1 MiB into such pieces). The receiver creates
 * kportal_create(local, port), names the one sender it takes the next piece
 * from with kportal_allow(id, remote, remote_port) (-EBUSY when an allow is
 * already pending), then __kportal_aread(id, buf, n): -EACCES without an
 * allow, -ENOMSG or -EBUSY while the piece has not come. Each piece needs its
 * own allow. The sender opens kportal_open(local, remote, remote_port) and
 * tries __kportal_awrite(id, buf, n): -EACCES or -EBUSY until the receiver
 * has allowed it. Pieces are 1..4096 bytes (else -EINVAL); kportal_wait()
 * completes a started piece (> 0 on a read: data for another port, read
 * again).
 *
 * Cores (16 per compute cluster; core 0 is the master). core_get_id(): the
 * calling core. core_start(coreid, fn): start a slave core on fn (0, or a
 * negative error). event_notify(coreid) / event_wait(): a per-core event, kept
 * when it is sent before the wait (so no wake-up is lost).
 *
 * Interrupts and time. interrupts_disable()/interrupts_enable() on the calling
 * core; clock_read(): the cluster's cycle counter (400 MHz on the MPPA-256);
 * kprintf(): the kernel's console.
 */
#ifndef UAREA_MPPA256_NANVIX_H
#define UAREA_MPPA256_NANVIX_H

#include <stddef.h>
#include <stdint.h>

#ifndef UAREA_MPPA256_NANVIX_HEADERS

#ifdef __cplusplus
extern "C" {
#endif

/* ssize_t without a C library: Nanvix's IKC returns it */
typedef long uarea_mppa256_ssize_t;

/* ---- Constants (Nanvix microkernel, MPPA-256) ---------------------------- */
#define UAREA_MPPA256_NODES 24               /* NoC nodes of the chip */
#define UAREA_MPPA256_IO_NODES 8             /* 0..7: I/O clusters */
#define UAREA_MPPA256_FIRST_COMPUTE 8        /* 8..23: compute clusters 0..15 */
#define UAREA_MPPA256_CORES 16               /* cores per compute cluster */
#define UAREA_MPPA256_KMAILBOX_MESSAGE_SIZE 128u   /* payload, bytes */
#define UAREA_MPPA256_KMAILBOX_HEADER_SIZE 16u     /* Nanvix's header on the wire */
#define UAREA_MPPA256_KPORTAL_PIECE 4096u          /* KPORTAL_MESSAGE_DATA_SIZE */
#define UAREA_MPPA256_KPORTAL_MAX_SIZE (1u << 20)  /* KPORTAL_MAX_SIZE */
#define UAREA_MPPA256_KMAILBOX_MAX 64              /* mailbox ids per node */
#define UAREA_MPPA256_KPORTAL_MAX 64               /* portal ids per node */
#define UAREA_MPPA256_PORTS 32                     /* ports per node, per kind */
#define UAREA_MPPA256_CLUSTER_SRAM (2u << 20)      /* bytes of SRAM per compute cluster */
#define UAREA_MPPA256_USER_SIZE (512u << 10)       /* Nanvix's user part of it */
#define UAREA_MPPA256_USER_BASE 0x80000000u        /* its virtual base */
#define UAREA_MPPA256_CLOCK_HZ 400000000u          /* cycle counter rate */

/* ---- Errors (Nanvix's errno values, negated by the calls) ------------------ */
#define UAREA_MPPA256_EAGAIN 11
#define UAREA_MPPA256_EBUSY 16
#define UAREA_MPPA256_EINVAL 22
#define UAREA_MPPA256_EACCES 13
#define UAREA_MPPA256_EBADF 9
#define UAREA_MPPA256_ENOMEM 12
#define UAREA_MPPA256_ENOMSG 42
#define UAREA_MPPA256_ETIMEDOUT 110

/* ---- libnanvix IKC --------------------------------------------------------- */
int knode_get_num(void);

int kmailbox_create(int local, int port);
int kmailbox_open(int remote, int remote_port);
int kmailbox_unlink(int mbxid);
int kmailbox_close(int mbxid);
uarea_mppa256_ssize_t __kmailbox_aread(int mbxid, void *buffer, size_t size);
uarea_mppa256_ssize_t __kmailbox_awrite(int mbxid, const void *buffer, size_t size);
int kmailbox_wait(int mbxid);

int kportal_create(int local, int local_port);
int kportal_allow(int portalid, int remote, int remote_port);
int kportal_open(int local, int remote, int remote_port);
int kportal_unlink(int portalid);
int kportal_close(int portalid);
uarea_mppa256_ssize_t __kportal_aread(int portalid, void *buffer, size_t size);
uarea_mppa256_ssize_t __kportal_awrite(int portalid, const void *buffer, size_t size);
int kportal_wait(int portalid);

/* ---- Nanvix HAL: cores, events, interrupts, clock, console ----------------- */
int core_get_id(void);
int core_start(int coreid, void (*start)(void));
void event_notify(int coreid);
void event_wait(void);
void interrupts_disable(void);
void interrupts_enable(void);
uint64_t clock_read(void);
void kprintf(const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* !UAREA_MPPA256_NANVIX_HEADERS */
#endif /* UAREA_MPPA256_NANVIX_H */
