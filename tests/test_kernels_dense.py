"""Dense kernels: Z := X·W + b forward, dW := Xᵀ·δ, db := Σ_b δ, dX := δ·Wᵀ backward, and matmul.

The backward kernels are checked against central differences of a scalar
E = Σ R ⊙ Z (so ∂E/∂Z = R is the δ handed to dense_backward); the products
against NumPy's own ``@``. Parity of the two backends on many shapes is in
test_backend_parity.py.
"""
import numpy as np
import pytest

SHAPES = [  # (n_samples, n_in, n_out)
    (1, 1, 1), (1, 7, 13), (7, 13, 1), (13, 1, 300), (5, 300, 1), (33, 9, 7), (4, 8, 16),
]


def random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("n_b, n_i, n_o", [(1, 3, 2), (4, 5, 3), (7, 1, 6), (3, 6, 1)])
def test_dense_backward_matches_central_differences(backend, gradcheck, n_b, n_i, n_o):
    rng = np.random.default_rng(n_b * 100 + n_i * 10 + n_o)
    X, W, b = random(rng, (n_b, n_i)), random(rng, (n_i, n_o)), random(rng, n_o)
    R = random(rng, (n_b, n_o))       # E = Σ R ⊙ Z, so δ = ∂E/∂Z = R
    Z = np.empty((n_b, n_o))

    def E():
        return float(np.sum(R * backend.dense_forward(X, W, b, Z)))

    dW, db, dX = np.empty_like(W), np.empty_like(b), np.empty_like(X)
    backend.dense_backward(X, W, R.copy(), dW, db, dX)
    for name, analytic, variable in (("dW", dW, W), ("db", db, b), ("dX", dX, X)):
        numeric = gradcheck.central_difference(E, variable)
        assert gradcheck.relative_error(analytic, numeric) < 1e-6, name


@pytest.mark.parametrize("n_b, n_i, n_o", SHAPES)
def test_dense_forward_is_xw_plus_b(backend, dtype, close, n_b, n_i, n_o):
    rng = np.random.default_rng(n_b + n_i + n_o)
    X, W, b = random(rng, (n_b, n_i), dtype), random(rng, (n_i, n_o), dtype), random(rng, n_o, dtype)
    expected = X.astype(np.float64) @ W.astype(np.float64) + b
    Z = np.full((n_b, n_o), np.nan, dtype)
    assert backend.dense_forward(X, W, b, Z) is Z
    close(Z, expected, dtype, "Z with bias")
    Z[...] = np.nan
    backend.dense_forward(X, W, None, Z)          # b = None: no bias, and Z's old content is ignored
    close(Z, expected - b, dtype, "Z without bias")


@pytest.mark.parametrize("n_b, n_i, n_o", SHAPES)
def test_dense_backward_formulas(backend, dtype, close, n_b, n_i, n_o):
    rng = np.random.default_rng(7 * n_b + n_i + n_o)
    X, W, delta = random(rng, (n_b, n_i), dtype), random(rng, (n_i, n_o), dtype), random(rng, (n_b, n_o), dtype)
    X64, W64, d64 = (a.astype(np.float64) for a in (X, W, delta))
    dW, db, dX = (np.full(s, np.nan, dtype) for s in (W.shape, (n_o,), X.shape))
    out = backend.dense_backward(X, W, delta, dW, db, dX)
    assert out[0] is dW and out[1] is db and out[2] is dX
    close(dW, X64.T @ d64, dtype, "dW = Xᵀ·δ")
    close(db, d64.sum(axis=0), dtype, "db = Σ_b δ")
    close(dX, d64 @ W64.T, dtype, "dX = δ·Wᵀ")
    # the first layer needs neither db nor dX
    dW2 = np.full_like(dW, np.nan)
    assert backend.dense_backward(X, W, delta, dW2) == (dW2, None, None)
    np.testing.assert_array_equal(dW2, dW)


@pytest.mark.parametrize("n_b, n_i, n_o", [(0, 3, 2), (3, 0, 2), (3, 2, 0), (0, 0, 0)])
def test_dense_with_empty_axes(backend, dtype, n_b, n_i, n_o):
    """An empty sum is zero: a batch of 0 samples gives dW = 0, db = 0; 0 inputs give Z = b."""
    X, W = np.ones((n_b, n_i), dtype), np.ones((n_i, n_o), dtype)
    b = np.arange(n_o, dtype=dtype)
    Z = np.full((n_b, n_o), np.nan, dtype)
    backend.dense_forward(X, W, b, Z)
    np.testing.assert_array_equal(Z, np.broadcast_to(b * 1 + n_i, Z.shape))
    delta = np.ones((n_b, n_o), dtype)
    dW, db, dX = np.full((n_i, n_o), np.nan, dtype), np.full(n_o, np.nan, dtype), np.full((n_b, n_i), np.nan, dtype)
    backend.dense_backward(X, W, delta, dW, db, dX)
    np.testing.assert_array_equal(dW, np.full((n_i, n_o), n_b, dtype))
    np.testing.assert_array_equal(db, np.full(n_o, n_b, dtype))
    np.testing.assert_array_equal(dX, np.full((n_b, n_i), n_o, dtype))


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (7, 13, 5), (1, 300, 1), (33, 1, 8), (4, 0, 3)])
def test_matmul(backend, dtype, close, trans_a, trans_b, m, k, n):
    rng = np.random.default_rng(m * k + n)
    A = random(rng, (k, m) if trans_a else (m, k), dtype)
    B = random(rng, (n, k) if trans_b else (k, n), dtype)
    C0 = random(rng, (m, n), dtype)
    product = (A.T if trans_a else A).astype(np.float64) @ (B.T if trans_b else B).astype(np.float64)
    C = C0.copy()
    assert backend.matmul(A, B, C, trans_a=trans_a, trans_b=trans_b) is C
    close(C, product, dtype, "C = op(A)·op(B)")
    C = C0.copy()
    backend.matmul(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=-0.5, beta=2.0)
    close(C, -0.5 * product + 2.0 * C0, dtype, "C = α·op(A)·op(B) + β·C")
    C = np.full((m, n), np.nan, dtype)             # beta = 0: C's old content is not read
    backend.matmul(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=3.0)
    close(C, 3.0 * product, dtype, "C = 3·op(A)·op(B)")


@pytest.mark.parametrize("n_o", [1, 10, 16, 17, 64, 65, 130, 200])
@pytest.mark.parametrize("n_b", [1, 3, 100])
def test_bias_gradient_adds_the_rows_in_order(n_b, n_o):
    """db := Σ_b δ_b: the compiled float32 kernel keeps 64 columns at a time in registers,
    and must still add the rows one after another from the first, exactly as a float32
    running sum does (bit for bit), whatever the width."""
    from fastnn.backend import get_backend
    compiled = get_backend("compiled")
    rng = np.random.default_rng(n_b * 1000 + n_o)
    X = rng.standard_normal((n_b, 3)).astype(np.float32)
    W = rng.standard_normal((3, n_o)).astype(np.float32)
    delta = (rng.standard_normal((n_b, n_o)) * 10.0 ** rng.integers(-3, 4, (n_b, n_o))).astype(np.float32)
    dW, db = np.empty_like(W), np.full(n_o, np.nan, np.float32)
    compiled.dense_backward(X, W, delta, dW, db)
    running = np.zeros(n_o, np.float32)
    for row in delta:
        running = running + row
    np.testing.assert_array_equal(db, running)
