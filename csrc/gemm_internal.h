/* What fastnn's GEMM shares between its instruction sets (see gemm.c): the blocking, the
 * per-thread workspace, the lines fetched and the momentum step taken on the side of the
 * products, and the entry points of each instruction set's blocked product
 * (gemm_driver.h, compiled once in gemm.c for AVX-512 and once in gemm_avx2.c for AVX2). */
#ifndef FASTNN_GEMM_INTERNAL_H
#define FASTNN_GEMM_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define NR 32           /* columns of C per micro-kernel call (AVX-512: two vectors)     */
#define KC 1024         /* most depth of one packed block (k is cut evenly): a layer of up to
                         * 1024 inputs is one pass, C stored once (on the Zen 4 benchmark machine,
                         * against 448: dX of net B 92 -> 99 GFLOP/s, its forward 110 -> 112) */
#define MC 140          /* rows of one packed block (a multiple of both panel heights) */
#define ROWS_IN_PLACE_N 128   /* most columns of C for which rows of A are read in place */
#define SPARSE_CUTS 8   /* blocks of depth whose start in each sparse row is found as it is listed */
#define SIDE_EVERY 4    /* steps of the micro-kernel per line it fetches on the side        */
#define UPDATE_EVERY 4      /* steps of the micro-kernel per 16 values it updates on the side */
#define UPDATE_AHEAD 32     /* vectors ahead of the one updated whose w and v are prefetched
                            * (2 KB: on net B, 2.33 s against 2.44 for 8 and 2.59 for 2) */

/* the momentum step on n values at once, in plain code (where the kernel cannot run, or
 * cannot take the step on the side): v := fma(mu, v, −(lr·g));  w := w + v */
static inline void plain_update(float *w, const float *g, float *v, ptrdiff_t n, float lr, float mu)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float step = lr * g[i];
        v[i] = fmaf(mu, v[i], -step);
        w[i] = w[i] + v[i];
    }
}

struct side_run {           /* the lines one micro-kernel call fetches on the side */
    const char *line;       /* the first; the others follow it, 64 bytes apart */
    ptrdiff_t n;
};

struct epilogue {            /* C := g(C + bias) on the last store of each tile */
    const float *bias;      /* the tile's first column's bias, or NULL */
    int relu;               /* g = max(0, ·), else the identity */
    const float *gate;      /* or C := C ⊙ [gate > 0]: the tile's first value of gate, or NULL */
    ptrdiff_t ld_gate;
    float *w, *v;           /* or, C being a block of dW, the momentum step on the tile's weights: */
    float lr, mu;           /* v := μ·v − γ·C;  w := w + v  (w, v: ldc apart, as C), or NULL */
    int store_c;            /* with w: C is stored too (else it is not) */
};

struct momentum {            /* see fnn_sgemm_momentum */
    float *w, *v;
    float lr, mu;
    int store_c;
};

/* row r of a row-major matrix a, ld floats from a row to the next; with rows not NULL,
 * row rows[r] (rows gathered by index, read where they lie) */
static inline const float *a_row(const float *a, ptrdiff_t ld, const ptrdiff_t *rows, ptrdiff_t r)
{
    return a + (rows != NULL ? rows[r] : r) * ld;
}

/* ---- per-thread workspace (gemm.c allocates it on first use) ---- */

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
    float b[KC * NR];                           /* a packed strip of op(B) (at a multiple of 64 bytes:
                                                 * the workspace's start, and a's size, are) */
    int32_t kept[MC / 10][KC];                  /* compacted panels: the columns each holds */
    int n_kept[MC / 10];
    int32_t sparse_p[MC * KC];                  /* sparse rows: the column p of each value kept (in a) */
    int32_t sparse_start[MC], sparse_end[MC];   /* row r's values: from sparse_start[r] to sparse_end[r] */
    int32_t sparse_lo[MC], sparse_hi[MC];       /* and those of the current block of depth */
    int32_t sparse_cut[MC][SPARSE_CUTS];        /* where row r's values of block j + 1 start (the
                                                 * first n_sparse_cuts blocks after the first) */
    int n_sparse_cuts;
    struct stream stream;
    struct pending_update update;
};

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

/* ---- each instruction set's part (gemm_driver.h) ---- */

/* the blocked product of fnn_sgemm and its fused variants (the arguments: see gemm.c) */
#define FNN_GEMM_BLOCKED_ARGS                                                                                 \
    struct workspace *w, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, \
        const ptrdiff_t *a_rows, const float *b, int ldb, const float *b_packed, float beta, float *c, int ldc, \
        const float *bias, int relu, const float *gate, int ld_gate, int skip_zeros, const struct momentum *mom
int fnn_gemm_blocked_avx512(FNN_GEMM_BLOCKED_ARGS);
int fnn_gemm_blocked_avx2(FNN_GEMM_BLOCKED_ARGS);

/* the rest of a pending momentum step, now */
void fnn_gemm_finish_update_avx512(struct pending_update *u);
void fnn_gemm_finish_update_avx2(struct pending_update *u);

/* bs := B[p0 : p0+kc, j0 : j0+nr] as rows of NR floats, zero-padded (fnn_sgemm_pack_b) */
void fnn_gemm_pack_strip_avx512(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                                float *bs);
void fnn_gemm_pack_strip_avx2(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr,
                              float *bs);

#endif
