"""Keras 1 recurrent weight lists (per gate `W_*, U_*, b_*`) to and from the Keras 2 layout.

Keras 1 lists LSTM gates as i, c, f, o (12 arrays) and GRU gates as z, r, h (9 arrays, the
reset_after=False GRU); Keras 2 concatenates them as `[kernel, recurrent_kernel, bias]`.
"""
from typing import List, Sequence

import numpy as np

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
ORDER = {"LSTM": (0, 2, 1, 3), "GRU": (0, 1, 2), "SimpleRNN": (0,)}  # Keras 1 block j = ours [ORDER[j]]


def to_keras1(weights: Sequence[np.ndarray], cell: str) -> List[np.ndarray]:
    """Keras 2 weights -> the Keras 1 per-gate list (LSTM W_i,U_i,b_i,W_c,U_c,b_c,W_f,...; GRU W_z,...)."""
    if len(weights) != 3:
        raise ValueError("Keras 1 recurrent layers always have a bias: expected [kernel, recurrent_kernel, bias]")
    if cell == "GRU" and np.ndim(weights[2]) != 1:
        raise ValueError("Keras 1 GRU is GRU(reset_after=False); got a reset_after bias of shape (2, 3*units)")
    parts = [np.split(np.asarray(w), GATES[cell], axis=-1) for w in weights]
    return [parts[k][g] for g in ORDER[cell] for k in range(3)]


def from_keras1(weights: Sequence[np.ndarray], cell: str) -> List[np.ndarray]:
    """The Keras 1 per-gate list -> Keras 2 weights `[kernel, recurrent_kernel, bias]`."""
    count = GATES[cell]
    if len(weights) != 3 * count:
        raise ValueError(f"Keras 1 {cell} has {3 * count} weight arrays, got {len(weights)}")
    by_gate = {g: weights[3 * j: 3 * j + 3] for j, g in enumerate(ORDER[cell])}
    return [np.concatenate([np.asarray(by_gate[g][k]) for g in range(count)], axis=-1) for k in range(3)]
