#!/usr/bin/env bash
# The version in CMakeLists.txt and the one in include/uarea/config.h agree.
. "$(dirname "$0")/lib.sh"
cm=$(grep -m1 -E '^[[:space:]]+VERSION [0-9]' "$UAREA_SOURCE_DIR/CMakeLists.txt" | awk '{print $2}')
h=$(for p in MAJOR MINOR PATCH; do sed -n "s/^#define UAREA_VERSION_$p \([0-9]*\)$/\1/p" "$INC/uarea/config.h"; done | paste -sd.)
[ -n "$cm" ] && [ "$cm" = "$h" ] || { echo "FAIL: CMakeLists.txt says '$cm', config.h says '$h'"; exit 1; }
echo "ok: version $cm"
