"""`python -m multirnn.bench` in miniature: the NumPy anchor is exact, the run and its JSON hold together.

No timing is asserted; the sizes are tiny so this takes a few seconds.
"""
import json

import numpy as np
import pytest

from multirnn import backends, layers, models, optimizers
from multirnn.backends import frameworks
from multirnn.bench import cli, numpy_reference, systems
from multirnn.bench.workloads import CELLS, GATES

B, T, D, U = 3, 5, 4, 6
LEARNING_RATE = 0.1


def _problem(cell: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    k = GATES[cell]
    weights = [rng.standard_normal((D, k * U)) * 0.5, rng.standard_normal((U, k * U)) * 0.5,
               rng.standard_normal((2, k * U) if cell == "GRU" else (k * U,)) * 0.3]
    return weights, rng.standard_normal((B, T, D)), rng.uniform(-0.5, 0.5, (B, U))


def _assert_close(actual, expected, what: str, tol: float = 1e-10):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = float(np.max(np.abs(actual - expected)))
    assert diff <= tol, f"{what}: max abs diff {diff:.3g} > {tol:g}"


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_reference_matches_the_numpy_backend(cell, float64):
    weights, x, y = _problem(cell)
    with backends.use("numpy") as K:
        layer = getattr(layers, cell)(U)
        layer._build_once((None, T, D))
        layer.set_weights(weights)
        x_t, y_t = K.constant(x), K.constant(y)
        loss, grads = K.value_and_grad(lambda: K.mean(K.square(layer(x_t) - y_t)), layer.trainable_weights)
        output = K.to_numpy(layer(x_t))
    ref_loss, ref_grads = numpy_reference.loss_and_grads(cell, weights, x, y)
    _assert_close(numpy_reference.forward(cell, weights, x), output, f"{cell} forward")
    _assert_close(ref_loss, float(loss), f"{cell} loss")
    for name, ref, ours in zip(("kernel", "recurrent_kernel", "bias"), ref_grads, grads):
        _assert_close(ref, K.to_numpy(ours), f"{cell} d{name}")


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_reference_training_step_matches_train_on_batch(cell, float64):
    """The bench's training step: MSE on the last output, plain SGD, on a Sequential model."""
    weights, x, y = _problem(cell, seed=1)
    with backends.use("numpy"):
        layer = getattr(layers, cell)(U, input_shape=(T, D))
        model = models.Sequential([layer])
        model.compile(optimizers.SGD(learning_rate=LEARNING_RATE), "mse")
        layer.set_weights(weights)
        loss = model.train_on_batch(x, y)
        updated = layer.get_weights()
    reference = numpy_reference.NumpyBPTT(cell, weights, LEARNING_RATE)
    _assert_close(reference.train_on_batch(x, y), loss, f"{cell} loss")
    for i, (ref, ours) in enumerate(zip(reference.weights, updated)):
        _assert_close(ref, ours, f"{cell} weight {i} after one step")


def _broken_build(problem):
    raise RuntimeError("this system always fails")


def test_bench_runs_and_writes_its_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(systems.SYSTEMS, "broken", systems.System("broken", _broken_build, anchor=False))
    names = ["multirnn-numpy", "numpy-bptt", "broken"]
    if frameworks.HAS_TORCH:
        names[1:1] = ["multirnn-torch", "torch.nn"]
    path = tmp_path / "bench.json"
    returned = cli.main(["--quick", "--workloads", "2x3x4x5", "--repeat", "1", "--threads", "1",
                         "--gemm-size", "128", "--systems", ",".join(names), "--json", str(path)])
    printed = capsys.readouterr().out
    written = json.loads(path.read_text())
    assert written == json.loads(json.dumps(returned))
    for key in ("machine", "blas", "versions", "settings", "gemm_peak_gflops", "anchors", "skipped", "results"):
        assert key in written, key
    assert written["settings"]["threads"] == 1 and written["gemm_peak_gflops"] > 0
    rows = written["results"]
    assert len(rows) == len(names) * len(CELLS) * 2
    assert {(r["system"], r["cell"], r["pass"]) for r in rows} == {
        (s, c, p) for s in names for c in CELLS for p in ("forward", "train")}
    for r in rows:
        if r["system"] == "broken":
            assert r["error"] == "RuntimeError: this system always fails"
            continue
        assert "error" not in r, r
        assert len(r["times_s"]) == 1 and r["median_s"] > 0 and r["gflops"] > 0 and r["fraction_of_peak"] > 0
        assert r["ratio_to_best_anchor"] > 0
        if r["pass"] == "forward":
            assert r["max_abs_diff"] < 1e-5, r
    best = {}
    for r in rows:
        if r["anchor"] and "median_s" in r:
            best.setdefault((r["cell"], r["pass"]), []).append(r["ratio_to_best_anchor"])
    assert all(min(ratios) == pytest.approx(1.0) for ratios in best.values())
    assert "### 2x3x4x5: forward pass" in printed and "### 2x3x4x5: training step" in printed
    assert "| numpy-bptt |" in printed and "error [1]" in printed
    assert "[1] broken, LSTM: RuntimeError: this system always fails" in printed


def test_peak_memory_sees_a_step_that_holds_64_mib():
    from multirnn.bench import measure

    def step():
        block = np.ones(64 * 2 ** 20 // 8)  # 64 MiB, touched
        return float(block[::4096].sum())
    mib, method = measure.peak_memory_mib(step)
    low = 60 if method == measure.PEAK_METHOD_HWM else 0  # ru_maxrss only grows past the process's earlier peak
    assert low <= mib <= 80, (mib, method)


def test_systems_are_timed_in_interleaved_rounds_and_a_failure_stays_its_own():
    """Round r times one call of every system before round r + 1, so load changes reach all of them alike."""
    from multirnn.bench import runs
    from multirnn.bench.workloads import make_problem, parse_workload
    problem = make_problem(parse_workload("2x3x4x5"), "SimpleRNN")
    reference = runs.reference_output(problem)
    log = []

    def build(name, fail_at=None):
        def builder(problem):
            def call(pass_):
                def run():
                    log.append((name, pass_))
                    if fail_at is not None and sum(1 for e in log if e == (name, pass_)) >= fail_at:
                        raise ValueError(f"{name} gave up")
                    return reference
                return run
            return systems.Runner(call("forward"), call("train"))
        return builder
    chosen = [systems.System("a", build("a")), systems.System("b", build("b", fail_at=3)),
              systems.System("c", build("c"))]
    rows = runs.time_systems(chosen, problem, warmup=2, repeat=3)
    forward = [e for e in log if e[1] == "forward"]
    assert forward == [("a", "forward"), ("a", "forward"), ("b", "forward"), ("b", "forward"),
                       ("c", "forward"), ("c", "forward"),  # the checked call and one warm-up each
                       ("a", "forward"), ("b", "forward"), ("c", "forward"),  # round 1: b's third call fails
                       ("a", "forward"), ("c", "forward"), ("a", "forward"), ("c", "forward")]
    assert log.index(("a", "train")) > len(forward) - 1  # the training pass follows the forward rounds
    by = {(r["system"], r["pass"]): r for r in rows}
    assert [(r["system"], r["pass"]) for r in rows] == [(s, p) for s in "abc" for p in ("forward", "train")]
    assert by["b", "forward"]["error"] == "ValueError: b gave up" and "median_s" not in by["b", "forward"]
    assert by["b", "train"]["error"] == "ValueError: b gave up"  # its warm-up calls count towards fail_at
    for name in "ac":
        for pass_ in ("forward", "train"):
            assert "error" not in by[name, pass_] and len(by[name, pass_]["times_s"]) == 3
        assert by[name, "forward"]["max_abs_diff"] == 0.0
