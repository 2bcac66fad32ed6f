"""Datasets for the course: small ones bundled with scikit-learn, and MNIST-style ones.

Small, offline (from scikit-learn's installed copy), returned as a :class:`Dataset`
that also unpacks as ``(data, target)``::

    iris = load_iris()          # iris.data (150, 4) float64, iris.target (150,) int64
    x, y = load_digits()        # x (1797, 64) float64 values 0-16, y (1797,) int64 0-9

MNIST-style, as Keras returns them (uint8 arrays)::

    (x_train, y_train), (x_test, y_test) = load_mnist()
    # x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    FASHION_MNIST_CLASSES[y_train[0]]

``load_mnist(path=None, *, download=True)`` reads the four standard IDX files from
``path`` if given (that folder only, never downloading), else from
``$FASTNN_DATA/mnist`` (or ``$FASTNN_DATA`` itself when it is that ``mnist``
folder), else from the cache ``~/.cache/fastnn/mnist`` (honouring
``XDG_CACHE_HOME``), downloading them there if needed. Every load verifies the files'
structure and SHA-256; see :mod:`fastnn.datasets._mnist` for the details.

:func:`read_idx` reads any IDX file (plain or gzipped) with the same checks.
"""

from ._fetch import DatasetNotFoundError, DownloadError, cache_dir
from ._idx import read_idx
from ._mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist
from ._toy import Dataset, load_digits, load_iris

__all__ = [
    "Dataset",
    "load_iris",
    "load_digits",
    "load_mnist",
    "load_fashion_mnist",
    "FASHION_MNIST_CLASSES",
    "read_idx",
    "cache_dir",
    "DatasetNotFoundError",
    "DownloadError",
]
