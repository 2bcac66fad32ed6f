from cython cimport floating
from fastnn._kernels._ckernels cimport fnn_int

cdef int bias_activation(int act, const floating *b_o, floating *z_bo, floating *a_bo,
                         fnn_int n_b, fnn_int n_o) noexcept nogil

cdef int activation_backward_raw(int act, const floating *z_bo, const floating *a_bo,
                                 const floating *da_bo, floating *delta_bo,
                                 fnn_int n_b, fnn_int n_o) noexcept nogil
