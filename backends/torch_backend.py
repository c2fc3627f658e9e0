"""The PyTorch backend: every primitive is a torch call and torch.autograd takes the gradients.

Variables are `torch.nn.Parameter`s that require no gradient except inside `value_and_grad`,
so inference records no graph. Where torch's own gradient differs from the NumPy reference
(ties in `maximum`/`minimum`, the end points of `relu`'s `max_value`, `softplus`'s threshold)
the primitive is written so that autograd gives the reference gradient.
"""
import contextlib
import contextvars
import os

import numpy

from . import config, frameworks
from .base import Backend
from .indexed import IndexedRows
from .tree import map_structure

torch = frameworks.require("torch")

from . import torch_fused  # noqa: E402  (needs torch, required just above)

_DTYPES = {name: getattr(torch, name) for name in (
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
    "complex64", "complex128")}


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, (list, tuple)) else (axis,)))


def _is_reversed(item) -> bool:
    return isinstance(item, slice) and item.step is not None and item.step < 0


def _negative_steps(index, ndim: int) -> list:
    """`(axis, slice)` for each negative-step slice of a basic index (slices, ints, None, Ellipsis)."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(_is_reversed(i) for i in items):
        return []
    if not all(i is None or i is Ellipsis or isinstance(i, (slice, int, numpy.integer)) for i in items):
        return []
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    found, axis = [], 0
    for item in items:
        if item is Ellipsis:
            axis += ndim - consumed
        elif item is not None:
            if _is_reversed(item):
                found.append((axis, item))
            axis += 1
    return found


def _mirrored(item: slice, dim: int) -> slice:
    """The positive-step slice that picks, from the flipped axis, what `item` picks from the original."""
    start, stop, step = item.indices(dim)
    count = len(range(start, stop, step))
    first = dim - 1 - start
    return slice(first, first + count * -step, -step) if count else slice(0, 0)


def _detached(value):
    return value.detach() if isinstance(value, torch.Tensor) else value


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device=None):
        self.device = torch.device(device)

    # ---- helpers
    def _dtype(self, dtype):
        """A torch dtype from a name, a NumPy dtype or a torch dtype; None means floatx."""
        if isinstance(dtype, torch.dtype):
            return dtype
        dtype = dtype or self.floatx()
        key = dtype if isinstance(dtype, str) and dtype in _DTYPES else numpy.dtype(dtype).name
        if key not in _DTYPES:
            raise TypeError(f"torch backend: unsupported dtype {dtype!r}")
        return _DTYPES[key]

    def _t(self, x):
        """`x` as a tensor on this backend's device (NumPy's dtype rules for non-tensors)."""
        if isinstance(x, torch.Tensor):
            return x
        return torch.from_numpy(numpy.array(x)).to(self.device)

    def _reduce(self, fn, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        return fn(x, dim=axes, keepdim=keepdims) if axes or x.ndim == 0 else x

    # ---- tensors and variables
    def variable(self, value, dtype=None, name=None):
        """A `torch.nn.Parameter` that requires no gradient outside `value_and_grad`."""
        var = torch.nn.Parameter(self.constant(value, dtype), requires_grad=False)
        var.multirnn_name = name
        return var

    def constant(self, value, dtype=None, shape=None):
        """A new tensor (always a copy, never on the autograd graph)."""
        value = value.detach() if isinstance(value, torch.Tensor) else torch.from_numpy(numpy.array(value))
        value = value.to(device=self.device, dtype=self._dtype(dtype), copy=True)
        if shape is not None:
            value = value.broadcast_to(shape).clone(memory_format=torch.contiguous_format)
        return value

    def zeros(self, shape, dtype=None):
        return torch.zeros(shape, dtype=self._dtype(dtype), device=self.device)

    def ones(self, shape, dtype=None):
        return torch.ones(shape, dtype=self._dtype(dtype), device=self.device)

    def eye(self, n: int, dtype=None):
        return torch.eye(n, dtype=self._dtype(dtype), device=self.device)

    def zeros_like(self, x, dtype=None):
        return torch.zeros_like(self._t(x), dtype=dtype and self._dtype(dtype))

    def ones_like(self, x, dtype=None):
        return torch.ones_like(self._t(x), dtype=dtype and self._dtype(dtype))

    def dtype(self, x) -> str:
        return str(x.dtype).removeprefix("torch.")

    def shape(self, x) -> tuple:
        return tuple(x.shape)

    int_shape = shape

    def ndim(self, x) -> int:
        return x.ndim

    def is_tensor(self, x) -> bool:
        return isinstance(x, torch.Tensor)

    def is_variable(self, x) -> bool:
        return isinstance(x, torch.nn.Parameter)

    def to_numpy(self, x) -> numpy.ndarray:
        """A host copy (never a view that a later in-place update could change)."""
        if isinstance(x, torch.Tensor):
            return x.detach().to("cpu", copy=True).numpy()
        return numpy.asarray(x)

    def set_value(self, var, value) -> None:
        value = self._t(value)
        if value.shape != var.shape:
            raise ValueError(f"set_value: variable {getattr(var, 'multirnn_name', None) or ''} has shape "
                             f"{tuple(var.shape)}, got a value of shape {tuple(value.shape)}")
        with torch.no_grad():
            var.copy_(value)

    def update(self, var, new):
        self.set_value(var, new)
        return var

    def update_add(self, var, delta):
        with torch.no_grad():
            return self.update(var, var + self._t(delta))

    def update_sub(self, var, delta):
        with torch.no_grad():
            return self.update(var, var - self._t(delta))

    def stop_gradient(self, x):
        return x.detach() if isinstance(x, torch.Tensor) else x

    def cast(self, x, dtype):
        return self._t(x).to(self._dtype(dtype))

    # ---- arithmetic
    def add(self, a, b):
        return a + b

    def subtract(self, a, b):
        return a - b

    def multiply(self, a, b):
        return a * b

    def divide(self, a, b):
        return a / b

    def negative(self, x):
        return -x

    def pow(self, x, a):
        return x ** a

    def matmul(self, a, b):
        return torch.matmul(self._t(a), self._t(b))

    # ---- elementwise math
    def square(self, x):
        return torch.square(x)

    def sqrt(self, x):
        return torch.sqrt(x)

    def exp(self, x):
        return torch.exp(x)

    def log(self, x):
        return torch.log(x)

    def abs(self, x):
        return torch.abs(x)

    def sign(self, x):
        return torch.sign(x)

    def round(self, x):
        """Half to even, like NumPy."""
        return torch.round(x)

    def cos(self, x):
        return torch.cos(x)

    def sin(self, x):
        return torch.sin(x)

    def tanh(self, x):
        return torch.tanh(x)

    def sigmoid(self, x):
        return torch.sigmoid(x)

    def relu(self, x, alpha=0.0, max_value=None, threshold=0.0):
        """Gradient 1 on (threshold, max_value), `alpha` at or below threshold, 0 from max_value on."""
        if not alpha and max_value is None and threshold == 0:
            return torch.relu(x)
        above = x if max_value is None else torch.where(x < max_value, x, max_value)
        below = alpha * (x - threshold) if alpha else 0.0
        if max_value is not None:
            below = torch.clamp(below, max=max_value) if alpha else min(0.0, max_value)
        return torch.where(x > threshold, above, below)

    def elu(self, x, alpha=1.0):
        return torch.nn.functional.elu(x, alpha)

    def softplus(self, x):
        """max(x, 0) + log1p(exp(-|x|)) with gradient sigmoid(x); torch's own has a threshold.

        `torch.maximum` splits the gradient at x = 0, which gives sigmoid(0) = 1/2 there.
        """
        return torch.maximum(x, x.new_zeros(())) + torch.log1p(torch.exp(-torch.abs(x)))

    def softmax(self, x, axis=-1):
        return torch.softmax(x, dim=axis)

    def maximum(self, a, b):
        """Gradient to `a` where a >= b, to `b` elsewhere."""
        return torch.where(a >= b, a, b)

    def minimum(self, a, b):
        """Gradient to `a` where a <= b, to `b` elsewhere."""
        return torch.where(a <= b, a, b)

    def clip(self, x, min_value, max_value):
        """Gradient passes where min_value <= x <= max_value."""
        if isinstance(min_value, torch.Tensor) or isinstance(max_value, torch.Tensor):
            min_value, max_value = self._t(min_value), self._t(max_value)
        return torch.clamp(x, min_value, max_value)

    def where(self, condition, a, b):
        condition = self._t(condition)
        condition = condition if condition.dtype == torch.bool else condition != 0
        return torch.where(condition, self._t(a), self._t(b))

    # ---- comparisons and logic (no gradient)
    def equal(self, a, b):
        return torch.eq(self._t(a), self._t(b))

    def not_equal(self, a, b):
        return torch.ne(self._t(a), self._t(b))

    def greater(self, a, b):
        return torch.gt(self._t(a), self._t(b))

    def greater_equal(self, a, b):
        return torch.ge(self._t(a), self._t(b))

    def less(self, a, b):
        return torch.lt(self._t(a), self._t(b))

    def less_equal(self, a, b):
        return torch.le(self._t(a), self._t(b))

    def logical_and(self, a, b):
        return torch.logical_and(self._t(a), self._t(b))

    def any(self, x, axis=None, keepdims=False):
        return self._reduce(torch.any, self._t(x).bool(), axis, keepdims)

    def all(self, x, axis=None, keepdims=False):
        return self._reduce(torch.all, self._t(x).bool(), axis, keepdims)

    def argmax(self, x, axis=-1):
        return torch.argmax(self._t(x), dim=axis)

    def argmin(self, x, axis=-1):
        return torch.argmin(self._t(x), dim=axis)

    def one_hot(self, indices, num_classes: int, dtype=None):
        return self.eye(num_classes, dtype)[self._t(indices).long()]

    # ---- reductions (max/min share the gradient equally among ties)
    def sum(self, x, axis=None, keepdims=False):
        return self._reduce(torch.sum, x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce(torch.amax, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return self._reduce(torch.amin, x, axis, keepdims)

    def prod(self, x, axis=None, keepdims=False):
        for a in sorted(_axes(axis, x.ndim), reverse=True):
            x = torch.prod(x, dim=a, keepdim=keepdims)
        return x

    def cumsum(self, x, axis=0):
        return torch.cumsum(x, dim=axis)

    # ---- shapes
    def reshape(self, x, shape):
        return torch.reshape(x, (shape,) if isinstance(shape, int) else tuple(shape))

    def permute_dimensions(self, x, pattern):
        return torch.permute(x, tuple(pattern))

    def transpose(self, x):
        return torch.permute(x, tuple(range(x.ndim))[::-1])

    def expand_dims(self, x, axis=-1):
        axes = axis if isinstance(axis, (list, tuple)) else (axis,)
        for a in sorted(a % (x.ndim + len(axes)) for a in axes):
            x = torch.unsqueeze(x, a)
        return x

    def squeeze(self, x, axis):
        """Remove `axis` (int, tuple or None for every size-1 axis; checks.squeeze refuses others)."""
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None else _axes(axis, x.ndim)
        return torch.squeeze(x, axes)

    def reverse(self, x, axes):
        return torch.flip(x, _axes(axes, x.ndim))

    def tile(self, x, n):
        return torch.tile(x, (n,) if isinstance(n, int) else tuple(n))

    def repeat_elements(self, x, rep: int, axis: int):
        return torch.repeat_interleave(x, rep, dim=axis)

    def concatenate(self, tensors, axis=-1):
        return torch.cat([self._t(t) for t in tensors], dim=axis)

    def stack(self, tensors, axis=0):
        return torch.stack([self._t(t) for t in tensors], dim=axis)

    def unstack(self, x, axis=0) -> list:
        return list(torch.unbind(x, dim=axis))

    def split(self, x, count: int, axis: int = -1) -> list:
        x = self._t(x)
        axis, size = self._part_size(x, count, axis)
        return list(torch.split(x, size, dim=axis))

    def getitem(self, x, index):
        """`x[index]` as NumPy indexes; torch has no negative-step slices, so those axes are flipped first."""
        flips = _negative_steps(index, x.dim())
        if flips:
            x = torch.flip(x, [axis for axis, _ in flips])
            items = list(index) if isinstance(index, tuple) else [index]
            for position, (axis, item) in zip((p for p, i in enumerate(items) if _is_reversed(i)), flips):
                items[position] = _mirrored(item, x.shape[axis])
            index = tuple(items)
        return x[index]

    def slice(self, x, start, size):
        return x[tuple(slice(s, s + n) for s, n in zip(start, size))]

    def gather(self, reference, indices):
        """Rows of `reference` (axis 0); repeated indices accumulate their gradients (a sparse gradient for
        a 2-D variable inside `value_and_grad(..., indexed=True)`)."""
        indices = self._t(indices).long()
        if _INDEXED.get() and isinstance(reference, torch.nn.Parameter) and reference.requires_grad \
                and reference.ndim == 2:
            indices = torch.where(indices < 0, indices + reference.shape[0], indices)
            return torch.nn.functional.embedding(indices, reference, sparse=True)
        return reference[indices]

    # ---- row updates of indexed gradients (in place)
    def sum_repeated_rows(self, indices, values):
        """(unique indices, the rows of each index summed)."""
        unique, positions = torch.unique(indices, return_inverse=True)
        return unique, self.segment_sum(values, positions.reshape(-1), unique.shape[0])

    def segment_sum(self, values, positions, n):
        out = torch.zeros((n,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
        return out.index_add_(0, positions, values)

    def scatter_update(self, var, indices, rows):
        """Set rows `indices` (unique) of the variable to `rows`, in place."""
        with torch.no_grad():
            var.index_copy_(0, indices, self._t(rows).to(var.dtype))
        return var

    def scatter_add(self, var, indices, rows):
        """Add `rows` to rows `indices` (repeats add up) of the variable, in place."""
        with torch.no_grad():
            var.index_add_(0, indices, self._t(rows).to(var.dtype))
        return var

    # ---- fused recurrent kernels: torch's native RNN kernels where they fit, else a hand-written BPTT
    def fused_rnn(self, *, step=None, unroll=False, **spec):
        reason = self.fused_declines(spec["cell"], spec["activation"], spec["recurrent_activation"],
                                     spec.get("reset_after", False))
        if reason is not None:
            return config.decline(f"torch: {reason}")
        tensors = [spec["inputs"], spec["kernel"], spec["recurrent_kernel"], spec["input_bias"],
                   spec["recurrent_bias"], *spec["initial_states"]]
        inference = torch.is_grad_enabled() and not any(getattr(t, "requires_grad", False) for t in tensors)
        with torch.no_grad() if inference else contextlib.nullcontext():  # the kernels' faster inference path
            out = torch_fused.fused_rnn(self, **spec)
        return out or config.decline("torch: the fused kernel declined the inputs")

    def fused_recurrence(self, *args):
        return torch_fused.fused_recurrence(self, *args)

    # ---- gradients
    def value_and_grad(self, fn, variables, has_aux=False, indexed=False):
        """Run `fn()` with gradients on for exactly `variables`; return its value and their gradients
        (`indexed`: a 2-D variable only gathered from gets IndexedRows, as TensorFlow's IndexedSlices)."""
        variables = list(variables)
        for v in variables:
            if not isinstance(v, torch.nn.Parameter):
                raise TypeError(f"value_and_grad: expected K.variable objects, got {type(v).__name__}")
        switched = []
        try:
            for v in variables:
                if v.requires_grad:
                    raise ValueError("value_and_grad: a variable appears twice or gradients are nested")
                v.requires_grad_(True)
                switched.append(v)
            token = _INDEXED.set(bool(indexed))
            try:
                with torch.enable_grad():
                    out = fn()
            finally:
                _INDEXED.reset(token)
            loss, aux = out if has_aux else (out, None)
            loss = self._t(loss)
            if loss.numel() != 1:
                raise ValueError(f"value_and_grad: fn must return a scalar, got shape {tuple(loss.shape)}")
            grads = [None] * len(variables)
            if variables and loss.requires_grad:
                grads = torch.autograd.grad(loss, variables, torch.ones_like(loss), allow_unused=True)
        finally:
            for v in switched:
                v.requires_grad_(False)
        grads = [torch.zeros_like(v) if g is None else _rows(g) if g.is_sparse else g
                 for g, v in zip(grads, variables)]
        value = loss.detach()
        return ((value, map_structure(_detached, aux)) if has_aux else value), grads


_INDEXED = contextvars.ContextVar("multirnn_torch_indexed", default=False)  # inside value_and_grad(indexed=True)


def _rows(g) -> IndexedRows:
    """A sparse (COO) embedding gradient as IndexedRows, its repeated rows kept as they came."""
    return IndexedRows(g._indices()[0], g._values(), tuple(g.shape))


def create() -> TorchBackend:
    """The torch backend on `MULTIRNN_TORCH_DEVICE`, else CUDA when available, else the CPU."""
    name = os.environ.get("MULTIRNN_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"MULTIRNN_TORCH_DEVICE={name!r} is not a torch device: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"MULTIRNN_TORCH_DEVICE={name!r} asks for CUDA, "
                           "but torch sees no usable CUDA device")
    return TorchBackend(device)
