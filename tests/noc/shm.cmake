# The POSIX shared-memory transport (ports/posix/include/uarea_posix/noc_shm.h).
# Included by tests/noc/CMakeLists.txt.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # Semantics and every error, nodes attached in one process.
    uarea_add_test(NAME test_shm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shm.c
                   LIBS uarea::posix)
    # Real concurrency: nodes as threads and as forked processes, peer death.
    uarea_add_test(NAME test_shm_proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shm_proc.c
                   LIBS uarea::posix LABELS procs)
endif()
