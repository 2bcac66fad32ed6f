"""What counting the metrics in the compiled loop costs: MNIST 784-64-64-64-10, batches of
100, SGD(lr=0.01, decay=1e-6, momentum=0.9), the epoch with metrics=["accuracy"] against the
epoch with metrics=["accuracy", "precision", "recall", "auc"].

    FASTNN_DATA=... python benchmarks/metrics_cost.py [--epochs 7]

The two models train side by side in one process, one epoch each in turn (no validation, so
the times are those of the training loop); prints the median epoch of each and their ratio,
in wall-clock time and in the process's CPU time (less sensitive to other processes on a busy
machine; with FASTNN_NUM_THREADS=1 it is the one worker's time).
"""
import argparse
import statistics
import time

import numpy as np

from fastnn import Sequential
from fastnn.datasets import load_mnist
from fastnn.layers import Dense
from fastnn.optimizers import SGD


def mnist_model(metrics):
    model = Sequential(seed=0)
    model.add(Dense(64, activation="relu", input_shape=(784,)))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile("sparse_categorical_crossentropy", SGD(learning_rate=0.01, decay=1e-6, momentum=0.9),
                  metrics=metrics)
    return model


def main(epochs=7):
    (x, y), _ = load_mnist()
    x = x.reshape(len(x), 784).astype(np.float32) / 255
    runs = {"accuracy": (["accuracy"], [], []), "accuracy+precision+recall+auc":
            (["accuracy", "precision", "recall", "auc"], [], [])}
    models = {name: mnist_model(metrics) for name, (metrics, _, _) in runs.items()}
    for model in models.values():                        # a first epoch each, not timed
        model.fit(x, y, batch_size=100, epochs=1, verbose=0, seed=0)
    for epoch in range(epochs):
        for name, model in models.items():
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(x, y, batch_size=100, epochs=1, verbose=0, seed=epoch + 1)
            runs[name][1].append(time.perf_counter() - start)
            runs[name][2].append(time.process_time() - cpu)
    medians = {name: (statistics.median(wall), statistics.median(cpu)) for name, (_, wall, cpu) in runs.items()}
    for name, (_, wall, cpu) in runs.items():
        print(f"{name:32s} median {medians[name][0] * 1e3:7.1f} ms/epoch wall, {medians[name][1] * 1e3:7.1f} ms "
              f"CPU  (wall: {', '.join(f'{t * 1e3:.0f}' for t in wall)})")
    (base_wall, base_cpu), (full_wall, full_cpu) = medians.values()
    print(f"ratio {full_wall / base_wall:.3f} wall, {full_cpu / base_cpu:.3f} CPU")
    return medians


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7)
    main(parser.parse_args().epochs)
