"""Symbolic tensors for the functional API: `Input(...)`, and layers called on them (nodes)."""
import numpy as np

from multirnn import backends
from multirnn.layers.base import Layer


class SymbolicTensor:
    """A placeholder with a shape (None = any batch), made by `Input` or by a layer's node."""

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.symbolic_shape = tuple(shape)
        self.dtype = dtype
        self.node, self.index, self.name = node, index, name

    @property
    def shape(self):
        return self.symbolic_shape

    def __repr__(self):
        producer = self.node.layer.name if self.node else "?"
        return f"<SymbolicTensor shape={self.symbolic_shape} from {producer!r}>"


class Node:
    """One call of a layer on symbolic tensors: its inputs, outputs and call arguments."""

    def __init__(self, layer, inputs, outputs, args, kwargs):
        self.layer, self.inputs, self.outputs = layer, list(inputs), list(outputs)
        self.args, self.kwargs = args, kwargs


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


def call_symbolic(layer, inputs, args, kwargs):
    """Record a call of `layer` on symbolic tensors and return symbolic outputs."""
    flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for extra in kwargs.get("initial_state") or []:
        flat.append(extra)
    shapes = [t.symbolic_shape for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    input_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
    with backends.use(layer.backend_name):
        layer._build_once(input_shape)
        layer.check_input_shape(input_shape)
        out_shape = layer.compute_output_shape(input_shape)
    multiple = isinstance(out_shape, list)
    out_shapes = out_shape if multiple else [out_shape]
    node = Node(layer, flat, [], args, kwargs)
    dtype = getattr(flat[0], "dtype", None) if layer.dtype is None else layer.dtype
    node.outputs = [SymbolicTensor(s, dtype if dtype not in ("int32", "int64") else "float32", node, i)
                    for i, s in enumerate(out_shapes)]
    node.index = len(layer.inbound_nodes)
    node.input_is_list = isinstance(inputs, (list, tuple))
    layer.inbound_nodes.append(node)
    return node.outputs if multiple else node.outputs[0]
