"""The functional API: graphs of layer calls, multi-input/output, shared layers and nodes,
models called like layers, TimeDistributed(model), initial_state tensors, masks, summary."""
import numpy as np
import pytest

from conftest import needs_tf_keras
from multirnn import layers, regularizers
from multirnn.backends import host_random
from multirnn.layers import (GRU, LSTM, Dense, Embedding, Input, Masking, SimpleRNN, TimeDistributed,
                             concatenate, merge)
from multirnn.models import Model, Sequential, model_from_json

RNG = np.random.RandomState(1)
X = RNG.rand(3, 4, 2)
AUX = RNG.rand(3, 5)


def _two_in_two_out():
    main = Input(shape=(4, 2), name="main_input")
    aux = Input(shape=(5,), name="aux_input")
    lstm_out = LSTM(3, name="lstm_enc")(main)
    aux_out = Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    x = merge([lstm_out, aux], mode="concat")
    x = Dense(4, activation="relu", name="hidden")(x)
    main_out = Dense(1, activation="sigmoid", name="main_output")(x)
    return Model(input=[main, aux], output=[main_out, aux_out])


def test_multi_input_multi_output_predict(K):
    host_random.set_seed(0)
    model = _two_in_two_out()
    assert model.input_names == ["main_input", "aux_input"]
    assert model.output_names == ["main_output", "aux_output"]
    main_out, aux_out = model.predict([X, AUX])
    layers = {name: model.get_layer(name) for name in ("lstm_enc", "aux_output", "hidden", "main_output")}
    h = layers["lstm_enc"](K.constant(X))
    expected_aux = K.to_numpy(layers["aux_output"](h))
    hidden = layers["hidden"](K.concatenate([h, K.constant(AUX)], axis=-1))
    expected_main = K.to_numpy(layers["main_output"](hidden))
    np.testing.assert_allclose(aux_out, expected_aux, atol=1e-6)
    np.testing.assert_allclose(main_out, expected_main, atol=1e-6)
    by_name = model.predict({"main_input": X, "aux_input": AUX})
    np.testing.assert_array_equal(by_name[0], main_out)


def test_keras1_and_keras2_constructor_spellings():
    a = Input(shape=(3,))
    b = Dense(2)(a)
    assert Model(inputs=a, outputs=b).output_shape == Model(input=a, output=b).output_shape == (None, 2)
    assert Model(a, b).input_shape == (None, 3)
    with pytest.raises(TypeError, match="both 'input' \\(Keras 1\\) and 'inputs'"):
        Model(inputs=a, input=a, outputs=b)
    with pytest.raises(ValueError, match="give both inputs and outputs"):
        Model(inputs=a)


def test_shared_layer_nodes_and_get_output_at(K):
    tweet_a, tweet_b = Input(shape=(4, 2)), Input(shape=(4, 2))
    shared = LSTM(3)
    encoded_a, encoded_b = shared(tweet_a), shared(tweet_b)
    assert shared.get_output_at(0) is encoded_a and shared.get_output_at(1) is encoded_b
    assert shared.get_input_at(0) is tweet_a and shared.get_input_at(1) is tweet_b
    assert shared.get_output_shape_at(1) == (None, 3)
    with pytest.raises(AttributeError, match="called 2 times"):
        shared.output
    with pytest.raises(ValueError, match="has 2 node"):
        shared.get_output_at(2)
    out = Dense(1, activation="sigmoid")(concatenate([encoded_a, encoded_b]))
    model = Model(input=[tweet_a, tweet_b], output=out)
    assert len(model.trainable_weights) == 5
    a, b = X, X[::-1].copy()
    ha, hb = shared(K.constant(a)), shared(K.constant(b))
    expected = model.layers[-1](K.concatenate([ha, hb]))
    np.testing.assert_allclose(model.predict([a, b]), K.to_numpy(expected), atol=1e-6)


def test_model_called_like_a_layer_reuses_weights(K):
    x = Input(shape=(4, 2))
    inner = Model(x, Dense(2)(SimpleRNN(3)(x)))
    y = inner(Input(shape=(4, 2)))
    assert y.symbolic_shape == (None, 2)
    outer = Model(y.node.inputs[0], Dense(1)(y))
    assert len(outer.trainable_weights) == 7
    direct = inner(K.constant(X))
    np.testing.assert_allclose(K.to_numpy(direct), inner.predict(X), atol=1e-6)
    np.testing.assert_allclose(K.to_numpy(inner(X)), inner.predict(X), atol=1e-6)
    expected = outer.layers[-1](direct)
    np.testing.assert_allclose(outer.predict(X), K.to_numpy(expected), atol=1e-6)


def test_time_distributed_model(K):
    frame = Input(shape=(3,))
    classifier = Model(frame, Dense(2, activation="softmax")(frame))
    sequences = Input(shape=(4, 3))
    processed = TimeDistributed(classifier)(sequences)
    assert processed.symbolic_shape == (None, 4, 2)
    video = Model(sequences, processed)
    x = RNG.rand(2, 4, 3)
    expected = classifier.predict(x.reshape(8, 3)).reshape(2, 4, 2)
    np.testing.assert_allclose(video.predict(x), expected, atol=1e-6)


def test_initial_state_tensors_are_substituted(K):
    host_random.set_seed(2)
    inputs, h0, c0 = Input(shape=(4, 2)), Input(shape=(3,)), Input(shape=(3,))
    layer = LSTM(3)
    model = Model([inputs, h0, c0], layer(inputs, initial_state=[h0, c0]))
    h, c = RNG.rand(3, 3), RNG.rand(3, 3)
    expected = layer(K.constant(X), initial_state=[K.constant(h), K.constant(c)])
    out = model.predict([X, h, c])
    np.testing.assert_allclose(out, K.to_numpy(expected), atol=1e-6)
    assert not np.allclose(out, model.predict([X, 0 * h, 0 * c]))
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([X, h, c]), out, atol=1e-6)


def test_masks_flow_through_the_graph(K):
    ids = Input(shape=(5,), dtype="int32")
    emb = Embedding(8, 3, mask_zero=True)(ids)
    seq = GRU(2, return_sequences=True)(emb)
    last = GRU(2)(seq)
    model = Model(ids, last)
    padded = np.array([[3, 4, 0, 0, 0]])
    short = np.array([[3, 4]])
    layers = model.layers
    vectors = layers[1].get_weights()[0][short]
    expected = layers[3](layers[2](K.constant(vectors)))
    np.testing.assert_allclose(model.predict(padded), K.to_numpy(expected), atol=1e-6)


def test_get_layer_and_errors():
    model = _two_in_two_out()
    assert model.get_layer("hidden").name == "hidden"
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match="no layer named 'nope' in model"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="expects 2 input array\\(s\\) \\(main_input, aux_input\\), got 1"):
        model.predict(X)
    with pytest.raises(ValueError, match="input 'aux_input' expects arrays of shape \\(None, 5\\).*got shape"):
        model.predict([X, RNG.rand(3, 4)])


def test_repeated_layer_names_are_refused():
    x = Input(shape=(3,))
    with pytest.raises(ValueError, match="layer names must be unique within a model; repeated: twin"):
        Model(x, Dense(1, name="twin")(Dense(2, name="twin")(x)))


def test_graph_disconnected_is_a_clear_error():
    a, b = Input(shape=(3,), name="a_in"), Input(shape=(3,), name="b_in")
    out = Dense(1)(concatenate([a, b]))
    with pytest.raises(ValueError, match="graph disconnected.*'b_in'"):
        Model(a, out)


def test_summary_lists_layers_and_params(capsys):
    model = _two_in_two_out()
    model.summary()
    text = capsys.readouterr().out
    assert 'Model: "model' in text
    assert "lstm_enc (LSTM)" in text and "(None, 3)" in text and "main_input[0][0]" in text
    total = sum(w.size for w in model.get_weights())
    assert f"Total params: {total:,}" in text and "Non-trainable params: 0" in text
    lines = []
    Sequential([Masking(input_shape=(4, 2)), SimpleRNN(2)]).summary(print_fn=lines.append)
    assert any("simple_rnn" in line and "(None, 2)" in line for line in lines)


def test_json_round_trip_with_shared_and_nested_models(K):
    x = Input(shape=(4, 2))
    inner = Model(x, LSTM(3)(x))
    a, b = Input(shape=(4, 2)), Input(shape=(4, 2))
    out = Dense(1)(concatenate([inner(a), inner(b)]))
    model = Model([a, b], out)
    clone = model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in clone.layers] == [type(layer).__name__ for layer in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([X, X[::-1]]), model.predict([X, X[::-1]]), atol=1e-6)


def test_trainable_false_freezes_a_nested_model():
    x = Input(shape=(3,))
    inner = Model(x, Dense(2)(x))
    inner.trainable = False
    y = Input(shape=(3,))
    outer = Model(y, Dense(1)(inner(y)))
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 2


@needs_tf_keras
def test_shared_layer_activity_penalties_count_every_call_as_tf_keras():
    """A layer called twice in one model adds both calls' activity penalties, in model.losses and in the loss."""
    import tf_keras

    def build(L, reg):
        left, right = L.Input((3,)), L.Input((3,))
        shared = L.Dense(2, activity_regularizer=reg.l1(0.1), kernel_initializer="ones")
        return shared, L.Add()([shared(left), shared(right)]), [left, right]
    a, b, target = RNG.rand(4, 3), RNG.rand(4, 3), np.zeros((4, 2))
    shared, out, inputs = build(layers, regularizers)
    ours = Model(inputs, out)
    t_shared, t_out, t_inputs = build(tf_keras.layers, tf_keras.regularizers)
    theirs = tf_keras.Model(t_inputs, t_out)
    ours([a, b])
    theirs([a.astype("float32"), b.astype("float32")])
    np.testing.assert_allclose([float(v) for v in ours.losses], [float(v) for v in theirs.losses], rtol=1e-6)
    assert len(shared.losses) == 2
    ours.compile("sgd", "mse")
    theirs.compile("sgd", "mse")
    expected = theirs.evaluate([a.astype("float32"), b.astype("float32")], target, verbose=0)
    np.testing.assert_allclose(ours.evaluate([a, b], target, verbose=0), expected, rtol=1e-5)
    shared(a)
    assert len(shared.losses) == 1  # a new outermost call starts a new count
