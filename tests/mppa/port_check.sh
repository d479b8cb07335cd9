#!/usr/bin/env bash
# The MPPA-256 port builds as it would inside a cluster's kernel image:
# freestanding C11, no C library, warnings as errors, with gcc and clang,
# for 32- and 64-bit targets (the k1b's compiler is not public: these stand
# in for it). Each port header on its own; the whole port with its
# implementation; the chip model's IKC core (ports/mppa256/model/ikc_shm.h,
# which a bare-metal kernel also builds) with its implementation; and the
# k1b build stops at the one item that is not in the tree, naming it and
# docs/porting.md.
. "$(dirname "$0")/../checks/lib.sh"
need gcc; need clang; need riscv64-unknown-elf-gcc; need arm-none-eabi-gcc
PORT="$UAREA_SOURCE_DIR/ports/mppa256/include"
MODEL="$UAREA_SOURCE_DIR/ports/mppa256/model"
TARGETS=(
    "gcc"
    "clang"
    "clang --target=i386-unknown-linux-gnu"
    "clang --target=riscv32-unknown-elf"
    "riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32"
    "riscv64-unknown-elf-gcc"
    "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb"
)
n=0
whole="$UAREA_BINARY_DIR/mppa_whole.c"
printf '#define UAREA_IMPLEMENTATION\n#include <uarea_mppa256.h>\n' > "$whole"
shm="$UAREA_BINARY_DIR/mppa_ikc_shm.c"
printf '#define IKC_SHM_IMPLEMENTATION\n#include "ikc_shm.h"\n' > "$shm"
for t in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086
    try "$t: uarea_mppa256.h + implementation" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" \
        -I"$INC" -I"$PORT" -c -o /dev/null "$whole"
    n=$((n + 1))
    # shellcheck disable=SC2086
    try "$t: ikc_shm.h + implementation" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" \
        -I"$PORT" -I"$MODEL" -c -o /dev/null "$shm"
    n=$((n + 1))
    for h in uarea_mppa256.h uarea_mppa256/nanvix.h uarea_mppa256/port.h uarea_mppa256/noc_ikc.h; do
        src="$UAREA_BINARY_DIR/mppa_$(echo "$h" | tr '/.' '__').c"
        printf '#include <%s>\n' "$h" > "$src"
        # shellcheck disable=SC2086
        try "$t: $h" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" -I"$INC" -I"$PORT" -c -o /dev/null "$src"
        n=$((n + 1))
    done
done
# the k1b: the context switch is specified, not written; the build says so
out=$(gcc -ffreestanding -nostdlib -std=c11 -D__k1__ -I"$INC" -I"$PORT" -c -o /dev/null "$whole" 2>&1)
if [ $? -eq 0 ]; then
    echo "FAIL [k1b]: a k1 build of the port compiled; it must stop at the context switch"; FAILS=$((FAILS + 1))
elif ! grep -q 'docs/porting.md' <<<"$out" || ! grep -q 'uarea__arch_switch' <<<"$out"; then
    echo "FAIL [k1b]: the k1 build stopped, but not naming the item and docs/porting.md:"; echo "$out" | head -5
    FAILS=$((FAILS + 1))
elif ! grep -q "The k1b context switch" "$UAREA_SOURCE_DIR/docs/porting.md" 2>/dev/null; then
    echo "FAIL [k1b]: docs/porting.md has no section 'The k1b context switch'"; FAILS=$((FAILS + 1))
fi
n=$((n + 1))
finish "$n freestanding compiles of the MPPA-256 port and its IKC core, k1b stop checked"
