# The instruction-set level of fastnn's own kernels (csrc/cpu.h).  Every compiled module
# links its own copy of csrc/cpu.c and sets the cap fastnn._kernels._isa read once from
# FASTNN_CPU, at its import, before any of its kernels runs.
cdef extern from "cpu.h" nogil:
    enum:
        FNN_ISA_GENERIC, FNN_ISA_AVX2, FNN_ISA_AVX512
    int fnn_cpu_detected_isa()
    int fnn_cpu_isa()
    void fnn_cpu_set_cap(int isa)
