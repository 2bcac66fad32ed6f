"""Build, inspect and save as Keras users do: early build, Input, build((None, n)), save_weights /
load_weights, to_json / model_from_json, Keras names refused by save, train_on_batch / test_on_batch."""
import json

import numpy as np
import pytest

import fastnn
from fastnn import Sequential
from fastnn.layers import Activation, Dense, Input
from fastnn.models import model_from_json
from fastnn.optimizers import SGD

RNG = np.random.default_rng(3)
X = RNG.standard_normal((40, 6))
Y = RNG.integers(0, 3, 40)


def layers():
    return [Dense(5, activation="relu"), Dense(3, activation="softmax")]


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- built as soon as the input size is known


def test_first_layer_input_shape_builds_at_once():
    model = Sequential([Dense(16, input_shape=(784,)), Dense(10, activation="softmax")])
    W, b = model.layers[0].get_weights()
    assert W.shape == (784, 16) and b.shape == (16,) and np.all(b == 0)
    assert 0 < np.abs(W).max() <= np.sqrt(6 / (784 + 16))              # glorot_uniform's limit
    assert model.layers[1].get_weights()[0].shape == (16, 10)


def test_plot_weights_works_on_a_model_just_built():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from fastnn.plot import plot_weights
    model = Sequential([Dense(16, input_shape=(784,)), Dense(10, activation="softmax")])
    assert plot_weights(model.layers[0]) is not None


@pytest.mark.parametrize("how", ["input_shape", "add", "Input", "build_none_n", "build_tuple", "build_int",
                                 "build_list", "fit"])
def test_every_way_of_building_draws_the_same_seeded_weights(how):
    """The same numbers from seed 4 whether built at construction, layer by layer, by build() or by fit."""
    reference = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")],
                           seed=4).get_weights()
    if how == "input_shape":
        model = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")], seed=4)
    elif how == "add":
        model = Sequential(seed=4)
        model.add(Dense(5, activation="relu", input_shape=(6,)))
        assert model.layers[0].built
        model.add(Dense(3, activation="softmax"))
    elif how == "Input":
        model = Sequential([Input(shape=(6,))] + layers(), seed=4)
        assert len(model.layers) == 2 and model.built          # Input is not a layer of the model
    elif how == "fit":
        model = Sequential(layers(), seed=4)
        model.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.0))
        model.fit(X, Y, epochs=1, verbose=0)                    # learning rate 0: the weights stay w(0)
    else:
        model = Sequential(layers(), seed=4)
        assert not model.built
        model.build({"build_none_n": (None, 6), "build_tuple": (6,), "build_int": 6, "build_list": [None, 6]}[how])
    assert same_weights(model.get_weights(), reference)


def test_a_seed_given_to_fit_draws_the_weights_as_if_built_there():
    """fit(seed=s) still seeds the initial weights of a model that was built early from another
    seed (or none) and not trained or set since, as when fit built it."""
    a = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")], seed=0)
    b = Sequential(layers())
    for m in (a, b):
        m.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.0))
        m.fit(X, Y, epochs=1, verbose=0, seed=7)
    assert same_weights(a.get_weights(), b.get_weights())
    assert same_weights(a.get_weights(), Sequential(layers(), seed=7).build(6).get_weights())
    # weights that were set (or trained, or built explicitly) are never drawn again
    c = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")], seed=0)
    c.layers[0].set_weights([np.ones((6, 5)), np.zeros(5)])
    kept = c.get_weights()
    c.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.0))
    c.fit(X, Y, epochs=1, verbose=0, seed=7)
    assert same_weights(c.get_weights(), kept)
    d = Sequential(layers(), seed=0).build((None, 6))
    kept = d.get_weights()
    d.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.0))
    d.fit(X, Y, epochs=1, verbose=0, seed=7)
    assert same_weights(d.get_weights(), kept)


def test_build_errors():
    with pytest.raises(ValueError, match=r"\(None, n_features\)"):
        Sequential(layers()).build((None, 6, 2))
    with pytest.raises(ValueError, match="expects 6"):
        Sequential([Dense(2, input_shape=(6,))]).build((None, 7))
    with pytest.raises(ValueError, match="Input shape must be"):
        Input(shape=(28, 28))
    with pytest.raises(ValueError, match="Input has shape"):
        Sequential([Input(shape=(6,)), Dense(2, input_shape=(5,))])
    with pytest.raises(ValueError, match="before the model's first layer"):
        Sequential([Dense(2, input_shape=(6,)), Input(shape=(2,))])


# ---------------------------------------------------------------- save_weights / load_weights


def trained(dtype="float32", seed=0):
    model = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")],
                       dtype=dtype, seed=seed)
    model.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.1, momentum=0.9), metrics=["accuracy"])
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, seed=seed)
    return model


def test_save_weights_load_weights_round_trip(tmp_path):
    model = trained()
    model.save_weights(tmp_path / "m.weights.fnn")
    other = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")], seed=9)
    assert not same_weights(other.get_weights(), model.get_weights())
    other.load_weights(tmp_path / "m.weights.fnn")
    assert same_weights(other.get_weights(), model.get_weights())
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    # a whole-model file holds the weights too (as Keras' load_weights reads .keras files)
    model.save(tmp_path / "m.fnn")
    third = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")], seed=8)
    third.load_weights(tmp_path / "m.fnn")
    assert same_weights(third.get_weights(), model.get_weights())
    # float32 weights into a float64 model of the same architecture
    wide = Sequential([Dense(5, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")],
                      dtype="float64")
    wide.load_weights(tmp_path / "m.weights.fnn")
    assert wide.get_weights()[0].dtype == np.float64
    np.testing.assert_array_equal(wide.get_weights()[0], model.get_weights()[0].astype(np.float64))


def test_load_weights_of_another_architecture_names_the_layer_and_shapes(tmp_path):
    model = trained()
    model.save_weights(tmp_path / "w.fnn")
    wider = Sequential([Dense(7, activation="relu", input_shape=(6,), name="hidden"), Dense(3, name="out")])
    with pytest.raises(ValueError, match=r"layer 'hidden' has weights of shapes \[\(6, 7\), \(7,\)\] but .* holds "
                                         r"\[\(6, 5\), \(5,\)\] for its layer"):
        wider.load_weights(tmp_path / "w.fnn")
    deeper = Sequential([Dense(5, input_shape=(6,)), Dense(5), Dense(3)])
    with pytest.raises(ValueError, match="holds the weights of 2 Dense layers .* but the model has 3"):
        deeper.load_weights(tmp_path / "w.fnn")
    no_bias = Sequential([Dense(5, input_shape=(6,), use_bias=False, name="nb"), Dense(3)])
    with pytest.raises(ValueError, match=r"layer 'nb' has weights of shapes \[\(6, 5\)\]"):
        no_bias.load_weights(tmp_path / "w.fnn")
    with pytest.raises(ValueError, match="number of inputs is unknown|needs the model's weights"):
        Sequential([Dense(5), Dense(3)]).load_weights(tmp_path / "w.fnn")


def test_load_weights_checks_the_file(tmp_path):
    bad = tmp_path / "bad.fnn"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a valid fastnn model file"):
        trained().load_weights(bad)


# ---------------------------------------------------------------- Keras' file names


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "MODEL.H5", "model.hdf5"])
def test_save_refuses_keras_file_names_and_names_fastnns(tmp_path, name):
    model = trained()
    with pytest.raises(ValueError, match=r"(?i)fastnn does not write.*extension \.fnn.*model\.save\('model\.fnn'\)"):
        model.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_save_weights_refuses_keras_weight_names(tmp_path):
    with pytest.raises(ValueError, match=r"model\.save_weights\('model\.weights\.fnn'\)"):
        trained().save_weights(tmp_path / "model.weights.h5")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- to_json / model_from_json / load_model


def test_to_json_and_model_from_json():
    model = Sequential([Dense(5, input_shape=(6,), name="h"), Activation("sigmoid"),
                        Dense(3, activation="softmax", name="o", use_bias=False)], dtype="float64", seed=11)
    text = model.to_json()
    document = json.loads(text)
    assert document["class_name"] == "Sequential" and document["config"]["input_dim"] == 6
    copy = model_from_json(text)
    assert copy is not model and repr(copy) == repr(model) and copy.dtype == np.float64
    assert [layer.name for layer in copy.layers] == ["h", copy.layers[1].name, "o"]
    assert copy.layers[2].use_bias is False
    assert same_weights(copy.get_weights(), model.get_weights())          # seed 11: the same w(0)
    assert copy.loss is None                                              # architecture only
    unbuilt = model_from_json(Sequential(layers()).to_json())
    assert not unbuilt.built and unbuilt.build(6).built
    with pytest.raises(ValueError, match="model_from_json needs"):
        model_from_json("{not json")
    with pytest.raises(ValueError, match="fastnn Sequential"):
        model_from_json('{"class_name": "Functional", "config": {}}')


def test_models_load_model_is_fastnn_load_model(tmp_path):
    from fastnn.models import load_model
    model = trained()
    model.save(tmp_path / "m.fnn")
    np.testing.assert_array_equal(load_model(tmp_path / "m.fnn").predict(X), model.predict(X))


# ---------------------------------------------------------------- train_on_batch / test_on_batch


def test_train_on_batch_returns_loss_and_metrics_as_keras_3():
    a, b = trained(dtype="float64", seed=2), trained(dtype="float64", seed=2)
    x, y = X[:10], Y[:10]
    p = a.predict(x)
    expected_loss = -np.mean(np.log(p[np.arange(10), y]))
    expected_acc = np.mean(p.argmax(axis=1) == y)
    loss, acc = a.train_on_batch(x, y)                  # computed before the update
    assert loss == pytest.approx(expected_loss, rel=1e-12) and acc == expected_acc
    logs = b.train_on_batch(x, y, return_dict=True)
    assert logs == {"loss": loss, "accuracy": acc}
    assert same_weights(a.get_weights(), b.get_weights())
    plain = Sequential([Dense(3, activation="softmax", input_shape=(6,))], seed=0)
    plain.compile("sparse_categorical_crossentropy")
    assert isinstance(plain.train_on_batch(x, y), float)
    assert list(plain.train_on_batch(x, y, return_dict=True)) == ["loss"]


def test_test_on_batch_matches_evaluate_and_does_not_train():
    model = trained(dtype="float64")
    before = model.get_weights()
    iterations = model.optimizer.iterations
    assert model.test_on_batch(X[:10], Y[:10]) == model.evaluate(X[:10], Y[:10])
    assert model.test_on_batch(X[:10], Y[:10], return_dict=True) == model.evaluate(X[:10], Y[:10], return_dict=True)
    assert same_weights(model.get_weights(), before) and model.optimizer.iterations == iterations
    loss, acc = model.test_on_batch(X[:10], Y[:10])
    p = model.predict(X[:10])
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(10), Y[:10]])), rel=1e-12)
    assert acc == np.mean(p.argmax(axis=1) == Y[:10])
