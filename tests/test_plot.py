"""fastnn.plot: every picture renders to PNG (Agg) at the size asked for and is not blank, and it
shows what the model does: the misclassified grid holds exactly the model's errors, the decision
regions are exactly model.predict on the grid. Without matplotlib, the error names the extra.

Small data only: Iris, and a network trained for 1 epoch on 5,000 MNIST images when
$FASTNN_DATA holds MNIST, else on scikit-learn's 8 × 8 digits.
"""
import importlib
import sys

import numpy as np
import pytest

try:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.image import imread
except ImportError:            # only the missing-matplotlib test runs then
    matplotlib = None

from fastnn import Perceptron, Sequential, plot
from fastnn.cli import main
from fastnn.datasets import load_digits, load_iris
from fastnn.layers import Dense
from fastnn.optimizers import SGD

needs_matplotlib = pytest.mark.skipif(matplotlib is None, reason="matplotlib is missing: pip install .[plot]")
DPI = 50
MIN_VARIANCE = 1e-3            # of the RGB values in [0, 1]; a blank (one-colour) picture has 0


def rendered(fig, path, size=None):
    """Save ``fig`` as a PNG and read it back; check its pixel size (``size`` = (width, height), else
    the figure's inches × DPI) and that it is not blank. Returns the pixels."""
    fig.savefig(path, dpi=DPI)
    assert path.is_file()
    pixels = imread(path)
    if size is None:
        size = tuple(round(v) for v in fig.get_size_inches() * DPI)
    assert pixels.shape[:2] == (size[1], size[0]), f"{path.name} is {pixels.shape[1]}×{pixels.shape[0]} px"
    assert pixels[..., :3].var() > MIN_VARIANCE, f"{path.name} is blank"
    return pixels


def grid_points(boundary):
    xx, yy = np.meshgrid(boundary.xs, boundary.ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def sigmoid_model(units, activation, seed=0):
    return Sequential([Dense(units, activation=activation, input_shape=(2,))], seed=seed)


# ---------------------------------------------------------------- data and models


@pytest.fixture(scope="module")
def setosa_versicolor():
    """Sepal and petal length (cm) of setosa (0) and versicolor (1): linearly separable."""
    iris = load_iris()
    keep = iris.target < 2
    return iris.data[keep][:, [0, 2]], iris.target[keep]


@pytest.fixture(scope="module")
def perceptron(setosa_versicolor):
    return Perceptron(learning_rate=0.1, seed=0).fit(*setosa_versicolor)


@pytest.fixture(scope="module")
def standardise(setosa_versicolor):
    x = setosa_versicolor[0]
    mean, std = x.mean(axis=0), x.std(axis=0)
    return lambda points: (np.asarray(points) - mean) / std


@pytest.fixture(scope="module")
def logistic(setosa_versicolor, standardise):
    """One sigmoid unit trained on standardised features (drawn in cm through ``standardise``)."""
    x, y = setosa_versicolor
    model = sigmoid_model(1, "sigmoid")
    model.compile(loss="binary_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    model.fit(standardise(x), y, batch_size=10, epochs=20, verbose=0)
    return model


@pytest.fixture(scope="module")
def iris_mlp():
    """2-12-3 on petal length and width; returns (model, history, x in cm, y)."""
    iris = load_iris()
    x = iris.data[:, 2:]
    model = Sequential([Dense(12, activation="relu", input_shape=(2,)), Dense(3, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x, iris.target, batch_size=10, epochs=15, validation_split=0.2, verbose=0, seed=0)
    return model, history, x, iris.target


@pytest.fixture(scope="module", params=["digits", "mnist"])
def image_model(request):
    """(model, x_test rows in [0, 1], y_test ids, side): a 1-epoch network on 8 × 8 digits or 28 × 28 MNIST."""
    if request.param == "mnist":
        x_train, y_train, x_test, y_test = request.getfixturevalue("mnist_flat")    # (conftest.py)
        x_train, y_train, x_test, y_test, side = x_train[:5000], y_train[:5000], x_test[:2000], y_test[:2000], 28
    else:
        x, y = load_digits()
        x_train, y_train, x_test, y_test, side = x[:1200] / 16.0, y[:1200], x[1200:] / 16.0, y[1200:], 8
    model = Sequential([Dense(32, activation="relu", input_shape=(side * side,)), Dense(10, activation="softmax")],
                       seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    return model, x_test, y_test, side


# ---------------------------------------------------------------- the checks themselves


@needs_matplotlib
def test_blank_picture_fails_the_check(tmp_path):
    fig = Figure(figsize=(2, 2))
    with pytest.raises(AssertionError, match="blank"):
        rendered(fig, tmp_path / "blank.png")


def test_missing_matplotlib_says_install_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # "import matplotlib" now fails
    module = importlib.reload(plot)                             # fastnn.plot itself imports without it
    with pytest.raises(ImportError, match=r"pip install fastnn\[plot\]") as info:
        module.plot_activations()
    assert isinstance(info.value, module.MatplotlibMissingError)
    assert "pip install .[plot]" in str(info.value)
    with pytest.raises(module.MatplotlibMissingError):
        module.plot_history({"loss": [1.0, 0.5]})


# ---------------------------------------------------------------- learning curves


@needs_matplotlib
def test_history_training_and_validation_per_epoch(iris_mlp, tmp_path):
    _, history, _, _ = iris_mlp
    for source in (history, history.history):
        fig = plot.plot_history(source, figsize=(6, 3))
        assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
        for ax, key in zip(fig.axes, ("loss", "accuracy")):
            train, val = ax.get_lines()
            np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 16))
            np.testing.assert_allclose(train.get_ydata(), history.history[key])
            np.testing.assert_allclose(val.get_ydata(), history.history[f"val_{key}"])
            assert (train.get_label(), val.get_label()) == ("training", "validation")
    rendered(fig, tmp_path / "history.png", size=(300, 150))


@needs_matplotlib
def test_history_into_one_axes(iris_mlp):
    _, history, _, _ = iris_mlp
    fig = Figure()
    ax = fig.subplots()
    assert plot.plot_history(history, keys=["loss"], ax=ax) is fig
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="one quantity"):
        plot.plot_history(history, ax=ax)
    with pytest.raises(ValueError, match="no epochs"):
        plot.plot_history({"loss": []})


# ---------------------------------------------------------------- decision boundaries


def drawn_cells_agree(fig, classes_of, rng, n=2000):
    """Fraction of random points of the drawn region whose pixel of the image has the class
    the model gives the point (only points within half a grid cell of the boundary can differ)."""
    image = fig.axes[0].images[0]
    left, right, bottom, top = image.get_extent()
    regions = np.asarray(image.get_array())
    points = np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
    ix = np.minimum(((points[:, 0] - left) / (right - left) * regions.shape[1]).astype(int), regions.shape[1] - 1)
    iy = np.minimum(((points[:, 1] - bottom) / (top - bottom) * regions.shape[0]).astype(int), regions.shape[0] - 1)
    return np.mean(regions[iy, ix] == classes_of(points))


@needs_matplotlib
def test_perceptron_regions_are_predict_and_the_line_is_w_x_plus_b(perceptron, setosa_versicolor, tmp_path):
    x, y = setosa_versicolor
    fig = plot.plot_decision_boundary(perceptron, x, y, class_names=["setosa", "versicolor"], resolution=60,
                                      feature_names=["sepal length (cm)", "petal length (cm)"], figsize=(5, 4))
    boundary = fig.decision_boundary
    assert boundary.regions.shape == (60, 60)
    np.testing.assert_array_equal(boundary.regions.ravel(), perceptron.predict(grid_points(boundary)))
    assert set(np.unique(boundary.regions)) == {0, 1}
    assert drawn_cells_agree(fig, perceptron.predict, np.random.default_rng(0)) > 0.97

    w, b = boundary.line
    np.testing.assert_allclose(w, perceptron.w)
    assert b == pytest.approx(perceptron.b)
    (line,) = [l for l in fig.axes[0].get_lines() if l.get_label() == "w·x + b = 0"]
    ends = np.column_stack(line.get_data())
    np.testing.assert_allclose(ends @ perceptron.w + perceptron.b, 0, atol=1e-9)
    rendered(fig, tmp_path / "perceptron.png", size=(250, 200))


@needs_matplotlib
def test_logistic_regression_drawn_in_cm_through_a_transform(logistic, setosa_versicolor, standardise, tmp_path):
    x, y = setosa_versicolor
    fig = plot.plot_decision_boundary(logistic, x, y, transform=standardise, resolution=50)
    boundary = fig.decision_boundary
    expected = logistic.predict(standardise(grid_points(boundary)))[:, 0] > 0.5
    np.testing.assert_array_equal(boundary.regions.ravel(), expected)
    classes = lambda points: logistic.predict(standardise(points))[:, 0] > 0.5
    assert drawn_cells_agree(fig, classes, np.random.default_rng(1)) > 0.97

    # the line, in cm, is where the model's own z = w·u + b is 0 (u the standardised point)
    W, b = logistic.get_weights()
    (line,) = [l for l in fig.axes[0].get_lines() if l.get_label() == "w·x + b = 0"]
    ends = standardise(np.column_stack(line.get_data()))
    np.testing.assert_allclose(ends @ W[:, 0] + b[0], 0, atol=1e-4)
    rendered(fig, tmp_path / "logistic.png")


@needs_matplotlib
@pytest.mark.parametrize("activation", ["hard_sigmoid", "step", "linear"])
def test_other_single_units_have_a_line_where_the_class_changes(activation, setosa_versicolor, standardise):
    x, y = setosa_versicolor
    model = sigmoid_model(1, activation, seed=3)
    model.build(2)
    model.set_weights([np.array([[0.8], [1.5]]), np.array([0.2])])
    fig = plot.plot_decision_boundary(model, standardise(x), y, resolution=40)
    boundary = fig.decision_boundary
    threshold = 0.0 if activation == "linear" else 0.5
    np.testing.assert_array_equal(boundary.regions.ravel(), model.predict(grid_points(boundary))[:, 0] > threshold)
    w, b = boundary.line
    np.testing.assert_allclose(w, [0.8, 1.5], rtol=1e-6)
    assert b == pytest.approx(0.2, rel=1e-6)


@needs_matplotlib
def test_two_unit_softmax_boundary_is_the_difference_of_its_units(setosa_versicolor):
    x, y = setosa_versicolor
    model = sigmoid_model(2, "softmax")
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9))
    model.fit(x, y, batch_size=10, epochs=10, verbose=0)
    fig = plot.plot_decision_boundary(model, x, y, resolution=50)
    boundary = fig.decision_boundary
    points = grid_points(boundary)
    np.testing.assert_array_equal(boundary.regions.ravel(), np.argmax(model.predict(points), axis=1))
    W, b = model.get_weights()
    w, c = boundary.line
    np.testing.assert_allclose(w, W[:, 1] - W[:, 0], rtol=1e-6)
    z = points @ w + c                            # class 1 exactly where (w₁ − w₀)·x + (b₁ − b₀) > 0
    clear = np.abs(z) > 1e-3
    np.testing.assert_array_equal(boundary.regions.ravel()[clear], (z > 0)[clear])


@needs_matplotlib
def test_mlp_regions_are_argmax_and_there_is_no_line(iris_mlp, tmp_path):
    model, _, x, y = iris_mlp
    fig = plot.plot_decision_boundary(model, x, y, class_names=load_iris().target_names, resolution=70)
    boundary = fig.decision_boundary
    np.testing.assert_array_equal(boundary.regions.ravel(), np.argmax(model.predict(grid_points(boundary)), axis=1))
    assert boundary.line is None
    assert not fig.axes[0].get_lines()
    assert drawn_cells_agree(fig, lambda p: np.argmax(model.predict(p), axis=1), np.random.default_rng(2)) > 0.97
    rendered(fig, tmp_path / "mlp.png")


@needs_matplotlib
def test_decision_boundary_needs_two_features(iris_mlp):
    x, y = load_iris()
    with pytest.raises(ValueError, match="2 features"):
        plot.plot_decision_boundary(iris_mlp[0], x, y)


# ---------------------------------------------------------------- test errors, confusion, weights


@needs_matplotlib
def test_misclassified_grid_shows_exactly_the_models_errors(image_model, tmp_path):
    model, x, y, side = image_model
    predicted = np.argmax(model.predict(x), axis=1)
    errors = np.flatnonzero(predicted != y)
    assert len(errors) > 0

    fig = plot.plot_misclassified(model, x, y, max_images=36)
    np.testing.assert_array_equal(fig.misclassified_indices, errors[:36])
    assert fig.n_misclassified == len(errors)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == min(36, len(errors))
    for ax, i in zip(drawn, fig.misclassified_indices):
        labels = {text.get_gid(): text.get_text() for text in ax.texts}
        assert labels["true"] == str(y[i])                               # top right
        assert labels["predicted"].split()[0] == str(predicted[i])       # bottom right, with its probability
        np.testing.assert_array_equal(ax.images[0].get_array(), x[i].reshape(side, side))
    rendered(fig, tmp_path / "misclassified.png")

    # the same from images (n, side, side) and one-hot labels
    again = plot.plot_misclassified(model, x.reshape(-1, side, side), np.eye(10)[y], max_images=5)
    np.testing.assert_array_equal(again.misclassified_indices, errors[:5])


@needs_matplotlib
def test_misclassified_without_errors_and_non_square_rows(perceptron, setosa_versicolor, tmp_path):
    x, y = setosa_versicolor
    four = np.column_stack([x, x])                      # 4 values: read as 2 × 2 images
    model = Perceptron(seed=0).fit(four, y)
    fig = plot.plot_misclassified(model, four, y)
    assert len(fig.misclassified_indices) == 0 and "no errors" in fig.axes[0].texts[0].get_text()
    rendered(fig, tmp_path / "none.png")
    with pytest.raises(ValueError, match="image_shape"):
        plot.plot_misclassified(perceptron, x[:, :1].repeat(3, axis=1), y)


@needs_matplotlib
def test_confusion_matrix_with_precision_and_recall(image_model, tmp_path):
    from sklearn.metrics import confusion_matrix, precision_score, recall_score
    model, x, y, _ = image_model
    predicted = np.argmax(model.predict(x), axis=1)
    fig = plot.plot_confusion_matrix(model, x, y)
    np.testing.assert_array_equal(fig.confusion_matrix, confusion_matrix(y, predicted, labels=range(10)))
    precision = precision_score(y, predicted, labels=range(10), average=None, zero_division=np.nan)
    recall = recall_score(y, predicted, labels=range(10), average=None, zero_division=np.nan)
    np.testing.assert_allclose(fig.precision, precision, equal_nan=True)
    np.testing.assert_allclose(fig.recall, recall, equal_nan=True)
    (table,) = [t for ax in fig.axes for t in ax.texts if t.get_gid() == "precision_recall"]
    rows = table.get_text().splitlines()[1:]
    for k, row in enumerate(rows):
        name, p, r, support = row.split()
        assert (name, int(support)) == (str(k), np.sum(y == k))
        if not np.isnan(precision[k]):
            assert float(p) == pytest.approx(precision[k], abs=5e-4)
        assert float(r) == pytest.approx(recall[k], abs=5e-4)
    rendered(fig, tmp_path / "confusion.png")


@needs_matplotlib
def test_weights_of_the_first_layer_as_images(image_model, tmp_path):
    model, _, _, side = image_model
    W = model.layers[0].W
    for source in (model.layers[0], model, W):
        fig = plot.plot_weights(source, max_units=16)
        drawn = [ax for ax in fig.axes if ax.images]
        assert len(drawn) == 16
        for j, ax in enumerate(drawn):
            np.testing.assert_allclose(ax.images[0].get_array(), W[:, j].reshape(side, side))
    rendered(fig, tmp_path / "weights.png", size=None)
    with pytest.raises(ValueError, match="square"):
        plot.plot_weights(np.zeros((10, 3)))


# ---------------------------------------------------------------- the course's functions


@needs_matplotlib
def test_activations_are_the_engines_and_match_their_formulas(tmp_path):
    fig = plot.plot_activations(figsize=(10, 2.5))
    z = fig.z
    sigmoid = 1 / (1 + np.exp(-z))
    hard = np.clip((z + 1) / 2, 0, 1)
    expected = {
        "relu": (np.maximum(z, 0), (z > 0) * 1.0),
        "sigmoid": (sigmoid, sigmoid * (1 - sigmoid)),
        "hard_sigmoid": (hard, np.where(np.abs(z) < 1, 0.5, 0.0)),
        "tanh": (np.tanh(z), 1 - np.tanh(z) ** 2),
        "step": ((z >= 0) * 1.0, np.zeros_like(z)),
    }
    assert [ax.get_title() for ax in fig.axes] == list(expected)
    for ax, (name, (g, dg)) in zip(fig.axes, expected.items()):
        curve, slope = [l for l in ax.get_lines() if l.get_label() in ("g(z)", "g′(z)")]
        np.testing.assert_allclose(curve.get_ydata(), g, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(slope.get_ydata(), dg, atol=1e-12, err_msg=name)
    rendered(fig, tmp_path / "activations.png", size=(500, 125))


@needs_matplotlib
def test_learning_rates_small_good_oscillating_divergent(tmp_path):
    fig = plot.plot_learning_rates(theta0=2.0, steps=10)
    paths = fig.paths
    for rate, thetas in paths.items():          # on L = θ², θ_i = θ₀·(1 − 2γ)^i
        np.testing.assert_allclose(thetas, 2.0 * (1 - 2 * rate) ** np.arange(11))
    slow, good, oscillating, divergent = paths.values()
    assert np.all(np.diff(slow) < 0) and slow[-1] > 0.5                   # too small: still far
    assert abs(good[-1]) < 1e-3                                          # good: there
    assert np.all(oscillating[1::2] < 0) and abs(oscillating[-1]) < abs(oscillating[0])
    assert abs(divergent[-1]) > abs(divergent[0])
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == [f"γ = {r:g}" for r in paths]
    rendered(fig, tmp_path / "rates.png")

    custom = plot.plot_learning_rates([0.1], loss=lambda t: t ** 4, gradient=lambda t: 4 * t ** 3, steps=3)
    assert custom.paths[0.1][1] == pytest.approx(2.0 - 0.1 * 32)
    with pytest.raises(ValueError, match="both"):
        plot.plot_learning_rates(loss=lambda t: t)


# ---------------------------------------------------------------- fastnn train --plots


@needs_matplotlib
def test_cli_writes_the_pictures_of_a_two_feature_iris_run(tmp_path, capsys):
    out = tmp_path / "pictures"
    assert main(["train", "iris", "--features", "petal_length", "petal_width", "--epochs", "20", "--seed", "0",
                 "--verbose", "0", "--plots", str(out)]) == 0
    assert "Total params: 135" in capsys.readouterr().out            # 2-12-6-3
    names = sorted(p.name for p in out.iterdir())
    assert names == ["confusion_matrix.png", "decision_boundary.png", "learning_curves.png"]
    for name in names:
        pixels = imread(out / name)
        assert pixels.shape[0] > 100 and pixels[..., :3].var() > MIN_VARIANCE


@needs_matplotlib
def test_cli_writes_the_misclassified_digits(tmp_path, capsys):
    out = tmp_path / "digits"
    assert main(["train", "digits", "--epochs", "1", "--hidden", "16", "--verbose", "0", "--plots", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["confusion_matrix.png", "learning_curves.png", "misclassified.png"]
    assert all(imread(out / name)[..., :3].var() > MIN_VARIANCE for name in names)


def test_cli_features_only_for_iris(capsys):
    assert main(["train", "digits", "--features", "petal_length", "--verbose", "0"]) == 1
    assert "--features" in capsys.readouterr().err


@needs_matplotlib
def test_make_figures_writes_where_it_is_told_and_never_into_docs(tmp_path):
    """examples/make_figures.py: the folder comes from its command line; by default figures/ under
    the current folder, so a run never overwrites the tracked pictures in docs/images/."""
    import subprocess
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "examples" / "make_figures.py"
    if not script.is_file():
        pytest.skip("no examples/ beside the tests")
    tracked = {p.name: p.stat().st_mtime_ns for p in (script.parents[1] / "docs" / "images").glob("*.png")}
    run = lambda *args: subprocess.run([sys.executable, str(script), "--skip-mnist", *args], cwd=tmp_path,
                                       capture_output=True, text=True, timeout=300)
    result = run()
    assert result.returncode == 0, result.stderr
    expected = {"iris_boundaries.png", "activations.png", "learning_rates.png"}
    assert {p.name for p in (tmp_path / "figures").iterdir()} == expected
    result = run("--out", str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "elsewhere").iterdir()} == expected
    assert {p.name: p.stat().st_mtime_ns for p in (script.parents[1] / "docs" / "images").glob("*.png")} == tracked
