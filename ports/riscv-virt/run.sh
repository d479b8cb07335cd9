#!/usr/bin/env bash
# run.sh - run the riscv-virt demo: one QEMU `virt` instance per compute
# cluster (nodes 8, 9, 10, 11), the NoC a file-backed region every instance
# maps as an ivshmem-plain PCI device.
#
#   run.sh [options] <cluster.elf> [scenario...]
#
# Scenarios: tour, preempt, damaged (default: all three, one after the
# other, each with fresh instances and a fresh NoC). For each one: the
# shared file is created zeroed, the instances start (-bios none, -smp 2,
# the node number and the scenario written into the boot page with
# -device loader), the script waits for cluster 8's "DEMO END" line or the
# time limit, stops the instances, prints the four transcripts and checks
# that the end line says PASS. The shared file is removed after a scenario
# that passed and kept (beside the transcripts) after one that failed.
#
# Options:
#   -o DIR        where the transcripts and the shared file go (default: a
#                 temporary directory, removed at the end unless -k)
#   -k            keep DIR
#   -t SECONDS    time limit per scenario (default 240)
#   -i            run with -icount shift=0 (instructions retired and mtime
#                 follow the guest's instruction count, not the host's clock;
#                 see README.md for what QEMU does then)
#   -q            print only the lines of the demo (app:, summary, checks),
#                 not the whole transcripts
#   -s STEPS      worker steps (the boot word RV_BOOT_ARG; 0: the kernel's
#                 default)
# Environment: QEMU (default qemu-system-riscv64).
#
# Exit status: 0 every scenario passed; 1 one failed or timed out; 2 usage;
# 77 qemu-system-riscv64 is missing.
set -uo pipefail

QEMU=${QEMU:-qemu-system-riscv64}
out="" keep=0 limit=240 icount=0 quiet=0 steps=0
usage() { sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 2; }
while getopts "o:kt:iqs:h" opt; do
    case $opt in
        o) out=$OPTARG ;;
        k) keep=1 ;;
        t) limit=$OPTARG ;;
        i) icount=1 ;;
        q) quiet=1 ;;
        s) steps=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
elf=$1
shift
[ -f "$elf" ] || { echo "run.sh: no kernel image '$elf'" >&2; exit 2; }
command -v "$QEMU" >/dev/null 2>&1 || { echo "run.sh: $QEMU not found" >&2; exit 77; }
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(tour preempt damaged)

if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/uarea-riscv-virt.XXXXXX") || exit 1
    [ $keep -eq 1 ] || trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out" || exit 1

NODES=(8 9 10 11)
NOC_SIZE=8M            # a power of two: the IKC arena (6.2 MiB) and the board
BOOT_PAGE=0x80fff000   # kernel/rv_layout.h: RV_BOOT_NODE, _MODE, _ARG, _FLAGS

mode_word() {
    case $1 in
        tour) echo 1 ;;
        preempt) echo 2 ;;
        damaged) echo 3 ;;
        *) echo 0 ;;
    esac
}

pids=()
# Stop this scenario's instances: SIGTERM, and SIGKILL for one still there
# after two seconds (a QEMU whose every CPU sleeps may not answer SIGTERM).
stop_all() {
    local p i
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=""; done
        [ -z "$p" ] && break
        sleep 0.2
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
trap 'stop_all; exit 1' INT TERM

status=0
for sc in "${scenarios[@]}"; do
    mode=$(mode_word "$sc")
    if [ "$mode" = 0 ]; then echo "run.sh: unknown scenario '$sc'" >&2; exit 2; fi
    dir="$out/$sc"
    mkdir -p "$dir"
    rm -f "$dir"/noc.shm "$dir"/uart-*.txt
    truncate -s "$NOC_SIZE" "$dir/noc.shm" || exit 1
    extra=()
    [ $icount -eq 1 ] && extra+=(-icount shift=0)
    start=$(date +%s.%N)
    for n in "${NODES[@]}"; do
        : > "$dir/uart-$n.txt"
        "$QEMU" -M virt -m 64M -smp 2 -bios none -nographic -monitor none \
            -serial "file:$dir/uart-$n.txt" "${extra[@]}" \
            -kernel "$elf" \
            -device loader,addr=$((BOOT_PAGE)),data="$n",data-len=4 \
            -device loader,addr=$((BOOT_PAGE + 4)),data="$mode",data-len=4 \
            -device loader,addr=$((BOOT_PAGE + 8)),data="$steps",data-len=4 \
            -device loader,addr=$((BOOT_PAGE + 12)),data="$icount",data-len=4 \
            -object memory-backend-file,id=noc,share=on,mem-path="$dir/noc.shm",size=$NOC_SIZE \
            -device ivshmem-plain,memdev=noc \
            > "$dir/qemu-$n.log" 2>&1 &
        pids+=($!)
    done
    result=TIMEOUT
    deadline=$(( $(date +%s) + limit ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if grep -aq "DEMO END" "$dir/uart-8.txt" 2>/dev/null; then
            result=$(grep -a "DEMO END" "$dir/uart-8.txt" | head -1 | awk '{print $NF}' | tr -d '\r')
            break
        fi
        if grep -aq "FATAL" "$dir"/uart-*.txt 2>/dev/null; then result=FATAL; break; fi
        dead=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || dead=1; done
        if [ $dead -eq 1 ]; then result=QEMU-EXITED; break; fi
        sleep 0.5
    done
    sleep 0.3        # the other clusters print their last lines
    stop_all
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    for n in "${NODES[@]}"; do
        echo "=== scenario $sc: cluster $n ($dir/uart-$n.txt) ==="
        if [ $quiet -eq 1 ]; then
            tr -d '\r' < "$dir/uart-$n.txt" | grep -a -E "^app:|migration|refused|damage|summary|^hop|^ *[0-9]+ +[0-9]+->|mean of|Nanvix|NoC:|user cores|result|run:|CHECK|DEMO|FATAL|ended here"
        else
            tr -d '\r' < "$dir/uart-$n.txt"
        fi
        [ -s "$dir/qemu-$n.log" ] && sed 's/^/qemu: /' "$dir/qemu-$n.log" | grep -v "terminating on signal"
    done
    echo "=== scenario $sc: $result (${secs} s) ==="
    if [ "$result" = PASS ]; then
        rm -f "$dir/noc.shm"       # kept only when the scenario failed
    else
        status=1
    fi
done
exit $status
