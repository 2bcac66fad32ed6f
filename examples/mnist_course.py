"""The course's MNIST script, unchanged but for its imports: 784-64-64-64-10 (relu, softmax),
SGD(lr=0.01, decay=1e-6, momentum=0.9), batch 100, 10 epochs.

    python examples/mnist_course.py [--seed N] [--epochs N]

MNIST is read from $FASTNN_DATA/mnist or the cache (see fastnn.datasets.load_mnist).
"""
import argparse
import time

from _common import mnist_flat

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical


def run(seed=0, epochs=10, verbose=1, data=None):
    num_classes = 10
    x_train, y_train, x_val, y_test = mnist_flat(data)
    y_train = to_categorical(y_train, num_classes)
    y_val = to_categorical(y_test, num_classes)

    model = Sequential(seed=seed)
    model.add(Dense(64, activation='relu', input_shape=(784,)))
    model.add(Dense(64, activation='relu'))
    model.add(Dense(64, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=100, epochs=epochs, validation_data=(x_val, y_val),
                        verbose=verbose)
    seconds = time.perf_counter() - start
    return {"test_accuracy": history.history["val_accuracy"][-1], "seconds": seconds,
            "seconds_per_epoch": seconds / epochs, "history": history.history, "params": model.count_params()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    result = run(args.seed, args.epochs)
    print(f"test accuracy after {args.epochs} epochs: {result['test_accuracy']:.4f} "
          f"({result['params']:,} parameters, {result['seconds_per_epoch']:.2f} s per epoch with validation)")
