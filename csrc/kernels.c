/* Instantiates kernels_template.h once for float and once for double. */
#include <math.h>
#include <string.h>
#include "fastnn_kernels.h"

#define REAL float
#define FN(name) fnn_##name##_f32
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define POW powf
#include "kernels_template.h"
#undef REAL
#undef FN
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH
#undef POW

#define REAL double
#define FN(name) fnn_##name##_f64
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define POW pow
#include "kernels_template.h"
