#!/usr/bin/env bash
# Model-checks tools/model/migrate.pml (the migration protocol of
# include/migrate/daemon.h) with spin:
#   1. safety: assertions (never two live copies, only a verified copy runs,
#      the outcome once everything settled) and invalid end states;
#   2. the LTL formula never_both (the same safety property, as a never claim);
#   3. liveness: the LTL formula settles under weak fairness (-DLIVE);
#   4. every mutant of the model (MUTANT=1..5) must be caught;
#   5. never_stale: the destination never runs a copy older than the state
#      the source resumed with;
#   6. pre-copy (-DPRECOPY) in up to two rounds before the delta
#      (-DPRE_ROUNDS=2: the source may stop after either): the safety run,
#      never_both, never_stale, the liveness run and mutants 6 and 7, with
#      one image block and smaller fault budgets (one loss, no extra
#      duplicate: the resends duplicate anyway);
#   7. post-copy (-DPOSTCOPY): the safety run with two lazy pages (one loss,
#      one corruption), a safety run with one page and a reordering, the
#      liveness run with one page (where, unless a node crashes, post-copy
#      must end with DONE), mutants 8 to 11 and mutant 12 (of the liveness
#      model), all with one image block.
# The model checks the protocol as include/migrate/daemon.h implements it:
# an aborting source stays frozen until the destination confirms (ABORT_ACK).
# Exits 0 when every check passed, 1 on any failure, 77 (skipped) when spin
# or gcc is missing, unless UAREA_REQUIRE_CROSS=1 (then a missing tool fails).
# About 6 min of CPU and 1.1 GB of memory.
# Usage: tools/model/check.sh [-v] [--no-abort-ack]
#   -v              show pan's full output
#   --no-abort-ack  check the earlier protocol, where an aborting source
#                   unfroze at once: never_stale then fails (informational)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model="$here/migrate.pml"
verbose=0 V=-DABORT_ACK
for arg in "$@"; do
    case $arg in
        -v) verbose=1 ;;
        --no-abort-ack) V= ;;
        *) echo "usage: $0 [-v] [--no-abort-ack]"; exit 2 ;;
    esac
done

for tool in spin gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        if [ "${UAREA_REQUIRE_CROSS:-0}" = 1 ]; then
            echo "FAIL: $tool not installed (scripts/test installs it)"; exit 1
        fi
        echo "SKIP: $tool not installed"; exit 77
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/uarea-model.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
cp "$model" migrate.pml

# pan's limits: depth (the deepest run is a few hundred steps) and memory (MB).
PAN_FLAGS=(-m20000 -w24)
CFLAGS=(-DCOLLAPSE -DMEMLIM=2048)
fails=0

# build NAME SPIN-DEFINES... -- CC-DEFINES...: spin -a, then gcc into pan.NAME
# (optimised for the full searches; mutants stop early, -O0 compiles faster)
opt=-O2
build() {
    local name=$1; shift
    local sd=() cd=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do sd+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    cd=("$@")
    mkdir -p "$name" && cp migrate.pml "$name/" || return 1
    (cd "$name" && spin "${sd[@]}" -a migrate.pml >spin.out 2>&1) ||
        { echo "FAIL: spin -a ($name)"; cat "$name/spin.out"; return 1; }
    (cd "$name" && gcc "$opt" "${CFLAGS[@]}" "${cd[@]}" -o pan pan.c >gcc.out 2>&1) ||
        { echo "FAIL: gcc pan.c ($name)"; cat "$name/gcc.out"; return 1; }
}

# run NAME LABEL [pan args...]: runs pan, leaves its output in NAME/LABEL.out
run() {
    local name=$1 label=$2; shift 2
    (cd "$name" && ./pan "${PAN_FLAGS[@]}" "$@" >"$label.out" 2>&1)
    [ $verbose = 1 ] && cat "$name/$label.out"
    return 0
}

errors_of() { sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | tail -1; }
states_of() { sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' "$1" | tail -1; }
summary() { # file: "N states, depth D, T s"
    local f=$1
    printf '%s states stored, %s transitions, depth %s, %s s' \
        "$(states_of "$f")" \
        "$(sed -n 's/^ *\([0-9]*\) transitions.*/\1/p' "$f" | tail -1)" \
        "$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$f" | tail -1)" \
        "$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\).*/\1/p' "$f" | tail -1)"
}

# expect_clean FILE LABEL: errors: 0, a complete search
expect_clean() {
    local f=$1 label=$2 e
    e=$(errors_of "$f")
    if [ "$e" != 0 ]; then
        echo "FAIL: $label: errors: ${e:-?}"; grep -E '^pan:' "$f" | head -5
        fails=$((fails + 1)); return
    fi
    if grep -q 'Search not completed\|max search depth too small\|out of memory' "$f"; then
        echo "FAIL: $label: search incomplete"; grep -E '^pan:|Warning' "$f" | head -5
        fails=$((fails + 1)); return
    fi
    echo "ok   $label: errors: 0; $(summary "$f")"
}

# 1. safety: assertions and invalid end states, no never claim
build safety $V -- -DSAFETY -DNOCLAIM || exit 1
run safety safety
expect_clean safety/safety.out "safety (assertions, end states)"

# 2. the LTL safety formula (verified_only is checked by the assertions)
build ltl $V -- -DSAFETY || exit 1
run ltl never_both -N never_both
expect_clean ltl/never_both.out "ltl never_both"

# 3. liveness: acceptance cycles under weak fairness, one loss fewer
build live $V -DLIVE -DMAXLOSS=1 -- -DNFAIR=3 || exit 1
run live settles -a -f -N settles
expect_clean live/settles.out "ltl settles (liveness, weak fairness)"

# 4. mutants: each must be caught
# expect_caught DIR WHAT: the run in DIR found an error (the mutant WHAT is caught)
expect_caught() {
    local e
    e=$(errors_of "$1/run.out")
    if [ -n "$e" ] && [ "$e" -gt 0 ]; then
        echo "ok   $2 caught: $(grep -m1 -E '^pan:1:' "$1/run.out" | sed 's/^pan:1: //')"
    else
        echo "FAIL: $2 not caught (errors: ${e:-?})"; fails=$((fails + 1))
    fi
}
for m in 1 2 3 4 5; do
    # (the mutants are of the earlier protocol: they show that the checks bite)
    opt=-O0 build "mutant$m" -DMUTANT=$m -- -DSAFETY -DNOCLAIM || exit 1
    run "mutant$m" run
    expect_caught "mutant$m" "mutant $m"
done

opt=-O2
# 5. no stale copy: required of the protocol as implemented; informational
#    for the earlier one
run ltl never_stale -N never_stale
if [ -n "$V" ]; then
    expect_clean ltl/never_stale.out "ltl never_stale"
else
    e=$(errors_of ltl/never_stale.out)
    if [ -n "$e" ] && [ "$e" -gt 0 ]; then
        echo "info never_stale: violated by the earlier protocol (a stale copy can be activated)"
    else
        echo "info never_stale: holds"
    fi
fi

# 6. pre-copy
PRE=(-DPRECOPY -DPRE_ROUNDS=2 -DNBLOCKS=1 -DMAXLOSS=1 -DMAXDUP=0)
build pre_safety $V "${PRE[@]}" -- -DSAFETY -DNOCLAIM || exit 1
run pre_safety safety
expect_clean pre_safety/safety.out "pre-copy: safety (assertions, end states)"
build pre_ltl $V "${PRE[@]}" -- -DSAFETY || exit 1
run pre_ltl never_both -N never_both
expect_clean pre_ltl/never_both.out "pre-copy: ltl never_both"
if [ -n "$V" ]; then
    run pre_ltl never_stale -N never_stale
    expect_clean pre_ltl/never_stale.out "pre-copy: ltl never_stale"
fi
build pre_live $V "${PRE[@]}" -DLIVE -- -DNFAIR=3 || exit 1
run pre_live settles -a -f -N settles
expect_clean pre_live/settles.out "pre-copy: ltl settles (liveness, weak fairness)"
for m in 6 7; do
    opt=-O0 build "pre_mutant$m" $V "${PRE[@]}" -DMUTANT=$m -- -DSAFETY -DNOCLAIM || exit 1
    run "pre_mutant$m" run
    expect_caught "pre_mutant$m" "pre-copy mutant $m"
done

# 7. post-copy: one image block, one loss, one corruption, no extra
#    duplicate (the resends of COMMIT, FETCH and VERIFIED duplicate anyway)
POST=(-DPOSTCOPY -DNBLOCKS=1 -DMAXLOSS=1 -DMAXDUP=0 -DMAXREORDER=0 -DMAXCORRUPT=1)
build post_safety $V "${POST[@]}" -DNPAGES=2 -- -DSAFETY -DNOCLAIM || exit 1
run post_safety safety
expect_clean post_safety/safety.out "post-copy, 2 pages: safety (assertions, end states)"
build post_reorder $V "${POST[@]}" -DNPAGES=1 -DMAXREORDER=1 -DMAXCORRUPT=0 -- -DSAFETY -DNOCLAIM || exit 1
run post_reorder safety
expect_clean post_reorder/safety.out "post-copy, 1 page, a reordering: safety (assertions, end states)"
build post_live $V "${POST[@]}" -DNPAGES=1 -DLIVE -- -DNFAIR=3 || exit 1
run post_live settles -a -f -N settles
expect_clean post_live/settles.out "post-copy, 1 page: ltl settles (liveness, weak fairness)"
for m in 8 9 10 11 12; do
    P=(-DNPAGES=2); [ $m = 12 ] && P=(-DNPAGES=1 -DLIVE)
    opt=-O0 build "post_mutant$m" $V "${POST[@]}" "${P[@]}" -DMUTANT=$m -- -DSAFETY -DNOCLAIM || exit 1
    run "post_mutant$m" run
    expect_caught "post_mutant$m" "post-copy mutant $m"
done

if [ $fails -gt 0 ]; then
    echo "model_migrate: $fails check(s) failed"; exit 1
fi
echo "model_migrate: all checks passed ($(states_of safety/safety.out) states in the safety run)"
