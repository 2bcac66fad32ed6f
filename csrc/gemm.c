/* fastnn's own single-precision GEMM for AVX-512 CPUs (see gemm.h).
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
 * momentum step, and reads the batch in place).  Everything else, and every CPU without
 * AVX-512, still goes through BLAS.
 */
#include "gemm.h"
#include "cpu.h"
#include "platform.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* the momentum step on n values at once, in plain code (where the kernel cannot run, or
 * cannot take the step on the side): v := fma(mu, v, −(lr·g));  w := w + v */
static void plain_update(float *w, const float *g, float *v, ptrdiff_t n, float lr, float mu)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float step = lr * g[i];
        v[i] = fmaf(mu, v[i], -step);
        w[i] = w[i] + v[i];
    }
}

#if defined(FNN_OWN_X86_KERNELS)
#include <immintrin.h>

#define NR 32           /* columns of C per micro-kernel call: two vectors             */
#define KC 1024         /* most depth of one packed block (k is cut evenly): a layer of up to
                         * 1024 inputs is one pass, C stored once (on the Zen 4 benchmark machine,
                         * against 448: dX of net B 92 -> 99 GFLOP/s, its forward 110 -> 112) */
#define MC 140          /* rows of one packed block (a multiple of both panel heights) */
#define ROWS_IN_PLACE_N 128   /* most columns of C for which rows of A are read in place */
#define SIDE_EVERY 4    /* steps of the micro-kernel per line it fetches on the side        */

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

#define UPDATE_EVERY 4      /* steps of the micro-kernel per 16 values it updates on the side */
#define UPDATE_AHEAD 32     /* vectors ahead of the one updated whose w and v are prefetched
                            * (2 KB: on net B, 2.33 s against 2.44 for 8 and 2.59 for 2) */

struct side_run {           /* the lines one micro-kernel call fetches on the side */
    const char *line;       /* the first; the others follow it, 64 bytes apart */
    ptrdiff_t n;
};

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

struct epilogue {            /* C := g(C + bias) on the last store of each tile */
    const float *bias;      /* the tile's first column's bias, or NULL */
    int relu;               /* g = max(0, ·), else the identity */
    const float *gate;      /* or C := C ⊙ [gate > 0]: the tile's first value of gate, or NULL */
    ptrdiff_t ld_gate;
    float *w, *v;           /* or, C being a block of dW, the momentum step on the tile's weights: */
    float lr, mu;           /* v := μ·v − γ·C;  w := w + v  (w, v: ldc apart, as C), or NULL */
    int store_c;            /* with w: C is stored too (else it is not) */
};

/* row r of a row-major matrix a, ld floats from a row to the next; with rows not NULL,
 * row rows[r] (rows gathered by index, read where they lie) */
static inline const float *a_row(const float *a, ptrdiff_t ld, const ptrdiff_t *rows, ptrdiff_t r)
{
    return a + (rows != NULL ? rows[r] : r) * ld;
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

/* ---- per-thread workspace, allocated on first use and freed when the thread ends ---- */


struct stream {                                 /* rows to fetch while the products compute */
    const char *base;                           /* the first value to fetch of row 0 */
    const ptrdiff_t *index;                     /* the rows to fetch, in order */
    ptrdiff_t n_rows, stride, row_bytes;        /* bytes from a row to the next, and to fetch of each */
    ptrdiff_t row, offset;                      /* the next line: byte offset in row index[row] */
};

struct pending_update {                         /* see fnn_sgemm_side_update */
    float *w, *v;
    const float *g;
    ptrdiff_t n, done;                          /* values, and how many are updated */
    float lr, mu;
};

struct workspace {
    float a[MC * KC];                           /* packed panels of op(A) */
    int32_t kept[MC / 10][KC];                  /* compacted panels: the columns each holds */
    int n_kept[MC / 10];
    float b[KC * NR];                           /* a packed strip of op(B) */
    struct stream stream;
    struct pending_update update;
};

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

/* the lines one micro-kernel call of depth kc fetches, taken off the stream: a run of the
 * current row, at most one every SIDE_EVERY steps */
static inline struct side_run side_run(struct stream *st, int kc)
{
    struct side_run run = {NULL, 0};
    if (st->row >= st->n_rows) return run;
    ptrdiff_t left = (st->row_bytes - st->offset + 63) / 64, most = (kc + SIDE_EVERY - 1) / SIDE_EVERY;
    run.line = st->base + st->index[st->row] * st->stride + st->offset;
    run.n = left < most ? left : most;
    st->offset += 64 * run.n;
    if (st->offset >= st->row_bytes) st->row++, st->offset = 0;
    return run;
}

/* ---- the momentum step on the side ---- */

/* the rest of the pending step, now */
AVX512 static void finish_update(struct pending_update *u)
{
    float lr = u->lr, mu = u->mu;
    if (u->n - u->done >= 16) {
        struct update_share all = {u->w + u->done, u->v + u->done, u->g + u->done, (u->n - u->done) / 16,
                                   _mm512_set1_ps(lr), _mm512_set1_ps(mu)};
        for (ptrdiff_t q = 0; q < all.n_vectors; q++) update_vector(&all, q);
        u->done += 16 * all.n_vectors;
    }
    if (u->done < u->n)                         /* the tail */
        plain_update(u->w + u->done, u->g + u->done, u->v + u->done, u->n - u->done, lr, mu);
    u->done = u->n = 0;
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

/* the share of the pending step the next micro-kernel call of depth kc takes (NULL: none) */
AVX512 static const struct update_share *update_share(struct pending_update *u, ptrdiff_t kc,
                                                      struct update_share *share)
{
    ptrdiff_t vectors = (u->n - u->done) / 16, most = (kc - UPDATE_EVERY / 2 + UPDATE_EVERY - 1) / UPDATE_EVERY;
    if (vectors <= 0 || most <= 0) return NULL;
    share->w = u->w + u->done, share->v = u->v + u->done, share->g = u->g + u->done;
    share->n_vectors = vectors < most ? vectors : most;
    share->lr = _mm512_set1_ps(u->lr), share->mu = _mm512_set1_ps(u->mu);
    u->done += 16 * share->n_vectors;
    return share;
}

/* ---- the blocked product ---- */

/* the own kernel runs where the CPU (as capped by FASTNN_CPU) has AVX-512 */
int fnn_sgemm_available(void) { return fnn_cpu_isa() >= FNN_ISA_AVX512; }

int fnn_sgemm_ready(void) { return fnn_sgemm_available() && workspace() != NULL; }

struct momentum {            /* see fnn_sgemm_momentum */
    float *w, *v;
    float lr, mu;
    int store_c;
};

static int sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const ptrdiff_t *a_rows, const float *b, int ldb, const float *b_packed, float beta, float *c,
                 int ldc, const float *bias, int relu, const float *gate, int ld_gate, int skip_zeros,
                 const struct momentum *mom);

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
                            float beta, float *c, int ldc, const float *gate, int ld_gate)
{
    if (k <= 0 || gate == NULL) return -1;
    return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, NULL, b, ldb, NULL, beta, c, ldc, NULL, 0, gate, ld_gate, 0,
                 NULL);
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
    for (int jc = 0; jc < n; jc += NR)      /* strip jc / NR: its k rows of NR floats */
        pack_b_edge(b, ldb, 0, jc, k, n - jc < NR ? n - jc : NR, packed + (ptrdiff_t)(jc / NR) * k * NR);
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

static int sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const ptrdiff_t *a_rows, const float *b, int ldb, const float *b_packed, float beta, float *c,
                 int ldc, const float *bias, int relu, const float *gate, int ld_gate, int skip_zeros,
                 const struct momentum *mom)
{
    if (!fnn_sgemm_available()) return -1;
    struct workspace *w = workspace();
    if (w == NULL) return -1;
    float *ap = w->a, *bs = w->b;
    struct update_share share_buffer;
    const struct update_share *share;
    /* panels of 10 rows for the batches of training (100, 50: no row wasted); of 14 rows,
     * whose 28 accumulators amortise the loads better, for the tall products of predict
     * that reuse each packed panel over many strips of B.  A tall product with at most
     * ROWS_IN_PLACE_N columns (a narrow layer, or the output layer) keeps 10-row panels read
     * in place: packing there costs about what it saves (n = 10: 50 -> 74 GFLOP/s, n = 64:
     * 213 -> 245, on one core of the benchmark machine).  While a momentum step is pending
     * (fnn_sgemm_side_update), 10-row panels too: only their kernel has registers to spare.
     * And for a compacted op(A)ᵀ (the first layer's dW on mostly-zero data: a panel is that
     * many pixels of each sample), whose 10-pixel panels leave out more samples than 14-pixel
     * ones (net A's epoch 0.98x at one thread, both ways in turn) */
    int mr_panel = m >= MC && (trans_a || n > ROWS_IN_PLACE_N) && w->update.n == w->update.done
                   && !(trans_a && skip_zeros) ? 14 : 10;
    for (int ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? m - ic : MC;
        int kc_step = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC);   /* ceil(k / blocks) */
        for (int pc = 0; pc < k; pc += kc_step) {
            int kc = k - pc < kc_step ? k - pc : kc_step;
            float beta_block = pc == 0 ? beta : 1.0f;       /* later blocks add to C */
            /* With few strips of B to reuse a panel, packing it costs more than it saves: full
             * panels of a transposed A (already column by column) are read in place, and so
             * are the rows of an A that is not transposed, when few (10-row panels) */
            /* skip_zeros: every panel compacted, its all-zero columns left out: packed so, or
             * (rows read in place) only the list of its columns kept (see find_kept_10) */
            int rows_in_place = !trans_a && mr_panel == 10 && n <= ROWS_IN_PLACE_N;
            int packed_from = (!skip_zeros && trans_a && n <= 4 * NR) || rows_in_place ? mc - mc % mr_panel : 0;
            int32_t (*kept)[KC] = skip_zeros ? w->kept : NULL;
            if (packed_from < mc) {
                float *dst = ap + (ptrdiff_t)packed_from * kc;
                int32_t (*kept_packed)[KC] = kept != NULL ? kept + packed_from / mr_panel : NULL;
                int *n_kept_packed = w->n_kept + packed_from / mr_panel;
                if (mr_panel == 14)
                    pack_a_14(trans_a, a, lda, a_rows, ic + packed_from, pc, mc - packed_from, kc, dst, kept_packed,
                              n_kept_packed);
                else
                    pack_a_10(trans_a, a, lda, a_rows, ic + packed_from, pc, mc - packed_from, kc, dst, kept_packed,
                              n_kept_packed);
            }
            if (kept != NULL && rows_in_place)      /* 10-row panels read in place: their kept columns */
                for (int ir = 0; ir < packed_from; ir += 10) {
                    const float *arows[10];
                    for (int i = 0; i < 10; i++) arows[i] = a_row(a, lda, a_rows, ic + ir + i) + pc;
                    w->n_kept[ir / 10] = find_kept_10(arows, kc, kept[ir / 10]);
                }
            /* B's rows a multiple of 1 KB apart: read in place, a strip's rows all fall in a
             * few sets of the L1 cache and evict each other.  On an Intel core with AVX-512
             * (48 KB L1), net B's 1024-wide products ran at 53-61 GFLOP/s in place and at
             * 125-130 packed; on the Zen 4 core packing cost about 5%, so only these strides,
             * and only when more than one panel reads the strip, are packed */
            int pack_strided = b_packed == NULL && !trans_b && ldb % 256 == 0 && mc > mr_panel;
            int last_pass = pc + kc >= k, fused = last_pass && (bias != NULL || relu || gate != NULL || mom != NULL);
            for (int jc = 0; jc < n; jc += NR) {
                int nr = n - jc < NR ? n - jc : NR;
                struct epilogue tile_epilogue = {bias != NULL ? bias + jc : NULL, relu, NULL, ld_gate, NULL, NULL,
                                                 mom != NULL ? mom->lr : 0, mom != NULL ? mom->mu : 0,
                                                 mom != NULL ? mom->store_c : 1};
                const struct epilogue *epi = fused ? &tile_epilogue : NULL;
                const float *strip = b_packed != NULL ? b_packed + ((ptrdiff_t)(jc / NR) * k + pc) * NR
                                                      : b + (ptrdiff_t)pc * ldb + jc;
                ptrdiff_t ld_strip = b_packed != NULL ? NR : ldb;
                if (b_packed == NULL && (trans_b || nr < NR || pack_strided)) {
                    if (trans_b)
                        pack_bt(b, ldb, pc, jc, kc, nr, bs);
                    else
                        pack_b_edge(b, ldb, pc, jc, kc, nr, bs);
                    strip = bs, ld_strip = NR;
                }
                /* the first panel's pass fetches the next strip of B read in place */
                const float *next = b_packed != NULL ? (jc + NR < n ? strip + (ptrdiff_t)k * NR : strip)
                                    : !trans_b && jc + NR + NR <= n ? strip + NR : strip;
                for (int ir = 0; ir < mc; ir += mr_panel) {
                    int in_place = ir < packed_from, mr = mc - ir < mr_panel ? mc - ir : mr_panel;
                    /* a transposed A read in place: column p of the panel is row pc + p of A
                     * (with a_rows, row a_rows[pc + p]: col_rows) */
                    const ptrdiff_t *col_rows = in_place && a_rows != NULL ? a_rows + pc : NULL;
                    const float *panel = !in_place ? ap + (ptrdiff_t)ir * kc
                                         : col_rows != NULL ? a + ic + ir : a + (ptrdiff_t)pc * lda + ic + ir;
                    ptrdiff_t cs_a = in_place ? lda : mr_panel;
                    float *tile = c + (ptrdiff_t)(ic + ir) * ldc + jc;
                    if (gate != NULL) tile_epilogue.gate = gate + (ptrdiff_t)(ic + ir) * ld_gate + jc;
                    if (mom != NULL) {
                        tile_epilogue.w = mom->w + (ptrdiff_t)(ic + ir) * ldc + jc;
                        tile_epilogue.v = mom->v + (ptrdiff_t)(ic + ir) * ldc + jc;
                    }
                    /* a compacted panel: its kc_panel kept columns meet rows b_rows of the strip */
                    const int32_t *b_rows = kept != NULL ? kept[ir / mr_panel] : NULL;
                    int kc_panel = kept != NULL ? w->n_kept[ir / mr_panel] : kc;
                    struct side_run run = side_run(&w->stream, kc_panel);
                    const struct side_run *lines = &run;
                    if (in_place && rows_in_place) {
                        const float *arows[10], *const *picked = NULL;
                        if (a_rows != NULL || b_rows != NULL) {     /* (a compacted panel: its rows by address) */
                            for (int i = 0; i < 10; i++) arows[i] = a_row(a, lda, a_rows, ic + ir + i) + pc;
                            picked = arows;
                        }
                        micro_kernel_rows_10(kc_panel, nr, a + (ptrdiff_t)(ic + ir) * lda + pc, lda, picked, b_rows,
                                             strip, ld_strip, ir == 0 ? next : strip, lines, alpha, beta_block, tile,
                                             ldc, epi);
                    } else if (mr_panel == 14)
                        micro_kernel_14(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                        ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, epi);
                    else if (w->update.n - w->update.done >= 16
                             && (share = update_share(&w->update, kc_panel, &share_buffer)) != NULL)
                        micro_kernel_update_10(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                               ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, share,
                                               epi);
                    else
                        micro_kernel_10(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                        ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, epi);
                }
            }
        }
    }
    return 0;
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
                            float beta, float *c, int ldc, const float *gate, int ld_gate)
{
    (void)gate, (void)ld_gate;
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
