"""Python started in the repository's root finds the source folder fastnn/ first.

Unbuilt, importing it must say what happened and the two ways out (build in place, or
start elsewhere), never fail with a bare "cannot import name '_blas'"; built in place,
it must simply work. Each test copies the source folder (without any compiled module)
into a fresh directory and runs Python there, as a student would in a fresh clone.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn

SOURCE = Path(__file__).resolve().parents[1] / "fastnn"
INSTALLED = Path(fastnn.__file__).resolve().parent

pytestmark = pytest.mark.skipif(not (SOURCE / "_kernels").is_dir(), reason="no source folder beside the tests")


def unbuilt_clone(tmp_path):
    """A repository root holding only the sources of fastnn/ (no .so, no generated .c)."""
    shutil.copytree(SOURCE, tmp_path / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "*.html", "__pycache__"))
    return tmp_path


def python_in(root, *args):
    """Python started in ``root``; PYTHONPATH is kept, so that "the installed fastnn" is the one this
    test process imports (e.g. a build put first on the path), while ``root`` still comes first."""
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["-c", "import fastnn"], ["-m", "fastnn", "train", "iris"]],
                         ids=["import", "python -m fastnn"])
def test_unbuilt_source_folder_explains_itself(tmp_path, args):
    root = unbuilt_clone(tmp_path)
    result = python_in(root, *args)
    assert result.returncode != 0
    message = result.stderr
    assert "cannot import name" not in message
    assert f"source folder {root / 'fastnn'}" in message
    assert "_blas" in message and "not built" in message
    assert "pip install -e ." in message                          # way out 1: build in place
    assert "start Python or the notebook in another folder" in message   # way out 2: the installed copy
    if INSTALLED != SOURCE.resolve():
        assert f"The installed fastnn is in {INSTALLED}" in message


def test_source_folder_built_in_place_works(tmp_path):
    root = unbuilt_clone(tmp_path)
    # "Build in place": the compiled modules next to their .pyx, as pip install -e . leaves them.
    for module in (INSTALLED / "_kernels").iterdir():
        if module.suffix in (".so", ".pyd"):
            shutil.copy2(module, root / "fastnn" / "_kernels" / module.name)
    result = python_in(root, "-c", "import fastnn; print(fastnn.__file__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(root / "fastnn" / "__init__.py")
    result = python_in(root, "-m", "fastnn", "train", "iris", "--epochs", "2", "--verbose", "0")
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout


def test_missing_kernels_names_each_unbuilt_module(tmp_path):
    from fastnn._build_check import missing_kernels
    root = unbuilt_clone(tmp_path)
    assert missing_kernels(root / "fastnn") == sorted(p.stem for p in (SOURCE / "_kernels").glob("*.pyx"))
    assert missing_kernels(INSTALLED) == []          # an installed copy has its compiled modules: never flagged
