"""Dense layer kernels: Z := X·W + b forward; dW := Xᵀ·δ, db := Σ_b δ, dX := δ·Wᵀ backward.

X is (batch, n_in), W is (n_in, n_out), so every product is one gemm (_blas.pyx).
"""
from cython cimport floating

from fastnn._kernels._blas cimport gemm, NoTrans, Transpose
from fastnn._kernels._ckernels cimport fnn_column_sums_f32, fnn_column_sums_f64
from fastnn._kernels import _validate

include "_cpu.pxi"


cdef inline int ld(int cols) noexcept nogil:
    return cols if cols > 0 else 1


cdef void dense_forward_raw(const floating *x_bi, const floating *w_io, const floating *b_o,
                            floating *z_bo, int n_b, int n_i, int n_o) noexcept nogil:
    """Z := X·W + b  (b may be NULL)"""
    cdef Py_ssize_t b, o
    if b_o != NULL:                     # Z := b broadcast, then Z += X·W
        for b in range(n_b):
            for o in range(n_o):
                z_bo[b * n_o + o] = b_o[o]
    gemm(NoTrans, NoTrans, n_b, n_o, n_i, <floating> 1, x_bi, ld(n_i), w_io, ld(n_o),
         <floating> (1 if b_o != NULL else 0), z_bo, ld(n_o))


cdef void dense_backward_raw(const floating *x_bi, const floating *w_io, const floating *delta_bo,
                             floating *dw_io, floating *db_o, floating *dx_bi,
                             int n_b, int n_i, int n_o) noexcept nogil:
    """dW := Xᵀ·δ;  db := Σ_b δ (if db is not NULL);  dX := δ·Wᵀ (if dX is not NULL)"""
    gemm(Transpose, NoTrans, n_i, n_o, n_b, <floating> 1, x_bi, ld(n_i), delta_bo, ld(n_o),
         <floating> 0, dw_io, ld(n_o))
    if db_o != NULL:
        if floating is float:
            fnn_column_sums_f32(delta_bo, db_o, n_b, n_o)
        else:
            fnn_column_sums_f64(delta_bo, db_o, n_b, n_o)
    if dx_bi != NULL:
        gemm(NoTrans, Transpose, n_b, n_i, n_o, <floating> 1, delta_bo, ld(n_o), w_io, ld(n_o),
             <floating> 0, dx_bi, ld(n_i))


cdef inline floating *ptr(floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const floating *cptr(const floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


# The inputs are const memoryviews, so that read-only arrays are accepted as inputs.
cdef void _forward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b, floating[:, ::1] Z):
    cdef const floating *b_o = cptr(b) if b is not None else NULL
    with nogil:
        dense_forward_raw(&X[0, 0] if X.shape[0] * X.shape[1] else NULL,
                          &W[0, 0] if W.shape[0] * W.shape[1] else NULL, b_o,
                          &Z[0, 0] if Z.shape[0] * Z.shape[1] else NULL,
                          Z.shape[0], X.shape[1], Z.shape[1])


cdef void _backward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[:, ::1] delta,
                    floating[:, ::1] dW, floating[::1] db, floating[:, ::1] dX):
    cdef floating *db_o = ptr(db) if db is not None else NULL
    cdef floating *dx_bi = NULL
    if dX is not None and dX.shape[0] * dX.shape[1]:
        dx_bi = &dX[0, 0]
    with nogil:
        dense_backward_raw(&X[0, 0] if X.shape[0] * X.shape[1] else NULL,
                           &W[0, 0] if W.shape[0] * W.shape[1] else NULL,
                           &delta[0, 0] if delta.shape[0] * delta.shape[1] else NULL,
                           &dW[0, 0] if dW.shape[0] * dW.shape[1] else NULL, db_o, dx_bi,
                           X.shape[0], X.shape[1], W.shape[1])


def _check_dense(X, W, b):
    dtype = _validate.common_float_dtype(X=X, W=W)
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"W has shape {W.shape} but X has {X.shape[1]} columns; "
                         f"W must be (n_in, n_out) = ({X.shape[1]}, n_out)")
    if b is not None:
        _validate.array("b", b, 1, dtype)
        _validate.shape("b", b, (W.shape[1],))
    return dtype


def dense_forward(X, W, b, Z):
    """Z := X·W + b, in place.

    X: (n_samples, n_in), W: (n_in, n_out), b: (n_out,) or None, Z: (n_samples, n_out).
    All C-contiguous, one float dtype. Returns Z.
    """
    dtype = _check_dense(X, W, b)
    _validate.array("Z", Z, 2, dtype)
    _validate.shape("Z", Z, (X.shape[0], W.shape[1]))
    _validate.writable_and_separate("Z", Z, X=X, W=W, b=b)
    if dtype == _validate.float32:
        _forward[float](X, W, b, Z)
    else:
        _forward[double](X, W, b, Z)
    return Z


def dense_backward(X, W, delta, dW, db=None, dX=None):
    """dW := Xᵀ·δ,  db := Σ_samples δ,  dX := δ·Wᵀ, in place.

    X: (n_samples, n_in) the layer's input, W: (n_in, n_out), delta: (n_samples, n_out)
    the sensitivity ∂E/∂Z. Outputs dW: (n_in, n_out); db: (n_out,) or None;
    dX: (n_samples, n_in) or None (the first layer needs no dX). Returns (dW, db, dX).
    """
    dtype = _check_dense(X, W, None)
    _validate.array("delta", delta, 2, dtype)
    _validate.shape("delta", delta, (X.shape[0], W.shape[1]))
    _validate.array("dW", dW, 2, dtype)
    _validate.shape("dW", dW, W.shape)
    inputs = dict(X=X, W=W, delta=delta)
    _validate.writable_and_separate("dW", dW, **inputs)
    if db is not None:
        _validate.array("db", db, 1, dtype)
        _validate.shape("db", db, (W.shape[1],))
        _validate.writable_and_separate("db", db, dW=dW, **inputs)
    if dX is not None:
        _validate.array("dX", dX, 2, dtype)
        _validate.shape("dX", dX, X.shape)
        _validate.writable_and_separate("dX", dX, dW=dW, db=db, **inputs)
    if dtype == _validate.float32:
        _backward[float](X, W, delta, dW, db, dX)
    else:
        _backward[double](X, W, delta, dW, db, dX)
    return dW, db, dX
