"""Learning-rate schedules: the rate of step t (t = the updates already made, 0 at the first).

Keras 3's schedules, with its names, defaults and formulas. Each is a callable of the step
that also takes a NumPy array of steps: the training loop asks for the rates of all the
steps of a call at once, so a schedule costs nothing per step. Any Python callable of the
step (returning a rate ≥ 0) works as a schedule too.
"""
import math

import numpy as np


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate of step ``step``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _steps(step):
    return np.asarray(step, dtype=np.float64)


class _RateDecay(LearningRateSchedule):
    """The settings ExponentialDecay and InverseTimeDecay share; p = t / decay_steps
    (⌊t / decay_steps⌋ with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = _non_negative("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _non_negative("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name or type(self).__name__

    def _p(self, step):
        p = _steps(step) / self.decay_steps
        return np.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """γ_t = γ₀ · decay_rate^(t / decay_steps)   (staircase: ⌊t / decay_steps⌋)."""

    def __call__(self, step):
        return self.initial_learning_rate * np.power(self.decay_rate, self._p(step))


class InverseTimeDecay(_RateDecay):
    """γ_t = γ₀ / (1 + decay_rate · t / decay_steps)   (staircase: ⌊t / decay_steps⌋).

    The course's time-based decay, γ / (1 + decay·t), is ``InverseTimeDecay(γ, 1, decay)``.
    """

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._p(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] for t ≤ boundaries[0], values[i] for boundaries[i-1] < t ≤ boundaries[i],
    values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"values must have one more entry than boundaries: got {len(values)} values "
                             f"for {len(boundaries)} boundaries")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must increase, got {boundaries}")
        self.boundaries = boundaries
        self.values = [_non_negative("values[]", v) for v in values]
        self.name = name

    def __call__(self, step):
        index = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), _steps(step), side="left")
        return np.asarray(self.values, dtype=np.float64)[index]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """γ_t = (γ₀ − γ_end) · (1 − min(t, T) / T)^power + γ_end, T = decay_steps
    (cycle: T grows to the next multiple of decay_steps past t)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = _non_negative("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.end_learning_rate = _non_negative("end_learning_rate", end_learning_rate)
        self.power = _non_negative("power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        t = _steps(step)
        decay_steps = np.float64(self.decay_steps)
        if self.cycle:
            multiplier = np.where(t == 0, 1.0, np.ceil(t / decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            t = np.minimum(t, decay_steps)
        fraction = t / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * np.power(1 - fraction, self.power)
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """After an optional linear warmup from γ₀ to warmup_target over warmup_steps, the
    rate follows half a cosine from its peak γ_p (warmup_target, or γ₀) over decay_steps:

        γ_t = γ_p · ((1 − alpha) · ½(1 + cos(π · min(t', T) / T)) + alpha),  t' = t − warmup_steps
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = _non_negative("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = _non_negative("alpha", alpha)
        self.warmup_target = None if warmup_target is None else _non_negative("warmup_target", warmup_target)
        self.warmup_steps = _non_negative("warmup_steps", warmup_steps)
        self.name = name

    def _decay(self, t, peak):
        cosine = 0.5 * (1.0 + np.cos(math.pi * (t / self.decay_steps)))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        t = _steps(step)
        if self.warmup_target is None:
            return self._decay(np.minimum(t, self.decay_steps), self.initial_learning_rate)
        t = np.minimum(t, self.decay_steps + self.warmup_steps)
        warmup = (self.warmup_target - self.initial_learning_rate) * (t / max(self.warmup_steps, 1e-300)) \
            + self.initial_learning_rate
        return np.where(t < self.warmup_steps, warmup, self._decay(t - self.warmup_steps, self.warmup_target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                           PolynomialDecay, CosineDecay)}


def serialize(schedule):
    """{"class_name": ..., "config": ...} of a built-in schedule."""
    if type(schedule).__name__ not in SCHEDULES:
        raise ValueError(f"only the built-in schedules can be saved ({', '.join(SCHEDULES)}), "
                         f"got {schedule!r}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    name = config.get("class_name")
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name].from_config(config["config"])
