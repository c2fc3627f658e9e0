"""Saving and loading: any backend reads what any other wrote, predictions and the next training
step are identical; no pickle; Lambda refused by default; writes are atomic; Keras 2 .h5 weights."""
import json
import os
import zipfile

import numpy as np
import pytest
from conftest import BACKENDS, needs_h5py, needs_tf_keras

from multirnn import backends
from multirnn.backends import host_random
from multirnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Input, Lambda, SimpleRNN
from multirnn.models import Merge, Model, Sequential, load_model, model_from_json

X = np.random.RandomState(3).rand(6, 4, 3)
Y = np.random.RandomState(4).rand(6, 2)


def _trained(name, path):
    with backends.use(name):
        host_random.set_seed(7)
        model = Sequential([LSTM(3, input_shape=(4, 3), return_sequences=True, dropout=0.2),
                            Bidirectional(GRU(2)), Dropout(0.3), Dense(2)])
        model.compile("adam", "mse", metrics=["mae"])
        model.fit(X, Y, batch_size=3, epochs=1, verbose=0)
        model.save(path)
        return model


def _next_step(model):
    host_random.set_seed(8)
    loss = model.train_on_batch(X[:3], Y[:3])
    return loss, model.get_weights()


@pytest.mark.parametrize("suffix", [".npz", pytest.param(".h5", marks=needs_h5py)])
@pytest.mark.parametrize("source", BACKENDS)
def test_saved_on_one_backend_loads_and_trains_on_every_other(tmp_path, float64, source, suffix):
    path = str(tmp_path / f"model{suffix}")
    original = _trained(source, path)
    expected_pred = original.predict(X)
    expected_loss, expected_weights = _next_step(original)
    for target in BACKENDS:
        with backends.use(target):
            loaded = load_model(path)
        assert loaded.backend_name == target
        np.testing.assert_allclose(loaded.predict(X), expected_pred, rtol=0, atol=1e-12)
        assert loaded.optimizer.iterations == 2
        loss, weights = _next_step(loaded)
        assert abs(loss[0] - expected_loss[0]) < 1e-12, f"{source} -> {target}"
        for w, e in zip(weights, expected_weights):
            np.testing.assert_allclose(w, e, rtol=0, atol=1e-12)


def test_weights_round_trip_and_file_contents(tmp_path):
    host_random.set_seed(1)
    model = Sequential([SimpleRNN(3, input_shape=(4, 3)), Dense(2)])
    path = str(tmp_path / "weights.npz")
    model.save_weights(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["layer0_weight0.npy", "layer0_weight1.npy", "layer0_weight2.npy",
                                        "layer1_weight0.npy", "layer1_weight1.npy", "manifest.npy"]
    with np.load(path, allow_pickle=False) as data:
        manifest = json.loads(str(data["manifest"]))
    assert manifest["layers"][1]["weights"] == [f"{model.layers[1].name}/kernel", f"{model.layers[1].name}/bias"]
    other = Sequential([SimpleRNN(3, input_shape=(4, 3)), Dense(2)])
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="holds weights only"):
        load_model(path)


def test_load_weights_mismatch_and_by_name(tmp_path):
    model = Sequential([SimpleRNN(3, input_shape=(4, 3), name="rnn"), Dense(2, name="out")])
    path = str(tmp_path / "w.npz")
    model.save_weights(path)
    wrong = Sequential([SimpleRNN(3, input_shape=(4, 3)), Dense(5)])
    with pytest.raises(ValueError, match="loading weights of 'out'.*expects shape"):
        wrong.load_weights(path)
    fewer = Sequential([SimpleRNN(3, input_shape=(4, 3))])
    with pytest.raises(ValueError, match="holds weights for 2 layer\\(s\\).*model has 1"):
        fewer.load_weights(path)
    fewer_named = Sequential([SimpleRNN(3, input_shape=(4, 3), name="rnn")])
    fewer_named.load_weights(path, by_name=True)
    np.testing.assert_array_equal(fewer_named.get_weights()[0], model.get_weights()[0])
    mismatch = Sequential([SimpleRNN(3, input_shape=(4, 3), name="rnn"), Dense(5, name="out")])
    mismatch.load_weights(path, by_name=True, skip_mismatch=True)


def test_lambda_is_refused_unless_safe_mode_is_off(tmp_path):
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(Lambda(lambda t: t * 2.0)(x)))
    path = str(tmp_path / "lambda.npz")
    model.save(path)
    with pytest.raises(ValueError, match="Lambda layer .*safe_mode=False"):
        load_model(path)
    with pytest.raises(ValueError, match="Lambda layer"):
        model_from_json(model.to_json())
    loaded = load_model(path, safe_mode=False)
    data = np.ones((2, 3))
    np.testing.assert_allclose(loaded.predict(data), model.predict(data), atol=1e-7)


def test_merge_with_a_callable_mode_is_refused_unless_safe_mode_is_off():
    left = Sequential([Dense(2, input_dim=3)])
    right = Sequential([Dense(2, input_dim=3)])
    model = Sequential([Merge([left, right], mode=lambda t: t[0] - t[1], output_shape=(2,))])
    with pytest.raises(ValueError, match="stores a Python function"):
        model_from_json(model.to_json())
    clone = model_from_json(model.to_json(), safe_mode=False)
    assert clone.output_shape == (None, 2)


def test_failed_save_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    model = Sequential([Dense(2, input_dim=3)])
    path = tmp_path / "model.npz"
    model.save(str(path))
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(str(path))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_architecture_json_round_trip():
    host_random.set_seed(2)
    left = Sequential([LSTM(3, input_shape=(4, 3))])
    right = Sequential([LSTM(3, input_shape=(4, 3))])
    model = Sequential([Merge([left, right], mode="concat"), Dense(2, activation="softmax")])
    clone = model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in clone.layers] == ["Merge", "Dense"]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([X, X]), model.predict([X, X]), atol=1e-7)


def test_custom_loss_is_found_through_custom_objects(tmp_path):
    def doubled_mse(y_true, y_pred):
        from multirnn import backend as K
        return 2.0 * K.mean(K.square(y_pred - y_true), axis=-1)
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", doubled_mse)
    path = str(tmp_path / "custom.npz")
    model.save(path)
    with pytest.raises(ValueError, match="doubled_mse"):
        load_model(path)
    loaded = load_model(path, custom_objects={"doubled_mse": doubled_mse})
    data, target = np.ones((2, 3)), np.zeros((2, 2))
    assert abs(loaded.evaluate(data, target, verbose=0) - model.evaluate(data, target, verbose=0)) < 1e-7


class _CustomLSTM(LSTM):
    """A user's own layer class, known only through custom_objects."""


def _tripled(x):
    return 3 * x


@pytest.mark.parametrize("suffix", ["npz", pytest.param("h5", marks=needs_h5py)])
def test_custom_objects_reach_layers_nested_in_wrappers_and_lambda_globals(tmp_path, suffix):
    """custom_objects given to load_model reach a custom layer inside Bidirectional and a Lambda's globals."""
    model = Sequential([Bidirectional(_CustomLSTM(3), input_shape=(4, 3)), Lambda(lambda x: _tripled(x))])
    path = str(tmp_path / f"nested.{suffix}")
    model.save(path)
    with pytest.raises(ValueError, match="Unknown layer class '_CustomLSTM'"):
        load_model(path, safe_mode=False)
    loaded = load_model(path, custom_objects={"_CustomLSTM": _CustomLSTM, "_tripled": _tripled}, safe_mode=False)
    assert type(loaded.layers[0].forward_layer) is _CustomLSTM
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    clone = model_from_json(model.to_json(), custom_objects={"_CustomLSTM": _CustomLSTM, "_tripled": _tripled},
                            safe_mode=False)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def test_saving_an_unbuilt_model_names_what_is_missing(tmp_path):
    model = Sequential([LSTM(2)], name="deferred")
    with pytest.raises(ValueError, match="Sequential 'deferred' is not built yet, so it has no weights to save: "
                                         "give the first layer an input shape"):
        model.save(str(tmp_path / "m.npz"))
    assert not os.listdir(tmp_path)


def test_load_without_compile_and_unknown_file(tmp_path):
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("adam", "mse")
    path = str(tmp_path / "m.npz")
    model.save(path)
    assert load_model(path, compile=False).optimizer is None
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="neither a multirnn .npz file nor an HDF5"):
        load_model(str(junk))


@needs_tf_keras
def test_keras2_h5_weights_load_both_ways(tmp_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    keras_model = tf_keras.Sequential([tf_keras.layers.LSTM(4, return_sequences=True, input_shape=(4, 3)),
                                       tf_keras.layers.Bidirectional(tf_keras.layers.GRU(3)),
                                       tf_keras.layers.Dense(2)])
    keras_path = str(tmp_path / "keras.h5")
    keras_model.save_weights(keras_path)
    ours = Sequential([LSTM(4, return_sequences=True, input_shape=(4, 3)), Bidirectional(GRU(3)), Dense(2)])
    ours.load_weights(keras_path)
    x = X.astype("float32")
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5)
    ours_path = str(tmp_path / "ours.h5")
    ours.save_weights(ours_path)
    clone = tf_keras.models.clone_model(keras_model)
    clone.load_weights(ours_path)
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, atol=1e-6)


def _two_branch(layers, make_input, concatenate, model_class):
    a, b = make_input(shape=(4, 3), name="a"), make_input(shape=(5,), name="b")
    h = layers.LSTM(3, name="enc")(a)
    aux = layers.Dense(1, name="aux")(h)
    x = layers.Dense(4, name="d1")(concatenate([h, b]))
    x = concatenate([x, layers.Dense(4, name="d2")(b)])
    return model_class([a, b], [layers.Dense(1, name="main")(x), aux])


@needs_tf_keras
def test_functional_layer_order_matches_keras_so_h5_weights_load_by_order(tmp_path):
    import tf_keras

    from multirnn import layers as ours
    from multirnn.layers import concatenate
    keras_model = _two_branch(tf_keras.layers, tf_keras.Input, tf_keras.layers.concatenate, tf_keras.Model)
    model = _two_branch(ours, Input, concatenate, Model)
    def order(m):
        return [layer.name if not layer.name.startswith("concatenate") else "concatenate" for layer in m.layers]
    assert order(model) == order(keras_model)
    path = str(tmp_path / "functional.h5")
    keras_model.save_weights(path)
    model.load_weights(path)
    inputs = [X.astype("float32"), np.ones((6, 5), "float32")]
    for mine, theirs in zip(model.predict(inputs), keras_model.predict(inputs, verbose=0)):
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
