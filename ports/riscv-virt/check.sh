#!/usr/bin/env bash
# check.sh <cluster.elf> - the ctest baremetal_riscv_virt: runs the three
# scenarios of the riscv-virt demo (run.sh) and checks the transcripts
# themselves, not only cluster 8's verdict:
#   tour     every hop returns 0 on the cluster it named, another one each
#            time; each destination says the container runs there; the
#            result equals the one computed without migration
#   preempt  the same with workers that never yield: the preemption tick
#            stopped them (a count above 0), and they were still computing at
#            the last hop
#   damaged  the hop whose image was damaged fails (an error, the container
#            still on the source), the destination refused the image, the
#            retry to the same cluster and the later hops succeed
# Exits 77 (skipped) when qemu-system-riscv64 or riscv64-unknown-elf-gcc is
# missing (or no image was built), unless UAREA_REQUIRE_CROSS=1.
# Environment: UAREA_BINARY_DIR (where the transcripts go), RV_LIMIT (seconds
# per scenario, default 90), RV_ICOUNT=1 (run under -icount).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
elf=${1:-}

skip() {
    if [ "${UAREA_REQUIRE_CROSS:-0}" = 1 ]; then echo "FAIL: $*"; exit 1; fi
    echo "SKIP: $*"; exit 77
}
command -v qemu-system-riscv64 >/dev/null 2>&1 || skip "qemu-system-riscv64 not installed"
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || skip "riscv64-unknown-elf-gcc not installed"
[ -n "$elf" ] && [ -f "$elf" ] || skip "no cluster image (configure found no cross compiler)"

out=${UAREA_BINARY_DIR:-$(mktemp -d)}
mkdir -p "$out"
opts=(-k -o "$out" -t "${RV_LIMIT:-90}")
[ "${RV_ICOUNT:-0}" = 1 ] && opts+=(-i)
bash "$here/run.sh" "${opts[@]}" "$elf" tour preempt damaged
run_rc=$?

fails=0
fail() { echo "FAIL [$1]: $2"; fails=$((fails + 1)); }
t() { tr -d '\r' < "$out/$1/uart-$2.txt" 2>/dev/null; }

# The hop lines of a scenario, from every cluster's transcript:
#   <hop> <target> <from> <rc> <on> <steps> <total>
hops() {
    local n
    for n in 8 9 10 11; do t "$1" "$n"; done |
        sed -n 's/^app: hop \([0-9]*\): migrate_to(\([0-9]*\)) from cluster \([0-9]*\) = \(-\{0,1\}[0-9]*\) .*running on cluster \([0-9]*\), worker steps \([0-9]*\) of \([0-9]*\)$/\1 \2 \3 \4 \5 \6 \7/p' |
        sort -n
}

check_common() { # scenario n_hops damaged_hop(-1: none)
    local sc=$1 want=$2 dmg=$3 lines n=0 hop to from rc on steps total all="" last_steps=-1
    lines=$(hops "$sc")
    while read -r hop to from rc on steps total; do
        [ -n "$hop" ] || continue
        n=$((n + 1))
        all=$total
        if [ "$hop" = "$dmg" ]; then
            [ "$rc" -lt 0 ] || fail "$sc" "hop $hop to $to: rc $rc, the damaged image was not refused"
            [ "$on" = "$from" ] || fail "$sc" "hop $hop: after the refusal the container is on $on, not on $from"
            t "$sc" "$to" | grep -q "refused the image from $from" ||
                fail "$sc" "cluster $to did not say it refused the image from $from"
        else
            [ "$rc" = 0 ] || fail "$sc" "hop $hop to $to: rc $rc"
            [ "$on" = "$to" ] && [ "$on" != "$from" ] ||
                fail "$sc" "hop $hop: from $from to $to, running on $on"
            t "$sc" "$to" | grep -q "from $from: running here" ||
                fail "$sc" "cluster $to has no arrival from $from"
        fi
        [ "$steps" -gt "$last_steps" ] || fail "$sc" "hop $hop: the workers did not compute since the hop before"
        last_steps=$steps
    done <<<"$lines"
    [ "$n" = "$want" ] || fail "$sc" "$n hop lines, $want expected"
    [ -n "$all" ] && [ "$last_steps" -lt "$all" ] ||
        fail "$sc" "the workers had ended before the last hop ($last_steps of ${all:-?} steps)"
    t "$sc" 8 | grep -q "^result \([0-9a-f]*\), without migration \1: match" ||
        fail "$sc" "no matching result on cluster 8"
    t "$sc" 8 | grep -q "DEMO END $sc: PASS" || fail "$sc" "cluster 8's verdict is not PASS"
    t "$sc" 9 | grep -q "ended here" || fail "$sc" "the container's program did not end on cluster 9"
    t "$sc" 8 | grep -q "ended here" && fail "$sc" "the container's program ended on cluster 8, where it started"
    t "$sc" 8 | grep -q "started on cluster 8 and its threads finished on cluster 9" ||
        fail "$sc" "cluster 8 does not report the container finishing on cluster 9"
    if cat "$out/$sc"/uart-*.txt 2>/dev/null | grep -aq "FATAL\|CHECK FAILED"; then
        fail "$sc" "a transcript has FATAL or CHECK FAILED"
    fi
}

check_common tour 5 -1
check_common preempt 5 -1
check_common damaged 6 1
t preempt 8 | grep -q "never yielding" || fail preempt "the workers were not the never-yielding ones"
p=$(t preempt 8 | sed -n 's/^user cores: [0-9]* timer ticks, \([0-9]*\) preemptions at safe points$/\1/p')
[ -n "$p" ] && [ "$p" -gt 0 ] || fail preempt "no preemption at a safe point (${p:-no count})"

echo "--- figures (cluster 8) ---"
for sc in tour preempt damaged; do t "$sc" 8 | grep -E "^mean of|^beside"; done
if [ $fails -gt 0 ] || [ $run_rc -ne 0 ]; then
    echo "baremetal_riscv_virt: FAILED ($fails checks, run.sh status $run_rc); transcripts in $out"
    exit 1
fi
echo "baremetal_riscv_virt: ok (transcripts in $out)"
