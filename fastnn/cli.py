"""The ``fastnn`` command: train the course's tasks, evaluate, summarise and predict.

    fastnn train iris
    fastnn train mnist --hidden 64 64 64 --epochs 10 --save mnist.fnn
    fastnn train iris --features petal_length petal_width --plots pictures/
    fastnn evaluate mnist.fnn mnist
    fastnn summary mnist.fnn
    fastnn predict mnist.fnn digit.png
    fastnn export mnist.fnn mnist.onnx
    fastnn explain iris.fnn --samples 3
"""
import argparse
import struct
import sys
import time
import zlib

import numpy as np

TASKS = ("iris", "mnist", "fashion-mnist", "digits")
# The losses that fit the classifier's softmax output, and the hidden layers' activations.
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_focal_crossentropy",
          "mse", "mean_squared_error", "mae", "mean_absolute_error", "huber")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "hard_sigmoid", "linear", "leaky_relu", "elu", "selu", "gelu",
                      "silu", "swish", "softplus", "softsign")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")

# Per task: hidden layers, epochs, batch size, learning rate, momentum, decay (the course's settings
# for MNIST; small, quick ones for the small tasks).
DEFAULTS = {
    "iris": dict(hidden=[12, 6], epochs=60, batch_size=10, lr=0.05, momentum=0.9, decay=0.0),
    "digits": dict(hidden=[64], epochs=30, batch_size=32, lr=0.05, momentum=0.9, decay=0.0),
    "mnist": dict(hidden=[64, 64, 64], epochs=10, batch_size=100, lr=0.01, momentum=0.9, decay=1e-6),
    "fashion-mnist": dict(hidden=[64, 64, 64], epochs=10, batch_size=100, lr=0.01, momentum=0.9, decay=1e-6),
}


class CommandError(Exception):
    """A problem to report in one line (exit status 1)."""


# ---------------------------------------------------------------- data


def load_task(name, data_dir=None, seed=0):
    """Raw data of a task: (x_train, y_train, x_test, y_test, class_names); x as 2-D arrays."""
    from fastnn import datasets
    if name in ("iris", "digits"):
        from sklearn.model_selection import train_test_split
        data = datasets.load_iris() if name == "iris" else datasets.load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            data.data, data.target, test_size=0.3 if name == "iris" else 0.25, stratify=data.target,
            random_state=seed)
        return x_train, y_train, x_test, y_test, list(data.target_names)
    loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = loader(data_dir) if data_dir else loader()
    except datasets.DatasetNotFoundError as exc:
        # The loader's message lists every folder searched and what each lacks: keep all of it.
        message = str(exc)
        raise CommandError(message + ("\n" if "\n" in message else " ") + (
            "(on the command line: --data DIR names the folder holding the four IDX files; "
            "FASTNN_DATA names that folder or the one above it)")) from None
    names = list(datasets.FASHION_MNIST_CLASSES) if name == "fashion-mnist" else [str(d) for d in range(10)]
    return x_train.reshape(len(x_train), -1), y_train, x_test.reshape(len(x_test), -1), y_test, names


def preprocessing_for(task, x_train):
    """How inputs are scaled, as JSON: x' = (x − mean) / scale."""
    if task == "iris":            # standardise with the training set's statistics
        return {"mean": x_train.mean(axis=0).tolist(), "scale": x_train.std(axis=0).tolist()}
    return {"mean": 0.0, "scale": 16.0 if task == "digits" else 255.0}


def preprocess(x, preprocessing):
    x = np.asarray(x, dtype=np.float64)
    return (x - np.asarray(preprocessing["mean"])) / np.asarray(preprocessing["scale"])


# ---------------------------------------------------------------- commands


def make_loss(args, y_train, n_classes):
    """The loss of `fastnn train`: a name, or a loss object when its parameters were given."""
    from fastnn import losses
    from fastnn.utils import compute_class_weight
    if args.loss == "categorical_focal_crossentropy":
        alpha = args.focal_alpha
        if alpha == "balanced":          # α_i = n / (k·n_i)
            alpha = list(compute_class_weight("balanced", classes=np.arange(n_classes), y=y_train))
        elif alpha is not None:
            alpha = float(alpha)
        return losses.CategoricalFocalCrossentropy(gamma=args.focal_gamma, alpha=alpha,
                                                   label_smoothing=args.label_smoothing)
    if args.label_smoothing:
        if args.loss != "categorical_crossentropy":
            raise CommandError(f"--label-smoothing applies to the cross-entropies with one-hot targets "
                               f"(categorical_crossentropy, categorical_focal_crossentropy), not to {args.loss}")
        return losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
    return args.loss


def make_optimizer(args, pick):
    """The optimizer of `fastnn train`: SGD with the task's (the course's) settings, or another
    optimizer with Keras' defaults and --lr if given."""
    from fastnn import optimizers
    if args.optimizer == "sgd":
        return optimizers.SGD(learning_rate=pick("lr"), momentum=pick("momentum"), decay=pick("decay"),
                              nesterov=args.nesterov)
    given = [flag for flag, value in (("--momentum", args.momentum), ("--decay", args.decay),
                                      ("--nesterov", args.nesterov or None)) if value is not None]
    if given:
        raise CommandError(f"{', '.join(given)} set SGD's update; --optimizer {args.optimizer} does not take them")
    cls = optimizers.OPTIMIZERS[args.optimizer]
    return cls() if args.lr is None else cls(learning_rate=args.lr)


def cmd_train(args):
    from fastnn import Sequential
    from fastnn.layers import Dense, Dropout
    from fastnn.utils import to_categorical
    from fastnn.io import check_path

    if args.save:
        check_path(args.save)          # a Keras name (.keras, .h5) is refused before training, not after
    defaults = DEFAULTS[args.task]
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else defaults[name]
    x_train, y_train, x_test, y_test, class_names = load_task(args.task, args.data, seed=args.seed or 0)
    x_train, x_test = select_features(args, x_train, x_test)
    prep = preprocessing_for(args.task, x_train)
    x_train, x_test = preprocess(x_train, prep), preprocess(x_test, prep)
    n_classes = len(class_names)

    model = Sequential(dtype=args.dtype, backend=args.backend, seed=args.seed)
    for i, units in enumerate(pick("hidden")):
        model.add(Dense(units, activation=args.activation, input_shape=(x_train.shape[1],) if i == 0 else None))
        if args.dropout:
            model.add(Dropout(args.dropout, seed=args.seed))
    model.add(Dense(n_classes, activation="softmax",
                    input_shape=None if pick("hidden") else (x_train.shape[1],)))
    model.compile(loss=make_loss(args, y_train, n_classes), optimizer=make_optimizer(args, pick),
                  metrics=["accuracy"])
    model.metadata = {"task": args.task, "preprocessing": prep, "class_names": class_names}
    if args.features:
        model.metadata["features"] = list(args.features)
    sparse = args.loss == "sparse_categorical_crossentropy"
    encode = (lambda y: y) if sparse else (lambda y: to_categorical(y, n_classes))
    model.summary()
    epochs = pick("epochs")
    start = time.perf_counter()
    history = model.fit(x_train, encode(y_train), batch_size=pick("batch_size"), epochs=epochs,
                        validation_data=(x_test, encode(y_test)), class_weight=args.class_weight,
                        seed=args.seed, verbose=args.verbose)
    seconds = time.perf_counter() - start
    ran = len(history.epoch)
    loss_value, accuracy = model.evaluate(x_test, encode(y_test))
    print(f"test accuracy: {accuracy:.4f} on {len(x_test):,} samples (test loss {loss_value:.4f})")
    print(f"time: {seconds:.2f} s for {ran} epochs, {seconds / max(ran, 1):.3f} s per epoch "
          f"(including the validation pass)")
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}")
    if args.plots:
        write_plots(args, model, history, x_test, y_test, class_names, prep)
    return 0


def _load_model(path):
    import fastnn
    try:
        return fastnn.load_model(path)
    except FileNotFoundError:
        raise CommandError(f"no model file at {path}") from None
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None


def cmd_evaluate(args):
    from fastnn.utils import to_categorical
    model = _load_model(args.model)
    if model.loss is None:
        raise CommandError(f"{args.model} holds an uncompiled model: it has no loss to evaluate")
    meta = model.metadata
    task_of_model = meta.get("task")
    if task_of_model is not None and task_of_model != args.dataset:
        raise CommandError(f"{args.model} was trained on {task_of_model}, not {args.dataset}")
    _, _, x_test, y_test, class_names = load_task(args.dataset, args.data)
    if meta.get("features"):             # trained on some of the measurements (train --features)
        x_test = x_test[:, [IRIS_FEATURES.index(name) for name in meta["features"]]]
    if "preprocessing" in meta:
        x_test = preprocess(x_test, meta["preprocessing"])
    if x_test.shape[1] != model.input_dim:
        raise CommandError(f"{args.dataset} has {x_test.shape[1]} features but the model expects {model.input_dim}")
    y = y_test if model.loss.needs == "class_ids" else to_categorical(y_test, model.output_units)
    logs = model.evaluate(x_test, y, return_dict=True)
    print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()) + f"  ({len(x_test):,} test samples of {args.dataset})")
    return 0


def cmd_summary(args):
    model = _load_model(args.model)
    model.summary()
    if model.loss is not None:
        print(f"loss: {model.loss!r}; optimizer: {model.optimizer!r} after {model.optimizer.iterations} steps")
    if model.metadata.get("task"):
        print(f"trained on: {model.metadata['task']}")
    return 0


def read_png(path):
    """A PNG file as a grey-scale float array (8-bit grey, grey+alpha, RGB or RGBA; not interlaced)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise CommandError(f"{path} is not a PNG file")
    pos, chunks, header = 8, [], None
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise CommandError(f"{path} has no PNG header")
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise CommandError(f"{path}: only 8-bit, non-interlaced grey/RGB(A) PNG files are supported")
    try:
        data = zlib.decompress(b"".join(chunks))
    except zlib.error:
        raise CommandError(f"{path}: the PNG image data is corrupt") from None
    stride = width * channels
    if len(data) != height * (stride + 1):
        raise CommandError(f"{path}: the PNG image data is truncated")
    rows, prev = [], np.zeros(stride, dtype=np.int64)
    for r in range(height):
        kind, line = data[r * (stride + 1)], np.frombuffer(data, np.uint8, stride, r * (stride + 1) + 1).astype(np.int64)
        out = np.zeros(stride, dtype=np.int64)
        for i in range(stride):            # undo the PNG row filter
            a = out[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                raise CommandError(f"{path}: unknown PNG filter type {kind}")
            out[i] = (line[i] + pred) & 0xFF
        rows.append(out)
        prev = out
    pixels = np.array(rows, dtype=np.float64).reshape(height, width, channels)
    grey = pixels[..., 0] if channels <= 2 else pixels[..., :3] @ [0.299, 0.587, 0.114]
    return grey


def cmd_predict(args):
    model = _load_model(args.model)
    meta = model.metadata
    if args.input.lower().endswith(".png"):
        try:
            image = read_png(args.input)
        except FileNotFoundError:
            raise CommandError(f"no image file at {args.input}") from None
        if image.size != model.input_dim:
            raise CommandError(f"{args.input} is {image.shape[1]}×{image.shape[0]} pixels but the model takes "
                               f"{model.input_dim} inputs (e.g. 28×28)")
        if meta.get("task") in ("mnist", "fashion-mnist") and image.mean() > 127:
            image = 255 - image          # MNIST digits are light on a dark background
        x = image.reshape(1, -1)
    else:
        try:
            x = np.load(args.input, allow_pickle=False)
        except FileNotFoundError:
            raise CommandError(f"no file at {args.input}") from None
        except (OSError, ValueError) as exc:
            raise CommandError(f"{args.input} is not a readable .npy file ({exc})") from None
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(1, -1) if x.size == model.input_dim else x.reshape(len(x), -1)
        if x.shape[1] != model.input_dim:
            raise CommandError(f"{args.input} holds rows of {x.shape[1]} values; the model takes {model.input_dim}")
    if "preprocessing" in meta:
        x = preprocess(x, meta["preprocessing"])
    probabilities = model.predict(x)
    names = meta.get("class_names") or [str(i) for i in range(model.output_units)]
    for row in probabilities:
        best = int(np.argmax(row))
        print(f"{names[best]}  (class {best}, probability {row[best]:.3f})")
    return 0


# ---------------------------------------------------------------- pictures (train --features, --plots)

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")     # load_iris()'s columns


def select_features(args, x_train, x_test):
    """Keep the columns named by --features (iris); before training, check that --plots can be written."""
    if args.plots:
        from pathlib import Path
        from fastnn.plot import require_matplotlib
        try:
            require_matplotlib()
            Path(args.plots).mkdir(parents=True, exist_ok=True)
        except (ImportError, OSError) as exc:
            raise CommandError(f"--plots {args.plots}: {exc}") from None
    if not args.features:
        return x_train, x_test
    if args.task != "iris":
        raise CommandError(f"--features names measurements of iris; the inputs of {args.task} are pixels")
    if len(set(args.features)) != len(args.features):
        raise CommandError(f"--features names a feature twice: {' '.join(args.features)}")
    columns = [IRIS_FEATURES.index(name) for name in args.features]
    return x_train[:, columns], x_test[:, columns]


def write_plots(args, model, history, x_test, y_test, class_names, prep):
    """--plots DIR: learning curves, confusion matrix, misclassified test images (image tasks) and the
    decision boundary (two features) as PNG files, drawn in the data's own units (cm, pixel values)."""
    from pathlib import Path
    from fastnn.plot import training_figures
    raw = x_test * np.asarray(prep["scale"]) + np.asarray(prep["mean"])        # preprocess undone
    feature_names = [f"{name} (cm)" for name in args.features] if args.features else None
    figures = training_figures(model, history, raw, y_test, class_names=class_names, feature_names=feature_names,
                               transform=lambda x: preprocess(x, prep))
    for stem, figure in figures.items():
        path = Path(args.plots) / f"{stem}.png"
        figure.savefig(path, dpi=100)
        print(f"wrote {path}")


def cmd_export(args):
    model = _load_model(args.model)
    try:
        model.export(args.output, format="onnx", opset=args.opset)
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output} (ONNX, opset {args.opset}, {model.dtype.name}, input 'x' of shape "
          f"(batch, {model.input_dim}), output 'y' of shape (batch, {model.output_units}))")
    return 0


def explain_data(model, source, samples, data_dir=None):
    """The first ``samples`` training samples of a task (scaled as the model's metadata says), or
    the arrays ``x`` and ``y`` of an .npz file (used as they are), as (x, y) for explain_step."""
    from fastnn.utils import to_categorical
    meta = model.metadata
    source = source or meta.get("task")
    if source is None:
        raise CommandError("the model does not say which task it was trained on: give --data TASK or --data FILE.npz")
    if source in TASKS:
        if meta.get("task") not in (None, source):
            raise CommandError(f"the model was trained on {meta['task']}, not {source}")
        x, labels, _, _, _ = load_task(source, data_dir)
        if meta.get("features"):
            x = x[:, [IRIS_FEATURES.index(name) for name in meta["features"]]]
        x, labels = x[:samples], labels[:samples]
        if "preprocessing" in meta:
            x = preprocess(x, meta["preprocessing"])
        if x.shape[1] != model.input_dim:
            raise CommandError(f"{source} has {x.shape[1]} features but the model expects {model.input_dim}")
        y = labels if model.loss.needs == "class_ids" else to_categorical(labels, model.output_units)
        return x, y
    if not source.lower().endswith(".npz"):
        raise CommandError(f"--data takes a task ({', '.join(TASKS)}) or an .npz file with arrays x and y, "
                           f"got {source!r}")
    try:
        with np.load(source, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise CommandError(f"{source} must hold arrays named x and y, it has {', '.join(data.files)}")
            x, y = data["x"], data["y"]
    except FileNotFoundError:
        raise CommandError(f"no file at {source}") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{source} is not a readable .npz file ({exc})") from None
    return x[:samples], y[:samples]


def cmd_explain(args):
    from fastnn.io import write_atomically
    model = _load_model(args.model)
    if model.loss is None:
        raise CommandError(f"{args.model} holds an uncompiled model: it has no loss to take a step with")
    x, y = explain_data(model, args.data, args.samples, args.data_dir)
    explanation = model.explain_step(x, y)
    if args.format == "html":
        text = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>fastnn explain</title></head><body>'
                + explanation.to_html(precision=args.precision) + "</body></html>\n")
    else:
        text = explanation.to_text(precision=args.precision) + "\n"
    if args.out:
        try:
            write_atomically(args.out, lambda f: f.write(text.encode("utf-8")))
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out} (one step of {args.model} on {len(x)} samples, {args.format})")
    else:
        sys.stdout.write(text)
    return 0


def cmd_config(args):
    from fastnn import show_config
    show_config()
    return 0


# ---------------------------------------------------------------- argument parsing


def rate(text):
    """An argparse type: a number in [0, 1) (a dropout rate, a label smoothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="fastnn", description="Train and use the course's neural networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a network on a task and report its test accuracy")
    train.add_argument("task", choices=TASKS)
    train.add_argument("--hidden", type=int, nargs="*", metavar="UNITS", help="hidden layer sizes, e.g. 64 64 64")
    train.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS,
                       help="activation of the hidden layers (default relu)")
    train.add_argument("--dropout", type=rate, default=0.0, metavar="RATE",
                       help="a Dropout layer of this rate after each hidden layer")
    train.add_argument("--loss", default="categorical_crossentropy", choices=LOSSES)
    train.add_argument("--label-smoothing", type=rate, default=0.0, metavar="LS",
                       help="targets y·(1 − LS) + LS/k for the cross-entropies")
    train.add_argument("--focal-gamma", type=float, default=2.0, help="γ of the focal loss (default 2)")
    train.add_argument("--focal-alpha", default=None, help="α of the focal loss: a number or 'balanced'")
    train.add_argument("--class-weight", choices=["balanced"], default=None,
                       help="balanced cross-entropy: α_i = n / (k·n_i)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS,
                       help="sgd (default, with the task's settings) or another with Keras' defaults")
    train.add_argument("--lr", type=float, help="learning rate γ")
    train.add_argument("--momentum", type=float)
    train.add_argument("--decay", type=float, help="rate at step t is lr / (1 + decay·t)")
    train.add_argument("--nesterov", action="store_true")
    train.add_argument("--seed", type=int)
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument("--backend", default="compiled", choices=["compiled", "numpy"])
    train.add_argument("--verbose", type=int, default=1, choices=[0, 1])
    train.add_argument("--save", metavar="PATH", help="write the trained model to this file")
    train.add_argument("--data", metavar="DIR", help="folder with the MNIST-style IDX files")
    train.add_argument("--features", nargs="+", choices=IRIS_FEATURES, metavar="NAME",
                       help=f"iris: train on these measurements only ({', '.join(IRIS_FEATURES)})")
    train.add_argument("--plots", metavar="DIR", help="write learning curves, confusion matrix, misclassified "
                       "images and, for two features, the decision boundary as PNG files into DIR "
                       "(needs pip install fastnn[plot])")
    train.set_defaults(run=cmd_train)

    evaluate = sub.add_parser("evaluate", help="loss and accuracy of a saved model on a task's test set")
    evaluate.add_argument("model")
    evaluate.add_argument("dataset", choices=TASKS)
    evaluate.add_argument("--data", metavar="DIR")
    evaluate.set_defaults(run=cmd_evaluate)

    summary = sub.add_parser("summary", help="the parameter table of a saved model")
    summary.add_argument("model")
    summary.set_defaults(run=cmd_summary)

    predict = sub.add_parser("predict", help="classify a PNG image or the rows of a .npy file")
    predict.add_argument("model")
    predict.add_argument("input", metavar="IMAGE.png|file.npy")
    predict.set_defaults(run=cmd_predict)

    export = sub.add_parser("export", help="write a saved model as an ONNX file (needs pip install fastnn[onnx])")
    export.add_argument("model")
    export.add_argument("output", metavar="OUT.onnx")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    export.set_defaults(run=cmd_export)

    explain = sub.add_parser("explain", help="one training step of a saved model, layer by layer: I, Z, A, δ, "
                             "dW, db and the update (the model file is not changed)")
    explain.add_argument("model")
    explain.add_argument("--data", metavar="TASK|FILE.npz",
                         help="the samples: the first ones of a task's training set (default: the model's task), "
                              "or the arrays x and y of an .npz file")
    explain.add_argument("--data-dir", metavar="DIR", dest="data_dir", help="folder with the MNIST-style IDX files")
    explain.add_argument("--samples", type=int, default=2, help="how many samples the step takes (default 2)")
    explain.add_argument("--format", choices=["text", "html"], default="text")
    explain.add_argument("--precision", type=int, default=4, help="significant digits shown (default 4)")
    explain.add_argument("--out", metavar="FILE", help="write to FILE instead of the terminal")
    explain.set_defaults(run=cmd_explain)

    config = sub.add_parser("config", help="the instruction set, kernels, BLAS and threads fastnn uses here")
    config.set_defaults(run=cmd_config)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        for name in ("epochs", "batch_size"):
            value = getattr(args, name)
            if value is not None and value < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        if args.hidden is not None and any(h < 1 for h in args.hidden):
            parser.error("--hidden sizes must be at least 1")
        if args.focal_alpha not in (None, "balanced"):
            try:
                float(args.focal_alpha)
            except ValueError:
                parser.error("--focal-alpha must be a number or 'balanced'")
    if args.command == "explain":
        if args.samples < 1:
            parser.error("--samples must be at least 1")
        if not 1 <= args.precision <= 17:
            parser.error("--precision must be between 1 and 17")
    try:
        return args.run(args)
    except CommandError as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:            # a setting the library rejected (e.g. a negative learning rate)
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
