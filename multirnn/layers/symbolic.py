"""Symbolic tensors for the functional API, and a layer's call on them recorded as a node."""


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

    @property
    def is_input(self) -> bool:
        """The node of an `Input`: it takes nothing and only produces its placeholder."""
        return not self.inputs


def call_symbolic(layer, inputs, args, kwargs):
    """Record a call of `layer` on symbolic tensors and return symbolic outputs."""
    flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for extra in kwargs.get("initial_state") or []:
        flat.append(extra)
    shapes = [t.symbolic_shape for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    input_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
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
