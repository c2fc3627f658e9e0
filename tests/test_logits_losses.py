"""Crossentropies from the logits of a sigmoid/softmax output layer, against live tf_keras: saturated and
ordinary outputs, evaluate, train_on_batch/test_on_batch and fit, the crossentropy metrics, masks."""
import functools

import numpy as np
import pytest

from conftest import needs_tf_keras
from helpers import assert_close
from multirnn import layers, losses

X = np.array([[1.0, 2.0], [0.5, -1.0], [-0.25, 0.75]])
SATURATED_1 = [np.array([[10.0], [10.0]]), np.array([0.0])]
SATURATED_2 = [np.array([[10.0, -10.0], [10.0, -10.0]]), np.array([0.0, 0.0])]
Y_BIN = np.array([[0.0], [1.0], [1.0]])
Y_CAT = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
Y_IDS = np.array([[1], [0], [1]])

# (name, layers as (class, args, kwargs), loss, targets, metrics)
CASES = [
    ("dense_sigmoid", [("Dense", (1,), dict(activation="sigmoid"))], "binary_crossentropy", Y_BIN,
     ["binary_crossentropy", "accuracy"]),
    ("activation_sigmoid", [("Dense", (1,), {}), ("Activation", ("sigmoid",), {})], "binary_crossentropy", Y_BIN,
     ["binary_crossentropy"]),
    ("dense_softmax", [("Dense", (2,), dict(activation="softmax"))], "categorical_crossentropy", Y_CAT,
     ["categorical_crossentropy", "accuracy"]),
    ("dense_softmax_sparse", [("Dense", (2,), dict(activation="softmax"))], "sparse_categorical_crossentropy",
     Y_IDS, ["sparse_categorical_crossentropy", "accuracy"]),
    ("softmax_binary", [("Dense", (2,), dict(activation="softmax"))], "binary_crossentropy", Y_CAT,
     ["binary_crossentropy"]),  # tf_keras takes the softmax's logits into the sigmoid crossentropy too
    ("dense_then_dropout", [("Dense", (1,), dict(activation="sigmoid")), ("Dropout", (0.0,), {})],
     "binary_crossentropy", Y_BIN, []),  # not the activation's own output: clipped probabilities, as tf_keras
]


def _build(lib, spec, input_shape, dtype=None):
    extra = {} if dtype is None else dict(dtype=dtype)
    stack = [getattr(lib.layers, cls)(*args, **kwargs, **extra) for cls, args, kwargs in spec]
    model = lib.Sequential(stack)
    model.build((None,) + input_shape)
    return model


@functools.lru_cache(maxsize=None)
def _tf_keras_cached(name: str, saturated: bool, epochs: int):
    """tf_keras's numbers for a case, computed once for all backends."""
    _, spec, loss, y, metrics = next(c for c in CASES if c[0] == name)
    return _tf_keras(spec, loss, y, metrics, _weights(spec, saturated), epochs)


def _weights(spec, saturated):
    units = spec[0][1][0]
    if saturated:
        return SATURATED_1 if units == 1 else SATURATED_2
    rng = np.random.default_rng(2)
    return [rng.standard_normal((2, units)) * 0.5, rng.standard_normal(units) * 0.1]


def _tf_keras(spec, loss, y, metrics, weights, epochs=0):
    import tf_keras
    tf_keras.backend.set_floatx("float64")
    try:
        model = _build(tf_keras, spec, (2,), "float64")
        model.set_weights(weights)
        model.compile(tf_keras.optimizers.legacy.SGD(0.125), loss, metrics=metrics)
        out = {"evaluate": model.evaluate(X, y, verbose=0), "test_on_batch": model.test_on_batch(X, y),
               "train_on_batch": model.train_on_batch(X, y), "weights": model.get_weights()}
        if epochs:
            out["history"] = model.fit(X, y, batch_size=2, epochs=epochs, shuffle=False, verbose=0).history["loss"]
            out["weights"] = model.get_weights()
        return out
    finally:
        tf_keras.backend.set_floatx("float32")


def _ours(spec, loss, y, metrics, weights, epochs=0):
    import multirnn.models as models
    from multirnn import optimizers

    class Lib:
        Sequential = models.Sequential
    Lib.layers = layers
    model = _build(Lib, spec, (2,))
    model.set_weights(weights)
    model.compile(optimizers.SGD(0.125), loss, metrics=metrics)
    out = {"evaluate": model.evaluate(X, y, verbose=0), "test_on_batch": model.test_on_batch(X, y),
           "train_on_batch": model.train_on_batch(X, y), "weights": model.get_weights()}
    if epochs:
        out["history"] = model.fit(X, y, batch_size=2, epochs=epochs, shuffle=False, verbose=0).history["loss"]
        out["weights"] = model.get_weights()
    return out


def _compare(got, expected, what, K):
    for key in expected:
        if key == "weights":
            for k, (a, b) in enumerate(zip(got[key], expected[key])):
                assert_close(a, b, "float64", f"{what}: weight {k} on {K.backend()} vs tf_keras")
        else:  # tf_keras reports losses and metrics through float32 means
            assert_close(np.atleast_1d(got[key]), np.atleast_1d(expected[key]), "float32",
                         f"{what}: {key} on {K.backend()} vs tf_keras")


@needs_tf_keras
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_saturated_outputs_match_tf_keras(K, float64, case):
    name, spec, loss, y, metrics = case
    weights = _weights(spec, True)
    expected = _tf_keras_cached(name, True, 0)
    got = _ours(spec, loss, y, metrics, weights)
    _compare(got, expected, name, K)
    if name != "dense_then_dropout":  # from logits the gradient is not zero at saturation
        assert not np.allclose(got["weights"][0], weights[0], atol=1e-3), f"{name}: saturated, nothing moved"


ORDINARY = [CASES[0], CASES[3]]  # sigmoid and softmax (the saturated cases cover every layer and loss)


@needs_tf_keras
@pytest.mark.parametrize("case", ORDINARY, ids=[c[0] for c in ORDINARY])
def test_ordinary_training_matches_tf_keras(K, float64, case):
    name, spec, loss, y, metrics = case
    expected = _tf_keras_cached(name, False, 2)
    got = _ours(spec, loss, y, metrics, _weights(spec, False), epochs=2)
    _compare(got, expected, name, K)


def test_issue_example_loss_and_gradient(K, float64):
    """A sigmoid output at saturation on the wrong side: loss 20 (not the clipped 15.33) and a gradient."""
    from multirnn.models import Sequential
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(1,))])
    model.set_weights([np.array([[20.0]]), np.array([0.0])])
    model.compile("sgd", "binary_crossentropy")
    expected = 20.0 + np.log1p(np.exp(-20.0))  # the clipped formula gives -log(2e-7) = 15.42
    assert_close(model.evaluate(np.ones((1, 1)), np.zeros((1, 1)), verbose=0), expected, "float64", "saturated loss")
    model.train_on_batch(np.ones((1, 1)), np.zeros((1, 1)))
    assert model.get_weights()[0][0, 0] < 20.0 - 1e-3


def test_own_probabilities_keep_the_clipped_formula(K, float64):
    """Probabilities given directly (not a layer's sigmoid output) are clipped at epsilon, as tf_keras."""
    p, y = K.constant(np.array([[1.0], [0.5]])), K.constant(np.array([[0.0], [1.0]]))
    eps = 1e-7
    expected = [-np.log(eps + eps), -np.log(0.5 + eps)]
    # 1 - (1 - eps) is eps only to 1e-10 in float64
    assert_close(K.to_numpy(losses.binary_crossentropy(y, p)), expected, "float64", "clipped binary crossentropy",
                 tol=1e-9)
    logits = K.constant(np.array([[30.0], [0.0]]))
    assert_close(K.to_numpy(losses.binary_crossentropy(y, logits, from_logits=True)), [30.0, np.log(2.0)],
                 "float64", "binary crossentropy from logits")


def _masked_data():
    rng = np.random.default_rng(4)
    x = np.array([[1, 2, 0, 0], [3, 1, 2, 0], [2, 2, 2, 1]])
    y = rng.integers(0, 3, (3, 4))
    sw = np.array([1.0, 0.5, 2.0])
    weights = [rng.standard_normal((4, 2)), rng.standard_normal((2, 3)) * 6, rng.standard_normal((3, 3)) * 3,
               rng.standard_normal(3), rng.standard_normal((3, 3)) * 8, rng.standard_normal(3)]
    return x, y, sw, weights


@functools.lru_cache(maxsize=None)
def _masked_tf_keras():
    import tf_keras
    x, y, sw, weights = _masked_data()
    tf_keras.backend.set_floatx("float64")
    try:
        tl = tf_keras.layers
        theirs = tf_keras.Sequential([tl.Embedding(4, 2, mask_zero=True), tl.SimpleRNN(3, return_sequences=True),
                                      tl.Dense(3, activation="softmax")])
        theirs.build((None, 4))
        theirs.set_weights(weights)
        theirs.compile(tf_keras.optimizers.legacy.SGD(0.125), "sparse_categorical_crossentropy")
        expected_eval = theirs.evaluate(x, y, sample_weight=sw, verbose=0)
        expected_train = theirs.train_on_batch(x, y, sample_weight=sw)
        return expected_eval, expected_train, theirs.get_weights()
    finally:
        tf_keras.backend.set_floatx("float32")


@needs_tf_keras
def test_masked_sequence_classifier_matches_tf_keras(K, float64):
    """Embedding(mask_zero) -> SimpleRNN(return_sequences) -> Dense(softmax) inside a nested model, sparse
    labels with sample weights: the masked steps drop out of a loss taken from the logits."""
    from multirnn.layers import Dense, Embedding, Input, SimpleRNN
    from multirnn.models import Model, Sequential
    x, y, sw, weights = _masked_data()
    expected_eval, expected_train, expected_weights = _masked_tf_keras()
    inner = Sequential([Embedding(4, 2, mask_zero=True, input_length=4), SimpleRNN(3, return_sequences=True),
                        Dense(3, activation="softmax")])
    inputs = Input(shape=(4,))
    ours = Model(inputs, inner(inputs))
    ours.set_weights(weights)
    ours.compile(optimizers_sgd(), "sparse_categorical_crossentropy")
    assert_close(ours.evaluate(x, y, sample_weight=sw, verbose=0), expected_eval, "float32", "masked evaluate")
    assert_close(ours.train_on_batch(x, y, sample_weight=sw), expected_train, "float32", "masked train_on_batch")
    for k, (a, b) in enumerate(zip(ours.get_weights(), expected_weights)):
        assert_close(a, b, "float64", f"weight {k} after a masked step on {K.backend()} vs tf_keras")


def optimizers_sgd():
    from multirnn import optimizers
    return optimizers.SGD(0.125)
