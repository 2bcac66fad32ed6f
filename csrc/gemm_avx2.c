/* fastnn's own single-precision GEMM for CPUs with AVX2 and FMA but no AVX-512 (Intel Core
 * from Haswell on, AMD Zen 1-3): the micro-kernel and packing of this instruction set,
 * around the blocked product every set shares (gemm_driver.h).  gemm.c calls it where
 * fnn_cpu_isa() is FNN_ISA_AVX2; the blocking, the packed layouts (strips of NR = 32
 * columns, panels of 10 rows) and the fused epilogues are the AVX-512 kernel's, so each
 * value of C is rounded as there.
 *
 * The depth is cut into blocks of at most 256 (against 1024 for AVX-512): a strip of B
 * is then 256 rows of 128 bytes, 32 KB, and the 16 columns of it that two register tiles
 * share stay in the L1 cache of 32 KB between the two. */
#include "gemm_internal.h"
#include "portable.h"

#if defined(FNN_OWN_X86_KERNELS)
#include <immintrin.h>

#define ISA(name) name##_avx2
#define TARGET FNN_TARGET_AVX2
#define SET1(x) _mm256_set1_ps(x)
#define DEPTH_BLOCK 256
#define TILE_ROWS 5     /* rows of a register tile: 10 accumulators, 13 of the 16 registers */

struct update_share {       /* the vectors one micro-kernel call updates */
    float *w, *v;
    const float *g;
    ptrdiff_t n_vectors;    /* of 16 values */
    __m256 lr, mu;
};

/* values 16·q .. 16·q + 15 of the share: v := μ·v − γ·g;  w := w + v  (the rounding of
 * fnn_sgd_momentum_f32) */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void update_vector(const struct update_share *u, ptrdiff_t q)
{
    float *w = u->w + 16 * q, *v = u->v + 16 * q;
    const float *g = u->g + 16 * q;
    _mm_prefetch((const char *)(w + 16 * UPDATE_AHEAD), _MM_HINT_T0);
    _mm_prefetch((const char *)(v + 16 * UPDATE_AHEAD), _MM_HINT_T0);
    for (int h = 0; h < 16; h += 8) {
        __m256 step = _mm256_mul_ps(u->lr, _mm256_loadu_ps(g + h));
        __m256 vq = _mm256_fmsub_ps(u->mu, _mm256_loadu_ps(v + h), step);
        _mm256_storeu_ps(v + h, vq);
        _mm256_storeu_ps(w + h, _mm256_add_ps(_mm256_loadu_ps(w + h), vq));
    }
}

/* r[q] := column q of the 8 × 8 block whose row i is r[i], in registers */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void transpose8(__m256 r[8])
{
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {            /* interleave pairs of rows */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {            /* then pairs of pairs */
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int q = 0; q < 4; q++) {               /* s[q], s[4 + q]: column q and 4 + q, by 128-bit lane */
        r[q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x20);
        r[4 + q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x31);
    }
}

/* the micro-kernel and the packing of A, for panels of 10 rows */
#define MR 10
#define PANEL(name) name##_10
#include "gemm_avx2_panel.h"
#undef MR
#undef PANEL

/* bs := B[p0 : p0+kc, j0 : j0+nr] as rows of NR floats, zero-padded past nr (a narrow last strip) */
FNN_TARGET_AVX2 static void pack_b_edge(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                                        float *restrict bs)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i in[NR / 8];
    for (int v = 0; v < NR / 8; v++) in[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lane);
    if (nr == NR) {             /* a whole strip: plain loads (a masked load costs more on AMD's cores) */
        for (int p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * ldb + j0;
            for (int v = 0; v < NR / 8; v++) _mm256_storeu_ps(bs + p * NR + 8 * v, _mm256_loadu_ps(src + 8 * v));
        }
        return;
    }
    for (int p = 0; p < kc; p++) {
        const float *src = b + (p0 + p) * ldb + j0;
        for (int v = 0; v < NR / 8; v++) _mm256_storeu_ps(bs + p * NR + 8 * v, _mm256_maskload_ps(src + 8 * v, in[v]));
    }
}

/* bs := op(B)[p0 : p0+kc, j0 : j0+nr] for op(B) = Bᵀ, as rows of NR floats (zero-padded) */
FNN_TARGET_AVX2 static void pack_bt(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                                    float *restrict bs)
{
    int p = 0;
    if (nr == NR)
        for (; p + 8 <= kc; p += 8)
            for (int jj = 0; jj < NR; jj += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(b + (j0 + jj + i) * ldb + p0 + p);
                transpose8(r);
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(bs + (p + q) * NR + jj, r[q]);
            }
    for (int q = p; q < kc; q++)
        for (int j = 0; j < NR; j++) bs[q * NR + j] = j < nr ? b[(j0 + j) * ldb + p0 + q] : 0.0f;
}

#include "gemm_driver.h"

#endif
