"""Global settings shared by every backend: floatx, epsilon, the learning phase, the user file."""
import contextlib
import contextvars
import json
import os
import warnings

_FLOAT_TYPES = ("float16", "float32", "float64")
_settings = {"floatx": "float32", "epsilon": 1e-7, "fast_paths": True}
_learning_phase = contextvars.ContextVar("multirnn_learning_phase", default=0)
_fast_paths = contextvars.ContextVar("multirnn_fast_paths", default=None)
_FALSE = ("0", "false", "no", "off")


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


def floatx() -> str:
    return _settings["floatx"]


def set_floatx(value: str) -> None:
    if value not in _FLOAT_TYPES:
        raise ValueError(f"set_floatx: expected one of {', '.join(_FLOAT_TYPES)}, got {value!r}")
    _settings["floatx"] = value


def epsilon() -> float:
    return _settings["epsilon"]


def set_epsilon(value: float) -> None:
    _settings["epsilon"] = float(value)


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
    """Apply floatx/epsilon from the user file; a broken file is reported when a backend is chosen."""
    try:
        data = read_user_config()
        if "floatx" in data:
            set_floatx(data["floatx"])
        if "epsilon" in data:
            set_epsilon(data["epsilon"])
        if "fast_paths" in data:
            if not isinstance(data["fast_paths"], bool):
                raise ValueError(f"{config_path()}: \"fast_paths\" must be true or false, got {data['fast_paths']!r}")
            _settings["fast_paths"] = data["fast_paths"]
    except (ValueError, TypeError) as e:
        warnings.warn(str(e), stacklevel=2)


_load_user_defaults()
