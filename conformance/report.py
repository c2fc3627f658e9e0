"""Differences between two results, per configuration and over a whole run, as tables and JSON."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np


@dataclass
class TensorDiff:
    """The max abs and scaled differences of one named tensor between two sides."""
    name: str
    abs: float
    rel: float
    tol: float
    ok: bool
    note: str = ""

    def line(self) -> str:
        status = "ok" if self.ok else "FAIL"
        extra = f" ({self.note})" if self.note else ""
        return f"{self.name}: max abs {self.abs:.3g}, rel {self.rel:.3g}, tol {self.tol:.0e} {status}{extra}"


def compare_arrays(name: str, a: Optional[np.ndarray], b: Optional[np.ndarray], tol: float,
                   stats: Optional[dict] = None) -> TensorDiff:
    """Pass when max|a-b| <= tol * max(1, max|a|, max|b|); tol 0 means bit-exact.

    `stats`, a dict kept for the lifetime of the arrays, caches each array's float64 copy, finiteness and
    max |x| by identity, for a tensor compared with several sides."""
    if a is None or b is None:
        return TensorDiff(name, np.inf, np.inf, tol, False, "missing on " + ("the first side" if a is None else "the second side"))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return TensorDiff(name, np.inf, np.inf, tol, False, f"shape {a.shape} vs {b.shape}")
    if a.size == 0:
        return TensorDiff(name, 0.0, 0.0, tol, True)
    (a64, a_finite, a_max), (b64, b_finite, b_max) = _stats(a, stats), _stats(b, stats)
    if not (a_finite and b_finite):
        same = np.array_equal(a64, b64, equal_nan=True)
        return TensorDiff(name, 0.0 if same else np.inf, 0.0 if same else np.inf, tol, same, "non-finite values")
    diff = float(np.max(np.abs(a64 - b64)))
    scale = max(1.0, a_max, b_max)
    if tol == 0.0:
        ok = bool(np.array_equal(a, b)) and a.dtype == b.dtype
        return TensorDiff(name, diff, diff / scale, tol, ok, "" if ok else "must be bit-identical")
    return TensorDiff(name, diff, diff / scale, tol, diff <= tol * scale)


def _stats(x: np.ndarray, cache: Optional[dict]) -> tuple:
    """(float64 copy, all finite, max |x|) of a non-empty array, from `cache` when it holds x."""
    found = cache.get(id(x)) if cache is not None else None
    if found is not None and found[0] is x:
        return found[1]
    x64 = x.astype(np.float64)
    finite = bool(np.isfinite(x64).all())
    computed = (x64, finite, float(np.max(np.abs(x64))) if finite else np.inf)
    if cache is not None:
        cache[id(x)] = (x, computed)  # x itself kept too: its id stays its own while the entry lives
    return computed


@dataclass
class Report:
    """Several backends (and oracles) on one subject: the diffs of every pair, errors, seconds per side."""
    name: str
    dtype: str
    pairs: Dict[Tuple[str, str], List[TensorDiff]] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    inference_only: Dict[str, str] = field(default_factory=dict)
    known: List[str] = field(default_factory=list)
    declined: Dict[str, List[str]] = field(default_factory=dict)  # side -> why its fast path declined

    @property
    def ok(self) -> bool:
        return not self.errors and all(d.ok for diffs in self.pairs.values() for d in diffs)

    @property
    def passed(self) -> bool:
        """Ok, or failing only where the known-differences file says why."""
        return self.ok or bool(self.known)

    @property
    def checks(self) -> int:
        return sum(len(d) for d in self.pairs.values())

    def failed_sides(self) -> set:
        """Names of the backends/oracles involved in a failing pair or an error."""
        sides = set(self.errors)
        for (a, b), diffs in self.pairs.items():
            if any(not d.ok for d in diffs):
                sides.update((a, b))
        return sides

    def failures(self) -> List[str]:
        lines = [f"{side}: {err}" for side, err in self.errors.items()]
        for (a, b), diffs in self.pairs.items():
            lines += [f"{a} vs {b}: {d.line()}" for d in diffs if not d.ok]
        return lines

    def worst(self, pair) -> float:
        return max((d.rel for d in self.pairs.get(pair, [])), default=0.0)

    def max_abs(self, a: str, b: str, tensor: str) -> float:
        """The max abs difference of one tensor between two sides."""
        diffs = self.pairs.get((a, b)) or self.pairs.get((b, a))
        if diffs is None:
            raise KeyError(f"no comparison of {a} with {b} in this report; compared: "
                           f"{', '.join(f'{x}/{y}' for x, y in self.pairs) or 'nothing'}")
        return next(d.abs for d in diffs if d.name == tensor)

    def table(self) -> str:
        """Every compared tensor: side pair, name, max abs and scaled differences, status."""
        rows = [[f"{a} vs {b}", d.name, f"{d.abs:.3g}", f"{d.rel:.3g}", f"{d.tol:.0e}",
                 "ok" if d.ok else "FAIL" + (f" ({d.note})" if d.note else "")]
                for (a, b), diffs in self.pairs.items() for d in diffs]
        text = f"{self.name} [{self.dtype}]: {'ok' if self.ok else 'FAILED'}\n"
        text += table(rows, ["pair", "tensor", "max abs", "max rel", "tol", "status"])
        if self.errors:
            text += "\n" + "\n".join(f"error on {side}: {err}" for side, err in self.errors.items())
        return text

    def __str__(self) -> str:
        return self.table()

    def as_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "ok": self.ok, "errors": self.errors,
                "skipped": self.skipped, "fast_path_declined": self.declined, "inference_only": self.inference_only, "known_differences": self.known,
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
                "pairs": {f"{a}~{b}": {"worst_rel": _num(self.worst((a, b))), "checks": len(diffs),
                                       "failures": [d.line() for d in diffs if not d.ok]}
                          for (a, b), diffs in self.pairs.items()}}


@dataclass
class ConfigResult(Report):
    """A report on one configuration of the matrix."""
    config: object = None

    def as_dict(self) -> dict:
        data = super().as_dict()
        data["id"] = data.pop("name")
        if self.config is not None:
            data["config"] = self.config.as_dict()
        return data


def _num(x: float):
    return x if np.isfinite(x) else str(x)


def summarize(results: List[ConfigResult]) -> dict:
    """Totals, the worst scaled difference per side pair and per dtype, and the failing ids."""
    pairs: Dict[str, dict] = {}
    for r in results:
        for (a, b), diffs in r.pairs.items():
            entry = pairs.setdefault(f"{a} vs {b}", {"configs": 0, "checks": 0, "failures": 0, "worst": {},
                                                     "configs_per_dtype": {}})
            entry["configs"] += 1
            _count_into(entry["configs_per_dtype"], [r.dtype])
            entry["checks"] += len(diffs)
            entry["failures"] += sum(not d.ok for d in diffs)
            worst = entry["worst"]
            worst[r.dtype] = max(worst.get(r.dtype, 0.0), r.worst((a, b)))
    seconds: Dict[str, float] = {}
    for r in results:
        for side, s in r.seconds.items():
            seconds[side] = seconds.get(side, 0.0) + s
    failed = [r for r in results if not r.passed]
    skipped: Dict[str, int] = {}
    inference: Dict[str, int] = {}
    declined: Dict[str, Dict[str, int]] = {}
    for r in results:
        for side in r.skipped:
            skipped[side] = skipped.get(side, 0) + 1
        for side in r.inference_only:
            inference[side] = inference.get(side, 0) + 1
        for side, reasons in r.declined.items():
            for reason in reasons:
                declined.setdefault(side, {})[reason] = declined.setdefault(side, {}).get(reason, 0) + 1
    return {"configurations": len(results), "checks": sum(r.checks for r in results),
            "failed": len(failed), "known": sum(1 for r in results if r.known), "pairs": pairs,
            "seconds": seconds, "not_applicable": skipped, "inference_only": inference,
            "fast_path_declined": declined,
            "failures": [{"id": r.name, "dtype": r.dtype, "details": r.failures()} for r in failed]}


def table(rows: List[List[str]], header: List[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(lines)


@dataclass
class StoredResult:
    """One configuration's result read back from a JSON report: what the summary and its listing need."""
    name: str
    dtype: str
    data: dict

    @property
    def known(self) -> List[str]:
        return self.data.get("known_differences", [])

    @property
    def passed(self) -> bool:
        return bool(self.data["ok"]) or bool(self.known)

    def failures(self) -> List[str]:
        lines = [f"{side}: {err}" for side, err in self.data["errors"].items()]
        for key, pair in self.data["pairs"].items():
            lines += [f"{key.replace('~', ' vs ')}: {line}" for line in pair["failures"]]
        return lines


def _count_into(target: dict, keys) -> None:
    for key in keys:
        target[key] = target.get(key, 0) + 1


def summarize_stored(results: List[StoredResult]) -> dict:
    """`summarize` of results read back from JSON (the same totals, pairs, times and lists)."""
    pairs: Dict[str, dict] = {}
    seconds: Dict[str, float] = {}
    skipped: Dict[str, int] = {}
    inference: Dict[str, int] = {}
    declined: Dict[str, Dict[str, int]] = {}
    for r in results:
        for key, pair in r.data["pairs"].items():
            entry = pairs.setdefault(key.replace("~", " vs "), {"configs": 0, "checks": 0, "failures": 0, "worst": {},
                                                                "configs_per_dtype": {}})
            entry["configs"] += 1
            _count_into(entry["configs_per_dtype"], [r.dtype])
            entry["checks"] += int(pair["checks"])
            entry["failures"] += len(pair["failures"])
            entry["worst"][r.dtype] = max(entry["worst"].get(r.dtype, 0.0), float(pair["worst_rel"]))
        for side, s in r.data["seconds"].items():
            seconds[side] = seconds.get(side, 0.0) + s
        _count_into(skipped, r.data.get("skipped", {}))
        _count_into(inference, r.data.get("inference_only", {}))
        for side, reasons in r.data.get("fast_path_declined", {}).items():
            _count_into(declined.setdefault(side, {}), reasons)
    failed = [r for r in results if not r.passed]
    return {"configurations": len(results), "checks": sum(p["checks"] for p in pairs.values()),
            "failed": len(failed), "known": sum(1 for r in results if r.known), "pairs": pairs,
            "seconds": seconds, "not_applicable": skipped, "inference_only": inference,
            "fast_path_declined": declined,
            "failures": [{"id": r.name, "dtype": r.dtype, "details": r.failures()} for r in failed]}


def merge(documents: List[dict], names: List[str]) -> Tuple[dict, List[StoredResult]]:
    """The JSON reports of the shards of one run (`--shard K/N`) as one: (summary, results in the unsharded order).

    The shards must come from the same command with N shards, each K once; a report without `--shard` is N = 1."""
    shards = {}
    for doc, name in zip(documents, names):
        if "results" not in doc or "backends" not in doc:
            raise ValueError(f"--merge: {name} is not a JSON report of python -m multirnn.conformance --json")
        if any("checks" not in pair for r in doc["results"] for pair in r["pairs"].values()):
            raise ValueError(f"--merge: {name} was written by an older version without per-pair check counts; "
                             "rerun that shard")
        k, n = doc.get("shard", [1, 1])
        if (k, n) in shards:
            raise ValueError(f"--merge: {name} and {shards[(k, n)][1]} are both shard {k}/{n}")
        shards[(k, n)] = (doc, name)
    counts = {n for _, n in shards}
    if len(counts) != 1:
        raise ValueError(f"--merge: the reports come from runs with different shard counts: {sorted(counts)}")
    n = counts.pop()
    missing = [k for k in range(1, n + 1) if (k, n) not in shards]
    if missing:
        raise ValueError(f"--merge: shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing; got "
                         f"{', '.join(name for _, name in shards.values())}")
    first = shards[(1, n)][0]
    for doc, name in shards.values():
        for key in ("backends", "oracles"):
            if doc[key] != first[key]:
                raise ValueError(f"--merge: {name} compares {key} {doc[key]}, shard 1/{n} compares {first[key]}")
    keyed = []
    for (k, _), (doc, _) in shards.items():
        for j, r in enumerate(doc["results"]):
            keyed.append((r.get("position", j), k, j, StoredResult(r["id"], r["dtype"], r)))
    results = [r for *_, r in sorted(keyed, key=lambda t: t[:3])]
    return summarize_stored(results), results
