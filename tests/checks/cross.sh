#!/usr/bin/env bash
# Every public header, with its implementation, cross-compiles freestanding
# for 32- and 64-bit targets (all of them together also with a 1 GiB heap,
# UAREA_HEAP_PAGES 262144): gcc cross compilers (arm-none-eabi Cortex-M4,
# aarch64, riscv64, riscv32) and clang targets (riscv32, armv7m, i386,
# aarch64, riscv64).
. "$(dirname "$0")/lib.sh"
need arm-none-eabi-gcc; need aarch64-linux-gnu-gcc; need riscv64-linux-gnu-gcc; need riscv64-unknown-elf-gcc; need clang
TARGETS=(
    "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb"
    "aarch64-linux-gnu-gcc"
    "riscv64-linux-gnu-gcc"
    "riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32"
    "clang --target=riscv32-unknown-elf"
    "clang --target=armv7m-none-eabi"
    "clang --target=i386-unknown-linux-gnu"
    "clang --target=aarch64-linux-gnu"
    "clang --target=riscv64-unknown-elf"
)
n=0
all="$UAREA_BINARY_DIR/cross_all.c"
{ echo '#define UAREA_IMPLEMENTATION'; for h in $(headers); do printf '#include <%s>\n' "$h"; done; } > "$all"
for t in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086
    try "$t: all headers + implementation" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" -I"$INC" -c -o /dev/null "$all"
    # a 1 GiB heap (docs/configuration.md): the UArea keeps its budget
    # shellcheck disable=SC2086
    try "$t: all headers + implementation, 1 GiB heap" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" \
        -DUAREA_HEAP_PAGES=262144u -I"$INC" -c -o /dev/null "$all"
    n=$((n + 2))
    for h in $(headers); do
        src="$UAREA_BINARY_DIR/cross_$(echo "$h" | tr '/.' '__').c"
        printf '#include <%s>\n' "$h" > "$src"
        # shellcheck disable=SC2086
        try "$t: $h" $t -ffreestanding -nostdlib -std=c11 "${WARN[@]}" -I"$INC" -c -o /dev/null "$src"
        n=$((n + 1))
    done
done
finish "$n cross compiles on ${#TARGETS[@]} targets"
