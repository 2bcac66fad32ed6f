/* What the C kernels need of the compiler and the platform, in one place: target
 * attributes for the x86 kernels, prefetch, population count and a pause hint for spin
 * loops (threads, thread-local storage, atomics and aligned memory: platform.h).  GCC, Clang (Linux, macOS, MinGW) and MSVC. */
#ifndef FASTNN_PORTABLE_H
#define FASTNN_PORTABLE_H

#include <stddef.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define FNN_X86_64 1
#endif
#if defined(FNN_X86_64) && (defined(__GNUC__) || defined(__clang__))
#define FNN_OWN_X86_KERNELS 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define FNN_ARM64 1
#endif

/* A function compiled for one instruction set, called only where fnn_cpu_isa() allows it.
 * MSVC needs no attribute: it emits any intrinsic whatever /arch says.  fastnn's own
 * x86 kernels are compiled by GCC and Clang (clang-cl included): FNN_OWN_X86_KERNELS. */
#if defined(__GNUC__) || defined(__clang__)
#define FNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FNN_TARGET_AVX512 __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define FNN_TARGET_AVX512F __attribute__((target("avx512f")))
#define FNN_ALWAYS_INLINE __attribute__((always_inline)) inline
#define FNN_NOINLINE __attribute__((noinline))
#define FNN_UNUSED __attribute__((unused))
#define FNN_PREFETCH(p) __builtin_prefetch((p), 0, 1)
#define FNN_POPCOUNT(x) __builtin_popcount(x)
#define FNN_ALIGNED(n) __attribute__((aligned(n)))
#elif defined(_MSC_VER)
#include <intrin.h>
#define FNN_TARGET_AVX2
#define FNN_TARGET_AVX512
#define FNN_TARGET_AVX512F
#define FNN_ALWAYS_INLINE __forceinline
#define FNN_NOINLINE __declspec(noinline)
#define FNN_UNUSED
#define FNN_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)
#define FNN_POPCOUNT(x) ((int)__popcnt(x))
#define FNN_ALIGNED(n) __declspec(align(n))
#else
#define FNN_TARGET_AVX2
#define FNN_TARGET_AVX512
#define FNN_TARGET_AVX512F
#define FNN_ALWAYS_INLINE inline
#define FNN_NOINLINE
#define FNN_UNUSED
#define FNN_PREFETCH(p) ((void)(p))
static inline int fnn_popcount_plain(unsigned x) { int n = 0; for (; x; x &= x - 1) n++; return n; }
#define FNN_POPCOUNT(x) fnn_popcount_plain(x)
#define FNN_ALIGNED(n)
#endif

/* A hint to the core that this thread spins waiting for another (x86: pause; ARM: yield). */
#if defined(FNN_X86_64) && (defined(__GNUC__) || defined(__clang__))
#define FNN_SPIN_PAUSE() __builtin_ia32_pause()
#elif defined(FNN_X86_64) && defined(_MSC_VER)
#define FNN_SPIN_PAUSE() _mm_pause()
#elif defined(FNN_ARM64) && (defined(__GNUC__) || defined(__clang__))
#define FNN_SPIN_PAUSE() __asm__ __volatile__("yield")
#elif defined(FNN_ARM64) && defined(_MSC_VER)
#define FNN_SPIN_PAUSE() __yield()
#else
#define FNN_SPIN_PAUSE() ((void)0)
#endif

#endif
