"""The suite catches a fault just above tolerance, exactly where it is, and nowhere else.

A test-only hook (`conformance.faults.perturb`) scales one backend's `sigmoid` by (1 + 1e-8):
every configuration that applies sigmoid must fail on the pair involving that backend, and
every other configuration must still pass. The fault sits in a primitive of the generic path, so these
tests run it with the fast paths off; the fused kernels are held to that path by the suite's
fast-vs-generic pairs (`numpy` vs `numpy/generic`).
"""
import numpy as np
import pytest

from conftest import needs_torch
from multirnn import backends, conformance, layers
from multirnn.backends import config
from multirnn.conformance import cli, matrix
from multirnn.conformance.faults import perturb
from multirnn.conformance.runner import run_matrix

SIDES = ["numpy", "torch"]


@pytest.fixture(autouse=True)
def _generic_path():
    with config.use_fast_paths(False):
        yield


def _subset():
    configs = matrix.quick()
    return configs + [c for c in matrix.configurations()[:300:7] if c not in configs]


@needs_torch
def test_perturbed_sigmoid_fails_exactly_the_configurations_that_use_it():
    configs = _subset()
    expected = {c.id for c in configs if c.uses("sigmoid")}
    assert 0 < len(expected) < len(configs)
    with perturb("torch", "sigmoid", relative=1e-8):
        results = run_matrix(configs, SIDES, dtypes=["float64"])
    failed = {r.name for r in results if not r.ok}
    assert failed == expected, (f"missed: {sorted(expected - failed)[:5]}; "
                                f"false alarms: {sorted(failed - expected)[:5]}")
    for r in results:
        if not r.ok:
            assert r.failed_sides() == {"numpy", "torch"} and not r.errors


@needs_torch
def test_a_perturbation_below_tolerance_is_not_reported():
    configs = [c for c in matrix.quick() if c.uses("sigmoid")][:8]
    with perturb("torch", "sigmoid", relative=1e-13):
        results = run_matrix(configs, SIDES, dtypes=["float64"], steps=1)
    assert all(r.ok for r in results), [r.failures()[:2] for r in results if not r.ok]


def test_perturb_wraps_the_instance_and_restores_it():
    backend = backends.get("numpy")
    x = backend.constant(np.array([0.3, -1.2]), "float64")
    before = backend.to_numpy(backend.sigmoid(x))
    with perturb("numpy", "sigmoid", relative=1e-3):
        np.testing.assert_allclose(backend.to_numpy(backend.sigmoid(x)), before * (1 + 1e-3))
        with pytest.raises(RuntimeError, match="already wrapped"):
            with perturb("numpy", "sigmoid"):
                pass
    assert "sigmoid" not in vars(backend)
    np.testing.assert_array_equal(backend.to_numpy(backend.sigmoid(x)), before)


@needs_torch
def test_cli_exits_non_zero_and_prints_a_repro_line(capsys):
    config = next(c for c in matrix.quick() if c.uses("sigmoid") and c.dtype == "float64")  # 1e-6 is under float32's 1e-5
    with perturb("torch", "sigmoid", relative=1e-6):
        code = cli.main(["--only", config.id, "--backends", "numpy,torch", "--no-generic", "--oracles", "none", "-q"])
    text = capsys.readouterr().out
    assert code == 1
    assert config.id in text and f"repro: python -m multirnn.conformance --only '{config.id}'" in text


@needs_torch
def test_assert_conform_reports_the_differing_tensors():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    with perturb("torch", "sigmoid", relative=1e-7):
        with pytest.raises(AssertionError, match=r"numpy vs torch: forward:out\[0\]"):
            conformance.assert_conform(lambda: layers.GRU(2), x, backends=SIDES)
    conformance.assert_conform(lambda: layers.GRU(2), x, backends=SIDES)


@needs_torch
def test_a_listed_known_difference_is_forgiven_with_its_reason(tmp_path, capsys):
    config = next(c for c in matrix.quick() if c.uses("sigmoid") and c.dtype == "float64")  # 1e-6 is under float32's 1e-5
    listed = tmp_path / "known.txt"
    listed.write_text(f"{config.id[:12]}*  torch~numpy  the torch sigmoid is perturbed in this test\n")
    with perturb("torch", "sigmoid", relative=1e-6):
        code = cli.main(["--only", config.id, "--backends", "numpy,torch", "--no-generic", "--oracles", "none", "-q",
                         "--known", str(listed)])
    assert code == 0
    assert "known differences: 1" in capsys.readouterr().out
