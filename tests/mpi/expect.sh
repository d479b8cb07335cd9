#!/usr/bin/env bash
# expect.sh [-a] -e REGEX [-e REGEX...] -- COMMAND...: runs COMMAND, prints its
# output, then "expect: all N found" when every REGEX (grep -E) matches a
# line of it and COMMAND returned 0, else "expect: MISSING <regex>" for each
# that does not (and for a non-zero status). For MPI jobs, whose ranks' lines
# reach mpirun's output in no set order. -a: any exit status will do.
set -u
res=()
any=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    [ "$1" = -e ] && { res+=("$2"); shift 2; continue; }
    [ "$1" = -a ] && { any=1; shift; continue; }
    echo "expect.sh: bad argument $1" >&2; exit 2
done
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
echo "expect: the command returned $rc"
missing=0
[ $rc = 0 ] || [ $any = 1 ] || { echo "expect: MISSING exit status 0"; missing=1; }
for re in "${res[@]}"; do
    if ! grep -qE -- "$re" <<<"$out"; then echo "expect: MISSING $re"; missing=1; fi
done
[ $missing = 0 ] && echo "expect: all ${#res[@]} found"
exit 0
