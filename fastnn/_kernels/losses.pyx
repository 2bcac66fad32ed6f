"""Loss kernels: the loss of a batch and its gradient in one pass.

Each returns the batch loss  L = (1/n) Σ_b w_b E_b  (w_b = 1 without sample
weights: Keras' "sum over batch size" reduction) and writes ∂L/∂Z (fused with
the output activation) or ∂L/∂A. Formulas per sample are in csrc/fastnn_kernels.h.
"""
import numpy as np
from cython cimport floating

from fastnn._kernels._ckernels cimport (
    fnn_int, FNN_OK,
    fnn_softmax_cross_entropy_f32, fnn_softmax_cross_entropy_f64,
    fnn_focal_cross_entropy_f32, fnn_focal_cross_entropy_f64,
    fnn_sigmoid_binary_cross_entropy_f32, fnn_sigmoid_binary_cross_entropy_f64,
    fnn_binary_cross_entropy_f32, fnn_binary_cross_entropy_f64,
    fnn_mean_squared_error_f32, fnn_mean_squared_error_f64,
    fnn_mean_absolute_error_f32, fnn_mean_absolute_error_f64, fnn_huber_f32, fnn_huber_f64,
    fnn_softmax_cross_entropy_smoothed_f32, fnn_softmax_cross_entropy_smoothed_f64,
    fnn_sigmoid_binary_cross_entropy_smoothed_f32, fnn_sigmoid_binary_cross_entropy_smoothed_f64,
    fnn_binary_cross_entropy_smoothed_f32, fnn_binary_cross_entropy_smoothed_f64)
from fastnn._kernels import _validate

include "_cpu.pxi"


cdef inline floating *first2(floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a is not None and a.shape[0] * a.shape[1] else NULL


cdef inline const floating *cfirst2(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a is not None and a.shape[0] * a.shape[1] else NULL


cdef inline const floating *cfirst1(const floating[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] else NULL


cdef inline const fnn_int *ids(const fnn_int[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] else NULL


cdef double _softmax_xent(const floating[:, ::1] Z, const fnn_int[::1] label, const floating[:, ::1] Y,
                          const floating[::1] w, const floating[::1] alpha, double gamma, bint focal,
                          double ls, floating[:, ::1] P, floating[:, ::1] delta) except? -1:
    cdef double total = 0
    cdef int status
    cdef fnn_int n_b = Z.shape[0], n_k = Z.shape[1]
    with nogil:
        if focal:
            if floating is float:
                status = fnn_focal_cross_entropy_f32(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w), cfirst1(alpha),
                                                     gamma, ls, n_b, n_k, 1.0 / n_b, first2(P), first2(delta),
                                                     &total)
            else:
                status = fnn_focal_cross_entropy_f64(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w), cfirst1(alpha),
                                                     gamma, ls, n_b, n_k, 1.0 / n_b, first2(P), first2(delta),
                                                     &total)
        elif ls != 0:
            if floating is float:
                status = fnn_softmax_cross_entropy_smoothed_f32(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w), ls,
                                                                n_b, n_k, 1.0 / n_b, first2(P), first2(delta), &total)
            else:
                status = fnn_softmax_cross_entropy_smoothed_f64(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w), ls,
                                                                n_b, n_k, 1.0 / n_b, first2(P), first2(delta), &total)
        else:
            if floating is float:
                status = fnn_softmax_cross_entropy_f32(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w),
                                                       n_b, n_k, 1.0 / n_b, first2(P), first2(delta), &total)
            else:
                status = fnn_softmax_cross_entropy_f64(cfirst2(Z), ids(label), cfirst2(Y), cfirst1(w),
                                                       n_b, n_k, 1.0 / n_b, first2(P), first2(delta), &total)
    if status != FNN_OK:
        raise ValueError("a class id is outside [0, n_classes)")
    return total / n_b


# the element-wise losses of _elementwise
cdef enum:
    SIGMOID_BCE = 0
    BCE = 1
    MSE = 2
    MAE = 3
    HUBER = 4


cdef double _elementwise(int kind, const floating[:, ::1] Z, const floating[:, ::1] Y, const floating[::1] w,
                         floating[:, ::1] out, floating[:, ::1] grad, double param=0.0):
    """One element-wise loss; param is the label smoothing (the binary cross-entropies) or Huber's delta."""
    cdef double total = 0
    cdef fnn_int n_b = Z.shape[0], n_k = Z.shape[1]
    with nogil:
        if kind == SIGMOID_BCE and param != 0:
            if floating is float:
                fnn_sigmoid_binary_cross_entropy_smoothed_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k,
                                                              1.0 / n_b, first2(out), first2(grad), &total)
            else:
                fnn_sigmoid_binary_cross_entropy_smoothed_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k,
                                                              1.0 / n_b, first2(out), first2(grad), &total)
        elif kind == SIGMOID_BCE:
            if floating is float:
                fnn_sigmoid_binary_cross_entropy_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b,
                                                     first2(out), first2(grad), &total)
            else:
                fnn_sigmoid_binary_cross_entropy_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b,
                                                     first2(out), first2(grad), &total)
        elif kind == BCE and param != 0:
            if floating is float:
                fnn_binary_cross_entropy_smoothed_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k, 1.0 / n_b,
                                                      first2(grad), &total)
            else:
                fnn_binary_cross_entropy_smoothed_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k, 1.0 / n_b,
                                                      first2(grad), &total)
        elif kind == BCE:
            if floating is float:
                fnn_binary_cross_entropy_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
            else:
                fnn_binary_cross_entropy_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
        elif kind == MAE:
            if floating is float:
                fnn_mean_absolute_error_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
            else:
                fnn_mean_absolute_error_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
        elif kind == HUBER:
            if floating is float:
                fnn_huber_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k, 1.0 / n_b, first2(grad), &total)
            else:
                fnn_huber_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), param, n_b, n_k, 1.0 / n_b, first2(grad), &total)
        else:
            if floating is float:
                fnn_mean_squared_error_f32(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
            else:
                fnn_mean_squared_error_f64(cfirst2(Z), cfirst2(Y), cfirst1(w), n_b, n_k, 1.0 / n_b, first2(grad), &total)
    return total / n_b


def _check_batch(name, Z):
    dtype = _validate.array(name, Z, 2)
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        raise ValueError(f"{name} has shape {Z.shape}; a loss needs at least one sample and one output")
    return dtype


def _check_output(name, out, like, **inputs):
    """An optional output: the dtype and shape of ``like``, writeable, overlapping none of ``inputs``."""
    if out is None:
        return
    _validate.array(name, out, 2, like.dtype)
    _validate.shape(name, out, like.shape)
    _validate.writable_and_separate(name, out, **inputs)


def _per_class_alpha(alpha, n_classes, dtype):
    """α as a per-class vector: None → 1, a scalar → the same α for every class."""
    if alpha is None:
        return None
    values = np.asarray(alpha, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(n_classes, float(values))
    if values.shape != (n_classes,):
        raise ValueError(f"alpha must be a scalar or one value per class ({n_classes}), "
                         f"got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("alpha must hold finite values >= 0")
    return np.ascontiguousarray(values, dtype=dtype)


def softmax_cross_entropy(Z, y, P, delta=None, sample_weight=None, label_smoothing=0.0):
    """Fused softmax + categorical cross-entropy.

    P := softmax(Z);  L = (1/n) Σ_b w_b (−log P_b,c);  delta := ∂L/∂Z = w_b (P − Y) / n.
    Z, P, delta: (n_samples, n_classes); y: class ids (n_samples,) or rows
    (n_samples, n_classes). With label_smoothing = ls in [0, 1), Y becomes
    Y (1 − ls) + ls / n_classes (Keras' label smoothing). Returns L.
    """
    dtype = _check_batch("Z", Z)
    ls = _validate.label_smoothing(label_smoothing)
    label, Y = _validate.labels("y", y, Z.shape[0], Z.shape[1], dtype)
    w = _validate.sample_weight(sample_weight, Z.shape[0], dtype)
    # y is read while P and delta are written, whether as rows or as class ids
    targets = Y if Y is not None else label
    _check_output("P", P, Z, Z=Z, y=targets, sample_weight=w)
    if P is None:
        raise TypeError("P is required: the softmax probabilities are written there")
    _check_output("delta", delta, Z, Z=Z, y=targets, sample_weight=w, P=P)
    if dtype == _validate.float32:
        return _softmax_xent[float](Z, label, Y, w, None, 0.0, False, ls, P, delta)
    return _softmax_xent[double](Z, label, Y, w, None, 0.0, False, ls, P, delta)


def focal_cross_entropy(Z, y, P, delta=None, sample_weight=None, gamma=2.0, alpha=None, label_smoothing=0.0):
    """Fused softmax + (α-balanced) focal cross-entropy.

    E_b = −Σ_c y_b,c α_c (1 − P_b,c)^γ log P_b,c;  L = (1/n) Σ_b w_b E_b;  delta := ∂L/∂Z (exact).
    alpha: None (1), a scalar or one value per class. γ = 0, α = 1 is cross-entropy.
    With label_smoothing = ls in [0, 1), Y becomes Y (1 − ls) + ls / n_classes.
    """
    dtype = _check_batch("Z", Z)
    gamma = _validate.scalar("gamma", gamma, low=0.0)
    ls = _validate.label_smoothing(label_smoothing)
    label, Y = _validate.labels("y", y, Z.shape[0], Z.shape[1], dtype)
    w = _validate.sample_weight(sample_weight, Z.shape[0], dtype)
    a = _per_class_alpha(alpha, Z.shape[1], dtype)
    if P is None:
        raise TypeError("P is required: the softmax probabilities are written there")
    targets = Y if Y is not None else label
    _check_output("P", P, Z, Z=Z, y=targets, sample_weight=w, alpha=a)
    _check_output("delta", delta, Z, Z=Z, y=targets, sample_weight=w, alpha=a, P=P)
    if dtype == _validate.float32:
        return _softmax_xent[float](Z, label, Y, w, a, gamma, True, ls, P, delta)
    return _softmax_xent[double](Z, label, Y, w, a, gamma, True, ls, P, delta)


def sigmoid_binary_cross_entropy(Z, y, A, delta=None, sample_weight=None, label_smoothing=0.0):
    """Fused sigmoid + binary cross-entropy, stable for any logit.

    A := σ(Z);  E_b = mean_k [max(Z,0) − Z·y + log(1 + e^−|Z|)];  delta := w_b (A − y) / (n·n_k).
    With label_smoothing = ls in [0, 1), y becomes y (1 − ls) + ls / 2 (Keras' label smoothing).
    """
    dtype = _check_batch("Z", Z)
    ls = _validate.label_smoothing(label_smoothing)
    _validate.targets("y", y, Z.shape, dtype)
    w = _validate.sample_weight(sample_weight, Z.shape[0], dtype)
    if A is None:
        raise TypeError("A is required: the sigmoid outputs are written there")
    _check_output("A", A, Z, Z=Z, y=y, sample_weight=w)
    _check_output("delta", delta, Z, Z=Z, y=y, sample_weight=w, A=A)
    if dtype == _validate.float32:
        return _elementwise[float](SIGMOID_BCE, Z, y, w, A, delta, ls)
    return _elementwise[double](SIGMOID_BCE, Z, y, w, A, delta, ls)


def binary_cross_entropy(A, y, dA=None, sample_weight=None, label_smoothing=0.0):
    """Binary cross-entropy on probabilities A (e.g. from a hard sigmoid), clipped to [1e-7, 1 − 1e-7].

    E_b = −mean_k [y log A + (1 − y) log(1 − A)];  dA := ∂L/∂A (0 where A was clipped).
    With label_smoothing = ls in [0, 1), y becomes y (1 − ls) + ls / 2 (Keras' label smoothing).
    """
    dtype = _check_batch("A", A)
    ls = _validate.label_smoothing(label_smoothing)
    _validate.targets("y", y, A.shape, dtype)
    w = _validate.sample_weight(sample_weight, A.shape[0], dtype)
    _check_output("dA", dA, A, A=A, y=y, sample_weight=w)
    if dtype == _validate.float32:
        return _elementwise[float](BCE, A, y, w, None, dA, ls)
    return _elementwise[double](BCE, A, y, w, None, dA, ls)


def mean_squared_error(A, y, dA=None, sample_weight=None):
    """E_b = mean_k (A − y)²;  L = (1/n) Σ_b w_b E_b;  dA := 2 w_b (A − y) / (n·n_k)."""
    dtype = _check_batch("A", A)
    _validate.targets("y", y, A.shape, dtype)
    w = _validate.sample_weight(sample_weight, A.shape[0], dtype)
    _check_output("dA", dA, A, A=A, y=y, sample_weight=w)
    if dtype == _validate.float32:
        return _elementwise[float](MSE, A, y, w, None, dA)
    return _elementwise[double](MSE, A, y, w, None, dA)


def mean_absolute_error(A, y, dA=None, sample_weight=None):
    """E_b = mean_k |A − y|;  L = (1/n) Σ_b w_b E_b;  dA := w_b sign(A − y) / (n·n_k) (0 where A = y)."""
    dtype = _check_batch("A", A)
    _validate.targets("y", y, A.shape, dtype)
    w = _validate.sample_weight(sample_weight, A.shape[0], dtype)
    _check_output("dA", dA, A, A=A, y=y, sample_weight=w)
    if dtype == _validate.float32:
        return _elementwise[float](MAE, A, y, w, None, dA)
    return _elementwise[double](MAE, A, y, w, None, dA)


def huber(A, y, dA=None, sample_weight=None, delta=1.0):
    """Huber loss: E_b = mean_k h(A − y), h(r) = r²/2 where |r| ≤ delta, delta·|r| − delta²/2 beyond;
    dA := w_b clip(A − y, −delta, delta) / (n·n_k)."""
    dtype = _check_batch("A", A)
    delta = _validate.huber_delta(delta)
    _validate.targets("y", y, A.shape, dtype)
    w = _validate.sample_weight(sample_weight, A.shape[0], dtype)
    _check_output("dA", dA, A, A=A, y=y, sample_weight=w)
    if dtype == _validate.float32:
        return _elementwise[float](HUBER, A, y, w, None, dA, delta)
    return _elementwise[double](HUBER, A, y, w, None, dA, delta)
