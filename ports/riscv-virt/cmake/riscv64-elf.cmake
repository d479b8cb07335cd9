# riscv64-elf.cmake - CMake toolchain file for the riscv-virt cluster kernel:
# bare metal (no operating system, no C library), riscv64-unknown-elf-gcc.
# The compiler may be named otherwise with -DRISCV_ELF_PREFIX=<prefix>
# (default riscv64-unknown-elf-).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
if(NOT RISCV_ELF_PREFIX)
    set(RISCV_ELF_PREFIX riscv64-unknown-elf-)
endif()
set(CMAKE_C_COMPILER ${RISCV_ELF_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${RISCV_ELF_PREFIX}gcc)
set(CMAKE_OBJCOPY ${RISCV_ELF_PREFIX}objcopy CACHE FILEPATH "objcopy of the cross toolchain")
set(CMAKE_READELF ${RISCV_ELF_PREFIX}readelf CACHE FILEPATH "readelf of the cross toolchain")
# no C library to link a test program against
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
