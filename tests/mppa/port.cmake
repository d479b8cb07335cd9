# The MPPA-256 port's own code on the chip model: every cluster a process.
add_executable(mppa_chip ${CMAKE_CURRENT_SOURCE_DIR}/mppa_chip.c)
target_include_directories(mppa_chip PRIVATE ${PROJECT_SOURCE_DIR}/ports/mppa256/include
                                             ${PROJECT_SOURCE_DIR}/ports/mppa256/model)
target_link_libraries(mppa_chip PRIVATE uarea_warnings uarea_migrate Threads::Threads)
# the chip's stacks (8 KiB) are the port's default: the container code here
# stays small; the plain build keeps frame pointers for readable crashes
target_compile_options(mppa_chip PRIVATE -fno-omit-frame-pointer)
foreach(mode tour parallel refused budget)
    add_test(NAME mppa_${mode} COMMAND mppa_chip ${mode})
    set_tests_properties(mppa_${mode} PROPERTIES TIMEOUT 300 LABELS "unit;mppa;threads;procs")
endforeach()

# The port, freestanding, as a kernel image builds it (no C library).
add_test(NAME check_mppa_freestanding COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/port_check.sh)
set_tests_properties(check_mppa_freestanding PROPERTIES
    ENVIRONMENT "UAREA_SOURCE_DIR=${PROJECT_SOURCE_DIR};UAREA_BINARY_DIR=${CMAKE_CURRENT_BINARY_DIR}/port_check"
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "check;mppa")

# The transport (noc_ikc.h) through the noc calls, between cluster processes.
uarea_add_test(NAME test_mppa_noc SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_mppa_noc.c
               LIBS uarea_migrate Threads::Threads LABELS "procs;mppa")
target_include_directories(test_mppa_noc PRIVATE ${PROJECT_SOURCE_DIR}/ports/mppa256/include
                                                 ${PROJECT_SOURCE_DIR}/ports/mppa256/model)
