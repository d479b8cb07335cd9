#!/usr/bin/env bash
# Runs examples/checkpoint_restart twice: the first run writes a checkpoint and
# exits, the second restores it in a new process and must finish correctly.
set -euo pipefail
bin=$1
file=$(mktemp "${TMPDIR:-/tmp}/uarea-ckpt.XXXXXX")
trap 'rm -f "$file"' EXIT
# UAREA_EMULATOR: a command to run the program with (qemu-user for another CPU)
run() { ${UAREA_EMULATOR:+$UAREA_EMULATOR} "$bin" "$@"; }
run "$file"
[ -s "$file" ] || { echo "no checkpoint written"; exit 1; }
run --restore "$file"
