"""The benchmark's sizes, cells and problems: identical weights and data for every system."""
import re
import zlib
from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np

CELLS = ("LSTM", "GRU", "SimpleRNN")
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
PASSES = ("forward", "train")
LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Workload:
    name: str
    batch: int
    steps: int
    features: int
    units: int

    def describe(self) -> str:
        return (f"batch {self.batch}, {self.steps} steps, {self.features} features, "
                f"{self.units} units")

    def flops(self, cell: str, pass_: str) -> float:
        """FLOPs of the input and recurrent GEMMs: 2·B·T·(D+U)·k·U forward, 3× that for training."""
        forward = 2.0 * self.batch * self.steps * (self.features + self.units) * GATES[cell] * self.units
        return forward if pass_ == "forward" else 3.0 * forward


WORKLOADS: Dict[str, Workload] = {w.name: w for w in (
    Workload("small", 32, 50, 32, 64),
    Workload("large", 64, 100, 128, 256),
    Workload("long", 16, 1000, 64, 128),
)}


def parse_workload(text: str) -> Workload:
    """A named workload, or a custom one written `BxTxDxU` (batch, steps, features, units)."""
    if text in WORKLOADS:
        return WORKLOADS[text]
    match = re.fullmatch(r"(\d+)x(\d+)x(\d+)x(\d+)", text)
    if not match:
        raise ValueError(f"unknown workload {text!r}: expected one of {', '.join(WORKLOADS)} or BxTxDxU")
    return Workload(text, *(int(n) for n in match.groups()))


@dataclass
class Problem:
    """One workload and cell: Keras 2 layout weights, inputs x (B, T, D), targets y (B, U)."""
    workload: Workload
    cell: str
    weights: List[np.ndarray]
    x: np.ndarray
    y: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.workload.name}/{self.cell}"


def _orthogonal(rng: np.random.RandomState, rows: int, cols: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.randn(max(rows, cols), min(rows, cols)))
    q *= np.sign(np.diag(r))
    return q if rows >= cols else q.T


def make_problem(workload: Workload, cell: str, seed: int = 0) -> Problem:
    """Keras-like initial weights (Glorot kernel, orthogonal recurrent blocks, small random biases)."""
    salt = zlib.crc32(workload.name.encode())
    rng = np.random.RandomState([seed, salt, CELLS.index(cell)])
    d, u, k = workload.features, workload.units, GATES[cell]
    limit = np.sqrt(6.0 / (d + k * u))
    kernel = rng.uniform(-limit, limit, (d, k * u))
    recurrent = np.concatenate([_orthogonal(rng, u, u) for _ in range(k)], axis=1)
    bias = rng.uniform(-0.1, 0.1, (2, k * u) if cell == "GRU" else (k * u,))
    data = np.random.RandomState([seed, salt])
    x = data.randn(workload.batch, workload.steps, d)
    y = data.uniform(-0.5, 0.5, (workload.batch, u))
    as32 = [np.ascontiguousarray(a, dtype=np.float32) for a in (kernel, recurrent, bias, x, y)]
    return Problem(workload, cell, as32[:3], as32[3], as32[4])


def save_problems(problems: Sequence[Problem], path: str) -> None:
    """All problems in one .npz, keyed `workload/cell/name`, for the child processes."""
    arrays = {}
    for p in problems:
        arrays.update({f"{p.key}/w{i}": w for i, w in enumerate(p.weights)})
        arrays[f"{p.key}/x"], arrays[f"{p.key}/y"] = p.x, p.y
    np.savez(path, **arrays)


def load_problems(path: str, keys: Sequence[str]) -> Dict[str, Problem]:
    """The problems named by `keys` (`workload/cell`) from a file written by `save_problems`."""
    problems = {}
    with np.load(path) as data:
        for key in keys:
            workload, cell = key.split("/")
            weights = [data[f"{key}/w{i}"] for i in range(3)]
            problems[key] = Problem(parse_workload(workload), cell, weights, data[f"{key}/x"], data[f"{key}/y"])
    return problems
