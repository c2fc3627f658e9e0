"""Keras 2.1's cuDNN weight layout (CuDNNLSTM, CuDNNGRU): converted as tf_keras's HDF5 loader converts it,
in `interop`, `set_weights` and `load_weights` of a Keras 2.1 file, Bidirectional included."""
import numpy as np
import pytest

from conftest import BACKENDS, needs_h5py, needs_tf_keras
from multirnn import backends, interop, layers
from multirnn.models import Sequential

D, U, STEPS = 4, 3, 5  # features != units, so a transposed input block cannot pass for the right one


def _cudnn_list(cell, seed, units=U, features=D):
    """Random weights in the cuDNN layout: kernel (D, k·u), recurrent (u, k·u), two independent biases."""
    k = {"LSTM": 4, "GRU": 3}[cell]
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((features, k * units)), rng.standard_normal((units, k * units)),
            rng.standard_normal(2 * k * units)]


def _tf_keras_convert(target_class, weights, reset_after=True):
    from tf_keras.src.saving.legacy import hdf5_format
    target = type(target_class, (), {"reset_after": reset_after})()
    return hdf5_format._convert_rnn_weights(target, [np.asarray(w) for w in weights])


@needs_tf_keras
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_conversion_is_tf_keras_s_both_ways(cell):
    cudnn = _cudnn_list(cell, 1)
    ours = interop.from_cudnn(cudnn, cell)
    theirs = _tf_keras_convert(cell, cudnn)
    assert [w.shape for w in ours] == [w.shape for w in theirs] == [(D, len(cudnn[0][0])), (U, len(cudnn[1][0])),
                                                                     (4 * U,) if cell == "LSTM" else (2, 3 * U)]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    back, theirs_back = interop.to_cudnn(ours, cell), _tf_keras_convert(f"CuDNN{cell}", ours)
    for a, b in zip(back, theirs_back):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(interop.from_cudnn(back, cell), ours):  # and back again: the Keras 2 weights unchanged
        np.testing.assert_array_equal(a, b)


def test_set_weights_takes_a_cudnn_list_and_refuses_what_cannot_hold_it(float64):
    x = np.random.default_rng(2).standard_normal((2, STEPS, D))
    with backends.use("numpy") as K:
        for cell, make in (("LSTM", lambda **kw: layers.LSTM(U, **kw)), ("GRU", lambda **kw: layers.GRU(U, **kw)),
                           ("LSTM", lambda **kw: layers.CuDNNLSTM(U, **kw)), ("GRU", lambda **kw: layers.CuDNNGRU(U, **kw)),
                           ("LSTM", lambda **kw: layers.RNN(layers.LSTMCell(U), **kw))):
            cudnn = _cudnn_list(cell, 3)
            by_set, by_arg = make(), make(weights=cudnn)
            for layer in (by_set, by_arg):
                layer(K.constant(x))
            by_set.set_weights(cudnn)
            for layer in (by_set, by_arg):
                for got, want in zip(layer.get_weights(), interop.from_cudnn(cudnn, cell)):
                    np.testing.assert_array_equal(got, want)
        gru = layers.GRU(U, reset_after=False)
        gru(K.constant(x))
        before = gru.get_weights()
        with pytest.raises(ValueError, match=r"GRU .*Keras 2.1 CuDNNGRU weight list \(bias of shape \(18,\)\) is a "
                                             r"GRU with reset_after=True"):
            gru.set_weights(_cudnn_list("GRU", 4))
        lstm = layers.LSTM(U, use_bias=False)
        lstm(K.constant(x))
        with pytest.raises(ValueError, match=r"LSTM .*CuDNNLSTM weight list holds cuDNN's two biases; .*use_bias=False"):
            lstm.set_weights(_cudnn_list("LSTM", 5))
        for got, want in zip(gru.get_weights(), before):  # a refused list changes nothing
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"Keras 2.1 CuDNNLSTM bias for 3 units must have shape \(24,\), got \(12,\)"):
        interop.from_cudnn(_cudnn_list("LSTM", 6)[:2] + [np.zeros(12)], "LSTM")


def _write_keras_2_1_file(path, groups):
    """A Keras 2.1 weight file: `layer_names`, each layer's `weight_names` and datasets, its version attributes."""
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = b"2.1.6", b"tensorflow"
        f.attrs["layer_names"] = [name.encode() for name, _ in groups]
        for name, arrays in groups:
            group = f.create_group(name)
            names = [f"{name}/{name}_{k}/w{k}:0".encode() for k in range(len(arrays))]
            group.attrs["weight_names"] = names
            for weight_name, array in zip(names, arrays):
                group.create_dataset(weight_name.decode(), data=array)


@needs_h5py
@needs_tf_keras
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_keras_2_1_cudnn_file_loads_as_tf_keras_loads_it(tmp_path, float64, backend):
    """CuDNNLSTM -> Bidirectional(CuDNNGRU): multirnn's weights equal tf_keras's after loading, and so do the
    predictions."""
    import tf_keras
    lstm, gru_fw, gru_bw = _cudnn_list("LSTM", 7), _cudnn_list("GRU", 8, units=2, features=U), \
        _cudnn_list("GRU", 9, units=2, features=U)
    path = str(tmp_path / "keras21_cudnn.h5")
    _write_keras_2_1_file(path, [("cu_dnnlstm_1", lstm), ("bidirectional_1", gru_fw + gru_bw)])
    x = np.random.default_rng(10).standard_normal((2, STEPS, D))
    L = tf_keras.layers
    theirs = tf_keras.Sequential([L.LSTM(U, return_sequences=True, dtype="float64", input_shape=(STEPS, D)),
                                  L.Bidirectional(L.GRU(2, reset_after=True, dtype="float64"), dtype="float64")])
    theirs.load_weights(path)
    with backends.use(backend):
        ours = Sequential([layers.CuDNNLSTM(U, return_sequences=True, input_shape=(STEPS, D)),
                           layers.Bidirectional(layers.CuDNNGRU(2))])
        ours.load_weights(path)
        predicted = np.asarray(ours.predict(x, verbose=0))
        weights = ours.get_weights()
    expected = theirs.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in expected]
    for got, want in zip(weights, expected):
        np.testing.assert_array_equal(got, want)
    # tf_keras's eager call: its traced predict in float64 is about 1e-8 from its own eager numbers
    np.testing.assert_allclose(predicted, theirs(x).numpy(), rtol=1e-10, atol=1e-12)


def test_export_refuses_what_has_no_cudnn_layout_and_bidirectional_takes_two_cudnn_halves(float64):
    gru = _cudnn_list("GRU", 11)
    keras2 = interop.from_cudnn(gru, "GRU")
    with pytest.raises(ValueError, match=r"GRU\(reset_after=True\) bias for 3 units must have shape \(2, 9\), got \(9,\)"):
        interop.to_cudnn(keras2[:2] + [np.zeros(9)], "GRU")  # a reset_after=False GRU's bias
    with pytest.raises(ValueError, match=r"LSTM weights are \[kernel, recurrent_kernel, bias\].*got 2 arrays"):
        interop.to_cudnn(interop.from_cudnn(_cudnn_list("LSTM", 12), "LSTM")[:2], "LSTM")
    with pytest.raises(ValueError, match=r"unknown recurrent cell 'Dense'"):
        interop.from_cudnn(gru, "Dense")
    with pytest.raises(ValueError, match=r"the cuDNN layout exists for LSTM and GRU, not 'SimpleRNN'"):
        interop.from_cudnn(gru, "SimpleRNN")
    x = np.random.default_rng(13).standard_normal((2, STEPS, D))
    fw, bw = _cudnn_list("GRU", 14), _cudnn_list("GRU", 15)
    with backends.use("numpy") as K:
        bi = layers.Bidirectional(layers.CuDNNGRU(U))
        bi(K.constant(x))
        bi.set_weights(fw + bw)
        for got, want in zip(bi.get_weights(), interop.from_cudnn(fw, "GRU") + interop.from_cudnn(bw, "GRU")):
            np.testing.assert_array_equal(got, want)
