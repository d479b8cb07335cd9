/*
 * uarea_posix/noc_shm/mailbox.h - mailboxes of the shared-memory NoC:
 * one bounded multi-producer / single-consumer ring per (node, port);
 * senders reserve a slot with a compare-and-swap and publish it with a
 * sequence number.
 *
 * A part of the implementation of <uarea_posix/noc_shm.h>, which includes it
 * (its top comment lists the parts); not a header of its own.
 */
#ifndef UAREA_POSIX__NOC_SHM_IMPLEMENTED
#  error "uarea_posix/noc_shm/mailbox.h is a part of <uarea_posix/noc_shm.h>: include that"
#endif

/* ---- mailboxes ---- */
static int noc__shm_mbx_create(void *ctx, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    struct noc__shm_mbx *m;
    uint32_t zero = 0, pos;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->mbx);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    m = noc__shm_mbx(s, s->self, port);
    /* A new mailbox starts empty: drop what an earlier one left. Only this
     * node consumes from its rings, so this cannot race a reader. */
    if (__atomic_load_n(&m->created, NOC__SHM_ACQ) != 0) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    pos = __atomic_load_n(&m->head, NOC__SHM_RLX);
    for (;;) {
        struct noc__shm_slot *sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        if (__atomic_load_n(&sl->seq, NOC__SHM_ACQ) != pos + 1) break;
        __atomic_store_n(&sl->seq, pos + NOC_SHM_MAILBOX_SLOTS, NOC__SHM_REL);
        pos++;
    }
    __atomic_store_n(&m->head, pos, NOC__SHM_REL);
    if (!__atomic_compare_exchange_n(&m->created, &zero, 1u, 0, NOC__SHM_SEQ, NOC__SHM_SEQ)) {
        noc__shm_unlock(&s->lock);
        return UAREA_EPORTINUSE;
    }
    memset(&s->mbx[h], 0, sizeof s->mbx[h]);
    s->mbx[h].from = -1;
    s->mbx[h].used = 1;
    s->mbx[h].node = (short)s->self;
    s->mbx[h].port = (short)port;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&m->tx);
    return h;
}

static int noc__shm_mbx_open(void *ctx, int node, int port)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    int h;
    if (s == NULL || !s->attached) return UAREA_EINVAL;
    if (noc__shm_known_gone(s, node)) return UAREA_EPEERGONE;
    noc__shm_lock(&s->lock);
    h = noc__shm_free_slot(s->mbx);
    if (h < 0) { noc__shm_unlock(&s->lock); return UAREA_ETOOMANY; }
    memset(&s->mbx[h], 0, sizeof s->mbx[h]);
    s->mbx[h].used = 1;
    s->mbx[h].out = 1;
    s->mbx[h].node = (short)node;
    s->mbx[h].port = (short)port;
    __atomic_add_fetch(&noc__shm_mbx(s, node, port)->openers[s->self], 1u, NOC__SHM_SEQ);
    noc__shm_unlock(&s->lock);
    return h;
}

static int noc__shm_mbx_unlink(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    struct noc__shm_mbx *m;
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    m = noc__shm_mbx(s, s->self, h->port);
    noc__shm_lock(&s->lock);
    __atomic_store_n(&m->created, 0u, NOC__SHM_SEQ);
    h->used = 0;
    h->op = NOC__SHM_OP_NONE;
    noc__shm_unlock(&s->lock);
    noc__shm_notify(&m->tx);
    return 0;
}

static int noc__shm_mbx_close(void *ctx, int mbx)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    noc__shm_lock(&s->lock);
    __atomic_sub_fetch(&noc__shm_mbx(s, h->node, h->port)->openers[s->self], 1u, NOC__SHM_SEQ);
    h->used = 0;
    h->op = NOC__SHM_OP_NONE;
    noc__shm_unlock(&s->lock);
    return 0;
}

/* Try to finish a mailbox operation; sets h->done when it did. */
static void noc__shm_mbx_progress(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_mbx *m;
    struct noc__shm_slot *sl;
    uint32_t pos, seq;
    if (h->done) return;
    if (h->op == NOC__SHM_OP_READ) {
        m = noc__shm_mbx(s, s->self, h->port);
        pos = __atomic_load_n(&m->head, NOC__SHM_RLX);
        sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        if (__atomic_load_n(&sl->seq, NOC__SHM_ACQ) != pos + 1) return;
        if (sl->len > h->size) { noc__shm_finish(h, UAREA_EMSGSIZE); return; }  /* kept */
        memcpy(h->buf, sl->data, sl->len);
        h->from = sl->from;
        noc__shm_finish(h, (int)sl->len);
        __atomic_store_n(&sl->seq, pos + NOC_SHM_MAILBOX_SLOTS, NOC__SHM_REL);
        __atomic_store_n(&m->head, pos + 1, NOC__SHM_REL);
        noc__shm_notify(&m->tx);
        return;
    }
    m = noc__shm_mbx(s, h->node, h->port);
    if (noc__shm_known_gone(s, h->node)) { noc__shm_finish(h, UAREA_EPEERGONE); return; }
    if (!__atomic_load_n(&m->created, NOC__SHM_ACQ)) return;
    pos = __atomic_load_n(&m->tail, NOC__SHM_RLX);
    for (;;) {
        int32_t dif;
        sl = &m->slot[pos % NOC_SHM_MAILBOX_SLOTS];
        seq = __atomic_load_n(&sl->seq, NOC__SHM_ACQ);
        dif = (int32_t)(seq - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&m->tail, &pos, pos + 1, 1, NOC__SHM_SEQ, NOC__SHM_RLX))
                break;
        } else if (dif < 0) {
            return;                                     /* full */
        } else {
            pos = __atomic_load_n(&m->tail, NOC__SHM_RLX);
        }
    }
    memcpy(sl->data, h->cbuf, h->size);
    sl->len = (uint32_t)h->size;
    sl->from = (int32_t)s->self;
    __atomic_store_n(&sl->seq, pos + 1, NOC__SHM_REL);
    noc__shm_finish(h, (int)h->size);
    noc__shm_notify(&m->rx);
}

/* A mailbox read can still be satisfied: the reader has an opener that lives
 * (or no opener at all yet, or one on this node). */
static int noc__shm_mbx_hopeless(noc_shm_node *s, noc__shm_handle *h)
{
    struct noc__shm_mbx *m = noc__shm_mbx(s, s->self, h->port);
    int n, any = 0;
    for (n = 0; n < s->shm->nodes; n++) {
        if (__atomic_load_n(&m->openers[n], NOC__SHM_ACQ) == 0) continue;
        if (n == s->self || !noc__shm_gone(s, n)) return 0;
        any = 1;
    }
    return any;
}

static int noc__shm_mbx_aread(void *ctx, int mbx, void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    h->op = NOC__SHM_OP_READ;
    h->done = 0;
    h->buf = buf;
    h->size = size;
    noc__shm_mbx_progress(s, h);
    return 0;
}

static int noc__shm_mbx_awrite(void *ctx, int mbx, const void *buf, size_t size)
{
    noc_shm_node *s = (noc_shm_node *)ctx;
    noc__shm_handle *h = noc__shm_get(s, s ? s->mbx : NULL, mbx);
    if (h == NULL) return UAREA_EBADHANDLE;
    if (!h->out) return UAREA_EDIRECTION;
    if (h->op != NOC__SHM_OP_NONE) return UAREA_EBUSY;
    if (noc__shm_known_gone(s, h->node)) return UAREA_EPEERGONE;
    {   /* Messages wait unread: is the reader's process still there (a probe
         * at most once per NOC_SHM_PROBE_NS)? Else a message to a node that
         * died lands in its ring unnoticed. A reader that keeps up costs no
         * probe. */
        struct noc__shm_mbx *m = noc__shm_mbx(s, h->node, h->port);
        if (__atomic_load_n(&m->head, NOC__SHM_RLX) != __atomic_load_n(&m->tail, NOC__SHM_RLX) &&
            noc__shm_gone(s, h->node))
            return UAREA_EPEERGONE;
    }
    h->op = NOC__SHM_OP_WRITE;
    h->done = 0;
    h->cbuf = buf;
    h->size = size;
    noc__shm_mbx_progress(s, h);
    return 0;
}
