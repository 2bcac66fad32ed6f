/* Which instruction set fastnn's own kernels use: the one place that knows the CPU.
 *
 * The level is the best the CPU and the operating system support, capped by the value
 * fastnn read once at import from the environment variable FASTNN_CPU ("avx512", "avx2",
 * "generic") and passed to fnn_cpu_set_cap.  Each compiled module carries its own copy of
 * this state; fastnn sets the same cap in every one of them before any kernel runs.
 *
 * Detection: cpuid and xgetbv through the compiler's intrinsics (GCC, Clang, MSVC) on
 * x86-64; on macOS the AVX-512 state is read from sysctl (the kernel enables it lazily,
 * so XCR0 does not show it before a thread first uses it); on other architectures the
 * level is FNN_ISA_GENERIC.  Nothing here refers to libgcc's __cpu_model. */
#ifndef FASTNN_CPU_H
#define FASTNN_CPU_H

enum {
    FNN_ISA_GENERIC = 0,        /* plain C (and BLAS for the products)                 */
    FNN_ISA_AVX2 = 1,           /* AVX2 + FMA, with the OS saving the YMM state        */
    FNN_ISA_AVX512 = 2          /* AVX-512 F/CD/BW/DQ/VL, with the OS saving ZMM state */
};

/* What this CPU and OS support (checked once). */
int fnn_cpu_detected_isa(void);

/* min(detected, cap): the level every kernel of this module dispatches on. */
int fnn_cpu_isa(void);

/* Sets the cap (one of the FNN_ISA_* values; anything above the best is the best). */
void fnn_cpu_set_cap(int isa);

#endif
