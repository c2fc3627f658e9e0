"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
ActivityRegularization. Keras 1 spellings are accepted."""
import numpy as np

from multirnn import activations, constraints, initializers, regularizers
from multirnn import backend as K
from multirnn.errors import InvalidArgumentError
from multirnn.keras1 import LAYER_ALIASES, keras1_aliases
from multirnn.layers.base import Layer, get_constraint, get_initializer, get_regularizer


def _positive_int(value, layer, arg):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidArgumentError(f"{type(layer).__name__} {layer.name!r}: {arg} must be a positive int, got "
                                   f"{value!r}")
    return int(value)


def required_units(cls_name: str, units):
    if units is None:
        raise TypeError(f"{cls_name}: missing the number of units (units=, or output_dim= in Keras 1)")
    return units


def _options(kwargs, defaults):
    """Pop Keras 2 options from kwargs: (options, rest)."""
    rest = dict(kwargs)
    return {k: rest.pop(k, v) for k, v in defaults.items()}, rest


DENSE_ALIASES = dict(LAYER_ALIASES, output_dim="units")
_DENSE_DEFAULTS = {"use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
                   "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                   "bias_constraint": None}


def _weight_config(layer) -> dict:
    out = {"use_bias": layer.use_bias}
    for kind in ("kernel", "bias"):
        if hasattr(layer, f"{kind}_initializer"):
            out[f"{kind}_initializer"] = initializers.serialize(getattr(layer, f"{kind}_initializer"))
        out[f"{kind}_regularizer"] = regularizers.serialize(getattr(layer, f"{kind}_regularizer"))
        out[f"{kind}_constraint"] = constraints.serialize(getattr(layer, f"{kind}_constraint"))
    return out


class Dense(Layer):
    """`activation(inputs · kernel + bias)`; inputs of rank > 2 contract their last axis."""

    @keras1_aliases(DENSE_ALIASES)
    def __init__(self, units=None, activation=None, **kwargs):
        units = required_units("Dense", units)
        opts, kwargs = _options(kwargs, _DENSE_DEFAULTS)
        super().__init__(**kwargs)
        self.units = _positive_int(units, self, "units")
        self.activation = activations.get(activation, f"Dense {self.name!r}: activation")
        self.use_bias = bool(opts["use_bias"])
        for kind in ("kernel", "bias"):
            setattr(self, f"{kind}_initializer", get_initializer(opts[f"{kind}_initializer"], self, f"{kind}_initializer"))
            setattr(self, f"{kind}_regularizer", get_regularizer(opts[f"{kind}_regularizer"], self, f"{kind}_regularizer"))
            setattr(self, f"{kind}_constraint", get_constraint(opts[f"{kind}_constraint"], self, f"{kind}_constraint"))
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise InvalidArgumentError(f"Dense {self.name!r}: expected input of rank >= 2 with a known last axis, "
                                       f"got shape {tuple(input_shape)}")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", (self.input_dim, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] != self.input_dim:
            raise InvalidArgumentError(f"Dense {self.name!r}: expected input of shape (..., {self.input_dim}), "
                                       f"got {tuple(input_shape)}")

    def call(self, inputs):
        out = K.dot(inputs, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return self.activate(self.activation, out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return dict(super().get_config(), units=self.units, activation=activations.serialize(self.activation),
                    **_weight_config(self))


class Activation(Layer):
    """Apply an activation function elementwise."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, f"Activation {self.name!r}: activation")
        self.supports_masking = True

    def call(self, inputs):
        return self.activate(self.activation, inputs)

    def get_config(self):
        return dict(super().get_config(), activation=activations.serialize(self.activation))


class Dropout(Layer):
    """Inverted dropout in training only (mask drawn on the host: the same on every backend)."""

    @keras1_aliases({"p": "rate"})
    def __init__(self, rate=None, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout {self.name!r}: rate must be a float in [0, 1), got {rate!r} "
                            f"of type {type(rate).__name__}")
        if not 0.0 <= float(rate) < 1.0:
            raise InvalidArgumentError(f"Dropout {self.name!r}: rate must be a float in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self._seed = seed
        self.supports_masking = True

    def call(self, inputs, training=None):
        if self.rate == 0.0 or not K.in_train_phase(True, False, training):
            return inputs
        return K.dropout(inputs, self.rate, self.noise_shape, self.next_seed)

    def get_config(self):
        return dict(super().get_config(), rate=self.rate, noise_shape=self.noise_shape, seed=self._seed)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(f"Flatten {self.name!r}: only data_format='channels_last' is supported, "
                                       f"got {data_format!r}")

    def call(self, inputs):
        return K.batch_flatten(inputs) if K.ndim(inputs) != 2 else inputs

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64)))


class Reshape(Layer):
    """Reshape every sample to `target_shape` (no batch axis; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d < -1 or d == 0 for d in self.target_shape):
            raise InvalidArgumentError(f"Reshape {self.name!r}: target_shape must hold positive ints and at "
                                       f"most one -1, got {tuple(target_shape)}")

    def _target(self, sample_shape):
        if any(d is None for d in sample_shape):
            return tuple(None if d == -1 else d for d in self.target_shape)
        total = int(np.prod(sample_shape, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if -1 in self.target_shape and known and total % known == 0:
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if -1 not in self.target_shape and known == total:
            return self.target_shape
        raise InvalidArgumentError(f"Reshape {self.name!r}: cannot reshape samples of shape {tuple(sample_shape)} "
                                   f"({total} values) to {self.target_shape}")

    def check_input_shape(self, input_shape):
        self._target(input_shape[1:])

    def call(self, inputs):
        shape = K.int_shape(inputs)
        return K.reshape(inputs, (shape[0],) + self._target(shape[1:]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._target(input_shape[1:])

    def get_config(self):
        return dict(super().get_config(), target_shape=self.target_shape)


class Permute(Layer):
    """Permute the non-batch axes by `dims` (1-based: (2, 1) swaps the first two)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise InvalidArgumentError(f"Permute {self.name!r}: dims must be a permutation of 1..{len(self.dims)}, "
                                       f"got {tuple(dims)}")

    def check_input_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise InvalidArgumentError(f"Permute {self.name!r}: dims {self.dims} need input of rank "
                                       f"{len(self.dims) + 1}, got shape {tuple(input_shape)}")

    def call(self, inputs):
        return K.permute_dimensions(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return dict(super().get_config(), dims=self.dims)


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int(n, self, "n")

    def check_input_shape(self, input_shape):
        if len(input_shape) != 2:
            raise InvalidArgumentError(f"RepeatVector {self.name!r}: expected input of rank 2 (batch, features), "
                                       f"got shape {tuple(input_shape)}")

    def call(self, inputs):
        return K.repeat(inputs, self.n)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return dict(super().get_config(), n=self.n)


class ActivityRegularization(Layer):
    """Identity that adds l1·sum|x| + l2·sum x² of its output to the loss."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self.supports_masking = True

    def get_config(self):
        config = dict(super().get_config(), l1=self.l1, l2=self.l2)
        config.pop("activity_regularizer", None)
        return config
