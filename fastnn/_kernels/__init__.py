"""fastnn's compiled kernels (Cython over the C in csrc/ and BLAS). Use them through fastnn.backend."""
