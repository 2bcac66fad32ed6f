/* fastnn's own single-precision matrix product for CPUs with AVX-512, or with AVX2 and FMA
 * (the instruction set fnn_cpu_isa() gives, see cpu.h: gemm.c, gemm_avx2.c).
 *
 * fnn_sgemm computes, for row-major matrices,
 *
 *     C := alpha · op(A) · op(B) + beta · C      op(A): m × k, op(B): k × n, C: m × n
 *
 * with op(X) = Xᵀ when trans_x is non-zero (beta = 0: C is not read).  It returns 0 when
 * it has done so, and -1, leaving C untouched, when it cannot run here (neither AVX-512 nor
 * AVX2 and FMA in the CPU and the OS, or FASTNN_CPU=generic; a compiler without x86
 * intrinsics; or no memory for its packing buffers); the caller then uses BLAS
 * (fastnn/_kernels/_blas.pyx).
 */
#ifndef FASTNN_GEMM_H
#define FASTNN_GEMM_H

#include <stddef.h>

int fnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc);

/* fnn_sgemm, then C := g(C + bias) (bias: n values added to every row, or NULL; g the
 * identity, or max(0, ·) when relu is non-zero), applied to each tile of C as it is stored
 * for the last time, instead of in a pass of its own over C.  The rounding is that of
 * fnn_bias_activation_f32 after the product.
 *
 * With skip_zeros non-zero, every panel of op(A) is packed without the columns p that are
 * zero in all of its rows, and only B's rows p of the columns kept are read: for an A that
 * is mostly zeros (MNIST's pixels), fewer multiply-adds for the same C, bit for bit (a term
 * left out is an exact 0; a NaN or infinity of A is kept).  Returns -1, leaving C
 * untouched, where fnn_sgemm would, and for k = 0. */
int fnn_sgemm_bias_act(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc, const float *bias, int relu, int skip_zeros);

/* fnn_sgemm, then C := C ⊙ [gate > 0] (gate: m × n, ld_gate floats from a row to the next;
 * where a gate value is not above 0, NaN included, C's is 0), applied to each tile of C as
 * it is stored for the last time: δ := (δ'·Wᵀ) ⊙ relu'(Z) of backpropagation through a relu
 * layer, with gate = A = relu(Z) (A > 0 exactly where Z > 0).  The values of
 * fnn_activation_backward_f32 after the product, bit for bit (skip_zeros: as in
 * fnn_sgemm_bias_act, for a δ' that is mostly zeros, a relu layer's or a dropout's).
 * Returns -1, leaving C untouched, where fnn_sgemm would, and for k = 0. */
int fnn_sgemm_relu_gradient(int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb,
                            float beta, float *c, int ldc, const float *gate, int ld_gate, int skip_zeros);

/* fnn_sgemm_bias_act (B not transposed) with the rows of the stored A picked by index: row r
 * of A is row a_rows[r] of a (lda floats apart), read where it lies, no copy made.  So
 * op(A) = A[a_rows]: m rows of k values; op(A) = A[a_rows]ᵀ (trans_a): the k picked rows are
 * op(A)'s columns.  Training reads each batch's samples from the data this way, for both the
 * first layer's forward product and its dW (skip_zeros: as in fnn_sgemm_bias_act).  Returns
 * -1, leaving C untouched, where fnn_sgemm would, and for k = 0 or a_rows = NULL. */
int fnn_sgemm_rows(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                   const ptrdiff_t *a_rows, const float *b, int ldb, float beta, float *c, int ldc,
                   const float *bias, int relu, int skip_zeros);

/* op(B) = B (k × n, row-major, ldb floats from a row to the next) packed once for many
 * products that share it: strip s (columns 32·s .. 32·s + 31, past n zero) holds its k rows
 * of 32 floats one after another, at packed + 32·k·s.  fnn_sgemm_packed_b_size gives the
 * floats packed needs (0 where fnn_sgemm cannot run); fnn_sgemm_pack_b returns 0, or -1
 * where fnn_sgemm cannot run.  fnn_sgemm_packed is fnn_sgemm_rows (a_rows may be NULL: A as
 * stored) with alpha = 1 and beta = 0, reading such a B.  predict multiplies each chunk of
 * rows by the same weights, and training each block of dW rows by the same δ: packed once,
 * a wide B is not copied again for every product (and its rows, 4 KB apart for 1024
 * columns, are not fetched one page at a time, which the hardware prefetcher does not
 * follow).  Returns -1, leaving C untouched, where fnn_sgemm would, and for k = 0. */
ptrdiff_t fnn_sgemm_packed_b_size(int k, int n);
int fnn_sgemm_pack_b(int k, int n, const float *b, int ldb, float *packed);
int fnn_sgemm_packed(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                     const float *b_packed, float *c, int ldc, const float *bias, int relu, int skip_zeros);

/* fnn_sgemm_rows (a_rows may be NULL; B read from b_packed, packed by fnn_sgemm_pack_b, when
 * not NULL, else from b, ldb; no bias, no activation), C := op(A)·B being a block of dW, and
 * the momentum step of SGD on the block's weights, v := mu·v − lr·C;  w := w + v (w and v:
 * m × n, ldc floats from a row to the next, as C), applied to each tile of C as it is stored
 * for the last time, with the rounding of fnn_sgd_momentum_f32.  C holds dW afterwards when
 * store_c is non-zero; otherwise its last store is left out, and C holds nothing defined
 * (a depth beyond one block, k > 1024 on AVX-512 and k > 256 on AVX2, keeps the partial
 * sums there).  Where a product has
 * no room on its side for the update (fnn_sgemm_side_update: the first layer's compacted
 * panels, a few dozen multiply-adds per weight), this does it with no pass of its own
 * over dW.  C, w and v must not overlap, nor be covered by a pending fnn_sgemm_side_update.
 * Returns -1, leaving C, w and v untouched, where fnn_sgemm_rows would. */
int fnn_sgemm_momentum(int trans_a, int m, int n, int k, const float *a, int lda, const ptrdiff_t *a_rows,
                       const float *b, int ldb, const float *b_packed, float *c, int ldc, float *w, float *v,
                       float lr, float mu, int store_c, int skip_zeros);

/* The first n_cols values of rows index[0], ..., index[n_rows - 1] of the row-major
 * matrix x (ld floats from a row to the next) are brought towards the cache, one line every few steps of the micro-kernel, by this
 * thread's following fnn_sgemm calls until all are fetched or the next call of this
 * function (n_rows = 0 stops it).  The training loop fetches the next batch's samples
 * this way while the products run, where a burst of prefetches would be dropped. */
void fnn_sgemm_prefetch_rows(const float *x, const ptrdiff_t *index, ptrdiff_t n_rows, ptrdiff_t ld,
                             ptrdiff_t n_cols);

/* The momentum step of SGD on n values, v := mu·v − lr·g;  w := w + v, done by this
 * thread's following fnn_sgemm calls on the side of their products (16 values every few
 * steps of the micro-kernel, while it waits on nothing but its multiply-adds), the rest by
 * fnn_sgemm_side_update_finish or the next call of this function, which finish it first.
 * w, g and v must not change otherwise until then, nor be read or written by those
 * products.  Where fnn_sgemm cannot run, the step is done at once.  The rounding is that
 * of fnn_sgd_momentum_f32: v := fma(mu, v, −(lr·g)), w := w + v. */
void fnn_sgemm_side_update(float *w, const float *g, float *v, ptrdiff_t n, float lr, float mu);
void fnn_sgemm_side_update_finish(void);

/* 1 if fnn_sgemm can run on this CPU (checked once), else 0. */
int fnn_sgemm_available(void);

/* 1 if fnn_sgemm can run on this CPU and this thread has its workspace (allocated here on
 * first use), so that its products cannot fail for want of memory; else 0.  A caller that
 * has no fallback for a product (fnn_sgemm_rows, when the rows were not gathered) checks it
 * first. */
int fnn_sgemm_ready(void);

#endif
