/* Instantiates kernels_template.h once for float and once for double. */
#include <math.h>
#include <string.h>
#include "fastnn_kernels.h"

/* The elementwise kernels are compiled three times, for AVX-512, for AVX2 + FMA and for
 * plain x86-64, and the loader picks the one this CPU runs (GCC's function multiversioning
 * through glibc's ifunc); elsewhere there is one plain build. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && __GNUC__ >= 12
#define FNN_VECTORISED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FNN_VECTORISED
#endif

#define REAL float
#define FN(name) fnn_##name##_f32
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define POW powf
#define FMA fmaf
#include "kernels_template.h"
#undef REAL
#undef FN
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH
#undef POW
#undef FMA

#define REAL double
#define FN(name) fnn_##name##_f64
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define POW pow
#define FMA fma
#include "kernels_template.h"
