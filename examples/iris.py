"""The 3-class Iris network: 4 measurements → 12 relu → 6 relu → 3 softmax, with a held-out test set.

Runs offline (scikit-learn ships Iris) in about a second:  python examples/iris.py
"""
import numpy as np
from sklearn.model_selection import train_test_split

from fastnn import Sequential
from fastnn.datasets import load_iris
from fastnn.layers import Dense
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical


def run(seed=0, epochs=40, verbose=0):
    x, y = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)      # standardise with training statistics
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = Sequential(seed=seed)
    model.add(Dense(12, activation="relu", input_shape=(4,)))
    model.add(Dense(6, activation="relu"))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x_train, to_categorical(y_train, 3), batch_size=10, epochs=epochs,
                        validation_data=(x_test, to_categorical(y_test, 3)), verbose=verbose)
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 3))
    predicted = np.argmax(model.predict(x_test), axis=1)
    return {"model": model, "test_accuracy": accuracy, "test_loss": loss, "n_test": len(y_test),
            "history": history.history, "predicted": predicted, "true": y_test}


if __name__ == "__main__":
    result = run()
    result["model"].summary()
    print(f"after {len(result['history']['loss'])} epochs: training loss {result['history']['loss'][-1]:.4f}, "
          f"held-out accuracy {result['test_accuracy']:.3f} on {result['n_test']} flowers")
    print("predicted:", result["predicted"][:10], "true:", result["true"][:10])
