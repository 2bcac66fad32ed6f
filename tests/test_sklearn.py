"""fastnn.sklearn: FastNNClassifier and FastNNRegressor as scikit-learn estimators.

scikit-learn's own estimator checks, then the workflows a student uses: pipelines,
cross-validation, grid and randomized search (in parallel too), cloning and pickling,
partial_fit, and the options the course adds (focal loss, class weights, early stopping).
"""
import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import (GridSearchCV, RandomizedSearchCV, StratifiedKFold, cross_val_score,
                                     train_test_split)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn.sklearn
from fastnn import Sequential
from fastnn.losses import CategoricalFocalCrossentropy
from fastnn.sklearn import EXPECTED_FAILED_CHECKS, FastNNClassifier, FastNNRegressor
from fastnn.utils import compute_class_weight

IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def iris_scaled(iris):
    x, y = iris
    return StandardScaler().fit_transform(x), y


def small_classifier(**params):
    """A quick Iris-sized network (one hidden layer of 12), reproducible."""
    defaults = dict(hidden_layer_sizes=(12,), learning_rate=0.05, batch_size=10, epochs=40, random_state=0)
    return FastNNClassifier(**{**defaults, **params})


# ------------------------------------------------------------------ scikit-learn's estimator checks

# Small networks and few epochs: the checks fit a few hundred times.
CHECKED = [FastNNClassifier(hidden_layer_sizes=(16,), learning_rate=0.05, batch_size=32, epochs=20),
           FastNNRegressor(hidden_layer_sizes=(16,), learning_rate=0.01, batch_size=32, epochs=20)]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:      # >= 1.6
    _checks = parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
else:                                   # older versions read the `_xfail_checks` tag of _more_tags
    _checks = parametrize_with_checks(CHECKED)


@_checks
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # some checks fit unscaled data (e.g. features around 100) on purpose; a diverging
        # step is reported by fit as a RuntimeWarning and not applied
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)


def test_expected_failures_are_named_checks_with_reasons():
    for name, failures in EXPECTED_FAILED_CHECKS.items():
        assert name in ("FastNNClassifier", "FastNNRegressor")
        for check, reason in failures.items():
            assert check.startswith("check_") and len(reason) > 20


# ------------------------------------------------------------------ pipelines, cross-validation

@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_pipeline_on_iris_cross_validates_above_90_percent(iris, scaler):
    x, y = iris
    lr = 0.05 if scaler is StandardScaler else 0.1
    pipeline = make_pipeline(scaler(), small_classifier(learning_rate=lr))
    scores = cross_val_score(pipeline, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.mean() >= 0.9, scores


def test_string_labels_round_trip(iris_scaled):
    x, y = iris_scaled
    labels = IRIS_NAMES[y]
    clf = small_classifier().fit(x, labels)
    np.testing.assert_array_equal(clf.classes_, IRIS_NAMES)
    predicted = clf.predict(x)
    assert predicted.dtype == labels.dtype and set(predicted) <= set(IRIS_NAMES)
    assert np.mean(predicted == labels) >= 0.95
    assert clf.score(x, labels) == pytest.approx(np.mean(predicted == labels))


def test_binary_uses_two_softmax_units(iris_scaled):
    x, y = iris_scaled
    keep = y > 0
    labels = np.where(y[keep] == 1, "no", "yes")
    clf = small_classifier().fit(x[keep], labels)
    assert clf.model_.output_units == 2 and clf.model_.layers[-1].activation == "softmax"
    assert clf.predict_proba(x[keep]).shape == (keep.sum(), 2)
    assert clf.score(x[keep], labels) >= 0.9


def test_predict_proba_rows_sum_to_one_and_match_the_network(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier().fit(x, y)
    proba = clf.predict_proba(x)
    assert proba.shape == (150, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba, clf.model_.predict(x), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(x), clf.classes_[np.argmax(proba, axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(x), np.log(proba))


def test_model_is_a_sequential_showing_layers_delta_and_summary(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(hidden_layer_sizes=(8, 5), batch_size=16).fit(x, y)
    model = clf.model_
    assert isinstance(model, Sequential)
    assert [layer.units for layer in model.layers] == [8, 5, 3]
    assert [layer.name for layer in model.layers] == ["hidden_1", "hidden_2", "output"]
    assert model.layers[0].W.shape == (4, 8)
    last_batch = 150 - 16 * (150 // 16)          # the epoch's last batch: 150 = 9·16 + 6
    assert model.layers[1].delta.shape == (last_batch, 5)
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("TOTAL") for line in lines)
    assert model.count_params() == 4 * 8 + 8 + 8 * 5 + 5 + 5 * 3 + 3


def test_no_hidden_layer_is_softmax_regression(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(hidden_layer_sizes=()).fit(x, y)
    assert [layer.units for layer in clf.model_.layers] == [3]
    assert clf.score(x, y) >= 0.9


def test_fit_is_reproducible_for_an_int_random_state(iris_scaled):
    x, y = iris_scaled
    a, b = small_classifier(random_state=3).fit(x, y), small_classifier(random_state=3).fit(x, y)
    for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_
    c = small_classifier(random_state=4).fit(x, y)
    assert not np.array_equal(a.model_.get_weights()[0], c.model_.get_weights()[0])


def test_random_state_seeds_the_sequential(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(random_state=7).fit(x, y)
    assert clf.model_.seed == 7


def test_float64_network(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(dtype="float64").fit(x, y)
    assert clf.model_.dtype == np.float64
    assert clf.score(x, y) >= 0.95


# ------------------------------------------------------------------ searches

GRID = {"hidden_layer_sizes": [(4,), (12,)], "learning_rate": [0.01, 0.05]}


def _grid_search(n_jobs):
    return GridSearchCV(make_pipeline(StandardScaler(), small_classifier(epochs=20)),
                        {f"fastnnclassifier__{k}": v for k, v in GRID.items()}, cv=3, n_jobs=n_jobs)


def test_grid_search_in_two_processes_equals_one(iris):
    x, y = iris
    serial, parallel = _grid_search(1).fit(x, y), _grid_search(2).fit(x, y)
    assert serial.best_params_ == parallel.best_params_
    np.testing.assert_array_equal(serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"])
    assert serial.best_score_ >= 0.9
    assert isinstance(parallel.best_estimator_[-1].model_, Sequential)


def test_randomized_search_in_two_processes(iris):
    from scipy.stats import loguniform
    x, y = iris
    search = RandomizedSearchCV(
        make_pipeline(StandardScaler(), small_classifier(epochs=20)),
        {"fastnnclassifier__learning_rate": loguniform(1e-3, 1e-1),
         "fastnnclassifier__hidden_layer_sizes": [(6,), (12,)]},
        n_iter=4, cv=3, n_jobs=2, random_state=0).fit(x, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ >= 0.8


# ------------------------------------------------------------------ clone and pickle

def test_clone_gives_the_same_unfitted_estimator_and_the_same_fit(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(hidden_layer_sizes=(7, 3), class_weight="balanced").fit(x, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "model_")
    np.testing.assert_array_equal(copy.fit(x, y).predict_proba(x), clf.predict_proba(x))


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_pickle_round_trip_predicts_identically_and_trains_on(iris_scaled, estimator):
    x, y = iris_scaled
    if estimator == "classifier":
        target = IRIS_NAMES[y]
        fitted = small_classifier().fit(x, target)
    else:                                   # sepal length from the other three measurements
        x, target = x[:, 1:], x[:, 0]
        fitted = FastNNRegressor(hidden_layer_sizes=(8,), epochs=5, random_state=0).fit(x, target)
    state = fitted.__getstate__()
    assert isinstance(state["model_"], dict)                  # the network travels as plain data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(x), fitted.predict(x))
    assert restored.model_.optimizer.iterations == fitted.model_.optimizer.iterations
    # the optimizer state (t and the velocities) survives: both continue identically
    fitted.partial_fit(x, target)
    restored.partial_fit(x, target)
    np.testing.assert_array_equal(restored.predict(x), fitted.predict(x))


# ------------------------------------------------------------------ partial_fit

def test_partial_fit_needs_classes_first_and_improves_the_loss(iris_scaled):
    x, y = iris_scaled
    labels = IRIS_NAMES[y]
    clf = small_classifier()
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(x, labels)
    clf.partial_fit(x[:60], labels[:60], classes=IRIS_NAMES)
    steps = clf.model_.optimizer.iterations
    assert steps == 6 and clf.n_iter_ == 1
    velocities = [v.copy() for v in clf.model_.optimizer.velocities]
    for _ in range(15):
        clf.partial_fit(x, labels)
    assert clf.model_.optimizer.iterations == steps + 15 * 15      # t counts on: 150 / 10 steps a call
    assert any(not np.array_equal(a, b) for a, b in zip(velocities, clf.model_.optimizer.velocities))
    assert len(clf.loss_curve_) == 16 and clf.n_iter_ == 16
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.score(x, labels) >= 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(x[:5], np.array(["rose"] * 5))
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(x, labels, classes=IRIS_NAMES[:2])


def test_partial_fit_continues_a_fit(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(epochs=5).fit(x, y)
    weights = clf.model_.get_weights()
    clf.partial_fit(x, y)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert not np.array_equal(weights[0], clf.model_.get_weights()[0])


def test_regressor_partial_fit_improves_the_loss():
    x, y = make_regression(n_samples=300, n_features=4, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    reg = FastNNRegressor(hidden_layer_sizes=(16,), batch_size=20, random_state=0)
    for _ in range(10):
        reg.partial_fit(x, y)
    assert reg.loss_curve_[-1] < 0.2 * reg.loss_curve_[0]


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("estimator", [FastNNClassifier(), FastNNRegressor()])
def test_not_fitted_error_before_fit(estimator):
    x = np.zeros((3, 4))
    methods = ["predict"] + (["predict_proba", "predict_log_proba"] if hasattr(estimator, "predict_proba") else [])
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(estimator, method)(x)
    with pytest.raises(NotFittedError):
        estimator.score(x, np.zeros(3))


@pytest.mark.parametrize("params, match", [
    ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"early_stopping": True}, "validation_fraction"),
    ({"loss": "hinge"}, "loss"),
    ({"class_weight": "uniform"}, "class_weight"),
    ({"class_weight": {"rose": 2.0}}, "rose"),
    ({"focal_alpha": [1.0, 2.0], "loss": "categorical_focal_crossentropy"}, "focal_alpha"),
    ({"dtype": "float16"}, "dtype"),
    ({"n_threads": 0}, "n_threads"),
    ({"activation": "mish"}, "activation"),
])
def test_bad_parameters_raise_value_errors_at_fit(iris_scaled, params, match):
    x, y = iris_scaled
    clf = FastNNClassifier(**params)              # scikit-learn validates in fit, not in __init__
    with pytest.raises(ValueError, match=match):
        clf.fit(x, IRIS_NAMES[y])


def test_one_class_is_an_error(iris_scaled):
    x, _ = iris_scaled
    with pytest.raises(ValueError, match="at least 2 classes"):
        FastNNClassifier().fit(x, np.zeros(150))


# ------------------------------------------------------------------ class weights, focal loss

def test_class_weight_dict_keys_are_the_labels(iris_scaled):
    x, y = iris_scaled
    labels = IRIS_NAMES[y]
    plain = small_classifier(epochs=10).fit(x, labels)
    heavy = small_classifier(epochs=10, class_weight={"virginica": 1000.0, "setosa": 1e-3,
                                                      "versicolor": 1e-3}).fit(x, labels)
    assert np.mean(heavy.predict(x) == "virginica") > np.mean(plain.predict(x) == "virginica")
    assert np.mean(heavy.predict(x) == "virginica") > 0.6


def test_class_weight_balanced_matches_the_explicit_dict(iris_scaled):
    x, y = iris_scaled
    keep = np.r_[0:50, 50:70, 100:150]                      # 50 / 20 / 50 samples
    labels = IRIS_NAMES[y[keep]]
    alphas = compute_class_weight("balanced", classes=IRIS_NAMES, y=labels)
    balanced = small_classifier(class_weight="balanced").fit(x[keep], labels)
    explicit = small_classifier(class_weight=dict(zip(IRIS_NAMES, alphas))).fit(x[keep], labels)
    np.testing.assert_array_equal(balanced.predict_proba(x), explicit.predict_proba(x))


@pytest.mark.parametrize("alpha, expected", [
    (None, None), (0.25, 0.25), ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ({"virginica": 4.0}, [1.0, 1.0, 4.0]), ("balanced", [0.6, 1.5, 1.2])])
def test_focal_alpha_forms(iris_scaled, alpha, expected):
    x, y = iris_scaled
    keep = np.r_[0:50, 50:70, 100:125]                      # 50 / 20 / 25 samples: α = 95 / (3·n_c)
    if alpha == "balanced":
        expected = (95 / (3 * np.array([50, 20, 25]))).tolist()
    clf = small_classifier(loss="categorical_focal_crossentropy", focal_gamma=1.5, focal_alpha=alpha)
    clf.fit(x[keep], IRIS_NAMES[y[keep]])
    loss = clf.model_.loss
    assert isinstance(loss, CategoricalFocalCrossentropy) and loss.gamma == 1.5
    if expected is None:
        assert loss.alpha is None
    else:
        np.testing.assert_allclose(loss.alpha, expected)
    assert clf.score(x[keep], IRIS_NAMES[y[keep]]) >= 0.9


def test_balanced_weights_are_refused_by_partial_fit(iris_scaled):
    x, y = iris_scaled
    for params in ({"class_weight": "balanced"},
                   {"loss": "categorical_focal_crossentropy", "focal_alpha": "balanced"}):
        with pytest.raises(ValueError, match="partial_fit"):
            small_classifier(**params).partial_fit(x, y, classes=[0, 1, 2])


# ------------------------------------------------------------------ validation, early stopping

def test_validation_fraction_records_the_validation_loss(iris_scaled):
    x, y = iris_scaled
    clf = small_classifier(epochs=8, validation_fraction=0.2).fit(x, y)
    assert len(clf.validation_loss_curve_) == 8 == len(clf.loss_curve_)
    assert small_classifier(epochs=8).fit(x, y).validation_loss_curve_ is None


def test_early_stopping_stops_and_keeps_the_best_weights():
    x, y = make_classification(n_samples=200, n_features=20, n_informative=3, flip_y=0.3, random_state=0)
    clf = FastNNClassifier(hidden_layer_sizes=(64,), learning_rate=0.1, batch_size=10, epochs=200,
                           validation_fraction=0.3, early_stopping=True, n_iter_no_change=5, random_state=0)
    clf.fit(x, y)
    curve = clf.validation_loss_curve_
    assert clf.n_iter_ < 200 and len(curve) == clf.n_iter_
    best = int(np.argmin(curve))
    assert best == clf.n_iter_ - 1 - 5                      # stopped 5 epochs after the best one
    # the weights kept are the best epoch's: the same split's validation loss equals the minimum
    _, x_val, _, y_val = train_test_split(x, y, test_size=60, random_state=0, stratify=y)
    assert clf.model_.evaluate(x_val, y_val, return_dict=True)["loss"] == pytest.approx(curve[best], rel=1e-5)


# ------------------------------------------------------------------ regression

def test_regressor_r2_above_09():
    x, y = make_regression(n_samples=400, n_features=5, n_informative=5, noise=5.0, random_state=0)
    y = (y - y.mean()) / y.std()
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    reg = FastNNRegressor(hidden_layer_sizes=(32,), batch_size=20, epochs=50, random_state=0)
    reg.fit(x_train, y_train)
    assert reg.predict(x_test).shape == y_test.shape
    assert reg.score(x_test, y_test) >= 0.9
    assert reg.model_.layers[-1].activation == "linear" and reg.model_.loss.name == "mean_squared_error"


def test_regressor_several_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = np.column_stack([x[:, 0] + x[:, 1], np.sin(x[:, 2])])
    reg = FastNNRegressor(hidden_layer_sizes=(32,), batch_size=20, epochs=60, random_state=0).fit(x, y)
    assert reg.n_outputs_ == 2 and reg.predict(x).shape == (300, 2)
    assert reg.score(x, y) >= 0.9


# ------------------------------------------------------------------ BLAS threads

class _Recorder:
    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, n):
        self.calls.append(n)
        return self.real(n)


def test_n_threads_and_the_environment_variable_limit_blas(iris_scaled, monkeypatch):
    x, y = iris_scaled
    recorder = _Recorder(fastnn.sklearn.blas_threads)
    monkeypatch.setattr(fastnn.sklearn, "blas_threads", recorder)
    monkeypatch.delenv("FASTNN_NUM_THREADS", raising=False)
    small_classifier(epochs=1).fit(x, y)
    assert recorder.calls == []                               # nothing asked: BLAS is left alone
    small_classifier(epochs=1, n_threads=1).fit(x, y).predict(x)
    assert recorder.calls == [1, 1]
    monkeypatch.setenv("FASTNN_NUM_THREADS", "2")
    small_classifier(epochs=1).fit(x, y)
    assert recorder.calls[-1] == 2
    small_classifier(epochs=1, n_threads=1).fit(x, y)       # the parameter wins over the variable
    assert recorder.calls[-1] == 1
    monkeypatch.setenv("FASTNN_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="FASTNN_NUM_THREADS"):
        small_classifier(epochs=1).fit(x, y)
