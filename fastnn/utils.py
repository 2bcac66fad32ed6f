"""Small helpers of the Keras workflow: one-hot encoding and class weights."""
import numpy as np


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encoding: class id c → a row with 1 in column c and 0 elsewhere.

    Parameters
    ----------
    y : array-like of int, shape (n_samples,)
        Class ids in ``[0, num_classes)``.
    num_classes : int, optional
        Number of columns; ``max(y) + 1`` when omitted.

    Returns
    -------
    ndarray of shape (n_samples, num_classes)
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D class ids, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("y must hold whole-number class ids")
        y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"class ids must be >= 0, got {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    num_classes = int(num_classes)
    if y.size and y.max() >= num_classes:
        raise ValueError(f"class id {y.max()} does not fit num_classes={num_classes}")
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y.astype(np.intp)] = 1
    return out


def compute_class_weight(class_weight, *, classes, y):
    """Class weights α_i = n / (k·n_i): the course's balanced cross-entropy.

    n is the number of samples, k the number of classes and n_i the samples of
    class i, so a rare class weighs more. Same signature and result as
    ``sklearn.utils.class_weight.compute_class_weight``: ``class_weight`` is
    "balanced", a dict {class: weight} (others get 1) or None (all 1).

    Returns
    -------
    ndarray of shape (n_classes,), the weight of each entry of ``classes``.
    """
    classes = np.asarray(classes)
    y = np.asarray(y)
    if class_weight is None or (isinstance(class_weight, dict) and not class_weight):
        return np.ones(classes.shape[0], dtype=np.float64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', a dict or None, got {class_weight!r}")
        if not np.all(np.isin(y, classes)):
            raise ValueError("classes should include all valid labels that can be in y")
        counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
        if np.any(counts == 0):
            missing = classes[counts == 0]
            raise ValueError(f"classes {missing.tolist()} have no samples in y; 'balanced' needs each class present")
        return y.shape[0] / (classes.shape[0] * counts)
    if isinstance(class_weight, dict):
        weights = np.ones(classes.shape[0], dtype=np.float64)
        known = {c.item() if hasattr(c, "item") else c: i for i, c in enumerate(classes)}
        for c, w in class_weight.items():
            if c not in known:
                raise ValueError(f"class_weight has class {c!r}, which is not in classes")
            weights[known[c]] = float(w)
        return weights
    raise TypeError(f"class_weight must be 'balanced', a dict or None, got {type(class_weight).__name__}")


def blas_threads(n):
    """Context manager limiting the BLAS threads (SciPy's OpenBLAS, which fastnn's float64
    products use) to ``n``; e.g. ``with blas_threads(1): model.fit(...)``. fastnn then trains
    and predicts single-threaded too (see "Threads" in docs/design.md). Built on threadpoolctl;
    restores the previous setting on exit."""
    from fastnn._threads import limit_blas
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return limit_blas(n)
