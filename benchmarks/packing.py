"""Packing a wide B once, on and off, side by side: net B's training epoch and predict.

fastnn packs a B that many float32 products share into the strips its kernel reads,
once, where it is wider than ``fastnn._kernels.train.PACKED_WIDER_THAN`` (128) units:
each layer's δ for all the blocks of its dW rows in training, each layer's weights
for all the chunks of rows in ``predict``. This script times net B (784-1024×3-10)
both ways in turn, in one process, setting PACKED_WIDER_THAN to 128 and to a width
no layer has, and prints the medians and their ratio (the results are bit for bit the
same both ways; tests check that):

* training: one ``fit`` epoch of batch 100 on the first ``--train`` MNIST images,
  reported per 60,000;
* predict: the 10,000 test images in one call.

    FASTNN_DATA=/path/to/data python benchmarks/packing.py [--threads 1] [--rounds 5]

Reads MNIST from $FASTNN_DATA/mnist (never downloads). A report, not a test; on a
shared machine quote the ratio, not the times.
"""
import argparse
import os
import time

import numpy as np

NEVER = 1 << 30      # wider than any layer: nothing is packed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="FASTNN_NUM_THREADS (1 or 2)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train", type=int, default=5000, help="training images per timed epoch")
    args = parser.parse_args()
    if args.threads < 1 or args.rounds < 1 or not 100 <= args.train <= 60000:
        parser.error("need --threads >= 1, --rounds >= 1 and 100 <= --train <= 60000")
    os.environ["FASTNN_NUM_THREADS"] = str(args.threads)

    from fastnn import Sequential
    from fastnn._kernels import _blas, train
    from fastnn.datasets import load_mnist
    from fastnn.layers import Dense
    from fastnn.optimizers import SGD

    (x, y), (x_test, _) = load_mnist(download=False)
    x = x.reshape(len(x), -1)[:args.train].astype(np.float32) / 255
    y = y[:args.train]
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255
    model = Sequential([Dense(1024, activation="relu", input_shape=(784,)), Dense(1024, activation="relu"),
                        Dense(1024, activation="relu"), Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9))
    default = train.PACKED_WIDER_THAN
    ways = {"packed": default, "not packed": NEVER}
    epoch = {way: [] for way in ways}
    predict = {way: [] for way in ways}
    try:
        for r in range(args.rounds + 1):                   # round 0 warms up and is dropped
            for way, width in ways.items():
                train.PACKED_WIDER_THAN = width
                start = time.perf_counter()
                model.fit(x, y, batch_size=100, epochs=1, verbose=0, seed=r)
                seconds = time.perf_counter() - start
                start = time.perf_counter()
                model.predict(x_test)
                if r:
                    epoch[way].append(seconds * 60000 / len(x))
                    predict[way].append(len(x_test) / (time.perf_counter() - start))
    finally:
        train.PACKED_WIDER_THAN = default
    print(f"net B 784-1024x3-10, {args.threads} thread(s), float32 products: {_blas.sgemm_kernel()}, "
          f"{args.rounds} rounds, medians")
    e = {way: float(np.median(v)) for way, v in epoch.items()}
    p = {way: float(np.median(v)) for way, v in predict.items()}
    print(f"  training epoch (per 60,000): packed {e['packed']:.2f} s, not packed {e['not packed']:.2f} s, "
          f"ratio {e['packed'] / e['not packed']:.3f}")
    print(f"  predict, 10,000 images: packed {p['packed']:,.0f}/s, not packed {p['not packed']:,.0f}/s, "
          f"time ratio {p['not packed'] / p['packed']:.3f}")


if __name__ == "__main__":
    main()
