#!/usr/bin/env bash
# compile-user.sh <objcopy> <compiler> <argument>... - compile one source
# file of an application, then give the object's sections their .user.*
# names (rename-sections.sh, next to this script).
#
# A compiler launcher: uarea_mppa256_user_objects() (ports/mppa256/cmake/
# UareaMppa256.cmake) puts it in front of the compile commands of the
# application's OBJECT library, so that each object is renamed as part of its
# own compile step. Only a compile to an object (-c with -o <file>) is
# renamed; other commands (-E, -S) run as they are. When the rename fails the
# object is deleted, so that no build links it under its kernel names.
set -uo pipefail

prog=${0##*/}
if [ $# -lt 2 ]; then
    echo "usage: $prog <objcopy> <compiler> <argument>..." >&2
    exit 2
fi
objcopy=$1
shift

"$@" || exit $?

out="" compile=0 prev=""
for arg in "$@"; do
    [ "$prev" = "-o" ] && out=$arg
    case $arg in
        -c) compile=1 ;;
        -o?*) out=${arg#-o} ;;
    esac
    prev=$arg
done
if [ "$compile" -ne 1 ] || [ -z "$out" ]; then
    exit 0
fi

if ! bash "$(dirname "${BASH_SOURCE[0]}")/rename-sections.sh" "$objcopy" "$out"; then
    rm -f -- "$out"
    exit 1
fi
