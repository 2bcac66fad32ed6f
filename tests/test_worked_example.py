"""The course's exercise, worked by hand: one SGD step of a 3-2-1 network.

The network: 3 inputs, a hidden layer of 2 sigmoid units, 1 sigmoid output,
mean squared error, learning rate γ = 1/2, no momentum. One sample.
The weights are chosen so that every number is a fraction: with L = ln 3,
σ(L) = 1/(1 + 1/3) = 3/4, σ(0) = 1/2, σ(−L) = 1/4, and σ' = σ(1 − σ).

Notation (weights are (n_in, n_out), so Z = I·W + b):
    forward    I_1 = x;  Z_l = I_l·W_l + b_l;  A_l = g(Z_l);  I_{l+1} = A_l
    output     δ_L = ∂E/∂Z_L = ∂E/∂A_L ⊙ g'(Z_L)
    backward   δ_l = (δ_{l+1}·W_{l+1}ᵀ) ⊙ g'(Z_l)
    gradients  dW_l = I_lᵀ·δ_l;  db_l = Σ_samples δ_l
    update     W_l := W_l − γ·dW_l;  b_l := b_l − γ·db_l

Forward
    x = (1, 0, 1)
    W_1 = [[L, 1], [2, −3], [0, −1]],  b_1 = (0, 0)
    Z_1 = (1·L + 0·2 + 1·0,  1·1 + 0·(−3) + 1·(−1)) = (L, 0)
    A_1 = (σ(L), σ(0)) = (3/4, 1/2)
    W_2 = [[2], [−3]],  b_2 = −L
    Z_2 = 3/4·2 + 1/2·(−3) − L = 3/2 − 3/2 − L = −L
    A_2 = σ(−L) = 1/4;  the target is y = 1
    E = (A_2 − y)² = (−3/4)² = 9/16               (mean over 1 output and 1 sample)

    E is the batch's *mean* loss, (1/n) Σ_b E_b, and δ = ∂E/∂Z of that mean: on n
    samples every row of δ carries a factor 1/n (for softmax with cross-entropy,
    δ_L = (A − Y)/n), so dW is the average of the samples' gradients and γ means the
    same step whatever the batch size. Here n = 1, so no factor shows; the last test
    of this file checks the 1/n on a batch of five.

Output sensitivity
    ∂E/∂A_2 = 2(A_2 − y) = −3/2
    g'(Z_2) = A_2(1 − A_2) = 1/4 · 3/4 = 3/16
    δ_2 = −3/2 · 3/16 = −9/32

Hidden sensitivity
    δ_2·W_2ᵀ = −9/32 · (2, −3) = (−9/16, 27/32)
    g'(Z_1) = (3/4 · 1/4, 1/2 · 1/2) = (3/16, 1/4)
    δ_1 = (−9/16 · 3/16, 27/32 · 1/4) = (−27/256, 27/128)

Gradients
    dW_2 = A_1ᵀ·δ_2 = [[3/4 · −9/32], [1/2 · −9/32]] = [[−27/128], [−9/64]];  db_2 = −9/32
    dW_1 = xᵀ·δ_1 = [[−27/256, 27/128], [0, 0], [−27/256, 27/128]];          db_1 = (−27/256, 27/128)

Update (γ = 1/2)
    W_2 := [[2 + 27/256], [−3 + 9/128]] = [[2.10546875], [−2.9296875]];  b_2 := −L + 9/64
    W_1 := [[L + 27/512, 1 − 27/256], [2, −3], [27/512, −1 − 27/256]];   b_1 := (27/512, −27/256)
"""
import numpy as np
import pytest

L = np.log(3.0)


def test_one_sgd_step_by_hand(backend, dtype):
    tol = dict(rel=1e-12, abs=1e-12) if dtype == np.float64 else dict(rel=1e-6, abs=1e-6)

    def exactly(actual, expected):
        assert np.asarray(actual, np.float64) == pytest.approx(np.asarray(expected, np.float64), **tol)

    def layer(W, b):
        W, b = np.array(W, dtype), np.array(b, dtype)
        n_out = W.shape[1]
        return (W, b, np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b),
                np.zeros((1, n_out), dtype), np.zeros((1, n_out), dtype), np.zeros((1, n_out), dtype))

    hidden = layer([[L, 1], [2, -3], [0, -1]], [0, 0])
    output = layer([[2], [-3]], [-L])
    X_buffer = np.zeros((1, 3), dtype)
    trainer = backend.Trainer(X_buffer, [hidden, output], ["sigmoid", "sigmoid"], "mean_squared_error")
    x, y = np.array([[1, 0, 1]], dtype), np.array([[1]], dtype)
    losses = np.zeros(1)
    done, iteration, _, _ = trainer.train(x, None, y, None, np.array([0], np.intp), 0, 1,
                                          0.5, 0.0, 0.0, False, 0, losses)
    assert (done, iteration, trainer.last_batch_size) == (1, 1, 1)

    W1, b1, vW1, vb1, dW1, db1, Z1, A1, delta1 = hidden
    W2, b2, vW2, vb2, dW2, db2, Z2, A2, delta2 = output
    # forward
    exactly(X_buffer, [[1, 0, 1]])
    exactly(Z1, [[L, 0]])
    exactly(A1, [[3 / 4, 1 / 2]])
    exactly(Z2, [[-L]])
    exactly(A2, [[1 / 4]])
    exactly(losses, [9 / 16])
    # sensitivities
    exactly(delta2, [[-9 / 32]])
    exactly(delta1, [[-27 / 256, 27 / 128]])
    # gradients
    exactly(dW2, [[-27 / 128], [-9 / 64]])
    exactly(db2, [-9 / 32])
    exactly(dW1, [[-27 / 256, 27 / 128], [0, 0], [-27 / 256, 27 / 128]])
    exactly(db1, [-27 / 256, 27 / 128])
    # the update, and the velocity it leaves (v = −γ·g without momentum)
    exactly(W2, [[2 + 27 / 256], [-3 + 9 / 128]])
    exactly(b2, [-L + 9 / 64])
    exactly(W1, [[L + 27 / 512, 1 - 27 / 256], [2, -3], [27 / 512, -1 - 27 / 256]])
    exactly(b1, [27 / 512, -27 / 256])
    exactly(vW2, [[27 / 256], [9 / 128]])
    exactly(vb1, [27 / 512, -27 / 256])


def test_the_same_step_kernel_by_kernel(backend, dtype):
    """The Trainer's step, spelled out with the backend's kernels in the order of the course."""
    tol = dict(rel=1e-12, abs=1e-12) if dtype == np.float64 else dict(rel=1e-6, abs=1e-6)
    x, y = np.array([[1, 0, 1]], dtype), np.array([[1]], dtype)
    W1, b1 = np.array([[L, 1], [2, -3], [0, -1]], dtype), np.zeros(2, dtype)
    W2, b2 = np.array([[2], [-3]], dtype), np.array([-L], dtype)
    Z1, A1, Z2, A2 = np.empty((1, 2), dtype), np.empty((1, 2), dtype), np.empty((1, 1), dtype), np.empty((1, 1), dtype)
    backend.dense_forward(x, W1, b1, Z1)                     # Z_1 = x·W_1 + b_1
    backend.activation_forward("sigmoid", Z1, A1)            # A_1 = σ(Z_1)
    backend.dense_forward(A1, W2, b2, Z2)                    # Z_2 = A_1·W_2 + b_2
    backend.activation_forward("sigmoid", Z2, A2)            # A_2 = σ(Z_2)
    dA2, delta2 = np.empty((1, 1), dtype), np.empty((1, 1), dtype)
    E = backend.mean_squared_error(A2, y, dA2)               # ∂E/∂A_2 = 2(A_2 − y)
    backend.activation_backward("sigmoid", Z2, A2, dA2, delta2)   # δ_2 = ∂E/∂A_2 ⊙ σ'(Z_2)
    dW2, db2, dA1 = np.empty_like(W2), np.empty_like(b2), np.empty((1, 2), dtype)
    backend.dense_backward(A1, W2, delta2, dW2, db2, dA1)    # dW_2 = A_1ᵀ·δ_2;  δ_2·W_2ᵀ
    delta1 = np.empty((1, 2), dtype)
    backend.activation_backward("sigmoid", Z1, A1, dA1, delta1)   # δ_1 = (δ_2·W_2ᵀ) ⊙ σ'(Z_1)
    dW1, db1 = np.empty_like(W1), np.empty_like(b1)
    backend.dense_backward(x, W1, delta1, dW1, db1)          # dW_1 = xᵀ·δ_1
    for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
        backend.sgd_update(w, g, np.zeros_like(w), 0.5)      # w := w − γ·g
    assert E == pytest.approx(9 / 16, **tol)
    assert dA2[0, 0] == pytest.approx(-3 / 2, **tol)
    assert delta2[0, 0] == pytest.approx(-9 / 32, **tol)
    assert dA1.ravel() == pytest.approx([-9 / 16, 27 / 32], **tol)
    assert delta1.ravel() == pytest.approx([-27 / 256, 27 / 128], **tol)
    assert W1.ravel() == pytest.approx([L + 27 / 512, 1 - 27 / 256, 2, -3, 27 / 512, -1 - 27 / 256], **tol)
    assert W2.ravel() == pytest.approx([2 + 27 / 256, -3 + 9 / 128], **tol)
    assert b1 == pytest.approx([27 / 512, -27 / 256], **tol)
    assert b2 == pytest.approx([-L + 9 / 64], **tol)


def test_delta_is_the_gradient_of_the_mean_batch_loss():
    """On n samples δ = ∂(mean batch loss)/∂Z: (A − Y)/n at a softmax output with cross-entropy,
    carried down by δ_l = (δ_{l+1}·W_{l+1}ᵀ) ⊙ g'(Z_l); dW = Xᵀ·δ is then the mean of the samples'
    own gradients (each worked as above, with n = 1)."""
    from fastnn import Sequential, gradcheck
    from fastnn.layers import Dense
    from fastnn.optimizers import SGD
    from fastnn.utils import to_categorical

    rng = np.random.default_rng(28)
    x, Y = rng.normal(size=(5, 3)), to_categorical([0, 1, 2, 1, 0], 3)
    model = Sequential([Dense(4, activation="sigmoid", input_shape=(3,)), Dense(3, activation="softmax")],
                       dtype="float64", seed=0)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1))
    per_sample = [model.gradients(x[b:b + 1], Y[b:b + 1]) for b in range(5)]
    batch = model.gradients(x, Y)
    for g, *gs in zip(batch, *per_sample):
        np.testing.assert_allclose(g, np.mean(gs, axis=0), rtol=1e-12, atol=1e-15)
    assert gradcheck(model, x, Y) < 1e-6            # the mean loss is what the differences see

    W2 = model.layers[1].W.copy()                   # before the step
    model.train_on_batch(x, Y)
    hidden, output = model.layers
    np.testing.assert_allclose(output.delta, (output.A - Y) / 5, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hidden.delta, (output.delta @ W2.T) * hidden.A * (1 - hidden.A),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(output.dW, hidden.A.T @ output.delta, rtol=1e-12, atol=1e-15)

    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0])   # a sample's weight scales its row: w_b (A − Y)/n
    model.train_on_batch(x, Y, sample_weight=weights)
    np.testing.assert_allclose(output.delta, weights[:, None] * (output.A - Y) / 5, rtol=1e-12, atol=1e-15)
