"""`python -m multirnn.conformance`: run the matrix on what is installed, print a summary, write JSON."""
import argparse
import json
import os
import shlex
import sys
import time
from typing import List, Optional

from . import known, matrix, models, oracles as oracle_mod  # noqa: E402
from .report import merge, summarize, table  # noqa: E402
from .pool import run_tasks  # noqa: E402
from .runner import GENERIC, TOLERANCE, matrix_tasks, parse_side, quiet_threads, with_generic  # noqa: E402

DTYPES = {"matrix": [None], "float64": ["float64"], "float32": ["float32"], "both": ["float64", "float32"]}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m multirnn.conformance",
                                description="Run the recurrent-layer conformance matrix on every installed backend.")
    p.add_argument("--backends", help="comma-separated backends (default: every one that loads here); "
                                      f"'NAME{GENERIC}' is that backend with its fast paths off")
    p.add_argument("--compiled", action="store_true",
                   help="with the default backends, also run fast paths that compile one trace per configuration "
                        "(TensorFlow's compiled layers; the traces dominate the time of the whole matrix)")
    p.add_argument("--no-generic", action="store_true",
                   help="do not add the generic path of each backend with fast paths as a side of its own")
    p.add_argument("--dtype", default="matrix", choices=sorted(DTYPES),
                   help="matrix: each configuration's own dtype (default); both: float64 and float32")
    p.add_argument("--oracles", default="all", help="comma-separated oracles (tf_keras, torch_nn), 'all' or 'none'")
    p.add_argument("--float32-covering", metavar="SIDES", default="",
                   help="comma-separated sides (e.g. tensorflow/generic,tf_keras) that run float32 only on the covering "
                        "subset (every pair of option values); they run every other dtype on the whole selection")
    p.add_argument("--only", help="comma-separated id globs or substrings, e.g. 'lstm-*-bi_concat*'")
    p.add_argument("--quick", action="store_true", help="only the covering subset (every pair of option values)")
    p.add_argument("--models", default="auto", choices=("auto", "yes", "no", "only"),
                   help="the models section (whole models trained with fit, against tf_keras): auto (default) runs "
                        "it with the whole matrix (no --quick or --only; shard 1 of N); 'only' skips the matrix, "
                        "and --only then selects model ids such as 'model:stacked_lstm~*'")
    p.add_argument("--shard", help="K/N: run the K-th of N equal slices (1-based), for parallel CI jobs; 'env': "
                                   "K = RANK + 1 and N = WORLD_SIZE from the environment (torchrun)")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="print (and with --json write) one report from the JSON reports of all N shards of a run")
    p.add_argument("--jobs", "-j", default="1", help="worker processes ('auto' = one per CPU)")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps per configuration (default 3)")
    p.add_argument("--json", help="write the full results to this JSON file")
    p.add_argument("--known", help="known-differences file (default: the packaged, empty one)")
    p.add_argument("--list", action="store_true", help="list the selected configuration ids and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.add_argument("--cells", action="store_true",
                   help="run the custom-cell section instead (a user's own cell in RNN(cell), cells.py)")
    return p


def _shard(args) -> tuple:
    """(K, N) of `--shard K/N`, (1, 1) without it."""
    if not args.shard:
        return 1, 1
    if args.shard == "env":  # one shard per process of a torchrun (or any launcher setting RANK, WORLD_SIZE)
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise ValueError("--shard env: RANK and WORLD_SIZE are not set (launch with torchrun, or give K/N)")
        return int(os.environ["RANK"]) + 1, int(os.environ["WORLD_SIZE"])
    try:
        k, n = (int(v) for v in args.shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard {args.shard}: expected K/N with 1 <= K <= N") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {args.shard}: expected K/N with 1 <= K <= N")
    return k, n


def _select(args) -> list:
    configs = matrix.quick() if args.quick else matrix.configurations()
    configs = matrix.select(args.only, configs)
    k, n = _shard(args)
    return configs[k - 1::n]


def _backends(args) -> List[str]:
    from multirnn import backends
    if args.backends:
        names = [b.strip() for b in args.backends.split(",") if b.strip()]
        names = [backends.check_name(parse_side(b)[0]) + ("" if parse_side(b)[1] else GENERIC) for b in names]
        return names if args.no_generic else with_generic(names)
    names = backends.available()
    return names if args.no_generic else with_generic(names, compiled=args.compiled or args.quick)


def _oracles(args) -> List[str]:
    if args.oracles in ("none", ""):
        return []
    installed = oracle_mod.available()
    if args.oracles == "all":
        return installed
    names = [o.strip() for o in args.oracles.split(",") if o.strip()]
    for name in names:
        if name not in oracle_mod.ORACLES:
            raise ValueError(f"unknown oracle {name!r}; known: {', '.join(oracle_mod.ORACLES)}")
    return [n for n in names if n in installed]


def _float32_covering(args, sides: List[str]) -> List[str]:
    """The sides of `--float32-covering`, each one that this run compares."""
    names = [n.strip() for n in args.float32_covering.split(",") if n.strip()]
    unknown = [n for n in names if n not in sides]
    if unknown:
        raise ValueError(f"--float32-covering: {', '.join(unknown)} is not a side of this run; its sides: {', '.join(sides)}")
    return names


class Progress:
    """One updating line on a terminal, a line every 5% elsewhere."""

    def __init__(self, quiet: bool):
        self.quiet, self.start, self.failed, self.last = quiet, time.perf_counter(), 0, -1
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int, result) -> None:
        self.failed += not result.passed
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done)
        line = (f"[{done}/{total}] {100 * done / total:5.1f}%  {elapsed:6.0f}s elapsed  ~{eta:5.0f}s left  "
                f"failures: {self.failed}")
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if done == total else ""))
        elif done == total or done * 20 // total != self.last:
            self.last = done * 20 // total
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def repro(result, backend_names, oracle_names) -> str:
    """The one-line command that reruns this configuration alone."""
    parts = ["python -m multirnn.conformance", "--only", shlex.quote(result.name), "--dtype", result.dtype,
             "--backends", ",".join(backend_names), "--oracles", ",".join(oracle_names) or "none"]
    if result.name.startswith("model:"):
        parts[-2:] = ["--models", "only"] + (["--oracles", "none"] if "tf_keras" not in oracle_names else [])
    return " ".join(parts)


def render(summary: dict, results, backend_names, oracle_names, wall: float) -> str:
    """The summary: totals, worst difference per pair and dtype, time per side, failures with repro lines."""
    lines = [f"configurations: {summary['configurations']}   checks: {summary['checks']}   "
             f"failed: {summary['failed']}   known differences: {summary['known']}   wall time: {wall:.1f}s",
             f"backends: {', '.join(backend_names)}   oracles: {', '.join(oracle_names) or 'none'}   "
             f"tolerance: float64 {TOLERANCE['float64']:.0e}, float32 {TOLERANCE['float32']:.0e} (scaled by max(1, |x|))",
             ""]
    rows = []
    dtypes = {d for entry in summary["pairs"].values() for d in entry.get("configs_per_dtype", {})}
    for pair, entry in summary["pairs"].items():
        worst = "  ".join(f"{d} {v:.2g}" for d, v in sorted(entry["worst"].items()))
        per_dtype = entry.get("configs_per_dtype", {})
        configs = "  ".join(f"{d} {n}" for d, n in sorted(per_dtype.items())) if len(dtypes) > 1 else entry["configs"]
        rows.append([pair, configs, entry["checks"], worst, entry["failures"]])
    lines.append(table(rows, ["pair", "configs", "checks", "worst scaled diff", "failed checks"]))
    seconds = "  ".join(f"{side} {s:.1f}s" for side, s in summary["seconds"].items())
    lines += ["", f"time per side: {seconds}"]
    if summary["not_applicable"]:
        lines.append("oracle not applicable (torch.nn: masks, activations, GRU reset_before): " +
                     ", ".join(f"{k} {v}" for k, v in summary["not_applicable"].items()))
    for side, reasons in summary.get("fast_path_declined", {}).items():
        lines.append(f"fast path declined on {side}: " + "; ".join(f"{why} ({n})" for why, n in reasons.items()))
    if summary["inference_only"]:
        lines.append("oracle compared in inference mode only (dropout): " +
                     ", ".join(f"{k} {v}" for k, v in summary["inference_only"].items()))
    listed = [r for r in results if r.known]
    if listed:
        lines += ["", f"KNOWN DIFFERENCES ({len(listed)}):"]
        lines += [f"  {r.name} [{r.dtype}]: {'; '.join(r.known)}" for r in listed]
    failed = [r for r in results if not r.passed]
    if failed:
        lines += ["", f"FAILURES ({len(failed)}):"]
        for r in failed:
            lines.append(f"  {r.name} [{r.dtype}]")
            lines += [f"      {d}" for d in r.failures()[:6]]
            lines.append(f"      repro: {repro(r, backend_names, oracle_names)}")
    return "\n".join(lines)


def _run_models(args) -> bool:
    if args.models == "auto":
        return not (args.quick or args.only) and (not args.shard or args.shard.split("/")[0] == "1")
    return args.models in ("yes", "only")


def main(argv: Optional[List[str]] = None, tune_threads: bool = False) -> int:
    """Run the selected matrix; 0 when everything conforms, 1 on any failure, 2 on bad arguments.

    `tune_threads` limits torch and TensorFlow to one thread each in this process (the command does).
    """
    args = _parser().parse_args(argv)
    if args.merge:
        return merge_main(args)
    if args.cells:
        from . import cells
        names = [parse_side(b.strip())[0] for b in args.backends.split(",") if b.strip()] if args.backends else None
        return cells.main(names, oracle=args.oracles not in ("none", ""))
    try:
        configs = _select(args) if args.models != "only" else []
        model_cases = models.cases(args.only if args.models == "only" else None) if _run_models(args) else []
        if args.list:
            print("\n".join([c.id for c in configs] + [models.case_id(s.name, o) for s, o in model_cases]))
            return 0
        entries = known.load(args.known)
        backend_names = _backends(args)
        oracle_names = _oracles(args)
        float32_covering = _float32_covering(args, backend_names + oracle_names)
        workers = (os.cpu_count() or 1) if args.jobs == "auto" else int(args.jobs)
    except (ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not configs and not model_cases:
        print("error: no configuration matches", file=sys.stderr)
        return 2
    if tune_threads:
        quiet_threads(backend_names + oracle_names)
    start = time.perf_counter()
    # one pool for both: the models' long tasks go first, so the matrix's short ones fill the tail
    dtypes = [d for d in DTYPES[args.dtype] if d] or ["float64", "float32"]
    model_part = models.model_tasks(model_cases, backend_names, dtypes, "tf_keras" in oracle_names) if model_cases else []
    matrix_part = matrix_tasks(configs, backend_names, DTYPES[args.dtype], oracle_names, workers, args.steps,
                               float32_covering)
    frameworks = backend_names + oracle_names + ([models.ORACLE] if model_part else [])
    results = run_tasks(model_part + matrix_part, workers, frameworks, Progress(args.quiet))
    model_count = sum(len(task[1]) for task in model_part)
    results = results[model_count:] + results[:model_count]  # the matrix first, as reported and stored
    for r in results:
        known.apply(r, entries)
    wall = time.perf_counter() - start
    summary = summarize(results)
    print(render(summary, results, backend_names, oracle_names, wall))
    if float32_covering:
        covered = len(set(matrix.quick()) & set(configs))
        print(f"float32 on the covering subset only ({covered} of {len(configs)} configurations): "
              f"{', '.join(float32_covering)}")
    if args.json:
        k, n = _shard(args)
        per_config = len(DTYPES[args.dtype])
        stored = [dict(r.as_dict(), position=k - 1 + n * (j // per_config)) for j, r in enumerate(results)]
        _write_json(args.json, {"summary": summary, "wall_seconds": wall, "backends": backend_names,
                                "oracles": oracle_names, "shard": [k, n], "results": stored})
    return 1 if summary["failed"] else 0


def merge_main(args) -> int:
    """`--merge a.json b.json ...`: the summary of the whole run from the reports of its shards."""
    try:
        documents = []
        for path in args.merge:
            with open(path) as f:
                documents.append(json.load(f))
        summary, results = merge(documents, args.merge)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = max(float(d.get("wall_seconds", 0.0)) for d in documents)  # the shards ran side by side
    print(render(summary, results, documents[0]["backends"], documents[0]["oracles"], wall))
    if args.json:
        _write_json(args.json, {"summary": summary, "wall_seconds": wall, "backends": documents[0]["backends"],
                                "oracles": documents[0]["oracles"], "shard": [1, 1], "merged": list(args.merge),
                                "results": [r.data for r in results]})
    return 1 if summary["failed"] else 0


def _write_json(path: str, document: dict) -> None:
    with open(path, "w") as f:
        json.dump(document, f, indent=1, default=_json_default)


def _json_default(value):
    if isinstance(value, float):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
