"""Loss kernels: the batch loss L = (1/n) Σ_b w_b E_b and its gradient in one pass.

* every gradient against central differences of L in float64 (relative error < 1e-6);
* loss values against formulas written independently here with SciPy;
* stability: logits of ±1e4, probabilities at exactly 0 and 1, all-equal logits,
  focal loss with p_c → 1 (also for 0 < γ < 1, where (1 − p_c)^γ has an infinite slope);
* focal loss with γ = 0, α = None is cross-entropy;
* Keras 3's additions: mean absolute error, Huber (δ) and label smoothing on the
  cross-entropies, each against central differences and against its closed form
  written out here (Keras' formulas), and label_smoothing = 0 is the plain loss.
"""
import numpy as np
import pytest
from scipy.special import expit, log_softmax

N, K = 5, 4           # the batch of the gradient checks: 5 samples, 4 classes / outputs


def logits(rng, n=N, k=K):
    return 1.5 * rng.standard_normal((n, k))


def targets(rng, kind, n=N, k=K):
    """Class targets as ids, one-hot rows or soft rows (which need not sum to 1)."""
    ids = rng.integers(0, k, n)
    if kind == "ids":
        return ids
    if kind == "onehot":
        return np.eye(k)[ids]
    return rng.random((n, k))


def weights(rng, weighted, n=N):
    return rng.uniform(0.1, 2.0, n) if weighted else None


def as_rows(y, k):
    return np.eye(k)[y] if y.ndim == 1 else y


# ---------------------------------------------------------------- gradients against central differences


@pytest.mark.parametrize("kind", ["ids", "onehot", "soft"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_softmax_cross_entropy_gradient(backend, gradcheck, kind, weighted):
    rng = np.random.default_rng(1)
    Z, y, w = logits(rng), targets(rng, kind), weights(rng, weighted)
    P = np.empty_like(Z)
    numeric = gradcheck.central_difference(lambda: backend.softmax_cross_entropy(Z, y, P, None, w), Z)
    delta = np.full_like(Z, np.nan)
    backend.softmax_cross_entropy(Z, y, P, delta, w)
    assert gradcheck.relative_error(delta, numeric) < 1e-6


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.1, 0.5, 1.0, 2.0]],
                         ids=["no-alpha", "alpha-scalar", "alpha-per-class"])
@pytest.mark.parametrize("kind", ["ids", "soft"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_focal_cross_entropy_gradient(backend, gradcheck, gamma, alpha, kind, weighted):
    rng = np.random.default_rng(2)
    Z, y, w = logits(rng), targets(rng, kind), weights(rng, weighted)
    P = np.empty_like(Z)

    def L():
        return backend.focal_cross_entropy(Z, y, P, None, w, gamma=gamma, alpha=alpha)

    numeric = gradcheck.central_difference(L, Z)
    delta = np.full_like(Z, np.nan)
    backend.focal_cross_entropy(Z, y, P, delta, w, gamma=gamma, alpha=alpha)
    assert gradcheck.relative_error(delta, numeric) < 1e-6


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("soft", [False, True], ids=["binary", "soft"])
def test_sigmoid_binary_cross_entropy_gradient(backend, gradcheck, weighted, soft):
    rng = np.random.default_rng(3)
    Z, w = 3 * rng.standard_normal((N, K)), weights(rng, weighted)
    y = rng.random((N, K)) if soft else rng.integers(0, 2, (N, K)).astype(np.float64)
    A = np.empty_like(Z)
    numeric = gradcheck.central_difference(lambda: backend.sigmoid_binary_cross_entropy(Z, y, A, None, w), Z)
    delta = np.full_like(Z, np.nan)
    backend.sigmoid_binary_cross_entropy(Z, y, A, delta, w)
    assert gradcheck.relative_error(delta, numeric) < 1e-6


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("soft", [False, True], ids=["binary", "soft"])
def test_binary_cross_entropy_gradient(backend, gradcheck, weighted, soft):
    rng = np.random.default_rng(4)
    A = rng.uniform(0.05, 0.95, (N, K))       # well inside the clip [1e-7, 1 − 1e-7]
    w = weights(rng, weighted)
    y = rng.random((N, K)) if soft else rng.integers(0, 2, (N, K)).astype(np.float64)
    numeric = gradcheck.central_difference(lambda: backend.binary_cross_entropy(A, y, None, w), A)
    dA = np.full_like(A, np.nan)
    backend.binary_cross_entropy(A, y, dA, w)
    assert gradcheck.relative_error(dA, numeric) < 1e-6


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mean_squared_error_gradient(backend, gradcheck, weighted):
    rng = np.random.default_rng(5)
    A, y, w = rng.standard_normal((N, K)), rng.standard_normal((N, K)), weights(rng, weighted)
    numeric = gradcheck.central_difference(lambda: backend.mean_squared_error(A, y, None, w), A)
    dA = np.full_like(A, np.nan)
    backend.mean_squared_error(A, y, dA, w)
    assert gradcheck.relative_error(dA, numeric) < 1e-6


# ---------------------------------------------------------------- values against independent formulas


def expected_losses(loss, Z, y, w, gamma=2.0, alpha=None):
    """Per-sample E_b and the output written beside the gradient (P or A), in float64."""
    Z, y = Z.astype(np.float64), y if y.ndim == 1 else y.astype(np.float64)
    if loss in ("softmax_cross_entropy", "focal_cross_entropy"):
        k = Z.shape[1]
        Y, log_P = as_rows(y, k), log_softmax(Z, axis=1)
        P = np.exp(log_P)
        if loss == "softmax_cross_entropy":
            return -(Y * log_P).sum(axis=1), P
        a = np.ones(k) if alpha is None else np.broadcast_to(alpha, (k,))
        return -(Y * a * (1 - P) ** gamma * log_P).sum(axis=1), P
    if loss == "sigmoid_binary_cross_entropy":
        A = expit(Z)
        return -(y * np.log(A) + (1 - y) * np.log(1 - A)).mean(axis=1), A
    if loss == "binary_cross_entropy":
        A = np.clip(Z, 1e-7, 1 - 1e-7)
        return -(y * np.log(A) + (1 - y) * np.log(1 - A)).mean(axis=1), None
    return ((Z - y) ** 2).mean(axis=1), None


def call(backend, loss, Z, y, out, grad, w, **keywords):
    f = getattr(backend, loss)
    if loss in ("binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber"):
        return f(Z, y, grad, w, **keywords)
    return f(Z, y, out, grad, w, **keywords)


LOSSES = ["softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
          "binary_cross_entropy", "mean_squared_error"]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("n, k", [(1, 1), (1, 10), (7, 3), (13, 33), (300, 2)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_values(backend, dtype, close, loss, n, k, weighted):
    rng = np.random.default_rng(n * k)
    Z = (2 * rng.standard_normal((n, k))).astype(dtype)
    if loss == "binary_cross_entropy":
        Z = rng.uniform(0.01, 0.99, (n, k)).astype(dtype)
    if loss in ("softmax_cross_entropy", "focal_cross_entropy"):
        y = rng.integers(0, k, n)
    else:
        y = rng.random((n, k)).astype(dtype)
    w = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    E, out_expected = expected_losses(loss, Z, y, w)
    out = np.full_like(Z, np.nan)
    L = call(backend, loss, Z, y, out, None, w)
    assert isinstance(L, float)
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    close(L, np.dot(w64, E) / n, dtype, f"{loss} L = (1/n) Σ w_b E_b")
    if out_expected is not None:
        close(out, out_expected, dtype, f"{loss} output (P or A)")


@pytest.mark.parametrize("k", [1, 2, 3, 10, 15, 16, 17])
@pytest.mark.parametrize("spread", [1.0, 30.0, 300.0])
def test_float32_softmax_cross_entropy_per_row(k, spread):
    """float32 rows of at most 16 classes with labels take a path of their own (a row per
    AVX-512 vector, its own e^x); against float64 SciPy: P and δ within a few float32
    ulps of each row's largest value, every E_b within 1e-6 relative, exact zeros where e^x
    underflows (spread 300), and 17 classes (the scalar path) the same."""
    from fastnn.backend import get_backend
    compiled = get_backend("compiled")
    rng = np.random.default_rng(k)
    n = 257
    Z = (spread * rng.standard_normal((n, k))).astype(np.float32)
    Z[0] = 0.0                                      # a tie: z_c = max, log p_c by log1p
    y = rng.integers(0, k, n)
    w = rng.uniform(0.1, 2, n).astype(np.float32)
    logp = log_softmax(Z.astype(np.float64), axis=1)
    P_expected = np.exp(logp)
    onehot = np.eye(k)[y]
    for sample_weight in (None, w):
        w64 = np.ones(n) if sample_weight is None else w.astype(np.float64)
        P, delta = np.full_like(Z, np.nan), np.full_like(Z, np.nan)
        L = compiled.softmax_cross_entropy(Z, y, P, delta, sample_weight)
        E = -logp[np.arange(n), y]
        np.testing.assert_allclose(L, np.dot(w64, E) / n, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(P, P_expected, rtol=0, atol=4e-7)
        np.testing.assert_array_equal(P[P_expected < 1e-46], 0)
        np.testing.assert_allclose(delta, w64[:, None] * (P_expected - onehot) / n, rtol=0, atol=4e-7 * 2 / n)
        single = [compiled.softmax_cross_entropy(Z[b:b + 1], y[b:b + 1], P[b:b + 1], None) for b in range(4)]
        np.testing.assert_allclose(single, E[:4], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", LOSSES)
def test_sample_weights_scale_each_sample(backend, loss):
    """L(w) = (1/n) Σ_b w_b L_b with L_b the loss of sample b alone; a zero weight drops a sample."""
    rng = np.random.default_rng(8)
    n, k = 6, 3
    Z = rng.uniform(0.05, 0.95, (n, k)) if loss == "binary_cross_entropy" else rng.standard_normal((n, k))
    y = rng.integers(0, k, n) if "cross_entropy" in loss and "binary" not in loss else rng.random((n, k))
    w = np.array([0.0, 1.0, 2.0, 0.5, 3.0, 1.0])
    grad = np.empty_like(Z)
    L = call(backend, loss, Z, y, np.empty_like(Z), grad, w)
    singles, single_grads = [], []
    for b in range(n):
        g = np.empty((1, k))
        singles.append(call(backend, loss, Z[b:b + 1].copy(), y[b:b + 1].copy(), np.empty((1, k)), g, None))
        single_grads.append(g[0])
    np.testing.assert_allclose(L, np.dot(w, singles) / n, rtol=1e-13)
    np.testing.assert_allclose(grad, w[:, None] * np.array(single_grads) / n, rtol=1e-13, atol=1e-300)
    assert np.all(grad[0] == 0)


@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_output_is_optional(backend, dtype, loss):
    """Without a gradient array the loss (and P or A) is the same."""
    rng = np.random.default_rng(9)
    Z = rng.uniform(0.1, 0.9, (7, 3)).astype(dtype)
    y = rng.integers(0, 3, 7) if loss in LOSSES[:2] else rng.random((7, 3)).astype(dtype)
    out1, out2 = np.empty_like(Z), np.empty_like(Z)
    L1 = call(backend, loss, Z, y, out1, np.empty_like(Z), None)
    L2 = call(backend, loss, Z, y, out2, None, None)
    assert L1 == L2
    if loss not in ("binary_cross_entropy", "mean_squared_error"):
        np.testing.assert_array_equal(out1, out2)


def test_binary_cross_entropy_has_zero_gradient_where_clipped(backend, dtype):
    A = np.array([[0.0, 1e-9, 0.3, 1.0, 1 - 1e-9]], dtype)
    y = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]], dtype)
    dA = np.full_like(A, np.nan)
    backend.binary_cross_entropy(A, y, dA)
    assert dA[0, 2] == pytest.approx((0.3 - 1) / (0.3 * 0.7 * 5), rel=1e-6)
    np.testing.assert_array_equal(dA[0, [0, 1, 3, 4]], 0)


# ---------------------------------------------------------------- stability


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "focal_cross_entropy"])
@pytest.mark.parametrize("as_rows_", [False, True], ids=["ids", "onehot"])
def test_huge_logits(backend, dtype, loss, as_rows_):
    """Row [1e4, −1e4, 0]: label 0 costs ≈ 0 with δ ≈ 0; label 1 costs 2e4 with δ = p − onehot = (1, −1, 0)."""
    Z = np.array([[1e4, -1e4, 0.0]], dtype)
    P, delta = np.empty_like(Z), np.full_like(Z, np.nan)
    for label, expected_loss, expected_delta in ((0, 0.0, [0, 0, 0]), (1, 2e4, [1, -1, 0])):
        y = np.array([label])
        if as_rows_:
            y = np.eye(3, dtype=dtype)[y]
        L = getattr(backend, loss)(Z, y, P, delta)
        assert np.isfinite(L) and abs(L - expected_loss) <= 1e-6 * max(1, expected_loss)
        np.testing.assert_array_equal(P, np.array([[1, 0, 0]], dtype))
        assert np.all(np.isfinite(delta))
        np.testing.assert_allclose(delta, np.array([expected_delta], dtype), atol=1e-30)


def test_huge_logits_in_binary_losses(backend, dtype):
    Z = np.array([[1e4, 1e4, -1e4, -1e4]], dtype)
    y = np.array([[1, 0, 0, 1]], dtype)
    A, delta = np.empty_like(Z), np.full_like(Z, np.nan)
    L = backend.sigmoid_binary_cross_entropy(Z, y, A, delta)
    assert L == pytest.approx((0 + 1e4 + 0 + 1e4) / 4, rel=1e-12)
    np.testing.assert_array_equal(A, np.array([[1, 1, 0, 0]], dtype))
    np.testing.assert_array_equal(delta, np.array([[0, 1, 0, -1]], dtype) / 4)


def test_probabilities_at_zero_and_one(backend, dtype):
    """A = 0 or 1 exactly: clipped to [1e-7, 1 − 1e-7], so the loss is finite and dA is 0 there."""
    A = np.array([[0, 1, 0, 1]], dtype)
    y = np.array([[0, 1, 1, 0]], dtype)
    dA = np.full_like(A, np.nan)
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        L = backend.binary_cross_entropy(A, y, dA)
    lo, hi = 1e-7, 1 - 1e-7
    expected = -(np.log(1 - lo) + np.log(hi) + np.log(lo) + np.log(1 - hi)) / 4
    assert L == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(dA, 0)
    # mean squared error has nothing to clip
    assert backend.mean_squared_error(A, y, dA) == 0.5
    np.testing.assert_array_equal(dA, np.array([[0, 0, -0.5, 0.5]], dtype))


@pytest.mark.parametrize("k", [1, 2, 3, 10, 33])
@pytest.mark.parametrize("value", [0.0, -7.0, 1e4])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "focal_cross_entropy"])
def test_all_equal_logits_give_a_uniform_softmax(backend, dtype, close, k, value, loss):
    """Equal logits: P = 1/k, E = log k, δ = (1/k − onehot)/n (focal: times (1 − 1/k)^γ (1 + γ log(k)/(k−1)))."""
    n = 3
    Z = np.full((n, k), value, dtype)
    y = np.arange(n) % k
    P, delta = np.empty_like(Z), np.empty_like(Z)
    L = getattr(backend, loss)(Z, y, P, delta)
    close(P, np.full((n, k), 1 / k), dtype, "P")
    q, gamma = 1 - 1 / k, 2.0
    F = 1.0 if loss == "softmax_cross_entropy" else q**gamma * (1 + gamma * np.log(k) / (k - 1) if k > 1 else 1)
    close(L, np.log(k) * (1.0 if loss == "softmax_cross_entropy" else q**gamma), dtype, "L = log k")
    close(delta, F * (1 / k - np.eye(k)[y]) / n, dtype, "δ")


def focal_row_expected(t, gamma, alpha=1.0):
    """Row z = (t, 0, 0), label 0, n = 1, written in terms of e = 2e^{−t} so nothing cancels:
    p_0 = 1/(1+e), q = 1 − p_0 = e/(1+e), log p_0 = −log1p(e);
    E = α q^γ log1p(e);  δ = F (p − onehot_0) with F = α q^γ (1 + γ log1p(e)/e).
    Returns E, δ and F."""
    e = 2 * np.exp(-t)
    s = 1 + e
    q = e / s
    ratio = np.log1p(e) / e if e > 0 else 1.0
    F = alpha * q**gamma * (1 + gamma * ratio)
    p_other = np.exp(-t) / s
    return alpha * q**gamma * np.log1p(e), F * np.array([[-q, p_other, p_other]]), F


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.9, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("t", [5.0, 20.0, 40.0, 80.0, 200.0, 1e4])
def test_focal_with_p_near_one(backend, dtype, gradcheck, gamma, t):
    """p_c → 1: (1 − p_c)^γ has an infinite slope for γ < 1, yet the gradient stays finite and exact."""
    Z = np.array([[t, 0.0, 0.0]], dtype)
    P, delta = np.empty_like(Z), np.full_like(Z, np.nan)
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        L = backend.focal_cross_entropy(Z, np.array([0]), P, delta, gamma=gamma, alpha=0.25)
    assert np.isfinite(L) and np.all(np.isfinite(delta)) and np.all(np.isfinite(P))
    E, expected, F = focal_row_expected(t, gamma, alpha=0.25)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    if backend.name == "numpy":
        # the textbook computes q = 1 − p_c and loses q's digits as p_c → 1: finite and tiny is all it promises
        np.testing.assert_allclose(delta, expected, atol=1e-12)
    elif dtype == np.float32 and t > 100:
        # e^{−t} is 0 in float32: q = 0, so E = 0 and δ = 0 exactly
        assert L == 0
        np.testing.assert_array_equal(delta, 0)
    else:
        # the compiled kernel sums 1 − p_c over the other classes: F and every δ_j = F·p_j (j ≠ c) keep
        # full relative precision (down to the dtype's subnormals); δ_c = F·(p_c − 1) = −F·q is exact
        # up to F's rounding once p_c rounds to 1
        floor = 4 * np.finfo(dtype).smallest_subnormal
        assert abs(L - E) <= rtol * E
        assert np.all(np.abs(delta[0, 1:] - expected[0, 1:]) <= rtol * np.abs(expected[0, 1:]) + floor)
        assert abs(delta[0, 0] - expected[0, 0]) <= rtol * F + floor


def test_focal_with_p_near_one_among_other_rows(backend, gradcheck):
    """A confident row beside ordinary ones: the batch gradient matches central differences (float64)."""
    rng = np.random.default_rng(12)
    Z = np.vstack([[12.0, 0.0, -1.0, 2.0], rng.standard_normal((3, 4))])
    y = np.array([0, 1, 2, 3])
    for gamma in (0.3, 0.7, 2.0):
        P = np.empty_like(Z)
        numeric = gradcheck.central_difference(
            lambda: backend.focal_cross_entropy(Z, y, P, None, gamma=gamma), Z, h=1e-5)
        delta = np.empty_like(Z)
        backend.focal_cross_entropy(Z, y, P, delta, gamma=gamma)
        assert gradcheck.relative_error(delta, numeric) < 1e-6


# ---------------------------------------------------------------- focal with γ = 0, α = None is cross-entropy


@pytest.mark.parametrize("n, k", [(1, 2), (9, 5), (33, 10)])
def test_focal_gamma_zero_is_cross_entropy(backend, dtype, close, n, k):
    rng = np.random.default_rng(n + k)
    Z = (3 * rng.standard_normal((n, k))).astype(dtype)
    y = rng.integers(0, k, n)
    w = rng.uniform(0, 2, n).astype(dtype)
    for sample_weight in (None, w):
        P1, d1, P2, d2 = (np.empty_like(Z) for _ in range(4))
        L1 = backend.softmax_cross_entropy(Z, y, P1, d1, sample_weight)
        L2 = backend.focal_cross_entropy(Z, y, P2, d2, sample_weight, gamma=0.0, alpha=None)
        if backend.name == "compiled" or dtype == np.float64:
            # the same arithmetic: bit for bit
            assert L1 == L2
            np.testing.assert_array_equal(P1, P2)
            np.testing.assert_array_equal(d1, d2)
        else:
            # NumPy's focal loss works in float64 whatever the input, its cross-entropy in float32
            close(L2, L1, dtype)
            close(P2, P1, dtype)
            close(d2, d1, dtype)
        # with target rows (one-hot and soft), the same up to rounding
        for Y in (np.eye(k, dtype=dtype)[y], rng.random((n, k)).astype(dtype)):
            L1 = backend.softmax_cross_entropy(Z, Y, P1, d1, sample_weight)
            L2 = backend.focal_cross_entropy(Z, Y, P2, d2, sample_weight, gamma=0.0, alpha=None)
            close(L2, L1, dtype)
            close(P2, P1, dtype)
            close(d2, d1, dtype)


# ---------------------------------------------------------------- Keras 3's losses: MAE, Huber, label smoothing
# The closed forms, written as Keras 3 writes them (keras/src/losses/losses.py):
#   mean_absolute_error  E = mean_k |ŷ − y|
#   huber                E = mean_k [½r² if |r| ≤ δ else δ|r| − ½δ²],  r = ŷ − y
#   label smoothing      y ← y·(1 − ls) + ls/k  (categorical, k classes);  y·(1 − ls) + ls/2  (binary)


def keras_mae(A, y):
    return np.abs(A - y).mean(axis=1)


def keras_huber(A, y, delta=1.0):
    r = A - y
    return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * np.abs(r) - 0.5 * delta**2).mean(axis=1)


def away_from(rng, A, y, points):
    """A moved so that no residual A − y lies within 0.05 of one of ``points`` (the kinks)."""
    r = A - y
    for p in points:
        near = np.abs(r - p) < 0.05
        r[near] = p + np.where(r[near] >= p, 0.05, -0.05) + r[near] - p
    return y + r


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mean_absolute_error_gradient(backend, gradcheck, weighted):
    rng = np.random.default_rng(21)
    y, w = rng.standard_normal((N, K)), weights(rng, weighted)
    A = away_from(rng, rng.standard_normal((N, K)), y, [0.0])
    numeric = gradcheck.central_difference(lambda: backend.mean_absolute_error(A, y, None, w), A)
    dA = np.full_like(A, np.nan)
    backend.mean_absolute_error(A, y, dA, w)
    assert gradcheck.relative_error(dA, numeric) < 1e-6


@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_huber_gradient(backend, gradcheck, delta, weighted):
    rng = np.random.default_rng(22)
    y, w = rng.standard_normal((N, K)), weights(rng, weighted)
    A = away_from(rng, y + 2 * delta * rng.standard_normal((N, K)), y, [-delta, delta])   # both sides of δ
    numeric = gradcheck.central_difference(lambda: backend.huber(A, y, None, w, delta=delta), A)
    dA = np.full_like(A, np.nan)
    backend.huber(A, y, dA, w, delta=delta)
    assert gradcheck.relative_error(dA, numeric) < 1e-6


@pytest.mark.parametrize("kind", ["ids", "onehot", "soft"])
@pytest.mark.parametrize("ls", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_smoothed_softmax_cross_entropy_gradient(backend, gradcheck, kind, ls, weighted):
    rng = np.random.default_rng(23)
    Z, y, w = logits(rng), targets(rng, kind), weights(rng, weighted)
    P = np.empty_like(Z)
    L = lambda: backend.softmax_cross_entropy(Z, y, P, None, w, label_smoothing=ls)   # noqa: E731
    numeric = gradcheck.central_difference(L, Z)
    delta = np.full_like(Z, np.nan)
    backend.softmax_cross_entropy(Z, y, P, delta, w, label_smoothing=ls)
    assert gradcheck.relative_error(delta, numeric) < 1e-6


@pytest.mark.parametrize("ls", [0.1, 0.5])
@pytest.mark.parametrize("soft", [False, True], ids=["binary", "soft"])
def test_smoothed_binary_cross_entropies_gradient(backend, gradcheck, ls, soft):
    rng = np.random.default_rng(24)
    Z, w = 3 * rng.standard_normal((N, K)), weights(rng, True)
    y = rng.random((N, K)) if soft else rng.integers(0, 2, (N, K)).astype(np.float64)
    A = np.empty_like(Z)
    f = lambda: backend.sigmoid_binary_cross_entropy(Z, y, A, None, w, label_smoothing=ls)  # noqa: E731
    numeric = gradcheck.central_difference(f, Z)
    delta = np.full_like(Z, np.nan)
    backend.sigmoid_binary_cross_entropy(Z, y, A, delta, w, label_smoothing=ls)
    assert gradcheck.relative_error(delta, numeric) < 1e-6
    probabilities = rng.uniform(0.05, 0.95, (N, K))
    g = lambda: backend.binary_cross_entropy(probabilities, y, None, w, label_smoothing=ls)  # noqa: E731
    numeric = gradcheck.central_difference(g, probabilities)
    dA = np.full_like(probabilities, np.nan)
    backend.binary_cross_entropy(probabilities, y, dA, w, label_smoothing=ls)
    assert gradcheck.relative_error(dA, numeric) < 1e-6


@pytest.mark.parametrize("n, k", [(1, 1), (7, 3), (13, 33)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mae_and_huber_values(backend, dtype, close, n, k, weighted):
    rng = np.random.default_rng(n + k)
    A = (2 * rng.standard_normal((n, k))).astype(dtype)
    y = rng.standard_normal((n, k)).astype(dtype)
    w = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    A64, y64 = A.astype(np.float64), y.astype(np.float64)
    r = A64 - y64
    dA = np.full_like(A, np.nan)
    L = backend.mean_absolute_error(A, y, dA, w)
    close(L, np.dot(w64, keras_mae(A64, y64)) / n, dtype, "MAE")
    close(dA, w64[:, None] * np.sign(r) / (n * k), dtype, "MAE dA = w sign(r)/(n k)")
    for delta in (1.0, 0.25, 10.0):
        L = backend.huber(A, y, dA, w, delta=delta)
        close(L, np.dot(w64, keras_huber(A64, y64, delta)) / n, dtype, f"Huber δ={delta}")
        close(dA, w64[:, None] * np.clip(r, -delta, delta) / (n * k), dtype, f"Huber dA, δ={delta}")
    assert backend.huber(A, y, None, w) == backend.huber(A, y, None, w, delta=1.0)   # Keras' default δ = 1


def test_mae_and_huber_by_hand(backend):
    """Keras' own docstring examples: huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = 0.155;
    MAE of the same is ((0.6 + 0.6)/2 + (0.4 + 0.6)/2)/2 = 0.55; a residual at exactly 0 gives
    dA = 0 for MAE."""
    y = np.array([[0.0, 1.0], [0.0, 0.0]])
    A = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert backend.huber(A, y) == pytest.approx(0.155, rel=1e-12)
    assert backend.mean_absolute_error(A, y) == pytest.approx(0.55, rel=1e-12)
    dA = np.full((1, 3), np.nan)
    L = backend.mean_absolute_error(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0, 4.0]]), dA)
    assert L == pytest.approx(2 / 3)
    np.testing.assert_array_equal(dA, [[0.0, 1 / 3, -1 / 3]])
    # far beyond δ the slope is δ: r = 5, δ = 2 → E = 2·5 − 2 = 8, dA = 2
    dA = np.empty((1, 1))
    assert backend.huber(np.array([[5.0]]), np.array([[0.0]]), dA, delta=2.0) == 8.0
    assert dA[0, 0] == 2.0


@pytest.mark.parametrize("kind", ["ids", "onehot", "soft"])
@pytest.mark.parametrize("ls", [0.1, 0.3])
@pytest.mark.parametrize("k", [1, 2, 10, 17])
def test_smoothed_categorical_values(backend, dtype, close, kind, ls, k):
    """E_b = −Σ_k y'_k log softmax(z)_k with y' = y(1 − ls) + ls/k;  δ = w (P·Σy' − y')/n."""
    rng = np.random.default_rng(k)
    n = 9
    Z = (2 * rng.standard_normal((n, k))).astype(dtype)
    y = targets(rng, kind, n, k)
    if kind != "ids":
        y = y.astype(dtype)
    w = rng.uniform(0, 2, n).astype(dtype)
    Y = as_rows(y, k).astype(np.float64) * (1 - ls) + ls / k
    log_P = log_softmax(Z.astype(np.float64), axis=1)
    P, delta = np.full_like(Z, np.nan), np.full_like(Z, np.nan)
    L = backend.softmax_cross_entropy(Z, y, P, delta, w, label_smoothing=ls)
    w64 = w.astype(np.float64)
    close(L, np.dot(w64, -(Y * log_P).sum(axis=1)) / n, dtype, "smoothed CE")
    close(P, np.exp(log_P), dtype, "P")
    close(delta, w64[:, None] * (np.exp(log_P) * Y.sum(axis=1, keepdims=True) - Y) / n, dtype, "δ")


@pytest.mark.parametrize("ls", [0.1, 0.4])
def test_smoothed_binary_values(backend, dtype, close, ls):
    """t = y(1 − ls) + ls/2 in the place of y, from the logits and from the (clipped) probabilities."""
    rng = np.random.default_rng(25)
    n, k = 8, 3
    Z = (3 * rng.standard_normal((n, k))).astype(dtype)
    y = rng.integers(0, 2, (n, k)).astype(dtype)
    t = y.astype(np.float64) * (1 - ls) + ls / 2
    A64 = expit(Z.astype(np.float64))
    A, delta = np.full_like(Z, np.nan), np.full_like(Z, np.nan)
    L = backend.sigmoid_binary_cross_entropy(Z, y, A, delta, None, label_smoothing=ls)
    close(L, -(t * np.log(A64) + (1 - t) * np.log(1 - A64)).mean(), dtype, "smoothed sigmoid BCE")
    close(delta, (A64 - t) / (n * k), dtype, "δ = (σ(z) − t)/(n k)")
    probabilities = rng.uniform(0.01, 0.99, (n, k)).astype(dtype)
    p64 = probabilities.astype(np.float64)
    dA = np.full_like(Z, np.nan)
    L = backend.binary_cross_entropy(probabilities, y, dA, None, label_smoothing=ls)
    close(L, -(t * np.log(p64) + (1 - t) * np.log(1 - p64)).mean(), dtype, "smoothed BCE")
    close(dA, (p64 - t) / (p64 * (1 - p64) * n * k), dtype, "dA")


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "binary_cross_entropy"])
def test_label_smoothing_zero_is_the_plain_loss(backend, dtype, loss):
    rng = np.random.default_rng(26)
    Z = rng.uniform(0.05, 0.95, (6, 4)).astype(dtype)
    y = rng.integers(0, 4, 6) if loss == "softmax_cross_entropy" else rng.integers(0, 2, (6, 4)).astype(dtype)
    outs = [np.empty_like(Z) for _ in range(4)]
    L1 = call(backend, loss, Z, y, outs[0], outs[1], None)
    L2 = call(backend, loss, Z, y, outs[2], outs[3], None, label_smoothing=0.0)
    assert L1 == L2
    np.testing.assert_array_equal(outs[1], outs[3])


def test_smoothed_cross_entropy_with_huge_logits(backend, dtype):
    """Smoothing puts weight on every class, so a class with logit −1e4 costs ls/k·2e4: finite, and
    δ = P − y' stays finite."""
    Z = np.array([[1e4, -1e4, 0.0]], dtype)
    P, delta = np.empty_like(Z), np.full_like(Z, np.nan)
    ls = 0.3
    L = backend.softmax_cross_entropy(Z, np.array([0]), P, delta, label_smoothing=ls)
    assert L == pytest.approx(ls / 3 * (2e4 + 1e4), rel=1e-6)
    np.testing.assert_allclose(delta, [[1 - (1 - ls) - ls / 3, -ls / 3, -ls / 3]], rtol=1e-6)
    A, d = np.empty_like(Z), np.empty_like(Z)
    L = backend.sigmoid_binary_cross_entropy(Z, np.array([[1.0, 0.0, 1.0]], dtype), A, d, label_smoothing=ls)
    assert np.isfinite(L) and np.all(np.isfinite(d))
