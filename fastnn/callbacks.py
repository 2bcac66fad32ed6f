"""Callbacks: hooks called by ``fit`` at the start and end of training and of each epoch."""
import math
import sys
import time

import numpy as np


class Callback:
    """Base class. ``self.model`` is set by ``fit``; set ``model.stop_training = True`` to stop."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


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
        parts += [f"{k}: {v:.4f}" for k, v in logs.items()]
        return " - ".join(parts)

    def on_batches_done(self, step, steps, logs):
        """Called by fit during an epoch (only when the line is live)."""
        print("\r" + self._line(step, steps, logs), end="", file=self._out, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.model.history.params.get("steps")
        prefix = "\r" if self.live else ""
        print(prefix + self._line(steps, steps, logs or {}), file=self._out, flush=True)
