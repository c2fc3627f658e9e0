"""Callbacks: History, EarlyStopping, ModelCheckpoint, CSVLogger, ReduceLROnPlateau,
LearningRateScheduler, TerminateOnNaN, LambdaCallback, the progress bar."""
import csv
import io
import os

import numpy as np
import pytest

from conftest import needs_h5py
from multirnn import callbacks
from multirnn.backends import host_random
from multirnn.layers import Dense
from multirnn.models import Sequential
from multirnn.optimizers import SGD

RNG = np.random.RandomState(5)
X = RNG.rand(12, 3)
Y = RNG.rand(12, 1)


def _model(lr=0.1):
    host_random.set_seed(0)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(SGD(lr=lr), "mse", metrics=["mae"])
    return model


def test_history_records_every_epoch():
    history = _model().fit(X, Y, epochs=3, batch_size=4, verbose=0, validation_split=0.25)
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(len(v) == 3 for v in history.history.values())
    assert history.params["do_validation"] and history.model is not None


def test_early_stopping_stops_when_nothing_improves():
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2)
    history = _model(lr=0.0).fit(X, Y, epochs=20, shuffle=False, verbose=0, callbacks=[stopper])
    assert len(history.epoch) == 3 and stopper.stopped_epoch == 2


def test_early_stopping_keeps_going_while_improving_and_restores_best():
    stopper = callbacks.EarlyStopping(monitor="loss", patience=1)
    assert len(_model().fit(X, Y, epochs=5, verbose=0, callbacks=[stopper]).epoch) == 5
    model = _model(lr=5.0)
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    after_epoch = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_epoch.append(model.get_weights()))
    history = model.fit(X, Y, epochs=10, batch_size=12, verbose=0, callbacks=[keep, stopper])
    losses = history.history["loss"]
    best = int(np.argmin(losses))
    assert len(losses) < 10 and losses[-1] > losses[best] and best == len(losses) - 2
    for restored, kept, last in zip(model.get_weights(), after_epoch[best], after_epoch[-1]):
        np.testing.assert_array_equal(restored, kept)  # the weights at the end of the best epoch
        assert not np.array_equal(restored, last)


@needs_h5py
def test_model_checkpoint_writes_each_epoch_and_only_the_best(tmp_path):
    every = str(tmp_path / "every_{epoch:02d}.npz")
    _model().fit(X, Y, epochs=3, verbose=0, callbacks=[callbacks.ModelCheckpoint(every, monitor="loss")])
    assert sorted(os.listdir(tmp_path)) == ["every_01.npz", "every_02.npz", "every_03.npz"]
    best = tmp_path / "best"
    best.mkdir()
    path = str(best / "w-{epoch}-{loss:.3f}.h5")
    checkpoint = callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, save_weights_only=True)
    model = _model(lr=0.0)
    model.fit(X, Y, epochs=3, shuffle=False, verbose=0, callbacks=[checkpoint])
    names = os.listdir(best)
    assert len(names) == 1 and names[0].startswith("w-1-")
    fresh = Sequential([Dense(1, input_dim=3)])
    fresh.load_weights(str(best / names[0]))
    np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    path = str(tmp_path / "log.csv")
    _model().fit(X, Y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    _model().fit(X, Y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path) as f:
        assert len(list(csv.DictReader(f))) == 5


def test_reduce_lr_on_plateau_lowers_the_learning_rate():
    model = _model(lr=1e-12)
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.0)
    history = model.fit(X, Y, epochs=4, verbose=0, callbacks=[reducer])
    assert history.history["lr"][0] == pytest.approx(1e-12)
    assert history.history["lr"][1:] == pytest.approx([5e-13, 2.5e-13, 1.25e-13])
    assert model.optimizer.learning_rate == pytest.approx(6.25e-14)


def test_reduce_lr_respects_min_lr_and_cooldown():
    model = _model(lr=0.0)
    model.optimizer.learning_rate = 0.0
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.0)
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[reducer])
    assert model.optimizer.learning_rate == 0.0
    model = _model()
    model.optimizer.learning_rate = 1e-9
    cooling = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=10)
    model.fit(X, Y, epochs=6, verbose=0, callbacks=[cooling])
    assert model.optimizer.learning_rate == pytest.approx(5e-10)


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    seen = []
    model = _model()
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    spy = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[scheduler, spy])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    two_args = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[two_args])
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 12)


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    bad = Y.copy()
    bad[5] = np.nan
    batches = []
    spy = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: batches.append(batch))
    history = _model().fit(X, bad, epochs=3, batch_size=4, shuffle=False, verbose=0,
                           callbacks=[callbacks.TerminateOnNaN(), spy])
    assert batches == [0, 1] and len(history.epoch) == 1
    assert "invalid loss" in capsys.readouterr().out


def test_lambda_callback_hooks_are_called():
    calls = []
    spy = callbacks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                                   on_epoch_end=lambda epoch, logs: calls.append(("epoch", epoch, "loss" in logs)),
                                   on_train_end=lambda logs: calls.append("end"))
    _model().fit(X, Y, epochs=2, verbose=0, callbacks=[spy])
    assert calls == ["begin", ("epoch", 0, True), ("epoch", 1, True), "end"]
    with pytest.raises(TypeError, match="unknown hook"):
        callbacks.LambdaCallback(on_everything=print)


def test_custom_callback_subclass_sees_model_and_params():
    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.info = (self.model.name, self.params["epochs"], self.params["steps"])

        def on_batch_end(self, batch, logs=None):
            self.last = dict(logs)
    recorder = Recorder()
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=5, verbose=0, callbacks=[recorder])
    assert recorder.info == (model.name, 2, 3)
    assert recorder.last["batch"] == 2 and recorder.last["size"] == 2 and "loss" in recorder.last
    with pytest.raises(TypeError, match="callbacks must be Callback instances"):
        model.fit(X, Y, verbose=0, callbacks=[print])


def test_progbar_formats():
    stream = io.StringIO()
    bar = callbacks.Progbar(4, stream=stream, interval=0.0, dynamic=False)
    bar.update(1, {"loss": 0.5})
    bar.update(4, {"loss": 0.25, "tiny": 1e-5}, finalize=True)
    first, last = stream.getvalue().splitlines()
    assert first.startswith("1/4 [======>") and "ETA: 0s" in first and "loss: 0.5000" in first
    assert last.startswith("4/4 [==============================]") and "loss: 0.2500" in last
    assert "tiny: 1.0000e-05" in last
    dynamic = io.StringIO()
    bar = callbacks.Progbar(2, stream=dynamic, interval=0.0, dynamic=True)
    bar.update(1, {})
    bar.update(2, {}, finalize=True)
    assert dynamic.getvalue().startswith("\r1/2") and dynamic.getvalue().count("\n") == 1
