"""What fastnn runs on this machine: the instruction set, the kernels, the BLAS, the threads."""
import os
import platform
import sys


def _config():
    from fastnn import __version__
    from fastnn._kernels import _blas, _isa
    from fastnn._threads import _blas_controller, available_threads
    from fastnn.models import _SMALL_STEP

    detected, used = _blas.cpu_isa()
    blas = [{"library": lib.internal_api, "version": lib.version, "threads": lib.num_threads,
             "architecture": getattr(lib, "architecture", None), "path": lib.filepath}
            for lib in _blas_controller().lib_controllers if lib.user_api == "blas"]
    threads = available_threads()
    return {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": {"detected": detected, "used": used, "FASTNN_CPU": _isa.REQUESTED},
        "kernels": {
            "float32 products": _blas.sgemm_kernel(),
            "float64 products": "blas",
            "elementwise": used,
        },
        "blas": blas,
        "threads": {
            "available": threads,
            "FASTNN_NUM_THREADS": os.environ.get("FASTNN_NUM_THREADS"),
            "training": (f"one worker below {_SMALL_STEP:,} multiply-adds per forward pass of a batch, "
                         "else two" if threads >= 2 else "one worker"),
            "predict": "two workers from 256 rows" if threads >= 2 else "one worker",
        },
    }


def show_config(mode="stdout"):
    """Print (or return) what fastnn uses on this machine.

    Shows the instruction set the CPU has and the one fastnn's own kernels use (capped by
    the environment variable ``FASTNN_CPU``: ``avx512``, ``avx2`` or ``generic``), which
    code runs the float32 and float64 matrix products (fastnn's own kernel or BLAS), the
    BLAS libraries loaded with their thread counts, and how many threads training and
    ``predict`` may use (``FASTNN_NUM_THREADS``, capped by the BLAS limit).

    Parameters
    ----------
    mode : {"stdout", "dicts"}
        ``"stdout"`` prints a short report; ``"dicts"`` returns it as a dict instead.
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    config = _config()
    if mode == "dicts":
        return config
    cpu = config["cpu"]
    cap = cpu["FASTNN_CPU"] or "unset: the best the CPU has"
    lines = [f"fastnn {config['fastnn']} on Python {config['python']}, {config['platform']}",
             f"instruction set: {cpu['used']} (this CPU has {cpu['detected']}; FASTNN_CPU {cap})"]
    lines += [f"{name}: {value}" for name, value in config["kernels"].items()]
    for lib in config["blas"] or [{"library": "none found", "version": None, "threads": None,
                                   "architecture": None, "path": ""}]:
        detail = ", ".join(f"{k} {v}" for k, v in (("version", lib["version"]), ("threads", lib["threads"]),
                                                     ("core type", lib["architecture"])) if v is not None)
        lines.append(f"BLAS: {lib['library']} ({detail}) {lib['path']}".rstrip())
    threads = config["threads"]
    lines.append(f"threads: {threads['available']} available (FASTNN_NUM_THREADS "
                 f"{threads['FASTNN_NUM_THREADS'] or 'unset'}); training: {threads['training']}; "
                 f"predict: {threads['predict']}")
    print("\n".join(lines))
