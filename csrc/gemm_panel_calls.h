/* The micro-kernel's entry points for panels of MR rows, the same on every instruction set:
 * each calls the set's PANEL(micro_kernel_body) with the way A is read known to the
 * compiler.  gemm_panel.h (AVX-512) and gemm_avx2_panel.h (AVX2) include it at their
 * micro-kernel's end, with PANEL_TARGET the set's target attribute. */

/* the kernel on panels whose column p is contiguous (packed, or a transposed A in place;
 * col_rows: the columns of a transposed A whose rows are picked by index, else NULL;
 * b_rows: a compacted panel's kept columns, the rows of B they meet, else NULL) */
PANEL_TARGET FNN_NOINLINE static void PANEL(micro_kernel)(
    ptrdiff_t kc, int mr, int nr, const float *restrict ap, ptrdiff_t cs_a, const ptrdiff_t *col_rows,
    const int32_t *b_rows, const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side,
    float alpha, float beta, float *restrict c, ptrdiff_t ldc, const struct epilogue *epi)
{
    if (col_rows != NULL)
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, col_rows, NULL, b, ldb, b_next, side, alpha, beta,
                                 c, ldc, NULL, epi);
    else if (b_rows != NULL)
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, NULL, b_rows, b, ldb, b_next, side, alpha, beta,
                                 c, ldc, NULL, epi);
    else
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, NULL, NULL, b, ldb, b_next, side, alpha, beta, c,
                                 ldc, NULL, epi);
}

/* the same, applying a share of the pending momentum step on the way (see fnn_sgemm_side_update) */
PANEL_TARGET FNN_NOINLINE FNN_UNUSED static void PANEL(micro_kernel_update)(
    ptrdiff_t kc, int mr, int nr, const float *restrict ap, ptrdiff_t cs_a, const ptrdiff_t *col_rows,
    const int32_t *b_rows, const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side,
    float alpha, float beta, float *restrict c, ptrdiff_t ldc, const struct update_share *up,
    const struct epilogue *epi)
{
    if (col_rows != NULL)
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, col_rows, NULL, b, ldb, b_next, side, alpha, beta,
                                 c, ldc, up, epi);
    else if (b_rows != NULL)
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, NULL, b_rows, b, ldb, b_next, side, alpha, beta,
                                 c, ldc, up, epi);
    else
        PANEL(micro_kernel_body)(kc, mr, nr, ap, 1, cs_a, NULL, NULL, NULL, b, ldb, b_next, side, alpha, beta, c,
                                 ldc, up, epi);
}

/* the kernel on MR full rows of A read in place, lda apart, or (arows not NULL) at
 * arows[0 .. MR), rows gathered by index; with kept not NULL, only the kc columns kept[0 ..
 * kc) of those rows (a compacted panel read in place, see PANEL(find_kept)) */
PANEL_TARGET FNN_NOINLINE FNN_UNUSED static void PANEL(micro_kernel_rows)(
    ptrdiff_t kc, int nr, const float *restrict a, ptrdiff_t lda, const float *const *arows,
    const int32_t *kept, const float *restrict b, ptrdiff_t ldb, const float *b_next, const struct side_run *side,
    float alpha, float beta, float *restrict c, ptrdiff_t ldc, const struct epilogue *epi)
{
    if (kept != NULL)
        PANEL(micro_kernel_body)(kc, MR, nr, a, lda, 1, arows, NULL, kept, b, ldb, b_next, side, alpha, beta, c,
                                 ldc, NULL, epi);
    else if (arows != NULL)
        PANEL(micro_kernel_body)(kc, MR, nr, a, lda, 1, arows, NULL, NULL, b, ldb, b_next, side, alpha, beta, c,
                                 ldc, NULL, epi);
    else
        PANEL(micro_kernel_body)(kc, MR, nr, a, lda, 1, NULL, NULL, NULL, b, ldb, b_next, side, alpha, beta, c,
                                 ldc, NULL, epi);
}
