#!/usr/bin/env bash
# Every public header compiles on its own, freestanding, as C11, with gcc and
# clang, with warnings as errors: once as declarations only and once with its
# implementation switched on (UAREA_IMPLEMENTATION), and once with UAREA_STATIC.
. "$(dirname "$0")/lib.sh"
need gcc; need clang
FLAGS=(-ffreestanding -nostdlib -std=c11 "${WARN[@]}" -I"$INC" -c -o /dev/null)
n=0
for h in $(headers); do
    src="$UAREA_BINARY_DIR/fs_$(echo "$h" | tr '/.' '__').c"
    printf '#include <%s>\n' "$h" > "$src"
    for cc in gcc clang; do
        try "$cc $h" "$cc" "${FLAGS[@]}" "$src"
        try "$cc $h impl" "$cc" "${FLAGS[@]}" -DUAREA_IMPLEMENTATION "$src"
        try "$cc $h static impl" "$cc" "${FLAGS[@]}" -DUAREA_IMPLEMENTATION -DUAREA_STATIC "$src"
        n=$((n + 3))
    done
done
finish "$n freestanding compiles"
