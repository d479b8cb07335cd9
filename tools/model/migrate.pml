/*
 * migrate.pml - a Promela model of one migration of include/migrate/daemon.h
 * between a source daemon and a destination daemon, on a network that loses,
 * duplicates and reorders messages, loses and corrupts image blocks, and may
 * crash either node at any moment. tools/model/check.sh runs it; the section
 * "Model checking" of docs/protocol.md says what it covers.
 *
 * Correspondence with daemon.h:
 *   Source()  migrate__start, migrate__src_step (migrate__src_frozen,
 *             migrate__src_send), the source's handlers of migrate__on_msg
 *             (migrate__on_accept, migrate__on_refused, migrate__on_verified),
 *             migrate__src_abort, migrate__commit_point, and the answers from
 *             the history (migrate__recall, MIGRATE_ROLE_SOURCE) once idle.
 *   Dest()    migrate__on_request, migrate__dst_step, the destination's
 *             handlers (migrate__on_commit, migrate__on_abort),
 *             migrate__dst_fail, migrate__activate, and the history
 *             (MIGRATE_ROLE_DEST) that makes late messages harmless.
 *   s_send/d_send  migrate__send + migrate__pump_outbox: a message to a dead
 *             node fails with "peer gone", which the sender handles as
 *             pump_outbox does (R_COMMIT: activate; R_RECV: discard;
 *             S_REQUEST..S_VERIFY: abort); a message to a full mailbox is lost.
 *   blk_*     the data portal: one block transfer at a time; both sides
 *             complete when the block lands; a lost block never completes (both
 *             sides time out); a corrupted one completes and fails the image
 *             CRCs (restore_end).
 *   Net()     the faults of the transport, each kind within a budget.
 *   Crash()   a crash of at most one node, at any moment.
 * There is one migration, so every message carries the same migration id and
 * migrate__recall finds an outcome exactly when the node has finished.
 *
 * Compile-time switches (spin -D...):
 *   NBLOCKS   image blocks (default 2)     RETRIES  REQUEST resends (default 1)
 *   MAXLOSS, MAXDUP, MAXREORDER, MAXCORRUPT  fault budgets (defaults 2 1 1 1)
 *   LIVE      for the liveness run: a timeout fires only when nothing is in
 *             flight (timeouts longer than the network's latency), and a
 *             completed block write is taken before further messages. The
 *             safety runs leave it off: a timeout may fire at any moment.
 *   ABORT_ACK a change to the protocol, proposed, not in daemon.h: a source
 *             that aborts after the image went out (S_SEND, S_VERIFY) stays
 *             frozen until the destination acknowledges the ABORT (NACK) or
 *             is known dead; then never_stale holds.
 *   MUTANT=n  a deliberately broken protocol; check.sh expects spin to find
 *             a violation in each (see the list at the end of this file).
 *   PRECOPY   the pre-copy protocol: a first image of one block goes while
 *             the container runs (REQ_PRE, ACCEPT, the block, VER_PRE: the
 *             destination stages it, R_STAGED, resending VER_PRE on every
 *             timeout up to RETRIES + 1 times), then the source freezes and
 *             the one-image protocol above moves the delta. A staged image
 *             never runs; a discard wipes it too.
 *   PRE_ROUNDS  with PRECOPY: at most this many pre-copy images (default
 *             1). After each staged round the source chooses, as its policy
 *             may, another round (REQ_PRE of the next number: PRE | DELTA in
 *             daemon.h, one block, VER_PRE) or the freeze and the delta. A
 *             destination in R_STAGED takes only the REQUEST of the next
 *             number (a further round, staged again, or the delta); anything
 *             refused or failed discards the whole staged image.
 *   POSTCOPY  the post-copy protocol (migrate_config.postcopy 1): the
 *             frozen image (NBLOCKS blocks, as above) leaves out NPAGES lazy
 *             pages; the commit point is the same, then the source serves
 *             the pages (S_POST: migrate__src_post, migrate__on_fetch,
 *             migrate__on_done, migrate__src_post_end) and the destination
 *             runs the container with them missing (R_POST: migrate__dst_post_start,
 *             migrate__dst_post, migrate__dst_packet, migrate__dst_lost).
 *             Pages travel one a packet over the portal (the blk_* block,
 *             carrying its page number): lost (the source's write times out
 *             and is cancelled), corrupted (migrate_pages_check fails: dropped,
 *             a missing page asked again) or taken only while the destination
 *             has a read posted (R_POST). FETCH carries its page; DONE ends.
 *   NPAGES    with POSTCOPY: the lazy pages (default 2, at most 3).
 *   S_POST_TRIES, D_POST_TRIES  with POSTCOPY and LIVE: the timeouts without
 *             news after which the source drops (default 3 (RETRIES + 1)) and
 *             the destination gives up (default 2 (RETRIES + 1)), as daemon.h
 *             counts them. Without LIVE either side may give up at any
 *             timeout (every count at once). With LIVE the two sides'
 *             post-copy timeouts are also of one length and run together
 *             (tlead), and longer than the source takes to write a packet
 *             it has ready: then, unless a node crashes, post-copy must end
 *             with DONE.
 * Every message carries the number of the image it is about (migrate_msg's
 * stamp: 0 without pre-copy, 1, 2, ... the pre-copy rounds, then the delta);
 * a side takes ACCEPT, VER_PRE, VERIFIED and REQUEST only of the image it is
 * at (the next, for a staged destination), as daemon.h does. A FETCH carries
 * the page it asks for instead.
 */

#ifndef NBLOCKS
#define NBLOCKS 2
#endif
#ifndef RETRIES
#define RETRIES 1
#endif
#ifndef MAXLOSS
#define MAXLOSS 2
#endif
#ifndef MAXDUP
#define MAXDUP 1
#endif
#ifndef MAXREORDER
#define MAXREORDER 1
#endif
#ifndef MAXCORRUPT
#define MAXCORRUPT 1
#endif
#ifndef MUTANT
#define MUTANT 0
#endif
#ifndef PRE_ROUNDS
#define PRE_ROUNDS 1
#endif
#ifndef NPAGES
#define NPAGES 2
#endif
#ifndef S_POST_TRIES
#define S_POST_TRIES (3 * (RETRIES + 1))
#endif
#ifndef D_POST_TRIES
#define D_POST_TRIES (2 * (RETRIES + 1))
#endif
#define ALL_PAGES ((1 << NPAGES) - 1)
#ifdef POSTCOPY
#define BLK_CLEAR blk_corrupt = 0; blk_pg = 0
#else
#define BLK_CLEAR skip
#endif
#define QLEN 2

mtype = { REQUEST, ACCEPT, REJECT, VERIFIED, NACK, COMMIT, ABORT, REQ_PRE, VER_PRE, FETCH, DONE };

chan s2d = [QLEN] of { mtype, byte };   /* source -> destination mailbox: op, image */
chan d2s = [QLEN] of { mtype, byte };   /* destination -> source mailbox */

/* ---- the container, seen from outside (ghost state) ---- */
bit s_copy = 1;       /* the source holds the container */
bit s_frozen = 0;     /* ... frozen (ops->freeze) */
bit s_dropped = 0;    /* it passed the commit point (ops->drop) */
bit s_resumed = 0;    /* it unfroze after the image was taken (abort) */
bit s_dead = 0;
byte d_got = 0;       /* blocks the destination holds */
bit d_bad = 0;        /* one of them was corrupted */
bit d_verified = 0;   /* restore_end succeeded on them */
bit d_run = 0;        /* the destination activated its copy */
bit d_staged = 0;     /* PRECOPY: a verified pre-copy image is staged */
bit d_staged_bad = 0; /* ... its block was corrupted */
byte d_pre_got = 0;   /* PRECOPY: blocks of the current pre-copy round held */
byte d_pre_ok = 0;    /* PRECOPY: the last pre-copy round staged (rounds 1..it) */
byte s_pre_n = 0;     /* PRECOPY: the pre-copy rounds the source counts as
                         staged: its delta carries what changed since */
bit d_dead = 0;
#ifdef POSTCOPY
byte d_pg = 0;        /* the lazy pages installed at the destination (a bit each) */
byte d_pg_bad = 0;    /* ... of them, installed from a damaged packet */
bit s_post_ok = 0;    /* the source ended S_POST on DONE (result 0) */
/* the source's S_POST (global, for D_POST_TIMEOUT) */
byte fq = 0;          /* FETCHed pages to serve first (a bit each) */
byte pushed = 0;      /* pages the push has written */
bit inflight = 0;     /* a packet write is out */
#endif

/* the portal: one block in flight from the source to the destination */
bit blk_pending = 0;  /* written, on the wire */
bit blk_corrupt = 0;
bit blk_done = 0;     /* the transfer completed (the source's write ends) */
#ifdef POSTCOPY
byte blk_pg = 0;      /* the page of a packet (after the commit point) */
#endif

/* budgets of the environment */
byte n_loss = 0, n_dup = 0, n_reorder = 0, n_corrupt = 0;

/* states (for the LTL formulas and trails) */
mtype = { S_IDLE, S_FREEZE, S_REQUEST, S_SEND, S_VERIFY, S_DONE_COMMIT, S_DONE_ABORT, S_POST };
mtype = { R_IDLE, R_RECV, R_COMMIT, R_DONE, R_STAGED, R_POST };
mtype s_state = S_IDLE;
mtype d_state = R_IDLE;

#define SRUN  (s_copy && !s_frozen && !s_dead)
#define DRUN  (d_run && !d_dead)
/* (1) never two live copies; (2) a running destination copy is complete and
 * was verified intact */
#define ONE_RUNS     (!(SRUN && DRUN))
#ifdef PRECOPY
#define VERIFIED_RUNS (!DRUN || (d_verified && d_got == NBLOCKS && !d_bad && d_staged && \
                                 !d_staged_bad && d_pre_ok == s_pre_n))
#else
#define VERIFIED_RUNS (!DRUN || (d_verified && d_got == NBLOCKS && !d_bad))
#endif
#ifdef POSTCOPY
/* (1b) past the commit point the source never runs the container (it keeps
 * its frozen pages, s_copy, until it drops them); (2b) a running destination
 * copy never holds a page from a damaged packet, and outside R_POST (where a
 * thread that touches a missing page waits for it) it holds every page: a
 * container that runs on with a page missing would read it as zeros */
#define OWNER     (!s_dropped || !SRUN)
#define PAGES_OK  (!DRUN || (d_pg_bad == 0 && (d_state == R_POST || d_pg == ALL_PAGES)))
#define SAFE  (ONE_RUNS && VERIFIED_RUNS && OWNER && PAGES_OK)
#else
#define SAFE  (ONE_RUNS && VERIFIED_RUNS)
#endif

#ifdef LIVE
#define QUIET     (empty(s2d) && empty(d2s) && \
                   !(blk_pending && (d_state == R_RECV || d_state == R_POST) && !d_dead))
#define S_TIMEOUT QUIET
#define D_TIMEOUT QUIET
#else
#define S_TIMEOUT true
#define D_TIMEOUT true
#endif
#if defined(POSTCOPY) && defined(LIVE)
/* post-copy, LIVE: the two sides' timeouts are of one length and run at
 * once: neither side times out twice while the other, waiting as well,
 * does not time out (tlead: the source's timeouts in S_POST minus the
 * destination's in R_COMMIT and R_POST, plus 1); and a timeout is longer
 * than a live source takes to write a packet it has ready */
byte tlead = 1;
#define S_WAITS (!s_dead && s_state == S_POST)
#define D_WAITS (!d_dead && (d_state == R_COMMIT || d_state == R_POST))
#define S_READY (S_WAITS && !inflight && (fq != 0 || pushed < NPAGES))
#define S_POST_TIMEOUT (QUIET && (tlead < 2 || !D_WAITS))
#define D_POST_TIMEOUT (QUIET && !S_READY && (tlead > 0 || !S_WAITS))
#define S_TICK if :: D_WAITS -> tlead++ :: else -> skip fi
#define D_TICK if :: S_WAITS -> tlead-- :: else -> skip fi
#else
#define S_POST_TIMEOUT S_TIMEOUT
#define D_POST_TIMEOUT D_TIMEOUT
#define S_TICK skip
#define D_TICK skip
#endif

/* queue a message; to a dead node: "peer gone" (gone = 1, handled by the
 * sender right after the send, as pump_outbox does in the same step); to a
 * full mailbox: lost */
inline s_send(op) {
    atomic {
        if
        :: d_dead -> s_gone = 1
        :: else ->
            if
            :: nfull(s2d) -> s2d ! op, rnd
            :: full(s2d) -> skip
            fi
        fi
    }
}
inline d_send(op) {
    atomic {
        if
        :: s_dead -> d_gone = 1
        :: else ->
            if
            :: nfull(d2s) -> d2s ! op, dr
            :: full(d2s) -> skip
            fi
        fi
    }
}
#ifdef POSTCOPY
/* FETCH of page pk (pk is reset: the state does not keep it) */
inline d_fetch() {
    atomic {
        if
        :: s_dead -> d_gone = 1
        :: else ->
            if
            :: nfull(d2s) -> d2s ! FETCH, pk
            :: full(d2s) -> skip
            fi
        fi;
        pk = 0
    }
}
/* pages_wanted(again 1): a page still missing, touched ones first (the
 * lowest) */
inline want_again() {
    atomic {
        pk = 0;
        if
        :: (d_touch & ~d_pg) != 0 ->
            do :: ((d_touch & ~d_pg) >> pk) & 1 -> break :: else -> pk++ od
        :: else ->
            do :: !((d_pg >> pk) & 1) -> break :: else -> pk++ od
        fi
    }
}
#endif

/* ---- source ---- */
proctype Source() {
    mtype m;
    byte mr;              /* the image a message is about */
    byte rnd = 0;         /* the image being sent (0: no pre-copy) */
    bit s_gone = 0;
    byte tries = 0;
    byte sent = 0;
    bit committed = 0;    /* the history's outcome: committed (and, post-copy, DONE) */
#ifdef POSTCOPY
    byte pg = 0;          /* the page of the next packet */
#endif
    {
#ifdef PRECOPY
        /* phase 1: the pre-copy rounds, the container running */
        rnd = 1;
pre_round:
        s_state = S_REQUEST;
        s_send(REQ_PRE);
        if :: s_gone -> goto abort_pre :: else -> skip fi;
        do
        :: d2s ? m, mr ->
            if
            :: m == ACCEPT && mr == rnd -> break
            :: m == REJECT || m == NACK -> goto abort_pre
            :: else -> skip
            fi
        :: S_TIMEOUT ->
            if
            :: tries < RETRIES ->
                tries++;
                s_send(REQ_PRE);
                if :: s_gone -> goto abort_pre :: else -> skip fi
            :: else -> goto abort_pre
            fi
        od;
        s_state = S_SEND;
        if
        :: d_dead -> goto abort_pre
        :: else -> atomic { blk_done = 0; blk_pending = 1; blk_corrupt = 0 }
        fi;
        do
        :: blk_done -> blk_done = 0; break
        :: d_dead -> goto abort_pre
#ifdef LIVE
        :: atomic { !blk_done && nempty(d2s) -> d2s ? m, mr };
#else
        :: d2s ? m, mr ->
#endif
            if
            :: m == REJECT || m == NACK -> goto abort_pre
            :: else -> skip
            fi
        :: S_TIMEOUT && !blk_done -> goto abort_pre
        od;
        s_state = S_VERIFY;
        do
        :: d2s ? m, mr ->
            if
            :: m == VER_PRE && mr == rnd -> break
            :: m == REJECT || m == NACK -> goto abort_pre
            :: else -> skip
            fi
        :: S_TIMEOUT -> goto abort_pre
        od;
        s_pre_n = rnd;
        tries = 0;
        /* the policy: another round, or the freeze (a round described and
         * declined is not staged: the delta carries what it held) */
        if
        :: rnd < PRE_ROUNDS -> rnd++; goto pre_round
        :: true -> skip
        fi;
#if MUTANT == 7
        if
        :: rnd < PRE_ROUNDS -> s_pre_n = rnd + 1   /* counts a declined round as staged */
        :: true -> skip
        fi;
#endif
        rnd++;                         /* the delta's number */
#endif
        /* migrate__start, then S_FREEZE: freeze and image_begin succeed, or
         * the freeze times out / fails (unfreeze, nothing was sent) */
        s_state = S_FREEZE;
        if
        :: s_frozen = 1
#ifdef PRECOPY
        :: s_send(ABORT); goto abort_unsent   /* the destination staged: tell it */
#else
        :: goto abort_unsent
#endif
        fi;
        s_state = S_REQUEST;
        s_send(REQUEST);
        if :: s_gone -> goto abort :: else -> skip fi;
        do
        :: d2s ? m, mr ->
            if
            :: m == ACCEPT && mr == rnd -> break
            :: m == REJECT || m == NACK -> goto abort
            :: else -> skip            /* not for this state, not finished */
            fi
        :: S_TIMEOUT ->
            if
            :: tries < RETRIES ->
                tries++;
                s_send(REQUEST);
                if :: s_gone -> goto abort :: else -> skip fi
            :: else -> goto abort
            fi
        od;
        /* ACCEPT: open the portal, stream the blocks */
        s_state = S_SEND;
        do
        :: sent == NBLOCKS -> break
        :: sent < NBLOCKS ->
            if
            :: d_dead -> goto abort   /* portal write to a dead node */
            :: else -> atomic { blk_done = 0; blk_pending = 1; blk_corrupt = 0 }
            fi;
            do
            :: blk_done -> blk_done = 0; sent++; break
            :: d_dead -> goto abort   /* the transfer ends with peer gone */
#ifdef LIVE
            :: atomic { !blk_done && nempty(d2s) -> d2s ? m, mr };
#else
            :: d2s ? m, mr ->
#endif
                if
                    :: m == REJECT || m == NACK -> goto abort_told
                :: else -> skip
                fi
            :: S_TIMEOUT && !blk_done -> goto abort   /* the block may still land */
            od
        od;
        s_state = S_VERIFY;
        do
        :: d2s ? m, mr ->
            if
            :: m == VERIFIED && mr == rnd -> break
#if MUTANT == 6
            :: m == VER_PRE -> break   /* takes a late VER_PRE for the delta's */
#endif
            :: m == REJECT || m == NACK -> goto abort_told
            :: else -> skip
            fi
#if MUTANT == 4
        :: S_TIMEOUT -> break          /* commits without VERIFIED */
#else
        :: S_TIMEOUT -> goto abort
#endif
        od;
        /* noc_node_gone before the commit point: a transport that can tell
         * sees a dead destination and the source aborts (runs on); one that
         * cannot tell commits, and the container is lost with the node */
        if
        :: d_dead -> goto abort
        :: true -> skip
        fi;
#ifdef POSTCOPY
        /* migrate__commit_point of a post-copy image: COMMIT out; a pump
         * that finds the destination gone aborts (the container runs on
         * here); else the source is past the commit point: it never runs
         * the container again and keeps its frozen pages to serve them */
        s_send(COMMIT);
        if :: s_gone -> goto abort :: else -> skip fi;
        s_dropped = 1;
        committed = 1;
        tries = 0;
#ifdef LIVE
        atomic { s_state = S_POST; tlead = 1 };
#else
        s_state = S_POST;
#endif
        /* S_POST, migrate__src_post: one packet out at a time, a FETCHed
         * page first, else the next page of the push */
        do
        :: !inflight && (fq != 0 || pushed < NPAGES) ->
            d_step {
                if
                :: fq != 0 ->
                    pg = 0;
                    do :: (fq >> pg) & 1 -> break :: else -> pg++ od;
                    fq = fq & ~(1 << pg)
                :: else -> pg = pushed; pushed++
                fi
            };
            if
            :: d_dead -> pg = 0; goto post_end  /* a write to a dead node */
            :: else -> atomic { blk_done = 0; blk_pending = 1; blk_corrupt = 0; blk_pg = pg;
                                inflight = 1; pg = 0 }
            fi
        :: atomic { inflight && blk_done -> blk_done = 0; inflight = 0;  /* the destination took it */
#ifdef LIVE
                    tries = 0
#endif
           }
        :: inflight && d_dead -> goto post_end  /* the transfer ends with peer gone */
        /* a timeout without news (a write still out is cancelled first:
         * lost, or the destination still in R_COMMIT with no read posted) */
        :: atomic { S_POST_TIMEOUT && !blk_done && (inflight || (fq == 0 && pushed == NPAGES)) ->
                    S_TICK;
                    if :: inflight -> blk_pending = 0; BLK_CLEAR :: else -> skip fi;
                    inflight = 0 };
            if
            :: d_dead -> goto post_end          /* noc_node_gone */
            :: true -> skip                     /* alive, or a transport that cannot tell */
            fi;
#ifdef LIVE
            tries++;
            if :: tries > S_POST_TRIES -> goto post_end :: else -> skip fi;
#else
            if :: goto post_end :: skip fi;     /* gives up (after any count) */
#endif
            s_send(COMMIT);                     /* lost COMMIT, or lost DONE: ask again */
            if :: s_gone -> goto post_end :: else -> skip fi
#if MUTANT == 10
        :: !inflight && fq == 0 && pushed == NPAGES -> s_post_ok = 1; goto post_end
                                                /* drops once the push is out */
#endif
        /* a message, handled at once (m and mr are cleared: the state
         * does not keep them) */
#ifdef LIVE
        :: atomic { !blk_done && nempty(d2s) -> d2s ? m, mr;
#else
        :: atomic { d2s ? m, mr ->
#endif
            if
            :: m == DONE -> s_post_ok = 1; m = 0; mr = 0; goto post_end
            :: m == NACK -> m = 0; mr = 0; goto post_end   /* the container was lost there */
            :: m == FETCH ->
                fq = fq | (1 << mr);
#ifdef LIVE
                tries = 0;                      /* the destination lives */
#endif
                skip
            :: m == VERIFIED && mr == rnd ->    /* COMMIT was lost */
                s_send(COMMIT);
                if :: s_gone -> m = 0; mr = 0; goto post_end :: else -> skip fi
            :: else -> skip
            fi;
            m = 0; mr = 0 }
        od;
post_end:   /* migrate__src_post_end: a write out cancelled, the copy dropped */
        atomic { if :: inflight -> blk_pending = 0; BLK_CLEAR :: else -> skip fi;
                 blk_done = 0; inflight = 0; s_copy = 0 };
        committed = s_post_ok;
        s_state = S_DONE_COMMIT;
        goto idle;
#else
        /* the commit point: drop, then COMMIT; a crash may fall in between */
        s_dropped = 1;
        s_copy = 0;
        s_send(COMMIT);
        committed = 1;
        s_state = S_DONE_COMMIT;
        goto idle;
#endif

abort_told:     /* the destination gave up first (REJECT, NACK) */
#ifdef ABORT_ACK
        s_send(ABORT);
        goto abort_unsent;
#endif
abort:  /* migrate__src_abort: the destination knows of the migration */
        s_send(ABORT);
#ifdef ABORT_ACK
        /* the proposed change: after the image went out, unfreeze only once
         * the destination said it discarded (NACK) or is known dead */
        if
        :: (s_state == S_SEND || s_state == S_VERIFY) && !s_gone ->
            do
            :: d2s ? m, mr ->
                if
                :: m == NACK -> break
                :: m == VERIFIED ->
                    s_send(ABORT);
                    if :: s_gone -> break :: else -> skip fi
                :: else -> skip
                fi
            :: S_TIMEOUT ->
                s_send(ABORT);
                if :: s_gone -> break :: else -> skip fi
            od
        :: else -> skip
        fi;
#endif
#ifdef PRECOPY
        goto abort_unsent;
abort_pre:      /* phase 1: nothing frozen, nothing runnable staged */
        s_send(ABORT);
        s_state = S_DONE_ABORT;
        goto idle;
#endif
abort_unsent:
        s_frozen = 0;                  /* ops->unfreeze */
        s_resumed = (s_state != S_FREEZE);
        s_state = S_DONE_ABORT;

idle:   /* IDLE: late messages are answered from the history */
end_idle:
        do
        :: d2s ? m, mr ->
            if
#if MUTANT == 2
            :: m == VERIFIED -> s_send(COMMIT)   /* forgets its own outcome */
#else
            :: m == VERIFIED && committed -> s_send(COMMIT)
            :: m == VERIFIED && !committed -> s_send(ABORT)
#endif
            :: m == VER_PRE && committed -> s_send(COMMIT)
            :: m == VER_PRE && !committed -> s_send(ABORT)
            :: m == ACCEPT && !committed -> s_send(ABORT)
#ifdef POSTCOPY
            :: m == FETCH && !committed -> s_send(ABORT)   /* ended without DONE */
#endif
            :: else -> skip
            fi
        od
    } unless { s_dead }
}

/* ---- destination ---- */
#ifdef ABORT_ACK
#define ABORT_ACKED d_send(NACK)
#else
#define ABORT_ACKED skip
#endif
inline discard() {
    atomic { d_got = 0; d_bad = 0; d_verified = 0; d_staged = 0; d_staged_bad = 0; d_pre_got = 0;
             d_pre_ok = 0 }
}

proctype Dest() {
    mtype m;
    byte mr;              /* the image a message is about */
    byte dr = 0;          /* the image being taken (0: no pre-copy) */
    bit d_gone = 0;
    byte d_tries = 0;
#ifdef POSTCOPY
    byte d_touch = 0;     /* pages a thread touched (each reported once) */
    byte pk = 0;          /* a page */
    bit refetch = 0;      /* a damaged packet was dropped: ask again */
#if MUTANT == 8
    byte d_landed = 0;    /* pages whose packet landed, damaged or not */
#endif
#endif
    {
end_wait:   /* IDLE, before the REQUEST */
        do
        :: s2d ? m, mr ->
            if
#ifdef PRECOPY
            :: m == REQ_PRE && mr == 1 -> break
#else
            :: m == REQUEST -> break
#endif
#ifdef ABORT_ACK
            :: m == ABORT -> d_send(NACK)
#endif
            :: else -> skip            /* ABORT/COMMIT of an unknown migration */
            fi
        od;
#ifdef PRECOPY
        /* a pre-copy round: accept or refuse (a refused round discards the
         * staged image under it), receive, verify, stage */
        dr = 1;
d_pre_round:
        if
        :: skip
        :: discard(); d_send(REJECT); goto done
        fi;
        d_state = R_RECV;
        d_pre_got = 0;
        d_send(ACCEPT);
        if :: d_gone -> discard(); goto done :: else -> skip fi;
        do
        :: d_pre_got == 1 -> break
        :: blk_pending ->
            atomic {
                blk_pending = 0;
                d_pre_got++;
                d_staged_bad = d_staged_bad || blk_corrupt;
                blk_done = 1
            }
        :: s_dead -> discard(); goto done
        :: s2d ? m, mr ->
            if
            :: m == REQ_PRE && mr == dr && d_pre_got == 0 ->
                d_send(ACCEPT);
                if :: d_gone -> discard(); goto done :: else -> skip fi
            :: m == ABORT -> discard(); ABORT_ACKED; goto done
            :: else -> skip
            fi
        :: D_TIMEOUT -> discard(); d_send(NACK); goto done
        od;
        if
        :: d_staged_bad -> discard(); d_send(NACK); goto done
        :: else -> atomic { d_staged = 1; d_pre_ok = dr }
        fi;
        d_state = R_STAGED;
        d_tries = 0;
        d_send(VER_PRE);
        if :: d_gone -> discard(); goto done :: else -> skip fi;
        do
        :: s2d ? m, mr ->
            if
            :: m == REQ_PRE && mr == dr + 1 -> dr++; goto d_pre_round   /* a further round */
            :: m == REQUEST && mr == dr + 1 -> break   /* the delta */
            :: m == ABORT -> discard(); ABORT_ACKED; goto done
            :: else -> skip
            fi
        :: D_TIMEOUT ->
            if
            :: d_tries <= RETRIES ->
                d_tries++;
                d_send(VER_PRE);
                if :: d_gone -> discard(); goto done :: else -> skip fi
            :: else -> discard(); d_send(NACK); goto done
            fi
        od;
        dr++;                          /* the delta's number */
#endif
        /* accept (room, same build) or refuse (a refused delta: the staged
         * image is discarded, migrate__on_request) */
        if
        :: skip
        :: discard(); d_send(REJECT); goto done
        fi;
        d_state = R_RECV;
        d_send(ACCEPT);
        if :: d_gone -> discard(); goto done :: else -> skip fi;
        do
        :: d_got == NBLOCKS -> break
        :: blk_pending ->              /* a block lands; restore_feed */
            atomic {
                blk_pending = 0;
                d_got++;
                d_bad = d_bad || blk_corrupt;
                blk_done = 1
            }
        :: s_dead ->                   /* the posted read names the source */
#if MUTANT == 3
            d_run = 1; goto done       /* takes over what it has */
#else
            discard(); goto done
#endif
        :: s2d ? m, mr ->
            if
            :: m == REQUEST && mr == dr && d_got == 0 ->   /* a duplicate: answer again */
                d_send(ACCEPT);
                if :: d_gone -> discard(); goto done :: else -> skip fi
            :: m == ABORT -> discard(); ABORT_ACKED; goto done
            :: else -> skip
            fi
        :: D_TIMEOUT -> discard(); d_send(NACK); goto done
        od;
        /* restore_end: the image CRCs */
#if MUTANT == 1
        d_verified = 1;                /* skips the check */
#else
        if
        :: d_bad -> discard(); d_send(NACK); goto done
        :: else -> d_verified = 1
        fi;
#endif
        d_state = R_COMMIT;
        d_send(VERIFIED);
        if :: d_gone -> goto src_gone :: else -> skip fi;   /* the source died */
        do
#ifdef POSTCOPY
        :: atomic { s2d ? m, mr ->     /* COMMIT: R_POST at once (migrate__on_commit) */
            if
            :: m == COMMIT -> m = 0; d_run = 1; d_state = R_POST; goto activate
            :: m == ABORT -> m = 0; mr = 0; discard(); ABORT_ACKED; goto done
            :: else -> m = 0; mr = 0
            fi }
        :: atomic { D_POST_TIMEOUT -> D_TICK };
            d_send(VERIFIED);
            if :: d_gone -> goto src_gone :: else -> skip fi
#else
        :: s2d ? m, mr ->
            if
            :: m == COMMIT -> goto activate
            :: m == ABORT -> discard(); ABORT_ACKED; goto done
            :: else -> skip
            fi
#endif
#if defined(POSTCOPY)
#elif MUTANT == 5
        :: D_TIMEOUT -> goto activate  /* gives up waiting and runs */
#else
        :: D_TIMEOUT ->
            d_send(VERIFIED);
            if :: d_gone -> goto src_gone :: else -> skip fi
#endif
        od;
src_gone:   /* the source is dead, the image verified: it may have committed */
#ifdef POSTCOPY
        goto lost;                     /* ... but its pages died with it */
#endif
activate:
#ifdef POSTCOPY
        /* COMMIT: migrate__dst_post_start (postcopy_activate: the container
         * runs with its lazy pages missing; a read posted), R_POST:
         * migrate__dst_post */
        atomic { d_run = 1; d_state = R_POST };
        do
        :: atomic { blk_pending ->     /* a packet lands; migrate__dst_packet */
               blk_pending = 0;
               blk_done = 1;
               pk = blk_pg;
               blk_pg = 0;
#if MUTANT == 8
               d_landed = d_landed | (1 << pk);
#endif
               if
#if MUTANT == 9
               :: !((d_pg >> pk) & 1) ->   /* installs it unchecked */
                   d_pg = d_pg | (1 << pk);
                   if :: blk_corrupt -> d_pg_bad = d_pg_bad | (1 << pk) :: else -> skip fi
               :: else -> skip
#else
               :: blk_corrupt -> refetch = 1   /* migrate_pages_check fails: dropped */
               :: !blk_corrupt && !((d_pg >> pk) & 1) ->
                   d_pg = d_pg | (1 << pk);   /* pages_install: a missing page */
#ifdef LIVE
                   d_tries = 0
#else
                   skip
#endif
               :: else -> skip                  /* a page already in stays as it is */
#endif
               fi;
               blk_corrupt = 0;
               pk = 0;
#if MUTANT == 8
               if :: d_landed == ALL_PAGES -> goto all_in :: else -> skip fi;
#else
               if :: d_pg == ALL_PAGES -> goto all_in :: else -> skip fi;   /* pages_missing 0 */
#endif
               if
               :: refetch ->                   /* its pages asked again */
                   refetch = 0;
                   want_again();
                   d_fetch();
                   if :: d_gone -> goto lost :: else -> skip fi
               :: else -> skip
               fi
           }
        /* a thread touches a page it never touched: a missing one faults,
         * pages_wanted(0) reports it, FETCH */
        :: atomic {
               (d_touch | d_pg) != ALL_PAGES ->
               if
               :: !((d_touch | d_pg) & 1) -> pk = 0
               :: NPAGES > 1 && !(((d_touch | d_pg) >> 1) & 1) -> pk = 1
               :: NPAGES > 2 && !(((d_touch | d_pg) >> 2) & 1) -> pk = 2
               fi;
               d_touch = d_touch | (1 << pk)
           };
            d_fetch();
            if :: d_gone -> goto lost :: else -> skip fi
        :: atomic { s2d ? m, mr ->
            if
            :: m == ABORT -> m = 0; mr = 0; goto lost   /* the source gave up serving pages */
            :: else -> skip                     /* a repeated COMMIT */
            fi;
            m = 0; mr = 0 }
        :: s_dead -> goto lost                  /* the posted read names the source */
        :: atomic { D_POST_TIMEOUT -> D_TICK }; /* no new page for a timeout */
#ifdef LIVE
            d_tries++;
            if :: d_tries > D_POST_TRIES -> goto lost :: else -> skip fi;
#else
            if :: goto lost :: skip fi;         /* gives up (after any count) */
#endif
#if MUTANT == 12
            skip                                /* does not ask again */
#else
            want_again();                       /* pages_wanted(1) */
            d_fetch();
            if :: d_gone -> goto lost :: else -> skip fi
#endif
        od;
all_in:     /* every page is in: DONE, the read withdrawn */
        d_send(DONE);
        goto done;
lost:       /* migrate__dst_lost: the container must not run on with pages
             * missing (postcopy_fail; discard before it ran), NACK */
#if MUTANT == 11
        skip;                                   /* runs on with what it has */
#else
        atomic { d_run = 0; d_pg = 0; d_pg_bad = 0 };
        discard();
#endif
        d_send(NACK);
        goto done;
#else
        d_run = 1;
#endif
done:
        d_state = R_DONE;
end_idle:   /* IDLE: late messages are recalled and ignored */
        do
#ifdef POSTCOPY
        /* ... and a repeated post-copy COMMIT answered from the history:
         * DONE if every page came, NACK if the container was lost here */
        :: s2d ? m, mr ->
            if
#ifdef ABORT_ACK
            :: m == ABORT && !d_run -> d_send(NACK)
#endif
            :: m == COMMIT && d_run -> d_send(DONE)
            :: m == COMMIT && !d_run -> d_send(NACK)
            :: else -> skip
            fi
#elif defined(ABORT_ACK)
        :: s2d ? m, mr -> if :: m == ABORT && !d_run -> d_send(NACK) :: else -> skip fi
#else
        :: s2d ? m, mr
#endif
        od
    } unless { d_dead }
}

/* ---- environment ---- */
active proctype Net() {
    mtype m;
    byte mr;
end_net:
    do
    /* loss (a message whose CRC fails is dropped the same way) */
    :: atomic { n_loss < MAXLOSS && nempty(s2d) -> s2d ? m, mr; n_loss++ }
    :: atomic { n_loss < MAXLOSS && nempty(d2s) -> d2s ? m, mr; n_loss++ }
    :: atomic { n_loss < MAXLOSS && blk_pending -> blk_pending = 0; BLK_CLEAR; n_loss++ }
    /* duplication: a copy arrives later */
    :: atomic { n_dup < MAXDUP && nempty(s2d) && nfull(s2d) -> s2d ? <m, mr>; s2d ! m, mr; n_dup++ }
    :: atomic { n_dup < MAXDUP && nempty(d2s) && nfull(d2s) -> d2s ? <m, mr>; d2s ! m, mr; n_dup++ }
    /* reordering: the first message is overtaken */
    :: atomic { n_reorder < MAXREORDER && len(s2d) > 1 -> s2d ? m, mr; s2d ! m, mr; n_reorder++ }
    :: atomic { n_reorder < MAXREORDER && len(d2s) > 1 -> d2s ? m, mr; d2s ! m, mr; n_reorder++ }
    /* a corrupted block still completes */
    :: atomic { n_corrupt < MAXCORRUPT && blk_pending && !blk_corrupt -> blk_corrupt = 1; n_corrupt++ }
    od
}

/* a crashed node stops; messages on the wire to it are lost (its own
 * messages already on the wire still arrive) */
active proctype Crash() {
    mtype m;
    byte mr;
    if
    :: atomic {
        s_dead = 1;
        do :: d2s ? m, mr :: empty(d2s) -> break od
       }
    :: atomic {
        d_dead = 1;
        do :: s2d ? m, mr :: empty(s2d) -> break od;
        blk_pending = 0
       }
    :: skip
    fi
}

/* (1) and (2) in every state */
active proctype Invariant() {
end_inv:
    atomic { !SAFE -> assert(ONE_RUNS); assert(VERIFIED_RUNS)
#ifdef POSTCOPY
             ; assert(OWNER); assert(PAGES_OK)
#endif
    }
}

/* (3) when nothing can move any more (every process ended or blocked in an
 * end state): exactly one copy runs unless the node holding the only copy
 * died, and no frozen or staged copy is left behind */
active proctype Settled() {
    timeout ->
    assert(ONE_RUNS);
    assert(VERIFIED_RUNS);
    assert(d_dead || DRUN || (d_got == 0 && !d_staged)); /* destination wiped */
    assert(s_dead || !s_copy || !s_frozen);        /* source not left frozen */
#ifdef POSTCOPY
    /* post-copy, past the commit point: the container runs at the
     * destination with every page in (PAGES_OK), or the destination gave it
     * up (UAREA_EPAGESLOST; or, still in R_COMMIT, on the ABORT of a source
     * that gave up) and the source did not report success: a source that
     * ended on DONE leaves it running there */
    assert(!s_post_ok || d_dead || DRUN);
#ifdef LIVE
    /* ... and with the timeouts of LIVE, unless a node crashed, it succeeds */
    assert(!s_dropped || s_dead || d_dead || s_post_ok);
#endif
    if
    :: !s_dead && !d_dead && !s_dropped -> assert(SRUN && !DRUN)
    :: d_dead && !s_dead && !s_dropped -> assert(SRUN)
    :: else -> skip        /* past the commit point: above */
    fi
#else
    if
    :: !s_dead && !d_dead -> assert(SRUN != DRUN)
    :: d_dead && !s_dead && !s_dropped -> assert(SRUN)
    :: s_dead && !d_dead && s_dropped -> assert(DRUN)
    :: else -> skip        /* the node holding the only copy died: the
                            * source before the commit point, or the
                            * destination after it */
    fi
#endif
}

init {
    atomic { run Source(); run Dest() }
}

/* The same properties as LTL formulas (check.sh runs them too). */
ltl never_both { [] ONE_RUNS }
ltl verified_only { [] VERIFIED_RUNS }
/* What the protocol documents as its one deliberate choice ("Why exactly one
 * copy runs"): a copy older than what the source ran may be activated after
 * the source aborted and died. check.sh expects this formula to FAIL. */
ltl never_stale { [] !(DRUN && s_resumed) }
/* Liveness, under weak fairness and with LIVE: every run settles
 * (both nodes finished or dead). check.sh runs it with -a -f. */
#define SETTLED ((s_dead || s_state == S_DONE_COMMIT || s_state == S_DONE_ABORT) && \
                 (d_dead || d_state == R_DONE || (d_state == R_IDLE && s_state == S_DONE_ABORT)))
ltl settles { <> [] SETTLED }

/* Mutants (MUTANT=n), each a plausible bug that spin must catch:
 *   1 the destination skips restore_end            -> (2) unverified copy runs
 *   2 the source answers every late VERIFIED with COMMIT -> (1) two copies
 *   3 the destination activates when the source dies in R_RECV -> (2)
 *   4 the source commits on a timeout in S_VERIFY  -> (3) container lost
 *   5 the destination activates on a timeout in R_COMMIT -> (1) two copies
 *   6 (PRECOPY) the source takes a late VER_PRE for the delta's VERIFIED
 *                                                  -> (2) unverified copy runs
 *   7 (PRECOPY, PRE_ROUNDS > 1) the source counts a round it described and
 *     then declined (its policy stopped the rounds) as staged: its delta
 *     leaves out what that round held        -> (2) an incomplete copy runs
 *   8 (POSTCOPY) the destination sends DONE once a packet of every page has
 *     landed, counting a damaged one: DONE with a page missing -> (2b)
 *   9 (POSTCOPY) the destination installs a packet without checking it
 *                                                  -> (2b) a damaged page
 *   10 (POSTCOPY) the source drops its copy, reporting success, as soon as
 *     the push is out, without waiting for DONE: a page whose packet was
 *     lost is gone               -> (3) success reported, container lost
 *   11 (POSTCOPY) the destination that loses the source does not stop the
 *     container (no postcopy_fail): it runs on with pages missing -> (2b)
 *   12 (POSTCOPY, LIVE) the destination does not FETCH a missing page after
 *     a timeout: a pushed packet lost, the page never comes
 *                                   -> (3c) post-copy fails with no crash
 */
