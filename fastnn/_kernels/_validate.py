"""Argument checks for the compiled kernels' Python entry points.

Nothing invalid may reach a C pointer: every entry point checks types, dtypes,
contiguity, shapes and overlaps here first and raises a ``TypeError`` or
``ValueError`` that names the argument and what was expected.
"""
import math

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
FLOATS = (float32, float64)
_BLAS_INT_MAX = 2**31 - 1


def _describe(a):
    return f"{type(a).__module__}.{type(a).__name__}"


def array(name, a, ndim, dtype=None):
    """Check that ``a`` is a C-contiguous float32/float64 ndarray with ``ndim`` axes.

    With ``dtype`` given, ``a`` must have exactly that dtype. Returns ``a.dtype``.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(a)}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{name} has dtype {a.dtype}; expected float32 or float64")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but the other arrays are {dtype}; "
                        "all arrays of one call must share one dtype")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if any(n > _BLAS_INT_MAX for n in a.shape):
        raise ValueError(f"{name} has shape {a.shape}; each dimension must be below 2**31")
    return a.dtype


def common_float_dtype(ndim=2, **arrays):
    """Check every named array (all ``ndim``-D, C-contiguous) and return their one dtype."""
    dtype = None
    for name, a in arrays.items():
        dtype = array(name, a, ndim, dtype)
    return dtype


def shape(name, a, expected):
    if a.shape != tuple(expected):
        raise ValueError(f"{name} has shape {a.shape}; expected {tuple(expected)}")


def writable_and_separate(name, out, **inputs):
    """``out`` must be writeable and must not overlap any of ``inputs``."""
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; it is an output and must be writeable")
    for other, a in inputs.items():
        if a is not None and np.may_share_memory(out, a):
            raise ValueError(f"{name} must not overlap {other}")


def labels(name, y, n_rows, n_classes, dtype):
    """Targets as integer class ids (1-D) or as rows (2-D, one per sample).

    Returns ``(class_ids, rows)``, one of which is None: class ids as a
    C-contiguous ``intp`` array with every id in ``[0, n_classes)``, rows as a
    C-contiguous array of ``dtype`` with shape ``(n_rows, n_classes)``.
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(y)}")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{name} is 1-D, so it holds class ids and must be an integer "
                            f"array; got dtype {y.dtype}")
        if y.shape[0] != n_rows:
            raise ValueError(f"{name} has {y.shape[0]} labels but there are {n_rows} samples")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds class ids from {y.min()} to {y.max()}; "
                             f"expected ids in [0, {n_classes})")
        return np.ascontiguousarray(y, dtype=np.intp), None
    if y.ndim == 2:
        array(name, y, 2, dtype)
        shape(name, y, (n_rows, n_classes))
        return None, y
    raise ValueError(f"{name} must be 1-D class ids or 2-D rows, got shape {y.shape}")


def targets(name, y, shape_, dtype):
    """Real-valued targets of exactly ``shape_`` and ``dtype``."""
    array(name, y, 2, dtype)
    shape(name, y, shape_)
    return y


def sample_weight(w, n_rows, dtype):
    """Optional per-sample weights: None, or a 1-D array of ``n_rows`` finite values >= 0."""
    if w is None:
        return None
    array("sample_weight", w, 1, dtype)
    shape("sample_weight", w, (n_rows,))
    if w.size and not (np.isfinite(w.min()) and np.isfinite(w.max()) and w.min() >= 0):
        raise ValueError("sample_weight must hold finite values >= 0")
    return w


def scalar(name, value, low=None, high=None):
    """A real number, optionally within [low, high]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(value):        # (math's: NumPy's isfinite on a float cost ~1 µs a call)
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


# Activation names in the order of their codes in csrc/fastnn_kernels.h; "swish" is Keras'
# other name for silu.
ACTIVATIONS = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax",
               "leaky_relu", "elu", "selu", "gelu", "silu", "softplus", "softsign")
ALIASES = {"swish": "silu"}
ACTIVATION_NAMES = ACTIVATIONS + tuple(ALIASES)


def activation_code(name):
    if not isinstance(name, str) or name not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATION_NAMES)}")
    return ACTIVATIONS.index(ALIASES.get(name, name))


def label_smoothing(value):
    """Label smoothing ls in [0, 1): the targets become y (1 − ls) + ls / k."""
    value = scalar("label_smoothing", value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value}")
    return value


def huber_delta(value, name="delta"):
    """Huber's delta > 0, where the loss turns from quadratic to linear."""
    value = scalar(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


# How two training workers share a step (see fastnn/_kernels/train.pyx).
SPLITS = ("batch", "units")


def splits_by_units(activations):
    """Whether a network can be split by units: each worker then activates only its own
    columns of every hidden layer, which a softmax (it needs whole rows) cannot do."""
    return "softmax" not in list(activations)[:-1]


def split(value, activations):
    """A Trainer's split: one of SPLITS, and "units" only where splits_by_units allows it."""
    if value not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {value!r}")
    if value == "units" and not splits_by_units(activations):
        raise ValueError("split='units' needs elementwise hidden activations; a hidden softmax needs whole rows")
    return value
