"""The custom-cell section of the conformance suite: a user's GRU-like cell (and a stack of it with
LSTMCell) gives the same outputs and gradients on every backend and in tf_keras."""
import os

import pytest

from conftest import BACKENDS
from multirnn.backends import frameworks
from multirnn.conformance import cells

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_custom_cells_conform_on_every_backend_and_with_tf_keras():
    failures = cells.run(BACKENDS, dtypes=("float64",))  # float32 too in `--cells`
    sides = {side for _, _, side in failures}
    assert sides == set(BACKENDS[1:]) | ({"tf_keras"} if frameworks.HAS_TF_KERAS else set())
    assert len(failures) == len(cells.CONFIGS) * len(sides)
    assert not {key: bad for key, bad in failures.items() if bad}


def test_the_comparison_can_fail():
    data = cells.host_data(cells.CONFIGS[0], "float64", cells.weight_shapes(cells.CONFIGS[0]))
    ours = cells.run_multirnn(cells.CONFIGS[0], "numpy", "float64", data)
    nudged = dict(ours, **{"grad:w1": ours["grad:w1"] + 1e-6})
    assert cells.compare(nudged, ours, "float64") == ["grad:w1"]
    assert cells.compare({"out[0]": ours["out[0]"]}, ours, "float64") == sorted(set(ours) - {"out[0]"})


@pytest.mark.skipif(not frameworks.HAS_TORCH, reason="torch is not installed")
def test_the_command_runs_the_section(capsys):
    from multirnn.conformance.cli import main
    assert main(["--cells", "--backends", "numpy,torch", "--oracles", "none"]) == 0
    out = capsys.readouterr().out
    assert "cells mgu-seq [float32] torch vs numpy: ok" in out and "custom cells: 6 comparisons, 0 failed" in out
