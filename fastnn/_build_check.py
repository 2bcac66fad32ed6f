"""Importing fastnn from its unbuilt source folder: say what happened and the ways out.

Python looks for modules first in the folder it was started from (``python``,
``python -c``, ``python -m``, a REPL, a notebook server). Started in the root of a
clone, ``import fastnn`` therefore finds the source folder ``fastnn/`` before the
installed copy, and unless the compiled kernels were built in place there, the first
compiled import fails with a bare "cannot import name '_blas'". This check runs before
any compiled import and explains instead. It costs one listing of a small folder.

An installed copy has its compiled modules beside any ``.pyx`` it carries, so for it
the check finds nothing to miss.
"""
import importlib.machinery
import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def missing_kernels(package_dir=_PACKAGE_DIR):
    """The compiled modules of ``package_dir/_kernels`` whose Cython source is there but
    whose extension module for this Python is not.

    Parameters
    ----------
    package_dir : str or os.PathLike
        A ``fastnn`` package folder: the source folder of a clone, or an installed copy.

    Returns
    -------
    list of str
        Module names (``["_blas", "dense", ...]``), sorted; empty for a built source
        folder and for an installed copy.
    """
    kernels = Path(package_dir) / "_kernels"
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return sorted(pyx.stem for pyx in kernels.glob("*.pyx")
                  if not any((kernels / f"{pyx.stem}{suffix}").is_file() for suffix in suffixes))


def installed_copy(package_dir=_PACKAGE_DIR):
    """The folder of another fastnn Python could import (from site-packages, or an editable
    install of another clone), or None."""
    own = Path(package_dir).resolve()
    others = [entry for entry in sys.path if Path(entry or os.curdir).resolve() != own.parent]
    specs = [importlib.machinery.PathFinder.find_spec("fastnn", others)]
    for finder in sys.meta_path:                 # e.g. setuptools' finder of an editable install
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "find_spec"):
            try:
                specs.append(finder.find_spec("fastnn", None))
            except Exception:                    # a third-party finder's trouble is not ours to report
                continue
    for spec in specs:
        if spec is not None and spec.origin and Path(spec.origin).resolve().parent != own:
            return Path(spec.origin).parent
    return None


def check_compiled_kernels(package_dir=_PACKAGE_DIR):
    """Raise an ImportError that explains itself when ``package_dir`` is an unbuilt source folder."""
    missing = missing_kernels(package_dir)
    if not missing:
        return
    package_dir = Path(package_dir)
    root = package_dir.parent
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = installed_copy(package_dir)
    if other is not None:
        installed = f"The installed fastnn is in {other}."
    else:
        installed = "No installed fastnn was found on sys.path: run `pip install .` in the repository first."
    raise ImportError(
        f"fastnn was imported from its source folder {package_dir}, whose compiled kernels are not "
        f"built for this Python ({version}): {', '.join(missing)}.\n"
        f"Python looks first in the folder it starts in; started in the repository's root ({root}), "
        f"it finds this folder before the installed fastnn. Two ways out:\n"
        f"  1. build the kernels in place, so that this folder works: in {root} run\n"
        f"         pip install -e .\n"
        f"     (or `python setup.py build_ext --inplace`; again after changing csrc/ or a .pyx file);\n"
        f"  2. use the installed fastnn: start Python or the notebook in another folder. The `fastnn`\n"
        f"     and `pytest` commands work here as they are: run `fastnn ...`, not `python -m fastnn ...`.\n"
        f"{installed}",
        name="fastnn", path=str(package_dir))
