"""ONNX export: the graph (opset 17, dynamic batch, Gemm with (inputs, units) weights, the
activation nodes), checked by onnx's checker, run by onnx's reference evaluator and by ONNX
Runtime (when installed) against predict; the command line; the errors."""
import math
import sys

import numpy as np
import pytest

import fastnn
from fastnn import Sequential
from fastnn.cli import main
from fastnn.layers import Activation, Dense

onnx = pytest.importorskip("onnx")
from onnx.reference import ReferenceEvaluator  # noqa: E402

from fastnn.export import to_onnx  # noqa: E402

RNG = np.random.default_rng(5)
X = RNG.standard_normal((37, 6)) * 2            # 37 rows: any batch size works

# fastnn's own activations; tolerance for ReferenceEvaluator / ONNX Runtime against predict
TOL = {"float32": 1e-5, "float64": 1e-12}
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "hard_sigmoid", "step")


def model_with(activation, dtype, seed=0):
    model = Sequential([Dense(9, activation=activation, input_shape=(6,)), Dense(4, activation="tanh"),
                        Dense(3, activation="softmax")], dtype=dtype, seed=seed)
    model.compile("sparse_categorical_crossentropy", "sgd")
    model.fit(X, RNG.integers(0, 3, len(X)), epochs=2, verbose=0, seed=seed)
    return model


def close(actual, expected, dtype):
    """The norm-wise relative error of the tolerance table."""
    err = np.max(np.abs(actual - expected)) / max(1.0, np.max(np.abs(expected)))
    assert err <= TOL[dtype], err


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_export_runs_like_predict(tmp_path, activation, dtype):
    model = model_with(activation, dtype)
    path = tmp_path / "m.onnx"
    model.export(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    x = X.astype(dtype)
    out = ReferenceEvaluator(proto).run(None, {"x": x})[0]
    assert out.dtype == np.dtype(dtype) and out.shape == (len(x), 3)
    close(out, model.predict(x), dtype)
    # one row, and another batch size, through the same file: the batch dimension is dynamic
    close(ReferenceEvaluator(proto).run(None, {"x": x[:1]})[0], model.predict(x[:1]), dtype)


def test_graph_structure(tmp_path):
    model = Sequential([Dense(9, input_shape=(6,), name="h1"), Activation("relu", name="act"),
                        Dense(4, activation="hard_sigmoid", name="h2", use_bias=False),
                        Dense(2, activation="step", name="h3"), Dense(3, activation="softmax", name="out")],
                       seed=1)
    proto = to_onnx(model)
    graph = proto.graph
    assert [o.domain for o in proto.opset_import] == [""] and proto.opset_import[0].version == 17
    (x,), (y,) = graph.input, graph.output
    assert x.name == "x" and y.name == "y"
    dims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    assert dims == ["batch", 6] and [d.dim_param or d.dim_value for d in y.type.tensor_type.shape.dim] == ["batch", 3]
    assert x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [n.op_type for n in graph.node] == ["Gemm", "Relu", "Gemm", "HardSigmoid", "Gemm", "GreaterOrEqual",
                                               "Cast", "Gemm", "Softmax"]
    attrs = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in graph.node}
    for gemm in ("h1/Gemm", "h2/Gemm", "h3/Gemm", "out/Gemm"):
        assert attrs[gemm]["transB"] == 0 and attrs[gemm]["transA"] == 0
    assert attrs["h2/HardSigmoid"] == {"alpha": 0.5, "beta": 0.5}
    assert attrs["out/Softmax"] == {"axis": -1}
    assert attrs["h3/Cast"] == {"to": onnx.TensorProto.FLOAT}
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    np.testing.assert_array_equal(weights["h1/kernel"], model.layers[0].W)             # (inputs, units)
    assert weights["h1/kernel"].shape == (6, 9) and "h2/bias" not in weights
    assert len(graph.node[2].input) == 2                                                # Gemm without C


def test_float64_export_is_double(tmp_path):
    proto = to_onnx(Sequential([Dense(2, input_shape=(3,))], dtype="float64", seed=0))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}


# The activations of Keras 3 that another branch adds to fastnn, by name: their graphs are
# checked against the formulas of fastnn.activations (the layers are given the name directly).
KERAS3 = {
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: 1.05070098735548049 * np.where(z > 0, z, 1.67326324235437728 * np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: z * 0.5 * (1 + np.vectorize(math.erf)(z / np.sqrt(2))),
    "silu": lambda z: z / (1 + np.exp(-z)),
    "swish": lambda z: z / (1 + np.exp(-z)),
    "softplus": lambda z: np.logaddexp(0, z),
    "softsign": lambda z: z / (1 + np.abs(z)),
}


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("name", sorted(KERAS3))
def test_keras3_activations_by_name(name, opset):
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"this onnx package stops at opset {onnx.defs.onnx_opset_version()}")
    model = Sequential([Dense(9, input_shape=(6,)), Dense(3)], dtype="float64", seed=2)
    model.layers[0].activation = name
    proto = to_onnx(model, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    if name == "gelu":
        assert ("Gelu" in ops) == (opset >= 20) and ("Erf" in ops) == (opset < 20)
    W1, b1, W2, b2 = model.get_weights()
    expected = KERAS3[name](X @ W1 + b1) @ W2 + b2
    out = ReferenceEvaluator(proto).run(None, {"x": X})[0]
    # ONNX's attributes (LeakyRelu's α, Selu's α, γ) are float32, and the reference Erf computes
    # in float32: a float64 graph of these matches to float32 precision
    exact = name in ("silu", "swish", "softplus", "softsign")
    np.testing.assert_allclose(out, expected, rtol=1e-12 if exact else 1e-6, atol=1e-12 if exact else 1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(KERAS3))
def test_keras3_activations_run_like_predict(tmp_path, name, dtype):
    """Once fastnn has the activation (fastnn.activations.NAMES), its export runs like predict."""
    from fastnn import activations
    if name not in activations.NAMES:
        pytest.skip(f"{name!r} is not one of fastnn's activations yet")
    model = model_with(name, dtype)
    model.export(tmp_path / "m.onnx")
    x = X.astype(dtype)
    out = ReferenceEvaluator(onnx.load(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    exact = dtype == "float32" or name in ("silu", "swish", "softplus", "softsign")
    np.testing.assert_allclose(out, model.predict(x), rtol=0, atol=TOL[dtype] if exact else 1e-6)
    try:
        import onnxruntime as ort
    except ImportError:
        return
    try:
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    except Exception as exc:
        if dtype == "float64" and "NOT_IMPLEMENTED" in str(exc):
            return                     # no float64 kernel in ONNX Runtime: the reference evaluator ran it
        raise
    np.testing.assert_allclose(session.run(None, {"x": x})[0], model.predict(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_is_the_identity_in_the_export(tmp_path, dtype):
    """Dropout acts only in training: the exported graph has no node for it and runs like predict."""
    from fastnn.layers import Dropout
    model = Sequential([Dense(9, activation="relu", input_shape=(6,), name="h"), Dropout(0.5, seed=3),
                        Dense(5, name="h2"), Activation("tanh"), Dropout(0.2, seed=4),
                        Dense(3, activation="softmax", name="out")], dtype=dtype, seed=0)
    model.compile("sparse_categorical_crossentropy", "sgd")
    model.fit(X, RNG.integers(0, 3, len(X)), epochs=2, verbose=0, seed=0)
    model.export(tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Tanh", "Gemm", "Softmax"]
    x = X.astype(dtype)
    close(ReferenceEvaluator(proto).run(None, {"x": x})[0], model.predict(x), dtype)


def test_a_layer_fastnn_cannot_export_is_named():
    model = Sequential([Dense(4, input_shape=(6,), name="hidden"), Dense(3, name="out")], seed=0)
    model.layers[0].activation = "mystery"
    with pytest.raises(ValueError, match=r"layer 'hidden': fastnn cannot export the activation 'mystery'"):
        model.export("never.onnx")
    folded = Sequential([Dense(4, input_shape=(6,)), Activation("relu", name="act")], seed=0)
    folded.layers[1].activation = "mystery"
    with pytest.raises(ValueError, match="layer 'act'"):
        to_onnx(folded)
    with pytest.raises(ValueError, match="opset must be an integer from 13"):
        to_onnx(folded, opset=11)
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        folded.export("m.tflite", format="tflite")


def test_export_without_onnx_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install onnx"):
        Sequential([Dense(2, input_shape=(3,))], seed=0).export("m.onnx")


# ---------------------------------------------------------------- ONNX Runtime


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnx_runtime_agrees_with_predict(tmp_path, activation, dtype):
    ort = pytest.importorskip("onnxruntime")
    model = model_with(activation, dtype)
    model.export(tmp_path / "m.onnx")
    try:
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    except Exception as exc:           # ONNX Runtime has no float64 kernel for some ops (HardSigmoid)
        if dtype == "float64" and "NOT_IMPLEMENTED" in str(exc):
            pytest.skip(f"ONNX Runtime {ort.__version__} has no float64 kernel here: {str(exc)[:120]}")
        raise
    x = X.astype(dtype)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], model.predict(x), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- command line


def test_command_line_export(tmp_path, capsys):
    model = model_with("relu", "float32")
    model.save(tmp_path / "m.fnn")
    assert main(["export", str(tmp_path / "m.fnn"), str(tmp_path / "m.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    proto = onnx.load(tmp_path / "m.onnx")
    close(ReferenceEvaluator(proto).run(None, {"x": X.astype(np.float32)})[0],
          model.predict(X.astype(np.float32)), "float32")
    assert main(["export", str(tmp_path / "missing.fnn"), str(tmp_path / "x.onnx")]) == 1
    assert "no model file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "m.fnn"), str(tmp_path / "no" / "x.onnx")]) == 1
    assert "cannot write" in capsys.readouterr().err
