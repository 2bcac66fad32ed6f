/* Every kernel of one dtype (REAL, FN): kernels_template.h, the vectorised loops of
 * kernels_vectorised.h once per instruction set (VFN(name) = FN(name) with the suffix
 * _avx512, _avx2 or _generic), and the public FN(name) of each, which calls the instance
 * fnn_cpu_isa() allows.  Included by kernels.c once per dtype. */
#include "kernels_template.h"

#if defined(FNN_OWN_X86_KERNELS)
#define FNN_VECTORISED FNN_TARGET_AVX512
#define VSUFFIX _avx512
#ifdef FNN_COLUMN_SUMS_AVX512
#define FNN_COLUMN_SUMS FNN_COLUMN_SUMS_AVX512      /* db of this instance: by hand */
#endif
#include "kernels_vectorised.h"
#undef FNN_COLUMN_SUMS
#undef FNN_VECTORISED
#undef VSUFFIX

#define FNN_VECTORISED FNN_TARGET_AVX2
#define VSUFFIX _avx2
#include "kernels_vectorised.h"
#undef FNN_VECTORISED
#undef VSUFFIX
#endif

#define FNN_VECTORISED
#define VSUFFIX _generic
#include "kernels_vectorised.h"
#undef FNN_VECTORISED
#undef VSUFFIX

#if defined(FNN_OWN_X86_KERNELS)
#define PICK(name) (fnn_cpu_isa() >= FNN_ISA_AVX512 ? FNN_CAT(FN(name), _avx512) \
                    : fnn_cpu_isa() >= FNN_ISA_AVX2 ? FNN_CAT(FN(name), _avx2) : FNN_CAT(FN(name), _generic))
#else
#define PICK(name) FNN_CAT(FN(name), _generic)
#endif

int FN(bias_activation)(int act, const REAL *b_o, REAL *z_bo, REAL *a_bo, fnn_int n_b, fnn_int n_o)
{
    return PICK(bias_activation)(act, b_o, z_bo, a_bo, n_b, n_o);
}

int FN(activation_backward)(int act, const REAL *z_bo, const REAL *a_bo, const REAL *da_bo, REAL *delta_bo,
                            fnn_int n_b, fnn_int n_o)
{
    return PICK(activation_backward)(act, z_bo, a_bo, da_bo, delta_bo, n_b, n_o);
}

void FN(column_sums)(const REAL *delta_bo, REAL *db_o, fnn_int n_b, fnn_int n_o)
{
    PICK(column_sums)(delta_bo, db_o, n_b, n_o);
}

void FN(add)(const REAL *x, const REAL *y, REAL *out, fnn_int n) { PICK(add)(x, y, out, n); }

void FN(sgd_momentum)(REAL *w, const REAL *g, REAL *v, fnn_int n, double lr, double mu, int nesterov)
{
    PICK(sgd_momentum)(w, g, v, n, lr, mu, nesterov);
}

fnn_int FN(count_nonfinite)(const REAL *x, fnn_int n) { return PICK(count_nonfinite)(x, n); }

double FN(optimizer_step)(const fnn_rule *r, double lr, long long t, REAL *w, const REAL *g, REAL *s0, REAL *s1,
                          REAL *s2, fnn_int n, double l1, double l2, double scale)
{
    return PICK(optimizer_step)(r, lr, t, w, g, s0, s1, s2, n, l1, l2, scale);
}

double FN(gradient_sum_squares)(const REAL *w, const REAL *g, fnn_int n, double l1, double l2)
{
    return PICK(gradient_sum_squares)(w, g, n, l1, l2);
}

#undef PICK
