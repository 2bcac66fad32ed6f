"""Keras 3's activations and losses through the Keras-like API.

Dense(activation=...) takes leaky_relu, elu, selu, gelu, silu (swish), softplus and
softsign; compile(loss=...) takes "mae"/"mean_absolute_error", "huber" and loss objects
with Keras' signatures (from_logits, label_smoothing, delta). Checked here:
predict against each activation's closed form, evaluate against each loss's closed
form (Keras' formulas written out below), the epoch loss of one batch is the loss
before its update, whole-model gradient checks in float64, compiled and NumPy
training side by side, from_logits on a linear output trains exactly like the fused
softmax/sigmoid output, configs survive save/load, and bad input names the argument.
When keras happens to be importable, the same numbers are compared with Keras 3 itself.
"""
import math

import numpy as np
import pytest
from scipy.special import erf, expit, log_softmax, softmax

import fastnn
from fastnn import losses
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD

NEW_ACTIVATIONS = ("leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign")
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# Keras 3's definitions (keras/src/activations/activations.py, keras/src/backend/numpy/nn.py)
CLOSED_FORMS = {
    "leaky_relu": lambda z: np.maximum(z, 0.2 * z),
    "elu": lambda z: np.where(z >= 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: SELU_SCALE * np.where(z >= 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: z * (1 + erf(z / math.sqrt(2))) / 2,
    "silu": lambda z: z * expit(z),
    "swish": lambda z: z * expit(z),
    "softplus": lambda z: np.logaddexp(z, 0),
    "softsign": lambda z: z / (1 + np.abs(z)),
}


def data(n=40, n_in=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    ids = rng.integers(0, k, n)
    return x, ids, np.eye(k)[ids], rng


def model(hidden, output, units=3, n_in=4, dtype="float64", backend="compiled", seed=0, width=6):
    return Sequential([Dense(width, activation=hidden, input_shape=(n_in,)), Dense(units, activation=output)],
                      dtype=dtype, backend=backend, seed=seed)


# ---------------------------------------------------------------- activations by name


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_predict_applies_the_activation(name, backend):
    """One Dense layer: predict(x) = g(x·W + b) with g written out from Keras' definition."""
    x, _, _, rng = data()
    m = Sequential([Dense(5, activation=name, input_shape=(4,))], dtype="float64", backend=backend, seed=1)
    m.build(4)
    m.layers[0].set_weights([2 * rng.standard_normal((4, 5)), rng.standard_normal(5)])
    W, b = m.layers[0].get_weights()
    np.testing.assert_allclose(m.predict(x), CLOSED_FORMS[name](x @ W + b), rtol=1e-12, atol=1e-14)
    assert m.layers[0].activation == ("silu" if name == "swish" else name)   # Keras' function is silu too


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_an_activation_layer_folds_into_the_dense_layer(name):
    """Dense(5) + Activation(name) is Dense(5, activation=name): the same predictions."""
    x, _, _, _ = data()
    folded = Sequential([Dense(5, input_shape=(4,)), fastnn.Activation(name)], dtype="float64", seed=2)
    plain = Sequential([Dense(5, activation=name, input_shape=(4,))], dtype="float64", seed=2)
    np.testing.assert_array_equal(folded.predict(x), plain.predict(x))


def test_activation_module_lists_each_formula():
    doc = fastnn.activations.__doc__
    for name in NEW_ACTIVATIONS:
        assert name in doc
    z = np.linspace(-3, 3, 12)            # not 0, where leaky_relu has a kink (and elu, selu a second-order one)
    for name in NEW_ACTIVATIONS:          # fastnn.activations.apply/derivative take the new names too
        np.testing.assert_allclose(fastnn.activations.apply(name, z), CLOSED_FORMS[name](z), rtol=1e-12, atol=1e-15)
        h = 1e-6
        numeric = (CLOSED_FORMS[name](z + h) - CLOSED_FORMS[name](z - h)) / (2 * h)
        np.testing.assert_allclose(fastnn.activations.derivative(name, z), numeric, rtol=1e-7, atol=1e-8)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'mish'; expected one of .*leaky_relu.*gelu.*softsign"):
        Dense(3, activation="mish")
    m = model("relu", "linear")
    with pytest.raises(ValueError, match=r"unknown loss 'huber_loss'; .*mean_squared_error.*mae.*huber"):
        m.compile(loss="huber_loss")


# ---------------------------------------------------------------- loss objects and bad input


@pytest.mark.parametrize("make, argument", [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=-0.1), "label_smoothing"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.0), "label_smoothing"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=float("nan")), "label_smoothing"),
    (lambda: losses.Huber(delta=0.0), "delta"),
    (lambda: losses.Huber(delta=-1.0), "delta"),
    (lambda: losses.Huber(delta=float("inf")), "delta"),
])
def test_bad_loss_parameters_are_value_errors(make, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be"):
        make()


def test_loss_parameters_of_the_wrong_type():
    with pytest.raises(TypeError, match="from_logits"):
        losses.CategoricalCrossentropy(from_logits="yes")
    with pytest.raises(TypeError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing="a little")
    with pytest.raises(TypeError, match="delta"):
        losses.Huber(delta=None)
    with pytest.raises(TypeError):          # as in Keras 3: sparse targets take no label smoothing
        losses.SparseCategoricalCrossentropy(label_smoothing=0.1)


@pytest.mark.parametrize("loss, output, match", [
    (losses.CategoricalCrossentropy(from_logits=True), "softmax", "linear output"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "softmax", "linear output"),
    (losses.CategoricalFocalCrossentropy(from_logits=True), "softmax", "linear output"),
    (losses.CategoricalCrossentropy(), "linear", "softmax output"),
    (losses.BinaryCrossentropy(from_logits=True), "sigmoid", "linear output"),
])
def test_from_logits_takes_a_linear_output(loss, output, match):
    with pytest.raises(ValueError, match=match):
        model("relu", output, units=1 if isinstance(loss, losses.BinaryCrossentropy) else 3).compile(loss=loss)


@pytest.mark.parametrize("loss", [
    losses.MeanAbsoluteError(), losses.Huber(0.3),
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    losses.SparseCategoricalCrossentropy(from_logits=True), losses.BinaryCrossentropy(True, 0.2),
    losses.CategoricalFocalCrossentropy(gamma=1.0, alpha=None, from_logits=True),
], ids=repr)
def test_config_round_trip(loss):
    again = losses.from_config(loss.get_config())
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert repr(again) == repr(loss)


def test_names_and_defaults_as_keras():
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("mean_absolute_error"), losses.MeanAbsoluteError)
    assert losses.get("huber").delta == 1.0
    cce = losses.CategoricalCrossentropy()
    assert (cce.from_logits, cce.label_smoothing) == (False, 0.0)
    bce = losses.BinaryCrossentropy()
    assert (bce.from_logits, bce.label_smoothing) == (False, 0.0)


# ---------------------------------------------------------------- the losses' values: evaluate and Loss.__call__


def keras_loss(name, P, Y, **kw):
    """Per-sample loss written as Keras 3 writes it, on the model's outputs P (logits where from_logits)."""
    if name == "mae":
        return np.abs(P - Y).mean(axis=1)
    if name == "huber":
        d, r = kw.get("delta", 1.0), P - Y
        return np.where(np.abs(r) <= d, 0.5 * r**2, d * np.abs(r) - 0.5 * d**2).mean(axis=1)
    ls = kw.get("label_smoothing", 0.0)
    if name == "focal":                  # Σ_c −α (1 − p_c)^γ y_c log p_c, y smoothed first
        Y = Y * (1 - ls) + ls / Y.shape[1]
        p = softmax(P, axis=1) if kw.get("from_logits") else P
        return -(kw["alpha"] * (1 - p) ** kw["gamma"] * Y * np.log(p)).sum(axis=1)
    if name == "cce":
        Y = Y * (1 - ls) + ls / Y.shape[1]
        log_p = log_softmax(P, axis=1) if kw.get("from_logits") else np.log(P)
        return -(Y * log_p).sum(axis=1)
    Y = Y * (1 - ls) + ls / 2
    p = expit(P) if kw.get("from_logits") else P
    return -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean(axis=1)


CASES = [  # (loss object, the closed form's name and keywords, output activation, targets)
    (losses.MeanAbsoluteError(), ("mae", {}), "linear", "real"),
    ("mae", ("mae", {}), "elu", "real"),
    (losses.Huber(), ("huber", {}), "linear", "real"),
    (losses.Huber(delta=0.2), ("huber", dict(delta=0.2)), "selu", "real"),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), ("cce", dict(label_smoothing=0.1)), "softmax", "onehot"),
    (losses.CategoricalCrossentropy(from_logits=True), ("cce", dict(from_logits=True)), "linear", "onehot"),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
     ("cce", dict(from_logits=True, label_smoothing=0.3)), "linear", "soft"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), ("cce", dict(from_logits=True)), "linear", "ids"),
    (losses.BinaryCrossentropy(label_smoothing=0.2), ("bce", dict(label_smoothing=0.2)), "sigmoid", "binary"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     ("bce", dict(from_logits=True, label_smoothing=0.1)), "linear", "binary"),
    (losses.CategoricalFocalCrossentropy(label_smoothing=0.1),
     ("focal", dict(gamma=2.0, alpha=0.25, label_smoothing=0.1)), "softmax", "onehot"),
    (losses.CategoricalFocalCrossentropy(gamma=1.5, alpha=1.0, from_logits=True, label_smoothing=0.3),
     ("focal", dict(gamma=1.5, alpha=1.0, from_logits=True, label_smoothing=0.3)), "linear", "soft"),
]
CASE_IDS = [f"{c[1][0]}-{c[2]}-{'-'.join(f'{k}={v}' for k, v in c[1][1].items())}" for c in CASES]


def targets_for(kind, ids, Y, rng):
    return {"ids": ids, "onehot": Y, "soft": rng.dirichlet(np.ones(Y.shape[1]), len(ids)),
            "real": rng.standard_normal(Y.shape), "binary": rng.integers(0, 2, Y.shape).astype(float)}[kind]


@pytest.mark.parametrize("loss, form, output, kind", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_evaluate_and_first_epoch_loss_follow_keras_formulas(loss, form, output, kind, backend):
    """evaluate = (1/n) Σ_b E_b of the outputs predict gives; Loss(y, ŷ) the same; the loss of an
    epoch of one batch is the loss before its update."""
    x, ids, Y, rng = data(n=30)
    y = targets_for(kind, ids, Y, rng)
    m = model("tanh", output, backend=backend)
    m.compile(loss=loss, optimizer=SGD(lr=0.5))
    rows = Y if kind == "ids" else y
    P = m.predict(x)
    expected = keras_loss(form[0], P, np.eye(3)[ids] if kind == "ids" else rows, **form[1]).mean()
    assert m.evaluate(x, y) == pytest.approx(expected, rel=1e-12)
    assert m.loss(y, P) == pytest.approx(expected, rel=1e-12)
    history = m.fit(x, y, batch_size=30, epochs=2, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)
    assert history.history["loss"][1] < history.history["loss"][0]          # and it learns


@pytest.mark.parametrize("loss, form, output, kind", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("hidden", NEW_ACTIVATIONS)
def test_gradcheck(loss, form, output, kind, hidden):
    """Backprop of the whole model against central differences, every new activation (hidden)
    with every new loss, in float64."""
    x, ids, Y, rng = data(n=12, seed=len(hidden))
    y = targets_for(kind, ids, Y, rng)
    m = model(hidden, output, seed=3)
    m.compile(loss=loss)
    assert fastnn.gradcheck(m, x, y) < 1e-6


# ---------------------------------------------------------------- training: compiled and NumPy, logits


# each loss with one of the new activations in the hidden layer
FIT_CASES = [(*case, NEW_ACTIVATIONS[i % len(NEW_ACTIVATIONS)]) for i, case in enumerate(CASES)]


@pytest.mark.parametrize("loss, form, output, kind, hidden", FIT_CASES,
                         ids=[f"{i}-{c[-1]}" for i, c in zip(CASE_IDS, FIT_CASES)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_and_numpy_fit_agree(loss, form, output, kind, hidden, dtype):
    x, ids, Y, rng = data(n=50, seed=7)
    y = targets_for(kind, ids, Y, rng)
    results = []
    for backend in ("compiled", "numpy"):
        m = model(hidden, output, dtype=dtype, backend=backend, seed=5)
        m.compile(loss=loss, optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"] if kind != "real" else None)
        history = m.fit(x, y, batch_size=8, epochs=3, verbose=0, seed=1)
        results.append((history.history, m.get_weights(), m.evaluate(x, y, return_dict=True)))
    (h_c, w_c, e_c), (h_n, w_n, e_n) = results
    tol = 1e-4 if dtype == "float32" else 1e-10
    for key in h_c:
        np.testing.assert_allclose(h_c[key], h_n[key], rtol=tol, atol=tol, err_msg=key)
    for a, b in zip(w_c, w_n):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for key in e_c:
        assert e_c[key] == pytest.approx(e_n[key], rel=tol, abs=tol)


@pytest.mark.parametrize("fused, logits, kind", [
    ("categorical_crossentropy", losses.CategoricalCrossentropy(from_logits=True), "onehot"),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy(from_logits=True), "ids"),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), losses.CategoricalCrossentropy(True, 0.1), "onehot"),
    (losses.CategoricalFocalCrossentropy(), losses.CategoricalFocalCrossentropy(from_logits=True), "onehot"),
    ("binary_crossentropy", losses.BinaryCrossentropy(from_logits=True), "binary"),
])
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_logits_on_a_linear_output_trains_as_the_fused_output(fused, logits, kind, backend, dtype):
    """Dense(k, softmax) + CCE and Dense(k) + CCE(from_logits=True) are the same loss of the same Z:
    the same history and weights; predict gives probabilities for one and logits for the other."""
    x, ids, Y, rng = data(n=45, seed=2)
    binary = kind == "binary"
    y = targets_for(kind, ids, Y, rng)[:, :1] if binary else targets_for(kind, ids, Y, rng)
    units = 1 if binary else 3
    runs = []
    for loss, output in ((fused, "sigmoid" if binary else "softmax"), (logits, "linear")):
        m = model("gelu", output, units=units, dtype=dtype, backend=backend, seed=4)
        m.compile(loss=loss, optimizer=SGD(lr=0.1, momentum=0.9), metrics=["accuracy"])
        history = m.fit(x, y, batch_size=10, epochs=3, verbose=0, seed=3)
        runs.append((history.history, m.get_weights(), m.predict(x), m.evaluate(x, y)))
    (h_f, w_f, p_f, e_f), (h_l, w_l, p_l, e_l) = runs
    tol = 2e-5 if dtype == "float32" else 1e-12
    for key in h_f:
        np.testing.assert_allclose(h_l[key], h_f[key], rtol=tol, atol=tol, err_msg=key)
    for a, b in zip(w_l, w_f):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(expit(p_l) if binary else softmax(p_l.astype(np.float64), axis=1), p_f, rtol=tol,
                               atol=tol)
    np.testing.assert_allclose(e_l, e_f, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_layer_views_from_the_logits(backend):
    """After a step the output layer shows its logits: A = Z (what predict returns)."""
    x, ids, Y, _ = data(n=16)
    m = model("silu", "linear", backend=backend)
    m.compile(loss=losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), optimizer=SGD(lr=0.1))
    m.fit(x, Y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    out = m.layers[-1]
    np.testing.assert_array_equal(out.A, out.Z)
    # δ of the output: (softmax(Z) − y')/n with y' = 0.9·y + 0.1/3 (the batch's Z, before its update)
    y_smooth = Y * 0.9 + 0.1 / 3
    np.testing.assert_allclose(out.delta, (softmax(out.Z, axis=1) - y_smooth) / 16, rtol=1e-12, atol=1e-15)


def test_regression_losses_take_any_real_targets():
    x, _, _, rng = data(n=20)
    y = 100 * rng.standard_normal((20, 3))
    for loss in ("mae", losses.Huber(delta=5.0)):
        m = model("softplus", "linear")
        m.compile(loss=loss, optimizer=SGD(lr=0.01))
        m.fit(x, y, epochs=2, verbose=0)
        with pytest.raises(ValueError, match="class_weight needs class targets"):
            m.fit(x, y, epochs=1, verbose=0, class_weight="balanced")


@pytest.mark.parametrize("loss", [losses.Huber(0.5),
                                  losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
                                  losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)], ids=repr)
def test_save_and_load_keep_activations_and_loss_parameters(tmp_path, loss):
    x, ids, Y, rng = data(n=20)
    binary = isinstance(loss, losses.BinaryCrossentropy)
    y = Y[:, :1] if binary else Y
    m = Sequential([Dense(6, activation="selu", input_shape=(4,)), Dense(5, activation="gelu"),
                    Dense(1 if binary else 3)], dtype="float64", seed=0)
    m.compile(loss=loss, optimizer=SGD(lr=0.05))
    m.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.fastnn"
    m.save(path)
    again = fastnn.load_model(path)
    assert again.loss.get_config() == loss.get_config()
    assert [layer.activation for layer in again.layers] == ["selu", "gelu", "linear"]
    np.testing.assert_array_equal(again.predict(x), m.predict(x))
    assert again.evaluate(x, y) == m.evaluate(x, y)


# ---------------------------------------------------------------- Keras 3 itself, when it is installed


def test_same_numbers_as_keras():
    keras = pytest.importorskip("keras")
    if not str(keras.__version__).startswith("3"):
        pytest.skip(f"keras {keras.__version__} is not Keras 3")
    rng = np.random.default_rng(0)
    z = np.linspace(-6, 6, 49).reshape(7, 7).astype(np.float32)
    for name in NEW_ACTIVATIONS:
        expected = keras.ops.convert_to_numpy(keras.activations.get(name)(z))
        np.testing.assert_allclose(fastnn.activations.apply(name, z, dtype=np.float32), expected, rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    Z = rng.standard_normal((6, 4)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    B = rng.integers(0, 2, (6, 4)).astype(np.float32)
    R = rng.standard_normal((6, 4)).astype(np.float32)
    pairs = [
        (losses.MeanAbsoluteError(), keras.losses.MeanAbsoluteError(), R, Z),
        (losses.Huber(0.7), keras.losses.Huber(delta=0.7), R, Z),
        (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
         keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), Y, Z),
        (losses.CategoricalCrossentropy(label_smoothing=0.1),
         keras.losses.CategoricalCrossentropy(label_smoothing=0.1), Y, softmax(Z, axis=1)),
        (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
         keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), B, Z),
        (losses.BinaryCrossentropy(label_smoothing=0.3),
         keras.losses.BinaryCrossentropy(label_smoothing=0.3), B, expit(Z)),
        (losses.CategoricalFocalCrossentropy(gamma=2.0, alpha=0.25, label_smoothing=0.1),
         keras.losses.CategoricalFocalCrossentropy(gamma=2.0, alpha=0.25, label_smoothing=0.1), Y, softmax(Z, axis=1)),
        (losses.CategoricalFocalCrossentropy(gamma=1.0, alpha=0.5, from_logits=True, label_smoothing=0.2),
         keras.losses.CategoricalFocalCrossentropy(gamma=1.0, alpha=0.5, from_logits=True, label_smoothing=0.2), Y, Z),
    ]
    for ours, theirs, y_true, y_pred in pairs:
        expected = float(keras.ops.convert_to_numpy(theirs(y_true, y_pred)))
        assert ours(y_true, y_pred) == pytest.approx(expected, rel=1e-5), repr(ours)


@pytest.mark.parametrize("loss, output, kind", [
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "linear", "onehot"),
    (losses.Huber(delta=0.5), "linear", "real"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), "linear", "binary"),
], ids=["cce-logits-smoothed", "huber", "bce-logits-smoothed"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_with_the_other_optimizers_and_a_penalty(loss, output, kind, optimizer):
    """The new losses and activations beside issue #25's other parts (Adam, RMSprop, an L2
    penalty whose value joins each step's loss): compiled and NumPy training agree."""
    from fastnn.regularizers import L2
    x, ids, Y, rng = data(n=40, seed=9)
    y = targets_for(kind, ids, Y, rng)
    results = []
    for backend in ("compiled", "numpy"):
        m = Sequential([Dense(6, activation="gelu", input_shape=(4,), kernel_regularizer=L2(0.01)),
                        Dense(3, activation=output)], dtype="float64", backend=backend, seed=6)
        m.compile(loss=loss, optimizer=optimizer)
        history = m.fit(x, y, batch_size=8, epochs=3, verbose=0, seed=2)
        results.append((history.history["loss"], m.get_weights()))
    (h_c, w_c), (h_n, w_n) = results
    np.testing.assert_allclose(h_c, h_n, rtol=1e-10)
    for a, b in zip(w_c, w_n):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
