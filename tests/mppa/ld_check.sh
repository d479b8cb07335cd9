#!/usr/bin/env bash
# The kernel/user split of an MPPA-256 cluster binary at link time, checked
# on the host toolchain: ports/mppa256/ld/cluster.ld (linked as is with the
# compiler's GNU ld), ports/mppa256/scripts/rename-sections.sh and
# ports/mppa256/cmake/UareaMppa256.cmake.
#
# A small freestanding "kernel" object and two "application" objects (one
# with a section per function and variable, one with plain .text/.data/.bss)
# are compiled; the application's sections are renamed with the script and
# both are linked with cluster.ld. Asserted:
#   rename  - the renamed objects have only .user.* allocatable sections,
#             one of each kind, also in an archive; a second run changes no
#             byte (no .user.user.*); usage, a missing file, a non-ELF file,
#             COMMON symbols and a section with no user counterpart
#             (.init_array) are refused with a non-zero status and leave the
#             object as it was.
#   layout  - every loaded input section has a place in the script (no
#             orphan among the output's allocatable sections) and the link
#             says nothing else; every application symbol lies in
#             [__USER_START, __USER_END), in the range of its own kind;
#             every kernel symbol lies in [UAREA_KERNEL_BASE, __USER_START);
#             the user kinds, __USER_START and __USER_END are 4 KiB aligned
#             and in order; no loadable segment mixes user and kernel
#             sections; the entry point is the kernel's _start.
#   limits  - a 3 MiB bss in the application fails the link with the SRAM
#             message (2 MiB); a 600 KiB one with the user window message
#             (512 KiB); a 400 KiB one links.
#   window  - with --defsym=UAREA_USER_VMA=0x80000000 (given after -T) the
#             user part is linked at 0x80000000 and loaded right after the
#             kernel (program headers); a VMA not 4 KiB aligned is refused.
#   wrapper - cluster.ld names no output format or architecture;
#             cluster-k1b.ld does and INCLUDEs cluster.ld, which it finds
#             through -L (checked with its OUTPUT_* lines taken out).
#   cmake   - a project using uarea_mppa256_user_objects() and
#             uarea_mppa256_cluster_link() builds, with the application in
#             the user part, also after one of its sources is rebuilt
#             (skipped, with a note, when cmake is not installed).
# The layout checker is first shown to catch an application linked without
# the rename, so that it cannot pass for want of looking.
#
# Environment: UAREA_SOURCE_DIR, UAREA_BINARY_DIR (scratch space: the check
# works in its subdirectory mppa_link, emptied first), UAREA_CC (the C
# compiler; its GNU ld, objcopy, nm and readelf are used). Exit 77 (skip)
# when the compiler's linker is not GNU ld.
set -uo pipefail

: "${UAREA_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ -z "${UAREA_BINARY_DIR:-}" ]; then
    UAREA_BINARY_DIR=$(mktemp -d)
    trap 'rm -rf "$UAREA_BINARY_DIR"' EXIT
fi
CC=${UAREA_CC:-cc}
LDDIR="$UAREA_SOURCE_DIR/ports/mppa256/ld"
SCRIPT="$LDDIR/cluster.ld"
RENAME="$UAREA_SOURCE_DIR/ports/mppa256/scripts/rename-sections.sh"
CMAKE_MODULE="$UAREA_SOURCE_DIR/ports/mppa256/cmake/UareaMppa256.cmake"

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
note() { echo "  $*"; }

for f in "$SCRIPT" "$LDDIR/cluster-k1b.ld" "$RENAME" "$CMAKE_MODULE"; do
    [ -f "$f" ] || { echo "FAIL: missing $f"; exit 1; }
done
command -v "$CC" >/dev/null 2>&1 || { echo "FAIL: compiler '$CC' not found"; exit 1; }

# --- tools: the ones that go with the compiler ----------------------------
triple=$("$CC" -dumpmachine 2>/dev/null || true)
tool() {
    if [ -n "$triple" ] && command -v "$triple-$1" >/dev/null 2>&1; then
        command -v "$triple-$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    fi
}
LD=$("$CC" -print-prog-name=ld 2>/dev/null || true)
case $LD in */*) ;; *) LD=$(tool "${LD:-ld}") ;; esac
OBJCOPY=$(tool objcopy); NM=$(tool nm); READELF=$(tool readelf)
for t in LD OBJCOPY NM READELF; do
    [ -n "${!t}" ] && [ -x "${!t}" ] || { echo "FAIL: no $t for $CC"; exit 1; }
done
if ! "$LD" --version 2>/dev/null | head -1 | grep -q 'GNU ld'; then
    echo "SKIP: $LD is not GNU ld"; exit 77
fi
export READELF
echo "compiler $CC ($triple), linker $LD"

D="$UAREA_BINARY_DIR/mppa_link"
rm -rf "$D"; mkdir -p "$D"

# --- sources ---------------------------------------------------------------
cat >"$D/kernel.c" <<'EOF'
/* A kernel: boots, calls the application, knows where the user part is. */
extern int app_main(int);
extern char __USER_START[], __USER_END[];
int k_ticks = 7;
int k_table[64];
const char k_banner[] = "cluster kernel";
static int k_calls;
__attribute__((noinline)) static int k_span(void) { return (int)(__USER_END - __USER_START); }
void _start(void)
{
    k_calls++;
    k_table[0] = app_main(k_ticks) + k_banner[0] + k_span() + k_calls;
    for (;;) { }
}
EOF
cat >"$D/app_a.c" <<'EOF'
/* An application: text, read-only data, initialised data, bss. */
int app_data = 42;
int app_bss[256];
const int app_table[8] = { 1, 2, 3, 5, 8, 13, 21, 34 };
const char *app_name = "application";
static int app_counter = 3;
static char app_scratch[512];
__attribute__((noinline)) static int app_helper(int x) { return app_table[x & 7] * app_counter; }
int app_main(int x)
{
    app_bss[x & 255] = app_data + app_name[0];
    app_scratch[x & 511] = (char)x;
    return app_helper(x) + app_scratch[0];
}
EOF
cat >"$D/app_b.c" <<'EOF'
/* More of it, compiled without per-symbol sections. */
int app_b_data = 5;
long app_b_bss[32];
const long app_b_ro[4] = { 9, 8, 7, 6 };
int app_b_func(int x) { app_b_bss[x & 31] = x; return app_b_data + (int)app_b_ro[x & 3]; }
EOF
big_app() { # big_app NAME BYTES: an application with a bss array of BYTES
    printf 'char %s_big[%s];\nint %s_main(int x) { %s_big[x] = 1; return x; }\n' \
        "$1" "$2" "$1" "$1" >"$D/$1.c"
}
big_app app_3m $((3 * 1024 * 1024))
big_app app_600k $((600 * 1024))
big_app app_400k $((400 * 1024))
printf 'int app_common_var;\nint app_common(void) { return app_common_var; }\n' >"$D/app_common.c"
printf 'extern void app_hook(void);\n__attribute__((constructor)) void app_ctor(void) { app_hook(); }\n' \
    >"$D/app_ctor.c"

# --- compile ---------------------------------------------------------------
CCFLAGS=(-O2 -ffreestanding -fno-pic -fno-common -nostdlib -fno-stack-protector)
# Flags for the link at 0x80000000: addresses above 2 GiB need a code model
# that reaches them (x86-64's default one, like RISC-V's medlow, does not).
case $triple in
    x86_64*|amd64*) WINDOW_CFLAGS=(-mcmodel=large) ;;
    riscv*) WINDOW_CFLAGS=(-mcmodel=medany) ;;
    *) WINDOW_CFLAGS=() ;;
esac
compile() { # compile OUT SRC FLAGS...
    local out=$1 src=$2; shift 2
    local msg
    if ! msg=$("$CC" "${CCFLAGS[@]}" "$@" -c "$src" -o "$out" 2>&1); then
        echo "FAIL: cannot compile $src:"; echo "$msg" | sed 's/^/  /'; exit 1
    fi
}
compile "$D/kernel.o" "$D/kernel.c"
compile "$D/app_a.o" "$D/app_a.c" -ffunction-sections -fdata-sections
compile "$D/app_b.o" "$D/app_b.c"
for b in app_3m app_600k app_400k; do compile "$D/$b.o" "$D/$b.c"; done
compile "$D/app_common.o" "$D/app_common.c" -fcommon
compile "$D/app_ctor.o" "$D/app_ctor.c"
compile "$D/kernel_w.o" "$D/kernel.c" "${WINDOW_CFLAGS[@]}"
compile "$D/app_a_w.o" "$D/app_a.c" -ffunction-sections -fdata-sections "${WINDOW_CFLAGS[@]}"
compile "$D/app_b_w.o" "$D/app_b.c" "${WINDOW_CFLAGS[@]}"

# Allocatable sections of an object: "name flags" lines.
alloc_sections() {
    "$READELF" -S -W "$1" | sed -n 's/^ *\[ *[0-9][0-9]*\] *//p' |
        awk 'NF == 10 && $7 ~ /A/ { print $1 }'
}

# ===========================================================================
echo "== rename"
for o in app_a app_b app_3m app_600k app_400k app_a_w app_b_w; do
    cp "$D/$o.o" "$D/$o.user.o"
    if ! out=$(bash "$RENAME" "$OBJCOPY" "$D/$o.user.o" 2>&1); then
        fail "rename-sections.sh failed on $o.o:"; note "$out"; continue
    fi
    [ -z "$out" ] || { fail "rename-sections.sh printed something on $o.o:"; note "$out"; }
    bad=$(alloc_sections "$D/$o.user.o" | grep -v '^\.user\.' | tr '\n' ' ')
    [ -z "$bad" ] || fail "$o.user.o keeps allocatable sections outside .user.*: $bad"
    if [ "$o" = app_a ] || [ "$o" = app_b ]; then
        for kind in text rodata data bss; do
            alloc_sections "$D/$o.user.o" | grep -q "^\.user\.$kind" ||
                fail "$o.user.o has no .user.$kind* section (the check would be vacuous)"
        done
    fi
done
echo "  app_a.o after the rename: $(alloc_sections "$D/app_a.user.o" | tr '\n' ' ')"
# idempotent
for o in app_a app_b; do
    cp "$D/$o.user.o" "$D/$o.again.o"
    bash "$RENAME" "$OBJCOPY" "$D/$o.again.o" || fail "second rename of $o failed"
    cmp -s "$D/$o.user.o" "$D/$o.again.o" || fail "a second rename changed $o.user.o"
    if "$READELF" -S -W "$D/$o.again.o" | grep -q '\.user\.user'; then
        fail "a second rename made .user.user.* sections in $o"
    fi
done
# an archive, member by member
AR=$(tool ar)
if [ -n "$AR" ]; then
    rm -f "$D/libapp.a"
    "$AR" rc "$D/libapp.a" "$D/app_a.o" "$D/app_b.o"
    if bash "$RENAME" "$OBJCOPY" "$D/libapp.a"; then
        bad=$(alloc_sections "$D/libapp.a" | grep -v '^\.user\.' | sort -u | tr '\n' ' ')
        [ -z "$bad" ] || fail "libapp.a keeps allocatable sections outside .user.*: $bad"
    else
        fail "rename-sections.sh failed on an archive"
    fi
fi
# refusals
expect_refusal() { # expect_refusal LABEL STATUS FILE|- ARGS...
    local label=$1 want=$2 file=$3; shift 3
    local before="" st out
    [ "$file" = - ] || before=$(cksum <"$file")
    out=$(bash "$RENAME" "$@" 2>&1); st=$?
    if [ "$st" -ne "$want" ]; then
        fail "rename-sections.sh $label: status $st, expected $want"; note "$out"
    elif [ -z "$out" ]; then
        fail "rename-sections.sh $label: refused without a message"
    fi
    if [ "$file" != - ] && [ "$(cksum <"$file")" != "$before" ]; then
        fail "rename-sections.sh $label: changed the file it refused"
    fi
}
expect_refusal "without arguments" 2 -
expect_refusal "with no object" 2 - "$OBJCOPY"
expect_refusal "on a missing file" 1 - "$OBJCOPY" "$D/no-such.o"
printf 'not an object\n' >"$D/junk.o"
expect_refusal "on a non-ELF file" 1 "$D/junk.o" "$OBJCOPY" "$D/junk.o"
expect_refusal "with a missing objcopy" 1 "$D/app_b.o" "$D/no-such-objcopy" "$D/app_b.o"
"$READELF" -s -W "$D/app_common.o" | awk '$7 == "COM"' | grep -q . ||
    fail "setup: $CC -fcommon made no COMMON symbol in app_common.o"
alloc_sections "$D/app_ctor.o" | grep -q '^\.init_array' ||
    fail "setup: $CC made no .init_array in app_ctor.o"
cp "$D/app_common.o" "$D/app_common.user.o"
expect_refusal "on COMMON symbols" 1 "$D/app_common.user.o" "$OBJCOPY" "$D/app_common.user.o"
cp "$D/app_ctor.o" "$D/app_ctor.user.o"
expect_refusal "on .init_array" 1 "$D/app_ctor.user.o" "$OBJCOPY" "$D/app_ctor.user.o"
# several objects at once, one bad: the good one is renamed, the status is 1
cp "$D/app_b.o" "$D/app_b.multi.o"; cp "$D/app_common.o" "$D/app_common.multi.o"
if bash "$RENAME" "$OBJCOPY" "$D/app_b.multi.o" "$D/app_common.multi.o" 2>/dev/null; then
    fail "rename-sections.sh returned 0 with a refused object among several"
fi
alloc_sections "$D/app_b.multi.o" | grep -q '^\.text' &&
    fail "rename-sections.sh skipped the good object next to a refused one"

# ===========================================================================
echo "== layout"
# Orphans are reported (not placed silently); the layout check then fails on
# any allocatable output section that is not one of the script's, and any
# message but an orphan warning about a section that is not loaded (an ABI
# note such as .riscv.attributes) fails the link check.
LINKFLAGS=(-static -nostdlib -e _start --orphan-handling=warn)
"$LD" --help 2>/dev/null | grep -q -- '--no-pie' && LINKFLAGS+=(--no-pie)

# link OUT [LD ARGS...]: links with cluster.ld; prints the linker's messages
# but the orphan warnings about sections the output does not load.
link() {
    local out=$1; shift
    local msgs st line sec
    rm -f "$out"
    msgs=$("$LD" "${LINKFLAGS[@]}" -T "$SCRIPT" -Map "$out.map" "$@" -o "$out" 2>&1); st=$?
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        if [ "$st" -eq 0 ] && [[ $line =~ orphan\ section\ \`[^\']*\'\ from\ .*\ being\ placed\ in\ section\ \`([^\']*)\' ]]; then
            sec=${BASH_REMATCH[1]}
            if ! alloc_sections "$out" | grep -qxF -- "$sec"; then
                continue
            fi
        fi
        printf '%s\n' "$line"
    done <<<"$msgs"
    return $st
}
# link_ok LABEL OUT [LD ARGS...]: the link succeeds and says nothing.
link_ok() {
    local label=$1 out
    shift
    if ! out=$(link "$@"); then
        fail "$label: the link failed:"; note "$out"; return 1
    fi
    if [ -n "$out" ]; then
        fail "$label: the linker said:"; note "$out"; return 1
    fi
}

declare -A ADDR KIND
load_symbols() { # load_symbols ELF
    ADDR=(); KIND=()
    local a t n
    while read -r a t n; do
        [ -n "$n" ] || continue
        ADDR[$n]=$((16#$a)); KIND[$n]=$t
    done < <("$NM" --defined-only "$1")
}
defined_names() { "$NM" --defined-only "$@" | awk 'NF == 3 && $2 !~ /^[aN]$/ { print $3 }' | sort -u; }
hex() { printf '0x%08x' "$1"; }

USER_SYMS=(__USER_START __USER_END __USER_TEXT_START __USER_TEXT_END __USER_RODATA_START
           __USER_RODATA_END __USER_DATA_START __USER_DATA_END __USER_BSS_START __USER_BSS_END
           __USER_LOAD_START __USER_LOAD_END __KERNEL_START __KERNEL_END __KERNEL_BSS_START
           __KERNEL_BSS_END __IMAGE_END UAREA_KERNEL_BASE)

# check_layout ELF KERNEL_OBJ... -- APP_OBJ...: prints one line per problem.
check_layout() {
    local elf=$1 s a k lo hi
    shift
    local kobjs=() aobjs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do kobjs+=("$1"); shift; done
    shift
    aobjs=("$@")
    load_symbols "$elf"
    for s in "${USER_SYMS[@]}"; do
        [ -n "${ADDR[$s]:-}" ] || echo "symbol $s is not defined"
    done
    [ -n "${ADDR[__USER_END]:-}" ] || return 0
    local us=${ADDR[__USER_START]} ue=${ADDR[__USER_END]}
    for s in __USER_START __USER_END __USER_TEXT_START __USER_RODATA_START __USER_DATA_START \
             __USER_BSS_START __USER_LOAD_START __KERNEL_END; do
        (( ADDR[$s] % 4096 == 0 )) || echo "$s = $(hex "${ADDR[$s]}") is not 4 KiB aligned"
    done
    local prev=__KERNEL_START
    for s in __KERNEL_END __USER_TEXT_START __USER_TEXT_END __USER_RODATA_START __USER_RODATA_END \
             __USER_DATA_START __USER_DATA_END __USER_BSS_START __USER_BSS_END __USER_END; do
        (( ADDR[$prev] <= ADDR[$s] )) || echo "$prev ($(hex "${ADDR[$prev]}")) lies above $s ($(hex "${ADDR[$s]}"))"
        prev=$s
    done
    (( ADDR[__USER_START] == ADDR[__USER_TEXT_START] )) || echo "__USER_START is not __USER_TEXT_START"
    (( ADDR[__USER_LOAD_END] - ADDR[__USER_LOAD_START] == ue - us )) ||
        echo "the user part's load size differs from its size"
    (( ADDR[__USER_LOAD_START] == ADDR[__KERNEL_END] )) ||
        echo "the user part is not loaded right after the kernel"
    for s in $(defined_names "${kobjs[@]}"); do
        a=${ADDR[$s]:-}
        if [ -z "$a" ]; then echo "kernel symbol $s is missing from the link"; continue; fi
        (( a >= ADDR[UAREA_KERNEL_BASE] && a < ADDR[__KERNEL_END] && a < us )) ||
            echo "kernel symbol $s at $(hex "$a") is outside [UAREA_KERNEL_BASE, __KERNEL_END) or not below __USER_START"
    done
    for s in $(defined_names "${aobjs[@]}"); do
        a=${ADDR[$s]:-}
        if [ -z "$a" ]; then echo "application symbol $s is missing from the link"; continue; fi
        if (( a < us || a >= ue )); then
            echo "application symbol $s at $(hex "$a") is outside [__USER_START $(hex "$us"), __USER_END $(hex "$ue"))"
            continue
        fi
        case ${KIND[$s]} in
            [Tt]) k=TEXT ;; [Rr]) k=RODATA ;; [Dd]) k=DATA ;; [Bb]) k=BSS ;;
            *) echo "application symbol $s has nm type ${KIND[$s]}"; continue ;;
        esac
        lo=${ADDR[__USER_${k}_START]}; hi=${ADDR[__USER_${k}_END]}
        (( a >= lo && a < hi )) || echo "application symbol $s at $(hex "$a") is outside __USER_${k}_START/END"
    done
    # sections and segments
    local known=" .mOS .text .rodata .note.gnu.build-id .rela.dyn .plt .data .got .bss .user.text .user.rodata .user.data .user.bss "
    local name addr size
    while read -r name addr size _; do
        a=$((16#$addr)); size=$((16#$size))
        [[ $known == *" $name "* ]] || echo "allocatable section $name is not one of cluster.ld's (an orphan)"
        case $name in
            .user.*) (( a >= us && a + size <= ue )) || echo "section $name lies outside the user part" ;;
            *) (( a + size <= ADDR[__KERNEL_END] )) || echo "kernel section $name reaches past __KERNEL_END" ;;
        esac
    done < <("$READELF" -S -W "$elf" | sed -n 's/^ *\[ *[0-9][0-9]*\] *//p' |
             awk 'NF == 10 && $7 ~ /A/ { print $1, $3, $5, $7 }')
    "$READELF" -l -W "$elf" | awk '/Section to Segment mapping/ { on = 1; next } on && NF > 1 {
        u = 0; o = 0; for (i = 2; i <= NF; i++) if ($i ~ /^\.user\./) u++; else o++
        if (u && o) print "segment " $1 " mixes user and kernel sections:" substr($0, index($0, $2) - 1) }'
    local entry
    entry=$("$READELF" -h "$elf" | awk '/Entry point/ { print $NF }')
    (( entry == ADDR[_start] )) || echo "entry point $entry is not _start"
}

# The checker must see an application that was not renamed.
if link_ok "unrenamed application" "$D/plain.elf" "$D/kernel.o" "$D/app_a.o" "$D/app_b.o"; then
    problems=$(check_layout "$D/plain.elf" "$D/kernel.o" -- "$D/app_a.o" "$D/app_b.o")
    if [ -z "$problems" ]; then
        fail "the layout checker found nothing wrong with an application that was not renamed"
    else
        echo "  checker self-test: an unrenamed application gives $(echo "$problems" | wc -l) problem(s), e.g."
        echo "$problems" | head -2 | sed 's/^/    /'
    fi
fi

if link_ok "cluster.elf" "$D/cluster.elf" "$D/kernel.o" "$D/app_a.user.o" "$D/app_b.user.o"; then
    problems=$(check_layout "$D/cluster.elf" "$D/kernel.o" -- "$D/app_a.user.o" "$D/app_b.user.o")
    if [ -n "$problems" ]; then
        fail "layout of cluster.elf:"; echo "$problems" | sed 's/^/  /'
    fi
    load_symbols "$D/cluster.elf"
    for s in __KERNEL_START __KERNEL_END __USER_START __USER_TEXT_START __USER_RODATA_START \
             __USER_DATA_START __USER_BSS_START __USER_END; do
        printf '  %-20s %s\n' "$s" "$(hex "${ADDR[$s]}")"
    done
    printf '  %s application symbols in the user part, %s kernel symbols below it\n' \
        "$(defined_names "$D/app_a.user.o" "$D/app_b.user.o" | wc -l)" "$(defined_names "$D/kernel.o" | wc -l)"
fi

# ===========================================================================
echo "== limits"
expect_link_error() { # expect_link_error LABEL PATTERN NOT-PATTERN OBJS...
    local label=$1 pat=$2 notpat=$3; shift 3
    local out
    if out=$(link "$D/limit.elf" "$@"); then
        fail "$label: the link succeeded"
    elif ! grep -q -- "$pat" <<<"$out"; then
        fail "$label: the link failed without the message '$pat':"; note "$out"
    elif [ -n "$notpat" ] && grep -q -- "$notpat" <<<"$out"; then
        fail "$label: the link failed with '$notpat' too:"; note "$out"
    else
        echo "  $label: $(grep -- "$pat" <<<"$out" | head -1)"
    fi
}
expect_link_error "3 MiB of application bss" "do not fit the SRAM.*2 MiB" "" \
    "$D/kernel.o" "$D/app_a.user.o" "$D/app_b.user.o" "$D/app_3m.user.o"
expect_link_error "600 KiB of application bss" "larger than the user window.*512 KiB" "fit the SRAM" \
    "$D/kernel.o" "$D/app_a.user.o" "$D/app_b.user.o" "$D/app_600k.user.o"
if link_ok "400 KiB of application bss" "$D/fits.elf" \
        "$D/kernel.o" "$D/app_a.user.o" "$D/app_b.user.o" "$D/app_400k.user.o"; then
    echo "  400 KiB of application bss: links"
fi

# ===========================================================================
echo "== window"
if link_ok "UAREA_USER_VMA=0x80000000" "$D/window.elf" \
        "$D/kernel_w.o" "$D/app_a_w.user.o" "$D/app_b_w.user.o" --defsym=UAREA_USER_VMA=0x80000000; then
    problems=$(check_layout "$D/window.elf" "$D/kernel_w.o" -- "$D/app_a_w.user.o" "$D/app_b_w.user.o")
    [ -z "$problems" ] || { fail "layout of window.elf:"; echo "$problems" | sed 's/^/  /'; }
    load_symbols "$D/window.elf"
    (( ADDR[__USER_START] == 0x80000000 )) ||
        fail "__USER_START is $(hex "${ADDR[__USER_START]}"), not 0x80000000"
    (( ADDR[__USER_END] <= 0x80000000 + 512 * 1024 )) || fail "the user part leaves the 512 KiB window"
    (( ADDR[__USER_LOAD_END] <= 0x1f8000 )) || fail "the user part is not loaded in the SRAM"
    # each user segment loaded at its address's offset from __USER_LOAD_START
    segs=$("$READELF" -l -W "$D/window.elf" | awk '$1 == "LOAD" { print $3, $4 }')
    nuser=0
    while read -r v p; do
        v=$((16#${v#0x})); p=$((16#${p#0x}))
        if (( v >= 0x80000000 )); then
            nuser=$((nuser + 1))
            (( p == ADDR[__USER_LOAD_START] + v - 0x80000000 )) ||
                fail "user segment at $(hex "$v") is loaded at $(hex "$p")"
        else
            (( v == p )) || fail "kernel segment at $(hex "$v") is loaded at $(hex "$p")"
        fi
    done <<<"$segs"
    (( nuser == 2 )) || fail "expected 2 user segments at 0x80000000 and up, found $nuser"
    echo "  user part at $(hex "${ADDR[__USER_START]}")..$(hex "${ADDR[__USER_END]}")," \
         "loaded at $(hex "${ADDR[__USER_LOAD_START]}")..$(hex "${ADDR[__USER_LOAD_END]}")"
fi
expect_link_error "UAREA_USER_VMA 0x80000100" "not 4 KiB aligned" "" \
    "$D/kernel_w.o" "$D/app_a_w.user.o" --defsym=UAREA_USER_VMA=0x80000100

# ===========================================================================
echo "== wrapper"
grep -q '^[[:space:]]*OUTPUT_\(FORMAT\|ARCH\)' "$SCRIPT" &&
    fail "cluster.ld names an output format or architecture"
grep -q '^OUTPUT_FORMAT("elf32-k1")' "$LDDIR/cluster-k1b.ld" || fail "cluster-k1b.ld has no OUTPUT_FORMAT(\"elf32-k1\")"
grep -q '^OUTPUT_ARCH(k1bdp)' "$LDDIR/cluster-k1b.ld" || fail "cluster-k1b.ld has no OUTPUT_ARCH(k1bdp)"
mkdir -p "$D/wrap"
grep -v '^OUTPUT_' "$LDDIR/cluster-k1b.ld" >"$D/wrap/host.ld"
if out=$("$LD" "${LINKFLAGS[@]}" -L "$LDDIR" -T "$D/wrap/host.ld" "$D/kernel.o" "$D/app_a.user.o" \
              "$D/app_b.user.o" -o "$D/wrap/cluster.elf" 2>&1); then
    cmp -s <("$NM" -n "$D/cluster.elf") <("$NM" -n "$D/wrap/cluster.elf") ||
        fail "the link through cluster-k1b.ld differs from the link with cluster.ld"
    echo "  cluster-k1b.ld (host format) links the same image"
else
    fail "link through cluster-k1b.ld failed:"; note "$out"
fi

# ===========================================================================
echo "== cmake"
if ! command -v cmake >/dev/null 2>&1; then
    echo "  cmake not installed: the CMake functions are not checked"
else
    P="$D/cmake"; mkdir -p "$P/src"
    cp "$D/kernel.c" "$D/app_a.c" "$D/app_b.c" "$P/src/"
    cat >"$P/src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.21)
project(cluster_probe C)
include("$CMAKE_MODULE")
set(flags -O2 -ffreestanding -fno-pic -fno-stack-protector)
set_source_files_properties(app_a.c PROPERTIES COMPILE_OPTIONS "-ffunction-sections;-fdata-sections")
foreach(v "" _w)
    add_library(app\${v} OBJECT app_a.c app_b.c)
    uarea_mppa256_user_objects(app\${v})
    add_executable(cluster\${v} kernel.c)
    target_link_libraries(cluster\${v} PRIVATE app\${v})
    target_link_options(cluster\${v} PRIVATE -nostdlib -static -no-pie "LINKER:-e,_start")
endforeach()
target_compile_options(app PRIVATE \${flags})
target_compile_options(cluster PRIVATE \${flags})
uarea_mppa256_cluster_link(cluster)
target_compile_options(app_w PRIVATE \${flags} ${WINDOW_CFLAGS[*]})
target_compile_options(cluster_w PRIVATE \${flags} ${WINDOW_CFLAGS[*]})
uarea_mppa256_cluster_link(cluster_w SCRIPT cluster.ld USER_VMA 0x80000000)
EOF
    cm() { env -u CFLAGS -u LDFLAGS -u CMAKE_GENERATOR cmake "$@" 2>&1; }
    cmake_layout() { # cmake_layout LABEL EXE OBJDIR
        local objs problems o bad
        mapfile -t objs < <(find "$3" -name 'app_*.c.o' | sort)
        if [ "${#objs[@]}" -ne 2 ]; then
            fail "$1: expected 2 application objects in $3, found ${#objs[@]}"; return
        fi
        problems=$(check_layout "$2" "$D/kernel.o" -- "${objs[@]}")
        [ -z "$problems" ] || { fail "$1:"; echo "$problems" | sed 's/^/  /'; }
        for o in "${objs[@]}"; do
            bad=$(alloc_sections "$o" | grep -v '^\.user\.' | tr '\n' ' ')
            [ -z "$bad" ] || fail "$1: $o keeps allocatable sections outside .user.*: $bad"
        done
    }
    B="$P/build"
    if ! out=$(cm -S "$P/src" -B "$B" -DCMAKE_C_COMPILER="$CC" \
                  -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY); then
        fail "cmake configure failed:"; note "$out"
    elif ! out=$(cm --build "$B"); then
        fail "cmake build failed:"; note "$out"
    else
        cmake_layout "layout of the CMake build" "$B/cluster" "$B/CMakeFiles/app.dir"
        cmake_layout "layout of the CMake build at USER_VMA" "$B/cluster_w" "$B/CMakeFiles/app_w.dir"
        load_symbols "$B/cluster_w"
        (( ${ADDR[__USER_START]:-0} == 0x80000000 )) ||
            fail "USER_VMA 0x80000000: __USER_START is $(hex "${ADDR[__USER_START]:-0}")"
        obj_b=$(find "$B/CMakeFiles/app.dir" -name 'app_b.c.o')
        touch -r "$obj_b" "$P/stamp"
        sleep 1; touch "$P/src/app_b.c"
        if ! out=$(cm --build "$B"); then
            fail "cmake rebuild failed:"; note "$out"
        elif ! [ "$obj_b" -nt "$P/stamp" ]; then
            fail "touching app_b.c did not rebuild its object"
        else
            cmake_layout "layout after a rebuild of app_b.c" "$B/cluster" "$B/CMakeFiles/app.dir"
            echo "  uarea_mppa256_user_objects + uarea_mppa256_cluster_link (also USER_VMA):" \
                 "built, rebuilt, laid out"
        fi
    fi
fi

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS failure(s)"
    exit 1
fi
echo "ok: cluster.ld, rename-sections.sh and UareaMppa256.cmake on $triple"
