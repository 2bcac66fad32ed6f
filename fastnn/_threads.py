"""How many threads fastnn may use, and limiting BLAS' own threads (through threadpoolctl).

The BLAS libraries are found once (threadpoolctl's controller scans the loaded
libraries, which takes about a millisecond); limiting and reading their thread
counts afterwards costs microseconds, so fit and predict can do it on every call.
"""
import os

_controller = None


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        import fastnn._kernels._blas  # noqa: F401  (loads SciPy's BLAS before the scan)
        _controller = ThreadpoolController()
    return _controller


def available_threads():
    """The threads fastnn may use: FASTNN_NUM_THREADS if set, else the CPUs this process may
    run on; either way capped by the current BLAS thread limit (so ``threadpool_limits(1)``,
    ``fastnn.utils.blas_threads(1)`` or a scikit-learn estimator's n_threads=1 make fastnn
    single-threaded too)."""
    setting = os.environ.get("FASTNN_NUM_THREADS")
    if setting:
        try:
            threads = int(setting)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"FASTNN_NUM_THREADS must be a positive integer, got {setting!r}")
    else:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    blas = [lib.num_threads for lib in _blas_controller().lib_controllers if lib.user_api == "blas"]
    return min([threads] + blas)


def limit_blas(n):
    """Context manager: BLAS limited to n threads inside, restored on exit."""
    return _blas_controller().limit(limits=n, user_api="blas")
