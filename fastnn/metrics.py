"""Metrics of a classifier or a regressor, counted over a whole epoch (Keras 3's metrics).

A metric is counts, added up batch after batch, and a formula applied to the counts at
the end: never an average of per-batch values. For the confusion metrics the counts are
those of the outcomes, per threshold t (the truth y cast to bool, the prediction ŷ = [p > t]):

* true positives  TP = Σ [ŷ ∧ y]        false positives FP = Σ [ŷ ∧ ¬y]
* false negatives FN = Σ [¬ŷ ∧ y]       true negatives  TN = Σ [¬ŷ ∧ ¬y]

and from them

* Precision: TP / (TP + FP); Recall: TP / (TP + FN)
* F1Score: 2·P·R / (P + R) per class, or averaged ("micro", "macro", "weighted")
* AUC: the area under the ROC curve (recall against FP / (FP + TN)) or the
  precision-recall curve, a Riemann sum over 200 thresholds
* TopKCategoricalAccuracy: the share of rows whose true class is among the k largest p
* MeanAbsoluteError: Σ abs(y − p) / n; RootMeanSquaredError: √(Σ(y − p)² / n) (n entries)

Give them to ``compile(metrics=[...])`` by name (``"precision"``, ``"recall"``, ``"auc"``,
``"f1_score"``, ``"top_k_categorical_accuracy"``, ``"mae"``, ...) or as objects
(``fastnn.metrics.Precision(class_id=3)``). ``fit`` counts them inside its compiled loop, on
each batch's predictions before that batch's update (as the accuracy), into the same
counters that ``update_state`` fills here in NumPy: a metric object can also be used on its
own, as Keras':

>>> m = Precision()
>>> m.update_state([0, 1, 1, 1], [1.0, 1.0, 0.0, 1.0])
>>> float(m.result())
0.6666666666666666

The counts are plain integers (every sample counts once: ``sample_weight`` and
``class_weight`` weight the loss, not the metrics).
"""
import re

import numpy as np

from fastnn.backend import numpy_backend as _reference

EPSILON = 1e-7           # Keras' backend.epsilon(): the ends of AUC's thresholds, F1's guard
NEG_INF = -1e10          # Keras' threshold of Precision/Recall with top_k: every kept entry counts

_STATE_KEYS = ("pos", "neg", "tp", "fp", "fn", "counts", "sums")     # the counters' arrays of counts
CLASSIFICATION_LOSSES = ("softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
                         "binary_cross_entropy")


def _snake(name):
    """Keras' to_snake_case: "TopKCategoricalAccuracy" -> "top_k_categorical_accuracy", "AUC" -> "auc"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _divide_no_nan(a, b):
    """a / b, 0 where b is 0 (Keras' ops.divide_no_nan)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _int_arg(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _as_inputs(y_true, y_pred):
    """(P, labels, Y) for the counters: P (n, k) float32 or float64; the truth as class ids
    labels (n,) when y_pred has several columns and y_true one, else as rows Y like P."""
    P = np.asarray(y_pred)
    if not np.issubdtype(P.dtype, np.number) or np.issubdtype(P.dtype, np.complexfloating):
        raise TypeError(f"y_pred must hold real numbers, got dtype {P.dtype}")
    P = np.ascontiguousarray(P, dtype=np.float64 if P.dtype == np.float64 else np.float32)
    if P.ndim == 1:
        P = P[:, None]
    if P.ndim != 2:
        raise ValueError(f"y_pred must be (n_samples,) or (n_samples, n_outputs), got shape {P.shape}")
    y = np.asarray(y_true)
    if y.dtype == bool:
        y = y.astype(np.int8)
    if not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"y_true must hold numbers, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1 and P.shape[1] > 1:
        y = y[:, 0]
    if y.ndim == 1 and P.shape[1] > 1:
        if y.shape[0] != P.shape[0] or np.any(y != np.round(y)) or (y.size and (y.min() < 0 or y.max() >= P.shape[1])):
            raise ValueError(f"y_true of shape {y.shape} must be class ids in [0, {P.shape[1]}) for y_pred of "
                             f"shape {P.shape} (or rows of the same shape as y_pred)")
        return P, np.ascontiguousarray(y, dtype=np.intp), None
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != P.shape:
        raise ValueError(f"y_true has shape {np.shape(y_true)} but y_pred has shape {np.shape(y_pred)}")
    return P, None, np.ascontiguousarray(y, dtype=P.dtype)


class Metric:
    """Base class: counters filled batch after batch, and ``result()`` from them.

    ``update_state(y_true, y_pred)`` adds a batch's counts (y_pred: (n, k) or (n,); y_true:
    rows of the same shape, or class ids (n,) for several columns); ``result()`` is the
    metric of everything counted since ``reset_state()``. ``get_config()`` and
    ``from_config`` give the settings (Keras' names).
    """

    _direction = "up"          # maximised by "auto" callbacks (EarlyStopping, ModelCheckpoint)
    needs_classes = False      # True: only with a classification loss

    def __init__(self, name=None, dtype=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype
        self._n_outputs = None

    # -- state

    def _build(self, n_outputs):
        """Make the counters for predictions with n_outputs columns (once: a metric counts one shape)."""
        if self._n_outputs is not None:
            if n_outputs != self._n_outputs:
                raise ValueError(f"metric {self.name!r} counts predictions with {self._n_outputs} columns, "
                                 f"got {n_outputs}: use a new metric object for other predictions")
            return
        self._check_outputs(n_outputs)
        self._n_outputs = n_outputs
        self._make_state(n_outputs)

    def _check_outputs(self, n_outputs):
        """Raise ValueError when predictions with n_outputs columns do not fit the metric's settings."""

    def _make_state(self, n_outputs):
        raise NotImplementedError

    def _counters(self):
        """The counters the compiled loop (or count_metrics) adds to: dicts sharing this metric's arrays."""
        raise NotImplementedError

    def _state_arrays(self):
        return [a for counter in self._counters() for key, a in counter.items() if key in _STATE_KEYS]

    def reset_state(self):
        """Set every count back to zero."""
        if self._n_outputs is not None:
            for a in self._state_arrays():
                a[...] = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add the counts of a batch (NumPy: the reference for the compiled loop's counts)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported: fastnn's metrics count every sample once "
                             "(as its training loop does)")
        P, labels, Y = _as_inputs(y_true, y_pred)
        self._build(P.shape[1])
        _reference.count_metrics(P, labels, Y, self._counters())

    def result(self):
        raise NotImplementedError

    def _check_loss(self, loss_kind, loss_name, n_outputs):
        """Raise ValueError at compile time when the metric does not fit the loss or the outputs."""
        if self.needs_classes and loss_kind not in CLASSIFICATION_LOSSES:
            raise ValueError(f"metric {self.name!r} ({type(self).__name__}) needs a classification loss "
                             f"(a cross-entropy), but the loss is {loss_name!r}")
        self._check_outputs(n_outputs)

    # -- configuration

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "dtype")
        return f"{type(self).__name__}({settings})"


class _ThresholdMetric(Metric):
    """Precision and Recall: TP, FP, FN per threshold, from one histogram of the entries by the
    number of thresholds they exceed (see numpy_backend.count_metrics, "above_thresholds")."""

    needs_classes = True

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None:
            top_k = _int_arg("top_k", top_k, 1)
        if class_id is not None:
            class_id = _int_arg("class_id", class_id, 0)
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        if thresholds is None:
            values = [0.5 if top_k is None else NEG_INF]
        else:
            values = list(np.atleast_1d(np.asarray(thresholds, dtype=np.float64)).ravel()) \
                if not isinstance(thresholds, (int, float)) else [float(thresholds)]
            bad = [t for t in values if not np.isfinite(t) or not 0.0 <= t <= 1.0]
            if bad or not values:
                raise ValueError(f"thresholds must be values in [0, 1], got {thresholds!r}")
        self.thresholds = [float(t) for t in values]
        n = len(self.thresholds)
        even = n >= 3 and np.allclose(self.thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON)
        # Keras counts evenly spaced thresholds by buckets (see count_metrics): the same here
        self._even = bool(even)
        self._with_eps = bool(even and (self.thresholds[0] < 0.0 or self.thresholds[-1] > 1.0))
        self._order = np.argsort(self.thresholds, kind="stable")        # the counters' thresholds, sorted
        self._sorted = np.ascontiguousarray(np.asarray(self.thresholds)[self._order], dtype=np.float64)

    def _check_outputs(self, n_outputs):
        if self.class_id is not None and self.class_id >= n_outputs:
            raise ValueError(f"class_id={self.class_id} but the predictions have {n_outputs} column(s) "
                             f"(class ids 0..{n_outputs - 1})")

    def _make_state(self, n_outputs):
        n = len(self.thresholds)
        self._pos = np.zeros(n + 1, dtype=np.int64)
        self._neg = np.zeros(n + 1, dtype=np.int64)

    def _counters(self):
        return [{"kind": "above_thresholds", "thresholds": self._sorted, "class_id": self.class_id,
                 "top_k": self.top_k, "even": self._even, "with_eps": self._with_eps,
                 "pos": self._pos, "neg": self._neg}]

    def _outcomes(self):
        """(TP, FP, FN, TN) per threshold, in the order the thresholds were given."""
        n = len(self.thresholds)
        if self._n_outputs is None:
            zeros = np.zeros(n)
            return zeros, zeros, zeros, zeros
        # TP_i = Σ_{c > i} pos[c]: the reversed cumulative sum, shifted by one
        above_pos = np.cumsum(self._pos[::-1])[::-1][1:]
        above_neg = np.cumsum(self._neg[::-1])[::-1][1:]
        tp, fp = np.empty(n), np.empty(n)
        tp[self._order], fp[self._order] = above_pos, above_neg
        return tp, fp, self._pos.sum() - tp, self._neg.sum() - fp

    @property
    def true_positives(self):
        return self._outcomes()[0]

    @property
    def false_positives(self):
        return self._outcomes()[1]

    @property
    def false_negatives(self):
        return self._outcomes()[2]

    def _one_or_all(self, values):
        return float(values[0]) if len(self.thresholds) == 1 else values

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ThresholdMetric):
    """Precision TP / (TP + FP) (0 when nothing is predicted positive), Keras 3's.

    Parameters
    ----------
    thresholds : float or list of floats in [0, 1], optional
        ŷ = [p > t]; default 0.5 (without top_k). A list gives one precision per threshold.
    top_k : int >= 1, optional
        Only the k largest predictions of each row count (as positive when above the
        threshold; with no thresholds given, every one of them).
    class_id : int, optional
        Only that column counts. Without class_id nor top_k every entry of the predictions
        counts as one binary prediction (a one-hot row: one true, k − 1 false entries).
    name : str, default "precision"
    """

    def result(self):
        tp, fp, _, _ = self._outcomes()
        return self._one_or_all(_divide_no_nan(tp, tp + fp))


class Recall(_ThresholdMetric):
    """Recall TP / (TP + FN) (0 when there are no positives), Keras 3's; the parameters
    are Precision's. Default name "recall"."""

    def result(self):
        tp, _, fn, _ = self._outcomes()
        return self._one_or_all(_divide_no_nan(tp, tp + fn))


class AUC(Metric):
    """Area under the ROC or the precision-recall curve, a Riemann sum over thresholds (Keras 3's).

    Every entry of the predictions counts as one binary prediction (``multi_label=False``).
    TP, FP, TN, FN are counted at each threshold t_i (ŷ = [p > t_i]); with the default,
    200 thresholds: −ε, 1/199, 2/199, ..., 198/199, 1 + ε (ε = 1e−7). Then

    * ROC, "interpolation": Σ_i (FPR_i − FPR_{i+1})·(R_i + R_{i+1})/2, FPR = FP/(FP + TN)
    * PR, "interpolation": Davis & Goadrich's interpolation of TP and TP + FP between
      thresholds (precision is not interpolated linearly)
    * "minoring" / "majoring": the lower / higher of the two heights of each interval

    Parameters
    ----------
    num_thresholds : int > 1, default 200
    curve : "ROC" (default) or "PR"
    summation_method : "interpolation" (default), "minoring" or "majoring"
    name : str, default "auc"
    thresholds : list of floats in [0, 1], optional
        Instead of num_thresholds evenly spaced ones (−ε and 1 + ε are added).
    multi_label, num_labels, label_weights, from_logits : Keras' arguments; fastnn computes
        the flattened AUC of probabilities only (False, None, None, False).
    """

    needs_classes = True

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if curve not in ("ROC", "roc", "PR", "pr"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]')
        if summation_method not in ("interpolation", "Interpolation", "majoring", "Majoring", "minoring", "Minoring"):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        for arg, value, unsupported in (("multi_label", multi_label, bool(multi_label)),
                                        ("num_labels", num_labels, num_labels is not None),
                                        ("label_weights", label_weights, label_weights is not None),
                                        ("from_logits", from_logits, bool(from_logits))):
            if unsupported:
                raise ValueError(f"AUC({arg}={value!r}) is not supported: fastnn's AUC flattens the "
                                 f"predictions (multi_label=False) and takes probabilities")
        self.curve = curve.upper()
        self.summation_method = summation_method.lower()
        self.multi_label, self.num_labels, self.label_weights = False, None, None
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64)))
            if any(not np.isfinite(t) or not 0.0 <= t <= 1.0 for t in inner):
                raise ValueError(f"thresholds must be values in [0, 1], got {thresholds!r}")
            self.num_thresholds = len(inner) + 2
            n = len(inner) + 2
            self._even = bool(n >= 3 and np.allclose([0.0] + inner + [1.0],
                                                       np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON))
        else:
            num_thresholds = _int_arg("num_thresholds", num_thresholds, 2)
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._even = True
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON], dtype=np.float64)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _make_state(self, n_outputs):
        self._pos = np.zeros(self.num_thresholds + 1, dtype=np.int64)
        self._neg = np.zeros(self.num_thresholds + 1, dtype=np.int64)

    def _counters(self):
        return [{"kind": "above_thresholds", "thresholds": self._thresholds, "class_id": None, "top_k": None,
                 "even": self._even, "with_eps": True, "pos": self._pos, "neg": self._neg}]

    def _outcomes(self):
        """(TP, FP, FN, TN) at each threshold."""
        if self._n_outputs is None:
            zeros = np.zeros(self.num_thresholds)
            return zeros, zeros, zeros, zeros
        tp = np.cumsum(self._pos[::-1])[::-1][1:].astype(np.float64)
        fp = np.cumsum(self._neg[::-1])[::-1][1:].astype(np.float64)
        return tp, fp, self._pos.sum() - tp, self._neg.sum() - fp

    @property
    def true_positives(self):
        return self._outcomes()[0]

    @property
    def false_positives(self):
        return self._outcomes()[1]

    @property
    def false_negatives(self):
        return self._outcomes()[2]

    @property
    def true_negatives(self):
        return self._outcomes()[3]

    def _interpolate_pr_auc(self, tp, fp, fn):
        """Davis & Goadrich: between thresholds A and B, TP and P = TP + FP vary linearly, so
        precision = (TP_A + s·(P − P_A)) / P with slope s = ΔTP/ΔP, whose integral over the
        interval is s·(ΔTP + intercept·log(P_A / P_B)), divided by the positives TP_B + FN_B."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(increments))

    def result(self):
        tp, fp, fn, tn = self._outcomes()
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": False, "num_labels": None,
                  "label_weights": None, "from_logits": False}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class FBetaScore(Metric):
    """F-beta score per class or averaged, Keras 3's: with P = TP/(TP + FP + ε) and
    R = TP/(TP + FN + ε) per class, F = (1 + β²)·P·R / (β²·P + R + ε), ε = 1e−7.

    Parameters
    ----------
    average : None (one score per class), "micro" (from the counts summed over the classes),
        "macro" (the mean of the classes' scores) or "weighted" (weighted by each class's
        number of true entries)
    beta : float > 0, default 1
    threshold : float in (0, 1], optional
        ŷ = [p > threshold]; None: each row's largest p is the prediction (ŷ = [p ≥ max]).
    name : str, default "fbeta_score"
    """

    needs_classes = True

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"Invalid `average` argument value. Expected one of: None, 'micro', 'macro', "
                             f"'weighted'. Received: average={average!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"beta must be a number > 0, got {beta!r}")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise ValueError(f"threshold must be a float in (0, 1] or None, got {threshold!r}")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold must be in (0, 1], got {threshold}")
            threshold = float(threshold)
        self.average, self.beta, self.threshold = average, float(beta), threshold

    def _make_state(self, n_outputs):
        self._tp, self._fp, self._fn = (np.zeros(n_outputs, dtype=np.int64) for _ in range(3))

    def _counters(self):
        return [{"kind": "class_outcomes", "threshold": self.threshold, "tp": self._tp, "fp": self._fp,
                 "fn": self._fn}]

    def result(self):
        if self._n_outputs is None:
            return 0.0 if self.average is not None else np.zeros(0)
        tp, fp, fn = (a.astype(np.float64) for a in (self._tp, self._fp, self._fn))
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            support = tp + fn                      # the true entries of each class
            return float(np.sum(score * support / (support.sum() + EPSILON)))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score, FBetaScore with β = 1: 2·P·R / (P + R) (Keras 3's). Parameters: average,
    threshold, name (default "f1_score")."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class TopKCategoricalAccuracy(Metric):
    """The share of rows whose true class c has rank 1 + #{j : p_j > p_c} ≤ k (ties count as
    hits), Keras 3's; the truth as one-hot rows (their argmax) or class ids.

    Parameters
    ----------
    k : int >= 1, default 5
    name : str, default "top_k_categorical_accuracy"
    """

    needs_classes = True

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.k = _int_arg("k", k, 1)

    def _check_outputs(self, n_outputs):
        if n_outputs < 2:
            raise ValueError(f"metric {self.name!r} needs several output columns (classes), got {n_outputs}")

    def _make_state(self, n_outputs):
        self._counts = np.zeros(2, dtype=np.int64)

    def _counters(self):
        return [{"kind": "top_k", "k": self.k, "counts": self._counts}]

    def result(self):
        if self._n_outputs is None:
            return 0.0
        return float(_divide_no_nan(self._counts[0], self._counts[1]))

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """TopKCategoricalAccuracy with the truth as class ids (Keras 3's name for it; fastnn
    counts both from either form). Default name "sparse_top_k_categorical_accuracy"."""


class _ErrorMetric(Metric):
    _direction = "down"

    def _make_state(self, n_outputs):
        self._sums = np.zeros(3, dtype=np.float64)

    def _counters(self):
        return [{"kind": "errors", "sums": self._sums}]


class MeanAbsoluteError(_ErrorMetric):
    """Σ abs(y − p) / n over every entry counted (Keras 3's; for class ids y is one-hot).
    Default name "mean_absolute_error"."""

    def result(self):
        return 0.0 if self._n_outputs is None else float(_divide_no_nan(self._sums[0], self._sums[2]))


class RootMeanSquaredError(_ErrorMetric):
    """√(Σ(y − p)² / n) over every entry counted (Keras 3's). Default name "root_mean_squared_error"."""

    def result(self):
        return 0.0 if self._n_outputs is None else float(np.sqrt(_divide_no_nan(self._sums[1], self._sums[2])))


ALL_METRICS = (Precision, Recall, AUC, F1Score, FBetaScore, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
               MeanAbsoluteError, RootMeanSquaredError)
# Keras 3's names: each class's name and its snake_case, and "mae"; "accuracy"/"acc" are the model's own
_BY_NAME = {**{cls.__name__: cls for cls in ALL_METRICS}, **{_snake(cls.__name__): cls for cls in ALL_METRICS},
            "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError}
ACCURACY_NAMES = ("accuracy", "acc")


def _share_histograms(metrics):
    """Let metrics that count the same histogram (Precision and Recall at the same thresholds,
    class_id and top_k; AUCs with the same thresholds) share its arrays, so that a training
    loop counts it once; returns the counters to count, each once."""
    first, counters, seen = {}, [], set()
    for m in metrics:
        counter = m._counters()
        for c in counter:
            if c["kind"] == "above_thresholds":
                key = (tuple(c["thresholds"]), c["class_id"], c["top_k"], c["even"], c["with_eps"])
                if key in first:
                    m._pos, m._neg = first[key]
                else:
                    first[key] = (m._pos, m._neg)
        for c in m._counters():
            arrays = tuple(id(c[key]) for key in _STATE_KEYS if key in c)
            if arrays not in seen:
                seen.add(arrays)
                counters.append(c)
    return counters


def names():
    """Every name ``get`` (and ``compile(metrics=[...])``) takes."""
    return list(ACCURACY_NAMES) + sorted(_BY_NAME)


def get(identifier):
    """A metric object from a name (Keras 3's: "precision", "Precision", "auc", "mae", ...; the
    metric is then named by that string, as Keras names it in the logs), a Metric object
    (itself), a Metric class, or a config dict {"class_name": ..., "config": {...}}."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric) and identifier in ALL_METRICS:
        return identifier()
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name"))
        if cls is None or not isinstance(identifier.get("config", {}), dict):
            raise ValueError(f"unknown metric config {identifier!r}; class_name must be one of "
                             f"{sorted(cls.__name__ for cls in ALL_METRICS)}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; expected one of {names()}")
        return cls(name=identifier)
    raise TypeError(f"a metric is a name, a fastnn.metrics.Metric or a config dict, got {type(identifier).__name__}")


def serialize(metric):
    """A JSON-able form of a compiled metric: a name as it is, an object as {"class_name", "config"}."""
    if isinstance(metric, str):
        return metric
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
