"""Rosenblatt's perceptron on Iris setosa vs versicolor (the course's first model).

h = step(w·x + b); on every mistake w ← w + γ·(y − h)·x. The two classes are
linearly separable (here in sepal length and petal length, in cm), so the rule
stops making mistakes:  python examples/perceptron_iris.py
"""
from _common import iris_pair

from fastnn import Perceptron

FEATURES = ("sepal_length", "petal_length")


def run(seed=0):
    x, y = iris_pair("setosa", "versicolor", FEATURES, standardise=False)
    perceptron = Perceptron(learning_rate=0.1, seed=seed).fit(x, y)
    return {"train_accuracy": perceptron.score(x, y), "epochs": len(perceptron.errors_),
            "mistakes_per_epoch": perceptron.errors_, "w": perceptron.w.tolist(), "b": perceptron.b}


if __name__ == "__main__":
    result = run()
    print(f"mistakes per epoch: {result['mistakes_per_epoch']}")
    print(f"training accuracy {result['train_accuracy']:.0%} after {result['epochs']} epochs; "
          f"w = {[round(v, 3) for v in result['w']]}, b = {result['b']:.3f}")
