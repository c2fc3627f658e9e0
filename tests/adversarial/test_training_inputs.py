"""Bad training inputs raise one clear error (type and message the same on every backend); NaN steps,
failed stateful calls and a broken multirnn.json leave the model and settings as they were."""
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import BACKENDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multirnn import backend as K_any
from multirnn import backends, callbacks, layers
from multirnn.backends import config, host_random
from multirnn.errors import InvalidArgumentError, MultirnnError
from multirnn.layers import (GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Input, SimpleRNN,
                             TimeDistributed)
from multirnn.models import Model, Sequential, load_model
from multirnn.optimizers import SGD

RNG = np.random.RandomState(7)
X, Y = RNG.rand(4, 2, 3), RNG.rand(4, 1)


def _model(loss="mse", units=1, activation=None, return_sequences=False):
    host_random.set_seed(1)
    x = Input(shape=(None, 3), name="x")
    h = SimpleRNN(2, return_sequences=return_sequences, name="rnn")(x)
    out = (TimeDistributed(Dense(units, activation=activation, name="d"), name="td")(h) if return_sequences
           else Dense(units, activation=activation, name="out")(h))
    model = Model(x, out, name="m")
    model.compile(SGD(lr=0.1), loss)
    return model


def _weights(model) -> list:
    return [np.array(w) for w in model.get_weights()]


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v, equal_nan=True) for u, v in zip(a, b))


def _batches(x, y, size=2):
    while True:
        for s in range(0, len(x), size):
            yield x[s:s + size], y[s:s + size]


# ---- 1. targets must fit their output

@pytest.mark.parametrize("method", ["fit", "train_on_batch", "evaluate", "test_on_batch", "fit_generator",
                                    "evaluate_generator"])
def test_targets_that_only_broadcast_are_refused(K, method):
    model, y = _model(), RNG.rand(4, 3)
    before = _weights(model)
    call = {"fit": lambda: model.fit(X, y, verbose=0), "train_on_batch": lambda: model.train_on_batch(X, y),
            "evaluate": lambda: model.evaluate(X, y, verbose=0), "test_on_batch": lambda: model.test_on_batch(X, y),
            "fit_generator": lambda: model.fit_generator(_batches(X, y), steps_per_epoch=2, verbose=0),
            "evaluate_generator": lambda: model.evaluate_generator(_batches(X, y), steps=2)}[method]
    with pytest.raises(InvalidArgumentError) as info:
        call()
    shape = "(4, 3)" if method in ("fit", "train_on_batch", "evaluate", "test_on_batch") else "(2, 3)"
    assert str(info.value) == (f"Model 'm'.{method}: target for output 'out' (loss 'mean_squared_error') expects "
                               f"shape (None, 1) (None = any), got shape {shape}")
    assert _same(before, _weights(model))


def test_legitimate_target_shapes_are_accepted(K):
    _model().train_on_batch(X, RNG.rand(4))  # (batch,) for a (batch, 1) output
    sparse = _model("sparse_categorical_crossentropy", units=3, activation="softmax")
    labels = np.array([0, 2, 1, 2])
    assert sparse.test_on_batch(X, labels) == sparse.test_on_batch(X, labels[:, None].astype(float))
    sparse.train_on_batch(X, labels)
    temporal = _model(units=2, return_sequences=True)
    temporal.train_on_batch(X, RNG.rand(4, 2, 2))
    _model("sparse_categorical_crossentropy", units=3, activation="softmax", return_sequences=True).train_on_batch(
        X, np.array([[0, 1], [2, 2], [1, 0], [0, 0]]))

    def my_loss(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1)
    _model(my_loss, units=3).train_on_batch(X, RNG.rand(4))  # a custom loss: only the rank is checked
    _model(my_loss, units=3).train_on_batch(X, RNG.rand(4, 1))


def test_refused_targets_name_the_loss_and_hint_at_sparse_labels(K):
    with pytest.raises(InvalidArgumentError) as info:
        _model("categorical_crossentropy", units=3, activation="softmax").fit(X, np.array([0, 1, 2, 1]), verbose=0)
    assert str(info.value) == ("Model 'm'.fit: target for output 'out' (loss 'categorical_crossentropy') expects "
                               "shape (None, 3) (None = any), got shape (4,); for integer class labels use "
                               "loss='sparse_categorical_crossentropy'")
    with pytest.raises(InvalidArgumentError, match=r"'m'.train_on_batch: target for output 'out' \(loss "
                                                   r"'sparse_categorical_crossentropy'\) expects shape \(None,\) or "
                                                   r"\(None, 1\) \(None = any\), got shape \(4, 3\)"):
        _model("sparse_categorical_crossentropy", units=3, activation="softmax").train_on_batch(X, RNG.rand(4, 3))
    with pytest.raises(InvalidArgumentError, match=r"expects rank 2 or 1 \(output \(None, 1\); only the rank is "
                                                   r"checked for a custom loss\), got shape \(4, 2, 1\)$"):
        _model(lambda t, p: K.mean(K.square(p - t), axis=-1)).train_on_batch(X, RNG.rand(4, 2, 1))


# ---- 2. degenerate sizes and options

def test_empty_data_is_an_error(K):
    model, x0, y0 = _model(), X[:0], Y[:0]
    for method, call in (("fit", lambda: model.fit(x0, y0, verbose=0)),
                         ("train_on_batch", lambda: model.train_on_batch(x0, y0)),
                         ("evaluate", lambda: model.evaluate(x0, y0, verbose=0)),
                         ("test_on_batch", lambda: model.test_on_batch(x0, y0)),
                         ("predict", lambda: model.predict(x0))):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == f"Model 'm'.{method}: expected input data to be non-empty, got 0 samples"
    assert model.predict_on_batch(x0).shape == (0, 1)  # as tf.keras


@pytest.mark.parametrize("value, error", [(0, InvalidArgumentError), (-2, InvalidArgumentError), (2.0, TypeError),
                                          ("8", TypeError), (True, TypeError)])
def test_batch_size_must_be_a_positive_int(K, value, error):
    model = _model()
    for method, call in (("fit", lambda: model.fit(X, Y, batch_size=value, verbose=0)),
                         ("evaluate", lambda: model.evaluate(X, Y, batch_size=value, verbose=0)),
                         ("predict", lambda: model.predict(X, batch_size=value))):
        with pytest.raises(error) as info:
            call()
        assert str(info.value).startswith(f"Model 'm'.{method}: batch_size must be a positive int (or None for 32), "
                                          f"got {value!r}")


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": -1}, "epochs must be an int >= 0, got -1"),
    ({"epochs": 1.5}, "epochs must be an int >= 0, got 1.5 of type float"),
    ({"epochs": "2"}, "epochs must be an int >= 0, got '2' of type str"),
    ({"epochs": 2, "initial_epoch": 3}, "initial_epoch (3) is after epochs (2); epochs is the index of the last "
                                        "epoch + 1, not a count from initial_epoch"),
    ({"shuffle": "bogus"}, "shuffle must be True, False or 'batch', got 'bogus'"),
    ({"verbose": "x"}, "verbose must be 0, 1, 2 or 'auto', got 'x'"),
    ({"verbose": 3}, "verbose must be 0, 1, 2 or 'auto', got 3"),
    ({"on_nonfinite": "ignore"}, "on_nonfinite must be one of 'skip', 'apply', 'raise', got 'ignore'"),
])
def test_bad_fit_options(K, kwargs, message):
    model = _model()
    before = _weights(model)
    options = dict({"verbose": 0}, **kwargs)
    for method, call in (("fit", lambda: model.fit(X, Y, **options)),
                         ("fit_generator", lambda: model.fit_generator(_batches(X, Y), 2, **options))):
        with pytest.raises((InvalidArgumentError, TypeError)) as info:
            call()
        assert str(info.value) == f"Model 'm'.{method}: {message}"
    assert _same(before, _weights(model))


def test_accepted_fit_options(K, capsys):
    model = _model()
    before = _weights(model)
    assert model.fit(X, Y, epochs=2, initial_epoch=2, verbose=0).epoch == []  # no training, as Keras
    assert _same(before, _weights(model))
    assert model.fit(X, Y, epochs=0, verbose=0).epoch == []
    assert model.fit(X, Y, batch_size=np.int64(2), shuffle="batch", verbose="auto").epoch == [0]
    assert "Epoch 1/1" in capsys.readouterr().out
    model.fit(X, Y, shuffle=False, verbose=2, epochs=np.int32(1))


# ---- 3. zero-length sequences and zero features

@pytest.mark.parametrize("shape, axis", [((4, 0, 3), 1), ((4, 2, 0), 2)])
def test_empty_axes_are_refused_before_any_backend_op(K, monkeypatch, shape, axis):
    if shape[2] == 0:  # a recurrent layer with no features is refused when the graph is built
        with pytest.raises(InvalidArgumentError, match=r"LSTM 'lstm0': expected input \(batch, timesteps >= 1, "
                                                       r"features >= 1\), got shape \(None, None, 0\)"):
            LSTM(2, name="lstm0")(Input(shape=(None, 0)))
    x = Input(shape=(None, max(shape[2], 1)), name="x")
    model = Model(x, Dense(1, name="out")(LSTM(2, name="lstm")(x)), name="m")
    model.compile("sgd", "mse")

    def boom(*args, **kwargs):
        raise AssertionError("a backend op ran")
    for op in ("constant", "rnn", "variable"):
        monkeypatch.setattr(backends.get(K.name), op, boom)
    expected = (f"input 'x' has shape {shape}, empty along axis {axis}; every axis but the batch axis needs at "
                "least one entry (a recurrent layer needs at least one timestep and one feature)")
    if shape[2] == 0:
        expected = f"input 'x' expects arrays of shape (None, None, 1) (None = any), got shape {shape}"
    target = np.zeros((4, 1))
    for method, call in (("predict", lambda: model.predict(np.zeros(shape))),
                         ("predict_on_batch", lambda: model.predict_on_batch(np.zeros(shape))),
                         ("fit", lambda: model.fit(np.zeros(shape), target, verbose=0)),
                         ("train_on_batch", lambda: model.train_on_batch(np.zeros(shape), target))):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == f"Model 'm'.{method}: {expected}"


def test_a_deferred_sequential_refuses_empty_axes_before_building(K):
    model = Sequential([LSTM(2, name="lstm")], name="s")
    with pytest.raises(InvalidArgumentError, match=r"^Sequential 's'.predict: input 'input' has shape \(2, 0, 3\), "
                                                   r"empty along axis 1"):
        model.predict(np.zeros((2, 0, 3)))
    assert not model.outputs


# ---- 4. and 5. layer arguments

def test_embedding_refuses_non_integral_float_indices(K):
    host_random.set_seed(0)
    model = Sequential([Embedding(5, 2, input_length=3, name="emb")], name="s")
    whole = model.predict(np.array([[1.0, 2.0, 4.0]]))
    assert np.array_equal(whole, model.predict(np.array([[1, 2, 4]])))
    for bad, shown in ((1.5, "1.5"), (np.nan, "nan"), (np.inf, "inf")):
        with pytest.raises(InvalidArgumentError) as info:
            model.predict(np.array([[1.0, bad, 4.0]]))
        assert str(info.value) == ("Embedding 'emb': indices must be integers (whole floats such as 3.0 are "
                                   f"accepted), got 1 non-integral value(s) such as {shown}")


def test_wrappers_and_dropout_check_their_arguments(K):
    with pytest.raises(TypeError, match=r"^TimeDistributed: the layer argument must be a Layer instance, got 'str' "
                                        r"of type str$"):
        TimeDistributed("str")
    with pytest.raises(TypeError, match=r"^Bidirectional: the layer argument must be a recurrent layer instance, "
                                        r"got 'lstm' of type str$"):
        Bidirectional("lstm")
    with pytest.raises(TypeError, match=r"^Dropout 'drop': rate must be a float in \[0, 1\), got 'abc' of type str$"):
        Dropout("abc", name="drop")
    with pytest.raises(TypeError, match=r"^Dropout 'drop': rate must be a float in \[0, 1\), got None"):
        Dropout(name="drop")
    with pytest.raises(InvalidArgumentError, match=r"^Dropout 'drop': rate must be a float in \[0, 1\), got 1.5$"):
        Dropout(1.5, name="drop")
    assert Dropout(np.float32(0.25)).rate == 0.25


# ---- 6. a step whose loss is not finite

def _nan_targets():
    y = Y.copy()
    y[3] = np.nan
    return y


def test_a_nonfinite_step_is_skipped_with_one_warning_per_epoch(K):
    reference, model = _model(), _model()
    reference.train_on_batch(X[:2], Y[:2])
    with pytest.warns(RuntimeWarning) as caught:
        history = model.fit(X, _nan_targets(), batch_size=2, epochs=2, shuffle=False, verbose=0)
    messages = [str(w.message) for w in caught if "not finite" in str(w.message)]
    assert messages == [f"Model 'm'.fit: epoch {e}: the loss of 1 of 2 batch(es) was not finite (nan or inf), so "
                        "their weight updates were skipped (on_nonfinite='skip'); pass on_nonfinite='raise' to stop "
                        "at such a batch or 'apply' to update anyway" for e in (1, 2)]
    assert math.isnan(history.history["loss"][0])
    reference.train_on_batch(X[:2], Y[:2])
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in _weights(model)]),
                               np.concatenate([w.ravel() for w in _weights(reference)]), rtol=1e-6)


def test_nan_inputs_skip_the_step_too(K):
    model, x = _model(), X.copy()
    x[0, 1, 2] = np.nan
    before = _weights(model)
    with pytest.warns(RuntimeWarning, match="Model 'm'.train_on_batch: the loss of 1 of 1 batch"):
        assert math.isnan(model.train_on_batch(x, Y))
    assert _same(before, _weights(model)) and model.optimizer.iterations == 0


def test_nonfinite_raise_and_apply(K):
    model = _model()
    before = _weights(model)
    with pytest.raises(InvalidArgumentError) as info:
        model.fit(X, _nan_targets(), batch_size=2, shuffle=False, verbose=0, on_nonfinite="raise")
    assert str(info.value) == ("Model 'm'.fit: batch 1 of epoch 1: the loss is nan, not finite; the weights were left "
                               "unchanged (on_nonfinite='raise')")
    assert not _same(before, _weights(model))  # batch 0 was applied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.train_on_batch(X, _nan_targets(), on_nonfinite="apply")
    assert all(np.isnan(w).any() for w in _weights(model)[-2:])


def test_terminate_on_nan_still_stops_training(K):
    model = _model()
    with pytest.warns(RuntimeWarning, match="not finite"):
        history = model.fit(X, _nan_targets(), batch_size=2, epochs=3, shuffle=False, verbose=0,
                            callbacks=[callbacks.TerminateOnNaN()])
    assert history.epoch == [0]


# ---- 7. a failing stateful call leaves the states as they were

def _stateful_model():
    host_random.set_seed(3)
    tokens = Input(batch_shape=(2, 3), name="tokens")
    h = Embedding(6, 2, name="emb")(tokens)
    a = LSTM(2, stateful=True, name="lstm")(h)
    b = Bidirectional(GRU(2, stateful=True, name="gru"), name="bi")(h)
    model = Model(tokens, layers.concatenate([a, b]), name="sm")
    model.compile("sgd", "mse")
    model.predict(np.ones((2, 3)), batch_size=2)  # states away from zero
    return model


def _states(model) -> list:
    found = [model.get_layer("lstm"), model.get_layer("bi").forward_layer, model.get_layer("bi").backward_layer]
    return [np.array(backends.get(model.backend_name).to_numpy(s)) for layer in found for s in layer.states]


class _FailAt(callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def _check(self, batch, logs=None):
        if batch == self.batch:
            raise RuntimeError("stop")
    on_predict_batch_begin = on_test_batch_begin = _check


def test_failing_stateful_calls_leave_the_states_bit_identical(K):
    model = _stateful_model()
    before = _states(model)
    tokens, targets = np.array([[1, 2, 3]] * 4), np.zeros((4, 6))
    out_of_range = tokens.copy()
    out_of_range[2:] = 9  # fails in the second batch, after the first has advanced the states
    attempts = [(InvalidArgumentError, lambda: model.predict(out_of_range, batch_size=2)),
                (InvalidArgumentError, lambda: model.evaluate(out_of_range, targets, batch_size=2, verbose=0)),
                (RuntimeError, lambda: model.predict(tokens, batch_size=2, callbacks=[_FailAt(1)])),
                (RuntimeError, lambda: model.evaluate(tokens, targets, batch_size=2, verbose=0,
                                                      callbacks=[_FailAt(1)])),
                (InvalidArgumentError, lambda: model.predict(tokens[:3], batch_size=2)),
                (InvalidArgumentError, lambda: model.predict_generator(iter([tokens[:2], out_of_range[2:]]), steps=2))]
    for error, attempt in attempts:
        with pytest.raises(error):
            attempt()
        assert all(np.array_equal(u, v) for u, v in zip(before, _states(model)))
    with pytest.raises(InvalidArgumentError, match=r"^Model 'sm'.predict: layer 'lstm' is stateful, so the number of "
                                                   r"samples \(3\) must be a multiple of batch_size \(2\)$"):
        model.predict(tokens[:3], batch_size=2)


def test_a_skipped_step_keeps_the_states(K):
    model = _stateful_model()
    before = _states(model)
    targets = np.zeros((2, 6))
    targets[0, 0] = np.inf
    with pytest.warns(RuntimeWarning, match="not finite"):
        model.train_on_batch(np.array([[1, 2, 3]] * 2), targets)
    assert all(np.array_equal(u, v) for u, v in zip(before, _states(model)))


# ---- 8. a broken multirnn.json

@pytest.fixture
def user_file(tmp_path, monkeypatch):
    """Write `multirnn.json` in a private home and load it as at import; restore everything after."""
    saved = dict(config._settings)
    monkeypatch.setenv("MULTIRNN_HOME", str(tmp_path))

    def write(**keys):
        (tmp_path / "multirnn.json").write_text(json.dumps(keys))
        config._load_user_defaults()
        return str(tmp_path / "multirnn.json")
    yield write
    monkeypatch.undo()
    config._load_user_defaults()
    config._settings.update(saved)


@pytest.mark.parametrize("keys, key, message", [
    ({"epsilon": "abc"}, "epsilon", "expected a finite number >= 0, got 'abc'"),
    ({"epsilon": -1e-7}, "epsilon", "expected a finite number >= 0, got -1e-07"),
    ({"floatx": "float8", "epsilon": 1e-3}, "floatx",
     "expected one of 'float16', 'float32', 'float64', got 'float8'"),
])
def test_a_bad_user_file_fails_on_first_use(user_file, keys, key, message):
    path = user_file(**keys)
    expected = f'multirnn config file {path}: "{key}": {message} (fix the file, or call set_{key}(...) before use)'
    for read in (config.epsilon, config.floatx, lambda: Sequential([Dense(2, input_shape=(3,))])):
        with pytest.raises(ValueError) as info:
            read()
        assert str(info.value) == expected
    getattr(config, f"set_{key}")("float64" if key == "floatx" else 1e-6)  # overriding the key clears it
    assert config.epsilon() > 0 and config.floatx() in ("float64", "float32")


def test_import_works_with_a_broken_user_file(tmp_path):
    (tmp_path / "multirnn.json").write_text(json.dumps({"epsilon": "abc"}))
    env = dict(os.environ, MULTIRNN_HOME=str(tmp_path))
    env.pop("MULTIRNN_BACKEND", None)
    code = ("import multirnn\nfrom multirnn import backend as K\ntry:\n    K.zeros(1)\n"
            "except ValueError as e:\n    print('error:', e)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (f'error: multirnn config file {tmp_path / "multirnn.json"}: "epsilon": expected a '
                                  "finite number >= 0, got 'abc' (fix the file, or call set_epsilon(...) before use)")


def test_setters_check_their_values():
    with pytest.raises(ValueError, match=r"^set_epsilon: expected a finite number >= 0, got 'abc'$"):
        config.set_epsilon("abc")
    with pytest.raises(ValueError, match=r"^set_epsilon: expected a finite number >= 0, got -1.0$"):
        config.set_epsilon(-1)
    with pytest.raises(ValueError, match=r"^set_floatx: expected one of 'float16', 'float32', 'float64', got 32$"):
        config.set_floatx(32)


# ---- fuzz: random small models, shapes (sizes of 0 included) and actions

ALLOWED = (MultirnnError, ValueError, TypeError)
OWNERS = ("Model", "Dense", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "Embedding", "Dropout",
          "Input", "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
          "mean_squared_error")  # K names the loss that refused its labels
CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


def fuzz_loss(y_true, y_pred):
    """A custom loss that takes targets of any shape (only their mean is used)."""
    return K_any.mean(K_any.square(y_pred), axis=-1) - K_any.mean(y_true)


@st.composite
def cases(draw) -> dict:
    """One case: a model kind and sizes (0 now and then), input and target shapes (mostly right), an action."""
    def pick(common, rare=(), weight=3):
        return draw(st.sampled_from(list(common) * weight + list(rare)))
    return dict(kind=pick(["dense", "rnn", "bidirectional", "embedding", "dropout", "sequences"]),
                cell=pick(sorted(CELLS)), n=pick([1, 2, 3, 4], [0]), t=pick([1, 2, 3], [0], 2),
                f=pick([1, 2, 3], [0], 2), units=pick([1, 2, 3], [0]), out=pick([1, 2, 3], [0]),
                loss=pick(["mse", "sparse_categorical_crossentropy", fuzz_loss]),
                x_shape=pick(["exact"], ["wrong_last", "wrong_rank", "float_indices"], 8),
                y_shape=pick(["exact"], ["labels", "drop_last", "wrong_last", "extra_axis", "wrong_batch"], 6),
                action=pick(["predict", "predict_on_batch", "train_on_batch", "test_on_batch", "fit", "evaluate",
                             "save_load"]),
                batch_size=pick([None, 1, 2, 3], [0, -1, 1.5], 2), epochs=pick([1, 2], [0, -1], 2),
                nan=pick([False], [True], 8), seed=pick([0, 1, 2]))


def _build(c):
    host_random.set_seed(c["seed"])
    sequence = (c["t"],) if c["kind"] == "embedding" else () if c["kind"] in ("dense", "dropout") else (c["t"], c["f"])
    x = Input(shape=sequence or (c["f"],), name="x")
    cell = CELLS[c["cell"]]
    if c["kind"] in ("dense", "dropout"):
        h = Dense(c["units"], name="hidden")(x)
        h = Dropout(0.5, seed=1, name="drop")(h) if c["kind"] == "dropout" else h
    elif c["kind"] == "embedding":
        h = cell(c["units"], name="rnn")(Embedding(c["f"], 2, name="emb")(x))
    elif c["kind"] == "bidirectional":
        h = Bidirectional(cell(c["units"], name="rnn"), merge_mode="sum", name="bi")(x)
    else:
        h = cell(c["units"], return_sequences=c["kind"] == "sequences", name="rnn")(x)
    activation = "softmax" if c["loss"] == "sparse_categorical_crossentropy" else None
    head = Dense(c["out"], activation=activation, name="out")
    model = Model(x, TimeDistributed(head, name="td")(h) if c["kind"] == "sequences" else head(h), name="m")
    model.compile(SGD(lr=0.1), c["loss"])
    return model


def _data(c, model):
    rng = np.random.RandomState(c["seed"])
    shape = (c["n"],) + tuple(model.inputs[0].symbolic_shape[1:])
    shape = {"wrong_last": shape[:-1] + (shape[-1] + 1,), "wrong_rank": shape + (1,)}.get(c["x_shape"], shape)
    if c["kind"] == "embedding":
        x = rng.randint(0, max(c["f"], 1) + (c["x_shape"] != "exact"), shape).astype(float)
        x += 0.5 * (c["x_shape"] == "float_indices")
    else:
        x = rng.rand(*shape)
    out = (c["n"],) + tuple(model.outputs[0].symbolic_shape[1:])
    labels = rng.randint(0, max(out[-1], 1), out[:-1]).astype(float)
    y = {"labels": labels, "drop_last": rng.rand(*out[:-1]), "wrong_last": rng.rand(*out[:-1], out[-1] + 1),
         "extra_axis": rng.rand(*out, 1), "wrong_batch": rng.rand(c["n"] + 1, *out[1:])}.get(c["y_shape"])
    y = (labels if c["loss"] == "sparse_categorical_crossentropy" else rng.rand(*out)) if y is None else y
    if c["nan"] and x.size:
        x.flat[0] = np.nan
    return x, y


def _act(c, path):
    """The outcome of one case under the backend in force: ('ok', arrays) or ('error', type name, message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _build(c)
            x, y = _data(c, model)
            action, bs = c["action"], c["batch_size"]
            if action in ("predict", "predict_on_batch"):
                result = [model.predict(x, batch_size=bs) if action == "predict" else model.predict_on_batch(x)]
            elif action in ("train_on_batch", "test_on_batch"):
                result = [getattr(model, action)(x, y)] + _weights(model)
            elif action == "fit":
                history = model.fit(x, y, batch_size=bs, epochs=c["epochs"], shuffle=False, verbose=0).history
                result = [history[k] for k in sorted(history)] + _weights(model)
            elif action == "evaluate":
                result = [model.evaluate(x, y, batch_size=bs, verbose=0)]
            else:
                model.save(path)
                loaded = load_model(path, compile=False)
                result = _weights(loaded) + [loaded.predict_on_batch(x)]
    except ALLOWED as e:
        if not str(e).startswith(OWNERS):
            raise AssertionError(f"{type(e).__name__} not naming its owner: {e}") from e
        return ("error", type(e).__name__, str(e))
    return ("ok", [np.asarray(r, dtype=np.float64) for r in result])


def _same_outcome(got, want) -> bool:
    if got[0] != want[0] or got[0] == "error":
        return got == want
    return len(got[1]) == len(want[1]) and all(
        u.shape == v.shape and np.allclose(u, v, rtol=1e-6, atol=1e-6, equal_nan=True) for u, v in zip(got[1], want[1]))


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("fuzz") / "model.npz")


def _fuzz(backend: str, examples: int, seen: list):
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(c=cases())
    def run(c, path):
        seen.append(c["action"])
        previous = config.floatx()
        config.set_floatx("float64")
        try:
            with backends.use("numpy"):
                want = _act(c, path)
            if backend != "numpy":
                with backends.use(backend):
                    got = _act(c, path)
                assert _same_outcome(got, want), f"{backend}: {got}\nnumpy: {want}"
        finally:
            config.set_floatx(previous)
    return run


@pytest.mark.parametrize("backend, examples", [("numpy", 1700), ("torch", 300), ("tensorflow", 150)])
def test_fuzz_gives_the_numpy_result_or_a_clear_error(backend, examples, fuzz_file):
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not installed")
    seen = []
    _fuzz(backend, examples, seen)(path=fuzz_file)
    assert len(seen) >= examples
