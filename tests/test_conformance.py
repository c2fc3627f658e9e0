"""The conformance matrix as tests, one per configuration id, on every installed backend and oracle.

`MULTIRNN_CONFORMANCE` picks what is collected: `quick` (default: the few configurations that
together cover every pair of option values), `full` (all of them), or id globs/substrings
(`MULTIRNN_CONFORMANCE='lstm-*-bi_concat*'`).
"""
import contextlib
import json
import os

import numpy as np
import pytest

from conftest import BACKENDS
from multirnn import conformance, layers
from multirnn.conformance import cli, known, matrix, oracles
from multirnn.conformance.covering import extend_pairwise, uncovered_pairs
from multirnn.backends import frameworks
from multirnn.conformance.runner import run_backend, run_config, with_generic

MODE = os.environ.get("MULTIRNN_CONFORMANCE", "quick")
ORACLES = oracles.available()
KNOWN = known.load()
SIDES = with_generic(BACKENDS)  # every backend, and the generic path of each that has fast paths


def _selected(mode: str) -> list:
    if mode == "full":
        return matrix.configurations()
    if mode == "quick":
        return matrix.quick()
    return matrix.select(mode)


def _oracle_configs() -> list:
    """Per oracle, the configurations it can express that cover every pair of their option values."""
    if MODE != "quick":
        return []
    chosen = []
    for oracle in ORACLES:
        applicable = [c for c in matrix.configurations() if not oracles.not_applicable(oracle, c)]
        chosen += [(oracle, c) for c in matrix.quick(applicable)]
    return chosen


def _explain(result) -> str:
    command = cli.repro(result, BACKENDS, ORACLES)
    return f"{result.name} [{result.dtype}] does not conform:\n" + "\n".join(result.failures()) + f"\nrepro: {command}"


@pytest.mark.parametrize("config", _selected(MODE), ids=lambda c: c.id)
def test_configuration(config):
    result = run_config(config, SIDES, oracles=ORACLES if MODE != "quick" else [])
    known.apply(result, KNOWN)
    assert result.passed, _explain(result)


@pytest.mark.parametrize("oracle,config", _oracle_configs(), ids=lambda v: v if isinstance(v, str) else v.id)
def test_oracle(oracle, config):
    result = run_config(config, ["numpy"], oracles=[oracle])
    known.apply(result, KNOWN)
    assert ("numpy", oracle) in result.pairs and result.passed, _explain(result)


def test_matrix_is_the_full_structural_product_with_stable_unique_ids():
    configs = matrix.configurations()
    assert len(configs) == (3 * 2 ** 6 + 2 ** 5) * 3 * 6 == 4032  # SimpleRNN has no implementation option
    assert len({c.id for c in configs}) == len(configs)
    assert configs[0].id == "rnn-last-nostate-fwd-stateless-loop-nomask-uni~relu.do0.25.nobias.zero_h0.nadam"
    assert matrix.by_id(configs[-1].id) == configs[-1]
    assert matrix.select("lstm-seq-state-bwd-stateful-unroll-i2-holes-*") == [
        c for c in configs if c.id.startswith("lstm-seq-state-bwd-stateful-unroll-i2-holes-")]


def test_no_two_configurations_build_the_same_layers():
    structures = [(c.cell, c.mask, c.wrapper, tuple(sorted((k, v) for k, v in c.layer_kwargs().items()
                                                             if k in ("return_sequences", "return_state", "go_backwards",
                                                                      "stateful", "unroll", "implementation"))))
                  for c in matrix.configurations()]
    assert len(set(structures)) == len(structures)


def test_numeric_options_cover_every_pair():
    assert matrix.coverage_gaps() == []
    quick = [c.__dict__ for c in matrix.quick()]
    assert uncovered_pairs(quick, matrix.STRUCTURAL + matrix.NUMERIC) == [("cell", "rnn", "implementation", 1)]
    assert len(quick) < 60


def test_covering_generator_is_deterministic_and_complete():
    params = [("a", (1, 2, 3)), ("b", ("x", "y")), ("c", (True, False)), ("d", (0, 1, 2, 3))]
    fixed = [{"k": i % 2} for i in range(24)]
    rows = extend_pairwise(fixed, params)
    assert rows == extend_pairwise(fixed, params)
    assert [r["k"] for r in rows] == [r["k"] for r in fixed]
    assert uncovered_pairs(rows, [("k", (0, 1))] + params) == []


def _dropout_config(oracle, **options):
    return next(c for c in matrix.configurations() if c.uses_dropout and c.mask == "nomask"
                and not oracles.not_applicable(oracle, c)
                and all(getattr(c, k) == v for k, v in options.items()))


@pytest.mark.skipif(not frameworks.HAS_TF_KERAS, reason="needs tf_keras")
@pytest.mark.parametrize("options", [dict(cell="lstm", implementation=1, wrapper="bi_concat", stateful=True),
                                     dict(cell="gru_rb", implementation=2, recurrent_dropout=0.25),
                                     dict(cell="rnn", dropout=0.25, recurrent_dropout=0.25)],
                         ids=["lstm_i1_bi_stateful", "gru_rb_i2_rdo", "rnn"])
def test_tf_keras_takes_multirnn_dropout_masks_in_training_mode(options):
    config = _dropout_config("tf_keras", **options)
    result = run_config(config, ["numpy"], "float64", oracles=["tf_keras"])
    assert result.passed and not result.inference_only, result.failures()
    compared = {d.name for d in result.pairs[("numpy", "tf_keras")]}
    assert {"train0:out[0]", "train1:out[0]", "train2:out[0]", "grad:input", "trained:" + (
        "fw.kernel" if config.bidirectional else "kernel")} <= compared
    masks = [k for k in run_backend(config, "numpy", "float64") if k.startswith("dropout_mask:train0:")]
    assert masks, "the runner records the masks it drew"


@pytest.mark.skipif(not frameworks.HAS_TF_KERAS, reason="needs tf_keras")
def test_tf_keras_oracle_fails_without_multirnn_masks(monkeypatch):
    """The check can fail: with tf_keras drawing its own masks the training-mode tensors differ."""
    config = _dropout_config("tf_keras", cell="lstm", wrapper="uni")
    monkeypatch.setattr(oracles, "_given_masks", lambda *args: contextlib.nullcontext())
    result = run_config(config, ["numpy"], "float64", oracles=["tf_keras"])
    failing = {d.name.split(":")[0] for d in result.pairs[("numpy", "tf_keras")] if not d.ok}
    assert "train0" in failing and "forward" not in failing


@pytest.mark.skipif(not frameworks.HAS_TORCH, reason="needs torch")
def test_torch_nn_applies_the_input_mask_and_stays_in_inference_mode_without_a_seam():
    trained = _dropout_config("torch_nn", cell="rnn", wrapper="uni", recurrent_dropout=0.0)
    result = run_config(trained, ["numpy"], "float64", oracles=["torch_nn"])
    assert result.passed and "torch_nn" not in result.inference_only, result.failures()
    assert "grad:input" in {d.name for d in result.pairs[("numpy", "torch_nn")]}
    recurrent = _dropout_config("torch_nn", cell="lstm", recurrent_dropout=0.25)
    result = run_config(recurrent, ["numpy"], "float64", oracles=["torch_nn"])
    assert result.passed and "recurrent dropout" in result.inference_only["torch_nn"], result.failures()
    assert {d.name.split(":")[0] for d in result.pairs[("numpy", "torch_nn")]} <= {"forward", "stateful_B",
                                                                                 "stateful_C"}


def test_known_differences_have_reasons_and_side_globs(tmp_path):
    assert known.load() == []  # the shipped file is empty: every configuration agrees
    listed = tmp_path / "listed.txt"
    listed.write_text("# a comment\n*-embed-*.nadam  *~tf_keras  sparse updates\n")
    assert [e.reason for e in known.load(str(listed))] == ["sparse updates"]
    bad = tmp_path / "known.txt"
    bad.write_text("lstm-* numpy~torch\n")
    with pytest.raises(ValueError, match="reason"):
        known.load(str(bad))
    entry = known.load_line("*-embed-*.nadam  *~tf_keras  sparse updates")
    assert entry.covers("lstm-x-embed-uni~tanh.nadam", "torch/generic", "tf_keras")
    assert entry.covers("lstm-x-embed-uni~tanh.nadam", "tf_keras", "numpy")
    assert not entry.covers("lstm-x-embed-uni~tanh.nadam", "numpy", "torch")
    assert not entry.covers("lstm-x-nomask-uni~tanh.nadam", "numpy", "tf_keras")


def test_cli_runs_one_configuration_and_writes_json(tmp_path, capsys):
    config = matrix.quick()[0]
    out = tmp_path / "r.json"
    code = cli.main(["--only", config.id, "--backends", ",".join(BACKENDS), "--oracles", "none",
                     "--json", str(out), "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "configurations: 1" in text and "failed: 0" in text
    data = json.loads(out.read_text())
    assert data["results"][0]["id"] == config.id and data["summary"]["failed"] == 0


def test_float32_covering_runs_those_sides_in_float32_on_the_covering_subset_only(tmp_path, capsys):
    pattern = "rnn-last-nostate-fwd-stateful-*"
    out = tmp_path / "r.json"
    code = cli.main(["--only", pattern, "--dtype", "both", "--backends", "numpy", "--oracles", "none", "--steps", "1",
                     "--float32-covering", "numpy/generic", "--json", str(out), "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    selected = matrix.select(pattern)
    covering = {c.id for c in matrix.quick()} & {c.id for c in selected}
    assert 0 < len(covering) < len(selected)
    for r in json.loads(out.read_text())["results"]:
        compared = "numpy~numpy/generic" in r["pairs"]
        assert compared == (r["dtype"] == "float64" or r["id"] in covering), (r["id"], r["dtype"])
    assert f"float32 on the covering subset only ({len(covering)} of {len(selected)} configurations): numpy/generic" in text
    assert f"float32 {len(covering)}  float64 {len(selected)}" in text  # the pair's configurations per dtype


def test_cli_rejects_bad_arguments(capsys):
    assert cli.main(["--only", "no-such-configuration"]) == 2
    assert cli.main(["--backends", "theano"]) == 2
    assert cli.main(["--backends", "numpy", "--oracles", "none", "--float32-covering", "tf_keras"]) == 2
    assert "--float32-covering: tf_keras is not a side of this run" in capsys.readouterr().err
    assert cli.main(["--shard", "3/2", "--list"]) == 2
    assert cli.main(["--shard", "1/1000", "--list"]) == 0


@pytest.mark.skipif(len(BACKENDS) < 2, reason="comparing backends needs two installed backends")
def test_compare_api_on_a_user_model():
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    report = conformance.compare(lambda: layers.LSTM(5, return_sequences=True), x, backends=BACKENDS,
                                 optimizer="adam")
    assert report.ok, report.table()
    assert report.max_abs(BACKENDS[0], BACKENDS[-1], "forward:out[0]") <= 1e-10
    names = {d.name for diffs in report.pairs.values() for d in diffs}
    assert {"init:weight[0]", "grad:input[0]", "trained:weight[2]", "step2:loss"} <= names
    assert "max abs" in report.table()


@pytest.mark.parametrize("tol", [1e-10, 0.0])
def test_compare_arrays_with_cached_stats_gives_the_uncached_verdicts(tol):
    """A tensor's cached float64 copy and extremes (shared by the pairs it is in) change no verdict."""
    from multirnn.conformance.report import compare_arrays
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3, 4)) * 40
    sides = {"same": base.copy(), "close": base + 1e-12, "far": base + 1e-6, "f32": base.astype(np.float32),
             "nan": np.where(base > 0, np.nan, base), "nan_too": np.where(base > 0, np.nan, base),
             "inf": np.where(base > 30, np.inf, base), "shape": base.T.copy(), "empty": np.zeros((0, 4))}
    stats = {}
    for _ in range(2):  # the second pass reads every entry from the cache
        for a in sides.values():
            for b in sides.values():
                cached, plain = compare_arrays("t", a, b, tol, stats), compare_arrays("t", a, b, tol)
                assert (cached.ok, cached.abs, cached.rel, cached.note) == (plain.ok, plain.abs, plain.rel, plain.note)
    verdict = {name: compare_arrays("t", base, x, tol, stats).ok for name, x in sides.items()}
    assert verdict == {"same": True, "close": tol > 0, "far": False, "f32": False, "nan": False, "nan_too": False,
                       "inf": False, "shape": False, "empty": False}
    assert compare_arrays("t", sides["nan"], sides["nan_too"], tol, stats).ok  # NaN where the other has NaN
