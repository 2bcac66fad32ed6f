"""Models: Sequential (a stack of layers, trained with SGD) and the Perceptron.

A Sequential model is the course's fully connected network

    f(x) = g*( W_kᵀ g_{k−1}( ... g_1(W_1ᵀ x) ) )

built from Dense layers, compiled with a loss and an optimizer, and trained
with mini-batch SGD by ``fit``, the way the course's Keras script does it.
"""
import contextlib
import math
import sys
import warnings

import numpy as np

from fastnn import losses as _losses
from fastnn import metrics as _metrics
from fastnn._kernels import _blas, _validate
from fastnn._kernels import train as _train
from fastnn._threads import available_threads, limit_blas
from fastnn import optimizers as _optimizers
from fastnn.backend import BACKENDS, get_backend
from fastnn.callbacks import Callback, History, ProgbarLogger, _format_value
from fastnn.layers import Activation, Dense, Dropout, InputLayer, Layer

_DTYPES = {"float32": np.float32, "float64": np.float64}
_PREDICT_CHUNK = 4096            # rows per forward pass in evaluate (results do not depend on it)
# predict's compiled forward pass: chunks of 100 rows keep a chunk's activations in L2 when the
# weights are small too; with larger weights (more than 1 MB) a chunk is one row block of the
# float32 GEMM (140 rows), whose outputs then stay in L2 between its passes over the depth
# (net B: 4% more samples/s than chunks of 1,000 rows at 1 thread, 2% at 2).
_PREDICT_ROWS_SMALL, _PREDICT_ROWS_LARGE, _LARGE_WEIGHTS = 100, 140, 1 << 20
# Threads in training (see _thread_plan): below _SMALL_STEP multiply-adds per step one thread
# is fastest; up to _LARGE_STEP two workers split each batch, each calling single-threaded BLAS;
# above it the products are large enough for BLAS' own threads (unless fastnn's own GEMM
# kernel runs them: it is single-threaded, so two workers split the batch at any size).
_SMALL_STEP = 200_000
_LARGE_STEP = 50_000_000
# Two workers split a step by batch rows, or, when the weights are larger than this (bytes),
# by units: each then owns half of every layer's weight rows, which stay in its core's caches.
_UNIT_SPLIT_WEIGHTS = 4 << 20


def _as_dtype(dtype):
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(_DTYPES[name])


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
        Layers to add in order (as with ``add``).
    name : str, optional
    dtype : "float32" (default) or "float64"
        The floating type of every weight, buffer and computation, chosen once.
    backend : "compiled" (default) or "numpy"
        Which implementation runs the maths; "numpy" is the readable reference.
    seed : int, optional
        Seed for the initial weights and the shuffling, used when ``fit`` gets none:
        the same seed on the same machine gives identical weights and history.
    """

    def __init__(self, layers=None, name=None, dtype="float32", backend="compiled", seed=None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        self.name = name or "sequential"
        self.dtype = _as_dtype(dtype)
        self.backend = backend
        self.seed = seed
        self.layers = []
        self.loss = None
        self.optimizer = None
        self.metrics = []
        self.history = None
        self.stop_training = False
        self.metadata = {}          # JSON-serialisable notes saved with the model (e.g. preprocessing)
        self._input_shape = None    # from an Input(shape=...) given before the first Dense layer
        # Initial weights: drawn from one generator, layer after layer, as soon as the number of
        # inputs is known (see build); _redrawable while they are the untouched first draw.
        self._init_rng = self._init_seed = None
        self._redrawable = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------ structure

    def add(self, layer):
        """Append a layer (Dense, Activation or Dropout, or an Input(shape=(n,)) before the first Dense).

        As in Keras, the model is built as soon as the number of inputs is known: a layer
        added to a model whose input size is known gets its initial weights at once.
        """
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(shape=...) must come before the model's first layer")
            if self._input_shape is not None:
                raise ValueError("the model already has an Input")
            self._input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"add() takes a fastnn layer (Dense, Activation, Dropout), got {type(layer).__name__}")
        if not self.layers:
            if not isinstance(layer, Dense):
                raise ValueError("the first layer must be a Dense layer")
            if (self._input_shape is not None and layer.input_shape is not None
                    and layer.input_shape != self._input_shape):
                raise ValueError(f"layer {layer.name!r} declares input_shape {layer.input_shape} but the "
                                 f"model's Input has shape {self._input_shape}")
        elif isinstance(layer, Dense) and layer.input_shape is not None:
            previous = self._dense_layers()[-1].units
            if layer.input_shape[0] != previous:
                raise ValueError(f"layer {layer.name!r} declares input_shape {layer.input_shape} but the "
                                 f"previous layer has {previous} units")
        if isinstance(layer, Dropout) and not isinstance(self.layers[-1], (Dense, Activation)):
            raise ValueError("a Dropout layer must follow a Dense (or Activation) layer, not another Dropout")
        if isinstance(layer, Activation):
            last = self.layers[-1]
            if not isinstance(last, Dense) or last.activation != "linear":
                raise ValueError("an Activation layer must follow a Dense layer without activation "
                                 "(it becomes that layer's activation); use Dense(units, activation=...)")
        if any(layer is existing for existing in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in the model")
        self.layers.append(layer)
        if isinstance(layer, Dense) and layer.built:
            self._redrawable = False           # weights from elsewhere are never drawn again
        if isinstance(layer, Dense) and self.input_dim is not None:
            self._build_layers(self.input_dim, redrawable=True)

    def _dense_layers(self):
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    def _activations(self):
        """The activation of each Dense layer, with following Activation layers folded in."""
        acts = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                acts.append(layer.activation)
            elif isinstance(layer, Activation):
                acts[-1] = layer.activation
        return acts

    def _dropouts(self):
        """For each Dense layer, the Dropout layer that follows it (after its Activation), or None."""
        drops = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                drops.append(None)
            elif isinstance(layer, Dropout):
                drops[-1] = layer
        return drops

    def _dropout_seed(self, layer, position):
        """A Dropout layer's seed: its own, else drawn from the model's seed and its place
        (a seeded model is reproducible), else drawn once for the layer."""
        if layer.seed is not None:
            return layer.seed
        if self.seed is not None:
            return int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])
        if getattr(layer, "_drawn_seed", None) is None:
            layer._drawn_seed = int(np.random.SeedSequence().generate_state(1)[0])
        return layer._drawn_seed

    @property
    def input_dim(self):
        layers = self._dense_layers()
        if not layers:
            return None
        if layers[0].built:
            return layers[0].W.shape[0]
        if layers[0].input_shape:
            return layers[0].input_shape[0]
        return self._input_shape[0] if self._input_shape else None

    @property
    def output_units(self):
        return self._dense_layers()[-1].units

    @property
    def built(self):
        layers = self._dense_layers()
        return bool(layers) and all(layer.built for layer in layers)

    def build(self, input_shape=None, seed=None):
        """Create the weights; Keras' ``build((None, n))``, ``build((n,))`` and ``build(n)`` all work.

        The model builds itself as soon as the number of inputs is known (an ``input_shape``
        on the first layer, an ``Input``), so ``build`` is needed only when neither gave it;
        ``fit`` builds from its data otherwise. Each Dense layer draws W from one generator in
        turn, seeded by ``seed`` or else the model's ``seed``: the same seed gives the same
        initial weights whether the model is built early, here, or by ``fit``.

        Parameters
        ----------
        input_shape : int, (n_features,) or (None, n_features), optional
        seed : int, optional
            Initial weights that were drawn automatically with another seed (or none) and
            not trained or set since are drawn again from this seed.
        """
        layers = self._dense_layers()
        if not layers:
            raise ValueError("the model has no layers; add Dense layers first")
        input_dim = _input_size(input_shape) if input_shape is not None else self.input_dim
        if input_dim is None:
            raise ValueError("the number of inputs is unknown: give the first layer input_shape=(n,) "
                             "or call fit/build with data")
        if self.input_dim is not None and input_dim != self.input_dim:
            raise ValueError(f"x has {input_dim} features but the model expects {self.input_dim}")
        self._build_layers(input_dim, seed)
        self._redrawable = False
        return self

    def _build_layers(self, input_dim, seed=None, redrawable=False):
        """Draw the weights of the layers not built yet, continuing one generator across layers,
        so building layer by layer (as they are added) draws the same numbers as building all at
        once. Weights still as first drawn (no training, no set_weights) are drawn again when a
        different seed arrives (from build(seed=) or fit(seed=)), as if the model had been built there."""
        layers = self._dense_layers()
        if (seed is not None and seed != self._init_seed and self._redrawable
                and not any(layer._weights_set for layer in layers)):
            for layer in layers:
                layer.W = layer.b = None
            self._init_rng = None
        if all(layer.built for layer in layers):
            return
        if self._init_rng is None:
            self._init_seed = self.seed if seed is None else seed
            self._init_rng = np.random.default_rng(self._init_seed)
            self._redrawable = redrawable and not any(layer.built for layer in layers)
        n_in = input_dim
        for layer in layers:
            if not layer.built:
                layer.build(n_in, self.dtype, self._init_rng)
            n_in = layer.units

    def _require_built(self, what):
        if not self.built:
            if self.input_dim is None:
                raise ValueError(f"{what} needs the model's weights; they are created by fit, or by build() "
                                 "once the first layer has input_shape")
            self.build()

    def count_params(self):
        """Number of weights and biases: Σ_layers (n_in·units + units)."""
        n_in = self.input_dim
        if n_in is None:
            raise ValueError("the number of inputs is unknown: give the first layer input_shape=(n,)")
        total = 0
        for layer in self._dense_layers():
            total += layer.count_params(n_in)
            n_in = layer.units
        return total

    def get_weights(self):
        """Copies of all parameters: [W1, b1, W2, b2, ...], each W shaped (inputs, units)."""
        self._require_built("get_weights")
        return [w for layer in self._dense_layers() for w in layer.get_weights()]

    def set_weights(self, weights):
        """Copy a list like get_weights() into the model, checking every shape."""
        self._require_built("set_weights")
        self._redrawable = False
        weights = list(weights)
        expected = sum(len(layer.params) for layer in self._dense_layers())
        if len(weights) != expected:
            raise ValueError(f"the model has {expected} weight arrays, got {len(weights)}")
        i = 0
        for layer in self._dense_layers():
            n = len(layer.params)
            layer.set_weights(weights[i:i + n])
            i += n

    def _params(self):
        return [p for layer in self._dense_layers() for p in layer.params]

    def summary(self, print_fn=print):
        """Print the per-layer table of units, weights, biases and parameters."""
        n_in = self.input_dim
        if n_in is None:
            raise ValueError("summary needs the number of inputs: give the first layer input_shape=(n,)")
        rows = [("input", "", f"{n_in:,}", "", "", "")]
        total_w = total_b = 0
        for layer in self.layers:
            if isinstance(layer, Dense):
                w, b = n_in * layer.units, layer.units if layer.use_bias else 0
                total_w, total_b = total_w + w, total_b + b
                rows.append((layer.name, "Dense", f"{layer.units:,}", f"{w:,}", f"{b:,}", f"{w + b:,}"))
                n_in = layer.units
            else:
                rows.append((layer.name, type(layer).__name__, "", "", "", "0"))
        rows.append(("TOTAL", "", "", f"{total_w:,}", f"{total_b:,}", f"{total_w + total_b:,}"))
        header = ("layer", "type", "units", "weights", "biases", "params")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
        line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(line(header))
        print_fn(f'Model: "{self.name}"  ({self.dtype.name}, {self.backend} backend)')
        print_fn(rule)
        print_fn(line(header))
        print_fn(rule)
        for r in rows[:-1]:
            print_fn(line(r))
        print_fn(rule)
        print_fn(line(rows[-1]))
        print_fn(f"Total params: {total_w + total_b:,}")

    def __repr__(self):
        sizes = [str(self.input_dim or "?")] + [str(layer.units) for layer in self._dense_layers()]
        return f"Sequential({'-'.join(sizes)}, activations={self._activations()})"

    # ------------------------------------------------------------ compile

    def compile(self, loss, optimizer="sgd", metrics=None):
        """Choose the loss (a name or a fastnn.losses object), the optimizer ("sgd" or an
        SGD object) and the metrics: "accuracy" (or "acc"), and Keras 3's metrics by name
        ("precision", "recall", "auc", "f1_score", "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy", "mae"/"mean_absolute_error",
        "root_mean_squared_error", ...) or as fastnn.metrics objects. Each is logged under its
        name (the string given, or the object's ``name``), ``val_`` + that name when validating.
        A metric that does not fit the loss (AUC of a regression) is a ValueError here."""
        if not self.layers:
            raise ValueError("add layers before compile()")
        loss = _losses.get(loss)
        kind = loss.kind_for(self._activations()[-1], self.output_units)        # raises if it does not fit
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list of metrics, got {type(metrics).__name__}")
        compiled = []
        for m in list(metrics or []):
            if isinstance(m, str) and m in _metrics.ACCURACY_NAMES:
                compiled.append(m)
                continue
            metric = _metrics.get(m)
            metric._check_loss(kind, loss.name, self.output_units)
            metric._build(self.output_units)
            compiled.append(metric)
        seen = [m if isinstance(m, str) else m.name for m in compiled]
        repeated = sorted({name for name in seen if seen.count(name) > 1})
        if repeated:
            raise ValueError(f"metrics {repeated} appear more than once: give each metric its own name")
        self.loss = loss
        self.optimizer = _optimizers.get(optimizer)
        self.metrics = compiled
        return self

    @property
    def metrics_names(self):
        """The names in the logs: "loss", then each compiled metric's (Keras' ``metrics_names``)."""
        return ["loss"] + [m if isinstance(m, str) else m.name for m in self.metrics]

    def _metric_objects(self):
        return [m for m in self.metrics if not isinstance(m, str)]

    def _reset_metrics(self):
        for m in self._metric_objects():
            m.reset_state()

    def _metric_counters(self):
        """The counters of the compiled metrics (None without any): the loop adds to them in place,
        once for metrics that count the same (precision and recall at the same thresholds)."""
        return _metrics._share_histograms(self._metric_objects()) or None

    def _metric_logs(self, logs, hits, counted):
        """logs + each metric's value, in the compiled order (the accuracy from hits / counted)."""
        for m in self.metrics:
            if isinstance(m, str):
                logs[m] = hits / counted if counted else float("nan")
            else:
                value = m.result()
                logs[m.name] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return logs

    def _require_compiled(self):
        if self.loss is None:
            raise ValueError("compile the model first: model.compile(loss=..., optimizer=...)")

    @property
    def _loss_kind(self):
        return self.loss.kind_for(self._activations()[-1], self.output_units)

    @property
    def _accuracy_kind(self):
        """'argmax' (categorical accuracy) for several output units, 'threshold' (ŷ > 0.5) for one."""
        if not any(isinstance(m, str) for m in self.metrics):
            return "none"
        return "argmax" if self.output_units > 1 else "threshold"

    # ------------------------------------------------------------ input checks

    def _check_x(self, x, name="x", finite=True):
        """x as a C-contiguous (n_samples, n_features) array of the model's dtype, checked once."""
        x = _numeric_array(x, name)
        if x.ndim != 2:
            hint = "; flatten images first, e.g. x.reshape(len(x), -1)" if x.ndim > 2 else ""
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}{hint}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} is empty: it has no samples")
        expected = self.input_dim
        if expected is not None and x.shape[1] != expected:
            raise ValueError(f"{name} has {x.shape[1]} features but the model expects {expected}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        # one compiled pass over x, allocating nothing
        if finite and (bad := _train.count_nonfinite(x)):
            raise ValueError(f"{name} holds {bad} NaN or infinite values")
        return x

    def _check_y(self, y, n, name="y"):
        """Targets for the compiled loss: (class ids, rows, class id per sample for class weights)."""
        units, kind = self.output_units, self._loss_kind
        y = _numeric_array(y, name)
        if y.shape[:1] != (n,):
            raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} samples but x has {n}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} holds NaN or infinite values")
        if self.loss.needs == "class_ids":
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1 or np.any(y != np.round(y)):
                raise ValueError(f"{self.loss.name} takes {name} as integer class ids of shape ({n},), "
                                 f"got shape {y.shape}" + (" with fractions" if y.ndim == 1 else ""))
            if y.min() < 0 or y.max() >= units:
                raise ValueError(f"{name} holds class ids from {y.min():g} to {y.max():g}, but the output "
                                 f"layer has {units} classes (ids 0..{units - 1})")
            labels = np.ascontiguousarray(y, dtype=np.intp)
            return labels, None, labels
        if kind in ("softmax_cross_entropy", "focal_cross_entropy"):
            if y.ndim == 1:
                raise ValueError(f"{self.loss.name} takes {name} as one-hot rows of shape ({n}, {units}); "
                                 f"got class ids of shape {y.shape}: use fastnn.utils.to_categorical(y, "
                                 f"{units}) or loss='sparse_categorical_crossentropy'")
            if y.ndim != 2 or y.shape[1] != units:
                raise ValueError(f"{name} has shape {y.shape} but the output layer has {units} units: "
                                 f"expected one-hot rows of shape ({n}, {units})")
            if np.any(y < 0):
                raise ValueError(f"{name} holds negative values; rows must be one-hot or probabilities")
            ids = np.argmax(y, axis=1).astype(np.intp)
            one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
            if one_hot:           # the kernels need only the class ids: no rows gathered per batch
                return ids, None, ids
            return None, np.ascontiguousarray(y, dtype=self.dtype), ids
        # element-wise losses: binary cross-entropy, mean squared or absolute error, Huber
        binary = kind in ("binary_cross_entropy", "sigmoid_binary_cross_entropy")
        if y.ndim == 1 and units == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != units:
            raise ValueError(f"{name} has shape {y.shape}; the output layer has {units} unit(s), "
                             f"so expected ({n}, {units})" + (f" or ({n},)" if units == 1 else ""))
        if binary and (np.any(y < 0) or np.any(y > 1)):
            raise ValueError(f"binary_crossentropy needs {name} in [0, 1]; got values from {y.min():g} to {y.max():g}")
        ids = np.round(y[:, 0]).astype(np.intp) if units == 1 and binary else None
        return None, np.ascontiguousarray(y, dtype=self.dtype), ids

    def _sample_weights(self, class_ids, n, class_weight=None, sample_weight=None):
        """Per-sample weights w_b from class_weight (dict or "balanced") and/or sample_weight."""
        w = None
        if class_weight is not None:
            if class_ids is None:
                raise ValueError("class_weight needs class targets (a classification loss); "
                                 "use sample_weight for regression")
            n_classes = self.output_units if self.output_units > 1 else 2
            from fastnn.utils import compute_class_weight
            if isinstance(class_weight, dict):
                bad = [c for c in class_weight if not isinstance(c, (int, np.integer)) or not 0 <= c < n_classes]
                if bad:
                    raise ValueError(f"class_weight keys must be class ids in [0, {n_classes}), got {bad}")
                alphas = compute_class_weight(class_weight, classes=np.arange(n_classes), y=class_ids)
            elif class_weight == "balanced":
                present = np.unique(class_ids)
                alphas = np.ones(n_classes)
                alphas[present] = compute_class_weight("balanced", classes=present, y=class_ids)
            else:
                raise ValueError(f"class_weight must be a dict {{class: weight}} or 'balanced', got {class_weight!r}")
            w = alphas[class_ids]
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}")
            if not np.all(np.isfinite(sw)) or np.any(sw < 0):
                raise ValueError("sample_weight must hold finite values >= 0")
            w = sw if w is None else w * sw
        return None if w is None else np.ascontiguousarray(w, dtype=self.dtype)

    # ------------------------------------------------------------ training

    def _thread_plan(self, batch_size):
        """(workers, BLAS threads or None to leave BLAS alone, split) for training at this batch size."""
        threads = available_threads()
        work = batch_size * self.count_params()          # multiply-adds of one forward pass
        if threads < 2 or work < _SMALL_STEP:
            return 1, 1, "batch"
        if work <= _LARGE_STEP or self._own_gemm():      # fastnn's own GEMM has no threads of its own
            wide = self.count_params() * np.dtype(self.dtype).itemsize > _UNIT_SPLIT_WEIGHTS
            return 2, 1, "units" if wide and _validate.splits_by_units(self._activations()) else "batch"
        return 1, None, "batch"

    def _own_gemm(self):
        """True when this model's products run on fastnn's own kernel rather than BLAS."""
        return self.backend == "compiled" and self.dtype == np.float32 and _blas.sgemm_kernel() != "blas"

    def _training_buffers(self, batch_size, velocities=None, n_workers=1, split="batch"):
        """The workspace of one fit: a trainer whose buffers the layers show as X, Z, A, delta, dW, db."""
        ops = get_backend(self.backend)
        dense = self._dense_layers()
        params = self._params()
        # the optimizer's state arrays of each parameter: the first (SGD's velocity v) is a
        # layer's vW or vb, the others (Adam's v and v̂, ...) go to the trainer as its states
        variables = (self.optimizer.variables_for(params) if velocities is None
                     else [[v] for v in velocities])
        X_buffer = np.zeros((batch_size, self.input_dim), dtype=self.dtype)
        slots, states, penalties, dropouts, previous, v = [], [], [], [], X_buffer, iter(variables)
        drop_layers = self._dropouts()
        if drop_layers[-1] is not None:
            raise ValueError(f"{drop_layers[-1].name!r}: dropout after the output layer is not supported; "
                             "put Dropout between layers")
        for position, (layer, drop) in enumerate(zip(dense, drop_layers)):
            Z, A, delta = (np.zeros((batch_size, layer.units), dtype=self.dtype) for _ in range(3))
            dW = np.zeros_like(layer.W)
            state_W = list(next(v)) + [None, None]
            state_b = list(next(v)) + [None, None] if layer.use_bias else [None, None, None]
            b, db = (layer.b, np.zeros_like(layer.b)) if layer.use_bias else (None, None)
            slots.append((layer.W, b, state_W[0], state_b[0], dW, db, Z, A, delta))
            states.append((state_W[1], state_W[2], state_b[1], state_b[2]))
            penalties.append(layer.penalties())
            layer._views = dict(X=previous, Z=Z, A=A, delta=delta, dW=dW, db=db)
            layer._batch = 0
            previous = A
            dropouts.append(None)
            if drop is not None and drop.rate > 0:
                D = np.zeros((batch_size, layer.units), dtype=self.dtype)
                dropouts[-1] = (drop.rate, self._dropout_seed(drop, position), D)
                drop._views = dict(X=A, A=D)
                drop._batch = 0
                previous = D
        for i, layer in enumerate(self.layers):           # an Activation shows its Dense's buffers
            if isinstance(layer, Activation):
                views = self.layers[i - 1]._views
                layer._views = dict(X=views["Z"], Z=views["Z"], A=views["A"], delta=views["delta"])
        kind = self._loss_kind
        extra = self.loss.kernel_args(self.output_units)
        if self.backend == "compiled":
            extra["n_workers"] = n_workers
        extra["split"] = split
        trainer = ops.Trainer(X_buffer, slots, self._activations(), kind, states=states, penalties=penalties,
                              dropouts=dropouts, **extra)
        return trainer

    def _train_steps(self, trainer, x, labels, Y, w, order, first, count, losses, acc_kind, counters=None):
        """``count`` steps of the optimizer in one compiled call: the rates of those steps
        (the schedule's) computed at once, the optimizer's rule; returns (steps done, hits,
        counted) and advances optimizer.iterations. The metrics' counters (if any) are added to."""
        opt = self.optimizer
        rates = opt.rates(opt.iterations, count)
        rule = opt.rule()
        done, opt.iterations, hits, counted = trainer.train(
            x, labels, Y, w, order, first, count, float(rates[0]) if count else 0.0, 0.0,
            rule.get("momentum", 0.0), rule.get("nesterov", False), opt.iterations, losses, acc_kind,
            rule=rule, rates=rates, metrics=counters)
        return done, hits, counted

    def _set_batch_views(self, m):
        for layer in self.layers:
            layer._batch = m

    def _prepare(self, x, y, sample_weight=None, class_weight=None, name="x"):
        x = self._check_x(x, name)
        if not self.built:
            self.build(x.shape[1])
        labels, Y, ids = self._check_y(y, x.shape[0], "y" if name == "x" else name.replace("x", "y"))
        w = self._sample_weights(ids, x.shape[0], class_weight, sample_weight)
        return x, labels, Y, w

    def fit(self, x, y, batch_size=32, epochs=1, validation_data=None, validation_split=0.0,
            shuffle=True, class_weight=None, verbose=1, callbacks=None, seed=None, sample_weight=None,
            initial_epoch=0):
        """Train with mini-batch SGD; returns a History.

        Parameters
        ----------
        x : array (n_samples, n_features)
        y : targets: one-hot rows for categorical_crossentropy and focal loss, class ids for
            sparse_categorical_crossentropy, (n_samples, units) or (n_samples,) values otherwise.
        batch_size : int, default 32
        epochs : int, default 1
        validation_data : (x_val, y_val), optional
            Evaluated after each epoch into ``val_loss`` and ``val_<metric>``.
        validation_split : float in [0, 1)
            Hold out this last fraction of x, y (before shuffling) as validation data.
        shuffle : bool, default True
            A new random order of the samples each epoch.
        class_weight : dict {class: α} or "balanced"
            Weights each sample's loss by its class; "balanced" is α_i = n / (k·n_i).
        verbose : 0 or 1
            1 prints a progress line per epoch.
        callbacks : list of Callback
            Called at the start and end of training and of each epoch; a callback that defines
            ``on_train_batch_begin``/``on_train_batch_end`` is also called around the steps (the
            compiled loop then returns to Python as often as it needs; otherwise an epoch is one
            call). ``model.stop_training = True`` from any of them ends ``fit`` after the
            current step. The learning rate they change is ``model.optimizer.learning_rate``.
        seed : int, optional
            Seeds the shuffling, and the initial weights: those of a model built here, or
            built earlier (as soon as its input size was known) from another seed or none
            and neither trained nor set since, are drawn from this seed, as if built here.
        sample_weight : array (n_samples,), optional
        """
        self._require_compiled()
        batch_size = _positive_int("batch_size", batch_size)
        epochs = _positive_int("epochs", epochs, allow_zero=True)
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if seed is None:
            seed = self.seed
        xa = np.asarray(x)
        if xa.ndim == 2 and self._dense_layers():
            # as if built here: weights not built yet, or still as first drawn with another seed
            self._build_layers(self.input_dim if self.built else xa.shape[1], seed)
        if validation_data is None and validation_split:
            x, y = np.asarray(x), np.asarray(y)
            cut = int(len(x) * (1.0 - float(validation_split)))
            if cut == 0 or cut == len(x):
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples")
            validation_data = (x[cut:], y[cut:])
            x, y = x[:cut], y[:cut]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:cut]
        x, labels, Y, w = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = self._prepare(validation_data[0], validation_data[1],
                                validation_data[2] if len(validation_data) == 3 else None, name="x_val")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastnn.callbacks.Callback objects, got {type(cb).__name__}")

        n = x.shape[0]
        steps = -(-n // batch_size)
        rng = np.random.default_rng(seed)
        self._redrawable = False
        workers, blas, split = self._thread_plan(min(batch_size, n))
        trainer = self._training_buffers(min(batch_size, n), n_workers=workers, split=split)
        with contextlib.ExitStack() as stack:
            if blas is not None:
                stack.enter_context(limit_blas(blas))
            return self._fit_loop(trainer, x, labels, Y, w, val, n, steps, rng, batch_size, epochs,
                                  initial_epoch, shuffle, verbose, callbacks)

    def _fit_loop(self, trainer, x, labels, Y, w, val, n, steps, rng, batch_size, epochs, initial_epoch,
                  shuffle, verbose, callbacks):
        acc_kind = ("none", "argmax", "threshold").index(self._accuracy_kind)
        counters = self._metric_counters()

        history = History()
        history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "samples": n,
                          "verbose": verbose}
        self.history = history
        progress = ProgbarLogger() if verbose else None
        # Keras' order: the user's callbacks, then History and the progress line, so that History
        # records what the others add to the logs (learning_rate from ReduceLROnPlateau)
        all_callbacks = callbacks + [history] + ([progress] if progress else [])
        for cb in all_callbacks:
            cb.set_model(self)
            cb.set_params(history.params)
        # Batch-level hooks: the compiled loop returns to Python every `stride` steps (1 for a
        # callback of one's own; ModelCheckpoint(save_freq=k) and TensorBoard(update_freq=k) need
        # only every k-th). Without them an epoch runs in one call and nothing per step is paid.
        hooked = [cb for cb in all_callbacks if cb._implements_train_batch_hooks()]
        stride = math.gcd(*[cb._train_batch_stride() for cb in hooked]) if hooked else None
        self.stop_training = False
        for cb in all_callbacks:
            cb.on_train_begin({})
        live = progress is not None and progress.live and verbose == 1
        # a live progress line is redrawn about every `redraw` steps
        redraw = max(1, steps // 50) if live else steps
        chunk = stride or redraw
        batch_losses = np.zeros(steps, dtype=np.float64)
        logs = {}
        for epoch in range(initial_epoch, initial_epoch + epochs):
            for cb in all_callbacks:
                cb.on_epoch_begin(epoch, {})
            order = rng.permutation(n).astype(np.intp, copy=False) if shuffle else np.arange(n, dtype=np.intp)
            hits = counted = done_steps = 0
            self._reset_metrics()              # the metrics count this epoch's batches
            loss_sum = 0.0                     # of the epoch's batch losses so far, for the batch logs
            failed = False
            first = 0
            while first < steps:
                # stop_training set before a step (on_epoch_begin, a batch hook): run one more, as Keras
                count = 1 if self.stop_training else min(chunk, steps - first)
                if hooked:
                    for cb in hooked:
                        cb.on_train_batch_begin(first, {})
                done, h, c = self._train_steps(trainer, x, labels, Y, w, order, first, count,
                                               batch_losses[first:], acc_kind, counters)
                hits, counted, done_steps = hits + h, counted + c, done_steps + done
                self._set_batch_views(trainer.last_batch_size)
                if done < count:
                    failed = True
                    step = first + done + 1
                    msg = (f"epoch {epoch + 1}, step {step}/{steps}: the loss is "
                           f"{batch_losses[first + done]}; training stopped (that step's update was not applied)")
                    warnings.warn(msg, RuntimeWarning, stacklevel=2)
                    if verbose:
                        print(f"\n{msg}", file=sys.stdout, flush=True)
                    break
                if hooked or live:
                    loss_sum += float(batch_losses[first:first + count].sum())
                first += count
                if hooked or (live and first < steps and first % redraw < count):
                    # the epoch so far, as Keras
                    batch_logs = self._metric_logs({"loss": loss_sum / first}, hits, max(counted, 1))
                    for cb in hooked:
                        cb.on_train_batch_end(first - 1, dict(batch_logs))
                    if live and first < steps:
                        progress.on_batches_done(first, steps, batch_logs)
                if self.stop_training:
                    break
            ran = done_steps + (1 if failed else 0)
            # (the mean's own arithmetic, a sum then a division, without np.mean's ~5 µs of wrapping)
            logs = self._metric_logs({"loss": float(batch_losses[:ran].sum()) / ran}, hits, counted)
            if val is not None and not failed:
                val_logs = self._evaluate_prepared(*val)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            for cb in all_callbacks:
                cb.on_epoch_end(epoch, logs)
            if failed:
                self.stop_training = True
            if self.stop_training:
                break
        for cb in all_callbacks:
            cb.on_train_end(dict(logs))
        return history

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One SGD step on exactly this batch; returns its loss and metrics (computed on the
        outputs before the update), as Keras 3: the loss alone when no metric was compiled,
        ``[loss, accuracy]`` otherwise, or ``{"loss": ..., "accuracy": ...}`` with ``return_dict=True``.

        Afterwards every Dense layer shows X, Z, A, delta, dW and db of this step.
        """
        self._require_compiled()
        if not self.built:
            xa = np.asarray(x)
            if xa.ndim == 2:
                self._build_layers(xa.shape[1])
        x, labels, Y, w = self._prepare(x, y, sample_weight, class_weight)
        self._redrawable = False
        n = x.shape[0]
        trainer = self._training_buffers(n)
        loss = np.zeros(1)
        acc_kind = ("none", "argmax", "threshold").index(self._accuracy_kind)
        self._reset_metrics()                  # as Keras' train_on_batch (reset_metrics=True)
        done, hits, counted = self._train_steps(trainer, x, labels, Y, w, np.arange(n, dtype=np.intp), 0, 1,
                                                loss, acc_kind, self._metric_counters())
        self._set_batch_views(n)
        if not done:
            warnings.warn(f"the loss is {loss[0]}; the update was not applied", RuntimeWarning, stacklevel=2)
        return _logs_as_keras(self._metric_logs({"loss": float(loss[0])}, hits, counted), return_dict)

    def explain_step(self, x, y, sample_weight=None, class_weight=None, update=False):
        """One training step on a few samples, shown layer by layer in the course's notation.

        Runs the model's real step (the one ``train_on_batch`` runs) on (x, y) and returns a
        ``fastnn.explain.StepExplanation`` holding, for every Dense layer, its input I, W and
        b, Z = I·W + b, A = g(Z), δ and the two factors it came from, δ_l = (δ_{l+1}·W_{l+1}ᵀ)
        ⊙ g′(Z_l), dW = Iᵀ·δ, db = Σ δ, the optimizer's state before and after (SGD's
        velocity v), the rate γ_t of the step and the updated weights; and the loss E.
        It prints as text (``print(e)``), shows as an HTML table in Jupyter, and gives the
        arrays as ``e.layers[l].delta`` or ``e[l]["dW"]``.

        Parameters
        ----------
        x : array (n_samples, n_features)
            A few samples (at most 1000): every number of the step is kept.
        y, sample_weight, class_weight : as for ``train_on_batch``.
        update : bool, default False
            False leaves the model as it was: its weights, its optimizer's state and step
            counter t, and what its layers show. True keeps the step, exactly as
            ``train_on_batch(x, y)`` would have.
        """
        from fastnn.explain import explain_step
        return explain_step(self, x, y, sample_weight=sample_weight, class_weight=class_weight, update=update)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics of the model on this batch, without training (Keras 3's return
        forms, as ``train_on_batch``)."""
        self._require_compiled()
        self._require_built("test_on_batch")
        return _logs_as_keras(self._evaluate_prepared(*self._prepare(x, y, sample_weight)), return_dict)

    def gradients(self, x, y, sample_weight=None, class_weight=None):
        """Backpropagated ∂L/∂θ of the loss on (x, y), as a list like get_weights(); the model
        is not changed (one step with learning rate 0 on scratch velocities)."""
        self._require_compiled()
        x, labels, Y, w = self._prepare(x, y, sample_weight, class_weight)
        n = x.shape[0]
        scratch = [np.zeros_like(p) for p in self._params()]
        trainer = self._training_buffers(n, velocities=scratch)
        loss = np.zeros(1)
        trainer.train(x, labels, Y, w, np.arange(n, dtype=np.intp), 0, 1, 0.0, 0.0, 0.0, False, 0, loss, 0)
        self._set_batch_views(n)
        return [g.copy() for layer in self._dense_layers()
                for g in ([layer._views["dW"], layer._views["db"]] if layer.use_bias else [layer._views["dW"]])]

    # ------------------------------------------------------------ inference

    def _forward(self, x):
        """Yield (rows, Z of the output layer, a buffer for the outputs) chunk by chunk."""
        ops = get_backend(self.backend)
        dense, acts = self._dense_layers(), self._activations()
        chunk = min(_PREDICT_CHUNK, x.shape[0])
        buffers = [np.empty((chunk, layer.units), dtype=self.dtype) for layer in dense]
        out = np.empty((chunk, dense[-1].units), dtype=self.dtype)
        for start in range(0, x.shape[0], chunk):
            rows = slice(start, min(start + chunk, x.shape[0]))
            m = rows.stop - rows.start
            I = x[rows]
            for l, layer in enumerate(dense):
                Z = buffers[l][:m]
                ops.dense_forward(I, layer.W, layer.b, Z)
                if l < len(dense) - 1:
                    ops.activation_forward(acts[l], Z, Z)      # hidden: A overwrites Z in place
                I = Z
            yield rows, I, out[:m]

    def predict(self, x, batch_size=None, verbose=0):
        """The network's outputs ŷ = f(x), shape (n_samples, units) (probabilities for softmax).

        The rows run in chunks in one compiled call; on two or more cores two threads share
        the chunks, each taking the next when it is done with one (the result does not
        depend on it, nor on batch_size).
        """
        self._require_built("predict")
        x = self._check_x(x, finite=False)          # the forward pass checks finiteness chunk by chunk
        if batch_size is not None:
            _positive_int("batch_size", batch_size)
        dense = self._dense_layers()
        result = np.empty((x.shape[0], self.output_units), dtype=self.dtype)
        workers = 2 if available_threads() >= 2 and x.shape[0] >= 256 else 1
        try:
            with limit_blas(1):
                get_backend(self.backend).forward(x, [layer.W for layer in dense], [layer.b for layer in dense],
                                                  self._activations(), result, self._predict_chunk(), workers)
        except ValueError as exc:
            raise ValueError(f"x holds NaN or infinite values ({exc})") from None
        return result

    def _predict_chunk(self):
        weight_bytes = sum(layer.W.nbytes for layer in self._dense_layers())
        return _PREDICT_ROWS_LARGE if weight_bytes > _LARGE_WEIGHTS else _PREDICT_ROWS_SMALL

    def _evaluate_prepared(self, x, labels, Y, w):
        ops, act, kind = get_backend(self.backend), self._activations()[-1], self._loss_kind
        total = hits = counted = 0.0
        acc_kind = self._accuracy_kind
        counters = self._metric_counters()
        self._reset_metrics()
        for rows, Z, out in self._forward(x):
            y = labels[rows] if labels is not None else Y[rows]
            wb = w[rows] if w is not None else None
            m = rows.stop - rows.start
            total += _losses.batch_loss(self.loss, kind, ops, act, Z, y, wb, out) * m
            if acc_kind == "argmax":
                truth = labels[rows] if labels is not None else np.argmax(Y[rows], axis=1)
                hits += np.sum(np.argmax(out, axis=1) == truth)
                counted += m
            elif acc_kind == "threshold":
                hits += np.sum((out > 0.5) == (Y[rows] > 0.5))
                counted += out.size
            if counters:                       # the counts the training loop makes, on this chunk
                ops.count_metrics(out, labels[rows] if labels is not None else None,
                                  Y[rows] if labels is None else None, counters)
        return self._metric_logs({"loss": total / x.shape[0]}, float(hits), float(counted))

    def evaluate(self, x, y, batch_size=None, verbose=0, sample_weight=None, return_dict=False):
        """Loss (mean over the samples) and metrics on (x, y): a float, ``[loss, *metrics]``, or a dict."""
        self._require_compiled()
        self._require_built("evaluate")
        logs = self._evaluate_prepared(*self._prepare(x, y, sample_weight))
        if verbose:
            print(" - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    # ------------------------------------------------------------ persistence

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "backend": self.backend,
                "input_dim": self.input_dim, "layers": [layer.get_config() for layer in self.layers]}

    def save(self, path):
        """Write architecture, compile settings, optimizer state and weights to one file
        (JSON + .npz, no pickle), atomically: a failure leaves any old file intact.

        fastnn's model files take the extension ``.fnn`` by convention (any name works) and
        are read back by ``fastnn.load_model``. A name ending in ``.keras``, ``.h5`` or
        ``.hdf5`` is refused with a ``ValueError``: fastnn does not write Keras' formats, and a
        fastnn file under a Keras name would only fail later, in Keras.
        """
        from fastnn.io import save_model
        save_model(self, path)

    def save_weights(self, path):
        """Write only the weights (with each Dense layer's name and shapes) to a fastnn file,
        atomically; ``load_weights`` reads it back into a model of the same architecture.
        As with ``save``, a Keras name (``.weights.h5``, ``.keras``) is refused: use e.g.
        ``"model.weights.fnn"``."""
        from fastnn.io import save_weights
        save_weights(self, path)

    def load_weights(self, path):
        """Copy the weights of a file written by ``save_weights`` (or ``save``) into this built
        model. A file of another architecture is a ``ValueError`` naming the layer and the shapes."""
        from fastnn.io import load_weights
        load_weights(self, path)

    def to_json(self, **kwargs):
        """The architecture as a JSON string (layers, dtype, backend, seed; no weights), as Keras'
        ``to_json``; ``fastnn.models.model_from_json`` builds a new, untrained model from it.
        Keyword arguments go to ``json.dumps`` (e.g. ``indent=2``)."""
        import json
        config = dict(self.get_config(), seed=self.seed)
        return json.dumps({"class_name": "Sequential", "config": config, "format": "fastnn"}, **kwargs)

    def export(self, filepath, format="onnx", opset=17):
        """Write the trained network for inference elsewhere; ``format="onnx"`` (the only one)
        writes an ONNX model (needs ``pip install fastnn[onnx]``): opset 17, input ``x`` of shape
        (batch, n_features) with a dynamic batch, output ``y``, one Gemm per Dense layer and its
        activation, in the model's dtype. A layer ONNX cannot express is a ``ValueError``
        naming it. See ``fastnn.export.to_onnx``."""
        if format != "onnx":
            raise ValueError(f"unknown export format {format!r}; fastnn exports 'onnx'")
        from fastnn.export import save_onnx
        save_onnx(self, filepath, opset=opset)


def _logs_as_keras(logs, return_dict):
    """Keras 3's return forms: a dict, the loss alone, or [loss, *metrics]."""
    if return_dict:
        return dict(logs)
    values = [float(v) if np.ndim(v) == 0 else np.asarray(v) for v in logs.values()]
    return values[0] if len(values) == 1 else values


def model_from_json(json_string):
    """A new Sequential from ``model.to_json()``: the same layers, dtype, backend and seed, so
    a seeded model starts from the same initial weights; not compiled, not trained."""
    import json
    from fastnn import layers as _layers
    try:
        document = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model_from_json needs the JSON text of model.to_json(): {exc}") from None
    if not isinstance(document, dict) or document.get("class_name") != "Sequential" \
            or not isinstance(document.get("config"), dict):
        raise ValueError("model_from_json needs the JSON of a fastnn Sequential (model.to_json()), "
                         f"got {str(json_string)[:80]!r}")
    config = document["config"]
    model = Sequential(name=config.get("name"), dtype=config.get("dtype", "float32"),
                       backend=config.get("backend", "compiled"), seed=config.get("seed"))
    if config.get("input_dim") is not None:
        model.add(InputLayer((config["input_dim"],)))
    for layer_config in config.get("layers", []):
        model.add(_layers.from_config(layer_config))
    return model


def load_model(path):
    """``fastnn.load_model``: read a model written by ``model.save``."""
    from fastnn.io import load_model as _load
    return _load(path)


def _input_size(input_shape):
    """n_features from Keras' forms of an input shape: n, (n,), (None, n) or a list of those."""
    shape = input_shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, list):
        shape = tuple(shape)
    if isinstance(shape, tuple) and len(shape) == 2 and shape[0] is None:
        shape = shape[1:]
    if (not isinstance(shape, tuple) or len(shape) != 1 or isinstance(shape[0], bool)
            or not isinstance(shape[0], (int, np.integer)) or shape[0] < 1):
        raise ValueError(f"input_shape must be n_features, (n_features,) or (None, n_features) with "
                         f"n_features >= 1, got {input_shape!r}; flatten images first")
    return int(shape[0])


def _numeric_array(value, name):
    """``value`` as a NumPy array of numbers (bool, int or float), or a ValueError naming it."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {a.dtype}")
    return a


def _positive_int(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be >= {0 if allow_zero else 1}, got {value}")
    return int(value)


class Perceptron:
    """Rosenblatt's perceptron (1958): h = step(w·x + b), trained sample by sample with

        w ← w + γ·(y − h)·x,    b ← b + γ·(y − h)

    which changes the weights only on mistakes. On linearly separable classes it
    stops making mistakes after finitely many updates.

    Parameters
    ----------
    learning_rate : float, default 1.0
        γ.
    max_epochs : int, default 100
        Passes over the data; training stops early after an epoch without mistakes.
    shuffle : bool, default True
    seed : int, optional

    Attributes
    ----------
    w : ndarray, shape (n_features,)
        The weights (None before ``fit``).
    b : float
        The bias.
    errors_ : list of int
        The mistakes made in each epoch of the last ``fit``.
    """

    def __init__(self, learning_rate=1.0, max_epochs=100, shuffle=True, seed=None):
        self.learning_rate = _optimizers._number("learning_rate", learning_rate, low=0.0)
        self.max_epochs = _positive_int("max_epochs", max_epochs)
        self.shuffle, self.seed = shuffle, seed
        self.w = None
        self.b = 0.0
        self.errors_ = []

    def fit(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"x must be 2-D (n_samples, n_features) with samples, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x holds NaN or infinite values")
        if y.shape != (x.shape[0],) or not np.all(np.isin(y, (0, 1))):
            raise ValueError(f"y must be ({x.shape[0]},) labels in {{0, 1}}")
        y = y.astype(np.float64)
        rng = np.random.default_rng(self.seed)
        self.w, self.b, self.errors_ = np.zeros(x.shape[1]), 0.0, []
        for _ in range(self.max_epochs):
            mistakes = 0
            for i in (rng.permutation(len(x)) if self.shuffle else range(len(x))):
                h = 1.0 if x[i] @ self.w + self.b >= 0 else 0.0        # step activation
                if h != y[i]:
                    self.w += self.learning_rate * (y[i] - h) * x[i]
                    self.b += self.learning_rate * (y[i] - h)
                    mistakes += 1
            self.errors_.append(mistakes)
            if mistakes == 0:
                break
        return self

    def decision_function(self, x):
        """z = w·x + b."""
        if self.w is None:
            raise ValueError("this Perceptron is not fitted yet; call fit first")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.w.shape[0]:
            raise ValueError(f"x must have shape (n_samples, {self.w.shape[0]}), got {x.shape}")
        return x @ self.w + self.b

    def predict(self, x):
        """h = step(z): 1 where w·x + b ≥ 0, else 0."""
        return (self.decision_function(x) >= 0).astype(np.int64)

    def score(self, x, y):
        """Accuracy on (x, y)."""
        return float(np.mean(self.predict(x) == np.asarray(y)))
