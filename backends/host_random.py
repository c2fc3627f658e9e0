"""The host random generator behind every random draw, so all backends see the same numbers.

Each draw takes a fresh NumPy `Generator(Philox)`: keyed by an explicit `seed`, or by the
global seed and a draw counter. The bits never depend on the backend.
"""
import threading

import numpy as np

_lock = threading.Lock()
_state = {"seed": None, "counter": 0}


def set_seed(seed: int) -> None:
    """Fix the global seed; draws without their own seed become reproducible from here."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, got {seed!r}")
    with _lock:
        _state["seed"] = int(seed)
        _state["counter"] = 0


def generator(seed=None) -> np.random.Generator:
    """A Philox generator for one draw: from `seed` if given, else from the global sequence."""
    if seed is not None:
        return np.random.Generator(np.random.Philox(int(seed)))
    with _lock:
        if _state["seed"] is None:
            _state["seed"] = int(np.random.SeedSequence().entropy % (2 ** 63))
        key, count = _state["seed"], _state["counter"]
        _state["counter"] += 1
    return np.random.Generator(np.random.Philox(key=(key << 64) | count))


def uniform(shape, minval, maxval, seed=None) -> np.ndarray:
    return generator(seed).uniform(minval, maxval, size=tuple(shape))


def normal(shape, mean, stddev, seed=None) -> np.ndarray:
    return generator(seed).standard_normal(size=tuple(shape)) * stddev + mean


def truncated_normal(shape, mean, stddev, seed=None) -> np.ndarray:
    """Normal draws redrawn until they lie within two standard deviations (as tf.keras)."""
    gen = generator(seed)
    out = gen.standard_normal(size=tuple(shape))
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = gen.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev + mean


def binomial(shape, p, seed=None) -> np.ndarray:
    return (generator(seed).random(size=tuple(shape)) < p).astype(np.float64)
