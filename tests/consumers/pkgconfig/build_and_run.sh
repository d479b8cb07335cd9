#!/usr/bin/env bash
# Builds tests/consumers/main.c (the core) and api_main.c (the POSIX port's
# app-facing API, core headers first) against an installed uarea found only
# through pkg-config, as a Makefile user would, and runs them.
set -euo pipefail
: "${UAREA_STAGE:?}" "${UAREA_SOURCE_DIR:?}" "${UAREA_BINARY_DIR:?}"
cc=${UAREA_CC:-cc}
export PKG_CONFIG_PATH="$UAREA_STAGE/share/pkgconfig"
# The .pc file records the install prefix; point pkg-config at the staged one.
flags=$(pkg-config --define-variable=prefix="$UAREA_STAGE" --cflags uarea)
case "$flags" in *"$UAREA_STAGE/include"*) ;; *) echo "bad cflags: $flags"; exit 1;; esac
want=$(grep -m1 -E '^[[:space:]]+VERSION [0-9]' "$UAREA_SOURCE_DIR/CMakeLists.txt" | awk '{print $2}')
got=$(pkg-config --modversion uarea)
[ "$got" = "$want" ] || { echo "pkg-config version $got, CMakeLists.txt says $want"; exit 1; }
mkdir -p "$UAREA_BINARY_DIR"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $flags \
    "$UAREA_SOURCE_DIR/tests/consumers/main.c" -o "$UAREA_BINARY_DIR/consumer"
out=$("$UAREA_BINARY_DIR/consumer")
echo "$out"
case "$out" in *"consumed: peer node is gone"*) ;; *) exit 1;; esac
# The POSIX port, in ISO C: what pkg-config gives must be enough.
pflags=$(pkg-config --define-variable=prefix="$UAREA_STAGE" --cflags --libs uarea-posix)
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $pflags \
    "$UAREA_SOURCE_DIR/tests/consumers/api_main.c" -o "$UAREA_BINARY_DIR/api_consumer" $pflags
out=$("$UAREA_BINARY_DIR/api_consumer")
echo "$out"
case "$out" in *"the container moved and came back"*) ;; *) exit 1;; esac
