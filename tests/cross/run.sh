#!/usr/bin/env bash
# Builds tests/cross for ARCH (aarch64 or riscv64) with Debian's cross
# compiler, static, and runs its ctest under qemu-user: the POSIX port's
# examples and runtime tests on that CPU, preemption on. Exits 77 (ctest:
# skipped) when a tool is missing, unless UAREA_REQUIRE_QEMU=1 or
# UAREA_REQUIRE_CROSS=1 (scripts/test sets it).
#   tests/cross/run.sh ARCH [BUILD_DIR] [ctest args...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
arch=${1:?usage: run.sh aarch64|riscv64 [build dir] [ctest args...]}
build=${2:-${UAREA_BINARY_DIR:-$(mktemp -d)}/cross-$arch}
shift; [ $# -gt 0 ] && shift
cc=$arch-linux-gnu-gcc
qemu=qemu-$arch
for tool in "$cc" "$qemu" cmake; do
    command -v "$tool" >/dev/null 2>&1 && continue
    if [ "${UAREA_REQUIRE_QEMU:-0}" = 1 ] || [ "${UAREA_REQUIRE_CROSS:-0}" = 1 ]; then echo "FAIL: $tool not installed"; exit 1; fi
    echo "SKIP: $tool not installed"; exit 77
done
mkdir -p "$build" || exit 1
log=$build/build.log
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$arch" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_EXE_LINKER_FLAGS=-static -DCMAKE_CROSSCOMPILING_EMULATOR="$qemu" \
    -DTHREADS_PREFER_PTHREAD_FLAG=ON >"$log" 2>&1 &&
    cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 ||
    { echo "FAIL: the $arch build (the end of $log):"; tail -40 "$log"; exit 1; }
cd "$build" && ctest --output-on-failure "$@"
