"""Weight initialisers, each drawing from an explicit random generator.

fan_in and fan_out are the layer's numbers of inputs and units; W has shape (fan_in, fan_out).
"""
import numpy as np


def glorot_uniform(fan_in, fan_out, rng):
    """U(−l, l), l = √(6 / (fan_in + fan_out))  (Glorot & Bengio 2010; Keras' default)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(fan_in, fan_out, rng):
    """Truncated N(0, σ²) within 2σ, σ = √(2 / (fan_in + fan_out))."""
    return _truncated_normal(np.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out), rng)


def he_uniform(fan_in, fan_out, rng):
    """U(−l, l), l = √(6 / fan_in)  (He et al. 2015, suited to relu)."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he_normal(fan_in, fan_out, rng):
    """Truncated N(0, σ²) within 2σ, σ = √(2 / fan_in)."""
    return _truncated_normal(np.sqrt(2.0 / fan_in), (fan_in, fan_out), rng)


def zeros(fan_in, fan_out, rng):
    """All zeros (fine for a single unit; hidden units would all stay identical)."""
    return np.zeros((fan_in, fan_out))


def _truncated_normal(stddev, shape, rng):
    """N(0, s²) redrawn outside ±2s, with s scaled so that the result has standard deviation ``stddev``."""
    s = stddev / 0.87962566103423978          # std of a unit normal truncated at ±2
    out = rng.normal(0.0, s, size=shape)
    bad = np.abs(out) > 2 * s
    while np.any(bad):
        out[bad] = rng.normal(0.0, s, size=int(bad.sum()))
        bad = np.abs(out) > 2 * s
    return out


INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros)}


def get(name):
    """The initialiser called ``name``."""
    if callable(name):
        return name
    if name not in INITIALIZERS:
        raise ValueError(f"unknown kernel_initializer {name!r}; expected one of {', '.join(INITIALIZERS)}")
    return INITIALIZERS[name]
