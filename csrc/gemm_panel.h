/* The micro-kernel and the packing of op(A) for panels of MR rows; gemm.c includes this
 * file once per panel height, with MR and PANEL(name) (the name's suffix) defined. */

/* ---- the micro-kernel: C[0:mr, 0:nr] := alpha·Σ_p a_p ⊗ b_p + beta·C ----
 * (then, with an epilogue, C := g(C + bias) row by row: the last pass of a fused layer)
 * a_p, the MR values of op(A)'s column p, lie at ap + p·cs_a + i·rs_a, i < MR (a packed
 * panel: rs_a = 1, cs_a = MR; a full panel of a transposed A read in place: rs_a = 1,
 * cs_a = lda; of an A read in place: rs_a = lda, cs_a = 1); b_p, 32 values of op(B)'s row
 * p, at b + p·ldb (all 32 are read: a strip narrower than NR is packed and padded).
 * Rows gathered by index, read in place: with arows, value i of column p is arows[i][p]
 * (MR rows of a non-transposed A); with col_rows, column p starts at ap + col_rows[p]·cs_a
 * (a full panel of a transposed A whose rows are picked by index). */

AVX512 static FNN_ALWAYS_INLINE void PANEL(micro_kernel_body)(
    ptrdiff_t kc, int mr, int nr, const float *restrict ap, ptrdiff_t rs_a, ptrdiff_t cs_a,
    const float *const *arows, const ptrdiff_t *col_rows, const int32_t *b_rows,
    const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side, float alpha,
    float beta, float *restrict c, ptrdiff_t ldc, const struct update_share *up, const struct epilogue *epi)
{
    /* b_next: the strip the next calls will read, fetched towards the cache row by row
     * while this one computes (B's rows are pages apart, beyond the hardware prefetcher);
     * the tile of C is fetched now, so that its cache misses overlap the loop below.
     * side: a run of lines of other data fetched on the way, one every SIDE_EVERY steps
     * (see fnn_sgemm_prefetch_rows). */
    const char *side_line = side->line;
    ptrdiff_t side_n = side->n;
    for (int i = 0; i < mr; i++) {
        if (epi != NULL && epi->w != NULL) {    /* the tile's weights and velocities instead */
            _mm_prefetch((const char *)(epi->w + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(epi->w + i * ldc + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(epi->v + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(epi->v + i * ldc + 16), _MM_HINT_T0);
            if (!epi->store_c) continue;
        }
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;

    for (ptrdiff_t p = 0; p < kc; p++) {
        ptrdiff_t q = b_rows != NULL ? b_rows[p] : p;     /* b_rows: the kept columns of a compacted panel */
        ptrdiff_t row_b = q * ldb;
        __m512 b0 = _mm512_loadu_ps(b + row_b), b1 = _mm512_loadu_ps(b + row_b + 16);
        _mm_prefetch((const char *)(b_next + row_b), _MM_HINT_T0);
        _mm_prefetch((const char *)(b_next + row_b + 16), _MM_HINT_T0);
        if (p % SIDE_EVERY == 0 && p / SIDE_EVERY < side_n) _mm_prefetch(side_line + 64 * (p / SIDE_EVERY), _MM_HINT_T0);
        if (up != NULL && p % UPDATE_EVERY == UPDATE_EVERY / 2 && p / UPDATE_EVERY < up->n_vectors)
            update_vector(up, p / UPDATE_EVERY);
        const float *col = col_rows != NULL ? ap + col_rows[p] * cs_a : ap + p * cs_a;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(arows != NULL ? arows[i][q] : col[i * rs_a]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
    __m512 bias0 = zero, bias1 = zero;
    if (epi != NULL && epi->bias != NULL) {
        bias0 = _mm512_maskz_loadu_ps(m0, epi->bias);
        bias1 = _mm512_maskz_loadu_ps(m1, epi->bias + 16);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        if (epi != NULL) {          /* C := g(C + b): the rounding of fnn_bias_activation_f32 */
            if (epi->bias != NULL)  /* (no +0 without a bias: -0 stays -0) */
                r0 = _mm512_add_ps(r0, bias0), r1 = _mm512_add_ps(r1, bias1);
            if (epi->relu)          /* max(0, z), a NaN kept (MAXPS returns its second operand) */
                r0 = _mm512_max_ps(zero, r0), r1 = _mm512_max_ps(zero, r1);
            if (epi->gate != NULL) {    /* C := C where gate > 0, else 0 (a NaN gate: 0) */
                const float *g = epi->gate + i * epi->ld_gate;
                r0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m0, g), zero, _CMP_GT_OQ), r0);
                r1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m1, g + 16), zero, _CMP_GT_OQ), r1);
            }
        }
        if (epi != NULL && epi->w != NULL) {   /* v := μ·v − γ·dW;  w := w + v, rounded as fnn_sgd_momentum_f32 */
            float *wi = epi->w + i * ldc, *vi = epi->v + i * ldc;
            __m512 lr = _mm512_set1_ps(epi->lr), mu = _mm512_set1_ps(epi->mu);
            __m512 v0 = _mm512_fmsub_ps(mu, _mm512_maskz_loadu_ps(m0, vi), _mm512_mul_ps(lr, r0));
            __m512 v1 = _mm512_fmsub_ps(mu, _mm512_maskz_loadu_ps(m1, vi + 16), _mm512_mul_ps(lr, r1));
            _mm512_mask_storeu_ps(vi, m0, v0);
            _mm512_mask_storeu_ps(vi + 16, m1, v1);
            _mm512_mask_storeu_ps(wi, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, wi), v0));
            _mm512_mask_storeu_ps(wi + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, wi + 16), v1));
            if (!epi->store_c) continue;
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}

#define PANEL_TARGET AVX512
#include "gemm_panel_calls.h"
#undef PANEL_TARGET

/* keep[0 .. u) := the columns p < kc where one of the MR rows arows[i] is not 0 (a NaN
 * counts as not 0), in order; returns u.  The panel is then read in place, only at those
 * columns: what packing it compacted would hold, without copying or transposing it. */
AVX512 FNN_UNUSED static int PANEL(find_kept)(const float *const *arows, int kc, int32_t *restrict keep)
{
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int u = 0;
    for (int p = 0; p < kc; p += 16) {
        __mmask16 cols = kc - p >= 16 ? 0xFFFF : (__mmask16)((1u << (kc - p)) - 1), nonzero = 0;
        for (int i = 0; i < MR; i++)
            nonzero |= _mm512_mask_cmp_ps_mask(cols, _mm512_maskz_loadu_ps(cols, arows[i] + p), zero, _CMP_NEQ_UQ);
        int n = FNN_POPCOUNT(nonzero);
        _mm512_mask_storeu_epi32(keep + u, (__mmask16)((1u << n) - 1),
                                 _mm512_maskz_compress_epi32(nonzero, _mm512_add_epi32(lane, _mm512_set1_epi32(p))));
        u += n;
    }
    return u;
}

/* the columns col[q] of a panel, q < 16, whose bit is set in kept_bits, stored one after
 * another from slot u on, with keep[slot] := p + q; returns the next free slot.  Each column
 * goes to the slot of the kept ones before it, so a column left out is overwritten by the
 * next kept one: no branch on the data, and no chain from one column to the next.  (All 16
 * slots from u on are written, and u <= p, so nothing is written past column p + 15.) */
AVX512 static FNN_ALWAYS_INLINE int PANEL(keep_columns)(
    const __m512 col[16], unsigned kept_bits, int p, int u, __mmask16 panel, float *restrict ap, int32_t *keep)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int q = 0; q < 16; q++)
        _mm512_mask_storeu_ps(ap + (u + FNN_POPCOUNT(kept_bits & ((1u << q) - 1))) * MR, panel, col[q]);
    _mm512_storeu_si512(keep + u, _mm512_maskz_compress_epi32((__mmask16)kept_bits,
                                                              _mm512_add_epi32(lane, _mm512_set1_epi32(p))));
    return u + FNN_POPCOUNT(kept_bits);
}

/* ap := op(A)[i0 : i0+mc, p0 : p0+kc] as panels of MR rows; panel r holds, for each p,
 * the MR values op(A)[i0 + r·MR + i, p0 + p] (rows past mc are zero).  Row r of the stored A
 * is at a_row(a, lda, a_rows, r): row a_rows[r] of a when rows are picked by index.
 * With kept not NULL the panels are compacted: a column whose MR values are all zero is left
 * out (it adds nothing to the product), the others follow one another, and kept[r][0 ..
 * n_kept[r]) lists which columns p panel r holds (the rows of B they meet).  A NaN is kept. */
AVX512 static void PANEL(pack_a)(int trans_a, const float *a, ptrdiff_t lda, const ptrdiff_t *a_rows,
                                 ptrdiff_t i0, ptrdiff_t p0, int mc, int kc, float *restrict ap,
                                 int32_t (*kept)[KC], int *n_kept)
{
    const __m512 zero = _mm512_setzero_ps();
    for (int ir = 0; ir < mc; ir += MR, ap += (ptrdiff_t)MR * kc) {
        int mr = mc - ir < MR ? mc - ir : MR, u = 0;   /* u: columns stored so far */
        int32_t *keep = kept != NULL ? kept[ir / MR] : NULL;
        __mmask16 rows = (__mmask16)((1u << mr) - 1), panel = (1u << MR) - 1;
        int p = 0;
        if (trans_a) {              /* op(A)[i, p] = A[p, i]: the mr values are neighbours in row p of A */
            if (keep != NULL)       /* 16 columns at a time, the kept ones found first */
                for (; p + 16 <= kc; p += 16) {
                    __m512 col[16];
                    unsigned nonzero = 0;
                    for (int q = 0; q < 16; q++) {
                        col[q] = _mm512_maskz_loadu_ps(rows, a_row(a, lda, a_rows, p0 + p + q) + i0 + ir);
                        nonzero |= (unsigned)(_mm512_mask_cmp_ps_mask(rows, col[q], zero, _CMP_NEQ_UQ) != 0) << q;
                    }
                    u = PANEL(keep_columns)(col, nonzero, p, u, panel, ap, keep);
                }
            for (; p < kc; p++) {
                __m512 col = _mm512_maskz_loadu_ps(rows, a_row(a, lda, a_rows, p0 + p) + i0 + ir);
                _mm512_mask_storeu_ps(ap + u * MR, panel, col);
                if (keep != NULL) {     /* without a branch: whether a column is kept is data */
                    keep[u] = p;
                    u += _mm512_mask_cmp_ps_mask(rows, col, zero, _CMP_NEQ_UQ) != 0;
                } else
                    u++;
            }
            if (keep != NULL) n_kept[ir / MR] = u;
            continue;
        }
        if (mr == MR)               /* 16 columns at a time: load 16 rows (the last repeated), transpose */
            for (; p + 16 <= kc; p += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = _mm512_loadu_ps(a_row(a, lda, a_rows, i0 + ir + (i < MR ? i : MR - 1)) + p0 + p);
                unsigned nonzero = 0;
                if (keep != NULL) {     /* column q is kept where a row is not 0 there (NaN included) */
                    for (int i = 0; i < MR; i++)
                        nonzero |= _mm512_cmp_ps_mask(r[i], zero, _CMP_NEQ_UQ);
                }
                transpose16(r);
                if (keep != NULL)
                    u = PANEL(keep_columns)(r, nonzero, p, u, panel, ap, keep);
                else {
                    for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(ap + (p + q) * MR, panel, r[q]);
                    u = p + 16;
                }
            }
        for (int q = p; q < kc; q++) {
            float col[MR];
            int any = 0;
            for (int i = 0; i < MR; i++) {
                col[i] = i < mr ? a_row(a, lda, a_rows, i0 + ir + i)[p0 + q] : 0.0f;
                any |= !(col[i] == 0.0f);
            }
            if (keep != NULL) {
                if (!any) continue;
                keep[u] = q;
            }
            for (int i = 0; i < MR; i++) ap[u * MR + i] = col[i];
            u++;
        }
        if (keep != NULL) n_kept[ir / MR] = u;
    }
}
