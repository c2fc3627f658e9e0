"""Compiled steps on TensorFlow: a model's training, test or predict step traced into a `tf.function`.

The step is the front end's own Python function, the one the eager path runs, traced once per input
signature (structure, shapes and dtypes; Python floats such as the optimizer's coefficients go in
as float64 scalars, so they never retrace). K's ops read static shapes, as they do eagerly, so a
new batch size is a new signature: an epoch whose last batch is smaller traces twice, then never again.

Random draws stay on the host. While a step is traced, every draw records its kind, shape and
parameters instead of drawing, and reads its values from a flat float64 argument; each call then
draws those same draws, in the same order, from the host Philox stream and passes them in, so the
numbers are the eager path's on every backend. A layer built with `seed=` passes its seed as a
function (its per-layer counter); the plan keeps the function and calls it once per draw per call.
Checks of values (`K.host_check`: label ranges, embedding indices) return the values they read, and
run on the host after each call, raising the eager path's error before any result is used. Values
that stop the graph itself (a gather out of range) rerun the step eagerly, which raises that error.
"""
import collections
import contextlib
import threading

import numpy

from . import frameworks, host_random
from .indexed import IndexedRows

tf = frameworks.require("tensorflow")

_feeding = threading.local()  # the draw plan of the step being traced on this thread, if any
_Rows = collections.namedtuple("_Rows", "indices values shape")  # an IndexedRows crossing the function


class _Plan:
    """The draws of one trace: (kind, shape, params, seed) in order, read from one flat float64 buffer."""

    def __init__(self, buffer):
        self.buffer, self.draws, self.offset, self.checks = buffer, [], 0, []

    def take(self, kind, shape, params, seed, dtype):
        shape = tuple(int(d) for d in shape)
        size = int(numpy.prod(shape, dtype=numpy.int64))
        self.draws.append((kind, shape, tuple(params), seed))
        values = self.buffer[self.offset:self.offset + size]
        self.offset += size
        return tf.cast(tf.reshape(values, shape), dtype)

    def values(self) -> numpy.ndarray:
        """This call's draws from the host stream, flattened in trace order."""
        parts = [host_random.draw(kind, shape, params, seed).ravel() for kind, shape, params, seed in self.draws]
        return numpy.concatenate(parts) if parts else numpy.zeros((0,), numpy.float64)


def traced_draw(kind, shape, params, seed, dtype):
    """The draw's tensor from the plan of the step being traced here, or None outside one."""
    plan = getattr(_feeding, "plan", None)
    if plan is None or not tf.inside_function():
        return None
    return plan.take(kind, shape, params, seed, dtype)


def defer_check(x, check) -> None:
    """Keep `check` and the tensor it reads: the step returns the tensor, the host runs the check."""
    plan = getattr(_feeding, "plan", None)
    if plan is not None:
        plan.checks.append((tf.convert_to_tensor(x), check))


@contextlib.contextmanager
def _recording(plan):
    previous = getattr(_feeding, "plan", None)
    _feeding.plan = plan
    try:
        yield
    finally:
        _feeding.plan = previous


class CompiledStep:
    """`step(*args)` with `fn`'s results, traced once per signature; `traces` counts the traces.

    The arguments are flattened by hand (lists, tuples, dicts, IndexedRows; tensors are leaves, other
    values part of the signature), so a call costs one pass over them and one graph execution."""

    def __init__(self, fn):
        self.fn, self.traces, self._by_signature = fn, 0, {}

    def __call__(self, *args):
        tensors = []
        tree = _flatten(args, tensors)
        key = (tree, tuple((tuple(t.shape), t.dtype) for t in tensors))
        entry = self._by_signature.get(key)
        if entry is None:
            entry = self._by_signature[key] = self._trace(tree, tensors)
        concrete, plan = entry
        try:
            results, checked = _call(concrete, tensors + [tf.constant(plan.values())])
        except tf.errors.OpError:  # bad values stopped the graph (an index out of range): the eager error
            return self.fn(*_build(tree, iter(tensors)))
        for values, (_, check) in zip(checked, plan.checks):
            check(values.numpy())
        return _unpack(results)

    def _trace(self, tree, tensors):
        holder = {}

        def traced(*inputs):
            plan = holder["plan"] = _Plan(inputs[-1])
            with _recording(plan):
                results = self.fn(*_build(tree, iter(inputs[:-1])))
            return _pack(results), [x for x, _ in plan.checks]
        specs = [tf.TensorSpec(t.shape, t.dtype) for t in tensors] + [tf.TensorSpec([None], tf.float64)]
        concrete = tf.function(traced, autograph=False).get_concrete_function(*specs)
        self.traces += 1
        return concrete, holder["plan"]


def _call(concrete, tensors: list):
    """The traced function on already flat tensors: its flat call where TensorFlow has one (it skips binding the
    arguments to the signature again, a third of a small step's Python), else the public call."""
    flat = getattr(concrete, "_call_flat", None)
    return flat(tensors, concrete.captured_inputs) if flat is not None else concrete(*tensors)


_TENSOR = "T"  # a tensor's place in a flattened tree


def _flatten(x, tensors: list):
    """A hashable description of `x` with its tensors appended to `tensors` (floats and arrays become tensors:
    a new coefficient or batch must not retrace)."""
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(_flatten(v, tensors) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple((k, _flatten(v, tensors)) for k, v in x.items()))
    if isinstance(x, IndexedRows):
        return ("rows", _flatten(x.indices, tensors), _flatten(x.values, tensors), x.shape)
    if isinstance(x, tf.Variable):
        raise TypeError("a compiled step takes values; variables are captured by the step itself")
    if isinstance(x, (float, numpy.ndarray)) or tf.is_tensor(x):
        tensors.append(tf.constant(x, tf.float64) if isinstance(x, float) else tf.convert_to_tensor(x))
        return _TENSOR
    return ("value", x)


def _build(tree, tensors):
    """`_flatten` undone, taking the tensors in order from the iterator `tensors`."""
    if tree == _TENSOR:
        return next(tensors)
    kind = tree[0]
    if kind in ("list", "tuple"):
        items = [_build(t, tensors) for t in tree[1]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: _build(t, tensors) for k, t in tree[1]}
    if kind == "rows":
        return IndexedRows(_build(tree[1], tensors), _build(tree[2], tensors), tree[3])
    return tree[1]


def _pack(structure):
    """IndexedRows among a traced step's results as `_Rows` tuples of tensors, which tf.nest carries."""
    return tf.nest.map_structure(
        lambda x: _Rows(x.indices, x.values, tf.constant(x.shape, tf.int64)) if isinstance(x, IndexedRows) else x,
        structure)


def _unpack(structure):
    """`_pack` undone on the results of a call."""
    if isinstance(structure, _Rows):
        return IndexedRows(structure.indices, structure.values, tuple(int(d) for d in structure.shape.numpy()))
    if isinstance(structure, (list, tuple)):
        items = [_unpack(x) for x in structure]
        return type(structure)(items)
    if isinstance(structure, dict):
        return {k: _unpack(v) for k, v in structure.items()}
    return structure
