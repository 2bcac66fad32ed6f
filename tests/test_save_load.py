"""Saving and loading: one pickle-free file, written atomically, validated on load."""
import json
import os

import numpy as np
import pytest

import fastnn
from fastnn import Sequential
from fastnn.layers import Activation, Dense
from fastnn.losses import CategoricalFocalCrossentropy
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 5))
Y = to_categorical(RNG.integers(0, 3, 60), 3)


def trained(dtype="float32", loss="categorical_crossentropy"):
    model = Sequential([Dense(8, input_shape=(5,)), Activation("tanh"), Dense(3, activation="softmax")],
                       dtype=dtype, seed=0)
    model.compile(loss=loss, optimizer=SGD(lr=0.05, momentum=0.9, decay=1e-3, nesterov=True), metrics=["accuracy"])
    model.fit(X, Y, batch_size=16, epochs=2, seed=1, verbose=0)
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_predicts_bit_identically(tmp_path, dtype):
    model = trained(dtype, loss=CategoricalFocalCrossentropy(gamma=1.5, alpha=[0.2, 0.3, 0.5]))
    path = tmp_path / "model.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert np.array_equal(model.predict(X), loaded.predict(X))
    assert loaded.dtype == model.dtype and loaded.count_params() == model.count_params()
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Activation", "Dense"]


def test_loaded_model_continues_training_like_the_original(tmp_path):
    a = trained()
    a.save(tmp_path / "m.fnn")
    b = fastnn.load_model(tmp_path / "m.fnn")
    ha = a.fit(X, Y, batch_size=16, epochs=2, seed=5, verbose=0)
    hb = b.fit(X, Y, batch_size=16, epochs=2, seed=5, verbose=0)
    assert ha.history == hb.history                       # velocities and the step count came along
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_file_holds_no_pickle(tmp_path):
    trained().save(tmp_path / "m.fnn")
    with np.load(tmp_path / "m.fnn", allow_pickle=False) as data:
        manifest = json.loads(bytes(data["manifest"]).decode())
        assert all(data[k].dtype != object for k in data.files)
    assert manifest["format"] == "fastnn-model"


def test_truncated_file_is_a_value_error(tmp_path):
    path = tmp_path / "m.fnn"
    trained().save(path)
    raw = path.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 30):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="not a valid fastnn model file"):
            fastnn.load_model(path)


def test_not_a_model_file(tmp_path):
    (tmp_path / "junk").write_bytes(b"hello, not a zip")
    with pytest.raises(ValueError, match="not a valid fastnn model file"):
        fastnn.load_model(tmp_path / "junk")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="manifest"):
        fastnn.load_model(tmp_path / "other.npz")
    with pytest.raises(OSError):
        fastnn.load_model(tmp_path / "does-not-exist.fnn")


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _edit_manifest(edit):
    def change(arrays):
        manifest = json.loads(bytes(arrays["manifest"]).decode())
        edit(manifest)
        arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    return change


@pytest.mark.parametrize("change, match", [
    (lambda a: a.__setitem__("w0", a["w0"] + 1), "checksum"),
    (lambda a: a.__setitem__("w2", a["w2"][:, :2].copy()), "shape"),
    (lambda a: a.pop("w3"), "missing"),
    (_edit_manifest(lambda m: m.__setitem__("format", "keras")), "format"),
    (_edit_manifest(lambda m: m["model"]["layers"][2].__setitem__("units", 4)), "inconsistent"),
    (_edit_manifest(lambda m: m["model"]["layers"][0].__setitem__("activation", "gelu")), "inconsistent"),
    (_edit_manifest(lambda m: m.__delitem__("model")), "inconsistent"),
    (lambda a: a.__setitem__("manifest", np.frombuffer(b"{not json", dtype=np.uint8)), "not a valid"),
])
def test_tampered_file_is_a_value_error(tmp_path, change, match):
    path = tmp_path / "m.fnn"
    trained().save(path)
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match):
        fastnn.load_model(path)


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.fnn"
    old = trained()
    old.save(path)
    before = path.read_bytes()
    newer = trained()
    newer.fit(X, Y, epochs=1, verbose=0)

    def broken_savez(f, **arrays):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        newer.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.fnn"]          # no temporary file left behind
    monkeypatch.undo()
    assert np.array_equal(fastnn.load_model(path).predict(X), old.predict(X))
