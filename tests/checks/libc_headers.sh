#!/usr/bin/env bash
# No core header (include/) includes a libc header beyond the freestanding C11
# set. Quoted includes must name a header of the library itself. The scanner
# is first shown to catch a bad header, so it cannot pass by scanning nothing.
. "$(dirname "$0")/lib.sh"
ALLOWED='^(stddef|stdint|stdbool|stdalign|limits|stdarg|stdnoreturn|float|iso646)\.h$'
# scan FILE... : print offending include lines (file:line: text)
scan() {
    local f line n inc
    for f in "$@"; do
        n=0
        while IFS= read -r line; do
            n=$((n + 1))
            [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\<\"]([^\>\"]+)[\>\"] ]] || continue
            inc=${BASH_REMATCH[1]}
            if [[ $line =~ \< ]]; then
                # <uarea_port.h>: the port-selection hook (uarea/config.h), a
                # file a port ships, found through the include path
                [[ $inc =~ $ALLOWED || $inc =~ ^(uarea|noc|migrate)/ || $inc == uarea_port.h ]] ||
                    echo "$f:$n: $line"
            else
                # "x.h" resolves next to the including file first.
                [ -f "$(dirname "$f")/$inc" ] || [ -f "$INC/$inc" ] || echo "$f:$n: $line"
            fi
        done < "$f"
    done
}
self="$UAREA_BINARY_DIR/libc_selftest"; mkdir -p "$self"
printf '#include <stdint.h>\n  #  include <string.h>\n#include "missing.h"\n' > "$self/bad.h"
[ "$(scan "$self/bad.h" | wc -l)" -eq 2 ] || { echo "FAIL: scanner self-test"; exit 1; }
mapfile -t FILES < <(find "$INC" -type f \( -name '*.h' -o -name '*.inc' \))
bad=$(scan "${FILES[@]}")
if [ -n "$bad" ]; then echo "FAIL: non-freestanding includes:"; echo "$bad"; exit 1; fi
echo "ok: ${#FILES[@]} headers include only the freestanding set and the library's own"
