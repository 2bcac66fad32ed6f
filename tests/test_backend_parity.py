"""The compiled backend and the NumPy reference: same functions, same signatures, same values.

Values are compared on random inputs in float32 and float64, over odd shapes:
a batch of 1, sizes that are not multiples of 8 (7, 13, 33), and very wide and
very narrow layers (1 → 300, 300 → 1) beside the course's MNIST net (784 → 64 → 10).
"""
import inspect
import re

import numpy as np
import pytest

from fastnn.backend import compiled_backend, get_backend, numpy_backend

# Compiled-only helpers with no textbook counterpart. Keep this list short and explicit:
# gemm_floor runs only the BLAS products of an epoch, a floor for the benchmarks.
COMPILED_ONLY = {"gemm_floor"}
FUNCTIONS = [name for name in compiled_backend.__all__
             if inspect.isroutine(getattr(compiled_backend, name)) and name not in COMPILED_ONLY]
BATCHES = [1, 7, 13, 33]
LAYERS = [(1, 300), (300, 1), (7, 13), (13, 7), (33, 33), (784, 64), (64, 10)]
WIDTHS = [1, 2, 7, 13, 33, 300]


# ---------------------------------------------------------------- signatures


def test_every_function_exists_in_both_backends():
    assert len(FUNCTIONS) >= 12
    missing = {name for name in compiled_backend.__all__ if not hasattr(numpy_backend, name)}
    assert missing == COMPILED_ONLY, f"numpy_backend lacks {sorted(missing - COMPILED_ONLY)}"
    assert get_backend("compiled").name == "compiled" and get_backend("numpy").name == "numpy"
    with pytest.raises(ValueError, match="backend"):
        get_backend("fortran")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signatures_match(name):
    compiled_sig = inspect.signature(getattr(compiled_backend, name))
    reference_sig = inspect.signature(getattr(numpy_backend, name))
    assert compiled_sig == reference_sig, f"{name}: compiled {compiled_sig} vs numpy {reference_sig}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_reference_documents_its_formula(name):
    doc = inspect.getdoc(getattr(numpy_backend, name))
    assert doc and (":=" in doc or "E_b" in doc), f"numpy_backend.{name} should state its formula"


def test_trainer_interfaces_match():
    assert compiled_backend.LOSS_KINDS == numpy_backend.LOSS_KINDS
    assert compiled_backend.ACCURACY_KINDS == numpy_backend.ACCURACY_KINDS
    assert inspect.signature(compiled_backend.Trainer.train) == inspect.signature(numpy_backend.Trainer.train)
    # the compiled constructor (of a cdef class) has no introspectable signature: compare the
    # reference's parameters with the ones the compiled docstring documents, then call both with
    # the reference's parameter names as keywords, leaving the defaulted ones out
    params = inspect.signature(numpy_backend.Trainer.__init__).parameters
    documented = re.findall(r"^    (\w+(?:, \w+)*) :", compiled_backend.Trainer.__doc__, re.M)
    assert [name for names in documented for name in names.split(", ")] == list(params)[1:]
    layer = (np.zeros((2, 3)), np.zeros(3), np.zeros((2, 3)), np.zeros(3), np.zeros((2, 3)), np.zeros(3),
             np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((4, 3)))
    for trainer in (compiled_backend.Trainer, numpy_backend.Trainer):
        t = trainer(X_buffer=np.zeros((4, 2)), layers=[layer], activations=["softmax"],
                    loss="softmax_cross_entropy")
        assert t.last_batch_size == 0
        trainer(X_buffer=np.zeros((4, 2)), layers=[layer], activations=["softmax"],
                loss="focal_cross_entropy", gamma=2.0, alpha=[1.0, 2.0, 3.0])


# ---------------------------------------------------------------- values


def both(compiled_call, reference_call):
    """Run one call on each backend; returns their results."""
    return compiled_call(compiled_backend), reference_call(numpy_backend)


@pytest.mark.parametrize("n_b", BATCHES)
@pytest.mark.parametrize("n_i, n_o", LAYERS)
def test_dense(dtype, close, n_b, n_i, n_o):
    rng = np.random.default_rng(n_b * n_i + n_o)
    X = rng.standard_normal((n_b, n_i)).astype(dtype)
    W = (rng.standard_normal((n_i, n_o)) / np.sqrt(n_i)).astype(dtype)
    b = rng.standard_normal(n_o).astype(dtype)
    delta = rng.standard_normal((n_b, n_o)).astype(dtype)
    out = {}
    for backend in (compiled_backend, numpy_backend):
        Z = np.full((n_b, n_o), np.nan, dtype)
        dW, db, dX = np.full_like(W, np.nan), np.full_like(b, np.nan), np.full_like(X, np.nan)
        backend.dense_forward(X, W, b, Z)
        backend.dense_backward(X, W, delta, dW, db, dX)
        out[backend.name] = Z, dW, db, dX
    for label, c, r in zip(("Z", "dW", "db", "dX"), out["compiled"], out["numpy"]):
        assert c.dtype == dtype
        close(c, r, dtype, label)


@pytest.mark.parametrize("m, k, n", [(1, 300, 1), (300, 1, 7), (13, 33, 7), (64, 784, 10)])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul(dtype, close, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m + k + n)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    results = []
    for backend in (compiled_backend, numpy_backend):
        C = C0.copy()
        backend.matmul(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=0.7, beta=-1.5)
        results.append(C)
    close(*results, dtype, "C")


ACTIVATIONS = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax",
               "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign")


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("n_b", BATCHES)
@pytest.mark.parametrize("width", WIDTHS)
def test_activations(dtype, close, name, n_b, width):
    rng = np.random.default_rng(n_b * width)
    Z = (3 * rng.standard_normal((n_b, width))).astype(dtype)
    Z[0, 0] = 0                                   # the kinks, where both backends pick the same side
    if Z.size > 2:
        Z.flat[1], Z.flat[2] = -1, 1
    dA = rng.standard_normal((n_b, width)).astype(dtype)
    out = {}
    for backend in (compiled_backend, numpy_backend):
        A, delta, deriv = (np.full_like(Z, np.nan) for _ in range(3))
        backend.activation_forward(name, Z, A)
        backend.activation_backward(name, Z, A, dA, delta)
        if name != "softmax":
            backend.activation_derivative(name, Z, A, deriv)
        out[backend.name] = A, delta, deriv
    for label, c, r in zip(("A", "delta", "derivative"), out["compiled"], out["numpy"]):
        close(c, r, dtype, f"{name}: {label}")


LOSS_CASES = [  # (loss, targets, weighted, keywords: focal parameters, label smoothing, Huber's delta)
    ("softmax_cross_entropy", "ids", False, {}),
    ("softmax_cross_entropy", "onehot", True, {}),
    ("softmax_cross_entropy", "soft", True, {}),
    ("focal_cross_entropy", "ids", False, {}),
    ("focal_cross_entropy", "ids", True, dict(gamma=0.5, alpha=0.25)),
    ("focal_cross_entropy", "onehot", False, dict(gamma=5.0, alpha="per-class")),
    ("focal_cross_entropy", "soft", True, dict(gamma=1.0)),
    ("focal_cross_entropy", "ids", True, dict(gamma=2.0, alpha=0.25, label_smoothing=0.1)),
    ("focal_cross_entropy", "onehot", False, dict(gamma=0.0, label_smoothing=0.2)),
    ("focal_cross_entropy", "soft", False, dict(gamma=3.0, alpha="per-class", label_smoothing=0.4)),
    ("sigmoid_binary_cross_entropy", "binary", False, {}),
    ("sigmoid_binary_cross_entropy", "soft", True, {}),
    ("binary_cross_entropy", "binary", True, {}),
    ("binary_cross_entropy", "soft", False, {}),
    ("mean_squared_error", "real", False, {}),
    ("mean_squared_error", "real", True, {}),
    ("softmax_cross_entropy", "ids", True, dict(label_smoothing=0.1)),
    ("softmax_cross_entropy", "onehot", False, dict(label_smoothing=0.5)),
    ("softmax_cross_entropy", "soft", True, dict(label_smoothing=0.2)),
    ("sigmoid_binary_cross_entropy", "binary", True, dict(label_smoothing=0.1)),
    ("sigmoid_binary_cross_entropy", "soft", False, dict(label_smoothing=0.6)),
    ("binary_cross_entropy", "binary", False, dict(label_smoothing=0.2)),
    ("binary_cross_entropy", "soft", True, dict(label_smoothing=0.05)),
    ("mean_absolute_error", "real", False, {}),
    ("mean_absolute_error", "real", True, {}),
    ("huber", "real", False, {}),
    ("huber", "real", True, dict(delta=0.3)),
    ("huber", "real", True, dict(delta=4.0)),
]
OUTPUT_LOSSES = ("binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber")


def loss_inputs(rng, loss, target, weighted, n, k, dtype):
    Z = (3 * rng.standard_normal((n, k))).astype(dtype)
    if loss == "binary_cross_entropy":
        Z = rng.uniform(0, 1, (n, k)).astype(dtype)
        Z.flat[::5] = 0                          # some probabilities at the clip
        Z.flat[1::7] = 1
    ids = rng.integers(0, k, n)
    y = {"ids": ids, "onehot": np.eye(k, dtype=dtype)[ids], "soft": rng.random((n, k)).astype(dtype),
         "binary": rng.integers(0, 2, (n, k)).astype(dtype),
         "real": rng.standard_normal((n, k)).astype(dtype)}[target]
    w = rng.uniform(0, 3, n).astype(dtype) if weighted else None
    return Z, y, w


@pytest.mark.parametrize("loss, target, weighted, focal", LOSS_CASES)
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("k", [1, 2, 7, 10, 33])
def test_losses(dtype, close, loss, target, weighted, focal, n, k):
    rng = np.random.default_rng(n * 100 + k)
    Z, y, w = loss_inputs(rng, loss, target, weighted, n, k, dtype)
    if focal.get("alpha") == "per-class":
        focal = dict(focal, alpha=list(rng.uniform(0.1, 1, k)))
    results = {}
    for backend in (compiled_backend, numpy_backend):
        f = getattr(backend, loss)
        out, grad = np.full_like(Z, np.nan), np.full_like(Z, np.nan)
        if loss in OUTPUT_LOSSES:
            L = f(Z, y, grad, w, **focal)
        else:
            L = f(Z, y, out, grad, w, **focal)
        assert isinstance(L, float)
        results[backend.name] = L, out, grad
    (Lc, out_c, grad_c), (Lr, out_r, grad_r) = results["compiled"], results["numpy"]
    close(Lc, Lr, dtype, f"{loss}: loss")
    close(grad_c, grad_r, dtype, f"{loss}: gradient")
    np.testing.assert_array_equal(np.isnan(out_c), np.isnan(out_r))
    if not np.all(np.isnan(out_r)):
        close(out_c, out_r, dtype, f"{loss}: P or A")


@pytest.mark.parametrize("shape", [(1,), (7,), (13, 33), (1, 300), (300, 1), (784, 64)])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update(dtype, close, shape, momentum, nesterov):
    rng = np.random.default_rng(len(shape))
    w0, v0 = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    results = []
    for backend in (compiled_backend, numpy_backend):
        w, v = w0.copy(), v0.copy()
        backend.sgd_update(w, g, v, 0.05, momentum, nesterov)
        results.append((w, v))
    close(results[0][0], results[1][0], dtype, "w")
    close(results[0][1], results[1][1], dtype, "v")


NETWORKS = [  # layer sizes and activations of a whole network, for forward()
    ((784, 64, 10), ("relu", "softmax")),
    ((1, 300, 1), ("tanh", "sigmoid")),
    ((13, 7, 33, 2), ("hard_sigmoid", "step", "linear")),
    ((5, 3), ("softmax",)),
    # rows of 2 KB (512 float32, 256 float64): the compiled scratch pads them by a cache line
    ((20, 512, 256, 4), ("relu", "tanh", "softmax")),
]


@pytest.mark.parametrize("sizes, activations", NETWORKS)
@pytest.mark.parametrize("n", [0, 1, 7, 33])
@pytest.mark.parametrize("chunk, n_workers", [(1024, 1), (3, 1), (1, 2), (5, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_forward(dtype, close, sizes, activations, n, chunk, n_workers, bias):
    """The whole network's outputs in one call: chunked rows, one or two workers, same answer."""
    rng = np.random.default_rng(n + len(sizes))
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    weights = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(b).astype(dtype) if bias else None for b in sizes[1:]]
    results = []
    for backend in (compiled_backend, numpy_backend):
        out = np.full((n, sizes[-1]), np.nan, dtype)
        assert backend.forward(X, weights, biases, list(activations), out, chunk=chunk, n_workers=n_workers) is out
        results.append(out)
    close(*results, dtype, "forward")


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n, width", [(33, 512), (150, 40), (7, 1)])
def test_forward_fuses_bias_and_activation_exactly(activation, bias, n, width):
    """On fastnn's float32 kernel a relu or linear layer adds its bias and applies g as the
    product stores each tile: exactly the product, then Z + b, then g (relu keeps NaN)."""
    from fastnn._kernels import _blas
    rng = np.random.default_rng(n + width)
    X = rng.standard_normal((n, 30)).astype(np.float32)
    X[3 % n, 4] = np.nan
    W = rng.standard_normal((30, width)).astype(np.float32)
    b = rng.standard_normal(width).astype(np.float32) if bias else None
    out = np.empty((n, width), np.float32)
    with pytest.raises(ValueError, match="X holds 1 NaN"):
        compiled_backend.forward(X, [W], [b], [activation], out)
    X[3 % n, 4] = 0
    W[0, 0] = np.nan                                    # a NaN in the product, not in X
    compiled_backend.forward(X, [W], [b], [activation], out)
    Z = np.empty((n, width), np.float32)
    _blas.matmul(X, W, Z)
    if bias:
        Z += b
    expected = np.where(Z < 0, np.float32(0), Z) if activation == "relu" else Z
    if _blas.sgemm_kernel() != "blas":
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert np.isnan(out[:, 0]).all()


@pytest.mark.parametrize("chunk, n_workers", [(1024, 1), (3, 1), (4, 2)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_forward_counts_nonfinite_inputs(dtype, chunk, n_workers, bad):
    """NaN/inf in X is counted exactly, wherever it sits, whichever weight meets it (a zero
    column: inf·0), also when the first layer narrows (the compiled float32 path then checks
    that layer's output first); an overflow inside the network is not X's fault."""
    rng = np.random.default_rng(1)
    sizes = (40, 6, 3)
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    weights[0][:, 2] = 0
    weights[0][7, :] = 0
    biases = [np.zeros(b, dtype) for b in sizes[1:]]
    X = rng.standard_normal((11, 40)).astype(dtype)
    X[0, 0] = X[0, 7] = X[5, 39] = X[10, 7] = bad
    for backend in (compiled_backend, numpy_backend):
        out = np.empty((11, 3), dtype)
        with pytest.raises(ValueError, match="X holds 4 NaN or infinite values"):
            backend.forward(X, weights, biases, ["relu", "softmax"], out, chunk=chunk, n_workers=n_workers)
    huge = np.full((11, 40), np.finfo(dtype).max / 4, dtype)       # finite: Z of layer 1 overflows
    for backend in (compiled_backend, numpy_backend):
        out = np.empty((11, 3), dtype)
        with np.errstate(all="ignore"):
            backend.forward(huge, weights, biases, ["relu", "softmax"], out, chunk=chunk, n_workers=n_workers)


@pytest.mark.parametrize("sizes", [(300, 40, 10), (300, 500, 10), (300, 10)], ids=["narrowing", "widening", "output"])
@pytest.mark.parametrize("chunk, n_workers", [(1024, 1), (37, 1), (64, 2)])
def test_forward_on_mostly_zero_inputs_skips_them_and_still_counts_nonfinite(monkeypatch, sizes, chunk, n_workers):
    """float32 inputs that are mostly zeros (MNIST's pixels) have the first layer's product
    leave out each panel's all-zero columns: the outputs are bit for bit those of the dense
    product, and a NaN or inf in X is still counted exactly, whether the first layer narrows
    (its output is checked first), widens, or is the output layer."""
    from fastnn._kernels import train
    rng = np.random.default_rng(8)
    X = rng.random((301, sizes[0])).astype(np.float32)
    X[X < 0.85] = 0.0
    X[:, :60] = 0.0
    weights = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(b).astype(np.float32) for b in sizes[1:]]
    activations = ["relu"] * (len(weights) - 1) + ["softmax"]
    outs = []
    for share in (train.ZEROS_TO_SKIP, 1.5):          # 1.5: nothing is skipped
        monkeypatch.setattr(train, "ZEROS_TO_SKIP", share)
        assert train._mostly_zeros(X) == (share < 1)
        outs.append(compiled_backend.forward(X, weights, biases, activations, np.empty((301, sizes[-1]), np.float32),
                                             chunk=chunk, n_workers=n_workers))
    np.testing.assert_array_equal(outs[0], outs[1])
    reference = np.empty_like(outs[0])
    numpy_backend.forward(X, weights, biases, activations, reference)
    np.testing.assert_allclose(outs[0], reference, rtol=1e-4, atol=1e-6)
    monkeypatch.setattr(train, "ZEROS_TO_SKIP", 0.5)
    X[3, 100], X[250, 299], X[300, 0] = np.nan, np.inf, -np.inf       # (column 0: zero in every other row)
    with pytest.raises(ValueError, match="X holds 3 NaN or infinite values"):
        compiled_backend.forward(X, weights, biases, activations, np.empty((301, sizes[-1]), np.float32),
                                 chunk=chunk, n_workers=n_workers)


@pytest.mark.parametrize("sizes, activations", [((784, 1024, 1024, 10), ("relu", "linear", "softmax")),
                                                 ((50, 129, 200, 130, 33), ("linear", "relu", "relu", "tanh")),
                                                 ((784, 64, 64, 10), ("relu", "relu", "softmax"))])
@pytest.mark.parametrize("chunk, n_workers", [(140, 1), (37, 1), (64, 2)])
@pytest.mark.parametrize("density", [1.0, 0.2])
def test_forward_with_packed_wide_weights_equals_one_chunk(sizes, activations, chunk, n_workers, density):
    """predict packs the weights of a relu or linear layer wider than 128 units (the first
    layer's over mostly-zero rows when wider than 32, which sparse rows read as strips) once
    per call when more than one chunk reads them (strips of 32 columns, the last zero-padded): the
    outputs are bit for bit those of one chunk (weights read in place), with or without the
    first layer skipping zeros, and agree with the NumPy backend.  (Through BLAS nothing is
    packed, and a product's rounding may depend on its number of rows: close, not equal.)"""
    from fastnn._kernels import _blas
    rng = np.random.default_rng(len(sizes) + chunk)
    X = rng.standard_normal((333, sizes[0])).astype(np.float32)
    X[rng.random(X.shape) > density] = 0.0
    weights = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(b).astype(np.float32) for b in sizes[1:]]
    one_chunk = compiled_backend.forward(X, weights, biases, list(activations), np.empty((333, sizes[-1]), np.float32),
                                         chunk=333, n_workers=1)
    chunked = compiled_backend.forward(X, weights, biases, list(activations), np.empty((333, sizes[-1]), np.float32),
                                       chunk=chunk, n_workers=n_workers)
    if _blas.sgemm_kernel() != "blas":
        np.testing.assert_array_equal(chunked, one_chunk)
    else:       # BLAS: sums of 200 float32 terms of size 1 in another order, about 1e-6 apart
        np.testing.assert_allclose(chunked, one_chunk, rtol=1e-5, atol=1e-5)
    reference = np.empty_like(one_chunk)
    numpy_backend.forward(X, weights, biases, list(activations), reference)
    np.testing.assert_allclose(chunked, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n, widths", [(50, (40, 33, 64)), (7, (17, 5, 3)), (20, (30, 1030, 20))])
def test_relu_gradient_is_applied_as_the_product_stores_delta(n, widths):
    """Backpropagating through a relu layer, fastnn's float32 kernel zeroes δ where the
    layer's A is not above 0 as the product δ_l·W_lᵀ stores each tile: exactly the product,
    then δ ⊙ [Z > 0] (the layers' views after gradients(), weights unchanged)."""
    from fastnn import Sequential
    from fastnn.layers import Dense
    from fastnn._kernels import _blas
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 12)).astype(np.float32)
    y = rng.integers(0, 4, n)
    model = Sequential([Dense(widths[0], activation="relu", input_shape=(12,))]
                       + [Dense(w, activation="relu") for w in widths[1:]] + [Dense(4, activation="softmax")], seed=3)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.gradients(x, y)
    for previous, layer in zip(model.layers[:-1], model.layers[1:]):
        product = np.empty_like(previous.delta)
        _blas.matmul(layer.delta, layer.W, product, trans_b=True)
        expected = np.where(previous.Z > 0, product, np.float32(0))
        assert (previous.Z <= 0).any() and (previous.Z > 0).any()
        if _blas.sgemm_kernel() != "blas":
            np.testing.assert_array_equal(previous.delta, expected)
        else:
            np.testing.assert_allclose(previous.delta, expected, rtol=1e-6, atol=1e-7)
