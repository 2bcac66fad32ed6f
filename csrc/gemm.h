/* fastnn's own single-precision matrix product for CPUs with AVX-512.
 *
 * fnn_sgemm computes, for row-major matrices,
 *
 *     C := alpha · op(A) · op(B) + beta · C      op(A): m × k, op(B): k × n, C: m × n
 *
 * with op(X) = Xᵀ when trans_x is non-zero (beta = 0: C is not read).  It returns 0 when
 * it has done so, and -1, leaving C untouched, when it cannot run here (no AVX-512F in
 * the CPU or the OS, a compiler without x86 intrinsics, or no memory for its packing
 * buffers); the caller then uses BLAS (fastnn/_kernels/_blas.pyx).
 */
#ifndef FASTNN_GEMM_H
#define FASTNN_GEMM_H

int fnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc);

/* 1 if fnn_sgemm can run on this CPU (checked once), else 0. */
int fnn_sgemm_available(void);

#endif
