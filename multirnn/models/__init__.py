"""Models: `Sequential`, the functional `Model`, Keras 1 `Merge`, saving and loading."""
from multirnn.layers import register as _register
from multirnn.models.topology import attach_node_helpers as _attach_node_helpers
from multirnn.models.functional import Model
from multirnn.models.sequential import Sequential
from multirnn.models.legacy_merge import Merge
from multirnn.models.saving import (custom_object_scope, load_model, model_from_config, model_from_json,
                                    save_model)

_attach_node_helpers()
for _cls in (Model, Sequential, Merge):
    _register(_cls)

__all__ = ["Model", "Sequential", "Merge", "load_model", "save_model", "model_from_json", "model_from_config",
           "custom_object_scope"]
