"""Export a trained Sequential to ONNX, for inference with ONNX Runtime and other engines.

The graph is the course's forward pass, layer after layer:

    Z_l = Gemm(A_{l−1}, W_l, b_l)       Z = A·W + b, with fastnn's (inputs, units) W (transB = 0)
    A_l = g_l(Z_l)                      the activation as ONNX nodes (none for linear)

with input ``x`` of shape (batch, n_features), the batch dimension left dynamic, and output
``y`` of shape (batch, units), in the model's float type (float32 or float64).

=============  ==========================================================
activation     ONNX nodes (opset 17)
=============  ==========================================================
linear         none
relu           Relu
sigmoid        Sigmoid
tanh           Tanh
softmax        Softmax(axis=−1)
hard_sigmoid   HardSigmoid(α = 0.5, β = 0.5): max(0, min(1, (z + 1)/2))
step           Cast(GreaterOrEqual(z, 0)): 1 if z ≥ 0 else 0
leaky_relu     LeakyRelu(α = 0.2)
elu            Elu(α = 1)
selu           Selu(α = 1.6732632…, γ = 1.0507009…)
gelu           z·(1 + Erf(z/√2))/2  (the Gelu node from opset 20 on)
silu (swish)   z·Sigmoid(z)
softplus       Softplus
softsign       Softsign
=============  ==========================================================

Needs the ``onnx`` package: ``pip install fastnn[onnx]``.
"""
import math
import os

import numpy as np

DEFAULT_OPSET = 17
_MIN_OPSET = 13          # Softmax over the last axis only (before 13 it flattened the rows)

# Keras 3's constants (the activations of fastnn.activations)
_LEAKY_SLOPE = 0.2
_SELU_ALPHA, _SELU_SCALE = 1.67326324235437728, 1.05070098735548049

EXPORTABLE = ("linear", "relu", "sigmoid", "tanh", "softmax", "hard_sigmoid", "step", "leaky_relu", "elu",
              "selu", "gelu", "silu", "swish", "softplus", "softsign")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package, which is not installed: "
                          "pip install onnx  (or pip install fastnn[onnx])") from None
    return onnx


def _activation_nodes(onnx, act, z, out, prefix, elem, np_dtype, constants, opset):
    """The nodes computing out = g(z), or a ValueError when ``act`` has no ONNX form."""
    make = onnx.helper.make_node

    def const(name, value):
        full = f"{prefix}/{name}"
        constants.append(onnx.numpy_helper.from_array(np.array(value, dtype=np_dtype), full))
        return full

    if act == "relu":
        return [make("Relu", [z], [out], name=f"{prefix}/Relu")]
    if act == "sigmoid":
        return [make("Sigmoid", [z], [out], name=f"{prefix}/Sigmoid")]
    if act == "tanh":
        return [make("Tanh", [z], [out], name=f"{prefix}/Tanh")]
    if act == "softmax":
        return [make("Softmax", [z], [out], name=f"{prefix}/Softmax", axis=-1)]
    if act == "hard_sigmoid":          # fastnn's (z + 1)/2 clipped to [0, 1]
        return [make("HardSigmoid", [z], [out], name=f"{prefix}/HardSigmoid", alpha=0.5, beta=0.5)]
    if act == "step":                  # 1 if z >= 0 else 0
        ge = f"{prefix}/GreaterOrEqual"
        return [make("GreaterOrEqual", [z, const("zero", 0.0)], [ge], name=ge),
                make("Cast", [ge], [out], name=f"{prefix}/Cast", to=elem)]
    if act == "leaky_relu":
        return [make("LeakyRelu", [z], [out], name=f"{prefix}/LeakyRelu", alpha=_LEAKY_SLOPE)]
    if act == "elu":
        return [make("Elu", [z], [out], name=f"{prefix}/Elu", alpha=1.0)]
    if act == "selu":
        return [make("Selu", [z], [out], name=f"{prefix}/Selu", alpha=_SELU_ALPHA, gamma=_SELU_SCALE)]
    if act == "gelu":                  # z·Φ(z) = z·(1 + erf(z/√2))/2, Keras' exact form
        if opset >= 20:
            return [make("Gelu", [z], [out], name=f"{prefix}/Gelu")]
        n = [f"{prefix}/gelu_{k}" for k in range(4)]
        return [make("Mul", [z, const("inv_sqrt2", 1.0 / math.sqrt(2.0))], [n[0]], name=n[0]),
                make("Erf", [n[0]], [n[1]], name=n[1]),
                make("Add", [n[1], const("one", 1.0)], [n[2]], name=n[2]),
                make("Mul", [z, n[2]], [n[3]], name=n[3]),
                make("Mul", [n[3], const("half", 0.5)], [out], name=f"{prefix}/gelu_out")]
    if act in ("silu", "swish"):       # z·σ(z)
        s = f"{prefix}/Sigmoid"
        return [make("Sigmoid", [z], [s], name=s), make("Mul", [z, s], [out], name=f"{prefix}/Mul")]
    if act == "softplus":
        return [make("Softplus", [z], [out], name=f"{prefix}/Softplus")]
    if act == "softsign":
        return [make("Softsign", [z], [out], name=f"{prefix}/Softsign")]
    return None


def _layers_and_activations(model):
    """(Dense layer, its activation, the name of the layer that gave the activation) per Dense."""
    from fastnn.layers import Activation, Dense
    rows = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            rows.append([layer, layer.activation, layer.name])
        elif isinstance(layer, Activation):   # an Activation layer folds into the Dense before it
            rows[-1][1:] = [layer.activation, layer.name]
        # a Dropout layer is the identity in inference: nothing to export
    return rows


def to_onnx(model, opset=DEFAULT_OPSET):
    """The ONNX ``ModelProto`` of a built Sequential (see the module's docstring).

    Raises ``ValueError`` naming the layer whose activation ONNX cannot express, and
    ``ImportError`` (with the install command) without the onnx package.
    """
    onnx = _onnx()
    from fastnn import __version__
    helper = onnx.helper
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not _MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an integer from {_MIN_OPSET} to {onnx.defs.onnx_opset_version()} "
                         f"(this onnx package's newest), got {opset!r}")
    opset = int(opset)
    model._require_built("export")
    rows = _layers_and_activations(model)
    for layer, act, owner in rows:
        if _activation_nodes(onnx, act, "z", "a", "check", 1, np.float32, [], opset) is None and act != "linear":
            raise ValueError(f"layer {owner!r}: fastnn cannot export the activation {act!r} to ONNX "
                             f"(it exports {', '.join(EXPORTABLE)})")
    np_dtype = model.dtype.type
    elem = onnx.helper.np_dtype_to_tensor_dtype(model.dtype)
    nodes, initializers = [], []
    previous = "x"
    for i, (layer, act, _) in enumerate(rows):
        last = i == len(rows) - 1
        prefix = layer.name
        out = "y" if last else f"{prefix}/A"
        z = out if act == "linear" else f"{prefix}/Z"
        weight = f"{prefix}/kernel"
        initializers.append(onnx.numpy_helper.from_array(np.ascontiguousarray(layer.W), weight))
        inputs = [previous, weight]
        if layer.b is not None:
            initializers.append(onnx.numpy_helper.from_array(np.ascontiguousarray(layer.b), f"{prefix}/bias"))
            inputs.append(f"{prefix}/bias")
        nodes.append(helper.make_node("Gemm", inputs, [z], name=f"{prefix}/Gemm", alpha=1.0, beta=1.0,
                                      transA=0, transB=0))
        if act != "linear":
            nodes += _activation_nodes(onnx, act, z, out, prefix, elem, np_dtype, initializers, opset)
        previous = out
    x = helper.make_tensor_value_info("x", elem, ["batch", model.input_dim])
    y = helper.make_tensor_value_info("y", elem, ["batch", model.output_units])
    graph = helper.make_graph(nodes, model.name, [x], [y], initializers,
                              doc_string=f"fastnn {model!r}")
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastnn", producer_version=__version__)
    # the oldest IR version that carries this opset, so that older runtimes load it too
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    return proto


def save_onnx(model, path, opset=DEFAULT_OPSET):
    """Write ``to_onnx(model, opset)`` to ``path`` after ``onnx.checker.check_model``, atomically
    (a temporary file in the same folder, then a rename)."""
    onnx = _onnx()
    path = os.fspath(path)
    proto = to_onnx(model, opset)
    onnx.checker.check_model(proto)
    from fastnn.io import write_atomically
    data = proto.SerializeToString()
    write_atomically(path, lambda f: f.write(data), suffix=".onnx.tmp")
    return path
