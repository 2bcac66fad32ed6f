"""Shared fixtures of fastnn's tests: dtypes, backends, the tolerance table, hypothesis strategies.

The test modules are imported with ``--import-mode=importlib``, so they cannot
``import conftest``: everything shared is handed to them as a fixture.
"""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn.backend import BACKENDS, get_backend
from fastnn.testing import central_difference

# The one tolerance table: a norm-wise relative error, max|actual - expected| / max(1, max|expected|).
TOLERANCES = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    """Both float dtypes the kernels support."""
    return request.param


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend module ("compiled", "numpy"); they share function names and signatures."""
    return get_backend(request.param)


def _tolerance(dtype):
    return TOLERANCES[np.dtype(dtype).type]


@pytest.fixture
def tol(dtype):
    """The tolerance of the current ``dtype``."""
    return _tolerance(dtype)


def assert_close(actual, expected, dtype, err_msg=""):
    """max|actual - expected| <= tol(dtype) · max(1, max|expected|); NaN/inf must sit in the same places."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{err_msg}: shape {actual.shape} != {expected.shape}"
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite, err_msg=f"{err_msg}: non-finite entries differ")
    np.testing.assert_array_equal(actual[~finite], expected[~finite], err_msg=err_msg)
    if finite.any():
        error = np.max(np.abs(actual[finite] - expected[finite]))
        scale = max(1.0, np.max(np.abs(expected[finite])))
        assert error <= _tolerance(dtype) * scale, (
            f"{err_msg}: max abs error {error:.3g} exceeds {_tolerance(dtype):g} x {scale:.3g} "
            f"({np.dtype(dtype).name})")


@pytest.fixture(scope="session")
def close():
    """``close(actual, expected, dtype, err_msg="")`` asserts agreement within the tolerance table."""
    return assert_close


def relative_error(g, g_fd, tiny=1e-300):
    """max|g − g_fd| / max(max|g_fd|, tiny): the gradient check's error measure."""
    g, g_fd = np.asarray(g, np.float64), np.asarray(g_fd, np.float64)
    return np.max(np.abs(g - g_fd), initial=0.0) / max(np.max(np.abs(g_fd), initial=0.0), tiny)


# the library's own central difference (fastnn.testing), which students use too


@pytest.fixture(scope="session")
def gradcheck():
    """Central differences and the relative error measure, for the float64 gradient checks."""
    return SimpleNamespace(central_difference=central_difference, relative_error=relative_error)


# ---------------------------------------------------------------- hypothesis strategies

FLOAT_DTYPES = (np.float32, np.float64)
FUZZ_DTYPES = (np.float32, np.float64, np.int64, np.float16)   # the last two must be refused
LAYOUTS = ("C", "F", "strided")


def values(dtype, low=-4.0, high=4.0):
    """Finite values representable in ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return st.floats(low, high, width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
    return st.integers(int(low), int(high))


@st.composite
def laid_out(draw, shape, dtype, layout=None, elements=None):
    """An array of ``shape`` and ``dtype`` in a C, Fortran or strided (every other column) layout."""
    layout = draw(st.sampled_from(LAYOUTS)) if layout is None else layout
    elements = values(dtype) if elements is None else elements
    shape = tuple(shape)
    if layout == "strided" and len(shape) >= 1:
        wide = shape[:-1] + (2 * shape[-1],)
        return draw(hnp.arrays(dtype, wide, elements=elements))[..., ::2]
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    return np.array(a, order="F" if layout == "F" else "C")    # (np.ascontiguousarray would make 0-d 1-d)


def dims(min_value=0, max_value=9):
    return st.integers(min_value, max_value)


@pytest.fixture(scope="session")
def strategies():
    """Hypothesis strategies, drawn inside ``@given(data=st.data())`` tests."""
    return SimpleNamespace(values=values, laid_out=laid_out, dims=dims, float_dtypes=st.sampled_from(FLOAT_DTYPES),
                           fuzz_dtypes=st.sampled_from(FUZZ_DTYPES), layouts=st.sampled_from(LAYOUTS))


@pytest.fixture(scope="session")
def mnist_flat():
    """Real MNIST as (x, y, x_test, y_test), images flattened to 784 float32 values in [0, 1];
    skips without the data, fails without it under FASTNN_REQUIRE_DATA=1 (as in CI)."""
    import os
    from fastnn.datasets import DatasetNotFoundError, load_mnist
    try:
        (x, y), (xt, yt) = load_mnist(download=False)
    except DatasetNotFoundError as exc:
        if os.environ.get("FASTNN_REQUIRE_DATA") == "1":
            pytest.fail(f"FASTNN_REQUIRE_DATA=1 but MNIST is missing: {exc}")
        pytest.skip("real MNIST not found: set FASTNN_DATA to the folder holding mnist/")
    return (x.reshape(len(x), -1).astype(np.float32) / 255, y,
            xt.reshape(len(xt), -1).astype(np.float32) / 255, yt)
