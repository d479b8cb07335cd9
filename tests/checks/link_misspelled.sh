#!/usr/bin/env bash
# A misspelled implementation macro must not pass silently: the program then
# fails to link, naming a function of the module whose macro was misspelled.
# Each macro is checked correctly spelled (links) and misspelled (does not).
. "$(dirname "$0")/lib.sh"
need gcc
d="$UAREA_BINARY_DIR/misspelled"; mkdir -p "$d"
# module  macro  header-dir  symbol-prefix
MODULES=(
    "umbrella UAREA_IMPLEMENTATION uarea uarea_"
    "core UAREA_CORE_IMPLEMENTATION uarea uarea_"
    "noc NOC_IMPLEMENTATION noc noc_"
    "migrate MIGRATE_IMPLEMENTATION migrate migrate_"
)
mapfile -t HDRS < <(headers)
checked=0
for m in "${MODULES[@]}"; do
    read -r name macro dir prefix <<<"$m"
    mapfile -t MH < <(module_headers "$dir")
    mapfile -t FNS < <(api_functions "${MH[@]}" | grep "^$prefix")
    if [ "${#FNS[@]}" -eq 0 ]; then echo "note: module $name has no public functions yet"; continue; fi
    others=""
    if [ "$name" != umbrella ]; then
        for o in UAREA_CORE_IMPLEMENTATION NOC_IMPLEMENTATION MIGRATE_IMPLEMENTATION; do
            [ "$o" = "$macro" ] || others="$others#define $o"$'\n'
        done
    fi
    bad=$(echo "$macro" | sed 's/IMPLEMENTATION/IMPLEMENTAION/')
    for variant in good bad; do
        def=$macro; [ $variant = bad ] && def=$bad
        {
            printf '%s#define %s\n' "$others" "$def"
            for h in "${HDRS[@]}"; do printf '#include <%s>\n' "$h"; done
            echo 'typedef void (*fn_t)(void);'
            printf 'fn_t uarea__probe_%s = (fn_t)%s;\n' "$name" "${FNS[0]}"
            echo 'int main(void) { return uarea__probe_'"$name"' == 0; }'
        } > "$d/$name-$variant.c"
        out=$(gcc -std=c11 -I"$INC" "$d/$name-$variant.c" -o "$d/$name-$variant" -pthread 2>&1)
        rc=$?
        if [ $variant = good ] && [ $rc -ne 0 ]; then
            echo "FAIL: $macro spelled right does not link:"; echo "$out" | head; FAILS=$((FAILS + 1))
        elif [ $variant = bad ] && [ $rc -eq 0 ]; then
            echo "FAIL: misspelled $bad linked silently"; FAILS=$((FAILS + 1))
        elif [ $variant = bad ] && ! grep -q "undefined reference to \`$prefix" <<<"$out"; then
            echo "FAIL: misspelled $bad failed for another reason:"; echo "$out" | head; FAILS=$((FAILS + 1))
        fi
    done
    checked=$((checked + 1))
done
[ $checked -gt 0 ] || { echo "FAIL: no module checked"; exit 1; }
finish "$checked implementation macros: misspelled ones fail to link"
