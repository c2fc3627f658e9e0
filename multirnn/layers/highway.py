"""The Keras 1 dense variants Highway and MaxoutDense (2D input)."""
from multirnn import activations, initializers
from multirnn import backend as K
from multirnn.layers.base import Layer, get_constraint, get_initializer, get_regularizer
from multirnn.keras1 import LAYER_ALIASES, keras1_aliases
from multirnn.layers.core import DENSE_ALIASES, _DENSE_DEFAULTS, _options, _positive_int, _weight_config, required_units


class _Keras1Dense(Layer):
    """Shared arguments of the Keras 1 layers Highway and MaxoutDense (2D input only)."""

    def __init__(self, **kwargs):
        opts, kwargs = _options(kwargs, {k: v for k, v in _DENSE_DEFAULTS.items() if k != "bias_initializer"})
        super().__init__(**kwargs)
        self.use_bias = bool(opts["use_bias"])
        self.kernel_initializer = get_initializer(opts["kernel_initializer"], self, "kernel_initializer")
        for kind in ("kernel", "bias"):
            setattr(self, f"{kind}_regularizer", get_regularizer(opts[f"{kind}_regularizer"], self, f"{kind}_regularizer"))
            setattr(self, f"{kind}_constraint", get_constraint(opts[f"{kind}_constraint"], self, f"{kind}_constraint"))

    def _input_dim(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input of shape (batch, features), "
                             f"got {tuple(input_shape)}")
        return int(input_shape[-1])

    def check_input_shape(self, input_shape):
        if self._input_dim(input_shape) != self.input_dim:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input of shape (batch, {self.input_dim}), "
                             f"got {tuple(input_shape)}")

    def get_config(self):
        return dict(super().get_config(), **_weight_config(self))


class Highway(_Keras1Dense):
    """Keras 1 Highway: t = sigmoid(x·W_carry + b_carry); y = t⊙act(x·W + b) + (1 − t)⊙x.

    Weights (Keras 1 order): [W, b, W_carry, b_carry], or [W, W_carry] without bias;
    b_carry starts at `transform_bias`.
    """

    @keras1_aliases(LAYER_ALIASES)
    def __init__(self, activation=None, transform_bias=-2.0, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, f"Highway {self.name!r}: activation")
        self.transform_bias = float(transform_bias)

    def build(self, input_shape):
        d = self.input_dim = self._input_dim(input_shape)
        self.kernel = self.add_weight("kernel", (d, d), self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        self.bias = (self.add_weight("bias", (d,), "zeros", self.bias_regularizer, self.bias_constraint)
                     if self.use_bias else None)
        self.carry_kernel = self.add_weight("carry_kernel", (d, d), self.kernel_initializer)
        self.carry_bias = (self.add_weight("carry_bias", (d,), initializers.Constant(self.transform_bias))
                           if self.use_bias else None)
        self.built = True

    def call(self, inputs):
        gate, out = K.dot(inputs, self.carry_kernel), K.dot(inputs, self.kernel)
        if self.use_bias:
            gate, out = gate + self.carry_bias, out + self.bias
        t = K.sigmoid(gate)
        return t * self.activation(out) + (1.0 - t) * inputs

    def get_config(self):
        return dict(super().get_config(), activation=activations.serialize(self.activation),
                    transform_bias=self.transform_bias)


class MaxoutDense(_Keras1Dense):
    """Keras 1 MaxoutDense: the maximum over `nb_feature` linear maps (batch, in) -> (batch, units).

    Weights: [W (nb_feature, input_dim, units), b (nb_feature, units)].
    """

    @keras1_aliases(DENSE_ALIASES)
    def __init__(self, units=None, nb_feature=4, **kwargs):
        units = required_units("MaxoutDense", units)
        super().__init__(**kwargs)
        self.units = _positive_int(units, self, "units")
        self.nb_feature = _positive_int(nb_feature, self, "nb_feature")

    def build(self, input_shape):
        d = self.input_dim = self._input_dim(input_shape)
        self.kernel = self.add_weight("kernel", (self.nb_feature, d, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.nb_feature, self.units), "zeros", self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def call(self, inputs):
        out = K.dot(inputs, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return K.max(out, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return dict(super().get_config(), units=self.units, nb_feature=self.nb_feature)
