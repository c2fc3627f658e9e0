"""The NumPy backend, the reference: primitives on the array module `xp`, each VJP beside it.

CuPy subclasses this class with `xp = cupy` and overrides only what differs.
"""
import numpy

from . import fused_recurrence
from .base import Backend
from .tree import map_structure
from .indexed import IndexedRows
from .tape import (IndexedGrad, Traced, Variable, _on_tape, _plain, backward, defvjp,
                   primitive, trace, tracing)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, (list, tuple)) else (axis,)))


def _basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


class NumpyBackend(Backend):
    name = "numpy"
    xp = numpy

    # ---- helpers on raw arrays
    def _dtype(self, dtype):
        return self.xp.dtype(dtype or self.floatx())

    def _unbroadcast(self, g, shape):
        """Sum `g` down to `shape` (the inverse of broadcasting)."""
        shape = tuple(shape)
        if g.shape == shape:
            return g
        g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True) if axes else g

    def _expand_reduced(self, g, x, axis, keepdims):
        if not keepdims and axis is not None:
            g = self.xp.expand_dims(g, _axes(axis, x.ndim))
        return self.xp.broadcast_to(g, x.shape)

    # ---- tensors and variables
    def variable(self, value, dtype=None, name=None):
        value = _plain(value)
        return Variable(self.xp.array(value, dtype=self._dtype(dtype)), name, self)

    def constant(self, value, dtype=None, shape=None):
        value = self.xp.asarray(_plain(value), dtype=self._dtype(dtype))
        return self.xp.broadcast_to(value, shape).copy() if shape is not None else value

    def zeros(self, shape, dtype=None):
        return self.xp.zeros(shape, self._dtype(dtype))

    def ones(self, shape, dtype=None):
        return self.xp.ones(shape, self._dtype(dtype))

    def eye(self, n, dtype=None):
        return self.xp.eye(n, dtype=self._dtype(dtype))

    def zeros_like(self, x, dtype=None):
        return self.xp.zeros(_plain(x).shape, dtype or _plain(x).dtype)

    def ones_like(self, x, dtype=None):
        return self.xp.ones(_plain(x).shape, dtype or _plain(x).dtype)

    def dtype(self, x) -> str:
        return str(_plain(x).dtype)

    def shape(self, x) -> tuple:
        return tuple(_plain(x).shape)

    int_shape = shape

    def ndim(self, x) -> int:
        return _plain(x).ndim

    def is_tensor(self, x) -> bool:
        return isinstance(x, (self.xp.ndarray, Traced, Variable))

    def is_variable(self, x) -> bool:
        return isinstance(x, Variable)

    def to_numpy(self, x):
        """A host array; a copy for variables, so that editing it never edits the variable."""
        return numpy.array(x.value) if isinstance(x, Variable) else numpy.asarray(_plain(x))

    def set_value(self, var, value):
        value = self.xp.asarray(_plain(value), dtype=var.value.dtype)
        if value.shape != var.value.shape:
            raise ValueError(f"set_value: variable {var.name or ''} has shape {var.value.shape}, "
                             f"got a value of shape {value.shape}")
        var.value = value.copy()

    def update(self, var, new):
        self.set_value(var, new)
        return var

    def update_add(self, var, delta):
        return self.update(var, var.value + _plain(delta))

    def update_sub(self, var, delta):
        return self.update(var, var.value - _plain(delta))

    def stop_gradient(self, x):
        return _plain(x)

    @primitive
    def cast(self, x, dtype):
        return x.astype(dtype)
    defvjp(cast, lambda K, g, ans, x, dtype: g.astype(x.dtype) if x.dtype.kind == ans.dtype.kind == "f" else None)

    # ---- arithmetic
    @primitive
    def add(self, a, b):
        return a + b
    defvjp(add, lambda K, g, ans, a, b: K._unbroadcast(g, numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(g, numpy.shape(b)))

    @primitive
    def subtract(self, a, b):
        return a - b
    defvjp(subtract, lambda K, g, ans, a, b: K._unbroadcast(g, numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(-g, numpy.shape(b)))

    @primitive
    def multiply(self, a, b):
        return a * b
    defvjp(multiply, lambda K, g, ans, a, b: K._unbroadcast(g * b, numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(g * a, numpy.shape(b)))

    @primitive
    def divide(self, a, b):
        return a / b
    defvjp(divide, lambda K, g, ans, a, b: K._unbroadcast(g / b, numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(-g * ans / b, numpy.shape(b)))

    @primitive
    def negative(self, x):
        return -x
    defvjp(negative, lambda K, g, ans, x: -g)

    @primitive
    def pow(self, x, a):
        return x ** a
    defvjp(pow, lambda K, g, ans, x, a: K._unbroadcast(g * a * x ** (a - 1), numpy.shape(x)),
           lambda K, g, ans, x, a: K._unbroadcast(g * ans * K.xp.log(x), numpy.shape(a)))

    @primitive
    def matmul(self, a, b):
        return a @ b
    defvjp(matmul, lambda K, g, ans, a, b: K._matmul_vjp(g, a, b, 0),
           lambda K, g, ans, a, b: K._matmul_vjp(g, a, b, 1))

    def _matmul_vjp(self, g, a, b, which):
        """Gradient for `a` (which=0) or `b` (1); 1D operands are promoted as matmul does."""
        a2 = a[None] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = g.reshape(numpy.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        if which == 0:
            return self._unbroadcast(g @ self.xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if b2.ndim == 2:
            return (a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])).reshape(b.shape)
        return self._unbroadcast(self.xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)

    # ---- elementwise math
    @primitive
    def square(self, x):
        return x * x
    defvjp(square, lambda K, g, ans, x: 2 * g * x)

    @primitive
    def sqrt(self, x):
        return self.xp.sqrt(x)
    defvjp(sqrt, lambda K, g, ans, x: g / (2 * ans))

    @primitive
    def exp(self, x):
        return self.xp.exp(x)
    defvjp(exp, lambda K, g, ans, x: g * ans)

    @primitive
    def log(self, x):
        return self.xp.log(x)
    defvjp(log, lambda K, g, ans, x: g / x)

    @primitive
    def abs(self, x):
        return self.xp.abs(x)
    defvjp(abs, lambda K, g, ans, x: g * K.xp.sign(x))

    @primitive
    def sign(self, x):
        return self.xp.sign(x)
    defvjp(sign, lambda K, g, ans, x: K.xp.zeros_like(x))

    @primitive
    def round(self, x):
        return self.xp.round(x)
    defvjp(round, lambda K, g, ans, x: K.xp.zeros_like(x))

    @primitive
    def cos(self, x):
        return self.xp.cos(x)
    defvjp(cos, lambda K, g, ans, x: -g * K.xp.sin(x))

    @primitive
    def sin(self, x):
        return self.xp.sin(x)
    defvjp(sin, lambda K, g, ans, x: g * K.xp.cos(x))

    @primitive
    def tanh(self, x):
        return self.xp.tanh(x)
    defvjp(tanh, lambda K, g, ans, x: g * (1 - ans * ans))

    def _logistic(self, x):
        with numpy.errstate(over="ignore"):  # exp(-x) = inf for very negative x gives exactly 0
            return 1 / (1 + self.xp.exp(-x))

    @primitive
    def sigmoid(self, x):
        return self._logistic(x)
    defvjp(sigmoid, lambda K, g, ans, x: g * ans * (1 - ans))

    @primitive
    def relu(self, x, alpha=0.0, max_value=None, threshold=0.0):
        below = alpha * (x - threshold) if alpha else self.xp.where(self.xp.isnan(x), x, 0)
        out = self.xp.where(x > threshold, x, below).astype(x.dtype)
        return self.xp.minimum(out, max_value).astype(x.dtype) if max_value is not None else out
    defvjp(relu, lambda K, g, ans, x, alpha=0.0, max_value=None, threshold=0.0: g * (
        K.xp.where(x > threshold, 1, alpha) * (1 if max_value is None else ans < max_value)).astype(x.dtype))

    @primitive
    def elu(self, x, alpha=1.0):
        return self.xp.where(x > 0, x, alpha * self.xp.expm1(self.xp.minimum(x, 0))).astype(x.dtype)
    defvjp(elu, lambda K, g, ans, x, alpha=1.0: g * K.xp.where(x > 0, 1, ans + alpha).astype(x.dtype))

    @primitive
    def softplus(self, x):
        return self.xp.logaddexp(0, x).astype(x.dtype)
    defvjp(softplus, lambda K, g, ans, x: g * K._logistic(x))

    @primitive
    def softmax(self, x, axis=-1):
        e = self.xp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    defvjp(softmax, lambda K, g, ans, x, axis=-1: ans * (g - (g * ans).sum(axis=axis, keepdims=True)))

    @primitive
    def maximum(self, a, b):
        return self.xp.maximum(a, b)
    defvjp(maximum, lambda K, g, ans, a, b: K._unbroadcast(g * (a >= b), numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(g * (a < b), numpy.shape(b)))

    @primitive
    def minimum(self, a, b):
        return self.xp.minimum(a, b)
    defvjp(minimum, lambda K, g, ans, a, b: K._unbroadcast(g * (a <= b), numpy.shape(a)),
           lambda K, g, ans, a, b: K._unbroadcast(g * (a > b), numpy.shape(b)))

    @primitive
    def clip(self, x, min_value, max_value):
        return self.xp.clip(x, min_value, max_value).astype(x.dtype)
    defvjp(clip, lambda K, g, ans, x, min_value, max_value: g * ((x >= min_value) & (x <= max_value)))

    @primitive
    def where(self, condition, a, b):
        return self.xp.where(condition, a, b)
    defvjp(where, None,
           lambda K, g, ans, c, a, b: K._unbroadcast(K.xp.where(c, g, 0).astype(g.dtype), numpy.shape(a)),
           lambda K, g, ans, c, a, b: K._unbroadcast(K.xp.where(c, 0, g).astype(g.dtype), numpy.shape(b)))

    # ---- comparisons and logic (no gradient)
    def equal(self, a, b):
        return self.xp.equal(_plain(a), _plain(b))

    def not_equal(self, a, b):
        return self.xp.not_equal(_plain(a), _plain(b))

    def greater(self, a, b):
        return self.xp.greater(_plain(a), _plain(b))

    def greater_equal(self, a, b):
        return self.xp.greater_equal(_plain(a), _plain(b))

    def less(self, a, b):
        return self.xp.less(_plain(a), _plain(b))

    def less_equal(self, a, b):
        return self.xp.less_equal(_plain(a), _plain(b))

    def logical_and(self, a, b):
        return self.xp.logical_and(_plain(a), _plain(b))

    def any(self, x, axis=None, keepdims=False):
        x = _plain(x)
        return self.xp.any(x, axis=_axes(axis, x.ndim), keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False):
        x = _plain(x)
        return self.xp.all(x, axis=_axes(axis, x.ndim), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return self.xp.argmax(_plain(x), axis=axis)

    def argmin(self, x, axis=-1):
        return self.xp.argmin(_plain(x), axis=axis)

    def one_hot(self, indices, num_classes, dtype=None):
        indices = _plain(indices)
        return self.xp.eye(num_classes, dtype=self._dtype(dtype))[indices.astype("int64")]

    # ---- reductions
    @primitive
    def sum(self, x, axis=None, keepdims=False):
        return x.sum(axis=_axes(axis, x.ndim), keepdims=keepdims)
    defvjp(sum, lambda K, g, ans, x, axis=None, keepdims=False: K._expand_reduced(g, x, axis, keepdims))

    @primitive
    def max(self, x, axis=None, keepdims=False):
        return x.max(axis=_axes(axis, x.ndim), keepdims=keepdims)
    defvjp(max, lambda K, g, ans, x, axis=None, keepdims=False: K._extremum_vjp(g, ans, x, axis, keepdims))

    @primitive
    def min(self, x, axis=None, keepdims=False):
        return x.min(axis=_axes(axis, x.ndim), keepdims=keepdims)
    defvjp(min, lambda K, g, ans, x, axis=None, keepdims=False: K._extremum_vjp(g, ans, x, axis, keepdims))

    def _extremum_vjp(self, g, ans, x, axis, keepdims):
        hit = x == self._expand_reduced(ans, x, axis, keepdims)
        count = hit.sum(axis=_axes(axis, x.ndim), keepdims=True)
        return self._expand_reduced(g, x, axis, keepdims) * hit / count

    @primitive
    def prod(self, x, axis=None, keepdims=False):
        return x.prod(axis=_axes(axis, x.ndim), keepdims=keepdims)
    defvjp(prod, lambda K, g, ans, x, axis=None, keepdims=False: K._prod_vjp(g, x, axis, keepdims))

    def _prod_vjp(self, g, x, axis, keepdims):
        """g times the product of the other entries (exact where x has zeros, unlike ans / x)."""
        xp, axes = self.xp, _axes(axis, x.ndim)
        order = [a for a in range(x.ndim) if a not in axes] + list(axes)
        moved = x.transpose(order)
        flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), x.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], -1), -1)
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], -1), -1), -1)
        others = (left * right).reshape(moved.shape).transpose(tuple(int(a) for a in numpy.argsort(order)))
        return self._expand_reduced(g, x, axis, keepdims) * others

    @primitive
    def cumsum(self, x, axis=0):
        return self.xp.cumsum(x, axis=axis)
    defvjp(cumsum, lambda K, g, ans, x, axis=0: K.xp.flip(
        K.xp.cumsum(K.xp.flip(g, axis), axis=axis), axis))

    # ---- shapes
    @primitive
    def reshape(self, x, shape):
        return x.reshape(shape)
    defvjp(reshape, lambda K, g, ans, x, shape: g.reshape(x.shape))

    @primitive
    def permute_dimensions(self, x, pattern):
        return x.transpose(pattern)
    defvjp(permute_dimensions, lambda K, g, ans, x, pattern: g.transpose(numpy.argsort(pattern)))

    def transpose(self, x):
        return self.permute_dimensions(x, tuple(range(self.ndim(x)))[::-1])

    @primitive
    def expand_dims(self, x, axis=-1):
        return self.xp.expand_dims(x, axis)
    defvjp(expand_dims, lambda K, g, ans, x, axis=-1: g.reshape(x.shape))

    @primitive
    def squeeze(self, x, axis):
        return self.xp.squeeze(x, axis)
    defvjp(squeeze, lambda K, g, ans, x, axis: g.reshape(x.shape))

    @primitive
    def reverse(self, x, axes):
        return self.xp.flip(x, axes)
    defvjp(reverse, lambda K, g, ans, x, axes: K.xp.flip(g, axes))

    @primitive
    def tile(self, x, n):
        return self.xp.tile(x, n)
    defvjp(tile, lambda K, g, ans, x, n: K._tile_vjp(g, x, n))

    def _tile_vjp(self, g, x, n):
        n = (n,) if isinstance(n, int) else tuple(n)
        shape = (1,) * (len(n) - x.ndim) + x.shape
        reps = (1,) * (len(shape) - len(n)) + n
        split = [d for pair in zip(reps, shape) for d in pair]
        return g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(x.shape)

    @primitive
    def repeat_elements(self, x, rep, axis):
        return self.xp.repeat(x, rep, axis=axis)
    defvjp(repeat_elements, lambda K, g, ans, x, rep, axis: g.reshape(
        x.shape[:axis % x.ndim] + (x.shape[axis], rep) + x.shape[axis % x.ndim + 1:]).sum(axis=axis % x.ndim + 1))

    @primitive
    def concatenate(self, tensors, axis=-1):
        return self.xp.concatenate(tensors, axis=axis)
    defvjp(concatenate, lambda K, g, ans, j, tensors, axis=-1: K._concat_part(g, tensors, j, axis))

    def _concat_part(self, g, tensors, j, axis):
        axis = axis % g.ndim
        start = int(numpy.sum([t.shape[axis] for t in tensors[:j]], dtype=int))
        index = (slice(None),) * axis + (slice(start, start + tensors[j].shape[axis]),)
        return g[index]

    @primitive
    def stack(self, tensors, axis=0):
        return self.xp.stack(tensors, axis=axis)
    defvjp(stack, lambda K, g, ans, j, tensors, axis=0: K.xp.take(g, j, axis=axis))

    def unstack(self, x, axis=0):
        """Split along `axis`; on the tape each piece sends back a sparse gradient."""
        value = _plain(x)
        pieces = [self.xp.take(value, t, axis=axis) for t in range(value.shape[axis])]
        node = _on_tape(x) if tracing() else None
        if node is None:
            return pieces
        prefix = (slice(None),) * (axis % value.ndim)
        return [Traced(p, ((node, _IndexedVjp(value.shape, value.dtype, prefix + (t,))),), self)
                for t, p in enumerate(pieces)]

    @primitive
    def getitem(self, x, index):
        return x[index]
    defvjp(getitem, lambda K, g, ans, x, index: K._getitem_vjp(g, x, index))

    def _getitem_vjp(self, g, x, index):
        if _basic_index(index):
            return IndexedGrad(x.shape, x.dtype, index, g)
        out = self.xp.zeros(x.shape, x.dtype)
        self.xp.add.at(out, index, g)
        return out

    def slice(self, x, start, size):
        index = tuple(slice(s, s + n) for s, n in zip(start, size))
        return self.getitem(x, index)

    @primitive
    def gather(self, reference, indices):
        return self.xp.take(reference, self.xp.asarray(indices).astype("int64"), axis=0)
    defvjp(gather, lambda K, g, ans, ref, indices: K._gather_vjp(g, ref, indices))

    def _gather_vjp(self, g, ref, indices):
        """The rows of `g` at `indices`, kept sparse (IndexedRows); the tape makes them dense where needed."""
        index = self.xp.asarray(indices).astype("int64").reshape(-1)
        index = self.xp.where(index < 0, index + ref.shape[0], index)
        return IndexedRows(index, g.reshape((index.shape[0],) + tuple(ref.shape[1:])), ref.shape)

    # ---- row updates of indexed gradients (plain arrays, in place)
    def sum_repeated_rows(self, indices, values):
        """(unique indices, the rows of each index summed)."""
        unique, positions = self.xp.unique(_plain(indices), return_inverse=True)
        return unique, self.segment_sum(values, positions.reshape(-1), unique.shape[0])

    def segment_sum(self, values, positions, n):
        values = _plain(values)
        out = self.xp.zeros((n,) + tuple(values.shape[1:]), values.dtype)
        self.xp.add.at(out, _plain(positions), values)
        return out

    def scatter_update(self, var, indices, rows):
        """Set rows `indices` (unique) of the variable to `rows`, in place."""
        var.value[_plain(indices)] = _plain(rows)
        return var

    def scatter_add(self, var, indices, rows):
        """Add `rows` to rows `indices` (repeats add up) of the variable, in place."""
        self.xp.add.at(var.value, _plain(indices), _plain(rows).astype(var.value.dtype, copy=False))
        return var

    # ---- gradients
    def fused_recurrence(self, *args):
        """The recurrence as one tape primitive with its hand-written backward (backends/fused_recurrence.py)."""
        return fused_recurrence.fused_recurrence(self, *args)

    def value_and_grad(self, fn, variables, has_aux=False, indexed=False):
        """Run `fn()` on the tape; return its value and the gradients for `variables` (`indexed`: the
        gradient of a variable only gathered from stays IndexedRows, as TensorFlow's IndexedSlices)."""
        variables = list(variables)
        for v in variables:
            if not isinstance(v, Variable):
                raise TypeError(f"value_and_grad: expected K.variable objects, got {type(v).__name__}")
        with trace(variables) as leaves:
            out = fn()
            loss, aux = out if has_aux else (out, None)
            node = _on_tape(loss)
        if numpy.size(_plain(loss)) != 1:
            raise ValueError(f"value_and_grad: fn must return a scalar, got shape {self.shape(loss)}")
        if node is not None:
            grads = backward(self.xp, node, self.xp.ones_like(node.value), keep_rows=indexed)
        else:
            grads = {}
        result = [grads.get(id(leaf)) for leaf in leaves]
        result = [self.xp.zeros_like(v.value) if g is None else
                  IndexedRows(g.indices, self.xp.array(g.values, dtype=v.value.dtype), g.shape)
                  if isinstance(g, IndexedRows) else self.xp.array(g, dtype=v.value.dtype)
                  for g, v in zip(result, variables)]  # fresh arrays: tape gradients may be shared views
        value = _plain(loss)
        return ((value, map_structure(_plain, aux)) if has_aux else value), result


class _IndexedVjp:
    """The VJP of one piece of `unstack`: its gradient placed at its index, kept sparse."""
    __slots__ = ("shape", "dtype", "index")

    def __init__(self, shape, dtype, index):
        self.shape, self.dtype, self.index = shape, dtype, index

    def __call__(self, g):
        return IndexedGrad(self.shape, self.dtype, self.index, g)


def create():
    return NumpyBackend()
