"""Losses of the course, by name or as objects.

Each loss of a batch is L = (1/n) Σ_b w_b E_b, the mean of the per-sample losses
E_b (w_b = 1, or the sample's class weight). The per-sample losses:

* mean squared error          E = mean_k (ŷ_k − y_k)²
* mean absolute error         E = mean_k abs(ŷ_k − y_k)
* Huber                       E = mean_k h(ŷ_k − y_k): h(r) = r²/2 for −δ ≤ r ≤ δ, δ·abs(r) − δ²/2 beyond
* binary cross-entropy        E = −mean_k [y_k log ŷ_k + (1 − y_k) log(1 − ŷ_k)]
* categorical cross-entropy   E = −Σ_k y_k log ŷ_k = −log ŷ_c for one-hot y
* focal cross-entropy         E = −α_c (1 − ŷ_c)^γ log ŷ_c

A softmax output with a cross-entropy (or focal) loss, and a sigmoid output with
binary cross-entropy, are computed together from the logits Z: stable for any
Z, and their gradient is simply ∂E/∂Z = ŷ − y (times the focal factor).

As in Keras 3, the cross-entropies take ``from_logits=True`` for a linear output
layer (the loss applies softmax or sigmoid itself, fused as above; the model then
predicts logits) and ``label_smoothing=ls``, which trains towards the targets
y·(1 − ls) + ls/k (k classes; k = 2 for binary cross-entropy).
"""
import numpy as np


def _label_smoothing(value):
    """label_smoothing as a float in [0, 1)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"label_smoothing must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value}")
    return value


def _from_logits(value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"from_logits must be True or False, got {value!r}")
    return bool(value)


class Loss:
    """Base class. ``kind_for(activation)`` names the backend kernel for an output activation."""

    name = None
    needs = "rows"          # what y must be: "rows" (n, units) or "class_ids" (n,)
    from_logits = False
    label_smoothing = 0.0

    def kind_for(self, activation, units):
        raise NotImplementedError

    def kernel_args(self, units):
        """The loss's parameters, as the Trainer's keyword arguments (gamma, alpha, label_smoothing,
        from_logits, huber_delta)."""
        return {}

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss of outputs ``y_pred`` (n_samples, units) against ``y_true``."""
        from fastnn.backend import get_backend
        y_pred = np.ascontiguousarray(np.atleast_2d(np.asarray(y_pred, dtype=np.float64)))
        w = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
        return self._from_outputs(get_backend("compiled"), y_pred, np.asarray(y_true), w)

    # the backend kernel of an element-wise loss computed on the outputs ŷ, and its parameters
    _output_kernel = "mean_squared_error"

    def _output_kwargs(self):
        return {}

    def _on_outputs(self, ops, A, y, w):
        """L of the outputs A against the target rows y (no gradient)."""
        return getattr(ops, self._output_kernel)(A, y, None, w, **self._output_kwargs())

    def _from_outputs(self, ops, y_pred, y_true, w):
        y = np.ascontiguousarray(y_true.reshape(y_pred.shape), dtype=np.float64)
        return self._on_outputs(ops, y_pred, y, w)


class MeanSquaredError(Loss):
    """E = mean_k (ŷ_k − y_k)²; any output activation."""

    name = "mean_squared_error"

    def kind_for(self, activation, units):
        return "mean_squared_error"


class MeanAbsoluteError(Loss):
    """E = mean_k abs(ŷ_k − y_k); any output activation ("mae" or "mean_absolute_error").

    Its gradient ∂E/∂ŷ_k = sign(ŷ_k − y_k)/k has the same size however far ŷ is from y
    (0 where ŷ_k = y_k exactly: sign(0) = 0, as TensorFlow and PyTorch take it).
    """

    name = "mean_absolute_error"
    _output_kernel = "mean_absolute_error"

    def kind_for(self, activation, units):
        return "mean_absolute_error"


class Huber(Loss):
    """Huber loss (Keras' ``Huber``, compile name "huber"): quadratic near y, linear far from it.

    E = mean_k h(ŷ_k − y_k),  h(r) = r²/2 where abs(r) ≤ δ, δ·abs(r) − δ²/2 beyond;
    ∂E/∂ŷ_k = clip(ŷ_k − y_k, −δ, δ)/k. Any output activation.

    Parameters
    ----------
    delta : float > 0, default 1.0
        δ, where the loss turns from quadratic to linear.
    """

    name = "huber"
    _output_kernel = "huber"

    def __init__(self, delta=1.0):
        try:
            delta = float(delta)
        except (TypeError, ValueError):
            raise TypeError(f"delta must be a number > 0, got {delta!r}") from None
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be a finite number > 0, got {delta}")
        self.delta = delta

    def kind_for(self, activation, units):
        return "huber"

    def kernel_args(self, units):
        return {"huber_delta": self.delta}

    def _output_kwargs(self):
        return {"delta": self.delta}

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class BinaryCrossentropy(Loss):
    """E = −mean_k [y log ŷ + (1 − y) log(1 − ŷ)]; a sigmoid output (fused, from the logits)
    or a hard_sigmoid output (on the probabilities, clipped to [1e-7, 1 − 1e-7]).

    Parameters
    ----------
    from_logits : bool, default False
        True for a linear output layer: the loss takes ŷ = σ(z) of its outputs z itself,
        computed as max(z, 0) − z·y + log(1 + e^−|z|), stable for any z.
    label_smoothing : float in [0, 1), default 0
        ls: the targets become y·(1 − ls) + ls/2.
    """

    name = "binary_crossentropy"
    _output_kernel = "binary_cross_entropy"

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = _from_logits(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)

    def kind_for(self, activation, units):
        if self.from_logits:
            if activation == "linear":
                return "sigmoid_binary_cross_entropy"
            raise ValueError(f"binary_crossentropy with from_logits=True takes the logits of a linear output "
                             f"layer, but the output activation is {activation!r}")
        if activation == "sigmoid":
            return "sigmoid_binary_cross_entropy"
        if activation == "hard_sigmoid":
            return "binary_cross_entropy"
        raise ValueError(f"binary_crossentropy needs a sigmoid or hard_sigmoid output layer (or a linear one "
                         f"with from_logits=True), but the output activation is {activation!r}")

    def kernel_args(self, units):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits}

    def _output_kwargs(self):
        return {"label_smoothing": self.label_smoothing}

    def _from_outputs(self, ops, y_pred, y_true, w):
        if not self.from_logits:
            return super()._from_outputs(ops, y_pred, y_true, w)
        y = np.ascontiguousarray(y_true.reshape(y_pred.shape), dtype=np.float64)
        return ops.sigmoid_binary_cross_entropy(y_pred, y, np.empty_like(y_pred), None, w,
                                                label_smoothing=self.label_smoothing)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """E = −Σ_k y_k log ŷ_k; y as one-hot (or probability) rows; a softmax output.

    Parameters
    ----------
    from_logits : bool, default False
        True for a linear output layer: the loss takes ŷ = softmax(z) of its outputs z
        itself (log-sum-exp, fused with the loss as for a softmax layer).
    label_smoothing : float in [0, 1), default 0
        ls: the targets become y·(1 − ls) + ls/k for k classes, and ∂E/∂z = ŷ − y'.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = _from_logits(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)

    def kind_for(self, activation, units):
        expected = "linear" if self.from_logits else "softmax"
        if activation != expected or units < 2:
            raise ValueError(f"{self.name}{' with from_logits=True' if self.from_logits else ''} needs a "
                             f"{expected} output layer with at least 2 units, but the "
                             f"output layer has {units} unit(s) with activation {activation!r}"
                             + ("; for one sigmoid unit use binary_crossentropy" if units == 1 else ""))
        return "softmax_cross_entropy"

    def kernel_args(self, units):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits}

    def _from_outputs(self, ops, y_pred, y_true, w):
        # softmax(log ŷ) = ŷ for a distribution ŷ, so the fused kernel on log ŷ gives −Σ y log ŷ
        logits = y_pred if self.from_logits else np.log(np.clip(y_pred, 1e-300, None))
        if self.needs == "class_ids":
            y = np.ascontiguousarray(y_true.reshape(-1), dtype=np.intp)
        else:
            y = np.ascontiguousarray(y_true.reshape(y_pred.shape), dtype=np.float64)
        return self._fused(ops, logits, y, np.empty_like(logits), None, w)

    def _fused(self, ops, Z, y, P, delta, w):
        return ops.softmax_cross_entropy(Z, y, P, delta, w, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with y given as integer class ids instead of one-hot rows.

    Parameters
    ----------
    from_logits : bool, default False
        True for a linear output layer (see CategoricalCrossentropy). As in Keras 3, there
        is no label smoothing here: smooth one-hot rows with CategoricalCrossentropy.
    """

    name = "sparse_categorical_crossentropy"
    needs = "class_ids"

    def __init__(self, from_logits=False):
        super().__init__(from_logits=from_logits)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


class CategoricalFocalCrossentropy(CategoricalCrossentropy):
    """α-balanced focal loss E = −α_c (1 − ŷ_c)^γ log ŷ_c; a softmax output.

    Parameters
    ----------
    gamma : float ≥ 0
        Focal factor γ: easy samples (ŷ_c near 1) are down-weighted by (1 − ŷ_c)^γ.
        γ = 0 with α = 1 is plain cross-entropy.
    alpha : float or sequence of floats, default 0.25
        α_c, the same for every class (a float) or one per class (e.g. n / (k·n_c)).
        None means 1.
    from_logits : bool, default False
        True for a linear output layer (see CategoricalCrossentropy).
    label_smoothing : float in [0, 1), default 0
        As in CategoricalCrossentropy: the targets become y·(1 − ls) + ls/k first, so every
        class c has a term −α_c (1 − ŷ_c)^γ y_c log ŷ_c (Keras 3's formula).
    """

    name = "categorical_focal_crossentropy"

    def __init__(self, gamma=2.0, alpha=0.25, from_logits=False, label_smoothing=0.0):
        self.from_logits = _from_logits(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)
        gamma = float(gamma)
        if not np.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
        if alpha is not None:
            values = np.asarray(alpha, dtype=np.float64)
            if values.ndim > 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"alpha must be a number >= 0 or a sequence of them, got {alpha!r}")
            alpha = float(values) if values.ndim == 0 else [float(v) for v in values]
        self.gamma, self.alpha = gamma, alpha

    def kind_for(self, activation, units):
        super().kind_for(activation, units)
        if isinstance(self.alpha, list) and len(self.alpha) != units:
            raise ValueError(f"alpha has {len(self.alpha)} values but the output layer has {units} classes")
        return "focal_cross_entropy"

    def kernel_args(self, units):
        return {"gamma": self.gamma, "alpha": self.alpha, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}

    def _fused(self, ops, Z, y, P, delta, w):
        return ops.focal_cross_entropy(Z, y, P, delta, w, gamma=self.gamma, alpha=self.alpha,
                                       label_smoothing=self.label_smoothing)

    def get_config(self):
        return {"name": self.name, "gamma": self.gamma, "alpha": self.alpha, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


LOSSES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
}


def get(loss):
    """A Loss from a name or a Loss object."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"unknown loss {loss!r}; expected a Loss object or one of {', '.join(LOSSES)}")


def from_config(config):
    """Rebuild a Loss from ``get_config()`` output."""
    config = dict(config)
    cls = LOSSES.get(config.pop("name", None))
    if cls is None:
        raise ValueError(f"unknown loss in config: {config!r}")
    return cls(**config)


def batch_loss(loss, kind, ops, activation, Z, y, w, A):
    """Loss of a batch from the output layer's pre-activations Z (not modified).

    Writes the outputs ŷ = g(Z) into A (from the logits: the probabilities the loss takes of
    them) and returns L = (1/n) Σ_b w_b E_b.
    ``kind`` is ``loss.kind_for(activation, units)``; y is class ids or rows.
    """
    if kind in ("softmax_cross_entropy", "focal_cross_entropy"):
        return loss._fused(ops, Z, y, A, None, w)
    if kind == "sigmoid_binary_cross_entropy":
        return ops.sigmoid_binary_cross_entropy(Z, y, A, None, w, label_smoothing=loss.label_smoothing)
    ops.activation_forward(activation, Z, A)
    return loss._on_outputs(ops, A, y, w)
