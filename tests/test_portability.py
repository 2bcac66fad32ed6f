"""FASTNN_CPU: the cap on the instruction set of fastnn's own kernels, read once at import.

Each case runs in a fresh interpreter (the variable is read when the compiled modules are
first imported) from a temporary folder, so that the installed fastnn is the one imported.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn._kernels import _blas

MODULES = ("_blas", "dense", "activations", "losses", "optim", "train")


def run(code, tmp_path, **env):
    """Run code in a fresh interpreter with FASTNN_CPU etc. set as given; (returncode, stdout, stderr)."""
    environment = {k: v for k, v in os.environ.items() if k != "FASTNN_CPU"}
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


LEVELS = """
import json, warnings
warnings.simplefilter("error")                  # a warning here would be a failure
import fastnn
from fastnn._kernels import _blas, dense, activations, losses, optim, train
print(json.dumps({"modules": [m._kernel_isa() for m in (_blas, dense, activations, losses, optim, train)],
                  "cpu": _blas.cpu_isa(), "sgemm": _blas.sgemm_kernel(),
                  "config": fastnn.show_config(mode="dicts")["cpu"]}))
"""


@pytest.mark.parametrize("value", ["generic", "avx2", "avx512", "", "auto", " AVX2 "])
def test_every_module_takes_the_cap(value, tmp_path):
    detected = _blas.cpu_isa()[0]
    names = ["generic", "avx2", "avx512"]
    wanted = value.strip().lower()
    if wanted in names and names.index(wanted) > names.index(detected):
        pytest.skip(f"this CPU has {detected}: FASTNN_CPU={value} warns (see the test below)")
    code, out, err = run(LEVELS, tmp_path, FASTNN_CPU=value)
    assert code == 0, err
    got = json.loads(out)
    expected = names.index(wanted) if wanted in names else names.index(detected)
    assert got["modules"] == [expected] * len(MODULES)
    assert got["cpu"] == [detected, names[expected]]
    assert got["config"] == {"detected": detected, "used": names[expected],
                             "FASTNN_CPU": wanted if wanted in names else None}
    own = os.environ.get("FASTNN_GEMM", "auto").strip().lower() in ("", "auto")
    kernels = ["blas", "fastnn-avx2", "fastnn-avx512"]      # fastnn's own GEMM needs AVX2 + FMA
    assert got["sgemm"] == (kernels[expected] if own else "blas")


def test_a_cap_the_cpu_cannot_honour_warns_once_and_falls_back(tmp_path):
    detected = _blas.cpu_isa()[0]
    if detected == "avx512":
        pytest.skip("this CPU has AVX-512: every cap can be honoured")
    code, out, err = run("""
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import fastnn
            from fastnn._kernels import _blas, train
        print(len(caught), _blas.cpu_isa()[1], train._kernel_isa())
        print(caught[0].message)
        """, tmp_path, FASTNN_CPU="avx512")
    assert code == 0, err
    first, message = out.strip().split("\n")
    assert first == f"1 {detected} {['generic', 'avx2', 'avx512'].index(detected)}"
    assert "FASTNN_CPU=avx512" in message and f"fastnn uses {detected}" in message


@pytest.mark.parametrize("value", ["sse4", "avx-512", "native", "2"])
def test_an_unknown_value_is_an_error_at_import_that_lists_the_choices(value, tmp_path):
    code, out, err = run("import fastnn", tmp_path, FASTNN_CPU=value)
    assert code != 0
    assert "ValueError" in err and f"FASTNN_CPU={value!r}" in err
    assert "avx512, avx2, generic" in err


def test_the_cap_is_read_once(tmp_path):
    code, out, err = run("""
        import os
        import fastnn
        from fastnn._kernels import _blas
        os.environ["FASTNN_CPU"] = "avx2"
        from fastnn._kernels import _isa, train
        import importlib; importlib.reload(_isa)        # even a re-read does not reach the modules
        print(_blas._kernel_isa(), train._kernel_isa())
        """, tmp_path, FASTNN_CPU="generic")
    assert code == 0, err
    assert out.split() == ["0", "0"]


TRAIN = """
import numpy as np, fastnn
from fastnn.datasets import load_iris
from fastnn.layers import Dense
x, y = load_iris()
x = ((x - x.mean(0)) / x.std(0)).astype(np.{dtype})
model = fastnn.Sequential([Dense(12, activation="relu", input_shape=(4,)), Dense(6, activation="tanh"),
                           Dense(3, activation="softmax")], seed=0, dtype="{dtype}")
model.compile(loss="sparse_categorical_crossentropy", optimizer=fastnn.optimizers.SGD(lr=0.05, momentum=0.9),
              metrics=["accuracy"])
history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, seed=1)
np.save("weights.npy", np.concatenate([layer.W.ravel() for layer in model.layers]))
print(history.history["loss"][-1], history.history["accuracy"][-1])
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_gives_the_same_model_on_every_level(dtype, tmp_path):
    """The elementwise kernels round the same way on every instruction set (no contracted
    multiply-adds); the products too, where both levels go through BLAS."""
    results = {}
    for level in ("generic", _blas.cpu_isa()[0]):
        folder = tmp_path / level
        folder.mkdir(exist_ok=True)
        code, out, err = run(TRAIN.format(dtype=dtype), folder, FASTNN_CPU=level, FASTNN_NUM_THREADS="1")
        assert code == 0, err
        results[level] = np.load(folder / "weights.npy"), out
    (generic, _), (best, _) = results.values()
    if dtype == "float64" or _blas.cpu_isa()[0] == "generic":
        np.testing.assert_array_equal(generic, best)
    else:                   # AVX-512, AVX2: fastnn's own GEMM sums in another order than BLAS
        np.testing.assert_allclose(generic, best, rtol=1e-4, atol=1e-5)
    loss, accuracy = map(float, results["generic"][1].split())
    assert loss < 0.5 and accuracy > 0.85


def test_show_config_prints_the_machine(capsys):
    import fastnn
    fastnn.show_config()
    text = capsys.readouterr().out
    detected, used = _blas.cpu_isa()
    assert f"instruction set: {used} (this CPU has {detected}" in text
    assert f"float32 products: {_blas.sgemm_kernel()}" in text
    assert "BLAS: " in text and "threads: " in text
    config = fastnn.show_config(mode="dicts")
    assert config["kernels"]["float64 products"] == "blas" and config["threads"]["available"] >= 1
    with pytest.raises(ValueError, match="mode must be 'stdout' or 'dicts'"):
        fastnn.show_config(mode="json")


def test_command_line_config(capsys):
    from fastnn.cli import main
    assert main(["config"]) == 0
    assert "instruction set:" in capsys.readouterr().out


def test_a_thread_that_cannot_start_leaves_the_call_to_one_worker():
    """If the second training (or predict) thread cannot be started, the call runs on the
    calling thread alone: the same model as a one-worker fit, the same predictions."""
    from fastnn import Sequential
    from fastnn._kernels import train
    from fastnn.layers import Dense
    rng = np.random.default_rng(0)
    x = rng.random((400, 300), dtype=np.float32)       # more inputs than the batch has rows
    y = rng.integers(0, 10, 400)
    results = []
    for workers, limit in ((1, -1), (2, 0)):
        model = Sequential([Dense(32, activation="relu", input_shape=(300,)), Dense(10, activation="softmax")],
                           seed=0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model._thread_plan = lambda batch_size, w=workers: (w, 1, "batch")
        train._limit_threads(limit)
        try:
            model.fit(x, y, batch_size=100, epochs=2, verbose=0, seed=0)
            out = train.forward(x, [l.W for l in model.layers], [l.b for l in model.layers], ["relu", "softmax"],
                                np.empty((400, 10), np.float32), chunk=64, n_workers=2)
        finally:
            train._limit_threads(-1)
        results.append((model.get_weights(), out))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][1], results[1][1])
