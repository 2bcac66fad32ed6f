"""Optimizer kernels, in place, one pass over each parameter.

sgd_update: the course's momentum step, v := μ·v − γ·g;  w := w + v (Nesterov: w := w + μ·v − γ·g).
optimizer_step: any of the rules (SGD, Adam, RMSprop, Adagrad; penalties, weight decay,
clipping), see fnn_rule in csrc/fastnn_kernels.h.
"""
import numpy as np
from cython cimport floating

from libc.math cimport sqrt

from fastnn._kernels._ckernels cimport (fnn_sgd_momentum_f32, fnn_sgd_momentum_f64, fnn_rule,
                                        fnn_optimizer_step_f32, fnn_optimizer_step_f64,
                                        fnn_gradient_sum_squares_f32, fnn_gradient_sum_squares_f64)
from fastnn._kernels import _validate

include "_cpu.pxi"


cdef void _update(floating[::1] w, const floating[::1] g, floating[::1] v, double lr, double mu, bint nesterov):
    if w.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            fnn_sgd_momentum_f32(&w[0], <float *> &g[0], &v[0], w.shape[0], lr, mu, nesterov)
        else:
            fnn_sgd_momentum_f64(&w[0], <double *> &g[0], &v[0], w.shape[0], lr, mu, nesterov)


def sgd_update(w, g, v, learning_rate, momentum=0.0, nesterov=False):
    """v := momentum·v − learning_rate·g;  w := w + v (Nesterov: w := w + momentum·v − learning_rate·g).

    w (parameter), g (its gradient), v (its velocity): arrays of one shape and dtype,
    C-contiguous; w and v are updated in place. Returns w.
    """
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
    dtype = _validate.common_float_dtype(w.ndim, w=w, g=g, v=v)
    _validate.shape("g", g, w.shape)
    _validate.shape("v", v, w.shape)
    _validate.writable_and_separate("w", w, g=g, v=v)
    _validate.writable_and_separate("v", v, g=g)
    lr = _validate.scalar("learning_rate", learning_rate, low=0.0)
    mu = _validate.scalar("momentum", momentum, low=0.0, high=1.0)
    if dtype == _validate.float32:
        _update[float](w.reshape(-1), g.reshape(-1), v.reshape(-1), lr, mu, bool(nesterov))
    else:
        _update[double](w.reshape(-1), g.reshape(-1), v.reshape(-1), lr, mu, bool(nesterov))
    return w


# ---------------------------------------------------------------- the general rule

RULES = ("sgd", "adam", "rmsprop", "adagrad")      # index = FNN_RULE_* of csrc/fastnn_kernels.h
# the state arrays each rule keeps (s0, s1, s2), see fnn_rule
STATES = {"sgd": 1, "adam": 3, "rmsprop": 3, "adagrad": 1}
RULE_DEFAULTS = {"kind": "sgd", "momentum": 0.0, "nesterov": False, "beta_1": 0.9, "beta_2": 0.999, "rho": 0.9,
                 "epsilon": 1e-7, "amsgrad": False, "centered": False, "weight_decay": 0.0, "clipvalue": 0.0,
                 "clipnorm": 0.0, "global_clipnorm": 0.0}


cdef fnn_rule make_rule(dict rule) except *:
    """The C form of a rule given as a dict (see RULE_DEFAULTS), checked."""
    unknown = set(rule) - set(RULE_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown rule fields {sorted(unknown)}; expected some of {sorted(RULE_DEFAULTS)}")
    full = dict(RULE_DEFAULTS, **rule)
    if full["kind"] not in RULES:
        raise ValueError(f"unknown rule kind {full['kind']!r}; expected one of {RULES}")
    cdef fnn_rule r
    r.kind = RULES.index(full["kind"])
    r.nesterov, r.amsgrad, r.centered = bool(full["nesterov"]), bool(full["amsgrad"]), bool(full["centered"])
    r.momentum = _validate.scalar("momentum", full["momentum"], low=0.0, high=1.0)
    r.beta_1 = _validate.scalar("beta_1", full["beta_1"], low=0.0, high=1.0)
    r.beta_2 = _validate.scalar("beta_2", full["beta_2"], low=0.0, high=1.0)
    r.rho = _validate.scalar("rho", full["rho"], low=0.0, high=1.0)
    r.epsilon = _validate.scalar("epsilon", full["epsilon"], low=0.0)
    r.weight_decay = _validate.scalar("weight_decay", full["weight_decay"], low=0.0)
    r.clipvalue = _validate.scalar("clipvalue", full["clipvalue"], low=0.0)
    r.clipnorm = _validate.scalar("clipnorm", full["clipnorm"], low=0.0)
    r.global_clipnorm = _validate.scalar("global_clipnorm", full["global_clipnorm"], low=0.0)
    if (r.clipvalue > 0) + (r.clipnorm > 0) + (r.global_clipnorm > 0) > 1:
        raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                         f"clipnorm={r.clipnorm}, clipvalue={r.clipvalue}, global_clipnorm={r.global_clipnorm}")
    return r


cdef double _step(fnn_rule *r, double lr, long long t, floating[::1] w, const floating[::1] g, floating *s0,
                  floating *s1, floating *s2, double l1, double l2, double scale):
    cdef double penalty = 0, norm, clip = r.clipnorm if r.clipnorm > 0 else r.global_clipnorm
    if w.shape[0] == 0:
        return 0.0
    with nogil:
        if scale < 0:                   # None: one parameter alone, whose norm is also the global norm
            scale = 1
            if clip > 0:
                if floating is float:
                    norm = sqrt(fnn_gradient_sum_squares_f32(&w[0], <float *> &g[0], w.shape[0], l1, l2))
                else:
                    norm = sqrt(fnn_gradient_sum_squares_f64(&w[0], <double *> &g[0], w.shape[0], l1, l2))
                scale = clip / (norm if norm > clip else clip)
        if floating is float:
            penalty = fnn_optimizer_step_f32(r, lr, t, &w[0], <float *> &g[0], s0, s1, s2, w.shape[0], l1, l2,
                                             scale)
        else:
            penalty = fnn_optimizer_step_f64(r, lr, t, &w[0], <double *> &g[0], s0, s1, s2, w.shape[0], l1, l2,
                                             scale)
    return penalty


cdef void *_state_address(s):
    return NULL if s is None else <void *> <size_t> s.ctypes.data


def optimizer_step(rule, w, g, states, learning_rate, iteration, l1=0.0, l2=0.0, scale=None):
    """One step of an optimizer rule on the parameter w, in place (the formulas: fnn_rule in
    csrc/fastnn_kernels.h, Keras 3's).

    rule : dict with "kind" ("sgd", "adam", "rmsprop", "adagrad") and its settings (see
        RULE_DEFAULTS); w, g : the parameter and the gradient of the mean batch loss, one
        shape and dtype; states : a list of STATES[kind] arrays like w (those a rule does not
        use may be None); learning_rate : the rate of this step; iteration : t, the updates
        already made; l1, l2 : the penalty l1·Σ|w| + l2·Σw² on w, whose gradient joins g;
        scale : the factor of clipnorm or global_clipnorm, c / max(‖g‖, c), as the training
        loop computes it over its parameters; None: from this parameter's own norm.
    Returns the penalty's value before the step.
    """
    if not isinstance(rule, dict):
        raise TypeError(f"rule must be a dict, got {type(rule).__name__}")
    cdef fnn_rule r = make_rule(rule)
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
    kind = RULES[r.kind]
    states = list(states)
    if len(states) != STATES[kind]:
        raise ValueError(f"rule {kind!r} keeps {STATES[kind]} state arrays, got {len(states)}")
    needed = {"sgd": (0,), "adam": (0, 1) + ((2,) if r.amsgrad else ()),
              "rmsprop": (0,) + ((1,) if r.momentum > 0 else ()) + ((2,) if r.centered else ()),
              "adagrad": (0,)}[kind]
    arrays = {"g": g}
    for i in needed:
        if states[i] is None:
            raise ValueError(f"states[{i}] is None but rule {kind!r} with these settings needs it")
        arrays[f"states[{i}]"] = states[i]
    dtype = _validate.common_float_dtype(w.ndim, w=w, **arrays)
    for name, a in arrays.items():
        _validate.shape(name, a, w.shape)
    _validate.writable_and_separate("w", w, **arrays)
    for i in needed:
        others = {n: a for n, a in arrays.items() if n != f"states[{i}]"}
        _validate.writable_and_separate(f"states[{i}]", states[i], **others)
    lr = _validate.scalar("learning_rate", learning_rate, low=0.0)
    if isinstance(iteration, bool) or not isinstance(iteration, (int, np.integer)) or iteration < 0:
        raise ValueError(f"iteration must be an integer >= 0, got {iteration!r}")
    l1 = _validate.scalar("l1", l1, low=0.0)
    l2 = _validate.scalar("l2", l2, low=0.0)
    scale = -1.0 if scale is None else _validate.scalar("scale", scale, low=0.0)
    flat = [None if (i not in needed) else states[i].reshape(-1) for i in range(3)]
    if dtype == _validate.float32:
        return _step[float](&r, lr, iteration, w.reshape(-1), g.reshape(-1), <float *> _state_address(flat[0]),
                            <float *> _state_address(flat[1]), <float *> _state_address(flat[2]), l1, l2, scale)
    return _step[double](&r, lr, iteration, w.reshape(-1), g.reshape(-1), <double *> _state_address(flat[0]),
                         <double *> _state_address(flat[1]), <double *> _state_address(flat[2]), l1, l2, scale)
