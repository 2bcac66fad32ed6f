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

/* ---- the last store of a tile's row, shared by the register tiles and the sparse rows ---- */

struct row_store {              /* what the last store of 16 values of a row of C needs */
    __m256i m0, m1;             /* the lanes stored: below cols of the first vector, below cols - 8 */
    int full, j0;               /* all 16 stored; the first column */
    __m256 alpha, beta, bias0, bias1;
    int add_c;                  /* beta != 0: C is read */
};

FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE struct row_store row_store(int cols, float alpha, float beta,
                                                                   const struct epilogue *epi, int j0)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    struct row_store st;
    st.m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
    st.m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
    st.full = cols == 16, st.j0 = j0;
    st.alpha = _mm256_set1_ps(alpha), st.beta = _mm256_set1_ps(beta), st.add_c = beta != 0.0f;
    st.bias0 = st.bias1 = _mm256_setzero_ps();
    if (epi != NULL && epi->bias != NULL) {
        st.bias0 = _mm256_maskload_ps(epi->bias + j0, st.m0);
        st.bias1 = _mm256_maskload_ps(epi->bias + j0 + 8, st.m1);
    }
    return st;
}

/* ci[0 .. 16) (the lanes st keeps) := alpha·(r0, r1) + beta·ci, then the epilogue: g(· + bias),
 * or · ⊙ [gate > 0] (the gate's row `row`), or the momentum step on w and v at offset `at`
 * (as C's) with ci stored only when epi->store_c */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void store_row16(const struct row_store *st, __m256 r0, __m256 r1,
                                                          float *ci, ptrdiff_t at, ptrdiff_t row,
                                                          const struct epilogue *epi)
{
    const __m256 zero = _mm256_setzero_ps();
    r0 = _mm256_mul_ps(st->alpha, r0), r1 = _mm256_mul_ps(st->alpha, r1);
    if (st->add_c) {
        __m256 c0 = st->full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, st->m0);
        __m256 c1 = st->full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, st->m1);
        r0 = _mm256_fmadd_ps(st->beta, c0, r0), r1 = _mm256_fmadd_ps(st->beta, c1, r1);
    }
    if (epi != NULL) {          /* C := g(C + b): the rounding of fnn_bias_activation_f32 */
        if (epi->bias != NULL)  /* (no +0 without a bias: -0 stays -0) */
            r0 = _mm256_add_ps(r0, st->bias0), r1 = _mm256_add_ps(r1, st->bias1);
        if (epi->relu)          /* max(0, z), a NaN kept (MAXPS returns its second operand) */
            r0 = _mm256_max_ps(zero, r0), r1 = _mm256_max_ps(zero, r1);
        if (epi->gate != NULL) {    /* C := C where gate > 0, else 0 (a NaN gate: 0) */
            const float *g = epi->gate + row * epi->ld_gate + st->j0;
            r0 = _mm256_and_ps(_mm256_cmp_ps(_mm256_maskload_ps(g, st->m0), zero, _CMP_GT_OQ), r0);
            r1 = _mm256_and_ps(_mm256_cmp_ps(_mm256_maskload_ps(g + 8, st->m1), zero, _CMP_GT_OQ), r1);
        }
    }
    if (epi != NULL && epi->w != NULL) {   /* v := μ·v − γ·dW;  w := w + v, rounded as fnn_sgd_momentum_f32 */
        float *wi = epi->w + at, *vi = epi->v + at;
        __m256 lr = _mm256_set1_ps(epi->lr), mu = _mm256_set1_ps(epi->mu);
        __m256 v0 = _mm256_fmsub_ps(mu, _mm256_maskload_ps(vi, st->m0), _mm256_mul_ps(lr, r0));
        __m256 v1 = _mm256_fmsub_ps(mu, _mm256_maskload_ps(vi + 8, st->m1), _mm256_mul_ps(lr, r1));
        __m256 w0 = _mm256_add_ps(_mm256_maskload_ps(wi, st->m0), v0);
        __m256 w1 = _mm256_add_ps(_mm256_maskload_ps(wi + 8, st->m1), v1);
        if (st->full) {
            _mm256_storeu_ps(vi, v0), _mm256_storeu_ps(vi + 8, v1);
            _mm256_storeu_ps(wi, w0), _mm256_storeu_ps(wi + 8, w1);
        } else {
            _mm256_maskstore_ps(vi, st->m0, v0), _mm256_maskstore_ps(vi + 8, st->m1, v1);
            _mm256_maskstore_ps(wi, st->m0, w0), _mm256_maskstore_ps(wi + 8, st->m1, w1);
        }
        if (!epi->store_c) return;
    }
    if (st->full)               /* (a masked store is slow on AMD's cores: only at the edge) */
        _mm256_storeu_ps(ci, r0), _mm256_storeu_ps(ci + 8, r1);
    else
        _mm256_maskstore_ps(ci, st->m0, r0), _mm256_maskstore_ps(ci + 8, st->m1, r1);
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

/* ---- sparse rows: an op(A) with few values that are not 0 ----
 * A compacted panel leaves out the columns whose MR values are all 0, but multiplies all MR
 * values of each column it keeps: on MNIST's pixels (19% not 0) 60% of the first layer's
 * multiply-adds are by 0.  A sparse row lists its values that are not 0 and multiplies only
 * those, each by its row of the strip of B, two rows of C at a time (8 accumulators, two
 * independent chains of 4 vectors, enough to cover the latency of the multiply-add).  Each
 * value of C is the panel's chain of multiply-adds over p less terms that add an exact 0,
 * summed over the same blocks of depth and stored by the same code (store_row16): the same
 * bits as the panels (a NaN of A is kept; B is assumed finite where A is 0, as for the
 * compacted panels).  The driver takes this form for a block of op(A) when skip_zeros asks
 * for it and few of the block's values are not 0. */
#include "left_pack.h"

#define SPARSE_PANELS 1
/* sparse rows for a block with at most this share of values not 0: on one Zen 3 core, 128
 * rows of 512 values scattered at random times a 512 × 512 B, sparse rows against panels
 * (none of whose columns is all 0 at these densities), forward and dW: 30% not 0, 0.55 and
 * 0.58 of the time; 40%, 0.74 and 0.71; 50%, 0.90 and 0.84 */
#define SPARSE_MOST_PERCENT 50

/* op(A)[ic : ic+mc, 0 : k] as sparse rows: row r's values that are not 0 (a NaN counts), in
 * order of p, are w->a[s] at column w->sparse_p[s] for s from sparse_start[r] to sparse_end[r].
 * Returns 1, or 0 when more than SPARSE_MOST_PERCENT of the block's values are not 0 (or, for
 * op(A) = Aᵀ, k > KC): the block is then packed as panels. */
FNN_TARGET_AVX2 static int build_sparse(struct workspace *w, int trans_a, const float *a, ptrdiff_t lda,
                                        const ptrdiff_t *a_rows, int ic, int mc, int k, int kc_step)
{
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    float *val = w->a;
    int32_t *pos = w->sparse_p, *start = w->sparse_start, *end = w->sparse_end;
    ptrdiff_t most = (ptrdiff_t)mc * k * SPARSE_MOST_PERCENT / 100, u = 0;
    if (!trans_a) {     /* row r of op(A) is a stored row: its values 8 at a time, those kept moved to the front */
        /* every group of 8 stored, its values kept at the front (no branch on which are kept:
         * on MNIST's rows, runs of zeros and of pixels alternate unpredictably); the bound is
         * checked row by row, with room for one more row and 8 values past it */
        if (most > (ptrdiff_t)MC * KC - k - 8) most = (ptrdiff_t)MC * KC - k - 8;
        /* and where each block of depth after the first starts, as the group holding its first
         * column goes by (sparse_block finds the others by search) */
        int cuts = (k - 1) / kc_step < SPARSE_CUTS ? (k - 1) / kc_step : SPARSE_CUTS;
        w->n_sparse_cuts = cuts;
        for (int r = 0; r < mc; r++) {
            if (u > most) return 0;
            const float *row = a_row(a, lda, a_rows, ic + r);
            start[r] = (int32_t)u;
            int p = 0, next_cut = kc_step, j = 0;
            for (;; p += 8) {
                __m256 x = k - p >= 8 ? _mm256_loadu_ps(row + p)
                                      : _mm256_maskload_ps(row + p, _mm256_cmpgt_epi32(_mm256_set1_epi32(k - p), lane));
                unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_NEQ_UQ));
                for (; j < cuts && next_cut < p + 8; j++, next_cut += kc_step)    /* a block starts in this group */
                    w->sparse_cut[r][j] = (int32_t)u + FNN_POPCOUNT(bits & ((1u << (next_cut - p)) - 1));
                __m256i perm = _mm256_loadu_si256((const __m256i *)left_pack[bits]);
                _mm256_storeu_ps(val + u, _mm256_permutevar8x32_ps(x, perm));
                _mm256_storeu_si256((__m256i *)(pos + u),
                                    _mm256_permutevar8x32_epi32(_mm256_add_epi32(_mm256_set1_epi32(p), lane), perm));
                u += FNN_POPCOUNT(bits);
                if (p + 8 >= k) break;
            }
            end[r] = (int32_t)u;
        }
        return u <= most;
    }
    /* op(A) = Aᵀ: row r of op(A) is column ic + r of the stored rows p (the samples of a batch,
     * for dW).  Blocks of 8 stored rows × 8 columns, transposed, each row r of op(A) written to
     * a room of its own, rs values (8 more than it can fill, rounded: no store lands past it) */
    if (k > KC) return 0;
    w->n_sparse_cuts = 0;
    int rs = (k + 7) & ~7;
    for (int r = 0; r < mc; r++) start[r] = end[r] = r * rs;
    for (int p = 0; p < k; p += 8) {
        int rows_p = k - p < 8 ? k - p : 8;
        const float *src[8];
        for (int i = 0; i < 8; i++) src[i] = i < rows_p ? a_row(a, lda, a_rows, p + i) + ic : NULL;
        __m256i at_p = _mm256_add_epi32(_mm256_set1_epi32(p), lane);
        for (int r0 = 0; r0 < mc; r0 += 8) {
            int cols = mc - r0 < 8 ? mc - r0 : 8;
            __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
            __m256 x[8], any = zero;
            for (int i = 0; i < 8; i++) {
                x[i] = i >= rows_p ? zero
                       : cols == 8 ? _mm256_loadu_ps(src[i] + r0) : _mm256_maskload_ps(src[i] + r0, in);
                any = _mm256_or_ps(any, x[i]);      /* (bits: ±0 alone leaves it equal to 0) */
            }
            if (_mm256_movemask_ps(_mm256_cmp_ps(any, zero, _CMP_NEQ_UQ)) == 0) continue;   /* 64 zeros */
            transpose8(x);                          /* x[q]: row r0 + q of op(A) at p .. p+7 */
            for (int q = 0; q < cols; q++) {
                unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x[q], zero, _CMP_NEQ_UQ));
                __m256i perm = _mm256_loadu_si256((const __m256i *)left_pack[bits]);
                int32_t e = end[r0 + q];
                _mm256_storeu_ps(val + e, _mm256_permutevar8x32_ps(x[q], perm));
                _mm256_storeu_si256((__m256i *)(pos + e), _mm256_permutevar8x32_epi32(at_p, perm));
                end[r0 + q] = e + FNN_POPCOUNT(bits);
            }
        }
    }
    for (int r = 0; r < mc; r++) u += end[r] - start[r];
    return u <= most;
}

/* sparse_lo[r], sparse_hi[r] := row r's values at columns pc .. pc+kc-1 (of k), block j of
 * depth, the blocks taken in order from pc = 0; returns how many values the block's rows hold */
FNN_TARGET_AVX2 static ptrdiff_t sparse_block(struct workspace *w, int mc, int j, int pc, int kc, int k)
{
    ptrdiff_t terms = 0;
    for (int r = 0; r < mc; r++) {
        int32_t lo = pc == 0 ? w->sparse_start[r] : w->sparse_hi[r], hi = lo;
        if (pc + kc >= k)       /* the last block (the only one for dW): the rest */
            hi = w->sparse_end[r];
        else if (j < w->n_sparse_cuts)      /* found while listing */
            hi = w->sparse_cut[r][j];
        else {                  /* the columns below pc + kc, 8 at a time: the list is in order of p, so
                                 * they are the lanes up to the first at or past it (the trailing ones of
                                 * `below`); lanes past the row's end are read but not taken */
            const __m256i limit = _mm256_set1_epi32(pc + kc);
            for (int32_t e = w->sparse_end[r]; hi < e;) {
                __m256i p8 = _mm256_loadu_si256((const __m256i *)(w->sparse_p + hi));
                unsigned below = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(limit, p8)));
                int n_below = FNN_POPCOUNT(below & ~(below + 1));
                hi = hi + n_below < e ? hi + n_below : e;
                if (n_below < 8) break;
            }
        }
        w->sparse_lo[r] = lo, w->sparse_hi[r] = hi;
        terms += hi - lo;
    }
    return terms;
}

/* acc[0 .. V) += Σ_s val[s]·B[pos[s]] for s in [s, e): one row's chain (B's row p at
 * b + (p − pc)·ldb) */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void sparse_chain(__m256 acc[4], const int V, const float *val,
                                                           const int32_t *pos, int s, int e, int pc,
                                                           const float *b, ptrdiff_t ldb)
{
    for (; s < e; s++) {
        const float *bp = b + (ptrdiff_t)(pos[s] - pc) * ldb;
        __m256 a = _mm256_broadcast_ss(val + s);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(bp + 8 * v), acc[v]);
    }
}

/* rows 0 .. mc-1 of C's strip of nr ≤ 8·V columns, c at row 0, two rows at a time:
 * C := alpha·Σ_s val[s]·B[sparse_p[s]] + beta·C over each row's values in this block, then the
 * epilogue (w and v at C's offsets, the gate's rows 0 .. mc-1); B's row p at b + (p − pc)·ldb,
 * 8·V values (a strip, zero-padded past nr when packed).  V vectors of accumulators per row: a
 * narrow strip (a layer of 100: 32, 32, 32 and 4 columns) multiplies no more than it needs */
FNN_TARGET_AVX2 static FNN_ALWAYS_INLINE void sparse_strip_body(struct workspace *w, const int V, int mc, int pc,
                                                                int nr, const float *b, ptrdiff_t ldb, float alpha,
                                                                float beta, float *c, ptrdiff_t ldc,
                                                                const struct epilogue *epi)
{
    const float *val = w->a;
    const int32_t *pos = w->sparse_p;
    struct row_store st0 = row_store(nr < 16 ? nr : 16, alpha, beta, epi, 0);
    struct row_store st1 = row_store(nr > 16 ? nr - 16 : 0, alpha, beta, epi, 16);
    for (int r = 0; r < mc; r += 2) {
        __m256 x[4], y[4];          /* (named by constant indices only, so kept in registers) */
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) x[v] = y[v] = _mm256_setzero_ps();
        int two = r + 1 < mc;
        int s = w->sparse_lo[r], e = w->sparse_hi[r];
        int t = two ? w->sparse_lo[r + 1] : 0, f = two ? w->sparse_hi[r + 1] : 0;
        /* the stream's lines on the side, spread over the pairs of rows (see side_work_of_terms) */
        struct side_run run = side_run(&w->stream, (e - s + f - t) / 4);
        for (ptrdiff_t line = 0; line < run.n; line++) _mm_prefetch(run.line + 64 * line, _MM_HINT_T0);
        for (; s < e && t < f; s++, t++) {      /* the two chains side by side */
            const float *bx = b + (ptrdiff_t)(pos[s] - pc) * ldb, *by = b + (ptrdiff_t)(pos[t] - pc) * ldb;
            __m256 ax = _mm256_broadcast_ss(val + s), ay = _mm256_broadcast_ss(val + t);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) {
                x[v] = _mm256_fmadd_ps(ax, _mm256_loadu_ps(bx + 8 * v), x[v]);
                y[v] = _mm256_fmadd_ps(ay, _mm256_loadu_ps(by + 8 * v), y[v]);
            }
        }
        sparse_chain(x, V, val, pos, s, e, pc, b, ldb);     /* then the longer one's rest */
        sparse_chain(y, V, val, pos, t, f, pc, b, ldb);
        ptrdiff_t at = (ptrdiff_t)r * ldc;
        store_row16(&st0, x[0], x[1], c + at, at, r, epi);
        if (two) store_row16(&st0, y[0], y[1], c + at + ldc, at + ldc, r + 1, epi);
        if (V > 2) {
            store_row16(&st1, x[2], x[3], c + at + 16, at + 16, r, epi);
            if (two) store_row16(&st1, y[2], y[3], c + at + ldc + 16, at + ldc + 16, r + 1, epi);
        }
    }
}

FNN_TARGET_AVX2 FNN_NOINLINE static void sparse_strip(struct workspace *w, int mc, int pc, int nr,
                                                      const float *b, ptrdiff_t ldb, float alpha, float beta,
                                                      float *c, ptrdiff_t ldc, const struct epilogue *epi)
{
    if (nr > 24)
        sparse_strip_body(w, 4, mc, pc, nr, b, ldb, alpha, beta, c, ldc, epi);
    else if (nr > 16)
        sparse_strip_body(w, 3, mc, pc, nr, b, ldb, alpha, beta, c, ldc, epi);
    else if (nr > 8)
        sparse_strip_body(w, 2, mc, pc, nr, b, ldb, alpha, beta, c, ldc, epi);
    else
        sparse_strip_body(w, 1, mc, pc, nr, b, ldb, alpha, beta, c, ldc, epi);
}

#include "gemm_driver.h"

#endif
