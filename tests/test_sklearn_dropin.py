"""fastnn.sklearn.MLPClassifier and MLPRegressor against scikit-learn's own estimators.

With the same random_state, the drop-ins draw the same initial weights and sample orders
as scikit-learn and do its arithmetic in fastnn's compiled loop: on float64 data their
coefs_, intercepts_ and loss_curve_ after a few epochs match scikit-learn's to 1e-9."""
import os
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import scipy.sparse  # noqa: E402
from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.datasets import make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from fastnn import sklearn as fs  # noqa: E402

RTOL = 1e-9


def _digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _regression(n_targets=1):
    X, y = make_regression(n_samples=300, n_features=8, n_targets=n_targets, noise=1.0, random_state=0)
    return X, y / y.std()


def assert_same_fit(ours, theirs, rtol=RTOL):
    """coefs_, intercepts_ and loss_curve_ (or loss_) equal to rtol, relative to each array's scale."""
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    if getattr(theirs, "loss_curve_", None) is not None:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)


def fit_both(name, X, y, **params):
    # one BLAS thread: scikit-learn's small products are slower with more on a busy machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = getattr(fs, name)(**params).fit(X, y)
        theirs = getattr(sk, name)(**params).fit(X, y)
    return ours, theirs


# ---------------------------------------------------------------- parity, float64

CLASSIFIER_CASES = {
    "adam": dict(solver="adam"),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd-momentum": dict(solver="sgd", nesterovs_momentum=False, learning_rate_init=0.05),
    "sgd-plain": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2, power_t=0.3),
    "sgd-adaptive-tanh": dict(solver="sgd", learning_rate="adaptive", activation="tanh", tol=0.5,
                              n_iter_no_change=1),
    "adam-logistic": dict(solver="adam", activation="logistic", batch_size=64, learning_rate_init=0.01),
    "adam-identity-no-alpha": dict(solver="adam", activation="identity", alpha=0.0, batch_size=100),
    "adam-odd-batches": dict(solver="adam", batch_size=77, alpha=0.3, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
    "no-shuffle": dict(solver="sgd", shuffle=False, learning_rate_init=0.05),
}


@pytest.mark.parametrize("case", sorted(CLASSIFIER_CASES))
def test_multiclass_matches_sklearn(case):
    X, y = _digits()
    ours, theirs = fit_both("MLPClassifier", X, y, hidden_layer_sizes=(32, 16), random_state=3, max_iter=4,
                            **CLASSIFIER_CASES[case])
    assert ours.out_activation_ == theirs.out_activation_ == "softmax"
    assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_binary_matches_sklearn(solver):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.where(y == 1, "malignant", "benign")
    ours, theirs = fit_both("MLPClassifier", X, labels, hidden_layer_sizes=(20,), random_state=1, max_iter=5,
                            solver=solver, batch_size=50)
    assert ours.out_activation_ == "logistic" and ours.coefs_[-1].shape == (20, 1)
    assert_same_fit(ours, theirs)
    proba = ours.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba, theirs.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multilabel_matches_sklearn(solver):
    X, Y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4, random_state=0)
    ours, theirs = fit_both("MLPClassifier", X, Y, hidden_layer_sizes=(16,), random_state=0, max_iter=5,
                            solver=solver, batch_size=64, learning_rate_init=0.01)
    assert ours.out_activation_ == "logistic" and ours.n_outputs_ == 4
    assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regression_matches_sklearn(solver, n_targets):
    X, y = _regression(n_targets)
    ours, theirs = fit_both("MLPRegressor", X, y, hidden_layer_sizes=(16, 8), random_state=2, max_iter=5,
                            solver=solver, batch_size=64, learning_rate_init=0.01)
    assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-8, atol=1e-10)


def test_poisson_matches_sklearn():
    X, y = _regression()
    y = np.exp(y / 3)
    ours, theirs = fit_both("MLPRegressor", X, y, loss="poisson", hidden_layer_sizes=(16,), random_state=0,
                            max_iter=5, batch_size=50)
    assert ours.out_activation_ == "exp"
    assert_same_fit(ours, theirs)


def test_sample_weight_matches_sklearn():
    X, y = _iris()
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fs.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=5, batch_size=32,
                                learning_rate_init=0.01).fit(X, y, sample_weight=w)
        theirs = sk.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=5, batch_size=32,
                                  learning_rate_init=0.01).fit(X, y, sample_weight=w)
    assert_same_fit(ours, theirs)


def test_two_threads_give_the_same_fit():
    X, y = _digits()
    params = dict(hidden_layer_sizes=(64,), random_state=0, max_iter=3, batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = fs.MLPClassifier(n_threads=1, **params).fit(X, y)
        two = fs.MLPClassifier(n_threads=2, **params).fit(X, y)
    assert_same_fit(two, one)


# ---------------------------------------------------------------- stopping rules, the other solvers


def test_convergence_warning_and_stopping_rule_match_sklearn():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(10,), random_state=0, learning_rate_init=0.01)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        fs.MLPClassifier(max_iter=3, **params).fit(X, y)
    # a tolerance that stops training long before max_iter, at the same epoch as scikit-learn
    ours, theirs = fit_both("MLPClassifier", X, y, max_iter=500, tol=1e-2, n_iter_no_change=3, **params)
    assert ours.n_iter_ < 500
    assert_same_fit(ours, theirs)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=RTOL)
    assert ours.t_ == theirs.t_


def test_early_stopping_matches_sklearn():
    X, y = _digits()
    ours, theirs = fit_both("MLPClassifier", X, y, hidden_layer_sizes=(20,), random_state=0, max_iter=30,
                            early_stopping=True, n_iter_no_change=2, tol=0.01, validation_fraction=0.2)
    assert ours.n_iter_ < 30
    assert ours.validation_scores_ == pytest.approx(theirs.validation_scores_, abs=1e-12)
    assert ours.best_validation_score_ == theirs.best_validation_score_
    assert ours.best_loss_ is None
    assert_same_fit(ours, theirs)


def test_partial_fit_and_warm_start_match_sklearn():
    X, y = _iris()
    ours, theirs = (cls(hidden_layer_sizes=(10,), random_state=0, learning_rate_init=0.01)
                    for cls in (fs.MLPClassifier, sk.MLPClassifier))
    for _ in range(3):
        ours.partial_fit(X[:100], y[:100], classes=np.unique(y))
        theirs.partial_fit(X[:100], y[:100], classes=np.unique(y))
    assert_same_fit(ours, theirs)
    with pytest.raises(ValueError):
        fs.MLPClassifier().partial_fit(X, y)          # classes are needed on the first call
    with pytest.raises(ValueError):
        ours.partial_fit(X, y + 5)                    # labels outside the classes
    warm = [cls(hidden_layer_sizes=(10,), random_state=0, max_iter=2, warm_start=True)
            for cls in (fs.MLPRegressor, sk.MLPRegressor)]
    Xr, yr = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in warm:
            model.fit(Xr, yr).fit(Xr, yr)
    assert warm[0].n_iter_ == 2 and len(warm[0].loss_curve_) == 4
    assert_same_fit(*warm)


def test_lbfgs_matches_sklearn():
    X, y = _digits()
    ours, theirs = fit_both("MLPClassifier", X, y, solver="lbfgs", hidden_layer_sizes=(20,), random_state=0,
                            max_iter=10)
    assert_same_fit(ours, theirs, rtol=1e-6)
    Xr, yr = _regression(2)
    ours, theirs = fit_both("MLPRegressor", Xr, yr, solver="lbfgs", hidden_layer_sizes=(10,), random_state=0,
                            max_iter=10, alpha=0.1)
    assert_same_fit(ours, theirs, rtol=1e-6)


# ---------------------------------------------------------------- data types, sparse input


def test_float32_is_trained_in_float32():
    X, y = _digits()
    X32 = X.astype(np.float32)
    ours, theirs = fit_both("MLPClassifier", X32, y, hidden_layer_sizes=(32,), random_state=0, max_iter=3)
    assert all(a.dtype == np.float32 for a in ours.coefs_ + ours.intercepts_)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
    assert ours.predict_proba(X32).dtype == np.float32


def test_sparse_input_fits_as_dense():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = fs.MLPClassifier(**params).fit(X, y)
        for fmt in (scipy.sparse.csr_matrix, scipy.sparse.csc_matrix):
            sparse = fs.MLPClassifier(**params).fit(fmt(X), y)
            assert_same_fit(sparse, dense, rtol=1e-12)
            np.testing.assert_allclose(sparse.predict_proba(fmt(X)), dense.predict_proba(X), rtol=1e-12)


def test_pickles_and_keeps_predicting():
    X, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fs.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=5).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("params, match", [
    (dict(solver="newton"), "solver"),
    (dict(activation="softplus"), "activation"),
    (dict(learning_rate="cyclic"), "learning_rate"),
    (dict(alpha=-1.0), "alpha"),
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes"),
    (dict(n_threads=0), "n_threads"),
])
def test_bad_parameters_raise_value_error(params, match):
    X, y = _iris()
    with pytest.raises(ValueError, match=match):
        fs.MLPClassifier(**params).fit(X, y)


def test_bad_data_and_unfitted():
    X, y = _iris()
    with pytest.raises(NotFittedError):
        fs.MLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        fs.MLPRegressor().predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fs.MLPClassifier().fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fs.MLPRegressor().fit(bad, y)
    with pytest.raises(ValueError):
        fs.MLPClassifier().fit(X, y[:-1])


def test_diverging_fit_raises_with_epoch_and_step():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match=r"epoch \d+, step \d+ of \d+.*scale"):
        fs.MLPRegressor(solver="sgd", learning_rate_init=0.5, random_state=0, max_iter=20).fit(X * 100, y * 1e3)


# ---------------------------------------------------------------- scikit-learn's own checks


@parametrize_with_checks([fs.MLPClassifier(max_iter=50, random_state=0),
                          fs.MLPRegressor(max_iter=50, random_state=0)])
def test_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------- accuracy on real data


def _accuracy_case(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y, "MLPClassifier", dict(hidden_layer_sizes=(64,), max_iter=40)
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return StandardScaler().fit_transform(X), y, "MLPClassifier", dict(hidden_layer_sizes=(32,), max_iter=60)
    if name == "iris":
        X, y = load_iris(return_X_y=True)
        return StandardScaler().fit_transform(X), y, "MLPClassifier", dict(hidden_layer_sizes=(10,), max_iter=300)
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y / 100.0, "MLPRegressor", dict(hidden_layer_sizes=(16,),
                                                                             alpha=1.0, max_iter=200)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("name", ["digits", "breast_cancer", "iris", "diabetes"])
def test_score_matches_sklearn(name, solver):
    X, y, cls, params = _accuracy_case(name)
    if solver == "sgd":
        params["learning_rate_init"] = 0.01
    if solver == "lbfgs":
        params["max_iter"] = 50
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    for seed in (0, 1):
        ours, theirs = fit_both(cls, X_train, y_train, solver=solver, random_state=seed, **params)
        assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.01


def test_mnist_matches_sklearn():
    from fastnn.datasets import load_mnist
    if not os.environ.get("FASTNN_DATA"):
        if os.environ.get("FASTNN_REQUIRE_DATA"):
            pytest.fail("FASTNN_REQUIRE_DATA is set but FASTNN_DATA is not")
        pytest.skip("MNIST needs FASTNN_DATA")
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    X = x_train.reshape(len(x_train), -1)[:4000].astype(np.float64) / 255.0
    Xt = x_test.reshape(len(x_test), -1)[:2000].astype(np.float64) / 255.0
    y, yt = y_train[:4000], y_test[:2000]
    ours, theirs = fit_both("MLPClassifier", X, y, hidden_layer_sizes=(64,), max_iter=6, random_state=0)
    assert_same_fit(ours, theirs, rtol=1e-7)
    assert abs(ours.score(Xt, yt) - theirs.score(Xt, yt)) <= 0.01


# ---------------------------------------------------------------- FastNNRegressor: a diverging fit


def test_fastnn_regressor_keeps_the_last_finite_weights_and_says_so():
    from sklearn.model_selection import cross_val_score
    X, y = load_diabetes(return_X_y=True)              # targets 25-346, unscaled
    X = X * 10
    with pytest.warns(RuntimeWarning, match=r"epoch 2, step \d+/\d+.*the loss is (inf|nan).*the weights after "
                                            r"epoch 1 .* are kept.*Scale"):
        model = fs.FastNNRegressor(random_state=0, learning_rate=0.05).fit(X, y)
    assert model.loss_curve_[0] > 1e10 and not np.isfinite(model.loss_curve_[1])
    assert np.all(np.isfinite(model.predict(X)))
    assert all(np.all(np.isfinite(w)) for w in model.model_.get_weights())
    # diverging in its first epoch, a fit keeps the initial weights
    with pytest.warns(RuntimeWarning, match="the weights from before this fit call are kept"):
        model = fs.FastNNRegressor(random_state=0, learning_rate=0.5).fit(X, y)
    initial = fs.FastNNRegressor(random_state=0, epochs=1, learning_rate=0.0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), initial.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = cross_val_score(fs.FastNNRegressor(random_state=0, learning_rate=0.05), X, y, cv=3)
    assert np.all(np.isfinite(scores))
    # scaled as the warning suggests, the same fit trains
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fs.FastNNRegressor(random_state=0, learning_rate=0.05).fit(StandardScaler().fit_transform(X),
                                                                  (y - y.mean()) / y.std())


# ---------------------------------------------------------------- the loop's scikit-learn options, both backends


@pytest.mark.parametrize("loss, out_act, n_out", [
    ("sigmoid_binary_cross_entropy", "sigmoid", 3), ("softmax_cross_entropy", "softmax", 4),
    ("half_squared_error", "linear", 2), ("exp_poisson", "linear", 2), ("mean_squared_error", "linear", 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_trainer_options_match_the_numpy_reference(loss, out_act, n_out, weighted):
    """sum_over_outputs, weighted_mean, penalty_per_sample, clip_probabilities and batch_penalties:
    the compiled Trainer against the NumPy reference, step by step, with a smaller last batch."""
    from fastnn.backend import compiled_backend, numpy_backend
    rng = np.random.default_rng(0)
    n, d, h, bs = 37, 5, 6, 8
    X = rng.standard_normal((n, d))
    if loss == "softmax_cross_entropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif loss == "exp_poisson":
        Y = rng.poisson(2.0, (n, n_out)).astype(float)
    else:
        Y = (rng.random((n, n_out)) > 0.5).astype(float)
    Y[0] = 0 if loss != "softmax_cross_entropy" else Y[0]
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    weights0 = [rng.standard_normal((d, h)) * 3, rng.standard_normal(h), rng.standard_normal((h, n_out)) * 3,
                rng.standard_normal(n_out)]
    order = rng.permutation(n).astype(np.intp)
    steps = -(-n // bs)
    results = []
    for backend in (compiled_backend, numpy_backend):
        W1, b1, W2, b2 = (a.copy() for a in weights0)
        z = np.zeros
        layers = [(W1, b1, z((d, h)), z(h), z((d, h)), z(h), z((bs, h)), z((bs, h)), z((bs, h))),
                  (W2, b2, z((h, n_out)), z(n_out), z((h, n_out)), z(n_out), z((bs, n_out)), z((bs, n_out)),
                   z((bs, n_out)))]
        states = [(z((d, h)), None, z(h), None), (z((h, n_out)), None, z(n_out), None)]
        trainer = backend.Trainer(z((bs, d)), layers, ["tanh", out_act], loss, states=states,
                                  penalties=[(0.0, 0.05, 0.0, 0.0)] * 2, sum_over_outputs=True, weighted_mean=True,
                                  penalty_per_sample=True, clip_probabilities=1e-3)
        losses, penalties = np.zeros(steps), np.zeros(steps)
        rule = {"kind": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
        done, *_ = trainer.train(X, None, Y, w, order, 0, steps, 0.01, 0.0, 0.0, False, 0, losses, 0, rule=rule,
                                 batch_penalties=penalties)
        assert done == steps
        results.append((losses, penalties, [W1, b1, W2, b2]))
    (lc, pc, wc), (ln, pn, wn) = results
    np.testing.assert_allclose(lc, ln, rtol=1e-10)
    np.testing.assert_allclose(pc, pn, rtol=1e-10)
    assert np.all(pc > 0)
    for a, b in zip(wc, wn):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    # the penalty of step k: 0.05·ΣW² / (m_k or Σ w) of the weights before the step (the first step's:
    # the initial weights)
    norm = w[order[:bs]].sum() if weighted else bs
    assert pc[0] == pytest.approx(0.05 * (np.sum(weights0[0] ** 2) + np.sum(weights0[2] ** 2)) / norm, rel=1e-12)
