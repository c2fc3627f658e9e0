"""Sequential: list or add, deferred build, masks between layers, pop, Keras 1 Merge, errors."""
import numpy as np
import pytest

from multirnn import backends
from multirnn.backends import host_random
from multirnn.layers import LSTM, Dense, Dropout, Embedding, Input, Masking, SimpleRNN
from multirnn.models import Merge, Model, Sequential

RNG = np.random.RandomState(0)
X = RNG.rand(4, 5, 3)


def test_list_and_add_build_the_same_model(K):
    host_random.set_seed(1)
    a = Sequential([LSTM(4, input_shape=(5, 3), return_sequences=True), SimpleRNN(2), Dense(3)])
    host_random.set_seed(1)
    b = Sequential()
    b.add(LSTM(4, input_shape=(5, 3), return_sequences=True))
    b.add(SimpleRNN(2))
    b.add(Dense(3))
    assert [type(layer).__name__ for layer in b.layers] == ["LSTM", "SimpleRNN", "Dense"]
    assert a.input_shape == (None, 5, 3) and a.output_shape == (None, 3)
    assert a.backend_name == K.name
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.predict(X).shape == (4, 3)


def test_keras1_ways_of_giving_the_input_shape_are_equivalent():
    models = []
    for kwargs in ({"input_shape": (5, 3)}, {"batch_input_shape": (None, 5, 3)},
                   {"input_dim": 3, "input_length": 5}):
        host_random.set_seed(2)
        models.append(Sequential([LSTM(4, **kwargs)]))
    outs = [m.predict(X) for m in models]
    assert all(m.input_shape == (None, 5, 3) for m in models)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_deferred_two_lstms_predict_without_any_input_shape(K):
    model = Sequential()
    model.add(LSTM(4, return_sequences=True))
    model.add(LSTM(3))
    assert not model.built
    out = model.predict(X)
    assert out.shape == (4, 3) and model.built
    assert model.input_shape == (None, 5, 3) and model.output_shape == (None, 3)
    first, second = model.layers
    expected = K.to_numpy(second(first(K.constant(X))))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_deferred_build_from_fit_and_from_a_symbolic_call(K):
    model = Sequential([LSTM(2), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(X, np.zeros((4, 1)), epochs=1, verbose=0)
    assert model.output_shape == (None, 1)
    other = Sequential([SimpleRNN(3)])
    out = other(Input(shape=(7, 2)))
    assert out.symbolic_shape == (None, 3) and other.input_shape == (None, 7, 2)


def test_masks_flow_between_layers(K):
    """Padding with a masked zero gives the same final output as the unpadded sequence."""
    host_random.set_seed(3)
    model = Sequential([Embedding(10, 3, mask_zero=True, input_length=5), LSTM(4, return_sequences=True), LSTM(2)])
    padded = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    out = model.predict(padded)
    emb, first, second = model.layers
    vectors = emb.get_weights()[0][np.array([[1, 2, 3]])]
    alone = K.to_numpy(second(first(K.constant(vectors))))
    np.testing.assert_allclose(out[:1], alone, atol=1e-6)


def test_masking_layer_masks_the_recurrent_layer(K):
    host_random.set_seed(4)
    model = Sequential([Masking(0.0, input_shape=(None, 3)), SimpleRNN(3)])
    x = X.copy()
    x[:, 3:] = 0.0
    np.testing.assert_allclose(model.predict(x), model.predict(x[:, :3]), atol=1e-6)


def test_pop_removes_the_last_layer():
    model = Sequential([LSTM(4, input_shape=(5, 3)), Dense(3), Dense(2)])
    model.pop()
    assert model.output_shape == (None, 3) and len(model.layers) == 2
    assert model.predict(X).shape == (4, 3)
    model.add(Dense(6))
    assert model.predict(X).shape == (4, 6)
    model.pop(), model.pop(), model.pop()
    with pytest.raises(TypeError, match="no layers to pop"):
        model.pop()


def test_nested_sequential_as_a_layer(K):
    inner = Sequential([LSTM(3, input_shape=(5, 3))])
    outer = Sequential([inner, Dense(2)])
    assert outer.output_shape == (None, 2)
    expected = outer.layers[1](K.constant(inner.predict(X)))
    np.testing.assert_allclose(outer.predict(X), K.to_numpy(expected), atol=1e-6)
    assert len(outer.trainable_weights) == 5


def test_stateful_sequential_keeps_and_resets_states():
    model = Sequential([LSTM(3, stateful=True, batch_input_shape=(4, 5, 3)), Dense(1)])
    first = model.predict(X, batch_size=4)
    second = model.predict(X, batch_size=4)
    assert not np.allclose(first, second)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(X, batch_size=4), first)


def _branches(K):
    left = Sequential([Dense(4, input_dim=3)])
    right = Sequential([Dense(4, input_dim=3)])
    return left, right


MODES = {
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "dot": lambda a, b: np.sum(a * b, axis=-1, keepdims=True),
    "cos": lambda a, b: np.sum(a * b, axis=-1, keepdims=True)
    / np.linalg.norm(a, axis=-1, keepdims=True) / np.linalg.norm(b, axis=-1, keepdims=True),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_merge_of_sequential_branches(K, mode):
    host_random.set_seed(5)
    left, right = _branches(K)
    model = Sequential([Merge([left, right], mode=mode)])
    a, b = RNG.rand(6, 3), RNG.rand(6, 3)
    expected = MODES[mode](left.predict(a), right.predict(b))
    np.testing.assert_allclose(model.predict([a, b]), expected, rtol=1e-5, atol=1e-6)
    assert model.output_shape == (None,) + expected.shape[1:]
    assert len(model.input_names) == 2


def test_merge_with_a_callable_mode_and_output_shape(K):
    left, right = _branches(K)
    model = Sequential([Merge([left, right], mode=lambda x: x[0] - x[1], output_shape=(4,))])
    a, b = RNG.rand(3, 3), RNG.rand(3, 3)
    np.testing.assert_allclose(model.predict([a, b]), left.predict(a) - right.predict(b), atol=1e-6)


def test_merge_seed_example_trains_the_branches(K):
    """The Keras 1 guide's example: two branches, concat, softmax; fit on a list of arrays."""
    host_random.set_seed(6)
    left, right = _branches(K)
    model = Sequential()
    model.add(Merge([left, right], mode="concat"))
    model.add(Dense(2, activation="softmax"))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    before = left.get_weights()[0]
    history = model.fit([RNG.rand(8, 3), RNG.rand(8, 3)], np.eye(2)[[0, 1] * 4], nb_epoch=2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    assert not np.allclose(left.get_weights()[0], before)
    assert len(model.trainable_weights) == 6


def test_merge_errors():
    deferred = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="branch 'sequential.*' is not built"):
        Merge([deferred, Sequential([Dense(2, input_dim=3)])])
    with pytest.raises(ValueError, match="unknown mode 'avg'"):
        Merge(mode="avg")
    with pytest.raises(ValueError, match="at least 2"):
        Merge([Sequential([Dense(2, input_dim=3)])])


def test_sequential_errors():
    model = Sequential([Dense(2, input_dim=3, name="d")])
    with pytest.raises(TypeError, match="expects a layer instance, got int"):
        model.add(3)
    with pytest.raises(ValueError, match="named 'd' is already in the model"):
        model.add(Dense(2, name="d"))
    with pytest.raises(ValueError, match="returns 2 tensors"):
        Sequential([SimpleRNN(2, return_state=True, input_shape=(5, 3))])
    deferred = Sequential([LSTM(2)], name="later")
    with pytest.raises(ValueError, match="Sequential 'later' is not built.*input shape"):
        deferred.summary()
    with pytest.raises(ValueError, match="Sequential 'empty' has no layers"):
        Sequential(name="empty").predict(X)


def test_backend_mismatch_is_refused():
    if "torch" not in backends.available():
        pytest.skip("needs torch")
    with backends.use("torch"):
        layer = Dense(2, input_dim=3)
    with pytest.raises(ValueError, match="created under the numpy backend but layer .* under torch"):
        Sequential([layer])


def test_sequential_used_in_a_functional_model(K):
    vision = Sequential([LSTM(3, input_shape=(5, 3))])
    a, b = Input(shape=(5, 3)), Input(shape=(5, 3))
    model = Model([a, b], [vision(a), vision(b)])
    out_a, out_b = model.predict([X, X[::-1]])
    np.testing.assert_allclose(out_a, vision.predict(X), atol=1e-6)
    np.testing.assert_allclose(out_b, vision.predict(X[::-1]), atol=1e-6)


def test_dropout_only_in_training(K):
    model = Sequential([Dropout(0.5, input_shape=(3,))])
    x = np.ones((2, 3))
    np.testing.assert_array_equal(model.predict(x), x)
