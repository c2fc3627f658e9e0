"""Keras 1 `Merge`: merge Sequential branches (or tensors) into one output, as the first layer of a Sequential."""
from multirnn.custom_objects import current_custom_objects
from multirnn.layers import topology
from multirnn.layers.base import Layer
from multirnn.layers.container import Container, is_model
from multirnn.layers.merge import canonical_mode, merge_mask, merge_output_shape, merge_tensors
from multirnn.layers.registry import deserialize, serialize
from multirnn.stored_functions import deserialize_function, serialize_function


class Merge(Container, Layer):
    """`Merge([left, right], mode='concat')`: modes sum, mul, concat, ave, cos, dot, max, or a callable.

    Given models (or called layers), its inputs are theirs and its weights are theirs; added
    first to a `Sequential`, that model takes one input array per branch.
    """
    takes_list = True

    def __init__(self, layers=None, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None,
                 output_mask=None, arguments=None, node_indices=None, tensor_indices=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.mode = canonical_mode(mode)
        self.concat_axis, self.dot_axes = concat_axis, dot_axes
        self._output_shape, self.output_mask = output_shape, output_mask
        self.arguments = dict(arguments or {})
        self.supports_masking = True
        self.branches, self.branch_inputs, self.branch_outputs, self._inner = [], [], [], []
        if layers is not None:
            self._connect(list(layers), node_indices, tensor_indices)

    def _connect(self, layers, node_indices, tensor_indices) -> None:
        owner = f"Merge {self.name!r}"
        if len(layers) < 2:
            raise ValueError(f"{owner}: expected a list of at least 2 models or layers, got {len(layers)}")
        node_indices = node_indices or [0] * len(layers)
        tensor_indices = tensor_indices or [0] * len(layers)
        inputs, outputs = [], []
        for branch, node_index, tensor_index in zip(layers, node_indices, tensor_indices):
            if not isinstance(branch, Layer):
                raise TypeError(f"{owner}: expected models or layers to merge, got {type(branch).__name__}")
            if branch.backend_name != self.backend_name:
                raise ValueError(f"{owner} is created under the {self.backend_name} backend but {branch.name!r} "
                                 f"was created under {branch.backend_name}")
            if is_model(branch):
                if not branch.outputs:
                    raise ValueError(f"{owner}: branch {branch.name!r} is not built; give its first layer an "
                                     "input shape (input_shape=...) so the merged model knows its inputs")
                if len(branch.outputs) != 1:
                    raise ValueError(f"{owner}: branch {branch.name!r} has {len(branch.outputs)} outputs; "
                                     "each merged branch must have one")
                branch_inputs, output = list(branch.inputs), branch.outputs[0]
            else:
                output = topology.to_list(topology.get_output_at(branch, node_index))[tensor_index]
                branch_inputs = _inputs_of(output)
            inputs += [t for t in branch_inputs if all(t is not s for s in inputs)]
            outputs.append(output)
        self.branches, self.branch_inputs, self.branch_outputs = layers, inputs, outputs
        nodes = topology.sort_nodes(inputs, outputs, owner)
        self._inner = [node.layer for node in nodes if node.inputs]
        self._inner = [layer for i, layer in enumerate(self._inner) if all(layer is not o for o in self._inner[:i])]

    def _sublayers(self) -> list:
        return getattr(self, "_inner", [])

    # ---- the merge itself
    def _fn(self):
        if callable(self.mode) and self.arguments:
            return lambda xs: self.mode(xs, **self.arguments)
        return self.mode

    def call(self, inputs, mask=None):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Merge {self.name!r}: expected a list of tensors, got {type(inputs).__name__}")
        return merge_tensors(list(inputs), self._fn(), self.concat_axis, self.dot_axes)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list):
            raise ValueError(f"Merge {self.name!r}: expected a list of at least 2 tensors, got one")
        try:
            return merge_output_shape(input_shape, self._fn(), self.concat_axis, self.dot_axes,
                                                 self._output_shape)
        except ValueError as e:
            raise ValueError(f"Merge {self.name!r}: {e}") from None

    def compute_mask(self, inputs, mask=None):
        if self.output_mask is not None:
            return self.output_mask(inputs, mask) if callable(self.output_mask) else self.output_mask
        if mask is None:
            return None
        return merge_mask(inputs, mask, self.mode, self.concat_axis)

    # ---- config
    def get_config(self) -> dict:
        config = dict(super().get_config(), concat_axis=self.concat_axis, dot_axes=self.dot_axes,
                      arguments=self.arguments, output_mask=None)
        config.pop("batch_input_shape", None)
        config["mode"] = {"function": serialize_function(self.mode)} if callable(self.mode) else self.mode
        shape = self._output_shape
        config["output_shape"] = serialize_function(shape) if callable(shape) else shape
        if callable(self.output_mask):
            config["output_mask"] = serialize_function(self.output_mask)
        if self.branches:
            if not all(is_model(b) for b in self.branches):
                raise ValueError(f"Merge {self.name!r}: only a Merge of models can be serialized "
                                 "(not one of plain layers)")
            config["layers"] = [serialize(b) for b in self.branches]
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        custom = current_custom_objects(custom_objects)
        where = f"Merge {config.get('name')!r}"
        if isinstance(config.get("mode"), dict):
            config["mode"] = deserialize_function(config["mode"].get("function"), custom, f"{where}: mode")
        for key in ("output_shape", "output_mask"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_function(config[key], custom, f"{where}: {key}")
        if config.get("layers"):
            config["layers"] = [deserialize(b, custom) for b in config["layers"]]
        return cls(**config)


def _inputs_of(output) -> list:
    """The `Input` tensors an output depends on, in the order they are reached."""
    found, seen, stack = [], set(), [output.node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not node.inputs:
            found.append(node.outputs[0])
        stack.extend(reversed([t.node for t in node.inputs]))
    return found
