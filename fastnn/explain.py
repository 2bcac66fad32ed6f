"""One training step, shown layer by layer in the course's notation.

``Sequential.explain_step(x, y)`` runs the model's real training step (the same compiled
call as ``train_on_batch``) on a few samples and collects what it computed:

    forward     I_1 = x;   Z_l = I_l·W_l + b_l;   A_l = g(Z_l);   I_{l+1} = A_l
    loss        E = (1/n) Σ_b w_b E_b                   (the batch's mean loss)
    output      δ_L = ∂E/∂Z_L                           ((A − Y)/n for softmax with cross-entropy)
    backward    δ_l = (δ_{l+1}·W_{l+1}ᵀ) ⊙ g′(Z_l)
    gradients   dW_l = I_lᵀ·δ_l;   db_l = Σ_batch δ_l
    update      SGD: γ_t = γ / (1 + decay·t);  v ← μ·v − γ_t·dW;  W ← W + v   (or Adam's, ...)

Unless asked (``update=True``), the model is put back as it was: its weights, its
optimizer's state and step counter t, and what its layers showed before.

The result, a ``StepExplanation``, prints as text, shows as an HTML table in Jupyter, and
holds every quantity as a NumPy array: ``e.loss``, ``e.layers[0].delta``, ``e[0]["dW"]``.
δ_{l+1}·W_{l+1}ᵀ and g′(Z_l), the two factors of δ_l, are recomputed here in NumPy
(the compiled step keeps only their product); every other number is the step's own.
"""
import html
from collections.abc import Mapping

import numpy as np

from fastnn.backend import numpy_backend as _textbook

# the optimizer's state arrays by rule, in the order of Optimizer.variables
STATE_NAMES = {"sgd": ("velocity v",), "adam": ("m", "v", "v̂"), "rmsprop": ("mean square v", "momentum s", "mean gradient ḡ"),
               "adagrad": ("accumulator a",)}
_SUB = str.maketrans("0123456789+-", "₀₁₂₃₄₅₆₇₈₉₊₋")


def _sub(n):
    return str(n).translate(_SUB)


class LayerStep(Mapping):
    """The quantities of one Dense layer in one training step. Read them as attributes
    (``layer.delta``) or as keys (``layer["delta"]``, ``dict(layer)``).

    Attributes
    ----------
    name, activation : str
        The layer's name and its activation g.
    index : int
        l, the layer's place from 1 (input side) to L (the output layer).
    n_in, units : int
        Its inputs and units.
    I : ndarray (batch, n_in)
        The layer's input: x for the first layer, the previous layer's A (or D) otherwise.
    W, b : ndarray (n_in, units), (units,)
        The weights before the step (b is None without a bias).
    Z, A : ndarray (batch, units)
        Z = I·W + b and A = g(Z).
    dropout : dict or None
        When a Dropout layer follows: its ``rate``, the ``mask`` (1 kept, 0 dropped) and
        ``D`` = A ⊙ mask / (1 − rate), the next layer's input.
    back : ndarray (batch, units) or None
        δ_{l+1}·W_{l+1}ᵀ, times mask / (1 − rate) after dropout; None for the output layer.
    g_prime : ndarray (batch, units) or None
        g′(Z); None for the output layer, whose δ comes from the loss, and for softmax.
    delta : ndarray (batch, units)
        δ = ∂E/∂Z; for a hidden layer δ = back ⊙ g_prime.
    dW, db : ndarray (n_in, units), (units,)
        dW = Iᵀ·δ and db = Σ_batch δ (db is None without a bias).
    state : dict
        The optimizer's arrays: ``state["W"][name] = (before, after)``, the same for "b"
        (SGD: "velocity v"; Adam: "m", "v" and, with amsgrad, "v̂"; RMSprop: "mean square v",
        with momentum "momentum s", centered "mean gradient ḡ"; Adagrad: "accumulator a").
    step_W, step_b : ndarray
        W_new − W and b_new − b, the change the optimizer made.
    W_new, b_new : ndarray
        The weights after the step.
    """

    def __init__(self, **values):
        self._values = values

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __getattr__(self, key):
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(f"a layer's step has no {key!r}; it has {', '.join(self.__dict__['_values'])}") \
                from None

    def __repr__(self):
        return f"LayerStep({self['index']}: {self['name']!r}, {self['n_in']} → {self['units']}, {self['activation']})"


class StepExplanation(Mapping):
    """One training step of a Sequential model, layer by layer (see ``fastnn.explain``).
    ``print`` shows it as text, Jupyter as an HTML table; the values are attributes and
    keys (``e.loss``, ``e["loss"]``), and an integer key gives a layer (``e[0]``).

    Attributes
    ----------
    layers : list of LayerStep
        One per Dense layer, from the input to the output.
    loss : float
        E, the batch's mean loss (what ``train_on_batch`` returns), penalties included.
    metrics : dict
        The compiled metrics on this batch (accuracy), computed before the update.
    loss_name, output_delta : str
        The loss, and the formula of the output layer's δ for it.
    x, y : ndarray
        The batch as the step took it.
    n : int
        The number of samples in the batch.
    model, optimizer : str
        The model and the optimizer with its settings, as text.
    rule : dict
        The optimizer's rule (kind, momentum, β's, ...).
    t : int
        The step number: updates made before this one.
    learning_rate : float
        γ_t, the rate of this step (SGD: γ / (1 + decay·t)).
    adam_alpha : float or None
        Adam's α = γ_t·√(1 − β₂^(t+1)) / (1 − β₁^(t+1)).
    updated : bool
        Whether the model kept the step.
    """

    def __init__(self, **values):
        self._values = values

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._values["layers"][key]
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __getattr__(self, key):
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(f"a step explanation has no {key!r}") from None

    # ------------------------------------------------------------ text

    def to_text(self, precision=4, edgeitems=3):
        """The step as plain text; matrices larger than 2·edgeitems rows or columns are cut
        to their first and last ``edgeitems``."""
        fmt = lambda a: _text_array(a, precision, edgeitems)
        lines = [self._headline(), ""]
        L = len(self.layers)
        lines.append("Forward:  Z_l = I_l·W_l + b_l,  A_l = g(Z_l),  I_(l+1) = A_l")
        for s in self.layers:
            l = _sub(s.index)
            lines.append(f"  layer {s.index} {s.name!r}: {s.n_in} → {s.units}, g = {s.activation}")
            lines += _block(f"I{l}" + (" = x" if s.index == 1 else f" = A{_sub(s.index - 1)}"
                                       + (" after dropout" if self.layers[s.index - 2].dropout else "")), fmt(s.I))
            lines += _block(f"W{l}", fmt(s.W))
            if s.b is not None:
                lines += _block(f"b{l}", fmt(s.b))
            lines += _block(f"Z{l} = I{l}·W{l}" + (f" + b{l}" if s.b is not None else ""), fmt(s.Z))
            lines += _block(f"A{l} = {s.activation}(Z{l})", fmt(s.A))
            if s.dropout:
                lines += _block(f"mask (rate {s.dropout['rate']:g}; 1 kept, 0 dropped)", fmt(s.dropout["mask"]))
                lines += _block(f"D{l} = A{l} ⊙ mask / (1 − {s.dropout['rate']:g})", fmt(s.dropout["D"]))
        lines.append(f"  loss E = {self.loss:.{precision + 2}g}   ({self.loss_name}, mean over {self.n} sample(s))")
        lines.append("")
        lines.append("Backward:  δ_l = (δ_(l+1)·W_(l+1)ᵀ) ⊙ g′(Z_l),  dW_l = I_lᵀ·δ_l,  db_l = Σ δ_l")
        for s in reversed(self.layers):
            l, k = _sub(s.index), _sub(s.index + 1)
            lines.append(f"  layer {s.index} {s.name!r}")
            if s.index == L:
                lines += _block(f"δ{l} = ∂E/∂Z{l} = {self.output_delta}", fmt(s.delta))
            else:
                after = " ⊙ mask/(1 − rate)" if s.dropout else ""
                lines += _block(f"δ{k}·W{k}ᵀ{after}", fmt(s.back))
                if s.g_prime is not None:
                    lines += _block(f"g′(Z{l}) = {s.activation}′(Z{l})", fmt(s.g_prime))
                lines += _block(f"δ{l} = (δ{k}·W{k}ᵀ{after}) ⊙ g′(Z{l})", fmt(s.delta))
            lines += _block(f"dW{l} = I{l}ᵀ·δ{l}", fmt(s.dW))
            if s.db is not None:
                lines += _block(f"db{l} = Σ δ{l}", fmt(s.db))
        lines.append("")
        lines.append(f"Update ({self._update_rule()}):")
        for s in self.layers:
            l = _sub(s.index)
            lines.append(f"  layer {s.index} {s.name!r}")
            for name, (before, after) in s.state["W"].items():
                lines += _block(f"{name} of W{l}: before", fmt(before))
                lines += _block(f"{name} of W{l}: after", fmt(after))
            lines += _block(f"step W{l}_new − W{l}", fmt(s.step_W))
            lines += _block(f"W{l} ← W{l} + step", fmt(s.W_new))
            if s.b is not None:
                for name, (before, after) in s.state["b"].items():
                    lines += _block(f"{name} of b{l}: after", fmt(after))
                lines += _block(f"b{l} ← b{l} + step", fmt(s.b_new))
        lines.append("")
        lines.append("The model kept this step (update=True)." if self.updated else
                     "The model was left as it was (weights, optimizer state, t): explain_step(update=False).")
        return "\n".join(lines)

    def __str__(self):
        return self.to_text()

    __repr__ = __str__

    def _headline(self):
        rate = f"γ_t = {self.learning_rate:.6g}"
        if self.adam_alpha is not None:
            rate += f", α = {self.adam_alpha:.6g}"
        return (f"One training step of {self.model} on {self.n} sample(s): loss {self.loss_name}, "
                f"optimizer {self.optimizer}, step t = {self.t}, {rate}")

    def _update_rule(self):
        r = self.rule
        kind = r["kind"]
        if kind == "sgd":
            if r.get("nesterov"):
                rule = "v ← μ·v − γ_t·dW;  W ← W + μ·v − γ_t·dW (Nesterov)"
            else:
                rule = "v ← μ·v − γ_t·dW;  W ← W + v"
            rule += f";  μ = {r.get('momentum', 0.0):g}, γ_t = γ/(1 + decay·t) = {self.learning_rate:.6g}"
        elif kind == "adam":
            rule = ("m ← m + (1 − β₁)(dW − m);  v ← v + (1 − β₂)(dW² − v);  W ← W − α·m/(√v + ε),  "
                    f"α = γ_t·√(1 − β₂^(t+1))/(1 − β₁^(t+1)) = {self.adam_alpha:.6g}")
        elif kind == "rmsprop":
            rule = "v ← ρ·v + (1 − ρ)·dW²;  W ← W − γ_t·dW/√(v + ε)"
        else:
            rule = "a ← a + dW²;  W ← W − γ_t·dW/√(a + ε)"
        extras = [f"{k} = {r[k]:g}" for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm") if r.get(k)]
        return rule + (f";  {', '.join(extras)}" if extras else "")

    # ------------------------------------------------------------ HTML (Jupyter)

    def to_html(self, precision=4, edgeitems=3):
        """The step as an HTML table: one row per quantity, grouped in forward, backward and update."""
        cell = lambda a: _html_array(a, precision, edgeitems)
        rows = []

        def section(title):
            rows.append(f'<tr><th colspan="3" style="text-align:left;background:#eef">{html.escape(title)}</th></tr>')

        def row(layer, formula, value):
            rows.append(f'<tr><td style="vertical-align:top">{html.escape(layer)}</td>'
                        f'<td style="vertical-align:top;text-align:left">{html.escape(formula)}</td>'
                        f'<td style="text-align:left">{value}</td></tr>')

        L = len(self.layers)
        section("forward: Z_l = I_l·W_l + b_l,  A_l = g(Z_l),  I_(l+1) = A_l")
        for s in self.layers:
            l, tag = _sub(s.index), f"{s.index} {s.name} ({s.activation})"
            row(tag, f"I{l}" + (" = x" if s.index == 1 else f" = A{_sub(s.index - 1)}"), cell(s.I))
            row(tag, f"W{l}", cell(s.W))
            if s.b is not None:
                row(tag, f"b{l}", cell(s.b))
            row(tag, f"Z{l} = I{l}·W{l}" + (f" + b{l}" if s.b is not None else ""), cell(s.Z))
            row(tag, f"A{l} = {s.activation}(Z{l})", cell(s.A))
            if s.dropout:
                row(tag, f"dropout mask (rate {s.dropout['rate']:g})", cell(s.dropout["mask"]))
                row(tag, f"D{l} = A{l} ⊙ mask / (1 − rate)", cell(s.dropout["D"]))
        row("loss", f"E ({self.loss_name}, mean over {self.n})", f"<code>{self.loss:.{precision + 2}g}</code>")
        section("backward: δ_l = (δ_(l+1)·W_(l+1)ᵀ) ⊙ g′(Z_l),  dW_l = I_lᵀ·δ_l,  db_l = Σ δ_l")
        for s in reversed(self.layers):
            l, k, tag = _sub(s.index), _sub(s.index + 1), f"{s.index} {s.name}"
            if s.index == L:
                row(tag, f"δ{l} = ∂E/∂Z{l} = {self.output_delta}", cell(s.delta))
            else:
                after = " ⊙ mask/(1 − rate)" if s.dropout else ""
                row(tag, f"δ{k}·W{k}ᵀ{after}", cell(s.back))
                if s.g_prime is not None:
                    row(tag, f"g′(Z{l})", cell(s.g_prime))
                row(tag, f"δ{l} = (δ{k}·W{k}ᵀ{after}) ⊙ g′(Z{l})", cell(s.delta))
            row(tag, f"dW{l} = I{l}ᵀ·δ{l}", cell(s.dW))
            if s.db is not None:
                row(tag, f"db{l} = Σ δ{l}", cell(s.db))
        section(f"update: {self._update_rule()}")
        for s in self.layers:
            l, tag = _sub(s.index), f"{s.index} {s.name}"
            for name, (before, after) in s.state["W"].items():
                row(tag, f"{name} of W{l}, before → after", cell(before) + " → " + cell(after))
            row(tag, f"step W{l}_new − W{l}", cell(s.step_W))
            row(tag, f"W{l} ← W{l} + step", cell(s.W_new))
            if s.b is not None:
                for name, (before, after) in s.state["b"].items():
                    row(tag, f"{name} of b{l}, before → after", cell(before) + " → " + cell(after))
                row(tag, f"b{l} ← b{l} + step", cell(s.b_new))
        kept = ("the model kept this step (update=True)" if self.updated
                else "the model was left as it was (update=False)")
        return (f'<div><p><b>{html.escape(self._headline())}</b></p>'
                f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
                f'<p><i>{kept}</i></p></div>')

    def _repr_html_(self):
        return self.to_html()

    def to_dict(self):
        """Everything as plain dicts and arrays (the layers as a list of dicts)."""
        d = dict(self._values)
        d["layers"] = [dict(s) for s in self.layers]
        return d


def _block(label, text):
    """A label and a (possibly multi-line) array, the array indented under the label when long."""
    if "\n" not in text and len(label) + len(text) < 100:
        return [f"    {label:<28} {text}"]
    return [f"    {label}"] + ["        " + line for line in text.splitlines()]


def _text_array(a, precision, edgeitems):
    if a is None:
        return "—"
    a = np.asarray(a)
    return np.array2string(a, precision=precision, suppress_small=True, threshold=(2 * edgeitems) ** 2,
                           edgeitems=edgeitems, max_line_width=110)


def _html_array(a, precision, edgeitems):
    """A matrix as a small HTML table of numbers (a vector as one row), cut like the text form."""
    if a is None:
        return "—"
    a = np.asarray(a)
    m = a.reshape(1, -1) if a.ndim == 1 else a

    def picks(n):
        return list(range(n)) if n <= 2 * edgeitems else list(range(edgeitems)) + [None] + \
            list(range(n - edgeitems, n))

    out = []
    for r in picks(m.shape[0]):
        cells = []
        for c in picks(m.shape[1]):
            if r is None or c is None:
                cells.append("⋯" if r is not None else ("⋮" if c is not None else "⋱"))
            else:
                cells.append(f"{m[r, c]:.{precision}g}")
        out.append("<tr>" + "".join(f'<td style="padding:0 4px;text-align:right;font-family:monospace">{v}</td>'
                                    for v in cells) + "</tr>")
    shape = "×".join(str(d) for d in a.shape)
    return (f'<table style="display:inline-table;border-left:1px solid #888;border-right:1px solid #888">'
            f'{"".join(out)}</table> <small>({shape})</small>')


# δ of the output layer L for each loss (n samples, k output units); {l} is L as a subscript
_OUTPUT_DELTA = {
    "softmax_cross_entropy": "(A{l} − Y)/n",
    "sigmoid_binary_cross_entropy": "(A{l} − Y)/n",
    "focal_cross_entropy": "∂E/∂Z{l} of the focal loss",
    "binary_cross_entropy": "∂E/∂A{l} ⊙ g′(Z{l})",
    "mean_squared_error": "2(A{l} − Y)/(n·k) ⊙ g′(Z{l})",
    "mean_absolute_error": "sign(A{l} − Y)/(n·k) ⊙ g′(Z{l})",
    "huber": "∂E/∂A{l} ⊙ g′(Z{l}) (Huber)",
}


def _optimizer_text(opt):
    """The optimizer and the settings that differ from nothing (no None, False or 0 entries)."""
    try:
        config = opt.get_config()
    except ValueError:                       # a learning rate given as a Python function
        return repr(opt)
    shown = [f"{k}={v!r}" for k, v in config.items() if k != "name" and v not in (None, False, 0, 0.0)]
    return f"{type(opt).__name__}({', '.join(shown)})"


def explain_step(model, x, y, sample_weight=None, class_weight=None, update=False):
    """Run one training step of ``model`` on (x, y) and return a ``StepExplanation``; see
    ``Sequential.explain_step``."""
    from fastnn.layers import Dropout
    model._require_compiled()
    if not isinstance(update, (bool, np.bool_)):
        raise TypeError(f"update must be True or False, got {update!r}")
    xa = model._check_x(x)
    if xa.shape[0] > 1000:
        raise ValueError(f"explain_step shows every number of the step: give it a few samples "
                         f"(at most 1000), got {xa.shape[0]}")
    if not model.built:
        model._build_layers(xa.shape[1])
    opt = model.optimizer
    dense = model._dense_layers()
    params = model._params()
    # what the step changes, to be put back unless update=True
    saved_params = [p.copy() for p in params]
    saved_variables = None if opt.variables is None else [[s.copy() for s in v] for v in opt.variables]
    saved_iterations = opt.iterations
    saved_views = [(layer._views, layer._batch) for layer in model.layers]
    saved_flags = (model._redrawable, [layer._weights_set for layer in model.layers])

    t = opt.iterations
    rate = opt.current_learning_rate(t)
    rule = opt.rule()
    states_before = [[s.copy() for s in v] for v in opt.variables_for(params)]
    drop_of = model._dropouts()
    try:
        logs = model.train_on_batch(xa, y, sample_weight=sample_weight, class_weight=class_weight, return_dict=True)
        states_after = [[s.copy() for s in v] for v in opt.variables]
        steps, i = [], 0
        names = STATE_NAMES[rule["kind"]]
        # the state arrays this rule uses (Adam's v̂ only with amsgrad, RMSprop's s and ḡ with momentum, centered)
        used = [k for k in range(len(names)) if not (
            (rule["kind"] == "adam" and k == 2 and not rule.get("amsgrad"))
            or (rule["kind"] == "rmsprop" and k == 1 and not rule.get("momentum"))
            or (rule["kind"] == "rmsprop" and k == 2 and not rule.get("centered")))]
        for position, (layer, drop) in enumerate(zip(dense, drop_of)):
            n_params = len(layer.params)
            W0 = saved_params[i]
            b0 = saved_params[i + 1] if layer.use_bias else None
            state = {"W": {names[k]: (states_before[i][k], states_after[i][k]) for k in used},
                     "b": ({names[k]: (states_before[i + 1][k], states_after[i + 1][k]) for k in used}
                           if layer.use_bias else {})}
            dropout = None
            if isinstance(drop, Dropout) and drop.rate > 0:
                mask = np.empty_like(layer.A)
                _textbook.dropout(np.ones_like(layer.A), mask, drop.rate, model._dropout_seed(drop, position), t)
                dropout = {"rate": drop.rate, "mask": (mask != 0).astype(layer.A.dtype), "D": drop.A.copy()}
            steps.append(dict(
                index=position + 1, name=layer.name, activation=model._activations()[position],
                units=layer.units, n_in=layer.W.shape[0],
                I=layer.X.copy(), W=W0, b=b0, Z=layer.Z.copy(), A=layer.A.copy(), dropout=dropout,
                back=None, g_prime=None, delta=layer.delta.copy(), dW=layer.dW.copy(),
                db=layer.db.copy() if layer.use_bias else None, state=state,
                W_new=layer.W.copy(), b_new=layer.b.copy() if layer.use_bias else None,
                step_W=layer.W - W0, step_b=(layer.b - b0) if layer.use_bias else None))
            i += n_params
        # the two factors of each hidden layer's δ, recomputed in NumPy from the step's own arrays
        for l in range(len(steps) - 1):
            s, above = steps[l], steps[l + 1]
            back = above["delta"] @ above["W"].T
            if s["dropout"] is not None:
                back = _textbook.dropout(back, np.empty_like(back), s["dropout"]["rate"],
                                         model._dropout_seed(drop_of[l], l), t)
            s["back"] = back
            if s["activation"] != "softmax":
                g = np.empty_like(s["Z"])
                _textbook.activation_derivative(s["activation"], s["Z"], s["A"], g)
                s["g_prime"] = g
    finally:
        if not update:
            for p, before in zip(params, saved_params):
                p[...] = before
            current = opt.variables
            if saved_variables is None:
                opt.variables = None
            elif current is not None and [[s.shape for s in v] for v in current] == \
                    [[s.shape for s in v] for v in saved_variables]:
                for v, before in zip(current, saved_variables):
                    for s, b in zip(v, before):
                        s[...] = b
            else:
                opt.variables = saved_variables
            opt.iterations = saved_iterations
            for layer, (views, batch) in zip(model.layers, saved_views):
                layer._views, layer._batch = views, batch
            model._redrawable = saved_flags[0]
            for layer, flag in zip(model.layers, saved_flags[1]):
                layer._weights_set = flag
    alpha = None
    if rule["kind"] == "adam":
        alpha = rate * np.sqrt(1 - opt.beta_2 ** (t + 1)) / (1 - opt.beta_1 ** (t + 1))
    kind = model._loss_kind
    return StepExplanation(
        model=repr(model), layers=[LayerStep(**s) for s in steps], loss=float(logs["loss"]),
        loss_name=model.loss.name, output_delta=_OUTPUT_DELTA.get(kind, "∂E/∂Z{l}").format(l=_sub(len(steps))),
        x=xa.copy(), y=np.asarray(y).copy(), n=xa.shape[0], optimizer=_optimizer_text(opt), rule=rule, t=t, learning_rate=float(rate),
        adam_alpha=None if alpha is None else float(alpha), updated=bool(update),
        metrics={k: v for k, v in logs.items() if k != "loss"})
