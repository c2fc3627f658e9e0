"""The class registry behind (de)serialization: layers and models by class name."""
import inspect
from typing import Optional

from multirnn.custom_objects import current_custom_objects, custom_object_scope
from multirnn.stored_functions import in_safe_mode, safe_mode_scope

_REGISTRY = {}


def register(cls):
    """Make a layer or model class known to `deserialize` (custom layers may register themselves)."""
    _REGISTRY[cls.__name__] = cls
    return cls


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
        name = config.get("class_name") if isinstance(config, dict) else None
        if name not in classes:
            raise ValueError(f"Unknown layer class {name!r}; known: {', '.join(sorted(classes))} "
                             "(pass custom_objects= for your own layers)")
        from_config = classes[name].from_config
        if "custom_objects" in inspect.signature(from_config).parameters:
            return from_config(config["config"], custom_objects=custom)
        return from_config(config["config"])
