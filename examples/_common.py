"""Shared data preparation of the examples."""
import numpy as np

from fastnn.datasets import load_iris, load_mnist


def iris_pair(first, second, features=None, standardise=True):
    """The Iris flowers of two classes (names); labels 0 (first) and 1 (second).

    features: names of the measurements to keep (default all four); standardise: scale
    each to mean 0 and standard deviation 1 (else centimetres).
    """
    iris = load_iris()
    ids = [iris.target_names.index(first), iris.target_names.index(second)]
    keep = np.isin(iris.target, ids)
    columns = [iris.feature_names.index(f) for f in features] if features else slice(None)
    x, y = iris.data[keep][:, columns], (iris.target[keep] == ids[1]).astype(np.int64)
    if standardise:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y


def mnist_flat(path=None):
    """MNIST as the course's script prepares it: rows of 784 floats in [0, 1], labels 0–9."""
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    return (x_train.reshape(60000, 784).astype("float32") / 255, y_train,
            x_test.reshape(10000, 784).astype("float32") / 255, y_test)
