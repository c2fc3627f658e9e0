"""Lambda: wrap any function written with K as a layer; function (de)serialization; shape inference."""
import inspect

from multirnn import backend as K
from multirnn.layers.base import Layer
from multirnn.stored_functions import deserialize_function, serialize_function


def infer_output_shape(fn, input_shape, where):
    """Find the output shape of `fn` by running it on zeros (batch axis None → 2, kept None)."""
    many = isinstance(input_shape, list)
    shapes = input_shape if many else [input_shape]
    for s in shapes:
        if any(d is None for d in s[1:]):
            raise ValueError(f"{where}: cannot infer the output shape from input shape {tuple(s)} with unknown "
                             "dimensions; give output_shape=")
    batch = shapes[0][0] if shapes and shapes[0] else None
    zeros = [K.zeros((2 if s[0] is None else s[0],) + tuple(s[1:])) for s in shapes]
    out = fn(zeros if many else zeros[0])

    def shape(t):
        dims = tuple(K.int_shape(t))
        return (batch,) + dims[1:] if dims and batch is None and dims[0] == 2 else dims
    return [shape(t) for t in out] if isinstance(out, (list, tuple)) else shape(out)


class Lambda(Layer):
    """Wrap `function(inputs, **arguments)` written with K; it trains on every backend.

    `output_shape` (no batch axis) or a callable on the input shape; when None the shape is
    found by running the function on zeros. `mask`: a mask, or `mask(inputs, mask)`.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda {self.name!r}: function must be callable, got {function!r}")
        self.function, self._output_shape, self.mask = function, output_shape, mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None
        params = _parameters(function)
        self._wants = {k for k in ("mask", "training") if k in params}

    def call(self, inputs, mask=None, training=None):
        extra = {k: v for k, v in (("mask", mask), ("training", training)) if k in self._wants}
        return self.function(inputs, **self.arguments, **extra)

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            out = self._output_shape(input_shape)
            return [tuple(s) for s in out] if isinstance(out, list) else tuple(out)
        if self._output_shape is not None:
            batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
            return (batch,) + tuple(self._output_shape)
        return infer_output_shape(lambda x: self.function(x, **self.arguments), input_shape,
                                  f"Lambda {self.name!r}")

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self):
        shape = self._output_shape
        return dict(super().get_config(), function=serialize_function(self.function),
                    output_shape=serialize_function(shape) if callable(shape) else shape,
                    mask=serialize_function(self.mask) if callable(self.mask) else self.mask,
                    arguments=self.arguments)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("function", "output_shape", "mask"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_function(config[key], custom_objects, f"Lambda {config.get('name')!r}: {key}")
        return cls(**config)


def _parameters(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
