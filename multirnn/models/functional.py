"""`Model(inputs, outputs)`: a graph of layer calls that trains, predicts, and is itself a layer."""
import numpy as np

from multirnn import backend as K
from multirnn.keras1 import keras1_aliases
from multirnn.layers import topology
from multirnn.layers.base import Layer
from multirnn.layers.container import Container
from multirnn.layers.registry import register
from multirnn.layers.topology import to_list, unpack
from multirnn.models import saving
from multirnn.models.summary import print_summary
from multirnn.models.training import Trainer


@register
class Model(Container, Trainer, Layer):
    """A model from symbolic inputs to outputs: `Model(inputs, outputs)` (Keras 1: `input=, output=`)."""
    linear_stack = False  # a Sequential: summary shows no "Connected to" column

    @keras1_aliases({"input": "inputs", "output": "outputs"})
    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        Layer.__init__(self, name=name, trainable=trainable)
        self.supports_masking = True
        self.inputs, self.outputs, self._nodes, self._graph_layers = [], [], [], []
        self.input_names, self.output_names = [], []
        self._init_trainer()
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"Model {self.name!r}: give both inputs and outputs")
            self._init_graph(inputs, outputs)

    # ---- the graph
    def _init_graph(self, inputs, outputs) -> None:
        owner = f"{type(self).__name__} {self.name!r}"
        self.inputs, self.outputs = to_list(inputs), to_list(outputs)
        if not self.inputs or not self.outputs:
            raise ValueError(f"{owner}: needs at least one input and one output")
        self._nodes = topology.sort_nodes(self.inputs, self.outputs, owner)
        self._graph_layers = topology.keras_layer_order(self.inputs, self.outputs)
        names = [layer.name for layer in self._graph_layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{owner}: layer names must be unique within a model; repeated: {', '.join(duplicates)}")
        for layer in self._graph_layers:
            if layer.backend_name != self.backend_name:
                raise ValueError(f"{owner} is created under the {self.backend_name} backend but layer "
                                 f"{layer.name!r} was created under {layer.backend_name}; build the layers "
                                 f"and the model under one backend")
        self.input_names = [t.node.layer.name for t in self.inputs]
        self.output_names = _uniquify([t.node.layer.name for t in self.outputs])
        self.built = True

    @property
    def layers(self) -> list:
        return list(self._graph_layers)

    @property
    def input(self):
        return unpack(self.inputs)

    @property
    def output(self):
        return unpack(self.outputs)

    @property
    def input_shape(self):
        self._require_built("input_shape")
        return unpack([t.symbolic_shape for t in self.inputs])

    @property
    def output_shape(self):
        self._require_built("output_shape")
        return unpack([t.symbolic_shape for t in self.outputs])

    def _require_built(self, what: str) -> None:
        if not self.outputs:
            raise ValueError(f"{type(self).__name__} {self.name!r} is not built yet, so it has no {what}: "
                             "give the first layer an input shape (input_shape=...) or call the model on data")

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or the one at `index` in `layers`."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: give exactly one of name= or index=")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: model {self.name!r} has {len(self.layers)} layers, got index {index}")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; "
                         f"layers: {', '.join(layer.name for layer in self.layers)}")

    # ---- weights
    def _sublayers(self) -> list:
        return self.layers

    @K.on_own_backend
    def count_params(self) -> int:
        return int(sum(int(np.prod(K.int_shape(w))) for w in self.weights))

    # ---- calling
    def build(self, input_shape) -> None:
        self._require_built("inputs to build from")

    def check_input_shape(self, input_shape) -> None:
        shapes = input_shape if isinstance(input_shape, list) and len(self.inputs) > 1 else [input_shape]
        expected = [t.symbolic_shape for t in self.inputs]
        if len(shapes) != len(expected) or not all(_fits(s, e) for s, e in zip(shapes, expected)):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input shape(s) "
                             f"{unpack(expected)}, got {input_shape}")

    @K.on_own_backend
    def __call__(self, inputs, *args, **kwargs):
        """Call on symbolic tensors (a new node) or on concrete tensors or NumPy arrays (run the graph)."""
        def concrete(x):
            return K.constant(x) if isinstance(x, np.ndarray) else x
        inputs = [concrete(x) for x in inputs] if isinstance(inputs, (list, tuple)) else concrete(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, mask=None, training=None):
        return self.call_with_masks(inputs, mask, training)[0]

    def take_logits(self, output):
        """The logits of `output` kept by the layer that produced it (a sigmoid/softmax Dense or Activation)."""
        producers = [t.node.layer for t in self.outputs] if self.outputs else self.layers[-1:]
        for layer in producers:
            logits = layer.take_logits(output)
            if logits is not None:
                return logits
        return None

    @K.on_own_backend
    def call_with_masks(self, inputs, mask=None, training=None):
        """Run the graph on concrete inputs; return (outputs, output masks)."""
        values = to_list(inputs) if len(self.inputs) > 1 or isinstance(inputs, (list, tuple)) else [inputs]
        if len(values) != len(self.inputs):
            raise ValueError(f"{type(self).__name__} {self.name!r} expects {len(self.inputs)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(values)}")
        masks = to_list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(values)
        outs, out_masks = topology.run_nodes(self._nodes, self.inputs, values, masks, self.outputs, training)
        return unpack(outs), unpack(out_masks)

    @K.on_own_backend
    def compute_output_shape(self, input_shape):
        shapes = input_shape if len(self.inputs) > 1 else [input_shape]
        return unpack(topology.propagate_shapes(self._nodes, self.inputs, shapes, self.outputs))

    def compute_mask(self, inputs, mask=None):
        return self.call_with_masks(inputs, mask, training=False)[1]

    def run(self, values: list, training: bool):
        """Outputs (a list) for a list of concrete input tensors."""
        outs, _ = self.call_with_masks(values if len(values) > 1 else values[0], None, training)
        return to_list(outs) if len(self.outputs) > 1 else [outs]

    # ---- config
    def get_config(self) -> dict:
        return saving.graph_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return saving.graph_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs) -> str:
        """The architecture as a JSON string (see `model_from_json`)."""
        return saving.to_json(self, **kwargs)

    @K.on_own_backend
    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write the weights (`.h5`: Keras 2 HDF5 layout; otherwise a portable `.npz`)."""
        saving.save_weights(self, filepath, overwrite)

    @K.on_own_backend
    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False) -> None:
        """Read weights from `save_weights`/`save` files or Keras 2 `.h5` files (by layer order or name)."""
        saving.load_weights(self, filepath, by_name, skip_mismatch)

    @K.on_own_backend
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write architecture, weights and optimizer state (see `load_model`)."""
        saving.save_model(self, filepath, overwrite, include_optimizer)

    @K.on_own_backend
    def summary(self, line_length=None, positions=None, print_fn=None) -> None:
        """Print the layers, their output shapes and parameter counts."""
        print_summary(self, line_length, positions, print_fn)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def _fits(shape, expected) -> bool:
    if shape is None or len(shape) != len(expected):
        return False
    return all(e is None or s is None or int(s) == int(e) for s, e in zip(shape, expected))


def _uniquify(names: list) -> list:
    out, counts = [], {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
        out.append(n if counts[n] == 1 else f"{n}_{counts[n] - 1}")
    return out

