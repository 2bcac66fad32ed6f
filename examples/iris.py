"""The 3-class Iris network of the course: 4 measurements → 12 relu → 6 relu → 3 softmax.

Runs offline (scikit-learn ships Iris) in about a second:  python examples/iris.py
"""
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from fastnn import Sequential
from fastnn.layers import Dense
from fastnn.optimizers import SGD
from fastnn.utils import to_categorical

x, y = load_iris(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
mean, std = x_train.mean(axis=0), x_train.std(axis=0)          # standardise with training statistics
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

model = Sequential(seed=0)
model.add(Dense(12, activation="relu", input_shape=(4,)))
model.add(Dense(6, activation="relu"))
model.add(Dense(3, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
model.summary()
history = model.fit(x_train, to_categorical(y_train, 3), batch_size=10, epochs=40,
                    validation_data=(x_test, to_categorical(y_test, 3)), verbose=0)
loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 3))
print(f"after {len(history.epoch)} epochs: training loss {history.history['loss'][-1]:.4f}, "
      f"held-out accuracy {accuracy:.3f} on {len(x_test)} flowers")
print("predicted:", np.argmax(model.predict(x_test[:10]), axis=1), "true:", y_test[:10])
