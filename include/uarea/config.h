/*
 * uarea/config.h - build configuration shared by every uarea header.
 *
 * Included first by every public header; you rarely include it yourself.
 *
 * Implementation macros (stb style). Define exactly one of these in exactly
 * one translation unit, before including the headers:
 *
 *   UAREA_IMPLEMENTATION          umbrella: switches on every core module below
 *   UAREA_CORE_IMPLEMENTATION     include/uarea/ (errors, UArea, threads)
 *   NOC_IMPLEMENTATION            include/noc/   (transport abstraction)
 *   MIGRATE_IMPLEMENTATION        include/migrate/ (freeze, image, protocol)
 *
 * A misspelled implementation macro leaves the functions undefined, so the
 * program fails to link (tests/checks/link_misspelled.sh proves it).
 *
 * API macro:
 *   UAREA_API      storage class of every public function (default: extern).
 *   UAREA_STATIC   define it to make every function `static` (then every
 *                  translation unit that uses the library defines the
 *                  implementation macro).
 *
 * Every configuration macro of the library has an #ifndef default sized for a
 * Kalray MPPA-256 compute cluster (see docs/configuration.md); define your own
 * value before the first include, identically in every translation unit.
 *
 * Only the freestanding C11 headers are used: <stddef.h> <stdint.h>
 * <stdbool.h> <stdalign.h> <limits.h>.
 */
#if defined(UAREA_IMPLEMENTATION)
#  ifndef UAREA_CORE_IMPLEMENTATION
#    define UAREA_CORE_IMPLEMENTATION
#  endif
#  ifndef NOC_IMPLEMENTATION
#    define NOC_IMPLEMENTATION
#  endif
#  ifndef MIGRATE_IMPLEMENTATION
#    define MIGRATE_IMPLEMENTATION
#  endif
#endif

#ifndef UAREA_CONFIG_H
#define UAREA_CONFIG_H

/* The port (uarea/port.h). Unless the program names one (UAREA_PORT_HEADER)
 * or asks for the null port (UAREA_PORT_NULL), a <uarea_port.h> found on the
 * include path selects it: a port may ship that file at the root of its
 * include directory (the POSIX port does), so that the core headers and the
 * port's may be included in any order. It is read here, before the first
 * libc header, so that it can also set the libc feature macros its port
 * needs. */
#if !defined(UAREA_PORT_HEADER) && !defined(UAREA_PORT_NULL) && defined(__has_include)
#  if __has_include(<uarea_port.h>)
#    include <uarea_port.h>
#  endif
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <limits.h>

/* Library version (also in CMakeLists.txt; tests/checks/version.sh compares). */
#define UAREA_VERSION_MAJOR 0
#define UAREA_VERSION_MINOR 1
#define UAREA_VERSION_PATCH 0
#define UAREA_VERSION \
    ((UAREA_VERSION_MAJOR * 10000) + (UAREA_VERSION_MINOR * 100) + UAREA_VERSION_PATCH)

/* C and C++ spellings of the few keywords that differ. */
#ifdef __cplusplus
#  define UAREA_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#  define UAREA_ALIGNAS(n) alignas(n)
#  define UAREA_ALIGNOF(t) alignof(t)
#  define UAREA_NORETURN [[noreturn]]
#  define UAREA_EXTERN_C_BEGIN extern "C" {
#  define UAREA_EXTERN_C_END }
#else
#  define UAREA_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#  define UAREA_ALIGNAS(n) _Alignas(n)
#  define UAREA_ALIGNOF(t) _Alignof(t)
#  define UAREA_NORETURN _Noreturn
#  define UAREA_EXTERN_C_BEGIN
#  define UAREA_EXTERN_C_END
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define UAREA_LIKELY(x) __builtin_expect(!!(x), 1)
#  define UAREA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define UAREA_UNUSED __attribute__((unused))
#else
#  define UAREA_LIKELY(x) (x)
#  define UAREA_UNLIKELY(x) (x)
#  define UAREA_UNUSED
#endif

#ifndef UAREA_API
#  ifdef UAREA_STATIC
#    define UAREA_API static UAREA_UNUSED
#  else
#    define UAREA_API extern
#  endif
#endif

/* Bulk copy and fill. Every copy of more than a few bytes in the library
 * goes through these, so a kernel maps them to its own routines and the POSIX
 * port gets libc's. The defaults are the compiler builtins, which emit inline
 * code or a call to memcpy/memset (a freestanding gcc or clang program must
 * provide those two anyway). */
#ifndef UAREA_MEMCPY
#  define UAREA_MEMCPY(dst, src, n) __builtin_memcpy((dst), (src), (n))
#endif
#ifndef UAREA_MEMSET
#  define UAREA_MEMSET(dst, c, n) __builtin_memset((dst), (c), (n))
#endif

/* Word size of the target, in bytes; part of every layout fingerprint. */
#define UAREA_WORD_SIZE ((unsigned)sizeof(void *))

/* CPU identifier; part of the layout fingerprint (an image from another CPU
 * is refused). Values are stable: they go into images. */
#define UAREA_CPU_UNKNOWN 0u
#define UAREA_CPU_X86_64 1u
#define UAREA_CPU_AARCH64 2u
#define UAREA_CPU_RISCV64 3u
#define UAREA_CPU_RISCV32 4u
#define UAREA_CPU_ARM32 5u
#define UAREA_CPU_K1B 6u
#define UAREA_CPU_I386 7u

#ifndef UAREA_CPU
#  if defined(__x86_64__)
#    define UAREA_CPU UAREA_CPU_X86_64
#  elif defined(__aarch64__)
#    define UAREA_CPU UAREA_CPU_AARCH64
#  elif defined(__riscv) && (__riscv_xlen == 64)
#    define UAREA_CPU UAREA_CPU_RISCV64
#  elif defined(__riscv) && (__riscv_xlen == 32)
#    define UAREA_CPU UAREA_CPU_RISCV32
#  elif defined(__arm__)
#    define UAREA_CPU UAREA_CPU_ARM32
#  elif defined(__k1b__) || defined(__k1__)
#    define UAREA_CPU UAREA_CPU_K1B
#  elif defined(__i386__)
#    define UAREA_CPU UAREA_CPU_I386
#  else
#    define UAREA_CPU UAREA_CPU_UNKNOWN
#  endif
#endif

/* Sanitizers, detected here for every header (the ports' too):
 * UAREA__ASAN under AddressSanitizer, UAREA__TSAN under ThreadSanitizer, from
 * gcc's __SANITIZE_*__ or clang's __has_feature. AddressSanitizer must be
 * told when poisoned stack frames are copied or reused (a frozen container's
 * stacks, a restored one's, a thread's new stack), both sanitizers about
 * every stack switch (uarea/thread.h). */
#if defined(__SANITIZE_ADDRESS__)
#  define UAREA__ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define UAREA__ASAN 1
#  endif
#endif
#if defined(__SANITIZE_THREAD__)
#  define UAREA__TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define UAREA__TSAN 1
#  endif
#endif
#ifdef UAREA__ASAN
UAREA_EXTERN_C_BEGIN
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
UAREA_EXTERN_C_END
#endif

#endif /* UAREA_CONFIG_H */
