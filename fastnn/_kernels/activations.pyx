"""Activation kernels: A := g(Z) forward, δ := dA ⊙ g'(Z) backward (softmax: its Jacobian).

The formulas (each beside its derivative) are in csrc/fastnn_kernels.h; the
activation is chosen by name: linear, step, sigmoid, hard_sigmoid, tanh, relu, softmax.
"""
from cython cimport floating

from fastnn._kernels._ckernels cimport (
    fnn_bias_activation_f32, fnn_bias_activation_f64,
    fnn_activation_derivative_f32, fnn_activation_derivative_f64,
    fnn_activation_backward_f32, fnn_activation_backward_f64, fnn_int)
from fastnn._kernels import _validate

include "_cpu.pxi"


cdef int bias_activation(int act, const floating *b_o, floating *z_bo, floating *a_bo,
                         fnn_int n_b, fnn_int n_o) noexcept nogil:
    """Z := Z + b;  A := g(Z)"""
    if floating is float:
        return fnn_bias_activation_f32(act, b_o, z_bo, a_bo, n_b, n_o)
    else:
        return fnn_bias_activation_f64(act, b_o, z_bo, a_bo, n_b, n_o)


cdef int activation_backward_raw(int act, const floating *z_bo, const floating *a_bo,
                                 const floating *da_bo, floating *delta_bo,
                                 fnn_int n_b, fnn_int n_o) noexcept nogil:
    """δ := dA ⊙ g'(Z)  (softmax: δ := A ⊙ (dA − Σ_k dA_k A_k))"""
    if floating is float:
        return fnn_activation_backward_f32(act, z_bo, a_bo, da_bo, delta_bo, n_b, n_o)
    else:
        return fnn_activation_backward_f64(act, z_bo, a_bo, da_bo, delta_bo, n_b, n_o)


cdef inline floating *first(floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] else NULL


cdef inline const floating *cfirst(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] else NULL


# The inputs are const memoryviews, so that read-only arrays are accepted as inputs.
cdef int _forward(int act, const floating[:, ::1] Z, floating[:, ::1] A) noexcept:
    cdef int status
    with nogil:
        # without a bias (b = NULL) the kernel only reads Z: casting the const away is safe
        status = bias_activation(act, <const floating *> NULL, <floating *> cfirst(Z), first(A),
                                 Z.shape[0], Z.shape[1])
    return status


cdef int _derivative(int act, const floating[:, ::1] Z, const floating[:, ::1] A, floating[:, ::1] out) noexcept:
    cdef int status
    with nogil:
        if floating is float:
            status = fnn_activation_derivative_f32(act, cfirst(Z), cfirst(A), first(out), Z.shape[0] * Z.shape[1])
        else:
            status = fnn_activation_derivative_f64(act, cfirst(Z), cfirst(A), first(out), Z.shape[0] * Z.shape[1])
    return status


cdef int _backward(int act, const floating[:, ::1] Z, const floating[:, ::1] A, const floating[:, ::1] dA,
                   floating[:, ::1] delta) noexcept:
    cdef int status
    with nogil:
        status = activation_backward_raw(act, cfirst(Z), cfirst(A), cfirst(dA), first(delta),
                                         Z.shape[0], Z.shape[1])
    return status


def _check(name, **arrays):
    act = _validate.activation_code(name)
    dtype = _validate.common_float_dtype(**arrays)
    first_name, first_array = next(iter(arrays.items()))
    for other, a in arrays.items():
        _validate.shape(other, a, first_array.shape)
    return act, dtype


def activation_forward(name, Z, A):
    """A := g(Z), elementwise (softmax: row-wise). Z, A: (n_samples, n_units); A may be Z."""
    act, dtype = _check(name, Z=Z, A=A)
    if A is not Z:
        _validate.writable_and_separate("A", A, Z=Z)
    elif not A.flags.writeable:
        raise ValueError("A is read-only; it is an output and must be writeable")
    if dtype == _validate.float32:
        _forward[float](act, Z, A)
    else:
        _forward[double](act, Z, A)
    return A


def activation_derivative(name, Z, A, out):
    """out := g'(Z), elementwise, given Z and A = g(Z). Softmax has no elementwise
    derivative (its Jacobian is used by activation_backward)."""
    act, dtype = _check(name, Z=Z, A=A, out=out)
    if name == "softmax":
        raise ValueError("softmax has no elementwise derivative; use activation_backward, "
                         "which applies its Jacobian")
    _validate.writable_and_separate("out", out, Z=Z, A=A)
    if dtype == _validate.float32:
        _derivative[float](act, Z, A, out)
    else:
        _derivative[double](act, Z, A, out)
    return out


def activation_backward(name, Z, A, dA, delta):
    """delta := dA ⊙ g'(Z) (softmax: delta := A ⊙ (dA − rowsum(dA ⊙ A))).

    Z, A = g(Z), dA = ∂E/∂A and the output delta = ∂E/∂Z are all (n_samples, n_units);
    delta may be dA (in place) but must not overlap Z or A.
    """
    act, dtype = _check(name, Z=Z, A=A, dA=dA, delta=delta)
    _validate.writable_and_separate("delta", delta, Z=Z, A=A, dA=None if delta is dA else dA)
    if dtype == _validate.float32:
        _backward[float](act, Z, A, dA, delta)
    else:
        _backward[double](act, Z, A, dA, delta)
    return delta
