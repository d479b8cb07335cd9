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
 * Every message carries the number of the image it is about (migrate_msg's
 * stamp: 0 without pre-copy, 1, 2, ... the pre-copy rounds, then the delta);
 * a side takes ACCEPT, VER_PRE, VERIFIED and REQUEST only of the image it is
 * at (the next, for a staged destination), as daemon.h does.
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
#define QLEN 2

mtype = { REQUEST, ACCEPT, REJECT, VERIFIED, NACK, COMMIT, ABORT, REQ_PRE, VER_PRE };

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

/* the portal: one block in flight from the source to the destination */
bit blk_pending = 0;  /* written, on the wire */
bit blk_corrupt = 0;
bit blk_done = 0;     /* the transfer completed (the source's write ends) */

/* budgets of the environment */
byte n_loss = 0, n_dup = 0, n_reorder = 0, n_corrupt = 0;

/* states (for the LTL formulas and trails) */
mtype = { S_IDLE, S_FREEZE, S_REQUEST, S_SEND, S_VERIFY, S_DONE_COMMIT, S_DONE_ABORT };
mtype = { R_IDLE, R_RECV, R_COMMIT, R_DONE, R_STAGED };
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
#define SAFE  (ONE_RUNS && VERIFIED_RUNS)

#ifdef LIVE
#define QUIET     (empty(s2d) && empty(d2s) && !(blk_pending && d_state == R_RECV && !d_dead))
#define S_TIMEOUT QUIET
#define D_TIMEOUT QUIET
#else
#define S_TIMEOUT true
#define D_TIMEOUT true
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

/* ---- source ---- */
proctype Source() {
    mtype m;
    byte mr;              /* the image a message is about */
    byte rnd = 0;         /* the image being sent (0: no pre-copy) */
    bit s_gone = 0;
    byte tries = 0;
    byte sent = 0;
    bit committed = 0;
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
        /* the commit point: drop, then COMMIT; a crash may fall in between */
        s_dropped = 1;
        s_copy = 0;
        s_send(COMMIT);
        committed = 1;
        s_state = S_DONE_COMMIT;
        goto idle;

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
        if :: d_gone -> goto activate :: else -> skip fi;   /* the source died */
        do
        :: s2d ? m, mr ->
            if
            :: m == COMMIT -> goto activate
            :: m == ABORT -> discard(); ABORT_ACKED; goto done
            :: else -> skip
            fi
#if MUTANT == 5
        :: D_TIMEOUT -> goto activate  /* gives up waiting and runs */
#else
        :: D_TIMEOUT ->
            d_send(VERIFIED);
            if :: d_gone -> goto activate :: else -> skip fi
#endif
        od;
activate:
        d_run = 1;
done:
        d_state = R_DONE;
end_idle:   /* IDLE: late messages are recalled and ignored */
        do
#ifdef ABORT_ACK
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
    :: atomic { n_loss < MAXLOSS && blk_pending -> blk_pending = 0; n_loss++ }
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
    atomic { !SAFE -> assert(ONE_RUNS); assert(VERIFIED_RUNS) }
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
    if
    :: !s_dead && !d_dead -> assert(SRUN != DRUN)
    :: d_dead && !s_dead && !s_dropped -> assert(SRUN)
    :: s_dead && !d_dead && s_dropped -> assert(DRUN)
    :: else -> skip        /* the node holding the only copy died: the
                            * source before the commit point, or the
                            * destination after it */
    fi
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
 */
