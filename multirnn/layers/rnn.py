"""RNN(cell): the time loop `K.rnn` around any cell, Keras 2's generic recurrent layer.

A built-in cell (SimpleRNNCell, GRUCell, LSTMCell) runs exactly as its layer does: the input
projection of all timesteps before the loop, its step in `K.rnn`, the fast paths of `K.fused_rnn`.
"""
import copy

from multirnn import backend as K
from multirnn.layers.base import Layer
from multirnn.layers.cells import (RecurrentCell, StackedRNNCells, begin_sequence, build_cell, check_cell, end_sequence,
                                   flat_sizes, flatten, output_size, step_kwargs)
from multirnn.layers.cells import initial_state as cell_initial_state
from multirnn.layers.container import unique_by_id
from multirnn.layers.registry import deserialize, serialize
from multirnn.layers.states import RecurrentStates


class RNN(RecurrentStates, Layer):
    """`RNN(cell, return_sequences=, return_state=, go_backwards=, stateful=, unroll=)`; a list of cells is
    stacked (StackedRNNCells). The weights are the cell's."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        self.stateful = bool(stateful)
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        check_cell(cell, f"RNN {self.name!r}")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None
        if self.stateful and self.batch_input_shape is not None and self.batch_input_shape[0] is None:
            self._stateful_batch_error()

    def _wants_length(self) -> bool:
        return True

    def _stateful_batch_error(self):
        raise ValueError(f"RNN {self.name!r}: stateful=True needs a fixed batch size; give the first layer "
                         "batch_input_shape=(batch, timesteps, features) (or batch_size= with input_shape=)")

    @property
    def state_sizes(self) -> list:
        """The size of every state tensor, flat (a stack lists the states of each cell in order)."""
        return flat_sizes(self.cell.state_size)

    # ---- the weights are the cell's
    @property
    def weights(self) -> list:
        return unique_by_id(getattr(self.cell, "weights", []))

    @property
    def trainable_weights(self) -> list:
        return unique_by_id(getattr(self.cell, "trainable_weights", [])) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def constraints(self) -> list:
        return list(getattr(self.cell, "constraints", []))

    @property
    @K.on_own_backend
    def losses(self) -> list:
        return list(getattr(self.cell, "losses", [])) + list(self._activity_losses)

    def weight_name(self, var) -> str:
        inner = self.cell.weight_name(var) if hasattr(self.cell, "weight_name") else "weight"
        return f"{getattr(self.cell, 'name', 'cell')}/{inner}"

    def set_weights(self, weights) -> None:
        """The cell's weights; a built-in cell also takes Keras 1 per-gate lists."""
        if isinstance(self.cell, RecurrentCell):
            self.cell.set_weights(weights)
        else:
            super().set_weights(weights)

    # ---- building
    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"RNN {self.name!r}: expected input of rank 3 (batch, timesteps, features), "
                             f"got shape {tuple(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"RNN {self.name!r}: the feature size of the input must be known")
        if self.stateful and input_shape[0] is None:
            self._stateful_batch_error()
        self.input_dim = int(input_shape[-1])
        build_cell(self.cell, (input_shape[0], self.input_dim))
        if self.stateful:
            self.batch_size = int(input_shape[0])
            self.reset_states()
        self.built = True

    def check_input_shape(self, input_shape):
        ok = len(input_shape) == 3 and input_shape[2] == self.input_dim and all(d != 0 for d in input_shape[1:])
        ok = ok and (not self.stateful or input_shape[0] in (None, self.batch_size))
        if not ok:
            expected = (self.batch_size if self.stateful else None, None, self.input_dim)
            raise ValueError(f"RNN {self.name!r}: expected input of shape (batch, timesteps >= 1, features) = "
                             f"{expected}, got {tuple(input_shape)}")

    # ---- the call
    def call(self, inputs, mask=None, training=None, initial_state=None):
        batch, steps = K.int_shape(inputs)[:2]
        if mask is not None and tuple(K.int_shape(mask)) != (batch, steps):
            raise ValueError(f"RNN {self.name!r}: mask must have shape (batch, timesteps) = {(batch, steps)}, "
                             f"got {tuple(K.int_shape(mask))}")
        if initial_state is not None:
            states = flatten(initial_state)  # flat, or nested per cell of a stack as tf.keras takes them
            self._check_states(states, batch)
        elif self.stateful:
            states = list(self.states)
        else:
            states = cell_initial_state(self.cell, batch)
        if _is_builtin(self.cell):
            last, outputs, states = self._builtin_loop(inputs, mask, states, training)
        else:
            last, outputs, states = self._generic_loop(inputs, mask, states, training)
        if self.stateful:
            self.states = [K.stop_gradient(s) for s in states]
        if self.return_sequences and self.zero_output_for_mask and mask is not None:
            keep = K.reverse(mask, 1) if self.go_backwards else mask
            outputs = outputs * K.expand_dims(K.cast(keep, K.dtype(outputs)), -1)
        output = outputs if self.return_sequences else last
        return [output] + list(states) if self.return_state else output

    def _builtin_loop(self, inputs, mask, states, training):
        """A built-in cell runs as its layer: projection before the loop, its step, the fast paths."""
        cell = copy.copy(self.cell)  # a view that carries this layer's direction, read by compiled paths
        cell.go_backwards, cell.unroll = self.go_backwards, self.unroll
        input_masks, recurrent_masks = self.cell.sequence_masks(K.int_shape(inputs)[0], training)
        fused = cell._fused_call(inputs, input_masks, recurrent_masks, mask, states,
                                 go_backwards=self.go_backwards, unroll=self.unroll)
        if fused is not None:
            return fused
        return K.rnn(cell.step, cell.input_projection(inputs, input_masks), states, go_backwards=self.go_backwards,
                     mask=mask, constants=recurrent_masks, unroll=self.unroll)

    def _generic_loop(self, inputs, mask, states, training):
        """Any cell: `cell.call(x_t, states)` at each step of `K.rnn`."""
        kwargs = step_kwargs(self.cell, training)

        def step(x, step_states):
            output, new_states = self.cell.call(x, list(step_states), **kwargs)
            return output, flatten(new_states)
        begin_sequence(self.cell, K.int_shape(inputs)[0], training)
        try:
            return K.rnn(step, inputs, states, go_backwards=self.go_backwards, mask=mask, unroll=self.unroll)
        finally:
            end_sequence(self.cell)

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        width = output_size(self.cell)
        output = (batch, steps, width) if self.return_sequences else (batch, width)
        return [output] + [(batch, size) for size in self.state_sizes] if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self.state_sizes) if self.return_state else out

    def get_config(self):
        return dict(super().get_config(), cell=serialize(self.cell), return_sequences=self.return_sequences,
                    return_state=self.return_state, go_backwards=self.go_backwards, stateful=self.stateful,
                    unroll=self.unroll, zero_output_for_mask=self.zero_output_for_mask)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        cell = config.pop("cell")
        cell = [deserialize(c, custom_objects) for c in cell] if isinstance(cell, list) else \
            deserialize(cell, custom_objects)
        return cls(cell, **config)


def _is_builtin(cell) -> bool:
    """A built-in cell whose one-step `call` is not overridden: it runs as its layer does."""
    return isinstance(cell, RecurrentCell) and type(cell).call is RecurrentCell.call
