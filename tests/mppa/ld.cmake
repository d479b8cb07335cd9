# The kernel/user split of a cluster binary at link time (ports/mppa256/ld,
# ports/mppa256/scripts, ports/mppa256/cmake), checked with the host
# toolchain: ld_check.sh. Exits 77 (skipped) when the compiler's linker is not
# GNU ld.
add_test(NAME check_mppa_link
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ld_check.sh)
set_tests_properties(check_mppa_link PROPERTIES
    ENVIRONMENT "UAREA_SOURCE_DIR=${PROJECT_SOURCE_DIR};UAREA_BINARY_DIR=${CMAKE_CURRENT_BINARY_DIR}/ld;UAREA_CC=${CMAKE_C_COMPILER}"
    SKIP_RETURN_CODE 77
    TIMEOUT 120
    LABELS "check")
