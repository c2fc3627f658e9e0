"""`from multirnn import backend as K`: the front end's only door to the backends.

Every backend primitive is an attribute of K (the method of the backend in force). Backend
selection (`use`, `on_own_backend`), the host random generator (`host_random`,
`set_random_seed`), `floatx` and the learning phase are reached here too.
"""
import functools
from typing import Callable

from multirnn import backends as _backends
from multirnn.backends import collectives
from multirnn.backends import config as _config
from multirnn.backends import frameworks
from multirnn.backends import host_random
from multirnn.backends.tree import map_structure

NAMES = _backends.NAMES
use = _backends.use
available = _backends.available
default_name = _backends.default_name
load = _backends.get
read_user_config = _config.read_user_config
config_path = _config.config_path
set_random_seed = host_random.set_seed
floatx, set_floatx = _config.floatx, _config.set_floatx
epsilon, set_epsilon = _config.epsilon, _config.set_epsilon
learning_phase, set_learning_phase = _config.learning_phase, _config.set_learning_phase
fast_paths, use_fast_paths = _config.fast_paths, _config.use_fast_paths

__all__ = ["NAMES", "use", "available", "default_name", "load", "read_user_config", "set_random_seed",
           "host_random", "frameworks", "current_name", "on_own_backend", "config_path", "floatx", "set_floatx",
           "epsilon", "set_epsilon", "learning_phase", "set_learning_phase", "map_structure", "fast_paths",
           "use_fast_paths", "collectives"]


def current_name() -> str:
    """The name of the backend in force here."""
    return _backends.current().name


def on_own_backend(method: Callable) -> Callable:
    """Run a layer's or model's method under the backend it was created on (`self.backend_name`), with
    floatx fixed for the call: `set_floatx` in another thread cannot change a running fit."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with _backends.use(self.backend_name), _config.pin_floatx():
            return method(self, *args, **kwargs)
    return run


def __getattr__(name: str):
    return getattr(_backends.current(), name)


def __dir__():
    return sorted(set(__all__) | {n for n in dir(_backends.current()) if not n.startswith("_")})
