"""Backends: the compiled kernels (default) and the readable NumPy reference.

Both modules expose the same functions with the same signatures; the model
layer calls them through :func:`get_backend`, so the two cannot drift apart.
"""
BACKENDS = ("compiled", "numpy")


def get_backend(name="compiled"):
    """The backend module called ``name`` ("compiled" or "numpy")."""
    if name == "compiled":
        from fastnn.backend import compiled_backend
        return compiled_backend
    if name == "numpy":
        from fastnn.backend import numpy_backend
        return numpy_backend
    raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
