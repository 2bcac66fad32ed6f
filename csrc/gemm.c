/* fastnn's own single-precision GEMM (see gemm.h): the AVX-512 kernels, the per-thread
 * workspace, and the entry points, which run the blocked product (gemm_driver.h) on this
 * CPU's kernels: AVX-512 here, AVX2 + FMA in gemm_avx2.c, chosen by fnn_cpu_isa().
 *
 * The layout is the classic one of GotoBLAS and BLIS, cut down to what a dense
 * layer needs:
 *
 *   for each block of MC rows of op(A) and KC of its columns:
 *       pack that block of op(A) into panels of MR rows, each stored column by column
 *       for each strip of NR = 32 columns of op(B):
 *           op(B)'s strip is read in place, one row of 32 floats per step of p
 *           (op(B) = Bᵀ is first transposed, 16 × 16 at a time, into a small buffer;
 *           B's rows a multiple of 1 KB apart are copied into it; a B packed once for
 *           many products, fnn_sgemm_pack_b, is read where it was packed)
 *           for each panel: the micro-kernel adds the MR × 32 tile
 *                           C[i, j] += Σ_p A[i, p] · B[p, j]
 *                           kept in 2·MR of the 32 vector registers
 *
 * The micro-kernel does, per step p, one broadcast of A[i, p] per row and two fused
 * multiply-adds per row, on two 16-float vectors of B's row p.  It comes in two heights
 * (gemm_panel.h): MR = 10 divides the course's batch of 100 (and its halves of 50)
 * exactly, and MR = 14 (28 accumulators) runs the tall products of predict faster.
 * Columns past n are masked and rows past m are never stored, so any shape is exact.
 *
 * Why not BLAS here?  On a Zen 5 core, where OpenBLAS picked its AVX2 kernels, these
 * products ran at 100-120 GFLOP/s through SciPy's OpenBLAS and at 180-220 through this
 * kernel; on a Zen 4 core (AVX-512 on 256-bit units, FMA peak about 117 GFLOP/s), where
 * OpenBLAS picks its SkylakeX kernels, this kernel still runs net B's products at 108-112
 * GFLOP/s and training's small ones faster than BLAS (it fuses bias, activation and the
 * momentum step, and reads the batch in place).  On CPUs with AVX2 and FMA but no AVX-512,
 * gemm_avx2.c computes the same tiles in 5 × 16 register tiles, with every fusion; float64,
 * and CPUs with neither, still go through BLAS.
 */
#include "gemm.h"
#include "gemm_internal.h"

#include "cpu.h"
#include "platform.h"
#include "portable.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(FNN_OWN_X86_KERNELS)
#include <immintrin.h>

#define AVX512 FNN_TARGET_AVX512F

/* ---- packing ---- */

/* r[q] := column q of the 16 × 16 block whose row i is r[i], in registers */
AVX512 static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {           /* interleave pairs of rows */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {           /* then pairs of pairs */
        __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]);
        __m512d t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* r[4g + c], 128-bit lane L: column 4L + c of rows 4g .. 4g+3; gather the lanes */
    for (int c = 0; c < 4; c++) {
        __m512 even01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        __m512 odd01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        __m512 even23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        t[8 + c] = _mm512_shuffle_f32x4(even01, even23, 0xDD);
        t[4 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0xDD);
    }
    for (int q = 0; q < 16; q++) r[q] = t[q];
}

/* ---- a momentum step applied on the side of the products (fnn_sgemm_side_update) ---- */

struct update_share {       /* the vectors one micro-kernel call updates */
    float *w, *v;
    const float *g;
    ptrdiff_t n_vectors;
    __m512 lr, mu;
};

/* vector q of the share: v := μ·v − γ·g;  w := w + v  (the rounding of fnn_sgd_momentum_f32) */
AVX512 static FNN_ALWAYS_INLINE void update_vector(const struct update_share *u, ptrdiff_t q)
{
    float *w = u->w + 16 * q, *v = u->v + 16 * q;
    _mm_prefetch((const char *)(w + 16 * UPDATE_AHEAD), _MM_HINT_T0);
    _mm_prefetch((const char *)(v + 16 * UPDATE_AHEAD), _MM_HINT_T0);
    __m512 step = _mm512_mul_ps(u->lr, _mm512_loadu_ps(u->g + 16 * q));
    __m512 vq = _mm512_fmsub_ps(u->mu, _mm512_loadu_ps(v), step);
    _mm512_storeu_ps(v, vq);
    _mm512_storeu_ps(w, _mm512_add_ps(_mm512_loadu_ps(w), vq));
}

/* the micro-kernel and the packing of A, for panels of 10 and of 14 rows */
#define MR 10
#define PANEL(name) name##_10
#include "gemm_panel.h"
#undef MR
#undef PANEL
#define MR 14
#define PANEL(name) name##_14
#include "gemm_panel.h"
#undef MR
#undef PANEL

/* bs := B[p0 : p0+kc, j0 : j0+nr] as rows of NR floats, zero-padded (the last, narrow strip) */
AVX512 static void pack_b_edge(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                               float *restrict bs)
{
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    for (int p = 0; p < kc; p++) {
        const float *src = b + (p0 + p) * ldb + j0;
        _mm512_storeu_ps(bs + p * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_storeu_ps(bs + p * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
}

/* bs := op(B)[p0 : p0+kc, j0 : j0+nr] for op(B) = Bᵀ, as rows of NR floats (zero-padded) */
AVX512 static void pack_bt(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                           float *restrict bs)
{
    int p = 0;
    if (nr == NR)
        for (; p + 16 <= kc; p += 16)
            for (int half = 0; half < 32; half += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(b + (j0 + half + i) * ldb + p0 + p);
                transpose16(r);
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(bs + (p + q) * NR + half, r[q]);
            }
    for (int q = p; q < kc; q++)
        for (int j = 0; j < NR; j++) bs[q * NR + j] = j < nr ? b[(j0 + j) * ldb + p0 + q] : 0.0f;
}

/* the blocked product on these kernels: fnn_gemm_blocked_avx512 (gemm_driver.h) */
#define ISA(name) name##_avx512
#define TARGET AVX512
#define SET1(x) _mm512_set1_ps(x)
#define DEPTH_BLOCK KC
#define TALL_PANELS
#include "gemm_driver.h"

/* ---- per-thread workspace ---- */

/* each thread's workspace, made on its first product and freed when the thread ends */
static struct workspace *workspace(void)
{
    struct workspace *w = fnn_tls_get();
    if (w == NULL) {
        w = fnn_aligned_alloc64(sizeof(struct workspace));
        if (w == NULL) return NULL;
        w->stream = (struct stream){0};         /* nothing to fetch on the side */
        w->update = (struct pending_update){0}; /* nor to update */
        if (fnn_tls_set(w) != 0) { fnn_aligned_free(w); w = NULL; }
    }
    return w;
}

/* ---- fetching rows on the side (fnn_sgemm_prefetch_rows) ---- */


void fnn_sgemm_prefetch_rows(const float *x, const ptrdiff_t *index, ptrdiff_t n_rows, ptrdiff_t ld,
                             ptrdiff_t n_cols)
{
    struct workspace *w = fnn_sgemm_available() ? workspace() : NULL;
    if (w == NULL) return;
    struct stream *st = &w->stream;
    st->base = (const char *)x;
    st->index = index;
    st->n_rows = x != NULL && index != NULL && n_rows > 0 && n_cols > 0 ? n_rows : 0;
    st->stride = ld * (ptrdiff_t)sizeof(float);
    st->row_bytes = n_cols * (ptrdiff_t)sizeof(float);
    st->row = st->offset = 0;
}

/* ---- the momentum step on the side ---- */

/* the rest of the pending step, now */
static void finish_update(struct pending_update *u)
{
    if (fnn_cpu_isa() >= FNN_ISA_AVX512)
        fnn_gemm_finish_update_avx512(u);
    else
        fnn_gemm_finish_update_avx2(u);
}

void fnn_sgemm_side_update(float *w, const float *g, float *v, ptrdiff_t n, float lr, float mu)
{
    struct workspace *ws = fnn_sgemm_available() ? workspace() : NULL;
    if (ws == NULL) {                           /* no kernel here: the step is done at once */
        plain_update(w, g, v, n, lr, mu);
        return;
    }
    finish_update(&ws->update);
    if (n > 0) ws->update = (struct pending_update){w, v, g, n, 0, lr, mu};
}

void fnn_sgemm_side_update_finish(void)
{
    struct workspace *ws = fnn_sgemm_available() ? workspace() : NULL;
    if (ws != NULL) finish_update(&ws->update);
}

/* ---- the blocked product ---- */

/* AVX-512, else AVX2 + FMA (fnn_cpu_isa: checked once, capped by FASTNN_CPU) */
int fnn_sgemm_available(void) { return fnn_cpu_isa() >= FNN_ISA_AVX2; }

int fnn_sgemm_ready(void) { return fnn_sgemm_available() && workspace() != NULL; }

/* the product on the kernels of this CPU's instruction set, in this thread's workspace */
static int sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const ptrdiff_t *a_rows, const float *b, int ldb, const float *b_packed, float beta, float *c,
                 int ldc, const float *bias, int relu, const float *gate, int ld_gate, int skip_zeros,
                 const struct momentum *mom)
{
    struct workspace *w = fnn_sgemm_available() ? workspace() : NULL;
    if (w == NULL) return -1;
    if (fnn_cpu_isa() >= FNN_ISA_AVX512)
        return fnn_gemm_blocked_avx512(w, trans_a, trans_b, m, n, k, alpha, a, lda, a_rows, b, ldb, b_packed, beta,
                                       c, ldc, bias, relu, gate, ld_gate, skip_zeros, mom);
    return fnn_gemm_blocked_avx2(w, trans_a, trans_b, m, n, k, alpha, a, lda, a_rows, b, ldb, b_packed, beta, c,
                                 ldc, bias, relu, gate, ld_gate, skip_zeros, mom);
}

int fnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc)
{
    return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, NULL, b, ldb, NULL, beta, c, ldc, NULL, 0, NULL, 0, 0, NULL);
}

int fnn_sgemm_rows(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                   const ptrdiff_t *a_rows, const float *b, int ldb, float beta, float *c, int ldc,
                   const float *bias, int relu, int skip_zeros)
{
    if (k <= 0 || a_rows == NULL) return -1;
    return sgemm(trans_a, 0, m, n, k, alpha, a, lda, a_rows, b, ldb, NULL, beta, c, ldc, bias, relu != 0, NULL, 0,
                 skip_zeros != 0, NULL);
}

int fnn_sgemm_relu_gradient(int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb,
                            float beta, float *c, int ldc, const float *gate, int ld_gate, int skip_zeros)
{
    if (k <= 0 || gate == NULL) return -1;
    return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, NULL, b, ldb, NULL, beta, c, ldc, NULL, 0, gate, ld_gate,
                 skip_zeros, NULL);
}

int fnn_sgemm_bias_act(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc, const float *bias, int relu, int skip_zeros)
{
    if (k <= 0) return -1;      /* no pass over the depth, so no last store to fuse into */
    return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, NULL, b, ldb, NULL, beta, c, ldc, bias, relu != 0, NULL,
                 0, skip_zeros != 0, NULL);
}

ptrdiff_t fnn_sgemm_packed_b_size(int k, int n)
{
    return k > 0 && n > 0 ? (ptrdiff_t)k * ((n + NR - 1) / NR) * NR : 0;
}

int fnn_sgemm_pack_b(int k, int n, const float *b, int ldb, float *packed)
{
    if (!fnn_sgemm_available() || k <= 0 || n <= 0) return -1;
    int avx512 = fnn_cpu_isa() >= FNN_ISA_AVX512;
    for (int jc = 0; jc < n; jc += NR) {    /* strip jc / NR: its k rows of NR floats */
        int nr = n - jc < NR ? n - jc : NR;
        float *strip = packed + (ptrdiff_t)(jc / NR) * k * NR;
        if (avx512)
            fnn_gemm_pack_strip_avx512(b, ldb, 0, jc, k, nr, strip);
        else
            fnn_gemm_pack_strip_avx2(b, ldb, 0, jc, k, nr, strip);
    }
    return 0;
}

int fnn_sgemm_packed(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                     const float *b_packed, float *c, int ldc, const float *bias, int relu, int skip_zeros)
{
    if (k <= 0 || b_packed == NULL) return -1;
    return sgemm(trans_a, 0, m, n, k, 1.0f, a, lda, a_rows, NULL, NR, b_packed, 0.0f, c, ldc, bias, relu != 0,
                 NULL, 0, skip_zeros != 0, NULL);
}

int fnn_sgemm_momentum(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                       const float *b, int ldb, const float *b_packed, float *c, int ldc, float *w, float *v,
                       float lr, float mu, int store_c, int skip_zeros)
{
    if (k <= 0 || (b == NULL && b_packed == NULL) || w == NULL || v == NULL) return -1;
    struct momentum mom = {w, v, lr, mu, store_c != 0};
    return sgemm(trans_a, 0, m, n, k, 1.0f, a, lda, a_rows, b, b_packed != NULL ? NR : ldb, b_packed, 0.0f, c, ldc,
                 NULL, 0, NULL, 0, skip_zeros != 0, &mom);
}

#else   /* not GCC/Clang on x86-64 (MSVC, ARM): BLAS does every product */

void fnn_sgemm_prefetch_rows(const float *x, const ptrdiff_t *index, ptrdiff_t n_rows, ptrdiff_t ld,
                             ptrdiff_t n_cols)
{
    (void)x, (void)index, (void)n_rows, (void)ld, (void)n_cols;
}

int fnn_sgemm_available(void) { return 0; }

int fnn_sgemm_ready(void) { return 0; }

void fnn_sgemm_side_update(float *w, const float *g, float *v, ptrdiff_t n, float lr, float mu)
{
    plain_update(w, g, v, n, lr, mu);
}

void fnn_sgemm_side_update_finish(void) {}

int fnn_sgemm_bias_act(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc, const float *bias, int relu, int skip_zeros)
{
    (void)bias, (void)relu, (void)skip_zeros;
    return fnn_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int fnn_sgemm_relu_gradient(int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb,
                            float beta, float *c, int ldc, const float *gate, int ld_gate, int skip_zeros)
{
    (void)gate, (void)ld_gate, (void)skip_zeros;
    return fnn_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int fnn_sgemm_rows(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                   const ptrdiff_t *a_rows, const float *b, int ldb, float beta, float *c, int ldc,
                   const float *bias, int relu, int skip_zeros)
{
    (void)skip_zeros, (void)trans_a, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)a_rows, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc, (void)bias, (void)relu;
    return -1;
}

ptrdiff_t fnn_sgemm_packed_b_size(int k, int n)
{
    (void)k, (void)n;
    return 0;
}

int fnn_sgemm_pack_b(int k, int n, const float *b, int ldb, float *packed)
{
    (void)k, (void)n, (void)b, (void)ldb, (void)packed;
    return -1;
}

int fnn_sgemm_packed(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                     const float *b_packed, float *c, int ldc, const float *bias, int relu, int skip_zeros)
{
    (void)trans_a, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)a_rows, (void)b_packed, (void)c;
    (void)ldc, (void)bias, (void)relu, (void)skip_zeros;
    return -1;
}

int fnn_sgemm_momentum(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                       const float *b, int ldb, const float *b_packed, float *c, int ldc, float *w, float *v,
                       float lr, float mu, int store_c, int skip_zeros)
{
    (void)trans_a, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)a_rows, (void)b, (void)ldb;
    (void)b_packed, (void)c;
    (void)ldc, (void)w, (void)v, (void)lr, (void)mu, (void)store_c, (void)skip_zeros;
    return -1;
}

int fnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc)
{
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return -1;
}

#endif
