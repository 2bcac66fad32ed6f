"""Penalties on a layer's weights, Keras 3's: a term of the loss and of its gradient.

``Dense(..., kernel_regularizer=L2(0.01))`` adds l2·ΣW² to the loss each step reports and
2·l2·W to the gradient of W before the optimizer's step (L1: l1·Σ|W| and l1·sign(W)). The
compiled training loop applies them inside the optimizer's kernel, on the weights before
the step; ``dW`` still shows the gradient of the mean batch loss alone.
"""
import numpy as np


class Regularizer:
    """Base class: ``regularizer(w)`` is the penalty's value on w."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, w):
        w = np.asarray(w, dtype=np.float64)
        return float(self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum())

    def gradient(self, w):
        """∂(penalty)/∂w = l1·sign(w) + 2·l2·w."""
        w = np.asarray(w)
        return self.l1 * np.sign(w) + 2 * self.l2 * w

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


def _factor(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


class L1(Regularizer):
    """l1·Σ|w| (gradient l1·sign(w))."""

    def __init__(self, l1=0.01):
        self.l1 = _factor("l1", l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2·Σw² (gradient 2·l2·w)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor("l2", l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1·Σ|w| + l2·Σw²."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)


REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(regularizer):
    """None, a regularizer, or a name ("l1", "l2", "l1_l2": Keras' default factors)."""
    if regularizer is None or isinstance(regularizer, Regularizer):
        return regularizer
    if isinstance(regularizer, str) and regularizer.lower() in REGULARIZERS:
        return REGULARIZERS[regularizer.lower()]()
    raise ValueError(f"unknown regularizer {regularizer!r}; expected None, one of {', '.join(REGULARIZERS)} "
                     "or a fastnn.regularizers object")


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config):
    if config is None:
        return None
    if config.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown regularizer in config: {config!r}")
    return _CLASSES[config["class_name"]](**config["config"])
