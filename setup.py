"""Build of fastnn's compiled core.

Every extension is listed explicitly with the hand-written C it links.
Environment switches (documented in the README):

* ``FASTNN_NATIVE=1``  adds ``-march=native`` (faster, but the build only runs
  on CPUs like the one that compiled it).
* ``FASTNN_DEBUG=1``   turns Cython's bounds/wraparound checks back on.
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# -fno-wrapv undoes Python's -fwrapv: the kernels never rely on signed overflow wrapping,
# and with wrapping defined GCC cannot simplify their int index arithmetic (fastnn's GEMM
# kernel ran at half speed).
CFLAGS = ["-O3", "-std=c11", "-fno-math-errno", "-fno-wrapv"]
if os.environ.get("FASTNN_NATIVE") == "1":
    CFLAGS.append("-march=native")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
}
if os.environ.get("FASTNN_DEBUG") == "1":
    DIRECTIVES.update(boundscheck=True, wraparound=True, initializedcheck=True)

C_KERNELS = ["csrc/kernels.c"]


def extension(name, c_sources=()):
    return Extension(
        f"fastnn._kernels.{name}",
        [f"fastnn/_kernels/{name}.pyx", *c_sources],
        include_dirs=["csrc", numpy.get_include()],
        depends=["csrc/fastnn_kernels.h", "csrc/kernels_template.h", "csrc/team.h", "csrc/gemm.h", "csrc/gemm_panel.h",
                 "csrc/gemm_internal.h", "csrc/gemm_driver.h", "csrc/gemm_avx2_panel.h", "csrc/cpu.h", "csrc/portable.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=CFLAGS,
        extra_link_args=["-pthread"],
    )


EXTENSIONS = [
    extension("_blas", ["csrc/gemm.c", "csrc/gemm_avx2.c", "csrc/cpu.c"]),
    extension("dense", C_KERNELS),
    extension("activations", C_KERNELS),
    extension("losses", C_KERNELS),
    extension("optim", C_KERNELS),
    extension("train", C_KERNELS + ["csrc/team.c"]),
]

setup(ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES))
