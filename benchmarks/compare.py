"""fastnn beside PyTorch, JAX, Keras 3, scikit-learn, ONNX Runtime, plain NumPy and the BLAS floor.

    FASTNN_DATA=/path/to/data PYTHONPATH=. python benchmarks/compare.py \
        [--threads 1 2] [--quick] [--out benchmarks/results.json] [--plot benchmarks/scaling.png] \
        [--only netA,netB,iris,inference,float64,scaling,optimizers,dropout,toolkit] [--cpu avx2] \
        [--net-b-samples N] [--skip sklearn,numpy-hand,...]
    python benchmarks/compare.py --from benchmarks/results.json     # the report again, measuring nothing

The script runs itself once per thread count (``--child --threads N``) and starts each
child pinned to N cores with every thread pool capped at N in its environment
(OMP/OPENBLAS/MKL_NUM_THREADS, XLA_FLAGS), because pools read these when they are
loaded; inside, threadpoolctl and ``torch.set_num_threads`` cap them again. Each child
runs every workload with its frameworks interleaved in rounds (round r: each framework
runs once, the first one moving on by one each round) after a discarded warm-up, and
writes medians to JSON; the parent merges the children and prints one Markdown table,
the targets, and a scaling table and plot.

Common settings: float32; SGD, learning rate 0.01, momentum 0.9 (v := μ·v − γ·g, w := w + v);
softmax + categorical cross-entropy on integer labels; relu hidden layers; Glorot-uniform
initial weights; a new shuffle every epoch; all 60,000 MNIST training images per epoch.
The training toolkit's workloads change one thing each: the optimizer (Adam, AdamW, RMSprop
with Keras 3's defaults: learning rate 0.001, epsilon 1e-7, AdamW weight decay 0.004,
RMSprop rho 0.9), Dropout(0.2) after each hidden layer of 784-512-512-10 (RMSprop, batch
128), or an L2 penalty, a learning-rate schedule or gradient clipping on net A.

A benchmark reports, it never asserts a time. The comparison frameworks come with
``pip install ".[bench]"``; they are never dependencies of fastnn, and a missing one is
skipped with a note.
"""
import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

LEARNING_RATE, MOMENTUM = 0.01, 0.9
N_EPOCH = 60_000                     # samples in one MNIST epoch; subsets are reported per 60,000
WORKLOADS = ("netA", "netB", "iris", "inference", "float64", "scaling", "optimizers", "dropout", "toolkit")


@dataclass(frozen=True)
class Net:
    """A fully connected net: layer sizes (n_in, hidden..., n_classes), trained at `batch`."""
    name: str
    sizes: tuple
    batch: int = 100


NET_A = Net("net A", (784, 64, 64, 64, 10))
NET_B = Net("net B", (784, 1024, 1024, 1024, 10))
IRIS = Net("Iris", (4, 12, 6, 3), batch=10)
NET_DROPOUT = Net("784-512-512-10", (784, 512, 512, 10), batch=128)
DROPOUT_RATE = 0.2


@dataclass
class Settings:
    """How much to run; ``--quick`` shrinks everything for a smoke run."""
    net_a_epochs: int = 10          # epoch 1 is the warm-up; the median is over epochs 2..10
    net_b_rounds: int = 5           # a net B epoch swings ±10% between rounds on a shared machine
    net_b_samples: int = 60_000
    iris_epochs: int = 800          # per round, 15 steps each (fastnn: ~40 ms a round; 200 epochs
                                    # gave medians that moved 2x with one disturbed round)
    iris_rounds: int = 5
    inference_rounds: tuple = (20, 5)       # net A, net B
    float64_rounds: int = 5
    scaling_samples: int = 6_000
    scaling_rounds: int = 3
    linearity_samples: tuple = (15_000, 30_000, 60_000)
    optimizer_rounds: int = 9       # net A with Adam, AdamW, RMSprop
    net_b_adam_rounds: int = 3
    dropout_rounds: int = 3
    dropout_samples: int = 60_000
    toolkit_rounds: int = 9

    @classmethod
    def quick(cls):
        return cls(net_a_epochs=3, net_b_rounds=1, net_b_samples=3_000, iris_epochs=20, iris_rounds=2,
                   inference_rounds=(3, 2), float64_rounds=2, scaling_samples=2_000, scaling_rounds=1,
                   linearity_samples=(5_000, 10_000), optimizer_rounds=2, net_b_adam_rounds=1,
                   dropout_rounds=1, dropout_samples=6_016, toolkit_rounds=2)


# Framework keys and their names in the tables, in table order.
TRAINING = {
    "fastnn": "fastnn (compiled): epoch, by callback",
    "fastnn-call": "fastnn (compiled): whole fit(epochs=1) call",
    "fastnn-fit5": "fastnn (compiled): epoch inside one fit(epochs=5)",
    "fastnn-numpy": "fastnn NumPy backend",
    "pytorch": "PyTorch plain loop",
    "pytorch-compile": "PyTorch plain loop, torch.compile'd model",
    "jax-step": "JAX jit step, Python loop",
    "jax-scan": "JAX epoch in one jit (lax.scan)",
    "keras": "Keras 3 on JAX, fit",
    "sklearn": "scikit-learn MLPClassifier",
    "numpy-hand": "hand-written NumPy",
    "floor": "GEMM floor (gemm_floor)",
    "floor-blas": "GEMM floor through SciPy's BLAS",
}
INFERENCE = {
    "fastnn": "fastnn predict",
    "fastnn-numpy": "fastnn NumPy backend predict",
    "pytorch": "PyTorch no_grad forward (addmm, hand-tuned)",
    "pytorch-seq": "PyTorch nn.Sequential, no_grad",
    "torch-compile": "PyTorch nn.Sequential, torch.compile, no_grad",
    "jax": "JAX jitted forward",
    "keras": "Keras 3 on JAX, predict",
    "onnxruntime": "ONNX Runtime",
    "numpy-hand": "hand-written NumPy forward",
    "floor": "forward GEMMs only",
    "floor-blas": "forward GEMMs through SciPy's BLAS",
}
FLOAT64 = {
    "fastnn-f32": "fastnn float32",
    "fastnn-f64": "fastnn float64",
    "floor-f32": "GEMM floor float32",
    "floor-f64": "GEMM floor float64",
}
# the optimizer workloads: the same peers, each with the optimizer of the workload; fastnn's
# own SGD-momentum epoch beside them for the "× its own SGD" ratio
OPTIMIZER_PEERS = {
    "fastnn": "fastnn (compiled), this optimizer: epoch, by callback",
    "fastnn-sgd": "fastnn (compiled), SGD momentum 0.9: epoch, by callback",
    "pytorch": "PyTorch plain loop, torch.optim",
    "jax-scan": "JAX epoch in one jit (lax.scan), the update by hand",
    "keras": "Keras 3 on JAX, fit",
}
DROPOUT_PEERS = {
    "fastnn": "fastnn (compiled): epoch, by callback",
    "pytorch": "PyTorch plain loop, nn.Dropout, optim.RMSprop",
    "jax-scan": "JAX epoch in one jit (lax.scan), dropout by jax.random",
    "keras": "Keras 3 on JAX, fit, Dropout, compile(optimizer=\"rmsprop\")",
}
# the toolkit on net A (SGD momentum 0.9, learning rate 0.01), each against the plain run
TOOLKIT = {
    "fastnn": "fastnn, plain SGD momentum",
    "l2": "+ L2(1e-4) on the kernels",
    "exponential": "+ ExponentialDecay(0.01, 1000, 0.96) schedule",
    "callable": "+ the same schedule as a Python function",
    "clipnorm": "+ clipnorm=1.0",
    "global_clipnorm": "+ global_clipnorm=1.0",
    "clipvalue": "+ clipvalue=0.5",
}
SCALING = ("fastnn", "fastnn-numpy", "pytorch", "jax-scan", "floor")

# workload key: (title, unit, names, the workload whose PyTorch row is the reference)
TABLE = {
    "netA": ("net A 784-64-64-64-10, training", "s/epoch", TRAINING, "netA"),
    "netB": ("net B 784-1024-1024-1024-10, training", "s/epoch", TRAINING, "netB"),
    "iris": ("Iris 4-12-6-3, batch 10, training", "µs/step", TRAINING, "iris"),
    "inferA": ("net A inference, 10,000 images", "samples/s", INFERENCE, "inferA"),
    "inferB": ("net B inference, 10,000 images", "samples/s", INFERENCE, "inferB"),
    "netA-f64": ("net A training, float64", "s/epoch", FLOAT64, "netA"),
    "iris-f64": ("Iris training, float64", "µs/step", FLOAT64, "iris"),
    "inferA-f64": ("net A inference, float64", "samples/s", FLOAT64, "inferA"),
    "inferB-f64": ("net B inference, float64", "samples/s", FLOAT64, "inferB"),
    "netA-adam": ("net A training, Adam", "s/epoch", OPTIMIZER_PEERS, "netA-adam"),
    "netA-adamw": ("net A training, AdamW", "s/epoch", OPTIMIZER_PEERS, "netA-adamw"),
    "netA-rmsprop": ("net A training, RMSprop", "s/epoch", OPTIMIZER_PEERS, "netA-rmsprop"),
    "netB-adam": ("net B training, Adam", "s/epoch", OPTIMIZER_PEERS, "netB-adam"),
    "dropout": ("784-512-512-10, Dropout(0.2) ×2, RMSprop, batch 128, training", "s/epoch", DROPOUT_PEERS,
                "dropout"),
    "toolkit": ("net A training, SGD momentum, with the toolkit", "s/epoch", TOOLKIT, "toolkit"),
}

# (workload, reference framework, bound on fastnn's time / the reference's time[, the row
# measured, "fastnn" unless given]). Issues #24 (AVX2) and #25 (training toolkit): inference
# "≥ 1.2 × the reference's speed" is a time ≤ 1 / 1.2 of the reference's.
FASTER_1_2 = 1 / 1.2
TARGETS = [
    ("netA", "jax-scan", 0.8), ("netA", "keras", 0.5), ("netA", "pytorch", 0.3),
    ("netA", "fastnn-numpy", 0.5), ("netA", "floor", 1.15),
    ("netB", "jax-scan", 1.0), ("netB", "floor", 1.05),
    ("iris", "jax-scan", 0.5),
    ("inferA", "jax", FASTER_1_2), ("inferA", "pytorch", FASTER_1_2), ("inferA", "pytorch-seq", FASTER_1_2),
    ("inferA", "torch-compile", FASTER_1_2), ("inferA", "onnxruntime", 1.0),
    ("inferB", "jax", FASTER_1_2), ("inferB", "pytorch", FASTER_1_2), ("inferB", "pytorch-seq", FASTER_1_2),
    ("inferB", "torch-compile", FASTER_1_2), ("inferB", "onnxruntime", 1.0),
]
for _w in ("netA-adam", "netA-adamw", "netA-rmsprop"):
    TARGETS += [(_w, "fastnn-sgd", 1.10), (_w, "jax-scan", 0.8), (_w, "pytorch", 0.3)]
TARGETS += [("netB-adam", "fastnn-sgd", 1.25), ("netB-adam", "jax-scan", 1.0),
            ("dropout", "keras", 0.5), ("dropout", "jax-scan", 0.8)]
TARGETS += [("toolkit", "fastnn", 1.05, name) for name in TOOLKIT if name != "fastnn"]


def log(message):
    print(message, file=sys.stderr, flush=True)


# =====================================================================================
# Threads and frameworks (in the child)
# =====================================================================================

class OtherLoad:
    """How many cores other processes kept busy, on average, between start() and stop():
    the machine's busy time (/proc/stat) minus this process's own CPU time, over the wall time."""

    def start(self):
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()

    def stop(self):
        wall = time.perf_counter() - self.t0
        return max(0.0, ((self._busy() - self.busy0) - (self._own() - self.own0)) / wall)

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
        except OSError:
            return 0.0
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")     # all but idle and iowait

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system


def round_trip_ns(threads):
    """How far apart the two training workers' cores are: the mean time for a cache line to go
    from one to the other and back (fastnn's core_round_trip_ns); None at one thread."""
    if threads < 2:
        return None
    from fastnn._kernels.train import core_round_trip_ns
    return min(core_round_trip_ns(20000) for _ in range(3))


def thread_environment(threads, cpu=None):
    """The variables that cap each thread pool when it is loaded, and with cpu ("avx2"),
    each framework's instruction set: fastnn's (FASTNN_CPU), OpenBLAS's kernels, XLA's
    code generation, PyTorch's ATen kernels and oneDNN's."""
    n = str(threads)
    eigen = "false" if threads == 1 else "true"
    env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
           "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={n}",
           "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if cpu == "avx2":
        env.update(FASTNN_CPU="avx2", OPENBLAS_CORETYPE="Haswell", ATEN_CPU_CAPABILITY="avx2",
                   ONEDNN_MAX_CPU_ISA="AVX2", XLA_FLAGS=env["XLA_FLAGS"] + " --xla_cpu_max_isa=AVX2")
    return env


class Frameworks:
    """The comparison frameworks that import here; `missing` says why the others did not."""

    def __init__(self, threads):
        import scipy
        from threadpoolctl import threadpool_info, threadpool_limits

        import fastnn
        self.threads = threads
        self.missing = {}
        self.versions = {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__, "fastnn": fastnn.__version__}
        self.torch = self.jax = self.keras = self.onnx = self.ort = self.sklearn = None
        try:
            import torch
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
            self.torch = torch
            self.versions["torch"] = torch.__version__
        except ImportError as exc:
            self.missing["PyTorch"] = str(exc)
        try:
            import jax
            self.jax = jax
            self.versions["jax"] = jax.__version__
        except ImportError as exc:
            self.missing["JAX"] = str(exc)
        if self.jax is not None:
            try:
                import keras
                if keras.backend.backend() != "jax":
                    raise ImportError(f"Keras runs on {keras.backend.backend()}, not on JAX")
                self.keras = keras
                self.versions["keras"] = keras.__version__
            except ImportError as exc:
                self.missing["Keras 3"] = str(exc)
        try:
            import onnx
            import onnxruntime
            self.onnx, self.ort = onnx, onnxruntime
            self.versions["onnxruntime"] = onnxruntime.__version__
        except ImportError as exc:
            self.missing["ONNX Runtime"] = str(exc)
        try:
            import sklearn
            self.sklearn = sklearn
            self.versions["scikit-learn"] = sklearn.__version__
        except ImportError as exc:
            self.missing["scikit-learn"] = str(exc)
        # every pool loaded by now (SciPy's OpenBLAS, which fastnn uses, NumPy's, PyTorch's
        # OpenMP) is capped for the rest of the run
        self._limits = threadpool_limits(limits=threads)
        self.pools = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
                      for p in threadpool_info()]

    skipped = frozenset()          # runner keys left out with --skip

    def available(self, name):
        """Whether the framework behind a runner key imported (and was not left out with --skip)."""
        if name in self.skipped:
            return False
        needs = {"pytorch": self.torch, "pytorch-seq": self.torch, "torch-compile": self.torch,
                 "pytorch-compile": self.torch, "jax": self.jax, "jax-step": self.jax, "jax-scan": self.jax,
                 "keras": self.keras, "onnxruntime": self.ort, "sklearn": self.sklearn}
        return needs.get(name, True) is not None


@dataclass
class Data:
    x_train: np.ndarray     # (60000, 784) float32 in [0, 1]
    y_train: np.ndarray     # (60000,) int64 class ids
    x_test: np.ndarray
    y_test: np.ndarray
    x_iris: np.ndarray      # (150, 4) float32, standardized
    y_iris: np.ndarray


def load_data():
    from fastnn.datasets import load_iris, load_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    rows = lambda x: (x.reshape(len(x), -1) / 255).astype(np.float32)
    iris = load_iris()
    x_iris = (iris.data - iris.data.mean(axis=0)) / iris.data.std(axis=0)
    return Data(rows(x_train), y_train.astype(np.int64), rows(x_test), y_test.astype(np.int64),
                x_iris.astype(np.float32), iris.target.astype(np.int64))


def glorot_params(sizes, seed=0, dtype=np.float32):
    """[(W, b), ...]: W of shape (n_in, n_out) ~ U(±√(6 / (n_in + n_out))), b = 0."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        params.append((rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype), np.zeros(n_out, dtype)))
    return params


# =====================================================================================
# Timing
# =====================================================================================

def timed(fn, *args):
    """Seconds that fn(*args) takes, by time.perf_counter."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# Seconds of quiet before each timed run (see interleave). OpenBLAS's threads spin for
# 2^28 clock ticks (about 0.13 s at 2.1 GHz) after a threaded call before they sleep: with
# 0.05 s, the 2-worker GEMM floor of net A took 0.083 s right after NumPy products of
# net A's shapes at 2 threads, and 0.053 s quiet (it follows the hand-written NumPy loop
# in every round).
SETTLE = 0.2


def interleave(runs, rounds, warmup=1):
    """Run each of ``runs`` ({name: fn() -> seconds}) ``warmup`` times, discarded (JIT
    compilation, first touch of buffers), then ``rounds`` rounds in which every one runs
    once, the first moving on by one each round. Returns {name: [seconds, ...]}.

    Before each timed run the process sleeps SETTLE seconds: the thread pools of ONNX
    Runtime, XLA, OpenMP and OpenBLAS keep spinning for a while after a call returns, and
    without the pause the next framework in the round would share the cores with them."""
    names = list(runs)
    for name in names:
        for _ in range(warmup):
            runs[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            gc.collect()
            time.sleep(SETTLE)
            times[name].append(runs[name]())
    return times


# =====================================================================================
# Training: one function per framework. Each returns a Trainer: train(epochs) runs that
# many epochs and returns their seconds; predict(x) gives the class probabilities.
# =====================================================================================

@dataclass
class Trainer:
    train: Callable
    predict: Callable = None
    weights: Callable = None                       # () -> [(W, b), ...]
    side: dict = field(default_factory=dict)       # other timings of the same calls


def fastnn_trainer(fw, net, x, y, backend="compiled", dtype="float32", seed=0, optimizer=None, dropout=0.0,
                   kernel_regularizer=None):
    """fastnn's Sequential, trained by fit. The time is the epochs' own (a Callback from
    on_epoch_begin to on_epoch_end); the whole fit call, with its input checks and
    workspace, is kept in side["fit call"], each epoch in side["epochs"].

    optimizer: a fastnn optimizer (default SGD, rate 0.01, momentum 0.9); dropout: the rate
    of a Dropout layer after each hidden layer (0: none); kernel_regularizer: given to
    every Dense layer."""
    from fastnn import Sequential
    from fastnn.callbacks import Callback
    from fastnn.layers import Dense, Dropout
    from fastnn.optimizers import SGD

    class EpochTimer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    layers = []
    for i, n in enumerate(net.sizes[1:-1]):
        layers.append(Dense(n, activation="relu", kernel_regularizer=kernel_regularizer,
                            **({"input_shape": (net.sizes[0],)} if i == 0 else {})))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(net.sizes[-1], activation="softmax", kernel_regularizer=kernel_regularizer))
    model = Sequential(layers, dtype=dtype, backend=backend, seed=seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=optimizer if optimizer is not None else SGD(learning_rate=LEARNING_RATE,
                                                                        momentum=MOMENTUM))
    x = x.astype(dtype, copy=False)
    timer, side = EpochTimer(), {"fit call": [], "epochs": []}
    shuffle_seeds = iter(range(seed + 1, 1 << 30))        # fit(seed=...) reshuffles differently each call

    def train(epochs):
        timer.seconds = []
        start = time.perf_counter()
        model.fit(x, y, batch_size=net.batch, epochs=epochs, verbose=0, callbacks=[timer],
                  seed=next(shuffle_seeds))
        side["fit call"].append(time.perf_counter() - start)
        side["epochs"] = list(timer.seconds)
        return sum(timer.seconds)

    weights = lambda: [(layer.W, layer.b) for layer in model._dense_layers()]
    return Trainer(train, lambda xt: model.predict(xt.astype(dtype, copy=False)), weights, side)


def torch_sequential(fw, params, dropout=0.0):
    """nn.Sequential of nn.Linear and nn.ReLU (and nn.Dropout after each hidden layer) with
    the given weights, ending in the logits: the model PyTorch users write."""
    torch = fw.torch
    layers = []
    for W, b in params:
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU()] + ([torch.nn.Dropout(dropout)] if dropout else [])
    return torch.nn.Sequential(*layers[:-2 if dropout else -1])        # logits: the loss applies the softmax


def torch_optimizer(fw, kind, parameters):
    """torch.optim's rule for ``kind``, with Keras 3's defaults where PyTorch's differ
    (epsilon 1e-7, AdamW's weight decay 0.004, RMSprop's rho 0.9)."""
    optim = fw.torch.optim
    if kind == "sgd":
        return optim.SGD(parameters, lr=LEARNING_RATE, momentum=MOMENTUM)
    if kind == "adam":
        return optim.Adam(parameters, lr=1e-3, eps=1e-7)
    if kind == "adamw":
        return optim.AdamW(parameters, lr=1e-3, eps=1e-7, weight_decay=0.004)
    if kind == "rmsprop":
        return optim.RMSprop(parameters, lr=1e-3, alpha=0.9, eps=1e-7)
    raise ValueError(f"unknown optimizer {kind!r}")


def torch_trainer(fw, net, x, y, seed=0, optimizer="sgd", dropout=0.0, compile=False):
    """The PyTorch loop everyone writes: randperm, index, zero_grad, forward, loss, backward, step;
    with compile, the same loop on torch.compile(model)."""
    torch = fw.torch
    model = torch_sequential(fw, glorot_params(net.sizes, seed), dropout)
    optimizer = torch_optimizer(fw, optimizer, model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    run = torch.compile(model) if compile else model
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)

    def train(epochs):
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for i in range(0, len(x), net.batch):
                index = order[i:i + net.batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(run(X[index]), Y[index])
                loss.backward()
                optimizer.step()
        return time.perf_counter() - start

    def predict(xt):
        model.eval()
        with torch.no_grad():
            p = torch.softmax(model(torch.from_numpy(xt)), dim=1).numpy()
        model.train()
        return p

    return Trainer(train, predict)


def _jax_functions(fw):
    """Logits, and one SGD-with-momentum step, written once for the JAX runners."""
    jax, jnp = fw.jax, fw.jax.numpy

    def logits(params, x):
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        return x @ W + b

    def loss(params, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(params, x)), y[:, None], axis=1))

    def step(params, velocity, x, y):
        grads = jax.grad(loss)(params, x, y)
        velocity = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v - LEARNING_RATE * g, velocity, grads)
        return jax.tree_util.tree_map(lambda p, v: p + v, params, velocity), velocity

    return logits, step


def _jax_trainer(fw, net, x, y, seed, run_epoch):
    """Shared by both JAX runners: state on the device, a numpy shuffle each epoch given to
    ``run_epoch(params, velocity, X, Y, order)`` as a (steps, batch) int32 array."""
    jax, jnp = fw.jax, fw.jax.numpy
    logits, _ = _jax_functions(fw)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in glorot_params(net.sizes, seed)]
    state = {"params": params, "velocity": jax.tree_util.tree_map(jnp.zeros_like, params)}
    X, Y = jnp.asarray(x), jnp.asarray(y.astype(np.int32))
    forward = jax.jit(lambda p, xt: jax.nn.softmax(logits(p, xt)))
    rng = np.random.default_rng(seed)
    steps = len(x) // net.batch

    def train(epochs):
        start = time.perf_counter()
        params, velocity = state["params"], state["velocity"]
        for _ in range(epochs):
            order = rng.permutation(len(x))[:steps * net.batch].astype(np.int32).reshape(steps, net.batch)
            params, velocity = run_epoch(params, velocity, X, Y, order)
        jax.block_until_ready(params)
        state["params"], state["velocity"] = params, velocity
        return time.perf_counter() - start

    weights = lambda: [(np.asarray(W), np.asarray(b)) for W, b in state["params"]]
    return Trainer(train, lambda xt: np.asarray(forward(state["params"], xt)), weights)


def jax_step_trainer(fw, net, x, y, seed=0):
    """A jitted training step called from a Python loop; the batch is gathered inside the jit."""
    _, step = _jax_functions(fw)
    jit_step = fw.jax.jit(lambda p, v, X, Y, index: step(p, v, X[index], Y[index]), donate_argnums=(0, 1))

    def run_epoch(params, velocity, X, Y, order):
        for index in order:
            params, velocity = jit_step(params, velocity, X, Y, index)
        return params, velocity

    return _jax_trainer(fw, net, x, y, seed, run_epoch)


def jax_scan_trainer(fw, net, x, y, seed=0):
    """A whole epoch in one jit: lax.scan over the epoch's batches of indices."""
    jax = fw.jax
    _, step = _jax_functions(fw)

    def epoch(params, velocity, X, Y, order):
        body = lambda carry, index: (step(*carry, X[index], Y[index]), None)
        return jax.lax.scan(body, (params, velocity), order)[0]

    return _jax_trainer(fw, net, x, y, seed, jax.jit(epoch, donate_argnums=(0, 1)))


def jax_rule(fw, kind):
    """(init, update) of an optimizer written by hand in JAX with Keras 3's formulas, for the
    scanned epoch: init(params) -> state; update(params, state, grads, t) -> (params, state),
    t the step's number counted from 1.

    sgd      v := μ·v − γ·g;  w := w + v                                  (γ 0.01, μ 0.9)
    adam     m := m + (1−β₁)(g − m);  v := v + (1−β₂)(g² − v);
             w := w − γ·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)                   (γ 0.001, β 0.9, 0.999, ε 1e-7)
    adamw    w := w − γ·λ·w first, then adam                               (λ 0.004)
    rmsprop  v := ρ·v + (1−ρ)·g²;  w := w − γ·g / √(v + ε)                 (γ 0.001, ρ 0.9, ε 1e-7)"""
    jnp, tree_map = fw.jax.numpy, fw.jax.tree_util.tree_map
    zeros = lambda params: tree_map(jnp.zeros_like, params)
    if kind == "sgd":
        def update(params, state, grads, t):
            velocity = tree_map(lambda v, g: MOMENTUM * v - LEARNING_RATE * g, state, grads)
            return tree_map(lambda w, v: w + v, params, velocity), velocity
        return zeros, update
    if kind in ("adam", "adamw"):
        rate, beta_1, beta_2, epsilon, decay = 1e-3, 0.9, 0.999, 1e-7, 0.004 if kind == "adamw" else 0.0

        def update(params, state, grads, t):
            m, v = state
            alpha = rate * jnp.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            m = tree_map(lambda m, g: m + (1 - beta_1) * (g - m), m, grads)
            v = tree_map(lambda v, g: v + (1 - beta_2) * (g * g - v), v, grads)
            if decay:
                params = tree_map(lambda w: w - rate * decay * w, params)
            params = tree_map(lambda w, m, v: w - alpha * m / (jnp.sqrt(v) + epsilon), params, m, v)
            return params, (m, v)
        return lambda params: (zeros(params), zeros(params)), update
    if kind == "rmsprop":
        rate, rho, epsilon = 1e-3, 0.9, 1e-7

        def update(params, state, grads, t):
            v = tree_map(lambda v, g: rho * v + (1 - rho) * g * g, state, grads)
            return tree_map(lambda w, g, v: w - rate * g / jnp.sqrt(v + epsilon), params, grads, v), v
        return zeros, update
    raise ValueError(f"unknown optimizer {kind!r}")


def jax_rule_scan_trainer(fw, net, x, y, seed=0, optimizer="sgd", dropout=0.0):
    """A whole epoch in one jit (lax.scan over the epoch's batches), with the optimizer
    written by hand (jax_rule) and, with dropout, a mask from jax.random after each hidden
    layer, kept with probability 1 − rate and scaled by 1 / (1 − rate), as Keras' Dropout.
    Full batches only: an epoch drops the last len(x) mod batch samples."""
    jax, jnp = fw.jax, fw.jax.numpy
    init, update = jax_rule(fw, optimizer)

    def logits(params, x, key):
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
            if dropout:
                key, sub = jax.random.split(key)
                x = jnp.where(jax.random.bernoulli(sub, 1 - dropout, x.shape), x / (1 - dropout), 0)
        W, b = params[-1]
        return x @ W + b

    def loss(params, x, y, key):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(params, x, key)), y[:, None], axis=1))

    def epoch(params, state, t, X, Y, order, key):
        def body(carry, step):
            params, state, t = carry
            index, key = step
            grads = jax.grad(loss)(params, X[index], Y[index], key)
            params, state = update(params, state, grads, t + 1.0)
            return (params, state, t + 1.0), None
        keys = jax.random.split(key, len(order))
        return jax.lax.scan(body, (params, state, t), (order, keys))[0]

    run_epoch = jax.jit(epoch, donate_argnums=(0, 1))
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in glorot_params(net.sizes, seed)]
    carry = {"value": (params, init(params), jnp.float32(0.0))}
    X, Y = jnp.asarray(x), jnp.asarray(y.astype(np.int32))
    rng, key = np.random.default_rng(seed), jax.random.PRNGKey(seed)
    steps = len(x) // net.batch
    forward = jax.jit(lambda p, xt: jax.nn.softmax(_no_dropout_logits(jax, p, xt)))

    def train(epochs):
        nonlocal key
        start = time.perf_counter()
        params, state, t = carry["value"]
        for _ in range(epochs):
            order = rng.permutation(len(x))[:steps * net.batch].astype(np.int32).reshape(steps, net.batch)
            key, sub = jax.random.split(key)
            params, state, t = run_epoch(params, state, t, X, Y, order, sub)
        jax.block_until_ready(params)
        carry["value"] = (params, state, t)
        return time.perf_counter() - start

    return Trainer(train, lambda xt: np.asarray(forward(carry["value"][0], xt)))


def _no_dropout_logits(jax, params, x):
    for W, b in params[:-1]:
        x = jax.nn.relu(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def keras_trainer(fw, net, x, y, seed=0, optimizer=None, dropout=0.0):
    """Keras 3 on JAX, ``fit`` as its users call it; its epochs timed by a callback like fastnn's."""
    keras = fw.keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    model = keras_model(fw, net.sizes, dropout)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM),
                  loss="sparse_categorical_crossentropy")
    model.set_weights([a for pair in glorot_params(net.sizes, seed) for a in pair])
    timer, side = EpochTimer(), {"fit call": []}

    def train(epochs):
        timer.seconds = []
        start = time.perf_counter()
        model.fit(x, y, batch_size=net.batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
        side["fit call"].append(time.perf_counter() - start)
        return sum(timer.seconds)

    return Trainer(train, lambda xt: model.predict(xt, batch_size=len(xt), verbose=0), side=side)


def keras_model(fw, sizes, dropout=0.0):
    keras = fw.keras
    hidden = []
    for n in sizes[1:-1]:
        hidden += [keras.layers.Dense(n, activation="relu")] + ([keras.layers.Dropout(dropout)] if dropout else [])
    return keras.Sequential([keras.Input((sizes[0],))] + hidden
                            + [keras.layers.Dense(sizes[-1], activation="softmax")])


def sklearn_trainer(fw, net, x, y, seed=0):
    """scikit-learn's MLPClassifier: one shuffled epoch per partial_fit (sgd, momentum 0.9
    without Nesterov, constant rate 0.01, no L2 penalty); it keeps float32."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    model = MLPClassifier(hidden_layer_sizes=net.sizes[1:-1], activation="relu", solver="sgd", alpha=0.0,
                          batch_size=net.batch, learning_rate="constant", learning_rate_init=LEARNING_RATE,
                          momentum=MOMENTUM, nesterovs_momentum=False, shuffle=True, random_state=seed)
    classes = np.arange(net.sizes[-1])

    def train(epochs):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(epochs):
                model.partial_fit(x, y, classes=classes)
        return time.perf_counter() - start

    return Trainer(train, model.predict_proba)


class NumpyMLP:
    """The network a user writes in plain NumPy, the baseline without any engine:

    forward   A_l = relu(A_{l-1}·W_l + b_l),   P = softmax(A_{L-1}·W_L + b_L)
    backward  δ_L = (P − onehot(y)) / m;  dW_l = A_{l-1}ᵀ·δ_l;  δ_{l-1} = (δ_l·W_lᵀ) ⊙ [A_{l-1} > 0]
    update    v := μ·v − γ·g;  w := w + v
    """

    def __init__(self, params):
        self.params = [(W.copy(), b.copy()) for W, b in params]
        self.velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]

    def forward(self, x):
        A = [x]
        for W, b in self.params[:-1]:
            A.append(np.maximum(A[-1] @ W + b, 0))
        Z = A[-1] @ self.params[-1][0] + self.params[-1][1]
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        return A, P / P.sum(axis=1, keepdims=True)

    def step(self, x, y):
        A, delta = self.forward(x)
        delta[np.arange(len(y)), y] -= 1
        delta /= len(y)
        for l in reversed(range(len(self.params))):
            W, b = self.params[l]
            dW, db = A[l].T @ delta, delta.sum(axis=0)
            if l > 0:
                delta = (delta @ W.T) * (A[l] > 0)
            for w, g, v in ((W, dW, self.velocity[l][0]), (b, db, self.velocity[l][1])):
                v *= MOMENTUM
                v -= LEARNING_RATE * g
                w += v


def numpy_trainer(fw, net, x, y, seed=0):
    mlp = NumpyMLP(glorot_params(net.sizes, seed))
    rng = np.random.default_rng(seed)

    def train(epochs):
        start = time.perf_counter()
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for i in range(0, len(x), net.batch):
                index = order[i:i + net.batch]
                mlp.step(x[index], y[index])
        return time.perf_counter() - start

    return Trainer(train, lambda xt: mlp.forward(xt)[1])


def floor_trainer(fw, net, x, y, seed=0, dtype="float32"):
    """Only the GEMMs of the epochs, in one compiled call: the bound on any training loop.

    gemm_floor first fills its buffers with random numbers; that one-off setup (timed as
    gemm_floor on a single sample) is taken off, as fit's workspace is off fastnn's epoch.
    With 2 threads there are two ways to run the products, BLAS' own threads or two workers
    on halves of each batch with single-threaded BLAS; the floor is the faster of the two."""
    from threadpoolctl import threadpool_limits

    from fastnn.backend.compiled_backend import gemm_floor
    sizes = list(net.sizes)
    ways = [(1, fw.threads)] + ([(2, 1)] if fw.threads >= 2 else [])      # (workers, BLAS threads)

    def run(n_samples, workers, blas):
        with threadpool_limits(limits=blas, user_api="blas"):
            return timed(gemm_floor, sizes, net.batch, n_samples, dtype, workers)

    setup = {way: min(run(1, *way) for _ in range(5)) for way in ways}

    def one_way(way, epochs):
        if len(x) % net.batch == 0:            # every batch full: the epochs are one run of steps
            return max(run(epochs * len(x), *way) - setup[way], 0.0)
        return sum(max(run(len(x), *way) - setup[way], 0.0) for _ in range(epochs))

    return Trainer(lambda epochs: min(one_way(way, epochs) for way in ways))


def through_blas(make):
    """The same floor with fastnn's own float32 GEMM kernel switched off: every product
    through SciPy's BLAS, the floor as the issue first measured it."""
    from fastnn._kernels import _blas

    def wrapped(*args, **kwargs):
        def call(f):
            def run(*a, **k):
                previous = _blas.use_own_sgemm(False)
                try:
                    return f(*a, **k)
                finally:
                    _blas.use_own_sgemm(previous)
            return run
        made = make(*args, **kwargs)
        if isinstance(made, Trainer):
            return Trainer(call(made.train))
        return call(made)
    return wrapped


TRAINER_FUNCTIONS = {
    "fastnn": fastnn_trainer,
    "fastnn-numpy": lambda fw, net, x, y, seed=0: fastnn_trainer(fw, net, x, y, backend="numpy", seed=seed),
    "pytorch": torch_trainer,
    "pytorch-compile": lambda fw, net, x, y, seed=0: torch_trainer(fw, net, x, y, seed=seed, compile=True),
    "jax-step": jax_step_trainer,
    "jax-scan": jax_scan_trainer,
    "keras": keras_trainer,
    "sklearn": sklearn_trainer,
    "numpy-hand": numpy_trainer,
    "floor": floor_trainer,
    "floor-blas": through_blas(floor_trainer),
    "fastnn-f32": fastnn_trainer,
    "fastnn-f64": lambda fw, net, x, y, seed=0: fastnn_trainer(fw, net, x, y, dtype="float64", seed=seed),
    "floor-f32": floor_trainer,
    "floor-f64": lambda fw, net, x, y, seed=0: floor_trainer(fw, net, x, y, dtype="float64"),
}


# =====================================================================================
# Inference: one function per framework, each giving predict(x) for the given weights
# =====================================================================================

def fastnn_predictor(fw, params, backend="compiled", dtype="float32"):
    from fastnn import Sequential
    from fastnn.layers import Dense
    sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
    layers = ([Dense(sizes[1], activation="relu", input_shape=(sizes[0],))]
              + [Dense(n, activation="relu") for n in sizes[2:-1]] + [Dense(sizes[-1], activation="softmax")])
    model = Sequential(layers, dtype=dtype, backend=backend)
    model.build()
    model.set_weights([a.astype(dtype) for pair in params for a in pair])
    return model.predict


def torch_predictor(fw, params):
    torch = fw.torch
    weights = [(torch.from_numpy(W), torch.from_numpy(b)) for W, b in params]

    def predict(x):
        with torch.no_grad():
            a = torch.from_numpy(x)
            for W, b in weights[:-1]:
                a = torch.relu(torch.addmm(b, a, W))
            return torch.softmax(torch.addmm(weights[-1][1], a, weights[-1][0]), dim=1).numpy()

    return predict


def torch_sequential_predictor(fw, params, compile=False):
    """The nn.Sequential model PyTorch users write, called under no_grad, then softmax; with
    compile, torch.compile(model) (its first call, the warm-up, compiles)."""
    torch = fw.torch
    model = torch_sequential(fw, params).eval()
    run = torch.compile(model) if compile else model

    def predict(x):
        with torch.no_grad():
            return torch.softmax(run(torch.from_numpy(x)), dim=1).numpy()

    return predict


def jax_predictor(fw, params):
    """The jitted forward pass. The images are put on the device once, outside the timing."""
    jax = fw.jax
    logits, _ = _jax_functions(fw)
    weights = [(jax.numpy.asarray(W), jax.numpy.asarray(b)) for W, b in params]
    forward = jax.jit(lambda p, x: jax.nn.softmax(logits(p, x)))
    on_device = {}

    def predict(x):
        if id(x) not in on_device:
            on_device[id(x)] = (x, jax.device_put(x))
        return np.asarray(forward(weights, on_device[id(x)][1]).block_until_ready())

    return predict


def keras_predictor(fw, params):
    model = keras_model(fw, [params[0][0].shape[0]] + [W.shape[1] for W, _ in params])
    model.set_weights([a for pair in params for a in pair])
    return lambda x: model.predict(x, batch_size=len(x), verbose=0)


def onnx_predictor(fw, params):
    """An ONNX graph built from the weights (MatMul, Add, Relu, ..., Softmax), run by ONNX
    Runtime's CPU provider with as many intra-op threads as the process has."""
    onnx, ort = fw.onnx, fw.ort
    from onnx import TensorProto, helper, numpy_helper
    nodes, initializers, current = [], [], "x"
    for l, (W, b) in enumerate(params):
        initializers += [numpy_helper.from_array(W, f"W{l}"), numpy_helper.from_array(b, f"b{l}")]
        nodes += [helper.make_node("MatMul", [current, f"W{l}"], [f"XW{l}"]),
                  helper.make_node("Add", [f"XW{l}", f"b{l}"], [f"Z{l}"])]
        current = f"Z{l}"
        if l < len(params) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"A{l}"]))
            current = f"A{l}"
    nodes.append(helper.make_node("Softmax", [current], ["y"], axis=1))
    n_in, n_out = params[0][0].shape[0], params[-1][0].shape[1]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n_out])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = fw.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def numpy_predictor(fw, params):
    mlp = NumpyMLP(params)
    return lambda x: mlp.forward(x)[1]


def floor_predictor(fw, params, dtype="float32"):
    """The forward products Z := I·W only, through fastnn's matrix-product wrapper into
    buffers allocated once: no bias, activation, softmax or input check. At 2 threads the
    rows are split between two threads (the products release the GIL), as predict splits
    them; with BLAS the faster of that and BLAS' own threads on all the rows counts."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from fastnn.backend.compiled_backend import matmul
    weights = [np.ascontiguousarray(W, dtype=dtype) for W, _ in params]
    buffers = {}
    pool = ThreadPoolExecutor(2) if fw.threads >= 2 else None

    def forward(x, Zs, lo, hi):
        a = x[lo:hi]
        for W, Z in zip(weights, Zs):
            a = matmul(a, W, Z[lo:hi])
        return a

    def split(x, Zs):
        half = len(x) // 2
        with threadpool_limits(limits=1, user_api="blas"):
            list(pool.map(lambda r: forward(x, Zs, *r), [(0, half), (half, len(x))]))

    def whole(x, Zs):                           # BLAS' own threads (fastnn's kernel: one thread)
        forward(x, Zs, 0, len(x))

    way = {}

    def predict(x):
        if len(x) not in buffers:
            buffers[len(x)] = [np.empty((len(x), W.shape[1]), dtype) for W in weights]
        Zs = buffers[len(x)]
        if pool is None:
            whole(x, Zs)
        elif len(x) not in way:                 # the first (warm-up) call picks the faster way
            way[len(x)] = min((split, whole), key=lambda f: min(timed(f, x, Zs) for _ in range(3)))
        else:
            way[len(x)](x, Zs)
        return Zs[-1]

    return predict


PREDICTOR_FUNCTIONS = {
    "fastnn": fastnn_predictor,
    "fastnn-numpy": lambda fw, params: fastnn_predictor(fw, params, backend="numpy"),
    "pytorch": torch_predictor,
    "pytorch-seq": torch_sequential_predictor,
    "torch-compile": lambda fw, params: torch_sequential_predictor(fw, params, compile=True),
    "jax": jax_predictor,
    "keras": keras_predictor,
    "onnxruntime": onnx_predictor,
    "numpy-hand": numpy_predictor,
    "floor": floor_predictor,
    "floor-blas": through_blas(floor_predictor),
    "fastnn-f32": fastnn_predictor,
    "fastnn-f64": lambda fw, params: fastnn_predictor(fw, params, dtype="float64"),
    "floor-f32": floor_predictor,
    "floor-f64": lambda fw, params: floor_predictor(fw, params, dtype="float64"),
}


# =====================================================================================
# Workloads (in the child)
# =====================================================================================

class Results:
    """What one child measured: table rows (median seconds per unit of work: an epoch of
    60,000 samples, a step, or one predict call), scaling rows, and notes."""

    def __init__(self):
        self.rows, self.scaling, self.notes = [], [], []

    def add(self, workload, framework, seconds, per=1.0, **extra):
        samples = [s / per for s in seconds]
        self.rows.append(dict(workload=workload, framework=framework, seconds=statistics.median(samples),
                              samples=samples, **extra))
        log(f"  {workload:10s} {framework:13s} {statistics.median(samples):12.6f} s  {extra or ''}")

    def to_json(self):
        return {"rows": self.rows, "scaling": self.scaling, "notes": self.notes}


def make_trainers(fw, names, net, x, y):
    return {name: TRAINER_FUNCTIONS[name](fw, net, x, y) for name in names if fw.available(name)}


def accuracy_on_test(trainer, data):
    if trainer.predict is None:
        return None
    return float(np.mean(np.argmax(trainer.predict(data.x_test), axis=1) == data.y_test))


def run_training(fw, data, results, kept, workload, net, x, y, rounds, epochs_per_round=1, per=1.0,
                 with_accuracy=False):
    """One training workload: every framework's trainer, interleaved in `rounds` rounds after a
    warm-up round; fastnn's trained weights are kept for inference."""
    trainers = make_trainers(fw, [n for n in TRAINING if n in TRAINER_FUNCTIONS], net, x, y)
    times = interleave({n: (lambda t=t: t.train(epochs_per_round)) for n, t in trainers.items()}, rounds)
    for name, trainer in trainers.items():
        extra = {"test_accuracy": accuracy_on_test(trainer, data)} if with_accuracy else {}
        if "fit call" in trainer.side:
            extra["whole_call_seconds"] = statistics.median(trainer.side["fit call"][1:]) / per
        results.add(workload, name, times[name], per=per, **extra)
    if "fastnn" in trainers:
        results.add(workload, "fastnn-call", trainers["fastnn"].side["fit call"][1:], per=per)
        kept[workload] = [(np.array(W), np.array(b)) for W, b in trainers["fastnn"].weights()]
    return trainers


def run_net_a(fw, data, settings, results, kept):
    """Net A, every framework for `net_a_epochs` epochs (the first discarded), then the test
    accuracy each reached; and fastnn's epoch inside one multi-epoch fit(epochs=5)."""
    run_training(fw, data, results, kept, "netA", NET_A, data.x_train, data.y_train,
                 settings.net_a_epochs - 1, with_accuracy=True)
    five = fastnn_trainer(fw, NET_A, data.x_train, data.y_train, seed=1)
    five.train(1)                                            # warm-up
    five.train(5)
    results.add("netA", "fastnn-fit5", five.side["epochs"][1:])


def run_net_b(fw, data, settings, results, kept):
    n = settings.net_b_samples
    run_training(fw, data, results, kept, "netB", NET_B, data.x_train[:n], data.y_train[:n],
                 settings.net_b_rounds, per=n / N_EPOCH)
    if n != N_EPOCH:
        results.notes.append(f"net B ran on {n:,} samples per epoch, reported per 60,000")


def run_iris(fw, data, settings, results, kept):
    steps = settings.iris_epochs * (len(data.x_iris) // IRIS.batch)
    run_training(fw, data, results, kept, "iris", IRIS, data.x_iris, data.y_iris, settings.iris_rounds,
                 epochs_per_round=settings.iris_epochs, per=steps)


def trained_weights(fw, data, kept, workload, net):
    """The weights fastnn reached in the training workload, else after one epoch on 6,000 samples."""
    if workload not in kept:
        trainer = fastnn_trainer(fw, net, data.x_train[:6000], data.y_train[:6000])
        trainer.train(1)
        kept[workload] = [(np.array(W), np.array(b)) for W, b in trainer.weights()]
    return kept[workload]


def run_predictors(fw, results, workload, params, names, x, rounds):
    """predict(x) by each framework, interleaved; each result checked against fastnn's classes."""
    predictors = {n: PREDICTOR_FUNCTIONS[n](fw, params) for n in names if fw.available(n)}
    times = interleave({n: (lambda p=p: timed(p, x)) for n, p in predictors.items()}, rounds)
    reference = np.argmax(next(iter(predictors.values()))(x), axis=1)
    for name, predict in predictors.items():
        agree = None if name.startswith("floor") else float(np.mean(np.argmax(predict(x), axis=1) == reference))
        results.add(workload, name, times[name], same_class_as_fastnn=agree)


def run_inference(fw, data, settings, results, kept):
    for (workload, net, source), rounds in zip((("inferA", NET_A, "netA"), ("inferB", NET_B, "netB")),
                                               settings.inference_rounds):
        params = trained_weights(fw, data, kept, source, net)
        run_predictors(fw, results, workload, params, list(INFERENCE), data.x_test, rounds)


def run_float64(fw, data, settings, results, kept):
    """fastnn in float32 and float64 side by side (and the floor in both), on net A's epoch,
    the Iris step and inference."""
    x64 = data.x_train.astype(np.float64)
    for workload, net, x, y, rounds, epochs, per in (
            ("netA-f64", NET_A, None, data.y_train, settings.float64_rounds, 1, 1.0),
            ("iris-f64", IRIS, data.x_iris, data.y_iris, settings.iris_rounds, settings.iris_epochs,
             settings.iris_epochs * len(data.x_iris) // IRIS.batch)):
        trainers = {}
        for name in FLOAT64:
            xs = (x64 if name.endswith("f64") else data.x_train) if x is None else x
            trainers[name] = TRAINER_FUNCTIONS[name](fw, net, xs, y)
        times = interleave({n: (lambda t=t: t.train(epochs)) for n, t in trainers.items()}, rounds)
        for name in trainers:
            results.add(workload, name, times[name], per=per)
    x_test64 = data.x_test.astype(np.float64)
    for (workload, net, source), rounds in zip((("inferA-f64", NET_A, "netA"), ("inferB-f64", NET_B, "netB")),
                                               settings.inference_rounds):
        params = trained_weights(fw, data, kept, source, net)
        predictors = {n: PREDICTOR_FUNCTIONS[n](fw, params) for n in FLOAT64}
        inputs = {n: x_test64 if n.endswith("f64") else data.x_test for n in FLOAT64}
        times = interleave({n: (lambda n=n: timed(predictors[n], inputs[n])) for n in FLOAT64}, rounds)
        for name in FLOAT64:
            results.add(workload, name, times[name])


def run_scaling(fw, data, settings, results, kept):
    """Seconds per 60,000 samples against batch size and hidden width, on a subset of the
    samples, extrapolated linearly; and a check of that linearity (net A, growing subsets)."""
    configs = [("batch size", bs, Net(f"net A, batch {bs}", NET_A.sizes, bs)) for bs in (1, 10, 32, 100, 1000)]
    configs += [("hidden width", h, Net(f"784-{h}-{h}-{h}-10", (784, h, h, h, 10), 100)) for h in (64, 256, 1024)]
    for sweep, value, net in configs:
        if sweep == "hidden width" and value == 64:                   # the same run as batch size 100
            for row in [r for r in results.scaling if r["sweep"] == "batch size" and r["value"] == 100]:
                results.scaling.append(dict(row, sweep=sweep, value=value))
            continue
        n = settings.scaling_samples // net.batch * net.batch        # whole batches only, for every framework
        trainers = make_trainers(fw, [f for f in SCALING if f != "floor"], net, data.x_train[:n], data.y_train[:n])
        # the floor runs on synthetic buffers: always the whole epoch
        trainers["floor"] = floor_trainer(fw, net, data.x_train[:N_EPOCH // net.batch * net.batch], None)
        times = interleave({name: (lambda t=t: t.train(1)) for name, t in trainers.items()}, settings.scaling_rounds)
        for name in trainers:
            used = N_EPOCH // net.batch * net.batch if name == "floor" else n
            per_60k = statistics.median(times[name]) * N_EPOCH / used
            results.scaling.append(dict(sweep=sweep, value=value, framework=name, samples=used,
                                        seconds_per_60k=per_60k))
            log(f"  scaling {sweep} {value:5d} {name:13s} {per_60k:9.3f} s per 60k")
    for n in settings.linearity_samples:            # time should grow linearly with the samples
        trainer = fastnn_trainer(fw, NET_A, data.x_train[:n], data.y_train[:n])
        times = interleave({"fastnn": lambda: trainer.train(1)}, settings.scaling_rounds)
        results.scaling.append(dict(sweep="samples", value=n, framework="fastnn", samples=n,
                                    seconds_per_60k=statistics.median(times["fastnn"]) * N_EPOCH / n))


def fastnn_optimizer(kind, **config):
    """fastnn's optimizer for ``kind``, with Keras 3's defaults (SGD: rate 0.01, momentum 0.9)."""
    from fastnn import optimizers
    if kind == "sgd":
        return optimizers.SGD(learning_rate=config.pop("learning_rate", LEARNING_RATE), momentum=MOMENTUM, **config)
    return {"adam": optimizers.Adam, "adamw": optimizers.AdamW, "rmsprop": optimizers.RMSprop}[kind](**config)


def keras_optimizer(fw, kind):
    """What Keras users write: compile(optimizer="adam") etc.; SGD with the common settings."""
    if kind == "sgd":
        return fw.keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
    return kind


def rule_trainers(fw, net, x, y, kind, names, dropout=0.0):
    """The peers of an optimizer or dropout workload, each with optimizer ``kind``."""
    makers = {
        "fastnn": lambda: fastnn_trainer(fw, net, x, y, optimizer=fastnn_optimizer(kind), dropout=dropout),
        "fastnn-sgd": lambda: fastnn_trainer(fw, net, x, y, dropout=dropout),
        "pytorch": lambda: torch_trainer(fw, net, x, y, optimizer=kind, dropout=dropout),
        "jax-scan": lambda: jax_rule_scan_trainer(fw, net, x, y, optimizer=kind, dropout=dropout),
        "keras": lambda: keras_trainer(fw, net, x, y, optimizer=keras_optimizer(fw, kind), dropout=dropout),
    }
    return {name: makers[name]() for name in names if fw.available(name)}


def run_rule_workload(fw, data, results, workload, trainers, rounds, per=1.0, with_accuracy=True):
    times = interleave({n: (lambda t=t: t.train(1)) for n, t in trainers.items()}, rounds)
    for name, trainer in trainers.items():
        extra = {"test_accuracy": accuracy_on_test(trainer, data)} if with_accuracy else {}
        results.add(workload, name, times[name], per=per, **extra)


def run_optimizers(fw, data, settings, results, kept):
    """Net A with Adam, AdamW and RMSprop, and net B with Adam, each beside fastnn's own
    SGD-momentum epoch and the peers with the same optimizer (issue #25)."""
    for workload, net, kind, rounds in (("netA-adam", NET_A, "adam", settings.optimizer_rounds),
                                        ("netA-adamw", NET_A, "adamw", settings.optimizer_rounds),
                                        ("netA-rmsprop", NET_A, "rmsprop", settings.optimizer_rounds),
                                        ("netB-adam", NET_B, "adam", settings.net_b_adam_rounds)):
        log(f"  {workload}")
        n = N_EPOCH if net is NET_A else settings.net_b_samples
        names = list(OPTIMIZER_PEERS) if net is NET_A else [p for p in OPTIMIZER_PEERS if p != "keras"]
        trainers = rule_trainers(fw, net, data.x_train[:n], data.y_train[:n], kind, names)
        run_rule_workload(fw, data, results, workload, trainers, rounds, per=n / N_EPOCH,
                          with_accuracy=net is NET_A)
    if settings.net_b_samples != N_EPOCH:
        results.notes.append(f"net B with Adam ran on {settings.net_b_samples:,} samples per epoch, "
                             "reported per 60,000")


def run_dropout(fw, data, settings, results, kept):
    """784-512-512-10 with Dropout(0.2) after each hidden layer, RMSprop, batch 128 (issue #25)."""
    n = settings.dropout_samples
    trainers = rule_trainers(fw, NET_DROPOUT, data.x_train[:n], data.y_train[:n], "rmsprop", list(DROPOUT_PEERS),
                             dropout=DROPOUT_RATE)
    run_rule_workload(fw, data, results, "dropout", trainers, settings.dropout_rounds, per=n / N_EPOCH)
    results.notes.append(f"784-512-512-10 with dropout: accuracy after {settings.dropout_rounds + 1} epochs "
                         "(the warm-up and the timed rounds); JAX's scanned epoch drops the last partial batch")


def run_toolkit(fw, data, settings, results, kept):
    """Net A with SGD momentum, plain and with each piece of the toolkit, fastnn only: the
    ratio to the plain run is the toolkit's cost (issue #25: ≤ 1.05)."""
    from fastnn.optimizers.schedules import ExponentialDecay
    from fastnn.regularizers import L2
    x, y = data.x_train, data.y_train
    decayed = lambda t: LEARNING_RATE * 0.96 ** (t / 1000)
    configs = {
        "fastnn": {},
        "l2": {"kernel_regularizer": L2(1e-4)},
        "exponential": {"optimizer": fastnn_optimizer("sgd", learning_rate=ExponentialDecay(LEARNING_RATE, 1000,
                                                                                            0.96))},
        "callable": {"optimizer": fastnn_optimizer("sgd", learning_rate=decayed)},
        "clipnorm": {"optimizer": fastnn_optimizer("sgd", clipnorm=1.0)},
        "global_clipnorm": {"optimizer": fastnn_optimizer("sgd", global_clipnorm=1.0)},
        "clipvalue": {"optimizer": fastnn_optimizer("sgd", clipvalue=0.5)},
    }
    trainers = {name: fastnn_trainer(fw, NET_A, x, y, **config) for name, config in configs.items()}
    run_rule_workload(fw, data, results, "toolkit", trainers, settings.toolkit_rounds)


RUNNERS = {"netA": run_net_a, "netB": run_net_b, "iris": run_iris, "inference": run_inference,
           "float64": run_float64, "scaling": run_scaling, "optimizers": run_optimizers, "dropout": run_dropout,
           "toolkit": run_toolkit}


def child(args):
    """Measure every selected workload at ``args.threads`` threads; write JSON to ``args.out``."""
    expected = thread_environment(args.threads, args.cpu)
    unset = [k for k, v in expected.items() if os.environ.get(k) != v]
    if unset:
        log(f"warning: {', '.join(unset)} not set as expected; run compare.py without --child")
    settings = Settings.quick() if args.quick else Settings()
    if args.net_b_samples:
        settings.net_b_samples = args.net_b_samples
    fw = Frameworks(args.threads)
    fw.skipped = frozenset(args.skip)
    for name, why in fw.missing.items():
        log(f"skipping {name}: {why}")
    warnings.filterwarnings("ignore", message=".*donated buffers.*")
    data = load_data()
    results, kept, load, trips = Results(), {}, {}, {}
    for workload in args.only:
        log(f"[{args.threads} thread(s)] {workload}")
        meter = OtherLoad()
        before = round_trip_ns(args.threads)
        meter.start()
        RUNNERS[workload](fw, data, settings, results, kept)
        load[workload] = meter.stop()
        log(f"  other processes kept {load[workload]:.2f} cores busy meanwhile")
        if before is not None:
            trips[workload] = [before, round_trip_ns(args.threads)]
            log(f"  cache line round trip between the two cores: {trips[workload][0]:.0f} ns before, "
                f"{trips[workload][1]:.0f} ns after")
    out = dict(threads=args.threads, cores=sorted(os.sched_getaffinity(0)), versions=fw.versions,
               missing=fw.missing, pools=fw.pools, torch_threads=fw.torch.get_num_threads() if fw.torch else None,
               settings=settings.__dict__, other_load_cores=load, round_trip_ns=trips,
               openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"), sgemm_kernel=sgemm_kernel(), cpu_cap=args.cpu,
               **results.to_json())
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


# =====================================================================================
# The parent: one child per thread count, then the tables, the targets and the plot
# =====================================================================================

def sgemm_kernel():
    from fastnn._kernels import _blas
    return _blas.sgemm_kernel()


def run_child(threads, args, path):
    """This script again with --child, pinned to `threads` cores before it starts."""
    cores = sorted(os.sched_getaffinity(0))[:threads]
    if len(cores) < threads:
        log(f"only {len(cores)} cores available; the {threads}-thread run is skipped")
        return None
    command = [sys.executable, "-X", "faulthandler", os.path.abspath(__file__), "--child", "--threads", str(threads), "--out", path,
               "--only", ",".join(args.only)] + (["--quick"] if args.quick else []) \
        + (["--net-b-samples", str(args.net_b_samples)] if args.net_b_samples else []) \
        + (["--skip", ",".join(args.skip)] if args.skip else []) + (["--cpu", args.cpu] if args.cpu else [])
    env = dict(os.environ, **thread_environment(threads, args.cpu))
    done = subprocess.run(command, env=env, preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
    if done.returncode != 0:
        log(f"the {threads}-thread run failed (exit {done.returncode})")
        return None
    with open(path) as f:
        return json.load(f)


def cpu_model():
    """The CPU's name, family/model and widest vector unit, from /proc/cpuinfo."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    flags = info.get("flags", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {vector})")


def blas_text(run):
    """What runs fastnn's products: its own float32 kernel, and SciPy's OpenBLAS (float64,
    and the BLAS floor) with the kernels it chose."""
    scipy_blas = [p for p in run["pools"] if p["internal_api"] == "openblas" and "scipy.libs" in (p["filepath"] or "")]
    text = ", ".join(f"OpenBLAS {p['version']} with {p['architecture']} kernels" for p in scipy_blas) or "unknown"
    if run.get("openblas_coretype"):
        text += f" (OPENBLAS_CORETYPE={run['openblas_coretype']} is set in the environment)"
    own = run.get("sgemm_kernel")
    if own in ("fastnn-avx512", "fastnn-avx2"):
        where = "AVX-512 kernel (csrc/gemm.c)" if own == "fastnn-avx512" else "AVX2 + FMA kernel (csrc/gemm_avx2.c)"
        return f"float32 products: fastnn's own {where}; float64 and the BLAS floor: SciPy's {text}"
    return f"every product through SciPy's {text}"


def header(runs):
    first = next(iter(runs.values()))
    versions = first["versions"]
    return (f"fastnn side-by-side benchmark, {datetime.date.today().isoformat()}, {cpu_model()}, "
            f"{os.cpu_count()} logical cores; " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".\n"
            f"Matrix products: {blas_text(first)}.\n"
            + ("Every framework capped at AVX2 (FASTNN_CPU=avx2, OPENBLAS_CORETYPE=Haswell, XLA_FLAGS "
               "--xla_cpu_max_isa=AVX2, ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2, set before any import).\n"
               if first.get("cpu_cap") == "avx2" else "")
            + "Each thread count runs in its own process, started pinned to that many cores "
            "(sched_setaffinity) with OMP/OPENBLAS/MKL_NUM_THREADS and XLA_FLAGS set before any import, "
            "then threadpoolctl and torch.set_num_threads; frameworks interleaved in rounds after a "
            "discarded warm-up; medians. × PyTorch is time relative to the PyTorch plain loop "
            "(inference: PyTorch no_grad forward) in the same process; < 1 is faster.")


def load_text(runs):
    parts = []
    for t, run in runs.items():
        load = ", ".join(f"{w} {c:.2f}" for w, c in run.get("other_load_cores", {}).items())
        parts.append(f"{t} thread(s): {load}")
    text = (f"Cores kept busy by other processes during each workload (of {os.cpu_count()}; "
            "anything well above 0 makes that workload's times noisy): " + "; ".join(parts) + ".")
    trips = [f"{w} {a:.0f}/{b:.0f}" for run in runs.values() for w, (a, b) in run.get("round_trip_ns", {}).items()]
    if trips:
        text += (" A cache line's round trip between the two cores, in ns, before/after each 2-thread "
                 "workload (about 60-90 on one core complex; several times more when the two virtual CPUs "
                 "sit on different ones, which slows every framework's 2-thread runs, fastnn's training "
                 "most): " + ", ".join(trips) + ".")
    return text


def row_index(run):
    return {(r["workload"], r["framework"]): r for r in run["rows"]}


def display(seconds, unit):
    if unit == "s/epoch":
        return f"{seconds:.3f} s"
    if unit == "µs/step":
        return f"{seconds * 1e6:.1f} µs"
    return f"{10_000 / seconds:,.0f}/s"


def markdown_table(runs):
    """One table: a row per workload and framework, median and × PyTorch for each thread count."""
    threads = list(runs)
    indexes = {t: row_index(runs[t]) for t in threads}
    head = ["workload", "framework"]
    for t in threads:
        head += [f"{t} thread{'s' if t > 1 else ''}", "× PyTorch"]
    head.append("notes")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (2 * len(threads)) + "---|"]
    for workload, (title, unit, names, reference) in TABLE.items():
        for name, label in names.items():
            cells, notes = [], []
            if not any((workload, name) in indexes[t] for t in threads):
                continue
            for t in threads:
                row = indexes[t].get((workload, name))
                torch_row = indexes[t].get((reference, "pytorch"))
                if row is None:
                    cells += ["—", "—"]
                    continue
                cells.append(display(row["seconds"], unit))
                cells.append(f"{row['seconds'] / torch_row['seconds']:.2f}×" if torch_row else "—")
                mine = []
                if row.get("test_accuracy") is not None:
                    mine.append(f"acc {row['test_accuracy'] * 100:.1f}%")
                if names is OPTIMIZER_PEERS and name == "fastnn":
                    base = indexes[t].get((workload, "fastnn-sgd"))
                    if base:
                        mine.append(f"×own SGD {row['seconds'] / base['seconds']:.2f}")
                if names is TOOLKIT and name != "fastnn":
                    base = indexes[t].get((workload, "fastnn"))
                    if base:
                        mine.append(f"×plain {row['seconds'] / base['seconds']:.2f}")
                if workload.endswith("-f64") and name.endswith("f64"):
                    base = indexes[t].get((workload, name.replace("f64", "f32")))
                    if base:
                        mine.append(f"×fp32 {row['seconds'] / base['seconds']:.2f}")
                spread = max(row["samples"]) / min(row["samples"]) if min(row["samples"]) > 0 else 1.0
                if spread > 1.5:
                    mine.append(f"rounds spread {spread:.1f}×")
                if mine:
                    notes.append(f"{t}t: " + ", ".join(mine))
            note = "; ".join(notes)
            lines.append(f"| {title} ({unit}) | {label} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines)


def targets(runs):
    """Each target at each thread count: fastnn's time over the reference's, met or missed, the margin."""
    out = []
    for t, run in runs.items():
        index = row_index(run)
        for workload, reference, bound, *measured in TARGETS:
            measured = measured[0] if measured else "fastnn"
            mine, theirs = index.get((workload, measured)), index.get((workload, reference))
            if mine is None or theirs is None:
                continue
            ratio = mine["seconds"] / theirs["seconds"]
            out.append(dict(threads=t, workload=workload, measured=measured, reference=reference, bound=bound,
                            ratio=ratio, met=ratio <= bound, margin=1 - ratio / bound))
    return out


def targets_text(found):
    lines = []
    for f in found:
        title = TABLE[f["workload"]][0]
        names = TABLE[f["workload"]][2]
        verb = "met" if f["met"] else "MISSED"
        how = f"{abs(f['margin']) * 100:.0f}% {'under' if f['met'] else 'over'}"
        measured = "fastnn" if f.get("measured", "fastnn") == "fastnn" else names[f["measured"]]
        lines.append(f"- [{verb}] {f['threads']} thread(s), {title}: {measured} / {names[f['reference']]} = "
                     f"{f['ratio']:.2f}× (target ≤ {f['bound']:.2f}×, {how})")
    met = sum(f["met"] for f in found)
    lines.append(f"\n{met} of {len(found)} targets met.")
    return "\n".join(lines)


def floor_text(runs):
    """Where fastnn's time goes beyond the GEMMs: fastnn − floor per workload."""
    lines = []
    for t, run in runs.items():
        index = row_index(run)
        for workload in ("netA", "netB", "iris", "inferA", "inferB"):
            mine, floor = index.get((workload, "fastnn")), index.get((workload, "floor"))
            if mine and floor and floor["seconds"] > 0:
                title, unit = TABLE[workload][:2]
                extra = mine["seconds"] - floor["seconds"]
                extra = {"s/epoch": f"{extra:.3f} s per epoch", "µs/step": f"{extra * 1e6:.1f} µs per step"}.get(
                    unit, f"{extra * 1e3:.1f} ms per call")
                blas = index.get((workload, "floor-blas"))
                beside = (f"; {mine['seconds'] / blas['seconds']:.2f}× the floor through SciPy's BLAS"
                          if blas and blas["seconds"] > 0 else "")
                lines.append(f"- {t} thread(s), {title}: fastnn {display(mine['seconds'], unit)} vs floor "
                             f"{display(floor['seconds'], unit)}: {mine['seconds'] / floor['seconds']:.2f}× the floor, "
                             f"{extra} outside the GEMMs{beside}")
    return "\n".join(lines)


def scaling_table(runs):
    frameworks = [n for n in SCALING]
    head = "| sweep | value | threads | " + " | ".join(TRAINING[n] for n in frameworks) + " |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(frameworks)]
    keys = []
    for run in runs.values():
        for r in run["scaling"]:
            if (r["sweep"], r["value"]) not in keys:
                keys.append((r["sweep"], r["value"]))
    for sweep, value in keys:
        for t, run in runs.items():
            found = {r["framework"]: r for r in run["scaling"] if r["sweep"] == sweep and r["value"] == value}
            if not found:
                continue
            cells = [f"{found[n]['seconds_per_60k']:.3f}" if n in found else "—" for n in frameworks]
            samples = next(iter(found.values()))["samples"]
            lines.append(f"| {sweep} ({samples:,} samples) | {value} | {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_scaling(runs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing: no plot")
        return None
    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    styles = {1: "-", 2: "--"}
    colors = dict(zip(SCALING, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, sweep in zip(axes, ("batch size", "hidden width")):
        for t, run in runs.items():
            for name in SCALING:
                points = sorted((r["value"], r["seconds_per_60k"]) for r in run["scaling"]
                                if r["sweep"] == sweep and r["framework"] == name)
                if points:
                    ax.plot(*zip(*points), styles.get(t, ":"), marker="o", color=colors[name],
                            label=f"{TRAINING[name].split(':')[0]}, {t} thr")
        ax.set(xscale="log", yscale="log", xlabel=sweep, ylabel="seconds per 60,000 samples",
               title=f"epoch time vs {sweep}" + (" (784-H-H-H-10, batch 100)" if sweep == "hidden width" else " (net A)"))
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(SCALING), fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=120)
    return path


def measure(args):
    """One child per thread count; {threads: the child's JSON}."""
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            log(f"=== {threads} thread(s) ===")
            run = run_child(threads, args, os.path.join(tmp, f"threads{threads}.json"))
            if run is not None:
                runs[threads] = run
    if not runs:
        sys.exit("no run finished")
    return runs


def report(runs):
    """The whole Markdown report and the targets found, from the children's results."""
    missing = {name: why for run in runs.values() for name, why in run["missing"].items()}
    parts = [header(runs), "", load_text(runs), ""]
    parts += [f"Skipped (not installed): {name} ({why})" for name, why in missing.items()]
    notes = sorted({n for run in runs.values() for n in run["notes"]})
    parts += [markdown_table(runs), ""]
    parts += ["Notes: fastnn's main rows are the epoch itself, from a Callback's on_epoch_begin to "
              "on_epoch_end inside each fit(epochs=1) call of the rounds; the whole call (input checks, "
              "workspace) is the row below it. Keras is timed the same way. Inference is one call on the 10,000 "
              "test images (Keras predict with batch_size=10,000; JAX with the images already on the device). "
              "The floor runs only the GEMMs through fastnn's own matrix-product wrapper (gemm_floor, less its "
              "one-off buffer setup; at 2 threads the faster of BLAS threads and two workers; inference: the "
              "forward products, at 2 threads on two halves of the rows); the floor through SciPy's BLAS is the "
              "same with fastnn's own float32 kernel switched off. Accuracy: on the 10,000 test images after "
              "10 epochs. The optimizer workloads (net A with Adam, AdamW, RMSprop; net B with Adam) use Keras 3's "
              "defaults in every framework (rate 0.001, epsilon 1e-7, AdamW's weight decay 0.004, RMSprop's rho "
              "0.9): torch.optim, Keras compile(optimizer=\"adam\") etc., and in JAX the same update written by hand "
              "inside the scanned epoch (optax is not installed); \"×own SGD\" is fastnn's epoch over its own "
              "SGD-momentum epoch in the same rounds. The toolkit rows are fastnn only, each over the plain run "
              "(\"×plain\")."] + notes
    found = targets(runs)
    parts += ["", "Targets (fastnn's time over the reference's, same process):", targets_text(found)]
    parts += ["", "fastnn beside the GEMM floor:", floor_text(runs)]
    if any(run["scaling"] for run in runs.values()):
        parts += ["", "Scaling: seconds per 60,000 samples, measured on the subset shown and extrapolated "
                  "linearly (the floor, on synthetic buffers, always runs all 60,000); the last rows check "
                  "that fastnn's time grows linearly with the samples:", scaling_table(runs)]
    return "\n".join(parts), found


def parent(args):
    if args.from_json:
        with open(args.from_json) as f:
            runs = {int(t): run for t, run in json.load(f)["runs"].items()}
    else:
        runs = measure(args)
    text, found = report(runs)
    print(text)
    plot = plot_scaling(runs, args.plot) if any(run["scaling"] for run in runs.values()) else None
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"header": header(runs), "runs": {str(t): r for t, r in runs.items()}, "targets": found,
                   "markdown": text, "plot": plot}, f, indent=1)
    log(f"wrote {args.out}" + (f" and {plot}" if plot else ""))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="few rounds and small subsets: a smoke run")
    parser.add_argument("--out", default=os.path.join(here, "results.json"))
    parser.add_argument("--plot", default=os.path.join(here, "scaling.png"))
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated, from {','.join(WORKLOADS)}")
    parser.add_argument("--from", dest="from_json", metavar="JSON",
                        help="rebuild the report and plot from a results file written earlier, measuring nothing")
    parser.add_argument("--cpu", choices=["avx2"], default=None,
                        help="cap every framework at AVX2 (FASTNN_CPU, OPENBLAS_CORETYPE=Haswell, XLA's "
                             "--xla_cpu_max_isa, ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA), set before any import")
    parser.add_argument("--net-b-samples", type=int, default=None, metavar="N",
                        help="net B's epochs (SGD and Adam) on the first N training images, reported per 60,000 "
                             "(default: all 60,000)")
    parser.add_argument("--skip", default="", metavar="NAMES",
                        help="comma-separated runner keys left out of every workload, e.g. sklearn,numpy-hand "
                             "(fastnn's own rows and the GEMM floor cannot be left out)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    asked = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in asked if w not in WORKLOADS]
    if unknown or not asked:
        parser.error(f"--only takes names from {','.join(WORKLOADS)}, got {args.only!r}")
    args.only = [w for w in WORKLOADS if w in asked]
    args.skip = [k.strip() for k in args.skip.split(",") if k.strip()]
    known = (set(TRAINING) | set(INFERENCE) | set(OPTIMIZER_PEERS)) - {"fastnn", "fastnn-call", "fastnn-fit5", "floor"}
    if any(k not in known for k in args.skip):
        parser.error(f"--skip takes names from {','.join(sorted(known))}, got {','.join(args.skip)!r}")
    if args.net_b_samples is not None and not 100 <= args.net_b_samples <= N_EPOCH:
        parser.error(f"--net-b-samples takes 100 to {N_EPOCH:,}, got {args.net_b_samples}")
    if args.child:
        if len(args.threads) != 1:
            parser.error("--child measures one thread count")
        args.threads = args.threads[0]
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
