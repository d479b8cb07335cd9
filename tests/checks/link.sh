#!/usr/bin/env bash
# Two translation units include every public header; one defines
# UAREA_IMPLEMENTATION. The program takes the address of every public
# function (every UAREA_API declaration), so a missing definition or a
# duplicate one fails the link. A second variant defines the implementation
# with UAREA_STATIC in both units (everything static): it links as well.
. "$(dirname "$0")/lib.sh"
need gcc; need clang
d="$UAREA_BINARY_DIR/link"; mkdir -p "$d"
mapfile -t HDRS < <(headers)
mapfile -t FNS < <(api_functions "${HDRS[@]}")
[ "${#FNS[@]}" -gt 0 ] || { echo "FAIL: found no public functions"; exit 1; }
includes() { for h in "${HDRS[@]}"; do printf '#include <%s>\n' "$h"; done; }
{ echo '#define UAREA_IMPLEMENTATION'; includes; echo 'int uarea__link_impl_unit;'; } > "$d/impl.c"
{
    includes
    echo '#include <stdio.h>'
    echo 'typedef void (*fn_t)(void);'
    echo 'static const fn_t fns[] = {'
    for f in "${FNS[@]}"; do echo "    (fn_t)$f,"; done
    echo '};'
    echo 'int main(void) {'
    echo '    unsigned i, n = (unsigned)(sizeof fns / sizeof fns[0]);'
    echo '    for (i = 0; i < n; i++) if (!fns[i]) return 1;'
    echo '    printf("%u functions linked\n", n);'
    echo '    return 0;'
    echo '}'
} > "$d/main.c"
{ echo '#define UAREA_IMPLEMENTATION'; echo '#define UAREA_STATIC'; includes; echo 'int uarea__static_unit_a;'; } > "$d/static_a.c"
{ echo '#define UAREA_IMPLEMENTATION'; echo '#define UAREA_STATIC'; cat "$d/main.c"; } > "$d/static_b.c"
for cc in gcc clang; do
    try "$cc link" "$cc" -std=c11 "${WARN[@]}" -I"$INC" "$d/impl.c" "$d/main.c" -o "$d/prog_$cc" -pthread
    try "$cc run" "$d/prog_$cc"
    try "$cc static link" "$cc" -std=c11 "${WARN[@]}" -I"$INC" "$d/static_a.c" "$d/static_b.c" -o "$d/static_$cc" -pthread
    try "$cc static run" "$d/static_$cc"
done
finish "${#FNS[@]} public functions: ${FNS[*]}"
