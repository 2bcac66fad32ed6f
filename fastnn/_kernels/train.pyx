"""The training loop of a stack of Dense layers, compiled.

One call runs many SGD steps without touching Python: for each mini-batch it
gathers the samples by index, runs the forward pass, the loss and its gradient,
backpropagates the sensitivities δ, and updates every parameter with momentum —
all on buffers allocated once (the model's workspace), with the GIL released.

Per layer l (input I_l = A_{l-1}, or the gathered batch X for the first layer):
    forward    Z_l := I_l·W_l + b_l;  A_l := g_l(Z_l)
    loss       δ_L := ∂L/∂Z_L  (fused with softmax / sigmoid where the loss allows)
    backward   δ_{l-1} := (δ_l·W_lᵀ) ⊙ g'_{l-1}(Z_{l-1})
    gradients  dW_l := I_lᵀ·δ_l;  db_l := Σ_b δ_l
    update     v := μ·v − γ_t·g;  w := w + v,  γ_t = γ / (1 + decay·t)

With two workers split by batch rows, each runs the forward pass, the loss and the
backward pass on its half of the batch's rows (every row's δ depends on that row
alone). After a barrier, each computes the gradient of its half of every layer's
weight rows over the whole batch and updates those rows: the two never write the same
memory, no gradient is summed across workers, and the result is the one a single
worker computes. But the first layer, when it has more inputs than the batch has rows,
is split by units all the same (see _forward_first_by_units): its weights then stay with
the worker that updates them, and its product is summed from two halves. Split by
units (for wide layers), each worker owns half of every layer's weight rows and alone
reads and writes them (see _forward_units and _backward_units).

The gradient of a layer's weights is computed a block of rows at a time into a small
buffer and applied while in cache; only the last step of a call stores dW whole. In
float32 on fastnn's GEMM each block's update runs inside the product of the next block
(see _update_weight_rows and fnn_sgemm_side_update in csrc/gemm.h). While a step's
products run, the GEMM also fetches the next batch's samples on the side (see
fnn_sgemm_prefetch_rows). On that kernel the batch is not copied out of the data either:
the first layer's two products (Z := X·W forward, dW := Xᵀ·δ) read the batch's samples
where they lie, by index (fnn_sgemm_rows); only the last step of a call gathers them into
the buffer the layers show as X. Where it can, fastnn's float32 GEMM also applies a layer's
elementwise step as it stores each tile: b and relu (or linear) forward, except in the
last step of a call, which stores Z for the layers to show (see _forward_fused), and
relu's derivative backward (fnn_sgemm_relu_gradient), each bit for bit the separate pass.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from libc.float cimport DBL_MAX
from libc.math cimport isfinite, log, sqrt
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from fastnn._kernels._ckernels cimport *
from fastnn._kernels._blas cimport (gemm, NoTrans, Transpose, prefetch_rows_in_products, products_propagate_nonfinite,
                                    update_in_products, finish_update_in_products, gemm_bias_relu,
                                    gemm_relu_gradient, gemm_rows, own_sgemm_ready, packed_weights_size,
                                    pack_weights, gemm_packed, gemm_momentum)
from fastnn._kernels.dense cimport dense_forward_raw
from fastnn._kernels.activations cimport bias_activation, activation_backward_raw
from fastnn._kernels.optim cimport make_rule
from fastnn._kernels import _validate

cnp.import_array()

include "_cpu.pxi"

cdef extern from "team.h" nogil:
    enum: FNN_MAX_WORKERS
    ctypedef struct fnn_barrier:
        pass
    void fnn_barrier_init(fnn_barrier *barrier, int n_workers)
    void fnn_barrier_wait(fnn_barrier *barrier)
    ctypedef struct fnn_counter:
        pass
    void fnn_counter_init(fnn_counter *counter)
    long long fnn_counter_take(fnn_counter *counter)
    int fnn_team_run(int n_workers, void (*work)(void *arg, int worker) noexcept nogil, void *arg)
    double fnn_team_round_trip_ns(long long rounds)
    void fnn_team_limit_threads(int n)

# Loss kinds; the first three are fused with the output activation, the others take ∂L/∂A
# back through it.
# "half_squared_error" (½ Σ_k (a − y)²) and "exp_poisson" (fused with an exponential output, a = e^z)
# are scikit-learn's MLPRegressor losses.
LOSS_KINDS = ("softmax_cross_entropy", "focal_cross_entropy", "sigmoid_binary_cross_entropy",
              "binary_cross_entropy", "mean_squared_error", "mean_absolute_error", "huber",
              "half_squared_error", "exp_poisson")
cdef enum:
    SOFTMAX_CE = 0
    FOCAL = 1
    SIGMOID_BCE = 2
    BCE = 3
    MSE = 4
    MAE = 5
    HUBER = 6
    HALF_SE = 7
    EXP_POISSON = 8


cdef inline bint _fused_kind(int kind) noexcept nogil:
    """The loss applies the output activation itself (softmax, sigmoid, exp) and gives δ = ∂L/∂Z."""
    return kind < BCE or kind == EXP_POISSON

ACCURACY_KINDS = ("none", "argmax", "threshold")
# What the loop counts for fastnn.metrics, batch after batch (see Counters)
COUNTER_KINDS = ("above_thresholds", "class_outcomes", "top_k", "errors")
cdef enum:
    ABOVE_THRESHOLDS = 0
    CLASS_OUTCOMES = 1
    TOP_K = 2
    ERRORS = 3
SPLITS = _validate.SPLITS

# Values in a buffer for a block of dW rows (120 KB in float32): small enough to stay in
# the L2 cache between its product and its update. Each worker has two (see _update_weight_rows).
DEF DW_BLOCK_VALUES = 30720
# A B shared by many float32 products is packed once, into the strips fastnn's kernel reads,
# where it is wider than this: a layer's weights in predict (read by every chunk of rows)
# and a layer's δ in training (read by every block of dW rows).  The kernel reads a narrower
# B in place, rows close enough for the hardware prefetcher (64 floats: 256 bytes); a
# 1024-wide B's rows are 4 KB apart, which it packed again for every product.  On one core
# of an Intel Xeon with AVX-512: net B's predict 14.8k -> 18.6k samples/s, and dW of a
# 1024-wide layer in blocks of 30 rows 110 -> 140 GFLOP/s.  Read when a call starts.
PACKED_WIDER_THAN = 128
# On AVX2, a product over mostly-zero rows (MNIST's) reads them as sparse rows against packed
# strips of B when B is wider than this (gemm_driver.h): the first layer's weights are then
# packed once for predict whatever their width.
SPARSE_WIDER_THAN = 32
# A hidden layer's input from a relu layer or a dropout is read as sparse rows too (when at most
# half of a block's values are not 0) from this many inputs on (see _sparse_input).
SPARSE_INPUTS_FROM = 256
# Fewest weights (a worker's rows of a layer) whose update runs inside the products: below
# it (Iris' layers) the update is a few cache lines, cheaper than the extra products it takes.
DEF SIDE_UPDATE_VALUES = 4096
cdef Py_ssize_t _FIRST_ROW = 0        # the index list of one row: a block of consecutive rows fetched as one


cdef struct Layer:
    int n_in, n_out, act
    void *W
    void *b            # NULL without bias
    void *vW
    void *vb
    void *dW
    void *db
    void *Z
    void *A
    void *delta
    void *input        # the gathered batch for the first layer, A of the previous layer otherwise
    void *partial      # split by units: each worker's share of Z, batch_size × n_out values each
    void *s1W          # the optimizer's other state arrays (vW, vb are its first: s0), or NULL
    void *s2W
    void *s1b
    void *s2b
    double l1W, l2W, l1b, l2b     # penalties l1·Σ|w| + l2·Σw² on W and on b
    void *D            # dropout after this layer: its output D = A ⊙ mask / keep, the next layer's input
    double keep        # 1 − rate
    unsigned int threshold        # keep·2³² (0: no dropout)
    unsigned int seed
    bint sparse_input  # the input is a relu layer's A or a dropout's D, often half zeros or more:
                       # the float32 products over it (forward, dW) may read it as sparse rows
    bint sparse_delta  # δ is a relu layer's or a dropout's, as often zero: δ·Wᵀ may read it so


cdef struct Counter:   # one metric's counts (see Counters)
    int kind
    fnn_int class_id, top_k, n_t
    const double *t
    bint even, with_eps, argmax
    double threshold
    long long *c0
    long long *c1
    long long *c2
    double *sums


cdef struct Batch:     # the current mini-batch, gathered from the data by index
    fnn_int n
    void *X
    fnn_int *label
    void *Y
    void *w


cdef struct Loop:
    void *X
    bint sparse_X       # X mostly zeros: the products over its rows leave out all-zero columns
    fnn_int n_samples
    fnn_int *labels
    void *Y
    void *w
    fnn_int *order
    fnn_int n_order
    Py_ssize_t first_batch, n_batches, batch_size
    double lr, decay, momentum
    bint nesterov
    long long iteration
    double *rates       # the rate of each step of the call (rates[k]), or NULL: lr / (1 + decay·t)
    fnn_rule rule       # the optimizer's rule, when general
    bint general        # not the plain momentum step: the rule's kernel updates every parameter
    bint deferred       # clipnorm or global_clipnorm: the updates wait for every gradient's norm
    bint penalised      # some layer has a penalty, whose value joins each step's loss
    double *losses
    double *penalties   # each step's penalty, apart from its loss (or NULL: added to losses)
    bint weighted_mean  # a batch's loss is Σ w E / Σ w (else / m)
    bint penalty_per_sample   # a step's penalties are divided by the batch's m (or Σ w)
    int accuracy
    Counter *counters   # the metrics' counters, added to by worker 0 after each step's loss
    int n_counters
    char gap[64]        # worker 0 writes what follows every step; the other reads the fields above
    fnn_int hits, counted, last_n
    char gap_after[64]


cdef struct Own:      # what one worker writes in its steps, 128 bytes apart from the next's
    double loss_part
    fnn_int hits_part
    Py_ssize_t dw_blocks   # blocks of dW it has computed (which buffer is next)
    bint side_update       # an update runs inside its products
    bint kernel_ready      # its products run on fastnn's kernel and cannot fail
    int parity             # the step's number mod 2: which penalty_part its update adds to
    double penalty_part[2] # the penalties of its parameters before the update, per step parity
    double penalty_scale   # this step's factor of the penalties (1, or 1 / m per sample)
    char pad[64]           # 128 bytes in all


cdef struct Shared:   # what the workers of one train() call share
    Layer *layers
    int n_layers, loss_kind, n_workers
    bint is_float
    double gamma
    void *alpha
    double label_smoothing, huber_delta
    bint sum_over_outputs   # the losses that average over the outputs sum over them instead
    double clip_probabilities # > 0: the cross-entropies' values take p clipped to [ε, 1 − ε]
    void *probs        # from_logits: the fused loss's probabilities (the output's A holds its Z)
    Loop *loop
    Batch *batch
    void *scratch      # per worker, two buffers of block_len values for blocks of dW rows
    Py_ssize_t block_len
    float *packed_delta           # float32: per worker, a layer's δ packed for its dW products (or NULL)
    Py_ssize_t packed_delta_len   # floats of one worker's packed δ
    Py_ssize_t packed_wider_than  # layers wider than this have their δ packed
    Py_ssize_t packed_first_wider_than    # and the first, over mostly-zero data
    bint by_units
    double *norm_parts  # deferred updates: per worker, the squared norms of its share of each W and b
    bint first_by_units # split by batch, but the first layer by units (see _forward_first_by_units)
    bint rows_in_place  # float32 split by batch: the first layer reads the batch in place if all workers can
    Py_ssize_t done
    # what the workers write during the steps lies on cache lines of its own: a line one core
    # writes while the other reads the fields above (or writes its own values) goes back and
    # forth between the cores (some 140 ns each time here)
    char gap[64]
    fnn_barrier barrier
    char gap_after[64]
    Own own[FNN_MAX_WORKERS]


cdef void *addr(a):
    """Address of an array's first element (NULL for None or an empty array). Through NumPy's
    C API: a.ctypes.data cost ~3 µs an array, a tenth of a small network's train() call."""
    if a is None:
        return NULL
    cdef cnp.ndarray array = a
    if cnp.PyArray_SIZE(array) == 0:
        return NULL
    return cnp.PyArray_DATA(array)


cdef bint _indices_within(a, Py_ssize_t n) except -1:
    """Every value of the 1-D C-contiguous intp array a is in [0, n) (one compare each: a
    negative index, taken as unsigned, is above n)."""
    cdef const Py_ssize_t[::1] v = a
    cdef Py_ssize_t i
    cdef bint inside = True
    for i in range(v.shape[0]):
        inside &= <size_t> v[i] < <size_t> n
    return inside


cdef bint _rates_valid(const double[::1] rates, Py_ssize_t n) except -1:
    """The first n rates are finite and >= 0 (a NaN is neither)."""
    cdef Py_ssize_t i
    cdef bint valid = True
    for i in range(n):
        valid &= rates[i] >= 0 and rates[i] <= DBL_MAX
    return valid


ZEROS_TO_SKIP = 0.5     # share of zeros in the data from which the first layer skips them


def count_nonfinite(x):
    """The number of NaN and infinite values in x, a float32 or float64 array: one pass over
    its memory with the GIL released. fit checks its data with it: NumPy's x.min() and
    x.max(), which also allocate nothing, take two passes (MNIST's 188 MB of float32:
    about 29 ms of every fit call)."""
    if not isinstance(x, np.ndarray) or x.dtype not in (_validate.float32, _validate.float64):
        raise TypeError(f"x must be a float32 or float64 numpy.ndarray, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    dtype = x.dtype
    cdef const float[::1] f32
    cdef const double[::1] f64
    cdef fnn_int bad = 0
    flat = np.ascontiguousarray(x).reshape(-1)
    if flat.size == 0:
        return 0
    if dtype == _validate.float32:
        f32 = flat
        with nogil:
            bad = fnn_count_nonfinite_f32(&f32[0], f32.shape[0])
    else:
        f64 = flat
        with nogil:
            bad = fnn_count_nonfinite_f64(&f64[0], f64.shape[0])
    return int(bad)


def _mostly_zeros(X):
    """True when X is float32 and at least ZEROS_TO_SKIP of its values are zero, judged on at
    most 256 of its rows, spread over it (MNIST's pixels: 81% zeros). The products over such
    rows then pack each panel of rows without the columns that are zero in all of them
    (gemm.c, skip_zeros): for MNIST about half of the first layer's multiply-adds, for the
    same sums, bit for bit (what is left out adds exactly 0). X: C-contiguous, 2-D. Counted
    in a compiled loop: NumPy's count_nonzero over the strided rows took 0.27 ms (MNIST),
    7% of predict on its 10,000 test images."""
    if X.dtype != np.float32 or X.size == 0:
        return False
    cdef const float[:, ::1] x = X
    cdef Py_ssize_t d = x.shape[1], step = max(1, x.shape[0] // 256), i, j
    cdef Py_ssize_t n_rows = (x.shape[0] + step - 1) // step, values = n_rows * d, zeros = 0
    with nogil:
        for i in range(n_rows):
            for j in range(d):
                zeros += x[i * step, j] == 0
    return values - zeros <= (1.0 - ZEROS_TO_SKIP) * values


def _counter_array(spec, key, dtype, shape):
    a = spec.get(key)
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous \
            or not a.flags.writeable:
        raise TypeError(f"counter {spec.get('kind')!r}: {key} must be a writeable C-contiguous {np.dtype(dtype).name} "
                        f"array of shape {shape}")
    return a


cdef class Counters:
    """The counters of the metrics of one call, checked once and laid out for the C kernels.

    counters : list of dicts, each with a "kind" from COUNTER_KINDS, its settings and the
        arrays its counts are added to (in place, int64 but for "errors"):

        "above_thresholds": thresholds (n_t,) float64, sorted; class_id (int or None); top_k
            (int or None); even (thresholds i/(n_t − 1): Keras' bucketing); with_eps (t_0 < 0);
            pos, neg (n_t + 1,): entries of each truth exceeding c of the thresholds, c = 0..n_t.
        "class_outcomes": threshold (float, or None for the row's argmax); tp, fp, fn (n_k,).
        "top_k": k; counts (2,): rows whose true class is among the k largest, rows seen.
        "errors": sums (3,) float64: Σ|y − p|, Σ(y − p)², entries seen.
    n_k : the number of output columns the counts are of.
    """
    cdef Counter *c
    cdef readonly int n
    cdef object _keep

    def __cinit__(self):
        self.c = NULL
        self.n = 0

    def __dealloc__(self):
        free(self.c)

    def __init__(self, counters, fnn_int n_k):
        counters = list(counters or [])
        self.c = <Counter *> malloc(max(len(counters), 1) * sizeof(Counter))
        if self.c == NULL:
            raise MemoryError()
        keep = []
        i64 = np.dtype(np.int64)
        for i, spec in enumerate(counters):
            if not isinstance(spec, dict) or spec.get("kind") not in COUNTER_KINDS:
                raise ValueError(f"counters[{i}] must be a dict with a 'kind' in {COUNTER_KINDS}")
            kind = COUNTER_KINDS.index(spec["kind"])
            memset(&self.c[i], 0, sizeof(Counter))
            self.c[i].kind = kind
            self.c[i].class_id = -1
            if kind == ABOVE_THRESHOLDS:
                t = spec.get("thresholds")
                if not isinstance(t, np.ndarray) or t.dtype != np.float64 or t.ndim != 1 or t.size < 1 \
                        or not t.flags.c_contiguous or np.any(np.diff(t) < 0) or not np.all(np.isfinite(t)):
                    raise ValueError(f"counters[{i}]: thresholds must be a sorted, finite, C-contiguous "
                                     "float64 array of at least one value")
                n_t = t.shape[0]
                class_id = spec.get("class_id")
                if class_id is not None and not 0 <= class_id < n_k:
                    raise ValueError(f"counters[{i}]: class_id must be in [0, {n_k}), got {class_id}")
                top_k = spec.get("top_k")
                if top_k is not None and top_k < 1:
                    raise ValueError(f"counters[{i}]: top_k must be >= 1, got {top_k}")
                even = bool(spec.get("even", False))
                if even and n_t < 2:
                    raise ValueError(f"counters[{i}]: evenly spaced thresholds need at least 2")
                pos = _counter_array(spec, "pos", i64, (n_t + 1,))
                neg = _counter_array(spec, "neg", i64, (n_t + 1,))
                keep += [t, pos, neg]
                self.c[i].t = <const double *> addr(t)
                self.c[i].n_t = n_t
                self.c[i].class_id = -1 if class_id is None else class_id
                self.c[i].top_k = 0 if top_k is None else top_k
                self.c[i].even = even
                self.c[i].with_eps = bool(spec.get("with_eps", False))
                self.c[i].c0 = <long long *> addr(pos)
                self.c[i].c1 = <long long *> addr(neg)
            elif kind == CLASS_OUTCOMES:
                threshold = spec.get("threshold")
                self.c[i].argmax = threshold is None
                self.c[i].threshold = 0.0 if threshold is None else float(threshold)
                arrays = [_counter_array(spec, key, i64, (n_k,)) for key in ("tp", "fp", "fn")]
                keep += arrays
                self.c[i].c0 = <long long *> addr(arrays[0])
                self.c[i].c1 = <long long *> addr(arrays[1])
                self.c[i].c2 = <long long *> addr(arrays[2])
            elif kind == TOP_K:
                k = spec.get("k")
                if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                    raise ValueError(f"counters[{i}]: k must be an integer >= 1, got {k!r}")
                counts = _counter_array(spec, "counts", i64, (2,))
                keep.append(counts)
                self.c[i].top_k = k
                self.c[i].c0 = <long long *> addr(counts)
            else:
                sums = _counter_array(spec, "sums", np.dtype(np.float64), (3,))
                keep.append(sums)
                self.c[i].sums = <double *> addr(sums)
            self.n = i + 1
        self._keep = keep


cdef void _count(const Counter *counters, int n_counters, const floating *P, const fnn_int *label,
                 const floating *Y, const fnn_int *index, fnn_int m, fnn_int n_k) noexcept nogil:
    """Add the counts of m rows of predictions P (m × n_k) against class ids label (or rows Y)
    to every counter; with index not NULL, row b's truth is sample index[b]'s."""
    cdef const Counter *c
    cdef fnn_int hits
    cdef int i
    for i in range(n_counters):
        c = &counters[i]
        if c.kind == ABOVE_THRESHOLDS:
            if floating is float:
                fnn_count_above_thresholds_f32(P, label, Y, index, m, n_k, c.class_id, c.top_k, c.t, c.n_t, c.even,
                                               c.with_eps, c.c0, c.c1)
            else:
                fnn_count_above_thresholds_f64(P, label, Y, index, m, n_k, c.class_id, c.top_k, c.t, c.n_t, c.even,
                                               c.with_eps, c.c0, c.c1)
        elif c.kind == CLASS_OUTCOMES:
            if floating is float:
                fnn_count_class_outcomes_f32(P, label, Y, index, m, n_k, c.threshold, c.argmax, c.c0, c.c1, c.c2)
            else:
                fnn_count_class_outcomes_f64(P, label, Y, index, m, n_k, c.threshold, c.argmax, c.c0, c.c1, c.c2)
        elif c.kind == TOP_K:
            if floating is float:
                hits = fnn_count_top_k_matches_f32(P, label, Y, index, m, n_k, c.top_k)
            else:
                hits = fnn_count_top_k_matches_f64(P, label, Y, index, m, n_k, c.top_k)
            c.c0[0] += hits
            c.c0[1] += m
        else:
            if floating is float:
                fnn_sum_errors_f32(P, label, Y, index, m, n_k, c.sums)
            else:
                fnn_sum_errors_f64(P, label, Y, index, m, n_k, c.sums)


def count_metrics(P, labels, Y, counters):
    """Add the counts of predictions P (n, n_k) against class ids labels (n,) intp, or target
    rows Y (n, n_k) of P's dtype (the other None), to each counter (see Counters), in place:
    the compiled loop's counting, for evaluate and predict's chunks."""
    dtype = _validate.array("P", P, 2)
    n, n_k = P.shape
    if (labels is None) == (Y is None):
        raise ValueError("give the targets either as labels or as rows Y")
    if labels is not None:
        if not isinstance(labels, np.ndarray) or labels.dtype != np.intp or labels.shape != (n,) \
                or not labels.flags.c_contiguous:
            raise TypeError(f"labels must be a C-contiguous intp array of shape ({n},)")
        if n and (labels.min() < 0 or labels.max() >= n_k):
            raise ValueError(f"labels must be class ids in [0, {n_k})")
    else:
        _validate.array("Y", Y, 2, dtype)
        _validate.shape("Y", Y, (n, n_k))
    cdef Counters c = counters if isinstance(counters, Counters) else Counters(counters, n_k)
    cdef const fnn_int *label = <const fnn_int *> addr(labels)
    cdef void *p = addr(P)
    cdef void *y = addr(Y)
    cdef fnn_int rows = n, cols = n_k
    if n == 0 or c.n == 0:
        return
    if dtype == _validate.float32:
        with nogil:
            _count(c.c, c.n, <const float *> p, label, <const float *> y, NULL, rows, cols)
    else:
        with nogil:
            _count(c.c, c.n, <const double *> p, label, <const double *> y, NULL, rows, cols)


cdef class Trainer:
    """Trains the layers it is given in place (see the module docstring).

    Parameters
    ----------
    X_buffer : (batch_size, n_in) array, where each batch is gathered.
    layers : list of tuples ``(W, b, vW, vb, dW, db, Z, A, delta)``, one per Dense layer;
        W, vW, dW: (n_in, n_out); b, vb, db: (n_out,) or all None; Z, A, delta:
        (batch_size, n_out). All C-contiguous, one float dtype.
    activations : list of activation names, one per layer.
    loss : one of LOSS_KINDS. The fused kinds require the matching output activation.
    gamma, alpha : focal loss parameters (alpha: None or one value per class).
    n_workers : int, default 1
        Threads that share each batch: each runs a block of the batch's rows forward and
        backward, then computes and applies the gradient of a block of every layer's weight
        rows (see the module docstring). Use 1 BLAS thread with more than one worker.
    split : "batch" (default) or "units"
        How two workers share a step. "batch": each runs half of the batch's rows forward and
        backward. "units": each owns half of every layer's weight rows (input units) and alone
        reads and writes them, forward, backward and in the update, so that the weights of a
        wide network never move between the cores' caches; the partial products of each layer
        are summed after a barrier. Needs elementwise hidden activations (no hidden softmax).
    first_by_units : bool, default True
        Split by batch, share the first layer by units all the same when it has more inputs
        than the batch has rows (net A's 784 against 100): each worker owns half of its weight
        rows, so that they stay in its core's caches instead of half of them crossing to the
        other core every step, and only half of the partial products cross (see
        _forward_first_by_units). The barrier before the partial products are summed takes
        the place of the one that would otherwise end each step.
    states : list or None
        Per layer, ``(s1W, s2W, s1b, s2b)``: the optimizer's second and third state arrays
        (shaped as W and b; None where the rule keeps none), the first being vW and vb.
        None: only vW and vb (SGD).
    penalties : list or None
        Per layer, ``(l1W, l2W, l1b, l2b)``: the penalty l1·Σ|w| + l2·Σw² on W and on b,
        whose gradient joins dW and db in the update and whose value joins each step's loss.
    dropouts : list or None
        Per layer, None or ``(rate, seed, D)``: inverted dropout of the layer's output in
        training, D := A ⊙ mask / (1 − rate) (D: (batch_size, n_out), the next layer's
        input), the same mask in the backward pass; the mask of step t is drawn from the
        seed and t (fnn_dropout_key), the same for any split between workers. Not on the
        output layer; a network with dropout is split by batch rows.
    label_smoothing, from_logits, huber_delta : loss parameters (Keras' names)
        label_smoothing ls in [0, 1) of the cross-entropies (targets y (1 − ls) + ls/k, k the
        number of classes or 2 for binary); from_logits: the fused kinds on a linear output
        layer, whose A is then its Z (the probabilities go to a buffer of the trainer's own);
        huber_delta > 0, the Huber loss's delta.
    sum_over_outputs, weighted_mean, penalty_per_sample : how a batch's loss is reduced
        (scikit-learn's MLP conventions where True; Keras' where False). sum_over_outputs: the
        losses that take the mean over the output units (the binary cross-entropies, the
        squared, absolute and Huber errors) take their sum (scikit-learn's multilabel log-loss);
        weighted_mean: with sample weights, a batch's loss is Σ_b w_b E_b / Σ_b w_b rather
        than / m; penalty_per_sample: each step's penalties, value and gradient, are divided
        by the batch's m (or Σ_b w_b), scikit-learn's (α/2)·ΣW² / n_batch.
    clip_probabilities : float, default 0
        ε > 0: the value of the softmax and sigmoid cross-entropies takes each probability
        clipped to [ε, 1 − ε], as scikit-learn's log-loss does (its gradient, ŷ − y, does not).
    """
    cdef Layer *layers
    cdef int n_layers, loss_kind, n_workers
    cdef bint by_units
    cdef readonly bint first_by_units
    cdef Py_ssize_t batch_size
    cdef double gamma, label_smoothing, huber_delta
    cdef bint sum_over_outputs, weighted_mean, penalty_per_sample
    cdef double clip_probabilities
    cdef bint is_float
    cdef object dtype, _keep, _alpha, _label_buffer, _Y_buffer, _w_buffer, _scratch, _norm_parts, _probs
    cdef readonly object _packed_delta
    cdef Py_ssize_t _packed_wider_than, _packed_first_wider_than
    cdef readonly Py_ssize_t last_batch_size
    cdef readonly bint penalised

    def __cinit__(self):
        self.layers = NULL

    def __dealloc__(self):
        free(self.layers)

    def __init__(self, X_buffer, layers, activations, loss, gamma=0.0, alpha=None, n_workers=1, split="batch",
                 first_by_units=True, states=None, penalties=None, dropouts=None, label_smoothing=0.0,
                 from_logits=False, huber_delta=1.0, sum_over_outputs=False, weighted_mean=False,
                 penalty_per_sample=False, clip_probabilities=0.0):
        if loss not in LOSS_KINDS:
            raise ValueError(f"unknown loss kind {loss!r}; expected one of {LOSS_KINDS}")
        if len(layers) == 0 or len(layers) != len(activations):
            raise ValueError("need one activation per layer and at least one layer")
        dtype = _validate.array("X_buffer", X_buffer, 2)
        self.dtype = dtype
        self.is_float = dtype == _validate.float32
        self.batch_size = X_buffer.shape[0]
        self.loss_kind = LOSS_KINDS.index(loss)
        self.gamma = _validate.scalar("gamma", gamma, low=0.0)
        self.label_smoothing = _validate.label_smoothing(label_smoothing)
        self.huber_delta = _validate.huber_delta(huber_delta, "huber_delta")
        self.sum_over_outputs = bool(sum_over_outputs)
        self.weighted_mean = bool(weighted_mean)
        self.penalty_per_sample = bool(penalty_per_sample)
        self.clip_probabilities = _validate.scalar("clip_probabilities", clip_probabilities, low=0.0)
        if self.clip_probabilities >= 0.5:
            raise ValueError(f"clip_probabilities must be in [0, 0.5), got {clip_probabilities}")
        self.n_layers = len(layers)
        if n_workers not in (1, 2):
            raise ValueError(f"n_workers must be 1 or 2, got {n_workers}")
        self.n_workers = n_workers
        self.by_units = _validate.split(split, activations) == "units" and n_workers > 1
        # split by batch rows, the first layer's weights would cross between the cores every
        # step (half of them, n_in·n_out/2 values); split by units, only half of its partial
        # products do (batch_size·n_out/2): fewer when it has more inputs than the batch has rows
        self.first_by_units = (n_workers > 1 and not self.by_units and first_by_units
                               and X_buffer.shape[1] > self.batch_size)
        self.layers = <Layer *> malloc(self.n_layers * sizeof(Layer))
        if self.layers == NULL:
            raise MemoryError()
        keep_alive = [X_buffer]         # every array a pointer below refers to
        n_in, previous_A = X_buffer.shape[1], X_buffer
        previous_sparse = False
        if states is not None and len(states) != len(layers):
            raise ValueError(f"states needs one entry per layer ({len(layers)}), got {len(states)}")
        if penalties is not None and len(penalties) != len(layers):
            raise ValueError(f"penalties needs one entry per layer ({len(layers)}), got {len(penalties)}")
        self.penalised = False
        if dropouts is not None:
            if len(dropouts) != len(layers):
                raise ValueError(f"dropouts needs one entry per layer ({len(layers)}), got {len(dropouts)}")
            if dropouts[len(dropouts) - 1] is not None:
                raise ValueError("dropout after the output layer is not supported: put it between layers")
            if any(d is not None for d in dropouts):
                self.by_units = False                 # dropout runs on whole rows of a layer
        for l, (slots, act) in enumerate(zip(layers, activations)):
            W, b, vW, vb, dW, db, Z, A, delta = slots
            for name, a in (("W", W), ("vW", vW), ("dW", dW)):
                _validate.array(f"layers[{l}].{name}", a, 2, dtype)
                _validate.shape(f"layers[{l}].{name}", a, (n_in, W.shape[1]))
            n_out = W.shape[1]
            if b is not None or vb is not None or db is not None:
                for name, a in (("b", b), ("vb", vb), ("db", db)):
                    if a is None:
                        raise ValueError(f"layers[{l}].{name} is None but the layer has a bias")
                    _validate.array(f"layers[{l}].{name}", a, 1, dtype)
                    _validate.shape(f"layers[{l}].{name}", a, (n_out,))
            for name, a in (("Z", Z), ("A", A), ("delta", delta)):
                _validate.array(f"layers[{l}].{name}", a, 2, dtype)
                _validate.shape(f"layers[{l}].{name}", a, (self.batch_size, n_out))
            code = _validate.activation_code(act)
            partial = (np.zeros((n_workers, self.batch_size, n_out), dtype=dtype)
                       if self.by_units or (l == 0 and self.first_by_units) else None)
            s1W, s2W, s1b, s2b = states[l] if states is not None else (None, None, None, None)
            for name, a, like in (("s1W", s1W, W), ("s2W", s2W, W), ("s1b", s1b, b), ("s2b", s2b, b)):
                if a is not None:
                    if like is None:
                        raise ValueError(f"states[{l}].{name} is given but the layer has no bias")
                    _validate.array(f"states[{l}].{name}", a, like.ndim, dtype)
                    _validate.shape(f"states[{l}].{name}", a, like.shape)
            l1W, l2W, l1b, l2b = (_validate.scalar(f"penalties[{l}].{name}", value, low=0.0) for name, value
                                  in zip(("l1W", "l2W", "l1b", "l2b"), penalties[l] if penalties is not None
                                         else (0.0, 0.0, 0.0, 0.0)))
            self.penalised = self.penalised or bool(l1W or l2W or l1b or l2b)
            drop = dropouts[l] if dropouts is not None else None
            keep, threshold, seed, D = 1.0, 0, 0, None
            if drop is not None:
                rate, seed, D = drop
                rate = _validate.scalar(f"dropouts[{l}].rate", rate, low=0.0)
                if rate >= 1:
                    raise ValueError(f"dropouts[{l}].rate must be in [0, 1), got {rate}")
                if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
                    raise ValueError(f"dropouts[{l}].seed must be an integer in [0, 2**32), got {seed!r}")
                _validate.array(f"dropouts[{l}].D", D, 2, dtype)
                _validate.shape(f"dropouts[{l}].D", D, (self.batch_size, n_out))
                keep = 1.0 - rate
                threshold = min(int(keep * 2.0 ** 32), 2 ** 32 - 1) if rate > 0 else 0
            self.layers[l] = Layer(n_in=n_in, n_out=n_out, act=code, W=addr(W), b=addr(b), vW=addr(vW),
                                   vb=addr(vb), dW=addr(dW), db=addr(db), Z=addr(Z), A=addr(A),
                                   delta=addr(delta), input=addr(previous_A), partial=addr(partial),
                                   s1W=addr(s1W), s2W=addr(s2W), s1b=addr(s1b), s2b=addr(s2b),
                                   l1W=l1W, l2W=l2W, l1b=l1b, l2b=l2b, D=addr(D if threshold else None),
                                   keep=keep, threshold=threshold, seed=seed,
                                   sparse_input=_sparse_input(self.is_float, l, n_in, n_out, previous_sparse),
                                   sparse_delta=l < len(layers) - 1 and _sparse_input(
                                       self.is_float, l, n_out, n_in, code == FNN_RELU or threshold != 0))
            keep_alive += [W, b, vW, vb, dW, db, Z, A, delta, partial, s1W, s2W, s1b, s2b, D]
            n_in, previous_A = n_out, (D if threshold else A)
            previous_sparse = code == FNN_RELU or threshold != 0
        out_act = activations[len(activations) - 1]
        needs = {SOFTMAX_CE: "softmax", FOCAL: "softmax", SIGMOID_BCE: "sigmoid"}.get(self.loss_kind)
        if self.loss_kind == EXP_POISSON:
            from_logits = False       # the loss applies exp to the linear output's Z itself
            needs = "linear"
        if needs is not None and from_logits:
            needs = "linear"          # the loss applies softmax / sigmoid to the logits itself
        if needs is not None and out_act != needs:
            raise ValueError(f"loss {loss!r} is fused with a {needs} output, but the last layer is {out_act!r}")
        self._probs = (np.zeros((self.batch_size, n_in), dtype=dtype)
                       if from_logits and needs is not None else None)
        self._keep = keep_alive
        n_classes = n_in
        self._alpha = None
        if alpha is not None:
            self._alpha = np.ascontiguousarray(np.broadcast_to(np.asarray(alpha, np.float64), (n_classes,)), dtype=dtype)
        self._label_buffer = np.zeros(self.batch_size, dtype=np.intp)
        self._Y_buffer = np.zeros((self.batch_size, n_classes), dtype=dtype)
        self._w_buffer = np.zeros(self.batch_size, dtype=dtype)
        self._scratch = np.zeros((n_workers, 2 * DW_BLOCK_VALUES), dtype=dtype)
        self._norm_parts = np.zeros((n_workers, 2 * self.n_layers), dtype=np.float64)
        # float32 on fastnn's kernel: room for the widest δ packed, where a layer is wide enough
        # (or is the first, whose dW over mostly-zero data reads δ as strips: SPARSE_WIDER_THAN)
        self._packed_wider_than = PACKED_WIDER_THAN
        self._packed_first_wider_than = min(PACKED_WIDER_THAN, SPARSE_WIDER_THAN)
        widest = max([self.layers[i].n_out for i in range(self.n_layers) if self.layers[i].n_out
                      > (self._packed_first_wider_than if i == 0 or self.layers[i].sparse_input
                         else self._packed_wider_than)], default=0)
        size = packed_weights_size(<int> self.batch_size, <int> widest) if self.is_float and widest else 0
        self._packed_delta = np.zeros((n_workers, size), dtype=np.float32) if size > 0 else None
        self.last_batch_size = 0

    def train(self, X, labels, Y, sample_weight, order, Py_ssize_t first_batch, Py_ssize_t n_batches,
              double learning_rate, double decay, double momentum, bint nesterov, long long iteration,
              double[::1] batch_losses, int accuracy=0, rule=None, rates=None, batch_penalties=None,
              metrics=None):
        """Run ``n_batches`` SGD steps, batches ``first_batch, first_batch + 1, ...`` of ``order``.

        X : (n_samples, n_in) data; labels (n_samples,) intp class ids or None; Y (n_samples,
        n_out) target rows or None (one of the two); sample_weight (n_samples,) or None;
        order : (n_samples,) intp, the sample order of this epoch; batch j is
        order[j·batch_size : (j+1)·batch_size]. iteration is the optimizer's step count t.
        Each batch's loss (computed before its update, penalties included) goes into batch_losses.
        rule : None (the momentum step with momentum, nesterov) or a dict, an optimizer rule
        (fastnn._kernels.optim.RULE_DEFAULTS: "kind" "sgd", "adam", "rmsprop" or "adagrad"
        and its settings); its state arrays are each layer's vW, vb and ``states``.
        rates : None (step t's rate is learning_rate / (1 + decay·t)) or an array of at least
        n_batches float64 rates, one per step of the call (a schedule, computed once per call).
        batch_penalties : None (each step's penalty joins its batch loss) or a float64 array of
        at least n_batches values, which receives each step's penalty apart (batch_losses then
        holds the data's loss alone).
        metrics : None or a list of counters (see Counters), or a Counters of this trainer's
        number of outputs: the counts of every step's predictions (those of the forward pass
        before its update, as the accuracy) are added to them, by one worker after the step's
        loss, whatever the number of workers.

        Returns (steps_done, iteration, hits, counted): steps_done < n_batches when a batch's
        loss was not finite (that batch is not applied); hits/counted give the accuracy.
        """
        cdef Loop loop
        cdef Batch batch
        cdef Shared shared
        cdef int status = 0
        cdef Py_ssize_t bs = self.batch_size
        dtype = self.dtype
        _validate.array("X", X, 2, dtype)
        n = X.shape[0]
        n_in = self.layers[0].n_in
        n_out = self.layers[self.n_layers - 1].n_out
        _validate.shape("X", X, (n, n_in))
        if (labels is None) == (Y is None):
            raise ValueError("give the targets either as labels or as rows Y")
        if labels is not None:
            if not isinstance(labels, np.ndarray) or labels.dtype != np.intp or labels.shape != (n,) \
                    or not labels.flags.c_contiguous:
                raise TypeError(f"labels must be a C-contiguous intp array of shape ({n},)")
            if self.loss_kind not in (SOFTMAX_CE, FOCAL):
                raise ValueError("class-id labels go with softmax losses; give Y rows for this loss")
            if not _indices_within(labels, n_out):
                raise ValueError(f"labels must be class ids in [0, {n_out})")
        else:
            _validate.targets("Y", Y, (n, n_out), dtype)
        _validate.sample_weight(sample_weight, n, dtype)
        if not isinstance(order, np.ndarray) or order.dtype != np.intp or order.ndim != 1 \
                or not order.flags.c_contiguous:
            raise TypeError("order must be a 1-D C-contiguous intp array")
        n_total = (order.shape[0] + bs - 1) // bs
        if first_batch < 0 or n_batches < 0 or first_batch + n_batches > n_total:
            raise ValueError(f"batches {first_batch}..{first_batch + n_batches - 1} of size {bs} "
                             f"run past the {order.shape[0]} samples of order")
        if batch_losses.shape[0] < n_batches:
            raise ValueError(f"batch_losses has room for {batch_losses.shape[0]} losses, need {n_batches}")
        if not _indices_within(order[first_batch * bs:(first_batch + n_batches) * bs], n):
            raise ValueError(f"order holds sample indices outside [0, {n})")
        if not (0 <= accuracy < len(ACCURACY_KINDS)):
            raise ValueError(f"accuracy must be an index into {ACCURACY_KINDS}")
        cdef Counters counters = metrics if isinstance(metrics, Counters) else Counters(metrics, n_out)
        cdef const double[::1] step_rates
        cdef double[::1] step_penalties
        if batch_penalties is not None:
            step_penalties = batch_penalties
            if step_penalties.shape[0] < n_batches:
                raise ValueError(f"batch_penalties has room for {step_penalties.shape[0]} values, need {n_batches}")
            for i in range(n_batches):
                step_penalties[i] = 0
        if rates is not None:
            step_rates = np.ascontiguousarray(rates, dtype=np.float64)
            if step_rates.shape[0] < n_batches:
                raise ValueError(f"rates has {step_rates.shape[0]} rates, need one per step ({n_batches})")
            if not _rates_valid(step_rates, n_batches):
                raise ValueError("rates must be finite and >= 0")
        if rule is not None:
            if not isinstance(rule, dict):
                raise TypeError(f"rule must be a dict or None, got {type(rule).__name__}")
            loop.rule = make_rule(rule)
            momentum, nesterov = loop.rule.momentum, loop.rule.nesterov
        else:
            loop.rule = make_rule({"kind": "sgd", "momentum": momentum, "nesterov": nesterov})
        # the momentum step runs where it always has (inside the products too); any other rule,
        # weight decay, clipping or penalty through the rule's kernel
        loop.general = (loop.rule.kind != FNN_RULE_SGD or loop.rule.weight_decay != 0
                        or loop.rule.clipvalue != 0 or loop.rule.clipnorm != 0 or loop.rule.global_clipnorm != 0
                        or self.penalised)
        loop.deferred = loop.rule.clipnorm != 0 or loop.rule.global_clipnorm != 0
        loop.penalised = self.penalised
        if loop.general:
            self._check_states(loop.rule)
        loop.rates = <double *> &step_rates[0] if rates is not None and n_batches > 0 else NULL
        loop.X = addr(X)
        loop.sparse_X = _mostly_zeros(X)
        loop.n_samples = n
        loop.labels = <fnn_int *> addr(labels)
        loop.Y = addr(Y)
        loop.w = addr(sample_weight)
        loop.order = <fnn_int *> addr(order)
        loop.n_order = order.shape[0]
        loop.first_batch = first_batch
        loop.n_batches = n_batches
        loop.batch_size = bs
        loop.lr = learning_rate
        loop.decay = decay
        loop.momentum = momentum
        loop.nesterov = nesterov
        loop.iteration = iteration
        loop.losses = &batch_losses[0] if batch_losses.shape[0] else NULL
        loop.penalties = &step_penalties[0] if batch_penalties is not None and n_batches > 0 else NULL
        loop.weighted_mean = self.weighted_mean and sample_weight is not None
        loop.penalty_per_sample = self.penalty_per_sample
        loop.accuracy = accuracy
        loop.counters = counters.c
        loop.n_counters = counters.n
        loop.hits = 0
        loop.counted = 0
        loop.last_n = 0
        batch.X = self.layers[0].input
        batch.label = <fnn_int *> addr(self._label_buffer)
        batch.Y = addr(self._Y_buffer)
        batch.w = addr(self._w_buffer)
        shared.layers = self.layers
        shared.n_layers = self.n_layers
        shared.loss_kind = self.loss_kind
        shared.n_workers = self.n_workers
        shared.is_float = self.is_float
        shared.gamma = self.gamma
        shared.alpha = addr(self._alpha)
        shared.label_smoothing = self.label_smoothing
        shared.huber_delta = self.huber_delta
        shared.sum_over_outputs = self.sum_over_outputs
        shared.clip_probabilities = self.clip_probabilities
        shared.probs = addr(self._probs)
        shared.loop = &loop
        shared.scratch = addr(self._scratch)
        shared.block_len = DW_BLOCK_VALUES
        shared.packed_delta = <float *> addr(self._packed_delta)
        shared.packed_delta_len = self._packed_delta.shape[1] if self._packed_delta is not None else 0
        shared.packed_wider_than = self._packed_wider_than
        shared.packed_first_wider_than = self._packed_first_wider_than
        shared.by_units = self.by_units
        shared.norm_parts = <double *> addr(self._norm_parts)
        shared.first_by_units = self.first_by_units
        shared.rows_in_place = self.is_float and not self.by_units
        shared.batch = &batch
        shared.done = 0
        memset(shared.own, 0, sizeof(shared.own))
        fnn_barrier_init(&shared.barrier, self.n_workers)
        cdef int v
        cdef double penalty
        with nogil:
            if self.n_workers == 1:
                _worker(&shared, 0)
            else:
                status = fnn_team_run(self.n_workers, _worker, &shared)
                if status != 0:
                    # a thread could not be started (nothing ran): the whole call on this
                    # one, split by batch rows, which gives a single worker's results
                    shared.n_workers = 1
                    shared.by_units = shared.first_by_units = False
                    fnn_barrier_init(&shared.barrier, 1)
                    _worker(&shared, 0)
        if loop.penalised and shared.done > 0:         # the last step's penalty (see _work)
            penalty = 0
            for v in range(self.n_workers):
                penalty += shared.own[v].penalty_part[(shared.done - 1) % 2]
            if loop.penalties != NULL:
                loop.penalties[shared.done - 1] = penalty
            else:
                batch_losses[shared.done - 1] += penalty
        if loop.last_n:
            self.last_batch_size = loop.last_n
        return shared.done, loop.iteration, loop.hits, loop.counted


    cdef _check_states(self, fnn_rule rule):
        """Every state array the rule reads is there (vW, vb, and s1, s2 as it needs them)."""
        cdef Layer *L
        need1 = (rule.kind == FNN_RULE_ADAM) or (rule.kind == FNN_RULE_RMSPROP and rule.momentum > 0)
        need2 = (rule.kind == FNN_RULE_ADAM and rule.amsgrad) or (rule.kind == FNN_RULE_RMSPROP and rule.centered)
        for l in range(self.n_layers):
            L = &self.layers[l]
            for name, need, present in (("s1W", need1, L.s1W != NULL), ("s2W", need2, L.s2W != NULL),
                                        ("s1b", need1 and L.b != NULL, L.s1b != NULL),
                                        ("s2b", need2 and L.b != NULL, L.s2b != NULL)):
                if need and not present:
                    raise ValueError(f"the optimizer keeps more state: states[{l}].{name} is needed")


cdef void _worker(void *arg, int worker) noexcept nogil:
    cdef Shared *s = <Shared *> arg
    if s.is_float:
        _work(s, worker, <float *> NULL)
    else:
        _work(s, worker, <double *> NULL)


cdef inline floating *rows(void *base, Py_ssize_t first_row, Py_ssize_t n_cols, floating *tag) noexcept nogil:
    """The address of row first_row of a row-major matrix with n_cols columns (NULL stays NULL)."""
    if base == NULL:
        return NULL
    return (<floating *> base) + first_row * n_cols


cdef void _work(Shared *s, int worker, floating *tag) noexcept nogil:
    """The steps of one train() call, as seen by one worker.

    Split by batch rows (the default): each worker takes its own block of rows of every
    batch (rows lo..hi of m): it gathers them, runs them forward, computes their loss and
    δ, and backpropagates δ through the layers. At the barrier every row's δ is complete;
    each worker then computes the gradient of its block of every layer's weight rows (input
    units r0..r1) over the whole batch and applies it, and a second barrier makes the new
    weights visible before the next batch. With s.first_by_units, that second barrier is
    the one inside the next step's first layer (_forward_first_by_units), whose weight
    rows r0..r1 only this worker reads and writes.

    Split by units (s.by_units, for wide layers): each worker owns a block of every layer's
    weight rows (input units r0..r1) and is the only one to read or write them; see
    _forward_units and _backward_units. Only the loss is split by batch rows.
    """
    cdef Loop *loop = s.loop
    cdef Batch *batch = s.batch
    cdef Layer *layers = s.layers
    cdef Layer *L
    cdef Layer *out = &layers[s.n_layers - 1]
    cdef int n_layers = s.n_layers, n_workers = s.n_workers, l, v
    cdef fnn_int n_k = out.n_out, n_in = layers[0].n_in
    cdef Py_ssize_t j, k = 0, start, m, lo, hi, mw, i
    cdef double total, lr_t, norm
    # the optimizer's step count t when the call starts; worker 0 adds the call's steps to
    # loop.iteration at its end, which (the first layer split by units: no barrier ends a step)
    # can come before the other worker has taken its last step's rate
    cdef long long t0 = loop.iteration
    cdef bint streamed, last, in_place, by_units = s.by_units, first_by_units = s.first_by_units
    cdef bint by_columns = by_units or first_by_units    # the first layer reads its share of every row
    cdef fnn_int *index
    cdef fnn_int *label = NULL
    cdef floating *Y_rows = NULL
    cdef floating *w_rows = NULL
    cdef floating *P
    cdef unsigned long long fused = 0              # bit l: layer l's product stored A, not Z
    # the batch is read in place only if every worker's products are sure to run on fastnn's
    # kernel (gemm_rows has no fallback: the rows it reads were not gathered)
    cdef bint rows_in_place = s.rows_in_place
    if rows_in_place:
        s.own[worker].kernel_ready = own_sgemm_ready()
        fnn_barrier_wait(&s.barrier)
        for v in range(n_workers):
            rows_in_place = rows_in_place and s.own[v].kernel_ready
    for j in range(loop.first_batch, loop.first_batch + loop.n_batches):
        last = j + 1 == loop.first_batch + loop.n_batches
        start = j * loop.batch_size
        m = loop.n_order - start
        if m > loop.batch_size:
            m = loop.batch_size
        lo = worker * m // n_workers
        hi = (worker + 1) * m // n_workers
        mw = hi - lo
        index = loop.order + start + lo
        # -- gather the batch by index: this worker's rows, or (by units) its columns of every row;
        #    on fastnn's float32 kernel the first layer's products read them in place instead
        #    (but in the last step of a call, whose X the layers show)
        in_place = floating is float and not last and rows_in_place
        if not in_place:
            _gather_batch(s, worker, start, m, lo, mw, by_columns, tag)
        if loop.labels != NULL:
            for i in range(mw):
                batch.label[lo + i] = loop.labels[index[i]]
            label = batch.label + lo
        else:
            if floating is float:
                fnn_gather_rows_f32(<float *> loop.Y, index, mw, n_k, rows(batch.Y, lo, n_k, tag))
            else:
                fnn_gather_rows_f64(<double *> loop.Y, index, mw, n_k, rows(batch.Y, lo, n_k, tag))
            Y_rows = rows(batch.Y, lo, n_k, tag)
        if loop.w != NULL:
            w_rows = rows(batch.w, lo, 1, tag)
            for i in range(mw):
                w_rows[i] = (<floating *> loop.w)[index[i]]
        # -- the batch's size for its mean loss: m, or Σ_b w_b (every worker adds up the same
        #    weights in the same order); a batch whose weights are all 0 keeps m
        norm = m
        if loop.weighted_mean and loop.w != NULL:
            norm = 0
            for i in range(m):
                norm += (<floating *> loop.w)[loop.order[start + i]]
            if norm == 0:
                norm = m
        s.own[worker].penalty_scale = 1.0 / norm if loop.penalty_per_sample else 1.0
        # -- this worker's part of the next batch comes towards the caches while the products
        #    of this one run (fastnn's float32 kernel fetches it a line at a time; with BLAS
        #    it is prefetched in one go after the forward pass)
        streamed = j + 1 < loop.first_batch + loop.n_batches and _prefetch_next(loop, j + 1, worker, n_workers,
                                                                               n_in, False, by_columns, tag)
        # -- forward: Z := I·W, then in one pass Z := Z + b and A := g(Z)
        #    (the fused losses apply the output activation themselves); on fastnn's float32
        #    kernel, but for the last step of the call, whose Z the layers show, relu and
        #    linear hidden layers store A := g(I·W + b) straight from the product
        if by_units:
            _forward_units(s, worker, m, lo, mw, tag)
        else:
            fused = 0
            for l in range(n_layers):
                L = &layers[l]
                if first_by_units and l == 0:
                    _forward_first_by_units(s, worker, m, lo, mw, loop.order + start if in_place else NULL, tag)
                elif floating is float and not last and l < 64 and _forward_fused(
                        s, l, lo, mw, <float *> loop.X if in_place and l == 0 else NULL, index):
                    fused |= 1ULL << l
                else:
                    if floating is float and in_place and l == 0:     # Z := X[index]·W, read in place
                        gemm_rows(NoTrans, <int> mw, L.n_out, L.n_in, <float *> loop.X, L.n_in, <Py_ssize_t *> index,
                                  <float *> L.W, L.n_out, <float *> L.Z + lo * L.n_out, L.n_out, NULL, False,
                                  loop.sparse_X)
                    else:
                        dense_forward_raw(rows(L.input, lo, L.n_in, tag), <floating *> L.W, <floating *> NULL,
                                          rows(L.Z, lo, L.n_out, tag), mw, L.n_in, L.n_out)
                    _bias_activation_rows(s, l, lo, mw, tag)
                if L.threshold:                       # dropout: D := A ⊙ mask / keep, the next layer's input
                    _dropout_rows(L, <floating *> L.A, <floating *> L.D, lo, mw, t0 + k)
        if not streamed and j + 1 < loop.first_batch + loop.n_batches:
            _prefetch_next(loop, j + 1, worker, n_workers, n_in, True, by_columns, tag)
        # -- loss and δ of the output layer, scaled by 1/m for the whole batch (from the logits,
        #    the fused losses write their probabilities P to a buffer of their own, not to A)
        P = rows(s.probs if s.probs != NULL else out.A, lo, n_k, tag)
        _loss(s, out.act, rows(out.Z, lo, n_k, tag), P, rows(out.delta, lo, n_k, tag), n_k, label, Y_rows,
              w_rows, mw, 1.0 / norm, &s.own[worker].loss_part)
        s.own[worker].hits_part = 0
        if loop.accuracy == 1:
            if floating is float:
                s.own[worker].hits_part = fnn_count_argmax_matches_f32(P, label, Y_rows, mw, n_k)
            else:
                s.own[worker].hits_part = fnn_count_argmax_matches_f64(P, label, Y_rows, mw, n_k)
        elif loop.accuracy == 2:
            if floating is float:
                s.own[worker].hits_part = fnn_count_threshold_matches_f32(P, Y_rows, mw * n_k)
            else:
                s.own[worker].hits_part = fnn_count_threshold_matches_f64(P, Y_rows, mw * n_k)
        # -- backward, on this worker's rows: δ_{l-1} := (δ_l·W_lᵀ) ⊙ g'(Z_{l-1})
        #    (where Z was not stored, g is relu or linear: relu'(Z) = [Z > 0] = [A > 0])
        if not by_units:
            for l in range(n_layers - 1, 0, -1):
                L = &layers[l]
                if floating is float and layers[l - 1].act == FNN_RELU and gemm_relu_gradient(
                        Transpose, <int> mw, L.n_in, L.n_out, <float *> L.delta + lo * L.n_out, L.n_out,
                        <float *> L.W, L.n_out, <float *> layers[l - 1].delta + lo * L.n_in, L.n_in,
                        <float *> layers[l - 1].A + lo * L.n_in, L.n_in, L.sparse_delta):
                    if layers[l - 1].threshold:       # ... then dropout's mask: δ := δ ⊙ mask / keep
                        _dropout_rows(&layers[l - 1], <floating *> layers[l - 1].delta,
                                      <floating *> layers[l - 1].delta, lo, mw, t0 + k)
                    continue                          # relu'(Z) = [A > 0] applied as the product stores δ
                _backprop_rows(L, &layers[l - 1], lo, mw, tag)
                if layers[l - 1].threshold:           # ∂E/∂A := ∂E/∂D ⊙ mask / keep
                    _dropout_rows(&layers[l - 1], <floating *> layers[l - 1].delta, <floating *> layers[l - 1].delta,
                                  lo, mw, t0 + k)
                activation_backward_raw(layers[l - 1].act,
                                        rows(layers[l - 1].A if fused >> (l - 1) & 1 else layers[l - 1].Z,
                                             lo, L.n_in, tag),
                                        rows(layers[l - 1].A, lo, L.n_in, tag),
                                        rows(layers[l - 1].delta, lo, L.n_in, tag),
                                        rows(layers[l - 1].delta, lo, L.n_in, tag), mw, L.n_in)
        fnn_barrier_wait(&s.barrier)                  # every row's loss (and δ) are done
        total = 0
        for v in range(n_workers):
            total += s.own[v].loss_part
        if worker == 0:
            loop.losses[k] = total / norm
            # the penalties of the step before (of its weights before its update), which every
            # worker has added up by now: each writes step k's into its other part
            if loop.penalised and k > 0:
                for v in range(n_workers):
                    if loop.penalties != NULL:
                        loop.penalties[k - 1] += s.own[v].penalty_part[(k - 1) % 2]
                    else:
                        loop.losses[k - 1] += s.own[v].penalty_part[(k - 1) % 2]
            if loop.accuracy:
                for v in range(n_workers):
                    loop.hits += s.own[v].hits_part
                loop.counted += m if loop.accuracy == 1 else m * n_k
            # the metrics' counts of the whole batch, from its predictions before the update:
            # every row's P is in place after the barrier, and no worker writes P again before
            # this one reaches the next barrier; the truths are read by index from the data (the
            # other worker may gather the next batch's labels meanwhile)
            if loop.n_counters:
                _count(loop.counters, loop.n_counters, rows(s.probs if s.probs != NULL else out.A, 0, n_k, tag),
                       loop.labels, <floating *> loop.Y, loop.order + start, <fnn_int> m, n_k)
        if not isfinite(total):
            if in_place:                              # the layers show this step: its X ...
                _gather_batch(s, worker, start, m, lo, mw, False, tag)
            if floating is float and fused:           # ... and its Z
                _store_Z(s, fused, lo, mw)
            break                                     # every worker sees the same total and stops
        lr_t = loop.rates[k] if loop.rates != NULL else loop.lr / (1.0 + loop.decay * (t0 + k))
        s.own[worker].parity = k % 2
        s.own[worker].penalty_part[k % 2] = 0
        if by_units:
            _backward_units(s, worker, m, lr_t, t0 + k, last, tag)
        else:
            # -- this worker's weight rows r0..r1 of each layer, over the whole batch, and the
            #    bias of every n_workers-th layer
            for l in range(n_layers):
                L = &layers[l]
                _update_weight_rows(s, worker, L, m, lr_t, t0 + k, last,
                                    loop.order + start if in_place and l == 0 else NULL, tag)
                if L.b != NULL and l % n_workers == worker:
                    _update_bias_columns(s, worker, L, 0, L.n_out, m, lr_t, t0 + k, tag)
            if loop.deferred:
                _apply_deferred(s, worker, lr_t, t0 + k, tag)
            _finish_side_update(s, worker)
            if not first_by_units:                    # (else the next step's first barrier does it)
                fnn_barrier_wait(&s.barrier)          # the new weights are in place for the next batch
        k += 1
        if worker == 0:
            loop.last_n = m
    if floating is float:
        prefetch_rows_in_products(NULL, NULL, 0, 0, 0)
    if worker == 0:
        s.done = k
        loop.iteration += k


def _sparse_input(bint is_float, int l, Py_ssize_t n_in, Py_ssize_t n_out, bint after_zeros):
    """Whether layer l's float32 products read its input as sparse rows where they can (AVX2):
    a hidden layer after a relu layer or a dropout (half its inputs 0 or more), at least
    SPARSE_INPUTS_FROM inputs, and wider than SPARSE_WIDER_THAN units (below, the strips of the
    sparse rows are too narrow to pay, gemm_driver.h). The kernel lists a block's rows only
    when at most half of its values are not 0, else it multiplies panels as usual. The same
    test, inputs and units swapped, says whether backpropagation's δ_l·W_lᵀ reads δ_l so
    (layer l relu or followed by a dropout, not the output layer)."""
    return is_float and l > 0 and after_zeros and n_in >= SPARSE_INPUTS_FROM and n_out > SPARSE_WIDER_THAN


cdef inline bint _forward_fused(Shared *s, int l, Py_ssize_t lo, Py_ssize_t mw, const float *X,
                               const fnn_int *index) noexcept nogil:
    """Rows lo .. lo + mw of layer l in one pass of fastnn's float32 kernel, which adds b and
    applies g to each tile of the product as it stores it: A := g(I·W + b) for a relu or linear
    hidden layer (Z is not stored), Z := I·W + b for the output of a fused loss. The same
    values, bit for bit, as the product and then _bias_activation_rows. With X not NULL, I is
    X's rows index[0 .. mw), read in place. False where it did nothing (another activation or
    loss, products through BLAS, no rows)."""
    cdef Layer *L = &s.layers[l]
    cdef float *target
    if l < s.n_layers - 1 and (L.act == FNN_RELU or L.act == FNN_LINEAR):
        target = <float *> L.A
    elif l == s.n_layers - 1 and _fused_kind(s.loss_kind) and s.probs == NULL:
        target = <float *> L.Z
    else:
        return False
    cdef bint relu = l < s.n_layers - 1 and L.act == FNN_RELU
    if X != NULL:
        return gemm_rows(NoTrans, <int> mw, L.n_out, L.n_in, X, L.n_in, <Py_ssize_t *> index, <float *> L.W, L.n_out,
                         target + lo * L.n_out, L.n_out, <float *> L.b, relu, s.loop.sparse_X)
    return gemm_bias_relu(<int> mw, L.n_out, L.n_in, <float *> L.input + lo * L.n_in, L.n_in, <float *> L.W,
                          L.n_out, target + lo * L.n_out, L.n_out, <float *> L.b, relu, L.sparse_input)


cdef void _gather_batch(Shared *s, int worker, Py_ssize_t start, Py_ssize_t m, Py_ssize_t lo, Py_ssize_t mw,
                        bint by_units, floating *tag) noexcept nogil:
    """The batch's samples order[start .. start + m) into the buffer X of the first layer:
    this worker's rows lo .. lo + mw, or (by_units) its columns of every row."""
    cdef Loop *loop = s.loop
    cdef fnn_int n_in = s.layers[0].n_in
    cdef Py_ssize_t i, c0, c1
    if by_units:
        c0, c1 = worker * n_in // s.n_workers, (worker + 1) * n_in // s.n_workers
        for i in range(m):
            memcpy(rows(s.batch.X, i, n_in, tag) + c0, rows(loop.X, loop.order[start + i], n_in, tag) + c0,
                   (c1 - c0) * sizeof(floating))
    elif floating is float:
        fnn_gather_rows_f32(<float *> loop.X, loop.order + start + lo, mw, n_in, rows(s.batch.X, lo, n_in, tag))
    else:
        fnn_gather_rows_f64(<double *> loop.X, loop.order + start + lo, mw, n_in, rows(s.batch.X, lo, n_in, tag))


cdef void _store_Z(Shared *s, unsigned long long fused, Py_ssize_t lo, Py_ssize_t mw) noexcept nogil:
    """Z := I·W + b on rows lo .. lo + mw of the layers in fused (those whose forward pass
    stored only A), as the unfused forward pass stores it."""
    cdef Layer *L
    cdef int l
    for l in range(s.n_layers):
        if fused >> l & 1:
            L = &s.layers[l]
            dense_forward_raw(<float *> L.input + lo * L.n_in, <float *> L.W, <float *> NULL,
                              <float *> L.Z + lo * L.n_out, mw, L.n_in, L.n_out)
            bias_activation(FNN_LINEAR, <float *> L.b, <float *> L.Z + lo * L.n_out, <float *> L.Z + lo * L.n_out,
                            mw, L.n_out)


cdef inline void _dropout_rows(Layer *L, floating *x, floating *y, Py_ssize_t lo, Py_ssize_t mw,
                               long long t) noexcept nogil:
    """Rows lo .. lo + mw: y := x ⊙ mask / keep, with the layer's mask of step t (the same
    mask for the forward pass, x = A, y = D, and the backward pass, x = y = δ)."""
    cdef unsigned int key = fnn_dropout_key(L.seed, t)
    if floating is float:
        fnn_dropout_f32(x + lo * L.n_out, y + lo * L.n_out, mw, L.n_out, lo, key, L.threshold, L.keep)
    else:
        fnn_dropout_f64(x + lo * L.n_out, y + lo * L.n_out, mw, L.n_out, lo, key, L.threshold, L.keep)


cdef inline void _bias_activation_rows(Shared *s, int l, Py_ssize_t lo, Py_ssize_t mw, floating *tag) noexcept nogil:
    """Rows lo .. lo + mw of layer l: Z := Z + b, A := g(Z) (the output of a fused loss: Z := Z + b
    only; but from the logits, A := Z as well)."""
    cdef Layer *L = &s.layers[l]
    if l < s.n_layers - 1 or not _fused_kind(s.loss_kind) or s.probs != NULL:
        bias_activation(L.act, <floating *> L.b, rows(L.Z, lo, L.n_out, tag), rows(L.A, lo, L.n_out, tag),
                        mw, L.n_out)
    else:
        bias_activation(FNN_LINEAR, <floating *> L.b, rows(L.Z, lo, L.n_out, tag), rows(L.Z, lo, L.n_out, tag),
                        mw, L.n_out)


cdef inline void _sum_shares(Shared *s, Layer *L, Py_ssize_t i, Py_ssize_t c0, Py_ssize_t c1,
                             floating *tag) noexcept nogil:
    """Row i of Z, columns c0..c1: Z := P_0 + P_1, the two workers' shares of the product."""
    cdef Py_ssize_t n = L.n_out
    cdef floating *p0 = <floating *> L.partial + i * n + c0
    cdef floating *p1 = <floating *> L.partial + s.loop.batch_size * n + i * n + c0
    if floating is float:
        fnn_add_f32(p0, p1, <float *> L.Z + i * n + c0, c1 - c0)
    else:
        fnn_add_f64(p0, p1, <double *> L.Z + i * n + c0, c1 - c0)


cdef void _forward_units(Shared *s, int worker, Py_ssize_t m, Py_ssize_t lo, Py_ssize_t mw,
                         floating *tag) noexcept nogil:
    """The forward pass split by units: for each layer, this worker's share of the product
    P_w := I[:, r0:r1]·W[r0:r1, :] over its own weight rows; after a barrier, Z := P_0 + P_1 + b
    and A := g(Z) for its own columns (which are the next layer's own weight rows, so the
    next product needs no barrier), or for the output layer, for its own batch rows (the loss's)."""
    cdef Layer *L
    cdef int l, n_workers = s.n_workers
    cdef Py_ssize_t i, r0, r1, c0, c1, n
    cdef floating *bias = NULL
    for l in range(s.n_layers):
        L = &s.layers[l]
        n = L.n_out
        r0, r1 = worker * L.n_in // n_workers, (worker + 1) * L.n_in // n_workers
        gemm(NoTrans, NoTrans, <int> m, <int> n, <int> (r1 - r0), <floating> 1, <floating *> L.input + r0,
             L.n_in, <floating *> L.W + r0 * n, <int> n, <floating> 0, <floating *> L.partial + worker * s.loop.batch_size * n,
             <int> n)
        fnn_barrier_wait(&s.barrier)                  # both shares of Z are in
        if l < s.n_layers - 1:
            c0, c1 = worker * n // n_workers, (worker + 1) * n // n_workers
            bias = <floating *> L.b + c0 if L.b != NULL else NULL
        else:
            c0, c1 = 0, n
        for i in range(m):
            if l == s.n_layers - 1 and not (lo <= i < lo + mw):
                continue
            _sum_shares(s, L, i, c0, c1, tag)
            if l < s.n_layers - 1:
                bias_activation(L.act, bias, <floating *> L.Z + i * n + c0, <floating *> L.A + i * n + c0, 1, c1 - c0)
        if l == s.n_layers - 1:
            _bias_activation_rows(s, l, lo, mw, tag)


cdef void _forward_first_by_units(Shared *s, int worker, Py_ssize_t m, Py_ssize_t lo, Py_ssize_t mw,
                                 const fnn_int *samples, floating *tag) noexcept nogil:
    """The first layer's forward pass, split by units in a step split by batch rows: this
    worker's share P_w := I[:, r0:r1]·W[r0:r1, :] over its own weight rows and every row of
    the batch (I: the data's rows samples[0 .. m), read in place, when samples is not NULL);
    then a barrier; then, for its own rows lo .. lo + mw, Z := P_0 + P_1 + b and A := g(Z).

    The barrier is the step's first: past it, both workers have also finished the previous
    step's update, so the weights of the later layers are whole. The update of this layer's
    rows r0..r1 (by _update_weight_rows, also split by weight rows) is this worker's own, and
    so is its next product over them: its weights never cross to the other core."""
    cdef Layer *L = &s.layers[0]
    cdef int n_workers = s.n_workers
    cdef Py_ssize_t i, n = L.n_out
    cdef Py_ssize_t r0 = worker * L.n_in // n_workers, r1 = (worker + 1) * L.n_in // n_workers
    cdef floating *own = <floating *> L.partial + worker * s.loop.batch_size * n
    if floating is float and samples != NULL:
        gemm_rows(NoTrans, <int> m, <int> n, <int> (r1 - r0), <float *> s.loop.X + r0, L.n_in,
                  <Py_ssize_t *> samples, <float *> L.W + r0 * n, <int> n, <float *> own, <int> n, NULL, False,
                  s.loop.sparse_X)
    else:
        gemm(NoTrans, NoTrans, <int> m, <int> n, <int> (r1 - r0), <floating> 1, <floating *> L.input + r0,
             L.n_in, <floating *> L.W + r0 * n, <int> n, <floating> 0, own, <int> n)
    fnn_barrier_wait(&s.barrier)                  # both shares are in; every weight is updated
    for i in range(lo, lo + mw):
        _sum_shares(s, L, i, 0, n, tag)
    _bias_activation_rows(s, 0, lo, mw, tag)


cdef void _backward_units(Shared *s, int worker, Py_ssize_t m, double lr_t, long long t, bint last,
                          floating *tag) noexcept nogil:
    """The backward pass and update split by units, after the loss: for each layer from the
    last, this worker's columns of the previous layer's δ, δ_{l-1}[:, r0:r1] := (δ_l·W[r0:r1, :]ᵀ)
    ⊙ g'(Z_{l-1}[:, r0:r1]), which use only its own weight rows; then the gradient and update
    of those rows and of its share of the bias; then a barrier, after which δ_{l-1} is whole."""
    cdef Layer *L
    cdef Layer *P
    cdef int l, n_workers = s.n_workers
    cdef Py_ssize_t i, r0, r1, n
    for l in range(s.n_layers - 1, -1, -1):
        L = &s.layers[l]
        n = L.n_out
        r0, r1 = worker * L.n_in // n_workers, (worker + 1) * L.n_in // n_workers
        if l > 0:
            P = &s.layers[l - 1]
            gemm(NoTrans, Transpose, <int> m, <int> (r1 - r0), <int> n, <floating> 1, <floating *> L.delta, <int> n,
                 <floating *> L.W + r0 * n, <int> n, <floating> 0, <floating *> P.delta + r0, L.n_in)
            for i in range(m):
                activation_backward_raw(P.act, <floating *> P.Z + i * L.n_in + r0, <floating *> P.A + i * L.n_in + r0,
                                        <floating *> P.delta + i * L.n_in + r0,
                                        <floating *> P.delta + i * L.n_in + r0, 1, r1 - r0)
        _update_weight_rows(s, worker, L, m, lr_t, t, last, NULL, tag)
        if L.b != NULL:
            _update_bias_columns(s, worker, L, worker * n // n_workers, (worker + 1) * n // n_workers, m, lr_t,
                                 t, tag)
        if l > 0:
            fnn_barrier_wait(&s.barrier)              # δ_{l-1} is whole
    if s.loop.deferred:
        _apply_deferred(s, worker, lr_t, t, tag)
    _finish_side_update(s, worker)


cdef inline void _finish_side_update(Shared *s, int worker) noexcept nogil:
    """What this worker's products left of the update running inside them, now."""
    if s.own[worker].side_update:
        finish_update_in_products()
        s.own[worker].side_update = False


cdef void _update_weight_rows(Shared *s, int worker, Layer *L, Py_ssize_t m, double lr_t, long long t, bint last,
                              const fnn_int *samples, floating *tag) noexcept nogil:
    """This worker's weight rows r0..r1 of layer L, over the whole batch: dW := Iᵀ·δ (I: the
    data's rows samples[0 .. m), read in place, when samples is not NULL), then
    v := μ·v − γ_t·dW;  W := W + v.  The last step of a call stores dW whole, for the layers
    to show; the others compute it a block of rows at a time into a small buffer and apply
    each block while it is still in cache (the dW of a wide layer is far beyond it).

    In float32 on fastnn's own kernel the blocks alternate between two buffers, and the
    update of each block runs inside the product of the next: its loads and stores of W and
    v (memory-bound) interleave with that product's multiply-adds (compute-bound), 16
    values every few steps of the micro-kernel, instead of taking their own time after it.
    The last block's update is left to the products that follow (the next layer's); the
    caller finishes it (finish_update_in_products) before the weights are read again.
    The first layer's compacted products (mostly-zero data read in place) apply each tile's
    update as they store it instead (gemm_momentum): their own side has too little room.

    With any other rule (s.loop.general: Adam, RMSprop, Adagrad, weight decay, clipping, a
    penalty) each block of dW is applied by the rule's kernel (fnn_optimizer_step) as soon
    as it is computed, in the same blocks."""
    cdef Py_ssize_t r0 = worker * L.n_in // s.n_workers, r1 = (worker + 1) * L.n_in // s.n_workers
    cdef bint on_the_side = (floating is float and not last and not s.loop.nesterov and not s.loop.general
                             and (r1 - r0) * L.n_out >= SIDE_UPDATE_VALUES)
    # a row wider than a buffer (more than DW_BLOCK_VALUES units) goes to dW whole
    cdef bint whole = last or L.n_out > s.block_len or s.loop.deferred
    # on the side, at least four blocks, so that the last one's update, left to the products
    # that follow, is small enough for them to take
    cdef Py_ssize_t block = r1 - r0 if whole else _block_rows(
        min(s.block_len, (r1 - r0) * L.n_out // 4) if on_the_side else s.block_len, L.n_out)
    cdef Py_ssize_t n_blocks
    if on_the_side and not whole:
        # blocks of about equal size (in whole panels), so that each block's product has room
        # on its side for the update of the block before; with 784 rows in blocks of 190 the
        # last, of 24, took 150 of the 760 vectors of its predecessor, and plain code the rest
        n_blocks = (r1 - r0 + block - 1) // block
        block = (r1 - r0 + n_blocks - 1) // n_blocks
        if block > 10 and block % 10:
            block += 10 - block % 10
    cdef Py_ssize_t b0 = r0, b1
    cdef floating *g
    # the first layer's panels of MNIST-like data, compacted (its all-zero pixels left out),
    # hold some 40 of the batch's 100 samples: their products have too few multiply-adds to
    # take a block's update on their side (it was left half done, to plain code); there the
    # update is applied to each tile of dW as the kernel stores it (0.98x net A's epoch); the
    # blocks stay: one product over all the rows measured slower (14-row panels)
    cdef bint compacted = (floating is float and samples != NULL and s.loop.sparse_X and not s.loop.nesterov
                           and not s.loop.general)
    # a wide δ packed once for all the blocks' products (each would pack it again), and the
    # first layer's over mostly-zero data, which its sparse rows read as strips (packed for
    # each block of 140 rows of dW otherwise: 4% of the MNIST drop-in's epoch)
    cdef float *delta_packed = NULL
    if (floating is float and s.packed_delta != NULL
            and L.n_out > (s.packed_first_wider_than if (samples != NULL and s.loop.sparse_X) or L.sparse_input
                           else s.packed_wider_than)
            and packed_weights_size(<int> m, L.n_out) <= s.packed_delta_len
            and pack_weights(<int> m, L.n_out, <float *> L.delta, L.n_out,
                             s.packed_delta + worker * s.packed_delta_len)):
        delta_packed = s.packed_delta + worker * s.packed_delta_len
    while b0 < r1:
        b1 = b0 + block if b0 + block < r1 else r1
        if whole:
            g = <floating *> L.dW + b0 * L.n_out
        else:
            g = <floating *> s.scratch + (2 * worker + s.own[worker].dw_blocks % 2) * s.block_len
            s.own[worker].dw_blocks += 1
        if compacted and gemm_momentum(
                Transpose, <int> (b1 - b0), L.n_out, <int> m, <float *> s.loop.X + b0, L.n_in, <Py_ssize_t *> samples,
                <float *> L.delta, L.n_out, delta_packed, <float *> g, L.n_out, <float *> L.W + b0 * L.n_out,
                <float *> L.vW + b0 * L.n_out, <float> lr_t, <float> s.loop.momentum, last, True):
            b0 = b1                   # dW of the block and its update, as each tile is stored
            continue
        if samples != NULL:           # I is the first layer's batch, read in place from the data
            gemm_rows(Transpose, <int> (b1 - b0), L.n_out, <int> m, <float *> s.loop.X + b0, L.n_in, <Py_ssize_t *> samples,
                      <float *> L.delta, L.n_out, <float *> g, L.n_out, NULL, False, s.loop.sparse_X, delta_packed)
        elif not (floating is float and delta_packed != NULL
                  and gemm_packed(Transpose, <int> (b1 - b0), L.n_out, <int> m, <float *> L.input + b0, L.n_in,
                                  delta_packed, <float *> g, L.n_out, L.sparse_input)):
            _weight_gradient_rows(L, b0, b1, m, g, tag)
        if s.loop.deferred:
            pass                      # applied by _apply_deferred, once every gradient's norm is known
        elif s.loop.general:
            _rule_step(s, worker, <floating *> L.W, g, <floating *> L.vW, <floating *> L.s1W, <floating *> L.s2W,
                       b0 * L.n_out, (b1 - b0) * L.n_out, lr_t, t, L.l1W, L.l2W, 1.0)
        elif on_the_side and update_in_products(<float *> L.W + b0 * L.n_out, <float *> g,
                                                <float *> L.vW + b0 * L.n_out, (b1 - b0) * L.n_out,
                                                <float> lr_t, <float> s.loop.momentum):
            s.own[worker].side_update = True
        else:
            _sgd(<floating *> L.W + b0 * L.n_out, g, <floating *> L.vW + b0 * L.n_out,
                 (b1 - b0) * L.n_out, lr_t, s.loop.momentum, s.loop.nesterov)
        b0 = b1


cdef void _update_bias_columns(Shared *s, int worker, Layer *L, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t m,
                               double lr_t, long long t, floating *tag) noexcept nogil:
    """db[c0:c1] := Σ_b δ[b, c0:c1], then the update of b[c0:c1] (the momentum step, or the rule's)."""
    cdef floating *db = <floating *> L.db
    cdef floating *d
    cdef Py_ssize_t i, c
    if c0 == 0 and c1 == L.n_out:
        if floating is float:
            fnn_column_sums_f32(<float *> L.delta, <float *> L.db, m, L.n_out)
        else:
            fnn_column_sums_f64(<double *> L.delta, <double *> L.db, m, L.n_out)
    else:
        for c in range(c0, c1):
            db[c] = 0
        for i in range(m):
            d = <floating *> L.delta + i * L.n_out
            for c in range(c0, c1):
                db[c] += d[c]
    if s.loop.deferred:
        pass                          # applied by _apply_deferred
    elif s.loop.general:
        _rule_step(s, worker, <floating *> L.b, db + c0, <floating *> L.vb, <floating *> L.s1b, <floating *> L.s2b,
                   c0, c1 - c0, lr_t, t, L.l1b, L.l2b, 1.0)
    else:
        _sgd(<floating *> L.b + c0, db + c0, <floating *> L.vb + c0, c1 - c0, lr_t, s.loop.momentum,
             s.loop.nesterov)


cdef inline void _own_share(Shared *s, int worker, int l, Py_ssize_t *r0, Py_ssize_t *r1, Py_ssize_t *c0,
                            Py_ssize_t *c1) noexcept nogil:
    """This worker's rows r0..r1 of layer l's W and columns c0..c1 of its b (c0 = c1: none), as
    _update_weight_rows and _update_bias_columns share them out."""
    cdef Layer *L = &s.layers[l]
    r0[0], r1[0] = worker * L.n_in // s.n_workers, (worker + 1) * L.n_in // s.n_workers
    c0[0] = c1[0] = 0
    if L.b == NULL:
        return
    if s.by_units:
        c0[0], c1[0] = worker * L.n_out // s.n_workers, (worker + 1) * L.n_out // s.n_workers
    elif l % s.n_workers == worker:
        c0[0], c1[0] = 0, L.n_out


cdef void _apply_deferred(Shared *s, int worker, double lr_t, long long t, floating *tag) noexcept nogil:
    """clipnorm, global_clipnorm: each worker adds up the squared norms of its share of every
    gradient (penalties' terms included), the workers meet, then each scales its share,
    g := g·c / max(‖g‖, c) (‖g‖ of each parameter, or of all of them together), and applies
    the rule to it. dW and db are whole by then (_update_weight_rows, _update_bias_columns)."""
    cdef int l, v, n_layers = s.n_layers
    cdef Layer *L
    cdef Py_ssize_t r0, r1, c0, c1
    cdef double *parts = s.norm_parts + worker * 2 * n_layers
    cdef double total, clip = s.loop.rule.clipnorm if s.loop.rule.clipnorm > 0 else s.loop.rule.global_clipnorm
    cdef double scale_W, scale_b, ps
    for l in range(n_layers):
        L = &s.layers[l]
        _own_share(s, worker, l, &r0, &r1, &c0, &c1)
        ps = s.own[worker].penalty_scale
        parts[2 * l] = _sum_squares(<floating *> L.W + r0 * L.n_out, <floating *> L.dW + r0 * L.n_out,
                                    (r1 - r0) * L.n_out, ps * L.l1W, ps * L.l2W)
        parts[2 * l + 1] = _sum_squares(<floating *> L.b + c0, <floating *> L.db + c0, c1 - c0, ps * L.l1b,
                                        ps * L.l2b) \
            if c1 > c0 else 0.0
    fnn_barrier_wait(&s.barrier)                  # every share's norm is in
    total = 0
    if s.loop.rule.global_clipnorm > 0:
        for v in range(s.n_workers * 2 * n_layers):
            total += s.norm_parts[v]
        scale_W = scale_b = clip / max(sqrt(total), clip)
    for l in range(n_layers):
        L = &s.layers[l]
        _own_share(s, worker, l, &r0, &r1, &c0, &c1)
        if s.loop.rule.clipnorm > 0:              # each parameter by its own norm
            scale_W = scale_b = 0
            for v in range(s.n_workers):
                scale_W += s.norm_parts[v * 2 * n_layers + 2 * l]
                scale_b += s.norm_parts[v * 2 * n_layers + 2 * l + 1]
            scale_W, scale_b = clip / max(sqrt(scale_W), clip), clip / max(sqrt(scale_b), clip)
        _rule_step(s, worker, <floating *> L.W, <floating *> L.dW + r0 * L.n_out, <floating *> L.vW,
                   <floating *> L.s1W, <floating *> L.s2W, r0 * L.n_out, (r1 - r0) * L.n_out, lr_t, t, L.l1W,
                   L.l2W, scale_W)
        if c1 > c0:
            _rule_step(s, worker, <floating *> L.b, <floating *> L.db + c0, <floating *> L.vb, <floating *> L.s1b,
                       <floating *> L.s2b, c0, c1 - c0, lr_t, t, L.l1b, L.l2b, scale_b)


cdef inline double _sum_squares(floating *w, floating *g, Py_ssize_t n, double l1, double l2) noexcept nogil:
    if floating is float:
        return fnn_gradient_sum_squares_f32(w, g, n, l1, l2)
    else:
        return fnn_gradient_sum_squares_f64(w, g, n, l1, l2)


cdef inline void _rule_step(Shared *s, int worker, floating *w, floating *g, floating *s0, floating *s1, floating *s2,
                            Py_ssize_t offset, Py_ssize_t n, double lr_t, long long t, double l1,
                            double l2, double scale) noexcept nogil:
    """The optimizer's rule on w[offset : offset + n] (state arrays at the same offset; g is
    that block's gradient), its penalty's value added to this worker's part of the step's.
    The penalty's coefficients are the step's: l1, l2 times its penalty_scale."""
    cdef double penalty
    l1 = l1 * s.own[worker].penalty_scale
    l2 = l2 * s.own[worker].penalty_scale
    if floating is float:
        penalty = fnn_optimizer_step_f32(&s.loop.rule, lr_t, t, w + offset, g, s0 + offset,
                                         s1 + offset if s1 != NULL else NULL, s2 + offset if s2 != NULL else NULL,
                                         n, l1, l2, scale)
    else:
        penalty = fnn_optimizer_step_f64(&s.loop.rule, lr_t, t, w + offset, g, s0 + offset,
                                         s1 + offset if s1 != NULL else NULL, s2 + offset if s2 != NULL else NULL,
                                         n, l1, l2, scale)
    s.own[worker].penalty_part[s.own[worker].parity] += penalty


cdef inline bint _prefetch_next(Loop *loop, Py_ssize_t j, int worker, int n_workers, fnn_int n_in,
                                bint now, bint by_units, floating *tag) noexcept nogil:
    """Bring this worker's part of batch j towards the caches (its rows, or by_units its
    columns of every row): now, all at once, or (now false) a line at a time by the products
    that follow; returns False if it did neither."""
    cdef Py_ssize_t start = j * loop.batch_size, m = loop.n_order - start
    if m > loop.batch_size:
        m = loop.batch_size
    cdef Py_ssize_t lo = worker * m // n_workers, hi = (worker + 1) * m // n_workers
    cdef Py_ssize_t c0 = 0, c1 = n_in
    if by_units:
        lo, hi = 0, m
        c0, c1 = worker * n_in // n_workers, (worker + 1) * n_in // n_workers
    cdef bint streamed = False
    if not now:
        if floating is float:
            streamed = prefetch_rows_in_products(<float *> loop.X + c0, <Py_ssize_t *> loop.order + start + lo,
                                                 hi - lo, n_in, c1 - c0)
        return streamed
    if floating is float:
        fnn_prefetch_rows_f32(<float *> loop.X, loop.order + start + lo, hi - lo, n_in)
    else:
        fnn_prefetch_rows_f64(<double *> loop.X, loop.order + start + lo, hi - lo, n_in)
    return True


cdef inline void _sgd(floating *w, floating *g, floating *v, fnn_int n, double lr,
                      double mu, bint nesterov) noexcept nogil:
    if floating is float:
        fnn_sgd_momentum_f32(w, g, v, n, lr, mu, nesterov)
    else:
        fnn_sgd_momentum_f64(w, g, v, n, lr, mu, nesterov)


cdef inline void _backprop_rows(Layer *L, Layer *previous, Py_ssize_t lo, Py_ssize_t mw, floating *tag) noexcept nogil:
    """Rows lo .. lo + mw of the previous layer's δ := δ·Wᵀ (before its activation's derivative)."""
    gemm(NoTrans, Transpose, <int> mw, L.n_in, L.n_out, <floating> 1, rows(L.delta, lo, L.n_out, tag),
         L.n_out, <floating *> L.W, L.n_out, <floating> 0, rows(previous.delta, lo, L.n_in, tag), L.n_in)


cdef inline void _weight_gradient_rows(Layer *L, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t m, floating *g,
                                       floating *tag) noexcept nogil:
    """g := rows r0 .. r1 of dW = Iᵀ·δ over the m rows of the batch (g: r1 - r0 rows of n_out)."""
    gemm(Transpose, NoTrans, <int> (r1 - r0), L.n_out, <int> m, <floating> 1, <floating *> L.input + r0,
         L.n_in, <floating *> L.delta, L.n_out, <floating> 0, g, L.n_out)


cdef inline Py_ssize_t _block_rows(Py_ssize_t n_values, Py_ssize_t n_out) noexcept nogil:
    """Rows of dW per block of at most n_values values: a multiple of the GEMM's 10-row
    panels where it can be."""
    cdef Py_ssize_t block = n_values // n_out
    if block >= 10:
        block -= block % 10
    return block if block > 0 else 1


cdef void _loss(Shared *s, int act, floating *Z, floating *A, floating *delta, fnn_int n_k, fnn_int *label,
                floating *Y, floating *w, Py_ssize_t m, double scale, double *loss_sum) noexcept nogil:
    """Σ_b w_b E_b of m rows into loss_sum, and δ = scale·∂(Σ w E)/∂Z of those rows (the loss
    s.loss_kind with s's parameters; A: the fused losses' probabilities, or the outputs)."""
    cdef int kind = s.loss_kind
    cdef double ls = s.label_smoothing
    cdef floating *alpha = <floating *> s.alpha
    # summed over the outputs rather than averaged: the mean's kernel with n_k times the weight
    cdef double per_outputs = n_k if s.sum_over_outputs and kind != SOFTMAX_CE and kind != FOCAL \
        and kind != HALF_SE and kind != EXP_POISSON else 1.0
    scale = scale * per_outputs
    loss_sum[0] = 0
    if m == 0:
        return
    if floating is float:
        if kind == SOFTMAX_CE and ls != 0:
            fnn_softmax_cross_entropy_smoothed_f32(Z, label, Y, w, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SOFTMAX_CE:
            fnn_softmax_cross_entropy_f32(Z, label, Y, w, m, n_k, scale, A, delta, loss_sum)
        elif kind == FOCAL:
            fnn_focal_cross_entropy_f32(Z, label, Y, w, alpha, s.gamma, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SIGMOID_BCE and ls != 0:
            fnn_sigmoid_binary_cross_entropy_smoothed_f32(Z, Y, w, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SIGMOID_BCE:
            fnn_sigmoid_binary_cross_entropy_f32(Z, Y, w, m, n_k, scale, A, delta, loss_sum)
        elif kind == BCE and ls != 0:
            fnn_binary_cross_entropy_smoothed_f32(A, Y, w, ls, m, n_k, scale, delta, loss_sum)
        elif kind == BCE:
            fnn_binary_cross_entropy_f32(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == MAE:
            fnn_mean_absolute_error_f32(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == HUBER:
            fnn_huber_f32(A, Y, w, s.huber_delta, m, n_k, scale, delta, loss_sum)
        elif kind == HALF_SE:
            fnn_half_squared_error_f32(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == EXP_POISSON:
            fnn_exp_poisson_f32(Z, Y, w, m, n_k, scale, A, delta, loss_sum)
        else:
            fnn_mean_squared_error_f32(A, Y, w, m, n_k, scale, delta, loss_sum)
    else:
        if kind == SOFTMAX_CE and ls != 0:
            fnn_softmax_cross_entropy_smoothed_f64(Z, label, Y, w, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SOFTMAX_CE:
            fnn_softmax_cross_entropy_f64(Z, label, Y, w, m, n_k, scale, A, delta, loss_sum)
        elif kind == FOCAL:
            fnn_focal_cross_entropy_f64(Z, label, Y, w, alpha, s.gamma, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SIGMOID_BCE and ls != 0:
            fnn_sigmoid_binary_cross_entropy_smoothed_f64(Z, Y, w, ls, m, n_k, scale, A, delta, loss_sum)
        elif kind == SIGMOID_BCE:
            fnn_sigmoid_binary_cross_entropy_f64(Z, Y, w, m, n_k, scale, A, delta, loss_sum)
        elif kind == BCE and ls != 0:
            fnn_binary_cross_entropy_smoothed_f64(A, Y, w, ls, m, n_k, scale, delta, loss_sum)
        elif kind == BCE:
            fnn_binary_cross_entropy_f64(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == MAE:
            fnn_mean_absolute_error_f64(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == HUBER:
            fnn_huber_f64(A, Y, w, s.huber_delta, m, n_k, scale, delta, loss_sum)
        elif kind == HALF_SE:
            fnn_half_squared_error_f64(A, Y, w, m, n_k, scale, delta, loss_sum)
        elif kind == EXP_POISSON:
            fnn_exp_poisson_f64(Z, Y, w, m, n_k, scale, A, delta, loss_sum)
        else:
            fnn_mean_squared_error_f64(A, Y, w, m, n_k, scale, delta, loss_sum)
    if s.clip_probabilities > 0 and ls == 0 and (kind == SOFTMAX_CE or kind == SIGMOID_BCE):
        loss_sum[0] = _clipped_cross_entropy(kind, A, label, Y, w, m, n_k, s.clip_probabilities)
    loss_sum[0] *= per_outputs
    if not _fused_kind(kind):     # dA → δ through the output activation
        activation_backward_raw(act, Z, A, delta, delta, m, n_k)


cdef double _clipped_cross_entropy(int kind, floating *P, fnn_int *label, floating *Y, floating *w, Py_ssize_t m,
                                  fnn_int n_k, double eps) noexcept nogil:
    """Σ_b w_b E_b with each probability p clipped to [ε, 1 − ε] (scikit-learn's log-loss):
    softmax, E_b = −Σ_k y_k log p_k; sigmoid, E_b = −mean_k [y log p + (1 − y) log(1 − p)]."""
    cdef double total = 0, row, p, y
    cdef Py_ssize_t b, k
    for b in range(m):
        row = 0
        for k in range(n_k):
            p = P[b * n_k + k]
            p = eps if p < eps else (1 - eps if p > 1 - eps else p)
            if label != NULL:
                y = 1.0 if label[b] == k else 0.0
            else:
                y = Y[b * n_k + k]
            if y != 0:
                row -= y * log(p)
            if kind == SIGMOID_BCE and y != 1:
                row -= (1 - y) * log(1 - p)
        if kind == SIGMOID_BCE:
            row /= n_k
        total += row * (w[b] if w != NULL else 1.0)
    return total


cdef struct Floor:
    Layer *layers
    Py_ssize_t n_layers, steps, batch_size, n_samples
    int n_workers
    bint is_float


def _limit_threads(int n):
    """For tests: later calls start at most n extra threads (n < 0: no limit), as if the
    others could not be started; training and predict then run on the calling thread."""
    fnn_team_limit_threads(n)


def core_round_trip_ns(long long rounds=20000):
    """The mean time, in nanoseconds, for a cache line to go from one training worker's core
    to the other's and back (two threads taking turns to write one value), for benchmarks.

    Every value one worker writes and the other reads (δ rows, partial products, updated
    weights) and every barrier pays it: where two virtual CPUs sit on the same core complex
    it is some 60-90 ns, on different ones several times more, and two-thread training
    slows accordingly. With one CPU the two threads take turns on it (microseconds)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    cdef double ns
    with nogil:
        ns = fnn_team_round_trip_ns(rounds)
    if ns < 0:
        raise RuntimeError("could not start a second thread")
    return ns


def gemm_floor(layer_sizes, Py_ssize_t batch_size, Py_ssize_t n_samples, dtype=np.float32, int n_workers=1):
    """Run only the matrix products of one training epoch (the BLAS floor), for benchmarks.

    For a network with layer_sizes = [n_in, h1, ..., n_out] and n_samples / batch_size
    steps, each step does exactly the GEMMs a training step does: Z := I·W forward,
    (but for the first layer) δ·Wᵀ backward and dW := Iᵀ·δ, on buffers allocated
    once, in one call with the GIL released. Nothing else (no activations, loss,
    update, data gathering or synchronisation) is done, so its time bounds any training
    loop's. With n_workers = 2, two threads share the products as training shares them:
    each runs half of every batch's rows forward and backward and computes half of every
    layer's dW rows over the whole batch (use single-threaded BLAS then).
    """
    dtype = np.dtype(dtype)
    if dtype not in (_validate.float32, _validate.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1 or batch_size < 1 or n_samples < 1:
        raise ValueError("need at least two layer sizes >= 1, batch_size >= 1 and n_samples >= 1")
    if n_workers not in (1, 2):
        raise ValueError(f"n_workers must be 1 or 2, got {n_workers}")
    rng = np.random.default_rng(0)
    Ws = [np.ascontiguousarray(rng.standard_normal((a, b)), dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    dWs = [np.zeros_like(W) for W in Ws]
    acts = [np.ascontiguousarray(rng.standard_normal((batch_size, s)), dtype=dtype) for s in sizes]
    deltas = [np.zeros((batch_size, s), dtype=dtype) for s in sizes]
    cdef Py_ssize_t n_layers = len(Ws), l, w
    cdef Layer *layers = <Layer *> malloc(n_workers * n_layers * sizeof(Layer))
    cdef Floor f
    cdef int status = 0
    if layers == NULL:
        raise MemoryError()
    for w in range(n_workers):          # the same buffers for every worker, each uses its share
        for l in range(n_layers):
            layers[w * n_layers + l] = Layer(n_in=sizes[l], n_out=sizes[l + 1], act=0, W=addr(Ws[l]), b=NULL,
                                             vW=NULL, vb=NULL, dW=addr(dWs[l]), db=NULL,
                                             Z=addr(acts[l + 1]), A=NULL, delta=addr(deltas[l + 1]),
                                             input=addr(acts[l]), partial=NULL, s1W=NULL, s2W=NULL,
                                             s1b=NULL, s2b=NULL, l1W=0, l2W=0, l1b=0, l2b=0, D=NULL, keep=1,
                                             threshold=0, seed=0, sparse_input=False, sparse_delta=False)
    f.layers, f.n_layers, f.batch_size, f.n_samples = layers, n_layers, batch_size, n_samples
    f.steps, f.n_workers, f.is_float = (n_samples + batch_size - 1) // batch_size, n_workers, dtype == _validate.float32
    try:
        with nogil:
            if n_workers == 1:
                _floor_worker(&f, 0)
            else:
                status = fnn_team_run(n_workers, _floor_worker, &f)
    finally:
        free(layers)
    if status != 0:
        raise RuntimeError(f"could not start {n_workers} threads")


cdef void _floor_worker(void *arg, int worker) noexcept nogil:
    cdef Floor *f = <Floor *> arg
    cdef Py_ssize_t j, m, lo, hi
    for j in range(f.steps):
        m = f.batch_size if (j + 1) * f.batch_size <= f.n_samples else f.n_samples - j * f.batch_size
        lo, hi = worker * m // f.n_workers, (worker + 1) * m // f.n_workers
        if f.is_float:
            _gemms_of_a_step(f.layers + worker * f.n_layers, f.n_layers, lo, hi - lo, m, worker, f.n_workers,
                             <float *> NULL)
        else:
            _gemms_of_a_step(f.layers + worker * f.n_layers, f.n_layers, lo, hi - lo, m, worker, f.n_workers,
                             <double *> NULL)


cdef void _gemms_of_a_step(Layer *layers, Py_ssize_t n_layers, Py_ssize_t lo, Py_ssize_t mw, Py_ssize_t m,
                           int worker, int n_workers, floating *tag) noexcept nogil:
    """The GEMMs one worker runs in a step: rows lo .. lo + mw of the batch forward and
    backward, and its share of the dW rows over all m rows (as in _work)."""
    cdef Py_ssize_t l, r0, r1
    cdef Layer *L
    for l in range(n_layers):
        L = &layers[l]
        dense_forward_raw(rows(L.input, lo, L.n_in, tag), <floating *> L.W, <floating *> NULL,
                          rows(L.Z, lo, L.n_out, tag), mw, L.n_in, L.n_out)
    for l in range(n_layers - 1, 0, -1):
        _backprop_rows(&layers[l], &layers[l - 1], lo, mw, tag)
    for l in range(n_layers):
        L = &layers[l]
        r0, r1 = worker * L.n_in // n_workers, (worker + 1) * L.n_in // n_workers
        _weight_gradient_rows(L, r0, r1, m, <floating *> L.dW + r0 * L.n_out, tag)


cdef Py_ssize_t padded_row(Py_ssize_t n_cols, Py_ssize_t itemsize) noexcept nogil:
    """Values from one row of a scratch matrix to the next: n_cols, plus one cache line when
    a row would be a multiple of 2 KB. Rows that far apart all fall in the same few sets of
    the L1 cache, so the tile of C a product writes evicts itself (1024-wide float32 layers:
    about 5% of predict)."""
    if n_cols * itemsize % 2048 == 0:
        return n_cols + 64 // itemsize
    return n_cols


cdef struct Forward:   # one predict() call, shared by its workers
    Layer *layers
    int n_layers, n_workers
    bint is_float
    void *X
    void *out
    Py_ssize_t n_rows, chunk, ld
    fnn_counter chunks  # the chunks of rows handed out so far (each worker takes the next one)
    void **scratch      # per worker: two (chunk × ld) buffers, one after the other
    Py_ssize_t nonfinite[2]   # per worker: NaN/inf entries seen in its rows of X
    bint sparse_X             # X mostly zeros: the first layer's product leaves out all-zero columns
    float **packed_W          # per layer: its weights packed for fastnn's kernel, or NULL (read in place)


def forward(X, weights, biases, activations, out, Py_ssize_t chunk=1024, int n_workers=1):
    """out := f(X), the network's outputs, in one call with the GIL released.

    Raises ValueError if X holds NaN or infinite values (checked chunk by chunk while the
    chunk is in cache, so the check costs almost nothing).

    X : (n_samples, n_in); weights[l] : (n_in_l, n_out_l); biases[l] : (n_out_l,) or None;
    activations[l] : name; out : (n_samples, n_out_last). The rows are processed in chunks
    of ``chunk`` rows; with n_workers = 2 two threads share them, each taking the next chunk
    when it is done with one (use single-threaded BLAS then). Returns out.
    """
    dtype = _validate.array("X", X, 2)
    if len(weights) == 0 or not (len(weights) == len(biases) == len(activations)):
        raise ValueError("need one weight matrix, bias and activation per layer")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if n_workers not in (1, 2):
        raise ValueError(f"n_workers must be 1 or 2, got {n_workers}")
    cdef Py_ssize_t n_layers = len(weights), l, width = 0
    n_in = X.shape[1]
    codes = []
    for l in range(n_layers):
        W, b = weights[l], biases[l]
        _validate.array(f"weights[{l}]", W, 2, dtype)
        if W.shape[0] != n_in:
            raise ValueError(f"weights[{l}] has shape {W.shape} but its input has {n_in} columns")
        if b is not None:
            _validate.array(f"biases[{l}]", b, 1, dtype)
            _validate.shape(f"biases[{l}]", b, (W.shape[1],))
        codes.append(_validate.activation_code(activations[l]))
        n_in = W.shape[1]
        width = max(width, n_in)
    _validate.array("out", out, 2, dtype)
    _validate.shape("out", out, (X.shape[0], n_in))
    # out is written chunk by chunk while X, the weights and the biases are still being read
    _validate.writable_and_separate("out", out, X=X, **{f"weights[{l}]": weights[l] for l in range(n_layers)},
                                    **{f"biases[{l}]": biases[l] for l in range(n_layers)})
    chunk = min(chunk, max(X.shape[0], 1))
    cdef Py_ssize_t ld_scratch = padded_row(width, dtype.itemsize)
    scratch = [np.empty((2, chunk, ld_scratch), dtype=dtype) for _ in range(n_workers)]
    cdef Forward f
    cdef Layer *layers = <Layer *> malloc(n_layers * sizeof(Layer))
    cdef float **packed_W = <float **> malloc(n_layers * sizeof(float *))
    cdef void *scratch_ptrs[2]
    cdef int status = 0
    cdef Py_ssize_t size
    if layers == NULL or packed_W == NULL:
        free(layers)
        free(packed_W)
        raise MemoryError()
    packed = []
    sparse_X = _mostly_zeros(X)
    try:
        n_in = X.shape[1]
        for l in range(n_layers):
            layers[l] = Layer(n_in=n_in, n_out=weights[l].shape[1], act=codes[l], W=addr(weights[l]),
                              b=addr(biases[l]), vW=NULL, vb=NULL, dW=NULL, db=NULL, Z=NULL, A=NULL,
                              delta=NULL, input=NULL, partial=NULL, s1W=NULL, s2W=NULL, s1b=NULL, s2b=NULL,
                              l1W=0, l2W=0, l1b=0, l2b=0, D=NULL, keep=1, threshold=0, seed=0,
                              sparse_input=False, sparse_delta=False)
            packed_W[l] = NULL
            # a wide relu or linear layer's weights, or the first layer's on mostly-zero rows (read
            # as sparse rows, against strips of the weights), read by more than one chunk: packed once
            size = (packed_weights_size(n_in, weights[l].shape[1]) if dtype == _validate.float32
                    and codes[l] in (FNN_RELU, FNN_LINEAR)
                    and (weights[l].shape[1] > PACKED_WIDER_THAN
                         or (l == 0 and sparse_X and weights[l].shape[1] > SPARSE_WIDER_THAN))
                    and X.shape[0] > chunk else 0)
            if size > 0:
                strips = np.empty(size, dtype=np.float32)
                packed.append(strips)
                packed_W[l] = <float *> addr(strips)
                if not pack_weights(n_in, weights[l].shape[1], <float *> layers[l].W, weights[l].shape[1],
                                    packed_W[l]):
                    packed_W[l] = NULL
            n_in = weights[l].shape[1]
        for l in range(n_workers):
            scratch_ptrs[l] = addr(scratch[l])
        f.layers, f.n_layers, f.n_workers = layers, n_layers, n_workers
        f.is_float = dtype == _validate.float32
        f.X, f.out, f.n_rows, f.chunk, f.ld = addr(X), addr(out), X.shape[0], chunk, ld_scratch
        f.scratch = scratch_ptrs
        f.nonfinite[0] = f.nonfinite[1] = 0
        fnn_counter_init(&f.chunks)
        f.sparse_X = sparse_X
        f.packed_W = packed_W
        with nogil:
            if n_workers == 1:
                _forward_worker(&f, 0)
            else:
                status = fnn_team_run(n_workers, _forward_worker, &f)
                if status != 0:           # a thread could not be started: this one takes every chunk
                    f.n_workers = 1
                    _forward_worker(&f, 0)
    finally:
        free(layers)
        free(packed_W)
    if f.nonfinite[0] + f.nonfinite[1]:
        raise ValueError(f"X holds {f.nonfinite[0] + f.nonfinite[1]} NaN or infinite values")
    return out


cdef void _forward_worker(void *arg, int worker) noexcept nogil:
    cdef Forward *f = <Forward *> arg
    if f.is_float:
        _forward_rows(f, worker, <float *> NULL)
    else:
        _forward_rows(f, worker, <double *> NULL)


cdef void _forward_rows(Forward *f, int worker, floating *tag) noexcept nogil:
    """The chunks of rows this worker takes, one after another: I := X rows; for each layer
    Z := I·W + b, A := g(Z) into the other scratch buffer (the last layer writes into out).
    Each worker takes the next chunk when it has finished one (on a shared machine one core
    is often slowed for a while: it then does fewer chunks instead of holding up the call)."""
    cdef Py_ssize_t n_chunks = (f.n_rows + f.chunk - 1) // f.chunk
    cdef Py_ssize_t current, following, start, m, r, ld_I, ld_Z
    cdef int l
    # X's NaN/inf check: when the first layer narrows (net A: 784 -> 64) and its product
    # propagates them, its output is checked instead, 12× fewer values, and the chunk of X
    # is counted only if that finds any (X is then read once, by the product, not twice)
    cdef bint check_after = (floating is float and products_propagate_nonfinite()
                             and f.layers[0].n_out < f.layers[0].n_in
                             and (f.n_layers == 1 or padded_row(f.layers[0].n_out, sizeof(floating))
                                  == f.layers[0].n_out))
    cdef Layer *L
    cdef floating *buffers = <floating *> f.scratch[worker]
    cdef floating *I
    cdef floating *Z
    current = fnn_counter_take(&f.chunks)
    while current < n_chunks:
        start = current * f.chunk
        m = min(f.chunk, f.n_rows - start)
        following = fnn_counter_take(&f.chunks)       # taken now, so that its rows can be fetched
        I = rows(f.X, start, f.layers[0].n_in, tag)
        if floating is float:       # the next chunk's rows come towards the cache while this one's products run
            if following < n_chunks:
                prefetch_rows_in_products(<float *> rows(f.X, following * f.chunk, f.layers[0].n_in, tag),
                                          &_FIRST_ROW, 1, 0,
                                          min(f.chunk, f.n_rows - following * f.chunk) * f.layers[0].n_in)
            if not check_after:
                f.nonfinite[worker] += fnn_count_nonfinite_f32(I, m * f.layers[0].n_in)
        else:
            f.nonfinite[worker] += fnn_count_nonfinite_f64(I, m * f.layers[0].n_in)
        ld_I = f.layers[0].n_in
        for l in range(f.n_layers):
            L = &f.layers[l]
            if l == f.n_layers - 1:
                Z, ld_Z = rows(f.out, start, L.n_out, tag), L.n_out
            else:
                Z, ld_Z = buffers + (l % 2) * f.chunk * f.ld, f.ld
            # A := g(I·W + b): relu and linear layers in one pass on fastnn's float32 kernel,
            # which applies b and g to each tile of the product as it stores it
            if (floating is float and not (l == 0 and check_after) and (L.act == FNN_RELU or L.act == FNN_LINEAR)
                    and gemm_bias_relu(<int> m, L.n_out, L.n_in, <float *> I, <int> ld_I, <float *> L.W, L.n_out,
                                       <float *> Z, <int> ld_Z, <float *> L.b, L.act == FNN_RELU,
                                       l == 0 and f.sparse_X, f.packed_W[l])):
                I, ld_I = Z, ld_Z
                continue
            # (the first layer's product over mostly-zero rows leaves their all-zero columns out)
            if not (floating is float and l == 0 and f.sparse_X
                    and gemm_bias_relu(<int> m, L.n_out, L.n_in, <float *> I, <int> ld_I, <float *> L.W, L.n_out,
                                       <float *> Z, <int> ld_Z, NULL, False, True, f.packed_W[l])):
                gemm(NoTrans, NoTrans, <int> m, L.n_out, L.n_in, <floating> 1, I, <int> ld_I, <floating *> L.W,
                     L.n_out, <floating> 0, Z, <int> ld_Z)
            if l == 0 and check_after:      # ld_Z == n_out here
                if fnn_count_nonfinite_f32(<float *> Z, m * L.n_out):
                    f.nonfinite[worker] += fnn_count_nonfinite_f32(<float *> I, m * L.n_in)
            if ld_Z == L.n_out:     # Z := Z + b; A := g(Z) in place
                bias_activation(L.act, <floating *> L.b, Z, Z, m, L.n_out)
            else:
                for r in range(m):
                    bias_activation(L.act, <floating *> L.b, Z + r * ld_Z, Z + r * ld_Z, 1, L.n_out)
            I, ld_I = Z, ld_Z
        current = following
    if floating is float:
        prefetch_rows_in_products(NULL, NULL, 0, 0, 0)
