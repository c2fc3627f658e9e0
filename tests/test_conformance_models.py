"""The models section of the conformance suite: whole models trained with fit on every backend and in tf_keras.

A few model x optimizer cases run here; `python -m multirnn.conformance` (the full run) runs all of them.
"""
import dataclasses

import numpy as np
import pytest

from conftest import BACKENDS
from multirnn.backends import frameworks
from multirnn.conformance import cli, known, model_zoo, models
from multirnn.conformance.runner import with_generic

SIDES = with_generic(BACKENDS)
needs_tf_keras = pytest.mark.skipif(not frameworks.HAS_TF_KERAS, reason="needs tf_keras")


def _explain(report) -> str:
    return f"{report.name} [{report.dtype}] does not conform:\n" + "\n".join(report.failures()[:12])


@needs_tf_keras
@pytest.mark.parametrize("model,optimizer,dtype", [
    ("stateful_stacked_lstm", "rmsprop", "float64"),
    ("lstm_sequence_classification", "adam", "float32"),  # LSTM dropout and a Dropout layer, masks replayed
    ("embed_mask_gru", "adagrad", "float64"),
])
def test_model_trains_like_tf_keras_on_every_backend(model, optimizer, dtype):
    report = models.run_case(model_zoo.by_name(model), optimizer, SIDES, dtype)
    assert report.ok, _explain(report)
    names = {d.name for d in report.pairs[(SIDES[0], "tf_keras")]}
    assert {"loss_history:loss", "predict[0]"} <= names and any(n.startswith("trained:") for n in names)
    assert len(report.pairs) == len(SIDES) * (len(SIDES) + 1) // 2


@needs_tf_keras
def test_known_difference_is_forgiven_only_where_listed_and_has_the_stated_cause(monkeypatch, tmp_path):
    """shared_lstm's binary cross-entropy after a sigmoid: both from the logits, they agree. Given tf_keras the
    probability formula instead, they differ (~1e-7), and a listed entry forgives exactly that pair."""
    spec = model_zoo.by_name("shared_lstm")
    report = models.run_case(spec, "adam", SIDES[:1], "float64")
    assert report.ok, _explain(report)
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")

    def from_probabilities(y, p):  # tf.identity drops the logits tf_keras keeps on a sigmoid's output
        return tf_keras.backend.mean(tf_keras.backend.binary_crossentropy(y, tf.identity(p)), axis=-1)
    monkeypatch.setitem(model_zoo.SPECS_BY_NAME, "shared_lstm", dataclasses.replace(spec, loss=from_probabilities))
    run_tf_keras = models.run_tf_keras
    monkeypatch.setattr(models, "run_tf_keras", lambda s, *a: run_tf_keras(model_zoo.by_name(s.name), *a))
    report = models.run_case(spec, "adam", SIDES[:1], "float64")
    diffs = report.pairs[(SIDES[0], "tf_keras")]
    assert not report.ok and "loss_history:loss" in {d.name for d in diffs if not d.ok}
    assert max(d.abs for d in diffs) < 1e-6
    listed = tmp_path / "known.txt"
    listed.write_text("model:shared_lstm~*  *~tf_keras  tf_keras given log(p + epsilon), multirnn the logits\n")
    known.apply(report, known.load(str(listed)))
    assert report.passed and "logits" in report.known[0]


@needs_tf_keras
def test_dropout_model_differs_when_tf_keras_draws_its_own_masks(monkeypatch):
    """The replay is what makes the dropout model agree: without it tf_keras's own masks give other numbers."""
    spec = model_zoo.by_name("lstm_sequence_classification")
    reference = models.run_multirnn(spec, "adam", SIDES[0], "float64")
    masks = [k for k in reference if k.startswith(models.MASK)]
    steps = 2 * -(-len(spec.data("float64")[0][0]) // spec.batch_size)  # epochs x batches
    assert {k.split(":")[2] for k in masks} == {str(s) for s in range(steps)}
    assert {k.split(":")[3].split("[")[0] for k in masks} == {"input", "recurrent", "dropout"}
    monkeypatch.setattr(models.fit_masks, "replaying",
                        lambda *args: frameworks.require("tf_keras").callbacks.Callback())
    report = models.run_case(spec, "adam", SIDES[:1], "float64")
    failing = {d.name for d in report.pairs[(SIDES[0], "tf_keras")] if not d.ok}
    assert "loss_history:loss" in failing and "init:lstm[0]" not in failing


def test_section_covers_every_model_with_every_optimizer_and_batches_that_do_not_divide():
    chosen = models.cases()
    assert len(chosen) == len(model_zoo.SPECS) * 7 == 70
    assert set(models.OPTIMIZERS) == {"sgd_momentum", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"}
    for _, settings in models.OPTIMIZERS.values():
        for key, value in settings.items():
            if key != "epsilon" and not isinstance(value, bool):  # tf_keras keeps these as float32 variables
                assert float(np.float32(value)) == value, (key, value)
    for spec in model_zoo.SPECS:
        xs, ys = spec.data("float64")
        samples = len(xs[0])
        assert spec.stateful or samples % spec.batch_size, spec.name
        assert all(len(a) == samples for a in xs + ys)


def test_cli_lists_the_models_section_with_the_whole_matrix_only(capsys):
    assert cli.main(["--list"]) == 0
    ids = capsys.readouterr().out.split()
    assert "model:stacked_lstm~adam" in ids and len(ids) == 4032 + 70
    assert cli.main(["--quick", "--list"]) == 0
    assert not [i for i in capsys.readouterr().out.split() if i.startswith("model:")]
    assert cli.main(["--models", "only", "--only", "model:shared_lstm~*", "--list"]) == 0
    assert capsys.readouterr().out.split() == [f"model:shared_lstm~{o}" for o in models.OPTIMIZERS]
    assert cli.main(["--shard", "2/8", "--list"]) == 0
    assert not [i for i in capsys.readouterr().out.split() if i.startswith("model:")]
