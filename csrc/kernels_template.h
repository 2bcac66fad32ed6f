/* Kernel bodies, written once for a real type REAL.  Included by kernels.c with
 * REAL = float and REAL = double; FN(name) appends the _f32/_f64 suffix and
 * EXP/LOG/LOG1P/TANH/POW/EXPM1/ERFC pick the math function of the matching precision.
 * The loops the compiler vectorises are in kernels_vectorised.h, compiled once per
 * instruction set.
 * Row-major buffers throughout: element (b, o) of an (n_b x n_o) matrix is x[b * n_o + o].
 */

/* ------------------------------------------------------------------ */
/* Activations                                                        */
/* ------------------------------------------------------------------ */

/* sigmoid(z) = 1 / (1 + e^-z), evaluated without overflow for either sign of z */
static inline REAL FN(sigmoid)(REAL z)
{
    if (z >= 0) {
        return 1 / (1 + EXP(-z));
    }
    REAL e = EXP(z);
    return e / (1 + e);
}

/* sign(x): −1, 0 or 1 (the subgradient of |x| the L1 penalty uses, as Keras' sign) */
static inline REAL FN(sign)(REAL x) { return (REAL)((x > 0) - (x < 0)); }

/* Keras 3's activations, each beside its derivative g'(z), written with a = g(z) where that is
 * cheaper. Keras' default constants: leaky_relu's negative slope 0.2, elu's alpha 1, selu's
 * alpha and scale (Klambauer et al., 2017). */
#ifndef FNN_SELU_ALPHA
#define FNN_LEAKY_SLOPE 0.2
#define FNN_SELU_ALPHA 1.6732632423543772848170429916717
#define FNN_SELU_SCALE 1.0507009873554804934193349852946
#define FNN_SQRT_HALF 0.70710678118654752440084436210485        /* 1/sqrt(2)      */
#define FNN_INV_SQRT_2PI 0.39894228040143267793994605993438     /* 1/sqrt(2 pi)   */
#endif

/* leaky_relu(z) = z if z > 0 else 0.2 z  (Keras: max(z, 0.2 z)); NaN stays NaN */
static inline REAL FN(leaky_relu)(REAL z) { return z < 0 ? (REAL)FNN_LEAKY_SLOPE * z : z; }
/* leaky_relu'(z) = 1 if z > 0 else 0.2 */
static inline REAL FN(leaky_relu_derivative)(REAL z) { return z > 0 ? 1 : (REAL)FNN_LEAKY_SLOPE; }

/* elu(z) = z if z > 0 else e^z - 1 (alpha = 1), by expm1: exact near 0, -1 for large negative z */
static inline REAL FN(elu)(REAL z) { return z > 0 ? z : EXPM1(z); }
/* elu'(z) = 1 if z > 0 else e^z = a + 1 */
static inline REAL FN(elu_derivative)(REAL z, REAL a) { return z > 0 ? 1 : a + 1; }

/* selu(z) = scale z if z > 0 else scale alpha (e^z - 1) */
static inline REAL FN(selu)(REAL z)
{
    return z > 0 ? (REAL)FNN_SELU_SCALE * z : (REAL)(FNN_SELU_SCALE * FNN_SELU_ALPHA) * EXPM1(z);
}
/* selu'(z) = scale if z > 0 else scale alpha e^z = a + scale alpha */
static inline REAL FN(selu_derivative)(REAL z, REAL a)
{
    return z > 0 ? (REAL)FNN_SELU_SCALE : a + (REAL)(FNN_SELU_SCALE * FNN_SELU_ALPHA);
}

/* gelu(z) = z Phi(z) = z (1 + erf(z / sqrt 2)) / 2, Keras 3's default (approximate=False);
 * Phi(z) = erfc(-z / sqrt 2) / 2 keeps its precision where z is very negative */
static inline REAL FN(gelu)(REAL z) { return (REAL)0.5 * z * ERFC(-(REAL)FNN_SQRT_HALF * z); }
/* gelu'(z) = Phi(z) + z phi(z),  phi(z) = e^(-z^2/2) / sqrt(2 pi) */
static inline REAL FN(gelu_derivative)(REAL z)
{
    return (REAL)0.5 * ERFC(-(REAL)FNN_SQRT_HALF * z) + z * (REAL)FNN_INV_SQRT_2PI * EXP(-(REAL)0.5 * z * z);
}

/* silu(z) = swish(z) = z sigmoid(z) */
static inline REAL FN(silu)(REAL z) { return z * FN(sigmoid)(z); }
/* silu'(z) = s (1 + z (1 - s)),  s = sigmoid(z) */
static inline REAL FN(silu_derivative)(REAL z)
{
    REAL s = FN(sigmoid)(z);
    return s * (1 + z * (1 - s));
}

/* softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow for large z,
 * no log(1) rounding to 0 for very negative z */
static inline REAL FN(softplus)(REAL z) { return (z > 0 ? z : 0) + LOG1P(EXP(z > 0 ? -z : z)); }
/* softplus'(z) = sigmoid(z) */
static inline REAL FN(softplus_derivative)(REAL z) { return FN(sigmoid)(z); }

/* softsign(z) = z / (1 + |z|) */
static inline REAL FN(softsign)(REAL z) { return z / (1 + (z < 0 ? -z : z)); }
/* softsign'(z) = 1 / (1 + |z|)^2 */
static inline REAL FN(softsign_derivative)(REAL z)
{
    REAL d = 1 + (z < 0 ? -z : z);
    return 1 / (d * d);
}

/* One row of logits: writes e_k = e^(z_k - m) into p (m = max z) and returns s = sum_k e_k. */
static double FN(exp_shifted_row)(const REAL *z, REAL *p, fnn_int n_k, REAL *max_out)
{
    REAL m = z[0];
    for (fnn_int k = 1; k < n_k; k++) {
        if (z[k] > m) m = z[k];
    }
    double s = 0;
    for (fnn_int k = 0; k < n_k; k++) {
        p[k] = EXP(z[k] - m);
        s += p[k];
    }
    *max_out = m;
    return s;
}

/* softmax of one row: a_k = e^(z_k - m) / sum_j e^(z_j - m), m = max_j z_j */
static void FN(softmax_row)(const REAL *z, REAL *a, fnn_int n)
{
    REAL m;
    REAL inv = (REAL)(1.0 / FN(exp_shifted_row)(z, a, n, &m));
    for (fnn_int k = 0; k < n; k++) a[k] *= inv;
}

/* FN(bias_activation): in kernels_vectorised.h */

/* g'(z) for one element, written with the output a = g(z) where that is cheaper */
static inline REAL FN(derivative)(int act, REAL z, REAL a)
{
    switch (act) {
    case FNN_LINEAR: return 1;
    case FNN_SIGMOID: return a * (1 - a);
    case FNN_HARD_SIGMOID: return (z > -1 && z < 1) ? (REAL)0.5 : 0;
    case FNN_TANH: return 1 - a * a;
    case FNN_RELU: return z > 0 ? 1 : 0;
    case FNN_LEAKY_RELU: return FN(leaky_relu_derivative)(z);
    case FNN_ELU: return FN(elu_derivative)(z, a);
    case FNN_SELU: return FN(selu_derivative)(z, a);
    case FNN_GELU: return FN(gelu_derivative)(z);
    case FNN_SILU: return FN(silu_derivative)(z);
    case FNN_SOFTPLUS: return FN(softplus_derivative)(z);
    case FNN_SOFTSIGN: return FN(softsign_derivative)(z);
    default: return 0;  /* step: flat everywhere (the perceptron cannot backpropagate) */
    }
}

int FN(activation_derivative)(int act, const REAL *z, const REAL *a, REAL *out, fnn_int n)
{
    if (act < FNN_LINEAR || act > FNN_LAST_ACTIVATION || act == FNN_SOFTMAX) return FNN_BAD_ACTIVATION;
    for (fnn_int i = 0; i < n; i++) out[i] = FN(derivative)(act, z[i], a[i]);
    return FNN_OK;
}

/* FN(activation_backward): in kernels_vectorised.h */

/* FN(column_sums): in kernels_vectorised.h */

/* FN(add): in kernels_vectorised.h */

/* ------------------------------------------------------------------ */
/* Losses                                                             */
/* ------------------------------------------------------------------ */

/* log p_c and 1 - p_c for one class of a row whose shifted exponentials e_k are in e.
 * 1 - p_c is summed over the other classes rather than subtracted from 1, and when c
 * holds the maximum, log p_c = -log1p(sum_{j != c} e_j): both keep full precision when
 * p_c is close to 1, where focal loss lives. */
static void FN(class_log_prob)(const REAL *z, const REAL *e, fnn_int n_k, fnn_int c, REAL m,
                               double s, double *log_p, double *one_minus_p)
{
    double others = 0;
    for (fnn_int j = 0; j < n_k; j++) {
        if (j != c) others += e[j];
    }
    if (z[c] == m) {
        *log_p = -log1p(others);
    } else {
        *log_p = (double)(z[c] - m) - log(s);
    }
    *one_minus_p = others / s;
}

int FN(softmax_cross_entropy)(const REAL *z_bk, const fnn_int *label_b, const REAL *y_bk,
                              const REAL *w_b, fnn_int n_b, fnn_int n_k, double scale,
                              REAL *p_bk, REAL *delta_bk, double *loss_sum)
{
#ifdef FNN_ROW_SOFTMAX_CE
    if (label_b != NULL) {                          /* a row per vector, where it can */
        int status = FNN_ROW_SOFTMAX_CE(z_bk, label_b, w_b, n_b, n_k, scale, p_bk, delta_bk, loss_sum);
        if (status >= 0) return status;
    }
#endif
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *z = z_bk + b * n_k;
        REAL *p = p_bk + b * n_k;
        REAL m;
        double s = FN(exp_shifted_row)(z, p, n_k, &m);
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double loss_b;
        if (label_b != NULL) {
            fnn_int c = label_b[b];
            if (c < 0 || c >= n_k) return FNN_BAD_LABEL;
            double log_p, q;
            FN(class_log_prob)(z, p, n_k, c, m, s, &log_p, &q);
            loss_b = -log_p;                        /* E = -log p_c */
        } else {
            double log_s = log(s);                  /* E = -sum_k y_k (z_k - m - log s) */
            loss_b = 0;
            for (fnn_int k = 0; k < n_k; k++) {
                if (y_bk[b * n_k + k] != 0) loss_b -= y_bk[b * n_k + k] * ((double)(z[k] - m) - log_s);
            }
        }
        total += w * loss_b;
        REAL inv = (REAL)(1.0 / s);
        for (fnn_int k = 0; k < n_k; k++) p[k] *= inv;
        if (delta_bk != NULL) {                     /* dE/dz = p * sum(y) - y */
            REAL *d = delta_bk + b * n_k;
            REAL ws = (REAL)(w * scale);
            if (label_b != NULL) {
                for (fnn_int k = 0; k < n_k; k++) d[k] = ws * p[k];
                d[label_b[b]] -= ws;
            } else {
                const REAL *y = y_bk + b * n_k;
                REAL ysum = 0;
                for (fnn_int k = 0; k < n_k; k++) ysum += y[k];
                for (fnn_int k = 0; k < n_k; k++) d[k] = ws * (ysum * p[k] - y[k]);
            }
        }
    }
    *loss_sum = total;
    return FNN_OK;
}

/* Focal term of one class c with weight alpha: E_c = -alpha q^gamma log p_c, q = 1 - p_c.
 * dE_c/dz_j = F (p_j - [j == c]) with F = alpha q^gamma (1 - gamma p_c log(p_c) / q);
 * log(p_c) / q -> -1 as q -> 0. Returns E_c and writes F. */
static double FN(focal_term)(double log_p, double q, double alpha, double gamma, double *F)
{
    double q_gamma = pow(q, gamma);                     /* 0^0 = 1: gamma = 0 is cross-entropy */
    double p = exp(log_p);
    double ratio = q > 0 ? log_p / q : -1.0;
    *F = alpha * q_gamma * (1.0 - gamma * p * ratio);
    return -alpha * q_gamma * log_p;
}

int FN(focal_cross_entropy)(const REAL *z_bk, const fnn_int *label_b, const REAL *y_bk,
                            const REAL *w_b, const REAL *alpha_k, double gamma,
                            double label_smoothing, fnn_int n_b, fnn_int n_k, double scale,
                            REAL *p_bk, REAL *delta_bk, double *loss_sum)
{
    if (gamma == 0 && alpha_k == NULL) {            /* no focal term, no α: cross-entropy itself */
        if (label_smoothing != 0)
            return FN(softmax_cross_entropy_smoothed)(z_bk, label_b, y_bk, w_b, label_smoothing, n_b, n_k,
                                                      scale, p_bk, delta_bk, loss_sum);
        return FN(softmax_cross_entropy)(z_bk, label_b, y_bk, w_b, n_b, n_k, scale, p_bk, delta_bk, loss_sum);
    }
    /* smoothed targets t_c = keep y_c + spread (keep = 1, spread = 0 without smoothing, exactly y_c) */
    double keep = 1.0 - label_smoothing, spread = label_smoothing / (double)n_k;
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *z = z_bk + b * n_k;
        REAL *p = p_bk + b * n_k;
        REAL m;
        double s = FN(exp_shifted_row)(z, p, n_k, &m);
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double loss_b = 0, F_sum = 0;     /* F_sum = sum_c t_c F_c */
        fnn_int label = -1, c_first = 0, c_last = n_k;
        if (label_b != NULL) {
            label = label_b[b];
            if (label < 0 || label >= n_k) return FNN_BAD_LABEL;
            if (spread == 0) {                      /* only the labelled class has t_c != 0 */
                c_first = label;
                c_last = label + 1;
            }
        }
        /* the dE/dz of each class is F_c (p - onehot_c): first accumulate F_sum p, then the -t_c F_c terms */
        REAL *d = delta_bk != NULL ? delta_bk + b * n_k : NULL;
        if (d != NULL) {
            for (fnn_int k = 0; k < n_k; k++) d[k] = 0;
        }
        for (fnn_int c = c_first; c < c_last; c++) {
            double y_c = label_b != NULL ? (c == label ? 1.0 : 0.0) : (double)y_bk[b * n_k + c];
            double t_c = keep * y_c + spread;
            if (t_c == 0) continue;
            double alpha = alpha_k != NULL ? (double)alpha_k[c] : 1.0;
            double log_p, q, F;
            FN(class_log_prob)(z, p, n_k, c, m, s, &log_p, &q);
            loss_b += t_c * FN(focal_term)(log_p, q, alpha, gamma, &F);
            F_sum += t_c * F;
            if (d != NULL) d[c] -= (REAL)(w * scale * t_c * F);
        }
        total += w * loss_b;
        REAL inv = (REAL)(1.0 / s);
        for (fnn_int k = 0; k < n_k; k++) p[k] *= inv;
        if (d != NULL) {
            REAL f = (REAL)(w * scale * F_sum);
            for (fnn_int k = 0; k < n_k; k++) d[k] += f * p[k];
        }
    }
    *loss_sum = total;
    return FNN_OK;
}

void FN(sigmoid_binary_cross_entropy)(const REAL *z_bk, const REAL *y_bk, const REAL *w_b,
                                      fnn_int n_b, fnn_int n_k, double scale, REAL *a_bk,
                                      REAL *delta_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        REAL ws = (REAL)(w * scale / (double)n_k);
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double z = z_bk[i], y = y_bk[i];
            /* -[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - z y + log(1 + e^-|z|) */
            row += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
            a_bk[i] = FN(sigmoid)(z_bk[i]);
            if (delta_bk != NULL) delta_bk[i] = ws * (a_bk[i] - y_bk[i]);
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

void FN(binary_cross_entropy)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b, fnn_int n_b,
                              fnn_int n_k, double scale, REAL *da_bk, double *loss_sum)
{
    const double eps = 1e-7;   /* Keras' epsilon: probabilities are clipped to [eps, 1 - eps] */
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double a = a_bk[i], y = y_bk[i];
            double ac = a < eps ? eps : (a > 1 - eps ? 1 - eps : a);
            row -= y * log(ac) + (1 - y) * log(1 - ac);
            if (da_bk != NULL) {
                int inside = a >= eps && a <= 1 - eps;   /* clipping has zero gradient */
                da_bk[i] = inside ? (REAL)(w * scale * (a - y) / (a * (1 - a) * (double)n_k)) : 0;
            }
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

void FN(mean_squared_error)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b, fnn_int n_b,
                            fnn_int n_k, double scale, REAL *da_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        REAL ws = (REAL)(2.0 * w * scale / (double)n_k);
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double r = (double)a_bk[i] - (double)y_bk[i];
            row += r * r;
            if (da_bk != NULL) da_bk[i] = ws * (a_bk[i] - y_bk[i]);
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

/* E_b = mean_k |a - y|;  dA := scale w_b sign(a - y) / n_k  (0 where a = y) */
void FN(mean_absolute_error)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b, fnn_int n_b,
                             fnn_int n_k, double scale, REAL *da_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        REAL ws = (REAL)(w * scale / (double)n_k);
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double r = (double)a_bk[i] - (double)y_bk[i];
            row += fabs(r);
            if (da_bk != NULL) da_bk[i] = r > 0 ? ws : (r < 0 ? -ws : 0);
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

/* Huber (Keras): E_b = mean_k h(a - y), h(r) = r^2 / 2 where |r| <= delta, delta |r| - delta^2 / 2
 * beyond;  dA := scale w_b clip(a - y, -delta, delta) / n_k */
void FN(huber)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b, double delta, fnn_int n_b,
               fnn_int n_k, double scale, REAL *da_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        double ws = w * scale / (double)n_k;
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double r = (double)a_bk[i] - (double)y_bk[i];
            double ar = fabs(r);
            row += ar <= delta ? 0.5 * r * r : delta * ar - 0.5 * delta * delta;
            if (da_bk != NULL) da_bk[i] = (REAL)(ws * (r > delta ? delta : (r < -delta ? -delta : r)));
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

/* Half the squared error, summed over the outputs (scikit-learn's MLPRegressor differentiates
 * this): E_b = 1/2 sum_k (a - y)^2;  dA := scale w_b (a - y) */
void FN(half_squared_error)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b, fnn_int n_b,
                            fnn_int n_k, double scale, REAL *da_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        REAL ws = (REAL)(w * scale);
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double r = (double)a_bk[i] - (double)y_bk[i];
            row += r * r;
            if (da_bk != NULL) da_bk[i] = ws * (a_bk[i] - y_bk[i]);
        }
        total += w * 0.5 * row;
    }
    *loss_sum = total;
}

/* Half the Poisson deviance of an exponential output, fused: a := e^z;
 * E_b = sum_k [y log(y / a) - y + a]  (y log(y / a) = 0 where y = 0);  delta := scale w_b (a - y) */
void FN(exp_poisson)(const REAL *z_bk, const REAL *y_bk, const REAL *w_b, fnn_int n_b, fnn_int n_k,
                     double scale, REAL *a_bk, REAL *delta_bk, double *loss_sum)
{
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        REAL ws = (REAL)(w * scale);
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            a_bk[i] = EXP(z_bk[i]);
            double a = a_bk[i], y = y_bk[i];
            row += (y != 0 ? y * log(y / a) : 0.0) - y + a;
            if (delta_bk != NULL) delta_bk[i] = ws * (a_bk[i] - y_bk[i]);
        }
        total += w * row;
    }
    *loss_sum = total;
}

/* Label smoothing, as Keras: the targets y become y' = (1 - ls) y + ls / n_k, then as
 * softmax_cross_entropy: E_b = -sum_k y'_k log p_k;  dE/dz = p sum(y') - y'. With class ids,
 * E_b = -(1 - ls) log p_c - (ls / n_k) sum_k log p_k, log p_c as class_log_prob has it. */
int FN(softmax_cross_entropy_smoothed)(const REAL *z_bk, const fnn_int *label_b, const REAL *y_bk,
                                       const REAL *w_b, double label_smoothing, fnn_int n_b,
                                       fnn_int n_k, double scale, REAL *p_bk, REAL *delta_bk,
                                       double *loss_sum)
{
    double keep = 1.0 - label_smoothing, spread = label_smoothing / (double)n_k;
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *z = z_bk + b * n_k;
        REAL *p = p_bk + b * n_k;
        REAL m;
        double s = FN(exp_shifted_row)(z, p, n_k, &m);
        double log_s = log(s);
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double loss_b = 0, y_sum = 1.0;             /* sum_k y'_k */
        if (label_b != NULL) {
            fnn_int c = label_b[b];
            if (c < 0 || c >= n_k) return FNN_BAD_LABEL;
            double log_p, q, sum_log_p = 0;         /* sum_k log p_k = sum_k (z_k - m) - n_k log s */
            FN(class_log_prob)(z, p, n_k, c, m, s, &log_p, &q);
            for (fnn_int k = 0; k < n_k; k++) sum_log_p += (double)(z[k] - m);
            sum_log_p -= (double)n_k * log_s;
            loss_b = -keep * log_p - spread * sum_log_p;
        } else {
            const REAL *y = y_bk + b * n_k;
            y_sum = 0;
            for (fnn_int k = 0; k < n_k; k++) {
                double t = keep * (double)y[k] + spread;
                loss_b -= t * ((double)(z[k] - m) - log_s);
                y_sum += t;
            }
        }
        total += w * loss_b;
        REAL inv = (REAL)(1.0 / s);
        for (fnn_int k = 0; k < n_k; k++) p[k] *= inv;
        if (delta_bk != NULL) {                     /* dE/dz = p sum(y') - y' */
            REAL *d = delta_bk + b * n_k;
            double ws = w * scale;
            if (label_b != NULL) {
                for (fnn_int k = 0; k < n_k; k++) d[k] = (REAL)(ws * ((double)p[k] - spread));
                d[label_b[b]] -= (REAL)(ws * keep);
            } else {
                const REAL *y = y_bk + b * n_k;
                for (fnn_int k = 0; k < n_k; k++)
                    d[k] = (REAL)(ws * (y_sum * (double)p[k] - (keep * (double)y[k] + spread)));
            }
        }
    }
    *loss_sum = total;
    return FNN_OK;
}

/* Label smoothing, as Keras: t = (1 - ls) y + ls / 2 takes the place of y in
 * sigmoid_binary_cross_entropy: E_b = mean_k [max(z,0) - z t + log(1 + e^-|z|)], delta := scale w_b (a - t) / n_k */
void FN(sigmoid_binary_cross_entropy_smoothed)(const REAL *z_bk, const REAL *y_bk, const REAL *w_b,
                                               double label_smoothing, fnn_int n_b, fnn_int n_k,
                                               double scale, REAL *a_bk, REAL *delta_bk,
                                               double *loss_sum)
{
    double keep = 1.0 - label_smoothing, spread = 0.5 * label_smoothing;
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        double ws = w * scale / (double)n_k;
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double z = z_bk[i], t = keep * (double)y_bk[i] + spread;
            row += (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
            a_bk[i] = FN(sigmoid)(z_bk[i]);
            if (delta_bk != NULL) delta_bk[i] = (REAL)(ws * ((double)a_bk[i] - t));
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

/* Label smoothing, as Keras: t = (1 - ls) y + ls / 2 takes the place of y in binary_cross_entropy
 * (probabilities clipped to [1e-7, 1 - 1e-7]); dA := scale w_b (a - t) / (a (1 - a) n_k), 0 where clipped */
void FN(binary_cross_entropy_smoothed)(const REAL *a_bk, const REAL *y_bk, const REAL *w_b,
                                       double label_smoothing, fnn_int n_b, fnn_int n_k,
                                       double scale, REAL *da_bk, double *loss_sum)
{
    const double eps = 1e-7;
    double keep = 1.0 - label_smoothing, spread = 0.5 * label_smoothing;
    double total = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        double w = w_b != NULL ? (double)w_b[b] : 1.0;
        double row = 0;
        for (fnn_int k = 0; k < n_k; k++) {
            fnn_int i = b * n_k + k;
            double a = a_bk[i], t = keep * (double)y_bk[i] + spread;
            double ac = a < eps ? eps : (a > 1 - eps ? 1 - eps : a);
            row -= t * log(ac) + (1 - t) * log(1 - ac);
            if (da_bk != NULL) {
                int inside = a >= eps && a <= 1 - eps;
                da_bk[i] = inside ? (REAL)(w * scale * (a - t) / (a * (1 - a) * (double)n_k)) : 0;
            }
        }
        total += w * row / (double)n_k;
    }
    *loss_sum = total;
}

/* ------------------------------------------------------------------ */
/* Optimizer                                                          */
/* ------------------------------------------------------------------ */

/* FN(sgd_momentum): in kernels_vectorised.h */

/* ------------------------------------------------------------------ */
/* Data movement and metrics                                          */
/* ------------------------------------------------------------------ */

void FN(gather_rows)(const REAL *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols, REAL *dst)
{
    for (fnn_int b = 0; b < n_b; b++) {
        memcpy(dst + b * n_cols, src + index_b[b] * n_cols, (size_t)n_cols * sizeof(REAL));
    }
}

/* FN(count_nonfinite): in kernels_vectorised.h */

void FN(prefetch_rows)(const REAL *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols)
{
    /* into the outer caches only (locality 1), so the products' working set stays in L1/L2 */
    const fnn_int line = 64 / (fnn_int)sizeof(REAL);
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *row = src + index_b[b] * n_cols;
        for (fnn_int k = 0; k < n_cols; k += line) FNN_PREFETCH(row + k);
    }
}

fnn_int FN(count_argmax_matches)(const REAL *p_bk, const fnn_int *label_b, const REAL *y_bk,
                                 fnn_int n_b, fnn_int n_k)
{
    fnn_int hits = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *p = p_bk + b * n_k;
        fnn_int best = 0;
        for (fnn_int k = 1; k < n_k; k++) {
            if (p[k] > p[best]) best = k;
        }
        fnn_int truth;
        if (label_b != NULL) {
            truth = label_b[b];
        } else {
            const REAL *y = y_bk + b * n_k;
            truth = 0;
            for (fnn_int k = 1; k < n_k; k++) {
                if (y[k] > y[truth]) truth = k;
            }
        }
        hits += best == truth;
    }
    return hits;
}

fnn_int FN(count_threshold_matches)(const REAL *a, const REAL *y, fnn_int n)
{
    fnn_int hits = 0;
    for (fnn_int i = 0; i < n; i++) hits += (a[i] > (REAL)0.5) == (y[i] > (REAL)0.5);
    return hits;
}

/* ------------------------------------------------------------------ */
/* Epoch metrics: counts of one batch added to the caller's counters  */
/* ------------------------------------------------------------------ */
/* The truth of entry (b, k) is [label_b = k] with class ids (label_b not NULL), else
 * [y_bk ≠ 0] (Keras casts y_true to bool); with index_b not NULL, row b's truth is that of
 * sample index_b[b] (label_{index_b[b]}, y row index_b[b]), read where the data lie.  Every
 * count is an integer, so a sum of counts does not depend on how the batches were split. */

static inline int FN(entry_truth)(const fnn_int *label_b, const REAL *y_bk, const fnn_int *index_b, fnn_int b,
                                  fnn_int k, fnn_int n_k)
{
    fnn_int r = index_b != NULL ? index_b[b] : b;
    return label_b != NULL ? label_b[r] == k : y_bk[r * n_k + k] != (REAL)0;
}

/* p_k among the top_k of its row p: fewer than top_k entries rank above it, ranking by value,
 * then by index among equal values (a stable top_k, as Keras' _filter_top_k) */
static inline int FN(in_top_k)(const REAL *p, fnn_int n_k, fnn_int k, fnn_int top_k)
{
    fnn_int rank = 0;
    for (fnn_int j = 0; j < n_k; j++) rank += p[j] > p[k] || (p[j] == p[k] && j < k);
    return rank < top_k;
}

void FN(count_above_thresholds)(const REAL *p_bk, const fnn_int *label_b, const REAL *y_bk,
                                const fnn_int *index_b, fnn_int n_b, fnn_int n_k, fnn_int class_id,
                                fnn_int top_k, const double *t, fnn_int n_t, int even, int with_eps,
                                long long *pos, long long *neg)
{
    /* c := #{i : p > t_i}, the number of thresholds an entry exceeds; pos[c] += [truth],
     * neg[c] += [not truth].  Then TP_i = Σ_{c > i} pos[c] and FP_i = Σ_{c > i} neg[c].
     * Written without data-dependent branches where it can (a mispredicted branch per entry
     * cost more than the counting): no call to ceil, a selected pointer for the truth. */
    const fnn_int k0 = class_id >= 0 ? class_id : 0, k1 = class_id >= 0 ? class_id + 1 : n_k;
    const REAL scale = (REAL)(n_t - 1), t0 = (REAL)t[0];
    if (n_t == 1 && !even && top_k <= 0) {
        /* one threshold (Precision's and Recall's default): the four outcomes in registers
         * (incrementing pos[c] entry after entry waits on the previous store to it) */
        long long tp = 0, fn = 0, fp = 0, tn = 0;
        if (label_b != NULL && class_id < 0) {
            /* class ids: a row has one true entry, so count the row's entries above t0 (a
             * loop the compiler vectorises), then move its true entry to the positives */
            for (fnn_int b = 0; b < n_b; b++) {
                const REAL *p = p_bk + b * n_k;
                fnn_int above = 0;
                for (fnn_int k = 0; k < n_k; k++) above += p[k] > t0;
                const int hit = p[label_b[index_b != NULL ? index_b[b] : b]] > t0;
                tp += hit;
                fn += !hit;
                fp += above - hit;
                tn += n_k - above - !hit;
            }
            pos[1] += tp;
            pos[0] += fn;
            neg[1] += fp;
            neg[0] += tn;
            return;
        }
        for (fnn_int b = 0; b < n_b; b++) {
            const REAL *p = p_bk + b * n_k;
            for (fnn_int k = k0; k < k1; k++) {
                const int above = p[k] > t0, truth = FN(entry_truth)(label_b, y_bk, index_b, b, k, n_k);
                tp += truth & above;
                fn += truth & (!above);
                fp += (!truth) & above;
                tn += (!truth) & (!above);
            }
        }
        pos[1] += tp;
        pos[0] += fn;
        neg[1] += fp;
        neg[0] += tn;
        return;
    }
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *p = p_bk + b * n_k;
        for (fnn_int k = k0; k < k1; k++) {
            const REAL v = p[k];
            fnn_int c;
            if (top_k > 0 && !FN(in_top_k)(p, n_k, k, top_k)) {
                c = 0;                        /* outside the top k: below every threshold */
            } else if (even) {
                /* t_i = i/(n_t − 1): c = ⌈clip(p, 0, 1)·(n_t − 1)⌉, at least 1 when t_0 < 0
                 * (Keras' bucketing of evenly spaced thresholds; NaN counts as 0) */
                REAL q = v > (REAL)1 ? (REAL)1 : (v > (REAL)0 ? v : (REAL)0);
                REAL x = q * scale;
                c = (fnn_int)x;               /* ⌊x⌋ for x ≥ 0, then ⌈x⌉ */
                c += (REAL)c < x;
                if (with_eps) c += c == 0;
            } else if (n_t == 1) {
                c = v > t0;                   /* (with top_k) */
            } else {                          /* t sorted: binary search for the first t_i ≥ p */
                fnn_int lo = 0, hi = n_t;
                while (lo < hi) {
                    fnn_int mid = lo + (hi - lo) / 2;
                    if (v > (REAL)t[mid]) lo = mid + 1; else hi = mid;
                }
                c = lo;
            }
            long long *h = FN(entry_truth)(label_b, y_bk, index_b, b, k, n_k) ? pos : neg;
            h[c]++;
        }
    }
}

void FN(count_class_outcomes)(const REAL *p_bk, const fnn_int *label_b, const REAL *y_bk,
                              const fnn_int *index_b, fnn_int n_b, fnn_int n_k, double threshold, int argmax,
                              long long *tp_k, long long *fp_k, long long *fn_k)
{
    /* ŷ_bk = [p_bk > threshold], or with argmax ŷ_bk = [p_bk ≥ max_j p_bj and |p_bk| > 1e−9]
     * (a NaN in the row makes its max NaN: nothing predicted, as Keras' ops.max);
     * tp_k += [ŷ ∧ y], fp_k += [ŷ ∧ ¬y], fn_k += [¬ŷ ∧ y] */
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *p = p_bk + b * n_k;
        REAL top = p[0];
        if (argmax) {
            for (fnn_int k = 1; k < n_k; k++) if (p[k] > top || p[k] != p[k]) top = p[k];   /* NaN stays */
        }
        for (fnn_int k = 0; k < n_k; k++) {
            int predicted = argmax ? (p[k] >= top && FABS(p[k]) > (REAL)1e-9) : p[k] > (REAL)threshold;
            int truth = FN(entry_truth)(label_b, y_bk, index_b, b, k, n_k);
            tp_k[k] += predicted && truth;
            fp_k[k] += predicted && !truth;
            fn_k[k] += !predicted && truth;
        }
    }
}

fnn_int FN(count_top_k_matches)(const REAL *p_bk, const fnn_int *label_b, const REAL *y_bk,
                                const fnn_int *index_b, fnn_int n_b, fnn_int n_k, fnn_int top_k)
{
    /* rows whose true class c (label_b, or the first argmax of y_bk) has rank
     * 1 + #{j : p_j > p_c} ≤ top_k (a NaN p_c ranks as −∞) */
    fnn_int hits = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        const REAL *p = p_bk + b * n_k;
        fnn_int c = 0;
        fnn_int r = index_b != NULL ? index_b[b] : b;
        if (label_b != NULL) {
            c = label_b[r];
        } else {
            const REAL *y = y_bk + r * n_k;
            for (fnn_int k = 1; k < n_k; k++) if (y[k] > y[c]) c = k;
        }
        fnn_int above = 0;
        if (p[c] == p[c]) {
            for (fnn_int j = 0; j < n_k; j++) above += p[j] > p[c];
        } else {
            for (fnn_int j = 0; j < n_k; j++) above += p[j] == p[j];
        }
        hits += above < top_k;
    }
    return hits;
}

void FN(sum_errors)(const REAL *p_bk, const fnn_int *label_b, const REAL *y_bk, const fnn_int *index_b,
                    fnn_int n_b, fnn_int n_k, double *sums)
{
    /* e = y − p entry by entry (y_bk := [label_b = k] with class ids):
     * sums[0] += Σ|e|, sums[1] += Σe², sums[2] += the number of entries */
    double abs_sum = 0, square_sum = 0;
    for (fnn_int b = 0; b < n_b; b++) {
        fnn_int r = index_b != NULL ? index_b[b] : b;
        for (fnn_int k = 0; k < n_k; k++) {
            double y = label_b != NULL ? (double)(label_b[r] == k) : (double)y_bk[r * n_k + k];
            double e = y - (double)p_bk[b * n_k + k];
            abs_sum += fabs(e);
            square_sum += e * e;
        }
    }
    sums[0] += abs_sum;
    sums[1] += square_sum;
    sums[2] += (double)(n_b * n_k);
}
