"""The instruction set fastnn's own kernels may use, read once from ``FASTNN_CPU``.

``FASTNN_CPU`` caps it: ``avx512``, ``avx2`` or ``generic`` (plain C, and BLAS for every
product); unset (or empty, or ``auto``), fastnn uses the best the CPU has.  The value is
read once, when fastnn's compiled modules are first imported; each of them sets the same
cap in its copy of ``csrc/cpu.c`` (changing the variable afterwards changes nothing).
A cap above what the CPU has is lowered to it, with one warning (see ``_blas``).
"""
import os

NAMES = ("generic", "avx2", "avx512")          # index = FNN_ISA_* of csrc/cpu.h
CHOICES = ("avx512", "avx2", "generic")


def _read():
    raw = os.environ.get("FASTNN_CPU", "")
    value = raw.strip().lower()
    if value in ("", "auto"):
        return None, len(NAMES) - 1
    if value not in NAMES:
        raise ValueError(f"FASTNN_CPU={raw!r} is not a choice: set it to one of {', '.join(CHOICES)} "
                         "(or leave it unset for the best this CPU has)")
    return value, NAMES.index(value)


#: the value asked for ("avx512", "avx2", "generic"), or None when FASTNN_CPU is unset
REQUESTED, CAP = _read()
