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
leaky_relu     z if z > 0 else 0.2·z           1 if z > 0 else 0.2
elu            z if z > 0 else e^z − 1         1 if z > 0 else g(z) + 1
selu           λz if z > 0 else λα(e^z − 1)    λ if z > 0 else g(z) + λα
gelu           z·Φ(z) = z(1 + erf(z/√2))/2     Φ(z) + z·φ(z)
silu, swish    z·σ(z)                          σ(z)·(1 + z(1 − σ(z)))
softplus       log(1 + e^z)                    σ(z)
softsign       z / (1 + abs(z))                1 / (1 + abs(z))²
=============  ==============================  ==========================

hard_sigmoid is the course's "rigid" sigmoid, (z + 1)/2 clipped to [0, 1]
(Keras 2's hard_sigmoid used 0.2·z + 0.5 instead).

The last seven are Keras 3's, with its defaults: leaky_relu's negative slope 0.2,
elu's α = 1, selu's α = 1.67326324235437728 and λ = 1.05070098735548049 (Klambauer
et al., 2017), and gelu's exact form (``approximate=False``): Φ and φ are the standard
normal distribution and density. swish is another name for silu. Each is computed
without overflow for any z: softplus as max(z, 0) + log(1 + e^−|z|), elu and selu
with expm1 (−1 and −λα for very negative z).
"""
import numpy as np

from fastnn.backend import get_backend

NAMES = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax",
         "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign")
ALIASES = {"swish": "silu"}


def get(name):
    """Validate an activation name (None means linear) and return it ("swish" becomes "silu",
    the name Keras 3 gives the function too)."""
    if name is None:
        return "linear"
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(NAMES)}")
    return ALIASES.get(name, name)


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
    ops.activation_derivative(get(name), rows, a, out)
    return out.reshape(shape)
