from cython cimport floating

cdef void dense_forward_raw(const floating *x_bi, const floating *w_io, const floating *b_o,
                            floating *z_bo, int n_b, int n_i, int n_o) noexcept nogil

cdef void dense_backward_raw(const floating *x_bi, const floating *w_io, const floating *delta_bo,
                             floating *dw_io, floating *db_o, floating *dx_bi,
                             int n_b, int n_i, int n_o) noexcept nogil
