"""Small datasets that scikit-learn ships inside its package: Iris and the 8 × 8 digits.

Both load offline, from the copy installed with scikit-learn, and come back as a
:class:`Dataset` that also unpacks as ``(data, target)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Dataset", "load_iris", "load_digits"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A small labelled dataset: the samples, their labels and the names of both.

    Unpacks as ``(data, target)``, so both spellings work::

        iris = load_iris()
        iris.data, iris.target, iris.target_names[iris.target[0]]
        x, y = load_iris()

    Attributes
    ----------
    data : ndarray of float64, shape (n_samples, n_features)
        One sample per row.
    target : ndarray of int64, shape (n_samples,)
        The class of each sample, an index into ``target_names``.
    feature_names : tuple of str, length n_features
        The meaning of each column of ``data``.
    target_names : tuple of str, length n_classes
        The name of each class: ``target_names[k]`` is class ``k``.
    name : str
        The dataset's name, e.g. ``"iris"``.
    description : str
        The dataset's description as scikit-learn ships it (source, citation).
    """

    data: np.ndarray
    target: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    name: str = ""
    description: str = field(default="", repr=False)

    def __iter__(self):
        # Only (data, target): ``x, y = load_iris()`` is the common case.
        yield self.data
        yield self.target

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, "
            f"data={self.data.dtype} {self.data.shape}, "
            f"target={self.target.dtype} {self.target.shape}, "
            f"target_names={self.target_names!r})"
        )


def load_iris() -> Dataset:
    """Fisher's Iris measurements, from the copy scikit-learn ships (works offline).

    150 flowers, 50 of each of three species, each described by four lengths in cm.

    Returns
    -------
    Dataset
        ``data`` float64, shape (150, 4): columns ``sepal_length, sepal_width,
        petal_length, petal_width`` (cm).
        ``target`` int64, shape (150,): 0, 1 or 2, indexing ``target_names =
        ("setosa", "versicolor", "virginica")``; the rows are sorted by class.
        Unpacks as ``x, y = load_iris()``.
    """
    from sklearn import datasets as sk_datasets  # imported here: scikit-learn is slow to import

    bunch = sk_datasets.load_iris()
    return Dataset(
        data=np.ascontiguousarray(bunch.data, dtype=np.float64),
        target=np.ascontiguousarray(bunch.target, dtype=np.int64),
        feature_names=("sepal_length", "sepal_width", "petal_length", "petal_width"),
        target_names=tuple(str(name) for name in bunch.target_names),
        name="iris",
        description=bunch.DESCR,
    )


def load_digits() -> Dataset:
    """The 8 × 8 handwritten digits (UCI optical recognition set), from scikit-learn's copy.

    1797 images of 8 × 8 pixels, each pixel the count (0–16) of set pixels in a 4 × 4
    block of the original 32 × 32 bitmap. ``data.reshape(-1, 8, 8)`` gives the images.

    Returns
    -------
    Dataset
        ``data`` float64, shape (1797, 64): integer values 0–16, row-major pixels
        named ``pixel_<row>_<col>``.
        ``target`` int64, shape (1797,): the digit 0–9; ``target_names`` is
        ``("0", "1", ..., "9")``. Unpacks as ``x, y = load_digits()``.
    """
    from sklearn import datasets as sk_datasets

    bunch = sk_datasets.load_digits()
    return Dataset(
        data=np.ascontiguousarray(bunch.data, dtype=np.float64),
        target=np.ascontiguousarray(bunch.target, dtype=np.int64),
        feature_names=tuple(f"pixel_{row}_{col}" for row in range(8) for col in range(8)),
        target_names=tuple(str(digit) for digit in range(10)),
        name="digits",
        description=bunch.DESCR,
    )
