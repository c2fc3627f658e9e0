"""The states of a recurrent layer, one piece shared by the built-in recurrent layers and `RNN(cell)`:
zeroing or setting them (`reset_states`) and checking states against `state_sizes` first."""
import numpy as np

from multirnn import backend as K
from multirnn.errors import InvalidArgumentError


class RecurrentStates:
    """`reset_states` and the state checks over `state_sizes` (one size per state tensor, in order)."""

    @K.on_own_backend
    def reset_states(self, states=None):
        """Zero the states of a stateful layer, or set them to `states` (flat, in the layer's order)."""
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} {self.name!r}: reset_states needs stateful=True")
        if getattr(self, "batch_size", None) is None:
            if states is not None:
                raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: reset_states(states) needs the "
                                           "layer built (its batch size known); build or call it first")
            return
        if states is None:
            self.states = [K.zeros((self.batch_size, size)) for size in self.state_sizes]
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        self.check_states_to_set(states)
        self.states = [K.constant(K.to_numpy(s) if K.is_tensor(s) else np.asarray(s)) for s in states]

    def check_states_to_set(self, states) -> None:
        """Raise unless `states` fit this built stateful layer (what `reset_states(states)` checks)."""
        self._check_states(states, self.batch_size)

    def _check_states(self, states, batch) -> None:
        """Raise unless `states` are one (batch, size) tensor per entry of `state_sizes`."""
        sizes = self.state_sizes
        if len(states) != len(sizes):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected {len(sizes)} state tensor(s) of sizes "
                             f"{sizes}, got {len(states)}")
        for k, (s, size) in enumerate(zip(states, sizes)):
            shape = tuple(K.int_shape(s) if K.is_tensor(s) else np.shape(s))
            if shape != (batch, size):
                raise ValueError(f"{type(self).__name__} {self.name!r}: state {k} must have shape {(batch, size)}, "
                                 f"got {shape}")
