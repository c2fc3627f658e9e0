"""Tiny cells (one unit, constant weights) against values worked out from the formulas by hand."""
import math

import numpy as np
import pytest

from multirnn import initializers, layers

X = [1.0, 2.0, -0.5]


def sig(z):
    return 1 / (1 + math.exp(-z))


def hard_sig(z):
    return min(max(0.2 * z + 0.5, 0.0), 1.0)


def run(K, layer, xs=X):
    x = K.constant(np.array(xs).reshape(1, len(xs), 1))
    return [float(v) for v in K.to_numpy(layer(x)).ravel()]


def constant_weights(**kw):
    return dict(kernel_initializer=initializers.Constant(0.5), recurrent_initializer=initializers.Constant(0.25),
                bias_initializer=initializers.Constant(0.1), return_sequences=True, **kw)


def test_simple_rnn(K, float64):
    h, want = 0.0, []
    for x in X:
        h = math.tanh(0.5 * x + 0.25 * h + 0.1)
        want.append(h)
    assert run(K, layers.SimpleRNN(1, **constant_weights())) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("ract,ract_name", [(sig, "sigmoid"), (hard_sig, "hard_sigmoid")])
def test_lstm_with_unit_forget_bias(K, float64, ract, ract_name):
    h = c = 0.0
    want = []
    for x in X:
        z = 0.5 * x + 0.25 * h + 0.1
        i, f, g, o = ract(z), ract(z + 0.9), math.tanh(z), ract(z)  # forget bias is 1, not 0.1
        c = f * c + i * g
        h = o * math.tanh(c)
        want.append(h)
    layer = layers.LSTM(1, recurrent_activation=ract_name, **constant_weights())
    assert run(K, layer) == pytest.approx(want, abs=1e-12)
    assert np.allclose(layer.get_weights()[2], [0.1, 1.0, 0.1, 0.1])


def test_lstm_without_unit_forget_bias(K, float64):
    h = c = 0.0
    want = []
    for x in X:
        z = 0.5 * x + 0.25 * h + 0.1
        i, f, g, o = sig(z), sig(z), math.tanh(z), sig(z)
        c = f * c + i * g
        h = o * math.tanh(c)
        want.append(h)
    assert run(K, layers.LSTM(1, unit_forget_bias=False, **constant_weights())) == pytest.approx(want, abs=1e-12)


def test_gru_reset_after(K, float64):
    h, want = 0.0, []
    for x in X:
        z = sig(0.5 * x + 0.1 + 0.25 * h + 0.1)
        r = sig(0.5 * x + 0.1 + 0.25 * h + 0.1)
        hh = math.tanh(0.5 * x + 0.1 + r * (0.25 * h + 0.1))
        h = z * h + (1 - z) * hh
        want.append(h)
    layer = layers.GRU(1, reset_after=True, **constant_weights())
    assert run(K, layer) == pytest.approx(want, abs=1e-12)
    assert layer.get_weights()[2].shape == (2, 3)


@pytest.mark.parametrize("implementation", [1, 2])
def test_gru_reset_before(K, float64, implementation):
    h, want = 0.0, []
    for x in X:
        z = sig(0.5 * x + 0.25 * h + 0.1)
        r = sig(0.5 * x + 0.25 * h + 0.1)
        hh = math.tanh(0.5 * x + 0.1 + 0.25 * (r * h))
        h = z * h + (1 - z) * hh
        want.append(h)
    layer = layers.GRU(1, reset_after=False, implementation=implementation, **constant_weights())
    assert run(K, layer) == pytest.approx(want, abs=1e-12)
    assert layer.get_weights()[2].shape == (3,)


def test_go_backwards_reads_last_to_first(K, float64):
    h, want = 0.0, []
    for x in reversed(X):
        h = math.tanh(0.5 * x + 0.25 * h + 0.1)
        want.append(h)
    assert run(K, layers.SimpleRNN(1, go_backwards=True, **constant_weights())) == pytest.approx(want, abs=1e-12)


def test_masked_step_carries_output_and_state(K, float64):
    h1 = math.tanh(0.5 * X[0] + 0.1)
    h3 = math.tanh(0.5 * X[2] + 0.25 * h1 + 0.1)
    layer = layers.SimpleRNN(1, **constant_weights())
    x = K.constant(np.array(X).reshape(1, 3, 1))
    out = K.to_numpy(layer(x, mask=K.constant([[True, False, True]], "bool"))).ravel()
    assert out == pytest.approx([h1, h1, h3], abs=1e-12)


def test_dropout_is_identity_at_inference(K, float64):
    plain = layers.LSTM(1, **constant_weights())
    dropped = layers.LSTM(1, dropout=0.5, recurrent_dropout=0.5, **constant_weights())
    assert run(K, dropped) == pytest.approx(run(K, plain), abs=1e-15)


def test_dropout_in_training_uses_inverted_masks(K, float64):
    """With every input dropped but one step kept, the kept input is scaled by 1/(1-p)."""
    layer = layers.SimpleRNN(1, dropout=0.5, seed=3, **constant_weights())
    x = K.constant(np.array(X).reshape(1, 3, 1))
    out = K.to_numpy(layer(x, training=True)).ravel()
    candidates = []
    for keep in (0.0, 2.0):
        h, seq = 0.0, []
        for v in X:
            h = math.tanh(0.5 * v * keep + 0.25 * h + 0.1)
            seq.append(h)
        candidates.append(seq)
    assert any(out == pytest.approx(c, abs=1e-12) for c in candidates)
