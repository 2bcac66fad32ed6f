"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by fastnn's compiled loop.

The two classes are scikit-learn's own estimators with their training replaced: the
parameters, their defaults and checks, the label binarizer, the initial weights, the random
state's order of calls, the stopping rules, ``partial_fit``, ``warm_start`` and early stopping
are scikit-learn's code, so a script changes one import and keeps every parameter. What runs
differently:

* ``solver="sgd"`` and ``"adam"``: each epoch is one call of fastnn's compiled ``Trainer``
  over the epoch's sample order (scikit-learn's shuffle, drawn as it draws it); the steps do
  scikit-learn's arithmetic:

      δ_L = ŷ − y  (times w_b with sample weights),  mean over the batch's m (or Σ w_b)
      g_W = (Xᵀδ + α·W) / m,  g_b = Σ_b δ / m        (L2 on the coefficients, not the intercepts)
      loss_b = E(ŷ, y) + (α/2)·ΣW² / m;   loss_curve_ = Σ_batches loss_b·m_b / n

  with scikit-learn's losses (log-loss summed over a multilabel target's outputs, half the
  squared error, half the Poisson deviance) and its updates (SGD with momentum or Nesterov's
  momentum, the learning rate per epoch; Adam with its bias-corrected rate).
* ``solver="lbfgs"``: ``scipy.optimize.minimize(method="L-BFGS-B")`` as scikit-learn calls it,
  on the full-batch loss and gradient of the same compiled loop (one step at rate 0).
* ``predict``: the compiled forward pass (dense input of the model's dtype), then
  scikit-learn's output function.

On float64 data the results are scikit-learn's to rounding (``coefs_``, ``intercepts_`` and
``loss_curve_`` after a few epochs within 1e-9, relative); float32 data is trained in float32.

Sparse input is accepted and made dense for training (the compiled loop gathers rows of a
dense matrix). ``n_threads`` (default None: $FASTNN_NUM_THREADS, else every available
core) bounds the threads of a fit: two workers share each step of a large enough network
(with a single-threaded BLAS), as fastnn's other estimators do.
"""
import numbers
import os
import warnings
from itertools import pairwise

import numpy as np
import scipy.optimize
import scipy.sparse
import sklearn

if tuple(int(part) for part in sklearn.__version__.split(".")[:2] if part.isdigit()) < (1, 7):
    raise ImportError(f"fastnn.sklearn.MLPClassifier and MLPRegressor extend scikit-learn's own estimators "
                      f"and need scikit-learn >= 1.7 (sample_weight in their fit); found {sklearn.__version__}")

from sklearn import neural_network as _nn  # noqa: E402
from sklearn.base import is_classifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network._base import ACTIVATIONS  # noqa: E402
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer  # noqa: E402
from sklearn.utils import gen_batches  # noqa: E402
from sklearn.utils._param_validation import Interval  # noqa: E402
from sklearn.utils.optimize import _check_optimize_result  # noqa: E402
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict  # noqa: E402
from sklearn.utils.validation import validate_data  # noqa: E402

from fastnn._kernels import train as _train  # noqa: E402
from fastnn._threads import available_threads, limit_blas  # noqa: E402

THREADS_ENV = "FASTNN_NUM_THREADS"

# scikit-learn's activation names → fastnn's
_HIDDEN = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
# the output activation → (fastnn's loss kind, the output layer's activation in the loop)
_OUTPUT = {"softmax": ("softmax_cross_entropy", "softmax"),
           "logistic": ("sigmoid_binary_cross_entropy", "sigmoid"),
           "identity": ("half_squared_error", "linear"),
           "exp": ("exp_poisson", "linear")}

# a step smaller than this many multiply-adds (batch × weights) runs on one thread: the two
# workers' barriers would cost more than they save (fastnn.models uses the same bound)
_SMALL_STEP = 200_000


def _n_threads(value):
    """The thread limit: n_threads, else $FASTNN_NUM_THREADS, else None (every available core)."""
    if value is None:
        text = os.environ.get(THREADS_ENV, "").strip()
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"the environment variable {THREADS_ENV} must be a positive integer, "
                             f"got {text!r}") from None
        if value < 1:
            raise ValueError(f"the environment variable {THREADS_ENV} must be a positive integer, got {text!r}")
    return int(value)


class _CompiledMLP:
    """What both drop-ins share: the compiled training and forward pass."""

    # ------------------------------------------------------------ the network in the loop

    def _workers(self, batch_size, layer_units):
        """The loop's workers for steps of this batch size: 2 where the threads allow and a step
        is large enough. The BLAS runs single-threaded under the loop either way (its threads
        would only contend with the workers, and on small products with each other)."""
        limit = _n_threads(self.n_threads)
        threads = available_threads() if limit is None else min(limit, available_threads())
        work = batch_size * sum(a * b for a, b in pairwise(layer_units))
        return 2 if threads >= 2 and work >= _SMALL_STEP else 1

    def _trainer(self, batch_size, dtype, layer_units, states, penalised, n_workers):
        """A compiled Trainer over coefs_ and intercepts_ (trained in place), and its dW and db
        (the gradient of the last step's data loss, for lbfgs).

        states: per layer (vW, vb, s1W, s1b): the optimizer's arrays (SGD's velocities, or
        Adam's m and v), or None for a scratch state (the lbfgs gradient's rate-0 step)."""
        n_layers = len(self.coefs_)
        loss_kind, out_act = _OUTPUT[self.out_activation_]
        acts = [_HIDDEN[self.activation]] * (n_layers - 1) + [out_act]
        X_buffer = np.zeros((batch_size, layer_units[0]), dtype=dtype)
        layers, extra = [], []
        for l in range(n_layers):
            W, b = self.coefs_[l], self.intercepts_[l]
            vW, vb, s1W, s1b = states[l] if states is not None else (np.zeros_like(W), np.zeros_like(b), None, None)
            width = W.shape[1]
            layers.append((W, b, vW, vb, np.zeros_like(W), np.zeros_like(b),
                           np.zeros((batch_size, width), dtype=dtype), np.zeros((batch_size, width), dtype=dtype),
                           np.zeros((batch_size, width), dtype=dtype)))
            extra.append((s1W, None, s1b, None))
        # scikit-learn's L2: (α/2)·ΣW² / m on the coefficients, its gradient α·W / m
        penalties = [(0.0, 0.5 * float(self.alpha), 0.0, 0.0)] * n_layers if penalised and self.alpha else None
        trainer = _train.Trainer(X_buffer, layers, acts, loss_kind, n_workers=n_workers, states=extra,
                                 penalties=penalties, sum_over_outputs=True, weighted_mean=True,
                                 penalty_per_sample=True, clip_probabilities=float(np.finfo(dtype).eps))
        return trainer, [layer[4] for layer in layers], [layer[5] for layer in layers]

    def _own_parameters(self, dtype):
        """coefs_ and intercepts_ as C-contiguous arrays of dtype, which the loop trains in place."""
        for i in range(len(self.coefs_)):
            self.coefs_[i] = np.ascontiguousarray(self.coefs_[i], dtype=dtype)
            self.intercepts_[i] = np.ascontiguousarray(self.intercepts_[i], dtype=dtype)

    def _loop_data(self, X, y, sample_weight):
        """X (dense, C-contiguous), the targets as rows of X's dtype, the weights of X's dtype."""
        if scipy.sparse.issparse(X):
            X = X.toarray()
        X = np.ascontiguousarray(X)
        Y = np.ascontiguousarray(np.asarray(y).reshape(X.shape[0], -1), dtype=X.dtype)
        w = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=X.dtype)
        return X, Y, w

    def _data_loss_factor(self):
        """scikit-learn's squared loss reports ½·mean over the outputs (its gradient is that of
        ½·Σ over them): the loop's ½·Σ is divided by the number of outputs."""
        return 1.0 / self.n_outputs_ if self.out_activation_ == "identity" else 1.0

    # ------------------------------------------------------------ sgd and adam

    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                        layer_units, incremental):
        params = self.coefs_ + self.intercepts_
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(params, self.learning_rate_init, self.learning_rate, self.momentum,
                                               self.nesterovs_momentum, self.power_t)
            elif self.solver == "adam":
                self._optimizer = AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2,
                                                self.epsilon)
        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # don't stratify in multilabel classification
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X, y, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify)
                sample_weight_train = sample_weight_val = None
            else:
                X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val = train_test_split(
                    X, y, sample_weight, random_state=self._random_state, test_size=self.validation_fraction,
                    stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        # the compiled loop's view of the data and of the optimizer's state
        X_loop, Y_loop, w_loop = self._loop_data(X_train, y_train, sample_weight_train)
        dtype = X_loop.dtype
        self._own_parameters(dtype)
        opt = self._optimizer
        n_layers = len(self.coefs_)
        if isinstance(opt, SGDOptimizer):
            opt.velocities = [np.ascontiguousarray(v, dtype=dtype) for v in opt.velocities]
            states = [(opt.velocities[l], opt.velocities[n_layers + l], None, None) for l in range(n_layers)]
            rule = {"kind": "sgd", "momentum": float(self.momentum), "nesterov": bool(self.nesterovs_momentum)}
        else:
            opt.ms = [np.ascontiguousarray(m, dtype=dtype) for m in opt.ms]
            opt.vs = [np.ascontiguousarray(v, dtype=dtype) for v in opt.vs]
            states = [(opt.ms[l], opt.ms[n_layers + l], opt.vs[l], opt.vs[n_layers + l]) for l in range(n_layers)]
            rule = {"kind": "adam", "beta_1": float(self.beta_1), "beta_2": float(self.beta_2),
                    "epsilon": float(self.epsilon)}
        n_workers = self._workers(batch_size, layer_units)
        trainer, _, _ = self._trainer(batch_size, dtype, layer_units, states, True, n_workers)
        slices = list(gen_batches(n_samples, batch_size))
        steps = len(slices)
        sizes = np.array([s.stop - s.start for s in slices], dtype=np.float64)
        batch_losses = np.zeros(steps)
        batch_penalties = np.zeros(steps)
        factor = self._data_loss_factor()
        order = np.arange(n_samples, dtype=np.intp)
        limit = limit_blas(1)

        try:
            self.n_iter_ = 0
            with limit:
                for it in range(self.max_iter):
                    if self.shuffle:
                        # scikit-learn's draw (sklearn.utils.shuffle, which resample does without
                        # replacement): a permutation by self._random_state.shuffle, applied to the order
                        permutation = np.arange(n_samples)
                        self._random_state.shuffle(permutation)
                        sample_idx = sample_idx[permutation]
                        order = np.ascontiguousarray(sample_idx, dtype=np.intp)
                    # Adam's rate: learning_rate_init, bias-corrected in the loop by its step count t;
                    # SGD's: this epoch's (constant, invscaling's or adaptive's)
                    if isinstance(opt, AdamOptimizer):
                        t, rate = opt.t, opt.learning_rate_init
                    else:
                        t, rate = 0, opt.learning_rate
                    done, _, _, _ = trainer.train(X_loop, None, Y_loop, w_loop, order, 0, steps,
                                                  float(rate), 0.0, 0.0, False, t, batch_losses,
                                                  0, rule=rule, batch_penalties=batch_penalties)
                    if isinstance(opt, AdamOptimizer):
                        opt.t += done
                        if done:
                            opt.learning_rate = (opt.learning_rate_init * np.sqrt(1 - opt.beta_2 ** opt.t)
                                                 / (1 - opt.beta_1 ** opt.t))
                    if done < steps:
                        raise ValueError(
                            f"the loss became {batch_losses[done]} at epoch {self.n_iter_ + 1}, step {done + 1} of "
                            f"{steps} (that step was not applied): scale the inputs and targets (e.g. "
                            f"StandardScaler) or lower learning_rate_init (now {self.learning_rate_init})")
                    # Σ_k loss_k·m_k added up in order, as scikit-learn does (cumsum is sequential)
                    accumulated_loss = float(np.cumsum((batch_losses * factor + batch_penalties) * sizes)[-1])
                    self.n_iter_ += 1
                    self.loss_ = accumulated_loss / X_train.shape[0]
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                    # update no_improvement_count based on training loss or
                    # validation score according to early_stopping
                    self._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)
                    # for learning rate that needs to be updated at iteration end
                    opt.iteration_ends(self.t_)
                    if self._no_improvement_count > self.n_iter_no_change:
                        # not better than last `n_iter_no_change` iterations by tol
                        # stop or decrease learning rate
                        if early_stopping:
                            msg = ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                                   % (self.tol, self.n_iter_no_change))
                        else:
                            msg = ("Training loss did not improve more than tol=%f for %d consecutive epochs."
                                   % (self.tol, self.n_iter_no_change))
                        is_stopping = opt.trigger_stopping(msg, self.verbose)
                        if is_stopping:
                            break
                        else:
                            self._no_improvement_count = 0
                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        # attributed to scikit-learn's module, so that a script's filter for its
                        # warning (module="sklearn", as its examples write) catches this one too
                        warnings.warn_explicit(
                            "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                            "hasn't converged yet." % self.max_iter, ConvergenceWarning, __file__, 0,
                            module=_nn.MLPClassifier.__module__)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if early_stopping:
            # restore best weights
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    # ------------------------------------------------------------ lbfgs

    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        # where each parameter lies in the packed vector, as scikit-learn packs it
        self._coef_indptr = []
        self._intercept_indptr = []
        start = 0
        for i in range(self.n_layers_ - 1):
            n_fan_in, n_fan_out = layer_units[i], layer_units[i + 1]
            end = start + (n_fan_in * n_fan_out)
            self._coef_indptr.append((start, end, (n_fan_in, n_fan_out)))
            start = end
        for i in range(self.n_layers_ - 1):
            end = start + layer_units[i + 1]
            self._intercept_indptr.append((start, end))
            start = end

        X_loop, Y_loop, w_loop = self._loop_data(X, y, sample_weight)
        dtype = X_loop.dtype
        n = X_loop.shape[0]
        self._own_parameters(dtype)
        W_loop, b_loop = list(self.coefs_), list(self.intercepts_)     # the loop's own buffers
        n_workers = self._workers(n, layer_units)
        trainer, trainer_dW, trainer_db = self._trainer(n, dtype, layer_units, None, False, n_workers)
        order = np.arange(n, dtype=np.intp)
        loss_out = np.zeros(1)
        factor = self._data_loss_factor()
        sw_sum = n if w_loop is None else float(np.sum(sample_weight))
        alpha = float(self.alpha)

        def loss_grad(packed):
            """scikit-learn's loss and packed gradient at packed: the data's from one compiled
            full-batch step at rate 0, the L2 term's here."""
            for i in range(len(W_loop)):
                start, end, shape = self._coef_indptr[i]
                W_loop[i][...] = packed[start:end].reshape(shape)
                start, end = self._intercept_indptr[i]
                b_loop[i][...] = packed[start:end]
            trainer.train(X_loop, None, Y_loop, w_loop, order, 0, 1, 0.0, 0.0, 0.0, False, 0, loss_out, 0)
            values = 0
            for W in W_loop:
                s = W.ravel()
                values += np.dot(s, s)
            loss = float(loss_out[0]) * factor + (0.5 * alpha) * values / sw_sum
            grads = [layer_dW + (alpha / sw_sum) * W for layer_dW, W in zip(trainer_dW, W_loop)] + \
                [db.copy() for db in trainer_db]
            return loss, np.hstack([g.ravel() for g in grads])

        packed_coef_inter = np.hstack([p.ravel() for p in self.coefs_ + self.intercepts_])
        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        with limit_blas(1):
            opt_res = scipy.optimize.minimize(
                loss_grad, packed_coef_inter, method="L-BFGS-B", jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                         **_get_additional_lbfgs_options_dict("iprint", iprint)})
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        self._unpack(opt_res.x)
        self._own_parameters(dtype)

    # ------------------------------------------------------------ prediction

    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        dtype = self.coefs_[0].dtype
        if scipy.sparse.issparse(X) or not isinstance(X, np.ndarray) or X.dtype != dtype or X.ndim != 2:
            return super()._forward_pass_fast(X, check_input=False)
        X = np.ascontiguousarray(X)
        n_layers = len(self.coefs_)
        acts = [_HIDDEN[self.activation]] * (n_layers - 1) + ["linear"]
        out = np.empty((X.shape[0], self.coefs_[-1].shape[1]), dtype=dtype)
        if X.shape[0] == 0:
            return out
        weights = [np.ascontiguousarray(W) for W in self.coefs_]
        biases = [np.ascontiguousarray(b) for b in self.intercepts_]
        limit = _n_threads(self.n_threads)
        workers = 2 if X.shape[0] >= 256 and available_threads() >= 2 and (limit is None or limit >= 2) else 1
        with limit_blas(1):
            _train.forward(X, weights, biases, acts, out, n_workers=workers)
        ACTIVATIONS[self.out_activation_](out)
        return out


_N_THREADS = {"n_threads": [Interval(numbers.Integral, 1, None, closed="left"), None]}
_SHARED_PARAMS = """
    Every parameter, method and fitted attribute of scikit-learn's estimator keeps its default
    and meaning (see scikit-learn's documentation); one parameter is added.

    Parameters
    ----------
    n_threads : int or None, default None
        The most threads a fit or predict uses (None: $FASTNN_NUM_THREADS, else every
        available core): two workers share each training step of a network large enough
        (batch × weights ≥ 200,000 multiply-adds), and each predict of 256 rows or more.
"""


class MLPClassifier(_CompiledMLP, _nn.MLPClassifier):
    __doc__ = """scikit-learn's ``MLPClassifier``, trained by fastnn's compiled loop (a drop-in:
    change the import, keep the parameters). The output is scikit-learn's: one logistic
    unit for two classes, softmax for more, one logistic unit per label for a multilabel
    target; the loss is the log-loss (summed over a multilabel target's outputs).
""" + _SHARED_PARAMS

    _parameter_constraints = {**_nn.MLPClassifier._parameter_constraints, **_N_THREADS}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)
        self.n_threads = n_threads


class MLPRegressor(_CompiledMLP, _nn.MLPRegressor):
    __doc__ = """scikit-learn's ``MLPRegressor``, trained by fastnn's compiled loop (a drop-in:
    change the import, keep the parameters). The output is linear with half the squared
    error (``loss="squared_error"``), or exponential with half the Poisson deviance
    (``loss="poisson"``).
""" + _SHARED_PARAMS

    _parameter_constraints = {**_nn.MLPRegressor._parameter_constraints, **_N_THREADS}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None):
        super().__init__(
            loss=loss, hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)
        self.n_threads = n_threads
