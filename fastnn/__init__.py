"""fastnn: a teaching-grade neural-network engine with a compiled core.

The course's vocabulary, the Keras workflow:

>>> from fastnn import Sequential
>>> from fastnn.layers import Dense
>>> from fastnn.optimizers import SGD
>>> model = Sequential([Dense(12, activation="relu", input_shape=(4,)),
...                     Dense(3, activation="softmax")])
>>> model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9),
...               metrics=["accuracy"])
"""
# ---- Started in a clone's root, Python finds this source folder first: if its compiled kernels
# ---- are not built, say so and give the two ways out (not a bare ImportError on '_blas').
from fastnn._build_check import check_compiled_kernels as _check_compiled_kernels

_check_compiled_kernels()
del _check_compiled_kernels
# ---- end of the source-folder check

from fastnn import activations, callbacks, initializers, layers, losses, metrics, optimizers, utils
from fastnn._config import show_config
from fastnn.io import load_model
from fastnn.layers import Activation, Dense, Input
from fastnn.models import Perceptron, Sequential
from fastnn.testing import gradcheck

__version__ = "0.1.0"

__all__ = ["Sequential", "Dense", "Activation", "Input", "Perceptron", "load_model", "gradcheck", "show_config",
           "activations", "callbacks", "initializers", "layers", "losses", "metrics", "optimizers", "utils"]
