"""The optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), schedules and penalties.

Each rule's compiled kernel is checked against formulas written out here from Keras 3's
sources (keras/src/optimizers/*.py), independently of fastnn's NumPy backend, and against
that backend; then inside the compiled training loop against the NumPy trainer; then the
Keras-level behaviour: schedules, penalties in the loss, saving and resuming, bad input.
"""
import math
import os

import numpy as np
import pytest

import fastnn
from fastnn import Sequential, regularizers
from fastnn.backend import compiled_backend, numpy_backend
from fastnn.layers import Dense
from fastnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, schedules

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


# ---------------------------------------------------------------- Keras 3's formulas, written out

def keras_step(config, w, g, state, lr, t, l1=0.0, l2=0.0):
    """One step as Keras 3 takes it: the penalty's gradient joins g (the regularization loss
    is part of the loss), clipvalue clips g, weight decay w -= w·wd·lr, then the rule's
    update_step. state: a dict of arrays, updated in place; returns the new w."""
    w, g = w.copy(), g + l1 * np.sign(w) + 2 * l2 * w
    clip = config.get("clipnorm") or config.get("global_clipnorm")      # one variable: the same
    if clip:
        g = g * clip / max(np.sqrt(np.sum(np.square(g))), clip)
    if config.get("clipvalue"):
        g = np.clip(g, -config["clipvalue"], config["clipvalue"])
    if config.get("weight_decay"):
        w = w - w * config["weight_decay"] * lr
    kind = config["kind"]
    if kind == "sgd":
        momentum = config.get("momentum", 0.0)
        if momentum:
            m = state["m"]
            m[...] = m * momentum - g * lr
            w = w + (m * momentum - g * lr if config.get("nesterov") else m)
        else:
            w = w - g * lr
    elif kind == "adam":
        b1, b2, eps = config.get("beta_1", 0.9), config.get("beta_2", 0.999), config.get("epsilon", 1e-7)
        local_step = t + 1
        alpha = lr * math.sqrt(1 - b2 ** local_step) / (1 - b1 ** local_step)
        state["m"] += (g - state["m"]) * (1 - b1)
        state["v"] += (np.square(g) - state["v"]) * (1 - b2)
        v = state["v"]
        if config.get("amsgrad"):
            state["v_hat"][...] = np.maximum(state["v_hat"], state["v"])
            v = state["v_hat"]
        w = w - (state["m"] * alpha) / (np.sqrt(v) + eps)
    elif kind == "rmsprop":
        rho, eps, momentum = config.get("rho", 0.9), config.get("epsilon", 1e-7), config.get("momentum", 0.0)
        state["velocity"][...] = rho * state["velocity"] + (1 - rho) * np.square(g)
        if config.get("centered"):
            state["average_grad"][...] = rho * state["average_grad"] + (1 - rho) * g
            denominator = state["velocity"] - np.square(state["average_grad"]) + eps
        else:
            denominator = state["velocity"] + eps
        increment = (lr * g) / np.sqrt(denominator)
        if momentum > 0:
            state["momentum"][...] = momentum * state["momentum"] + increment
            w = w - state["momentum"]
        else:
            w = w - increment
    elif kind == "adagrad":
        state["accumulator"] += np.square(g)
        w = w - (lr * g) / np.sqrt(state["accumulator"] + config.get("epsilon", 1e-7))
    return w


KERAS_STATE = {"sgd": ["m"], "adam": ["m", "v", "v_hat"], "rmsprop": ["velocity", "momentum", "average_grad"],
               "adagrad": ["accumulator"]}

RULES = [
    {"kind": "sgd"},
    {"kind": "sgd", "momentum": 0.9},
    {"kind": "sgd", "momentum": 0.9, "nesterov": True},
    {"kind": "sgd", "momentum": 0.5, "weight_decay": 0.1, "clipvalue": 0.3},
    {"kind": "adam"},
    {"kind": "adam", "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3, "amsgrad": True},
    {"kind": "adam", "weight_decay": 0.004, "clipvalue": 0.5},
    {"kind": "rmsprop"},
    {"kind": "rmsprop", "momentum": 0.9},
    {"kind": "rmsprop", "centered": True},
    {"kind": "rmsprop", "centered": True, "momentum": 0.5, "rho": 0.7, "weight_decay": 0.02},
    {"kind": "adagrad", "epsilon": 1e-6},
    {"kind": "adagrad", "clipvalue": 0.2},
    {"kind": "adam", "clipnorm": 0.5},
    {"kind": "sgd", "momentum": 0.9, "global_clipnorm": 1.0, "weight_decay": 0.01},
    {"kind": "rmsprop", "clipnorm": 100.0},
]


def rule_id(rule):
    return "-".join(f"{k}={v}" if k != "kind" else v for k, v in rule.items())


@pytest.mark.parametrize("penalty", [(0.0, 0.0), (0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_rule_is_keras_formula(rule, dtype, penalty):
    """Five steps of the compiled kernel and of the NumPy backend against Keras 3's update,
    from the same weights with the same gradients; the penalty's value is returned too."""
    rng = np.random.default_rng(len(rule_id(rule)))
    shape = (7, 19)
    w0 = rng.standard_normal(shape).astype(dtype)
    initial = 0.1 if rule["kind"] == "adagrad" else 0.0
    l1, l2 = penalty
    ws = {"compiled": w0.copy(), "numpy": w0.copy()}
    states = {name: [np.full(shape, initial, dtype) for _ in range(fastnn.optimizers.RULE_STATES[rule["kind"]])]
              for name in ws}
    keras_w = w0.astype(np.float64)
    keras_state = {k: np.full(shape, initial if k == "accumulator" else 0.0) for k in KERAS_STATE[rule["kind"]]}
    for t in range(5):
        g = rng.standard_normal(shape).astype(dtype)
        lr = 0.05 / (1 + t)
        expected_penalty = l1 * np.abs(keras_w).sum() + l2 * np.square(keras_w).sum()
        for name, backend in (("compiled", compiled_backend), ("numpy", numpy_backend)):
            value = backend.optimizer_step(rule, ws[name], g, states[name], lr, t, l1, l2)
            assert value == pytest.approx(expected_penalty, rel=1e-5 if dtype == np.float32 else 1e-12)
        keras_w = keras_step(rule, keras_w, g.astype(np.float64), keras_state, lr, t, l1, l2)
    for name in ws:
        np.testing.assert_allclose(ws[name], keras_w, **{**TOL[dtype], "rtol": TOL[dtype]["rtol"] * 50})
    np.testing.assert_allclose(ws["compiled"], ws["numpy"], **TOL[dtype])


def test_plain_momentum_step_is_bit_for_bit_the_sgd_kernel():
    """The general kernel's SGD rule rounds as fnn_sgd_momentum (v := fma(μ, v, −γ·g))."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal(1000).astype(np.float32)
    v = rng.standard_normal(1000).astype(np.float32)
    w2, v2 = w.copy(), v.copy()
    compiled_backend.sgd_update(w, g, v, 0.01, 0.9)
    compiled_backend.optimizer_step({"kind": "sgd", "momentum": 0.9}, w2, g, [v2], 0.01, 0)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(v, v2)


@pytest.mark.parametrize("bad, message", [
    ({"kind": "adamax"}, "unknown rule kind 'adamax'"),
    ({"kind": "adam", "beta_2": 1.5}, "beta_2"),
    ({"kind": "sgd", "epsilon": -1.0}, "epsilon"),
    ({"kind": "sgd", "lookahead": 3}, "unknown rule fields"),
])
def test_kernel_rejects_bad_rules(bad, message):
    w = np.zeros(3)
    with pytest.raises(ValueError, match=message):
        compiled_backend.optimizer_step(bad, w, np.zeros(3), [np.zeros(3)] * (3 if "adam" in bad["kind"] else 1),
                                        0.1, 0)


def test_kernel_checks_its_state_arrays():
    w, g = np.zeros(4), np.zeros(4)
    with pytest.raises(ValueError, match="keeps 3 state arrays, got 1"):
        compiled_backend.optimizer_step({"kind": "adam"}, w, g, [np.zeros(4)], 0.1, 0)
    with pytest.raises(ValueError, match=r"states\[1\] is None"):
        compiled_backend.optimizer_step({"kind": "adam"}, w, g, [np.zeros(4), None, None], 0.1, 0)
    with pytest.raises(ValueError, match=r"states\[0\]"):
        compiled_backend.optimizer_step({"kind": "sgd", "momentum": 0.9}, w, g, [np.zeros(5)], 0.1, 0)
    with pytest.raises(TypeError):
        compiled_backend.optimizer_step({"kind": "sgd"}, w, g.astype(np.float32), [np.zeros(4)], 0.1, 0)


# ---------------------------------------------------------------- in the training loop

def iris_model(optimizer, backend="compiled", dtype="float64", regularized=False, seed=0):
    reg = dict(kernel_regularizer=regularizers.L1L2(l1=0.001, l2=0.01), bias_regularizer="l2") if regularized else {}
    model = Sequential([Dense(12, activation="relu", input_shape=(4,), **reg), Dense(6, activation="tanh"),
                        Dense(3, activation="softmax", **reg)], seed=seed, dtype=dtype, backend=backend)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def iris():
    from fastnn.datasets import load_iris
    x, y = load_iris()
    return ((x - x.mean(0)) / x.std(0)), y


OPTIMIZERS = [
    lambda: SGD(0.05, momentum=0.9, weight_decay=0.01),
    lambda: Adam(0.01),
    lambda: Adam(0.01, amsgrad=True, clipvalue=0.1),
    lambda: AdamW(0.01),
    lambda: RMSprop(0.005, momentum=0.5, centered=True),
    lambda: Adagrad(0.05),
    lambda: Adam(schedules.ExponentialDecay(0.02, decay_steps=10, decay_rate=0.5)),
    lambda: SGD(schedules.CosineDecay(0.05, 40, alpha=0.1, warmup_target=0.1, warmup_steps=10), momentum=0.9),
    lambda: Adam(0.01, clipnorm=0.05),
    lambda: SGD(0.1, momentum=0.9, global_clipnorm=0.2),
]


@pytest.mark.parametrize("regularized", [False, True])
@pytest.mark.parametrize("make", OPTIMIZERS, ids=lambda f: repr(f()))
@pytest.mark.parametrize("n_workers", [1, 2])
def test_compiled_loop_matches_the_numpy_trainer(iris, make, regularized, n_workers, monkeypatch):
    """Three epochs of each optimizer in the compiled loop (one and two workers) and in the
    NumPy trainer give the same weights, losses and optimizer state (float64)."""
    x, y = iris
    results = []
    for backend in ("compiled", "numpy"):
        model = iris_model(make(), backend, regularized=regularized)
        if backend == "compiled":
            monkeypatch.setattr(model, "_thread_plan", lambda batch_size: (n_workers, 1, "batch"))
        history = model.fit(x, y, batch_size=10, epochs=3, verbose=0, seed=1)
        results.append((model.get_weights(), history.history["loss"], model.optimizer.variables,
                        model.optimizer.iterations))
    (w1, loss1, s1, t1), (w2, loss2, s2, t2) = results
    assert t1 == t2 == 45
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss1, loss2, rtol=1e-9)
    for a, b in zip(s1, s2):
        for sa, sb in zip(a, b):
            np.testing.assert_allclose(sa, sb, rtol=1e-9, atol=1e-12)
    assert loss1[-1] < loss1[0]


@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm"])
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_clipnorm_scales_each_gradient_or_all_together(iris, clip, backend):
    """One SGD step: each parameter moves by −γ·g·c / max(‖g‖, c), ‖g‖ its own gradient's norm
    (clipnorm) or the norm of all the gradients together (global_clipnorm), penalties included."""
    x, y = iris
    model = iris_model(SGD(0.5, **{clip: 0.4}), backend, regularized=True)
    model.build(4)
    before = model.get_weights()
    model.train_on_batch(x[:30], y[:30])
    grads = []
    for layer, (W, b) in zip(model.layers, zip(before[0::2], before[1::2])):
        k = layer.kernel_regularizer or regularizers.L1L2()
        r = layer.bias_regularizer or regularizers.L1L2()
        grads += [layer.dW + k.l1 * np.sign(W) + 2 * k.l2 * W, layer.db + r.l1 * np.sign(b) + 2 * r.l2 * b]
    norms = [np.sqrt(np.sum(g ** 2)) for g in grads]
    total = np.sqrt(sum(n ** 2 for n in norms))
    assert min(norms) < 0.4 < max(norms)             # some gradients are clipped, some not
    for w0, w1, g, n in zip(before, model.get_weights(), grads, norms):
        scale = 0.4 / max(total if clip == "global_clipnorm" else n, 0.4)
        np.testing.assert_allclose(w1, w0 - 0.5 * g * scale, rtol=1e-10, atol=1e-14)


def test_only_one_clipping_at_a_time():
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="global_clipnorm must be > 0"):
        SGD(global_clipnorm=0.0)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: RMSprop(0.01)], ids=["adam", "rmsprop"])
def test_learns_iris(iris, make):
    x, y = iris
    model = iris_model(make(), dtype="float32")
    history = model.fit(x, y, batch_size=10, epochs=30, verbose=0, seed=0)
    assert history.history["accuracy"][-1] > 0.95


def test_penalty_joins_the_reported_loss(iris):
    """train_on_batch's loss is the batch's mean loss (as evaluate computes it) plus
    l1·Σ|W| + l2·ΣW² of the weights before the step; dW is the data loss's gradient."""
    x, y = iris
    for backend in ("compiled", "numpy"):
        model = iris_model(SGD(0.1), backend, regularized=True)
        model.build(4)
        data_loss = model.evaluate(x[:20], y[:20], verbose=0)
        data_loss = data_loss[0] if isinstance(data_loss, (list, tuple)) else data_loss
        penalty = sum(layer.penalty() for layer in model.layers)
        assert penalty > 0
        weights = model.get_weights()
        loss = model.train_on_batch(x[:20], y[:20])
        loss = loss[0] if isinstance(loss, (list, tuple)) else loss
        assert loss == pytest.approx(data_loss + penalty, rel=1e-12)
        # the step: W' = W − γ·(dW + l1·sign(W) + 2·l2·W) for the first layer's kernel
        W, W_new = weights[0], model.get_weights()[0]
        dW = model.layers[0].dW
        np.testing.assert_allclose(W_new, W - 0.1 * (dW + 0.001 * np.sign(W) + 0.02 * W), rtol=1e-12, atol=1e-15)


def test_inverse_time_decay_is_the_course_decay_bit_for_bit(iris):
    x, y = iris
    weights = []
    for optimizer in (SGD(0.05, momentum=0.9, decay=0.01),
                      SGD(schedules.InverseTimeDecay(0.05, decay_steps=1, decay_rate=0.01), momentum=0.9)):
        model = iris_model(optimizer, dtype="float32")
        model.fit(x, y, batch_size=10, epochs=2, verbose=0, seed=3)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_python_callable_is_a_schedule(iris):
    """Any function of the step works: it is called once per step, all at once per call."""
    x, y = iris
    seen = []

    def schedule(t):
        seen.append(t)
        return 0.01 if t < 20 else 0.001
    model = iris_model(Adam(schedule))
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, seed=0)
    assert seen == list(range(30))
    reference = iris_model(Adam(schedules.PiecewiseConstantDecay([19], [0.01, 0.001])))
    reference.fit(x, y, batch_size=10, epochs=2, verbose=0, seed=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [lambda: Adam(0.01, amsgrad=True), lambda: RMSprop(0.01, momentum=0.9, centered=True),
                                  lambda: Adagrad(0.1), lambda: SGD(0.05, momentum=0.9, nesterov=True),
                                  lambda: AdamW(schedules.PolynomialDecay(0.01, 50, power=2.0))],
                         ids=["adam", "rmsprop", "adagrad", "sgd", "adamw"])
def test_save_and_resume_continues_bit_for_bit(iris, make, tmp_path):
    x, y = iris
    straight = iris_model(make(), dtype="float32", regularized=True)
    straight.fit(x, y, batch_size=10, epochs=3, verbose=0, seed=0, shuffle=False)
    first = iris_model(make(), dtype="float32", regularized=True)
    first.fit(x, y, batch_size=10, epochs=2, verbose=0, seed=0, shuffle=False)
    first.save(tmp_path / "m.npz")
    resumed = fastnn.load_model(tmp_path / "m.npz")
    assert type(resumed.optimizer) is type(first.optimizer)
    assert resumed.optimizer.get_config() == first.optimizer.get_config()
    assert resumed.optimizer.iterations == 30
    resumed.fit(x, y, batch_size=10, epochs=1, verbose=0, seed=0, shuffle=False)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_file_whose_optimizer_state_does_not_match_is_refused(iris, tmp_path):
    x, y = iris
    model = iris_model(Adam(0.01), dtype="float32")
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    data = dict(np.load(tmp_path / "m.npz"))
    import json
    manifest = json.loads(bytes(data["manifest"]).decode())
    manifest["n_states"] = 1                                   # Adam keeps 3
    data["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ValueError, match="keeps 3 state arrays"):
        fastnn.load_model(tmp_path / "bad.npz")


# ---------------------------------------------------------------- schedules

def test_schedules_follow_keras_formulas():
    t = np.arange(0, 120)
    np.testing.assert_allclose(schedules.ExponentialDecay(0.1, 10, 0.5)(t), 0.1 * 0.5 ** (t / 10))
    np.testing.assert_allclose(schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(t), 0.1 * 0.5 ** (t // 10))
    np.testing.assert_allclose(schedules.InverseTimeDecay(0.1, 5, 0.3)(t), 0.1 / (1 + 0.3 * t / 5))
    np.testing.assert_allclose(schedules.PiecewiseConstantDecay([10, 50], [1.0, 0.5, 0.1])(t),
                               np.where(t <= 10, 1.0, np.where(t <= 50, 0.5, 0.1)))
    poly = schedules.PolynomialDecay(0.1, 100, end_learning_rate=0.01, power=2.0)
    np.testing.assert_allclose(poly(t), (0.1 - 0.01) * (1 - np.minimum(t, 100) / 100) ** 2 + 0.01)
    cyc = schedules.PolynomialDecay(0.1, 40, end_learning_rate=0.0, cycle=True)
    steps = np.maximum(40 * np.ceil(t / 40), 40)
    np.testing.assert_allclose(cyc(t), 0.1 * (1 - t / steps))
    cos = schedules.CosineDecay(0.1, 100, alpha=0.2)
    np.testing.assert_allclose(cos(t), 0.1 * (0.8 * 0.5 * (1 + np.cos(np.pi * np.minimum(t, 100) / 100)) + 0.2))
    warm = schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    np.testing.assert_allclose(warm(t[:10]), 0.1 * t[:10] / 10)
    np.testing.assert_allclose(warm(t[10:]), 0.1 * 0.5 * (1 + np.cos(np.pi * np.minimum(t[10:] - 10, 100) / 100)))


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one more entry"):
        schedules.PiecewiseConstantDecay([10], [1.0])
    model_opt = Adam(lambda t: -0.1 if t == 3 else 0.01)
    with pytest.raises(ValueError, match="at step 3"):
        model_opt.rates(0, 10)


def test_a_bad_schedule_stops_fit_before_any_step(iris):
    x, y = iris
    model = iris_model(Adam(lambda t: float("nan")))
    model.build(4)
    before = model.get_weights()
    with pytest.raises(ValueError, match="a rate must be a finite number"):
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


# ---------------------------------------------------------------- names and bad input

@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("adam", Adam), ("AdamW", AdamW), ("rmsprop", RMSprop),
                                       ("adagrad", Adagrad)])
def test_optimizers_by_name_with_keras_defaults(name, cls):
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(loss="categorical_crossentropy", optimizer=name)
    assert type(model.optimizer) is cls
    config = model.optimizer.get_config()
    defaults = {"sgd": {"learning_rate": 0.01, "momentum": 0.0}, "adam": {"learning_rate": 0.001, "beta_1": 0.9,
                "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
                "adamw": {"learning_rate": 0.001, "weight_decay": 0.004},
                "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
                "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7}}[name.lower()]
    assert {k: config[k] for k in defaults} == defaults


def test_unknown_optimizer_lists_the_choices():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(ValueError, match="sgd, adam, adamw, rmsprop, adagrad"):
        model.compile(loss="categorical_crossentropy", optimizer="adamax")


@pytest.mark.parametrize("make, message", [
    (lambda: Adam(beta_1=1.0), "beta_1 must be in"),
    (lambda: Adam(beta_2=-0.1), "beta_2"),
    (lambda: RMSprop(rho=1.2), "rho"),
    (lambda: Adam(learning_rate=-1e-3), "learning_rate"),
    (lambda: Adam(epsilon=-1.0), "epsilon"),
    (lambda: SGD(clipvalue=0.0), "clipvalue must be > 0"),
    (lambda: Adam(weight_decay=-0.1), "weight_decay"),
    (lambda: Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: regularizers.L2(-0.01), "l2 must be"),
    (lambda: regularizers.get("l3"), "unknown regularizer 'l3'; expected None, one of l1, l2"),
])
def test_bad_settings_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_dense_takes_regularizer_names_and_saves_them(tmp_path):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,), kernel_regularizer="l2",
                              bias_regularizer=regularizers.L1(0.5)), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(0.01))
    assert model.layers[0].penalties() == (0.0, 0.01, 0.5, 0.0)
    model.build(3)
    model.save(tmp_path / "r.npz")
    loaded = fastnn.load_model(tmp_path / "r.npz")
    assert loaded.layers[0].penalties() == (0.0, 0.01, 0.5, 0.0)
    assert loaded.layers[1].penalties() == (0.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------- against Keras 3 itself, where installed

EXTRAS = {"plain": {}, "clipnorm": {"clipnorm": 0.5}, "clipvalue": {"clipvalue": 0.3},
          "global_clipnorm": {"global_clipnorm": 0.7}, "weight_decay": {"weight_decay": 0.05},
          "schedule": {"learning_rate": "exponential"}}


@pytest.mark.parametrize("extra", list(EXTRAS))
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_against_keras(name, extra, monkeypatch):
    """Four steps of Keras 3's own optimizer and of fastnn's kernel, in float64 (Keras on
    JAX needs JAX_ENABLE_X64 before it is imported; the `bench` extra installs them)."""
    keras = _keras_float64(monkeypatch)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((5, 3))
    grads = [rng.standard_normal((5, 3)) for _ in range(4)]
    settings = {"sgd": dict(learning_rate=0.1, momentum=0.9, nesterov=True), "adam": dict(learning_rate=0.01),
                "adamw": dict(learning_rate=0.01, weight_decay=0.05),
                "rmsprop": dict(learning_rate=0.01, momentum=0.5, centered=True),
                "adagrad": dict(learning_rate=0.1)}[name]
    keras_cls = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                 "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad}[name]
    ours_settings = dict(settings, **EXTRAS[extra])
    keras_settings = dict(ours_settings)
    if extra == "schedule":
        ours_settings["learning_rate"] = schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5)
        keras_settings["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(0.02, decay_steps=2,
                                                                                      decay_rate=0.5)
    settings = ours_settings
    variable = keras.Variable(w0, dtype="float64")
    opt = keras_cls(**keras_settings)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), variable)])
    ours = fastnn.optimizers.get(name).__class__(**settings)
    w = w0.copy()
    state = ours.variables_for([w])[0]
    for t, g in enumerate(grads):
        compiled_backend.optimizer_step(ours.rule(), w, g, state, ours.current_learning_rate(t), t)
    keras.config.set_floatx("float32")
    np.testing.assert_allclose(w, keras.ops.convert_to_numpy(variable), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- on real MNIST

def test_adam_with_l2_on_mnist(mnist_flat):
    """784-64-10 with Adam and an L2 penalty: three epochs reach 96% on the 10,000 test digits."""
    x, y, xt, yt = mnist_flat
    model = Sequential([Dense(64, activation="relu", input_shape=(784,), kernel_regularizer=regularizers.L2(1e-5)),
                        Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=100, epochs=3, verbose=0, seed=0)
    assert history.history["loss"][2] < history.history["loss"][1] < history.history["loss"][0]
    accuracy = float(np.mean(model.predict(xt).argmax(axis=1) == yt))
    assert accuracy > 0.96


def _keras_float64(monkeypatch):
    """Keras 3 in float64 (on JAX with JAX_ENABLE_X64), or a skip."""
    monkeypatch.setenv("JAX_ENABLE_X64", "1")
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "jax"))
    keras = pytest.importorskip("keras")
    if keras.backend.backend() == "jax":
        import jax
        if not jax.config.jax_enable_x64:
            pytest.skip("JAX was imported before without float64 (set JAX_ENABLE_X64=1)")
    keras.config.set_floatx("float64")
    return keras


VARIANTS = {  # the rules' other forms, four steps each against Keras 3's optimizer
    "sgd": dict(learning_rate=0.1), "sgd-momentum": dict(learning_rate=0.1, momentum=0.8),
    "adam-amsgrad": dict(learning_rate=0.01, amsgrad=True), "adam-betas": dict(learning_rate=0.02, beta_1=0.5,
                                                                               beta_2=0.9, epsilon=1e-3),
    "rmsprop": dict(learning_rate=0.01), "rmsprop-momentum": dict(learning_rate=0.01, momentum=0.9),
    "rmsprop-centered": dict(learning_rate=0.01, centered=True, rho=0.8),
    "adagrad-accumulator": dict(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-3),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rule_variants_against_keras(variant, monkeypatch):
    keras = _keras_float64(monkeypatch)
    name = variant.split("-")[0]
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((4, 6))
    grads = [rng.standard_normal((4, 6)) for _ in range(5)]
    variable = keras.Variable(w0, dtype="float64")
    opt = getattr(keras.optimizers, {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[name])(
        **VARIANTS[variant])
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), variable)])
    ours = fastnn.optimizers.get(name).__class__(**VARIANTS[variant])
    w = w0.copy()
    state = ours.variables_for([w])[0]
    for t, g in enumerate(grads):
        compiled_backend.optimizer_step(ours.rule(), w, g, state, ours.current_learning_rate(t), t)
    keras.config.set_floatx("float32")
    np.testing.assert_allclose(w, keras.ops.convert_to_numpy(variable), rtol=1e-9, atol=1e-12)


SCHEDULES = {  # (fastnn's, Keras 3's class name, the same arguments)
    "inverse-time": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.3)),
    "inverse-time-staircase": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5,
                                                        staircase=True)),
    "exponential": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    "exponential-staircase": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5,
                                                       staircase=True)),
    "piecewise": ("PiecewiseConstantDecay", dict(boundaries=[10, 50], values=[1.0, 0.5, 0.1])),
    "polynomial": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=60, end_learning_rate=0.01,
                                           power=2.0)),
    "polynomial-cycle": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=40, end_learning_rate=0.0,
                                                 power=0.5, cycle=True)),
    "cosine": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=80, alpha=0.2)),
    "cosine-warmup": ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=80, warmup_target=0.1,
                                          warmup_steps=15)),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_schedules_against_keras(schedule, monkeypatch):
    """Every schedule's rate at steps 0 .. 149 as Keras 3 computes it, and the rates the
    compiled loop receives for a chunk of steps."""
    keras = _keras_float64(monkeypatch)
    cls, kwargs = SCHEDULES[schedule]
    theirs = getattr(keras.optimizers.schedules, cls)(**kwargs)
    ours = getattr(schedules, cls)(**kwargs)
    steps = np.arange(150)
    expected = np.array([keras.ops.convert_to_numpy(theirs(int(t))) for t in steps], dtype=np.float64)
    # Keras 3 computes CosineDecay in float32 whatever floatx says (its initial rate becomes a
    # float32 tensor), fastnn in float64: there they agree to float32's precision
    rtol, atol = (1e-6, 1e-8) if cls == "CosineDecay" else (1e-9, 1e-15)
    keras.config.set_floatx("float32")
    np.testing.assert_allclose([ours(int(t)) for t in steps], expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(Adam(ours).rates(0, 150), expected, rtol=rtol, atol=atol)


MODEL_CASES = {  # (optimizer, penalties of the first layer, loss)
    "sgd-l2-cce": ("sgd", dict(kernel_regularizer=("L2", 0.01)), "categorical_crossentropy"),
    "adam-l1-bias-l2-cce-logits": ("adam", dict(kernel_regularizer=("L1", 0.003), bias_regularizer=("L2", 0.02)),
                                   "cce-logits"),
    "rmsprop-l1l2-focal": ("rmsprop", dict(kernel_regularizer=("L1L2", 0.002, 0.01)), "focal"),
    "adamw-cce": ("adamw", {}, "categorical_crossentropy"),
    "adagrad-l2-focal": ("adagrad", dict(kernel_regularizer=("L2", 0.005)), "focal"),
    "sgd-cce-logits": ("sgd", {}, "cce-logits"),
    # Keras 3 computes these three losses in float32 inside fit, even in a float64 model
    # (its evaluate of MAE is 3e-8 off the float64 mean |ŷ − y|): compared to 1e-6
    "adam-l1-mse": ("adam", dict(kernel_regularizer=("L1", 0.003)), "mse"),
    "rmsprop-huber": ("rmsprop", dict(bias_regularizer=("L2", 0.01)), "huber"),
    "adamw-mae": ("adamw", {}, "mae"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_training_steps_against_keras(case, monkeypatch):
    """Four train_on_batch steps of the same 4-5-3 model from the same weights on the same
    batches, in float64, in fastnn and in Keras 3: each optimizer with penalties (Keras adds
    them to the loss) and one of the losses; the weights and the losses agree to 1e-9."""
    keras = _keras_float64(monkeypatch)
    opt_name, penalties, loss_name = MODEL_CASES[case]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8, 4))
    ids = rng.integers(0, 3, (4, 8))
    y = np.eye(3)[ids]
    settings = {"sgd": dict(learning_rate=0.1, momentum=0.9), "adam": dict(learning_rate=0.01),
                "adamw": dict(learning_rate=0.01, weight_decay=0.1), "rmsprop": dict(learning_rate=0.01),
                "adagrad": dict(learning_rate=0.1)}[opt_name]
    output = "linear" if loss_name in ("mse", "huber", "mae", "cce-logits") else "softmax"

    def penalty(spec, lib):
        kind, *values = spec
        return getattr(lib.regularizers, kind)(*values)

    def loss(lib):
        if loss_name == "focal":
            return lib.losses.CategoricalFocalCrossentropy(gamma=2.0, alpha=0.25, label_smoothing=0.1)
        if loss_name == "cce-logits":
            return lib.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
        return loss_name

    # (elu, not tanh: Keras 3.15's tanh returns float32 of a float64 tensor)
    theirs = keras.Sequential([keras.Input((4,)),
                               keras.layers.Dense(5, activation="elu",
                                                  **{k: penalty(v, keras) for k, v in penalties.items()}),
                               keras.layers.Dense(3, activation=output)])
    theirs.compile(loss=loss(keras), optimizer=getattr(keras.optimizers, type(fastnn.optimizers.get(opt_name)).__name__)(
        **settings))
    ours = Sequential([Dense(5, activation="elu", input_shape=(4,),
                             **{k: penalty(v, fastnn) for k, v in penalties.items()}),
                       Dense(3, activation=output)], dtype="float64")
    ours.compile(loss=loss(fastnn), optimizer=type(fastnn.optimizers.get(opt_name))(**settings))
    ours.set_weights([np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64) for w in theirs.get_weights()])
    tol = 1e-6 if loss_name in ("mse", "huber", "mae") else 1e-9
    for xb, yb in zip(x, y):
        expected = float(np.asarray(theirs.train_on_batch(xb, yb)).ravel()[0])
        got = ours.train_on_batch(xb, yb)
        got = float(got[0] if isinstance(got, (list, tuple)) else got)
        assert got == pytest.approx(expected, rel=tol)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=tol, atol=tol * 1e-3)
    keras.config.set_floatx("float32")
