"""SGD with momentum, rebuilt here in NumPy and compared with both backends' sgd_update.

    v := μ·v − γ·g;  w := w + v              (classical momentum)
    v := μ·v − γ·g;  w := w + μ·v − γ·g      (Nesterov, with the new v)
"""
import numpy as np
import pytest


def sgd_rule(w, g, v, learning_rate, momentum, nesterov):
    """The rule in float64, on copies: returns the new (w, v)."""
    w, g, v = (a.astype(np.float64) for a in (w, g, v))
    v = momentum * v - learning_rate * g
    w = w + (momentum * v - learning_rate * g if nesterov else v)
    return w, v


@pytest.mark.parametrize("shape", [(), (1,), (7,), (13, 33), (1, 300), (300, 1), (2, 3, 4)])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("nesterov", [False, True], ids=["classical", "nesterov"])
def test_sgd_update_follows_the_rule(backend, dtype, close, shape, momentum, nesterov):
    rng = np.random.default_rng(sum(shape) + int(10 * momentum))
    w = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)          # a velocity left by earlier steps
    w_ref, v_ref = w.astype(np.float64), v.astype(np.float64)
    for step in range(5):                                   # several steps: the velocity carries over
        g = rng.standard_normal(shape).astype(dtype)
        g_before = g.copy()
        lr = 0.1 / (1 + step)
        assert backend.sgd_update(w, g, v, lr, momentum, nesterov) is w
        w_ref, v_ref = sgd_rule(w_ref, g, v_ref, lr, momentum, nesterov)
        np.testing.assert_array_equal(g, g_before)          # the gradient is read only
        close(v, v_ref, dtype, f"v after step {step}")
        close(w, w_ref, dtype, f"w after step {step}")


def test_sgd_defaults_are_plain_gradient_descent(backend, dtype):
    w = np.array([1.0, -2.0, 3.0], dtype)
    g = np.array([0.5, 0.25, -1.0], dtype)
    v = np.zeros(3, dtype)
    backend.sgd_update(w, g, v, 0.5)                        # momentum 0: w := w − γ·g, v = −γ·g
    np.testing.assert_array_equal(w, np.array([0.75, -2.125, 3.5], dtype))
    np.testing.assert_array_equal(v, np.array([-0.25, -0.125, 0.5], dtype))


def test_nesterov_looks_ahead(backend, dtype):
    """Worked numbers: μ = 0.5, γ = 0.1, v = 2, g = 4:  v := 0.5·2 − 0.1·4 = 0.6;
    classical w := 1 + 0.6 = 1.6;  Nesterov w := 1 + 0.5·0.6 − 0.1·4 = 0.9."""
    for nesterov, expected_w in ((False, 1.6), (True, 0.9)):
        w, g, v = np.array([1.0], dtype), np.array([4.0], dtype), np.array([2.0], dtype)
        backend.sgd_update(w, g, v, 0.1, 0.5, nesterov)
        assert v[0] == pytest.approx(0.6, rel=1e-6)
        assert w[0] == pytest.approx(expected_w, rel=1e-6)


def test_zero_learning_rate_without_momentum_changes_nothing(backend, dtype):
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal(10).astype(dtype), rng.standard_normal(10).astype(dtype)
    w0, v = w.copy(), np.zeros(10, dtype)
    backend.sgd_update(w, g, v, 0.0, 0.0, True)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(v, 0)


def test_empty_parameters(backend, dtype):
    w, g, v = np.empty((0, 3), dtype), np.empty((0, 3), dtype), np.empty((0, 3), dtype)
    assert backend.sgd_update(w, g, v, 0.1, 0.9) is w
