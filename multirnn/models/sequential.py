"""`Sequential`: a linear stack of layers, built at once or when the input shape becomes known."""
from multirnn import backend as K
from multirnn.custom_objects import current_custom_objects, custom_object_scope
from multirnn.layers.base import Layer, shape_of
from multirnn.layers.input import Input, InputLayer
from multirnn.layers.registry import deserialize, register, serialize
from multirnn.models.functional import Model


@register
class Sequential(Model):
    """A stack of layers: `Sequential([...])` or `.add(layer)`; a Keras 1 `Merge` may come first."""
    linear_stack = True

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._stack, self._step_outputs = [], []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list:
        return list(self._stack)

    @K.on_own_backend
    def add(self, layer) -> None:
        """Append a layer; the graph grows at once when the input shape is known."""
        owner = f"Sequential {self.name!r}"
        if isinstance(getattr(getattr(layer, "node", None), "layer", None), InputLayer):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"{owner}.add expects a layer instance, got {type(layer).__name__}")
        if layer.backend_name != self.backend_name:
            raise ValueError(f"{owner} is created under the {self.backend_name} backend but layer {layer.name!r} "
                             f"was created under {layer.backend_name}; build them under one backend")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"{owner}: a layer named {layer.name!r} is already in the model; "
                             "layer names must be unique within a model")
        if isinstance(layer, Model) and len(layer.outputs) > 1:
            raise ValueError(f"{owner}: layer {layer.name!r} has {len(layer.outputs)} outputs; "
                             "a Sequential layer must have one output")
        if isinstance(layer, InputLayer):
            if self._stack or self.outputs:
                raise ValueError(f"{owner}: an InputLayer can only come first")
            self._start(layer.output, layer.output, keep=False)
            return
        self._stack.append(layer)
        try:
            if self.outputs:
                self._extend(layer)
            elif len(self._stack) == 1:
                self._start_with(layer)
        except Exception:
            self._stack.pop()
            raise

    def _start_with(self, layer) -> None:
        branch_inputs = getattr(layer, "branch_inputs", None)
        if branch_inputs:
            self._start(list(branch_inputs), layer(list(layer.branch_outputs)))
        elif isinstance(layer, Model) and layer.inputs and len(layer.inputs) == 1:
            x = Input(batch_shape=layer.inputs[0].symbolic_shape)
            self._start(x, layer(x))
        elif layer.batch_input_shape is not None:
            x = Input(batch_shape=layer.batch_input_shape, dtype=_input_dtype(layer))
            self._start(x, layer(x))

    def _start(self, inputs, output, keep=True) -> None:
        self._check_single(output, self._stack[-1] if keep and self._stack else None)
        self._step_outputs = [output] if keep else []
        self._input_tensors = inputs if isinstance(inputs, list) else [inputs]
        self._init_graph(self._input_tensors, [output])

    def _extend(self, layer) -> None:
        output = layer(self.outputs[0])
        self._check_single(output, layer)
        self._step_outputs.append(output)
        self._init_graph(self._input_tensors, [output])

    def _check_single(self, output, layer) -> None:
        if isinstance(output, (list, tuple)):
            name = layer.name if layer is not None else "?"
            raise ValueError(f"Sequential {self.name!r}: layer {name!r} returns {len(output)} tensors; "
                             "a Sequential layer must have one output (use the functional API for more)")

    @K.on_own_backend
    def build(self, input_shape=None) -> None:
        """Build a deferred stack for inputs of `input_shape` (batch axis included)."""
        if self.outputs:
            return
        if not self._stack:
            raise ValueError(f"Sequential {self.name!r} has no layers; add layers before building or calling it")
        if input_shape is None:
            raise ValueError(f"Sequential {self.name!r} is not built: its first layer "
                             f"{self._stack[0].name!r} has no input shape; give it input_shape=... "
                             "or call the model on data first")
        shape = tuple(input_shape)
        if not any(getattr(layer, "stateful", False) for layer in self._stack):
            shape = (None,) + shape[1:]
        layers, self._stack = list(self._stack), []
        x = Input(batch_shape=shape, dtype=_input_dtype(layers[0]))
        self._stack.append(layers[0])
        self._start(x, layers[0](x))
        for layer in layers[1:]:
            self._stack.append(layer)
            self._extend(layer)

    def pop(self) -> None:
        """Remove the last layer."""
        if not self._stack:
            raise TypeError(f"Sequential {self.name!r}: there are no layers to pop")
        self._stack.pop()
        if not self.outputs:
            return
        self._step_outputs.pop()
        if not self._stack:
            self.inputs, self.outputs, self._nodes, self._graph_layers = [], [], [], []
            self.built = False
            return
        self._init_graph(self._input_tensors, [self._step_outputs[-1]])

    def _require_built(self, what: str) -> None:
        if not self._stack and not self.outputs:
            raise ValueError(f"Sequential {self.name!r} has no layers, so it has no {what}; add layers first")
        super()._require_built(what)

    def _ensure_built(self, arrays) -> None:
        if not self.outputs:
            self.build((None,) + tuple(arrays[0].shape[1:]) if arrays else None)

    def call_with_masks(self, inputs, mask=None, training=None):
        if not self.outputs:
            self.build(shape_of(inputs))
        return super().call_with_masks(inputs, mask, training)

    @K.on_own_backend
    def compute_output_shape(self, input_shape):
        if not self.outputs:
            shape = input_shape
            for layer in self._stack:
                shape = layer.compute_output_shape(shape)
            return shape
        return super().compute_output_shape(input_shape)

    def get_config(self) -> dict:
        config = {"name": self.name, "layers": [serialize(layer) for layer in self._stack]}
        if self.inputs and not getattr(self._stack[0], "branch_inputs", None):
            config["build_input_shape"] = list(self.inputs[0].symbolic_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        if isinstance(config, list):
            config = {"layers": config}
        with custom_object_scope(custom_objects):
            model = cls(name=config.get("name"))
            for layer_config in config.get("layers", []):
                model.add(deserialize(layer_config, current_custom_objects()))
            shape = config.get("build_input_shape")
            if not model.outputs and shape is not None and model.layers:
                model.build(tuple(shape))
        return model


def _input_dtype(layer):
    dtype = getattr(layer, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype.startswith(("int", "uint")) else None
