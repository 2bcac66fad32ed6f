/* Instantiates kernels_template.h once for float and once for double, and the vectorised
 * loops of kernels_vectorised.h once per dtype and instruction set. */
#include <math.h>
#include <string.h>
#include "cpu.h"
#include "fastnn_kernels.h"
#include "portable.h"

/* The elementwise loops are compiled three times on x86-64 (GCC, Clang): for AVX-512, for
 * AVX2 + FMA and for plain x86-64; each public kernel calls the one fnn_cpu_isa() allows
 * (FASTNN_CPU caps it).  Elsewhere there is one plain build. */
#define FNN_CAT_(a, b) a##b
#define FNN_CAT(a, b) FNN_CAT_(a, b)
#define VFN(name) FNN_CAT(FN(name), VSUFFIX)

/* Softmax cross-entropy of float32 rows of at most 16 classes with integer labels, one row
 * per AVX-512 vector (the output layer of the course's networks: 3 or 10 classes).  The
 * scalar kernel calls expf once per class; this one exponentiates a whole row at once. */
#if defined(FNN_OWN_X86_KERNELS)
#include <immintrin.h>
#define FNN_ROW_SOFTMAX_CE softmax_ce_rows16_f32

/* e^x in 16 lanes for x <= 0: x = n·ln 2 + r with |r| <= ln(2)/2, e^r by its Taylor series
 * to r^7 (truncation below 1e-8 relative), times 2^n by scalef.  Below -104, e^x rounds to 0. */
FNN_TARGET_AVX512 static inline __m512 exp_nonpositive(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);      /* ln 2 in two parts */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 e = _mm512_set1_ps(1.0f / 5040);
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 720));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 120));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 24));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 6));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(0.5f));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f));
    e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(e, n);
}

/* The same results as the scalar loop of fnn_softmax_cross_entropy_f32 for labels (see
 * there), up to the rounding of e^x and of the row sums (float here, double there).
 * Returns -1, having done nothing, where fastnn may not use AVX-512 (fnn_cpu_isa). */
FNN_TARGET_AVX512 static int softmax_ce_rows16_f32(
    const float *z_bk, const fnn_int *label_b, const float *w_b, fnn_int n_b, fnn_int n_k,
    double scale, float *p_bk, float *delta_bk, double *loss_sum)
{
    if (n_k > 16 || fnn_cpu_isa() < FNN_ISA_AVX512) return -1;
    __mmask16 row = (__mmask16)((1u << n_k) - 1);
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        fnn_int c = label_b[b];
        if (c < 0 || c >= n_k) return FNN_BAD_LABEL;
        __mmask16 label = (__mmask16)(1u << c);
        __m512 z = _mm512_maskz_loadu_ps(row, z_bk + b * n_k);
        float m = _mm512_mask_reduce_max_ps(row, z);
        __m512 e = _mm512_maskz_mov_ps(row, exp_nonpositive(_mm512_sub_ps(z, _mm512_set1_ps(m))));
        double s = _mm512_reduce_add_ps(e);                              /* s = sum_k e^(z_k - m) */
        float z_c = z_bk[b * n_k + c];
        double log_p = z_c == m ? -log1p(_mm512_mask_reduce_add_ps((__mmask16)(row & ~label), e))
                                : (double)(z_c - m) - log(s);            /* log p_c, as class_log_prob */
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        total -= w * log_p;                                              /* E = -log p_c */
        __m512 p = _mm512_mul_ps(e, _mm512_set1_ps((float)(1.0 / s)));
        _mm512_mask_storeu_ps(p_bk + b * n_k, row, p);
        if (delta_bk != NULL) {                                          /* dE/dz = p - y */
            __m512 ws = _mm512_set1_ps((float)(w * scale));
            __m512 d = _mm512_mul_ps(ws, p);
            _mm512_mask_storeu_ps(delta_bk + b * n_k, row, _mm512_mask_sub_ps(d, label, d, ws));
        }
    }
    *loss_sum = total;
    return FNN_OK;
}

/* db_o := Σ_b δ_bo, the rows added in order as in the plain loop (the same sums, bit for
 * bit), but 64 columns at a time in four registers: the plain loop loads and stores db for
 * every row, a chain of store-to-load forwarding 100 rows long per layer and step. */
FNN_TARGET_AVX512 static int column_sums_avx512_f32(const float *delta_bo, float *db_o, fnn_int n_b, fnn_int n_o)
{
    fnn_int o = 0;
    for (; o + 64 <= n_o; o += 64) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (fnn_int b = 0; b < n_b; b++) {
            const float *d = delta_bo + b * n_o + o;
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(d)), s1 = _mm512_add_ps(s1, _mm512_loadu_ps(d + 16));
            s2 = _mm512_add_ps(s2, _mm512_loadu_ps(d + 32)), s3 = _mm512_add_ps(s3, _mm512_loadu_ps(d + 48));
        }
        _mm512_storeu_ps(db_o + o, s0), _mm512_storeu_ps(db_o + o + 16, s1);
        _mm512_storeu_ps(db_o + o + 32, s2), _mm512_storeu_ps(db_o + o + 48, s3);
    }
    for (; o < n_o; o += 16) {                  /* 16 (or the last few) columns at a time */
        __mmask16 cols = n_o - o >= 16 ? 0xFFFF : (__mmask16)((1u << (n_o - o)) - 1);
        __m512 s0 = _mm512_setzero_ps();
        for (fnn_int b = 0; b < n_b; b++) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(cols, delta_bo + b * n_o + o));
        _mm512_mask_storeu_ps(db_o + o, cols, s0);
    }
    return 0;
}
#endif

#define REAL float
#define FN(name) fnn_##name##_f32
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define POW powf
#define FMA fmaf
#define SQRT sqrtf
#define CEIL ceilf
#define FABS fabs
#define EXPM1 expm1f
#define ERFC erfcf
#define FNN_COLUMN_SUMS_AVX512 column_sums_avx512_f32
#include "kernels_instances.h"
#undef FNN_COLUMN_SUMS_AVX512
#undef FNN_ROW_SOFTMAX_CE
#undef REAL
#undef FN
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH
#undef POW
#undef FMA
#undef SQRT
#undef CEIL
#undef EXPM1
#undef ERFC
#undef FABS

#define REAL double
#define FN(name) fnn_##name##_f64
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define POW pow
#define FMA fma
#define SQRT sqrt
#define CEIL ceil
#define EXPM1 expm1
#define ERFC erfc
#define FABS fabs
#include "kernels_instances.h"
