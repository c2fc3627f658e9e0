"""Every VJP on the NumPy tape against central finite differences (float64) and torch.autograd."""
import numpy as np
import pytest

from conftest import needs_torch
from helpers import _flat, assert_close, check_op
from multirnn import backends
from multirnn.backends.numpy_backend import NumpyBackend

try:
    import torch
except ImportError:
    torch = None

rng = np.random.default_rng(0)


def n(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return np.abs(rng.standard_normal(shape)) + 0.5


def away_from_half(*shape):
    """Values whose fractional part is not near .5, so rounding is smooth under a small step."""
    return np.round(rng.standard_normal(shape) * 3) + rng.uniform(-0.3, 0.3, shape)


TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 0.5, 2.0, 0.0], [0.0, -1.0, 5.0, 4.0]])
ZEROS = np.array([[0.0, 2.0, -1.5], [0.0, 0.0, 3.0], [1.5, -0.5, 2.0]])
COND = np.array([[True], [False], [True]])

# (primitive, K computation, inputs, the same in torch)
CASES = [
    ("abs", lambda K, x: K.abs(x), [n(3, 4)], lambda x: x.abs()),
    ("add", lambda K, a, b: K.add(a, b), [n(3, 1, 4), n(2, 4)], lambda a, b: a + b),
    ("subtract", lambda K, a, b: a - b, [n(3, 4), n(4)], lambda a, b: a - b),
    ("multiply", lambda K, a, b: a * b, [n(2, 3, 1), n(3, 4)], lambda a, b: a * b),
    ("divide", lambda K, a, b: a / b, [n(3, 4), pos(1, 4)], lambda a, b: a / b),
    ("negative", lambda K, x: -x, [n(3)], lambda x: -x),
    ("pow", lambda K, x, a: K.pow(x, a), [pos(3, 4), n(4)], lambda x, a: x ** a),
    ("pow", lambda K, x: K.pow(x, 3) + x ** 0.5, [pos(2, 3)], lambda x: x ** 3 + x ** 0.5),
    ("matmul", lambda K, a, b: K.matmul(a, b), [n(2, 3, 4), n(4, 5)], lambda a, b: a @ b),
    ("matmul", lambda K, a, b: K.matmul(a, b), [n(3, 4), n(2, 4, 5)], lambda a, b: a @ b),
    ("matmul", lambda K, a, b: K.matmul(a, b), [n(4), n(4, 2)], lambda a, b: a @ b),
    ("matmul", lambda K, a, b: K.matmul(a, b), [n(2, 3, 4), n(4)], lambda a, b: a @ b),
    ("square", lambda K, x: K.square(x), [n(3, 4)], lambda x: x * x),
    ("sqrt", lambda K, x: K.sqrt(x), [pos(3, 4)], lambda x: x.sqrt()),
    ("exp", lambda K, x: K.exp(x), [n(3, 4)], lambda x: x.exp()),
    ("log", lambda K, x: K.log(x), [pos(3, 4)], lambda x: x.log()),
    ("cos", lambda K, x: K.cos(x), [n(3, 4)], lambda x: x.cos()),
    ("sin", lambda K, x: K.sin(x), [n(3, 4)], lambda x: x.sin()),
    ("tanh", lambda K, x: K.tanh(x), [n(3, 4)], lambda x: x.tanh()),
    ("sigmoid", lambda K, x: K.sigmoid(x), [n(3, 4) * 3], lambda x: x.sigmoid()),
    ("softplus", lambda K, x: K.softplus(x), [n(3, 4) * 3], lambda x: torch.nn.functional.softplus(x)),
    ("elu", lambda K, x: K.elu(x, 0.7), [n(3, 4)], lambda x: torch.nn.functional.elu(x, 0.7)),
    ("relu", lambda K, x: K.relu(x), [n(3, 4)], lambda x: x.relu()),
    ("relu", lambda K, x: K.relu(x, alpha=0.1, max_value=1.0, threshold=0.2), [n(4, 4)],
     lambda x: torch.where(x > 0.2, x, 0.1 * (x - 0.2)).clamp(max=1.0)),
    ("sign", lambda K, x: K.sign(x) * x, [n(3, 4)], lambda x: x.sign() * x),
    ("round", lambda K, x: K.round(x) * x, [away_from_half(3, 4)], lambda x: x.round() * x),
    ("softmax", lambda K, x: K.softmax(x), [n(3, 4)], lambda x: x.softmax(-1)),
    ("softmax", lambda K, x: K.softmax(x, axis=0), [n(3, 4)], lambda x: x.softmax(0)),
    ("maximum", lambda K, a, b: K.maximum(a, b), [n(3, 4), n(4)], lambda a, b: torch.maximum(a, b)),
    ("minimum", lambda K, a, b: K.minimum(a, b), [n(3, 1), n(3, 4)], lambda a, b: torch.minimum(a, b)),
    ("clip", lambda K, x: K.clip(x, -0.5, 0.7), [n(4, 5)], lambda x: x.clamp(-0.5, 0.7)),
    ("where", lambda K, c, a, b: K.where(c, a, b), [COND, n(3, 4), n(4)], lambda c, a, b: torch.where(c, a, b)),
    ("cast", lambda K, x: K.cast(x, "float64") + K.cast(K.cast(x * 3, "int64"), "float64"), [n(3, 4)],
     lambda x: x.double() + (x * 3).long().double()),
    ("sum", lambda K, x: K.sum(x), [n(2, 3, 4)], lambda x: x.sum()),
    ("sum", lambda K, x: K.sum(x, axis=(0, 2), keepdims=True), [n(2, 3, 4)], lambda x: x.sum((0, 2), keepdim=True)),
    ("sum", lambda K, x: K.sum(x, axis=-1), [n(2, 3, 4)], lambda x: x.sum(-1)),
    ("max", lambda K, x: K.max(x, axis=1), [TIES], lambda x: x.amax(1)),
    ("max", lambda K, x: K.max(x, axis=0, keepdims=True), [n(3, 4)], lambda x: x.amax(0, keepdim=True)),
    ("max", lambda K, x: K.max(x), [TIES], lambda x: x.amax()),
    ("min", lambda K, x: K.min(-x, axis=-1), [TIES], lambda x: (-x).amin(-1)),
    ("min", lambda K, x: K.min(x, axis=(0, 1)), [n(2, 3, 2)], lambda x: x.amin((0, 1))),
    ("prod", lambda K, x: K.prod(x, axis=1), [ZEROS], lambda x: x.prod(1)),
    ("prod", lambda K, x: K.prod(x), [n(2, 3)], lambda x: x.prod()),
    ("prod", lambda K, x: K.prod(x, axis=(0, 2), keepdims=True), [n(2, 3, 2)],
     lambda x: x.prod(2, keepdim=True).prod(0, keepdim=True)),
    ("cumsum", lambda K, x: K.cumsum(x, axis=1), [n(2, 4, 3)], lambda x: x.cumsum(1)),
    ("reshape", lambda K, x: K.reshape(x, (4, -1)), [n(2, 3, 4)], lambda x: x.reshape(4, -1)),
    ("permute_dimensions", lambda K, x: K.permute_dimensions(x, (1, 2, 0)), [n(2, 3, 4)], lambda x: x.permute(1, 2, 0)),
    ("expand_dims", lambda K, x: K.expand_dims(x, 1), [n(2, 3)], lambda x: x.unsqueeze(1)),
    ("squeeze", lambda K, x: K.squeeze(x, -1), [n(2, 3, 1)], lambda x: x.squeeze(-1)),
    ("reverse", lambda K, x: K.reverse(x, (0, 2)), [n(2, 3, 4)], lambda x: x.flip((0, 2))),
    ("tile", lambda K, x: K.tile(x, (2, 1, 3)), [n(3, 2)], lambda x: x.tile((2, 1, 3))),
    ("repeat_elements", lambda K, x: K.repeat_elements(x, 3, axis=1), [n(2, 3, 2)],
     lambda x: x.repeat_interleave(3, dim=1)),
    ("concatenate", lambda K, a, b, c: K.concatenate([a, b, c], axis=1), [n(2, 1, 3), n(2, 3, 3), n(2, 2, 3)],
     lambda a, b, c: torch.cat([a, b, c], 1)),
    ("concatenate", lambda K, a, b: K.concatenate([a, K.exp(b), a]), [n(2, 3), n(2, 2)],
     lambda a, b: torch.cat([a, b.exp(), a], -1)),
    ("stack", lambda K, a, b: K.stack([a, b, a * b], axis=1), [n(2, 3), n(2, 3)],
     lambda a, b: torch.stack([a, b, a * b], 1)),
    ("unstack", lambda K, x: [p * (i + 1) for i, p in enumerate(K.unstack(x, axis=1)) if i != 1], [n(2, 3, 2)],
     lambda x: [p * (i + 1) for i, p in enumerate(x.unbind(1)) if i != 1]),
    ("unstack", lambda K, x: K.unstack(x, axis=-1)[0] * K.unstack(x, axis=0)[1][:, 0], [n(2, 3, 2)],
     lambda x: x.unbind(-1)[0] * x.unbind(0)[1][:, 0]),
    ("getitem", lambda K, x: x[1:, ::2], [n(3, 4)], lambda x: x[1:, ::2]),
    ("getitem", lambda K, x: K.concatenate([x[0], x[None, 0, 1:][0], x[..., 1]], 0), [n(3, 4)],
     lambda x: torch.cat([x[0], x[None, 0, 1:][0], x[..., 1]], 0)),
    ("getitem", lambda K, x: x[np.array([0, 2, 0])], [n(3, 4)], lambda x: x[[0, 2, 0]]),
    ("getitem", lambda K, x: x[:, np.array([1, 1, 3])], [n(3, 4)], lambda x: x[:, [1, 1, 3]]),
    ("getitem", lambda K, x: x[np.array([[True, False, True, False]] * 3)], [n(3, 4)],
     lambda x: x[torch.tensor([[True, False, True, False]] * 3)]),
    ("gather", lambda K, x, i: K.gather(x, i), [n(4, 3), np.array([[1, 3], [1, 1]])], lambda x, i: x[i]),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _weights(outputs):
    w = np.random.default_rng(7)
    return [w.standard_normal(np.shape(o)) for o in outputs]


def _loss(fn, xs, weights):
    K = backends.get("numpy")
    return sum(float(np.sum(np.asarray(o) * w)) for o, w in zip(_flat(fn(K, *xs)), weights))


def numeric_grads(fn, inputs, weights, eps=1e-5):
    """Central differences of sum(fn(...) * weights) for every float input."""
    grads = []
    for i, x in enumerate(inputs):
        if x.dtype.kind != "f":
            continue
        g = np.zeros_like(x)
        for j in np.ndindex(x.shape):
            up, down = [a.copy() for a in inputs], [a.copy() for a in inputs]
            up[i][j] += eps
            down[i][j] -= eps
            g[j] = (_loss(fn, up, weights) - _loss(fn, down, weights)) / (2 * eps)
        grads.append(g)
    return grads


def tape_grads(fn, inputs, weights):
    K = backends.get("numpy")
    variables = [K.variable(x, "float64") for x in inputs if x.dtype.kind == "f"]

    def loss():
        it = iter(variables)
        outs = _flat(fn(K, *[next(it) if x.dtype.kind == "f" else x for x in inputs]))
        return sum(K.sum(o * w) for o, w in zip(outs, weights))
    return K.value_and_grad(loss, variables)[1]


def test_every_primitive_is_tested():
    with_vjp = {name for name in dir(NumpyBackend) if hasattr(getattr(NumpyBackend, name), "vjps")}
    untested = (with_vjp | {"unstack"}) - {name for name, *_ in CASES}
    assert not untested, f"primitives with a VJP but no test here: {sorted(untested)}"


@pytest.mark.parametrize("name, fn, inputs, torch_fn", CASES, ids=IDS)
def test_vjp_matches_finite_differences(name, fn, inputs, torch_fn):
    K = backends.get("numpy")
    weights = _weights(_flat(fn(K, *inputs)))
    for i, (g, expected) in enumerate(zip(tape_grads(fn, inputs, weights), numeric_grads(fn, inputs, weights))):
        assert_close(g, expected, "float64", f"{name}: gradient of input {i} vs finite differences", tol=1e-7)


@needs_torch
@pytest.mark.parametrize("name, fn, inputs, torch_fn", CASES, ids=IDS)
def test_vjp_matches_torch(name, fn, inputs, torch_fn):
    fn.__name__ = name
    check_op(fn, inputs, "float64", torch_fn=torch_fn, backend_names=["numpy"])


def test_max_tie_splits_evenly():
    """Ties share the gradient equally (as tf.reduce_max and torch.amax), for any number of ties."""
    x = np.array([[2.0, 2.0, 2.0, 1.0], [0.0, 3.0, 1.0, 3.0]])
    (g,) = tape_grads(lambda K, x: K.max(x, axis=1), [x], [np.ones(2)])
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3, 1 / 3, 0], [0, 0.5, 0, 0.5]])


def test_prod_with_zeros_is_finite():
    (g,) = tape_grads(lambda K, x: K.prod(x, axis=1), [ZEROS], [np.ones(3)])
    np.testing.assert_array_equal(g, [[-3.0, 0, 0], [0, 0, 0], [-1.0, 3.0, -0.75]])


def test_condition_on_tape_carries_no_gradient():
    K = backends.get("numpy")
    v = K.variable([1.0, 0.0, -2.0], "float64")
    _, (g,) = K.value_and_grad(lambda: K.sum(K.where(K.cast(v, "bool"), v * 3.0, 1.0)), [v])
    np.testing.assert_array_equal(g, [3.0, 0.0, 3.0])
