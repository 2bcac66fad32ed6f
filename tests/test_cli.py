"""The fastnn command: train, evaluate, summary, predict; usage errors and missing files."""
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from fastnn.cli import main, read_png


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "iris.fnn"
    assert main(["train", "iris", "--verbose", "0", "--seed", "0", "--save", str(path)]) == 0
    return path


def test_train_iris_prints_accuracy_and_time(capsys, tmp_path):
    code, out, err = run(capsys, "train", "iris", "--epochs", "40", "--seed", "1", "--verbose", "0")
    assert code == 0
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy >= 0.9
    assert "s per epoch" in out and "Total params: 159" in out


def test_train_with_focal_loss_and_class_weights(capsys):
    code, out, _ = run(capsys, "train", "iris", "--loss", "categorical_focal_crossentropy", "--focal-alpha",
                       "balanced", "--class-weight", "balanced", "--hidden", "8", "--epochs", "30", "--verbose", "0")
    assert code == 0 and "test accuracy" in out


def test_train_with_another_optimizer_dropout_and_smoothing(capsys, tmp_path):
    """Keras' everyday recipe from the command line: Adam, Dropout, label smoothing, gelu."""
    import fastnn
    path = tmp_path / "adam.fnn"
    code, out, _ = run(capsys, "train", "iris", "--optimizer", "adam", "--lr", "0.01", "--dropout", "0.1",
                       "--activation", "gelu", "--label-smoothing", "0.1", "--epochs", "60", "--seed", "2",
                       "--verbose", "0", "--save", str(path))
    assert code == 0
    assert float(out.split("test accuracy: ")[1].split()[0]) >= 0.9
    model = fastnn.load_model(path)
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.learning_rate == 0.01
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.layers[0].activation == "gelu" and model.loss.label_smoothing == 0.1


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_train_with_the_regression_losses_on_softmax(capsys, loss):
    code, out, _ = run(capsys, "train", "iris", "--loss", loss, "--optimizer", "rmsprop", "--lr", "0.01",
                       "--epochs", "40", "--seed", "0", "--verbose", "0")
    assert code == 0 and float(out.split("test accuracy: ")[1].split()[0]) >= 0.8


def test_evaluate_summary_predict(capsys, iris_model, tmp_path):
    code, out, _ = run(capsys, "evaluate", str(iris_model), "iris")
    assert code == 0 and "accuracy: " in out and "45 test samples" in out
    code, out, _ = run(capsys, "summary", str(iris_model))
    assert code == 0 and "Total params: 159" in out and "trained on: iris" in out
    flowers = np.array([[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]])       # a setosa and a virginica, in cm
    np.save(tmp_path / "flowers.npy", flowers)
    code, out, _ = run(capsys, "predict", str(iris_model), str(tmp_path / "flowers.npy"))
    assert code == 0
    assert out.splitlines()[0].startswith("setosa") and out.splitlines()[1].startswith("virginica")


def test_evaluate_on_the_wrong_task(capsys, iris_model):
    code, _, err = run(capsys, "evaluate", str(iris_model), "digits")
    assert code == 1 and "trained on iris" in err


def test_missing_files_give_one_line(capsys, tmp_path):
    for argv in (["summary", str(tmp_path / "none.fnn")], ["evaluate", str(tmp_path / "none.fnn"), "iris"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and err.count("\n") == 1 and "no model file" in err and "Traceback" not in err
    (tmp_path / "bad.fnn").write_bytes(b"garbage")
    code, _, err = run(capsys, "summary", str(tmp_path / "bad.fnn"))
    assert code == 1 and "not a valid fastnn model file" in err
    code, _, err = run(capsys, "train", "mnist", "--data", str(tmp_path), "--epochs", "1")
    assert code == 1 and err.count("\n") == 1 and "not found" in err


def test_missing_data_keeps_the_folders_searched(capsys, monkeypatch, tmp_path):
    import urllib.error
    from fastnn.datasets import _fetch

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(_fetch, "urlopen", offline)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    code, _, err = run(capsys, "train", "mnist", "--epochs", "1")
    assert code == 1 and "Traceback" not in err
    assert str(tmp_path / "data" / "mnist") in err                     # $FASTNN_DATA/mnist
    assert str(tmp_path / "cache" / "fastnn" / "mnist") in err         # the user cache
    assert "train-images-idx3-ubyte" in err and "no network here" in err
    assert "--data DIR" in err and err.startswith("fastnn: error: ")


@pytest.mark.parametrize("argv", [[], ["train"], ["train", "cifar"], ["train", "iris", "--epochs", "0"],
                                  ["train", "iris", "--lr", "fast"], ["train", "iris", "--focal-alpha", "x"],
                                  ["predict", "model.fnn"], ["train", "iris", "--dropout", "1"],
                                  ["train", "iris", "--label-smoothing", "-0.1"], ["train", "iris", "--optimizer", "lion"],
                                  ["train", "iris", "--activation", "softmax"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: fastnn" in capsys.readouterr().err


def test_bad_setting_is_one_line(capsys):
    code, _, err = run(capsys, "train", "iris", "--momentum", "3", "--verbose", "0")
    assert code == 1 and "momentum" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, word", [(["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
                                        (["--optimizer", "rmsprop", "--nesterov"], "--nesterov"),
                                        (["--loss", "mae", "--label-smoothing", "0.1"], "--label-smoothing")])
def test_settings_that_do_not_fit_are_one_line(capsys, argv, word):
    code, _, err = run(capsys, "train", "iris", *argv, "--verbose", "0")
    assert code == 1 and word in err and err.count("\n") == 1


def test_save_to_a_keras_name_is_refused_before_training(capsys, tmp_path):
    code, out, err = run(capsys, "train", "iris", "--save", str(tmp_path / "iris.keras"), "--verbose", "0")
    assert code == 1 and err.count("\n") == 1 and "iris.fnn" in err and "test accuracy" not in out
    assert list(tmp_path.iterdir()) == []


def write_png(path, pixels, color_type=0, filter_type=1):
    """A minimal PNG writer (8-bit grey or RGB) using one row filter, to test the reader."""
    height, width = pixels.shape[:2]
    channels = 1 if color_type == 0 else 3
    flat = pixels.reshape(height, width * channels).astype(np.int64)
    rows = []
    for r in range(height):
        line = flat[r]
        if filter_type == 1:           # Sub: difference to the pixel on the left
            left = np.concatenate([np.zeros(channels, np.int64), line[:-channels]])
            encoded = (line - left) & 0xFF
        else:                          # Up: difference to the row above
            above = flat[r - 1] if r else np.zeros_like(line)
            encoded = (line - above) & 0xFF
        rows.append(bytes([filter_type]) + encoded.astype(np.uint8).tobytes())
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("color_type, filter_type", [(0, 1), (0, 2), (2, 1)])
def test_png_reader_round_trip(tmp_path, color_type, filter_type):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (28, 28))
    pixels = grey if color_type == 0 else np.stack([grey] * 3, axis=-1)
    write_png(tmp_path / "x.png", pixels, color_type, filter_type)
    np.testing.assert_allclose(read_png(tmp_path / "x.png"), grey, atol=1e-9)


def test_predict_png_with_an_mnist_shaped_model(capsys, tmp_path):
    from fastnn import Sequential
    from fastnn.layers import Dense
    model = Sequential([Dense(10, activation="softmax", input_shape=(784,))], seed=0)
    model.compile(loss="categorical_crossentropy")
    W = np.zeros((784, 10), np.float32)
    W[:392, 3] = 1.0                   # class 3 lights up for ink in the top half
    model.set_weights([W, np.zeros(10)])
    model.metadata = {"task": "mnist", "preprocessing": {"mean": 0.0, "scale": 255.0},
                      "class_names": [str(d) for d in range(10)]}
    model.save(tmp_path / "m.fnn")
    image = np.full((28, 28), 255)
    image[:14] = 0                     # black ink on white paper, top half: inverted to MNIST's look
    write_png(tmp_path / "digit.png", image)
    code, out, _ = run(capsys, "predict", str(tmp_path / "m.fnn"), str(tmp_path / "digit.png"))
    assert code == 0 and out.startswith("3  (class 3")
    write_png(tmp_path / "small.png", np.zeros((8, 8)))
    code, _, err = run(capsys, "predict", str(tmp_path / "m.fnn"), str(tmp_path / "small.png"))
    assert code == 1 and "8×8 pixels" in err


def test_console_script_and_module_entry_point(tmp_path):
    # run from an empty folder, so that the installed package is imported (not a source checkout)
    commands = [[sys.executable, "-m", "fastnn"]]
    script = shutil.which("fastnn", path=os.path.dirname(sys.executable))
    if script:                                   # the console script of an installed fastnn
        commands.append([script])
    for command in commands:
        result = subprocess.run(command + ["train", "iris", "--epochs", "5", "--verbose", "0"],
                                capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "test accuracy" in result.stdout
        result = subprocess.run(command + ["train"], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 2 and "usage: fastnn" in result.stderr


def test_explain_prints_one_step_and_leaves_the_file_alone(capsys, iris_model, tmp_path):
    import fastnn
    from fastnn.cli import load_task, preprocess
    from fastnn.utils import to_categorical
    before = iris_model.read_bytes()
    code, out, _ = run(capsys, "explain", str(iris_model), "--samples", "3")
    assert code == 0
    for piece in ("on 3 sample(s)", "Z₁ = I₁·W₁ + b₁", "δ₃ = ∂E/∂Z₃ = (A₃ − Y)/n", "δ₂ = (δ₃·W₃ᵀ) ⊙ g′(Z₂)",
                  "dW₁ = I₁ᵀ·δ₁", "velocity v of W₁", "left as it was"):
        assert piece in out, piece
    assert iris_model.read_bytes() == before
    # the loss printed is the step's, on the first three training flowers scaled as the model says
    model = fastnn.load_model(iris_model)
    x, y, _, _, _ = load_task("iris")
    expected = model.explain_step(preprocess(x[:3], model.metadata["preprocessing"]), to_categorical(y[:3], 3))
    assert f"loss E = {expected.loss:.6g}" in out
    # an .npz of x and y, and HTML into a file
    np.savez(tmp_path / "batch.npz", x=preprocess(x[:2], model.metadata["preprocessing"]),
             y=to_categorical(y[:2], 3))
    page = tmp_path / "step.html"
    code, out, _ = run(capsys, "explain", str(iris_model), "--data", str(tmp_path / "batch.npz"),
                       "--format", "html", "--out", str(page))
    assert code == 0 and "wrote" in out
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<table" in text and "on 2 sample(s)" in text


def test_explain_errors(capsys, iris_model, tmp_path):
    code, _, err = run(capsys, "explain", str(iris_model), "--data", "digits")
    assert code == 1 and "trained on iris, not digits" in err
    code, _, err = run(capsys, "explain", str(iris_model), "--data", str(tmp_path / "none.npz"))
    assert code == 1 and "no file at" in err
    np.savez(tmp_path / "wrong.npz", a=np.zeros(3))
    code, _, err = run(capsys, "explain", str(iris_model), "--data", str(tmp_path / "wrong.npz"))
    assert code == 1 and "arrays named x and y" in err
    code, _, err = run(capsys, "explain", str(iris_model), "--data", "flowers.csv")
    assert code == 1 and "an .npz file" in err
    with pytest.raises(SystemExit) as exc:
        main(["explain", str(iris_model), "--samples", "0"])
    assert exc.value.code == 2
