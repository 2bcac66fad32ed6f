"""fastnn's own float32 GEMM against the BLAS fallback, side by side: net A and net B.

Runs the same work under several settings of the environment, each in a fresh process
(FASTNN_CPU is read once, at import), the processes taking turns round after round:

* ``own``:     fastnn's own kernel for the products (the best the CPU has under
  ``--cpu``, e.g. ``avx2``), with every fusion;
* ``blas``:    the same cap, products through SciPy's BLAS (``FASTNN_GEMM=blas``): what
  fastnn did on such a CPU before it had a kernel for it;
* ``generic``: ``FASTNN_CPU=generic``, plain C and BLAS.

Each round times, in each setting: one ``fit`` epoch of batch 100 on the first
``--train-a`` (net A, 784-64-64-64-10) and ``--train-b`` (net B, 784-1024×3-10) MNIST
images, reported per 60,000, and ``predict`` of the 10,000 test images by each net.
The processes are pinned to ``--threads`` cores, with FASTNN_NUM_THREADS and every BLAS
pool at that count.

    FASTNN_DATA=/path/to/data python benchmarks/kernels.py [--cpu avx2] [--threads 1 2] [--rounds 5]

Reads MNIST from $FASTNN_DATA/mnist (never downloads). A report, not a test; on a
shared machine quote the ratios, not the times.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SETTINGS = {"own": {}, "blas": {"FASTNN_GEMM": "blas"}, "generic": {"FASTNN_CPU": "generic"}}
NETS = {"net A": (784, 64, 64, 64, 10), "net B": (784, 1024, 1024, 1024, 10)}


def one_round(train_a, train_b, seed):
    """In this process: {net: (seconds per 60,000-image epoch, seconds to predict 10,000)}."""
    from fastnn import Sequential
    from fastnn.datasets import load_mnist
    from fastnn.layers import Dense
    from fastnn.optimizers import SGD

    (x, y), (x_test, _) = load_mnist(download=False)
    x = x.reshape(len(x), -1).astype(np.float32) / 255
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255
    times = {}
    for (name, sizes), n_train in zip(NETS.items(), (train_a, train_b)):
        model = Sequential([Dense(sizes[1], activation="relu", input_shape=(sizes[0],))]
                           + [Dense(n, activation="relu") for n in sizes[2:-1]]
                           + [Dense(sizes[-1], activation="softmax")], seed=0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9))
        model.fit(x[:1000], y[:1000], batch_size=100, epochs=1, verbose=0, seed=seed)     # warm-up
        model.predict(x_test[:1000])
        time.sleep(0.2)
        start = time.perf_counter()
        model.fit(x[:n_train], y[:n_train], batch_size=100, epochs=1, verbose=0, seed=seed)
        epoch = (time.perf_counter() - start) * 60000 / n_train
        time.sleep(0.2)
        start = time.perf_counter()
        model.predict(x_test)
        times[name] = (epoch, time.perf_counter() - start)
    return times


def child(args):
    from fastnn._kernels import _blas
    times = one_round(args.train_a, args.train_b, args.seed)
    print(json.dumps({"kernel": _blas.sgemm_kernel(), "times": times}))


def run(setting, threads, args, seed):
    cores = sorted(os.sched_getaffinity(0))[:threads]
    env = {k: v for k, v in os.environ.items() if k not in ("FASTNN_CPU", "FASTNN_GEMM")}
    n = str(threads)
    env.update(FASTNN_NUM_THREADS=n, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
    if args.cpu:
        env["FASTNN_CPU"] = args.cpu
    env.update(SETTINGS[setting])
    command = [sys.executable, os.path.abspath(__file__), "--child", "--train-a", str(args.train_a),
               "--train-b", str(args.train_b), "--seed", str(seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
    if done.returncode != 0:
        raise RuntimeError(f"{setting} at {threads} thread(s) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", default="", help="FASTNN_CPU for 'own' and 'blas' (default: the best)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settings", default="own,blas,generic", help=f"from {','.join(SETTINGS)}")
    parser.add_argument("--train-a", type=int, default=60000, help="net A's training images per timed epoch")
    parser.add_argument("--train-b", type=int, default=6000, help="net B's training images per timed epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not settings or any(s not in SETTINGS for s in settings):
        parser.error(f"--settings takes names from {','.join(SETTINGS)}")
    for threads in args.threads:
        if len(os.sched_getaffinity(0)) < threads:
            print(f"{threads} threads: only {len(os.sched_getaffinity(0))} cores here, skipped")
            continue
        got = {s: [] for s in settings}
        kernel = {}
        for r in range(args.rounds):
            for s in settings[r % len(settings):] + settings[:r % len(settings)]:     # each goes first in turn
                out = run(s, threads, args, seed=r)
                kernel[s] = out["kernel"]
                got[s].append(out["times"])
        print(f"\n{threads} thread(s), FASTNN_CPU={args.cpu or '(best)'}, {args.rounds} rounds, medians "
              f"(epochs per 60,000 images; predict: the 10,000 test images)")
        print("| | " + " | ".join(f"{s} ({kernel[s]})" for s in settings) + " | "
              + " | ".join(f"{s} / {settings[0]}" for s in settings[1:]) + " |")
        print("|---" * (2 * len(settings)) + "|")
        for net in NETS:
            for i, what in enumerate(("epoch", "predict")):
                med = [float(np.median([t[net][i] for t in got[s]])) for s in settings]
                print(f"| {net} {what}, s | " + " | ".join(f"{m:.3f}" for m in med) + " | "
                      + " | ".join(f"{m / med[0]:.2f}" for m in med[1:]) + " |")


if __name__ == "__main__":
    main()
