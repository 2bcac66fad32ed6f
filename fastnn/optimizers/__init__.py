"""Optimizers: the course's SGD with momentum and time-based decay, and Keras 3's Adam,
AdamW, RMSprop and Adagrad, each an update rule applied by one compiled kernel
(``fnn_optimizer_step``, csrc/fastnn_kernels.h) inside the training loop.

The course's rule:

    γ_t = γ / (1 + decay·t)          t = number of updates already made (0 at the first)
    v  ← μ·v − γ_t·∂L/∂θ
    θ  ← θ + v                       (Nesterov: θ ← θ + μ·v − γ_t·∂L/∂θ)

Every optimizer takes ``learning_rate`` as a number, a schedule from
``fastnn.optimizers.schedules`` or any callable of the step t, ``weight_decay``
(decoupled, as Keras: θ ← θ − γ_t·wd·θ before the step, biases included) and one of
``clipnorm`` (each parameter's gradient scaled to a norm of at most clipnorm),
``global_clipnorm`` (all of them scaled together to a joint norm of at most that) and
``clipvalue`` (each gradient value clipped to [−clipvalue, clipvalue]). The formulas of
each rule are in ``fastnn.backend.numpy_backend.optimizer_step``.
"""
import math

import numpy as np

from fastnn.optimizers import schedules

RULE_STATES = {"sgd": 1, "adam": 3, "rmsprop": 3, "adagrad": 1}


class Optimizer:
    """Base of the optimizers: the rate of each step, the state arrays, the configuration.

    Attributes
    ----------
    iterations : int
        t, the number of updates made so far (kept across ``fit`` calls, saved with the model).
    variables : list of list of ndarray, or None
        The rule's state arrays for each parameter, in the order of ``model.get_weights()``
        (SGD: the velocity v; Adam: m, v and v̂; RMSprop: the mean square, the momentum
        buffer, the mean gradient; Adagrad: the accumulator), made on first use.
    """

    name = None
    kind = None             # the rule: "sgd", "adam", "rmsprop", "adagrad"

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        if callable(learning_rate) and not isinstance(learning_rate, (int, float, np.number)):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _number("learning_rate", learning_rate, low=0.0)
        self.weight_decay = None if weight_decay is None else _number("weight_decay", weight_decay, low=0.0)
        for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None and _number(name, value, low=0.0) <= 0:
                raise ValueError(f"{name} must be > 0 (or None), got {value}")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.iterations = 0
        self.variables = None

    # ---- the rate of each step

    def _base_rates(self, steps):
        """The learning rate (its schedule applied) of each step t in steps."""
        if isinstance(self.learning_rate, float):
            return np.full(steps.shape, self.learning_rate)
        if isinstance(self.learning_rate, schedules.LearningRateSchedule):
            return np.broadcast_to(np.asarray(self.learning_rate(steps), dtype=np.float64), steps.shape)
        return np.array([float(self.learning_rate(int(t))) for t in steps], dtype=np.float64)

    def rates(self, first_step, count):
        """The learning rate of each of the steps first_step .. first_step + count - 1, as
        float64; a schedule that gives a negative or non-finite rate is a ValueError."""
        lr = self.learning_rate
        if isinstance(lr, float) and math.isfinite(lr) and lr >= 0:
            return np.full(count, lr)       # a valid constant: checked once, not per step
        steps = first_step + np.arange(count, dtype=np.int64)
        rates = np.array(self._base_rates(steps), dtype=np.float64)          # a copy of its own
        bad = ~np.isfinite(rates) | (rates < 0)
        if bad.any():
            t = int(steps[np.argmax(bad)])
            raise ValueError(f"the learning-rate schedule {self.learning_rate!r} gave {rates[t - first_step]} "
                             f"at step {t}; a rate must be a finite number >= 0")
        return rates

    def current_learning_rate(self, t=None):
        """The rate of step t (default: the next step)."""
        t = self.iterations if t is None else t
        return float(self.rates(t, 1)[0])

    # ---- the rule and its state

    def rule(self):
        """The update rule as the compiled loop takes it (fastnn._kernels.optim.RULE_DEFAULTS)."""
        return {"kind": self.kind, "weight_decay": self.weight_decay or 0.0, "clipvalue": self.clipvalue or 0.0,
                "clipnorm": self.clipnorm or 0.0, "global_clipnorm": self.global_clipnorm or 0.0}

    def _initial_state(self, param, k):
        return np.zeros_like(param)

    def variables_for(self, params):
        """The state arrays of each parameter, made on first use (or if the shapes changed)."""
        n = RULE_STATES[self.kind]
        if self.variables is None or [[s.shape for s in v] for v in self.variables] != \
                [[p.shape] * n for p in params] or any(s.dtype != p.dtype for v, p in zip(self.variables, params)
                                                       for s in v):
            self.variables = [[self._initial_state(p, k) for k in range(n)] for p in params]
        return self.variables

    @property
    def velocities(self):
        """The first state array of each parameter (SGD's velocity v), or None."""
        return None if self.variables is None else [v[0] for v in self.variables]

    @velocities.setter
    def velocities(self, arrays):
        if arrays is None:
            self.variables = None
            return
        n = RULE_STATES[self.kind]
        self.variables = [[a] + [self._initial_state(a, k) for k in range(1, n)] for a in arrays]

    def velocities_for(self, params):
        return [v[0] for v in self.variables_for(params)]

    # ---- configuration

    def get_config(self):
        rate = self.learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            rate = schedules.serialize(rate)
        elif not isinstance(rate, float):
            raise ValueError(f"a learning rate given as {rate!r} cannot be saved: use a number or a schedule "
                             "from fastnn.optimizers.schedules")
        return {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("name", None)
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            config["learning_rate"] = schedules.deserialize(rate)
        return cls(**config)

    def __repr__(self):
        config = {k: v for k, v in self.get_config().items() if k != "name"} \
            if not callable(self.learning_rate) or isinstance(self.learning_rate, schedules.LearningRateSchedule) \
            else {"learning_rate": self.learning_rate}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


class SGD(Optimizer):
    """Mini-batch SGD with momentum μ, time-based decay and optional Nesterov momentum.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.01
        γ, the step size (``lr=`` is accepted as an alias, as in the course's Keras script).
    momentum : float in [0, 1], default 0
        μ, the fraction of the previous step kept in the velocity v.
    decay : float ≥ 0, default 0
        The rate of step t is γ / (1 + decay·t) (the course's Keras 2 rule; with a schedule,
        its rate divided by 1 + decay·t).
    nesterov : bool, default False
    weight_decay, clipnorm, clipvalue, global_clipnorm : see ``Optimizer``.

    Attributes
    ----------
    iterations : int
        t, the number of updates made so far (kept across ``fit`` calls, saved with the model).
    velocities : list of ndarray or None
        v for each parameter, in the order of ``model.get_weights()``.
    """

    name = "sgd"
    kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, decay=0.0, nesterov=False, *, lr=None,
                 weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        if lr is not None:
            if learning_rate != 0.01 and learning_rate != lr:
                raise ValueError("give the learning rate once: learning_rate= or its alias lr=")
            learning_rate = lr
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum = _number("momentum", momentum, low=0.0, high=1.0)
        self.decay = _number("decay", decay, low=0.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    @property
    def lr(self):
        """Alias of ``learning_rate``."""
        return self.learning_rate

    def rates(self, first_step, count):
        """γ_t = γ / (1 + decay·t) for each step t (γ: the schedule's rate of step t)."""
        rates = super().rates(first_step, count)
        if self.decay:
            rates = rates / (1.0 + self.decay * (first_step + np.arange(count, dtype=np.int64)))
        return rates

    def rule(self):
        return dict(super().rule(), momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, decay=self.decay, nesterov=self.nesterov)


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras 3's form:

        m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v)
        θ ← θ − α·m / (√v + ε),  α = γ_t·√(1 − β₂^(t+1)) / (1 − β₁^(t+1))

    with ``amsgrad=True``, v̂ ← max(v̂, v) takes v's place in the step.
    """

    name = "adam"
    kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _beta("beta_1", beta_1)
        self.beta_2 = _beta("beta_2", beta_2)
        self.epsilon = _number("epsilon", epsilon, low=0.0)
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise TypeError(f"amsgrad must be True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)

    def rule(self):
        return dict(super().rule(), beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                    amsgrad=self.amsgrad)

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                    amsgrad=self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (θ ← θ − γ_t·wd·θ before each step), wd = 0.004 by default."""

    name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (a number >= 0)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm)


class RMSprop(Optimizer):
    """RMSprop, Keras 3's form:

        v ← ρ·v + (1−ρ)·g²;  Δ = γ_t·g / √(v + ε);  θ ← θ − Δ
        centered: ḡ ← ρ·ḡ + (1−ρ)·g and Δ = γ_t·g / √(v − ḡ² + ε)
        momentum μ > 0: s ← μ·s + Δ;  θ ← θ − s
    """

    name = "rmsprop"
    kind = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = _beta("rho", rho)
        self.momentum = _number("momentum", momentum, low=0.0, high=1.0)
        self.epsilon = _number("epsilon", epsilon, low=0.0)
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered must be True or False, got {centered!r}")
        self.centered = bool(centered)

    def rule(self):
        return dict(super().rule(), rho=self.rho, momentum=self.momentum, epsilon=self.epsilon,
                    centered=self.centered)

    def get_config(self):
        return dict(super().get_config(), rho=self.rho, momentum=self.momentum, epsilon=self.epsilon,
                    centered=self.centered)


class Adagrad(Optimizer):
    """Adagrad: a ← a + g²;  θ ← θ − γ_t·g / √(a + ε), a starting at initial_accumulator_value."""

    name = "adagrad"
    kind = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, low=0.0)
        self.epsilon = _number("epsilon", epsilon, low=0.0)

    def _initial_state(self, param, k):
        return np.full_like(param, self.initial_accumulator_value)

    def rule(self):
        return dict(super().rule(), epsilon=self.epsilon)

    def get_config(self):
        return dict(super().get_config(), initial_accumulator_value=self.initial_accumulator_value,
                    epsilon=self.epsilon)


def _number(name, value, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value}")
    return value


def _beta(name, value):
    value = _number(name, value, low=0.0)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(optimizer):
    """An optimizer from a name ("sgd", "adam", "adamw", "rmsprop", "adagrad") or an optimizer object."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)} "
                     "or a fastnn.optimizers object")


def from_config(config):
    config = dict(config)
    name = config.get("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer in config: {config!r}")
    return OPTIMIZERS[name].from_config(config)
