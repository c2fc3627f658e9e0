"""Backend selection: `MULTIRNN_BACKEND`, then `multirnn.json`, then numpy.

`current()` is the backend in force; `use(name)` switches it for a block (a context variable,
so threads and async tasks each keep their own). A new `threading.Thread` inherits nothing (unless
Python copies contexts into threads): it starts on the default backend, though a model still runs
on the backend it was built on; an asyncio task or `contextvars.copy_context().run` keeps its parent's.
"""
import contextlib
import contextvars
import importlib
import os
import threading

from . import config, frameworks

NAMES = ("numpy", "cupy", "tensorflow", "torch")
_MODULES = {"numpy": "numpy_backend", "cupy": "cupy_backend",
            "tensorflow": "tensorflow_backend", "torch": "torch_backend"}
_ALIASES = {"tf": "tensorflow", "pytorch": "torch", "np": "numpy"}
_loaded = {}
_loading = threading.RLock()  # two threads loading one backend get one object
_default = None
_active = contextvars.ContextVar("multirnn_backend", default=None)


def check_name(name, source: str = "backend name") -> str:
    """The canonical name for `name`, or a ValueError listing the valid names."""
    key = _ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in NAMES:
        raise ValueError(f"Unknown backend {name!r} ({source}); valid names: {', '.join(NAMES)}")
    return key


def default_name() -> str:
    """The backend chosen by the environment variable, the config file, or 'numpy'."""
    env = os.environ.get("MULTIRNN_BACKEND")
    if env:
        return check_name(env, "from MULTIRNN_BACKEND")
    user = config.read_user_config().get("backend")
    if user:
        return check_name(user, f"from {config.config_path()}")
    return "numpy"


def get(name: str):
    """The backend object for `name`, loaded once; clear errors for missing frameworks."""
    name = check_name(name)
    backend = _loaded.get(name)
    if backend is None:
        with _loading:
            backend = _loaded.get(name)
            if backend is None:
                module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
                backend = _loaded[name] = module.create()
    return backend


def current():
    """The backend in force here: the innermost `use(...)`, else the default."""
    name = _active.get()
    if name is not None:
        return _loaded[name]
    global _default
    if _default is None:
        _default = get(default_name())
    return _default


@contextlib.contextmanager
def use(name: str):
    """Run a block under another backend: `with multirnn.backends.use('torch'): ...`."""
    backend = get(name)
    token = _active.set(backend.name)
    try:
        yield backend
    finally:
        _active.reset(token)


def available() -> list:
    """The backends that load on this machine, in the order of NAMES."""
    names = []
    for name in NAMES:
        try:
            get(name)
        except (ImportError, RuntimeError):
            continue
        names.append(name)
    return names
