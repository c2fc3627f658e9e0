"""Merging several tensors into one: the shared math, the Keras 2 layers, Keras 1 `merge`.

`merge_tensors`, `merge_output_shape` and `merge_mask` are the single implementation behind
the Keras 2 layers here, the Keras 1 `merge` function and the Keras 1 `Merge` class.
Modes: 'sum' (add), 'sub', 'mul', 'ave', 'max', 'min', 'concat', 'dot', 'cos' or a callable
taking the list of tensors. Elementwise modes broadcast as tf.keras does (inputs of lower
rank get axes inserted after the batch axis). 'cos' is the dot product of the inputs
l2-normalized along the dot axes, so its shape is that of 'dot' ((batch, 1) for 2D inputs).
"""
from typing import Callable, Sequence, Union

from multirnn import backend as K
from multirnn.layers.base import Layer, unique_name
from multirnn.layers.lambdas import infer_output_shape
from multirnn.stored_functions import deserialize_function, serialize_function

_MODE_NAMES = {"sum": "sum", "add": "sum", "sub": "sub", "subtract": "sub", "mul": "mul",
               "multiply": "mul", "ave": "ave", "average": "ave", "max": "max", "maximum": "max",
               "min": "min", "minimum": "min", "concat": "concat", "concatenate": "concat",
               "dot": "dot", "cos": "cos"}
ELEMENTWISE = ("sum", "sub", "mul", "ave", "max", "min")


def canonical_mode(mode) -> Union[str, Callable]:
    """'sum', 'mul', ... for a mode name or alias; callables pass through."""
    if callable(mode):
        return mode
    if isinstance(mode, str) and mode.lower() in _MODE_NAMES:
        return _MODE_NAMES[mode.lower()]
    raise ValueError(f"merge: unknown mode {mode!r}; expected a callable or one of "
                     f"{', '.join(sorted(set(_MODE_NAMES.values())))}")


def dot_axes_for(dot_axes, ranks) -> list:
    """Two non-negative axes from an int or a pair, as tf.keras `Dot` (negative counts from the end)."""
    pair = [dot_axes, dot_axes] if isinstance(dot_axes, int) else list(dot_axes)
    if len(pair) != 2 or not all(isinstance(a, int) for a in pair):
        raise ValueError(f"merge: dot_axes must be an int or a pair of ints, got {dot_axes!r}")
    axes = [a % r if a < 0 else a for a, r in zip(pair, ranks)]
    for a, r in zip(axes, ranks):
        if a == 0 or a >= r:
            raise ValueError(f"merge: dot_axes {dot_axes!r} out of range for inputs of ranks {tuple(ranks)} "
                             "(axis 0, the batch axis, cannot be contracted)")
    return axes


def _align_ranks(tensors):
    """Insert axes after the batch axis so every tensor has the highest rank (as tf.keras)."""
    top = max(K.ndim(t) for t in tensors)
    out = []
    for t in tensors:
        for _ in range(top - K.ndim(t)):
            t = K.expand_dims(t, 1)
        out.append(t)
    return out


def merge_tensors(tensors: Sequence, mode="sum", concat_axis: int = -1, dot_axes=-1):
    """Merge a list of tensors by `mode` (see the module docstring)."""
    tensors = list(tensors)
    mode = canonical_mode(mode)
    if callable(mode):
        return mode(tensors)
    if not tensors:
        raise ValueError(f"merge: mode {mode!r} needs at least one tensor")
    if mode == "concat":
        return K.concatenate(tensors, axis=concat_axis)
    if mode in ("dot", "cos", "sub") and len(tensors) != 2:
        raise ValueError(f"merge: mode {mode!r} needs exactly 2 tensors, got {len(tensors)}")
    if mode in ("dot", "cos"):
        a, b = tensors
        axes = dot_axes_for(dot_axes, (K.ndim(a), K.ndim(b)))
        if mode == "cos":
            a, b = K.l2_normalize(a, axis=axes[0]), K.l2_normalize(b, axis=axes[1])
        return K.batch_dot(a, b, axes)
    tensors = _align_ranks(tensors)
    out = tensors[0]
    for t in tensors[1:]:
        if mode in ("sum", "ave"):
            out = out + t
        elif mode == "sub":
            out = out - t
        elif mode == "mul":
            out = out * t
        elif mode == "max":
            out = K.maximum(out, t)
        else:
            out = K.minimum(out, t)
    return out / float(len(tensors)) if mode == "ave" else out


def _broadcast_shapes(shapes, where):
    """tf.keras `_compute_elemwise_op_output_shape` over all inputs (batch axis handled apart)."""
    batches = {s[0] for s in shapes if s and s[0] is not None}
    if len(batches) > 1:
        raise ValueError(f"{where}: inputs must have the same batch size, got shapes {list(map(tuple, shapes))}")
    out = []
    for shape in (tuple(s[1:]) for s in shapes):
        long, short = (out, list(shape)) if len(out) >= len(shape) else (list(shape), out)
        merged = list(long[:len(long) - len(short)])
        for i, j in zip(long[len(long) - len(short):], short):
            if i is None or j is None:
                merged.append(None)
            elif i == 1 or j == 1:
                merged.append(j if i == 1 else i)
            elif i != j:
                raise ValueError(f"{where}: inputs with shapes {list(map(tuple, shapes))} cannot be broadcast together")
            else:
                merged.append(i)
        out = merged
    return (batches.pop() if batches else None,) + tuple(out)


def _concat_shape(shapes, axis, where):
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ValueError(f"{where}: inputs to concatenate must have the same rank, got shapes {list(map(tuple, shapes))}")
    rank = ranks.pop()
    if not -rank <= axis < rank:
        raise ValueError(f"{where}: concat axis {axis} is out of range for inputs of rank {rank}")
    axis %= rank
    out = list(shapes[0])
    for shape in shapes[1:]:
        for d, (a, b) in enumerate(zip(out, shape)):
            if d == axis:
                out[d] = None if a is None or b is None else a + b
            elif a is not None and b is not None and a != b:
                raise ValueError(f"{where}: inputs must match in every axis but the concat axis ({axis}); "
                                 f"got shapes {list(map(tuple, shapes))}")
            elif a is None:
                out[d] = b
    return tuple(out)


def _dot_shape(shapes, dot_axes, where):
    if len(shapes) != 2:
        raise ValueError(f"{where}: dot/cos merges need exactly 2 inputs, got {len(shapes)}")
    s1, s2 = list(shapes[0]), list(shapes[1])
    axes = dot_axes_for(dot_axes, (len(s1), len(s2)))
    d1, d2 = s1[axes[0]], s2[axes[1]]
    if d1 is not None and d2 is not None and d1 != d2:
        raise ValueError(f"{where}: dimension {d1} of input 0 (axis {axes[0]}) does not match dimension {d2} "
                         f"of input 1 (axis {axes[1]}); shapes {tuple(s1)} and {tuple(s2)}")
    s1.pop(axes[0])
    s2.pop(axes[1])
    out = s1 + s2[1:]
    return tuple(out + [1] if len(out) == 1 else out)


def merge_output_shape(shapes: Sequence, mode="sum", concat_axis: int = -1, dot_axes=-1, output_shape=None,
                       min_inputs: int = 2):
    """The output shape (batch axis included) of `merge_tensors` on inputs of `shapes`.

    For a callable mode, `output_shape` is a shape without the batch axis, or a callable on the
    list of input shapes; when None the shape is found by running the mode on zeros.
    """
    shapes = [tuple(s) for s in shapes]
    mode = canonical_mode(mode)
    where = f"merge (mode {getattr(mode, '__name__', mode)!r})"
    if len(shapes) < min_inputs:
        raise ValueError(f"{where}: expected a list of at least {min_inputs} inputs, got {len(shapes)}")
    if callable(mode):
        if callable(output_shape):
            return tuple(output_shape(shapes))
        if output_shape is not None:
            return (shapes[0][0],) + tuple(output_shape)
        return infer_output_shape(lambda xs: mode(list(xs)), shapes, where)
    if mode == "concat":
        return _concat_shape(shapes, concat_axis, where)
    if mode in ("dot", "cos"):
        return _dot_shape(shapes, dot_axes, where)
    if mode == "sub" and len(shapes) != 2:
        raise ValueError(f"{where}: needs exactly 2 inputs, got {len(shapes)}")
    return _broadcast_shapes(shapes, where)


def merge_mask(tensors: Sequence, masks, mode="sum", concat_axis: int = -1):
    """The output mask: None for dot/cos/callables; the AND of the masks for elementwise modes;
    for concat, each input's mask (all True where absent) joined along the axis, then ANDed over
    the last axis (as tf.keras `Concatenate`)."""
    masks = list(masks) if isinstance(masks, (list, tuple)) else [masks] * len(tensors)
    mode = canonical_mode(mode)
    if all(m is None for m in masks) or callable(mode) or mode in ("dot", "cos"):
        return None
    if mode != "concat":
        present = [K.cast(m, "bool") for m in masks if m is not None]
        out = present[0]
        for m in present[1:]:
            out = K.logical_and(out, m)
        return out
    full = []
    for t, m in zip(tensors, masks):
        if m is None:
            full.append(K.ones_like(t, dtype="bool"))
            continue
        m = K.cast(m, "bool")
        while K.ndim(m) < K.ndim(t):
            m = K.expand_dims(m, -1)
        full.append(K.logical_and(m, K.ones_like(t, dtype="bool")))
    return K.all(K.concatenate(full, axis=concat_axis), axis=-1)


class _Merge(Layer):
    """Base of the Keras 2 merge layers: a list of tensors in, one tensor out."""
    mode = "sum"
    min_inputs = 1

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_list(self, inputs, shapes=False):
        ok = isinstance(inputs, (list, tuple)) and (not shapes or all(isinstance(s, (list, tuple)) for s in inputs))
        if not ok:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected a list of tensors, "
                             f"got {'a single shape ' + str(tuple(inputs)) if shapes else type(inputs).__name__}")

    def check_input_shape(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs, mask=None):
        self._check_list(inputs)
        return merge_tensors(inputs, self.mode, **self._merge_args())

    def _merge_args(self) -> dict:
        return {}

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape, shapes=True)
        try:
            return merge_output_shape(input_shape, self.mode, min_inputs=self.min_inputs, **self._merge_args())
        except ValueError as e:
            raise ValueError(f"{type(self).__name__} {self.name!r}: {e}") from None

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return merge_mask(inputs, mask, self.mode, **{k: v for k, v in self._merge_args().items()
                                                        if k == "concat_axis"})


class Add(_Merge):
    """Elementwise sum of the inputs."""
    mode = "sum"


class Subtract(_Merge):
    """inputs[0] - inputs[1]."""
    mode = "sub"
    min_inputs = 2


class Multiply(_Merge):
    """Elementwise product of the inputs."""
    mode = "mul"


class Average(_Merge):
    """Elementwise mean of the inputs."""
    mode = "ave"


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""
    mode = "max"


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""
    mode = "min"


class Concatenate(_Merge):
    """Join the inputs along `axis`."""
    mode = "concat"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _merge_args(self):
        return {"concat_axis": self.axis}

    def get_config(self):
        return dict(super().get_config(), axis=self.axis)


class Dot(_Merge):
    """Per-sample dot product along `axes`; with `normalize`, the cosine similarity."""
    mode = "dot"
    min_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = axes if isinstance(axes, int) else tuple(axes)
        self.normalize = bool(normalize)
        self.mode = "cos" if self.normalize else "dot"
        self.supports_masking = False

    def _merge_args(self):
        return {"dot_axes": self.axes}

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return dict(super().get_config(), axes=self.axes, normalize=self.normalize)


class MergeTensors(Layer):
    """The layer behind Keras 1 `merge(...)`: a mode (name or callable) over a list of tensors."""

    def __init__(self, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None, output_mask=None,
                 arguments=None, name=None, **kwargs):
        super().__init__(name=name or unique_name("merge"), **kwargs)
        self.mode = canonical_mode(mode)
        self.concat_axis, self.dot_axes = concat_axis, dot_axes
        self._output_shape, self.output_mask = output_shape, output_mask
        self.arguments = dict(arguments or {})
        self.supports_masking = True

    def _fn(self):
        if callable(self.mode) and self.arguments:
            return lambda xs: self.mode(xs, **self.arguments)
        return self.mode

    def call(self, inputs, mask=None):
        return merge_tensors(inputs, self._fn(), self.concat_axis, self.dot_axes)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"merge {self.name!r}: expected a list of at least 2 tensors, got one")
        return merge_output_shape(input_shape, self._fn(), self.concat_axis, self.dot_axes, self._output_shape)

    def compute_mask(self, inputs, mask=None):
        if self.output_mask is not None:
            return self.output_mask(inputs, mask) if callable(self.output_mask) else self.output_mask
        return None if mask is None else merge_mask(inputs, mask, self.mode, self.concat_axis)

    def get_config(self):
        def stored(value):
            return serialize_function(value) if callable(value) else value
        return dict(super().get_config(), mode=stored(self.mode), concat_axis=self.concat_axis,
                    dot_axes=self.dot_axes, output_shape=stored(self._output_shape),
                    output_mask=stored(self.output_mask), arguments=self.arguments)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("mode", "output_shape", "output_mask"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_function(config[key], custom_objects, f"merge {config.get('name')!r}: {key}")
        return cls(**config)


def merge(inputs, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None, output_mask=None,
          arguments=None, name=None):
    """Keras 1 functional merge: `merge([a, b], mode='concat', concat_axis=-1)`."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"merge: expected a list of at least 2 tensors, got {inputs!r}")
    layer = MergeTensors(mode, concat_axis, dot_axes, output_shape, output_mask, arguments, name=name)
    return layer(list(inputs))


def _functional(cls, doc):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(list(inputs))
    fn.__name__, fn.__doc__ = cls.__name__.lower(), doc
    return fn


add = _functional(Add, "Keras 2 `add([a, b, ...])`: the `Add` layer applied to the inputs.")
subtract = _functional(Subtract, "Keras 2 `subtract([a, b])`: the `Subtract` layer applied to the inputs.")
multiply = _functional(Multiply, "Keras 2 `multiply([...])`: the `Multiply` layer applied to the inputs.")
average = _functional(Average, "Keras 2 `average([...])`: the `Average` layer applied to the inputs.")
maximum = _functional(Maximum, "Keras 2 `maximum([...])`: the `Maximum` layer applied to the inputs.")
minimum = _functional(Minimum, "Keras 2 `minimum([...])`: the `Minimum` layer applied to the inputs.")


def concatenate(inputs, axis=-1, **kwargs):
    """Keras 2 `concatenate([...], axis=-1)`: the `Concatenate` layer applied to the inputs."""
    return Concatenate(axis=axis, **kwargs)(list(inputs))


def dot(inputs, axes, normalize=False, **kwargs):
    """Keras 2 `dot([a, b], axes)`: the `Dot` layer applied to the inputs."""
    return Dot(axes, normalize, **kwargs)(list(inputs))


MERGE_LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, MergeTensors)
