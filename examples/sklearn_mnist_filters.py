"""scikit-learn's example "Visualization of MLP weights on MNIST" (examples/neural_networks/
plot_mnist_filters.py, BSD-3-Clause), run with fastnn's drop-in: only the import of
MLPClassifier is changed. Two other lines differ, because this machine has no network: MNIST's
70,000 images come from fastnn.datasets.load_mnist ($FASTNN_DATA) in OpenML's order (training
images, then test images) instead of fetch_openml, and the figure is also saved to
mnist_filters.png (or $FIGURE).

    FASTNN_DATA=/path/to/data python examples/sklearn_mnist_filters.py
"""
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np

from fastnn.datasets import load_mnist
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

# from sklearn.neural_network import MLPClassifier
from fastnn.sklearn import MLPClassifier

# Load data (fetch_openml("mnist_784", version=1, return_X_y=True, as_frame=False) in the original)
(x_train, y_train), (x_test, y_test) = load_mnist(download=False)
X = np.concatenate([x_train, x_test]).reshape(70000, 784).astype(np.float64)
y = np.concatenate([y_train, y_test]).astype(str)
X = X / 255.0

# Split data into train partition and test partition
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, test_size=0.7)

mlp = MLPClassifier(
    hidden_layer_sizes=(40,),
    max_iter=8,
    alpha=1e-4,
    solver="sgd",
    verbose=10,
    random_state=1,
    learning_rate_init=0.2,
)

# this example won't converge because of resource usage constraints on
# our Continuous Integration infrastructure, so we catch the warning and
# ignore it here
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
    mlp.fit(X_train, y_train)

print("Training set score: %f" % mlp.score(X_train, y_train))
print("Test set score: %f" % mlp.score(X_test, y_test))

fig, axes = plt.subplots(4, 4)
# use global min / max to ensure all weights are shown on the same scale
vmin, vmax = mlp.coefs_[0].min(), mlp.coefs_[0].max()
for coef, ax in zip(mlp.coefs_[0].T, axes.ravel()):
    ax.matshow(coef.reshape(28, 28), cmap=plt.cm.gray, vmin=0.5 * vmin, vmax=0.5 * vmax)
    ax.set_xticks(())
    ax.set_yticks(())

plt.savefig(os.environ.get("FIGURE", "mnist_filters.png"))
plt.show()
