"""Bidirectional and TimeDistributed: layers that run another layer."""
import inspect

from multirnn import backend as K, legacy_weights
from multirnn.errors import InvalidArgumentError
from multirnn.layers.base import Layer, shape_of
from multirnn.layers.container import Container
from multirnn.layers.registry import deserialize, serialize

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _cell_classes(layer) -> dict:
    """`custom_objects` naming the classes of an RNN's cells, so that a copy rebuilds a user's own cell."""
    cell = getattr(layer, "cell", None)
    if cell is None or "custom_objects" not in inspect.signature(type(layer).from_config).parameters:
        return {}
    cells = [cell] + list(getattr(cell, "cells", []))
    return {"custom_objects": {type(c).__name__: type(c) for c in cells}}


class Bidirectional(Container, Layer):
    """Run a recurrent layer forwards and a copy of it backwards, then merge the two."""

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if merge_mode not in MERGE_MODES:
            raise InvalidArgumentError(f"Bidirectional: merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise TypeError(f"Bidirectional: the layer argument must be a recurrent layer instance, "
                            f"got {layer!r} of type {type(layer).__name__}")
        weights = kwargs.pop("weights", None)
        kwargs.setdefault("batch_input_shape", layer.batch_input_shape)
        super().__init__(name=kwargs.pop("name", f"bidirectional_{layer.name}"), **kwargs)
        self.forward_layer = layer
        if backward_layer is None:
            config = dict(layer.get_config(), name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            if config.get("seed") is not None:
                config["seed"] = config["seed"] + 1
            backward_layer = type(layer).from_config(config, **_cell_classes(layer))
        self.backward_layer = backward_layer
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = True
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self.stateful = layer.stateful
        self.supports_masking = True
        self._initial_weights = weights

    def build(self, input_shape):
        self.forward_layer._build_once(input_shape)
        self.backward_layer._build_once(input_shape)
        self.built = True

    def check_input_shape(self, input_shape):
        self.forward_layer.check_input_shape(input_shape)

    def _sublayers(self) -> list:
        return [self.forward_layer, self.backward_layer]

    def set_weights(self, weights) -> None:
        """Both directions' weights (forward first); each half may be in an older layout (legacy_weights)."""
        Layer.set_weights(self, legacy_weights.accept(weights, self))

    def reset_states(self, states=None):
        """Zero both directions' states, or set them from `states` (forward ones first); all checked first."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        half = len(states) // 2
        for layer, part in ((self.forward_layer, states[:half]), (self.backward_layer, states[half:])):
            if getattr(layer, "batch_size", None) is not None:
                layer.check_states_to_set(part)
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    def call(self, inputs, mask=None, training=None, initial_state=None):
        forward_state = backward_state = None
        if initial_state is not None:
            if len(initial_state) % 2:
                raise InvalidArgumentError(f"Bidirectional {self.name!r}: initial_state must hold the forward states "
                                           f"then the backward states (an even count), got {len(initial_state)}")
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(inputs, mask=mask, training=training, initial_state=forward_state)
        y_rev = self.backward_layer(inputs, mask=mask, training=training, initial_state=backward_state)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = K.reverse(y_rev, 1)
        if self.merge_mode == "concat":
            output = [K.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            output = [y + y_rev]
        elif self.merge_mode == "ave":
            output = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            output = [y * y_rev]
        else:
            output = [y, y_rev]
        if self.return_state or self.merge_mode is None:
            return output + states
        return output[0]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            states = shape[1:] * 2
            shape = shape[0]
        if self.merge_mode == "concat":
            output = [tuple(shape[:-1]) + (shape[-1] * 2,)]
        elif self.merge_mode is None:
            output = [tuple(shape), tuple(shape)]
        else:
            output = [tuple(shape)]
        return output + states if (self.return_state or self.merge_mode is None) else output[0]

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        count = (2 if self.merge_mode is None else 1)
        if self.return_state:
            return [out] * count + [None] * (2 * self.forward_layer.state_count)
        return [out] * count if self.merge_mode is None else out

    def get_config(self):
        return dict(super().get_config(), layer=serialize(self.forward_layer), merge_mode=self.merge_mode)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)


class TimeDistributed(Container, Layer):
    """Apply a layer to every timestep: (batch, time, ...) -> (batch, time, ...)."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: the layer argument must be a Layer instance, "
                            f"got {layer!r} of type {type(layer).__name__}")
        kwargs.setdefault("name", f"time_distributed_{layer.name}")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _inner_shape(self, input_shape):
        if len(input_shape) < 3:
            raise InvalidArgumentError(f"TimeDistributed {self.name!r}: expected input of rank >= 3 "
                                       f"(batch, time, ...), got shape {tuple(input_shape)}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer._build_once(self._inner_shape(input_shape))
        self.built = True

    def _sublayers(self) -> list:
        return [self.layer]

    def weight_name(self, var):
        return self.layer.weight_name(var)

    def call(self, inputs, mask=None, training=None):
        shape = shape_of(inputs)
        flat = K.reshape(inputs, (shape[0] * shape[1],) + tuple(shape[2:]))
        kwargs = {"training": training} if "training" in self.layer._call_args() else {}
        out = self.layer(flat, **kwargs)
        out_shape = K.int_shape(out)
        return K.reshape(out, (shape[0], shape[1]) + tuple(out_shape[1:]))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def get_config(self):
        return dict(super().get_config(), layer=serialize(self.layer))

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
