/* The micro-kernel and the packing of op(A) for AVX2 + FMA, for panels of MR rows;
 * gemm_avx2.c includes this file with MR and PANEL(name) defined, as gemm.c includes
 * gemm_panel.h, and the two offer the driver (gemm_driver.h) the same functions.
 *
 * AVX2 has 16 registers of 8 floats, too few for the MR × 32 tile the driver hands over
 * (40 accumulators for MR = 10): the tile is computed as register tiles of 5 rows × 16
 * columns (10 accumulators, two vectors of B's row, one broadcast of A: 13 registers),
 * each over the whole depth of the block, rows 0-4 then 5-9 of columns 0-15, then of
 * columns 16-31, so that the second reads its half of B's strip from the L1 cache.  Each
 * value of C is the same chain of fused multiply-adds over p as in the AVX-512 kernel,
 * so fused and unfused products, and the rows a worker gets, change no bit. */

/* ---- the micro-kernel: C[0:mr, 0:nr] := alpha·Σ_p a_p ⊗ b_p + beta·C ----
 * (the arguments are those of gemm_panel.h's micro_kernel_body, see there) */

/* acc[i] += a[i0 + i, p] · b[p, j0 : j0+16], i < TILE_ROWS: one step of a register tile */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(tile_step)(
    __m256 acc[TILE_ROWS][2], ptrdiff_t p, int i0, int j0, const float *restrict ap, ptrdiff_t rs_a, ptrdiff_t cs_a,
    const float *const *arows, const ptrdiff_t *col_rows, const int32_t *b_rows, const float *restrict b,
    ptrdiff_t ldb)
{
    ptrdiff_t q = b_rows != NULL ? b_rows[p] : p;     /* b_rows: the kept columns of a compacted panel */
    __m256 b0 = _mm256_loadu_ps(b + q * ldb + j0), b1 = _mm256_loadu_ps(b + q * ldb + j0 + 8);
    const float *col = col_rows != NULL ? ap + col_rows[p] * cs_a : ap + p * cs_a;
#pragma GCC unroll 8
    for (int i = 0; i < TILE_ROWS; i++) {
        __m256 a = _mm256_broadcast_ss(arows != NULL ? &arows[i0 + i][q] : &col[(i0 + i) * rs_a]);
        acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
}

/* the same step for a packed panel: acc[i] += a[i] · bp[0 : 16] */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(packed_step)(__m256 acc[TILE_ROWS][2], const float *a,
                                                               const float *bp)
{
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 8
    for (int i = 0; i < TILE_ROWS; i++) {
        __m256 x = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
    }
}

/* the same step for rows of A in place: acc[i] += row[i][q] · b[q, j0 : j0+16] (bp = b + j0) */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(row_step)(__m256 acc[TILE_ROWS][2], const float *const *row,
                                                            ptrdiff_t q, const float *bp, ptrdiff_t ldb)
{
    __m256 b0 = _mm256_loadu_ps(bp + q * ldb), b1 = _mm256_loadu_ps(bp + q * ldb + 8);
#pragma GCC unroll 8
    for (int i = 0; i < TILE_ROWS; i++) {
        __m256 x = _mm256_broadcast_ss(row[i] + q);
        acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
    }
}

/* the work on the side of steps p .. p+3: fetch the lines of b_next those steps' rows of B
 * will be read from (the next strip), one line of the side run, and the chunk-th share of
 * the pending momentum step */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(side_work)(
    ptrdiff_t p, const float *b_next, const int32_t *b_rows, ptrdiff_t ldb, const char *side_line, ptrdiff_t side_n,
    const struct update_share *up, ptrdiff_t chunk)
{
    if (b_next != NULL)
        for (int s = 0; s < SIDE_EVERY; s++) {
            ptrdiff_t row_b = (b_rows != NULL ? b_rows[p + s] : p + s) * ldb;
            _mm_prefetch((const char *)(b_next + row_b), _MM_HINT_T0);
            _mm_prefetch((const char *)(b_next + row_b + 16), _MM_HINT_T0);
        }
    if (chunk < side_n) _mm_prefetch(side_line + 64 * chunk, _MM_HINT_T0);
    if (up != NULL && chunk < up->n_vectors) update_vector(up, chunk);
}

/* rows i0 .. i0+4 and columns j0 .. j0+15 of the tile (those below mr and nr stored) */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(register_tile)(
    ptrdiff_t kc, int i0, int mr, int j0, int nr, const float *restrict ap, ptrdiff_t rs_a, ptrdiff_t cs_a,
    const float *const *arows, const ptrdiff_t *col_rows, const int32_t *b_rows,
    const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side, float alpha,
    float beta, float *restrict c, ptrdiff_t ldc, const struct update_share *up, const struct epilogue *epi)
{
    int rows = mr - i0 < TILE_ROWS ? mr - i0 : TILE_ROWS, cols = nr - j0 < 16 ? nr - j0 : 16;
    c += i0 * ldc + j0;
    for (int i = 0; i < rows; i++) {        /* the tile of C (or of w and v) fetched now */
        if (epi != NULL && epi->w != NULL) {
            _mm_prefetch((const char *)(epi->w + (i0 + i) * ldc + j0), _MM_HINT_T0);
            _mm_prefetch((const char *)(epi->v + (i0 + i) * ldc + j0), _MM_HINT_T0);
            if (!epi->store_c) continue;
        }
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    const char *side_line = side != NULL ? side->line : NULL;
    ptrdiff_t side_n = side != NULL ? side->n : 0;
    __m256 acc[TILE_ROWS][2];
    for (int i = 0; i < TILE_ROWS; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

    /* steps of 4: the work on the side once per 4 (a line of b_next per row of B, as each
     * step reads it) */
    ptrdiff_t p = 0, chunk = 0;
    if (arows == NULL && col_rows == NULL && b_rows == NULL && rs_a == 1) {
        /* a packed panel, value (i, p) at ap[p·cs_a + i]: one step per iteration, through one
         * pointer into the panel and one into B.  With the steps unrolled GCC kept more rows
         * of B in flight than the 3 registers the tile leaves, spilled an accumulator to the
         * stack and gave each row of A its own pointer: 1.3x slower on a Zen 3 core */
        const float *a = ap + i0, *bp = b + j0;
        for (; p + SIDE_EVERY <= kc; p += SIDE_EVERY, chunk++) {
            PANEL(side_work)(p, b_next, NULL, ldb, side_line, side_n, up, chunk);
#pragma GCC unroll 1
            for (int s = 0; s < SIDE_EVERY; s++, a += cs_a, bp += ldb) PANEL(packed_step)(acc, a, bp);
        }
#pragma GCC unroll 1
        for (; p < kc; p++, a += cs_a, bp += ldb) PANEL(packed_step)(acc, a, bp);
    } else if (col_rows == NULL && cs_a == 1) {
        /* MR whole rows of A read in place, lda apart or at arows: value (i, q) at row[i][q],
         * q the p-th kept column (b_rows, a compacted panel) or p; the rows' addresses held
         * in registers (reloaded from arows at every step, they cost as much as the FMAs) */
        const float *row[TILE_ROWS];
        for (int i = 0; i < TILE_ROWS; i++) row[i] = arows != NULL ? arows[i0 + i] : ap + (i0 + i) * rs_a;
        const float *bp = b + j0;
        for (; p + SIDE_EVERY <= kc; p += SIDE_EVERY, chunk++) {
            PANEL(side_work)(p, b_next, b_rows, ldb, side_line, side_n, up, chunk);
#pragma GCC unroll 1
            for (int s = 0; s < SIDE_EVERY; s++)
                PANEL(row_step)(acc, row, b_rows != NULL ? b_rows[p + s] : p + s, bp, ldb);
        }
#pragma GCC unroll 1
        for (; p < kc; p++) PANEL(row_step)(acc, row, b_rows != NULL ? b_rows[p] : p, bp, ldb);
    } else {
        for (; p + SIDE_EVERY <= kc; p += SIDE_EVERY, chunk++) {
            PANEL(side_work)(p, b_next, b_rows, ldb, side_line, side_n, up, chunk);
#pragma GCC unroll 4
            for (int s = 0; s < SIDE_EVERY; s++)
                PANEL(tile_step)(acc, p + s, i0, j0, ap, rs_a, cs_a, arows, col_rows, b_rows, b, ldb);
        }
        for (; p < kc; p++) PANEL(tile_step)(acc, p, i0, j0, ap, rs_a, cs_a, arows, col_rows, b_rows, b, ldb);
    }
    for (; up != NULL && chunk < up->n_vectors; chunk++) update_vector(up, chunk);   /* the share's rest */

    /* columns j0 .. j0+cols-1: lanes below cols of the first vector, below cols - 8 of the second */
    struct row_store st = row_store(cols, alpha, beta, epi, j0);
#pragma GCC unroll 8
    for (int i = 0; i < TILE_ROWS; i++) {
        if (i >= rows) break;
        store_row16(&st, acc[i][0], acc[i][1], c + i * ldc, (i0 + i) * ldc + j0, i0 + i, epi);
    }
}

/* the MR × 32 tile as register tiles; the first fetches the lines on the side (b_next, side)
 * and takes the share of the momentum step (up), which it alone is sized for */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(register_tiles)(
    ptrdiff_t kc, int mr, int nr, const float *restrict ap, ptrdiff_t rs_a, ptrdiff_t cs_a,
    const float *const *arows, const ptrdiff_t *col_rows, const int32_t *b_rows,
    const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side, float alpha,
    float beta, float *restrict c, ptrdiff_t ldc, const struct update_share *up, const struct epilogue *epi)
{
    for (int j0 = 0; j0 < nr; j0 += 16)
        for (int i0 = 0; i0 < mr; i0 += TILE_ROWS) {
            int first = i0 == 0 && j0 == 0;
            PANEL(register_tile)(kc, i0, mr, j0, nr, ap, rs_a, cs_a, arows, col_rows, b_rows, b, ldb,
                                 first ? b_next : NULL, first ? side : NULL, alpha, beta, c, ldc,
                                 first ? up : NULL, epi);
        }
}

/* the same, compiled apart for a whole tile (mr = MR, nr = NR) and, there, for a packed panel
 * and strip (cs_a = MR, ldb = NR): with the tile's shape and strides known, the compiler
 * drops the edge tests and the stride arithmetic from the loop (a 140 × 1024 × 256
 * product: 71 -> 88 GFLOP/s on a Zen 3 core, in the same process) */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void PANEL(micro_kernel_body)(
    ptrdiff_t kc, int mr, int nr, const float *restrict ap, ptrdiff_t rs_a, ptrdiff_t cs_a,
    const float *const *arows, const ptrdiff_t *col_rows, const int32_t *b_rows,
    const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side, float alpha,
    float beta, float *restrict c, ptrdiff_t ldc, const struct update_share *up, const struct epilogue *epi)
{
    if (mr == MR && nr == NR && rs_a == 1 && cs_a == MR && ldb == NR)
        PANEL(register_tiles)(kc, MR, NR, ap, 1, MR, arows, col_rows, b_rows, b, NR, b_next, side, alpha, beta, c,
                              ldc, up, epi);
    else if (mr == MR && nr == NR)
        PANEL(register_tiles)(kc, MR, NR, ap, rs_a, cs_a, arows, col_rows, b_rows, b, ldb, b_next, side, alpha,
                              beta, c, ldc, up, epi);
    else
        PANEL(register_tiles)(kc, mr, nr, ap, rs_a, cs_a, arows, col_rows, b_rows, b, ldb, b_next, side, alpha,
                              beta, c, ldc, up, epi);
}

#define PANEL_TARGET FNN_TARGET_AVX2
#include "gemm_panel_calls.h"
#undef PANEL_TARGET

/* keep[0 .. u) := the columns p < kc where one of the MR rows arows[i] is not 0 (a NaN
 * counts as not 0), in order; returns u.  The panel is then read in place, only at those
 * columns: what packing it compacted would hold, without copying or transposing it. */
FNN_TARGET_AVX2 static int PANEL(find_kept)(const float *const *arows, int kc, int32_t *restrict keep)
{
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int u = 0;
    for (int p = 0; p < kc; p += 8) {
        int cols = kc - p < 8 ? kc - p : 8;
        __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
        __m256 nonzero = zero;
        for (int i = 0; i < MR; i++)
            nonzero = _mm256_or_ps(nonzero, _mm256_cmp_ps(_mm256_maskload_ps(arows[i] + p, in), zero, _CMP_NEQ_UQ));
        unsigned bits = (unsigned)_mm256_movemask_ps(nonzero);
        if (bits == 0) continue;                /* 8 columns left out (a picture's border) */
        if (bits == 0xFFu) {                    /* 8 kept: their numbers as one vector */
            _mm256_storeu_si256((__m256i *)(keep + u), _mm256_add_epi32(_mm256_set1_epi32(p), lane));
            u += 8;
            continue;
        }
        for (int q = 0; q < cols; q++) {        /* without a branch: whether a column is kept is data */
            keep[u] = p + q;
            u += (bits >> q) & 1;
        }
    }
    return u;
}

/* ap := op(A)[i0 : i0+mc, p0 : p0+kc] as panels of MR rows; panel r holds, for each p,
 * the MR values op(A)[i0 + r·MR + i, p0 + p] (rows past mc are zero).  Row r of the stored A
 * is at a_row(a, lda, a_rows, r): row a_rows[r] of a when rows are picked by index.
 * With kept not NULL the panels are compacted: a column whose MR values are all zero is left
 * out (it adds nothing to the product), the others follow one another, and kept[r][0 ..
 * n_kept[r]) lists which columns p panel r holds (the rows of B they meet).  A NaN is kept.
 * A column left out is written all the same, to the slot of the next kept one, which
 * overwrites it: no branch on the data (slot <= p, so nothing lands past column p). */
FNN_TARGET_AVX2 static void PANEL(pack_a)(int trans_a, const float *a, ptrdiff_t lda, const ptrdiff_t *a_rows,
                                          ptrdiff_t i0, ptrdiff_t p0, int mc, int kc, float *restrict ap,
                                          int32_t (*kept)[KC], int *n_kept)
{
    const __m256 zero = _mm256_setzero_ps();
    for (int ir = 0; ir < mc; ir += MR, ap += (ptrdiff_t)MR * kc) {
        int mr = mc - ir < MR ? mc - ir : MR, u = 0;   /* u: columns stored so far */
        int32_t *keep = kept != NULL ? kept[ir / MR] : NULL;
        const float *row[MR];
        int p = 0;
        if (trans_a) {              /* op(A)[i, p] = A[p, i]: the mr values are neighbours in row p of A */
            __m256i low = _mm256_cmpgt_epi32(_mm256_set1_epi32(mr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for (; p < kc; p++) {   /* values 0-7 as a vector, the others one by one */
                const float *src = a_row(a, lda, a_rows, p0 + p) + i0 + ir;
                __m256 x = mr >= 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, low);
                _mm256_storeu_ps(ap + u * MR, x);
                int any = _mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_NEQ_UQ));
                for (int i = 8; i < MR; i++) {
                    float xi = i < mr ? src[i] : 0.0f;
                    ap[u * MR + i] = xi;
                    any |= !(xi == 0.0f);
                }
                if (keep != NULL) keep[u] = p;
                u += keep == NULL || any;
            }
            if (keep != NULL) n_kept[ir / MR] = u;
            continue;
        }
        for (int i = 0; i < MR; i++) row[i] = i < mr ? a_row(a, lda, a_rows, i0 + ir + i) + p0 : NULL;
        if (mr == MR)               /* 8 columns at a time: rows 0-7 transposed, the others one by one */
            for (; p + 8 <= kc; p += 8) {
                __m256 r[8], nonzero = zero;
                for (int i = 0; i < MR; i++) {
                    __m256 x = _mm256_loadu_ps(row[i] + p);
                    if (i < 8) r[i] = x;
                    nonzero = _mm256_or_ps(nonzero, _mm256_cmp_ps(x, zero, _CMP_NEQ_UQ));
                }
                unsigned kept_bits = keep != NULL ? (unsigned)_mm256_movemask_ps(nonzero) : 0xFFu;
                transpose8(r);
                for (int q = 0; q < 8; q++) {   /* column q to the slot of the kept ones before it */
                    int slot = u + FNN_POPCOUNT(kept_bits & ((1u << q) - 1));
                    _mm256_storeu_ps(ap + slot * MR, r[q]);
                    for (int i = 8; i < MR; i++) ap[slot * MR + i] = row[i][p + q];
                    if (keep != NULL) keep[slot] = p + q;
                }
                u += FNN_POPCOUNT(kept_bits);
            }
        for (; p < kc; p++) {
            float col[MR];
            int any = 0;
            for (int i = 0; i < MR; i++) {
                col[i] = i < mr ? row[i][p] : 0.0f;
                any |= !(col[i] == 0.0f);
            }
            if (keep != NULL) {
                if (!any) continue;
                keep[u] = p;
            }
            for (int i = 0; i < MR; i++) ap[u * MR + i] = col[i];
            u++;
        }
        if (keep != NULL) n_kept[ir / MR] = u;
    }
}
