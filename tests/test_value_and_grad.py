"""`value_and_grad` gives the same values and gradients on every backend for composite functions."""
import numpy as np
import pytest

from helpers import check_op
from multirnn import backends
from multirnn.backends import tape

UNITS = 3


def lstm_step(K, x, h, c, kernel, recurrent_kernel, bias):
    """One LSTM step, gates [i, f, c, o] as tf.keras; returns the new (h, c)."""
    z = K.dot(x, kernel) + K.dot(h, recurrent_kernel) + bias
    i, f, g, o = (z[:, k * UNITS:(k + 1) * UNITS] for k in range(4))
    c_new = K.sigmoid(f) * c + K.sigmoid(i) * K.tanh(g)
    return [K.sigmoid(o) * K.tanh(c_new), c_new]


def lstm_step_torch(x, h, c, kernel, recurrent_kernel, bias):
    i, f, g, o = (x @ kernel + h @ recurrent_kernel + bias).chunk(4, dim=1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return [o.sigmoid() * c_new.tanh(), c_new]


def lstm_inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(2, 4), (2, UNITS), (2, UNITS), (4, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lstm_step_gradients(dtype):
    check_op(lstm_step, lstm_inputs(dtype), dtype, torch_fn=lstm_step_torch)


def softmax_xent(K, x, kernel, bias, target):
    probs = K.softmax(K.dot(x, kernel) + bias)
    return K.mean(K.categorical_crossentropy(target, probs))


def softmax_xent_torch(x, kernel, bias, target):
    return -(target * (x @ kernel + bias).log_softmax(-1)).sum(-1).mean()


def sparse_xent(K, x, kernel, bias, labels):
    return K.mean(K.sparse_categorical_crossentropy(labels, K.dot(x, kernel) + bias, from_logits=True))


def sparse_xent_torch(x, kernel, bias, labels):
    import torch
    return torch.nn.functional.cross_entropy(x @ kernel + bias, labels)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_crossentropy_gradients(dtype):
    rng = np.random.default_rng(1)
    x, kernel, bias = (rng.standard_normal(s).astype(dtype) for s in [(5, 4), (4, 3), (3,)])
    labels = rng.integers(0, 3, (5,))
    target = np.eye(3, dtype=dtype)[labels]
    check_op(softmax_xent, [x, kernel, bias, target], dtype, torch_fn=softmax_xent_torch)
    check_op(sparse_xent, [x, kernel, bias, labels], dtype, torch_fn=sparse_xent_torch)


def test_has_aux(K):
    w = K.variable([1.0, 2.0, 3.0])

    def fn():
        out = w * w
        return K.sum(out), {"out": out, "pair": [w * 2.0, K.sum(w)]}
    (value, aux), (g,) = K.value_and_grad(fn, [w], has_aux=True)
    assert float(K.to_numpy(value)) == 14.0
    np.testing.assert_array_equal(K.to_numpy(aux["out"]), [1.0, 4.0, 9.0])
    np.testing.assert_array_equal(K.to_numpy(aux["pair"][0]), [2.0, 4.0, 6.0])
    assert float(K.to_numpy(aux["pair"][1])) == 6.0
    np.testing.assert_array_equal(K.to_numpy(g), [2.0, 4.0, 6.0])


def test_unused_and_disconnected_variables_get_zeros(K, float64):
    used, unused = K.variable([1.0, 2.0]), K.variable(np.ones((2, 3)))
    cut = K.variable([3.0, 4.0])
    def loss():
        truncated = K.cast(K.cast(used * 3.0, "int32"), "float64")
        return K.sum(used * used) + K.sum(K.stop_gradient(cut)) + K.sum(truncated)
    value, (gu, gz, gc) = K.value_and_grad(loss, [used, unused, cut])
    assert float(K.to_numpy(value)) == 5.0 + 7.0 + 9.0
    np.testing.assert_array_equal(K.to_numpy(gu), [2.0, 4.0])
    for g, shape in ((gz, (2, 3)), (gc, (2,))):
        g = K.to_numpy(g)
        assert g.shape == shape and g.dtype == np.float64 and not g.any()


def test_accumulation_and_constant_loss(K):
    v = K.variable([1.0, -1.0])
    _, (g,) = K.value_and_grad(lambda: K.sum(v * v + v) + K.sum(K.exp(v) * 0.0), [v])
    np.testing.assert_array_equal(K.to_numpy(g), [3.0, -1.0])
    _, (g,) = K.value_and_grad(lambda: K.sum(K.constant([1.0, 2.0])), [v])
    np.testing.assert_array_equal(K.to_numpy(g), [0.0, 0.0])


def test_loss_is_the_variable(K):
    s = K.variable(2.0)
    value, (g,) = K.value_and_grad(lambda: s * 1.0, [s])
    assert float(K.to_numpy(value)) == 2.0 and float(K.to_numpy(g)) == 1.0
    value, (g,) = K.value_and_grad(lambda: s, [s])
    assert float(K.to_numpy(g)) == 1.0


def test_non_scalar_loss_is_an_error(K):
    v = K.variable([1.0, 2.0])
    with pytest.raises(ValueError):
        K.value_and_grad(lambda: v * 2.0, [v])


def test_variables_keep_their_values(K):
    v = K.variable([1.0, 2.0])
    K.value_and_grad(lambda: K.sum(v * 3.0), [v])
    np.testing.assert_array_equal(K.get_value(v), [1.0, 2.0])
    K.update_sub(v, K.gradients(lambda: K.sum(v * 3.0), [v])[0])
    np.testing.assert_array_equal(K.get_value(v), [-2.0, -1.0])


def test_numpy_inference_leaves_no_tape():
    K = backends.get("numpy")
    x, w = K.variable(np.ones((2, 3))), K.variable(np.ones((3, 4)))
    out = K.softmax(K.tanh(K.dot(x, w)) + x[:, :1])
    assert type(out) is np.ndarray and not tape.tracing()
    h = K.rnn(lambda xt, s: (xt * 2.0, [s[0] + xt]), K.ones((2, 3, 4)), [K.zeros((2, 4))])[1]
    assert type(h) is np.ndarray


def test_inference_outside_records_nothing(K, backend_name):
    """Outside value_and_grad no graph is kept (NumPy: plain arrays; torch: no requires_grad)."""
    v = K.variable(np.ones((2, 3)))
    out = K.tanh(K.dot(v, K.constant(np.ones((3, 2)))))
    if backend_name in ("numpy", "cupy"):
        assert not isinstance(out, (tape.Traced, tape.Variable))
    if backend_name == "torch":
        assert not out.requires_grad
    with pytest.raises(ZeroDivisionError):
        K.value_and_grad(lambda: 1 / 0, [v])
    _, (g,) = K.value_and_grad(lambda: K.sum(v * 2.0), [v])  # the failed call left v usable
    np.testing.assert_array_equal(K.to_numpy(g), np.full((2, 3), 2.0))


def test_numpy_gradients_are_fresh_arrays_and_tape_is_closed():
    K = backends.get("numpy")
    a, b = K.variable(np.ones(3)), K.variable(np.ones(3))
    _, (ga, gb) = K.value_and_grad(lambda: K.sum(a + b), [a, b])
    ga += 1.0
    np.testing.assert_array_equal(gb, np.ones(3))
    with pytest.raises(ZeroDivisionError):
        K.value_and_grad(lambda: 1 / 0, [a])
    assert not tape.tracing() and a.traced is None
    assert type(a * 2.0) is np.ndarray


def test_two_chained_lstm_steps():
    """Two chained steps: gradients flow through h and c across time on every backend."""
    def two_steps(K, x, h, c, kernel, recurrent_kernel, bias):
        h1, c1 = lstm_step(K, x, h, c, kernel, recurrent_kernel, bias)
        return lstm_step(K, x * 0.5, h1, c1, kernel, recurrent_kernel, bias)

    def two_steps_torch(x, h, c, kernel, recurrent_kernel, bias):
        h1, c1 = lstm_step_torch(x, h, c, kernel, recurrent_kernel, bias)
        return lstm_step_torch(x * 0.5, h1, c1, kernel, recurrent_kernel, bias)
    check_op(two_steps, lstm_inputs("float64", 3), "float64", torch_fn=two_steps_torch)
