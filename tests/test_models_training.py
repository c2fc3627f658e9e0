"""compile/fit/evaluate/predict and the batch methods: results, progress output, error messages."""
import numpy as np
import pytest
from conftest import needs_tf_keras

from multirnn import backend as K_current
from multirnn import backends
from multirnn.backends import host_random
from multirnn.layers import LSTM, Dense, Input, Masking, SimpleRNN
from multirnn.models import Model, Sequential
from multirnn.optimizers import SGD

RNG = np.random.RandomState(2)
X = RNG.rand(10, 4, 3)
Y = RNG.rand(10, 2)


def _model(name=None, **dense):
    host_random.set_seed(0)
    model = Sequential([SimpleRNN(3, input_shape=(4, 3)), Dense(2, **dense)], name=name)
    model.compile(SGD(lr=0.1), "mse", metrics=["mae"])
    return model


def _two_outputs():
    host_random.set_seed(0)
    x = Input(shape=(4, 3), name="x")
    h = SimpleRNN(3)(x)
    return Model(x, [Dense(2, name="reg")(h), Dense(1, activation="sigmoid", name="cls")(h)])


def test_fit_returns_history_and_trains(K):
    model = _model()
    before = model.evaluate(X, Y, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2] and sorted(history.history) == ["loss", "mae"]
    assert history.params["epochs"] == 3 and history.params["steps"] == 3
    after = model.evaluate(X, Y, verbose=0)
    assert after[0] < before[0]
    assert model.metrics_names == ["loss", "mae"]


def test_nb_epoch_and_initial_epoch():
    model = _model()
    assert model.fit(X, Y, nb_epoch=2, verbose=0).epoch == [0, 1]
    assert model.fit(X, Y, epochs=4, initial_epoch=2, verbose=0).epoch == [2, 3]
    with pytest.raises(TypeError, match="both 'nb_epoch' \\(Keras 1\\) and 'epochs'"):
        model.fit(X, Y, nb_epoch=2, epochs=3, verbose=0)


def test_reported_loss_is_the_mean_over_samples():
    model = _model()
    loss, mae = model.evaluate(X, Y, batch_size=3, verbose=0)
    pred = model.predict(X)
    assert abs(loss - np.mean((pred - Y) ** 2)) < 1e-6
    assert abs(mae - np.mean(np.abs(pred - Y))) < 1e-6


def test_batch_methods():
    model = _model()
    pred = model.predict_on_batch(X[:4])
    np.testing.assert_allclose(pred, model.predict(X)[:4], atol=1e-6)
    loss, mae = model.test_on_batch(X[:4], Y[:4])
    assert abs(loss - np.mean((pred - Y[:4]) ** 2)) < 1e-6
    first = model.train_on_batch(X[:4], Y[:4])
    assert abs(first[0] - loss) < 1e-6
    assert model.test_on_batch(X[:4], Y[:4])[0] < loss


def test_predict_classes_and_proba():
    host_random.set_seed(1)
    model = Sequential([Dense(3, activation="softmax", input_dim=3)])
    x = RNG.rand(5, 3)
    proba = model.predict_proba(x)
    np.testing.assert_array_equal(model.predict_classes(x), proba.argmax(-1))
    binary = Sequential([Dense(1, activation="sigmoid", input_dim=3)])
    np.testing.assert_array_equal(binary.predict_classes(x), (binary.predict(x) > 0.5).astype("int32"))


def test_multi_output_losses_weights_and_metric_names(K):
    model = _two_outputs()
    model.compile("adam", loss={"reg": "mse", "cls": "binary_crossentropy"}, loss_weights={"reg": 1.0, "cls": 0.2},
                  metrics={"cls": ["accuracy"]})
    assert model.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]
    labels = (RNG.rand(10, 1) > 0.5).astype("float64")
    loss, reg_loss, cls_loss, acc = model.evaluate(X, {"reg": Y, "cls": labels}, verbose=0)
    assert abs(loss - (reg_loss + 0.2 * cls_loss)) < 1e-5
    reg_pred, cls_pred = model.predict(X)
    assert abs(reg_loss - np.mean((reg_pred - Y) ** 2)) < 1e-5
    assert abs(acc - np.mean((cls_pred > 0.5) == labels)) < 1e-6
    history = model.fit(X, [Y, labels], epochs=1, verbose=0, validation_data=(X, [Y, labels]))
    assert "val_cls_accuracy" in history.history and "reg_loss" in history.history


def test_loss_list_and_single_loss_for_all_outputs():
    model = _two_outputs()
    model.compile("sgd", loss=["mse", "mse"])
    single = _two_outputs()
    single.compile("sgd", loss="mse")
    labels = RNG.rand(10, 1)
    np.testing.assert_allclose(model.evaluate(X, [Y, labels], verbose=0),
                               single.evaluate(X, [Y, labels], verbose=0), atol=1e-7)


def test_sample_and_class_weights():
    model = _model()
    pred = model.predict(X)
    per_sample = np.mean((pred - Y) ** 2, axis=-1)
    weights = np.arange(10, dtype=float)
    loss = model.evaluate(X, Y, sample_weight=weights, verbose=0)[0]
    assert abs(loss - np.sum(per_sample * weights) / 10) < 1e-6
    classifier = Sequential([Dense(2, activation="softmax", input_dim=3)])
    classifier.compile("sgd", "categorical_crossentropy")
    x, labels = RNG.rand(6, 3), np.eye(2)[[0, 1, 1, 0, 1, 1]]
    probs = classifier.predict(x)
    weighted = classifier.train_on_batch(x, labels, class_weight={0: 2.0, 1: 0.5})
    crossentropy = -np.sum(labels * np.log(probs), axis=-1)
    expected = np.sum(crossentropy * np.where(labels[:, 0] == 1, 2.0, 0.5)) / 6
    assert abs(weighted - expected) < 1e-5
    with pytest.raises(ValueError, match="no entry for class"):
        classifier.train_on_batch(x, labels, class_weight={0: 1.0})


def test_temporal_sample_weights():
    host_random.set_seed(0)
    model = Sequential([SimpleRNN(2, return_sequences=True, input_shape=(4, 3))])
    model.compile("sgd", "mse", sample_weight_mode="temporal")
    y = RNG.rand(10, 4, 2)
    weights = np.zeros((10, 4))
    weights[:, 0] = 1.0
    pred = model.predict(X)
    expected = np.sum(np.mean((pred - y) ** 2, axis=-1) * weights) / 40
    assert abs(model.evaluate(X, y, sample_weight=weights, verbose=0) - expected) < 1e-6
    with pytest.raises(ValueError, match="must have 2 dimension"):
        model.evaluate(X, y, sample_weight=np.ones(10), verbose=0)


def test_regularizers_and_constraints_take_part():
    plain = _model()
    regularized = _model(kernel_regularizer="l2")
    regularized.set_weights(plain.get_weights())
    kernel = plain.get_weights()[3]
    difference = regularized.evaluate(X, Y, verbose=0)[0] - plain.evaluate(X, Y, verbose=0)[0]
    assert abs(difference - 0.01 * np.sum(kernel ** 2)) < 1e-6
    constrained = _model(kernel_constraint="non_neg")
    constrained.fit(X, -Y, epochs=2, verbose=0)
    assert constrained.get_weights()[3].min() >= 0.0


def test_custom_metrics_plain_and_dict():
    def mean_pred(y_true, y_pred):
        return K_current.mean(y_pred, axis=-1)

    def rates(y_true, y_pred):
        return {"above": K_current.mean(K_current.cast(y_pred > y_true, "float32"), axis=-1),
                "below": K_current.mean(K_current.cast(y_pred < y_true, "float32"), axis=-1)}
    model = _model()
    model.compile("rmsprop", "mse", metrics=["mae", mean_pred, rates])
    logs = model.fit(X, Y, epochs=1, verbose=0).history
    assert sorted(logs) == ["above", "below", "loss", "mae", "mean_pred"]
    pred = model.predict(X)
    loss, mae, mp, above, below = model.evaluate(X, Y, verbose=0)
    assert abs(mp - pred.mean()) < 1e-6 and abs(above + below - 1.0) < 1e-6


def test_validation_split_and_data():
    model = _model()
    history = model.fit(X, Y, validation_split=0.3, epochs=1, verbose=0)
    assert history.params["samples"] == 7
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    history = model.fit(X, Y, validation_data=(X[:2], Y[:2]), epochs=1, verbose=0)
    assert abs(history.history["val_loss"][0] - model.evaluate(X[:2], Y[:2], verbose=0)[0]) < 1e-6
    with pytest.raises(ValueError, match="validation_data must be"):
        model.fit(X, Y, validation_data=X, verbose=0)


def test_model_runs_under_its_own_backend():
    if "torch" not in backends.available():
        pytest.skip("needs torch")
    with backends.use("torch"):
        model = _model()
    assert model.backend_name == "torch"
    model.fit(X, Y, epochs=1, verbose=0)
    assert model.predict(X).shape == (10, 2)
    assert type(model.trainable_weights[0]).__module__.startswith("torch")


def test_stateful_model_reset_states():
    host_random.set_seed(0)
    model = Sequential([LSTM(2, stateful=True, batch_input_shape=(5, 4, 3)), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(X, RNG.rand(10, 1), batch_size=5, shuffle=False, epochs=1, verbose=0)
    state = model.layers[0].states[0]
    assert np.abs(K_current.to_numpy(state)).sum() > 0
    model.reset_states()
    assert np.abs(K_current.to_numpy(model.layers[0].states[0])).sum() == 0


def test_verbose_1_prints_a_progress_bar(capsys):
    model = _model()
    model.fit(X, Y, batch_size=2, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "ETA:" in out and "[" in out and "=" in out
    assert "5/5 [==============================]" in out and "loss: " in out and "mae: " in out


def test_verbose_2_prints_one_line_per_epoch(capsys):
    model = _model()
    model.fit(X, Y, batch_size=2, epochs=3, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for line in lines[1::2]:
        assert line.startswith("4/4 - ") and " - loss: " in line and " - val_loss: " in line
    assert "ETA" not in "".join(lines)


def test_verbose_0_prints_nothing(capsys):
    _model().fit(X, Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_error_messages():
    model = _model(name="reg_model")
    with pytest.raises(ValueError, match="same number of samples, got x: 10; y: 9"):
        model.fit(X, Y[:9], verbose=0)
    with pytest.raises(ValueError, match="'reg_model'.fit expects 1 input array\\(s\\).*got 2"):
        model.fit([X, X], Y, verbose=0)
    with pytest.raises(ValueError, match="expects arrays of shape \\(None, 4, 3\\).*got shape \\(10, 4, 2\\)"):
        model.predict(X[..., :2])
    uncompiled = Sequential([Dense(1, input_dim=2)], name="raw")
    with pytest.raises(RuntimeError, match="'raw': call compile\\(optimizer, loss\\) before fit"):
        uncompiled.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamw'"):
        model.compile("adamw", "mse")
    with pytest.raises(ValueError, match="Unknown loss 'msq'"):
        model.compile("sgd", "msq")
    with pytest.raises(ValueError, match="Unknown metric 'precision'"):
        model.compile("sgd", "mse", metrics=["precision"])
    two = _two_outputs()
    with pytest.raises(ValueError, match="unknown output name\\(s\\) 'main'; the outputs are 'reg', 'cls'"):
        two.compile("sgd", loss={"main": "mse", "reg": "mse"})
    with pytest.raises(ValueError, match="loss is a list of 3 but the model has 2 output"):
        two.compile("sgd", loss=["mse"] * 3)
    with pytest.raises(ValueError, match="loss_weights given for unknown output name\\(s\\) 'x'"):
        two.compile("sgd", loss="mse", loss_weights={"x": 1.0})
    with pytest.raises(ValueError, match="unknown output name\\(s\\) 'other'"):
        two.compile("sgd", "mse")
        two.fit(X, {"reg": Y, "other": Y}, verbose=0)


def test_deferred_sequential_compiles_before_build():
    model = Sequential([SimpleRNN(2), Dense(1, name="out")])
    model.compile("sgd", loss={"out": "mse"}, metrics=["acc"])
    history = model.fit(X, RNG.rand(10, 1), epochs=1, verbose=0)
    assert sorted(history.history) == ["acc", "loss"]


@needs_tf_keras
@pytest.mark.parametrize("weighting", ["none", "per_sample", "temporal"])
def test_masked_and_weighted_losses_and_metrics_match_tf_keras(weighting):
    import tf_keras
    x = RNG.rand(4, 5, 3).astype("float32")
    x[0, 3:], x[2, 1:] = 0.0, 0.0
    y = RNG.rand(4, 5, 2).astype("float32")
    weights = {"none": None, "per_sample": np.array([1.0, 2.0, 0.5, 3.0], "float32"),
               "temporal": RNG.rand(4, 5).astype("float32")}[weighting]
    mode = "temporal" if weighting == "temporal" else None
    keras_model = tf_keras.Sequential([tf_keras.layers.Masking(0.0, input_shape=(5, 3)),
                                       tf_keras.layers.SimpleRNN(2, return_sequences=True)])
    keras_model.compile("sgd", "mse", sample_weight_mode=mode, metrics=["mae"], weighted_metrics=["mae", "mse"])
    model = Sequential([Masking(0.0, input_shape=(5, 3)), SimpleRNN(2, return_sequences=True)])
    model.set_weights(keras_model.get_weights())
    model.compile("sgd", "mse", sample_weight_mode=mode, metrics=["mae"], weighted_metrics=["mae", "mse"])
    expected = keras_model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    assert model.metrics_names == list(expected) == ["loss", "mae", "weighted_mae", "mse"]
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=weights, verbose=0), list(expected.values()),
                               atol=1e-5)


def test_stateful_fit_needs_whole_batches_before_any_update():
    from multirnn.layers import LSTM, Dense
    from multirnn.models import Sequential
    model = Sequential([LSTM(2, stateful=True, batch_input_shape=(4, 3, 5)), Dense(1)])
    model.compile("sgd", "mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"is stateful, so the number of samples \(10\) must be a multiple of "
                                         r"batch_size \(4\)"):
        model.fit(np.ones((10, 3, 5)), np.ones((10, 1)), batch_size=4, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_weighted_metrics_use_sample_and_class_weights_and_survive_saving(tmp_path):
    from multirnn.models import load_model
    host_random.set_seed(0)
    model = Sequential([Dense(2, input_shape=(3,), activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=["acc"], weighted_metrics=["acc"])
    x, labels = RNG.rand(12, 3), np.array([0, 1] * 6)
    y = np.eye(2)[labels]
    plain, weighted = model.evaluate(x, y, verbose=0)[1:]
    hits = (model.predict(x).argmax(-1) == labels).astype(float)
    weights = np.where(labels == 1, 3.0, 1.0)
    assert plain == pytest.approx(hits.mean())
    assert weighted == pytest.approx(hits.mean())  # no weights: the same mean
    assert model.evaluate(x, y, sample_weight=weights, verbose=0)[2] == pytest.approx((hits * weights).sum() / 24)
    history = model.fit(x, y, class_weight={0: 1.0, 1: 3.0}, epochs=1, batch_size=12, verbose=0,
                        validation_data=(x, y)).history
    assert sorted(history) == ["acc", "loss", "val_acc", "val_loss", "val_weighted_acc", "weighted_acc"]
    assert history["weighted_acc"][0] == pytest.approx((hits * weights).sum() / 24)
    path = str(tmp_path / "weighted.npz")
    model.save(path)
    assert load_model(path).metrics_names == ["loss", "acc", "weighted_acc"]
