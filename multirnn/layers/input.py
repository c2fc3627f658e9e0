"""`Input(...)`: the placeholder that starts a functional model, and the layer behind it."""
import numpy as np

from multirnn.layers.base import Layer
from multirnn.layers.symbolic import Node, SymbolicTensor


class InputLayer(Layer):
    """The layer behind `Input`: it only produces its placeholder."""

    def __init__(self, batch_input_shape, dtype=None, name=None, sparse=False):
        super().__init__(name=name, batch_input_shape=batch_input_shape, dtype=dtype)
        self.built = True
        tensor = SymbolicTensor(self.batch_input_shape, dtype or "float32", name=self.name)
        node = Node(self, [], [tensor], (), {})
        tensor.node = node
        self.inbound_nodes.append(node)
        self.output = tensor

    def get_config(self):
        return {"name": self.name, "batch_input_shape": self.batch_input_shape, "dtype": self.dtype}


def Input(shape=None, batch_shape=None, dtype=None, name=None, batch_size=None, tensor=None):
    """A symbolic input: `Input(shape=(timesteps, features))` (batch left open) or `batch_shape=`."""
    if (shape is None) == (batch_shape is None):
        raise ValueError("Input: give exactly one of shape= (without the batch axis) or batch_shape=")
    if batch_shape is None:
        if isinstance(shape, int):
            shape = (shape,)
        batch_shape = (batch_size,) + tuple(shape)
    for d in batch_shape[1:]:
        if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
            raise ValueError(f"Input: dimensions must be non-negative ints or None, got {tuple(batch_shape)}")
    return InputLayer(tuple(batch_shape), dtype, name).output
