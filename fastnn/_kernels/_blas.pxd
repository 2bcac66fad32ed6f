from cython cimport floating

cdef enum Trans:
    NoTrans = 0
    Transpose = 1

# Row-major C := alpha op(A) op(B) + beta C, with op(A) of shape (m, k), op(B) (k, n), C (m, n).
cdef void gemm(Trans trans_a, Trans trans_b, int m, int n, int k, floating alpha,
               const floating *a, int lda, const floating *b, int ldb,
               floating beta, floating *c, int ldc) noexcept nogil

# While this thread's next float32 products run, bring the first n_cols values of rows
# index[0..n_rows) of x (ld floats apart) towards the cache; False when those products go through BLAS (nothing
# is fetched then). n_rows = 0 stops it.
cdef bint prefetch_rows_in_products(const float *x, const Py_ssize_t *index, Py_ssize_t n_rows,
                                    Py_ssize_t ld, Py_ssize_t n_cols) noexcept nogil

# True when float32 products run on fastnn's own kernel, where a NaN or infinite value in a
# row of op(A) always makes that row of C NaN or infinite (BLAS may skip zero terms).
cdef bint products_propagate_nonfinite() noexcept nogil

# True when this thread's float32 products run on fastnn's own kernel and cannot fail there
# (the thread's workspace is allocated): then gemm_rows never returns False for m, n, k > 0.
cdef bint own_sgemm_ready() noexcept nogil

# C := g(op(A[a_rows])·B + bias), the rows of A picked by index and read in place (op(A[a_rows])
# = A[a_rows]ᵀ when trans_a; g = max(0, ·) if relu); False, doing nothing, when float32 products
# go through BLAS (or k = 0).
cdef bint gemm_rows(Trans trans_a, int m, int n, int k, const float *a, int lda, const Py_ssize_t *a_rows,
                    const float *b, int ldb, float *c, int ldc, const float *bias, bint relu,
                    bint skip_zeros=*, const float *b_packed=*) noexcept nogil

# C := op(A[a_rows])·B, a block of dW (a_rows may be NULL; B read from b_packed, packed by
# pack_weights, if not NULL), with the momentum step v := mu·v − lr·C;  w := w + v on the
# same rows of w and v (ldc apart) applied as each tile of C is stored; C holds dW only if
# store_c (else scratch). False, doing nothing, as gemm_rows.
cdef bint gemm_momentum(Trans trans_a, int m, int n, int k, const float *a, int lda, const Py_ssize_t *a_rows,
                        const float *b, int ldb, const float *b_packed, float *c, int ldc, float *w, float *v,
                        float lr, float mu, bint store_c, bint skip_zeros) noexcept nogil

# v := mu·v − lr·g;  w := w + v (n values), applied on the side of this thread's next float32
# products, which must not touch w, g or v; the rest by finish_update_in_products (or the next
# call, which finishes it first). False, doing nothing, when those products go through BLAS.
cdef bint update_in_products(float *w, const float *g, float *v, Py_ssize_t n, float lr,
                             float mu) noexcept nogil
cdef void finish_update_in_products() noexcept nogil

# C := g(A·B + bias) (row-major, no transposes; g = max(0, ·) if relu, else the identity; bias
# NULL or n values) with the bias and g applied as fastnn's kernel stores each tile of C.
# False, doing nothing, when float32 products go through BLAS (or k = 0).
# With b_packed not NULL, B is read from there, packed by pack_weights.
cdef bint gemm_bias_relu(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, const float *bias, bint relu, bint skip_zeros=*,
                         const float *b_packed=*) noexcept nogil

# B (k × n, ldb apart) packed once into packed (packed_weights_size(k, n) floats) in the strips
# fastnn's kernel reads, for many products by the same B (predict's chunks); False, doing
# nothing (and size 0), when float32 products go through BLAS.
cdef Py_ssize_t packed_weights_size(int k, int n) noexcept nogil
cdef bint pack_weights(int k, int n, const float *b, int ldb, float *packed) noexcept nogil
# C := op(A)·B, B packed by pack_weights; False, doing nothing, when float32 products go through BLAS.
cdef bint gemm_packed(Trans trans_a, int m, int n, int k, const float *a, int lda, const float *b_packed,
                      float *c, int ldc, bint skip_zeros=*) noexcept nogil

# C := (A·op(B)) ⊙ [gate > 0] (row-major, A not transposed; gate m × n, ld_gate apart), the
# gate applied as fastnn's kernel stores each tile of C: backpropagation's δ through a relu
# layer with gate = its A. False, doing nothing, when float32 products go through BLAS (or k = 0).
cdef bint gemm_relu_gradient(Trans trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                             float *c, int ldc, const float *gate, int ld_gate, bint skip_zeros=*) noexcept nogil
