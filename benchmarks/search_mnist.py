"""GridSearchCV over the course's 784-H-10 MNIST network: one process, two processes, a Dask cluster.

The same search (8 settings × 3 folds on the first 10,000 training images, 10 epochs
each) runs four ways:

* serial     n_jobs=1; each fit uses the threads fastnn chooses (both cores here)
* serial-1t  n_jobs=1 with n_threads=1: each fit on one thread
* processes  n_jobs=2: joblib's loky worker processes, one BLAS thread each
* dask       a dask.distributed LocalCluster of 2 single-threaded worker processes,
             through joblib's dask backend

It prints the wall time of each, the best parameters and score, checks which searches
found identical cross-validation scores (a fit is reproducible for a fixed random_state
*and* a fixed number of threads: splitting a batch over two threads rounds differently),
and scores the best network on the 10,000 test images.

    FASTNN_DATA=/path/to/data python benchmarks/search_mnist.py
    python benchmarks/search_mnist.py --train 5000 --epochs 5 --modes serial,dask

Reads MNIST from $FASTNN_DATA/mnist (never downloads). A report, not a test.
"""
import argparse
import os
import platform
import time

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from fastnn.datasets import load_mnist
from fastnn.sklearn import FastNNClassifier

GRID = {
    "hidden_layer_sizes": [(32,), (64,)],
    "learning_rate": [0.01, 0.1],
    "momentum": [0.0, 0.9],
}


def search(n_jobs, epochs, n_threads=None):
    model = FastNNClassifier(hidden_layer_sizes=(64,), batch_size=100, epochs=epochs, random_state=0,
                             n_threads=n_threads)
    return GridSearchCV(model, GRID, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=n_jobs)


def run(mode, x, y, epochs):
    """(fitted search, wall time of search.fit, extra note) for one way of running it."""
    if mode == "serial":
        s = search(1, epochs)
        start = time.perf_counter()
        s.fit(x, y)
        return s, time.perf_counter() - start, "1 process, fastnn's own threads"
    if mode == "serial-1t":
        s = search(1, epochs, n_threads=1)
        start = time.perf_counter()
        s.fit(x, y)
        return s, time.perf_counter() - start, "1 process, n_threads=1"
    if mode == "processes":
        s = search(2, epochs)
        start = time.perf_counter()
        s.fit(x, y)
        return s, time.perf_counter() - start, "joblib loky, 2 worker processes"
    if mode == "dask":
        import joblib
        from dask.distributed import Client, LocalCluster
        started = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster):
            setup = time.perf_counter() - started
            s = search(None, epochs)
            start = time.perf_counter()
            with joblib.parallel_backend("dask"):
                s.fit(x, y)
            return s, time.perf_counter() - start, f"LocalCluster 2 workers × 1 thread (+{setup:.1f} s to start)"
    raise ValueError(f"unknown mode {mode!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="training images used (default 10000)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--modes", default="serial,serial-1t,processes,dask")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    x = x_train[:args.train].reshape(args.train, -1).astype(np.float32) / 255.0
    y = y_train[:args.train]
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0
    n_settings = int(np.prod([len(v) for v in GRID.values()]))
    print(f"MNIST {x.shape[0]} training images, 784-H-10, {n_settings} settings × 3 folds = "
          f"{3 * n_settings} fits of {args.epochs} epochs (+ the refit); {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}")

    results = {}
    for mode in args.modes.split(","):
        fitted, seconds, note = run(mode, x, y, args.epochs)
        results[mode] = fitted
        params = {k: v for k, v in fitted.best_params_.items()}
        test = fitted.score(x_test, y_test)
        print(f"{mode:>10}: {seconds:6.1f} s  best {params}  cv accuracy {fitted.best_score_:.4f}  "
              f"test accuracy {test:.4f}  ({note})")

    modes = list(results)
    for i, a in enumerate(modes):
        for b in modes[i + 1:]:
            params = "the same" if results[a].best_params_ == results[b].best_params_ else "DIFFERENT"
            sa, sb = (results[m].cv_results_["mean_test_score"] for m in (a, b))
            scores = ("identical" if np.array_equal(sa, sb)
                      else f"differ by up to {np.max(np.abs(sa - sb)):.4f}")
            print(f"{a} vs {b}: {params} best_params_, mean_test_score {scores}")
    first = results[modes[0]].cv_results_
    print("\nmean cv accuracy per setting:")
    for params, score, fit_time in zip(first["params"], first["mean_test_score"], first["mean_fit_time"]):
        print(f"  {params}  {score:.4f}  ({fit_time:.2f} s a fit)")


if __name__ == "__main__":
    main()
