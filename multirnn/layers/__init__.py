"""All layers, and (de)serialization of a layer by its class name."""
import inspect
from typing import Optional

from multirnn.custom_objects import current_custom_objects, custom_object_scope
from multirnn.layers.base import Layer
from multirnn.layers.core import (ActivityRegularization, Activation, Dense, Dropout, Flatten, Highway, Lambda,
                                  MaxoutDense, Permute, RepeatVector, Reshape)
from multirnn.layers.embeddings import Embedding
from multirnn.layers.input import Input, InputLayer, SymbolicTensor
from multirnn.layers.masking import Masking
from multirnn.layers.merge import (Add, Average, Concatenate, Dot, Maximum, MergeTensors, Minimum, Multiply,
                                   Subtract, add, average, concatenate, dot, maximum, merge, merge_mask,
                                   merge_output_shape, merge_tensors, minimum, multiply, subtract)
from multirnn.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN
from multirnn.layers.wrappers import Bidirectional, TimeDistributed
from multirnn.stored_functions import in_safe_mode, safe_mode_scope

_REGISTRY = {}


def register(cls):
    """Make a layer class known to `deserialize` (custom layers may register themselves)."""
    _REGISTRY[cls.__name__] = cls
    return cls


for _cls in (Layer, Embedding, InputLayer, Masking, GRU, LSTM, SimpleRNN, Bidirectional, TimeDistributed):
    register(_cls)
for _cls in (Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda, ActivityRegularization,
             Highway, MaxoutDense, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
             MergeTensors):
    register(_cls)


def serialize(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: Optional[dict] = None, safe_mode: Optional[bool] = None):
    """A layer from `serialize`; `custom_objects` and those of enclosing scopes reach nested layers too.

    Stored functions (Lambda, callable merge modes) are refused unless `safe_mode=False` or
    `custom_objects` supply them; `None` keeps the enclosing setting (safe by default).
    """
    safe = in_safe_mode() if safe_mode is None else safe_mode
    with custom_object_scope(custom_objects), safe_mode_scope(safe):
        custom = current_custom_objects()
        classes = dict(_REGISTRY, **custom)
        name = config.get("class_name")
        if name not in classes:
            raise ValueError(f"Unknown layer class {name!r}; known: {', '.join(sorted(classes))} "
                             "(pass custom_objects= for your own layers)")
        from_config = classes[name].from_config
        if "custom_objects" in inspect.signature(from_config).parameters:
            return from_config(config["config"], custom_objects=custom)
        return from_config(config["config"])


def __getattr__(name: str):
    """`from multirnn.layers import Merge` (the Keras 1 spelling) without a circular import."""
    if name == "Merge":
        from multirnn.models import Merge
        return Merge
    raise AttributeError(f"module 'multirnn.layers' has no attribute {name!r}")
