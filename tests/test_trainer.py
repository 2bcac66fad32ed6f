"""The compiled Trainer against the NumPy Trainer: the same training, step for step.

Both get identical copies of a small network (5 → 7 → 6 → 4 Dense layers) and the
same data and sample order; after two epochs of mini-batch SGD (momentum,
Nesterov, learning-rate decay) every batch loss, weight, velocity, gradient and
workspace must agree, also when the compiled Trainer shares each batch between
two worker threads. Every loss kind, both dtypes, odd batch sizes: 1, sizes that
leave a last partial batch, the whole set in one batch, a batch larger than the set.
A non-finite loss stops training at that batch, which is not applied.
"""
import numpy as np
import pytest

from fastnn.backend import get_backend

N_SAMPLES, SIZES = 23, (5, 7, 6, 4)

# loss: (output activation, target kinds it takes)
LOSSES = {
    "softmax_cross_entropy": ("softmax", ("ids", "onehot")),
    "focal_cross_entropy": ("softmax", ("ids", "soft")),
    "sigmoid_binary_cross_entropy": ("sigmoid", ("binary",)),
    "binary_cross_entropy": ("sigmoid", ("binary",)),
    "mean_squared_error": ("linear", ("real",)),
}
HIDDEN = {"softmax_cross_entropy": ("tanh", "relu"), "focal_cross_entropy": ("sigmoid", "tanh"),
          "sigmoid_binary_cross_entropy": ("relu", "hard_sigmoid"), "binary_cross_entropy": ("tanh", "sigmoid"),
          "mean_squared_error": ("hard_sigmoid", "tanh")}
CASES = [(loss, target) for loss, (_, targets) in LOSSES.items() for target in targets]


def make_layers(rng, dtype, batch_size, bias=True):
    """One (W, b, vW, vb, dW, db, Z, A, delta) tuple per layer, velocities starting at 0."""
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
        b = (0.1 * rng.standard_normal(n_out)).astype(dtype) if bias else None
        vW, dW = np.zeros_like(W), np.zeros_like(W)
        vb, db = (np.zeros_like(b), np.zeros_like(b)) if bias else (None, None)
        Z, A, delta = (np.zeros((batch_size, n_out), dtype) for _ in range(3))
        layers.append((W, b, vW, vb, dW, db, Z, A, delta))
    return layers


def copy_layers(layers):
    return [tuple(None if a is None else a.copy() for a in layer) for layer in layers]


def make_data(rng, loss, target, dtype, n=N_SAMPLES):
    k = SIZES[-1]
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    ids = rng.integers(0, k, n).astype(np.intp)
    if target == "ids":
        return X, ids, None
    Y = {"onehot": np.eye(k)[ids], "soft": rng.dirichlet(np.ones(k), n),
         "binary": rng.integers(0, 2, (n, k)), "real": rng.standard_normal((n, k))}[target]
    return X, None, np.ascontiguousarray(Y, dtype=dtype)


def build(backend_name, layers, loss, batch_size, dtype, gamma=2.0, alpha=None, hidden=("tanh", "relu"),
          n_workers=1):
    backend = get_backend(backend_name)
    activations = [*hidden, LOSSES[loss][0]]
    X_buffer = np.zeros((batch_size, SIZES[0]), dtype)
    workers = {} if n_workers == 1 else dict(n_workers=n_workers)     # the compiled Trainer's data parallelism
    return backend.Trainer(X_buffer, layers, activations, loss, gamma=gamma, alpha=alpha, **workers), X_buffer


def run_epochs(trainer, X, labels, Y, w, orders, batch_size, accuracy, n_batches=None, **hyper):
    """Train one epoch per order; returns everything train() reported."""
    iteration, reports = 3, []                  # the optimizer's step count t starts at 3: decay applies
    for order in orders:
        total = -(-len(order) // batch_size)
        count = total if n_batches is None else n_batches
        losses = np.full(total, -1.0)
        done, iteration, hits, counted = trainer.train(X, labels, Y, w, order, 0, count, hyper["learning_rate"],
                                                       hyper["decay"], hyper["momentum"], hyper["nesterov"],
                                                       iteration, losses, accuracy)
        reports.append((done, iteration, hits, counted, losses))
    return reports


HYPER = dict(learning_rate=0.1, decay=0.05, momentum=0.9, nesterov=True)


@pytest.mark.parametrize("loss, target", CASES)
@pytest.mark.parametrize("batch_size", [1, 5, 7, 23, 30])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_workers", [1, 2], ids=["1-worker", "2-workers"])
def test_compiled_trainer_matches_numpy_trainer(dtype, close, loss, target, batch_size, weighted, n_workers):
    rng = np.random.default_rng(batch_size * 10 + len(loss) + len(target))
    X, labels, Y = make_data(rng, loss, target, dtype)
    w = rng.uniform(0.2, 2.0, N_SAMPLES).astype(dtype) if weighted else None
    orders = [rng.permutation(N_SAMPLES).astype(np.intp) for _ in range(2)]
    accuracy = {"softmax": 1, "sigmoid": 2}.get(LOSSES[loss][0], 0)
    focal = dict(gamma=0.5, alpha=list(rng.uniform(0.2, 1.0, SIZES[-1]))) if loss == "focal_cross_entropy" else {}
    hyper = dict(HYPER, nesterov=batch_size % 2 == 1, momentum=0.0 if batch_size == 23 else 0.9)
    layers = make_layers(rng, dtype, batch_size)
    results = {}
    for name in ("compiled", "numpy"):
        own = copy_layers(layers)
        trainer, X_buffer = build(name, own, loss, batch_size, dtype, hidden=HIDDEN[loss],
                                  n_workers=n_workers if name == "compiled" else 1, **focal)
        reports = run_epochs(trainer, X, labels, Y, w, orders, batch_size, accuracy, **hyper)
        results[name] = own, reports, trainer.last_batch_size, X_buffer
    (c_layers, c_reports, c_last, c_X), (r_layers, r_reports, r_last, r_X) = results["compiled"], results["numpy"]

    n_batches = -(-N_SAMPLES // batch_size)
    last = N_SAMPLES - (n_batches - 1) * batch_size
    assert c_last == r_last == last
    for epoch, (c, r) in enumerate(zip(c_reports, r_reports)):
        assert c[:4] == r[:4], f"epoch {epoch}: (steps, iteration, hits, counted)"
        assert c[0] == n_batches and c[1] == 3 + (epoch + 1) * n_batches
        if accuracy:
            assert c[3] == N_SAMPLES * (1 if accuracy == 1 else SIZES[-1])
        assert np.all(np.isfinite(c[4]))
        close(c[4], r[4], dtype, f"epoch {epoch}: batch losses")
    close(c_X[:last], r_X[:last], dtype, "the last batch, gathered")
    slots = ("W", "b", "vW", "vb", "dW", "db", "Z", "A", "delta")
    for l, (c_layer, r_layer) in enumerate(zip(c_layers, r_layers)):
        for slot, c, r in zip(slots, c_layer, r_layer):
            rows = slice(0, last) if slot in ("Z", "A", "delta") else slice(None)   # the last batch's rows
            close(c[rows], r[rows], dtype, f"layer {l}: {slot}")
    assert not np.allclose(c_layers[0][0], layers[0][0]), "the weights did not move"


@pytest.mark.parametrize("name", ["compiled", "numpy"])
def test_layers_without_bias(dtype, close, name):
    """b, vb, db all None: the layer is trained without a bias."""
    rng = np.random.default_rng(5)
    X, labels, Y = make_data(rng, "softmax_cross_entropy", "ids", dtype)
    layers = make_layers(rng, dtype, 4, bias=False)
    results = []
    for backend in ("compiled", "numpy"):
        own = copy_layers(layers)
        trainer, _ = build(backend, own, "softmax_cross_entropy", 4, dtype)
        run_epochs(trainer, X, labels, Y, None, [np.arange(N_SAMPLES, dtype=np.intp)], 4, 0, **HYPER)
        results.append(own)
    for c_layer, r_layer in zip(*results):
        assert c_layer[1] is None
        close(c_layer[0], r_layer[0], dtype, "W")


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")     # the NumPy Trainer meets the NaN too
@pytest.mark.parametrize("name, n_workers", [("compiled", 1), ("compiled", 2), ("numpy", 1)])
@pytest.mark.parametrize("loss, target", CASES)
@pytest.mark.parametrize("poison", [np.nan, np.inf])
@pytest.mark.parametrize("position", [0, 9, 22])
def test_non_finite_loss_stops_before_its_update(dtype, name, n_workers, loss, target, poison, position):
    """A sample with a NaN/inf feature makes its batch's loss non-finite (relu lets inf through):
    train() stops there, reports the steps done, and leaves the weights as they were after the
    previous batch."""
    batch_size = 4
    rng = np.random.default_rng(position)
    X, labels, Y = make_data(rng, loss, target, dtype)
    order = rng.permutation(N_SAMPLES).astype(np.intp)
    X[order[position], 2] = poison
    bad = position // batch_size
    total = -(-N_SAMPLES // batch_size)
    layers = make_layers(rng, dtype, batch_size)

    stopped, clean = copy_layers(layers), copy_layers(layers)
    trainer, _ = build(name, stopped, loss, batch_size, dtype, hidden=("relu", "relu"), n_workers=n_workers)
    losses = np.full(total, -1.0)
    done, iteration, _, _ = trainer.train(X, labels, Y, None, order, 0, total, 0.1, 0.0, 0.9, False, 0, losses)
    assert done == bad and iteration == bad
    assert np.all(np.isfinite(losses[:bad])) and not np.isfinite(losses[bad])
    np.testing.assert_array_equal(losses[bad + 1:], -1.0)     # nothing after the bad batch ran
    assert trainer.last_batch_size == (batch_size if bad > 0 else 0)

    # the same run, told to stop before the bad batch
    reference, _ = build(name, clean, loss, batch_size, dtype, hidden=("relu", "relu"), n_workers=n_workers)
    clean_losses = np.full(total, -1.0)
    assert reference.train(X, labels, Y, None, order, 0, bad, 0.1, 0.0, 0.9, False, 0, clean_losses)[0] == bad
    np.testing.assert_array_equal(losses[:bad], clean_losses[:bad])
    for stopped_layer, clean_layer in zip(stopped, clean):
        for slot, s, c in zip(("W", "b", "vW", "vb"), stopped_layer[:4], clean_layer[:4]):
            np.testing.assert_array_equal(s, c, err_msg=f"{slot} changed by the non-finite batch")
            assert np.all(np.isfinite(s))


def test_batches_can_be_run_in_pieces(dtype):
    """Running batches 0-1 then 2-5 is the same as running 0-5 in one call (first_batch, n_batches)."""
    rng = np.random.default_rng(2)
    X, labels, Y = make_data(rng, "softmax_cross_entropy", "ids", dtype)
    order = rng.permutation(N_SAMPLES).astype(np.intp)
    layers = make_layers(rng, dtype, 4)
    whole, pieces = copy_layers(layers), copy_layers(layers)
    t1, _ = build("compiled", whole, "softmax_cross_entropy", 4, dtype)
    all_losses = np.zeros(6)
    t1.train(X, labels, None, None, order, 0, 6, 0.1, 0.01, 0.9, True, 0, all_losses)
    t2, _ = build("compiled", pieces, "softmax_cross_entropy", 4, dtype)
    first, rest = np.zeros(2), np.zeros(4)
    _, iteration, _, _ = t2.train(X, labels, None, None, order, 0, 2, 0.1, 0.01, 0.9, True, 0, first)
    assert iteration == 2
    t2.train(X, labels, None, None, order, 2, 4, 0.1, 0.01, 0.9, True, iteration, rest)
    np.testing.assert_array_equal(np.concatenate([first, rest]), all_losses)
    last_n = t2.last_batch_size                 # 3 of 23 samples: rows 3.. of Z, A and δ are older
    for a, b in zip(whole, pieces):
        for name, x, y in zip(("W", "b", "vW", "vb", "dW", "db", "Z", "A", "delta"), a, b):
            # Z is stored only by the last step of a call (before it, relu and linear layers
            # store A := g(I·W + b) straight from the product), so only the last batch's rows agree
            if name == "Z":
                x, y = x[:last_n], y[:last_n]
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("name", ["compiled", "numpy"])
def test_fused_losses_need_their_output_activation(name, dtype):
    layers = make_layers(np.random.default_rng(0), dtype, 3)
    backend = get_backend(name)
    for loss, wrong in (("softmax_cross_entropy", "sigmoid"), ("focal_cross_entropy", "linear"),
                        ("sigmoid_binary_cross_entropy", "softmax")):
        with pytest.raises(ValueError, match="fused"):
            backend.Trainer(np.zeros((3, SIZES[0]), dtype), layers, ["tanh", "tanh", wrong], loss)
    with pytest.raises(ValueError, match="unknown loss"):
        backend.Trainer(np.zeros((3, SIZES[0]), dtype), layers, ["tanh", "tanh", "linear"], "hinge")


# ---------------------------------------------------------------- Keras 3's activations and losses
# (loss kind, targets, output activation, hidden activations, the loss's Trainer keywords)
KERAS_CASES = [
    ("mean_absolute_error", "real", "linear", ("elu", "gelu"), {}),
    ("huber", "real", "tanh", ("selu", "softplus"), dict(huber_delta=0.5)),
    ("softmax_cross_entropy", "ids", "softmax", ("leaky_relu", "silu"), dict(label_smoothing=0.1)),
    ("softmax_cross_entropy", "onehot", "linear", ("softsign", "swish"), dict(from_logits=True, label_smoothing=0.2)),
    ("softmax_cross_entropy", "soft", "linear", ("gelu", "leaky_relu"), dict(from_logits=True)),
    ("focal_cross_entropy", "ids", "linear", ("gelu", "elu"), dict(from_logits=True, gamma=1.0)),
    ("sigmoid_binary_cross_entropy", "binary", "linear", ("silu", "selu"), dict(from_logits=True, label_smoothing=0.1)),
    ("sigmoid_binary_cross_entropy", "binary", "sigmoid", ("leaky_relu", "softsign"), dict(label_smoothing=0.3)),
    ("binary_cross_entropy", "binary", "sigmoid", ("elu", "tanh"), dict(label_smoothing=0.1)),
]


@pytest.mark.parametrize("loss, target, output, hidden, keywords", KERAS_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{'-'.join(c[3])}" for c in KERAS_CASES])
@pytest.mark.parametrize("batch_size", [1, 7, 23])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("workers", [(1, "batch"), (2, "batch"), (2, "units")],
                         ids=["1-worker", "2-by-batch", "2-by-units"])
def test_keras_activations_and_losses_match_numpy_trainer(dtype, close, loss, target, output, hidden, keywords,
                                                          batch_size, weighted, workers):
    """The new activations (forward and derivative) and losses (MAE, Huber, label smoothing,
    from_logits) inside the compiled loop, step for step against the NumPy Trainer; from the
    logits, the output layer's A is its Z and the accuracy counts the loss's probabilities."""
    rng = np.random.default_rng(batch_size + len(loss) + len(output))
    X, labels, Y = make_data(rng, loss, target, dtype)
    w = rng.uniform(0.2, 2.0, N_SAMPLES).astype(dtype) if weighted else None
    orders = [rng.permutation(N_SAMPLES).astype(np.intp) for _ in range(2)]
    accuracy = 2 if "binary" in loss else (1 if "softmax" in loss or "focal" in loss else 0)
    layers = make_layers(rng, dtype, batch_size)
    n_workers, split = workers
    hyper = dict(HYPER, learning_rate=0.03)     # from the logits at 0.1, batches of 1 run away in float32
    results = {}
    for name in ("compiled", "numpy"):
        own = copy_layers(layers)
        X_buffer = np.zeros((batch_size, SIZES[0]), dtype)
        extra = dict(n_workers=n_workers, split=split) if name == "compiled" else {}
        trainer = get_backend(name).Trainer(X_buffer, own, [*hidden, output], loss, **keywords, **extra)
        reports = run_epochs(trainer, X, labels, Y, w, orders, batch_size, accuracy, **hyper)
        results[name] = own, reports
    (c_layers, c_reports), (r_layers, r_reports) = results["compiled"], results["numpy"]
    last = N_SAMPLES - (-(-N_SAMPLES // batch_size) - 1) * batch_size
    for epoch, (c, r) in enumerate(zip(c_reports, r_reports)):
        assert c[:4] == r[:4], f"epoch {epoch}: (steps, iteration, hits, counted)"
        close(c[4], r[4], dtype, f"epoch {epoch}: batch losses")
    slots = ("W", "b", "vW", "vb", "dW", "db", "Z", "A", "delta")
    for l, (c_layer, r_layer) in enumerate(zip(c_layers, r_layers)):
        for slot, c, r in zip(slots, c_layer, r_layer):
            rows = slice(0, last) if slot in ("Z", "A", "delta") else slice(None)
            close(c[rows], r[rows], dtype, f"layer {l}: {slot}")
    if keywords.get("from_logits"):          # the output shows the logits, as predict returns them
        np.testing.assert_array_equal(c_layers[-1][7][:last], c_layers[-1][6][:last])
    if accuracy:
        assert c_reports[0][2] > 0
    assert not np.allclose(c_layers[0][0], layers[0][0]), "the weights did not move"


@pytest.mark.parametrize("name", ["compiled", "numpy"])
def test_loss_parameters_of_the_trainer(name, dtype):
    layers = make_layers(np.random.default_rng(0), dtype, 3)
    backend = get_backend(name)
    X_buffer = np.zeros((3, SIZES[0]), dtype)
    for keywords, message in ((dict(label_smoothing=-0.1), "label_smoothing"),
                              (dict(label_smoothing=1.0), "label_smoothing"), (dict(huber_delta=0.0), "huber_delta")):
        with pytest.raises(ValueError, match=message):
            backend.Trainer(X_buffer, layers, ["tanh", "tanh", "softmax"], "softmax_cross_entropy", **keywords)
    with pytest.raises(ValueError, match="fused with a linear output"):       # from the logits: a linear output
        backend.Trainer(X_buffer, layers, ["tanh", "tanh", "softmax"], "softmax_cross_entropy", from_logits=True)
