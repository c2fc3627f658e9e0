"""Core and merge layers: against tf_keras with copied weights on every backend, Keras 1
spellings, shapes and their errors, masks, configs, and Dropout's host masks."""
import numpy as np
import pytest

from conftest import BACKENDS, needs_tf_keras
from helpers import assert_close, check_op
from multirnn import backends, layers
from multirnn.backends import config

RNG = np.random.default_rng(5)


def _tf_layer(name, *args, **kwargs):
    import tf_keras
    return getattr(tf_keras.layers, name)(*args, dtype="float64", **kwargs)


def _tf_call(layer, inputs, **kwargs):
    import tensorflow as tf
    x = [tf.constant(a) for a in inputs] if isinstance(inputs, list) else tf.constant(inputs)
    return np.asarray(layer(x, **kwargs))


def _ours_call(K, layer, inputs, **kwargs):
    x = [K.constant(a) for a in inputs] if isinstance(inputs, list) else K.constant(inputs)
    return K.to_numpy(layer(x, **kwargs))


# (class name, args, kwargs, input shapes): single-input layers built the same way in both
SINGLE = [
    ("Dense", (5,), {}, (4, 3)),
    ("Dense", (5,), {"activation": "tanh"}, (2, 6, 3)),
    ("Dense", (2,), {"activation": "softmax", "use_bias": False}, (2, 3, 4, 3)),
    ("Activation", ("sigmoid",), {}, (4, 3)),
    ("Flatten", (), {}, (2, 3, 4, 5)),
    ("Reshape", ((6, 2),), {}, (3, 12)),
    ("Reshape", ((-1, 4),), {}, (3, 2, 6)),
    ("Permute", ((2, 1),), {}, (3, 4, 5)),
    ("Permute", ((3, 1, 2),), {}, (2, 3, 4, 5)),
    ("RepeatVector", (3,), {}, (4, 5)),
    ("ActivityRegularization", (), {"l1": 0.5, "l2": 0.25}, (4, 3)),
    ("Dropout", (0.5,), {}, (4, 3)),
]


@needs_tf_keras
@pytest.mark.parametrize("name,args,kwargs,shape", SINGLE, ids=[f"{s[0]}-{i}" for i, s in enumerate(SINGLE)])
def test_single_input_layers_match_tf_keras(K, float64, name, args, kwargs, shape):
    x = RNG.standard_normal(shape)
    theirs = _tf_layer(name, *args, **kwargs)
    expected = _tf_call(theirs, x)
    ours = getattr(layers, name)(*args, **kwargs)
    ours(K.constant(x))
    ours.set_weights(theirs.get_weights())
    got = _ours_call(K, ours, x)
    assert_close(got, expected, "float64", f"{name} on {K.backend()} vs tf_keras")
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))
    if name == "ActivityRegularization":
        penalty = (0.5 * np.abs(got).sum() + 0.25 * np.square(got).sum()) / len(got)
        assert_close(K.to_numpy(ours.losses[0]), penalty, "float64", "activity penalty")
        assert_close(K.to_numpy(ours.losses[0]), np.asarray(theirs.losses[0]), "float64", "tf_keras activity penalty")


# (class name, kwargs, input shapes)
MERGES = [
    ("Add", {}, [(3, 4), (3, 4), (3, 4)]),
    ("Add", {}, [(2, 3, 4), (2, 4)]),  # broadcast: the lower rank gains axes after the batch axis
    ("Subtract", {}, [(3, 4), (3, 4)]),
    ("Multiply", {}, [(2, 3, 4), (2, 1, 4)]),
    ("Average", {}, [(3, 4), (3, 4)]),
    ("Maximum", {}, [(3, 4), (3, 4), (3, 4)]),
    ("Minimum", {}, [(3, 4), (3, 4)]),
    ("Concatenate", {}, [(3, 4), (3, 2)]),
    ("Concatenate", {"axis": 1}, [(2, 3, 4), (2, 5, 4)]),
    ("Dot", {"axes": 1}, [(3, 4), (3, 4)]),
    ("Dot", {"axes": 1, "normalize": True}, [(3, 4), (3, 4)]),
    ("Dot", {"axes": (2, 2)}, [(2, 3, 4), (2, 5, 4)]),
    ("Dot", {"axes": (1, 2)}, [(2, 3, 4), (2, 5, 3)]),
    ("Dot", {"axes": -1, "normalize": True}, [(2, 3, 4), (2, 4)]),
]


@needs_tf_keras
@pytest.mark.parametrize("name,kwargs,shapes", MERGES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MERGES)])
def test_merge_layers_match_tf_keras(K, float64, name, kwargs, shapes):
    xs = [RNG.standard_normal(s) for s in shapes]
    theirs = _tf_layer(name, **kwargs)
    expected = _tf_call(theirs, xs)
    ours = getattr(layers, name)(**kwargs)
    assert_close(_ours_call(K, ours, xs), expected, "float64", f"{name}{kwargs} on {K.backend()} vs tf_keras")
    symbolic = [(None,) + s[1:] for s in shapes]
    assert ours.compute_output_shape(symbolic) == tuple(theirs.compute_output_shape(symbolic))
    functional = getattr(layers, name.lower())
    again = functional([K.constant(x) for x in xs], **kwargs)
    assert_close(K.to_numpy(again), expected, "float64", f"{name.lower()}() on {K.backend()}")


@needs_tf_keras
def test_merge_masks_match_tf_keras(K):
    import tensorflow as tf
    xs = [RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 2))]
    m1 = np.array([[True, False, True], [True, True, False]])
    m2 = np.array([[True, True, False], [False, True, True]])
    for name, kwargs, masks in (("Concatenate", {}, [m1, None]), ("Concatenate", {"axis": 1}, [m1, m2]),
                                ("Add", {}, [m1, m2]), ("Maximum", {}, [None, m2])):
        shapes = xs if name == "Concatenate" and kwargs.get("axis") != 1 else [xs[0], xs[0]]
        theirs = _tf_layer(name, **kwargs)
        expected = theirs.compute_mask([tf.constant(x) for x in shapes],
                                       [None if m is None else tf.constant(m) for m in masks])
        ours = getattr(layers, name)(**kwargs)
        got = ours.compute_mask([K.constant(x) for x in shapes],
                                [None if m is None else K.constant(m, "bool") for m in masks])
        np.testing.assert_array_equal(K.to_numpy(got), np.asarray(expected), err_msg=f"{name}{kwargs} mask")
    assert layers.Dot(1).compute_mask([K.constant(xs[0])] * 2, [K.constant(m1, "bool")] * 2) is None
    assert layers.Add().compute_mask([K.constant(xs[0])] * 2, None) is None


# ---- the shared merge math and Keras 1 `merge`

def _cos(a, b):
    return (np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))[:, None]


KERAS1_MODES = [
    ("sum", lambda a, b: a + b, (None, 4)),
    ("mul", lambda a, b: a * b, (None, 4)),
    ("ave", lambda a, b: (a + b) / 2, (None, 4)),
    ("max", np.maximum, (None, 4)),
    ("concat", lambda a, b: np.concatenate([a, b], -1), (None, 8)),
    ("dot", lambda a, b: np.sum(a * b, -1, keepdims=True), (None, 1)),
    ("cos", _cos, (None, 1)),
]


@pytest.mark.parametrize("mode,fn,shape", KERAS1_MODES, ids=[m[0] for m in KERAS1_MODES])
def test_keras1_merge_modes(K, float64, mode, fn, shape):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    got = layers.merge([K.constant(a), K.constant(b)], mode=mode)
    assert_close(K.to_numpy(got), fn(a, b), "float64", f"merge mode {mode} on {K.backend()}")
    assert layers.merge_output_shape([(None, 4), (None, 4)], mode) == shape
    symbolic = layers.merge([layers.Input(shape=(4,)), layers.Input(shape=(4,))], mode=mode)
    assert symbolic.shape == shape


def test_merge_callable_modes_and_shapes(K, float64):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    got = layers.merge([K.constant(a), K.constant(b)], mode=lambda x: x[0] - x[1])
    assert_close(K.to_numpy(got), a - b, "float64", "callable mode")
    assert layers.merge_output_shape([(None, 4)] * 2, lambda x: x[0], output_shape=(4,)) == (None, 4)
    assert layers.merge_output_shape([(None, 4)] * 2, lambda x: x[0], output_shape=lambda s: s[0]) == (None, 4)
    inferred = layers.merge([layers.Input(shape=(4,)), layers.Input(shape=(4,))],
                            mode=lambda x: K.concatenate([x[0], x[1], x[0]], axis=-1))
    assert inferred.shape == (None, 12)
    assert layers.merge_output_shape([(None, 3, 4), (None, 5, 4)], "concat", concat_axis=1) == (None, 8, 4)
    assert layers.merge_output_shape([(None, 3, 4), (None, 4)], "dot", dot_axes=(2, 1)) == (None, 3)
    assert layers.merge_output_shape([(None, 3, 4), (None, 5, 4)], "dot", dot_axes=2) == (None, 3, 5)
    out = layers.merge_tensors([K.constant(a), K.constant(b)], "concat", concat_axis=0)
    assert K.int_shape(out) == (6, 4)
    layer = layers.MergeTensors(mode=lambda x: x[0] * 2 - x[1], output_shape=(4,))
    again = layers.deserialize(layers.serialize(layer), safe_mode=False)
    assert_close(K.to_numpy(again([K.constant(a), K.constant(b)])), 2 * a - b, "float64", "callable mode config")


def test_merge_shape_errors():
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.merge_output_shape([(None, 4)], "sum")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        layers.merge_output_shape([(None, 4), (None, 5)], "sum")
    with pytest.raises(ValueError, match="every axis but the concat axis"):
        layers.merge_output_shape([(None, 3, 4), (None, 2, 5)], "concat")
    with pytest.raises(ValueError, match="same rank"):
        layers.merge_output_shape([(None, 3, 4), (None, 4)], "concat")
    with pytest.raises(ValueError, match="does not match"):
        layers.merge_output_shape([(None, 4), (None, 5)], "dot", dot_axes=1)
    with pytest.raises(ValueError, match="exactly 2"):
        layers.merge_output_shape([(None, 4)] * 3, "cos")
    with pytest.raises(ValueError, match="batch axis"):
        layers.merge_output_shape([(None, 4)] * 2, "dot", dot_axes=0)
    with pytest.raises(ValueError, match="unknown mode 'avg'"):
        layers.merge_output_shape([(None, 4)] * 2, "avg")
    with pytest.raises(ValueError, match="Subtract .*exactly 2"):
        layers.Subtract()([layers.Input(shape=(4,))] * 3)
    with pytest.raises(ValueError, match="Concatenate .*concat axis"):
        layers.Concatenate()([layers.Input(shape=(3, 4)), layers.Input(shape=(2, 4))])
    with pytest.raises(ValueError, match="expected a list"):
        layers.Add()(layers.Input(shape=(4,)))
    with pytest.raises(ValueError, match="at least 2 tensors"):
        layers.merge([layers.Input(shape=(4,))])


# ---- Dense: Keras 1 spellings, shapes, errors

def test_dense_keras1_spellings(K):
    from multirnn import regularizers
    d = layers.Dense(output_dim=3, init="one", W_regularizer=regularizers.l2(0.5), b_regularizer="l1",
                     bias=True, input_dim=4, activation="linear")
    assert d.batch_input_shape == (None, 4) and d.units == 3
    out = d(K.constant(np.ones((2, 4))))
    np.testing.assert_allclose(K.to_numpy(out), np.full((2, 3), 4.0))
    assert len(d.losses) == 2 and float(np.asarray(K.to_numpy(d.losses[0]))) == pytest.approx(0.5 * 12)
    no_bias = layers.Dense(3, bias=False)
    no_bias(K.constant(np.ones((2, 4))))
    assert [w.shape for w in no_bias.get_weights()] == [(4, 3)]
    with pytest.raises(TypeError, match="both 'output_dim'"):
        layers.Dense(3, output_dim=4)
    with pytest.raises(TypeError, match="both 'init'"):
        layers.Dense(3, init="zero", kernel_initializer="ones")
    with pytest.raises(TypeError, match="missing the number of units"):
        layers.Dense()
    with pytest.raises(ValueError, match="units must be a positive int"):
        layers.Dense(0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(3, kernel_initialiser="ones")


def test_dense_shape_errors_and_weights(K):
    d = layers.Dense(3, weights=[np.ones((4, 3)), np.arange(3.0)])
    np.testing.assert_allclose(K.to_numpy(d(K.constant(np.ones((2, 4))))), [[4, 5, 6]] * 2)
    with pytest.raises(ValueError, match=r"Dense .*expected input of shape \(\.\.\., 4\)"):
        d(K.constant(np.ones((2, 5))))
    with pytest.raises(ValueError, match="rank >= 2"):
        layers.Dense(3)(K.constant(np.ones(4)))
    with pytest.raises(ValueError, match="set_weights expects 2 arrays"):
        layers.Dense(3, weights=[np.ones((4, 3))])(K.constant(np.ones((2, 4))))
    assert layers.Dense(7).compute_output_shape((None, 5, 4)) == (None, 5, 7)
    assert layers.Dense(3)(layers.Input(shape=(6, 4))).shape == (None, 6, 3)


def test_dense_gradients_across_backends(float64):
    kernel, bias = RNG.standard_normal((4, 3)), RNG.standard_normal(3)

    def dense(K, x):
        return layers.Dense(3, activation="tanh", weights=[kernel, bias])(x)
    check_op(dense, [RNG.standard_normal((2, 5, 4))], "float64")


# ---- Reshape, Permute, RepeatVector, Flatten: shapes and errors

def test_shape_layers_and_errors(K):
    assert layers.Reshape((3, 4)).compute_output_shape((None, 12)) == (None, 3, 4)
    assert layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert layers.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    assert layers.Flatten().compute_output_shape((None, 3, None)) == (None, None)
    assert layers.Permute((2, 1))(layers.Input(shape=(10, 64))).shape == (None, 64, 10)
    assert layers.RepeatVector(3)(layers.Input(shape=(32,))).shape == (None, 3, 32)
    with pytest.raises(ValueError, match=r"Reshape .*cannot reshape samples of shape \(12,\)"):
        layers.Reshape((5, 2))(K.constant(np.ones((2, 12))))
    with pytest.raises(ValueError, match="at most one -1"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match="permutation of 1..2"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="need input of rank 3"):
        layers.Permute((2, 1))(K.constant(np.ones((2, 3, 4, 5))))
    with pytest.raises(ValueError, match="RepeatVector .*rank 2"):
        layers.RepeatVector(2)(K.constant(np.ones((2, 3, 4))))
    np.testing.assert_array_equal(K.to_numpy(layers.Flatten()(K.constant(np.ones((2, 3))))), np.ones((2, 3)))


# ---- Dropout

def test_dropout_identity_at_inference(K):
    x = RNG.standard_normal((4, 5))
    layer = layers.Dropout(0.5)
    np.testing.assert_array_equal(_ours_call(K, layer, x), x.astype(np.float32))
    np.testing.assert_array_equal(_ours_call(K, layer, x, training=False), x.astype(np.float32))
    config.set_learning_phase(1)
    try:
        assert not np.array_equal(_ours_call(K, layer, x), x.astype(np.float32))
    finally:
        config.set_learning_phase(0)


def test_dropout_host_masks_equal_across_backends(float64):
    x = RNG.uniform(1.0, 2.0, (50, 40))
    outputs = {}
    for name in BACKENDS:
        with backends.use(name) as K:
            layer = layers.Dropout(0.3, seed=42)
            outputs[name] = [_ours_call(K, layer, x, training=True) for _ in range(2)]
    first = outputs[BACKENDS[0]]
    for name, outs in outputs.items():
        for a, b in zip(outs, first):
            np.testing.assert_array_equal(a, b, err_msg=f"dropout masks on {name}")
    kept = first[0] != 0
    assert not np.array_equal(first[0], first[1])  # a fresh mask each call
    assert abs(kept.mean() - 0.7) < 0.05
    np.testing.assert_allclose(first[0][kept], x[kept] / 0.7)


def test_dropout_noise_shape_and_keras1_name(K):
    x = np.ones((3, 6, 4))
    out = _ours_call(K, layers.Dropout(p=0.5, noise_shape=(None, 1, 4), seed=1), x, training=True)
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :], out.shape))
    with pytest.raises(TypeError, match="both 'p'"):
        layers.Dropout(0.5, p=0.5)
    with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\)"):
        layers.Dropout(1.0)


# ---- Lambda

def _double(x, factor=2.0):
    return x * factor


def test_lambda(K, float64):
    x = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(_ours_call(K, layers.Lambda(_double, arguments={"factor": 3.0}), x), 3 * x)
    sliced = layers.Lambda(lambda t: t[:, :2])(layers.Input(shape=(4,)))
    assert sliced.shape == (None, 2)
    assert layers.Lambda(_double, output_shape=(4,)).compute_output_shape((None, 4)) == (None, 4)
    assert layers.Lambda(_double, output_shape=lambda s: s).compute_output_shape((None, 4)) == (None, 4)
    pair = layers.Lambda(lambda xs: xs[0] + xs[1])([layers.Input(shape=(4,)), layers.Input(shape=(4,))])
    assert pair.shape == (None, 4)
    with pytest.raises(ValueError, match="give output_shape="):
        layers.Lambda(_double)(layers.Input(shape=(None, 4)))
    masked = layers.Lambda(_double, mask=lambda inputs, mask: mask)
    assert masked.supports_masking and masked.compute_mask(None, "m") == "m"

    def with_mask(t, mask=None):
        return t if mask is None else t * 0
    assert np.all(_ours_call(K, layers.Lambda(with_mask), x, mask=np.ones(3)) == 0)


def test_lambda_config_roundtrip(K, float64):
    x = RNG.standard_normal((2, 3))
    for fn in (_double, lambda t: t * t + 1.0):
        layer = layers.Lambda(fn, output_shape=(3,))
        again = layers.deserialize(layers.serialize(layer), safe_mode=False)
        np.testing.assert_allclose(_ours_call(K, again, x), _ours_call(K, layer, x))
    scale = 2.0
    with pytest.raises(ValueError, match="enclosing function"):
        layers.Lambda(lambda t: t * scale).get_config()


def test_lambda_trains_on_every_backend(float64):
    def op(K, x):
        return layers.Lambda(lambda t: K.tanh(t) * K.sum(t, axis=-1, keepdims=True))(x)
    check_op(op, [RNG.standard_normal((3, 4))], "float64")


# ---- Highway and MaxoutDense (Keras 1 only: NumPy formulas)

def test_highway(K, float64):
    d = 4
    w, b, wc = RNG.standard_normal((d, d)), RNG.standard_normal(d), RNG.standard_normal((d, d))
    x = RNG.standard_normal((3, d))
    layer = layers.Highway(activation="tanh", input_dim=d)
    layer(K.constant(x))
    assert [a.shape for a in layer.get_weights()] == [(d, d), (d,), (d, d), (d,)]
    np.testing.assert_array_equal(layer.get_weights()[3], np.full(d, -2.0))
    layer.set_weights([w, b, wc, np.full(d, -2.0)])
    t = 1 / (1 + np.exp(-(x @ wc - 2.0)))
    assert_close(_ours_call(K, layer, x), t * np.tanh(x @ w + b) + (1 - t) * x, "float64", "Highway")
    plain = layers.Highway(bias=False, init="glorot_normal", transform_bias=-1)
    plain(K.constant(x))
    assert len(plain.get_weights()) == 2
    with pytest.raises(ValueError, match="Highway .*shape \\(batch, features\\)"):
        layers.Highway()(K.constant(np.ones((2, 3, 4))))


def test_maxout_dense(K, float64):
    x = RNG.standard_normal((5, 4))
    layer = layers.MaxoutDense(output_dim=3, nb_feature=2)
    layer(K.constant(x))
    w, b = RNG.standard_normal((2, 4, 3)), RNG.standard_normal((2, 3))
    layer.set_weights([w, b])
    expected = np.max(np.einsum("bi,fio->bfo", x, w) + b, axis=1)
    assert_close(_ours_call(K, layer, x), expected, "float64", "MaxoutDense")
    assert layer.compute_output_shape((None, 4)) == (None, 3)


def test_keras1_dense_variants_gradients(float64):
    w, wc = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))

    def highway(K, x):
        return layers.Highway(activation="relu", bias=False, weights=[w, wc])(x)
    check_op(highway, [RNG.standard_normal((4, 3))], "float64")


# ---- configs and masks

def test_configs_roundtrip():
    made = [layers.Dense(3, activation="relu", kernel_regularizer="l2", input_dim=4), layers.Activation("tanh"),
            layers.Dropout(0.2, noise_shape=(None, 1), seed=3), layers.Flatten(), layers.Reshape((2, -1)),
            layers.Permute((2, 1)), layers.RepeatVector(4), layers.ActivityRegularization(l1=0.1),
            layers.Highway(transform_bias=-1.0), layers.MaxoutDense(3, nb_feature=5), layers.Add(),
            layers.Concatenate(axis=1), layers.Dot(axes=(1, 2), normalize=True),
            layers.MergeTensors(mode="concat", concat_axis=1)]
    for layer in made:
        again = layers.deserialize(layers.serialize(layer))
        assert type(again) is type(layer)
        config_a, config_b = layer.get_config(), again.get_config()
        config_a.pop("name"), config_b.pop("name")
        assert config_a == config_b, type(layer).__name__


def test_masks_pass_through(K):
    mask = K.constant(np.array([[True, False]]), "bool")
    x = K.constant(np.ones((1, 2, 3)))
    for layer in (layers.Dense(2), layers.Activation("relu"), layers.Dropout(0.5),
                  layers.ActivityRegularization()):
        assert layer.compute_mask(x, mask) is mask, type(layer).__name__
    for layer in (layers.Flatten(), layers.Reshape((6,)), layers.RepeatVector(2), layers.Lambda(_double)):
        assert layer.compute_mask(x, mask) is None, type(layer).__name__
