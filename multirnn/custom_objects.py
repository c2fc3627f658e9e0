"""Custom objects (your own layers, functions, losses) in force while deserializing a model."""
import contextlib
import contextvars
from typing import Iterator, Optional

_custom = contextvars.ContextVar("multirnn_custom_objects", default={})


@contextlib.contextmanager
def custom_object_scope(custom_objects: Optional[dict] = None) -> Iterator[None]:
    """Make `custom_objects` (name -> class or function) visible to nested deserialization."""
    token = _custom.set(dict(_custom.get(), **(custom_objects or {})))
    try:
        yield
    finally:
        _custom.reset(token)


def current_custom_objects(extra: Optional[dict] = None) -> dict:
    """The custom objects of every enclosing scope, with `extra` on top."""
    return dict(_custom.get(), **(extra or {}))
