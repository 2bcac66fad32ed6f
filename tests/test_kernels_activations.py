"""Activation kernels: A := g(Z), out := g'(Z), δ := dA ⊙ g'(Z) (softmax: its Jacobian).

Each activation's forward value is checked against an independent formula
(SciPy's expit/softmax/erf, NumPy's tanh, and Keras 3's definitions written out
here for its activations), its backward against central differences of
E = Σ R ⊙ g(Z) in float64, away from the kinks (z = 0 for relu, step and
leaky_relu, z = ±1 for hard_sigmoid) where the derivative is not defined.
"""
import math

import numpy as np
import pytest
from scipy.special import erf, expit, softmax

KERAS = ("leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign")
ACTIVATIONS = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax") + KERAS
ELEMENTWISE = tuple(a for a in ACTIVATIONS if a != "softmax")

# Keras 3's constants (keras/src/backend/*/nn.py): selu's α and scale, leaky_relu's slope
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _gelu(z):
    """Keras 3's default gelu (approximate=False): z·(1 + erf(z/√2))/2."""
    return z * (1 + erf(z / math.sqrt(2))) / 2


def _gelu_derivative(z):
    """d/dz z·Φ(z) = Φ(z) + z·e^(−z²/2)/√(2π)."""
    return (1 + erf(z / math.sqrt(2))) / 2 + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)

FORMULAS = {
    "linear": lambda z: z,
    "step": lambda z: (z >= 0).astype(np.float64),
    "sigmoid": expit,
    "hard_sigmoid": lambda z: np.clip((z + 1) / 2, 0, 1),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "softmax": lambda z: softmax(z, axis=1),
    "leaky_relu": lambda z: np.maximum(z, 0.2 * z),
    "elu": lambda z: np.where(z >= 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: SELU_SCALE * np.where(z >= 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
    "gelu": _gelu,
    "silu": lambda z: z * expit(z),
    "swish": lambda z: z * expit(z),
    "softplus": lambda z: np.logaddexp(z, 0),
    "softsign": lambda z: z / (1 + np.abs(z)),
}
DERIVATIVES = {
    "linear": lambda z: np.ones_like(z),
    "step": lambda z: np.zeros_like(z),
    "sigmoid": lambda z: expit(z) * (1 - expit(z)),
    "hard_sigmoid": lambda z: np.where(np.abs(z) < 1, 0.5, 0.0),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(np.float64),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.2),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "selu": lambda z: SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0))),
    "gelu": _gelu_derivative,
    "silu": lambda z: expit(z) + z * expit(z) * (1 - expit(z)),
    "swish": lambda z: expit(z) + z * expit(z) * (1 - expit(z)),
    "softplus": expit,
    "softsign": lambda z: 1 / (1 + np.abs(z)) ** 2,
}


def away_from_kinks(rng, shape, name):
    """z ~ N(0, 2²), moved at least 0.1 away from the points where g is not differentiable."""
    z = 2 * rng.standard_normal(shape)
    kinks = {"relu": (0.0,), "step": (0.0,), "hard_sigmoid": (-1.0, 1.0), "leaky_relu": (0.0,)}.get(name, ())
    for kink in kinks:
        near = np.abs(z - kink) < 0.1
        z[near] = kink + np.where(z[near] >= kink, 0.1, -0.1) + 0.2 * (z[near] - kink)
    return z


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (6, 2)])
def test_activation_backward_matches_central_differences(backend, gradcheck, name, shape):
    rng = np.random.default_rng(len(name) * 10 + shape[1])
    Z = away_from_kinks(rng, shape, name)
    R = rng.standard_normal(shape)        # E = Σ R ⊙ g(Z), so dA = ∂E/∂A = R
    A = np.empty(shape)

    def E():
        return float(np.sum(R * backend.activation_forward(name, Z, A)))

    numeric = gradcheck.central_difference(E, Z)
    backend.activation_forward(name, Z, A)
    delta = np.full(shape, np.nan)
    assert backend.activation_backward(name, Z, A, R, delta) is delta
    if name == "step":                    # flat everywhere but at 0: the perceptron cannot backpropagate
        np.testing.assert_array_equal(delta, 0.0)
        np.testing.assert_array_equal(numeric, 0.0)
    else:
        assert gradcheck.relative_error(delta, numeric) < 1e-6


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_matches_central_differences(backend, gradcheck, name):
    rng = np.random.default_rng(3)
    Z = away_from_kinks(rng, (4, 7), name)
    A, out = np.empty_like(Z), np.full_like(Z, np.nan)
    one = np.empty((1, 1))
    numeric = np.empty_like(Z)
    for index in np.ndindex(Z.shape):     # g is elementwise: differentiate one entry at a time
        z = np.array([[Z[index]]])
        numeric[index] = gradcheck.central_difference(
            lambda: float(backend.activation_forward(name, z, one)[0, 0]), z)[0, 0]
    backend.activation_forward(name, Z, A)
    assert backend.activation_derivative(name, Z, A, out) is out
    if name == "step":
        np.testing.assert_array_equal(out, 0.0)
        np.testing.assert_array_equal(numeric, 0.0)
    else:
        assert gradcheck.relative_error(out, numeric) < 1e-6


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (7, 13), (33, 10)])
def test_activation_values(backend, dtype, close, name, shape):
    rng = np.random.default_rng(shape[0] + shape[1])
    Z = away_from_kinks(rng, shape, name).astype(dtype)
    Z64 = Z.astype(np.float64)
    A = np.full(shape, np.nan, dtype)
    assert backend.activation_forward(name, Z, A) is A
    close(A, FORMULAS[name](Z64), dtype, f"{name}(Z)")
    dA = rng.standard_normal(shape).astype(dtype)
    delta = np.full(shape, np.nan, dtype)
    backend.activation_backward(name, Z, A, dA, delta)
    if name == "softmax":
        A64 = A.astype(np.float64)
        expected = A64 * (dA - np.sum(dA * A64, axis=1, keepdims=True))
    else:
        expected = dA * DERIVATIVES[name](Z64)
        out = np.full(shape, np.nan, dtype)
        backend.activation_derivative(name, Z, A, out)
        close(out, DERIVATIVES[name](Z64), dtype, f"{name}'(Z)")
    close(delta, expected, dtype, f"δ of {name}")


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_in_place(backend, dtype, name):
    """A may be Z (forward) and delta may be dA (backward): same result as separate buffers."""
    rng = np.random.default_rng(11)
    Z = away_from_kinks(rng, (5, 4), name).astype(dtype)
    A = np.empty_like(Z)
    backend.activation_forward(name, Z, A)
    dA = rng.standard_normal(Z.shape).astype(dtype)
    delta = np.empty_like(Z)
    backend.activation_backward(name, Z, A, dA, delta)
    in_place = dA.copy()
    assert backend.activation_backward(name, Z, A, in_place, in_place) is in_place
    np.testing.assert_array_equal(in_place, delta)
    Z2 = Z.copy()
    assert backend.activation_forward(name, Z2, Z2) is Z2
    np.testing.assert_array_equal(Z2, A)


def test_softmax_has_no_elementwise_derivative(backend):
    Z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="softmax"):
        backend.activation_derivative("softmax", Z, Z.copy(), np.empty_like(Z))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_extreme_inputs_stay_finite(backend, dtype, name):
    """Logits of ±1e4 (and ±1e30 in float64) overflow nothing: sigmoid is 0 or 1, softmax one-hot."""
    big = 1e30 if dtype == np.float64 else 1e4
    Z = np.array([[big, -big, 0.0, -1e4], [-1e4, -1e4, -1e4, -1e4]], dtype)
    A = np.empty_like(Z)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # nor may the NumPy backend overflow
        backend.activation_forward(name, Z, A)
    expected = {
        "linear": Z, "relu": np.maximum(Z, 0),
        "step": np.array([[1, 0, 1, 0], [0, 0, 0, 0]]),
        "sigmoid": np.array([[1, 0, 0.5, 0], [0, 0, 0, 0]]),
        "hard_sigmoid": np.array([[1, 0, 0.5, 0], [0, 0, 0, 0]]),
        "tanh": np.array([[1, -1, 0, -1], [-1, -1, -1, -1]]),
        "softmax": np.array([[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]),
        "leaky_relu": np.where(Z > 0, Z, 0.2 * Z),
        "elu": np.where(Z > 0, Z, np.where(Z == 0, 0.0, -1.0)),        # e^z − 1 → −1
        "selu": np.where(Z > 0, SELU_SCALE * Z, np.where(Z == 0, 0.0, -SELU_SCALE * SELU_ALPHA)),
        "gelu": np.maximum(Z, 0), "silu": np.maximum(Z, 0), "swish": np.maximum(Z, 0),
        "softplus": np.maximum(Z, 0) + np.where(Z == 0, np.log(2), 0),
        "softsign": np.where(Z == 0, 0.0, np.sign(Z) * (np.abs(Z) / (1 + np.abs(Z)))),
    }[name]
    np.testing.assert_array_equal(A, np.asarray(expected, dtype))
    delta = np.empty_like(Z)
    backend.activation_backward(name, Z, A, np.ones_like(Z), delta)
    assert np.all(np.isfinite(delta))


@pytest.mark.parametrize("name", ("relu", "step", "sigmoid", "tanh", "hard_sigmoid", "linear") + KERAS)
def test_nan_propagates(backend, name):
    """A NaN pre-activation gives a NaN activation (never a silent 0 or 1)."""
    Z = np.array([[np.nan, 1.0]])
    A = np.empty_like(Z)
    backend.activation_forward(name, Z, A)
    assert np.isnan(A[0, 0]) and not np.isnan(A[0, 1])


def test_float32_softmax_within_three_ulp_of_exact():
    """Softmax in float32 against float64 softmax of the same shifted logits, over logits
    spread across e^x's whole range, where the smallest probabilities are subnormal or 0."""
    from fastnn._kernels.activations import activation_forward
    rng = np.random.default_rng(11)
    Z = np.concatenate([rng.standard_normal((200, 10)) * s for s in (0.1, 1, 10, 40)]).astype(np.float32)
    A = np.empty_like(Z)
    activation_forward("softmax", Z, A)
    shifted = (Z - Z.max(axis=1, keepdims=True)).astype(np.float64)    # z - max formed in float32, as the kernel does
    e = np.exp(shifted)
    exact = e / e.sum(axis=1, keepdims=True)
    normal = exact > np.finfo(np.float32).tiny
    ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)
    # e^x within 1 ulp (libm), then 1/Σ and the product rounded to float32
    assert np.max(np.abs(A[normal] - exact[normal]) / ulp) <= 3.0
    np.testing.assert_allclose(A[~normal], exact[~normal], rtol=0, atol=2e-45)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=2e-6)


def test_float32_softmax_of_infinities_and_nan():
    from fastnn._kernels.activations import activation_forward
    Z = np.array([[0.0, -np.inf, 1.0], [np.nan, 0.0, 1.0], [-1e30, 1e30, 0.0]], dtype=np.float32)
    A = np.empty_like(Z)
    activation_forward("softmax", Z, A)
    e = np.exp(np.array([0.0, 1.0]) - 1.0)
    np.testing.assert_allclose(A[0], [e[0] / e.sum(), 0.0, e[1] / e.sum()], rtol=1e-6)
    assert np.all(np.isnan(A[1]))
    np.testing.assert_array_equal(A[2], [0.0, 1.0, 0.0])
