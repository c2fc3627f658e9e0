"""What only the torch backend has to get right: autograd switched on for exactly the variables
of `value_and_grad`, in-place variable updates, the device choice, its error messages."""
import numpy as np
import pytest

from multirnn import backends
from conftest import needs_torch

pytestmark = needs_torch


@pytest.fixture
def K():
    with backends.use("torch") as k:
        yield k


@pytest.fixture
def torch():
    import torch
    return torch


def test_variables_record_no_graph_during_inference(K, torch):
    w = K.variable(np.ones((3, 2)))
    x = K.constant(np.arange(6.0).reshape(2, 3))
    y = K.sum(K.tanh(K.dot(x, w)) * 2.0 + w[0])
    assert K.is_variable(w) and not K.is_variable(x)
    assert not w.requires_grad
    assert not y.requires_grad and y.grad_fn is None


def test_value_and_grad_turns_gradients_on_only_inside(K, torch):
    w, v = K.variable(np.array([1.0, 2.0])), K.variable(np.array([3.0]))
    seen = []

    def loss():
        seen.append((w.requires_grad, v.requires_grad, torch.is_grad_enabled()))
        return K.sum(K.square(w))

    with torch.no_grad():
        value, (gw, gv) = K.value_and_grad(loss, [w, v])
    assert seen == [(True, True, True)]
    assert not w.requires_grad and not v.requires_grad
    assert float(value) == 5.0 and not value.requires_grad
    np.testing.assert_array_equal(K.to_numpy(gw), [2.0, 4.0])


def test_value_and_grad_restores_requires_grad_when_fn_raises(K):
    w = K.variable(np.ones(3))

    def broken():
        K.sum(w * 2.0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        K.value_and_grad(broken, [w])
    assert not w.requires_grad
    _, (g,) = K.value_and_grad(lambda: K.sum(w * 3.0), [w])
    np.testing.assert_array_equal(K.to_numpy(g), [3.0, 3.0, 3.0])


def test_unused_variable_gets_a_zero_gradient(K):
    w, unused = K.variable(np.ones(3)), K.variable(np.ones((2, 2)), dtype="float64")
    _, (gw, gu) = K.value_and_grad(lambda: K.sum(w), [w, unused])
    assert K.shape(gu) == (2, 2) and K.dtype(gu) == "float64"
    assert not np.any(K.to_numpy(gu))
    _, (g,) = K.value_and_grad(lambda: K.constant(1.0), [w])
    assert not np.any(K.to_numpy(g))


def test_value_and_grad_with_aux_detaches_it(K):
    w = K.variable(np.array([2.0]))
    (loss, aux), (g,) = K.value_and_grad(lambda: (K.sum(w * w), {"twice": [w * 2.0]}), [w], has_aux=True)
    assert float(loss) == 4.0 and not aux["twice"][0].requires_grad
    np.testing.assert_array_equal(K.to_numpy(g), [4.0])


def test_non_scalar_loss_is_a_clear_error(K):
    w = K.variable(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"fn must return a scalar, got shape \(2, 3\)"):
        K.value_and_grad(lambda: w * 2.0, [w])
    assert not w.requires_grad


def test_gradients_need_variables_and_no_repeats(K):
    w = K.variable(np.ones(2))
    with pytest.raises(TypeError, match="expected K.variable objects, got Tensor"):
        K.value_and_grad(lambda: K.sum(w), [K.constant(np.ones(2))])
    with pytest.raises(ValueError, match="appears twice"):
        K.value_and_grad(lambda: K.sum(w), [w, w])
    assert not w.requires_grad


def test_set_value_updates_in_place_and_checks_the_shape(K):
    w = K.variable(np.zeros((2, 3)), name="dense/kernel")
    before = K.to_numpy(w)
    same = w
    K.set_value(w, np.ones((2, 3)))
    assert same is w and K.to_numpy(w).sum() == 6.0
    assert before.sum() == 0.0, "to_numpy must return a copy, not a view of the variable"
    K.update_add(w, 1.0)
    K.update_sub(w, K.constant(np.full((2, 3), 0.5)))
    np.testing.assert_array_equal(K.to_numpy(w), np.full((2, 3), 1.5))
    with pytest.raises(ValueError, match=r"set_value: variable dense/kernel has shape \(2, 3\), "
                                         r"got a value of shape \(3, 2\)"):
        K.set_value(w, np.ones((3, 2)))


def test_constant_copies_and_leaves_the_graph(K):
    w = K.variable(np.ones(2))
    c = K.constant(w)
    K.set_value(w, np.zeros(2))
    np.testing.assert_array_equal(K.to_numpy(c), [1.0, 1.0])
    assert not K.is_variable(c) and K.dtype(K.constant([1, 2])) == K.floatx()


def test_device_comes_from_the_environment(monkeypatch, torch):
    from multirnn.backends import torch_backend
    monkeypatch.setenv("MULTIRNN_TORCH_DEVICE", "cpu")
    k = torch_backend.create()
    assert k.device == torch.device("cpu")
    assert k.zeros((2,)).device.type == "cpu" and k.variable(np.ones(2)).device.type == "cpu"
    monkeypatch.setenv("MULTIRNN_TORCH_DEVICE", "no-such-device")
    with pytest.raises(ValueError, match="MULTIRNN_TORCH_DEVICE"):
        torch_backend.create()
    monkeypatch.delenv("MULTIRNN_TORCH_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_backend.create().device.type == expected


def test_cuda_device_without_cuda_is_a_clear_error(monkeypatch, torch):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from multirnn.backends import torch_backend
    monkeypatch.setenv("MULTIRNN_TORCH_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no usable CUDA device"):
        torch_backend.create()


def test_gradient_conventions_at_ties(K):
    """The reference's choices where torch's own kernels choose otherwise."""
    a, b = K.variable(np.array([1.0, 2.0, 0.0])), K.variable(np.array([1.0, 1.0, 1.0]))
    _, (ga, gb) = K.value_and_grad(lambda: K.sum(K.maximum(a, b)), [a, b])
    np.testing.assert_array_equal(K.to_numpy(ga), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(K.to_numpy(gb), [0.0, 0.0, 1.0])
    _, (g,) = K.value_and_grad(lambda: K.sum(K.relu(a, max_value=1.0)), [a])
    np.testing.assert_array_equal(K.to_numpy(g), [0.0, 0.0, 0.0])
    x = K.variable(np.array([0.0, 40.0]))
    _, (g,) = K.value_and_grad(lambda: K.sum(K.softplus(x)), [x])
    np.testing.assert_allclose(K.to_numpy(g), [0.5, 1.0], rtol=0, atol=1e-15)
