"""Sequential structure: layers, parameter counting, summary, weights, initialisation, input checks."""
import numpy as np
import pytest

import fastnn
from fastnn import Sequential
from fastnn.layers import Activation, Dense
from fastnn.optimizers import SGD


def course_mnist_net(**kw):
    model = Sequential(**kw)
    model.add(Dense(64, activation="relu", input_shape=(784,)))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


def test_course_parameter_table():
    model = course_mnist_net()
    assert model.count_params() == 59_210
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for figure in ("50,176", "50,240", "4,096", "4,160", "640", "650", "59,008", "202", "59,210"):
        assert figure in text, figure
    per_layer = [layer.count_params() for layer in model.build().layers]
    assert per_layer == [50_240, 4_160, 4_160, 650]


def test_big_network_parameter_count():
    # the course's 784-1024-1024-1024-10 network (its text misprints 2.913.920)
    model = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(1024, activation="relu"),
                        Dense(1024, activation="relu"), Dense(10, activation="softmax")])
    assert model.count_params() == 2_913_290


def test_list_constructor_and_weights_shapes():
    model = Sequential([Dense(12, activation="relu", input_shape=(4,)), Dense(6, activation="relu"),
                        Dense(1, activation="sigmoid")], seed=0)
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(4, 12), (12,), (12, 6), (6,), (6, 1), (1,)]
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_set_weights_checks_shapes_and_copies():
    model = Sequential([Dense(3, input_shape=(2,)), Dense(1)])
    weights = [np.ones((2, 3)), np.zeros(3), np.full((3, 1), 2.0), np.ones(1)]
    model.set_weights(weights)
    weights[0][0, 0] = 99                              # the model holds a copy
    assert model.get_weights()[0][0, 0] == 1
    assert np.allclose(model.predict(np.array([[1.0, 1.0]])), 13.0)   # 3 units of 2 → 2·2·3 + 1
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.ones((3, 3)), np.zeros(3), np.ones((3, 1)), np.ones(1)])
    with pytest.raises(ValueError, match="4 weight arrays"):
        model.set_weights(weights[:2])
    layer = model.layers[0]
    layer.set_weights([np.full((2, 3), 0.5), np.ones(3)])
    assert np.all(layer.get_weights()[0] == 0.5)


def test_dtype_float64_and_bad_dtype():
    model = Sequential([Dense(2, input_shape=(3,))], dtype="float64")
    assert model.get_weights()[0].dtype == np.float64
    assert model.predict(np.ones((1, 3), dtype=np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        Sequential(dtype="float16")


@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros"])
def test_initialisers_statistics(init):
    model = Sequential([Dense(400, input_shape=(300,), kernel_initializer=init)], dtype="float64", seed=3)
    W, b = model.get_weights()
    assert np.all(b == 0)
    fan_in, fan_out = 300, 400
    expected_std = {"glorot_uniform": np.sqrt(2 / (fan_in + fan_out)), "glorot_normal": np.sqrt(2 / (fan_in + fan_out)),
                    "he_uniform": np.sqrt(2 / fan_in), "he_normal": np.sqrt(2 / fan_in), "zeros": 0.0}[init]
    assert W.std() == pytest.approx(expected_std, rel=0.02, abs=1e-12)
    if init == "glorot_uniform":
        assert np.abs(W).max() <= np.sqrt(6 / (fan_in + fan_out))


def test_seed_gives_identical_weights():
    a = course_mnist_net(seed=7).build().get_weights()
    b = course_mnist_net(seed=7).build().get_weights()
    c = course_mnist_net(seed=8).build().get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_activation_layer_folds_into_dense():
    a = Sequential([Dense(5, input_shape=(3,)), Activation("tanh"), Dense(2), Activation("softmax")], seed=1)
    b = Sequential([Dense(5, activation="tanh", input_shape=(3,)), Dense(2, activation="softmax")], seed=1)
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert np.array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="Activation"):
        Sequential([Dense(5, activation="relu", input_shape=(3,)), Activation("tanh")])


def test_predict_matches_numpy_forward():
    model = Sequential([Dense(7, activation="relu", input_shape=(5,)), Dense(4, activation="tanh"),
                        Dense(3, activation="softmax")], dtype="float64", seed=2)
    x = np.random.default_rng(1).standard_normal((9000, 5))      # more than one predict chunk
    W1, b1, W2, b2, W3, b3 = model.get_weights()
    h = np.maximum(x @ W1 + b1, 0)
    h = np.tanh(h @ W2 + b2)
    z = h @ W3 + b3
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x), p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax"])
def test_every_activation_in_predict(name):
    model = Sequential([Dense(4, activation=name, input_shape=(3,))], dtype="float64", seed=0)
    x = np.random.default_rng(0).standard_normal((6, 3)) * 3
    W, b = model.get_weights()
    z = x @ W + b
    expected = {"linear": z, "step": (z >= 0).astype(float), "sigmoid": 1 / (1 + np.exp(-z)),
                "hard_sigmoid": np.clip((z + 1) / 2, 0, 1), "tanh": np.tanh(z), "relu": np.maximum(z, 0),
                "softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)}[name]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- bad input


def compiled_iris_like(loss="categorical_crossentropy", units=3, activation="softmax"):
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(units, activation=activation)], seed=0)
    model.compile(loss=loss, optimizer=SGD(lr=0.1), metrics=["accuracy"])
    return model


X4 = np.random.default_rng(0).standard_normal((20, 4))
Y3 = fastnn.utils.to_categorical(np.arange(20) % 3, 3)


@pytest.mark.parametrize("x, y, match", [
    (np.ones((20, 5)), Y3, "5 features but the model expects 4"),
    (np.ones((0, 4)), Y3[:0], "empty"),
    (np.ones((20, 2, 2)), Y3, "2-D"),
    (np.where(np.eye(20, 4) > 0, np.nan, 1.0), Y3, "x holds 4 NaN or infinite values"),
    (np.where(np.eye(20, 4) > 0, -np.inf, 1.0), Y3, "x holds 4 NaN or infinite values"),
    (X4, np.ones((20, 4)), "3 units"),
    (X4, np.arange(20) % 3, "to_categorical"),
    (X4, Y3[:10], "10 samples but x has 20"),
    (np.array([["a"] * 4] * 20), Y3, "numbers"),
])
def test_fit_rejects_bad_data(x, y, match):
    with pytest.raises(ValueError, match=match):
        compiled_iris_like().fit(x, y, verbose=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_nonfinite_counts_what_numpy_counts(dtype):
    """fit's one-pass check of its data counts NaN and ±inf exactly as NumPy does, and no
    finite value: not -0, the largest finite value, subnormals, nor a sum that overflows."""
    from fastnn._kernels.train import count_nonfinite
    info = np.finfo(dtype)
    rng = np.random.default_rng(5)
    for shape, share in [((0,), 0.0), ((7,), 0.0), ((3, 1_000_003), 1e-5), ((40, 9, 11), 0.2), ((100_000,), 1.0)]:
        x = rng.standard_normal(shape).astype(dtype)
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, info.max, -info.max, info.tiny / 4, info.eps], dtype)
        picked = rng.random(shape) < share
        x[picked] = rng.choice(specials, int(picked.sum()))
        expected = int(np.count_nonzero(~np.isfinite(x)))
        assert count_nonfinite(x) == expected
        if x.ndim == 2:
            assert count_nonfinite(x[:, ::2]) == int(np.count_nonzero(~np.isfinite(x[:, ::2])))   # strided
    assert count_nonfinite(np.full(10, np.finfo(dtype).max, dtype)) == 0
    with pytest.raises(TypeError, match="float32 or float64"):
        count_nonfinite(np.arange(5))


def test_fit_rejects_bad_arguments():
    model = compiled_iris_like()
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(X4, Y3, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X4, Y3, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(X4, Y3, class_weight="sometimes", verbose=0)
    with pytest.raises(ValueError, match="class ids in"):
        model.fit(X4, Y3, class_weight={7: 2.0}, verbose=0)


def test_sparse_labels_out_of_range():
    model = compiled_iris_like(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="3 classes"):
        model.fit(X4, np.arange(20) % 4, verbose=0)
    with pytest.raises(ValueError, match="class ids"):
        model.fit(X4, np.full(20, -1), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="categorical_crossentropy", units=1, activation="sigmoid"), "binary_crossentropy"),
    (dict(loss="categorical_crossentropy", units=3, activation="relu"), "softmax"),
    (dict(loss="binary_crossentropy", units=1, activation="relu"), "sigmoid"),
    (dict(loss="hinge"), "unknown loss"),
])
def test_loss_must_fit_the_output(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compiled_iris_like(**kwargs)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation"):
        Dense(3, activation="swish")
    with pytest.raises(ValueError, match="unknown optimizer"):
        compiled_iris_like().compile(loss="mse", optimizer="adamax")
    with pytest.raises(ValueError, match="kernel_initializer"):
        Dense(3, kernel_initializer="orthogonal")
    with pytest.raises(ValueError, match="metric"):
        compiled_iris_like().compile(loss="mse", metrics=["auc"])
    with pytest.raises(ValueError, match="units"):
        Dense(0)


def test_integer_and_float64_inputs_are_converted():
    model = compiled_iris_like(loss="sparse_categorical_crossentropy")
    x_int = (np.arange(80).reshape(20, 4) % 5).astype(np.int64)
    history = model.fit(x_int, (np.arange(20) % 3).astype(np.int32), epochs=2, verbose=0, seed=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(x_int).dtype == np.float32


def test_optimizer_arguments():
    assert SGD(lr=0.5).learning_rate == 0.5
    assert SGD(0.2).lr == 0.2
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="once"):
        SGD(learning_rate=0.1, lr=0.2)
    assert SGD(lr=0.01, decay=1e-2).current_learning_rate(100) == pytest.approx(0.005)


def test_to_categorical_and_class_weight_match_sklearn():
    from sklearn.utils.class_weight import compute_class_weight as sk_weights
    y = np.array([0] * 50 + [1] * 30 + [2] * 5)
    np.testing.assert_allclose(fastnn.utils.compute_class_weight("balanced", classes=np.arange(3), y=y),
                               sk_weights("balanced", classes=np.arange(3), y=y))
    # α_i = n / (k·n_i)
    np.testing.assert_allclose(fastnn.utils.compute_class_weight("balanced", classes=np.arange(3), y=y),
                               [85 / (3 * 50), 85 / (3 * 30), 85 / (3 * 5)])
    one_hot = fastnn.utils.to_categorical([2, 0, 1], 4)
    assert one_hot.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match="num_classes"):
        fastnn.utils.to_categorical([5], 3)
