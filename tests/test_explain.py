"""model.explain_step: one training step shown layer by layer.

Its numbers are those of the real step: equal, bit for bit, to what ``train_on_batch``
leaves in the layers and weights, and to the hand-worked 3-2-1 example of
tests/test_worked_example.py; with ``update=False`` (the default) the model, its
optimizer's state and its step counter are exactly as before.
"""
import numpy as np
import pytest

from fastnn import Sequential
from fastnn.layers import Dense, Dropout
from fastnn.optimizers import SGD, Adam, RMSprop
from fastnn.utils import to_categorical

L = np.log(3.0)


def course_3_2_1(dtype="float64", backend="compiled", optimizer=None):
    model = Sequential([Dense(2, activation="sigmoid", input_shape=(3,)),
                        Dense(1, activation="sigmoid")], dtype=dtype, backend=backend)
    model.compile(loss="mse", optimizer=optimizer or SGD(learning_rate=0.5))
    model.set_weights([np.array([[L, 1.0], [2.0, -3.0], [0.0, -1.0]]), np.zeros(2),
                       np.array([[2.0], [-3.0]]), np.array([-L])])
    return model


def snapshot(model):
    """Everything a step may change: weights, optimizer state arrays, step counter."""
    opt = model.optimizer
    return ([w.copy() for w in model.get_weights()],
            None if opt.variables is None else [[s.copy() for s in v] for v in opt.variables],
            opt.iterations)


def assert_same_state(a, b):
    (wa, va, ta), (wb, vb, tb) = a, b
    assert ta == tb
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    assert (va is None) == (vb is None)
    if va is not None:
        for x, y in zip(va, vb):
            for s, t in zip(x, y):
                np.testing.assert_array_equal(s, t)


def assert_step_equals_train_on_batch(make_model, x, y, **kwargs):
    """explain_step's arrays against a twin model's train_on_batch, bit for bit."""
    explained, twin = make_model(), make_model()
    before = snapshot(explained)
    e = explained.explain_step(x, y, **kwargs)
    assert_same_state(snapshot(explained), before)                 # update=False: nothing changed
    loss = twin.train_on_batch(x, y, return_dict=True, **kwargs)["loss"]
    assert e.loss == loss
    for s, layer in zip(e.layers, twin._dense_layers()):
        for key, attr in (("I", "X"), ("Z", "Z"), ("A", "A"), ("delta", "delta"), ("dW", "dW"), ("db", "db"),
                          ("W_new", "W"), ("b_new", "b")):
            np.testing.assert_array_equal(s[key], getattr(layer, attr), err_msg=f"{s.name}: {key}")
    states = twin.optimizer.variables
    i = 0
    for s, layer in zip(e.layers, twin._dense_layers()):
        for part in ("W", "b")[:len(layer.params)]:
            from fastnn.explain import STATE_NAMES
            names = STATE_NAMES[twin.optimizer.kind]
            for name, (_, after) in s.state[part].items():
                np.testing.assert_array_equal(after, states[i][names.index(name)], err_msg=f"{s.name}: {name} of {part}")
            i += 1
    # and update=True keeps exactly the step train_on_batch takes
    kept = make_model()
    kept.explain_step(x, y, update=True, **kwargs)
    assert_same_state(snapshot(kept), snapshot(twin))
    return e


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_the_hand_worked_3_2_1_step(backend):
    """The numbers of tests/test_worked_example.py, derived there by hand."""
    model = course_3_2_1(backend=backend)
    e = model.explain_step(np.array([[1.0, 0.0, 1.0]]), np.array([[1.0]]))
    hidden, output = e.layers
    assert (e.t, e.learning_rate, e.n) == (0, 0.5, 1)
    assert e.loss == pytest.approx(9 / 16, rel=1e-15)
    expected = {
        (0, "Z"): [[L, 0]], (0, "A"): [[3 / 4, 1 / 2]], (1, "Z"): [[-L]], (1, "A"): [[1 / 4]],
        (1, "delta"): [[-9 / 32]], (0, "back"): [[-9 / 16, 27 / 32]], (0, "g_prime"): [[3 / 16, 1 / 4]],
        (0, "delta"): [[-27 / 256, 27 / 128]],
        (1, "dW"): [[-27 / 128], [-9 / 64]], (1, "db"): [-9 / 32],
        (0, "dW"): [[-27 / 256, 27 / 128], [0, 0], [-27 / 256, 27 / 128]], (0, "db"): [-27 / 256, 27 / 128],
        (1, "W_new"): [[2 + 27 / 256], [-3 + 9 / 128]], (1, "b_new"): [-L + 9 / 64],
        (0, "W_new"): [[L + 27 / 512, 1 - 27 / 256], [2, -3], [27 / 512, -1 - 27 / 256]],
        (0, "b_new"): [27 / 512, -27 / 256],
    }
    for (l, key), value in expected.items():
        np.testing.assert_allclose(e.layers[l][key], value, rtol=1e-15, atol=1e-16, err_msg=f"layer {l + 1} {key}")
    # the numbers that are exact in binary come out exact
    for (l, key) in [(0, "A"), (1, "A"), (1, "delta"), (0, "delta"), (1, "dW"), (0, "dW"), (0, "b_new")]:
        np.testing.assert_array_equal(e.layers[l][key], expected[l, key], err_msg=f"layer {l + 1} {key}")
    # SGD without momentum: the velocity after is −γ·g and the step is that velocity
    v_before, v_after = hidden.state["W"]["velocity v"]
    np.testing.assert_array_equal(v_before, 0)
    np.testing.assert_array_equal(v_after, -0.5 * hidden.dW)
    np.testing.assert_array_equal(output.step_W, output.W_new - output.W)
    # δ_l = (δ_{l+1}·W_{l+1}ᵀ) ⊙ g′(Z_l), from the numbers shown
    np.testing.assert_array_equal(hidden.delta, hidden.back * hidden.g_prime)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_equals_the_trainer_of_the_worked_example_bit_for_bit(dtype):
    """The same step as the trainer call in tests/test_worked_example.py, to the last bit."""
    from fastnn.backend import get_backend
    backend = get_backend("compiled")
    dt = np.dtype(dtype)

    def layer(W, b):
        W, b = np.array(W, dt), np.array(b, dt)
        n_out = W.shape[1]
        return (W, b, np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b),
                np.zeros((1, n_out), dt), np.zeros((1, n_out), dt), np.zeros((1, n_out), dt))

    hidden, output = layer([[L, 1], [2, -3], [0, -1]], [0, 0]), layer([[2], [-3]], [-L])
    trainer = backend.Trainer(np.zeros((1, 3), dt), [hidden, output], ["sigmoid", "sigmoid"], "mean_squared_error")
    losses = np.zeros(1)
    trainer.train(np.array([[1, 0, 1]], dt), None, np.array([[1]], dt), None, np.array([0], np.intp), 0, 1,
                  0.5, 0.0, 0.0, False, 0, losses)
    e = course_3_2_1(dtype).explain_step(np.array([[1.0, 0.0, 1.0]]), np.array([[1.0]]))
    assert e.loss == losses[0]
    for s, arrays in zip(e.layers, (hidden, output)):
        W, b, vW, vb, dW, db, Z, A, delta = arrays
        for key, value in (("Z", Z), ("A", A), ("delta", delta), ("dW", dW), ("db", db), ("W_new", W),
                           ("b_new", b)):
            np.testing.assert_array_equal(s[key], value, err_msg=f"{s.name} {key}")
        np.testing.assert_array_equal(s.state["W"]["velocity v"][1], vW)


def iris_batch(n=6):
    from fastnn.datasets import load_iris
    x, y = load_iris()
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    rows = np.arange(0, 150, 150 // n)[:n]
    return x[rows], y[rows]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [
    lambda: SGD(learning_rate=0.1, momentum=0.9, decay=0.01),
    lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    lambda: Adam(learning_rate=0.01),
    lambda: RMSprop(learning_rate=0.01, momentum=0.5),
], ids=["sgd-momentum-decay", "nesterov", "adam", "rmsprop"])
def test_equals_train_on_batch_after_some_training(dtype, optimizer):
    """Mid-training (t > 0, non-zero velocities): the step shown is the one train_on_batch takes."""
    x, y = iris_batch()
    Y = to_categorical(y, 3)

    def make():
        model = Sequential([Dense(5, activation="tanh", input_shape=(4,)), Dense(4, activation="relu"),
                            Dense(3, activation="softmax")], dtype=dtype, seed=3)
        model.compile(loss="categorical_crossentropy", optimizer=optimizer())
        for _ in range(3):
            model.train_on_batch(x, Y)
        return model

    e = assert_step_equals_train_on_batch(make, x, Y)
    assert e.t == 3
    opt = make().optimizer
    assert e.learning_rate == opt.current_learning_rate(3)
    if isinstance(opt, SGD) and opt.decay:
        assert e.learning_rate == pytest.approx(0.1 / (1 + 0.01 * 3), rel=1e-15)
    if isinstance(opt, SGD) and not opt.nesterov:     # W ← W + v: the step is the new velocity
        for s in e.layers:
            v_before, v_after = s.state["W"]["velocity v"]
            assert np.any(v_before != 0)
            np.testing.assert_array_equal(s.step_W, s.W_new - s.W)
            np.testing.assert_allclose(s.step_W, v_after, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(v_after, 0.9 * v_before - e.learning_rate * s.dW, rtol=1e-4, atol=1e-6)
    if isinstance(opt, RMSprop):
        assert set(e.layers[0].state["W"]) == {"mean square v", "momentum s"}
    if isinstance(opt, Adam):
        assert e.adam_alpha == pytest.approx(0.01 * np.sqrt(1 - 0.999 ** 4) / (1 - 0.9 ** 4), rel=1e-12)
        assert set(e.layers[0].state["W"]) == {"m", "v"}          # v̂ only with amsgrad
    # the softmax output's δ is (A − Y)/n
    out = e.layers[-1]
    np.testing.assert_allclose(out.delta, (out.A - Y) / len(x), rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-7)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "elu", "gelu", "hard_sigmoid"])
@pytest.mark.parametrize("loss, output", [("categorical_crossentropy", "softmax"),
                                          ("sparse_categorical_crossentropy", "softmax"),
                                          ("mse", "linear"), ("categorical_focal_crossentropy", "softmax")])
def test_activations_and_losses(activation, loss, output):
    x, y = iris_batch(8)
    target = y if loss.startswith("sparse") else to_categorical(y, 3)

    def make():
        model = Sequential([Dense(6, activation=activation, input_shape=(4,)), Dense(3, activation=output)],
                           dtype="float64", seed=1)
        model.compile(loss=loss, optimizer=SGD(learning_rate=0.05, momentum=0.5))
        model.train_on_batch(x, target)
        return model

    e = assert_step_equals_train_on_batch(make, x, target)
    hidden, out = e.layers
    # the hidden δ is the product of its two factors as shown (the compiled step rounds alike)
    np.testing.assert_allclose(hidden.delta, hidden.back * hidden.g_prime, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hidden.back, out.delta @ out.W.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out.dW, hidden.A.T @ out.delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hidden.dW, x.T @ hidden.delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(out.I, hidden.A)


def test_class_and_sample_weights():
    x, y = iris_batch(6)

    def make():
        model = Sequential([Dense(3, activation="softmax", input_shape=(4,))], dtype="float64", seed=2)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(learning_rate=0.1))
        return model

    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    e = assert_step_equals_train_on_batch(make, x, y, sample_weight=weights)
    out = e.layers[0]
    np.testing.assert_allclose(out.delta, weights[:, None] * (out.A - to_categorical(y, 3)) / 6, rtol=1e-12)
    assert_step_equals_train_on_batch(make, x, y, class_weight={0: 1.0, 1: 4.0, 2: 1.0})


def test_dropout_mask_is_shown_and_applied_to_delta():
    x, y = iris_batch(10)
    Y = to_categorical(y, 3)

    def make():
        model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dropout(0.5, seed=7),
                            Dense(3, activation="softmax")], dtype="float64", seed=4)
        model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1, momentum=0.9))
        model.train_on_batch(x, Y)
        return model

    e = assert_step_equals_train_on_batch(make, x, Y)
    hidden, out = e.layers
    drop = hidden.dropout
    assert drop["rate"] == 0.5 and set(np.unique(drop["mask"])) <= {0.0, 1.0}
    assert 0 < drop["mask"].mean() < 1
    np.testing.assert_array_equal(drop["D"], np.where(drop["mask"] == 1, hidden.A / 0.5, 0.0))
    np.testing.assert_array_equal(out.I, drop["D"])                 # the next layer takes D
    # δ backward through the same mask: zero where a unit was dropped
    assert np.all(hidden.delta[drop["mask"] == 0] == 0)
    np.testing.assert_allclose(hidden.back, (out.delta @ out.W.T) * drop["mask"] / 0.5, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hidden.delta, hidden.back * hidden.g_prime, rtol=1e-12, atol=1e-15)


def test_update_false_leaves_fresh_optimizer_and_layer_views_alone():
    model = course_3_2_1(optimizer=SGD(learning_rate=0.5, momentum=0.9))
    assert model.optimizer.variables is None and model.layers[0].delta is None
    e = model.explain_step([[1.0, 0.0, 1.0]], [[1.0]])
    assert model.optimizer.variables is None and model.optimizer.iterations == 0
    assert model.layers[0].delta is None                       # still nothing to show
    # the same twice: nothing carried over from the first call
    again = model.explain_step([[1.0, 0.0, 1.0]], [[1.0]])
    for a, b in zip(e.layers, again.layers):
        for key in ("delta", "dW", "W_new"):
            np.testing.assert_array_equal(a[key], b[key])
    # a trained model keeps what its layers showed
    model.train_on_batch([[0.0, 1.0, 1.0]], [[0.0]])
    shown = model.layers[0].delta.copy()
    model.explain_step([[1.0, 0.0, 1.0]], [[1.0]])
    np.testing.assert_array_equal(model.layers[0].delta, shown)
    assert model.optimizer.iterations == 1


def test_text_html_and_dict_views():
    model = course_3_2_1(optimizer=SGD(learning_rate=0.5, momentum=0.9, decay=1e-3))
    e = model.explain_step([[1.0, 0.0, 1.0]], [[1.0]])
    text = str(e)
    for piece in ("Z₁ = I₁·W₁ + b₁", "A₂ = sigmoid(Z₂)", "δ₂ = ∂E/∂Z₂", "δ₁ = (δ₂·W₂ᵀ) ⊙ g′(Z₁)",
                  "dW₁ = I₁ᵀ·δ₁", "velocity v of W₁", "v ← μ·v − γ_t·dW;  W ← W + v", "γ_t = 0.5",
                  "left as it was", "0.5625"):
        assert piece in text, piece
    page = e._repr_html_()
    assert page.startswith("<div>") and "<table" in page and "δ₁ = (δ₂·W₂ᵀ) ⊙ g′(Z₁)" in page
    assert "0.75" in page                                    # A₁ = (3/4, 1/2)
    d = e.to_dict()
    assert d["layers"][1]["delta"][0, 0] == -9 / 32
    assert e[1]["delta"] is e.layers[1].delta and e["loss"] == e.loss
    assert set(e.layers[0]) >= {"I", "W", "b", "Z", "A", "back", "g_prime", "delta", "dW", "db", "W_new", "state"}
    with pytest.raises(AttributeError, match="no 'nope'"):
        e.layers[0].nope


def test_large_layers_are_cut_in_the_text():
    rng = np.random.default_rng(0)
    model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9))
    e = model.explain_step(rng.random((3, 784)), [1, 2, 3])
    text = e.to_text()
    assert "..." in text and len(text.splitlines()) < 400
    assert e.layers[0].dW.shape == (784, 64)
    assert "⋯" in e.to_html()


def test_bad_input():
    model = course_3_2_1()
    with pytest.raises(ValueError, match="x has 2 features but the model expects 3"):
        model.explain_step([[1.0, 2.0]], [[1.0]])
    with pytest.raises(TypeError, match="update must be True or False"):
        model.explain_step([[1.0, 0.0, 1.0]], [[1.0]], update="yes")
    with pytest.raises(ValueError, match="at most 1000"):
        model.explain_step(np.zeros((1001, 3)), np.zeros((1001, 1)))
    uncompiled = Sequential([Dense(1, input_shape=(3,))])
    with pytest.raises(ValueError, match="compile the model first"):
        uncompiled.explain_step([[1.0, 0.0, 1.0]], [[1.0]])
    before = snapshot(model)
    with pytest.raises(ValueError):
        model.explain_step([[1.0, 0.0, 1.0]], [[1.0, 2.0]])      # y of the wrong shape: nothing changes
    assert_same_state(snapshot(model), before)
