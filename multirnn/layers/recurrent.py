"""SimpleRNN, GRU and LSTM: each writes only its step; the time loop is `K.rnn`.

The input projection `x·W + b` of all timesteps is one product before the loop (dropout masks
are constant over time, so this is exact); the step adds the recurrent part.
"""
import numpy as np

from multirnn import activations, constraints, initializers, legacy_weights, regularizers
from multirnn.errors import InvalidArgumentError
from multirnn import backend as K
from multirnn.keras1 import LAYER_ALIASES, keras1_aliases
from multirnn.layers.base import Layer, get_constraint, get_initializer, get_regularizer
from multirnn.layers.states import RecurrentStates


def _implementation(consume_less, owner: str) -> int:
    """Keras 1 `consume_less`: 'mem' -> implementation 1, 'cpu'/'gpu' -> 2."""
    if consume_less not in ("mem", "cpu", "gpu"):
        raise ValueError(f"{owner}: consume_less must be 'mem', 'cpu' or 'gpu', got {consume_less!r}")
    return 1 if consume_less == "mem" else 2


RECURRENT_ALIASES = dict(LAYER_ALIASES, output_dim="units", consume_less=("implementation", _implementation),
                         forget_bias_init=("unit_forget_bias", lambda init, owner: init in ("one", "ones")))


def configure_cell(layer, units, activation, recurrent_activation, use_bias, kernel_initializer,
                   recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                   bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                   recurrent_dropout, implementation) -> None:
    """Check and set the options of one recurrent cell (shared by the layers and the cell classes)."""
    cls = type(layer).__name__
    if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
        raise ValueError(f"{cls} {layer.name!r}: units must be a positive int, got {units!r}")
    if implementation not in (1, 2):
        raise ValueError(f"{cls} {layer.name!r}: implementation must be 1 or 2, got {implementation!r}")
    for arg, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"{cls} {layer.name!r}: {arg} must be a float in [0, 1), got {p!r} "
                            f"of type {type(p).__name__}")
        if not 0.0 <= p < 1.0:
            raise InvalidArgumentError(f"{cls} {layer.name!r}: {arg} must be in [0, 1), got {p!r}")
    layer.units = int(units)
    layer.activation = activations.get(activation, f"{cls} {layer.name!r}: activation")
    layer.recurrent_activation = activations.get(recurrent_activation, f"{cls} {layer.name!r}: recurrent_activation")
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = get_initializer(kernel_initializer, layer, "kernel_initializer")
    layer.recurrent_initializer = get_initializer(recurrent_initializer, layer, "recurrent_initializer")
    layer.bias_initializer = get_initializer(bias_initializer, layer, "bias_initializer")
    layer.kernel_regularizer = get_regularizer(kernel_regularizer, layer, "kernel_regularizer")
    layer.recurrent_regularizer = get_regularizer(recurrent_regularizer, layer, "recurrent_regularizer")
    layer.bias_regularizer = get_regularizer(bias_regularizer, layer, "bias_regularizer")
    layer.kernel_constraint = get_constraint(kernel_constraint, layer, "kernel_constraint")
    layer.recurrent_constraint = get_constraint(recurrent_constraint, layer, "recurrent_constraint")
    layer.bias_constraint = get_constraint(bias_constraint, layer, "bias_constraint")
    layer.dropout, layer.recurrent_dropout = float(dropout), float(recurrent_dropout)
    layer.implementation = implementation


def cell_config(layer) -> dict:
    """The config entries of the options `configure_cell` sets."""
    config = dict(units=layer.units, activation=activations.serialize(layer.activation),
                  recurrent_activation=activations.serialize(layer.recurrent_activation),
                  use_bias=layer.use_bias, dropout=layer.dropout, recurrent_dropout=layer.recurrent_dropout,
                  implementation=layer.implementation)
    for kind in ("kernel", "recurrent", "bias"):
        config[f"{kind}_initializer"] = initializers.serialize(getattr(layer, f"{kind}_initializer"))
        config[f"{kind}_regularizer"] = regularizers.serialize(getattr(layer, f"{kind}_regularizer"))
        config[f"{kind}_constraint"] = constraints.serialize(getattr(layer, f"{kind}_constraint"))
    return config


class Recurrent(RecurrentStates, Layer):
    """Shared machinery of the recurrent layers (Keras 1 `Recurrent`); subclasses define `step`."""
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 implementation=2, seed=None, zero_output_for_mask=False, **kwargs):
        self.stateful = bool(stateful)
        super().__init__(**kwargs)
        configure_cell(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                       recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                       bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                       recurrent_dropout, implementation)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._seed = seed
        self.supports_masking = True
        self.states = None
        if self.stateful and self.batch_input_shape is not None and self.batch_input_shape[0] is None:
            self._stateful_batch_error()

    def _wants_length(self) -> bool:
        return True

    def _stateful_batch_error(self):
        raise ValueError(f"{type(self).__name__} {self.name!r}: stateful=True needs a fixed batch size; "
                         "give the first layer batch_input_shape=(batch, timesteps, features) "
                         "(or batch_size= with input_shape=)")

    # ---- weights
    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input of rank 3 "
                             f"(batch, timesteps, features), got shape {tuple(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the feature size of the input must be known")
        if self.stateful and input_shape[0] is None:
            self._stateful_batch_error()
        self.build_weights(int(input_shape[-1]))
        if self.stateful:
            self.batch_size = int(input_shape[0])
            self.reset_states()
        self.built = True

    def build_weights(self, input_dim: int) -> None:
        """kernel (D, k·u), recurrent_kernel (u, k·u) and bias, in the Keras 2 layout."""
        self.input_dim = input_dim
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (self.input_dim, width), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                self.recurrent_regularizer, self.recurrent_constraint)
        self.bias = (self.add_weight("bias", self.bias_shape(), self.bias_init(), self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)

    def set_weights(self, weights) -> None:
        """Keras 2 weights, a Keras 1 per-gate list (LSTM 12 arrays, GRU 9) or a Keras 2.1 cuDNN list, converted."""
        super().set_weights(legacy_weights.accept(weights, self))

    def check_input_shape(self, input_shape):
        if len(input_shape) == 3 and any(d == 0 for d in input_shape[1:]):
            raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: expected input (batch, timesteps >= 1, "
                                       f"features >= 1), got shape {tuple(input_shape)}")
        expected = (self.batch_size if self.stateful else None, None, self.input_dim)
        ok = len(input_shape) == 3 and input_shape[2] == self.input_dim
        ok = ok and (not self.stateful or input_shape[0] in (None, self.batch_size))
        if not ok:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input of shape (batch, timesteps, "
                             f"features) = {expected}, got {tuple(input_shape)}")

    @property
    def state_sizes(self) -> list:
        """The size of every state tensor: `units`, once per state (LSTM h and c)."""
        return [self.units] * self.state_count

    # ---- dropout masks, drawn once per call and reused at every timestep
    def _masks(self, batch, width, level, training):
        if not (0.0 < level < 1.0 and K.in_train_phase(True, False, training)):
            return None
        count = self.gates if self.implementation == 1 else 1
        return [K.dropout_mask((batch, width), level, K.floatx(), self.next_seed) for _ in range(count)]

    # ---- the pieces a step uses
    def input_bias(self):
        """The bias added to the input projection (row 0 of GRU reset_after's (2, 3u) bias)."""
        return self.bias[0] if self.bias is not None and len(self.bias_shape()) == 2 else self.bias

    def input_projection(self, inputs, masks):
        """x·W + b for all timesteps at once: one product (one per gate with per-gate masks)."""
        return K.project_inputs(inputs, self.kernel, self.input_bias(), masks or [])

    def recurrent_projection(self, h_tm1, masks, gates=None):
        """h·U for the given gate indices (all by default), with the recurrent dropout masks."""
        u, gates = self.units, list(range(self.gates)) if gates is None else gates
        kernel = self.recurrent_kernel if len(gates) == self.gates else self.recurrent_kernel[:, gates[0] * u:(gates[-1] + 1) * u]
        if not masks:
            return K.dot(h_tm1, kernel)
        if len(masks) == 1:
            return K.dot(h_tm1 * masks[0], kernel)
        return K.concatenate([K.dot(h_tm1 * masks[g], self.recurrent_kernel[:, g * u:(g + 1) * u])
                              for g in gates], axis=-1)

    def split(self, x, count=None):
        return K.split(x, count or self.gates)

    # ---- the call
    def call(self, inputs, mask=None, training=None, initial_state=None):
        batch, steps = K.int_shape(inputs)[:2]
        if mask is not None and tuple(K.int_shape(mask)) != (batch, steps):
            raise ValueError(f"{type(self).__name__} {self.name!r}: mask must have shape (batch, timesteps) = "
                             f"{(batch, steps)}, got {tuple(K.int_shape(mask))}")
        input_masks = self._masks(batch, self.input_dim, self.dropout, training) or []
        recurrent_masks = self._masks(batch, self.units, self.recurrent_dropout, training) or []
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            self._check_states(states, batch)
        elif self.stateful:
            states = list(self.states)
        else:
            states = [K.zeros((batch, self.units)) for _ in range(self.state_count)]
        fused = self._fused_call(inputs, input_masks, recurrent_masks, mask, states)
        if fused is None:
            fused = K.rnn(self.step, self.input_projection(inputs, input_masks), states,
                          go_backwards=self.go_backwards, mask=mask, constants=recurrent_masks, unroll=self.unroll)
        last, outputs, states = fused
        if self.stateful:
            self.states = [K.stop_gradient(s) for s in states]
        if self.return_sequences and self.zero_output_for_mask and mask is not None:
            keep = K.reverse(mask, 1) if self.go_backwards else mask
            outputs = outputs * K.expand_dims(K.cast(keep, K.dtype(outputs)), -1)
        output = outputs if self.return_sequences else last
        return [output] + list(states) if self.return_state else output

    def _fused_call(self, inputs, input_masks, recurrent_masks, mask, states, go_backwards=None, unroll=None):
        """The layer as one fused op through `K.fused_rnn`, or None (custom steps, activations, a decline)."""
        go_backwards = self.go_backwards if go_backwards is None else go_backwards
        unroll = self.unroll if unroll is None else unroll
        activation = activations.builtin_name(self.activation)
        recurrent_activation = activations.builtin_name(self.recurrent_activation)
        if activation is None or recurrent_activation is None or not self._reference_step():
            return None
        reset_after = getattr(self, "reset_after", False)
        return K.fused_rnn(cell=self.fused_kind, inputs=inputs, kernel=self.kernel, input_bias=self.input_bias(),
                           recurrent_kernel=self.recurrent_kernel,
                           recurrent_bias=self.bias[1] if reset_after and self.bias is not None else None,
                           initial_states=states, input_masks=input_masks, recurrent_masks=recurrent_masks,
                           mask=mask, activation=activation, recurrent_activation=recurrent_activation,
                           go_backwards=go_backwards, reset_after=reset_after, step=self.step, unroll=unroll)

    def _reference_step(self) -> bool:
        """Whether this layer computes exactly the step of its built-in cell (a subclass may change it)."""
        cell = next((c for c in type(self).__mro__ if "fused_kind" in vars(c)), None)
        return cell is not None and all(getattr(type(self), name) is getattr(cell, name)
                                        for name in ("step", "recurrent_projection", "input_projection", "split"))

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [output] + [(batch, self.units)] * self.state_count if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.state_count if self.return_state else out

    def get_config(self):
        return dict(super().get_config(), **cell_config(self), return_sequences=self.return_sequences,
                    return_state=self.return_state, go_backwards=self.go_backwards, stateful=self.stateful,
                    unroll=self.unroll, seed=self._seed, zero_output_for_mask=self.zero_output_for_mask)


class SimpleRNN(Recurrent):
    """h' = act(x·W + h·U + b)."""
    gates = 1
    fused_kind = "simple_rnn"

    @keras1_aliases(RECURRENT_ALIASES)
    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def step(self, x, states):
        h_tm1, masks = states[0], states[1:]
        h = self.activation(x + self.recurrent_projection(h_tm1, masks))
        return h, [h]


class GRU(Recurrent):
    """Gates [z, r, h]; `reset_after` applies the reset gate after the recurrent product."""
    gates = 3
    fused_kind = "gru"

    @keras1_aliases(RECURRENT_ALIASES)
    def __init__(self, units, reset_after=True, **kwargs):
        self.reset_after = bool(reset_after)
        super().__init__(units, **kwargs)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def step(self, x, states):
        h_tm1, masks = states[0], states[1:]
        x_z, x_r, x_h = self.split(x)
        if self.reset_after:
            inner = self.recurrent_projection(h_tm1, masks)
            if self.bias is not None:
                inner = inner + self.bias[1]
            h_z, h_r, h_h = self.split(inner)
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            hh = self.activation(x_h + r * h_h)
        else:
            h_z, h_r = self.split(self.recurrent_projection(h_tm1, masks, gates=[0, 1]), 2)
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            h_masked = h_tm1 * masks[-1] if masks else h_tm1
            hh = self.activation(x_h + K.dot(r * h_masked, self.recurrent_kernel[:, 2 * self.units:]))
        h = z * h_tm1 + (1 - z) * hh
        return h, [h]

    def get_config(self):
        return dict(super().get_config(), reset_after=self.reset_after)


class LSTM(Recurrent):
    """Gates [i, f, c, o]: c' = f⊙c + i⊙act(·), h' = o⊙act(c')."""
    gates = 4
    state_count = 2
    fused_kind = "lstm"

    @keras1_aliases(RECURRENT_ALIASES)
    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **kwargs)

    def bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units
        return lambda shape, seed=None: np.concatenate([base((u,), seed=seed), np.ones(u), base((2 * u,), seed=seed)])

    def step(self, x, states):
        h_tm1, c_tm1, masks = states[0], states[1], states[2:]
        z_i, z_f, z_c, z_o = self.split(x + self.recurrent_projection(h_tm1, masks))
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return dict(super().get_config(), unit_forget_bias=self.unit_forget_bias)
