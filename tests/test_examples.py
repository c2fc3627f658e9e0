"""The examples: every script's `main` with tiny data on each backend, what each one shows, and
the digits demo's data and one epoch of its model."""
import importlib
import importlib.util
import pathlib

import numpy as np
import pytest

from conftest import needs_sklearn
from multirnn import backends
from multirnn.models import Model
from multirnn.utils import set_random_seed

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
_loaded = {}

# example -> (extra keyword arguments of main, output shape of one sample for each output)
CASES = {
    "quickstart": ({}, [(10,)]),
    "sequential_input_shapes": ({}, [(10,)]),
    "binary_classifier": ({}, [(1,)]),
    "merged_branches": ({}, [(10,)]),
    "custom_metrics": ({}, [(1,)]),
    "mlp": ({}, [(10,)]),
    "lstm_sequence_classification": ({}, [(1,)]),
    "stacked_lstm": ({}, [(10,)]),
    "stateful_stacked_lstm": ({"batch_size": 4}, [(10,)]),
    "merged_lstm_encoders": ({}, [(10,)]),
    "functional_mlp": ({}, [(10,)]),
    "model_reuse": ({}, [(20, 10)]),
    "headline_multi_io": ({}, [(1,), (1,)]),
    "shared_lstm_tweets": ({}, [(1,)]),
    "masking_lstm": ({}, [(32,)]),
    "shape_layers": ({}, [(3, 32)]),
    "recurrent_arguments": ({}, [(1,)]),
}


def example(name: str):
    """The module examples/<name>.py, imported once."""
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(f"multirnn_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


def _models(value) -> list:
    if isinstance(value, Model):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [m for m in value if isinstance(m, Model)] if isinstance(value, (list, tuple)) else []


def run_main(monkeypatch, name, **kwargs):
    """main(samples=8, epochs=1) under the backend in force; returns (model, history, score,
    the weights of every model the example built, as they were before training, by id)."""
    module = example(name)
    built = {}
    builder = "build_models" if hasattr(module, "build_models") else "build_model"
    original = getattr(module, builder)

    def recording(*args, **kw):
        value = original(*args, **kw)
        for m in _models(value):
            built[id(m)] = (m, [w.copy() for w in m.get_weights()])
        return value
    monkeypatch.setattr(module, builder, recording)
    np.random.seed(0)
    set_random_seed(0)
    model, history, score = module.main(**dict(dict(samples=8, epochs=1, verbose=0), **kwargs))
    return model, history, score, built


def random_inputs(model, count: int) -> list:
    """Random data for every input of the model (word indices for integer inputs or an Embedding)."""
    out = []
    embedding_first = type(model.layers[0]).__name__ == "Embedding"
    for t in model.inputs:
        shape = (count,) + tuple(t.symbolic_shape[1:])
        if embedding_first or str(getattr(t.node.layer, "dtype", "")).startswith("int"):
            out.append(np.random.randint(1, 10, size=shape))
        else:
            out.append(np.random.random(shape))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_trains_evaluates_and_predicts(name, backend_name, monkeypatch):
    kwargs, sample_shapes = CASES[name]
    with backends.use(backend_name):
        model, history, score, built = run_main(monkeypatch, name, **kwargs)
    assert model.backend_name == backend_name
    assert id(model) in built, f"{name}: main should train the model its build function returns"
    losses = history.history["loss"]
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert np.all(np.isfinite(score))
    before = built[id(model)][1]
    after = model.get_weights()
    assert len(after) == len(before) > 0
    assert all(np.all(np.isfinite(w)) for w in after)
    changed = [not np.array_equal(a, b) for a, b in zip(after, before)]
    assert all(changed), f"{name}: weights {[i for i, c in enumerate(changed) if not c]} did not change"
    count = kwargs.get("batch_size", 3)
    outputs = model.predict(random_inputs(model, count), batch_size=count)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    assert [o.shape for o in outputs] == [(count,) + s for s in sample_shapes]
    assert all(np.all(np.isfinite(o)) for o in outputs)


def test_quickstart_predicts_classes_and_probabilities(monkeypatch):
    model, _, (loss, accuracy), _ = run_main(monkeypatch, "quickstart")
    x = np.random.random((5, 100))
    proba, classes = model.predict_proba(x), model.predict_classes(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classes, proba.argmax(axis=1))
    assert 0.0 <= accuracy <= 1.0 and model.metrics_names == ["loss", "accuracy"]


def test_equivalent_input_shapes_give_the_same_models(K):
    dense, lstm = example("sequential_input_shapes").equivalent_outputs()
    for group in (dense, lstm):
        np.testing.assert_array_equal(group[0], group[1])
        np.testing.assert_array_equal(group[0], group[2])
    assert dense[0].shape == (4, 32) and lstm[0].shape == (4, 16)


@pytest.mark.parametrize("mode", ["concat", "sum", "lambda"])
def test_merged_branches_modes(mode, K, monkeypatch):
    fn = (lambda x: x[0] - x[1]) if mode == "lambda" else mode
    model, history, _, _ = run_main(monkeypatch, "merged_branches", mode=fn)
    merge = model.layers[0]
    assert merge.output_shape == (None, 64 if mode == "concat" else 32)
    assert np.isfinite(history.history["loss"][0])
    x1, x2 = np.random.random((2, 784)), np.random.random((2, 784))
    left, right = [branch.predict(x) for branch, x in zip(merge.branches, (x1, x2))]
    expected = {"concat": np.concatenate([left, right], axis=1), "sum": left + right, "lambda": left - right}[mode]
    merged = K.to_numpy(merge.call([K.constant(left), K.constant(right)]))
    np.testing.assert_allclose(merged, expected, rtol=1e-6)


def test_custom_metrics_report_the_dict_entries(K, monkeypatch):
    model, history, score, _ = run_main(monkeypatch, "custom_metrics")
    assert list(history.history) == ["loss", "accuracy", "mean_pred", "false_neg", "false_pos"]
    _, accuracy, mean_pred, false_neg, false_pos = score
    assert 0.0 < mean_pred < 1.0
    assert false_neg + false_pos == pytest.approx(1.0 - accuracy, abs=1e-6)


def test_metrics_names_name_the_dict_entries(monkeypatch):
    model, _, score, _ = run_main(monkeypatch, "custom_metrics")
    assert model.metrics_names == ["loss", "accuracy", "mean_pred", "false_neg", "false_pos"]
    assert len(model.metrics_names) == len(score)


@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
def test_custom_metrics_other_compile_calls(problem, monkeypatch):
    model, _, score, _ = run_main(monkeypatch, "custom_metrics", problem=problem)
    assert model.metrics_names == (["loss"] if problem == "regression" else ["loss", "accuracy"])
    assert np.all(np.isfinite(score))


def test_stateful_lstm_carries_and_resets_its_state(K, monkeypatch):
    model, _, _, _ = run_main(monkeypatch, "stateful_stacked_lstm", batch_size=4)
    assert model.input_shape == (4, 8, 16)
    x = np.random.random((4, 8, 16))
    model.reset_states()
    first, second = model.predict(x, batch_size=4), model.predict(x, batch_size=4)
    assert not np.allclose(first, second)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=4), first, rtol=1e-5, atol=1e-6)


def test_reused_model_shares_its_weights(K, monkeypatch):
    sequence_model, _, _, built = run_main(monkeypatch, "model_reuse")
    model, reused = [m for m, _ in built.values() if m is not sequence_model]
    sequences = np.random.random((3, 20, 784))
    step = sequences[:, 7]
    np.testing.assert_allclose(reused.predict(step), model.predict(step), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sequence_model.predict(sequences)[:, 7], model.predict(step), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("by_name", [False, True])
def test_headline_loss_is_weighted_sum(by_name, monkeypatch):
    model, history, score, _ = run_main(monkeypatch, "headline_multi_io", by_name=by_name)
    assert model.input_names == ["main_input", "aux_input"]
    assert model.output_names == ["main_output", "aux_output"]
    assert model.metrics_names == ["loss", "main_output_loss", "aux_output_loss"]
    total, main_loss, aux_loss = score
    assert total == pytest.approx(main_loss + 0.2 * aux_loss, rel=1e-5)


def test_shared_lstm_has_one_set_of_weights(monkeypatch):
    model, _, _, _ = run_main(monkeypatch, "shared_lstm_tweets")
    lstm = [layer for layer in model.layers if type(layer).__name__ == "LSTM"]
    assert len(lstm) == 1 and len(model.trainable_weights) == 3 + 2
    a, b = np.random.random((2, 2, 140, 256))
    assert model.predict([a, b]).shape == (2, 1)


def test_masked_timesteps_are_skipped(K, monkeypatch):
    from multirnn.layers import LSTM
    from multirnn.models import Sequential
    model, _, _, _ = run_main(monkeypatch, "masking_lstm")
    x = np.random.random((3, 10, 8))
    x[:, 3, :] = 0.
    x[:, 5, :] = 0.
    kept = [t for t in range(10) if t not in (3, 5)]
    plain = Sequential([LSTM(32, input_shape=(8, 8))])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), plain.predict(x[:, kept]), rtol=1e-5, atol=1e-6)


def test_shape_layers_give_the_guides_shapes(K):
    models = example("shape_layers").build_models()
    assert models["reshape"].output_shape == (None, 6, 2)
    assert models["permute"].output_shape == (None, 64, 10)
    assert models["repeat_vector"].output_shape == (None, 3, 32)
    x = np.random.random((2, 12))
    np.testing.assert_array_equal(models["reshape"].predict(x), x.reshape(2, 6, 2).astype("float32"))
    y = np.random.random((2, 10, 64))
    np.testing.assert_array_equal(models["permute"].predict(y), y.transpose(0, 2, 1).astype("float32"))


def test_keras1_and_keras2_spellings_build_the_same_network(K):
    module = example("recurrent_arguments")
    models = []
    for spelling in ("keras1", "keras2"):
        set_random_seed(3)
        models.append(module.build_model(spelling))
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(a, b)
    x, y = np.random.random((4, 10, 64)), np.random.randint(2, size=(4, 1))
    losses = []
    for m in models:
        set_random_seed(4)  # the same dropout masks
        losses.append(m.train_on_batch(x, y))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    np.testing.assert_allclose(models[0].predict(x), models[1].predict(x), rtol=1e-5, atol=1e-6)


@needs_sklearn
def test_digits_load():
    (x_train, y_train), (x_test, y_test) = example("digits_lstm").load()
    assert x_train.shape[1:] == x_test.shape[1:] == (8, 8) and x_train.dtype == np.float32
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == pytest.approx(0.2 * 1797, abs=1)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert y_train.shape == (len(x_train), 10) and y_test.shape == (len(x_test), 10)
    np.testing.assert_array_equal(y_train.sum(axis=1), 1.0)


@needs_sklearn
def test_digits_model_trains_one_epoch_on_numpy(tmp_path, monkeypatch):
    """The demo's main for one epoch on the first 600 training and 150 test images."""
    digits = example("digits_lstm")
    (x_train, y_train), (x_test, y_test) = digits.load()
    monkeypatch.setattr(digits, "load", lambda: ((x_train[:600], y_train[:600]), (x_test[:150], y_test[:150])))
    histories = []
    plot = digits.plot_history

    def recording_plot(history, path):
        histories.append(history)
        return plot(history, path)
    monkeypatch.setattr(digits, "plot_history", recording_plot)
    with backends.use("numpy"):
        accuracy = digits.main(plot_path=str(tmp_path / "curves.png"), epochs=1)
    (history,) = histories
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert history.history["loss"][0] < np.log(10)  # below the loss of a uniform guess
    assert accuracy > 0.2
    assert (tmp_path / "curves.png").stat().st_size > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_models_save_and_load(name, tmp_path):
    from multirnn.models import load_model
    module = example(name)
    value = module.build_models() if hasattr(module, "build_models") else module.build_model()
    custom = {k: getattr(module, k) for k in ("mean_pred", "false_rates") if hasattr(module, k)}
    for i, model in enumerate(_models(value)):
        path = str(tmp_path / f"{i}.npz")
        model.save(path)
        again = load_model(path, custom_objects=custom)
        count = model.inputs[0].symbolic_shape[0] or 2
        x = random_inputs(model, count)
        np.testing.assert_allclose(again.predict(x, batch_size=count), model.predict(x, batch_size=count),
                                   rtol=1e-6, atol=1e-7)
