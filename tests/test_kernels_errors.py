"""Error paths of the compiled kernels, and a hypothesis fuzz of every entry point.

Nothing invalid may reach a C pointer. A wrong dtype (int, float16, a float32/float64
mix) or a non-array is a TypeError; a non-contiguous array, a wrong shape, an
out-of-range label, a read-only output, an output overlapping an input, an unknown
activation is a ValueError; and each message names the argument at fault.

The fuzz draws random shapes (0-sized included), dtypes and layouts for every
entry point: a call on valid arguments must give the NumPy reference's answer,
a call on invalid ones must raise TypeError or ValueError and leave every array
as it was, and the interpreter must never crash.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from fastnn.backend import compiled_backend as cb
from fastnn.backend import numpy_backend as nb

# ---------------------------------------------------------------- one valid call per entry point
# name: (arguments of a valid call in signature order, outputs, first-checked array)
# The first-checked array sets the call's dtype and reference shapes: when it is the odd one
# out, the message names the array it disagrees with instead.


def valid_call(name, dtype=np.float64):
    rng = np.random.default_rng(0)

    def r(*shape, low=-2.0, high=2.0):
        return rng.uniform(low, high, shape).astype(dtype)

    n, i, o = 3, 4, 5
    calls = {
        "matmul": (dict(A=r(n, i), B=r(i, o), C=r(n, o)), ["C"], "A"),
        "dense_forward": (dict(X=r(n, i), W=r(i, o), b=r(o), Z=r(n, o)), ["Z"], "X"),
        "dense_backward": (dict(X=r(n, i), W=r(i, o), delta=r(n, o), dW=r(i, o), db=r(o), dX=r(n, i)),
                           ["dW", "db", "dX"], "X"),
        "activation_forward": (dict(name="tanh", Z=r(n, o), A=r(n, o)), ["A"], "Z"),
        "activation_derivative": (dict(name="tanh", Z=r(n, o), A=r(n, o), out=r(n, o)), ["out"], "Z"),
        "activation_backward": (dict(name="tanh", Z=r(n, o), A=r(n, o), dA=r(n, o), delta=r(n, o)),
                                ["delta"], "Z"),
        "softmax_cross_entropy": (dict(Z=r(n, o), y=r(n, o, low=0, high=1), P=r(n, o), delta=r(n, o),
                                       sample_weight=r(n, low=0, high=1)), ["P", "delta"], "Z"),
        "focal_cross_entropy": (dict(Z=r(n, o), y=r(n, o, low=0, high=1), P=r(n, o), delta=r(n, o),
                                     sample_weight=r(n, low=0, high=1), gamma=2.0, alpha=0.25),
                                ["P", "delta"], "Z"),
        "sigmoid_binary_cross_entropy": (dict(Z=r(n, o), y=r(n, o, low=0, high=1), A=r(n, o), delta=r(n, o),
                                              sample_weight=r(n, low=0, high=1)), ["A", "delta"], "Z"),
        "binary_cross_entropy": (dict(A=r(n, o, low=0, high=1), y=r(n, o, low=0, high=1), dA=r(n, o),
                                      sample_weight=r(n, low=0, high=1)), ["dA"], "A"),
        "mean_squared_error": (dict(A=r(n, o), y=r(n, o), dA=r(n, o), sample_weight=r(n, low=0, high=1)),
                               ["dA"], "A"),
        "mean_absolute_error": (dict(A=r(n, o), y=r(n, o), dA=r(n, o), sample_weight=r(n, low=0, high=1)),
                                ["dA"], "A"),
        "huber": (dict(A=r(n, o), y=r(n, o), dA=r(n, o), sample_weight=r(n, low=0, high=1), delta=0.5), ["dA"], "A"),
        "sgd_update": (dict(w=r(n, o), g=r(n, o), v=r(n, o), learning_rate=0.1, momentum=0.9), ["w", "v"], "w"),
        "dropout": (dict(X=r(n, o), D=r(n, o), rate=0.5, seed=1, iteration=3), ["D"], "X"),
    }
    return calls[name]


ENTRY_POINTS = ["matmul", "dense_forward", "dense_backward", "activation_forward", "activation_derivative",
                "activation_backward", "softmax_cross_entropy", "focal_cross_entropy",
                "sigmoid_binary_cross_entropy", "binary_cross_entropy", "mean_squared_error", "mean_absolute_error",
                "huber", "sgd_update", "dropout"]
ARRAY_ARGS = [(entry, arg) for entry in ENTRY_POINTS for arg, value in valid_call(entry)[0].items()
              if isinstance(value, np.ndarray)]
OUTPUT_ARGS = [(entry, arg) for entry in ENTRY_POINTS for arg in valid_call(entry)[1]]


def names_the_argument(arg):
    """A message that starts with the argument's name (as "W has shape ...") or names it later."""
    return rf"(^|\W){arg}(\W|$)"


def test_every_entry_point_is_covered():
    # Trainer is tested in test_trainer.py; forward (lists of arrays) and gemm_floor (the BLAS-only
    # epoch for benchmarks) have their own tests below; optimizer_step (a rule and a list of state
    # arrays) has its error tests in test_optimizers.py, count_metrics (a list of counters) in
    # test_metrics.py
    assert set(ENTRY_POINTS) | {"forward"} == {n for n in cb.__all__ if callable(getattr(cb, n))} - {
        "Trainer", "gemm_floor", "optimizer_step", "count_metrics"}


@pytest.mark.parametrize("args, error", [
    (([5], 1, 1), ValueError), (([3, 2], 0, 1), ValueError), (([3, 2], 1, 0), ValueError),
    (([3, 0], 1, 1), ValueError), (([3, -2], 1, 1), ValueError), (([3, 2], 1, 1, np.int64), TypeError),
    (([3, 2], 1, 1, np.float16), TypeError),
])
def test_gemm_floor_arguments(args, error):
    with pytest.raises(error):
        cb.gemm_floor(*args)
    cb.gemm_floor([3, 2], 2, 5)                 # a last partial batch, no error


def test_core_round_trip():
    """Two threads take turns writing one value: each turn costs at least a few nanoseconds
    (two cores: a cache line's trip; one: a switch between the threads), and it ends."""
    from fastnn._kernels.train import core_round_trip_ns
    assert 5 < core_round_trip_ns(2000) < 1e7
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        core_round_trip_ns(0)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("dtype_", [np.float32, np.float64])
def test_the_valid_calls_are_valid(entry, dtype_):
    kwargs, _, _ = valid_call(entry, dtype_)
    getattr(cb, entry)(**kwargs)


@pytest.mark.parametrize("entry, arg", ARRAY_ARGS)
@pytest.mark.parametrize("bad", [np.int64, np.float16, np.int32])
def test_wrong_dtype_is_a_type_error(entry, arg, bad):
    kwargs, _, _ = valid_call(entry)
    kwargs[arg] = kwargs[arg].astype(bad)
    with pytest.raises(TypeError, match=names_the_argument(arg)):
        getattr(cb, entry)(**kwargs)


@pytest.mark.parametrize("entry, arg", ARRAY_ARGS)
@pytest.mark.parametrize("dtype_", [np.float32, np.float64])
def test_mixed_float_dtypes_are_a_type_error(entry, arg, dtype_):
    kwargs, _, first = valid_call(entry, dtype_)
    other = np.float64 if dtype_ == np.float32 else np.float32
    kwargs[arg] = kwargs[arg].astype(other)
    blamed = arg if arg != first else r"\w+"      # the first array disagrees with all the others
    with pytest.raises(TypeError, match=rf"{names_the_argument(blamed)}.*dtype"):
        getattr(cb, entry)(**kwargs)


@pytest.mark.parametrize("entry, arg", ARRAY_ARGS)
def test_a_list_is_a_type_error(entry, arg):
    kwargs, _, _ = valid_call(entry)
    kwargs[arg] = kwargs[arg].tolist()
    with pytest.raises(TypeError, match=names_the_argument(arg)):
        getattr(cb, entry)(**kwargs)


# a 1-D array is both C- and Fortran-contiguous: only the 2-D ones can be in Fortran order
NON_CONTIGUOUS = [(entry, arg, layout) for entry, arg in ARRAY_ARGS for layout in ("every-other-column", "fortran")
                  if layout != "fortran" or valid_call(entry)[0][arg].ndim == 2]


@pytest.mark.parametrize("entry, arg, layout", NON_CONTIGUOUS)
def test_non_contiguous_is_a_value_error(entry, arg, layout):
    kwargs, _, _ = valid_call(entry)
    a = kwargs[arg]
    if layout == "fortran":
        bad = np.asfortranarray(a)
    else:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        bad = wide[..., ::2]
        bad[...] = a
    assert not bad.flags.c_contiguous
    kwargs[arg] = bad
    with pytest.raises(ValueError, match=rf"{names_the_argument(arg)}.*contiguous"):
        getattr(cb, entry)(**kwargs)


# the axes of each array argument: b sample, i input, o output/unit/class; sgd_update's arrays share one shape
AXES = {
    "matmul": dict(A="mk", B="kn", C="mn"),
    "dense_forward": dict(X="bi", W="io", b="o", Z="bo"),
    "dense_backward": dict(X="bi", W="io", delta="bo", dW="io", db="o", dX="bi"),
    "sgd_update": dict(w="xy", g="xy", v="xy"),
    "dropout": dict(X="bo", D="bo"),
    **{entry: dict(Z="bo", A="bo", dA="bo", delta="bo", out="bo")
       for entry in ("activation_forward", "activation_derivative", "activation_backward")},
    **{entry: dict(Z="bo", y="bo", P="bo", A="bo", dA="bo", delta="bo", sample_weight="b")
       for entry in ("softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
                     "binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber")},
}


@pytest.mark.parametrize("entry, arg", ARRAY_ARGS)
@pytest.mark.parametrize("change", ["longer", "shorter", "extra-axis"])
def test_wrong_shape_is_a_value_error(entry, arg, change):
    """The message names the misshapen array, or an array it disagrees with along the changed axis."""
    kwargs, _, _ = valid_call(entry)
    a = kwargs[arg]
    if change == "extra-axis":
        shape = a.shape + (1,)
        # the number of axes is checked first, and w (which may have any shape) sets sgd_update's shape
        suspects = {"g", "v"} if (entry, arg) == ("sgd_update", "w") else {arg}
    else:
        shape = a.shape[:-1] + (a.shape[-1] + (1 if change == "longer" else -1),)
        axis = AXES[entry][arg][-1]
        suspects = {name for name, axes in AXES[entry].items()
                    if axis in axes and isinstance(kwargs.get(name), np.ndarray)}
    kwargs[arg] = np.zeros(shape, a.dtype)
    with pytest.raises(ValueError, match=names_the_argument("(" + "|".join(sorted(suspects)) + ")")) as error:
        getattr(cb, entry)(**kwargs)
    assert "shape" in str(error.value) or "columns" in str(error.value) or "labels" in str(error.value)


@pytest.mark.parametrize("entry, arg, shape, message", [
    ("dense_forward", "W", (5, 5), r"W has shape \(5, 5\) but X has 4 columns"),
    ("dense_forward", "Z", (3, 4), r"Z has shape \(3, 4\); expected \(3, 5\)"),
    ("dense_forward", "b", (4,), r"b has shape \(4,\); expected \(5,\)"),
    ("dense_backward", "delta", (3, 4), r"delta has shape"),
    ("dense_backward", "dX", (3, 5), r"dX has shape"),
    ("activation_backward", "dA", (3, 4), r"dA has shape"),
    ("softmax_cross_entropy", "sample_weight", (4,), r"sample_weight has shape"),
    ("focal_cross_entropy", "y", (3, 4), r"y has shape"),
    ("mean_squared_error", "dA", (2, 5), r"dA has shape"),
])
def test_shape_messages(entry, arg, shape, message):
    kwargs, _, _ = valid_call(entry)
    kwargs[arg] = np.zeros(shape)
    with pytest.raises(ValueError, match=message):
        getattr(cb, entry)(**kwargs)


@pytest.mark.parametrize("entry, arg", OUTPUT_ARGS)
def test_read_only_output_is_a_value_error(entry, arg):
    kwargs, _, _ = valid_call(entry)
    kwargs[arg].flags.writeable = False
    with pytest.raises(ValueError, match=rf"{names_the_argument(arg)}.*read-only"):
        getattr(cb, entry)(**kwargs)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_read_only_inputs_are_accepted(entry, dtype):
    """Only outputs must be writeable: read-only inputs (a memory-mapped data set, say) are fine."""
    kwargs, outputs, _ = valid_call(entry, dtype)
    fresh = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    for name, value in kwargs.items():
        if isinstance(value, np.ndarray) and name not in outputs:
            value.flags.writeable = False
    result = getattr(cb, entry)(**kwargs)
    expected = getattr(cb, entry)(**fresh)
    if isinstance(result, float):
        assert result == expected
    for name in outputs:
        np.testing.assert_array_equal(kwargs[name], fresh[name])


def overlapping(out, other):
    """Two arrays of the given shapes and values sharing one element of memory (out's last, other's first)."""
    buffer = np.zeros(out.size + other.size - 1, out.dtype)
    a = buffer[:out.size].reshape(out.shape)
    b = buffer[out.size - 1:].reshape(other.shape)
    a[...] = out
    b[...] = other
    return a, b


OVERLAPS = [(entry, out, other) for entry in ENTRY_POINTS for out in valid_call(entry)[1]
            for other, value in valid_call(entry)[0].items() if other != out and isinstance(value, np.ndarray)]


@pytest.mark.parametrize("entry, out, other", OVERLAPS)
def test_output_overlapping_another_array_is_a_value_error(entry, out, other):
    kwargs, outputs, _ = valid_call(entry)
    kwargs[out], kwargs[other] = overlapping(kwargs[out], kwargs[other])
    with pytest.raises(ValueError, match=rf"^({out} must not overlap {other}|{other} must not overlap {out})$"):
        getattr(cb, entry)(**kwargs)


def test_in_place_where_documented(dtype):
    """The two documented exceptions: activation_forward's A may be Z, activation_backward's delta may be dA."""
    Z = np.linspace(-2, 2, 12).reshape(3, 4).astype(dtype)
    assert cb.activation_forward("sigmoid", Z, Z) is Z
    dA = np.ones_like(Z)
    assert cb.activation_backward("sigmoid", np.zeros_like(Z), Z.copy(), dA, dA) is dA
    with pytest.raises(ValueError, match="delta"):           # but not delta = A
        cb.activation_backward("sigmoid", np.zeros_like(Z), Z, np.ones_like(Z), Z)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "focal_cross_entropy"])
@pytest.mark.parametrize("labels", [[0, 5, 1], [0, -1, 1], [7, 7, 7]])
def test_labels_out_of_range(loss, labels, dtype):
    Z = np.zeros((3, 5), dtype)
    P = np.empty_like(Z)
    delta = np.full_like(Z, 7.0)
    with pytest.raises(ValueError, match=r"(^|\W)y\W.*class ids"):
        getattr(cb, loss)(Z, np.array(labels), P, delta)
    np.testing.assert_array_equal(delta, 7.0)               # refused before anything was written


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "focal_cross_entropy"])
@pytest.mark.parametrize("output", ["P", "delta"])
def test_labels_sharing_memory_with_an_output(loss, output):
    """Class ids stored in an output's memory would be overwritten mid-loop (and then index out of
    bounds): refused as an overlap."""
    n, k = 4, 3
    Z = np.random.default_rng(0).standard_normal((n, k))
    arrays = dict(P=np.empty((n, k)), delta=np.empty((n, k)))
    labels = arrays[output].reshape(-1).view(np.intp)[:n]
    labels[:] = [0, 1, 2, 1]
    with pytest.raises(ValueError, match=rf"^{output} must not overlap y$"):
        getattr(cb, loss)(Z, labels, arrays["P"], arrays["delta"])


def test_alpha_sharing_memory_with_an_output():
    Z, P = np.zeros((2, 3)), np.empty((2, 3))
    delta = np.empty((2, 3))
    alpha = delta.reshape(-1)[:3]             # a float64 per-class array is used as it is: no copy
    alpha[:] = [0.25, 0.5, 1.0]
    with pytest.raises(ValueError, match="^delta must not overlap alpha$"):
        cb.focal_cross_entropy(Z, np.array([0, 1]), P, delta, alpha=alpha)


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, 2.0]), np.array([True, False, True])])
def test_one_dimensional_targets_must_be_integer_ids(y):
    with pytest.raises(TypeError, match=r"^y\b"):
        cb.softmax_cross_entropy(np.zeros((3, 4)), y, np.empty((3, 4)))


@pytest.mark.parametrize("name", ["mish", "Sigmoid", "swish ", "", None, 3])
def test_unknown_activation(name):
    Z = np.zeros((2, 3))
    for call in (lambda: cb.activation_forward(name, Z, Z.copy()),
                 lambda: cb.activation_derivative(name, Z, Z.copy(), Z.copy()),
                 lambda: cb.activation_backward(name, Z, Z.copy(), Z.copy(), Z.copy())):
        with pytest.raises(ValueError, match="unknown activation"):
            call()
    with pytest.raises(ValueError, match="unknown activation"):
        nb.activation_forward(name, Z, Z.copy())


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match=r"expected one of linear, .*, gelu, silu, softplus, softsign, swish$"):
        cb.activation_forward("mish", np.zeros((2, 3)), np.zeros((2, 3)))


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
                                  "binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber"])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_a_loss_needs_a_sample_and_an_output(loss, shape):
    kwargs, _, first = valid_call(loss)
    for name, value in kwargs.items():
        if isinstance(value, np.ndarray):
            kwargs[name] = np.zeros(shape if value.ndim == 2 else shape[:1])
    with pytest.raises(ValueError, match=names_the_argument(first)):
        getattr(cb, loss)(**kwargs)


@pytest.mark.parametrize("loss, output", [("softmax_cross_entropy", "P"), ("focal_cross_entropy", "P"),
                                          ("sigmoid_binary_cross_entropy", "A")])
def test_fused_losses_need_their_probability_output(loss, output):
    kwargs, _, _ = valid_call(loss)
    kwargs[output] = None
    with pytest.raises(TypeError, match=names_the_argument(output)):
        getattr(cb, loss)(**kwargs)


@pytest.mark.parametrize("keyword, value, error", [
    ("gamma", -0.5, ValueError), ("gamma", np.nan, ValueError), ("gamma", np.inf, ValueError),
    ("gamma", "two", TypeError), ("alpha", [1.0, 2.0], ValueError), ("alpha", -0.25, ValueError),
    ("alpha", [0.1, 0.2, np.nan, 0.3, 0.4], ValueError),
])
def test_focal_parameters(keyword, value, error):
    kwargs, _, _ = valid_call("focal_cross_entropy")
    kwargs[keyword] = value
    with pytest.raises(error, match=keyword):
        cb.focal_cross_entropy(**kwargs)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("value, error", [(-0.1, ValueError), (1.0, ValueError), (1.5, ValueError),
                                          (np.nan, ValueError), ("0.1x", TypeError)])
def test_label_smoothing_must_be_in_0_1(loss, value, error):
    kwargs, outputs, _ = valid_call(loss)
    before = {name: kwargs[name].copy() for name in outputs}
    with pytest.raises(error, match="label_smoothing"):
        getattr(cb, loss)(**kwargs, label_smoothing=value)
    for name in outputs:                                  # refused before anything was written
        np.testing.assert_array_equal(kwargs[name], before[name])


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1.0, ValueError), (np.inf, ValueError),
                                          (None, TypeError)])
def test_huber_delta_must_be_positive(value, error):
    kwargs, _, _ = valid_call("huber")
    kwargs["delta"] = value
    with pytest.raises(error, match="delta"):
        cb.huber(**kwargs)


@pytest.mark.parametrize("keyword, value, error", [
    ("learning_rate", -0.1, ValueError), ("learning_rate", np.nan, ValueError), ("learning_rate", "0.1x", TypeError),
    ("learning_rate", None, TypeError), ("momentum", 1.5, ValueError), ("momentum", -0.1, ValueError),
])
def test_sgd_hyperparameters(keyword, value, error):
    kwargs, _, _ = valid_call("sgd_update")
    w0 = kwargs["w"].copy()
    kwargs[keyword] = value
    with pytest.raises(error, match=keyword):
        cb.sgd_update(**kwargs)
    np.testing.assert_array_equal(kwargs["w"], w0)


def forward_call(dtype=np.float64):
    """A valid call of forward(): a 4 → 5 → 3 network on 6 samples."""
    rng = np.random.default_rng(0)
    return dict(X=rng.standard_normal((6, 4)).astype(dtype),
                weights=[rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)],
                biases=[rng.standard_normal(5).astype(dtype), None], activations=["relu", "softmax"],
                out=np.empty((6, 3), dtype))


@pytest.mark.parametrize("change, error, message", [
    (dict(X=np.zeros((6, 4), np.int64)), TypeError, r"^X has dtype"),
    (dict(X=np.zeros((6, 8))[:, ::2]), ValueError, r"^X must be C-contiguous"),
    (dict(X=[[0.0] * 4] * 6), TypeError, r"^X must be a numpy.ndarray"),
    (dict(weights=[np.zeros((4, 5), np.float32), np.zeros((5, 3))]), TypeError, r"^weights\[0\] has dtype"),
    (dict(weights=[np.zeros((4, 5)), np.zeros((4, 3))]), ValueError, r"^weights\[1\] has shape \(4, 3\)"),
    (dict(weights=[np.zeros((4, 5)), np.asfortranarray(np.zeros((5, 3)))]), ValueError, r"^weights\[1\].*contiguous"),
    (dict(biases=[np.zeros(4), None]), ValueError, r"^biases\[0\] has shape"),
    (dict(biases=[None]), ValueError, r"one weight matrix, bias and activation per layer"),
    (dict(weights=[], biases=[], activations=[]), ValueError, r"one weight matrix"),
    (dict(activations=["relu", "mish"]), ValueError, r"unknown activation 'mish'"),
    (dict(out=np.empty((6, 4))), ValueError, r"^out has shape \(6, 4\); expected \(6, 3\)"),
    (dict(out=np.empty((6, 3), np.float32)), TypeError, r"^out has dtype"),
    (dict(chunk=0), ValueError, r"^chunk must be >= 1"),
    (dict(n_workers=3), ValueError, r"^n_workers must be 1 or 2"),
])
def test_forward_errors(change, error, message):
    kwargs = {**forward_call(), **change}
    with pytest.raises(error, match=message):
        cb.forward(**kwargs)


def test_forward_read_only_and_overlapping_output():
    kwargs = forward_call()
    kwargs["out"].flags.writeable = False
    with pytest.raises(ValueError, match="^out is read-only"):
        cb.forward(**kwargs)
    kwargs = forward_call()
    for name, index in (("X", None), ("weights", 1), ("biases", 0)):
        kwargs = forward_call()
        inp = kwargs[name] if index is None else kwargs[name][index]
        out, inp_shared = overlapping(kwargs["out"], inp)
        if index is None:
            kwargs[name] = inp_shared
        else:
            kwargs[name][index] = inp_shared
        kwargs["out"] = out
        expected = name if index is None else rf"{name}\[{index}\]"
        with pytest.raises(ValueError, match=rf"^out must not overlap {expected}$"):
            cb.forward(**kwargs)


def test_matmul_inner_dimensions_must_agree():
    with pytest.raises(ValueError, match=r"op\(A\) has 4 columns but op\(B\) has 3 rows"):
        cb.matmul(np.zeros((2, 4)), np.zeros((3, 5)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=names_the_argument("C")):
        cb.matmul(np.zeros((4, 2)), np.zeros((4, 5)), np.zeros((3, 5)), trans_a=True)


def test_dense_message_names_both_arrays():
    with pytest.raises(ValueError, match=r"W has shape \(5, 3\) but X has 4 columns"):
        cb.dense_forward(np.zeros((2, 4)), np.zeros((5, 3)), None, np.zeros((2, 3)))


# ---------------------------------------------------------------- the fuzz

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])
FLOATS = (np.float32, np.float64)
ACTIVATIONS = ("linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax",
               "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign")


FAULTS = ("dtype", "layout", "shape", "read-only", "list")


class Case:
    """One fuzzed call: draws its arrays and tracks whether the call is valid.

    About half the calls are meant to be valid; the others carry one fault in one array
    (a wrong dtype, layout or shape, a read-only output, a list), or several faults at once.
    Validity is judged on the arrays actually drawn, not on the intention: the arrays must
    share one float dtype, be C-contiguous, have their expected shapes, and the outputs
    must be writeable; ``ok`` holds the other conditions (names, labels, parameters).
    """

    def __init__(self, data, strategies, array_names):
        self.data, self.s = data, strategies
        self.dtype = data.draw(st.sampled_from(FLOATS * 4 + (np.int64, np.float16)), label="dtype")
        self.fault = data.draw(st.sampled_from(("none",) * 5 + FAULTS + ("several",)), label="fault")
        self.victim = data.draw(st.sampled_from(array_names), label="victim")
        self.kwargs, self.outputs, self.expected, self.ok = {}, [], {}, True

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def faulty(self, name, fault):
        """Whether array ``name`` gets ``fault``; with "several", any array may get any fault but a shape
        (only one array is ever misshapen, so that the others still pin every dimension)."""
        if self.fault == "several" and fault != "shape":
            return self.draw(st.sampled_from([False, False, False, True]), label=f"{name} {fault}")
        return self.fault in (fault, "several") and name == self.victim

    def array(self, name, shape, low=-4.0, high=4.0, optional=False, output=False):
        if optional and name != self.victim and self.draw(st.booleans(), label=f"{name} is None"):
            self.kwargs[name] = None
            return None
        dtype = self.dtype
        if self.faulty(name, "dtype"):
            dtype = self.draw(self.s.fuzz_dtypes, label=f"{name} dtype")
        shape = expected = tuple(shape)
        if self.faulty(name, "shape"):
            shape = self.draw(st.sampled_from(misshapes(expected)), label=f"{name} shape")
        layout = self.draw(self.s.layouts, label=f"{name} layout") if self.faulty(name, "layout") else "C"
        a = self.draw(self.s.laid_out(shape, dtype, layout, self.s.values(dtype, low, high)), label=name)
        if self.faulty(name, "read-only"):
            a.flags.writeable = False                       # refused for an output, fine for an input
        if self.faulty(name, "list"):
            a = a.tolist()
        self.kwargs[name], self.expected[name] = a, expected
        if output:
            self.outputs.append(name)
        return a

    def in_place(self, out, inp):
        """The output ``out`` is the input array ``inp`` itself (where the entry point allows it)."""
        self.kwargs[out], self.expected[out] = self.kwargs[inp], self.expected[inp]
        self.outputs.append(out)

    @property
    def call_dtype(self):
        return next(a.dtype for a in self.kwargs.values() if isinstance(a, np.ndarray) and a.dtype.kind == "f")

    @property
    def valid(self):
        arrays = {name: self.kwargs[name] for name in self.expected if self.kwargs[name] is not None}
        if not all(isinstance(a, np.ndarray) for a in arrays.values()):
            return False
        dtypes = {a.dtype for a in arrays.values()}
        return (self.ok and len(dtypes) == 1 and dtypes.pop() in FLOATS
                and all(a.flags.c_contiguous and a.shape == self.expected[name] for name, a in arrays.items())
                and all(arrays[name].flags.writeable for name in self.outputs if name in arrays))


def misshapes(shape):
    """Shapes that differ from ``shape``: one axis longer or shorter, an extra axis, a missing axis."""
    out = [shape + (1,), shape + (2,)]
    if shape:
        out.append(shape[:-1])
        out.append(shape[:-1] + (shape[-1] + 1,))
        if shape[0] > 0:
            out.append((shape[0] - 1,) + shape[1:])
    return out


def snapshot(kwargs):
    return {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}


def unchanged(kwargs, before, names):
    for name in names:
        a, b = kwargs[name], before[name]
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{name} was written"


def check(case, entry, close, allowed_aliases=(), arguments=lambda drawn: drawn):
    """Call the compiled entry point on the drawn arguments and judge the outcome.

    ``arguments`` turns the drawn arrays (by name) into the call's keyword arguments."""
    kwargs = case.kwargs
    before = snapshot(kwargs)
    reference_kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    event("valid call" if case.valid else "invalid call")     # see pytest --hypothesis-show-statistics
    try:
        result = getattr(cb, entry)(**arguments(kwargs))
    except (TypeError, ValueError) as error:
        event(type(error).__name__)
        assert not case.valid, f"{entry} refused valid arguments: {error!r}"
        unchanged(kwargs, before, before)                   # refused before anything was written
        return
    assert case.valid, f"{entry} accepted invalid arguments"
    in_place = {inp for out, inp in allowed_aliases if kwargs[out] is kwargs[inp]}
    unchanged(kwargs, before, [k for k in before if k not in case.outputs and k not in in_place])
    try:
        with np.errstate(all="ignore"):
            expected = getattr(nb, entry)(**arguments(reference_kwargs))
    except ValueError:
        # the reference cannot reduce over an empty axis (softmax of zero units)
        assert any(a.size == 0 for a in before.values())
        return
    if isinstance(result, float):
        close(result, expected, case.call_dtype, f"{entry}: returned loss")
    for name in case.outputs:
        if kwargs[name] is not None:
            close(kwargs[name], reference_kwargs[name], case.call_dtype, f"{entry}: {name}")


@FUZZ
@given(data=st.data())
def test_fuzz_dense_forward(data, strategies, close):
    case = Case(data, strategies, ["X", "W", "b", "Z"])
    n_b, n_i, n_o = (data.draw(strategies.dims(), label=a) for a in ("n_b", "n_i", "n_o"))
    case.array("X", (n_b, n_i))
    case.array("W", (n_i, n_o))
    case.array("b", (n_o,), optional=True)
    case.array("Z", (n_b, n_o), output=True)
    check(case, "dense_forward", close)


@FUZZ
@given(data=st.data())
def test_fuzz_dense_backward(data, strategies, close):
    case = Case(data, strategies, ["X", "W", "delta", "dW", "db", "dX"])
    n_b, n_i, n_o = (data.draw(strategies.dims(), label=a) for a in ("n_b", "n_i", "n_o"))
    case.array("X", (n_b, n_i))
    case.array("W", (n_i, n_o))
    case.array("delta", (n_b, n_o))
    case.array("dW", (n_i, n_o), output=True)
    case.array("db", (n_o,), optional=True, output=True)
    case.array("dX", (n_b, n_i), optional=True, output=True)
    check(case, "dense_backward", close)


@FUZZ
@given(data=st.data())
def test_fuzz_matmul(data, strategies, close):
    case = Case(data, strategies, ["A", "B", "C"])
    m, k, n = (data.draw(strategies.dims(), label=a) for a in ("m", "k", "n"))
    trans_a, trans_b = data.draw(st.booleans(), label="trans_a"), data.draw(st.booleans(), label="trans_b")
    case.array("A", (k, m) if trans_a else (m, k))
    case.array("B", (n, k) if trans_b else (k, n))
    case.array("C", (m, n), output=True)
    case.kwargs.update(trans_a=trans_a, trans_b=trans_b, alpha=data.draw(st.sampled_from([1.0, -0.5, 2.0])),
                       beta=data.draw(st.sampled_from([0.0, 1.0, 0.25])))
    check(case, "matmul", close)


def activation_case(data, strategies, names):
    case = Case(data, strategies, names)
    name = data.draw(st.sampled_from(ACTIVATIONS + ("bogus",)), label="name")
    case.ok &= name in ACTIVATIONS
    case.kwargs["name"] = name
    return case, (data.draw(strategies.dims(), label="n_b"), data.draw(strategies.dims(), label="n_o"))


@FUZZ
@given(data=st.data())
def test_fuzz_activation_forward(data, strategies, close):
    case, shape = activation_case(data, strategies, ["Z", "A"])
    case.array("Z", shape)
    if not (case.victim == "Z" and case.fault in ("shape", "several")) and data.draw(st.booleans(), label="in place"):
        case.in_place("A", "Z")                             # documented: A may be Z
    else:
        case.array("A", shape, output=True)
    check(case, "activation_forward", close, allowed_aliases=[("A", "Z")])


@FUZZ
@given(data=st.data())
def test_fuzz_activation_derivative(data, strategies, close):
    case, shape = activation_case(data, strategies, ["Z", "A", "out"])
    case.ok &= case.kwargs["name"] != "softmax"           # no elementwise derivative
    case.array("Z", shape)
    case.array("A", shape, low=0, high=1)
    case.array("out", shape, output=True)
    check(case, "activation_derivative", close)


@FUZZ
@given(data=st.data())
def test_fuzz_activation_backward(data, strategies, close):
    case, shape = activation_case(data, strategies, ["Z", "A", "dA", "delta"])
    case.array("Z", shape)
    case.array("A", shape, low=0, high=1)
    case.array("dA", shape)
    if not (case.victim == "dA" and case.fault in ("shape", "several")) and data.draw(st.booleans(),
                                                                                  label="in place"):
        case.in_place("delta", "dA")                        # documented: delta may be dA
    else:
        case.array("delta", shape, output=True)
    check(case, "activation_backward", close, allowed_aliases=[("delta", "dA")])


def loss_case(data, strategies, names, ids_allowed, probabilities=False):
    case = Case(data, strategies, names)
    n, k = data.draw(strategies.dims(), label="n"), data.draw(strategies.dims(), label="k")
    case.ok &= n > 0 and k > 0
    first = names[0]
    case.array(first, (n, k), low=0 if probabilities else -4, high=1 if probabilities else 4)
    if ids_allowed and data.draw(st.booleans(), label="class ids"):
        flaw = data.draw(st.sampled_from(["none"] * 6 + ["float", "length", "range", "2-D int"]), label="ids flaw")
        ids = data.draw(st.lists(st.integers(0, max(k - 1, 0)), min_size=n, max_size=n), label="ids")
        y = np.array(ids, dtype=data.draw(st.sampled_from([np.int64, np.int32, np.intp, np.uint8])))
        if flaw == "float":
            y = y.astype(np.float64)
        elif flaw == "length":
            y = np.append(y, 0).astype(y.dtype)
        elif flaw == "range":
            y = np.append(y[1:], k if data.draw(st.booleans()) else -1).astype(np.int64)
        elif flaw == "2-D int":
            y = y.reshape(-1, 1)
        case.ok &= flaw == "none"
        if data.draw(st.booleans(), label="ids strided") and flaw != "2-D int":
            wide = np.zeros(2 * y.size, y.dtype)
            wide[::2] = y
            y = wide[::2]                                   # any layout: class ids are copied
        case.kwargs["y"] = y
    else:
        case.array("y", (n, k), low=0, high=1)
        y = case.kwargs.get("y")
        # a fault that turned the rows into valid class ids (1-D integers in [0, k)) is no fault
        assume(not (ids_allowed and isinstance(y, np.ndarray) and y.ndim == 1 and y.shape[0] == n
                    and np.issubdtype(y.dtype, np.integer) and y.size and y.min() >= 0 and y.max() < k))
    return case, n, k


def label_smoothing(case, data):
    """A label smoothing for the cross-entropies: none, a valid one, or one outside [0, 1)."""
    ls = data.draw(st.sampled_from([0.0, 0.0, 0.1, 0.9, -0.1, 1.0]), label="label_smoothing")
    case.ok &= 0 <= ls < 1
    case.kwargs["label_smoothing"] = ls


@FUZZ
@given(data=st.data())
def test_fuzz_softmax_cross_entropy(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["Z", "y", "P", "delta", "sample_weight"], ids_allowed=True)
    case.array("P", (n, k), output=True)
    case.array("delta", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    label_smoothing(case, data)
    check(case, "softmax_cross_entropy", close)


@FUZZ
@given(data=st.data())
def test_fuzz_focal_cross_entropy(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["Z", "y", "P", "delta", "sample_weight"], ids_allowed=True)
    case.array("P", (n, k), output=True)
    case.array("delta", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    gamma = data.draw(st.sampled_from([0.0, 0.3, 1.0, 2.0, 5.0, -1.0]), label="gamma")
    alpha = data.draw(st.sampled_from(["none", "scalar", "per-class", "wrong length", "negative"]), label="alpha")
    case.ok &= gamma >= 0 and alpha in ("none", "scalar", "per-class")
    case.kwargs.update(gamma=gamma, alpha={"none": None, "scalar": 0.25, "per-class": list(np.linspace(0.1, 1, k)),
                                           "wrong length": [0.5] * (k + 1), "negative": -0.5}[alpha])
    check(case, "focal_cross_entropy", close)


@FUZZ
@given(data=st.data())
def test_fuzz_sigmoid_binary_cross_entropy(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["Z", "y", "A", "delta", "sample_weight"], ids_allowed=False)
    case.array("A", (n, k), output=True)
    case.array("delta", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    label_smoothing(case, data)
    check(case, "sigmoid_binary_cross_entropy", close)


@FUZZ
@given(data=st.data())
def test_fuzz_binary_cross_entropy(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["A", "y", "dA", "sample_weight"], ids_allowed=False, probabilities=True)
    case.array("dA", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    label_smoothing(case, data)
    check(case, "binary_cross_entropy", close)


@FUZZ
@given(data=st.data())
def test_fuzz_mean_squared_error(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["A", "y", "dA", "sample_weight"], ids_allowed=False)
    case.array("dA", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    check(case, "mean_squared_error", close)


@FUZZ
@given(data=st.data())
def test_fuzz_mean_absolute_error(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["A", "y", "dA", "sample_weight"], ids_allowed=False)
    case.array("dA", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    check(case, "mean_absolute_error", close)


@FUZZ
@given(data=st.data())
def test_fuzz_huber(data, strategies, close):
    case, n, k = loss_case(data, strategies, ["A", "y", "dA", "sample_weight"], ids_allowed=False)
    case.array("dA", (n, k), optional=True, output=True)
    case.array("sample_weight", (n,), low=0, high=3, optional=True)
    delta = data.draw(st.sampled_from([1.0, 0.1, 3.0, 0.0, -1.0]), label="delta")
    case.ok &= delta > 0
    case.kwargs["delta"] = delta
    check(case, "huber", close)


@FUZZ
@given(data=st.data())
def test_fuzz_sgd_update(data, strategies, close):
    case = Case(data, strategies, ["w", "g", "v"])
    shape = tuple(data.draw(st.lists(strategies.dims(0, 6), min_size=0, max_size=3), label="shape"))
    case.array("w", shape, output=True)
    case.array("g", shape)
    case.array("v", shape, output=True)
    lr = data.draw(st.sampled_from([0.0, 0.01, 0.5, -0.1]), label="learning_rate")
    momentum = data.draw(st.sampled_from([0.0, 0.9, 1.0, 1.1]), label="momentum")
    case.ok &= lr >= 0 and 0 <= momentum <= 1
    case.kwargs.update(learning_rate=lr, momentum=momentum, nesterov=data.draw(st.booleans(), label="nesterov"))
    check(case, "sgd_update", close)


@FUZZ
@given(data=st.data())
def test_fuzz_forward(data, strategies, close):
    """forward() over a whole network of 1 to 3 layers, in chunks, on one or two workers."""
    n_layers = data.draw(st.integers(1, 3), label="layers")
    names = ["X", *(f"W{l}" for l in range(n_layers)), *(f"b{l}" for l in range(n_layers)), "out"]
    case = Case(data, strategies, names)
    sizes = [data.draw(strategies.dims(), label=f"size {l}") for l in range(n_layers + 1)]
    n = data.draw(strategies.dims(), label="n_samples")
    case.array("X", (n, sizes[0]))
    for l in range(n_layers):
        case.array(f"W{l}", (sizes[l], sizes[l + 1]))
        case.array(f"b{l}", (sizes[l + 1],), optional=True)
    case.array("out", (n, sizes[-1]), output=True)
    activations = [data.draw(st.sampled_from(ACTIVATIONS + ("bogus",)), label=f"g{l}") for l in range(n_layers)]
    chunk = data.draw(st.sampled_from([1, 2, 3, 1024, 0]), label="chunk")
    n_workers = data.draw(st.sampled_from([1, 2, 3]), label="n_workers")
    case.ok &= all(a in ACTIVATIONS for a in activations) and chunk >= 1 and n_workers in (1, 2)

    def arguments(drawn):
        return dict(X=drawn["X"], weights=[drawn[f"W{l}"] for l in range(n_layers)],
                    biases=[drawn[f"b{l}"] for l in range(n_layers)], activations=activations, out=drawn["out"],
                    chunk=chunk, n_workers=n_workers)

    check(case, "forward", close, arguments=arguments)
