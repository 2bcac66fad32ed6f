"""Optimizer kernel: SGD with momentum, in place, one pass over each parameter.

v := μ·v − γ·g;  w := w + v          (Nesterov: w := w + μ·v − γ·g, with the new v)
"""
import numpy as np
from cython cimport floating

from fastnn._kernels._ckernels cimport fnn_sgd_momentum_f32, fnn_sgd_momentum_f64
from fastnn._kernels import _validate

include "_cpu.pxi"


cdef void _update(floating[::1] w, const floating[::1] g, floating[::1] v, double lr, double mu, bint nesterov):
    if w.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            fnn_sgd_momentum_f32(&w[0], <float *> &g[0], &v[0], w.shape[0], lr, mu, nesterov)
        else:
            fnn_sgd_momentum_f64(&w[0], <double *> &g[0], &v[0], w.shape[0], lr, mu, nesterov)


def sgd_update(w, g, v, learning_rate, momentum=0.0, nesterov=False):
    """v := momentum·v − learning_rate·g;  w := w + v (Nesterov: w := w + momentum·v − learning_rate·g).

    w (parameter), g (its gradient), v (its velocity): arrays of one shape and dtype,
    C-contiguous; w and v are updated in place. Returns w.
    """
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
    dtype = _validate.common_float_dtype(w.ndim, w=w, g=g, v=v)
    _validate.shape("g", g, w.shape)
    _validate.shape("v", v, w.shape)
    _validate.writable_and_separate("w", w, g=g, v=v)
    _validate.writable_and_separate("v", v, g=g)
    lr = _validate.scalar("learning_rate", learning_rate, low=0.0)
    mu = _validate.scalar("momentum", momentum, low=0.0, high=1.0)
    if dtype == _validate.float32:
        _update[float](w.reshape(-1), g.reshape(-1), v.reshape(-1), lr, mu, bool(nesterov))
    else:
        _update[double](w.reshape(-1), g.reshape(-1), v.reshape(-1), lr, mu, bool(nesterov))
    return w
