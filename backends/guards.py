"""Each K method with a check (checks.py) wrapped so that the check runs first, on every backend.

A wrapper tests the common, valid case inline with a few comparisons on static shapes and calls
the full check only when that test fails; `install(cls)` wraps the methods a backend class defines.
"""
import functools

from . import checks
from .checks import FAILS

BINARY = ("add", "subtract", "multiply", "divide", "pow", "maximum", "minimum", "equal", "not_equal", "greater",
          "greater_equal", "less", "less_equal", "logical_and")
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "var", "std", "any", "all")
ONE_AXIS = {"argmax": (-1, True), "argmin": (-1, True), "softmax": (-1, False), "log_softmax": (-1, False),
            "cumsum": (0, False), "unstack": (0, False)}


def _binary(fn, op):
    def checked(self, a, b):
        try:
            sa, sb = a.shape, b.shape
            fine = sa == sb
            if not fine:  # one shape a suffix of the other (a bias), else a walk over the trailing axes
                n, m = len(sa), len(sb)
                fine = sa[n - m:] == sb if m <= n else sb[m - n:] == sa
                if not fine:
                    fine = True
                    for x, y in zip(reversed(sa), reversed(sb)):
                        if x != y and x != 1 and y != 1 and x is not None and y is not None:
                            fine = False
        except FAILS:
            fine = False
        if not fine:
            checks.broadcast(op, a, b)
        return fn(self, a, b)
    return checked


def _axis_fits(x, axis) -> bool:
    """The common valid case in a few comparisons: one int axis within the rank."""
    try:
        rank = len(x.shape)
        return type(axis) is int and -rank <= axis < rank
    except FAILS:
        return False


def _reduction(fn, op):
    def checked(self, x, axis=None, keepdims=False):
        if axis is not None and not _axis_fits(x, axis):
            checks.axes_of(op, x, axis)
        return fn(self, x, axis=axis, keepdims=keepdims)
    return checked


def _one_axis(fn, op, default, none):
    def checked(self, x, axis=default):
        if not (none and axis is None):
            if not _axis_fits(x, axis):
                shape = checks.shape_of(x)
                if shape is not None:
                    checks.check_axis(op, axis, shape)
        return fn(self, x, axis=axis)
    return checked


def _product(fn, op):
    def checked(self, a, b):
        try:
            sa, sb = a.shape, b.shape
            fine = (len(sa) and len(sb) and sa[-1] == sb[-2 if len(sb) > 1 else 0]
                    and (op == "dot" or len(sa) <= 2 or len(sb) <= 2 or sa[:-2] == sb[:-2]))
        except FAILS:
            fine = False
        if not fine:
            checks.product(op, a, b)
        return fn(self, a, b)
    return checked


def _reshape(fn, op):
    def checked(self, x, shape):
        try:
            size = known = 1
            for d in x.shape:
                size *= d
            for d in shape:
                known *= d
            fine = (size == known and min(shape) >= 0
                    or known < 0 and min(shape) == -1 and shape.count(-1) == 1 and size % known == 0)
        except FAILS:
            fine = False
        if not fine:
            checks.reshape(self, x, shape)
        return fn(self, x, shape)
    return checked


def _expand_dims(fn, op):
    def checked(self, x, axis=-1):
        try:
            rank = len(x.shape) + 1
            fine = type(axis) is int and -rank <= axis < rank
        except FAILS:
            fine = False
        if not fine:
            checks.expand_dims(self, x, axis)
        return fn(self, x, axis=axis)
    return checked


def _permute(fn, op):
    def checked(self, x, pattern):
        try:  # a permutation of range(rank); an int sum keeps floats such as 1.0 out
            fine = len(pattern) == len(x.shape) and sorted(pattern) == list(range(len(pattern)))
            fine = fine and type(sum(pattern)) is int
        except FAILS:
            fine = False
        if not fine:
            checks.permute_dimensions(self, x, pattern)
        return fn(self, x, pattern)
    return checked


def _joined(fn, op):
    def checked(self, tensors, axis=-1 if op == "concatenate" else 0):
        try:
            first = tensors[0].shape
            rank = len(first) + (op == "stack")
            fine = type(axis) is int and -rank <= axis < rank
            if op == "concatenate" and fine:
                cut = axis % rank
                for t in tensors[1:]:
                    s = t.shape
                    fine = fine and len(s) == rank
                    for d in range(rank):
                        if d != cut and s[d] != first[d]:
                            fine = False
            else:
                for t in tensors[1:]:
                    fine = fine and t.shape == first
        except FAILS:
            fine = False
        if not fine:
            (checks.concatenate if op == "concatenate" else checks.stack)(self, tensors, axis)
        return fn(self, tensors, axis=axis)
    return checked


def _where(fn, op):
    def checked(self, condition, a, b):
        try:
            fine = condition.shape == a.shape == b.shape
        except FAILS:
            fine = False
        if not fine:
            checks.broadcast(op, condition, a, b)
        return fn(self, condition, a, b)
    return checked


def _full(fn, check):
    def checked(self, *args, **kwargs):
        check(self, *args, **kwargs)
        return fn(self, *args, **kwargs)
    return checked


CHECKS = dict(
    **{name: (_binary, name) for name in BINARY}, **{name: (_reduction, name) for name in REDUCTIONS},
    **{name: (_one_axis, name, *spec) for name, spec in ONE_AXIS.items()},
    matmul=(_product, "matmul"), dot=(_product, "dot"), reshape=(_reshape, "reshape"),
    permute_dimensions=(_permute, "permute_dimensions"),
    expand_dims=(_expand_dims, "expand_dims"), concatenate=(_joined, "concatenate"), stack=(_joined, "stack"),
    where=(_where, "where"), **{name: (_full, getattr(checks, name)) for name in (
        "l2_normalize", "batch_dot", "squeeze", "reverse", "repeat_elements", "split",
        "one_hot", "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")})


def install(cls) -> None:
    """Wrap each method that `cls` itself defines and that has a check (once: wrappers are marked)."""
    for name, (wrap, *spec) in CHECKS.items():
        fn = cls.__dict__.get(name)
        if fn is not None and not getattr(fn, "checks_arguments", False):
            wrapper = functools.wraps(fn)(wrap(fn, *spec))
            wrapper.checks_arguments = True
            setattr(cls, name, wrapper)
