"""A small deterministic covering-array generator: extend fixed rows so every pair of values appears.

Greedy and count-balanced: each new column value is the one whose pairs with the values
already in the row are used least (uncovered pairs first), ties broken by usage then order.
"""
import heapq
from itertools import combinations
from typing import List, Sequence, Tuple

import numpy as np


def extend_pairwise(rows: List[dict], params: Sequence[Tuple[str, Sequence]]) -> List[dict]:
    """Assign every parameter of `params` in each row so all value pairs are covered.

    `rows` hold the fixed columns (for instance a full product); `params` are
    (name, values) pairs. Returns new dicts; the result is a pure function of the input.
    """
    rows = rows or [{}]
    fixed = list(rows[0])
    index = {}  # (column, repr(value)) -> global value number
    for name in fixed:
        for row in rows:
            index.setdefault((name, repr(row[name])), len(index))
    for name, values in params:
        for value in values:
            index.setdefault((name, repr(value)), len(index))
    size = len(index)
    counts = [[0] * size for _ in range(size)]
    usage = [0] * size
    candidates = [[index[(name, repr(v))] for v in values] for name, values in params]
    out = []
    for row in rows:
        row = dict(row)
        chosen = [index[(name, repr(row[name]))] for name in fixed]
        for (name, values), cands in zip(params, candidates):
            best_key, pick = None, 0
            for position, g in enumerate(cands):
                line = counts[g]
                used = [line[o] for o in chosen]
                key = (used.count(0), -sum(used), -usage[g], -position)
                if best_key is None or key > best_key:
                    best_key, pick = key, position
            row[name] = values[pick]
            g = cands[pick]
            usage[g] += 1
            line = counts[g]
            for o in chosen:
                line[o] += 1
                counts[o][g] += 1
            chosen.append(g)
        out.append(row)
    return out


def uncovered_pairs(rows: List[dict], params: Sequence[Tuple[str, Sequence]]) -> List[tuple]:
    """The value pairs of `params` (all columns listed there) that no row holds; [] when covered."""
    names = [n for n, _ in params]
    seen = set()
    for a, b in combinations(names, 2):
        seen.update((a, repr(row[a]), b, repr(row[b])) for row in rows)
    missing = []
    for (a, va), (b, vb) in combinations(params, 2):
        missing.extend((a, x, b, y) for x in va for y in vb if (a, repr(x), b, repr(y)) not in seen)
    return missing


def covering_subset(rows: List[dict], params: Sequence[Tuple[str, Sequence]]) -> List[int]:
    """Indices of a few rows that together hold every value pair the rows hold (lazy greedy)."""
    codes = np.array([[[repr(v) for v in values].index(repr(row[name])) for name, values in params]
                      for row in rows], dtype=np.int64).reshape(len(rows), len(params))
    sizes = [len(values) for _, values in params]
    columns, offset = [], 0
    for i, j in combinations(range(len(params)), 2):
        columns.append(offset + codes[:, i] * sizes[j] + codes[:, j])
        offset += sizes[i] * sizes[j]
    pairs = np.stack(columns, axis=1) if columns else np.zeros((len(rows), 0), np.int64)
    uncovered = np.zeros(offset, dtype=bool)
    uncovered[pairs.ravel()] = True
    heap = [(-pairs.shape[1], i) for i in range(len(rows))]
    chosen = []
    while uncovered.any() and heap:
        _, i = heapq.heappop(heap)
        gain = int(uncovered[pairs[i]].sum())
        if heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, i))  # stale score: re-queue with the true gain
            continue
        if gain:
            chosen.append(i)
            uncovered[pairs[i]] = False
    return sorted(chosen)
