"""What only the TensorFlow backend has: tf.Variable, GradientTape gradients, in-place updates."""
import numpy as np
import pytest

from conftest import needs_tensorflow
from multirnn import backends
from multirnn.backends import frameworks

pytestmark = needs_tensorflow


@pytest.fixture
def tf():
    return frameworks.require("tensorflow")


@pytest.fixture
def K(float64):
    with backends.use("tensorflow") as k:
        yield k


def test_variables_are_tf_variables(K, tf):
    w = K.variable(np.ones((2, 3)), name="kernel")
    assert isinstance(w, tf.Variable) and K.is_variable(w)
    assert K.dtype(w) == "float64" and K.int_shape(w) == (2, 3)
    c = K.constant(np.ones(3))
    assert isinstance(c, tf.Tensor) and K.is_tensor(c) and not K.is_variable(c)
    assert K.dtype(K.variable([1, 2], dtype="float32")) == "float32"


def test_variable_arithmetic_is_native(K, tf):
    w = K.variable(np.arange(6.0).reshape(2, 3))
    x = K.constant(np.ones((4, 2)))
    for out in (w * 2.0, x @ w, 1.0 - w, w[0], -w):
        assert isinstance(out, tf.Tensor) and K.dtype(out) == "float64"
    np.testing.assert_array_equal(K.to_numpy(x @ w), np.ones((4, 2)) @ np.arange(6.0).reshape(2, 3))


def test_unused_variable_gets_zero_gradient(K, tf):
    used, unused = K.variable([1.0, 2.0, 3.0]), K.variable(np.ones((2, 2)))
    value, (g_used, g_unused) = K.value_and_grad(lambda: K.sum(used * used), [used, unused])
    assert float(value) == 14.0
    np.testing.assert_array_equal(K.to_numpy(g_used), [2.0, 4.0, 6.0])
    assert isinstance(g_unused, tf.Tensor) and K.dtype(g_unused) == "float64"
    np.testing.assert_array_equal(K.to_numpy(g_unused), np.zeros((2, 2)))


def test_gather_gradient_is_dense_and_accumulates(K, tf):
    table = K.variable(np.ones((4, 2)))
    _, (grad,) = K.value_and_grad(lambda: K.sum(K.gather(table, np.array([0, 2, 2]))), [table])
    assert isinstance(grad, tf.Tensor)
    np.testing.assert_array_equal(K.to_numpy(grad), [[1, 1], [0, 0], [2, 2], [0, 0]])


def test_has_aux_returns_loss_and_aux(K):
    w = K.variable([1.0, 2.0])
    (loss, aux), (grad,) = K.value_and_grad(lambda: (K.sum(w), {"double": w * 2}), [w], has_aux=True)
    assert float(loss) == 3.0
    np.testing.assert_array_equal(K.to_numpy(aux["double"]), [2.0, 4.0])
    np.testing.assert_array_equal(K.to_numpy(grad), [1.0, 1.0])


def test_non_scalar_loss_is_a_clear_error(K):
    w = K.variable([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"value_and_grad: fn must return a scalar, got shape \(3,\)"):
        K.value_and_grad(lambda: w * 2.0, [w])


def test_non_variable_is_a_clear_error(K):
    with pytest.raises(TypeError, match="value_and_grad: expected K.variable objects, got EagerTensor"):
        K.value_and_grad(lambda: K.sum(K.constant([1.0])), [K.constant([1.0])])


def test_set_value_shape_error_matches_numpy(K):
    w = K.variable(np.zeros((2, 3)), name="kernel")
    message = r"set_value: variable kernel has shape \(2, 3\), got a value of shape \(3, 2\)"
    with pytest.raises(ValueError, match=message):
        K.set_value(w, np.zeros((3, 2)))
    with backends.use("numpy") as N:
        with pytest.raises(ValueError, match=message):
            N.set_value(N.variable(np.zeros((2, 3)), name="kernel"), np.zeros((3, 2)))


def test_updates_assign_in_place(K):
    w = K.variable([1.0, 2.0, 3.0], dtype="float32")
    assert K.update_add(w, np.ones(3)) is w
    assert K.update_sub(w, K.constant([0.5, 0.5, 0.5])) is w
    np.testing.assert_array_equal(K.to_numpy(w), [1.5, 2.5, 3.5])
    assert K.update(w, [0, 0, 0]) is w and K.dtype(w) == "float32"
    K.set_value(w, np.array([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(K.get_value(w), [4.0, 5.0, 6.0])


def test_gradients_at_ties_follow_numpy(K):
    """TF's own rules differ here: softplus'(0) is 1/2, a capped relu has slope 0 at its cap."""
    values = np.array([0.0, 0.5, 1.0, -1.0])
    x = K.variable(values)
    _, (grad,) = K.value_and_grad(lambda: K.sum(K.softplus(x)), [x])
    np.testing.assert_allclose(K.to_numpy(grad), 1 / (1 + np.exp(-values)), rtol=1e-15)
    _, (grad,) = K.value_and_grad(lambda: K.sum(K.relu(x, max_value=1.0)), [x])
    np.testing.assert_array_equal(K.to_numpy(grad), [0.0, 1.0, 0.0, 0.0])


def test_python_scalars_keep_float64_precision(K):
    zero = K.zeros((1,))
    assert K.to_numpy(K.add(zero, 1e-7))[0] == 1e-7
    assert K.to_numpy(K.clip(zero, 1e-7, 1.0))[0] == 1e-7
    assert K.dtype(K.multiply(K.constant([1, 2], "int64"), 0.5)) == "float64"
