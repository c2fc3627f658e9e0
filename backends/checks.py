"""K's arguments checked before any framework runs, so that a mistake raises the same error everywhere.

Checks read static shapes (a None dimension is unknown and fits anything; an unknown rank skips
the check) and, for class labels and one-hot indices, their host values. `guards.py` puts them
in front of the backends' methods.
"""
import itertools
import math
import numbers

import numpy

from multirnn.errors import (ArgumentTypeError, AxisError, DTypeError, IndexOutOfRangeError,
                             InvalidArgumentError, ShapeError)


FAILS = (AttributeError, TypeError, ValueError, IndexError)  # no static shape, or an unknown rank


def shape_of(x):
    """The static shape of `x` as a tuple (None for unknown dimensions), or None if its rank is unknown."""
    shape = getattr(x, "shape", None)
    if shape is None:
        if isinstance(x, (int, float, complex)):
            return ()
        try:
            return numpy.shape(x)
        except Exception:  # a ragged list or an object NumPy cannot read: left to the framework
            return None
    if type(shape) is tuple:
        return shape
    try:
        return tuple(shape)
    except (TypeError, ValueError):
        return None


def _fits(a, b) -> bool:
    return a is None or b is None or a == b


def _compatible(a, b) -> bool:
    return len(a) == len(b) and all(map(_fits, a, b))


def _broadcasts(shapes) -> bool:
    for dims in itertools.zip_longest(*(reversed(s) for s in shapes), fillvalue=1):
        if len({d for d in dims if d is not None and d != 1}) > 1:
            return False
    return True


def _join(words) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def broadcast(op, *xs, names=None):
    """A ShapeError naming `op` and every shape unless the shapes of `xs` broadcast together."""
    shapes = [shape_of(x) for x in xs]
    if None in shapes or _broadcasts(shapes):
        return
    parts = [f"{n} of shape {s}" for n, s in zip(names, shapes)] if names else ["shapes " + _join(
        [str(s) for s in shapes])]
    raise ShapeError(f"{op}: {_join(parts)} cannot be broadcast together")


def check_int(op, what, value) -> int:
    """`value` as an int, or an ArgumentTypeError naming `op` and `what` (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{op}: {what} must be an int, got {value!r} of type {type(value).__name__}")
    return int(value)


def check_axis(op, axis, shape, rank=None) -> int:
    """`axis` as an index in [0, rank) (rank: that of `shape` unless given), or an AxisError naming `op`."""
    rank = len(shape) if rank is None else rank
    if type(axis) is not int:
        axis = check_int(op, "axis", axis)
    if not -rank <= axis < rank:
        valid = f"{-rank} to {rank - 1}" if rank else "none"
        raise AxisError(f"{op}: axis {axis} is out of range for {'a result' if rank > len(shape) else 'a tensor'} "
                        f"of rank {rank} (input shape {shape}; valid axes: {valid})")
    return axis % rank


def check_axes(op, spec, shape, rank=None) -> tuple:
    """An int or a list/tuple of ints as distinct axes in [0, rank)."""
    items = tuple(spec) if isinstance(spec, (list, tuple)) else (spec,)
    found = tuple(check_axis(op, a, shape, rank) for a in items)
    if len(set(found)) != len(found):
        raise InvalidArgumentError(f"{op}: axis {spec} names the same axis twice (input shape {shape})")
    return found


def axes_of(op, x, axis):
    """The full check of a reduction's `axis` (None, an int or several)."""
    shape = shape_of(x)
    if shape is not None and axis is not None:
        check_axes(op, axis, shape)


def l2_normalize(K, x, axis=None):
    shape = shape_of(x)
    if shape is not None and axis is not None:
        check_axes("l2_normalize", axis, shape)


def _contract(op, sa, sb, first, second):
    if not _fits(sa[first], sb[second]):
        raise ShapeError(f"{op}: cannot contract shape {sa} with shape {sb}: axis {first} of the first has size "
                         f"{sa[first]}, axis {second} of the second has size {sb[second]}")


def product(op, a, b):
    """matmul and dot: the last axis of `a` against the second-to-last of `b` (its only one if 1D)."""
    sa, sb = shape_of(a), shape_of(b)
    if sa is None or sb is None:
        return
    if not sa or not sb:
        raise ShapeError(f"{op}: both operands need at least one axis, got shapes {sa} and {sb}")
    _contract(op, sa, sb, -1, -2 if len(sb) > 1 else 0)
    if op == "matmul" and not _broadcasts([sa[:-2], sb[:-2]]):
        raise ShapeError(f"matmul: the batch axes of shapes {sa} and {sb} cannot be broadcast together")


def batch_dot(K, x, y, axes=None):
    sx, sy = shape_of(x), shape_of(y)
    if sx is None or sy is None:
        return
    if len(sx) < 2 or len(sy) < 2:
        raise ShapeError(f"batch_dot: both operands need a batch axis and one more, got shapes {sx} and {sy}")
    if axes is None:
        axes = (len(sx) - 1, len(sy) - 2 if len(sy) > 2 else len(sy) - 1)
    pair = (axes, axes) if isinstance(axes, numbers.Integral) else tuple(axes)
    if len(pair) != 2:
        raise InvalidArgumentError(f"batch_dot: axes must be an int or a pair of ints, got {axes!r}")
    ax, ay = check_axis("batch_dot", pair[0], sx), check_axis("batch_dot", pair[1], sy)
    if ax == 0 or ay == 0:
        raise InvalidArgumentError(f"batch_dot: cannot contract over the batch axis (axes {axes!r}, "
                                   f"shapes {sx} and {sy})")
    if not _fits(sx[0], sy[0]):
        raise ShapeError(f"batch_dot: the batch sizes of shapes {sx} and {sy} differ")
    _contract("batch_dot", sx, sy, ax, ay)


def _shapes(op, tensors):
    if not isinstance(tensors, (list, tuple)):
        return None
    if not tensors:
        raise InvalidArgumentError(f"{op}: needs at least one tensor, got none")
    shapes = [shape_of(t) for t in tensors]
    return None if None in shapes else shapes


def concatenate(K, tensors, axis=-1):
    shapes = _shapes("concatenate", tensors)
    if shapes is None:
        return
    first = shapes[0]
    for i, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise ShapeError(f"concatenate: tensor {i} has shape {s} of rank {len(s)}, but tensor 0 has shape "
                             f"{first} of rank {len(first)}")
    joined = check_axis("concatenate", axis, first)
    for i, s in enumerate(shapes[1:], 1):
        for d, (size, expected) in enumerate(zip(s, first)):
            if d != joined and not _fits(size, expected):
                raise ShapeError(f"concatenate: tensor {i} of shape {s} does not match tensor 0 of shape {first} "
                                 f"on axis {d} (only the joined axis {joined} may differ)")


def stack(K, tensors, axis=0):
    shapes = _shapes("stack", tensors)
    if shapes is None:
        return
    for i, s in enumerate(shapes[1:], 1):
        if not _compatible(s, shapes[0]):
            raise ShapeError(f"stack: tensor {i} has shape {s}, but tensor 0 has shape {shapes[0]} "
                             "(every tensor needs the same shape)")
    check_axis("stack", axis, shapes[0], len(shapes[0]) + 1)


def reshape(K, x, shape):
    source = shape_of(x)
    target = (shape,) if isinstance(shape, numbers.Integral) else shape
    if (source is None or None in source or not isinstance(target, (list, tuple))
            or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in target)):
        return
    target = tuple(int(d) for d in target)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise InvalidArgumentError(f"reshape: a target shape holds sizes >= 0 and at most one -1, got {target}")
    size, known = math.prod(source), math.prod(d for d in target if d != -1)
    if not ((known and size % known == 0) if -1 in target else size == known):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {source} ({size} entries) into shape {target}")


def expand_dims(K, x, axis=-1):
    shape = shape_of(x)
    if shape is not None:
        check_axes("expand_dims", axis, shape, len(shape) + (len(axis) if isinstance(axis, (list, tuple)) else 1))


def squeeze(K, x, axis):
    shape = shape_of(x)
    if shape is not None and axis is not None:
        for a in check_axes("squeeze", axis, shape):
            if not _fits(shape[a], 1):
                raise ShapeError(f"squeeze: cannot remove axis {axis} of shape {shape}: its size is not 1")


def permute_dimensions(K, x, pattern):
    shape = shape_of(x)
    if shape is not None and isinstance(pattern, (list, tuple)):
        if len(pattern) != len(shape):
            raise InvalidArgumentError(f"permute_dimensions: the pattern {tuple(pattern)} must name each of the "
                                       f"{len(shape)} axes of shape {shape} once")
        check_axes("permute_dimensions", pattern, shape)


def reverse(K, x, axes):
    shape = shape_of(x)
    if shape is not None and axes is not None:
        check_axes("reverse", axes, shape)


def repeat_elements(K, x, rep, axis):
    shape = shape_of(x)
    if shape is not None:
        check_axis("repeat_elements", axis, shape)


def split(K, x, count, axis=-1):
    if check_int("split", "count", count) < 1:
        raise InvalidArgumentError(f"split: count must be at least 1, got {count}")
    shape = shape_of(x)
    if shape is not None:
        a = check_axis("split", axis, shape)
        if shape[a] is not None and shape[a] % count:
            raise ShapeError(f"split: axis {a} of size {shape[a]} does not divide into {count} equal parts")


def switch(condition, then_value, else_value):
    """Keras `switch` aligns the condition with the leading axes of the values."""
    try:
        c, v = condition.shape, then_value.shape
        if v == else_value.shape and c == v[:len(c)]:
            return
    except FAILS:
        pass
    cond, then, other = shape_of(condition), shape_of(then_value), shape_of(else_value)
    if cond is None or then is None or other is None:
        return
    padded = cond + (1,) * max(0, len(then) - len(cond))
    if not _broadcasts([padded, then, other]):
        raise ShapeError(f"switch: a condition of shape {cond} (aligned with the leading axes), then of shape "
                         f"{then} and else of shape {other} cannot be broadcast together")


def labels(K, op, values, classes, noun, nouns):
    """Class indices must be numbers, whole (2.0 is 2) and in [0, classes)."""
    K.host_check(values, lambda host: label_values(op, host, classes, noun, nouns))


def label_values(op, values, classes, noun, nouns):
    """`labels` on host values."""
    if not values.size:
        return
    if values.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: {nouns} must be integers (or whole floats), got dtype {values.dtype}")
    if values.dtype.kind == "f":
        bad = ~numpy.isfinite(values) | (numpy.floor(values) != values)
        if bad.any():
            raise InvalidArgumentError(f"{op}: {nouns} must be whole numbers (2 and 2.0 are accepted), got "
                                       f"{float(values[bad].flat[0])!r}")
    if classes is not None and (values.min() < 0 or values.max() >= classes):
        bad = values[(values < 0) | (values >= classes)].flat[0]
        raise IndexOutOfRangeError(f"{op}: {noun} {int(bad)} is out of range for {classes} classes "
                                   f"(valid: 0 to {classes - 1})")


def one_hot(K, indices, num_classes, dtype=None):
    if check_int("one_hot", "num_classes", num_classes) < 1:
        raise InvalidArgumentError(f"one_hot: num_classes must be at least 1, got {num_classes}")
    labels(K, "one_hot", indices, int(num_classes), "index", "indices")


def sparse_labels(op, target, output):
    """Sparse labels fit predictions (..., classes) with the shape (...) or (..., 1)."""
    labels_shape, out = shape_of(target), shape_of(output)
    if labels_shape is None or out is None:
        return
    if not out:
        raise ShapeError(f"{op}: predictions need a class axis, got shape {out}")
    lead = out[:-1]
    if not (_compatible(labels_shape, lead) or _compatible(labels_shape, lead + (1,))):
        raise ShapeError(f"{op}: labels of shape {labels_shape} do not fit predictions of shape {out} "
                         f"(expected labels of shape {lead} or {lead + (1,)})")


def sparse_categorical_crossentropy(K, target, output, from_logits=False, axis=-1):
    op = "sparse_categorical_crossentropy"
    sparse_labels(op, target, output)
    out = shape_of(output)
    if out is not None:
        labels(K, op, target, out[check_axis(op, axis, out)], "label", "labels")


def categorical_crossentropy(K, target, output, from_logits=False, axis=-1):
    st, so = shape_of(target), shape_of(output)
    if st is not None and so is not None:
        if not _compatible(st, so):
            raise ShapeError(f"categorical_crossentropy: target of shape {st} and output of shape {so} differ "
                             "(they need the same shape)")
        check_axis("categorical_crossentropy", axis, so)


def binary_crossentropy(K, target, output, from_logits=False):
    broadcast("binary_crossentropy", target, output, names=("target", "output"))
