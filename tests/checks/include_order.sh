#!/usr/bin/env bash
# The headers may be included in any order (the app-facing contract): a
# program that includes the core headers first and the POSIX port's last,
# with nothing but the two include directories on the command line, builds
# and runs; so does one that includes any public header before defining
# UAREA_IMPLEMENTATION and including the port; so does one whose first line
# is a libc header in GNU C, or in ISO C when it defines _GNU_SOURCE. In ISO C
# without it, the build stops with the port's own message saying what to do.
# Without the port's <uarea_port.h> on the include path (the port's headers
# copied without it), <uarea_posix.h> first still builds, and the core
# headers first stop the build with a message that says how to fix it.
. "$(dirname "$0")/lib.sh"
need gcc; need clang
PINC="$UAREA_SOURCE_DIR/ports/posix/include"
d="$UAREA_BINARY_DIR/include_order"; mkdir -p "$d"
app() {
    cat <<'C'
static int app(int argc, char **argv)
{
    uarea_tid_t t = uarea_thread_self();
    (void)argc; (void)argv;
    if (t < 0 || migrate_to(1) != 0 || noc_node_self() != 1 || noc_nodes() != 2) return 3;
    return 7;
}
int main(int argc, char **argv)
{
    int rc = uarea_posix_run(&(uarea_posix_desc){.nodes = 2}, app, argc, argv);
    printf("%d\n", rc);
    return rc == 7 ? 0 : 1;
}
C
}
# The natural order of the app-facing API: core headers, then the port.
{ echo '#define UAREA_IMPLEMENTATION'; echo '#include <uarea/thread.h>'
  echo '#include <migrate/migrate.h>'; echo '#include <noc/noc.h>'
  echo '#include <uarea_posix.h>'; echo '#include <stdio.h>'; app; } > "$d/natural.c"
# A libc header first.
{ echo '#include <stdio.h>'; echo '#define UAREA_IMPLEMENTATION'; echo '#include <uarea/thread.h>'
  echo '#include <uarea_posix.h>'; echo '#include <migrate/migrate.h>'; app; } > "$d/libc_first.c"
{ echo '#define _GNU_SOURCE'; cat "$d/libc_first.c"; } > "$d/libc_first_gnu.c"
# The port's headers without its uarea_port.h.
bare="$d/bare"; rm -rf "$bare"; mkdir -p "$bare"
cp -r "$PINC/uarea_posix" "$PINC/uarea_posix.h" "$bare/"
{ echo '#define UAREA_IMPLEMENTATION'; echo '#include <uarea_posix.h>'
  echo '#include <uarea/thread.h>'; echo '#include <stdio.h>'; app; } > "$d/port_first.c"
n=0
for cc in gcc clang; do
    try "$cc port first, no uarea_port.h" "$cc" -std=c11 "${WARN[@]}" -I"$INC" -I"$bare" "$d/port_first.c" -o "$d/pf" -pthread
    try "$cc port first, no uarea_port.h, runs" "$d/pf"
    if out=$("$cc" -std=c11 "${WARN[@]}" -I"$INC" -I"$bare" "$d/natural.c" -o "$d/pf" -pthread 2>&1); then
        echo "FAIL [$cc natural order, no uarea_port.h]: built against the null port"; FAILS=$((FAILS + 1))
    elif ! grep -q 'uarea::posix CMake target.*before the other uarea headers' <<<"$out"; then
        echo "FAIL [$cc natural order, no uarea_port.h]: not stopped by the message that says how to fix it"
        echo "$out" | head -5 | sed 's/^/  /'; FAILS=$((FAILS + 1))
    fi
    n=$((n + 3))
    for std in c11 gnu11; do
        try "$cc $std natural order" "$cc" -std=$std "${WARN[@]}" -I"$INC" -I"$PINC" "$d/natural.c" -o "$d/natural" -pthread
        try "$cc $std natural order runs" "$d/natural"
        try "$cc $std libc first, _GNU_SOURCE" "$cc" -std=$std "${WARN[@]}" -I"$INC" -I"$PINC" "$d/libc_first_gnu.c" -o "$d/lf" -pthread
        n=$((n + 3))
    done
    try "$cc gnu11 libc first" "$cc" -std=gnu11 "${WARN[@]}" -I"$INC" -I"$PINC" "$d/libc_first.c" -o "$d/lf" -pthread
    if out=$("$cc" -std=c11 "${WARN[@]}" -I"$INC" -I"$PINC" "$d/libc_first.c" -o "$d/lf" -pthread 2>&1); then
        echo "FAIL [$cc c11 libc first]: built, but glibc hides the interfaces the port needs"; FAILS=$((FAILS + 1))
    elif ! grep -q 'needs _GNU_SOURCE' <<<"$out"; then
        echo "FAIL [$cc c11 libc first]: not stopped by the port's message"; echo "$out" | head -5 | sed 's/^/  /'
        FAILS=$((FAILS + 1))
    fi
    n=$((n + 2))
    # Any public header first, without the implementation; then the port with it.
    for h in $(headers); do
        src="$d/first_$(echo "$h" | tr '/.' '__').c"
        { echo "#include <$h>"; echo '#include <stdio.h>'; echo '#define UAREA_IMPLEMENTATION'
          echo '#include <uarea_posix.h>'; app; } > "$src"
        try "$cc $h before the implementation" "$cc" -std=c11 "${WARN[@]}" -I"$INC" -I"$PINC" "$src" -o "$d/first" -pthread
        n=$((n + 1))
    done
done
finish "$n include-order builds and runs"
