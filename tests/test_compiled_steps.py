"""Compiled training, test and predict steps (TensorFlow): the numbers of the eager path and of NumPy,
one trace per input signature, random draws fed in from the host."""
import numpy as np
import pytest

from multirnn import backend as K
from multirnn.errors import InvalidArgumentError
from multirnn.layers import LSTM, GRU, Dense, Dropout, Embedding, Input, SimpleRNN
from multirnn.models import Model, Sequential

tensorflow_only = pytest.mark.skipif(not K.frameworks.HAS_TENSORFLOW, reason="needs tensorflow")


def _data(samples=37, steps=5, features=3, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, steps, features)), np.eye(classes)[rng.integers(0, classes, samples)]


def _dropout_model(seed=None):
    return Sequential([LSTM(8, input_shape=(5, 3), dropout=0.2, recurrent_dropout=0.1, seed=seed),
                       Dropout(0.3, seed=None if seed is None else seed + 1), Dense(2, activation="softmax")])


def _train(backend, build, run_eagerly, optimizer="adam", epochs=2, **fit):
    with K.use(backend):
        K.set_random_seed(7)
        model = build()
        model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"], run_eagerly=run_eagerly)
        x, y = _data()
        history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, **fit).history
        return model, history, model.evaluate(x, y, batch_size=16, verbose=0), model.predict(x, batch_size=16)


def _traces(model) -> dict:
    """Traces of the model's compiled steps, by kind, and of its optimizer's compiled updates."""
    out = {kind: compiled.traces for (kind, *_), (_, compiled) in model._steps.items() if compiled is not None}
    out["update"] = sum(u.traces for u in model.optimizer._compiled_updates.values() if u is not None)
    return out


def _same(a, b, atol=0.0):
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u, np.float64), np.asarray(v, np.float64), rtol=0, atol=atol)


@tensorflow_only
@pytest.mark.parametrize("seed", [None, 11])
def test_compiled_steps_give_the_eager_numbers_with_dropout(seed):
    compiled, h1, e1, p1 = _train("tensorflow", lambda: _dropout_model(seed), False)
    eager, h2, e2, p2 = _train("tensorflow", lambda: _dropout_model(seed), True)
    # float32: the graph may fuse ops (MatMul + BiasAdd), so the last bits can differ from op-by-op
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    assert h1["accuracy"] == h2["accuracy"]
    np.testing.assert_allclose(e1, e2, rtol=1e-6)
    _same(compiled.get_weights(), eager.get_weights(), atol=1e-6)
    _same([p1], [p2], atol=1e-6)
    assert _traces(compiled)["whole"] >= 1 and not _traces(eager).get("whole")


@tensorflow_only
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"])
def test_compiled_steps_follow_numpy_for_every_optimizer(optimizer):
    with K.use("numpy"):
        K.set_floatx("float64")
    try:
        reference, h1, _, _ = _train("numpy", lambda: _dropout_model(), False, optimizer)
        compiled, h2, _, _ = _train("tensorflow", lambda: _dropout_model(), False, optimizer)
    finally:
        K.set_floatx("float32")
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-10)
    _same(reference.get_weights(), compiled.get_weights(), atol=1e-10)


@tensorflow_only
def test_one_trace_per_batch_shape():
    """An epoch whose last batch is smaller traces the training step twice; later epochs never again. The
    whole step (forward, gradients, update) is one trace; the optimizer's separate update is not used."""
    model, _, _, _ = _train("tensorflow", lambda: _dropout_model(), False, epochs=1)
    assert _traces(model) == {"whole": 2, "test": 2, "predict": 2, "update": 0}
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    model.evaluate(x, y, batch_size=16, verbose=0)
    assert _traces(model) == {"whole": 2, "test": 2, "predict": 2, "update": 0}


@tensorflow_only
def test_masked_multi_output_model_with_sample_weights():
    def build():
        tokens = Input((6,), dtype="int32")
        seq = Embedding(10, 4, mask_zero=True)(tokens)
        a = GRU(5, recurrent_dropout=0.2)(seq)
        b = SimpleRNN(3, dropout=0.1)(seq)
        return Model(tokens, [Dense(2, activation="softmax", name="a")(a), Dense(1, name="b")(b)])
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, (23, 6))
    x[:, :2] = 0
    y = [np.eye(2)[rng.integers(0, 2, 23)], rng.normal(size=(23, 1))]
    w = rng.uniform(0.5, 2, 23)
    runs = []
    for eager in (True, False):
        with K.use("tensorflow"):
            K.set_random_seed(5)
            model = build()
            model.compile("rmsprop", ["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                          metrics={"a": "accuracy"}, weighted_metrics={"b": "mae"}, run_eagerly=eager)
            history = model.fit(x, y, sample_weight=[w, w], batch_size=5, epochs=2, verbose=0).history
            runs.append((model.get_weights(), history, model.evaluate(x, y, verbose=0)))
    _same(runs[0][0], runs[1][0], atol=1e-6)
    for key, values in runs[0][1].items():
        np.testing.assert_allclose(values, runs[1][1][key], rtol=1e-6)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-6)
    assert set(runs[1][1]) == {"loss", "a_loss", "b_loss", "a_accuracy", "b_mae"}


@tensorflow_only
def test_stateful_model_carries_its_states_through_compiled_steps():
    def build():
        return Sequential([LSTM(4, batch_input_shape=(4, 5, 3), stateful=True, return_sequences=True),
                           LSTM(3, stateful=True), Dense(2, activation="softmax")])
    x, y = _data(16)
    results = []
    for eager in (True, False):
        with K.use("tensorflow"):
            K.set_random_seed(2)
            model = build()
            model.compile("sgd", "categorical_crossentropy", run_eagerly=eager)
            model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
            states = [np.asarray(K.to_numpy(s)) for layer in model.layers[:2] for s in layer.states]
            results.append((model.get_weights(), states, model.predict(x[:4], batch_size=4)))
    _same(results[0][0], results[1][0], atol=1e-6)
    _same(results[0][1], results[1][1], atol=1e-6)
    _same([results[0][2]], [results[1][2]], atol=1e-6)
    assert any(np.abs(s).max() > 0 for s in results[1][1])


@tensorflow_only
def test_a_non_finite_loss_is_skipped_by_the_compiled_step():
    with K.use("tensorflow"):
        model = Sequential([SimpleRNN(3, input_shape=(4, 2)), Dense(1)])
        model.compile("sgd", "mse")
        before = model.get_weights()
        x, y = np.ones((2, 4, 2)), np.array([[np.nan], [1.0]])
        with pytest.warns(RuntimeWarning, match="not finite"):
            model.train_on_batch(x, y)
        _same(before, model.get_weights())
        with pytest.raises(InvalidArgumentError, match="not finite"):
            model.train_on_batch(x, y, on_nonfinite="raise")
        assert model.optimizer.iterations == 0


def test_run_eagerly_must_be_a_bool():
    model = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(InvalidArgumentError, match="run_eagerly must be True, False or None, got 'yes'"):
        model.compile("sgd", "mse", run_eagerly="yes")
    assert model.optimizer is None


def test_other_backends_run_the_body_itself():
    for name in [n for n in ("numpy", "torch") if n in K.available()]:
        model, _, _, _ = _train(name, lambda: _dropout_model(), False, epochs=1)
        assert all(compiled is None for _, compiled in model._steps.values())


@tensorflow_only
def test_a_custom_cell_trains_the_same_compiled_eager_and_on_numpy():
    from multirnn.conformance.cells import MinimalGRUCell
    from multirnn.layers import RNN, LSTMCell

    def build():
        return Sequential([RNN([MinimalGRUCell(4), LSTMCell(3, dropout=0.2)], input_shape=(5, 3)),
                           Dense(2, activation="softmax")])
    with K.use("numpy"):
        K.set_floatx("float64")
    try:
        runs = [_train(b, build, eager, "adam")[:2] for b, eager in (("numpy", False), ("tensorflow", True),
                                                                      ("tensorflow", False))]
    finally:
        K.set_floatx("float32")
    for model, history in runs[1:]:
        np.testing.assert_allclose(history["loss"], runs[0][1]["loss"], rtol=1e-10)
        _same(model.get_weights(), runs[0][0].get_weights(), atol=1e-10)
