"""The CuPy backend: its own code paths on a NumPy-backed stand-in for CuPy, then real CuPy on a GPU.

The stand-in keeps CuPy's one rule that matters here: device arrays and host arrays do not mix,
so a missing host <-> device transfer fails loudly instead of passing by accident.
"""
import sys
import types

import numpy as np
import pytest

from multirnn import backends
from multirnn.backends import cupy_backend, frameworks
from multirnn.backends.cupy_backend import CupyBackend


# ---- a NumPy-backed stand-in for the cupy module

class DeviceArray(np.ndarray):
    """A NumPy array that plays a CuPy array: operations with host arrays raise TypeError."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            kwargs["out"] = tuple(_host_view(o) for o in out)
        result = getattr(ufunc, method)(*[_host_view(a) for a in inputs], **kwargs)
        return (out[0] if len(out) == 1 else out) if out is not None else _device(result)

    def __array_function__(self, func, types, args, kwargs):
        return _device(func(*_host_views(args), **_host_views(kwargs)))


def _host_view(a):
    """The NumPy view of a device array; a host array here is an error, as in CuPy."""
    if isinstance(a, DeviceArray):
        return a.view(np.ndarray)
    if isinstance(a, np.ndarray):
        raise TypeError("Unsupported type <class 'numpy.ndarray'>: a host array met a device array")
    return a


def _host_views(tree):
    if isinstance(tree, (list, tuple)):
        return type(tree)(_host_views(t) for t in tree)
    if isinstance(tree, dict):
        return {k: _host_views(v) for k, v in tree.items()}
    return _host_view(tree)


def _device(result):
    if isinstance(result, (list, tuple)):
        return type(result)(_device(r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)):
        return np.asarray(result).view(DeviceArray)
    return result


class _Ufunc:
    def __init__(self, ufunc):
        self.ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _device(self.ufunc(*_host_views(args), **kwargs))

    def at(self, a, indices, b=None):
        index = indices.view(np.ndarray) if isinstance(indices, DeviceArray) else indices
        self.ufunc.at(_host_view(a), index, _host_view(b))


class FakeCupy(types.ModuleType):
    """`cupy` backed by NumPy, counting host -> device and device -> host copies."""
    ndarray = DeviceArray

    def __init__(self, devices: int = 1):
        super().__init__("cupy")
        self.to_device = self.to_host = 0
        runtime = types.SimpleNamespace(getDeviceCount=lambda: devices)
        self.cuda = types.SimpleNamespace(runtime=runtime)

    def __getattr__(self, name):
        target = getattr(np, name)
        if isinstance(target, np.ufunc):
            return _Ufunc(target)
        if isinstance(target, type) or not callable(target):
            return target
        return lambda *args, **kwargs: _device(target(*_host_views(args), **_host_views(kwargs)))

    def asarray(self, a, dtype=None):
        if isinstance(a, DeviceArray):
            return a if dtype is None else a.astype(dtype, copy=False)
        self.to_device += 1
        return np.array(a, dtype=dtype).view(DeviceArray)

    def array(self, a, dtype=None, copy=True):
        out = self.asarray(a, dtype)
        return out.copy() if copy and out is a else out

    def asnumpy(self, a):
        if isinstance(a, DeviceArray):
            self.to_host += 1
            return np.array(a.view(np.ndarray))
        return np.asarray(a)


@pytest.fixture
def fake():
    return FakeCupy()


@pytest.fixture
def KC(fake):
    return CupyBackend(fake)


@pytest.fixture
def KN():
    return backends.get("numpy")


@pytest.fixture
def fresh_cache(monkeypatch):
    """A backend cache without cupy, restored afterwards."""
    monkeypatch.setattr(backends, "_loaded", {k: v for k, v in backends._loaded.items() if k != "cupy"})


# ---- shared computations, written on K

def _dense_loss(K, x, W, b, idx):
    h = K.tanh(K.dot(x, W) + b)
    p = K.softmax(h * 2.0)
    picked = K.gather(h, idx) + h[idx]
    return K.sum(K.square(h)) + K.mean(K.log(p + 1e-3)) + K.sum(picked * K.sigmoid(picked))


def _rnn_loss(K, x, W, U, mask, go_backwards):
    def step(x_t, states):
        h = K.tanh(K.dot(x_t, W) + K.dot(states[0], U))
        return h, [h]
    h0 = K.zeros((K.int_shape(x)[0], K.int_shape(U)[0]), K.dtype(x))
    last, outputs, states = K.rnn(step, x, [h0], go_backwards=go_backwards, mask=mask)
    return K.sum(outputs * outputs) + K.sum(last) + K.mean(states[0])


def _inputs(dtype):
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(5, 3)).astype(dtype), "W": rng.normal(size=(3, 4)).astype(dtype),
            "b": rng.normal(size=(4,)).astype(dtype), "seq": rng.normal(size=(2, 6, 3)).astype(dtype),
            "U": rng.normal(size=(4, 4)).astype(dtype) * 0.5,
            "mask": np.array([[1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 0]], bool)}


def _dense_value_and_grad(K, data):
    x, W, b = (K.variable(data[k], dtype=data[k].dtype) for k in ("x", "W", "b"))
    idx = K.constant([0, 3, 3, 1], dtype="int64")
    value, grads = K.value_and_grad(lambda: _dense_loss(K, x, W, b, idx), [x, W, b])
    return [K.to_numpy(value)] + [K.to_numpy(g) for g in grads]


def _rnn_value_and_grad(K, data, go_backwards):
    x, W, U = (K.variable(data[k], dtype=data[k].dtype) for k in ("seq", "W", "U"))
    mask = K.constant(data["mask"], dtype="bool")
    value, grads = K.value_and_grad(lambda: _rnn_loss(K, x, W, U, mask, go_backwards), [x, W, U])
    return [K.to_numpy(value)] + [K.to_numpy(g) for g in grads]


# ---- the stand-in itself

def test_stand_in_refuses_host_arrays(fake):
    device = fake.asarray(np.ones(3))
    with pytest.raises(TypeError):
        device + np.ones(3)
    with pytest.raises(TypeError):
        fake.exp(np.ones(3))
    assert type(device + 1.0) is DeviceArray and type(fake.exp(device).sum()) is DeviceArray


# ---- the backend's own code on the stand-in

def test_constant_and_variable_move_host_data_to_the_device(KC, fake):
    for value in (np.arange(6.0).reshape(2, 3), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], 2.5, np.float64(2.5)):
        before = fake.to_device
        for made in (KC.constant(value), KC.variable(value).value):
            assert type(made) is DeviceArray and made.dtype == np.float32
        assert fake.to_device == before + 2
    assert KC.constant(1.0, shape=(2, 2)).shape == (2, 2)


def test_device_values_stay_on_the_device(KC, fake):
    device = fake.asarray(np.ones((2, 2), np.float32))
    before = fake.to_device
    var = KC.variable(device)
    assert KC.constant(device) is device and var.value is not device
    KC.set_value(var, device * 3.0)
    assert fake.to_device == before
    np.testing.assert_array_equal(KC.to_numpy(var), np.full((2, 2), 3.0, np.float32))


def test_set_value_and_to_numpy(KC, fake):
    var = KC.variable(np.zeros((2, 3)), dtype="float64")
    KC.set_value(var, [[1, 2, 3], [4, 5, 6]])
    assert type(var.value) is DeviceArray and var.value.dtype == np.float64
    before = fake.to_host
    out = KC.to_numpy(var)
    assert type(out) is np.ndarray and fake.to_host == before + 1
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(KC.get_value(KC.exp(var)), np.exp(out))
    with pytest.raises(ValueError, match="shape"):
        KC.set_value(var, np.zeros(4))


def test_is_tensor_and_name(KC, fake):
    assert KC.backend() == "cupy" and KC.xp is fake
    assert KC.is_tensor(KC.constant([1.0])) and KC.is_tensor(KC.variable([1.0]))
    assert not KC.is_tensor(np.ones(2)) and not KC.is_tensor([1.0])


def test_one_hot_and_gather_take_host_indices(KC, KN):
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(KC.to_numpy(KC.one_hot(labels, 3)), KN.one_hot(labels, 3))
    np.testing.assert_array_equal(KC.to_numpy(KC.one_hot([1, 0], 3)), KN.one_hot(np.array([1, 0]), 3))
    ref = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(KC.to_numpy(KC.gather(KC.constant(ref), labels)), KN.gather(KN.constant(ref), labels))


def test_sparse_categorical_crossentropy_with_host_labels(KC, KN):
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], np.float32)
    labels = np.array([1, 2])
    got = KC.sparse_categorical_crossentropy(labels, KC.constant(probs))
    np.testing.assert_array_equal(KC.to_numpy(got), KN.sparse_categorical_crossentropy(labels, KN.constant(probs)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_value_and_grad_match_numpy(KC, KN, dtype):
    data = _inputs(dtype)
    for got, want in zip(_dense_value_and_grad(KC, data), _dense_value_and_grad(KN, data)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_matches_numpy(KC, KN, go_backwards):
    data = _inputs("float64")
    for got, want in zip(_rnn_value_and_grad(KC, data, go_backwards), _rnn_value_and_grad(KN, data, go_backwards)):
        np.testing.assert_array_equal(got, want)


def test_random_draws_and_dropout_match_numpy(KC, KN):
    for draw in (lambda K: K.random_uniform((3, 4), seed=1), lambda K: K.truncated_normal((5,), seed=2),
                 lambda K: K.dropout(K.ones((4, 4)), 0.5, seed=3)):
        got = draw(KC)
        assert type(got) is DeviceArray
        np.testing.assert_array_equal(KC.to_numpy(got), draw(KN))


def test_function_returns_host_arrays(KC):
    f = KC.function(lambda a, b: [KC.sum(a * b), a + b])
    total, both = f([np.ones(3, np.float32), np.full(3, 2.0, np.float32)])
    assert type(total) is np.ndarray and total == 6.0
    np.testing.assert_array_equal(both, [3.0, 3.0, 3.0])


# ---- create(): errors and success, as selection sees them

def test_create_without_cupy_names_the_extra(monkeypatch, fresh_cache):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError) as info:
        backends.get("cupy")
    message = str(info.value)
    assert "multirnn[cupy]" in message and "\n" not in message and info.value.__cause__ is None


@pytest.mark.parametrize("count", [lambda: 0, lambda: 1 / 0])
def test_create_without_a_device_is_one_clear_line(monkeypatch, fresh_cache, count):
    fake = FakeCupy()
    fake.cuda.runtime.getDeviceCount = count
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(frameworks, "HAS_CUPY", True)
    with pytest.raises(RuntimeError) as info:
        backends.get("cupy")
    message = str(info.value)
    assert message.startswith("The cupy backend needs a CUDA device, but CuPy found none (")
    assert "\n" not in message and info.value.__cause__ is None and info.value.__context__ is None
    assert "cupy" not in backends.available()


def test_create_with_a_device(monkeypatch, fresh_cache, fake):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(frameworks, "HAS_CUPY", True)
    K = cupy_backend.create()
    assert isinstance(K, CupyBackend) and K.xp is fake
    with backends.use("cupy") as active:
        from multirnn import backend
        assert backend.backend() == "cupy" and active.name == "cupy"
        assert type(backend.zeros((2,))) is DeviceArray
    assert "cupy" in backends.available()


# ---- real CuPy on a CUDA device

needs_cuda = pytest.mark.skipif(frameworks.cuda_device_count() == 0, reason="no CUDA device for CuPy")


@pytest.fixture
def KG():
    return backends.get("cupy")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_gpu_value_and_grad_match_numpy(KG, KN, dtype, tol):
    data = _inputs(dtype)
    for got, want in zip(_dense_value_and_grad(KG, data), _dense_value_and_grad(KN, data)):
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gpu_rnn_matches_numpy(KG, KN, go_backwards):
    data = _inputs("float64")
    for got, want in zip(_rnn_value_and_grad(KG, data, go_backwards), _rnn_value_and_grad(KN, data, go_backwards)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
@needs_cuda
def test_gpu_transfers_and_random_bits(KG, KN):
    import cupy
    x = KG.constant([[1.0, 2.0]])
    assert isinstance(x, cupy.ndarray) and KG.is_tensor(x) and not KG.is_tensor(np.ones(2))
    assert type(KG.to_numpy(x)) is np.ndarray
    for dtype in ("float32", "float64"):
        np.testing.assert_array_equal(KG.to_numpy(KG.random_normal((7, 3), dtype=dtype, seed=4)),
                                      KN.random_normal((7, 3), dtype=dtype, seed=4))
        np.testing.assert_array_equal(KG.to_numpy(KG.dropout_mask((7, 3), 0.25, dtype=dtype, seed=4)),
                                      KN.dropout_mask((7, 3), 0.25, dtype=dtype, seed=4))
    labels = np.array([2, 0, 1])
    np.testing.assert_array_equal(KG.to_numpy(KG.one_hot(labels, 3)), KN.one_hot(labels, 3))
