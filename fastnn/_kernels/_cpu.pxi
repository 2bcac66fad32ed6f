# Included by every compiled module: its copy of csrc/cpu.c takes the cap read once from
# FASTNN_CPU (fastnn/_kernels/_isa.py) before any of its kernels runs.
from fastnn._kernels._cpu cimport fnn_cpu_isa, fnn_cpu_set_cap
from fastnn._kernels._isa import CAP as _ISA_CAP

fnn_cpu_set_cap(_ISA_CAP)


def _kernel_isa():
    """The instruction set this module's kernels use: 0 plain C, 1 AVX2 + FMA, 2 AVX-512."""
    return fnn_cpu_isa()
