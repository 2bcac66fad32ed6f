/* fastnn's hand-written C kernels.
 *
 * Plain loops over C-contiguous (row-major) buffers.  The kernels know nothing
 * of Python: they take raw pointers and sizes, allocate nothing, never print,
 * and are safe to call without the GIL.  Matrix products are not here: they go
 * through fastnn/_kernels/_blas.pyx, to fastnn's own float32 kernel (gemm.c) or
 * to BLAS.
 *
 * Axis names in arguments: b = sample in the batch, i = input unit,
 * o = output unit, k = class.  So z_bo is a (n_b x n_o) row-major matrix.
 *
 * Every kernel exists twice, with the suffix _f32 (float) and _f64 (double);
 * both are generated from kernels_template.h.
 */
#ifndef FASTNN_KERNELS_H
#define FASTNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef ptrdiff_t fnn_int;          /* sizes and indices (same width as numpy.intp) */

/* Activation codes, shared with fastnn/_kernels/_ckernels.pxd. */
enum {
    FNN_LINEAR = 0,
    FNN_STEP = 1,                   /* Heaviside: 1 if z >= 0 else 0; derivative 0     */
    FNN_SIGMOID = 2,                /* 1 / (1 + e^-z);               g' = a (1 - a)    */
    FNN_HARD_SIGMOID = 3,           /* max(0, min(1, (z + 1) / 2));  g' = 1/2 on (-1,1) */
    FNN_TANH = 4,                   /* tanh z;                        g' = 1 - a^2     */
    FNN_RELU = 5,                   /* max(0, z);                     g' = [z > 0]     */
    FNN_SOFTMAX = 6,                /* e^z_k / sum_j e^z_j, row-wise (max-subtracted)  */
    /* Keras 3's activations, with Keras' default constants */
    FNN_LEAKY_RELU = 7,             /* z if z > 0 else 0.2 z;         g' = 1 or 0.2    */
    FNN_ELU = 8,                    /* z if z > 0 else e^z - 1;       g' = 1 or a + 1  */
    FNN_SELU = 9,                   /* s z if z > 0 else s alpha (e^z - 1); g' = s or a + s alpha */
    FNN_GELU = 10,                  /* z Phi(z) (erf form);           g' = Phi(z) + z phi(z) */
    FNN_SILU = 11,                  /* z sigmoid(z) (swish);          g' = s (1 + z (1 - s)) */
    FNN_SOFTPLUS = 12,              /* log(1 + e^z);                  g' = sigmoid(z)  */
    FNN_SOFTSIGN = 13,              /* z / (1 + |z|);                 g' = 1 / (1 + |z|)^2 */
    FNN_LAST_ACTIVATION = FNN_SOFTSIGN
};

/* Optimizer rules (fnn_optimizer_step), Keras 3's formulas.  t counts the updates already
 * made (0 at the first); lr is the rate of this step (its schedule applied); the state
 * arrays s0, s1, s2 start as zeros (Adagrad's s0 as initial_accumulator_value).
 *
 * First the gradient g of the mean batch loss gets the penalties' terms, is scaled (the
 * caller's clipnorm or global_clipnorm: scale = c / max(‖g‖, c)) and clipped:
 *     g := (g + l1·sign(w) + 2·l2·w)·scale;   g := min(max(g, −clipvalue), clipvalue) if clipvalue > 0
 * then the decoupled weight decay, w := w − lr·weight_decay·w, then the rule:
 *   SGD      s0 = v:  v := μ·v − lr·g;  w := w + v   (Nesterov: w := w + μ·v − lr·g)
 *   ADAM     s0 = m, s1 = v, s2 = v̂ (amsgrad):
 *            m := m + (1−β₁)(g − m);  v := v + (1−β₂)(g² − v);  v̂ := max(v̂, v) (amsgrad, then v := v̂)
 *            w := w − m·α / (√v + ε),  α = lr·√(1 − β₂^(t+1)) / (1 − β₁^(t+1))
 *   RMSPROP  s0 = v, s1 = momentum buffer, s2 = mean gradient ḡ (centered):
 *            v := ρ·v + (1−ρ)·g²;  ḡ := ρ·ḡ + (1−ρ)·g;  d := v − ḡ² + ε (centered) or v + ε
 *            Δ := lr·g / √d;  w := w − Δ, or with momentum: s1 := μ·s1 + Δ;  w := w − s1
 *   ADAGRAD  s0 = a:  a := a + g²;  w := w − lr·g / √(a + ε)
 */
enum { FNN_RULE_SGD = 0, FNN_RULE_ADAM = 1, FNN_RULE_RMSPROP = 2, FNN_RULE_ADAGRAD = 3 };

typedef struct {
    int kind;                       /* FNN_RULE_* */
    int nesterov, amsgrad, centered;
    double momentum;                /* SGD's and RMSprop's μ */
    double beta_1, beta_2, rho, epsilon;
    double weight_decay;            /* decoupled, per unit of rate; 0: none */
    double clipvalue;               /* > 0: each gradient value clipped to [−clipvalue, clipvalue] */
    double clipnorm;                /* > 0: each parameter's gradient scaled to a norm of at most this */
    double global_clipnorm;         /* > 0: all the gradients scaled to a joint norm of at most this */
} fnn_rule;

/* Dropout's random numbers: a hash of the element's number, so that any worker computes
 * the same mask for any row, forward and backward, with nothing stored (the "lowbias32"
 * integer hash, C. Wellons).  fnn_dropout_key mixes a layer's seed with the step t. */
static inline uint32_t fnn_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t fnn_dropout_key(uint32_t seed, long long t)
{
    uint64_t step = (uint64_t)t;
    return fnn_hash32(seed ^ fnn_hash32((uint32_t)step) ^ fnn_hash32((uint32_t)(step >> 32) + 0x9e3779b9U));
}

/* Status codes returned by kernels that can fail. */
enum {
    FNN_OK = 0,
    FNN_BAD_ACTIVATION = 1,         /* unknown activation code, or softmax where it has no elementwise form */
    FNN_BAD_LABEL = 2               /* an integer class label outside [0, n_k) */
};

#define FNN_DECLARE_KERNELS(real, sfx)                                                          \
    /* a := g(z + b) row-wise; z is updated in place to z + b (b may be NULL) */               \
    int fnn_bias_activation_##sfx(int act, const real *b_o, real *z_bo, real *a_bo,            \
                                  fnn_int n_b, fnn_int n_o);                                   \
    /* out := g'(z), elementwise (every activation but softmax) */                             \
    int fnn_activation_derivative_##sfx(int act, const real *z, const real *a, real *out,      \
                                        fnn_int n);                                            \
    /* delta := dA * g'(z); softmax: delta := a * (dA - sum_k dA_k a_k). delta may be dA. */   \
    int fnn_activation_backward_##sfx(int act, const real *z_bo, const real *a_bo,             \
                                      const real *da_bo, real *delta_bo, fnn_int n_b,          \
                                      fnn_int n_o);                                            \
    /* db_o := sum_b delta_bo */                                                               \
    void fnn_column_sums_##sfx(const real *delta_bo, real *db_o, fnn_int n_b, fnn_int n_o);    \
    /* out := x + y (out may be x or y) */                                                     \
    void fnn_add_##sfx(const real *x, const real *y, real *out, fnn_int n);                    \
    /* p := softmax(z); E_b = -sum_k y_bk log p_bk;  delta := scale w_b (p - y).               \
       Labels either as class ids (label_b) or as rows (y_bk); returns sum_b w_b E_b. */       \
    int fnn_softmax_cross_entropy_##sfx(const real *z_bk, const fnn_int *label_b,              \
                                        const real *y_bk, const real *w_b, fnn_int n_b,        \
                                        fnn_int n_k, double scale, real *p_bk,                 \
                                        real *delta_bk, double *loss_sum);                     \
    /* p := softmax(z); E_b = -sum_k t_bk alpha_k (1 - p_bk)^gamma log p_bk, with the targets  \
       smoothed t = (1 - ls) y + ls / n_k; delta := scale w_b dE_b/dz (exact gradient).        \
       alpha_k may be NULL (alpha = 1). */                                                     \
    int fnn_focal_cross_entropy_##sfx(const real *z_bk, const fnn_int *label_b,                \
                                      const real *y_bk, const real *w_b, const real *alpha_k,  \
                                      double gamma, double label_smoothing, fnn_int n_b,       \
                                      fnn_int n_k, double scale, real *p_bk, real *delta_bk,   \
                                      double *loss_sum);                                       \
    /* a := sigmoid(z); E_b = mean_k [max(z,0) - z y + log(1 + e^-|z|)];                       \
       delta := scale w_b (a - y) / n_k */                                                     \
    void fnn_sigmoid_binary_cross_entropy_##sfx(const real *z_bk, const real *y_bk,            \
                                                const real *w_b, fnn_int n_b, fnn_int n_k,     \
                                                double scale, real *a_bk, real *delta_bk,      \
                                                double *loss_sum);                             \
    /* E_b = -mean_k [y log a + (1-y) log(1-a)], a clipped to [1e-7, 1-1e-7];                  \
       dA := scale w_b (a - y) / (a (1 - a) n_k), 0 where a was clipped */                     \
    void fnn_binary_cross_entropy_##sfx(const real *a_bk, const real *y_bk, const real *w_b,  \
                                        fnn_int n_b, fnn_int n_k, double scale, real *da_bk,   \
                                        double *loss_sum);                                     \
    /* E_b = mean_k (a - y)^2;  dA := scale w_b 2 (a - y) / n_k */                             \
    void fnn_mean_squared_error_##sfx(const real *a_bk, const real *y_bk, const real *w_b,    \
                                      fnn_int n_b, fnn_int n_k, double scale, real *da_bk,     \
                                      double *loss_sum);                                       \
    /* E_b = mean_k |a - y|;  dA := scale w_b sign(a - y) / n_k */                             \
    void fnn_mean_absolute_error_##sfx(const real *a_bk, const real *y_bk, const real *w_b,   \
                                       fnn_int n_b, fnn_int n_k, double scale, real *da_bk,    \
                                       double *loss_sum);                                      \
    /* E_b = mean_k h(a - y): r^2/2 for |r| <= delta, else delta |r| - delta^2/2;               \
       dA := scale w_b clip(a - y, -delta, delta) / n_k */                                     \
    void fnn_huber_##sfx(const real *a_bk, const real *y_bk, const real *w_b, double delta,   \
                         fnn_int n_b, fnn_int n_k, double scale, real *da_bk,                  \
                         double *loss_sum);                                                    \
    /* E_b = 1/2 sum_k (a - y)^2;  dA := scale w_b (a - y) */                                \
    void fnn_half_squared_error_##sfx(const real *a_bk, const real *y_bk, const real *w_b,    \
                                      fnn_int n_b, fnn_int n_k, double scale, real *da_bk,     \
                                      double *loss_sum);                                       \
    /* a := e^z;  E_b = sum_k [y log(y/a) - y + a];  delta := scale w_b (a - y) */            \
    void fnn_exp_poisson_##sfx(const real *z_bk, const real *y_bk, const real *w_b,            \
                               fnn_int n_b, fnn_int n_k, double scale, real *a_bk,             \
                               real *delta_bk, double *loss_sum);                              \
    /* softmax_cross_entropy with the targets smoothed: y' = (1 - ls) y + ls / n_k */          \
    int fnn_softmax_cross_entropy_smoothed_##sfx(const real *z_bk, const fnn_int *label_b,     \
                                                 const real *y_bk, const real *w_b,            \
                                                 double label_smoothing, fnn_int n_b,          \
                                                 fnn_int n_k, double scale, real *p_bk,        \
                                                 real *delta_bk, double *loss_sum);            \
    /* sigmoid_binary_cross_entropy with the targets smoothed: t = (1 - ls) y + ls / 2 */      \
    void fnn_sigmoid_binary_cross_entropy_smoothed_##sfx(const real *z_bk, const real *y_bk,   \
                                                         const real *w_b,                      \
                                                         double label_smoothing, fnn_int n_b,  \
                                                         fnn_int n_k, double scale,            \
                                                         real *a_bk, real *delta_bk,           \
                                                         double *loss_sum);                    \
    /* binary_cross_entropy with the targets smoothed: t = (1 - ls) y + ls / 2 */              \
    void fnn_binary_cross_entropy_smoothed_##sfx(const real *a_bk, const real *y_bk,           \
                                                 const real *w_b, double label_smoothing,      \
                                                 fnn_int n_b, fnn_int n_k, double scale,       \
                                                 real *da_bk, double *loss_sum);               \
    /* v := mu v - lr g;  w := w + v  (Nesterov: w := w + mu v - lr g) */                     \
    void fnn_sgd_momentum_##sfx(real *w, const real *g, real *v, fnn_int n,                    \
                                double lr, double mu, int nesterov);                           \
    /* one step of the rule r (see fnn_rule) on n parameters w with gradient g (times scale)   \
       and state s0, s1, s2 (NULL where the rule keeps none); returns the penalty              \
       l1·Σ|w| + l2·Σw² of w before the step (0 without penalties) */                          \
    double fnn_optimizer_step_##sfx(const fnn_rule *r, double lr, long long t, real *w,        \
                                    const real *g, real *s0, real *s1, real *s2, fnn_int n,   \
                                    double l1, double l2, double scale);                      \
    /* Σ (g + l1·sign(w) + 2·l2·w)²: the squared norm of the gradient a step takes */          \
    double fnn_gradient_sum_squares_##sfx(const real *w, const real *g, fnn_int n, double l1,  \
                                          double l2);                                         \
    /* inverted dropout of rows first_row .. of a batch: y := x / keep where kept, else 0       \
       (kept: fnn_hash32(key + row·n_o + o) < threshold); on δ, its backward pass */           \
    void fnn_dropout_##sfx(const real *x, real *y, fnn_int n_b, fnn_int n_o, fnn_int first_row, \
                           uint32_t key, uint32_t threshold, double keep);                    \
    /* dst_b := src_{index_b}, whole rows of n_cols */                                         \
    void fnn_gather_rows_##sfx(const real *src, const fnn_int *index_b, fnn_int n_b,           \
                               fnn_int n_cols, real *dst);                                     \
    /* number of NaN and infinite entries of x */                                              \
    fnn_int fnn_count_nonfinite_##sfx(const real *x, fnn_int n);                               \
    /* ask the caches for the rows src_{index_b} that a later gather_rows will copy */             \
    void fnn_prefetch_rows_##sfx(const real *src, const fnn_int *index_b, fnn_int n_b,         \
                                 fnn_int n_cols);                                              \
    /* number of rows whose first argmax equals label_b (or the argmax of y_bk) */             \
    fnn_int fnn_count_argmax_matches_##sfx(const real *p_bk, const fnn_int *label_b,           \
                                           const real *y_bk, fnn_int n_b, fnn_int n_k);        \
    /* number of entries with [a > 1/2] == [y > 1/2] */                                        \
    fnn_int fnn_count_threshold_matches_##sfx(const real *a, const real *y, fnn_int n);          \
    /* epoch metrics (truth: [label_r = k] with class ids, else [y_rk ≠ 0], r = index_b[b] or b): \
       pos[c] / neg[c] += 1 for each true / false entry exceeding c of the sorted thresholds t   \
       (class_id ≥ 0: that column only; top_k > 0: entries outside the top k exceed none;       \
       even: t_i = i/(n_t − 1), c = ceil(clip(p)·(n_t − 1)), ≥ 1 with with_eps) */               \
    void fnn_count_above_thresholds_##sfx(const real *p_bk, const fnn_int *label_b,            \
                                          const real *y_bk, const fnn_int *index_b,            \
                                          fnn_int n_b, fnn_int n_k, fnn_int class_id,          \
                                          fnn_int top_k, const double *t, fnn_int n_t,         \
                                          int even, int with_eps, long long *pos,              \
                                          long long *neg);                                     \
    /* per class: tp_k, fp_k, fn_k += outcomes of ŷ = [p > threshold] (argmax: p ≥ row max) */  \
    void fnn_count_class_outcomes_##sfx(const real *p_bk, const fnn_int *label_b,              \
                                        const real *y_bk, const fnn_int *index_b, fnn_int n_b, \
                                        fnn_int n_k, double threshold, int argmax,             \
                                        long long *tp_k, long long *fp_k, long long *fn_k);    \
    /* rows whose true class ranks 1 + #{j : p_j > p_true} ≤ top_k */                          \
    fnn_int fnn_count_top_k_matches_##sfx(const real *p_bk, const fnn_int *label_b,            \
                                          const real *y_bk, const fnn_int *index_b,            \
                                          fnn_int n_b, fnn_int n_k, fnn_int top_k);            \
    /* sums[0] += Σ|y − p|, sums[1] += Σ(y − p)², sums[2] += n_b·n_k */                        \
    void fnn_sum_errors_##sfx(const real *p_bk, const fnn_int *label_b, const real *y_bk,      \
                              const fnn_int *index_b, fnn_int n_b, fnn_int n_k, double *sums);

FNN_DECLARE_KERNELS(float, f32)
FNN_DECLARE_KERNELS(double, f64)

#undef FNN_DECLARE_KERNELS

#endif /* FASTNN_KERNELS_H */
