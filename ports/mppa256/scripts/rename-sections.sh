#!/usr/bin/env bash
# rename-sections.sh <objcopy> <object>... - make an application's objects
# the user part of an MPPA-256 cluster binary (ports/mppa256/ld/cluster.ld).
#
# Each allocatable section whose name starts with .text, .rodata, .data or
# .bss (with or without a suffix: .text.main, .rodata.str1.1,
# .data.rel.ro.local, .bss.buf), .sdata or .sbss, and .eh_frame, is renamed in
# place to the same name behind ".user" (.text.main -> .user.text.main); the
# relocation sections follow their section. Names that already start with
# .user. are left alone, so running the script twice changes nothing (and does
# not rewrite the file). Archives (.a) are handled member by member.
#
# Refused (exit 1, the file left as it was), because the linker would put it
# into the kernel part without a word:
#   - COMMON symbols (tentative definitions, "int x;" compiled with
#     -fcommon): they belong to no section, so no section name can move
#     them. Compile the application with -fno-common (GCC's default since 10).
#   - any other allocatable section (.init_array, .tdata, .ctors, ...), which
#     has no user counterpart in cluster.ld. Notes (.note.*) are let through;
#     cluster.ld discards the ones compilers emit.
#
# The section list is read with readelf: $READELF if set, else the readelf
# next to <objcopy> with the same prefix (k1-objcopy -> k1-readelf,
# llvm-objcopy -> llvm-readelf), else readelf from PATH.
#
# Exit status: 0 done (or nothing to do), 1 a tool failed or an object was
# refused, 2 usage.
set -uo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
usage: $prog <objcopy> <object>...

Renames the .text*, .rodata*, .data*, .bss*, .sdata*, .sbss* and .eh_frame
sections of each <object> (an ELF relocatable object or an archive of them)
to .user.* in place, for ports/mppa256/ld/cluster.ld. Idempotent.
Environment: READELF, the readelf to list sections with.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }

case ${1:-} in
    -h|--help) usage; exit 0 ;;
esac
if [ $# -lt 2 ]; then
    usage >&2
    exit 2
fi

objcopy=$1
shift
command -v "$objcopy" >/dev/null 2>&1 || die "objcopy '$objcopy' not found"

# The readelf that goes with this objcopy.
find_readelf() {
    local dir base cand
    if [ -n "${READELF:-}" ]; then
        command -v "$READELF" >/dev/null 2>&1 || return 1
        printf '%s\n' "$READELF"; return 0
    fi
    cand=$(command -v "$objcopy")
    dir=$(dirname "$cand"); base=$(basename "$cand")
    case $base in
        *objcopy*)
            cand="$dir/${base/objcopy/readelf}"
            if [ -x "$cand" ]; then printf '%s\n' "$cand"; return 0; fi ;;
    esac
    command -v readelf 2>/dev/null
}
readelf=$(find_readelf) || die "no readelf found for '$objcopy' (set READELF)"

# Sections of an object: one line "<name> <flags>" per section (flags may be
# empty). readelf -S -W prints "[Nr] Name Type Address Off Size ES Flg Lk Inf
# Al", Flg left out when empty.
sections() {
    "$readelf" -S -W "$1" | sed -n 's/^ *\[ *[0-9][0-9]*\] *//p' |
        awk 'NF == 10 { print $1, $7 } NF == 9 { print $1, "" }'
}

# The user name for a section name, or nothing when it keeps its name.
user_name() {
    case $1 in
        .user.*) ;;
        .text|.text.*|.rodata|.rodata.*|.data|.data.*|.bss|.bss.*) echo ".user$1" ;;
        .sdata|.sdata.*|.sbss|.sbss.*|.eh_frame) echo ".user$1" ;;
    esac
}

rename_one() {
    local obj=$1 list name flags new bad="" args=() seen=" "
    [ -f "$obj" ] || { echo "$prog: $obj: no such file" >&2; return 1; }
    [ -w "$obj" ] || { echo "$prog: $obj: not writable" >&2; return 1; }
    if ! list=$(sections "$obj" 2>/dev/null); then
        echo "$prog: $obj: $readelf cannot read it:" >&2
        "$readelf" -S -W "$obj" 2>&1 >/dev/null | sed 's/^/  /' >&2
        return 1
    fi
    if [ -z "$list" ]; then
        echo "$prog: $obj: not an ELF object (no sections)" >&2
        return 1
    fi
    if "$readelf" -s -W "$obj" | awk '$7 == "COM" { found = 1 } END { exit !found }'; then
        echo "$prog: $obj: has COMMON symbols, which no section rename can move into" \
             "the user part; compile it with -fno-common:" >&2
        "$readelf" -s -W "$obj" | awk '$7 == "COM" { print "  " $8 }' | sort -u >&2
        return 1
    fi
    while read -r name flags; do
        [ -n "$name" ] || continue
        new=$(user_name "$name")
        if [ -n "$new" ]; then
            case $seen in *" $name "*) continue ;; esac
            seen="$seen$name "
            args+=(--rename-section "$name=$new")
        elif [[ $flags == *A* ]]; then
            case $name in
                .user.*|.note.*) ;;
                *) bad="$bad $name" ;;
            esac
        fi
    done <<<"$list"
    if [ -n "$bad" ]; then
        echo "$prog: $obj: allocatable section(s) with no user counterpart in" \
             "cluster.ld:$bad (they would be linked into the kernel part)" >&2
        return 1
    fi
    [ ${#args[@]} -eq 0 ] && return 0
    local out
    if ! out=$("$objcopy" "${args[@]}" "$obj" 2>&1); then
        echo "$prog: $obj: $objcopy failed:" >&2
        printf '%s\n' "$out" | sed 's/^/  /' >&2
        return 1
    fi
    [ -z "$out" ] || printf '%s\n' "$out" >&2
    return 0
}

status=0
for obj in "$@"; do
    rename_one "$obj" || status=1
done
exit $status
