"""Training allocates nothing per step, and its peak memory stays close to the data's."""
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD, Adam, RMSprop


def net_and_data(backend, n=2000, optimizer=None, regularizer=None):
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.intp)
    model = Sequential([Dense(64, activation="relu", input_shape=(784,), kernel_regularizer=regularizer),
                        Dense(64, activation="relu"), Dense(10, activation="softmax")], backend=backend, seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer or SGD(lr=0.01, momentum=0.9))
    return model, x, y


def traced_peak_of_steps(backend, n_batches, optimizer=None, regularizer=None):
    """Peak of the memory traced while the model's trainer runs n_batches steps (with the
    optimizer's rule and a rate per step, computed before, as fit does)."""
    model, x, y = net_and_data(backend, optimizer=optimizer, regularizer=regularizer)
    trainer = model.build()._training_buffers(100)
    order = np.random.default_rng(1).permutation(len(x)).astype(np.intp)
    losses = np.zeros(n_batches)
    opt = model.optimizer
    rule, rates = opt.rule(), opt.rates(0, n_batches)
    step = lambda k: trainer.train(x, y, None, None, order, 0, k, 0.01, 0.0, 0.9, False, 0, losses, 1,
                                   rule=rule, rates=rates)
    step(2)                                                       # warm up (BLAS buffers, caches)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(3):
            done = step(n_batches)[0]
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert done == n_batches
    return peak


@pytest.mark.parametrize("optimizer, regularizer", [(None, None), (Adam(1e-3), "l2"), (RMSprop(momentum=0.9), None)],
                         ids=["sgd", "adam-l2", "rmsprop"])
def test_compiled_training_allocates_nothing_per_step(optimizer, regularizer):
    few = traced_peak_of_steps("compiled", 2, optimizer, regularizer)
    many = traced_peak_of_steps("compiled", 20, optimizer, regularizer)
    assert many <= few + 1024            # 10× the steps, no more memory: nothing is allocated per step
    assert many < 4096                   # and the call itself allocates only a few small Python objects


def test_the_measure_sees_per_step_allocations():
    # the NumPy backend makes temporaries at every step: the same measure must catch them
    assert traced_peak_of_steps("numpy", 20) > 100_000


def test_fit_overhead_is_small_against_the_data():
    model, x, y = net_and_data("compiled", n=20000)
    model.fit(x, y, batch_size=100, epochs=1, verbose=0)
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=100, epochs=2, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024 + 20000 * 8 * 2     # buffers, one shuffled order, labels; no copy of x
    assert peak < x.nbytes / 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak RSS from getrusage (Linux)")
def test_peak_rss_training_net_a_on_mnist_shaped_data():
    """Peak resident memory while training 784-64-64-64-10 stays within the data plus 64 MB."""
    script = textwrap.dedent("""
        import resource, numpy as np
        from fastnn import Sequential
        from fastnn.layers import Dense
        from fastnn.optimizers import SGD, Adam, RMSprop
        rng = np.random.default_rng(0)
        x = rng.random((60000, 784), dtype=np.float32)
        y = rng.integers(0, 10, 60000)
        model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(64, activation="relu"),
                            Dense(64, activation="relu"), Dense(10, activation="softmax")], seed=0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9))
        model.predict(x[:10])                     # load every library before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.fit(x, y, batch_size=100, epochs=2, verbose=0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before, after, x.nbytes)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=os.path.expanduser("~"))
    assert out.returncode == 0, out.stderr
    before_kb, after_kb, data_bytes = map(int, out.stdout.split())
    growth = (after_kb - before_kb) * 1024
    assert growth < 64 * 1024 * 1024, f"training grew the peak RSS by {growth / 2**20:.1f} MB"
