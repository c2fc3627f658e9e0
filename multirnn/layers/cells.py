"""The Keras 2 cell classes: SimpleRNNCell, GRUCell, LSTMCell (one step each) and StackedRNNCells.

A built-in cell computes its layer's own step (`SimpleRNN.step`, `GRU.step`, `LSTM.step`), the
one written semantics, so `RNN(LSTMCell(u))` gives `LSTM(u)`'s numbers and reaches its fast paths.
"""
import inspect

from multirnn import backend as K
from multirnn import legacy_weights
from multirnn.layers.base import Layer
from multirnn.layers.container import Container
from multirnn.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN, cell_config, configure_cell
from multirnn.layers.registry import deserialize, serialize


class RecurrentCell(Layer):
    """One step of the built-in layer `layer_class`: the same weights, step and dropout masks."""
    layer_class = Recurrent
    split = Recurrent.split
    recurrent_projection = Recurrent.recurrent_projection
    input_bias = Recurrent.input_bias
    input_projection = Recurrent.input_projection
    build_weights = Recurrent.build_weights
    bias_shape = Recurrent.bias_shape
    bias_init = Recurrent.bias_init
    _masks = Recurrent._masks
    _fused_call = Recurrent._fused_call
    _reference_step = Recurrent._reference_step

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, implementation=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        configure_cell(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                       recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                       bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                       recurrent_dropout, implementation)
        self._seed = seed
        self._sequence_masks = None

    @property
    def state_size(self):
        """An int for one state (SimpleRNN, GRU), a list [h, c] for LSTM, as tf.keras."""
        return self.units if self.state_count == 1 else [self.units] * self.state_count

    @property
    def output_size(self) -> int:
        return self.units

    def set_weights(self, weights) -> None:
        """Keras 2 weights, a Keras 1 per-gate list (LSTM 12 arrays, GRU 9) or a Keras 2.1 cuDNN list, converted."""
        Layer.set_weights(self, legacy_weights.accept(weights, self))

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the feature size of the input must be known")
        self.build_weights(int(input_shape[-1]))
        self.built = True

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states: one tensor for an int `state_size`, a list otherwise."""
        batch = batch_size if batch_size is not None else K.int_shape(inputs)[0]
        zeros = [K.zeros((batch, self.units), dtype) for _ in range(self.state_count)]
        return zeros[0] if self.state_count == 1 else zeros

    def sequence_masks(self, batch: int, training=None) -> tuple:
        """(input masks, recurrent masks) of one sequence: drawn once, reused at every timestep."""
        return (self._masks(batch, self.input_dim, self.dropout, training) or [],
                self._masks(batch, self.units, self.recurrent_dropout, training) or [])

    def begin_sequence(self, batch: int, training=None) -> None:
        """Draw the dropout masks that the steps of one `RNN` call share."""
        self._sequence_masks = self.sequence_masks(batch, training)

    def end_sequence(self) -> None:
        self._sequence_masks = None

    def call(self, inputs, states, training=None):
        """(output, new states) of one step; `states` a list (or the one tensor)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        input_masks, recurrent_masks = self._sequence_masks or self.sequence_masks(K.int_shape(inputs)[0], training)
        x = K.squeeze(self.input_projection(K.expand_dims(inputs, 1), input_masks), 1)
        return self.step(x, states + list(recurrent_masks))

    def get_config(self):
        return dict(super().get_config(), **cell_config(self), seed=self._seed)


class SimpleRNNCell(RecurrentCell):
    """h' = act(x·W + h·U + b), the step of `SimpleRNN`."""
    layer_class, fused_kind, gates, state_count = SimpleRNN, SimpleRNN.fused_kind, 1, 1
    step = SimpleRNN.step

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)


class GRUCell(RecurrentCell):
    """The step of `GRU`: gates [z, r, h], `reset_after` as in GRU."""
    layer_class, fused_kind, gates, state_count = GRU, GRU.fused_kind, 3, 1
    step, bias_shape = GRU.step, GRU.bias_shape

    def __init__(self, units, reset_after=True, **kwargs):
        self.reset_after = bool(reset_after)
        super().__init__(units, **kwargs)

    def get_config(self):
        return dict(super().get_config(), reset_after=self.reset_after)


class LSTMCell(RecurrentCell):
    """The step of `LSTM`: gates [i, f, c, o], states [h, c]."""
    layer_class, fused_kind, gates, state_count = LSTM, LSTM.fused_kind, 4, 2
    step, bias_init = LSTM.step, LSTM.bias_init

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **kwargs)

    def get_config(self):
        return dict(super().get_config(), unit_forget_bias=self.unit_forget_bias)


# ---- what RNN and StackedRNNCells need to know of any cell (built-in or a user's own)
def check_cell(cell, owner: str) -> None:
    """A cell has `call(inputs, states)` and `state_size`."""
    if not (callable(getattr(cell, "call", None)) and hasattr(cell, "state_size")):
        raise TypeError(f"{owner}: a cell must have a `call(inputs, states)` method and a `state_size` attribute, "
                        f"got {cell!r} of type {type(cell).__name__}")


def flat_sizes(state_size) -> list:
    """`state_size` (an int, or nested lists of ints) as a flat list of ints."""
    if isinstance(state_size, (list, tuple)):
        return [size for part in state_size for size in flat_sizes(part)]
    return [int(state_size)]


def flatten(states) -> list:
    if isinstance(states, (list, tuple)):
        return [s for part in states for s in flatten(part)]
    return [states]


def output_size(cell) -> int:
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else flat_sizes(cell.state_size)[0]


def build_cell(cell, input_shape) -> None:
    """Build a cell for step inputs of `input_shape` (batch, features), once."""
    if isinstance(cell, Layer):
        cell._build_once(tuple(input_shape))
    elif callable(getattr(cell, "build", None)) and not getattr(cell, "built", False):
        cell.build(tuple(input_shape))
        cell.built = True


def initial_state(cell, batch: int) -> list:
    """The cell's `get_initial_state`, flattened, or zeros of its state sizes."""
    if callable(getattr(cell, "get_initial_state", None)):
        return flatten(cell.get_initial_state(batch_size=batch, dtype=K.floatx()))
    return [K.zeros((batch, size)) for size in flat_sizes(cell.state_size)]


def call_cell(cell, inputs, states: list, training=None):
    """(output, flat new states) of one step of any cell; `training` passed when `call` takes it."""
    output, new_states = cell.call(inputs, states, **step_kwargs(cell, training))
    return output, flatten(new_states)


def step_kwargs(cell, training) -> dict:
    """`training=` for a cell whose `call` takes it, else nothing."""
    return {"training": training} if "training" in inspect.signature(cell.call).parameters else {}


def begin_sequence(cell, batch: int, training=None) -> None:
    if callable(getattr(cell, "begin_sequence", None)):
        cell.begin_sequence(batch, training)


def end_sequence(cell) -> None:
    if callable(getattr(cell, "end_sequence", None)):
        cell.end_sequence()


class StackedRNNCells(Container, Layer):
    """Cells run one after the other at each step; the states are those of every cell, in order."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise TypeError(f"StackedRNNCells {self.name!r}: cells must be a non-empty list of cells, got {cells!r}")
        for cell in cells:
            check_cell(cell, f"StackedRNNCells {self.name!r}")
        self.cells = list(cells)

    def _sublayers(self) -> list:
        return [c for c in self.cells if isinstance(c, Layer)]

    @property
    def state_size(self) -> tuple:
        return tuple(cell.state_size for cell in self.cells)

    @property
    def output_size(self) -> int:
        return output_size(self.cells[-1])

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            build_cell(cell, shape)
            shape = shape[:-1] + (output_size(cell),)
        self.built = True

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        batch = batch_size if batch_size is not None else K.int_shape(inputs)[0]
        return [initial_state(cell, batch) for cell in self.cells]

    def begin_sequence(self, batch: int, training=None) -> None:
        for cell in self.cells:
            begin_sequence(cell, batch, training)

    def end_sequence(self) -> None:
        for cell in self.cells:
            end_sequence(cell)

    def call(self, inputs, states, training=None):
        """(output of the last cell, [the new states of each cell]); `states` flat or one list per cell."""
        flat, new_states = flatten(states), []
        for cell in self.cells:
            count = len(flat_sizes(cell.state_size))
            inputs, cell_states = call_cell(cell, inputs, flat[:count], training)
            flat = flat[count:]
            new_states.append(cell_states)
        return inputs, new_states

    def get_config(self):
        return dict(super().get_config(), cells=[serialize(cell) for cell in self.cells])

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        cells = [deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)
