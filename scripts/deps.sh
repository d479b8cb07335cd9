# Sourced by scripts/test and scripts/demo: makes sure the Debian packages the
# build needs are installed. As root it installs what is missing with
# apt-get; otherwise it prints the exact command and exits non-zero.
uarea_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "uarea needs these Debian packages; install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
}
# What building uarea and its examples needs.
UAREA_BUILD_PKGS=(cmake make gcc libc6-dev pkg-config)
# What the tests add: Criterion, clang and its sanitizer runtimes, C++ for the
# header checks, cross compilers for the 32/64-bit header checks, valgrind,
# spin (the protocol model), qemu-user and cross libcs (context switches of
# other CPUs run under emulation), qemu-system-misc (the bare-metal clusters
# of ports/riscv-virt on QEMU `virt`), Open MPI (the MPI transport's tests,
# run as MPI jobs: ctest -L mpi).
UAREA_TEST_PKGS=(g++ clang libclang-rt-14-dev libcriterion-dev
                 gcc-arm-none-eabi gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu
                 gcc-riscv64-unknown-elf valgrind spin
                 qemu-user libc6-dev-arm64-cross libc6-dev-riscv64-cross
                 qemu-system-misc openmpi-bin libopenmpi-dev)
