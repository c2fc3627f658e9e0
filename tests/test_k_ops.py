"""Every K function of the surface equals NumPy on every installed backend, values and gradients."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from conftest import BACKENDS, needs_tf_keras
from helpers import check_op
from multirnn import backends
from multirnn.backends import config, host_random
from multirnn.backends.numpy_backend import NumpyBackend

few = settings(max_examples=5, deadline=None, database=None, derandomize=True)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
dtypes = st.sampled_from(["float64", "float32"])


def data(shape, seed, dtype="float64", kind="normal"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if kind == "positive":
        x = np.abs(x) + 0.5
    elif kind == "unit":
        x = rng.uniform(0.05, 0.95, shape)
    return x.astype(dtype)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "abs": (np.abs, "normal"), "exp": (np.exp, "normal"), "log": (np.log, "positive"),
    "sqrt": (np.sqrt, "positive"), "square": (np.square, "normal"), "sign": (np.sign, "normal"),
    "round": (np.round, "normal"), "cos": (np.cos, "normal"), "sin": (np.sin, "normal"),
    "tanh": (np.tanh, "normal"), "sigmoid": (_sigmoid, "normal"), "negative": (np.negative, "normal"),
    "relu": (lambda x: np.maximum(x, 0), "normal"), "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), "normal"),
    "softplus": (lambda x: np.log1p(np.exp(x)), "normal"), "softsign": (lambda x: x / (1 + np.abs(x)), "normal"),
    "hard_sigmoid": (lambda x: np.clip(0.2 * x + 0.5, 0, 1), "normal"), "linear": (lambda x: x, "normal"),
    "flatten": (np.ravel, "normal"), "transpose": (np.transpose, "normal"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=st.integers(0, 99), dtype=dtypes)
@few
def test_unary(name, shape, seed, dtype):
    fn, kind = UNARY[name]
    x = data(shape, seed, dtype, kind)
    check_op(name, [x], dtype, expected=fn(x.astype(np.float64)))


@pytest.mark.parametrize("kwargs, fn", [
    ({"alpha": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x)),
    ({"max_value": 0.5}, lambda x: np.clip(x, 0, 0.5)),
    ({"threshold": 0.3}, lambda x: np.where(x > 0.3, x, 0)),
    ({"alpha": 0.2, "max_value": 1.0, "threshold": -0.5},
     lambda x: np.where(x > -0.5, np.minimum(x, 1.0), 0.2 * (x + 0.5))),
])
def test_relu_options(kwargs, fn):
    x = data((3, 7), 0)
    check_op("relu", [x], expected=fn(x), **kwargs)


def test_elu_alpha():
    x = data((4, 5), 1)
    check_op("elu", [x], alpha=0.5, expected=np.where(x > 0, x, 0.5 * np.expm1(x)))


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
          "maximum": np.maximum, "minimum": np.minimum, "pow": np.power, "matmul": None}


@pytest.mark.parametrize("name", sorted(n for n in BINARY if n != "matmul"))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 99), dtype=dtypes)
@few
def test_binary_broadcasting(name, shapes, seed, dtype):
    a = data(shapes.input_shapes[0], seed, dtype, "positive" if name == "pow" else "normal")
    b = data(shapes.input_shapes[1], seed + 1, dtype, "positive" if name == "divide" else "normal")
    check_op(name, [a, b], dtype, expected=BINARY[name](a.astype(np.float64), b))


def test_pow_scalar_exponent_and_operators():
    x = data((3, 4), 2, kind="positive")
    check_op(lambda K, x: K.pow(x, 3), [x], expected=x ** 3)
    check_op(lambda K, x: (2.0 - x) * 3.0 / (x + 1.0) - (-x) ** 2, [x], expected=(2 - x) * 3 / (x + 1) - x ** 2)


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((4,), (4, 3))])
def test_matmul(sa, sb):
    a, b = data(sa, 3), data(sb, 4)
    check_op("matmul", [a, b], expected=np.matmul(a, b))


@pytest.mark.parametrize("name", ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal"])
def test_comparisons(name):
    a, b = np.random.default_rng(5).integers(-2, 3, (2, 3, 4)).astype(float), np.array([0.0, 1.0, -1.0, 2.0])
    check_op(name, [a, b], grad=False, expected=getattr(np, name)(a, b))


def test_logic():
    a, b = np.random.default_rng(6).random((2, 3, 4)) > 0.5, np.array([True, False, True, True])
    check_op("logical_and", [a, b], grad=False, expected=a & b)
    for name in ("any", "all"):
        for axis in (None, 1, -1):
            check_op(name, [a], grad=False, axis=axis, expected=getattr(np, name)(a, axis=axis))
        check_op(name, [a], grad=False, axis=0, keepdims=True, expected=getattr(np, name)(a, axis=0, keepdims=True))


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
              "var": np.var, "std": np.std}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(shape=shapes, seed=st.integers(0, 99), dtype=dtypes, keepdims=st.booleans(),
       pick=st.sampled_from(["none", "first", "last", "pair"]))
@few
def test_reductions(name, shape, seed, dtype, keepdims, pick):
    axis = {"none": None, "first": 0, "last": -1, "pair": tuple(sorted({0, len(shape) - 1}))}[pick]
    x = data(shape, seed, dtype)
    count = x.size if axis is None else int(np.prod([shape[a] for a in np.atleast_1d(axis)]))
    check_op(name, [x], dtype, grad=name != "std" or count > 1, axis=axis, keepdims=keepdims,
             expected=REDUCTIONS[name](x.astype(np.float64), axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_arg_extrema_and_cumsum(axis):
    x = data((3, 4, 5), 7)
    check_op("argmax", [x], grad=False, axis=axis, expected=np.argmax(x, axis))
    check_op("argmin", [x], grad=False, axis=axis, expected=np.argmin(x, axis))
    check_op("cumsum", [x], axis=axis, expected=np.cumsum(x, axis))


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (0.0, 1.0)])
def test_clip(lo, hi):
    x = data((4, 6), 8)
    check_op("clip", [x], min_value=lo, max_value=hi, expected=np.clip(x, lo, hi))


# ---- shapes

def test_shape_ops():
    x = data((2, 3, 4), 9)
    check_op("reshape", [x], shape=(4, -1), expected=x.reshape(4, -1))
    check_op("permute_dimensions", [x], pattern=(2, 0, 1), expected=x.transpose(2, 0, 1))
    check_op("expand_dims", [x], axis=1, expected=x[:, None])
    check_op("expand_dims", [x], expected=x[..., None])
    check_op("squeeze", [x[:, :1]], axis=1, expected=x[:, 0])
    check_op("repeat", [x[:, 0]], n=3, expected=np.repeat(x[:, None, 0], 3, axis=1))
    check_op("repeat_elements", [x], rep=2, axis=1, expected=np.repeat(x, 2, axis=1))
    check_op("repeat_elements", [x], rep=3, axis=-1, expected=np.repeat(x, 3, axis=-1))
    check_op("tile", [x], n=(2, 1, 3), expected=np.tile(x, (2, 1, 3)))
    check_op("tile", [x[0]], n=(2, 2, 1), expected=np.tile(x[0], (2, 2, 1)))
    check_op("batch_flatten", [x], expected=x.reshape(2, -1))
    check_op("reverse", [x], axes=1, expected=x[:, ::-1])
    check_op("reverse", [x], axes=(0, 2), expected=x[::-1, :, ::-1])
    check_op("slice", [x], start=(1, 0, 1), size=(1, 2, 3), expected=x[1:2, 0:2, 1:4])
    check_op(lambda K, x: K.transpose(x[:, 0]), [x], expected=x[:, 0].T)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_stack_unstack(axis):
    a, b, c = data((2, 3, 2), 10), data((2, 3, 2), 11), data((2, 3, 2), 12)
    check_op(lambda K, a, b, c: K.concatenate([a, b, c], axis=axis), [a, b, c],
             expected=np.concatenate([a, b, c], axis))
    check_op(lambda K, a, b, c: K.stack([a, b, c], axis=axis), [a, b, c], expected=np.stack([a, b, c], axis))
    check_op(lambda K, a: K.unstack(a, axis=axis), [a], expected=list(np.moveaxis(a, axis, 0)))


@pytest.mark.parametrize("axis, count", [(-1, 3), (0, 2), (1, 1)])
def test_split_into_equal_parts(axis, count):
    x = data((4, 2, 6), 14)
    check_op(lambda K, x: K.split(x, count, axis=axis), [x], expected=np.split(x, count, axis))


@pytest.mark.parametrize("name", BACKENDS)
def test_split_refuses_unequal_parts(name):
    K = backends.get(name)
    with pytest.raises(ValueError, match="axis 1 of size 5 does not divide into 2 equal parts"):
        K.split(K.constant(np.zeros((2, 5))), 2)


def test_getitem_gather_one_hot():
    x = data((4, 5, 3), 13)
    idx = np.array([[3, 0], [3, 3]])
    check_op(lambda K, x: x[1:3, ::2, 0], [x], expected=x[1:3, ::2, 0])
    check_op("getitem", [x], index=(slice(None), 2), expected=x[:, 2])
    for index in [(-1,), (slice(-3, None), -2), (slice(1, 99), slice(None), slice(-99, 2)), (slice(3, 1),),
                  (Ellipsis, 1), (slice(None), slice(None, None, -2)), (None, 0),
                  slice(None, 0, -1), (Ellipsis, slice(1, None, -3)), (0, slice(-1, -5, -2), None)]:
        check_op("getitem", [x], index=index, expected=x[index])
    check_op("gather", [x, idx], expected=x[idx])
    labels = np.array([[0, 2], [1, 4]])
    check_op("one_hot", [labels], grad=False, num_classes=5, expected=np.eye(5)[labels])


# ---- math

@pytest.mark.parametrize("sx, sy", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 3), (4, 3, 5)),
                                    ((2, 3, 4), (3, 4, 2)), ((2, 5, 2, 3), (6, 3, 2))])
def test_dot(sx, sy):
    x, y = data(sx, 14), data(sy, 15)
    check_op("dot", [x, y], expected=np.dot(x, y))


@pytest.mark.parametrize("masks", [0, 1, 3])
@pytest.mark.parametrize("one_step", [False, True])
def test_project_inputs(masks, one_step):
    """x·W + b (per-gate masks: (x ⊙ m_g)·W_g) over a sequence, and over one timestep as a compiled loop reads it."""
    x = data((2, 4) if one_step else (2, 5, 4), 30)
    kernel, bias = data((4, 6), 31), data((6,), 32)
    drops = [(data((2, 4), 33 + g) > 0).astype("float64") for g in range(masks)]
    by_gate = drops if masks > 1 else drops * 3
    rows = x if one_step else x.transpose(1, 0, 2)  # (time, batch, features) for the einsum below
    parts = [np.einsum("...bf,fu->...bu", rows * (by_gate[g] if masks else 1), kernel[:, 2 * g:2 * g + 2])
             for g in range(3)]
    expected = np.concatenate(parts, -1) + bias
    check_op(lambda K, x, kernel, bias, *m: K.project_inputs(x, kernel, bias, list(m)), [x, kernel, bias] + drops,
             expected=expected if one_step else expected.transpose(1, 0, 2))


BATCH_DOT = [((4, 3), (4, 3), None, "bc,bc->b"), ((4, 2, 3), (4, 3, 5), None, "bmc,bcn->bmn"),
             ((4, 3), (4, 3, 5), None, "bc,bcn->bn"), ((4, 2, 3), (4, 3), None, "bmc,bc->bm"),
             ((4, 2, 3), (4, 5, 3), (2, 2), "bmc,bnc->bmn"), ((4, 3, 2), (4, 3, 5), 1, "bcm,bcn->bmn"),
             ((4, 2, 6, 3), (4, 3, 2, 5), (3, 1), "bpqc,bcrs->bpqrs"),
             ((4, 2, 3, 5), (4, 6, 3), (2, 2), "bpcq,brc->bpqr")]


@pytest.mark.parametrize("sx, sy, axes, spec", BATCH_DOT)
def test_batch_dot(sx, sy, axes, spec):
    x, y = data(sx, 16), data(sy, 17)
    expected = np.einsum(spec, x, y)
    check_op("batch_dot", [x, y], axes=axes, expected=expected[:, None] if expected.ndim == 1 else expected)


@pytest.mark.parametrize("axis", [None, -1, 0])
def test_l2_normalize(axis):
    x = data((3, 4), 18)
    check_op("l2_normalize", [x], axis=axis,
             expected=x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-12)))


# ---- nn

@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(axis):
    x = data((3, 4, 2), 19) * 3
    e = np.exp(x - x.max(axis, keepdims=True))
    check_op("softmax", [x], axis=axis, expected=e / e.sum(axis, keepdims=True))
    check_op("log_softmax", [x], axis=axis, expected=np.log(e / e.sum(axis, keepdims=True)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_crossentropies(dtype):
    eps = config.epsilon()
    rng = np.random.default_rng(20)
    logits = rng.standard_normal((4, 5)).astype(dtype)
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(dtype)
    labels = rng.integers(0, 5, (4,))
    target = np.eye(5)[labels].astype(dtype)
    log_sm = logits - np.log(np.exp(logits.astype(float)).sum(-1, keepdims=True))
    p = np.clip(probs / probs.sum(-1, keepdims=True), eps, 1 - eps)
    check_op("categorical_crossentropy", [target, probs], dtype, expected=-(target * np.log(p)).sum(-1))
    check_op("categorical_crossentropy", [target, logits], dtype, from_logits=True, expected=-(target * log_sm).sum(-1))
    lp = np.log(np.clip(probs.astype(float), eps, 1 - eps))
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    check_op("sparse_categorical_crossentropy", [labels, probs], dtype, expected=-lp[np.arange(4), labels])
    check_op("sparse_categorical_crossentropy", [labels[:, None], logits], dtype, from_logits=True,
             expected=-log_sm[np.arange(4), labels])
    bt, bp = (rng.random((3, 4)) > 0.5).astype(dtype), rng.uniform(0.05, 0.95, (3, 4)).astype(dtype)
    q = np.clip(bp.astype(float), eps, 1 - eps)
    check_op("binary_crossentropy", [bt, bp], dtype, expected=-(bt * np.log(q + eps) + (1 - bt) * np.log(1 - q + eps)))
    z = logits[:3, :4]
    check_op("binary_crossentropy", [bt, z], dtype, from_logits=True,
             expected=np.maximum(z, 0) - z * bt + np.log1p(np.exp(-np.abs(z))))


@pytest.mark.parametrize("noise_shape", [None, (3, 1)])
def test_dropout_same_mask_everywhere(noise_shape):
    x = data((3, 4), 21)
    keep = host_random.binomial(noise_shape or (3, 4), 0.6, seed=7) / 0.6
    check_op(lambda K, x: K.dropout(x, 0.4, noise_shape=noise_shape, seed=7), [x], expected=x * keep)
    check_op(lambda K, x: K.dropout(x, 0.0), [x], expected=x)


def test_switch_where():
    rng = np.random.default_rng(22)
    a, b = data((3, 4), 23), data((3, 4), 24)
    cond = rng.random((3,)) > 0.5
    check_op("switch", [cond, a, b], expected=np.where(cond[:, None], a, b))
    check_op(lambda K, c, a, b: K.switch(c, lambda: a * 2, lambda: b), [cond, a, b],
             expected=np.where(cond[:, None], 2 * a, b))
    check_op(lambda K, c, a, b: K.switch(c, a, b), [cond.astype("int64"), a, b], expected=np.where(cond[:, None], a, b))
    check_op(lambda K, a, b: K.switch(False, a, b), [a, b], expected=b)
    a3, b3, row = data((3, 2, 4), 25), data((3, 2, 4), 26), data((4,), 27)  # rows of a 3-D value; a broadcast else
    check_op("switch", [cond, a3, b3], expected=np.where(cond[:, None, None], a3, b3))
    check_op("switch", [cond, a, row], expected=np.where(cond[:, None], a, row))
    full = rng.random((3, 4)) > 0.5
    check_op("where", [full, a, b], expected=np.where(full, a, b))


def test_in_train_phase(K):
    x, alt = K.constant([1.0]), K.constant([2.0])
    assert K.to_numpy(K.in_train_phase(x, alt, training=1))[0] == 1.0
    assert K.to_numpy(K.in_train_phase(lambda: x, lambda: alt, training=0))[0] == 2.0
    assert K.to_numpy(K.in_test_phase(x, alt, training=0))[0] == 1.0
    assert K.learning_phase() == 0 and K.to_numpy(K.in_train_phase(x, alt))[0] == 2.0
    K.set_learning_phase(1)
    try:
        assert K.learning_phase() == 1 and K.to_numpy(K.in_train_phase(x, alt))[0] == 1.0
    finally:
        K.set_learning_phase(0)


def test_stop_gradient_and_cast():
    x = data((3, 2), 25)
    _, (g,) = check_op(lambda K, x: K.stop_gradient(x) * x, [x], expected=x * x)
    w = np.random.default_rng(1234).standard_normal((3, 2))
    np.testing.assert_allclose(g, w * x, rtol=1e-12)
    check_op(lambda K, x: K.cast(x, "float32"), [x], expected=x.astype(np.float32), tol=1e-7)
    check_op(lambda K, x: K.cast(K.cast(x * 3, "int32"), "float64"), [x], grad=False, expected=np.trunc(x * 3))


# ---- tensors and variables

def test_creation(K, backend_name):
    assert K.backend() == backend_name
    for dtype in ("float32", "float64"):
        np.testing.assert_array_equal(K.to_numpy(K.zeros((2, 3), dtype)), np.zeros((2, 3)))
        np.testing.assert_array_equal(K.to_numpy(K.ones((2, 3), dtype)), np.ones((2, 3)))
        np.testing.assert_array_equal(K.to_numpy(K.eye(3, dtype)), np.eye(3))
        assert K.dtype(K.zeros((2,), dtype)) == dtype and K.dtype(K.constant([1, 2], dtype)) == dtype
    assert K.dtype(K.zeros((2,))) == K.floatx() and K.dtype(K.constant(1.0)) == K.floatx()
    np.testing.assert_array_equal(K.to_numpy(K.constant(2.5, shape=(2, 2))), np.full((2, 2), 2.5))
    x = K.constant(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(K.to_numpy(K.zeros_like(x)), np.zeros((2, 3)))
    np.testing.assert_array_equal(K.to_numpy(K.ones_like(x)), np.ones((2, 3)))
    assert K.is_tensor(x) and not K.is_tensor([1.0]) and not K.is_variable(x)
    assert tuple(K.int_shape(x)) == (2, 3) and [int(s) for s in K.shape(x)] == [2, 3] and K.ndim(x) == 2
    assert K.count_params(x) == 6


def test_floatx_applies(K, float64):
    assert K.dtype(K.zeros((2,))) == "float64" and K.dtype(K.variable([1.0])) == "float64"
    assert K.dtype(K.random_normal((2,), seed=1)) == "float64"


def test_variables(K):
    v = K.variable(np.arange(6.0).reshape(2, 3), "float32", name="v")
    assert K.is_variable(v) and K.is_tensor(v) and K.dtype(v) == "float32"
    got = K.get_value(v)
    got[0, 0] = 99.0
    assert K.to_numpy(v)[0, 0] == 0.0, "get_value must not alias the variable"
    K.set_value(v, np.ones((2, 3)))
    K.update_add(v, np.full((2, 3), 2.0))
    K.update_sub(v, K.constant(np.full((2, 3), 0.5)))
    np.testing.assert_array_equal(K.get_value(v), np.full((2, 3), 2.5))
    K.update(v, np.zeros((2, 3)))
    w = K.variable([1.0, 2.0], dtype="float64")
    K.batch_set_value([(w, np.array([3.0, 4.0]))])
    a, b = K.batch_get_value([v, w])
    np.testing.assert_array_equal(a, np.zeros((2, 3)))
    np.testing.assert_array_equal(b, [3.0, 4.0])
    assert K.dtype(w) == "float64" and K.count_params(v) == 6
    np.testing.assert_array_equal(K.to_numpy(v + 1.0), np.ones((2, 3)))
    with pytest.raises(ValueError):
        K.set_value(v, np.zeros((3, 2)))


def test_function_and_gradients(K):
    f = K.function(lambda x, y: [x + y, x * y])
    s, p = f([np.array([1.0, 2.0], "float32"), np.array([3.0, 4.0], "float32")])
    assert isinstance(s, np.ndarray) and list(s) == [4.0, 6.0] and list(p) == [3.0, 8.0]
    v = K.variable([1.0, -2.0])
    (g,) = K.gradients(lambda: K.sum(v * v), [v])
    np.testing.assert_array_equal(K.to_numpy(g), [2.0, -4.0])


def test_config(K):
    K.set_epsilon(1e-5)
    K.set_floatx("float64")
    assert K.epsilon() == 1e-5 and K.floatx() == "float64" and K.dtype(K.ones((1,))) == "float64"


# ---- the surface

def test_surface_complete():
    """Every public method of the NumPy backend exists on every installed backend."""
    public = [n for n in dir(NumpyBackend) if not n.startswith("_") and callable(getattr(NumpyBackend, n))]
    for name in BACKENDS:
        K = backends.get(name)
        missing = [n for n in public if not callable(getattr(K, n, None))]
        assert not missing, f"{name} backend lacks {missing}"


@needs_tf_keras
@pytest.mark.parametrize("name, args, kwargs", [
    ("batch_dot", [(4, 2, 6, 3), (4, 3, 2, 5)], {"axes": (3, 1)}), ("batch_dot", [(4, 3), (4, 3)], {}),
    ("batch_dot", [(4, 3), (4, 3, 5)], {"axes": 1}), ("dot", [(2, 3), (4, 3, 5)], {}),
    ("dot", [(2, 5, 3), (4, 3, 2)], {}), ("l2_normalize", [(3, 4)], {"axis": 1}),
    ("hard_sigmoid", [(3, 4)], {}), ("softsign", [(3, 4)], {}), ("elu", [(3, 4)], {"alpha": 0.7}),
    ("relu", [(3, 4)], {"alpha": 0.2, "max_value": 1.0, "threshold": 0.3}), ("softplus", [(3, 4)], {}),
    ("repeat_elements", [(2, 3)], {"rep": 2, "axis": 0}), ("var", [(3, 4)], {"axis": 1}),
])
def test_numpy_matches_tf_keras(name, args, kwargs):
    """The reference semantics are tf.keras 2.x: the NumPy backend equals its backend functions."""
    import tensorflow as tf
    from tf_keras import backend as tfk
    arrays = [data(s, i + 30) for i, s in enumerate(args)]
    check_op(name, arrays, grad=False, backend_names=["numpy"],
             expected=getattr(tfk, name)(*map(tf.constant, arrays), **kwargs).numpy(), **kwargs)


@needs_tf_keras
@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropies_match_tf_keras(from_logits):
    import tensorflow as tf
    from tf_keras import backend as tfk
    rng = np.random.default_rng(40)
    out = rng.uniform(0.01, 0.99, (4, 5)) if not from_logits else rng.standard_normal((4, 5))
    if not from_logits:
        out[0, 0] = 1e-9  # exercises the clipping
        out[:2] /= out[:2].sum(-1, keepdims=True)
    labels = rng.integers(0, 5, (4,))
    target = np.eye(5)[labels]
    K = backends.get("numpy")
    for name, t in (("categorical_crossentropy", target), ("sparse_categorical_crossentropy", labels),
                    ("binary_crossentropy", target)):
        expected = getattr(tfk, name)(tf.constant(t), tf.constant(out), from_logits=from_logits).numpy()
        np.testing.assert_allclose(getattr(K, name)(t, out, from_logits=from_logits), expected, rtol=1e-12,
                                   err_msg=name)


def test_relu_propagates_nan_and_zeroes_gradient_above_the_cap(K, float64):
    x = K.variable(np.array([-2.0, -0.5, 0.5, 1.5, 3.0]))
    assert np.isnan(K.to_numpy(K.relu(K.constant([np.nan])))).all()
    _, (g,) = K.value_and_grad(lambda: K.sum(K.relu(x, alpha=0.1, max_value=1.0)), [x])
    np.testing.assert_array_equal(K.to_numpy(g), [0.1, 0.1, 1.0, 0.0, 0.0])


def test_any_all_accept_axis_lists(K):
    t = K.constant(np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]]]), "bool")
    np.testing.assert_array_equal(K.to_numpy(K.any(t, axis=[1, 2])), [True, False])
    np.testing.assert_array_equal(K.to_numpy(K.all(K.logical_and(t, t), axis=[0, 1])), [False, False])


def test_rnn_accepts_a_host_mask(K):
    inputs = K.constant(np.ones((2, 3, 1)))
    last, _, _ = K.rnn(lambda x, s: (x + s[0], [x + s[0]]), inputs, [K.zeros((2, 1))],
                       mask=np.array([[True, False, True], [True, True, True]]))
    np.testing.assert_allclose(K.to_numpy(last).ravel(), [2.0, 3.0])
