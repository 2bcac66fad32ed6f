"""Pictures of what the course shows: learning curves, decision boundaries, a network's
misclassified test images, confusion matrices, the activation functions, first-layer
weights, and the effect of the learning rate γ on gradient descent.

matplotlib is an optional extra (``pip install fastnn[plot]``, or ``pip install .[plot]``
from a checkout). It is imported when a function here is called, not when this module
is, so ``import fastnn.plot`` always works.

Every function returns a ``matplotlib.figure.Figure`` made without pyplot: nothing is
shown and no global list of figures grows. In a notebook, leave the figure as a cell's
value to see it; in a script, ``fig.savefig("curves.png", dpi=100)``. Functions that draw
into a single axes take ``ax=`` (then they draw there and return that axes' figure);
the others take ``figsize=``.

Each figure also keeps what it drew, for tests and for the curious:
``fig.decision_boundary`` (the grid, the class of each grid point, the line),
``fig.misclassified_indices``, ``fig.confusion_matrix``, ``fig.precision``,
``fig.recall``, ``fig.activation_values``, ``fig.units_shown``, ``fig.paths``.
"""
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fastnn import activations as _activations
from fastnn.layers import Dense
from fastnn.models import Perceptron, Sequential

INSTALL_HINT = "pip install fastnn[plot]  (from a checkout: pip install .[plot])"


class MatplotlibMissingError(ImportError):
    """fastnn.plot needs matplotlib, an optional extra that is not installed."""


def require_matplotlib():
    """Import matplotlib (the parts used here) and return it; a clear error if it is missing."""
    try:
        import matplotlib.colors
        import matplotlib.figure
        import matplotlib.ticker
    except ImportError as exc:
        raise MatplotlibMissingError(
            f"fastnn.plot draws with matplotlib, which is not installed: {INSTALL_HINT}") from exc
    return matplotlib


def _figure(figsize, layout="constrained"):
    mpl = require_matplotlib()
    fig = mpl.figure.Figure(figsize=figsize, layout=layout)
    # Jupyter shows a figure through _repr_png_ unless pyplot's inline backend has registered its own
    # display: with this, a figure returned here shows once, even where pyplot was never imported.
    fig._repr_png_ = lambda: _png_bytes(fig)
    return fig


def _png_bytes(fig, dpi=100):
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _one_axes(ax, figsize):
    """The figure and axes to draw into: those of ``ax``, or a new figure with one axes."""
    if ax is not None:
        require_matplotlib()
        return ax.figure, ax
    fig = _figure(figsize)
    return fig, fig.subplots()


def _class_colours(k):
    mpl = require_matplotlib()
    palette = mpl.colormaps["tab10" if k <= 10 else "tab20"].colors
    return [palette[i % len(palette)] for i in range(k)]


def _lighter(colour, amount=0.7):
    """The colour mixed with white: amount 0 leaves it, 1 gives white."""
    rgb = np.asarray(require_matplotlib().colors.to_rgb(colour))
    return tuple(rgb + (1.0 - rgb) * amount)


def _name_of(class_names, k):
    return str(class_names[k]) if class_names is not None and 0 <= k < len(class_names) else str(k)


# ---------------------------------------------------------------- what a model predicts


def _threshold(activation, threshold):
    """The output value above which a one-unit model says class 1: 0.5 for outputs in [0, 1]."""
    if threshold is not None:
        return float(threshold)
    return 0.5 if activation in ("sigmoid", "hard_sigmoid", "step", "softmax") else 0.0


def _z_at(activation, t):
    """z with g(z) = t for the activations of a linear unit, or None when there is no such line."""
    if activation == "linear":
        return t
    if activation == "sigmoid" and 0.0 < t < 1.0:
        return math.log(t / (1.0 - t))                  # σ⁻¹(t)
    if activation == "hard_sigmoid" and 0.0 < t < 1.0:
        return 2.0 * t - 1.0                            # (z + 1)/2 = t
    if activation == "tanh" and -1.0 < t < 1.0:
        return math.atanh(t)
    if activation == "step" and 0.0 <= t < 1.0:
        return 0.0                                      # step(z) = 1 exactly when z ≥ 0
    return None


def _output_activation(model):
    return model.layers[-1].activation          # an Activation layer folds into the Dense before it


def _classes(model, x, threshold=None):
    """(class ids, confidence or None) that ``model`` gives to the rows of ``x``.

    Perceptron: step(w·x + b). Sequential with one output unit: 1 where ŷ > threshold
    (0.5 for sigmoid, hard sigmoid and step; 0 for linear or tanh), confidence ŷ or 1 − ŷ
    for the sigmoids; with several units: argmax ŷ, confidence max ŷ for softmax.
    Anything else with ``predict`` (e.g. scikit-learn): its class ids, or argmax of its rows.
    """
    if isinstance(model, Perceptron):
        return np.asarray(model.predict(x), dtype=np.intp), None
    if isinstance(model, Sequential):
        out = np.asarray(model.predict(x), dtype=np.float64)
        activation = _output_activation(model)
        if out.shape[1] == 1:
            ids = (out[:, 0] > _threshold(activation, threshold)).astype(np.intp)
            if activation not in ("sigmoid", "hard_sigmoid"):
                return ids, None
            return ids, np.where(ids == 1, out[:, 0], 1.0 - out[:, 0])
        ids = np.argmax(out, axis=1)
        return ids, (out[np.arange(len(out)), ids] if activation == "softmax" else None)
    if not hasattr(model, "predict"):
        raise TypeError(f"model must have a predict method, got {type(model).__name__}")
    out = np.asarray(model.predict(x))
    if out.ndim == 2 and out.shape[1] > 1:
        return np.argmax(out, axis=1), None
    ids = out.reshape(len(out))
    conf = None
    if hasattr(model, "predict_proba"):
        conf = np.max(np.asarray(model.predict_proba(x)), axis=1)
    return ids.astype(np.intp), conf


def _linear_boundary(model, threshold=None):
    """(w, b, label) with the decision boundary w·x + b = 0, for a model that has one; else None.

    Perceptron; a Sequential of one Dense(1) layer (the boundary is g(z) = threshold, i.e.
    z = g⁻¹(threshold)); a Sequential of one Dense(2) layer with a monotone activation
    (argmax: z₁ > z₀, so (w₁ − w₀)·x + (b₁ − b₀) = 0).
    """
    if isinstance(model, Perceptron):
        return np.asarray(model.w, dtype=np.float64), float(model.b), "w·x + b = 0"
    if not isinstance(model, Sequential):
        return None
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    if len(dense) != 1 or not dense[0].built:
        return None
    W = np.asarray(dense[0].W, dtype=np.float64)
    b = np.asarray(dense[0].b, dtype=np.float64) if dense[0].b is not None else np.zeros(W.shape[1])
    activation = _output_activation(model)
    if W.shape[1] == 1:
        z = _z_at(activation, _threshold(activation, threshold))
        if z is None:
            return None
        label = "w·x + b = 0" if z == 0 else f"w·x + b = {z:.3g}"
        return W[:, 0], float(b[0]) - z, label
    if W.shape[1] == 2 and activation in ("softmax", "sigmoid", "tanh", "linear"):
        return W[:, 1] - W[:, 0], float(b[1] - b[0]), "(w₁ − w₀)·x + (b₁ − b₀) = 0"
    return None


def _class_ids(y, n, name="y"):
    """Class ids from ids (n,), (n, 1) or one-hot rows (n, k)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)
    elif y.ndim == 2:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} labels but x has {n} samples")
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        raise ValueError(f"{name} must hold class ids or one-hot rows, got fractions")
    return y.astype(np.intp)


def _square(n_values, image_shape, what):
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 2 or image_shape[0] * image_shape[1] != n_values:
            raise ValueError(f"image_shape {image_shape} does not hold the {n_values} values of {what}")
        return image_shape
    side = math.isqrt(n_values)
    if side * side != n_values:
        raise ValueError(f"{what} has {n_values} values, which is not a square image; pass image_shape=(h, w)")
    return side, side


def _images_and_rows(x, image_shape=None):
    """Images (n, h, w) to draw and rows (n, h·w) for the model, from either form."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x, x.reshape(len(x), -1)
    if x.ndim == 2:
        h, w = _square(x.shape[1], image_shape, "each row of x")
        return x.reshape(len(x), h, w), x
    raise ValueError(f"x must be rows (n, h·w) or images (n, h, w), got shape {x.shape}")


# ---------------------------------------------------------------- learning curves


def plot_history(history, keys=None, ax=None, figsize=None, title=None):
    """Loss and each metric per epoch, training and validation on the same axes.

    Parameters
    ----------
    history : History or dict of list
        What ``fit`` returns, or its ``.history`` (``loss``, ``accuracy``, ``val_loss``, ...).
    keys : list of str, optional
        The quantities to draw, one axes each (default: ``loss`` and each metric);
        ``val_<key>`` is drawn beside ``<key>`` when present.
    ax : Axes, optional
        Draw into this axes (one key only).
    """
    logs = history.history if hasattr(history, "history") else history
    if not isinstance(logs, Mapping):
        raise TypeError(f"history must be a History or its .history dict, got {type(history).__name__}")
    if keys is None:
        keys = [k for k in logs if not k.startswith("val_")] or list(logs)
    keys = list(keys)
    if not keys or not any(len(logs.get(k, ())) for k in keys):
        raise ValueError("the history holds no epochs to draw")
    missing = [k for k in keys if k not in logs]
    if missing:
        raise ValueError(f"the history has no {missing}; it has {sorted(logs)}")
    mpl = require_matplotlib()
    if ax is not None:
        if len(keys) != 1:
            raise ValueError(f"ax= draws one quantity, but keys are {keys}; pass keys=[...] with one name")
        fig, axes = ax.figure, [ax]
    else:
        fig = _figure(figsize or (4.0 * len(keys), 3.2))
        axes = fig.subplots(1, len(keys), sharex=True, squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for name, label, style in ((key, "training", "-"), (f"val_{key}", "validation", "--")):
            values = np.asarray(logs.get(name, ()), dtype=np.float64)
            if values.size:
                epochs = np.arange(1, values.size + 1)
                ax.plot(epochs, values, style, marker="o" if values.size <= 30 else None, markersize=3,
                        label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- decision boundary


@dataclass
class DecisionBoundary:
    """What plot_decision_boundary drew, in the plot's coordinates.

    xs : (nx,) and ys : (ny,)  the grid; regions : (ny, nx) the class the model gives to
    each point (xs[j], ys[i]); line : (w, b) of the boundary w·x + b = 0, or None.
    """
    xs: np.ndarray
    ys: np.ndarray
    regions: np.ndarray
    line: tuple = None


def _affine_parts(transform, n):
    """(A, c) with transform(x) = x·A + c, read off a transform assumed to be affine."""
    c = np.asarray(transform(np.zeros((1, n))), dtype=np.float64)[0]
    A = np.asarray(transform(np.eye(n)), dtype=np.float64) - c
    return A, c


def _clip_line(w, b, xlim, ylim):
    """Two end points of w₀·x + w₁·y + b = 0 across the box, or None."""
    if abs(w[1]) >= abs(w[0]) and w[1] != 0:
        xs = np.array(xlim)
        return xs, -(b + w[0] * xs) / w[1]
    if w[0] != 0:
        ys = np.array(ylim)
        return -(b + w[1] * ys) / w[0], ys
    return None


def plot_decision_boundary(model, x, y, class_names=None, feature_names=None, transform=None,
                           threshold=None, resolution=200, margin=0.1, ax=None, figsize=(5.0, 4.2),
                           title=None):
    """The regions a fitted 2-feature model gives each class, the data on top, and the line
    w·x + b = 0 for a single linear unit.

    Parameters
    ----------
    model : Perceptron, Sequential (any 2-input network) or any object with ``predict``
    x : array (n_samples, 2)
        Points to draw, in the plot's units.
    y : array (n_samples,) of class ids, or one-hot rows
    class_names, feature_names : sequences of str, optional
    transform : callable, optional
        Maps the plot's units to the model's inputs (e.g. standardisation), so that the
        picture can be in centimetres while the model saw standardised values. The line
        is drawn for an affine transform.
    threshold : float, optional
        For one output unit, the output above which the class is 1 (default 0.5; 0 for a
        linear or tanh output). The line is then g(w·x + b) = threshold.
    resolution : int
        Grid points per axis.
    margin : float
        Room around the data, as a fraction of its range.

    The line is drawn for a Perceptron and for a Sequential of one Dense(1) layer with a
    sigmoid, hard_sigmoid, step, tanh or linear activation; for one Dense(2) softmax layer
    it is (w₁ − w₀)·x + (b₁ − b₀) = 0. ``fig.decision_boundary`` (and ``ax.decision_boundary``,
    for figures of several panels) holds the grid, the class of every grid point and the
    line's (w, b), all in the plot's units.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary draws 2 features: x must have shape (n_samples, 2), got "
                         f"{x.shape}; train on two features (e.g. fastnn train iris --features petal_length "
                         f"petal_width)")
    y = _class_ids(y, len(x))
    if int(resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    to_model = transform if transform is not None else (lambda points: points)

    low, high = x.min(axis=0), x.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    low, high = low - margin * span, high + margin * span
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    regions = _classes(model, to_model(grid), threshold)[0].reshape(xx.shape)

    line = _linear_boundary(model, threshold)
    if line is not None and transform is not None:
        w, b, label = line          # the model sees u = x·A + c: w·u + b = (A·w)·x + (w·c + b)
        A, c = _affine_parts(transform, 2)
        if np.allclose(x @ A + c, np.asarray(transform(x), dtype=np.float64), rtol=1e-6, atol=1e-9):
            line = (A @ w, float(w @ c + b), label)
        else:
            line = None

    n_classes = int(max(y.max(), regions.max())) + 1
    if class_names is not None:
        n_classes = max(n_classes, len(class_names))
    colours = _class_colours(n_classes)
    mpl = require_matplotlib()
    fig, ax = _one_axes(ax, figsize)
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    ax.imshow(regions, origin="lower", extent=extent, aspect="auto", interpolation="nearest",
              cmap=mpl.colors.ListedColormap([_lighter(c) for c in colours]), vmin=-0.5, vmax=n_classes - 0.5)
    for k in np.unique(y):
        ax.scatter(x[y == k, 0], x[y == k, 1], s=22, color=colours[k], edgecolors="black", linewidths=0.5,
                   label=_name_of(class_names, k))
    if line is not None:
        ends = _clip_line(line[0], line[1], extent[:2], extent[2:])
        if ends is not None:
            ax.plot(*ends, color="black", linewidth=1.5, label=line[2])
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    names = feature_names or ("x₁", "x₂")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small", framealpha=0.8)
    drawn = DecisionBoundary(xs, ys, regions, None if line is None else (line[0], line[1]))
    fig.decision_boundary = ax.decision_boundary = drawn
    return fig


# ---------------------------------------------------------------- test errors


def plot_misclassified(model, x, y, max_images=36, class_names=None, ncols=None, image_shape=None,
                       cmap="gray_r", figsize=None, title=None):
    """A grid of the images the model gets wrong: true class top right, predicted class
    (and its probability) bottom right, like the course's figure of a network's test errors.

    Parameters
    ----------
    model : a fitted model whose inputs are the images' pixels as rows
    x : array (n, h·w) of rows (square images) or (n, h, w) of images
    y : array (n,) of class ids, or one-hot rows (n, k)
    max_images : int
        Draw the first ``max_images`` errors, in the order of x.
    image_shape : (h, w), optional
        For rows of non-square images.

    ``fig.misclassified_indices`` are the rows of x drawn, in order (one per axes, row by
    row); ``fig.n_misclassified`` counts all the errors.
    """
    images, rows = _images_and_rows(x, image_shape)
    true = _class_ids(y, len(rows))
    predicted, confidence = _classes(model, rows)
    wrong = np.flatnonzero(predicted != true)
    shown = wrong[:max(int(max_images), 0)]
    n = len(shown)
    ncols = int(ncols) if ncols else max(1, math.ceil(math.sqrt(n)))
    nrows = max(1, math.ceil(n / ncols))
    fig = _figure(figsize or (max(1.0 * ncols, 3.0), 1.0 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    label_box = dict(facecolor="white", alpha=0.7, edgecolor="none", pad=0.5)
    for ax, i in zip(axes, shown):
        ax.imshow(images[i], cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        guess = _name_of(class_names, predicted[i])
        if confidence is not None:
            guess += f" ({confidence[i]:.0%})"
        ax.text(0.96, 0.96, _name_of(class_names, true[i]), transform=ax.transAxes, ha="right", va="top",
                fontsize=8, color="tab:green", fontweight="bold", bbox=label_box, gid="true")
        ax.text(0.96, 0.04, guess, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                color="tab:red", bbox=label_box, gid="predicted")
    for ax in axes[n:]:
        ax.set_axis_off()
    if n == 0:
        axes[0].text(0.5, 0.5, f"no errors on these {len(rows):,} images", ha="center", va="center",
                     transform=axes[0].transAxes)
    fig.suptitle(title or f"{len(wrong):,} of {len(rows):,} misclassified (showing {n})\n"
                          f"true class top right, predicted bottom right", fontsize=9)
    fig.misclassified_indices = shown
    fig.n_misclassified = len(wrong)
    return fig


def plot_confusion_matrix(model, x, y, class_names=None, normalize=False, ax=None, figsize=None, cmap="Blues",
                          title=None):
    """The confusion matrix (rows: true class, columns: predicted class), with each class's
    precision and recall written beside it.

    precision_k = C_kk / Σ_i C_ik (of those predicted k, the fraction that are k);
    recall_k = C_kk / Σ_j C_kj (of those that are k, the fraction found).

    Parameters
    ----------
    x : array (n, n_features), or images (n, h, w)
    y : array (n,) of class ids, or one-hot rows
    normalize : bool
        Colour by the fraction of each true class instead of the count (cells show counts).
    ax : Axes, optional
        Draw the matrix here; the table goes to its right (leave room for it).

    ``fig.confusion_matrix``, ``fig.precision`` and ``fig.recall`` hold the numbers.
    """
    x = np.asarray(x)
    rows = x.reshape(len(x), -1) if x.ndim > 2 else x
    true = _class_ids(y, len(rows))
    predicted = _classes(model, rows)[0]
    k = int(max(true.max(), predicted.max())) + 1
    if class_names is not None:
        k = max(k, len(class_names))
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (true, predicted), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.diag(cm) / cm.sum(axis=0)
        recall = np.diag(cm) / cm.sum(axis=1)
        shade = cm / cm.sum(axis=1, keepdims=True) if normalize else cm
    shade = np.nan_to_num(shade.astype(np.float64))

    names = [_name_of(class_names, i) for i in range(k)]
    width = max(5, max(map(len, names)))
    fmt = lambda v: "     —" if np.isnan(v) else f"{v:6.3f}"
    lines = [f"{'class':<{width}}  precision  recall  support"]
    lines += [f"{names[i]:<{width}}     {fmt(precision[i])}  {fmt(recall[i])}  {cm[i].sum():7d}" for i in range(k)]
    fontsize = 7 if k > 10 else 8
    rotate = max(map(len, names)) > 2
    if ax is None:       # laid out by hand, in inches: a square matrix, then the table beside it
        label_w = 0.065 * max(map(len, names))
        left, bottom, top = 0.55 + label_w, 0.55 + (label_w if rotate else 0.15), 0.35
        side, gap, table = max(1.6, 0.34 * k), 0.25, 0.2 + fontsize / 120 * len(lines[0])
        w, h = figsize or (left + side + gap + table, bottom + side + top)
        fig = _figure((w, h), layout=None)
        ax = fig.add_axes((left / w, bottom / h, side / w, side / h))
        table_at = ((left + side + gap) / w, (bottom + side / 2) / h, fig.transFigure)
    else:
        fig, table_at = ax.figure, (1.04, 0.5, ax.transAxes)
    ax.imshow(shade, cmap=cmap, vmin=0, vmax=shade.max() or 1, interpolation="nearest")
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=fontsize,
                            color="white" if shade[i, j] > 0.6 * shade.max() else "black")
    ax.set_xticks(range(k), names, rotation=90 if rotate else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(cm) / cm.sum()
    ax.set_title(title or f"accuracy {accuracy:.4f} on {cm.sum():,} samples", fontsize=10)
    ax.text(table_at[0], table_at[1], "\n".join(lines), transform=table_at[2], ha="left", va="center",
            family="monospace", fontsize=fontsize, gid="precision_recall")
    fig.confusion_matrix, fig.precision, fig.recall = cm, precision, recall
    return fig


# ---------------------------------------------------------------- the course's functions


ACTIVATIONS = ("relu", "sigmoid", "hard_sigmoid", "tanh", "step")


def plot_activations(names=ACTIVATIONS, z=None, backend="compiled", figsize=None):
    """Each activation g(z) and its derivative g'(z), computed by the engine's own kernels
    (``fastnn.activations.apply`` and ``derivative``).

    ``fig.activation_values[name]`` is (g(z), g'(z)); ``fig.z`` the points.
    """
    names = list(names)
    for name in names:
        if _activations.get(name) == "softmax":
            raise ValueError("softmax acts on whole rows and has no elementwise derivative to draw")
    z = np.linspace(-4.0, 4.0, 801) if z is None else np.asarray(z, dtype=np.float64)
    fig = _figure(figsize or (2.6 * len(names), 2.7))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    values = {}
    for ax, name in zip(axes, names):
        g = _activations.apply(name, z, backend=backend)
        dg = _activations.derivative(name, z, backend=backend)
        values[name] = (g, dg)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.plot(z, g, label="g(z)")
        ax.plot(z, dg, "--", label="g′(z)")
        ax.set_title(name)
        ax.set_xlabel("z")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small")
    fig.activation_values, fig.z = values, z
    return fig


def _first_weights(layer):
    if isinstance(layer, Sequential):
        dense = [l for l in layer.layers if isinstance(l, Dense)]
        if not dense:
            raise ValueError("the model has no Dense layer")
        layer = dense[0]
    if isinstance(layer, Dense):
        if not layer.built:
            raise ValueError(f"layer {layer.name!r} has no weights yet: fit or build the model first")
        return np.asarray(layer.W, dtype=np.float64)
    W = np.asarray(layer, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"weights must be a Dense layer or an array (n_in, units), got shape {W.shape}")
    return W


def plot_weights(layer, max_units=64, image_shape=None, ncols=None, cmap="RdBu_r", figsize=None, title=None):
    """The weights into each unit of a first layer, drawn as images (one per unit).

    Parameters
    ----------
    layer : Dense, Sequential (its first Dense layer) or an array W of shape (n_in, units)
        n_in must be a square number of pixels (784 → 28 × 28, 64 → 8 × 8) or ``image_shape``.
    max_units : int
        Draw the first ``max_units`` units.

    Each image has its own symmetric colour scale: red positive, blue negative, white 0.
    ``fig.units_shown`` lists the units drawn.
    """
    W = _first_weights(layer)
    h, w = _square(W.shape[0], image_shape, "each unit's weight vector")
    k = min(W.shape[1], max(int(max_units), 1))
    ncols = int(ncols) if ncols else math.ceil(math.sqrt(k))
    nrows = math.ceil(k / ncols)
    fig = _figure(figsize or (max(0.9 * ncols, 3.0), 0.9 * nrows + 0.4))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for j, ax in enumerate(axes):
        if j >= k:
            ax.set_axis_off()
            continue
        image = W[:, j].reshape(h, w)
        v = np.abs(image).max() or 1.0
        ax.imshow(image, cmap=cmap, vmin=-v, vmax=v, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"first-layer weights of {k} of {W.shape[1]} units (red +, blue −)", fontsize=9)
    fig.units_shown = np.arange(k)
    return fig


LEARNING_RATES = {0.05: "too small: slow", 0.3: "good", 0.9: "too large: oscillates", 1.05: "too large: diverges"}


def plot_learning_rates(rates=None, loss=None, gradient=None, theta0=2.0, steps=12, loss_label="θ²",
                        figsize=None):
    """Gradient descent θ_{i+1} = θ_i − γ·L′(θ_i) on a 1-D loss for several learning rates γ:
    the course's "effect of the learning coefficient γ".

    Parameters
    ----------
    rates : dict {γ: caption} or sequence of γ, optional
        Default: too small (0.05), good (0.3), too large and oscillating (0.9), divergent
        (1.05), for the default L(θ) = θ², where θ_{i+1} = (1 − 2γ)·θ_i.
    loss, gradient : callables θ → L(θ) and θ → L′(θ), optional (both, or neither)
    theta0 : float
        Starting point θ₀.
    steps : int
        Number of updates.

    ``fig.paths[γ]`` holds θ₀ … θ_steps.
    """
    if (loss is None) != (gradient is None):
        raise ValueError("give both loss and gradient, or neither (for L(θ) = θ²)")
    if loss is None:
        loss, gradient = (lambda t: t * t), (lambda t: 2.0 * t)
    if rates is None:
        rates = LEARNING_RATES
    captions = dict(rates) if isinstance(rates, Mapping) else {float(r): "" for r in rates}
    paths = {}
    for rate in captions:
        thetas = [float(theta0)]
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(int(steps)):
                thetas.append(thetas[-1] - rate * float(gradient(thetas[-1])))
        paths[rate] = np.array(thetas)

    reach = 1.6 * abs(theta0) or 1.0
    curve = np.linspace(-reach, reach, 400)
    heights = np.array([loss(t) for t in curve], dtype=np.float64)
    top = heights.max()
    fig = _figure(figsize or (2.9 * len(captions), 3.0))
    axes = fig.subplots(1, len(captions), sharey=True, squeeze=False)[0]
    for ax, (rate, caption) in zip(axes, captions.items()):
        thetas = paths[rate]
        ax.plot(curve, heights, color="grey", linewidth=1)
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.array([loss(t) for t in thetas], dtype=np.float64)
        ax.plot(thetas, values, "-o", color="tab:red", markersize=3, linewidth=0.8)
        ax.plot(thetas[:1], values[:1], "o", color="black", markersize=5, label="θ₀")
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-0.05 * top, 1.1 * top)
        ax.set_title(f"γ = {rate:g}" + (f": {caption}" if caption else ""), fontsize=9)
        ax.set_xlabel("θ")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"L(θ) = {loss_label}")
    axes[0].legend(loc="upper center", fontsize="small")
    fig.suptitle(f"gradient descent θ ← θ − γ·L′(θ), {int(steps)} steps from θ₀ = {theta0:g}", fontsize=10)
    fig.paths = paths
    return fig


# ---------------------------------------------------------------- after training


def training_figures(model, history, x_test, y_test, class_names=None, feature_names=None, transform=None,
                     image_shape=None):
    """The pictures of a finished training run, as {file stem: Figure}:

    ``learning_curves`` and ``confusion_matrix`` always; ``misclassified`` when the inputs
    are images (square rows, or ``image_shape``); ``decision_boundary`` when there are two
    features (``x_test`` then in the plot's units and ``transform`` to the model's inputs,
    as in plot_decision_boundary). This is what ``fastnn train ... --plots DIR`` writes.
    """
    x_test = np.asarray(x_test)
    to_model = transform if transform is not None else (lambda points: points)
    figures = {"learning_curves": plot_history(history)}
    figures["confusion_matrix"] = plot_confusion_matrix(model, to_model(x_test), y_test, class_names=class_names)
    n_features = x_test.shape[1] if x_test.ndim == 2 else None
    if n_features == 2:
        figures["decision_boundary"] = plot_decision_boundary(model, x_test, y_test, class_names=class_names,
                                                              feature_names=feature_names, transform=transform,
                                                              title="test set")
    is_image = x_test.ndim == 3 or image_shape is not None or (
        n_features is not None and n_features > 4 and math.isqrt(n_features) ** 2 == n_features)
    if is_image:
        figures["misclassified"] = plot_misclassified(model, to_model(x_test), y_test, class_names=class_names,
                                                      image_shape=image_shape)
    return figures
