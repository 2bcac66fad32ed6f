"""fastnn.sklearn's MLPClassifier/MLPRegressor beside scikit-learn's, with the same parameters.

    FASTNN_DATA=/path/to/data python benchmarks/sklearn_dropin.py [--repeats 3] [--threads 1 2]
        [--only mnist-adam,mnist-sgd,breast-cancer,digits-lbfgs] [--example]

Workloads (float32 MNIST pixels / 255, as both libraries train float32 data in float32;
scaled breast cancer and digits in float64):

* mnist-adam: 784-100-10, solver="adam", batch_size=200, 20 epochs (tol=0: no early stop)
* mnist-sgd:  the same with solver="sgd", learning_rate_init=0.01 (momentum 0.9, Nesterov)
* breast-cancer: the defaults (hidden_layer_sizes=(100,), adam, up to 200 epochs)
* digits-lbfgs: solver="lbfgs", hidden_layer_sizes=(100,), max_iter=200

Each fit runs with its thread count (fastnn: n_threads=N; scikit-learn: its BLAS limited
to N threads with threadpoolctl), the two libraries taking turns, after a discarded warm-up;
the table gives medians, the speed-up and each one's test score. ``--example`` also runs
scikit-learn's "Visualization of MLP weights on MNIST" example with only its import changed
(examples/sklearn_mnist_filters.py). A benchmark reports; it asserts nothing.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from sklearn import neural_network as sk
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from fastnn import sklearn as fs
from fastnn.datasets import load_mnist


def _mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    return (x_train.reshape(len(x_train), -1).astype(np.float32) / 255, y_train,
            x_test.reshape(len(x_test), -1).astype(np.float32) / 255, y_test)


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


WORKLOADS = {
    "mnist-adam": (_mnist, dict(hidden_layer_sizes=(100,), solver="adam", batch_size=200, max_iter=20, tol=0.0,
                                random_state=0)),
    "mnist-sgd": (_mnist, dict(hidden_layer_sizes=(100,), solver="sgd", batch_size=200, max_iter=20, tol=0.0,
                               learning_rate_init=0.01, random_state=0)),
    "breast-cancer": (lambda: _split(*load_breast_cancer(return_X_y=True)), dict(random_state=0)),
    "digits-lbfgs": (lambda: _split(*load_digits(return_X_y=True)), dict(solver="lbfgs", random_state=0)),
}


def _fit(cls, params, threads, data):
    X, y, Xt, yt = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cls is fs.MLPClassifier:
            start = time.perf_counter()
            model = cls(n_threads=threads, **params).fit(X, y)
        else:
            with threadpool_limits(threads):
                start = time.perf_counter()
                model = cls(**params).fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, model.score(Xt, yt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--example", action="store_true")
    args = parser.parse_args()
    rows = []
    for name in args.only.split(","):
        load, params = WORKLOADS[name]
        data = load()
        for threads in args.threads:
            times = {"fastnn": [], "sklearn": []}
            scores = {}
            _fit(fs.MLPClassifier, params, threads, data)          # warm-up, discarded
            for r in range(args.repeats):
                order = (("fastnn", fs.MLPClassifier), ("sklearn", sk.MLPClassifier))
                for label, cls in (order if r % 2 == 0 else order[::-1]):
                    seconds, score = _fit(cls, params, threads, data)
                    times[label].append(seconds)
                    scores[label] = score
            f, s = statistics.median(times["fastnn"]), statistics.median(times["sklearn"])
            rows.append((name, threads, f, s, s / f, scores["fastnn"], scores["sklearn"]))
            print(f"{name} threads={threads}: fastnn {f:.3f} s, scikit-learn {s:.3f} s", file=sys.stderr, flush=True)
    print("| workload | threads | fastnn (s) | scikit-learn (s) | speed-up | fastnn score | scikit-learn score |")
    print("|---|---|---|---|---|---|---|")
    for name, threads, f, s, ratio, fscore, sscore in rows:
        print(f"| {name} | {threads} | {f:.3f} | {s:.3f} | {ratio:.1f}× | {fscore:.4f} | {sscore:.4f} |")
    if args.example:
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "sklearn_mnist_filters.py")
        subprocess.run([sys.executable, example], check=True)


if __name__ == "__main__":
    main()
