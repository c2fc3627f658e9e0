"""The TensorFlow backend: eager tensors, `tf.Variable` for variables, `tf.GradientTape` for gradients.

Each primitive has the semantics of the NumPy reference: mixed operands are promoted the way
NumPy promotes them (TF refuses mixed dtypes), and where TF's own gradient differs from the
reference (relu with a cap, softplus at 0) the op is written so that autodiff gives the reference.
"""
import numbers

import numpy

from . import config, frameworks
from .base import Backend
from .indexed import IndexedRows

tf = frameworks.require("tensorflow")
_raw = tf.raw_ops  # the hot elementwise ops called as their kernels: the same ops and gradients, about half the Python per op

from . import tensorflow_compiled, tensorflow_steps  # noqa: E402  (need tensorflow, required just above)

_TF = (tf.Tensor, tf.Variable)


def _t(x):
    """`x` as a TF value: tensors and variables pass through, the rest is read as NumPy reads it."""
    return x if isinstance(x, _TF) else tf.constant(numpy.asarray(x))


def _as(x, dtype):
    """`x` as a tensor of `dtype`; Python scalars are converted exactly, not through float32."""
    dtype = tf.as_dtype(dtype)
    if isinstance(x, _TF):
        return x if x.dtype == dtype else tf.cast(x, dtype)
    if type(x) in (int, float) and dtype.is_floating:
        return tf.constant(x, dtype)
    return tf.constant(numpy.asarray(x, dtype.as_numpy_dtype))


def _probe(x):
    """What `numpy.result_type` should see for `x`: a dtype, an array, or a (weak) Python scalar."""
    if isinstance(x, _TF):
        return x.dtype.as_numpy_dtype
    return numpy.asarray(x) if isinstance(x, (list, tuple)) else x


def _common(*xs):
    """The operands as tensors of the one dtype NumPy would give their result."""
    if all(isinstance(x, _TF) for x in xs) and all(x.dtype == xs[0].dtype for x in xs):
        return xs
    dtype = numpy.result_type(*[_probe(x) for x in xs])
    return [_as(x, dtype) for x in xs]


_SCALARS = {}


def _scalars(dtype, values) -> tuple:
    """`values` as scalar tensors of `dtype`, kept for eager calls (a trace makes its own constants)."""
    if not tf.executing_eagerly():
        return tuple(tf.constant(v, dtype) for v in values)
    key = (dtype, values)
    if key not in _SCALARS:
        _SCALARS[key] = tuple(tf.constant(v, dtype) for v in values)
    return _SCALARS[key]


def _bool(x):
    x = _t(x)
    return x if x.dtype == tf.bool else tf.cast(x, tf.bool)


def _axis(axis):
    return list(axis) if isinstance(axis, tuple) else axis


def _basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or (isinstance(i, numbers.Integral) and not isinstance(i, (bool, numpy.bool_)))
               for i in items)


def _unit_slices(index, shape):
    """`(begin, size, dropped axes)` for an index of in-range ints and unit-step slices, else None."""
    items = index if isinstance(index, tuple) else (index,)
    if len(items) > len(shape) or None in shape:
        return None
    begin, size, dropped = [], [], []
    for axis, (item, dim) in enumerate(zip(items + (slice(None),) * (len(shape) - len(items)), shape)):
        if isinstance(item, slice):
            start, stop, step = item.indices(dim)
            if step != 1:
                return None
            begin.append(start)
            size.append(max(0, stop - start))
        elif isinstance(item, numbers.Integral) and not isinstance(item, (bool, numpy.bool_)) and -dim <= item < dim:
            begin.append(int(item) % dim)
            size.append(1)
            dropped.append(axis)
        else:
            return None
    return begin, size, dropped


class TensorflowBackend(Backend):
    name = "tensorflow"
    fast_paths_trace = True  # its fast path compiles one tf.function trace per layer configuration

    def _dtype(self, dtype):
        return tf.as_dtype(dtype or self.floatx())

    # ---- tensors and variables
    def variable(self, value, dtype=None, name=None) -> "tf.Variable":
        """A `tf.Variable` holding a copy of `value` (dtype: floatx unless given)."""
        return tf.Variable(self.constant(value, dtype), name=name)

    def constant(self, value, dtype=None, shape=None) -> "tf.Tensor":
        """A tensor (no gradient) of `value`, cast to `dtype` (floatx unless given), broadcast to `shape`."""
        dtype = self._dtype(dtype)
        if isinstance(value, _TF):
            value = tf.cast(tf.stop_gradient(value), dtype)
        else:
            value = tf.constant(numpy.asarray(value, dtype.as_numpy_dtype))
        return value if shape is None else tf.broadcast_to(value, shape)

    def zeros(self, shape, dtype=None) -> "tf.Tensor":
        return tf.zeros(shape, self._dtype(dtype))

    def ones(self, shape, dtype=None) -> "tf.Tensor":
        return tf.ones(shape, self._dtype(dtype))

    def eye(self, n, dtype=None) -> "tf.Tensor":
        return tf.eye(n, dtype=self._dtype(dtype))

    def zeros_like(self, x, dtype=None) -> "tf.Tensor":
        return tf.zeros_like(_t(x), dtype=dtype)

    def ones_like(self, x, dtype=None) -> "tf.Tensor":
        return tf.ones_like(_t(x), dtype=dtype)

    def dtype(self, x) -> str:
        return x.dtype.name if isinstance(x, _TF) else str(numpy.asarray(x).dtype)

    def shape(self, x) -> tuple:
        return tuple(x.shape) if isinstance(x, _TF) else numpy.shape(x)

    int_shape = shape

    def ndim(self, x) -> int:
        return len(self.shape(x))

    def is_tensor(self, x) -> bool:
        return isinstance(x, _TF)

    def is_variable(self, x) -> bool:
        return isinstance(x, tf.Variable)

    def to_numpy(self, x) -> numpy.ndarray:
        return x.numpy() if isinstance(x, _TF) else numpy.asarray(x)

    def host_check(self, x, check) -> None:
        """`check` on the host values now; in a compiled step's trace, after each call of the step (in any
        other traced function the values are never known on the host and the check is skipped)."""
        if tf.executing_eagerly():
            check(numpy.asarray(self.to_numpy(x)))
        else:
            tensorflow_steps.defer_check(x, check)

    def set_value(self, var: "tf.Variable", value) -> None:
        """Assign `value` (cast to the variable's dtype) in place; the shape must match."""
        value, name = self.constant(value, var.dtype), var.name.rsplit(":", 1)[0]
        if value.shape != var.shape:
            raise ValueError(f"set_value: variable {name} has shape {tuple(var.shape)}, "
                             f"got a value of shape {tuple(value.shape)}")
        var.assign(value)

    def update(self, var: "tf.Variable", new) -> "tf.Variable":
        self.set_value(var, new)
        return var

    def update_add(self, var: "tf.Variable", delta) -> "tf.Variable":
        return self.update(var, self.add(var, delta))

    def update_sub(self, var: "tf.Variable", delta) -> "tf.Variable":
        return self.update(var, self.subtract(var, delta))

    def stop_gradient(self, x) -> "tf.Tensor":
        return tf.stop_gradient(_t(x))

    def cast(self, x, dtype) -> "tf.Tensor":
        return tf.cast(_t(x), dtype)

    # ---- arithmetic (operands promoted as NumPy does)
    def add(self, a, b) -> "tf.Tensor":
        a, b = _common(a, b)
        return _raw.AddV2(x=a, y=b)

    def subtract(self, a, b) -> "tf.Tensor":
        a, b = _common(a, b)
        return _raw.Sub(x=a, y=b)

    def multiply(self, a, b) -> "tf.Tensor":
        a, b = _common(a, b)
        return _raw.Mul(x=a, y=b)

    def divide(self, a, b) -> "tf.Tensor":
        return tf.divide(*_common(a, b))

    def negative(self, x) -> "tf.Tensor":
        return tf.negative(_t(x))

    def pow(self, x, a) -> "tf.Tensor":
        return tf.pow(*_common(x, a))

    def matmul(self, a, b) -> "tf.Tensor":
        """NumPy's `a @ b`: vectors are promoted then squeezed, batch dimensions broadcast."""
        a, b = _common(a, b)
        a_rank, b_rank = len(a.shape), len(b.shape)
        if a_rank == 1 or b_rank == 1:
            out = self.matmul(a[None] if a_rank == 1 else a, b[:, None] if b_rank == 1 else b)
            return tf.squeeze(out, [-2] * (a_rank == 1) + [-1] * (b_rank == 1))
        if b_rank == 2 and a_rank > 2:
            out = _raw.MatMul(a=tf.reshape(a, (-1, a.shape[-1])), b=b)
            return tf.reshape(out, tuple(a.shape[:-1]) + (b.shape[-1],))
        return _raw.MatMul(a=a, b=b) if a_rank == 2 else tf.matmul(a, b)

    # ---- elementwise math
    def square(self, x) -> "tf.Tensor":
        return tf.square(_t(x))

    def sqrt(self, x) -> "tf.Tensor":
        return tf.sqrt(_t(x))

    def exp(self, x) -> "tf.Tensor":
        return tf.exp(_t(x))

    def log(self, x) -> "tf.Tensor":
        return tf.math.log(_t(x))

    def abs(self, x) -> "tf.Tensor":
        return tf.abs(_t(x))

    def sign(self, x) -> "tf.Tensor":
        return tf.sign(_t(x))

    def round(self, x) -> "tf.Tensor":
        """Half to even, like NumPy."""
        return tf.round(_t(x))

    def cos(self, x) -> "tf.Tensor":
        return tf.cos(_t(x))

    def sin(self, x) -> "tf.Tensor":
        return tf.sin(_t(x))

    def tanh(self, x) -> "tf.Tensor":
        return _raw.Tanh(x=_t(x))

    def sigmoid(self, x) -> "tf.Tensor":
        return _raw.Sigmoid(x=_t(x))

    def hard_sigmoid(self, x) -> "tf.Tensor":
        """clip(0.2 x + 0.5, 0, 1) as the reference's four ops, on scalars made once per dtype."""
        x = _t(x)
        if not x.dtype.is_floating:
            return super().hard_sigmoid(x)
        slope, shift, low, high = _scalars(x.dtype, (0.2, 0.5, 0.0, 1.0))
        return _raw.Minimum(x=_raw.Maximum(x=_raw.AddV2(x=_raw.Mul(x=x, y=slope), y=shift), y=low), y=high)

    def relu(self, x, alpha=0.0, max_value=None, threshold=0.0) -> "tf.Tensor":
        """Keras relu: slope `alpha` below `threshold`, capped at `max_value` (gradient 0 at the cap)."""
        x = _t(x)
        if not alpha and max_value is None and threshold == 0:
            return tf.nn.relu(x)
        below = alpha * (x - threshold) if alpha else tf.zeros_like(x)
        above = x
        if max_value is not None:
            cap = _as(max_value, x.dtype)
            below, above = tf.minimum(below, cap), tf.where(x < cap, x, cap)
        return tf.where(x > threshold, above, below)

    def elu(self, x, alpha=1.0) -> "tf.Tensor":
        x = _t(x)
        return tf.where(x > 0, x, alpha * tf.math.expm1(tf.minimum(x, 0)))

    def softplus(self, x) -> "tf.Tensor":
        """max(x, 0) + log1p(exp(-|x|)); |x| is maximum(x, -x) so that the gradient at 0 is 1 - 1/2."""
        x = _t(x)
        return tf.maximum(x, 0) + tf.math.log1p(tf.exp(-tf.maximum(x, -x)))

    def softmax(self, x, axis=-1) -> "tf.Tensor":
        return tf.nn.softmax(_t(x), axis=axis)

    def maximum(self, a, b) -> "tf.Tensor":
        """Gradient to `a` where a >= b, to `b` elsewhere."""
        a, b = _common(a, b)
        return _raw.Maximum(x=a, y=b)

    def minimum(self, a, b) -> "tf.Tensor":
        """Gradient to `a` where a <= b, to `b` elsewhere."""
        a, b = _common(a, b)
        return _raw.Minimum(x=a, y=b)

    def clip(self, x, min_value, max_value) -> "tf.Tensor":
        """Clip to [min_value, max_value] (None: no bound); the gradient passes on the closed interval."""
        x = _t(x)
        if min_value is not None:
            x = _raw.Maximum(x=x, y=_as(min_value, x.dtype))
        return x if max_value is None else _raw.Minimum(x=x, y=_as(max_value, x.dtype))

    def where(self, condition, a, b) -> "tf.Tensor":
        a, b = _common(a, b)
        return _raw.SelectV2(condition=_bool(condition), t=a, e=b)

    def switch(self, condition, then_expression, else_expression):
        """Keras `switch`; a row condition (batch,) over two values of one static shape is TF's `Select`,
        whose gradient is two selects (SelectV2's adds shape and reduction ops): the same numbers."""
        then_value = then_expression() if callable(then_expression) else then_expression
        else_value = else_expression() if callable(else_expression) else else_expression
        if isinstance(condition, tf.Tensor) and condition.dtype == tf.bool and condition.shape.rank == 1:
            a, b = _common(then_value, else_value)
            if a.shape.rank and a.shape.is_fully_defined() and a.shape == b.shape and a.shape[0] == condition.shape[0]:
                return _raw.Select(condition=condition, x=a, y=b)
        return super().switch(condition, then_value, else_value)

    # ---- comparisons and logic (no gradient)
    def equal(self, a, b) -> "tf.Tensor":
        return tf.equal(*_common(a, b))

    def not_equal(self, a, b) -> "tf.Tensor":
        return tf.not_equal(*_common(a, b))

    def greater(self, a, b) -> "tf.Tensor":
        return tf.greater(*_common(a, b))

    def greater_equal(self, a, b) -> "tf.Tensor":
        return tf.greater_equal(*_common(a, b))

    def less(self, a, b) -> "tf.Tensor":
        return tf.less(*_common(a, b))

    def less_equal(self, a, b) -> "tf.Tensor":
        return tf.less_equal(*_common(a, b))

    def logical_and(self, a, b) -> "tf.Tensor":
        return tf.logical_and(_bool(a), _bool(b))

    def any(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        return tf.reduce_any(_bool(x), axis=_axis(axis), keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        return tf.reduce_all(_bool(x), axis=_axis(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1) -> "tf.Tensor":
        x = _t(x)
        if axis is None:
            x, axis = tf.reshape(x, [-1]), 0
        return tf.argmax(x, axis, output_type=tf.int64)

    def argmin(self, x, axis=-1) -> "tf.Tensor":
        x = _t(x)
        if axis is None:
            x, axis = tf.reshape(x, [-1]), 0
        return tf.argmin(x, axis, output_type=tf.int64)

    def one_hot(self, indices, num_classes, dtype=None) -> "tf.Tensor":
        return tf.one_hot(tf.cast(_t(indices), tf.int64), num_classes, dtype=self._dtype(dtype))

    # ---- reductions (axis: int, list, tuple or None)
    def sum(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        x = _t(x)
        if x.dtype == tf.bool:
            x = tf.cast(x, tf.int64)
        return tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        """Ties share the gradient equally."""
        return tf.reduce_max(_t(x), axis=_axis(axis), keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        """Ties share the gradient equally."""
        return tf.reduce_min(_t(x), axis=_axis(axis), keepdims=keepdims)

    def prod(self, x, axis=None, keepdims=False) -> "tf.Tensor":
        return tf.reduce_prod(_t(x), axis=_axis(axis), keepdims=keepdims)

    def cumsum(self, x, axis=0) -> "tf.Tensor":
        return tf.cumsum(_t(x), axis=axis)

    # ---- shapes
    def reshape(self, x, shape) -> "tf.Tensor":
        return tf.reshape(_t(x), shape)

    def permute_dimensions(self, x, pattern) -> "tf.Tensor":
        return tf.transpose(_t(x), perm=list(pattern))

    def transpose(self, x) -> "tf.Tensor":
        """All axes reversed, like NumPy's `x.T`."""
        return tf.transpose(_t(x))

    def expand_dims(self, x, axis=-1) -> "tf.Tensor":
        """Insert length-1 axes at `axis` (an int or a tuple, positions in the result)."""
        x = _t(x)
        if isinstance(axis, numbers.Integral):
            return tf.expand_dims(x, axis)
        shape, rank = list(x.shape), len(x.shape) + len(axis)
        for a in sorted(a % rank for a in axis):
            shape.insert(a, 1)
        return tf.reshape(x, shape)

    def squeeze(self, x, axis) -> "tf.Tensor":
        return tf.squeeze(_t(x), axis=[axis] if isinstance(axis, numbers.Integral) else axis)

    def reverse(self, x, axes) -> "tf.Tensor":
        x = _t(x)
        if axes is None:
            axes = range(len(x.shape))
        return tf.reverse(x, [axes] if isinstance(axes, numbers.Integral) else list(axes))

    def tile(self, x, n) -> "tf.Tensor":
        """NumPy's tile: `n` shorter than x's rank is padded with 1s, longer gives x leading axes."""
        x = _t(x)
        n = [n] if isinstance(n, numbers.Integral) else list(n)
        rank = len(x.shape)
        if len(n) > rank:
            x = tf.reshape(x, [1] * (len(n) - rank) + list(x.shape))
        return tf.tile(x, [1] * (rank - len(n)) + n)

    def repeat_elements(self, x, rep, axis) -> "tf.Tensor":
        return tf.repeat(_t(x), rep, axis=axis)

    def concatenate(self, tensors, axis=-1) -> "tf.Tensor":
        return tf.concat(_common(*tensors), axis)

    def stack(self, tensors, axis=0) -> "tf.Tensor":
        return tf.stack(_common(*tensors), axis)

    def unstack(self, x, axis=0) -> list:
        return tf.unstack(_t(x), axis=axis)

    def split(self, x, count: int, axis: int = -1) -> list:
        x = _t(x)
        axis, _ = self._part_size(x, count, axis)
        return tf.split(x, count, axis)

    def getitem(self, x, index) -> "tf.Tensor":
        """`x[index]` as NumPy indexes; integer-array and boolean indices gather (duplicates accumulate)."""
        x = _t(x)
        simple = _unit_slices(index, tuple(x.shape))
        if simple is not None:  # one Slice op instead of the general strided-slice helper
            begin, size, dropped = simple
            part = tf.slice(x, begin, size)
            return tf.squeeze(part, dropped) if dropped else part
        if _basic_index(index):
            return x[index]
        items = index if isinstance(index, tuple) else (index,)
        items = tuple(i.numpy() if isinstance(i, _TF) else i for i in items)
        positions = numpy.arange(x.shape.num_elements()).reshape(tuple(x.shape))[items]
        return tf.gather(tf.reshape(x, [-1]), positions)

    def slice(self, x, start, size) -> "tf.Tensor":
        return self.getitem(x, tuple(slice(s, s + n) for s, n in zip(start, size)))

    def gather(self, reference, indices) -> "tf.Tensor":
        """Rows of `reference` (negative indices count from the end); duplicate rows accumulate gradient."""
        reference, indices = _t(reference), tf.cast(_t(indices), tf.int64)
        indices = tf.where(indices < 0, indices + reference.shape[0], indices)
        return tf.gather(reference, indices)

    # ---- row updates of indexed gradients (in place)
    def sum_repeated_rows(self, indices, values):
        """(unique indices, the rows of each index summed), as tf_keras's `_deduplicate_indexed_slices`."""
        unique, positions = tf.unique(indices)
        return unique, tf.math.unsorted_segment_sum(values, positions, tf.shape(unique)[0])

    def segment_sum(self, values, positions, n):
        return tf.math.unsorted_segment_sum(values, positions, n)

    def scatter_update(self, var, indices, rows):
        """Set rows `indices` (unique) of the variable to `rows`, in place."""
        return var.scatter_update(tf.IndexedSlices(tf.cast(_t(rows), var.dtype), indices))

    def scatter_add(self, var, indices, rows):
        """Add `rows` to rows `indices` (repeats add up) of the variable, in place."""
        return var.scatter_add(tf.IndexedSlices(tf.cast(_t(rows), var.dtype), indices))

    # ---- compiled recurrent layers
    def rnn(self, step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
            unroll=False, input_length=None):
        """The Python time loop when eager or unrolled; under tracing one `tf.while_loop`, same semantics."""
        if unroll or not tf.inside_function():
            return super().rnn(step_function, inputs, initial_states, go_backwards, mask, constants, unroll,
                               input_length)
        if len(inputs.shape) < 3:
            raise ValueError(f"rnn: inputs must be at least 3D (batch, time, ...), got shape {self.int_shape(inputs)}")
        return tensorflow_compiled.while_rnn(self, step_function, inputs, initial_states, go_backwards, mask,
                                             constants)

    def fused_rnn(self, *, step=None, unroll=False, **spec):
        """A built-in layer's call compiled as one `tf.function` that runs its own step (tensorflow_compiled.py)."""
        reason = self.fused_declines(spec["cell"], spec["activation"], spec["recurrent_activation"],
                                     spec.get("reset_after", False))
        layer = getattr(step, "__self__", None)
        if reason is None and layer is None:
            reason = "the compiled path needs the layer's step"
        if reason is not None:
            return config.decline(f"tensorflow: {reason}")
        return tensorflow_compiled.fused_rnn(self, layer, unroll, spec["inputs"], spec["initial_states"],
                                             spec["input_masks"], spec["recurrent_masks"], spec["mask"])

    # ---- compiled steps (tensorflow_steps.py)
    def compiled_step(self, fn):
        """`fn` traced once per signature into a `tf.function`, random draws fed in from the host; None (run as
        it is) while fast paths are switched off, so the generic path is op by op."""
        return tensorflow_steps.CompiledStep(fn) if config.fast_paths() else None

    def run_if_finite(self, value, fn):
        """`fn()` when `value` is finite: a `tf.cond` inside a traced step, a host test otherwise."""
        if not tf.inside_function():
            return super().run_if_finite(value, fn)

        def run():
            fn()
            return tf.constant(True)
        return tf.cond(tf.reduce_all(tf.math.is_finite(_t(value))), run, lambda: tf.constant(False))

    def host_draw(self, kind, shape, params, seed, dtype):
        """A host draw; while a compiled step is traced, a slice of its fed-in draws."""
        traced = tensorflow_steps.traced_draw(kind, shape, params, seed, self._dtype(dtype))
        return traced if traced is not None else super().host_draw(kind, shape, params, seed, dtype)

    # ---- gradients
    def value_and_grad(self, fn, variables, has_aux=False, indexed=False) -> tuple:
        """Run `fn()` under a GradientTape watching `variables`; return its value and their gradients
        (`indexed`: the IndexedSlices of a gathered variable come as IndexedRows)."""
        variables = list(variables)
        for v in variables:
            if not isinstance(v, tf.Variable):
                raise TypeError(f"value_and_grad: expected K.variable objects, got {type(v).__name__}")
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            out = fn()
            loss, aux = out if has_aux else (out, None)
            loss = tf.convert_to_tensor(loss) if isinstance(loss, _TF) else _t(loss)
        if loss.shape.num_elements() != 1:
            raise ValueError(f"value_and_grad: fn must return a scalar, got shape {tuple(loss.shape)}")
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = [IndexedRows(g.indices, g.values, tuple(v.shape)) if indexed and isinstance(g, tf.IndexedSlices)
                 else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        return ((loss, aux) if has_aux else loss), grads


def create() -> TensorflowBackend:
    """The backend object; TensorFloat-32 is turned off so float32 GPU matmuls keep float32 precision."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return TensorflowBackend()
