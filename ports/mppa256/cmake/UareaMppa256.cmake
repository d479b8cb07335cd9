# UareaMppa256.cmake - the kernel/user split of an MPPA-256 compute cluster's
# binary, done at link time: the application's sections are renamed to
# .user.* (ports/mppa256/scripts/rename-sections.sh) and the binary is linked
# with ports/mppa256/ld/cluster.ld, which gathers them above the kernel
# between __USER_START and __USER_END.
#
#   include(<uarea>/ports/mppa256/cmake/UareaMppa256.cmake)
#
#   add_library(app OBJECT app.c)              # the application
#   uarea_mppa256_user_objects(app)            # its sections become .user.*
#
#   add_executable(cluster kernel.c)           # the kernel
#   target_link_libraries(cluster PRIVATE app) # (or $<TARGET_OBJECTS:app>)
#   uarea_mppa256_cluster_link(cluster)        # linked with cluster.ld
#
# uarea_mppa256_user_objects(<target>)
#   <target> is an OBJECT library. Each of its C (and C++) objects is renamed
#   right after it is compiled: the target's compiler launcher becomes
#   ports/mppa256/scripts/compile-user.sh, which runs the compile (through
#   the launcher the target had before, ccache for one) and then
#   rename-sections.sh with ${CMAKE_OBJCOPY} on the object. So a rebuilt
#   object is renamed again, and the objects are renamed before anything
#   links them. A rename that fails (COMMON symbols, or an allocatable
#   section with no user counterpart) fails that compile and deletes the
#   object. <target> is compiled with -fno-common (GCC and Clang), so that
#   tentative definitions get a .bss section. ${CMAKE_READELF}, when CMake
#   found one, is the readelf the script lists sections with.
#   CMake has no launcher for assembly: an application's assembly sources
#   name their sections .user.* themselves (the cluster link puts any other
#   .text into the kernel part).
#
# uarea_mppa256_cluster_link(<target> [SCRIPT <file>] [USER_VMA <address>])
#   Links the executable <target> with the cluster script: -T <file> and
#   -L ports/mppa256/ld (for the INCLUDE in cluster-k1b.ld); <target> is
#   relinked when a script changes. SCRIPT defaults to cluster-k1b.ld when
#   CMAKE_SYSTEM_PROCESSOR names the k1 (a cross build for the chip), to
#   cluster.ld otherwise; a relative name is taken in ports/mppa256/ld.
#   USER_VMA links the user part at that virtual address (0x80000000, the
#   user window) while it stays loaded right after the kernel
#   (--defsym=UAREA_USER_VMA=<address>). The other settings of cluster.ld
#   are given the same way, with target_link_options(<target> PRIVATE
#   "LINKER:--defsym=UAREA_SRAM_SIZE=...").
#
#   What a bare-metal link needs besides (no C library or start files, no
#   PIE: -nostdlib -static -no-pie, the kernel's entry with -e) is the
#   toolchain file's or the project's business, as for any cluster binary.
#
# Needs GNU ld (or a linker that reads GNU ld scripts with PHDRS, PROVIDE
# and ASSERT), bash and objcopy/readelf from the same binutils.

function(uarea_mppa256_user_objects target)
    if(NOT TARGET ${target})
        message(FATAL_ERROR "uarea_mppa256_user_objects: no target '${target}'")
    endif()
    get_target_property(type ${target} TYPE)
    if(NOT type STREQUAL "OBJECT_LIBRARY")
        message(FATAL_ERROR "uarea_mppa256_user_objects: '${target}' is a ${type}, "
                            "not an OBJECT library")
    endif()
    if(NOT CMAKE_OBJCOPY)
        message(FATAL_ERROR "uarea_mppa256_user_objects: CMAKE_OBJCOPY is not set "
                            "(no objcopy found for the compiler)")
    endif()
    find_program(UAREA_MPPA256_BASH bash REQUIRED)
    get_filename_component(launcher
        "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../scripts/compile-user.sh" ABSOLUTE)
    set(env "")
    if(CMAKE_READELF)
        set(env "READELF=${CMAKE_READELF}")
    endif()
    foreach(lang C CXX)
        get_target_property(before ${target} ${lang}_COMPILER_LAUNCHER)
        if(NOT before)
            set(before "")
        endif()
        set_property(TARGET ${target} PROPERTY ${lang}_COMPILER_LAUNCHER
            "${CMAKE_COMMAND}" -E env ${env}
            "${UAREA_MPPA256_BASH}" "${launcher}" "${CMAKE_OBJCOPY}" ${before})
    endforeach()
    if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-fno-common>)
    endif()
endfunction()

function(uarea_mppa256_cluster_link target)
    cmake_parse_arguments(PARSE_ARGV 1 U "" "SCRIPT;USER_VMA" "")
    if(U_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "uarea_mppa256_cluster_link: unknown arguments: "
                            "${U_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT TARGET ${target})
        message(FATAL_ERROR "uarea_mppa256_cluster_link: no target '${target}'")
    endif()
    get_target_property(type ${target} TYPE)
    if(NOT type STREQUAL "EXECUTABLE")
        message(FATAL_ERROR "uarea_mppa256_cluster_link: '${target}' is a ${type}, "
                            "not an executable")
    endif()
    get_filename_component(ld_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../ld" ABSOLUTE)
    if(NOT U_SCRIPT)
        if(CMAKE_SYSTEM_PROCESSOR MATCHES "^k1")
            set(U_SCRIPT cluster-k1b.ld)
        else()
            set(U_SCRIPT cluster.ld)
        endif()
    endif()
    if(NOT IS_ABSOLUTE "${U_SCRIPT}")
        set(U_SCRIPT "${ld_dir}/${U_SCRIPT}")
    endif()
    if(NOT EXISTS "${U_SCRIPT}")
        message(FATAL_ERROR "uarea_mppa256_cluster_link: no linker script '${U_SCRIPT}'")
    endif()
    if(DEFINED U_USER_VMA)
        if(NOT U_USER_VMA MATCHES "^(0[xX][0-9a-fA-F]+|[0-9]+)$")
            message(FATAL_ERROR "uarea_mppa256_cluster_link: USER_VMA '${U_USER_VMA}' "
                                "is not a number")
        endif()
        target_link_options(${target} PRIVATE "LINKER:--defsym=UAREA_USER_VMA=${U_USER_VMA}")
    endif()
    target_link_options(${target} PRIVATE
        "LINKER:-L,${ld_dir}"
        "LINKER:-T,${U_SCRIPT}")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS
        "${ld_dir}/cluster.ld" "${U_SCRIPT}")
endfunction()
