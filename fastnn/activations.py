"""Activation functions by name, each with its derivative.

=============  ==============================  ==========================
name           g(z)                            g'(z)
=============  ==============================  ==========================
linear         z                               1
step           1 if z ≥ 0 else 0 (perceptron)  0
sigmoid        1 / (1 + e^−z)                  g(z)·(1 − g(z))
hard_sigmoid   max(0, min(1, (z + 1)/2))       1/2 on (−1, 1), else 0
tanh           tanh z = 2σ(2z) − 1             1 − g(z)²
relu           max(0, z)                       1 if z > 0 else 0
softmax        e^{z_k} / Σ_j e^{z_j} (row)     Jacobian a_k([j = k] − a_j)
=============  ==============================  ==========================

hard_sigmoid is the course's "rigid" sigmoid, (z + 1)/2 clipped to [0, 1]
(Keras 2's hard_sigmoid used 0.2·z + 0.5 instead).
"""
import numpy as np

from fastnn.backend import get_backend

NAMES = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax")


def get(name):
    """Validate an activation name (None means linear) and return it."""
    if name is None:
        return "linear"
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(NAMES)}")
    return name


def _as_rows(z, dtype):
    z = np.asarray(z, dtype=dtype)
    return np.ascontiguousarray(z.reshape(1, -1) if z.ndim < 2 else z), z.shape


def apply(name, z, backend="compiled", dtype=np.float64):
    """g(z) for an array z (row-wise for softmax), computed by the engine's kernels."""
    rows, shape = _as_rows(z, dtype)
    out = np.empty_like(rows)
    get_backend(backend).activation_forward(get(name), rows, out)
    return out.reshape(shape)


def derivative(name, z, backend="compiled", dtype=np.float64):
    """g'(z), elementwise (not defined for softmax), computed by the engine's kernels."""
    rows, shape = _as_rows(z, dtype)
    a = np.empty_like(rows)
    ops = get_backend(backend)
    ops.activation_forward(get(name), rows, a)
    out = np.empty_like(rows)
    ops.activation_derivative(name, rows, a, out)
    return out.reshape(shape)
