"""Models: `Sequential`, the functional `Model`, Keras 1 `Merge`, saving and loading."""
from multirnn.layers.legacy_merge import Merge
from multirnn.models.functional import Model
from multirnn.models.saving import (custom_object_scope, load_model, model_from_config, model_from_json,
                                    save_model)
from multirnn.models.sequential import Sequential

__all__ = ["Model", "Sequential", "Merge", "load_model", "save_model", "model_from_json", "model_from_config",
           "custom_object_scope"]
