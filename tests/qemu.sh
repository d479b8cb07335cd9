# Shared by the scripts that cross-compile a program and run it under
# qemu-user (tests/uarea/arch_qemu.sh, tests/migrate/crc_qemu.sh). Sourced,
# not run. Sets src (the source root) and out (where binaries go:
# UAREA_BINARY_DIR, else a new temporary directory).

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${UAREA_BINARY_DIR:-$(mktemp -d)}
mkdir -p "$out"

# need TOOL: exit 77 (ctest: skipped) when TOOL is missing, unless
# UAREA_REQUIRE_QEMU=1, which makes it a failure.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "${UAREA_REQUIRE_QEMU:-0}" = 1 ]; then echo "FAIL: $1 not installed"; exit 1; fi
    echo "SKIP: $1 not installed"; exit 77
}

# need_static_libc CC DIR: CC links a static program (its cross libc is there).
need_static_libc() {
    if ! echo 'int main(void){return 0;}' | "$1" -x c -static - -o "$2/probe_${1%%-*}" 2>/dev/null; then
        need "static-libc-for-$1"
    fi
}
