"""The compiled backend: the same functions as ``numpy_backend``, run by the
Cython/C kernels in ``fastnn._kernels`` with BLAS for every product.

Entry points check their arguments (dtype, contiguity, shapes, overlaps) and
raise ``TypeError``/``ValueError`` naming the argument before any pointer is used.
"""
from fastnn._kernels._blas import matmul
from fastnn._kernels.activations import activation_backward, activation_derivative, activation_forward, dropout
from fastnn._kernels.dense import dense_backward, dense_forward
from fastnn._kernels.losses import (binary_cross_entropy, focal_cross_entropy, huber, mean_absolute_error,
                                    mean_squared_error, sigmoid_binary_cross_entropy, softmax_cross_entropy)
from fastnn._kernels.optim import optimizer_step, sgd_update
from fastnn._kernels.train import (ACCURACY_KINDS, COUNTER_KINDS, LOSS_KINDS, Trainer, count_metrics, forward,
                                   gemm_floor)

name = "compiled"

__all__ = ["matmul", "dense_forward", "dense_backward", "activation_forward", "activation_derivative",
           "activation_backward", "dropout", "softmax_cross_entropy", "focal_cross_entropy",
           "sigmoid_binary_cross_entropy", "binary_cross_entropy", "mean_squared_error", "mean_absolute_error",
           "huber", "sgd_update", "optimizer_step",
           "Trainer", "forward", "count_metrics", "LOSS_KINDS", "ACCURACY_KINDS", "COUNTER_KINDS", "gemm_floor"]
