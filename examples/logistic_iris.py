"""Logistic regression and the course's "rigid" logistic regression on Iris setosa vs versicolor.

One unit, h = g(w·x + b), with g the sigmoid 1/(1 + e^−z) or the hard sigmoid
max(0, min(1, (z + 1)/2)), trained with SGD on binary cross-entropy, on two measurements (sepal and petal length):
python examples/logistic_iris.py

The hard sigmoid is flat outside −1 < z < 1, so a sample pushed there stops
contributing any gradient: with steps that are too large (say lr=0.1 here) the
rigid model can saturate on the wrong side and stop learning. A modest rate
avoids it; the smooth sigmoid never has a zero gradient.
"""
from _common import iris_pair

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD

FEATURES = ("sepal_length", "petal_length")      # standardised


def run(activation="sigmoid", seed=0, epochs=60):
    x, y = iris_pair("setosa", "versicolor", FEATURES)
    model = Sequential([Dense(1, activation=activation, input_shape=(2,))], seed=seed)
    model.compile(loss="binary_crossentropy", optimizer=SGD(lr=0.02, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=10, epochs=epochs, verbose=0)
    loss, accuracy = model.evaluate(x, y)
    W, b = model.get_weights()
    return {"train_accuracy": accuracy, "loss": loss, "w": W[:, 0].tolist(), "b": float(b[0]),
            "history": history.history}


if __name__ == "__main__":
    for activation in ("sigmoid", "hard_sigmoid"):
        result = run(activation)
        print(f"{activation:>12}: training accuracy {result['train_accuracy']:.1%}, loss {result['loss']:.4f}, "
              f"boundary w·x + b = 0 with w = {[round(v, 2) for v in result['w']]}, b = {result['b']:.2f}")
