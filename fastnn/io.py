"""Saving and loading models: one ``.npz`` file, no pickle.

The file is a zip of NumPy arrays: ``manifest`` holds a JSON document
(architecture, compile settings, optimizer state, dtype, and the SHA-256 of
every array) as bytes, and ``w0, w1, ...`` / ``v0, v1, ...`` hold the weights
and the optimizer's state (``v<i>``: its first state array, SGD's velocity; ``s<k>_<i>``: the
others, e.g. Adam's second moments). Loading uses ``allow_pickle=False``, so a file
can never run code, and checks everything against the manifest.
"""
import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from fastnn import metrics as _metrics

FORMAT = "fastnn-model"
WEIGHTS_FORMAT = "fastnn-weights"
VERSION = 1
EXTENSION = ".fnn"          # fastnn's model files, by convention; "name.weights.fnn" for save_weights

# Keras' own formats: a fastnn file under one of these names would fail only later, in Keras.
_KERAS_SUFFIXES = {".keras": "Keras' .keras (zip) format", ".h5": "Keras' HDF5 (.h5) format",
                   ".hdf5": "Keras' HDF5 (.hdf5) format"}


def check_path(path, weights=False):
    """``path`` as a string, or a ValueError when it names one of Keras' formats."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _KERAS_SUFFIXES:
        stem = os.path.basename(path)[:-len(suffix)]
        if stem.lower().endswith(".weights"):
            stem = stem[:-len(".weights")]
        good = f"{stem or 'model'}{'.weights' if weights else ''}{EXTENSION}"
        call = "save_weights" if weights else "save"
        raise ValueError(f"{path!r} names {_KERAS_SUFFIXES[suffix]}, which fastnn does not write: fastnn "
                         f"saves its own format (JSON + .npz, no pickle) with the extension {EXTENSION}, "
                         f"e.g. model.{call}({good!r}), read back by "
                         + ("model.load_weights" if weights else "fastnn.load_model"))
    return path


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    path = check_path(path)
    model._require_built("save")
    weights = model.get_weights()
    opt = model.optimizer
    variables = opt.variables if opt is not None and opt.variables is not None else []
    velocities = [v[0] for v in variables]
    arrays = {f"w{i}": w for i, w in enumerate(weights)}
    arrays.update({f"v{i}": v for i, v in enumerate(velocities)})
    # the optimizer's other state arrays (Adam's v and v̂, ...): s<k>_<i>, k >= 1
    n_states = len(variables[0]) if variables else 0
    arrays.update({f"s{k}_{i}": v[k] for i, v in enumerate(variables) for k in range(1, n_states)})
    manifest = {
        "format": FORMAT, "version": VERSION,
        "model": model.get_config(),
        "loss": model.loss.get_config() if model.loss is not None else None,
        "metrics": [_metrics.serialize(m) for m in model.metrics],
        "metadata": model.metadata,
        "optimizer": None if opt is None else {"config": opt.get_config(), "iterations": int(opt.iterations)},
        "n_weights": len(weights), "n_velocities": len(velocities), "n_states": n_states,
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.name, "sha256": _digest(a)} for k, a in arrays.items()},
    }
    _write_atomically(path, arrays, manifest)


def _write_atomically(path, arrays, manifest):
    """np.savez of ``arrays`` and the JSON ``manifest``, written atomically (write_atomically)."""
    arrays = dict(arrays)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays))


def write_atomically(path, write, suffix=".tmp"):
    """``write(f)`` into a temporary file in the same folder as ``path``, flushed to disk, then
    os.replace: a reader sees the old file or the new one, never half of one, and a failed
    write leaves the old file as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _bad(path, why):
    return ValueError(f"{path} is not a valid fastnn model file: {why}")


def _array_meta(arrays):
    return {k: {"shape": list(a.shape), "dtype": a.dtype.name, "sha256": _digest(a)} for k, a in arrays.items()}


def save_weights(model, path):
    """Write the weights of ``model`` (each Dense layer's name and array shapes, then
    ``w0, w1, ...``) to ``path`` atomically."""
    path = check_path(path, weights=True)
    model._require_built("save_weights")
    layers = [{"name": layer.name, "shapes": [list(p.shape) for p in layer.params]}
              for layer in model._dense_layers()]
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    manifest = {"format": WEIGHTS_FORMAT, "version": VERSION, "layers": layers, "n_weights": len(arrays),
                "arrays": _array_meta(arrays)}
    _write_atomically(path, arrays, manifest)


def _read(path, formats):
    """(manifest, arrays) of a fastnn file, every array checked against the manifest."""
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
            if "manifest" not in names:
                raise _bad(path, "it has no manifest")
            manifest = json.loads(bytes(data["manifest"]).decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") not in formats:
                raise _bad(path, "its manifest does not name the fastnn format")
            if manifest.get("version") != VERSION:
                raise _bad(path, f"format version {manifest.get('version')!r} is not supported (expected {VERSION})")
            arrays = {}
            for key, meta in manifest["arrays"].items():
                if key not in names:
                    raise _bad(path, f"array {key!r} is missing")
                a = data[key]
                if list(a.shape) != meta["shape"] or a.dtype.name != meta["dtype"]:
                    raise _bad(path, f"array {key!r} has shape {a.shape} and dtype {a.dtype}, "
                                     f"the manifest says {meta['shape']} {meta['dtype']}")
                if _digest(a) != meta["sha256"]:
                    raise _bad(path, f"array {key!r} does not match its checksum")
                arrays[key] = a
    except ValueError as exc:
        if str(exc).startswith(f"{path} is not a valid fastnn model file"):
            raise
        raise _bad(path, exc) from None
    except (zipfile.BadZipFile, KeyError, EOFError, TypeError, AttributeError, UnicodeDecodeError,
            json.JSONDecodeError, zipfile.LargeZipFile) as exc:
        raise _bad(path, f"{type(exc).__name__}: {exc}") from None
    return manifest, arrays


def load_weights(model, path):
    """Copy the weights in ``path`` (written by ``save_weights`` or ``save``) into ``model``.

    The file's Dense layers are matched to the model's in order; a different number of
    layers, or a layer whose arrays have other shapes, is a ValueError naming the layer."""
    path = os.fspath(path)
    model._require_built("load_weights")
    manifest, arrays = _read(path, (FORMAT, WEIGHTS_FORMAT))
    try:
        if manifest["format"] == WEIGHTS_FORMAT:
            stored = [(entry["name"], [tuple(s) for s in entry["shapes"]]) for entry in manifest["layers"]]
        else:                    # a whole model file: its Dense layers' shapes from the weights
            i, stored = 0, []
            for config in manifest["model"]["layers"]:
                if config["type"] == "Dense":
                    n = 2 if config.get("use_bias", True) else 1
                    stored.append((config["name"], [tuple(arrays[f"w{j}"].shape) for j in range(i, i + n)]))
                    i += n
        weights = [arrays[f"w{i}"] for i in range(manifest["n_weights"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"inconsistent contents ({type(exc).__name__}: {exc})") from None
    dense = model._dense_layers()
    if len(stored) != len(dense):
        raise ValueError(f"{path} holds the weights of {len(stored)} Dense layers "
                         f"({', '.join(name for name, _ in stored)}) but the model has {len(dense)} "
                         f"({', '.join(layer.name for layer in dense)})")
    for layer, (name, shapes) in zip(dense, stored):
        own = [tuple(p.shape) for p in layer.params]
        if own != shapes:
            raise ValueError(f"layer {layer.name!r} has weights of shapes {own} but {path} holds "
                             f"{shapes} for its layer {name!r}")
    model.set_weights([np.asarray(w, dtype=model.dtype) for w in weights])


def load_model(path):
    """Read a model written by ``model.save``; it predicts bit-identically and can go on training.

    Raises ``ValueError`` for a file that is truncated, tampered with or not a fastnn
    model, and ``OSError`` (e.g. FileNotFoundError) when the file cannot be read.
    """
    from fastnn import layers as _layers
    from fastnn import losses as _losses
    from fastnn import optimizers as _optimizers
    from fastnn.models import Sequential

    path = os.fspath(path)
    manifest, arrays = _read(path, (FORMAT, WEIGHTS_FORMAT))
    if manifest["format"] == WEIGHTS_FORMAT:
        raise _bad(path, "it holds weights only (save_weights); read it with model.load_weights")
    try:
        config = manifest["model"]
        model = Sequential(name=config["name"], dtype=config["dtype"], backend=config.get("backend", "compiled"))
        for layer_config in config["layers"]:
            model.add(_layers.from_config(layer_config))
        model.build(config["input_dim"])
        weights = [arrays[f"w{i}"] for i in range(manifest["n_weights"])]
        model.set_weights(weights)
        metadata = manifest.get("metadata", {})
        if not isinstance(metadata, dict):
            raise TypeError("metadata must be a JSON object")
        model.metadata = metadata
        if manifest["loss"] is not None:
            opt_state = manifest["optimizer"]
            optimizer = _optimizers.from_config(opt_state["config"])
            model.compile(_losses.from_config(manifest["loss"]), optimizer, manifest["metrics"])
            optimizer.iterations = int(opt_state["iterations"])
            if manifest["n_velocities"]:
                n_states = manifest.get("n_states", 1)      # files written before Adam & co.: 1
                if n_states != _optimizers.RULE_STATES[optimizer.kind]:
                    raise ValueError(f"the optimizer {optimizer.name!r} keeps {_optimizers.RULE_STATES[optimizer.kind]} "
                                     f"state arrays per weight, the file holds {n_states}")
                variables = [[np.array(arrays[f"v{i}"])] + [np.array(arrays[f"s{k}_{i}"]) for k in range(1, n_states)]
                             for i in range(manifest["n_velocities"])]
                if [[s.shape for s in v] for v in variables] != [[w.shape] * n_states for w in weights]:
                    raise ValueError("optimizer state does not match the weights")
                optimizer.variables = [[np.ascontiguousarray(s, dtype=model.dtype) for s in v] for v in variables]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise _bad(path, f"inconsistent contents ({type(exc).__name__}: {exc})") from None
    return model


def _clone_float64(model):
    """A float64 copy of a compiled model (same layers, weights, loss; a fresh optimizer)."""
    from fastnn import layers as _layers
    from fastnn import losses as _losses
    from fastnn.models import Sequential

    model._require_compiled()
    model._require_built("gradcheck")
    clone = Sequential(dtype="float64", backend=model.backend)
    for layer in model.layers:
        clone.add(_layers.from_config(layer.get_config()))
    clone.build(model.input_dim)
    clone.set_weights([w.astype(np.float64) for w in model.get_weights()])
    clone.compile(_losses.from_config(model.loss.get_config()), "sgd",
                  [_metrics.serialize(m) for m in model.metrics])
    return clone
