"""fastnn.metrics: Keras 3's Precision, Recall, AUC, F1Score, top-k accuracy, MAE and RMSE,
against scikit-learn on real predictions, the compiled loop's counts against the NumPy
``update_state`` of the same batches, and Keras 3 itself when it is installed.

How the loop counts (and what the reference below mirrors): each step's predictions are
those of its forward pass, before the step's update, as for the accuracy; a batch hook
(``on_train_batch_end``, one step per compiled call) sees exactly them in the output layer's
``A``. The counts are integers (every sample once, sample weights aside), so they do not
depend on how the steps are split into calls or between threads.
"""
import os

import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, f1_score, mean_absolute_error, mean_squared_error,
                             precision_score, recall_score, roc_auc_score, top_k_accuracy_score)

import fastnn
from fastnn import Sequential
from fastnn import callbacks as C
from fastnn import metrics as M
from fastnn.backend import compiled_backend, numpy_backend
from fastnn.datasets import load_digits, load_iris
from fastnn.layers import Dense
from fastnn.optimizers import SGD


def _digits():
    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64) / 16.0
    return x, np.asarray(data.target, dtype=np.int64)


X_DIGITS, Y_DIGITS = _digits()


def digits_model(dtype="float64", seed=0, metrics=("accuracy",), loss="sparse_categorical_crossentropy"):
    model = Sequential([Dense(16, activation="relu", input_shape=(64,)), Dense(10, activation="softmax")],
                       dtype=dtype, seed=seed)
    model.compile(loss, SGD(learning_rate=0.1, momentum=0.9), metrics=list(metrics))
    return model


@pytest.fixture(scope="module")
def digits_predictions():
    """Real predictions: a digits classifier trained two epochs, its probabilities on 600 held-out images."""
    model = digits_model()
    model.fit(X_DIGITS[:1000], Y_DIGITS[:1000], batch_size=50, epochs=2, verbose=0, seed=0)
    P = model.predict(X_DIGITS[1000:1600])
    return P, Y_DIGITS[1000:1600]


@pytest.fixture(scope="module")
def binary_predictions():
    """A sigmoid classifier of digits (even vs odd), its probabilities on 600 held-out images."""
    y = (Y_DIGITS % 2 == 0).astype(np.float64)
    model = Sequential([Dense(8, activation="tanh", input_shape=(64,)), Dense(1, activation="sigmoid")],
                       dtype="float64", seed=1)
    model.compile("binary_crossentropy", SGD(learning_rate=0.1), metrics=["accuracy"])
    model.fit(X_DIGITS[:1000], y[:1000], batch_size=50, epochs=3, verbose=0, seed=0)
    return model.predict(X_DIGITS[1000:1600])[:, 0], y[1000:1600]


def one_hot(y, k=10):
    return np.eye(k)[y]


def result(metric, y_true, y_pred):
    metric.update_state(y_true, y_pred)
    return metric.result()


# ---------------------------------------------------------------- against scikit-learn


def test_precision_and_recall_of_a_binary_classifier(binary_predictions):
    p, y = binary_predictions
    for threshold in (0.5, 0.3, 0.8):
        assert 0.05 < np.mean(p > threshold) < 0.95       # both outcomes are predicted
        assert result(M.Precision(thresholds=threshold), y, p) == precision_score(y, p > threshold)
        assert result(M.Recall(thresholds=threshold), y, p) == recall_score(y, p > threshold)


def test_precision_and_recall_flatten_one_hot_rows_as_keras(digits_predictions):
    P, y = digits_predictions
    Y = one_hot(y)
    assert result(M.Precision(), Y, P) == precision_score(Y.ravel(), P.ravel() > 0.5)
    assert result(M.Recall(), Y, P) == recall_score(Y.ravel(), P.ravel() > 0.5)
    # class ids are the same truth as one-hot rows
    assert result(M.Precision(), y, P) == result(M.Precision(), Y, P)


@pytest.mark.parametrize("class_id", [0, 3, 9])
def test_precision_and_recall_of_one_class(digits_predictions, class_id):
    P, y = digits_predictions
    truth, scores = y == class_id, P[:, class_id]
    assert result(M.Precision(class_id=class_id), one_hot(y), P) == precision_score(truth, scores > 0.5)
    assert result(M.Recall(class_id=class_id), one_hot(y), P) == recall_score(truth, scores > 0.5)
    # top_k=1 with class_id: the class is predicted where it is the row's argmax
    predicted = P.argmax(axis=1) == class_id
    assert result(M.Precision(top_k=1, class_id=class_id), one_hot(y), P) == precision_score(truth, predicted)
    assert result(M.Recall(top_k=1, class_id=class_id), one_hot(y), P) == recall_score(truth, predicted)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_precision_and_recall_at_top_k(digits_predictions, k):
    P, y = digits_predictions
    in_top = np.zeros(P.shape, dtype=bool)
    np.put_along_axis(in_top, np.argsort(-P, axis=1, kind="stable")[:, :k], True, axis=1)
    Y = one_hot(y)
    assert result(M.Precision(top_k=k), Y, P) == pytest.approx(precision_score(Y.ravel(), in_top.ravel()), abs=1e-15)
    assert result(M.Recall(top_k=k), Y, P) == pytest.approx(recall_score(Y.ravel(), in_top.ravel()), abs=1e-15)


def test_several_thresholds_keep_their_order(digits_predictions):
    P, y = digits_predictions
    Y = one_hot(y)
    thresholds = [0.7, 0.2, 0.5, 0.9]
    precision = result(M.Precision(thresholds=thresholds), Y, P)
    recall = result(M.Recall(thresholds=thresholds), Y, P)
    assert precision.shape == recall.shape == (4,)
    for i, t in enumerate(thresholds):
        assert precision[i] == precision_score(Y.ravel(), P.ravel() > t)
        assert recall[i] == recall_score(Y.ravel(), P.ravel() > t)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score_of_the_argmax(digits_predictions, average):
    P, y = digits_predictions
    expected = f1_score(y, P.argmax(axis=1), average=average)
    # Keras' ε = 1e-7 in its denominators: within 1e-6 of scikit-learn's exact ratios
    np.testing.assert_allclose(result(M.F1Score(average=average), one_hot(y), P), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score_with_a_threshold(digits_predictions, average):
    P, y = digits_predictions
    Y = one_hot(y).astype(int)
    expected = f1_score(Y, (P > 0.4).astype(int), average=average, zero_division=0)
    np.testing.assert_allclose(result(M.F1Score(average=average, threshold=0.4), Y, P), expected, rtol=0, atol=1e-6)


def test_auc_is_the_area_under_the_curve_of_the_200_buckets(binary_predictions, digits_predictions):
    for y, p in (binary_predictions[::-1], (one_hot(digits_predictions[1]).ravel(), digits_predictions[0].ravel())):
        auc = result(M.AUC(), y, p)
        # exactly scikit-learn's trapezoids over Keras' thresholds: the scores as their buckets
        buckets = np.maximum(np.ceil(np.clip(p, 0, 1) * 199), 1)
        assert auc == pytest.approx(roc_auc_score(y, buckets), abs=1e-12)
        # and within the 200-threshold approximation of the exact area
        assert abs(auc - roc_auc_score(y, p)) < 5e-3


def test_pr_auc_is_close_to_average_precision(binary_predictions):
    p, y = binary_predictions
    pr = result(M.AUC(curve="PR"), y, p)
    # Davis & Goadrich's interpolation over 200 thresholds against the step-wise average precision
    assert abs(pr - average_precision_score(y, p)) < 0.02
    minoring = result(M.AUC(curve="PR", summation_method="minoring"), y, p)
    majoring = result(M.AUC(curve="PR", summation_method="majoring"), y, p)
    assert minoring <= pr <= majoring


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_accuracy(digits_predictions, k):
    P, y = digits_predictions
    expected = top_k_accuracy_score(y, P, k=k, labels=np.arange(10))
    assert result(M.SparseTopKCategoricalAccuracy(k=k), y, P) == expected
    assert result(M.TopKCategoricalAccuracy(k=k), one_hot(y), P) == expected


def test_mean_absolute_and_root_mean_squared_error(digits_predictions):
    P, y = digits_predictions
    Y = one_hot(y)
    assert result(M.MeanAbsoluteError(), Y, P) == pytest.approx(mean_absolute_error(Y, P), rel=1e-13)
    assert result(M.RootMeanSquaredError(), Y, P) == pytest.approx(np.sqrt(mean_squared_error(Y, P)), rel=1e-13)
    assert result(M.MeanAbsoluteError(), y, P) == pytest.approx(mean_absolute_error(Y, P), rel=1e-13)


def test_counts_add_up_over_batches_and_reset(digits_predictions):
    P, y = digits_predictions
    whole = result(M.AUC(), one_hot(y), P)
    metric = M.AUC()
    for start in range(0, len(y), 64):
        metric.update_state(one_hot(y[start:start + 64]), P[start:start + 64])
    assert metric.result() == whole                      # counts, not a mean of batch values
    metric.reset_state()
    assert metric.result() == 0.0
    assert metric.true_positives.sum() == 0


# ---------------------------------------------------------------- the compiled counting


def random_counters(n_k, rng):
    thresholds = np.array(sorted(rng.uniform(0, 1, 4)))
    counters = [
        {"kind": "above_thresholds", "thresholds": thresholds, "class_id": None, "top_k": None, "even": False,
         "with_eps": False},
        {"kind": "above_thresholds", "thresholds": np.array([-1e-7] + [i / 199 for i in range(1, 199)] + [1 + 1e-7]),
         "class_id": None, "top_k": None, "even": True, "with_eps": True},
        {"kind": "above_thresholds", "thresholds": np.array([0.5]), "class_id": n_k - 1, "top_k": 2, "even": False,
         "with_eps": False},
        {"kind": "above_thresholds", "thresholds": np.array([-1e10]), "class_id": None, "top_k": 3, "even": False,
         "with_eps": False},
        {"kind": "above_thresholds", "thresholds": np.array([0.5]), "class_id": None, "top_k": None, "even": False,
         "with_eps": False},
        {"kind": "above_thresholds", "thresholds": np.array([0.25]), "class_id": 1, "top_k": None, "even": False,
         "with_eps": False},
        {"kind": "above_thresholds", "thresholds": np.array([0.0, 0.25, 0.5, 0.75, 1.0]), "class_id": None,
         "top_k": None, "even": True, "with_eps": False},
        {"kind": "class_outcomes", "threshold": None},
        {"kind": "class_outcomes", "threshold": 0.25},
        {"kind": "top_k", "k": 2},
        {"kind": "errors"},
    ]
    for c in counters:
        if c["kind"] == "above_thresholds":
            c["pos"], c["neg"] = (np.zeros(len(c["thresholds"]) + 1, dtype=np.int64) for _ in range(2))
        elif c["kind"] == "class_outcomes":
            c["tp"], c["fp"], c["fn"] = (np.zeros(n_k, dtype=np.int64) for _ in range(3))
        elif c["kind"] == "top_k":
            c["counts"] = np.zeros(2, dtype=np.int64)
        else:
            c["sums"] = np.zeros(3)
    return counters


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [True, False])
def test_compiled_counts_equal_the_numpy_reference(dtype, sparse):
    rng = np.random.default_rng(3)
    n, n_k = 257, 7
    P = rng.uniform(0, 1, (n, n_k)).astype(dtype)
    P[::5] = np.round(P[::5] * 4) / 4                     # ties within rows, values on the thresholds
    P[3, 2] = np.nan
    labels = rng.integers(0, n_k, n).astype(np.intp)
    Y = (one_hot(labels, n_k) if not sparse else None)
    if Y is not None:
        Y[::7, 0] = 0.5                                   # a soft target: counts as true (≠ 0)
        Y = np.ascontiguousarray(Y, dtype=dtype)
    compiled, reference = random_counters(n_k, rng), random_counters(n_k, np.random.default_rng(3))
    for c, r in zip(compiled, reference):
        if "thresholds" in c:
            r["thresholds"] = c["thresholds"]
    for start in range(0, n, 100):
        rows = slice(start, min(start + 100, n))
        lab = labels[rows] if sparse else None
        y = Y[rows] if not sparse else None
        compiled_backend.count_metrics(P[rows], lab, y, compiled)
        numpy_backend.count_metrics(P[rows], lab, y, reference)
    for c, r in zip(compiled, reference):
        for key in ("pos", "neg", "tp", "fp", "fn", "counts"):
            if key in c:
                np.testing.assert_array_equal(c[key], r[key], err_msg=f"{c['kind']} {key}")
        if "sums" in c:
            np.testing.assert_allclose(c["sums"], r["sums"], rtol=1e-12, equal_nan=True)
    assert compiled[0]["pos"].sum() + compiled[0]["neg"].sum() == n * n_k


def test_count_metrics_checks_its_arguments():
    """Nothing invalid reaches the C kernels, and a refused call changes no counter."""
    rng = np.random.default_rng(0)
    P, labels = rng.uniform(0, 1, (6, 3)), np.array([0, 2, 1, 1, 2, 0], dtype=np.intp)
    good = random_counters(3, rng)

    def counters(**change):
        c = [dict(x, **{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in x.items()}) for x in good]
        c[0].update(change)
        return c

    cases = [
        ((P.astype(np.int64), labels, None, counters()), TypeError, "P"),
        ((P.astype(np.float32), None, one_hot(labels, 3), counters()), TypeError, "Y"),
        ((P, labels.astype(np.int32), None, counters()), TypeError, "labels"),
        ((P, labels + 1, None, counters()), ValueError, "labels"),
        ((P, labels, one_hot(labels, 3), counters()), ValueError, "labels or as rows Y"),
        ((P, None, np.ones((6, 4)), counters()), ValueError, "Y"),
        ((P, labels, None, counters(kind="histogram")), ValueError, "kind"),
        ((P, labels, None, counters(thresholds=np.array([0.6, 0.2]))), ValueError, "sorted"),
        ((P, labels, None, counters(class_id=3)), ValueError, "class_id"),
        ((P, labels, None, counters(top_k=0)), ValueError, "top_k"),
        ((P, labels, None, counters(pos=np.zeros(3, dtype=np.int64))), TypeError, "pos"),
        ((P, labels, None, counters(neg=np.zeros(6))), TypeError, "neg"),
    ]
    for (p, lab, y, c), error, words in cases:
        before = [{k: v.copy() for k, v in x.items() if isinstance(v, np.ndarray)} for x in c]
        with pytest.raises(error, match=words):
            compiled_backend.count_metrics(p, lab, y, c)
        for x, saved in zip(c, before):
            for k, v in saved.items():
                np.testing.assert_array_equal(x[k], v)


class Recorder(C.Callback):
    """What the loop counted each step: the output layer's A (the step's predictions, before its
    update) and the step's targets (shuffle=False: batch j is rows j·b .. (j+1)·b)."""

    def __init__(self):
        self.P = []

    def on_train_batch_end(self, batch, logs=None):
        layer = self.model._dense_layers()[-1]
        self.P.append(layer.A.copy())


COMPILED_METRICS = ["accuracy", "precision", "recall", "auc", M.F1Score(average="macro"),
                    M.SparseTopKCategoricalAccuracy(k=2), "mae", M.RootMeanSquaredError(),
                    M.Precision(class_id=4, name="precision_4"), M.Recall(top_k=2, name="recall_top_2")]


def fresh_metrics():
    return [m if isinstance(m, str) else M.get(M.serialize(m)) for m in COMPILED_METRICS]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_counts_what_update_state_counts_on_each_steps_predictions(dtype):
    x, y = X_DIGITS[:900], Y_DIGITS[:900]
    recorder = Recorder()
    model = digits_model(dtype, metrics=fresh_metrics())
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, seed=0, callbacks=[recorder])
    reference = [M.get(M.serialize(m)) for m in model.metrics if not isinstance(m, str)]
    for j, P in enumerate(recorder.P):
        for m in reference:
            m.update_state(y[j * 64:(j + 1) * 64], P)
    assert_same_as_reference(history, reference)
    # the same fit in one compiled call per epoch (no batch hook) counts the same
    again = digits_model(dtype, metrics=fresh_metrics())
    same = again.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, seed=0)
    assert same.history == history.history


def assert_same_as_reference(history, reference):
    """Counts exactly; MAE and RMSE (sums of floats, added in another order) to rounding."""
    for m in reference:
        if isinstance(m, (M.MeanAbsoluteError, M.RootMeanSquaredError)):
            np.testing.assert_allclose(history.history[m.name][0], m.result(), rtol=1e-12, err_msg=m.name)
        else:
            np.testing.assert_array_equal(history.history[m.name][0], m.result(), err_msg=m.name)


def test_two_workers_count_what_update_state_counts(mnist_flat, monkeypatch):
    """MNIST 784-64-10 in batches of 100: two workers share each step (the first layer split by
    units), and one of them counts the whole batch after the step's barrier."""
    monkeypatch.setenv("FASTNN_NUM_THREADS", "2")
    x, y = mnist_flat[0][:3000], mnist_flat[1][:3000]

    def mnist_model():
        model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")],
                           seed=0)
        model.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.1), metrics=fresh_metrics())
        return model

    model = mnist_model()
    if model._thread_plan(100)[0] != 2:
        pytest.skip("one thread available: no second worker")
    recorder = Recorder()
    history = model.fit(x, y, batch_size=100, epochs=1, shuffle=False, verbose=0, seed=0, callbacks=[recorder])
    reference = [M.get(M.serialize(m)) for m in model.metrics if not isinstance(m, str)]
    for j, P in enumerate(recorder.P):
        for m in reference:
            m.update_state(y[j * 100:(j + 1) * 100], P)
    assert_same_as_reference(history, reference)
    # the same fit without the batch hook: two workers' float32 sums may differ in their last
    # bits between the two runs (on the BLAS path, FASTNN_CPU=generic, each worker's product
    # is BLAS's), so the losses and error sums agree to float32 rounding and the counts to
    # one sample at most
    same = mnist_model().fit(x, y, batch_size=100, epochs=1, shuffle=False, verbose=0, seed=0)
    assert same.history.keys() == history.history.keys()
    for key, values in history.history.items():
        sums = key in ("loss", "mae", "root_mean_squared_error")
        np.testing.assert_allclose(same.history[key], values, rtol=1e-6 if sums else 0,
                                   atol=0 if sums else 1 / len(x), err_msg=key)


def test_validation_twins_equal_evaluate_and_keys_follow_keras():
    model = digits_model(metrics=fresh_metrics())
    history = model.fit(X_DIGITS[:900], Y_DIGITS[:900], batch_size=50, epochs=2, verbose=0, seed=0,
                        validation_data=(X_DIGITS[900:1200], Y_DIGITS[900:1200]))
    names = ["accuracy", "precision", "recall", "auc", "f1_score", "sparse_top_k_categorical_accuracy", "mae",
             "root_mean_squared_error", "precision_4", "recall_top_2"]
    assert model.metrics_names == ["loss"] + names
    assert list(history.history) == ["loss"] + names + ["val_loss"] + ["val_" + n for n in names]
    logs = model.evaluate(X_DIGITS[900:1200], Y_DIGITS[900:1200], return_dict=True)
    for name, value in logs.items():
        assert history.history["val_" + name][-1] == value, name
    # evaluate's counts are update_state's on predict's outputs
    P = model.predict(X_DIGITS[900:1200])
    for m in model.metrics:
        if not isinstance(m, str):
            fresh = M.get(M.serialize(m))
            fresh.update_state(Y_DIGITS[900:1200], P)
            assert logs[m.name] == pytest.approx(fresh.result(), abs=1e-12), m.name


def test_one_hot_targets_and_the_numpy_backend_count_the_same():
    x, y = X_DIGITS[:500], Y_DIGITS[:500]
    histories = []
    for backend, targets, loss in (("compiled", y, "sparse_categorical_crossentropy"),
                                   ("compiled", one_hot(y), "categorical_crossentropy"),
                                   ("numpy", y, "sparse_categorical_crossentropy")):
        model = Sequential([Dense(16, activation="relu", input_shape=(64,)), Dense(10, activation="softmax")],
                           dtype="float64", seed=0, backend=backend)
        model.compile(loss, SGD(learning_rate=0.1), metrics=["precision", "auc", "mae"])
        histories.append(model.fit(x, targets, batch_size=50, epochs=1, verbose=0, seed=0).history)
    for h in histories[1:]:
        assert h["precision"] == histories[0]["precision"]
        assert h["auc"] == histories[0]["auc"]
        assert h["mae"] == pytest.approx(histories[0]["mae"], rel=1e-10)


def test_train_on_batch_and_test_on_batch_return_the_metrics():
    model = digits_model(metrics=["accuracy", "precision", "auc"])
    x, y = X_DIGITS[:64], Y_DIGITS[:64]
    P = model.predict(x)                                  # what the step counts: before its update
    loss, accuracy, precision, auc = model.train_on_batch(x, y)
    assert precision == result(M.Precision(), y, P)
    assert auc == result(M.AUC(), y, P)
    assert accuracy == np.mean(P.argmax(axis=1) == y)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "precision", "auc"]
    values = model.test_on_batch(x, y)
    assert values == list(model.evaluate(x, y, return_dict=True).values())
    assert values[2] == result(M.Precision(), y, model.predict(x))


def test_a_metric_per_class_is_logged_as_an_array(capsys):
    model = digits_model(metrics=["f1_score"])
    history = model.fit(X_DIGITS[:300], Y_DIGITS[:300], batch_size=50, epochs=1, verbose=1, seed=0)
    assert history.history["f1_score"][0].shape == (10,)
    assert "f1_score: [" in capsys.readouterr().out
    loss, f1 = model.evaluate(X_DIGITS[:300], Y_DIGITS[:300])
    assert f1.shape == (10,)


def test_binary_and_regression_models():
    x = X_DIGITS[:600]
    y = (Y_DIGITS[:600] % 2 == 0).astype(np.float64)
    model = Sequential([Dense(8, activation="tanh", input_shape=(64,)), Dense(1, activation="sigmoid")],
                       dtype="float64", seed=0)
    model.compile("binary_crossentropy", SGD(learning_rate=0.1), metrics=["accuracy", "precision", "recall", "auc"])
    model.fit(x, y, batch_size=50, epochs=2, verbose=0, seed=0)
    logs = model.evaluate(x, y, return_dict=True)
    p = model.predict(x)[:, 0]
    assert logs["precision"] == precision_score(y, p > 0.5)
    assert logs["recall"] == recall_score(y, p > 0.5)
    assert abs(logs["auc"] - roc_auc_score(y, p)) < 5e-3
    regression = Sequential([Dense(8, activation="tanh", input_shape=(64,)), Dense(2)], dtype="float64", seed=0)
    regression.compile("mse", SGD(learning_rate=0.05), metrics=["mae", M.RootMeanSquaredError()])
    targets = np.stack([x.mean(axis=1), x.std(axis=1)], axis=1)
    history = regression.fit(x, targets, batch_size=50, epochs=2, verbose=0, seed=0, validation_split=0.2)
    assert {"mae", "root_mean_squared_error", "val_mae", "val_root_mean_squared_error"} <= set(history.history)
    logs = regression.evaluate(x, targets, return_dict=True)
    P = regression.predict(x)
    assert logs["mae"] == pytest.approx(mean_absolute_error(targets, P), rel=1e-12)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(mean_squared_error(targets, P)), rel=1e-12)


def test_callbacks_monitor_the_new_metrics(tmp_path):
    model = digits_model(metrics=["auc", "mae"])
    checkpoint = C.ModelCheckpoint(str(tmp_path / "best.fnn"), monitor="val_auc", save_best_only=True)
    assert C._direction(checkpoint, "val_auc", "auto") == "max"
    assert C._direction(checkpoint, "val_mae", "auto") == "min"
    model.fit(X_DIGITS[:300], Y_DIGITS[:300], batch_size=50, epochs=2, verbose=0, seed=0,
              validation_data=(X_DIGITS[300:400], Y_DIGITS[300:400]), callbacks=[checkpoint])
    assert (tmp_path / "best.fnn").exists()


# ---------------------------------------------------------------- save, load, configs


def test_a_model_saved_with_metrics_loads_with_them(tmp_path):
    model = digits_model(metrics=fresh_metrics())
    model.fit(X_DIGITS[:300], Y_DIGITS[:300], batch_size=50, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load_model(tmp_path / "m.fnn")
    assert loaded.metrics_names == model.metrics_names
    assert [M.serialize(m) for m in loaded.metrics] == [M.serialize(m) for m in model.metrics]
    assert loaded.evaluate(X_DIGITS[300:500], Y_DIGITS[300:500], return_dict=True) == \
        model.evaluate(X_DIGITS[300:500], Y_DIGITS[300:500], return_dict=True)


def test_get_config_round_trips():
    for metric in (M.Precision(thresholds=[0.2, 0.6], class_id=1), M.Recall(top_k=3), M.AUC(curve="PR",
                   num_thresholds=50), M.AUC(thresholds=[0.1, 0.5]), M.F1Score("weighted", 0.3),
                   M.FBetaScore(beta=2.0), M.TopKCategoricalAccuracy(k=3), M.MeanAbsoluteError(name="m")):
        again = type(metric).from_config(metric.get_config())
        assert again.get_config() == metric.get_config()


def test_names_as_keras_3():
    assert M.get("precision").name == "precision"
    assert M.get("AUC").name == "AUC" and isinstance(M.get("AUC"), M.AUC)
    assert isinstance(M.get("mae"), M.MeanAbsoluteError) and M.get("mae").name == "mae"
    assert M.MeanAbsoluteError().name == "mean_absolute_error"
    assert M.RootMeanSquaredError().name == "root_mean_squared_error"
    assert M.TopKCategoricalAccuracy().name == "top_k_categorical_accuracy"
    assert M.SparseTopKCategoricalAccuracy().name == "sparse_top_k_categorical_accuracy"
    assert M.F1Score().name == "f1_score" and M.AUC().name == "auc"
    assert isinstance(M.get("sparse_top_k_categorical_accuracy"), M.SparseTopKCategoricalAccuracy)
    assert isinstance(M.get("root_mean_squared_error"), M.RootMeanSquaredError)


# ---------------------------------------------------------------- bad input


def test_unknown_metric_names_list_the_choices():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(ValueError, match=r"unknown metric 'precission'; expected one of") as error:
        model.compile("sparse_categorical_crossentropy", metrics=["precission"])
    for name in ("'accuracy'", "'precision'", "'recall'", "'auc'", "'f1_score'", "'mae'",
                 "'top_k_categorical_accuracy'", "'root_mean_squared_error'"):
        assert name in str(error.value)
    with pytest.raises(TypeError, match="metric"):
        model.compile("sparse_categorical_crossentropy", metrics=[3])
    with pytest.raises(ValueError, match="more than once"):
        model.compile("sparse_categorical_crossentropy", metrics=["auc", M.AUC()])


@pytest.mark.parametrize("metric", ["auc", "precision", "recall", "f1_score", "top_k_categorical_accuracy",
                                    M.Precision(class_id=0)])
def test_a_classification_metric_on_a_regression_loss_is_refused_at_compile(metric):
    model = Sequential([Dense(2, input_shape=(4,))])
    with pytest.raises(ValueError, match="classification loss"):
        model.compile("mse", metrics=[metric])
    model.compile("mse", metrics=["mae", "root_mean_squared_error"])          # these fit any loss


def test_invalid_arguments():
    with pytest.raises(ValueError, match="top_k"):
        M.Precision(top_k=0)
    with pytest.raises(TypeError, match="top_k"):
        M.Recall(top_k=1.5)
    for bad in (1.5, -0.1, [0.2, 2.0], float("nan")):
        with pytest.raises(ValueError, match="thresholds"):
            M.Precision(thresholds=bad)
    with pytest.raises(ValueError, match="class_id"):
        M.Recall(class_id=-1)
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(ValueError, match="class_id=3"):
        model.compile("sparse_categorical_crossentropy", metrics=[M.Precision(class_id=3)])
    with pytest.raises(ValueError, match="class_id=5"):
        M.Recall(class_id=5).update_state([0, 1], [[0.2, 0.8], [0.9, 0.1]])
    with pytest.raises(ValueError, match="num_thresholds"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="XY")
    with pytest.raises(ValueError, match="multi_label"):
        M.AUC(multi_label=True)
    with pytest.raises(ValueError, match="average"):
        M.F1Score(average="samples")
    with pytest.raises(ValueError, match="threshold"):
        M.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="several output"):
        Sequential([Dense(1, activation="sigmoid", input_shape=(4,))]).compile(
            "binary_crossentropy", metrics=["top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="sample_weight"):
        M.Precision().update_state([1, 0], [0.7, 0.2], sample_weight=[1, 2])
    with pytest.raises(ValueError, match="shape"):
        M.Precision().update_state(np.zeros((3, 2)), np.zeros((3, 4)))
    metric = M.AUC()
    metric.update_state([1, 0], [0.7, 0.2])
    with pytest.raises(ValueError, match="columns"):
        metric.update_state(np.eye(3), np.eye(3))


# ---------------------------------------------------------------- Keras 3 itself


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if not str(keras.__version__).startswith("3"):
        pytest.skip(f"keras {keras.__version__} is not Keras 3")
    return keras


def test_same_numbers_as_keras(keras, digits_predictions, binary_predictions):
    P, y = digits_predictions
    Y = one_hot(y).astype(np.float32)
    P32 = P.astype(np.float32)
    p, yb = binary_predictions
    cases = [
        ("Precision", {}, Y, P32), ("Recall", {}, Y, P32),
        ("Precision", {"class_id": 3}, Y, P32), ("Recall", {"top_k": 2}, Y, P32),
        ("Precision", {"top_k": 1, "class_id": 7}, Y, P32),
        ("Precision", {"thresholds": [0.1, 0.35, 0.6]}, Y, P32),
        ("Recall", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, Y, P32),      # evenly spaced: Keras' buckets
        ("AUC", {}, Y, P32), ("AUC", {"curve": "PR"}, Y, P32),
        ("AUC", {}, yb.astype(np.float32), p.astype(np.float32)),
        ("AUC", {"curve": "PR"}, yb.astype(np.float32), p.astype(np.float32)),
        ("AUC", {"num_thresholds": 37, "summation_method": "minoring"}, Y, P32),
        ("AUC", {"thresholds": [0.3, 0.5, 0.9]}, Y, P32),
        ("F1Score", {}, Y, P32), ("F1Score", {"average": "macro"}, Y, P32),
        ("F1Score", {"average": "weighted", "threshold": 0.3}, Y, P32), ("F1Score", {"average": "micro"}, Y, P32),
        ("TopKCategoricalAccuracy", {"k": 2}, Y, P32), ("MeanAbsoluteError", {}, Y, P32),
        ("RootMeanSquaredError", {}, Y, P32),
    ]
    for name, kwargs, y_true, y_pred in cases:
        theirs = getattr(keras.metrics, name)(**kwargs)
        ours = getattr(M, name)(**kwargs)
        for start in range(0, len(y_true), 100):                 # batch after batch
            theirs.update_state(y_true[start:start + 100], y_pred[start:start + 100])
            ours.update_state(y_true[start:start + 100], y_pred[start:start + 100])
        expected = keras.ops.convert_to_numpy(theirs.result())
        np.testing.assert_allclose(ours.result(), expected, rtol=2e-5, atol=2e-6, err_msg=f"{name}({kwargs})")
    sparse = keras.metrics.SparseTopKCategoricalAccuracy(k=3)
    sparse.update_state(y, P32)
    assert result(M.SparseTopKCategoricalAccuracy(k=3), y, P32) == pytest.approx(float(sparse.result()), abs=1e-7)


def test_keras_history_keys_match(keras):
    x, y = X_DIGITS[:200].astype(np.float32), one_hot(Y_DIGITS[:200]).astype(np.float32)
    k = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    k.compile("sgd", "categorical_crossentropy",
              metrics=["accuracy", "mae", "precision", "auc", keras.metrics.TopKCategoricalAccuracy(k=2),
                       keras.metrics.RootMeanSquaredError()])
    keras_keys = list(k.fit(x, y, epochs=1, verbose=0, validation_data=(x, y)).history)
    model = Sequential([Dense(10, activation="softmax", input_shape=(64,))], seed=0)
    model.compile("categorical_crossentropy", "sgd",
                  metrics=["accuracy", "mae", "precision", "auc", M.TopKCategoricalAccuracy(k=2),
                           M.RootMeanSquaredError()])
    ours = list(model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y)).history)
    assert sorted(ours) == sorted(keras_keys)
