"""Python functions stored in configs (Lambda, Keras 1 merge), and the one rule for reading them back.

A stored function is a record with a `"module"` or `"bytecode"` key. Reading one back is the
only way a file could make multirnn import or run code, so every record goes through
`deserialize_function`: it resolves the function by name from the user's `custom_objects`,
and otherwise imports or unmarshals it only when safe mode is off (`safe_mode=False`).
"""
import base64
import contextlib
import contextvars
import importlib
import json
import marshal
import types
from typing import Iterator, Optional

import numpy as np

from multirnn import backend as K
from multirnn.custom_objects import current_custom_objects
from multirnn.errors import FileFormatError, UnsafeLoadError

MAX_DEPTH = 200
MAX_JSON_BYTES = 64 * 2 ** 20
_FUNCTION_KEYS = ("module", "bytecode")
_safe = contextvars.ContextVar("multirnn_safe_mode", default=True)


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool) -> Iterator[None]:
    """Deserialize with stored functions refused (`True`, the default) or allowed (`False`)."""
    token = _safe.set(bool(safe_mode))
    try:
        yield
    finally:
        _safe.reset(token)


def in_safe_mode() -> bool:
    return _safe.get()


def is_function_record(value) -> bool:
    """True for any dict that names a module or carries bytecode, whatever else it holds."""
    return isinstance(value, dict) and any(key in value for key in _FUNCTION_KEYS)


def serialize_function(fn) -> dict:
    """A JSON-able record of a function: its module and name, or its marshalled bytecode."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module and "<" not in name and getattr(importlib.import_module(module), name, None) is fn:
        return {"module": module, "name": name}
    if getattr(fn, "__closure__", None):
        raise ValueError(f"cannot serialize {name or fn!r}: it uses variables of an enclosing function; "
                         "define it at module level or pass values with arguments=")
    code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
    return {"bytecode": code, "defaults": fn.__defaults__, "name": fn.__name__}


def _allowed(record: dict, custom: dict):
    """The user's own function for this record's name, or None."""
    name = record.get("name")
    if not isinstance(name, str):
        return None
    for key in (name, name.rsplit(".", 1)[-1]):
        if callable(custom.get(key)):
            return custom[key]
    return None


def deserialize_function(record, custom_objects: Optional[dict] = None, where: str = "stored function"):
    """The function a record names: from `custom_objects` by name, else (safe mode off) imported or unmarshalled."""
    if not is_function_record(record):
        raise FileFormatError(f"{where}: expected a stored function record with 'module' or 'bytecode', "
                              f"got {type(record).__name__}")
    custom = current_custom_objects(custom_objects)
    own = _allowed(record, custom)
    if own is not None:
        return own
    if in_safe_mode():
        raise UnsafeLoadError(refusal(where, record))
    if "bytecode" in record:
        return _from_bytecode(record, custom, where)
    module, name = record.get("module"), record.get("name")
    if not (isinstance(module, str) and isinstance(name, str)):
        raise FileFormatError(f"{where}: a stored function needs string 'module' and 'name', got {record!r:.200}")
    value = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _from_bytecode(record: dict, custom: dict, where: str):
    try:
        code = marshal.loads(base64.b64decode(record["bytecode"]))
    except (TypeError, ValueError, EOFError) as e:
        raise FileFormatError(f"{where}: the stored bytecode cannot be read ({e})") from None
    if not isinstance(code, types.CodeType):
        raise FileFormatError(f"{where}: the stored bytecode is not a function's code")
    defaults = tuple(record["defaults"]) if record.get("defaults") else None
    name = record.get("name") if isinstance(record.get("name"), str) else None
    return types.FunctionType(code, {"K": K, "np": np, **custom}, name, defaults)


def refusal(where: str, record: dict) -> str:
    """The message for a stored function refused in safe mode."""
    return (f"{where}: the config stores a Python function ({str(record.get('name', '?'))[:80]!r}); loading it "
            "would import or run code from the file. Pass safe_mode=False if you trust its source, or give "
            "the function in custom_objects")


def check_safe(config, where: str, custom_objects: Optional[dict] = None) -> None:
    """Refuse, before anything is built, a config holding a stored function that custom_objects do not supply."""
    custom = current_custom_objects(custom_objects)
    for path, value in walk(config, where):
        if not isinstance(value, dict):
            continue
        inner = value.get("config")
        if value.get("class_name") == "Lambda" and isinstance(inner, dict):
            function = inner.get("function")
            if is_function_record(function) and _allowed(function, custom) is None:
                raise UnsafeLoadError(f"{where}: the model contains a Lambda layer ({str(inner.get('name'))[:80]!r}); "
                                      "loading it would run code stored in the file. Pass safe_mode=False if you "
                                      "trust its source, or give the function in custom_objects")
        if is_function_record(value) and _allowed(value, custom) is None:
            raise UnsafeLoadError(refusal(f"{where} at {path}", value))


def walk(config, where: str):
    """(path, value) for every dict and list in `config`, without recursion; too deep is a clear error."""
    stack = [("", config, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FileFormatError(f"{where}: the config is nested deeper than {MAX_DEPTH} levels (at {path[:200]})")
        if isinstance(value, dict):
            yield path, value
            label = value.get("class_name") if isinstance(value.get("class_name"), str) else None
            for key, item in value.items():
                step = f"{label}.{key}" if label else str(key)
                stack.append((f"{path}.{step}" if path else step, item, depth + 1))
        elif isinstance(value, list):
            yield path, value
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))


def parse_json(text, where: str):
    """JSON text to Python, with clear errors for invalid, oversized or too deeply nested text."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf8", errors="replace")
    if not isinstance(text, str):
        raise FileFormatError(f"{where}: expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_JSON_BYTES:
        raise FileFormatError(f"{where}: the JSON text is {len(text)} characters, more than the "
                              f"{MAX_JSON_BYTES} this multirnn reads")
    try:
        value = json.loads(text)
    except RecursionError:
        raise FileFormatError(f"{where}: the JSON is nested too deeply to read") from None
    except ValueError as e:
        raise FileFormatError(f"{where}: not valid JSON ({e})") from None
    for _ in walk(value, where):
        pass
    return value
