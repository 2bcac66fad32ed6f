"""Build of fastnn's compiled core.

Every extension is listed explicitly with the hand-written C it links.
Environment switches (documented in the README):

* ``FASTNN_NATIVE=1``  adds ``-march=native`` (faster, but the build only runs
  on CPUs like the one that compiled it; GCC and Clang only).
* ``FASTNN_DEBUG=1``   turns Cython's bounds/wraparound checks back on.

The flags follow the compiler setuptools picks: MSVC (``cl.exe``, how CPython is built
on Windows) or a GCC-like one (GCC, Clang, MinGW).  Which instruction set the kernels
use is decided at run time (``csrc/cpu.c``, capped by ``FASTNN_CPU``), never here.
"""
import glob
import json
import os
import sys

import Cython
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -fno-wrapv undoes Python's -fwrapv: the kernels never rely on signed overflow wrapping,
# and with wrapping defined GCC cannot simplify their int index arithmetic (fastnn's GEMM
# kernel ran at half speed).  -ffp-contract=off keeps multiply-adds uncontracted, so every
# instruction set's build of a kernel rounds the same way (GCC's default in ISO C mode, but
# not Clang's, which fuses a·b + c where the target has FMA).
GCC_FLAGS = ["-O3", "-std=c11", "-fno-math-errno", "-fno-wrapv", "-ffp-contract=off"]
if os.environ.get("FASTNN_NATIVE") == "1":
    GCC_FLAGS.append("-march=native")
GCC_LINK = ["-pthread"]
# MSVC: C11 with restrict and _Alignas, no contraction of multiply-adds.
MSVC_FLAGS = ["/O2", "/std:c11", "/fp:precise"]
MSVC_LINK = []

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
}
if os.environ.get("FASTNN_DEBUG") == "1":
    DIRECTIVES.update(boundscheck=True, wraparound=True, initializedcheck=True)

PLATFORM = ["csrc/cpu.c", "csrc/platform.c"]
C_KERNELS = ["csrc/kernels.c"]
HEADERS = ["csrc/fastnn_kernels.h", "csrc/kernels_template.h", "csrc/kernels_vectorised.h",
           "csrc/kernels_instances.h", "csrc/team.h", "csrc/gemm.h", "csrc/gemm_panel.h", "csrc/gemm_avx2_panel.h",
           "csrc/left_pack.h", "csrc/gemm_panel_calls.h", "csrc/gemm_driver.h", "csrc/gemm_internal.h",
           "csrc/cpu.h", "csrc/portable.h", "csrc/platform.h"]


def extension(name, c_sources=()):
    return Extension(
        f"fastnn._kernels.{name}",
        [f"fastnn/_kernels/{name}.pyx", *c_sources, *PLATFORM],
        include_dirs=["csrc", numpy.get_include()],
        depends=HEADERS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


class BuildExt(build_ext):
    """Sets each extension's flags for the compiler actually used."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        for ext in self.extensions:
            ext.extra_compile_args = list(MSVC_FLAGS if msvc else GCC_FLAGS)
            ext.extra_link_args = list(MSVC_LINK if msvc else GCC_LINK)
        super().build_extensions()


EXTENSIONS = [
    extension("_blas", ["csrc/gemm.c", "csrc/gemm_avx2.c"]),
    extension("dense", C_KERNELS),
    extension("activations", C_KERNELS),
    extension("losses", C_KERNELS),
    extension("optim", C_KERNELS),
    extension("train", C_KERNELS + ["csrc/team.c"]),
]

# ---- Reusing an earlier build (e.g. `pip install ".[test]"` after `pip install .`).
# pip builds in a fresh environment each time, whose numpy and Cython files (numpy's
# __init__.pxd, Cython's libc/*.pxd, which the kernels cimport) are newer than the C that
# Cython wrote last time; cythonize would take that as a change, write every .c again, and
# setuptools would then compile everything again. What can change the compiled code is
# recorded instead (build/fastnn-build.json): while it is the same and the generated C is
# newer than this project's own .pyx/.pxd/.pxi files and this setup.py, the extensions
# are built from that C, and setuptools skips those whose shared library is up to date.
# Anything else that differs (Cython, NumPy or Python version, flags, directives, the
# compiler) forces a full rebuild.
STAMP = os.path.join("build", "fastnn-build.json")
RECIPE = {"cython": Cython.__version__, "numpy": numpy.__version__, "python": sys.version,
          "directives": DIRECTIVES, "gcc_flags": GCC_FLAGS, "msvc_flags": MSVC_FLAGS,
          # the compiler and flags given from outside (e.g. CC=clang for the portability check)
          "environment": {k: os.environ.get(k) for k in ("CC", "CFLAGS", "CPPFLAGS", "LDSHARED", "LDFLAGS")}}
OWN_SOURCES = glob.glob("fastnn/_kernels/*.p[xy][dxi]") + [__file__]


def _recorded_recipe():
    try:
        with open(STAMP, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _reuse_generated_c(extensions):
    """Point each extension whose generated C is current at that C instead of its .pyx."""
    newest_own = max(os.path.getmtime(path) for path in OWN_SOURCES)
    reused = 0
    for ext in extensions:
        pyx = ext.sources[0]
        c_file = pyx[:-len(".pyx")] + ".c"
        if os.path.exists(c_file) and os.path.getmtime(c_file) > newest_own:
            ext.sources[0] = c_file
            reused += 1
    return reused


def _record_recipe():
    os.makedirs("build", exist_ok=True)
    with open(STAMP + ".tmp", "w", encoding="utf-8") as f:
        json.dump(RECIPE, f, indent=1)
    os.replace(STAMP + ".tmp", STAMP)


same_recipe = _recorded_recipe() == json.loads(json.dumps(RECIPE))
if same_recipe:
    _reuse_generated_c(EXTENSIONS)
modules = cythonize(EXTENSIONS, compiler_directives=DIRECTIVES, force=not same_recipe)
_record_recipe()

setup(ext_modules=modules, cmdclass={"build_ext": BuildExt})
