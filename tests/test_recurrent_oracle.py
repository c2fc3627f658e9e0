"""SimpleRNN/GRU/LSTM/Bidirectional against live tf_keras layers with copied weights, on every backend."""
import os

import numpy as np
import pytest

from conftest import BACKENDS, needs_tf_keras
from multirnn import backends, layers

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytestmark = needs_tf_keras

RNG = np.random.RandomState(7)
X = RNG.randn(3, 5, 4)
HOLES = np.ones((3, 5), bool)
HOLES[0, 1] = HOLES[1, 3:] = False
HOLES[2, :] = False  # a fully masked sample

CONFIGS = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu", "use_bias": False}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
    ("GRU", {"reset_after": False, "implementation": 1, "recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"go_backwards": True, "use_bias": False}),
    ("LSTM", {}),
    ("LSTM", {"implementation": 1, "unit_forget_bias": False}),
    ("LSTM", {"go_backwards": True, "recurrent_activation": "hard_sigmoid"}),
    ("LSTM", {"activation": "relu", "use_bias": False}),
]


def tf_layer(name, kw, dtype="float32", **extra):
    import tf_keras
    return getattr(tf_keras.layers, name)(3, dtype=dtype, **kw, **extra)


def ours(name, kw, backend, **extra):
    with backends.use(backend):
        return getattr(layers, name)(3, **kw, **extra)


def as_list(x):
    return [np.asarray(t) for t in (x if isinstance(x, (list, tuple)) else [x])]


def assert_close(got, want, dtype):
    tol = 1e-5 if dtype == "float32" else 1e-10
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "holes"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_matches_tf_keras(backend, name, kw, masked, dtype):
    from multirnn.backends import config
    config.set_floatx(dtype)
    extra = {"return_sequences": True, "return_state": True}
    ref = tf_layer(name, kw, dtype, **extra)
    x = X.astype(dtype)
    mask = HOLES if masked else None
    want = as_list(ref(x, mask=mask))
    layer = ours(name, kw, backend, **extra)
    layer.build(x.shape)
    layer.set_weights(ref.get_weights())
    with backends.use(backend) as K:
        got = [K.to_numpy(t) for t in layer(K.constant(x), mask=None if mask is None else K.constant(mask, "bool"))]
    assert_close(got, want, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_bidirectional_matches_tf_keras(backend, merge_mode, cell):
    import tf_keras
    ref = tf_keras.layers.Bidirectional(getattr(tf_keras.layers, cell)(3, return_sequences=True, return_state=True),
                                        merge_mode=merge_mode)
    x = X.astype("float32")
    want = as_list(ref(x, mask=HOLES))
    with backends.use(backend) as K:
        layer = layers.Bidirectional(getattr(layers, cell)(3, return_sequences=True, return_state=True),
                                     merge_mode=merge_mode)
        layer.build(x.shape)
        layer.set_weights(ref.get_weights())
        got = [K.to_numpy(t) for t in layer(K.constant(x), mask=K.constant(HOLES, "bool"))]
    assert_close(got, want, "float32")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["SimpleRNN", "GRU", "LSTM"])
def test_initial_state_matches_tf_keras(backend, cell):
    states = 2 if cell == "LSTM" else 1
    init = [RNG.randn(3, 3).astype("float32") for _ in range(states)]
    ref = tf_layer(cell, {}, return_sequences=True)
    x = X.astype("float32")
    import tensorflow as tf
    want = as_list(ref(x, initial_state=[tf.constant(s) for s in init]))
    layer = ours(cell, {}, backend, return_sequences=True)
    layer.build(x.shape)
    layer.set_weights(ref.get_weights())
    with backends.use(backend) as K:
        got = as_list(K.to_numpy(layer(K.constant(x), initial_state=[K.constant(s) for s in init])))
    assert_close(got, want, "float32")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["SimpleRNN", "GRU", "LSTM"])
def test_stateful_over_batches_matches_tf_keras(backend, cell):
    import tf_keras
    batches = [RNG.randn(3, 5, 4).astype("float32") for _ in range(4)]
    ref = getattr(tf_keras.layers, cell)(3, stateful=True, return_sequences=True)
    ref_model = tf_keras.Sequential([tf_keras.Input(batch_shape=(3, 5, 4)), ref])
    with backends.use(backend) as K:
        layer = getattr(layers, cell)(3, stateful=True, return_sequences=True, batch_input_shape=(3, 5, 4))
        layer.build((3, 5, 4))
        layer.set_weights(ref.get_weights())
        for i, batch in enumerate(batches):
            if i == 2:
                ref.reset_states()
                layer.reset_states()
            want = np.asarray(ref_model(batch))
            got = K.to_numpy(layer(K.constant(batch)))
            assert_close([got], [want], "float32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_mask_zero_feeds_lstm_like_tf_keras(backend):
    import tf_keras
    tokens = np.array([[3, 1, 4, 0, 0], [2, 0, 0, 0, 0], [5, 6, 7, 8, 9]])
    ref_emb, ref_lstm = tf_keras.layers.Embedding(10, 4, mask_zero=True), tf_keras.layers.LSTM(3)
    embedded = ref_emb(tokens)
    want = np.asarray(ref_lstm(embedded, mask=ref_emb.compute_mask(tokens)))
    with backends.use(backend) as K:
        emb, lstm = layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3)
        emb.build(tokens.shape)
        emb.set_weights(ref_emb.get_weights())
        t = K.constant(tokens, "int64")
        vectors = emb(t)
        lstm.build(K.int_shape(vectors))
        lstm.set_weights(ref_lstm.get_weights())
        got = K.to_numpy(lstm(vectors, mask=emb.compute_mask(t)))
    assert_close([got], [want], "float32")
