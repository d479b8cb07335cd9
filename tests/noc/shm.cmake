# The POSIX shared-memory transport (ports/posix/include/uarea_posix/noc_shm.h).
# Included by tests/noc/CMakeLists.txt.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # Semantics and every error, nodes attached in one process.
    uarea_add_test(NAME test_shm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shm.c
                   LIBS uarea::posix Threads::Threads)
    # Real concurrency: nodes as threads and as forked processes, peer death.
    uarea_add_test(NAME test_shm_proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shm_proc.c
                   LIBS uarea::posix LABELS procs)
    # Interleavings forced by wrapping clock_gettime and memcpy (no Criterion).
    add_executable(test_shm_races ${CMAKE_CURRENT_LIST_DIR}/test_shm_races.c)
    target_link_libraries(test_shm_races PRIVATE uarea_warnings uarea::posix Threads::Threads)
    add_test(NAME test_shm_races COMMAND test_shm_races)
    set_tests_properties(test_shm_races PROPERTIES TIMEOUT 120 LABELS "unit")
endif()
