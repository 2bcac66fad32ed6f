"""Training: learning on real data, the optimizer's formula, History semantics, callbacks,
class weights, focal loss, backends, reproducibility, the layers' δ views, gradcheck."""
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import fastnn
from fastnn import Perceptron, Sequential
from fastnn.callbacks import Callback, EarlyStopping, TerminateOnNaN
from fastnn.layers import Dense
from fastnn.losses import CategoricalFocalCrossentropy
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical


@pytest.fixture(scope="module")
def iris_split():
    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def iris_net(dtype="float32", backend="compiled", loss="categorical_crossentropy", seed=0, lr=0.05):
    model = Sequential([Dense(12, activation="relu", input_shape=(4,)), Dense(6, activation="relu"),
                        Dense(3, activation="softmax")], dtype=dtype, backend=backend, seed=seed)
    model.compile(loss=loss, optimizer=SGD(lr=lr, momentum=0.9), metrics=["accuracy"])
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iris_softmax_network_reaches_95_percent_held_out(iris_split, seed):
    x_train, x_test, y_train, y_test = iris_split
    model = iris_net(seed=seed)
    model.fit(x_train, to_categorical(y_train, 3), batch_size=10, epochs=60, verbose=0)
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 3))
    assert accuracy >= 0.95
    assert accuracy == pytest.approx(np.mean(np.argmax(model.predict(x_test), axis=1) == y_test))


def test_backends_give_the_same_history(iris_split):
    x_train, x_test, y_train, y_test = iris_split
    histories, weights = [], []
    for backend in ("compiled", "numpy"):
        model = iris_net(dtype="float64", backend=backend)
        h = model.fit(x_train, to_categorical(y_train, 3), batch_size=16, epochs=5, seed=3, verbose=0,
                      validation_data=(x_test, to_categorical(y_test, 3)))
        histories.append(h.history)
        weights.append(model.get_weights())
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-10, err_msg=key)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_same_seed_same_history_different_seed_different(iris_split):
    x_train, _, y_train, _ = iris_split
    runs = []
    for seed in (5, 5, 6):
        model = Sequential([Dense(12, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        runs.append((model.fit(x_train, y_train, epochs=3, seed=seed, verbose=0).history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_sgd_momentum_decay_formula_rebuilt_by_hand():
    # one linear unit, mean squared error: ∂L/∂W = 2/n Xᵀ(XW + b − y), ∂L/∂b = 2/n Σ(XW + b − y)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    lr, mu, decay = 0.1, 0.9, 0.5
    for nesterov in (False, True):
        model = Sequential([Dense(1, input_shape=(3,))], dtype="float64", seed=1)
        model.compile(loss="mse", optimizer=SGD(lr=lr, momentum=mu, decay=decay, nesterov=nesterov))
        W, b = model.get_weights()
        vW, vb = np.zeros_like(W), np.zeros_like(b)
        losses = []
        for t in range(4):      # batch_size 3 → two steps per epoch, two epochs, unshuffled
            rows = slice(3 * (t % 2), 3 * (t % 2) + 3)
            r = x[rows] @ W + b - y[rows]
            losses.append(np.mean(r ** 2))
            gW, gb = 2 / 3 * x[rows].T @ r, 2 / 3 * r.sum(axis=0)
            rate = lr / (1 + decay * t)                  # t = updates already made
            vW, vb = mu * vW - rate * gW, mu * vb - rate * gb
            if nesterov:
                W, b = W + mu * vW - rate * gW, b + mu * vb - rate * gb
            else:
                W, b = W + vW, b + vb
        history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
        np.testing.assert_allclose(model.get_weights()[0], W, rtol=1e-12)
        np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-12)
        np.testing.assert_allclose(history.history["loss"], [np.mean(losses[:2]), np.mean(losses[2:])], rtol=1e-12)
        assert model.optimizer.iterations == 4


def test_epoch_loss_is_mean_of_batch_losses_before_each_update(iris_split):
    x_train, _, y_train, _ = iris_split
    y = to_categorical(y_train, 3)
    a, b = iris_net(dtype="float64", seed=4), iris_net(dtype="float64", seed=4)
    history = a.fit(x_train, y, batch_size=25, epochs=1, shuffle=False, verbose=0)   # 105 = 4·25 + 5
    # [loss, accuracy] (Keras 3: a list when metrics were compiled)
    losses = [b.train_on_batch(x_train[i:i + 25], y[i:i + 25])[0] for i in range(0, 105, 25)]
    assert len(losses) == 5
    assert history.history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)


def test_validation_split_holds_out_the_last_samples(iris_split):
    x_train, _, y_train, _ = iris_split
    y = to_categorical(y_train, 3)
    a, b = iris_net(seed=1), iris_net(seed=1)
    ha = a.fit(x_train, y, epochs=2, validation_split=0.2, seed=0, verbose=0)
    hb = b.fit(x_train[:84], y[:84], epochs=2, validation_data=(x_train[84:], y[84:]), seed=0, verbose=0)
    assert ha.history == hb.history
    assert set(ha.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_focal_with_gamma_0_alpha_1_trains_like_cross_entropy(iris_split):
    x_train, _, y_train, _ = iris_split
    y = to_categorical(y_train, 3)
    ce = iris_net(seed=2)
    focal = iris_net(seed=2, loss=CategoricalFocalCrossentropy(gamma=0.0, alpha=None))
    h1 = ce.fit(x_train, y, epochs=3, seed=0, verbose=0)
    h2 = focal.fit(x_train, y, epochs=3, seed=0, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
    for a, b in zip(ce.get_weights(), focal.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert focal.optimizer is not ce.optimizer


def test_focal_loss_value_matches_formula():
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], dtype="float64", seed=0)
    model.compile(loss=CategoricalFocalCrossentropy(gamma=2.0, alpha=[0.25, 0.5, 1.0]))
    x = np.array([[0.5, -1.0], [2.0, 0.3], [-0.4, 0.9]])
    y = np.array([0, 2, 1])
    p = model.predict(x)
    pc = p[np.arange(3), y]
    expected = np.mean(-np.array([0.25, 1.0, 0.5]) * (1 - pc) ** 2 * np.log(pc))
    assert model.evaluate(x, to_categorical(y, 3)) == pytest.approx(expected, rel=1e-12)


def test_balanced_class_weights_match_sklearn_and_weight_the_loss():
    from sklearn.utils.class_weight import compute_class_weight
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 15 + [2] * 5)
    x = rng.standard_normal((60, 4)) + y[:, None]
    alphas = compute_class_weight("balanced", classes=np.arange(3), y=y)
    runs = []
    for cw in ("balanced", dict(enumerate(alphas))):
        model = iris_net(dtype="float64", seed=0)
        runs.append(model.fit(x, to_categorical(y, 3), batch_size=60, epochs=2, class_weight=cw,
                              verbose=0, seed=0).history["loss"])
    assert runs[0] == runs[1]
    # the first batch loss is (1/n) Σ α_{y_b} (−log p_b,y_b) on the initial weights
    model = iris_net(dtype="float64", seed=0)
    p = model.predict(x)
    expected = np.mean(alphas[y] * -np.log(p[np.arange(60), y]))
    assert runs[0][0] == pytest.approx(expected, rel=1e-12)


def test_nan_loss_stops_training_with_a_message():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 5)) * 100, rng.standard_normal((200, 1)) * 100
    model = Sequential([Dense(32, activation="relu", input_shape=(5,)), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=SGD(lr=10.0, momentum=0.9))
    with pytest.warns(RuntimeWarning, match=r"epoch 1, step \d+/20: the loss is (nan|inf)"):
        history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 1
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_early_stopping_restores_best_weights(iris_split):
    x_train, x_test, y_train, y_test = iris_split

    class Snapshots(Callback):
        def on_train_begin(self, logs=None):
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append(self.model.get_weights())

    snaps = Snapshots()
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = iris_net(seed=0, lr=0.5)         # a rate this large makes val_loss bounce
    history = model.fit(x_train, to_categorical(y_train, 3), epochs=200, verbose=0, seed=0,
                        validation_data=(x_test, to_categorical(y_test, 3)), callbacks=[snaps, stop])
    epochs_run = len(history.history["loss"])
    assert epochs_run < 200 and stop.stopped_epoch == epochs_run - 1
    best = int(np.argmin(history.history["val_loss"]))
    assert best == stop.best_epoch and epochs_run - 1 - best == 2
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snaps.weights[best]))


def test_verbose_prints_progress_lines(iris_split, capsys):
    x_train, x_test, y_train, y_test = iris_split
    model = iris_net()
    model.fit(x_train, to_categorical(y_train, 3), epochs=2, verbose=1,
              validation_data=(x_test, to_categorical(y_test, 3)))
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "4/4 [" in out and "loss: " in out and "accuracy: " in out and "val_accuracy: " in out
    model.fit(x_train, to_categorical(y_train, 3), epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_layers_show_the_backward_pass(iris_split):
    """After a step: δ_L = (ŷ − y)/n, dW = Xᵀδ, db = Σδ, δ_l = (δ_{l+1}·Wᵀ) ⊙ g'(Z_l)."""
    x_train, _, y_train, _ = iris_split
    model = iris_net(dtype="float64", seed=0)
    W_before = model.get_weights()
    x, y = x_train[:8], to_categorical(y_train[:8], 3)
    model.train_on_batch(x, y)
    d1, d2, d3 = model.layers
    np.testing.assert_array_equal(d1.X, x)
    np.testing.assert_allclose(d1.Z, x @ W_before[0] + W_before[1], rtol=1e-12)
    np.testing.assert_allclose(d2.X, np.maximum(d1.Z, 0), rtol=1e-12)
    np.testing.assert_allclose(d3.delta, (d3.A - y) / 8, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d2.delta, (d3.delta @ W_before[4].T) * (d2.Z > 0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d1.delta, (d2.delta @ W_before[2].T) * (d1.Z > 0), rtol=1e-12, atol=1e-15)
    for layer in (d1, d2, d3):
        np.testing.assert_allclose(layer.dW, layer.X.T @ layer.delta, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.db, layer.delta.sum(axis=0), rtol=1e-12, atol=1e-15)


def test_perceptron_separates_setosa_from_versicolor():
    x, y = load_iris(return_X_y=True)
    keep = y < 2
    perceptron = Perceptron(learning_rate=1.0, seed=0).fit(x[keep], y[keep])
    assert perceptron.score(x[keep], y[keep]) == 1.0
    assert perceptron.errors_[-1] == 0 and perceptron.errors_[0] > 0
    # the rule only moves the weights on mistakes: the final weights classify every sample
    assert np.all((x[keep] @ perceptron.w + perceptron.b >= 0) == (y[keep] == 1))


ACTIVATION_LOSS_CASES = [
    ("sigmoid", "softmax", 3, "categorical_crossentropy"),
    ("tanh", "softmax", 3, "sparse_categorical_crossentropy"),
    ("relu", "softmax", 3, CategoricalFocalCrossentropy(gamma=2.0, alpha=[0.2, 0.3, 0.5])),
    ("tanh", "softmax", 3, CategoricalFocalCrossentropy(gamma=0.5, alpha=0.25)),
    ("linear", "sigmoid", 1, "binary_crossentropy"),
    ("hard_sigmoid", "sigmoid", 2, "binary_crossentropy"),
    ("tanh", "hard_sigmoid", 1, "binary_crossentropy"),
    ("relu", "linear", 2, "mse"),
    ("sigmoid", "tanh", 2, "mse"),
    ("tanh", "softmax", 3, "mse"),
    ("softmax", "relu", 2, "mse"),
]


@pytest.mark.parametrize("hidden, output, units, loss", ACTIVATION_LOSS_CASES)
def test_gradcheck_every_activation_and_loss(hidden, output, units, loss):
    rng = np.random.default_rng(0)
    model = Sequential([Dense(5, activation=hidden, input_shape=(4,)), Dense(units, activation=output)], seed=1)
    model.compile(loss=loss)
    x = rng.standard_normal((7, 4))
    if units == 3:
        ids = rng.integers(0, 3, 7)
        y = ids if loss == "sparse_categorical_crossentropy" else to_categorical(ids, 3)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (7, units)).astype(float)
    else:
        y = rng.standard_normal((7, units))
    assert fastnn.gradcheck(model, x, y) < 1e-6


def test_gradcheck_with_class_weights_and_float32_model(iris_split):
    x_train, _, y_train, _ = iris_split
    model = iris_net(dtype="float32")
    assert fastnn.gradcheck(model, x_train[:12], to_categorical(y_train[:12], 3), class_weight="balanced") < 1e-6


def test_gradcheck_detects_a_wrong_gradient(iris_split, monkeypatch):
    x_train, _, y_train, _ = iris_split
    model = iris_net(dtype="float64")
    real = Sequential.gradients
    monkeypatch.setattr(Sequential, "gradients", lambda self, *a, **k: [1.01 * g for g in real(self, *a, **k)])
    assert fastnn.gradcheck(model, x_train[:12], to_categorical(y_train[:12], 3)) > 1e-3


@pytest.mark.parametrize("loss, output, units", [
    ("categorical_crossentropy", "softmax", 3),
    (CategoricalFocalCrossentropy(gamma=2.0, alpha=[0.2, 0.3, 0.5]), "softmax", 3),
    ("binary_crossentropy", "sigmoid", 1),
    ("mse", "tanh", 2),
])
@pytest.mark.parametrize("split, n_in", [("batch", 6), ("batch", 13), ("units", 6)],
                         ids=["batch", "batch-first-layer-by-units", "units"])
def test_two_workers_train_like_one(loss, output, units, split, n_in):
    """Two threads share each step, by batch rows (data parallelism; with more inputs than
    the batch has rows, the first layer by units all the same) or by units (each owns half
    of every layer's weight rows and the partial products are summed): the losses,
    accuracy counts and weights are those of one thread."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((203, n_in))                      # 203 = 20·10 + 3: a short last batch
    if units == 3:
        y = to_categorical(rng.integers(0, 3, 203), 3)
    elif output == "sigmoid":
        y = rng.integers(0, 2, (203, 1)).astype(float)
    else:
        y = rng.standard_normal((203, units))
    order = rng.permutation(203).astype(np.intp)
    results = []
    for workers in (1, 2):
        model = Sequential([Dense(7, activation="relu", input_shape=(n_in,)), Dense(5, activation="tanh", use_bias=False),
                            Dense(units, activation=output)], dtype="float64", seed=3)
        model.compile(loss=loss, optimizer=SGD(lr=0.05, momentum=0.9, decay=0.01), metrics=["accuracy"])
        x_, labels, Y, w = model._prepare(x, y, class_weight=None)
        trainer = model._training_buffers(10, n_workers=workers, split=split)
        assert trainer.first_by_units == (workers == 2 and split == "batch" and n_in > 10)
        losses = np.zeros(21)
        done, iteration, hits, counted = trainer.train(x_, labels, Y, w, order, 0, 21, 0.05, 0.01, 0.9, True,
                                                       0, losses, 1 if units > 1 else 2)
        results.append((losses.copy(), model.get_weights(), hits, counted, done, iteration))
        model._set_batch_views(trainer.last_batch_size)
        # the layers' views show the whole last batch (3 rows: 1 from one worker, 2 from the other)
        np.testing.assert_array_equal(model.layers[0].X, x_[order[200:]])
    (l1, w1, h1, c1, d1, i1), (l2, w2, h2, c2, d2, i2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    assert (h1, c1, d1, i1) == (h2, c2, d2, i2) == (h1, c1, 21, 21)


def _assert_same_arrays(first, second, exact):
    """Pairwise equal: bit for bit where exact (fastnn's own kernel), else to float32 rounding."""
    for a, b in zip(first, second, strict=True):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("split, n_in", [("batch", 40), ("batch", 70), ("units", 70)],
                         ids=["batch", "batch-first-layer-by-units", "units"])
def test_two_workers_train_exactly_like_one_in_float32(split, n_in):
    """Each worker runs its rows forward and backward, then computes whole rows of dW over the
    whole batch: no gradient is summed across workers, so with fastnn's own GEMM (whose sums do
    not depend on how the rows are split) two workers give the very weights one does. Split by
    units, each layer's product is summed from two halves: equal to float32 rounding; so is
    the first layer's, split by batch, when it has more inputs (70) than the batch has rows (50)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((230, n_in)).astype(np.float32)
    y = rng.integers(0, 10, 230)
    order = rng.permutation(230).astype(np.intp)
    results = []
    for workers in (1, 2):
        model = Sequential([Dense(96, activation="relu", input_shape=(n_in,)), Dense(40, activation="tanh"),
                            Dense(10, activation="softmax")], seed=3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(50, n_workers=workers, split=split)
        assert trainer.first_by_units == (workers == 2 and split == "batch" and n_in > 50)
        losses = np.zeros(5)
        assert trainer.train(x_, labels, Y, w, order, 0, 5, 0.05, 0.0, 0.9, False, 0, losses, 1)[0] == 5
        results.append((losses, model.get_weights(), [layer.dW.copy() for layer in model.layers]))
    (l1, w1, g1), (l2, w2, g2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-6)       # the loss is summed in two parts
    exact = fastnn._kernels._blas.sgemm_kernel() != "blas" and split == "batch" and n_in <= 50
    _assert_same_arrays(w1 + g1, w2 + g2, exact)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("first, widths, batch", [
    ("relu", (64, 32), 37),             # relu: fused with the product but for the call's last step
    ("sigmoid", (48, 32), 37),          # stores Z and A
    ("tanh", (40,), 1),                 # one row a batch: worker 0 has none
    ("softmax", (), 29),                # the first layer is the output layer
])
def test_first_layer_by_units_trains_like_the_rows_split(monkeypatch, dtype, first, widths, batch):
    """Split by batch rows, two workers share the first layer by units when it has more
    inputs than the batch has rows (here 300): each computes its half of the product over
    its own weight rows and every row of the batch, and after the barrier sums the halves
    for its own rows. The same 7 steps (the last batch short, in one call and in 7 calls,
    which gather their batch instead of reading it in place) must give the losses, weights,
    gradients, Z and A of the plain rows split up to rounding, and show the last batch as X."""
    from fastnn.backend import compiled_backend
    rng = np.random.default_rng(21)
    n = 6 * batch + (batch + 1) // 2
    x = rng.standard_normal((n, 300)).astype(dtype)
    y = (x[:, :8] @ rng.standard_normal((8, 10))).argmax(axis=1)
    order = rng.permutation(n).astype(np.intp)
    rtol = 2e-4 if dtype == "float32" else 1e-9
    plain = compiled_backend.Trainer

    class RowsSplit(plain):                     # the same trainer with the first layer split by rows
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **dict(kwargs, first_by_units=False))

    results = []
    for by_units, calls in ((False, (0, 7)), (True, (0, 7)), (True, tuple(range(8)))):
        monkeypatch.setattr(compiled_backend, "Trainer", plain if by_units else RowsSplit)
        if widths:
            layers = ([Dense(widths[0], activation=first, input_shape=(300,))]
                      + [Dense(w, activation="relu") for w in widths[1:]] + [Dense(10, activation="softmax")])
        else:
            layers = [Dense(10, activation=first, input_shape=(300,))]
        model = Sequential(layers, dtype=dtype, seed=3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9, decay=0.01))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(batch, n_workers=2)
        assert trainer.first_by_units == by_units
        initial = model.get_weights()
        losses = np.zeros(7)
        for start, end in zip(calls[:-1], calls[1:]):
            assert trainer.train(x_, labels, Y, w, order, start, end - start, 0.05, 0.01, 0.9, False, start,
                                 losses[start:], 1)[0] == end - start
        model._set_batch_views(trainer.last_batch_size)
        np.testing.assert_array_equal(model.layers[0].X, x_[order[6 * batch:]])
        results.append([losses] + model.get_weights() + [l.dW.copy() for l in model.layers]
                       + [l.Z.copy() for l in model.layers] + [l.A.copy() for l in model.layers])
    assert np.all(np.isfinite(results[0][0])) and np.abs(results[0][1] - initial[0]).max() > 1e-3   # it moved
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("n_rows", [1, 7, 255, 256, 257, 1000, 3001])
def test_mostly_zeros_judges_as_numpy_counts(n_rows):
    """The compiled judge of "mostly zeros" counts what NumPy counts on the same sampled rows
    (every n // 256-th): -0.0 is a zero, NaN and subnormals are not, and a share just either
    side of ZEROS_TO_SKIP decides it."""
    from fastnn._kernels import train
    rng = np.random.default_rng(n_rows)
    for share in (0.0, 0.3, 0.49, 0.5, 0.51, 0.7, 1.0):
        x = rng.standard_normal((n_rows, 37)).astype(np.float32)
        x[rng.random(x.shape) < share] = 0.0
        x[rng.random(x.shape) < 0.05] = -0.0
        x[rng.random(x.shape) < 0.01] = np.nan
        x[rng.random(x.shape) < 0.01] = np.float32(1e-45)
        sample = x[::max(1, n_rows // 256)]
        expected = np.count_nonzero(sample) <= (1.0 - train.ZEROS_TO_SKIP) * sample.size
        assert train._mostly_zeros(x) == expected


def test_mostly_zeros_counts_the_last_sampled_row():
    """513 rows: every 2nd is sampled, 257 of them, the last included. The first 256 are
    exactly half zeros (mostly zeros, just), the unsampled ones all zeros, the last none: it
    alone tips the data over to "not mostly zeros"."""
    from fastnn._kernels import train
    x = np.zeros((513, 8), np.float32)
    x[0:512:2, :4] = 1.0
    assert train._mostly_zeros(x[:512])
    x[512] = 1.0
    assert not train._mostly_zeros(x)


@pytest.mark.parametrize("workers, split", [(1, "batch"), (2, "batch"), (2, "units")])
def test_mostly_zero_data_trains_the_same_with_its_zeros_skipped(monkeypatch, workers, split):
    """float32 data that is mostly zeros (here 85%, in MNIST-like strokes and a blank border)
    has the first layer's products, forward and dW, leave out the columns of each panel that
    are zero in all its rows (gemm.c, skip_zeros). What is left out adds exactly 0, so the
    losses, weights and gradients are bit for bit those of the dense products, by one worker
    or two, whichever way they share a step (the first layer by units, 300 inputs > 40 rows)."""
    from fastnn._kernels import train
    rng = np.random.default_rng(4)
    x = rng.random((250, 300)).astype(np.float32)
    x[x < 0.8] = 0.0
    x[:, :40] = 0.0
    y = rng.integers(0, 10, 250)
    order = rng.permutation(250).astype(np.intp)
    assert train._mostly_zeros(x) and not train._mostly_zeros(x + 1) and not train._mostly_zeros(x.astype(np.float64))
    results = []
    for share in (train.ZEROS_TO_SKIP, 1.5):          # 1.5: no data is "mostly zeros", nothing skipped
        monkeypatch.setattr(train, "ZEROS_TO_SKIP", share)
        assert train._mostly_zeros(x) == (share < 1)
        model = Sequential([Dense(64, activation="relu", input_shape=(300,)), Dense(32, activation="relu"),
                            Dense(10, activation="softmax")], seed=3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(40, n_workers=workers, split=split)
        losses = np.zeros(7)
        assert trainer.train(x_, labels, Y, w, order, 0, 7, 0.05, 0.0, 0.9, False, 0, losses, 1)[0] == 7
        results.append([losses] + model.get_weights() + [layer.dW.copy() for layer in model.layers])
    assert np.abs(results[0][1] - results[1][1]).max() == 0 and np.all(np.isfinite(results[0][0]))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    unskipped = Sequential([Dense(64, activation="relu", input_shape=(300,))], seed=3).get_weights()[0]
    assert np.abs(results[0][1] - unskipped).max() > 1e-3        # it trained


@pytest.mark.parametrize("workers, split", [(1, "batch"), (2, "batch"), (2, "units")])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("width", [1030, 100])
def test_wide_layers_train_the_same_with_their_delta_packed_once(monkeypatch, workers, split, sparse, width):
    """A layer wider than PACKED_WIDER_THAN units (and the first, over mostly-zero data, when
    wider than SPARSE_WIDER_THAN) has its δ packed once per step into the strips fastnn's
    kernel reads, and every block of its dW rows (the first layer's read in place from the
    data, skipping zeros or not) multiplies that packed δ instead of packing it again:
    losses, weights and gradients are bit for bit those of products that read δ where it
    lies, by one worker or two, whichever way they share a step (1030 and 100 columns: the
    last strip of 32 is zero-padded)."""
    from fastnn._kernels import _blas, train
    rng = np.random.default_rng(5)
    x = rng.random((120, 300)).astype(np.float32)
    if sparse:
        x[x < 0.8] = 0.0
    y = rng.integers(0, 10, 120)
    order = rng.permutation(120).astype(np.intp)
    results = []
    for wider_than in (train.PACKED_WIDER_THAN, 1 << 30):        # 1 << 30: nothing is packed
        monkeypatch.setattr(train, "PACKED_WIDER_THAN", wider_than)
        monkeypatch.setattr(train, "SPARSE_WIDER_THAN", wider_than)
        model = Sequential([Dense(width, activation="relu", input_shape=(300,)), Dense(256, activation="relu"),
                            Dense(10, activation="softmax")], seed=3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(40, n_workers=workers, split=split)
        assert (trainer._packed_delta is not None) == (wider_than < 256 and _blas.sgemm_kernel() != "blas")
        losses = np.zeros(3)
        assert trainer.train(x_, labels, Y, w, order, 0, 3, 0.05, 0.0, 0.9, False, 0, losses, 1)[0] == 3
        results.append([losses] + model.get_weights() + [layer.dW.copy() for layer in model.layers])
    assert np.all(np.isfinite(results[0][0]))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    untrained = Sequential([Dense(width, activation="relu", input_shape=(300,))], seed=3).get_weights()[0]
    assert np.abs(results[0][1] - untrained).max() > 1e-4        # it trained


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_hidden_layers_over_relu_and_dropout_train_the_same_as_sparse_rows(monkeypatch, workers, optimizer):
    """A hidden layer whose input comes from a relu layer or a dropout (at least
    SPARSE_INPUTS_FROM inputs, more than SPARSE_WIDER_THAN units) lets its float32 products,
    forward and dW, read that input as sparse rows where a block has at most half of its
    values not 0 (AVX2), and backpropagation's δ·Wᵀ reads a relu layer's δ so: the sums are
    the same terms less exact zeros, so losses, weights and the trained model's outputs are
    bit for bit those of the products over every value, by one worker or two, with SGD's
    update inside the products or RMSprop's beside them."""
    from fastnn._kernels import train
    from fastnn.layers import Dropout
    rng = np.random.default_rng(11)
    x = rng.standard_normal((300, 40)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    # the second and third layers qualify (after a relu layer, after a dropout), not the others
    assert [train._sparse_input(True, l, n_in, n_out, after) for l, n_in, n_out, after
            in ((0, 40, 300, False), (1, 300, 260, True), (2, 260, 64, True), (3, 64, 5, True))] == [
        False, True, True, False]
    results = []
    for inputs_from in (train.SPARSE_INPUTS_FROM, 1 << 30):         # 1 << 30: no layer reads sparse rows
        monkeypatch.setattr(train, "SPARSE_INPUTS_FROM", inputs_from)
        monkeypatch.setenv("FASTNN_NUM_THREADS", str(workers))
        model = Sequential([Dense(300, activation="relu", input_shape=(40,)), Dense(260, activation="relu"),
                            Dropout(0.3, seed=4), Dense(64, activation="relu"), Dense(5, activation="softmax")],
                           seed=9)
        model.compile(loss="sparse_categorical_crossentropy",
                      optimizer=SGD(lr=0.05, momentum=0.9) if optimizer == "sgd" else optimizer)
        history = model.fit(x, y, batch_size=50, epochs=3, verbose=0, seed=0)
        results.append((history.history["loss"], model.get_weights(), model.predict(x)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][2], results[1][2])
    assert results[0][0][-1] < results[0][0][0]                   # it trained


@pytest.mark.parametrize("n_in, width, zeros", [(70, 2048, 0.0), (784, 64, 0.0), (3, 30730, 0.0), (784, 64, 0.85),
                                               (784, 200, 0.85)])
def test_blocked_update_equals_whole_gradient_steps(n_in, width, zeros):
    """Within a train() call the weight gradient of a layer is computed and applied a block
    of rows at a time, each block's update (in float32 on fastnn's kernel) running inside
    the product of the next, the last one's inside the next layer's products (only the
    call's last step stores dW whole and updates plainly): five steps in one call must give
    the weights of five one-step calls. 70-2048: blocks of 10 rows; 784-64: blocks of 190
    rows, products tall enough for the 14-row panels the kernel leaves while updating;
    3-30730: a row of dW wider than the block buffer, computed into dW whole. With 85% zeros
    (MNIST has 81%) the first layer's dW, and the forward product of the 200-wide layer, run
    on the kernel's sparse rows, the pending updates taken on their side."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((250, n_in)).astype(np.float32)
    x[np.random.default_rng(3).random(x.shape) < zeros] = 0.0
    y = rng.integers(0, 10, 250)
    if zeros:                                                   # labels it can learn in five steps
        y = (x @ np.random.default_rng(4).standard_normal((n_in, 10))).argmax(1)
    order = rng.permutation(250).astype(np.intp)
    results = []
    for calls in ((0, 5), (0, 1, 2, 3, 4, 5)):
        model = Sequential([Dense(width, activation="relu", input_shape=(n_in,)), Dense(10, activation="softmax")],
                           seed=4)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(50, n_workers=1)
        losses = np.zeros(5)
        for first, end in zip(calls[:-1], calls[1:]):
            trainer.train(x_, labels, Y, w, order, first, end - first, 0.05, 0.0, 0.9, False, first,
                          losses[first:], 0)
        results.append((losses, model.get_weights(), [layer.dW.copy() for layer in model.layers]))
    (l1, w1, g1), (l2, w2, g2) = results
    assert np.all(l1 > 0) and l1[4] < l1[0]                   # it learns
    exact = fastnn._kernels._blas.sgemm_kernel() != "blas"
    _assert_same_arrays([l1] + w1 + g1, [l2] + w2 + g2, exact)


@pytest.mark.parametrize("n_workers", [1, 2])
def test_fused_forward_equals_step_by_step(n_workers):
    """But for the last step of a train() call, relu and linear hidden layers store
    A := g(I·W + b) straight from fastnn's float32 product (and the output of the fused loss
    Z := I·W + b), and relu's g'(Z) is read off A. Four steps in one call (three of them
    fused) must give the losses, weights and gradients of four one-step calls (none fused),
    on a net that mixes relu, linear and tanh (not fused) hidden layers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 30)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    order = rng.permutation(200).astype(np.intp)
    results = []
    for calls in ((0, 4), (0, 1, 2, 3, 4)):
        model = Sequential([Dense(40, activation="relu", input_shape=(30,)), Dense(24, activation="linear"),
                            Dense(20, activation="tanh"), Dense(33, activation="relu"),
                            Dense(10, activation="softmax")], seed=6)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.1, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(50, n_workers=n_workers)
        losses = np.zeros(4)
        for first, end in zip(calls[:-1], calls[1:]):
            trainer.train(x_, labels, Y, w, order, first, end - first, 0.1, 0.0, 0.9, False, first,
                          losses[first:], 0)
        model._set_batch_views(50)
        results.append((losses, model.get_weights(), [layer.dW.copy() for layer in model.layers],
                        [layer.Z.copy() for layer in model.layers]))
    (l1, w1, g1, z1), (l2, w2, g2, z2) = results
    assert l1[3] < l1[0]
    exact = fastnn._kernels._blas.sgemm_kernel() != "blas"
    _assert_same_arrays([l1] + w1 + g1 + z1, [l2] + w2 + g2 + z2, exact)


@pytest.mark.parametrize("first, width, batch, n_workers", [("relu", 64, 50, 1), ("tanh", 40, 37, 1),
                                                           ("relu", 200, 43, 2), ("sigmoid", 150, 60, 2)])
def test_first_layer_reading_the_batch_in_place_equals_gathering_it(first, width, batch, n_workers):
    """On fastnn's float32 kernel, but for the last step of a train() call, the first layer's
    forward product and its dW read the batch's samples from the data by index instead of
    from a gathered copy (fnn_sgemm_rows). Steps in one call must give the losses, weights,
    gradients and Z of one-step calls (which gather), bit for bit, whatever the first
    layer's activation (fused with the product or not), its width (rows read in place up to
    128 units, packed beyond), a batch that is not a multiple of the kernel's panels, and one
    or two workers; the layers then show the last batch as X."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5 * batch, 300)).astype(np.float32)
    y = (x[:, :8] @ rng.standard_normal((8, 10))).argmax(axis=1)
    order = rng.permutation(5 * batch).astype(np.intp)
    results = []
    for calls in ((0, 5), (0, 1, 2, 3, 4, 5)):
        model = Sequential([Dense(width, activation=first, input_shape=(300,)), Dense(32, activation="relu"),
                            Dense(10, activation="softmax")], seed=3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(batch, n_workers=n_workers)
        losses = np.zeros(5)
        for start, end in zip(calls[:-1], calls[1:]):
            trainer.train(x_, labels, Y, w, order, start, end - start, 0.05, 0.0, 0.9, False, start,
                          losses[start:], 0)
        model._set_batch_views(batch)
        np.testing.assert_array_equal(model.layers[0].X, x[order[4 * batch:]])
        results.append((losses, model.get_weights(), [layer.dW.copy() for layer in model.layers],
                        [layer.Z.copy() for layer in model.layers]))
    (l1, w1, g1, z1), (l2, w2, g2, z2) = results
    assert l1[4] < l1[0]
    exact = fastnn._kernels._blas.sgemm_kernel() != "blas"
    _assert_same_arrays([l1] + w1 + g1 + z1, [l2] + w2 + g2 + z2, exact)


def test_a_step_that_fails_mid_call_shows_its_Z():
    """A step whose loss is not finite stops the call before its update; the layers then
    show that step, Z included, though it was not the call's last (whose Z alone is stored
    otherwise): Z = X·W + b and A = g(Z) with the weights it ran with."""
    rng = np.random.default_rng(0)
    x = 30 * rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = Sequential([Dense(16, activation="relu", input_shape=(5,)), Dense(12, activation="linear"),
                        Dense(8, activation="tanh"), Dense(3, activation="softmax")], seed=1)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=1e20))
    with pytest.warns(RuntimeWarning, match="step 2/4: the loss is nan"):
        model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    relu, linear = model.layers[0], model.layers[1]           # relu's Z finite, linear's overflows
    Z = relu.X.astype(np.float64) @ relu.W + relu.b
    np.testing.assert_allclose(relu.Z, Z, rtol=1e-5, atol=1e-5 * np.abs(Z).max())
    np.testing.assert_array_equal(relu.A, np.maximum(relu.Z, 0))
    assert not np.isfinite(linear.Z).all()
    np.testing.assert_array_equal(linear.A, linear.Z)


def test_two_workers_with_a_one_row_batch():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    weights = []
    for workers in (1, 2):
        model = iris_net(dtype="float64", loss="sparse_categorical_crossentropy", seed=0)
        x_, labels, Y, w = model._prepare(x, y)
        trainer = model._training_buffers(1, n_workers=workers)
        trainer.train(x_, labels, Y, w, np.arange(5, dtype=np.intp), 0, 5, 0.1, 0.0, 0.9, False, 0, np.zeros(5), 1)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_fit_of_a_wide_net_on_two_threads_splits_by_units(monkeypatch):
    """fit picks the split by units for a float32 net with more than 4 MB of weights; its
    epochs give one thread's losses and weights up to float32 rounding, and it learns."""
    if fastnn._kernels._blas.sgemm_kernel() == "blas":
        pytest.skip("the split by units is planned for fastnn's own float32 kernel")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 40)).astype(np.float32)
    y = (x[:, :3] @ rng.standard_normal((3, 4))).argmax(axis=1)
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("FASTNN_NUM_THREADS", threads)
        model = Sequential([Dense(1024, activation="relu", input_shape=(40,)), Dense(1024, activation="tanh"),
                            Dense(4, activation="softmax")], seed=1)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(0.02, momentum=0.9))
        assert model._thread_plan(50) == ((2, 1, "units") if threads == "2" else (1, 1, "batch"))
        history = model.fit(x, y, batch_size=50, epochs=3, verbose=0, seed=0)
        results.append((history.history["loss"], model.get_weights()))
    (loss1, w1), (loss2, w2) = results
    assert loss1[-1] < 0.8 * loss1[0]
    np.testing.assert_allclose(loss1, loss2, rtol=1e-4)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_split_by_units_is_checked():
    model = Sequential([Dense(5, activation="softmax", input_shape=(3,)), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError, match="split must be one of"):
        model.build()._training_buffers(4, n_workers=2, split="rows")
    with pytest.raises(ValueError, match="hidden softmax"):
        model.build()._training_buffers(4, n_workers=2, split="units")


def test_thread_plan(monkeypatch):
    small = iris_net()
    big = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    net_a = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    monkeypatch.setenv("FASTNN_NUM_THREADS", "2")
    assert small._thread_plan(10) == (1, 1, "batch")           # a few thousand multiply-adds: one thread
    assert net_a._thread_plan(100) == (2, 1, "batch")          # two workers, single-threaded BLAS each
    big64 = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")],
                       dtype="float64")
    assert big64._thread_plan(1000) == (1, None, "batch")      # large float64 products: BLAS' own threads
    previous = fastnn._kernels._blas.use_own_sgemm(False)
    try:
        assert big._thread_plan(1000) == (1, None, "batch")    # the same for float32 through BLAS
    finally:
        fastnn._kernels._blas.use_own_sgemm(previous)
    if fastnn._kernels._blas.sgemm_kernel() != "blas":
        assert big._thread_plan(1000) == (2, 1, "batch")       # fastnn's single-threaded GEMM: two workers
        net_b = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(1024, activation="relu"),
                            Dense(1024, activation="relu"), Dense(10, activation="softmax")])
        assert net_b._thread_plan(100) == (2, 1, "units")      # 11.6 MB of weights: split by units
        odd = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(1024, activation="softmax"),
                          Dense(1024, activation="relu"), Dense(10, activation="softmax")])
        assert odd._thread_plan(100) == (2, 1, "batch")        # a hidden softmax needs whole rows
    monkeypatch.setenv("FASTNN_NUM_THREADS", "1")
    assert net_a._thread_plan(100) == (1, 1, "batch")
    monkeypatch.setenv("FASTNN_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="FASTNN_NUM_THREADS"):
        net_a._thread_plan(100)
    monkeypatch.delenv("FASTNN_NUM_THREADS")
    with fastnn.utils.blas_threads(1):
        assert net_a._thread_plan(100) == (1, 1, "batch")      # a user's BLAS limit is respected
