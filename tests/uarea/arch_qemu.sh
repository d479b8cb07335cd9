#!/usr/bin/env bash
# Runs arch_smoke.c on the CPUs the build machine is not: cross-compiled
# statically for aarch64 and riscv64 and run under qemu-user. Skips (77) when
# a cross compiler, its static libc (libc6-dev-arm64-cross,
# libc6-dev-riscv64-cross) or qemu (qemu-user) is missing, unless
# UAREA_REQUIRE_QEMU=1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../qemu.sh
. "$here/../qemu.sh"
fails=0
for pair in "aarch64-linux-gnu-gcc qemu-aarch64" "riscv64-linux-gnu-gcc qemu-riscv64"; do
    read -r cc qemu <<<"$pair"
    need "$cc"; need "$qemu"
    bin="$out/arch_smoke_${cc%%-*}"
    need_static_libc "$cc" "$out"
    if ! "$cc" -std=c11 -O2 -static -Wall -Wextra -Werror -I"$src/include" -I"$here" \
            "$here/arch_smoke.c" -o "$bin" -pthread -lm; then
        echo "FAIL: $cc build"; fails=$((fails + 1)); continue
    fi
    if ! "$qemu" "$bin"; then echo "FAIL: $qemu run"; fails=$((fails + 1)); fi
done
[ "$fails" -eq 0 ] || exit 1
