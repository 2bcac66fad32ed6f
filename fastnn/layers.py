"""Layers: Dense (a fully connected layer) and Activation.

A Dense layer of H units on n_in inputs computes, for a batch X of shape (batch, n_in),

    Z = X·W + b        W: (n_in, H) weights,  b: (H,) biases
    A = g(Z)           g: the activation (see fastnn.activations)

After a training step the layer shows the course's quantities of the last batch
(NumPy views onto the model's training buffers, so looking costs nothing):

    X      its input I_l                      (batch, n_in)
    Z      the affine output                  (batch, H)
    A      the activation output              (batch, H)
    delta  the sensitivity δ = ∂E/∂Z          (batch, H)
    dW     the gradient ∂E/∂W = Xᵀ·δ          (n_in, H)
    db     the gradient ∂E/∂b = Σ_batch δ     (H,)

Here E is the loss of the whole batch, the mean of its n samples' losses
(E = (1/n) Σ_b w_b E_b, w_b = 1 without class or sample weights), so δ is
∂(mean batch loss)/∂Z and each row carries a factor 1/n: for a softmax output
with cross-entropy, δ = (A − Y)/n (row b times w_b); for mean squared error on
k outputs, δ = 2(A − Y)/(n·k) ⊙ g′(Z). The backward rule δ_l = (δ_{l+1}·W_{l+1}ᵀ)
⊙ g′(Z_l) carries the 1/n down to every layer. Why the mean and not the sum:
dW = Xᵀ·δ is then the *average* of the samples' gradients, so a learning rate γ
means the same step whatever the batch size (γ = 0.01 with batches of 100, as in
the course's Keras script, which also takes the mean). With one sample, as in
the course's worked example, n = 1 and δ is ∂E/∂Z of that sample.
"""
import numpy as np

from fastnn import activations as _activations
from fastnn import regularizers as _regularizers
from fastnn import initializers


class Layer:
    """Common behaviour: a name, parameters, and the last batch's views."""

    _counter = {}

    def __init__(self, name=None):
        kind = type(self).__name__.lower()
        if name is None:
            n = Layer._counter.get(kind, 0)
            Layer._counter[kind] = n + 1
            name = kind if n == 0 else f"{kind}_{n}"
        self.name = name
        self._views = None          # training buffers, set by the model's fit
        self._batch = 0             # rows of the last batch in those buffers

    @property
    def params(self):
        """The trainable arrays, in get_weights() order."""
        return []

    def get_weights(self):
        """Copies of the parameters: [W, b] for a Dense layer, [] otherwise."""
        return [p.copy() for p in self.params]

    def set_weights(self, weights):
        """Copy ``weights`` (same shapes as get_weights()) into the layer's parameters."""
        params = self.params
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"layer {self.name!r} has {len(params)} weight arrays, got {len(weights)}")
        for i, (p, w) in enumerate(zip(params, weights)):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"layer {self.name!r} weight {i} has shape {p.shape}, got {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"layer {self.name!r} weight {i} holds NaN or infinite values")
        for p, w in zip(params, weights):
            p[...] = w          # in place: the model's buffers keep pointing at p

    def count_params(self):
        return int(sum(p.size for p in self.params))

    def _view(self, key):
        if self._views is None:
            return None
        a = self._views[key]
        return a[:self._batch] if key in ("X", "Z", "A", "delta") else a

    X = property(lambda self: self._view("X"), doc="Input of the last training batch, (batch, n_in).")
    Z = property(lambda self: self._view("Z"), doc="Pre-activation Z = X·W + b of the last batch.")
    A = property(lambda self: self._view("A"), doc="Output A = g(Z) of the last batch.")
    delta = property(lambda self: self._view("delta"),
                     doc="Sensitivity δ = ∂E/∂Z of the last batch, (batch, units), where E is the batch's "
                         "*mean* loss: (A − Y)/n for softmax with cross-entropy on n samples.")


class Dense(Layer):
    """A fully connected layer: A = g(X·W + b).

    Parameters
    ----------
    units : int
        H, the number of units (outputs).
    activation : str or None
        linear (None), step, sigmoid, hard_sigmoid, tanh, relu or softmax.
    input_shape : tuple of one int, optional
        ``(n_in,)`` for the first layer, as in Keras (``input_dim=n_in`` also works).
    use_bias : bool, default True
    kernel_initializer : str or callable, default "glorot_uniform"
        glorot_uniform, glorot_normal, he_uniform, he_normal or zeros; a callable gets
        ``(fan_in, fan_out, rng)``. Biases start at zero.
    kernel_regularizer, bias_regularizer : None, "l1", "l2", "l1_l2" or a fastnn.regularizers object
        A penalty on W (on b): its value joins the loss each step reports, its gradient the
        optimizer's step (``dW``/``db`` show the batch loss's gradient alone).

    Attributes
    ----------
    W : ndarray, shape (n_in, units)
        The weights; Z = X·W + b.
    b : ndarray, shape (units,) or None
        The biases (None with ``use_bias=False``).
    X, Z, A : ndarray, shapes (batch, n_in), (batch, units), (batch, units)
        The last training batch's input, pre-activation and output (None before training).
    delta : ndarray, shape (batch, units)
        δ = ∂E/∂Z of the last batch, where E is the batch's *mean* loss
        (1/n) Σ_b w_b E_b. Every row therefore carries a factor 1/n: δ = (A − Y)/n for a
        softmax output with cross-entropy (times w_b with class or sample weights).
        Averaging makes dW the mean of the samples' gradients, so the learning rate does
        not have to shrink as the batch grows (Keras takes the mean too).
    dW : ndarray, shape (n_in, units)
        ∂E/∂W = Xᵀ·δ, the mean over the batch of each sample's gradient.
    db : ndarray, shape (units,)
        ∂E/∂b = Σ_batch δ.
    """

    def __init__(self, units, activation=None, input_shape=None, use_bias=True,
                 kernel_initializer="glorot_uniform", name=None, input_dim=None, kernel_regularizer=None,
                 bias_regularizer=None):
        super().__init__(name)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = _activations.get(activation)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (input_shape,)
            input_shape = tuple(input_shape)
            if len(input_shape) != 1 or not isinstance(input_shape[0], (int, np.integer)) or input_shape[0] < 1:
                raise ValueError(f"input_shape must be (n_features,) with n_features >= 1, got {input_shape!r}; "
                                 "flatten images first, e.g. x.reshape(len(x), -1)")
            input_shape = (int(input_shape[0]),)
        self.input_shape = input_shape
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self._initializer = initializers.get(kernel_initializer)
        self.W = None
        self.b = None

    @property
    def built(self):
        return self.W is not None

    def build(self, n_in, dtype, rng):
        """Create W (n_in, units) with the kernel initializer and b = 0."""
        W = np.asarray(self._initializer(n_in, self.units, rng), dtype=dtype)
        if W.shape != (n_in, self.units):
            raise ValueError(f"kernel_initializer returned shape {W.shape}, expected {(n_in, self.units)}")
        self.W = np.ascontiguousarray(W)
        self.b = np.zeros(self.units, dtype=dtype) if self.use_bias else None

    @property
    def params(self):
        if not self.built:
            return []
        return [self.W, self.b] if self.use_bias else [self.W]

    # Keras' names for the two parameters
    kernel = property(lambda self: self.W)
    bias = property(lambda self: self.b)

    dW = property(lambda self: self._view("dW"),
                  doc="∂E/∂W = Xᵀ·δ of the last batch's mean loss E, (n_in, units).")
    db = property(lambda self: self._view("db"), doc="∂E/∂b = Σ_batch δ of the last batch's mean loss E, (units,).")

    def count_params(self, n_in=None):
        """Weights + biases: n_in·units + units."""
        if n_in is None:
            if not self.built:
                raise ValueError(f"layer {self.name!r} is not built yet: its number of inputs is unknown")
            n_in = self.W.shape[0]
        return n_in * self.units + (self.units if self.use_bias else 0)

    def get_config(self):
        return {"type": "Dense", "name": self.name, "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "input_shape": list(self.input_shape) if self.input_shape else None,
                "kernel_initializer": self.kernel_initializer if isinstance(self.kernel_initializer, str)
                else "glorot_uniform",
                "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": _regularizers.serialize(self.bias_regularizer)}

    def penalties(self):
        """(l1 on W, l2 on W, l1 on b, l2 on b): the regularizers' factors, 0 where there is none."""
        k, b = self.kernel_regularizer, self.bias_regularizer if self.use_bias else None
        return (k.l1 if k else 0.0, k.l2 if k else 0.0, b.l1 if b else 0.0, b.l2 if b else 0.0)

    def penalty(self):
        """The value of this layer's penalties on its current weights."""
        value = self.kernel_regularizer(self.W) if self.kernel_regularizer and self.built else 0.0
        if self.bias_regularizer and self.use_bias and self.built:
            value += self.bias_regularizer(self.b)
        return value

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"


class Activation(Layer):
    """Applies an activation to the previous layer's output; it folds into the Dense
    layer before it (which must then be linear): Dense(H) + Activation("relu") is
    Dense(H, activation="relu")."""

    def __init__(self, activation, name=None):
        super().__init__(name)
        self.activation = _activations.get(activation)

    def get_config(self):
        return {"type": "Activation", "name": self.name, "activation": self.activation}

    def __repr__(self):
        return f"Activation({self.activation!r})"


def from_config(config):
    config = dict(config)
    kind = config.pop("type", None)
    if kind == "Dense":
        if config.get("input_shape") is not None:
            config["input_shape"] = tuple(config["input_shape"])
        for key in ("kernel_regularizer", "bias_regularizer"):
            config[key] = _regularizers.deserialize(config.get(key))
        return Dense(**config)
    if kind == "Activation":
        return Activation(**config)
    raise ValueError(f"unknown layer type {kind!r}")
