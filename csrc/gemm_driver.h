/* The blocked product of fastnn's GEMM, the same for every instruction set: gemm.c
 * includes this file for AVX-512 and gemm_avx2.c for AVX2, after the micro-kernels and the
 * packing of that set (gemm_panel.h, gemm_avx2_panel.h), with
 *
 *   ISA(name)       the name's suffix (fnn_gemm_blocked_avx2, ...)
 *   TARGET          the functions' target attribute (FNN_TARGET_AVX2, ...)
 *   SET1(x)         a vector of x (struct update_share's lr and mu)
 *   DEPTH_BLOCK     the most depth of one packed block (at most KC)
 *   TALL_PANELS     defined where the set has 14-row panels (micro_kernel_14, pack_a_14)
 *
 * and, of its own, update_vector, pack_b_edge, pack_bt and the 10-row panel's functions. */

/* the rest of the pending step, now */
TARGET void ISA(fnn_gemm_finish_update)(struct pending_update *u)
{
    float lr = u->lr, mu = u->mu;
    if (u->n - u->done >= 16) {
        struct update_share all = {u->w + u->done, u->v + u->done, u->g + u->done, (u->n - u->done) / 16,
                                   SET1(lr), SET1(mu)};
        for (ptrdiff_t q = 0; q < all.n_vectors; q++) update_vector(&all, q);
        u->done += 16 * all.n_vectors;
    }
    if (u->done < u->n)                         /* the tail */
        plain_update(u->w + u->done, u->g + u->done, u->v + u->done, u->n - u->done, lr, mu);
    u->done = u->n = 0;
}

/* the share of the pending step the next micro-kernel call of depth kc takes (NULL: none) */
TARGET static const struct update_share *update_share(struct pending_update *u, ptrdiff_t kc,
                                                      struct update_share *share)
{
    ptrdiff_t vectors = (u->n - u->done) / 16, most = (kc - UPDATE_EVERY / 2 + UPDATE_EVERY - 1) / UPDATE_EVERY;
    if (vectors <= 0 || most <= 0) return NULL;
    share->w = u->w + u->done, share->v = u->v + u->done, share->g = u->g + u->done;
    share->n_vectors = vectors < most ? vectors : most;
    share->lr = SET1(u->lr), share->mu = SET1(u->mu);
    u->done += 16 * share->n_vectors;
    return share;
}

#ifdef SPARSE_PANELS
/* the work on the side of a sparse strip: the share of the pending momentum step that a
 * panel's kernel would take over that many steps (the strip fetches the stream's lines itself,
 * a few for each pair of rows: one run here, for the whole strip, left most of a batch's
 * rows unfetched) */
TARGET static void side_work_of_terms(struct workspace *w, ptrdiff_t terms)
{
    struct update_share share_buffer;
    const struct update_share *share;
    if (w->update.n - w->update.done >= 16 && (share = update_share(&w->update, terms, &share_buffer)) != NULL)
        for (ptrdiff_t q = 0; q < share->n_vectors; q++) update_vector(share, q);
}
#endif

void ISA(fnn_gemm_pack_strip)(const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, int kc, int nr, float *bs)
{
    pack_b_edge(b, ldb, p0, j0, kc, nr, bs);
}

/* C := alpha·op(A)·op(B) + beta·C with the epilogue asked for (see gemm.c's sgemm) */
int ISA(fnn_gemm_blocked)(FNN_GEMM_BLOCKED_ARGS)
{
    float *ap = w->a, *bs = w->b;
    struct update_share share_buffer;
    const struct update_share *share;
    /* panels of 10 rows for the batches of training (100, 50: no row wasted); of 14 rows,
     * whose 28 accumulators amortise the loads better, for the tall products of predict
     * that reuse each packed panel over many strips of B.  A tall product with at most
     * ROWS_IN_PLACE_N columns (a narrow layer, or the output layer) keeps 10-row panels read
     * in place: packing there costs about what it saves (n = 10: 50 -> 74 GFLOP/s, n = 64:
     * 213 -> 245, on one core of the benchmark machine).  While a momentum step is pending
     * (fnn_sgemm_side_update), 10-row panels too: only their kernel has registers to spare.
     * And for a compacted op(A)ᵀ (the first layer's dW on mostly-zero data: a panel is that
     * many pixels of each sample), whose 10-pixel panels leave out more samples than 14-pixel
     * ones (net A's epoch 0.98x at one thread, both ways in turn) */
#ifdef TALL_PANELS
    int mr_panel = m >= MC && (trans_a || n > ROWS_IN_PLACE_N) && w->update.n == w->update.done
                   && !(trans_a && skip_zeros) ? 14 : 10;
#else
    const int mr_panel = 10;
#endif
    for (int ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? m - ic : MC;
        int blocks = (k + DEPTH_BLOCK - 1) / DEPTH_BLOCK, kc_step = (k + blocks - 1) / blocks;
#ifdef SPARSE_PANELS
        /* skip_zeros on a block with few values not 0: sparse rows rather than panels, for
         * dW (op(A) = Aᵀ) and for the forward product of a layer wider than one strip of B;
         * a narrower one (784 -> 10, 784 -> 24) keeps compacted panels, whose rows of B are
         * shorter than a vector's worth of columns per value.  30,000 MNIST images in batches
         * of 100, one Zen 3 core, panels against sparse rows: 784 -> 512, forward 0.29 s
         * against 0.14, dW 0.27 against 0.135; 784 -> 64, dW 0.056 against 0.034; net A's
         * epoch 0.196 s against 0.190, its predict of the 10,000 test images 13.4 ms against
         * 11.7; 784 -> 10 0.087 s against 0.101, 784 -> 24 -> 10 0.101 against 0.108 */
        int sparse = skip_zeros && (trans_a || n > NR)
                     && build_sparse(w, trans_a, a, lda, a_rows, ic, mc, k, kc_step);
        ptrdiff_t sparse_terms = 0;     /* the values the block's rows hold in this depth block */
#else
        const int sparse = 0;
        (void)sparse;
#endif
        for (int pc = 0; pc < k; pc += kc_step) {
            int kc = k - pc < kc_step ? k - pc : kc_step;
            float beta_block = pc == 0 ? beta : 1.0f;       /* later blocks add to C */
            /* With few strips of B to reuse a panel, packing it costs more than it saves: full
             * panels of a transposed A (already column by column) are read in place, and so
             * are the rows of an A that is not transposed, when few (10-row panels) */
            /* skip_zeros: every panel compacted, its all-zero columns left out: packed so, or
             * (rows read in place) only the list of its columns kept (see find_kept_10) */
            int rows_in_place = !trans_a && mr_panel == 10 && n <= ROWS_IN_PLACE_N;
            int packed_from = (!skip_zeros && trans_a && n <= 4 * NR) || rows_in_place ? mc - mc % mr_panel : 0;
            int32_t (*kept)[KC] = skip_zeros ? w->kept : NULL;
#ifdef SPARSE_PANELS
            if (sparse) sparse_terms = sparse_block(w, mc, pc / kc_step, pc, kc, k), packed_from = mc, kept = NULL;
#endif
            if (packed_from < mc) {
                float *dst = ap + (ptrdiff_t)packed_from * kc;
                int32_t (*kept_packed)[KC] = kept != NULL ? kept + packed_from / mr_panel : NULL;
                int *n_kept_packed = w->n_kept + packed_from / mr_panel;
#ifdef TALL_PANELS
                if (mr_panel == 14)
                    pack_a_14(trans_a, a, lda, a_rows, ic + packed_from, pc, mc - packed_from, kc, dst, kept_packed,
                              n_kept_packed);
                else
#endif
                    pack_a_10(trans_a, a, lda, a_rows, ic + packed_from, pc, mc - packed_from, kc, dst, kept_packed,
                              n_kept_packed);
            }
            if (kept != NULL && rows_in_place)      /* 10-row panels read in place: their kept columns */
                for (int ir = 0; ir < packed_from; ir += 10) {
                    const float *arows[10];
                    for (int i = 0; i < 10; i++) arows[i] = a_row(a, lda, a_rows, ic + ir + i) + pc;
                    w->n_kept[ir / 10] = find_kept_10(arows, kc, kept[ir / 10]);
                }
            /* B's rows a multiple of 1 KB apart: read in place, a strip's rows all fall in a
             * few sets of the L1 cache and evict each other.  On an Intel core with AVX-512
             * (48 KB L1), net B's 1024-wide products ran at 53-61 GFLOP/s in place and at
             * 125-130 packed; on the Zen 4 core packing cost about 5%, so only these strides,
             * and only when more than one panel reads the strip, are packed */
            int pack_strided = b_packed == NULL && !trans_b && ldb % 256 == 0 && mc > mr_panel;
            int last_pass = pc + kc >= k, fused = last_pass && (bias != NULL || relu || gate != NULL || mom != NULL);
            for (int jc = 0; jc < n; jc += NR) {
                int nr = n - jc < NR ? n - jc : NR;
                struct epilogue tile_epilogue = {bias != NULL ? bias + jc : NULL, relu, NULL, ld_gate, NULL, NULL,
                                                 mom != NULL ? mom->lr : 0, mom != NULL ? mom->mu : 0,
                                                 mom != NULL ? mom->store_c : 1};
                const struct epilogue *epi = fused ? &tile_epilogue : NULL;
                const float *strip = b_packed != NULL ? b_packed + ((ptrdiff_t)(jc / NR) * k + pc) * NR
                                                      : b + (ptrdiff_t)pc * ldb + jc;
                ptrdiff_t ld_strip = b_packed != NULL ? NR : ldb;
                if (b_packed == NULL && (trans_b || nr < NR || pack_strided || sparse)) {
                    if (trans_b)
                        pack_bt(b, ldb, pc, jc, kc, nr, bs);
                    else
                        pack_b_edge(b, ldb, pc, jc, kc, nr, bs);
                    strip = bs, ld_strip = NR;
                }
                /* the first panel's pass fetches the next strip of B read in place */
                const float *next = b_packed != NULL ? (jc + NR < n ? strip + (ptrdiff_t)k * NR : strip)
                                    : !trans_b && jc + NR + NR <= n ? strip + NR : strip;
#ifdef SPARSE_PANELS
                if (sparse) {       /* the strip's rows, then the work on the side of their terms */
                    if (mom != NULL) {
                        tile_epilogue.w = mom->w + (ptrdiff_t)ic * ldc + jc;
                        tile_epilogue.v = mom->v + (ptrdiff_t)ic * ldc + jc;
                    }
                    if (gate != NULL) tile_epilogue.gate = gate + (ptrdiff_t)ic * ld_gate + jc;
                    sparse_strip(w, mc, pc, nr, strip, ld_strip, alpha, beta_block, c + (ptrdiff_t)ic * ldc + jc,
                                 ldc, epi);
                    /* a strip's terms take about the time of a quarter as many steps of a panel */
                    side_work_of_terms(w, sparse_terms / 4);
                    continue;
                }
#endif
                for (int ir = 0; ir < mc; ir += mr_panel) {
                    int in_place = ir < packed_from, mr = mc - ir < mr_panel ? mc - ir : mr_panel;
                    /* a transposed A read in place: column p of the panel is row pc + p of A
                     * (with a_rows, row a_rows[pc + p]: col_rows) */
                    const ptrdiff_t *col_rows = in_place && a_rows != NULL ? a_rows + pc : NULL;
                    const float *panel = !in_place ? ap + (ptrdiff_t)ir * kc
                                         : col_rows != NULL ? a + ic + ir : a + (ptrdiff_t)pc * lda + ic + ir;
                    ptrdiff_t cs_a = in_place ? lda : mr_panel;
                    float *tile = c + (ptrdiff_t)(ic + ir) * ldc + jc;
                    if (gate != NULL) tile_epilogue.gate = gate + (ptrdiff_t)(ic + ir) * ld_gate + jc;
                    if (mom != NULL) {
                        tile_epilogue.w = mom->w + (ptrdiff_t)(ic + ir) * ldc + jc;
                        tile_epilogue.v = mom->v + (ptrdiff_t)(ic + ir) * ldc + jc;
                    }
                    /* a compacted panel: its kc_panel kept columns meet rows b_rows of the strip */
                    const int32_t *b_rows = kept != NULL ? kept[ir / mr_panel] : NULL;
                    int kc_panel = kept != NULL ? w->n_kept[ir / mr_panel] : kc;
                    struct side_run run = side_run(&w->stream, kc_panel);
                    const struct side_run *lines = &run;
                    if (in_place && rows_in_place) {
                        const float *arows[10], *const *picked = NULL;
                        if (a_rows != NULL || b_rows != NULL) {     /* (a compacted panel: its rows by address) */
                            for (int i = 0; i < 10; i++) arows[i] = a_row(a, lda, a_rows, ic + ir + i) + pc;
                            picked = arows;
                        }
                        micro_kernel_rows_10(kc_panel, nr, a + (ptrdiff_t)(ic + ir) * lda + pc, lda, picked, b_rows,
                                             strip, ld_strip, ir == 0 ? next : strip, lines, alpha, beta_block, tile,
                                             ldc, epi);
                    }
#ifdef TALL_PANELS
                    else if (mr_panel == 14)
                        micro_kernel_14(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                        ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, epi);
#endif
                    else if (w->update.n - w->update.done >= 16
                             && (share = update_share(&w->update, kc_panel, &share_buffer)) != NULL)
                        micro_kernel_update_10(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                               ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, share,
                                               epi);
                    else
                        micro_kernel_10(kc_panel, mr, nr, panel, cs_a, col_rows, b_rows, strip, ld_strip,
                                        ir == 0 ? next : strip, lines, alpha, beta_block, tile, ldc, epi);
                }
            }
        }
    }
    return 0;
}
