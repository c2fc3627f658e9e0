"""The host random generator behind every random draw, so all backends see the same numbers.

Each draw takes a fresh NumPy `Generator(Philox)`: keyed by an explicit `seed`, or by the
current context's stream, `(seed << 64) | counter`. The bits never depend on the backend.

The stream follows the context, as `backends.use` does: `set_seed` installs a new stream in the
current thread or asyncio task only, so a job that seeds itself draws the same numbers alone or
beside other threads. A new `threading.Thread` inherits nothing (unless Python copies contexts
into threads): its stream is unseeded (seeded from entropy on first draw) until it calls
`set_seed`. A copied context (an asyncio task, `asyncio.to_thread`, `contextvars.copy_context().run`)
shares its parent's stream, drawing from the same counter, until it seeds itself.
"""
import collections.abc
import contextlib
import contextvars
import threading

import numpy as np


class _Stream:
    """One seeded sequence of draws: the seed, the next counter value, a lock for shared use."""
    __slots__ = ("seed", "counter", "lock")

    def __init__(self, seed=None, counter=0):
        self.seed, self.counter, self.lock = seed, int(counter), threading.Lock()

    def next_key(self) -> int:
        with self.lock:
            if self.seed is None:
                self.seed = int(np.random.SeedSequence().entropy % (2 ** 63))
            key = (self.seed << 64) | self.counter
            self.counter += 1
        return key


_stream = contextvars.ContextVar("multirnn_random_stream", default=None)
_shard = contextvars.ContextVar("multirnn_random_batch_shard", default=None)


def _current() -> _Stream:
    """The stream of this context, an unseeded one installed here on first use."""
    stream = _stream.get()
    if stream is None:
        stream = _Stream()
        _stream.set(stream)
    return stream


def set_seed(seed: int) -> None:
    """Seed this thread's or task's stream; its draws without their own seed become reproducible."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, got {seed!r}")
    _stream.set(_Stream(int(seed)))


def generator(seed=None) -> np.random.Generator:
    """A Philox generator for one draw: from `seed` if given, else the next of this context's stream.
    `seed` may be a function returning the seed (or None), called once, for this draw."""
    if callable(seed):
        seed = seed()
    if seed is not None:
        return np.random.Generator(np.random.Philox(int(seed)))
    return np.random.Generator(np.random.Philox(key=_current().next_key()))


class _StateView(collections.abc.MutableMapping):
    """`seed` and `counter` of this context's stream as a dict; a write installs a new stream."""
    _KEYS = ("seed", "counter")

    def __getitem__(self, key):
        if key not in self._KEYS:
            raise KeyError(key)
        stream = _stream.get()
        return getattr(stream, key) if stream is not None else (None if key == "seed" else 0)

    def __setitem__(self, key, value):
        if key not in self._KEYS:
            raise KeyError(key)
        values = {k: self[k] for k in self._KEYS}
        values[key] = value
        _stream.set(_Stream(values["seed"], values["counter"]))

    def __delitem__(self, key):
        raise TypeError("the random stream's state keys cannot be deleted")

    def __iter__(self):
        return iter(self._KEYS)

    def __len__(self):
        return len(self._KEYS)


_state = _StateView()


@contextlib.contextmanager
def batch_shard(global_batch: int, start: int, stop: int):
    """Within the block, a draw whose first dimension is `stop - start` is drawn for the whole global
    batch and rows [start:stop) are kept: a data-parallel rank sees the numbers one process would."""
    if not 0 <= start <= stop <= global_batch:
        raise ValueError(f"batch_shard: expected 0 <= start <= stop <= global_batch, "
                         f"got {start}, {stop}, {global_batch}")
    token = _shard.set((int(global_batch), int(start), int(stop)))
    try:
        yield
    finally:
        _shard.reset(token)


def _sharded(shape, draw) -> np.ndarray:
    """`draw(shape)`, or rows of the global batch's draw inside `batch_shard`."""
    shape, shard = tuple(shape), _shard.get()
    if shard is None or not shape or shape[0] != shard[2] - shard[1] or shard[0] == shape[0]:
        return draw(shape)
    return draw((shard[0],) + shape[1:])[shard[1]:shard[2]]


def uniform(shape, minval, maxval, seed=None) -> np.ndarray:
    return _sharded(shape, lambda s: generator(seed).uniform(minval, maxval, size=s))


def normal(shape, mean, stddev, seed=None) -> np.ndarray:
    return _sharded(shape, lambda s: generator(seed).standard_normal(size=s) * stddev + mean)


def truncated_normal(shape, mean, stddev, seed=None) -> np.ndarray:
    """Normal draws redrawn until they lie within two standard deviations (as tf.keras)."""
    def draw(s):
        gen = generator(seed)
        out = gen.standard_normal(size=s)
        bad = np.abs(out) > 2.0
        while bad.any():
            out[bad] = gen.standard_normal(size=int(bad.sum()))
            bad = np.abs(out) > 2.0
        return out * stddev + mean
    return _sharded(shape, draw)


def binomial(shape, p, seed=None) -> np.ndarray:
    return _sharded(shape, lambda s: (generator(seed).random(size=s) < p).astype(np.float64))


def dropout(shape, level, seed=None) -> np.ndarray:
    """Inverted-dropout mask: 1/(1-level) where kept (probability 1-level), 0 where dropped."""
    return binomial(shape, 1.0 - level, seed) / (1.0 - level)


DRAWS = {"uniform": uniform, "normal": normal, "truncated_normal": truncated_normal, "binomial": binomial,
         "dropout": dropout}


def draw(kind: str, shape, params: tuple, seed=None) -> np.ndarray:
    """One draw of `kind` (a key of DRAWS) with its parameters, as float64 host values."""
    return DRAWS[kind](shape, *params, seed)
