"""Keras 2.1's CuDNNLSTM/CuDNNGRU and the Keras 1 leftovers: Embedding(dropout=) drops whole words,
old import paths, WeightRegularizer, and the Keras 1 per-gate LSTM/GRU weight lists."""
import os

import numpy as np
import pytest

from conftest import BACKENDS, needs_h5py, needs_tf_keras
from multirnn import backends, layers, regularizers
from multirnn.backends import host_random
from multirnn.errors import ArgumentTypeError, InvalidArgumentError
from multirnn.layers.registry import deserialize, serialize

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RNG = np.random.default_rng(8)
X = RNG.standard_normal((3, 5, 4))


# ---- CuDNNLSTM / CuDNNGRU
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cudnn,plain,kw", [("CuDNNLSTM", "LSTM", {}), ("CuDNNGRU", "GRU", {"reset_after": True})])
def test_cudnn_layers_are_their_constrained_layers(backend, cudnn, plain, kw, float64):
    with backends.use(backend) as K:
        ours = getattr(layers, cudnn)(3, return_sequences=True, return_state=True, go_backwards=True)
        ref = getattr(layers, plain)(3, return_sequences=True, return_state=True, go_backwards=True, **kw)
        for layer in (ours, ref):
            layer.build(X.shape)
        ref.set_weights(ours.get_weights())
        for a, b in zip(ours(K.constant(X)), ref(K.constant(X))):
            np.testing.assert_array_equal(K.to_numpy(a), K.to_numpy(b))
    assert ours.activation is ref.activation and ours.dropout == 0.0 and ours.use_bias


@needs_tf_keras
@pytest.mark.parametrize("cudnn,plain", [("CuDNNLSTM", "LSTM"), ("CuDNNGRU", "GRU")])
def test_cudnn_layers_match_tf_keras_lstm_and_gru(cudnn, plain):
    import tf_keras
    ref = getattr(tf_keras.layers, plain)(3, return_sequences=True)
    x = X.astype("float32")
    want = np.asarray(ref(x))
    with backends.use("numpy") as K:
        layer = getattr(layers, cudnn)(3, return_sequences=True)
        layer.build(x.shape)
        layer.set_weights(ref.get_weights())
        np.testing.assert_allclose(K.to_numpy(layer(K.constant(x))), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cudnn", ["CuDNNLSTM", "CuDNNGRU"])
@pytest.mark.parametrize("arg,value", [("activation", "relu"), ("dropout", 0.2), ("recurrent_dropout", 0.1),
                                       ("reset_after", False), ("use_bias", False), ("implementation", 1)])
def test_cudnn_layers_refuse_what_cudnn_cannot_do(cudnn, arg, value):
    with pytest.raises(ArgumentTypeError, match=rf"^{cudnn}: {arg}= is not an argument of {cudnn} "
                                                rf"\(tanh and sigmoid, a bias, no dropout.*use {cudnn[5:]} for that"):
        getattr(layers, cudnn)(3, **{arg: value})


def test_cudnn_layers_keep_the_keras_2_1_arguments_and_round_trip():
    layer = layers.CuDNNLSTM(4, unit_forget_bias=False, kernel_regularizer="l2", return_state=True, stateful=True,
                             batch_input_shape=(2, 3, 5), go_backwards=True)
    config = serialize(layer)
    assert not {"activation", "dropout", "recurrent_dropout", "implementation", "unroll"} & set(config["config"])
    again = deserialize(config)
    assert type(again) is layers.CuDNNLSTM and serialize(again) == config
    assert again.unit_forget_bias is False and again.stateful and again.go_backwards
    gru = deserialize(serialize(layers.CuDNNGRU(2)))
    assert type(gru) is layers.CuDNNGRU and gru.reset_after
    bi = layers.Bidirectional(layers.CuDNNGRU(2, return_sequences=True))
    with backends.use("numpy") as K:
        assert K.int_shape(bi(K.constant(X))) == (3, 5, 4)


# ---- Embedding(dropout=): Keras 1 drops whole words
TOKENS = np.array([[1, 2, 3, 2, 0], [3, 3, 4, 5, 1], [6, 7, 2, 1, 9]])


def _embedding_run(backend, training):
    with backends.use(backend) as K:
        host_random.set_seed(12)
        emb = layers.Embedding(10, 4, dropout=0.5)
        emb.build(TOKENS.shape)
        table = emb.get_weights()[0]
        host_random.set_seed(21)  # the same draw for both calls: one mask per call
        out = K.to_numpy(emb(K.constant(TOKENS, "int32"), training=training))
        host_random.set_seed(21)
        _, (grad,) = K.value_and_grad(lambda: K.sum(emb(K.constant(TOKENS, "int32"), training=training)),
                                      emb.trainable_weights)
        return table, out, K.to_numpy(grad)


def test_embedding_dropout_drops_whole_words_in_training_only(float64):
    table, out, grad = _embedding_run("numpy", True)
    kept = np.array([not np.all(out[np.where(TOKENS == w)] == 0) for w in range(10)])
    for w in np.unique(TOKENS):  # every occurrence of a word, in every sample, is dropped or kept together
        rows = out[TOKENS == w]
        expected = table[w] * 2.0 if kept[w] else np.zeros(4)
        np.testing.assert_allclose(rows, np.broadcast_to(expected, rows.shape), rtol=1e-12)
        counts = np.sum(TOKENS == w)
        np.testing.assert_allclose(grad[w], np.full(4, 2.0 * counts if kept[w] else 0.0), rtol=1e-12)
    assert 0 < kept[np.unique(TOKENS)].sum() < len(np.unique(TOKENS))  # with this seed some words go, some stay
    table, out, _ = _embedding_run("numpy", False)
    np.testing.assert_array_equal(out, table[TOKENS])


def test_embedding_dropout_is_bit_identical_on_every_backend(float64):
    reference = _embedding_run("numpy", True)
    for backend in BACKENDS[1:]:
        for a, b in zip(_embedding_run(backend, True), reference):
            np.testing.assert_array_equal(a, b)


def test_embedding_dropout_config_and_errors():
    assert "dropout" not in serialize(layers.Embedding(5, 2))["config"]  # tf.keras reads our files
    assert deserialize(serialize(layers.Embedding(5, 2, dropout=0.25))).dropout == 0.25
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(InvalidArgumentError, match=r"Embedding .*dropout must be a float in \[0, 1\)"):
            layers.Embedding(5, 2, dropout=bad)


# ---- old import paths and WeightRegularizer
def test_keras_1_import_paths():
    from multirnn.engine.topology import Input, Layer, Merge
    from multirnn.utils.np_utils import to_categorical
    assert Merge is layers.Merge and Layer is layers.Layer and Input is layers.Input
    np.testing.assert_array_equal(to_categorical([0, 2, 1], 3), np.eye(3)[[0, 2, 1]])
    np.testing.assert_array_equal(to_categorical([1, 0], nb_classes=3), np.eye(3)[[1, 0]])


def test_weight_regularizer_is_keras_1s_l1l2():
    reg = regularizers.WeightRegularizer(l1=0.01, l2=0.02)
    w = RNG.standard_normal((3, 2))
    with backends.use("numpy") as K:
        np.testing.assert_allclose(K.to_numpy(reg(K.constant(w, "float64"))),
                                   0.01 * np.abs(w).sum() + 0.02 * np.square(w).sum(), rtol=1e-12)
        dense = layers.Dense(2, W_regularizer=regularizers.WeightRegularizer(l2=0.1), input_dim=3)
        dense.build((None, 3))
        np.testing.assert_allclose(float(K.to_numpy(dense.losses[0])), 0.1 * np.square(dense.get_weights()[0]).sum(),
                                   rtol=1e-6)
    assert regularizers.serialize(reg) == {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}}
    old = regularizers.get({"name": "WeightRegularizer", "l1": 0.0, "l2": 0.5})  # a Keras 1 config entry
    assert (old.l1, old.l2) == (0.0, 0.5)


# ---- Keras 1 weight lists: W_*, U_*, b_* per gate
def _per_gate(gates, d=4, u=3):
    return {g: [RNG.standard_normal((d, u)), RNG.standard_normal((u, u)), RNG.standard_normal(u)] for g in gates}


def test_keras_1_lstm_weight_list_is_converted(float64):
    """Keras 1 lists LSTM gates i, c, f, o; Keras 2 concatenates i, f, c, o."""
    gates = _per_gate("icfo")
    keras1 = [a for g in "icfo" for a in gates[g]]
    expected = [np.concatenate([gates[g][k] for g in "ifco"], axis=-1) for k in range(3)]
    with backends.use("numpy") as K:
        by_set, by_arg, of_cell = layers.LSTM(3), layers.LSTM(3, weights=keras1), layers.RNN(layers.LSTMCell(3))
        for layer in (by_set, by_arg, of_cell):
            layer(K.constant(X))
        by_set.set_weights(keras1)
        of_cell.set_weights(keras1)
        for layer in (by_set, by_arg, of_cell):
            for got, want in zip(layer.get_weights(), expected):
                np.testing.assert_array_equal(got, want)
        with pytest.raises(ValueError, match=r"LSTM .*a Keras 1 LSTM weight list \(12 arrays\) holds biases"):
            layers.LSTM(3, use_bias=False, weights=keras1)(K.constant(X))


def test_keras_1_gru_weight_list_is_converted_and_needs_reset_after_false(float64):
    gates = _per_gate("zrh")
    keras1 = [a for g in "zrh" for a in gates[g]]
    expected = [np.concatenate([gates[g][k] for g in "zrh"], axis=-1) for k in range(3)]
    with backends.use("numpy") as K:
        gru = layers.GRU(3, reset_after=False, weights=keras1)
        gru(K.constant(X))
        for got, want in zip(gru.get_weights(), expected):
            np.testing.assert_array_equal(got, want)
        with pytest.raises(ValueError, match=r"GRU .*Keras 1 GRU weight list \(9 arrays\).*reset_after=False"):
            layers.GRU(3, weights=keras1)(K.constant(X))
        with pytest.raises(ValueError, match=r"set_weights expects 3 arrays .*got 5"):
            layers.GRU(3, weights=keras1[:5])(K.constant(X))


@needs_h5py
def test_a_keras_1_weight_file_loads_into_lstm_and_gru(tmp_path, float64):
    """A Keras 1 .h5 weight file (per-gate arrays: lstm_1_W_i, ...) loads, converted, as Keras 2 loaded it."""
    import h5py
    lstm_gates, gru_gates = _per_gate("icfo"), _per_gate("zrh", d=3, u=2)
    path = str(tmp_path / "keras1.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"lstm_1", b"gru_1"]
        for layer, gates, order in (("lstm_1", lstm_gates, "icfo"), ("gru_1", gru_gates, "zrh")):
            group = f.create_group(layer)
            names = [f"{layer}_{kind}_{g}".encode() for g in order for kind in "WUb"]
            group.attrs["weight_names"] = names
            for name, array in zip(names, (a for g in order for a in gates[g])):
                group.create_dataset(name.decode(), data=array)
    from multirnn.models import Sequential
    with backends.use("numpy"):
        model = Sequential([layers.LSTM(3, return_sequences=True, input_shape=(5, 4)),
                            layers.GRU(2, reset_after=False)])
        model.load_weights(path)
        lstm, gru = model.layers
    for got, k in zip(lstm.get_weights(), range(3)):
        np.testing.assert_array_equal(got, np.concatenate([lstm_gates[g][k] for g in "ifco"], axis=-1))
    for got, k in zip(gru.get_weights(), range(3)):
        np.testing.assert_array_equal(got, np.concatenate([gru_gates[g][k] for g in "zrh"], axis=-1))


def test_keras_2_1_import_path_of_the_cudnn_layers():
    from multirnn.layers.cudnn_recurrent import CuDNNGRU, CuDNNLSTM
    assert CuDNNLSTM is layers.CuDNNLSTM and CuDNNGRU is layers.CuDNNGRU
