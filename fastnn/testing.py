"""Checking gradients: backpropagation against central finite differences.

    ∂L/∂θ ≈ (L(θ + h) − L(θ − h)) / 2h

Use it on your own models (in float64) to see that backprop computes the
derivatives the chain rule promises.
"""
import numpy as np


def central_difference(f, theta, h=1e-6):
    """Numerical gradient of the scalar function ``f()`` with respect to the array ``theta``
    (perturbed in place and restored)."""
    grad = np.zeros(theta.shape, dtype=np.float64)
    flat, g = theta.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * h)
    return grad


def gradcheck(model, x, y, h=1e-6, sample_weight=None, class_weight=None):
    """Largest relative difference between backprop and finite-difference gradients.

    The check runs on a float64 copy of ``model`` (same architecture, weights, loss),
    so it works for float32 models too. For each parameter array θ the relative
    difference is max|g_backprop − g_numeric| / max(max|g_backprop|, max|g_numeric|);
    the largest over all arrays is returned. Values below ~1e-6 mean backprop is right.
    """
    from fastnn.io import _clone_float64
    check = _clone_float64(model)
    x = np.asarray(x, dtype=np.float64)
    analytic = check.gradients(x, y, sample_weight=sample_weight, class_weight=class_weight)
    prepared = check._prepare(x, y, sample_weight, class_weight)
    loss = lambda: check._evaluate_prepared(*prepared)["loss"]
    worst = 0.0
    for theta, g in zip(check._params(), analytic):
        numeric = central_difference(loss, theta, h)
        scale = max(np.abs(g).max(), np.abs(numeric).max(), 1e-300)
        worst = max(worst, float(np.abs(g - numeric).max() / scale))
    return worst
