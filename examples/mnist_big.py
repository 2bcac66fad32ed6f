"""The course's larger MNIST network: 784-1024-1024-1024-10 (2,913,290 parameters), relu and softmax,
SGD(lr=0.01, decay=1e-6, momentum=0.9), batch 100.

    python examples/mnist_big.py [--epochs 10] [--seed N]

The course aims at 98% test accuracy; the closing line says what the epochs run here reached.
"""
import argparse
import time

from _common import mnist_flat

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical


def run(seed=0, epochs=10, n_train=60000, verbose=1, data=None):
    x_train, y_train, x_test, y_test = mnist_flat(data)
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    model = Sequential(seed=seed)
    model.add(Dense(1024, activation="relu", input_shape=(784,)))
    model.add(Dense(1024, activation="relu"))
    model.add(Dense(1024, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.01, decay=1e-6, momentum=0.9),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, to_categorical(y_train, 10), batch_size=100, epochs=epochs,
                        validation_data=(x_test, to_categorical(y_test, 10)), verbose=verbose, seed=seed)
    seconds = time.perf_counter() - start
    return {"test_accuracy": history.history["val_accuracy"][-1], "seconds_per_epoch": seconds / epochs,
            "params": model.count_params(), "history": history.history}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    result = run(args.seed, args.epochs)
    print(f"784-1024-1024-1024-10 ({result['params']:,} parameters): test accuracy {result['test_accuracy']:.4f} "
          f"after {args.epochs} epochs, {result['seconds_per_epoch']:.1f} s per epoch")
