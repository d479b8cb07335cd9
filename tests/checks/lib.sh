# Shared by the header checks. Sourced, not run.
set -uo pipefail
: "${UAREA_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${UAREA_BINARY_DIR:=$(mktemp -d)}"
mkdir -p "$UAREA_BINARY_DIR"
INC="$UAREA_SOURCE_DIR/include"
WARN=(-Wall -Wextra -Wpedantic -Werror)

# Every public header, as the path a user writes in #include <...>.
headers() { (cd "$INC" && find . -name '*.h' | sed 's|^\./||' | LC_ALL=C sort); }

# Headers of one module (uarea, noc, migrate).
module_headers() { headers | grep "^$1/"; }

# Public function names of a set of headers: every UAREA_API declaration.
api_functions() {
    local h
    for h in "$@"; do
        # declarations only: up to the implementation section, comments and
        # preprocessor lines removed
        perl -0777 -ne 's{\n#if defined\([A-Z_]*IMPLEMENTATION.*}{}s; s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g;
            s{^[ \t]*#[^\n]*}{}mg; while (/UAREA_API\b[^;{(]*?([A-Za-z_][A-Za-z0-9_]*)\s*\(/g) { print "$1\n" }' "$INC/$h"
    done | LC_ALL=C sort -u
}

# need TOOL: exit 77 (skip) when TOOL is missing, or fail when cross tools
# are required (UAREA_REQUIRE_CROSS=1, as scripts/test sets).
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "${UAREA_REQUIRE_CROSS:-0}" = 1 ]; then
        echo "FAIL: $1 not installed (scripts/test installs it)"; exit 1
    fi
    echo "SKIP: $1 not installed"; exit 77
}

FAILS=0
# try LABEL CMD...: run a compile, count and show a failure.
try() {
    local label=$1; shift
    local out
    if ! out=$("$@" 2>&1); then
        echo "FAIL [$label]"; echo "  \$ $*"; echo "$out" | sed 's/^/  /' | head -20
        FAILS=$((FAILS + 1))
    fi
}
finish() {
    if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
    echo "ok: $*"
}
