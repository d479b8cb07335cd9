/*
 * uarea_posix/noc_shm/portal.h - portals of the shared-memory NoC: the
 * portal record's state machine, the copies (direct, or through the bounce
 * ring), the sender's offers, the read path and the write path of a
 * transfer, and reading or writing in place.
 *
 * A part of the implementation of <uarea_posix/noc_shm.h>, which includes it
 * (its top comment lists the parts); not a header of its own.
 */
#ifndef UAREA_POSIX__NOC_SHM_IMPLEMENTED
#  error "uarea_posix/noc_shm/portal.h is a part of <uarea_posix/noc_shm.h>: include that"
#endif

/* ---- the portal record ---- */
static uint32_t noc__shm_state(struct noc__shm_ptl *p)
{
    return __atomic_load_n(&p->state, NOC__SHM_ACQ);
}

static int noc__shm_cas_state(struct noc__shm_ptl *p, uint32_t from, uint32_t to)
{
    return __atomic_compare_exchange_n(&p->state, &from, to, 0, NOC__SHM_SEQ, NOC__SHM_SEQ);
}

/* A receiver promises to pull the allowed sender's offer until `until`
 * (0: no promise): a sender then lets it pull instead of pushing. No promise
 * when this node's kernel refused a cross-process copy (it may not be able
 * to pull), nor on the bounce ring. Ending a promise early wakes a sender
 * that sleeps waiting for the pull, so that it pushes. */
static void noc__shm_promise(noc_shm_node *s, struct noc__shm_ptl *p, uint64_t until)
{
    if (s->vm_denied || s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) until = 0;
    if (until != 0) {
        __atomic_store_n(&p->pull_until, until, NOC__SHM_SEQ);
    } else if (__atomic_load_n(&p->pull_until, NOC__SHM_RLX) != 0) {
        __atomic_store_n(&p->pull_until, (uint64_t)0, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
    }
}

/* ---- creating, allowing, opening ---- */
static int noc__shm_ptl_create(void *ctx, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    struct noc__shm_ptl *p;
    uint32_t zero = 0;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->ptl);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    p = noc__shm_ptl(s, s->self, port);
    if (!__atomic_compare_exchange_n(&p->created, &zero, 1u, 0, NOC__SHM_SEQ, NOC__SHM_SEQ)) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    __atomic_store_n(&p->rpid, s->pid, NOC__SHM_RLX);
    memset(&s->ptl[h], 0, sizeof s->ptl[h]);
    s->ptl[h].used = 1;
    s->ptl[h].node = (short)s->self;
    s->ptl[h].port = (short)port;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&p->ev);
    return h;
}

static int noc__shm_ptl_allow(void *ctx, int portal, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    p = noc__shm_ptl(s, s->self, h->port);
    __atomic_store_n(&p->allow, NOC__SHM_ID(node, port), NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_open(void *ctx, int local_port, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    int h, i;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    noc__shm_lock(&s->lock);
    for (i = 0; i < NOC_OPEN_MAX; i++) {
        noc__shm_handle *o = &s->ptl[i];
        if (o->used && o->out && o->lport == local_port && o->node == node && o->port == port) {
            noc__shm_unlock(&s->lock);
            return UAREA_EPORTINUSE;
        }
    }
    h = noc__shm_free_slot(s->ptl);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    memset(&s->ptl[h], 0, sizeof s->ptl[h]);
    s->ptl[h].used = 1;
    s->ptl[h].out = 1;
    s->ptl[h].node = (short)node;
    s->ptl[h].port = (short)port;
    s->ptl[h].lport = (short)local_port;
    noc__shm_unlock(&s->lock);
    return h;
}

/* ---- copies ---- */
/* Is the receiver's buffer [addr, addr+n) in a window shared at the same
 * address by every node? */
static int noc__shm_in_window(noc_shm_node *s, uint64_t addr, size_t n)
{
    const noc_shm *shm = s->shm;
    uint64_t a = (uint64_t)(uintptr_t)((unsigned char *)shm->region + shm->region->off_arena);
    if (shm->region->arena_size != 0 && addr >= a && n <= shm->region->arena_size &&
        addr - a <= shm->region->arena_size - n)
        return 1;
    a = (uint64_t)(uintptr_t)shm->desc.shared;
    return shm->desc.shared != NULL && addr >= a && n <= shm->desc.shared_size &&
           addr - a <= shm->desc.shared_size - n;
}

static void noc__shm_progress_hook(noc_shm_node *s, size_t done, size_t total)
{
    if (s->shm->desc.progress != NULL)
        s->shm->desc.progress(s->shm->desc.progress_arg, s->self, done, total);
}

/* One copy between this node's buffer `mine` and the peer's buffer at
 * `theirs` (push: mine -> theirs; pull: theirs -> mine), in pieces. Returns
 * the byte count, UAREA_EPEERGONE, UAREA_EIO (a bad buffer), or UAREA_ENOSYS
 * when the kernel refuses cross-process copies before any byte moved. */
static int noc__shm_copy(noc_shm_node *s, int node, int pid, unsigned char *mine,
                         uint64_t theirs, size_t n, int push)
{
    int same = pid == s->pid || noc__shm_in_window(s, theirs, n);
    size_t off = 0;
    while (off < n) {
        size_t len = n - off < NOC_SHM_PIECE ? n - off : NOC_SHM_PIECE;
        unsigned char *far = (unsigned char *)(uintptr_t)(theirs + off);
        if (same) {
            if (pid != s->pid && noc__shm_gone(s, node)) return UAREA_EPEERGONE;
            if (push) memcpy(far, mine + off, len);
            else memcpy(mine + off, far, len);
        } else {
            struct iovec l, r;
            ssize_t k;
            l.iov_base = mine + off;
            l.iov_len = len;
            r.iov_base = far;
            r.iov_len = len;
            k = (ssize_t)syscall(push ? SYS_process_vm_writev : SYS_process_vm_readv,
                                 (pid_t)pid, &l, 1ul, &r, 1ul, 0ul);
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                if (k < 0 && errno == ESRCH) return UAREA_EPEERGONE;
                if (noc__shm_gone(s, node)) return UAREA_EPEERGONE;
                if (k < 0 && (errno == EPERM || errno == ENOSYS) && off == 0) {
                    s->vm_denied = 1;
                    return UAREA_ENOSYS;
                }
                return UAREA_EIO;
            }
            len = (size_t)k;
        }
        off += len;
        noc__shm_progress_hook(s, off, n);
    }
    return (int)n;
}

/* ---- the bounce ring ---- */
/* Bounce ring, sender side: copy what fits. */
static void noc__shm_stream_out(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    unsigned char *ring = noc__shm_bounce(s, h->node, h->port);
    const unsigned char *src = (const unsigned char *)h->cbuf;
    for (;;) {
        uint64_t cons;
        size_t len, prod = h->produced;
        if (prod == h->size) { noc__shm_finish(h, (int)h->size); return; }
        if (noc__shm_state(p) != NOC__SHM_STREAM ||
            __atomic_load_n(&p->writer, NOC__SHM_RLX) != NOC__SHM_ID(s->self, h->lport)) {
            noc__shm_finish(h, UAREA_ECANCELED);            /* the reader withdrew */
            return;
        }
        cons = __atomic_load_n(&p->consumed, NOC__SHM_ACQ);
        if (prod - cons >= NOC__SHM_BOUNCE) return;         /* ring full */
        len = h->size - prod < NOC_PORTAL_CHUNK ? h->size - prod : NOC_PORTAL_CHUNK;
        memcpy(ring + (prod % NOC__SHM_BOUNCE), src + prod, len);
        h->produced = prod + len;
        __atomic_store_n(&p->produced, (uint64_t)h->produced, NOC__SHM_REL);
        noc__shm_notify(&p->ev);
        noc__shm_progress_hook(s, h->produced, h->size);
    }
}

/* Bounce ring, receiver side: copy out what arrived. 1 when finished. */
static int noc__shm_stream_in(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    unsigned char *ring = noc__shm_bounce(s, s->self, h->port);
    uint64_t total = __atomic_load_n(&p->total, NOC__SHM_RLX);
    uint64_t cons = __atomic_load_n(&p->consumed, NOC__SHM_RLX);
    uint64_t prod = __atomic_load_n(&p->produced, NOC__SHM_ACQ);
    int moved = 0;
    /* A sender of an earlier transfer that the reader withdrew may still
     * publish its progress here: never copy past this read's end. */
    if (prod > total) prod = total;
    while (cons < prod) {
        size_t len = (size_t)(prod - cons) < NOC_PORTAL_CHUNK ? (size_t)(prod - cons) : NOC_PORTAL_CHUNK;
        size_t at = (size_t)(cons % NOC__SHM_BOUNCE);
        if (len > NOC__SHM_BOUNCE - at) len = NOC__SHM_BOUNCE - at;
        memcpy((unsigned char *)h->buf + cons, ring + at, len);
        cons += len;
        __atomic_store_n(&p->consumed, cons, NOC__SHM_REL);
        moved = 1;
    }
    if (moved) noc__shm_notify(&p->ev);
    return cons == total;
}

/* ---- offers ---- */
/* Sender: publish an offer (when the slot of this node is free), so that the
 * receiver can pull the data itself once it has allowed us and posted a read. */
static void noc__shm_offer(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p,
                           struct noc__shm_offer *o, uint32_t me)
{
    uint32_t st = h->offered ? NOC__SHM_OFFER_OWNED : NOC__SHM_OFFER_FREE;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return;
    if (!h->offered) {
        if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_OWNED, 0,
                                         NOC__SHM_SEQ, NOC__SHM_RLX))
            return;                                         /* another handle's */
        __atomic_store_n(&o->id, me, NOC__SHM_RLX);
        __atomic_store_n(&o->pid, s->pid, NOC__SHM_RLX);
        __atomic_store_n(&o->buf, (uint64_t)(uintptr_t)h->cbuf, NOC__SHM_RLX);
        __atomic_store_n(&o->size, (uint64_t)h->size, NOC__SHM_RLX);
        h->offered = 1;
    }
    /* OWNED -> READY; an offer that is already READY (or taken meanwhile)
     * stays as it is. */
    st = NOC__SHM_OFFER_OWNED;
    if (__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_READY, 0,
                                    NOC__SHM_SEQ, NOC__SHM_RLX))
        noc__shm_notify(&p->ev);
}

/* Sender: take a ready offer back (state OWNED, still ours: h->offered
 * stays set). 0 when the receiver has taken it. */
static int noc__shm_withdraw(noc__shm_handle *h, struct noc__shm_offer *o)
{
    uint32_t st = NOC__SHM_OFFER_READY;
    if (!h->offered) return 1;
    return __atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_OWNED, 0,
                                       NOC__SHM_SEQ, NOC__SHM_SEQ);
}

/* Sender: give the offer slot up entirely (after a withdraw). */
static void noc__shm_release(noc__shm_handle *h, struct noc__shm_offer *o)
{
    if (!h->offered) return;
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_REL);
    h->offered = 0;
}

/* ---- the read path ---- */
/* Receiver: end the posted read with `result`, consume the allow. */
static void noc__shm_read_end(noc__shm_handle *h, struct noc__shm_ptl *p, int result)
{
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    noc__shm_finish(h, result);
}

/* Receiver with a posted read: pull from the allowed sender's offer. The
 * receiver takes the offer, then claims its own posted read, exactly as a
 * pushing sender would claim it; whoever claims the read copies. */
static void noc__shm_pull(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    uint32_t allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ), st = NOC__SHM_OFFER_READY;
    int node = (int)((allow >> 8) & 0xffu), pid, rc;
    struct noc__shm_offer *o;
    uint64_t buf, size;
    if (allow == 0 || node >= s->shm->nodes) return;
    o = &p->offer[node];
    if (__atomic_load_n(&o->state, NOC__SHM_ACQ) != NOC__SHM_OFFER_READY) return;
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    if (s->vm_denied && pid != s->pid &&
        !noc__shm_in_window(s, __atomic_load_n(&o->buf, NOC__SHM_RLX),
                            (size_t)__atomic_load_n(&o->size, NOC__SHM_RLX)))
        return;                                     /* we cannot pull from it */
    if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_TAKEN, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return;
    /* Taken: the sender cannot push from this offer now. The offer may be a
     * newer one than we looked at (the sender pushed the previous transfer
     * meanwhile): then our read is no longer POSTED and we give it back. */
    if (__atomic_load_n(&o->id, NOC__SHM_RLX) != allow ||
        !noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) {
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        return;
    }
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    buf = __atomic_load_n(&o->buf, NOC__SHM_RLX);
    size = __atomic_load_n(&o->size, NOC__SHM_RLX);
    if (size > h->size) rc = UAREA_EMSGSIZE;
    else if (s->vm_denied && pid != s->pid && !noc__shm_in_window(s, buf, (size_t)size))
        rc = UAREA_ENOSYS;
    else rc = noc__shm_copy(s, node, pid, (unsigned char *)h->buf, buf, (size_t)size, 0);
    if (rc == UAREA_ENOSYS) {                       /* refused: let the sender push */
        __atomic_store_n(&p->state, (uint32_t)NOC__SHM_POSTED, NOC__SHM_SEQ);
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        return;
    }
    __atomic_store_n(&o->result, (int32_t)rc, NOC__SHM_RLX);
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_DONE, NOC__SHM_SEQ);
    noc__shm_read_end(h, p, rc);
}

/* Receiver: move a posted read on. What the record's state says decides:
 * POSTED, nobody has claimed it yet: pull the allowed sender's offer if it
 * is ready; DONE, a sender pushed (or wrote in place): take its result;
 * STREAM, the bounce ring: copy out what arrived, end when all did (or the
 * read was withdrawn meanwhile). CLAIMED: a sender copies, nothing to do. */
static void noc__shm_read_progress(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, s->self, h->port);
    uint32_t st = noc__shm_state(p);
    if (st == NOC__SHM_POSTED) {
        noc__shm_pull(s, h, p);
    } else if (st == NOC__SHM_DONE) {
        noc__shm_read_end(h, p, __atomic_load_n(&p->result, NOC__SHM_RLX));
    } else if (st == NOC__SHM_STREAM && noc__shm_stream_in(s, h, p)) {
        uint64_t total = __atomic_load_n(&p->total, NOC__SHM_RLX);
        noc__shm_read_end(h, p, noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_IDLE)
                                    ? (int)total : UAREA_ECANCELED);
    }
}

/* ---- the write path ---- */
/* Sender: is our offer in the receiver's hands? When it pulled, the write
 * ends with the pull's result and the offer slot is free again; when it is
 * pulling, the write waits. 1 in both cases; 0 when the offer (if any) is
 * still ours. */
static int noc__shm_offer_taken(noc__shm_handle *h, struct noc__shm_offer *o)
{
    uint32_t st;
    int rc;
    if (!h->offered) return 0;
    st = __atomic_load_n(&o->state, NOC__SHM_ACQ);
    if (st == NOC__SHM_OFFER_DONE) {                        /* the receiver pulled */
        rc = __atomic_load_n(&o->result, NOC__SHM_RLX);
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_REL);
        h->offered = 0;
        noc__shm_finish(h, rc);
        return 1;
    }
    return st == NOC__SHM_OFFER_TAKEN;                      /* the receiver is pulling */
}

/* Sender whose receiver is gone: take the offer back (the receiver will not
 * touch it again) and end the write with UAREA_EPEERGONE. */
static void noc__shm_write_abandon(noc__shm_handle *h, struct noc__shm_offer *o)
{
    (void)noc__shm_withdraw(h, o);
    noc__shm_release(h, o);
    noc__shm_finish(h, UAREA_EPEERGONE);
}

/* Sender: push now, or offer? Push only into a read posted for us (`me`).
 * While the receiver has promised to pull offers (it just posted the read,
 * or it spins in a wait for it), let it pull, so that the data lands in the
 * cache of the core that reads it next, and the same side copies every
 * time. When the promise ends (it sleeps, or its time is up) we push; a
 * call of ours that cannot wait pushes at once, and so does every call when
 * the receiver could not pull (bounce ring, or the kernel refused us a
 * cross-process copy). */
static int noc__shm_should_push(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p,
                                uint32_t me)
{
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ||
        noc__shm_state(p) != NOC__SHM_POSTED)
        return 0;
    return h->eager || !(__atomic_load_n(&p->pull_until, NOC__SHM_ACQ) > noc__shm_now()) ||
           s->shm->desc.copy == NOC_SHM_COPY_BOUNCE || s->vm_denied;
}

/* Sender: claim the posted read for a push (POSTED -> CLAIMED). Our offer is
 * withdrawn first, so the receiver cannot pull at the same time. 1 when the
 * read is ours (the offer slot released); 0 when not: the receiver is
 * pulling, or the offer stands again. */
static int noc__shm_claim(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p,
                          struct noc__shm_offer *o, uint32_t me)
{
    if (!noc__shm_withdraw(h, o)) return 0;
    if (!noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) {
        noc__shm_offer(s, h, p, o, me);
        return 0;
    }
    /* The read we claimed may have been posted anew, for another sender,
     * between our look at `allow` and the claim (the receiver cancelled,
     * allowed someone else and posted again): give it back. Once claimed,
     * allow cannot change until we finish. */
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) != me) {
        (void)noc__shm_cas_state(p, NOC__SHM_CLAIMED, NOC__SHM_POSTED);
        noc__shm_notify(&p->ev);
        noc__shm_offer(s, h, p, o, me);
        return 0;
    }
    noc__shm_release(h, o);
    __atomic_store_n(&p->writer, me, NOC__SHM_RLX);
    return 1;
}

/* Sender holding the claimed read: copy straight into the receiver's buffer.
 * The byte count or an error, or UAREA_ENOSYS when the data must go through
 * the bounce ring (forced by desc.copy, or the kernel refuses the copy). */
static int noc__shm_push_copy(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    uint64_t dst = __atomic_load_n(&p->buf, NOC__SHM_RLX);
    uint64_t cap = __atomic_load_n(&p->size, NOC__SHM_RLX);
    int rpid = __atomic_load_n(&p->rpid, NOC__SHM_RLX), rc;
    if (h->size > cap) return UAREA_EMSGSIZE;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE ||
        (s->vm_denied && rpid != s->pid && !noc__shm_in_window(s, dst, h->size)))
        return UAREA_ENOSYS;
    rc = noc__shm_copy(s, h->node, rpid, (unsigned char *)(uintptr_t)h->cbuf, dst, h->size, 1);
    if (rc == UAREA_ENOSYS && s->shm->desc.copy == NOC_SHM_COPY_VM) rc = UAREA_EIO;
    return rc;
}

/* Sender holding the claimed read: start a bounce transfer (the record goes
 * CLAIMED -> STREAM) and fill the ring as far as it goes. */
static void noc__shm_stream_start(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    __atomic_store_n(&p->total, (uint64_t)h->size, NOC__SHM_RLX);
    __atomic_store_n(&p->produced, (uint64_t)0, NOC__SHM_RLX);
    __atomic_store_n(&p->consumed, (uint64_t)0, NOC__SHM_RLX);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_STREAM, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    h->streaming = 1;
    h->produced = 0;
    noc__shm_stream_out(s, h, p);
}

/* Sender holding the claimed read: push the data, then end the transfer on
 * both sides (CLAIMED -> DONE with the result), unless it goes on through
 * the bounce ring. */
static void noc__shm_push(noc_shm_node *s, noc__shm_handle *h, struct noc__shm_ptl *p)
{
    int rc = noc__shm_push_copy(s, h, p);
    if (rc == UAREA_ENOSYS) {
        noc__shm_stream_start(s, h, p);
        return;
    }
    __atomic_store_n(&p->result, rc, NOC__SHM_RLX);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_DONE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    noc__shm_finish(h, rc);
}

/* Sender: move a portal write on. In order: a bounce transfer under way
 * goes on; an offer the receiver took is its to finish; a receiver that is
 * gone ends the write; then push (claim the posted read and copy) or offer
 * (noc__shm_should_push decides). */
static void noc__shm_write_progress(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, h->node, h->port);
    struct noc__shm_offer *o = &p->offer[s->self];
    uint32_t me = NOC__SHM_ID(s->self, h->lport);
    if (h->streaming) { noc__shm_stream_out(s, h, p); return; }
    if (noc__shm_offer_taken(h, o)) return;
    if (noc__shm_known_gone(s, h->node)) { noc__shm_write_abandon(h, o); return; }
    if (!noc__shm_should_push(s, h, p, me)) { noc__shm_offer(s, h, p, o, me); return; }
    if (noc__shm_claim(s, h, p, o, me)) noc__shm_push(s, h, p);
}

/* ---- progress and posting ---- */
/* Move a portal operation on; sets h->done when it ended. An in-place
 * operation is the caller's (wdone, rdone or cancel end it). */
static void noc__shm_ptl_progress(noc_shm_node *s, noc__shm_handle *h)
{
    if (h->done || h->inplace) return;
    if (h->op == NOC__SHM_OP_READ) noc__shm_read_progress(s, h);
    else noc__shm_write_progress(s, h);
}

/* Why a portal write has not started: UAREA_ENOTALLOWED or UAREA_EAGAIN. */
static int noc__shm_write_reason(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, h->node, h->port);
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != NOC__SHM_ID(s->self, h->lport))
        return UAREA_ENOTALLOWED;
    return UAREA_EAGAIN;
}

static int noc__shm_ptl_aread(void *ctx, int portal, void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    p = noc__shm_ptl(s, s->self, h->port);
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) == 0) return UAREA_ENOTALLOWED;
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    __atomic_store_n(&p->buf, (uint64_t)(uintptr_t)buf, NOC__SHM_RLX);
    __atomic_store_n(&p->size, (uint64_t)size, NOC__SHM_RLX);
    __atomic_store_n(&p->rpid, s->pid, NOC__SHM_RLX);
    /* a read is usually waited for at once: promise to pull meanwhile */
    noc__shm_promise(s, p, noc__shm_now() + NOC_SHM_PULL_NS);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_POSTED, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_awrite(void *ctx, int portal, const void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->streaming = 0;
    h->cbuf = buf;
    h->size = size;
    noc__shm_ptl_progress(s, h);
    return 0;
}

/* ---- in place ---- */
/* Writing in place: claim the read the receiver posted for us, as a push
 * does, and hand its buffer to the caller, who fills it; wdone ends it. Only
 * where a push would be one memcpy: the receiver is this process, or its
 * buffer lies in a shared window. */
static int noc__shm_ptl_wbuf(void *ctx, int portal, void **buf, size_t *size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    uint32_t me;
    uint64_t dst, cap;
    int rpid;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE || h->offered) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return UAREA_ENOSYS;
    p = noc__shm_ptl(s, h->node, h->port);
    me = NOC__SHM_ID(s->self, h->lport);
    if (!__atomic_load_n(&p->created, NOC__SHM_ACQ) ||
        __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me)
        return UAREA_ENOTALLOWED;
    if (!noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_CLAIMED)) return UAREA_EAGAIN;
    /* Claimed: allow, buf and size cannot change until we finish. The read
     * may have been posted anew for another sender since our look at allow
     * (as in a push): give it back. */
    dst = __atomic_load_n(&p->buf, NOC__SHM_RLX);
    cap = __atomic_load_n(&p->size, NOC__SHM_RLX);
    rpid = __atomic_load_n(&p->rpid, NOC__SHM_RLX);
    if (__atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ||
        (rpid != s->pid && !noc__shm_in_window(s, dst, (size_t)cap))) {
        int why = __atomic_load_n(&p->allow, NOC__SHM_ACQ) != me ? UAREA_ENOTALLOWED : UAREA_ENOSYS;
        (void)noc__shm_cas_state(p, NOC__SHM_CLAIMED, NOC__SHM_POSTED);
        noc__shm_notify(&p->ev);
        return why;
    }
    __atomic_store_n(&p->writer, me, NOC__SHM_RLX);
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->streaming = 0;
    h->inplace = 1;
    h->cbuf = NULL;
    h->buf = (void *)(uintptr_t)dst;
    h->size = (size_t)cap;
    *buf = h->buf;
    *size = h->size;
    return 0;
}

/* End an in-place write with `rc` (a byte count or an error) on both sides. */
static int noc__shm_inplace_end(noc_shm_node *s, noc__shm_handle *h, int rc)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, h->node, h->port);
    __atomic_store_n(&p->result, (int32_t)rc, NOC__SHM_RLX);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_DONE, NOC__SHM_SEQ);
    noc__shm_notify(&p->ev);
    h->inplace = 0;
    noc__shm_finish(h, rc);
    return noc__shm_take(h);
}

static int noc__shm_ptl_wdone(void *ctx, int portal, size_t n)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (!h->inplace) return UAREA_ESTATE;
    if (n > h->size) return UAREA_EMSGSIZE;       /* still claimed: write less */
    noc__shm_progress_hook(s, n, n);
    return noc__shm_inplace_end(s, h, (int)n);
}

/* Reading in place: take the allowed sender's ready offer, as a pull does,
 * and hand its buffer to the caller; rdone ends the sender's write. Only
 * where a pull would be one memcpy (the sender is this process, or its
 * buffer lies in a shared window). No read is posted meanwhile, so no
 * sender can push. */
static int noc__shm_ptl_rbuf(void *ctx, int portal, const void **buf, size_t *size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    struct noc__shm_offer *o;
    uint32_t allow, st = NOC__SHM_OFFER_READY;
    uint64_t from, n;
    int node, pid;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (s->shm->desc.copy == NOC_SHM_COPY_BOUNCE) return UAREA_ENOSYS;
    p = noc__shm_ptl(s, s->self, h->port);
    allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ);
    node = (int)((allow >> 8) & 0xffu);
    if (allow == 0 || node >= s->shm->nodes) return UAREA_ENOTALLOWED;
    o = &p->offer[node];
    if (__atomic_load_n(&o->state, NOC__SHM_ACQ) != NOC__SHM_OFFER_READY ||
        __atomic_load_n(&o->id, NOC__SHM_RLX) != allow)
        return noc__shm_known_gone(s, node) ? UAREA_EPEERGONE : UAREA_EAGAIN;
    if (!__atomic_compare_exchange_n(&o->state, &st, (uint32_t)NOC__SHM_OFFER_TAKEN, 0,
                                     NOC__SHM_SEQ, NOC__SHM_SEQ))
        return UAREA_EAGAIN;
    /* Taken: the sender can neither push from it nor withdraw it now. It may
     * be a newer offer than the one we looked at: check again. */
    pid = __atomic_load_n(&o->pid, NOC__SHM_RLX);
    from = __atomic_load_n(&o->buf, NOC__SHM_RLX);
    n = __atomic_load_n(&o->size, NOC__SHM_RLX);
    if (__atomic_load_n(&o->id, NOC__SHM_RLX) != allow ||
        (pid != s->pid && !noc__shm_in_window(s, from, (size_t)n))) {
        int why = __atomic_load_n(&o->id, NOC__SHM_RLX) != allow ? UAREA_EAGAIN : UAREA_ENOSYS;
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        return why;
    }
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->inplace = 1;
    h->from = (short)node;
    h->cbuf = (const void *)(uintptr_t)from;
    h->size = (size_t)n;
    *buf = h->cbuf;
    *size = h->size;
    return 0;
}

/* End an in-place read: with the data used (the sender's write returns its
 * size, the allow is consumed), or given back untouched (cancel). */
static int noc__shm_rbuf_end(noc_shm_node *s, noc__shm_handle *h, int used)
{
    struct noc__shm_ptl *p = noc__shm_ptl(s, s->self, h->port);
    struct noc__shm_offer *o = &p->offer[h->from];
    h->inplace = 0;
    if (!used) {
        __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_READY, NOC__SHM_SEQ);
        noc__shm_notify(&p->ev);
        noc__shm_finish(h, UAREA_EAGAIN);                 /* nothing moved; the allow stays */
        return noc__shm_take(h);
    }
    __atomic_store_n(&o->result, (int32_t)h->size, NOC__SHM_RLX);
    __atomic_store_n(&o->state, (uint32_t)NOC__SHM_OFFER_DONE, NOC__SHM_SEQ);
    noc__shm_read_end(h, p, (int)h->size);
    return noc__shm_take(h);
}

static int noc__shm_ptl_rdone(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (!h->inplace) return UAREA_ESTATE;
    return noc__shm_rbuf_end(s, h, 1);
}
