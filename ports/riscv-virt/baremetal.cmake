# baremetal.cmake - the MPPA-256 port on bare metal: four QEMU `virt`
# (riscv64) instances, each a compute cluster running the port's own runtime
# in the small kernel of ports/riscv-virt, a container moving between them
# (ports/riscv-virt/README.md). Included by tests/mppa/CMakeLists.txt.
#
# The cluster image is a project of its own (ports/riscv-virt/CMakeLists.txt),
# built with riscv64-unknown-elf-gcc as an ExternalProject when configure
# finds that compiler. The test runs ports/riscv-virt/check.sh on it: the
# three scenarios and the checks of their transcripts. It is skipped (77)
# when qemu-system-riscv64 or the cross compiler is missing, unless
# UAREA_REQUIRE_CROSS=1.
find_program(UAREA_RISCV_ELF_GCC riscv64-unknown-elf-gcc)
set(UAREA_RISCV_VIRT_ELF "")
if(UAREA_RISCV_ELF_GCC)
    include(ExternalProject)
    set(_rv_bin ${CMAKE_CURRENT_BINARY_DIR}/riscv-virt)
    ExternalProject_Add(riscv_virt_image
        SOURCE_DIR ${PROJECT_SOURCE_DIR}/ports/riscv-virt
        BINARY_DIR ${_rv_bin}
        CMAKE_ARGS
            -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/ports/riscv-virt/cmake/riscv64-elf.cmake
            -DCMAKE_BUILD_TYPE=
            -DRV_WERROR=${UAREA_WERROR}
        INSTALL_COMMAND ""
        BUILD_ALWAYS TRUE          # the sources are the tree's: let make decide
        BUILD_BYPRODUCTS ${_rv_bin}/cluster.elf)
    set(UAREA_RISCV_VIRT_ELF ${_rv_bin}/cluster.elf)
endif()
add_test(NAME baremetal_riscv_virt
         COMMAND bash ${PROJECT_SOURCE_DIR}/ports/riscv-virt/check.sh "${UAREA_RISCV_VIRT_ELF}")
set_tests_properties(baremetal_riscv_virt PROPERTIES
    ENVIRONMENT "UAREA_BINARY_DIR=${CMAKE_CURRENT_BINARY_DIR}/riscv-virt-run"
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    LABELS "baremetal")
