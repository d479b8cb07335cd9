/* The MPI transport (ports/posix/include/uarea_posix/noc_mpi.h), run as an
 * MPI job of 4 ranks (ctest: mpirun -np 4): the behaviours test_shm.c and
 * test_loopback.c check on the other transports, between real ranks.
 *
 * Plain C (Criterion forks per test, which MPI does not survive). Every rank
 * runs every test; each test attaches a fresh transport (a new
 * communicator) and detaches it, so tests do not see each other's messages.
 * A failed check prints the rank and line and aborts the job.
 *
 *   mpirun -np 4 test_noc_mpi [name-substring]
 */
#define UAREA_IMPLEMENTATION
#include <uarea_posix/noc_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, nranks;
static noc_mpi_node nd;
static noc_transport t;

#define CHECK(c) do { if (!(c)) { \
    fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed\n", rank, __FILE__, __LINE__, #c); \
    MPI_Abort(MPI_COMM_WORLD, 1); } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { fprintf(stderr, "rank %d: %s:%d: %s == %lld, expected %s == %lld\n", \
        rank, __FILE__, __LINE__, #a, a_, #b, b_); MPI_Abort(MPI_COMM_WORLD, 1); } } while (0)

/* Until `expr` equals `want` (at most 5 s, polling the transport): what a
 * peer did reaches this rank a moment later. */
#define EVENTUALLY_EQ(expr, want) do { uint64_t t0_ = noc_clock_ns(&t); long long v_; \
    for (;;) { v_ = (long long)(expr); if (v_ == (long long)(want)) break; \
        if (noc_clock_ns(&t) - t0_ > 5000000000u) CHECK_EQ(v_, want); \
        noc_mpi_progress(&nd); } } while (0)

static void sync_all(void) { MPI_Barrier(MPI_COMM_WORLD); }

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 12)) & 0xffu);
}

static int next(void) { return (rank + 1) % nranks; }
static int prev(void) { return (rank + nranks - 1) % nranks; }

/* ---- tests ---- */
static void attach_and_nodes(void)
{
    noc_mpi_node other;
    noc_transport tt;
    CHECK_EQ(noc_self(&t), rank);
    CHECK_EQ(noc_count(&t), nranks);
    CHECK_EQ(noc_node_self(), UAREA_ENOSYS);
    noc_set_default(&t);
    CHECK_EQ(noc_node_self(), rank);
    CHECK_EQ(noc_nodes(), nranks);
    noc_set_default(NULL);
    CHECK_EQ(noc_mpi_attach(MPI_COMM_WORLD, NULL, &tt), UAREA_EINVAL);
    CHECK_EQ(noc_mpi_attach(MPI_COMM_WORLD, &other, NULL), UAREA_EINVAL);
    CHECK_EQ(noc_mpi_attach(MPI_COMM_NULL, &other, &tt), UAREA_EINVAL);
    CHECK_EQ(noc_mpi_detach(NULL), UAREA_EINVAL);
    CHECK_EQ(noc_mpi_peer_state(&nd, nranks), UAREA_EBADNODE);
    CHECK_EQ(noc_mpi_peer_state(&nd, next()), 1);
    CHECK_EQ(noc_node_gone(&t, next()), 0);
    CHECK_EQ(noc_node_gone(&t, rank), 0);
    CHECK_EQ(noc_node_gone(&t, nranks), UAREA_EBADNODE);
    CHECK(noc_mpi_comm(&nd) != MPI_COMM_NULL);
    CHECK(noc_clock_ns(&t) > 0);
    /* the optional write-in-place pair is not provided */
    CHECK(noc_mpi_ops()->mailbox_sender != NULL && noc_mpi_ops()->node_gone != NULL);
}

static void bad_node_port_and_handles(void)
{
    char b[8] = "abc";
    int in = noc_mailbox_create(&t, 0), out = noc_mailbox_open(&t, next(), 0);
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, next(), 0);
    CHECK(in >= 0 && out >= 0 && pin >= 0 && pout >= 0);
    CHECK_EQ(noc_mailbox_open(&t, nranks, 0), UAREA_EBADNODE);
    CHECK_EQ(noc_mailbox_open(&t, -1, 0), UAREA_EBADNODE);
    CHECK_EQ(noc_mailbox_open(&t, 0, NOC_PORTS_MAX), UAREA_EBADPORT);
    CHECK_EQ(noc_mailbox_create(&t, -1), UAREA_EBADPORT);
    CHECK_EQ(noc_portal_create(&t, NOC_PORTS_MAX), UAREA_EBADPORT);
    CHECK_EQ(noc_portal_open(&t, 0, nranks + 3, 0), UAREA_EBADNODE);
    CHECK_EQ(noc_portal_allow(&t, pin, nranks, 0), UAREA_EBADNODE);
    CHECK_EQ(noc_portal_allow(&t, pin, 0, 99), UAREA_EBADPORT);
    /* ports in use */
    CHECK_EQ(noc_mailbox_create(&t, 0), UAREA_EPORTINUSE);
    CHECK_EQ(noc_portal_create(&t, 0), UAREA_EPORTINUSE);
    CHECK_EQ(noc_portal_open(&t, 0, next(), 0), UAREA_EPORTINUSE);
    /* direction */
    CHECK_EQ(noc_mailbox_aread(&t, out, b, 8), UAREA_EDIRECTION);
    CHECK_EQ(noc_mailbox_awrite(&t, in, b, 3), UAREA_EDIRECTION);
    CHECK_EQ(noc_mailbox_close(&t, in), UAREA_EDIRECTION);
    CHECK_EQ(noc_mailbox_unlink(&t, out), UAREA_EDIRECTION);
    CHECK_EQ(noc_portal_aread(&t, pout, b, 8), UAREA_EDIRECTION);
    CHECK_EQ(noc_portal_awrite(&t, pin, b, 3), UAREA_EDIRECTION);
    CHECK_EQ(noc_portal_allow(&t, pout, 1, 0), UAREA_EDIRECTION);
    CHECK_EQ(noc_portal_unlink(&t, pout), UAREA_EDIRECTION);
    CHECK_EQ(noc_portal_close(&t, pin), UAREA_EDIRECTION);
    CHECK_EQ(noc_mailbox_sender(&t, out), UAREA_EDIRECTION);
    CHECK_EQ(noc_mailbox_sender(&t, in), UAREA_ESTATE);
    /* no operation posted */
    CHECK_EQ(noc_mailbox_wait(&t, in, 0), UAREA_ESTATE);
    CHECK_EQ(noc_mailbox_cancel(&t, in), UAREA_ESTATE);
    CHECK_EQ(noc_portal_wait(&t, pin, 0), UAREA_ESTATE);
    CHECK_EQ(noc_portal_cancel(&t, pout), UAREA_ESTATE);
    CHECK_EQ(noc_portal_poll(&t, pout), UAREA_ESTATE);
    /* a read without an allow fails */
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), UAREA_ENOTALLOWED);
    CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, 0), UAREA_ENOTALLOWED);
    /* closed, unlinked, never opened */
    CHECK_EQ(noc_mailbox_close(&t, out), 0);
    CHECK_EQ(noc_mailbox_write(&t, out, b, 3, 0), UAREA_EBADHANDLE);
    CHECK_EQ(noc_mailbox_close(&t, out), UAREA_EBADHANDLE);
    CHECK_EQ(noc_mailbox_unlink(&t, in), 0);
    CHECK_EQ(noc_mailbox_read(&t, in, b, 8, 0), UAREA_EBADHANDLE);
    CHECK_EQ(noc_portal_unlink(&t, pin), 0);
    CHECK_EQ(noc_portal_allow(&t, pin, 0, 0), UAREA_EBADHANDLE);
    CHECK_EQ(noc_portal_close(&t, pout), 0);
    CHECK_EQ(noc_portal_write(&t, pout, b, 3, 0), UAREA_EBADHANDLE);
    CHECK_EQ(noc_mailbox_wait(&t, 40, 0), UAREA_EBADHANDLE);
    CHECK_EQ(noc_portal_cancel(&t, 63), UAREA_EBADHANDLE);
    CHECK_EQ(noc_portal_cancel(&t, NOC_OPEN_MAX), UAREA_EBADHANDLE);
    /* a port can be created again */
    in = noc_mailbox_create(&t, 0);
    CHECK(in >= 0);
    CHECK_EQ(noc_mailbox_unlink(&t, in), 0);
}

static void too_many_open(void)
{
    int h[NOC_OPEN_MAX], i;
    for (i = 0; i < NOC_OPEN_MAX; i++) CHECK((h[i] = noc_mailbox_open(&t, next(), 1)) >= 0);
    CHECK_EQ(noc_mailbox_open(&t, next(), 0), UAREA_ETOOMANY);
    CHECK_EQ(noc_mailbox_create(&t, 0), UAREA_ETOOMANY);
    for (i = 0; i < NOC_OPEN_MAX; i++) CHECK_EQ(noc_mailbox_close(&t, h[i]), 0);
    for (i = 0; i < NOC_OPEN_MAX; i++)
        CHECK((h[i] = noc_portal_open(&t, i % NOC_PORTS_MAX, next(), i / NOC_PORTS_MAX)) >= 0);
    CHECK_EQ(noc_portal_open(&t, 0, next(), 9), UAREA_ETOOMANY);
    CHECK_EQ(noc_portal_create(&t, 0), UAREA_ETOOMANY);
    for (i = 0; i < NOC_OPEN_MAX; i++) CHECK_EQ(noc_portal_close(&t, h[i]), 0);
}

static void busy_handles(void)
{
    char b[16];
    int in = noc_mailbox_create(&t, 0);
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, rank, 0);
    CHECK_EQ(noc_mailbox_aread(&t, in, b, sizeof b), 0);
    CHECK_EQ(noc_mailbox_aread(&t, in, b, sizeof b), UAREA_EBUSY);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, 0), UAREA_EBUSY);
    CHECK_EQ(noc_mailbox_cancel(&t, in), UAREA_EAGAIN);
    /* a node writes to its own portal */
    CHECK_EQ(noc_portal_awrite(&t, pout, "abcd", 4), 0);
    CHECK_EQ(noc_portal_awrite(&t, pout, "abcd", 4), UAREA_EBUSY);
    CHECK_EQ(noc_portal_allow(&t, pin, rank, 0), 0);
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
    CHECK_EQ(noc_portal_allow(&t, pin, rank, 0), UAREA_EBUSY);     /* read posted */
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), UAREA_EBUSY);
    CHECK_EQ(noc_portal_wait(&t, pout, NOC_FOREVER), 4);
    CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), 4);
    CHECK_EQ(memcmp(b, "abcd", 4), 0);
}

static void mailbox_round_trip_and_small_buffer(void)
{
    unsigned char msg[100], got[100], small[10];
    int i, in = noc_mailbox_create(&t, 7), out = noc_mailbox_open(&t, next(), 7), self;
    CHECK(in >= 0 && out >= 0);
    fill(msg, sizeof msg, (unsigned)rank);
    CHECK_EQ(noc_mailbox_write(&t, out, msg, sizeof msg, NOC_FOREVER), 100);
    /* once it is there, a too small buffer keeps it */
    EVENTUALLY_EQ(noc_mailbox_read(&t, in, small, sizeof small, 0), UAREA_EMSGSIZE);
    memset(got, 0, sizeof got);
    CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, NOC_FOREVER), 100);
    fill(msg, sizeof msg, (unsigned)prev());
    CHECK_EQ(memcmp(got, msg, sizeof msg), 0);
    CHECK_EQ(noc_mailbox_sender(&t, in), prev());
    CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, 0), UAREA_EAGAIN);
    /* a node may write to its own mailbox */
    self = noc_mailbox_open(&t, rank, 7);
    CHECK_EQ(noc_mailbox_write(&t, self, "x", 1, NOC_FOREVER), 1);
    CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, NOC_FOREVER), 1);
    CHECK_EQ(got[0], 'x');
    CHECK_EQ(noc_mailbox_sender(&t, in), rank);
    sync_all();
    /* a ping-pong round the ring */
    for (i = 0; i < 200; i++) {
        unsigned char v = (unsigned char)i;
        if (rank == 0) {
            CHECK_EQ(noc_mailbox_write(&t, out, &v, 1, NOC_FOREVER), 1);
            CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, NOC_FOREVER), 1);
        } else {
            CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, NOC_FOREVER), 1);
            CHECK_EQ(noc_mailbox_write(&t, out, got, 1, NOC_FOREVER), 1);
        }
        CHECK_EQ(got[0], v);
    }
}

static void message_sizes(void)
{
    unsigned char buf[NOC_MAILBOX_MSG_SIZE + 1] = { 0 }, got[NOC_MAILBOX_MSG_SIZE];
    static unsigned char big[NOC_PORTAL_MAX_SIZE + 1];
    int in = noc_mailbox_create(&t, 0), out = noc_mailbox_open(&t, next(), 0);
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, next(), 0);
    CHECK_EQ(noc_mailbox_write(&t, out, buf, 0, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_mailbox_write(&t, out, buf, NOC_MAILBOX_MSG_SIZE + 1, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_mailbox_read(&t, in, buf, 0, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_portal_allow(&t, pin, prev(), 0), 0);
    CHECK_EQ(noc_portal_write(&t, pout, big, 0, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_portal_write(&t, pout, big, sizeof big, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_portal_read(&t, pin, big, sizeof big, 0), UAREA_EMSGSIZE);
    CHECK_EQ(noc_portal_read(&t, pin, big, 0, 0), UAREA_EMSGSIZE);
    /* the largest message passes, its bytes intact */
    fill(buf, NOC_MAILBOX_MSG_SIZE, (unsigned)rank + 3u);
    CHECK_EQ(noc_mailbox_write(&t, out, buf, NOC_MAILBOX_MSG_SIZE, NOC_FOREVER), NOC_MAILBOX_MSG_SIZE);
    CHECK_EQ(noc_mailbox_read(&t, in, got, sizeof got, NOC_FOREVER), NOC_MAILBOX_MSG_SIZE);
    fill(buf, NOC_MAILBOX_MSG_SIZE, (unsigned)prev() + 3u);
    CHECK_EQ(memcmp(got, buf, sizeof got), 0);
}

/* Ranks 1.. each write K numbered messages to rank 0, more than a
 * mailbox's credits: every one arrives, each sender's in order, and the
 * transport names the sender. */
static void many_senders_to_one_receiver(void)
{
    enum { K = 300 };
    unsigned char m[8];
    int next_seq[NOC_NODES_MAX] = { 0 }, i, n, in = -1;
    if (rank == 0) CHECK((in = noc_mailbox_create(&t, 5)) >= 0);
    sync_all();
    if (rank != 0) {
        int out = noc_mailbox_open(&t, 0, 5);
        for (i = 0; i < K; i++) {
            m[0] = (unsigned char)rank;
            memcpy(m + 1, &i, sizeof i);
            CHECK_EQ(noc_mailbox_write(&t, out, m, 1 + sizeof i, NOC_FOREVER), 1 + (int)sizeof i);
        }
        sync_all();                 /* still attached: a sender that left ends the reads */
        return;
    }
    for (n = 0; n < K * (nranks - 1); n++) {
        int from, seq;
        CHECK_EQ(noc_mailbox_read(&t, in, m, sizeof m, NOC_FOREVER), 1 + (int)sizeof seq);
        from = m[0];
        memcpy(&seq, m + 1, sizeof seq);
        CHECK(from >= 1 && from < nranks);
        CHECK_EQ(noc_mailbox_sender(&t, in), from);
        CHECK_EQ(seq, next_seq[from]);
        next_seq[from]++;
    }
    CHECK_EQ(noc_mailbox_read(&t, in, m, sizeof m, 0), UAREA_EAGAIN);
    sync_all();
}

/* A sender has NOC_MPI_MAILBOX_CREDITS messages' room; reading half of them
 * gives it back. Unlinking drops the queue; a new mailbox starts empty. */
static void mailbox_flow_control_and_unlink(void)
{
    unsigned char b[8];
    int i, in = -1, out = -1;
    if (rank == 0) CHECK((in = noc_mailbox_create(&t, 1)) >= 0);
    if (rank == 1) {
        out = noc_mailbox_open(&t, 0, 1);
        /* a write to a mailbox that does not exist yet waits */
        CHECK_EQ(noc_mailbox_write(&t, noc_mailbox_open(&t, 0, 9), b, 4, 0), UAREA_EAGAIN);
        CHECK_EQ(noc_mailbox_write(&t, noc_mailbox_open(&t, 0, 9), b, 4, 1000000), UAREA_ETIMEDOUT);
        for (i = 0; i < NOC_MPI_MAILBOX_CREDITS; i++) {
            b[0] = (unsigned char)i;
            CHECK_EQ(noc_mailbox_write(&t, out, b, 1, NOC_FOREVER), 1);
        }
        CHECK_EQ(noc_mailbox_write(&t, out, b, 1, 0), UAREA_EAGAIN);
        CHECK_EQ(noc_mailbox_write(&t, out, b, 1, 1000000), UAREA_ETIMEDOUT);
        CHECK_EQ(noc_mailbox_awrite(&t, out, b, 1), 0);
        CHECK_EQ(noc_mailbox_cancel(&t, out), UAREA_EAGAIN);      /* nothing queued */
    }
    sync_all();
    if (rank == 0) {
        for (i = 0; i < NOC_MPI_MAILBOX_CREDITS / 2; i++) {
            CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), 1);
            CHECK_EQ(b[0], i);
        }
    }
    if (rank == 1) {
        b[0] = 99;
        CHECK_EQ(noc_mailbox_write(&t, out, b, 1, NOC_FOREVER), 1);   /* room came back */
    }
    sync_all();
    if (rank == 0) {
        for (i = NOC_MPI_MAILBOX_CREDITS / 2; i <= NOC_MPI_MAILBOX_CREDITS; i++) {
            CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), 1);
            CHECK_EQ(b[0], i == NOC_MPI_MAILBOX_CREDITS ? 99 : i);
        }
        CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, 0), UAREA_EAGAIN);
    }
    sync_all();
    /* messages queued (and on the way) when the mailbox goes are dropped */
    if (rank == 1) for (i = 0; i < 3; i++) CHECK_EQ(noc_mailbox_write(&t, out, "old", 3, NOC_FOREVER), 3);
    sync_all();
    if (rank == 0) CHECK_EQ(noc_mailbox_unlink(&t, in), 0);
    sync_all();
    if (rank == 1) {
        EVENTUALLY_EQ(noc_mailbox_write(&t, out, b, 1, 0), UAREA_EAGAIN);  /* no mailbox */
    }
    sync_all();
    if (rank == 0) {
        CHECK((in = noc_mailbox_create(&t, 1)) >= 0);
        CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, 0), UAREA_EAGAIN);
    }
    sync_all();
    if (rank == 1) CHECK_EQ(noc_mailbox_write(&t, out, "new", 3, NOC_FOREVER), 3);
    if (rank == 0) {
        CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), 3);
        CHECK_EQ(memcmp(b, "new", 3), 0);
    }
}

static void timeouts_and_poll(void)
{
    char b[16];
    uint64_t t0;
    int in = noc_mailbox_create(&t, 0), out = noc_mailbox_open(&t, next(), 0);
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, next(), 0);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, 0), UAREA_EAGAIN);
    t0 = noc_clock_ns(&t);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, 2000000), UAREA_ETIMEDOUT);
    CHECK(noc_clock_ns(&t) - t0 >= 2000000);
    CHECK_EQ(noc_mailbox_aread(&t, in, b, sizeof b), 0);
    CHECK_EQ(noc_mailbox_poll(&t, in), UAREA_EAGAIN);
    CHECK_EQ(noc_mailbox_wait(&t, in, 1000000), UAREA_ETIMEDOUT);
    CHECK_EQ(noc_mailbox_wait(&t, in, -5), UAREA_EINVAL);
    sync_all();
    EVENTUALLY_EQ(noc_mailbox_write(&t, out, "hello", 5, 0), 5);   /* once credits came */
    EVENTUALLY_EQ(noc_mailbox_poll(&t, in), 5);                   /* the posted read */
    CHECK_EQ(memcmp(b, "hello", 5), 0);
    /* portals: no allow, allow without read, longer timeouts */
    CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, 0), UAREA_ENOTALLOWED);
    CHECK_EQ(noc_portal_write(&t, pout, b, 4, 0), UAREA_ENOTALLOWED);
    t0 = noc_clock_ns(&t);
    CHECK_EQ(noc_portal_write(&t, pout, b, 4, 2000000), UAREA_ETIMEDOUT);
    CHECK(noc_clock_ns(&t) - t0 >= 2000000);
    sync_all();
    CHECK_EQ(noc_portal_allow(&t, pin, prev(), 0), 0);
    EVENTUALLY_EQ(noc_portal_write(&t, pout, b, 4, 0), UAREA_EAGAIN);  /* the allow arrived */
    CHECK_EQ(noc_portal_write(&t, pout, b, 4, 2000000), UAREA_ETIMEDOUT);
    sync_all();
    /* reads cut short by their timeout are withdrawn; their allow stays */
    CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, 0), UAREA_EAGAIN);
    CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, 1000000), UAREA_ETIMEDOUT);
    sync_all();
    CHECK_EQ(noc_portal_awrite(&t, pout, "tail", 4), 0);
    CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, NOC_FOREVER), 4);
    CHECK_EQ(noc_portal_wait(&t, pout, NOC_FOREVER), 4);
    CHECK_EQ(memcmp(b, "tail", 4), 0);
}

static void cancel(void)
{
    char b[16] = "payload";
    int in = noc_mailbox_create(&t, 0), self = noc_mailbox_open(&t, rank, 0);
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, next(), 0);
    CHECK_EQ(noc_mailbox_aread(&t, in, b, sizeof b), 0);
    CHECK_EQ(noc_mailbox_cancel(&t, in), UAREA_EAGAIN);
    CHECK_EQ(noc_mailbox_cancel(&t, in), UAREA_ESTATE);
    /* a completed operation: cancel returns its result */
    CHECK_EQ(noc_mailbox_awrite(&t, self, "abc", 3), 0);
    CHECK_EQ(noc_mailbox_cancel(&t, self), 3);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), 3);
    CHECK_EQ(memcmp(b, "abc", 3), 0);
    /* portal write: why it was pending */
    CHECK_EQ(noc_portal_awrite(&t, pout, "data", 4), 0);
    CHECK_EQ(noc_portal_cancel(&t, pout), UAREA_ENOTALLOWED);
    sync_all();
    CHECK_EQ(noc_portal_allow(&t, pin, prev(), 0), 0);
    EVENTUALLY_EQ(noc_portal_write(&t, pout, "data", 4, 0), UAREA_EAGAIN);
    CHECK_EQ(noc_portal_awrite(&t, pout, "data", 4), 0);
    CHECK_EQ(noc_portal_cancel(&t, pout), UAREA_EAGAIN);
    sync_all();
    /* a posted read withdrawn keeps its allow: a later read still works */
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
    CHECK_EQ(noc_portal_cancel(&t, pin), UAREA_EAGAIN);
    sync_all();
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
    CHECK_EQ(noc_portal_write(&t, pout, "DATA", 4, NOC_FOREVER), 4);
    EVENTUALLY_EQ(noc_portal_poll(&t, pin), 4);
    CHECK_EQ(memcmp(b, "DATA", 4), 0);
    CHECK_EQ(noc_portal_cancel(&t, pin), UAREA_ESTATE);
    sync_all();
    /* cancelled after completing: the result */
    CHECK_EQ(noc_portal_allow(&t, pin, prev(), 0), 0);
    CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
    CHECK_EQ(noc_portal_write(&t, pout, "done", 4, NOC_FOREVER), 4);
    sync_all();
    CHECK_EQ(noc_portal_cancel(&t, pin), 4);
    CHECK_EQ(memcmp(b, "done", 4), 0);
}

/* Cancelling reads while their 1 MiB writes are on the way: each cancel
 * either withdraws the read (nothing landed; the write is sent again into
 * the next read) or returns the completed transfer. Every write completes
 * once, into exactly one read, with its bytes. */
static void cancel_races_a_transfer(void)
{
    enum { ROUNDS = 30, SIZE = NOC_PORTAL_MAX_SIZE };
    static unsigned char src[SIZE], dst[SIZE], want[SIZE];
    int pin = noc_portal_create(&t, 4), pout = noc_portal_open(&t, 4, next(), 4), r, withdrawn = 0;
    CHECK(pin >= 0 && pout >= 0);
    for (r = 0; r < ROUNDS; r++) {
        int rc;
        fill(src, SIZE, (unsigned)(r * 16 + rank));
        fill(want, SIZE, (unsigned)(r * 16 + prev()));
        memset(dst, 0, SIZE);
        CHECK_EQ(noc_portal_awrite(&t, pout, src, SIZE), 0);
        CHECK_EQ(noc_portal_allow(&t, pin, prev(), 4), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, dst, SIZE), 0);
        if (r % 3 != 2) {                 /* give the write a head start, or not */
            uint64_t t0 = noc_clock_ns(&t);
            while (noc_clock_ns(&t) - t0 < (uint64_t)(r % 3) * 200000u) noc_mpi_progress(&nd);
        }
        rc = noc_portal_cancel(&t, pin);
        if (rc == UAREA_EAGAIN) {
            withdrawn++;
            CHECK_EQ(noc_portal_read(&t, pin, dst, SIZE, NOC_FOREVER), SIZE);
        } else {
            CHECK_EQ(rc, SIZE);
        }
        CHECK_EQ(memcmp(dst, want, SIZE), 0);
        CHECK_EQ(noc_portal_wait(&t, pout, NOC_FOREVER), SIZE);
    }
    {
        long w = withdrawn, d = (long)nd.discarded, tot[2], mine[2] = { w, d };
        (void)mine;
        MPI_Reduce(mine, tot, 2, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0)
            printf("    cancel_races_a_transfer: %ld of %d reads withdrawn, %ld of them after the data was sent\n",
                   tot[0], ROUNDS * nranks, tot[1]);
    }
}

/* Sizes round the ring, both sides asynchronous, the write posted first. */
static void portal_transfers(void)
{
    static unsigned char src[NOC_PORTAL_MAX_SIZE], dst[NOC_PORTAL_MAX_SIZE + 1],
        want[NOC_PORTAL_MAX_SIZE];
    size_t sizes[] = { 1, NOC_PORTAL_CHUNK - 1, NOC_PORTAL_CHUNK + 1, 65536 + 3, NOC_PORTAL_MAX_SIZE };
    unsigned i;
    int pin = noc_portal_create(&t, 2), pout = noc_portal_open(&t, 5, next(), 2);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill(src, sizes[i], i + 10u * (unsigned)rank);
        fill(want, sizes[i], i + 10u * (unsigned)prev());
        memset(dst, 0, sizeof dst);
        CHECK_EQ(noc_portal_awrite(&t, pout, src, sizes[i]), 0);
        CHECK_EQ(noc_portal_allow(&t, pin, prev(), 5), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, dst, NOC_PORTAL_MAX_SIZE), 0);
        CHECK_EQ(noc_portal_wait(&t, pout, NOC_FOREVER), (int)sizes[i]);
        CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), (int)sizes[i]);
        CHECK_EQ(memcmp(dst, want, sizes[i]), 0);
        CHECK_EQ(dst[sizes[i]], 0);                     /* nothing past the transfer */
    }
    /* the read posted first, then the write; 1 MiB ten times */
    for (i = 0; i < 10; i++) {
        fill(src, NOC_PORTAL_MAX_SIZE, 100u + i + (unsigned)rank);
        fill(want, NOC_PORTAL_MAX_SIZE, 100u + i + (unsigned)prev());
        CHECK_EQ(noc_portal_allow(&t, pin, prev(), 5), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, dst, NOC_PORTAL_MAX_SIZE), 0);
        CHECK_EQ(noc_portal_write(&t, pout, src, NOC_PORTAL_MAX_SIZE, NOC_FOREVER), NOC_PORTAL_MAX_SIZE);
        CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), NOC_PORTAL_MAX_SIZE);
        CHECK_EQ(memcmp(dst, want, NOC_PORTAL_MAX_SIZE), 0);
    }
}

static void portal_write_larger_than_read(void)
{
    unsigned char src[64] = { 1 }, dst[32];
    int pin = noc_portal_create(&t, 0), pout = noc_portal_open(&t, 0, next(), 0);
    CHECK_EQ(noc_portal_allow(&t, pin, prev(), 0), 0);
    CHECK_EQ(noc_portal_aread(&t, pin, dst, sizeof dst), 0);
    CHECK_EQ(noc_portal_write(&t, pout, src, sizeof src, NOC_FOREVER), UAREA_EMSGSIZE);
    CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), UAREA_EMSGSIZE);
    /* the allow was used up by that read, on both sides */
    CHECK_EQ(noc_portal_aread(&t, pin, dst, sizeof dst), UAREA_ENOTALLOWED);
    CHECK_EQ(noc_portal_write(&t, pout, src, 8, 0), UAREA_ENOTALLOWED);
}

/* The allow names one sender (node and port) for one read; writes without
 * it do not land, even with a read posted. Needs 3 ranks: 0 reads, 1 and 2
 * write. */
static void allow_names_one_sender_for_one_read(void)
{
    char b[8];
    int pin = -1, from = -1, fromb = -1;
    if (rank == 0) pin = noc_portal_create(&t, 0);
    if (rank == 1 || rank == 2) {
        from = noc_portal_open(&t, 4, 0, 0);
        fromb = noc_portal_open(&t, 5, 0, 0);
    }
    if (rank == 0) {
        CHECK_EQ(noc_portal_allow(&t, pin, 1, 4), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
    }
    sync_all();
    if (rank == 2) {
        /* never allowed: at once, and a write that stays posted */
        CHECK_EQ(noc_portal_write(&t, from, "two", 3, 0), UAREA_ENOTALLOWED);
        CHECK_EQ(noc_portal_awrite(&t, from, "TWO", 3), 0);
    }
    if (rank == 1) {
        EVENTUALLY_EQ(noc_portal_write(&t, fromb, "one", 3, 0), UAREA_ENOTALLOWED);   /* port */
        CHECK_EQ(noc_portal_write(&t, from, "one", 3, NOC_FOREVER), 3);
        CHECK_EQ(noc_portal_write(&t, from, "1", 1, 0), UAREA_ENOTALLOWED);            /* used */
    }
    if (rank == 0) {
        CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), 3);
        CHECK_EQ(memcmp(b, "one", 3), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), UAREA_ENOTALLOWED);
    }
    sync_all();
    /* rank 2's write waited all along without landing; now it is allowed */
    if (rank == 0) {
        memset(b, 0, sizeof b);
        CHECK_EQ(noc_portal_allow(&t, pin, 2, 4), 0);
        CHECK_EQ(noc_portal_read(&t, pin, b, sizeof b, NOC_FOREVER), 3);
        CHECK_EQ(memcmp(b, "TWO", 3), 0);
    }
    if (rank == 2) CHECK_EQ(noc_portal_wait(&t, from, NOC_FOREVER), 3);
    sync_all();
    /* a newer allow replaces an unused one */
    if (rank == 0) {
        CHECK_EQ(noc_portal_allow(&t, pin, 2, 4), 0);
        CHECK_EQ(noc_portal_allow(&t, pin, 1, 4), 0);
    }
    sync_all();
    if (rank == 2) EVENTUALLY_EQ(noc_portal_write(&t, from, "x", 1, 0), UAREA_ENOTALLOWED);
    if (rank == 1) EVENTUALLY_EQ(noc_portal_write(&t, from, "x", 1, 0), UAREA_EAGAIN);
    sync_all();
    /* unlinking withdraws the allow */
    if (rank == 0) CHECK_EQ(noc_portal_unlink(&t, pin), 0);
    sync_all();
    if (rank == 1) EVENTUALLY_EQ(noc_portal_write(&t, from, "x", 1, 0), UAREA_ENOTALLOWED);
    (void)fromb;
}

static void kick_and_sender(void)
{
    char b[8];
    int in = noc_mailbox_create(&t, 3), out = noc_mailbox_open(&t, next(), 3);
    uint64_t t0;
    CHECK_EQ(noc_mailbox_aread(&t, in, b, sizeof b), 0);
    noc_mpi_kick(&nd);
    t0 = noc_clock_ns(&t);
    CHECK_EQ(noc_mailbox_wait(&t, in, 5000000000), UAREA_ETIMEDOUT);
    CHECK(noc_clock_ns(&t) - t0 < 1000000000u);
    CHECK_EQ(noc_mailbox_poll(&t, in), UAREA_EAGAIN);               /* still posted */
    sync_all();
    CHECK_EQ(noc_mailbox_write(&t, out, "k", 1, NOC_FOREVER), 1);
    CHECK_EQ(noc_mailbox_wait(&t, in, NOC_FOREVER), 1);
    CHECK_EQ(noc_mailbox_sender(&t, in), prev());
}

/* The last rank leaves; the others see it gone and every call that
 * involves it fails instead of waiting. */
static void a_node_that_left_is_gone(void)
{
    char b[8];
    int last = nranks - 1, in = -1, pin = -1, out = -1, pout = -1;
    if (rank == 0) {
        in = noc_mailbox_create(&t, 6);
        pin = noc_portal_create(&t, 6);
        CHECK_EQ(noc_portal_allow(&t, pin, last, 0), 0);
        CHECK_EQ(noc_portal_aread(&t, pin, b, sizeof b), 0);
        out = noc_mailbox_open(&t, last, 0);
        pout = noc_portal_open(&t, 0, last, 0);
        CHECK_EQ(noc_portal_awrite(&t, pout, "a", 1), 0);       /* pending when it leaves */
    }
    if (rank == last) CHECK(noc_mailbox_open(&t, 0, 6) >= 0);  /* its only opener */
    sync_all();
    if (rank == last) {
        CHECK_EQ(noc_mpi_detach(&nd), 0);
        sync_all();
        return;
    }
    EVENTUALLY_EQ(noc_node_gone(&t, last), 1);
    CHECK_EQ(noc_mpi_peer_state(&nd, last), UAREA_EPEERGONE);
    sync_all();
    if (rank != 0) return;
    CHECK_EQ(noc_portal_wait(&t, pout, NOC_FOREVER), UAREA_EPEERGONE);
    CHECK_EQ(noc_portal_wait(&t, pin, NOC_FOREVER), UAREA_EPEERGONE);
    CHECK_EQ(noc_mailbox_write(&t, out, "a", 1, NOC_FOREVER), UAREA_EPEERGONE);
    CHECK_EQ(noc_portal_write(&t, pout, "a", 1, NOC_FOREVER), UAREA_EPEERGONE);
    CHECK_EQ(noc_mailbox_open(&t, last, 0), UAREA_EPEERGONE);
    CHECK_EQ(noc_portal_open(&t, 1, last, 1), UAREA_EPEERGONE);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), UAREA_EPEERGONE);
    CHECK_EQ(noc_portal_allow(&t, pin, last, 0), UAREA_EPEERGONE);
    CHECK_EQ(noc_node_gone(&t, 1), 0);
    /* the others still talk */
    out = noc_mailbox_open(&t, 0, 6);
    CHECK_EQ(noc_mailbox_write(&t, out, "z", 1, NOC_FOREVER), 1);
    CHECK_EQ(noc_mailbox_read(&t, in, b, sizeof b, NOC_FOREVER), 1);
}

/* ---- runner ---- */
struct test { const char *name; void (*fn)(void); int min_ranks; };
static const struct test tests[] = {
    { "attach_and_nodes", attach_and_nodes, 2 },
    { "bad_node_port_and_handles", bad_node_port_and_handles, 2 },
    { "too_many_open", too_many_open, 2 },
    { "busy_handles", busy_handles, 1 },
    { "mailbox_round_trip_and_small_buffer", mailbox_round_trip_and_small_buffer, 2 },
    { "message_sizes", message_sizes, 2 },
    { "many_senders_to_one_receiver", many_senders_to_one_receiver, 2 },
    { "mailbox_flow_control_and_unlink", mailbox_flow_control_and_unlink, 2 },
    { "timeouts_and_poll", timeouts_and_poll, 2 },
    { "cancel", cancel, 2 },
    { "cancel_races_a_transfer", cancel_races_a_transfer, 2 },
    { "portal_transfers", portal_transfers, 2 },
    { "portal_write_larger_than_read", portal_write_larger_than_read, 2 },
    { "allow_names_one_sender_for_one_read", allow_names_one_sender_for_one_read, 3 },
    { "kick_and_sender", kick_and_sender, 2 },
    { "a_node_that_left_is_gone", a_node_that_left_is_gone, 3 },
};

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    unsigned i;
    int ran = 0, skipped = 0, level;
    level = noc_mpi_init(&argc, &argv);
    CHECK(level >= 0);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t0;
        if (only != NULL && strstr(tests[i].name, only) == NULL) continue;
        if (nranks < tests[i].min_ranks) { skipped++; continue; }
        t0 = MPI_Wtime();
        CHECK_EQ(noc_mpi_attach(MPI_COMM_WORLD, &nd, &t), 0);
        tests[i].fn();
        sync_all();                 /* nobody leaves while others still test */
        if (nd.attached) CHECK_EQ(noc_mpi_detach(&nd), 0);
        sync_all();
        if (rank == 0) printf("ok  %-40s %6.1f ms\n", tests[i].name, (MPI_Wtime() - t0) * 1e3);
        fflush(stdout);
        ran++;
    }
    if (rank == 0) printf("%d tests passed on %d ranks, %d skipped (too few ranks)\n", ran, nranks, skipped);
    CHECK_EQ(noc_mpi_finalize(), 0);
    return 0;
}
