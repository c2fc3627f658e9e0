"""Weight converters: torch.nn state dicts, Keras 1 per-gate lists, tf_keras layers; round trips and forward equality."""
import os

import numpy as np
import pytest

from conftest import needs_tf_keras, needs_torch
from multirnn import backends, interop, layers

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 5, 4))
CASES = [("LSTM", {}), ("LSTM", {"use_bias": False}), ("GRU", {}), ("GRU", {"use_bias": False}),
         ("SimpleRNN", {}), ("SimpleRNN", {"activation": "relu"})]


def ours(cell, bidirectional=False, **kwargs):
    """A built float64 numpy-backend layer with random non-zero weights (biases included)."""
    with backends.use("numpy"):
        layer = getattr(layers, cell)(3, return_sequences=True, dtype="float64", **kwargs)
        if bidirectional:
            layer = layers.Bidirectional(layer)
        layer._build_once(X.shape)
        layer.set_weights([RNG.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    return layer


def run(layer, x=X):
    with backends.use(layer.backend_name) as K:
        return K.to_numpy(layer(K.constant(x, "float64")))


def test_keras_torch_round_trip_all_cells():
    for cell, kwargs in CASES:
        for bi in (False, True):
            weights = ours(cell, bi, **kwargs).get_weights()
            state = interop.keras_to_torch(weights, cell, bidirectional=bi)
            assert ("weight_ih_l0_reverse" in state) == bi
            back = interop.torch_to_keras(state, cell)
            assert len(back) == len(weights)
            for a, b in zip(weights, back):
                np.testing.assert_array_equal(a, b)


def test_torch_layouts_and_gate_orders():
    u = 3
    kernel = np.arange(4 * 12, dtype=float).reshape(4, 12)
    recurrent = np.arange(3 * 12, dtype=float).reshape(3, 12)
    lstm = interop.keras_to_torch([kernel, recurrent, np.arange(12.0)], "LSTM")
    np.testing.assert_array_equal(lstm["weight_ih_l0"], kernel.T)  # i, f, c, o == i, f, g, o
    np.testing.assert_array_equal(lstm["bias_hh_l0"], np.zeros(12))
    k3, r3 = kernel[:, :9], recurrent[:, :9]
    gru = interop.keras_to_torch([k3, r3, np.arange(18.0).reshape(2, 9)], "GRU")
    np.testing.assert_array_equal(gru["weight_ih_l0"][:u], k3[:, u:2 * u].T)  # torch r = ours r (block 1)
    np.testing.assert_array_equal(gru["weight_ih_l0"][u:2 * u], k3[:, :u].T)  # torch z = ours z (block 0)
    np.testing.assert_array_equal(gru["bias_hh_l0"][2 * u:], np.arange(15.0, 18.0))  # n = ours h, row 1


def test_lstm_import_sums_the_two_torch_biases():
    state = interop.keras_to_torch(ours("LSTM").get_weights(), "LSTM")
    state["bias_hh_l0"] = np.full(12, 0.25)
    bias = interop.torch_to_keras(state, "LSTM")[2]
    np.testing.assert_allclose(bias, state["bias_ih_l0"] + 0.25)


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"reset_after=True\) only"):
        interop.keras_to_torch(ours("GRU", reset_after=False).get_weights(), "GRU")
    with pytest.raises(ValueError, match="unknown recurrent cell"):
        interop.keras_to_torch([], "ConvLSTM")
    with pytest.raises(ValueError, match="always have a bias"):
        interop.to_keras1(ours("LSTM", use_bias=False).get_weights(), "LSTM")
    with pytest.raises(ValueError, match="reset_after=False"):
        interop.to_keras1(ours("GRU").get_weights(), "GRU")


@needs_torch
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell,kwargs", CASES, ids=[f"{c}-{'-'.join(map(str, k.values())) or 'default'}" for c, k in CASES])
def test_torch_module_gives_our_outputs(cell, kwargs, bidirectional):
    import torch
    layer = ours(cell, bidirectional, **kwargs)
    module = interop.torch_module(layer, dtype="float64")
    got, _ = module(torch.tensor(X))
    want = run(layer)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=0, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_from_torch_loads_a_torch_module(cell):
    import torch
    torch.manual_seed(0)
    module = getattr(torch.nn, {"SimpleRNN": "RNN"}.get(cell, cell))(4, 3, batch_first=True).double()
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.7, 0.7)  # b_hh != 0, so the LSTM/RNN bias sum matters
    layer = ours(cell)
    interop.from_torch(module.state_dict(), layer)
    got = run(layer)
    want, _ = module(torch.tensor(X))
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=0, atol=1e-12)
    back = interop.to_torch(layer)
    restored = getattr(torch.nn, {"SimpleRNN": "RNN"}.get(cell, cell))(4, 3, batch_first=True).double()
    restored.load_state_dict(back)
    np.testing.assert_allclose(restored(torch.tensor(X))[0].detach().numpy(), want.detach().numpy(), atol=1e-12)


def _keras1_lstm(x, w):
    """Keras 1's LSTM written from its per-gate weights (hard_sigmoid gates, tanh), as a reference."""
    W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o = w

    def hs(v):
        return np.clip(0.2 * v + 0.5, 0.0, 1.0)
    h = c = np.zeros((x.shape[0], U_i.shape[0]))
    for t in range(x.shape[1]):
        xt = x[:, t]
        i, f = hs(xt @ W_i + h @ U_i + b_i), hs(xt @ W_f + h @ U_f + b_f)
        c = f * c + i * np.tanh(xt @ W_c + h @ U_c + b_c)
        h = hs(xt @ W_o + h @ U_o + b_o) * np.tanh(c)
    return h


def _keras1_gru(x, w):
    """Keras 1's GRU (reset before the recurrent product) from W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h."""
    W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h = w

    def hs(v):
        return np.clip(0.2 * v + 0.5, 0.0, 1.0)
    h = np.zeros((x.shape[0], U_z.shape[0]))
    for t in range(x.shape[1]):
        xt = x[:, t]
        z, r = hs(xt @ W_z + h @ U_z + b_z), hs(xt @ W_r + h @ U_r + b_r)
        h = z * h + (1 - z) * np.tanh(xt @ W_h + (r * h) @ U_h + b_h)
    return h


@pytest.mark.parametrize("cell,reference", [("LSTM", _keras1_lstm), ("GRU", _keras1_gru)])
def test_keras1_lists_follow_keras1_gate_order(cell, reference):
    extra = {"reset_after": False} if cell == "GRU" else {}
    with backends.use("numpy") as K:
        layer = getattr(layers, cell)(3, recurrent_activation="hard_sigmoid", dtype="float64", **extra)
        layer._build_once(X.shape)
        layer.set_weights([RNG.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
        got = K.to_numpy(layer(K.constant(X, "float64")))
    keras1 = interop.to_keras1(layer.get_weights(), cell)
    assert len(keras1) == (12 if cell == "LSTM" else 9)
    np.testing.assert_allclose(reference(X, keras1), got, rtol=0, atol=1e-12)
    for a, b in zip(interop.from_keras1(keras1, cell), layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras1_simple_rnn_is_the_keras2_layout():
    weights = ours("SimpleRNN").get_weights()
    for a, b in zip(interop.to_keras1(weights, "SimpleRNN"), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="has 12 weight arrays"):
        interop.from_keras1(weights, "LSTM")


TF_CASES = [("LSTM", {}, False), ("GRU", {}, False), ("GRU", {"reset_after": False}, True),
            ("SimpleRNN", {"activation": "relu"}, False), ("LSTM", {"go_backwards": True}, True)]


@needs_tf_keras
@pytest.mark.parametrize("cell,kwargs,bidirectional", TF_CASES)
def test_tf_keras_round_trip(cell, kwargs, bidirectional):
    layer = ours(cell, bidirectional, **kwargs)
    tf_layer = interop.to_tf_keras(layer)
    want = run(layer)
    np.testing.assert_allclose(tf_layer(X).numpy(), want, rtol=0, atol=1e-12)
    back = interop.from_tf_keras(tf_layer, backend="numpy")
    np.testing.assert_allclose(run(back), want, rtol=0, atol=1e-12)
    assert type(getattr(back, "forward_layer", back)).__name__ == cell
    for a, b in zip(back.get_weights(), tf_layer.get_weights()):
        np.testing.assert_array_equal(a, b)
