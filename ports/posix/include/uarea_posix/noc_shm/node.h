/*
 * uarea_posix/noc_shm/node.h - a node of the shared-memory NoC: the
 * operations table, and the public functions (create and destroy the
 * mapping, attach and detach a node, expect, kick, peer state).
 *
 * A part of the implementation of <uarea_posix/noc_shm.h>, which includes it
 * (its top comment lists the parts); not a header of its own.
 */
#ifndef UAREA_POSIX__NOC_SHM_IMPLEMENTED
#  error "uarea_posix/noc_shm/node.h is a part of <uarea_posix/noc_shm.h>: include that"
#endif

/* ---- nodes, clock, the operations table ---- */
static int noc__shm_node_self(void *ctx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    return (s != NULL && s->attached) ? s->self : UAREA_EINVAL;
}

static int noc__shm_nodes(void *ctx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    return (s != NULL && s->attached) ? s->shm->nodes : UAREA_EINVAL;
}

static uint64_t noc__shm_clock(void *ctx)
{
    (void)ctx;
    return noc__shm_now();
}

static int noc__shm_mbx_sender(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    return h->from >= 0 ? h->from : UAREA_ESTATE;
}

/* A fresh probe (not the cached answer of the last millisecond). */
static int noc__shm_node_gone(void *ctx, int node)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    if (s == NULL || !s->attached || node < 0 || node >= s->shm->nodes) return 0;
    __atomic_store_n(&s->probed[node], 0, NOC__SHM_RLX);
    return noc__shm_gone(s, node) ? 1 : 0;
}

static const struct noc_ops noc__shm_ops = {
    .node_self = noc__shm_node_self,
    .nodes = noc__shm_nodes,
    .mailbox_create = noc__shm_mbx_create,
    .mailbox_open = noc__shm_mbx_open,
    .mailbox_unlink = noc__shm_mbx_unlink,
    .mailbox_close = noc__shm_mbx_close,
    .mailbox_aread = noc__shm_mbx_aread,
    .mailbox_awrite = noc__shm_mbx_awrite,
    .mailbox_wait = noc__shm_mbx_wait,
    .mailbox_cancel = noc__shm_mbx_cancel,
    .portal_create = noc__shm_ptl_create,
    .portal_allow = noc__shm_ptl_allow,
    .portal_open = noc__shm_ptl_open,
    .portal_unlink = noc__shm_ptl_unlink,
    .portal_close = noc__shm_ptl_close,
    .portal_aread = noc__shm_ptl_aread,
    .portal_awrite = noc__shm_ptl_awrite,
    .portal_wait = noc__shm_ptl_wait,
    .portal_cancel = noc__shm_ptl_cancel,
    .clock_ns = noc__shm_clock,
    .node_gone = noc__shm_node_gone,
    .mailbox_sender = noc__shm_mbx_sender,
    .portal_wbuf = noc__shm_ptl_wbuf,
    .portal_wdone = noc__shm_ptl_wdone,
    .portal_rbuf = noc__shm_ptl_rbuf,
    .portal_rdone = noc__shm_ptl_rdone,
};

UAREA_API const struct noc_ops *noc_shm_ops(void) { return &noc__shm_ops; }

/* ---- lifecycle ---- */
UAREA_API int noc_shm_create(noc_shm *shm, const noc_shm_desc *desc)
{
    noc_shm_desc d;
    struct noc__shm_region *r;
    size_t cells, off, size;
    void *map;
    int fd = -1;
    long k;
    if (shm == NULL) return UAREA_EINVAL;
    if (desc != NULL) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.nodes == 0) d.nodes = 2;
    if (d.nodes < 0 || d.nodes > NOC_NODES_MAX) return UAREA_EINVAL;
    if (d.copy < NOC_SHM_COPY_AUTO || d.copy > NOC_SHM_COPY_BOUNCE) return UAREA_EINVAL;
    if ((d.shared == NULL) != (d.shared_size == 0)) return UAREA_EINVAL;
    cells = (size_t)d.nodes * NOC_PORTS_MAX;
    off = (sizeof(struct noc__shm_region) + 63u) & ~(size_t)63u;
    size = off + cells * sizeof(struct noc__shm_mbx);
    size = (size + 63u) & ~(size_t)63u;
    size += cells * sizeof(struct noc__shm_ptl);
    size = (size + 4095u) & ~(size_t)4095u;
    size += cells * NOC__SHM_BOUNCE;
    if (d.arena_size > (size_t)1 << 40) return UAREA_EINVAL;
    size += (d.arena_size + 4095u) & ~(size_t)4095u;
#ifdef SYS_memfd_create
    k = syscall(SYS_memfd_create, "uarea-noc", 1u /* MFD_CLOEXEC */);
    fd = k < 0 ? -1 : (int)k;
    if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) { close(fd); fd = -1; }
#else
    (void)k;
#endif
    if (fd >= 0) map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    else map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        if (fd >= 0) close(fd);
        return UAREA_ENOMEM;
    }
    r = (struct noc__shm_region *)map;
    memset(r, 0, sizeof *r);
    r->nodes = d.nodes;
    r->size = size;
    r->off_mbx = off;
    r->off_ptl = (off + cells * sizeof(struct noc__shm_mbx) + 63u) & ~(uint64_t)63u;
    r->off_bounce = (r->off_ptl + cells * sizeof(struct noc__shm_ptl) + 4095u) & ~(uint64_t)4095u;
    r->off_arena = r->off_bounce + cells * NOC__SHM_BOUNCE;
    r->arena_size = d.arena_size;
    memset(shm, 0, sizeof *shm);
    shm->region = r;
    shm->map_size = size;
    shm->fd = fd;
    shm->nodes = d.nodes;
    shm->desc = d;
    {
        size_t i;
        unsigned j;
        struct noc__shm_mbx *m = (struct noc__shm_mbx *)(void *)((unsigned char *)map + off);
        for (i = 0; i < cells; i++)
            for (j = 0; j < NOC_SHM_MAILBOX_SLOTS; j++) m[i].slot[j].seq = j;
    }
    r->version = NOC__SHM_VERSION;
    __atomic_store_n(&r->magic, NOC__SHM_MAGIC, NOC__SHM_SEQ);
    return 0;
}

UAREA_API int noc_shm_destroy(noc_shm *shm)
{
    if (shm == NULL || shm->region == NULL) return UAREA_EINVAL;
    munmap(shm->region, shm->map_size);
    if (shm->fd >= 0) close(shm->fd);
    shm->region = NULL;
    shm->fd = -1;
    return 0;
}

UAREA_API void *noc_shm_arena(noc_shm *shm, size_t *size)
{
    if (shm == NULL || shm->region == NULL || shm->region->arena_size == 0) {
        if (size != NULL) *size = 0;
        return NULL;
    }
    if (size != NULL) *size = (size_t)shm->region->arena_size;
    return (unsigned char *)shm->region + shm->region->off_arena;
}

UAREA_API int noc_shm_attach(noc_shm *shm, int node, noc_shm_node *self, noc_transport *t)
{
    struct noc__shm_nodeinfo *ni;
    uint32_t st;
    int i, port, pid = (int)getpid();
    if (shm == NULL || self == NULL || t == NULL || shm->region == NULL ||
        __atomic_load_n(&shm->region->magic, NOC__SHM_ACQ) != NOC__SHM_MAGIC)
        return UAREA_EINVAL;
    if (node < 0 || node >= shm->nodes) return UAREA_EBADNODE;
    memset(self, 0, sizeof *self);
    self->shm = shm;
    self->self = node;
    self->pid = pid;
    for (i = 0; i < NOC_NODES_MAX; i++) { self->pidfd[i] = -1; self->pidfd_pid[i] = 0; }
    ni = &shm->region->node[node];
    st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
    if (st == NOC__SHM_ALIVE) {
        int old = __atomic_load_n(&ni->pid, NOC__SHM_RLX);
        self->attached = 1;            /* borrow the liveness probe */
        if (old == pid || !noc__shm_gone(self, node)) { self->attached = 0; return UAREA_EBUSY; }
        self->attached = 0;
        st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
    }
    /* One attacher wins; another one, at the same time, gets UAREA_EBUSY. */
    if (st == NOC__SHM_ATTACHING ||
        !__atomic_compare_exchange_n(&ni->state, &st, (uint32_t)NOC__SHM_ATTACHING, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return UAREA_EBUSY;
    /* A fresh start for this node's ports and its opener counts. */
    for (port = 0; port < NOC_PORTS_MAX; port++) {
        struct noc__shm_ptl *p;
        self->attached = 1;
        __atomic_store_n(&noc__shm_mbx(self, node, port)->created, 0u, NOC__SHM_SEQ);
        p = noc__shm_ptl(self, node, port);
        __atomic_store_n(&p->created, 0u, NOC__SHM_SEQ);
        __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
        __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
        for (i = 0; i < shm->nodes; i++) {
            __atomic_store_n(&noc__shm_mbx(self, i, port)->openers[node], 0u, NOC__SHM_SEQ);
            __atomic_store_n(&noc__shm_ptl(self, i, port)->offer[node].state,
                             (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_SEQ);
        }
    }
    __atomic_store_n(&ni->pid, pid, NOC__SHM_SEQ);
    __atomic_add_fetch(&ni->gen, 1u, NOC__SHM_SEQ);
    __atomic_store_n(&ni->state, (uint32_t)NOC__SHM_ALIVE, NOC__SHM_SEQ);
    self->attached = 1;
    t->ops = &noc__shm_ops;
    t->ctx = self;
    return 0;
}

UAREA_API int noc_shm_detach(noc_shm_node *self)
{
    int i;
    if (self == NULL || !self->attached) return UAREA_EINVAL;
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        if (self->ptl[i].used) {
            if (self->ptl[i].out) noc__shm_ptl_close(self, i);
            else noc__shm_ptl_unlink(self, i);
        }
        if (self->mbx[i].used) {
            /* Output handles stay counted as openers: a reader waiting for
             * this node learns that it is gone. */
            if (self->mbx[i].out) self->mbx[i].used = 0;
            else noc__shm_mbx_unlink(self, i);
        }
    }
    for (i = 0; i < NOC_NODES_MAX; i++)
        if (self->pidfd[i] >= 0) { close(self->pidfd[i]); self->pidfd[i] = -1; }
    __atomic_store_n(&self->shm->region->node[self->self].state, (uint32_t)NOC__SHM_LEFT,
                     NOC__SHM_SEQ);
    self->attached = 0;
    return 0;
}

UAREA_API int noc_shm_expect(noc_shm *shm, int node, int pid)
{
    struct noc__shm_nodeinfo *ni;
    if (shm == NULL || shm->region == NULL || pid <= 0) return UAREA_EINVAL;
    if (node < 0 || node >= shm->nodes) return UAREA_EBADNODE;
    ni = &shm->region->node[node];
    {
        uint32_t st = __atomic_load_n(&ni->state, NOC__SHM_ACQ);
        if (st != NOC__SHM_NONE && st != NOC__SHM_ATTACHING) return UAREA_ESTATE;
    }
    __atomic_store_n(&ni->pid, pid, NOC__SHM_SEQ);
    return 0;
}

UAREA_API void noc_shm_kick_node(noc_shm *shm, int node)
{
    struct noc__shm_nodeinfo *ni;
    struct noc__shm_event *e;
    if (shm == NULL || shm->region == NULL || node < 0 || node >= shm->nodes) return;
    ni = &shm->region->node[node];
    __atomic_store_n(&ni->kick, 1u, NOC__SHM_SEQ);
    e = (struct noc__shm_event *)(uintptr_t)__atomic_load_n(&ni->sleeping, NOC__SHM_SEQ);
    if (e != NULL) noc__shm_notify(e);
}

UAREA_API void noc_shm_kick(noc_shm_node *self)
{
    if (self == NULL) return;
    noc_shm_kick_node(self->shm, self->self);
}

UAREA_API int noc_shm_peer_state(noc_shm_node *self, int node)
{
    uint32_t st;
    if (self == NULL || !self->attached) return UAREA_EINVAL;
    if (node < 0 || node >= self->shm->nodes) return UAREA_EBADNODE;
    if (noc__shm_gone(self, node)) return UAREA_EPEERGONE;
    st = __atomic_load_n(&self->shm->region->node[node].state, NOC__SHM_ACQ);
    return st == NOC__SHM_ALIVE ? 1 : 0;
}
