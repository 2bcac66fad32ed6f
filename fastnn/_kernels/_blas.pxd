from cython cimport floating

cdef enum Trans:
    NoTrans = 0
    Transpose = 1

# Row-major C := alpha op(A) op(B) + beta C, with op(A) of shape (m, k), op(B) (k, n), C (m, n).
cdef void gemm(Trans trans_a, Trans trans_b, int m, int n, int k, floating alpha,
               const floating *a, int lda, const floating *b, int ldb,
               floating beta, floating *c, int ldc) noexcept nogil
