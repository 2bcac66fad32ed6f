"""The NumPy backend: fastnn's operations written plainly, as the course writes them.

This is the textbook. Each function has the same name, arguments and defaults
as its compiled twin (``fastnn.backend.compiled_backend``) and writes its
results into the arrays it is given, so either backend can run a model. The
compiled one is faster; this one is what you read to learn the maths, what the
tests compare the compiled kernels with, and the benchmark baseline.

Shapes: X (n_samples, n_in), W (n_in, n_out), b (n_out,), Z and A (n_samples, n_out).
"""
import numpy as np
from scipy.special import erfc

from fastnn._kernels import _validate

name = "numpy"

# ---------------------------------------------------------------- products


def matmul(A, B, C, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """C := alpha·op(A)·op(B) + beta·C, in place (op(X) = Xᵀ when trans_x)."""
    product = (A.T if trans_a else A) @ (B.T if trans_b else B)
    C[...] = alpha * product + (beta * C if beta != 0 else 0)
    return C


# ---------------------------------------------------------------- dense layer


def dense_forward(X, W, b, Z):
    """Z := X·W + b  — the affine part of a layer, z = wᵀx + b for every sample."""
    np.matmul(X, W, out=Z)
    if b is not None:
        Z += b
    return Z


def dense_backward(X, W, delta, dW, db=None, dX=None):
    """dW := Xᵀ·δ,  db := Σ_samples δ,  dX := δ·Wᵀ.

    δ = ∂E/∂Z is the layer's sensitivity. Each weight's gradient ∂E/∂w_ij sums
    x_i·δ_j over the batch; the sensitivity travels back through the weights to
    become ∂E/∂X, from which the previous layer computes its own δ.
    """
    np.matmul(X.T, delta, out=dW)
    if db is not None:
        db[...] = delta.sum(axis=0)
    if dX is not None:
        np.matmul(delta, W.T, out=dX)
    return dW, db, dX


# ---------------------------------------------------------------- activations


def _sigmoid(z):
    """σ(z) = 1 / (1 + e^−z), evaluated without overflow for either sign of z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z):
    """s(z)_k = e^{z_k} / Σ_j e^{z_j}, row-wise; subtracting the row maximum avoids overflow."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# Keras 3's constants: leaky_relu's default negative slope, selu's α and scale
LEAKY_SLOPE = 0.2
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu(z):
    """elu(z) = z for z > 0, e^z − 1 otherwise (α = 1); expm1 keeps the digits near 0."""
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def _Phi(z):
    """Φ(z) = P(N(0, 1) ≤ z) = (1 + erf(z/√2))/2, written erfc(−z/√2)/2: exact for very negative z."""
    return 0.5 * erfc(-z / np.sqrt(2))


def _silu_derivative(z, a):
    """silu'(z) = σ(z)·(1 + z·(1 − σ(z)))."""
    s = _sigmoid(z)
    return s * (1 + z * (1 - s))


# name: (g(z), g'(z) written with z and a = g(z))
ACTIVATIONS = {
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
    "step": (lambda z: np.where(z >= 0, 1, np.where(z < 0, 0, z)),    # Heaviside, g' = 0
             lambda z, a: np.zeros_like(z)),
    "sigmoid": (_sigmoid, lambda z, a: a * (1 - a)),
    "hard_sigmoid": (lambda z: np.clip((z + 1) / 2, 0, 1),             # the "rigid" sigmoid
                     lambda z, a: np.where((z > -1) & (z < 1), 0.5, 0.0)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "relu": (lambda z: np.where(z < 0, 0, z), lambda z, a: np.where(z > 0, 1.0, 0.0)),
    "softmax": (_softmax, None),                                         # Jacobian, see below
    # Keras 3's activations, with Keras' default constants
    "leaky_relu": (lambda z: np.where(z < 0, LEAKY_SLOPE * z, z),        # max(z, 0.2·z)
                   lambda z, a: np.where(z > 0, 1.0, LEAKY_SLOPE)),
    "elu": (_elu, lambda z, a: np.where(z > 0, 1.0, a + 1)),             # e^z = a + 1 for z ≤ 0
    "selu": (lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
             lambda z, a: np.where(z > 0, SELU_SCALE, a + SELU_SCALE * SELU_ALPHA)),
    "gelu": (lambda z: z * _Phi(z),                                      # z·Φ(z), Keras' exact (erf) form
             lambda z, a: _Phi(z) + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)),   # Φ(z) + z·φ(z)
    "silu": (lambda z: z * _sigmoid(z), _silu_derivative),             # z·σ(z), also called swish
    "softplus": (lambda z: np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))),   # log(1 + e^z), stable
                 lambda z, a: _sigmoid(z)),
    "softsign": (lambda z: z / (1 + np.abs(z)), lambda z, a: 1 / (1 + np.abs(z)) ** 2),
}
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def activation_forward(name, Z, A):
    """A := g(Z)."""
    A[...] = _activation(name)[0](Z)
    return A


def activation_derivative(name, Z, A, out):
    """out := g'(Z), elementwise (softmax has none: use activation_backward)."""
    derivative = _activation(name)[1]
    if derivative is None:
        raise ValueError("softmax has no elementwise derivative; use activation_backward, "
                         "which applies its Jacobian")
    out[...] = derivative(Z, A)
    return out


def activation_backward(name, Z, A, dA, delta):
    """delta := ∂E/∂Z = dA ⊙ g'(Z)  (chain rule through the activation).

    Softmax mixes a row's units, so its Jacobian ∂a_k/∂z_j = a_k([j = k] − a_j) gives
    δ_k = a_k (dA_k − Σ_j dA_j a_j).
    """
    derivative = _activation(name)[1]
    if derivative is None:
        delta[...] = A * (dA - np.sum(dA * A, axis=1, keepdims=True))
    elif name in ("relu", "step"):       # a select: units that were off pass nothing back
        delta[...] = np.where(derivative(Z, A) != 0, dA, 0)
    else:
        delta[...] = dA * derivative(Z, A)
    return delta


# ---------------------------------------------------------------- losses
# Every loss returns L = (1/n) Σ_b w_b E_b for a batch of n samples (w_b = 1
# without sample weights) and writes its gradient, scaled the same way.


def _hash32(x):
    """The "lowbias32" integer hash on uint32 values (wrapping arithmetic), dropout's
    random numbers: x := x ⊕ (x >> 16); x := x·0x7feb352d; x := x ⊕ (x >> 15);
    x := x·0x846ca68b; x := x ⊕ (x >> 16)."""
    x = np.asarray(x, dtype=np.uint32)
    with np.errstate(over="ignore"):            # the products wrap modulo 2³², as in C
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x7FEB352D)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(0x846CA68B)
        return x ^ (x >> np.uint32(16))


def _dropout_key(seed, t):
    """key := hash(seed ⊕ hash(t mod 2³²) ⊕ hash(⌊t / 2³²⌋ + 0x9e3779b9)): the mask of step t."""
    low, high = np.uint32(t & 0xFFFFFFFF), np.uint32(((t >> 32) + 0x9E3779B9) & 0xFFFFFFFF)
    return _hash32(np.uint32(seed) ^ _hash32(low) ^ _hash32(high))


def dropout(X, D, rate, seed, iteration, first_row=0):
    """Inverted dropout:  D := X ⊙ mask / (1 − rate).

    Element (r, o), r = first_row + its row, is kept when hash(key + r·n_units + o) <
    (1 − rate)·2³², key drawn from the seed and the step t = ``iteration``: in training, the
    backward pass calls it again on δ = ∂E/∂D and gets ∂E/∂A = δ ⊙ mask / (1 − rate).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    if rate == 0:
        D[...] = X
        return D
    keep = 1.0 - rate
    threshold = np.uint32(min(int(keep * 2.0 ** 32), 2 ** 32 - 1))
    n, k = X.shape
    number = (np.arange(n, dtype=np.uint64)[:, None] + first_row) * np.uint64(k) + np.arange(k, dtype=np.uint64)
    element = (number & np.uint64(0xFFFFFFFF)).astype(np.uint32) + _dropout_key(seed, iteration)
    kept = _hash32(element) < threshold
    D[...] = np.where(kept, X / X.dtype.type(keep), X.dtype.type(0))
    return D


def _as_rows(y, n_classes, dtype):
    """Class ids → one-hot rows; rows are returned unchanged."""
    if y.ndim == 1:
        return np.eye(n_classes, dtype=dtype)[y]
    return y


def _weights(sample_weight, n):
    return np.ones(n) if sample_weight is None else sample_weight


def _smooth(Y, label_smoothing, k):
    """Keras' label smoothing: y ← y·(1 − ls) + ls/k (k = number of classes, or 2 for binary targets)."""
    return Y * (1 - label_smoothing) + label_smoothing / k if label_smoothing else Y


def softmax_cross_entropy(Z, y, P, delta=None, sample_weight=None, label_smoothing=0.0):
    """P := softmax(Z);  E_b = −Σ_k y_bk log P_bk (= −log P_b,c for one-hot y);
    delta := ∂L/∂Z = w_b (P − y) / n  — softmax and cross-entropy together give ŷ − y.
    label_smoothing ls first turns y into y·(1 − ls) + ls/k."""
    n = Z.shape[0]
    Y = _smooth(_as_rows(y, Z.shape[1], Z.dtype), label_smoothing, Z.shape[1])
    w = _weights(sample_weight, n)
    log_P = Z - Z.max(axis=1, keepdims=True)
    log_P = log_P - np.log(np.exp(log_P).sum(axis=1, keepdims=True))   # log-sum-exp
    P[...] = np.exp(log_P)
    E = -(Y * log_P).sum(axis=1)
    if delta is not None:
        delta[...] = (w / n)[:, None] * (Y.sum(axis=1, keepdims=True) * P - Y)
    return float(np.dot(w, E) / n)


def focal_cross_entropy(Z, y, P, delta=None, sample_weight=None, gamma=2.0, alpha=None, label_smoothing=0.0):
    """P := softmax(Z);  E_b = −Σ_c y_c α_c (1 − P_c)^γ log P_c  (α-balanced focal loss);
    label_smoothing ls first turns y into y·(1 − ls) + ls/k.

    With q = 1 − P_c, the gradient of one class's term is
    ∂E/∂z_j = F_c (P_j − [j = c]),  F_c = α_c q^γ (1 − γ P_c log(P_c) / q).
    γ = 0 and α = 1 give plain cross-entropy.
    """
    n, k = Z.shape
    Y = _smooth(_as_rows(y, k, Z.dtype).astype(np.float64), label_smoothing, k)
    w = _weights(sample_weight, n)
    a = np.ones(k) if alpha is None else np.broadcast_to(np.asarray(alpha, np.float64), (k,))
    Z64 = Z.astype(np.float64)
    log_P = Z64 - Z64.max(axis=1, keepdims=True)
    log_P = log_P - np.log(np.exp(log_P).sum(axis=1, keepdims=True))
    P64 = np.exp(log_P)
    q = 1 - P64
    E = -(Y * a * q**gamma * log_P).sum(axis=1)
    P[...] = P64
    if delta is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(q > 0, log_P / q, -1.0)      # log(P)/q → −1 as q → 0
        F = Y * a * q**gamma * (1 - gamma * P64 * ratio)
        delta[...] = (w / n)[:, None] * (F.sum(axis=1, keepdims=True) * P64 - F)
    return float(np.dot(w, E) / n)


def sigmoid_binary_cross_entropy(Z, y, A, delta=None, sample_weight=None, label_smoothing=0.0):
    """A := σ(Z);  E_b = mean_k −[y log A + (1 − y) log(1 − A)], computed from the logits as
    max(Z, 0) − Z·y + log(1 + e^−|Z|);  delta := w_b (A − y) / (n·n_k).
    label_smoothing ls first turns y into y·(1 − ls) + ls/2."""
    n, k = Z.shape
    w = _weights(sample_weight, n)
    y = _smooth(y, label_smoothing, 2)
    E = (np.maximum(Z, 0) - Z * y + np.log1p(np.exp(-np.abs(Z)))).mean(axis=1)
    A[...] = _sigmoid(Z)
    if delta is not None:
        delta[...] = (w / (n * k))[:, None] * (A - y)
    return float(np.dot(w, E) / n)


def binary_cross_entropy(A, y, dA=None, sample_weight=None, label_smoothing=0.0):
    """E_b = −mean_k [y log A + (1 − y) log(1 − A)] on probabilities clipped to
    [1e-7, 1 − 1e-7] (as Keras does); dA := ∂L/∂A, zero where A was clipped.
    label_smoothing ls first turns y into y·(1 − ls) + ls/2."""
    n, k = A.shape
    w = _weights(sample_weight, n)
    y = _smooth(y, label_smoothing, 2)
    eps = 1e-7
    Ac = np.clip(A.astype(np.float64), eps, 1 - eps)
    E = -(y * np.log(Ac) + (1 - y) * np.log(1 - Ac)).mean(axis=1)
    if dA is not None:
        inside = (A >= eps) & (A <= 1 - eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (A - y) / (A * (1 - A))
        dA[...] = np.where(inside, (w / (n * k))[:, None] * g, 0)
    return float(np.dot(w, E) / n)


def mean_squared_error(A, y, dA=None, sample_weight=None):
    """E_b = mean_k (A − y)²;  dA := 2 w_b (A − y) / (n·n_k)."""
    n, k = A.shape
    w = _weights(sample_weight, n)
    r = A.astype(np.float64) - y
    E = (r * r).mean(axis=1)
    if dA is not None:
        dA[...] = (2 * w / (n * k))[:, None] * (A - y)
    return float(np.dot(w, E) / n)


def mean_absolute_error(A, y, dA=None, sample_weight=None):
    """E_b = mean_k abs(A − y);  dA := w_b sign(A − y) / (n·n_k)  (0 where A = y)."""
    n, k = A.shape
    w = _weights(sample_weight, n)
    r = A.astype(np.float64) - y
    E = np.abs(r).mean(axis=1)
    if dA is not None:
        dA[...] = (w / (n * k))[:, None] * np.sign(r)
    return float(np.dot(w, E) / n)


def huber(A, y, dA=None, sample_weight=None, delta=1.0):
    """E_b = mean_k h(A − y) with h(r) = r²/2 where abs(r) ≤ delta and delta·abs(r) − delta²/2 beyond
    (quadratic near 0, linear far from it);  dA := w_b clip(A − y, −delta, delta) / (n·n_k)."""
    n, k = A.shape
    w = _weights(sample_weight, n)
    r = A.astype(np.float64) - y
    E = np.where(np.abs(r) <= delta, r * r / 2, delta * np.abs(r) - delta * delta / 2).mean(axis=1)
    if dA is not None:
        dA[...] = (w / (n * k))[:, None] * np.clip(r, -delta, delta)
    return float(np.dot(w, E) / n)


# ---------------------------------------------------------------- optimizer


def sgd_update(w, g, v, learning_rate, momentum=0.0, nesterov=False):
    """SGD with momentum, the course's rule:  v := μ·v − γ·g;  w := w + v.

    Nesterov looks ahead along the new velocity:  w := w + μ·v − γ·g.
    """
    v *= momentum
    v -= learning_rate * g
    if nesterov:
        w += momentum * v - learning_rate * g
    else:
        w += v
    return w


RULES = ("sgd", "adam", "rmsprop", "adagrad")
STATES = {"sgd": 1, "adam": 3, "rmsprop": 3, "adagrad": 1}
RULE_DEFAULTS = {"kind": "sgd", "momentum": 0.0, "nesterov": False, "beta_1": 0.9, "beta_2": 0.999, "rho": 0.9,
                 "epsilon": 1e-7, "amsgrad": False, "centered": False, "weight_decay": 0.0, "clipvalue": 0.0,
                 "clipnorm": 0.0, "global_clipnorm": 0.0}


def optimizer_step(rule, w, g, states, learning_rate, iteration, l1=0.0, l2=0.0, scale=None):
    """One step of an optimizer on the parameter w, in place (Keras 3's formulas).

    ``rule`` is a dict: its "kind" and settings (``RULE_DEFAULTS``). ``states`` holds the
    rule's arrays s0, s1, s2 (``STATES[kind]`` of them). t = ``iteration`` counts the
    updates already made; γ = ``learning_rate`` is this step's rate. ``scale`` is the factor
    of clipnorm or global_clipnorm as the trainer computes it over all its parameters (None:
    from this parameter's own norm). Returns the penalty l1·Σ|w| + l2·Σw² of w before the step.

    First the gradient gets the penalty's terms and is clipped, then the decoupled weight
    decay, then the rule::

        g := g + l1·sign(w) + 2·l2·w
        g := g·c / max(‖g‖, c)         c = clipnorm or global_clipnorm, if > 0
        g := clip(g, −c, c)            c = clipvalue, if > 0
        w := w − γ·wd·w                wd = weight_decay

        SGD       v := μ·v − γ·g;  w := w + v           (Nesterov: w := w + μ·v − γ·g)
        Adam      m := m + (1−β₁)(g − m);  v := v + (1−β₂)(g² − v)
                  w := w − m·α / (√v + ε),  α = γ·√(1 − β₂^(t+1)) / (1 − β₁^(t+1))
                  (amsgrad: v̂ := max(v̂, v), and v̂ in place of v)
        RMSprop   v := ρ·v + (1−ρ)·g²;  Δ = γ·g / √(v + ε)
                  (centered: ḡ := ρ·ḡ + (1−ρ)·g, Δ = γ·g / √(v − ḡ² + ε))
                  w := w − Δ   (momentum: s := μ·s + Δ;  w := w − s)
        Adagrad   a := a + g²;  w := w − γ·g / √(a + ε)
    """
    r = dict(RULE_DEFAULTS, **rule)
    kind = r["kind"]
    s0, s1, s2 = (list(states) + [None, None])[:3]
    penalty = float(l1 * np.abs(w.astype(np.float64)).sum() + l2 * np.square(w.astype(np.float64)).sum())
    dtype = w.dtype.type
    g = g + dtype(l1) * np.sign(w) + dtype(2 * l2) * w
    if scale is None:               # one parameter alone: its norm is the global norm too
        clip = r["clipnorm"] or r["global_clipnorm"]
        scale = clip / max(float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))), clip) if clip else 1.0
    if scale != 1:
        g = g * dtype(scale)
    if r["clipvalue"] > 0:
        g = np.clip(g, -dtype(r["clipvalue"]), dtype(r["clipvalue"]))
    lr = dtype(learning_rate)
    if r["weight_decay"]:
        w -= w * dtype(learning_rate * r["weight_decay"])
    if kind == "sgd":
        mu = dtype(r["momentum"])
        if r["nesterov"]:
            s0[...] = mu * s0 - lr * g
            w += mu * s0 - lr * g
        else:
            s0[...] = mu * s0 - lr * g
            w += s0
    elif kind == "adam":
        t = iteration + 1
        alpha = dtype(learning_rate * np.sqrt(1 - r["beta_2"] ** t) / (1 - r["beta_1"] ** t))
        s0 += (g - s0) * dtype(1 - r["beta_1"])
        s1 += (g * g - s1) * dtype(1 - r["beta_2"])
        v = s1
        if r["amsgrad"]:
            np.maximum(s2, s1, out=s2)
            v = s2
        w -= s0 * alpha / (np.sqrt(v) + dtype(r["epsilon"]))
    elif kind == "rmsprop":
        rho = dtype(r["rho"])
        s0[...] = rho * s0 + dtype(1 - r["rho"]) * (g * g)
        if r["centered"]:
            s2[...] = rho * s2 + dtype(1 - r["rho"]) * g
            increment = lr * g / np.sqrt(s0 - s2 * s2 + dtype(r["epsilon"]))
        else:
            increment = lr * g / np.sqrt(s0 + dtype(r["epsilon"]))
        if r["momentum"] > 0:
            s1[...] = dtype(r["momentum"]) * s1 + increment
            w -= s1
        else:
            w -= increment
    elif kind == "adagrad":
        s0 += g * g
        w -= lr * g / np.sqrt(s0 + dtype(r["epsilon"]))
    else:
        raise ValueError(f"unknown rule kind {kind!r}; expected one of {RULES}")
    return penalty


# ---------------------------------------------------------------- the whole network


def forward(X, weights, biases, activations, out, chunk=1024, n_workers=1):
    """out := f(X): each layer's A = g(X·W + b) feeds the next (chunk and n_workers only
    matter to the compiled backend; here the whole X goes through at once)."""
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X holds {np.sum(~np.isfinite(X))} NaN or infinite values")
    A = X
    for W, b, name in zip(weights, biases, activations):
        Z = A @ W + (b if b is not None else 0)
        A = _activation(name)[0](Z)
    out[...] = A
    return out


# ---------------------------------------------------------------- training loop

# ---------------------------------------------------------------- epoch metrics

COUNTER_KINDS = ("above_thresholds", "class_outcomes", "top_k", "errors")


def _in_top_k(P, top_k):
    """[P_bk among the top_k of its row]: fewer than top_k entries rank above it, by value and
    then by index among equal values (a stable top_k)."""
    above = P[:, None, :] > P[:, :, None]                      # [b, k, j] = P_bj > P_bk
    tied_before = (P[:, None, :] == P[:, :, None]) & np.tri(P.shape[1], k=-1, dtype=bool)[None]
    return (above | tied_before).sum(axis=2) < top_k


def count_metrics(P, labels, Y, counters):
    """Add the counts of predictions P (n, n_k) against class ids labels (n,) or target rows Y
    (n, n_k) (the other None) to each counter, in place. The truth of entry (b, k) is
    [labels_b = k], or [Y_bk ≠ 0] (Keras casts y_true to bool). Each counter is a dict:

    - "above_thresholds" (thresholds t sorted, class_id, top_k, even, with_eps, pos, neg):
      c := #{i : p > t_i} per entry; pos[c] += [truth], neg[c] += [not truth]. class_id: that
      column only; top_k: entries outside their row's top k count as c = 0; even (t_i =
      i/(n_t − 1)): c := ceil(clip(p, 0, 1)·(n_t − 1)), and c ≥ 1 with with_eps (Keras'
      buckets). Then TP_i = Σ_{c > i} pos[c], FP_i = Σ_{c > i} neg[c].
    - "class_outcomes" (threshold, tp, fp, fn): ŷ = [p > threshold], or for threshold None
      ŷ = [p ≥ max of its row and abs(p) > 1e−9]; per class tp += Σ ŷ·y, fp += Σ ŷ·(1 − y),
      fn += Σ (1 − ŷ)·y.
    - "top_k" (k, counts): counts += (rows whose true class c, labels_b or the first argmax of
      Y_b, has 1 + #{j : p_j > p_c} ≤ k, rows).
    - "errors" (sums): sums += (Σ abs(y − p), Σ (y − p)², entries), y one-hot for class ids.
    """
    n, n_k = P.shape
    if labels is not None:
        truth = labels[:, None] == np.arange(n_k)
        true_class = labels
        y_values = truth.astype(np.float64)
    else:
        truth = Y != 0
        true_class = Y.argmax(axis=1) if n else np.zeros(0, dtype=np.intp)
        y_values = Y.astype(np.float64)
    real = P.dtype.type
    for counter in counters or []:
        kind = counter["kind"]
        if kind == "above_thresholds":
            t = counter["thresholds"]
            p, y = P, truth
            keep = _in_top_k(P, counter["top_k"]) if counter["top_k"] else np.ones(P.shape, dtype=bool)
            if counter["class_id"] is not None:
                column = [counter["class_id"]]
                p, y, keep = p[:, column], y[:, column], keep[:, column]
            if counter["even"]:
                q = np.where(p > 1, real(1), np.where(p > 0, p, real(0)))     # clip, NaN as 0
                c = np.ceil(q * real(len(t) - 1)).astype(np.intp)
                if counter["with_eps"]:
                    c = np.maximum(c, 1)
            else:
                c = np.searchsorted(t.astype(P.dtype), p, side="left")      # #{i : t_i < p}
                c[np.isnan(p)] = 0
            c = np.where(keep, c, 0)
            counter["pos"] += np.bincount(c[y], minlength=len(t) + 1)
            counter["neg"] += np.bincount(c[~y], minlength=len(t) + 1)
        elif kind == "class_outcomes":
            if counter["threshold"] is None:
                predicted = (P >= P.max(axis=1, keepdims=True)) & (np.abs(P) > real(1e-9))
            else:
                predicted = P > real(counter["threshold"])
            counter["tp"] += (predicted & truth).sum(axis=0)
            counter["fp"] += (predicted & ~truth).sum(axis=0)
            counter["fn"] += (~predicted & truth).sum(axis=0)
        elif kind == "top_k":
            p_true = P[np.arange(n), true_class][:, None]
            above = np.where(np.isnan(p_true), ~np.isnan(P), P > p_true).sum(axis=1)
            counter["counts"] += (int(np.sum(above < counter["k"])), n)
        elif kind == "errors":
            e = y_values - P.astype(np.float64)
            counter["sums"] += (np.abs(e).sum(), (e * e).sum(), e.size)
        else:
            raise ValueError(f"unknown counter kind {kind!r}; expected one of {COUNTER_KINDS}")


LOSS_KINDS = ("softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
              "binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber",
              "half_squared_error", "exp_poisson")
ACCURACY_KINDS = ("none", "argmax", "threshold")
SPLITS = _validate.SPLITS
_FUSED_OUTPUT = {"softmax_cross_entropy": "softmax", "focal_cross_entropy": "softmax",
                 "sigmoid_binary_cross_entropy": "sigmoid", "exp_poisson": "linear"}
# the losses that average over the output units (sum_over_outputs sums over them instead)
_MEAN_OVER_OUTPUTS = ("sigmoid_binary_cross_entropy", "binary_cross_entropy", "mean_squared_error",
                      "mean_absolute_error", "huber")


def _half_squared_error(A, y, dA, w):
    """E_b = ½ Σ_k (A − y)²;  dA := w_b (A − y) / n (scikit-learn's MLPRegressor loss)."""
    n = A.shape[0]
    r = A.astype(np.float64) - y
    dA[...] = (w / n)[:, None] * (A - y)
    return float(np.dot(w, 0.5 * (r * r).sum(axis=1)) / n)


def _exp_poisson(Z, y, A, delta, w):
    """A := e^Z;  E_b = Σ_k [y log(y/A) − y + A] (half the Poisson deviance);  delta := w_b (A − y) / n."""
    n = Z.shape[0]
    A[...] = np.exp(Z)
    a, t = A.astype(np.float64), y.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(t != 0, t * np.log(t / a), 0.0)
    delta[...] = (w / n)[:, None] * (A - y)
    return float(np.dot(w, (log_term - t + a).sum(axis=1)) / n)


class Trainer:
    """Mini-batch SGD over a stack of Dense layers, one step at a time, in plain NumPy.

    Same constructor and ``train`` method as the compiled Trainer: the layers'
    arrays are updated in place, and the workspace arrays (X_buffer and each
    layer's Z, A, delta) hold the last batch's forward and backward quantities.
    """

    def __init__(self, X_buffer, layers, activations, loss, gamma=0.0, alpha=None, n_workers=1, split="batch",
                 first_by_units=True, states=None, penalties=None, dropouts=None, label_smoothing=0.0,
                 from_logits=False, huber_delta=1.0, sum_over_outputs=False, weighted_mean=False,
                 penalty_per_sample=False, clip_probabilities=0.0):
        # n_workers, split, first_by_units: the compiled trainer can share each step between
        # threads, by batch rows or by units; here one thread does everything, which gives the
        # same result.
        if n_workers not in (1, 2):
            raise ValueError(f"n_workers must be 1 or 2, got {n_workers}")
        _validate.split(split, activations)
        if loss not in LOSS_KINDS:
            raise ValueError(f"unknown loss kind {loss!r}; expected one of {LOSS_KINDS}")
        needs = _FUSED_OUTPUT.get(loss)
        if loss == "exp_poisson":
            from_logits = False       # the loss applies exp to the linear output's Z itself
        if needs is not None and from_logits:
            needs = "linear"          # the loss applies softmax / sigmoid to the logits itself
        if needs is not None and activations[-1] != needs:
            raise ValueError(f"loss {loss!r} is fused with a {needs} output, but the last layer is {activations[-1]!r}")
        self.X_buffer, self.layers, self.activations = X_buffer, layers, activations
        self.loss, self.gamma, self.alpha = loss, gamma, alpha
        self.label_smoothing = _validate.label_smoothing(label_smoothing)
        self.huber_delta = _validate.huber_delta(huber_delta, "huber_delta")
        # scikit-learn's reductions (see the compiled Trainer's docstring)
        self.sum_over_outputs, self.weighted_mean = bool(sum_over_outputs), bool(weighted_mean)
        self.penalty_per_sample = bool(penalty_per_sample)
        self.clip_probabilities = _validate.scalar("clip_probabilities", clip_probabilities, low=0.0)
        if self.clip_probabilities >= 0.5:
            raise ValueError(f"clip_probabilities must be in [0, 0.5), got {clip_probabilities}")
        # from the logits of a linear output, the loss's probabilities go to a buffer of their own:
        # the output layer's A is its Z, as predict returns it
        self.from_logits = bool(from_logits) and needs is not None
        self.P = np.zeros_like(layers[-1][7]) if self.from_logits else None
        self.batch_size = X_buffer.shape[0]
        self.last_batch_size = 0
        # the optimizer's second and third state arrays per layer, and the penalties on W and b
        self.states = states if states is not None else [(None, None, None, None)] * len(layers)
        self.penalties = penalties if penalties is not None else [(0.0, 0.0, 0.0, 0.0)] * len(layers)
        self.penalised = any(any(p) for p in self.penalties)
        # dropout after a layer: (rate, seed, D), D its output and the next layer's input
        self.dropouts = dropouts if dropouts is not None else [None] * len(layers)
        if self.dropouts[-1] is not None:
            raise ValueError("dropout after the output layer is not supported: put it between layers")

    def _clip_scales(self, rule, ps=1.0):
        """(scale of dW, scale of db) per layer: clipnorm's c / max(‖g‖, c) of each
        gradient, or global_clipnorm's of all of them together (g with the penalty's terms);
        1 without either."""
        clip = rule["clipnorm"] or rule["global_clipnorm"]
        if not clip:
            return [(1.0, 1.0)] * len(self.layers)
        squares = []
        for (W, b, vW, vb, dW, db, *_), (l1W, l2W, l1b, l2b) in zip(self.layers, self.penalties):
            pairs = [(W, dW, l1W, l2W)] + ([(b, db, l1b, l2b)] if b is not None else [])
            squares.append([float(np.sum(np.square((g + ps * l1 * np.sign(w) + 2 * ps * l2 * w).astype(np.float64))))
                            for w, g, l1, l2 in pairs] + [0.0])
        if rule["global_clipnorm"]:
            scale = clip / max(np.sqrt(sum(sum(sq) for sq in squares)), clip)
            return [(scale, scale)] * len(self.layers)
        return [(clip / max(np.sqrt(sq[0]), clip), clip / max(np.sqrt(sq[1]), clip)) for sq in squares]

    def _loss_and_output_delta(self, m, label, Y, w, norm):
        """Loss of the batch and δ of the output layer (∂L/∂Z), the batch's mean over norm
        samples (m, or Σ w), summed over the outputs with sum_over_outputs."""
        loss = self._loss_and_output_delta_per_m(m, label, Y, w)
        eps = self.clip_probabilities
        if eps and not self.label_smoothing and self.loss in ("softmax_cross_entropy", "sigmoid_binary_cross_entropy"):
            # the value with each probability clipped to [ε, 1 − ε] (scikit-learn's log-loss)
            P = np.clip((self.P if self.from_logits else self.layers[-1][7])[:m].astype(np.float64), eps, 1 - eps)
            k = P.shape[1]
            T = np.eye(k)[label] if label is not None else Y.astype(np.float64)
            with np.errstate(invalid="ignore"):
                E = -(T * np.log(P)).sum(axis=1)
                if self.loss == "sigmoid_binary_cross_entropy":
                    E = (E - ((1 - T) * np.log(1 - P)).sum(axis=1)) / k
            loss = float(np.dot(_weights(w, m), E) / m)
        factor = m / norm * (self.layers[-1][0].shape[1] if self.sum_over_outputs
                             and self.loss in _MEAN_OVER_OUTPUTS else 1)
        if factor != 1:
            self.layers[-1][8][:m] *= factor
        return loss * factor

    def _loss_and_output_delta_per_m(self, m, label, Y, w):
        W, b, vW, vb, dW, db, Z, A, delta = self.layers[-1]
        Z, A, delta = Z[:m], A[:m], delta[:m]
        P = self.P[:m] if self.from_logits else A         # the fused losses' probabilities
        y = label if label is not None else Y
        ls = self.label_smoothing
        if self.loss == "softmax_cross_entropy":
            return softmax_cross_entropy(Z, y, P, delta, w, ls)
        if self.loss == "focal_cross_entropy":
            return focal_cross_entropy(Z, y, P, delta, w, self.gamma, self.alpha, ls)
        if self.loss == "sigmoid_binary_cross_entropy":
            return sigmoid_binary_cross_entropy(Z, y, P, delta, w, ls)
        if self.loss == "exp_poisson":
            return _exp_poisson(Z, y, A, delta, _weights(w, m))
        if self.loss == "binary_cross_entropy":                         # delta holds ∂L/∂A ...
            loss = binary_cross_entropy(A, y, delta, w, ls)
        elif self.loss == "huber":
            loss = huber(A, y, delta, w, self.huber_delta)
        elif self.loss == "half_squared_error":
            loss = _half_squared_error(A, y, delta, _weights(w, m))
        else:
            loss = (mean_absolute_error if self.loss == "mean_absolute_error" else mean_squared_error)(A, y, delta, w)
        activation_backward(self.activations[-1], Z, A, delta, delta)   # ... and now ∂L/∂Z
        return loss

    def train(self, X, labels, Y, sample_weight, order, first_batch, n_batches, learning_rate,
              decay, momentum, nesterov, iteration, batch_losses, accuracy=0, rule=None, rates=None,
              batch_penalties=None, metrics=None):
        bs, n_layers = self.batch_size, len(self.layers)
        fused = self.loss in _FUSED_OUTPUT and not self.from_logits    # the loss writes A (= its P)
        if rule is None:
            rule = {"kind": "sgd", "momentum": momentum, "nesterov": nesterov}
        r = dict(RULE_DEFAULTS, **rule)
        general = (r["kind"] != "sgd" or r["weight_decay"] or r["clipvalue"] or r["clipnorm"] or r["global_clipnorm"]
                   or self.penalised)
        hits = counted = done = 0
        for j in range(first_batch, first_batch + n_batches):
            index = order[j * bs:(j + 1) * bs]                  # the batch, chosen by index
            m = len(index)
            I = self.X_buffer[:m]
            I[...] = X[index]
            label = labels[index] if labels is not None else None
            Yb = Y[index] if Y is not None else None
            w = sample_weight[index] if sample_weight is not None else None
            # forward execution:  Z := I·W + b;  A := g(Z);  the next layer's input I is A
            # (after dropout, D := A ⊙ mask / (1 − rate), with this step's mask)
            inputs = []
            for l, (W, b, vW, vb, dW, db, Z, A, delta) in enumerate(self.layers):
                inputs.append(I)
                dense_forward(I, W, b, Z[:m])
                if l < n_layers - 1 or not fused:
                    activation_forward(self.activations[l], Z[:m], A[:m])
                I = A[:m]
                if self.dropouts[l] is not None:
                    rate, seed, D = self.dropouts[l]
                    I = dropout(A[:m], D[:m], rate, seed, iteration)
            norm = float(m)
            if self.weighted_mean and w is not None:
                norm = float(np.sum(w, dtype=np.float64)) or float(m)
            loss = self._loss_and_output_delta(m, label, Yb, w, norm)
            batch_losses[j - first_batch] = loss
            if batch_penalties is not None:
                batch_penalties[j - first_batch] = 0.0
            penalties_to = batch_penalties if batch_penalties is not None else batch_losses
            ps = 1.0 / norm if self.penalty_per_sample else 1.0
            # the metrics count this batch's predictions before its update (as the accuracy)
            count_metrics(self.P[:m] if self.from_logits else self.layers[-1][7][:m], label, Yb, metrics)
            if not np.isfinite(loss):
                break
            A_out = self.P[:m] if self.from_logits else self.layers[-1][7][:m]   # probabilities
            if accuracy == 1:
                truth = label if label is not None else Yb.argmax(axis=1)
                hits += int(np.sum(A_out.argmax(axis=1) == truth))
                counted += m
            elif accuracy == 2:
                hits += int(np.sum((A_out > 0.5) == (Yb > 0.5)))
                counted += Yb.size
            # backward execution: each layer's gradients from its δ, then δ of the layer below
            for l in range(n_layers - 1, -1, -1):
                W, b, vW, vb, dW, db, Z, A, delta = self.layers[l]
                below_delta = self.layers[l - 1][8][:m] if l > 0 else None
                dense_backward(inputs[l], W, delta[:m], dW, db, below_delta)      # below_delta := δ·Wᵀ
                if l > 0 and self.dropouts[l - 1] is not None:                   # ∂E/∂A := ∂E/∂D ⊙ mask / (1 − rate)
                    rate, seed, _ = self.dropouts[l - 1]
                    dropout(below_delta, below_delta, rate, seed, iteration)
                if l > 0:
                    Z_below, A_below = self.layers[l - 1][6][:m], self.layers[l - 1][7][:m]
                    activation_backward(self.activations[l - 1], Z_below, A_below, below_delta, below_delta)
            # weight update with the rate of this step: the schedule's, or the decayed
            # learning rate γ_t = γ / (1 + decay·t)
            lr_t = rates[j - first_batch] if rates is not None else learning_rate / (1.0 + decay * iteration)
            n_states = STATES[r["kind"]]
            scales = self._clip_scales(r, ps) if general else None
            for l, ((W, b, vW, vb, dW, db, *_), (s1W, s2W, s1b, s2b), (l1W, l2W, l1b, l2b)) in enumerate(zip(
                    self.layers, self.states, self.penalties)):
                if not general:
                    sgd_update(W, dW, vW, lr_t, r["momentum"], r["nesterov"])
                    if b is not None:
                        sgd_update(b, db, vb, lr_t, r["momentum"], r["nesterov"])
                    continue
                # the penalties' values (of the weights before the update) join the batch's loss
                penalties_to[j - first_batch] += optimizer_step(r, W, dW, [vW, s1W, s2W][:n_states], lr_t,
                                                                iteration, ps * l1W, ps * l2W, scales[l][0])
                if b is not None:
                    penalties_to[j - first_batch] += optimizer_step(r, b, db, [vb, s1b, s2b][:n_states], lr_t,
                                                                    iteration, ps * l1b, ps * l2b, scales[l][1])
            iteration += 1
            self.last_batch_size = m
            done += 1
        return done, iteration, hits, counted
