"""scikit-learn estimators around fastnn's Sequential: ``FastNNClassifier`` and ``FastNNRegressor``.

Each estimator builds, compiles and trains the course's fully connected network

    n_features → hidden_layer_sizes[0] → ... → hidden_layer_sizes[-1] → output

with mini-batch SGD (momentum μ, time-based decay), and follows scikit-learn's
conventions, so it works in ``Pipeline``, ``cross_val_score``, ``GridSearchCV``
and ``RandomizedSearchCV`` (also with ``n_jobs`` > 1, and on a Dask cluster
through joblib's dask backend)::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from fastnn.sklearn import FastNNClassifier

    clf = make_pipeline(StandardScaler(), FastNNClassifier(hidden_layer_sizes=(12,), epochs=40))
    clf.fit(x_train, y_train).score(x_test, y_test)

The output layer
----------------
* ``FastNNClassifier``: a softmax layer with one unit per class, also for two
  classes (2 softmax units rather than 1 sigmoid unit: one code path, and focal
  loss and per-class weights work the same for any number of classes). The labels
  may be of any type (strings too): ``classes_`` holds them sorted, and the network
  sees their indices 0..k−1. The loss is the categorical cross-entropy
  E = −log ŷ_c, or the focal loss E = −α_c (1 − ŷ_c)^γ log ŷ_c.
* ``FastNNRegressor``: a linear layer with one unit per target and the mean
  squared error E = mean_k (ŷ_k − y_k)².

A fitted estimator shows its network as ``model_`` (a ``fastnn.Sequential``):
``model_.summary()`` prints the table of weights, ``model_.layers[0].delta`` the
sensitivities δ of the last training batch (∂ of the batch's mean loss, so each row
carries a factor 1/n; see ``fastnn.layers``).

BLAS threads
------------
``n_threads`` (or the environment variable ``FASTNN_NUM_THREADS`` when
``n_threads`` is None) limits the BLAS threads of ``fit``, ``partial_fit`` and
``predict`` through ``fastnn.utils.blas_threads`` (threadpoolctl). When neither
is set the BLAS keeps its setting: joblib's default (loky) worker processes
already start with cpu_count // n_jobs BLAS threads each, and Dask's worker
processes with one, so a parallel search does not oversubscribe the cores.
"""
import contextlib
import numbers
import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from fastnn import layers as _layers
from fastnn import losses as _losses
from fastnn import metrics as _metrics
from fastnn import optimizers as _optimizers
from fastnn.callbacks import Callback, EarlyStopping
from fastnn.layers import Dense
from fastnn.losses import CategoricalFocalCrossentropy
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import blas_threads, compute_class_weight, to_categorical

try:                                                # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:                                 # older: the estimator's own method
    def _validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

__all__ = ["EXPECTED_FAILED_CHECKS", "FastNNClassifier", "FastNNRegressor", "MLPClassifier", "MLPRegressor"]

THREADS_ENV = "FASTNN_NUM_THREADS"

# Checks of sklearn.utils.estimator_checks that these estimators do not pass, and why.
# tests/test_sklearn.py hands them to parametrize_with_checks(expected_failed_checks=...);
# for scikit-learn < 1.6 the same dict is the `_xfail_checks` tag.
_SAMPLE_WEIGHT_REASON = (
    "mini-batch SGD: a sample of weight 2 is one sample whose gradient counts twice in its batch, "
    "while a repeated sample is two samples in (usually) two batches, and the extra rows change every "
    "batch and the shuffling; the fits are equivalent in expectation, not in their weights")
EXPECTED_FAILED_CHECKS = {
    "FastNNClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
    },
    "FastNNRegressor": {
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
    },
}


class _FastNNBase(BaseEstimator):
    """What the classifier and the regressor share: the network, its training, threads, pickling."""

    _output_activation = None       # "softmax" or "linear"

    # ------------------------------------------------------------ parameters

    def _check_params(self, incremental):
        """Validate the hyper-parameters (at fit time, as scikit-learn does); return the layer sizes."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be a sequence of positive integers, "
                             f"got {self.hidden_layer_sizes!r}") from None
        if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes!r}")
        for name in ("batch_size", "epochs", "n_iter_no_change"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 <= fraction < 1.0:
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {fraction!r}")
        if self.early_stopping not in (True, False):
            raise ValueError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        if self.early_stopping and fraction == 0 and not incremental:
            raise ValueError("early_stopping=True watches the loss on held-out data: "
                             "set validation_fraction in (0, 1), e.g. 0.1")
        if self.dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        self._threads()                 # raises on a bad n_threads or FASTNN_NUM_THREADS
        return [int(h) for h in sizes]

    @property
    def _np_dtype(self):
        return np.dtype(self.dtype).type

    def _seed(self):
        """An int seed from random_state (None stays None): the same int → the same fit."""
        rs = self.random_state
        if rs is None:
            return None
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    # ------------------------------------------------------------ BLAS threads

    def _threads(self):
        """The BLAS thread limit: n_threads, else $FASTNN_NUM_THREADS, else None (no limit)."""
        n, source = self.n_threads, "n_threads"
        if n is None:
            text = os.environ.get(THREADS_ENV, "").strip()
            if not text:
                return None
            source = f"the environment variable {THREADS_ENV}"
            try:
                n = int(text)
            except ValueError:
                raise ValueError(f"{source} must be a positive integer, got {text!r}") from None
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{source} must be a positive integer or None, got {n!r}")
        return int(n)

    def _thread_limit(self):
        n = self._threads()
        return contextlib.nullcontext() if n is None else blas_threads(n)

    # ------------------------------------------------------------ the network

    def _new_model(self, sizes, n_features, n_outputs, seed):
        """A compiled Sequential: Dense(h, activation) per hidden layer, then the output layer."""
        model = Sequential(name=type(self).__name__, dtype=self.dtype, seed=seed)
        n_in = n_features
        for i, units in enumerate(sizes):
            model.add(Dense(units, activation=self.activation, input_shape=(n_in,), name=f"hidden_{i + 1}"))
            n_in = units
        model.add(Dense(n_outputs, activation=self._output_activation, input_shape=(n_in,), name="output"))
        optimizer = SGD(learning_rate=self.learning_rate, momentum=self.momentum, decay=self.decay,
                        nesterov=bool(self.nesterov))
        model.compile(loss=self._loss_object(), optimizer=optimizer, metrics=list(self._metrics))
        model.build(n_features, seed=seed)
        return model

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """fit (a new network, `epochs` epochs) or partial_fit (one epoch on the current network)."""
        sizes = self._check_params(incremental)
        first = not (incremental and hasattr(self, "model_"))
        X, y = self._validate_xy(X, y, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if np.any(sample_weight < 0):
                raise ValueError("sample_weight must be >= 0")
            if not np.any(sample_weight > 0):
                raise ValueError("sample weights must contain at least one non-zero weight")
        targets = self._encode_targets(y, first, incremental, classes)
        seed = self._seed()
        if first:
            self._partial_calls = 0
        with self._thread_limit():
            if first:
                self._before_new_model(targets, incremental)
                self.model_ = self._new_model(sizes, X.shape[1], self._n_outputs(targets), seed)
                self.loss_curve_, self.n_iter_ = [], 0
                self.validation_loss_curve_ = None
            finite = _LastFiniteEpoch()
            callbacks, validation_data = [finite], None
            if incremental:
                epochs = 1
                # each call shuffles differently, yet a given sequence of calls is reproducible
                shuffle_seed = None if seed is None else int(
                    np.random.SeedSequence([seed, self._partial_calls]).generate_state(1)[0])
                self._partial_calls += 1
            else:
                epochs, shuffle_seed = self.epochs, seed
                if self.validation_fraction > 0:
                    X, targets, sample_weight, validation_data = self._hold_out(X, targets, sample_weight, seed)
                if self.early_stopping:
                    callbacks.append(EarlyStopping(monitor="val_loss", patience=self.n_iter_no_change,
                                                   restore_best_weights=True))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                history = self.model_.fit(
                    X, self._network_targets(targets), batch_size=self.batch_size, epochs=epochs,
                    validation_data=validation_data, shuffle=True, class_weight=self._class_weight_ids(incremental),
                    sample_weight=sample_weight, verbose=self.verbose, callbacks=callbacks, seed=shuffle_seed)
        diverged = None
        for w in caught:
            if issubclass(w.category, RuntimeWarning) and "the loss is" in str(w.message):
                diverged = str(w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if diverged is not None:
            self._keep_last_finite(finite, diverged, X)
        self.loss_curve_.extend(history.history["loss"])
        self.n_iter_ += len(history.epoch)
        if "val_loss" in history.history:
            self.validation_loss_curve_ = list(history.history["val_loss"])
        return self

    def _keep_last_finite(self, finite, diverged, X):
        """After a fit whose loss overflowed: the weights at the end of the last epoch whose loss was
        finite (or, if those predict a non-finite value on X, the weights from before this fit call)
        replace the diverged ones, and a RuntimeWarning says which were kept and what to change."""
        kept = f"the weights after epoch {finite.epoch} (loss {finite.loss:.6g}), the last epoch whose loss was finite,"
        self.model_.set_weights(finite.weights)
        if finite.epoch == 0 or not self._predicts_finite(X):
            self.model_.set_weights(finite.initial)
            kept = "the weights from before this fit call"
        warnings.warn(f"training diverged ({diverged}); {kept} are kept. Scale the inputs and the targets "
                      f"(e.g. StandardScaler, or TransformedTargetRegressor for the targets) or lower "
                      f"learning_rate (now {self.learning_rate})", RuntimeWarning, stacklevel=3)

    def _predicts_finite(self, X):
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(self.model_.predict(np.ascontiguousarray(X, dtype=self._np_dtype)))))

    def _hold_out(self, X, targets, sample_weight, seed):
        """Split off validation_fraction of the samples (stratified for a classifier when possible)."""
        n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no training or no "
                             f"validation samples out of {X.shape[0]}")
        arrays = [X, targets] + ([sample_weight] if sample_weight is not None else [])
        try:
            parts = train_test_split(*arrays, test_size=n_val, random_state=seed, stratify=self._stratify(targets))
        except ValueError:              # a class too small to stratify: split at random
            parts = train_test_split(*arrays, test_size=n_val, random_state=seed)
        X_train, X_val, t_train, t_val = parts[:4]
        w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        validation = (X_val, self._network_targets(t_val)) + ((w_val,) if w_val is not None else ())
        return X_train, t_train, w_train, validation

    def _predict_network(self, X):
        """ŷ = f(X), the network's outputs (n_samples, n_outputs), as float64."""
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, reset=False, dtype=self._np_dtype, order="C")
        with self._thread_limit():
            return self.model_.predict(X).astype(np.float64)

    def _validate_x_kwargs(self):
        return {"dtype": self._np_dtype, "order": "C"}

    # hooks of the subclasses
    def _validate_xy(self, X, y, reset):
        raise NotImplementedError

    def _encode_targets(self, y, first, incremental, classes):
        return y

    def _before_new_model(self, targets, incremental):
        pass

    def _n_outputs(self, targets):
        raise NotImplementedError

    def _network_targets(self, targets):
        return targets

    def _class_weight_ids(self, incremental):
        return None

    def _stratify(self, targets):
        return None

    # ------------------------------------------------------------ pickling

    def __getstate__(self):
        # The fitted network travels as plain data (configs, weights, optimizer state), not as a
        # pickled Sequential: its training buffers stay behind and Sequential needs no pickle support.
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state["model_"] = _model_state(model)
        return state

    def __setstate__(self, state):
        state = dict(state)
        model = state.pop("model_", None)
        super().__setstate__(state)
        if model is not None:
            self.model_ = _model_from_state(model)

    # ------------------------------------------------------------ tags

    def __sklearn_tags__(self):         # scikit-learn >= 1.6
        return super().__sklearn_tags__()

    def _more_tags(self):               # scikit-learn < 1.6, where the check had another name
        return {"_xfail_checks": {**EXPECTED_FAILED_CHECKS[type(self).__name__],
                                  "check_sample_weights_invariance": _SAMPLE_WEIGHT_REASON}}


class _LastFiniteEpoch(Callback):
    """Copies of the weights before training and at the end of the last epoch whose loss and
    weights were finite (an epoch's end, once per epoch: no per-step hook)."""

    def on_train_begin(self, logs=None):
        self.initial = self.weights = self.model.get_weights()
        self.epoch, self.loss = 0, float("nan")

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and np.isfinite(loss):
            weights = self.model.get_weights()
            if all(np.all(np.isfinite(w)) for w in weights):      # (an update can overflow too)
                self.weights, self.epoch, self.loss = weights, epoch + 1, float(loss)


def _model_state(model):
    """A Sequential as plain data: JSON-like configs and NumPy arrays (what ``save`` writes)."""
    opt = model.optimizer
    return {
        "config": model.get_config(),
        "seed": model.seed,
        "loss": model.loss.get_config(),
        "metrics": [_metrics.serialize(m) for m in model.metrics],
        "optimizer": opt.get_config(),
        "iterations": int(opt.iterations),
        "weights": model.get_weights(),
        "velocities": None if opt.velocities is None else [v.copy() for v in opt.velocities],
        "metadata": dict(model.metadata),
    }


def _model_from_state(state):
    """The Sequential of ``_model_state``: same layers, weights, loss and optimizer state."""
    config = state["config"]
    model = Sequential(name=config["name"], dtype=config["dtype"], backend=config["backend"], seed=state["seed"])
    for layer_config in config["layers"]:
        model.add(_layers.from_config(layer_config))
    model.build(config["input_dim"])
    model.set_weights(state["weights"])
    optimizer = _optimizers.from_config(state["optimizer"])
    model.compile(_losses.from_config(state["loss"]), optimizer, state["metrics"])
    optimizer.iterations = state["iterations"]
    if state["velocities"] is not None:
        optimizer.velocities = [np.ascontiguousarray(v, dtype=model.dtype) for v in state["velocities"]]
    model.metadata = dict(state["metadata"])
    return model


class FastNNClassifier(ClassifierMixin, _FastNNBase):
    """A fully connected network with a softmax output, trained by mini-batch SGD.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default (64,)
        Units of each hidden layer; ``()`` gives softmax (multinomial logistic) regression.
    activation : str, default "relu"
        Activation of the hidden layers: relu, tanh, sigmoid, hard_sigmoid, linear.
    loss : "categorical_crossentropy" (default) or "categorical_focal_crossentropy"
        E = −log ŷ_c, or the focal loss E = −α_c (1 − ŷ_c)^γ log ŷ_c.
    focal_gamma : float ≥ 0, default 2.0
        γ of the focal loss.
    focal_alpha : None, float, sequence, dict or "balanced", default None
        α_c of the focal loss: None is 1; a float is the same for every class; a sequence
        has one value per class in the order of ``classes_``; a dict maps class labels to
        α (others 1); "balanced" is α_c = n / (k·n_c).
    class_weight : None, dict or "balanced", default None
        Weights each sample's loss by its class: a dict maps class labels to weights
        (others 1), "balanced" is n / (k·n_c) on the training data.
    learning_rate : float, default 0.01
        γ, the SGD step size.
    momentum : float in [0, 1], default 0.9
        μ: v ← μ·v − γ_t·∂L/∂θ, θ ← θ + v.
    nesterov : bool, default False
    decay : float ≥ 0, default 0.0
        Time-based decay: the rate of step t is γ / (1 + decay·t).
    batch_size : int, default 100
    epochs : int, default 10
        Passes over the training data in ``fit`` (``partial_fit`` makes one).
    validation_fraction : float in [0, 1), default 0.0
        Hold out this fraction of the training data (stratified, shuffled with
        random_state) and record its loss per epoch in ``validation_loss_curve_``.
    early_stopping : bool, default False
        Stop when the validation loss has not improved for ``n_iter_no_change``
        epochs and keep the weights of the best epoch (needs validation_fraction > 0).
    n_iter_no_change : int, default 10
        The patience of early stopping, in epochs.
    random_state : None, int or numpy RandomState, default None
        An int makes ``fit`` reproducible: it seeds the initial weights, the shuffling
        and the validation split.
    verbose : 0 or 1, default 0
        1 prints Keras' progress line per epoch.
    dtype : "float32" (default) or "float64"
        The floating type of the network's weights and computations.
    n_threads : int or None, default None
        Limit the BLAS threads while fitting and predicting; None reads the environment
        variable FASTNN_NUM_THREADS and, if it is unset, leaves BLAS as it is.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; output unit i stands for ``classes_[i]``.
    model_ : fastnn.Sequential
        The trained network (``model_.summary()``, ``model_.layers``, ``model_.get_weights()``).
    loss_curve_ : list of float
        The training loss of each epoch (``partial_fit`` appends one value per call).
    validation_loss_curve_ : list of float or None
        The validation loss of each epoch of the last ``fit``, when validation_fraction > 0.
    n_iter_ : int
        Epochs run so far.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has column names
    """

    _output_activation = "softmax"
    _metrics = ("accuracy",)

    def __init__(self, hidden_layer_sizes=(64,), activation="relu", loss="categorical_crossentropy",
                 focal_gamma=2.0, focal_alpha=None, class_weight=None, learning_rate=0.01, momentum=0.9,
                 nesterov=False, decay=0.0, batch_size=100, epochs=10, validation_fraction=0.0,
                 early_stopping=False, n_iter_no_change=10, random_state=None, verbose=0, dtype="float32",
                 n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.focal_alpha = focal_alpha
        self.class_weight = class_weight
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.decay = decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.n_threads = n_threads

    def fit(self, X, y, sample_weight=None):
        """Train a new network for ``epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type (at least two classes).
        sample_weight : array-like of shape (n_samples,), optional
            Multiplies each sample's loss (together with class_weight).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD on (X, y), keeping the weights and the optimizer state (t, v).

        ``classes`` (all labels that will ever occur) is required on the first call,
        as for scikit-learn's MLPClassifier. Early stopping and the validation split
        are not used.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """ŷ, the softmax outputs: probability of each class, shape (n_samples, n_classes).

        The rows are the network's outputs renormalised in float64 so that they sum to 1
        to double precision.
        """
        proba = self._predict_network(X)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_log_proba(self, X):
        """log ŷ, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class of the largest output, ``classes_[argmax_k ŷ_k]``, shape (n_samples,)."""
        outputs = self._predict_network(X)
        return self.classes_[np.argmax(outputs, axis=1)]

    # ------------------------------------------------------------ hooks

    def _validate_xy(self, X, y, reset):
        X, y = _validate_data(self, X, y, reset=reset, **self._validate_x_kwargs())
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y, first, incremental, classes):
        """Labels → class ids 0..k−1 (indices into classes_)."""
        if first:
            if incremental:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit "
                                     "(all the labels that will occur, e.g. classes=np.unique(y_all))")
                labels = np.unique(np.asarray(classes))
            else:
                labels = np.unique(y)
            if labels.shape[0] < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; "
                                 f"y has only one class: {labels.tolist()}")
            self.classes_ = labels
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={list(np.unique(classes))} differs from the classes of the first call "
                             f"to partial_fit, {self.classes_.tolist()}")
        ids = np.searchsorted(self.classes_, y)
        unknown = (ids >= self.classes_.shape[0]) | (self.classes_[np.minimum(ids, len(self.classes_) - 1)] != y)
        if np.any(unknown):
            raise ValueError(f"y holds labels that are not in classes_ {self.classes_.tolist()}: "
                             f"{np.unique(y[unknown]).tolist()}")
        return ids.astype(np.intp)

    def _n_outputs(self, targets):
        return self.classes_.shape[0]

    def _is_focal(self):
        if self.loss == "categorical_crossentropy":
            return False
        if self.loss == "categorical_focal_crossentropy":
            return True
        raise ValueError(f"loss must be 'categorical_crossentropy' or 'categorical_focal_crossentropy', "
                         f"got {self.loss!r}")

    def _before_new_model(self, ids, incremental):
        """Resolve focal_alpha into one α per output unit (needs the classes and the class counts)."""
        self._focal_alpha = None
        if not self._is_focal():
            return
        k, alpha = self.classes_.shape[0], self.focal_alpha
        if alpha is None or isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
            self._focal_alpha = None if alpha is None else float(alpha)
        elif isinstance(alpha, str):
            if alpha != "balanced":
                raise ValueError(f"focal_alpha must be None, a number, a sequence, a dict or 'balanced', "
                                 f"got {alpha!r}")
            if incremental:
                raise ValueError("focal_alpha='balanced' needs the class counts of all the data, which "
                                 "partial_fit does not see: compute them once, e.g. with "
                                 "fastnn.utils.compute_class_weight('balanced', classes=classes, y=y_all), "
                                 "and pass them as a sequence")
            self._focal_alpha = compute_class_weight("balanced", classes=np.arange(k), y=ids).tolist()
        elif isinstance(alpha, dict):
            self._focal_alpha = self._per_class(alpha, "focal_alpha").tolist()
        else:
            values = np.asarray(alpha, dtype=np.float64)
            if values.shape != (k,):
                raise ValueError(f"focal_alpha has {values.size} values but there are {k} classes "
                                 f"{self.classes_.tolist()}: give one α per class, in that order")
            self._focal_alpha = values.tolist()

    def _loss_object(self):
        if self._is_focal():
            return CategoricalFocalCrossentropy(gamma=self.focal_gamma, alpha=self._focal_alpha)
        return "sparse_categorical_crossentropy"      # the same E = −log ŷ_c, on class ids

    def _network_targets(self, ids):
        if self._is_focal():                          # the focal loss takes one-hot rows
            return to_categorical(ids, self.classes_.shape[0], dtype=self.dtype)
        return ids

    def _per_class(self, mapping, name):
        """A dict {class label: value} as one value per class (1 for the others)."""
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        values = np.ones(len(index))
        for label, value in mapping.items():
            key = label.item() if isinstance(label, np.generic) else label
            if key not in index:
                raise ValueError(f"{name} has the label {label!r}, which is not among the classes "
                                 f"{self.classes_.tolist()}")
            values[index[key]] = float(value)
        return values

    def _class_weight_ids(self, incremental):
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, dict):
            return dict(enumerate(self._per_class(cw, "class_weight").tolist()))
        if isinstance(cw, str) and cw == "balanced":
            if incremental:
                raise ValueError("class_weight='balanced' needs the class counts of all the data, which "
                                 "partial_fit does not see: compute them once, e.g. with "
                                 "fastnn.utils.compute_class_weight('balanced', classes=classes, y=y_all), "
                                 "and pass them as a dict")
            return "balanced"
        raise ValueError(f"class_weight must be None, a dict {{label: weight}} or 'balanced', got {cw!r}")

    def _stratify(self, ids):
        return ids


class FastNNRegressor(RegressorMixin, _FastNNBase):
    """A fully connected network with a linear output and the mean squared error, trained by SGD.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default (64,)
        Units of each hidden layer; ``()`` gives linear regression.
    activation : str, default "relu"
        Activation of the hidden layers: relu, tanh, sigmoid, hard_sigmoid, linear.
    learning_rate, momentum, nesterov, decay, batch_size, epochs, validation_fraction,
    early_stopping, n_iter_no_change, random_state, verbose, dtype, n_threads
        As for :class:`FastNNClassifier`.

    The targets are used as given: scale them (e.g. ``TransformedTargetRegressor`` with a
    ``StandardScaler``) when they are far from unit size, as SGD with a fixed step
    needs for any network.

    Attributes
    ----------
    model_ : fastnn.Sequential
    loss_curve_ : list of float
        The training loss (mean squared error) of each epoch.
    validation_loss_curve_ : list of float or None
    n_iter_ : int
    n_outputs_ : int
        Number of targets (output units).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has column names
    """

    _output_activation = "linear"
    _metrics = ()

    def __init__(self, hidden_layer_sizes=(64,), activation="relu", learning_rate=0.01, momentum=0.9,
                 nesterov=False, decay=0.0, batch_size=100, epochs=10, validation_fraction=0.0,
                 early_stopping=False, n_iter_no_change=10, random_state=None, verbose=0, dtype="float32",
                 n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.decay = decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.n_threads = n_threads

    def fit(self, X, y, sample_weight=None):
        """Train a new network for ``epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of SGD on (X, y), keeping the weights and the optimizer state (t, v)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """ŷ = f(X): shape (n_samples,) for one target, (n_samples, n_outputs) for several."""
        y = self._predict_network(X)
        return y.ravel() if y.shape[1] == 1 else y

    # ------------------------------------------------------------ hooks

    def _validate_xy(self, X, y, reset):
        X, y = _validate_data(self, X, y, reset=reset, multi_output=True, y_numeric=True,
                              **self._validate_x_kwargs())
        y = np.asarray(y, dtype=np.float64)
        return X, (y[:, None] if y.ndim == 1 else y)

    def _encode_targets(self, y, first, incremental, classes):
        if first:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} targets but the network was trained on {self.n_outputs_}")
        return y

    def _n_outputs(self, y):
        return y.shape[1]

    def _loss_object(self):
        return "mean_squared_error"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):               # scikit-learn < 1.6
        return {**super()._more_tags(), "multioutput": True}


def __getattr__(name):
    """MLPClassifier and MLPRegressor: scikit-learn's, trained by fastnn's compiled loop (drop-ins,
    in fastnn._sklearn_mlp), imported when first asked for: they subclass scikit-learn's own
    estimators and need scikit-learn >= 1.7, which FastNNClassifier and FastNNRegressor do not."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from fastnn import _sklearn_mlp
        return getattr(_sklearn_mlp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
