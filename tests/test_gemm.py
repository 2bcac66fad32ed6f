"""fastnn's own float32 GEMM (csrc/gemm.c: AVX-512; csrc/gemm_avx2.c: AVX2 + FMA) against
float64 NumPy and against BLAS.

These tests check the kernel this CPU runs (capped by FASTNN_CPU: run them again with
FASTNN_CPU=avx2 to check the AVX2 kernel on an AVX-512 CPU); where the CPU has neither, or
FASTNN_GEMM=blas, the kernel is never used and they check BLAS alone.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn._kernels import _blas

OWN = _blas.use_own_sgemm(True)     # probe: is the kernel available here?
_blas.use_own_sgemm(OWN)


@pytest.fixture(params=["own", "blas"])
def kernel(request):
    if request.param == "own" and _blas.sgemm_kernel() == "blas":
        pytest.skip("this CPU has neither AVX-512 nor AVX2 (or FASTNN_GEMM=blas): BLAS does every product")
    previous = _blas.use_own_sgemm(request.param == "own")
    yield request.param
    _blas.use_own_sgemm(previous)


def operands(rng, m, n, k, trans_a, trans_b):
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return A, B


def reference(A, B, trans_a, trans_b):
    a = A.astype(np.float64)
    b = B.astype(np.float64)
    return (a.T if trans_a else a) @ (b.T if trans_b else b)


# shapes around the kernel's blocking: panels of 10 rows (AVX-512: of 14 from m = 140 on, when
# C has more than 128 columns; AVX2: register tiles of 5 rows and 16 columns), strips of
# NR = 32 columns, depth blocks of at most 1024 (AVX2: 256; k cut evenly), row blocks of
# MC = 140, and rows of A read in place rather than packed when C has at most 128 columns
# (tall products included: predict's narrow and output layers)
SHAPES = [(1, 1, 1), (10, 32, 1024), (11, 33, 1025), (9, 31, 1023), (12, 40, 2500), (100, 64, 784), (784, 64, 100),
          (5, 16, 256), (6, 17, 257), (4, 15, 255), (15, 48, 513), (7, 8, 9),
          (100, 10, 64), (121, 17, 770), (139, 40, 30), (140, 32, 16), (141, 65, 900), (240, 96, 5),
          (3, 1000, 2), (50, 1024, 1024), (300, 130, 97), (20, 128, 33), (29, 129, 460),
          (293, 128, 50), (1030, 10, 100), (283, 129, 31)]


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_product_matches_float64(kernel, m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m * 1000 + n + k)
    A, B = operands(rng, m, n, k, trans_a, trans_b)
    C = np.full((m, n), np.nan, dtype=np.float32)        # beta = 0: C must not be read
    _blas.matmul(A, B, C, trans_a=trans_a, trans_b=trans_b)
    expected = reference(A, B, trans_a, trans_b)
    # float32 accumulation over k terms of size ~1: error ~ sqrt(k)·eps
    np.testing.assert_allclose(C, expected, rtol=0, atol=2e-6 * np.sqrt(k) * 8)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.01, 0.9), (2.5, 0.0), (0.0, 0.5)])
def test_alpha_and_beta(kernel, alpha, beta):
    rng = np.random.default_rng(7)
    m, n, k = 37, 45, 1500         # two depth blocks: the second adds to the first
    A, B = operands(rng, m, n, k, True, False)
    C0 = rng.standard_normal((m, n)).astype(np.float32)
    C = C0.copy()
    _blas.matmul(A, B, C, trans_a=True, alpha=alpha, beta=beta)
    expected = alpha * reference(A, B, True, False) + beta * C0
    np.testing.assert_allclose(C, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_nothing_written_past_c(kernel, beta):
    """Edge tiles are masked: the memory right after C (here the next rows of a bigger
    buffer) keeps its values, for partial row panels and partial column strips."""
    rng = np.random.default_rng(3)
    m, n, k = 23, 40, 50
    A, B = operands(rng, m, n, k, False, False)
    buffer = np.full((m + 3, n), 7.0, dtype=np.float32)
    C = buffer[:m]                               # C-contiguous, followed by 3 guard rows
    _blas.matmul(A, B, C, beta=beta)
    assert np.all(buffer[m:] == 7.0)
    np.testing.assert_allclose(C, reference(A, B, False, False) + 7.0 * beta, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 300), n=st.integers(1, 80), k=st.integers(1, 2100),
       trans_a=st.booleans(), trans_b=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_own_kernel_equals_blas(m, n, k, trans_a, trans_b, seed):
    """Random shapes: fastnn's kernel and BLAS agree to float32 rounding."""
    rng = np.random.default_rng(seed)
    A, B = operands(rng, m, n, k, trans_a, trans_b)
    out = {}
    for own in (True, False):
        previous = _blas.use_own_sgemm(own)
        try:
            out[own] = _blas.matmul(A, B, np.empty((m, n), np.float32), trans_a=trans_a, trans_b=trans_b)
        finally:
            _blas.use_own_sgemm(previous)
    np.testing.assert_allclose(out[True], out[False], rtol=0, atol=2e-6 * np.sqrt(k) * 8)


# (rows of the data, its columns, rows picked, columns of C): panels read in place (C up to
# 128 columns) and packed (wider), edge rows, depth blocks, 14-row panels (tall transposed)
GATHERED = [(500, 784, 100, 64), (300, 50, 37, 200), (400, 1000, 150, 33), (400, 16, 23, 7),
            (200, 30, 160, 20), (600, 300, 333, 140), (600, 784, 50, 64), (90, 470, 1, 129),
            (300, 1100, 40, 64), (300, 1100, 30, 150)]


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("n_data, k_cols, n_picked, n", GATHERED)
def test_rows_picked_by_index_are_read_in_place(n_data, k_cols, n_picked, n, trans_a):
    """C := g(op(A[rows])·B + bias) with the rows of A read where they lie (training's first
    layer reads each batch from the data this way): bit for bit the product of the gathered
    copy A[rows] followed by + bias and relu, and within float32 rounding of float64 NumPy;
    rows may repeat."""
    if _blas.sgemm_kernel() == "blas":
        assert not _blas.matmul_rows(np.zeros((2, 2), np.float32), np.zeros(2, np.intp),
                                     np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
        pytest.skip("rows are read in place by fastnn's own kernel only")
    rng = np.random.default_rng(n_data + k_cols + n_picked + n)
    A = rng.standard_normal((n_data, k_cols)).astype(np.float32)
    rows = rng.integers(0, n_data, n_picked).astype(np.intp)
    B = rng.standard_normal((n_picked if trans_a else k_cols, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    C = np.full((k_cols if trans_a else n_picked, n), np.nan, dtype=np.float32)
    assert _blas.matmul_rows(A, rows, B, C, trans_a=trans_a, bias=bias, relu=True)
    copied = _blas.matmul(np.ascontiguousarray(A[rows]), B, np.empty_like(C), trans_a=trans_a)
    np.testing.assert_array_equal(C, np.maximum(copied + bias, 0))
    picked = A[rows].astype(np.float64)
    expected = np.maximum((picked.T if trans_a else picked) @ B + bias, 0)
    np.testing.assert_allclose(C, expected, rtol=0, atol=2e-6 * np.sqrt(B.shape[0]) * 8)
    plain = np.full_like(C, np.nan)               # no bias, no relu: the product alone
    assert _blas.matmul_rows(A, rows, B, plain, trans_a=trans_a)
    np.testing.assert_array_equal(plain, copied)


def mostly_zeros(rng, shape, density):
    """A float32 matrix with about `density` of its values non-zero, in runs as MNIST's
    strokes are (so that a panel of rows has whole columns of zeros), plus some -0.0."""
    A = rng.standard_normal(shape).astype(np.float32)
    keep = rng.random(shape) < density
    keep[:, : shape[1] // 4] = False                  # a border that is zero in every row
    A[~keep] = 0.0
    A[rng.random(shape) < 0.01] = -0.0
    return A


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("n_data, k_cols, n_picked, n",
                         GATHERED + [(2000, 784, 1030, 1024), (600, 784, 14, 10), (300, 2600, 40, 150)])
def test_skipping_zero_columns_changes_nothing(n_data, k_cols, n_picked, n, trans_a):
    """skip_zeros packs each panel of op(A) without the columns that are zero in all its rows
    and meets only B's matching rows: the sums are the same terms in the same order less
    exact zeros, so C is bit for bit that of the dense product, with bias and relu, with
    panels cut short at the edges, with rows of A all zero and with A fully dense."""
    if _blas.sgemm_kernel() == "blas":
        pytest.skip("the columns are skipped by fastnn's own kernel only")
    rng = np.random.default_rng(7 * n_data + k_cols + n_picked + n)
    for density in (0.0, 0.05, 0.2, 1.0):
        A = mostly_zeros(rng, (n_data, k_cols), density)
        rows = rng.integers(0, n_data, n_picked).astype(np.intp)
        B = rng.standard_normal((n_picked if trans_a else k_cols, n)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        shape = (k_cols if trans_a else n_picked, n)
        dense, skipped = np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32)
        assert _blas.matmul_rows(A, rows, B, dense, trans_a=trans_a, bias=bias, relu=True)
        assert _blas.matmul_rows(A, rows, B, skipped, trans_a=trans_a, bias=bias, relu=True, skip_zeros=True)
        np.testing.assert_array_equal(skipped, dense)
        picked = A[rows].astype(np.float64)
        expected = np.maximum((picked.T if trans_a else picked) @ B + bias, 0)
        np.testing.assert_allclose(skipped, expected, rtol=0, atol=2e-6 * np.sqrt(B.shape[0]) * 8)


@pytest.mark.parametrize("n_data, k_cols, n_picked, n", [(500, 392, 100, 64), (90, 37, 40, 45), (1500, 25, 1030, 33),
                                                    (20, 14, 7, 10), (300, 150, 100, 64)])
def test_momentum_applied_as_dw_is_stored(n_data, k_cols, n_picked, n):
    """gemm_momentum computes dW := A[rows]ᵀ·δ and, with each tile as it is stored, the
    momentum step V := μ·V − γ·dW;  W := W + V: bit for bit the product followed by
    sgd_update's pass, with panels cut short, depth past one block (1030 rows), columns
    skipped or not, rows picked or all; C holds dW when asked for."""
    if _blas.sgemm_kernel() == "blas":
        pytest.skip("the update is fused into fastnn's own kernel only")
    from fastnn._kernels.optim import sgd_update
    rng = np.random.default_rng(n_data + k_cols + n_picked + n)
    for density, skip_zeros, picked, store_c in ((0.05, True, True, False), (0.2, True, False, True),
                                                 (1.0, False, True, True), (0.3, False, False, False)):
        A = mostly_zeros(rng, (n_data if picked else n_picked, k_cols), density)
        rows = rng.integers(0, n_data, n_picked).astype(np.intp) if picked else None
        delta = rng.standard_normal((n_picked, n)).astype(np.float32)
        W0, V0 = (rng.standard_normal((k_cols, n)).astype(np.float32) for _ in range(2))
        dW = np.empty((k_cols, n), np.float32)
        assert _blas.matmul_rows(A, np.arange(len(A), dtype=np.intp) if rows is None else rows, delta, dW,
                                 trans_a=True, skip_zeros=skip_zeros)
        W_expected, V_expected = W0.copy(), V0.copy()
        sgd_update(W_expected, dW, V_expected, 0.05, 0.9)
        W, V, C = W0.copy(), V0.copy(), np.full((k_cols, n), 7.0, np.float32)
        assert _blas.matmul_momentum(A, rows, delta, C, W, V, 0.05, 0.9, skip_zeros=skip_zeros, store_c=store_c)
        np.testing.assert_array_equal(W, W_expected)
        np.testing.assert_array_equal(V, V_expected)
        if store_c:
            np.testing.assert_array_equal(C, dW)
        assert not np.array_equal(W, W0)


@pytest.mark.parametrize("trans_a", [False, True])
def test_skipping_zero_columns_keeps_nan_and_inf(trans_a):
    """A NaN or an infinity in op(A) is not zero: its column is kept, and it reaches C as in
    the dense product (NaN, or ±inf where the row of B has no zero)."""
    if _blas.sgemm_kernel() == "blas":
        pytest.skip("the columns are skipped by fastnn's own kernel only")
    A = np.zeros((40, 300), np.float32)
    A[3, 17], A[25, 290] = np.nan, np.inf
    rows = np.arange(40, dtype=np.intp)
    B = np.ones((40 if trans_a else 300, 64), np.float32)
    C = np.zeros((300 if trans_a else 40, 64), np.float32)
    assert _blas.matmul_rows(A, rows, B, C, trans_a=trans_a, skip_zeros=True)
    nan_at, inf_at = ((17, 290) if trans_a else (3, 25))
    assert np.isnan(C[nan_at]).all() and np.isposinf(C[inf_at]).all()
    others = np.ones(C.shape[0], bool)
    others[[nan_at, inf_at]] = False
    assert (C[others] == 0).all()


def test_rows_picked_by_index_are_checked():
    A, B, C = np.zeros((5, 3), np.float32), np.zeros((3, 2), np.float32), np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"rows holds indices outside \[0, 5\)"):
        _blas.matmul_rows(A, np.array([0, 5], np.intp), B, C)
    with pytest.raises(TypeError, match="rows must be a 1-D C-contiguous intp array"):
        _blas.matmul_rows(A, np.array([0, 1], np.int32), B, C)
    with pytest.raises(ValueError, match="op\\(A\\[rows\\]\\) has 3 columns but B has 4 rows"):
        _blas.matmul_rows(A, np.array([0, 1], np.intp), np.zeros((4, 2), np.float32), C)
    with pytest.raises(TypeError, match="float32"):
        _blas.matmul_rows(A.astype(np.float64), np.array([0, 1], np.intp), B.astype(np.float64),
                          C.astype(np.float64))


def test_kernel_report_and_choice():
    assert _blas.sgemm_kernel() in ("fastnn-avx512", "fastnn-avx2", "blas")
    previous = _blas.use_own_sgemm(False)
    try:
        assert _blas.sgemm_kernel() == "blas"
    finally:
        _blas.use_own_sgemm(previous)


def test_kernel_follows_the_instruction_set():
    """fastnn's own float32 kernel runs from AVX2 + FMA up, the one of the level FASTNN_CPU
    leaves (AVX-512: gemm.c, AVX2: gemm_avx2.c); plain C means BLAS."""
    expected = {"avx512": "fastnn-avx512", "avx2": "fastnn-avx2", "generic": "blas"}[_blas.cpu_isa()[1]]
    own = os.environ.get("FASTNN_GEMM", "auto").strip().lower() in ("", "auto")
    assert _blas.sgemm_kernel() == (expected if own else "blas")


def test_bad_environment_choice_is_named(tmp_path):
    # run away from the repository root, so that the installed (built) package is imported
    env = dict(os.environ, FASTNN_GEMM="mkl")
    result = subprocess.run([sys.executable, "-c", "import fastnn._kernels._blas"], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert "FASTNN_GEMM" in result.stderr and "'mkl'" in result.stderr
