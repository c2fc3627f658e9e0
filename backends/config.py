"""Global settings shared by every backend: floatx, epsilon, the learning phase, the user file."""
import contextlib
import contextvars
import json
import math
import os
import warnings

_FLOAT_TYPES = ("float16", "float32", "float64")
_settings = {"floatx": "float32", "epsilon": 1e-7, "fast_paths": True}
_learning_phase = contextvars.ContextVar("multirnn_learning_phase", default=0)
_fast_paths = contextvars.ContextVar("multirnn_fast_paths", default=None)
_floatx_pin = contextvars.ContextVar("multirnn_floatx_pin", default=None)
_FALSE = ("0", "false", "no", "off")
_user_errors = {}


def config_path() -> str:
    """Where the user's `multirnn.json` lives: `$MULTIRNN_HOME` or `~/.multirnn`."""
    home = os.environ.get("MULTIRNN_HOME") or os.path.join(os.path.expanduser("~"), ".multirnn")
    return os.path.join(home, "multirnn.json")


def read_user_config() -> dict:
    """The user's config file as a dict ({} when absent); a broken file is a clear error."""
    path = config_path()
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"Cannot read multirnn config file {path}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"multirnn config file {path} must hold a JSON object, got {type(data).__name__}")
    return data


def _check_user_file() -> None:
    """Raise the user file's first problem, kept from import time until a setting is first read."""
    if _user_errors:
        raise ValueError(next(iter(_user_errors.values())))


def floatx() -> str:
    """The default float type; a bad `multirnn.json` is reported here (after `set_floatx`, only its other keys)."""
    _check_user_file()
    return _floatx_pin.get() or _settings["floatx"]


@contextlib.contextmanager
def pin_floatx():
    """Keep this thread's floatx fixed for a block (a model call), whatever another thread sets meanwhile."""
    token = _floatx_pin.set(floatx())
    try:
        yield
    finally:
        _floatx_pin.reset(token)


def _floatx_problem(value):
    if isinstance(value, str) and value in _FLOAT_TYPES:
        return None
    return f"expected one of {', '.join(map(repr, _FLOAT_TYPES))}, got {value!r}"


def set_floatx(value: str) -> None:
    problem = _floatx_problem(value)
    if problem:
        raise ValueError(f"set_floatx: {problem}")
    _user_errors.pop("floatx", None)
    _settings["floatx"] = value
    if _floatx_pin.get() is not None:  # inside a pinned block the change applies to this thread at once
        _floatx_pin.set(value)


def epsilon() -> float:
    """The fuzz factor; a bad `multirnn.json` is reported here (after `set_epsilon`, only its other keys)."""
    _check_user_file()
    return _settings["epsilon"]


def _epsilon_problem(value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value >= 0:
        return None
    return f"expected a finite number >= 0, got {value!r}"


def set_epsilon(value: float) -> None:
    value = float(value) if hasattr(value, "__float__") and not isinstance(value, (str, bool)) else value
    problem = _epsilon_problem(value)
    if problem:
        raise ValueError(f"set_epsilon: {problem}")
    _user_errors.pop("epsilon", None)
    _settings["epsilon"] = value


def learning_phase() -> int:
    """1 while training, 0 otherwise (Keras semantics)."""
    return _learning_phase.get()


def set_learning_phase(value: int) -> None:
    if value not in (0, 1, True, False):
        raise ValueError(f"set_learning_phase: expected 0 or 1, got {value!r}")
    _learning_phase.set(int(value))


def fast_paths() -> bool:
    """Whether fused kernels may run: `use_fast_paths(...)` in force here, else `MULTIRNN_FAST_PATHS`
    (`0` forces the generic path everywhere), else the `"fast_paths"` key of `multirnn.json`, else on."""
    chosen = _fast_paths.get()
    if chosen is not None:
        return chosen
    env = os.environ.get("MULTIRNN_FAST_PATHS")
    if env is not None:
        return env.strip().lower() not in _FALSE
    return _settings["fast_paths"]


@contextlib.contextmanager
def use_fast_paths(enabled: bool):
    """Allow (`True`) or forbid (`False`) the fused kernels inside a block, in this thread or task only."""
    token = _fast_paths.set(bool(enabled))
    try:
        yield
    finally:
        _fast_paths.reset(token)


_declines = contextvars.ContextVar("multirnn_fast_path_declines", default=None)


def decline(reason: str) -> None:
    """Record that a fast path declined a configuration (for `collect_declines`); returns None."""
    found = _declines.get()
    if found is not None:
        found.append(reason)
    return None


@contextlib.contextmanager
def collect_declines():
    """Collect, in a list, why fast paths declined inside the block (the conformance suite reports them)."""
    found = []
    token = _declines.set(found)
    try:
        yield found
    finally:
        _declines.reset(token)


def _load_user_defaults() -> None:
    """Apply floatx/epsilon from the user file. Importing never fails: a broken file or value is raised, as a
    ValueError naming the file and key, by the first `floatx()` or `epsilon()` (so by any model or backend use)."""
    _user_errors.clear()
    try:
        data = read_user_config()
    except ValueError as e:
        _user_errors["file"] = str(e)
        return
    for key, problem, setter in (("floatx", _floatx_problem, set_floatx), ("epsilon", _epsilon_problem, set_epsilon)):
        if key not in data:
            continue
        message = problem(data[key])
        if message:
            _user_errors[key] = (f"multirnn config file {config_path()}: \"{key}\": {message} "
                                 f"(fix the file, or call set_{key}(...) before use)")
        else:
            setter(data[key])
    try:
        if "fast_paths" in data:
            if not isinstance(data["fast_paths"], bool):
                raise ValueError(f"{config_path()}: \"fast_paths\" must be true or false, got {data['fast_paths']!r}")
            _settings["fast_paths"] = data["fast_paths"]
    except (ValueError, TypeError) as e:
        warnings.warn(str(e), stacklevel=2)


_load_user_defaults()
