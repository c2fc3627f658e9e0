"""Measuring one system on some problems, in this process or in a child process of its own."""
import json
import os
import subprocess
import sys
import tempfile
from typing import List, Optional, Sequence

import numpy as np

from multirnn.bench import measure, numpy_reference
from multirnn.bench.systems import System
from multirnn.bench.workloads import PASSES, Problem


def describe(error: BaseException) -> str:
    """One line for a table cell: the exception's type and the start of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


def reference_output(problem: Problem) -> np.ndarray:
    """The float64 NumPy forward output, the yardstick for every system's forward result."""
    weights = [w.astype(np.float64) for w in problem.weights]
    return numpy_reference.forward(problem.cell, weights, problem.x.astype(np.float64))


def _row(system: System, problem: Problem, pass_: str, **fields) -> dict:
    return dict(workload=problem.workload.name, cell=problem.cell, system=system.name, anchor=system.anchor,
                **{"pass": pass_}, **fields)


def time_systems(chosen: Sequence[System], problem: Problem, warmup: int, repeat: int) -> List[dict]:
    """The forward and training rows of every system in `chosen` on `problem`, timed in interleaved rounds.

    Each round times one call of every system in turn, so a change of load on the machine during the
    run reaches every system alike and the ratios between them stay fair. An exception becomes the
    row's error (for that system and pass only)."""
    rows = {s.name: [_row(s, problem, p) for p in PASSES] for s in chosen}
    calls = {}
    for system in chosen:
        try:
            runner = system.build(problem)
        except Exception as e:
            rows[system.name] = [dict(r, error=describe(e)) for r in rows[system.name]]
            continue
        calls[system.name] = (runner.predict, runner.train)
    for index, pass_ in enumerate(PASSES):
        live = {}
        for name, pair in calls.items():
            row = rows[name][index]
            try:
                warm = warmup
                if pass_ == "forward":  # the first call, on the initial weights, is checked and warms up
                    output = np.asarray(pair[index](), dtype=np.float64)
                    row["max_abs_diff"] = float(np.max(np.abs(output - reference_output(problem))))
                    warm = max(warmup - 1, 0)
                measure.time_calls(pair[index], warm, 0)
                live[name] = (pair[index], [])
            except Exception as e:
                row["error"] = describe(e)
        for _ in range(repeat):
            for name, (call, times) in list(live.items()):
                try:
                    times += measure.time_calls(call, 0, 1)
                except Exception as e:
                    rows[name][index]["error"] = describe(e)
                    del live[name]
        for name, (_, times) in live.items():
            rows[name][index].update(times_s=times, median_s=measure.median(times))
    return [row for s in chosen for row in rows[s.name]]


def memory_of_system(system: System, problem: Problem) -> dict:
    """The peak memory one training step of `system` on `problem` adds."""
    row = dict(workload=problem.workload.name, cell=problem.cell, system=system.name)
    try:
        mib, method = measure.peak_memory_mib(system.build(problem).train)
        row.update(peak_mib=mib, method=method)
    except Exception as e:
        row["error"] = describe(e)
    return row


def run_child(system: System, task: str, keys: Sequence[str], problems_path: str, workdir: str, threads: int,
              warmup: int = 1, repeat: int = 1, timeout: Optional[float] = None) -> List[dict]:
    """Run `task` ('time' or 'memory') for `system` in a fresh Python; its rows, or raises RuntimeError."""
    folder = tempfile.mkdtemp(prefix=f"{task}-{system.name}-", dir=workdir)
    spec_path, out_path = os.path.join(folder, "spec.json"), os.path.join(folder, "rows.json")
    with open(spec_path, "w") as f:
        json.dump(dict(task=task, system=system.name, keys=list(keys), problems=problems_path, threads=threads,
                       warmup=warmup, repeat=repeat), f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **{v: str(threads) for v in measure.THREAD_VARIABLES})
    if system.keras_backend:
        env["KERAS_BACKEND"] = system.keras_backend
    try:
        done = subprocess.run([sys.executable, "-m", "multirnn.bench.child", spec_path, out_path], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"child process timed out after {timeout:.0f} s") from None
    if done.returncode != 0 or not os.path.exists(out_path):
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(f"child process failed ({done.returncode}): {lines[-1] if lines else 'no message'}")
    with open(out_path) as f:
        return json.load(f)


def error_rows(system: System, problems: Sequence[Problem], error: str) -> List[dict]:
    """Timing rows that carry `error`, for a system whose child process failed."""
    return [_row(system, p, pass_, error=error) for p in problems for pass_ in PASSES]
