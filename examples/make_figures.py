"""The pictures of the README, drawn with fastnn.plot into a folder of your choice:

    python examples/make_figures.py [--out figures] [--epochs 10] [--seed 0] [--skip-mnist]

The default folder is figures/ under the current folder, never docs/images/: the pictures
there are tracked, and a run with another seed or library version would change them.
To renew them on purpose, pass --out docs/images.

    iris_boundaries.png        perceptron, logistic regression and rigid logistic regression on
                               setosa vs versicolor (the models of perceptron_iris.py and logistic_iris.py)
    mnist_learning_curves.png  the course's MNIST script (mnist_course.py): loss and accuracy per epoch
    mnist_misclassified.png    the first 36 test digits that network gets wrong
    mnist_confusion.png        its confusion matrix, with precision and recall per digit
    mnist_weights.png          the weights into its first 32 units, as 28 × 28 images
    activations.png            relu, sigmoid, hard sigmoid, tanh and step, with their derivatives
    learning_rates.png         gradient descent on L(θ) = θ² for four learning rates γ

Needs matplotlib (pip install .[plot]); MNIST is read from $FASTNN_DATA/mnist or the cache
(downloaded there if missing). About half a minute on a laptop.
"""
import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import logistic_iris
import perceptron_iris
from _common import iris_pair, mnist_flat

from fastnn import Perceptron, Sequential, plot
from fastnn.layers import Dense
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical

DPI = 80
DEFAULT_OUT = Path("figures")          # under the current folder; docs/images/ only when asked for


def save(fig, path):
    fig.savefig(path, dpi=DPI)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


def iris_boundaries(out, seed):
    """The three linear models of the course on setosa vs versicolor, in centimetres."""
    x, y = iris_pair("setosa", "versicolor", perceptron_iris.FEATURES, standardise=False)
    mean, std = x.mean(axis=0), x.std(axis=0)
    standardise = lambda points: (points - mean) / std          # what logistic_iris.py's models saw

    fitted = perceptron_iris.run(seed)
    perceptron = Perceptron()
    perceptron.w, perceptron.b = np.array(fitted["w"]), fitted["b"]
    panels = [(perceptron, None, f"perceptron ({fitted['epochs']} epochs)")]
    for activation, name in (("sigmoid", "logistic regression"), ("hard_sigmoid", "rigid logistic regression")):
        fitted = logistic_iris.run(activation, seed=seed)
        model = Sequential([Dense(1, activation=activation, input_shape=(2,))])
        model.build()
        model.set_weights([np.array(fitted["w"])[:, None], np.array([fitted["b"]])])
        panels.append((model, standardise, f"{name} ({activation})"))

    fig = Figure(figsize=(13.5, 4.0), layout="constrained")
    for ax, (model, transform, title) in zip(fig.subplots(1, 3), panels):
        plot.plot_decision_boundary(model, x, y, class_names=["setosa", "versicolor"], transform=transform,
                                    feature_names=["sepal length (cm)", "petal length (cm)"], ax=ax, title=title)
    save(fig, out / "iris_boundaries.png")


def course_mnist(seed, epochs):
    """The course's MNIST script, as in mnist_course.py: (model, history, x_val, y_test)."""
    x_train, y_train, x_val, y_test = mnist_flat()
    model = Sequential(seed=seed)
    model.add(Dense(64, activation='relu', input_shape=(784,)))
    model.add(Dense(64, activation='relu'))
    model.add(Dense(64, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer=SGD(lr=0.01, decay=1e-6, momentum=0.9),
                  metrics=['accuracy'])
    history = model.fit(x_train, to_categorical(y_train, 10), batch_size=100, epochs=epochs,
                        validation_data=(x_val, to_categorical(y_test, 10)), verbose=1)
    return model, history, x_val, y_test


def mnist_figures(out, seed, epochs):
    model, history, x_val, y_test = course_mnist(seed, epochs)
    save(plot.plot_history(history, figsize=(8.0, 3.0),
                           title="the course's MNIST network: 784-64-64-64-10, SGD(lr=0.01, decay=1e-6, momentum=0.9)"),
         out / "mnist_learning_curves.png")
    save(plot.plot_misclassified(model, x_val, y_test, max_images=36), out / "mnist_misclassified.png")
    save(plot.plot_confusion_matrix(model, x_val, y_test), out / "mnist_confusion.png")
    save(plot.plot_weights(model.layers[0], max_units=32, ncols=8, figsize=(6.4, 3.6)), out / "mnist_weights.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for the PNG files (default: figures/ under the current folder; "
                             "--out docs/images renews the README's pictures)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-mnist", action="store_true", help="only the pictures that need no MNIST")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    iris_boundaries(args.out, args.seed)
    save(plot.plot_activations(), args.out / "activations.png")
    save(plot.plot_learning_rates(), args.out / "learning_rates.png")
    if not args.skip_mnist:
        mnist_figures(args.out, args.seed, args.epochs)


if __name__ == "__main__":
    main()
