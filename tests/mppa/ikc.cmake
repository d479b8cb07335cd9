# The MPPA-256 chip model (ports/mppa256/model/nanvix_model.h): Nanvix's IKC
# calls between cluster processes, cores, events, counters, faults.
# Included by tests/mppa/CMakeLists.txt.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    set(MPPA_IKC_INCLUDES ${PROJECT_SOURCE_DIR}/ports/mppa256/include
                          ${PROJECT_SOURCE_DIR}/ports/mppa256/model)
    # Criterion cannot start under ThreadSanitizer on this toolchain ("Could
    # not initialize inheritable arena"): this one is not labelled "threads";
    # the same source built without Criterion below is, for the TSan run.
    uarea_add_test(NAME test_mppa_ikc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mppa_ikc.c
                   LIBS uarea::uarea Threads::Threads LABELS procs)
    target_include_directories(test_mppa_ikc PRIVATE ${MPPA_IKC_INCLUDES})

    add_executable(test_mppa_ikc_standalone ${CMAKE_CURRENT_LIST_DIR}/test_mppa_ikc.c)
    target_compile_definitions(test_mppa_ikc_standalone PRIVATE MPPA_IKC_STANDALONE)
    target_include_directories(test_mppa_ikc_standalone PRIVATE ${MPPA_IKC_INCLUDES})
    target_link_libraries(test_mppa_ikc_standalone PRIVATE uarea_warnings uarea::uarea Threads::Threads)
    add_test(NAME test_mppa_ikc_standalone COMMAND test_mppa_ikc_standalone)
    set_tests_properties(test_mppa_ikc_standalone PROPERTIES TIMEOUT 120 LABELS "unit;threads;procs")
endif()
