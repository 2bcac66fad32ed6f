"""The one place where fastnn multiplies matrices.

Every matrix product of the compiled backend goes through :func:`gemm`:

* float32 on a CPU with AVX-512, or with AVX2 and FMA (unless ``FASTNN_CPU`` caps it
  lower): fastnn's own blocked kernel (``csrc/gemm.c``, ``csrc/gemm_avx2.c``), which
  fuses bias, activation, relu's derivative and the momentum step into the products and
  reads the batch in place; on AVX-512 it runs the course's layer shapes about 1.7×
  faster than SciPy's OpenBLAS did on the benchmark machine;
* everything else (float64, other CPUs, or ``FASTNN_GEMM=blas`` in the environment):
  ``scipy.linalg.cython_blas``, the BLAS SciPy ships (the route scikit-learn's Cython
  takes). BLAS is column-major and fastnn's buffers are row-major: a row-major matrix
  read as column-major is its transpose, so ``C = op(A)·op(B)`` is computed as
  ``Cᵀ = op(B)ᵀ·op(A)ᵀ`` by swapping the operands. That swap lives here and nowhere else.

fastnn's kernel is single-threaded; the training loop and ``predict`` split each batch
between their own workers instead.
"""
import os
import numpy as np

from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastnn._kernels import _validate


cdef extern from "gemm.h" nogil:
    int fnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc)
    int fnn_sgemm_available()
    int fnn_sgemm_ready()
    void fnn_sgemm_prefetch_rows(const float *x, const Py_ssize_t *index, Py_ssize_t n_rows,
                                 Py_ssize_t ld, Py_ssize_t n_cols)
    void fnn_sgemm_side_update(float *w, const float *g, float *v, Py_ssize_t n, float lr, float mu)
    int fnn_sgemm_bias_act(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb,
                           float beta, float *c, int ldc, const float *bias, int relu, int skip_zeros)
    void fnn_sgemm_side_update_finish()
    int fnn_sgemm_rows(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                       const Py_ssize_t *a_rows, const float *b, int ldb, float beta, float *c, int ldc,
                       const float *bias, int relu, int skip_zeros)
    int fnn_sgemm_relu_gradient(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb,
                                float beta, float *c, int ldc, const float *gate, int ld_gate, int skip_zeros)
    Py_ssize_t fnn_sgemm_packed_b_size(int k, int n)
    int fnn_sgemm_pack_b(int k, int n, const float *b, int ldb, float *packed)
    int fnn_sgemm_packed(int trans_a, int m, int n, int k, const float *a, int lda, const Py_ssize_t *a_rows,
                         const float *b_packed, float *c, int ldc, const float *bias, int relu, int skip_zeros)
    int fnn_sgemm_momentum(int trans_a, int m, int n, int k, const float *a, int lda,
                           const Py_ssize_t *a_rows, const float *b, int ldb, const float *b_packed, float *c,
                           int ldc, float *w, float *v, float lr, float mu, int store_c, int skip_zeros)


include "_cpu.pxi"

from fastnn._kernels._cpu cimport fnn_cpu_detected_isa, FNN_ISA_AVX512
from fastnn._kernels import _isa

if _isa.REQUESTED is not None and fnn_cpu_detected_isa() < _ISA_CAP:
    import warnings
    warnings.warn(f"FASTNN_CPU={_isa.REQUESTED} asks for an instruction set this CPU (or its operating "
                  f"system) does not have; fastnn uses {_isa.NAMES[fnn_cpu_detected_isa()]}", RuntimeWarning,
                  stacklevel=2)


def cpu_isa():
    """(detected, used): the best instruction set this CPU and OS support, and the one
    fastnn's own kernels use under FASTNN_CPU's cap, each "avx512", "avx2" or "generic"."""
    return _isa.NAMES[fnn_cpu_detected_isa()], _isa.NAMES[fnn_cpu_isa()]


_GEMM_CHOICES = ("auto", "blas")
_choice = os.environ.get("FASTNN_GEMM", "auto").strip().lower() or "auto"
if _choice not in _GEMM_CHOICES:
    raise ValueError(f"FASTNN_GEMM must be one of {_GEMM_CHOICES}, got {_choice!r}")
cdef bint _own_sgemm = _choice == "auto" and fnn_sgemm_available() == 1


def sgemm_kernel():
    """Which code runs float32 products: "fastnn-avx512", "fastnn-avx2" or "blas" (float64
    always uses BLAS)."""
    if not _own_sgemm:
        return "blas"
    return "fastnn-avx512" if fnn_cpu_isa() >= FNN_ISA_AVX512 else "fastnn-avx2"


def use_own_sgemm(bint flag):
    """Choose fastnn's own kernel (True, where the CPU has AVX-512 or AVX2) or BLAS (False) for
    float32 products; returns the previous choice. For benchmarks and tests: do not call
    it while another thread is computing."""
    global _own_sgemm
    previous = _own_sgemm
    _own_sgemm = flag and fnn_sgemm_available() == 1
    return previous


cdef void gemm(Trans trans_a, Trans trans_b, int m, int n, int k, floating alpha,
               const floating *a, int lda, const floating *b, int ldb,
               floating beta, floating *c, int ldc) noexcept nogil:
    """C := alpha·op(A)·op(B) + beta·C   (row-major; C is m × n)"""
    cdef char ta = b'T' if trans_a == Transpose else b'N'
    cdef char tb = b'T' if trans_b == Transpose else b'N'
    cdef int i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:                                  # empty sum: C := beta·C
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0 if beta == 0 else beta * c[i * ldc + j]
        return
    if floating is float:
        if _own_sgemm and fnn_sgemm(trans_a == Transpose, trans_b == Transpose, m, n, k, alpha,
                                    a, lda, b, ldb, beta, c, ldc) == 0:
            return
    # column-major view: Cᵀ (n × m) = op(B)ᵀ (n × k) · op(A)ᵀ (k × m)
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda, &beta, c, &ldc)


cdef bint prefetch_rows_in_products(const float *x, const Py_ssize_t *index, Py_ssize_t n_rows,
                                    Py_ssize_t ld, Py_ssize_t n_cols) noexcept nogil:
    """Rows of x that this thread's next float32 products fetch on the way (see gemm.h)."""
    if not _own_sgemm:
        return False
    fnn_sgemm_prefetch_rows(x, index, n_rows, ld, n_cols)
    return True


cdef bint gemm_bias_relu(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, const float *bias, bint relu, bint skip_zeros=False,
                         const float *b_packed=NULL) noexcept nogil:
    """C := g(A·B + bias) in one pass, g = max(0, ·) if relu else the identity (bias may be
    NULL): fastnn's kernel applies the bias and g to each tile of C as it stores it for the
    last time; with skip_zeros, the columns of A that are zero in all rows of a panel are
    left out of it; with b_packed (B packed by pack_weights), B is read from there.  False,
    doing nothing, when float32 products go through BLAS (or k = 0)."""
    if not _own_sgemm or m <= 0 or n <= 0 or k <= 0:
        return False
    if b_packed != NULL:
        return fnn_sgemm_packed(0, m, n, k, a, lda, NULL, b_packed, c, ldc, bias, relu, skip_zeros) == 0
    return fnn_sgemm_bias_act(0, 0, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, bias, relu, skip_zeros) == 0


cdef Py_ssize_t packed_weights_size(int k, int n) noexcept nogil:
    """The floats pack_weights needs for a k × n B; 0 when float32 products go through BLAS."""
    return fnn_sgemm_packed_b_size(k, n) if _own_sgemm else 0


cdef bint gemm_packed(Trans trans_a, int m, int n, int k, const float *a, int lda, const float *b_packed,
                      float *c, int ldc, bint skip_zeros=False) noexcept nogil:
    """C := op(A)·B with B packed by pack_weights (skip_zeros: as gemm_bias_relu's). False,
    doing nothing, when float32 products go through BLAS (or k = 0)."""
    if not _own_sgemm or m <= 0 or n <= 0 or k <= 0:
        return False
    return fnn_sgemm_packed(trans_a == Transpose, m, n, k, a, lda, NULL, b_packed, c, ldc, NULL, 0, skip_zeros) == 0


cdef bint pack_weights(int k, int n, const float *b, int ldb, float *packed) noexcept nogil:
    """packed := B (k × n) in the strips fastnn's kernel reads (see fnn_sgemm_pack_b in
    gemm.h), for many products by the same B through gemm_bias_relu(b_packed=packed).
    False, doing nothing, when float32 products go through BLAS."""
    return _own_sgemm and fnn_sgemm_pack_b(k, n, b, ldb, packed) == 0


cdef bint gemm_rows(Trans trans_a, int m, int n, int k, const float *a, int lda, const Py_ssize_t *a_rows,
                    const float *b, int ldb, float *c, int ldc, const float *bias, bint relu,
                    bint skip_zeros=False, const float *b_packed=NULL) noexcept nogil:
    """C := g(op(A[a_rows])·B + bias), the rows of A picked by index and read where they lie
    (see fnn_sgemm_rows in gemm.h); with b_packed, B read from there (pack_weights). False,
    doing nothing, when float32 products go through BLAS (or k = 0): the caller then
    gathers the rows itself."""
    if not _own_sgemm or m <= 0 or n <= 0 or k <= 0:
        return False
    if b_packed != NULL:
        return fnn_sgemm_packed(trans_a == Transpose, m, n, k, a, lda, a_rows, b_packed, c, ldc, bias, relu,
                                skip_zeros) == 0
    return fnn_sgemm_rows(trans_a == Transpose, m, n, k, 1, a, lda, a_rows, b, ldb, 0, c, ldc, bias, relu,
                          skip_zeros) == 0


cdef bint gemm_momentum(Trans trans_a, int m, int n, int k, const float *a, int lda, const Py_ssize_t *a_rows,
                        const float *b, int ldb, const float *b_packed, float *c, int ldc, float *w, float *v,
                        float lr, float mu, bint store_c, bint skip_zeros) noexcept nogil:
    """C := op(A[a_rows])·B, a block of dW (a_rows may be NULL; B read from b_packed, packed by
    pack_weights, if not NULL), and as each tile is stored the momentum step v := μ·v − γ·C;
    w := w + v on the same rows and columns of w and v (ldc apart); C holds dW only if
    store_c, else it is scratch (see fnn_sgemm_momentum in gemm.h). False, doing nothing,
    when float32 products go through BLAS (or k = 0)."""
    if not _own_sgemm or m <= 0 or n <= 0 or k <= 0:
        return False
    return fnn_sgemm_momentum(trans_a == Transpose, m, n, k, a, lda, a_rows, b, ldb, b_packed, c, ldc, w, v,
                              lr, mu, store_c, skip_zeros) == 0


cdef bint update_in_products(float *w, const float *g, float *v, Py_ssize_t n, float lr,
                             float mu) noexcept nogil:
    """v := μ·v − γ·g;  w := w + v, on the side of this thread's next float32 products (see
    gemm.h); False, doing nothing, when those products go through BLAS."""
    if not _own_sgemm:
        return False
    fnn_sgemm_side_update(w, g, v, n, lr, mu)
    return True


cdef void finish_update_in_products() noexcept nogil:
    """The rest of the step given to update_in_products, now."""
    fnn_sgemm_side_update_finish()


cdef bint own_sgemm_ready() noexcept nogil:
    """True when this thread's float32 products run on fastnn's own kernel and cannot fail
    there (its workspace is in place): gemm_rows then always does its product."""
    return _own_sgemm and fnn_sgemm_ready() == 1


cdef bint products_propagate_nonfinite() noexcept nogil:
    """True when float32 products run on fastnn's own kernel, which sums every term of
    every product: a NaN or infinite value in row i of A then makes all of row i of C NaN or
    infinite (NaN·w and ±inf·0 are NaN, ±inf·w is ±inf). BLAS makes no such promise."""
    return _own_sgemm


cdef inline const floating *cfirst(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] else NULL


cdef void _gemm_arrays(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                       bint trans_a, bint trans_b, double alpha, double beta) noexcept:
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef floating *c = &C[0, 0] if m * n else NULL
    with nogil:
        gemm(Transpose if trans_a else NoTrans, Transpose if trans_b else NoTrans, m, n, k,
             <floating> alpha, cfirst(A), max(1, A.shape[1]), cfirst(B), max(1, B.shape[1]),
             <floating> beta, c, max(1, n))


def matmul(A, B, C, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """C := alpha·op(A)·op(B) + beta·C through BLAS, in place.

    A, B, C: C-contiguous float32 or float64 matrices of one dtype; op(X) is Xᵀ
    when trans_x is true. C must not overlap A or B.
    """
    dtype = _validate.common_float_dtype(A=A, B=B, C=C)
    m, k = (A.shape[1], A.shape[0]) if trans_a else A.shape
    k_b, n = (B.shape[1], B.shape[0]) if trans_b else B.shape
    if k_b != k:
        raise ValueError(f"op(A) has {k} columns but op(B) has {k_b} rows")
    _validate.shape("C", C, (m, n))
    _validate.writable_and_separate("C", C, A=A, B=B)
    if dtype == _validate.float32:
        _gemm_arrays[float](A, B, C, trans_a, trans_b, alpha, beta)
    else:
        _gemm_arrays[double](A, B, C, trans_a, trans_b, alpha, beta)
    return C


cdef bint gemm_relu_gradient(Trans trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                             float *c, int ldc, const float *gate, int ld_gate, bint skip_zeros=False) noexcept nogil:
    """C := (A·op(B)) ⊙ [gate > 0] in one pass: fastnn's kernel zeroes C where gate is not
    above 0 as it stores each tile (skip_zeros: as gemm_bias_relu's). False, doing nothing,
    when float32 products go through BLAS (or k = 0)."""
    if not _own_sgemm or m <= 0 or n <= 0 or k <= 0:
        return False
    return fnn_sgemm_relu_gradient(0, trans_b == Transpose, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, gate,
                                   ld_gate, skip_zeros) == 0


def matmul_momentum(A, rows, B, C, W, V, float lr, float mu, *, skip_zeros=False, store_c=True):
    """C := A[rows]ᵀ·B (a block of dW; rows: intp indices of rows of A, or None for all), and
    with each tile of C as fastnn's float32 kernel stores it, V := mu·V − lr·C;  W := W + V
    (gemm_momentum); C holds dW afterwards if store_c (else scratch). For tests: returns
    False, leaving all untouched, where that kernel does not run. A, B, C, W, V: C-contiguous
    float32."""
    for name, X in (("A", A), ("B", B), ("C", C), ("W", W), ("V", V)):
        _validate.array(name, X, 2, _validate.float32)
    picked_rows = np.arange(A.shape[0], dtype=np.intp) if rows is None else rows
    if not isinstance(picked_rows, np.ndarray) or picked_rows.dtype != np.intp or picked_rows.ndim != 1:
        raise TypeError("rows must be None or a 1-D intp array")
    if picked_rows.size and (picked_rows.min() < 0 or picked_rows.max() >= A.shape[0]):
        raise ValueError(f"rows holds indices outside [0, {A.shape[0]})")
    m, k, n = A.shape[1], picked_rows.shape[0], B.shape[1]
    _validate.shape("B", B, (k, n))
    for name, X in (("C", C), ("W", W), ("V", V)):
        _validate.shape(name, X, (m, n))
    _validate.writable_and_separate("C", C, A=A, B=B, W=W, V=V)
    _validate.writable_and_separate("W", W, A=A, B=B, V=V)
    _validate.writable_and_separate("V", V, A=A, B=B)
    if m == 0 or n == 0 or k == 0:
        return False
    cdef const float[:, ::1] a = A
    cdef const float[:, ::1] b = B
    cdef float[:, ::1] c = C
    cdef float[:, ::1] w = W
    cdef float[:, ::1] v = V
    cdef const Py_ssize_t[::1] r = np.ascontiguousarray(picked_rows)
    cdef bint done, skip = skip_zeros, keep = store_c
    cdef int cm = m, cn = n, ck = k, lda = a.shape[1]
    cdef const Py_ssize_t *picked = NULL
    if rows is not None:
        picked = &r[0]
    with nogil:
        done = gemm_momentum(Transpose, cm, cn, ck, cfirst(a), lda, picked, cfirst(b), cn, NULL, &c[0, 0], cn,
                             &w[0, 0], &v[0, 0], lr, mu, keep, skip)
    return bool(done)


def matmul_rows(A, rows, B, C, *, trans_a=False, bias=None, relu=False, skip_zeros=False):
    """C := g(op(A[rows])·B + bias) on fastnn's float32 kernel, the rows of A picked by index
    and read where they lie (g = max(0, ·) if relu, else the identity). For tests: returns
    False, leaving C untouched, where that kernel does not run.

    A, B, C: C-contiguous float32 matrices; rows: intp indices of rows of A; op(X) = Xᵀ
    when trans_a; bias: None or B.shape[1] float32 values; skip_zeros: the kernel leaves out
    the columns of op(A) that are zero in all rows of a panel (a mostly-zero A, MNIST's pixels).
    """
    _validate.common_float_dtype(A=A, B=B, C=C)
    if A.dtype != _validate.float32:
        raise TypeError(f"matmul_rows takes float32 matrices, got {A.dtype}")
    if not isinstance(rows, np.ndarray) or rows.dtype != np.intp or rows.ndim != 1 or not rows.flags.c_contiguous:
        raise TypeError("rows must be a 1-D C-contiguous intp array")
    if rows.size and (rows.min() < 0 or rows.max() >= A.shape[0]):
        raise ValueError(f"rows holds indices outside [0, {A.shape[0]})")
    m, k = (A.shape[1], rows.shape[0]) if trans_a else (rows.shape[0], A.shape[1])
    if B.shape[0] != k:
        raise ValueError(f"op(A[rows]) has {k} columns but B has {B.shape[0]} rows")
    n = B.shape[1]
    _validate.shape("C", C, (m, n))
    _validate.writable_and_separate("C", C, A=A, B=B)
    if bias is not None:
        _validate.array("bias", bias, 1, _validate.float32)
        _validate.shape("bias", bias, (n,))
    cdef const float[:, ::1] a = A
    cdef const float[:, ::1] b = B
    cdef float[:, ::1] c = C
    cdef const Py_ssize_t[::1] r = rows
    cdef const float[::1] bv = bias if bias is not None else np.zeros(1, np.float32)
    cdef Trans ta = Transpose if trans_a else NoTrans
    cdef int cm = m, cn = n, ck = k, lda = max(1, a.shape[1]), ld = max(1, n)
    cdef const Py_ssize_t *picked = &r[0] if r.shape[0] else NULL
    cdef float *cc = &c[0, 0] if m * n else NULL
    cdef const float *bp = &bv[0] if bias is not None else NULL
    cdef bint g = relu, done, skip = skip_zeros
    with nogil:
        done = gemm_rows(ta, cm, cn, ck, cfirst(a), lda, picked, cfirst(b), ld, cc, ld, bp, g, skip)
    return bool(done)
