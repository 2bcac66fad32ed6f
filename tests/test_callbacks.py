"""Keras 3's callbacks: ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger,
LambdaCallback, TensorBoard; batch hooks and stop_training inside the compiled loop."""
import csv
import math
import os
import struct
import sys

import numpy as np
import pytest

import fastnn
from fastnn import Sequential
from fastnn import callbacks as C
from fastnn.layers import Dense
from fastnn.optimizers import SGD

RNG = np.random.default_rng(0)
X = RNG.standard_normal((200, 4))
Y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(np.int64)
X_VAL, Y_VAL = X[:60] + 0.3 * RNG.standard_normal((60, 4)), Y[:60]


def net(dtype="float64", lr=0.1, seed=1, backend="compiled"):        # fit() below seeds with 1 too
    model = Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(2, activation="softmax")],
                       dtype=dtype, seed=seed, backend=backend)
    model.compile("sparse_categorical_crossentropy", SGD(learning_rate=lr, momentum=0.5), metrics=["accuracy"])
    return model


def fit(model, epochs=4, callbacks=(), batch_size=20, **kw):
    """10 steps per epoch (200 samples, batches of 20)."""
    kw.setdefault("validation_data", (X_VAL, Y_VAL))
    return model.fit(X, Y, batch_size=batch_size, epochs=epochs, callbacks=list(callbacks), verbose=0, seed=1, **kw)


class WeightsPerEpoch(C.Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- ModelCheckpoint


def test_checkpoint_keeps_the_best_epoch_in_a_folder_it_creates(tmp_path):
    path = tmp_path / "new" / "deeper" / "best.fnn"
    seen = WeightsPerEpoch()
    model = net(lr=0.5)
    history = fit(model, epochs=6, callbacks=[seen, C.ModelCheckpoint(path, save_best_only=True)])
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert path.exists()
    assert same_weights(fastnn.load_model(path).get_weights(), seen.weights[best])
    assert not [p for p in path.parent.iterdir() if p.name != "best.fnn"]      # no temporary left


def test_checkpoint_names_files_by_epoch_from_1_and_logged_values(tmp_path):
    model = net()
    history = fit(model, epochs=3, callbacks=[C.ModelCheckpoint(tmp_path / "{epoch:02d}-{val_loss:.4f}.fnn")])
    expected = {f"{e + 1:02d}-{v:.4f}.fnn" for e, v in enumerate(history.history["val_loss"])}
    assert {p.name for p in tmp_path.iterdir()} == expected
    last = f"03-{history.history['val_loss'][2]:.4f}.fnn"
    np.testing.assert_array_equal(fastnn.load_model(tmp_path / last).predict(X_VAL), model.predict(X_VAL))


def test_checkpoint_mode_and_initial_value_threshold(tmp_path):
    # val_accuracy is maximised in "auto" mode; nothing beats a threshold above 1
    fit(net(), epochs=2, callbacks=[C.ModelCheckpoint(tmp_path / "a.fnn", monitor="val_accuracy",
                                                      save_best_only=True, initial_value_threshold=1.01)])
    assert not (tmp_path / "a.fnn").exists()
    # "min" on an accuracy: only the first epoch, or an epoch that is worse, is saved
    seen = WeightsPerEpoch()
    history = fit(net(lr=0.5), epochs=5, callbacks=[seen, C.ModelCheckpoint(
        tmp_path / "b.fnn", monitor="accuracy", mode="min", save_best_only=True)])
    worst = int(np.argmin(history.history["accuracy"]))          # the first of the lowest
    assert same_weights(fastnn.load_model(tmp_path / "b.fnn").get_weights(), seen.weights[worst])
    with pytest.raises(ValueError, match="mode='max'"):
        fit(net(), epochs=1, callbacks=[C.ModelCheckpoint(tmp_path / "c.fnn", monitor="wiggle",
                                                          save_best_only=True)])


def test_checkpoint_verbose_prints_keras_lines(tmp_path, capsys):
    fit(net(), epochs=2, callbacks=[C.ModelCheckpoint(tmp_path / "m.fnn", save_best_only=True, verbose=1)])
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to" in out and f"saving model to {tmp_path / 'm.fnn'}" in out


def test_checkpoint_weights_only(tmp_path):
    model = net()
    fit(model, epochs=2, callbacks=[C.ModelCheckpoint(tmp_path / "w.weights.fnn", save_weights_only=True)])
    fresh = net(seed=9)
    assert not same_weights(fresh.get_weights(), model.get_weights())
    fresh.load_weights(tmp_path / "w.weights.fnn")
    assert same_weights(fresh.get_weights(), model.get_weights())
    with pytest.raises(ValueError, match="weights only"):
        fastnn.load_model(tmp_path / "w.weights.fnn")


def test_checkpoint_refuses_keras_file_names_at_once():
    with pytest.raises(ValueError, match=r"\.keras.*fastnn does not write.*'best\.fnn'"):
        C.ModelCheckpoint("best.keras")
    with pytest.raises(ValueError, match=r"HDF5.*'m\.weights\.fnn'"):
        C.ModelCheckpoint("m.weights.h5", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("m.fnn", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("m.fnn", save_freq=0)


def test_checkpoint_folder_that_cannot_be_made_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    model = net()
    before = model.get_weights()
    with pytest.raises(OSError, match=f"cannot create the folder '{blocker / 'sub'}'"):
        fit(model, callbacks=[C.ModelCheckpoint(blocker / "sub" / "m.fnn")])
    assert model.optimizer.iterations == 0 and same_weights(model.get_weights(), before)


def test_failed_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    import fastnn.io
    real_savez, calls = np.savez, []

    def savez_failing_the_second_time(f, **arrays):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"PK\x03\x04 half a zip")          # some bytes reach the temporary file
            raise OSError(28, "No space left on device")
        return real_savez(f, **arrays)

    monkeypatch.setattr(fastnn.io.np, "savez", savez_failing_the_second_time)
    seen = WeightsPerEpoch()
    path = tmp_path / "ckpt.fnn"
    with pytest.raises(OSError, match="No space left"):
        fit(net(), epochs=3, callbacks=[seen, C.ModelCheckpoint(path)])
    assert len(seen.weights) == 2                   # the second epoch's save failed
    assert same_weights(fastnn.load_model(path).get_weights(), seen.weights[0])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.fnn"]


def test_checkpoint_every_k_steps_saves_where_keras_would(tmp_path):
    """save_freq=4 with 10 steps per epoch: Keras counts steps across epochs and saves after
    steps 4, 8, 12, 16 and 20, i.e. epoch 1 batches 4 and 8, epoch 2 batches 2, 6 and 10."""
    path = tmp_path / "{epoch}-{batch}.fnn"
    fit(net(), epochs=2, callbacks=[C.ModelCheckpoint(path, save_freq=4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["1-4.fnn", "1-8.fnn", "2-2.fnn", "2-6.fnn", "2-10.fnn"])
    assert fastnn.load_model(tmp_path / "2-2.fnn").optimizer.iterations == 12


# ---------------------------------------------------------------- learning rate


def test_learning_rate_scheduler_sets_the_rate_each_epoch_and_logs_it():
    schedule = lambda epoch, lr: lr if epoch == 0 else lr * 0.5
    a = net()
    history = fit(a, epochs=3, callbacks=[C.LearningRateScheduler(schedule)], shuffle=False)
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert a.optimizer.learning_rate == 0.025
    # the rates were used: the same as three fits of one epoch at those rates
    b = net()
    for lr in (0.1, 0.05, 0.025):
        b.optimizer.learning_rate = lr
        fit(b, epochs=1, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-14)


def test_learning_rate_scheduler_old_one_argument_schedule_and_bad_output(capsys):
    model = net()
    fit(model, epochs=2, callbacks=[C.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1), verbose=1)])
    assert model.optimizer.learning_rate == 0.02
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.02." in capsys.readouterr().out
    with pytest.raises(ValueError, match="should be a float"):
        fit(net(), epochs=1, callbacks=[C.LearningRateScheduler(lambda epoch, lr: 1)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        fit(net(), epochs=1, callbacks=[C.LearningRateScheduler(lambda epoch, lr: -0.1)])


def test_callbacks_set_the_rate_of_any_optimizer():
    from fastnn.optimizers import Adam
    model = Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(2, activation="softmax")], seed=1)
    model.compile("sparse_categorical_crossentropy", Adam(learning_rate=0.01))
    history = fit(model, epochs=2, callbacks=[C.LearningRateScheduler(lambda epoch, lr: 0.001 * (epoch + 1))])
    assert history.history["learning_rate"] == [0.001, 0.002] and model.optimizer.learning_rate == 0.002


def test_a_schedule_is_logged_at_its_next_step_and_cannot_be_set():
    from fastnn.optimizers import schedules
    model = net()
    model.optimizer.learning_rate = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    history = fit(model, epochs=2, callbacks=[C.ReduceLROnPlateau(monitor="loss", patience=100)])
    # 10 steps per epoch: after epoch 1 the next step is t = 10, rate 0.1·0.5^(10/10)
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025], rtol=1e-12)
    with pytest.raises(TypeError, match="created with a schedule"):
        fit(model, epochs=1, callbacks=[C.LearningRateScheduler(lambda epoch, lr: lr / 2)])


def test_reduce_lr_on_plateau_follows_keras():
    # min_delta = 10: only the first epoch counts as an improvement (against +inf)
    cb = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10, min_lr=0.02)
    model = net()
    history = fit(model, epochs=5, callbacks=[cb])
    # logged at each epoch's end before that epoch's reduction, as Keras
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025, 0.02]
    assert model.optimizer.learning_rate == 0.02
    # patience 2, cooldown 1, as Keras counts it: reduce after the 3rd epoch; the 4th ends the
    # cooldown and, being no improvement, counts as the first epoch of waiting; reduce after the 5th
    cb = C.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=10, cooldown=1)
    history = fit(net(), epochs=7, callbacks=[cb])
    assert history.history["learning_rate"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    cb = C.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=10, cooldown=2)
    history = fit(net(), epochs=7, callbacks=[cb])
    assert history.history["learning_rate"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    with pytest.raises(ValueError, match="factor >= 1.0"):
        C.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_warns_on_a_missing_monitor():
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        fit(net(), epochs=1, callbacks=[C.ReduceLROnPlateau()], validation_data=None)


# ---------------------------------------------------------------- CSVLogger, LambdaCallback


def test_csv_logger_writes_the_history_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    history = fit(net(), epochs=3, callbacks=[C.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key, values in history.history.items():
        np.testing.assert_array_equal([float(r[key]) for r in rows], values)
    fit(net(), epochs=2, callbacks=[C.CSVLogger(path, append=True)], initial_epoch=3)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 5 and lines[0].startswith("epoch,") and lines[4].startswith("3,")
    fit(net(), epochs=1, callbacks=[C.CSVLogger(path, separator=";")], validation_data=None)
    assert path.read_text().splitlines() == [
        "epoch;accuracy;loss;val_accuracy;val_loss", path.read_text().splitlines()[1]]
    assert path.read_text().splitlines()[1].endswith(";NA;NA")


def test_lambda_callback_gets_keras_positional_arguments():
    calls = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: calls.append(("train_begin", logs)),
                          on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
                          on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
                          on_train_end=lambda logs: calls.append(("train_end", logs["loss"])))
    history = fit(net(), epochs=2, callbacks=[cb])
    loss = history.history["loss"]
    assert calls == [("train_begin", {}), ("epoch_begin", 0), ("epoch_end", 0, loss[0]),
                     ("epoch_begin", 1), ("epoch_end", 1, loss[1]), ("train_end", loss[1])]
    with pytest.raises(TypeError, match="on_epoch_end must be a function"):
        C.LambdaCallback(on_epoch_end=3)


# ---------------------------------------------------------------- batch hooks and stop_training


class CountingTrainer:
    """Wraps the model's compiled trainer and counts its calls."""

    def __init__(self, trainer, calls):
        self._trainer, self._calls = trainer, calls

    def train(self, *args, **kwargs):
        self._calls.append(args[6])           # count: the steps run by this call
        return self._trainer.train(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._trainer, name)


@pytest.fixture
def train_calls(monkeypatch):
    calls = []
    real = Sequential._training_buffers
    monkeypatch.setattr(Sequential, "_training_buffers",
                        lambda self, *a, **k: CountingTrainer(real(self, *a, **k), calls))
    return calls


def test_epoch_level_callbacks_keep_one_compiled_call_per_epoch(tmp_path, train_calls):
    cbs = [C.ModelCheckpoint(tmp_path / "m.fnn"), C.CSVLogger(tmp_path / "l.csv"), C.ReduceLROnPlateau(),
           C.LearningRateScheduler(lambda e, lr: lr), C.EarlyStopping(patience=5), C.LambdaCallback(
               on_epoch_end=lambda e, logs: None)]
    fit(net(), epochs=3, callbacks=cbs)
    assert train_calls == [10, 10, 10]


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_batch_hooks_run_after_every_step_and_change_nothing(train_calls, backend):
    begins, ends = [], []
    hooks = C.LambdaCallback(on_train_batch_begin=lambda b, logs: begins.append(b),
                             on_train_batch_end=lambda b, logs: ends.append((b, logs["loss"], logs["accuracy"])))
    a, b = net(backend=backend), net(backend=backend)
    ha = fit(a, epochs=2, callbacks=[hooks])
    assert train_calls == [1] * 20
    hb = fit(b, epochs=2)
    assert same_weights(a.get_weights(), b.get_weights())       # bit for bit the same training
    assert ha.history == hb.history
    assert begins == list(range(10)) * 2 and [e[0] for e in ends] == list(range(10)) * 2
    # the batch logs hold the epoch so far: at its last batch, the epoch's values
    assert ends[9][1] == pytest.approx(ha.history["loss"][0], rel=1e-12)
    assert ends[19][2] == ha.history["accuracy"][1]


def test_a_subclass_overriding_keras_on_batch_end_is_called(train_calls):
    class Old(C.Callback):
        seen = 0

        def on_batch_end(self, batch, logs=None):
            Old.seen += 1

    fit(net(), epochs=1, callbacks=[Old()])
    assert Old.seen == 10 and train_calls == [1] * 10


def test_strides_of_k_step_callbacks(tmp_path, train_calls):
    fit(net(), epochs=1, callbacks=[C.ModelCheckpoint(tmp_path / "m.fnn", save_freq=5)])
    assert train_calls == [5, 5]


def test_stop_training_from_a_batch_hook_ends_fit_after_that_step():
    def stop(batch, logs):
        if batch == 2:
            model.stop_training = True

    model = net()
    history = fit(model, epochs=5, callbacks=[C.LambdaCallback(on_train_batch_end=stop)])
    assert model.optimizer.iterations == 3
    assert len(history.epoch) == 1 and "val_loss" in history.history      # the epoch still ends as in Keras


def test_stop_training_from_on_epoch_begin_runs_one_step(train_calls):
    model = net()

    class Stopper(C.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    history = fit(model, epochs=5, callbacks=[Stopper()])
    assert model.optimizer.iterations == 11 and train_calls == [10, 1] and history.epoch == [0, 1]


# ---------------------------------------------------------------- TensorBoard


def read_events(folder):
    """{tag: [(step, value or histogram)]} from the event files of a folder (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    from tensorboardX.proto import event_pb2
    found = {}
    for name in sorted(os.listdir(folder)):
        data = (folder / name).read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                item = value.histo if value.HasField("histo") else value.simple_value
                found.setdefault(value.tag, []).append((event.step, item))
    return found


def test_tensorboard_writes_keras_tags_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX")
    model = net()
    # TensorBoard writes the optimizer's rate at its own epoch end (as Keras): before the reduction
    # of ReduceLROnPlateau when it comes first, as History's learning_rate is
    history = fit(model, epochs=3, callbacks=[C.TensorBoard(tmp_path, histogram_freq=2),
                                              C.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10)])
    train, val = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    for name in ("loss", "accuracy", "learning_rate"):
        assert [s for s, _ in train[f"epoch_{name}"]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]], history.history[name], rtol=1e-6)
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose([v for _, v in val[f"epoch_{name}"]], history.history[f"val_{name}"], rtol=1e-6)
    assert not any(tag.startswith("epoch_val") for tag in train) and "epoch_learning_rate" not in val
    first, second = model.layers
    for layer in model.layers:
        for part, size in (("kernel", layer.W.size), ("bias", layer.b.size), ("delta", layer.delta.size)):
            steps = train[f"{layer.name}/{part}/histogram"]
            assert [s for s, _ in steps] == [0, 2]                       # histogram_freq=2
            assert steps[-1][1].num == size
    last_W = train[f"{first.name}/kernel/histogram"][-1][1]
    assert last_W.min == pytest.approx(first.W.min()) and last_W.max == pytest.approx(first.W.max())
    assert last_W.sum == pytest.approx(first.W.sum(), abs=1e-9)


def test_tensorboard_batch_scalars_every_k_steps(tmp_path):
    pytest.importorskip("tensorboardX")
    fit(net(), epochs=2, callbacks=[C.TensorBoard(tmp_path, update_freq=4)], validation_data=None)
    train = read_events(tmp_path / "train")
    assert [s for s, _ in train["batch_loss"]] == [4, 8, 12, 16, 20]
    assert not (tmp_path / "validation").exists()


def test_tensorboard_without_tensorboardx_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        C.TensorBoard("logs")


def test_tensorboard_bad_arguments():
    pytest.importorskip("tensorboardX")
    with pytest.raises(ValueError, match="update_freq"):
        C.TensorBoard("logs", update_freq="step")
    with pytest.raises(ValueError, match="histogram_freq"):
        C.TensorBoard("logs", histogram_freq=-1)
