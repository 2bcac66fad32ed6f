/* The elementwise kernels whose loops the compiler vectorises, written once for a real
 * type REAL and compiled by kernels.c once per instruction set: VFN(name) is the name of
 * this instance (fnn_<name>_f32_avx2, ...) and the functions carry the instance's target
 * attribute, FNN_VECTORISED.  The public FN(name) picks an instance by fnn_cpu_isa()
 * (kernels_instances.h).  Every instance gives the same values: the loops are the same and
 * no multiply-add is contracted (-ffp-contract=off, as ISO C asks). */

FNN_VECTORISED static int VFN(bias_activation)(int act, const REAL *b_o, REAL *z_bo, REAL *a_bo, fnn_int n_b, fnn_int n_o)
{
    if (act < FNN_LINEAR || act > FNN_LAST_ACTIVATION) return FNN_BAD_ACTIVATION;
    for (fnn_int b = 0; b < n_b; b++) {
        REAL *z = z_bo + b * n_o;
        REAL *a = a_bo + b * n_o;
        if (b_o != NULL) {
            for (fnn_int o = 0; o < n_o; o++) z[o] += b_o[o];
        }
        switch (act) {
        case FNN_LINEAR:
            if (a != z) memcpy(a, z, (size_t)n_o * sizeof(REAL));
            break;
        case FNN_STEP:          /* g(z) = 1 if z >= 0 else 0 */
            for (fnn_int o = 0; o < n_o; o++) a[o] = z[o] >= 0 ? 1 : (z[o] < 0 ? 0 : z[o]);
            break;
        case FNN_SIGMOID:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(sigmoid)(z[o]);
            break;
        case FNN_HARD_SIGMOID:  /* g(z) = max(0, min(1, (z + 1) / 2)) */
            for (fnn_int o = 0; o < n_o; o++) {
                REAL h = (z[o] + 1) / 2;
                a[o] = h > 1 ? 1 : (h < 0 ? 0 : h);
            }
            break;
        case FNN_TANH:
            for (fnn_int o = 0; o < n_o; o++) a[o] = TANH(z[o]);
            break;
        case FNN_RELU:          /* g(z) = max(0, z); NaN stays NaN */
            for (fnn_int o = 0; o < n_o; o++) a[o] = z[o] < 0 ? 0 : z[o];
            break;
        case FNN_SOFTMAX:
            if (n_o > 0) FN(softmax_row)(z, a, n_o);
            break;
        case FNN_LEAKY_RELU:    /* Keras 3's: each g(z) beside g'(z) in kernels_template.h */
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(leaky_relu)(z[o]);
            break;
        case FNN_ELU:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(elu)(z[o]);
            break;
        case FNN_SELU:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(selu)(z[o]);
            break;
        case FNN_GELU:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(gelu)(z[o]);
            break;
        case FNN_SILU:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(silu)(z[o]);
            break;
        case FNN_SOFTPLUS:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(softplus)(z[o]);
            break;
        case FNN_SOFTSIGN:
            for (fnn_int o = 0; o < n_o; o++) a[o] = FN(softsign)(z[o]);
            break;
        }
    }
    return FNN_OK;
}

FNN_VECTORISED static int VFN(activation_backward)(int act, const REAL *z_bo, const REAL *a_bo, const REAL *da_bo,
                            REAL *delta_bo, fnn_int n_b, fnn_int n_o)
{
    if (act < FNN_LINEAR || act > FNN_LAST_ACTIVATION) return FNN_BAD_ACTIVATION;
    fnn_int n = n_b * n_o;
    /* Work in place on delta (δ := dA first): loops over one read-write array and read-only
     * ones vectorise, while dA and delta that may or may not be the same buffer would not. */
    if (delta_bo != da_bo) memcpy(delta_bo, da_bo, (size_t)n * sizeof(REAL));
    REAL *d = delta_bo;
    switch (act) {
    case FNN_LINEAR:
        break;
    case FNN_STEP:
        for (fnn_int i = 0; i < n; i++) d[i] = 0;
        break;
    case FNN_RELU:  /* δ = dA where z > 0, else 0 */
        for (fnn_int i = 0; i < n; i++) d[i] = z_bo[i] > 0 ? d[i] : 0;
        break;
    case FNN_SIGMOID:
        for (fnn_int i = 0; i < n; i++) d[i] *= a_bo[i] * (1 - a_bo[i]);
        break;
    case FNN_TANH:
        for (fnn_int i = 0; i < n; i++) d[i] *= 1 - a_bo[i] * a_bo[i];
        break;
    case FNN_HARD_SIGMOID:
        for (fnn_int i = 0; i < n; i++) d[i] = (z_bo[i] > -1 && z_bo[i] < 1) ? d[i] * (REAL)0.5 : 0;
        break;
    case FNN_SOFTMAX:  /* Jacobian-vector product: δ_k = a_k (dA_k - sum_j dA_j a_j) */
        for (fnn_int b = 0; b < n_b; b++) {
            const REAL *a = a_bo + b * n_o;
            REAL *row = d + b * n_o;
            REAL dot = 0;
            for (fnn_int o = 0; o < n_o; o++) dot += row[o] * a[o];
            for (fnn_int o = 0; o < n_o; o++) row[o] = a[o] * (row[o] - dot);
        }
        break;
    case FNN_LEAKY_RELU:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(leaky_relu_derivative)(z_bo[i]);
        break;
    case FNN_ELU:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(elu_derivative)(z_bo[i], a_bo[i]);
        break;
    case FNN_SELU:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(selu_derivative)(z_bo[i], a_bo[i]);
        break;
    case FNN_GELU:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(gelu_derivative)(z_bo[i]);
        break;
    case FNN_SILU:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(silu_derivative)(z_bo[i]);
        break;
    case FNN_SOFTPLUS:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(softplus_derivative)(z_bo[i]);
        break;
    case FNN_SOFTSIGN:
        for (fnn_int i = 0; i < n; i++) d[i] *= FN(softsign_derivative)(z_bo[i]);
        break;
    }
    return FNN_OK;
}

FNN_VECTORISED static void VFN(column_sums)(const REAL *delta_bo, REAL *db_o, fnn_int n_b, fnn_int n_o)
{
#ifdef FNN_COLUMN_SUMS
    if (FNN_COLUMN_SUMS(delta_bo, db_o, n_b, n_o) == 0) return;
#endif
    for (fnn_int o = 0; o < n_o; o++) db_o[o] = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *d = delta_bo + b * n_o;
        for (fnn_int o = 0; o < n_o; o++) db_o[o] += d[o];
    }
}

FNN_VECTORISED static void VFN(add)(const REAL *x, const REAL *y, REAL *out, fnn_int n)
{
    for (fnn_int i = 0; i < n; i++) out[i] = x[i] + y[i];
}

FNN_VECTORISED static void VFN(sgd_momentum)(REAL *w, const REAL *g, REAL *v, fnn_int n, double lr, double mu,
                                     int nesterov)
{
    REAL lr_ = (REAL)lr, mu_ = (REAL)mu;
    if (nesterov) {
        for (fnn_int i = 0; i < n; i++) {
            REAL step = -lr_ * g[i];
            v[i] = mu_ * v[i] + step;
            w[i] += mu_ * v[i] + step;
        }
    } else {
        for (fnn_int i = 0; i < n; i++) {      /* one rounding for μ·v − γ·g, as fnn_sgemm_side_update */
            v[i] = FMA(mu_, v[i], -(lr_ * g[i]));
            w[i] = w[i] + v[i];
        }
    }
}

FNN_VECTORISED static fnn_int VFN(count_nonfinite)(const REAL *x, fnn_int n)
{
    /* x - x is 0 for finite x and NaN for NaN and ±inf; summing the comparisons vectorises,
     * in 32-bit lanes (twice the values per instruction of 64-bit ones) over blocks of 2^20 */
    fnn_int bad = 0;
    for (fnn_int start = 0; start < n; start += (fnn_int)1 << 20) {
        fnn_int end = n - start > ((fnn_int)1 << 20) ? start + ((fnn_int)1 << 20) : n;
        unsigned int block = 0;
        for (fnn_int i = start; i < end; i++) block += !(x[i] - x[i] == 0);
        bad += block;
    }
    return bad;
}

/* One step of the rule r on w (see fnn_rule in fastnn_kernels.h for the formulas), a chunk
 * of FNN_STEP_CHUNK values at a time: first the gradient's terms (reading w before the step)
 * into a small buffer, then the decoupled weight decay on w, then the rule.  Each of those is
 * its own simple loop, which the compiler vectorises; with the terms' tests inside one loop
 * (GCC does not unswitch a loop body this large) Adam ran one value at a time, 6x slower.
 * Without any term the rule reads g itself. */
#define FNN_STEP_CHUNK 512
#define FNN_STEP_LOOP(body)                                                                   \
    for (fnn_int c0 = 0; c0 < n; c0 += FNN_STEP_CHUNK) {                                      \
        const fnn_int c1 = n - c0 < FNN_STEP_CHUNK ? n : c0 + FNN_STEP_CHUNK;                 \
        const REAL *gc = g;                   /* the gradient of value i is gc[i] */          \
        if (adjusted) {                                                                       \
            for (fnn_int i = c0; i < c1; i++) {                                               \
                REAL gi = g[i];                                                               \
                if (penalised) gi += l1_ * FN(sign)(w[i]) + l2x2 * w[i];  /* + ∂(penalty)/∂w */\
                buffer[i - c0] = gi;                                                          \
            }                                                                                 \
            if (scaled) {                                             /* clipnorm's scale */  \
                for (fnn_int i = 0; i < c1 - c0; i++) buffer[i] *= scale_;                    \
            }                                                                                 \
            if (clipped) {                                                                    \
                for (fnn_int i = 0; i < c1 - c0; i++) {                                       \
                    REAL gi = buffer[i];                                                      \
                    buffer[i] = gi > clip ? clip : (gi < -clip ? -clip : gi);                 \
                }                                                                             \
            }                                                                                 \
            gc = buffer - c0;                                                                 \
        }                                                                                     \
        if (decayed) {                                                /* w := w − lr·wd·w */  \
            for (fnn_int i = c0; i < c1; i++) w[i] -= w[i] * decay;                           \
        }                                                                                     \
        for (fnn_int i = c0; i < c1; i++) {                                                   \
            REAL gi = gc[i], wi = w[i];                                                       \
            body                                                                              \
            w[i] = wi;                                                                        \
        }                                                                                     \
    }

FNN_VECTORISED static double VFN(optimizer_step)(const fnn_rule *r, double lr, long long t, REAL *w, const REAL *g,
                                                 REAL *s0, REAL *s1, REAL *s2, fnn_int n, double l1, double l2,
                                                 double scale)
{
    double penalty = 0;
    const int penalised = l1 != 0 || l2 != 0, clipped = r->clipvalue > 0, decayed = r->weight_decay != 0;
    const int scaled = scale != 1, adjusted = penalised || scaled || clipped;
    const REAL scale_ = (REAL)scale;
    REAL buffer[FNN_STEP_CHUNK];
    if (penalised) {    /* the penalty's value, of w before the step: 8 partial sums, as vectors (one sum
                         * in order ran a value at a time, as long as the rule's step itself) */
        double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        fnn_int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                double x = (double)w[i + j];
                part[j] += l1 * FABS(x) + l2 * x * x;
            }
        for (; i < n; i++) part[0] += l1 * FABS((double)w[i]) + l2 * (double)w[i] * (double)w[i];
        penalty = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }
    const REAL l1_ = (REAL)l1, l2x2 = (REAL)(2 * l2), clip = (REAL)r->clipvalue;
    const REAL decay = (REAL)(lr * r->weight_decay), lr_ = (REAL)lr, mu = (REAL)r->momentum;
    switch (r->kind) {
    case FNN_RULE_SGD:
        if (r->nesterov) {
            FNN_STEP_LOOP(REAL step = -lr_ * gi; s0[i] = mu * s0[i] + step; wi += mu * s0[i] + step;)
        } else {                                /* one rounding for μ·v − γ·g, as fnn_sgd_momentum */
            FNN_STEP_LOOP(s0[i] = FMA(mu, s0[i], -(lr_ * gi)); wi = wi + s0[i];)
        }
        break;
    case FNN_RULE_ADAM: {
        const double step = (double)t + 1;
        const REAL alpha = (REAL)(lr * sqrt(1 - pow(r->beta_2, step)) / (1 - pow(r->beta_1, step)));
        const REAL one_b1 = (REAL)(1 - r->beta_1), one_b2 = (REAL)(1 - r->beta_2), eps = (REAL)r->epsilon;
        if (r->amsgrad) {
            FNN_STEP_LOOP(s0[i] += (gi - s0[i]) * one_b1; s1[i] += (gi * gi - s1[i]) * one_b2;
                          s2[i] = s2[i] > s1[i] ? s2[i] : s1[i]; wi -= s0[i] * alpha / (SQRT(s2[i]) + eps);)
        } else {
            FNN_STEP_LOOP(s0[i] += (gi - s0[i]) * one_b1; s1[i] += (gi * gi - s1[i]) * one_b2;
                          wi -= s0[i] * alpha / (SQRT(s1[i]) + eps);)
        }
        break;
    }
    case FNN_RULE_RMSPROP: {
        const REAL rho = (REAL)r->rho, one_rho = (REAL)(1 - r->rho), eps = (REAL)r->epsilon;
        if (r->centered && r->momentum > 0) {
            FNN_STEP_LOOP(s0[i] = rho * s0[i] + one_rho * (gi * gi); s2[i] = rho * s2[i] + one_rho * gi;
                          s1[i] = mu * s1[i] + lr_ * gi / SQRT(s0[i] - s2[i] * s2[i] + eps); wi -= s1[i];)
        } else if (r->centered) {
            FNN_STEP_LOOP(s0[i] = rho * s0[i] + one_rho * (gi * gi); s2[i] = rho * s2[i] + one_rho * gi;
                          wi -= lr_ * gi / SQRT(s0[i] - s2[i] * s2[i] + eps);)
        } else if (r->momentum > 0) {
            FNN_STEP_LOOP(s0[i] = rho * s0[i] + one_rho * (gi * gi);
                          s1[i] = mu * s1[i] + lr_ * gi / SQRT(s0[i] + eps); wi -= s1[i];)
        } else {
            FNN_STEP_LOOP(s0[i] = rho * s0[i] + one_rho * (gi * gi); wi -= lr_ * gi / SQRT(s0[i] + eps);)
        }
        break;
    }
    case FNN_RULE_ADAGRAD: {
        const REAL eps = (REAL)r->epsilon;
        FNN_STEP_LOOP(s0[i] += gi * gi; wi -= lr_ * gi / SQRT(s0[i] + eps);)
        break;
    }
    }
    return penalty;
}
#undef FNN_STEP_LOOP
#undef FNN_STEP_CHUNK

/* Σ_i (g_i + l1·sign(w_i) + 2·l2·w_i)², in double: the squared norm of the gradient the
 * optimizer's step takes (clipnorm, global_clipnorm) */
FNN_VECTORISED static double VFN(gradient_sum_squares)(const REAL *w, const REAL *g, fnn_int n, double l1, double l2)
{
    double total = 0;
    const REAL l1_ = (REAL)l1, l2x2 = (REAL)(2 * l2);
    if (l1 != 0 || l2 != 0) {
        for (fnn_int i = 0; i < n; i++) {
            REAL gi = g[i] + l1_ * FN(sign)(w[i]) + l2x2 * w[i];
            total += (double)gi * (double)gi;
        }
    } else {
        for (fnn_int i = 0; i < n; i++) total += (double)g[i] * (double)g[i];
    }
    return total;
}

/* Inverted dropout of an n_b × n_o block of a batch whose first row is the batch's row
 * first_row: y := x / keep where the element is kept, 0 elsewhere; element (r, o) is kept
 * when fnn_hash32(key + r·n_o + o) < threshold (= keep·2³², key drawn from the layer's seed
 * and the step, see fnn_dropout_key).  The same call on δ is dropout's backward pass: the
 * same elements are kept, so ∂E/∂A := ∂E/∂D / keep there and 0 elsewhere.  y may be x. */
FNN_VECTORISED static void VFN(dropout)(const REAL *x, REAL *y, fnn_int n_b, fnn_int n_o, fnn_int first_row,
                                        uint32_t key, uint32_t threshold, double keep)
{
    const REAL keep_ = (REAL)keep;
    for (fnn_int b = 0; b < n_b; b++) {
        const uint32_t base = key + (uint32_t)((first_row + b) * n_o);
        const REAL *xr = x + b * n_o;
        REAL *yr = y + b * n_o;
        /* divided whether kept or not, then the bits of the quotient anded with all ones (kept)
         * or zeros: a select written as a ternary was left scalar, with a branch (GCC does not
         * if-convert it under -ftrapping-math), and cost a quarter of the products' time */
        if (sizeof(REAL) == sizeof(uint32_t)) {
            for (fnn_int o = 0; o < n_o; o++) {
                REAL scaled = xr[o] / keep_;
                uint32_t bits, mask = 0u - (uint32_t)(fnn_hash32(base + (uint32_t)o) < threshold);
                memcpy(&bits, &scaled, sizeof bits);
                bits &= mask;
                memcpy(yr + o, &bits, sizeof bits);
            }
        } else {
            for (fnn_int o = 0; o < n_o; o++) {
                REAL scaled = xr[o] / keep_;
                uint64_t bits = 0, mask = (uint64_t)0 - (uint64_t)(fnn_hash32(base + (uint32_t)o) < threshold);
                memcpy(&bits, &scaled, sizeof(REAL));
                bits &= mask;
                memcpy(yr + o, &bits, sizeof(REAL));
            }
        }
    }
}
