"""The known-differences file: `ID_PATTERN  SIDE~SIDE  reason` per line; a reason is mandatory.

The id pattern and each side are globs (`*~tf_keras`: every backend against tf_keras)."""
import fnmatch
import os
from dataclasses import dataclass
from typing import List, Optional

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "known_differences.txt")


@dataclass(frozen=True)
class Known:
    pattern: str
    pair: frozenset
    reason: str

    def covers(self, config_id: str, a: str, b: str) -> bool:
        if not fnmatch.fnmatchcase(config_id, self.pattern):
            return False
        first, second = self.sides
        return (fnmatch.fnmatchcase(a, first) and fnmatch.fnmatchcase(b, second)) or \
            (fnmatch.fnmatchcase(b, first) and fnmatch.fnmatchcase(a, second))

    @property
    def sides(self) -> tuple:
        return tuple(sorted(self.pair)) if len(self.pair) == 2 else (next(iter(self.pair)),) * 2


def load(path: Optional[str] = None) -> List[Known]:
    """Entries of the file (none when it does not exist); a line without a reason is a ValueError."""
    path = path or DEFAULT_PATH
    if not os.path.exists(path):
        return []
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            entries.append(load_line(line, f"{path}:{number}"))
    return entries


def load_line(line: str, where: str = "known difference") -> Known:
    """One entry from its line `ID_PATTERN  SIDE~SIDE  reason` (ValueError without a reason)."""
    parts = line.split(None, 2)
    if len(parts) < 3 or "~" not in parts[1] or not parts[2].strip():
        raise ValueError(f"{where}: expected `ID_PATTERN  SIDE~SIDE  reason`, got {line!r}")
    return Known(parts[0], frozenset(parts[1].split("~", 1)), parts[2].strip())


def apply(result, entries: List[Known]) -> None:
    """Mark `result` as a known difference when every failing pair is listed (errors never are)."""
    if result.ok or result.errors or not entries:
        return
    failing = [(a, b) for (a, b), diffs in result.pairs.items() if any(not d.ok for d in diffs)]
    reasons = []
    for a, b in failing:
        match = next((k for k in entries if k.covers(result.name, a, b)), None)
        if match is None:
            return
        reasons.append(f"{a}~{b}: {match.reason}")
    result.known = reasons
