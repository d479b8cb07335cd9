#!/usr/bin/env bash
# Runs examples/checkpoint_restart twice: the first run writes a checkpoint and
# exits, the second restores it in a new process and must finish correctly.
set -euo pipefail
bin=$1
file=$(mktemp "${TMPDIR:-/tmp}/uarea-ckpt.XXXXXX")
trap 'rm -f "$file"' EXIT
"$bin" "$file"
[ -s "$file" ] || { echo "no checkpoint written"; exit 1; }
"$bin" --restore "$file"
