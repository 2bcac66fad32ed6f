"""The course's 12 + 6 + 1 network (relu, relu, sigmoid; binary cross-entropy) on the harder
Iris pair, versicolor vs virginica, with a held-out test set:  python examples/iris_binary.py
"""
from sklearn.model_selection import train_test_split
from _common import iris_pair

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD


def run(seed=0, epochs=100):
    x, y = iris_pair("versicolor", "virginica")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    model = Sequential(seed=seed)
    model.add(Dense(12, activation="relu", input_shape=(4,)))
    model.add(Dense(6, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=10, epochs=epochs, verbose=0)
    _, train_accuracy = model.evaluate(x_train, y_train)
    _, test_accuracy = model.evaluate(x_test, y_test)
    return {"train_accuracy": train_accuracy, "test_accuracy": test_accuracy, "n_test": len(y_test),
            "params": model.count_params(), "history": history.history}


if __name__ == "__main__":
    result = run()
    print(f"12+6+1 network ({result['params']} parameters), versicolor vs virginica: training accuracy "
          f"{result['train_accuracy']:.1%}, held-out accuracy {result['test_accuracy']:.1%} "
          f"on {result['n_test']} flowers")
