"""The conformance suite: the same recurrent configurations on every backend, and against oracles.

`python -m multirnn.conformance` runs the matrix; `compare`/`assert_conform` check a user's model.
"""
from .api import assert_conform, compare
from .matrix import Config, by_id, configurations, quick, select
from .report import ConfigResult, Report, TensorDiff
from .runner import TOLERANCE, run_config, run_matrix

__all__ = ["compare", "assert_conform", "Config", "configurations", "quick", "select", "by_id",
           "Report", "ConfigResult", "TensorDiff", "run_config", "run_matrix", "TOLERANCE"]
