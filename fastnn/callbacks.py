"""Callbacks: hooks called by ``fit`` at the start and end of training, of each epoch and,
when a callback asks for them, of each batch (Keras 3's names, signatures and defaults).

======================  =====================================================================
callback                what it does
======================  =====================================================================
History                 records the epoch logs (``fit`` returns it)
EarlyStopping           stops when a monitored value stops improving
TerminateOnNaN          stops on a non-finite loss
ModelCheckpoint         saves the model (or its weights) each epoch, or when it is the best
LearningRateScheduler   sets the learning rate η at the start of each epoch: η ← schedule(epoch, η)
ReduceLROnPlateau       η ← max(factor·η, min_lr) after ``patience`` epochs without improvement
CSVLogger               writes the epoch logs to a CSV file
LambdaCallback          a callback made of functions
TensorBoard             writes the logs (and histograms of W, b and δ) for TensorBoard
======================  =====================================================================

The learning rate these callbacks read and change is the optimizer's ``learning_rate``
attribute (η; SGD's time-based decay still applies on top); the compiled loop reads it at
the start of every call, so a change made in a callback applies from the next step on. An
optimizer created with a schedule reports the schedule's rate for the next step and cannot
have its rate set by a callback (a TypeError, as in Keras 3).
"""
import csv
import math
import os
import sys
import time
import warnings

import numpy as np


def _format_value(value):
    """A logged value for a progress line: 0.1234, or [0.1234, 0.5678] for a metric per class."""
    if np.ndim(value) == 0:
        return f"{float(value):.4f}"
    return "[" + ", ".join(f"{float(v):.4f}" for v in np.ravel(value)) + "]"


class Callback:
    """Base class. ``self.model`` is set by ``fit``; set ``model.stop_training = True`` to stop
    (``fit`` ends after the current step).

    The batch hooks ``on_train_batch_begin(batch, logs)`` and ``on_train_batch_end(batch, logs)``
    (and Keras' older ``on_batch_begin``/``on_batch_end``) are called only when a callback
    defines them: training then returns from the compiled loop after every step. ``batch`` is
    the step's index in the epoch; ``logs`` of the batch end hold the epoch's loss and
    metrics so far.
    """

    model = None
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def _implements_train_batch_hooks(self):
        """True when a batch hook is overridden (by the class or on the instance)."""
        names = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        return any(getattr(type(self), name) is not getattr(Callback, name) or name in vars(self)
                   for name in names)

    def _train_batch_stride(self):
        """Every how many steps the batch hooks need to run (1: after every step)."""
        return 1


class History(Callback):
    """Records the per-epoch logs; ``fit`` returns it.

    Attributes
    ----------
    history : dict of list
        ``loss``, each metric, and ``val_`` + each of those when validating, one value per epoch.
        ``loss`` is the mean of the epoch's batch losses, each computed before that batch's update.
    epoch : list of int
    params : dict
        epochs, steps (batches per epoch), batch_size, samples.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
    patience : int, default 0
    min_delta : float, default 0
        A change smaller than this is no improvement.
    mode : "auto", "min" or "max"
        auto: maximise accuracies, minimise everything else.
    restore_best_weights : bool, default False
        At the end, put back the weights of the best epoch.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False, verbose=0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not among the logged "
                             f"values {sorted(logs)}; pass validation data for val_ values")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:       # Keras: stop after `patience` epochs without improvement
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping "
                  f"(best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1})")


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite.

    ``fit`` always does this at the first non-finite batch loss (before applying
    that batch's update) and says at which epoch and step; this callback is
    kept for Keras scripts that list it, and also stops on a non-finite epoch log.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True


class ProgbarLogger(Callback):
    """Keras-style progress line per epoch: steps, elapsed time, time per step, loss, metrics.

    On a terminal the line is redrawn while the epoch runs; elsewhere (a log file,
    a notebook capture) it is printed once at the end of each epoch.
    """

    def __init__(self, stream=None):
        self.stream = stream

    @property
    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    @property
    def live(self):
        try:
            return self._out.isatty()
        except (AttributeError, ValueError):
            return False

    def on_train_begin(self, logs=None):
        self.epochs = self.model.history.params.get("epochs")

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.epochs}", file=self._out, flush=True)

    def _line(self, step, steps, logs):
        elapsed = time.perf_counter() - self._start
        width = 30
        done = int(width * step / steps) if steps else width
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        per_step = elapsed / step if step else 0.0
        pace = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
        parts = [f"{step}/{steps} [{bar}] - {elapsed:.0f}s {pace}"]
        parts += [f"{k}: {_format_value(v)}" for k, v in logs.items()]
        return " - ".join(parts)

    def on_batches_done(self, step, steps, logs):
        """Called by fit during an epoch (only when the line is live)."""
        print("\r" + self._line(step, steps, logs), end="", file=self._out, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.model.history.params.get("steps")
        prefix = "\r" if self.live else ""
        print(prefix + self._line(steps, steps, logs or {}), file=self._out, flush=True)


# ---------------------------------------------------------------- monitoring a logged value

_GROWING = ("accuracy", "acc", "precision", "recall", "auc", "f1_score", "fbeta_score",
            "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
            "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy")
_SHRINKING = ("loss", "mae", "mean_absolute_error", "mse", "mean_squared_error", "rmse",
              "root_mean_squared_error")


def _direction(callback, monitor, mode):
    """"min" or "max" for ``monitor``: ``mode`` itself, or in "auto" mode from the name (Keras 3:
    a loss is minimised, an accuracy-like metric maximised, any other name is an error)."""
    if mode in ("min", "max"):
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    for metric in getattr(callback.model, "metrics", None) or []:
        if getattr(metric, "name", None) == name and getattr(metric, "_direction", None) in ("up", "down"):
            return "max" if metric._direction == "up" else "min"
    if name in _GROWING:
        return "max"
    if name in _SHRINKING:
        return "min"
    raise ValueError(f"{type(callback).__name__} received monitor={monitor!r}, but fastnn cannot tell whether "
                     "it should be maximized or minimized: pass mode='max' or mode='min'")


def _check_mode(callback, mode):
    if mode not in ("auto", "min", "max"):            # Keras warns and falls back to auto
        warnings.warn(f"{type(callback).__name__} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


# ---------------------------------------------------------------- ModelCheckpoint


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after every epoch, or every ``save_freq`` steps,
    or only when the monitored value is the best so far.

    Every write goes to a temporary file in the same folder first and is renamed over the
    checkpoint (``os.replace``), so a failed write leaves the previous checkpoint intact.

    Parameters
    ----------
    filepath : str or path
        Where to save; may hold ``{epoch:02d}`` (1-based, as Keras) and any logged value, e.g.
        ``"ckpt/{epoch:02d}-{val_loss:.4f}.fnn"``. Files are fastnn's format (``model.save``, or
        ``model.save_weights`` with ``save_weights_only``); Keras' ``.keras``/``.h5`` names are
        refused here, at once. A missing folder is created when training starts; one that
        cannot be is an ``OSError`` naming it before the first step.
    monitor : str, default "val_loss"
    verbose : 0 or 1
        1 prints a line when a checkpoint is saved (or not, with ``save_best_only``).
    save_best_only : bool, default False
        Save only when ``monitor`` improved on the best value so far.
    save_weights_only : bool, default False
    mode : "auto", "min" or "max"
        auto: minimise losses and errors, maximise accuracy-like metrics.
    save_freq : "epoch" or int
        An int k saves after every k training steps (the compiled loop then returns to Python
        every k steps).
    initial_value_threshold : float, optional
        The "best" value to beat at the start (with ``save_best_only``).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        from fastnn.io import check_path
        self.filepath = check_path(filepath, weights=save_weights_only)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.mode = _check_mode(self, mode)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                             "a positive integer (a number of training steps)")
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def _train_batch_stride(self):
        # every gcd(k, steps) steps: the saves then fall on the same steps as when called after each one
        return 1 if self.save_freq == "epoch" else math.gcd(self.save_freq, (self.params or {}).get("steps", 1))

    def on_train_begin(self, logs=None):
        folder = os.path.dirname(self.filepath)
        if folder and "{" not in folder:           # a folder named by logged values is made at each save
            _make_folder(folder, "ModelCheckpoint", self.filepath)
        self._monitor_max = (_direction(self, self.monitor, self.mode) == "max") if self.save_best_only else None
        self._batches_seen_since_last_saving = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        self._last_batch_seen = -1

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def _should_save_on_batch(self, batch):
        """Count the steps since the last save, across epochs (``batch`` may jump by more than one)."""
        if self.save_freq == "epoch":
            return False
        self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as exc:
            raise KeyError(f"Failed to format this callback filepath: {self.filepath!r}. Reason: {exc} is "
                           f"not among the logged values {sorted(logs)}") from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        # before the first value, as Keras prints its starting best: inf (min) or -inf (max)
        best = ("-inf" if self._monitor_max else "inf") if self.best is None else f"{self.best:.5f}"
        improved = self.best is None or (current > self.best if self._monitor_max else current < self.best)
        if improved:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder and not os.path.isdir(folder):
            _make_folder(folder, "ModelCheckpoint", filepath)
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"Please specify a non-directory filepath for ModelCheckpoint. "
                                    f"Filepath used is an existing directory: {filepath}")
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


def _make_folder(folder, who, filepath):
    """Create ``folder`` (and its parents) or raise an OSError naming it; check it is writable."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"{who} cannot create the folder {folder!r} for {filepath!r}: "
                                 f"{exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{who} cannot write into the folder {folder!r} (for {filepath!r})")


# ---------------------------------------------------------------- learning rate


def _learning_rate(model):
    """The optimizer's learning rate as a number: ``learning_rate`` itself, or for a schedule
    its rate at the next step (as Keras 3's ``optimizer.learning_rate`` reads)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    rate = optimizer.learning_rate
    if isinstance(rate, (int, float, np.number)):
        return float(rate)
    return float(optimizer.current_learning_rate())


def _set_learning_rate(model, value, who):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    if not isinstance(optimizer.learning_rate, (int, float, np.number)):
        raise TypeError(f"{who} cannot set the learning rate of an optimizer created with a schedule "
                        f"({optimizer.learning_rate!r}) as its learning_rate: create it with a number "
                        "to have the rate set by a callback (as Keras 3 requires)")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{who} set the learning rate to {value}; it must be a finite number >= 0")
    optimizer.learning_rate = value


class LearningRateScheduler(Callback):
    """At the start of every epoch set the optimizer's learning rate η to ``schedule(epoch, η)``
    (``epoch`` counts from 0; a one-argument ``schedule(epoch)`` works too, as in Keras).
    ``learning_rate`` is added to each epoch's logs (and so to History).

    With SGD's time-based decay, η is the rate before the decay: step t still uses
    η / (1 + decay·t).
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"schedule must be a function schedule(epoch, lr), got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            lr = self.schedule(epoch, _learning_rate(self.model))
        except TypeError:                        # Keras' older one-argument schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr!r}")
        _set_learning_rate(self.model, lr, "LearningRateScheduler")
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` (not below ``min_lr``) when ``monitor`` has not
    improved by more than ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs
    before counting again. ``learning_rate`` is added to each epoch's logs (and to History).

    Parameters
    ----------
    monitor : str, default "val_loss"
    factor : float < 1, default 0.1
        η ← max(factor·η, min_lr).
    patience : int, default 10
    verbose : 0 or 1
    mode : "auto", "min" or "max"
        auto: maximise a name containing "acc", minimise anything else (as Keras).
    min_delta : float, default 1e-4
    cooldown : int, default 0
    min_lr : float, default 0
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), int(cooldown), float(min_lr)
        self.mode = mode
        self._reset()

    def _reset(self):
        if self.mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {self.mode} is unknown, fallback to auto mode.",
                          stacklevel=3)
            self.mode = "auto"
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _learning_rate(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=3)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _learning_rate(self.model)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    _set_learning_rate(self.model, new_lr, "ReduceLROnPlateau")
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# ---------------------------------------------------------------- CSVLogger, LambdaCallback


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file: ``epoch`` (from 0, as Keras) and the logged values
    in sorted order (``val_`` columns are included from the start; a missing value is "NA").

    Parameters
    ----------
    filename : str or path
    separator : str, default ","
    append : bool, default False
        Append to an existing file (no second header) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.sep, self.append = separator, append
        self.keys = self.writer = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) > 0:
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback made of functions, called with Keras' positional arguments:
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``.
    Giving a batch function makes ``fit`` return to Python after every step."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        self.__dict__.update(kwargs)
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in given.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(f"LambdaCallback's {name} must be a function, got {function!r}")
                setattr(self, name, function)


# ---------------------------------------------------------------- TensorBoard


class TensorBoard(Callback):
    """Write the training logs for TensorBoard (``tensorboard --logdir logs``), through
    ``tensorboardX`` (``pip install fastnn[tensorboard]``; no TensorFlow needed).

    As Keras 3: ``log_dir/train`` gets ``epoch_loss``, ``epoch_accuracy``, ...,
    ``epoch_learning_rate`` at step = epoch (from 0), ``log_dir/validation`` the ``val_`` values
    under the same tags (``epoch_loss``, ...). With ``update_freq`` = "batch" or k, the train
    folder also gets ``batch_loss``, ... every k steps (the epoch's values so far, at the
    number of steps done in this fit). With ``histogram_freq`` = k, every k-th epoch writes
    histograms of each Dense layer's weights and of its δ of the epoch's last batch:
    ``<layer>/kernel/histogram``, ``<layer>/bias/histogram``, ``<layer>/delta/histogram``.

    Parameters
    ----------
    log_dir : str or path, default "logs"
    histogram_freq : int, default 0 (no histograms)
    update_freq : "epoch" (default), "batch" or int
    """

    def __init__(self, log_dir="logs", histogram_freq=0, update_freq="epoch"):
        try:
            import tensorboardX
        except ImportError:
            raise ImportError("fastnn.callbacks.TensorBoard writes through the tensorboardX package, which is "
                              "not installed: pip install tensorboardX  (or pip install fastnn[tensorboard])") from None
        self._SummaryWriter = tensorboardX.SummaryWriter
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, (int, np.integer)) or histogram_freq < 0:
            raise ValueError(f"histogram_freq must be an integer >= 0, got {histogram_freq!r}")
        if update_freq == "batch":
            update_freq = 1
        elif update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer))
                                         or update_freq < 1):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer, got {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq if update_freq == "epoch" else int(update_freq)
        self._writers = {}

    def _implements_train_batch_hooks(self):
        return self.update_freq != "epoch"

    def _train_batch_stride(self):
        return 1 if self.update_freq == "epoch" else math.gcd(self.update_freq, (self.params or {}).get("steps", 1))

    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = self._SummaryWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs=None):
        self._steps_before_epoch = 0        # steps of this fit's earlier epochs
        self._last_written = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        step = self._steps_before_epoch + batch + 1
        self._epoch_steps = batch + 1
        if step // self.update_freq > self._last_written // self.update_freq:
            self._last_written = step
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                if np.ndim(value) == 0:             # (a metric per class is not a scalar)
                    writer.add_scalar("batch_" + name, value, step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self._steps_before_epoch += self._epoch_steps if self.update_freq != "epoch" else 0
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if hasattr(getattr(self.model, "optimizer", None), "learning_rate"):
            train["learning_rate"] = _learning_rate(self.model)
        for which, values in (("train", train), ("validation", val)):
            if values:
                writer = self._writer(which)
                for name, value in values.items():
                    if np.ndim(value) == 0:
                        writer.add_scalar("epoch_" + name, value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for layer in self.model._dense_layers():
                writer.add_histogram(f"{layer.name}/kernel/histogram", layer.W, epoch)
                if layer.b is not None:
                    writer.add_histogram(f"{layer.name}/bias/histogram", layer.b, epoch)
                if layer.delta is not None and layer.delta.size:
                    writer.add_histogram(f"{layer.name}/delta/histogram", layer.delta, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
