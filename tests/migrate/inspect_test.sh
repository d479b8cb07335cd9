#!/usr/bin/env bash
# Runs tools/uarea-inspect on the images mkimage writes and checks its output
# and exit status. Usage: inspect_test.sh MODE (setup, good, good_json,
# damaged, damaged_json, truncated, header, usage, pipe, ioerror, json_escape).
# Environment: INSPECT (the tool), MKIMAGE (the generator), IMAGES (a dir).
set -uo pipefail
export LC_ALL=C
mode=${1:?mode}
: "${INSPECT:?}" "${MKIMAGE:?}" "${IMAGES:?}"
fail() { echo "FAIL [$mode]: $*"; echo "--- output:"; echo "$out"; exit 1; }
# expect STATUS ARGS...: run the tool, check the exit status
expect() {
    local want=$1; shift
    out=$("$INSPECT" "$@" 2>&1); rc=$?
    [ "$rc" -eq "$want" ] || fail "exit status $rc, want $want"
}
# expect_split STATUS ARGS...: the same, with stdout in $out and stderr in $err
expect_split() {
    local want=$1; shift
    out=$("$INSPECT" "$@" 2>"$IMAGES/stderr.$mode"); rc=$?
    err=$(cat "$IMAGES/stderr.$mode")
    [ "$rc" -eq "$want" ] || fail "exit status $rc, want $want (stderr: $err)"
}
has() { grep -qE -- "$1" <<<"$out" || fail "output lacks /$1/"; }
hasf() { grep -qF -- "$1" <<<"$out" || fail "output lacks the bytes $1"; }
lacks() { ! grep -qE -- "$1" <<<"$out" || fail "output has /$1/"; }
out=""
case $mode in
setup)
    rm -rf "$IMAGES"; mkdir -p "$IMAGES"
    "$MKIMAGE" "$IMAGES" || fail "mkimage failed"
    ;;
good)
    expect 0 "$IMAGES/zero.img"
    has '^header: format version 1, word size [48], cpu [a-z0-9_]+, page size 256$'
    has 'layout fingerprint 0x5eed1a70a1f00001, binary fingerprint 0x5eedb1a2b3c40002'
    has '^  12 sections'
    # every section listed, with its type, address, length and CRC verdict
    [ "$(grep -cE '^ +[0-9]+  (user|uarea|stack|heap) ' <<<"$out")" -eq 12 ] || fail "not 12 section lines"
    has '^ +0  user +- +0x0000000080000000 +300 +300  ok$'
    has '^ +10  heap +zero +0x0000000080001100 +256 +0  ok$'
    has '^trailer: 12 sections, magic ok, stream CRC ok$'
    has '2 zero sections \(512 bytes not sent\)'
    has '^result: ok$'
    lacks 'BAD'
    ;;
good_json)
    expect 0 --json "$IMAGES/good.img"
    [ "$(wc -l <<<"$out")" -eq 1 ] || fail "JSON is not one line"
    has '^\{"file":".*good\.img","size":2065,"header":\{"version":1,'
    has '"sections":8,'
    has '"index":3,"type":"stack","type_id":3,"flags":0,"zero":false,"optional":false,"addr":"0x0000000080000400","len":128,"stored":128,"header_crc_ok":true,"crc_ok":true,"truncated":false\}'
    has '"trailer":\{"sections":8,"magic_ok":true,"crc_ok":true\}'
    has '"ok":true\}$'
    lacks '"crc_ok":false'
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <<<"$out" >/dev/null || fail "not valid JSON"
    fi
    ;;
damaged)
    expect 1 "$IMAGES/crc.img"
    has '^ +2  uarea +- +0x0000000080000200 +200 +200  BAD$'
    has '^ +3  stack .*  ok$'
    has 'stream CRC BAD'
    has '^result: DAMAGED: image CRC mismatch \(UAREA_EIMGCRC, -65\) in section 2 \(uarea at 0x0000000080000200\)$'
    expect 1 "$IMAGES/hdrcrc.img"
    has 'section header CRC mismatch; stopping'
    has 'in section 2 \(its header\)$'
    expect 1 "$IMAGES/format.img"
    has 'UAREA_EIMGFORMAT.* in section 4'
    expect 1 "$IMAGES/unknown.img"
    has 'UAREA_EIMGVERSION.* in section 1'
    expect 0 "$IMAGES/optional.img"
    has '^ +1  unknown +optional '
    ;;
damaged_json)
    expect 1 --json "$IMAGES/crc.img"
    has '"index":2,"type":"uarea",.*"crc_ok":false'
    has '"ok":false,"error":\{"code":-65,"name":"UAREA_EIMGCRC","message":"[^"]+","where":"section","section":2\}\}$'
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <<<"$out" >/dev/null || fail "not valid JSON"
    fi
    ;;
truncated)
    expect 1 "$IMAGES/trunc.img"
    has 'truncated'
    has 'UAREA_EIMGTRUNC.* in section 7'
    expect 1 --json "$IMAGES/trunc.img"
    has '"name":"UAREA_EIMGTRUNC"'
    ;;
header)
    expect 1 "$IMAGES/magic.img"
    has '^header: not a uarea image'
    has 'UAREA_EIMGMAGIC.* in the header$'
    expect 1 "$IMAGES/version.img"
    has 'UAREA_EIMGVERSION'
    expect 1 --json "$IMAGES/version.img"
    has '"where":"header"'
    ;;
usage)
    expect 2
    has 'usage'
    expect 2 "$IMAGES/does-not-exist.img"
    has 'cannot open'
    expect 2 --frobnicate "$IMAGES/good.img"
    ;;
pipe)
    # The same bytes through a pipe, standard input or a FIFO give the same
    # output (but for the file's name) and the same exit status as the file.
    for img in good zero crc hdrcrc trunc magic optional; do
        for json in "" --json; do
            f=$IMAGES/$img.img
            out=$("$INSPECT" $json "$f" 2>&1); want_rc=$?; want=$out
            [ "$want_rc" -le 1 ] || fail "$img.img: exit status $want_rc"
            out=$("$INSPECT" $json /dev/stdin <"$f" 2>&1); rc=$?
            [ "$rc" -eq "$want_rc" ] && [ "${out/\/dev\/stdin/$f}" = "$want" ] \
                || fail "$img.img $json from a redirect: exit status $rc, want $want_rc; want output:
$want"
            out=$(cat "$f" | "$INSPECT" $json /dev/stdin 2>&1); rc=$?
            [ "$rc" -eq "$want_rc" ] && [ "${out/\/dev\/stdin/$f}" = "$want" ] \
                || fail "$img.img $json through a pipe: exit status $rc, want $want_rc; want output:
$want"
            out=$(cat "$f" | "$INSPECT" $json - 2>&1); rc=$?
            [ "$rc" -eq "$want_rc" ] && [ "${out/-/$f}" = "$want" ] \
                || fail "$img.img $json through a pipe as -: exit status $rc, want $want_rc; want output:
$want"
        done
    done
    rm -f "$IMAGES/fifo"; mkfifo "$IMAGES/fifo" || fail "mkfifo"
    cat "$IMAGES/good.img" >"$IMAGES/fifo" & writer=$!
    out=$("$INSPECT" "$IMAGES/fifo" 2>&1); rc=$?
    kill "$writer" 2>/dev/null; wait "$writer"
    [ "$rc" -eq 0 ] || fail "exit status $rc from a FIFO, want 0"
    has '\(2065 bytes\)$'
    has '^result: ok$'
    ;;
ioerror)
    # I/O errors exit 2, name the file and the reason, print no listing.
    expect_split 2 "$IMAGES"
    [ -z "$out" ] || fail "a listing for a directory"
    grep -qF "$IMAGES: Is a directory" <<<"$err" || fail "stderr lacks the reason: $err"
    expect_split 2 --json "$IMAGES"
    [ -z "$out" ] || fail "a JSON listing for a directory"
    expect_split 2 "$IMAGES/does-not-exist.img"
    [ -z "$out" ] || fail "a listing for a missing file"
    grep -qF "$IMAGES/does-not-exist.img: No such file or directory" <<<"$err" \
        || fail "stderr lacks the reason: $err"
    expect_split 2 - <"$IMAGES"
    grep -qF -- "-: Is a directory" <<<"$err" || fail "stderr lacks the reason: $err"
    # A read error on a file that opens: reading /proc/self/mem at offset 0
    # fails with EIO (nothing is mapped at address 0), even for root.
    if [ -r /proc/self/mem ]; then
        expect_split 2 /proc/self/mem
        [ -z "$out" ] || fail "a listing after a read error"
        grep -qF "/proc/self/mem: Input/output error" <<<"$err" || fail "stderr lacks the reason: $err"
    fi
    # An unreadable file (root reads everything).
    if [ "$(id -u)" -ne 0 ]; then
        cp "$IMAGES/good.img" "$IMAGES/unreadable.img" && chmod 000 "$IMAGES/unreadable.img"
        expect_split 2 "$IMAGES/unreadable.img"
        grep -qF "unreadable.img: Permission denied" <<<"$err" || fail "stderr lacks the reason: $err"
        rm -f "$IMAGES/unreadable.img"
    fi
    # A failed write of the output is an I/O error too.
    if [ -w /dev/full ]; then
        "$INSPECT" "$IMAGES/good.img" >/dev/full 2>"$IMAGES/stderr.$mode"; rc=$?
        err=$(cat "$IMAGES/stderr.$mode")
        [ "$rc" -eq 2 ] || fail "exit status $rc writing to /dev/full, want 2"
        grep -qF "No space left on device" <<<"$err" || fail "stderr lacks the reason: $err"
    fi
    ;;
json_escape)
    # A file name that is not UTF-8: control characters and JSON's own
    # specials are escaped, valid UTF-8 is kept, and every byte that is not
    # part of a valid UTF-8 sequence becomes \ufffd: a stray continuation
    # byte, a lead byte cut short, overlong forms, a surrogate, a code point
    # above U+10FFFF, bytes never valid in UTF-8.
    name=$'a\x01\t"\\\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x80\xe2\x82x\xc0\x80\xe0\x80\xaf\xed\xa0\x80\xf4\x90\x80\x80\xf8\xff\x7f.img'
    bad() { printf '\\ufffd%.0s' $(seq "$1"); } # n replacement characters
    want='a\u0001\u0009\"\\'$'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'"$(bad 3)x$(bad 2)$(bad 3)$(bad 3)$(bad 4)$(bad 2)"$'\x7f''.img'
    rm -rf "$IMAGES/esc"; mkdir "$IMAGES/esc" || fail "mkdir"
    cp "$IMAGES/good.img" "$IMAGES/esc/$name" || fail "cannot create the file"
    expect 0 --json "$IMAGES/esc/$name"
    [ "$(wc -l <<<"$out")" -eq 1 ] || fail "JSON is not one line"
    hasf "{\"file\":\"$IMAGES/esc/$want\",\"size\":2065,"
    # Nothing but valid UTF-8 in the whole output (iconv, from libc, refuses
    # most invalid UTF-8 though not all: the exact bytes above are the check).
    if command -v iconv >/dev/null 2>&1; then
        iconv -f UTF-8 -t UTF-8 <<<"$out" >/dev/null 2>&1 || fail "not valid UTF-8"
    fi
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <<<"$out" >/dev/null || fail "not valid JSON"
    fi
    # The same name in a damaged image's report.
    cp "$IMAGES/crc.img" "$IMAGES/esc/$name" || fail "cannot create the file"
    expect 1 --json "$IMAGES/esc/$name"
    hasf "{\"file\":\"$IMAGES/esc/$want\","
    has '"message":"[^"]+","where":"section","section":2\}\}$'
    ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "ok: $mode"
