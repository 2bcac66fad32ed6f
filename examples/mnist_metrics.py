"""The course's MNIST network with Keras 3's metrics and callbacks: precision, recall and AUC
counted over each epoch inside the compiled loop, the best model kept by ModelCheckpoint,
the learning rate lowered by ReduceLROnPlateau, everything logged for TensorBoard.

    python examples/mnist_metrics.py [--epochs N] [--out DIR] [--accuracy-only]

``--accuracy-only`` runs the same fit with metrics=["accuracy"] (ModelCheckpoint then
watches val_accuracy), for its epoch time.

TensorBoard needs ``pip install .[tensorboard]`` (tensorboardX); without it that callback is
left out. MNIST is read from $FASTNN_DATA/mnist or the cache (see fastnn.datasets.load_mnist).
"""
import argparse
import os
import tempfile
import time

from _common import mnist_flat

from fastnn import Sequential, callbacks
from fastnn.layers import Dense
from fastnn.optimizers import SGD


def mnist_model(metrics, seed=0):
    model = Sequential(seed=seed)
    model.add(Dense(64, activation="relu", input_shape=(784,)))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.01, decay=1e-6, momentum=0.9),
                  metrics=metrics)
    return model


def run(epochs=5, out=None, verbose=1, data=None, accuracy_only=False):
    x_train, y_train, x_val, y_val = mnist_flat(data)
    out = out or tempfile.mkdtemp(prefix="fastnn-mnist-metrics-")
    metrics = ["accuracy"] if accuracy_only else ["accuracy", "precision", "recall", "auc"]
    monitor = "val_accuracy" if accuracy_only else "val_auc"
    used = [callbacks.ModelCheckpoint(os.path.join(out, "best.fnn"), monitor=monitor, save_best_only=True,
                                      verbose=verbose),
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=verbose)]
    try:
        import tensorboardX  # noqa: F401
        used.append(callbacks.TensorBoard(os.path.join(out, "logs")))
    except ImportError:
        pass
    model = mnist_model(metrics)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=100, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=used, verbose=verbose)
    seconds = time.perf_counter() - start
    return {"history": history.history, "seconds_per_epoch": seconds / epochs, "out": out}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=None)
    parser.add_argument("--accuracy-only", action="store_true")
    args = parser.parse_args()
    result = run(args.epochs, args.out, accuracy_only=args.accuracy_only)
    for key, values in result["history"].items():
        print(f"{key:16s} " + " ".join(f"{v:.4f}" for v in values))
    print(f"{result['seconds_per_epoch']:.3f} s per epoch (with validation); files in {result['out']}")
