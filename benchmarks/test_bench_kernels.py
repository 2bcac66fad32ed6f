"""Kernel benchmarks: the compiled backend beside the NumPy reference.

The shapes are the course's MNIST net, 784 → 64 → 10, in float32, at batches of
100 and 1000. Each group holds one kernel at one shape, so the two backends sit
side by side in the table:

    pytest benchmarks/ --benchmark-only

(The plain ``pytest`` only collects ``tests/``; nothing here asserts a time.)

NumPy and SciPy each bundle their own OpenBLAS, each with its own thread pool; on
a small machine the two pools compete. ``FASTNN_BENCH_BLAS_THREADS=1`` limits both
(through threadpoolctl) for a quieter, like-for-like comparison.
"""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastnn.backend import get_backend

BACKENDS = ["compiled", "numpy"]
BATCHES = [100, 1000]
LAYERS = [(784, 64), (64, 10)]
DTYPE = np.float32


@pytest.fixture(autouse=True, scope="module")
def blas_threads():
    threads = os.environ.get("FASTNN_BENCH_BLAS_THREADS")
    if not threads:
        yield
        return
    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield


def arrays(n_b, n_i, n_o):
    rng = np.random.default_rng(0)
    X = rng.random((n_b, n_i), dtype=DTYPE)
    W = (rng.standard_normal((n_i, n_o)) / np.sqrt(n_i)).astype(DTYPE)
    b = np.zeros(n_o, DTYPE)
    return X, W, b


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("n_i, n_o", LAYERS, ids=lambda n: str(n))
@pytest.mark.parametrize("n_b", BATCHES)
def test_dense_forward(benchmark, backend_name, n_b, n_i, n_o):
    backend = get_backend(backend_name)
    X, W, b = arrays(n_b, n_i, n_o)
    Z = np.empty((n_b, n_o), DTYPE)
    benchmark.group = f"dense_forward {n_i}->{n_o} batch {n_b}"
    benchmark(backend.dense_forward, X, W, b, Z)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("n_i, n_o", LAYERS, ids=lambda n: str(n))
@pytest.mark.parametrize("n_b", BATCHES)
def test_dense_backward(benchmark, backend_name, n_b, n_i, n_o):
    backend = get_backend(backend_name)
    X, W, b = arrays(n_b, n_i, n_o)
    delta = np.random.default_rng(1).standard_normal((n_b, n_o)).astype(DTYPE)
    dW, db, dX = np.empty_like(W), np.empty_like(b), np.empty_like(X)
    benchmark.group = f"dense_backward {n_i}->{n_o} batch {n_b}"
    benchmark(backend.dense_backward, X, W, delta, dW, db, dX)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("n_b", BATCHES)
def test_softmax_cross_entropy(benchmark, backend_name, n_b):
    backend = get_backend(backend_name)
    rng = np.random.default_rng(2)
    n_k = LAYERS[-1][1]
    Z = (3 * rng.standard_normal((n_b, n_k))).astype(DTYPE)
    labels = rng.integers(0, n_k, n_b).astype(np.intp)
    P, delta = np.empty_like(Z), np.empty_like(Z)
    benchmark.group = f"softmax_cross_entropy {n_k} classes batch {n_b}"
    benchmark(backend.softmax_cross_entropy, Z, labels, P, delta)
