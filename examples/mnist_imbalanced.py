"""Imbalanced classes: MNIST where one digit keeps only 2% of its training examples.

Three ways of training the same 784-64-64-10 network, compared by the recall of
each digit on the (balanced) test set:
  * plain categorical cross-entropy      E = −log ŷ_c
  * balanced cross-entropy               E = −α_c log ŷ_c,  α_i = n / (k·n_i)   (class_weight="balanced")
  * α-balanced focal cross-entropy       E = −α_c (1 − ŷ_c)^γ log ŷ_c, γ = 2, the same α

    python examples/mnist_imbalanced.py [--minority 9] [--seed N] [--epochs 3]
"""
import argparse

import numpy as np
from _common import mnist_flat

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.losses import CategoricalFocalCrossentropy
from fastnn.optimizers import SGD
from fastnn.utils import compute_class_weight, to_categorical


def imbalanced_subset(x, y, minority, keep_fraction, rng):
    """All samples of the other classes and keep_fraction of the minority's."""
    others = np.flatnonzero(y != minority)
    few = rng.choice(np.flatnonzero(y == minority), int(keep_fraction * np.sum(y == minority)), replace=False)
    keep = rng.permutation(np.concatenate([others, few]))
    return x[keep], y[keep]


def per_class_recall(model, x, y):
    predicted = np.argmax(model.predict(x), axis=1)
    return np.array([np.mean(predicted[y == c] == c) for c in range(10)])


def run(minority=9, seed=0, epochs=3, keep_fraction=0.02, data=None):
    x_train, y_train, x_test, y_test = mnist_flat(data)
    rng = np.random.default_rng(seed)
    x, y = imbalanced_subset(x_train, y_train, minority, keep_fraction, rng)
    alpha = compute_class_weight("balanced", classes=np.arange(10), y=y)
    setups = {
        "cross-entropy": ("categorical_crossentropy", None),
        "balanced cross-entropy": ("categorical_crossentropy", "balanced"),
        "focal (γ=2, α balanced)": (CategoricalFocalCrossentropy(gamma=2.0, alpha=list(alpha)), None),
    }
    results = {}
    for name, (loss, class_weight) in setups.items():
        model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(64, activation="relu"),
                            Dense(10, activation="softmax")], seed=seed)
        model.compile(loss=loss, optimizer=SGD(lr=0.01, momentum=0.9), metrics=["accuracy"])
        model.fit(x, to_categorical(y, 10), batch_size=100, epochs=epochs, class_weight=class_weight,
                  verbose=0, seed=seed)
        recall = per_class_recall(model, x_test, y_test)
        results[name] = {"recall": recall, "accuracy": float(np.mean(np.argmax(model.predict(x_test), 1) == y_test))}
    return {"minority": minority, "n_minority": int(np.sum(y == minority)), "n_train": len(y),
            "alpha": alpha, "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minority", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    out = run(args.minority, args.seed, args.epochs)
    print(f"digit {out['minority']} keeps {out['n_minority']} of its examples ({out['n_train']:,} in all); "
          f"α_{out['minority']} = {out['alpha'][out['minority']]:.2f}, others ≈ {np.median(out['alpha']):.2f}")
    print(f"{'recall per digit':<26}" + "".join(f"{d:>6}" for d in range(10)) + "  accuracy")
    for name, r in out["results"].items():
        print(f"{name:<26}" + "".join(f"{v:6.2f}" for v in r["recall"]) + f"  {r['accuracy']:.4f}")
