"""Stochastic gradient descent with momentum and time-based decay, the course's optimizer.

    γ_t = γ / (1 + decay·t)          t = number of updates already made (0 at the first)
    v  ← μ·v − γ_t·∂L/∂θ
    θ  ← θ + v                       (Nesterov: θ ← θ + μ·v − γ_t·∂L/∂θ)
"""
import numpy as np


class SGD:
    """Mini-batch SGD with momentum μ, time-based decay and optional Nesterov momentum.

    Parameters
    ----------
    learning_rate : float, default 0.01
        γ, the step size (``lr=`` is accepted as an alias, as in the course's Keras script).
    momentum : float in [0, 1], default 0
        μ, the fraction of the previous step kept in the velocity v.
    decay : float ≥ 0, default 0
        The rate of step t is γ / (1 + decay·t).
    nesterov : bool, default False

    Attributes
    ----------
    iterations : int
        t, the number of updates made so far (kept across ``fit`` calls, saved with the model).
    velocities : list of ndarray or None
        v for each parameter, in the order of ``model.get_weights()``.
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, decay=0.0, nesterov=False, *, lr=None):
        if lr is not None:
            if learning_rate != 0.01 and learning_rate != lr:
                raise ValueError("give the learning rate once: learning_rate= or its alias lr=")
            learning_rate = lr
        self.learning_rate = _number("learning_rate", learning_rate, low=0.0)
        self.momentum = _number("momentum", momentum, low=0.0, high=1.0)
        self.decay = _number("decay", decay, low=0.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        self.iterations = 0
        self.velocities = None

    @property
    def lr(self):
        """Alias of ``learning_rate``."""
        return self.learning_rate

    def current_learning_rate(self, t=None):
        """γ_t = γ / (1 + decay·t) for step t (default: the next step)."""
        t = self.iterations if t is None else t
        return self.learning_rate / (1.0 + self.decay * t)

    def velocities_for(self, params):
        """The velocity of each parameter, created as zeros on first use (or if the shapes changed)."""
        if self.velocities is None or [v.shape for v in self.velocities] != [p.shape for p in params] \
                or any(v.dtype != p.dtype for v, p in zip(self.velocities, params)):
            self.velocities = [np.zeros_like(p) for p in params]
        return self.velocities

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "momentum": self.momentum,
                "decay": self.decay, "nesterov": self.nesterov}

    def __repr__(self):
        return (f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum}, "
                f"decay={self.decay}, nesterov={self.nesterov})")


def _number(name, value, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value}")
    return value


def get(optimizer):
    """An optimizer from a name ("sgd") or an optimizer object."""
    if isinstance(optimizer, SGD):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() == "sgd":
        return SGD()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected 'sgd' or a fastnn.optimizers.SGD")


def from_config(config):
    config = dict(config)
    if config.pop("name", None) != "sgd":
        raise ValueError(f"unknown optimizer in config: {config!r}")
    return SGD(**config)
