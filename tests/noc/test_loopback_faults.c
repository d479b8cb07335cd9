/* The loopback transport's faults: each kind scripted on one exact packet and
 * drawn at random from a fixed seed, checking exactly what arrives; crashes in
 * the middle of a portal transfer; determinism of the trace. */
#define UAREA_IMPLEMENTATION
#include <noc/loopback.h>
#include <criterion/criterion.h>
#include <string.h>

static noc_loopback LB;
static noc_transport T[8];

/* The trace, recorded for checks. */
#define EV_MAX 20000
static noc_loopback_event EV[EV_MAX];
static int NEV;

static void record(void *arg, const noc_loopback_event *ev)
{
    (void)arg;
    if (NEV < EV_MAX) EV[NEV++] = *ev;
}

static int count_events(int what, unsigned kind)
{
    int i, n = 0;
    for (i = 0; i < NEV; i++) n += EV[i].what == what && EV[i].kind == kind;
    return n;
}

/* Every packet sent ends once: delivered, discarded or dropped (a duplicate
 * counts as one more packet). Holds whenever nothing is in flight. */
static void check_conservation(unsigned kind)
{
    int born = count_events(NOC_LB_EV_SEND, kind) + count_events(NOC_LB_DUP, kind);
    int ended = count_events(NOC_LB_EV_DELIVER, kind) + count_events(NOC_LB_EV_DISCARD, kind) +
                count_events(NOC_LB_DROP, kind);
    cr_assert_eq(noc_loopback_in_flight(&LB), 0);
    cr_assert_eq(born, ended, "kind %u: %d packets sent, %d ended", kind, born, ended);
}

static void boot_with(int nodes, const noc_loopback_faults *f)
{
    int i;
    noc_loopback_desc d;
    memset(&d, 0, sizeof d);
    d.nodes = nodes;
    d.trace = record;
    if (f) d.faults = *f;
    NEV = 0;
    cr_assert_eq(noc_loopback_init(&LB, &d), 0);
    for (i = 0; i < nodes; i++) cr_assert_eq(noc_loopback_transport(&LB, i, &T[i]), 0);
}

static void boot4(void) { boot_with(4, NULL); }

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) b[i] = (unsigned char)((i * 197u + seed * 13u + (i >> 9)) & 0xffu);
}

/* Send `n` one-byte-numbered messages from node s to node d's port 0 (created
 * here) and read back what arrived, in order; returns how many. */
static int send_and_collect(int s, int d, int n, unsigned char *got, int cap)
{
    int in = noc_mailbox_create(&T[d], 0), out = noc_mailbox_open(&T[s], d, 0), i, k = 0, rc;
    unsigned char m[4], b[8];
    cr_assert_geq(in, 0);
    for (i = 0; i < n; i++) {
        m[0] = (unsigned char)i; m[1] = 0x5a; m[2] = 0xa5; m[3] = (unsigned char)~i;
        rc = noc_mailbox_write(&T[s], out, m, sizeof m, NOC_FOREVER);
        if (rc < 0) return rc;
    }
    noc_loopback_run_until_idle(&LB, 0);
    while ((rc = noc_mailbox_read(&T[d], in, b, sizeof b, 0)) > 0) {
        cr_assert_eq(rc, 4);
        cr_assert_lt(k, cap);
        memcpy(&got[4 * k], b, 4);
        k++;
    }
    cr_assert_eq(rc, UAREA_EAGAIN);
    return k;
}

/* ---- rules ---- */
Test(faults_script, rule_checks, .init = boot4)
{
    int i;
    cr_assert_eq(noc_loopback_script(&LB, 0, NOC_LB_ANY, 0, 1, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_script(&LB, 6, NOC_LB_ANY, 0, 1, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, 0, 0, 1, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, 4, 0, 1, 1, 0), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, 0, 1, 0, 0), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, 4, 1, 1, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, 0, -2, 1, 0), UAREA_EBADNODE);
    cr_assert_eq(noc_loopback_rules_pending(&LB), 0);
    for (i = 0; i < NOC_LOOPBACK_RULES; i++)
        cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 1000, 0), i);
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_ANY, -1, -1, 1, 0), UAREA_ENOMEM);
    cr_assert_eq(noc_loopback_rules_pending(&LB), NOC_LOOPBACK_RULES);
}

Test(faults_script, rules_count_only_their_link_and_fire_once, .init = boot4)
{
    unsigned char got[4 * 16];
    int n, in2, out2;
    /* node 2 -> 1 traffic must not advance a rule for 0 -> 1 */
    cr_assert_eq(noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, 2, 0), 0);
    in2 = noc_mailbox_create(&T[1], 5);
    out2 = noc_mailbox_open(&T[2], 1, 5);
    cr_assert_eq(noc_mailbox_write(&T[2], out2, "aaaa", 4, 0), 4);
    cr_assert_eq(noc_mailbox_write(&T[2], out2, "bbbb", 4, 0), 4);
    n = send_and_collect(0, 1, 5, got, 16);
    cr_assert_eq(n, 4);
    cr_assert_eq(got[0], 0);
    cr_assert_eq(got[4], 2, "the 2nd message from 0 to 1 was dropped");
    cr_assert_eq(got[8], 3);
    cr_assert_eq(got[12], 4);
    cr_assert_eq(noc_loopback_rules_pending(&LB), 0);
    (void)in2;
}

/* ---- scripted faults on mailbox messages ---- */
Test(faults_script, drop_a_message, .init = boot4)
{
    unsigned char got[4 * 16];
    noc_loopback_stats st;
    noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, 3, 0);
    cr_assert_eq(send_and_collect(0, 1, 5, got, 16), 4);
    cr_assert_eq(got[0], 0);
    cr_assert_eq(got[4], 1);
    cr_assert_eq(got[8], 3);
    cr_assert_eq(got[12], 4);
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_eq(st.msgs_sent, 5);
    cr_assert_eq(st.dropped, 1);
    noc_loopback_get_stats(&LB, 1, &st);
    cr_assert_eq(st.msgs_delivered, 4);
    cr_assert_eq(count_events(NOC_LB_DROP, NOC_LB_MAILBOX), 1);
}

Test(faults_script, duplicate_a_message, .init = boot4)
{
    unsigned char got[4 * 16];
    noc_loopback_stats st;
    noc_loopback_script(&LB, NOC_LB_DUP, NOC_LB_MAILBOX, 0, 1, 2, 0);
    cr_assert_eq(send_and_collect(0, 1, 4, got, 16), 5);
    cr_assert_eq(got[0], 0);
    cr_assert_eq(got[4], 1);
    cr_assert_eq(got[8], 1, "the 2nd message arrives twice, in place");
    cr_assert_eq(got[12], 2);
    cr_assert_eq(got[16], 3);
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_eq(st.duplicated, 1);
}

Test(faults_script, delay_a_message_reorders, .init = boot4)
{
    unsigned char got[4 * 16];
    noc_loopback_stats st;
    noc_loopback_script(&LB, NOC_LB_DELAY, NOC_LB_MAILBOX, 0, 1, 1, 1000000);
    cr_assert_eq(send_and_collect(0, 1, 3, got, 16), 3);
    cr_assert_eq(got[0], 1);
    cr_assert_eq(got[4], 2);
    cr_assert_eq(got[8], 0, "the delayed first message comes last");
    cr_assert_geq(noc_loopback_now(&LB), 1000000u);
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_eq(st.delayed, 1);
}

Test(faults_script, corrupt_a_message_flips_one_bit, .init = boot4)
{
    unsigned char got[4 * 16];
    noc_loopback_stats st;
    /* "corrupt the 1st mailbox message from node 0 to node 3": bit 7 of byte 1 */
    noc_loopback_script(&LB, NOC_LB_CORRUPT, NOC_LB_MAILBOX, 0, 3, 1, 15);
    cr_assert_eq(send_and_collect(0, 3, 2, got, 16), 2);
    cr_assert_eq(got[0], 0);
    cr_assert_eq(got[1], 0x5a ^ 0x80);
    cr_assert_eq(got[2], 0xa5);
    cr_assert_eq(got[3], 0xff);
    cr_assert_eq(got[5], 0x5a, "the 2nd message is intact");
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_eq(st.corrupted, 1);
}

Test(faults_script, crash_a_node_at_its_nth_send, .init = boot4)
{
    unsigned char got[4 * 16];
    int rc;
    /* "crash node 2 when it sends its 5th message" */
    noc_loopback_script(&LB, NOC_LB_CRASH, NOC_LB_ANY, 2, -1, 5, 0);
    rc = send_and_collect(2, 1, 8, got, 16);
    cr_assert_eq(rc, UAREA_EPEERGONE, "the 5th write fails: its node is gone");
    cr_assert_eq(noc_loopback_alive(&LB, 2), 0);
    cr_assert_eq(count_events(NOC_LB_EV_SEND, NOC_LB_MAILBOX), 4);
    noc_loopback_run_until_idle(&LB, 0);
    {
        unsigned char b[8];
        int i;
        for (i = 0; i < 4; i++) {
            cr_assert_eq(noc_mailbox_read(&T[1], 0, b, sizeof b, 0), 4, "message %d", i);
            cr_assert_eq(b[0], i);
        }
        cr_assert_eq(noc_mailbox_read(&T[1], 0, b, sizeof b, 0), UAREA_EAGAIN);
    }
}

/* ---- scripted faults on portal chunks ---- */
enum { XFER = 5 * NOC_PORTAL_CHUNK };
static unsigned char SRC[XFER], DST[XFER];

/* Node w writes XFER bytes to node r; both sides started. */
static void start_transfer(int r, int w, int *in, int *out)
{
    fill(SRC, sizeof SRC, 11);
    memset(DST, 0, sizeof DST);
    *in = noc_portal_create(&T[r], 1);
    *out = noc_portal_open(&T[w], 2, r, 1);
    cr_assert_eq(noc_portal_allow(&T[r], *in, w, 2), 0);
    cr_assert_eq(noc_portal_aread(&T[r], *in, DST, sizeof DST), 0);
    cr_assert_eq(noc_portal_awrite(&T[w], *out, SRC, sizeof SRC), 0);
}

Test(faults_chunk, drop_a_chunk_the_reader_times_out, .init = boot4)
{
    int in, out;
    size_t c;
    /* "drop the 3rd portal chunk from node 1 to 2" */
    noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_CHUNK, 1, 2, 3, 0);
    start_transfer(2, 1, &in, &out);
    cr_assert_eq(noc_portal_wait(&T[2], in, 1000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_poll(&T[1], out), UAREA_EAGAIN, "the writer never completes either");
    for (c = 0; c < 5; c++) {
        int same = memcmp(SRC + c * NOC_PORTAL_CHUNK, DST + c * NOC_PORTAL_CHUNK, NOC_PORTAL_CHUNK) == 0;
        cr_assert_eq(same, c != 2, "chunk %zu", c);
    }
    cr_assert_eq(noc_portal_cancel(&T[2], in), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_poll(&T[1], out), UAREA_ECANCELED, "both sides end");
    cr_assert_eq(count_events(NOC_LB_DROP, NOC_LB_CHUNK), 1);
    cr_assert_eq(count_events(NOC_LB_EV_DELIVER, NOC_LB_CHUNK), 4);
}

Test(faults_chunk, dropped_chunk_sync_read_times_out, .init = boot4)
{
    int in = noc_portal_create(&T[2], 1), out = noc_portal_open(&T[1], 2, 2, 1);
    fill(SRC, sizeof SRC, 1);
    noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_CHUNK, 1, 2, 1, 0);
    noc_portal_allow(&T[2], in, 1, 2);
    cr_assert_eq(noc_portal_awrite(&T[1], out, SRC, sizeof SRC), 0);
    cr_assert_eq(noc_portal_read(&T[2], in, DST, sizeof DST, 5000000), UAREA_ETIMEDOUT);
    cr_assert_eq(noc_portal_wait(&T[1], out, NOC_FOREVER), UAREA_ECANCELED);
    cr_assert_eq(noc_portal_aread(&T[2], in, DST, sizeof DST), UAREA_ENOTALLOWED, "allow consumed");
}

Test(faults_chunk, dropped_chunk_forever_is_estalled, .init = boot4)
{
    int in, out;
    noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_CHUNK, 1, 2, 5, 0);
    start_transfer(2, 1, &in, &out);
    cr_assert_eq(noc_portal_wait(&T[1], out, NOC_FOREVER), UAREA_ESTALLED);
    cr_assert_eq(noc_portal_poll(&T[2], in), UAREA_ECANCELED);
    cr_assert_eq(memcmp(SRC, DST, 4 * NOC_PORTAL_CHUNK), 0, "the first four chunks landed");
}

Test(faults_chunk, corrupt_a_chunk_flips_exactly_one_bit, .init = boot4)
{
    int in, out;
    size_t i, diff = 0, at = 0;
    noc_loopback_script(&LB, NOC_LB_CORRUPT, NOC_LB_CHUNK, 1, 2, 2, 8 * 100 + 3);
    start_transfer(2, 1, &in, &out);
    cr_assert_eq(noc_portal_wait(&T[2], in, NOC_FOREVER), XFER, "a corrupted transfer completes");
    cr_assert_eq(noc_portal_poll(&T[1], out), XFER);
    for (i = 0; i < XFER; i++)
        if (SRC[i] != DST[i]) { diff++; at = i; }
    cr_assert_eq(diff, 1);
    cr_assert_eq(at, NOC_PORTAL_CHUNK + 100, "byte 100 of the 2nd chunk");
    cr_assert_eq(SRC[at] ^ DST[at], 1u << 3);
}

Test(faults_chunk, duplicate_chunk_is_discarded, .init = boot4)
{
    int in, out;
    noc_loopback_stats st;
    noc_loopback_script(&LB, NOC_LB_DUP, NOC_LB_CHUNK, 1, 2, 4, 0);
    start_transfer(2, 1, &in, &out);
    cr_assert_eq(noc_portal_wait(&T[2], in, NOC_FOREVER), XFER);
    cr_assert_eq(memcmp(SRC, DST, XFER), 0);
    noc_loopback_run_until_idle(&LB, 0);
    noc_loopback_get_stats(&LB, 2, &st);
    cr_assert_eq(st.chunks_delivered, 5);
    cr_assert_eq(st.discarded, 1);
    noc_loopback_get_stats(&LB, 1, &st);
    cr_assert_eq(st.duplicated, 1);
}

Test(faults_chunk, delayed_chunk_arrives_last_and_data_is_whole, .init = boot4)
{
    int in, out, i, last = -1;
    noc_loopback_script(&LB, NOC_LB_DELAY, NOC_LB_CHUNK, 1, 2, 1, 50000);
    start_transfer(2, 1, &in, &out);
    cr_assert_eq(noc_portal_wait(&T[2], in, NOC_FOREVER), XFER);
    cr_assert_eq(memcmp(SRC, DST, XFER), 0);
    for (i = 0; i < NEV; i++)
        if (EV[i].what == NOC_LB_EV_DELIVER && EV[i].kind == NOC_LB_CHUNK) last = (int)EV[i].index;
    cr_assert_eq(last, 0, "chunk 0 was overtaken by the others");
    cr_assert_geq(noc_loopback_now(&LB), 50000u);
}

/* ---- crashes in the middle of a portal transfer ---- */
Test(faults_crash, writer_crashes_mid_transfer, .init = boot4)
{
    int in, out;
    start_transfer(2, 1, &in, &out);
    cr_assert_gt(noc_loopback_step(&LB), 0);           /* first window delivered */
    cr_assert_eq(noc_portal_poll(&T[2], in), UAREA_EAGAIN);
    cr_assert_eq(noc_loopback_crash(&LB, 1), 0);
    cr_assert_eq(noc_portal_wait(&T[2], in, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_poll(&T[1], out), UAREA_EPEERGONE, "the dead node's own calls");
    check_conservation(NOC_LB_CHUNK);
    cr_assert_gt(count_events(NOC_LB_EV_DISCARD, NOC_LB_CHUNK), 0, "chunks lost with the writer");
    cr_assert_eq(noc_portal_aread(&T[2], in, DST, sizeof DST), UAREA_ENOTALLOWED);
}

Test(faults_crash, reader_crashes_mid_transfer, .init = boot4)
{
    int in, out;
    start_transfer(2, 1, &in, &out);
    cr_assert_gt(noc_loopback_step(&LB), 0);
    noc_loopback_crash(&LB, 2);
    cr_assert_eq(noc_portal_wait(&T[1], out, NOC_FOREVER), UAREA_EPEERGONE);
    check_conservation(NOC_LB_CHUNK);
    cr_assert_eq(noc_portal_awrite(&T[1], out, SRC, 1), UAREA_EPEERGONE);
}

Test(faults_crash, scripted_crash_at_a_chunk, .init = boot4)
{
    int in, out;
    noc_loopback_stats st;
    /* node 1 dies instead of sending its 3rd chunk to node 2 */
    noc_loopback_script(&LB, NOC_LB_CRASH, NOC_LB_CHUNK, 1, 2, 3, 0);
    fill(SRC, sizeof SRC, 4);
    in = noc_portal_create(&T[2], 1);
    out = noc_portal_open(&T[1], 2, 2, 1);
    noc_portal_allow(&T[2], in, 1, 2);
    cr_assert_eq(noc_portal_aread(&T[2], in, DST, sizeof DST), 0);
    /* the first window goes out inside awrite: the writer dies in the call */
    cr_assert_eq(noc_portal_awrite(&T[1], out, SRC, sizeof SRC), UAREA_EPEERGONE);
    cr_assert_eq(noc_portal_wait(&T[2], in, NOC_FOREVER), UAREA_EPEERGONE);
    cr_assert_eq(noc_loopback_alive(&LB, 1), 0);
    noc_loopback_get_stats(&LB, 1, &st);
    cr_assert_eq(st.chunks_sent, 2);
    cr_assert_eq(st.crashed, 1);
    cr_assert_eq(count_events(NOC_LB_CRASH, 0), 1);
}

/* ---- random faults from a fixed seed ---- */
/* Node 1 sends N numbered messages (with a check byte) to node 0; return what
 * the trace says was sent with which fault, and check exactly that arrived. */
static void random_mailbox_run(uint64_t seed, int n, uint64_t *hash, noc_loopback_stats *st)
{
    noc_loopback_faults f;
    int in, out, i, rc, sent = 0, arrived = 0, corrupted_seen = 0;
    static int copies[4096], corrupt[4096];
    unsigned char m[8], b[8];
    memset(&f, 0, sizeof f);
    f.seed = seed;
    f.drop_ppm = 100000;
    f.dup_ppm = 100000;
    f.delay_ppm = 100000;
    f.corrupt_ppm = 100000;
    boot_with(2, &f);
    in = noc_mailbox_create(&T[0], 0);
    out = noc_mailbox_open(&T[1], 0, 0);
    memset(copies, 0, sizeof copies);
    memset(corrupt, 0, sizeof corrupt);
    for (i = 0; i < n; i++) {
        memcpy(m, &i, 4);
        for (rc = 0; rc < 4; rc++) m[4 + rc] = (unsigned char)~m[rc];
        rc = noc_mailbox_write(&T[1], out, m, sizeof m, NOC_FOREVER);
        cr_assert_eq(rc, 8);
        sent++;
        /* drain as we go so that credit never runs out */
        noc_loopback_step(&LB);
        while ((rc = noc_mailbox_read(&T[0], in, b, sizeof b, 0)) > 0) {
            int k, ok = 1;
            memcpy(&k, b, 4);
            for (rc = 0; rc < 4; rc++) ok &= b[4 + rc] == (unsigned char)~b[rc];
            if (k < 0 || k >= n || !ok) { corrupted_seen++; continue; }
            copies[k]++;
            arrived++;
        }
    }
    noc_loopback_run_until_idle(&LB, 0);
    while ((rc = noc_mailbox_read(&T[0], in, b, sizeof b, 0)) > 0) {
        int k, ok = 1;
        memcpy(&k, b, 4);
        for (rc = 0; rc < 4; rc++) ok &= b[4 + rc] == (unsigned char)~b[rc];
        if (k < 0 || k >= n || !ok) { corrupted_seen++; continue; }
        copies[k]++;
        arrived++;
    }
    /* compare with the trace: the index of a mailbox event is the 1-based
     * count on its link, i.e. message number + 1 */
    for (i = 0; i < NEV; i++) {
        int k = (int)EV[i].index - 1;
        if (EV[i].kind != NOC_LB_MAILBOX) continue;
        cr_assert(k >= 0 && k < n);
        if (EV[i].what == NOC_LB_CORRUPT) corrupt[k] = 1;
    }
    for (i = 0; i < n; i++) {
        int expect = 1, j;
        for (j = 0; j < NEV; j++) {
            if (EV[j].kind != NOC_LB_MAILBOX || (int)EV[j].index - 1 != i) continue;
            if (EV[j].what == NOC_LB_DROP) expect = 0;
            if (EV[j].what == NOC_LB_DUP) expect = 2;
        }
        if (corrupt[i]) {
            /* a flip in the number or the check bytes shows; count it there */
            cr_assert_eq(copies[i], 0, "corrupted message %d arrived intact", i);
        } else {
            cr_assert_eq(copies[i], expect, "message %d: %d copies, expected %d", i, copies[i],
                         expect);
        }
    }
    check_conservation(NOC_LB_MAILBOX);
    cr_assert_eq(noc_loopback_get_stats(&LB, 1, st), 0);
    cr_assert_eq((int)st->corrupted, corrupted_seen, "every corruption is seen by the reader");
    cr_assert_eq(sent, n);
    *hash = noc_loopback_trace_hash(&LB);
}

Test(faults_random, each_kind_with_a_fixed_seed_exactly_what_arrives)
{
    noc_loopback_stats st;
    uint64_t h;
    random_mailbox_run(42, 400, &h, &st);
    cr_assert_eq(st.msgs_sent, 400);
    /* with 10% each over 400 messages, every kind shows up */
    cr_assert_gt(st.dropped, 0);
    cr_assert_gt(st.duplicated, 0);
    cr_assert_gt(st.delayed, 0);
    cr_assert_gt(st.corrupted, 0);
    cr_assert_lt(st.dropped + st.duplicated + st.delayed + st.corrupted, 400);
}

Test(faults_random, delay_breaks_per_sender_order)
{
    noc_loopback_faults f;
    int in, out, i, prev = -1, inversions = 0;
    unsigned char b[8];
    memset(&f, 0, sizeof f);
    f.seed = 7;
    f.delay_ppm = 300000;
    boot_with(2, &f);
    in = noc_mailbox_create(&T[0], 0);
    out = noc_mailbox_open(&T[1], 0, 0);
    for (i = 0; i < NOC_LOOPBACK_MAILBOX_DEPTH; i++)
        cr_assert_eq(noc_mailbox_write(&T[1], out, &i, sizeof i, 0), (int)sizeof i);
    noc_loopback_run_until_idle(&LB, 0);
    for (i = 0; i < NOC_LOOPBACK_MAILBOX_DEPTH; i++) {
        int k;
        cr_assert_eq(noc_mailbox_read(&T[0], in, b, sizeof b, 0), (int)sizeof k);
        memcpy(&k, b, sizeof k);
        inversions += k < prev;
        prev = k;
    }
    cr_assert_gt(inversions, 0, "with 30%% delays some message is overtaken");
}

Test(faults_random, kinds_mask_spares_mailboxes)
{
    noc_loopback_faults f;
    unsigned char got[4 * 64];
    memset(&f, 0, sizeof f);
    f.seed = 3;
    f.drop_ppm = 1000000;                 /* every chunk is lost ... */
    f.kinds = NOC_LB_CHUNK;               /* ... and only chunks */
    boot_with(2, &f);
    cr_assert_eq(send_and_collect(0, 1, 10, got, 64), 10);
    {
        int in = noc_portal_create(&T[1], 1), out = noc_portal_open(&T[0], 2, 1, 1);
        fill(SRC, sizeof SRC, 2);
        noc_portal_allow(&T[1], in, 0, 2);
        cr_assert_eq(noc_portal_aread(&T[1], in, DST, sizeof DST), 0);
        cr_assert_eq(noc_portal_write(&T[0], out, SRC, sizeof SRC, 1000000), UAREA_ETIMEDOUT);
        cr_assert_eq(noc_portal_poll(&T[1], in), UAREA_ECANCELED);
    }
}

Test(faults_random, random_chunk_faults_on_transfers)
{
    noc_loopback_faults f;
    int t, completed = 0, timed_out = 0;
    noc_loopback_stats st;
    memset(&f, 0, sizeof f);
    f.seed = 99;
    f.kinds = NOC_LB_CHUNK;
    f.drop_ppm = 20000;
    f.corrupt_ppm = 50000;
    f.dup_ppm = 50000;
    f.delay_ppm = 50000;
    boot_with(2, &f);
    {
        int in = noc_portal_create(&T[1], 1), out = noc_portal_open(&T[0], 2, 1, 1);
        for (t = 0; t < 40; t++) {
            int rc, c, flips = 0, dropped = 0, ev0 = NEV, i;
            fill(SRC, sizeof SRC, (unsigned)t);
            memset(DST, 0, sizeof DST);
            noc_portal_allow(&T[1], in, 0, 2);
            cr_assert_eq(noc_portal_aread(&T[1], in, DST, sizeof DST), 0);
            cr_assert_eq(noc_portal_awrite(&T[0], out, SRC, sizeof SRC), 0);
            rc = noc_portal_wait(&T[1], in, 10000000);
            for (i = ev0; i < NEV; i++) {
                flips += EV[i].what == NOC_LB_CORRUPT;
                dropped += EV[i].what == NOC_LB_DROP;
            }
            if (dropped) {
                cr_assert_eq(rc, UAREA_ETIMEDOUT, "transfer %d lost a chunk", t);
                cr_assert_eq(noc_portal_cancel(&T[1], in), UAREA_ECANCELED);
                cr_assert_eq(noc_portal_poll(&T[0], out), UAREA_ECANCELED);
                timed_out++;
                continue;
            }
            cr_assert_eq(rc, XFER, "transfer %d", t);
            cr_assert_eq(noc_portal_poll(&T[0], out), XFER);
            for (c = 0, i = 0; i < XFER; i++) c += __builtin_popcount((unsigned)(SRC[i] ^ DST[i]));
            cr_assert_eq(c, flips, "transfer %d: %d bits differ, %d flips", t, c, flips);
            completed++;
        }
    }
    noc_loopback_run_until_idle(&LB, 0);
    check_conservation(NOC_LB_CHUNK);
    cr_assert_gt(completed, 0);
    cr_assert_gt(timed_out, 0);
    noc_loopback_get_stats(&LB, 0, &st);
    cr_assert_gt(st.corrupted, 0);
    cr_assert_gt(st.duplicated, 0);
}

Test(faults_random, random_crash)
{
    noc_loopback_faults f;
    unsigned char got[4 * 64];
    int rc;
    memset(&f, 0, sizeof f);
    f.seed = 5;
    f.crash_ppm = 1000000;
    boot_with(2, &f);
    rc = send_and_collect(0, 1, 3, got, 64);
    cr_assert_eq(rc, UAREA_EPEERGONE);
    cr_assert_eq(noc_loopback_alive(&LB, 0), 0);
    cr_assert_eq(noc_loopback_alive(&LB, 1), 1);
}

Test(faults_random, set_faults_checks_and_reseeds)
{
    noc_loopback_faults f;
    memset(&f, 0, sizeof f);
    boot_with(2, NULL);
    f.drop_ppm = 1000001;
    cr_assert_eq(noc_loopback_set_faults(&LB, &f), UAREA_EINVAL);
    cr_assert_eq(noc_loopback_set_faults(&LB, NULL), UAREA_EINVAL);
    f.drop_ppm = 1000000;
    cr_assert_eq(noc_loopback_set_faults(&LB, &f), 0);
    {
        unsigned char got[4 * 8];
        noc_loopback_stats st;
        cr_assert_eq(send_and_collect(0, 1, 4, got, 8), 0, "everything dropped");
        noc_loopback_get_stats(&LB, 0, &st);
        cr_assert_eq(st.dropped, 4);
    }
}

/* ---- determinism ---- */
Test(faults_random, same_seed_same_trace)
{
    noc_loopback_stats a, b, c;
    uint64_t ha, hb, hc;
    static noc_loopback_event first[EV_MAX];
    int nfirst;
    random_mailbox_run(1234, 200, &ha, &a);
    memcpy(first, EV, sizeof EV);
    nfirst = NEV;
    random_mailbox_run(1234, 200, &hb, &b);
    cr_assert_eq(ha, hb);
    cr_assert_eq(nfirst, NEV);
    cr_assert_eq(memcmp(first, EV, (size_t)NEV * sizeof EV[0]), 0, "event by event");
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    random_mailbox_run(4321, 200, &hc, &c);
    cr_assert_neq(ha, hc, "another seed, another trace");
}

Test(faults_trace, every_event_exactly, .init = boot4)
{
    static const struct { int what; unsigned kind; int src, dst, port; uint32_t index, len;
                          uint64_t time; } want[] = {
        { NOC_LB_EV_SEND, NOC_LB_MAILBOX, 0, 1, 0, 1, 3, 0 },
        { NOC_LB_EV_SEND, NOC_LB_MAILBOX, 0, 1, 0, 2, 3, 0 },
        { NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, 0, 2, 3, 0 },
        { NOC_LB_EV_DELIVER, NOC_LB_MAILBOX, 0, 1, 0, 1, 3, NOC_LOOPBACK_LATENCY_NS },
        { NOC_LB_EV_SEND, NOC_LB_CHUNK, 1, 2, 1, 0, NOC_PORTAL_CHUNK, NOC_LOOPBACK_LATENCY_NS },
        { NOC_LB_EV_SEND, NOC_LB_CHUNK, 1, 2, 1, 1, 10, NOC_LOOPBACK_LATENCY_NS },
        { NOC_LB_EV_DELIVER, NOC_LB_CHUNK, 1, 2, 1, 0, NOC_PORTAL_CHUNK, 2 * NOC_LOOPBACK_LATENCY_NS },
        { NOC_LB_EV_DELIVER, NOC_LB_CHUNK, 1, 2, 1, 1, 10, 2 * NOC_LOOPBACK_LATENCY_NS },
        { NOC_LB_CRASH, 0, 3, 0, 0, 0, 0, 2 * NOC_LOOPBACK_LATENCY_NS },
    };
    int in = noc_mailbox_create(&T[1], 0), out = noc_mailbox_open(&T[0], 1, 0), pin, pout, i;
    char b[8];
    noc_loopback_script(&LB, NOC_LB_DROP, NOC_LB_MAILBOX, 0, 1, 2, 0);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "one", 3, 0), 3);
    cr_assert_eq(noc_mailbox_write(&T[0], out, "two", 3, 0), 3);
    cr_assert_eq(noc_mailbox_read(&T[1], in, b, sizeof b, NOC_FOREVER), 3);
    pin = noc_portal_create(&T[2], 1);
    pout = noc_portal_open(&T[1], 5, 2, 1);
    fill(SRC, sizeof SRC, 8);
    noc_portal_allow(&T[2], pin, 1, 5);
    cr_assert_eq(noc_portal_aread(&T[2], pin, DST, sizeof DST), 0);
    cr_assert_eq(noc_portal_write(&T[1], pout, SRC, NOC_PORTAL_CHUNK + 10, NOC_FOREVER),
                 NOC_PORTAL_CHUNK + 10);
    noc_loopback_crash(&LB, 3);
    cr_assert_eq(NEV, (int)(sizeof want / sizeof want[0]));
    for (i = 0; i < NEV; i++) {
        cr_assert_eq(EV[i].what, want[i].what, "event %d", i);
        cr_assert_eq(EV[i].kind, want[i].kind, "event %d", i);
        cr_assert_eq(EV[i].src, want[i].src, "event %d", i);
        cr_assert_eq(EV[i].dst, want[i].dst, "event %d", i);
        cr_assert_eq(EV[i].port, want[i].port, "event %d", i);
        cr_assert_eq(EV[i].index, want[i].index, "event %d", i);
        cr_assert_eq(EV[i].len, want[i].len, "event %d", i);
        cr_assert_eq(EV[i].time, want[i].time, "event %d", i);
    }
}
