"""`python -m multirnn.bench`: the command line, and the run that ties systems, timing and report together."""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from multirnn.bench import measure, report, runs, systems
from multirnn.bench.workloads import CELLS, WORKLOADS, Problem, make_problem, parse_workload, save_problems

DESCRIPTION = ("Time multirnn's recurrent layers on every installed backend against torch.nn, tf_keras, Keras 3 "
               "and a hand-written NumPy BPTT, in one process with the same weights, data and threads.")
CHILD_TIMEOUT_S = 3600


def _names(text: str) -> List[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m multirnn.bench", description=DESCRIPTION)
    parser.add_argument("--workloads", type=_names, help=f"comma-separated: {', '.join(WORKLOADS)} or BxTxDxU "
                        "(default: all; small with --quick)")
    parser.add_argument("--cells", type=_names, help=f"comma-separated: {', '.join(CELLS)} (default: all)")
    parser.add_argument("--systems", type=_names, help="comma-separated: " + ", ".join(systems.SYSTEMS)
                        + ", or the prefixes multirnn, keras3 (default: all installed)")
    parser.add_argument("--threads", type=int, help="threads for every system (default: all usable cores)")
    parser.add_argument("--repeat", type=int, help="timed runs per figure, after warm-up (default 7; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="the small workload, fewer runs: well under a minute")
    parser.add_argument("--gemm-size", type=int, default=2048, help="side of the square matmul that measures "
                        "the float32 GEMM peak (default 2048)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory of the long workload")
    parser.add_argument("--json", metavar="FILE", help="write every row and the settings as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the ratios to the best anchor")
    args = parser.parse_args(argv)
    spelled = {c.lower(): c for c in CELLS}
    for cell in args.cells or ():
        if cell.lower() not in spelled:
            parser.error(f"unknown cell {cell!r}; expected {', '.join(CELLS)}")
    args.cells = [spelled[c.lower()] for c in args.cells] if args.cells else list(CELLS)
    try:
        args.workloads = [parse_workload(w) for w in args.workloads or (["small"] if args.quick else WORKLOADS)]
        args.systems = systems.select(args.systems)
    except ValueError as e:
        parser.error(str(e))
    if any(n is not None and n < 1 for n in (args.threads, args.repeat, args.gemm_size)):
        parser.error("--threads, --repeat and --gemm-size must be positive")
    return args


class _Progress:
    """Progress lines on stderr, stamped with the seconds since the run began."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.start:5.1f} s] {text}", file=sys.stderr, flush=True)


_progress = _Progress()


def _report_rows(rows: Sequence[dict]) -> None:
    """One progress line per system and problem, on stderr."""
    parts = [f"{r['pass']} " + (r["error"] if "error" in r else f"{1e3 * r['median_s']:.2f} ms") for r in rows]
    first = rows[0]
    _progress(f"  {first['workload']} {first['cell']:<9} {first['system']:<19} " + ", ".join(parts))


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark, print the markdown report; returns everything measured (what --json writes)."""
    args = parse_args(argv)
    _progress.start = time.perf_counter()
    cells = args.cells
    threads = args.threads or measure.usable_cores()
    repeat, warmup = args.repeat or (3 if args.quick else 7), 1 if args.quick else 2
    chosen, skipped = _available(args.systems)
    here = [s for s in chosen if not s.keras_backend]
    thread_notes = measure.configure_threads(threads, sorted({f for s in here for f in s.frameworks}))
    blas_limits = measure.limit_blas(threads)  # noqa: F841  (in force until main returns)
    gemm_size, gemm_repeat = args.gemm_size, 3 if args.quick else 5
    info = dict(machine=measure.machine(), blas=measure.blas_kernels(), versions=measure.versions(),
                skipped=skipped, anchors=[s.name for s in chosen if s.anchor],
                settings=dict(threads=threads, thread_notes=thread_notes, repeat=repeat, warmup=warmup,
                              gemm_size=gemm_size, gemm_repeat=gemm_repeat,
                              blas_note=f"BLAS {threads}" if blas_limits is not None else
                              "BLAS threads from the environment (no threadpoolctl)"))
    _progress(f"threads {threads}; BLAS: {'; '.join(info['blas'])}")
    peak_before = measure.gemm_peak(gemm_size, gemm_repeat)
    _progress(f"float32 GEMM peak {peak_before:.1f} GFLOP/s")
    problems = [make_problem(w, c) for w in args.workloads for c in cells]
    long_problems = [] if args.no_memory else [p for p in problems if p.workload.name == "long"]
    with tempfile.TemporaryDirectory(prefix="multirnn-bench-") as workdir:
        problems_path = os.path.join(workdir, "problems.npz")
        save_problems(problems, problems_path)
        rows = _timings(chosen, problems, problems_path, workdir, threads, warmup, repeat)
        memory = _memory(chosen, long_problems, problems_path, workdir, threads)
    info["gemm_peak_gflops"] = max(peak_before, measure.gemm_peak(gemm_size, gemm_repeat))
    info["machine"]["load_average_after"] = measure.load_average()
    report.annotate(rows, {w.name: w for w in args.workloads}, info["gemm_peak_gflops"])
    names = [s.name for s in chosen]
    lines = report.header(info) + [""]
    for workload in args.workloads:
        for pass_ in ("forward", "train"):
            lines += report.timing_table(rows, workload, pass_, cells, names)
    for workload in {p.workload.name: p.workload for p in long_problems}.values():
        lines += report.memory_table(memory, workload, cells, names)
    print("\n".join(lines).rstrip())
    result = dict(info, workloads=[vars(w) for w in args.workloads], cells=cells, results=rows, memory=memory)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        problem = report.plot(rows, args.plot, args.workloads, cells, names)
        if problem:
            _progress(f"no plot: {problem}")
    return result


def _available(candidates: Sequence[systems.System]) -> Tuple[List[systems.System], Dict[str, str]]:
    """The systems that can run here, and the reason for each that cannot."""
    chosen, skipped = [], {}
    for system in candidates:
        reason = system.unavailable()
        if reason:
            skipped[system.name] = reason
            _progress(f"skipping {system.name}: {reason}")
        else:
            chosen.append(system)
    return chosen, skipped


def _timings(chosen: Sequence[systems.System], problems: Sequence[Problem], problems_path: str, workdir: str,
             threads: int, warmup: int, repeat: int) -> List[dict]:
    """Every timing row: the systems of this process problem by problem (interleaved), then those needing a child."""
    rows: List[dict] = []
    here = [s for s in chosen if not s.keras_backend]
    for problem in problems:
        measured = runs.time_systems(here, problem, warmup, repeat)
        for system in here:
            _report_rows([r for r in measured if r["system"] == system.name])
        rows += measured
    for system in chosen:
        if system.keras_backend:
            rows += _child_timings(system, problems, problems_path, workdir, threads, warmup, repeat)
    return rows


def _child_timings(system: systems.System, problems: Sequence[Problem], problems_path: str, workdir: str, threads: int,
                   warmup: int, repeat: int) -> List[dict]:
    """All timings of a system that needs its own process (Keras 3 picks its backend at import)."""
    try:
        rows = runs.run_child(system, "time", [p.key for p in problems], problems_path, workdir, threads,
                              warmup, repeat, CHILD_TIMEOUT_S)
    except RuntimeError as e:
        rows = runs.error_rows(system, problems, str(e))
    for problem in problems:
        _report_rows([r for r in rows if r["workload"] == problem.workload.name and r["cell"] == problem.cell])
    return rows


def _memory(chosen: Sequence[systems.System], problems: Sequence[Problem], problems_path: str, workdir: str,
            threads: int) -> List[dict]:
    """Peak memory of a training step: one child process per system and problem."""
    rows = []
    for problem in problems:
        for system in chosen:
            try:
                row = runs.run_child(system, "memory", [problem.key], problems_path, workdir, threads,
                                     timeout=CHILD_TIMEOUT_S)[0]
            except RuntimeError as e:
                row = dict(workload=problem.workload.name, cell=problem.cell, system=system.name, error=str(e))
            _progress(f"  memory {problem.cell:<9} {system.name:<19} "
                      + (row["error"] if "error" in row else f"{row['peak_mib']:.1f} MiB"))
            rows.append(row)
    return rows
