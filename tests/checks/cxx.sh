#!/usr/bin/env bash
# Every public header compiles on its own as C++ (g++ and clang++, C++11 and
# C++17), freestanding, with warnings as errors, and its functions get C
# linkage (extern "C"): a C++ file calls uarea_strerror, defined by a C file.
. "$(dirname "$0")/lib.sh"
need g++; need clang++; need gcc
n=0
for h in $(headers); do
    src="$UAREA_BINARY_DIR/cxx_$(echo "$h" | tr '/.' '__').cpp"
    printf '#include <%s>\n' "$h" > "$src"
    for cxx in g++ clang++; do
        for std in c++11 c++17; do
            try "$cxx $std $h" "$cxx" -std=$std -ffreestanding "${WARN[@]}" -I"$INC" -c -o /dev/null "$src"
            n=$((n + 1))
        done
    done
done
# C linkage: the implementation compiled as C, used from C++.
d="$UAREA_BINARY_DIR/cxx_link"; mkdir -p "$d"
printf '#define UAREA_IMPLEMENTATION\n#include <uarea/error.h>\n' > "$d/impl.c"
cat > "$d/main.cpp" <<'CPP'
#include <uarea/error.h>
#include <cstring>
int main() { return std::strcmp(uarea_strerror(UAREA_EINVAL), "invalid argument") != 0; }
CPP
try "c++ link" gcc -std=c11 "${WARN[@]}" -I"$INC" -c "$d/impl.c" -o "$d/impl.o"
try "c++ link" g++ -std=c++11 "${WARN[@]}" -I"$INC" "$d/main.cpp" "$d/impl.o" -o "$d/main"
try "c++ run" "$d/main"
finish "$n C++ compiles, C linkage from C++"
