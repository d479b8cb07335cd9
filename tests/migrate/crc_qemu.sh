#!/usr/bin/env bash
# Runs crc_cross.c, the aarch64 CRC32C instruction path against the table,
# cross-compiled statically (-march=armv8-a+crc) and run under qemu-user.
# Skips (77) when aarch64-linux-gnu-gcc, its static libc or qemu-aarch64 is
# missing, unless UAREA_REQUIRE_QEMU=1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../qemu.sh
. "$here/../qemu.sh"
cc=aarch64-linux-gnu-gcc
need "$cc"; need qemu-aarch64
need_static_libc "$cc" "$out"
"$cc" -std=c11 -O2 -static -march=armv8-a+crc -Wall -Wextra -Wpedantic -Werror \
    -I"$src/include" "$here/crc_cross.c" -o "$out/crc_cross_aarch64" || { echo "FAIL: build"; exit 1; }
qemu-aarch64 "$out/crc_cross_aarch64"
