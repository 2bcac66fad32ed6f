# Declarations of the hand-written C kernels in csrc/ (see csrc/fastnn_kernels.h for the formulas).
from numpy cimport npy_intp

cdef extern from "fastnn_kernels.h" nogil:
    ctypedef npy_intp fnn_int

    enum:
        FNN_LINEAR, FNN_STEP, FNN_SIGMOID, FNN_HARD_SIGMOID, FNN_TANH, FNN_RELU, FNN_SOFTMAX,
        FNN_LEAKY_RELU, FNN_ELU, FNN_SELU, FNN_GELU, FNN_SILU, FNN_SOFTPLUS, FNN_SOFTSIGN
    enum:
        FNN_OK, FNN_BAD_ACTIVATION, FNN_BAD_LABEL

    int fnn_bias_activation_f32(int act, const float *b_o, float *z_bo, float *a_bo, fnn_int n_b, fnn_int n_o)
    int fnn_bias_activation_f64(int act, const double *b_o, double *z_bo, double *a_bo, fnn_int n_b, fnn_int n_o)
    int fnn_activation_derivative_f32(int act, const float *z, const float *a, float *out, fnn_int n)
    int fnn_activation_derivative_f64(int act, const double *z, const double *a, double *out, fnn_int n)
    int fnn_activation_backward_f32(int act, const float *z_bo, const float *a_bo, const float *da_bo, float *delta_bo, fnn_int n_b, fnn_int n_o)
    int fnn_activation_backward_f64(int act, const double *z_bo, const double *a_bo, const double *da_bo, double *delta_bo, fnn_int n_b, fnn_int n_o)
    void fnn_column_sums_f32(const float *delta_bo, float *db_o, fnn_int n_b, fnn_int n_o)
    void fnn_column_sums_f64(const double *delta_bo, double *db_o, fnn_int n_b, fnn_int n_o)
    void fnn_add_f32(const float *x, const float *y, float *out, fnn_int n)
    void fnn_add_f64(const double *x, const double *y, double *out, fnn_int n)

    int fnn_softmax_cross_entropy_f32(const float *z_bk, const fnn_int *label_b, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *p_bk, float *delta_bk, double *loss_sum)
    int fnn_softmax_cross_entropy_f64(const double *z_bk, const fnn_int *label_b, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *p_bk, double *delta_bk, double *loss_sum)
    int fnn_focal_cross_entropy_f32(const float *z_bk, const fnn_int *label_b, const float *y_bk, const float *w_b, const float *alpha_k, double gamma, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, float *p_bk, float *delta_bk, double *loss_sum)
    int fnn_focal_cross_entropy_f64(const double *z_bk, const fnn_int *label_b, const double *y_bk, const double *w_b, const double *alpha_k, double gamma, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, double *p_bk, double *delta_bk, double *loss_sum)
    void fnn_sigmoid_binary_cross_entropy_f32(const float *z_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *a_bk, float *delta_bk, double *loss_sum)
    void fnn_sigmoid_binary_cross_entropy_f64(const double *z_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *a_bk, double *delta_bk, double *loss_sum)
    void fnn_binary_cross_entropy_f32(const float *a_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_binary_cross_entropy_f64(const double *a_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)
    void fnn_mean_squared_error_f32(const float *a_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_mean_squared_error_f64(const double *a_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)
    void fnn_mean_absolute_error_f32(const float *a_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_mean_absolute_error_f64(const double *a_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)
    void fnn_half_squared_error_f32(const float *a_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_half_squared_error_f64(const double *a_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)
    void fnn_exp_poisson_f32(const float *z_bk, const float *y_bk, const float *w_b, fnn_int n_b, fnn_int n_k, double scale, float *a_bk, float *delta_bk, double *loss_sum)
    void fnn_exp_poisson_f64(const double *z_bk, const double *y_bk, const double *w_b, fnn_int n_b, fnn_int n_k, double scale, double *a_bk, double *delta_bk, double *loss_sum)
    void fnn_huber_f32(const float *a_bk, const float *y_bk, const float *w_b, double delta, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_huber_f64(const double *a_bk, const double *y_bk, const double *w_b, double delta, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)
    int fnn_softmax_cross_entropy_smoothed_f32(const float *z_bk, const fnn_int *label_b, const float *y_bk, const float *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, float *p_bk, float *delta_bk, double *loss_sum)
    int fnn_softmax_cross_entropy_smoothed_f64(const double *z_bk, const fnn_int *label_b, const double *y_bk, const double *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, double *p_bk, double *delta_bk, double *loss_sum)
    void fnn_sigmoid_binary_cross_entropy_smoothed_f32(const float *z_bk, const float *y_bk, const float *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, float *a_bk, float *delta_bk, double *loss_sum)
    void fnn_sigmoid_binary_cross_entropy_smoothed_f64(const double *z_bk, const double *y_bk, const double *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, double *a_bk, double *delta_bk, double *loss_sum)
    void fnn_binary_cross_entropy_smoothed_f32(const float *a_bk, const float *y_bk, const float *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, float *da_bk, double *loss_sum)
    void fnn_binary_cross_entropy_smoothed_f64(const double *a_bk, const double *y_bk, const double *w_b, double label_smoothing, fnn_int n_b, fnn_int n_k, double scale, double *da_bk, double *loss_sum)

    void fnn_sgd_momentum_f32(float *w, const float *g, float *v, fnn_int n, double lr, double mu, int nesterov)
    void fnn_sgd_momentum_f64(double *w, const double *g, double *v, fnn_int n, double lr, double mu, int nesterov)
    enum:
        FNN_RULE_SGD, FNN_RULE_ADAM, FNN_RULE_RMSPROP, FNN_RULE_ADAGRAD
    ctypedef struct fnn_rule:
        int kind, nesterov, amsgrad, centered
        double momentum, beta_1, beta_2, rho, epsilon, weight_decay, clipvalue, clipnorm, global_clipnorm
    double fnn_optimizer_step_f32(const fnn_rule *r, double lr, long long t, float *w, const float *g,
                                  float *s0, float *s1, float *s2, fnn_int n, double l1, double l2, double scale)
    double fnn_optimizer_step_f64(const fnn_rule *r, double lr, long long t, double *w, const double *g,
                                  double *s0, double *s1, double *s2, fnn_int n, double l1, double l2, double scale)
    unsigned int fnn_dropout_key(unsigned int seed, long long t)
    void fnn_dropout_f32(const float *x, float *y, fnn_int n_b, fnn_int n_o, fnn_int first_row, unsigned int key,
                         unsigned int threshold, double keep)
    void fnn_dropout_f64(const double *x, double *y, fnn_int n_b, fnn_int n_o, fnn_int first_row, unsigned int key,
                         unsigned int threshold, double keep)
    double fnn_gradient_sum_squares_f32(const float *w, const float *g, fnn_int n, double l1, double l2)
    double fnn_gradient_sum_squares_f64(const double *w, const double *g, fnn_int n, double l1, double l2)

    void fnn_gather_rows_f32(const float *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols, float *dst)
    void fnn_gather_rows_f64(const double *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols, double *dst)
    fnn_int fnn_count_nonfinite_f32(const float *x, fnn_int n)
    fnn_int fnn_count_nonfinite_f64(const double *x, fnn_int n)
    void fnn_prefetch_rows_f32(const float *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols)
    void fnn_prefetch_rows_f64(const double *src, const fnn_int *index_b, fnn_int n_b, fnn_int n_cols)
    fnn_int fnn_count_argmax_matches_f32(const float *p_bk, const fnn_int *label_b, const float *y_bk, fnn_int n_b, fnn_int n_k)
    fnn_int fnn_count_argmax_matches_f64(const double *p_bk, const fnn_int *label_b, const double *y_bk, fnn_int n_b, fnn_int n_k)
    fnn_int fnn_count_threshold_matches_f32(const float *a, const float *y, fnn_int n)
    fnn_int fnn_count_threshold_matches_f64(const double *a, const double *y, fnn_int n)
    void fnn_count_above_thresholds_f32(const float *p_bk, const fnn_int *label_b, const float *y_bk, const fnn_int *index_b, fnn_int n_b,
                                         fnn_int n_k, fnn_int class_id, fnn_int top_k, const double *t, fnn_int n_t,
                                         int even, int with_eps, long long *pos, long long *neg)
    void fnn_count_class_outcomes_f32(const float *p_bk, const fnn_int *label_b, const float *y_bk, const fnn_int *index_b, fnn_int n_b,
                                       fnn_int n_k, double threshold, int argmax, long long *tp_k, long long *fp_k,
                                       long long *fn_k)
    fnn_int fnn_count_top_k_matches_f32(const float *p_bk, const fnn_int *label_b, const float *y_bk, const fnn_int *index_b, fnn_int n_b,
                                         fnn_int n_k, fnn_int top_k)
    void fnn_sum_errors_f32(const float *p_bk, const fnn_int *label_b, const float *y_bk, const fnn_int *index_b, fnn_int n_b, fnn_int n_k,
                             double *sums)
    void fnn_count_above_thresholds_f64(const double *p_bk, const fnn_int *label_b, const double *y_bk, const fnn_int *index_b, fnn_int n_b,
                                         fnn_int n_k, fnn_int class_id, fnn_int top_k, const double *t, fnn_int n_t,
                                         int even, int with_eps, long long *pos, long long *neg)
    void fnn_count_class_outcomes_f64(const double *p_bk, const fnn_int *label_b, const double *y_bk, const fnn_int *index_b, fnn_int n_b,
                                       fnn_int n_k, double threshold, int argmax, long long *tp_k, long long *fp_k,
                                       long long *fn_k)
    fnn_int fnn_count_top_k_matches_f64(const double *p_bk, const fnn_int *label_b, const double *y_bk, const fnn_int *index_b, fnn_int n_b,
                                         fnn_int n_k, fnn_int top_k)
    void fnn_sum_errors_f64(const double *p_bk, const fnn_int *label_b, const double *y_bk, const fnn_int *index_b, fnn_int n_b, fnn_int n_k,
                             double *sums)
