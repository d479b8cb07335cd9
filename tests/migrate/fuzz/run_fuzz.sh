#!/usr/bin/env bash
# Builds the image reader's libFuzzer harness with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for UAREA_FUZZ_SECONDS
# (default 20) on a copy of the seed corpus. Exits 77 (ctest: skipped) when
# clang or the libFuzzer runtime is missing (Debian: libclang-rt-14-dev).
# A crash leaves its input as $UAREA_BINARY_DIR/crash-*.
set -uo pipefail
src=${UAREA_SOURCE_DIR:?}
out=${UAREA_BINARY_DIR:?}
secs=${UAREA_FUZZ_SECONDS:-20}
here=$src/tests/migrate/fuzz
mkdir -p "$out"
cc=${UAREA_FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: $cc not installed"; exit 77; }
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$out/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1; then
    echo "SKIP: the libFuzzer runtime is missing (Debian: libclang-rt-14-dev)"; exit 77
fi
"$cc" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -I"$src/include" "$here/fuzz_image.c" -o "$out/fuzz_image" || exit 1
rm -rf "$out/corpus"
mkdir -p "$out/corpus"
cp "$here"/corpus/* "$out/corpus/"
"$out/fuzz_image" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" 2>&1 | tail -25
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && echo "ok: fuzzed for ${secs}s without a finding"
exit "$rc"
