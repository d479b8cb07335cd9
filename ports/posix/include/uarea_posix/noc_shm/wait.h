/*
 * uarea_posix/noc_shm/wait.h - waiting in the shared-memory NoC, for
 * mailboxes and portals alike (spin, then sleep on a futex, checking the
 * peers the call involves), and the calls built on it: wait, cancel, and a
 * portal's unlink and close.
 *
 * A part of the implementation of <uarea_posix/noc_shm.h>, which includes it
 * (its top comment lists the parts); not a header of its own.
 */
#ifndef UAREA_POSIX__NOC_SHM_IMPLEMENTED
#  error "uarea_posix/noc_shm/wait.h is a part of <uarea_posix/noc_shm.h>: include that"
#endif

/* ---- waiting (shared by mailboxes and portals) ---- */

/* The event a pending operation sleeps on. */
static struct noc__shm_event *noc__shm_event_of(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (portal)
        return &noc__shm_ptl(s, h->out ? h->node : s->self, h->port)->ev;
    if (h->op == NOC__SHM_OP_READ) return &noc__shm_mbx(s, s->self, h->port)->rx;
    return &noc__shm_mbx(s, h->node, h->port)->tx;
}

static void noc__shm_progress(noc_shm_node *s, noc__shm_handle *h, int portal);

/* The peers of a pending operation are gone: end it with UAREA_EPEERGONE
 * (and leave the shared state clean), unless what they left behind still
 * completes it (queued messages, a filled bounce ring, a finished copy).
 * 1 when the operation ended. */
static int noc__shm_check_peers(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (!portal) {
        if (!(h->op == NOC__SHM_OP_WRITE ? noc__shm_gone(s, h->node) : noc__shm_mbx_hopeless(s, h)))
            return 0;
        noc__shm_progress(s, h, portal);
        if (!h->done) noc__shm_finish(h, UAREA_EPEERGONE);
        return 1;
    }
    if (h->out) {
        struct noc__shm_offer *o = &noc__shm_ptl(s, h->node, h->port)->offer[s->self];
        if (!noc__shm_gone(s, h->node)) return 0;
        noc__shm_progress(s, h, portal);
        if (!h->done) noc__shm_write_abandon(h, o);
        return 1;
    } else {
        struct noc__shm_ptl *p = noc__shm_ptl(s, s->self, h->port);
        uint32_t allow = __atomic_load_n(&p->allow, NOC__SHM_ACQ);
        int peer = (int)((allow >> 8) & 0xffu);
        if (allow == 0 || peer == s->self || !noc__shm_gone(s, peer)) return 0;
        noc__shm_progress(s, h, portal);
        if (h->done) return 1;
        /* The writer is dead: nobody else may touch this record now. */
        if (__atomic_load_n(&p->offer[peer].id, NOC__SHM_RLX) == allow)
            __atomic_store_n(&p->offer[peer].state, (uint32_t)NOC__SHM_OFFER_FREE, NOC__SHM_SEQ);
        noc__shm_read_end(h, p, UAREA_EPEERGONE);
        return 1;
    }
}

static void noc__shm_progress(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    if (portal) noc__shm_ptl_progress(s, h);
    else noc__shm_mbx_progress(s, h);
}

/* Is the peer copying this portal transfer right now (it took our offer, or
 * claimed our posted read and pushes)? */
static int noc__shm_peer_copies(noc_shm_node *s, noc__shm_handle *h, int portal)
{
    struct noc__shm_ptl *p;
    if (!portal) return 0;
    if (h->out) {
        p = noc__shm_ptl(s, h->node, h->port);
        return h->offered && !h->streaming &&
               __atomic_load_n(&p->offer[s->self].state, NOC__SHM_RLX) == NOC__SHM_OFFER_TAKEN;
    }
    p = noc__shm_ptl(s, s->self, h->port);
    return noc__shm_state(p) == NOC__SHM_CLAIMED;
}

static void noc__shm_reader_promise(noc_shm_node *s, noc__shm_handle *h, int portal, uint64_t until)
{
    if (portal && !h->out && h->op == NOC__SHM_OP_READ)
        noc__shm_promise(s, noc__shm_ptl(s, s->self, h->port), until);
}

/* A sender that sleeps while the receiver promised to pull wakes when the
 * promise ends: cap its nap there. */
static uint64_t noc__shm_nap(noc_shm_node *s, noc__shm_handle *h, int portal, uint64_t now, uint64_t nap)
{
    uint64_t until;
    if (!portal || !h->out) return nap;
    until = __atomic_load_n(&noc__shm_ptl(s, h->node, h->port)->pull_until, NOC__SHM_ACQ);
    return until > now && until - now < nap ? until - now : nap;
}

static int noc__shm_wait_for(noc_shm_node *s, noc__shm_handle *h, int portal, int64_t timeout_ns)
{
    uint64_t start, now, deadline, spin_end, busy_end = 0;
    int promised = 0, kickable = !portal && !h->out;
    struct noc__shm_nodeinfo *me = &s->shm->region->node[s->self];   /* its kick */
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    noc__shm_progress(s, h, portal);
    if (h->done) return noc__shm_take(h);
    if (timeout_ns == 0) {
        if (noc__shm_check_peers(s, h, portal)) return noc__shm_take(h);
        return UAREA_ETIMEDOUT;
    }
    start = noc__shm_now();
    deadline = timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns;
    spin_end = start + NOC_SHM_SPIN_NS;
    for (;;) {
        struct noc__shm_event *e;
        uint32_t seen;
        uint64_t nap;
        now = noc__shm_now();
        if (now >= deadline) return UAREA_ETIMEDOUT;
        if (kickable && __atomic_exchange_n(&me->kick, 0u, NOC__SHM_SEQ)) return UAREA_ETIMEDOUT;
        if (now < spin_end) {
            if (!promised) noc__shm_reader_promise(s, h, portal, spin_end);
            promised = 1;
            /* Past the first quarter of the spin, yield: when the peer
             * shares this CPU, it runs instead of waiting for our sleep. */
            if (now - start >= (uint64_t)NOC_SHM_YIELD_NS) sched_yield();
            else noc__shm_relax();
            noc__shm_progress(s, h, portal);
            if (h->done) return noc__shm_take(h);
            continue;
        }
        if (promised) noc__shm_reader_promise(s, h, portal, 0);
        promised = 0;
        if (noc__shm_check_peers(s, h, portal)) return noc__shm_take(h);
        /* The peer is copying our transfer: it finishes soon, keep spinning
         * (yielding; the peer checks above are rate-limited by
         * NOC_SHM_PROBE_NS), for at most NOC_SHM_BUSY_NS in all. */
        if (noc__shm_peer_copies(s, h, portal)) {
            if (busy_end == 0) busy_end = now + NOC_SHM_BUSY_NS;
            if (now < busy_end) {
                sched_yield();
                noc__shm_progress(s, h, portal);
                if (h->done) return noc__shm_take(h);
                continue;
            }
        }
        e = noc__shm_event_of(s, h, portal);
        seen = __atomic_load_n(&e->seq, NOC__SHM_SEQ);
        __atomic_add_fetch(&e->waiters, 1u, NOC__SHM_SEQ);
        noc__shm_progress(s, h, portal);
        /* a kicker stores kick, then reads `sleeping`; this side stores
         * `sleeping`, then reads kick: one of the two sees the other */
        if (kickable) __atomic_store_n(&me->sleeping, (uint64_t)(uintptr_t)e, NOC__SHM_SEQ);
        if (!h->done && !(kickable && __atomic_load_n(&me->kick, NOC__SHM_SEQ))) {
            nap = deadline - now < (uint64_t)NOC_SHM_CHECK_NS ? deadline - now : NOC_SHM_CHECK_NS;
            noc__shm_sleep(e, seen, noc__shm_nap(s, h, portal, now, nap));
            noc__shm_progress(s, h, portal);
        }
        if (kickable) __atomic_store_n(&me->sleeping, (uint64_t)0, NOC__SHM_SEQ);
        __atomic_sub_fetch(&e->waiters, 1u, NOC__SHM_SEQ);
        if (h->done) return noc__shm_take(h);
    }
}

static int noc__shm_wait(noc_shm_node *s, noc__shm_handle *h, int portal, int64_t timeout_ns)
{
    int rc, reader = portal && !h->out && h->op == NOC__SHM_OP_READ;
    /* A call that cannot wait (a poll, a non-blocking write) does not leave
     * the copy to a receiver's promise: it pushes if it can. */
    h->eager = timeout_ns == 0;
    rc = noc__shm_wait_for(s, h, portal, timeout_ns);
    h->eager = 0;
    if (reader) noc__shm_promise(s, noc__shm_ptl(s, s->self, h->port), 0);   /* h is taken */
    return rc;
}

/* ---- wait and cancel ---- */
static int noc__shm_mbx_wait(void *ctx, int mbx, int64_t timeout_ns)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    return noc__shm_wait(s, h, 0, timeout_ns);
}

static int noc__shm_mbx_cancel(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    noc__shm_mbx_progress(s, h);
    if (!h->done) noc__shm_finish(h, UAREA_EAGAIN);       /* nothing moved */
    return noc__shm_take(h);
}

static int noc__shm_ptl_wait(void *ctx, int portal, int64_t timeout_ns)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->inplace) return UAREA_ESTATE;          /* wdone ends it */
    return noc__shm_wait(s, h, 1, timeout_ns);
}

static int noc__shm_ptl_cancel(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->op == NOC__SHM_OP_NONE) return UAREA_ESTATE;
    if (h->done) return noc__shm_take(h);
    if (h->inplace && !h->out) return noc__shm_rbuf_end(s, h, 0);
    if (h->inplace) return noc__shm_inplace_end(s, h, UAREA_ECANCELED);
    if (h->out) {
        p = noc__shm_ptl(s, h->node, h->port);
        if (h->streaming) {
            noc__shm_stream_out(s, h, p);
            if (!h->done) {
                /* Only this sender can claim the record, so the result may be
                 * stored before the state says DONE. */
                __atomic_store_n(&p->result, (int32_t)UAREA_ECANCELED, NOC__SHM_RLX);
                if (noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_DONE)) noc__shm_notify(&p->ev);
            }
            if (!h->done) noc__shm_finish(h, UAREA_ECANCELED);
            return noc__shm_take(h);
        }
        noc__shm_ptl_progress(s, h);                    /* collect a finished pull */
        if (h->done) return noc__shm_take(h);
        while (!noc__shm_withdraw(h, &p->offer[s->self])) {
            /* Being pulled: let it finish. A pull may also give the offer
             * back untouched (the read is for another port of this node, or
             * was withdrawn), which ends no wait: look again now and then. */
            int rc = noc__shm_wait(s, h, 1, NOC__SHM_CANCEL_LOOK_NS);
            if (rc != UAREA_ETIMEDOUT) return rc;
        }
        noc__shm_release(h, &p->offer[s->self]);
        noc__shm_finish(h, noc__shm_write_reason(s, h));
        return noc__shm_take(h);
    }
    p = noc__shm_ptl(s, s->self, h->port);
    if (noc__shm_cas_state(p, NOC__SHM_POSTED, NOC__SHM_IDLE)) {
        noc__shm_notify(&p->ev);
        noc__shm_finish(h, UAREA_EAGAIN);                 /* the allow stays */
        return noc__shm_take(h);
    }
    if (noc__shm_cas_state(p, NOC__SHM_STREAM, NOC__SHM_IDLE)) {
        noc__shm_read_end(h, p, UAREA_ECANCELED);
        return noc__shm_take(h);
    }
    /* A direct copy is under way (or done): let it finish. */
    return noc__shm_wait(s, h, 1, NOC_FOREVER);
}

/* ---- unlinking and closing a portal (they cancel first) ---- */
static int noc__shm_ptl_unlink(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    struct noc__shm_ptl *p;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) (void)noc__shm_ptl_cancel(ctx, portal);
    p = noc__shm_ptl(s, s->self, h->port);
    noc__shm_lock(&s->lock);
    __atomic_store_n(&p->allow, 0u, NOC__SHM_SEQ);
    __atomic_store_n(&p->state, (uint32_t)NOC__SHM_IDLE, NOC__SHM_SEQ);
    __atomic_store_n(&p->created, 0u, NOC__SHM_SEQ);
    h->used = 0;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&p->ev);
    return 0;
}

static int noc__shm_ptl_close(void *ctx, int portal)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->ptl : NULL, portal);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) (void)noc__shm_ptl_cancel(ctx, portal);
    noc__shm_lock(&s->lock);
    h->used = 0;
    noc__shm_unlock(&s->lock);
    return 0;
}
