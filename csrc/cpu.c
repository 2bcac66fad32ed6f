/* The instruction set fastnn's kernels use (see cpu.h). */
#define _DARWIN_C_SOURCE 1          /* sysctlbyname, with _POSIX_C_SOURCE set elsewhere */
#include "cpu.h"
#include "portable.h"

#if defined(FNN_X86_64) && defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static unsigned long long xcr0(void) { return _xgetbv(0); }
#elif defined(FNN_X86_64)
#include <cpuid.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    if (leaf > (unsigned)__get_cpuid_max(leaf & 0x80000000u, NULL)) return;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long xcr0(void)
{
    unsigned lo, hi;        /* xgetbv as bytes: an assembler without the mnemonic still takes it */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#if defined(FNN_X86_64) && defined(__APPLE__)
#include <sys/sysctl.h>
static int sysctl_flag(const char *name)
{
    int value = 0;
    size_t size = sizeof value;
    return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}
#endif

static int detect(void)
{
#if defined(FNN_X86_64)
    unsigned r1[4], r7[4];
    cpuid(1, 0, r1);
    cpuid(7, 0, r7);
    int osxsave = (r1[2] >> 27) & 1, avx = (r1[2] >> 28) & 1, fma = (r1[2] >> 12) & 1;
    int avx2 = (r7[1] >> 5) & 1;
    /* AVX-512 F (ebx 16), DQ (17), CD (28), BW (30), VL (31) */
    int avx512 = ((r7[1] >> 16) & 1) && ((r7[1] >> 17) & 1) && ((r7[1] >> 28) & 1) && ((r7[1] >> 30) & 1)
                 && ((r7[1] >> 31) & 1);
    if (!osxsave || !avx) return FNN_ISA_GENERIC;
    unsigned long long x = xcr0();
    int ymm_saved = (x & 0x6) == 0x6;                /* XMM and YMM state */
    int zmm_saved = (x & 0xE6) == 0xE6;              /* and opmask, ZMM_Hi256, Hi16_ZMM */
#if defined(__APPLE__)
    /* macOS enables the AVX-512 state on a thread's first use: XCR0 shows it only then */
    if (avx512 && ymm_saved && sysctl_flag("hw.optional.avx512f")) zmm_saved = 1;
#endif
    if (avx512 && avx2 && fma && zmm_saved) return FNN_ISA_AVX512;
    if (avx2 && fma && ymm_saved) return FNN_ISA_AVX2;
    return FNN_ISA_GENERIC;
#else
    return FNN_ISA_GENERIC;
#endif
}

/* Written once per module at import, before any kernel runs; read-only afterwards.  A
 * second detection by another thread would store the same value. */
static int detected = -1;
static int cap = FNN_ISA_AVX512;

int fnn_cpu_detected_isa(void)
{
    if (detected < 0) detected = detect();
    return detected;
}

int fnn_cpu_isa(void)
{
    int best = fnn_cpu_detected_isa();
    return best < cap ? best : cap;
}

void fnn_cpu_set_cap(int isa)
{
    cap = isa < FNN_ISA_GENERIC ? FNN_ISA_GENERIC : isa > FNN_ISA_AVX512 ? FNN_ISA_AVX512 : isa;
}
